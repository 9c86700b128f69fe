// SPDX-License-Identifier: GPL-2.0
/*
 * hodp: memory keys and their translation tables.
 *
 * Every access of the HCA goes key -> MR -> translation table -> page. A key
 * is an index into the device's MR table and 8 random bits, so a stale or
 * guessed key does not find another MR. For a pinned MR (ib_umem_get) the
 * table holds every page from registration on and never misses; an ODP MR
 * (IB_ACCESS_ON_DEMAND) pins nothing, its table is the process's HMM
 * mirror (hodp_odp.c). Lookups
 * take a reference under the table's lock; deregistration removes the key
 * first, then waits for the accesses in flight.
 *
 * Work that only faults an ODP MR's pages into its mirror, a fault event
 * (hodp_fault.c) or an asynchronous prefetch (hodp_prefetch.c), keeps the
 * MR's memory instead (hodp_mr_keep()): deregistration does not wait for
 * it. Its fault may wait for as long as the memory's owner wants, and
 * that owner may be the very process deregistering: a process that is
 * its own FUSE server exits, its verbs file closes before its /dev/fuse
 * (the exit's order), and a dereg waiting there would wait for itself.
 * Such work touches no page of the MR: the dying flag stops its fault at
 * the next attempt, and the last of it frees the MR, its mirror use and
 * its device reference.
 */
#include <linux/highmem.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <rdma/ib_umem.h>

#include "hodp.h"

static void hodp_mr_release(struct kref *ref)
{
	complete(&container_of(ref, struct hodp_mr, ref)->freed);
}

/*
 * The MR's memory, once its deregistration and every keeper are done (or
 * its registration failed: never dying then). mr->odp stays set until
 * here.
 */
static void hodp_mr_free(struct hodp_mr *mr)
{
	if (mr->dying && mr->odp)
		atomic_dec(&mr->dev->nr_kept);
	if (mr->odp)
		hodp_odp_dereg_mr(mr);
	kfree(mr);
}

/* Give @mr its key (an injection site: failing after pinning). */
static int hodp_mr_add(struct hodp_dev *dev, struct hodp_mr *mr,
		       struct ib_pd *ibpd, int access)
{
	u32 index;
	int ret;

	if (hodp_should_fail_alloc())
		return -ENOMEM;
	if (atomic_inc_return(&dev->nr_mr) > HODP_MAX_MR) {
		atomic_dec(&dev->nr_mr);
		return -ENOMEM;
	}
	mr->dev = dev;
	mr->access = access;
	kref_init(&mr->ref);
	init_completion(&mr->freed);
	refcount_set(&mr->kept, 1);
	ret = xa_alloc_cyclic_irq(&dev->mrs, &index, mr,
				  XA_LIMIT(1, HODP_MAX_MR), &dev->next_mr,
				  GFP_KERNEL);
	if (ret < 0) {
		atomic_dec(&dev->nr_mr);
		return ret;
	}
	mr->ibmr.lkey = (index << 8) | (get_random_u32() & 0xff);
	mr->ibmr.rkey = mr->ibmr.lkey;
	mr->ibmr.pd = ibpd;
	return 0;
}

/*
 * An ODP MR: no page pinned, the translation is the process's mirror.
 * Start 0 and length U64_MAX (ibv_reg_mr(pd, NULL, SIZE_MAX, ...)) is an
 * implicit MR: the whole user address space, at iova 0. Its memory is the
 * mirror's tables, which grow with what the device touched and shrink
 * when the process unmaps it (the core frees emptied leaves): mlx5's
 * child MRs are those leaves here. Neither kind is bound by the message
 * size: nothing is allocated per page of the range.
 */
static struct ib_mr *hodp_reg_odp_mr(struct ib_pd *ibpd, u64 start, u64 length,
				     u64 iova, int access)
{
	struct hodp_dev *dev = to_hdev(ibpd->device);
	bool implicit = !start && length == U64_MAX;
	struct hodp_mr *mr;
	int ret;

	if (implicit) {
		if (iova)
			return ERR_PTR(-EINVAL);
		length = TASK_SIZE;
	}
	/*
	 * A user range (no wrap, below TASK_SIZE), and iova at the same
	 * offset in its page as start: accesses split at page boundaries of
	 * the user address, and an aligned atomic must not cross one.
	 */
	if (!length || start + length < start || start + length > TASK_SIZE ||
	    (start ^ iova) & ~PAGE_MASK)
		return ERR_PTR(-EINVAL);
	mr = hodp_kzalloc(sizeof(*mr));
	if (!mr)
		return ERR_PTR(-ENOMEM);
	mr->dev = dev;
	mr->iova = iova;
	mr->length = length;
	mr->implicit = implicit;
	mr->offset = start & ~PAGE_MASK;
	ret = hodp_odp_reg_mr(dev, mr, start);
	if (!ret)
		ret = hodp_mr_add(dev, mr, ibpd, access);
	if (ret) {
		hodp_mr_free(mr);	/* with its use of the mirror, if any */
		return ERR_PTR(ret);
	}
	hodp_odp_stats_add(mr);
	return &mr->ibmr;
}

struct ib_mr *hodp_reg_user_mr(struct ib_pd *ibpd, u64 start, u64 length,
			       u64 iova, int access, struct ib_udata *udata)
{
	struct hodp_dev *dev = to_hdev(ibpd->device);
	struct sg_page_iter iter;
	struct hodp_mr *mr;
	u32 i = 0;
	int ret;

	/* The MR's iova range must not wrap (an implicit one: iova 0). */
	if (iova > U64_MAX - length)
		return ERR_PTR(-EINVAL);
	if (access & IB_ACCESS_ON_DEMAND)
		return hodp_reg_odp_mr(ibpd, start, length, iova, access);
	if (!length || length > HODP_MAX_MSG_SIZE)
		return ERR_PTR(-EINVAL);
	mr = hodp_kzalloc(sizeof(*mr));
	if (!mr)
		return ERR_PTR(-ENOMEM);
	if (hodp_should_fail_alloc())
		mr->umem = ERR_PTR(-ENOMEM);
	else
		mr->umem = ib_umem_get(ibpd->device, start, length, access);
	if (IS_ERR(mr->umem)) {
		ret = PTR_ERR(mr->umem);
		goto err_free;
	}
	mr->iova = iova;
	mr->length = length;
	mr->offset = start & ~PAGE_MASK;
	mr->npages = ib_umem_num_pages(mr->umem);
	mr->pages = hodp_kvmalloc_array(mr->npages, sizeof(*mr->pages));
	if (!mr->pages) {
		ret = -ENOMEM;
		goto err_umem;
	}
	for_each_sgtable_page(&mr->umem->sgt_append.sgt, &iter, 0) {
		if (WARN_ON_ONCE(i >= mr->npages))
			break;
		mr->pages[i++] = sg_page_iter_page(&iter);
	}
	if (i != mr->npages) {
		ret = -EFAULT;
		goto err_pages;
	}
	ret = hodp_mr_add(dev, mr, ibpd, access);
	if (ret)
		goto err_pages;
	return &mr->ibmr;
err_pages:
	kvfree(mr->pages);
err_umem:
	ib_umem_release(mr->umem);
err_free:
	kfree(mr);
	return ERR_PTR(ret);
}

struct ib_mr *hodp_get_dma_mr(struct ib_pd *ibpd, int access)
{
	struct hodp_mr *mr = hodp_kzalloc(sizeof(*mr));
	int ret;

	if (!mr)
		return ERR_PTR(-ENOMEM);
	mr->kernel_dma = true;
	mr->length = U64_MAX;
	ret = hodp_mr_add(to_hdev(ibpd->device), mr, ibpd, access);
	if (ret) {
		kfree(mr);
		return ERR_PTR(ret);
	}
	return &mr->ibmr;
}

int hodp_dereg_mr(struct ib_mr *ibmr, struct ib_udata *udata)
{
	struct hodp_mr *mr = to_hmr(ibmr);
	struct hodp_dev *dev = mr->dev;
	unsigned long flags;

	/*
	 * Not while memory windows are bound to it (IBA 10.6.7.2.6, as rxe):
	 * the user invalidates or deallocates them first. Dying is set under
	 * the windows' lock, where a bind looks at it: none binds after.
	 */
	xa_lock_irqsave(&dev->mws, flags);
	if (mr->nr_mw) {
		xa_unlock_irqrestore(&dev->mws, flags);
		return -EINVAL;
	}
	/*
	 * A copy in flight stops using it at its next yield (hodp_copy.c),
	 * so this waits for 256 KiB of copy, not for a 2 GiB message.
	 * Lookups hold the xarray lock until they have a reference.
	 */
	WRITE_ONCE(mr->dying, true);
	xa_unlock_irqrestore(&dev->mws, flags);
	xa_erase_irq(&dev->mrs, ibmr->lkey >> 8);
	kref_put(&mr->ref, hodp_mr_release);
	wait_for_completion(&mr->freed);
	if (mr->odp)
		hodp_odp_stats_del(mr);
	if (mr->umem)
		ib_umem_release(mr->umem);
	kvfree(mr->pages);
	mr->pages = NULL;
	atomic_dec(&dev->nr_mr);
	/*
	 * A fault event or prefetch may keep an ODP MR: never waited for,
	 * counted until the last keeper frees it (debugfs hodp/objects).
	 */
	if (mr->odp)
		atomic_inc(&dev->nr_kept);
	if (refcount_dec_and_test(&mr->kept))
		hodp_mr_free(mr);
	return 0;
}

/**
 * hodp_mr_get() - the MR of a key, referenced
 * @dev: the device the key belongs to
 * @key: an lkey or rkey
 * @pd: the PD the MR must belong to
 * @remote: @key is an rkey
 *
 * Return: the MR (release with hodp_mr_put()), or NULL if no MR of @pd has
 * that key.
 */
struct hodp_mr *hodp_mr_get(struct hodp_dev *dev, u32 key, struct ib_pd *pd,
			    bool remote)
{
	unsigned long flags;
	struct hodp_mr *mr;

	xa_lock_irqsave(&dev->mrs, flags);
	mr = xa_load(&dev->mrs, key >> 8);
	if (mr && ((remote ? mr->ibmr.rkey : mr->ibmr.lkey) != key ||
		   mr->ibmr.pd != pd || !kref_get_unless_zero(&mr->ref)))
		mr = NULL;
	xa_unlock_irqrestore(&dev->mrs, flags);
	return mr;
}

/**
 * hodp_mr_put() - release a reference from hodp_mr_get()
 * @mr: the MR
 */
void hodp_mr_put(struct hodp_mr *mr)
{
	kref_put(&mr->ref, hodp_mr_release);
}

/**
 * hodp_mr_hold() - one more reference of an MR the caller holds one of
 * @mr: the MR (release with hodp_mr_put())
 */
void hodp_mr_hold(struct hodp_mr *mr)
{
	kref_get(&mr->ref);
}

/**
 * hodp_mr_keep() - keep an MR's memory past its deregistration
 * @mr: an ODP MR the caller holds a reference of (hodp_mr_get())
 *
 * For work that faults the MR's pages and accesses none of them (a fault
 * event, an asynchronous prefetch): the MR's deregistration does not wait
 * for it, and sets the MR's dying flag, which such work checks before
 * each attempt. The MR's mirror, counters and device stay until the last
 * keeper lets go (hodp_mr_unkeep()); its key may be gone before.
 */
void hodp_mr_keep(struct hodp_mr *mr)
{
	refcount_inc(&mr->kept);
	get_device(&mr->dev->ibdev.dev);
}

/**
 * hodp_mr_unkeep() - let go of what hodp_mr_keep() kept
 * @mr: the MR; freed here if it was deregistered and this was its last
 *	keeper (its mirror unregistered with it if it was the last user:
 *	sleeps, takes the mirror's locks; never under a spinlock)
 */
void hodp_mr_unkeep(struct hodp_mr *mr)
{
	struct hodp_dev *dev = mr->dev;

	might_sleep();
	if (refcount_dec_and_test(&mr->kept))
		hodp_mr_free(mr);
	put_device(&dev->ibdev.dev);
}

/**
 * hodp_mr_in_range() - is [addr, addr + len) inside the MR?
 * @mr: the MR
 * @addr: first address
 * @len: bytes
 *
 * Return: true if it is (no wrap-around past the end of the address space).
 */
bool hodp_mr_in_range(const struct hodp_mr *mr, u64 addr, u64 len)
{
	return addr >= mr->iova && len <= mr->length &&
	       addr - mr->iova <= mr->length - len;
}

/**
 * hodp_mr_kmap() - map the page of an address of the MR
 * @mr: a referenced MR, not ODP (hodp_copy.c maps an ODP MR's pages under
 *	its mirror lock)
 * @addr: an address in its range (checked by the caller)
 * @avail: in: bytes wanted; out: bytes mapped from @addr (to the page end)
 *
 * Return: the kernel address of @addr; unmap with hodp_mr_kunmap(), in
 * reverse order of mapping (kmap_local).
 */
void *hodp_mr_kmap(struct hodp_mr *mr, u64 addr, u32 *avail)
{
	u64 off;

	if (mr->kernel_dma)
		return (void *)(uintptr_t)addr;
	off = addr - mr->iova + mr->offset;
	*avail = min_t(u32, *avail, PAGE_SIZE - (off & ~PAGE_MASK));
	return kmap_local_page(mr->pages[off >> PAGE_SHIFT]) + (off & ~PAGE_MASK);
}

/**
 * hodp_mr_kunmap() - undo hodp_mr_kmap()
 * @mr: the MR
 * @va: what hodp_mr_kmap() returned
 */
void hodp_mr_kunmap(struct hodp_mr *mr, void *va)
{
	if (!mr->kernel_dma)
		kunmap_local(va);
}

/**
 * hodp_mr_atomic() - 64-bit compare-and-swap or fetch-and-add in an MR
 * @mr: a referenced MR
 * @addr: an 8-byte aligned address in the MR
 * @cmp_swap: compare-and-swap (else fetch-and-add)
 * @compare_add: the compare value, or the addend
 * @swap: the swap value
 * @orig: out: the value before
 *
 * Atomic against the CPU too: the operation is a locked instruction on the
 * page.
 *
 * Return: 0, -EFAULT outside the MR, -EINVAL if misaligned, -EAGAIN (ODP:
 * the page is not mirrored writable; nothing executed, the caller raises
 * a fault event or fails the atomic).
 */
int hodp_mr_atomic(struct hodp_mr *mr, u64 addr, bool cmp_swap,
		   u64 compare_add, u64 swap, u64 *orig)
{
	u64 off, *p;
	void *va;

	if (addr & 7)
		return -EINVAL;
	if (!hodp_mr_in_range(mr, addr, 8))
		return -EFAULT;
	if (mr->odp)
		return hodp_odp_atomic(mr, addr, cmp_swap, compare_add, swap,
				       orig);
	if (mr->kernel_dma) {
		p = (u64 *)(uintptr_t)addr;
		va = NULL;
	} else {
		off = addr - mr->iova + mr->offset;
		va = kmap_local_page(mr->pages[off >> PAGE_SHIFT]);
		p = va + (off & ~PAGE_MASK);
	}
	if (cmp_swap)
		*orig = cmpxchg64(p, compare_add, swap);
	else
		*orig = atomic64_fetch_add(compare_add, (atomic64_t *)p);
	if (va)
		kunmap_local(va);
	return 0;
}
