// SPDX-License-Identifier: GPL-2.0
/*
 * Coherence of ODP MRs on hodp0 (IBV_ACCESS_ON_DEMAND) with the CPU's page
 * tables: after each change below, RDMA sees exactly what the CPU sees,
 * checked both ways (an RDMA WRITE is read back by the CPU; what the CPU
 * wrote is what an RDMA READ returns), and what is no longer mapped is an
 * error, never the old pages. mremap (away from the MR, and inside it);
 * fork and copy-on-write both ways (and a device write straight after
 * fork, into pages it had mapped writable); mprotect read-only; THP split
 * and collapse (MADV_COLLAPSE); KSM merging; tmpfs and ext4 shared file
 * mappings with truncate and hole punch; hugetlbfs; a read-only
 * registration of read-only memory; and no page pinned: an unprivileged
 * process under RLIMIT_MEMLOCK 64 KiB registers 8 GiB (twice the guest's
 * memory) on demand.
 * (tests/hodp/setup mounts the ext4 filesystem and reserves huge pages.)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <grp.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/wait.h>

#include "odp.h"
#include "verbs.h"

#define PAGE		4096UL
#define HUGE		(2UL * MIB)
#define LOC		(4 * MIB)
#define EXT4_DIR	"/mnt/hodp-ext4"
#define EXT4_MAGIC	0xEF53

static struct ctx c;
static struct rc_pair qp;
static uint8_t *loc;		/* the requester's buffer, pinned */
static struct ibv_mr *locmr;

static struct ibv_mr *reg_odp(void *p, size_t len)
{
	struct ibv_mr *mr = ibv_reg_mr(c.pd, p, len, ODP_ACCESS);

	check_fatal("ODP registration", mr, "%s", strerror(errno));
	return mr;
}

static int all(const uint8_t *p, size_t n, uint8_t v)
{
	while (n--)
		if (*p++ != v)
			return 0;
	return 1;
}

/* A fresh connected pair (after an error the old one is in error state). */
static void new_qps(void)
{
	if (qp.a) {
		ibv_destroy_qp(qp.a);
		ibv_destroy_qp(qp.b);
	}
	qp = rc_pair(&c, ALL_ACCESS, 7);
}

/* One signalled RDMA op between loc and @raddr of @rmr: its status. */
static int rdma(enum ibv_wr_opcode op, uint32_t len, struct ibv_mr *rmr,
		void *raddr)
{
	struct ibv_sge sge = { (uintptr_t)loc, len, locmr->lkey };
	struct ibv_send_wr wr = { .wr_id = 1, .sg_list = &sge, .num_sge = 1,
				  .opcode = op,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_wc wc;
	int st;

	wr.wr.rdma.remote_addr = (uintptr_t)raddr;
	wr.wr.rdma.rkey = rmr->rkey;
	if (post_send(qp.a, &wr))
		return -2;
	st = poll_one(c.cq, &wc);
	if (st != IBV_WC_SUCCESS)
		new_qps();
	return st;
}

/* RDMA WRITE of @seed's bytes into @p; RDMA READ of @p into loc. */
static int wr(struct ibv_mr *mr, void *p, size_t len, unsigned int seed)
{
	fill(loc, len, seed);
	return rdma(IBV_WR_RDMA_WRITE, len, mr, p);
}

static int rd(struct ibv_mr *mr, void *p, size_t len)
{
	memset(loc, 0xee, len);
	return rdma(IBV_WR_RDMA_READ, len, mr, p);
}

/* 1. mremap moves the pages away from the MR's range. */
static void test_mremap(void)
{
	uint8_t *a = map(MIB), *n = map(MIB), *p, *ref = malloc(MIB);
	struct ibv_mr *am = reg_odp(a, MIB), *nm;
	int st;

	check_fatal("mremap: malloc", ref, "");
	fill(a, MIB, 1);
	memcpy(ref, a, MIB);
	st = rd(am, a, MIB);
	check("mremap: before, RDMA READ returns the CPU's data",
	      st == 0 && is_filled(loc, MIB, 1), "status %d", st);
	p = mremap(a, MIB, MIB, MREMAP_MAYMOVE | MREMAP_FIXED, n);
	check_fatal("mremap: moves", p == n, "%s", strerror(errno));
	st = wr(am, a, PAGE, 2);
	check("mremap: RDMA WRITE to the old range is a remote access error",
	      st == IBV_WC_REM_ACCESS_ERR, "status %d", st);
	check("mremap: the moved pages are unchanged", is_filled(n, MIB, 1),
	      "the write landed in the old pages");
	st = rd(am, a, PAGE);
	check("mremap: RDMA READ of the old range is an error, not the old data",
	      st == IBV_WC_REM_ACCESS_ERR && !is_filled(loc, PAGE, 1),
	      "status %d", st);
	nm = reg_odp(n, MIB);
	st = rd(nm, n, MIB);
	check("mremap: a new MR at the new address reads the data",
	      st == 0 && is_filled(loc, MIB, 1), "status %d", st);
	st = wr(nm, n + PAGE, PAGE, 3);
	fill(ref + PAGE, PAGE, 3);
	check("mremap: an RDMA WRITE to the new MR is seen by the CPU",
	      st == 0 && !memcmp(n, ref, MIB), "status %d", st);
	/* New pages at the old address: the old MR sees them, only them. */
	p = mmap(a, MIB, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	check_fatal("mremap: map the old range again", p == a, "%s",
		    strerror(errno));
	fill(a, MIB, 4);
	st = rd(am, a, MIB);
	check("mremap: the old MR reads the new mapping at its range",
	      st == 0 && is_filled(loc, MIB, 4), "status %d", st);
	st = wr(am, a + 2 * PAGE, PAGE, 5);
	check("mremap: an RDMA WRITE through the old MR lands in the new mapping only",
	      st == 0 && is_filled(a + 2 * PAGE, PAGE, 5) &&
	      !memcmp(n, ref, MIB), "status %d", st);
	ibv_dereg_mr(am);
	ibv_dereg_mr(nm);
	free(ref);
	munmap(a, MIB);
	munmap(n, MIB);
}

/* 1b. mremap inside one MR: its first half moved over its second half. */
static void test_mremap_inside(void)
{
	uint8_t *a = map(2 * MIB), *p;
	struct ibv_mr *m = reg_odp(a, 2 * MIB);
	int st;

	fill(a, MIB, 6);
	memset(a + MIB, 0x5a, MIB);
	st = wr(m, a + MIB, MIB, 7);	/* the device maps both halves */
	st = st ?: rd(m, a, MIB);
	check("mremap inside an MR: before, both halves mirrored",
	      st == 0 && is_filled(loc, MIB, 6) && is_filled(a + MIB, MIB, 7),
	      "status %d", st);
	p = mremap(a, MIB, MIB, MREMAP_MAYMOVE | MREMAP_FIXED, a + MIB);
	check_fatal("mremap inside an MR: moves", p == a + MIB, "%s",
		    strerror(errno));
	st = rd(m, a + MIB, MIB);
	check("mremap inside an MR: RDMA READ at the target returns the moved pages",
	      st == 0 && is_filled(loc, MIB, 6), "status %d", st);
	st = wr(m, a + MIB + PAGE, PAGE, 8);
	check("mremap inside an MR: an RDMA WRITE there is seen by the CPU",
	      st == 0 && is_filled(a + MIB + PAGE, PAGE, 8) &&
	      is_filled(a + MIB, PAGE, 6), "status %d", st);
	st = rd(m, a, PAGE);
	check("mremap inside an MR: the vacated half is an error",
	      st == IBV_WC_REM_ACCESS_ERR, "status %d", st);
	ibv_dereg_mr(m);
	munmap(a, 2 * MIB);
}

/* Tell the other side one byte; wait for one. */
static void say(int fd, char v)
{
	if (write(fd, &v, 1) != 1)
		exit(2);
}

static char hear(int fd)
{
	char v = 0;

	if (read(fd, &v, 1) != 1)
		return 0;
	return v;
}

/*
 * A child that holds a copy-on-write copy of @p: on 'w' it writes seed 20
 * over the first half; on 'c' it reports '1' if its copy is (first half
 * seed 20 if written, else) @seed's bytes; on 'q' it exits.
 */
static pid_t cow_child(uint8_t *p, size_t len, unsigned int seed, int *to,
		       int *from)
{
	int down[2], up[2];
	pid_t pid;

	check_fatal("pipes", !pipe(down) && !pipe(up), "%s", strerror(errno));
	fflush(stdout);
	pid = fork();
	check_fatal("fork", pid >= 0, "%s", strerror(errno));
	if (!pid) {
		int written = 0;
		char cmd;

		close(down[1]);
		close(up[0]);
		while ((cmd = hear(down[0])) && cmd != 'q') {
			if (cmd == 'w') {
				fill(p, len / 2, 20);
				written = 1;
				say(up[1], '1');
			} else {
				int ok = written ?
					 is_filled(p, len / 2, 20) :
					 is_filled(p, len / 2, seed);

				ok = ok && is_filled(p + len / 2, len / 2,
						     seed + 1);
				say(up[1], ok ? '1' : '0');
			}
		}
		_exit(0);
	}
	close(down[0]);
	close(up[1]);
	*to = down[1];
	*from = up[0];
	return pid;
}

static void end_child(pid_t pid, int to, int from)
{
	int status;

	say(to, 'q');
	waitpid(pid, &status, 0);
	close(to);
	close(from);
}

/* 2. fork: copy-on-write breaks on either side, the MR follows the parent. */
static void test_fork(void)
{
	size_t len = 256 * 1024, h = len / 2;
	uint8_t *p = map(len);
	struct ibv_mr *m;
	int to, from, st, st2;
	pid_t pid;

	fill(p, h, 10);
	fill(p + h, h, 11);
	m = reg_odp(p, len);
	st = rd(m, p, len);
	check("fork: before, RDMA READ returns the CPU's data",
	      st == 0 && !memcmp(loc, p, len), "status %d", st);

	/* The child writes: the parent's RDMA still sees the parent's pages. */
	pid = cow_child(p, len, 10, &to, &from);
	say(to, 'w');
	check("fork: the child wrote its copy", hear(from) == '1', "");
	st = rd(m, p, len);
	check("fork: after the child's write, RDMA READ sees the parent's data",
	      st == 0 && is_filled(loc, h, 10) && is_filled(loc + h, h, 11),
	      "status %d", st);
	st = wr(m, p, PAGE, 12);
	check("fork: an RDMA WRITE lands in the parent's page",
	      st == 0 && is_filled(p, PAGE, 12), "status %d", st);
	say(to, 'c');
	check("fork: the child's copy is unchanged by it", hear(from) == '1',
	      "the child sees other bytes");
	end_child(pid, to, from);

	/* The parent writes after fork: RDMA sees it, the child does not. */
	fill(p, h, 10);
	pid = cow_child(p, len, 10, &to, &from);
	st = rd(m, p, len);
	check("fork: after fork, RDMA READ of the shared pages returns the data",
	      st == 0 && is_filled(loc, h, 10) && is_filled(loc + h, h, 11),
	      "status %d", st);
	fill(p, PAGE, 13);
	st = rd(m, p, 2 * PAGE);
	check("fork: after the parent's CPU write, RDMA READ sees it",
	      st == 0 && is_filled(loc, PAGE, 13) &&
	      !memcmp(loc + PAGE, p + PAGE, PAGE), "status %d", st);
	/* A device write into a page still shared with the child. */
	st = wr(m, p + h, h, 14);
	st2 = rd(m, p + h, h);
	check("fork: an RDMA WRITE into shared pages RDMA read is seen by the parent's CPU",
	      st == 0 && is_filled(p + h, h, 14), "status %d", st);
	check("fork: and read back by RDMA", st2 == 0 && is_filled(loc, h, 14),
	      "status %d", st2);
	say(to, 'c');
	check("fork: the child's copy is unchanged by the parent's writes",
	      hear(from) == '1', "the child sees other bytes");
	end_child(pid, to, from);

	/*
	 * The device had the pages writable before fork; right after fork
	 * (nothing touches them in between), an RDMA WRITE must break the
	 * sharing, not write into the child's copy.
	 */
	fill(p, h, 10);
	fill(p + h, h, 11);
	st = wr(m, p, len, 15);
	check("fork: before the third fork, the device writes the pages",
	      st == 0 && is_filled(p, len, 15), "status %d", st);
	fill(p, h, 10);
	fill(p + h, h, 11);
	pid = cow_child(p, len, 10, &to, &from);
	st = wr(m, p + h, h, 16);
	check("fork: an RDMA WRITE straight after fork is seen by the parent's CPU",
	      st == 0 && is_filled(p + h, h, 16) && is_filled(p, h, 10),
	      "status %d", st);
	say(to, 'c');
	check("fork: it did not land in the child's copy", hear(from) == '1',
	      "the child sees other bytes");
	end_child(pid, to, from);
	ibv_dereg_mr(m);
	munmap(p, len);
}

/* 3. mprotect read-only: a remote write is refused, reads go on. */
static void test_mprotect(void)
{
	size_t len = 64 * 1024;
	uint8_t *p = map(len);
	struct ibv_mr *m = reg_odp(p, len);
	long long f0, f1;
	int st;

	fill(p, len, 30);
	st = wr(m, p, len, 30);		/* the device maps them writable */
	st = st ?: rd(m, p, len);
	check("mprotect: before, RDMA WRITE and READ of the same data",
	      st == 0 && is_filled(loc, len, 30), "status %d", st);
	mprotect(p, len, PROT_READ);
	f0 = odp_faults();
	st = wr(m, p + PAGE, PAGE, 31);
	/* Bounded: poll_one gives up after 5 s. */
	check("mprotect: a remote write into PROT_READ is a remote access error, completed",
	      st == IBV_WC_REM_ACCESS_ERR, "status %d", st);
	usleep(200000);
	f1 = odp_faults();
	check("mprotect: the QP does not spin on the fault (a few faults only)",
	      f0 >= 0 && f1 - f0 <= 4, "odp_faults +%lld", f1 - f0);
	printf("# mprotect: the refused write took %lld device faults\n",
	       f1 - f0);
	check("mprotect: the memory is unchanged", is_filled(p, len, 30), "");
	st = rd(m, p, len);
	check("mprotect: RDMA READ still works", st == 0 &&
	      is_filled(loc, len, 30), "status %d", st);
	mprotect(p, len, PROT_READ | PROT_WRITE);
	st = wr(m, p + PAGE, PAGE, 32);
	check("mprotect: back to RW, an RDMA WRITE is seen by the CPU",
	      st == 0 && is_filled(p + PAGE, PAGE, 32) &&
	      is_filled(p, PAGE, 30), "status %d", st);
	fill(p + 2 * PAGE, PAGE, 33);
	st = rd(m, p + 2 * PAGE, PAGE);
	check("mprotect: back to RW, the CPU's write is read by RDMA",
	      st == 0 && is_filled(loc, PAGE, 33), "status %d", st);
	ibv_dereg_mr(m);
	munmap(p, len);
}

/* AnonHugePages of the mapping holding @p, in kB (-1 if not found). */
static long anon_huge_kb(void *p)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[256];
	int in = 0;
	long v = -1;

	while (f && fgets(line, sizeof(line), f)) {
		unsigned long a, b;

		if (sscanf(line, "%lx-%lx ", &a, &b) == 2)
			in = (uintptr_t)p >= a && (uintptr_t)p < b;
		else if (in && !strncmp(line, "AnonHugePages:", 14))
			v = strtol(line + 14, NULL, 10);
	}
	if (f)
		fclose(f);
	return v;
}

/* 4. A THP, faulted and mirrored, split under the MR. */
static void test_thp(void)
{
	char mode[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	uint8_t *raw, *p;
	struct ibv_mr *m;
	int st;

	if (f) {
		if (!fgets(mode, sizeof(mode), f))
			mode[0] = 0;
		fclose(f);
	}
	if (!strstr(mode, "[always]") && !strstr(mode, "[madvise]")) {
		skip("THP", "transparent_hugepage/enabled is '%s'",
		     f ? mode : strerror(errno));
		return;
	}
	raw = map(2 * HUGE);
	p = (uint8_t *)(((uintptr_t)raw + HUGE - 1) & ~(HUGE - 1));
	check_fatal("THP: madvise", !madvise(p, HUGE, MADV_HUGEPAGE), "%s",
		    strerror(errno));
	fill(p, HUGE, 40);
	check("THP: the region is one huge page", anon_huge_kb(p) >= 2048,
	      "AnonHugePages %ld kB", anon_huge_kb(p));
	m = reg_odp(p, HUGE);
	st = rd(m, p, HUGE);
	check("THP: RDMA READ of the huge page returns the CPU's data",
	      st == 0 && is_filled(loc, HUGE, 40), "status %d", st);
	st = wr(m, p + MIB / 2, 3 * PAGE, 41);
	check("THP: an RDMA WRITE into the huge page is seen by the CPU",
	      st == 0 && is_filled(p + MIB / 2, 3 * PAGE, 41), "status %d", st);
	fill(p + MIB / 2, 3 * PAGE, 40);	/* the whole range seed 40 again */
	fill(p, HUGE, 40);
	/* Split: one page read-only, one dropped. */
	mprotect(p + MIB / 2, PAGE, PROT_READ);
	check("THP: mprotect of one page split it", anon_huge_kb(p) < 2048,
	      "AnonHugePages %ld kB", anon_huge_kb(p));
	st = rd(m, p, HUGE);
	check("THP: after the split, RDMA READ returns the same data everywhere",
	      st == 0 && is_filled(loc, HUGE, 40), "status %d", st);
	madvise(p + MIB, PAGE, MADV_DONTNEED);
	st = rd(m, p, HUGE);
	check("THP: after MADV_DONTNEED of one page, RDMA READ gives it zeros, the rest unchanged",
	      st == 0 && is_filled(loc, MIB, 40) && all(loc + MIB, PAGE, 0) &&
	      !memcmp(loc + MIB + PAGE, p + MIB + PAGE, MIB - PAGE),
	      "status %d", st);
	st = wr(m, p + MIB - PAGE, 3 * PAGE, 42);
	check("THP: an RDMA WRITE over the dropped page is seen by the CPU",
	      st == 0 && is_filled(p + MIB - PAGE, 3 * PAGE, 42), "status %d",
	      st);
	st = wr(m, p + MIB / 2, PAGE, 43);
	check("THP: an RDMA WRITE into its read-only page is refused, unchanged",
	      st == IBV_WC_REM_ACCESS_ERR && !is_filled(p + MIB / 2, PAGE, 43), "status %d", st);
	fill(p + 3 * PAGE, PAGE, 44);
	st = rd(m, p + 3 * PAGE, PAGE);
	check("THP: a CPU write after the split is read by RDMA",
	      st == 0 && is_filled(loc, PAGE, 44), "status %d", st);
	ibv_dereg_mr(m);
	munmap(raw, 2 * HUGE);
}

/* 4b. Small pages mirrored writable, collapsed into a THP (MADV_COLLAPSE). */
static void test_collapse(void)
{
	uint8_t *raw = map(2 * HUGE), *p;
	struct ibv_mr *m;
	int st;

	p = (uint8_t *)(((uintptr_t)raw + HUGE - 1) & ~(HUGE - 1));
	madvise(p, HUGE, MADV_NOHUGEPAGE);
	fill(p, HUGE, 45);
	m = reg_odp(p, HUGE);
	st = wr(m, p, HUGE, 45);	/* same bytes, mapped writable */
	check("THP collapse: small pages, written by RDMA",
	      st == 0 && is_filled(p, HUGE, 45) && anon_huge_kb(p) == 0,
	      "status %d, AnonHugePages %ld kB", st, anon_huge_kb(p));
	madvise(p, HUGE, MADV_HUGEPAGE);
	st = madvise(p, HUGE, 25 /* MADV_COLLAPSE */);
	check("THP collapse: MADV_COLLAPSE makes one huge page",
	      !st && anon_huge_kb(p) >= 2048, "%s, AnonHugePages %ld kB",
	      st ? strerror(errno) : "ok", anon_huge_kb(p));
	st = wr(m, p + MIB + 5 * PAGE, 2 * PAGE, 46);
	check("THP collapse: an RDMA WRITE lands in the huge page the CPU sees",
	      st == 0 && is_filled(p + MIB + 5 * PAGE, 2 * PAGE, 46) &&
	      is_filled(p, MIB, 45), "status %d", st);
	fill(p + 9 * PAGE, PAGE, 47);
	st = rd(m, p + 9 * PAGE, PAGE);
	check("THP collapse: a CPU write into the huge page is read by RDMA",
	      st == 0 && is_filled(loc, PAGE, 47), "status %d", st);
	ibv_dereg_mr(m);
	munmap(raw, 2 * HUGE);
}

/* 5. KSM merges identical pages under the MR; an RDMA write unmerges. */
static void test_ksm(void)
{
	size_t n = 64, len = n * PAGE, i;
	uint8_t *p;
	struct ibv_mr *m;
	long long sharing = 0;
	int st, t;

	if (access("/sys/kernel/mm/ksm/run", W_OK)) {
		skip("KSM", "no /sys/kernel/mm/ksm/run: %s", strerror(errno));
		return;
	}
	p = map(len);
	for (i = 0; i < n; i++)
		fill(p + i * PAGE, PAGE, 50);
	m = reg_odp(p, len);
	/* The device maps them writable, same content (they still merge). */
	st = 0;
	for (i = 0; i < n && !st; i++) {
		fill(loc, PAGE, 50);
		st = rdma(IBV_WR_RDMA_WRITE, PAGE, m, p + i * PAGE);
	}
	st = st ?: rd(m, p, len);
	check("KSM: before, RDMA READ returns the CPU's data",
	      st == 0 && is_filled(loc, PAGE, 50) &&
	      !memcmp(loc, p, len), "status %d", st);
	check_fatal("KSM: madvise MERGEABLE", !madvise(p, len, MADV_MERGEABLE),
		    "%s", strerror(errno));
	write_str("/sys/kernel/mm/ksm/sleep_millisecs", "10");
	write_str("/sys/kernel/mm/ksm/pages_to_scan", "4000");
	check_fatal("KSM: start", !write_str("/sys/kernel/mm/ksm/run", "1"),
		    "%s", strerror(errno));
	for (t = 0; t < 600 && sharing <= 0; t++) {	/* 60 s at most */
		FILE *f;

		usleep(100000);
		f = fopen("/sys/kernel/mm/ksm/pages_sharing", "r");
		if (!f || fscanf(f, "%lld", &sharing) != 1)
			sharing = 0;
		if (f)
			fclose(f);
	}
	printf("# KSM: pages_sharing %lld after %d ms\n", sharing, t * 100);
	check("KSM: the pages merge (pages_sharing > 0)", sharing > 0,
	      "pages_sharing %lld after %d s", sharing, t / 10);
	st = rd(m, p, len);
	check("KSM: merged, RDMA READ returns the same data",
	      st == 0 && !memcmp(loc, p, len) && is_filled(loc + PAGE, PAGE, 50),
	      "status %d", st);
	st = wr(m, p + 5 * PAGE, PAGE, 51);
	check("KSM: an RDMA WRITE into one merged page is seen by the CPU",
	      st == 0 && is_filled(p + 5 * PAGE, PAGE, 51), "status %d", st);
	check("KSM: the pages merged with it are unchanged",
	      is_filled(p + 4 * PAGE, PAGE, 50) &&
	      is_filled(p + 6 * PAGE, PAGE, 50) &&
	      is_filled(p + (n - 1) * PAGE, PAGE, 50), "");
	st = rd(m, p + 4 * PAGE, 3 * PAGE);
	check("KSM: and RDMA reads each page as the CPU does",
	      st == 0 && is_filled(loc, PAGE, 50) &&
	      is_filled(loc + PAGE, PAGE, 51) &&
	      is_filled(loc + 2 * PAGE, PAGE, 50), "status %d", st);
	write_str("/sys/kernel/mm/ksm/run", "2");	/* unmerge all */
	ibv_dereg_mr(m);
	munmap(p, len);
}

/* 6. A shared file mapping: the page cache is what RDMA and read(2) see. */
static void file_checks(const char *what, int fd)
{
	size_t len = MIB;
	char name[160];
	uint8_t *p, buf[PAGE];
	struct ibv_mr *m;
	int st, st2;

#define NAME(s) (snprintf(name, sizeof(name), "%s: %s", what, s), name)
	check_fatal(NAME("ftruncate"), !ftruncate(fd, len), "%s",
		    strerror(errno));
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	check_fatal(NAME("mmap MAP_SHARED"), p != MAP_FAILED, "%s",
		    strerror(errno));
	m = reg_odp(p, len);
	st = wr(m, p, 64 * 1024, 60);
	check(NAME("an RDMA WRITE is seen by read(2) of the file"),
	      st == 0 && pread(fd, buf, PAGE, 0) == PAGE &&
	      is_filled(buf, PAGE, 60) && is_filled(p, 64 * 1024, 60),
	      "status %d", st);
	fill(buf, PAGE, 61);
	st = pwrite(fd, buf, PAGE, 128 * 1024) == PAGE ?
	     rd(m, p + 128 * 1024, PAGE) : -3;
	check(NAME("write(2) to the file is read by RDMA"),
	      st == 0 && is_filled(loc, PAGE, 61), "status %d", st);
	fsync(fd);	/* writeback write-protects the pages */
	st = wr(m, p + PAGE, PAGE, 62);
	check(NAME("after fsync, an RDMA WRITE is seen by read(2)"),
	      st == 0 && pread(fd, buf, PAGE, PAGE) == PAGE &&
	      is_filled(buf, PAGE, 62), "status %d", st);
	fill(p + 768 * 1024, PAGE, 63);
	st = rd(m, p + 768 * 1024, PAGE);
	check(NAME("a CPU store through the mapping is read by RDMA"),
	      st == 0 && is_filled(loc, PAGE, 63), "status %d", st);

	/* Truncate: the part past EOF is an error, not the old data. */
	check_fatal(NAME("ftruncate shrink"), !ftruncate(fd, len / 2), "%s",
		    strerror(errno));
	st = rd(m, p + 768 * 1024, PAGE);
	check(NAME("after ftruncate shrink, RDMA READ past EOF is an error"),
	      st == IBV_WC_REM_ACCESS_ERR && !is_filled(loc, PAGE, 63),
	      "status %d", st);
	st = wr(m, p + 768 * 1024, PAGE, 64);
	check(NAME("after ftruncate shrink, RDMA WRITE past EOF is an error"),
	      st == IBV_WC_REM_ACCESS_ERR, "status %d", st);
	st = rd(m, p + PAGE, PAGE);
	check(NAME("below EOF, RDMA READ still returns the data"),
	      st == 0 && is_filled(loc, PAGE, 62), "status %d", st);
	check_fatal(NAME("ftruncate grow"), !ftruncate(fd, len), "%s",
		    strerror(errno));
	st = rd(m, p + 768 * 1024, PAGE);
	check(NAME("grown back, RDMA READ there returns zeros"),
	      st == 0 && all(loc, PAGE, 0), "status %d", st);
	st = wr(m, p + 768 * 1024, PAGE, 65);
	check(NAME("grown back, an RDMA WRITE there is seen by read(2)"),
	      st == 0 && pread(fd, buf, PAGE, 768 * 1024) == PAGE &&
	      is_filled(buf, PAGE, 65), "status %d", st);

	/* Hole punch of one page. */
	st = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		       2 * PAGE, PAGE);
	check_fatal(NAME("punch a hole"), !st, "%s", strerror(errno));
	st = rd(m, p, 4 * PAGE);
	check(NAME("after PUNCH_HOLE, RDMA READ returns zeros for the hole"),
	      st == 0 && is_filled(loc, PAGE, 60) &&
	      !memcmp(loc + PAGE, p + PAGE, PAGE) &&
	      all(loc + 2 * PAGE, PAGE, 0) &&
	      !memcmp(loc + 3 * PAGE, p + 3 * PAGE, PAGE), "status %d", st);
	st2 = wr(m, p + 2 * PAGE, PAGE, 66);
	check(NAME("an RDMA WRITE into the hole is seen by read(2)"),
	      st2 == 0 && pread(fd, buf, PAGE, 2 * PAGE) == PAGE &&
	      is_filled(buf, PAGE, 66), "status %d", st2);
#undef NAME
	ibv_dereg_mr(m);
	munmap(p, len);
}

static void test_files(void)
{
	struct statfs s;
	int fd = memfd_create("odpcoh", 0);

	check_fatal("tmpfs: memfd_create", fd >= 0, "%s", strerror(errno));
	file_checks("tmpfs", fd);
	close(fd);

	check("ext4: " EXT4_DIR " is ext4 (suite setup)",
	      !statfs(EXT4_DIR, &s) && s.f_type == EXT4_MAGIC,
	      "statfs: %s, f_type %#lx", strerror(errno), (long)s.f_type);
	fd = open(EXT4_DIR "/odpcoh", O_RDWR | O_CREAT | O_TRUNC, 0600);
	check_fatal("ext4: create a file", fd >= 0, "%s", strerror(errno));
	file_checks("ext4", fd);
	close(fd);
}

/* 7. hugetlbfs pages (MAP_HUGETLB) registered on demand. */
static void test_hugetlb(void)
{
	size_t len = 2 * HUGE;
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	struct ibv_mr *m;
	int st;

	check_fatal("hugetlb: mmap MAP_HUGETLB (8 reserved by setup)",
		    p != MAP_FAILED, "%s", strerror(errno));
	fill(p, HUGE, 70);
	m = reg_odp(p, len);
	st = rd(m, p, len);
	check("hugetlb: RDMA READ returns the CPU's data, zeros where untouched",
	      st == 0 && is_filled(loc, HUGE, 70) && all(loc + HUGE, HUGE, 0),
	      "status %d", st);
	st = wr(m, p + HUGE - PAGE, 2 * PAGE, 71);
	check("hugetlb: an RDMA WRITE across two huge pages is seen by the CPU",
	      st == 0 && is_filled(p + HUGE - PAGE, 2 * PAGE, 71) &&
	      all(p + HUGE + PAGE, HUGE - PAGE, 0), "status %d", st);
	fill(p + HUGE + 8 * PAGE, PAGE, 72);
	st = rd(m, p + HUGE + 8 * PAGE, PAGE);
	check("hugetlb: a later CPU write is read by RDMA",
	      st == 0 && is_filled(loc, PAGE, 72), "status %d", st);
	ibv_dereg_mr(m);
	munmap(p, len);
}

/* 8. Read-only memory registered for remote reads only. */
static void test_readonly(void)
{
	int access = IBV_ACCESS_ON_DEMAND | IBV_ACCESS_REMOTE_READ;
	int fd = memfd_create("odpcoh-ro", 0);
	uint8_t buf[PAGE], *p, *a;
	struct ibv_mr *m;
	int st;

	check_fatal("read-only: memfd", fd >= 0, "%s", strerror(errno));
	fill(buf, PAGE, 80);
	check_fatal("read-only: file content", pwrite(fd, buf, PAGE, 0) == PAGE &&
		    !ftruncate(fd, 4 * PAGE), "%s", strerror(errno));
	p = mmap(NULL, 4 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
	check_fatal("read-only: mmap PROT_READ", p != MAP_FAILED, "%s",
		    strerror(errno));
	m = ibv_reg_mr(c.pd, p, 4 * PAGE, access);
	check("read-only: ODP registration of a PROT_READ file mapping, remote read only",
	      m, "%s", strerror(errno));
	if (m) {
		st = rd(m, p, 2 * PAGE);
		check("read-only: RDMA READ returns the file's content",
		      st == 0 && is_filled(loc, PAGE, 80) &&
		      all(loc + PAGE, PAGE, 0), "status %d", st);
		st = wr(m, p, PAGE, 81);
		check("read-only: an RDMA WRITE to it is a remote access error",
		      st == IBV_WC_REM_ACCESS_ERR && is_filled(p, PAGE, 80),
		      "status %d", st);
		ibv_dereg_mr(m);
	}
	munmap(p, 4 * PAGE);
	close(fd);

	a = map(4 * PAGE);
	fill(a, 4 * PAGE, 82);
	mprotect(a, 4 * PAGE, PROT_READ);
	m = ibv_reg_mr(c.pd, a, 4 * PAGE, access);
	check("read-only: ODP registration of mprotect'ed anonymous memory",
	      m, "%s", strerror(errno));
	if (m) {
		st = rd(m, a, 4 * PAGE);
		check("read-only: RDMA READ returns its content",
		      st == 0 && is_filled(loc, 4 * PAGE, 82), "status %d", st);
		ibv_dereg_mr(m);
	}
	munmap(a, 4 * PAGE);
}

/* 9. Nothing pinned: an unprivileged process, memlock 64 KiB. */
static void unpinned_child(void)
{
	struct rlimit rl = { 64 * 1024, 64 * 1024 };
	size_t big = 1UL << 33;	/* 8 GiB, twice the guest's memory */
	long long pin0, pin1;
	struct ibv_mr *m, *pm;
	uint8_t *p, *q;
	struct ctx u;
	struct rc_pair up;
	struct ibv_sge sge;
	struct ibv_send_wr w = { .wr_id = 1, .sg_list = &sge, .num_sge = 1,
				 .send_flags = IBV_SEND_SIGNALED };
	struct ibv_wc wc;
	int st, st2;

	check_failures = 0;	/* the parent's are the parent's to report */
	check_fatal("no pinning: drop to uid 65534, memlock 64 KiB",
		    !setrlimit(RLIMIT_MEMLOCK, &rl) && !setgroups(0, NULL) &&
		    !setresgid(65534, 65534, 65534) &&
		    !setresuid(65534, 65534, 65534), "%s", strerror(errno));
	memset(&u, 0, sizeof(u));
	open_dev(&u, "hodp0");
	p = mmap(NULL, big, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	check_fatal("no pinning: map 8 GiB", p != MAP_FAILED, "%s",
		    strerror(errno));
	pin0 = file_counter("/proc/vmstat", "nr_foll_pin_acquired");
	m = ibv_reg_mr(u.pd, p, big, ODP_ACCESS);
	check("no pinning: an 8 GiB ODP registration succeeds under memlock 64 KiB",
	      m, "%s", strerror(errno));
	q = map(MIB);
	pm = ibv_reg_mr(u.pd, q, MIB, ALL_ACCESS);
	check("no pinning: a 1 MiB pinned registration fails under it", !pm,
	      "it succeeded");
	if (pm)
		ibv_dereg_mr(pm);
	if (!m)
		exit(check_done());
	up = rc_pair(&u, ALL_ACCESS, 7);
	fill(p, 64 * 1024, 90);
	sge = (struct ibv_sge){ (uintptr_t)p, 64 * 1024, m->lkey };
	w.opcode = IBV_WR_RDMA_WRITE;
	w.wr.rdma.remote_addr = (uintptr_t)p + big / 2;
	w.wr.rdma.rkey = m->rkey;
	st = post_send(up.a, &w) ? -2 : poll_one(u.cq, &wc);
	sge.addr = (uintptr_t)p + big - MIB;
	w.opcode = IBV_WR_RDMA_READ;
	st2 = post_send(up.a, &w) ? -2 : poll_one(u.cq, &wc);
	check("no pinning: RDMA WRITE and READ within it carry the data",
	      st == 0 && st2 == 0 && is_filled(p + big / 2, 64 * 1024, 90) &&
	      is_filled(p + big - MIB, 64 * 1024, 90), "status %d, %d", st,
	      st2);
	pin1 = file_counter("/proc/vmstat", "nr_foll_pin_acquired");
	check("no pinning: VmPin is 0 after the traffic", status_kb("VmPin") == 0,
	      "VmPin %ld kB", status_kb("VmPin"));
	if (pin0 < 0)
		skip("no pinning: nr_foll_pin_acquired", "not in /proc/vmstat");
	else
		check("no pinning: nr_foll_pin_acquired does not move across registration and traffic",
		      pin1 == pin0, "%lld -> %lld", pin0, pin1);
	ibv_destroy_qp(up.a);
	ibv_destroy_qp(up.b);
	ibv_dereg_mr(m);
	exit(check_done());
}

static void test_unpinned(void)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	check_fatal("fork", pid >= 0, "%s", strerror(errno));
	if (!pid)
		unpinned_child();
	waitpid(pid, &status, 0);
	check("no pinning: the unprivileged process ran clean",
	      WIFEXITED(status) && !WEXITSTATUS(status), "status %#x", status);
}

int main(void)
{
	int kmsg = kmsg_open();

	open_dev(&c, "hodp0");
	loc = map(LOC);
	locmr = ibv_reg_mr(c.pd, loc, LOC, ALL_ACCESS);
	check_fatal("local MR", locmr, "%s", strerror(errno));
	new_qps();
	test_mremap();
	test_mremap_inside();
	test_fork();
	test_mprotect();
	test_thp();
	test_collapse();
	test_ksm();
	test_files();
	test_hugetlb();
	test_readonly();
	test_unpinned();
	kmsg_check(kmsg, "the kernel logged no bug");
	return check_done();
}
