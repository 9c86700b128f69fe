// SPDX-License-Identifier: GPL-2.0
/*
 * hodp: shared receive queues. A ring of receive WQEs shared with userspace
 * like a QP's receive queue (a kernel consumer's is filled by
 * post_srq_recv); the responder takes from it under srq->lock and
 * raises IB_EVENT_SRQ_LIMIT_REACHED when an armed limit is crossed.
 */
#include <rdma/uverbs_ioctl.h>

#include "hodp.h"

int hodp_create_srq(struct ib_srq *ibsrq, struct ib_srq_init_attr *init,
		    struct ib_udata *udata)
{
	struct hodp_dev *dev = to_hdev(ibsrq->device);
	struct hodp_srq *srq = to_hsrq(ibsrq);
	struct rxe_create_srq_resp resp = {};
	struct ib_srq_attr *attr = &init->attr;
	int ret;

	if (init->srq_type != IB_SRQT_BASIC)
		return -EOPNOTSUPP;
	if (!attr->max_wr || attr->max_wr > HODP_MAX_SRQ_WR ||
	    attr->max_sge > HODP_MAX_SGE ||
	    (udata && udata->outlen < sizeof(resp)))
		return -EINVAL;
	if (atomic_inc_return(&dev->nr_srq) > HODP_MAX_SRQ) {
		ret = -ENOMEM;
		goto err;
	}
	spin_lock_init(&srq->lock);
	srq->user = !!udata;
	srq->max_sge = max_t(u32, attr->max_sge, 1);
	attr->max_sge = srq->max_sge;
	srq->queue = hodp_queue_alloc(&attr->max_wr,
				      sizeof(struct rxe_recv_wqe) +
				      srq->max_sge * sizeof(struct rxe_sge));
	if (!srq->queue) {
		ret = -ENOMEM;
		goto err;
	}
	if (hodp_should_fail_alloc()) {
		ret = -ENOMEM;
		goto err_queue;
	}
	ret = xa_alloc_irq(&dev->srqs, &srq->srq_num, srq, xa_limit_31b,
			   GFP_KERNEL);
	if (ret)
		goto err_queue;
	if (!udata)
		return 0;	/* a kernel SRQ: posted to with post_srq_recv */
	ret = hodp_queue_map(srq->queue, hodp_uctx(udata), &resp.mi);
	if (ret)
		goto err_erase;
	resp.srq_num = srq->srq_num;
	ret = ib_copy_to_udata(udata, &resp, sizeof(resp));
	if (ret)
		goto err_erase;
	return 0;
err_erase:
	xa_erase_irq(&dev->srqs, srq->srq_num);
err_queue:
	hodp_queue_free(srq->queue);
err:
	atomic_dec(&dev->nr_srq);
	return ret;
}

int hodp_modify_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr,
		    enum ib_srq_attr_mask mask, struct ib_udata *udata)
{
	struct hodp_srq *srq = to_hsrq(ibsrq);

	if (mask & IB_SRQ_MAX_WR)
		return -EOPNOTSUPP;	/* no resize: not in device_cap_flags */
	if (mask & IB_SRQ_LIMIT) {
		if (attr->srq_limit > srq->queue->index_mask)
			return -EINVAL;
		spin_lock_irq(&srq->lock);
		srq->limit = attr->srq_limit;
		spin_unlock_irq(&srq->lock);
	}
	return 0;
}

int hodp_query_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr)
{
	struct hodp_srq *srq = to_hsrq(ibsrq);

	attr->max_wr = srq->queue->index_mask;
	attr->max_sge = srq->max_sge;
	attr->srq_limit = srq->limit;
	return 0;
}

int hodp_destroy_srq(struct ib_srq *ibsrq, struct ib_udata *udata)
{
	struct hodp_dev *dev = to_hdev(ibsrq->device);
	struct hodp_srq *srq = to_hsrq(ibsrq);

	xa_erase_irq(&dev->srqs, srq->srq_num);
	hodp_queue_free(srq->queue);
	atomic_dec(&dev->nr_srq);
	return 0;
}
