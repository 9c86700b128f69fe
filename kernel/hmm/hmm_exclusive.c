// SPDX-License-Identifier: GPL-2.0
/*
 * Exclusive device access: the CPU page table entries of a range are
 * replaced by device-exclusive entries (make_device_exclusive_range), so the
 * device may, for example, run atomics on the pages without the CPU seeing
 * a torn update. The first CPU access restores the mapping, which
 * invalidates the mirror (MMU_NOTIFY_EXCLUSIVE, no owner) and so ends the
 * device's exclusive access.
 *
 * The pages come back locked: while they are, no CPU access can restore
 * them. The mirror is filled under its lock, with the notifier sequence read
 * before the conversion (which does not invalidate its own owner's mirrors)
 * and checked after it, as any fault fill.
 */
#include <linux/jiffies.h>
#include <linux/hmm.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pagemap.h>
#include <linux/rmap.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "hmm_internal.h"

static void release_pages_locked(struct page **pages, unsigned long n)
{
	unsigned long i;

	for (i = 0; i < n; i++) {
		if (!pages[i])
			continue;
		unlock_page(pages[i]);
		put_page(pages[i]);
	}
}

/* As fault_watched() (hmm_fault.c), -ESTALE included. */
static int exclusive_watched(struct hmm_mirror *mirror,
			     struct hmm_watch *watch, unsigned long start,
			     unsigned long end, struct page **pages,
			     unsigned long *pfns)
{
	unsigned long i, n = (end - start) >> PAGE_SHIFT, seq;
	unsigned long timeout =
		jiffies + msecs_to_jiffies(HMM_MIRROR_FAULT_TIMEOUT_MS);
	struct mmu_interval_notifier *notifier = &watch->notifier;
	int ret, got;

	for (;;) {
		if (time_after(jiffies, timeout))
			return -EBUSY;
		/*
		 * Give the CPU back any exclusive entry of the range (ours,
		 * from an earlier call or the last round) before preparing
		 * the leaf and reading the sequence: make_device_exclusive_
		 * range()'s GUP would do it after, and each restore
		 * invalidates this mirror (and may free the leaf), so every
		 * round would retry its own conversions until the timeout.
		 * No page reference is taken here.
		 */
		if (mmap_read_lock_killable(mirror->mm))
			return -EINTR;
		got = get_user_pages_remote(mirror->mm, start, n, FOLL_WRITE,
					    NULL, NULL, NULL);
		mmap_read_unlock(mirror->mm);
		if (got < 0)
			return got;
		if (got < n)
			return -EFAULT;
		ret = hmm_pt_prepare(mirror, start);
		if (ret)
			return ret;
		memset(pages, 0, n * sizeof(*pages));
		seq = mmu_interval_read_begin(notifier);
		if (mmap_read_lock_killable(mirror->mm))
			return -EINTR;
		got = make_device_exclusive_range(mirror->mm, start, end, pages,
						  mirror->hdev->owner);
		mmap_read_unlock(mirror->mm);
		if (got < 0)
			return got;
		/* GUP stopped short: no VMA, or not writable. */
		if (got < n) {
			release_pages_locked(pages, got);
			return -EFAULT;
		}
		for (i = 0; i < n; i++)
			if (!pages[i])
				break;
		if (i < n) {
			/* Busy (mapped elsewhere, pinned): try again. */
			release_pages_locked(pages, n);
			continue;
		}
		for (i = 0; i < n; i++)
			pfns[i] = page_to_pfn(pages[i]) | HMM_PFN_VALID |
				  HMM_PFN_WRITE;

		down_write(&mirror->lock);
		if (watch->dead) {
			up_write(&mirror->lock);
			release_pages_locked(pages, n);
			return -ESTALE;
		}
		if (mmu_interval_read_retry(notifier, seq)) {
			up_write(&mirror->lock);
			release_pages_locked(pages, n);
			hmm_stat_add(HMM_STAT_FAULT_RETRIES, 1);
			continue;
		}
		ret = hmm_pt_fill(mirror, start, end, pfns, NULL);
		if (!ret)
			ret = hmm_pt_set_flags(mirror, start, end,
					       HMM_MPTE_EXCLUSIVE);
		up_write(&mirror->lock);
		release_pages_locked(pages, n);
		if (ret != -EAGAIN)
			break;
	}
	if (!ret)
		hmm_stat_add(HMM_STAT_EXCLUSIVE_PAGES, n);
	return ret;
}

/*
 * Watched before its sequence is read, as for a fault; a watch removed
 * under it (-ESTALE) is a retry, bounded as fault_leaf() bounds it, by
 * @limit (the call's) and fatal signals.
 */
static int exclusive_leaf(struct hmm_mirror *mirror, unsigned long start,
			  unsigned long end, struct page **pages,
			  unsigned long *pfns, unsigned long limit)
{
	struct hmm_watch *watch;
	int ret;

	for (;;) {
		watch = hmm_watch_get(mirror, start);
		if (IS_ERR(watch))
			return PTR_ERR(watch);
		ret = exclusive_watched(mirror, watch, start, end, pages, pfns);
		hmm_watch_done(mirror, watch, start, !ret);
		if (ret != -ESTALE)
			return ret;
		hmm_stat_add(HMM_STAT_FAULT_RETRIES, 1);
		if (fatal_signal_pending(current))
			return -EINTR;
		if (time_after(jiffies, limit))
			return -EBUSY;
		cond_resched();
	}
}

/**
 * hmm_mirror_make_exclusive() - give the device exclusive access to a range
 * @mirror: a registered mirror
 * @start: first address, page aligned
 * @end: end address (exclusive), page aligned
 *
 * Faults the pages in for writing, takes them away from the CPU and mirrors
 * them writable with HMM_MPTE_EXCLUSIVE set. The flag (and the entry) goes
 * away with the first CPU access to the page, or any other invalidation.
 * Sleeps.
 *
 * Return: 0; -EFAULT if part of the range has no mapping or may not be
 * written; -EBUSY if a page could not be taken for
 * HMM_MIRROR_FAULT_TIMEOUT_MS, or the leaf's watch kept being removed past
 * HMM_MIRROR_FAULT_MAX_MS since the call began; -ENOMEM; -EINTR; -ESRCH if the mm has
 * exited; -ENODEV if the mirror was unregistered; -EINVAL for a bad range.
 */
int hmm_mirror_make_exclusive(struct hmm_mirror *mirror, unsigned long start,
			      unsigned long end)
{
	unsigned long limit =
		jiffies + msecs_to_jiffies(HMM_MIRROR_FAULT_MAX_MS);
	unsigned long addr, next, *pfns = NULL;
	struct page **pages = NULL;
	struct hmm_charge charge;
	int ret = 0;

	ret = hmm_mirror_enter(mirror, start, end);
	if (ret)
		return ret;
	pages = kmalloc_array(HMM_PT_LEAF_ENTRIES, sizeof(*pages), GFP_KERNEL);
	pfns = kmalloc_array(HMM_PT_LEAF_ENTRIES, sizeof(*pfns), GFP_KERNEL);
	if (!pages || !pfns) {
		ret = -ENOMEM;
		goto out_free;
	}
	/* Its leaves and watches are the mirrored process's, as a fault's. */
	hmm_charge_begin(mirror, &charge);
	for (addr = start; addr < end; addr = next) {
		next = hmm_leaf_end(addr, end);
		ret = exclusive_leaf(mirror, addr, next, pages, pfns, limit);
		if (!ret && fatal_signal_pending(current))
			ret = -EINTR;
		if (ret)
			break;
	}
	hmm_charge_end(&charge);
out_free:
	kfree(pfns);
	kfree(pages);
	hmm_mirror_leave(mirror);
	return ret;
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_make_exclusive, HMM_MIRROR);
