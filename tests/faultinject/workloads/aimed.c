// SPDX-License-Identifier: GPL-2.0
/*
 * Failures aimed at the HMM core's own allocations: run in test-hmm's jail
 * with failslab and fail_page_alloc armed for tasks that ask for it, this
 * turns injection on for itself (/proc/self/make-it-fail) around one device
 * operation at a time, its own memory populated beforehand, so what fails
 * is the kernel's work for that operation and not this program:
 *  - open of a dmirror device: mirror registration (the mm's hmm is
 *    created again each time, the last mirror having been closed);
 *  - READ of 4 MiB through a fresh mirror: two page-table leaves and the
 *    fault's buffers.
 * Until registration, leaf allocation and an out-of-memory fault have each
 * been counted by the core (hmm_mirror/stats), or ROUNDS. Prints what it
 * saw; test-hmm checks the core's counters itself.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "counters.h"
#include "hmm_dmirror_uapi.h"

#define ROUNDS	3000
#define SIZE	(4UL << 20)

static int failfd;

static void inject(int on)
{
	/* pwrite on an fd opened beforehand: nothing to allocate. */
	if (pwrite(failfd, on ? "1" : "0", 1, 0) != 1)
		_exit(2);
}

int main(void)
{
	const char *names[3] = { "register_failed", "leaf_failed", "fault_nomem" };
	long long base[3];
	char *buf, *bounce;
	int round, i, done = 0, opens = 0, reads = 0;

	failfd = open("/proc/self/make-it-fail", O_WRONLY);
	buf = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	bounce = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (failfd < 0 || buf == MAP_FAILED || bounce == MAP_FAILED) {
		perror("aimed: setup");
		return 2;
	}
	memset(buf, 0x5a, SIZE);
	memset(bounce, 0, SIZE);
	for (i = 0; i < 3; i++)
		base[i] = hmm_stat(names[i]);
	for (round = 0; round < ROUNDS && !done; round++) {
		struct hmm_dmirror_cmd cmd = {
			.addr = (unsigned long)buf,
			.ptr = (unsigned long)bounce,
			.npages = SIZE / 4096,
		};
		int fd;

		inject(1);
		fd = open("/dev/hmm_dmirror0", O_RDWR);
		inject(0);
		if (fd < 0)
			continue;
		opens++;
		inject(1);
		if (!ioctl(fd, HMM_DMIRROR_READ, &cmd))
			reads++;
		inject(0);
		close(fd);
		done = 1;
		for (i = 0; i < 3; i++)
			done &= hmm_stat(names[i]) > base[i];
	}
	printf("aimed: %d rounds, %d opens, %d whole reads;", round, opens, reads);
	for (i = 0; i < 3; i++)
		printf(" %s +%lld", names[i], hmm_stat(names[i]) - base[i]);
	printf("\n");
	return done ? 0 : 1;
}
