// SPDX-License-Identifier: GPL-2.0
/*
 * Registered memory swapped out under the device: an explicit ODP MR whose
 * pages the device mirrors is paged out (MADV_PAGEOUT, to zram). The
 * mirror is told and drops them; RDMA READ then faults them back in from
 * swap and reads what the CPU wrote; RDMA WRITE into swapped-in pages, and
 * another page-out, keep what the device wrote (the device's writes make
 * the pages dirty: a page swapped in and clean would be dropped without
 * being written to swap again, and the device's data lost).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "mem.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT	21
#endif

#define LEN	(4 * MIB)
#define HALF	((long long)(LEN / 4096 / 2))	/* pages */

static struct ctx c;

int main(void)
{
	long long out0, in0, inv0;
	uint8_t *buf, *tmp;
	struct ibv_mr *mr, *tmr;
	struct rc_pair p;
	int st;

	open_dev(&c, "hodp0");
	p = rc_pair(&c, ALL_ACCESS, 7);
	buf = map(LEN);
	tmp = map(LEN);
	madvise(buf, LEN, MADV_NOHUGEPAGE);
	fill(buf, LEN, 1);
	mr = ibv_reg_mr(c.pd, buf, LEN, ODP_ACCESS);
	tmr = ibv_reg_mr(c.pd, tmp, LEN, ODP_ACCESS);
	check_fatal("two ODP MRs", mr && tmr, "%s", strerror(errno));

	/* The registration's snapshot mirrors buf: the device maps it all. */
	out0 = sys_value("/proc/vmstat", "pswpout");
	inv0 = hmm_stat("invalidated_pages");
	check_fatal("MADV_PAGEOUT", !madvise(buf, LEN, MADV_PAGEOUT), "%s",
		    strerror(errno));
	check("pageout: the registered pages went to swap",
	      sys_value("/proc/vmstat", "pswpout") - out0 >= HALF,
	      "pswpout +%lld for %lu pages",
	      sys_value("/proc/vmstat", "pswpout") - out0, LEN / 4096);
	check("pageout: the mirror dropped them",
	      hmm_stat("invalidated_pages") - inv0 >= HALF,
	      "invalidated_pages +%lld", hmm_stat("invalidated_pages") - inv0);

	in0 = sys_value("/proc/vmstat", "pswpin");
	st = rdma_op(p.a, c.cq, IBV_WR_RDMA_READ, tmr, tmp, LEN, mr, buf);
	check("read: RDMA READ of swapped-out pages completes", !st,
	      "status %d", st);
	check("read: it reads what the CPU wrote before the page-out",
	      is_filled(tmp, LEN, 1), "");
	check("read: the device faulted them in from swap",
	      sys_value("/proc/vmstat", "pswpin") > in0, "pswpin +%lld",
	      sys_value("/proc/vmstat", "pswpin") - in0);

	/* The pages are swapped in, clean in the swap cache: now written. */
	fill(tmp, LEN, 2);
	st = rdma_op(p.a, c.cq, IBV_WR_RDMA_WRITE, tmr, tmp, LEN, mr, buf);
	check("write: RDMA WRITE into swapped-in pages completes", !st,
	      "status %d", st);
	out0 = sys_value("/proc/vmstat", "pswpout");
	check_fatal("MADV_PAGEOUT again", !madvise(buf, LEN, MADV_PAGEOUT),
		    "%s", strerror(errno));
	check("write: the written pages went to swap again",
	      sys_value("/proc/vmstat", "pswpout") - out0 >= HALF,
	      "pswpout +%lld", sys_value("/proc/vmstat", "pswpout") - out0);
	check("write: the CPU reads what the device wrote, after the page-out",
	      is_filled(buf, LEN, 2), "");
	check("nothing pinned (VmPin 0 kB)", status_kb("VmPin") == 0,
	      "VmPin %ld kB", status_kb("VmPin"));

	ibv_destroy_qp(p.a);
	ibv_destroy_qp(p.b);
	check("deregistration", !ibv_dereg_mr(mr) && !ibv_dereg_mr(tmr), "%s",
	      strerror(errno));
	return check_done();
}
