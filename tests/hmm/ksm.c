// SPDX-License-Identifier: GPL-2.0
/*
 * KSM merges mirrored pages (it skips pages with extra references, so this
 * also shows the mirror holds none), the mirror follows the merge, and a
 * device write to a merged page breaks the sharing like a CPU write.
 */
#define _GNU_SOURCE
#include <time.h>

#include "dmirror.h"

#define N 32

static int merged(const char *a, const char *b)
{
	unsigned long i;
	uint64_t ea, eb;

	for (i = 0; i < N; i++) {
		ea = pagemap(a + i * PAGE);
		eb = pagemap(b + i * PAGE);
		if (!(ea & PM_PRESENT) || PM_PFN(ea) != PM_PFN(eb))
			return 0;
	}
	return 1;
}

int main(void)
{
	char *buf = map_anon(N, PROT_READ | PROT_WRITE);
	char *a = map_anon(N, PROT_READ | PROT_WRITE);
	char *b = map_anon(N, PROT_READ | PROT_WRITE);
	int fd = dm_open(0), ret, i;

	fill(a, N, 41);
	fill(b, N, 41);
	ret = dm_cmd(fd, HMM_DMIRROR_READ, a, buf, N, NULL);
	ret = ret ?: dm_cmd(fd, HMM_DMIRROR_READ, b, buf, N, NULL);
	check("ksm: both copies mirrored", !ret, "ret %d", ret);

	check_fatal("ksm: MADV_MERGEABLE", !madvise(a, N * PAGE, MADV_MERGEABLE) &&
		    !madvise(b, N * PAGE, MADV_MERGEABLE), "%s", strerror(errno));
	check_fatal("ksm: start ksmd",
		    !write_file("/sys/kernel/mm/ksm/pages_to_scan", "10000") &&
		    !write_file("/sys/kernel/mm/ksm/sleep_millisecs", "10") &&
		    !write_file("/sys/kernel/mm/ksm/run", "1"), "%s",
		    strerror(errno));
	for (i = 0; i < 300 && !merged(a, b); i++)
		usleep(100 * 1000);
	check("ksm: the mirrored copies were merged into shared pages",
	      merged(a, b), "not merged after %d s", i / 10);

	ret = dm_cmd(fd, HMM_DMIRROR_READ, b, buf, N, NULL);
	check("ksm: device reads the merged pages", !ret && differs(buf, N, 41) < 0,
	      "ret %d word %ld", ret, differs(buf, N, 41));

	fill(buf, N, 42);
	ret = dm_cmd(fd, HMM_DMIRROR_WRITE, a, buf, N, NULL);
	check("ksm: device write to merged pages", !ret && differs(a, N, 42) < 0,
	      "ret %d word %ld", ret, differs(a, N, 42));
	check("ksm: the other copy is untouched (sharing broken)",
	      differs(b, N, 41) < 0, "word %ld", differs(b, N, 41));
	check("ksm: the written copy has its own pages again", !merged(a, b),
	      "still merged");
	write_file("/sys/kernel/mm/ksm/run", "2");	/* unmerge all, stop */
	close(fd);
	return check_done();
}
