// SPDX-License-Identifier: GPL-2.0
/*
 * Prefetch: ibv_advise_mr() asks the device to fault in pages of an ODP
 * MR before it needs them, so the transfer itself takes no page fault.
 * With IBV_ADVISE_MR_FLAG_FLUSH it is synchronous (done when the call
 * returns, its error the call's); without, it is started and the call
 * returns at once. PREFETCH_WRITE makes the pages writable (the
 * destination of an RDMA write), PREFETCH readable.
 *
 *   odp-prefetch [DEVICE [GID_INDEX]]     (default hodp0 1)
 *
 * Exits 0 if both prefetches were accepted and the data arrived intact.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "loopback.h"

#define SIZE (1u << 20)	/* 1 MiB */

static void prefetch(struct ibv_pd *pd, struct ibv_mr *mr, void *addr,
		     enum ibv_advise_mr_advice advice, uint32_t flags)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)addr, .length = SIZE, .lkey = mr->lkey,
	};
	int ret = ibv_advise_mr(pd, advice, flags, &sge, 1);

	/* ibv_advise_mr returns an errno value, not -1. */
	if (ret)
		die("ibv_advise_mr(%s, %s): %s",
		    advice == IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE ?
		    "PREFETCH_WRITE" : "PREFETCH",
		    flags & IBV_ADVISE_MR_FLAG_FLUSH ? "FLUSH" : "async",
		    strerror(ret));
}

static const char usage[] =
	"usage: odp-prefetch [DEVICE [GID_INDEX]]     (default hodp0 1)\n"
	"Prefetch: ibv_advise_mr() faults in an ODP MR's pages before the RDMA\n"
	"write that uses them (PREFETCH asynchronous, PREFETCH_WRITE synchronous\n"
	"with IBV_ADVISE_MR_FLAG_FLUSH).\n"
	"Exits 0 if both prefetches were accepted and the data arrived intact.\n";

int main(int argc, char **argv)
{
	struct ibv_mr *src_mr, *dst_mr;
	unsigned char *src, *dst;
	struct loopback lb;
	int status;
	size_t i;

	help(argc, argv, usage);

	loopback_open(&lb, argc > 1 ? argv[1] : NULL,
		      argc > 2 ? atoi(argv[2]) : 1);

	src = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	dst = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (src == MAP_FAILED || dst == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	for (i = 0; i < SIZE; i++)
		src[i] = (unsigned char)(i * 13 + 5);

	src_mr = ibv_reg_mr(lb.pd, src, SIZE,
			    IBV_ACCESS_ON_DEMAND | IBV_ACCESS_LOCAL_WRITE);
	dst_mr = ibv_reg_mr(lb.pd, dst, SIZE,
			    IBV_ACCESS_ON_DEMAND | IBV_ACCESS_LOCAL_WRITE |
			    IBV_ACCESS_REMOTE_WRITE);
	if (!src_mr || !dst_mr)
		die("ibv_reg_mr(IBV_ACCESS_ON_DEMAND): %s", strerror(errno));

	/* Asynchronous: the source, read by the device; returns at once. */
	prefetch(lb.pd, src_mr, src, IBV_ADVISE_MR_ADVICE_PREFETCH, 0);
	/* Synchronous: the destination, writable, before the call returns. */
	prefetch(lb.pd, dst_mr, dst, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
		 IBV_ADVISE_MR_FLAG_FLUSH);

	status = loopback_write(&lb, src, src_mr->lkey, (uintptr_t)dst,
				dst_mr->rkey, SIZE);
	if (status != IBV_WC_SUCCESS)
		die("RDMA write: %s", status < 0 ? "not posted" :
		    ibv_wc_status_str(status));
	for (i = 0; i < SIZE; i++)
		if (dst[i] != (unsigned char)(i * 13 + 5))
			die("byte %zu: 0x%02x, expected 0x%02x", i, dst[i],
			    (unsigned char)(i * 13 + 5));

	ibv_dereg_mr(src_mr);
	ibv_dereg_mr(dst_mr);
	loopback_close(&lb);
	printf("prefetch: sync and async accepted, %u bytes written and checked\n",
	       SIZE);
	return 0;
}
