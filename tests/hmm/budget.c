// SPDX-License-Identifier: GPL-2.0
/*
 * What a mirror costs, from the core's counters: 8 bytes of mirror page
 * table per mirrored 4 KiB page (leaves cover 2 MiB, so a range that is not
 * 2 MiB-aligned pays at most one partly used leaf at each end), all of it
 * freed when the range goes. A DMA-mapping device (dmirror1) also keeps
 * the DMA address of each page (8 more bytes, counted apart) and maps and
 * unmaps every page. The suite runs one test at a time: the counters are
 * ours.
 */
#define _GNU_SOURCE
#include "dmirror.h"

#define N (64UL << 20) / PAGE

#define LEAF (2UL << 20)

static void test_budget(int id, int aligned)
{
	char *buf = map_anon(4096, PROT_READ | PROT_WRITE), name[128];
	char *p = aligned ? map_aligned(N * PAGE, LEAF) :
		  (char *)map_aligned(N * PAGE + LEAF, LEAF) + PAGE;
	long long pages0 = hmm_stat("mirrored_pages"), bytes0 = hmm_stat("pt_bytes");
	long long dma0 = hmm_stat("dma_mapped_pages"), pages, bytes, dma;
	long long dbytes0 = hmm_stat("dma_bytes"), dbytes;
	const char *how = aligned ? "aligned" : "unaligned";
	int fd = dm_open(id), ret = 0;
	unsigned long i;

	madvise(p, N * PAGE, MADV_NOHUGEPAGE);
	for (i = 0; i < N; i += 4096)	/* fault it in writable, 16 MiB a time */
		ret = ret ?: dm_cmd(fd, HMM_DMIRROR_WRITE, p + i * PAGE, buf,
				    4096, NULL);
	pages = hmm_stat("mirrored_pages") - pages0;
	bytes = hmm_stat("pt_bytes") - bytes0;
	dbytes = hmm_stat("dma_bytes") - dbytes0;
	dma = hmm_stat("dma_mapped_pages") - dma0;
	snprintf(name, sizeof(name), "budget (dmirror%d, %s): 64 MiB mirrored",
		 id, how);
	check(name, !ret && pages == (long long)N,
	      "ret %d, %lld pages (invalidations %lld, pages %lld)", ret, pages,
	      hmm_stat("invalidations"), hmm_stat("invalidated_pages"));
	snprintf(name, sizeof(name),
		 "budget (dmirror%d, %s): 8 bytes of page table per page%s", id,
		 how, aligned ? "" : " plus one leaf at the end");
	/*
	 * Both bounds: a leaf (one page) holds 512 entries of 8 bytes, so
	 * fewer bytes than 8 per page would mean the counter misses leaves
	 * (a zero would pass an upper bound alone).
	 */
	check(name, pages > 0 && bytes >= 8 * pages &&
	      bytes <= 8 * pages + (aligned ? 0 : (long long)PAGE),
	      "%lld bytes for %lld pages (%.3f per page)", bytes, pages,
	      pages ? (double)bytes / pages : 0.0);
	snprintf(name, sizeof(name), "budget (dmirror%d, %s): DMA-mapped pages",
		 id, how);
	check(name, dma == (id & 1 ? pages : 0), "%lld of %lld", dma, pages);
	snprintf(name, sizeof(name), "budget (dmirror%d, %s): DMA address bytes",
		 id, how);
	check(name, dbytes == (id & 1 ? bytes : 0), "%lld (page table %lld)",
	      dbytes, bytes);

	munmap(p, N * PAGE);
	snprintf(name, sizeof(name),
		 "budget (dmirror%d, %s): munmap frees entries, leaves and mappings",
		 id, how);
	check(name, hmm_stat("mirrored_pages") == pages0 &&
	      hmm_stat("pt_bytes") == bytes0 && hmm_stat("dma_bytes") == dbytes0 &&
	      hmm_stat("dma_mapped_pages") == dma0,
	      "pages %lld bytes %lld dma bytes %lld dma %lld left",
	      hmm_stat("mirrored_pages") - pages0, hmm_stat("pt_bytes") - bytes0,
	      hmm_stat("dma_bytes") - dbytes0, hmm_stat("dma_mapped_pages") - dma0);
	close(fd);
	munmap(buf, 4096 * PAGE);
}

int main(void)
{
	check_fatal("budget: core counters are readable",
		    hmm_stat("mirrored_pages") >= 0, "no debugfs hmm_mirror/stats");
	test_budget(0, 1);
	test_budget(0, 0);
	test_budget(1, 1);
	return check_done();
}
