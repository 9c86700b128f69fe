// SPDX-License-Identifier: GPL-2.0
/*
 * Device memory: a range of MEMORY_DEVICE_PRIVATE struct pages per device,
 * their allocator, and their eviction back to system memory.
 *
 * The range is carved out of unused physical address space
 * (request_free_mem_region) and given struct pages by memremap_pages(); no
 * CPU can address it. A free page has refcount 0 and its bit set in the
 * free bitmap; allocation hands it out locked with refcount 1
 * (zone_device_page_init, which also takes a reference on the pagemap), and
 * when the last reference to it is dropped the kernel calls our page_free,
 * which gives it back. memunmap_pages() therefore waits until every page
 * is free again, which is why destroy evicts them first.
 */
#include <linux/bitmap.h>
#include <linux/delay.h>
#include <linux/ioport.h>
#include <linux/memremap.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pagemap.h>
#include <linux/slab.h>

#include "hmm_internal.h"

/* Struct pages are added in subsections of this size. */
#define HMM_DEVMEM_ALIGN	SZ_2M
/* A devmem in use while its device goes away: evict rounds before waiting. */
#define HMM_DEVMEM_EVICT_ROUNDS	100

static void hmm_devmem_page_free(struct page *page)
{
	struct hmm_devmem *devmem = hmm_devmem_of_page(page);
	unsigned long index = page_to_pfn(page) - devmem->base_pfn;

	if (devmem->ops->page_free)
		devmem->ops->page_free(devmem, page);
	page->zone_device_data = NULL;
	spin_lock(&devmem->lock);
	__set_bit(index, devmem->free);
	devmem->nr_used--;
	spin_unlock(&devmem->lock);
	hmm_stat_add(HMM_STAT_DEVICE_PAGES, -1);
}

static const struct dev_pagemap_ops hmm_devmem_pagemap_ops = {
	.page_free = hmm_devmem_page_free,
	.migrate_to_ram = hmm_devmem_fault,
};

/**
 * hmm_devmem_of_page() - the devmem a device-private page belongs to
 * @page: any page
 *
 * Return: the devmem, or NULL if @page is not device memory of the HMM
 * mirror core.
 */
struct hmm_devmem *hmm_devmem_of_page(struct page *page)
{
	if (!is_device_private_page(page) ||
	    page->pgmap->ops != &hmm_devmem_pagemap_ops)
		return NULL;
	return container_of(page->pgmap, struct hmm_devmem, pgmap);
}
EXPORT_SYMBOL_NS_GPL(hmm_devmem_of_page, HMM_MIRROR);

/**
 * hmm_devmem_data() - the driver's pointer given to hmm_devmem_create()
 * @devmem: a devmem
 *
 * Return: that pointer.
 */
void *hmm_devmem_data(struct hmm_devmem *devmem)
{
	return devmem->data;
}
EXPORT_SYMBOL_NS_GPL(hmm_devmem_data, HMM_MIRROR);

/**
 * hmm_devmem_pages_used() - pages of @devmem that are allocated now
 * @devmem: a devmem
 *
 * Return: that number of pages.
 */
unsigned long hmm_devmem_pages_used(struct hmm_devmem *devmem)
{
	return READ_ONCE(devmem->nr_used);
}
EXPORT_SYMBOL_NS_GPL(hmm_devmem_pages_used, HMM_MIRROR);

/*
 * A free page of @devmem, locked, with one reference; NULL when the device
 * memory is full or going away.
 */
struct page *hmm_devmem_alloc_page(struct hmm_devmem *devmem)
{
	unsigned long index;

	spin_lock(&devmem->lock);
	index = find_first_bit(devmem->free, devmem->npages);
	if (devmem->dying || index >= devmem->npages) {
		spin_unlock(&devmem->lock);
		return NULL;
	}
	__clear_bit(index, devmem->free);
	devmem->nr_used++;
	spin_unlock(&devmem->lock);
	hmm_stat_add(HMM_STAT_DEVICE_PAGES, 1);
	zone_device_page_init(pfn_to_page(devmem->base_pfn + index));
	return pfn_to_page(devmem->base_pfn + index);
}

/**
 * hmm_devmem_create() - give a device memory the CPU cannot address
 * @hdev: the registered hmm_device; its owner becomes the pages' owner
 * @ops: how to copy data in and out; ->copy_to_device and
 *	->copy_from_device are required
 * @size: bytes of device memory (rounded up to 2 MiB)
 * @data: the driver's pointer, returned by hmm_devmem_data()
 *
 * Return: the devmem, or an ERR_PTR: -EINVAL for incomplete ops or a zero
 * size, -ENOMEM, -ERANGE/-EBUSY if no physical address range is free.
 */
struct hmm_devmem *hmm_devmem_create(struct hmm_device *hdev,
				     const struct hmm_devmem_ops *ops,
				     unsigned long size, void *data)
{
	struct hmm_devmem *devmem;
	void *addr;
	int ret;

	if (!ops || !ops->copy_to_device || !ops->copy_from_device || !size ||
	    !hdev->owner) {
		pr_err("hmm_mirror: device memory needs copy ops, a size and a registered device\n");
		return ERR_PTR(-EINVAL);
	}
	size = ALIGN(size, HMM_DEVMEM_ALIGN);
	devmem = kzalloc(sizeof(*devmem), GFP_KERNEL);
	if (!devmem)
		return ERR_PTR(-ENOMEM);
	devmem->ops = ops;
	devmem->hdev = hdev;
	devmem->data = data;
	spin_lock_init(&devmem->lock);
	devmem->npages = size >> PAGE_SHIFT;
	devmem->free = bitmap_zalloc(devmem->npages, GFP_KERNEL);
	if (!devmem->free) {
		ret = -ENOMEM;
		goto err_free;
	}
	bitmap_fill(devmem->free, devmem->npages);

	devmem->res = request_free_mem_region(&iomem_resource, size,
					      "hmm_devmem");
	if (IS_ERR(devmem->res)) {
		ret = PTR_ERR(devmem->res);
		pr_err("hmm_mirror: no free physical range of %lu MiB for device memory: %d\n",
		       size >> 20, ret);
		goto err_bitmap;
	}
	devmem->pgmap.type = MEMORY_DEVICE_PRIVATE;
	devmem->pgmap.range.start = devmem->res->start;
	devmem->pgmap.range.end = devmem->res->start + size - 1;
	devmem->pgmap.nr_range = 1;
	devmem->pgmap.ops = &hmm_devmem_pagemap_ops;
	devmem->pgmap.owner = hdev->owner;
	addr = memremap_pages(&devmem->pgmap, numa_node_id());
	if (IS_ERR(addr)) {
		ret = PTR_ERR(addr);
		pr_err("hmm_mirror: memremap_pages of device memory failed: %d\n",
		       ret);
		goto err_region;
	}
	devmem->base_pfn = PHYS_PFN(devmem->res->start);
	return devmem;

err_region:
	release_mem_region(devmem->res->start, resource_size(devmem->res));
err_bitmap:
	bitmap_free(devmem->free);
err_free:
	kfree(devmem);
	return ERR_PTR(ret);
}
EXPORT_SYMBOL_NS_GPL(hmm_devmem_create, HMM_MIRROR);

/* Move the pages of @devmem that are in use back to system memory. */
static int evict(struct hmm_devmem *devmem, gfp_t gfp)
{
	unsigned long i, *src, *dst, moved = 0;
	int ret = 0;

	src = kvcalloc(devmem->npages, sizeof(*src), gfp);
	dst = kvcalloc(devmem->npages, sizeof(*dst), gfp);
	if (!src || !dst) {
		ret = -ENOMEM;
		goto out;
	}
	/* Locks and unmaps, wherever they are mapped, the pages in use. */
	migrate_device_range(src, devmem->base_pfn, devmem->npages);
	for (i = 0; i < devmem->npages; i++) {
		struct page *spage = migrate_pfn_to_page(src[i]);

		if (!spage || !(src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		dst[i] = hmm_devmem_copy_out(spage, src[i], NULL, 0,
					     GFP_HIGHUSER_MOVABLE |
					     (gfp & __GFP_NOFAIL), &ret);
	}
	migrate_device_pages(src, dst, devmem->npages);
	for (i = 0; i < devmem->npages; i++)
		if (src[i] & MIGRATE_PFN_MIGRATE)
			moved++;
	migrate_device_finalize(src, dst, devmem->npages);
	hmm_stat_add(HMM_STAT_MIGRATED_TO_RAM, moved);
out:
	kvfree(dst);
	kvfree(src);
	return ret;
}

/**
 * hmm_devmem_evict() - move every page of a device memory back to the CPU
 * @devmem: the devmem
 *
 * Whichever processes map them, the pages in use move to system memory; a
 * page busy elsewhere (locked for another migration) is skipped. Sleeps.
 *
 * Return: 0, -ENOMEM, or -EIO if the driver failed to copy a page (which
 * then stays on the device).
 */
int hmm_devmem_evict(struct hmm_devmem *devmem)
{
	return evict(devmem, GFP_KERNEL);
}
EXPORT_SYMBOL_NS_GPL(hmm_devmem_evict, HMM_MIRROR);

/**
 * hmm_devmem_destroy() - evict a device memory and remove it
 * @devmem: the devmem; no migration to it may be in progress or start
 *
 * Moves every page still in use back to system memory, waits until the
 * last one is free, and removes the struct pages. Sleeps.
 */
void hmm_devmem_destroy(struct hmm_devmem *devmem)
{
	int round;

	spin_lock(&devmem->lock);
	devmem->dying = true;
	spin_unlock(&devmem->lock);
	for (round = 0; READ_ONCE(devmem->nr_used); round++) {
		if (round == HMM_DEVMEM_EVICT_ROUNDS) {
			pr_warn("hmm_mirror: %lu device pages still busy, waiting for them\n",
				READ_ONCE(devmem->nr_used));
			break;
		}
		evict(devmem, GFP_KERNEL | __GFP_NOFAIL);
		if (READ_ONCE(devmem->nr_used))
			msleep(20);
	}
	memunmap_pages(&devmem->pgmap);
	release_mem_region(devmem->res->start, resource_size(devmem->res));
	bitmap_free(devmem->free);
	kfree(devmem);
}
EXPORT_SYMBOL_NS_GPL(hmm_devmem_destroy, HMM_MIRROR);
