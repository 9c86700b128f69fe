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
 *   device_write_fresh     device WRITE of fresh anonymous memory: the
 *                          mirror fault allocates the pages, plus the copy
 *                          (its own figure: it includes a copy per page)
 *
 * Ratios, per round then their median: mirror_fault_minor_vs_cpu_minor_fault
 * (the same CPU fault, with and without the mirror on top) and
 * mirror_fill_vs_cpu_minor_fault (mirror_fault_present against it).
 *
 * Fault throughput beside unrelated munmaps, in pages per second: the
 * device READs (faults and copies) up to 256 MiB of anonymous memory the
 * CPU has mapped, alone (fault_alone) and while another thread unmaps and
 * maps again, in a loop, 4 MiB of memory the device never touches, 64 MiB
 * away (fault_beside_munmaps); their ratio, fault_beside_munmaps_vs_alone,
 * is 1 when those munmaps cost the mirror nothing but the CPU time they
 * take (a guest with one free CPU shares it). The munmaps per second and
 * the fault retries (the core's counter, hmm_mirror/stats) of each run
 * come with them: a mirror that watched the whole address space retried
 * its faults for those munmaps.
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

#include "hmm_dmirror_uapi.h"

#define PAGE 4096UL
#define STEP 4096UL		/* pages per ioctl and per chunk: 16 MiB */
#define ROUNDS 5
#define TP_PAGES 65536UL	/* the throughput runs' memory: 256 MiB */
#define LEAF (2UL << 20)	/* the mirror's leaf (HMM_MIRROR_LEAF_SIZE) */
#define OTHER_OFF (64UL << 20)	/* the unrelated memory, from the faulted */
#define OTHER_LEN (2 * LEAF)

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

/* The device reads or writes @pages from @p, 16 MiB (the buffer) an ioctl. */
static double device(unsigned long req, char *p, unsigned long pages)
{
	struct hmm_dmirror_cmd cmd;
	double t = now();
	unsigned long i;

	for (i = 0; i < pages; i += STEP) {
		cmd = (struct hmm_dmirror_cmd){
			.addr = (uintptr_t)(p + i * PAGE), .ptr = (uintptr_t)buf,
			.npages = STEP < pages - i ? STEP : pages - i,
		};
		if (ioctl(fd, req, &cmd)) {
			perror("dmirror ioctl");
			exit(1);
		}
	}
	return now() - t;
}

/* Sum over 16 MiB chunks of (cold READ - warm READ): the faults alone. */
static double fault_cost(char *p, unsigned long pages)
{
	unsigned long i, n;
	double sum = 0;

	for (i = 0; i < pages; i += n) {
		n = STEP < pages - i ? STEP : pages - i;
		sum += device(HMM_DMIRROR_READ, p + i * PAGE, n);
		sum -= device(HMM_DMIRROR_READ, p + i * PAGE, n);
	}
	return sum;
}

/* A counter of the HMM core (debugfs hmm_mirror/stats), -1 if unreadable. */
static long long hmm_stat(const char *name)
{
	FILE *f = fopen("/sys/kernel/debug/hmm_mirror/stats", "r");
	long long v, found = -1;
	char key[64];

	if (!f)
		return -1;
	while (fscanf(f, "%63s %lld", key, &v) == 2)
		if (!strcmp(key, name))
			found = v;
	fclose(f);
	return found;
}

struct munmapper {
	char *other;
	atomic_int stop;
	atomic_long rounds;
};

/* Unmap the unrelated memory and map it again, touched, until stopped. */
static void *munmapper(void *arg)
{
	struct munmapper *m = arg;

	while (!atomic_load(&m->stop)) {
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
 * Device READ faults of @pages fresh, CPU-mapped pages at @p (2 MiB
 * aligned, with room for the unrelated memory above), with or without the
 * munmapper: pages per second; munmaps per second and fault retries in
 * *@munmaps and *@retries.
 */
static double fault_throughput(char *p, unsigned long pages, int beside,
			       double *munmaps, double *retries)
{
	struct munmapper m = { .other = p + pages * PAGE + OTHER_OFF };
	long long before;
	pthread_t thread;
	double t;

	munmap(p, pages * PAGE);
	map_at(p, pages);
	touch(p, pages, 1);
	if (beside && pthread_create(&thread, NULL, munmapper, &m)) {
		perror("pthread_create");
		exit(1);
	}
	before = hmm_stat("fault_retries");
	t = device(HMM_DMIRROR_READ, p, pages);
	*retries = hmm_stat("fault_retries") - before;
	*munmaps = 0;
	if (beside) {
		atomic_store(&m.stop, 1);
		pthread_join(thread, NULL);
		*munmaps = atomic_load(&m.rounds) / t;
	}
	return pages / t;
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
	double alone[ROUNDS], beside[ROUNDS], r_beside[ROUNDS];
	double munmaps[ROUNDS], retries_alone[ROUNDS], retries_beside[ROUNDS];
	unsigned long tp_pages;
	double ns = 1e9 / pages, unused;
	char *p, *tp;
	int file, r;

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

	for (r = 0; r < ROUNDS; r++) {
		/* Progress on stderr (the JSON goes to stdout). */
		fprintf(stderr, "mirror_bench: round %d/%d, %lu MiB\n", r + 1,
			ROUNDS, mib);
		p = map_anon(pages);
		first[r] = touch(p, pages, 1) * ns;
		present[r] = fault_cost(p, pages) * ns;
		munmap(p, pages * PAGE);

		p = map(pages, MAP_SHARED, file);
		cpu_minor[r] = (touch(p, pages, 0) - touch(p, pages, 0)) * ns;
		munmap(p, pages * PAGE);
		p = map(pages, MAP_SHARED, file);
		minor[r] = fault_cost(p, pages) * ns;
		munmap(p, pages * PAGE);

		p = map_anon(pages);
		fresh[r] = device(HMM_DMIRROR_WRITE, p, pages) * ns;
		munmap(p, pages * PAGE);

		r_minor[r] = minor[r] / cpu_minor[r];
		r_fill[r] = present[r] / cpu_minor[r];

		alone[r] = fault_throughput(tp, tp_pages, 0, &unused,
					    &retries_alone[r]);
		beside[r] = fault_throughput(tp, tp_pages, 1, &munmaps[r],
					     &retries_beside[r]);
		r_beside[r] = beside[r] / alone[r];
	}

	printf("{\n  \"benchmark\": \"hmm_mirror\",\n  \"mib\": %lu,\n  \"pages\": %lu,\n"
	       "  \"rounds\": %d,\n", mib, pages, ROUNDS);
	printf("  \"ns_per_page\": {\n");
	figure("mirror_fault_present", present, ",");
	figure("mirror_fault_minor", minor, ",");
	figure("cpu_minor_fault", cpu_minor, ",");
	figure("cpu_first_touch", first, ",");
	figure("device_write_fresh", fresh, "");
	printf("  },\n  \"ratios\": {\n");
	figure("mirror_fault_minor_vs_cpu_minor_fault", r_minor, ",");
	figure("mirror_fill_vs_cpu_minor_fault", r_fill, ",");
	figure("fault_beside_munmaps_vs_alone", r_beside, "");
	printf("  },\n  \"fault_throughput\": {\n    \"mib\": %lu,\n",
	       tp_pages / 256);
	figure("fault_alone_pages_per_s", alone, ",");
	figure("fault_beside_munmaps_pages_per_s", beside, ",");
	figure("unrelated_munmaps_per_s", munmaps, ",");
	count("fault_retries_alone", retries_alone, ",");
	count("fault_retries_beside_munmaps", retries_beside, "");
	printf("  }\n}\n");
	return 0;
}
