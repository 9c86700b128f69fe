// SPDX-License-Identifier: GPL-2.0
/*
 * Implicit ODP: one registration, ibv_reg_mr(pd, NULL, SIZE_MAX, ...),
 * covers the whole address space at iova 0 (a buffer's address is its
 * iova), including memory mapped after the registration. Its cost does
 * not depend on how much the process maps.
 *
 *   odp-implicit [DEVICE [GID_INDEX]]     (default hodp0 1)
 *
 * Exits 0 if the written data arrived intact.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "loopback.h"

#define SIZE (1u << 20)	/* 1 MiB */

static const char usage[] =
	"usage: odp-implicit [DEVICE [GID_INDEX]]     (default hodp0 1)\n"
	"Implicit ODP: one MR, ibv_reg_mr(pd, NULL, SIZE_MAX, ...), for the whole\n"
	"address space at iova 0, including memory mapped after it; an RDMA write\n"
	"between two QPs of this process through it.\n"
	"Exits 0 if the written data arrived intact.\n";

int main(int argc, char **argv)
{
	struct ibv_device_attr_ex attr = {};
	unsigned char *src, *dst;
	struct loopback lb;
	struct ibv_mr *mr;
	int status;
	size_t i;

	help(argc, argv, usage);

	loopback_open(&lb, argc > 1 ? argv[1] : NULL,
		      argc > 2 ? atoi(argv[2]) : 1);

	if (ibv_query_device_ex(lb.ctx, NULL, &attr))
		die("ibv_query_device_ex failed");
	if (!(attr.odp_caps.general_caps & IBV_ODP_SUPPORT_IMPLICIT))
		die("%s: no implicit ODP", ibv_get_device_name(lb.ctx->device));

	/* Everything, once: local and remote access. */
	mr = ibv_reg_mr(lb.pd, NULL, SIZE_MAX,
			IBV_ACCESS_ON_DEMAND | IBV_ACCESS_LOCAL_WRITE |
			IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ);
	if (!mr)
		die("ibv_reg_mr(NULL, SIZE_MAX, ON_DEMAND): %s", strerror(errno));

	/* Memory mapped after the registration is covered too. */
	src = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	dst = malloc(SIZE);
	if (src == MAP_FAILED || !dst)
		die("out of memory");
	for (i = 0; i < SIZE; i++)
		src[i] = (unsigned char)(i ^ (i >> 8));
	memset(dst, 0, SIZE);

	/* The same key for both sides; addresses are iovas. */
	status = loopback_write(&lb, src, mr->lkey, (uintptr_t)dst, mr->rkey,
				SIZE);
	if (status != IBV_WC_SUCCESS)
		die("RDMA write: %s", status < 0 ? "not posted" :
		    ibv_wc_status_str(status));
	for (i = 0; i < SIZE; i++)
		if (dst[i] != (unsigned char)(i ^ (i >> 8)))
			die("byte %zu: 0x%02x, expected 0x%02x", i, dst[i],
			    (unsigned char)(i ^ (i >> 8)));

	ibv_dereg_mr(mr);
	loopback_close(&lb);
	printf("implicit ODP: %u bytes written and checked\n", SIZE);
	return 0;
}
