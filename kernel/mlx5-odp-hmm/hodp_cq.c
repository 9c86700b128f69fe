// SPDX-License-Identifier: GPL-2.0
/*
 * hodp: completion queues. A user CQ is a ring of struct ib_uverbs_wc that
 * the provider polls in place; a kernel CQ is a ring of struct ib_wc that
 * hodp_poll_cq() reads. Completions are produced under cq->lock by the
 * requester and responder; arming and events follow the verbs rules.
 *
 * uverbs holds only a shared lock on a CQ for RESIZE_CQ, so two resizes
 * of one CQ can come at once: resize_lock serialises them, and the queue
 * pointer is replaced under both locks (readers hold either).
 */
#include <linux/slab.h>
#include <rdma/uverbs_ioctl.h>

#include "hodp.h"

static size_t cqe_size(const struct hodp_cq *cq)
{
	return cq->user ? sizeof(struct ib_uverbs_wc) : sizeof(struct ib_wc);
}

static int map_cq(struct hodp_cq *cq, struct ib_udata *udata)
{
	struct rxe_create_cq_resp resp = {};
	int ret;

	if (udata->outlen < sizeof(resp))
		return -EINVAL;
	ret = hodp_queue_map(cq->queue, hodp_uctx(udata), &resp.mi);
	if (ret)
		return ret;
	return ib_copy_to_udata(udata, &resp, sizeof(resp));
}

int hodp_create_cq(struct ib_cq *ibcq, const struct ib_cq_init_attr *attr,
		   struct ib_udata *udata)
{
	struct hodp_dev *dev = to_hdev(ibcq->device);
	struct hodp_cq *cq = to_hcq(ibcq);
	u32 entries = attr->cqe;
	int ret;

	if (attr->flags)
		return -EOPNOTSUPP;
	if (!entries || entries > HODP_MAX_CQE)
		return -EINVAL;
	if (atomic_inc_return(&dev->nr_cq) > HODP_MAX_CQ) {
		ret = -ENOMEM;
		goto err;
	}
	spin_lock_init(&cq->lock);
	mutex_init(&cq->resize_lock);
	cq->user = !!udata;
	cq->queue = hodp_queue_alloc(&entries, cqe_size(cq));
	if (!cq->queue) {
		ret = -ENOMEM;
		goto err;
	}
	ibcq->cqe = entries;
	if (udata) {
		ret = map_cq(cq, udata);
		if (ret)
			goto err_free;
	}
	return 0;
err_free:
	hodp_queue_free(cq->queue);
err:
	atomic_dec(&dev->nr_cq);
	return ret;
}

int hodp_destroy_cq(struct ib_cq *ibcq, struct ib_udata *udata)
{
	struct hodp_cq *cq = to_hcq(ibcq);

	hodp_queue_free(cq->queue);
	atomic_dec(&to_hdev(ibcq->device)->nr_cq);
	return 0;
}

/* The consumer's index (its word, read once, masked). */
static u32 cq_consumer(const struct hodp_queue *q)
{
	return READ_ONCE(q->buf->consumer_index) & q->index_mask;
}

/* Completions posted and not yet consumed, counted from @cons. */
static u32 cq_pending(const struct hodp_queue *q, u32 cons)
{
	return (q->index - cons) & q->index_mask;
}

int hodp_resize_cq(struct ib_cq *ibcq, int cqe, struct ib_udata *udata)
{
	struct hodp_cq *cq = to_hcq(ibcq);
	struct hodp_queue *old, *new;
	u32 entries = cqe, n, i, cons;
	size_t size = cqe_size(cq);
	int ret;

	if (cqe <= 0 || cqe > HODP_MAX_CQE)
		return -EINVAL;
	new = hodp_queue_alloc(&entries, size);
	if (!new)
		return -ENOMEM;
	mutex_lock(&cq->resize_lock);
	if (udata) {
		struct rxe_resize_cq_resp resp = {};

		ret = udata->outlen < sizeof(resp) ? -EINVAL :
		      hodp_queue_map(new, hodp_uctx(udata), &resp.mi);
		if (!ret)
			ret = ib_copy_to_udata(udata, &resp, sizeof(resp));
		if (ret)
			goto err;
	}
	/* Move what the consumer has not taken yet, in order. */
	spin_lock_irq(&cq->lock);
	old = cq->queue;
	cons = cq_consumer(old);
	n = cq_pending(old, cons);
	if (n > entries) {
		spin_unlock_irq(&cq->lock);
		ret = -EINVAL;
		goto err;
	}
	for (i = 0; i < n; i++) {
		u32 idx = (cons + i) & old->index_mask;

		hodp_queue_push(new, old->buf->data +
				((size_t)idx << old->log2_elem_size), size);
	}
	cq->queue = new;
	ibcq->cqe = entries;
	spin_unlock_irq(&cq->lock);
	mutex_unlock(&cq->resize_lock);
	hodp_queue_free(old);
	return 0;
err:
	mutex_unlock(&cq->resize_lock);
	hodp_queue_free(new);
	return ret;
}

/**
 * hodp_cq_post() - produce one completion and raise the event it is armed for
 * @cq: the completion queue
 * @wc: the completion (the qp field names the QP)
 * @solicited: the completion is of a solicited message
 *
 * Return: 0, or -ENOSPC if the CQ overflowed (the CQ's owner gets
 * IB_EVENT_CQ_ERR; the completion is lost).
 */
int hodp_cq_post(struct hodp_cq *cq, const struct ib_wc *wc, bool solicited)
{
	struct ib_uverbs_wc uwc;
	unsigned long flags;
	bool notify = false;

	spin_lock_irqsave(&cq->lock, flags);
	if (hodp_queue_full(cq->queue)) {
		bool first = !cq->overflowed;

		cq->overflowed = true;
		spin_unlock_irqrestore(&cq->lock, flags);
		if (first && cq->ibcq.event_handler) {
			struct ib_event ev = {
				.device = cq->ibcq.device,
				.element.cq = &cq->ibcq,
				.event = IB_EVENT_CQ_ERR,
			};

			pr_warn_ratelimited("hodp: CQ %u overflowed\n",
					    cq->ibcq.res.id);
			cq->ibcq.event_handler(&ev, cq->ibcq.cq_context);
		}
		return -ENOSPC;
	}
	if (cq->user) {
		memset(&uwc, 0, sizeof(uwc));
		uwc.wr_id = wc->wr_id;
		uwc.status = wc->status;
		uwc.opcode = wc->opcode;
		uwc.byte_len = wc->byte_len;
		uwc.ex.imm_data = wc->ex.imm_data;
		uwc.qp_num = wc->qp->qp_num;
		uwc.src_qp = wc->src_qp;
		/* The user ABI has no network header type. */
		uwc.wc_flags = wc->wc_flags & (IB_WC_GRH | IB_WC_WITH_IMM |
					       IB_WC_WITH_INVALIDATE);
		uwc.pkey_index = wc->pkey_index;
		uwc.port_num = wc->port_num;
		hodp_queue_push(cq->queue, &uwc, sizeof(uwc));
	} else {
		hodp_queue_push(cq->queue, wc, sizeof(*wc));
	}
	if (cq->notify_any || (cq->notify_solicited && solicited)) {
		cq->notify_any = false;
		cq->notify_solicited = false;
		notify = true;
	}
	spin_unlock_irqrestore(&cq->lock, flags);
	if (notify && cq->ibcq.comp_handler)
		cq->ibcq.comp_handler(&cq->ibcq, cq->ibcq.cq_context);
	return 0;
}

int hodp_poll_cq(struct ib_cq *ibcq, int num_entries, struct ib_wc *wc)
{
	struct hodp_cq *cq = to_hcq(ibcq);
	struct hodp_queue *q;
	unsigned long flags;
	int n = 0;

	if (cq->user)
		return -EINVAL;	/* the provider polls user CQs itself */
	spin_lock_irqsave(&cq->lock, flags);
	q = cq->queue;		/* a resize replaces it under the lock */
	while (n < num_entries) {
		u32 cons = cq_consumer(q);

		if (!cq_pending(q, cons))
			break;
		memcpy(&wc[n++], q->buf->data + ((size_t)cons << q->log2_elem_size),
		       sizeof(*wc));
		/* The entry is read before the producer may reuse its slot. */
		smp_store_release(&q->buf->consumer_index,
				  (cons + 1) & q->index_mask);
	}
	spin_unlock_irqrestore(&cq->lock, flags);
	return n;
}

int hodp_req_notify_cq(struct ib_cq *ibcq, enum ib_cq_notify_flags flags)
{
	struct hodp_cq *cq = to_hcq(ibcq);
	unsigned long irqflags;
	int ret = 0;

	spin_lock_irqsave(&cq->lock, irqflags);
	if ((flags & IB_CQ_SOLICITED_MASK) == IB_CQ_SOLICITED)
		cq->notify_solicited = true;
	else
		cq->notify_any = true;
	if ((flags & IB_CQ_REPORT_MISSED_EVENTS) &&
	    cq_pending(cq->queue, cq_consumer(cq->queue)))
		ret = 1;
	spin_unlock_irqrestore(&cq->lock, irqflags);
	return ret;
}
