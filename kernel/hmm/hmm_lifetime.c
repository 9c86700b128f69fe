// SPDX-License-Identifier: GPL-2.0
/*
 * HMM mirror life: registration, the invalidation callback, unregistration
 * racing mm teardown, references.
 *
 * A mirror watches the 2 MiB leaves its faults reached, each with an
 * mmu_interval_notifier of its own (struct hmm_watch), inserted by the
 * first fault of the leaf before it reads the sequence. That sequence is
 * what hmm_range_fault() and the fault path check to retry after a race
 * (hmm_fault.c); the invalidate callback clears that leaf's part of the
 * mirror page table before the CPU change completes; and removing them all
 * is what guarantees that no invalidation of the mirror runs any more.
 * Changes of memory the mirror never reached do not come here at all: with
 * one notifier over the whole address space, every munmap of the process
 * took the mirror lock and made every fault in flight start over.
 *
 * Why per leaf watching is right: an entry is only ever filled by a fault
 * (or exclusive access) of its leaf, under the mirror lock, after checking
 * the sequence of the leaf's notifier that it read before walking the CPU
 * page tables. The notifier exists from before that read until unregister
 * or the reaper (an idle leaf's) removes it, and either marks the watch
 * dead and clears the leaf under the mirror lock first, after which no
 * fill with that sequence stores; the kernel's insertion during an
 * invalidation in flight makes that read wait for the invalidation's end,
 * as for any notifier. So every valid entry lies in a watched leaf, whose
 * invalidations clear it; and a watch is only removed over an empty leaf.
 *
 * A mirror in HMM_MIRROR_WATCH_ALL mode has one watch instead, over the
 * whole address space [0, ULONG_MAX), kept in mirror->watched at index 0,
 * never queued for the reaper and removed by unregister alone: every
 * change of the mm reaches it, as before leaves were watched, for one
 * notifier instead of one per 2 MiB leaf of a densely mirrored space.
 */
#include <linux/delay.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/wait_bit.h>

#include "hmm_internal.h"

/*
 * The reapers' own workqueue: a reaper may wait long in
 * mmu_interval_notifier_remove() while its process keeps invalidating,
 * and many such waits must not starve the system's shared workqueues.
 */
struct workqueue_struct *hmm_reap_wq;

/*
 * Queue @watch, whose leaf was left empty, for the reaper (mirror->reap_work),
 * which removes it if it is still idle then. The mirror lock is held and
 * @watch is not dead, so mirror->watched still holds a reference to it
 * and unregister has not drained the queue yet. Never sleeps: the
 * invalidation callback queues too, non-blockable ones included.
 */
static void hmm_watch_queue(struct hmm_mirror *mirror, struct hmm_watch *watch)
{
	lockdep_assert_held_write(&mirror->lock);
	if (WARN_ON_ONCE(watch->whole))
		return;
	spin_lock(&mirror->reap_lock);
	if (list_empty(&watch->reap)) {
		kref_get(&watch->kref);		/* mirror->reap's */
		list_add_tail(&watch->reap, &mirror->reap);
		/* Now, even if a retry was set for later. */
		mod_delayed_work(hmm_reap_wq, &mirror->reap_work, 0);
	}
	spin_unlock(&mirror->reap_lock);
}

/*
 * The OOM reaper cannot sleep, and one CPU change of N watched leaves is N
 * calls here, each of which must get the lock: with a bare trylock, a
 * device that takes the lock around every page copy would make the
 * reaper's attempt over a large mirrored area fail at one leaf or
 * another almost every time (the kernel gives up on the whole VMA at the
 * first refusal, and the reaper on the victim after ten attempts). The
 * lock is meant to be held for short stretches (no sleeping, no user
 * memory under it), so spin a little for it before refusing.
 *
 * An rwsem's trylock fails while readers hold it, and readers that keep
 * coming (several queues of a device, each taking the lock around its
 * copy) would keep it held for ever, one overlapping the next: while we
 * spin, mirror->nb_writers makes new readers wait before they take the
 * lock (hmm_mirror_read_lock()), so that those in flight drain. It only
 * steers who comes next: the rwsem alone excludes, and a reader that took
 * the lock just as the gate closed is one more in flight.
 */
#define HMM_TRYLOCK_SPIN_NS	(100 * NSEC_PER_USEC)

/* Only KUnit tests change it (a slow emulated guest needs longer). */
u64 hmm_trylock_spin_ns = HMM_TRYLOCK_SPIN_NS;

static bool hmm_mirror_trylock_spin(struct hmm_mirror *mirror)
{
	u64 deadline;
	bool locked;

	if (down_write_trylock(&mirror->lock))
		return true;
	atomic_inc(&mirror->nb_writers);
	/* Ordered before our trylocks, as readers check it after down_read. */
	smp_mb__after_atomic();
	deadline = ktime_get_ns() + READ_ONCE(hmm_trylock_spin_ns);
	for (;;) {
		locked = down_write_trylock(&mirror->lock);
		if (locked || ktime_get_ns() > deadline)
			break;
		cpu_relax();
	}
	/* Fully ordered: a waiting reader sees 0 or is woken. */
	if (atomic_dec_and_test(&mirror->nb_writers))
		wake_up_var(&mirror->nb_writers);
	return locked;
}

/*
 * Take @lock of @mirror for reading (@subclass for lockdep), not while a
 * non-blockable invalidation spins for it (hmm_mirror_trylock_spin()): a
 * reader that finds one waits until it is over, and one that took the
 * lock as it began lets go and waits too. The wait is bounded by that
 * spin, so it may be done with another mirror's lock held
 * (hmm_mirror_read_lock_two()).
 */
static void hmm_mirror_down_read(struct hmm_mirror *mirror, int subclass)
{
	for (;;) {
		wait_var_event(&mirror->nb_writers,
			       !atomic_read(&mirror->nb_writers));
		down_read_nested(&mirror->lock, subclass);
		/* Pairs with the barrier after the spinner's increment. */
		smp_mb();
		if (likely(!atomic_read(&mirror->nb_writers)))
			return;
		up_read(&mirror->lock);
	}
}

/*
 * May @watch go (the mirror lock held)? Only a leaf's watch, still
 * watched, whose leaf is empty; the whole space's stays.
 */
static bool hmm_watch_idle(struct hmm_mirror *mirror, struct hmm_watch *watch)
{
	lockdep_assert_held(&mirror->lock);
	return !watch->dead && !watch->whole &&
	       hmm_pt_leaf_idle(mirror, watch->start);
}

static bool hmm_mirror_invalidate(struct mmu_interval_notifier *notifier,
				  const struct mmu_notifier_range *range,
				  unsigned long cur_seq)
{
	struct hmm_watch *watch =
		container_of(notifier, struct hmm_watch, notifier);
	struct hmm_mirror *mirror = watch->mirror;
	const struct hmm_mirror_ops *ops = mirror->hdev->ops;
	/* The part of the change in this leaf (the kernel's may be wider). */
	struct hmm_update update = {
		.start = max(range->start, watch->start),
		.end = min(range->end, watch->end),
		.event = range->event,
		.blockable = mmu_notifier_range_blockable(range),
	};

	/*
	 * Exclusive access that this device's owner started itself keeps its
	 * mirror: hmm_mirror_make_exclusive() fills it when it completes, and
	 * the page does not move. Migration does move pages: every mirror
	 * forgets them, the initiator's too.
	 */
	if (range->event == MMU_NOTIFY_EXCLUSIVE &&
	    range->owner == mirror->hdev->owner)
		return true;

	if (update.blockable)
		down_write(&mirror->lock);
	else if (!hmm_mirror_trylock_spin(mirror))
		return false;

	mmu_interval_set_seq(notifier, cur_seq);
	if (ops->invalidate) {
		int ret = hmm_mirror_call_invalidate(mirror, &update);

		if (ret) {
			/* Only a non-blockable invalidation may be refused. */
			WARN_ON_ONCE(update.blockable);
			if (!update.blockable) {
				up_write(&mirror->lock);
				return false;
			}
		}
	}
	hmm_mirror_count_invalidation(mirror, hmm_pt_clear(mirror, update.start,
							   update.end));
	/* Removed later: removal would wait for this very invalidation. */
	if (hmm_watch_idle(mirror, watch))
		hmm_watch_queue(mirror, watch);
	up_write(&mirror->lock);
	hmm_stat_add(HMM_STAT_INVALIDATIONS, 1);
	return true;
}

/*
 * The driver's callbacks run through these, which note the task running
 * them: hmm_mirror_unregister() from inside one would wait for itself.
 */
int hmm_mirror_call_invalidate(struct hmm_mirror *mirror,
			       const struct hmm_update *update)
{
	int ret;

	WRITE_ONCE(mirror->callback_task, current);
	ret = mirror->hdev->ops->invalidate(mirror, update);
	WRITE_ONCE(mirror->callback_task, NULL);
	return ret;
}

static void hmm_mirror_call_release(struct hmm_mirror *mirror)
{
	WRITE_ONCE(mirror->callback_task, current);
	mirror->hdev->ops->release(mirror);
	WRITE_ONCE(mirror->callback_task, NULL);
}

/**
 * hmm_mirror_in_callback() - is the current task inside a callback of @mirror?
 * @mirror: the mirror
 *
 * Return: true while current runs @mirror's ->invalidate or ->release.
 */
bool hmm_mirror_in_callback(const struct hmm_mirror *mirror)
{
	return READ_ONCE(mirror->callback_task) == current;
}

const struct mmu_interval_notifier_ops hmm_mirror_notifier_ops = {
	.invalidate = hmm_mirror_invalidate,
};

/* Does @watch cover @addr? */
static bool hmm_watch_covers(const struct hmm_watch *watch, unsigned long addr)
{
	return addr >= watch->start && addr < watch->end;
}

/**
 * hmm_watch_get() - the watch of the leaf of @addr, inserted if new
 * @mirror: a mirror inside hmm_mirror_enter() (the mm has a user, and
 *	unregister waits for the caller)
 * @addr: an address in the leaf
 *
 * In HMM_MIRROR_WATCH_ALL mode, the mirror's one watch over the whole
 * address space instead, inserted by its first fault.
 *
 * A fault calls it before it reads the leaf's sequence: from then on,
 * every invalidation of the leaf bumps that sequence. Called with no lock
 * held: it allocates. It never takes the mmap lock (hmm_mirror_register()
 * set up the mm's interval tree) and never waits for an invalidation in
 * flight (the kernel defers the insertion until that ends and
 * mmu_interval_read_begin() waits for it), so it may run while
 * invalidations of the mm are under way. The caller ends with
 * hmm_watch_done().
 *
 * Return: the leaf's watch, referenced (hmm_watch_put() it), or an ERR_PTR
 * (-ENOMEM, or what the kernel's insertion returned).
 */
struct hmm_watch *hmm_watch_get(struct hmm_mirror *mirror, unsigned long addr)
{
	bool whole = READ_ONCE(mirror->modes) & HMM_MIRROR_WATCH_ALL;
	unsigned long index = whole ? 0 : addr >> HMM_PT_LEAF_SHIFT;
	struct hmm_watch *watch;
	int ret = 0;

	/* Published only once inserted; freed after an RCU grace period. */
	rcu_read_lock();
	watch = xa_load(&mirror->watched, index);
	if (watch && !kref_get_unless_zero(&watch->kref))
		watch = NULL;
	rcu_read_unlock();
	/* (A mode read as it changed may have looked at the wrong index.) */
	if (watch && !READ_ONCE(watch->dead) && hmm_watch_covers(watch, addr))
		return watch;
	/* Being removed: the watch lock waits until it is out of watched. */
	if (watch)
		hmm_watch_put(watch);

	mutex_lock(&mirror->watch_lock);
	/*
	 * Stable here: watched changes only under watch_lock, and so does
	 * the mode HMM_MIRROR_WATCH_ALL, only while nothing is watched.
	 */
	whole = mirror->modes & HMM_MIRROR_WATCH_ALL;
	index = whole ? 0 : addr >> HMM_PT_LEAF_SHIFT;
	watch = xa_load(&mirror->watched, index);
	if (watch) {
		kref_get(&watch->kref);
		goto out_unlock;
	}
	watch = kzalloc(sizeof(*watch), GFP_KERNEL_ACCOUNT);
	if (!watch) {
		watch = ERR_PTR(-ENOMEM);
		goto out_unlock;
	}
	watch->mirror = mirror;
	watch->whole = whole;
	watch->start = index << HMM_PT_LEAF_SHIFT;
	watch->end = whole ? ULONG_MAX : watch->start + HMM_PT_LEAF_SIZE;
	INIT_LIST_HEAD(&watch->reap);
	kref_init(&watch->kref);		/* mirror->watched's */
	/* Reserved first: once inserted, the store below cannot fail. */
	ret = xa_reserve(&mirror->watched, index, GFP_KERNEL_ACCOUNT);
	if (ret)
		goto out_free;
	ret = mmu_interval_notifier_insert(&watch->notifier, mirror->mm,
					   watch->start,
					   watch->end - watch->start,
					   &hmm_mirror_notifier_ops);
	if (ret) {
		xa_release(&mirror->watched, index);
		goto out_free;
	}
	kref_get(&watch->kref);			/* the caller's */
	xa_store(&mirror->watched, index, watch, GFP_KERNEL_ACCOUNT);
	hmm_stat_add(HMM_STAT_WATCHED, 1);
	goto out_unlock;

out_free:
	kfree(watch);
	watch = ERR_PTR(ret);
out_unlock:
	mutex_unlock(&mirror->watch_lock);
	return watch;
}

static void hmm_watch_free(struct kref *kref)
{
	struct hmm_watch *watch = container_of(kref, struct hmm_watch, kref);

	kfree_rcu(watch, rcu);
}

/**
 * hmm_watch_put() - drop a reference taken by hmm_watch_get()
 * @watch: the watch
 *
 * The last one (its notifier is removed by then) frees it.
 */
void hmm_watch_put(struct hmm_watch *watch)
{
	kref_put(&watch->kref, hmm_watch_free);
}

/*
 * The leaf of @addr, if a fault under the whole-space watch left it empty
 * (failed, or its pages all optional and absent): no reaper looks at that
 * watch, so free the table here. A fault of the same leaf that prepared
 * it too finds it gone when it fills, and prepares it again.
 */
static void hmm_watch_free_idle_leaf(struct hmm_mirror *mirror,
				     unsigned long addr)
{
	unsigned long start = addr & ~(HMM_PT_LEAF_SIZE - 1);

	lockdep_assert_held_write(&mirror->lock);
	if (hmm_pt_leaf_idle(mirror, start))
		hmm_pt_clear(mirror, start, start + HMM_PT_LEAF_SIZE);
}

/**
 * hmm_watch_done() - a fault is done with the watch hmm_watch_get() gave it
 * @mirror: the mirror
 * @watch: the watch
 * @addr: an address in the leaf the fault was for
 * @stored: the fault stored entries in the leaf (it succeeded, and was not
 *	a snapshot, which may have found nothing present)
 *
 * A fault that failed (no VMA: a peer's access to unmapped memory of an
 * implicit region) or a snapshot of cold memory would otherwise leave a
 * watch over a leaf that mirrors nothing, one per 2 MiB asked for: queue
 * it for removal if its leaf is empty. So does a fault that stored, if the
 * reaper found the watch in its hands (its leaf may have been emptied
 * again meanwhile, while the watch was still queued).
 */
void hmm_watch_done(struct hmm_mirror *mirror, struct hmm_watch *watch,
		    unsigned long addr, bool stored)
{
	if (watch->whole) {
		if (!stored) {
			down_write(&mirror->lock);
			hmm_watch_free_idle_leaf(mirror, addr);
			up_write(&mirror->lock);
		}
	} else if (!stored || READ_ONCE(watch->recheck)) {
		down_write(&mirror->lock);
		WRITE_ONCE(watch->recheck, false);
		if (hmm_pt_leaf_idle(mirror, watch->start)) {
			if (!watch->dead)
				hmm_watch_queue(mirror, watch);
			else
				/*
				 * Killed under us (the fault then prepared
				 * a table for nothing): no watch frees that
				 * table now. A fault of the leaf's next watch
				 * that prepared it too finds it gone when it
				 * fills, and prepares it again.
				 */
				hmm_pt_clear(mirror, watch->start, watch->end);
		}
		up_write(&mirror->lock);
	} else {
		/* Test builds: the reaper may find it held here. */
		hmm_debug_watch_done_delay();
	}
	hmm_watch_put(watch);
}

/**
 * hmm_watch_done_locked() - hmm_watch_done() of a fault holding the lock
 * @mirror: the mirror, locked
 * @watch: the watch
 * @addr: an address in the leaf the fault was for
 *
 * For hmm_mirror_fault_and_lock(), which lets go of its leaves' watches
 * with the mirror lock held: queues @watch if its leaf is empty (all its
 * pages optional, and none there; the whole space's watch frees the empty
 * table instead), then drops the fault's reference.
 */
void hmm_watch_done_locked(struct hmm_mirror *mirror, struct hmm_watch *watch,
			   unsigned long addr)
{
	lockdep_assert_held_write(&mirror->lock);
	WRITE_ONCE(watch->recheck, false);
	if (watch->whole)
		hmm_watch_free_idle_leaf(mirror, addr);
	else if (hmm_watch_idle(mirror, watch))
		hmm_watch_queue(mirror, watch);
	hmm_watch_put(watch);
}

/* Mark @watch dead and clear its leaf: no fill with its sequence stores. */
static void hmm_watch_kill(struct hmm_mirror *mirror, struct hmm_watch *watch)
{
	lockdep_assert_held_write(&mirror->lock);
	WRITE_ONCE(watch->dead, true);
	hmm_pt_clear(mirror, watch->start, watch->end);
}

/*
 * Remove the notifier of @watch, dead and out of mirror->watched, and drop
 * watched's reference. The removal waits while any invalidation of the mm
 * is in flight (6.1's mn_itree_is_invalidating() is mm-wide), so only the
 * reaper and unregister call this, with no lock held: their callbacks
 * take the mirror lock and the driver's.
 */
static void hmm_watch_remove(struct hmm_watch *watch)
{
	mmu_interval_notifier_remove(&watch->notifier);
	hmm_stat_add(HMM_STAT_WATCHED, -1);
	hmm_watch_put(watch);
}

/*
 * Take @watch out of mirror->watched if its leaf is still empty and no
 * fault holds it (a fault that takes it locklessly after this looked finds
 * it dead when it stores, and starts over with a new one). Return: 1 if
 * it was, -EBUSY if a fault holds it over an empty leaf (to look again
 * later), else 0.
 */
static int hmm_watch_unlink_idle(struct hmm_mirror *mirror,
				 struct hmm_watch *watch)
{
	unsigned long index = watch->start >> HMM_PT_LEAF_SHIFT;
	bool idle = false;
	int ret = 0;

	mutex_lock(&mirror->watch_lock);
	if (xa_load(&mirror->watched, index) != watch)
		goto out;
	down_write(&mirror->lock);
	/* Still watched, referenced by watched and mirror->reap alone. */
	if (kref_read(&watch->kref) <= 2) {
		idle = hmm_pt_leaf_idle(mirror, watch->start);
		if (idle)
			hmm_watch_kill(mirror, watch);	/* frees the leaf */
	} else {
		/*
		 * A fault holds it: the leaf may be refilled, or emptied
		 * again while the watch was still queued (which queued
		 * nothing). The fault looks again when it is done, unless it
		 * looked already (hmm_watch_done() reads the flag without the
		 * lock, before it lets go): so the caller looks again too,
		 * later, if the leaf is empty now.
		 */
		WRITE_ONCE(watch->recheck, true);
		if (hmm_pt_leaf_idle(mirror, watch->start))
			ret = -EBUSY;
	}
	up_write(&mirror->lock);
	if (idle) {
		xa_erase(&mirror->watched, index);
		ret = 1;
	}
out:
	mutex_unlock(&mirror->watch_lock);
	return ret;
}

/*
 * How long the reaper waits before it looks again at a watch a fault held
 * over an empty leaf: a fault holds it for a few milliseconds at most,
 * rarely up to HMM_MIRROR_FAULT_MAX_MS.
 */
#define HMM_REAP_RETRY_MS	100

/*
 * Remove the watches queued on mirror->reap that are still idle; queue
 * again, for HMM_REAP_RETRY_MS later, those a fault held over an empty
 * leaf. (Unregister's call finds no watch in mirror->watched: it queues
 * none again.)
 */
static void hmm_mirror_reap(struct hmm_mirror *mirror)
{
	struct hmm_watch *watch;
	LIST_HEAD(busy);
	int ret;

	for (;;) {
		spin_lock(&mirror->reap_lock);
		watch = list_first_entry_or_null(&mirror->reap,
						 struct hmm_watch, reap);
		if (watch)
			list_del_init(&watch->reap);
		spin_unlock(&mirror->reap_lock);
		if (!watch)
			break;
		ret = hmm_watch_unlink_idle(mirror, watch);
		if (ret > 0)
			hmm_watch_remove(watch);
		if (ret < 0) {
			/* Unless queued anew meanwhile: then once is enough. */
			spin_lock(&mirror->reap_lock);
			if (list_empty(&watch->reap)) {
				list_add_tail(&watch->reap, &busy);
				watch = NULL;	/* mirror->reap's, kept */
			}
			spin_unlock(&mirror->reap_lock);
		}
		if (watch)
			hmm_watch_put(watch);		/* mirror->reap's */
		cond_resched();
	}
	spin_lock(&mirror->reap_lock);
	if (!list_empty(&busy)) {
		list_splice_tail(&busy, &mirror->reap);
		queue_delayed_work(hmm_reap_wq, &mirror->reap_work,
				   msecs_to_jiffies(HMM_REAP_RETRY_MS));
	}
	spin_unlock(&mirror->reap_lock);
}

static void hmm_mirror_reap_work(struct work_struct *work)
{
	hmm_mirror_reap(container_of(to_delayed_work(work), struct hmm_mirror,
				     reap_work));
}

/**
 * hmm_mirror_unwatch() - let go of the watches of leaves left empty
 * @mirror: a mirror, registered or not, not locked
 * @start: first address
 * @end: end address (exclusive)
 *
 * hmm_mirror_discard(), after clearing [start, end): the leaves of the
 * range that mirror nothing now need no notifier until a fault reaches
 * them again. Queues their watches for the reaper and returns: removing a
 * notifier may wait for long (see hmm_watch_remove()), and the driver may
 * call this with its own locks held. Visits the watches there are, not
 * every leaf of the range.
 */
void hmm_mirror_unwatch(struct hmm_mirror *mirror, unsigned long start,
			unsigned long end)
{
	unsigned long index, seen = 0;
	struct hmm_watch *watch;

	/*
	 * Nothing watched (nor initialised, in the page-table KUnit tests);
	 * a watched array with empty nodes left only walks for nothing.
	 */
	if (xa_empty(&mirror->watched))
		return;
	down_write(&mirror->lock);
	/* Under RCU: the reaper may free a watch once it is out of watched. */
	rcu_read_lock();
	xa_for_each_range(&mirror->watched, index, watch,
			  start >> HMM_PT_LEAF_SHIFT,
			  (end - 1) >> HMM_PT_LEAF_SHIFT) {
		if (hmm_watch_idle(mirror, watch))
			hmm_watch_queue(mirror, watch);
		/* The walk goes on from index after a break. */
		if (!(++seen % 1024)) {
			rcu_read_unlock();
			up_write(&mirror->lock);
			cond_resched();
			down_write(&mirror->lock);
			rcu_read_lock();
		}
	}
	rcu_read_unlock();
	up_write(&mirror->lock);
}

/*
 * Unregister: remove every leaf notifier left, then drain the reaper. No
 * fault runs any more (mirror->dead), so none is inserted anew; once the
 * watches are all dead no callback queues one, and once their notifiers
 * are all removed no callback runs.
 */
void hmm_mirror_unwatch_all(struct hmm_mirror *mirror)
{
	struct hmm_watch *watch;
	unsigned long index;

	xa_for_each(&mirror->watched, index, watch) {
		mutex_lock(&mirror->watch_lock);
		watch = xa_load(&mirror->watched, index);
		if (watch) {
			down_write(&mirror->lock);
			hmm_watch_kill(mirror, watch);
			up_write(&mirror->lock);
			xa_erase(&mirror->watched, index);
		}
		mutex_unlock(&mirror->watch_lock);
		if (watch)
			hmm_watch_remove(watch);
	}
	/*
	 * The reaper's removal in flight, if any, then what is queued: the
	 * watches were all taken out of watched above, so each is only put.
	 */
	cancel_delayed_work_sync(&mirror->reap_work);
	hmm_mirror_reap(mirror);
	WARN_ON(!hmm_xa_holds_none(&mirror->watched));
	xa_destroy(&mirror->watched);
}

/**
 * hmm_mirror_unlink() - unlink a mirror from its hmm, if it still is linked
 * @hmm: the hmm the mirror was registered on
 * @mirror: the mirror
 *
 * Unregister and mm teardown both unlink: exactly one of them finds the
 * mirror linked.
 *
 * Return: true for that one.
 */
bool hmm_mirror_unlink(struct hmm *hmm, struct hmm_mirror *mirror)
{
	bool linked;

	spin_lock(&hmm->lock);
	linked = !list_empty(&mirror->list);
	list_del_init(&mirror->list);
	spin_unlock(&hmm->lock);
	return linked;
}

/**
 * hmm_mirror_unlink_first() - mm teardown: take the next linked mirror
 * @hmm: the hmm of the mm going away
 *
 * Return: a mirror, unlinked, for hmm_mirror_released(); NULL when none is
 * left. No reference is taken: the driver's own keeps the mirror alive,
 * since its hmm_mirror_unregister() waits for hmm_mirror_released() and
 * it may drop that reference only after unregister returned.
 */
struct hmm_mirror *hmm_mirror_unlink_first(struct hmm *hmm)
{
	struct hmm_mirror *mirror;

	spin_lock(&hmm->lock);
	mirror = list_first_entry_or_null(&hmm->mirrors, struct hmm_mirror,
					  list);
	if (mirror)
		list_del_init(&mirror->list);
	spin_unlock(&hmm->lock);
	return mirror;
}

/**
 * hmm_mirror_released() - mm teardown: tell the driver, once
 * @mirror: a mirror from hmm_mirror_unlink_first()
 *
 * Calls ->release, then lets a waiting hmm_mirror_unregister() go on. That
 * is the last this path does with the mirror: once unregister returned,
 * the driver may drop its reference and be unloaded, so no put (and no
 * ->free) may follow here.
 */
void hmm_mirror_released(struct hmm_mirror *mirror)
{
	if (mirror->hdev->ops->release)
		hmm_mirror_call_release(mirror);
	hmm_stat_add(HMM_STAT_RELEASES, 1);
	hmm_debug_teardown_delay();
	complete_all(&mirror->released);
}

static bool hmm_probe_invalidate(struct mmu_interval_notifier *notifier,
				 const struct mmu_notifier_range *range,
				 unsigned long cur_seq)
{
	return true;
}

static const struct mmu_interval_notifier_ops hmm_probe_ops = {
	.invalidate = hmm_probe_invalidate,
};

/*
 * Make the mm ready for interval notifiers here, in the registering
 * process's context, where an error can be returned: the kernel's first
 * mmu_interval_notifier_insert() on an mm does it otherwise (our own
 * notifier, from mmu_notifier_get(), does not), and that would be a
 * fault's, run inline in a driver's hot path or by a peer's worker:
 * mmu_notifier_register(NULL) takes the mmap lock for writing and every
 * VMA's locks, and gives up with -EINTR at any pending signal.
 *
 * Whether the mm is ready is the kernel's private state, and outlives
 * our struct hmm (a process that registers and drops a mirror in a loop
 * would pay it every time): a throwaway notifier of one page, inserted
 * and removed, does that setup only when the kernel has not done it yet.
 * Its removal waits only if an invalidation of the mm is in flight.
 */
static int hmm_setup_itree(struct hmm *hmm, struct mm_struct *mm)
{
	struct mmu_interval_notifier probe;
	int ret;

	if (READ_ONCE(hmm->itree))
		return 0;
	ret = mmu_interval_notifier_insert(&probe, mm, 0, PAGE_SIZE,
					   &hmm_probe_ops);
	if (ret)
		return ret;
	mmu_interval_notifier_remove(&probe);
	WRITE_ONCE(hmm->itree, true);
	return 0;
}

/**
 * hmm_mirror_register() - start mirroring @mm for @hdev
 * @mirror: the mirror, embedded in a driver structure; its fields are
 *	initialised here
 * @hdev: a registered hmm_device
 * @mm: the mm to mirror; the caller holds a user reference (current->mm,
 *	or mmget())
 *
 * On success the caller holds the mirror's first reference: it must call
 * hmm_mirror_unregister() and then hmm_mirror_put(). The device's
 * hmm_device_unregister() waits until ->free ran for each of its mirrors.
 *
 * Takes @mm's mmap lock for writing (registering with its mmu notifiers),
 * so hold no lock of @mm; in the process's context, since a pending signal
 * makes that fail with -EINTR.
 *
 * Return: 0, or a negative errno (-ENOMEM, -EINTR, or what the mmu
 * notifier registration returned). No address is watched yet (see
 * hmm_mirror.h): faults insert their leaves' notifiers.
 */
int hmm_mirror_register(struct hmm_mirror *mirror, struct hmm_device *hdev,
			struct mm_struct *mm)
{
	struct hmm *hmm;
	int ret;

	mirror->hdev = hdev;
	mirror->mm = mm;
	mirror->dma_dev = hdev->dev;
	INIT_LIST_HEAD(&mirror->list);
	kref_init(&mirror->kref);
	init_completion(&mirror->released);
	init_rwsem(&mirror->active);
	mirror->dead = false;
	mirror->callback_task = NULL;
	mutex_init(&mirror->watch_lock);
	xa_init(&mirror->watched);
	spin_lock_init(&mirror->reap_lock);
	INIT_LIST_HEAD(&mirror->reap);
	INIT_DELAYED_WORK(&mirror->reap_work, hmm_mirror_reap_work);
	init_rwsem(&mirror->lock);
	atomic_set(&mirror->nb_writers, 0);
	xa_init(&mirror->pt);
	xa_init(&mirror->dma);
	xa_init(&mirror->dma_huge);
	mirror->nr_valid = 0;
	mirror->modes = 0;
	memset(&mirror->stats, 0, sizeof(mirror->stats));

	/* Nothing is watched yet: each fault watches its leaves. */
	hmm = hmm_get(mm);
	if (IS_ERR(hmm)) {
		hmm_stat_add(HMM_STAT_REGISTER_FAILED, 1);
		return PTR_ERR(hmm);
	}
	ret = hmm_setup_itree(hmm, mm);
	if (ret) {
		hmm_put(hmm);
		hmm_stat_add(HMM_STAT_REGISTER_FAILED, 1);
		return ret;
	}
	mirror->hmm = hmm;
	spin_lock(&hmm->lock);
	list_add(&mirror->list, &hmm->mirrors);
	spin_unlock(&hmm->lock);
	atomic_inc(&hdev->nr_mirrors);
	atomic_inc(&hdev->nr_unfreed);
	hmm_stat_add(HMM_STAT_MIRRORS, 1);
	return 0;
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_register, HMM_MIRROR);

/**
 * hmm_mirror_unregister() - stop mirroring
 * @mirror: a registered mirror
 *
 * May race with the teardown of the mm: exactly one of them unlinks the
 * mirror; if teardown did, this waits until its ->release returned. Waits
 * for faults in flight, then calls ->invalidate once over the whole address
 * space (event MMU_NOTIFY_RELEASE, blockable) and clears the page table,
 * undoing DMA mappings, and removes the interval notifiers of the leaves
 * it watched (each waiting for invalidations in flight): once this returns
 * no callback of @mirror runs again and later faults fail with -ENODEV.
 * The caller still holds its reference.
 *
 * Must not be called from a callback of @mirror (it would wait for
 * itself): that warns and does nothing.
 */
void hmm_mirror_unregister(struct hmm_mirror *mirror)
{
	struct hmm *hmm = mirror->hmm;
	struct hmm_update update = {
		.start = 0,
		.end = ULONG_MAX,
		.event = MMU_NOTIFY_RELEASE,
		.blockable = true,
	};

	might_sleep();
	if (WARN(!hmm, "hmm_mirror: mirror unregistered twice\n"))
		return;
	if (WARN(hmm_mirror_in_callback(mirror),
		 "hmm_mirror: unregister called from a callback of the same mirror: refused\n"))
		return;

	if (!hmm_mirror_unlink(hmm, mirror))
		wait_for_completion(&mirror->released);

	down_write(&mirror->active);
	mirror->dead = true;
	up_write(&mirror->active);

	/*
	 * Clear while invalidations still reach us: a page behind a valid
	 * entry cannot be freed before we are done with it (dirtying it).
	 */
	down_write(&mirror->lock);
	if (mirror->hdev->ops->invalidate)
		hmm_mirror_call_invalidate(mirror, &update);
	hmm_pt_clear(mirror, 0, ULONG_MAX);
	up_write(&mirror->lock);
	WARN_ON(mirror->nr_valid);

	/* No fault runs (dead), so no leaf is watched anew. */
	hmm_mirror_unwatch_all(mirror);
	/* Empty by now (hmm_pt_clear() frees every leaf it empties). */
	xa_destroy(&mirror->pt);
	xa_destroy(&mirror->dma);
	WARN_ON(!hmm_xa_holds_none(&mirror->dma_huge));
	xa_destroy(&mirror->dma_huge);
	mirror->hmm = NULL;
	hmm_put(hmm);
	atomic_dec(&mirror->hdev->nr_mirrors);
	hmm_stat_add(HMM_STAT_MIRRORS, -1);
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_unregister, HMM_MIRROR);

/**
 * hmm_mirror_get() - take a reference on a mirror
 * @mirror: a mirror the caller already holds a reference to
 *
 * Return: @mirror.
 */
struct hmm_mirror *hmm_mirror_get(struct hmm_mirror *mirror)
{
	kref_get(&mirror->kref);
	return mirror;
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_get, HMM_MIRROR);

static void hmm_mirror_last_put(struct kref *kref)
{
	struct hmm_mirror *mirror = container_of(kref, struct hmm_mirror, kref);
	struct hmm_device *hdev = mirror->hdev;

	/* Freeing a registered mirror would leave its notifier dangling. */
	if (WARN(mirror->hmm, "hmm_mirror: last reference dropped while registered: leaking it\n"))
		return;
	hdev->ops->free(mirror);
	/*
	 * The device may go once this reaches 0: wake_up_var() only hashes
	 * the address, it does not read *hdev.
	 */
	if (atomic_dec_and_test(&hdev->nr_unfreed))
		wake_up_var(&hdev->nr_unfreed);
}

/**
 * hmm_mirror_put() - drop a reference; the last one calls ops->free
 * @mirror: the mirror
 */
void hmm_mirror_put(struct hmm_mirror *mirror)
{
	kref_put(&mirror->kref, hmm_mirror_last_put);
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_put, HMM_MIRROR);

/**
 * hmm_mirror_is_mm() - does @mirror mirror @mm?
 * @mirror: the mirror
 * @mm: an mm, typically current->mm of a caller reaching the mirror
 *	through a file descriptor
 *
 * Return: true if @mirror was registered on @mm.
 */
bool hmm_mirror_is_mm(const struct hmm_mirror *mirror,
		      const struct mm_struct *mm)
{
	return mirror->mm == mm;
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_is_mm, HMM_MIRROR);

/**
 * hmm_mirror_lock() - lock the mirror page table exclusively
 * @mirror: the mirror
 *
 * While held, no invalidation, fault or lookup of the mirror runs. For a
 * driver's state that changes with the page table; a device access only
 * looks up, under hmm_mirror_read_lock(). Do not allocate with GFP_KERNEL
 * nor touch user memory under it.
 */
void hmm_mirror_lock(struct hmm_mirror *mirror)
{
	down_write(&mirror->lock);
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_lock, HMM_MIRROR);

/**
 * hmm_mirror_unlock() - undo hmm_mirror_lock()
 * @mirror: the mirror
 */
void hmm_mirror_unlock(struct hmm_mirror *mirror)
{
	up_write(&mirror->lock);
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_unlock, HMM_MIRROR);

/**
 * hmm_mirror_read_lock() - lock the mirror page table for lookups
 * @mirror: the mirror
 *
 * Shared: other readers of @mirror run meanwhile, invalidations and
 * faults (storing) of it wait. Enough for hmm_mirror_lookup(),
 * hmm_mirror_lookup_range(), hmm_mirror_dma_addr(),
 * hmm_mirror_count_valid() and hmm_mirror_set_dirty(); valid entries stay
 * valid until hmm_mirror_read_unlock(). Do not allocate with GFP_KERNEL nor
 * touch user memory under it, and do not take another mirror's lock: two
 * mirrors are locked with hmm_mirror_read_lock_two(). While a
 * non-blockable invalidation (the OOM reaper) spins for the lock, new
 * readers wait (up to that spin, 100 us) before taking it, so that it can
 * get the lock once the readers in flight are done.
 */
void hmm_mirror_read_lock(struct hmm_mirror *mirror)
{
	hmm_mirror_down_read(mirror, 0);
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_read_lock, HMM_MIRROR);

/**
 * hmm_mirror_read_unlock() - undo hmm_mirror_read_lock()
 * @mirror: the mirror
 */
void hmm_mirror_read_unlock(struct hmm_mirror *mirror)
{
	up_read(&mirror->lock);
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_read_unlock, HMM_MIRROR);

/**
 * hmm_mirror_read_lock_two() - lock two mirrors' page tables for lookups
 * @a: a mirror
 * @b: another mirror, or @a
 *
 * For a copy between two mirrors (two processes) without a bounce buffer:
 * both locks held for reading, taken in one order whatever the order of
 * the arguments (the lower address first), so that two copies in opposite
 * directions cannot deadlock (each holding one lock, waiting behind an
 * invalidation queued on the other). The same mirror twice is locked once.
 * The second lock is taken as a nested class, so lockdep checks that no
 * other path holds two mirror locks. Hold nothing of a mirror when calling
 * it; the rules of hmm_mirror_read_lock() apply to both.
 */
void hmm_mirror_read_lock_two(struct hmm_mirror *a, struct hmm_mirror *b)
{
	if (a == b) {
		hmm_mirror_down_read(a, 0);
		return;
	}
	if ((unsigned long)a > (unsigned long)b)
		swap(a, b);
	hmm_mirror_down_read(a, 0);
	hmm_mirror_down_read(b, SINGLE_DEPTH_NESTING);
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_read_lock_two, HMM_MIRROR);

/**
 * hmm_mirror_read_unlock_two() - undo hmm_mirror_read_lock_two()
 * @a: the first mirror it was given
 * @b: the second (either order will do)
 */
void hmm_mirror_read_unlock_two(struct hmm_mirror *a, struct hmm_mirror *b)
{
	up_read(&a->lock);
	if (a != b)
		up_read(&b->lock);
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_read_unlock_two, HMM_MIRROR);
