// SPDX-License-Identifier: GPL-2.0
/*
 * hodp: the requester. A QP's send queue is run by one work item (never
 * concurrently with itself): each WQE is copied out of the shared ring and
 * validated field by field - userspace may have written anything there -
 * then executed directly against the responder QP (in-host transport), and
 * completed. A responder without a receive WQE answers RNR: the head WQE
 * waits its min_rnr_timer and is tried again, up to rnr_retry times; a peer
 * that is missing or not ready is retried after the QP's timeout, up to
 * retry_cnt times. A page an ODP buffer misses, the requester's or the
 * responder's, stops the queue at the WQE for a fault event (hodp_fault.c)
 * before anything of it is done (or, for an RDMA WRITE, READ or an RC or
 * UC SEND, where its copy stands; for an executed atomic, at its result),
 * and the WQE runs again after. An error completes the WQE with its
 * status and moves the QP to the error state, which flushes what remains.
 */
#include <rdma/ib_cache.h>

#include "hodp.h"

/*
 * What one run of the send queue does before it yields the CPU (the rest
 * is requeued): WQEs, bytes (one WQE may move 2 GiB: its copy yields by
 * itself, see hodp_copy.c), and flushed WQEs. A run happens in a
 * worker or in the doorbell system call; the user can move the producer
 * index for ever, so nothing here loops on it without a budget.
 */
#define HODP_REQ_BUDGET		64
#define HODP_REQ_BYTE_BUDGET	SZ_8M
#define HODP_FLUSH_BUDGET	256

/* RNR NAK timer values of the IB spec (table 45), in microseconds. */
static const u32 rnr_timer_us[32] = {
	655360, 10, 20, 30, 40, 60, 80, 120, 160, 240, 320, 480, 640, 960,
	1280, 1920, 2560, 3840, 5120, 7680, 10240, 15360, 20480, 30720, 40960,
	61440, 81920, 122880, 163840, 245760, 327680, 491520,
};

#define HODP_SEND_FLAGS	(IB_SEND_FENCE | IB_SEND_SIGNALED | \
			 IB_SEND_SOLICITED | IB_SEND_INLINE)

static bool opcode_ok(const struct hodp_qp *qp, u32 opcode)
{
	switch (opcode) {
	case IB_WR_SEND:
	case IB_WR_SEND_WITH_IMM:
		return true;
	/* Memory windows (hodp_mw.c): connected QPs, as rxe binds. */
	case IB_WR_SEND_WITH_INV:
	case IB_WR_LOCAL_INV:
	case IB_WR_BIND_MW:
	case IB_WR_RDMA_WRITE:
	case IB_WR_RDMA_WRITE_WITH_IMM:
		return hodp_qp_is_connected(qp);
	/* UC has no responses: no READ, no atomics (IB spec, table 39). */
	case IB_WR_RDMA_READ:
	case IB_WR_ATOMIC_CMP_AND_SWP:
	case IB_WR_ATOMIC_FETCH_AND_ADD:
		return qp->ibqp.qp_type == IB_QPT_RC;
	}
	return false;
}

/* Work requests the requester executes alone: no peer, no buffers. */
static bool is_local(u32 opcode)
{
	return opcode == IB_WR_LOCAL_INV || opcode == IB_WR_BIND_MW;
}

static bool is_atomic(u32 opcode)
{
	return opcode == IB_WR_ATOMIC_CMP_AND_SWP ||
	       opcode == IB_WR_ATOMIC_FETCH_AND_ADD;
}

/* Copy the head WQE out of the ring and check every field of it. */
static enum ib_wc_status fetch_wqe(struct hodp_qp *qp)
{
	struct hodp_req_ctx *ctx = qp->ctx;
	struct rxe_send_wqe *raw = ctx->elem;
	struct hodp_send_wqe *wqe = &ctx->wqe;
	u32 flags, num_sge, len;
	int n;

	ctx->nlseg = 0;
	hodp_queue_peek(qp->sq, raw, 1UL << qp->sq->log2_elem_size);
	wqe->wr = raw->wr;
	flags = wqe->wr.send_flags;
	if ((flags & ~HODP_SEND_FLAGS) || !opcode_ok(qp, wqe->wr.opcode))
		return IB_WC_LOC_QP_OP_ERR;
	wqe->length = 0;
	if (is_local(wqe->wr.opcode))
		return IB_WC_SUCCESS;	/* what it names: execute_local() */

	if (flags & IB_SEND_INLINE) {
		len = raw->dma.length;
		if (wqe->wr.opcode == IB_WR_RDMA_READ || is_atomic(wqe->wr.opcode))
			return IB_WC_LOC_QP_OP_ERR;
		if (len > qp->sq_max_inline)
			return IB_WC_LOC_LEN_ERR;
		memcpy(wqe->data, raw->dma.inline_data, len);
		wqe->length = len;
		if (len)
			ctx->lseg[ctx->nlseg++] = (struct hodp_seg){
				NULL, (uintptr_t)wqe->data, len };
		return IB_WC_SUCCESS;
	}

	num_sge = raw->dma.num_sge;
	if (num_sge > qp->sq_max_sge)
		return IB_WC_LOC_QP_OP_ERR;
	memcpy(wqe->sge, raw->dma.sge, num_sge * sizeof(struct rxe_sge));
	n = hodp_resolve_sges(qp->dev, qp->ibqp.pd, wqe->sge, num_sge,
			      (wqe->wr.opcode == IB_WR_RDMA_READ ||
			       is_atomic(wqe->wr.opcode)) ?
			      IB_ACCESS_LOCAL_WRITE : 0,
			      ctx->lseg, &wqe->length);
	if (n == -EMSGSIZE)
		return IB_WC_LOC_LEN_ERR;
	if (n < 0)
		return IB_WC_LOC_PROT_ERR;
	ctx->nlseg = n;
	if (is_atomic(wqe->wr.opcode) && wqe->length != 8)
		return IB_WC_LOC_LEN_ERR;
	/*
	 * ODP: what the local buffers miss is a fault event before the peer
	 * is reached (-EAGAIN: ctx->miss, raised by run_sq()).
	 */
	n = hodp_segs_prepare(ctx, ctx->lseg, n, wqe->length,
			      wqe->wr.opcode == IB_WR_RDMA_READ ||
			      is_atomic(wqe->wr.opcode), &ctx->lprep);
	if (n == -EINTR)	/* the QP is closing */
		return IB_WC_WR_FLUSH_ERR;
	if (n && n != -EAGAIN)
		return IB_WC_LOC_PROT_ERR;
	return IB_WC_SUCCESS;
}

/* The destination GID of a UD WQE: from its AH (ah_num) or inline AV. */
static bool ud_dgid(struct hodp_qp *qp, const struct rxe_send_wqe *raw,
		    union ib_gid *dgid, union ib_gid *sgid)
{
	const struct ib_gid_attr *sgid_attr;
	struct hodp_ah *ah;
	unsigned long flags;
	bool ok = false;

	if (!raw->wr.wr.ud.ah_num) {
		memcpy(dgid, raw->wr.wr.ud.av.grh.dgid.raw, sizeof(*dgid));
		return !rdma_query_gid(&qp->dev->ibdev, 1,
				       raw->wr.wr.ud.av.grh.sgid_index, sgid);
	}
	xa_lock_irqsave(&qp->dev->ahs, flags);
	ah = xa_load(&qp->dev->ahs, raw->wr.wr.ud.ah_num);
	if (ah && ah->ibah.pd == qp->ibqp.pd) {
		*dgid = ah->attr.grh.dgid;
		sgid_attr = ah->attr.grh.sgid_attr;
		if (sgid_attr)
			*sgid = sgid_attr->gid;
		ok = sgid_attr;
	}
	xa_unlock_irqrestore(&qp->dev->ahs, flags);
	return ok;
}

/*
 * UD: one datagram to the QP the AH leads to. Unreliable: a wrong Q_Key, a
 * missing peer or one with no receive WQE drops it, and the send still
 * completes successfully.
 */
static enum ib_wc_status execute_ud(struct hodp_qp *qp)
{
	const struct rxe_send_wqe *raw = qp->ctx->elem;
	u32 qkey = qp->ctx->wqe.wr.wr.ud.remote_qkey;
	union ib_gid dgid, sgid;
	enum ib_wc_status status = IB_WC_SUCCESS;
	struct hodp_qp *peer;

	/* Not ib_query_port(): it takes the RTNL, per datagram. */
	if (qp->ctx->wqe.length > ib_mtu_enum_to_int(hodp_active_mtu(qp->dev)))
		return IB_WC_LOC_LEN_ERR;
	if (!ud_dgid(qp, raw, &dgid, &sgid))
		return IB_WC_LOC_QP_OP_ERR;
	/* A Q_Key with the high bit set means: the QP's own. */
	if (qkey & 0x80000000)
		qkey = qp->qkey;
	if (qp->ctx->wqe.wr.wr.ud.remote_qpn == HODP_GSI_QPN)
		peer = hodp_gsi_by_gid(&dgid);
	else
		peer = hodp_qp_get(qp->ctx->wqe.wr.wr.ud.remote_qpn);
	if (!peer)
		return IB_WC_SUCCESS;
	if (hodp_qp_is_ud(peer) && READ_ONCE(peer->qkey) == qkey &&
	    hodp_qp_reaches(peer, &dgid) && hodp_resp_enter(peer)) {
		qp->ctx->peer = peer;
		qp->ctx->peer_closed = false;
		status = hodp_respond_ud(qp, peer, &sgid, &dgid);
		qp->ctx->peer = NULL;
		hodp_resp_exit(peer);
	}
	hodp_qp_put(peer);
	return status;
}

/*
 * A local work request: a window bound (hodp_mw_bind()) or invalidated,
 * in the order of the send queue, as an HCA does (what follows it sees it
 * done). The WQE was copied out of the ring: its fields are read once.
 */
static enum ib_wc_status execute_local(struct hodp_qp *qp)
{
	const struct rxe_send_wr *wr = &qp->ctx->wqe.wr;

	if (wr->opcode == IB_WR_BIND_MW)
		return hodp_mw_bind(qp, wr);
	/* LOCAL_INV: rxe's status for a key it cannot invalidate. */
	if (hodp_mw_invalidate(qp, wr->ex.invalidate_rkey))
		return IB_WC_LOC_QP_OP_ERR;
	return IB_WC_SUCCESS;
}

/* How long a requester waits for an answer that does not come. */
static u32 transport_wait_us(const struct hodp_qp *qp)
{
	u32 us = qp->timeout ? min(4U << min_t(u8, qp->timeout, 20),
				   1000000U) : 10000;

	return max(us, 1000U);
}

/* Is @peer the RC or UC responder @qp is connected to, and it to @qp? */
static bool paired(struct hodp_qp *qp, struct hodp_qp *peer)
{
	return peer->ibqp.qp_type == qp->ibqp.qp_type &&
	       READ_ONCE(peer->dest_qpn) == qp->qpn &&
	       hodp_qp_reaches(peer, &qp->av.grh.dgid);
}

/*
 * Execute the head WQE against the peer. Sets *wait_us (and returns
 * IB_WC_SUCCESS) when it must be tried again later: *rnr says whether the
 * peer answered RNR or did not answer at all.
 *
 * UC: nothing comes back to the requester (no ACK, NAK or RNR NAK), so
 * nothing is tried again and every sent WQE completes successfully;
 * a message the responder cannot take (no peer, not receiving, no receive
 * WQE, a bad rkey) is lost, as on the wire.
 */
static enum ib_wc_status execute(struct hodp_qp *qp, u32 *wait_us, bool *rnr)
{
	bool uc = qp->ibqp.qp_type == IB_QPT_UC;
	enum ib_wc_status status;
	struct hodp_qp *peer;

	if (hodp_qp_is_ud(qp))
		return execute_ud(qp);
	peer = hodp_qp_get(qp->dest_qpn);
	if (peer && (!paired(qp, peer) || !hodp_resp_enter(peer))) {
		hodp_qp_put(peer);
		peer = NULL;
	}
	/*
	 * And again inside: RESET waits for us, so no other requester can
	 * become its peer meanwhile (one requester at a time runs into a
	 * responder: the receive it holds for it, hodp_resp.c). The look
	 * before keeps others from delaying its RESET.
	 */
	if (peer && !paired(qp, peer)) {
		hodp_resp_exit(peer);
		hodp_qp_put(peer);
		peer = NULL;
	}
	if (!peer) {
		if (uc)
			return IB_WC_SUCCESS;
		/* Nobody acknowledges: the transport timer runs out. */
		*wait_us = transport_wait_us(qp);
		return IB_WC_SUCCESS;
	}
	qp->ctx->peer = peer;
	qp->ctx->peer_closed = false;
	status = hodp_respond(qp, peer, rnr);
	qp->ctx->peer = NULL;
	if (uc) {
		/* The responder's troubles stay its own; the sender's do not. */
		*rnr = false;
		if (status != IB_WC_LOC_PROT_ERR &&
		    status != IB_WC_WR_FLUSH_ERR)
			status = IB_WC_SUCCESS;
	} else if (qp->ctx->peer_closed) {
		/* It closed during the message: no answer comes. */
		*wait_us = transport_wait_us(qp);
	} else if (*rnr) {
		*wait_us = rnr_timer_us[READ_ONCE(peer->min_rnr_timer) & 31];
	}
	hodp_resp_exit(peer);
	hodp_qp_put(peer);
	return status;
}

/*
 * Is the head WQE of this run the atomic whose result is kept? Field by
 * field: its work request ID, and what decides the value.
 */
static bool atomic_kept(const struct hodp_req_ctx *ctx)
{
	const struct rxe_send_wr *wr = &ctx->wqe.wr, *kept = &ctx->atomic_wr;

	return is_atomic(wr->opcode) && wr->opcode == kept->opcode &&
	       wr->wr_id == kept->wr_id &&
	       wr->wr.atomic.rkey == kept->wr.atomic.rkey &&
	       wr->wr.atomic.remote_addr == kept->wr.atomic.remote_addr &&
	       wr->wr.atomic.compare_add == kept->wr.atomic.compare_add &&
	       wr->wr.atomic.swap == kept->wr.atomic.swap;
}

/*
 * The head WQE, fetched, its local buffers looked up. An atomic the
 * responder executed in an earlier run only has its result written: its
 * local buffer is still one an atomic may write (fetch_wqe() resolved it
 * for LOCAL_WRITE). The ring's WQE is read again each run: rewritten
 * since into another operation, or another atomic, it is executed as what
 * it is now (the user's own doing: the result kept is dropped).
 */
static enum ib_wc_status run_wqe(struct hodp_qp *qp, u32 *wait_us, bool *rnr)
{
	struct hodp_req_ctx *ctx = qp->ctx;
	u32 opcode = ctx->wqe.wr.opcode;
	enum ib_wc_status status;

	if (ctx->atomic_done) {
		if (atomic_kept(ctx))
			return hodp_atomic_result(ctx);
		ctx->atomic_done = false;
		ctx->copied = 0;
	}
	if (is_local(opcode))
		return execute_local(qp);
	status = execute(qp, wait_us, rnr);
	/*
	 * An atomic executed by this run (hodp_respond()): which WQE it was,
	 * and its result written now, outside the responder.
	 */
	if (ctx->atomic_done) {
		ctx->atomic_wr = ctx->wqe.wr;
		if (status == IB_WC_SUCCESS)
			status = hodp_atomic_result(ctx);
	}
	return status;
}

static enum ib_wc_opcode wc_opcode(u32 wr_opcode)
{
	switch (wr_opcode) {
	case IB_WR_RDMA_WRITE:
	case IB_WR_RDMA_WRITE_WITH_IMM:
		return IB_WC_RDMA_WRITE;
	case IB_WR_RDMA_READ:
		return IB_WC_RDMA_READ;
	case IB_WR_ATOMIC_CMP_AND_SWP:
		return IB_WC_COMP_SWAP;
	case IB_WR_ATOMIC_FETCH_AND_ADD:
		return IB_WC_FETCH_ADD;
	case IB_WR_BIND_MW:
		return IB_WC_BIND_MW;
	case IB_WR_LOCAL_INV:
		return IB_WC_LOCAL_INV;
	default:
		return IB_WC_SEND;
	}
}

static void complete_send(struct hodp_qp *qp, const struct rxe_send_wr *wr,
			  u32 len, enum ib_wc_status status, bool always)
{
	struct ib_wc wc = {
		.wr_id = wr->wr_id,
		.status = status,
		.opcode = wc_opcode(wr->opcode),
		.qp = &qp->ibqp,
		.port_num = 1,
	};

	if (!always && status == IB_WC_SUCCESS && !qp->sq_sig_all &&
	    !(wr->send_flags & IB_SEND_SIGNALED))
		return;
	if (wc.opcode == IB_WC_RDMA_READ || wc.opcode == IB_WC_COMP_SWAP ||
	    wc.opcode == IB_WC_FETCH_ADD)
		wc.byte_len = len;
	if (hodp_cq_post(qp->scq, &wc, false))
		hodp_qp_error(qp);
}

/*
 * In the error state: every WQE left completes with a flush error, up to
 * @budget of them (one count of the user's index, not a loop on it).
 * Return: WQEs may be left.
 */
static bool flush_sq(struct hodp_qp *qp, u32 budget)
{
	u32 n = min(hodp_queue_count(qp->sq), budget), i;
	struct rxe_send_wr wr;

	qp->head_started = false;
	for (i = 0; i < n; i++) {
		hodp_queue_peek(qp->sq, &wr, sizeof(wr));
		hodp_queue_pop(qp->sq);
		complete_send(qp, &wr, 0, IB_WC_WR_FLUSH_ERR, true);
	}
	return n == budget;
}

/*
 * An SRQ QP in the error state with no peer inside takes no more of the
 * SRQ's WQEs (a claim refuses a closing responder): the ULP hears it once
 * per entry into the error state, as from an HCA, and may then drain the
 * CQ of the QP's receives (the kernel's ib_drain_qp() waits for the event
 * from 6.11). Under req_lock, as RESET's clearing of the flag: the
 * handler must not wait for this QP's work (mlx5 calls it from an
 * interrupt; uverbs' only queues the event).
 */
static void last_wqe_reached(struct hodp_qp *qp)
{
	struct ib_event ev = {
		.device = qp->ibqp.device,
		.element.qp = &qp->ibqp,
		.event = IB_EVENT_QP_LAST_WQE_REACHED,
	};

	if (qp->last_wqe_reached)
		return;
	qp->last_wqe_reached = true;
	if (qp->ibqp.event_handler)
		qp->ibqp.event_handler(&ev, qp->ibqp.qp_context);
}

/* Decide what a WQE that must wait becomes: a retry, or its last error. */
static enum ib_wc_status must_wait(struct hodp_qp *qp, bool rnr, u32 wait_us)
{
	if (rnr) {
		/* rnr_retry 7 means: retry for ever. */
		if (qp->rnr_retry != 7 && !qp->rnr_left--)
			return IB_WC_RNR_RETRY_EXC_ERR;
	} else if (!qp->retry_left--) {
		return IB_WC_RETRY_EXC_ERR;
	}
	/* Not armed: the QP stopped sending, nothing more to do now. */
	if (hodp_qp_arm_retry(qp, usecs_to_jiffies(wait_us)))
		hodp_count(qp->dev, rnr ? HODP_CNT_RNR_WAITS :
					  HODP_CNT_RETRY_WAITS);
	return IB_WC_SUCCESS;
}

static void run_sq(struct hodp_qp *qp)
{
	struct hodp_req_ctx *ctx = qp->ctx;
	int budget = HODP_REQ_BUDGET;
	u64 bytes = 0;

	while (budget-- && bytes < HODP_REQ_BYTE_BUDGET) {
		enum ib_qp_state state = READ_ONCE(qp->state);
		enum ib_wc_status status;
		bool rnr = false, fault_pending;
		u32 wait_us = 0;

		if (READ_ONCE(qp->stopping))
			return;
		if (state == IB_QPS_ERR) {
			bool idle = hodp_resp_idle(qp), more = false;

			/*
			 * The receive a message stopped in goes first: it is
			 * the oldest, and no one's while held (a peer inside
			 * claims none now: read_held()).
			 */
			hodp_flush_held(qp);
			/*
			 * A peer still copying into the receive it claimed
			 * completes it at its next look (copy_stopped()):
			 * the receives behind it wait, or their flush would
			 * come first (a drain's marker completing while a
			 * kernel ULP's buffer is still written), and its
			 * hodp_resp_exit() runs us again. With an SRQ, so
			 * does the send queue's flush: ib_drain_qp() drains
			 * that queue alone, and the ULP may free the QP after
			 * its marker.
			 */
			if (idle || !qp->srq)
				more = flush_sq(qp, HODP_FLUSH_BUDGET);
			if (idle)
				more |= hodp_flush_rq(qp, HODP_FLUSH_BUDGET);
			if (idle && qp->srq)
				last_wqe_reached(qp);
			if (more)
				hodp_qp_kick(qp);
			return;
		}
		/*
		 * A fault event pending: its end runs the queue again. The
		 * acquire pairs with the release of the event's end
		 * (hodp_fault.c): once it is over, its fault_inplace is seen.
		 */
		fault_pending = smp_load_acquire(&qp->fault_pending);
		if (state != IB_QPS_RTS || READ_ONCE(qp->retry_pending) ||
		    fault_pending || !hodp_queue_count(qp->sq))
			return;
		if (!qp->head_started) {
			qp->rnr_left = qp->rnr_retry;
			qp->retry_left = qp->retry_cnt;
			qp->head_started = true;
			WRITE_ONCE(qp->fault_inplace, false);
			WRITE_ONCE(qp->fault_peer_fails, false);
			qp->fault_events = 0;
			qp->fault_stalls = 0;
			qp->inplace_tries = HODP_FAULT_TRIES;
			qp->inplace_best = 0;
			WRITE_ONCE(qp->inplace_failed, false);
			ctx->lprep = 0;
			ctx->rprep = 0;
			ctx->copied = 0;
			ctx->atomic_done = false;
		}
		status = fetch_wqe(qp);
		if (status == IB_WC_SUCCESS && !ctx->miss.mr)
			status = run_wqe(qp, &wait_us, &rnr);
		if (READ_ONCE(qp->stopping) ||
		    READ_ONCE(qp->state) == IB_QPS_RESET) {
			/* RESET or destroy discards the WQE: no completion. */
			hodp_put_segs(ctx->lseg, ctx->nlseg);
			ctx->nlseg = 0;
			hodp_fault_drop_miss(ctx);
			return;
		}
		if (ctx->miss.mr) {
			/*
			 * A page fault event, before anything of the WQE was
			 * done or in its resumable copy: the queue stops here,
			 * the WQE runs again once it is resolved (hodp_fault.c),
			 * from where it stopped.
			 */
			hodp_put_segs(ctx->lseg, ctx->nlseg);
			ctx->nlseg = 0;
			/*
			 * Also once its events are over: then a miss of its
			 * own memory is one of its last events (no fault in
			 * this work, hodp_fault.c), one of the responder's
			 * an event still (until miss_way() fails it).
			 */
			hodp_fault_raise(qp);
			return;
		}
		if (status == IB_WC_SUCCESS && wait_us) {
			/* A retransmission: the whole message again. */
			ctx->copied = 0;
			hodp_put_segs(ctx->lseg, ctx->nlseg);
			status = must_wait(qp, rnr, wait_us);
			if (status == IB_WC_SUCCESS)
				return;
		} else {
			hodp_put_segs(ctx->lseg, ctx->nlseg);
		}
		ctx->nlseg = 0;
		bytes += ctx->wqe.length;
		hodp_queue_pop(qp->sq);
		qp->head_started = false;
		/* Counted first: who polled its completion sees it counted. */
		hodp_count_wqe(qp->dev, ctx->wqe.wr.opcode, ctx->wqe.length,
			       status);
		complete_send(qp, &ctx->wqe.wr, ctx->wqe.length, status, false);
		if (status != IB_WC_SUCCESS) {
			pr_debug("hodp: QP %u: WQE failed with %s\n", qp->qpn,
				 ib_wc_status_msg(status));
			hodp_qp_error(qp);
		}
	}
	/* More to do: let other QPs have the worker first. */
	hodp_qp_kick(qp);
}

/**
 * hodp_req_work() - run the send queue (the QP's req_work)
 * @work: the work item
 */
void hodp_req_work(struct work_struct *work)
{
	struct hodp_qp *qp = container_of(work, struct hodp_qp, req_work);

	mutex_lock(&qp->req_lock);
	run_sq(qp);
	mutex_unlock(&qp->req_lock);
}

/**
 * hodp_req_doorbell() - a user QP rang its doorbell: run the send queue
 * @qp: the QP (a user QP, in the post_send system call: process context)
 *
 * Inline when nobody runs the queue, as a hardware HCA starts at once:
 * going through the worker costs a wakeup per message, which is most of
 * a small message's latency. If the queue is being run, the work item
 * runs it again after (it may have looked at the ring before this WQE).
 */
void hodp_req_doorbell(struct hodp_qp *qp)
{
	if (mutex_trylock(&qp->req_lock)) {
		run_sq(qp);
		mutex_unlock(&qp->req_lock);
	} else {
		hodp_qp_kick(qp);
	}
}

/**
 * hodp_retry_work() - the RNR or retry wait of the head WQE is over
 * @work: the QP's retry_work
 */
void hodp_retry_work(struct work_struct *work)
{
	struct hodp_qp *qp = container_of(to_delayed_work(work),
					  struct hodp_qp, retry_work);

	WRITE_ONCE(qp->retry_pending, false);
	hodp_qp_kick(qp);
}
