/* SPDX-License-Identifier: GPL-2.0 */
/*
 * HMM mirrors: a device's copy of a process address space, kept coherent
 * with the CPU page tables without pinning a page.
 *
 * Objects and lifetimes
 *
 *   struct hmm          one per mm, created by the first mirror registered on
 *                       that mm and freed after the last one is unregistered.
 *                       Private to the core.
 *   struct hmm_device   a driver's registration: its callbacks and, if it
 *                       DMA-maps mirrored pages, its struct device.
 *   struct hmm_mirror   one device x one mm. Embedded in a driver structure,
 *                       reference counted, and allowed to outlive the mm:
 *
 *     ->release()  runs once when the mm goes away (last user exited): the
 *                  device must stop working on that address space. The
 *                  mirror stays allocated.
 *     ->free()     runs when the last reference is dropped: only then may
 *                  the driver free the structure embedding the mirror.
 *
 *   hmm_mirror_unregister() and mm teardown may race: exactly one of them
 *   unlinks the mirror from its hmm, under the hmm's lock. Once unregister
 *   returns, no callback of that mirror runs again (if teardown won the race
 *   and is inside ->release(), unregister waits for it). Neither callback may
 *   call hmm_mirror_unregister() itself: that warns and does nothing.
 *
 *   Teardown holds no reference of its own: the driver's keeps the mirror
 *   alive until unregister returns, so ->free() runs from a put of the
 *   driver's (or of whoever it gave a reference to), never from the core
 *   once the driver unregistered. hmm_device_unregister() waits until
 *   ->free() returned for every mirror of the device; after it returns no
 *   function of the driver is called again and its module may go.
 *
 *   A device fault ends by dropping its user reference of the mm with
 *   mmput_async(): if the process exited meanwhile, the mm's teardown
 *   (->invalidate with MMU_NOTIFY_RELEASE, then ->release) runs in a
 *   workqueue, never in the faulting context, so ->release may wait for
 *   the driver's fault workers.
 *
 *   A mirror is bound to the mm it was registered on. A driver that reaches a
 *   mirror through a file descriptor must refuse to use it from another mm
 *   (after fork, or a passed fd): hmm_mirror_is_mm() tells.
 *
 * The mirror page table
 *
 *   Per mirror, indexed by virtual address: one u64 per 4 KiB page holding a
 *   pfn and HMM_MPTE_* flags, in leaves of 512 entries (one page each)
 *   allocated on fault and freed when an invalidation empties them. When the
 *   hmm_device has a struct device, every valid page is also DMA-mapped for
 *   it (a second leaf of dma_addr_t per leaf). A page shared by several
 *   mirrors is mapped once per mirror, with the CPU syncs skipped: only
 *   devices whose DMA needs no syncs or bounce buffers can mirror.
 *   hmm_device_register() refuses, with -EOPNOTSUPP and an error in the
 *   log, a device whose DMA mask does not reach all memory, that is not
 *   cache coherent, or that swiotlb forces to bounce; a mapping that
 *   still needs syncs (dma_need_sync()) fails its fault with -EOPNOTSUPP
 *   and a warning. Pages are mapped one 4 KiB page at a time, except
 *   those of a CPU mapping of order 9 or more (a PMD-mapped THP or huge
 *   page): the huge page's part inside their 2 MiB leaf is mapped once,
 *   by the first fault that fills one of its entries, and each entry's DMA
 *   address (hmm_mirror_dma_addr()) is that mapping's plus the page's
 *   offset; a 1 GiB page is so mapped in 2 MiB pieces, one per leaf. The
 *   mapping is undone when the last entry of the leaf using it is
 *   dropped: an invalidation or discard of part of the leaf keeps it for
 *   the rest, and until then it also covers pages whose entries were
 *   dropped (the device must use only valid entries, as always). Where
 *   that cannot be had (memory for its record, a leaf whose huge mapping
 *   is of another page), pages are mapped one at a time.
 *
 *   Every mapping, 4 KiB or huge, is DMA_BIDIRECTIONAL, read-only entries'
 *   included (a COW page shared after fork, the huge zero page): the
 *   entry's HMM_MPTE_WRITE, not the mapping's direction, says whether the
 *   device may write, and a driver must not let its device write through
 *   an entry without it. The direction cannot follow the entry: a fault
 *   that finds the same page writable now (a write fault of a page only
 *   this process maps) keeps the entry and its DMA address, which the
 *   device may hold, with no invalidation in between; a mapping to the
 *   device only would have to be replaced under it. A huge mapping serves
 *   every entry of the page in its leaf, read-only and writable alike.
 *   So behind an IOMMU, a device that ignores the write bit can write a
 *   page the CPU maps read-only; without one it can anyway.
 *
 * Device faults and the retry protocol
 *
 *   hmm_mirror_fault() fills a range from the CPU page tables, faulting pages
 *   in (for read, or for write: breaking COW) or, with HMM_MIRROR_SNAPSHOT,
 *   only recording what is present. It holds no page reference when it
 *   returns: an entry stays valid only until the next invalidation of its
 *   address. So a device access looks entries up with the mirror lock held
 *   for reading (hmm_mirror_read_lock()); a missing entry means: unlock,
 *   hmm_mirror_fault(), try again. While the lock is held no invalidation
 *   can complete, so the pages behind valid entries stay where they are.
 *
 *   Under the lock, never sleep for memory (no GFP_KERNEL) and never touch
 *   user memory (copy_*_user): reclaim may need to invalidate this mirror.
 *   hmm_mirror_lookup_range() reads a whole range under one lock (to build
 *   a translation table) and says how far it is valid.
 *
 *   hmm_mirror_fault_and_lock() does that loop for the driver: it faults
 *   a range (struct hmm_mirror_range) and returns 0 with the mirror lock
 *   held for writing (hmm_mirror_unlock() releases it; readers of the
 *   mirror wait meanwhile) and the range valid, so the driver updates its device's
 *   translation atomically with respect to invalidation (as
 *   ib_umem_odp_map_dma_and_lock()). The fill goes leaf by leaf, each
 *   checked against the sequence of its own leaf's watch: once all are
 *   filled, the core takes the lock and checks every leaf's sequence
 *   again (mmu_interval_read_retry() per leaf, under the lock); the
 *   leaves an invalidation reached in between are filled again with the
 *   lock dropped, until all of them hold at once or the fault's limits
 *   (HMM_MIRROR_FAULT_TIMEOUT_MS without progress, HMM_MIRROR_FAULT_MAX_MS,
 *   the stop callback) end it. Its pages below req_end are required, as
 *   hmm_mirror_fault()'s; those above (all with HMM_MIRROR_OPTIONAL) are
 *   optional, for prefetch and fault-ahead: faulted where they can be,
 *   skipped where they cannot (no VMA, PROT_NONE or I/O, a write to
 *   read-only memory, a fault that fails there). It says how many pages
 *   it filled (hmm_mirror_range.filled); which ones, the driver reads
 *   under the lock with hmm_mirror_lookup_range(). A range is at most
 *   HMM_MIRROR_LOCK_MAX_SIZE (1 GiB), its optional part included: a
 *   larger one fails with -E2BIG.
 *
 *   A driver that stops using a range by itself (an MR deregistered, an
 *   idle part of an implicit MR reclaimed) drops its entries with
 *   hmm_mirror_discard(): as an invalidation would, without ->invalidate.
 *
 * Invalidation
 *
 *   Before a CPU page-table change of a mirrored range completes, the core
 *   takes the mirror lock for writing, calls ->invalidate() with the range
 *   and the mmu_notifier event, then clears the entries: a dirty entry
 *   dirties its page, a DMA mapping is undone. In a non-blockable context
 *   (the OOM reaper) the core only tries to take the lock, spinning up to
 *   100 us, and ->invalidate() must not sleep: it may return -EAGAIN
 *   there, and only there, to have the kernel retry later. An rwsem's
 *   trylock fails while anyone holds or waits for the lock; so while the
 *   non-blockable invalidation spins, new readers of the mirror
 *   (hmm_mirror_read_lock() and hmm_mirror_read_lock_two()) wait before
 *   taking it, and those in flight drain: steady device traffic of short
 *   read-locked stretches does not make the OOM reaper give up on the
 *   mirror's VMAs. A reader that holds the lock longer than the spin (or
 *   a writer) still does, each spin being per watched leaf: hold the lock
 *   briefly (dmirror copies 64 KiB per read-locked stretch).
 *
 *   Only changes of what the mirror watches reach it: the core watches each
 *   2 MiB leaf (HMM_MIRROR_LEAF_SIZE, aligned) of the address space that a
 *   fault of the mirror ever reached, with an mmu interval notifier of its
 *   own, inserted before the fault reads its sequence. A change elsewhere
 *   in the process (another thread's munmap, NUMA hints, reclaim of memory
 *   the device never touched) neither takes the mirror lock nor makes a
 *   fault of the mirror start over. So one CPU change may reach the driver
 *   as several calls, one per watched leaf it touches, each with the part
 *   of the change inside that leaf (@update's range never crosses a 2 MiB
 *   boundary, except for unregister's and in HMM_MIRROR_WATCH_ALL mode
 *   below), and a change of an unwatched leaf, whose entries are all
 *   invalid, does not reach it at all. Each of those
 *   calls takes the mirror lock on its own (a 1 GiB munmap of mirrored
 *   memory makes up to 512, and a non-blockable one up to 512 bounded
 *   spins):
 *   the kernel calls interval notifiers one by one, and merging them would
 *   need one notifier over the whole range again.
 *
 *   A watch lasts only while its leaf holds entries: once an invalidation,
 *   hmm_mirror_discard() or a fault that stored nothing (it failed, or a
 *   snapshot found nothing present) leaves the leaf empty, the core queues
 *   the watch, and a worker removes it unless a fault is using it by then.
 *   So the watches of a mirror are bounded by the leaves it mirrors, plus
 *   those queued: some 200 bytes per 2 MiB mirrored, charged like the page
 *   table to the mirrored process's memory cgroup. Removing a notifier
 *   waits until no invalidation of the mm is in flight, which a process
 *   unmapping in a loop may put off for long; only the worker and
 *   hmm_mirror_unregister() wait for that, never a fault nor discard.
 *
 *   hmm_mirror_register() sets up the mm's interval notifiers (taking its
 *   mmap lock for writing and every VMA's locks, which gives up with
 *   -EINTR at a pending signal) so that a fault never does.
 *
 *   A driver that mirrors most of a dense address space may prefer one
 *   notifier to one per leaf: in HMM_MIRROR_WATCH_ALL mode (set before the
 *   mirror's first fault) the core watches [0, ULONG_MAX) with a single
 *   notifier, inserted by the first fault and removed only by unregister.
 *   Then every change of the process reaches ->invalidate() (@update's
 *   range is the kernel's, uncut), whether the mirror holds entries there
 *   or not, and makes every fault in flight start over.
 *
 *   Lock order (see Locking below): mirror->active (read: faults) -> the
 *   mirror's watch lock (inserting or removing a leaf's watch) -> the mirror
 *   lock -> the mirror's reap lock (queueing a watch); the kernel's
 *   notifier lock is taken under the watch lock (insertion) or alone
 *   (removal). Inserting never waits for an invalidation in flight (the
 *   kernel defers it, and the fault's mmu_interval_read_begin() waits
 *   instead); removing does, which is why the worker and unregister remove
 *   with no lock held.
 *
 *   hmm_mirror_unregister() also calls ->invalidate(), once, blockable, with
 *   event MMU_NOTIFY_RELEASE over [0, ULONG_MAX), before it clears what is
 *   left and undoes the DMA mappings: the device must stop using every
 *   entry there, as for any invalidation.
 *
 * Locking
 *
 *   The mirror lock is a reader-writer semaphore. Its writers, who hold it
 *   exclusively (hmm_mirror_lock() for a driver, the core's own paths
 *   otherwise), change the page table: a fault storing what it found,
 *   invalidations (the non-blockable one only tries), hmm_mirror_discard(),
 *   unregister and hmm_mirror_set_modes(); ->invalidate() runs under it. Its
 *   readers (hmm_mirror_read_lock()) only look up: hmm_mirror_lookup(),
 *   hmm_mirror_lookup_range(), hmm_mirror_dma_addr(),
 *   hmm_mirror_count_valid(), and hmm_mirror_set_dirty(), which sets its bit
 *   with an atomic read-modify-write. Any number of readers (a data path's
 *   queues, each copying its own page) run at once; an invalidation waits
 *   until every reader of its mirror has unlocked, and new readers wait
 *   behind a writer that waits, and behind the OOM reaper's bounded spin
 *   (see Invalidation above). Those functions assert (lockdep) the mode
 *   they need. A driver may use hmm_mirror_lock() for its own state that
 *   changes with the page table (hodp's tree of MRs, read by its
 *   ->invalidate).
 *
 *   Two mirrors at once, only for reading and only with
 *   hmm_mirror_read_lock_two(): it takes the lower-addressed mirror's lock
 *   first (the same mirror once), so two copies in opposite directions
 *   between the same mirrors cannot deadlock behind two invalidations
 *   waiting, one on each. The second is taken as a nested lock class
 *   (SINGLE_DEPTH_NESTING): lockdep reports two mirror locks held without
 *   it (two plain read locks, a write lock under a read lock of another
 *   mirror, a third mirror); the address order itself is the helper's,
 *   which lockdep cannot check (one class for every mirror). Nothing else
 *   is taken under two.
 *
 *   The whole order: mirror->active (read: faults) -> watch_lock -> the
 *   mirror lock (one; or two for reading, lower address first) -> reap_lock.
 *   Under the mirror lock, either mode, the rules above hold: no GFP_KERNEL,
 *   no user memory, no fault.
 *
 * Dirty pages
 *
 *   A page the device wrote must be marked dirty before the core forgets
 *   it, or reclaim and writeback may take it for clean and lose the write.
 *   A driver that knows what its device wrote says so under the lock with
 *   hmm_mirror_set_dirty(); the core dirties those pages as it drops their
 *   entries. A device whose writes the driver cannot see (an RDMA NIC
 *   writing by DMA) puts its mirror in HMM_MIRROR_DIRTY_ON_DROP mode with
 *   hmm_mirror_set_modes(): then every writable entry dropped (by an
 *   invalidation, hmm_mirror_discard() or unregister) dirties its page, as
 *   ib_umem_odp does when it unmaps. It costs writeback of pages the device
 *   only could have written; a write fault alone does not make it
 *   unnecessary, since a read fault may map a page writable (shared tmpfs
 *   memory) without its CPU dirty bit ever being set.
 *
 * Counters
 *
 *   Each mirror counts its faults and invalidations (struct
 *   hmm_mirror_stats, read with hmm_mirror_read_stats()), so that a driver
 *   can report them per memory region; the core's global counters
 *   (debugfs hmm_mirror/stats) are per-CPU sums over every mirror.
 */
#ifndef _HMM_MIRROR_H
#define _HMM_MIRROR_H

#include <linux/bits.h>
#include <linux/completion.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

struct device;
struct hmm;
struct hmm_mirror;

/* Mirror page table entry: pfn above bit 12, flags below. */
#define HMM_MPTE_VALID		BIT_ULL(0)	/* maps a page */
#define HMM_MPTE_WRITE		BIT_ULL(1)	/* the device may write it */
#define HMM_MPTE_DIRTY_BIT	2
#define HMM_MPTE_DIRTY		BIT_ULL(HMM_MPTE_DIRTY_BIT) /* the device wrote it */
#define HMM_MPTE_DEVICE		BIT_ULL(3)	/* device-private page */
#define HMM_MPTE_HUGE		BIT_ULL(4)	/* part of a larger CPU mapping */
#define HMM_MPTE_ERROR		BIT_ULL(5)	/* snapshot only: not mirrorable */
#define HMM_MPTE_ORDER_SHIFT	6		/* CPU mapping order, 5 bits */
#define HMM_MPTE_EXCLUSIVE	BIT_ULL(11)	/* the CPU is kept off the page */
#define HMM_MPTE_ORDER_MASK	(0x1fULL << HMM_MPTE_ORDER_SHIFT)
#define HMM_MPTE_PFN_SHIFT	12

/**
 * hmm_mpte_pfn() - the page frame number of a mirror page table entry
 * @entry: a valid entry
 */
static inline unsigned long hmm_mpte_pfn(u64 entry)
{
	return entry >> HMM_MPTE_PFN_SHIFT;
}

/**
 * hmm_mpte_order() - order of the CPU mapping the entry was part of
 * @entry: a valid entry
 *
 * 0 for a base page, PMD_SHIFT - PAGE_SHIFT for a page of a PMD-mapped THP
 * or huge page, PUD_SHIFT - PAGE_SHIFT for a PUD-mapped one.
 */
static inline unsigned int hmm_mpte_order(u64 entry)
{
	return (entry & HMM_MPTE_ORDER_MASK) >> HMM_MPTE_ORDER_SHIFT;
}

/**
 * struct hmm_update - an invalidation, as the driver sees it
 * @start: first address of the range (page aligned)
 * @end: end of the range (exclusive, page aligned)
 * @event: what the CPU is doing (MMU_NOTIFY_UNMAP, _CLEAR, _PROTECTION_VMA,
 *	_PROTECTION_PAGE, _SOFT_DIRTY, _RELEASE, _MIGRATE, _EXCLUSIVE)
 * @blockable: false in contexts that must not sleep (OOM reaper)
 */
struct hmm_update {
	unsigned long start;
	unsigned long end;
	enum mmu_notifier_event event;
	bool blockable;
};

/**
 * struct hmm_mirror_ops - driver callbacks of a mirror
 * @invalidate: optional. Called with the mirror lock held for writing
 *	before the entries of @update's range are cleared: stop device
 *	access to the range (the entries are still readable, e.g. to find
 *	what the device cached).
 *	Called once per watched 2 MiB leaf the CPU change touches, with the
 *	part of it inside that leaf (see Invalidation above); once, with the
 *	whole change, in HMM_MIRROR_WATCH_ALL mode.
 *	Also called by hmm_mirror_unregister() (MMU_NOTIFY_RELEASE over
 *	[0, ULONG_MAX)). Return 0, or -EAGAIN only when !@update->blockable
 *	and the driver cannot proceed without sleeping.
 * @release: optional. The mm is gone: stop all device work on the mirror
 *	(it may wait for the driver's fault workers). Called at most once,
 *	never after hmm_mirror_unregister() returned.
 * @free: required. The last reference was dropped: the embedding structure
 *	may be freed. Called in process context, from hmm_mirror_put().
 */
struct hmm_mirror_ops {
	int (*invalidate)(struct hmm_mirror *mirror,
			  const struct hmm_update *update);
	void (*release)(struct hmm_mirror *mirror);
	void (*free)(struct hmm_mirror *mirror);
};

/**
 * struct hmm_device - a driver's registration with the HMM core
 * @ops: callbacks of every mirror of this device
 * @dev: optional: DMA-map mirrored pages for this device
 * @owner: optional cookie: device-private pages of this owner are mirrored
 *	as such (devices sharing an owner reach each other's memory), and
 *	exclusive access that this owner started itself does not invalidate
 *	its mirrors. Defaults to the hmm_device.
 * @nr_mirrors: private: mirrors registered and not yet unregistered
 * @nr_unfreed: private: mirrors registered whose ->free has not returned
 */
struct hmm_device {
	const struct hmm_mirror_ops *ops;
	struct device *dev;
	void *owner;
	atomic_t nr_mirrors;
	atomic_t nr_unfreed;
};

/**
 * struct hmm_mirror_stats - what a mirror has done since it was registered
 * @faults: calls of hmm_mirror_fault(), hmm_mirror_fault_stoppable(),
 *	hmm_mirror_fault_and_lock() and hmm_mirror_snapshot() that started
 *	(the mirror was registered and the range valid), whatever their
 *	outcome
 * @faulted_pages: valid entries that on-demand faults stored (faults
 *	without HMM_MIRROR_PREFETCH or HMM_MIRROR_SNAPSHOT): a fault of N
 *	present or faultable pages adds N, also for pages already mirrored
 *	(and hmm_mirror_fault_and_lock() adds a leaf's again when it fills
 *	the leaf again after an invalidation)
 * @prefetched_pages: valid entries that faults with HMM_MIRROR_PREFETCH or
 *	HMM_MIRROR_SNAPSHOT stored (the pages present for a snapshot)
 * @invalidations: CPU-side invalidations (mmu notifier) that dropped at
 *	least one entry of this mirror, counted per watched 2 MiB leaf: one
 *	CPU change over three mirrored leaves counts three; those that found
 *	nothing mirrored in their range are not counted
 * @invalidated_pages: entries that those invalidations dropped
 * @dirtied_pages: pages marked dirty as their entries were dropped (by
 *	invalidations, hmm_mirror_discard() or unregister)
 *
 * Entries dropped by hmm_mirror_discard() and unregister are not
 * invalidations: the driver itself let them go.
 */
struct hmm_mirror_stats {
	u64 faults;
	u64 faulted_pages;
	u64 prefetched_pages;
	u64 invalidations;
	u64 invalidated_pages;
	u64 dirtied_pages;
};

/*
 * The counters behind struct hmm_mirror_stats (private): atomics of the
 * mirror, updated once per leaf or call rather than per page, mostly
 * under the mirror lock whose cache line the updater holds anyway.
 */
struct hmm_mirror_counters {
	atomic64_t faults;
	atomic64_t faulted_pages;
	atomic64_t prefetched_pages;
	atomic64_t invalidations;
	atomic64_t invalidated_pages;
	atomic64_t dirtied_pages;
};

/**
 * struct hmm_mirror - a device's mirror of one mm (embed it, fields private)
 * @hdev: the device
 * @hmm: the mm's hmm; NULL once unregistered
 * @mm: the mirrored mm (identity only: held by mmgrab while registered)
 * @dma_dev: @hdev->dev when registered: DMA-map for it if set
 * @list: on @hmm's mirror list while linked
 * @kref: references; the last put calls ops->free
 * @released: completed once ops->release has returned
 * @active: read by faults in flight, written by unregister to end them
 * @dead: set by unregister under @active: no fault may start
 * @callback_task: the task inside ->invalidate or ->release, if any
 * @watch_lock: serialises changes of @watched
 * @watched: the interval notifier of each watched leaf, indexed as @pt:
 *	what invalidates the mirror, and the sequence its faults retry on
 * @reap_lock: protects @reap
 * @reap: watches whose leaf was left empty, for @reap_work to remove
 * @reap_work: removes the watches of @reap that are still idle (and
 *	looks again later at those a fault held)
 * @lock: written by page table updates, invalidations, discard, unregister
 *	and mode changes; read by device lookups (see Locking above)
 * @nb_writers: non-blockable invalidations (the OOM reaper) trying to take
 *	@lock: while not 0, new readers wait before they take it
 * @pt: page table leaves, indexed by address >> (PAGE_SHIFT + 9)
 * @dma: DMA address leaves, same index, when @hdev->dev is set
 * @dma_huge: the DMA mapping of a huge page's part in a leaf, same index
 *	(a struct hmm_dma_huge, private to the core), if one is in use
 * @nr_valid: valid entries now (under @lock)
 * @modes: HMM_MIRROR_DIRTY_ON_DROP and the like (written under @lock;
 *	HMM_MIRROR_WATCH_ALL under @watch_lock too)
 * @stats: the counters of hmm_mirror_read_stats()
 */
struct hmm_mirror {
	struct hmm_device *hdev;
	struct hmm *hmm;
	struct mm_struct *mm;
	struct device *dma_dev;
	struct list_head list;
	struct kref kref;
	struct completion released;
	struct rw_semaphore active;
	bool dead;
	struct task_struct *callback_task;
	struct mutex watch_lock;	/* changes watched */
	struct xarray watched;
	spinlock_t reap_lock;		/* protects reap */
	struct list_head reap;
	struct delayed_work reap_work;
	struct rw_semaphore lock;	/* the page table: see above */
	atomic_t nb_writers;
	struct xarray pt;
	struct xarray dma;
	struct xarray dma_huge;
	unsigned long nr_valid;
	unsigned int modes;
	struct hmm_mirror_counters stats;
};

/*
 * A leaf of the mirror page table: 512 entries, the mirror of 2 MiB of
 * address space aligned on 2 MiB, allocated on fault, freed when emptied
 * (by an invalidation or hmm_mirror_discard()).
 */
#define HMM_MIRROR_LEAF_SHIFT	(PAGE_SHIFT + 9)
#define HMM_MIRROR_LEAF_SIZE	BIT(HMM_MIRROR_LEAF_SHIFT)

/* Flags of hmm_mirror_fault() */
#define HMM_MIRROR_WRITE	BIT(0)	/* make pages writable (breaks COW) */
#define HMM_MIRROR_SNAPSHOT	BIT(1)	/* fault nothing: record what is there */
/*
 * The fault runs ahead of the device's need (prefetch, fault-ahead): it
 * faults as any other, and its pages count as prefetched_pages instead
 * of faulted_pages in struct hmm_mirror_stats.
 */
#define HMM_MIRROR_PREFETCH	BIT(2)

/*
 * hmm_mirror_fault_and_lock() only: every page of the range is optional
 * (faulted if it can be, skipped if not), as if req_end were start.
 */
#define HMM_MIRROR_OPTIONAL	BIT(3)

/*
 * hmm_mirror_fault() and hmm_mirror_fault_stoppable() only: each attempt
 * takes the mmap lock by a trylock, and the call ends with -EWOULDBLOCK
 * if it cannot be had at once (a writer holds it or waits for it, maybe
 * behind another fault of the mm blocked on a file system holding it for
 * reading). The leaves filled before stay filled.
 */
#define HMM_MIRROR_NOWAIT	BIT(4)

/**
 * struct hmm_mirror_range - a request of hmm_mirror_fault_and_lock()
 * @start: first address, page aligned
 * @end: end of the range (exclusive), page aligned
 * @req_end: end of its required part, page aligned, in [@start, @end]; 0
 *	for all of it. The pages of [@req_end, @end) are optional: faulted
 *	where they can be, skipped where they cannot (fault-ahead)
 * @flags: HMM_MIRROR_WRITE, HMM_MIRROR_PREFETCH (count as prefetched, for
 *	a prefetch or fault-ahead), HMM_MIRROR_OPTIONAL (no page required)
 * @stop: optional, as for hmm_mirror_fault_stoppable(): true ends the
 *	fault with -ECANCELED
 * @arg: its argument
 * @filled: out, on success: the pages of [@start, @end) whose entries are
 *	valid (and writable for HMM_MIRROR_WRITE) when the call returns,
 *	all the required ones among them
 */
struct hmm_mirror_range {
	unsigned long start;
	unsigned long end;
	unsigned long req_end;
	unsigned int flags;
	bool (*stop)(void *arg);
	void *arg;
	unsigned long filled;
};

/*
 * Modes of a mirror (hmm_mirror_set_modes()). DIRTY_ON_DROP: the device
 * writes pages without the driver knowing which (DMA): every writable
 * entry dropped marks its page dirty, not only the hmm_mirror_set_dirty()
 * ones.
 */
#define HMM_MIRROR_DIRTY_ON_DROP	BIT(0)
/*
 * WATCH_ALL: one notifier over the whole address space instead of one per
 * 2 MiB leaf mirrored: every CPU change of the mm reaches the mirror (and
 * makes its faults in flight retry), as with test_hmm. For a driver that
 * mirrors a dense address space; chosen before the first fault (see
 * hmm_mirror_set_modes()).
 */
#define HMM_MIRROR_WATCH_ALL		BIT(1)

/*
 * How long a fault keeps retrying while invalidations keep racing it and
 * it makes no progress (faults no page in); however much progress it makes,
 * one call gives up after HMM_MIRROR_FAULT_MAX_MS in all (another thread of
 * the process can invalidate what it has just faulted, over and over; a
 * caller that may stop waiting sooner uses hmm_mirror_fault_stoppable()).
 */
#define HMM_MIRROR_FAULT_TIMEOUT_MS	1000
#define HMM_MIRROR_FAULT_MAX_MS		10000

/*
 * The largest range hmm_mirror_fault_and_lock() takes (1 GiB): it keeps
 * every leaf of the range filled at once, with a record per leaf, and
 * takes the lock over all of them; a larger one is refused with -E2BIG
 * (fault it in pieces, or fault-and-lock the part the device needs now).
 */
#define HMM_MIRROR_LOCK_MAX_SIZE	BIT(30)

int hmm_device_register(struct hmm_device *hdev);
void hmm_device_unregister(struct hmm_device *hdev);

int hmm_mirror_register(struct hmm_mirror *mirror, struct hmm_device *hdev,
			struct mm_struct *mm);
void hmm_mirror_unregister(struct hmm_mirror *mirror);
struct hmm_mirror *hmm_mirror_get(struct hmm_mirror *mirror);
void hmm_mirror_put(struct hmm_mirror *mirror);
bool hmm_mirror_is_mm(const struct hmm_mirror *mirror,
		      const struct mm_struct *mm);

int hmm_mirror_fault(struct hmm_mirror *mirror, unsigned long start,
		     unsigned long end, unsigned int flags);
int hmm_mirror_fault_stoppable(struct hmm_mirror *mirror, unsigned long start,
			       unsigned long end, unsigned int flags,
			       bool (*stop)(void *arg), void *arg);
bool hmm_mirror_fault_may_wait(struct hmm_mirror *mirror, unsigned long start,
			       unsigned long end);
int hmm_mirror_fault_may_wait_trylock(struct hmm_mirror *mirror,
				      unsigned long start, unsigned long end);
int hmm_mirror_snapshot(struct hmm_mirror *mirror, unsigned long start,
			unsigned long end, u64 *entries);
int hmm_mirror_fault_and_lock(struct hmm_mirror *mirror,
			      struct hmm_mirror_range *req);

void hmm_mirror_lock(struct hmm_mirror *mirror);
void hmm_mirror_unlock(struct hmm_mirror *mirror);
void hmm_mirror_read_lock(struct hmm_mirror *mirror);
void hmm_mirror_read_unlock(struct hmm_mirror *mirror);
void hmm_mirror_read_lock_two(struct hmm_mirror *a, struct hmm_mirror *b);
void hmm_mirror_read_unlock_two(struct hmm_mirror *a, struct hmm_mirror *b);
u64 hmm_mirror_lookup(struct hmm_mirror *mirror, unsigned long addr);
unsigned long hmm_mirror_lookup_range(struct hmm_mirror *mirror,
				      unsigned long start,
				      unsigned long npages, u64 *entries);
unsigned long hmm_mirror_count_valid(struct hmm_mirror *mirror,
				     unsigned long start, unsigned long end,
				     unsigned long *budget);
void hmm_mirror_discard(struct hmm_mirror *mirror, unsigned long start,
			unsigned long end);
dma_addr_t hmm_mirror_dma_addr(struct hmm_mirror *mirror, unsigned long addr);
int hmm_mirror_set_dirty(struct hmm_mirror *mirror, unsigned long addr);
int hmm_mirror_set_modes(struct hmm_mirror *mirror, unsigned int modes);
void hmm_mirror_read_stats(struct hmm_mirror *mirror,
			   struct hmm_mirror_stats *stats);

#endif /* _HMM_MIRROR_H */
