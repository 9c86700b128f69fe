// SPDX-License-Identifier: GPL-2.0
/*
 * Per-MR ODP counters and trace events of hodp0, as an operator reads
 * them: `rdma statistic show mr` (page_faults, page_invalidations,
 * page_prefetch, as mlx5 names them) and tracefs events/hodp/.
 *
 * An RDMA WRITE into a cold ODP MR counts the pages it faulted in on that
 * MR (page_faults: pages, as mlx5 counts them); MADV_DONTNEED and a
 * partial munmap of what was faulted count on it as page_invalidations;
 * an ODP MR never touched stays at zero, also when its memory is
 * invalidated (only mirrored pages count); a pinned MR reports no
 * counters at all; page_prefetch counts what ibv_advise_mr() prefetched.
 * The events hodp_odp_fault, hodp_odp_fault_event, hodp_odp_resume and
 * hodp_odp_invalidate exist and fire for such a transfer (tracefs is
 * mounted if it is not); a miss, the responder's or the requester's own,
 * is a fault event of the requester QP, resolved by a worker: not by the
 * task that rang the doorbell, whose ibv_post_send() never waits for the
 * mm. So is a page invalidated after the WQE's lookups, before its copy
 * reached it (an RDMA WRITE, WRITE with immediate or SEND into, and a
 * READ from, a 64 MiB ODP MR whose last MiB is dropped during the copy):
 * the WQE goes on from that page, a receive it claimed held meanwhile.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "mrstat.h"
#include "trace.h"
#include "verbs.h"

#define MIB		(1UL << 20)
#define PAGE		4096UL
#define ODP_ACCESS	(ALL_ACCESS | IBV_ACCESS_ON_DEMAND)

static struct ctx c;
static struct rc_pair qp;

static void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	check_fatal("mmap", p != MAP_FAILED, "%s", strerror(errno));
	/* Base pages: a THP split would invalidate more than was asked. */
	madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

static struct ibv_mr *reg(void *p, size_t len, int access)
{
	struct ibv_mr *mr = ibv_reg_mr(c.pd, p, len, access);

	check_fatal("register MR", mr, "%s", strerror(errno));
	return mr;
}

#define RECV_ID		77
#define IMM		0x1234abcd

/* Does @op complete a receive WQE of qp.b? */
static int takes_recv(enum ibv_wr_opcode op)
{
	return op == IBV_WR_SEND || op == IBV_WR_RDMA_WRITE_WITH_IMM;
}

/*
 * One signalled @op of @len bytes on qp.a: its completion status. One
 * that completes a receive WQE (posted by the caller, wr_id RECV_ID) puts
 * that completion in *@rwc, and the send's status in the return value.
 */
static int rdma_op_recv(enum ibv_wr_opcode op, struct ibv_mr *lmr,
			void *laddr, uint32_t len, struct ibv_mr *rmr,
			void *raddr, struct ibv_wc *rwc)
{
	struct ibv_sge sge = { (uintptr_t)laddr, len, lmr->lkey };
	struct ibv_send_wr wr = { .wr_id = 1, .sg_list = &sge, .num_sge = 1,
				  .opcode = op,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_wc wc;
	int st = -1, i;

	wr.imm_data = htonl(IMM);
	wr.wr.rdma.remote_addr = (uintptr_t)raddr;
	wr.wr.rdma.rkey = rmr->rkey;
	if (post_send(qp.a, &wr))
		return -2;
	/* Both QPs complete on c.cq: tell the two completions apart. */
	for (i = 0; i < (takes_recv(op) ? 2 : 1); i++) {
		if (poll_one(c.cq, &wc) < 0)
			return -1;
		if (rwc && takes_recv(op) && wc.wr_id == RECV_ID)
			*rwc = wc;
		else
			st = wc.status;
	}
	return st;
}

/* One signalled RDMA @op of @len bytes on qp.a: its completion status. */
static int rdma_op(enum ibv_wr_opcode op, struct ibv_mr *lmr, void *laddr,
		   uint32_t len, struct ibv_mr *rmr, void *raddr)
{
	return rdma_op_recv(op, lmr, laddr, len, rmr, raddr, NULL);
}

/* One signalled RDMA WRITE of @len bytes: its completion status. */
static int rdma_write(struct ibv_mr *lmr, void *laddr, uint32_t len,
		      struct ibv_mr *rmr, void *raddr)
{
	return rdma_op(IBV_WR_RDMA_WRITE, lmr, laddr, len, rmr, raddr);
}

static void test_counters(void)
{
	uint8_t *src = map(MIB), *t = map(4 * MIB), *u = map(4 * MIB);
	struct ibv_mr *pm, *tm, *um;
	struct mr_stat ts0, ts1, ts2, ts3, us, ps;
	int pn, tn, un, st;

	memset(src, 0x5a, MIB);
	pm = reg(src, MIB, ALL_ACCESS);
	tm = reg(t, 4 * MIB, ODP_ACCESS);
	um = reg(u, 4 * MIB, ODP_ACCESS);
	pn = mrn_of(pm->lkey);
	tn = mrn_of(tm->lkey);
	un = mrn_of(um->lkey);
	check_fatal("rdma resource show mr lists the three MRs",
		    pn >= 0 && tn >= 0 && un >= 0, "mrn %d %d %d", pn, tn, un);

	ts0 = stat_of(tn);
	check("stat mr: an ODP MR has page_faults, page_invalidations, page_prefetch",
	      ts0.found && ts0.faults >= 0 && ts0.invals >= 0 &&
	      ts0.prefetch >= 0, "found %d: %lld %lld %lld", ts0.found,
	      ts0.faults, ts0.invals, ts0.prefetch);
	check("stat mr: a new ODP MR has faulted nothing", ts0.faults == 0,
	      "page_faults %lld", ts0.faults);

	/* 1 MiB from the pinned MR into the cold ODP MR: 256 pages. */
	st = rdma_write(pm, src, MIB, tm, t);
	check_fatal("write into a cold ODP MR completes", st == IBV_WC_SUCCESS,
		    "status %d", st);
	check("write into a cold ODP MR: the data arrived",
	      t[0] == 0x5a && t[MIB - 1] == 0x5a && t[MIB] == 0, "");
	ts1 = stat_of(tn);
	check("stat mr: page_faults counts the 256 pages the write faulted in",
	      ts1.faults - ts0.faults >= 256 && ts1.faults - ts0.faults <= 512,
	      "page_faults %lld -> %lld", ts0.faults, ts1.faults);

	ps = stat_of(pn);
	check("stat mr: a pinned MR (the write's source) reports no counters",
	      ps.found && ps.faults < 0 && ps.invals < 0 && ps.prefetch < 0,
	      "found %d: %lld %lld %lld", ps.found, ps.faults, ps.invals,
	      ps.prefetch);

	/* The CPU drops 128 of those pages, then unmaps 64 more. */
	check_fatal("MADV_DONTNEED", !madvise(t, 128 * PAGE, MADV_DONTNEED),
		    "%s", strerror(errno));
	ts2 = stat_of(tn);
	check("stat mr: MADV_DONTNEED counts page_invalidations",
	      ts2.invals > ts1.invals, "page_invalidations %lld -> %lld",
	      ts1.invals, ts2.invals);
	check_fatal("munmap", !munmap(t + 192 * PAGE, 64 * PAGE), "%s",
		    strerror(errno));
	ts3 = stat_of(tn);
	check("stat mr: a partial munmap counts page_invalidations",
	      ts3.invals > ts2.invals, "page_invalidations %lld -> %lld",
	      ts2.invals, ts3.invals);
	/*
	 * Only mirrored pages count: no more than the faults brought in.
	 * (The munmap may count more than its 64 pages: splitting the VMA
	 * invalidates the 2 MiB around the split, mirrored pages included.)
	 */
	check("stat mr: no more invalidations than pages faulted in",
	      ts3.invals >= 0 && ts3.invals <= ts3.faults,
	      "page_invalidations %lld, page_faults %lld",
	      ts3.invals, ts3.faults);
	check("stat mr: page_prefetch is 0 (nothing prefetched)", ts3.prefetch == 0,
	      "page_prefetch %lld", ts3.prefetch);

	/* The untouched ODP MR: nothing, also when its memory goes away. */
	madvise(u, 4 * MIB, MADV_DONTNEED);
	munmap(u + MIB, MIB);
	us = stat_of(un);
	check("stat mr: an ODP MR never accessed stays at 0",
	      us.found && us.faults == 0 && us.invals == 0 && us.prefetch == 0,
	      "found %d: %lld %lld %lld", us.found, us.faults, us.invals,
	      us.prefetch);

	/* A synchronous prefetch of 1 MiB of it: 256 pages prefetched. */
	{
		struct ibv_sge sge = { (uintptr_t)u + 2 * MIB, MIB, um->lkey };
		int ret = ibv_advise_mr(c.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
					IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1);

		us = stat_of(un);
		check("stat mr: page_prefetch counts the 256 pages prefetched",
		      ret == 0 && us.prefetch == 256 && us.faults == 0,
		      "advise %d, page_prefetch %lld, page_faults %lld", ret,
		      us.prefetch, us.faults);
	}

	/* For the log: what an operator sees. */
	printf("# page_faults %lld %lld %lld %lld, page_invalidations %lld %lld %lld %lld\n",
	       ts0.faults, ts1.faults, ts2.faults, ts3.faults, ts0.invals,
	       ts1.invals, ts2.invals, ts3.invals);
	printf("# ODP mrn %d, untouched ODP mrn %d, pinned mrn %d:\n", tn, un,
	       pn);
	fflush(stdout);
	if (system("rdma statistic show mr"))
		printf("# rdma statistic show mr failed\n");

	ibv_dereg_mr(um);
	ibv_dereg_mr(tm);
	ibv_dereg_mr(pm);
	munmap(src, MIB);
	munmap(t, 192 * PAGE);
	munmap(t + 256 * PAGE, 4 * MIB - 256 * PAGE);
	munmap(u, MIB);
	munmap(u + 2 * MIB, 2 * MIB);
}

/*
 * How far from @start the trace's hodp_odp_invalidate events of @lkey
 * cover, one range beginning where the one before ended: the mirror
 * watches 2 MiB leaves, so a change across a leaf's end is reported as
 * one invalidation per leaf (where this test's mmap lands decides).
 */
static unsigned long invalidated_from(const char *trace, unsigned int lkey,
				      unsigned long start)
{
	unsigned long end = start, a, b;
	const char *p;
	char head[64];
	int grew = 1;

	snprintf(head, sizeof(head), "hodp_odp_invalidate: hodp0 lkey 0x%x ",
		 lkey);
	while (grew) {
		grew = 0;
		for (p = strstr(trace, head); p; p = strstr(p + 1, head))
			if (sscanf(p + strlen(head), "range 0x%lx-0x%lx", &a,
				   &b) == 2 && a == end && b > end) {
				end = b;
				grew = 1;
			}
	}
	return end;
}

static void test_trace(void)
{
	static const char *const ev[] = {
		"hodp_odp_fault", "hodp_odp_fault_event", "hodp_odp_resume",
		"hodp_odp_invalidate",
	};
	/*
	 * The MR's first 16 pages cross a 2 MiB boundary (8 pages each
	 * side): their invalidation is always reported per leaf.
	 */
	uint8_t *src = map(MIB), *area = map(4 * MIB);
	uint8_t *t = (uint8_t *)((((uintptr_t)area + 16 * PAGE + 2 * MIB - 1) &
				  ~(uintptr_t)(2 * MIB - 1)) - 8 * PAGE);
	uint8_t *cold = map(MIB), *rbuf = map(MIB);
	struct ibv_mr *pm = reg(src, MIB, ALL_ACCESS);
	struct ibv_mr *tm = reg(t, MIB, ODP_ACCESS);
	struct ibv_mr *cm = reg(cold, MIB, ODP_ACCESS);
	struct ibv_mr *rm = reg(rbuf, MIB, ODP_ACCESS);
	struct ibv_sge sge = { (uintptr_t)src + 64 * 1024, 64 * 1024,
			       pm->lkey };
	struct ibv_send_wr wr = { .wr_id = 8, .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_SEND,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_wc wc;
	long long waits;
	int st2, st3, st4;
	char path[256], want[160], *trace;
	unsigned long end;
	struct stat sb;
	size_t i;
	int st;

	for (i = 0; i < sizeof(ev) / sizeof(ev[0]); i++) {
		snprintf(path, sizeof(path), TRACING "/events/hodp/%s/enable",
			 ev[i]);
		snprintf(want, sizeof(want), "trace event %s exists", ev[i]);
		check(want, !stat(path, &sb), "no %s", path);
	}
	trace_clear();

	memset(src, 0xa5, MIB);
	st = rdma_write(pm, src, MIB, tm, t);
	madvise(t, 16 * PAGE, MADV_DONTNEED);
	/* The requester's own miss: a write from cold memory, never touched. */
	st2 = rdma_write(cm, cold, 64 * 1024, pm, src);
	/* A SEND into a cold receive buffer: a stall, no RNR or retry wait. */
	waits = port_counter("rnr_waits") + port_counter("retry_waits");
	st3 = post_recv(qp.b, rm, rbuf, 64 * 1024, 9) ? -2 :
	      post_send(qp.a, &wr) ? -3 : poll_one(c.cq, &wc);
	st4 = st3 ? st3 : poll_one(c.cq, &wc);
	waits = port_counter("rnr_waits") + port_counter("retry_waits") - waits;
	check("traced write completes", st == IBV_WC_SUCCESS, "status %d", st);
	check("traced write from cold memory completes",
	      st2 == IBV_WC_SUCCESS, "status %d", st2);
	check("traced SEND into a cold receive buffer completes, both sides",
	      st3 == IBV_WC_SUCCESS && st4 == IBV_WC_SUCCESS,
	      "statuses %d %d", st3, st4);
	check("the receive buffer's fault cost the requester no RNR or retry wait",
	      !waits, "%lld waits", waits);

	trace = read_trace();
	check_fatal("read the trace", trace, "%s", strerror(errno));
	snprintf(want, sizeof(want),
		 "hodp_odp_fault: hodp0 lkey 0x%x uaddr 0x%lx write", tm->lkey,
		 (unsigned long)t);
	check("trace: hodp_odp_fault at the write's first page of the MR",
	      strstr(trace, want), "no '%s' in the trace", want);
	snprintf(want, sizeof(want), "hodp_odp_resume: hodp0 lkey 0x%x addr ",
		 tm->lkey);
	check("trace: hodp_odp_resume after it", strstr(trace, want),
	      "no '%s' in the trace", want);
	check_event(trace, "the responder's miss", qp.a->qp_num, tm->lkey, t,
		    "write", getpid());
	check_event(trace, "the requester's miss", qp.a->qp_num, cm->lkey,
		    cold, "read", getpid());
	check_event(trace, "a receive buffer's miss", qp.a->qp_num, rm->lkey,
		    rbuf, "write", getpid());
	check("the SEND's bytes are in the receive buffer",
	      rbuf[0] == 0xa5 && rbuf[64 * 1024 - 1] == 0xa5 &&
	      rbuf[64 * 1024] == 0, "bytes 0x%x 0x%x 0x%x", rbuf[0],
	      rbuf[64 * 1024 - 1], rbuf[64 * 1024]);
	check("the cold source was read as it is (zeros)",
	      src[0] == 0 && src[64 * 1024 - 1] == 0 && src[64 * 1024] == 0xa5,
	      "bytes 0x%x 0x%x 0x%x", src[0], src[64 * 1024 - 1],
	      src[64 * 1024]);
	end = invalidated_from(trace, tm->lkey, (unsigned long)t);
	/* More if a huge page was split: its whole range is invalidated. */
	check("trace: hodp_odp_invalidate for the MADV_DONTNEED range",
	      end >= (unsigned long)t + 16 * PAGE,
	      "the MR's traced invalidations cover 0x%lx-0x%lx, not to 0x%lx",
	      (unsigned long)t, end, (unsigned long)t + 16 * PAGE);
	/* For the log: the first lines of the trace. */
	printf("# trace:\n%.2000s\n", trace);
	free(trace);

	ibv_dereg_mr(rm);
	ibv_dereg_mr(cm);
	ibv_dereg_mr(tm);
	ibv_dereg_mr(pm);
	munmap(rbuf, MIB);
	munmap(cold, MIB);
	munmap(src, MIB);
	munmap(area, 4 * MIB);
}

/* test_copy_miss()'s poster: one RDMA op, from a thread of its own. */
struct poster {
	enum ibv_wr_opcode op;
	struct ibv_mr *lmr, *rmr;
	void *l, *r;
	uint32_t len;
	int st;
	long tid;
	struct ibv_wc rwc;	/* the receive's completion, if it takes one */
};

static void *post_thread(void *arg)
{
	struct poster *w = arg;

	w->tid = gettid();
	w->st = rdma_op_recv(w->op, w->lmr, w->l, w->len, w->rmr, w->r,
			     &w->rwc);
	return NULL;
}

/*
 * A page the WQE's lookups found, invalidated before its copy got there
 * (MADV_DONTNEED of the last MiB of a 64 MiB ODP MR while an RDMA WRITE,
 * a WRITE with immediate or a SEND into it, or a READ from it, runs): the
 * copy's miss is a fault event of the requester QP too, served by a
 * worker, and the WQE goes on from that page: every byte is right (a
 * READ's last MiB: the zeros MADV_DONTNEED left). A message that
 * completes a receive WQE fills the one it claimed (held by the responder
 * across the event) and completes it once.
 */
static void test_copy_miss(enum ibv_wr_opcode op)
{
	const char *name = op == IBV_WR_RDMA_WRITE ? "write" :
			   op == IBV_WR_RDMA_READ ? "read" :
			   op == IBV_WR_SEND ? "send" : "write with immediate";
	int into = op != IBV_WR_RDMA_READ;	/* into the ODP MR */
	size_t len = 64 * MIB;
	uint8_t *pin = map(len), *t = map(len), *last = t + len - MIB;
	uint8_t *watch = into ? t : pin, *first = into ? pin : t;
	struct ibv_mr *pm, *tm;
	char what[128], want[96];
	struct poster w;
	int started, reached, dropped;
	struct ibv_wc extra;
	pthread_t th;
	char *trace;
	double t0;

	/* Written first: registration records every page (no lookup miss). */
	memset(pin, into ? 0x5c : 0x11, len);
	memset(t, into ? 0x11 : 0x5c, len);
	pm = reg(pin, len, ALL_ACCESS);
	tm = reg(t, len, ODP_ACCESS);
	if (takes_recv(op))
		check_fatal("copy miss: post the receive",
			    !post_recv(qp.b, tm, t, len, RECV_ID), "%s",
			    strerror(errno));
	trace_clear();
	w = (struct poster){ .op = op, .lmr = pm, .rmr = tm, .l = pin,
			     .r = t, .len = len, .st = -1, .tid = -1 };
	check_fatal("copy miss: start the poster",
		    !pthread_create(&th, NULL, post_thread, &w), "");
	/* Its first byte landed: the lookups are over, the copy runs. */
	t0 = now_s();
	while (*(volatile uint8_t *)watch != 0x5c && now_s() - t0 < 10)
		;
	started = *(volatile uint8_t *)watch == 0x5c;
	/*
	 * The source's first byte, copied already: a copy that resumes
	 * leaves it copied as it was, one that starts over takes this.
	 */
	*(volatile uint8_t *)first = 0x77;
	reached = *(volatile uint8_t *)(watch + len - MIB) == 0x5c;
	dropped = !madvise(last, MIB, MADV_DONTNEED);
	pthread_join(th, NULL);
	snprintf(what, sizeof(what),
		 "copy miss, %s: the invalidation came during the copy, before it reached the range",
		 name);
	check(what, started && !reached && dropped,
	      "copy started %d, at the range already %d, madvise %s", started,
	      reached, dropped ? "done" : strerror(errno));
	snprintf(what, sizeof(what), "copy miss, %s: completes", name);
	check(what, w.st == IBV_WC_SUCCESS, "status %d", w.st);
	if (takes_recv(op)) {
		snprintf(what, sizeof(what),
			 "copy miss, %s: the receive it claimed completes, once",
			 name);
		check(what, w.rwc.status == IBV_WC_SUCCESS &&
		      w.rwc.byte_len == len &&
		      w.rwc.opcode == (op == IBV_WR_SEND ? IBV_WC_RECV :
				       IBV_WC_RECV_RDMA_WITH_IMM) &&
		      (w.rwc.wc_flags & IBV_WC_WITH_IMM) ==
		      (op == IBV_WR_SEND ? 0 : IBV_WC_WITH_IMM) &&
		      (op == IBV_WR_SEND || ntohl(w.rwc.imm_data) == IMM) &&
		      ibv_poll_cq(c.cq, 1, &extra) == 0,
		      "status %d, %u bytes, opcode %d, flags 0x%x, imm 0x%x",
		      w.rwc.status, w.rwc.byte_len, w.rwc.opcode,
		      w.rwc.wc_flags, ntohl(w.rwc.imm_data));
	}
	snprintf(what, sizeof(what), "copy miss, %s: every byte is right",
		 name);
	check(what, into ? !memcmp(t + 1, pin + 1, len - 1) :
	      !memcmp(t + 1, pin + 1, len - MIB - 1) &&
	      !memcmp(pin + len - MIB, last, MIB) && last[0] == 0 &&
	      last[MIB - 1] == 0, "");
	snprintf(what, sizeof(what),
		 "copy miss, %s: resumed where it stopped, not started over",
		 name);
	check(what, *watch == 0x5c, "first byte 0x%x (0x77: copied again)",
	      *watch);
	trace = read_trace();
	check_fatal("read the trace", trace, "%s", strerror(errno));
	snprintf(want, sizeof(want), "a page invalidated during a %s's copy",
		 name);
	check_event(trace, want, qp.a->qp_num, tm->lkey, last,
		    into ? "write" : "read", w.tid);
	free(trace);
	ibv_dereg_mr(tm);
	ibv_dereg_mr(pm);
	munmap(t, len);
	munmap(pin, len);
}

int main(void)
{
	int kmsg = kmsg_open();

	trace_mount();
	trace_hodp_on();
	open_dev(&c, "hodp0");
	qp = rc_pair(&c, ALL_ACCESS, 7);
	test_counters();
	test_trace();
	test_copy_miss(IBV_WR_RDMA_WRITE);
	test_copy_miss(IBV_WR_RDMA_READ);
	test_copy_miss(IBV_WR_SEND);
	test_copy_miss(IBV_WR_RDMA_WRITE_WITH_IMM);
	kmsg_check(kmsg, "the kernel logged no bug");
	return check_done();
}
