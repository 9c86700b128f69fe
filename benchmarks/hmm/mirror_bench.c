// SPDX-License-Identifier: GPL-2.0
/*
 * HMM mirror benchmark, run in the guest (benchmarks/run): what a mirror
 * fault costs next to a CPU fault of the same kind, in the same run.
 * Prints one JSON object. Every figure is measured ROUNDS times on fresh
 * memory and reported as its median with the min and max of the rounds.
 *
 * Fault costs are measured directly, chunk by chunk: each 16 MiB chunk is
 * read by the device twice in a row, cold then warm, and the chunk's
 * fault cost is its cold time minus its warm time (the same copy, a
 * moment apart, so drift between the two is small), summed over the
 * chunks. Figures in ns per 4 KiB page:
 *
 *   mirror_fault_present   device READ fault on anonymous pages the CPU
 *                          has mapped: the HMM walk and the mirror fill
 *   mirror_fault_minor     device READ fault on a fresh shared mapping of
 *                          a file whose pages are in the page cache: the
 *                          walk faults each page in (a CPU minor fault,
 *                          no allocation), then the mirror fill
 *   cpu_minor_fault        the CPU's first read of a fresh mapping of the
 *                          same file: a minor fault that maps a page
 *                          already there (like with like for the one above)
 *   cpu_first_touch        the CPU's first write to fresh anonymous memory:
 *                          a fault that allocates and zeroes the page
 *   mirror_fault_cold      device WRITE fault on fresh anonymous memory
 *                          the CPU never touched: the walk faults each
 *                          page in, allocating and zeroing it, then the
 *                          mirror fill (cold WRITE minus warm WRITE of
 *                          each chunk, as above)
 *   device_write_fresh     device WRITE of fresh anonymous memory: the
 *                          mirror fault allocates the pages, plus the copy
 *                          (its own figure: it includes a copy per page;
 *                          the cold half of mirror_fault_cold's pairs)
 *
 * Ratios, per round then their median: mirror_fault_minor_vs_cpu_minor_fault
 * (the same CPU fault, with and without the mirror on top),
 * mirror_fill_vs_cpu_minor_fault (mirror_fault_present against it) and
 * mirror_fault_cold_vs_cpu_first_touch (a device fault that allocates
 * against the CPU's own first touch, which allocates the same way).
 *
 * Fault throughput beside unrelated munmaps, in pages per second: the
 * device WRITEs (faults that allocate, and copies) up to 256 MiB of fresh
 * anonymous memory the CPU never touched, so that each leaf's walk is long
 * enough for an invalidation to land in it (on pages the CPU has mapped
 * the walk is short beside the copy and races next to nothing), alone
 * (fault_alone) and while another thread unmaps and
 * maps again, in a loop, 4 MiB of memory the device never touches, 64 MiB
 * away (fault_beside_munmaps); their ratio, fault_beside_munmaps_vs_alone,
 * is 1 when those munmaps cost the mirror nothing but the CPU time they
 * take (a guest with one free CPU shares it). The munmaps per second and
 * the fault retries (the core's counter, hmm_mirror/stats) of each run
 * come with them. The same with MADV_DONTNEED of that memory instead of
 * munmap (fault_beside_zaps, unrelated_zaps_per_s): an munmap first takes
 * the mmap lock for writing, so it waits for the walk in flight
 * (hmm_range_fault() holds it for reading) and its invalidation mostly
 * lands between two walks, where it costs a fault little even when it
 * reaches the mirror; a zap takes the lock for reading only and can land
 * in the middle of a walk. The same runs again with a mirror in the core's
 * HMM_MIRROR_WATCH_ALL mode (dmirror's HMM_DMIRROR_MODE_WATCH_ALL): one
 * notifier over the whole address space, as the core had before it
 * watched 2 MiB leaves, which every one of those munmaps and zaps
 * invalidates, and whose faults retry for them (whole_space_*);
 * whole_space_vs_per_leaf_beside_{munmaps,zaps} are its throughputs
 * against the default mode's, same rounds.
 *
 * Parallel device readers: the device READs (copies out) 64 MiB it has
 * already faulted, from 1 and from 2 threads on the same file (the same
 * mirror), each with its own buffer, 64 KiB an ioctl; readers_N_pages_per_s
 * is all N threads' pages over the wall time, readers_2_vs_1 their ratio.
 * dmirror copies each page into a bounce buffer under the mirror lock,
 * then to the user outside it: in 64 KiB ioctls (a kmalloc'ed bounce) the
 * copy under the lock is a large part of each, so the ratio shows what
 * readers in parallel under the lock gain (in 16 MiB ioctls the bounce
 * buffer's vmalloc, outside the lock, would hide it). "cpus" says how many
 * CPUs the guest had for them.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "counters.h"
#include "hmm_dmirror_uapi.h"

#define PAGE 4096UL
#define STEP 4096UL		/* pages per ioctl and per chunk: 16 MiB */
#define ROUNDS 5
#define TP_PAGES 65536UL	/* the throughput runs' memory: 256 MiB */
#define LEAF (2UL << 20)	/* the mirror's leaf (HMM_MIRROR_LEAF_SIZE) */
#define OTHER_OFF (64UL << 20)	/* the unrelated memory, from the faulted */
#define OTHER_LEN (2 * LEAF)
#define RD_PAGES 16384UL	/* the readers' memory: 64 MiB */
#define RD_PASSES 4		/* over it, per reader */
#define RD_STEP 16UL		/* pages per reader's ioctl: 64 KiB */
#define MAX_READERS 2

static int fd;
static char *buf;

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void *map(unsigned long pages, int flags, int file)
{
	void *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, flags, file, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	madvise(p, pages * PAGE, MADV_NOHUGEPAGE);	/* 4 KiB faults */
	return p;
}

static void *map_anon(unsigned long pages)
{
	return map(pages, MAP_PRIVATE | MAP_ANONYMOUS, -1);
}

/* Fresh anonymous memory at @p, which must be free. */
static void map_at(void *p, unsigned long pages)
{
	if (mmap(p, pages * PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != p) {
		perror("mmap");
		exit(1);
	}
	madvise(p, pages * PAGE, MADV_NOHUGEPAGE);
}

/* @len bytes of address space aligned on @align, mapped. */
static char *map_aligned(unsigned long len, unsigned long align)
{
	char *p = map_anon((len + align) / PAGE);
	uintptr_t a = ((uintptr_t)p + align - 1) & ~(align - 1);

	if (a > (uintptr_t)p)
		munmap(p, a - (uintptr_t)p);
	munmap((char *)a + len, (uintptr_t)p + align - a);
	return (char *)a;
}

static double touch(volatile char *p, unsigned long pages, int write)
{
	double t = now();
	unsigned long i;
	char sink = 0;

	for (i = 0; i < pages; i++) {
		if (write)
			p[i * PAGE] = (char)i;
		else
			sink += p[i * PAGE];
	}
	(void)sink;
	return now() - t;
}

/*
 * Device @dev reads or writes @pages from @p, @step pages (at most the
 * buffer @to) an ioctl.
 */
static double device_io(int dev, unsigned long req, char *p,
			unsigned long pages, char *to, unsigned long step)
{
	struct hmm_dmirror_cmd cmd;
	double t = now();
	unsigned long i;

	for (i = 0; i < pages; i += step) {
		cmd = (struct hmm_dmirror_cmd){
			.addr = (uintptr_t)(p + i * PAGE), .ptr = (uintptr_t)to,
			.npages = step < pages - i ? step : pages - i,
		};
		if (ioctl(dev, req, &cmd)) {
			perror("dmirror ioctl");
			exit(1);
		}
	}
	return now() - t;
}

static double device(unsigned long req, char *p, unsigned long pages)
{
	return device_io(fd, req, p, pages, buf, STEP);
}

/*
 * Sum over 16 MiB chunks of (cold - warm) READs or WRITEs (@req): the
 * faults alone. The cold ones' sum in *@cold if given.
 */
static double fault_cost(unsigned long req, char *p, unsigned long pages,
			 double *cold)
{
	unsigned long i, n;
	double sum = 0, first = 0, t;

	for (i = 0; i < pages; i += n) {
		n = STEP < pages - i ? STEP : pages - i;
		t = device(req, p + i * PAGE, n);
		first += t;
		sum += t;
		sum -= device(req, p + i * PAGE, n);
	}
	if (cold)
		*cold = first;
	return sum;
}

/* A new mirror of this process in HMM_DMIRROR_MODE_WATCH_ALL mode. */
static int open_whole_space(void)
{
	__u64 mode = HMM_DMIRROR_MODE_WATCH_ALL;
	int dev = open("/dev/hmm_dmirror0", O_RDWR);

	if (dev < 0 || ioctl(dev, HMM_DMIRROR_SET_MODE, &mode)) {
		perror("whole-space mirror");
		exit(1);
	}
	return dev;
}

/* What the other thread does to the unrelated memory, in a loop. */
enum { ALONE, MUNMAPS, ZAPS, LOADS };
static const char *const load_name[LOADS] = {
	"alone", "beside_munmaps", "beside_zaps",
};

struct munmapper {
	char *other;
	int zap;
	atomic_int stop;
	atomic_long rounds;
};

/*
 * Unmap the unrelated memory and map it again, touched, until stopped; or
 * (zap) drop its pages with MADV_DONTNEED and touch it again.
 */
static void *munmapper(void *arg)
{
	struct munmapper *m = arg;

	while (!atomic_load(&m->stop)) {
		if (m->zap) {
			madvise(m->other, OTHER_LEN, MADV_DONTNEED);
			m->other[0] = 1;
			atomic_fetch_add(&m->rounds, 1);
			continue;
		}
		munmap(m->other, OTHER_LEN);
		if (mmap(m->other, OTHER_LEN, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
		    MAP_FAILED) {
			perror("munmapper: mmap");
			exit(1);
		}
		m->other[0] = 1;
		atomic_fetch_add(&m->rounds, 1);
	}
	return NULL;
}

/*
 * Device WRITE faults of @pages fresh, untouched pages at @p (2 MiB
 * aligned, with room for the unrelated memory above), alone or beside the
 * munmapper (@beside: MUNMAPS or ZAPS): pages per second; the munmapper's
 * rounds per second and the fault retries in *@munmaps and *@retries.
 */
static double fault_throughput(int dev, char *p, unsigned long pages,
			       int beside, double *munmaps, double *retries)
{
	struct munmapper m = { .other = p + pages * PAGE + OTHER_OFF,
			       .zap = beside == ZAPS };
	long long before;
	pthread_t thread;
	double t;

	munmap(p, pages * PAGE);
	map_at(p, pages);
	if (beside && pthread_create(&thread, NULL, munmapper, &m)) {
		perror("pthread_create");
		exit(1);
	}
	before = hmm_stat("fault_retries");
	t = device_io(dev, HMM_DMIRROR_WRITE, p, pages, buf, STEP);
	*retries = hmm_stat("fault_retries") - before;
	*munmaps = 0;
	if (beside) {
		atomic_store(&m.stop, 1);
		pthread_join(thread, NULL);
		*munmaps = atomic_load(&m.rounds) / t;
	}
	return pages / t;
}

struct reader {
	pthread_t thread;
	char *p, *to;
	unsigned long pages;
	pthread_barrier_t *start;
};

static void *reader(void *arg)
{
	struct reader *r = arg;
	int i;

	pthread_barrier_wait(r->start);
	for (i = 0; i < RD_PASSES; i++)
		device_io(fd, HMM_DMIRROR_READ, r->p, r->pages, r->to,
			  RD_STEP);
	return NULL;
}

/*
 * @n threads read the @pages at @p (faulted already) through the same
 * mirror, RD_PASSES times each: all their pages per second of wall time.
 */
static double readers(int n, char *p, unsigned long pages, char **bufs)
{
	struct reader r[MAX_READERS];
	pthread_barrier_t start;
	double t;
	int i;

	pthread_barrier_init(&start, NULL, n + 1);
	for (i = 0; i < n; i++) {
		r[i] = (struct reader){ .p = p, .to = bufs[i], .pages = pages,
					.start = &start };
		if (pthread_create(&r[i].thread, NULL, reader, &r[i])) {
			perror("pthread_create");
			exit(1);
		}
	}
	pthread_barrier_wait(&start);
	t = now();
	for (i = 0; i < n; i++)
		pthread_join(r[i].thread, NULL);
	t = now() - t;
	pthread_barrier_destroy(&start);
	return (double)n * RD_PASSES * pages / t;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * "name": {"median", "min", "max", "resolved"} of v[ROUNDS]. A cost whose
 * rounds do not all come out above zero is below what this measurement
 * resolves ("resolved": false): its median is noise, not a cost.
 */
static void figure(const char *name, double *v, const char *end)
{
	qsort(v, ROUNDS, sizeof(*v), cmp);
	printf("    \"%s\": {\"median\": %.3f, \"min\": %.3f, \"max\": %.3f, "
	       "\"resolved\": %s}%s\n", name, v[ROUNDS / 2], v[0],
	       v[ROUNDS - 1], v[0] > 0 ? "true" : "false", end);
}

/* "name": {"median", "min", "max"} of counts v[ROUNDS]. */
static void count(const char *name, double *v, const char *end)
{
	qsort(v, ROUNDS, sizeof(*v), cmp);
	printf("    \"%s\": {\"median\": %.0f, \"min\": %.0f, \"max\": %.0f}%s\n",
	       name, v[ROUNDS / 2], v[0], v[ROUNDS - 1], end);
}

int main(int argc, char **argv)
{
	unsigned long mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 1024;
	unsigned long pages = mib * 256;
	double present[ROUNDS], minor[ROUNDS], cpu_minor[ROUNDS];
	double first[ROUNDS], fresh[ROUNDS], r_minor[ROUNDS], r_fill[ROUNDS];
	double cold[ROUNDS], r_cold[ROUNDS];
	/* [per leaf, whole space][load]: the throughput runs */
	double tput[2][LOADS][ROUNDS], ops[2][LOADS][ROUNDS];
	double retries[2][LOADS][ROUNDS], r_load[2][LOADS][ROUNDS];
	double r_ws[LOADS][ROUNDS];
	static const char *const prefix[2] = { "", "whole_space_" };
	char name[128];
	int w, l;
	double rd[MAX_READERS][ROUNDS], r_rd[ROUNDS];
	unsigned long tp_pages, rd_pages;
	double ns = 1e9 / pages;
	char *p, *tp, *rd_bufs[MAX_READERS];
	int file, r, dev, i;

	fd = open("/dev/hmm_dmirror0", O_RDWR);
	if (fd < 0) {
		perror("/dev/hmm_dmirror0");
		return 1;
	}
	buf = map_anon(STEP);
	touch(buf, STEP, 1);
	/* A file whose pages all stay in the page cache. */
	file = memfd_create("mirror-bench", MFD_CLOEXEC);
	if (file < 0 || ftruncate(file, pages * PAGE)) {
		perror("memfd");
		return 1;
	}
	p = map(pages, MAP_SHARED, file);
	touch(p, pages, 1);
	munmap(p, pages * PAGE);
	/* The throughput runs' memory, then the unrelated memory above. */
	tp_pages = pages < TP_PAGES ? pages : TP_PAGES;
	tp = map_aligned(tp_pages * PAGE + OTHER_OFF + OTHER_LEN, LEAF);
	/* The readers' memory is the throughput runs', once they are done. */
	rd_pages = tp_pages < RD_PAGES ? tp_pages : RD_PAGES;
	for (i = 0; i < MAX_READERS; i++) {
		rd_bufs[i] = map_anon(STEP);
		touch(rd_bufs[i], STEP, 1);
	}

	for (r = 0; r < ROUNDS; r++) {
		/* Progress on stderr (the JSON goes to stdout). */
		fprintf(stderr, "mirror_bench: round %d/%d, %lu MiB\n", r + 1,
			ROUNDS, mib);
		p = map_anon(pages);
		first[r] = touch(p, pages, 1) * ns;
		present[r] = fault_cost(HMM_DMIRROR_READ, p, pages, NULL) * ns;
		munmap(p, pages * PAGE);

		p = map(pages, MAP_SHARED, file);
		cpu_minor[r] = (touch(p, pages, 0) - touch(p, pages, 0)) * ns;
		munmap(p, pages * PAGE);
		p = map(pages, MAP_SHARED, file);
		minor[r] = fault_cost(HMM_DMIRROR_READ, p, pages, NULL) * ns;
		munmap(p, pages * PAGE);

		p = map_anon(pages);
		cold[r] = fault_cost(HMM_DMIRROR_WRITE, p, pages, &fresh[r]) * ns;
		fresh[r] *= ns;
		munmap(p, pages * PAGE);

		r_minor[r] = minor[r] / cpu_minor[r];
		r_fill[r] = present[r] / cpu_minor[r];
		r_cold[r] = cold[r] / first[r];

		/*
		 * The default mirror, then one in WATCH_ALL mode, its own,
		 * gone again before the next round's runs.
		 */
		for (w = 0; w < 2; w++) {
			dev = w ? open_whole_space() : fd;
			for (l = 0; l < LOADS; l++) {
				tput[w][l][r] = fault_throughput(dev, tp,
						tp_pages, l, &ops[w][l][r],
						&retries[w][l][r]);
				r_load[w][l][r] = tput[w][l][r] /
						  tput[w][ALONE][r];
			}
			if (w)
				close(dev);
		}
		for (l = 0; l < LOADS; l++)
			r_ws[l][r] = tput[1][l][r] / tput[0][l][r];

		device(HMM_DMIRROR_READ, tp, rd_pages);	/* faulted: warm */
		for (i = 0; i < MAX_READERS; i++)
			rd[i][r] = readers(i + 1, tp, rd_pages, rd_bufs);
		r_rd[r] = rd[1][r] / rd[0][r];
	}

	printf("{\n  \"benchmark\": \"hmm_mirror\",\n  \"mib\": %lu,\n  \"pages\": %lu,\n"
	       "  \"rounds\": %d,\n  \"cpus\": %ld,\n", mib, pages, ROUNDS,
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("  \"ns_per_page\": {\n");
	figure("mirror_fault_present", present, ",");
	figure("mirror_fault_minor", minor, ",");
	figure("cpu_minor_fault", cpu_minor, ",");
	figure("cpu_first_touch", first, ",");
	figure("mirror_fault_cold", cold, ",");
	figure("device_write_fresh", fresh, "");
	printf("  },\n  \"ratios\": {\n");
	figure("mirror_fault_minor_vs_cpu_minor_fault", r_minor, ",");
	figure("mirror_fill_vs_cpu_minor_fault", r_fill, ",");
	figure("mirror_fault_cold_vs_cpu_first_touch", r_cold, ",");
	for (w = 0; w < 2; w++)
		for (l = MUNMAPS; l < LOADS; l++) {
			snprintf(name, sizeof(name), "%s%s_vs_alone",
				 w ? "whole_space_" : "fault_", load_name[l]);
			figure(name, r_load[w][l], ",");
		}
	for (l = MUNMAPS; l < LOADS; l++) {
		snprintf(name, sizeof(name), "whole_space_vs_per_leaf_%s",
			 load_name[l]);
		figure(name, r_ws[l], ",");
	}
	figure("readers_2_vs_1", r_rd, "");
	printf("  },\n  \"fault_throughput\": {\n    \"mib\": %lu,\n",
	       tp_pages / 256);
	for (w = 0; w < 2; w++)
		for (l = 0; l < LOADS; l++) {
			snprintf(name, sizeof(name), "%sfault_%s_pages_per_s",
				 prefix[w], load_name[l]);
			figure(name, tput[w][l], ",");
			if (l != ALONE) {
				snprintf(name, sizeof(name),
					 "%sunrelated_%s_per_s", prefix[w],
					 l == ZAPS ? "zaps" : "munmaps");
				figure(name, ops[w][l], ",");
			}
			snprintf(name, sizeof(name), "%sfault_retries_%s",
				 prefix[w], load_name[l]);
			count(name, retries[w][l],
			      w && l == LOADS - 1 ? "" : ",");
		}
	printf("  },\n  \"readers\": {\n    \"mib\": %lu,\n"
	       "    \"passes\": %d,\n", rd_pages / 256, RD_PASSES);
	figure("readers_1_pages_per_s", rd[0], ",");
	figure("readers_2_pages_per_s", rd[1], "");
	printf("  }\n}\n");
	return 0;
}
