// SPDX-License-Identifier: GPL-2.0
/*
 * A hostile client: it writes random garbage all over its mapped queues
 * (headers, indices, WQEs, CQEs) and rings doorbells and arms its CQ as
 * fast as it can, for a while. Meanwhile another process moves data on
 * its own QPs and checks every byte. The kernel must survive (any oops,
 * BUG or WARNING fails the suite), and the other QPs must keep working.
 */
#define _GNU_SOURCE
#include <rdma/ib_user_verbs.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "verbs.h"

#define SECONDS 8

struct ring {
	uint8_t *start;
	size_t len;
};

/* The rings the provider mapped from the uverbs device. */
static int find_rings(struct ring *r, int max)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	while (f && n < max && fgets(line, sizeof(line), f)) {
		unsigned long a, b;

		if (strstr(line, "/dev/infiniband/uverbs") &&
		    sscanf(line, "%lx-%lx", &a, &b) == 2) {
			r[n].start = (uint8_t *)a;
			r[n].len = b - a;
			n++;
		}
	}
	if (f)
		fclose(f);
	return n;
}

/* The uverbs doorbell, raw: POST_SEND with no work request. */
static void doorbell(struct ibv_qp *qp)
{
	struct ib_uverbs_post_send_resp resp;
	struct {
		struct ib_uverbs_cmd_hdr hdr;
		struct ib_uverbs_post_send cmd;
	} req = {
		.hdr = { .command = IB_USER_VERBS_CMD_POST_SEND,
			 .in_words = sizeof(req) / 4,
			 .out_words = sizeof(resp) / 4 },
		.cmd = { .response = (uintptr_t)&resp, .qp_handle = qp->handle,
			 .wqe_size = sizeof(struct ib_uverbs_send_wr) },
	};

	if (write(qp->context->cmd_fd, &req, sizeof(req)) < 0)
		(void)0;	/* refused is fine: it must not hurt */
}

static void hostile(void)
{
	struct ctx c;
	struct ring r[32];
	struct rc_pair p;
	struct ibv_mr *mr;
	time_t end = time(NULL) + SECONDS;
	uint8_t *buf = aligned_alloc(4096, 65536);
	unsigned long rounds = 0;
	int n, i;

	open_dev(&c, "hodp0");
	mr = ibv_reg_mr(c.pd, buf, 65536, ALL_ACCESS);
	p = rc_pair(&c, ALL_ACCESS, 7);
	n = find_rings(r, 32);
	printf("# hostile: %d rings mapped\n", n);
	fflush(stdout);
	if (!n || !mr)
		_exit(2);
	srand(getpid());
	while (time(NULL) < end) {
		for (i = 0; i < 64; i++) {
			struct ring *x = &r[rand() % n];
			size_t off = rand() % x->len;

			/* Mostly small values, so indices land in range. */
			if (rand() & 1)
				*(uint32_t *)(x->start + (off & ~3UL)) = rand() & 0x3ff;
			else
				x->start[off] = rand();
		}
		doorbell(p.a);
		doorbell(p.b);
		ibv_req_notify_cq(c.cq, rand() & 1);
		rounds++;
	}
	printf("# hostile: %lu rounds of garbage and doorbells\n", rounds);
	fflush(stdout);
	_exit(0);
}

int main(void)
{
	struct ctx c;
	struct rc_pair p;
	uint8_t *src = aligned_alloc(4096, 65536), *dst = aligned_alloc(4096, 65536);
	struct ibv_mr *smr, *dmr;
	unsigned long ok = 0, bad = 0;
	int status, st;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (!pid)
		hostile();
	open_dev(&c, "hodp0");
	smr = ibv_reg_mr(c.pd, src, 65536, ALL_ACCESS);
	dmr = ibv_reg_mr(c.pd, dst, 65536, ALL_ACCESS);
	check_fatal("bystander MRs", smr && dmr, "%s", strerror(errno));
	p = rc_pair(&c, ALL_ACCESS, 7);

	/* Bystander traffic while the hostile client runs. */
	while (waitpid(pid, &status, WNOHANG) == 0) {
		struct ibv_sge sge = { (uintptr_t)src, 65536, smr->lkey };
		struct ibv_send_wr wr = { .wr_id = ok, .sg_list = &sge,
					  .num_sge = 1,
					  .opcode = IBV_WR_RDMA_WRITE,
					  .send_flags = IBV_SEND_SIGNALED,
					  .wr.rdma = { (uintptr_t)dst, dmr->rkey } };
		struct ibv_wc wc;

		memset(src, (int)(ok & 0xff), 65536);
		if (post_send(p.a, &wr) || (st = poll_one(c.cq, &wc)) != 0 ||
		    memcmp(src, dst, 65536)) {
			bad++;
			break;
		}
		ok++;
	}
	if (!bad)
		waitpid(pid, &status, 0);
	else
		kill(pid, SIGKILL), waitpid(pid, &status, 0);
	check("hostile client ran its course (or died of its own garbage)",
	      WIFEXITED(status) ? WEXITSTATUS(status) == 0 : 1,
	      "exit status %d", WEXITSTATUS(status));
	check("bystander QPs kept working during the attack", !bad && ok > 10,
	      "%lu good writes, %lu bad", ok, bad);
	{
		struct ibv_sge sge = { (uintptr_t)src, 4096, smr->lkey };
		struct ibv_send_wr wr = { .wr_id = 1, .sg_list = &sge, .num_sge = 1,
					  .opcode = IBV_WR_RDMA_WRITE,
					  .send_flags = IBV_SEND_SIGNALED,
					  .wr.rdma = { (uintptr_t)dst, dmr->rkey } };
		struct ibv_wc wc;

		memset(src, 0x3c, 4096);
		st = post_send(p.a, &wr) ? -2 : poll_one(c.cq, &wc);
		check("and after it", st == 0 && !memcmp(src, dst, 4096),
		      "status %d", st);
	}
	printf("# bystander: %lu checked 64 KiB writes\n", ok);
	return check_done();
}
