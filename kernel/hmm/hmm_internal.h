/* SPDX-License-Identifier: GPL-2.0 */
/*
 * HMM mirror core: what its files share and drivers do not see.
 */
#ifndef _HMM_INTERNAL_H
#define _HMM_INTERNAL_H

#include <linux/atomic.h>
#include <linux/memcontrol.h>
#include <linux/memremap.h>
#include <linux/mmu_notifier.h>
#include <linux/percpu.h>
#include <linux/sched/mm.h>
#include <linux/spinlock.h>

#include "hmm_devmem.h"
#include "hmm_mirror.h"

/*
 * struct hmm - the per-mm anchor of mirrors
 * @mn: our mmu_notifier on the mm, from mmu_notifier_get(): one per mm, its
 *	users count is the number of registered mirrors, and its free is
 *	deferred past an SRCU grace period
 * @lock: protects @mirrors
 * @mirrors: mirrors linked to this mm (unlinked by unregister or release)
 * @itree: the mm's interval notifiers are set up (hmm_mirror_register())
 */
struct hmm {
	struct mmu_notifier mn;
	spinlock_t lock;		/* protects mirrors */
	struct list_head mirrors;
	bool itree;
};

struct hmm *hmm_get(struct mm_struct *mm);
void hmm_put(struct hmm *hmm);

/*
 * Counters, readable in debugfs hmm_mirror/stats. Per CPU: every fault and
 * invalidation of every mirror updates some, and one shared cache line
 * would bounce between the CPUs doing them. A value is the sum over the
 * CPUs (hmm_stat_read()): a reader racing updates may see it a moment
 * off, a "now" gauge even below zero (its increment and decrement done on
 * two CPUs, read in between); at rest it is exact.
 */
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
	HMM_STAT_DMA_MAPPED,		/* entries with a DMA address now */
	HMM_STAT_DMA_MAPS,		/* DMA mappings made (4 KiB or huge) */
	HMM_STAT_DMA_MAPS_LIVE,		/* DMA mappings not yet undone */
	HMM_STAT_DMA_HUGE_MAPS,		/* huge-page DMA mappings made */
	HMM_STAT_DEVICE_PAGES,		/* device memory pages in use now */
	HMM_STAT_MIGRATED_TO_DEVICE,	/* pages moved to device memory */
	HMM_STAT_MIGRATED_TO_RAM,	/* pages moved back to system memory */
	HMM_STAT_DEVICE_CPU_FAULTS,	/* CPU faults on device pages */
	HMM_STAT_EXCLUSIVE_PAGES,	/* pages given exclusive device access */
	HMM_STAT_REGISTER_FAILED,	/* hmm_mirror_register() errors */
	HMM_STAT_LEAF_FAILED,		/* leaves that could not be allocated */
	/* Faults failing for want of memory of the core's own (leaves,
	 * buffers): a CPU fault that ran out is -EFAULT, not counted.
	 */
	HMM_STAT_FAULT_NOMEM,
	HMM_STAT_WATCHED,		/* leaf notifiers inserted now */
	HMM_STAT_NR
};

struct hmm_stats {
	s64 v[HMM_STAT_NR];
};

DECLARE_PER_CPU(struct hmm_stats, hmm_stats);

static inline void hmm_stat_add(enum hmm_stat stat, long delta)
{
	this_cpu_add(hmm_stats.v[stat], delta);
}

s64 hmm_stat_read(enum hmm_stat stat);

/*
 * An invalidation of @mirror dropped @cleared entries (hmm_pt_clear()'s
 * count): the mirror's counters count it only if it hit something.
 */
static inline void hmm_mirror_count_invalidation(struct hmm_mirror *mirror,
						 unsigned long cleared)
{
	if (!cleared)
		return;
	atomic64_inc(&mirror->stats.invalidations);
	atomic64_add(cleared, &mirror->stats.invalidated_pages);
}

/* The mirror page table (hmm_pt.c); callers hold mirror->lock. */
#define HMM_PT_LEAF_SHIFT	HMM_MIRROR_LEAF_SHIFT
#define HMM_PT_LEAF_ENTRIES	BIT(9)
#define HMM_PT_LEAF_SIZE	BIT(HMM_PT_LEAF_SHIFT)

/*
 * Ranges: the entry points take [start, end) page aligned and non-empty,
 * below the mm's task_size, and work on it one leaf at a time.
 */
int hmm_range_check(unsigned long start, unsigned long end,
		    unsigned long limit);
int hmm_mirror_enter(struct hmm_mirror *mirror, unsigned long start,
		     unsigned long end);
void hmm_mirror_leave(struct hmm_mirror *mirror);

/* End of the part of [addr, end) in the leaf of @addr (never wraps). */
static inline unsigned long hmm_leaf_end(unsigned long addr, unsigned long end)
{
	unsigned long last = addr | (HMM_PT_LEAF_SIZE - 1);

	return end - 1 < last ? end : last + 1;
}

/*
 * Test builds only (CONFIG_HMM_MIRROR_KUNIT_TEST, the debug kernel's):
 * delays in milliseconds that let a guest test reach a window:
 * debugfs hmm_mirror/teardown_delay_ms, that mm teardown sleeps at the
 * end of its work on each mirror (the test closes the mirror's file and
 * unloads its driver in that window); hmm_mirror/watch_done_delay_ms,
 * that a fault which stored sleeps in hmm_watch_done() after it looked
 * at the watch's recheck flag, still holding the watch (the test empties
 * the leaf then, and the reaper finds the watch held);
 * hmm_mirror/fault_locked_delay_ms and fault_locked_delay_times, that the
 * next faults' attempts hold the mmap lock longer
 * (hmm_debug_fault_locked_delay(), hmm_core.c).
 */
#if IS_ENABLED(CONFIG_HMM_MIRROR_KUNIT_TEST)
extern u32 hmm_teardown_delay_ms;
extern u32 hmm_watch_done_delay_ms;
void hmm_debug_fault_locked_delay(void);
#define hmm_debug_delay(knob)						\
	do {								\
		u32 ms = READ_ONCE(knob);				\
		if (ms)							\
			msleep(ms);					\
	} while (0)
#define hmm_debug_teardown_delay() hmm_debug_delay(hmm_teardown_delay_ms)
#define hmm_debug_watch_done_delay() hmm_debug_delay(hmm_watch_done_delay_ms)
#else
#define hmm_debug_teardown_delay() do { } while (0)
#define hmm_debug_watch_done_delay() do { } while (0)
#define hmm_debug_fault_locked_delay() do { } while (0)
#endif

/*
 * What the core allocates for a mirror's faults (leaves, watches) is
 * charged to the mirrored process's memory cgroup, whoever runs them (a
 * driver's worker included): the mirror is that process's memory. From
 * hmm_charge_begin() to hmm_charge_end().
 */
struct hmm_charge {
	struct mem_cgroup *memcg;
	struct mem_cgroup *old;
};

static inline void hmm_charge_begin(struct hmm_mirror *mirror,
				    struct hmm_charge *charge)
{
	charge->memcg = get_mem_cgroup_from_mm(mirror->mm);
	charge->old = set_active_memcg(charge->memcg);
}

static inline void hmm_charge_end(struct hmm_charge *charge)
{
	set_active_memcg(charge->old);
	mem_cgroup_put(charge->memcg);
}

/*
 * Whether @xa holds no entry. Not xa_empty(): a store that runs out of
 * memory half way (an xa_reserve() under failslab) leaves the nodes it
 * had linked, empty, in the array, so xa_empty() stays false with nothing
 * stored. Reserved entries count as none (they are only ever seen under
 * the lock of the store that reserved them).
 */
static inline bool hmm_xa_holds_none(struct xarray *xa)
{
	unsigned long index = 0;

	return !xa_find(xa, &index, ULONG_MAX, XA_PRESENT);
}

/* Lifetime (hmm_lifetime.c): who unlinks a mirror from its hmm. */
void hmm_mirror_unwatch_all(struct hmm_mirror *mirror);
bool hmm_mirror_unlink(struct hmm *hmm, struct hmm_mirror *mirror);
struct hmm_mirror *hmm_mirror_unlink_first(struct hmm *hmm);
void hmm_mirror_released(struct hmm_mirror *mirror);
int hmm_mirror_call_invalidate(struct hmm_mirror *mirror,
			       const struct hmm_update *update);
bool hmm_mirror_in_callback(const struct hmm_mirror *mirror);

/*
 * struct hmm_watch - the interval notifier of one 2 MiB leaf of a mirror,
 *	or of its whole address space (HMM_MIRROR_WATCH_ALL)
 * @notifier: covers [@start, @end) of the mm
 * @mirror: the mirror it invalidates
 * @start: first address of the leaf (0 for the whole space)
 * @end: @start + HMM_PT_LEAF_SIZE, or ULONG_MAX for the whole space
 * @whole: watches the whole address space: never queued for removal,
 *	only unregister removes it
 * @kref: one for mirror->watched while it is there, one while it is on
 *	mirror->reap, one per fault using it
 * @dead: set under the mirror lock (and the watch lock) as it leaves
 *	mirror->watched, before its notifier is removed: a fill that read
 *	its sequence must not store (nothing would invalidate what it
 *	stored)
 * @recheck: the reaper found it held by a fault: that fault looks at its
 *	leaf again when done (under the mirror lock), unless it looked
 *	already; so the reaper looks again later too (HMM_REAP_RETRY_MS)
 * @reap: on mirror->reap (under its lock), or empty
 * @rcu: its free waits for lockless lookups (hmm_watch_get())
 */
struct hmm_watch {
	struct mmu_interval_notifier notifier;
	struct hmm_mirror *mirror;
	unsigned long start;
	unsigned long end;
	bool whole;
	struct kref kref;
	bool dead;
	bool recheck;
	struct list_head reap;
	struct rcu_head rcu;
};

extern struct workqueue_struct *hmm_reap_wq;
/*
 * How long a non-blockable invalidation spins for the mirror lock (100 us;
 * KUnit tests change it).
 */
extern u64 hmm_trylock_spin_ns;
/* The callbacks of every watch's notifier (KUnit tests call them too). */
extern const struct mmu_interval_notifier_ops hmm_mirror_notifier_ops;

struct hmm_watch *hmm_watch_get(struct hmm_mirror *mirror,
				unsigned long addr);
void hmm_watch_put(struct hmm_watch *watch);
void hmm_watch_done(struct hmm_mirror *mirror, struct hmm_watch *watch,
		    unsigned long addr, bool stored);
void hmm_watch_done_locked(struct hmm_mirror *mirror, struct hmm_watch *watch,
			   unsigned long addr);
void hmm_mirror_unwatch(struct hmm_mirror *mirror, unsigned long start,
			unsigned long end);

int hmm_pt_prepare(struct hmm_mirror *mirror, unsigned long addr);
bool hmm_pt_leaf_idle(struct hmm_mirror *mirror, unsigned long addr);
bool hmm_pt_report_absent(struct hmm_mirror *mirror, unsigned long start,
			  unsigned long end, const unsigned long *hmm_pfns,
			  u64 *out);
int hmm_pt_fill(struct hmm_mirror *mirror, unsigned long start,
		unsigned long end, const unsigned long *hmm_pfns, u64 *out);
unsigned long hmm_pt_clear(struct hmm_mirror *mirror, unsigned long start,
			   unsigned long end);
unsigned long hmm_pt_count(struct hmm_mirror *mirror, unsigned long start,
			   unsigned long end, u64 need);

/*
 * struct hmm_devmem - device memory (hmm_devmem.c)
 * @pgmap: the MEMORY_DEVICE_PRIVATE pagemap of its struct pages
 * @ops: the driver's copy and free callbacks
 * @hdev: the device it belongs to
 * @data: the driver's pointer
 * @res: the physical address range the pages stand for
 * @lock: protects @free, @nr_used, @dying
 * @free: one bit per page, set while the page is free
 * @base_pfn: pfn of the first page
 * @npages: pages in the range
 * @nr_used: pages allocated now
 * @dying: being destroyed: allocate nothing more
 */
struct hmm_devmem {
	struct dev_pagemap pgmap;
	const struct hmm_devmem_ops *ops;
	struct hmm_device *hdev;
	void *data;
	struct resource *res;
	spinlock_t lock;		/* protects free, nr_used, dying */
	unsigned long *free;
	unsigned long base_pfn;
	unsigned long npages;
	unsigned long nr_used;
	bool dying;
};

struct page *hmm_devmem_alloc_page(struct hmm_devmem *devmem);
unsigned long hmm_devmem_copy_out(struct page *spage, unsigned long src,
				  struct vm_area_struct *vma,
				  unsigned long addr, gfp_t gfp, int *err);
vm_fault_t hmm_devmem_fault(struct vm_fault *vmf);
int hmm_pt_set_flags(struct hmm_mirror *mirror, unsigned long start,
		     unsigned long end, u64 flags);

#endif /* _HMM_INTERNAL_H */
