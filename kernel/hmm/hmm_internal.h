/* SPDX-License-Identifier: GPL-2.0 */
/*
 * HMM mirror core: what its files share and drivers do not see.
 */
#ifndef _HMM_INTERNAL_H
#define _HMM_INTERNAL_H

#include <linux/atomic.h>
#include <linux/mmu_notifier.h>
#include <linux/spinlock.h>

#include "hmm_mirror.h"

/*
 * struct hmm - the per-mm anchor of mirrors
 * @mn: our mmu_notifier on the mm, from mmu_notifier_get(): one per mm, its
 *	users count is the number of registered mirrors, and its free is
 *	deferred past an SRCU grace period
 * @lock: protects @mirrors
 * @mirrors: mirrors linked to this mm (unlinked by unregister or release)
 */
struct hmm {
	struct mmu_notifier mn;
	spinlock_t lock;		/* protects mirrors */
	struct list_head mirrors;
};

struct hmm *hmm_get(struct mm_struct *mm);
void hmm_put(struct hmm *hmm);

/* Counters, readable in debugfs hmm_mirror/stats. */
enum hmm_stat {
	HMM_STAT_HMMS,			/* struct hmm alive */
	HMM_STAT_MIRRORS,		/* mirrors registered */
	HMM_STAT_RELEASES,		/* mirrors released by mm teardown */
	HMM_STAT_FAULTS,		/* hmm_mirror_fault() calls */
	HMM_STAT_FAULT_PAGES,		/* pages filled by them */
	HMM_STAT_FAULT_RETRIES,		/* fills retried after a race */
	HMM_STAT_INVALIDATIONS,		/* invalidate callbacks handled */
	HMM_STAT_INVALIDATED_PAGES,	/* valid entries they cleared */
	HMM_STAT_DIRTIED_PAGES,		/* pages dirtied from device writes */
	HMM_STAT_MIRRORED_PAGES,	/* valid entries now */
	HMM_STAT_PT_BYTES,		/* page table leaves allocated now */
	HMM_STAT_DMA_BYTES,		/* DMA address leaves allocated now */
	HMM_STAT_DMA_MAPPED,		/* pages DMA-mapped now */
	HMM_STAT_NR
};

extern atomic64_t hmm_stats[HMM_STAT_NR];

static inline void hmm_stat_add(enum hmm_stat stat, long delta)
{
	atomic64_add(delta, &hmm_stats[stat]);
}

/* The mirror page table (hmm_pt.c); callers hold mirror->lock. */
#define HMM_PT_LEAF_SHIFT	(PAGE_SHIFT + 9)
#define HMM_PT_LEAF_ENTRIES	BIT(9)
#define HMM_PT_LEAF_SIZE	BIT(HMM_PT_LEAF_SHIFT)

int hmm_pt_prepare(struct hmm_mirror *mirror, unsigned long addr);
int hmm_pt_fill(struct hmm_mirror *mirror, unsigned long start,
		unsigned long end, const unsigned long *hmm_pfns, u64 *out);
void hmm_pt_clear(struct hmm_mirror *mirror, unsigned long start,
		  unsigned long end);

#endif /* _HMM_INTERNAL_H */
