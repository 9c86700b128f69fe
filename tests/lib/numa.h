/* SPDX-License-Identifier: GPL-2.0 */
/*
 * NUMA for the tests: pages of a buffer moved between nodes with
 * move_pages(2) (no libnuma in the guest).
 */
#ifndef TESTS_NUMA_H
#define TESTS_NUMA_H

#include <sys/syscall.h>
#include <unistd.h>

#define MPOL_MF_MOVE	(1 << 1)

/*
 * Move the @npages 4 KiB pages of @buf to @node (or with @node < 0 only
 * look where they are): how many pages are on @node (or on node 0)
 * afterwards, -1 if move_pages(2) failed.
 */
static inline int pages_move(void *buf, int npages, int node)
{
	void *pages[npages];
	int nodes[npages], status[npages], i, n = 0;

	for (i = 0; i < npages; i++) {
		pages[i] = (char *)buf + i * 4096UL;
		nodes[i] = node;
		status[i] = -1;
	}
	if (syscall(SYS_move_pages, 0, npages, pages, node < 0 ? NULL : nodes,
		    status, node < 0 ? 0 : MPOL_MF_MOVE))
		return -1;
	for (i = 0; i < npages; i++)
		n += status[i] == (node < 0 ? 0 : node);
	return n;
}

#endif
