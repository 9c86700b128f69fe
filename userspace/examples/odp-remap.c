// SPDX-License-Identifier: GPL-2.0
/*
 * An ODP MR follows the process's page tables: the CPU fills a registered
 * buffer, the device RDMA-writes it elsewhere; then the buffer is unmapped
 * and new memory mapped at the same address, filled with something else,
 * and the same MR, with the same key, carries the new data. A pinned MR
 * would have kept sending the old, unmapped pages.
 *
 *   odp-remap [--pause] [DEVICE [GID_INDEX]]
 *       --pause: before deregistering, say "paused" and wait for a line
 *       on stdin (to look at `rdma statistic show mr` meanwhile)
 *
 * Exits 0 if both writes carried what the CPU had written.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "loopback.h"

#define SIZE (1u << 20)

static void *map_at(void *addr)
{
	void *p = mmap(addr, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE |
		       MAP_ANONYMOUS | (addr ? MAP_FIXED : 0), -1, 0);

	if (p == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	return p;
}

/* RDMA-write @src to @dst and check every byte is @v. */
static void write_and_check(struct loopback *lb, struct ibv_mr *smr,
			    struct ibv_mr *dmr, unsigned char v)
{
	unsigned char *dst = dmr->addr;
	int status;
	size_t i;

	status = loopback_write(lb, smr->addr, smr->lkey, (uintptr_t)dst,
				dmr->rkey, SIZE);
	if (status != IBV_WC_SUCCESS)
		die("RDMA write: %s", status < 0 ? "not posted" :
		    ibv_wc_status_str(status));
	for (i = 0; i < SIZE; i++)
		if (dst[i] != v)
			die("byte %zu: '%c', the CPU wrote '%c'", i, dst[i], v);
}

static const char usage[] =
	"usage: odp-remap [--pause] [DEVICE [GID_INDEX]]     (default hodp0 1)\n"
	"  --pause: before deregistering, say \"paused\" and wait for a line on stdin\n"
	"An ODP MR follows the page tables: a registered buffer is RDMA-written,\n"
	"unmapped, new memory mapped at its address and filled with something\n"
	"else, and the same MR carries the new data.\n"
	"Exits 0 if both writes carried what the CPU had written.\n";

int main(int argc, char **argv)
{
	int pause = argc > 1 && !strcmp(argv[1], "--pause");
	int odp = IBV_ACCESS_ON_DEMAND | IBV_ACCESS_LOCAL_WRITE;
	struct ibv_mr *smr, *dmr;
	struct loopback lb;
	unsigned char *buf;
	char line[16];

	help(argc, argv, usage);

	argv += pause;
	argc -= pause;
	loopback_open(&lb, argc > 1 ? argv[1] : NULL,
		      argc > 2 ? atoi(argv[2]) : 1);
	buf = map_at(NULL);
	smr = ibv_reg_mr(lb.pd, buf, SIZE, odp);
	dmr = ibv_reg_mr(lb.pd, map_at(NULL), SIZE,
			 odp | IBV_ACCESS_REMOTE_WRITE);
	if (!smr || !dmr)
		die("ibv_reg_mr(IBV_ACCESS_ON_DEMAND): %s", strerror(errno));

	memset(buf, 'A', SIZE);
	write_and_check(&lb, smr, dmr, 'A');
	printf("the device sent the 'A's the CPU wrote\n");

	/* New memory under the registered range: the MR follows it. */
	munmap(buf, SIZE);
	map_at(buf);
	memset(buf, 'B', SIZE);
	write_and_check(&lb, smr, dmr, 'B');
	printf("after munmap + mmap at the same address, the same MR sent the new 'B's\n");

	if (pause) {
		printf("paused\n");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			line[0] = 0;
	}
	ibv_dereg_mr(smr);
	ibv_dereg_mr(dmr);
	loopback_close(&lb);
	return 0;
}
