// SPDX-License-Identifier: GPL-2.0
/*
 * Data correctness of every operation over hodp0, through the project's
 * libibverbs provider (userspace/provider): SEND and SEND with immediate, inline data, several SGEs on both
 * sides, RDMA WRITE (signalled and not), WRITE with immediate, RDMA READ,
 * compare-and-swap and fetch-and-add, and a 1 MiB message at odd offsets.
 * Every check compares the bytes that arrived.
 */
#define _GNU_SOURCE
#include <stdlib.h>

#include "verbs.h"

#define BUF (2u << 20)

static struct ctx c;
static struct rc_pair qp;
static uint8_t *src, *dst;
static struct ibv_mr *smr, *dmr;

static void fill_random(uint8_t *p, size_t n, unsigned int seed)
{
	srand(seed);
	while (n--)
		*p++ = rand();
}

static void test_send(void)
{
	struct ibv_sge sge[3] = {
		{ (uintptr_t)src + 1, 100, smr->lkey },
		{ (uintptr_t)src + 4096 + 7, 5000, smr->lkey },
		{ (uintptr_t)src + 20000, 3, smr->lkey },
	};
	struct ibv_sge rsge[2] = {
		{ (uintptr_t)dst + 3, 4000, dmr->lkey },
		{ (uintptr_t)dst + 9000, 2000, dmr->lkey },
	};
	struct ibv_recv_wr rwr = { .wr_id = 7, .sg_list = rsge, .num_sge = 2 }, *rbad;
	struct ibv_send_wr wr = { .wr_id = 1, .sg_list = sge, .num_sge = 3,
				  .opcode = IBV_WR_SEND_WITH_IMM,
				  .send_flags = IBV_SEND_SIGNALED,
				  .imm_data = htobe32(0x12345678) };
	uint8_t want[5103], got[5103];
	struct ibv_wc wc;
	int st;

	memset(dst, 0, BUF);
	check_fatal("send: post recv", !ibv_post_recv(qp.b, &rwr, &rbad), "");
	check_fatal("send: post send", !post_send(qp.a, &wr), "%s", strerror(errno));
	st = poll_one(c.cq, &wc);
	check("send: first completion is a success", st == IBV_WC_SUCCESS,
	      "status %d", st);
	if (wc.opcode & IBV_WC_RECV) {
		check("send: the receive", wc.wr_id == 7 && wc.byte_len == 5103 &&
		      wc.qp_num == qp.b->qp_num && wc.src_qp == qp.a->qp_num,
		      "wr_id %lu len %u qp %u src %u", wc.wr_id, wc.byte_len,
		      wc.qp_num, wc.src_qp);
		check("send: immediate data arrives",
		      (wc.wc_flags & IBV_WC_WITH_IMM) &&
		      be32toh(wc.imm_data) == 0x12345678, "flags 0x%x imm 0x%x",
		      wc.wc_flags, be32toh(wc.imm_data));
		st = poll_one(c.cq, &wc);
		check("send: the send completes", st == 0 && wc.wr_id == 1 &&
		      wc.opcode == IBV_WC_SEND, "status %d opcode %d", st, wc.opcode);
	} else {
		check("send: the send completes", wc.wr_id == 1 &&
		      wc.opcode == IBV_WC_SEND, "opcode %d", wc.opcode);
		st = poll_one(c.cq, &wc);
		check("send: the receive", st == 0 && wc.wr_id == 7 &&
		      wc.byte_len == 5103 && (wc.wc_flags & IBV_WC_WITH_IMM) &&
		      be32toh(wc.imm_data) == 0x12345678, "status %d len %u",
		      st, wc.byte_len);
	}
	/* Gather 3 pieces, scatter into 2. */
	memcpy(want, src + 1, 100);
	memcpy(want + 100, src + 4096 + 7, 5000);
	memcpy(want + 5100, src + 20000, 3);
	memcpy(got, dst + 3, 4000);
	memcpy(got + 4000, dst + 9000, 1103);
	check("send: 3 SGEs gathered, scattered into 2, byte exact",
	      !memcmp(want, got, sizeof(want)), "checksums %08x %08x",
	      checksum(want, sizeof(want)), checksum(got, sizeof(got)));
	check("send: nothing written past the receive SGEs",
	      !dst[2] && !dst[4003] && !dst[9000 + 1103], "");
}

static void test_inline(void)
{
	char msg[48] = "inline data, copied at post time";
	struct ibv_sge sge = { (uintptr_t)msg, sizeof(msg), 0 };
	struct ibv_send_wr wr = { .wr_id = 2, .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_SEND,
				  .send_flags = IBV_SEND_SIGNALED | IBV_SEND_INLINE };
	struct ibv_wc wc;
	int s1, s2;

	post_recv(qp.b, dmr, dst, 64, 8);
	check_fatal("inline: post", !post_send(qp.a, &wr), "%s", strerror(errno));
	memset(msg, 'x', sizeof(msg));	/* too late to matter */
	s1 = poll_one(c.cq, &wc);
	s2 = poll_one(c.cq, &wc);
	check("inline: both sides complete", !s1 && !s2, "%d %d", s1, s2);
	check("inline: data as it was at post time",
	      !strcmp((char *)dst, "inline data, copied at post time"),
	      "got '%.48s'", dst);
}

static void test_write_read(void)
{
	struct ibv_sge sge = { (uintptr_t)src + 5, 1 << 20, smr->lkey };
	struct ibv_send_wr wr = { .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_RDMA_WRITE,
				  .wr.rdma = { (uintptr_t)dst + 4093, dmr->rkey } };
	struct ibv_wc wc;
	int i, st, n = 0;

	memset(dst, 0, BUF);
	/* Three unsignalled writes, then a signalled one: one completion. */
	for (i = 0; i < 4; i++) {
		wr.wr_id = 10 + i;
		wr.send_flags = i == 3 ? IBV_SEND_SIGNALED : 0;
		check_fatal("write: post", !post_send(qp.a, &wr), "");
	}
	st = poll_one(c.cq, &wc);
	check("write: only the signalled write completes",
	      st == 0 && wc.wr_id == 13 && wc.opcode == IBV_WC_RDMA_WRITE,
	      "status %d wr_id %lu", st, wc.wr_id);
	while (ibv_poll_cq(c.cq, 1, &wc) > 0)
		n++;
	check("write: no other completion", n == 0, "%d more", n);
	check("write: 1 MiB at odd offsets across pages, byte exact",
	      !memcmp(dst + 4093, src + 5, 1 << 20) && !dst[4092] &&
	      !dst[4093 + (1 << 20)], "checksums %08x %08x",
	      checksum(src + 5, 1 << 20), checksum(dst + 4093, 1 << 20));

	/* Read it back into another place of the source buffer. */
	memset(src + (1 << 20) + 64, 0, 300000);
	sge = (struct ibv_sge){ (uintptr_t)src + (1 << 20) + 64, 300000, smr->lkey };
	wr = (struct ibv_send_wr){ .wr_id = 20, .sg_list = &sge, .num_sge = 1,
				   .opcode = IBV_WR_RDMA_READ,
				   .send_flags = IBV_SEND_SIGNALED,
				   .wr.rdma = { (uintptr_t)dst + 4093 + 1000,
						dmr->rkey } };
	check_fatal("read: post", !post_send(qp.a, &wr), "");
	st = poll_one(c.cq, &wc);
	check("read: completes", st == 0 && wc.opcode == IBV_WC_RDMA_READ &&
	      wc.byte_len == 300000, "status %d opcode %d len %u", st,
	      wc.opcode, wc.byte_len);
	check("read: the bytes read are the remote ones",
	      !memcmp(src + (1 << 20) + 64, dst + 4093 + 1000, 300000), "");
}

static void test_write_imm(void)
{
	struct ibv_sge sge = { (uintptr_t)src, 4096, smr->lkey };
	struct ibv_send_wr wr = { .wr_id = 30, .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_RDMA_WRITE_WITH_IMM,
				  .send_flags = IBV_SEND_SIGNALED,
				  .imm_data = htobe32(0xabcd),
				  .wr.rdma = { (uintptr_t)dst + 100, dmr->rkey } };
	struct ibv_wc wc[2];
	int i, st, got_recv = 0;

	memset(dst, 0, 8192);
	post_recv(qp.b, dmr, dst + 8192, 16, 31);
	check_fatal("write imm: post", !post_send(qp.a, &wr), "");
	for (i = 0; i < 2; i++) {
		st = poll_one(c.cq, &wc[i]);
		check("write imm: completion", st == 0, "status %d", st);
		if (wc[i].opcode == IBV_WC_RECV_RDMA_WITH_IMM)
			got_recv = wc[i].wr_id == 31 && wc[i].byte_len == 4096 &&
				   be32toh(wc[i].imm_data) == 0xabcd;
	}
	check("write imm: the receive reports the write and the immediate",
	      got_recv, "");
	check("write imm: data written", !memcmp(dst + 100, src, 4096), "");
}

static void test_atomics(void)
{
	uint64_t *remote = (uint64_t *)(dst + 64), *result = (uint64_t *)(src + 64);
	struct ibv_sge sge = { (uintptr_t)result, 8, smr->lkey };
	struct ibv_send_wr wr = { .sg_list = &sge, .num_sge = 1,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_wc wc;
	int st;

	*remote = 5;
	wr.wr_id = 40;
	wr.opcode = IBV_WR_ATOMIC_CMP_AND_SWP;
	wr.wr.atomic = (typeof(wr.wr.atomic)){ (uintptr_t)remote, 5, 9, dmr->rkey };
	post_send(qp.a, &wr);
	st = poll_one(c.cq, &wc);
	check("cas: hit swaps and returns the old value",
	      st == 0 && wc.opcode == IBV_WC_COMP_SWAP && *result == 5 &&
	      *remote == 9, "status %d result %lu remote %lu", st, *result, *remote);
	post_send(qp.a, &wr);	/* compare 5 again: a miss */
	st = poll_one(c.cq, &wc);
	check("cas: miss leaves the value and returns it",
	      st == 0 && *result == 9 && *remote == 9, "result %lu remote %lu",
	      *result, *remote);
	wr.opcode = IBV_WR_ATOMIC_FETCH_AND_ADD;
	wr.wr.atomic.compare_add = 3;
	post_send(qp.a, &wr);
	st = poll_one(c.cq, &wc);
	check("fetch-add: adds and returns the old value",
	      st == 0 && wc.opcode == IBV_WC_FETCH_ADD && *result == 9 &&
	      *remote == 12, "result %lu remote %lu", *result, *remote);
}

int main(void)
{
	open_dev(&c, "hodp0");
	src = aligned_alloc(4096, BUF);
	dst = aligned_alloc(4096, BUF);
	fill_random(src, BUF, 1);
	smr = ibv_reg_mr(c.pd, src, BUF, ALL_ACCESS);
	dmr = ibv_reg_mr(c.pd, dst, BUF, ALL_ACCESS);
	check_fatal("register MRs", smr && dmr, "%s", strerror(errno));
	qp = rc_pair(&c, ALL_ACCESS, 7);

	test_send();
	test_inline();
	test_write_read();
	test_write_imm();
	test_atomics();
	return check_done();
}
