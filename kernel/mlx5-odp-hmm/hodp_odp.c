// SPDX-License-Identifier: GPL-2.0
/*
 * hodp: on-demand paging on HMM mirrors. An ODP MR pins nothing: its
 * translation is the HMM mirror of the registering process (one mirror per
 * device and mm, shared by that process's ODP MRs). An access looks the
 * page up under the mirror lock (for reading: the accesses of other QPs
 * run at once); a missing or read-only entry is a page
 * fault, resolved through the mirror (hmm_mirror_fault(), faulting ahead
 * up to the end of the segment, 2 MiB at most), and the access tries
 * again. While the lock is held no invalidation of the mirror completes,
 * so a CPU page-table change waits for the copy of the page in flight and
 * the device touches none of its pages after.
 *
 * A WQE's first misses are fault events (hodp_fault.c): its QP stops,
 * a worker resolves the fault, the QP resumes; so are the misses of an
 * RDMA WRITE's, READ's or SEND's copy (hodp_copy_resumable()), of a UD
 * datagram's (hodp_copy_datagram()), of an atomic's page or result. What
 * else misses after (a WQE past its events' bound, a datagram whose
 * responder holds another sender's receive) is faulted where the access
 * happens (the QP's worker or the doorbell system call, never under a
 * spinlock).
 */
#include <linux/highmem.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "hodp.h"
#include "hodp_trace.h"

/*
 * The leaves of implicit MRs. An implicit MR's translation is its mirror,
 * whose 2 MiB leaves play mlx5's child MRs: allocated by the fault that
 * first touches them, freed when an invalidation empties them (the
 * process unmapped the memory). The leaves a mirror's implicit MRs fault
 * in are also kept to a bound while the memory stays mapped: past
 * implicit_leaves of them, a fault first drops an idle one with
 * hmm_mirror_discard(), and a later access to it only faults it in again
 * (ODP semantics: an entry may go at any time). So the tables grow with
 * the memory the device touched, up to the bound, never with the size
 * registered, and a long run through memory it keeps mapped stays under
 * it.
 *
 * The default, 128 leaves, is 512 KiB of table per mirror and covers
 * 256 MiB (leaves of 2 MiB: 512 entries of 4 KiB pages): the buffers a
 * process would otherwise have registered explicitly (MPI, storage) fit,
 * and take no refault; past it, a refault costs one walk of a leaf whose
 * pages are still present. Each mirror reads the parameter once, when its
 * first implicit MR registers; a value out of range is refused.
 *
 * Which to drop is a clock: slot[] holds the leaves faulted through an
 * implicit MR in the order they came, the hand the oldest. An access
 * through an implicit MR marks its leaf's byte in hot[] (a WRITE_ONCE of
 * 1, under the mirror read lock it holds anyway, which other readers may
 * store at once: the same byte, the same value; hot[] is indexed by the
 * leaf index's low bits, so two leaves may share a byte: one is then kept
 * once too often), and so do a fault of a leaf already kept and a leaf's arrival.
 * The hand skips a hot leaf once, clearing its byte, and takes the first
 * one that is not, at most one turn on. A slot whose leaf an
 * invalidation freed stays until the hand takes it (discarding it then
 * costs a lookup).
 *
 * A leaf that an explicit ODP MR of the mirror overlaps is dropped from
 * the clock but not discarded: the explicit MR's table is bounded by its
 * size, and its entries are left alone. An explicit MR registered
 * between that check and the discard may lose entries of its snapshot:
 * a refault, nothing else. The check is one descent of the tree of the
 * mirror's explicit MRs (implicit ones, up to 65536 of them, all covering
 * every leaf, are kept in a tree of their own).
 *
 * Lock: hodp_leaves.lock, a spinlock, is a leaf: taken with no lock of
 * hodp or of the mirror held (faults hold qp->req_lock at most), never
 * held across hmm_mirror_discard() or a fault. hot[] is read and written
 * with READ_ONCE/WRITE_ONCE, without it.
 */
#define HODP_LEAVES_MIN		16
#define HODP_LEAVES_MAX		8192

static unsigned int implicit_leaves = 128;

/* Written by root, all the same: a value out of range is refused. */
static int implicit_leaves_set(const char *val, const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, HODP_LEAVES_MIN,
				     HODP_LEAVES_MAX);
}

static const struct kernel_param_ops implicit_leaves_ops = {
	.set = implicit_leaves_set,
	.get = param_get_uint,
};

module_param_cb(implicit_leaves, &implicit_leaves_ops, &implicit_leaves,
		0644);
MODULE_PARM_DESC(implicit_leaves,
		 "leaves (2 MiB) of mirror table a process's implicit ODP MRs keep at most (16-8192, default 128); read when its first implicit MR registers");

struct hodp_leaves {
	spinlock_t lock;		/* nr, hand, slot[] */
	unsigned int cap;		/* slots */
	unsigned int nr;		/* slots in use */
	unsigned int hand;		/* the next to look at, when full */
	unsigned int hot_mask;		/* hot[] has hot_mask + 1 bytes */
	u8 *hot;			/* after slot[] */
	unsigned long slot[];		/* leaf indices */
};

static unsigned long leaf_of(unsigned long addr)
{
	return addr >> HMM_MIRROR_LEAF_SHIFT;
}

/* Up to 80 KiB (8192 slots and their bytes): vmalloc'ed when it must be. */
static struct hodp_leaves *leaves_alloc(void)
{
	/* In range already (implicit_leaves_set()); clamped all the same. */
	unsigned int cap = clamp(READ_ONCE(implicit_leaves), HODP_LEAVES_MIN,
				 HODP_LEAVES_MAX);
	unsigned int nhot = roundup_pow_of_two(2 * cap);
	struct hodp_leaves *l;

	if (hodp_should_fail_alloc())
		return NULL;
	l = kvzalloc(struct_size(l, slot, cap) + nhot, GFP_KERNEL);
	if (!l)
		return NULL;
	spin_lock_init(&l->lock);
	l->cap = cap;
	l->hot_mask = nhot - 1;
	l->hot = (u8 *)&l->slot[cap];
	return l;
}

static void leaf_mark_hot(struct hodp_leaves *l, unsigned long leaf)
{
	u8 *hot = &l->hot[leaf & l->hot_mask];

	if (!READ_ONCE(*hot))
		WRITE_ONCE(*hot, 1);
}

/*
 * Is @leaf on the clock? The latest first (the slots before the hand,
 * back, then the rest): a fault is most often in a leaf just faulted.
 */
static bool leaves_find(struct hodp_leaves *l, unsigned long leaf)
{
	unsigned int i;

	lockdep_assert_held(&l->lock);
	for (i = l->hand; i-- > 0;)
		if (l->slot[i] == leaf)
			return true;
	for (i = l->nr; i-- > l->hand;)
		if (l->slot[i] == leaf)
			return true;
	return false;
}

/*
 * Keep @leaf: already kept, it is marked hot; else it takes a free slot,
 * or the slot of the leaf the hand drops, which is returned in @victim
 * (true then).
 */
static bool leaves_add(struct hodp_leaves *l, unsigned long leaf,
		       unsigned long *victim)
{
	unsigned int steps;

	spin_lock(&l->lock);
	if (leaves_find(l, leaf)) {
		spin_unlock(&l->lock);
		leaf_mark_hot(l, leaf);
		return false;
	}
	if (l->nr < l->cap) {
		l->slot[l->nr++] = leaf;
		spin_unlock(&l->lock);
		leaf_mark_hot(l, leaf);
		return false;
	}
	for (steps = 0; steps < l->cap; steps++) {
		u8 *hot = &l->hot[l->slot[l->hand] & l->hot_mask];

		if (!READ_ONCE(*hot))
			break;
		WRITE_ONCE(*hot, 0);
		l->hand = (l->hand + 1) % l->cap;
	}
	*victim = l->slot[l->hand];
	l->slot[l->hand] = leaf;
	l->hand = (l->hand + 1) % l->cap;
	spin_unlock(&l->lock);
	/* New: it stays a whole turn, not until another fault's sweep. */
	leaf_mark_hot(l, leaf);
	return true;
}

/*
 * Does an explicit ODP MR of @odp overlap leaf @leaf? The tree holds the
 * explicit ones alone (hodp_odp_stats_add()): one descent.
 */
static bool leaf_explicit(struct hodp_odp *odp, unsigned long leaf)
{
	unsigned long first = leaf << HMM_MIRROR_LEAF_SHIFT;
	unsigned long last = first + HMM_MIRROR_LEAF_SIZE - 1;
	bool found;

	hmm_mirror_read_lock(&odp->mirror);
	found = interval_tree_iter_first(&odp->mrs, first, last);
	hmm_mirror_read_unlock(&odp->mirror);
	return found;
}

/**
 * hodp_odp_implicit_touch() - an implicit MR is about to fault a range
 * @mr: an implicit ODP MR
 * @start: first user address of the range, page aligned
 * @end: end of the range (exclusive), page aligned
 *
 * Keeps the leaves of [start, end) on the mirror's clock, and drops the
 * leaves that makes one too many (see above), before the fault allocates
 * its own. The bound is soft: a leaf dropped while another fault of it
 * is in flight is filled again by that fault, off the clock, until an
 * invalidation or the process's unmap frees it.
 * Sleeps; call it with no lock of the mirror held.
 */
void hodp_odp_implicit_touch(struct hodp_mr *mr, unsigned long start,
			     unsigned long end)
{
	struct hodp_odp *odp = mr->odp;
	struct hodp_leaves *l = READ_ONCE(odp->leaves);
	unsigned long leaf, victim;

	if (!mr->implicit || end <= start)
		return;
	for (leaf = leaf_of(start); leaf <= leaf_of(end - 1); leaf++) {
		if (!leaves_add(l, leaf, &victim) || leaf_explicit(odp, victim))
			continue;
		hmm_mirror_discard(&odp->mirror,
				   victim << HMM_MIRROR_LEAF_SHIFT,
				   (victim + 1) << HMM_MIRROR_LEAF_SHIFT);
	}
}

/* The core's device: its ->free is the last use of an hodp_odp. */
static void hodp_odp_free(struct hmm_mirror *mirror)
{
	struct hodp_odp *odp = container_of(mirror, struct hodp_odp, mirror);

	/* Each event counted or waiting keeps an MR, and so this, its user. */
	for (int i = 0; i < HODP_LANES; i++)
		WARN_ON_ONCE(odp->lanes[i].running ||
			     !list_empty(&odp->lanes[i].waiting));
	WARN_ON_ONCE(odp->lock_turn.running ||
		     !list_empty(&odp->lock_turn.waiting));
	kvfree(odp->leaves);
	kfree(odp);
}

static const struct hmm_mirror_ops hodp_mirror_ops = {
	.invalidate = hodp_odp_invalidate,	/* counts (hodp_odp_stats.c) */
	.free = hodp_odp_free,
};

static struct hmm_device hodp_hmm_dev = {
	.ops = &hodp_mirror_ops,
};

/* How far a fault reaches ahead of the page that missed. */
#define HODP_FAULT_AHEAD	SZ_2M

/* How much of a new ODP MR's range registration looks at (odp_snapshot). */
#define HODP_REG_SNAPSHOT_MAX	SZ_1G

/**
 * hodp_odp_init() - register hodp with the HMM core (module load)
 *
 * Return: 0 or a negative errno.
 */
int hodp_odp_init(void)
{
	return hmm_device_register(&hodp_hmm_dev);
}

/**
 * hodp_odp_exit() - unregister from the HMM core (module unload)
 *
 * Waits until every mirror of hodp has been freed.
 */
void hodp_odp_exit(void)
{
	hmm_device_unregister(&hodp_hmm_dev);
}

/* A user more of @dev's mirror of current->mm, if it has one. */
static struct hodp_odp *odp_find_locked(struct hodp_dev *dev)
{
	struct hodp_odp *odp;

	lockdep_assert_held(&dev->odp_lock);
	list_for_each_entry(odp, &dev->odp_mirrors, list) {
		if (hmm_mirror_is_mm(&odp->mirror, current->mm)) {
			odp->users++;
			return odp;
		}
	}
	return NULL;
}

/*
 * The device's mirror of current->mm, with one more user. A new mirror is
 * registered outside odp_lock: registration takes the mm's mmap lock, which
 * its process may hold for long, and the lock is the whole device's.
 */
static struct hodp_odp *odp_get(struct hodp_dev *dev)
{
	struct hodp_odp *odp, *found;
	int ret;

	mutex_lock(&dev->odp_lock);
	found = odp_find_locked(dev);
	mutex_unlock(&dev->odp_lock);
	if (found)
		return found;
	odp = hodp_kzalloc(sizeof(*odp));
	if (!odp)
		return ERR_PTR(-ENOMEM);
	for (int i = 0; i < HODP_LANES; i++)
		INIT_LIST_HEAD(&odp->lanes[i].waiting);
	INIT_LIST_HEAD(&odp->lock_turn.waiting);
	ret = hmm_mirror_register(&odp->mirror, &hodp_hmm_dev, current->mm);
	if (ret) {
		kfree(odp);
		pr_warn_ratelimited("hodp: %s: cannot mirror the address space of pid %d: %d\n",
				    dev_name(&dev->ibdev.dev),
				    task_pid_nr(current), ret);
		return ERR_PTR(ret);
	}
	mutex_lock(&dev->odp_lock);
	/* Another thread of the process may have been first. */
	found = odp_find_locked(dev);
	if (!found) {
		odp->users = 1;
		list_add(&odp->list, &dev->odp_mirrors);
		atomic_inc(&dev->nr_mirror);
	}
	mutex_unlock(&dev->odp_lock);
	if (found) {
		hmm_mirror_unregister(&odp->mirror);
		hmm_mirror_put(&odp->mirror);
		return found;
	}
	return odp;
}

/* Drop a user; the last one unregisters the mirror. */
static void odp_put(struct hodp_dev *dev, struct hodp_odp *odp)
{
	bool last;

	mutex_lock(&dev->odp_lock);
	last = !--odp->users;
	if (last) {
		list_del(&odp->list);
		atomic_dec(&dev->nr_mirror);
	}
	mutex_unlock(&dev->odp_lock);
	if (last) {
		hmm_mirror_unregister(&odp->mirror);
		hmm_mirror_put(&odp->mirror);
	}
}

/*
 * Record what the process has mapped in the MR's range already, faulting
 * nothing, so warm memory takes no fault on first use (the core allocates
 * no table where nothing is present). Bounded, so that a registration's
 * cost does not grow with its size: past HODP_REG_SNAPSHOT_MAX, first use
 * faults. Best effort: a failed snapshot only means faults later.
 */
static void odp_snapshot(struct hodp_mr *mr)
{
	unsigned long start = mr->uaddr & PAGE_MASK;
	unsigned long end = PAGE_ALIGN(mr->uaddr + mr->length);
	int ret;

	end = min(end, start + HODP_REG_SNAPSHOT_MAX);
	if (end <= start)
		return;
	ret = hmm_mirror_fault(&mr->odp->mirror, start, end,
			       HMM_MIRROR_SNAPSHOT);
	if (ret)
		pr_debug("hodp: snapshot of 0x%lx-0x%lx failed: %d\n", start,
			 end, ret);
}

/**
 * hodp_odp_reg_mr() - make @mr an ODP MR of the calling process
 * @dev: the device
 * @mr: the MR being registered (its range set)
 * @start: user address of the range
 *
 * Nothing is faulted or pinned: the pages present now are recorded (up to
 * HODP_REG_SNAPSHOT_MAX), the others are mirrored when first accessed.
 *
 * Return: 0 or a negative errno.
 */
int hodp_odp_reg_mr(struct hodp_dev *dev, struct hodp_mr *mr, u64 start)
{
	struct hodp_odp *odp;

	if (!current->mm)
		return -EINVAL;
	odp = odp_get(dev);
	if (IS_ERR(odp))
		return PTR_ERR(odp);
	/* The first implicit MR of the mirror sets the bound of its leaves. */
	if (mr->implicit && !READ_ONCE(odp->leaves)) {
		struct hodp_leaves *l = leaves_alloc();

		if (!l) {
			odp_put(dev, odp);
			return -ENOMEM;
		}
		if (cmpxchg(&odp->leaves, NULL, l))
			kvfree(l);
	}
	mr->odp = odp;
	mr->uaddr = start;
	/* An implicit MR's cost stays constant: its first uses fault. */
	if (!mr->implicit)
		odp_snapshot(mr);
	return 0;
}

/**
 * hodp_odp_dereg_mr() - drop @mr's use of its mirror
 * @mr: an ODP MR no access uses any more
 */
void hodp_odp_dereg_mr(struct hodp_mr *mr)
{
	odp_put(mr->dev, mr->odp);
	mr->odp = NULL;
}

/**
 * hodp_odp_uaddr() - the user address of an address of an ODP MR
 * @mr: the MR
 * @addr: an address in its range (checked by the caller)
 *
 * Return: that address in the registering process's address space.
 */
unsigned long hodp_odp_uaddr(const struct hodp_mr *mr, u64 addr)
{
	return mr->uaddr + (addr - mr->iova);
}

/* Does the entry give what the access needs? */
static bool entry_ok(u64 entry, bool write)
{
	return (entry & HMM_MPTE_VALID) && !(entry & HMM_MPTE_DEVICE) &&
	       (!write || (entry & HMM_MPTE_WRITE));
}

/* The end of a fault at @start for an access up to @limit (below). */
static unsigned long fault_end(unsigned long start, unsigned long limit)
{
	unsigned long end = min(PAGE_ALIGN(limit), start + HODP_FAULT_AHEAD);

	return max(end, start + PAGE_SIZE);
}

/**
 * hodp_odp_fault_may_wait() - may hodp_odp_fault() of this access wait on
 *	a file system (a FUSE server, a hard NFS mount)?
 * @mr: an ODP MR, kept
 * @uaddr: the user address the access needs
 * @limit: the end of the access (exclusive)
 * @trylock: if the process's mmap lock cannot be had at once, do not wait
 *	for it (a writer may wait for it behind a fault of a file holding it)
 *
 * Looks at the mappings of the range hodp_odp_fault() would fault
 * (hmm_mirror_fault_may_wait(), or its trylock form: under the mmap lock,
 * as the fault). Sleeps.
 *
 * Return: 1 if it may, 0 if not, -EWOULDBLOCK if @trylock and the lock
 * could not be had.
 */
int hodp_odp_fault_may_wait(struct hodp_mr *mr, unsigned long uaddr,
			    unsigned long limit, bool trylock)
{
	unsigned long start = uaddr & PAGE_MASK;
	unsigned long end = fault_end(start, limit);

	if (trylock)
		return hmm_mirror_fault_may_wait_trylock(&mr->odp->mirror,
							 start, end);
	return hmm_mirror_fault_may_wait(&mr->odp->mirror, start, end);
}

/**
 * hodp_odp_fault() - resolve a page fault of an ODP MR
 * @mr: the MR
 * @uaddr: the user address that missed
 * @limit: the end of the access (user address, exclusive)
 * @write: the access writes
 * @how: HODP_ODP_NOWAIT: the mirror's fault takes the mmap lock by
 *	trylocks (HMM_MIRROR_NOWAIT), for a worker that must not wait for it
 *	behind a writer; HODP_ODP_AGAIN: the same fault again, after it
 *	returned -EWOULDBLOCK (counted in odp_faults and delayed once, traced
 *	when it ends: not if its caller lets it go before running it again)
 * @stop: NULL, or what says the access no longer waits for the fault (its
 *	QP closing, its MR being deregistered): asked before each attempt of
 *	the mirror's fault (hmm_mirror_fault_stoppable()), which then ends
 *	with -ECANCELED
 * @arg: its argument
 *
 * Mirrors from its page to the end of the access, HODP_FAULT_AHEAD at
 * most (never further: a write fault allocates pages and breaks COW), or
 * that page alone if the longer range cannot be (part of it unmapped or
 * read-only, or invalidations of its leaves kept racing its fault: one
 * page is a shorter window for them). Sleeps; the caller may
 * hold its QP's req_lock, never a mirror lock.
 * Counted in odp_faults, failed or not, and the pages it mirrored in the
 * MR's page_faults.
 *
 * Return: 0, or the errno of hmm_mirror_fault_stoppable() (-ECANCELED
 * when @stop said so; with HODP_ODP_NOWAIT, -EWOULDBLOCK, not traced:
 * the caller runs the fault again with HODP_ODP_AGAIN, a few times more
 * without waiting, then where it may wait for the lock).
 */
int hodp_odp_fault(struct hodp_mr *mr, unsigned long uaddr,
		   unsigned long limit, bool write, unsigned int how,
		   bool (*stop)(void *arg), void *arg)
{
	unsigned long start = uaddr & PAGE_MASK;
	unsigned long end = fault_end(start, limit);
	unsigned int flags = write ? HMM_MIRROR_WRITE : 0;
	int ret;

	if (how & HODP_ODP_NOWAIT)
		flags |= HMM_MIRROR_NOWAIT;
	if (!(how & HODP_ODP_AGAIN)) {
		hodp_count(mr->dev, HODP_CNT_ODP_FAULTS);
		/*
		 * Debugging kernels: a slow fault, counted as begun (a test
		 * sees it under way), before the stop is first asked (a
		 * closing QP waits for the delay: only a test sets one).
		 */
		hodp_inject_fault_delay();
	}
	hodp_odp_implicit_touch(mr, start, end);
	ret = hmm_mirror_fault_stoppable(&mr->odp->mirror, start, end, flags,
					 stop, arg);
	/*
	 * Unmapped or read-only further on, or raced by invalidations for
	 * the whole timeout (memory pressure: the process's own pages being
	 * reclaimed): the page the access needs alone, a shorter fault.
	 */
	if ((ret == -EFAULT || ret == -EPERM || ret == -EBUSY) &&
	    end > start + PAGE_SIZE) {
		end = start + PAGE_SIZE;
		ret = hmm_mirror_fault_stoppable(&mr->odp->mirror, start, end,
						 flags, stop, arg);
	}
	if (ret == -EWOULDBLOCK)
		return ret;
	trace_hodp_odp_fault(mr, uaddr, start, end, write, ret);
	if (!ret)	/* pages, as mlx5 counts them (hodp_odp_stats.c) */
		atomic64_add((end - start) >> PAGE_SHIFT,
			     &mr->odp_stats.faults);
	if (ret)
		pr_debug("hodp: fault at 0x%lx (%s) failed: %d\n", uaddr,
			 write ? "write" : "read", ret);
	return ret;
}

/**
 * hodp_odp_page_locked() - the page behind an address of an ODP MR
 * @mr: the MR, its mirror locked (hmm_mirror_read_lock() is enough)
 * @addr: an address in its range
 * @write: the access writes
 *
 * Return: the page, valid while the lock is held, or NULL on a miss (the
 * caller unlocks and calls hodp_odp_fault()).
 */
struct page *hodp_odp_page_locked(struct hodp_mr *mr, u64 addr, bool write)
{
	unsigned long uaddr = hodp_odp_uaddr(mr, addr);
	u64 entry = hmm_mirror_lookup(&mr->odp->mirror, uaddr);

	if (!entry_ok(entry, write))
		return NULL;
	/* In use: the clock of implicit leaves keeps it once more. */
	if (mr->implicit)
		leaf_mark_hot(READ_ONCE(mr->odp->leaves), leaf_of(uaddr));
	return pfn_to_page(hmm_mpte_pfn(entry));
}

/**
 * hodp_odp_atomic() - hodp_mr_atomic() on an ODP MR
 * @mr: a referenced ODP MR
 * @addr: an 8-byte aligned address in the MR
 * @cmp_swap: compare-and-swap (else fetch-and-add)
 * @compare_add: the compare value, or the addend
 * @swap: the swap value
 * @orig: out: the value before
 *
 * Return: 0, or -EAGAIN if the page is not mirrored writable (nothing
 * executed: the caller raises a fault event, or fails the atomic).
 */
int hodp_odp_atomic(struct hodp_mr *mr, u64 addr, bool cmp_swap,
		    u64 compare_add, u64 swap, u64 *orig)
{
	struct hmm_mirror *m = &mr->odp->mirror;
	unsigned long uaddr = hodp_odp_uaddr(mr, addr);
	/* Debugging kernels: as if invalidated since the lookups. */
	bool gone = hodp_inject_atomic_miss();
	struct page *page;
	u64 *p;

	/*
	 * Shared: an atomic of another QP on this page is atomic by itself
	 * (cmpxchg64, atomic64), as against the CPU's.
	 */
	hmm_mirror_read_lock(m);
	page = gone ? NULL : hodp_odp_page_locked(mr, addr, true);
	if (!page) {
		hmm_mirror_read_unlock(m);
		return -EAGAIN;
	}
	p = kmap_local_page(page) + (uaddr & ~PAGE_MASK);
	if (cmp_swap)
		*orig = cmpxchg64(p, compare_add, swap);
	else
		*orig = atomic64_fetch_add(compare_add, (atomic64_t *)p);
	kunmap_local(p);
	hmm_mirror_set_dirty(m, uaddr);
	hmm_mirror_read_unlock(m);
	return 0;
}

MODULE_IMPORT_NS(HMM_MIRROR);
