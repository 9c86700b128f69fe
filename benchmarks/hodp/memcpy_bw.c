// SPDX-License-Identifier: GPL-2.0
/*
 * memcpy_bw SIZE...: the guest CPU's copy bandwidth between two buffers of
 * SIZE bytes, repeated for about half a second per size. This is the
 * ceiling for an in-host software HCA, which moves every payload byte with
 * one CPU copy. Two ways to copy: glibc's memcpy, and a plain loop of
 * 8-byte words. Under TCG their costs differ wildly by size (glibc picks
 * rep movsb for mid sizes, which TCG emulates slowly), so both are
 * reported. Prints "SIZE MEMCPY_MIB_PER_S LOOP_MIB_PER_S" per size, in
 * perftest's units (MB/sec there is 2^20 bytes per second).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* Not turned into a memcpy call by the compiler: the point is the loop. */
__attribute__((optimize("no-tree-loop-distribute-patterns")))
static void word_copy(void *dst, const void *src, size_t size)
{
	unsigned long *d = dst;
	const unsigned long *s = src;

	for (size_t i = 0; i < size / sizeof(*d); i++)
		d[i] = s[i];
}

static double bandwidth(size_t size, bool loop)
{
	char *src = malloc(size), *dst = malloc(size);
	unsigned long rounds = 0, batch = 1;
	double t0, t;

	if (!src || !dst) {
		perror("malloc");
		exit(1);
	}
	memset(src, 0x5a, size);
	memset(dst, 0, size);
	t0 = now();
	do {
		for (unsigned long i = 0; i < batch; i++) {
			if (loop)
				word_copy(dst, src, size);
			else
				memcpy(dst, src, size);
			/* keep the copy: the compiler may not drop it */
			__asm__ volatile("" : : "r"(dst) : "memory");
		}
		rounds += batch;
		if (batch < (1UL << 20))
			batch *= 2;
		t = now() - t0;
	} while (t < 0.5);
	if (dst[size - 1] != 0x5a) {
		fprintf(stderr, "memcpy_bw: copy did not happen\n");
		exit(1);
	}
	free(src);
	free(dst);
	return (double)size * rounds / t / (1 << 20);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: memcpy_bw SIZE...\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		char *end;
		unsigned long size = strtoul(argv[i], &end, 0);

		if (*end || !size) {
			fprintf(stderr, "memcpy_bw: bad size '%s'\n", argv[i]);
			return 2;
		}
		if (size % sizeof(long)) {
			fprintf(stderr, "memcpy_bw: size %lu is not a multiple of %zu\n",
				size, sizeof(long));
			return 2;
		}
		printf("%lu %.1f %.1f\n", size, bandwidth(size, false),
		       bandwidth(size, true));
	}
	return 0;
}
