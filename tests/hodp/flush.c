// SPDX-License-Identifier: GPL-2.0
/*
 * A QP in the error state flushes what is posted. Its owner can keep the
 * producer indices of its rings moving (and its CQ's consumer index, so the
 * CQ never fills) for as long as it likes: the flush must still give the
 * CPU back. Each phase feeds one ring of a QP in ERR, rings the doorbell
 * and resets the QP; both calls must return while the feed goes on (the
 * feeder gives up after FEED_S seconds, and then the phase has failed).
 * The rings are as large as hodp allows: the feed must outrun the flush
 * even when the feeding vCPU is descheduled for a while.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "verbs.h"

#define FEED_S	10
#define SQ_MASK	8191	/* each ring a size of its own: find_ring() */
#define RQ_MASK	2047
#define CQ_MASK	16383

static volatile struct rxe_queue_buf *sq, *rq, *cqr;
static volatile struct rxe_queue_buf *fed;
static atomic_int feeding, done, gave_up;

static void *feeder(void *arg)
{
	struct timespec t0, t;
	unsigned long n = 0;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	atomic_store(&feeding, 1);
	while (!atomic_load(&done)) {
		fed->producer_index = (fed->consumer_index + fed->index_mask) &
				      fed->index_mask;
		cqr->consumer_index = cqr->producer_index;
		if (!(++n & 1023)) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			if (t.tv_sec - t0.tv_sec >= FEED_S) {
				atomic_store(&gave_up, 1);
				break;
			}
		}
	}
	fed->producer_index = fed->consumer_index;
	return NULL;
}

static int to_state(struct ibv_qp *qp, enum ibv_qp_state s)
{
	struct ibv_qp_attr a = { .qp_state = s };

	return ibv_modify_qp(qp, &a, IBV_QP_STATE);
}

static void phase(struct ibv_qp *qp, volatile struct rxe_queue_buf *ring,
		  const char *name)
{
	char what[160];
	pthread_t t;
	int db, rs;

	struct ibv_qp_attr init = { .qp_state = IBV_QPS_INIT, .port_num = 1 };

	/* RESET -> INIT -> ERR (the spec has no RESET -> ERR). */
	check_fatal("QP to INIT, then ERR",
		    !ibv_modify_qp(qp, &init, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
				   IBV_QP_PORT | IBV_QP_ACCESS_FLAGS) &&
		    !to_state(qp, IBV_QPS_ERR), "%s", strerror(errno));
	fed = ring;
	atomic_store(&feeding, 0);
	atomic_store(&done, 0);
	atomic_store(&gave_up, 0);
	pthread_create(&t, NULL, feeder, NULL);
	while (!atomic_load(&feeding))
		;
	db = raw_doorbell(qp);
	rs = to_state(qp, IBV_QPS_RESET);
	atomic_store(&done, 1);
	pthread_join(t, NULL);
	snprintf(what, sizeof(what), "doorbell and RESET of a QP in ERR return "
		 "while its %s producer index is fed", name);
	check(what, !atomic_load(&gave_up) && !rs,
	      "%s (doorbell %d, RESET %d)", atomic_load(&gave_up) ?
	      "they returned only when the feeder gave up" : "", db, rs);
}

int main(void)
{
	struct ibv_qp_init_attr init = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 4096, .max_recv_wr = 2000,
			 .max_send_sge = 1, .max_recv_sge = 1 },
	};
	int kmsg = kmsg_open();
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	struct ctx c;

	open_dev(&c, "hodp0");
	cq = ibv_create_cq(c.ctx, 16000, NULL, NULL, 0);
	check_fatal("CQ", cq, "%s", strerror(errno));
	init.send_cq = init.recv_cq = cq;
	qp = ibv_create_qp(c.pd, &init);
	check_fatal("QP", qp, "%s", strerror(errno));
	sq = find_ring(SQ_MASK);
	rq = find_ring(RQ_MASK);
	cqr = find_ring(CQ_MASK);
	check_fatal("the QP's and CQ's rings", sq && rq && cqr && sq != rq,
		    "sq %p rq %p cq %p", (void *)sq, (void *)rq, (void *)cqr);

	phase(qp, sq, "send queue's");
	phase(qp, rq, "receive queue's");
	check("the QP is destroyed afterwards", !ibv_destroy_qp(qp), "%s",
	      strerror(errno));
	check("and its CQ", !ibv_destroy_cq(cq), "%s", strerror(errno));
	kmsg_check(kmsg, "the kernel reported nothing");
	return check_done();
}
