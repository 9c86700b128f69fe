// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the mirror page table (hmm_pt.c): entries from
 * hmm_range_fault() output, lookups (one page, and a range under one lock),
 * the dirty bit, counting entries by their flags, clearing and
 * discarding ranges across leaves and the freeing of empty leaves, and
 * the page-table budget. They drive a mirror with no mm and no DMA
 * device over pages of their own, so they run where the module is loaded
 * (make check-debug: KUnit runs a module's suites at load).
 */
#include <kunit/test.h>
#include <linux/device.h>
#include <linux/hmm.h>
#include <linux/mm.h>

#include "hmm_internal.h"

#define BASE	(0x7f0000000000UL)	/* leaf aligned */
#define NPAGES	4

struct pt_test {
	struct hmm_mirror mirror;
	struct page *pages[NPAGES];
	unsigned long pfns[NPAGES];
};

static int pt_test_init(struct kunit *test)
{
	struct pt_test *t = kunit_kzalloc(test, sizeof(*t), GFP_KERNEL);
	int i;

	KUNIT_ASSERT_NOT_NULL(test, t);
	init_rwsem(&t->mirror.lock);
	xa_init(&t->mirror.pt);
	xa_init(&t->mirror.dma);
	xa_init(&t->mirror.dma_huge);
	for (i = 0; i < NPAGES; i++) {
		t->pages[i] = alloc_page(GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, t->pages[i]);
		t->pfns[i] = page_to_pfn(t->pages[i]) | HMM_PFN_VALID;
	}
	test->priv = t;
	return 0;
}

static void pt_test_exit(struct kunit *test)
{
	struct pt_test *t = test->priv;
	int i;

	down_write(&t->mirror.lock);
	hmm_pt_clear(&t->mirror, 0, ULONG_MAX);
	up_write(&t->mirror.lock);
	for (i = 0; i < NPAGES; i++)
		__free_page(t->pages[i]);
}

/* Prepare and fill NPAGES entries at @addr from t->pfns. */
static int fill(struct pt_test *t, unsigned long addr, u64 *out)
{
	int ret = hmm_pt_prepare(&t->mirror, addr);

	if (ret)
		return ret;
	down_write(&t->mirror.lock);
	ret = hmm_pt_fill(&t->mirror, addr, addr + NPAGES * PAGE_SIZE,
			  t->pfns, out);
	up_write(&t->mirror.lock);
	return ret;
}

static u64 lookup(struct pt_test *t, unsigned long addr)
{
	u64 entry;

	down_write(&t->mirror.lock);
	entry = hmm_mirror_lookup(&t->mirror, addr);
	up_write(&t->mirror.lock);
	return entry;
}

static void pt_fill_and_lookup(struct kunit *test)
{
	struct pt_test *t = test->priv;
	u64 out[NPAGES];
	int i;

	t->pfns[1] |= HMM_PFN_WRITE;
	t->pfns[2] = 0;			/* not present */
	t->pfns[3] = HMM_PFN_ERROR;	/* cannot be mirrored */
	KUNIT_ASSERT_EQ(test, fill(t, BASE, out), 0);

	KUNIT_EXPECT_EQ(test, hmm_mpte_pfn(lookup(t, BASE)),
			page_to_pfn(t->pages[0]));
	KUNIT_EXPECT_TRUE(test, lookup(t, BASE) & HMM_MPTE_VALID);
	KUNIT_EXPECT_FALSE(test, lookup(t, BASE) & HMM_MPTE_WRITE);
	KUNIT_EXPECT_TRUE(test, lookup(t, BASE + PAGE_SIZE) & HMM_MPTE_WRITE);
	/* Holes and errors are reported, never stored. */
	KUNIT_EXPECT_EQ(test, lookup(t, BASE + 2 * PAGE_SIZE), 0ULL);
	KUNIT_EXPECT_EQ(test, lookup(t, BASE + 3 * PAGE_SIZE), 0ULL);
	KUNIT_EXPECT_EQ(test, out[2], 0ULL);
	KUNIT_EXPECT_TRUE(test, out[3] & HMM_MPTE_ERROR);
	KUNIT_EXPECT_EQ(test, t->mirror.nr_valid, 2UL);
	/* An address in the middle of a page finds that page. */
	KUNIT_EXPECT_EQ(test, lookup(t, BASE + PAGE_SIZE + 123),
			lookup(t, BASE + PAGE_SIZE));
	for (i = 0; i < 2; i++)
		KUNIT_EXPECT_EQ(test, out[i], lookup(t, BASE + i * PAGE_SIZE));
}

static void pt_budget(struct kunit *test)
{
	struct pt_test *t = test->priv;
	s64 before = hmm_stat_read(HMM_STAT_PT_BYTES);

	KUNIT_ASSERT_EQ(test, fill(t, BASE, NULL), 0);
	/* One leaf: 8 bytes for each of its 512 pages. */
	KUNIT_EXPECT_EQ(test, hmm_stat_read(HMM_STAT_PT_BYTES) - before,
			(s64)(HMM_PT_LEAF_ENTRIES * sizeof(u64)));
	down_write(&t->mirror.lock);
	hmm_pt_clear(&t->mirror, BASE, BASE + NPAGES * PAGE_SIZE);
	up_write(&t->mirror.lock);
	KUNIT_EXPECT_EQ(test, hmm_stat_read(HMM_STAT_PT_BYTES), before);
}

static void pt_clear_frees_empty_leaves(struct kunit *test)
{
	struct pt_test *t = test->priv;
	unsigned long second = BASE + HMM_PT_LEAF_SIZE - 2 * PAGE_SIZE;

	/* Two pages at the end of one leaf, two at the start of the next. */
	KUNIT_ASSERT_EQ(test, fill(t, BASE, NULL), 0);
	KUNIT_ASSERT_EQ(test, hmm_pt_prepare(&t->mirror, second), 0);
	KUNIT_ASSERT_EQ(test, hmm_pt_prepare(&t->mirror,
					     second + HMM_PT_LEAF_SIZE), 0);
	down_write(&t->mirror.lock);
	KUNIT_ASSERT_EQ(test, hmm_pt_fill(&t->mirror, second,
					  second + 2 * PAGE_SIZE, t->pfns, NULL), 0);
	KUNIT_ASSERT_EQ(test, hmm_pt_fill(&t->mirror, second + 2 * PAGE_SIZE,
					  second + 4 * PAGE_SIZE, t->pfns + 2,
					  NULL), 0);
	KUNIT_EXPECT_EQ(test, t->mirror.nr_valid, 8UL);

	/* Part of the first leaf: it stays, the rest of it is untouched. */
	hmm_pt_clear(&t->mirror, BASE, BASE + PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, hmm_mirror_lookup(&t->mirror, BASE), 0ULL);
	KUNIT_EXPECT_NE(test, hmm_mirror_lookup(&t->mirror, BASE + PAGE_SIZE), 0ULL);
	KUNIT_EXPECT_NOT_NULL(test, xa_load(&t->mirror.pt, BASE >> HMM_PT_LEAF_SHIFT));

	/* Across the boundary: the second leaf empties and goes. */
	hmm_pt_clear(&t->mirror, second, second + 4 * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, t->mirror.nr_valid, 3UL);
	KUNIT_EXPECT_NULL(test, xa_load(&t->mirror.pt,
					(second + HMM_PT_LEAF_SIZE) >> HMM_PT_LEAF_SHIFT));
	KUNIT_EXPECT_NOT_NULL(test, xa_load(&t->mirror.pt, BASE >> HMM_PT_LEAF_SHIFT));

	/* A fill into a freed leaf must prepare it again. */
	KUNIT_EXPECT_EQ(test, hmm_pt_fill(&t->mirror, second + 2 * PAGE_SIZE,
					  second + 3 * PAGE_SIZE, t->pfns, NULL),
			-EAGAIN);
	hmm_pt_clear(&t->mirror, 0, ULONG_MAX);
	KUNIT_EXPECT_EQ(test, t->mirror.nr_valid, 0UL);
	KUNIT_EXPECT_TRUE(test, xa_empty(&t->mirror.pt));
	up_write(&t->mirror.lock);
}

static void pt_dirty(struct kunit *test)
{
	struct pt_test *t = test->priv;

	t->pfns[0] |= HMM_PFN_WRITE;
	KUNIT_ASSERT_EQ(test, fill(t, BASE, NULL), 0);
	ClearPageDirty(t->pages[0]);
	down_write(&t->mirror.lock);
	/* Only a valid, writable entry takes a device write. */
	KUNIT_EXPECT_EQ(test, hmm_mirror_set_dirty(&t->mirror, BASE + PAGE_SIZE),
			-EFAULT);
	KUNIT_EXPECT_EQ(test, hmm_mirror_set_dirty(&t->mirror, BASE + 8 * PAGE_SIZE),
			-EFAULT);
	KUNIT_EXPECT_EQ(test, hmm_mirror_set_dirty(&t->mirror, BASE), 0);
	up_write(&t->mirror.lock);

	/* Filled again with the same page: the device write is kept. */
	KUNIT_ASSERT_EQ(test, fill(t, BASE, NULL), 0);
	KUNIT_EXPECT_TRUE(test, lookup(t, BASE) & HMM_MPTE_DIRTY);
	KUNIT_EXPECT_FALSE(test, PageDirty(t->pages[0]));

	/* Invalidated: the write reaches the page. */
	down_write(&t->mirror.lock);
	hmm_pt_clear(&t->mirror, BASE, BASE + PAGE_SIZE);
	up_write(&t->mirror.lock);
	KUNIT_EXPECT_TRUE(test, PageDirty(t->pages[0]));
	KUNIT_EXPECT_FALSE(test, PageDirty(t->pages[1]));
}

/*
 * A device-exclusive entry filled again with the same page (the fault
 * path, or exclusive access asked again) stays exclusive: only an
 * invalidation ends exclusive access.
 */
static void pt_refill_keeps_exclusive(struct kunit *test)
{
	struct pt_test *t = test->priv;

	t->pfns[0] |= HMM_PFN_WRITE;
	KUNIT_ASSERT_EQ(test, fill(t, BASE, NULL), 0);
	down_write(&t->mirror.lock);
	KUNIT_ASSERT_EQ(test, hmm_pt_set_flags(&t->mirror, BASE,
					       BASE + PAGE_SIZE,
					       HMM_MPTE_EXCLUSIVE), 0);
	up_write(&t->mirror.lock);
	KUNIT_ASSERT_EQ(test, fill(t, BASE, NULL), 0);
	KUNIT_EXPECT_TRUE(test, lookup(t, BASE) & HMM_MPTE_EXCLUSIVE);
	KUNIT_EXPECT_FALSE(test, lookup(t, BASE + PAGE_SIZE) &
			   HMM_MPTE_EXCLUSIVE);
}

/*
 * A DMA leaf whose page-table leaf is gone: what a fault leaves when an
 * invalidation freed the page-table leaf (with its DMA leaf) between the
 * two installs of hmm_pt_prepare() and the fault then fails. Clearing
 * the range, and so unregistering, frees it.
 */
static void pt_clear_frees_orphan_dma_leaf(struct kunit *test)
{
	struct pt_test *t = test->priv;
	struct device *dev = kunit_kzalloc(test, sizeof(*dev), GFP_KERNEL);
	s64 before = hmm_stat_read(HMM_STAT_DMA_BYTES);
	unsigned long index = BASE >> HMM_PT_LEAF_SHIFT;
	void *leaf;

	KUNIT_ASSERT_NOT_NULL(test, dev);
	/* Never used to map: the leaves hold no valid entry. */
	t->mirror.dma_dev = dev;
	KUNIT_ASSERT_EQ(test, hmm_pt_prepare(&t->mirror, BASE), 0);
	KUNIT_ASSERT_NOT_NULL(test, xa_load(&t->mirror.dma, index));
	/* The invalidation's work on the page-table leaf. */
	leaf = xa_erase(&t->mirror.pt, index);
	KUNIT_ASSERT_NOT_NULL(test, leaf);
	free_page((unsigned long)leaf);
	hmm_stat_add(HMM_STAT_PT_BYTES, -PAGE_SIZE);

	down_write(&t->mirror.lock);
	hmm_pt_clear(&t->mirror, 0, ULONG_MAX);
	up_write(&t->mirror.lock);
	KUNIT_EXPECT_TRUE(test, xa_empty(&t->mirror.dma));
	KUNIT_EXPECT_EQ(test, hmm_stat_read(HMM_STAT_DMA_BYTES),
			before);
	t->mirror.dma_dev = NULL;
}

/* A range read under one lock: entries, and how far it is valid. */
static void pt_lookup_range(struct kunit *test)
{
	struct pt_test *t = test->priv;
	unsigned long second = BASE + HMM_PT_LEAF_SIZE - 2 * PAGE_SIZE;
	u64 e[NPAGES + 2];
	int i;

	/* Valid pages 0, 1 and 3 of NPAGES + 2: two lead, then a hole. */
	t->pfns[2] = 0;
	KUNIT_ASSERT_EQ(test, fill(t, BASE, NULL), 0);
	memset(e, 0xff, sizeof(e));
	down_write(&t->mirror.lock);
	KUNIT_EXPECT_EQ(test, hmm_mirror_lookup_range(&t->mirror, BASE,
						      NPAGES + 2, e), 2UL);
	for (i = 0; i < NPAGES + 2; i++)
		KUNIT_EXPECT_EQ(test, e[i],
				hmm_mirror_lookup(&t->mirror, BASE + i * PAGE_SIZE));
	KUNIT_EXPECT_TRUE(test, e[3] & HMM_MPTE_VALID);
	KUNIT_EXPECT_EQ(test, e[NPAGES], 0ULL);
	/* Nothing mirrored at the start: 0 valid, all entries 0. */
	KUNIT_EXPECT_EQ(test, hmm_mirror_lookup_range(&t->mirror, BASE + 2 * PAGE_SIZE,
						      1, e), 0UL);
	KUNIT_EXPECT_EQ(test, e[0], 0ULL);
	up_write(&t->mirror.lock);

	/* Over a leaf boundary: 2 pages at the end of a leaf, 2 after it. */
	t->pfns[2] = page_to_pfn(t->pages[2]) | HMM_PFN_VALID;
	KUNIT_ASSERT_EQ(test, hmm_pt_prepare(&t->mirror, second), 0);
	KUNIT_ASSERT_EQ(test, hmm_pt_prepare(&t->mirror,
					     second + HMM_PT_LEAF_SIZE), 0);
	down_write(&t->mirror.lock);
	KUNIT_ASSERT_EQ(test, hmm_pt_fill(&t->mirror, second,
					  second + 2 * PAGE_SIZE, t->pfns, NULL), 0);
	KUNIT_ASSERT_EQ(test, hmm_pt_fill(&t->mirror, second + 2 * PAGE_SIZE,
					  second + 4 * PAGE_SIZE, t->pfns + 2,
					  NULL), 0);
	KUNIT_EXPECT_EQ(test, hmm_mirror_lookup_range(&t->mirror, second,
						      NPAGES, e), 4UL);
	for (i = 0; i < NPAGES; i++)
		KUNIT_EXPECT_EQ(test, hmm_mpte_pfn(e[i]),
				page_to_pfn(t->pages[i]));
	up_write(&t->mirror.lock);
}

/* A discarded range loses its entries, and only it; emptied leaves go. */
static void pt_discard(struct kunit *test)
{
	struct pt_test *t = test->priv;
	s64 before = hmm_stat_read(HMM_STAT_PT_BYTES);

	KUNIT_ASSERT_EQ(test, fill(t, BASE, NULL), 0);
	hmm_mirror_discard(&t->mirror, BASE + PAGE_SIZE, BASE + 3 * PAGE_SIZE);
	KUNIT_EXPECT_NE(test, lookup(t, BASE), 0ULL);
	KUNIT_EXPECT_EQ(test, lookup(t, BASE + PAGE_SIZE), 0ULL);
	KUNIT_EXPECT_EQ(test, lookup(t, BASE + 2 * PAGE_SIZE), 0ULL);
	KUNIT_EXPECT_NE(test, lookup(t, BASE + 3 * PAGE_SIZE), 0ULL);
	KUNIT_EXPECT_EQ(test, t->mirror.nr_valid, 2UL);

	hmm_mirror_discard(&t->mirror, BASE, BASE + NPAGES * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, t->mirror.nr_valid, 0UL);
	KUNIT_EXPECT_TRUE(test, xa_empty(&t->mirror.pt));
	KUNIT_EXPECT_EQ(test, hmm_stat_read(HMM_STAT_PT_BYTES), before);
}

/* Counting reads only leaves that exist, each against the budget. */
static void pt_count_valid(struct kunit *test)
{
	struct pt_test *t = test->priv;
	struct hmm_mirror *m = &t->mirror;
	unsigned long budget = 4, n;

	KUNIT_ASSERT_EQ(test, fill(t, BASE, NULL), 0);
	hmm_mirror_read_lock(m);
	n = hmm_mirror_count_valid(m, BASE, BASE + SZ_1G, &budget);
	KUNIT_EXPECT_EQ(test, n, m->nr_valid);
	KUNIT_EXPECT_EQ(test, budget, 3UL);
	n = hmm_mirror_count_valid(m, BASE + PAGE_SIZE, BASE + 2 * PAGE_SIZE,
				   &budget);
	KUNIT_EXPECT_EQ(test, n, 1UL);
	/* No leaf there: nothing read, nothing taken from the budget. */
	n = hmm_mirror_count_valid(m, BASE + SZ_1G, BASE + SZ_2G, &budget);
	KUNIT_EXPECT_EQ(test, n, 0UL);
	KUNIT_EXPECT_EQ(test, budget, 2UL);
	budget = 0;
	n = hmm_mirror_count_valid(m, BASE, BASE + SZ_1G, &budget);
	KUNIT_EXPECT_EQ(test, n, 0UL);
	hmm_mirror_read_unlock(m);
}

/*
 * hmm_pt_count(), what hmm_mirror_fault_and_lock() checks a leaf's
 * required part with and counts its filled pages by: entries that have
 * every flag asked, over a leaf boundary, none where there is no leaf.
 */
static void pt_count_flags(struct kunit *test)
{
	struct pt_test *t = test->priv;
	struct hmm_mirror *m = &t->mirror;
	unsigned long last = BASE + SZ_2M - 2 * PAGE_SIZE;

	t->pfns[1] |= HMM_PFN_WRITE;
	KUNIT_ASSERT_EQ(test, fill(t, BASE, NULL), 0);
	/* The first pages of the next leaf: [last, last + 4 pages) spans both. */
	KUNIT_ASSERT_EQ(test, fill(t, BASE + SZ_2M, NULL), 0);
	down_write(&m->lock);
	KUNIT_EXPECT_EQ(test, hmm_pt_count(m, BASE, BASE + SZ_4M,
					   HMM_MPTE_VALID), 2UL * NPAGES);
	KUNIT_EXPECT_EQ(test, hmm_pt_count(m, BASE, BASE + SZ_4M,
					   HMM_MPTE_VALID | HMM_MPTE_WRITE),
			2UL);
	KUNIT_EXPECT_EQ(test, hmm_pt_count(m, last, last + 4 * PAGE_SIZE,
					   HMM_MPTE_VALID), 2UL);
	KUNIT_EXPECT_EQ(test, hmm_pt_count(m, last, last + 4 * PAGE_SIZE,
					   HMM_MPTE_VALID | HMM_MPTE_WRITE),
			1UL);
	KUNIT_EXPECT_EQ(test, hmm_pt_count(m, BASE, BASE, HMM_MPTE_VALID),
			0UL);
	KUNIT_EXPECT_EQ(test, hmm_pt_count(m, BASE + SZ_4M, BASE + SZ_1G,
					   HMM_MPTE_VALID), 0UL);
	hmm_pt_clear(m, BASE, BASE + PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, hmm_pt_count(m, BASE, BASE + NPAGES * PAGE_SIZE,
					   HMM_MPTE_VALID), NPAGES - 1UL);
	up_write(&m->lock);
}

static struct kunit_case hmm_pt_test_cases[] = {
	KUNIT_CASE(pt_fill_and_lookup),
	KUNIT_CASE(pt_budget),
	KUNIT_CASE(pt_clear_frees_empty_leaves),
	KUNIT_CASE(pt_dirty),
	KUNIT_CASE(pt_refill_keeps_exclusive),
	KUNIT_CASE(pt_clear_frees_orphan_dma_leaf),
	KUNIT_CASE(pt_lookup_range),
	KUNIT_CASE(pt_discard),
	KUNIT_CASE(pt_count_valid),
	KUNIT_CASE(pt_count_flags),
	{}
};

static struct kunit_suite hmm_pt_test_suite = {
	.name = "hmm_mirror_pt",
	.init = pt_test_init,
	.exit = pt_test_exit,
	.test_cases = hmm_pt_test_cases,
};

kunit_test_suite(hmm_pt_test_suite);
