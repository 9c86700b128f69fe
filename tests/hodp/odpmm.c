// SPDX-License-Identifier: GPL-2.0
/*
 * An ODP MR on hodp0 whose pages the kernel's memory management takes
 * away while the device mirrors them, data checked on both sides each
 * time (what an RDMA WRITE put there is what the CPU reads; what the CPU
 * wrote is what an RDMA READ returns):
 *
 * - MADV_PAGEOUT to zram swap (set up here, on a zram device of its own,
 *   and torn down at the end, unless the guest already has swap): every
 *   registered page goes to swap (/proc/self/pagemap), the MR counts them
 *   as page_invalidations; an RDMA READ faults them back in through the
 *   mirror (present again, page_faults moved, the CPU never touched them)
 *   with their bytes; after another pageout, bytes the CPU writes are what
 *   RDMA READ returns, an RDMA WRITE into swapped-out pages is what the
 *   CPU reads, and survives a third pageout.
 * - NUMA move_pages(2) to the other node and back (needs two nodes: the
 *   memory suite's guest has them, the hodp suite's has one and declares
 *   the skip): the status array says every page moved, the MR counts the
 *   old pages as page_invalidations and faults the new ones in; after the
 *   move, bytes the CPU writes are what RDMA READ returns and an RDMA
 *   WRITE lands in the pages the CPU reads.
 *
 * A mirror that kept the old pages would fail these: it would not fault
 * (pages stay in swap, page_faults still), it would read the old pages'
 * bytes, not the CPU's new ones, and write where the CPU does not read.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/swap.h>
#include <sys/syscall.h>

#include "mrstat.h"
#include "numa.h"
#include "odp.h"
#include "verbs.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT	21
#endif

#define PAGE		4096UL
#define NP		256		/* pages of the ODP MR */
#define LEN		(NP * PAGE)
#define PM_PRESENT	(1ULL << 63)
#define PM_SWAPPED	(1ULL << 62)

static struct ctx c;
static struct rc_pair qp;
static uint8_t *loc;		/* the requester's buffer, pinned */
static struct ibv_mr *locmr;
static long vmpin;		/* VmPin with only loc pinned, kB */

/* The ODP MR under test: its memory, what it must hold, its counters. */
static uint8_t *buf, *ref;
static struct ibv_mr *mr;
static int mrn;

static void new_qps(void)
{
	if (qp.a) {
		ibv_destroy_qp(qp.a);
		ibv_destroy_qp(qp.b);
	}
	qp = rc_pair(&c, ALL_ACCESS, 7);
}

/*
 * One signalled RDMA op between loc and buf + @off: its status. Swapping
 * in under TCG may take a while: up to 2 minutes for the completion.
 */
static int rdma(enum ibv_wr_opcode op, size_t off, uint32_t len)
{
	struct ibv_sge sge = { (uintptr_t)loc, len, locmr->lkey };
	struct ibv_send_wr wr = { .wr_id = 1, .sg_list = &sge, .num_sge = 1,
				  .opcode = op,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_wc wc;
	int st = -1, tries;

	wr.wr.rdma.remote_addr = (uintptr_t)buf + off;
	wr.wr.rdma.rkey = mr->rkey;
	if (post_send(qp.a, &wr))
		return -2;
	for (tries = 0; tries < 24 && st == -1; tries++)
		st = poll_one(c.cq, &wc);
	if (st != IBV_WC_SUCCESS)
		new_qps();
	return st;
}

/* RDMA READ of buf + @off: 1 if it completed and returned ref's bytes. */
static int rd_ok(size_t off, size_t len, int *st)
{
	memset(loc, 0xee, len);
	*st = rdma(IBV_WR_RDMA_READ, off, len);
	return *st == IBV_WC_SUCCESS && !memcmp(loc, ref + off, len);
}

/* RDMA WRITE of @seed's bytes to buf + @off (ref follows if it completed). */
static int wr(size_t off, size_t len, unsigned int seed)
{
	int st;

	fill(loc, len, seed);
	st = rdma(IBV_WR_RDMA_WRITE, off, len);
	if (st == IBV_WC_SUCCESS)
		memcpy(ref + off, loc, len);
	return st;
}

/* The CPU writes @seed's bytes to buf + @off (and ref). */
static void cpu_write(size_t off, size_t len, unsigned int seed)
{
	fill(buf + off, len, seed);
	memcpy(ref + off, buf + off, len);
}

/* The CPU reads buf: 1 if it holds what it must. */
static int cpu_sees(void)
{
	return !memcmp(buf, ref, LEN);
}

/* A fresh buffer with @seed's bytes, registered on demand, and its mrn. */
static void new_mr(unsigned int seed)
{
	buf = map(LEN);
	ref = malloc(LEN);
	check_fatal("malloc", ref, "");
	/* Base pages: reclaim and migration of one page at a time. */
	madvise(buf, LEN, MADV_NOHUGEPAGE);
	cpu_write(0, LEN, seed);
	mr = ibv_reg_mr(c.pd, buf, LEN, ODP_ACCESS);
	check_fatal("ODP registration", mr, "%s", strerror(errno));
	mrn = mrn_of(mr->lkey);
	check_fatal("rdma resource show mr lists the ODP MR", mrn >= 0, "");
}

static void free_mr(void)
{
	ibv_dereg_mr(mr);
	munmap(buf, LEN);
	free(ref);
}

/*
 * Before: an RDMA READ of the whole MR returns the CPU's bytes and an
 * RDMA WRITE of its first half is what the CPU reads (the device then
 * mirrors every page, half of them writable).
 */
static void first_traffic(const char *what, unsigned int seed)
{
	char name[160];
	int st;

	snprintf(name, sizeof(name),
		 "%s: before, RDMA READ returns the CPU's bytes", what);
	check(name, rd_ok(0, LEN, &st), "status %d", st);
	st = wr(0, LEN / 2, seed);
	snprintf(name, sizeof(name),
		 "%s: before, an RDMA WRITE is what the CPU reads", what);
	check(name, st == IBV_WC_SUCCESS && cpu_sees(), "status %d", st);
}

/* /proc/self/pagemap: how many pages of buf are in swap, how many present. */
static void where(int *swapped, int *present)
{
	int fd = open("/proc/self/pagemap", O_RDONLY), i;
	uint64_t e[NP];

	*swapped = *present = -1;
	if (fd < 0)
		return;
	if (pread(fd, e, sizeof(e), (uintptr_t)buf / PAGE * 8) ==
	    (ssize_t)sizeof(e)) {
		*swapped = *present = 0;
		for (i = 0; i < NP; i++) {
			*swapped += !!(e[i] & PM_SWAPPED);
			*present += !!(e[i] & PM_PRESENT);
		}
	}
	close(fd);
}

/* --- Swap --------------------------------------------------------------- */

static int zram_dev = -1;	/* the zram device this test added, or -1 */
static char zram_path[32];

/*
 * Swap to page out to: the guest's own if it has some, else a 64 MiB zram
 * device added here (zram-control/hot_add), mkswap'ed and swapped on.
 */
static void swap_setup(void)
{
	char path[96], line[256];
	int areas = 0;
	FILE *f = fopen("/proc/swaps", "r");

	while (f && fgets(line, sizeof(line), f))
		if (line[0] == '/')
			areas++;
	if (f)
		fclose(f);
	if (areas) {
		printf("# using the guest's swap (%d areas in /proc/swaps)\n",
		       areas);
		return;
	}
	check_fatal("swap: modprobe zram", !system("modprobe zram"),
		    "modprobe failed");
	f = fopen("/sys/class/zram-control/hot_add", "r");
	check_fatal("swap: a zram device of our own (zram-control/hot_add)",
		    f && fscanf(f, "%d", &zram_dev) == 1, "%s",
		    strerror(errno));
	fclose(f);
	snprintf(zram_path, sizeof(zram_path), "/dev/zram%d", zram_dev);
	snprintf(path, sizeof(path), "/sys/block/zram%d/disksize", zram_dev);
	check_fatal("swap: zram disksize 64M", !write_str(path, "64M"), "%s",
		    strerror(errno));
	snprintf(line, sizeof(line), "mkswap %s >/dev/null", zram_path);
	check_fatal("swap: mkswap", !system(line), "mkswap failed");
	check_fatal("swap: swapon the zram device", !swapon(zram_path, 0),
		    "%s", strerror(errno));
	printf("# swap on %s (64 MiB zram)\n", zram_path);
}

static void swap_teardown(void)
{
	char n[16];

	if (zram_dev < 0)
		return;
	snprintf(n, sizeof(n), "%d", zram_dev);
	check("swap: torn down (swapoff, zram device removed)",
	      !swapoff(zram_path) &&
	      !write_str("/sys/class/zram-control/hot_remove", n), "%s",
	      strerror(errno));
}

/*
 * MADV_PAGEOUT of buf: how many of its pages are in swap afterwards (or
 * minus how many are still present). Once from each CPU: a page only
 * reclaim can take is one on the LRU, and pages just faulted in wait in
 * the per-CPU batch of the CPU that faulted them (the device's fault
 * worker's may be another than ours); MADV_PAGEOUT drains the batch of
 * the CPU it runs on only (lru_add_drain()). The debug kernel left 6 of
 * 256 pages behind when only one CPU paged out.
 */
static int pageout(void)
{
	cpu_set_t all, one;
	int swapped, present, cpu;

	check_fatal("sched_getaffinity", !sched_getaffinity(0, sizeof(all), &all),
		    "%s", strerror(errno));
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &all))
			continue;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		check_fatal("MADV_PAGEOUT on each CPU",
			    !sched_setaffinity(0, sizeof(one), &one) &&
			    !madvise(buf, LEN, MADV_PAGEOUT), "CPU %d: %s", cpu,
			    strerror(errno));
	}
	check_fatal("sched_setaffinity back", !sched_setaffinity(0, sizeof(all), &all),
		    "%s", strerror(errno));
	where(&swapped, &present);
	return present ? -present : swapped;
}

static void test_pageout(void)
{
	struct mr_stat s0, s1, s2;
	int n, swapped, present, st;

	swap_setup();
	new_mr(1);
	first_traffic("pageout", 2);

	/* 1. Out to swap: the mirror lets go of every page. */
	s0 = stat_of(mrn);
	n = pageout();
	check("pageout: every registered page went to swap (pagemap)",
	      n == NP, "%d of %d pages in swap (negative: present)", n, NP);
	s1 = stat_of(mrn);
	check("pageout: the MR counts them as page_invalidations",
	      s1.invals - s0.invals >= NP, "page_invalidations %lld -> %lld",
	      s0.invals, s1.invals);

	/* 2. RDMA READ faults them back in through the mirror. */
	check("pageout: RDMA READ of the swapped-out pages returns their bytes",
	      rd_ok(0, LEN, &st), "status %d", st);
	where(&swapped, &present);
	s2 = stat_of(mrn);
	check("pageout: the device faulted them in (present again, CPU untouched)",
	      swapped == 0 && present == NP, "%d in swap, %d present",
	      swapped, present);
	check("pageout: the MR counts those faults (page_faults)",
	      s2.faults - s1.faults >= NP, "page_faults %lld -> %lld",
	      s1.faults, s2.faults);
	check("pageout: the CPU reads the same bytes", cpu_sees(), "");

	/* 3. Out again; the CPU writes some, the device others. */
	s0 = stat_of(mrn);
	n = pageout();
	s1 = stat_of(mrn);
	check("pageout: swapped-in pages go out again, the MR counts them",
	      n == NP && s1.invals - s0.invals >= NP,
	      "%d of %d in swap, page_invalidations %lld -> %lld", n, NP,
	      s0.invals, s1.invals);
	cpu_write(0, 64 * PAGE, 3);
	check("pageout: after a CPU write to swapped-out pages, RDMA READ returns the new bytes",
	      rd_ok(0, 96 * PAGE, &st), "status %d", st);
	st = wr(128 * PAGE, 64 * PAGE, 4);
	check("pageout: an RDMA WRITE into swapped-out pages is what the CPU reads",
	      st == IBV_WC_SUCCESS && cpu_sees(), "status %d", st);

	/* 4. The device's writes dirtied the pages: they survive a pageout. */
	n = pageout();
	check("pageout: the device-written pages go out to swap", n == NP,
	      "%d of %d pages in swap", n, NP);
	check("pageout: and the CPU reads the device's bytes back from swap",
	      cpu_sees(), "");
	check("pageout: and so does RDMA READ", rd_ok(0, LEN, &st),
	      "status %d", st);
	check("pageout: nothing pinned for the ODP MR (VmPin: loc's alone)",
	      vmpin > 0 && status_kb("VmPin") == vmpin,
	      "VmPin %ld kB, %ld kB before the ODP MR", status_kb("VmPin"),
	      vmpin);
	free_mr();
	swap_teardown();
}

/* --- NUMA --------------------------------------------------------------- */

/*
 * move_pages(2) of every page of buf to @node (@node < 0: only where they
 * are): how many are on @node (for @node < 0, on node 0), -1 if it failed.
 */
static int move_to(int node)
{
	return pages_move(buf, NP, node);
}

/* Move buf under the device to @node; then the CPU and the device write. */
static void round_to(int node, unsigned int seed)
{
	struct mr_stat s0, s1, s2;
	char name[160];
	int n, st;

#define NAME(...) (snprintf(name, sizeof(name), __VA_ARGS__), name)
	s0 = stat_of(mrn);
	n = move_to(node);
	check(NAME("numa: move_pages moved all %d registered pages to node %d (status array)",
		   NP, node), n == NP, "%d of %d (%s)", n, NP,
	      n < 0 ? strerror(errno) : "status");
	n = move_to(-1);
	check(NAME("numa: move_pages says they are on node %d now", node),
	      n == (node ? 0 : NP), "%d of %d on node 0", n, NP);
	s1 = stat_of(mrn);
	check(NAME("numa: to node %d, the MR counts the old pages as page_invalidations",
		   node), s1.invals - s0.invals >= NP,
	      "page_invalidations %lld -> %lld", s0.invals, s1.invals);

	cpu_write(0, 64 * PAGE, seed);
	check(NAME("numa: on node %d, RDMA READ returns the CPU's new bytes and the moved ones",
		   node), rd_ok(0, LEN, &st), "status %d", st);
	s2 = stat_of(mrn);
	check(NAME("numa: on node %d, the device faulted the new pages in (page_faults)",
		   node), s2.faults - s1.faults >= NP,
	      "page_faults %lld -> %lld", s1.faults, s2.faults);
	st = wr(128 * PAGE, 64 * PAGE, seed + 1);
	check(NAME("numa: on node %d, an RDMA WRITE lands where the CPU reads",
		   node), st == IBV_WC_SUCCESS && cpu_sees(), "status %d", st);
	n = move_to(-1);
	check(NAME("numa: the pages stayed on node %d", node),
	      n == (node ? 0 : NP), "%d of %d on node 0", n, NP);
#undef NAME
}

static void test_numa(void)
{
	if (access("/sys/devices/system/node/node1", F_OK)) {
		skip("NUMA move_pages", "the guest has one NUMA node (no node1: %s)",
		     strerror(errno));
		return;
	}
	new_mr(10);
	check_fatal("numa: the pages start on node 0", move_to(0) == NP, "");
	first_traffic("numa", 11);
	round_to(1, 12);
	round_to(0, 14);
	check("numa: nothing pinned for the ODP MR (VmPin: loc's alone)",
	      vmpin > 0 && status_kb("VmPin") == vmpin,
	      "VmPin %ld kB, %ld kB before the ODP MR", status_kb("VmPin"),
	      vmpin);
	free_mr();
}

int main(void)
{
	int kmsg = kmsg_open();

	open_dev(&c, "hodp0");
	loc = map(LEN);
	locmr = ibv_reg_mr(c.pd, loc, LEN, ALL_ACCESS);
	check_fatal("local MR", locmr, "%s", strerror(errno));
	vmpin = status_kb("VmPin");
	new_qps();
	test_pageout();
	test_numa();
	ibv_destroy_qp(qp.a);
	ibv_destroy_qp(qp.b);
	ibv_dereg_mr(locmr);
	kmsg_check(kmsg, "the kernel logged no bug");
	return check_done();
}
