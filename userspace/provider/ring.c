// SPDX-License-Identifier: GPL-2.0
/* Mapping the kernel's rings (see ring.h). */
#include <errno.h>
#include <sys/mman.h>

#include "ring.h"

/**
 * hodp_ring_map() - map a ring the kernel described in a command response
 * @r: the ring
 * @cmd_fd: the context's uverbs file
 * @mi: offset and size from the kernel
 *
 * Return: 0, or an errno (set in errno too).
 */
int hodp_ring_map(struct hodp_ring *r, int cmd_fd, const struct mminfo *mi)
{
	void *p;

	if (mi->size < sizeof(struct rxe_queue_buf)) {
		errno = EPROTO;
		return errno;
	}
	p = mmap(NULL, mi->size, PROT_READ | PROT_WRITE, MAP_SHARED, cmd_fd,
		 mi->offset);
	if (p == MAP_FAILED)
		return errno;
	r->buf = p;
	r->map_size = mi->size;
	r->mask = r->buf->index_mask;
	r->log2_elem_size = r->buf->log2_elem_size;
	/* The header must describe a ring that fits the mapping. */
	if (r->log2_elem_size > 16 || ((r->mask + 1) & r->mask) ||
	    sizeof(struct rxe_queue_buf) +
	    ((size_t)r->mask + 1) * hodp_ring_elem_size(r) > mi->size) {
		hodp_ring_unmap(r);
		errno = EPROTO;
		return errno;
	}
	return 0;
}

void hodp_ring_unmap(struct hodp_ring *r)
{
	if (r->buf)
		munmap(r->buf, r->map_size);
	r->buf = NULL;
}
