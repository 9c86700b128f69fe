// SPDX-License-Identifier: GPL-2.0
/*
 * hodp: posting work requests. A user QP writes its WQEs into the shared
 * rings itself and calls post_send with no work request as the doorbell.
 * A kernel consumer (the MAD layer on the GSI QP, rdma_cm, ULPs) calls
 * post_send, post_recv and post_srq_recv with work request lists: they are
 * written into the same rings, in the same layout, so the requester and
 * responder have one path for both and validate kernel WQEs like any other.
 *
 * These run in any context (the MAD layer posts under spinlocks): no
 * sleeping, the rings' producer sides are taken with spin locks.
 */
#include "hodp.h"

/* A kernel scatter/gather list into a ring WQE's. Return: bytes in all. */
static u32 copy_sges(struct rxe_sge *dst, const struct ib_sge *src, int n)
{
	u32 len = 0;
	int i;

	for (i = 0; i < n; i++) {
		dst[i].addr = src[i].addr;
		dst[i].length = src[i].length;
		dst[i].lkey = src[i].lkey;
		len += src[i].length;
	}
	return len;
}

static int fill_remote(const struct ib_send_wr *wr, struct rxe_send_wr *w,
		       bool ud)
{
	switch (wr->opcode) {
	case IB_WR_SEND:
	case IB_WR_SEND_WITH_IMM:
		if (!ud)
			return 0;
		w->wr.ud.remote_qpn = ud_wr(wr)->remote_qpn;
		w->wr.ud.remote_qkey = ud_wr(wr)->remote_qkey;
		w->wr.ud.pkey_index = ud_wr(wr)->pkey_index;
		if (!ud_wr(wr)->ah)
			return -EINVAL;
		w->wr.ud.ah_num = to_hah(ud_wr(wr)->ah)->ah_num;
		return 0;
	case IB_WR_RDMA_WRITE:
	case IB_WR_RDMA_WRITE_WITH_IMM:
	case IB_WR_RDMA_READ:
		w->wr.rdma.remote_addr = rdma_wr(wr)->remote_addr;
		w->wr.rdma.rkey = rdma_wr(wr)->rkey;
		return ud ? -EINVAL : 0;
	case IB_WR_ATOMIC_CMP_AND_SWP:
	case IB_WR_ATOMIC_FETCH_AND_ADD:
		w->wr.atomic.remote_addr = atomic_wr(wr)->remote_addr;
		w->wr.atomic.compare_add = atomic_wr(wr)->compare_add;
		w->wr.atomic.swap = atomic_wr(wr)->swap;
		w->wr.atomic.rkey = atomic_wr(wr)->rkey;
		return ud ? -EINVAL : 0;
	default:
		return -EINVAL;
	}
}

/* One kernel work request into a send queue slot. */
static int fill_send_wqe(struct hodp_qp *qp, const struct ib_send_wr *wr,
			 struct rxe_send_wqe *wqe)
{
	u32 i, len = 0;
	int ret;

	memset(wqe, 0, sizeof(*wqe));
	wqe->wr.wr_id = wr->wr_id;
	wqe->wr.opcode = wr->opcode;
	wqe->wr.send_flags = wr->send_flags;
	wqe->wr.ex.imm_data = wr->ex.imm_data;
	ret = fill_remote(wr, &wqe->wr, hodp_qp_is_ud(qp));
	if (ret)
		return ret;
	if (wr->num_sge < 0)
		return -EINVAL;

	if (wr->send_flags & IB_SEND_INLINE) {
		/* Kernel consumers' buffers are kernel virtual addresses. */
		for (i = 0; i < wr->num_sge; i++) {
			u32 n = wr->sg_list[i].length;

			if (n > qp->sq_max_inline - len)
				return -EINVAL;
			memcpy(wqe->dma.inline_data + len,
			       (void *)(uintptr_t)wr->sg_list[i].addr, n);
			len += n;
		}
		wqe->dma.length = len;
		return 0;
	}
	if (wr->num_sge > qp->sq_max_sge)
		return -EINVAL;
	wqe->dma.num_sge = wr->num_sge;
	wqe->dma.length = copy_sges(wqe->dma.sge, wr->sg_list, wr->num_sge);
	return 0;
}

static bool may_post_send(enum ib_qp_state state)
{
	/* In the error state what is posted completes with a flush error. */
	return state == IB_QPS_RTS || state == IB_QPS_SQD ||
	       state == IB_QPS_SQE || state == IB_QPS_ERR;
}

int hodp_post_send(struct ib_qp *ibqp, const struct ib_send_wr *wr,
		   const struct ib_send_wr **bad_wr)
{
	struct hodp_qp *qp = to_hqp(ibqp);
	unsigned long flags;
	int ret = 0;

	if (qp->user) {
		/*
		 * The WQEs are in the ring already: this is the doorbell
		 * (uverbs post_send with no work request).
		 */
		if (wr) {
			*bad_wr = wr;
			return -EINVAL;
		}
		/* As for kernel QPs: RESET, INIT and RTR forbid posting. */
		if (!may_post_send(READ_ONCE(qp->state)))
			return -EINVAL;
		hodp_req_doorbell(qp);
		return 0;
	}
	if (!may_post_send(READ_ONCE(qp->state))) {
		*bad_wr = wr;
		return -EINVAL;
	}
	spin_lock_irqsave(&qp->sq_lock, flags);
	for (; wr; wr = wr->next) {
		struct rxe_send_wqe *slot = hodp_queue_kslot(qp->sq);

		ret = slot ? fill_send_wqe(qp, wr, slot) : -ENOMEM;
		if (ret) {
			*bad_wr = wr;
			break;
		}
		hodp_queue_kadvance(qp->sq);
	}
	spin_unlock_irqrestore(&qp->sq_lock, flags);
	hodp_qp_kick(qp);
	return ret;
}

/* Kernel receive work requests into a receive queue or SRQ ring. */
static int post_recv_ring(struct hodp_queue *q, spinlock_t *lock,
			  u32 max_sge, const struct ib_recv_wr *wr,
			  const struct ib_recv_wr **bad_wr)
{
	unsigned long flags;
	int ret = 0;

	spin_lock_irqsave(lock, flags);
	for (; wr; wr = wr->next) {
		struct rxe_recv_wqe *slot = hodp_queue_kslot(q);

		if (!slot || wr->num_sge < 0 || wr->num_sge > max_sge) {
			ret = slot ? -EINVAL : -ENOMEM;
			*bad_wr = wr;
			break;
		}
		memset(slot, 0, sizeof(*slot));
		slot->wr_id = wr->wr_id;
		slot->dma.num_sge = wr->num_sge;
		slot->dma.length = copy_sges(slot->dma.sge, wr->sg_list,
					     wr->num_sge);
		hodp_queue_kadvance(q);
	}
	spin_unlock_irqrestore(lock, flags);
	return ret;
}

int hodp_post_recv(struct ib_qp *ibqp, const struct ib_recv_wr *wr,
		   const struct ib_recv_wr **bad_wr)
{
	struct hodp_qp *qp = to_hqp(ibqp);
	enum ib_qp_state state = READ_ONCE(qp->state);
	int ret;

	/* User QPs post into their ring; a QP on an SRQ has no queue. */
	if (qp->user || !qp->rq || state == IB_QPS_RESET) {
		*bad_wr = wr;
		return -EINVAL;
	}
	ret = post_recv_ring(qp->rq, &qp->rq_lock, qp->rq_max_sge, wr, bad_wr);
	/*
	 * Looked at again: an error that came in meanwhile may have flushed
	 * the queue before these were in it (rq_lock orders the two).
	 */
	if (READ_ONCE(qp->state) == IB_QPS_ERR)
		hodp_qp_kick(qp);	/* flushes them */
	return ret;
}

int hodp_post_srq_recv(struct ib_srq *ibsrq, const struct ib_recv_wr *wr,
		       const struct ib_recv_wr **bad_wr)
{
	struct hodp_srq *srq = to_hsrq(ibsrq);

	if (srq->user) {
		*bad_wr = wr;
		return -EINVAL;
	}
	return post_recv_ring(srq->queue, &srq->lock, srq->max_sge, wr,
			      bad_wr);
}
