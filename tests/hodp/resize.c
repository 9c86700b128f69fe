// SPDX-License-Identifier: GPL-2.0
/*
 * Two threads resizing one CQ at once. uverbs takes only a shared lock on
 * the CQ for RESIZE_CQ, and the provider's own lock is the provider's: a
 * client can call the command raw from two threads. Every resize returns
 * 0 or a clean errno, the CQ can be destroyed, the device keeps working,
 * and the kernel reports nothing (freeing the old ring twice shows as a
 * refcount or KASAN report).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>

#include "verbs.h"

#define ROUNDS 1000

static struct ibv_cq *cq;
static int good[2], bad[2], last_bad[2];

static void *resizer(void *arg)
{
	long id = (long)arg;
	int i;

	for (i = 0; i < ROUNDS; i++) {
		int ret = raw_resize_cq(cq, 16 + ((i + id) % 4) * 48);

		if (!ret) {
			good[id]++;
		} else if (ret != -EINVAL && ret != -ENOMEM) {
			bad[id]++;
			last_bad[id] = ret;
		}
	}
	return NULL;
}

int main(void)
{
	int kmsg = kmsg_open();
	uint8_t *buf = aligned_alloc(4096, 8192);
	struct ibv_sge sge;
	struct ibv_send_wr wr = { .wr_id = 7, .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_RDMA_WRITE,
				  .send_flags = IBV_SEND_SIGNALED };
	pthread_t t[2];
	struct rc_pair p;
	struct ibv_mr *mr;
	struct ibv_wc wc;
	struct ctx c;
	long i;
	int st;

	open_dev(&c, "hodp0");
	cq = ibv_create_cq(c.ctx, 16, NULL, NULL, 0);
	check_fatal("a CQ to resize", cq, "%s", strerror(errno));
	for (i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, resizer, (void *)i);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("# resizes: %d + %d done\n", good[0], good[1]);
	check("concurrent resizes of one CQ succeed or fail cleanly",
	      !bad[0] && !bad[1] && good[0] + good[1] > ROUNDS,
	      "%d ok, %d failed (last %d)", good[0] + good[1],
	      bad[0] + bad[1], last_bad[0] ? last_bad[0] : last_bad[1]);
	st = ibv_destroy_cq(cq);
	check("the CQ is destroyed afterwards", !st, "%s", strerror(st));

	mr = ibv_reg_mr(c.pd, buf, 8192, ALL_ACCESS);
	check_fatal("MR", mr, "%s", strerror(errno));
	p = rc_pair(&c, ALL_ACCESS, 7);
	sge = (struct ibv_sge){ (uintptr_t)buf, 4096, mr->lkey };
	wr.wr.rdma.remote_addr = (uintptr_t)buf + 4096;
	wr.wr.rdma.rkey = mr->rkey;
	memset(buf, 0x5c, 4096);
	st = post_send(p.a, &wr) ? -2 : poll_one(c.cq, &wc);
	check("the device still works", st == 0 && !memcmp(buf, buf + 4096, 4096),
	      "status %d", st);
	kmsg_check(kmsg, "the kernel reported nothing");
	return check_done();
}
