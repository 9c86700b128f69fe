/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Unrelated memory churned beside a mirror (tests/hmm/ranges.c,
 * watchall.c): OTHER_LEN bytes in leaves of their own, OTHER_OFF from the
 * mirrored range, unmapped and mapped again by the test or by a thread,
 * and the counters that tell whom that reached.
 */
#ifndef HMM_TEST_CHURN_H
#define HMM_TEST_CHURN_H

#include <pthread.h>
#include <stdatomic.h>

#include "dmirror.h"

#define LEAF		(2UL << 20)	/* the mirror's leaf */
#define OTHER_OFF	(8UL << 20)	/* the unrelated range, from it */
#define OTHER_LEN	(2 * LEAF)

/* Invalidations dmirror was told of with event @name (every mirror). */
static inline long long event(const char *name)
{
	return file_counter("/sys/kernel/debug/hmm_dmirror/events", name);
}

/* Unmap the unrelated range and map it again, touched. */
static inline int churn(char *other)
{
	if (munmap(other, OTHER_LEN))
		return -1;
	if (mmap(other, OTHER_LEN, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != other)
		return -1;
	other[0] = 1;
	return 0;
}

struct munmapper {
	char *other;
	atomic_int stop;
	atomic_long rounds;
	int err;
};

/* A thread churning the unrelated range until stopped. */
static inline void *munmapper(void *arg)
{
	struct munmapper *m = arg;

	while (!atomic_load(&m->stop)) {
		if (churn(m->other)) {
			m->err = errno;
			break;
		}
		atomic_fetch_add(&m->rounds, 1);
	}
	return NULL;
}

/*
 * Round @round of device reads of @npages at @p beside the munmapper @m:
 * once it has done as many rounds (the guest may have one CPU), the
 * pages are dropped (an invalidation of the mirror), written with @seed
 * and read by the device through @fd. Return: the ioctl's result in
 * *@ret, and whether the round failed (an error, or other data).
 */
static inline int churn_read_round(struct munmapper *m, int fd, char *p,
				   char *buf, unsigned long npages, long round,
				   unsigned int seed, int *ret)
{
	while (atomic_load(&m->rounds) <= round && !m->err)
		sched_yield();
	madvise(p, npages * PAGE, MADV_DONTNEED);
	fill(p, npages, seed);
	*ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, npages, NULL);
	return *ret || differs(buf, npages, seed) >= 0;
}

/*
 * The core stops watching an idle leaf asynchronously (its notifier's
 * removal waits for the invalidations of the mm in flight): wait until
 * watched_leaves is @target, for liveness only (a generous bound, not a
 * timing), and return what it is.
 */
static inline long long wait_watched(long long target)
{
	long long now = hmm_stat("watched_leaves");
	int i;

	for (i = 0; i < 3000 && now != target; i++) {
		usleep(10000);
		now = hmm_stat("watched_leaves");
	}
	return now;
}

#endif /* HMM_TEST_CHURN_H */
