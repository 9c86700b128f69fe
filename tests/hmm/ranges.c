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
#include <signal.h>
#include <stdatomic.h>
#include <sys/time.h>

#include "churn.h"

#define NPAGES		(LEAF / PAGE)	/* the mirrored range: one leaf */
#define ROUNDS		64
#define COLD_LEAVES	8	/* snapshotted, never touched */
/*
 * New processes of the signal storm: 4, or $HMM_STORM_CHILDREN (the debug
 * tier runs 1: there one costs about 65 s, its VMA walk being that much
 * slower and so as likely to be hit as four on the stock kernel).
 */
#define STORM_CHILDREN	4
#define STORM_VMAS	16384	/* make the mm's take-all-locks walk long */

#define DONE_KNOB	"/sys/kernel/debug/hmm_mirror/watch_done_delay_ms"

/*
 * The worker that removes the watches of empty leaves finds one held by a
 * fault that has already looked whether it was asked to look again (test
 * builds' knob: a fault that stored sleeps there, still holding the
 * watch): meanwhile the device lets go of the leaf, and the worker must
 * look at the watch again later itself, or it stays over the empty leaf
 * for ever. The fault is the device's prefetch worker's (a READ would
 * fault the leaf again after the discard).
 */
static void test_reaper_looks_again(int fd)
{
	long long watched, pages, now;
	char *leaf = map_aligned(LEAF, LEAF);
	int ret, i;

	if (access(DONE_KNOB, W_OK)) {
		skip("a watch held by a fault over an emptied leaf goes",
		     "no %s (test builds only: make debug-modules)", DONE_KNOB);
		munmap(leaf, LEAF);
		return;
	}
	fill(leaf, 1, 9);
	pages = hmm_stat("fault_pages");
	check_fatal("ranges: set the watch-done delay",
		    !write_file(DONE_KNOB, "2000"), "%s", strerror(errno));
	ret = dm_cmd(fd, HMM_DMIRROR_PREFETCH, leaf, NULL, 1, NULL);
	/* Stored: the worker sleeps in its 2 s, holding the watch. */
	for (i = 0; i < 3000 && !ret && hmm_stat("fault_pages") == pages; i++)
		usleep(1000);
	usleep(200000);
	write_file(DONE_KNOB, "0");
	watched = hmm_stat("watched_leaves");
	ret = ret ?: dm_cmd(fd, HMM_DMIRROR_DISCARD, leaf, NULL, 1, NULL);
	/* The worker's 2 s, then the reaper's look again. */
	now = ret ? watched : wait_watched(watched - 1);
	check("a watch held by a fault over an emptied leaf goes",
	      !ret && now == watched - 1,
	      "ret %d; watched_leaves %lld with the prefetch's watch, %lld 30 s after the discard",
	      ret, watched, now);
	munmap(leaf, LEAF);
}

static void on_alarm(int sig)
{
	(void)sig;
}

/*
 * A new process's first device faults while signals keep arriving: the
 * mm's interval tree is set up when the mirror registers (open), so no
 * fault takes the mmap lock for writing nor walks every VMA of the mm,
 * which gives up at any pending signal (-EINTR). Many small VMAs make
 * that walk long enough for the timer to hit it.
 */
static void storm_child(void *arg)
{
	struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
	struct itimerval it = { .it_interval.tv_usec = 100,
				.it_value.tv_usec = 100 };
	struct itimerval off = { 0 };
	char *vmas, *p, *buf;
	int fd, ret, i;

	(void)arg;
	fd = dm_open(0);
	vmas = map_anon(STORM_VMAS, PROT_READ | PROT_WRITE);
	for (i = 0; i < STORM_VMAS; i += 2)
		mprotect(vmas + i * PAGE, PAGE, PROT_READ);
	p = map_aligned(LEAF, LEAF);
	buf = map_anon(1, PROT_READ | PROT_WRITE);
	fill(p, 1, 7);
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, 1, NULL);
	setitimer(ITIMER_REAL, &off, NULL);
	check("a new process's first device fault is not interrupted by a signal",
	      !ret && differs(buf, 1, 7) < 0, "ret %d (%s)", ret,
	      strerror(-ret));
	close(fd);
}

int main(void)
{
	char *base = map_aligned(OTHER_OFF + OTHER_LEN, LEAF);
	char *p = base, *other = base + OTHER_OFF;
	char *buf = map_anon(NPAGES, PROT_READ | PROT_WRITE);
	long long unmaps, inv, retries, faults, watched, clears, now;
	struct munmapper m = { .other = other };
	int fd = dm_open(0), ret, i, failed = 0, children;
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
	for (i = 0; i < ROUNDS && !failed; i++)
		failed = churn_read_round(&m, fd, p, buf, NPAGES, i, 2 + i,
					  &ret);
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

	/*
	 * 3. The mirrored range itself: the driver is told. Faulted again
	 * first: a leaf that something else emptied since (a NUMA hint of
	 * the guest) is not watched any more, and rightly not told.
	 */
	ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, NPAGES, NULL);
	check_fatal("ranges: the device reads its range again", !ret,
		    "ret %d", ret);
	/*
	 * Splitting the VMA around the page comes first, and 6.1 tells the
	 * whole 2 MiB around the split point (MMU_NOTIFY_CLEAR, from
	 * vma_adjust_trans_huge()): that may empty the leaf, whose watch
	 * the worker then removes before the unmap itself comes, rightly
	 * not told. So the driver hears 'clear', 'unmap' or both.
	 */
	unmaps = event("unmap") + event("clear");
	inv = hmm_stat("invalidations");
	munmap(p + PAGE, PAGE);
	check("munmap of a mirrored page reaches the mirror",
	      event("unmap") + event("clear") > unmaps &&
	      hmm_stat("invalidations") > inv,
	      "unmap + clear %lld -> %lld, invalidations %lld -> %lld",
	      unmaps, event("unmap") + event("clear"), inv,
	      hmm_stat("invalidations"));
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
	now = wait_watched(watched - 1);
	check("a discarded leaf is no longer watched",
	      !ret && now == watched - 1,
	      "ret %d, watched_leaves %lld -> %lld", ret, watched, now);
	clears = event("clear");
	madvise(p, PAGE, MADV_DONTNEED);
	check("a change of a discarded leaf does not reach the mirror",
	      event("clear") == clears, "the driver was told 'clear' %lld times",
	      event("clear") - clears);
	p[0] = 3;
	p[2 * PAGE] = 4;	/* (the page between is unmapped) */
	/* Two pages: the leaf keeps one when the first is dropped below. */
	ret = dm_cmd(fd, HMM_DMIRROR_READ, p + 2 * PAGE, buf, 1, NULL);
	ret = ret ?: dm_cmd(fd, HMM_DMIRROR_READ, p, buf, 1, NULL);
	now = hmm_stat("watched_leaves");
	clears = event("clear");
	madvise(p, PAGE, MADV_DONTNEED);
	check("a fault watches the leaf again",
	      !ret && buf[0] == 3 && now == watched && event("clear") > clears,
	      "ret %d, byte %d, watched_leaves %lld (was %lld), clear %lld -> %lld",
	      ret, buf[0], now, watched, clears, event("clear"));

	/*
	 * 5. Watches are bounded by what the mirror holds: a fault that
	 * failed (no mapping), a snapshot of memory never touched and an
	 * munmap of a whole mirrored leaf each leave the leaf unwatched.
	 * The range of the steps above is let go of first, so that nothing
	 * happening to it moves the counts.
	 */
	watched = hmm_stat("watched_leaves");
	ret = dm_cmd(fd, HMM_DMIRROR_DISCARD, p, NULL, NPAGES, NULL);
	now = wait_watched(watched - 1);
	check_fatal("ranges: the range is let go of", !ret && now == watched - 1,
		    "ret %d, watched_leaves %lld -> %lld", ret, watched, now);
	watched = now;
	{
		char *gone = map_aligned(LEAF, LEAF);

		munmap(gone, LEAF);
		ret = dm_cmd(fd, HMM_DMIRROR_READ, gone, buf, 1, NULL);
		now = wait_watched(watched);
		check("a failed fault leaves no watch behind",
		      ret == -EFAULT && now == watched,
		      "ret %d, watched_leaves %lld -> %lld", ret, watched, now);
	}
	{
		unsigned long n = COLD_LEAVES * NPAGES;
		char *cold = map_aligned(COLD_LEAVES * LEAF, LEAF);
		unsigned char *perm = malloc(n);

		madvise(cold, COLD_LEAVES * LEAF, MADV_NOHUGEPAGE);
		ret = perm ? dm_cmd(fd, HMM_DMIRROR_SNAPSHOT, cold, perm, n,
				    NULL) : -ENOMEM;
		now = wait_watched(watched);
		check("a snapshot of untouched memory leaves no watch behind",
		      !ret && now == watched,
		      "ret %d, %d leaves: watched_leaves %lld -> %lld", ret,
		      COLD_LEAVES, watched, now);
		free(perm);
		munmap(cold, COLD_LEAVES * LEAF);
	}
	{
		char *leaf = map_aligned(LEAF, LEAF);

		fill(leaf, 1, 5);
		ret = dm_cmd(fd, HMM_DMIRROR_READ, leaf, buf, 1, NULL);
		now = hmm_stat("watched_leaves");
		munmap(leaf, LEAF);
		check("a fault watches its leaf", !ret && now == watched + 1,
		      "ret %d, watched_leaves %lld -> %lld", ret, watched, now);
		now = wait_watched(watched);
		check("an munmap of a whole mirrored leaf unwatches it",
		      now == watched, "watched_leaves %lld -> %lld", watched,
		      now);
	}

	/*
	 * 6. A CPU change across a leaf boundary reaches the watches of both
	 * leaves, each told its part: the device then reads what the CPU
	 * has on either side (zeros), not what it mirrored.
	 */
	{
		char *two = map_aligned(2 * LEAF, LEAF);
		char *edge = two + LEAF - PAGE;
		const uint32_t *w = (const uint32_t *)buf;
		unsigned long nonzero = 0, k;

		madvise(two, 2 * LEAF, MADV_NOHUGEPAGE);
		fill(edge, 2, 6);
		ret = dm_cmd(fd, HMM_DMIRROR_READ, edge, buf, 2, NULL);
		check_fatal("ranges: the device reads across a leaf boundary",
			    !ret && differs(buf, 2, 6) < 0, "ret %d", ret);
		clears = event("clear");
		madvise(edge, 2 * PAGE, MADV_DONTNEED);
		clears = event("clear") - clears;
		ret = dm_cmd(fd, HMM_DMIRROR_READ, edge, buf, 2, NULL);
		for (k = 0; k < 2 * PAGE / 4; k++)
			nonzero += w[k] != 0;
		check("a change across a leaf boundary reaches both leaves",
		      clears >= 2 && !ret && !nonzero,
		      "the driver was told 'clear' %lld times; ret %d, %lu words still what was mirrored",
		      clears, ret, nonzero);
		munmap(two, 2 * LEAF);
	}

	/* 7. The first faults of new processes, under a signal storm. */
	failed = 0;
	children = env_count("HMM_STORM_CHILDREN", STORM_CHILDREN, 64);
	for (i = 0; i < children; i++)
		failed |= in_child(storm_child, NULL);
	check("no new process's first fault failed under signals", !failed,
	      "%d processes, one failed at least", children);

	/* 8. A watch the worker found held by a fault that looked already. */
	test_reaper_looks_again(fd);

	close(fd);
	munmap(base, OTHER_OFF + OTHER_LEN);
	munmap(buf, NPAGES * PAGE);
	return check_done();
}
