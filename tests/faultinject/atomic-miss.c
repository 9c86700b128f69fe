// SPDX-License-Identifier: GPL-2.0
/*
 * An ODP atomic whose target page is invalidated between the WQE's
 * lookups and the atomic's execution: a window of a few instructions,
 * which debugfs hodp/atomic_miss (CONFIG_INFINIBAND_HODP_FAULT_INJECTION)
 * makes happen: the atomic finds its page gone, as after an invalidation.
 *
 * Once: the miss is a fault event of the requester QP, served by a worker
 * (not by this process, whose ibv_post_send() ran the queue), and the
 * atomic then executes once: fetch-and-add and compare-and-swap each
 * return the value before and leave the right one, one event each and no
 * fault by this process. Every time: the WQE stalls for HODP_FAULT_TRIES
 * events without progress, then ends with a remote access error that
 * changed nothing, with no fault where it stands (the target is the
 * responder's memory, never faulted by a requester inside it): it never
 * loops.
 *
 * The result's side: debugfs hodp/copy_miss makes the page of an ODP
 * result buffer look invalidated after the atomic executed, before its
 * result is written. Once: a fault event of the requester, then the
 * next run writes the value the atomic returned and executes nothing
 * (the target moved once), also for a result split over a pinned and an
 * ODP buffer, whose second half is all the next run writes. Every time:
 * HODP_FAULT_TRIES events, then the result is written where it stands:
 * the right value, executed once. Moved to the error state meanwhile: the
 * WQE completes, executed once, and after RESET the same atomic posted
 * again executes. Rewritten in the ring into another atomic meanwhile:
 * the next run executes it as it is now.
 *
 * The result's page missing once the WQE's events are over: one of its
 * last events, its fault slow (debugfs hodp/slow_fault and
 * fault_delay_ms, as a slow file's page would be): the responder's RESET
 * does not wait for it (a worker's fault of the requester's memory), and
 * the WQE completes, executed once.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

#include "check.h"
#include "miss.h"

static struct ctx c;

/* Post one atomic on @qp, its result into @result (8 bytes of @lmr). */
static int post_atomic(struct ibv_qp *qp, enum ibv_wr_opcode op,
		       struct ibv_mr *lmr, uint64_t *result,
		       struct ibv_mr *rmr, uint64_t *target,
		       uint64_t compare_add, uint64_t swap)
{
	struct ibv_sge sge = { (uintptr_t)result, 8, lmr->lkey };
	struct ibv_send_wr wr = {
		.opcode = op, .send_flags = IBV_SEND_SIGNALED,
		.sg_list = &sge, .num_sge = 1,
	};

	wr.wr.atomic.remote_addr = (uintptr_t)target;
	wr.wr.atomic.rkey = rmr->rkey;
	wr.wr.atomic.compare_add = compare_add;
	wr.wr.atomic.swap = swap;
	return post_send(qp, &wr);
}

/* The next completion within 60 s: its status, or -1. */
static int wait_completion(void)
{
	struct ibv_wc wc;

	return wait_wc(c.cq, &wc);
}

/* Post one atomic on @qp, wait up to 60 s: its status, or -1. */
static int atomic_op(struct ibv_qp *qp, enum ibv_wr_opcode op,
		     struct ibv_mr *lmr, uint64_t *result, struct ibv_mr *rmr,
		     uint64_t *target, uint64_t compare_add, uint64_t swap)
{
	if (post_atomic(qp, op, lmr, result, rmr, target, compare_add, swap))
		return -1;
	return wait_completion();
}

/*
 * One atomic on @p's requester with @attr armed for @times looks, traced:
 * its status in *st, the looks left unused in *left (if asked), and the
 * trace (the caller frees it).
 */
static char *armed_atomic(struct rc_pair *p, const char *attr, int times,
			  enum ibv_wr_opcode op, struct ibv_mr *lmr,
			  uint64_t *result, struct ibv_mr *rmr,
			  uint64_t *target, uint64_t compare_add,
			  uint64_t swap, int *st, long long *left)
{
	start_trace();
	arm(attr, times);
	*st = atomic_op(p->a, op, lmr, result, rmr, target, compare_add, swap);
	if (left)
		*left = attr_read(attr, "times");
	disarm();
	return stop_trace();
}

/*
 * One miss injected through @attr: hodp/atomic_miss (the target's page,
 * before the atomic executes) or hodp/copy_miss (the result buffer's,
 * after): a fault event of the requester for that page, served by a
 * worker, then the atomic completes, executed once, its value returned.
 */
static void miss_once(struct rc_pair *p, const char *attr,
		      enum ibv_wr_opcode op, struct ibv_mr *lmr,
		      uint64_t *result, struct ibv_mr *rmr, uint64_t *target)
{
	int cas = op == IBV_WR_ATOMIC_CMP_AND_SWP;
	int res = !strcmp(attr, COPY_MISS);
	const char *name = cas ? "compare and swap" : "fetch and add";
	const char *page = res ? "result page gone after it executed" :
				 "page gone since its lookups";
	uint64_t add = res ? 3 : 5, swap = res ? 77 : 42;
	uint64_t before = *target, want = cas ? swap : before + add;
	char what[128], ev[80];
	char *trace;
	long long left;
	int st;

	*result = 0;
	trace = armed_atomic(p, attr, 1, op, lmr, result, rmr, target,
			     cas ? before : add, swap, &st, &left);
	snprintf(what, sizeof(what), "%s: the %s went missing once", name,
		 res ? "result's page" : "page");
	check(what, left == 0, "times left %lld", left);
	snprintf(what, sizeof(what),
		 "%s: completes, executed once (value before, value after)%s",
		 name, res ? ", its result written after the event" : "");
	check(what, st == IBV_WC_SUCCESS &&
	      *(volatile uint64_t *)result == before &&
	      *(volatile uint64_t *)target == want,
	      "status %d, returned %lu (want %lu), target %lu (want %lu)", st,
	      (unsigned long)*result, (unsigned long)before,
	      (unsigned long)*target, (unsigned long)want);
	snprintf(ev, sizeof(ev), "%s's %s", name, page);
	check_event(trace, ev, p->a->qp_num, res ? lmr->lkey : rmr->lkey,
		    res ? (void *)result : (void *)target, "write", -1);
	snprintf(what, sizeof(what), "%s's %s: one event, no fault by this process",
		 name, res ? "result" : "page");
	check(what, events_of(trace, p->a->qp_num) == 1 &&
	      count_in(trace, "hodp_odp_fault: ", getpid()) == 0,
	      "%d events, %d faults by pid %d", events_of(trace, p->a->qp_num),
	      count_in(trace, "hodp_odp_fault: ", getpid()), getpid());
	free(trace);
}

/* The one slow fault of result_closed(): long beside a RESET. */
#define SLOWER_FAULT_MS	"3000"

/* The faults and @qpn's fault events in the trace so far. */
static void count_faults(uint32_t qpn, int *faults, int *events)
{
	char *trace = read_trace();

	*faults = trace ? count_in(trace, "hodp_odp_fault: ", 0) : -1;
	*events = trace ? events_of(trace, qpn) : -1;
	free(trace);
}

/*
 * The result's last event, its fault slow: the target's page missing at
 * each look until the WQE's events are over (HODP_FAULT_TRIES events,
 * their faults quick, and the look that ends them), then the atomic
 * executes, and its result's first look after them misses
 * (hodp/inplace_miss): one of its last events, the next fault, the slow
 * one. The
 * responder's RESET meanwhile returns before that fault ends; then the
 * WQE completes, its result written, executed once. Both are RESET and
 * connected again.
 */
static void result_closed(struct rc_pair *p, struct ibv_mr *olmr,
			  uint64_t *oresult, struct ibv_mr *rmr,
			  uint64_t *target)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_RESET };
	long long f0 = odp_faults();
	uint64_t before = *target;
	int events = 0, at = -1, rc = -1, st = -1, begun = 0;
	struct ibv_wc wc;

	*oresult = 0;
	start_trace();
	arm(ATOMIC_MISS, FAULT_TRIES + 1);
	arm_slow_inplace(SLOWER_FAULT_MS);
	if (!post_atomic(p->a, IBV_WR_ATOMIC_FETCH_AND_ADD, olmr, oresult,
			 rmr, target, 7, 0)) {
		/* The events' faults, then the result's begun (the slow one). */
		begun = faults_begun(f0 + FAULT_TRIES + 1);
		rc = ibv_modify_qp(p->b, &a, IBV_QP_STATE);
		count_faults(p->a->qp_num, &at, &events);
		st = wait_completion();
	}
	disarm();
	free(stop_trace());
	check("responder RESET during the slow fault of a result's write, its last event: returns before it ends",
	      begun && !rc && at == FAULT_TRIES && events == FAULT_TRIES + 1,
	      "slow fault begun %d, RESET %d, %d faults ended when it returned (the events' %d, then the result's), %d events (want %d: the last one's too)",
	      begun, rc, at, FAULT_TRIES, events, FAULT_TRIES + 1);
	check("... and the WQE completes, its result written, executed once",
	      st == IBV_WC_SUCCESS && *(volatile uint64_t *)oresult ==
	      before && *(volatile uint64_t *)target == before + 7,
	      "status %d, result %lu (want %lu), target %lu (want %lu)", st,
	      (unsigned long)*oresult, (unsigned long)before,
	      (unsigned long)*target, (unsigned long)(before + 7));
	check_fatal("RESET both, then connected again",
		    !ibv_modify_qp(p->a, &a, IBV_QP_STATE) &&
		    !rc_connect_both(&c, p->a, p->b, ALL_ACCESS, 7), "%s",
		    strerror(errno));
	while (ibv_poll_cq(c.cq, 1, &wc) > 0)
		;
}

/*
 * Missing every time: the events a WQE without progress may raise, then a
 * remote access error, nothing executed, and no fault where it stands:
 * the target is the responder's memory, which a requester never faults
 * inside the responder (it could block there for as long as that
 * memory's owner wants).
 */
static void miss_always(struct rc_pair *p, struct ibv_mr *lmr,
			uint64_t *result, struct ibv_mr *rmr, uint64_t *target)
{
	uint64_t before = *target;
	char *trace;
	int st, events, faults;

	trace = armed_atomic(p, ATOMIC_MISS, -1, IBV_WR_ATOMIC_FETCH_AND_ADD,
			     lmr, result, rmr, target, 5, 0, &st, NULL);
	check("always missing: a remote access error, nothing executed",
	      st == IBV_WC_REM_ACCESS_ERR && *(volatile uint64_t *)target ==
	      before, "status %d, target %lu (was %lu)", st,
	      (unsigned long)*target, (unsigned long)before);
	events = events_of(trace, p->a->qp_num);
	/* Each event's fault (in a worker), and none where it stands. */
	faults = count_in(trace, "hodp_odp_fault: ", 0);
	check("always missing: HODP_FAULT_TRIES events without progress, then no fault where it stands",
	      events == FAULT_TRIES && faults == FAULT_TRIES,
	      "%d events, %d faults", events, faults);
	free(trace);
}

/*
 * A result split over two buffers, a pinned one's 4 bytes then an ODP
 * one's: the ODP half's page gone once, after the pinned half was
 * written: one event, then the next run writes the rest only (the halves
 * together are the value returned), the atomic executed once.
 */
static void result_split(struct rc_pair *p, struct ibv_mr *lmr,
			 uint64_t *result, struct ibv_mr *olmr,
			 uint64_t *oresult, struct ibv_mr *rmr,
			 uint64_t *target)
{
	struct ibv_sge sge[2] = {
		{ (uintptr_t)result, 4, lmr->lkey },
		{ (uintptr_t)oresult, 4, olmr->lkey },
	};
	struct ibv_send_wr wr = {
		.opcode = IBV_WR_ATOMIC_FETCH_AND_ADD,
		.send_flags = IBV_SEND_SIGNALED, .sg_list = sge, .num_sge = 2,
	};
	uint64_t before = *target, got;
	uint32_t lo, hi;
	char *trace;
	int st;

	*result = 0xaaaaaaaaaaaaaaaaULL;	/* canaries: nothing written */
	*oresult = 0xaaaaaaaaaaaaaaaaULL;
	wr.wr.atomic.remote_addr = (uintptr_t)target;
	wr.wr.atomic.rkey = rmr->rkey;
	wr.wr.atomic.compare_add = 3;
	start_trace();
	arm(COPY_MISS, 1);
	st = post_send(p->a, &wr) ? -1 : wait_completion();
	disarm();
	trace = stop_trace();
	memcpy(&lo, result, 4);
	memcpy(&hi, oresult, 4);
	got = (uint64_t)hi << 32 | lo;
	check("a result split over a pinned and an ODP buffer: both halves written after the event, executed once",
	      st == IBV_WC_SUCCESS && got == before &&
	      *(volatile uint64_t *)target == before + 3,
	      "status %d (-1: none), returned %#lx (want %#lx), target %lu (want %lu)",
	      st, (unsigned long)got, (unsigned long)before,
	      (unsigned long)*target, (unsigned long)(before + 3));
	check_event(trace, "a split result's ODP half gone", p->a->qp_num,
		    olmr->lkey, oresult, "write", -1);
	check("a split result: one event", events_of(trace, p->a->qp_num) == 1,
	      "%d events", events_of(trace, p->a->qp_num));
	free(trace);
}

/*
 * The result's page gone at every look while the WQE's events last: the
 * events a WQE without progress may raise, then the result is written
 * where it stands (the injection asks only while a miss would be an
 * event): the right value, and the atomic executed once.
 */
static void result_always(struct rc_pair *p, struct ibv_mr *olmr,
			  uint64_t *oresult, struct ibv_mr *rmr,
			  uint64_t *target)
{
	uint64_t before = *target;
	char want[128];
	char *trace;
	int st, events, faults;

	*oresult = 0;
	trace = armed_atomic(p, COPY_MISS, -1, IBV_WR_ATOMIC_FETCH_AND_ADD,
			     olmr, oresult, rmr, target, 3, 0, &st, NULL);
	check("result always missing: written where it stands after the events, executed once",
	      st == IBV_WC_SUCCESS && *(volatile uint64_t *)oresult == before &&
	      *(volatile uint64_t *)target == before + 3,
	      "status %d, returned %lu (want %lu), target %lu (want %lu)", st,
	      (unsigned long)*oresult, (unsigned long)before,
	      (unsigned long)*target, (unsigned long)(before + 3));
	events = events_of(trace, p->a->qp_num);
	/* The events' faults; the page is there when written in place. */
	snprintf(want, sizeof(want), "hodp_odp_fault: hodp0 lkey 0x%x ",
		 olmr->lkey);
	faults = count_in(trace, want, 0);
	check("result always missing: HODP_FAULT_TRIES events without progress, a fault each",
	      events == FAULT_TRIES && faults == FAULT_TRIES,
	      "%d events, %d faults", events, faults);
	free(trace);
}

/* result_rewritten()'s requester: its send ring's index mask. */
#define REWRITE_SQ_MASK	31

/*
 * An atomic executed, its result kept while its page keeps missing, and
 * its WQE rewritten in the ring meanwhile into another atomic (another
 * addend): the next run executes the WQE as it is now, and the result
 * written is that execution's (the value the first one left), not the
 * value kept for the WQE as it was.
 */
static void result_rewritten(struct ibv_mr *olmr, uint64_t *oresult,
			     struct ibv_mr *rmr, uint64_t *target)
{
	struct ibv_qp_init_attr init = {
		.send_cq = c.cq, .recv_cq = c.cq, .qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 20, .max_recv_wr = 1,
			 .max_send_sge = 1, .max_recv_sge = 1 },
	};
	struct ibv_qp *a = ibv_create_qp(c.pd, &init);
	struct ibv_qp *b = rc_qp(&c, NULL, c.cq);
	struct rxe_queue_buf *sq = NULL;
	uint64_t before = *target;
	struct rxe_send_wqe *wqe;
	struct ibv_wc wc;
	long long left = -1;
	char *trace;
	int st = -1, events, early = 0;
	double t0;

	check_fatal("rewritten: a requester with a ring of its own",
		    a && b && !rc_connect_both(&c, a, b, ALL_ACCESS, 7) &&
		    (sq = find_ring(REWRITE_SQ_MASK)), "%s", strerror(errno));
	*oresult = 0;
	start_trace();
	/* More misses than its events and faults can ask for: always. */
	arm(COPY_MISS, 1000);
	if (!post_atomic(a, IBV_WR_ATOMIC_FETCH_AND_ADD, olmr, oresult, rmr,
			 target, 3, 0)) {
		/* Its result's first miss: executed, the result kept. */
		t0 = now_s();
		do
			left = attr_read(COPY_MISS, "times");
		while (left == 1000 && now_s() - t0 < 10 && !usleep(200));
		early = ibv_poll_cq(c.cq, 1, &wc);
		wqe = (struct rxe_send_wqe *)(sq->data +
			((size_t)(sq->consumer_index & sq->index_mask) <<
			 sq->log2_elem_size));
		wqe->wr.wr.atomic.compare_add = 10;
		if (!early)
			st = wait_completion();
	}
	disarm();
	trace = stop_trace();
	events = events_of(trace, a->qp_num);
	free(trace);
	check("an atomic whose result is kept, rewritten in its ring into another: executed as it is now, its result that execution's",
	      left >= 0 && left < 1000 && !early && events &&
	      st == IBV_WC_SUCCESS &&
	      *(volatile uint64_t *)oresult == before + 3 &&
	      *(volatile uint64_t *)target == before + 13,
	      "misses left %lld of 1000 at the rewrite, completed before it %d, %d events, status %d, returned %lu (want %lu), target %lu (want %lu)",
	      left, early, events, st, (unsigned long)*oresult,
	      (unsigned long)(before + 3), (unsigned long)*target,
	      (unsigned long)(before + 13));
	ibv_destroy_qp(a);
	ibv_destroy_qp(b);
}

/*
 * The requester moved to the error state while its atomic's result keeps
 * missing (its events pending): the WQE completes, flushed (or written,
 * if its events ran out first), the atomic executed once. Then RESET and
 * connected again, the same atomic posted anew executes: nothing of the
 * result kept outlives its WQE.
 */
static void result_then_err(struct rc_pair *p, struct ibv_mr *olmr,
			    uint64_t *oresult, struct ibv_mr *rmr,
			    uint64_t *target)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_ERR };
	uint64_t before = *target;
	int st = -1;

	*oresult = 0;
	arm(COPY_MISS, -1);
	if (!post_atomic(p->a, IBV_WR_ATOMIC_FETCH_AND_ADD, olmr, oresult,
			 rmr, target, 3, 0) &&
	    !ibv_modify_qp(p->a, &a, IBV_QP_STATE))
		st = wait_completion();
	disarm();
	check("ERR during a result's events: the WQE completes (flushed, or written), executed once",
	      (st == IBV_WC_WR_FLUSH_ERR ||
	       (st == IBV_WC_SUCCESS && *(volatile uint64_t *)oresult ==
		before)) && *(volatile uint64_t *)target == before + 3,
	      "status %d, result %lu, target %lu (want %lu)", st,
	      (unsigned long)*oresult, (unsigned long)*target,
	      (unsigned long)(before + 3));
	a.qp_state = IBV_QPS_RESET;
	check_fatal("RESET, then connected again",
		    !ibv_modify_qp(p->a, &a, IBV_QP_STATE) &&
		    !rc_connect(&c, p->a, p->b->qp_num, ALL_ACCESS, 7),
		    "%s", strerror(errno));
	*oresult = 0;
	st = atomic_op(p->a, IBV_WR_ATOMIC_FETCH_AND_ADD, olmr, oresult, rmr,
		       target, 3, 0);
	check("after RESET the same atomic posted anew executes",
	      st == IBV_WC_SUCCESS && *(volatile uint64_t *)oresult ==
	      before + 3 && *(volatile uint64_t *)target == before + 6,
	      "status %d, result %lu (want %lu), target %lu (want %lu)", st,
	      (unsigned long)*oresult, (unsigned long)(before + 3),
	      (unsigned long)*target, (unsigned long)(before + 6));
}

int main(void)
{
	uint64_t *target, *result, *oresult;
	struct ibv_mr *rmr, *lmr, *olmr;
	struct rc_pair p;

	if (access(ATOMIC_MISS, F_OK) || access(COPY_MISS, F_OK)) {
		skip("hodp atomic miss injection",
		     "no debugfs hodp/atomic_miss or copy_miss: kernel without fault injection (make check-debug runs it)");
		return 0;
	}
	trace_mount();
	trace_hodp_on();
	open_dev(&c, "hodp0");
	p = rc_pair(&c, ALL_ACCESS, 7);
	target = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	result = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	oresult = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	check_fatal("map the buffers", target != MAP_FAILED &&
		    result != MAP_FAILED && oresult != MAP_FAILED, "%s",
		    strerror(errno));
	/* Written first: the registration finds the page (no lookup miss). */
	*target = 1000;
	*result = 0;
	*oresult = 0;
	rmr = ibv_reg_mr(c.pd, target, PAGE,
			 ALL_ACCESS | IBV_ACCESS_ON_DEMAND);
	lmr = ibv_reg_mr(c.pd, result, PAGE, ALL_ACCESS);
	olmr = ibv_reg_mr(c.pd, oresult, PAGE,
			  ALL_ACCESS | IBV_ACCESS_ON_DEMAND);
	check_fatal("register the ODP target and the result buffers",
		    rmr && lmr && olmr, "%s", strerror(errno));
	/* Left armed by a test cut short, every later atomic would fail. */
	atexit(disarm);
	signal(SIGTERM, disarm_killed);
	signal(SIGINT, disarm_killed);
	/* Mirrored writable first: the misses below are the injected ones. */
	check_fatal("an atomic before the injection",
		    atomic_op(p.a, IBV_WR_ATOMIC_FETCH_AND_ADD, lmr, result,
			      rmr, target, 0, 0) == IBV_WC_SUCCESS &&
		    *result == 1000, "result %lu", (unsigned long)*result);
	miss_once(&p, ATOMIC_MISS, IBV_WR_ATOMIC_FETCH_AND_ADD, lmr, result,
		  rmr, target);
	miss_once(&p, ATOMIC_MISS, IBV_WR_ATOMIC_CMP_AND_SWP, lmr, result,
		  rmr, target);
	/* The ODP result buffer mirrored writable: only injected misses. */
	check_fatal("an atomic into the ODP result buffer before the injection",
		    atomic_op(p.a, IBV_WR_ATOMIC_FETCH_AND_ADD, olmr, oresult,
			      rmr, target, 0, 0) == IBV_WC_SUCCESS &&
		    *oresult == *target, "result %lu, target %lu",
		    (unsigned long)*oresult, (unsigned long)*target);
	miss_once(&p, COPY_MISS, IBV_WR_ATOMIC_FETCH_AND_ADD, olmr, oresult,
		  rmr, target);
	miss_once(&p, COPY_MISS, IBV_WR_ATOMIC_CMP_AND_SWP, olmr, oresult,
		  rmr, target);
	result_split(&p, lmr, result, olmr, oresult, rmr, target);
	result_always(&p, olmr, oresult, rmr, target);
	result_then_err(&p, olmr, oresult, rmr, target);
	result_rewritten(olmr, oresult, rmr, target);
	result_closed(&p, olmr, oresult, rmr, target);
	/* Last: its remote access error leaves the QP in the error state. */
	miss_always(&p, lmr, result, rmr, target);
	ibv_destroy_qp(p.a);
	ibv_destroy_qp(p.b);
	ibv_dereg_mr(olmr);
	ibv_dereg_mr(lmr);
	ibv_dereg_mr(rmr);
	return check_done();
}
