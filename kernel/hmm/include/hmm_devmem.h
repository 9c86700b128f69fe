/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Device memory for HMM mirrors: pages of a device that the CPU cannot
 * address (MEMORY_DEVICE_PRIVATE), and moving process memory into them and
 * back.
 *
 *   struct hmm_devmem   a device's memory, created by hmm_devmem_create():
 *                       a range of struct pages (memremap_pages) whose
 *                       allocation the core manages. What backs a page (VRAM,
 *                       or for a test device, a system page) is the driver's:
 *                       it may keep a pointer in page->zone_device_data, and
 *                       its ops copy data in and out and free the backing.
 *
 * Migration
 *
 *   hmm_mirror_migrate_to_device() moves the anonymous pages of a range of a
 *   mirrored mm into a devmem (migrate_vma_*); the CPU page tables then hold
 *   device-private entries. A CPU access to such a page faults and the core
 *   moves it back to a system page (dev_pagemap_ops.migrate_to_ram), as does
 *   hmm_mirror_migrate_to_ram() for a range, and hmm_devmem_destroy() for
 *   every page of a devmem that is still in use, wherever it is mapped.
 *
 *   Device-private pages are mirrored as such (HMM_MPTE_DEVICE) by mirrors of
 *   every hmm_device whose owner is the devmem's hmm_device's owner: devices
 *   sharing an owner reach each other's memory (a peer link). A mirror of a
 *   device with another owner never sees them: its faults migrate them back
 *   to system memory first. hmm_devmem_of_page() tells a driver whose page a
 *   device entry is (its own, or a peer's).
 *
 *   Every migration invalidates all mirrors of the range, the initiator's
 *   included: a device reaches its new pages by faulting them in like any
 *   other page, so no mirror can keep an entry for a page that moved.
 *
 * Exclusive access
 *
 *   hmm_mirror_make_exclusive() gives the device exclusive access to pages
 *   (make_device_exclusive_range, e.g. for device atomics): the CPU loses
 *   its mapping until it touches the page again, which invalidates the
 *   mirror's HMM_MPTE_EXCLUSIVE entries.
 *
 * All of it needs CONFIG_DEVICE_PRIVATE; without it the functions return
 * -EOPNOTSUPP (or NULL) so that drivers build on every kernel.
 */
#ifndef _HMM_DEVMEM_H
#define _HMM_DEVMEM_H

#include <linux/err.h>
#include <linux/types.h>

#include "hmm_mirror.h"

struct hmm_devmem;
struct page;

/**
 * struct hmm_devmem_ops - how a driver moves data in and out of its memory
 * @copy_to_device: copy the system page @src into the device page @dst, or
 *	clear @dst if @src is NULL (the range had no page there yet). Return
 *	0, or a negative errno to leave this page in system memory.
 * @copy_from_device: copy the device page @src into the system page @dst.
 *	Return 0, or a negative errno: the page then stays on the device (a
 *	CPU fault on it gets SIGBUS).
 * @page_free: optional: the device page @page is free again (nothing maps
 *	it); release what backs it. May be called in atomic context.
 */
struct hmm_devmem_ops {
	int (*copy_to_device)(struct hmm_devmem *devmem, struct page *dst,
			      struct page *src);
	int (*copy_from_device)(struct hmm_devmem *devmem, struct page *dst,
				struct page *src);
	void (*page_free)(struct hmm_devmem *devmem, struct page *page);
};

#if IS_ENABLED(CONFIG_DEVICE_PRIVATE)

struct hmm_devmem *hmm_devmem_create(struct hmm_device *hdev,
				     const struct hmm_devmem_ops *ops,
				     unsigned long size, void *data);
void hmm_devmem_destroy(struct hmm_devmem *devmem);
int hmm_devmem_evict(struct hmm_devmem *devmem);
struct hmm_devmem *hmm_devmem_of_page(struct page *page);
void *hmm_devmem_data(struct hmm_devmem *devmem);
unsigned long hmm_devmem_pages_used(struct hmm_devmem *devmem);

int hmm_mirror_migrate_to_device(struct hmm_mirror *mirror,
				 struct hmm_devmem *devmem,
				 unsigned long start, unsigned long end,
				 unsigned long *moved);
int hmm_mirror_migrate_to_ram(struct hmm_mirror *mirror, unsigned long start,
			      unsigned long end, unsigned long *moved);
int hmm_mirror_make_exclusive(struct hmm_mirror *mirror, unsigned long start,
			      unsigned long end);

#else /* !CONFIG_DEVICE_PRIVATE */

static inline struct hmm_devmem *
hmm_devmem_create(struct hmm_device *hdev, const struct hmm_devmem_ops *ops,
		  unsigned long size, void *data)
{
	return ERR_PTR(-EOPNOTSUPP);
}

static inline void hmm_devmem_destroy(struct hmm_devmem *devmem)
{
}

static inline int hmm_devmem_evict(struct hmm_devmem *devmem)
{
	return -EOPNOTSUPP;
}

static inline struct hmm_devmem *hmm_devmem_of_page(struct page *page)
{
	return NULL;
}

static inline void *hmm_devmem_data(struct hmm_devmem *devmem)
{
	return NULL;
}

static inline unsigned long hmm_devmem_pages_used(struct hmm_devmem *devmem)
{
	return 0;
}

static inline int hmm_mirror_migrate_to_device(struct hmm_mirror *mirror,
					       struct hmm_devmem *devmem,
					       unsigned long start,
					       unsigned long end,
					       unsigned long *moved)
{
	return -EOPNOTSUPP;
}

static inline int hmm_mirror_migrate_to_ram(struct hmm_mirror *mirror,
					    unsigned long start,
					    unsigned long end,
					    unsigned long *moved)
{
	return -EOPNOTSUPP;
}

static inline int hmm_mirror_make_exclusive(struct hmm_mirror *mirror,
					    unsigned long start,
					    unsigned long end)
{
	return -EOPNOTSUPP;
}

#endif /* CONFIG_DEVICE_PRIVATE */

#endif /* _HMM_DEVMEM_H */
