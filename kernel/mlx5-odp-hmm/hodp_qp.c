// SPDX-License-Identifier: GPL-2.0
/*
 * hodp: queue pairs. Creation over shared send and receive rings, the state
 * machine (transitions and required attributes as the core's
 * ib_modify_qp_is_ok() has them from the IB spec), and the QP table.
 *
 * QP numbers are unique across every hodp device, so the in-host transport
 * finds a requester's peer with one lookup. The exception is QP1, the GSI
 * QP of each device (created by the MAD layer for CM MADs): it is found by
 * the device, which is found by the destination GID. A lookup takes a reference
 * under the table's lock; destroy removes the QP from the table, stops its
 * requester and waits until no peer holds a reference.
 *
 * Work items: req_work and retry_work are queued only under state_lock
 * (hodp_qp_kick(), hodp_qp_arm_retry(), the state changes here, a fault
 * event's end), and never once destroy set stopping (under that lock);
 * so after it, cancelling the two leaves nothing pending or running. The
 * fault event is not the QP's to wait for: it lives apart, and finds the
 * QP by number or not at all (hodp_fault.c). A
 * peer executes against a QP only between hodp_resp_enter() and
 * hodp_resp_exit(), which count it: RESET closes that door and waits for
 * those inside, so nothing lands in a QP once RESET (or destroy, which
 * waits for every reference) returned.
 */
#include <linux/slab.h>
#include <rdma/ib_cache.h>
#include <rdma/uverbs_ioctl.h>

#include "hodp.h"

static DEFINE_XARRAY_FLAGS(hodp_qps, XA_FLAGS_ALLOC | XA_FLAGS_LOCK_IRQ);
static u32 hodp_next_qpn = HODP_QPN_MIN;

/**
 * hodp_qp_get() - the QP of a number, referenced
 * @qpn: QP number on any hodp device
 *
 * Return: the QP (release with hodp_qp_put()) or NULL.
 */
struct hodp_qp *hodp_qp_get(u32 qpn)
{
	unsigned long flags;
	struct hodp_qp *qp;

	xa_lock_irqsave(&hodp_qps, flags);
	qp = xa_load(&hodp_qps, qpn);
	if (qp && !refcount_inc_not_zero(&qp->ref))
		qp = NULL;
	xa_unlock_irqrestore(&hodp_qps, flags);
	return qp;
}

/**
 * hodp_gsi_get() - the GSI QP (QP1) of a device, referenced
 * @dev: the device
 *
 * Return: the QP (release with hodp_qp_put()) or NULL.
 */
struct hodp_qp *hodp_gsi_get(struct hodp_dev *dev)
{
	unsigned long flags;
	struct hodp_qp *qp;

	xa_lock_irqsave(&hodp_qps, flags);
	qp = dev->gsi;
	if (qp && !refcount_inc_not_zero(&qp->ref))
		qp = NULL;
	xa_unlock_irqrestore(&hodp_qps, flags);
	return qp;
}

/**
 * hodp_qp_reaches() - is @qp at the end of a path to @gid: does its device
 *	have that (RoCE v2) GID?
 * @qp: a referenced QP (its device is registered while it exists)
 * @gid: the destination GID of the path
 *
 * Return: true if it does.
 */
bool hodp_qp_reaches(struct hodp_qp *qp, const union ib_gid *gid)
{
	const struct ib_gid_attr *attr;

	attr = rdma_find_gid_by_port(&qp->dev->ibdev, gid,
				     IB_GID_TYPE_ROCE_UDP_ENCAP, 1, NULL);
	if (IS_ERR(attr))
		return false;
	rdma_put_gid_attr(attr);
	return true;
}

/**
 * hodp_qp_put() - release a reference from hodp_qp_get()
 * @qp: the QP
 */
void hodp_qp_put(struct hodp_qp *qp)
{
	if (refcount_dec_and_test(&qp->ref))
		complete(&qp->idle);
}

static int check_caps(struct hodp_dev *dev, struct ib_qp_init_attr *init)
{
	struct ib_qp_cap *cap = &init->cap;

	if (init->create_flags) {
		pr_warn_ratelimited("hodp: QP create flags 0x%x not supported\n",
				    init->create_flags);
		return -EOPNOTSUPP;
	}
	if (init->qp_type != IB_QPT_RC && init->qp_type != IB_QPT_UC &&
	    init->qp_type != IB_QPT_UD && init->qp_type != IB_QPT_GSI) {
		pr_warn_ratelimited("hodp: QP type %d not supported\n",
				    init->qp_type);
		return -EOPNOTSUPP;
	}
	if (!cap->max_send_wr || cap->max_send_wr > HODP_MAX_QP_WR ||
	    cap->max_send_sge > HODP_MAX_SGE ||
	    cap->max_inline_data > HODP_MAX_INLINE ||
	    (!init->srq && (!cap->max_recv_wr ||
			    cap->max_recv_wr > HODP_MAX_QP_WR ||
			    cap->max_recv_sge > HODP_MAX_SGE)))
		return -EINVAL;
	return 0;
}

static int create_queues(struct hodp_qp *qp, struct ib_qp_init_attr *init,
			 struct ib_udata *udata)
{
	struct rxe_create_qp_resp resp = {};
	struct ib_qp_cap *cap = &init->cap;
	size_t wqe_size;
	int ret;

	/* As Soft-RoCE: the WQE holds the larger of the SGEs and inline data. */
	wqe_size = max_t(size_t, cap->max_send_sge * sizeof(struct rxe_sge),
			 cap->max_inline_data);
	wqe_size = max_t(size_t, wqe_size, sizeof(struct rxe_sge));
	cap->max_send_sge = wqe_size / sizeof(struct rxe_sge);
	cap->max_inline_data = wqe_size;
	qp->sq_max_sge = cap->max_send_sge;
	qp->sq_max_inline = cap->max_inline_data;
	qp->sq = hodp_queue_alloc(&cap->max_send_wr,
				  sizeof(struct rxe_send_wqe) + wqe_size);
	if (!qp->sq)
		return -ENOMEM;
	qp->ctx->elem = hodp_kmalloc(1UL << qp->sq->log2_elem_size);
	if (!qp->ctx->elem)
		return -ENOMEM;

	if (!init->srq) {
		cap->max_recv_sge = max_t(u32, cap->max_recv_sge, 1);
		qp->rq_max_sge = cap->max_recv_sge;
		qp->rq = hodp_queue_alloc(&cap->max_recv_wr,
					  sizeof(struct rxe_recv_wqe) +
					  qp->rq_max_sge * sizeof(struct rxe_sge));
		if (!qp->rq)
			return -ENOMEM;
	}
	if (!udata)
		return 0;
	if (udata->outlen < sizeof(resp))
		return -EINVAL;
	ret = hodp_queue_map(qp->sq, hodp_uctx(udata), &resp.sq_mi);
	if (!ret && qp->rq)
		ret = hodp_queue_map(qp->rq, hodp_uctx(udata),
				     &resp.rq_mi);
	return ret ?: ib_copy_to_udata(udata, &resp, sizeof(resp));
}

static void free_queues(struct hodp_qp *qp)
{
	hodp_queue_free(qp->sq);
	hodp_queue_free(qp->rq);
	if (qp->ctx)
		kfree(qp->ctx->elem);
	kfree(qp->ctx);
	hodp_fault_event_free(qp);
}

int hodp_create_qp(struct ib_qp *ibqp, struct ib_qp_init_attr *init,
		   struct ib_udata *udata)
{
	struct hodp_dev *dev = to_hdev(ibqp->device);
	struct hodp_qp *qp = to_hqp(ibqp);
	int ret;

	ret = check_caps(dev, init);
	if (ret)
		return ret;
	if (atomic_inc_return(&dev->nr_qp) > HODP_MAX_QP) {
		atomic_dec(&dev->nr_qp);
		return -ENOMEM;
	}
	qp->dev = dev;
	qp->serial = hodp_qp_next_serial();
	qp->user = !!udata;
	qp->state = IB_QPS_RESET;
	qp->sq_sig_all = init->sq_sig_type == IB_SIGNAL_ALL_WR;
	qp->scq = to_hcq(init->send_cq);
	qp->rcq = to_hcq(init->recv_cq);
	qp->srq = init->srq ? to_hsrq(init->srq) : NULL;
	refcount_set(&qp->ref, 1);
	init_completion(&qp->idle);
	init_waitqueue_head(&qp->resp_wait);
	mutex_init(&qp->modify_lock);
	spin_lock_init(&qp->state_lock);
	mutex_init(&qp->req_lock);
	spin_lock_init(&qp->rq_lock);
	mutex_init(&qp->ud_lock);
	spin_lock_init(&qp->sq_lock);
	INIT_WORK(&qp->req_work, hodp_req_work);
	INIT_DELAYED_WORK(&qp->retry_work, hodp_retry_work);

	qp->ctx = hodp_kzalloc(sizeof(*qp->ctx));
	if (qp->ctx)
		qp->ctx->qp = qp;
	ret = qp->ctx ? create_queues(qp, init, udata) : -ENOMEM;
	/* The GSI QP faults where the access stands (hodp_fault_raise()). */
	if (!ret && init->qp_type != IB_QPT_GSI)
		ret = hodp_fault_event_alloc(qp);
	if (ret)
		goto err;
	if (init->qp_type == IB_QPT_GSI) {
		ret = 0;
		qp->qpn = HODP_GSI_QPN;
		xa_lock_irq(&hodp_qps);
		if (dev->gsi)
			ret = -EBUSY;
		else
			dev->gsi = qp;
		xa_unlock_irq(&hodp_qps);
	} else if (hodp_should_fail_alloc()) {
		ret = -ENOMEM;
	} else {
		ret = xa_alloc_cyclic_irq(&hodp_qps, &qp->qpn, qp,
					  XA_LIMIT(HODP_QPN_MIN, (1U << 24) - 1),
					  &hodp_next_qpn, GFP_KERNEL);
	}
	if (ret < 0)
		goto err;
	ibqp->qp_num = qp->qpn;
	return 0;
err:
	free_queues(qp);
	atomic_dec(&dev->nr_qp);
	return ret;
}

/**
 * hodp_qp_kick() - have the QP's requester run (queue its req_work)
 * @qp: the QP
 *
 * Any context. Refused once destroy has begun.
 */
void hodp_qp_kick(struct hodp_qp *qp)
{
	unsigned long flags;

	spin_lock_irqsave(&qp->state_lock, flags);
	if (!qp->stopping)
		queue_work(hodp_wq, &qp->req_work);
	spin_unlock_irqrestore(&qp->state_lock, flags);
}

/**
 * hodp_qp_arm_retry() - resume the send queue after @delay (retry_work)
 * @qp: the QP, whose requester runs (holding req_lock)
 * @delay: jiffies
 *
 * Return: true if armed; false if the QP stopped sending meanwhile (RESET,
 * error, destroy), and then nothing will resume it.
 */
bool hodp_qp_arm_retry(struct hodp_qp *qp, unsigned long delay)
{
	unsigned long flags;
	bool armed;

	spin_lock_irqsave(&qp->state_lock, flags);
	armed = !qp->stopping && qp->state == IB_QPS_RTS;
	if (armed) {
		WRITE_ONCE(qp->retry_pending, true);
		queue_delayed_work(hodp_wq, &qp->retry_work, delay);
	}
	spin_unlock_irqrestore(&qp->state_lock, flags);
	return armed;
}

/**
 * hodp_resp_enter() - a peer begins executing against @qp (as responder)
 * @qp: a referenced QP
 *
 * Return: true if @qp receives (then call hodp_resp_exit() when done),
 * false if it is not in a receiving state or is being destroyed.
 */
bool hodp_resp_enter(struct hodp_qp *qp)
{
	unsigned long flags;
	bool ok;

	spin_lock_irqsave(&qp->state_lock, flags);
	ok = !qp->stopping && hodp_state_receives(qp->state);
	if (ok)
		qp->resp_users++;
	spin_unlock_irqrestore(&qp->state_lock, flags);
	return ok;
}

/**
 * hodp_resp_exit() - the peer is done with @qp
 * @qp: the QP of a successful hodp_resp_enter()
 */
void hodp_resp_exit(struct hodp_qp *qp)
{
	unsigned long flags;

	spin_lock_irqsave(&qp->state_lock, flags);
	if (!--qp->resp_users) {
		wake_up_all(&qp->resp_wait);
		/* Its receive queue waited for us to flush (run_sq()). */
		if (qp->state == IB_QPS_ERR && !qp->stopping)
			queue_work(hodp_wq, &qp->req_work);
	}
	spin_unlock_irqrestore(&qp->state_lock, flags);
}

/**
 * hodp_resp_idle() - no peer is executing against @qp
 * @qp: the QP
 *
 * Return: true if none is between hodp_resp_enter() and hodp_resp_exit().
 */
bool hodp_resp_idle(struct hodp_qp *qp)
{
	unsigned long flags;
	bool idle;

	spin_lock_irqsave(&qp->state_lock, flags);
	idle = !qp->resp_users;
	spin_unlock_irqrestore(&qp->state_lock, flags);
	return idle;
}

/**
 * hodp_qp_error() - an operation failed: the QP goes to the error state,
 *	and the requester flushes both queues
 * @qp: the QP
 *
 * Called by the requester and responder of any QP, in any context: it
 * takes only a spinlock, so modify_qp may wait for the requester (RESET)
 * while holding its own mutex. An error that comes after RESET or destroy
 * began is of work those cut short: it is dropped.
 */
void hodp_qp_error(struct hodp_qp *qp)
{
	unsigned long flags;

	spin_lock_irqsave(&qp->state_lock, flags);
	if (qp->state != IB_QPS_ERR && qp->state != IB_QPS_RESET &&
	    !qp->stopping) {
		qp->state = IB_QPS_ERR;
		queue_work(hodp_wq, &qp->req_work);
	}
	spin_unlock_irqrestore(&qp->state_lock, flags);
}

/*
 * RESET discards everything posted: back to empty rings. The QP is in
 * RESET already, so nothing queues its work any more (hodp_qp_kick()
 * still does, but the work then finds nothing to do).
 */
static void reset_queues(struct hodp_qp *qp)
{
	struct hodp_mr *kept;

	/* A running req_work may arm the retry: cancel it after. */
	cancel_work_sync(&qp->req_work);
	mutex_lock(&qp->req_lock);	/* a doorbell running it inline */
	cancel_delayed_work_sync(&qp->retry_work);
	kept = hodp_fault_disown(qp);
	qp->head_started = false;
	qp->retry_pending = false;
	qp->last_wqe_reached = false;
	WRITE_ONCE(qp->resets, qp->resets + 1);
	/*
	 * The SRQ WQE a message stopped in is the SRQ's, not this QP's to
	 * discard: it completes with a flush error (nothing else of the
	 * SRQ goes). An RQ's goes with the ring, below.
	 */
	if (qp->srq)
		hodp_flush_held(qp);
	qp->sq->index = 0;
	qp->sq->buf->producer_index = 0;
	qp->sq->buf->consumer_index = 0;
	spin_lock_irq(&qp->rq_lock);
	WRITE_ONCE(qp->held.valid, false);
	if (qp->rq) {
		qp->rq->index = 0;
		qp->rq->buf->producer_index = 0;
		qp->rq->buf->consumer_index = 0;
	}
	spin_unlock_irq(&qp->rq_lock);
	mutex_unlock(&qp->req_lock);
	/* A cancelled event's MR: maybe its last keeper (no lock held). */
	if (kept)
		hodp_mr_unkeep(kept);
}

static int check_attrs(struct ib_qp_attr *attr, int mask)
{
	if ((mask & IB_QP_PORT) && attr->port_num != 1)
		return -EINVAL;
	if ((mask & IB_QP_PKEY_INDEX) && attr->pkey_index)
		return -EINVAL;
	if ((mask & IB_QP_MAX_QP_RD_ATOMIC) &&
	    attr->max_rd_atomic > HODP_MAX_RD_ATOMIC)
		return -EINVAL;
	if ((mask & IB_QP_MAX_DEST_RD_ATOMIC) &&
	    attr->max_dest_rd_atomic > HODP_MAX_RD_ATOMIC)
		return -EINVAL;
	if ((mask & IB_QP_AV) &&
	    !(rdma_ah_get_ah_flags(&attr->ah_attr) & IB_AH_GRH))
		return -EINVAL;
	return 0;
}

/* Checked attributes, under req_lock and state_lock: nothing can fail. */
static void apply_attrs(struct hodp_qp *qp, struct ib_qp_attr *attr, int mask)
{
	if (mask & IB_QP_ACCESS_FLAGS)
		qp->access = attr->qp_access_flags;
	if (mask & IB_QP_QKEY)
		qp->qkey = attr->qkey;
	if (mask & IB_QP_DEST_QPN)
		qp->dest_qpn = attr->dest_qp_num;
	if (mask & IB_QP_MIN_RNR_TIMER)
		qp->min_rnr_timer = attr->min_rnr_timer;
	if (mask & IB_QP_RNR_RETRY)
		qp->rnr_retry = attr->rnr_retry;
	if (mask & IB_QP_RETRY_CNT)
		qp->retry_cnt = attr->retry_cnt;
	if (mask & IB_QP_TIMEOUT)
		qp->timeout = attr->timeout;
	if (mask & IB_QP_SQ_PSN)
		qp->sq_psn = attr->sq_psn & 0xffffff;
	if (mask & IB_QP_RQ_PSN)
		qp->rq_psn = attr->rq_psn & 0xffffff;
	if (mask & IB_QP_AV) {
		rdma_destroy_ah_attr(&qp->av);
		rdma_copy_ah_attr(&qp->av, &attr->ah_attr);
	}
}

/* To RESET: close the QP to peers, wait for those executing, empty it. */
static void to_reset(struct hodp_qp *qp)
{
	spin_lock_irq(&qp->state_lock);
	qp->state = IB_QPS_RESET;
	spin_unlock_irq(&qp->state_lock);
	wait_event(qp->resp_wait, hodp_resp_idle(qp));
	reset_queues(qp);
}

/*
 * To ERR: published at once, under state_lock alone, as hodp_qp_error()
 * publishes an error. The requester may be in a long copy or fault under
 * req_lock: its stop predicates (hodp_req_closing()) see ERR at their next
 * look and end that WQE with a flush error, where taking req_lock first
 * held the state back until the WQE was done (the whole of a raced fault,
 * up to the HMM core's time limit). Nothing here needs req_lock: ERR takes
 * no attribute (ib_modify_qp_is_ok() refuses any beside the state), the
 * requester reads the state once per WQE and flushes from there, and a
 * peer executing against the QP sees it (hodp_resp_closing()) as it sees
 * an asynchronous error.
 */
static void to_err(struct hodp_qp *qp)
{
	spin_lock_irq(&qp->state_lock);
	qp->state = IB_QPS_ERR;
	if (!qp->stopping)
		queue_work(hodp_wq, &qp->req_work);
	spin_unlock_irq(&qp->state_lock);
}

int hodp_modify_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		   struct ib_udata *udata)
{
	struct hodp_qp *qp = to_hqp(ibqp);
	enum ib_qp_state cur, new;
	int ret;

	if (mask & ~IB_QP_ATTR_STANDARD_BITS)
		return -EOPNOTSUPP;
	mutex_lock(&qp->modify_lock);
	cur = (mask & IB_QP_CUR_STATE) ? attr->cur_qp_state : READ_ONCE(qp->state);
	new = (mask & IB_QP_STATE) ? attr->qp_state : cur;
	ret = -EINVAL;
	if (cur != READ_ONCE(qp->state) ||
	    !ib_modify_qp_is_ok(cur, new, ibqp->qp_type, mask))
		goto out;
	ret = check_attrs(attr, mask);
	if (ret)
		goto out;
	if ((mask & IB_QP_STATE) && new == IB_QPS_RESET) {
		to_reset(qp);	/* from any state; it takes no attributes */
		goto out;
	}
	if (new == IB_QPS_ERR) {
		to_err(qp);	/* from any state; it takes no attributes */
		goto out;
	}
	/*
	 * All or nothing: the state (errors come in asynchronously) is checked
	 * and the attributes applied under one lock; the requester reads them
	 * under req_lock.
	 */
	mutex_lock(&qp->req_lock);
	spin_lock_irq(&qp->state_lock);
	/* An error that came in meanwhile wins. */
	if (qp->state != cur) {
		ret = -EINVAL;
	} else {
		apply_attrs(qp, attr, mask);
		qp->state = new;
		/* Work posted before the QP could send starts now. */
		if (new == IB_QPS_RTS && !qp->stopping)
			queue_work(hodp_wq, &qp->req_work);
	}
	spin_unlock_irq(&qp->state_lock);
	mutex_unlock(&qp->req_lock);
out:
	mutex_unlock(&qp->modify_lock);
	return ret;
}

int hodp_query_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		  struct ib_qp_init_attr *init)
{
	struct hodp_qp *qp = to_hqp(ibqp);

	memset(attr, 0, sizeof(*attr));
	memset(init, 0, sizeof(*init));
	mutex_lock(&qp->modify_lock);
	attr->qp_state = READ_ONCE(qp->state);
	attr->cur_qp_state = attr->qp_state;
	attr->path_mtu = IB_MTU_4096;
	attr->qp_access_flags = qp->access;
	attr->qkey = qp->qkey;
	attr->dest_qp_num = qp->dest_qpn;
	attr->port_num = 1;
	attr->min_rnr_timer = qp->min_rnr_timer;
	attr->rnr_retry = qp->rnr_retry;
	attr->retry_cnt = qp->retry_cnt;
	attr->timeout = qp->timeout;
	attr->sq_psn = qp->sq_psn;
	attr->rq_psn = qp->rq_psn;
	attr->max_rd_atomic = HODP_MAX_RD_ATOMIC;
	attr->max_dest_rd_atomic = HODP_MAX_RD_ATOMIC;
	if (hodp_qp_is_connected(qp) && (qp->av.ah_flags & IB_AH_GRH)) {
		attr->ah_attr = qp->av;
		attr->ah_attr.grh.sgid_attr = NULL;
	}
	mutex_unlock(&qp->modify_lock);
	attr->cap.max_send_wr = qp->sq->index_mask;
	attr->cap.max_send_sge = qp->sq_max_sge;
	attr->cap.max_inline_data = qp->sq_max_inline;
	if (qp->rq) {
		attr->cap.max_recv_wr = qp->rq->index_mask;
		attr->cap.max_recv_sge = qp->rq_max_sge;
	}
	init->cap = attr->cap;
	init->qp_type = ibqp->qp_type;
	init->send_cq = ibqp->send_cq;
	init->recv_cq = ibqp->recv_cq;
	init->srq = ibqp->srq;
	init->sq_sig_type = qp->sq_sig_all ? IB_SIGNAL_ALL_WR : IB_SIGNAL_REQ_WR;
	return 0;
}

int hodp_destroy_qp(struct ib_qp *ibqp, struct ib_udata *udata)
{
	struct hodp_qp *qp = to_hqp(ibqp);

	/* No peer finds it any more; then stop its own requester. */
	if (ibqp->qp_type == IB_QPT_GSI) {
		xa_lock_irq(&hodp_qps);
		qp->dev->gsi = NULL;
		xa_unlock_irq(&hodp_qps);
	} else {
		xa_erase_irq(&hodp_qps, qp->qpn);
	}
	/* Nothing queues its work from now on (see the top of the file). */
	spin_lock_irq(&qp->state_lock);
	qp->stopping = true;
	spin_unlock_irq(&qp->state_lock);
	cancel_work_sync(&qp->req_work);
	cancel_delayed_work_sync(&qp->retry_work);
	/*
	 * Its fault event, if running, finds it no more (hodp_fault.c):
	 * nothing to wait for. Wait for the peers executing against it.
	 */
	hodp_qp_put(qp);
	wait_for_completion(&qp->idle);
	/*
	 * The SRQ WQE a message stopped in is the SRQ's, which lives on: it
	 * completes with a flush error, as at RESET (and as one a peer was
	 * copying into when it saw the QP stopping: copy_stopped()). Only a
	 * user QP's: a kernel CQ's completion carries the QP this frees,
	 * which a ULP's handler reads (its drain, the QP in ERR first, has
	 * flushed the WQE already: run_sq()).
	 */
	if (qp->srq && qp->user)
		hodp_flush_held(qp);
	rdma_destroy_ah_attr(&qp->av);
	free_queues(qp);
	atomic_dec(&qp->dev->nr_qp);
	return 0;
}
