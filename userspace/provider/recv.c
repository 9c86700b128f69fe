// SPDX-License-Identifier: GPL-2.0
/*
 * Receive work requests: a QP's receive queue and an SRQ are the same kind
 * of ring of struct rxe_recv_wqe. Nothing to tell the kernel: it takes
 * receive WQEs when a message arrives.
 */
#include <errno.h>
#include <string.h>

#include "hodp.h"

/**
 * hodp_post_one_recv() - produce one receive WQE (caller holds the ring's lock)
 * @ring: the receive ring
 * @max_sge: scatter entries a WQE of this ring holds
 * @wr: the work request
 *
 * Return: 0, EINVAL for too many scatter entries, ENOMEM when full.
 */
int hodp_post_one_recv(struct hodp_ring *ring, uint32_t max_sge,
		       const struct ibv_recv_wr *wr)
{
	struct rxe_recv_wqe *wqe;
	uint32_t prod, length = 0;
	int i;

	if (wr->num_sge < 0 || (uint32_t)wr->num_sge > max_sge ||
	    offsetof(struct rxe_recv_wqe, dma.sge) +
	    (size_t)wr->num_sge * sizeof(struct rxe_sge) > hodp_ring_elem_size(ring))
		return EINVAL;
	prod = hodp_ring_prod(ring);
	if (hodp_ring_full_at(ring, prod))
		return ENOMEM;
	wqe = hodp_ring_elem(ring, prod);
	memset(wqe, 0, sizeof(*wqe));
	wqe->wr_id = wr->wr_id;
	for (i = 0; i < wr->num_sge; i++) {
		wqe->dma.sge[i].addr = wr->sg_list[i].addr;
		wqe->dma.sge[i].length = wr->sg_list[i].length;
		wqe->dma.sge[i].lkey = wr->sg_list[i].lkey;
		length += wr->sg_list[i].length;
	}
	wqe->dma.num_sge = wr->num_sge;
	wqe->dma.length = length;
	wqe->dma.resid = length;
	hodp_ring_publish(ring, prod + 1);
	return 0;
}
