// SPDX-License-Identifier: GPL-2.0
/*
 * Implicit ODP MRs on hodp0: ibv_reg_mr(pd, NULL, SIZE_MAX, ON_DEMAND | ...)
 * is one key for the whole address space. The caps say so; registering it
 * pins, faults and allocates nothing; memory mapped after it works as the
 * local and the remote side of every operation, beside explicit MRs;
 * prefetch works through it; the device sees munmap + mmap, and an
 * unmapped address or one past the user address space is an error; its
 * tables grow with what the device touched and shrink back when the
 * process unmaps it (a loop of mmap, RDMA, munmap), and are kept to a
 * bound while it keeps its memory mapped (idle leaves are dropped and
 * fault in again; a bound out of range is refused); after dereg its key
 * is dead.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/mman.h>

#include "odp.h"
#include "verbs.h"

/* A page table leaf of the mirror: 512 entries of 8 bytes. */
#define LEAF_BYTES	4096

/*
 * The bound on the leaves an implicit MR keeps (hodp's implicit_leaves,
 * read when the process's mirror gets its first implicit MR): set low so
 * that a working set three times as large stays quick to run.
 */
#define IDLE_BOUND	16
#define BOUND_PARAM	"/sys/module/hodp/parameters/implicit_leaves"

static struct ctx c;
static struct ibv_mr *imr;	/* the implicit MR */
static char bound_old[32];	/* implicit_leaves before main() set it */
static int bound_set;		/* main() set it to IDLE_BOUND */

/* One signalled WR from @qp, local and remote through @lmr / @rmr. */
static int run(struct ibv_qp *qp, enum ibv_wr_opcode op, struct ibv_mr *lmr,
	       void *laddr, uint32_t len, struct ibv_mr *rmr, uint64_t raddr)
{
	struct ibv_sge sge = { (uintptr_t)laddr, len, lmr->lkey };
	struct ibv_send_wr wr = { .wr_id = 1, .sg_list = &sge, .num_sge = 1,
				  .opcode = op,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_wc wc;

	if (op == IBV_WR_ATOMIC_FETCH_AND_ADD ||
	    op == IBV_WR_ATOMIC_CMP_AND_SWP) {
		wr.wr.atomic.remote_addr = raddr;
		wr.wr.atomic.rkey = rmr->rkey;
		wr.wr.atomic.compare_add = 5;
		wr.wr.atomic.swap = 0x1122334455667788ULL;
	} else if (rmr) {
		wr.wr.rdma.remote_addr = raddr;
		wr.wr.rdma.rkey = rmr->rkey;
	}
	if (post_send(qp, &wr))
		return -2;
	return poll_one(c.cq, &wc);
}

static void destroy_pair(struct rc_pair *p)
{
	ibv_destroy_qp(p->a);
	ibv_destroy_qp(p->b);
}

static void test_caps(void)
{
	struct ibv_device_attr_ex a;

	memset(&a, 0, sizeof(a));
	check_fatal("query_device_ex", !ibv_query_device_ex(c.ctx, NULL, &a),
		    "%s", strerror(errno));
	check("caps: implicit ODP supported",
	      a.odp_caps.general_caps & IBV_ODP_SUPPORT_IMPLICIT,
	      "general caps 0x%lx", (unsigned long)a.odp_caps.general_caps);
}

static void test_registration(void)
{
	long pin0 = status_kb("VmPin"), rss0 = status_kb("VmRSS");
	long long f0 = odp_faults(), pt0 = hmm_stat("pt_bytes");
	struct ibv_mr *bad;
	long pin, rss;

	imr = ibv_reg_mr(c.pd, NULL, SIZE_MAX, ODP_ACCESS);
	check_fatal("registration: ibv_reg_mr(NULL, SIZE_MAX, ON_DEMAND)", imr,
		    "%s", strerror(errno));
	pin = status_kb("VmPin");
	rss = status_kb("VmRSS");
	check("registration: pins nothing", pin0 == 0 && pin == 0,
	      "VmPin %ld kB -> %ld kB", pin0, pin);
	check("registration: faults nothing in (RSS grew < 4 MiB)",
	      rss >= 0 && rss - rss0 < 4096, "VmRSS %ld kB -> %ld kB", rss0,
	      rss);
	check("registration: takes no device fault and no mirror table",
	      f0 >= 0 && odp_faults() == f0 && pt0 >= 0 &&
	      hmm_stat("pt_bytes") == pt0, "odp_faults %lld -> %lld, "
	      "pt_bytes %lld -> %lld", f0, odp_faults(), pt0,
	      hmm_stat("pt_bytes"));
	bad = ibv_reg_mr_iova(c.pd, NULL, SIZE_MAX, 4096, ODP_ACCESS);
	check("registration: an implicit MR at an iova other than 0 is refused",
	      !bad && errno == EINVAL, "%s", bad ? "registered" :
	      strerror(errno));
	if (bad)
		ibv_dereg_mr(bad);
	{
		/* Page offset as the buffer's, 2 pages before 2^64. */
		uint64_t iova = UINT64_MAX - 8191;
		void *buf = mmap(NULL, 16384, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		bad = ibv_reg_mr_iova(c.pd, buf, 16384, iova, ODP_ACCESS);
		check("registration: an ODP MR whose iova range wraps is refused",
		      !bad && errno == EINVAL, "%s", bad ? "registered" :
		      strerror(errno));
		if (bad)
			ibv_dereg_mr(bad);
		bad = ibv_reg_mr_iova(c.pd, buf, 16384, iova, ALL_ACCESS);
		check("registration: a pinned MR whose iova range wraps is refused",
		      !bad && errno == EINVAL, "%s", bad ? "registered" :
		      strerror(errno));
		if (bad)
			ibv_dereg_mr(bad);
		munmap(buf, 16384);
	}
	bad = ibv_reg_mr(c.pd, NULL, SIZE_MAX, ALL_ACCESS);
	check("registration: the whole address space pinned is refused", !bad,
	      "registered");
	if (bad)
		ibv_dereg_mr(bad);
}

/* Every operation, both sides through the implicit MR, on cold memory. */
static void test_ops(void)
{
	struct rc_pair qp = rc_pair(&c, ALL_ACCESS, 7);
	uint8_t *a = map(MIB), *b = map(MIB);
	uint64_t *w = (uint64_t *)b;
	struct ibv_wc wc;
	int st, st2;

	fill(a, MIB, 3);
	st = run(qp.a, IBV_WR_RDMA_WRITE, imr, a, MIB, imr, (uintptr_t)b);
	check("ops: write of 1 MiB, mapped after registration",
	      st == IBV_WC_SUCCESS && !memcmp(a, b, MIB), "status %d", st);
	fill(b, MIB, 4);
	st = run(qp.a, IBV_WR_RDMA_READ, imr, a, MIB, imr, (uintptr_t)b);
	check("ops: read of 1 MiB", st == IBV_WC_SUCCESS && !memcmp(a, b, MIB),
	      "status %d", st);
	fill(a, 4096, 5);
	st = post_recv(qp.b, imr, b + 8192, 4096, 9);
	/* Two completions on the one CQ: the send's (1), the receive's (9). */
	st2 = st ? -1 : run(qp.a, IBV_WR_SEND, imr, a, 4096, NULL, 0);
	st = st2 == IBV_WC_SUCCESS ? poll_one(c.cq, &wc) : -1;
	check("ops: send into a receive of the implicit MR",
	      st2 == IBV_WC_SUCCESS && st == IBV_WC_SUCCESS &&
	      !memcmp(a, b + 8192, 4096), "status %d, %d", st2, st);
	w[0] = 5;
	st = run(qp.a, IBV_WR_ATOMIC_CMP_AND_SWP, imr, a, 8, imr, (uintptr_t)w);
	check("ops: compare-and-swap", st == IBV_WC_SUCCESS &&
	      w[0] == 0x1122334455667788ULL && *(uint64_t *)a == 5,
	      "status %d, target 0x%llx", st, (unsigned long long)w[0]);
	w[1] = 10;
	st = run(qp.a, IBV_WR_ATOMIC_FETCH_AND_ADD, imr, a, 8, imr,
		 (uintptr_t)&w[1]);
	check("ops: fetch-and-add", st == IBV_WC_SUCCESS && w[1] == 15 &&
	      *(uint64_t *)a == 10, "status %d, target %llu", st,
	      (unsigned long long)w[1]);
	munmap(a, MIB);
	munmap(b, MIB);
	destroy_pair(&qp);
}

/* An explicit ODP MR and a pinned one on one side, the implicit on the other. */
static void test_beside_explicit(void)
{
	struct rc_pair qp = rc_pair(&c, ALL_ACCESS, 7);
	uint8_t *a = map(MIB), *b = map(MIB), *p = map(MIB);
	struct ibv_mr *emr = ibv_reg_mr(c.pd, a, MIB, ODP_ACCESS);
	struct ibv_mr *pmr = ibv_reg_mr(c.pd, p, MIB, ALL_ACCESS);
	int st, st2;

	check_fatal("explicit ODP and pinned MRs", emr && pmr, "%s",
		    strerror(errno));
	fill(a, MIB, 6);
	fill(p, MIB, 7);
	st = run(qp.a, IBV_WR_RDMA_WRITE, emr, a, MIB / 2, imr, (uintptr_t)b);
	st2 = run(qp.a, IBV_WR_RDMA_WRITE, pmr, p, MIB / 2, imr,
		  (uintptr_t)b + MIB / 2);
	check("beside: explicit ODP and pinned sources into the implicit MR",
	      st == IBV_WC_SUCCESS && st2 == IBV_WC_SUCCESS &&
	      !memcmp(a, b, MIB / 2) && !memcmp(p, b + MIB / 2, MIB / 2),
	      "status %d, %d", st, st2);
	fill(b, MIB, 8);
	st = run(qp.a, IBV_WR_RDMA_WRITE, imr, b, MIB, emr, (uintptr_t)a);
	check("beside: the implicit MR as source into an explicit ODP MR",
	      st == IBV_WC_SUCCESS && !memcmp(a, b, MIB), "status %d", st);
	ibv_dereg_mr(emr);
	ibv_dereg_mr(pmr);
	munmap(a, MIB);
	munmap(b, MIB);
	munmap(p, MIB);
	destroy_pair(&qp);
}

/* A synchronous prefetch through the implicit MR: the write takes no fault. */
static void test_prefetch(void)
{
	struct rc_pair qp = rc_pair(&c, ALL_ACCESS, 7);
	uint8_t *a = map(MIB), *b = map(MIB);
	struct ibv_sge sge[2] = { { (uintptr_t)a, MIB, imr->lkey },
				  { (uintptr_t)b, MIB, imr->lkey } };
	long long f0, f1;
	int ret, st;

	fill(a, MIB, 9);
	ret = ibv_advise_mr(c.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
			    IBV_ADVISE_MR_FLAG_FLUSH, sge, 2);
	check("prefetch: PREFETCH_WRITE of two ranges of the implicit MR",
	      !ret, "%s", strerror(ret == -1 ? errno : ret));
	f0 = odp_faults();
	st = run(qp.a, IBV_WR_RDMA_WRITE, imr, a, MIB, imr, (uintptr_t)b);
	f1 = odp_faults();
	check("prefetch: the write after it takes no fault and lands",
	      st == IBV_WC_SUCCESS && f1 == f0 && !memcmp(a, b, MIB),
	      "status %d, odp_faults %lld -> %lld", st, f0, f1);
	munmap(a, MIB);
	munmap(b, MIB);
	destroy_pair(&qp);
}

/* munmap + mmap, unmapped memory, an address past the address space. */
static void test_coherence(void)
{
	struct rc_pair qp = rc_pair(&c, ALL_ACCESS, 7);
	uint8_t *a = map(MIB), *b = map(MIB), *b2;
	int st;

	fill(a, MIB, 10);
	memset(b, 0x11, MIB);
	st = run(qp.a, IBV_WR_RDMA_READ, imr, a, MIB, imr, (uintptr_t)b);
	check("coherence: read before", st == IBV_WC_SUCCESS && a[0] == 0x11,
	      "status %d", st);
	munmap(b, MIB);
	b2 = mmap(b, MIB, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	check_fatal("mmap again", b2 == b, "%s", strerror(errno));
	memset(b, 0x22, MIB);
	st = run(qp.a, IBV_WR_RDMA_READ, imr, a, MIB, imr, (uintptr_t)b);
	check("coherence: after munmap + mmap the new pages are read",
	      st == IBV_WC_SUCCESS && a[0] == 0x22 && a[MIB - 1] == 0x22,
	      "status %d, 0x%x", st, a[0]);
	munmap(b, MIB);
	st = run(qp.a, IBV_WR_RDMA_WRITE, imr, a, 4096, imr, (uintptr_t)b);
	check("coherence: a write into unmapped memory is a remote access error",
	      st == IBV_WC_REM_ACCESS_ERR, "status %d", st);
	destroy_pair(&qp);

	qp = rc_pair(&c, ALL_ACCESS, 7);
	st = run(qp.a, IBV_WR_RDMA_WRITE, imr, b, 4096, imr, (uintptr_t)a);
	check("coherence: an unmapped local buffer is a local protection error",
	      st == IBV_WC_LOC_PROT_ERR, "status %d", st);
	destroy_pair(&qp);

	qp = rc_pair(&c, ALL_ACCESS, 7);
	st = run(qp.a, IBV_WR_RDMA_WRITE, imr, a, 4096, imr, 1ULL << 56);
	check("coherence: an address past the user address space is a remote access error",
	      st == IBV_WC_REM_ACCESS_ERR, "status %d", st);
	munmap(a, MIB);
	destroy_pair(&qp);
}

/*
 * Its tables follow the memory the device touched: a loop mapping 4 MiB at
 * a time, writing all of it over RDMA, checking it and unmapping it ends
 * with the mirror's tables where they were before the loop (emptied leaves
 * are freed), not at the 64 MiB the loop went through.
 */
static void test_churn(void)
{
	struct rc_pair qp = rc_pair(&c, ALL_ACCESS, 7);
	size_t len = 4 * MIB;
	uint8_t *src = map(len), *dst;
	long long pt0, pt_peak = 0, pt1;
	int i, st = 0, bad = 0;

	fill(src, len, 12);
	/* The source faulted in once, before the baseline. */
	dst = map(len);
	st = run(qp.a, IBV_WR_RDMA_WRITE, imr, src, len, imr, (uintptr_t)dst);
	munmap(dst, len);
	pt0 = hmm_stat("pt_bytes");
	for (i = 0; i < 16 && st == IBV_WC_SUCCESS; i++) {
		long long pt;

		/* A hole in front moves each round's range. */
		void *hole = map((size_t)(i + 1) * 2 * MIB);

		dst = map(len);
		st = run(qp.a, IBV_WR_RDMA_WRITE, imr, src, len, imr,
			 (uintptr_t)dst);
		bad += memcmp(src, dst, len) != 0;
		pt = hmm_stat("pt_bytes");
		if (pt > pt_peak)
			pt_peak = pt;
		munmap(dst, len);
		munmap(hole, (size_t)(i + 1) * 2 * MIB);
	}
	pt1 = hmm_stat("pt_bytes");
	check("churn: 16 rounds of mmap, RDMA write, munmap, data right",
	      i == 16 && st == IBV_WC_SUCCESS && !bad,
	      "round %d: status %d, %d rounds wrong", i, st, bad);
	check("churn: the tables grew with the memory touched",
	      pt_peak - pt0 >= (long long)(len / 4096 * 8),
	      "pt_bytes peak +%lld for a %zu MiB round", pt_peak - pt0,
	      len / MIB);
	check("churn: and shrank back when it was unmapped",
	      pt0 >= 0 && pt1 <= pt0 + LEAF_BYTES,
	      "pt_bytes %lld before, %lld after", pt0, pt1);
	munmap(src, len);
	destroy_pair(&qp);
}

/*
 * Idle leaves are reclaimed: through the implicit MR, 3 x IDLE_BOUND
 * chunks of 2 MiB (one leaf each), all kept mapped, are written and read
 * back over RDMA. The mirror's tables never hold more leaves than the
 * bound (plus the two an explicit ODP MR over the first 4 MiB keeps)
 * beyond what they held before, the reads fault the dropped leaves in
 * again, and every byte is right. The explicit MR's leaves are not
 * dropped: a transfer within it afterwards takes no fault.
 */
static void test_idle(void)
{
	struct rc_pair qp = rc_pair(&c, ALL_ACCESS, 7);
	size_t chunk = 2 * MIB, n = 3 * IDLE_BOUND, len = n * chunk;
	uint8_t *src = map(chunk), *chk = map(chunk), *raw = map(len + chunk);
	/* Leaf (2 MiB) aligned: each chunk is one leaf of the mirror. */
	uint8_t *dst = (uint8_t *)(((uintptr_t)raw + chunk - 1) &
				   ~(uintptr_t)(chunk - 1));
	struct ibv_mr *emr = ibv_reg_mr(c.pd, dst, 2 * chunk, ODP_ACCESS);
	long long pt0, mp0, pt_peak = 0, mp_peak = 0, f0, f1;
	long long limit = IDLE_BOUND + 2;
	int st = IBV_WC_SUCCESS, bad = 0, badread = 0;
	size_t i, w = 0, r = 0;

	check_fatal("idle: explicit ODP MR over the first 4 MiB", emr, "%s",
		    strerror(errno));
	check("idle: the bound set to 16 leaves (hodp implicit_leaves)",
	      bound_set, "cannot write %s", BOUND_PARAM);
	memset(src, 0, chunk);
	memset(chk, 0, chunk);
	pt0 = hmm_stat("pt_bytes");
	mp0 = hmm_stat("mirrored_pages");
	for (i = 0; i < n && st == IBV_WC_SUCCESS; i++, w++) {
		long long pt, mp;

		fill(src, chunk, 100 + i);
		st = run(qp.a, IBV_WR_RDMA_WRITE, imr, src, chunk, imr,
			 (uintptr_t)(dst + i * chunk));
		bad += memcmp(src, dst + i * chunk, chunk) != 0;
		pt = hmm_stat("pt_bytes");
		mp = hmm_stat("mirrored_pages");
		pt_peak = pt > pt_peak ? pt : pt_peak;
		mp_peak = mp > mp_peak ? mp : mp_peak;
	}
	check("idle: 48 chunks of 2 MiB written through the implicit MR, all mapped, data right",
	      w == n && st == IBV_WC_SUCCESS && !bad,
	      "chunk %zu: status %d, %d chunks wrong", w, st, bad);
	f0 = odp_faults();
	for (i = 0; i < n && st == IBV_WC_SUCCESS; i++, r++) {
		long long pt, mp;

		memset(chk, 0, chunk);
		st = run(qp.a, IBV_WR_RDMA_READ, imr, chk, chunk, imr,
			 (uintptr_t)(dst + i * chunk));
		fill(src, chunk, 100 + i);
		badread += memcmp(src, chk, chunk) != 0;
		pt = hmm_stat("pt_bytes");
		mp = hmm_stat("mirrored_pages");
		pt_peak = pt > pt_peak ? pt : pt_peak;
		mp_peak = mp > mp_peak ? mp : mp_peak;
	}
	f1 = odp_faults();
	check("idle: and read back over RDMA, every byte right",
	      r == n && st == IBV_WC_SUCCESS && !badread,
	      "chunk %zu: status %d, %d chunks wrong", r, st, badread);
	check("idle: the tables grew with the memory touched",
	      pt0 >= 0 && pt_peak - pt0 >= 4 * LEAF_BYTES,
	      "pt_bytes %lld before, peak %lld", pt0, pt_peak);
	check("idle: page-table bytes stay within the bound while all is mapped",
	      pt0 >= 0 && pt_peak - pt0 <= limit * LEAF_BYTES,
	      "pt_bytes %lld before, peak %lld: %lld leaves more, bound %d + 2 of the explicit MR",
	      pt0, pt_peak, (pt_peak - pt0) / LEAF_BYTES, IDLE_BOUND);
	check("idle: mirrored pages stay within the bound while all is mapped",
	      mp0 >= 0 && mp_peak - mp0 <= limit * 512,
	      "mirrored_pages %lld before, peak %lld, bound %lld", mp0,
	      mp_peak, limit * 512);
	check("idle: the reads faulted the dropped leaves in again",
	      f0 >= 0 && f1 - f0 >= (long long)n - limit,
	      "odp_faults %lld -> %lld over %zu chunks", f0, f1, n);
	f0 = odp_faults();
	st = run(qp.a, IBV_WR_RDMA_WRITE, emr, dst + chunk, chunk, emr,
		 (uintptr_t)dst);
	f1 = odp_faults();
	fill(src, chunk, 101);
	check("idle: the explicit MR's leaves were kept: a write within it takes no fault",
	      st == IBV_WC_SUCCESS && f0 >= 0 && f1 == f0 &&
	      !memcmp(dst, src, chunk),
	      "status %d, odp_faults %lld -> %lld", st, f0, f1);
	ibv_dereg_mr(emr);
	munmap(src, chunk);
	munmap(chk, chunk);
	munmap(raw, len + chunk);
	destroy_pair(&qp);
}

static void test_dereg(void)
{
	struct rc_pair qp = rc_pair(&c, ALL_ACCESS, 7);
	uint8_t *a = map(4096), *b = map(4096);
	struct ibv_mr *am = ibv_reg_mr(c.pd, a, 4096, ODP_ACCESS);
	uint32_t rkey = imr->rkey;
	struct ibv_mr dead = { .rkey = rkey };
	int st;

	check_fatal("explicit MR", am, "%s", strerror(errno));
	memset(b, 0x33, 4096);
	check("dereg: deregisters", !ibv_dereg_mr(imr), "%s", strerror(errno));
	st = run(qp.a, IBV_WR_RDMA_WRITE, am, a, 4096, &dead, (uintptr_t)b);
	check("dereg: its key no longer reaches memory",
	      st == IBV_WC_REM_ACCESS_ERR && b[0] == 0x33, "status %d", st);
	ibv_dereg_mr(am);
	munmap(a, 4096);
	munmap(b, 4096);
	destroy_pair(&qp);
}

/* Write @val to the bound: 0, or the errno the write got. */
static int bound_write(const char *val)
{
	FILE *f = fopen(BOUND_PARAM, "w");
	int err;

	if (!f)
		return errno;
	setvbuf(f, NULL, _IONBF, 0);
	err = fputs(val, f) < 0 ? errno : 0;
	if (fclose(f) && !err)
		err = errno;
	return err;
}

/* The bound now, -1 if unreadable. */
static long bound_read(void)
{
	FILE *f = fopen(BOUND_PARAM, "r");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/*
 * A bound out of range (16-8192) is refused, not clamped silently: the
 * one who set it would believe in a bound the mirrors do not have.
 */
static void test_bound_param(void)
{
	int low, high;
	long v;

	check("bound: the test set it to 16", bound_set, "cannot write %s",
	      BOUND_PARAM);
	low = bound_write("8\n");
	high = bound_write("100000\n");
	v = bound_read();
	check("bound: a value below 16 or above 8192 is refused (EINVAL)",
	      low == EINVAL && high == EINVAL, "8: %s, 100000: %s",
	      low ? strerror(low) : "accepted",
	      high ? strerror(high) : "accepted");
	check("bound: and leaves it as it was", v == IDLE_BOUND,
	      "reads %ld", v);
	/* For the tests after (the implicit MR is not registered yet). */
	if (v != IDLE_BOUND)
		bound_write("16\n");
}

static void bound_restore(void)
{
	FILE *f = bound_set ? fopen(BOUND_PARAM, "w") : NULL;

	if (f) {
		fputs(bound_old, f);
		fclose(f);
	}
}

/* Before the process's first ODP MR: its mirror reads the bound then. */
static void bound_lower(void)
{
	FILE *f = fopen(BOUND_PARAM, "r");

	if (!f)
		return;
	if (!fgets(bound_old, sizeof(bound_old), f)) {
		fclose(f);
		return;
	}
	fclose(f);
	f = fopen(BOUND_PARAM, "w");
	if (!f)
		return;
	bound_set = fprintf(f, "%d\n", IDLE_BOUND) > 0;
	bound_set = !fclose(f) && bound_set;
	atexit(bound_restore);
}

int main(void)
{
	int kmsg = kmsg_open();

	bound_lower();
	open_dev(&c, "hodp0");
	test_caps();
	test_bound_param();
	test_registration();
	test_ops();
	test_beside_explicit();
	test_prefetch();
	test_coherence();
	test_churn();
	test_idle();
	test_dereg();
	kmsg_check(kmsg, "the kernel reported nothing");
	return check_done();
}
