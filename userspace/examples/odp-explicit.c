// SPDX-License-Identifier: GPL-2.0
/*
 * Explicit ODP: register buffers with IBV_ACCESS_ON_DEMAND. Nothing is
 * pinned (RLIMIT_MEMLOCK does not apply); the device faults pages in when
 * it first touches them. Here the destination is not even touched by the
 * CPU before the RDMA write lands in it.
 *
 *   odp-explicit [DEVICE [GID_INDEX]]     (default hodp0 1)
 *
 * Exits 0 if the written data arrived intact.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "loopback.h"

#define SIZE (4u << 20)	/* 4 MiB */

static const char usage[] =
	"usage: odp-explicit [DEVICE [GID_INDEX]]     (default hodp0 1)\n"
	"Explicit ODP: two buffers registered with IBV_ACCESS_ON_DEMAND, nothing\n"
	"pinned; an RDMA write between two QPs of this process into a destination\n"
	"the CPU never touched, faulted in by the device.\n"
	"Exits 0 if the written data arrived intact.\n";

int main(int argc, char **argv)
{
	struct ibv_device_attr_ex attr = {};
	struct ibv_mr *src_mr, *dst_mr;
	struct loopback lb;
	unsigned char *src, *dst;
	int status;
	size_t i;

	help(argc, argv, usage);

	loopback_open(&lb, argc > 1 ? argv[1] : NULL,
		      argc > 2 ? atoi(argv[2]) : 1);

	/* Does the device do ODP RDMA writes on RC QPs? */
	if (ibv_query_device_ex(lb.ctx, NULL, &attr))
		die("ibv_query_device_ex failed");
	if (!(attr.odp_caps.general_caps & IBV_ODP_SUPPORT) ||
	    !(attr.odp_caps.per_transport_caps.rc_odp_caps &
	      IBV_ODP_SUPPORT_WRITE))
		die("%s: no ODP RDMA write on RC", ibv_get_device_name(lb.ctx->device));

	/* Anonymous memory: no page exists until someone touches it. */
	src = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	dst = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (src == MAP_FAILED || dst == MAP_FAILED)
		die("mmap: %s", strerror(errno));

	/* The one difference from a pinned registration: ON_DEMAND. */
	src_mr = ibv_reg_mr(lb.pd, src, SIZE,
			    IBV_ACCESS_ON_DEMAND | IBV_ACCESS_LOCAL_WRITE);
	dst_mr = ibv_reg_mr(lb.pd, dst, SIZE,
			    IBV_ACCESS_ON_DEMAND | IBV_ACCESS_LOCAL_WRITE |
			    IBV_ACCESS_REMOTE_WRITE);
	if (!src_mr || !dst_mr)
		die("ibv_reg_mr(IBV_ACCESS_ON_DEMAND): %s", strerror(errno));

	/* Written after registration: the device sees the CPU's writes. */
	for (i = 0; i < SIZE; i++)
		src[i] = (unsigned char)(i * 7 + 1);

	status = loopback_write(&lb, src, src_mr->lkey, (uintptr_t)dst,
				dst_mr->rkey, SIZE);
	if (status != IBV_WC_SUCCESS)
		die("RDMA write: %s", status < 0 ? "not posted" :
		    ibv_wc_status_str(status));
	for (i = 0; i < SIZE; i++)
		if (dst[i] != (unsigned char)(i * 7 + 1))
			die("byte %zu: 0x%02x, expected 0x%02x", i, dst[i],
			    (unsigned char)(i * 7 + 1));

	ibv_dereg_mr(src_mr);
	ibv_dereg_mr(dst_mr);
	loopback_close(&lb);
	printf("explicit ODP: %u bytes written and checked\n", SIZE);
	return 0;
}
