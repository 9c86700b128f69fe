// SPDX-License-Identifier: GPL-2.0
/*
 * Device copies of one mirror run under its lock held for reading: two
 * threads read and write through one dmirror fd while a third zaps the
 * CPU mappings (MADV_DONTNEED) in a loop, so every copy races the
 * invalidations (which hold the lock for writing) and the other thread's
 * copies. The memory is shared memfd memory, whose pages stay in the page
 * cache across the zaps: every device read must find the pattern, every
 * device write must be there for the CPU, and the file keeps the last
 * ones. The parallel readers themselves are shown in-kernel (KUnit suite
 * hmm_mirror_lock); here the data path and the locking together, with the
 * kernel's reports (lockdep on the debug kernel) failing the run.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "dmirror.h"

#define THREADS	2
#define RPAGES	64		/* read by both threads */
#define WPAGES	32		/* written by one thread each */
#define NPAGES	(RPAGES + THREADS * WPAGES)
#define ROUNDS	400	/* or $HMM_READERS_ROUNDS (tests/run) */

static int fd, rounds;
static char *mem;
static atomic_int stop;
static atomic_long zaps;

struct worker {
	int id;
	long reads, writes, busy;
	char what[160];		/* the first thing that went wrong */
	char *buf;
};

static void *zapper(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		madvise(mem, NPAGES * PAGE, MADV_DONTNEED);
		atomic_fetch_add(&zaps, 1);
		sched_yield();
	}
	return NULL;
}

/* A device op: 0, 1 if the invalidations kept it from finishing, or -1. */
static int op(struct worker *w, unsigned long req, char *addr, char *buf,
	      unsigned long npages)
{
	int ret = dm_cmd(fd, req, addr, buf, npages, NULL);

	if (ret == -EBUSY) {
		w->busy++;
		return 1;
	}
	if (ret && !w->what[0])
		snprintf(w->what, sizeof(w->what), "%s: %s",
			 req == HMM_DMIRROR_READ ? "read" : "write",
			 strerror(-ret));
	return ret ? -1 : 0;
}

static void *worker(void *arg)
{
	struct worker *w = arg;
	char *wmem = mem + (RPAGES + w->id * WPAGES) * PAGE;
	unsigned int seed;
	long bad;
	int i, r;

	for (i = 0; i < rounds && !w->what[0]; i++) {
		r = op(w, HMM_DMIRROR_READ, mem, w->buf, RPAGES);
		if (!r) {
			w->reads++;
			bad = differs(w->buf, RPAGES, 1);
			if (bad >= 0)
				snprintf(w->what, sizeof(w->what),
					 "round %d: device read word %ld wrong",
					 i, bad);
		}
		seed = 100 + w->id * rounds + i;
		fill(w->buf, WPAGES, seed);
		r = op(w, HMM_DMIRROR_WRITE, wmem, w->buf, WPAGES);
		if (!r) {
			w->writes++;
			bad = differs(wmem, WPAGES, seed);
			if (bad >= 0)
				snprintf(w->what, sizeof(w->what),
					 "round %d: CPU read word %ld of the device write wrong",
					 i, bad);
		} else if (r > 0) {
			/* Partly written maybe: the CPU puts it right. */
			fill(wmem, WPAGES, seed);
		}
	}
	return NULL;
}

int main(void)
{
	struct worker w[THREADS] = { { 0 } };
	pthread_t t[THREADS], z;
	int mfd, i, ok = 1;
	char *back;

	rounds = env_count("HMM_READERS_ROUNDS", ROUNDS, 100000);
	fd = dm_open(0);
	mfd = memfd_create("readers", MFD_CLOEXEC);
	check_fatal("memfd", mfd >= 0 && !ftruncate(mfd, NPAGES * PAGE),
		    "%s", strerror(errno));
	mem = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
		   mfd, 0);
	check_fatal("mmap memfd", mem != MAP_FAILED, "%s", strerror(errno));
	fill(mem, RPAGES, 1);

	for (i = 0; i < THREADS; i++) {
		w[i].id = i;
		w[i].buf = map_anon(RPAGES, PROT_READ | PROT_WRITE);
	}
	check_fatal("start the zapper", !pthread_create(&z, NULL, zapper, NULL),
		    "pthread_create");
	for (i = 0; i < THREADS; i++)
		check_fatal("start a copier",
			    !pthread_create(&t[i], NULL, worker, &w[i]),
			    "pthread_create");
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	atomic_store(&stop, 1);
	pthread_join(z, NULL);

	for (i = 0; i < THREADS; i++) {
		char name[96];

		snprintf(name, sizeof(name),
			 "thread %d: device reads and writes right under MADV_DONTNEED",
			 i);
		check(name, !w[i].what[0] && w[i].reads && w[i].writes,
		      "%s (reads %ld, writes %ld, busy %ld)",
		      w[i].what[0] ? w[i].what : "nothing done", w[i].reads,
		      w[i].writes, w[i].busy);
		ok &= !w[i].what[0];
	}
	check("the zapper ran meanwhile", atomic_load(&zaps) > 0, "%ld zaps",
	      atomic_load(&zaps));

	/* What the file keeps: the pattern read, each thread's last write. */
	back = map_anon(NPAGES, PROT_READ | PROT_WRITE);
	check_fatal("read the file back",
		    pread(mfd, back, NPAGES * PAGE, 0) == (ssize_t)(NPAGES * PAGE),
		    "%s", strerror(errno));
	for (i = 0; ok && i < THREADS; i++) {
		long bad = differs(back + (RPAGES + i * WPAGES) * PAGE, WPAGES,
				   100 + i * rounds + rounds - 1);

		check("the file keeps each thread's last write", bad < 0,
		      "thread %d: word %ld", i, bad);
	}
	check("the file keeps the pattern read", differs(back, RPAGES, 1) < 0,
	      "word %ld", differs(back, RPAGES, 1));
	return check_done();
}
