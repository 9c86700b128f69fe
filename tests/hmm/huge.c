// SPDX-License-Identifier: GPL-2.0
/*
 * Huge pages are mirrored as such: a PMD-mapped transparent huge page and
 * a hugetlbfs page are reported with HMM_DMIRROR_PROT_PMD, their data goes
 * both ways, and splitting the THP under the mirror keeps it coherent.
 */
#define _GNU_SOURCE
#include "dmirror.h"

#define HPAGE (2UL << 20)
#define NH (HPAGE / PAGE)

static int all_perm(const unsigned char *perm, unsigned long n, unsigned char want)
{
	unsigned long i;

	for (i = 0; i < n; i++)
		if (perm[i] != want)
			return 0;
	return 1;
}

static void test_thp(int fd)
{
	static unsigned char perm[2 * NH];
	char *buf = map_anon(2 * NH, PROT_READ | PROT_WRITE);
	char *p = map_aligned(2 * HPAGE, HPAGE);
	int ret;

	if (madvise(p, 2 * HPAGE, MADV_HUGEPAGE)) {
		skip("thp", "MADV_HUGEPAGE: %s", strerror(errno));
		return;
	}
	fill(p, 2 * NH, 21);
	ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, 2 * NH, NULL);
	check("thp: device reads a THP", !ret && differs(buf, 2 * NH, 21) < 0,
	      "ret %d word %ld", ret, differs(buf, 2 * NH, 21));
	ret = dm_cmd(fd, HMM_DMIRROR_SNAPSHOT, p, perm, 2 * NH, NULL);
	check("thp: snapshot reports PMD-mapped read-write pages",
	      !ret && all_perm(perm, 2 * NH, HMM_DMIRROR_PROT_WRITE |
			       HMM_DMIRROR_PROT_PMD),
	      "ret %d perm[0] 0x%x (is THP enabled?)", ret, perm[0]);

	fill(buf, 2 * NH, 22);
	ret = dm_cmd(fd, HMM_DMIRROR_WRITE, p, buf, 2 * NH, NULL);
	check("thp: device write into a THP", !ret && differs(p, 2 * NH, 22) < 0,
	      "ret %d word %ld", ret, differs(p, 2 * NH, 22));

	/* Split the first huge page: half of it read-only. */
	mprotect(p, HPAGE / 2, PROT_READ);
	ret = dm_cmd(fd, HMM_DMIRROR_SNAPSHOT, p, perm, 2 * NH, NULL);
	check("thp: after a split, the pages are no longer PMD-mapped",
	      !ret && !(perm[0] & HMM_DMIRROR_PROT_PMD) &&
	      !(perm[NH - 1] & HMM_DMIRROR_PROT_PMD),
	      "ret %d perm 0x%x 0x%x", ret, perm[0], perm[NH - 1]);
	check("thp: the read-only half is read-only for the device",
	      perm[0] == HMM_DMIRROR_PROT_READ, "perm 0x%x", perm[0]);
	ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, 2 * NH, NULL);
	check("thp: data intact after the split",
	      !ret && differs(buf, 2 * NH, 22) < 0, "ret %d word %ld", ret,
	      differs(buf, 2 * NH, 22));
	munmap(p, 2 * HPAGE);
	munmap(buf, 2 * NH * PAGE);
}

static void test_hugetlbfs(int fd)
{
	static unsigned char perm[NH];
	char *buf = map_anon(NH, PROT_READ | PROT_WRITE);
	char *p = mmap(NULL, HPAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	int ret;

	check_fatal("hugetlbfs: map a 2 MiB huge page (suite setup reserves them)",
		    p != MAP_FAILED, "%s", strerror(errno));
	fill(buf, NH, 23);
	ret = dm_cmd(fd, HMM_DMIRROR_WRITE, p, buf, NH, NULL);
	check("hugetlbfs: device write", !ret && differs(p, NH, 23) < 0,
	      "ret %d word %ld", ret, differs(p, NH, 23));
	fill(p, NH, 24);
	ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, NH, NULL);
	check("hugetlbfs: device read", !ret && differs(buf, NH, 24) < 0,
	      "ret %d word %ld", ret, differs(buf, NH, 24));
	ret = dm_cmd(fd, HMM_DMIRROR_SNAPSHOT, p, perm, NH, NULL);
	check("hugetlbfs: snapshot reports the huge page as PMD-mapped",
	      !ret && all_perm(perm, NH, HMM_DMIRROR_PROT_WRITE |
			       HMM_DMIRROR_PROT_PMD),
	      "ret %d perm[0] 0x%x", ret, perm[0]);
	munmap(p, HPAGE);
	munmap(buf, NH * PAGE);
}

int main(void)
{
	int fd = dm_open(0);

	test_thp(fd);
	test_hugetlbfs(fd);
	close(fd);
	return check_done();
}
