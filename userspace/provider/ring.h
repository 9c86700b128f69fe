/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The rings hodp shares with userspace, in the Soft-RoCE layout (struct
 * rxe_queue_buf): a header with the element size, the index mask and the
 * two indices, each on its own cache line, then a power-of-two array of
 * elements. One side produces, the other consumes; each writes only its own
 * index, and an index is published with release order after the element it
 * covers, and read with acquire order before the element. One slot always
 * stays empty, so "full" and "empty" differ.
 */
#ifndef HODP_RING_H
#define HODP_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <rdma/rdma_user_rxe.h>

struct hodp_ring {
	struct rxe_queue_buf *buf;	/* NULL: not mapped */
	size_t map_size;
	uint32_t mask;			/* read once at mapping time */
	uint32_t log2_elem_size;
};

int hodp_ring_map(struct hodp_ring *r, int cmd_fd, const struct mminfo *mi);
void hodp_ring_unmap(struct hodp_ring *r);

static inline void *hodp_ring_elem(const struct hodp_ring *r, uint32_t index)
{
	return r->buf->data + ((size_t)(index & r->mask) << r->log2_elem_size);
}

static inline size_t hodp_ring_elem_size(const struct hodp_ring *r)
{
	return (size_t)1 << r->log2_elem_size;
}

/* Producer side: the provider owns producer_index. */
static inline uint32_t hodp_ring_prod(const struct hodp_ring *r)
{
	return __atomic_load_n(&r->buf->producer_index, __ATOMIC_RELAXED) & r->mask;
}

static inline bool hodp_ring_full_at(const struct hodp_ring *r, uint32_t prod)
{
	uint32_t cons = __atomic_load_n(&r->buf->consumer_index, __ATOMIC_ACQUIRE);

	return ((prod + 1) & r->mask) == (cons & r->mask);
}

static inline void hodp_ring_publish(struct hodp_ring *r, uint32_t prod)
{
	__atomic_store_n(&r->buf->producer_index, prod & r->mask, __ATOMIC_RELEASE);
}

/* Consumer side: the provider owns consumer_index. */
static inline uint32_t hodp_ring_cons(const struct hodp_ring *r)
{
	return __atomic_load_n(&r->buf->consumer_index, __ATOMIC_RELAXED) & r->mask;
}

static inline bool hodp_ring_empty_at(const struct hodp_ring *r, uint32_t cons)
{
	uint32_t prod = __atomic_load_n(&r->buf->producer_index, __ATOMIC_ACQUIRE);

	return (prod & r->mask) == cons;
}

static inline void hodp_ring_consume(struct hodp_ring *r, uint32_t cons)
{
	__atomic_store_n(&r->buf->consumer_index, (cons + 1) & r->mask,
			 __ATOMIC_RELEASE);
}

#endif /* HODP_RING_H */
