// SPDX-License-Identifier: GPL-2.0
/*
 * ODP under concurrency (bounded rounds, data checked):
 *
 *  - storm: four threads, each with its own QP pair and CQ, fault their
 *    own cold ODP buffers (dropped with MADV_DONTNEED every round) and
 *    write into and read from one ODP MR they share, while another thread
 *    munmaps and re-mmaps, mprotects read-only and back, and drops pages
 *    of that shared MR. Every work request completes; a private transfer
 *    is always right; one into or out of the shared MR either succeeds or
 *    is a remote access error (its QP is then replaced); once the storm
 *    is over, the shared MR is coherent again;
 *  - exit: a process killed while its QPs fault in 256 MiB transfers goes
 *    away whole (its HMM mirror too), and the device works after;
 *  - dereg: an MR deregistered during a cold 128 MiB write into it: the
 *    write stops (a remote access error: its key died mid-message), and
 *    once ibv_dereg_mr() returned, nothing more lands in its memory;
 *  - destroy: a requester destroyed during a cold 128 MiB write: once
 *    destroy returned, nothing more lands, and no completion comes;
 *  - stopped faults: a cold write into memory another thread keeps
 *    dropping (MADV_DONTNEED), so that each attempt of the device's fault
 *    is raced and starts over (up to the HMM core's 10 s); the requester's
 *    RESET, its move to the error state, or the target MR's dereg, ends
 *    the fault at its next attempt: until the write's doorbell returned,
 *    the core retries a fault a few times at most (its fault_retries), and
 *    no fault runs out of time (-EBUSY, trace hodp_odp_fault). Before,
 *    they waited for the raced fault to succeed or time out: thousands of
 *    retries (the error state: modify_qp published it only once the
 *    requester let go of its lock, after the fault).
 *
 * The kernel must log nothing (on the debug kernel: KASAN, lockdep).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "odp.h"
#include "trace.h"
#include "verbs.h"

#define WORKERS		4
#define CHUNK		(64 * 1024)
#define SHARED		(WORKERS * MIB)	/* 1 MiB of it per worker */
#define BIG		(128 * MIB)

static struct ctx c;
static int rounds = 60;
static uint8_t *shared;
static struct ibv_mr *shared_mr;
static atomic_int storm_over;

/* A connected pair on @cq (rnr_retry 7: a send waits for its receive). */
static struct rc_pair pair_on(struct ibv_cq *cq)
{
	struct rc_pair p = { rc_qp(&c, NULL, cq), rc_qp(&c, NULL, cq) };

	check_fatal("connect",
		    !rc_connect(&c, p.a, p.b->qp_num, ALL_ACCESS, 7) &&
		    !rc_connect(&c, p.b, p.a->qp_num, ALL_ACCESS, 7),
		    "%s", strerror(errno));
	return p;
}

/* One signalled WR from @qp; its status, -1 if none came in 5 s. */
static int run(struct ibv_qp *qp, struct ibv_cq *cq, enum ibv_wr_opcode op,
	       struct ibv_mr *lmr, void *laddr, uint32_t len, uint32_t rkey,
	       void *raddr)
{
	struct ibv_sge sge = { (uintptr_t)laddr, len, lmr->lkey };
	struct ibv_send_wr wr = { .wr_id = 1, .sg_list = &sge, .num_sge = 1,
				  .opcode = op,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_wc wc;

	wr.wr.rdma.remote_addr = (uintptr_t)raddr;
	wr.wr.rdma.rkey = rkey;
	if (post_send(qp, &wr))
		return -2;
	return poll_one(cq, &wc);
}

struct worker {
	int id;
	pthread_t t;
	/* What it saw */
	int lost;		/* WRs without a completion (or not posted) */
	int private_bad;	/* private transfers failed or wrong */
	int other_status;	/* shared transfers neither right nor REM_ACCESS */
	int shared_ok, shared_err;
	int last_status;
};

static void *worker(void *arg)
{
	struct worker *w = arg;
	struct ibv_cq *cq = ibv_create_cq(c.ctx, 16, NULL, NULL, 0);
	uint8_t *src = map(CHUNK), *dst = map(CHUNK);
	struct ibv_mr *smr = ibv_reg_mr(c.pd, src, CHUNK, ODP_ACCESS);
	struct ibv_mr *dmr = ibv_reg_mr(c.pd, dst, CHUNK, ODP_ACCESS);
	uint8_t *mine = shared + w->id * MIB;
	struct rc_pair p;
	int r, st;

	if (!cq || !smr || !dmr) {
		w->lost = -1;
		return NULL;
	}
	p = pair_on(cq);
	for (r = 0; r < rounds; r++) {
		uint8_t *at = mine + (r % (MIB / CHUNK)) * CHUNK;

		/* Private: cold on both sides every round, always right. */
		madvise(src, CHUNK, MADV_DONTNEED);
		madvise(dst, CHUNK, MADV_DONTNEED);
		fill(src, CHUNK, w->id * 1000 + r);
		st = run(p.a, cq, IBV_WR_RDMA_WRITE, smr, src, CHUNK,
			 dmr->rkey, dst);
		if (st < 0)
			w->lost++;
		if (st || memcmp(src, dst, CHUNK)) {
			w->private_bad++;
			w->last_status = st;
		}
		/* Shared: the mutator may have changed the pages under it. */
		st = run(p.a, cq, r & 1 ? IBV_WR_RDMA_READ : IBV_WR_RDMA_WRITE,
			 smr, src, CHUNK, shared_mr->rkey, at);
		if (st < 0)
			w->lost++;
		if (st == IBV_WC_SUCCESS) {
			w->shared_ok++;
		} else if (st == IBV_WC_REM_ACCESS_ERR) {
			w->shared_err++;
		} else {
			w->other_status++;
			w->last_status = st;
		}
		if (st != IBV_WC_SUCCESS) {
			/* The pair is in error: a new one. */
			ibv_destroy_qp(p.a);
			ibv_destroy_qp(p.b);
			while (ibv_poll_cq(cq, 1, &(struct ibv_wc){}) > 0)
				;
			p = pair_on(cq);
		}
	}
	ibv_destroy_qp(p.a);
	ibv_destroy_qp(p.b);
	ibv_dereg_mr(smr);
	ibv_dereg_mr(dmr);
	ibv_destroy_cq(cq);
	munmap(src, CHUNK);
	munmap(dst, CHUNK);
	return NULL;
}

/* Changes the CPU's page tables of the shared MR until the storm is over. */
static void *mutator(void *arg)
{
	unsigned int seed = 7, n = 0;
	int *changes = arg;

	while (!atomic_load(&storm_over)) {
		uint8_t *at = shared + (rand_r(&seed) % (SHARED / CHUNK)) * CHUNK;

		switch (n++ % 3) {
		case 0:
			if (mmap(at, CHUNK, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
				 0) == MAP_FAILED)
				return NULL;
			break;
		case 1:
			mprotect(at, CHUNK, PROT_READ);
			usleep(500);
			mprotect(at, CHUNK, PROT_READ | PROT_WRITE);
			break;
		default:
			madvise(at, CHUNK, MADV_DONTNEED);
			break;
		}
		(*changes)++;
		usleep(1000);
	}
	return NULL;
}

static void test_storm(void)
{
	struct worker w[WORKERS];
	int i, changes = 0, lost = 0, bad = 0, other = 0, ok = 0, err = 0;
	int last = 0, st;
	struct rc_pair p;
	uint8_t *src;
	struct ibv_mr *smr;
	pthread_t m;

	shared = map(SHARED);
	shared_mr = ibv_reg_mr(c.pd, shared, SHARED, ODP_ACCESS);
	check_fatal("shared ODP MR", shared_mr, "%s", strerror(errno));
	pthread_create(&m, NULL, mutator, &changes);
	for (i = 0; i < WORKERS; i++) {
		w[i] = (struct worker){ .id = i };
		pthread_create(&w[i].t, NULL, worker, &w[i]);
	}
	for (i = 0; i < WORKERS; i++) {
		pthread_join(w[i].t, NULL);
		check_fatal("storm: worker set up", w[i].lost >= 0, "%s",
			    strerror(errno));
		lost += w[i].lost;
		bad += w[i].private_bad;
		other += w[i].other_status;
		ok += w[i].shared_ok;
		err += w[i].shared_err;
		if (w[i].last_status)
			last = w[i].last_status;
	}
	atomic_store(&storm_over, 1);
	pthread_join(m, NULL);
	printf("# storm: %d page-table changes; shared transfers: %d right, "
	       "%d remote access errors\n", changes, ok, err);
	check("storm: every work request completed", !lost, "%d lost", lost);
	check("storm: private cold transfers all right", !bad,
	      "%d wrong (last status %d)", bad, last);
	check("storm: shared transfers right or remote access errors only",
	      !other, "%d others (last status %d)", other, last);
	check("storm: the CPU changed the shared MR's pages meanwhile",
	      changes > 0, "no change made");

	/* Quiet again: the whole shared MR is coherent. */
	src = map(SHARED);
	smr = ibv_reg_mr(c.pd, src, SHARED, ODP_ACCESS);
	check_fatal("source MR", smr, "%s", strerror(errno));
	p = pair_on(c.cq);
	fill(src, SHARED, 99);
	st = run(p.a, c.cq, IBV_WR_RDMA_WRITE, smr, src, SHARED,
		 shared_mr->rkey, shared);
	check("storm: after it, a write of the shared MR lands whole",
	      st == IBV_WC_SUCCESS && !memcmp(src, shared, SHARED),
	      "status %d", st);
	memset(shared, 0x6b, SHARED);
	st = run(p.a, c.cq, IBV_WR_RDMA_READ, smr, src, SHARED,
		 shared_mr->rkey, shared);
	check("storm: and a read of it sees what the CPU wrote",
	      st == IBV_WC_SUCCESS && src[0] == 0x6b &&
	      src[SHARED - 1] == 0x6b, "status %d", st);
	ibv_destroy_qp(p.a);
	ibv_destroy_qp(p.b);
	ibv_dereg_mr(smr);
	ibv_dereg_mr(shared_mr);
	munmap(src, SHARED);
	munmap(shared, SHARED);
}

/* In a child: keep 256 MiB cold writes going until killed. */
static void exit_child(int ready)
{
	struct ctx cc;
	uint8_t *a, *b;
	struct ibv_mr *am, *bm;
	struct rc_pair p;
	size_t len = 256 * MIB;

	open_dev(&cc, "hodp0");
	a = map(len);
	b = map(len);
	am = ibv_reg_mr(cc.pd, a, len, ODP_ACCESS);
	bm = ibv_reg_mr(cc.pd, b, len, ODP_ACCESS);
	if (!am || !bm)
		_exit(2);
	p = rc_pair(&cc, ALL_ACCESS, 7);
	if (write(ready, "x", 1) != 1)
		_exit(3);
	for (;;) {
		struct ibv_sge sge = { (uintptr_t)a, len, am->lkey };
		struct ibv_send_wr wr = { .sg_list = &sge, .num_sge = 1,
					  .opcode = IBV_WR_RDMA_WRITE,
					  .send_flags = IBV_SEND_SIGNALED };
		struct ibv_wc wc;

		wr.wr.rdma.remote_addr = (uintptr_t)b;
		wr.wr.rdma.rkey = bm->rkey;
		if (post_send(p.a, &wr))
			_exit(4);
		poll_one(cc.cq, &wc);
		madvise(a, len, MADV_DONTNEED);
		madvise(b, len, MADV_DONTNEED);
	}
}

static void test_exit(void)
{
	long long mirrors0 = hmm_stat("mirrors"), mirrors = -1;
	long long f0 = -1;
	int fd[2], status = 0, i, st;
	struct rc_pair p;
	uint8_t *a, *b;
	struct ibv_mr *am, *bm;
	pid_t pid;
	char x;

	check_fatal("pipe", !pipe(fd), "%s", strerror(errno));
	pid = fork();
	if (!pid) {
		close(fd[0]);
		exit_child(fd[1]);
	}
	close(fd[1]);
	check_fatal("exit: the child set up", read(fd[0], &x, 1) == 1,
		    "it exited first");
	close(fd[0]);
	f0 = file_counter("/sys/kernel/debug/hmm_mirror/stats", "faults");
	/* Until it faults (each read is cheap), then a little more. */
	for (i = 0; i < 500 && file_counter("/sys/kernel/debug/hmm_mirror/stats",
					    "faults") == f0; i++)
		usleep(10000);
	usleep(50000);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	check("exit: the child was killed while faulting",
	      i < 500 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	      "%d polls, status 0x%x", i, status);
	/* Its mirror goes with its mm (and its device context). */
	for (i = 0; i < 500; i++) {
		mirrors = hmm_stat("mirrors");
		if (mirrors == mirrors0)
			break;
		usleep(10000);
	}
	check("exit: its HMM mirror is gone", mirrors0 >= 0 &&
	      mirrors == mirrors0, "mirrors %lld before, %lld after",
	      mirrors0, mirrors);
	p = rc_pair(&c, ALL_ACCESS, 7);
	a = map(MIB);
	b = map(MIB);
	am = ibv_reg_mr(c.pd, a, MIB, ODP_ACCESS);
	bm = ibv_reg_mr(c.pd, b, MIB, ODP_ACCESS);
	check_fatal("MRs", am && bm, "%s", strerror(errno));
	fill(a, MIB, 5);
	st = run(p.a, c.cq, IBV_WR_RDMA_WRITE, am, a, MIB, bm->rkey, b);
	check("exit: the device works after", st == IBV_WC_SUCCESS &&
	      !memcmp(a, b, MIB), "status %d", st);
	ibv_destroy_qp(p.a);
	ibv_destroy_qp(p.b);
	ibv_dereg_mr(am);
	ibv_dereg_mr(bm);
	munmap(a, MIB);
	munmap(b, MIB);
}

/*
 * Wait until the HMM core's counter @name moved from @from: @tries looks,
 * @us apart. Return: whether it moved.
 */
static int stat_moved(const char *name, long long from, int tries, int us)
{
	int i;

	for (i = 0; i < tries; i++) {
		if (hmm_stat(name) != from)
			return 1;
		usleep(us);
	}
	return 0;
}

/* Wait until the HMM core's fault count moved (the transfer faults). */
static int faults_began(long long f0)
{
	return stat_moved("faults", f0, 500, 2000);
}

/*
 * A BIG write into cold memory; during its fault events (before the WQE
 * completed) the target MR is deregistered (the write posted from another
 * thread) or the requester destroyed (the write runs in the
 * QP's worker: uverbs refuses to destroy a QP inside a post_send, EBUSY;
 * an 8 MiB write chained before it uses up the doorbell's run, which
 * leaves the rest to the worker). Once that returned, the target is
 * refilled with a guard pattern, which must stay.
 */
static void during_write(const char *what, int destroy_requester)
{
	struct rc_pair p = rc_pair(&c, ALL_ACCESS, 7);
	uint8_t *a = map(BIG), *b = map(BIG), *d = map(8 * MIB);
	struct ibv_mr *am, *bm, *dm;
	struct ibv_sge sge = { (uintptr_t)a, BIG, 0 }, sge1;
	struct ibv_send_wr wr = { .wr_id = 3, .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_RDMA_WRITE,
				  .send_flags = IBV_SEND_SIGNALED }, wr1;
	struct poster ps = { .wr = &wr };
	long long f0, w0;
	char name[128];
	pthread_t t;
	size_t i, changed = 0;
	int racing, ret, n;
	struct ibv_wc wc;

	/* Written before registration: the source never faults. */
	memset(a, 0x3c, BIG);
	am = ibv_reg_mr(c.pd, a, BIG, ODP_ACCESS);
	bm = ibv_reg_mr(c.pd, b, BIG, ODP_ACCESS);
	dm = ibv_reg_mr(c.pd, d, 8 * MIB, ALL_ACCESS);
	check_fatal("MRs", am && bm && dm, "%s", strerror(errno));
	sge.lkey = am->lkey;
	wr.wr.rdma.remote_addr = (uintptr_t)b;
	wr.wr.rdma.rkey = bm->rkey;
	f0 = hmm_stat("faults");
	if (destroy_requester) {
		sge1 = (struct ibv_sge){ (uintptr_t)a, 8 * MIB, am->lkey };
		wr1 = (struct ibv_send_wr){ .wr_id = 2, .sg_list = &sge1,
					    .num_sge = 1, .next = &wr,
					    .opcode = IBV_WR_RDMA_WRITE };
		wr1.wr.rdma.remote_addr = (uintptr_t)d;
		wr1.wr.rdma.rkey = dm->rkey;
		ret = post_send(p.a, &wr1);
		check_fatal("post", !ret, "%s", strerror(ret));
		racing = faults_began(f0);
		ret = ibv_destroy_qp(p.a);
	} else {
		ps.qp = p.a;
		w0 = req_wqes();
		pthread_create(&t, NULL, post_thread, &ps);
		racing = faults_began(f0) && req_wqes() == w0;
		ret = ibv_dereg_mr(bm);
	}
	memset(b, 0x5c, BIG);
	if (!destroy_requester)
		pthread_join(t, NULL);
	usleep(100000);
	n = ibv_poll_cq(c.cq, 1, &wc);
	for (i = 0; i < BIG; i += 4096)
		changed += b[i] != 0x5c || b[i + 4095] != 0x5c;
	snprintf(name, sizeof(name), "%s: during the cold write's faults",
		 what);
	check(name, racing, "the write was over before");
	snprintf(name, sizeof(name), "%s: returns 0", what);
	check(name, !ret, "%s", strerror(ret));
	snprintf(name, sizeof(name), "%s: nothing lands after it returned",
		 what);
	check(name, !changed, "%zu pages written after", changed);
	if (destroy_requester) {
		snprintf(name, sizeof(name), "%s: the WQE leaves no completion",
			 what);
		check(name, n == 0, "%d completions (status %d)", n,
		      n > 0 ? (int)wc.status : 0);
	} else {
		snprintf(name, sizeof(name),
			 "%s: the write stops with a remote access error", what);
		check(name, n == 1 && wc.status == IBV_WC_REM_ACCESS_ERR,
		      "%d completions, status %d", n, n > 0 ? (int)wc.status : -1);
	}
	if (!destroy_requester) {
		ibv_destroy_qp(p.a);
		ibv_dereg_mr(am);
	} else {
		ibv_dereg_mr(am);
		ibv_dereg_mr(bm);
	}
	ibv_dereg_mr(dm);
	ibv_destroy_qp(p.b);
	while (ibv_poll_cq(c.cq, 1, &(struct ibv_wc){}) > 0)
		;
	munmap(a, BIG);
	munmap(b, BIG);
	munmap(d, 8 * MIB);
}

static uint8_t *drop_at;
static atomic_int drop_over;

/*
 * Drop one page of each 2 MiB of the target, over and over, until told:
 * many short invalidations, so that every attempt of a 2 MiB fault is
 * raced by one (the mirror's notifier sees each) while it still faults
 * pages in (progress, which restarts the core's timeout, up to its cap).
 */
static void *dropper(void *arg)
{
	int i;

	(void)arg;
	while (!atomic_load(&drop_over))
		for (i = 0; i < 8; i++)
			madvise(drop_at + i * 2 * MIB, 4096, MADV_DONTNEED);
	return NULL;
}

/*
 * Wait (a bounded while) until the core retried a fault: the dropper's
 * invalidations are racing the write's faults. Not a fixed sleep: a
 * loaded host may let the write end within it.
 */
static void storm_began(void)
{
	stat_moved("fault_retries", hmm_stat("fault_retries"), 300, 1000);
}

/* What stops the write of stopped_fault(). */
enum stopper { STOP_DEREG, STOP_RESET, STOP_ERR };

/*
 * A cold 16 MiB write into memory the dropper keeps dropping, posted from
 * another thread; during its fault events (before the WQE completed), the
 * requester is reset or moved to the error state, or the target MR
 * deregistered. The core's retries are counted until a while after the
 * stop: none of RESET, ERR and dereg waits for the event, and its fault
 * must stop all the same, at its next attempt.
 */
static void stopped_fault(const char *what, enum stopper how)
{
	struct rc_pair p = rc_pair(&c, ALL_ACCESS, 7);
	uint8_t *a, *b;
	struct ibv_mr *am, *bm;
	struct ibv_sge sge = { 0, 16 * MIB, 0 };
	struct ibv_send_wr wr = { .wr_id = 4, .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_RDMA_WRITE,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_qp_attr attr = { .qp_state = how == STOP_ERR ?
					    IBV_QPS_ERR : IBV_QPS_RESET };
	struct poster ps = { .wr = &wr };
	char name[128], *trace, *busy;
	long long f0, w0, r0, retries;
	struct timespec t0, t1;
	int racing, ret, n, attempt;
	pthread_t t, d;
	struct ibv_wc wc;

	/* The faults that run out of time (-EBUSY): traced since main(). */
	check_fatal("clear the trace", !write_str(TRACING "/trace", ""), "%s",
		    strerror(errno));
	/*
	 * The stop must come while the write still faults: on TCG it may
	 * now and then be over before (a loaded host runs the guest's CPUs
	 * unevenly). Then again, with cold memory, a few times at most; the
	 * check below says whether one attempt raced.
	 */
	for (attempt = 1;; attempt++) {
		a = map(16 * MIB);
		b = map(16 * MIB);
		memset(a, 0x4d, 16 * MIB);
		am = ibv_reg_mr(c.pd, a, 16 * MIB, ODP_ACCESS);
		bm = ibv_reg_mr(c.pd, b, 16 * MIB, ODP_ACCESS);
		check_fatal("MRs", am && bm, "%s", strerror(errno));
		sge.addr = (uintptr_t)a;
		sge.lkey = am->lkey;
		wr.wr.rdma.remote_addr = (uintptr_t)b;
		wr.wr.rdma.rkey = bm->rkey;
		drop_at = b;
		atomic_store(&drop_over, 0);
		pthread_create(&d, NULL, dropper, NULL);
		f0 = hmm_stat("faults");
		w0 = req_wqes();
		ps.qp = p.a;
		atomic_store(&ps.state, 0);
		pthread_create(&t, NULL, post_thread, &ps);
		faults_began(f0);
		storm_began();
		racing = req_wqes() == w0;
		if (racing || attempt == 4)
			break;
		printf("# %s: the write was over before the stop (attempt %d): again\n",
		       what, attempt);
		atomic_store(&drop_over, 1);
		pthread_join(d, NULL);
		pthread_join(t, NULL);
		poll_one(c.cq, &wc);
		ibv_dereg_mr(am);
		ibv_dereg_mr(bm);
		munmap(a, 16 * MIB);
		munmap(b, 16 * MIB);
	}
	r0 = hmm_stat("fault_retries");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (how != STOP_DEREG)
		ret = ibv_modify_qp(p.a, &attr, IBV_QP_STATE);
	else
		ret = ibv_dereg_mr(bm);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_join(t, NULL);
	/*
	 * None of RESET, ERR and dereg waits for the write's fault event
	 * (ERR's flush completes the WQE): the fault stops at its next
	 * attempt. What the core retried until a while after that counts.
	 */
	n = how == STOP_ERR ? poll_one(c.cq, &wc) >= 0 : ibv_poll_cq(c.cq, 1, &wc);
	usleep(200000);
	retries = hmm_stat("fault_retries") - r0;
	/* For the log only (TCG's speed varies): how long it waited. */
	printf("# %s: returned after %.3f s, %lld retries after the stop\n",
	       what, t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9,
	       retries);
	atomic_store(&drop_over, 1);
	pthread_join(d, NULL);
	trace = read_trace();
	snprintf(name, sizeof(name), "%s: during the write's faults", what);
	check(name, racing, "the write was over before");
	snprintf(name, sizeof(name), "%s: returns 0", what);
	check(name, !ret, "%s", strerror(ret));
	/* The attempt in progress, and hodp's retry of one page at most. */
	snprintf(name, sizeof(name),
		 "%s: waits for the fault's attempt in progress, not the fault",
		 what);
	check(name, retries <= 4, "the core retried faults %lld times "
	      "meanwhile", retries);
	if (how == STOP_ERR) {
		/* Cut short, so flushed: it did not wait for its fault. */
		snprintf(name, sizeof(name),
			 "%s: the write completes with a flush error", what);
		check(name, n == 1 && wc.status == IBV_WC_WR_FLUSH_ERR,
		      "%d completions, status %d", n,
		      n > 0 ? (int)wc.status : -1);
	}
	snprintf(name, sizeof(name), "%s: no fault ran out of time (-EBUSY)",
		 what);
	busy = trace ? strstr(trace, " ret -16") : NULL;
	check(name, trace && !busy, "%.200s",
	      trace ? busy - trace > 160 ? busy - 160 : trace : "unreadable");
	free(trace);
	ibv_destroy_qp(p.a);
	ibv_destroy_qp(p.b);
	ibv_dereg_mr(am);
	if (how != STOP_DEREG)
		ibv_dereg_mr(bm);
	while (ibv_poll_cq(c.cq, 1, &(struct ibv_wc){}) > 0)
		;
	munmap(a, 16 * MIB);
	munmap(b, 16 * MIB);
}

int main(void)
{
	int kmsg = kmsg_open();
	struct utsname u;

	/* KASAN and lockdep make the debug kernel a few times slower. */
	if (!uname(&u) && strstr(u.release, "debug"))
		rounds = 20;
	/*
	 * stopped_fault()'s event, filtered, on before any fault runs and
	 * off once hodp is idle: enabling or disabling one patches its call
	 * sites (text_poke_bp()), and under TCG that once hung a guest
	 * while a fault event's worker ran hodp code (odpblock.c).
	 */
	trace_mount();
	check_fatal("trace the faults that run out of time (-EBUSY)",
		    !write_str(TRACING "/events/hodp/hodp_odp_fault/filter",
			       "ret == -16") &&
		    !write_str(TRACING "/events/hodp/hodp_odp_fault/enable",
			       "1"), "%s", strerror(errno));
	open_dev(&c, "hodp0");
	test_storm();
	test_exit();
	during_write("dereg", 0);
	during_write("destroy", 1);
	stopped_fault("requester RESET", STOP_RESET);
	stopped_fault("requester ERR", STOP_ERR);
	stopped_fault("target MR dereg", STOP_DEREG);
	/* A let-go event's fault ends at its next attempt: long before. */
	sleep(1);
	write_str(TRACING "/events/hodp/hodp_odp_fault/enable", "0");
	write_str(TRACING "/events/hodp/hodp_odp_fault/filter", "0");
	kmsg_check(kmsg, "the kernel reported nothing");
	return check_done();
}
