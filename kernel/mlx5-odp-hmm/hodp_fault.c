// SPDX-License-Identifier: GPL-2.0
/*
 * hodp: page fault events, the way mlx5 raises them. Before a WQE does
 * anything that cannot be undone, the requester looks up the ODP pages it
 * will use, its own and the responder's (hodp_segs_prepare()). A miss
 * stops the send queue at that WQE: the QP's fault event resolves the range
 * through the mirror (faulting ahead, hodp_odp_fault()) in a worker of
 * hodp_fault_wq (of hodp_fault_file_wq for memory that may wait on a file
 * system, of hodp_fault_lock_wq while it waits for the mmap lock),
 * then the queue runs again from that WQE, whose lookups
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
 * waits for the mm (below: but the GSI QP's), and the requester sees a
 * responder's fault as a stall: no RNR or transport retry is used.
 *
 * An event that cannot be resolved (unmapped memory, a write to read-only
 * memory) ends the WQE's events for its own memory (qp->fault_inplace):
 * its next misses of that memory are its last events, HODP_FAULT_TRIES
 * from the furthest its runs got; once one failed, the next miss fails
 * the WQE (qp->inplace_failed, fault_last_left()); and a miss of the
 * responder's memory fails it (qp->fault_peer_fails: a requester never
 * faults another's memory where it stands, hodp_copy.c, miss_way()), so
 * the WQE ends with the status it deserves and never loops. So do
 * HODP_FAULT_TRIES events in a row after which the lookups got no further
 * (invalidations racing the fault, or a user rewriting the receive WQE
 * looked at, or the send WQE, between two runs), and more events than the
 * WQE's buffers can take with progress (one per page and per segment): a
 * WQE stalls for a bounded number of events, whatever its peer does.
 * None of a QP's faults runs in its work (on hodp_wq, whose running items
 * every QP of every user shares), but the GSI QP's, which raises no
 * events: a fault may block in the mm for as long as that memory's owner
 * wants, and 256 QPs of one process would hold every worker.
 *
 * Lifetime: a QP's event lives apart from it (struct hodp_fault_event),
 * because its fault may block in the mm for as long as that memory's
 * owner wants (a FUSE server holding the read of a file-backed ODP MR,
 * maybe a peer process's): no verb of the QP waits for it. It is raised
 * under state_lock, never once destroy set stopping nor out of RTS, and
 * finds its QP again by number (hodp_qp_get(), which destroy closes
 * before it waits for the QP's references), knowing it by the event the
 * QP owns. RESET and destroy let it go: one queued, or waiting for its
 * turn in its mirror's lane (fault_event_queue()), is cancelled there;
 * one running is left to end by itself (its fault stops at its next
 * attempt, its end finds no QP of its own), and RESET gives the QP a
 * fresh event for its next miss (if there is memory for one). Left
 * running, an event holds a worker of its workqueue, nothing of the QP.
 * Nor does the MR's deregistration wait for it: the event keeps the MR's
 * memory, not an access reference (hodp_mr_keep()), and its fault stops
 * at its next attempt once the MR is dying (the process deregistering
 * may be the FUSE server it waits for, at its exit). Not covered here:
 * the GSI QP's faults, where its access stands (docs/design.md).
 */
#include "hodp.h"
#include "hodp_trace.h"

struct workqueue_struct *hodp_fault_wq;
struct workqueue_struct *hodp_fault_file_wq;
struct workqueue_struct *hodp_fault_lock_wq;

/*
 * Fault events of one mirror's memory (a process's, on a device) queued
 * or running at once in each of its lanes. Each lane's workqueue runs 256
 * items at once for every user, and an event may wait in the mm for as
 * long as that memory's owner wants (its own FUSE server holding the
 * reads): past this, a lane's events wait for one of its own to end
 * (fault_event_queue()), so that one process's blocked faults hold this
 * many workers of each at most. An event begins in the memory lane, on
 * hodp_fault_wq; one that finds it may wait on a file system moves on to
 * the file lane (fault_event_to_file()), whose events run on
 * hodp_fault_file_wq: so that no fault of anonymous or shmem memory waits
 * for a place or a worker behind faults that wait in a FUSE server or on
 * a hard NFS mount, whatever process's (that server may be the process
 * itself, answering those reads by RDMA into its own ODP memory). Nor
 * behind a process's mmap lock: an event's look and fault take it for
 * reading, and while a writer waits for it behind a process's blocked
 * file fault (as its CPU's faults would), a look in hodp_fault_wq's
 * worker does not wait for it (trylocks, a few milliseconds): it goes on
 * in a worker of a third workqueue, hodp_fault_lock_wq, keeping its place
 * in the memory lane (fault_event_to_lock_wait()), where it holds up
 * neither lane's workers (one event of a mirror at a time there, the
 * others waiting behind it in no worker). Nor does its fault in
 * hodp_fault_wq's worker wait for the lock: it takes it by trylocks at
 * each attempt (HODP_ODP_NOWAIT), and a writer come after the look sends
 * it on to hodp_fault_lock_wq too. Left: a file mapped over the range
 * once the look is done holds up that fault in hodp_fault_wq's worker
 * (16 of a process at most, those under way then), or in
 * hodp_fault_lock_wq's, its mirror's other events there waiting behind
 * it (docs/design.md).
 */
#define HODP_LANE_EVENTS	16

/*
 * Every mirror's lanes, and whether an event waits or was let go: one
 * lock for all, so that cancelling an event needs no mirror of it (one
 * that ended may have let its MR, and so its mirror, go).
 */
static DEFINE_SPINLOCK(fault_events_lock);

/*
 * A QP's fault event: the work resolving its miss, and what it needs once
 * the QP may have let it go. Referenced by the QP (until it lets it go)
 * and by the work while waiting, queued or running (hodp_fault_raise() to
 * its end).
 */
struct hodp_fault_event {
	struct work_struct work;
	refcount_t ref;
	u32 qpn;			/* its QP's, to find it again */
	struct hodp_fault_ev fault;	/* the work's, its MR kept */
	bool last;			/* one of the last: its failure fails */
	bool again;			/* the work's: its fault found the lock
					 * contended (fault_how())
					 */
	/* Under fault_events_lock: */
	struct list_head wait;		/* on a waiting list: lane's, lock's */
	enum hodp_lane lane;		/* where it counts, or waits */
	bool let_go;			/* by its QP, while running */
	bool lock_waits;		/* it waits for the mmap lock */
};

static struct workqueue_struct *lane_wq(enum hodp_lane lane)
{
	return lane == HODP_LANE_FILE ? hodp_fault_file_wq : hodp_fault_wq;
}

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
 * The QP's event failed: the WQE's misses of its own memory are its last
 * events from now on (fault_last_left()), one of them failing fails the
 * WQE on its next run (hodp_copy.c, miss_way()); the responder's memory,
 * never faulted by a requester, fails the WQE if it cannot be mirrored
 * (unmapped, or a write to read-only memory; a failure that may pass,
 * such as -EBUSY under memory pressure, leaves it events, bounded as any).
 * Under state_lock, the QP's queue waiting for @ev (fault_pending).
 */
static void fault_failed(struct hodp_qp *qp,
			 const struct hodp_fault_event *ev, int ret)
{
	if (ev->last)
		WRITE_ONCE(qp->inplace_failed, true);
	WRITE_ONCE(qp->fault_inplace, true);
	if (ev->fault.remote && (ret == -EFAULT || ret == -EPERM))
		WRITE_ONCE(qp->fault_peer_fails, true);
}

/*
 * @ev takes one of the @max places of @l if one is free; else it waits on
 * @l's list for one (places_next_locked()), or for its QP to let it go
 * (fault_event_cancel() takes it off). Under fault_events_lock. Return:
 * true if it took a place.
 */
static bool places_take_locked(struct hodp_event_lane *l, unsigned int max,
			       struct hodp_fault_event *ev)
{
	lockdep_assert_held(&fault_events_lock);
	if (l->running < max) {
		l->running++;
		return true;
	}
	list_add_tail(&ev->wait, &l->waiting);
	return false;
}

/*
 * One of @l's places is given up: the first event waiting there, if any,
 * takes it, its work queued on @wq (fault_events_lock held).
 */
static void places_next_locked(struct hodp_event_lane *l,
			       struct workqueue_struct *wq)
{
	struct hodp_fault_event *next;

	lockdep_assert_held(&fault_events_lock);
	next = list_first_entry_or_null(&l->waiting, struct hodp_fault_event,
					wait);
	if (next) {
		list_del_init(&next->wait);
		WARN_ON_ONCE(!queue_work(wq, &next->work));
	} else {
		l->running--;
	}
}

/*
 * @ev (its MR kept) takes a place in @lane of its mirror if fewer than
 * HODP_LANE_EVENTS are queued or running there; else it waits on the
 * lane's list for one of them to end (lane_next_locked()). Return: true
 * if it took a place.
 */
static bool lane_enter_locked(struct hodp_fault_event *ev,
			      enum hodp_lane lane)
{
	ev->lane = lane;
	return places_take_locked(&ev->fault.mr->odp->lanes[lane],
				  HODP_LANE_EVENTS, ev);
}

/* Queue @ev's work, raised, in its mirror's memory lane (or wait there). */
static void fault_event_queue(struct hodp_fault_event *ev)
{
	unsigned long flags;

	spin_lock_irqsave(&fault_events_lock, flags);
	ev->let_go = false;
	ev->lock_waits = false;
	ev->again = false;
	/* Not queued: nothing else queues it (fault_running). */
	if (lane_enter_locked(ev, HODP_LANE_MEM))
		WARN_ON_ONCE(!queue_work(hodp_fault_wq, &ev->work));
	spin_unlock_irqrestore(&fault_events_lock, flags);
}

/*
 * One of @odp's events in @lane ended, left it for the file lane, or was
 * cancelled while queued: the first waiting there, if any, takes its
 * place (fault_events_lock held).
 */
static void lane_next_locked(struct hodp_odp *odp, enum hodp_lane lane)
{
	places_next_locked(&odp->lanes[lane], lane_wq(lane));
}

/*
 * @odp's event on hodp_fault_lock_wq ended, moved on to the file lane or
 * was cancelled while queued there: the first waiting behind it, if any,
 * takes its turn (fault_events_lock held).
 */
static void lock_next_locked(struct hodp_odp *odp)
{
	places_next_locked(&odp->lock_turn, hodp_fault_lock_wq);
}

/*
 * @ev, running in its mirror's memory lane, may wait on a file system:
 * it leaves that lane (to the next waiting there) for the file lane, its
 * work queued on hodp_fault_file_wq if it takes a place there, or waiting
 * on that lane's list (lane_next_locked() queues it, fault_event_cancel()
 * takes it off). Return: -EAGAIN, the work's reference gone with it (it
 * may run, or be gone, already); -ECANCELED if its QP let it go meanwhile
 * (it stays in the memory lane, to end at once: no RESET loop can leave
 * events waiting that nobody waits for).
 */
static int fault_event_to_file(struct hodp_fault_event *ev)
{
	struct hodp_odp *odp = ev->fault.mr->odp;
	unsigned long flags;
	int ret = -ECANCELED;
	bool placed;

	spin_lock_irqsave(&fault_events_lock, flags);
	if (!ev->let_go) {
		if (ev->lock_waits)	/* found a file once it had the lock */
			lock_next_locked(odp);
		ev->lock_waits = false;
		lane_next_locked(odp, HODP_LANE_MEM);
		placed = lane_enter_locked(ev, HODP_LANE_FILE);
		/* Before the queueing: once it runs, it may let its MR go. */
		trace_hodp_odp_fault_lane(ev->fault.mr, ev->fault.addr,
					  !placed);
		/* Not pending: it runs here, on the other workqueue. */
		if (placed)
			WARN_ON_ONCE(!queue_work(hodp_fault_file_wq,
						 &ev->work));
		ret = -EAGAIN;
	}
	spin_unlock_irqrestore(&fault_events_lock, flags);
	return ret;
}

/*
 * @ev's look at the mappings, in hodp_fault_wq's worker, kept finding its
 * process's mmap lock held for writing or wanted by a writer, who may wait
 * behind a fault of a file holding it for reading (for as long as a FUSE
 * server wants), or its fault found it so once (a writer come after the
 * look): its work is queued again on hodp_fault_lock_wq, to look and
 * fault there waiting for the lock, or, if another event of its mirror
 * has that turn already, it waits behind that one in no worker
 * (lock_next_locked(), fault_event_cancel() takes it off): all of them
 * wait for the same lock, and a process's events hold one worker of that
 * workqueue, not 16. It keeps its place in the memory lane: a writer's
 * moment is no file's, and the file lane may be full of the faults the
 * writer waits behind (which the process may be answering by RDMA into
 * this very memory). Nor is it queued on hodp_fault_file_wq, whose
 * workers faults of files may fill. Return as fault_event_to_file().
 */
static int fault_event_to_lock_wait(struct hodp_fault_event *ev)
{
	struct hodp_odp *odp = ev->fault.mr->odp;
	unsigned long flags;
	int ret = -ECANCELED;

	spin_lock_irqsave(&fault_events_lock, flags);
	if (!ev->let_go) {
		ev->lock_waits = true;
		/* Not pending: it runs here, on the other workqueue. */
		if (places_take_locked(&odp->lock_turn, 1, ev))
			WARN_ON_ONCE(!queue_work(hodp_fault_lock_wq,
						 &ev->work));
		ret = -EAGAIN;
	}
	spin_unlock_irqrestore(&fault_events_lock, flags);
	return ret;
}

/*
 * The trylocks of the look, and the tries of the fault, in hodp_fault_wq's
 * worker, 1 or 2 ms apart.
 */
#define FAULT_LOOK_TRIES	8

/*
 * May @ev's fault wait on a file system (1, or 0)? In hodp_fault_wq's
 * worker, -EWOULDBLOCK if the mmap lock stayed contended over a few
 * trylocks: a writer's mmap() or munmap() holds it that long; one that
 * waits behind a blocked fault of a file, for ever.
 */
static int fault_look(struct hodp_fault_event *ev, unsigned long uaddr,
		      unsigned long limit)
{
	struct hodp_mr *mr = ev->fault.mr;
	int i, ret;

	if (ev->lock_waits)
		return hodp_odp_fault_may_wait(mr, uaddr, limit, false);
	for (i = 0;; i++) {
		ret = hodp_odp_fault_may_wait(mr, uaddr, limit, true);
		if (ret != -EWOULDBLOCK || i == FAULT_LOOK_TRIES - 1)
			return ret;
		if (fault_stop(ev))
			return 0;	/* its fault ends at once */
		usleep_range(1000, 2000);
	}
}

/*
 * How @ev's fault goes: in hodp_fault_wq's worker, it waits for no mmap
 * lock either (a writer may come after the look, and wait behind a file's
 * blocked fault); the same fault run again on hodp_fault_lock_wq is not
 * counted, traced nor delayed twice.
 */
static unsigned int fault_how(const struct hodp_fault_event *ev)
{
	unsigned int how = ev->again ? HODP_ODP_AGAIN : 0;

	if (ev->lane == HODP_LANE_MEM && !ev->lock_waits)
		how |= HODP_ODP_NOWAIT;
	return how;
}

/*
 * @ev's fault, as fault_how() says. Without waiting, it tries again as
 * the look does (a writer's mmap() holds the lock a few milliseconds; the
 * leaves filled stay filled): -EWOULDBLOCK if the lock stayed contended.
 * Bounded in tries, not in time: each try is a fault of its own, with
 * its own HMM_MIRROR_FAULT_MAX_MS (a user who makes it retry and meets a
 * writer each time holds the worker up to 8 such faults).
 */
static int fault_resolve(struct hodp_fault_event *ev, unsigned int how,
			 unsigned long uaddr, unsigned long limit)
{
	int i, ret;

	for (i = 0;; i++) {
		ret = hodp_odp_fault(ev->fault.mr, uaddr, limit,
				     ev->fault.write, how, fault_stop, ev);
		if (!(how & HODP_ODP_NOWAIT) || ret != -EWOULDBLOCK ||
		    i == FAULT_LOOK_TRIES - 1)
			return ret;
		how |= HODP_ODP_AGAIN;
		usleep_range(1000, 2000);
	}
}

static void fault_work(struct work_struct *work)
{
	struct hodp_fault_event *ev =
		container_of(work, struct hodp_fault_event, work);
	struct hodp_mr *mr = ev->fault.mr;
	unsigned long uaddr = hodp_odp_uaddr(mr, ev->fault.addr);
	unsigned long limit = hodp_odp_uaddr(mr, ev->fault.end);
	struct hodp_qp *qp;
	unsigned long flags;
	int ret = 0, may_wait = 0;
	unsigned int how;

	/*
	 * The lane, lock_waits and again: set before the work was queued,
	 * changed by no one else while the work runs (but the moves below,
	 * its own). A stopped event does not look (the look may wait for the
	 * mmap lock); its fault ends at once. In hodp_fault_wq's worker
	 * neither the look nor the fault waits for the mmap lock
	 * (fault_event_to_lock_wait()).
	 */
	if (ev->lane == HODP_LANE_MEM && !fault_stop(ev))
		may_wait = fault_look(ev, uaddr, limit);
	if (may_wait == -EWOULDBLOCK)
		ret = fault_event_to_lock_wait(ev);
	else if (may_wait > 0)
		ret = fault_event_to_file(ev);
	if (ret == -EAGAIN)
		return;		/* @ev runs on another workqueue, maybe gone */
	how = fault_how(ev);
	if (!ret)
		ret = fault_resolve(ev, how, uaddr, limit);
	if ((how & HODP_ODP_NOWAIT) && ret == -EWOULDBLOCK) {
		ev->again = true;	/* before the move queues the work */
		ret = fault_event_to_lock_wait(ev);
		if (ret == -EAGAIN)
			return;
	}
	if (!ret)
		trace_hodp_odp_resume(mr, ev->fault.addr, ev->fault.write);
	ev->fault.mr = NULL;
	spin_lock_irqsave(&fault_events_lock, flags);
	if (ev->lock_waits)
		lock_next_locked(mr->odp);
	lane_next_locked(mr->odp, ev->lane);
	spin_unlock_irqrestore(&fault_events_lock, flags);
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
				fault_failed(qp, ev, ret);
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
		INIT_LIST_HEAD(&ev->wait);
	}
	return ev;
}

/*
 * Cancel @ev if it waits for its turn (taken off its lane's list, or off
 * its mirror's lock_turn list, its lane place going to the next) or is
 * queued and never started (its place going to its lane's next waiting
 * event, its turn on the lock to the next behind it): the work's
 * references are then ours to drop. A running one ends
 * by itself (let_go: it no longer moves to the file lane, nor to
 * wait for the mmap lock).
 * All under fault_events_lock, which lane_next_locked() holds to queue a
 * waiting event: cancel_work() marks the work pending for a moment even
 * when it is not queued, and a queue_work() meanwhile would be lost.
 * Return: the MR the cancelled event kept, for the caller to let go of
 * with no lock held (its last keeper may unregister a mirror:
 * hodp_mr_unkeep()), or NULL if it was neither waiting nor queued.
 */
static struct hodp_mr *fault_event_cancel(struct hodp_fault_event *ev)
{
	struct hodp_mr *mr = NULL;
	unsigned long flags;

	spin_lock_irqsave(&fault_events_lock, flags);
	if (!list_empty(&ev->wait)) {
		list_del_init(&ev->wait);
		mr = ev->fault.mr;
		/* Behind its mirror's lock waiter, it kept its lane place. */
		if (ev->lock_waits)
			lane_next_locked(mr->odp, ev->lane);
	} else if (cancel_work(&ev->work)) {
		mr = ev->fault.mr;
		if (ev->lock_waits)	/* its mirror's turn on the lock */
			lock_next_locked(mr->odp);
		lane_next_locked(mr->odp, ev->lane);
	} else {
		ev->let_go = true;
	}
	spin_unlock_irqrestore(&fault_events_lock, flags);
	if (!mr)
		return NULL;
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
 * and HODP_FAULT_TRIES more (what its last events, fault_last_left(),
 * could once cost at worst), whatever the peer rewrites between two
 * runs.
 */
static u32 fault_events_max(const struct hodp_req_ctx *ctx)
{
	return 4 * (DIV_ROUND_UP(ctx->wqe.length, PAGE_SIZE) + HODP_MAX_SGE) +
	       HODP_FAULT_TRIES;
}

/*
 * May the WQE raise this miss, @progress its lookups' and copy's? Within
 * the bounds above (and not for the GSI QP, which has no event); past
 * them its events end: its own memory's misses are its last events from
 * now on (fault_inplace), and the responder's memory fails it if the miss
 * meeting them is the responder's (the counts go on: the next one meets
 * them too).
 */
static bool fault_event_left(struct hodp_qp *qp, u64 progress)
{
	struct hodp_req_ctx *ctx = qp->ctx;

	if (qp->fault_events && progress == qp->fault_progress)
		qp->fault_stalls++;
	else
		qp->fault_stalls = 0;
	qp->fault_progress = progress;
	if (qp->fault_stalls < HODP_FAULT_TRIES &&
	    ++qp->fault_events <= fault_events_max(ctx) && qp->fault_event)
		return true;
	WRITE_ONCE(qp->fault_inplace, true);
	if (ctx->miss.remote)
		WRITE_ONCE(qp->fault_peer_fails, true);
	return false;
}

/*
 * A miss of the WQE's own memory once its events are over (fault_inplace):
 * one of its last events, HODP_FAULT_TRIES from the furthest @progress its
 * runs made (lookups and copies stop at a miss only where a page or
 * segment ends, so they are bounded by those). Once they ran out (and for
 * the GSI QP, whose misses are never recorded then: hodp_copy.c,
 * miss_way()), false: its next run fails on the miss (inplace_failed).
 */
static bool fault_last_left(struct hodp_qp *qp, u64 progress)
{
	if (progress > qp->inplace_best) {
		qp->inplace_best = progress;
		qp->inplace_tries = HODP_FAULT_TRIES;
	}
	if (qp->fault_event && qp->inplace_tries-- > 0)
		return true;
	WRITE_ONCE(qp->inplace_failed, true);
	return false;
}

/**
 * hodp_fault_raise() - stop the send queue for the miss of this run
 * @qp: the requester, running its queue (req_lock held); ctx->miss set
 *
 * Raises the miss as the QP's fault event, or, past the bounds above (and
 * for the GSI QP, which has no event), ends the WQE's events: its next
 * run's misses of its own memory are its last events (fault_last_left()),
 * and one of the responder's fails it (hodp_copy.c, miss_way()). Not
 * raised if the QP left RTS meanwhile: RESET discards the WQE, ERR
 * flushes it, and back in RTS it runs again.
 */
void hodp_fault_raise(struct hodp_qp *qp)
{
	struct hodp_req_ctx *ctx = qp->ctx;
	unsigned long flags;
	bool raised = false, last;
	u64 progress;

	lockdep_assert_held(&qp->req_lock);
	progress = (u64)ctx->lprep + ctx->rprep + ctx->copied;
	last = READ_ONCE(qp->fault_inplace) && !ctx->miss.remote;
	if (last ? !fault_last_left(qp, progress) :
		   !fault_event_left(qp, progress)) {
		/* Its next run takes the miss as miss_way() now says. */
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
		ev->last = last;
		/* Its memory, not an access: dereg never waits for it. */
		hodp_mr_keep(ev->fault.mr);
		WRITE_ONCE(qp->fault_own, true);
		qp->fault_running = true;
		refcount_inc(&ev->ref);
		fault_event_queue(ev);
	}
	spin_unlock_irqrestore(&qp->state_lock, flags);
	hodp_fault_drop_miss(ctx);
}

/**
 * hodp_fault_disown() - the QP no longer waits for its fault event (RESET)
 * @qp: a QP that raises none any more (out of RTS, its req_lock held)
 *
 * Never waits: a queued or waiting event is cancelled; a running one is
 * left to end by itself (its fault stops at its next attempt) and
 * replaced, so that the QP's next miss is not held up by it; if there is
 * no memory for a new one, that miss waits for the old one's end.
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
	kept = fault_event_cancel(ev);	/* NULL: neither waiting nor queued */
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
