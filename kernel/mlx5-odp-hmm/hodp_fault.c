// SPDX-License-Identifier: GPL-2.0
/*
 * hodp: page fault events, the way mlx5 raises them. Before a WQE does
 * anything that cannot be undone, the requester looks up the ODP pages it
 * will use, its own and the responder's (hodp_segs_prepare()). A miss
 * stops the send queue at that WQE: the QP's fault event resolves the range
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
 * waits for the mm for an event (only once the WQE's events for its own
 * memory are over, below), and the requester sees a responder's fault as
 * a stall: no RNR or transport retry is used.
 *
 * An event that cannot be resolved (unmapped memory, a write to read-only
 * memory) ends the WQE's events for its own memory (qp->fault_inplace):
 * its next run faults that where it stands, out of the responder (bounded
 * by HODP_FAULT_TRIES), and one of the responder's memory fails it
 * (qp->fault_peer_fails: a requester never faults another's memory where
 * it stands, hodp_copy.c, miss_way()), so the WQE ends with the status it
 * deserves and never loops. So do
 * HODP_FAULT_TRIES events in a row after which the lookups got no further
 * (invalidations racing the fault, or a user rewriting the receive WQE
 * looked at, or the send WQE, between two runs), and more events than the
 * WQE's buffers can take with progress (one per page and per segment): a
 * WQE stalls for a bounded number of events, whatever its peer does.
 *
 * Lifetime: a QP's event lives apart from it (struct hodp_fault_event),
 * because its fault may block in the mm for as long as that memory's
 * owner wants (a FUSE server holding the read of a file-backed ODP MR,
 * maybe a peer process's): no verb of the QP waits for it. It is raised
 * under state_lock, never once destroy set stopping nor out of RTS, and
 * finds its QP again by number (hodp_qp_get(), which destroy closes
 * before it waits for the QP's references), knowing it by the event the
 * QP owns. RESET and destroy let it go: one queued is cancelled there;
 * one running is left to end by itself (its fault stops at its next
 * attempt, its end finds no QP of its own), and RESET gives the QP a
 * fresh event for its next miss (if there is memory for one). Left
 * running, an event holds a worker of hodp_fault_wq, nothing of the QP.
 * Nor does the MR's deregistration wait for it: the event keeps the MR's
 * memory, not an access reference (hodp_mr_keep()), and its fault stops
 * at its next attempt once the MR is dying (the process deregistering
 * may be the FUSE server it waits for, at its exit). Not covered here: a
 * fault of the requester's own memory where its queue stands (its events
 * over, hodp_fault_own_miss()) runs in its own work or doorbell, which
 * its RESET and destroy do wait for; never inside a responder but for
 * the GSI QP's (docs/design.md).
 */
#include "hodp.h"
#include "hodp_trace.h"

struct workqueue_struct *hodp_fault_wq;

/*
 * A QP's fault event: the work resolving its miss, and what it needs once
 * the QP may have let it go. Referenced by the QP (until it lets it go)
 * and by the work while queued or running (hodp_fault_raise() to its end).
 */
struct hodp_fault_event {
	struct work_struct work;
	refcount_t ref;
	u32 qpn;			/* its QP's, to find it again */
	struct hodp_fault_ev fault;	/* the work's, its MR kept */
};

static void fault_event_put(struct hodp_fault_event *ev)
{
	if (refcount_dec_and_test(&ev->ref))
		kfree(ev);
}

/*
 * The event's QP, referenced, or NULL if destroy began, the QP is gone or
 * let the event go (its number reused, or a RESET gave it a fresh one).
 * Checked again under state_lock by who acts on it.
 */
static struct hodp_qp *fault_event_qp(struct hodp_fault_event *ev)
{
	struct hodp_qp *qp = hodp_qp_get(ev->qpn);

	if (qp && READ_ONCE(qp->fault_event) != ev) {
		hodp_qp_put(qp);
		qp = NULL;
	}
	return qp;
}

/* Before each attempt of an event's fault: nobody waits for it any more. */
static bool fault_stop(void *arg)
{
	struct hodp_fault_event *ev = arg;
	struct hodp_qp *qp = fault_event_qp(ev);
	bool stop = !qp || !READ_ONCE(qp->fault_own) || hodp_req_closing(qp);

	if (qp)
		hodp_qp_put(qp);
	return stop || READ_ONCE(ev->fault.mr->dying);
}

/*
 * The QP's event failed: the WQE's own memory is faulted where it stands
 * from now on (hodp_copy.c, miss_way()), and the responder's, never
 * faulted by a requester, fails the WQE if it cannot be mirrored (unmapped,
 * or a write to read-only memory; a failure that may pass, such as
 * -EBUSY under memory pressure, leaves it events, bounded as any).
 */
static void fault_failed(struct hodp_qp *qp, const struct hodp_fault_ev *ev,
			 int ret)
{
	WRITE_ONCE(qp->fault_inplace, true);
	if (ev->remote && (ret == -EFAULT || ret == -EPERM))
		WRITE_ONCE(qp->fault_peer_fails, true);
}

static void fault_work(struct work_struct *work)
{
	struct hodp_fault_event *ev =
		container_of(work, struct hodp_fault_event, work);
	struct hodp_mr *mr = ev->fault.mr;
	struct hodp_qp *qp;
	unsigned long flags;
	int ret;

	ret = hodp_odp_fault(mr, hodp_odp_uaddr(mr, ev->fault.addr),
			     hodp_odp_uaddr(mr, ev->fault.end),
			     ev->fault.write, fault_stop, ev);
	if (!ret)
		trace_hodp_odp_resume(mr, ev->fault.addr, ev->fault.write);
	ev->fault.mr = NULL;
	hodp_mr_unkeep(mr);
	qp = fault_event_qp(ev);
	if (!qp)
		goto out;
	spin_lock_irqsave(&qp->state_lock, flags);
	/* Past this, the QP may raise the event again (ev->fault). */
	if (qp->fault_event == ev && qp->fault_running) {
		qp->fault_running = false;
		if (qp->fault_pending) {
			if (qp->fault_own && ret && ret != -ECANCELED)
				fault_failed(qp, &ev->fault, ret);
			WRITE_ONCE(qp->fault_own, false);
			/* Pairs with run_sq()'s acquire: fault_inplace. */
			smp_store_release(&qp->fault_pending, false);
			if (!qp->stopping)
				queue_work(hodp_wq, &qp->req_work);
		}
	}
	spin_unlock_irqrestore(&qp->state_lock, flags);
	hodp_qp_put(qp);
out:
	fault_event_put(ev);
}

static struct hodp_fault_event *fault_event_new(void)
{
	struct hodp_fault_event *ev = hodp_kzalloc(sizeof(*ev));

	if (ev) {
		INIT_WORK(&ev->work, fault_work);
		refcount_set(&ev->ref, 1);
	}
	return ev;
}

/*
 * Cancel @ev if queued and never started (the work's references are then
 * ours to drop); a running one ends by itself. Return: the MR the
 * cancelled event kept, for the caller to let go of with no lock held
 * (its last keeper may unregister a mirror: hodp_mr_unkeep()), or NULL
 * if it was not queued.
 */
static struct hodp_mr *fault_event_cancel(struct hodp_fault_event *ev)
{
	struct hodp_mr *mr;

	if (!cancel_work(&ev->work))
		return NULL;
	mr = ev->fault.mr;
	ev->fault.mr = NULL;
	fault_event_put(ev);
	return mr;
}

/**
 * hodp_fault_event_alloc() - allocate a QP's fault event (create_qp)
 * @qp: the QP; not the GSI QP (found by its device, not by its number:
 *	it faults where the access stands)
 *
 * Return: 0 or -ENOMEM.
 */
int hodp_fault_event_alloc(struct hodp_qp *qp)
{
	qp->fault_event = fault_event_new();
	return qp->fault_event ? 0 : -ENOMEM;
}

/**
 * hodp_fault_event_free() - the QP lets its fault event go (destroy, or
 *	create_qp failing)
 * @qp: the QP, found by its number no more, none of its work running
 *
 * Never waits: a running event's fault stops at its next attempt.
 */
void hodp_fault_event_free(struct hodp_qp *qp)
{
	struct hodp_mr *kept;

	if (!qp->fault_event)
		return;
	kept = fault_event_cancel(qp->fault_event);
	if (kept)
		hodp_mr_unkeep(kept);
	fault_event_put(qp->fault_event);
	qp->fault_event = NULL;
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
 * Raises the miss as the QP's fault event, or, past the bounds above (and
 * for the GSI QP, which has no event), ends the WQE's events: its next
 * run faults its own memory where it stands, and fails on a miss of the
 * responder's (hodp_copy.c, miss_way()). Not raised if the QP left RTS
 * meanwhile: RESET discards the WQE, ERR flushes it, and back in RTS it
 * runs again.
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
	    ++qp->fault_events > fault_events_max(ctx) || !qp->fault_event) {
		WRITE_ONCE(qp->fault_inplace, true);
		/*
		 * The responder's memory fails once one of its misses meets
		 * the bounds (the counts go on: the next one meets them too).
		 */
		if (ctx->miss.remote)
			WRITE_ONCE(qp->fault_peer_fails, true);
		hodp_fault_drop_miss(ctx);
		hodp_qp_kick(qp);
		return;
	}

	spin_lock_irqsave(&qp->state_lock, flags);
	if (!qp->stopping && qp->state == IB_QPS_RTS) {
		WRITE_ONCE(qp->fault_pending, true);
		raised = true;
	}
	/*
	 * Its last event still runs (the QP's, a RESET could not replace
	 * it: no memory): its end resumes the queue, whose next run raises
	 * this miss again.
	 */
	if (raised && !qp->fault_running) {
		struct hodp_fault_event *ev = qp->fault_event;

		trace_hodp_odp_fault_event(qp, &ctx->miss);
		ev->qpn = qp->qpn;
		ev->fault = ctx->miss;
		/* Its memory, not an access: dereg never waits for it. */
		hodp_mr_keep(ev->fault.mr);
		WRITE_ONCE(qp->fault_own, true);
		qp->fault_running = true;
		refcount_inc(&ev->ref);
		/* Not queued: nothing else queues it (fault_running). */
		WARN_ON_ONCE(!queue_work(hodp_fault_wq, &ev->work));
	}
	spin_unlock_irqrestore(&qp->state_lock, flags);
	hodp_fault_drop_miss(ctx);
}

/**
 * hodp_fault_own_miss() - fault the requester's own miss, its events over
 * @qp: the requester, running its queue (req_lock held), out of the
 *	responder; ctx->miss set by a copy there (an lkey's page, which
 *	copy_miss() no longer faults in the responder)
 *
 * Faults it where the queue stands, in the requester's own context, then
 * runs the WQE again, its copy going on from where it stopped.
 * HODP_FAULT_TRIES faults from the furthest progress its runs made: one
 * failing (the page cannot be mirrored, or they ran out) makes the next
 * run's misses of its own memory fail the WQE (local protection error)
 * where they stand, inside the responder, which ends the message there.
 */
void hodp_fault_own_miss(struct hodp_qp *qp)
{
	struct hodp_req_ctx *ctx = qp->ctx;
	int ret;

	lockdep_assert_held(&qp->req_lock);
	/* As an event: none for a QP that left RTS (back in it, it runs). */
	if (READ_ONCE(qp->state) != IB_QPS_RTS) {
		hodp_fault_drop_miss(ctx);
		return;
	}
	/* Bounded: a copy stops at a miss only where a page or segment ends. */
	if (ctx->copied > qp->inplace_best) {
		qp->inplace_best = ctx->copied;
		qp->inplace_tries = HODP_FAULT_TRIES;
	}
	ret = hodp_copy_fault_miss(ctx, &qp->inplace_tries);
	if (ret && ret != HODP_COPY_STOPPED)
		qp->inplace_failed = true;
	hodp_qp_kick(qp);
}

/**
 * hodp_fault_disown() - the QP no longer waits for its fault event (RESET)
 * @qp: a QP that raises none any more (out of RTS, its req_lock held)
 *
 * Never waits: a queued event is cancelled; a running one is left to end
 * by itself (its fault stops at its next attempt) and replaced, so that
 * the QP's next miss is not held up by it; if there is no memory for a
 * new one, that miss waits for the old one's end.
 *
 * Return: the MR a cancelled event kept, for the caller to let go of
 * (hodp_mr_unkeep()) once it released req_lock: its last keeper may
 * unregister a mirror, maybe another process's; or NULL.
 */
struct hodp_mr *hodp_fault_disown(struct hodp_qp *qp)
{
	struct hodp_fault_event *ev = qp->fault_event, *fresh = NULL;
	struct hodp_fault_event *drop;
	struct hodp_mr *kept;

	lockdep_assert_held(&qp->req_lock);
	if (!ev)
		return NULL;
	kept = fault_event_cancel(ev);	/* NULL: it was not queued */
	if (!kept && READ_ONCE(qp->fault_running))
		fresh = fault_event_new();
	drop = fresh;		/* unused, unless it replaces the old one */
	spin_lock_irq(&qp->state_lock);
	WRITE_ONCE(qp->fault_own, false);
	WRITE_ONCE(qp->fault_pending, false);
	if (kept || (qp->fault_running && fresh)) {
		qp->fault_running = false;
		if (fresh) {
			WRITE_ONCE(qp->fault_event, fresh);
			drop = ev;	/* the QP's reference to the old one */
		}
	}
	spin_unlock_irq(&qp->state_lock);
	if (drop)
		fault_event_put(drop);
	return kept;
}
