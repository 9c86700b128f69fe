// SPDX-License-Identifier: GPL-2.0
/*
 * Migration between system memory and device memory, on migrate_vma_*.
 *
 * Both directions walk the range one VMA and at most one mirror leaf (512
 * pages) at a time under the mmap read lock: migrate_vma_setup() isolates
 * and unmaps the pages (every mirror of the range is invalidated with
 * MMU_NOTIFY_MIGRATE), we allocate and copy the destinations, and
 * migrate_vma_pages()/migrate_vma_finalize() install them and release the
 * sources. A page the kernel could not isolate, or that we could not give a
 * destination, stays where it was; the caller learns how many moved.
 *
 * The third way back is the CPU touching a device page: the fault handler of
 * every devmem migrates that one page to a new system page.
 */
#include <linux/highmem.h>
#include <linux/hugetlb.h>
#include <linux/memremap.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pagemap.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "hmm_internal.h"

/**
 * hmm_devmem_copy_out() - a system page holding the data of a device page
 * @spage: the device page, locked by migration
 * @src: its migrate pfn (for the write permission)
 * @vma: the VMA it is mapped in, for the NUMA policy; NULL if unknown
 * @addr: its address in @vma
 * @gfp: allocation flags
 * @err: set to -ENOMEM or -EIO when 0 is returned
 *
 * Return: the destination's migrate pfn, or 0 if the page stays on the
 * device.
 */
unsigned long hmm_devmem_copy_out(struct page *spage, unsigned long src,
				  struct vm_area_struct *vma,
				  unsigned long addr, gfp_t gfp, int *err)
{
	struct hmm_devmem *devmem = hmm_devmem_of_page(spage);
	struct page *dpage;
	unsigned long dst;

	if (WARN_ON_ONCE(!devmem)) {
		*err = -EIO;
		return 0;
	}
	dpage = vma ? alloc_page_vma(gfp, vma, addr) : alloc_page(gfp);
	if (!dpage) {
		*err = -ENOMEM;
		return 0;
	}
	lock_page(dpage);
	if (devmem->ops->copy_from_device(devmem, dpage, spage)) {
		unlock_page(dpage);
		put_page(dpage);
		*err = -EIO;
		return 0;
	}
	dst = migrate_pfn(page_to_pfn(dpage));
	if (src & MIGRATE_PFN_WRITE)
		dst |= MIGRATE_PFN_WRITE;
	return dst;
}

/* Give each isolated page of @args a device page with its data. */
static bool fill_device_pages(struct migrate_vma *args,
			      struct hmm_devmem *devmem)
{
	unsigned long i, npages = (args->end - args->start) >> PAGE_SHIFT;

	for (i = 0; i < npages; i++) {
		struct page *spage = migrate_pfn_to_page(args->src[i]);
		struct page *dpage;

		if (!(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		dpage = hmm_devmem_alloc_page(devmem);
		if (!dpage)
			return false;	/* device memory full */
		/* spage is NULL where nothing was mapped: clear the page. */
		if (devmem->ops->copy_to_device(devmem, dpage, spage)) {
			unlock_page(dpage);
			put_page(dpage);
			continue;
		}
		args->dst[i] = migrate_pfn(page_to_pfn(dpage));
		if ((args->src[i] & MIGRATE_PFN_WRITE) ||
		    (!spage && (args->vma->vm_flags & VM_WRITE)))
			args->dst[i] |= MIGRATE_PFN_WRITE;
	}
	return true;
}

/* Give each isolated device page of @args a system page with its data. */
static int fill_system_pages(struct migrate_vma *args)
{
	unsigned long i, npages = (args->end - args->start) >> PAGE_SHIFT;
	int ret = 0;

	for (i = 0; i < npages; i++) {
		struct page *spage = migrate_pfn_to_page(args->src[i]);

		if (!spage || !(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		args->dst[i] = hmm_devmem_copy_out(spage, args->src[i],
						   args->vma,
						   args->start + i * PAGE_SIZE,
						   GFP_HIGHUSER_MOVABLE, &ret);
	}
	return ret;
}

static unsigned long count_moved(const struct migrate_vma *args)
{
	unsigned long i, moved = 0;

	for (i = 0; i < (args->end - args->start) >> PAGE_SHIFT; i++)
		if (args->src[i] & MIGRATE_PFN_MIGRATE)
			moved++;
	return moved;
}

/*
 * Migrate [start, end) of the mirror's mm: to @devmem, or to system memory
 * if it is NULL. The mirror is held active and its mm alive by the caller.
 */
static int migrate_range(struct hmm_mirror *mirror, struct hmm_devmem *devmem,
			 unsigned long start, unsigned long end,
			 unsigned long *moved)
{
	struct mm_struct *mm = mirror->mm;
	unsigned long *pfns, addr, next;
	struct migrate_vma args = {};
	bool full = false;
	int ret = 0;

	pfns = kcalloc(2 * HMM_PT_LEAF_ENTRIES, sizeof(*pfns), GFP_KERNEL);
	if (!pfns)
		return -ENOMEM;
	if (mmap_read_lock_killable(mm)) {
		kfree(pfns);
		return -EINTR;
	}
	for (addr = start; addr < end && !full; addr = next) {
		struct vm_area_struct *vma = vma_lookup(mm, addr);
		unsigned long n;

		if (!vma) {
			ret = -EFAULT;
			break;
		}
		next = min(vma->vm_end, hmm_leaf_end(addr, end));
		/*
		 * migrate_vma_setup() refuses these VMAs as a whole: their
		 * pages stay where they are, as for a page it cannot
		 * isolate, and the rest of the range still moves.
		 */
		if (is_vm_hugetlb_page(vma) || (vma->vm_flags & VM_SPECIAL) ||
		    vma_is_dax(vma))
			continue;
		n = (next - addr) >> PAGE_SHIFT;
		memset(pfns, 0, 2 * n * sizeof(*pfns));
		args = (struct migrate_vma) {
			.vma = vma,
			.src = pfns,
			.dst = pfns + n,
			.start = addr,
			.end = next,
		};
		if (devmem) {
			args.pgmap_owner = devmem->pgmap.owner;
			args.flags = MIGRATE_VMA_SELECT_SYSTEM;
		} else {
			args.pgmap_owner = mirror->hdev->owner;
			args.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE;
		}
		ret = migrate_vma_setup(&args);
		if (ret)
			break;
		if (devmem)
			full = !fill_device_pages(&args, devmem);
		else
			ret = fill_system_pages(&args);
		migrate_vma_pages(&args);
		n = count_moved(&args);
		*moved += n;
		hmm_stat_add(devmem ? HMM_STAT_MIGRATED_TO_DEVICE :
				      HMM_STAT_MIGRATED_TO_RAM, n);
		migrate_vma_finalize(&args);
		if (ret)
			break;
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
	}
	mmap_read_unlock(mm);
	kfree(pfns);
	return ret;
}

static int migrate(struct hmm_mirror *mirror, struct hmm_devmem *devmem,
		   unsigned long start, unsigned long end, unsigned long *moved)
{
	int ret;

	*moved = 0;
	if (devmem && devmem->pgmap.owner != mirror->hdev->owner)
		return -EINVAL;
	ret = hmm_mirror_enter(mirror, start, end);
	if (ret)
		return ret;
	ret = migrate_range(mirror, devmem, start, end, moved);
	hmm_mirror_leave(mirror);
	return ret;
}

/**
 * hmm_mirror_migrate_to_device() - move a range of memory to the device
 * @mirror: a registered mirror: the mm whose memory moves
 * @devmem: the device memory, of the mirror's device owner
 * @start: first address, page aligned
 * @end: end address (exclusive), page aligned
 * @moved: set to the number of pages moved
 *
 * Moves the anonymous pages of the range (and gives pages to its holes)
 * into @devmem. Pages of files, of hugetlb, DAX and special (VM_IO,
 * VM_PFNMAP, VM_MIXEDMAP) mappings, pages the kernel cannot isolate now,
 * and pages beyond what the device memory has free stay in system memory:
 * only @moved tells. Every mirror of the range is invalidated; devices of the
 * owner then fault the device pages into their mirrors. Sleeps.
 *
 * Return: 0; -EFAULT if part of the range has no VMA; -EINVAL for a bad
 * range or a devmem of another owner; -ENOMEM; -EINTR; -ESRCH if the mm
 * has exited; -ENODEV if the mirror was unregistered.
 */
int hmm_mirror_migrate_to_device(struct hmm_mirror *mirror,
				 struct hmm_devmem *devmem,
				 unsigned long start, unsigned long end,
				 unsigned long *moved)
{
	if (!devmem)
		return -EINVAL;
	return migrate(mirror, devmem, start, end, moved);
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_migrate_to_device, HMM_MIRROR);

/**
 * hmm_mirror_migrate_to_ram() - move a range of memory back to the CPU
 * @mirror: a registered mirror: the mm whose memory moves
 * @start: first address, page aligned
 * @end: end address (exclusive), page aligned
 * @moved: set to the number of pages moved
 *
 * Moves the pages of the range that are in device memory of the mirror's
 * device owner to new system pages. Sleeps.
 *
 * Return: 0 or a negative errno as hmm_mirror_migrate_to_device(), or -EIO
 * if the driver failed to copy a page out of its memory.
 */
int hmm_mirror_migrate_to_ram(struct hmm_mirror *mirror, unsigned long start,
			      unsigned long end, unsigned long *moved)
{
	return migrate(mirror, NULL, start, end, moved);
}
EXPORT_SYMBOL_NS_GPL(hmm_mirror_migrate_to_ram, HMM_MIRROR);

/*
 * dev_pagemap_ops.migrate_to_ram: the CPU touched a device page. Called
 * with the mmap lock held and a reference on vmf->page; moves that page.
 */
vm_fault_t hmm_devmem_fault(struct vm_fault *vmf)
{
	struct hmm_devmem *devmem = hmm_devmem_of_page(vmf->page);
	unsigned long src = 0, dst = 0;
	struct migrate_vma args = {
		.vma = vmf->vma,
		.src = &src,
		.dst = &dst,
		.start = vmf->address,
		.end = vmf->address + PAGE_SIZE,
		.pgmap_owner = devmem->pgmap.owner,
		.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		.fault_page = vmf->page,
	};
	vm_fault_t ret = 0;
	int err = 0;

	hmm_stat_add(HMM_STAT_DEVICE_CPU_FAULTS, 1);
	if (migrate_vma_setup(&args))
		return VM_FAULT_SIGBUS;
	if (src & MIGRATE_PFN_MIGRATE) {
		dst = hmm_devmem_copy_out(vmf->page, src, vmf->vma,
					  vmf->address, GFP_HIGHUSER_MOVABLE,
					  &err);
		if (err)
			ret = err == -ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS;
	}
	migrate_vma_pages(&args);
	hmm_stat_add(HMM_STAT_MIGRATED_TO_RAM, count_moved(&args));
	/* Not moved (busy elsewhere): the CPU faults again and retries. */
	migrate_vma_finalize(&args);
	return ret;
}
