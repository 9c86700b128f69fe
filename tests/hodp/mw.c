// SPDX-License-Identifier: GPL-2.0
/*
 * Memory windows on hodp0: what a window's rkey gives a peer, and what it
 * does not. A type 2 window bound (IBV_WR_BIND_MW) over a range of an MR
 * that has no remote rights of its own lets RDMA WRITE and READ in within
 * that range and with the window's rights, and gives a remote access error
 * outside it, with a right it lacks, through another QP than the one that
 * bound it, after LOCAL_INV, after a SEND with invalidate, and after its
 * deallocation. A type 1 window (ibv_bind_mw) the same within and outside
 * its range, a new rkey per bind, invalidated by a bind of length 0. A bind
 * is refused (IBV_WC_MW_BIND_ERR) on an MR registered without
 * IBV_ACCESS_MW_BIND, outside the MR, and remote write on an MR without
 * local write; an MR with bound windows refuses deregistration (EINVAL, as
 * rxe: IBA 10.6.7.2.6) until they are invalidated. A window over an ODP MR
 * goes through the MR's own (on-demand) translation. A window deallocated
 * while a long RDMA READ through it is being copied stops the rest of it:
 * a remote access error, not a success; so does one invalidated and bound
 * again with the same rkey over less (the read began under the old
 * binding).
 *
 * A remote access error moves both QPs of the RC pair to the error state:
 * each such case gets a pair of its own, and windows of its own (a type 2
 * window serves the QP it was bound through).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "verbs.h"

#define RBUF	(64 * 1024)	/* the MR windows are bound to */
#define WOFF	4096		/* the windows' range in it */
#define WLEN	8192
#define LBUF	(64 * 1024)

static struct ctx c;
static uint8_t *rbuf, *lbuf;
static struct ibv_mr *rmr;	/* LOCAL_WRITE | MW_BIND, no remote rights */
static struct ibv_mr *lmr;	/* the requester's buffers */

/* Empty the CQ (completions of a case that are not looked at). */
static void drain(void)
{
	struct ibv_wc wc;

	while (ibv_poll_cq(c.cq, 1, &wc) > 0)
		;
}

static struct rc_pair new_pair(void)
{
	drain();
	return rc_pair(&c, ALL_ACCESS, 7);
}

static void free_pair(struct rc_pair p)
{
	ibv_destroy_qp(p.a);
	ibv_destroy_qp(p.b);
	drain();
}

/* The WR that binds @mw (type 2) with @key over [@addr, @addr + @len). */
static struct ibv_send_wr bind_wr(struct ibv_mw *mw, uint32_t key,
				  struct ibv_mr *mr, void *addr, uint64_t len,
				  int access)
{
	return (struct ibv_send_wr){
		.wr_id = 0xb1d,
		.opcode = IBV_WR_BIND_MW,
		.send_flags = IBV_SEND_SIGNALED,
		.bind_mw = {
			.mw = mw,
			.rkey = key,
			.bind_info = {
				.mr = mr,
				.addr = (uintptr_t)addr,
				.length = len,
				.mw_access_flags = access,
			},
		},
	};
}

/*
 * Bind @mw (type 2) through @qp over [@addr, @addr + @len) of @mr with
 * @access; on success *rkey is the window's new rkey. Return: the status.
 */
static int bind2(struct ibv_qp *qp, struct ibv_mw *mw, uint32_t *rkey,
		 struct ibv_mr *mr, void *addr, uint64_t len, int access)
{
	uint32_t key = ibv_inc_rkey(*rkey);
	struct ibv_send_wr wr = bind_wr(mw, key, mr, addr, len, access);
	struct ibv_wc wc;
	int st;

	if (post_send(qp, &wr))
		return -1;
	st = poll_one(c.cq, &wc);
	if (st == IBV_WC_SUCCESS && wc.opcode != IBV_WC_BIND_MW)
		return -2;
	if (st == IBV_WC_SUCCESS)
		*rkey = key;
	return st;
}

/* Type 1: ibv_bind_mw() (mw->rkey moves); the bind's status. */
static int bind1(struct ibv_qp *qp, struct ibv_mw *mw, struct ibv_mr *mr,
		 void *addr, uint64_t len, int access)
{
	struct ibv_mw_bind b = {
		.wr_id = 0xb1,
		.send_flags = IBV_SEND_SIGNALED,
		.bind_info = {
			.mr = mr,
			.addr = (uintptr_t)addr,
			.length = len,
			.mw_access_flags = access,
		},
	};
	struct ibv_wc wc;
	int st;

	if (ibv_bind_mw(qp, mw, &b))
		return -1;
	st = poll_one(c.cq, &wc);
	if (st == IBV_WC_SUCCESS && wc.opcode != IBV_WC_BIND_MW)
		return -2;
	return st;
}

/* One RDMA WRITE (from lbuf) or READ (into lbuf) of @len; its status. */
static int rdma(struct ibv_qp *qp, enum ibv_wr_opcode op, void *raddr,
		uint32_t rkey, uint32_t len)
{
	struct ibv_sge sge = { (uintptr_t)lbuf, len, lmr->lkey };
	struct ibv_send_wr wr = {
		.wr_id = 0x1,
		.opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
		.sg_list = &sge,
		.num_sge = 1,
		.wr.rdma = { .remote_addr = (uintptr_t)raddr, .rkey = rkey },
	};
	struct ibv_wc wc;

	if (post_send(qp, &wr))
		return -1;
	return poll_one(c.cq, &wc);
}

/* A local work request without buffers (LOCAL_INV); its completion. */
static int local_inv(struct ibv_qp *qp, uint32_t rkey, struct ibv_wc *wc)
{
	struct ibv_send_wr wr = {
		.wr_id = 0x1a,
		.opcode = IBV_WR_LOCAL_INV,
		.send_flags = IBV_SEND_SIGNALED,
		.invalidate_rkey = rkey,
	};

	if (post_send(qp, &wr))
		return -1;
	return poll_one(c.cq, wc);
}

static struct ibv_mw *alloc_mw(enum ibv_mw_type type)
{
	struct ibv_mw *mw = ibv_alloc_mw(c.pd, type);

	check_fatal("allocate a memory window", mw, "type %d: %s", type,
		    strerror(errno));
	return mw;
}

/* A fresh pair with a type 2 window bound through its b; *rkey its key. */
static struct rc_pair pair_with_window(struct ibv_mw **mw, uint32_t *rkey,
				       int access)
{
	struct rc_pair p = new_pair();

	*mw = alloc_mw(IBV_MW_TYPE_2);
	*rkey = (*mw)->rkey;
	check_fatal("bind a type 2 window",
		    bind2(p.b, *mw, rkey, rmr, rbuf + WOFF, WLEN, access) ==
		    IBV_WC_SUCCESS, "");
	return p;
}

static void test_type2(void)
{
	int rw = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
	struct ibv_mw *mw, *mw2;
	struct rc_pair p, q;
	uint32_t rkey, key0;
	int st;

	p = new_pair();
	mw = alloc_mw(IBV_MW_TYPE_2);
	rkey = key0 = mw->rkey;
	st = bind2(p.b, mw, &rkey, rmr, rbuf + WOFF, WLEN, rw);
	check("type 2 bind completes successfully (IBV_WC_BIND_MW)",
	      st == IBV_WC_SUCCESS && rkey != key0 &&
	      (rkey & ~0xffu) == (key0 & ~0xffu),
	      "status %d, rkey 0x%x from 0x%x", st, rkey, key0);

	memset(rbuf, 0, RBUF);
	for (int i = 0; i < WLEN; i++)
		lbuf[i] = i * 13 + 1;
	st = rdma(p.a, IBV_WR_RDMA_WRITE, rbuf + WOFF, rkey, WLEN);
	check("RDMA WRITE of the whole window lands in its range only",
	      st == IBV_WC_SUCCESS && !memcmp(rbuf + WOFF, lbuf, WLEN) &&
	      !rbuf[WOFF - 1] && !rbuf[WOFF + WLEN], "status %d", st);
	memset(lbuf, 0, WLEN);
	memset(rbuf + WOFF + 100, 0x5a, 300);
	st = rdma(p.a, IBV_WR_RDMA_READ, rbuf + WOFF + 100, rkey, 300);
	check("RDMA READ inside the window reads it",
	      st == IBV_WC_SUCCESS && lbuf[0] == 0x5a && lbuf[299] == 0x5a,
	      "status %d, byte 0x%x", st, lbuf[0]);

	/* Deregistration waits for the windows (as rxe). */
	errno = 0;
	st = ibv_dereg_mr(rmr);
	check("deregistering an MR with a bound type 2 window fails (EINVAL)",
	      st == EINVAL, "returned %d (%s)", st, strerror(st));
	lbuf[0] = 0x11;
	st = rdma(p.a, IBV_WR_RDMA_WRITE, rbuf + WOFF, rkey, 1);
	check("... and the window still works after the refusal",
	      st == IBV_WC_SUCCESS && rbuf[WOFF] == 0x11, "status %d", st);

	/* Through another QP of the same PD: a type 2 window serves one. */
	q = new_pair();
	st = rdma(q.a, IBV_WR_RDMA_WRITE, rbuf + WOFF, rkey, 16);
	check("type 2 window through another QP: remote access error",
	      st == IBV_WC_REM_ACCESS_ERR, "status %d", st);
	free_pair(q);

	/* LOCAL_INV through the QP that bound it. */
	struct ibv_wc wc;

	st = local_inv(p.b, rkey, &wc);
	check("LOCAL_INV of the window completes (IBV_WC_LOCAL_INV)",
	      st == IBV_WC_SUCCESS && wc.opcode == IBV_WC_LOCAL_INV,
	      "status %d opcode %d", st, wc.opcode);
	st = rdma(p.a, IBV_WR_RDMA_WRITE, rbuf + WOFF, rkey, 16);
	check("RDMA WRITE after local invalidate: remote access error",
	      st == IBV_WC_REM_ACCESS_ERR, "status %d", st);
	free_pair(p);
	st = ibv_dereg_mr(rmr);
	check("the MR deregisters once its window is invalidated", !st,
	      "%s", strerror(st));
	rmr = ibv_reg_mr(c.pd, rbuf, RBUF, IBV_ACCESS_LOCAL_WRITE |
			 IBV_ACCESS_MW_BIND);
	check_fatal("register the MR again", rmr, "%s", strerror(errno));
	ibv_dealloc_mw(mw);

	/* Outside the range: before, across the end, beyond. */
	p = pair_with_window(&mw, &rkey, rw);
	st = rdma(p.a, IBV_WR_RDMA_WRITE, rbuf + WOFF - 1, rkey, 1);
	check("RDMA WRITE one byte before the window: remote access error",
	      st == IBV_WC_REM_ACCESS_ERR, "status %d", st);
	free_pair(p);
	ibv_dealloc_mw(mw);
	p = pair_with_window(&mw, &rkey, rw);
	st = rdma(p.a, IBV_WR_RDMA_WRITE, rbuf + WOFF + WLEN - 8, rkey, 16);
	check("RDMA WRITE across the window's end: remote access error",
	      st == IBV_WC_REM_ACCESS_ERR && !rbuf[WOFF + WLEN],
	      "status %d", st);
	free_pair(p);
	ibv_dealloc_mw(mw);
	p = pair_with_window(&mw, &rkey, rw);
	st = rdma(p.a, IBV_WR_RDMA_READ, rbuf + WOFF + WLEN, rkey, 8);
	check("RDMA READ past the window (inside the MR): remote access error",
	      st == IBV_WC_REM_ACCESS_ERR, "status %d", st);
	free_pair(p);
	ibv_dealloc_mw(mw);

	/* Rights: a read-only window. */
	p = pair_with_window(&mw, &rkey, IBV_ACCESS_REMOTE_READ);
	st = rdma(p.a, IBV_WR_RDMA_READ, rbuf + WOFF, rkey, 8);
	check("read-only window: RDMA READ works", st == IBV_WC_SUCCESS,
	      "status %d", st);
	st = rdma(p.a, IBV_WR_RDMA_WRITE, rbuf + WOFF, rkey, 8);
	check("read-only window: RDMA WRITE gets a remote access error",
	      st == IBV_WC_REM_ACCESS_ERR, "status %d", st);
	free_pair(p);
	ibv_dealloc_mw(mw);
	p = pair_with_window(&mw, &rkey, IBV_ACCESS_REMOTE_WRITE);
	st = rdma(p.a, IBV_WR_RDMA_READ, rbuf + WOFF, rkey, 8);
	check("write-only window: RDMA READ gets a remote access error",
	      st == IBV_WC_REM_ACCESS_ERR, "status %d", st);
	free_pair(p);
	ibv_dealloc_mw(mw);

	/* Remote invalidation: SEND with invalidate into the binder. */
	p = pair_with_window(&mw, &rkey, rw);
	check_fatal("post a receive", !post_recv(p.b, lmr, lbuf + 8192, 64, 77),
		    "");
	{
		struct ibv_sge sge = { (uintptr_t)lbuf, 32, lmr->lkey };
		struct ibv_send_wr wr = {
			.wr_id = 0x5e,
			.opcode = IBV_WR_SEND_WITH_INV,
			.send_flags = IBV_SEND_SIGNALED,
			.sg_list = &sge,
			.num_sge = 1,
			.invalidate_rkey = rkey,
		};
		struct ibv_wc w[2];
		int n = 0, i, ok_send = 0, ok_recv = 0;

		check_fatal("post SEND with invalidate", !post_send(p.a, &wr),
			    "");
		for (i = 0; i < 2; i++)
			if (poll_one(c.cq, &w[i]) >= 0)
				n++;
		for (i = 0; i < n; i++) {
			if (w[i].wr_id == 0x5e && w[i].status == IBV_WC_SUCCESS)
				ok_send = 1;
			if (w[i].wr_id == 77 && w[i].status == IBV_WC_SUCCESS &&
			    (w[i].wc_flags & IBV_WC_WITH_INV) &&
			    w[i].invalidated_rkey == rkey &&
			    w[i].opcode == IBV_WC_RECV)
				ok_recv = 1;
		}
		check("SEND with invalidate: both complete, the receive says which rkey",
		      ok_send && ok_recv, "%d completions, send %d recv %d",
		      n, ok_send, ok_recv);
	}
	st = rdma(p.a, IBV_WR_RDMA_WRITE, rbuf + WOFF, rkey, 16);
	check("RDMA WRITE after remote invalidate: remote access error",
	      st == IBV_WC_REM_ACCESS_ERR, "status %d", st);
	free_pair(p);
	ibv_dealloc_mw(mw);

	/* A SEND with invalidate of a window bound through another QP. */
	p = pair_with_window(&mw, &rkey, rw);
	q = new_pair();
	check_fatal("post a receive", !post_recv(q.b, lmr, lbuf + 8192, 64, 78),
		    "");
	{
		struct ibv_sge sge = { (uintptr_t)lbuf, 32, lmr->lkey };
		struct ibv_send_wr wr = {
			.wr_id = 0x5f, .opcode = IBV_WR_SEND_WITH_INV,
			.send_flags = IBV_SEND_SIGNALED, .sg_list = &sge,
			.num_sge = 1, .invalidate_rkey = rkey,
		};
		struct ibv_wc w[2];
		int i, st_send = -1, st_recv = -1;

		check_fatal("post SEND with invalidate", !post_send(q.a, &wr),
			    "");
		for (i = 0; i < 2; i++) {
			if (poll_one(c.cq, &w[i]) < 0)
				break;
			if (w[i].wr_id == 0x5f)
				st_send = w[i].status;
			if (w[i].wr_id == 78)
				st_recv = w[i].status;
		}
		check("SEND with invalidate of a window bound through another QP: invalid request",
		      st_send == IBV_WC_REM_INV_REQ_ERR &&
		      st_recv == IBV_WC_REM_INV_REQ_ERR,
		      "send status %d, receive status %d", st_send, st_recv);
		memset(lbuf, 0x33, 16);
		st = rdma(p.a, IBV_WR_RDMA_WRITE, rbuf + WOFF, rkey, 16);
		check("... and the window stays bound",
		      st == IBV_WC_SUCCESS && rbuf[WOFF] == 0x33,
		      "status %d", st);
	}
	free_pair(q);

	/* Dealloc: the key is gone. */
	mw2 = alloc_mw(IBV_MW_TYPE_2);
	ibv_dealloc_mw(mw);
	st = rdma(p.a, IBV_WR_RDMA_WRITE, rbuf + WOFF, rkey, 16);
	check("RDMA WRITE after the window's deallocation: remote access error",
	      st == IBV_WC_REM_ACCESS_ERR, "status %d", st);
	free_pair(p);
	ibv_dealloc_mw(mw2);
}

static void test_type1(void)
{
	struct ibv_mw *mw = alloc_mw(IBV_MW_TYPE_1);
	struct rc_pair p = new_pair();
	uint32_t key0 = mw->rkey, old;
	int st;

	st = bind1(p.b, mw, rmr, rbuf + WOFF, WLEN,
		   IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ);
	check("type 1 bind (ibv_bind_mw) completes successfully, new rkey",
	      st == IBV_WC_SUCCESS && mw->rkey != key0, "status %d", st);
	memset(lbuf, 0x42, 64);
	memset(rbuf, 0, RBUF);
	/* Type 1 serves every QP of its PD: a's own window, written by b. */
	st = rdma(p.a, IBV_WR_RDMA_WRITE, rbuf + WOFF + WLEN - 64, mw->rkey,
		  64);
	check("type 1 window: RDMA WRITE at its end lands",
	      st == IBV_WC_SUCCESS && rbuf[WOFF + WLEN - 1] == 0x42 &&
	      !rbuf[WOFF + WLEN], "status %d", st);

	st = ibv_dereg_mr(rmr);
	check("deregistering an MR with a bound type 1 window fails (EINVAL)",
	      st == EINVAL, "returned %d", st);

	old = mw->rkey;
	st = bind1(p.b, mw, rmr, rbuf + WOFF, WLEN, IBV_ACCESS_REMOTE_WRITE);
	check("type 1 rebind: a new rkey", st == IBV_WC_SUCCESS &&
	      mw->rkey != old, "status %d", st);
	st = rdma(p.a, IBV_WR_RDMA_WRITE, rbuf + WOFF, old, 8);
	check("type 1: the rkey before the rebind gets a remote access error",
	      st == IBV_WC_REM_ACCESS_ERR, "status %d", st);
	free_pair(p);

	p = new_pair();
	st = rdma(p.a, IBV_WR_RDMA_READ, rbuf + WOFF - 8, mw->rkey, 8);
	check("type 1: RDMA READ before its range gets a remote access error",
	      st == IBV_WC_REM_ACCESS_ERR, "status %d", st);
	free_pair(p);

	p = new_pair();
	{
		struct ibv_wc wc;

		st = local_inv(p.b, mw->rkey, &wc);
		check("LOCAL_INV of a type 1 window is refused",
		      st == IBV_WC_LOC_QP_OP_ERR, "status %d", st);
	}
	free_pair(p);

	/* Invalidation of type 1: a bind of length 0. */
	p = new_pair();
	st = bind1(p.b, mw, rmr, rbuf, 0, 0);
	check("type 1 bind of length 0 (invalidation) completes",
	      st == IBV_WC_SUCCESS, "status %d", st);
	st = rdma(p.a, IBV_WR_RDMA_WRITE, rbuf + WOFF, mw->rkey, 8);
	check("type 1 after invalidation: remote access error",
	      st == IBV_WC_REM_ACCESS_ERR, "status %d", st);
	free_pair(p);
	st = ibv_dereg_mr(rmr);
	check("the MR deregisters once its type 1 window is invalidated", !st,
	      "%s", strerror(st));
	rmr = ibv_reg_mr(c.pd, rbuf, RBUF, IBV_ACCESS_LOCAL_WRITE |
			 IBV_ACCESS_MW_BIND);
	check_fatal("register the MR again", rmr, "%s", strerror(errno));
	ibv_dealloc_mw(mw);
}

static void test_bind_refused(void)
{
	struct ibv_mr *nobind, *ro;
	struct ibv_mw *mw;
	struct rc_pair p;
	uint32_t rkey;
	int st;

	nobind = ibv_reg_mr(c.pd, rbuf, RBUF, IBV_ACCESS_LOCAL_WRITE |
			    IBV_ACCESS_REMOTE_WRITE);
	ro = ibv_reg_mr(c.pd, rbuf, RBUF, IBV_ACCESS_MW_BIND);
	check_fatal("register MRs", nobind && ro, "%s", strerror(errno));

	p = new_pair();
	mw = alloc_mw(IBV_MW_TYPE_2);
	rkey = mw->rkey;
	st = bind2(p.b, mw, &rkey, nobind, rbuf, 4096,
		   IBV_ACCESS_REMOTE_WRITE);
	check("type 2 bind on an MR without IBV_ACCESS_MW_BIND: bind error",
	      st == IBV_WC_MW_BIND_ERR, "status %d", st);
	free_pair(p);
	ibv_dealloc_mw(mw);

	p = new_pair();
	mw = alloc_mw(IBV_MW_TYPE_1);
	st = bind1(p.b, mw, nobind, rbuf, 4096, IBV_ACCESS_REMOTE_WRITE);
	check("type 1 bind on an MR without IBV_ACCESS_MW_BIND: bind error",
	      st == IBV_WC_MW_BIND_ERR, "status %d", st);
	free_pair(p);
	ibv_dealloc_mw(mw);

	p = new_pair();
	mw = alloc_mw(IBV_MW_TYPE_2);
	rkey = mw->rkey;
	st = bind2(p.b, mw, &rkey, rmr, rbuf + RBUF - 4096, 8192,
		   IBV_ACCESS_REMOTE_WRITE);
	check("bind past the MR's end: bind error", st == IBV_WC_MW_BIND_ERR,
	      "status %d", st);
	free_pair(p);
	ibv_dealloc_mw(mw);

	p = new_pair();
	mw = alloc_mw(IBV_MW_TYPE_2);
	rkey = mw->rkey;
	st = bind2(p.b, mw, &rkey, ro, rbuf, 4096, IBV_ACCESS_REMOTE_WRITE);
	check("remote-write window on an MR without local write: bind error",
	      st == IBV_WC_MW_BIND_ERR, "status %d", st);
	free_pair(p);
	ibv_dealloc_mw(mw);

	check("ibv_alloc_mw of type 3 fails", !ibv_alloc_mw(c.pd, 3), "");
	check("dereg of the MRs without windows",
	      !ibv_dereg_mr(nobind) && !ibv_dereg_mr(ro), "");
}

/* A window over an ODP MR: its translation is the MR's, on demand. */
static void test_odp(void)
{
	struct ibv_device_attr_ex attr;
	struct ibv_mr *omr;
	struct ibv_mw *mw;
	struct rc_pair p;
	uint32_t rkey;
	uint8_t *obuf;
	int st;

	if (ibv_query_device_ex(c.ctx, NULL, &attr) ||
	    !(attr.odp_caps.general_caps & IBV_ODP_SUPPORT)) {
		skip("window over an ODP MR", "no ODP");
		return;
	}
	obuf = mmap(NULL, RBUF, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	check_fatal("mmap", obuf != MAP_FAILED, "%s", strerror(errno));
	omr = ibv_reg_mr(c.pd, obuf, RBUF, IBV_ACCESS_LOCAL_WRITE |
			 IBV_ACCESS_MW_BIND | IBV_ACCESS_ON_DEMAND);
	check_fatal("register an ODP MR", omr, "%s", strerror(errno));
	p = new_pair();
	mw = alloc_mw(IBV_MW_TYPE_2);
	rkey = mw->rkey;
	st = bind2(p.b, mw, &rkey, omr, obuf + WOFF, WLEN,
		   IBV_ACCESS_REMOTE_WRITE);
	check("type 2 bind on an ODP MR", st == IBV_WC_SUCCESS, "status %d",
	      st);
	memset(lbuf, 0x6b, WLEN);
	/* Untouched pages: the write faults them in through the window. */
	st = rdma(p.a, IBV_WR_RDMA_WRITE, obuf + WOFF, rkey, WLEN);
	check("window on an ODP MR: RDMA WRITE faults the pages in and lands",
	      st == IBV_WC_SUCCESS && obuf[WOFF] == 0x6b &&
	      obuf[WOFF + WLEN - 1] == 0x6b && !obuf[WOFF + WLEN],
	      "status %d", st);
	st = rdma(p.a, IBV_WR_RDMA_WRITE, obuf + WOFF + WLEN, rkey, 8);
	check("window on an ODP MR: outside it, remote access error",
	      st == IBV_WC_REM_ACCESS_ERR, "status %d", st);
	free_pair(p);
	ibv_dealloc_mw(mw);
	check("the ODP MR deregisters after its window's deallocation",
	      !ibv_dereg_mr(omr), "");
	munmap(obuf, RBUF);
}

#define LONG	(64u << 20)

/*
 * Invalidate @mw's key and bind it again with the same key over @len
 * bytes, in one doorbell (the gap between the two as short as it gets).
 * Return: 1 bound again, 0 the bind was flushed (the QP went to the error
 * state between the two: a READ through the window saw it unbound and
 * failed first), -1 anything else. The READ's own completion, if it
 * comes meanwhile (one CQ), goes to *@read_st.
 */
static int inv_and_rebind(struct ibv_qp *qp, struct ibv_mw *mw, uint32_t rkey,
			  struct ibv_mr *mr, void *addr, uint64_t len,
			  int *read_st)
{
	struct ibv_send_wr bind = bind_wr(mw, rkey, mr, addr, len,
						IBV_ACCESS_REMOTE_READ);
	struct ibv_send_wr inv = {
		.wr_id = 0x1a,
		.next = &bind,
		.opcode = IBV_WR_LOCAL_INV,
		.send_flags = IBV_SEND_SIGNALED,
		.invalidate_rkey = rkey,
	};
	int inv_st = -1, bind_st = -1, st;
	struct ibv_wc wc;

	mw->rkey = rkey;	/* the window's key until the bind */
	if (post_send(qp, &inv))
		return -1;
	while ((inv_st < 0 || bind_st < 0) && (st = poll_one(c.cq, &wc)) >= 0) {
		if (wc.wr_id == 0x1a)
			inv_st = st;
		else if (wc.wr_id == 0xb1d)
			bind_st = st;
		else if (wc.wr_id == 0x10c)
			*read_st = st;
	}
	if (inv_st == IBV_WC_SUCCESS && bind_st == IBV_WC_SUCCESS)
		return 1;
	if (bind_st == IBV_WC_WR_FLUSH_ERR)
		return 0;
	return -1;
}

/*
 * A 64 MiB RDMA READ through a type 2 window, and while it is being
 * copied, the window deallocated (@rebind 0), or invalidated and bound
 * again with the same rkey over its first page only (@rebind 1: the new
 * binding does not cover the rest of the read, whatever its key). The
 * copy looks at the window every 256 KiB: when it looks between the
 * invalidation and the bind (two CPUs), the read fails then, its QP goes
 * to the error state and the bind is flushed; that round is done again,
 * up to ROUNDS times. Return: 1 if the round did what it meant to.
 */
static int revoked_mid_message(int rebind, int last)
{
	const char *what = rebind ? "rebound mid-message" :
				    "revoked mid-message";
	char name[160];
	uint8_t *big = aligned_alloc(4096, LONG), *dst = aligned_alloc(4096, LONG);
	struct ibv_mr *bmr, *dmr;
	struct long_post r = { 0 };
	struct ibv_mw *mw;
	struct rc_pair p;
	struct ibv_wc wc;
	pthread_t t;
	uint32_t rkey;
	int racing, st = -1, rebound = 1;

	check_fatal("buffers", big && dst, "");
	memset(big, 0x2e, LONG);
	bmr = ibv_reg_mr(c.pd, big, LONG, IBV_ACCESS_LOCAL_WRITE |
			 IBV_ACCESS_MW_BIND);
	dmr = ibv_reg_mr(c.pd, dst, LONG, IBV_ACCESS_LOCAL_WRITE);
	check_fatal("register MRs", bmr && dmr, "%s", strerror(errno));
	p = new_pair();
	mw = alloc_mw(IBV_MW_TYPE_2);
	rkey = mw->rkey;
	check_fatal("bind a window over 64 MiB",
		    bind2(p.b, mw, &rkey, bmr, big, LONG,
			  IBV_ACCESS_REMOTE_READ) == IBV_WC_SUCCESS, "");
	r.qp = p.a;
	r.sge = (struct ibv_sge){ (uintptr_t)dst, LONG, dmr->lkey };
	r.wr = (struct ibv_send_wr){ .wr_id = 0x10c, .sg_list = &r.sge,
				     .num_sge = 1, .opcode = IBV_WR_RDMA_READ,
				     .send_flags = IBV_SEND_SIGNALED };
	r.wr.wr.rdma.remote_addr = (uintptr_t)big;
	r.wr.wr.rdma.rkey = rkey;
	pthread_create(&t, NULL, long_post_thread, &r);
	while (!atomic_load(&r.state))
		;
	usleep(10000);
	/*
	 * Still copying when the window changes; how soon the read ends
	 * after that is the copy's (at its next look, on another CPU).
	 */
	racing = atomic_load(&r.state) == 1;
	if (rebind) {
		rebound = inv_and_rebind(p.b, mw, rkey, bmr, big, 4096, &st);
		check_fatal("invalidate the window and bind it again, same rkey, over one page",
			    rebound >= 0, "");
	} else {
		check_fatal("deallocate the window", !ibv_dealloc_mw(mw), "%s",
			    strerror(errno));
	}
	pthread_join(t, NULL);
	if (st < 0)	/* not seen while the bind was polled */
		st = poll_one(c.cq, &wc);
	if (rebound || last) {
		snprintf(name, sizeof(name),
			 "%s: the window changed while the read was copied", what);
		check(name, racing && rebound,
		      rebound ? "the 64 MiB read was over before (make LONG larger)" :
		      "the read saw the window unbound before the bind, every round");
		snprintf(name, sizeof(name),
			 "%s: the rest of the read is a remote access error", what);
		check(name, st == IBV_WC_REM_ACCESS_ERR, "status %d", st);
	}
	if (rebind)
		ibv_dealloc_mw(mw);
	free_pair(p);
	ibv_dereg_mr(dmr);
	ibv_dereg_mr(bmr);
	free(big);
	free(dst);
	return rebound == 1;
}

#define ROUNDS	5

static void test_revoked_mid_message(int rebind)
{
	int i;

	for (i = 0; i < ROUNDS; i++)
		if (revoked_mid_message(rebind, i == ROUNDS - 1))
			return;
}

int main(void)
{
	int kmsg = kmsg_open();
	struct ibv_device_attr attr;

	open_dev(&c, "hodp0");
	check_fatal("query device", !ibv_query_device(c.ctx, &attr), "");
	check("hodp0 reports memory windows (type 2B)",
	      (attr.device_cap_flags & IBV_DEVICE_MEM_WINDOW) &&
	      (attr.device_cap_flags & IBV_DEVICE_MEM_WINDOW_TYPE_2B) &&
	      attr.max_mw > 0, "flags 0x%x max_mw %d",
	      attr.device_cap_flags, attr.max_mw);
	rbuf = aligned_alloc(4096, RBUF);
	lbuf = aligned_alloc(4096, LBUF);
	check_fatal("buffers", rbuf && lbuf, "");
	rmr = ibv_reg_mr(c.pd, rbuf, RBUF, IBV_ACCESS_LOCAL_WRITE |
			 IBV_ACCESS_MW_BIND);
	lmr = ibv_reg_mr(c.pd, lbuf, LBUF, IBV_ACCESS_LOCAL_WRITE);
	check_fatal("register MRs", rmr && lmr, "%s", strerror(errno));

	test_type2();
	test_type1();
	test_bind_refused();
	test_odp();
	test_revoked_mid_message(0);
	test_revoked_mid_message(1);
	kmsg_check(kmsg, "no kernel report");
	return check_done();
}
