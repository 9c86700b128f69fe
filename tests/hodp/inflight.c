// SPDX-License-Identifier: GPL-2.0
/*
 * A long message in flight while its responder changes under it. The
 * requester copies SZ bytes straight into the responder (in-host
 * transport), in the doorbell system call of a thread of ours; meanwhile:
 *
 *  - destroy: the responder QP is destroyed while the message is copied,
 *    and the message then overflows the responder's CQ (an error of the
 *    responder, raised by the requester after destroy stopped the
 *    responder's work): destroy must leave no work of the QP behind. So
 *    that work left behind runs only after the QP is freed (and KASAN sees
 *    it), the destroyer and, below it, the requester are SCHED_FIFO and
 *    two lower SCHED_FIFO spinners keep the workers off both CPUs until
 *    destroy returned (or SPIN_MS passed);
 *  - srq destroy: an SRQ responder destroyed during the copy: the SRQ's
 *    WQE it claimed completes with a flush error, not lost with the QP;
 *  - reset: the responder is moved to RESET: once RESET has returned,
 *    nothing may land in it (no byte, no completion); the copy stops there
 *    (RESET does not wait for all of it), and the requester, whose
 *    responder vanished mid-message, does not complete successfully;
 *  - requester reset: the requester is moved to RESET during its copy:
 *    the copy stops, the rest of the message never lands, the responder's
 *    receive completes with a remote abort, the requester's WQE with
 *    nothing;
 *  - srq: a WRITE with immediate that needs a WQE of an SRQ, while another
 *    QP of the SRQ takes the only WQE: the write must own its WQE before
 *    writing, so it completes, and the other QP waits (RNR) for the next;
 *  - srq error: a SEND into an SRQ's WQE, its responder moved to ERR
 *    during the copy: IBV_EVENT_QP_LAST_WQE_REACHED comes once the copy
 *    stopped, the WQE it claimed already completed (flushed) by then. With
 *    two CPUs, the copy is held off its CPU meanwhile (a SCHED_FIFO
 *    spinner there, for SPIN_MS), so that an event raised while the copy
 *    is still inside the responder would come first.
 *
 * Each case checks that the race happened (the copy was still running).
 *
 * It must race on one CPU too: the debug tier's guest had one until its
 * kernel got an MP table parser (told pci=noacpi, it turned the local
 * APIC off: acpi_mps_check(); test-cpus now checks for two), and a guest
 * may again. There the main thread gets the CPU back
 * from a copy only by preempting it at one of the copy's yields
 * (cond_resched() every 256 KiB; PREEMPT_NONE): as a waking SCHED_OTHER
 * task, or as a SCHED_FIFO one of higher priority than the requester,
 * never of the same; and it never waits for another thread by spinning,
 * which on one CPU keeps that thread off it for ever.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "verbs.h"

#define SZ		(128u << 20)
#define DELAY_US	20000
#define SPIN_MS		300

static struct ctx c;
static struct timespec t_start;
static uint8_t *src, *dst, *small;
static struct ibv_mr *smr, *dmr, *lmr;

struct poster {
	struct ibv_qp *qp;
	struct ibv_send_wr wr;
	struct ibv_sge sge;
	atomic_int state;	/* 0 not yet, 1 in post_send, 2 returned */
	int ret;
	int fifo;		/* its SCHED_FIFO priority, or 0 */
	pthread_t t;
};

static int set_fifo(pthread_t t, int prio)
{
	struct sched_param sp = { .sched_priority = prio };

	return pthread_setschedparam(t, prio ? SCHED_FIFO : SCHED_OTHER, &sp);
}

/* Where the test is (a hang shows where it waits), with its time so far. */
static void progress(const char *what)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	printf("# %.3f s: %s\n", (double)(t.tv_sec - t_start.tv_sec) +
	       (t.tv_nsec - t_start.tv_nsec) / 1e9, what);
	fflush(stdout);
}

static atomic_int spin_stop;

/*
 * Spin until told, or for SPIN_MS at most: destroy may itself wait for a
 * kernel thread (RCU, a worker), which the spinners must not starve.
 */
static void *spinner(void *arg)
{
	struct timespec t0, t;
	unsigned long n = 0;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!atomic_load(&spin_stop)) {
		if (++n & 4095)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 +
		    (t.tv_nsec - t0.tv_nsec) / 1000000 >= SPIN_MS)
			break;
	}
	return NULL;
}

/*
 * A SCHED_FIFO thread of priority @prio spinning until spin_stop, on CPU
 * @cpu alone if not -1 (spin_stop is the caller's to clear first). 0 if
 * started.
 */
static int start_spinner(pthread_t *t, int prio, int cpu)
{
	struct sched_param sp = { .sched_priority = prio };
	pthread_attr_t attr;
	cpu_set_t set;
	int ret;

	pthread_attr_init(&attr);
	pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
	pthread_attr_setschedparam(&attr, &sp);
	if (cpu >= 0) {
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	}
	ret = pthread_create(t, &attr, spinner, NULL);
	pthread_attr_destroy(&attr);
	return ret;
}

/* Two SCHED_FIFO threads of priority @prio spinning until spin_stop. */
static int start_spinners(pthread_t *t, int prio)
{
	int i, ret = 0;

	atomic_store(&spin_stop, 0);
	for (i = 0; i < 2 && !ret; i++)
		ret = start_spinner(&t[i], prio, -1);
	return ret ? -1 : i;
}

static void *post_thread(void *arg)
{
	struct poster *p = arg;

	if (p->fifo)
		set_fifo(pthread_self(), p->fifo);
	atomic_store(&p->state, 1);
	p->ret = post_send(p->qp, &p->wr);
	atomic_store(&p->state, 2);
	return NULL;
}

/*
 * Post a signalled SZ-byte @op from @qp in a thread, with SCHED_FIFO
 * priority @fifo (0: SCHED_OTHER; below the caller's, if the caller is
 * SCHED_FIFO); return once it copies.
 */
static void start_post(struct poster *p, struct ibv_qp *qp,
		       enum ibv_wr_opcode op, uint64_t wr_id, int fifo)
{
	memset(p, 0, sizeof(*p));
	p->qp = qp;
	p->fifo = fifo;
	p->sge = (struct ibv_sge){ (uintptr_t)src, SZ, smr->lkey };
	p->wr = (struct ibv_send_wr){ .wr_id = wr_id, .sg_list = &p->sge,
				      .num_sge = 1, .opcode = op,
				      .send_flags = IBV_SEND_SIGNALED,
				      .imm_data = htonl(0x1234) };
	p->wr.wr.rdma.remote_addr = (uintptr_t)dst;
	p->wr.wr.rdma.rkey = dmr->rkey;
	pthread_create(&p->t, NULL, post_thread, p);
	/* Sleeping: a spinning caller may keep the poster off the CPU. */
	while (!atomic_load(&p->state))
		usleep(1000);
	usleep(DELAY_US);
	progress("the copy started");
}

static struct ibv_qp *qp_on(struct ibv_cq *scq, struct ibv_cq *rcq,
			    struct ibv_srq *srq)
{
	struct ibv_qp_init_attr init = {
		.send_cq = scq, .recv_cq = rcq, .srq = srq,
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 16, .max_recv_wr = srq ? 0 : 16,
			 .max_send_sge = 1, .max_recv_sge = srq ? 0 : 1 },
	};
	struct ibv_qp *qp = ibv_create_qp(c.pd, &init);

	check_fatal("create QP", qp, "%s", strerror(errno));
	return qp;
}

static void connect2(struct ibv_qp *a, struct ibv_qp *b)
{
	check_fatal("connect", !rc_connect_both(&c, a, b, ALL_ACCESS, 7), "%s",
		    strerror(errno));
}

/* Completions of @cq until the one of @wr_id (5 s at most); its status. */
static int wait_wr(struct ibv_cq *cq, uint64_t wr_id)
{
	struct ibv_wc wc;
	int st;

	do
		st = poll_one(cq, &wc);
	while (st >= 0 && wc.wr_id != wr_id);
	return st;
}

/* Wait for the completions of wr_id @id1 and @id2 (in any order). */
static void wait_two(struct ibv_cq *cq, uint64_t id1, int *st1, uint64_t id2,
		     int *st2)
{
	struct ibv_wc wc;
	int st;

	*st1 = *st2 = -1;
	while ((*st1 < 0 || *st2 < 0) && (st = poll_one(cq, &wc)) >= 0) {
		if (wc.wr_id == id1)
			*st1 = st;
		else if (wc.wr_id == id2)
			*st2 = st;
	}
}

static int drain(struct ibv_cq *cq)
{
	struct ibv_wc wc[8];
	int n, all = 0;

	while ((n = ibv_poll_cq(cq, 8, wc)) > 0)
		all += n;
	return all;
}

static void case_destroy(void)
{
	struct ibv_cq *rcq = ibv_create_cq(c.ctx, 1, NULL, NULL, 0);
	struct ibv_qp *a = qp_on(c.cq, c.cq, NULL), *b = qp_on(c.cq, rcq, NULL);
	struct ibv_sge sge = { (uintptr_t)small, 4, lmr->lkey };
	struct ibv_send_wr wr = { .wr_id = 1, .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_SEND,
				  .send_flags = IBV_SEND_SIGNALED };
	pthread_t spin[2];
	struct poster p;
	int racing, ret, fifo, nspin = 0, i;

	check_fatal("a CQ of one entry", rcq && rcq->cqe == 1, "%s",
		    strerror(errno));
	connect2(a, b);
	check_fatal("receives", !post_recv(b, lmr, small, 4096, 10) &&
		    !post_recv(b, dmr, dst, SZ, 11), "%s", strerror(errno));
	/* The first message fills the responder's CQ. */
	check_fatal("a small send", !post_send(a, &wr) && !wait_wr(c.cq, 1),
		    "%s", strerror(errno));
	/* Above the requester: one CPU is handed over at the copy's yields. */
	fifo = !set_fifo(pthread_self(), 20);
	start_post(&p, a, IBV_WR_SEND, 2, fifo ? 15 : 0);
	racing = atomic_load(&p.state) == 1;
	if (fifo)
		nspin = start_spinners(spin, 10);
	ret = ibv_destroy_qp(b);
	atomic_store(&spin_stop, 1);
	progress("destroy returned");
	for (i = 0; i < nspin; i++)
		pthread_join(spin[i], NULL);
	set_fifo(pthread_self(), 0);
	pthread_join(p.t, NULL);
	if (nspin != 2)
		printf("# no SCHED_FIFO spinners (%d): a stray work item may "
		       "run before the free\n", nspin);
	check("destroy: the responder was destroyed during the copy", racing,
	      "the copy of %u MiB was over before (make SZ larger)", SZ >> 20);
	check("destroy: returns 0", !ret, "%s", strerror(ret));
	wait_wr(c.cq, 2);
	usleep(200000);	/* a stray work item of the QP would run now */
	ibv_destroy_qp(a);
	ibv_destroy_cq(rcq);
	drain(c.cq);
}

/*
 * An SRQ responder destroyed while a SEND is copied into the SRQ's WQE
 * it claimed: that WQE, the SRQ's, completes once with a flush error,
 * not lost with the QP.
 */
static void case_srq_destroy(void)
{
	struct ibv_srq_init_attr sa = { .attr = { .max_wr = 8, .max_sge = 1 } };
	struct ibv_srq *srq = ibv_create_srq(c.pd, &sa);
	struct ibv_cq *rcq = ibv_create_cq(c.ctx, 8, NULL, NULL, 0);
	struct ibv_qp *a, *b;
	struct ibv_recv_wr rwr, *bad;
	struct ibv_sge rs = { (uintptr_t)dst, SZ, 0 };
	struct ibv_wc wc[2] = { { .status = -1 } };
	struct poster p;
	int racing, ret, n;

	check_fatal("SRQ and CQ", srq && rcq, "%s", strerror(errno));
	a = qp_on(c.cq, c.cq, NULL);
	b = qp_on(c.cq, rcq, srq);
	connect2(a, b);
	rs.lkey = dmr->lkey;
	rwr = (struct ibv_recv_wr){ .wr_id = 40, .sg_list = &rs, .num_sge = 1 };
	check_fatal("a receive on the SRQ", !ibv_post_srq_recv(srq, &rwr, &bad),
		    "%s", strerror(errno));
	start_post(&p, a, IBV_WR_SEND, 4, 0);
	racing = atomic_load(&p.state) == 1;
	ret = ibv_destroy_qp(b);
	pthread_join(p.t, NULL);
	wait_wr(c.cq, 4);
	n = poll_one(rcq, &wc[0]) >= 0;
	usleep(100000);
	n += ibv_poll_cq(rcq, 1, &wc[1]) > 0;
	check("srq destroy: the responder was destroyed during the copy",
	      racing && !ret, "racing %d, destroy %s", racing, strerror(ret));
	check("srq destroy: the SRQ's WQE it claimed completes once, flushed",
	      n == 1 && wc[0].wr_id == 40 &&
	      wc[0].status == IBV_WC_WR_FLUSH_ERR,
	      "%d completions, the first %llu: %s", n,
	      n ? (unsigned long long)wc[0].wr_id : 0ULL,
	      n ? ibv_wc_status_str(wc[0].status) : "-");
	ibv_destroy_qp(a);
	ibv_destroy_srq(srq);
	ibv_destroy_cq(rcq);
	drain(c.cq);
}

static void case_reset(void)
{
	struct ibv_cq *rcq = ibv_create_cq(c.ctx, 8, NULL, NULL, 0);
	struct ibv_qp *a = qp_on(c.cq, c.cq, NULL), *b = qp_on(c.cq, rcq, NULL);
	struct ibv_qp_attr attr = { .qp_state = IBV_QPS_RESET };
	uint8_t last_at_reset, last_after;
	int racing, ret, n_after, st;
	struct poster p;

	check_fatal("CQ", rcq, "%s", strerror(errno));
	connect2(a, b);
	memset(dst, 0, SZ);
	check_fatal("receive", !post_recv(b, dmr, dst, SZ, 20), "%s",
		    strerror(errno));
	start_post(&p, a, IBV_WR_SEND, 3, 0);
	racing = atomic_load(&p.state) == 1 && !dst[SZ - 1];
	ret = ibv_modify_qp(b, &attr, IBV_QP_STATE);
	last_at_reset = dst[SZ - 1];
	drain(rcq);
	pthread_join(p.t, NULL);
	st = wait_wr(c.cq, 3);
	last_after = dst[SZ - 1];
	n_after = drain(rcq);
	check("reset: the responder was reset during the copy", racing,
	      "the copy of %u MiB was over before (make SZ larger)", SZ >> 20);
	check("reset: returns 0", !ret, "%s", strerror(ret));
	check("reset: no byte lands in the responder after RESET returned",
	      last_at_reset == last_after, "its last byte went from 0x%x to 0x%x",
	      last_at_reset, last_after);
	check("reset: no completion arrives for it after RESET returned",
	      !n_after, "%d completions", n_after);
	check("reset: the copy stopped at RESET (the last byte never landed)",
	      !last_after, "last byte 0x%x at RESET, 0x%x after",
	      last_at_reset, last_after);
	check("reset: the requester's SEND ran out of transport retries",
	      st == IBV_WC_RETRY_EXC_ERR, "status %d", st);
	ibv_destroy_qp(a);
	ibv_destroy_qp(b);
	ibv_destroy_cq(rcq);
	drain(c.cq);
}

static void case_req_reset(void)
{
	struct ibv_cq *rcq = ibv_create_cq(c.ctx, 8, NULL, NULL, 0);
	struct ibv_qp *a = qp_on(c.cq, c.cq, NULL), *b = qp_on(c.cq, rcq, NULL);
	struct ibv_qp_attr attr = { .qp_state = IBV_QPS_RESET };
	int racing, ret, st, n_req;
	struct poster p;

	check_fatal("CQ", rcq, "%s", strerror(errno));
	connect2(a, b);
	memset(dst, 0, SZ);
	check_fatal("receive", !post_recv(b, dmr, dst, SZ, 30), "%s",
		    strerror(errno));
	start_post(&p, a, IBV_WR_SEND, 4, 0);
	racing = atomic_load(&p.state) == 1 && !dst[SZ - 1];
	ret = ibv_modify_qp(a, &attr, IBV_QP_STATE);
	pthread_join(p.t, NULL);
	st = wait_wr(rcq, 30);
	usleep(100000);
	n_req = drain(c.cq);
	check("requester reset: RESET came during the copy", racing,
	      "the copy of %u MiB was over before (make SZ larger)", SZ >> 20);
	check("requester reset: returns 0", !ret, "%s", strerror(ret));
	check("requester reset: the rest of the message never lands",
	      !dst[SZ - 1], "last byte 0x%x", dst[SZ - 1]);
	check("requester reset: the receive completes with a remote abort",
	      st == IBV_WC_REM_ABORT_ERR, "status %d", st);
	check("requester reset: its WQE leaves no completion", !n_req,
	      "%d completions", n_req);
	ibv_destroy_qp(a);
	ibv_destroy_qp(b);
	ibv_destroy_cq(rcq);
	drain(c.cq);
}

static void case_srq(void)
{
	struct ibv_srq_init_attr sa = { .attr = { .max_wr = 8, .max_sge = 1 } };
	struct ibv_srq *srq = ibv_create_srq(c.pd, &sa);
	struct ibv_cq *rcq = ibv_create_cq(c.ctx, 8, NULL, NULL, 0);
	struct ibv_sge rsge = { (uintptr_t)small, 4096, lmr->lkey };
	struct ibv_recv_wr rwr = { .wr_id = 30, .sg_list = &rsge, .num_sge = 1 };
	struct ibv_sge sge = { (uintptr_t)small + 4096, 4, lmr->lkey };
	struct ibv_send_wr wr = { .wr_id = 5, .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_SEND,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_recv_wr *bad;
	struct ibv_qp *a1, *b1, *a2, *b2;
	struct poster p;
	int racing, st_write, st_send, nrecv;

	check_fatal("SRQ and CQ", srq && rcq, "%s", strerror(errno));
	a1 = qp_on(c.cq, c.cq, NULL);
	b1 = qp_on(c.cq, rcq, srq);
	a2 = qp_on(c.cq, c.cq, NULL);
	b2 = qp_on(c.cq, rcq, srq);
	connect2(a1, b1);
	connect2(a2, b2);
	check_fatal("one receive on the SRQ", !ibv_post_srq_recv(srq, &rwr, &bad),
		    "%s", strerror(errno));
	start_post(&p, a1, IBV_WR_RDMA_WRITE_WITH_IMM, 4, 0);
	check_fatal("a send into the same SRQ", !post_send(a2, &wr), "%s",
		    strerror(errno));
	racing = atomic_load(&p.state) == 1;
	/* The write is over; then a second receive for whoever waits. */
	pthread_join(p.t, NULL);
	rwr.wr_id = 31;
	check_fatal("another receive", !ibv_post_srq_recv(srq, &rwr, &bad),
		    "%s", strerror(errno));
	wait_two(c.cq, 4, &st_write, 5, &st_send);
	usleep(100000);
	nrecv = drain(rcq);
	check("srq: the other QP took the WQE during the write", racing,
	      "the copy of %u MiB was over before (make SZ larger)", SZ >> 20);
	check("srq: a WRITE with immediate owns its receive WQE before writing",
	      st_write == IBV_WC_SUCCESS, "status %s (%d)", st_write >= 0 ?
	      ibv_wc_status_str(st_write) : "none", st_write);
	check("srq: the other QP's send completes",
	      st_send == IBV_WC_SUCCESS, "status %d", st_send);
	check("srq: both receives completed", nrecv == 2, "%d", nrecv);
	ibv_destroy_qp(a1);
	ibv_destroy_qp(b1);
	ibv_destroy_qp(a2);
	ibv_destroy_qp(b2);
	ibv_destroy_srq(srq);
	ibv_destroy_cq(rcq);
	drain(c.cq);
}

/* Run @t on CPU @cpu alone; 0 if done. */
static int pin(pthread_t t, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(t, sizeof(set), &set);
}

/*
 * Wait up to 10 s for IBV_EVENT_QP_LAST_WQE_REACHED of @qp; then, at
 * once, the status of @wr_id's completion if @cq already holds it (else
 * -1). Return: whether the event came.
 */
static int last_wqe_then(struct ibv_qp *qp, struct ibv_cq *cq,
			 uint64_t wr_id, int *st)
{
	int found = wait_async_event(&c, IBV_EVENT_QP_LAST_WQE_REACHED, qp,
				     10000);
	struct ibv_wc wc;

	*st = -1;
	while (found && *st < 0 && ibv_poll_cq(cq, 1, &wc) == 1)
		if (wc.wr_id == wr_id)
			*st = wc.status;
	return found;
}

static void case_srq_err(void)
{
	struct ibv_srq_init_attr sa = { .attr = { .max_wr = 8, .max_sge = 1 } };
	struct ibv_srq *srq = ibv_create_srq(c.pd, &sa);
	struct ibv_cq *rcq = ibv_create_cq(c.ctx, 8, NULL, NULL, 0);
	struct ibv_sge rsge = { (uintptr_t)dst, SZ, dmr->lkey };
	struct ibv_recv_wr rwr = { .wr_id = 50, .sg_list = &rsge, .num_sge = 1 };
	struct ibv_qp_attr attr = { .qp_state = IBV_QPS_ERR };
	struct ibv_recv_wr *bad;
	struct ibv_qp *a, *b;
	int racing, ret, came, st, held = 0;
	pthread_t spin;
	struct poster p;
	cpu_set_t all;

	check_fatal("SRQ and CQ", srq && rcq, "%s", strerror(errno));
	a = qp_on(c.cq, c.cq, NULL);
	b = qp_on(c.cq, rcq, srq);
	connect2(a, b);
	memset(dst, 0, SZ);
	check_fatal("a receive on the SRQ", !ibv_post_srq_recv(srq, &rwr, &bad),
		    "%s", strerror(errno));
	pthread_getaffinity_np(pthread_self(), sizeof(all), &all);
	start_post(&p, a, IBV_WR_SEND, 6, 0);
	/*
	 * The copy on CPU 1 (moved at its next yield), and kept off it by the
	 * spinner; this thread, and the requester's work it queues, on CPU 0.
	 */
	atomic_store(&spin_stop, 0);
	if (sysconf(_SC_NPROCESSORS_ONLN) >= 2 && !pin(pthread_self(), 0) &&
	    !pin(p.t, 1) && !start_spinner(&spin, 10, 1)) {
		held = 1;
		usleep(DELAY_US);
	}
	racing = atomic_load(&p.state) == 1 && !dst[SZ - 1];
	ret = ibv_modify_qp(b, &attr, IBV_QP_STATE);
	came = last_wqe_then(b, rcq, 50, &st);
	progress("the last WQE event");
	if (held) {
		atomic_store(&spin_stop, 1);
		pthread_join(spin, NULL);
	}
	pthread_setaffinity_np(pthread_self(), sizeof(all), &all);
	pthread_join(p.t, NULL);
	if (!held)
		printf("# the copy was not held off its CPU: the order is not forced\n");
	check("srq error: ERR came during the copy", racing,
	      "the copy of %u MiB was over before (make SZ larger)", SZ >> 20);
	check("srq error: returns 0", !ret, "%s", strerror(ret));
	check("srq error: IBV_EVENT_QP_LAST_WQE_REACHED for the SRQ QP", came,
	      "no event in 10 s");
	check("srq error: by then the WQE the copy claimed was flushed",
	      st == IBV_WC_WR_FLUSH_ERR, "its completion %s (%d)", st >= 0 ?
	      ibv_wc_status_str(st) : "not there yet", st);
	ibv_destroy_qp(a);
	ibv_destroy_qp(b);
	ibv_destroy_srq(srq);
	ibv_destroy_cq(rcq);
	drain(c.cq);
}

int main(void)
{
	int kmsg = kmsg_open(), fl;

	clock_gettime(CLOCK_MONOTONIC, &t_start);
	printf("# %ld CPUs online\n", sysconf(_SC_NPROCESSORS_ONLN));
	open_dev(&c, "hodp0");
	fl = fcntl(c.ctx->async_fd, F_GETFL);
	check_fatal("async events without blocking",
		    fcntl(c.ctx->async_fd, F_SETFL, fl | O_NONBLOCK) == 0, "");
	src = aligned_alloc(4096, SZ);
	dst = aligned_alloc(4096, SZ);
	small = aligned_alloc(4096, 8192);
	check_fatal("buffers", src && dst && small, "");
	memset(src, 0xab, SZ);
	memset(dst, 0, SZ);
	smr = ibv_reg_mr(c.pd, src, SZ, ALL_ACCESS);
	dmr = ibv_reg_mr(c.pd, dst, SZ, ALL_ACCESS);
	lmr = ibv_reg_mr(c.pd, small, 8192, ALL_ACCESS);
	check_fatal("MRs", smr && dmr && lmr, "%s", strerror(errno));

	progress("destroy");
	case_destroy();
	kmsg_check(kmsg, "destroy: the kernel reported nothing");
	kmsg = kmsg_open();
	progress("srq destroy");
	case_srq_destroy();
	progress("reset");
	case_reset();
	progress("requester reset");
	case_req_reset();
	progress("srq");
	case_srq();
	progress("srq error");
	case_srq_err();
	progress("done");
	kmsg_check(kmsg, "the kernel reported nothing");
	return check_done();
}
