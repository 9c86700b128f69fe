// SPDX-License-Identifier: GPL-2.0
/*
 * Deregistering an MR and destroying a QP while traffic targets them: the
 * operations in flight finish or fail cleanly (remote access error, retry
 * exceeded), never touch freed memory, and the calls return. Once
 * ibv_dereg_mr has returned, nothing more is written to the memory it
 * covered: refilled with a guard pattern then, it keeps it.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "verbs.h"

static struct ctx c;
static struct rc_pair p;
static uint8_t *src, *dst;
static struct ibv_mr *smr;
static uint32_t rkey;
static atomic_int stop;
static int statuses[32];

/* Keep 8 writes in flight at the peer's MR until told to stop. */
static void *writer(void *arg)
{
	struct ibv_sge sge = { (uintptr_t)src, 65536, smr->lkey };
	struct ibv_send_wr wr = { .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_RDMA_WRITE,
				  .send_flags = IBV_SEND_SIGNALED,
				  .wr.rdma = { 0, 0 } };
	int inflight = 0;
	struct ibv_wc wc;

	(void)arg;
	wr.wr.rdma.remote_addr = (uintptr_t)dst;
	wr.wr.rdma.rkey = rkey;
	while (!atomic_load(&stop) || inflight) {
		while (!atomic_load(&stop) && inflight < 8 && !post_send(p.a, &wr))
			inflight++;
		if (ibv_poll_cq(c.cq, 1, &wc) > 0) {
			inflight--;
			statuses[wc.status & 31]++;
			if (wc.status)
				atomic_store(&stop, 1);
		} else if (atomic_load(&stop) && inflight) {
			usleep(1000);
			if (poll_one(c.cq, &wc) < 0)
				break;	/* no more will come */
			inflight--;
			statuses[wc.status & 31]++;
		}
	}
	return NULL;
}

int main(void)
{
	struct ibv_mr *dmr;
	pthread_t t;
	int ret, i;

	open_dev(&c, "hodp0");
	src = aligned_alloc(4096, 65536);
	dst = aligned_alloc(4096, 65536);
	smr = ibv_reg_mr(c.pd, src, 65536, ALL_ACCESS);
	dmr = ibv_reg_mr(c.pd, dst, 65536, ALL_ACCESS);
	check_fatal("MRs", smr && dmr, "%s", strerror(errno));
	memset(src, 0xa5, 65536);
	rkey = dmr->rkey;
	p = rc_pair(&c, ALL_ACCESS, 7);

	pthread_create(&t, NULL, writer, NULL);
	usleep(300 * 1000);
	ret = ibv_dereg_mr(dmr);
	memset(dst, 0x3c, 65536);
	check("dereg an MR under remote writes returns 0", !ret, "%d", ret);
	pthread_join(t, NULL);
	for (i = 0; i < 65536 && dst[i] == 0x3c; i++)
		;
	check("nothing is written to the memory after dereg returned", i == 65536,
	      "byte %d is 0x%02x", i, i < 65536 ? dst[i] : 0);
	check("writes before it succeeded", statuses[IBV_WC_SUCCESS] > 0,
	      "%d successes", statuses[IBV_WC_SUCCESS]);
	check("writes after it failed with a remote access error",
	      statuses[IBV_WC_REM_ACCESS_ERR] >= 1, "%d access errors, statuses "
	      "ok %d flush %d", statuses[IBV_WC_REM_ACCESS_ERR],
	      statuses[IBV_WC_SUCCESS], statuses[IBV_WC_WR_FLUSH_ERR]);

	/* Now destroy the responder QP under traffic on a new pair. */
	memset(statuses, 0, sizeof(statuses));
	dmr = ibv_reg_mr(c.pd, dst, 65536, ALL_ACCESS);
	rkey = dmr->rkey;
	p = rc_pair(&c, ALL_ACCESS, 7);
	atomic_store(&stop, 0);
	pthread_create(&t, NULL, writer, NULL);
	usleep(300 * 1000);
	ret = ibv_destroy_qp(p.b);
	check("destroying the responder QP under traffic returns 0", !ret, "%d", ret);
	pthread_join(t, NULL);
	check("the requester then gets retry exceeded",
	      statuses[IBV_WC_RETRY_EXC_ERR] == 1, "%d retry errors, %d ok",
	      statuses[IBV_WC_RETRY_EXC_ERR], statuses[IBV_WC_SUCCESS]);
	ret = ibv_destroy_qp(p.a);
	check("and its own destroy returns 0", !ret, "%d", ret);
	return check_done();
}
