// SPDX-License-Identifier: GPL-2.0
/*
 * Per-mirror counters (HMM_DMIRROR_STATS, from hmm_mirror_read_stats()):
 * known device operations move one mirror's counters by exact amounts, and
 * leave another mirror's alone, even one of the same process.
 */
#include "dmirror.h"

#define N 16

static struct hmm_dmirror_stats stats(int fd)
{
	struct hmm_dmirror_stats st;

	memset(&st, 0xff, sizeof(st));
	check_fatal("STATS ioctl", !ioctl(fd, HMM_DMIRROR_STATS, &st), "%s",
		    strerror(errno));
	return st;
}

#define FIELDS(s) (unsigned long long)(s).faults,			\
	(unsigned long long)(s).faulted_pages,				\
	(unsigned long long)(s).prefetched_pages,			\
	(unsigned long long)(s).invalidations,				\
	(unsigned long long)(s).invalidated_pages,			\
	(unsigned long long)(s).dirtied_pages
#define FMT "faults %llu faulted %llu prefetched %llu invalidations %llu invalidated %llu dirtied %llu"

/* @now - @then, field by field, equals @want. */
static void check_delta(const char *name, struct hmm_dmirror_stats then,
			struct hmm_dmirror_stats now,
			struct hmm_dmirror_stats want)
{
	struct hmm_dmirror_stats d = {
		.faults = now.faults - then.faults,
		.faulted_pages = now.faulted_pages - then.faulted_pages,
		.prefetched_pages = now.prefetched_pages - then.prefetched_pages,
		.invalidations = now.invalidations - then.invalidations,
		.invalidated_pages = now.invalidated_pages - then.invalidated_pages,
		.dirtied_pages = now.dirtied_pages - then.dirtied_pages,
	};

	check(name, !memcmp(&d, &want, sizeof(d)), "moved by " FMT ", want " FMT,
	      FIELDS(d), FIELDS(want));
}

static const struct hmm_dmirror_stats none;

int main(void)
{
	int fd = dm_open(0), other = dm_open(2), ret;
	struct hmm_dmirror_stats s0, o0, s1, want;
	struct hmm_dmirror_cmd cmd;
	long long global0 = hmm_stat("fault_pages");
	char *p, *q, *buf = map_anon(N, PROT_READ | PROT_WRITE);
	unsigned char perm[N];
	int i, present = 0;

	s0 = stats(fd);
	check_delta("a new mirror's counters are zero", none, s0, none);
	o0 = stats(other);

	/*
	 * A device read of N populated pages: one fault of N pages. Within
	 * one 2 MiB leaf: an invalidation counts once per watched leaf.
	 */
	p = map_aligned(N * PAGE, N * PAGE);
	fill(p, N, 1);
	ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, N, &cmd);
	check_fatal("device read", !ret && cmd.faults == 1, "ret %d faults %llu",
		    ret, (unsigned long long)cmd.faults);
	s1 = stats(fd);
	want = none;
	want.faults = 1;
	want.faulted_pages = N;
	check_delta("read of N pages: one fault, N pages faulted", s0, s1, want);
	check("the global counter is the sum: fault_pages moved by N or more",
	      hmm_stat("fault_pages") - global0 >= N, "moved by %lld",
	      hmm_stat("fault_pages") - global0);

	/* Unmapping the mirrored range: one invalidation of N entries. */
	s0 = s1;
	munmap(p, N * PAGE);
	s1 = stats(fd);
	want = none;
	want.invalidations = 1;
	want.invalidated_pages = N;
	check_delta("munmap of the mirrored range: one invalidation of N pages",
		    s0, s1, want);

	/* A range the mirror holds nothing of: no invalidation counted. */
	s0 = s1;
	q = map_anon(N, PROT_READ | PROT_WRITE);
	fill(q, N, 2);
	munmap(q, N * PAGE);
	check_delta("munmap of a range not mirrored: nothing moves", s0,
		    stats(fd), none);

	/* SNAPSHOT records what is present: prefetched, not faulted. */
	s0 = stats(fd);
	/* In one leaf of the mirror: the worker below fills it in one go. */
	q = map_aligned(N * PAGE, N * PAGE);
	for (i = 0; i < N; i += 2, present++)
		q[i * PAGE] = 1;
	ret = dm_cmd(fd, HMM_DMIRROR_SNAPSHOT, q, perm, N, NULL);
	check_fatal("snapshot", !ret, "ret %d", ret);
	want = none;
	want.faults = 1;
	want.prefetched_pages = present;
	check_delta("snapshot: one fault, the present pages prefetched", s0,
		    stats(fd), want);

	/* PREFETCH: the fault worker's pages are prefetched too. */
	s0 = stats(fd);
	fill(q, N, 3);
	ret = dm_cmd(fd, HMM_DMIRROR_PREFETCH, q, NULL, N, NULL);
	check_fatal("prefetch", !ret, "ret %d", ret);
	/* Wait for the worker (bounded: it fails the check, not a timing). */
	for (i = 0; i < 500 && stats(fd).prefetched_pages == s0.prefetched_pages; i++)
		usleep(10000);
	want = none;
	want.faults = 1;
	want.prefetched_pages = N;
	check_delta("prefetch of N pages: one fault, N pages prefetched", s0,
		    stats(fd), want);

	/* A device write, then munmap: every written page dirtied. */
	s0 = stats(fd);
	ret = dm_cmd(fd, HMM_DMIRROR_WRITE, q, buf, N / 2, &cmd);
	check_fatal("device write", !ret, "ret %d", ret);
	munmap(q, N * PAGE);
	want = none;
	want.faults = cmd.faults;
	want.faulted_pages = cmd.faults ? N / 2 : 0;
	want.invalidations = 1;
	want.invalidated_pages = N;
	want.dirtied_pages = N / 2;
	check_delta("write of N/2 pages then munmap: N/2 pages dirtied", s0,
		    stats(fd), want);

	check_delta("the other mirror of the process: nothing moved", o0,
		    stats(other), none);
	close(other);
	close(fd);
	munmap(buf, N * PAGE);
	return check_done();
}
