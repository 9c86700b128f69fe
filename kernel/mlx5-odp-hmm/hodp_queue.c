// SPDX-License-Identifier: GPL-2.0
/*
 * Shared queues: allocation, mapping to userspace, and the two sides of a
 * ring. See hodp_queue.h for the trust rules.
 */
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "hodp.h"
#include "hodp_queue.h"

/*
 * The ring memory lives as long as its mmap entry or any user mapping of it
 * (the RDMA core does not track mappings made with remap_vmalloc_range()).
 */
struct hodp_mmap_entry {
	struct rdma_user_mmap_entry rdma;
	void *buf;
	struct kref kref;
};

static void hodp_mmap_release(struct kref *kref)
{
	struct hodp_mmap_entry *entry =
		container_of(kref, struct hodp_mmap_entry, kref);

	vfree(entry->buf);
	kfree(entry);
}

static void hodp_vma_open(struct vm_area_struct *vma)
{
	struct hodp_mmap_entry *entry = vma->vm_private_data;

	kref_get(&entry->kref);
}

static void hodp_vma_close(struct vm_area_struct *vma)
{
	struct hodp_mmap_entry *entry = vma->vm_private_data;

	kref_put(&entry->kref, hodp_mmap_release);
}

static const struct vm_operations_struct hodp_vm_ops = {
	.open = hodp_vma_open,
	.close = hodp_vma_close,
};

/**
 * hodp_queue_alloc() - a queue for at least *@num_elem elements
 * @num_elem: in: elements wanted; out: elements it holds
 * @elem_size: bytes per element (rounded up to a power of two, at least a
 *	cache line)
 *
 * Return: the queue or NULL.
 */
struct hodp_queue *hodp_queue_alloc(u32 *num_elem, size_t elem_size)
{
	struct hodp_queue *q;
	u32 slots;

	q = hodp_kzalloc(sizeof(*q));
	if (!q)
		return NULL;
	elem_size = roundup_pow_of_two(max_t(size_t, elem_size, L1_CACHE_BYTES));
	slots = roundup_pow_of_two(*num_elem + 1);
	q->log2_elem_size = order_base_2(elem_size);
	q->index_mask = slots - 1;
	q->buf_size = sizeof(*q->buf) + (size_t)slots * elem_size;
	q->buf = hodp_vmalloc_user(q->buf_size);
	if (!q->buf) {
		kfree(q);
		return NULL;
	}
	q->buf->log2_elem_size = q->log2_elem_size;
	q->buf->index_mask = q->index_mask;
	*num_elem = slots - 1;
	return q;
}

/**
 * hodp_queue_free() - free a queue; a user mapping keeps the memory alive
 * until it is unmapped
 * @q: the queue, or NULL
 */
void hodp_queue_free(struct hodp_queue *q)
{
	if (!q)
		return;
	if (q->mmap)
		rdma_user_mmap_entry_remove(q->mmap);	/* frees buf later */
	else
		vfree(q->buf);
	kfree(q);
}

/**
 * hodp_queue_map() - make the queue mappable by a user context
 * @q: the queue
 * @uctx: the user context
 * @mi: out: offset and size for the user's mmap() of the uverbs file
 *
 * Return: 0 or a negative errno.
 */
int hodp_queue_map(struct hodp_queue *q, struct ib_ucontext *uctx,
		   struct mminfo *mi)
{
	struct hodp_mmap_entry *entry;
	int ret;

	entry = hodp_kzalloc(sizeof(*entry));
	if (!entry)
		return -ENOMEM;
	entry->buf = q->buf;
	kref_init(&entry->kref);
	if (hodp_should_fail_alloc())
		ret = -ENOMEM;
	else
		ret = rdma_user_mmap_entry_insert(uctx, &entry->rdma,
						  PAGE_ALIGN(q->buf_size));
	if (ret) {
		kfree(entry);
		return ret;
	}
	q->mmap = &entry->rdma;
	mi->offset = rdma_user_mmap_get_offset(&entry->rdma);
	mi->size = q->buf_size;
	return 0;
}

static void *elem_addr(const struct hodp_queue *q, u32 index)
{
	return q->buf->data + ((size_t)(index & q->index_mask) << q->log2_elem_size);
}

/**
 * hodp_queue_count() - elements the producer has made available to us
 * @q: a queue we consume
 *
 * Return: that number, at most the queue's size whatever the user wrote.
 */
u32 hodp_queue_count(const struct hodp_queue *q)
{
	/* Acquire: the elements up to prod are written before we read them. */
	u32 prod = smp_load_acquire(&q->buf->producer_index) & q->index_mask;

	return (prod - q->index) & q->index_mask;
}

/**
 * hodp_queue_peek() - copy the element at our index out of the ring
 * @q: a queue we consume, with hodp_queue_count() > 0
 * @elem: where to copy it
 * @size: bytes to copy, at most the element size
 */
void hodp_queue_peek(const struct hodp_queue *q, void *elem, size_t size)
{
	size = min_t(size_t, size, 1UL << q->log2_elem_size);
	memcpy(elem, elem_addr(q, q->index), size);
}

/**
 * hodp_queue_pop() - consume the element at our index
 * @q: a queue we consume
 */
void hodp_queue_pop(struct hodp_queue *q)
{
	q->index = (q->index + 1) & q->index_mask;
	/* Release: we are done reading the element before its slot is reused. */
	smp_store_release(&q->buf->consumer_index, q->index);
}

/**
 * hodp_queue_full() - no room to produce (as far as the consumer says)
 * @q: a queue we produce
 *
 * Return: true if it is full.
 */
bool hodp_queue_full(const struct hodp_queue *q)
{
	/* Acquire: the consumer finished reading the slots before cons. */
	u32 cons = smp_load_acquire(&q->buf->consumer_index) & q->index_mask;

	return ((q->index + 1) & q->index_mask) == cons;
}

/**
 * hodp_queue_push() - produce one element
 * @q: a queue we produce, not full
 * @elem: the element
 * @size: its size, at most the element size
 */
void hodp_queue_push(struct hodp_queue *q, const void *elem, size_t size)
{
	size = min_t(size_t, size, 1UL << q->log2_elem_size);
	memcpy(elem_addr(q, q->index), elem, size);
	q->index = (q->index + 1) & q->index_mask;
	/* Release: the element is written before the consumer can see it. */
	smp_store_release(&q->buf->producer_index, q->index);
}

/**
 * hodp_queue_kslot() - the next free slot of a queue the kernel produces
 *	into on behalf of a kernel consumer (no user mapping)
 * @q: a kernel queue; the caller holds the producer's lock
 *
 * The producer index in the header is the kernel's own here: nobody else
 * writes it. Publish the element with hodp_queue_kadvance().
 *
 * Return: the slot, or NULL if the queue is full.
 */
void *hodp_queue_kslot(struct hodp_queue *q)
{
	u32 prod = q->buf->producer_index & q->index_mask;
	/* Acquire: the consumer is done with the slot before we reuse it. */
	u32 cons = smp_load_acquire(&q->buf->consumer_index) & q->index_mask;

	if (((prod + 1) & q->index_mask) == cons)
		return NULL;
	return elem_addr(q, prod);
}

/**
 * hodp_queue_kadvance() - publish the element written at hodp_queue_kslot()
 * @q: the kernel queue; the caller holds the producer's lock
 */
void hodp_queue_kadvance(struct hodp_queue *q)
{
	u32 prod = q->buf->producer_index & q->index_mask;

	/* Release: the element is written before the consumer sees it. */
	smp_store_release(&q->buf->producer_index, (prod + 1) & q->index_mask);
}

/**
 * hodp_mmap() - map a queue into a user context (ib_device_ops.mmap)
 * @uctx: the user context
 * @vma: the user's mapping of the uverbs file at a queue's offset
 *
 * Return: 0 or a negative errno.
 */
int hodp_mmap(struct ib_ucontext *uctx, struct vm_area_struct *vma)
{
	struct rdma_user_mmap_entry *rdma;
	struct hodp_mmap_entry *entry;
	int ret;

	rdma = rdma_user_mmap_entry_get(uctx, vma);
	if (!rdma)
		return -EINVAL;
	entry = container_of(rdma, struct hodp_mmap_entry, rdma);
	ret = remap_vmalloc_range(vma, entry->buf, 0);
	if (!ret) {
		vma->vm_private_data = entry;
		vma->vm_ops = &hodp_vm_ops;
		hodp_vma_open(vma);
	}
	rdma_user_mmap_entry_put(rdma);
	return ret;
}

/**
 * hodp_mmap_free() - the last reference to a queue mapping is gone
 * @rdma: the entry
 */
void hodp_mmap_free(struct rdma_user_mmap_entry *rdma)
{
	struct hodp_mmap_entry *entry =
		container_of(rdma, struct hodp_mmap_entry, rdma);

	kref_put(&entry->kref, hodp_mmap_release);
}
