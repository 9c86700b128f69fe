// SPDX-License-Identifier: GPL-2.0
/*
 * Long copies give the CPU back. One doorbell posts GIB_TOTAL GiB of RDMA
 * writes (WQEs of CHUNK bytes): the requester runs them in the doorbell
 * system call or its worker, and must yield while it copies. The soft
 * lockup detector's threshold is lowered for the test (2 s: a CPU that does
 * not schedule for that long is reported), and the kernel log must stay
 * clean; every byte of the last write is checked.
 */
#define _GNU_SOURCE
#include <stdlib.h>

#include "counters.h"
#include "verbs.h"

#define CHUNK		(64u << 20)
#define NWQE		48		/* 3 GiB in one doorbell */
#define THRESH		"/proc/sys/kernel/watchdog_thresh"

int main(void)
{
	struct ibv_qp_init_attr init = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = NWQE, .max_recv_wr = 1,
			 .max_send_sge = 1, .max_recv_sge = 1 },
	};
	uint8_t *src = aligned_alloc(4096, CHUNK), *dst = aligned_alloc(4096, CHUNK);
	struct ibv_send_wr wr[NWQE], *bad;
	struct ibv_sge sge[NWQE];
	char old[32] = "10\n";
	struct ibv_mr *smr, *dmr;
	struct ibv_qp *a, *b;
	struct ibv_wc wc;
	struct ctx c;
	int kmsg, i, st = 0;
	FILE *f;

	open_dev(&c, "hodp0");
	check_fatal("buffers", src && dst, "");
	smr = ibv_reg_mr(c.pd, src, CHUNK, ALL_ACCESS);
	dmr = ibv_reg_mr(c.pd, dst, CHUNK, ALL_ACCESS);
	check_fatal("MRs", smr && dmr, "%s", strerror(errno));
	init.send_cq = init.recv_cq = c.cq;
	a = ibv_create_qp(c.pd, &init);
	b = ibv_create_qp(c.pd, &init);
	check_fatal("QPs", a && b && !rc_connect(&c, a, b->qp_num, ALL_ACCESS, 7) &&
		    !rc_connect(&c, b, a->qp_num, ALL_ACCESS, 7), "%s",
		    strerror(errno));
	for (i = 0; i < NWQE; i++) {
		sge[i] = (struct ibv_sge){ (uintptr_t)src, CHUNK, smr->lkey };
		wr[i] = (struct ibv_send_wr){ .wr_id = i, .sg_list = &sge[i],
					      .num_sge = 1,
					      .opcode = IBV_WR_RDMA_WRITE,
					      .next = i + 1 < NWQE ? &wr[i + 1] : NULL };
		wr[i].wr.rdma.remote_addr = (uintptr_t)dst;
		wr[i].wr.rdma.rkey = dmr->rkey;
	}
	wr[NWQE - 1].send_flags = IBV_SEND_SIGNALED;
	memset(src, 0x77, CHUNK);

	f = fopen(THRESH, "r");
	if (f) {
		if (!fgets(old, sizeof(old), f))
			strcpy(old, "10\n");
		fclose(f);
	}
	check_fatal("lower the soft lockup threshold", !write_str(THRESH, "1\n"),
		    "%s", strerror(errno));
	kmsg = kmsg_open();
	if (ibv_post_send(a, wr, &bad))
		st = -2;
	else
		st = poll_one(c.cq, &wc);
	/* The last WQE may still be copying when poll_one gives up: wait. */
	for (i = 0; st < 0 && st != -2 && i < 60; i++)
		st = poll_one(c.cq, &wc);
	kmsg_check(kmsg, "no soft lockup while copying 3 GiB in one doorbell");
	write_str(THRESH, old);
	check("the writes complete", st == IBV_WC_SUCCESS && wc.wr_id == NWQE - 1,
	      "status %d", st);
	check("and the data landed", !memcmp(src, dst, CHUNK), "");
	return check_done();
}
