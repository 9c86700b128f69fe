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
 */
#define _GNU_SOURCE
#include <fcntl.h>
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

int main(int argc, char **argv)
{
	unsigned long mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 1024;
	unsigned long pages = mib * 256;
	double present[ROUNDS], minor[ROUNDS], cpu_minor[ROUNDS];
	double first[ROUNDS], fresh[ROUNDS], r_minor[ROUNDS], r_fill[ROUNDS];
	double ns = 1e9 / pages;
	char *p;
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
	figure("mirror_fill_vs_cpu_minor_fault", r_fill, "");
	printf("  }\n}\n");
	return 0;
}
