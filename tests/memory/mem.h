/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the memory suite: the kernel's memory counters, and one RDMA
 * operation waited for.
 */
#ifndef _TESTS_MEMORY_MEM_H
#define _TESTS_MEMORY_MEM_H

#include "../hodp/odp.h"
#include "../hodp/verbs.h"

/* A field of /proc/meminfo ("Name: value") or /proc/vmstat ("name value"). */
static inline long long sys_value(const char *file, const char *name)
{
	char line[256];
	long long v = -1;
	size_t n = strlen(name);
	FILE *f = fopen(file, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, n) &&
		    (line[n] == ':' || line[n] == ' '))
			v = strtoll(line + n + 1, NULL, 10);
	fclose(f);
	return v;
}

/*
 * One signalled RDMA WRITE or READ of @len bytes from @qp, waited for:
 * its completion status, -1 if none came, -2 if it could not be posted.
 * Swapping in under TCG may take a while: up to 2 minutes.
 */
static inline int rdma_op(struct ibv_qp *qp, struct ibv_cq *cq,
			  enum ibv_wr_opcode op, struct ibv_mr *lmr,
			  void *local, uint32_t len, struct ibv_mr *rmr,
			  void *remote)
{
	struct ibv_sge sge = { (uintptr_t)local, len, lmr->lkey };
	struct ibv_send_wr wr = { .wr_id = 1, .sg_list = &sge, .num_sge = 1,
				  .opcode = op,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_wc wc;
	int st, tries;

	wr.wr.rdma.remote_addr = (uintptr_t)remote;
	wr.wr.rdma.rkey = rmr->rkey;
	if (post_send(qp, &wr))
		return -2;
	for (tries = 0; tries < 24; tries++) {
		st = poll_one(cq, &wc);
		if (st != -1)
			return st;
	}
	return -1;
}

#endif
