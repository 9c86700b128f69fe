// SPDX-License-Identifier: GPL-2.0
/*
 * UC (unreliable connected) QPs on hodp0, as the IB spec has them: created,
 * connected (RESET -> INIT -> RTR -> RTS with UC's attributes) and queried;
 * SEND and RDMA WRITE, each with and without immediate data, move the bytes
 * they should; READ and atomics are refused when posted (UC has no
 * responses); and nothing is acknowledged or tried again: a SEND without a
 * receive WQE and a WRITE with a bad rkey complete successfully at the
 * requester, are lost at the responder, and leave both QPs working.
 *
 * The in-host transport runs the responder before the requester completes
 * (its doorbell executes the WQE): once the send completion is polled,
 * whatever the responder did is done, so "no receive completion" is one
 * poll, not a wait.
 */
#define _GNU_SOURCE
#include <stdlib.h>

#include "verbs.h"

#define BUF (1u << 20)

static struct ctx c;
static struct ibv_cq *scq, *rcq;	/* a's sends, b's receives */
static struct ibv_qp *a, *b;
static uint8_t *src, *dst;
static struct ibv_mr *smr, *dmr;

static struct ibv_qp *uc_qp(void)
{
	struct ibv_qp_init_attr init = {
		.send_cq = scq, .recv_cq = rcq, .qp_type = IBV_QPT_UC,
		.cap = { .max_send_wr = 32, .max_recv_wr = 32,
			 .max_send_sge = 4, .max_recv_sge = 4 },
	};

	return ibv_create_qp(c.pd, &init);
}

/* RESET -> INIT -> RTR -> RTS with exactly the attributes UC takes. */
static int uc_connect(struct ibv_qp *qp, uint32_t dqpn, uint32_t psn)
{
	struct ibv_qp_attr at = {
		.qp_state = IBV_QPS_INIT, .port_num = 1,
		.qp_access_flags = IBV_ACCESS_LOCAL_WRITE |
				   IBV_ACCESS_REMOTE_WRITE,
	};

	if (ibv_modify_qp(qp, &at, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			  IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		return -1;
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_RTR;
	at.path_mtu = IBV_MTU_1024;
	at.dest_qp_num = dqpn;
	at.rq_psn = psn;
	at.ah_attr.is_global = 1;
	at.ah_attr.grh.dgid = c.gid;
	at.ah_attr.grh.sgid_index = 1;
	at.ah_attr.grh.hop_limit = 1;
	at.ah_attr.port_num = 1;
	if (ibv_modify_qp(qp, &at, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN))
		return -1;
	memset(&at, 0, sizeof(at));
	at.qp_state = IBV_QPS_RTS;
	at.sq_psn = psn;
	return ibv_modify_qp(qp, &at, IBV_QP_STATE | IBV_QP_SQ_PSN);
}

static enum ibv_qp_state qp_state(struct ibv_qp *qp)
{
	struct ibv_qp_init_attr init;
	struct ibv_qp_attr at;

	if (ibv_query_qp(qp, &at, IBV_QP_STATE, &init))
		return (enum ibv_qp_state)-1;
	return at.qp_state;
}

/* Post one WQE on a; its send completion's status (-1: none). */
static int one(enum ibv_wr_opcode op, uint32_t off, uint32_t len,
	       uint64_t raddr, uint32_t rkey, uint32_t imm)
{
	struct ibv_sge sge = { (uintptr_t)src + off, len, smr->lkey };
	struct ibv_send_wr wr = {
		.wr_id = 100 + op, .sg_list = &sge, .num_sge = 1, .opcode = op,
		.send_flags = IBV_SEND_SIGNALED, .imm_data = htobe32(imm),
		.wr.rdma = { .remote_addr = raddr, .rkey = rkey },
	};
	struct ibv_wc wc;
	int st;

	if (post_send(a, &wr))
		return -1;
	st = poll_one(scq, &wc);
	return st == IBV_WC_SUCCESS && wc.wr_id != wr.wr_id ? -1 : st;
}

static void test_create_query(void)
{
	struct ibv_qp_init_attr init;
	struct ibv_qp_attr at;

	a = uc_qp();
	b = uc_qp();
	check_fatal("create UC QPs", a && b, "%s", strerror(errno));
	check_fatal("connect UC QPs (INIT, RTR, RTS with UC's attributes)",
		    !uc_connect(a, b->qp_num, 0x123) &&
		    !uc_connect(b, a->qp_num, 0x456), "%s", strerror(errno));
	memset(&at, 0, sizeof(at));
	check("query a UC QP", !ibv_query_qp(a, &at, IBV_QP_STATE |
					       IBV_QP_DEST_QPN | IBV_QP_SQ_PSN |
					       IBV_QP_AV, &init) &&
	      at.qp_state == IBV_QPS_RTS && at.dest_qp_num == b->qp_num &&
	      at.sq_psn == 0x123 && init.qp_type == IBV_QPT_UC &&
	      at.ah_attr.is_global &&
	      !memcmp(&at.ah_attr.grh.dgid, &c.gid, sizeof(c.gid)),
	      "state %d dest %u psn 0x%x type %d global %d", at.qp_state,
	      at.dest_qp_num, at.sq_psn, init.qp_type, at.ah_attr.is_global);
}

/* SEND (with immediate or not) into a receive WQE of b: the bytes, the WC. */
static void test_send(int imm)
{
	const char *name = imm ? "UC SEND with immediate: data and immediate arrive" :
				 "UC SEND: data arrives";
	struct ibv_wc wc;
	int st;

	memset(dst, 0, 8192);
	check_fatal("post a receive", !post_recv(b, dmr, dst, 8192, 7), "");
	st = one(imm ? IBV_WR_SEND_WITH_IMM : IBV_WR_SEND, 13, 5000, 0, 0,
		 0xabc);
	if (st != IBV_WC_SUCCESS) {
		fail(name, "send completion status %d", st);
		return;
	}
	st = poll_one(rcq, &wc);
	check(name, st == IBV_WC_SUCCESS && wc.wr_id == 7 &&
	      wc.opcode == IBV_WC_RECV && wc.byte_len == 5000 &&
	      !memcmp(dst, src + 13, 5000) &&
	      !!(wc.wc_flags & IBV_WC_WITH_IMM) == imm &&
	      (!imm || be32toh(wc.imm_data) == 0xabc),
	      "status %d opcode %d len %u flags 0x%x, data %s", st, wc.opcode,
	      wc.byte_len, wc.wc_flags,
	      memcmp(dst, src + 13, 5000) ? "differs" : "same");
}

/* RDMA WRITE (with immediate or not) into b's memory. */
static void test_write(int imm, const char *name)
{
	uint32_t len = 65536 + 17;
	struct ibv_wc wc;
	int st, n;

	memset(dst, 0, BUF);
	if (imm)
		check_fatal("post a receive", !post_recv(b, dmr, dst, 0, 8), "");
	st = one(imm ? IBV_WR_RDMA_WRITE_WITH_IMM : IBV_WR_RDMA_WRITE, 4096 + 5,
		 len, (uintptr_t)dst + 3, dmr->rkey, 0x5a5a);
	if (st != IBV_WC_SUCCESS) {
		fail(name, "send completion status %d", st);
		return;
	}
	if (imm) {
		st = poll_one(rcq, &wc);
		n = st == IBV_WC_SUCCESS && wc.wr_id == 8 &&
		    wc.opcode == IBV_WC_RECV_RDMA_WITH_IMM &&
		    (wc.wc_flags & IBV_WC_WITH_IMM) &&
		    be32toh(wc.imm_data) == 0x5a5a;
	} else {
		n = ibv_poll_cq(rcq, 1, &wc) == 0;
		st = 0;
	}
	check(name, n && !memcmp(dst + 3, src + 4096 + 5, len) &&
	      dst[2] == 0 && dst[3 + len] == 0,
	      "completion ok %d (status %d), data %s", n, st,
	      memcmp(dst + 3, src + 4096 + 5, len) ? "differs" : "same");
}

/* UC has no responses: READ and atomics are refused at ibv_post_send. */
static void test_refused(void)
{
	static const struct {
		enum ibv_wr_opcode op;
		const char *name;
	} ops[] = {
		{ IBV_WR_RDMA_READ, "UC RDMA READ is refused when posted" },
		{ IBV_WR_ATOMIC_CMP_AND_SWP, "UC compare-and-swap is refused when posted" },
		{ IBV_WR_ATOMIC_FETCH_AND_ADD, "UC fetch-and-add is refused when posted" },
	};
	struct ibv_sge sge = { (uintptr_t)src, 8, smr->lkey };
	struct ibv_send_wr wr = { .sg_list = &sge, .num_sge = 1,
				  .send_flags = IBV_SEND_SIGNALED }, *bad;
	struct ibv_qp_init_attr_ex ex = {
		.send_cq = scq, .recv_cq = rcq, .qp_type = IBV_QPT_UC,
		.cap = { .max_send_wr = 4, .max_recv_wr = 4,
			 .max_send_sge = 1, .max_recv_sge = 1 },
		.comp_mask = IBV_QP_INIT_ATTR_PD |
			     IBV_QP_INIT_ATTR_SEND_OPS_FLAGS,
		.pd = c.pd,
		.send_ops_flags = IBV_QP_EX_WITH_RDMA_READ,
	};
	struct ibv_wc wc;
	struct ibv_qp *qx;
	size_t i;
	int ret;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		wr.opcode = ops[i].op;
		wr.wr_id = 200 + i;
		wr.wr.rdma.remote_addr = (uintptr_t)dst;
		wr.wr.rdma.rkey = dmr->rkey;
		if (ops[i].op != IBV_WR_RDMA_READ) {
			wr.wr.atomic.remote_addr = (uintptr_t)dst;
			wr.wr.atomic.rkey = dmr->rkey;
		}
		bad = NULL;
		ret = ibv_post_send(a, &wr, &bad);
		check(ops[i].name, ret == EINVAL && bad == &wr &&
		      ibv_poll_cq(scq, 1, &wc) == 0,
		      "ibv_post_send returned %d, bad_wr %s", ret,
		      bad == &wr ? "the WR" : "not the WR");
	}
	check("the UC QP is still in RTS after the refusals",
	      qp_state(a) == IBV_QPS_RTS, "state %d", qp_state(a));
	errno = 0;
	qx = ibv_create_qp_ex(c.ctx, &ex);
	check("an extended UC QP with RDMA READ is refused", !qx &&
	      errno == EOPNOTSUPP, "%s", qx ? "created" : strerror(errno));
	if (qx)
		ibv_destroy_qp(qx);
}

/* Unreliable: lost messages complete successfully, nothing is retried. */
static void test_unreliable(void)
{
	struct ibv_wc wc;
	int st;

	/* No receive WQE at b: no RNR NAK, no retry; the message is lost. */
	st = one(IBV_WR_SEND, 0, 100, 0, 0, 0);
	check("UC SEND without a receive WQE completes successfully",
	      st == IBV_WC_SUCCESS && ibv_poll_cq(rcq, 1, &wc) == 0,
	      "status %d", st);
	memset(dst, 0, 8192);
	check_fatal("post a receive", !post_recv(b, dmr, dst, 8192, 9), "");
	st = one(IBV_WR_SEND, 777, 300, 0, 0, 0);
	check("the next UC SEND lands in the receive posted after the loss",
	      st == IBV_WC_SUCCESS && poll_one(rcq, &wc) == 0 &&
	      wc.wr_id == 9 && wc.byte_len == 300 &&
	      !memcmp(dst, src + 777, 300), "status %d len %u", st,
	      wc.byte_len);

	/* A bad rkey: no NAK; the responder drops it and goes on. */
	memset(dst, 0x77, 4096);
	st = one(IBV_WR_RDMA_WRITE, 0, 64, (uintptr_t)dst, dmr->rkey ^ 0x80, 0);
	check("UC WRITE with a bad rkey completes successfully, writes nothing",
	      st == IBV_WC_SUCCESS && dst[0] == 0x77 && dst[63] == 0x77,
	      "status %d, first byte 0x%x", st, dst[0]);
	check("both UC QPs are still in RTS after the losses",
	      qp_state(a) == IBV_QPS_RTS && qp_state(b) == IBV_QPS_RTS,
	      "states %d and %d", qp_state(a), qp_state(b));
	test_write(0, "UC WRITE after the losses: data arrives");
}

int main(void)
{
	int kmsg = kmsg_open();

	open_dev(&c, "hodp0");
	scq = ibv_create_cq(c.ctx, 64, NULL, NULL, 0);
	rcq = ibv_create_cq(c.ctx, 64, NULL, NULL, 0);
	src = aligned_alloc(4096, BUF);
	dst = aligned_alloc(4096, BUF);
	check_fatal("CQs and buffers", scq && rcq && src && dst, "");
	for (uint32_t i = 0; i < BUF; i++)
		src[i] = i * 7 + (i >> 9);
	smr = ibv_reg_mr(c.pd, src, BUF, IBV_ACCESS_LOCAL_WRITE);
	dmr = ibv_reg_mr(c.pd, dst, BUF, IBV_ACCESS_LOCAL_WRITE |
			 IBV_ACCESS_REMOTE_WRITE);
	check_fatal("register MRs", smr && dmr, "%s", strerror(errno));

	test_create_query();
	test_send(0);
	test_send(1);
	test_write(0, "UC WRITE: data arrives, no receive consumed");
	test_write(1, "UC WRITE with immediate: data and receive completion");
	test_refused();
	test_unreliable();
	kmsg_check(kmsg, "no kernel report");
	ibv_destroy_qp(a);
	ibv_destroy_qp(b);
	return check_done();
}
