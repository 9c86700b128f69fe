// SPDX-License-Identifier: GPL-2.0
/*
 * A huge page mirrored by a DMA-mapping device (dmirror1) is DMA-mapped
 * once per 2 MiB leaf, not once per 4 KiB page: the core's counters
 * (debugfs hmm_mirror/stats: dma_maps made, dma_maps_live not yet undone,
 * dma_huge_maps made) move by one for a device read of a whole THP. The
 * mapping lives as long as one entry uses it: a discard of half the range
 * keeps it for the other half, dropping the rest undoes it, and so do
 * munmap and unregister. dmirror checks each DMA address it copies
 * through against its page (the guests map directly: a DMA address is
 * the physical one), so a wrong offset into the huge mapping fails the
 * read. On the debug kernel (CONFIG_DMA_API_DEBUG) the DMA API's own error
 * count must not move. The suite runs one test at a time: the counters
 * are ours.
 */
#define _GNU_SOURCE
#include "dmirror.h"

#define HPAGE (2UL << 20)
#define NH (HPAGE / PAGE)
#define KPF_THP (1ULL << 22)

#define DMA_API_ERRORS "/sys/kernel/debug/dma-api/error_count"

struct counts {
	long long maps, live, huge, pages;
};

static struct counts counts(void)
{
	struct counts c = {
		.maps = hmm_stat("dma_maps"),
		.live = hmm_stat("dma_maps_live"),
		.huge = hmm_stat("dma_huge_maps"),
		.pages = hmm_stat("dma_mapped_pages"),
	};

	return c;
}

/* Counters since @c0 equal what is wanted; print them otherwise. */
static void check_counts(const char *name, struct counts c0, long long maps,
			 long long live, long long huge, long long pages)
{
	struct counts c = counts();

	check(name, c.maps - c0.maps == maps && c.live - c0.live == live &&
	      c.huge - c0.huge == huge && c.pages - c0.pages == pages,
	      "maps made %lld (want %lld), live %lld (want %lld), huge made %lld (want %lld), mapped pages %lld (want %lld)",
	      c.maps - c0.maps, maps, c.live - c0.live, live,
	      c.huge - c0.huge, huge, c.pages - c0.pages, pages);
}

/* /proc/kpageflags of @pfn, 0 if unreadable. */
static uint64_t kpageflags(uint64_t pfn)
{
	uint64_t f = 0;
	int fd = open("/proc/kpageflags", O_RDONLY);

	if (fd >= 0) {
		if (pread(fd, &f, sizeof(f), pfn * 8) != 8)
			f = 0;
		close(fd);
	}
	return f;
}

/*
 * A 2 MiB-aligned range backed by one THP, filled with @seed's pattern;
 * fatal if no THP could be had (the test would prove nothing).
 */
static char *thp(unsigned int seed)
{
	char *p = map_aligned(HPAGE, HPAGE);
	uint64_t first, last;

	check_fatal("MADV_HUGEPAGE", !madvise(p, HPAGE, MADV_HUGEPAGE), "%s",
		    strerror(errno));
	fill(p, NH, seed);
	first = pagemap(p);
	last = pagemap(p + HPAGE - PAGE);
	check_fatal("the range is one THP (kpageflags THP, contiguous pfns)",
		    (first & PM_PRESENT) && (last & PM_PRESENT) &&
		    PM_PFN(last) == PM_PFN(first) + NH - 1 &&
		    !(PM_PFN(first) % NH) &&
		    (kpageflags(PM_PFN(first)) & KPF_THP) &&
		    (kpageflags(PM_PFN(last)) & KPF_THP),
		    "pfn 0x%llx..0x%llx flags 0x%llx (THP disabled, or no free 2 MiB?)",
		    (unsigned long long)PM_PFN(first),
		    (unsigned long long)PM_PFN(last),
		    (unsigned long long)kpageflags(PM_PFN(first)));
	return p;
}

static int dev_read(int fd, char *p, unsigned long npages, char *buf,
		    unsigned int seed, unsigned long first_page)
{
	int ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, npages, NULL);
	unsigned long i;

	if (ret)
		return ret;
	/* The pattern of page first_page + i of the THP, word by word. */
	for (i = 0; i < npages * PAGE / 4; i++)
		if (((uint32_t *)buf)[i] != seed * 2654435761u +
		    (uint32_t)(i + first_page * PAGE / 4))
			return -EILSEQ;
	return 0;
}

static void test_discard(int fd, char *buf)
{
	struct counts c0 = counts();
	char *p = thp(41);
	int ret;

	ret = dev_read(fd, p, NH, buf, 41, 0);
	check("hugedma: device reads a THP, data right", !ret, "ret %d", ret);
	check_counts("hugedma: one DMA mapping for the THP, not 512", c0,
		     1, 1, 1, NH);
	dm_cmd(fd, HMM_DMIRROR_DISCARD, p, NULL, NH / 2, NULL);
	check_counts("hugedma: discard of the first half keeps the mapping for the rest",
		     c0, 1, 1, 1, NH / 2);
	ret = dev_read(fd, p + HPAGE / 2, NH / 2, buf, 41, NH / 2);
	check("hugedma: the second half still reads right", !ret, "ret %d",
	      ret);
	ret = dev_read(fd, p, NH / 2, buf, 41, 0);
	check("hugedma: the first half faulted back reads right", !ret,
	      "ret %d", ret);
	check_counts("hugedma: ... and uses the same mapping again", c0,
		     1, 1, 1, NH);
	dm_cmd(fd, HMM_DMIRROR_DISCARD, p + HPAGE / 2, NULL, NH / 2, NULL);
	check_counts("hugedma: discard of the second half keeps it for the first",
		     c0, 1, 1, 1, NH / 2);
	dm_cmd(fd, HMM_DMIRROR_DISCARD, p, NULL, NH / 2, NULL);
	check_counts("hugedma: discard of the rest undoes it", c0, 1, 0, 1, 0);
	munmap(p, HPAGE);
}

static void test_munmap_and_unregister(char *buf)
{
	struct counts c0 = counts();
	int fd = dm_open(1), ret;
	char *p = thp(42), *q;

	/* Part of it only: the leaf's part of the huge page is mapped. */
	ret = dev_read(fd, p + 16 * PAGE, 16, buf, 42, 16);
	check("hugedma: reading 16 pages of a THP maps it once", !ret,
	      "ret %d", ret);
	check_counts("hugedma: ... one mapping for 16 entries", c0,
		     1, 1, 1, 16);
	munmap(p, HPAGE);
	check_counts("hugedma: munmap undoes it", c0, 1, 0, 1, 0);

	c0 = counts();
	q = thp(43);
	ret = dev_read(fd, q, NH, buf, 43, 0);
	check("hugedma: another THP reads right", !ret, "ret %d", ret);
	close(fd);
	check_counts("hugedma: unregister (close) undoes its mapping", c0,
		     1, 0, 1, 0);
	munmap(q, HPAGE);
}

/*
 * Once the THP is split (mprotect of half: 6.1 invalidates the whole
 * 2 MiB first), its pages are base pages: mapped one by one again.
 */
static void test_split(int fd, char *buf)
{
	struct counts c0;
	char *p = thp(44);
	int ret;

	ret = dev_read(fd, p, NH, buf, 44, 0);
	check("hugedma: split: read before", !ret, "ret %d", ret);
	mprotect(p, HPAGE / 2, PROT_READ);
	c0 = counts();
	ret = dev_read(fd, p, NH, buf, 44, 0);
	check("hugedma: split: read after, data right", !ret, "ret %d", ret);
	check_counts("hugedma: split: the base pages are mapped one by one",
		     c0, NH, NH, 0, NH);
	munmap(p, HPAGE);
	check_counts("hugedma: split: munmap undoes all of them", c0,
		     NH, 0, 0, 0);
}

int main(void)
{
	char *buf = map_anon(NH, PROT_READ | PROT_WRITE);
	long long errors0 = file_value(DMA_API_ERRORS);
	struct counts c0;
	int fd;

	check_fatal("hugedma: core DMA counters are readable",
		    hmm_stat("dma_maps") >= 0 && hmm_stat("dma_maps_live") >= 0 &&
		    hmm_stat("dma_huge_maps") >= 0,
		    "no dma_maps, dma_maps_live or dma_huge_maps in debugfs hmm_mirror/stats");
	c0 = counts();
	fd = dm_open(1);
	test_discard(fd, buf);
	test_split(fd, buf);
	close(fd);
	test_munmap_and_unregister(buf);
	check("hugedma: no DMA mapping left at the end",
	      counts().live == c0.live && counts().pages == c0.pages,
	      "live %lld, mapped pages %lld more than at the start",
	      counts().live - c0.live, counts().pages - c0.pages);
	if (errors0 >= 0)
		check("hugedma: DMA API debugging reports no error",
		      file_value(DMA_API_ERRORS) == errors0,
		      "error_count %lld -> %lld (see the kernel log)", errors0,
		      file_value(DMA_API_ERRORS));
	else
		printf("# no %s (no CONFIG_DMA_API_DEBUG): not checked\n",
		       DMA_API_ERRORS);
	munmap(buf, NH * PAGE);
	return check_done();
}
