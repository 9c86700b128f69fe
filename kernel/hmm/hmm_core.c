// SPDX-License-Identifier: GPL-2.0
/*
 * HMM mirror core: the per-mm struct hmm, device registration, counters and
 * module life.
 *
 * struct hmm is our mmu_notifier on the mm, obtained with mmu_notifier_get()
 * so that there is exactly one per mm: the first mirror registered on an mm
 * allocates it, each further one takes a reference, and the last unregister
 * puts it; its free waits for an SRCU grace period, so module exit flushes
 * those with mmu_notifier_synchronize(). It holds the mm_struct (mmgrab),
 * not the address space: when the last user of the mm exits, ->release
 * unlinks every mirror still linked and tells its driver, once.
 */
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/swiotlb.h>
#include <linux/wait_bit.h>

#include "hmm_internal.h"

DEFINE_PER_CPU(struct hmm_stats, hmm_stats);

/**
 * hmm_stat_read() - the value of a global counter
 * @stat: which
 *
 * Return: the sum of the per-CPU parts.
 */
s64 hmm_stat_read(enum hmm_stat stat)
{
	s64 sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += per_cpu(hmm_stats.v[stat], cpu);
	return sum;
}

static const char *const hmm_stat_names[HMM_STAT_NR] = {
	[HMM_STAT_HMMS] = "hmms",
	[HMM_STAT_MIRRORS] = "mirrors",
	[HMM_STAT_RELEASES] = "mm_releases",
	[HMM_STAT_FAULTS] = "faults",
	[HMM_STAT_FAULT_PAGES] = "fault_pages",
	[HMM_STAT_FAULT_RETRIES] = "fault_retries",
	[HMM_STAT_INVALIDATIONS] = "invalidations",
	[HMM_STAT_INVALIDATED_PAGES] = "invalidated_pages",
	[HMM_STAT_DIRTIED_PAGES] = "dirtied_pages",
	[HMM_STAT_MIRRORED_PAGES] = "mirrored_pages",
	[HMM_STAT_PT_BYTES] = "pt_bytes",
	[HMM_STAT_DMA_BYTES] = "dma_bytes",
	[HMM_STAT_DMA_MAPPED] = "dma_mapped_pages",
	[HMM_STAT_DMA_MAPS] = "dma_maps",
	[HMM_STAT_DMA_MAPS_LIVE] = "dma_maps_live",
	[HMM_STAT_DMA_HUGE_MAPS] = "dma_huge_maps",
	[HMM_STAT_DEVICE_PAGES] = "device_pages",
	[HMM_STAT_MIGRATED_TO_DEVICE] = "migrated_to_device",
	[HMM_STAT_MIGRATED_TO_RAM] = "migrated_to_ram",
	[HMM_STAT_DEVICE_CPU_FAULTS] = "device_cpu_faults",
	[HMM_STAT_EXCLUSIVE_PAGES] = "exclusive_pages",
	[HMM_STAT_REGISTER_FAILED] = "register_failed",
	[HMM_STAT_LEAF_FAILED] = "leaf_failed",
	[HMM_STAT_FAULT_NOMEM] = "fault_nomem",
	[HMM_STAT_WATCHED] = "watched_leaves",
};

static struct dentry *hmm_debugfs;

#if IS_ENABLED(CONFIG_HMM_MIRROR_KUNIT_TEST)
u32 hmm_teardown_delay_ms;
u32 hmm_watch_done_delay_ms;
static u32 hmm_fault_locked_delay_ms;
static atomic_t hmm_fault_locked_delay_times = ATOMIC_INIT(0);

/*
 * The next fault_locked_delay_times attempts of faults each keep the mmap
 * lock, held for reading, up to fault_locked_delay_ms longer, as a fault
 * of a file waiting in its FUSE server would (the debug kernel has no
 * FUSE): a writer of the mm then waits behind it. In 20 ms sleeps, ended
 * early once the test sets the delay back to 0.
 */
void hmm_debug_fault_locked_delay(void)
{
	unsigned long end;

	if (!READ_ONCE(hmm_fault_locked_delay_ms) ||
	    atomic_dec_if_positive(&hmm_fault_locked_delay_times) < 0)
		return;
	end = jiffies + msecs_to_jiffies(READ_ONCE(hmm_fault_locked_delay_ms));
	while (READ_ONCE(hmm_fault_locked_delay_ms) &&
	       time_before(jiffies, end))
		msleep(20);
}
#endif

static struct mmu_notifier *hmm_alloc_notifier(struct mm_struct *mm)
{
	struct hmm *hmm = kzalloc(sizeof(*hmm), GFP_KERNEL);

	if (!hmm)
		return ERR_PTR(-ENOMEM);
	spin_lock_init(&hmm->lock);
	INIT_LIST_HEAD(&hmm->mirrors);
	hmm_stat_add(HMM_STAT_HMMS, 1);
	return &hmm->mn;
}

static void hmm_free_notifier(struct mmu_notifier *mn)
{
	struct hmm *hmm = container_of(mn, struct hmm, mn);

	WARN_ON(!list_empty(&hmm->mirrors));
	kfree(hmm);
	hmm_stat_add(HMM_STAT_HMMS, -1);
}

/*
 * The last user of the mm is gone (exit_mmap, after the mirrors' interval
 * notifiers were invalidated with MMU_NOTIFY_RELEASE, so their page tables
 * are already empty). Unlink each mirror still linked and call its release;
 * a concurrent hmm_mirror_unregister() that finds it unlinked waits on
 * mirror->released.
 */
static void hmm_release(struct mmu_notifier *mn, struct mm_struct *mm)
{
	struct hmm *hmm = container_of(mn, struct hmm, mn);
	struct hmm_mirror *mirror;

	while ((mirror = hmm_mirror_unlink_first(hmm)))
		hmm_mirror_released(mirror);
}

static const struct mmu_notifier_ops hmm_mmu_notifier_ops = {
	.release = hmm_release,
	.alloc_notifier = hmm_alloc_notifier,
	.free_notifier = hmm_free_notifier,
};

/**
 * hmm_get() - the hmm of @mm, created if it has none; a reference to it
 * @mm: a live mm (mm_users > 0)
 *
 * Return: the hmm or an ERR_PTR.
 */
struct hmm *hmm_get(struct mm_struct *mm)
{
	struct mmu_notifier *mn = mmu_notifier_get(&hmm_mmu_notifier_ops, mm);

	return IS_ERR(mn) ? ERR_CAST(mn) : container_of(mn, struct hmm, mn);
}

/**
 * hmm_put() - drop a reference taken by hmm_get()
 * @hmm: the hmm
 */
void hmm_put(struct hmm *hmm)
{
	mmu_notifier_put(&hmm->mn);
}

/*
 * Why @dev cannot mirror, or NULL if it can. A mirror maps pages that the
 * CPU keeps using while the device does, with the syncs skipped (the
 * pages are the CPU's, never handed over): a device that needs cache
 * syncs, or bounce buffers (a DMA mask short of some memory, or swiotlb
 * forced on it), would see stale data or write to a copy. Checked once
 * for the device, as the kernel's hmm_dma_map_alloc() does since 6.16
 * (its dma_need_sync() per device is 6.1's coherence and forced bounce).
 * dma_need_sync() on each mapping still catches what is decided per
 * mapping (an IOMMU bouncing an untrusted device's sub-page buffers).
 */
static const char *hmm_dma_refusal(struct device *dev)
{
	if (dma_addressing_limited(dev))
		return "its DMA mask does not reach all memory (bounce buffers)";
	if (!dev_is_dma_coherent(dev))
		return "its DMA is not cache coherent (syncs)";
	if (is_swiotlb_force_bounce(dev))
		return "swiotlb bounces all of its DMA";
	return NULL;
}

/**
 * hmm_device_register() - register a driver with the HMM core
 * @hdev: the device; @hdev->ops with ->free is required, @hdev->dev and
 *	@hdev->owner are optional
 *
 * A @hdev->dev whose DMA would need bounce buffers or cache syncs is
 * refused, with an error in the log saying why. Without a @hdev->dev (a
 * device that copies with the CPU) nothing is DMA-mapped.
 *
 * Return: 0, -EINVAL if the ops are incomplete, or -EOPNOTSUPP for a
 * device whose DMA a mirror cannot use.
 */
int hmm_device_register(struct hmm_device *hdev)
{
	if (!hdev->ops || !hdev->ops->free) {
		pr_err("hmm_mirror: a device needs ops with a free callback\n");
		return -EINVAL;
	}
	if (hdev->dev) {
		const char *why = hmm_dma_refusal(hdev->dev);

		if (why) {
			dev_err(hdev->dev, "hmm_mirror: DMA device refused: %s\n",
				why);
			return -EOPNOTSUPP;
		}
	}
	if (!hdev->owner)
		hdev->owner = hdev;
	atomic_set(&hdev->nr_mirrors, 0);
	atomic_set(&hdev->nr_unfreed, 0);
	return 0;
}
EXPORT_SYMBOL_NS_GPL(hmm_device_register, HMM_MIRROR);

/**
 * hmm_device_unregister() - unregister a driver from the HMM core
 * @hdev: the device, all of whose mirrors must have been unregistered
 *
 * Waits until ->free has returned for every mirror of @hdev (references
 * other than the driver's may still be held a moment, e.g. by a work item
 * ending): after this no function of the driver is called again, and its
 * module may go. Sleeps.
 */
void hmm_device_unregister(struct hmm_device *hdev)
{
	might_sleep();
	WARN(atomic_read(&hdev->nr_mirrors),
	     "hmm_mirror: device unregistered with %d mirrors still registered\n",
	     atomic_read(&hdev->nr_mirrors));
	wait_var_event(&hdev->nr_unfreed, !atomic_read(&hdev->nr_unfreed));
}
EXPORT_SYMBOL_NS_GPL(hmm_device_unregister, HMM_MIRROR);

/**
 * hmm_mirror_set_modes() - set the modes of a mirror
 * @mirror: a registered mirror, not locked (registering resets its modes)
 * @modes: HMM_MIRROR_DIRTY_ON_DROP, HMM_MIRROR_WATCH_ALL, both or 0
 *
 * DIRTY_ON_DROP takes effect for every entry dropped after it returns,
 * those already in the mirror included. WATCH_ALL is chosen before the
 * mirror's first fault: it may be set or cleared only while the mirror
 * watches nothing (calls that keep it as it is always may). Takes the
 * mirror lock for writing: never call it with the lock held (in either
 * mode), nor from a callback of @mirror.
 *
 * Return: 0; -EINVAL for an unknown mode; -EBUSY if WATCH_ALL would
 * change while something is watched (the modes are left as they were).
 */
int hmm_mirror_set_modes(struct hmm_mirror *mirror, unsigned int modes)
{
	int ret = 0;

	if (modes & ~(HMM_MIRROR_DIRTY_ON_DROP | HMM_MIRROR_WATCH_ALL))
		return -EINVAL;
	/* hmm_watch_get() reads WATCH_ALL under the watch lock. */
	mutex_lock(&mirror->watch_lock);
	down_write(&mirror->lock);
	if (((modes ^ mirror->modes) & HMM_MIRROR_WATCH_ALL) &&
	    !hmm_xa_holds_none(&mirror->watched))
		ret = -EBUSY;
	else
		WRITE_ONCE(mirror->modes, modes);
	up_write(&mirror->lock);
	mutex_unlock(&mirror->watch_lock);
	return ret;
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_set_modes, HMM_MIRROR);

/**
 * hmm_mirror_read_stats() - read the counters of a mirror
 * @mirror: a mirror, registered or not (counting starts at registration)
 * @stats: out: the counters (see struct hmm_mirror_stats)
 *
 * Takes no lock: each counter is read atomically, but the set is not a
 * snapshot of one instant while faults or invalidations run. Never sleeps.
 */
void hmm_mirror_read_stats(struct hmm_mirror *mirror,
			   struct hmm_mirror_stats *stats)
{
	const struct hmm_mirror_counters *c = &mirror->stats;

	stats->faults = atomic64_read(&c->faults);
	stats->faulted_pages = atomic64_read(&c->faulted_pages);
	stats->prefetched_pages = atomic64_read(&c->prefetched_pages);
	stats->invalidations = atomic64_read(&c->invalidations);
	stats->invalidated_pages = atomic64_read(&c->invalidated_pages);
	stats->dirtied_pages = atomic64_read(&c->dirtied_pages);
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_read_stats, HMM_MIRROR);

static int hmm_stats_show(struct seq_file *m, void *unused)
{
	int i;

	for (i = 0; i < HMM_STAT_NR; i++)
		seq_printf(m, "%s %lld\n", hmm_stat_names[i], hmm_stat_read(i));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(hmm_stats);

static int __init hmm_mirror_init(void)
{
	hmm_reap_wq = alloc_workqueue("hmm_reap", WQ_UNBOUND, 0);
	if (!hmm_reap_wq)
		return -ENOMEM;
	hmm_debugfs = debugfs_create_dir("hmm_mirror", NULL);
	debugfs_create_file("stats", 0444, hmm_debugfs, NULL, &hmm_stats_fops);
#if IS_ENABLED(CONFIG_HMM_MIRROR_KUNIT_TEST)
	debugfs_create_u32("teardown_delay_ms", 0600, hmm_debugfs,
			   &hmm_teardown_delay_ms);
	debugfs_create_u32("watch_done_delay_ms", 0600, hmm_debugfs,
			   &hmm_watch_done_delay_ms);
	debugfs_create_u32("fault_locked_delay_ms", 0600, hmm_debugfs,
			   &hmm_fault_locked_delay_ms);
	debugfs_create_atomic_t("fault_locked_delay_times", 0600, hmm_debugfs,
				&hmm_fault_locked_delay_times);
#endif
	return 0;
}

static void __exit hmm_mirror_exit(void)
{
	debugfs_remove_recursive(hmm_debugfs);
	/* Wait for the deferred frees of struct hmm (mmu_notifier_put). */
	mmu_notifier_synchronize();
	WARN_ON(hmm_stat_read(HMM_STAT_HMMS));
	destroy_workqueue(hmm_reap_wq);
}

module_init(hmm_mirror_init);
module_exit(hmm_mirror_exit);
MODULE_DESCRIPTION("HMM mirrors of process address spaces");
MODULE_LICENSE("GPL");
