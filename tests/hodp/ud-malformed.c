// SPDX-License-Identifier: GPL-2.0
/*
 * A UD receive WQE that its owner made malformed in the ring (more SGEs
 * than the QP has) is not silently dropped: a datagram that reaches it
 * completes it with an error, and the next (well-formed) receive gets the
 * next datagram.
 */
#define _GNU_SOURCE
#include <stdlib.h>

#include "verbs.h"

#define RQ_MASK	255	/* the receiver's ring: find_ring() */
#define QKEY	0x11111111

static struct ctx c;

int main(void)
{
	struct ibv_ah_attr aa = { .is_global = 1, .port_num = 1,
				  .grh = { .sgid_index = 1, .hop_limit = 1 } };
	uint8_t *buf = aligned_alloc(4096, 16384);
	int kmsg = kmsg_open();
	struct rxe_queue_buf *rq;
	struct rxe_recv_wqe *wqe;
	struct ibv_qp *tx, *rx;
	struct ibv_cq *rcq;
	struct ibv_wc wc;
	struct ibv_mr *mr;
	struct ibv_ah *ah;
	struct ibv_sge sge;
	struct ibv_send_wr wr = { .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_SEND,
				  .send_flags = IBV_SEND_SIGNALED };
	int st;

	open_dev(&c, "hodp0");
	mr = ibv_reg_mr(c.pd, buf, 16384, ALL_ACCESS);
	rcq = ibv_create_cq(c.ctx, 16, NULL, NULL, 0);
	check_fatal("MR and CQ", mr && rcq, "%s", strerror(errno));
	tx = ud_qp_on(c.pd, c.cq, 8, 8, QKEY);
	rx = ud_qp_on(c.pd, rcq, 8, 200, QKEY);
	aa.grh.dgid = c.gid;
	ah = ibv_create_ah(c.pd, &aa);
	rq = find_ring(RQ_MASK);
	check_fatal("AH and the receive ring", ah && rq, "%s", strerror(errno));

	check_fatal("two receives", !post_recv(rx, mr, buf, 4096, 1) &&
		    !post_recv(rx, mr, buf + 4096, 4096, 2), "%s",
		    strerror(errno));
	/* The owner scribbles on its first receive WQE. */
	wqe = (struct rxe_recv_wqe *)rq->data;
	wqe->dma.num_sge = 1000;

	sge = (struct ibv_sge){ (uintptr_t)buf + 8192, 64, mr->lkey };
	wr.wr.ud.ah = ah;
	wr.wr.ud.remote_qpn = rx->qp_num;
	wr.wr.ud.remote_qkey = QKEY;
	wr.wr_id = 10;
	check_fatal("first datagram", !post_send(tx, &wr) &&
		    poll_one(c.cq, &wc) == IBV_WC_SUCCESS, "%s", strerror(errno));
	st = poll_one(rcq, &wc);
	check("the malformed receive completes with an error",
	      st > 0 && wc.wr_id == 1, "got %s for wr_id %llu",
	      st < 0 ? "no completion" : ibv_wc_status_str(st),
	      (unsigned long long)wc.wr_id);
	wr.wr_id = 11;
	check_fatal("second datagram", !post_send(tx, &wr) &&
		    poll_one(c.cq, &wc) == IBV_WC_SUCCESS, "%s", strerror(errno));
	st = poll_one(rcq, &wc);
	check("the next receive gets the next datagram",
	      st == IBV_WC_SUCCESS && wc.wr_id == 2 && wc.byte_len == 40 + 64,
	      "status %d wr_id %llu len %u", st, (unsigned long long)wc.wr_id,
	      wc.byte_len);
	kmsg_check(kmsg, "the kernel reported nothing");
	return check_done();
}
