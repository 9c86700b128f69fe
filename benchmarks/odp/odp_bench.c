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
 *                 in flight: warm ODP MRs (every page mirrored) and pinned
 *                 MRs; ratio odp_over_pinned.
 *  cold           RDMA write of COLD_MIB (default 64) from a pinned source
 *                 into a fresh, never touched ODP mapping, 16 MiB chunk by
 *                 chunk, each chunk written again right after (warm):
 *                 cold_over_warm (bandwidth), and the fault service time
 *                 per 4 KiB page (cold - warm) against the CPU's first
 *                 touch of a fresh anonymous mapping of the same size:
 *                 fault_over_cpu_minor.
 *  registration   ibv_reg_mr time, pinned and ODP, of 4 KiB, 1 MiB,
 *                 64 MiB, BIG_MIB (default 1024), and 2 GiB for ODP, on
 *                 fresh untouched memory and on memory the CPU wrote first;
 *                 pinned_over_odp. And whether an 8 GiB ODP registration
 *                 (past the 2 GiB max_mr_size of pinned MRs) is taken.
 *  munmap         of BIG_MIB written by the CPU and registered ODP (every
 *                 page mirrored by the registration's snapshot) against the
 *                 same unregistered: registered_over_unregistered.
 *
 * Mappings are MADV_NOHUGEPAGE: 4 KiB faults for the CPU and the device.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <infiniband/verbs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

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
static struct ibv_qp *qa, *qb;
static union ibv_gid gid;
static int rd_atom = 1;

static void die(const char *what, const char *why)
{
	fprintf(stderr, "odp_bench: %s: %s\n", what, why);
	exit(1);
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
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
	scq = ibv_create_cq(ctx, 256, NULL, NULL, 0);
	rcq = ibv_create_cq(ctx, 256, NULL, NULL, 0);
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

	while (!(n = ibv_poll_cq(cq, 1, &wc)))
		if (now() - t0 > 10)
			die("completion", "none in 10 s");
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

static void bench_bandwidth(size_t bytes)
{
	/* [pinned, odp][a, b] */
	char *buf[2][2];
	struct ibv_mr *mr[2][2];
	double bw[3][3][2][ROUNDS], ratio[ROUNDS];
	uint64_t seed = 1;

	for (int k = 0; k < 2; k++)
		for (int s = 0; s < 2; s++) {
			buf[k][s] = map(BWBUF, 0);
			fill(buf[k][s], BWBUF, seed++);
			mr[k][s] = reg(buf[k][s], BWBUF, k);
		}
	/* Warm up every page of the ODP buffers, both directions. */
	transfer(IBV_WR_RDMA_WRITE, MIB, BWBUF / MIB, BWBUF, buf[1][0],
		 mr[1][0], buf[1][1], mr[1][1]);
	transfer(IBV_WR_RDMA_READ, MIB, BWBUF / MIB, BWBUF, buf[1][0],
		 mr[1][0], buf[1][1], mr[1][1]);
	same(buf[1][0], buf[1][1], BWBUF, "warm-up");

	for (int r = 0; r < ROUNDS; r++)
		for (int o = 0; o < 3; o++)
			for (int z = 0; z < 3; z++)
				for (int k = 0; k < 2; k++) {
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

	printf("  \"bandwidth_MiB_per_s\": {\n");
	for (int o = 0; o < 3; o++) {
		printf("    \"%s\": {\n", opname[o]);
		for (int z = 0; z < 3; z++) {
			printf("      \"%zu\": {\n", bwsize[z]);
			for (int r = 0; r < ROUNDS; r++)
				ratio[r] = bw[o][z][1][r] / bw[o][z][0][r];
			figure("        ", "pinned", bw[o][z][0], -1, ",");
			figure("        ", "odp", bw[o][z][1], -1, ",");
			figure("        ", "odp_over_pinned", ratio, -1, "");
			printf("      }%s\n", z < 2 ? "," : "");
		}
		printf("    }%s\n", o < 2 ? "," : "");
	}
	printf("  },\n");
	for (int k = 0; k < 2; k++)
		for (int s = 0; s < 2; s++) {
			ibv_dereg_mr(mr[k][s]);
			munmap(buf[k][s], BWBUF);
		}
}

static void bench_cold(size_t len)
{
	char *src = map(CHUNK, 0);
	struct ibv_mr *smr = reg(src, CHUNK, 0);
	double cold[ROUNDS], warm[ROUNDS], fault[ROUNDS], cpu[ROUNDS];
	double r_bw[ROUNDS], r_fault[ROUNDS];
	size_t pages = len / PAGE;
	int resolved = 1;

	fill(src, CHUNK, 77);
	for (int r = 0; r < ROUNDS; r++) {
		char *p = map(len, 0);
		struct ibv_mr *mr = reg(p, len, 1);

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
		ibv_dereg_mr(mr);
		munmap(p, len);

		p = map(len, 0);
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
	printf("  \"cold_write\": {\n    \"mib\": %zu,\n", len / MIB);
	figure("    ", "cold_MiB_per_s", cold, -1, ",");
	figure("    ", "warm_MiB_per_s", warm, -1, ",");
	figure("    ", "cold_over_warm", r_bw, -1, "");
	printf("  },\n  \"fault_per_page_ns\": {\n    \"mib\": %zu,\n",
	       len / MIB);
	figure("    ", "device_fault", fault, resolved, ",");
	figure("    ", "cpu_minor_fault", cpu, -1, ",");
	figure("    ", "fault_over_cpu_minor", r_fault, resolved, "");
	printf("  },\n");
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

static void bench_registration(size_t big)
{
	size_t size[] = { PAGE, MIB, 64 * MIB, big, 2048 * MIB };
	const int n = 5;
	double t[5][2][2][ROUNDS], ratio[ROUNDS];
	struct ibv_device_attr da;
	size_t huge = 8192 * MIB;
	char *p;
	struct ibv_mr *mr;
	int err = 0;

	for (int r = 0; r < ROUNDS; r++)
		for (int z = 0; z < n; z++)
			for (int touched = 0; touched < 2; touched++)
				for (int k = 0; k < 2; k++)
					t[z][touched][k][r] =
						z == n - 1 && !k ? 0 :
						reg_time(size[z], k, touched) * 1e6;

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
				       "");
			} else {
				figure("        ", "odp", t[z][touched][1], -1,
				       "");
			}
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
	printf("  }\n");
}

int main(int argc, char **argv)
{
	size_t bw = (argc > 1 ? strtoul(argv[1], NULL, 0) : 32) * MIB;
	size_t cold = (argc > 2 ? strtoul(argv[2], NULL, 0) : 64) * MIB;
	size_t big = (argc > 3 ? strtoul(argv[3], NULL, 0) : 1024) * MIB;

	if (!bw || !cold || cold % MIB || !big || big > 2048 * MIB) {
		fprintf(stderr, "usage: odp_bench [BW_MIB [COLD_MIB [BIG_MIB<=2048]]]\n");
		return 2;
	}
	setup();
	printf("{\n  \"benchmark\": \"hodp_odp\",\n  \"rounds\": %d,\n",
	       ROUNDS);
	bench_bandwidth(bw);
	fflush(stdout);
	bench_cold(cold);
	fflush(stdout);
	bench_registration(big);
	fflush(stdout);
	bench_munmap(big);
	printf("}\n");
	return 0;
}
