// SPDX-License-Identifier: GPL-2.0
/*
 * HMM mirror life: registration, the invalidation callback, unregistration
 * racing mm teardown, references.
 *
 * Each mirror owns an mmu_interval_notifier over the whole address space of
 * its mm. Its sequence count is what hmm_range_fault() and the fault path
 * check to retry after a race (hmm_fault.c); its invalidate callback clears
 * the mirror page table before the CPU change completes; and removing it is
 * what guarantees that no invalidation of the mirror runs any more.
 */
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched/mm.h>

#include "hmm_internal.h"

static bool hmm_mirror_invalidate(struct mmu_interval_notifier *notifier,
				  const struct mmu_notifier_range *range,
				  unsigned long cur_seq)
{
	struct hmm_mirror *mirror =
		container_of(notifier, struct hmm_mirror, notifier);
	const struct hmm_mirror_ops *ops = mirror->hdev->ops;
	struct hmm_update update = {
		.start = range->start,
		.end = range->end,
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
		mutex_lock(&mirror->lock);
	else if (!mutex_trylock(&mirror->lock))
		return false;

	mmu_interval_set_seq(notifier, cur_seq);
	if (ops->invalidate) {
		int ret = ops->invalidate(mirror, &update);

		if (ret) {
			/* Only a non-blockable invalidation may be refused. */
			WARN_ON_ONCE(update.blockable);
			if (!update.blockable) {
				mutex_unlock(&mirror->lock);
				return false;
			}
		}
	}
	hmm_pt_clear(mirror, update.start, update.end);
	mutex_unlock(&mirror->lock);
	hmm_stat_add(HMM_STAT_INVALIDATIONS, 1);
	return true;
}

static const struct mmu_interval_notifier_ops hmm_mirror_notifier_ops = {
	.invalidate = hmm_mirror_invalidate,
};

/**
 * hmm_mirror_unlink() - unlink a mirror from its hmm, if it still is linked
 * @hmm: the hmm the mirror was registered on
 * @mirror: the mirror
 *
 * Unregister and mm teardown both unlink: exactly one of them finds the
 * mirror linked. Return: true for that one.
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
 * Return: a mirror, unlinked, with a reference for hmm_mirror_released();
 * NULL when none is left.
 */
struct hmm_mirror *hmm_mirror_unlink_first(struct hmm *hmm)
{
	struct hmm_mirror *mirror;

	spin_lock(&hmm->lock);
	mirror = list_first_entry_or_null(&hmm->mirrors, struct hmm_mirror,
					  list);
	if (mirror) {
		list_del_init(&mirror->list);
		hmm_mirror_get(mirror);
	}
	spin_unlock(&hmm->lock);
	return mirror;
}

/**
 * hmm_mirror_released() - mm teardown: tell the driver, once
 * @mirror: a mirror from hmm_mirror_unlink_first(); its reference is dropped
 *
 * Calls ->release, then lets a waiting hmm_mirror_unregister() go on.
 */
void hmm_mirror_released(struct hmm_mirror *mirror)
{
	if (mirror->hdev->ops->release)
		mirror->hdev->ops->release(mirror);
	complete_all(&mirror->released);
	hmm_stat_add(HMM_STAT_RELEASES, 1);
	hmm_mirror_put(mirror);
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
 * hmm_mirror_unregister() and then hmm_mirror_put().
 *
 * Return: 0, or a negative errno (-ENOMEM, or what the mmu notifier
 * registration returned).
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
	mutex_init(&mirror->lock);
	xa_init(&mirror->pt);
	xa_init(&mirror->dma);
	mirror->nr_valid = 0;

	hmm = hmm_get(mm);
	if (IS_ERR(hmm))
		return PTR_ERR(hmm);
	ret = mmu_interval_notifier_insert(&mirror->notifier, mm, 0, ULONG_MAX,
					   &hmm_mirror_notifier_ops);
	if (ret) {
		hmm_put(hmm);
		return ret;
	}
	mirror->hmm = hmm;
	spin_lock(&hmm->lock);
	list_add(&mirror->list, &hmm->mirrors);
	spin_unlock(&hmm->lock);
	atomic_inc(&hdev->nr_mirrors);
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
 * for faults in flight, clears the page table, and removes the interval
 * notifier (waiting for invalidations in flight): once this returns no
 * callback of @mirror runs again and later faults fail with -ENODEV. The
 * caller still holds its reference. Must not be called from a callback.
 */
void hmm_mirror_unregister(struct hmm_mirror *mirror)
{
	struct hmm *hmm = mirror->hmm;

	might_sleep();
	if (WARN(!hmm, "hmm_mirror: mirror unregistered twice\n"))
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
	mutex_lock(&mirror->lock);
	hmm_pt_clear(mirror, 0, ULONG_MAX);
	mutex_unlock(&mirror->lock);
	WARN_ON(mirror->nr_valid);

	mmu_interval_notifier_remove(&mirror->notifier);
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

	/* Freeing a registered mirror would leave its notifier dangling. */
	if (WARN(mirror->hmm, "hmm_mirror: last reference dropped while registered: leaking it\n"))
		return;
	mirror->hdev->ops->free(mirror);
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
 * hmm_mirror_lock() - lock the mirror page table for lookups
 * @mirror: the mirror
 *
 * While held, no invalidation of the mirror completes. Do not allocate
 * with GFP_KERNEL nor touch user memory under it.
 */
void hmm_mirror_lock(struct hmm_mirror *mirror)
{
	mutex_lock(&mirror->lock);
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_lock, HMM_MIRROR);

/**
 * hmm_mirror_unlock() - unlock the mirror page table
 * @mirror: the mirror
 */
void hmm_mirror_unlock(struct hmm_mirror *mirror)
{
	mutex_unlock(&mirror->lock);
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_unlock, HMM_MIRROR);
