// SPDX-License-Identifier: GPL-2.0
/*
 * The mirror page table: per mirror, one u64 per 4 KiB page (pfn and
 * HMM_MPTE_* flags) in leaves of 512 entries, one page each, kept in an
 * xarray indexed by address >> HMM_PT_LEAF_SHIFT. A mirror that DMA-maps
 * has a second xarray of dma_addr_t leaves with the same index.
 *
 * A valid entry of a CPU mapping of order 9 or more (a PMD-mapped THP or
 * huge page, a PUD-mapped one) shares one DMA mapping with the other
 * entries of that mapping in its leaf: the huge page's part inside the
 * leaf (2 MiB: a 1 GiB page is mapped in 2 MiB pieces, one per leaf) is
 * mapped once, by the first fill of one of its entries, and each entry's
 * DMA address is the mapping's base plus the entry's offset. A struct
 * hmm_dma_huge per leaf, in mirror->dma_huge, records the mapping and
 * which entries use it; the last of them dropped unmaps it, so a drop of
 * part of the leaf (an invalidation, hmm_mirror_discard()) keeps it for
 * the entries left. Other entries are mapped one 4 KiB page at a time.
 *
 * Leaves are allocated by hmm_pt_prepare() before the fault path takes the
 * mirror lock: nothing may allocate under that lock, since reclaim may need
 * it to invalidate the mirror (a huge mapping's record is the exception:
 * GFP_NOWAIT, which never waits for reclaim, its failure costing only the
 * 4 KiB mappings instead). They are freed by the invalidation that
 * leaves them empty; the fault path then finds no leaf under the lock and
 * prepares it again.
 */
#include <linux/dma-mapping.h>
#include <linux/gfp.h>
#include <linux/hmm.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "hmm_internal.h"

static unsigned long leaf_index(unsigned long addr)
{
	return addr >> HMM_PT_LEAF_SHIFT;
}

static unsigned int leaf_slot(unsigned long addr)
{
	return (addr >> PAGE_SHIFT) & (HMM_PT_LEAF_ENTRIES - 1);
}

static int install_leaf(struct xarray *xa, unsigned long index,
			enum hmm_stat stat)
{
	void *leaf, *old;

	if (xa_load(xa, index))
		return 0;
	/* Charged to the memory cgroup of whoever faults (the driver's). */
	leaf = (void *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
	if (!leaf) {
		hmm_stat_add(HMM_STAT_LEAF_FAILED, 1);
		return -ENOMEM;
	}
	old = xa_cmpxchg(xa, index, NULL, leaf, GFP_KERNEL);
	if (old) {
		/* Lost a race with another fault, or out of memory. */
		free_page((unsigned long)leaf);
		if (!xa_is_err(old))
			return 0;
		hmm_stat_add(HMM_STAT_LEAF_FAILED, 1);
		return xa_err(old);
	}
	hmm_stat_add(stat, PAGE_SIZE);
	return 0;
}

/**
 * hmm_pt_prepare() - make sure the leaf covering @addr exists
 * @mirror: the mirror
 * @addr: an address in the leaf
 *
 * Called without the mirror lock, so an invalidation may free the leaves
 * at any point. The DMA leaf goes first: an invalidation between the two
 * then frees both or neither, and never leaves a DMA leaf without its
 * page-table leaf (hmm_pt_clear() frees those too, e.g. after a failed
 * page-table install).
 *
 * Return: 0 or -ENOMEM.
 */
int hmm_pt_prepare(struct hmm_mirror *mirror, unsigned long addr)
{
	int ret = 0;

	if (mirror->dma_dev)
		ret = install_leaf(&mirror->dma, leaf_index(addr),
				   HMM_STAT_DMA_BYTES);
	if (!ret)
		ret = install_leaf(&mirror->pt, leaf_index(addr),
				   HMM_STAT_PT_BYTES);
	return ret;
}

/**
 * hmm_pt_leaf_idle() - does the leaf of @addr mirror nothing?
 * @mirror: the mirror, locked
 * @addr: an address in the leaf
 *
 * Return: true if the leaf has no table, or a table of clear entries (one
 * a fault prepared and did not fill): its watch is of no use any more.
 */
bool hmm_pt_leaf_idle(struct hmm_mirror *mirror, unsigned long addr)
{
	u64 *leaf;

	lockdep_assert_held_write(&mirror->lock);
	leaf = xa_load(&mirror->pt, leaf_index(addr));
	return !leaf || !memchr_inv(leaf, 0, PAGE_SIZE);
}

static u64 hmm_pfn_to_mpte(unsigned long hmm_pfn)
{
	struct page *page;
	unsigned int order;
	u64 entry;

	if (hmm_pfn & HMM_PFN_ERROR)
		return HMM_MPTE_ERROR;
	if (!(hmm_pfn & HMM_PFN_VALID))
		return 0;
	page = hmm_pfn_to_page(hmm_pfn);
	entry = ((u64)page_to_pfn(page) << HMM_MPTE_PFN_SHIFT) | HMM_MPTE_VALID;
	if (hmm_pfn & HMM_PFN_WRITE)
		entry |= HMM_MPTE_WRITE;
	order = hmm_pfn_to_map_order(hmm_pfn);
	if (order)
		entry |= HMM_MPTE_HUGE | ((u64)order << HMM_MPTE_ORDER_SHIFT);
	if (is_device_private_page(page))
		entry |= HMM_MPTE_DEVICE;
	return entry;
}

/*
 * A page shared by several mirrors (fork, shared memory, two devices) is
 * DMA-mapped once per mirror, and the device reads and writes it while the
 * CPU does: mirrors serve only devices whose DMA needs no cache syncs (each
 * mapping is checked with dma_need_sync()), so the syncs are skipped, and
 * with them the DMA API's complaint about overlapping mappings.
 */
#define HMM_DMA_ATTRS	DMA_ATTR_SKIP_CPU_SYNC

/*
 * struct hmm_dma_huge - the one DMA mapping of a huge page's part in a leaf
 * @base: DMA address of the leaf's first page (HMM_PT_LEAF_SIZE mapped)
 * @pfn: pfn of the leaf's first page in the huge page
 * @count: entries of the leaf using it (the bits set in @used)
 * @used: one bit per entry of the leaf that uses it
 *
 * Allocated, changed and freed under the mirror lock.
 */
struct hmm_dma_huge {
	dma_addr_t base;
	unsigned long pfn;
	unsigned int count;
	DECLARE_BITMAP(used, HMM_PT_LEAF_ENTRIES);
};

static void dma_unmap(struct hmm_mirror *mirror, dma_addr_t da, size_t size)
{
	dma_unmap_page_attrs(mirror->dma_dev, da, size, DMA_BIDIRECTIONAL,
			     HMM_DMA_ATTRS);
	hmm_stat_add(HMM_STAT_DMA_MAPS_LIVE, -1);
}

/*
 * Map @size bytes from @page for the mirror's device: 0 or -errno. Always
 * both ways, read-only entries too: an entry may become writable keeping
 * its DMA address, and a huge mapping serves entries of both kinds (see
 * "The mirror page table" in hmm_mirror.h).
 */
static int dma_map(struct hmm_mirror *mirror, struct page *page, size_t size,
		   dma_addr_t *out)
{
	struct device *dev = mirror->dma_dev;
	dma_addr_t da = dma_map_page_attrs(dev, page, 0, size,
					   DMA_BIDIRECTIONAL, HMM_DMA_ATTRS);

	if (dma_mapping_error(dev, da))
		return -ENOMEM;
	hmm_stat_add(HMM_STAT_DMA_MAPS, 1);
	hmm_stat_add(HMM_STAT_DMA_MAPS_LIVE, 1);
	if (dma_need_sync(dev, da)) {
		dma_unmap(mirror, da, size);
		dev_warn_once(dev, "hmm_mirror: DMA to this device needs cache syncs or bounce buffers, which a mirror cannot do\n");
		return -EOPNOTSUPP;
	}
	*out = da;
	return 0;
}

/*
 * The huge mapping of the leaf @index for an entry of pfn @pfn at @slot,
 * of a CPU mapping of @order: the one in use if it is of the same huge
 * page, else a new one if the leaf has none. NULL where the entry must be
 * mapped on its own: a CPU mapping smaller than the leaf, a leaf whose
 * huge mapping is of another page, or no memory or DMA space for it (not
 * an error: the 4 KiB mapping is tried next). The allocation is
 * GFP_NOWAIT: under the mirror lock, nothing may wait for reclaim.
 */
static struct hmm_dma_huge *dma_huge_get(struct hmm_mirror *mirror,
					 unsigned long index,
					 unsigned int slot, unsigned long pfn,
					 unsigned int order)
{
	struct hmm_dma_huge *huge;
	void *old;

	/* A CPU mapping of order >= 9 covers the whole (aligned) leaf. */
	if (order < ilog2(HMM_PT_LEAF_ENTRIES) || pfn < slot)
		return NULL;
	huge = xa_load(&mirror->dma_huge, index);
	if (huge)
		return huge->pfn == pfn - slot ? huge : NULL;
	huge = kzalloc(sizeof(*huge), GFP_NOWAIT | __GFP_NOWARN);
	if (!huge)
		return NULL;
	huge->pfn = pfn - slot;
	if (dma_map(mirror, pfn_to_page(huge->pfn), HMM_PT_LEAF_SIZE,
		    &huge->base))
		goto free;
	old = xa_store(&mirror->dma_huge, index, huge,
		       GFP_NOWAIT | __GFP_NOWARN);
	if (xa_is_err(old)) {
		dma_unmap(mirror, huge->base, HMM_PT_LEAF_SIZE);
		goto free;
	}
	hmm_stat_add(HMM_STAT_DMA_HUGE_MAPS, 1);
	return huge;
free:
	kfree(huge);
	return NULL;
}

/* Give the entry at @slot of leaf @index, of a system page, a DMA address. */
static int dma_map_entry(struct hmm_mirror *mirror, unsigned long index,
			 unsigned int slot, u64 entry, dma_addr_t *dma)
{
	unsigned long pfn = hmm_mpte_pfn(entry);
	struct hmm_dma_huge *huge;
	int ret;

	huge = dma_huge_get(mirror, index, slot, pfn, hmm_mpte_order(entry));
	if (huge) {
		__set_bit(slot, huge->used);
		huge->count++;
		*dma = huge->base + ((dma_addr_t)slot << PAGE_SHIFT);
	} else {
		ret = dma_map(mirror, pfn_to_page(pfn), PAGE_SIZE, dma);
		if (ret)
			return ret;
	}
	hmm_stat_add(HMM_STAT_DMA_MAPPED, 1);
	return 0;
}

/* Undo the DMA address of the entry at @slot of leaf @index. */
static void dma_unmap_entry(struct hmm_mirror *mirror, unsigned long index,
			    unsigned int slot, dma_addr_t *dma)
{
	struct hmm_dma_huge *huge = xa_load(&mirror->dma_huge, index);

	if (huge && __test_and_clear_bit(slot, huge->used)) {
		/* The last entry using the huge mapping undoes it. */
		if (!--huge->count) {
			dma_unmap(mirror, huge->base, HMM_PT_LEAF_SIZE);
			xa_erase(&mirror->dma_huge, index);
			kfree(huge);
		}
	} else {
		dma_unmap(mirror, *dma, PAGE_SIZE);
	}
	*dma = 0;
	hmm_stat_add(HMM_STAT_DMA_MAPPED, -1);
}

/*
 * Forget a valid entry: undo its DMA mapping and carry a device write to
 * the page. The page is still mapped by the CPU (we run before the CPU
 * page-table change completes, or while the mirror lock keeps any from
 * completing), so it cannot have been freed; set_page_dirty() without the
 * page lock is what the mirror lock makes safe here, as for ib_umem_odp.
 * A mirror in HMM_MIRROR_DIRTY_ON_DROP mode dirties every writable entry's
 * page: its device may have written any of them without the driver
 * knowing (ib_umem_odp dirties every page it mapped writable likewise).
 * @dma_leaf is the leaf's DMA addresses, NULL if the mirror does not map;
 * @index and @slot say where the entry is.
 */
static void drop_entry(struct hmm_mirror *mirror, u64 entry,
		       dma_addr_t *dma_leaf, unsigned long index,
		       unsigned int slot)
{
	bool dirty = entry & HMM_MPTE_DIRTY;

	if (!(entry & HMM_MPTE_VALID))
		return;
	/* Device-private pages are never DMA-mapped (hmm_pt_fill()). */
	if (dma_leaf && !(entry & HMM_MPTE_DEVICE))
		dma_unmap_entry(mirror, index, slot, &dma_leaf[slot]);
	if ((entry & HMM_MPTE_WRITE) &&
	    (READ_ONCE(mirror->modes) & HMM_MIRROR_DIRTY_ON_DROP))
		dirty = true;
	if (dirty && !(entry & HMM_MPTE_DEVICE)) {
		set_page_dirty(pfn_to_page(hmm_mpte_pfn(entry)));
		hmm_stat_add(HMM_STAT_DIRTIED_PAGES, 1);
		atomic64_inc(&mirror->stats.dirtied_pages);
	}
	mirror->nr_valid--;
	hmm_stat_add(HMM_STAT_MIRRORED_PAGES, -1);
}

/**
 * hmm_pt_report_absent() - report a range in which nothing is present
 * @mirror: the mirror, locked, its notifier sequence checked
 * @start: first address, page aligned
 * @end: end address, in the same leaf as @start
 * @hmm_pfns: hmm_range_fault() output, one per page from @start
 * @out: optional: each page's entry as hmm_pt_fill() would report it
 *
 * For a snapshot: if the range has no leaf and no page of it is present,
 * there is nothing to store, and no leaf is needed.
 *
 * Return: true, with @out filled, in that case; false if a leaf exists or
 * a page is present.
 */
bool hmm_pt_report_absent(struct hmm_mirror *mirror, unsigned long start,
			  unsigned long end, const unsigned long *hmm_pfns,
			  u64 *out)
{
	unsigned long i, n = (end - start) >> PAGE_SHIFT;

	lockdep_assert_held_write(&mirror->lock);
	/* A leaf may keep entries the walk does not show (exclusive ones). */
	if (xa_load(&mirror->pt, leaf_index(start)))
		return false;
	for (i = 0; i < n; i++)
		if (hmm_pfns[i] & HMM_PFN_VALID)
			return false;
	for (i = 0; out && i < n; i++)
		out[i] = hmm_pfn_to_mpte(hmm_pfns[i]);
	return true;
}

/**
 * hmm_pt_fill() - store what hmm_range_fault() found for [start, end)
 * @mirror: the mirror, locked, its notifier sequence checked
 * @start: first address, page aligned
 * @end: end address, in the same leaf as @start
 * @hmm_pfns: hmm_range_fault() output, one per page from @start
 * @out: optional: each page's entry as found, with HMM_MPTE_ERROR where
 *	the page cannot be mirrored (the table itself only keeps valid
 *	entries: nothing would ever invalidate a marker in a hole)
 *
 * Return: 0, -EAGAIN when the leaf is gone (an invalidation freed it:
 * prepare again), or -ENOMEM when a DMA mapping failed.
 */
int hmm_pt_fill(struct hmm_mirror *mirror, unsigned long start,
		unsigned long end, const unsigned long *hmm_pfns, u64 *out)
{
	struct device *dev = mirror->dma_dev;
	dma_addr_t *dma_leaf = NULL;
	unsigned long addr;
	u64 *leaf;

	lockdep_assert_held_write(&mirror->lock);
	leaf = xa_load(&mirror->pt, leaf_index(start));
	if (dev)
		dma_leaf = xa_load(&mirror->dma, leaf_index(start));
	if (!leaf || (dev && !dma_leaf))
		return -EAGAIN;

	for (addr = start; addr < end; addr += PAGE_SIZE, hmm_pfns++) {
		unsigned int slot = leaf_slot(addr);
		u64 old = leaf[slot], new = hmm_pfn_to_mpte(*hmm_pfns);

		/*
		 * The CPU page table holds our device-exclusive entry, which
		 * hmm_range_fault() reports as not present: nothing changed
		 * it (that would have invalidated us), so keep the entry.
		 */
		if ((old & HMM_MPTE_EXCLUSIVE) && !(new & HMM_MPTE_VALID))
			new = old;
		if (out)
			*out++ = new;
		new &= ~HMM_MPTE_ERROR;
		if ((old & HMM_MPTE_VALID) && (new & HMM_MPTE_VALID) &&
		    hmm_mpte_pfn(old) == hmm_mpte_pfn(new)) {
			/*
			 * Same page (maybe writable now): keep its state. A
			 * device write not yet carried, and exclusive access:
			 * only an invalidation ends that.
			 */
			leaf[slot] = new | (old & (HMM_MPTE_DIRTY |
						   HMM_MPTE_EXCLUSIVE));
			continue;
		}
		/*
		 * A valid entry for another page would mean we missed an
		 * invalidation: the sequence check makes that impossible.
		 */
		WARN_ON_ONCE(old & HMM_MPTE_VALID);
		drop_entry(mirror, old, dma_leaf, leaf_index(start), slot);
		leaf[slot] = 0;
		if (!(new & HMM_MPTE_VALID))
			continue;
		if (dev && !(new & HMM_MPTE_DEVICE)) {
			int ret = dma_map_entry(mirror, leaf_index(start), slot,
						new, &dma_leaf[slot]);

			if (ret)
				return ret;
		}
		leaf[slot] = new;
		mirror->nr_valid++;
		hmm_stat_add(HMM_STAT_MIRRORED_PAGES, 1);
	}
	return 0;
}

/* Free the DMA leaves of [first, last] that have no page-table leaf. */
static void free_orphan_dma_leaves(struct hmm_mirror *mirror,
				   unsigned long first, unsigned long last)
{
	unsigned long index;
	dma_addr_t *dma_leaf;

	xa_for_each_range(&mirror->dma, index, dma_leaf, first, last) {
		if (xa_load(&mirror->pt, index))
			continue;
		xa_erase(&mirror->dma, index);
		free_page((unsigned long)dma_leaf);
		hmm_stat_add(HMM_STAT_DMA_BYTES, -PAGE_SIZE);
	}
}

/**
 * hmm_pt_clear() - clear the entries of [start, end), freeing empty leaves
 * @mirror: the mirror, locked
 * @start: first address, page aligned
 * @end: end address (exclusive); ULONG_MAX for everything
 *
 * Never sleeps: also called from non-blockable invalidations.
 *
 * Return: the number of entries cleared.
 */
unsigned long hmm_pt_clear(struct hmm_mirror *mirror, unsigned long start,
			   unsigned long end)
{
	unsigned long index, cleared = 0;
	u64 *leaf;

	lockdep_assert_held_write(&mirror->lock);
	if (mirror->dma_dev)
		free_orphan_dma_leaves(mirror, leaf_index(start),
				       leaf_index(end - 1));
	xa_for_each_range(&mirror->pt, index, leaf, leaf_index(start),
			  leaf_index(end - 1)) {
		unsigned long lstart = index << HMM_PT_LEAF_SHIFT;
		unsigned long s = max(start, lstart);
		unsigned long e = min(end - 1, lstart + HMM_PT_LEAF_SIZE - 1);
		dma_addr_t *dma_leaf = NULL;
		unsigned long addr;

		if (mirror->dma_dev)
			dma_leaf = xa_load(&mirror->dma, index);
		for (addr = s; addr <= e && addr >= s; addr += PAGE_SIZE) {
			unsigned int slot = leaf_slot(addr);

			if (!leaf[slot])
				continue;
			cleared++;
			drop_entry(mirror, leaf[slot], dma_leaf, index, slot);
			leaf[slot] = 0;
		}
		if (memchr_inv(leaf, 0, PAGE_SIZE))
			continue;
		xa_erase(&mirror->pt, index);
		free_page((unsigned long)leaf);
		hmm_stat_add(HMM_STAT_PT_BYTES, -PAGE_SIZE);
		/* Its last entry dropped undid the huge mapping. */
		WARN_ON_ONCE(xa_load(&mirror->dma_huge, index));
		if (dma_leaf) {
			xa_erase(&mirror->dma, index);
			free_page((unsigned long)dma_leaf);
			hmm_stat_add(HMM_STAT_DMA_BYTES, -PAGE_SIZE);
		}
	}
	hmm_stat_add(HMM_STAT_INVALIDATED_PAGES, cleared);
	return cleared;
}

static u64 *pt_entry(struct hmm_mirror *mirror, unsigned long addr)
{
	u64 *leaf = xa_load(&mirror->pt, leaf_index(addr));

	return leaf ? &leaf[leaf_slot(addr)] : NULL;
}

/**
 * hmm_pt_set_flags() - add flags to the valid entries of [start, end)
 * @mirror: the mirror, locked
 * @start: first address, page aligned
 * @end: end address (exclusive)
 * @flags: HMM_MPTE_* flags to set
 *
 * Return: 0, or -EFAULT if an entry of the range is not valid (those before
 * it have the flags).
 */
int hmm_pt_set_flags(struct hmm_mirror *mirror, unsigned long start,
		     unsigned long end, u64 flags)
{
	unsigned long addr;

	lockdep_assert_held_write(&mirror->lock);
	for (addr = start; addr < end; addr += PAGE_SIZE) {
		u64 *entry = pt_entry(mirror, addr);

		if (!entry || !(*entry & HMM_MPTE_VALID))
			return -EFAULT;
		*entry |= flags;
	}
	return 0;
}

/**
 * hmm_mirror_lookup() - the mirror page table entry of an address
 * @mirror: the mirror, locked (hmm_mirror_read_lock() or hmm_mirror_lock())
 * @addr: any user address
 *
 * Return: the entry (see HMM_MPTE_*), 0 if nothing is mirrored there. A
 * valid entry stays valid until the lock is dropped; under the read lock
 * another reader may set its HMM_MPTE_DIRTY bit meanwhile, nothing else.
 */
u64 hmm_mirror_lookup(struct hmm_mirror *mirror, unsigned long addr)
{
	u64 *entry;

	lockdep_assert_held(&mirror->lock);
	entry = pt_entry(mirror, addr);
	return entry ? READ_ONCE(*entry) : 0;
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_lookup, HMM_MIRROR);

/**
 * hmm_mirror_lookup_range() - the entries of a range, under one lock
 * @mirror: the mirror, locked (hmm_mirror_read_lock() or hmm_mirror_lock())
 * @start: first address, page aligned
 * @npages: pages to look up
 * @entries: out: one u64 per page, as hmm_mirror_lookup() returns it
 *
 * One leaf lookup per 512 pages, not one per page: for a driver building a
 * translation table of a range. Valid entries stay valid until the lock is
 * dropped.
 *
 * Return: how many pages from @start have valid entries, before the first
 * that has none: the device can go that far without a fault. 0 also for a
 * range that is not page aligned or wraps around (with a warning).
 */
unsigned long hmm_mirror_lookup_range(struct hmm_mirror *mirror,
				      unsigned long start,
				      unsigned long npages, u64 *entries)
{
	unsigned long i = 0, valid = 0;
	bool hole = false;

	lockdep_assert_held(&mirror->lock);
	if (WARN_ON_ONCE(!PAGE_ALIGNED(start) ||
			 npages > (ULONG_MAX - start) >> PAGE_SHIFT))
		return 0;
	while (i < npages) {
		unsigned long addr = start + (i << PAGE_SHIFT);
		u64 *leaf = xa_load(&mirror->pt, leaf_index(addr));
		unsigned int slot = leaf_slot(addr);

		/* The rest of this leaf, or of the range. */
		for (; slot < HMM_PT_LEAF_ENTRIES && i < npages; slot++, i++) {
			entries[i] = leaf ? READ_ONCE(leaf[slot]) : 0;
			if (!(entries[i] & HMM_MPTE_VALID))
				hole = true;
			else if (!hole)
				valid++;
		}
	}
	return valid;
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_lookup_range, HMM_MIRROR);

/*
 * Entries e of [start, end) with (e & @need) == @need, over the leaves that
 * exist, reading at most *@budget of them if @budget (decremented per leaf
 * read). The lock is held, in either mode: set_dirty() may set bits under
 * it, hence READ_ONCE.
 */
static unsigned long count_entries(struct hmm_mirror *mirror,
				   unsigned long start, unsigned long end,
				   u64 need, unsigned long *budget)
{
	unsigned long index, count = 0;
	u64 *leaf;

	lockdep_assert_held(&mirror->lock);
	if (end <= start)
		return 0;
	xa_for_each_range(&mirror->pt, index, leaf, leaf_index(start),
			  leaf_index(end - 1)) {
		unsigned long lstart = index << HMM_PT_LEAF_SHIFT;
		unsigned long from = max(start, lstart);
		unsigned long to = min(end - 1, lstart + HMM_PT_LEAF_SIZE - 1);
		unsigned int slot;

		if (budget) {
			if (!*budget)
				break;
			(*budget)--;
		}
		for (slot = leaf_slot(from); slot <= leaf_slot(to); slot++)
			count += (READ_ONCE(leaf[slot]) & need) == need;
	}
	return count;
}

/**
 * hmm_pt_count() - how many entries of a range have all of some flags
 * @mirror: the mirror, locked
 * @start: first address, page aligned
 * @end: end address (exclusive), page aligned; @start for an empty range
 * @need: the flags (HMM_MPTE_VALID, and HMM_MPTE_WRITE for a write)
 *
 * Return: the number of entries e of [start, end) with (e & @need) == @need.
 */
unsigned long hmm_pt_count(struct hmm_mirror *mirror, unsigned long start,
			   unsigned long end, u64 need)
{
	return count_entries(mirror, start, end, need, NULL);
}

/**
 * hmm_mirror_count_valid() - how many pages of a range have valid entries
 * @mirror: the mirror, locked (for reading or writing)
 * @start: first address, page aligned
 * @end: end address (exclusive), page aligned
 * @budget: in: leaves it may read at most; out: what is left of it
 *
 * Reads only the leaves that exist: a range the device never touched
 * costs nothing however large it is (an implicit memory region overlaps
 * every invalidation of its process). For statistics; a range cut short
 * by the budget counts only the leaves read.
 *
 * Return: the number of valid entries counted.
 */
unsigned long hmm_mirror_count_valid(struct hmm_mirror *mirror,
				     unsigned long start, unsigned long end,
				     unsigned long *budget)
{
	if (WARN_ON_ONCE(!PAGE_ALIGNED(start) || !PAGE_ALIGNED(end)))
		return 0;
	return count_entries(mirror, start, end, HMM_MPTE_VALID, budget);
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_count_valid, HMM_MIRROR);

/**
 * hmm_mirror_discard() - drop the entries of a range the device let go of
 * @mirror: a mirror (registered or not), not locked
 * @start: first address, page aligned
 * @end: end address (exclusive), page aligned
 *
 * For a driver that stops using a range by itself: deregistering a memory
 * region, or reclaiming an idle part of an implicit one. The entries of
 * [start, end) are cleared as an invalidation clears them (a dirty entry
 * dirties its page, DMA mappings are undone, emptied leaves are freed), and
 * ->invalidate is not called: the driver has already stopped using the
 * range. Entries outside it are kept. The leaves it leaves empty are no
 * longer watched (see hmm_mirror.h), their notifiers removed later by a
 * worker: this never waits for an invalidation in flight. It takes the
 * mirror lock for writing, which invalidations of @mirror hold while they
 * call ->invalidate: never call it with the mirror lock held (in either
 * mode), from a callback of @mirror, or under a lock that the driver's
 * ->invalidate takes.
 */
void hmm_mirror_discard(struct hmm_mirror *mirror, unsigned long start,
			unsigned long end)
{
	if (WARN_ON_ONCE(hmm_range_check(start, end, ULONG_MAX)))
		return;
	down_write(&mirror->lock);
	hmm_pt_clear(mirror, start, end);
	up_write(&mirror->lock);
	hmm_mirror_unwatch(mirror, start, end);
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_discard, HMM_MIRROR);

/**
 * hmm_mirror_dma_addr() - DMA address of a mirrored page
 * @mirror: the mirror of an hmm_device with a struct device, locked (for
 *	reading or writing)
 * @addr: an address with a valid entry
 *
 * Return: the page's DMA address for hmm_device->dev (of the page, not of
 * @addr's offset in it), or DMA_MAPPING_ERROR if there is none.
 */
dma_addr_t hmm_mirror_dma_addr(struct hmm_mirror *mirror, unsigned long addr)
{
	dma_addr_t *dma_leaf;
	u64 entry;

	lockdep_assert_held(&mirror->lock);
	entry = hmm_mirror_lookup(mirror, addr);
	if (!mirror->dma_dev || !(entry & HMM_MPTE_VALID) ||
	    (entry & HMM_MPTE_DEVICE))
		return DMA_MAPPING_ERROR;
	dma_leaf = xa_load(&mirror->dma, leaf_index(addr));
	return dma_leaf ? dma_leaf[leaf_slot(addr)] : DMA_MAPPING_ERROR;
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_dma_addr, HMM_MIRROR);

/**
 * hmm_mirror_set_dirty() - record that the device wrote a mirrored page
 * @mirror: the mirror, locked (hmm_mirror_read_lock() is enough)
 * @addr: an address with a valid, writable entry
 *
 * The page is marked dirty when its entry is invalidated (or at once, by
 * the next invalidation of @addr), so the write is not lost to reclaim.
 * Readers of one mirror may set the dirty bits of neighbouring entries, or
 * of the same one, at once: the bit is set with an atomic read-modify-write
 * of the entry's 64 bits (an unsigned long: the core is 64-bit only, which
 * a BUILD_BUG_ON() checks). Every other change of an entry holds the lock
 * exclusively, so nothing else changes it meanwhile.
 *
 * Return: 0, or -EFAULT if @addr has no valid writable entry.
 */
int hmm_mirror_set_dirty(struct hmm_mirror *mirror, unsigned long addr)
{
	u64 *entry;

	/* set_bit() on a u64 entry: the same 64 bits on 64-bit alone. */
	BUILD_BUG_ON(sizeof(unsigned long) != sizeof(u64));
	lockdep_assert_held(&mirror->lock);
	entry = pt_entry(mirror, addr);
	if (!entry || (READ_ONCE(*entry) & (HMM_MPTE_VALID | HMM_MPTE_WRITE)) !=
		      (HMM_MPTE_VALID | HMM_MPTE_WRITE))
		return -EFAULT;
	set_bit(HMM_MPTE_DIRTY_BIT, (unsigned long *)entry);
	return 0;
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_set_dirty, HMM_MIRROR);
