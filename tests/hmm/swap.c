// SPDX-License-Identifier: GPL-2.0
/*
 * Nothing is pinned: mirrored pages can be paged out to swap (zram in the
 * guest, set up by the suite) while the mirror exists; the mirror lets go
 * of them, and the device faults them back with the right contents. The
 * kernel's pin counters do not move.
 */
#define _GNU_SOURCE
#include "dmirror.h"

#define N 256

int main(void)
{
	static unsigned char perm[N];
	char *buf = map_anon(N, PROT_READ | PROT_WRITE);
	char *p = map_anon(N, PROT_READ | PROT_WRITE);
	long long pins = vmstat("nr_foll_pin_acquired");
	long long unpins = vmstat("nr_foll_pin_released");
	struct hmm_dmirror_cmd cmd;
	unsigned long i, swapped = 0, absent = 0;
	int fd = dm_open(0), ret;

	check_fatal("swap: the kernel counts pins in /proc/vmstat",
		    pins >= 0 && unpins >= 0, "nr_foll_pin_* missing");
	madvise(p, N * PAGE, MADV_NOHUGEPAGE);
	fill(p, N, 31);
	ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, N, NULL);
	check("swap: device reads before pageout", !ret && differs(buf, N, 31) < 0,
	      "ret %d", ret);

	ret = madvise(p, N * PAGE, MADV_PAGEOUT);
	check_fatal("swap: MADV_PAGEOUT", !ret, "%s", strerror(errno));
	for (i = 0; i < N; i++)
		swapped += !!(pagemap(p + i * PAGE) & PM_SWAPPED);
	check("swap: mirrored pages really left memory", swapped == N,
	      "%lu of %d pages swapped (is zram swap on?)", swapped, N);

	ret = dm_cmd(fd, HMM_DMIRROR_SNAPSHOT, p, perm, N, NULL);
	for (i = 0; i < N; i++)
		absent += perm[i] == HMM_DMIRROR_PROT_NONE;
	check("swap: the mirror let go of the swapped pages", !ret && absent == swapped,
	      "ret %d, %lu absent, %lu swapped", ret, absent, swapped);

	memset(buf, 0, N * PAGE);
	ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, N, &cmd);
	check("swap: device faults the pages back in", !ret && cmd.faults >= 1,
	      "ret %d faults %llu", ret, (unsigned long long)cmd.faults);
	check("swap: with the right contents", differs(buf, N, 31) < 0,
	      "word %ld", differs(buf, N, 31));
	check("swap: the CPU sees the same contents", differs(p, N, 31) < 0,
	      "word %ld", differs(p, N, 31));

	/* Device-written pages go out and come back too. */
	fill(buf, N, 32);
	ret = dm_cmd(fd, HMM_DMIRROR_WRITE, p, buf, N, NULL);
	madvise(p, N * PAGE, MADV_PAGEOUT);
	memset(buf, 0, N * PAGE);
	ret = ret ?: dm_cmd(fd, HMM_DMIRROR_READ, p, buf, N, NULL);
	check("swap: device writes survive a round trip through swap",
	      !ret && differs(buf, N, 32) < 0 && differs(p, N, 32) < 0,
	      "ret %d word %ld", ret, differs(buf, N, 32));

	check("swap: no page was pinned (nr_foll_pin_acquired unchanged)",
	      vmstat("nr_foll_pin_acquired") == pins, "%lld -> %lld", pins,
	      vmstat("nr_foll_pin_acquired"));
	check("swap: no pin was released either (nr_foll_pin_released unchanged)",
	      vmstat("nr_foll_pin_released") == unpins, "%lld -> %lld", unpins,
	      vmstat("nr_foll_pin_released"));
	close(fd);
	return check_done();
}
