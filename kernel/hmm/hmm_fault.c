// SPDX-License-Identifier: GPL-2.0
/*
 * Device faults: fill a range of a mirror from the CPU page tables.
 *
 * One leaf (2 MiB of address space) at a time, the fault follows the retry
 * protocol of mmu interval notifiers: read the sequence of the leaf's
 * notifier (inserted first if the mirror did not watch the leaf yet),
 * walk and fault with hmm_range_fault() under the mmap read lock, then take
 * the mirror lock and store the result only if no invalidation ran in
 * between; otherwise start over. No page reference is taken at any point:
 * once stored, an entry is kept right by the invalidations that follow.
 */
#include <linux/hmm.h>
#include <linux/jiffies.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "hmm_internal.h"

/* The page faults @t has taken (hmm_range_fault() counts its own there). */
static unsigned long task_faults(struct task_struct *t)
{
	return t->min_flt + t->maj_flt;
}

/* What bounds one call's retries: its time, and the caller's stop. */
struct fault_ctl {
	unsigned long limit;	/* jiffies: HMM_MIRROR_FAULT_MAX_MS in all */
	bool (*stop)(void *arg);
	void *arg;
};

/*
 * An invalidation raced the fault: it starts over. If the attempt faulted
 * pages in (@faulted: task_faults() before it), it made progress, which
 * the next attempt keeps (a fault under memory pressure, reclaiming as it
 * goes, may take longer than the timeout and be raced by its own
 * reclaim): the timeout starts again, never beyond the call's limit.
 */
static void retry_after(unsigned long *timeout, const struct fault_ctl *ctl,
			unsigned long faulted)
{
	hmm_stat_add(HMM_STAT_FAULT_RETRIES, 1);
	if (task_faults(current) == faulted)
		return;
	*timeout = jiffies + msecs_to_jiffies(HMM_MIRROR_FAULT_TIMEOUT_MS);
	if (time_after(*timeout, ctl->limit))
		*timeout = ctl->limit;
}

/*
 * A leaf's fill succeeded: count the valid entries it stored (all of its
 * pages for a fault, the present ones for a snapshot) in the mirror's
 * counters, as prefetched or faulted pages.
 */
static void count_stored(struct hmm_mirror *mirror, unsigned int flags,
			 const unsigned long *pfns, unsigned long npages)
{
	unsigned long i, valid = 0;

	for (i = 0; i < npages; i++)
		valid += !!(pfns[i] & HMM_PFN_VALID);
	if (flags & (HMM_MIRROR_PREFETCH | HMM_MIRROR_SNAPSHOT))
		atomic64_add(valid, &mirror->stats.prefetched_pages);
	else
		atomic64_add(valid, &mirror->stats.faulted_pages);
}

/*
 * Fault [start, end), inside the leaf @watch watches. -ESTALE: the watch
 * was removed (its leaf found idle by the reaper, or unregister) and what
 * was faulted dropped; fault_leaf() starts over with the leaf's new one.
 */
static int fault_watched(struct hmm_mirror *mirror, struct hmm_watch *watch,
			 unsigned long start, unsigned long end,
			 unsigned int flags, const struct fault_ctl *ctl,
			 unsigned long *pfns, u64 *out)
{
	struct mm_struct *mm = mirror->mm;
	struct hmm_range range = {
		.notifier = &watch->notifier,
		.start = start,
		.end = end,
		.hmm_pfns = pfns,
		.dev_private_owner = mirror->hdev->owner,
	};
	unsigned long timeout =
		jiffies + msecs_to_jiffies(HMM_MIRROR_FAULT_TIMEOUT_MS);
	unsigned long faulted;
	/*
	 * A snapshot of a leaf that has no table yet looks first: where
	 * nothing is present it allocates nothing, so snapshotting a large,
	 * mostly cold range costs page-table walks, not mirror memory.
	 */
	bool prepare = !(flags & HMM_MIRROR_SNAPSHOT);
	int ret;

	if (!(flags & HMM_MIRROR_SNAPSHOT))
		range.default_flags = HMM_PFN_REQ_FAULT;
	if (flags & HMM_MIRROR_WRITE)
		range.default_flags |= HMM_PFN_REQ_WRITE;

	/*
	 * Every leaf has one attempt at least, whatever the call's time so
	 * far: the limits end retries, which only races cause.
	 */
	if (time_after(timeout, ctl->limit))
		timeout = ctl->limit;
	for (bool first = true;; first = false) {
		if (!first && time_after(jiffies, timeout))
			return -EBUSY;
		/* Between attempts: the caller may be done waiting. */
		if (ctl->stop && ctl->stop(ctl->arg))
			return -ECANCELED;
		if (prepare) {
			ret = hmm_pt_prepare(mirror, start);
			if (ret)
				return ret;
		}
		range.notifier_seq = mmu_interval_read_begin(range.notifier);
		if (mmap_read_lock_killable(mm))
			return -EINTR;
		faulted = task_faults(current);
		ret = hmm_range_fault(&range);
		mmap_read_unlock(mm);
		if (ret == -EBUSY) {
			retry_after(&timeout, ctl, faulted);
			cond_resched();
			continue;
		}
		if (ret)
			return ret;

		down_write(&mirror->lock);
		if (watch->dead) {
			up_write(&mirror->lock);
			return -ESTALE;
		}
		if (mmu_interval_read_retry(range.notifier,
					    range.notifier_seq)) {
			up_write(&mirror->lock);
			retry_after(&timeout, ctl, faulted);
			cond_resched();
			continue;
		}
		ret = hmm_pt_fill(mirror, start, end, pfns, out);
		if (ret == -EAGAIN && !prepare &&
		    hmm_pt_report_absent(mirror, start, end, pfns, out))
			ret = 0;
		up_write(&mirror->lock);
		if (ret != -EAGAIN)
			break;
		if (prepare)
			hmm_stat_add(HMM_STAT_FAULT_RETRIES, 1);
		prepare = true;
	}
	if (!ret) {
		hmm_stat_add(HMM_STAT_FAULT_PAGES, (end - start) >> PAGE_SHIFT);
		count_stored(mirror, flags, pfns, (end - start) >> PAGE_SHIFT);
	}
	return ret;
}

/*
 * Watch the leaf before reading its sequence: invalidations of it reach
 * the mirror from then on, and only those make the fault retry. A watch
 * removed under the fault (-ESTALE) is a retry like any other: within the
 * call's time limit, and not past a fatal signal, since each new watch
 * gives fault_watched() a fresh attempt.
 */
static int fault_leaf(struct hmm_mirror *mirror, unsigned long start,
		      unsigned long end, unsigned int flags,
		      const struct fault_ctl *ctl, unsigned long *pfns,
		      u64 *out)
{
	struct hmm_watch *watch;
	int ret;

	for (;;) {
		watch = hmm_watch_get(mirror, start);
		if (IS_ERR(watch))
			return PTR_ERR(watch);
		ret = fault_watched(mirror, watch, start, end, flags, ctl,
				    pfns, out);
		hmm_watch_done(mirror, watch,
			       !ret && !(flags & HMM_MIRROR_SNAPSHOT));
		if (ret != -ESTALE)
			return ret;
		hmm_stat_add(HMM_STAT_FAULT_RETRIES, 1);
		if (fatal_signal_pending(current))
			return -EINTR;
		if (time_after(jiffies, ctl->limit))
			return -EBUSY;
		cond_resched();
	}
}

/**
 * hmm_range_check() - is [start, end) a range the core works on?
 * @start: first address
 * @end: end address (exclusive)
 * @limit: the mm's task_size
 *
 * Return: 0; -EINVAL if it is empty or not page aligned; -EFAULT if it goes
 * beyond @limit.
 */
int hmm_range_check(unsigned long start, unsigned long end,
		    unsigned long limit)
{
	if (start >= end || !PAGE_ALIGNED(start) || !PAGE_ALIGNED(end))
		return -EINVAL;
	return end > limit ? -EFAULT : 0;
}

/**
 * hmm_mirror_enter() - begin an operation on [start, end) of a mirror's mm
 * @mirror: the mirror
 * @start: first address
 * @end: end address (exclusive)
 *
 * Checks the range, keeps unregister out (mirror->active held for reading)
 * and the address space alive (it may be gone while the mirror lives on).
 *
 * Return: 0, to be ended with hmm_mirror_leave(); -EINVAL for a bad range,
 * -EFAULT beyond the address space, -ENODEV if the mirror was
 * unregistered, -ESRCH if the mm has exited.
 */
int hmm_mirror_enter(struct hmm_mirror *mirror, unsigned long start,
		     unsigned long end)
{
	int ret = hmm_range_check(start, end, ULONG_MAX);

	if (ret)
		return ret;
	down_read(&mirror->active);
	if (mirror->dead)
		ret = -ENODEV;
	else
		ret = hmm_range_check(start, end, mirror->mm->task_size);
	if (!ret && !mmget_not_zero(mirror->mm))
		ret = -ESRCH;
	if (ret)
		up_read(&mirror->active);
	return ret;
}

/*
 * End what hmm_mirror_enter() began. If the process exited meanwhile, ours
 * is the last user reference, and the whole exit_mmap (release
 * invalidations, ->invalidate, ->release) would run here, in the caller's
 * context and under its locks: a driver whose ->release waits for the
 * worker that faulted would wait for itself. Drop it asynchronously, as
 * ib_umem_odp does for the same reason.
 */
void hmm_mirror_leave(struct hmm_mirror *mirror)
{
	mmput_async(mirror->mm);
	up_read(&mirror->active);
}

static int populate(struct hmm_mirror *mirror, unsigned long start,
		    unsigned long end, unsigned int flags,
		    bool (*stop)(void *arg), void *arg, u64 *out)
{
	struct fault_ctl ctl = {
		.limit = jiffies + msecs_to_jiffies(HMM_MIRROR_FAULT_MAX_MS),
		.stop = stop,
		.arg = arg,
	};
	struct mem_cgroup *memcg, *old_memcg;
	unsigned long addr, next, *pfns;
	int ret = 0;

	if (flags & ~(HMM_MIRROR_WRITE | HMM_MIRROR_SNAPSHOT |
		      HMM_MIRROR_PREFETCH))
		return -EINVAL;
	ret = hmm_mirror_enter(mirror, start, end);
	if (ret)
		return ret;
	pfns = kmalloc_array(HMM_PT_LEAF_ENTRIES, sizeof(*pfns), GFP_KERNEL);
	if (!pfns) {
		ret = -ENOMEM;
		goto out_leave;
	}
	hmm_stat_add(HMM_STAT_FAULTS, 1);
	atomic64_inc(&mirror->stats.faults);
	/*
	 * The leaves it allocates are charged to the mirrored process's
	 * memory cgroup, whoever faults (a driver's worker included): the
	 * mirror is that process's memory.
	 */
	memcg = get_mem_cgroup_from_mm(mirror->mm);
	old_memcg = set_active_memcg(memcg);
	for (addr = start; addr < end; addr = next) {
		next = hmm_leaf_end(addr, end);
		ret = fault_leaf(mirror, addr, next, flags, &ctl, pfns, out);
		if (ret)
			break;
		if (out)
			out += (next - addr) >> PAGE_SHIFT;
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
	}
	set_active_memcg(old_memcg);
	mem_cgroup_put(memcg);
	kfree(pfns);
out_leave:
	hmm_mirror_leave(mirror);
	if (ret == -ENOMEM)
		hmm_stat_add(HMM_STAT_FAULT_NOMEM, 1);
	return ret;
}

/**
 * hmm_mirror_fault() - fill a range of the mirror from the CPU page tables
 * @mirror: a registered mirror
 * @start: first address, page aligned
 * @end: end address (exclusive), page aligned
 * @flags: HMM_MIRROR_WRITE to make the pages writable (faulting for write,
 *	breaking copy-on-write); HMM_MIRROR_SNAPSHOT to fault nothing and only
 *	record the pages that are present; HMM_MIRROR_PREFETCH to count the
 *	pages as prefetched (struct hmm_mirror_stats)
 *
 * Faults the pages in as the CPU would, then stores them in the mirror page
 * table. On return the entries may already have been invalidated again: look
 * them up under hmm_mirror_lock() and fault again if they are missing. Holds
 * no page reference. Sleeps.
 *
 * Return: 0; -EFAULT if part of the range has no mapping or cannot be
 * mirrored (I/O or PFN mappings); -EPERM if writing was asked of a range
 * that may not be written; -ENOMEM; -EBUSY if invalidations kept racing the
 * fault for HMM_MIRROR_FAULT_TIMEOUT_MS with no page faulted in, or past
 * HMM_MIRROR_FAULT_MAX_MS since the call began; -EINTR on a fatal signal;
 * -ESRCH if the mm has exited; -ENODEV if the mirror was unregistered;
 * -EINVAL for a bad range or flags.
 */
int hmm_mirror_fault(struct hmm_mirror *mirror, unsigned long start,
		     unsigned long end, unsigned int flags)
{
	return populate(mirror, start, end, flags, NULL, NULL, NULL);
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_fault, HMM_MIRROR);

/**
 * hmm_mirror_fault_stoppable() - hmm_mirror_fault() that its caller can end
 * @mirror: a registered mirror
 * @start: first address, page aligned
 * @end: end address (exclusive), page aligned
 * @flags: as for hmm_mirror_fault()
 * @stop: called before each attempt (invalidations racing the fault make
 *	it start over, for up to HMM_MIRROR_FAULT_MAX_MS): true ends the fault
 *	with -ECANCELED. Called with neither the mirror's lock nor the mm's
 *	mmap lock held, but inside the mirror's active section (it must not
 *	unregister the mirror) and the mm's memcg charged: it must not sleep.
 * @arg: its argument
 *
 * For a driver whose access may stop waiting while the fault retries (its
 * queue closed, its memory key being destroyed): the fault ends at the next
 * attempt instead of at its time limit.
 *
 * Return: as hmm_mirror_fault(); -ECANCELED when @stop said so (-EINTR
 * stays a fatal signal's).
 */
int hmm_mirror_fault_stoppable(struct hmm_mirror *mirror, unsigned long start,
			       unsigned long end, unsigned int flags,
			       bool (*stop)(void *arg), void *arg)
{
	return populate(mirror, start, end, flags, stop, arg, NULL);
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_fault_stoppable, HMM_MIRROR);

/**
 * hmm_mirror_snapshot() - record and report what is mapped, faulting nothing
 * @mirror: a registered mirror
 * @start: first address, page aligned
 * @end: end address (exclusive), page aligned
 * @entries: one u64 per page: the entry as found (HMM_MPTE_*), 0 for a page
 *	not present, HMM_MPTE_ERROR where nothing can be mirrored (no VMA, an
 *	I/O mapping)
 *
 * The present pages are also stored in the mirror page table, as
 * hmm_mirror_fault() with HMM_MIRROR_SNAPSHOT would.
 *
 * Return: 0 or a negative errno, as hmm_mirror_fault().
 */
int hmm_mirror_snapshot(struct hmm_mirror *mirror, unsigned long start,
			unsigned long end, u64 *entries)
{
	return populate(mirror, start, end, HMM_MIRROR_SNAPSHOT, NULL, NULL,
			entries);
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_snapshot, HMM_MIRROR);
