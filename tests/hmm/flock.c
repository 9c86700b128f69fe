// SPDX-License-Identifier: GPL-2.0
/*
 * Fault and lock (hmm_mirror_fault_and_lock(), dmirror's FAULT_LOCK): the
 * fault returns with the mirror lock held and its range valid, and the
 * device reads the entries under that lock, as an ODP driver updating its
 * translation would. Its required pages fail it where they cannot be
 * mirrored; its optional ones are faulted where they can be and skipped
 * where not (no VMA, PROT_NONE, a write to read-only memory, a file
 * mapping past its end), and it says how many pages it filled. A thread
 * discarding the range's pages in a loop never makes it return with an
 * entry missing.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>

#include "dmirror.h"

#define LEAF		(2UL << 20)
#define NPAGES		768UL		/* 3 MiB: crosses a leaf boundary */
#define REQ		200UL		/* required pages of the tail case */
#define HOLE		300UL		/* unmapped: [HOLE, HOLE + 16) */
#define NONE		316UL		/* PROT_NONE: [NONE, NONE + 16) */
#define RDONLY		332UL		/* read-only, present: 16 pages */
#define PIECE		16UL
#define RACE_PAGES	1536UL		/* 6 MiB: three leaves */
#define RACE_ROUNDS	300	/* or $HMM_FLOCK_ROUNDS (tests/run) */
#define RACE_CHUNK	64UL
#define RACE_PER_CALL	16

static uint64_t ents[4096];

/* FAULT_LOCK of [p, p + npages pages), @req of them required: 0 or -errno. */
static int flock_range(int fd, void *p, unsigned long npages,
		       unsigned long req, unsigned long flags,
		       unsigned long *filled)
{
	struct hmm_dmirror_flock fl = {
		.addr = (uintptr_t)p,
		.npages = npages,
		.req_pages = req,
		.flags = flags,
		.ptr = (uintptr_t)ents,
	};
	int ret;

	memset(ents, 0xa5, sizeof(ents));
	ret = ioctl(fd, HMM_DMIRROR_FAULT_LOCK, &fl) ? -errno : 0;
	*filled = ret ? 0 : fl.filled;
	return ret;
}

static unsigned long count_ents(unsigned long npages, uint64_t need)
{
	unsigned long i, n = 0;

	for (i = 0; i < npages; i++)
		n += (ents[i] & need) == need;
	return n;
}

/* First page whose entry is not what the CPU maps (pagemap), -1 if none. */
static long pfn_mismatch(const char *p, unsigned long npages)
{
	unsigned long i;

	for (i = 0; i < npages; i++) {
		uint64_t pm = pagemap(p + i * PAGE);

		if (!(ents[i] & HMM_DMIRROR_ENTRY_VALID) ||
		    !(pm & PM_PRESENT) ||
		    ents[i] >> HMM_DMIRROR_ENTRY_PFN_SHIFT != PM_PFN(pm))
			return (long)i;
	}
	return -1;
}

/*
 * The racing thread discards pages of the range only while a FAULT_LOCK
 * call is in flight, at most RACE_PER_CALL chunks per call, yielding in
 * between: its invalidations land inside the calls, and each call can
 * still complete once they stop (unbounded, two CPUs can empty some leaf
 * between every refill and the lock for the fault's whole time limit:
 * EBUSY, correct but 10 s a round). No pass/fail depends on timing.
 */
struct racer {
	char *p;
	atomic_int stop;
	atomic_int in_call;	/* the round number while a call runs, 0 else */
	atomic_long rounds;	/* chunks discarded while a call ran */
};

static void *racer(void *arg)
{
	struct racer *r = arg;
	unsigned long off = 0;
	int last = 0, done = 0, call;

	while (!atomic_load(&r->stop)) {
		call = atomic_load(&r->in_call);
		if (call != last) {
			last = call;
			done = 0;
		}
		if (!call || done >= RACE_PER_CALL) {
			sched_yield();
			continue;
		}
		madvise(r->p + off * PAGE, RACE_CHUNK * PAGE, MADV_DONTNEED);
		off = (off + RACE_CHUNK) % RACE_PAGES;
		done++;
		atomic_fetch_add(&r->rounds, 1);
		sched_yield();
	}
	return NULL;
}

static void race(int fd, unsigned long flags, const char *name)
{
	char *p = map_aligned(RACE_PAGES * PAGE, LEAF);
	struct racer r = { .p = p };
	unsigned long filled, ok = 0, busy = 0, bad = 0, badfill = 0;
	int rounds = env_count("HMM_FLOCK_ROUNDS", RACE_ROUNDS, 100000);
	long first_bad = -1;
	pthread_t t;
	int i, ret, other = 0;

	madvise(p, RACE_PAGES * PAGE, MADV_NOHUGEPAGE);
	fill(p, RACE_PAGES, 9);
	check_fatal("start the racing thread",
		    !pthread_create(&t, NULL, racer, &r), "pthread_create");
	for (i = 0; i < rounds; i++) {
		uint64_t need = HMM_DMIRROR_ENTRY_VALID |
			(flags & HMM_DMIRROR_FLOCK_WRITE ?
			 HMM_DMIRROR_ENTRY_WRITE : 0);
		unsigned long n;

		atomic_store(&r.in_call, i + 1);
		ret = flock_range(fd, p, RACE_PAGES, RACE_PAGES, flags,
				  &filled);
		atomic_store(&r.in_call, 0);
		if (ret == -EBUSY) {
			busy++;
			continue;
		}
		if (ret) {
			other = ret;
			break;
		}
		ok++;
		n = count_ents(RACE_PAGES, need);
		if (n != RACE_PAGES) {
			bad++;
			if (first_bad < 0)
				first_bad = i;
		}
		if (filled != RACE_PAGES)
			badfill++;
	}
	atomic_store(&r.stop, 1);
	pthread_join(t, NULL);
	printf("# %s: %lu returned, %lu EBUSY, %ld racer rounds\n", name,
	       ok, busy, atomic_load(&r.rounds));
	check(name, !other && ok && !bad && !badfill && atomic_load(&r.rounds),
	      "error %d; %lu returned (%lu EBUSY), %lu with an entry missing (first in round %ld), %lu with filled != %lu; racer rounds %ld",
	      other, ok, busy, bad, first_bad, badfill, RACE_PAGES,
	      atomic_load(&r.rounds));
	munmap(p, RACE_PAGES * PAGE);
}

int main(void)
{
	int fd = dm_open(0), ret, mfd;
	char *p = map_aligned(NPAGES * PAGE, LEAF);
	const uint64_t v = HMM_DMIRROR_ENTRY_VALID;
	const uint64_t vw = v | HMM_DMIRROR_ENTRY_WRITE;
	struct hmm_dmirror_stats st0, st1;
	unsigned long filled, i;
	char *gone, *file;
	long bad;

	madvise(p, NPAGES * PAGE, MADV_NOHUGEPAGE);
	fill(p, NPAGES, 1);

	/* 1. All required: valid under the lock, the pages the CPU maps. */
	ret = flock_range(fd, p, NPAGES, NPAGES, 0, &filled);
	bad = pfn_mismatch(p, NPAGES);
	check("read fault and lock: every entry valid, the CPU's pfn",
	      !ret && filled == NPAGES && count_ents(NPAGES, v) == NPAGES &&
	      bad < 0,
	      "ret %d, filled %lu of %lu, %lu valid, first mismatch page %ld (entry %#llx, pagemap %#llx)",
	      ret, filled, NPAGES, count_ents(NPAGES, v), bad,
	      bad < 0 ? 0ULL : (unsigned long long)ents[bad],
	      bad < 0 ? 0ULL : (unsigned long long)pagemap(p + bad * PAGE));
	ret = flock_range(fd, p, NPAGES, NPAGES, HMM_DMIRROR_FLOCK_WRITE,
			  &filled);
	bad = pfn_mismatch(p, NPAGES);
	check("write fault and lock: every entry writable, the CPU's pfn",
	      !ret && filled == NPAGES && count_ents(NPAGES, vw) == NPAGES &&
	      bad < 0,
	      "ret %d, filled %lu, %lu writable, first mismatch page %ld",
	      ret, filled, count_ents(NPAGES, vw), bad);

	/*
	 * 2. Holes in the optional tail: an unmapped piece, a PROT_NONE one,
	 * a read-only one (present), and untouched memory to fault ahead
	 * across the 2 MiB boundary.
	 */
	munmap(p + HOLE * PAGE, PIECE * PAGE);
	mprotect(p + NONE * PAGE, PIECE * PAGE, PROT_NONE);
	mprotect(p + RDONLY * PAGE, PIECE * PAGE, PROT_READ);
	madvise(p + 400 * PAGE, (NPAGES - 400) * PAGE, MADV_DONTNEED);
	ioctl(fd, HMM_DMIRROR_STATS, &st0);
	ret = flock_range(fd, p, NPAGES, REQ,
			  HMM_DMIRROR_FLOCK_WRITE | HMM_DMIRROR_FLOCK_PREFETCH,
			  &filled);
	ioctl(fd, HMM_DMIRROR_STATS, &st1);
	{
		unsigned long wrong = 0, first = ~0UL;

		for (i = 0; i < NPAGES; i++) {
			uint64_t want = vw;

			if (i >= HOLE && i < RDONLY)
				want = 0;
			else if (i >= RDONLY && i < RDONLY + PIECE)
				want = v;
			if ((ents[i] & vw) != want) {
				wrong++;
				if (first == ~0UL)
					first = i;
			}
		}
		check("write, optional tail: holes skipped, the rest filled",
		      !ret && !wrong,
		      "ret %d, %lu entries not as expected, first page %lu: %#llx",
		      ret, wrong, first,
		      first == ~0UL ? 0ULL : (unsigned long long)ents[first]);
	}
	check("write, optional tail: filled counts the writable pages exactly",
	      !ret && filled == NPAGES - 3 * PIECE &&
	      filled == count_ents(NPAGES, vw),
	      "ret %d, filled %lu, expected %lu, writable entries %lu", ret,
	      filled, NPAGES - 3 * PIECE, count_ents(NPAGES, vw));
	check("a prefetch's pages count as prefetched, not faulted",
	      !ret && st1.faulted_pages == st0.faulted_pages &&
	      st1.prefetched_pages - st0.prefetched_pages >= filled,
	      "faulted %llu -> %llu, prefetched %llu -> %llu, filled %lu",
	      (unsigned long long)st0.faulted_pages,
	      (unsigned long long)st1.faulted_pages,
	      (unsigned long long)st0.prefetched_pages,
	      (unsigned long long)st1.prefetched_pages, filled);
	ret = flock_range(fd, p, NPAGES, REQ, 0, &filled);
	check("read, optional tail: read-only pages count, holes do not",
	      !ret && filled == NPAGES - 2 * PIECE &&
	      count_ents(NPAGES, v) == filled && !ents[HOLE] && !ents[NONE],
	      "ret %d, filled %lu, expected %lu, valid entries %lu, hole %#llx, PROT_NONE %#llx",
	      ret, filled, NPAGES - 2 * PIECE, count_ents(NPAGES, v),
	      (unsigned long long)ents[HOLE], (unsigned long long)ents[NONE]);

	/* 3. The same holes in the required part fail the call. */
	ret = flock_range(fd, p + (HOLE - 4) * PAGE, 8, 8, 0, &filled);
	check("an unmapped required page fails with EFAULT", ret == -EFAULT,
	      "ret %d", ret);
	ret = flock_range(fd, p + (NONE - 4) * PAGE, 8, 8, 0, &filled);
	check("a PROT_NONE required page fails with EFAULT", ret == -EFAULT,
	      "ret %d", ret);
	ret = flock_range(fd, p + RDONLY * PAGE, 8, 8,
			  HMM_DMIRROR_FLOCK_WRITE, &filled);
	check("writing a read-only required page fails with EPERM",
	      ret == -EPERM, "ret %d", ret);
	ret = flock_range(fd, p + RDONLY * PAGE, 8, 0,
			  HMM_DMIRROR_FLOCK_WRITE, &filled);
	check("writing read-only pages, all optional: no error, none filled",
	      !ret && filled == 0, "ret %d, filled %lu", ret, filled);

	/* 4. All optional over nothing at all: no error, nothing filled. */
	gone = map_aligned(LEAF, LEAF);
	munmap(gone, LEAF);
	ret = flock_range(fd, gone, 64, 0, 0, &filled);
	check("all optional over unmapped memory: 0, nothing filled",
	      !ret && filled == 0 && count_ents(64, v) == 0,
	      "ret %d, filled %lu, valid %lu", ret, filled,
	      count_ents(64, v));

	/*
	 * 5. A file mapped past its end: its VMA allows the fault, the
	 * fault fails there (SIGBUS): optional pages skipped one by one,
	 * a required one fails the call.
	 */
	mfd = syscall(SYS_memfd_create, "flock", 0);
	check_fatal("memfd", mfd >= 0 && !ftruncate(mfd, PAGE), "%s",
		    strerror(errno));
	file = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd,
		    0);
	check_fatal("mmap memfd", file != MAP_FAILED, "%s", strerror(errno));
	ret = flock_range(fd, file, 8, 1, HMM_DMIRROR_FLOCK_WRITE, &filled);
	check("a file past its end: the optional pages beyond are skipped",
	      !ret && filled == 1 && (ents[0] & vw) == vw &&
	      count_ents(8, v) == 1,
	      "ret %d, filled %lu, first entry %#llx, valid %lu", ret, filled,
	      (unsigned long long)ents[0], count_ents(8, v));
	ret = flock_range(fd, file, 8, 2, 0, &filled);
	check("a file past its end: a required page beyond fails with EFAULT",
	      ret == -EFAULT, "ret %d", ret);
	munmap(file, 8 * PAGE);
	close(mfd);

	/* 6. Bad requests. */
	ret = flock_range(fd, p, 8, 9, 0, &filled);
	check("more required pages than pages: EINVAL", ret == -EINVAL,
	      "ret %d", ret);

	/* 7. Invalidations racing: never an entry missing at return. */
	race(fd, 0, "racing MADV_DONTNEED: every read return has all entries");
	race(fd, HMM_DMIRROR_FLOCK_WRITE,
	     "racing MADV_DONTNEED: every write return has all entries");

	close(fd);
	munmap(p, NPAGES * PAGE);
	return check_done();
}
