// SPDX-License-Identifier: GPL-2.0
/*
 * Overcommit: RDMA through one implicit ODP MR over a working set larger
 * than the guest's RAM, with swap on zram (tests/memory/setup). A
 * loopback RC pair writes the whole working set chunk by chunk (RDMA
 * WRITE, both sides through the implicit MR), the kernel swaps what no
 * longer fits out, the device's mirror is told and drops it; then RDMA
 * READ brings every chunk back through the same MR (the device faults the
 * pages in from swap) and every byte is checked. Nothing is pinned, at any
 * time, and every completion succeeds.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "mem.h"

#define CHUNK	(4 * MIB)

static struct ctx c;
static struct ibv_mr *imr;

/*
 * The pattern of chunk @k: each 64-bit word says which chunk and word it
 * is, mixed so that a page of another chunk, or of another offset, never
 * matches; runs of equal words between them keep it compressible for zram.
 */
static uint64_t word(size_t k, size_t i)
{
	uint64_t v = (k + 1) * 0x9e3779b97f4a7c15ULL;

	return (i & 7) ? v : v ^ (i + 1);
}

static void fill_chunk(uint64_t *p, size_t k)
{
	size_t i;

	for (i = 0; i < CHUNK / 8; i++)
		p[i] = word(k, i);
}

/* The first wrong byte offset of chunk @k in @p, or -1. */
static long chunk_mismatch(const uint64_t *p, size_t k)
{
	size_t i;

	for (i = 0; i < CHUNK / 8; i++)
		if (p[i] != word(k, i))
			return i * 8;
	return -1;
}

static int rdma(struct ibv_qp *qp, enum ibv_wr_opcode op, void *local,
		void *remote)
{
	return rdma_op(qp, c.cq, op, imr, local, CHUNK, imr, remote);
}

int main(void)
{
	long long ram = sys_value("/proc/meminfo", "MemTotal") * 1024;
	long long swap = sys_value("/proc/meminfo", "SwapTotal") * 1024;
	long long out0, out1, in0, in1, inv0, inv1;
	size_t len, nchunks, k, bad_wc = 0, bad_data = 0, done = 0;
	long pin_max = 0, pin, off = -1;
	uint8_t *ws, *buf;
	struct rc_pair p;
	int st = 0;

	/* Half as much again as the guest's RAM; the swap holds the rest. */
	len = (ram + ram / 2) & ~(CHUNK - 1);
	nchunks = len / CHUNK;
	check_fatal("the guest has RAM and swap for it", ram > 0 &&
		    swap >= (long long)len, "MemTotal %lld, SwapTotal %lld, "
		    "working set %zu bytes", ram, swap, len);
	printf("# working set %zu MiB, guest RAM %lld MiB, swap %lld MiB\n",
	       len >> 20, ram >> 20, swap >> 20);

	open_dev(&c, "hodp0");
	imr = ibv_reg_mr(c.pd, NULL, SIZE_MAX, ODP_ACCESS);
	check_fatal("one implicit ODP MR for the whole address space", imr,
		    "%s", strerror(errno));
	p = rc_pair(&c, ALL_ACCESS, 7);
	ws = map(len);
	madvise(ws, len, MADV_NOHUGEPAGE);
	buf = map(CHUNK);
	check("the working set is larger than the guest's RAM",
	      (long long)len > ram, "%zu <= %lld", len, ram);

	out0 = sys_value("/proc/vmstat", "pswpout");
	inv0 = hmm_stat("invalidated_pages");
	for (k = 0; k < nchunks && !st; k++) {
		fill_chunk((uint64_t *)buf, k);
		st = rdma(p.a, IBV_WR_RDMA_WRITE, buf, ws + k * CHUNK);
		pin = status_kb("VmPin");
		if (pin > pin_max)
			pin_max = pin;
		if (!(k % 64))
			fprintf(stderr, "write: %zu of %zu MiB\n",
				k * CHUNK >> 20, len >> 20);
	}
	check("write: every chunk written by RDMA WRITE completes", !st,
	      "chunk %zu of %zu: status %d", k - 1, nchunks, st);
	out1 = sys_value("/proc/vmstat", "pswpout");
	inv1 = hmm_stat("invalidated_pages");
	check("write: what did not fit in RAM went to swap",
	      out1 - out0 >= (long long)((len - ram / 2) / 4096 / 2),
	      "pswpout +%lld pages for %zu MiB written", out1 - out0,
	      len >> 20);

	check("write: the mirror was told of the pages swapped out",
	      inv0 >= 0 && inv1 - inv0 > 0, "HMM core invalidated_pages "
	      "%lld -> %lld", inv0, inv1);

	in0 = sys_value("/proc/vmstat", "pswpin");
	for (k = 0; k < nchunks; k++) {
		memset(buf, 0, CHUNK);
		st = rdma(p.a, IBV_WR_RDMA_READ, buf, ws + k * CHUNK);
		pin = status_kb("VmPin");
		if (pin > pin_max)
			pin_max = pin;
		if (st) {
			bad_wc++;
			continue;
		}
		done++;
		off = chunk_mismatch((uint64_t *)buf, k);
		if (off >= 0 && bad_data++ < 4)
			printf("# chunk %zu: first wrong byte at %ld\n", k, off);
		if (!(k % 64))
			fprintf(stderr, "read: %zu of %zu MiB\n",
				k * CHUNK >> 20, len >> 20);
	}
	in1 = sys_value("/proc/vmstat", "pswpin");
	check("read: every chunk read back by RDMA READ completes",
	      !bad_wc, "%zu of %zu failed (last status %d)", bad_wc, nchunks,
	      st);
	check("read: every byte read back is what was written", done &&
	      !bad_data, "%zu of %zu chunks wrong", bad_data, done);
	check("read: the device faulted swapped-out pages back in",
	      in1 - in0 > 0, "pswpin +%lld", in1 - in0);
	check("nothing was pinned at any time (VmPin 0 kB)", pin_max == 0,
	      "VmPin up to %ld kB", pin_max);

	ibv_destroy_qp(p.a);
	ibv_destroy_qp(p.b);
	check("deregistration of the implicit MR", !ibv_dereg_mr(imr), "%s",
	      strerror(errno));
	munmap(ws, len);
	munmap(buf, CHUNK);
	return check_done();
}
