// SPDX-License-Identifier: GPL-2.0
/*
 * The error completions the IB spec requires, and isolation: a bad, foreign
 * (other PD), revoked or out-of-range key, missing access rights, receiver
 * not ready with no retries left, a receive buffer too small, a peer that
 * does not exist, and the flush of everything left once a QP is in error.
 * Each case uses fresh queue pairs: an error takes them down. Isolation is
 * checked by the bytes, not only the status: the memory an access refused
 * was aimed at (filled with GUARD beforehand) still holds GUARD afterwards.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include <unistd.h>

#include "counters.h"
#include "verbs.h"

static struct ctx c;
static uint8_t *buf;
static struct ibv_mr *mr;

/* Completions one_op() saw that were not its own, for the tests to read. */
static struct ibv_wc others[16];
static int nothers;

/* Post one signalled op on a fresh pair and return the requester status. */
static int one_op(struct rc_pair p, enum ibv_wr_opcode op, uint32_t lkey,
		  uint64_t raddr, uint32_t rkey, uint32_t len)
{
	struct ibv_sge sge = { (uintptr_t)buf, len, lkey };
	struct ibv_send_wr wr = { .wr_id = 0x5a, .sg_list = &sge, .num_sge = 1,
				  .opcode = op, .send_flags = IBV_SEND_SIGNALED,
				  .wr.rdma = { raddr, rkey } };
	struct ibv_wc wc;
	int st;

	nothers = 0;
	if (post_send(p.a, &wr))
		return -2;
	for (;;) {
		st = poll_one(c.cq, &wc);
		if (st < 0 || wc.wr_id == 0x5a)
			return st;
		if (nothers < 16)
			others[nothers++] = wc;
	}
}

static void expect_status(const char *name, int got, int want)
{
	check(name, got == want, "expected %s, got %s (%d)",
	      ibv_wc_status_str(want), got >= 0 ? ibv_wc_status_str(got) :
	      "no completion", got);
}

#define GUARD 0x3c
#define TGT 8192	/* a target in mr, away from the source at buf */

static void guard(size_t off, size_t len)
{
	memset(buf + off, GUARD, len);
}

/* NAME: the LEN bytes at OFF in buf still hold GUARD. */
static void untouched(const char *name, size_t off, size_t len)
{
	char what[160];
	size_t i;

	for (i = 0; i < len && buf[off + i] == GUARD; i++)
		;
	snprintf(what, sizeof(what), "%s: target bytes unchanged", name);
	check(what, i == len, "byte %zu of the target is 0x%02x, was 0x%02x",
	      i, buf[off + i], GUARD);
}

static void drain(void)
{
	struct ibv_wc wc[16];

	while (ibv_poll_cq(c.cq, 16, wc) > 0)
		;
}

static void destroy(struct rc_pair p)
{
	ibv_destroy_qp(p.a);
	ibv_destroy_qp(p.b);
	drain();
}

static void test_remote_keys(void)
{
	struct ibv_pd *pd2 = ibv_alloc_pd(c.ctx);
	struct ibv_mr *ro = ibv_reg_mr(c.pd, buf + 65536, 4096,
				       IBV_ACCESS_LOCAL_WRITE);
	struct ibv_mr *other = ibv_reg_mr(pd2, buf + 131072, 4096, ALL_ACCESS);
	struct ibv_mr *gone = ibv_reg_mr(c.pd, buf + 196608, 4096, ALL_ACCESS);
	uint64_t base = (uintptr_t)buf;
	uint32_t gone_rkey;
	struct rc_pair p;

	check_fatal("extra MRs", pd2 && ro && other && gone, "%s", strerror(errno));
	p = rc_pair(&c, ALL_ACCESS, 7);
	guard(TGT, 64);
	expect_status("bad rkey: remote access error",
		      one_op(p, IBV_WR_RDMA_WRITE, mr->lkey, base + TGT, mr->rkey ^ 0x80, 64),
		      IBV_WC_REM_ACCESS_ERR);
	untouched("bad rkey", TGT, 64);
	destroy(p);
	p = rc_pair(&c, ALL_ACCESS, 7);
	guard((1 << 20) - 32, 32);
	expect_status("write past the end of the MR: remote access error",
		      one_op(p, IBV_WR_RDMA_WRITE, mr->lkey,
			     base + (1 << 20) - 32, mr->rkey, 64),
		      IBV_WC_REM_ACCESS_ERR);
	/* Not even the part inside the MR is written. */
	untouched("write past the end of the MR", (1 << 20) - 32, 32);
	destroy(p);
	p = rc_pair(&c, ALL_ACCESS, 7);
	guard(65536, 64);
	expect_status("write into an MR without remote write: remote access error",
		      one_op(p, IBV_WR_RDMA_WRITE, mr->lkey, base + 65536, ro->rkey, 64),
		      IBV_WC_REM_ACCESS_ERR);
	untouched("write into an MR without remote write", 65536, 64);
	destroy(p);
	p = rc_pair(&c, ALL_ACCESS, 7);
	/* The read's target is local: it must not receive the data. */
	memset(buf + 65536, 0x77, 64);
	guard(0, 64);
	expect_status("read an MR without remote read: remote access error",
		      one_op(p, IBV_WR_RDMA_READ, mr->lkey, base + 65536, ro->rkey, 64),
		      IBV_WC_REM_ACCESS_ERR);
	untouched("read an MR without remote read (local buffer)", 0, 64);
	memset(buf, 0xa5, 64);
	destroy(p);
	p = rc_pair(&c, ALL_ACCESS, 7);
	guard(131072, 64);
	expect_status("rkey of another PD's MR: remote access error",
		      one_op(p, IBV_WR_RDMA_WRITE, mr->lkey, base + 131072,
			     other->rkey, 64), IBV_WC_REM_ACCESS_ERR);
	untouched("rkey of another PD's MR", 131072, 64);
	destroy(p);
	p = rc_pair(&c, ALL_ACCESS, 7);
	guard(TGT, 64);
	expect_status("lkey of another PD's MR: local protection error",
		      one_op(p, IBV_WR_RDMA_WRITE, other->lkey, base + TGT, mr->rkey, 64),
		      IBV_WC_LOC_PROT_ERR);
	untouched("lkey of another PD's MR", TGT, 64);
	destroy(p);

	gone_rkey = gone->rkey;
	ibv_dereg_mr(gone);
	p = rc_pair(&c, ALL_ACCESS, 7);
	guard(196608, 64);
	expect_status("revoked rkey (MR deregistered): remote access error",
		      one_op(p, IBV_WR_RDMA_WRITE, mr->lkey, base + 196608,
			     gone_rkey, 64), IBV_WC_REM_ACCESS_ERR);
	untouched("revoked rkey", 196608, 64);
	destroy(p);
	/* The QP's own access flags count too. */
	p = rc_pair(&c, IBV_ACCESS_REMOTE_READ, 7);
	guard(TGT, 64);
	expect_status("write to a QP without remote write access: remote access error",
		      one_op(p, IBV_WR_RDMA_WRITE, mr->lkey, base + TGT, mr->rkey, 64),
		      IBV_WC_REM_ACCESS_ERR);
	untouched("write to a QP without remote write access", TGT, 64);
	destroy(p);
	ibv_dereg_mr(ro);
	ibv_dereg_mr(other);
	ibv_dealloc_pd(pd2);
}

/* The port counters moved by exactly what one failed WQE did. */
static void expect_counted(const char *name, const long long before[3],
			   long long rnr, long long retry)
{
	long long d_rnr = port_counter("rnr_waits") - before[0];
	long long d_retry = port_counter("retry_waits") - before[1];
	long long d_err = port_counter("wqe_errors") - before[2];

	check(name, before[0] >= 0 && d_rnr == rnr && d_retry == retry &&
	      d_err == 1, "rnr_waits +%lld, retry_waits +%lld, wqe_errors +%lld",
	      d_rnr, d_retry, d_err);
}

static void counters_now(long long v[3])
{
	v[0] = port_counter("rnr_waits");
	v[1] = port_counter("retry_waits");
	v[2] = port_counter("wqe_errors");
}

static void test_rnr(void)
{
	struct rc_pair p = rc_pair(&c, ALL_ACCESS, 0);
	long long before[3];

	counters_now(before);
	expect_status("send with no receive posted and rnr_retry 0: RNR retry exceeded",
		      one_op(p, IBV_WR_SEND, mr->lkey, 0, 0, 64),
		      IBV_WC_RNR_RETRY_EXC_ERR);
	expect_counted("... counted: no RNR wait (none left), one WQE error",
		       before, 0, 0);
	destroy(p);
}

static void test_recv_too_small(void)
{
	struct rc_pair p = rc_pair(&c, ALL_ACCESS, 7);
	struct ibv_wc wc;
	int st, seen = 0;

	post_recv(p.b, mr, buf + 8192, 16, 0x77);
	expect_status("send larger than the receive: remote invalid request",
		      one_op(p, IBV_WR_SEND, mr->lkey, 0, 0, 64),
		      IBV_WC_REM_INV_REQ_ERR);
	for (st = 0; st < nothers; st++)
		if (others[st].wr_id == 0x77) {
			wc = others[st];
			seen = 1;
		}
	while (!seen && poll_one(c.cq, &wc) >= 0)
		seen = wc.wr_id == 0x77;
	check("... and the receive completes with a local length error",
	      seen && wc.status == IBV_WC_LOC_LEN_ERR, "status %s",
	      seen ? ibv_wc_status_str(wc.status) : "none");
	destroy(p);
}

static void test_no_peer(void)
{
	struct ibv_qp *a = rc_qp(&c, NULL, c.cq);
	struct rc_pair p = { a, NULL };
	long long before[3];

	check_fatal("connect to nobody",
		    !rc_connect(&c, a, 0xfffff0, ALL_ACCESS, 7), "");
	counters_now(before);
	expect_status("send to a QP that does not exist: retry exceeded",
		      one_op(p, IBV_WR_SEND, mr->lkey, 0, 0, 64),
		      IBV_WC_RETRY_EXC_ERR);
	/* retry_cnt 2 (rc_connect): two waits for the transport timer. */
	expect_counted("... counted: two transport retry waits, one WQE error",
		       before, 0, 2);
	ibv_destroy_qp(a);
	drain();
}

static void test_flush(void)
{
	struct rc_pair p = rc_pair(&c, ALL_ACCESS, 7);
	struct ibv_qp_attr attr = { .qp_state = IBV_QPS_ERR };
	struct ibv_sge sge = { (uintptr_t)buf, 64, mr->lkey };
	struct ibv_send_wr wr = { .wr_id = 0x99, .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_SEND };
	int i, flushed = 0, st;
	struct ibv_wc wc;

	for (i = 0; i < 3; i++)
		post_recv(p.b, mr, buf, 64, 0x80 + i);
	check_fatal("modify to ERR", !ibv_modify_qp(p.b, &attr, IBV_QP_STATE), "");
	while ((st = poll_one(c.cq, &wc)) >= 0 && flushed < 3)
		flushed += wc.status == IBV_WC_WR_FLUSH_ERR && wc.wr_id >= 0x80;
	check("error state: posted receives are flushed", flushed == 3,
	      "%d of 3", flushed);
	check_fatal("modify to ERR", !ibv_modify_qp(p.a, &attr, IBV_QP_STATE), "");
	post_send(p.a, &wr);	/* unsignalled: flushed completions come anyway */
	st = poll_one(c.cq, &wc);
	check("error state: a send posted is flushed (even unsignalled)",
	      st == IBV_WC_WR_FLUSH_ERR && wc.wr_id == 0x99, "status %d", st);
	destroy(p);
}

/*
 * A SEND this long is still being copied 10 ms after its doorbell (64 MiB
 * was over before once, on the two-CPU debug kernel).
 */
#define LONG	(256u << 20)
/*
 * Rounds to catch the copy in flight: the doorbell returns at once when
 * the QP's worker holds the queue (a kick left from the move to RTS), and
 * then the thread cannot tell that the copy still runs (CI saw it once
 * with 256 MiB on the debug kernel).
 */
#define FLUSH_ORDER_ROUNDS	4

struct flush_order {
	uint8_t *src, *dst;
	struct ibv_mr *smr, *dmr;
	int first, second;	/* order of the two receives' completions */
};

/*
 * One round on a new pair: the long SEND in flight (seen from its posting
 * thread), a receive posted behind the claimed one, the receiver to ERR.
 * Return: whether the send was still being copied when ERR came.
 */
static bool flush_order_round(struct flush_order *f)
{
	struct rc_pair p = rc_pair(&c, ALL_ACCESS, 7);
	struct ibv_qp_attr attr = { .qp_state = IBV_QPS_ERR };
	struct long_post s = { .qp = p.a };
	struct ibv_wc wc;
	bool racing;
	int n = 0;
	pthread_t t;

	f->first = f->second = 0;
	check_fatal("flush order: post the long receive",
		    !post_recv(p.b, f->dmr, f->dst, LONG, 0x901), "");
	s.sge = (struct ibv_sge){ (uintptr_t)f->src, LONG, f->smr->lkey };
	s.wr = (struct ibv_send_wr){ .wr_id = 0x900, .sg_list = &s.sge,
				     .num_sge = 1, .opcode = IBV_WR_SEND };
	pthread_create(&t, NULL, long_post_thread, &s);
	while (!atomic_load(&s.state))
		;
	usleep(10000);
	racing = atomic_load(&s.state) == 1;
	check_fatal("flush order: post a receive behind it",
		    !post_recv(p.b, mr, buf, 64, 0x902), "");
	check_fatal("flush order: modify to ERR",
		    !ibv_modify_qp(p.b, &attr, IBV_QP_STATE), "");
	racing = racing && atomic_load(&s.state) == 1;
	pthread_join(t, NULL);
	while (!(f->first && f->second) && poll_one(c.cq, &wc) >= 0) {
		if (wc.wr_id == 0x901)
			f->first = ++n;
		else if (wc.wr_id == 0x902)
			f->second = ++n;
	}
	destroy(p);
	drain();
	return racing;
}

/*
 * A QP moved to ERR while a peer's long SEND is copied into the receive
 * it claimed: that receive completes (flushed) before the ones posted
 * behind it. Their flush first would tell a kernel ULP's drain (a marker
 * posted after ERR) that the queue is empty while the peer still writes
 * into the claimed buffer; the spec completes a queue's work in order.
 * Every round's order is checked; the race itself must be caught once.
 */
static void test_flush_order(void)
{
	struct flush_order f = {
		.src = aligned_alloc(4096, LONG),
		.dst = aligned_alloc(4096, LONG),
	};
	int round, raced = 0, both = 0, in_order = 0;

	check_fatal("flush order: buffers", f.src && f.dst, "");
	memset(f.src, 0x3c, LONG);
	f.smr = ibv_reg_mr(c.pd, f.src, LONG, IBV_ACCESS_LOCAL_WRITE);
	f.dmr = ibv_reg_mr(c.pd, f.dst, LONG, IBV_ACCESS_LOCAL_WRITE);
	check_fatal("flush order: register MRs", f.smr && f.dmr, "%s",
		    strerror(errno));
	for (round = 1; round <= FLUSH_ORDER_ROUNDS && !raced; round++) {
		raced += flush_order_round(&f);
		both += f.first && f.second;
		in_order += f.first && f.second && f.first < f.second;
	}
	round--;
	check("flush order: the send was being copied when the receiver went to ERR",
	      raced, "in none of %d rounds of a %u MiB send (make LONG larger)",
	      round, LONG >> 20);
	check("flush order: both receives completed", both == round,
	      "in %d of %d rounds", both, round);
	check("flush order: the claimed receive completed first",
	      in_order == round, "the receive behind it came first in %d of %d rounds",
	      round - in_order, round);
	ibv_dereg_mr(f.dmr);
	ibv_dereg_mr(f.smr);
	free(f.src);
	free(f.dst);
}

static void test_still_works(void)
{
	struct rc_pair p = rc_pair(&c, ALL_ACCESS, 7);

	memset(buf + 300000, 0, 64);
	expect_status("after all that, a good write succeeds",
		      one_op(p, IBV_WR_RDMA_WRITE, mr->lkey,
			     (uintptr_t)buf + 300000, mr->rkey, 64), IBV_WC_SUCCESS);
	check("and moved the data", !memcmp(buf, buf + 300000, 64), "");
	destroy(p);
}

int main(void)
{
	open_dev(&c, "hodp0");
	buf = aligned_alloc(4096, 1 << 20);
	memset(buf, 0xa5, 1 << 20);
	mr = ibv_reg_mr(c.pd, buf, 1 << 20, ALL_ACCESS);
	check_fatal("register MR", mr, "%s", strerror(errno));
	test_remote_keys();
	test_rnr();
	test_recv_too_small();
	test_no_peer();
	test_flush();
	test_flush_order();
	test_still_works();
	return check_done();
}
