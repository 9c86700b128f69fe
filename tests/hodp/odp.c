// SPDX-License-Identifier: GPL-2.0
/*
 * ODP MRs on hodp0 (IBV_ACCESS_ON_DEMAND): nothing is pinned or faulted at
 * registration, which records the pages already present (memory written
 * before it takes no fault; a cold range costs no mirror table); every
 * operation works on memory the process never touched
 * (its pages are faulted in through hodp's HMM mirror, a cold 1 MiB in a
 * few faults, counted by the port counter odp_faults); the device sees
 * what the CPU sees after munmap + mmap, MADV_DONTNEED and a write by the
 * CPU; a write into read-only or unmapped memory, and a local buffer that
 * is not mapped, complete with the IB error they deserve; the caps say so.
 * Two processes (two mirrors) write and read each other's ODP memory at
 * the same time, in opposite directions: the data is right, nothing
 * deadlocks (on the debug kernel, lockdep watches the mirror locks).
 * A requester moved to RESET while it faults in a cold 1 GiB source stops
 * faulting there, and its WQE leaves no completion.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "odp.h"
#include "verbs.h"

#define BUF	(8UL << 20)

static struct ctx c;

static struct ibv_mr *reg_odp(void *p, size_t len)
{
	struct ibv_mr *mr = ibv_reg_mr(c.pd, p, len, ODP_ACCESS);

	check_fatal("ODP registration", mr, "%s", strerror(errno));
	return mr;
}

/* Post one signalled WR on @qp and wait for its completion: its status. */
static int run(struct ibv_qp *qp, enum ibv_wr_opcode op, struct ibv_mr *lmr,
	       void *laddr, uint32_t len, struct ibv_mr *rmr, void *raddr)
{
	struct ibv_sge sge = { (uintptr_t)laddr, len, lmr->lkey };
	struct ibv_send_wr wr = { .wr_id = 1, .sg_list = &sge, .num_sge = 1,
				  .opcode = op,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_wc wc;

	if (op == IBV_WR_ATOMIC_FETCH_AND_ADD ||
	    op == IBV_WR_ATOMIC_CMP_AND_SWP) {
		wr.wr.atomic.remote_addr = (uintptr_t)raddr;
		wr.wr.atomic.rkey = rmr->rkey;
		wr.wr.atomic.compare_add = 5;
		wr.wr.atomic.swap = 0x1122334455667788ULL;
	} else if (rmr) {
		wr.wr.rdma.remote_addr = (uintptr_t)raddr;
		wr.wr.rdma.rkey = rmr->rkey;
	}
	if (post_send(qp, &wr))
		return -2;
	return poll_one(c.cq, &wc);
}

static void test_caps(void)
{
	struct ibv_device_attr_ex a;
	uint32_t rc = IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV |
		      IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ |
		      IBV_ODP_SUPPORT_ATOMIC | IBV_ODP_SUPPORT_SRQ_RECV;
	uint32_t ud = IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV;

	memset(&a, 0, sizeof(a));
	check_fatal("query_device_ex", !ibv_query_device_ex(c.ctx, NULL, &a),
		    "%s", strerror(errno));
	check("caps: ODP supported", a.odp_caps.general_caps & IBV_ODP_SUPPORT,
	      "general caps 0x%lx", (unsigned long)a.odp_caps.general_caps);
	check("caps: RC send, receive, write, read, atomic, SRQ receive",
	      (a.odp_caps.per_transport_caps.rc_odp_caps & rc) == rc,
	      "rc 0x%x", a.odp_caps.per_transport_caps.rc_odp_caps);
	check("caps: UD send, receive",
	      (a.odp_caps.per_transport_caps.ud_odp_caps & ud) == ud,
	      "ud 0x%x", a.odp_caps.per_transport_caps.ud_odp_caps);
}

/* Registration pins and faults nothing, whatever the size. */
static void test_registration(void)
{
	size_t len = 256 * MIB;
	long pin0 = status_kb("VmPin"), rss0 = status_kb("VmRSS");
	long long f0 = odp_faults(), pt0 = hmm_stat("pt_bytes"), pt;
	void *p = map(len);
	struct ibv_mr *mr = reg_odp(p, len);
	long pin = status_kb("VmPin"), rss = status_kb("VmRSS");

	pt = hmm_stat("pt_bytes");

	check("registration: 256 MiB ODP MR pins nothing", pin0 == 0 && pin == 0,
	      "VmPin %ld kB -> %ld kB", pin0, pin);
	check("registration: faults nothing in (RSS grew < 4 MiB)",
	      rss >= 0 && rss - rss0 < 4096, "VmRSS %ld kB -> %ld kB", rss0, rss);
	check("registration: takes no device fault", odp_faults() == f0,
	      "odp_faults %lld -> %lld", f0, odp_faults());
	check("registration: a cold range takes no mirror page table",
	      pt0 >= 0 && pt == pt0, "pt_bytes %lld -> %lld", pt0, pt);
	check("registration: deregisters", !ibv_dereg_mr(mr), "%s",
	      strerror(errno));
	munmap(p, len);
}

/*
 * Memory the process has written before registering is recorded by the
 * registration (a snapshot, nothing faulted): the device's first use of it
 * takes no fault, in either direction.
 */
static void test_warm(void)
{
	struct rc_pair qp = rc_pair(&c, ALL_ACCESS, 7);
	uint8_t *a = map(BUF), *b = map(BUF);
	struct ibv_mr *am, *bm;
	long long f0, f1, pt0 = hmm_stat("pt_bytes"), pt;
	int st, st2;

	fill(a, BUF, 11);
	memset(b, 0x5a, BUF);
	am = reg_odp(a, BUF);
	bm = reg_odp(b, BUF);
	pt = hmm_stat("pt_bytes");
	/* 8 bytes per page, both buffers (a leaf more at each unaligned end). */
	check("warm: registration records the pages present",
	      pt - pt0 >= (long long)(2 * BUF / 4096 * 8),
	      "pt_bytes +%lld for %lu pages", pt - pt0, 2 * BUF / 4096);
	f0 = odp_faults();
	st = run(qp.a, IBV_WR_RDMA_WRITE, am, a, BUF / 2, bm, b);
	st2 = run(qp.a, IBV_WR_RDMA_READ, am, a + BUF / 2, BUF / 2, bm,
		  b + BUF / 2);
	f1 = odp_faults();
	check("warm: write and read of memory written before registration",
	      st == IBV_WC_SUCCESS && st2 == IBV_WC_SUCCESS &&
	      !memcmp(a, b, BUF / 2) && b[BUF / 2] == 0x5a &&
	      a[BUF / 2] == 0x5a && a[BUF - 1] == 0x5a,
	      "status %d, %d", st, st2);
	check("warm: take no fault", f0 >= 0 && f1 == f0,
	      "odp_faults %lld -> %lld", f0, f1);
	ibv_dereg_mr(am);
	ibv_dereg_mr(bm);
	munmap(a, BUF);
	munmap(b, BUF);
	ibv_destroy_qp(qp.a);
	ibv_destroy_qp(qp.b);
}

/* ibv_advise_mr() of one range: 0 or the errno (either convention). */
static int advise(struct ibv_mr *mr, void *p, uint32_t len,
		  enum ibv_advise_mr_advice advice, uint32_t flags)
{
	struct ibv_sge sge = { (uintptr_t)p, len, mr->lkey };
	int ret = ibv_advise_mr(c.pd, advice, flags, &sge, 1);

	return ret == -1 ? errno : ret;
}

/* test_prefetch(): asynchronous prefetches tried, at most. */
#define ASYNC_ROUNDS	3

/*
 * ibv_advise_mr(): after a synchronous prefetch the device's accesses take
 * no fault; PREFETCH_NO_FAULT records only what is present; an
 * asynchronous one completes by itself; bad requests fail with the errno
 * they deserve.
 */
static void test_prefetch(void)
{
	struct rc_pair qp = rc_pair(&c, ALL_ACCESS, 7);
	uint8_t *a = map(BUF), *b = map(BUF), *d = map(BUF), *e = map(BUF);
	struct ibv_mr *am, *bm, *dm, *em, *pinned, *ro;
	struct ibv_sge two[2], many[33];
	long long f0, f1, m0, mirrored = 0;
	int st, st2, ret, i, round;

	fill(b, BUF, 21);
	bm = reg_odp(b, BUF);
	am = reg_odp(a, BUF);
	/* Two ranges, for writing, synchronously. */
	two[0] = (struct ibv_sge){ (uintptr_t)a, 2 * MIB, am->lkey };
	two[1] = (struct ibv_sge){ (uintptr_t)a + 4 * MIB, 2 * MIB, am->lkey };
	ret = ibv_advise_mr(c.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
			    IBV_ADVISE_MR_FLAG_FLUSH, two, 2);
	check("prefetch: synchronous PREFETCH_WRITE of two ranges", ret == 0,
	      "%d (%s)", ret, strerror(ret == -1 ? errno : ret));
	f0 = odp_faults();
	st = run(qp.a, IBV_WR_RDMA_WRITE, bm, b, 2 * MIB, am, a);
	st2 = run(qp.a, IBV_WR_RDMA_WRITE, bm, b + 2 * MIB, 2 * MIB, am,
		  a + 4 * MIB);
	f1 = odp_faults();
	check("prefetch: the device then writes both without a fault",
	      st == 0 && st2 == 0 && f1 == f0 && !memcmp(a, b, 2 * MIB) &&
	      !memcmp(a + 4 * MIB, b + 2 * MIB, 2 * MIB),
	      "status %d, %d, odp_faults +%lld", st, st2, f1 - f0);
	f0 = odp_faults();
	st = run(qp.a, IBV_WR_RDMA_WRITE, bm, b, MIB, am, a + 2 * MIB);
	f1 = odp_faults();
	check("prefetch: what was not prefetched still faults", st == 0 &&
	      f1 > f0, "status %d, odp_faults +%lld", st, f1 - f0);

	/* For reading: the device reads zeros from it without a fault. */
	dm = reg_odp(d, BUF);
	ret = advise(dm, d, BUF, IBV_ADVISE_MR_ADVICE_PREFETCH,
		     IBV_ADVISE_MR_FLAG_FLUSH);
	f0 = odp_faults();
	st = run(qp.a, IBV_WR_RDMA_READ, bm, b, BUF, dm, d);
	f1 = odp_faults();
	check("prefetch: PREFETCH, then the device reads without a fault",
	      ret == 0 && st == 0 && f1 == f0 && b[0] == 0 && b[BUF - 1] == 0,
	      "ret %d, status %d, odp_faults +%lld", ret, st, f1 - f0);

	/* NO_FAULT: the CPU touched the first half after registration. */
	em = reg_odp(e, BUF);
	memset(e, 0x77, BUF / 2);
	ret = advise(em, e, BUF, IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT,
		     IBV_ADVISE_MR_FLAG_FLUSH);
	f0 = odp_faults();
	st = run(qp.a, IBV_WR_RDMA_READ, bm, b, BUF / 2, em, e);
	f1 = odp_faults();
	check("prefetch: NO_FAULT records what is present: no fault to read it",
	      ret == 0 && st == 0 && f1 == f0 && b[0] == 0x77 &&
	      b[BUF / 2 - 1] == 0x77,
	      "ret %d, status %d, odp_faults +%lld", ret, st, f1 - f0);
	f0 = odp_faults();
	st = run(qp.a, IBV_WR_RDMA_READ, bm, b, BUF / 2, em, e + BUF / 2);
	f1 = odp_faults();
	check("prefetch: NO_FAULT faults nothing in: the rest faults",
	      st == 0 && f1 > f0, "status %d, odp_faults +%lld", st, f1 - f0);

	/*
	 * Asynchronous: it returns at once and mirrors the range later. The
	 * kernel may take part of the range back meanwhile (a THP collapse
	 * across the neighbouring buffers, a compaction's migration: a CI
	 * rehearsal once saw it 182 pages short, then one fault): a round in
	 * which the range was not whole, or the write faulted, is done again
	 * on a fresh buffer, up to ASYNC_ROUNDS. A prefetch that does not
	 * complete by itself fails every round.
	 */
	for (round = 1; round <= ASYNC_ROUNDS; round++) {
		ibv_dereg_mr(dm);
		munmap(d, BUF);
		d = map(BUF);
		dm = reg_odp(d, BUF);
		m0 = hmm_stat("mirrored_pages");
		ret = advise(dm, d, BUF, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
			     0);
		for (i = 0; i < 100 && hmm_stat("mirrored_pages") - m0 <
		     (long long)(BUF / 4096); i++)
			usleep(100000);
		mirrored = hmm_stat("mirrored_pages") - m0;
		/*
		 * The source too: unmapping d's predecessor split the VMA
		 * (the buffers are neighbours), which invalidates the huge
		 * page around the split, maybe b's last.
		 */
		advise(bm, b, BUF, IBV_ADVISE_MR_ADVICE_PREFETCH,
		       IBV_ADVISE_MR_FLAG_FLUSH);
		f0 = odp_faults();
		st = run(qp.a, IBV_WR_RDMA_WRITE, bm, b, BUF, dm, d);
		f1 = odp_faults();
		if (ret == 0 && mirrored >= (long long)(BUF / 4096) &&
		    st == 0 && f1 == f0)
			break;
		printf("# prefetch: asynchronous, round %d: ret %d, mirrored_pages +%lld, status %d, odp_faults +%lld\n",
		       round, ret, mirrored, st, f1 - f0);
	}
	check("prefetch: asynchronous PREFETCH_WRITE mirrors the range",
	      ret == 0 && mirrored >= (long long)(BUF / 4096),
	      "ret %d, mirrored_pages +%lld (in each of %d rounds)", ret,
	      mirrored, ASYNC_ROUNDS);
	check("prefetch: ... and the device writes it without a fault",
	      st == 0 && f1 == f0, "status %d, odp_faults +%lld", st,
	      f1 - f0);
	/* Queued, then the MR and its memory go at once: nothing breaks. */
	for (i = 0; i < 8; i++)
		advise(dm, d, BUF, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE, 0);
	check("prefetch: an MR deregisters under asynchronous prefetches",
	      !ibv_dereg_mr(dm), "%s", strerror(errno));
	munmap(d, BUF);

	/* Errors. */
	pinned = ibv_reg_mr(c.pd, b, 4096, ALL_ACCESS);
	ro = ibv_reg_mr(c.pd, e, BUF, IBV_ACCESS_ON_DEMAND |
			IBV_ACCESS_REMOTE_READ);
	check_fatal("prefetch: register a pinned and a read-only ODP MR",
		    pinned && ro, "%s", strerror(errno));
	ret = advise(pinned, b, 4096, IBV_ADVISE_MR_ADVICE_PREFETCH,
		     IBV_ADVISE_MR_FLAG_FLUSH);
	check("prefetch: of a pinned MR: EINVAL", ret == EINVAL, "%d", ret);
	{
		struct ibv_sge bad = { (uintptr_t)a, 4096, am->lkey ^ 0x100 };

		ret = ibv_advise_mr(c.pd, IBV_ADVISE_MR_ADVICE_PREFETCH,
				    IBV_ADVISE_MR_FLAG_FLUSH, &bad, 1);
		ret = ret == -1 ? errno : ret;
		check("prefetch: a key that is no MR: ENOENT", ret == ENOENT,
		      "%d", ret);
	}
	ret = advise(ro, e, 4096, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
		     IBV_ADVISE_MR_FLAG_FLUSH);
	check("prefetch: PREFETCH_WRITE of an MR without local write: EPERM",
	      ret == EPERM, "%d", ret);
	ret = advise(am, a + BUF - 4096, 8192, IBV_ADVISE_MR_ADVICE_PREFETCH,
		     IBV_ADVISE_MR_FLAG_FLUSH);
	check("prefetch: a range past the MR's end: EINVAL", ret == EINVAL,
	      "%d", ret);
	for (i = 0; i < 33; i++)
		many[i] = (struct ibv_sge){ (uintptr_t)a, 4096, am->lkey };
	ret = ibv_advise_mr(c.pd, IBV_ADVISE_MR_ADVICE_PREFETCH,
			    IBV_ADVISE_MR_FLAG_FLUSH, many, 33);
	ret = ret == -1 ? errno : ret;
	check("prefetch: 33 ranges (more than 32): EINVAL", ret == EINVAL,
	      "%d", ret);
	ret = ibv_advise_mr(c.pd, IBV_ADVISE_MR_ADVICE_PREFETCH,
			    IBV_ADVISE_MR_FLAG_FLUSH, many, 32);
	check("prefetch: 32 ranges", ret == 0, "%d", ret);
	munmap(a + BUF - 4096, 4096);
	ret = advise(am, a + BUF - 8192, 8192, IBV_ADVISE_MR_ADVICE_PREFETCH,
		     IBV_ADVISE_MR_FLAG_FLUSH);
	check("prefetch: synchronous, of memory not mapped: EFAULT",
	      ret == EFAULT, "%d", ret);

	ibv_destroy_qp(qp.a);
	ibv_destroy_qp(qp.b);
	ibv_dereg_mr(pinned);
	ibv_dereg_mr(ro);
	ibv_dereg_mr(am);
	ibv_dereg_mr(bm);
	ibv_dereg_mr(em);
	munmap(a, BUF - 4096);
	munmap(b, BUF);
	munmap(e, BUF);
}

/* Every operation, both sides ODP memory never touched by the CPU. */
static void test_cold_ops(void)
{
	struct rc_pair qp = rc_pair(&c, ALL_ACCESS, 7);
	uint8_t *a = map(BUF), *b = map(BUF), *want = malloc(MIB);
	struct ibv_mr *am = reg_odp(a, BUF), *bm = reg_odp(b, BUF);
	long long f0, f1;
	uint64_t *word;
	int st;

	/* WRITE: a (cold: zeros) -> b (cold), then data the CPU wrote. */
	f0 = odp_faults();
	st = run(qp.a, IBV_WR_RDMA_WRITE, am, a + 3, MIB, bm, b + 5);
	f1 = odp_faults();
	check("cold write: completes", st == IBV_WC_SUCCESS, "status %d", st);
	memset(want, 0, MIB);
	check("cold write: the target reads zeros from a cold source",
	      !memcmp(b + 5, want, MIB), "");
	check("cold write: a cold 1 MiB on both sides takes a few faults",
	      f1 - f0 >= 1 && f1 - f0 <= 8, "%lld faults", f1 - f0);
	fill(a + 3, MIB, 1);
	st = run(qp.a, IBV_WR_RDMA_WRITE, am, a + 3, MIB, bm, b + 5);
	check("write: the data arrives", st == IBV_WC_SUCCESS &&
	      !memcmp(b + 5, a + 3, MIB), "status %d", st);
	check("write: nothing pinned", status_kb("VmPin") == 0, "VmPin %ld kB",
	      status_kb("VmPin"));

	/* READ: b (CPU data, cold page past what was written) -> a. */
	fill(b + 4 * MIB, MIB, 2);
	st = run(qp.a, IBV_WR_RDMA_READ, am, a + 2 * MIB + 1, MIB, bm,
		 b + 4 * MIB);
	check("read: the data arrives", st == IBV_WC_SUCCESS &&
	      !memcmp(a + 2 * MIB + 1, b + 4 * MIB, MIB), "status %d", st);

	/* SEND into a cold receive buffer. */
	check_fatal("send: post recv",
		    !post_recv(qp.b, bm, b + 6 * MIB + 7, MIB, 9), "");
	fill(a + 5 * MIB, MIB, 3);
	{
		struct ibv_sge sge = { (uintptr_t)a + 5 * MIB, MIB, am->lkey };
		struct ibv_send_wr wr = { .wr_id = 1, .sg_list = &sge,
					  .num_sge = 1, .opcode = IBV_WR_SEND,
					  .send_flags = IBV_SEND_SIGNALED };
		struct ibv_wc wc[2];
		int s0 = -2, s1 = -2;

		if (!post_send(qp.a, &wr)) {
			s0 = poll_one(c.cq, &wc[0]);
			s1 = poll_one(c.cq, &wc[1]);
		}
		check("send: both sides complete", s0 == 0 && s1 == 0 &&
		      wc[0].wr_id + wc[1].wr_id == 10, "status %d %d", s0, s1);
	}
	check("send: the data arrives",
	      !memcmp(b + 6 * MIB + 7, a + 5 * MIB, MIB), "");

	/* Atomics on a cold page, the result into a cold page. */
	word = (uint64_t *)(b + 7 * MIB + 8192);	/* past the SEND's bytes */
	st = run(qp.a, IBV_WR_ATOMIC_FETCH_AND_ADD, am, a + 7 * MIB, 8, bm,
		 word);
	check("fetch-and-add on a cold page", st == IBV_WC_SUCCESS &&
	      *word == 5 && *(uint64_t *)(a + 7 * MIB) == 0,
	      "status %d, word %llu, result %llu", st,
	      (unsigned long long)*word,
	      (unsigned long long)*(uint64_t *)(a + 7 * MIB));
	st = run(qp.a, IBV_WR_ATOMIC_CMP_AND_SWP, am, a + 7 * MIB + 8, 8, bm,
		 word);
	check("compare-and-swap", st == IBV_WC_SUCCESS &&
	      *word == 0x1122334455667788ULL &&
	      *(uint64_t *)(a + 7 * MIB + 8) == 5, "status %d", st);

	ibv_destroy_qp(qp.a);
	ibv_destroy_qp(qp.b);
	ibv_dereg_mr(am);
	ibv_dereg_mr(bm);
	munmap(a, BUF);
	munmap(b, BUF);
	free(want);
}

/*
 * A cold source larger than 128 MiB (more than HODP_FAULT_TRIES faults of
 * 2 MiB): its pages are faulted before the peer is reached, and only
 * misses at one address may give up. The write goes to a 4 KiB target, so
 * the responder refuses it (remote access error) after the requester
 * mirrored the whole source, without copying 136 MiB under TCG: a source
 * the requester gave up on is a local protection error instead.
 */
static void test_large(void)
{
	size_t len = 136 * MIB;
	struct rc_pair qp = rc_pair(&c, ALL_ACCESS, 7);
	uint8_t *a = map(len), *b = map(4096);
	struct ibv_mr *am = reg_odp(a, len), *bm = reg_odp(b, 4096);
	long long f0 = odp_faults(), f1;
	int st;

	memset(b, 0x33, 4096);
	st = run(qp.a, IBV_WR_RDMA_WRITE, am, a, len, bm, b);
	f1 = odp_faults();
	check("large: a cold 136 MiB source is mirrored whole (the 4 KiB target refuses it)",
	      st == IBV_WC_REM_ACCESS_ERR, "status %d", st);
	check("large: in 2 MiB faults", f1 - f0 >= 68 && f1 - f0 <= 80,
	      "odp_faults +%lld", f1 - f0);
	check("large: the target is unchanged", b[0] == 0x33 && b[4095] == 0x33,
	      "%#x %#x", b[0], b[4095]);
	ibv_destroy_qp(qp.a);
	ibv_destroy_qp(qp.b);
	ibv_dereg_mr(am);
	ibv_dereg_mr(bm);
	munmap(a, len);
	munmap(b, 4096);
}

/*
 * RESET of a requester that is faulting in its WQE's cold 1 GiB source (512
 * fault events of 2 MiB, each resolved by a worker): the doorbell's system
 * call returned before them, the faults stop at RESET, not at the end of
 * the buffer, and nothing completes.
 */
static void test_reset_during_prepare(void)
{
	size_t len = 1024 * MIB;
	struct rc_pair qp = rc_pair(&c, ALL_ACCESS, 7);
	uint8_t *a = map(len), *b = map(4096);
	struct ibv_mr *am = reg_odp(a, len), *bm = reg_odp(b, 4096);
	struct ibv_sge sge = { (uintptr_t)a, len, am->lkey };
	struct ibv_send_wr wr = { .wr_id = 7, .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_RDMA_WRITE,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_qp_attr attr = { .qp_state = IBV_QPS_RESET };
	struct poster p = { .qp = qp.a, .wr = &wr };
	long long f0 = odp_faults(), w0 = req_wqes(), fp, f1, f2;
	struct ibv_wc wc;
	pthread_t t;
	int racing, ret, n;

	wr.wr.rdma.remote_addr = (uintptr_t)b;
	wr.wr.rdma.rkey = bm->rkey;
	memset(b, 0x44, 4096);
	pthread_create(&t, NULL, post_thread, &p);
	pthread_join(t, NULL);
	fp = odp_faults();
	check("reset in prepare: the doorbell returns before the source's faults are done",
	      !p.ret && fp - f0 < 512, "post %s, odp_faults +%lld by then",
	      strerror(p.ret), fp - f0);
	/* Until the faults began (each read waits out the counters' cache). */
	for (n = 0; n < 250 && (f1 = odp_faults()) == f0; n++)
		;
	racing = f1 > f0 && req_wqes() == w0;
	ret = ibv_modify_qp(qp.a, &attr, IBV_QP_STATE);
	f1 = odp_faults();
	usleep(100000);
	f2 = odp_faults();
	n = ibv_poll_cq(c.cq, 1, &wc);
	check("reset in prepare: RESET came while the source was faulted in",
	      racing, "faults +%lld, WQEs completed +%lld (make the source larger)",
	      f1 - f0, req_wqes() - w0);
	check("reset in prepare: RESET returns 0", !ret, "%s", strerror(ret));
	check("reset in prepare: the faults stop at RESET, not at the end",
	      f1 - f0 < 512 && f2 == f1, "odp_faults +%lld at RESET, +%lld after",
	      f1 - f0, f2 - f0);
	check("reset in prepare: the WQE leaves no completion", n == 0,
	      "%d completions (status %d)", n, n > 0 ? (int)wc.status : 0);
	check("reset in prepare: the target is unchanged",
	      b[0] == 0x44 && b[4095] == 0x44, "%#x %#x", b[0], b[4095]);
	ibv_destroy_qp(qp.a);
	ibv_destroy_qp(qp.b);
	ibv_dereg_mr(am);
	ibv_dereg_mr(bm);
	munmap(a, len);
	munmap(b, 4096);
}

/* The device sees what the CPU sees after each page-table change. */
static void test_coherence(void)
{
	struct rc_pair qp = rc_pair(&c, ALL_ACCESS, 7);
	uint8_t *a = map(MIB), *b = map(MIB);
	struct ibv_mr *am = reg_odp(a, MIB), *bm = reg_odp(b, MIB);
	uint8_t *p;
	int st;

	fill(b, MIB, 4);
	st = run(qp.a, IBV_WR_RDMA_READ, am, a, MIB, bm, b);
	check("coherence: read before", st == 0 && !memcmp(a, b, MIB),
	      "status %d", st);
	/* The CPU writes: the device reads the new bytes. */
	fill(b, 4096, 5);
	st = run(qp.a, IBV_WR_RDMA_READ, am, a, 4096, bm, b);
	check("coherence: a CPU write is seen", st == 0 && !memcmp(a, b, 4096),
	      "status %d", st);
	/* munmap + mmap of new pages at the same address. */
	p = mmap(b, MIB, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	check_fatal("coherence: remap", p == b, "%s", strerror(errno));
	fill(b, MIB, 6);
	st = run(qp.a, IBV_WR_RDMA_READ, am, a, MIB, bm, b);
	check("coherence: after munmap + mmap the new pages are read",
	      st == 0 && !memcmp(a, b, MIB), "status %d", st);
	/* MADV_DONTNEED: zeros again. */
	madvise(b, MIB, MADV_DONTNEED);
	memset(a, 0xff, MIB);
	st = run(qp.a, IBV_WR_RDMA_READ, am, a, MIB, bm, b);
	check("coherence: after MADV_DONTNEED the device reads zeros",
	      st == 0 && !a[0] && !memcmp(a, a + 1, MIB - 1), "status %d", st);
	/* A device write after the CPU's pages were replaced lands in them. */
	fill(a, MIB, 7);
	p = mmap(b, MIB, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	check_fatal("coherence: remap again", p == b, "%s", strerror(errno));
	st = run(qp.a, IBV_WR_RDMA_WRITE, am, a, MIB, bm, b);
	check("coherence: a device write lands in the new pages",
	      st == 0 && !memcmp(a, b, MIB), "status %d", st);

	ibv_destroy_qp(qp.a);
	ibv_destroy_qp(qp.b);
	ibv_dereg_mr(am);
	ibv_dereg_mr(bm);
	munmap(a, MIB);
	munmap(b, MIB);
}

/* What cannot be mirrored completes with an error, and changes nothing. */
static void test_errors(void)
{
	uint8_t *a = map(MIB), *b = map(MIB);
	struct ibv_mr *am = reg_odp(a, MIB), *bm = reg_odp(b, MIB);
	struct rc_pair qp;
	int st;

	/* A remote write into read-only memory. */
	qp = rc_pair(&c, ALL_ACCESS, 7);
	fill(a, 4096, 8);
	memset(b, 0x5a, 4096);
	mprotect(b, 4096, PROT_READ);
	st = run(qp.a, IBV_WR_RDMA_WRITE, am, a, 4096, bm, b);
	check("errors: a write into read-only memory is a remote access error",
	      st == IBV_WC_REM_ACCESS_ERR, "status %d", st);
	check("errors: the read-only page is unchanged",
	      b[0] == 0x5a && !memcmp(b, b + 1, 4095), "");
	mprotect(b, 4096, PROT_READ | PROT_WRITE);
	ibv_destroy_qp(qp.a);
	ibv_destroy_qp(qp.b);

	/* A remote read of unmapped memory inside the MR. */
	qp = rc_pair(&c, ALL_ACCESS, 7);
	munmap(b + 8192, 4096);
	memset(a, 0x77, 4096);
	st = run(qp.a, IBV_WR_RDMA_READ, am, a, 4096, bm, b + 8192);
	check("errors: a read of unmapped memory is a remote access error",
	      st == IBV_WC_REM_ACCESS_ERR, "status %d", st);
	ibv_destroy_qp(qp.a);
	ibv_destroy_qp(qp.b);

	/* A local source that is not mapped: the requester's own error. */
	qp = rc_pair(&c, ALL_ACCESS, 7);
	munmap(a + 8192, 4096);
	st = run(qp.a, IBV_WR_RDMA_WRITE, am, a + 8192, 4096, bm, b);
	check("errors: an unmapped local buffer is a local protection error",
	      st == IBV_WC_LOC_PROT_ERR, "status %d", st);
	ibv_destroy_qp(qp.a);
	ibv_destroy_qp(qp.b);

	ibv_dereg_mr(am);
	ibv_dereg_mr(bm);
	munmap(a, MIB);
	munmap(b, MIB);
}

/*
 * Two processes: each has a 6 MiB ODP buffer, its own data in the first
 * 2 MiB; each writes its data into the other's second 2 MiB and reads the
 * other's data into its own third 2 MiB, ROUNDS times, both at once.
 */
#define ROUNDS	4
#define PIECE	(256UL << 10)

struct peer {
	uint32_t qpn, rkey;
	uint64_t addr;
};

static int xfer(int fd, void *p, size_t n, int out)
{
	return (out ? write(fd, p, n) : read(fd, p, n)) == (ssize_t)n ? 0 : -1;
}

/* One side of the exchange; returns 0 if every byte it got is right. */
static int cross_side(int in, int out, unsigned int mine, unsigned int theirs,
		      const char **what)
{
	struct ctx me = { 0 };
	uint8_t *buf = map(6 * MIB), *want = malloc(2 * MIB);
	struct peer self, other;
	struct ibv_mr *mr;
	struct ibv_qp *qp;
	unsigned long off;
	char go = 'g';
	int round, st;

	open_dev(&me, "hodp0");
	qp = rc_qp(&me, NULL, me.cq);
	mr = ibv_reg_mr(me.pd, buf, 6 * MIB, ODP_ACCESS);
	*what = "register";
	if (!mr || !want)
		return -1;
	fill(buf, 2 * MIB, mine);
	self = (struct peer){ qp->qp_num, mr->rkey, (uintptr_t)buf };
	*what = "exchange";
	if (xfer(out, &self, sizeof(self), 1) || xfer(in, &other, sizeof(other), 0))
		return -1;
	*what = "connect";
	if (rc_connect(&me, qp, other.qpn, ALL_ACCESS, 7))
		return -1;
	*what = "start";
	if (xfer(out, &go, 1, 1) || xfer(in, &go, 1, 0))
		return -1;
	for (round = 0; round < ROUNDS; round++) {
		for (off = 0; off < 2 * MIB; off += PIECE) {
			struct ibv_sge sge = { (uintptr_t)buf + off, PIECE,
					       mr->lkey };
			struct ibv_send_wr wr = {
				.sg_list = &sge, .num_sge = 1,
				.opcode = IBV_WR_RDMA_WRITE,
				.send_flags = IBV_SEND_SIGNALED,
				.wr.rdma = { other.addr + 2 * MIB + off,
					     other.rkey },
			};
			struct ibv_wc wc;

			*what = "write";
			if (post_send(qp, &wr) || (st = poll_one(me.cq, &wc)))
				return -1;
			sge.addr = (uintptr_t)buf + 4 * MIB + off;
			wr.opcode = IBV_WR_RDMA_READ;
			wr.wr.rdma.remote_addr = other.addr + off;
			*what = "read";
			if (post_send(qp, &wr) || (st = poll_one(me.cq, &wc)))
				return -1;
		}
	}
	/* Both done writing before either looks. */
	*what = "finish";
	if (xfer(out, &go, 1, 1) || xfer(in, &go, 1, 0))
		return -1;
	fill(want, 2 * MIB, theirs);
	*what = "the data written into this process";
	if (memcmp(buf + 2 * MIB, want, 2 * MIB))
		return -1;
	*what = "the data read from the other process";
	if (memcmp(buf + 4 * MIB, want, 2 * MIB))
		return -1;
	ibv_destroy_qp(qp);
	ibv_dereg_mr(mr);
	return 0;
}

/* Forked before this process opens the device. */
static pid_t cross_child;
static int cross_in, cross_out;

static void start_cross_child(void)
{
	int down[2], up[2];
	const char *what = "";

	check_fatal("pipes", !pipe(down) && !pipe(up), "%s", strerror(errno));
	cross_child = fork();
	check_fatal("fork", cross_child >= 0, "%s", strerror(errno));
	if (!cross_child) {
		int ret = cross_side(down[0], up[1], 11, 21, &what);

		if (ret)
			fprintf(stderr, "odp child: %s failed\n", what);
		_exit(ret ? 1 : 0);
	}
	cross_in = up[0];
	cross_out = down[1];
	close(down[0]);
	close(up[1]);
}

static void test_two_processes(void)
{
	const char *what = "";
	int ret = cross_side(cross_in, cross_out, 21, 11, &what), status = -1;

	check("two processes: writes and reads both ways at once, data right",
	      !ret, "%s failed", what);
	close(cross_out);
	waitpid(cross_child, &status, 0);
	check("two processes: the other process saw its data right",
	      WIFEXITED(status) && !WEXITSTATUS(status), "status 0x%x",
	      status);
}

int main(void)
{
	start_cross_child();
	open_dev(&c, "hodp0");
	test_caps();
	test_registration();
	test_warm();
	test_prefetch();
	test_cold_ops();
	test_large();
	test_reset_during_prepare();
	test_coherence();
	test_errors();
	test_two_processes();
	return check_done();
}
