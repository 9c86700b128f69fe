/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Queues shared with userspace in the Soft-RoCE layout (struct
 * rxe_queue_buf): a header with the element size, index mask, producer and
 * consumer indices, then a power-of-two ring of elements. Userspace may
 * write anything there at any moment: the kernel keeps its own index in
 * private memory, masks the other side's, and copies an element out before
 * looking at it.
 */
#ifndef _HODP_QUEUE_H
#define _HODP_QUEUE_H

#include <rdma/ib_verbs.h>
#include <rdma/rdma_user_rxe.h>

struct hodp_queue {
	struct rxe_queue_buf *buf;
	size_t buf_size;
	u32 log2_elem_size;
	u32 index_mask;
	u32 index;		/* ours: consumer or producer, never read back */
	struct rdma_user_mmap_entry *mmap;
};

struct hodp_queue *hodp_queue_alloc(u32 *num_elem, size_t elem_size);
void hodp_queue_free(struct hodp_queue *q);
int hodp_queue_map(struct hodp_queue *q, struct ib_ucontext *uctx,
		   struct mminfo *mi);

/* Consumer side (send, receive queues) */
u32 hodp_queue_count(const struct hodp_queue *q);
void hodp_queue_peek(const struct hodp_queue *q, void *elem, size_t size);
void hodp_queue_pop(struct hodp_queue *q);

/* Producer side (completion queues) */
bool hodp_queue_full(const struct hodp_queue *q);
void hodp_queue_push(struct hodp_queue *q, const void *elem, size_t size);

/* Kernel consumers' queues: the kernel produces into them itself */
void *hodp_queue_kslot(struct hodp_queue *q);
void hodp_queue_kadvance(struct hodp_queue *q);

int hodp_mmap(struct ib_ucontext *uctx, struct vm_area_struct *vma);
void hodp_mmap_free(struct rdma_user_mmap_entry *entry);

#endif /* _HODP_QUEUE_H */
