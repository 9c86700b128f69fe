// SPDX-License-Identifier: GPL-2.0
/*
 * odp_bench [BW_MIB [COLD_MIB [BIG_MIB]]]: hodp0's on-demand paging (ODP)
 * next to pinned memory, in one guest run (benchmarks/run odp). Prints one
 * JSON object. A loopback RC pair in this process; every figure measured
 * ROUNDS times, side by side with what it is compared to, reported as
 * median/min/max. Every transfer's bytes are checked: wrong data or a
 * failed completion ends the run with exit status 1.
 *
 *  bandwidth      RDMA write, read, send at 4 KiB, 64 KiB, 1 MiB, BW_MIB
 *                 (default 32) per measurement over 8 MiB buffers, 16 WRs
 *                 in flight: warm explicit ODP MRs (every page mirrored),
 *                 the implicit ODP MR (ibv_reg_mr(pd, NULL, SIZE_MAX)) over
 *                 buffers of its own, warm too, and pinned MRs; ratios
 *                 odp_over_pinned, implicit_over_pinned, implicit_over_odp.
 *  cold           RDMA write of COLD_MIB (default 64) from a pinned source
 *                 into a fresh, never touched ODP mapping, 16 MiB chunk by
 *                 chunk, each chunk written again right after (warm):
 *                 cold_over_warm (bandwidth), and the fault service time
 *                 per 4 KiB page (cold - warm) against the CPU's first
 *                 touch of a fresh anonymous mapping of the same size:
 *                 fault_over_cpu_minor.
 *  cold, THP      the same into a MADV_HUGEPAGE mapping on 2 MiB
 *                 boundaries, whose faults (device and CPU) allocate 2 MiB
 *                 pages: cold_write_thp, with the huge KiB of its mapping.
 *  first touch    the same cold write at 4 KiB, 64 KiB and 1 MiB messages:
 *                 without prefetch, after a synchronous PREFETCH_WRITE
 *                 (IBV_ADVISE_MR_FLAG_FLUSH) of each chunk, after an
 *                 asynchronous one (the advise call timed with the write),
 *                 each against its chunk's warm rewrite and the same write
 *                 into a pinned destination; the device's fault counter
 *                 per pass.
 *  fault service  per page: one 4 KiB write at a time into each page of a
 *                 fresh ODP mapping, cold then warm at once, the difference
 *                 the page's fault service; the CPU's first touch of each
 *                 page of a fresh mapping; percentiles 0..100.
 *  table memory   the HMM mirror's page-table bytes (debugfs) added by
 *                 writing 1 to 256 MiB of fresh memory through the implicit
 *                 MR and through an explicit ODP MR, and left after munmap;
 *                 a sparse set (a page every 2 MiB over 1 GiB).
 *  registration   ibv_reg_mr time, pinned and ODP, of 4 KiB, 1 MiB,
 *                 64 MiB, BIG_MIB (default 1024), and 2 GiB for ODP, on
 *                 fresh untouched memory and on memory the CPU wrote first;
 *                 pinned_over_odp; the implicit MR's registration beside
 *                 each, odp_over_implicit. And whether an 8 GiB ODP
 *                 registration (past the 2 GiB max_mr_size of pinned MRs)
 *                 is taken.
 *  munmap         of BIG_MIB written by the CPU and registered ODP (every
 *                 page mirrored by the registration's snapshot) against the
 *                 same unregistered: registered_over_unregistered.
 *
 * Progress (which step, which round) goes to stderr; at every step the
 * same pinned 8 MiB write is timed (drift_probe), to show how steady the
 * guest's speed was over the run.
 * Mappings are MADV_NOHUGEPAGE (but cold_write_thp's): 4 KiB faults for
 * the CPU and the device.
 *
 * HODP_ODP_BENCH_ONLY=cold,first_touch runs only the sections it names
 * (parse_only() below). Completions are polled, busily, as perftest does by
 * default; with HODP_ODP_BENCH_EVENTS=1 the process sleeps on a
 * completion channel instead (perftest's --use_event), which leaves its
 * CPU to the kernel's work.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <infiniband/verbs.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "counters.h"

#define PAGE	4096UL
#define MIB	(1UL << 20)
#define ROUNDS	5
#define DEPTH	16
#define BWBUF	(8 * MIB)
#define CHUNK	(16 * MIB)
#define ODP	(IBV_ACCESS_ON_DEMAND)
#define ACCESS	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
		 IBV_ACCESS_REMOTE_READ)

static struct ibv_context *ctx;
static struct ibv_pd *pd;
static struct ibv_cq *scq, *rcq;
static struct ibv_comp_channel *chan;	/* HODP_ODP_BENCH_EVENTS */
static struct ibv_qp *qa, *qb;
static union ibv_gid gid;
static int rd_atom = 1;

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what, const char *why)
{
	fprintf(stderr, "odp_bench: %s: %s\n", what, why);
	exit(1);
}

static void *map(size_t len, int flags)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);

	if (p == MAP_FAILED)
		die("mmap", strerror(errno));
	madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

/*
 * A mapping of @len (a multiple of 2 MiB) on 2 MiB boundaries, with
 * MADV_HUGEPAGE: its faults, the CPU's or the device's, allocate 2 MiB
 * pages (transparent huge pages) where the kernel has them.
 */
static void *map_thp(size_t len)
{
	size_t huge = 2 * MIB;
	char *raw = mmap(NULL, len + huge, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *p;

	if (raw == MAP_FAILED)
		die("mmap", strerror(errno));
	p = (char *)(((uintptr_t)raw + huge - 1) & ~(uintptr_t)(huge - 1));
	if (p > raw)
		munmap(raw, p - raw);
	munmap(p + len, raw + huge - p);
	madvise(p, len, MADV_HUGEPAGE);
	return p;
}

/* KiB of the mapping at @p backed by huge pages (smaps), or -1. */
static long anon_huge_kib(const void *p)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[256];
	long kib = -1;
	int in = 0;

	while (f && fgets(line, sizeof(line), f)) {
		unsigned long a, b;

		if (sscanf(line, "%lx-%lx ", &a, &b) == 2)
			in = a == (uintptr_t)p;
		else if (in && sscanf(line, "AnonHugePages: %ld kB", &kib) == 1)
			break;
	}
	if (f)
		fclose(f);
	return kib;
}

static struct ibv_mr *reg(void *p, size_t len, int odp)
{
	struct ibv_mr *mr = ibv_reg_mr(pd, p, len, ACCESS | (odp ? ODP : 0));

	if (!mr)
		die(odp ? "ODP registration" : "pinned registration",
		    strerror(errno));
	return mr;
}

/* A byte pattern of @seed over @len (a multiple of 8) bytes. */
static void fill(void *p, size_t len, uint64_t seed)
{
	uint64_t *w = p;

	for (size_t i = 0; i < len / 8; i++)
		w[i] = (seed = seed * 6364136223846793005ULL + 1442695040888963407ULL);
}

/* The CPU writes one byte a page: each a first-touch fault if fresh. */
static double touch(char *p, size_t len)
{
	double t = now();

	for (size_t i = 0; i < len; i += PAGE)
		p[i] = 1;
	return now() - t;
}

static int connect_qp(struct ibv_qp *qp, uint32_t dqpn)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT, .port_num = 1,
		.qp_access_flags = ACCESS,
	};

	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			  IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = dqpn;
	a.max_dest_rd_atomic = rd_atom;
	a.min_rnr_timer = 1;
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.dgid = gid;
	a.ah_attr.grh.sgid_index = 1;
	a.ah_attr.grh.hop_limit = 1;
	a.ah_attr.port_num = 1;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
			  IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = 14;
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.max_rd_atomic = rd_atom;
	return ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT |
			     IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
			     IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC);
}

static void setup(void)
{
	const char *events = getenv("HODP_ODP_BENCH_EVENTS");
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_device_attr da;
	struct ibv_qp_init_attr init = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 64, .max_recv_wr = 64,
			 .max_send_sge = 1, .max_recv_sge = 1 },
	};

	for (int i = 0; list && list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), "hodp0"))
			ctx = ibv_open_device(list[i]);
	if (!ctx)
		die("hodp0", "not found");
	ibv_free_device_list(list);
	if (!ibv_query_device(ctx, &da) && da.max_qp_rd_atom > 0)
		rd_atom = da.max_qp_rd_atom < DEPTH ? da.max_qp_rd_atom : DEPTH;
	pd = ibv_alloc_pd(ctx);
	/* Set, and neither empty nor 0 (benchmarks/run passes it when set). */
	if (events && *events && strcmp(events, "0")) {
		chan = ibv_create_comp_channel(ctx);
		if (!chan)
			die("ibv_create_comp_channel", strerror(errno));
	}
	scq = ibv_create_cq(ctx, 256, NULL, chan, 0);
	rcq = ibv_create_cq(ctx, 256, NULL, chan, 0);
	if (!pd || !scq || !rcq || ibv_query_gid(ctx, 1, 1, &gid))
		die("pd, cq, gid", strerror(errno));
	init.send_cq = scq;
	init.recv_cq = rcq;
	qa = ibv_create_qp(pd, &init);
	qb = ibv_create_qp(pd, &init);
	if (!qa || !qb || connect_qp(qa, qb->qp_num) ||
	    connect_qp(qb, qa->qp_num))
		die("RC pair", strerror(errno));
}

/* Wait for one completion on @cq (10 s at most); fatal unless success. */
static void wait_one(struct ibv_cq *cq)
{
	struct ibv_wc wc;
	double t0 = now();
	int n;

	while (!(n = ibv_poll_cq(cq, 1, &wc))) {
		if (now() - t0 > 10)
			die("completion", "none in 10 s");
		if (chan) {
			struct pollfd pfd = { .fd = chan->fd, .events = POLLIN };
			struct ibv_cq *ecq;
			void *ectx;

			if (ibv_req_notify_cq(cq, 0))
				die("notify", strerror(errno));
			if ((n = ibv_poll_cq(cq, 1, &wc)))
				break;
			/*
			 * Asleep, a second at most: the 10 s bound holds. (An
			 * event of a CQ armed when the poll above found a
			 * completion stays unread: a later wait may not sleep.)
			 */
			if (poll(&pfd, 1, 1000) <= 0)
				continue;
			if (ibv_get_cq_event(chan, &ecq, &ectx))
				die("cq event", strerror(errno));
			ibv_ack_cq_events(ecq, 1);
		}
	}
	if (n < 0 || wc.status != IBV_WC_SUCCESS)
		die("completion", n < 0 ? "poll failed" :
		    ibv_wc_status_str(wc.status));
}

/*
 * @n work requests of @op, @size bytes each, 16 in flight, from qa: the
 * local side in @l (@lmr), the remote side in @r (@rmr), each at offset
 * (i * size) % @span. For SEND, qb receives into @r. The time taken.
 */
static double transfer(enum ibv_wr_opcode op, size_t size, size_t n,
		       size_t span, char *l, struct ibv_mr *lmr, char *r,
		       struct ibv_mr *rmr)
{
	size_t posted = 0, done = 0, recvd = 0;
	double t = now();

	while (done < n) {
		while (posted < n && posted - done < DEPTH) {
			size_t off = posted * size % span;
			struct ibv_sge sge = { (uintptr_t)(l + off), size,
					       lmr->lkey };
			struct ibv_send_wr wr = {
				.sg_list = &sge, .num_sge = 1, .opcode = op,
				.send_flags = IBV_SEND_SIGNALED,
			}, *bad;

			if (op == IBV_WR_SEND) {
				struct ibv_sge rs = { (uintptr_t)(r + off), size,
						      rmr->lkey };
				struct ibv_recv_wr rw = { .sg_list = &rs,
							  .num_sge = 1 }, *rb;

				if (ibv_post_recv(qb, &rw, &rb))
					die("post recv", strerror(errno));
			} else {
				wr.wr.rdma.remote_addr = (uintptr_t)(r + off);
				wr.wr.rdma.rkey = rmr->rkey;
			}
			if (ibv_post_send(qa, &wr, &bad))
				die("post send", strerror(errno));
			posted++;
		}
		wait_one(scq);
		done++;
		if (op == IBV_WR_SEND) {
			struct ibv_wc wc;
			int k;

			while ((k = ibv_poll_cq(rcq, 1, &wc)) > 0) {
				if (wc.status != IBV_WC_SUCCESS)
					die("receive",
					    ibv_wc_status_str(wc.status));
				recvd++;
			}
		}
	}
	while (op == IBV_WR_SEND && recvd < n) {
		wait_one(rcq);
		recvd++;
	}
	return now() - t;
}

static void same(const void *a, const void *b, size_t len, const char *what)
{
	if (memcmp(a, b, len))
		die(what, "wrong data");
}

/*
 * The drift probe: the same 8 MiB RDMA write, pinned to pinned in 1 MiB
 * messages, at every step of the run. Under TCG the guest's speed follows
 * the host's load: the probe shows how steady the run was (ratios of
 * figures measured in the same round are what the run reports).
 */
#define PROBE_MAX	128
static char *probe_a, *probe_b;
static struct ibv_mr *probe_amr, *probe_bmr;
static double probe_t[PROBE_MAX], probe_bw[PROBE_MAX];
static int probes;

static double probe(void)
{
	double t;

	if (!probe_a) {
		probe_a = map(BWBUF, 0);
		probe_b = map(BWBUF, 0);
		fill(probe_a, BWBUF, 4242);
		memset(probe_b, 0, BWBUF);
		probe_amr = reg(probe_a, BWBUF, 0);
		probe_bmr = reg(probe_b, BWBUF, 0);
	}
	t = transfer(IBV_WR_RDMA_WRITE, MIB, BWBUF / MIB, BWBUF, probe_a,
		     probe_amr, probe_b, probe_bmr);
	same(probe_a, probe_b, BWBUF, "probe");
	memset(probe_b, 0, BWBUF);
	return BWBUF / t / MIB;
}

/* Progress on stderr: which step, how far (the JSON goes to stdout). */
static void step(const char *fmt, ...)
{
	static double t0;
	double bw = probe();
	va_list ap;

	if (!t0)
		t0 = now();
	if (probes < PROBE_MAX) {
		probe_t[probes] = now() - t0;
		probe_bw[probes++] = bw;
	}
	fprintf(stderr, "odp_bench [%4.0f s, probe %4.0f MiB/s] ", now() - t0,
		bw);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void print_probes(void)
{
	printf("  \"drift_probe\": {\"what\": \"8 MiB RDMA write pinned to pinned, 1 MiB messages, at each step\", \"s\": [");
	for (int i = 0; i < probes; i++)
		printf("%.1f%s", probe_t[i], i < probes - 1 ? ", " : "");
	printf("], \"MiB_per_s\": [");
	for (int i = 0; i < probes; i++)
		printf("%.1f%s", probe_bw[i], i < probes - 1 ? ", " : "");
	printf("]}\n");
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* "name": {"median", "min", "max"[, "resolved"]} of v[ROUNDS]. */
static void figure(const char *indent, const char *name, const double *in,
		   int resolved, const char *end)
{
	double v[ROUNDS];

	memcpy(v, in, sizeof(v));
	qsort(v, ROUNDS, sizeof(*v), cmp);
	printf("%s\"%s\": {\"median\": %.4g, \"min\": %.4g, \"max\": %.4g",
	       indent, name, v[ROUNDS / 2], v[0], v[ROUNDS - 1]);
	if (resolved >= 0)
		printf(", \"resolved\": %s", resolved ? "true" : "false");
	printf("}%s\n", end);
}

static const char *const opname[] = { "write", "read", "send" };
static const enum ibv_wr_opcode opcode[] = {
	IBV_WR_RDMA_WRITE, IBV_WR_RDMA_READ, IBV_WR_SEND,
};
static const size_t bwsize[] = { 4096, 65536, MIB };

/* The implicit ODP MR: the whole address space, one key. */
static struct ibv_mr *reg_implicit(void)
{
	struct ibv_mr *mr = ibv_reg_mr(pd, NULL, SIZE_MAX, ACCESS | ODP);

	if (!mr)
		die("implicit ODP registration", strerror(errno));
	return mr;
}

static const char *const kindname[] = { "pinned", "odp", "implicit" };

static void bench_bandwidth(size_t bytes)
{
	/* [pinned, odp, implicit][a, b] */
	char *buf[3][2];
	struct ibv_mr *mr[3][2];
	double bw[3][3][3][ROUNDS], ratio[ROUNDS];
	uint64_t seed = 1;

	for (int k = 0; k < 3; k++)
		for (int s = 0; s < 2; s++) {
			buf[k][s] = map(BWBUF, 0);
			fill(buf[k][s], BWBUF, seed++);
			mr[k][s] = k == 2 ? s ? mr[k][0] : reg_implicit() :
				   reg(buf[k][s], BWBUF, k);
		}
	/* Warm up every page of the ODP buffers, both directions. */
	for (int k = 1; k < 3; k++) {
		transfer(IBV_WR_RDMA_WRITE, MIB, BWBUF / MIB, BWBUF, buf[k][0],
			 mr[k][0], buf[k][1], mr[k][1]);
		transfer(IBV_WR_RDMA_READ, MIB, BWBUF / MIB, BWBUF, buf[k][0],
			 mr[k][0], buf[k][1], mr[k][1]);
		same(buf[k][0], buf[k][1], BWBUF, "warm-up");
	}

	for (int r = 0; r < ROUNDS; r++) {
		step("warm bandwidth: round %d/%d (write, read, send; 4 KiB, 64 KiB, 1 MiB; pinned, explicit ODP, implicit ODP)",
		     r + 1, ROUNDS);
		for (int o = 0; o < 3; o++)
			for (int z = 0; z < 3; z++)
				for (int k = 0; k < 3; k++) {
					size_t n = bytes / bwsize[z];
					/* data flows from src to dst */
					int s = o == 1 ? 1 : 0;
					double t;

					if (n < BWBUF / bwsize[z])
						n = BWBUF / bwsize[z];
					fill(buf[k][s], BWBUF, seed++);
					t = transfer(opcode[o], bwsize[z], n,
						     BWBUF, buf[k][0], mr[k][0],
						     buf[k][1], mr[k][1]);
					same(buf[k][0], buf[k][1], BWBUF,
					     opname[o]);
					bw[o][z][k][r] = n * bwsize[z] / t / MIB;
				}
	}

	printf("  \"bandwidth_MiB_per_s\": {\n");
	for (int o = 0; o < 3; o++) {
		printf("    \"%s\": {\n", opname[o]);
		for (int z = 0; z < 3; z++) {
			printf("      \"%zu\": {\n", bwsize[z]);
			for (int k = 0; k < 3; k++)
				figure("        ", kindname[k], bw[o][z][k], -1,
				       ",");
			for (int r = 0; r < ROUNDS; r++)
				ratio[r] = bw[o][z][1][r] / bw[o][z][0][r];
			figure("        ", "odp_over_pinned", ratio, -1, ",");
			for (int r = 0; r < ROUNDS; r++)
				ratio[r] = bw[o][z][2][r] / bw[o][z][0][r];
			figure("        ", "implicit_over_pinned", ratio, -1,
			       ",");
			for (int r = 0; r < ROUNDS; r++)
				ratio[r] = bw[o][z][2][r] / bw[o][z][1][r];
			figure("        ", "implicit_over_odp", ratio, -1, "");
			printf("      }%s\n", z < 2 ? "," : "");
		}
		printf("    }%s\n", o < 2 ? "," : "");
	}
	printf("  },\n");
	for (int k = 0; k < 3; k++)
		for (int s = 0; s < 2; s++) {
			if (k < 2 || !s)
				ibv_dereg_mr(mr[k][s]);
			munmap(buf[k][s], BWBUF);
		}
}

/*
 * The cold write, into 4 KiB pages or, if @thp, into a MADV_HUGEPAGE
 * mapping whose faults allocate 2 MiB pages (cold_write_thp: the same
 * figures, and how much of the last round's mapping was huge pages).
 */
static void bench_cold(size_t len, int thp)
{
	char *src = map(CHUNK, 0);
	struct ibv_mr *smr = reg(src, CHUNK, 0);
	double cold[ROUNDS], warm[ROUNDS], fault[ROUNDS], cpu[ROUNDS];
	double r_bw[ROUNDS], r_fault[ROUNDS];
	size_t pages = len / PAGE;
	long huge_kib = -1;
	int resolved = 1;

	fill(src, CHUNK, 77);
	for (int r = 0; r < ROUNDS; r++) {
		char *p = thp ? map_thp(len) : map(len, 0);
		struct ibv_mr *mr = reg(p, len, 1);

		step("cold write%s: round %d/%d, %zu MiB",
		     thp ? " (huge pages)" : "", r + 1, ROUNDS, len / MIB);
		cold[r] = warm[r] = 0;
		for (size_t off = 0; off < len; off += CHUNK) {
			size_t n = len - off < CHUNK ? len - off : CHUNK;

			cold[r] += transfer(IBV_WR_RDMA_WRITE, MIB, n / MIB, n,
					    src, smr, p + off, mr);
			same(p + off, src, n, "cold write");
			warm[r] += transfer(IBV_WR_RDMA_WRITE, MIB, n / MIB, n,
					    src, smr, p + off, mr);
			same(p + off, src, n, "warm write");
		}
		if (thp)
			huge_kib = anon_huge_kib(p);
		ibv_dereg_mr(mr);
		munmap(p, len);

		p = thp ? map_thp(len) : map(len, 0);
		cpu[r] = touch(p, len) * 1e9 / pages;
		munmap(p, len);

		fault[r] = (cold[r] - warm[r]) * 1e9 / pages;
		if (fault[r] <= 0)
			resolved = 0;
		r_bw[r] = warm[r] / cold[r];
		r_fault[r] = fault[r] / cpu[r];
		cold[r] = len / cold[r] / MIB;
		warm[r] = len / warm[r] / MIB;
	}
	printf("  \"%s\": {\n    \"mib\": %zu,\n",
	       thp ? "cold_write_thp" : "cold_write", len / MIB);
	figure("    ", "cold_MiB_per_s", cold, -1, ",");
	figure("    ", "warm_MiB_per_s", warm, -1, ",");
	if (thp) {
		printf("    \"anon_huge_kib\": %ld,\n", huge_kib);
		figure("    ", "device_fault_ns_per_4k", fault, resolved, ",");
		figure("    ", "cpu_first_touch_ns_per_4k", cpu, -1, ",");
		figure("    ", "fault_over_cpu", r_fault, resolved, ",");
	}
	figure("    ", "cold_over_warm", r_bw, -1, "");
	if (!thp) {
		printf("  },\n  \"fault_per_page_ns\": {\n    \"mib\": %zu,\n",
		       len / MIB);
		figure("    ", "device_fault", fault, resolved, ",");
		figure("    ", "cpu_minor_fault", cpu, -1, ",");
		figure("    ", "fault_over_cpu_minor", r_fault, resolved, "");
	}
	printf("  },\n");
	ibv_dereg_mr(smr);
	munmap(src, CHUNK);
}

/* ibv_advise_mr(PREFETCH_WRITE) of @len at @p of @mr; fatal on error. */
static void prefetch(struct ibv_mr *mr, char *p, size_t len, uint32_t flags)
{
	struct ibv_sge sge = { (uintptr_t)p, len, mr->lkey };
	int ret = ibv_advise_mr(pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE, flags,
				&sge, 1);

	if (ret)
		die("ibv_advise_mr", strerror(ret == -1 ? errno : ret));
}

enum { FT_PINNED, FT_WARM, FT_COLD, FT_SYNC, FT_SYNC_XFER, FT_ASYNC,
       FT_SYNC_WARM, FT_ASYNC_WARM, FT_NR };

/*
 * First touch: RDMA write of @len from a pinned source into a fresh ODP
 * mapping never touched, at 4 KiB, 64 KiB and 1 MiB messages, 16 MiB
 * chunk by chunk: without prefetch, after a synchronous PREFETCH_WRITE of
 * the chunk (IBV_ADVISE_MR_FLAG_FLUSH; timed with the write, and the write
 * alone), after an asynchronous one (the call and the write); each chunk
 * written again right after (warm), and the same write into a pinned
 * destination, all in the same round.
 */
static void bench_first_touch(size_t len)
{
	static const char *const name[FT_NR] = {
		"pinned", "warm", "cold", "sync_prefetch",
		"sync_prefetch_write_only", "async_prefetch",
		"warm_after_sync", "warm_after_async",
	};
	char *src = map(CHUNK, 0), *pin = map(len, 0);
	struct ibv_mr *smr = reg(src, CHUNK, 0), *pmr;
	double t[3][FT_NR][ROUNDS], ratio[ROUNDS];
	long long faults[3][3][ROUNDS];

	fill(src, CHUNK, 78);
	memset(pin, 0, len);
	pmr = reg(pin, len, 0);
	for (int r = 0; r < ROUNDS; r++)
		for (int z = 0; z < 3; z++) {
			size_t sz = bwsize[z];

			step("first-touch write: round %d/%d, %zu-byte messages, %zu MiB (pinned; cold, sync prefetch, async prefetch, each then warm)",
			     r + 1, ROUNDS, sz, len / MIB);
			for (int m = 0; m < FT_NR; m++)
				t[z][m][r] = 0;
			for (size_t off = 0; off < len; off += CHUNK) {
				size_t n = len - off < CHUNK ? len - off : CHUNK;

				memset(pin + off, 0, n);
				t[z][FT_PINNED][r] +=
					transfer(IBV_WR_RDMA_WRITE, sz, n / sz,
						 n, src, smr, pin + off, pmr);
				same(pin + off, src, n, "pinned write");
			}
			for (int mode = 0; mode < 3; mode++) {
				char *p = map(len, 0);
				struct ibv_mr *mr = reg(p, len, 1);
				long long f0 = odp_faults(), f1;
				int cold = mode == 0 ? FT_COLD :
					   mode == 1 ? FT_SYNC : FT_ASYNC;
				int warm = mode == 0 ? FT_WARM : mode == 1 ?
					   FT_SYNC_WARM : FT_ASYNC_WARM;

				for (size_t off = 0; off < len; off += CHUNK) {
					size_t n = len - off < CHUNK ?
						   len - off : CHUNK;
					double t0 = now(), tx;

					if (mode)
						prefetch(mr, p + off, n, mode == 1 ?
							 IBV_ADVISE_MR_FLAG_FLUSH : 0);
					tx = transfer(IBV_WR_RDMA_WRITE, sz,
						      n / sz, n, src, smr,
						      p + off, mr);
					t[z][cold][r] += now() - t0;
					if (mode == 1)
						t[z][FT_SYNC_XFER][r] += tx;
					same(p + off, src, n, "cold write");
					t[z][warm][r] +=
						transfer(IBV_WR_RDMA_WRITE, sz,
							 n / sz, n, src, smr,
							 p + off, mr);
					same(p + off, src, n, "warm write");
				}
				f1 = odp_faults();
				faults[z][mode][r] = f0 < 0 || f1 < 0 ? -1 :
						     f1 - f0;
				ibv_dereg_mr(mr);
				munmap(p, len);
			}
			for (int m = 0; m < FT_NR; m++)
				t[z][m][r] = len / t[z][m][r] / MIB;
		}

	printf("  \"first_touch_write_MiB_per_s\": {\n    \"mib\": %zu,\n",
	       len / MIB);
	for (int z = 0; z < 3; z++) {
		printf("    \"%zu\": {\n", bwsize[z]);
		for (int m = 0; m < FT_NR; m++)
			figure("      ", name[m], t[z][m], -1, ",");
		for (int r = 0; r < ROUNDS; r++)
			ratio[r] = t[z][FT_WARM][r] / t[z][FT_PINNED][r];
		figure("      ", "warm_over_pinned", ratio, -1, ",");
		for (int r = 0; r < ROUNDS; r++)
			ratio[r] = t[z][FT_COLD][r] / t[z][FT_WARM][r];
		figure("      ", "cold_over_warm", ratio, -1, ",");
		for (int r = 0; r < ROUNDS; r++)
			ratio[r] = t[z][FT_SYNC][r] / t[z][FT_SYNC_WARM][r];
		figure("      ", "sync_prefetch_over_warm", ratio, -1, ",");
		for (int r = 0; r < ROUNDS; r++)
			ratio[r] = t[z][FT_ASYNC][r] / t[z][FT_ASYNC_WARM][r];
		figure("      ", "async_prefetch_over_warm", ratio, -1, ",");
		for (int r = 0; r < ROUNDS; r++)
			ratio[r] = t[z][FT_SYNC][r] / t[z][FT_COLD][r];
		figure("      ", "sync_prefetch_over_cold", ratio, -1, ",");
		for (int r = 0; r < ROUNDS; r++)
			ratio[r] = t[z][FT_ASYNC][r] / t[z][FT_COLD][r];
		figure("      ", "async_prefetch_over_cold", ratio, -1, ",");
		printf("      \"odp_faults_per_round\": {");
		for (int mode = 0; mode < 3; mode++) {
			printf("\"%s\": [", mode == 0 ? "cold" : mode == 1 ?
			       "sync_prefetch" : "async_prefetch");
			for (int r = 0; r < ROUNDS; r++)
				printf("%lld%s", faults[z][mode][r],
				       r < ROUNDS - 1 ? ", " : "");
			printf("]%s", mode < 2 ? ", " : "");
		}
		printf("}\n    }%s\n", z < 2 ? "," : "");
	}
	printf("  },\n");
	ibv_dereg_mr(pmr);
	ibv_dereg_mr(smr);
	munmap(pin, len);
	munmap(src, CHUNK);
}

/* Values of sorted @v[@n] at percentiles 0, 1, ..., 100, as a JSON list. */
static void percentiles(const char *indent, const char *name, double *v,
			size_t n, const char *end)
{
	qsort(v, n, sizeof(*v), cmp);
	printf("%s\"%s\": [", indent, name);
	for (int p = 0; p <= 100; p++)
		printf("%.0f%s", v[(n - 1) * p / 100], p < 100 ? ", " : "");
	printf("]%s\n", end);
}

/*
 * The device's fault service time, page by page: one 4 KiB RDMA write at a
 * time (one in flight) into each page of a fresh ODP mapping (cold: a
 * fault of that one page, the segment is one page), and the same write
 * again right after (warm); the fault is their difference, page by page.
 * Beside it the CPU's first touch of each page of a fresh mapping, timed
 * alone. @len per round, every round's pages pooled.
 */
static void bench_fault_dist(size_t len)
{
	size_t pages = len / PAGE, n = pages * ROUNDS, i = 0;
	double *cold = calloc(n, sizeof(double)), *warm = calloc(n, sizeof(double));
	double *fault = calloc(n, sizeof(double)), *cpu = calloc(n, sizeof(double));
	double clk[1000];
	char *src = map(PAGE, 0);
	struct ibv_mr *smr = reg(src, PAGE, 0);

	if (!cold || !warm || !fault || !cpu)
		die("fault distribution", "out of memory");
	fill(src, PAGE, 99);
	for (int k = 0; k < 1000; k++) {
		double t0 = now();

		clk[k] = (now() - t0) * 1e9;
	}
	for (int r = 0; r < ROUNDS; r++) {
		char *p = map(len, 0);
		struct ibv_mr *mr = reg(p, len, 1);

		step("fault service time: round %d/%d, %zu pages one at a time (cold, warm; CPU first touch)",
		     r + 1, ROUNDS, pages);
		for (size_t k = 0; k < pages; k++, i++) {
			char *d = p + k * PAGE;

			cold[i] = transfer(IBV_WR_RDMA_WRITE, PAGE, 1, PAGE,
					   src, smr, d, mr) * 1e9;
			warm[i] = transfer(IBV_WR_RDMA_WRITE, PAGE, 1, PAGE,
					   src, smr, d, mr) * 1e9;
			fault[i] = cold[i] - warm[i];
		}
		for (size_t k = 0; k < pages; k++)
			same(p + k * PAGE, src, PAGE, "page write");
		ibv_dereg_mr(mr);
		munmap(p, len);
		p = map(len, 0);
		for (size_t k = 0; k < pages; k++) {
			double t0 = now();

			p[k * PAGE] = 1;
			cpu[i - pages + k] = (now() - t0) * 1e9;
		}
		munmap(p, len);
	}
	qsort(clk, 1000, sizeof(*clk), cmp);
	printf("  \"fault_service_ns\": {\n    \"pages\": %zu,\n", n);
	printf("    \"clock_pair_median_ns\": %.0f,\n", clk[500]);
	printf("    \"percentiles\": \"values at 0, 1, ..., 100 %%\",\n");
	percentiles("    ", "cold_write_4k", cold, n, ",");
	percentiles("    ", "warm_write_4k", warm, n, ",");
	percentiles("    ", "device_fault", fault, n, ",");
	percentiles("    ", "cpu_first_touch", cpu, n, "");
	printf("  },\n");
	ibv_dereg_mr(smr);
	munmap(src, PAGE);
	free(cold);
	free(warm);
	free(fault);
	free(cpu);
}

/* The HMM core's statistic @name (debugfs), fatal if unreadable. */
static long long core_stat(const char *name)
{
	long long v = hmm_stat(name);

	if (v < 0)
		die("/sys/kernel/debug/hmm_mirror/stats", name);
	return v;
}

/*
 * Memory of ODP translation tables against the memory the device touched:
 * the HMM core's pt_bytes (the mirror's page-table bytes; an implicit MR's
 * "children" are its leaves) and mirrored_pages, before and after RDMA
 * writes of W MiB of fresh memory through the implicit MR, and after the
 * munmap of it; the same with an explicit ODP MR of the W MiB; and a
 * sparse working set, one page every 2 MiB over 1 GiB, through the
 * implicit MR. Sizes are counts, not timings: one pass.
 */
static void bench_implicit_memory(void)
{
	static const size_t ws[] = { 1, 4, 16, 64, 256 };
	const int nw = sizeof(ws) / sizeof(ws[0]);
	char *src = map(CHUNK, 0);
	struct ibv_mr *smr = reg(src, CHUNK, 0), *imr;
	long long pt_base = core_stat("pt_bytes"), pt_reg;

	fill(src, CHUNK, 55);
	imr = reg_implicit();
	pt_reg = core_stat("pt_bytes");
	printf("  \"odp_table_bytes\": {\n");
	printf("    \"implicit_registration\": %lld,\n", pt_reg - pt_base);
	for (int kind = 0; kind < 2; kind++) {
		printf("    \"%s\": {\n", kind ? "explicit" : "implicit");
		for (int w = 0; w < nw; w++) {
			size_t len = ws[w] * MIB;
			char *p = map(len, 0);
			struct ibv_mr *mr = kind ? reg(p, len, 1) : imr;
			long long pt0 = core_stat("pt_bytes");
			long long mp0 = core_stat("mirrored_pages");
			long long pt1, mp1, pt2;

			step("ODP table memory: %s MR, %zu MiB touched",
			     kind ? "explicit" : "implicit", ws[w]);
			for (size_t off = 0; off < len; off += CHUNK) {
				size_t n = len - off < CHUNK ? len - off : CHUNK;

				transfer(IBV_WR_RDMA_WRITE, MIB, n / MIB, n, src,
					 smr, p + off, mr);
				same(p + off, src, n, "write");
			}
			pt1 = core_stat("pt_bytes");
			mp1 = core_stat("mirrored_pages");
			if (kind)
				ibv_dereg_mr(mr);
			munmap(p, len);
			pt2 = core_stat("pt_bytes");
			printf("      \"%zu\": {\"touched_bytes\": %zu, \"table_bytes\": %lld, \"table_bytes_per_touched_page\": %.2f, \"mirrored_pages\": %lld, \"table_bytes_after_unmap\": %lld}%s\n",
			       len, len, pt1 - pt0,
			       (double)(pt1 - pt0) / (len / PAGE), mp1 - mp0,
			       pt2 - pt0, w < nw - 1 ? "," : "");
		}
		printf("    },\n");
	}
	{
		size_t span = 1024 * MIB, stride = 2 * MIB;
		char *p = map(span, MAP_NORESERVE);
		long long pt0 = core_stat("pt_bytes"), pt1, pt2, mp0, mp1;

		step("ODP table memory: implicit MR, one page every 2 MiB over 1 GiB");
		mp0 = core_stat("mirrored_pages");
		for (size_t off = 0; off < span; off += stride) {
			transfer(IBV_WR_RDMA_WRITE, PAGE, 1, PAGE, src, smr,
				 p + off, imr);
			same(p + off, src, PAGE, "sparse write");
		}
		pt1 = core_stat("pt_bytes");
		mp1 = core_stat("mirrored_pages");
		munmap(p, span);
		pt2 = core_stat("pt_bytes");
		printf("    \"implicit_sparse\": {\"touched_bytes\": %zu, \"table_bytes\": %lld, \"table_bytes_per_touched_page\": %.2f, \"mirrored_pages\": %lld, \"table_bytes_after_unmap\": %lld}\n",
		       span / stride * PAGE, pt1 - pt0,
		       (double)(pt1 - pt0) / (span / stride), mp1 - mp0,
		       pt2 - pt0);
	}
	printf("  },\n");
	ibv_dereg_mr(imr);
	ibv_dereg_mr(smr);
	munmap(src, CHUNK);
}

static double reg_time(size_t len, int odp, int touched)
{
	char *p = map(len, MAP_NORESERVE);
	struct ibv_mr *mr;
	double t;

	if (touched)
		touch(p, len);
	t = now();
	mr = reg(p, len, odp);
	t = now() - t;
	ibv_dereg_mr(mr);
	munmap(p, len);
	return t;
}

/* Registration of the implicit MR: the time taken. */
static double reg_time_implicit(void)
{
	double t = now();
	struct ibv_mr *mr = reg_implicit();

	t = now() - t;
	ibv_dereg_mr(mr);
	return t;
}

static void bench_registration(size_t big)
{
	size_t size[] = { PAGE, MIB, 64 * MIB, big, 2048 * MIB };
	const int n = 5;
	double t[5][2][3][ROUNDS], ratio[ROUNDS];
	struct ibv_device_attr da;
	size_t huge = 8192 * MIB;
	char *p;
	struct ibv_mr *mr;
	int err = 0;

	for (int r = 0; r < ROUNDS; r++) {
		step("registration: round %d/%d (pinned, ODP, implicit; 4 KiB to 2 GiB, fresh and written memory)",
		     r + 1, ROUNDS);
		for (int z = 0; z < n; z++)
			for (int touched = 0; touched < 2; touched++) {
				for (int k = 0; k < 2; k++)
					t[z][touched][k][r] =
						z == n - 1 && !k ? 0 :
						reg_time(size[z], k, touched) * 1e6;
				t[z][touched][2][r] = reg_time_implicit() * 1e6;
			}
	}

	/* Past the pinned MRs' max_mr_size: ODP MRs are not bound by it. */
	p = map(huge, MAP_NORESERVE);
	mr = ibv_reg_mr(pd, p, huge, ACCESS | ODP);
	if (mr)
		ibv_dereg_mr(mr);
	else
		err = errno;
	munmap(p, huge);
	if (ibv_query_device(ctx, &da))
		die("query device", strerror(errno));

	printf("  \"registration_us\": {\n");
	printf("    \"max_mr_size\": %llu,\n",
	       (unsigned long long)da.max_mr_size);
	printf("    \"odp_8GiB\": \"%s\",\n", mr ? "registered" : strerror(err));
	for (int touched = 0; touched < 2; touched++) {
		printf("    \"%s\": {\n", touched ? "touched" : "untouched");
		for (int z = 0; z < n; z++) {
			printf("      \"%zu\": {\n", size[z]);
			if (z < n - 1) {
				for (int r = 0; r < ROUNDS; r++)
					ratio[r] = t[z][touched][0][r] /
						   t[z][touched][1][r];
				figure("        ", "pinned", t[z][touched][0], -1,
				       ",");
				figure("        ", "odp", t[z][touched][1], -1,
				       ",");
				figure("        ", "pinned_over_odp", ratio, -1,
				       ",");
			} else {
				figure("        ", "odp", t[z][touched][1], -1,
				       ",");
			}
			figure("        ", "implicit", t[z][touched][2], -1, ",");
			for (int r = 0; r < ROUNDS; r++)
				ratio[r] = t[z][touched][1][r] /
					   t[z][touched][2][r];
			figure("        ", "odp_over_implicit", ratio, -1, "");
			printf("      }%s\n", z < n - 1 ? "," : "");
		}
		printf("    }%s\n", touched ? "" : ",");
	}
	printf("  },\n");
}

static void bench_munmap(size_t len)
{
	double reg_t[ROUNDS], plain[ROUNDS], ratio[ROUNDS];

	for (int r = 0; r < ROUNDS; r++) {
		char *p = map(len, 0);
		struct ibv_mr *mr;
		double t;

		step("munmap: round %d/%d, %zu MiB registered and not",
		     r + 1, ROUNDS, len / MIB);
		touch(p, len);
		mr = reg(p, len, 1);	/* the snapshot mirrors every page */
		t = now();
		munmap(p, len);
		reg_t[r] = (now() - t) * 1e3;
		ibv_dereg_mr(mr);

		p = map(len, 0);
		touch(p, len);
		t = now();
		munmap(p, len);
		plain[r] = (now() - t) * 1e3;
		ratio[r] = reg_t[r] / plain[r];
	}
	printf("  \"munmap_ms\": {\n    \"mib\": %zu,\n", len / MIB);
	figure("    ", "registered_odp", reg_t, -1, ",");
	figure("    ", "unregistered", plain, -1, ",");
	figure("    ", "registered_over_unregistered", ratio, -1, "");
	printf("  },\n");
}

/* The sections, in the order they run (HODP_ODP_BENCH_ONLY names them). */
enum { S_BANDWIDTH, S_COLD, S_COLD_THP, S_FIRST_TOUCH, S_FAULT_SERVICE,
       S_TABLE, S_REGISTRATION, S_MUNMAP, S_NR };
static const char *const section_names[S_NR] = {
	"bandwidth", "cold", "cold_thp", "first_touch", "fault_service",
	"table", "registration", "munmap",
};
static const char *only;	/* HODP_ODP_BENCH_ONLY; NULL: all */
static unsigned int only_mask;	/* the sections it names, by bit */

/*
 * Read HODP_ODP_BENCH_ONLY (comma separated section names; unset or
 * empty: all of them) into only_mask. Return: 0 if an item names no
 * section, else 1.
 */
static int parse_only(void)
{
	size_t i, n;

	only = getenv("HODP_ODP_BENCH_ONLY");
	if (!only || !*only) {
		only = NULL;
		only_mask = ~0u;
		return 1;
	}
	for (const char *p = only; *p; p += n + (p[n] == ',')) {
		n = strcspn(p, ",");
		if (!n)
			continue;
		for (i = 0; i < S_NR; i++)
			if (strlen(section_names[i]) == n &&
			    !strncmp(p, section_names[i], n))
				break;
		if (i == S_NR)
			return 0;
		only_mask |= 1u << i;
	}
	return 1;
}

/*
 * Whether to run section @s, for a shorter run while working on one of
 * them; flushes what the last one printed.
 */
static int section(int s)
{
	fflush(stdout);
	return only_mask >> s & 1;
}

int main(int argc, char **argv)
{
	size_t bw = (argc > 1 ? strtoul(argv[1], NULL, 0) : 32) * MIB;
	size_t cold = (argc > 2 ? strtoul(argv[2], NULL, 0) : 64) * MIB;
	size_t big = (argc > 3 ? strtoul(argv[3], NULL, 0) : 1024) * MIB;

	if (!bw || !cold || cold % MIB || !big || big > 2048 * MIB ||
	    !parse_only()) {
		fprintf(stderr, "usage: odp_bench [BW_MIB [COLD_MIB [BIG_MIB<=2048]]]\n"
			"  HODP_ODP_BENCH_ONLY: sections, comma separated: bandwidth, cold, cold_thp,\n"
			"  first_touch, fault_service, table, registration, munmap\n"
			"  HODP_ODP_BENCH_EVENTS=1: sleep on a completion channel\n");
		return 2;
	}
	setup();
	printf("{\n  \"benchmark\": \"hodp_odp\",\n  \"rounds\": %d,\n",
	       ROUNDS);
	/* How it was run: a partial or an event-driven run says so. */
	printf("  \"completions\": \"%s\",\n", chan ? "events" : "polled");
	if (only)
		printf("  \"only\": \"%s\",\n", only);
	if (section(S_BANDWIDTH))
		bench_bandwidth(bw);
	if (section(S_COLD))
		bench_cold(cold, 0);
	if (section(S_COLD_THP))
		bench_cold(cold, 1);
	if (section(S_FIRST_TOUCH))
		bench_first_touch(cold);
	if (section(S_FAULT_SERVICE))
		bench_fault_dist(8 * MIB);
	if (section(S_TABLE))
		bench_implicit_memory();
	if (section(S_REGISTRATION))
		bench_registration(big);
	if (section(S_MUNMAP))
		bench_munmap(big);
	step("done");
	print_probes();
	printf("}\n");
	return 0;
}
