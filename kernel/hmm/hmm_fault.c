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
#include <linux/hugetlb_inline.h>
#include <linux/jiffies.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>

#include "hmm_internal.h"

/* The page faults @t has taken (hmm_range_fault() counts its own there). */
static unsigned long task_faults(struct task_struct *t)
{
	return t->min_flt + t->maj_flt;
}

/*
 * What bounds one call's retries (its time, and the caller's stop), and
 * which of its pages must be faulted: those below @req_end; the others
 * (hmm_mirror_fault_and_lock()'s optional ones) are faulted where they
 * can be and skipped where not.
 */
struct fault_ctl {
	unsigned long limit;	/* jiffies: HMM_MIRROR_FAULT_MAX_MS in all */
	bool (*stop)(void *arg);
	void *arg;
	unsigned long req_end;
	unsigned int flags;
};

/* A leaf hmm_mirror_fault_and_lock() filled: its watch and the sequence. */
struct leaf_fill {
	struct hmm_watch *watch;
	unsigned long seq;
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
 * What to ask hmm_range_fault() of each page of [start, end), a range with
 * optional pages (at and above ctl->req_end): required pages are faulted;
 * optional ones only inside a VMA that allows the access and that
 * hmm_range_fault() can handle, the others only looked at (a hole, a
 * PROT_NONE or I/O mapping reports HMM_PFN_ERROR, a page of read-only
 * memory asked for write what is present, read-only). The mmap lock is
 * held: the VMAs cannot change before the walk.
 */
static void want_optional(struct mm_struct *mm, unsigned long start,
			  unsigned long end, const struct fault_ctl *ctl,
			  unsigned long *pfns)
{
	unsigned long req = HMM_PFN_REQ_FAULT, addr = start, to;
	struct vm_area_struct *vma;
	bool ok;

	if (ctl->flags & HMM_MIRROR_WRITE)
		req |= HMM_PFN_REQ_WRITE;
	while (addr < end) {
		if (addr < ctl->req_end) {
			to = min(end, ctl->req_end);
			ok = true;
		} else {
			vma = find_vma(mm, addr);
			if (!vma || vma->vm_start >= end) {
				to = end;
				ok = false;
			} else if (vma->vm_start > addr) {
				to = vma->vm_start;
				ok = false;
			} else {
				to = min(end, vma->vm_end);
				ok = !(vma->vm_flags & (VM_IO | VM_PFNMAP)) &&
				     (vma->vm_flags & VM_READ) &&
				     (!(ctl->flags & HMM_MIRROR_WRITE) ||
				      (vma->vm_flags & VM_WRITE));
			}
		}
		for (; addr < to; addr += PAGE_SIZE)
			pfns[(addr - start) >> PAGE_SHIFT] = ok ? req : 0;
	}
}

/*
 * hmm_range_fault() of a range with optional pages failed (-EFAULT, -EPERM)
 * on a page want_optional() thought faultable (a file mapping beyond its
 * end, a fault that ran out of memory or hit poison): walk it again page
 * by page, with the same sequence, and give up only on a required page.
 * An optional page that fails is only looked at. Return: 0, -EBUSY if an
 * invalidation raced, or a required page's error.
 */
static int fault_page_by_page(struct hmm_range *range,
			      const struct fault_ctl *ctl)
{
	unsigned long *pfns = range->hmm_pfns, addr, end = range->end;
	struct hmm_range one = *range;
	int ret;

	want_optional(range->notifier->mm, range->start, end, ctl, pfns);
	for (addr = range->start; addr < end; addr += PAGE_SIZE) {
		one.start = addr;
		one.end = addr + PAGE_SIZE;
		one.hmm_pfns = &pfns[(addr - range->start) >> PAGE_SHIFT];
		ret = hmm_range_fault(&one);
		if (ret == -EFAULT || ret == -EPERM) {
			if (addr < ctl->req_end)
				return ret;
			*one.hmm_pfns = 0;
			ret = hmm_range_fault(&one);
		}
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Fault [start, end), inside the leaf @watch watches. -ESTALE: the watch
 * was removed (its leaf found idle by the reaper, or unregister) and what
 * was faulted dropped; fault_leaf() starts over with the leaf's new one.
 */
static int fault_watched(struct hmm_mirror *mirror, struct hmm_watch *watch,
			 unsigned long start, unsigned long end,
			 const struct fault_ctl *ctl, unsigned long *pfns,
			 u64 *out, unsigned long *seq)
{
	unsigned int flags = ctl->flags;
	/* Optional pages: each page says what it asks (want_optional()). */
	bool optional = end > ctl->req_end && !(flags & HMM_MIRROR_SNAPSHOT);
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
	if (optional) {
		range.default_flags = 0;
		range.pfn_flags_mask = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE;
	}

	/*
	 * Every leaf has one attempt at least, whatever the call's time so
	 * far: the limits end retries, which only races cause.
	 */
	if (time_after(timeout, ctl->limit))
		timeout = ctl->limit;
	for (bool first = true;; first = false) {
		if (!first && time_after(jiffies, timeout))
			return -EBUSY;
		/*
		 * Between attempts: the caller may be done waiting. Asked
		 * first with no lock (a stopped caller does not queue for the
		 * mmap lock behind a writer), then under it, so that a caller
		 * that set its stop before its user changed the mappings (a
		 * munmap waits for the attempt holding the lock) faults none
		 * of the new ones.
		 */
		if (ctl->stop && ctl->stop(ctl->arg))
			return -ECANCELED;
		if (prepare) {
			ret = hmm_pt_prepare(mirror, start);
			if (ret)
				return ret;
		}
		range.notifier_seq = mmu_interval_read_begin(range.notifier);
		if (flags & HMM_MIRROR_NOWAIT) {
			if (!mmap_read_trylock(mm))
				return -EWOULDBLOCK;
		} else if (mmap_read_lock_killable(mm)) {
			return -EINTR;
		}
		if (ctl->stop && ctl->stop(ctl->arg)) {
			mmap_read_unlock(mm);
			return -ECANCELED;
		}
		faulted = task_faults(current);
		if (optional)
			want_optional(mm, start, end, ctl, pfns);
		ret = hmm_range_fault(&range);
		if (optional && (ret == -EFAULT || ret == -EPERM))
			ret = fault_page_by_page(&range, ctl);
		hmm_debug_fault_locked_delay();
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
		if (seq)
			*seq = range.notifier_seq;
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
 *
 * With @keep (hmm_mirror_fault_and_lock()), the leaf's watch stays
 * referenced in @keep after a successful fill, with the sequence the fill
 * checked: the caller checks it again under the mirror lock, and its
 * reference keeps the reaper off the watch meanwhile.
 */
static int fault_leaf(struct hmm_mirror *mirror, unsigned long start,
		      unsigned long end, const struct fault_ctl *ctl,
		      unsigned long *pfns, u64 *out, struct leaf_fill *keep)
{
	struct hmm_watch *watch;
	int ret;

	for (;;) {
		watch = hmm_watch_get(mirror, start);
		if (IS_ERR(watch))
			return PTR_ERR(watch);
		ret = fault_watched(mirror, watch, start, end, ctl, pfns, out,
				    keep ? &keep->seq : NULL);
		if (keep && !ret) {
			keep->watch = watch;
			return 0;
		}
		hmm_watch_done(mirror, watch, start,
			       !ret && !(ctl->flags & HMM_MIRROR_SNAPSHOT));
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

/*
 * Under the mirror lock, after every leaf of [start, end) was filled: is
 * each still as its fill left it? A leaf whose watch was removed, whose
 * sequence moved on (an invalidation cleared some of it), or whose
 * required pages are not all there (the driver discarded them) is let go
 * of, for the caller to fill again. Return: true if all of them are.
 */
static bool leaves_intact(struct hmm_mirror *mirror, unsigned long start,
			  unsigned long end, const struct fault_ctl *ctl,
			  struct leaf_fill *leaves)
{
	u64 need = HMM_MPTE_VALID;
	unsigned long addr, next, to;
	bool intact = true;

	if (ctl->flags & HMM_MIRROR_WRITE)
		need |= HMM_MPTE_WRITE;
	for (addr = start; addr < end; addr = next, leaves++) {
		struct hmm_watch *watch = leaves->watch;

		next = hmm_leaf_end(addr, end);
		to = clamp(ctl->req_end, addr, next);
		/*
		 * The whole space's sequence moves with every change of the
		 * mm, mirrored or not: it would refill every leaf for an
		 * unrelated munmap. Its entries say it as well (each
		 * invalidation clears them under this lock).
		 */
		if (!watch->dead &&
		    (watch->whole ||
		     !mmu_interval_read_retry(&watch->notifier, leaves->seq)) &&
		    hmm_pt_count(mirror, addr, to, need) ==
		    (to - addr) >> PAGE_SHIFT)
			continue;
		hmm_watch_done_locked(mirror, watch, addr);
		leaves->watch = NULL;
		intact = false;
	}
	return intact;
}

/*
 * hmm_mirror_fault_and_lock()'s part after hmm_mirror_enter(): fill every
 * leaf, keeping its watch and sequence; lock; check them all; fill again
 * those an invalidation reached in between, until all are intact under
 * the lock (which stays held then) or the call's limits end it.
 */
static int fill_and_lock(struct hmm_mirror *mirror, unsigned long start,
			 unsigned long end, struct fault_ctl *ctl,
			 unsigned long *pfns, unsigned long *filled)
{
	unsigned long nleaves = ((end - 1) >> HMM_MIRROR_LEAF_SHIFT) -
				(start >> HMM_MIRROR_LEAF_SHIFT) + 1;
	unsigned long timeout =
		jiffies + msecs_to_jiffies(HMM_MIRROR_FAULT_TIMEOUT_MS);
	/* The first leaf's address: leaves[i] is the leaf at leaf0 + i * 2 MiB. */
	unsigned long leaf0 = start & ~(HMM_PT_LEAF_SIZE - 1);
	unsigned long addr, next, i, faulted;
	struct leaf_fill *leaves;
	u64 need = HMM_MPTE_VALID;
	int ret = 0;

	if (ctl->flags & HMM_MIRROR_WRITE)
		need |= HMM_MPTE_WRITE;
	leaves = kvcalloc(nleaves, sizeof(*leaves), GFP_KERNEL);
	if (!leaves)
		return -ENOMEM;
	if (time_after(timeout, ctl->limit))
		timeout = ctl->limit;
	for (;;) {
		faulted = task_faults(current);
		for (addr = start, i = 0; addr < end; addr = next, i++) {
			next = hmm_leaf_end(addr, end);
			if (leaves[i].watch)
				continue;
			ret = fault_leaf(mirror, addr, next, ctl, pfns, NULL,
					 &leaves[i]);
			if (!ret && fatal_signal_pending(current))
				ret = -EINTR;
			if (ret)
				goto out_release;
		}
		down_write(&mirror->lock);
		if (leaves_intact(mirror, start, end, ctl, leaves))
			break;
		up_write(&mirror->lock);
		/* Raced: as fault_watched()'s retries, bounded the same way. */
		retry_after(&timeout, ctl, faulted);
		if (time_after(jiffies, timeout)) {
			ret = -EBUSY;
			goto out_release;
		}
		if (ctl->stop && ctl->stop(ctl->arg)) {
			ret = -ECANCELED;
			goto out_release;
		}
		cond_resched();
	}
	*filled = hmm_pt_count(mirror, start, end, need);
	for (i = 0; i < nleaves; i++)
		hmm_watch_done_locked(mirror, leaves[i].watch,
				      leaf0 + i * HMM_PT_LEAF_SIZE);
	kvfree(leaves);
	return 0;

out_release:
	for (i = 0; i < nleaves; i++)
		if (leaves[i].watch)
			hmm_watch_done(mirror, leaves[i].watch,
				       leaf0 + i * HMM_PT_LEAF_SIZE, false);
	kvfree(leaves);
	return ret;
}

/*
 * Every fault: [start, end) of @req, its pages required below req_end.
 * With @lock, returns 0 with the mirror lock held and every leaf intact
 * (fill_and_lock()), the count of satisfying entries in @req->filled;
 * without, as hmm_mirror_fault() says.
 */
static int populate(struct hmm_mirror *mirror, unsigned long start,
		    unsigned long end, unsigned long req_end,
		    unsigned int flags, bool (*stop)(void *arg), void *arg,
		    u64 *out, unsigned long *filled)
{
	struct fault_ctl ctl = {
		.limit = jiffies + msecs_to_jiffies(HMM_MIRROR_FAULT_MAX_MS),
		.stop = stop,
		.arg = arg,
		.req_end = req_end,
		.flags = flags,
	};
	unsigned long addr, next, *pfns;
	struct hmm_charge charge;
	int ret = 0;

	if (flags & ~(HMM_MIRROR_WRITE | HMM_MIRROR_SNAPSHOT |
		      HMM_MIRROR_PREFETCH | HMM_MIRROR_NOWAIT))
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
	hmm_charge_begin(mirror, &charge);
	if (filled) {
		ret = fill_and_lock(mirror, start, end, &ctl, pfns, filled);
		goto out_memcg;
	}
	for (addr = start; addr < end; addr = next) {
		next = hmm_leaf_end(addr, end);
		ret = fault_leaf(mirror, addr, next, &ctl, pfns, out, NULL);
		if (ret)
			break;
		if (out)
			out += (next - addr) >> PAGE_SHIFT;
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
	}
out_memcg:
	hmm_charge_end(&charge);
	kfree(pfns);
out_leave:
	/* With the mirror lock held if fill_and_lock() succeeded. */
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
 *	pages as prefetched (struct hmm_mirror_stats); HMM_MIRROR_NOWAIT to
 *	take the mmap lock by trylocks, never waiting for it (an attempt
 *	may still wait for an invalidation in flight to end)
 *
 * Faults the pages in as the CPU would, then stores them in the mirror page
 * table. On return the entries may already have been invalidated again: look
 * them up under hmm_mirror_read_lock() (or hmm_mirror_lock()) and fault
 * again if they are missing. Holds
 * no page reference. Sleeps.
 *
 * Return: 0; -EFAULT if part of the range has no mapping or cannot be
 * mirrored (I/O or PFN mappings); -EPERM if writing was asked of a range
 * that may not be written; -ENOMEM; -EBUSY if invalidations kept racing the
 * fault for HMM_MIRROR_FAULT_TIMEOUT_MS with no page faulted in, or past
 * HMM_MIRROR_FAULT_MAX_MS since the call began; -EINTR on a fatal signal;
 * -ESRCH if the mm has exited; -ENODEV if the mirror was unregistered;
 * -EINVAL for a bad range or flags; with HMM_MIRROR_NOWAIT, -EWOULDBLOCK
 * if an attempt found the mmap lock held for writing or wanted by a
 * writer (the leaves filled before it stay filled).
 */
int hmm_mirror_fault(struct hmm_mirror *mirror, unsigned long start,
		     unsigned long end, unsigned int flags)
{
	return populate(mirror, start, end, end, flags, NULL, NULL, NULL, NULL);
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
 *	with -ECANCELED. Called with and without the mm's mmap lock held for
 *	reading (never the mirror's lock), inside the mirror's active section
 *	(it must not unregister the mirror) and the mm's memcg charged: it
 *	must not sleep. Once it would say true, no attempt begins (each one
 *	asks it under the mmap lock): a caller that makes it so and then lets
 *	its user change the mappings knows that no fault of this call touches
 *	a mapping made after (the change waits for the attempt under way,
 *	which holds the mmap lock).
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
	return populate(mirror, start, end, end, flags, stop, arg, NULL, NULL);
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_fault_stoppable, HMM_MIRROR);

/*
 * Whether a mapping of [start, end) is a file's whose faults may wait on
 * its file system: 1 or 0; 0 too if the range is bad, the mm exited, the
 * mirror was unregistered or (waiting for the lock) a fatal signal came:
 * a fault fails at once then; -EWOULDBLOCK if @trylock and the mmap lock
 * is held for writing or wanted by a writer.
 */
static int look_may_wait(struct hmm_mirror *mirror, unsigned long start,
			 unsigned long end, bool trylock)
{
	VMA_ITERATOR(vmi, mirror->mm, start);
	struct vm_area_struct *vma;
	int wait = 0;

	if (hmm_mirror_enter(mirror, start, end))
		return 0;
	if (trylock ? !mmap_read_trylock(mirror->mm) :
		      mmap_read_lock_killable(mirror->mm)) {
		hmm_mirror_leave(mirror);
		return trylock ? -EWOULDBLOCK : 0;
	}
	for_each_vma_range(vmi, vma, end) {
		/* A private mapping of /dev/zero has a file: anonymous. */
		if (vma->vm_file && !vma_is_anonymous(vma) &&
		    !is_vm_hugetlb_page(vma) &&
		    !shmem_mapping(vma->vm_file->f_mapping)) {
			wait = 1;
			break;
		}
	}
	mmap_read_unlock(mirror->mm);
	hmm_mirror_leave(mirror);
	return wait;
}

/**
 * hmm_mirror_fault_may_wait() - may a fault of this range wait on a file
 *	system for as long as it wants?
 * @mirror: a registered mirror
 * @start: first address, page aligned
 * @end: end address (exclusive), page aligned
 *
 * Looks at the mappings of [start, end) under the mmap lock, held for
 * reading as a fault of the range would hold it. A page of a file other
 * than shmem or hugetlbfs may have to be read in, and its fault waits for
 * the file system (a FUSE server, a hard NFS mount) holding that lock;
 * anonymous, shmem and hugetlbfs pages wait for swap at most. For a driver
 * that schedules its faults apart by what they may wait on: the mappings
 * may change right after the look. Waits for the mmap lock as the fault
 * would, killably (never deciding by a trylock: a writer's moment would
 * send an anonymous fault to wait among file ones; a driver that must not
 * wait for the lock where it looks asks hmm_mirror_fault_may_wait_trylock()
 * first). Sleeps.
 *
 * Return: true if a mapping of the range is such a file's; false
 * otherwise, and if the range is bad, the mm exited, the mirror was
 * unregistered or a fatal signal came (a fault fails at once then).
 */
bool hmm_mirror_fault_may_wait(struct hmm_mirror *mirror, unsigned long start,
			       unsigned long end)
{
	might_sleep();
	return look_may_wait(mirror, start, end, false) > 0;
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_fault_may_wait, HMM_MIRROR);

/**
 * hmm_mirror_fault_may_wait_trylock() - hmm_mirror_fault_may_wait() that
 *	does not wait for the mmap lock
 * @mirror: a registered mirror
 * @start: first address, page aligned
 * @end: end address (exclusive), page aligned
 *
 * The same look, if the mmap lock can be had for reading at once. It
 * cannot while a writer holds it or waits for it, and a writer may wait
 * behind a fault that holds it for reading while it waits on a file system
 * (for as long as a FUSE server wants): a driver whose worker must not wait
 * there (one that faults anonymous memory for every process) hands such a
 * look to a worker that may, which asks hmm_mirror_fault_may_wait(), never
 * taking that answer for a "yes" (a writer's moment is no file's).
 *
 * Sleeps, but not for the mmap lock.
 *
 * Return: 1 if a mapping of the range is such a file's, 0 if not (or as
 * hmm_mirror_fault_may_wait() says false), -EWOULDBLOCK if the lock could
 * not be had.
 */
int hmm_mirror_fault_may_wait_trylock(struct hmm_mirror *mirror,
				      unsigned long start, unsigned long end)
{
	return look_may_wait(mirror, start, end, true);
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_fault_may_wait_trylock, HMM_MIRROR);

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
	return populate(mirror, start, end, end, HMM_MIRROR_SNAPSHOT, NULL,
			NULL, entries, NULL);
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_snapshot, HMM_MIRROR);

/**
 * hmm_mirror_fault_and_lock() - fault a range and return with it valid, locked
 * @mirror: a registered mirror
 * @req: the request: [@req->start, @req->end) and its flags; on success,
 *	@req->filled
 *
 * Faults [start, end) as hmm_mirror_fault() would, then takes the mirror
 * lock and returns with it held and the range valid: every entry it filled
 * is still there, no invalidation of its range can complete until
 * hmm_mirror_unlock(), so the driver can look the entries up
 * (hmm_mirror_lookup_range()) and update its device's translation
 * atomically with respect to invalidation, as ib_umem_odp_map_dma_and_lock()
 * lets an RDMA driver do. The fill goes leaf by leaf, each with the
 * sequence of its own watch: under the lock, a leaf whose sequence moved on
 * since its fill (an invalidation reached it) is filled again, with the
 * lock dropped, until all of them are intact at once, within the limits of
 * hmm_mirror_fault_stoppable() (HMM_MIRROR_FAULT_TIMEOUT_MS without
 * progress, HMM_MIRROR_FAULT_MAX_MS in all, @req->stop).
 *
 * The pages of [start, req_end) are required (all of them if @req->req_end
 * is 0): one that cannot be faulted
 * fails the call as it fails hmm_mirror_fault(). Those of [req_end, end)
 * (all of them with HMM_MIRROR_OPTIONAL) are optional: faulted where they
 * can be, skipped where not (no VMA, a PROT_NONE or I/O mapping, a write
 * to read-only memory, a fault that fails there) without failing the
 * call, for prefetch and fault-ahead. A skipped page is still recorded if
 * present (read-only, for a write), as a snapshot would.
 *
 * Never call it with the mirror lock held, nor from a callback of
 * @mirror. Sleeps.
 *
 * Return: 0 with the mirror lock held for writing (release it with
 * hmm_mirror_unlock(), never hmm_mirror_read_unlock()) and @req->filled
 * set: the pages of [start, end) whose entries are valid, and writable for
 * HMM_MIRROR_WRITE: all of [start, req_end), and whichever optional ones
 * (look them up under the lock). A negative errno as hmm_mirror_fault_stoppable() returns them,
 * -EINVAL also for req_end outside [start, end] or a flag other than
 * HMM_MIRROR_WRITE, HMM_MIRROR_PREFETCH and HMM_MIRROR_OPTIONAL, -E2BIG
 * for a range over HMM_MIRROR_LOCK_MAX_SIZE (its optional part included),
 * with the lock not held.
 */
int hmm_mirror_fault_and_lock(struct hmm_mirror *mirror,
			      struct hmm_mirror_range *req)
{
	unsigned long req_end = req->req_end ? req->req_end : req->end;

	req->filled = 0;
	if (req->flags & ~(HMM_MIRROR_WRITE | HMM_MIRROR_PREFETCH |
			   HMM_MIRROR_OPTIONAL))
		return -EINVAL;
	if (req->flags & HMM_MIRROR_OPTIONAL)
		req_end = req->start;
	if (req_end < req->start || req_end > req->end ||
	    !PAGE_ALIGNED(req_end))
		return -EINVAL;
	/* (A reversed range fails the range check in populate().) */
	if (req->end > req->start &&
	    req->end - req->start > HMM_MIRROR_LOCK_MAX_SIZE) {
		pr_debug_ratelimited("hmm_mirror: fault-and-lock of %lu KiB refused: over %lu KiB\n",
				     (req->end - req->start) >> 10,
				     HMM_MIRROR_LOCK_MAX_SIZE >> 10);
		return -E2BIG;
	}
	return populate(mirror, req->start, req->end, req_end,
			req->flags & ~HMM_MIRROR_OPTIONAL, req->stop, req->arg,
			NULL, &req->filled);
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_fault_and_lock, HMM_MIRROR);
