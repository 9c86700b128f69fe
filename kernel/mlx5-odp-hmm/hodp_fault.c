// SPDX-License-Identifier: GPL-2.0
/*
 * hodp: page fault events, the way mlx5 raises them. Before a WQE does
 * anything that cannot be undone, the requester looks up the ODP pages it
 * will use, its own and the responder's (hodp_segs_prepare()). A miss
 * stops the send queue at that WQE: the QP's fault_work resolves the range
 * through the mirror (faulting ahead, hodp_odp_fault()) in a worker of
 * hodp_fault_wq, then the queue runs again from that WQE, whose lookups
 * start where the last run's stopped. The copy of an RDMA WRITE, READ,
 * SEND or UD datagram raises its misses too (a page invalidated after the
 * lookups): its next run copies on from the byte it stopped at
 * (ctx->copied), if it is the same message to the same responder
 * (resume_ok(), hodp_resp.c), into the receive WQE it claimed, which the
 * responder held meanwhile.
 * An atomic whose page was invalidated after the lookups raises one too,
 * before it executes (hodp_odp_atomic()): its next run looks again; so
 * does its result's copy into a page invalidated since, once executed:
 * its next run writes the value kept (hodp_atomic_result()).
 * Neither the doorbell's system call nor the worker running the queue
 * waits for the mm, and the requester sees a responder's fault as a
 * stall: no RNR or transport retry is used.
 *
 * An event that cannot be resolved (unmapped memory, a write to read-only
 * memory) makes the WQE's next run fault where it stands
 * (qp->fault_inplace): the copy's own faults end it with the status it
 * deserves, bounded by HODP_FAULT_TRIES, and never loop. So do
 * HODP_FAULT_TRIES events in a row after which the lookups got no further
 * (invalidations racing the fault, or a user rewriting the receive WQE
 * looked at, or the send WQE, between two runs), and more events than the
 * WQE's buffers can take with progress (one per page and per segment): a
 * WQE stalls for a bounded number of events, whatever its peer does.
 *
 * Lifetime: a QP has one event at most, its own (fault_work and fault,
 * both in the QP). It is raised under state_lock, never once destroy set
 * stopping nor out of RTS; RESET and destroy cancel it, and drop the MR
 * reference of one that had not started. The event's fault stops at its
 * next attempt when the QP closes or the MR is being deregistered (which
 * waits for the reference the event holds): the teardown of the MR's
 * mirror is never the event's.
 */
#include "hodp.h"
#include "hodp_trace.h"

struct workqueue_struct *hodp_fault_wq;

/* Between the attempts of an event's fault: nobody waits for it any more. */
static bool fault_stop(void *arg)
{
	struct hodp_qp *qp = arg;

	return hodp_req_closing(qp) || READ_ONCE(qp->fault.mr->dying);
}

/**
 * hodp_fault_work() - resolve the QP's fault event, resume its send queue
 * @work: the QP's fault_work
 */
void hodp_fault_work(struct work_struct *work)
{
	struct hodp_qp *qp = container_of(work, struct hodp_qp, fault_work);
	struct hodp_mr *mr = qp->fault.mr;
	int ret;

	ret = hodp_odp_fault(mr, hodp_odp_uaddr(mr, qp->fault.addr),
			     hodp_odp_uaddr(mr, qp->fault.end),
			     qp->fault.write, fault_stop, qp);
	if (!ret)
		trace_hodp_odp_resume(mr, qp->fault.addr, qp->fault.write);
	else if (ret != -ECANCELED)
		WRITE_ONCE(qp->fault_inplace, true);
	qp->fault.mr = NULL;
	hodp_mr_put(mr);
	/* Pairs with run_sq()'s acquire: it sees fault_inplace once over. */
	smp_store_release(&qp->fault_pending, false);
	hodp_qp_kick(qp);
}

/**
 * hodp_fault_drop_miss() - forget a miss that is not raised
 * @ctx: the requester's working memory
 */
void hodp_fault_drop_miss(struct hodp_req_ctx *ctx)
{
	if (ctx->miss.mr)
		hodp_mr_put(ctx->miss.mr);
	ctx->miss.mr = NULL;
}

/*
 * The events a WQE may raise: each one with progress moves a side's
 * lookups (local or remote) on by a page at least, to a segment's end at
 * least, or its resumable copy to a page's or segment's end of either
 * side: no more than one per page and per segment of each side, twice,
 * and HODP_FAULT_TRIES more: what faulting where the access stands could
 * cost at worst, whatever the peer rewrites between two runs.
 */
static u32 fault_events_max(const struct hodp_req_ctx *ctx)
{
	return 4 * (DIV_ROUND_UP(ctx->wqe.length, PAGE_SIZE) + HODP_MAX_SGE) +
	       HODP_FAULT_TRIES;
}

/**
 * hodp_fault_raise() - stop the send queue for the miss of this run
 * @qp: the requester, running its queue (req_lock held); ctx->miss set
 *
 * Raises the miss as the QP's fault event, or, past the bounds above,
 * lets the WQE's next run fault where it stands. Not raised if the QP
 * left RTS meanwhile: RESET discards the WQE, ERR flushes it, and back in
 * RTS it runs again.
 */
void hodp_fault_raise(struct hodp_qp *qp)
{
	struct hodp_req_ctx *ctx = qp->ctx;
	unsigned long flags;
	bool raised = false;
	u64 progress;

	lockdep_assert_held(&qp->req_lock);
	progress = (u64)ctx->lprep + ctx->rprep + ctx->copied;
	if (qp->fault_events && progress == qp->fault_progress)
		qp->fault_stalls++;
	else
		qp->fault_stalls = 0;
	qp->fault_progress = progress;
	if (qp->fault_stalls >= HODP_FAULT_TRIES ||
	    ++qp->fault_events > fault_events_max(ctx)) {
		WRITE_ONCE(qp->fault_inplace, true);
		hodp_fault_drop_miss(ctx);
		hodp_qp_kick(qp);
		return;
	}

	spin_lock_irqsave(&qp->state_lock, flags);
	if (!qp->stopping && qp->state == IB_QPS_RTS) {
		trace_hodp_odp_fault_event(qp, &ctx->miss);
		qp->fault = ctx->miss;
		ctx->miss.mr = NULL;
		WRITE_ONCE(qp->fault_pending, true);
		queue_work(hodp_fault_wq, &qp->fault_work);
		raised = true;
	}
	spin_unlock_irqrestore(&qp->state_lock, flags);
	if (!raised)
		hodp_fault_drop_miss(ctx);
}

/**
 * hodp_fault_cancel() - end the QP's fault event (RESET, destroy)
 * @qp: a QP that raises none any more (out of RTS, or stopping)
 *
 * Waits for a running one, whose fault stops at its next attempt.
 */
void hodp_fault_cancel(struct hodp_qp *qp)
{
	/* Queued, never started: its MR reference is ours to drop. */
	if (cancel_work_sync(&qp->fault_work) && qp->fault.mr) {
		hodp_mr_put(qp->fault.mr);
		qp->fault.mr = NULL;
	}
	WRITE_ONCE(qp->fault_pending, false);
}
