// SPDX-License-Identifier: GPL-2.0
/*
 * A mirror sees only the invalidations of what it mirrors: a CPU change of
 * memory the device never touched (another thread's munmap, far from the
 * mirrored range) must not reach the driver, nor make a device fault of
 * the mirrored range start over; a change of the mirrored range still
 * does. The core watches each 2 MiB leaf it has faulted
 * (HMM_MIRROR_LEAF_SIZE), so the unrelated memory here lies in other
 * leaves, 8 MiB away; and a leaf the device let go of whole
 * (hmm_mirror_discard()) is watched no more until it faults it again.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>

#include "dmirror.h"

#define LEAF		(2UL << 20)
#define NPAGES		(LEAF / PAGE)	/* the mirrored range: one leaf */
#define OTHER_OFF	(8UL << 20)	/* the unrelated range, from it */
#define OTHER_LEN	(2 * LEAF)
#define ROUNDS		64

/* Invalidations dmirror was told of with event @name. */
static long long event(const char *name)
{
	return file_counter("/sys/kernel/debug/hmm_dmirror/events", name);
}

/* Unmap the unrelated range and map it again, touched. */
static int churn(char *other)
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

static void *munmapper(void *arg)
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

int main(void)
{
	char *base = map_aligned(OTHER_OFF + OTHER_LEN, LEAF);
	char *p = base, *other = base + OTHER_OFF;
	char *buf = map_anon(NPAGES, PROT_READ | PROT_WRITE);
	long long unmaps, inv, retries, faults, watched, clears;
	struct munmapper m = { .other = other };
	int fd = dm_open(0), ret, i, failed = 0;
	pthread_t thread;

	check_fatal("ranges: dmirror counts events", event("unmap") >= 0,
		    "no debugfs hmm_dmirror/events");
	check_fatal("ranges: the core's counters", hmm_stat("faults") >= 0,
		    "no debugfs hmm_mirror/stats");
	/* Base pages: a THP collapse of the range would invalidate it. */
	madvise(p, LEAF, MADV_NOHUGEPAGE);
	fill(buf, NPAGES, 1);
	ret = dm_cmd(fd, HMM_DMIRROR_WRITE, p, buf, NPAGES, NULL);
	check_fatal("ranges: the device writes its range", !ret, "ret %d", ret);

	/* 1. Unrelated munmaps, from this thread. */
	unmaps = event("unmap");
	for (i = 0; i < ROUNDS && !failed; i++)
		failed = churn(other);
	check("munmap of unrelated memory does not reach the mirror",
	      !failed && event("unmap") == unmaps,
	      "%s; %d munmaps 8 MiB away: the driver was told 'unmap' %lld times",
	      failed ? strerror(errno) : "ok", ROUNDS,
	      event("unmap") - unmaps);
	memset(buf, 0, NPAGES * PAGE);
	ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, NPAGES, NULL);
	check("the mirrored range still reads what the device wrote",
	      !ret && differs(buf, NPAGES, 1) < 0, "ret %d, word %ld differs",
	      ret, differs(buf, NPAGES, 1));

	/*
	 * 2. Device faults of the mirrored range while another thread
	 * munmaps unrelated memory without pause: each round drops the
	 * range's pages (an invalidation of the mirror, before the fault
	 * starts), and the device faults them in again.
	 */
	unmaps = event("unmap");
	inv = hmm_stat("invalidations");
	retries = hmm_stat("fault_retries");
	faults = hmm_stat("faults");
	ret = pthread_create(&thread, NULL, munmapper, &m);
	check_fatal("start the munmapper", !ret, "%s", strerror(ret));
	for (i = 0; i < ROUNDS && !failed; i++) {
		/* Let the munmapper run: the guest may have one CPU. */
		while (atomic_load(&m.rounds) <= i && !m.err)
			sched_yield();
		madvise(p, LEAF, MADV_DONTNEED);
		fill(p, NPAGES, 2 + i);
		ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, NPAGES, NULL);
		failed = ret || differs(buf, NPAGES, 2 + i) >= 0;
	}
	/* What the mirror saw, read before the last invalidations below. */
	unmaps = event("unmap") - unmaps;
	inv = hmm_stat("invalidations") - inv;
	retries = hmm_stat("fault_retries") - retries;
	faults = hmm_stat("faults") - faults;
	atomic_store(&m.stop, 1);
	pthread_join(thread, NULL);
	check("device faults succeed while another thread munmaps",
	      !failed && !m.err && faults >= ROUNDS,
	      "round %d: ret %d; munmapper: %s; %lld faults", i, ret,
	      strerror(m.err), faults);
	check("another thread's unrelated munmaps do not reach the mirror",
	      atomic_load(&m.rounds) >= ROUNDS && unmaps == 0,
	      "%ld munmapper rounds: the driver was told 'unmap' %lld times",
	      atomic_load(&m.rounds), unmaps);
	/*
	 * A fault starts over only after an invalidation of what it
	 * mirrors (the guest's NUMA balancing may make some): never more
	 * retries than the mirror saw invalidations.
	 */
	check("device faults retry only for invalidations of the mirror",
	      retries <= inv,
	      "%lld retries, %lld invalidations of the mirror", retries, inv);

	/* 3. The mirrored range itself: the driver is told. */
	unmaps = event("unmap");
	inv = hmm_stat("invalidations");
	munmap(p + PAGE, PAGE);
	check("munmap of a mirrored page reaches the mirror",
	      event("unmap") > unmaps && hmm_stat("invalidations") > inv,
	      "unmap %lld -> %lld, invalidations %lld -> %lld", unmaps,
	      event("unmap"), inv, hmm_stat("invalidations"));
	ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, NPAGES, NULL);
	check("the device cannot read the unmapped page", ret == -EFAULT,
	      "ret %d", ret);
	ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, 1, NULL);
	check("the device reads the page beside it",
	      !ret && differs(buf, 1, 2 + ROUNDS - 1) < 0, "ret %d", ret);

	/*
	 * 4. The device lets go of the leaf (hmm_mirror_discard()): it is
	 * no longer watched, so a change of it does not reach the mirror;
	 * a fault watches it again.
	 */
	watched = hmm_stat("watched_leaves");
	ret = dm_cmd(fd, HMM_DMIRROR_DISCARD, p, NULL, NPAGES, NULL);
	check("a discarded leaf is no longer watched",
	      !ret && hmm_stat("watched_leaves") == watched - 1,
	      "ret %d, watched_leaves %lld -> %lld", ret, watched,
	      hmm_stat("watched_leaves"));
	clears = event("clear");
	madvise(p, PAGE, MADV_DONTNEED);
	check("a change of a discarded leaf does not reach the mirror",
	      event("clear") == clears, "the driver was told 'clear' %lld times",
	      event("clear") - clears);
	p[0] = 3;
	ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, 1, NULL);
	clears = event("clear");
	madvise(p, PAGE, MADV_DONTNEED);
	check("a fault watches the leaf again",
	      !ret && buf[0] == 3 && hmm_stat("watched_leaves") == watched &&
	      event("clear") > clears,
	      "ret %d, byte %d, watched_leaves %lld (was %lld), clear %lld -> %lld",
	      ret, buf[0], hmm_stat("watched_leaves"), watched, clears,
	      event("clear"));

	close(fd);
	munmap(base, OTHER_OFF + OTHER_LEN);
	munmap(buf, NPAGES * PAGE);
	return check_done();
}
