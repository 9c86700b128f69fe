// SPDX-License-Identifier: GPL-2.0
/*
 * Registered memory migrated between NUMA nodes under the device: the
 * pages of an explicit ODP MR that the device mirrors are moved to the
 * other node (move_pages(2)). The mirror is told and drops the old pages;
 * RDMA READ reads the data from the new ones, and RDMA WRITE lands in the
 * new ones, where the CPU reads it (not in the old pages, freed by the
 * migration). Then back, with the device writing between the moves.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mem.h"
#include "numa.h"

#define LEN	(2 * MIB)
#define NPAGES	((int)(LEN / 4096))

static struct ctx c;

/*
 * Move every page of @buf to @node (or with @node < 0 only look where
 * they are): how many pages are on @node (or on node 0) afterwards, -1 if
 * move_pages(2) failed.
 */
static int move_to(uint8_t *buf, int node)
{
	return pages_move(buf, NPAGES, node);
}

/* One round: move @buf to @node under the device, then read and write. */
static void round_to(struct rc_pair *p, struct ibv_mr *mr, uint8_t *buf,
		     struct ibv_mr *tmr, uint8_t *tmp, int node,
		     unsigned int seed)
{
	long long inv0 = hmm_stat("invalidated_pages");
	char name[128];
	int n, st;

	n = move_to(buf, node);
	snprintf(name, sizeof(name), "node %d: every page moved there", node);
	check(name, n == NPAGES, "%d of %d (%s)", n, NPAGES,
	      n < 0 ? strerror(errno) : "move_pages");
	snprintf(name, sizeof(name), "node %d: the mirror dropped the old pages",
		 node);
	check(name, hmm_stat("invalidated_pages") - inv0 >= NPAGES,
	      "invalidated_pages +%lld for %d pages",
	      hmm_stat("invalidated_pages") - inv0, NPAGES);

	memset(tmp, 0, LEN);
	st = rdma_op(p->a, c.cq, IBV_WR_RDMA_READ, tmr, tmp, LEN, mr, buf);
	snprintf(name, sizeof(name),
		 "node %d: RDMA READ reads the data from the new pages", node);
	check(name, !st && is_filled(tmp, LEN, seed), "status %d", st);

	fill(tmp, LEN, seed + 1);
	st = rdma_op(p->a, c.cq, IBV_WR_RDMA_WRITE, tmr, tmp, LEN, mr, buf);
	snprintf(name, sizeof(name),
		 "node %d: RDMA WRITE lands where the CPU reads", node);
	check(name, !st && is_filled(buf, LEN, seed + 1), "status %d", st);
	n = move_to(buf, -1);
	snprintf(name, sizeof(name), "node %d: the pages stayed there", node);
	check(name, node ? n == 0 : n == NPAGES, "%d of %d on node 0", n,
	      NPAGES);
}

int main(void)
{
	struct ibv_mr *mr, *tmr;
	uint8_t *buf, *tmp;
	struct rc_pair p;

	check_fatal("the guest has two NUMA nodes",
		    !access("/sys/devices/system/node/node1", F_OK),
		    "no node1 (suite.conf's qemu options)");
	open_dev(&c, "hodp0");
	p = rc_pair(&c, ALL_ACCESS, 7);
	buf = map(LEN);
	tmp = map(LEN);
	madvise(buf, LEN, MADV_NOHUGEPAGE);
	fill(buf, LEN, 1);
	check("the pages start on node 0", move_to(buf, 0) == NPAGES, "");
	mr = ibv_reg_mr(c.pd, buf, LEN, ODP_ACCESS);
	tmr = ibv_reg_mr(c.pd, tmp, LEN, ODP_ACCESS);
	check_fatal("two ODP MRs", mr && tmr, "%s", strerror(errno));

	/* The registration's snapshot mirrors buf: the device maps it all. */
	round_to(&p, mr, buf, tmr, tmp, 1, 1);
	round_to(&p, mr, buf, tmr, tmp, 0, 2);
	check("nothing pinned (VmPin 0 kB)", status_kb("VmPin") == 0,
	      "VmPin %ld kB", status_kb("VmPin"));

	ibv_destroy_qp(p.a);
	ibv_destroy_qp(p.b);
	check("deregistration", !ibv_dereg_mr(mr) && !ibv_dereg_mr(tmr), "%s",
	      strerror(errno));
	return check_done();
}
