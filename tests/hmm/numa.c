// SPDX-License-Identifier: GPL-2.0
/*
 * NUMA migration with move_pages(2) (the suite boots the guest with two
 * fake nodes): mirrored pages move, the mirror follows them, and the
 * device reads and writes the moved pages correctly.
 */
#define _GNU_SOURCE
#include <sys/syscall.h>

#include "dmirror.h"

#define N 16
#define MPOL_MF_MOVE (1 << 1)

static long move_pages(unsigned long count, void **pages, const int *nodes,
		       int *status)
{
	return syscall(SYS_move_pages, 0, count, pages, nodes, status,
		       MPOL_MF_MOVE);
}

static int nodes_of(void **pages, int *status, int want)
{
	int i, ok = 1;

	move_pages(N, pages, NULL, status);
	for (i = 0; i < N; i++)
		ok &= status[i] == want;
	return ok;
}

int main(void)
{
	char *buf = map_anon(N, PROT_READ | PROT_WRITE);
	char *p = map_anon(N, PROT_READ | PROT_WRITE);
	void *pages[N];
	int nodes[N], status[N], fd = dm_open(1), ret, i, from, to;
	long long inval = hmm_stat("invalidations");

	fill(p, N, 51);
	for (i = 0; i < N; i++)
		pages[i] = p + i * PAGE;
	move_pages(N, pages, NULL, status);
	from = status[0];
	check_fatal("numa: the guest has two nodes",
		    !access("/sys/devices/system/node/node1", F_OK),
		    "no node1 (boot with numa=fake=2)");
	to = from == 0 ? 1 : 0;

	ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, N, NULL);
	check("numa: device reads before migration", !ret, "ret %d", ret);

	for (i = 0; i < N; i++)
		nodes[i] = to;
	ret = move_pages(N, pages, nodes, status);
	check("numa: move_pages moved every mirrored page",
	      !ret && nodes_of(pages, status, to), "ret %d errno %d status[0] %d",
	      ret, errno, status[0]);
	check("numa: the mirror was invalidated by the migration",
	      hmm_stat("invalidations") > inval, "invalidations %lld -> %lld",
	      inval, hmm_stat("invalidations"));

	memset(buf, 0, N * PAGE);
	ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, N, NULL);
	check("numa: device reads the moved pages", !ret && differs(buf, N, 51) < 0,
	      "ret %d word %ld", ret, differs(buf, N, 51));
	fill(buf, N, 52);
	ret = dm_cmd(fd, HMM_DMIRROR_WRITE, p, buf, N, NULL);
	check("numa: device writes reach the moved pages",
	      !ret && differs(p, N, 52) < 0, "ret %d word %ld", ret,
	      differs(p, N, 52));

	/* And back, with device-written data. */
	for (i = 0; i < N; i++)
		nodes[i] = from;
	ret = move_pages(N, pages, nodes, status);
	check("numa: device-written pages move back", !ret &&
	      nodes_of(pages, status, from) && differs(p, N, 52) < 0,
	      "ret %d status[0] %d word %ld", ret, status[0], differs(p, N, 52));
	close(fd);
	return check_done();
}
