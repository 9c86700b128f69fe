// SPDX-License-Identifier: GPL-2.0
/*
 * A UD datagram whose copy into an ODP receive buffer finds a page gone
 * that the lookups before it found (an invalidation between the two,
 * which debugfs hodp/copy_miss, CONFIG_INFINIBAND_HODP_FAULT_INJECTION,
 * makes happen).
 *
 * Once: the miss is a fault event of the sender's QP, served by a worker
 * (not by this process, whose ibv_post_send() ran the queue); the
 * responder holds the receive WQE meanwhile and the next run fills it on
 * from where the copy stopped: in the header (the page's first look), at
 * the payload's first byte (the header done) and in the payload's second
 * page (header and part of the payload done). The receive completes once,
 * its header and payload right, and the next datagram takes the next
 * receive posted. Every time: HODP_FAULT_TRIES events without progress,
 * then the copy goes on where it stands (the page is there), the
 * datagram right; also in
 * place (hodp/inplace_miss): no fault there (the receive is the
 * responder's memory, which a sender never faults: it could block there
 * for as long as that memory's owner wants), the receive completes with a
 * local protection error, the send successfully, and the next datagram
 * takes the next receive. The
 * responder moved to ERR during those events: the receive held completes
 * once with a flush error, before the one behind it; to RESET: both are
 * discarded, and the next datagram takes the next receive posted. Two
 * senders at once, a third of the looks missing: each datagram lands
 * once, whole, in a receive of its own (the responder takes one datagram
 * at a time: a receive one sender's event holds is the next the other's
 * datagram claims, and fills from its start).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "check.h"
#include "miss.h"

#define QKEY		0x11111111
#define GRH		40
#define LEN		1000	/* below any MTU hodp0 takes */
#define SENDERS		2
#define PER_SENDER	40

static struct ctx c;
static struct ibv_ah *ah;

/* One datagram of @len bytes at @buf (@mr) from @qp to QP @dqpn. */
static int send_dgram(struct ibv_qp *qp, struct ibv_mr *mr, void *buf,
		      uint32_t len, uint32_t dqpn, uint64_t id)
{
	struct ibv_sge sge = { (uintptr_t)buf, len, mr->lkey };
	struct ibv_send_wr wr = { .wr_id = id, .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_SEND,
				  .send_flags = IBV_SEND_SIGNALED };

	wr.wr.ud.ah = ah;
	wr.wr.ud.remote_qpn = dqpn;
	wr.wr.ud.remote_qkey = QKEY;
	return post_send(qp, &wr);
}

struct pair {
	struct ibv_cq *scq, *rcq;
	struct ibv_qp *a, *b;	/* sender, receiver */
	struct ibv_mr *smr, *rmr;
	uint8_t *sbuf, *rbuf;	/* pinned source, ODP receive area */
	uint8_t ref[GRH];	/* the header of a LEN-byte datagram */
};

/*
 * A receive of @recv_id posted at @rbuf, then a datagram of LEN bytes of
 * p->sbuf into it, no injection: the status of the send if it failed,
 * else of the receive (its completion in *@wc); -1 if either post failed
 * or a completion did not come.
 */
static int dgram_into(struct pair *p, uint8_t *rbuf, uint64_t recv_id,
		      struct ibv_wc *wc)
{
	int st = post_recv(p->b, p->rmr, rbuf, GRH + LEN, recv_id) ? -1 :
		 send_dgram(p->a, p->smr, p->sbuf, LEN, p->b->qp_num,
			    recv_id) ? -1 : wait_wc(p->scq, wc);

	return st ? st : wait_wc(p->rcq, wc);
}

/*
 * One datagram of LEN bytes of @fill from @p's sender into a receive at
 * @rbuf, with copy_miss armed to let @space - 1 looks through and then
 * miss @times (0: not armed); the trace if asked (the caller frees it).
 * Checks the datagram: the send and the receive complete successfully,
 * once, with its header and payload.
 */
static char *one_dgram(struct pair *p, const char *name, uint8_t *rbuf,
		       uint8_t fill, int space, int times, long long *left)
{
	struct ibv_wc swc = { .status = -1 }, rwc = { .status = -1 };
	char what[160];
	char *trace = NULL;
	int sst = -1, rst = -1, bad = -1, i;

	memset(p->sbuf, fill, LEN);
	memset(rbuf, 0xee, GRH + LEN);
	check_fatal("post the receive",
		    !post_recv(p->b, p->rmr, rbuf, GRH + LEN, fill), "%s",
		    strerror(errno));
	if (times) {
		start_trace();
		check_fatal("arm the injection",
			    !attr_arm(COPY_MISS, space, times), "%s",
			    strerror(errno));
	}
	if (!send_dgram(p->a, p->smr, p->sbuf, LEN, p->b->qp_num, fill)) {
		sst = wait_wc(p->scq, &swc);
		rst = wait_wc(p->rcq, &rwc);
	}
	if (times) {
		if (left)
			*left = attr_read(COPY_MISS, "times");
		disarm();
		trace = stop_trace();
	}
	for (i = 0; i < LEN; i++)
		if (rbuf[GRH + i] != fill) {
			bad = i;
			break;
		}
	snprintf(what, sizeof(what),
		 "%s: the send and its receive complete, the payload whole",
		 name);
	check(what, sst == IBV_WC_SUCCESS && rst == IBV_WC_SUCCESS &&
	      rwc.wr_id == fill && rwc.byte_len == GRH + LEN &&
	      rwc.src_qp == p->a->qp_num && bad < 0,
	      "send %d, receive %d (id %lu, %u bytes, from QP %u), first wrong payload byte %d",
	      sst, rst, (unsigned long)rwc.wr_id, rwc.byte_len, rwc.src_qp,
	      bad);
	snprintf(what, sizeof(what), "%s: the receive's header", name);
	check(what, !memcmp(rbuf, p->ref, GRH), "differs from a datagram's without the miss");
	return trace;
}

/*
 * The miss after @space - 1 looks of the copy, once: at @at, one event of
 * the sender, a worker's fault; then the next datagram takes the next
 * receive (the held one was claimed once).
 */
static void miss_once(struct pair *p, const char *name, uint8_t *rbuf,
		      int space, uint8_t *at, uint8_t fill)
{
	struct ibv_wc wc = { .status = -1 };
	char what[160];
	long long left = -1;
	char *trace;
	int st;

	trace = one_dgram(p, name, rbuf, fill, space, 1, &left);
	snprintf(what, sizeof(what), "%s: the page went missing once", name);
	check(what, left == 0, "times left %lld", left);
	check_event(trace, name, p->a->qp_num, p->rmr->lkey, at, "write", -1);
	snprintf(what, sizeof(what), "%s: one event of the sender", name);
	check(what, events_of(trace, p->a->qp_num) == 1, "%d events",
	      events_of(trace, p->a->qp_num));
	free(trace);
	st = dgram_into(p, rbuf, 0xfeed, &wc);
	snprintf(what, sizeof(what),
		 "%s: the next datagram takes the next receive posted", name);
	check(what, st == IBV_WC_SUCCESS && wc.wr_id == 0xfeed,
	      "status %d, receive id %#lx", st, (unsigned long)wc.wr_id);
}

/*
 * Missing at every look while the events last, then copied where it
 * stands (the injection of hodp/copy_miss stops with the events).
 */
static void miss_always(struct pair *p, uint8_t *rbuf)
{
	char *trace;
	int events;

	trace = one_dgram(p, "always missing", rbuf, 0x77, 0, -1, NULL);
	events = events_of(trace, p->a->qp_num);
	check("always missing: HODP_FAULT_TRIES events without progress, then the copy where it stands",
	      events == FAULT_TRIES, "%d events", events);
	free(trace);
}

/*
 * Missing at every look, also in place (hodp/inplace_miss): after the
 * events, no fault where it stands (the responder's memory), and the
 * receive it held completes once with a local protection error (as a page
 * that cannot be mirrored does), the send successfully (the datagram
 * lost, as UD's are); the next datagram takes the next receive.
 */
static void miss_always_inplace(struct pair *p, uint8_t *rbuf)
{
	struct ibv_wc swc = { .status = -1 }, rwc = { .status = -1 };
	long long f0 = odp_faults(), f1;
	int sst = -1, rst = -1, events, st, more;
	char *trace;

	check_fatal("post a receive",
		    !post_recv(p->b, p->rmr, rbuf, GRH + LEN, 0x71), "%s",
		    strerror(errno));
	start_trace();
	arm(COPY_MISS, FAULT_TRIES + 1);
	arm(INPLACE_MISS, -1);
	if (!send_dgram(p->a, p->smr, p->sbuf, LEN, p->b->qp_num, 0x71)) {
		sst = wait_wc(p->scq, &swc);
		rst = wait_wc(p->rcq, &rwc);
	}
	disarm();
	f1 = odp_faults();
	trace = stop_trace();
	events = events_of(trace, p->a->qp_num);
	free(trace);
	check("missing in place too: the receive completes once with a local protection error, the send successfully",
	      sst == IBV_WC_SUCCESS && rst == IBV_WC_LOC_PROT_ERR &&
	      rwc.wr_id == 0x71, "send %d, receive %d (id %#lx)", sst, rst,
	      (unsigned long)rwc.wr_id);
	check("missing in place too: after HODP_FAULT_TRIES events, and no fault where it stands",
	      events == FAULT_TRIES && f1 - f0 == FAULT_TRIES,
	      "%d events, %lld faults", events, f1 - f0);
	st = dgram_into(p, rbuf, 0x72, &rwc);
	more = ibv_poll_cq(p->rcq, 1, &rwc);
	check("missing in place too: the next datagram takes the next receive posted, nothing more",
	      st == IBV_WC_SUCCESS && rwc.wr_id == 0x72 && !more,
	      "status %d, receive id %#lx, %d more", st,
	      (unsigned long)rwc.wr_id, more);
}

/*
 * The responder moved to @to (ERR or RESET) while a datagram's copy into
 * its receive keeps missing (the sender's events under way, the receive
 * held between them): the send completes (UD: successfully, the datagram
 * lost). ERR: the receive it claimed completes once with a flush error,
 * before the one posted behind it. RESET: both are discarded, and once
 * ready again the next datagram takes the next receive posted.
 */
static void closed_during_events(struct pair *p, uint8_t *rbuf,
				 enum ibv_qp_state to)
{
	const char *name = to == IBV_QPS_ERR ? "ERR" : "RESET";
	struct ibv_qp_attr a = { .qp_state = to };
	struct ibv_wc swc = { .status = -1 }, wc[3] = { { .status = -1 } };
	char what[160];
	char *trace;
	int sst = -1, n = 0, events, st;

	memset(p->sbuf, 0x55, LEN);
	check_fatal("post two receives",
		    !post_recv(p->b, p->rmr, rbuf, GRH + LEN, 0x51) &&
		    !post_recv(p->b, p->rmr, rbuf, GRH + LEN, 0x52), "%s",
		    strerror(errno));
	start_trace();
	arm(COPY_MISS, -1);
	/* Its first event was raised in the doorbell: moved at once. */
	if (!send_dgram(p->a, p->smr, p->sbuf, LEN, p->b->qp_num, 0x55)) {
		check_fatal("move the responder", !ibv_modify_qp(p->b, &a,
			    IBV_QP_STATE), "%s", strerror(errno));
		sst = wait_wc(p->scq, &swc);
	}
	disarm();
	trace = stop_trace();
	events = events_of(trace, p->a->qp_num);
	free(trace);
	snprintf(what, sizeof(what),
		 "%s during the datagram's events: the send completes, the events had begun",
		 name);
	check(what, sst == IBV_WC_SUCCESS && events > 0,
	      "send %d, %d events before", sst, events);
	if (to == IBV_QPS_ERR) {
		while (n < 2 && wait_wc(p->rcq, &wc[n]) >= 0)
			n++;
		usleep(100000);		/* and nothing more */
		n += ibv_poll_cq(p->rcq, 1, &wc[n]) > 0;
		check("ERR during the datagram's events: its receive flushed once, before the one behind it",
		      n == 2 && wc[0].wr_id == 0x51 && wc[1].wr_id == 0x52 &&
		      wc[0].status == IBV_WC_WR_FLUSH_ERR &&
		      wc[1].status == IBV_WC_WR_FLUSH_ERR,
		      "%d completions: %#lx %s, %#lx %s", n,
		      n > 0 ? (unsigned long)wc[0].wr_id : 0UL,
		      n > 0 ? ibv_wc_status_str(wc[0].status) : "-",
		      n > 1 ? (unsigned long)wc[1].wr_id : 0UL,
		      n > 1 ? ibv_wc_status_str(wc[1].status) : "-");
		a.qp_state = IBV_QPS_RESET;
		check_fatal("RESET the responder",
			    !ibv_modify_qp(p->b, &a, IBV_QP_STATE), "");
		ud_ready(p->b, QKEY);
		return;
	}
	ud_ready(p->b, QKEY);
	st = dgram_into(p, rbuf, 0x53, &wc[0]);
	n = !st && ibv_poll_cq(p->rcq, 1, &wc[1]) > 0;
	check("RESET during the datagram's events: both receives discarded, the next datagram takes the next one posted",
	      st == IBV_WC_SUCCESS && wc[0].wr_id == 0x53 && !n,
	      "status %d, receive id %#lx, %d more", st,
	      (unsigned long)wc[0].wr_id, n);
}

/* Each datagram: its sender and number, then that number repeated. */
static void *sender_thread(void *arg)
{
	struct ud_sender *s = arg;
	struct ibv_wc wc;
	int i;

	for (i = 0; i < PER_SENDER; i++) {
		uint8_t *d = s->buf + (size_t)i * LEN;

		memset(d, i, LEN);
		d[0] = s->id;
		if (send_dgram(s->qp, s->mr, d, LEN, s->dqpn, i) ||
		    wait_wc(s->cq, &wc) != IBV_WC_SUCCESS) {
			s->failed++;
			continue;
		}
		s->sent++;
	}
	return NULL;
}

/*
 * Two senders into one responder at once, a third of the copies' looks
 * missing: every datagram lands once, whole, in a receive of its own.
 */
static void two_senders(struct pair *p)
{
	const int total = SENDERS * PER_SENDER;
	size_t slot = 2 * PAGE, area = total * slot;
	uint8_t *r = mmap(NULL, area, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int seen[SENDERS][PER_SENDER] = { { 0 } };
	struct ud_sender s[SENDERS];
	pthread_t th[SENDERS];
	struct ibv_mr *rmr;
	struct ibv_wc wc;
	int i, got = 0, bad = 0, twice = 0, sent = 0, failed = 0, events = 0;
	long long left;
	char *trace;

	check_fatal("two senders: map the receive area", r != MAP_FAILED,
		    "%s", strerror(errno));
	memset(r, 0xee, area);	/* mirrored: only injected misses */
	rmr = ibv_reg_mr(c.pd, r, area, ALL_ACCESS | IBV_ACCESS_ON_DEMAND);
	check_fatal("two senders: register the receive area", rmr, "%s",
		    strerror(errno));
	/* Across a page: the header and a part in one, the rest the next. */
	for (i = 0; i < total; i++)
		check_fatal("two senders: post the receives",
			    !post_recv(p->b, rmr, r + i * slot + PAGE - 300,
				       GRH + LEN, i), "%s", strerror(errno));
	for (i = 0; i < SENDERS; i++)
		ud_sender_open(&s[i], &c, i, p->b->qp_num,
			       (size_t)PER_SENDER * LEN, QKEY);
	start_trace();
	/* Finite, to count them; more than these datagrams can ask for. */
	check_fatal("two senders: arm the injection",
		    !attr_arm(COPY_MISS, 0, 100000) &&
		    !attr_write(COPY_MISS, "probability", "33"), "%s",
		    strerror(errno));
	for (i = 0; i < SENDERS; i++)
		check_fatal("two senders: start a sender",
			    !pthread_create(&th[i], NULL, sender_thread,
					    &s[i]), "");
	for (i = 0; i < SENDERS; i++) {
		pthread_join(th[i], NULL);
		sent += s[i].sent;
		failed += s[i].failed;
	}
	left = attr_read(COPY_MISS, "times");
	disarm();
	trace = stop_trace();
	for (i = 0; i < SENDERS; i++)
		events += events_of(trace, s[i].qp->qp_num);
	free(trace);
	/*
	 * Told, not checked (it depends on timing): the misses that were no
	 * event finished where they stood (the WQE's events had run out).
	 */
	printf("# two senders: %lld misses injected, %d fault events\n",
	       left >= 0 ? 100000 - left : -1, events);
	check("two senders: every send completes successfully",
	      sent == total && !failed, "%d sent, %d failed", sent, failed);
	while (got < total && wait_wc(p->rcq, &wc) >= 0) {
		uint8_t *d;
		int from, n, k;

		got++;
		if (wc.wr_id >= (uint64_t)total) {
			bad++;
			continue;
		}
		d = r + wc.wr_id * slot + PAGE - 300 + GRH;
		from = d[0];
		n = d[1];
		if (wc.status != IBV_WC_SUCCESS || wc.byte_len != GRH + LEN ||
		    from >= SENDERS || n >= PER_SENDER) {
			bad++;
			continue;
		}
		for (k = 1; k < LEN && d[k] == n; k++)
			;
		if (k < LEN || memcmp(d - GRH, p->ref, GRH))
			bad++;
		else if (seen[from][n]++)
			twice++;
	}
	check("two senders: every datagram lands once, whole",
	      got == total && !bad && !twice, "%d of %d receives, %d wrong, %d twice",
	      got, total, bad, twice);
	check("two senders: no receive more",
	      !ibv_poll_cq(p->rcq, 1, &wc), "a completion of id %lu",
	      (unsigned long)wc.wr_id);
	for (i = 0; i < SENDERS; i++)
		ud_sender_close(&s[i]);
	ibv_dereg_mr(rmr);
	munmap(r, area);
}

int main(void)
{
	struct ibv_ah_attr aa = { .is_global = 1, .port_num = 1,
				  .grh = { .sgid_index = 1, .hop_limit = 1 } };
	struct ibv_wc wc;
	struct pair p;
	uint8_t *r;
	int st;

	if (access(COPY_MISS, F_OK)) {
		skip("hodp UD copy miss injection",
		     "no debugfs hodp/copy_miss: kernel without fault injection (make check-debug runs it)");
		return 0;
	}
	trace_mount();
	trace_hodp_on();
	open_dev(&c, "hodp0");
	aa.grh.dgid = c.gid;
	ah = ibv_create_ah(c.pd, &aa);
	check_fatal("an address handle to hodp0's GID 1", ah, "%s",
		    strerror(errno));
	p.scq = ibv_create_cq(c.ctx, 16, NULL, NULL, 0);
	p.rcq = ibv_create_cq(c.ctx, 256, NULL, NULL, 0);
	check_fatal("the CQs", p.scq && p.rcq, "%s", strerror(errno));
	p.a = ud_qp_on(c.pd, p.scq, 16, 16, QKEY);
	p.b = ud_qp_on(c.pd, p.rcq, 128, 128, QKEY);
	p.sbuf = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	p.rbuf = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	check_fatal("map the buffers", p.sbuf != MAP_FAILED &&
		    p.rbuf != MAP_FAILED, "%s", strerror(errno));
	/* Written first: the registration finds the pages (no lookup miss). */
	memset(p.rbuf, 0xee, 4 * PAGE);
	p.smr = ibv_reg_mr(c.pd, p.sbuf, PAGE, ALL_ACCESS);
	p.rmr = ibv_reg_mr(c.pd, p.rbuf, 4 * PAGE,
			   ALL_ACCESS | IBV_ACCESS_ON_DEMAND);
	check_fatal("register the pinned source and the ODP receive area",
		    p.smr && p.rmr, "%s", strerror(errno));
	/* Left armed by a test cut short, every later copy would miss. */
	atexit(disarm);
	signal(SIGTERM, disarm_killed);
	signal(SIGINT, disarm_killed);
	/* The header of a datagram of LEN bytes, without a miss. */
	memset(p.sbuf, 0x33, LEN);
	st = dgram_into(&p, p.rbuf, 1, &wc);
	check_fatal("a datagram before the injection", st == IBV_WC_SUCCESS &&
		    wc.byte_len == GRH + LEN && p.rbuf[GRH] == 0x33,
		    "status %d, %u bytes", st, wc.byte_len);
	memcpy(p.ref, p.rbuf, GRH);

	r = p.rbuf;
	miss_once(&p, "the header's page", r, 1, r, 0x41);
	miss_once(&p, "the payload's first byte, the header done", r, 2,
		  r + GRH, 0x42);
	/* 300 bytes before a page's end: header and 260 bytes, the rest. */
	r = p.rbuf + 2 * PAGE - 300;
	miss_once(&p, "the payload's second page", r, 3, p.rbuf + 2 * PAGE,
		  0x43);
	miss_always(&p, r);
	miss_always_inplace(&p, r);
	closed_during_events(&p, r, IBV_QPS_ERR);
	closed_during_events(&p, r, IBV_QPS_RESET);
	two_senders(&p);
	ibv_destroy_qp(p.a);
	ibv_destroy_qp(p.b);
	ibv_dereg_mr(p.rmr);
	ibv_dereg_mr(p.smr);
	ibv_destroy_ah(ah);
	return check_done();
}
