// SPDX-License-Identifier: GPL-2.0
/*
 * HMM mirror benchmark, run in the guest (benchmarks/run): what a device
 * read through the mirror costs next to the CPU touching the same pages,
 * in the same run. Prints one JSON object.
 *
 *   cpu_first_touch    CPU writes one word per page of fresh memory: one
 *                      minor fault per page (allocate, zero, map)
 *   cpu_warm_touch     the same again: no fault
 *   device_read_cold   dmirror READ of the CPU-populated pages, not yet
 *                      mirrored: one mirror fault per page, plus the copy
 *   device_read_warm   the same again: mirrored, only the copy
 *   device_write_fresh dmirror WRITE of untouched memory: the mirror fault
 *                      allocates the pages, like the CPU's first touch
 *
 * Rates are pages per second. Ratios compare per-page costs:
 * mirror_fault_vs_cpu_minor_fault = (cold - warm device read time) /
 * (first - warm CPU touch time), i.e. what filling the mirror costs per
 * page against what a CPU minor fault costs.
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
#define STEP 4096UL		/* pages per ioctl: 16 MiB */

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void *map(unsigned long pages)
{
	void *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	madvise(p, pages * PAGE, MADV_NOHUGEPAGE);	/* 4 KiB faults */
	return p;
}

static double touch(volatile char *p, unsigned long pages)
{
	double t = now();
	unsigned long i;

	for (i = 0; i < pages; i++)
		p[i * PAGE] = (char)i;
	return now() - t;
}

static double device(int fd, unsigned long req, char *p, char *buf,
		     unsigned long pages)
{
	struct hmm_dmirror_cmd cmd;
	double t = now();
	unsigned long i;

	for (i = 0; i < pages; i += STEP) {
		cmd = (struct hmm_dmirror_cmd){
			.addr = (uintptr_t)(p + i * PAGE),
			.ptr = (uintptr_t)buf,
			.npages = STEP < pages - i ? STEP : pages - i,
		};
		if (ioctl(fd, req, &cmd)) {
			perror("dmirror ioctl");
			exit(1);
		}
	}
	return now() - t;
}

int main(int argc, char **argv)
{
	unsigned long mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 1024;
	unsigned long pages = mib * 256;
	double first, warm, cold, dwarm, fresh;
	char *p, *q, *buf;
	int fd;

	fd = open("/dev/hmm_dmirror0", O_RDWR);
	if (fd < 0) {
		perror("/dev/hmm_dmirror0");
		return 1;
	}
	buf = map(STEP);
	touch(buf, STEP);
	p = map(pages);
	first = touch(p, pages);
	warm = touch(p, pages);
	cold = device(fd, HMM_DMIRROR_READ, p, buf, pages);
	dwarm = device(fd, HMM_DMIRROR_READ, p, buf, pages);
	munmap(p, pages * PAGE);
	q = map(pages);
	fresh = device(fd, HMM_DMIRROR_WRITE, q, buf, pages);
	munmap(q, pages * PAGE);

	printf("{\n  \"benchmark\": \"hmm_mirror\",\n  \"mib\": %lu,\n  \"pages\": %lu,\n",
	       mib, pages);
	printf("  \"pages_per_s\": {\n");
	printf("    \"cpu_first_touch\": %.0f,\n", pages / first);
	printf("    \"cpu_warm_touch\": %.0f,\n", pages / warm);
	printf("    \"device_read_cold\": %.0f,\n", pages / cold);
	printf("    \"device_read_warm\": %.0f,\n", pages / dwarm);
	printf("    \"device_write_fresh\": %.0f\n  },\n", pages / fresh);
	printf("  \"ratios\": {\n");
	printf("    \"mirror_fault_vs_cpu_minor_fault\": %.3f,\n",
	       (cold - dwarm) / (first - warm));
	printf("    \"device_read_cold_vs_warm\": %.3f,\n", cold / dwarm);
	printf("    \"device_write_fresh_vs_cpu_first_touch\": %.3f\n  }\n}\n",
	       fresh / first);
	return 0;
}
