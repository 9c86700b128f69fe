// SPDX-License-Identifier: GPL-2.0
/*
 * A QP's fault event lives apart from the QP (hodp_fault.c): a fault that
 * takes long (hodp/slow_fault and fault_delay_ms, as a slow file's page or
 * a FUSE server holding a read would) holds up none of the QP's verbs.
 * Here, on the debug kernel (KASAN, lockdep), with no FUSE:
 *
 * - 16 cold WRITEs of the process's QPs, their faults slow, posted while
 *   no kernel thread can be made: once workers can be made, all 16
 *   faults begin before any ends, none in a workqueue's rescuer;
 * - the requester's RESET during its event's slow fault returns before
 *   that fault ends; connected again, its next WQE's miss is a fault event
 *   of its own, which completes before the slow one ends; the slow one,
 *   let go, stops before its first attempt and completes nothing;
 * - the requester destroyed during its event's slow fault: destroy returns
 *   before that fault ends, which then stops the same way, finding no QP
 *   (and touching none: KASAN would say);
 * - the source MR of its event's slow fault deregistered during it:
 *   dereg returns before that fault ends, the MR counted kept in
 *   hodp/objects until the fault, stopped by the MR's death, frees it;
 *   the WRITE then ends with a local protection error (no such lkey);
 * - a READ's events over (every look of its copy missing, hodp/copy_miss),
 *   the requester's next miss of its own page (hodp/inplace_miss) is one
 *   of its last events, its fault slow: in a worker, out of the
 *   responder, whose RESET meanwhile returns before that fault ends;
 *   connected again, the READ completes, its data right;
 * - 18 cold WRITEs of the process's QPs, 16 slow faults: 16 begin, the
 *   last two events wait for one of them to end (a process's events are
 *   bounded); their requesters RESET and destroyed meanwhile return
 *   before any fault ends, and those events never run; the RESET one,
 *   connected again, WRITEs again;
 * - the same from pages of a file (ramfs: not shmem, so its faults may
 *   wait on a file system, hmm_mirror_fault_may_wait()), whose events move
 *   to the mirror's file lane and wait there; meanwhile a cold WRITE from
 *   anonymous memory completes before any slow fault ends;
 * - a fault holding the process's mmap lock (the core's test knob), 15
 *   more cold WRITEs whose events looked and whose slow faults began,
 *   then a task waiting in mmap() behind the holder: the 15 faults do
 *   not wait for the lock in hodp_fault's workers, but one in a worker
 *   of hodp_fault_lock, the others behind it in none; all complete once
 *   the holder ends.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "miss.h"
#include "objects.h"
#include "../hodp/tasks.h"

#define LEN		(16 * PAGE)
/*
 * The slow fault: long beside what the rest takes meanwhile (trace reads,
 * a RESET, three modify_qp calls and a cold WRITE, on the debug kernel
 * under TCG).
 */
#define SLOW_MS		"20000"

static struct ctx c;

/* A cold ODP buffer: registered, never touched (its lookups miss). */
struct cold {
	uint8_t *buf;
	struct ibv_mr *mr;
};

/*
 * Of anonymous memory if @fd < 0; else the @i-th LEN bytes of file @fd,
 * mapped privately read-only (the source of WRITEs).
 */
static struct cold cold_of(int fd, int i)
{
	struct cold b;

	if (fd < 0)
		b.buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	else
		b.buf = mmap(NULL, LEN, PROT_READ, MAP_PRIVATE, fd,
			     (off_t)i * LEN);
	b.mr = b.buf != MAP_FAILED ?
	       ibv_reg_mr(c.pd, b.buf, LEN, IBV_ACCESS_ON_DEMAND |
			  (fd < 0 ? ALL_ACCESS : 0)) : NULL;
	check_fatal("a cold ODP buffer", b.mr, "%s", strerror(errno));
	return b;
}

static struct cold cold_new(void)
{
	return cold_of(-1, 0);
}

static void cold_free(struct cold *b)
{
	ibv_dereg_mr(b->mr);
	munmap(b->buf, LEN);
}

/* An RDMA @op of LEN bytes between @loc and @rem by @qp, wr_id @id. */
static int post_rdma(struct ibv_qp *qp, enum ibv_wr_opcode op,
		     struct cold *loc, uint8_t *rem, struct ibv_mr *rmr,
		     uint64_t id)
{
	struct ibv_sge sge = { (uintptr_t)loc->buf, LEN, loc->mr->lkey };
	struct ibv_send_wr wr = { .wr_id = id, .sg_list = &sge, .num_sge = 1,
				  .opcode = op,
				  .send_flags = IBV_SEND_SIGNALED,
				  .wr.rdma = { (uintptr_t)rem, rmr->rkey } };

	return post_send(qp, &wr);
}

/* An RDMA WRITE of LEN bytes from @src into @dst by @qp, wr_id @id. */
static int post_write(struct ibv_qp *qp, struct cold *src, uint8_t *dst,
		      struct ibv_mr *dmr, uint64_t id)
{
	return post_rdma(qp, IBV_WR_RDMA_WRITE, src, dst, dmr, id);
}

/*
 * How many faults of @mr ended (their hodp_odp_fault lines in the trace),
 * -1 if unreadable; the first one's return in *@ret if not NULL.
 */
static int lkey_fault_ended(uint32_t lkey, int *ret)
{
	char want[64], *trace = read_trace(), *line;
	int n;

	snprintf(want, sizeof(want), "hodp_odp_fault: hodp0 lkey 0x%x ", lkey);
	n = trace ? count_in(trace, want, 0) : -1;
	line = n > 0 ? strstr(trace, want) : NULL;
	line = line ? strstr(line, " ret ") : NULL;
	if (ret)
		*ret = line ? atoi(line + 5) : 1;
	free(trace);
	return n;
}

static int fault_ended_ret(struct ibv_mr *mr, int *ret)
{
	return lkey_fault_ended(mr->lkey, ret);
}

static int fault_ended(struct ibv_mr *mr)
{
	return lkey_fault_ended(mr->lkey, NULL);
}

/* How many fault events of @qp the trace holds. */
static int events_now(struct ibv_qp *qp)
{
	char *trace = read_trace();
	int n = trace ? events_of(trace, qp->qp_num) : -1;

	free(trace);
	return n;
}

/* The next ODP fault sleeps @ms; return once it has begun. */
static int slow_fault_begun_ms(struct ibv_qp *qp, struct cold *src,
			       uint8_t *dst, struct ibv_mr *dmr, uint64_t id,
			       const char *ms)
{
	long long n0 = odp_faults();

	check_fatal("hodp0's odp_faults", n0 >= 0, "unreadable");
	check_fatal("one slow fault", !attr_arm(SLOW_FAULT, 0, 1) &&
		    !write_str(FAULT_DELAY, ms), "%s", strerror(errno));
	return !post_write(qp, src, dst, dmr, id) && faults_begun(n0 + 1);
}

static int slow_fault_begun(struct ibv_qp *qp, struct cold *src,
			    uint8_t *dst, struct ibv_mr *dmr, uint64_t id)
{
	return slow_fault_begun_ms(qp, src, dst, dmr, id, SLOW_MS);
}

/* Wait up to 60 s for the fault of MR @lkey to end: 1 if it did. */
static int wait_lkey_fault_end(uint32_t lkey)
{
	double t0 = now_s();

	while (lkey_fault_ended(lkey, NULL) < 1)
		if (now_s() - t0 > 60 || usleep(50000))
			return 0;
	return 1;
}

static int wait_fault_end(struct ibv_mr *mr)
{
	return wait_lkey_fault_end(mr->lkey);
}

/* hodp0's deregistered MRs whose memory a fault keeps (hodp/objects). */
static int kept_mrs(void)
{
	return hodp0_objects_count("kept");
}

static void reset_during(uint8_t *dst, struct ibv_mr *dmr)
{
	struct ibv_qp_attr rst = { .qp_state = IBV_QPS_RESET };
	struct rc_pair p = rc_pair(&c, ALL_ACCESS, 7);
	struct cold slow = cold_new(), next = cold_new();
	int begun, rc = -1, ended_at_reset = -1, ended_at_next = -1;
	int next_ended = -1, st = -1, late = -1, events = -1, ret = 1;
	struct ibv_wc wc = { 0 };

	memset(dst, 0x5a, LEN);
	start_trace();
	begun = slow_fault_begun(p.a, &slow, dst, dmr, 1);
	if (begun) {
		rc = ibv_modify_qp(p.a, &rst, IBV_QP_STATE);
		ended_at_reset = fault_ended(slow.mr);
	}
	check("requester RESET during its event's slow fault: returns before that fault ends",
	      begun && !rc && !ended_at_reset,
	      "fault begun %d, RESET %d (%s), the slow fault's end traced %d times when it returned",
	      begun, rc, rc ? strerror(errno) : "-", ended_at_reset);
	if (begun && !rc && !rc_connect(&c, p.a, p.b->qp_num, ALL_ACCESS, 7) &&
	    !post_write(p.a, &next, dst, dmr, 2)) {
		st = wait_wc(c.cq, &wc);
		ended_at_next = fault_ended(slow.mr);
		next_ended = fault_ended(next.mr);
		events = events_now(p.a);
	}
	check("connected again, the next miss is an event of its own: its WRITE completes before the slow fault ends",
	      st == IBV_WC_SUCCESS && wc.wr_id == 2 && !ended_at_next &&
	      next_ended >= 1 && events == 2 && dst[0] == 0 &&
	      dst[LEN - 1] == 0,
	      "status %d (wr_id %llu), the slow fault's end traced %d times then, the next's %d, %d fault events of the QP (the slow one's and the next's: 2), bytes 0x%x 0x%x",
	      st, (unsigned long long)wc.wr_id, ended_at_next, next_ended,
	      events, dst[0], dst[LEN - 1]);
	if (wait_fault_end(slow.mr)) {
		usleep(200000);
		late = ibv_poll_cq(c.cq, 1, &wc);
		fault_ended_ret(slow.mr, &ret);
	}
	check("the slow fault, let go, stops before its first attempt (-ECANCELED) and completes nothing",
	      late == 0 && ret == -125,
	      "%d completions after it ended (-1: it never ended), its fault returned %d",
	      late, ret);
	disarm();
	free(stop_trace());
	ibv_destroy_qp(p.a);
	ibv_destroy_qp(p.b);
	cold_free(&slow);
	cold_free(&next);
}

static void destroy_during(uint8_t *dst, struct ibv_mr *dmr)
{
	struct rc_pair p = rc_pair(&c, ALL_ACCESS, 7);
	struct cold slow = cold_new();
	int begun, rc = -1, ended_at_destroy = -1, ended = 0, ret = 1;
	struct ibv_wc wc;

	start_trace();
	begun = slow_fault_begun(p.a, &slow, dst, dmr, 3);
	if (begun) {
		rc = ibv_destroy_qp(p.a);
		ended_at_destroy = fault_ended(slow.mr);
		ended = wait_fault_end(slow.mr);
		fault_ended_ret(slow.mr, &ret);
	}
	check("requester destroyed during its event's slow fault: returns before that fault ends",
	      begun && !rc && !ended_at_destroy,
	      "fault begun %d, destroy %d (%s), the slow fault's end traced %d times when it returned",
	      begun, rc, rc ? strerror(errno) : "-", ended_at_destroy);
	usleep(200000);
	check("the slow fault, let go, stops before its first attempt (-ECANCELED) and completes nothing",
	      ended && ret == -125 && ibv_poll_cq(c.cq, 1, &wc) == 0,
	      "ended %d, its fault returned %d", ended, ret);
	disarm();
	free(stop_trace());
	if (begun && rc)
		ibv_destroy_qp(p.a);
	ibv_destroy_qp(p.b);
	cold_free(&slow);
}

/*
 * The MR of an event's slow fault deregistered during it: dereg returns
 * before that fault ends, the MR counted kept (hodp/objects) until the
 * fault, stopped by the MR's death before its first attempt, lets it go;
 * the WQE's next run finds no such lkey.
 */
static void dereg_during(uint8_t *dst, struct ibv_mr *dmr)
{
	struct rc_pair p = rc_pair(&c, ALL_ACCESS, 7);
	struct cold slow = cold_new();
	int kept0, kept_at_dereg = -1, kept_after = -1;
	int begun, rc = -1, ended_at_dereg = -1, ended = 0, ret = 1, st = -1;
	uint32_t lkey = slow.mr->lkey;
	struct ibv_wc wc = { 0 };
	double t0 = now_s();

	/* The cases before let their MRs go (their faults' last steps). */
	while ((kept0 = kept_mrs()) > 0 && now_s() - t0 < 10)
		usleep(50000);
	check_fatal("hodp/objects counts kept MRs, none now", kept0 == 0,
		    "kept %d", kept0);
	start_trace();
	/* Shorter: only a dereg and two reads of debugfs run meanwhile. */
	begun = slow_fault_begun_ms(p.a, &slow, dst, dmr, 5, "8000");
	if (begun) {
		rc = ibv_dereg_mr(slow.mr);
		ended_at_dereg = lkey_fault_ended(lkey, NULL);
		kept_at_dereg = kept_mrs();
	}
	check("an MR deregistered during its event's slow fault: dereg returns before that fault ends, the MR kept",
	      begun && !rc && !ended_at_dereg && kept_at_dereg == 1,
	      "fault begun %d, dereg %d (%s), the slow fault's end traced %d times when it returned, kept %d",
	      begun, rc, rc ? strerror(errno) : "-", ended_at_dereg,
	      kept_at_dereg);
	if (begun && !rc) {
		ended = wait_lkey_fault_end(lkey);
		lkey_fault_ended(lkey, &ret);
		st = wait_wc(c.cq, &wc);
		kept_after = kept_mrs();
	}
	check("the slow fault stops before its first attempt (-ECANCELED), the MR freed with it",
	      ended && ret == -125 && kept_after == 0,
	      "ended %d, its fault returned %d, kept %d", ended, ret,
	      kept_after);
	check("the WRITE, its source deregistered, ends with a local protection error",
	      st == IBV_WC_LOC_PROT_ERR && wc.wr_id == 5,
	      "status %d (wr_id %llu)", st, (unsigned long long)wc.wr_id);
	disarm();
	free(stop_trace());
	ibv_destroy_qp(p.a);
	ibv_destroy_qp(p.b);
	if (!begun || rc) {
		/* Its WRITE, if it was posted, completes (it may fault). */
		if (st < 0)
			wait_wc(c.cq, &wc);
		ibv_dereg_mr(slow.mr);
	}
	munmap(slow.buf, LEN);
}

/*
 * A process's fault events run HODP_LANE_EVENTS (hodp_fault.c) at once in
 * each lane, its next ones there waiting for one of those to end.
 */
#define LANE_EVENTS	16

/* The slow faults, then the two WQEs whose events wait their turn. */
#define WAITERS		(LANE_EVENTS + 2)

/* The trace's lines that begin with @what (an event's name), or -1. */
static int traced(const char *what)
{
	char *trace = read_trace();
	int n = trace ? count_in(trace, what, 0) : -1;

	free(trace);
	return n;
}

/* The faults ended (hodp_odp_fault lines in the trace), or -1. */
static int faults_ended(void)
{
	return traced("hodp_odp_fault: ");
}

/*
 * While the slow faults of a file run: a cold WRITE by @p from anonymous
 * memory @anon completes, its fault the only one ended then (its event
 * waited behind none of the file's).
 */
static void anon_beside(struct rc_pair *p, struct cold *anon, uint8_t *dst,
			struct ibv_mr *dmr)
{
	struct ibv_wc wc = { 0 };
	int st = -1, ended = -1;

	if (!post_write(p->a, anon, dst, dmr, 9)) {
		st = wait_wc(c.cq, &wc);
		ended = faults_ended();
	}
	check("... meanwhile a cold WRITE from anonymous memory completes before any of theirs ends (the file's events, waiting too, hold none of the memory lane's places)",
	      st == IBV_WC_SUCCESS && wc.wr_id == 9 && ended == 1,
	      "status %d (wr_id %llu), %d faults ended then (want 1: its own)",
	      st, (unsigned long long)wc.wr_id, ended);
}

/*
 * LANE_EVENTS + 2 cold WRITEs of this process, each by a QP of its own,
 * the first LANE_EVENTS faults slow: those begin, then the last two are
 * posted, and their events wait for their turn. Meanwhile the one's
 * requester is RESET, the other's destroyed: both return before any
 * fault ends, and their events, let go while waiting, never run (no
 * fault of their MRs); the slow WRITEs complete; the RESET requester,
 * connected again, WRITEs again (its event works). KASAN and lockdep
 * watch the waiting list. From
 * anonymous memory if @fd < 0 (the memory lane), else from pages of file
 * @fd (the file lane: each event begins in the memory lane, and the two
 * last wait in the file lane, anon_beside() checks that they hold no
 * place of the memory lane).
 */
static void waiting_let_go(uint8_t *dst, struct ibv_mr *dmr, int fd)
{
	struct ibv_qp_attr rst = { .qp_state = IBV_QPS_RESET };
	/*
	 * The file's slow faults outlast anon_beside() too. 12 s for both:
	 * with 8 s, a slow guest once began the 16th fault after the first
	 * had ended (18 begun, the two last events run).
	 */
	const char *slow_ms = "12000";
	struct rc_pair p[WAITERS], ap = { 0 };
	struct cold src[WAITERS], anon = { 0 };
	const int r = LANE_EVENTS, d = LANE_EVENTS + 1;
	long long f0, ran = -1, after = -1;
	int i, begun = 0, posted = 0, ended_at = -1, rrc = -1, drc = -1;
	int done = 0, st = -1, waited_faults = -1, want, moved, waited;
	struct ibv_wc wc = { 0 };

	printf("# from %s\n", fd < 0 ? "anonymous memory" : "a ramfs file");
	for (i = 0; i < WAITERS; i++) {
		p[i] = rc_pair(&c, ALL_ACCESS, 7);
		src[i] = cold_of(fd, i);
	}
	if (fd >= 0) {
		ap = rc_pair(&c, ALL_ACCESS, 7);
		anon = cold_new();
	}
	start_trace();
	f0 = odp_faults();
	check_fatal("the next LANE_EVENTS faults slow",
		    !attr_arm(SLOW_FAULT, 0, LANE_EVENTS) &&
		    !write_str(FAULT_DELAY, slow_ms), "%s", strerror(errno));
	/* The slow ones first: which events wait is not up to the workers. */
	for (i = 0; i < LANE_EVENTS; i++)
		posted += !post_write(p[i].a, &src[i], dst, dmr, 100 + i);
	if (posted == LANE_EVENTS && faults_begun(f0 + LANE_EVENTS)) {
		for (; i < WAITERS; i++)
			posted += !post_write(p[i].a, &src[i], dst, dmr,
					      100 + i);
		begun = posted == WAITERS;
	}
	if (begun) {
		sleep(1);
		/*
		 * The two last ones' moves may wait for workers: up to 10 s,
		 * well within the slow faults' 12.
		 */
		for (i = 0; fd >= 0 && i < 100 &&
		     traced("hodp_odp_fault_lane: ") < WAITERS; i++)
			usleep(100000);
		ran = odp_faults() - f0;
		rrc = ibv_modify_qp(p[r].a, &rst, IBV_QP_STATE);
		drc = ibv_destroy_qp(p[d].a);
		ended_at = faults_ended();
	}
	/* Each event's move to the file lane: hodp_odp_fault_lane. */
	moved = traced("hodp_odp_fault_lane: ");
	waited = traced(" file lane, waits");
	check("a process's fault events: 16 run at once, the next ones wait",
	      begun && ran == LANE_EVENTS,
	      "%d of %d posted, %lld faults begun (want %d)", posted, WAITERS,
	      ran, LANE_EVENTS);
	check(fd < 0 ? "... none of them in the file lane (anonymous memory)" :
		       "... each of them in the file lane, the last two waiting there",
	      fd < 0 ? !moved : moved == WAITERS && waited == 2,
	      "%d moved to the file lane, %d of them waiting", moved, waited);
	check("... a waiting one's requester RESET, another's destroyed: both return before any fault ends",
	      !rrc && !drc && !ended_at, "RESET %d, destroy %d, %d faults ended",
	      rrc, drc, ended_at);
	/* The slow ones' faults, and anon_beside()'s. */
	want = LANE_EVENTS;
	if (fd >= 0 && begun) {
		anon_beside(&ap, &anon, dst, dmr);
		want++;
	}
	for (i = 0; i < LANE_EVENTS; i++)
		done += wait_wc(c.cq, &wc) == IBV_WC_SUCCESS &&
			wc.wr_id >= 100 && wc.wr_id < 100 + LANE_EVENTS;
	/* Their places free: a waiting event left would run now. */
	sleep(1);
	after = odp_faults() - f0;
	waited_faults = fault_ended(src[r].mr) +
			fault_ended(src[d].mr);
	check("... then the slow WRITEs complete, and the events let go while waiting never run",
	      done == LANE_EVENTS && after == want && !waited_faults,
	      "%d of %d completed, %lld faults in all (want %d), %d of the two let go",
	      done, LANE_EVENTS, after, want, waited_faults);
	if (!rrc && !rc_connect(&c, p[r].a, p[r].b->qp_num, ALL_ACCESS, 7) &&
	    !post_write(p[r].a, &src[r], dst, dmr, 7))
		st = wait_wc(c.cq, &wc);
	check("... the RESET requester, connected again, WRITEs again, a fault event of its own",
	      st == IBV_WC_SUCCESS && wc.wr_id == 7 &&
	      fault_ended(src[r].mr) == 1 && !ibv_poll_cq(c.cq, 1, &wc),
	      "status %d (wr_id %llu), %d faults of its MR", st,
	      (unsigned long long)wc.wr_id, fault_ended(src[r].mr));
	disarm();
	free(stop_trace());
	for (i = 0; i < WAITERS; i++) {
		if (i != d || drc)
			ibv_destroy_qp(p[i].a);
		ibv_destroy_qp(p[i].b);
		cold_free(&src[i]);
	}
	if (fd >= 0) {
		ibv_destroy_qp(ap.a);
		ibv_destroy_qp(ap.b);
		cold_free(&anon);
	}
}

/* LANE_EVENTS QPs, each WRITing from a cold ODP buffer of its own. */
static void writers_new(struct rc_pair *p, struct cold *src)
{
	int i;

	for (i = 0; i < LANE_EVENTS; i++) {
		p[i] = rc_pair(&c, ALL_ACCESS, 7);
		src[i] = cold_new();
	}
}

static void writers_free(struct rc_pair *p, struct cold *src)
{
	int i;

	for (i = 0; i < LANE_EVENTS; i++) {
		ibv_destroy_qp(p[i].a);
		ibv_destroy_qp(p[i].b);
		cold_free(&src[i]);
	}
}

/* failslab, aimed at kthreadd alone: no kernel thread can be made. */
#define FAILSLAB	"/sys/kernel/debug/failslab"
#define KTHREADD_FAILS	"/proc/2/make-it-fail"

/* Kernel threads can be made again (also at exit, and when killed). */
static void threads_again(void)
{
	write_zero(FAILSLAB "/probability");
	write_zero(KTHREADD_FAILS);
}

static void locked_delay_off(void);

static void threads_again_killed(int sig)
{
	threads_again();
	locked_delay_off();
	disarm_killed(sig);
}

/*
 * LANE_EVENTS cold WRITEs, each by a QP of its own, their faults slow,
 * posted while no worker can be made (kthreadd's slab allocations fail),
 * which it can again a second later: each event's fault begins in a worker
 * of its own before any of them ends. A workqueue that has a rescuer hands
 * the work waiting for a worker to it 10 ms after one could not be made,
 * and the rescuer runs what it took one item after another: a fault that
 * waits (here 20 s, on a FUSE server for ever) would hold up the events
 * of every process behind it, workers free or not.
 */
static void events_without_workers(uint8_t *dst, struct ibv_mr *dmr)
{
	struct rc_pair p[LANE_EVENTS];
	struct cold src[LANE_EVENTS];
	struct ibv_wc wc = { 0 };
	long long f0;
	int i, posted = 0, begun = 0, ended = -1, done = 0, rescued;
	double t0;

	writers_new(p, src);
	start_trace();
	f0 = odp_faults();
	check_fatal("the next LANE_EVENTS faults slow",
		    !attr_arm(SLOW_FAULT, 0, LANE_EVENTS) &&
		    !write_str(FAULT_DELAY, SLOW_MS), "%s", strerror(errno));
	check_fatal("no kernel thread made (failslab aimed at kthreadd)",
		    !attr_write(FAILSLAB, "task-filter", "Y") &&
		    !attr_write(FAILSLAB, "ignore-gfp-wait", "N") &&
		    !attr_arm(FAILSLAB, 0, -1) &&
		    !write_str(KTHREADD_FAILS, "1"), "%s", strerror(errno));
	for (i = 0; i < LANE_EVENTS; i++)
		posted += !post_write(p[i].a, &src[i], dst, dmr, 200 + i);
	sleep(1);
	/* With fewer workers idle than 16, some faults wait for one. */
	printf("# %lld of them begun while no worker could be made\n",
	       odp_faults() - f0);
	threads_again();
	t0 = now_s();
	if (posted == LANE_EVENTS) {
		begun = faults_begun(f0 + LANE_EVENTS);
		ended = faults_ended();
		printf("# %s %.1f s after threads could be made again\n",
		       begun ? "all begun" : "not all begun", now_s() - t0);
	}
	check("16 events' slow faults, posted while no worker could be made: all begin, once workers can be made, before any ends",
	      begun && !ended, "%d posted, begun %d, %d faults ended then",
	      posted, begun, ended);
	for (i = 0; i < posted; i++)
		done += wait_wc(c.cq, &wc) == IBV_WC_SUCCESS &&
			wc.wr_id >= 200 && wc.wr_id < 200 + LANE_EVENTS;
	/* A rescuer's task has its workqueue's name: the trace's comm. */
	rescued = traced("hodp_fault-") + traced("hodp_fault_file-");
	check("... the WRITEs complete, none of the faults ran in a workqueue's rescuer",
	      done == LANE_EVENTS && !rescued,
	      "%d of %d completed, %d trace lines by a rescuer", done,
	      LANE_EVENTS, rescued);
	disarm();
	free(stop_trace());
	writers_free(p, src);
}

/*
 * The requester's own page missing once its READ's events are over: one
 * of its last events, its fault slow. The responder's RESET does not wait
 * for that fault (a worker's, out of the responder); connected again, the
 * READ completes, its data right (the fault was the injected miss's: the
 * page was there).
 */
static void own_fault_beside_reset(uint8_t *src, struct ibv_mr *smr)
{
	struct ibv_qp_attr rst = { .qp_state = IBV_QPS_RESET };
	struct rc_pair p = rc_pair(&c, ALL_ACCESS, 7);
	struct cold loc = cold_new();
	int begun = 0, rc = -1, at_reset = -1, st = -1, bad = -1, events = -1;
	int i;
	struct ibv_wc wc = { 0 };
	long long f0;

	for (i = 0; i < (int)LEN; i++)
		src[i] = (uint8_t)(i * 7 + 1);
	/* Mirrored writable first: the misses below are the injected ones. */
	check_fatal("a READ into the ODP buffer before the injection",
		    !post_rdma(p.a, IBV_WR_RDMA_READ, &loc, src, smr, 20) &&
		    wait_wc(c.cq, &wc) == IBV_WC_SUCCESS, "status %d",
		    wc.status);
	memset(loc.buf, 0, LEN);
	start_trace();
	f0 = odp_faults();
	arm(COPY_MISS, FAULT_TRIES + 1);
	arm_slow_inplace(SLOW_MS);
	if (!post_rdma(p.a, IBV_WR_RDMA_READ, &loc, src, smr, 21)) {
		/* The events' faults, then the last event's, slow. */
		begun = faults_begun(f0 + FAULT_TRIES + 1);
		rc = ibv_modify_qp(p.b, &rst, IBV_QP_STATE);
		at_reset = fault_ended(loc.mr);
		events = events_now(p.a);
	}
	check("responder RESET while its requester's last event faults its own page, slowly: returns before that fault ends",
	      begun && !rc && at_reset == FAULT_TRIES &&
	      events == FAULT_TRIES + 1,
	      "slow fault begun %d, RESET %d (%s), %d faults of the page ended when it returned (the events' %d, then the slow one), %d events (want %d: the last one's too)",
	      begun, rc, rc ? strerror(errno) : "-", at_reset, FAULT_TRIES,
	      events, FAULT_TRIES + 1);
	if (begun && !rc && !rc_connect(&c, p.b, p.a->qp_num, ALL_ACCESS, 7))
		st = wait_wc(c.cq, &wc);
	for (i = 0; i < (int)LEN && bad < 0; i++)
		if (loc.buf[i] != src[i])
			bad = i;
	check("... then, the responder connected again, the READ completes, its data right",
	      st == IBV_WC_SUCCESS && wc.wr_id == 21 && bad < 0,
	      "status %d (wr_id %llu), first wrong byte %d", st,
	      (unsigned long long)wc.wr_id, bad);
	disarm();
	free(stop_trace());
	/* Its slow fault not over (a failure above): destroy lets it go. */
	ibv_destroy_qp(p.a);
	ibv_destroy_qp(p.b);
	cold_free(&loc);
}

/*
 * waiting_let_go() from the pages of a file on a ramfs of its own, in a
 * mount namespace of its own (an exit on a failed check leaves no mount).
 */
static void file_lane(uint8_t *dst, struct ibv_mr *dmr)
{
	char dir[] = "/tmp/hodp-ramfs-XXXXXX", path[64];
	int fd = -1;

	check_fatal("private mounts", !unshare(CLONE_NEWNS) &&
		    !mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), "%s",
		    strerror(errno));
	if (mkdtemp(dir) && !mount("none", dir, "ramfs", 0, NULL)) {
		snprintf(path, sizeof(path), "%s/f", dir);
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd >= 0 && ftruncate(fd, (off_t)WAITERS * LEN)) {
			close(fd);
			fd = -1;
		}
	}
	check_fatal("a file on a ramfs", fd >= 0, "%s", strerror(errno));
	waiting_let_go(dst, dmr, fd);
	close(fd);
	umount2(dir, MNT_DETACH);
	rmdir(dir);
}

/* The core's test knob: faults that hold the mmap lock longer (hmm_core.c). */
#define LOCKED_DELAY	"/sys/kernel/debug/hmm_mirror/fault_locked_delay_ms"
#define LOCKED_TIMES	"/sys/kernel/debug/hmm_mirror/fault_locked_delay_times"

/* @s into the file @path with no stdio (no malloc): 0, or -1. */
static int knob_write(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	ssize_t n = fd >= 0 ? write(fd, s, strlen(s)) : -1;

	if (fd >= 0)
		close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* The number in the file @path, with no stdio (no malloc); -1 if none. */
static long long knob_read(const char *path)
{
	int fd = open(path, O_RDONLY);
	char buf[32];
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return strtoll(buf, NULL, 10);
}

#define ODP_FAULTS	"/sys/class/infiniband/hodp0/ports/1/hw_counters/odp_faults"

/*
 * Wait up to 30 s for the number in the file @path to be in [@min, @max],
 * with no stdio (hodp0's counters are cached for 10 ms: read 20 ms
 * apart): 1 if it was.
 */
static int knob_within(const char *path, long long min, long long max)
{
	long long v;
	double t0;

	for (t0 = now_s(); now_s() - t0 < 30; usleep(20000)) {
		v = knob_read(path);
		if (v >= min && v <= max)
			return 1;
	}
	return 0;
}

/* The knob off (also at exit: left on, a later fault would hold it). */
static void locked_delay_off(void)
{
	knob_write(LOCKED_DELAY, "0");
	knob_write(LOCKED_TIMES, "0");
}

/*
 * A writer come after the look, before the fault: a fault of this
 * process's anonymous memory holds its mmap lock (the core's knob, as a
 * file's fault waiting in a FUSE server would); LANE_EVENTS - 1 more cold
 * WRITEs are posted, whose events look at the mappings (the lock free of
 * writers then) and begin their faults, slowed by hodp/slow_fault; then a
 * task of this process waits in mmap() for the lock, behind the holder.
 * Their faults, once their delay is over, must not wait for the lock in
 * hodp_fault's workers (16 such processes would hold all of them, and
 * every user's faults of anonymous memory would wait): they go on to
 * hodp_fault_lock, one in a worker, the others behind it in none (16
 * such processes hold 16 of its workers, not 256), the holder alone left
 * in hodp_fault's. Once the holder ends, every WRITE completes, each
 * fault counted and traced once.
 */
static void fault_after_writer(uint8_t *dst, struct ibv_mr *dmr)
{
	static char stack[64 * 1024] __attribute__((aligned(16)));
	static const unsigned int bound = 120;
	struct cold src[LANE_EVENTS];
	struct rc_pair p[LANE_EVENTS];
	int i, n[2] = { -1, -1 }, status, st, ok, traced = 0, ret;
	int held = 0, begun = 0, waits = 0, done = 0, posted = 0;
	struct ibv_wc wc;
	long long f0, left, faults;
	double t0;
	pid_t w = -1;

	/*
	 * While a task of this process waits for its mmap lock, a page fault
	 * of the case would wait behind it: everything mapped so far (its
	 * code, stack, buffers, libraries) made present and kept, not what
	 * is mapped after (the cold buffers).
	 */
	locked_delay_off();
	check_fatal("mlockall()", !mlockall(MCL_CURRENT), "%s", strerror(errno));
	writers_new(p, src);
	start_trace();
	f0 = odp_faults();
	/*
	 * Armed before the first WRITE: its fault, let through by the slow
	 * fault attribute (space 2), holds the lock; the next 15 are slowed.
	 * From then on until the knob is off, this process's mmap lock is
	 * held: no malloc (a heap that grows would wait for it, as a writer),
	 * no stdio.
	 */
	check_fatal("a fault that holds the mmap lock (the core's knob), the next 15 slow",
		    !knob_write(LOCKED_TIMES, "1") &&
		    !knob_write(LOCKED_DELAY, "120000") &&
		    !attr_arm(SLOW_FAULT, 2, LANE_EVENTS - 1) &&
		    !write_str(FAULT_DELAY, "8000"), "%s", strerror(errno));
	if (!post_write(p[0].a, &src[0], dst, dmr, 400)) {
		posted = 1;
		held = knob_within(LOCKED_TIMES, 0, 0);
	}
	for (i = 1, ok = held; i < LANE_EVENTS && ok; i++) {
		ok = !post_write(p[i].a, &src[i], dst, dmr, 400 + i);
		posted += ok;
	}
	begun = ok && knob_within(ODP_FAULTS, f0 + LANE_EVENTS, LLONG_MAX);
	/* What the checks after the window say. */
	left = knob_read(LOCKED_TIMES);
	faults = knob_read(ODP_FAULTS) - f0;
	if (begun) {
		w = clone(mmap_writer, stack + sizeof(stack),
			  CLONE_VM | SIGCHLD, (void *)&bound);
		waits = w > 0 && task_waits(w);
	}
	/* The slow faults' 8 s over, their events moved on. */
	for (t0 = now_s(); waits && now_s() - t0 < 30 &&
	     (n[0] != 1 || n[1] != 1); usleep(200000)) {
		n[0] = workers_of("hodp_fault");
		n[1] = workers_of("hodp_fault_lock");
	}
	locked_delay_off();
	if (w > 0) {
		kill(w, SIGKILL);
		waitpid(w, &status, 0);
	}
	disarm();
	check("a writer after the look: a fault of this process's anonymous memory holds its mmap lock",
	      held, "the knob's fault never came (%lld left)", left);
	check("... 15 more cold WRITEs: their events looked, their faults begun (slowed)",
	      begun, "%d posted, %lld of %d faults begun", posted, faults,
	      LANE_EVENTS);
	check("... then a task of the process waits in mmap() for the lock, behind the held fault",
	      waits, "%s", w < 0 ? "clone() failed" : "it never waited");
	printf("# a writer after the look: %d workers of hodp_fault and %d of hodp_fault_lock busy\n",
	       n[0], n[1]);
	check("... the 15 faults, their delay over, wait for the lock, none in a worker of hodp_fault (where the holder alone waits), one in a worker of hodp_fault_lock, the others behind it in none",
	      n[0] == 1 && n[1] == 1, "%d and %d (want 1 and 1)", n[0],
	      n[1]);
	for (i = 0; i < posted; i++) {
		st = wait_wc(c.cq, &wc);
		done += st == IBV_WC_SUCCESS && wc.wr_id >= 400 &&
			wc.wr_id < 400 + LANE_EVENTS;
	}
	for (i = 0; i < LANE_EVENTS; i++)
		traced += fault_ended_ret(src[i].mr, &ret) == 1 && !ret;
	check("... once the holder ends, every WRITE completes, each fault counted and traced once",
	      done == LANE_EVENTS && odp_faults() - f0 == LANE_EVENTS &&
	      traced == LANE_EVENTS,
	      "%d of %d completed, %lld faults counted, %d of the MRs with one fault traced",
	      done, LANE_EVENTS, odp_faults() - f0, traced);
	free(stop_trace());
	writers_free(p, src);
	munlockall();
}

int main(void)
{
	struct ibv_mr *dmr;
	uint8_t *dst;
	int kmsg;

	if (access(SLOW_FAULT, F_OK)) {
		skip("hodp slow faults",
		     "no debugfs hodp/slow_fault: kernel without fault injection (make check-debug runs it)");
		return 0;
	}
	kmsg = kmsg_open();
	trace_mount();
	trace_hodp_on();
	open_dev(&c, "hodp0");
	dst = malloc(LEN);
	dmr = dst ? ibv_reg_mr(c.pd, dst, LEN, ALL_ACCESS) : NULL;
	check_fatal("the destination", dmr, "%s", strerror(errno));
	/* Left armed by a test cut short, every later fault would be slow. */
	atexit(disarm);
	atexit(threads_again);
	atexit(locked_delay_off);
	signal(SIGTERM, threads_again_killed);
	signal(SIGINT, threads_again_killed);
	/* First: the fewer workers earlier cases left idle, the better. */
	events_without_workers(dst, dmr);
	reset_during(dst, dmr);
	destroy_during(dst, dmr);
	dereg_during(dst, dmr);
	own_fault_beside_reset(dst, dmr);
	waiting_let_go(dst, dmr, -1);
	file_lane(dst, dmr);
	fault_after_writer(dst, dmr);
	ibv_dereg_mr(dmr);
	free(dst);
	kmsg_check(kmsg, "the kernel logged no bug");
	return check_done();
}
