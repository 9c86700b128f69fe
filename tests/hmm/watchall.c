// SPDX-License-Identifier: GPL-2.0
/*
 * A mirror in HMM_MIRROR_WATCH_ALL mode (dmirror's HMM_DMIRROR_MODE_WATCH_ALL)
 * watches the whole address space with one notifier, as the core did
 * before it watched 2 MiB leaves: every CPU change of the process reaches
 * it, an unrelated munmap included, however many leaves it mirrors, and
 * what it mirrors stays right. A mirror of the same process in the default
 * mode is not told of those munmaps. The mode is chosen before the first
 * fault; the whole-space watch is never reaped, only unregister (close)
 * removes it.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>

#include "churn.h"

#define NPAGES		(LEAF / PAGE)	/* the mirrored range: one leaf */
#define ROUNDS		64
#define FLOCK_ROUNDS	8

static uint64_t ents[3 * NPAGES];	/* FAULT_LOCK's entries */

static int set_mode(int fd, uint64_t mode)
{
	return ioctl(fd, HMM_DMIRROR_SET_MODE, &mode) ? -errno : 0;
}

int main(void)
{
	char *base = map_aligned(OTHER_OFF + OTHER_LEN, LEAF);
	char *p = base, *other = base + OTHER_OFF;
	char *buf = map_anon(NPAGES, PROT_READ | PROT_WRITE);
	long long watched, now, unmaps, retries;
	struct munmapper m = { .other = other };
	int all = dm_open(0), leaf = dm_open(0), ret, i, failed = 0;
	pthread_t thread;

	check_fatal("watchall: dmirror counts events", event("unmap") >= 0,
		    "no debugfs hmm_dmirror/events");
	check_fatal("watchall: the core's counters",
		    hmm_stat("watched_leaves") >= 0,
		    "no debugfs hmm_mirror/stats");
	madvise(base, OTHER_OFF + OTHER_LEN, MADV_NOHUGEPAGE);
	watched = hmm_stat("watched_leaves");

	/* 1. The mode: chosen while nothing is watched, kept after. */
	ret = set_mode(leaf, HMM_DMIRROR_MODE_WATCH_ALL);
	ret = ret ?: set_mode(leaf, 0);
	check("WATCH_ALL may be set and cleared before the first fault", !ret,
	      "ret %d", ret);
	ret = set_mode(all, HMM_DMIRROR_MODE_WATCH_ALL);
	check_fatal("watchall: set WATCH_ALL", !ret, "ret %d", ret);
	fill(p, NPAGES, 1);
	ret = dm_cmd(leaf, HMM_DMIRROR_READ, p, buf, NPAGES, NULL);
	check_fatal("watchall: the per-leaf mirror reads its range", !ret,
		    "ret %d", ret);

	/*
	 * 2. Unrelated munmaps, 8 MiB away, while only the per-leaf mirror
	 * watches: not one reaches a mirror (dmirror counts the 'unmap'
	 * events of all its mirrors).
	 */
	unmaps = event("unmap");
	for (i = 0; i < ROUNDS && !failed; i++)
		failed = churn(other);
	unmaps = event("unmap") - unmaps;
	check("an unrelated munmap does not reach a per-leaf mirror",
	      !failed && !unmaps, "%s; %d munmaps: 'unmap' told %lld times",
	      failed ? strerror(errno) : "ok", ROUNDS, unmaps);

	fill(buf, NPAGES, 1);
	ret = dm_cmd(all, HMM_DMIRROR_WRITE, p, buf, NPAGES, NULL);
	check_fatal("watchall: the whole-space mirror writes the range", !ret,
		    "ret %d", ret);
	/* Two leaves more for the whole-space mirror: still one watch. */
	fill(p + LEAF, 1, 2);
	fill(p + 2 * LEAF, 1, 3);
	ret = dm_cmd(all, HMM_DMIRROR_READ, p + LEAF, buf, 1, NULL);
	ret = ret ?: dm_cmd(all, HMM_DMIRROR_READ, p + 2 * LEAF, buf, 1, NULL);
	now = hmm_stat("watched_leaves");
	check("a whole-space mirror has one watch for all its leaves",
	      !ret && now == watched + 2,
	      "ret %d; 3 leaves of one mirror, 1 of another: watched_leaves %lld -> %lld",
	      ret, watched, now);
	ret = set_mode(all, 0);
	check("WATCH_ALL cannot be cleared once the mirror watches",
	      ret == -EBUSY, "ret %d", ret);
	ret = set_mode(leaf, HMM_DMIRROR_MODE_WATCH_ALL);
	check("nor set on a mirror that watches leaves", ret == -EBUSY,
	      "ret %d", ret);
	ret = set_mode(all, HMM_DMIRROR_MODE_WATCH_ALL |
			    HMM_DMIRROR_MODE_DIRTY_ON_DROP);
	ret = ret ?: set_mode(all, HMM_DMIRROR_MODE_WATCH_ALL);
	check("the other modes change beside it", !ret, "ret %d", ret);

	/*
	 * 3. The same munmaps once the whole-space mirror watches: each
	 * reaches it, once ('unmap' once per munmap: the per-leaf mirror is
	 * still not told).
	 */
	unmaps = event("unmap");
	for (i = 0; i < ROUNDS && !failed; i++)
		failed = churn(other);
	unmaps = event("unmap") - unmaps;
	check("an unrelated munmap reaches the whole-space mirror, once",
	      !failed && unmaps == ROUNDS,
	      "%s; %d munmaps: 'unmap' told %lld times",
	      failed ? strerror(errno) : "ok", ROUNDS, unmaps);
	memset(buf, 0, NPAGES * PAGE);
	ret = dm_cmd(all, HMM_DMIRROR_READ, p, buf, NPAGES, NULL);
	check("the whole-space mirror still reads what it wrote",
	      !ret && differs(buf, NPAGES, 1) < 0, "ret %d, word %ld differs",
	      ret, differs(buf, NPAGES, 1));

	/*
	 * A fault of the whole-space mirror that stores nothing (no mapping;
	 * all its pages optional and absent) leaves no table behind: no
	 * reaper would ever free it (the global count may only fall
	 * meanwhile, as a reaper frees another mirror's leaf).
	 */
	{
		char *gone = map_aligned(LEAF, LEAF);
		struct hmm_dmirror_flock fl = {
			.addr = (uintptr_t)gone,
			.npages = NPAGES,
			.ptr = (uintptr_t)ents,
		};
		long long pt = hmm_stat("pt_bytes"), pt_read, pt_flock;
		int fret;

		munmap(gone, LEAF);
		ret = dm_cmd(all, HMM_DMIRROR_READ, gone, buf, 1, NULL);
		pt_read = hmm_stat("pt_bytes");
		fret = ioctl(all, HMM_DMIRROR_FAULT_LOCK, &fl) ? -errno : 0;
		pt_flock = hmm_stat("pt_bytes");
		check("a whole-space fault that stores nothing leaves no table",
		      ret == -EFAULT && pt_read <= pt && !fret && !fl.filled &&
		      pt_flock <= pt,
		      "read of a hole: ret %d, pt_bytes %lld -> %lld; optional fault-and-lock of it: ret %d, filled %llu, pt_bytes -> %lld",
		      ret, pt, pt_read, fret, (unsigned long long)fl.filled,
		      pt_flock);
	}

	/*
	 * 4. Its faults while another thread munmaps without pause: they
	 * retry for those invalidations, and succeed with the right data.
	 */
	retries = hmm_stat("fault_retries");
	ret = pthread_create(&thread, NULL, munmapper, &m);
	check_fatal("start the munmapper", !ret, "%s", strerror(ret));
	for (i = 0; i < ROUNDS && !failed; i++)
		failed = churn_read_round(&m, all, p, buf, NPAGES, i, 4 + i,
					  &ret);
	retries = hmm_stat("fault_retries") - retries;
	check("whole-space faults succeed while another thread munmaps",
	      !failed && !m.err && atomic_load(&m.rounds) >= ROUNDS,
	      "round %d: ret %d; munmapper: %s, %ld rounds; %lld retries", i,
	      ret, strerror(m.err), atomic_load(&m.rounds), retries);
	/*
	 * Fault-and-lock of three leaves meanwhile: every change of the mm
	 * moves the one watch's sequence, and the unrelated ones must not
	 * make it refill its leaves until its time runs out (-EBUSY).
	 */
	for (i = 0; i < FLOCK_ROUNDS && !failed; i++) {
		struct hmm_dmirror_flock fl = {
			.addr = (uintptr_t)p,
			.npages = 3 * NPAGES,
			.req_pages = 3 * NPAGES,
			.ptr = (uintptr_t)ents,
		};

		madvise(p, 3 * LEAF, MADV_DONTNEED);
		ret = ioctl(all, HMM_DMIRROR_FAULT_LOCK, &fl) ? -errno : 0;
		failed = ret || fl.filled != 3 * NPAGES;
	}
	atomic_store(&m.stop, 1);
	pthread_join(thread, NULL);
	check("whole-space fault-and-lock succeeds beside the munmaps",
	      !failed && !m.err, "round %d of %d: ret %d (%s)", i,
	      FLOCK_ROUNDS, ret, strerror(-ret));

	/*
	 * 5. Never reaped: a discard of all it holds keeps the watch. The
	 * per-leaf mirror goes first (its leaf, emptied above, may or may
	 * not be watched by now); then a reaper that wrongly took the
	 * whole-space watch would have its way within the wait below.
	 */
	close(leaf);
	now = wait_watched(watched + 1);
	check_fatal("watchall: the per-leaf mirror's watch goes with it",
		    now == watched + 1, "watched_leaves %lld, expected %lld",
		    now, watched + 1);
	ret = dm_cmd(all, HMM_DMIRROR_DISCARD, p, NULL, 3 * NPAGES, NULL);
	for (i = 0; i < 50 && now == watched + 1; i++) {
		usleep(10000);
		now = hmm_stat("watched_leaves");
	}
	unmaps = event("unmap");
	failed = churn(other);
	unmaps = event("unmap") - unmaps;
	check("a whole-space watch stays when its mirror holds nothing",
	      !ret && !failed && now == watched + 1 && unmaps == 1,
	      "ret %d; watched_leaves %lld (was %lld); an munmap: 'unmap' told %lld times",
	      ret, now, watched + 1, unmaps);

	/* 6. Unregister removes it. */
	close(all);
	now = wait_watched(watched);
	check("closing the whole-space mirror removes its watch",
	      now == watched, "watched_leaves %lld -> %lld", watched + 1, now);

	munmap(base, OTHER_OFF + OTHER_LEN);
	munmap(buf, NPAGES * PAGE);
	return check_done();
}
