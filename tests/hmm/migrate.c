// SPDX-License-Identifier: GPL-2.0
/*
 * Migration to device memory and exclusive device access (kernels with
 * CONFIG_DEVICE_PRIVATE, i.e. the debug kernel): pages move to a device
 * and back, the CPU faults them back, other devices either fault them back
 * (another owner) or reach them where they are (a peer sharing the owner),
 * and fork, munmap, exit, eviction and a full device memory leave nothing
 * behind. The core's device_pages counter says how many device pages are
 * in use at each step.
 */
#define _GNU_SOURCE
#include "dmirror.h"

#define N 64
/* Device memory of each dmirror device (its device_memory_mb default). */
#define DEVICE_PAGES (16UL << 20 >> 12)

/* SNAPSHOT's permission is a value: writable pages are WRITE alone. */
#define PROT_LOCAL (HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_WRITE)
#define PROT_REMOTE (HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE | \
		     HMM_DMIRROR_PROT_WRITE)
#define PROT_RAM HMM_DMIRROR_PROT_WRITE

static int fd0, fd1, fd2, fd3;

/* MIGRATE_TO_DEV / MIGRATE_TO_SYS: pages moved, or -errno. */
static long migrate(int fd, unsigned long req, void *p, unsigned long n)
{
	struct hmm_dmirror_cmd cmd;
	int ret = dm_cmd(fd, req, p, NULL, n, &cmd);

	return ret ? ret : (long)cmd.cpages;
}

static long long device_pages(void)
{
	return hmm_stat("device_pages");
}

/* Pages of [p, p + n) whose SNAPSHOT through @fd is not @want; -errno. */
static long snapshot_differs(int fd, void *p, unsigned long n, uint8_t want)
{
	uint8_t perm[N];
	unsigned long i;
	long bad = 0;
	int ret;

	ret = dm_cmd(fd, HMM_DMIRROR_SNAPSHOT, p, perm, n, NULL);
	if (ret)
		return ret;
	for (i = 0; i < n; i++)
		if (perm[i] != want)
			bad++;
	return bad;
}

/* Pages of [p, p + n) present in the CPU page tables. */
static unsigned long cpu_present(void *p, unsigned long n)
{
	unsigned long i, present = 0;

	for (i = 0; i < n; i++)
		if (pagemap((char *)p + i * PAGE) & PM_PRESENT)
			present++;
	return present;
}

/* The data the device @fd reads from [p, p + n) is pattern @seed. */
static int device_reads(int fd, void *p, unsigned long n, unsigned int seed)
{
	char *buf = map_anon(n, PROT_READ | PROT_WRITE);
	int ok = !dm_cmd(fd, HMM_DMIRROR_READ, p, buf, n, NULL) &&
		 differs(buf, n, seed) < 0;

	munmap(buf, n * PAGE);
	return ok;
}

static int device_writes(int fd, void *p, unsigned long n, unsigned int seed)
{
	char *buf = map_anon(n, PROT_READ | PROT_WRITE);
	int ret;

	fill(buf, n, seed);
	ret = dm_cmd(fd, HMM_DMIRROR_WRITE, p, buf, n, NULL);
	munmap(buf, n * PAGE);
	return ret;
}

/* Anonymous memory holding pattern @seed. */
static char *filled(unsigned long n, unsigned int seed)
{
	char *p = map_anon(n, PROT_READ | PROT_WRITE);

	fill(p, n, seed);
	return p;
}

static void test_migrate_and_cpu_access(void)
{
	long long base = device_pages(), faults = hmm_stat("device_cpu_faults");
	char *p = filled(N, 1);
	long moved;

	moved = migrate(fd0, HMM_DMIRROR_MIGRATE_TO_DEV, p, N);
	check("migrate: all pages move to the device", moved == N,
	      "moved %ld of %d", moved, N);
	check("migrate: device pages in use", device_pages() == base + N,
	      "%lld, was %lld", device_pages(), base);
	check("migrate: the CPU maps none of them", cpu_present(p, N) == 0,
	      "%lu present", cpu_present(p, N));
	check("migrate: the device's mirror reports its own device pages",
	      snapshot_differs(fd0, p, N, PROT_LOCAL) == 0, "%ld differ",
	      snapshot_differs(fd0, p, N, PROT_LOCAL));
	check("migrate: the device reads the data from its memory",
	      device_reads(fd0, p, N, 1), "");
	check("migrate: reading did not move them back",
	      device_pages() == base + N, "%lld", device_pages());

	check("CPU access after migration reads the data",
	      differs(p, N, 1) < 0, "word %ld", differs(p, N, 1));
	check("CPU access faulted every page back", cpu_present(p, N) == N &&
	      device_pages() == base, "%lu present, %lld device pages",
	      cpu_present(p, N), device_pages());
	check("CPU faults on device pages were counted",
	      hmm_stat("device_cpu_faults") >= faults + N, "%lld, was %lld",
	      hmm_stat("device_cpu_faults"), faults);
	check("after the fault back the mirror sees system pages",
	      snapshot_differs(fd0, p, N, PROT_RAM) == 0, "%ld differ",
	      snapshot_differs(fd0, p, N, PROT_RAM));
	munmap(p, N * PAGE);
}

static void test_write_on_device_then_fault_back(void)
{
	char *p = filled(N, 2);
	long moved = migrate(fd0, HMM_DMIRROR_MIGRATE_TO_DEV, p, N);

	check("device write: pages moved", moved == N, "moved %ld", moved);
	check("device write into its own memory",
	      device_writes(fd0, p, N, 3) == 0, "");
	check("device write stayed on the device", cpu_present(p, N) == 0,
	      "%lu present", cpu_present(p, N));
	/* The CPU reads one page: it comes back with the device's data. */
	check("fault back of one page keeps the device's data",
	      differs(p, 1, 3) < 0, "word %ld", differs(p, 1, 3));
	check("the other pages are still on the device",
	      cpu_present(p, N) == 1, "%lu present", cpu_present(p, N));
	check("all the device's writes reach the CPU", differs(p, N, 3) < 0,
	      "word %ld", differs(p, N, 3));
	munmap(p, N * PAGE);
}

static void test_migrate_twice_and_back(void)
{
	long long base = device_pages();
	char *p = filled(N, 4);
	long first, second, back, again;

	first = migrate(fd0, HMM_DMIRROR_MIGRATE_TO_DEV, p, N);
	second = migrate(fd0, HMM_DMIRROR_MIGRATE_TO_DEV, p, N);
	check("migrate twice: the second moves nothing", first == N &&
	      second == 0 && device_pages() == base + N,
	      "first %ld second %ld, %lld device pages", first, second,
	      device_pages() - base);
	back = migrate(fd0, HMM_DMIRROR_MIGRATE_TO_SYS, p, N);
	again = migrate(fd0, HMM_DMIRROR_MIGRATE_TO_SYS, p, N);
	check("MIGRATE_TO_SYS moves them all back, once", back == N &&
	      again == 0 && device_pages() == base,
	      "back %ld again %ld, %lld device pages", back, again,
	      device_pages() - base);
	check("MIGRATE_TO_SYS: the CPU maps them again",
	      cpu_present(p, N) == N, "%lu present", cpu_present(p, N));
	first = migrate(fd0, HMM_DMIRROR_MIGRATE_TO_DEV, p, N);
	check("round trip: they move to the device again", first == N,
	      "moved %ld", first);
	check("round trip: the data survived", device_reads(fd0, p, N, 4) &&
	      differs(p, N, 4) < 0, "");
	munmap(p, N * PAGE);
}

/*
 * Device 1 has another owner: it never sees device 0's pages, and its
 * faults bring them back. A mirror of the old system pages must not
 * survive the migration: device 0 writes on its device, device 1 reads.
 */
static void test_second_device(void)
{
	long long base = device_pages();
	char *p = filled(N, 5);
	long moved;

	check("second device mirrors the pages first",
	      device_reads(fd1, p, N, 5), "");
	moved = migrate(fd0, HMM_DMIRROR_MIGRATE_TO_DEV, p, N);
	check("second device: device 0 migrates them", moved == N,
	      "moved %ld", moved);
	check("second device does not see device 0's pages",
	      snapshot_differs(fd1, p, N, HMM_DMIRROR_PROT_NONE) == 0,
	      "%ld differ", snapshot_differs(fd1, p, N, HMM_DMIRROR_PROT_NONE));
	check("device 0 writes its pages", device_writes(fd0, p, N, 6) == 0,
	      "");
	check("second device reads device 0's writes (no stale mirror)",
	      device_reads(fd1, p, N, 6), "");
	check("second device's reads moved them back",
	      device_pages() == base && cpu_present(p, N) == N,
	      "%lld device pages, %lu present", device_pages() - base,
	      cpu_present(p, N));
	check("device 0 now mirrors system pages",
	      snapshot_differs(fd0, p, N, PROT_RAM) == 0, "%ld differ",
	      snapshot_differs(fd0, p, N, PROT_RAM));
	munmap(p, N * PAGE);
}

/* Devices 2 and 3 share an owner: each reaches the other's memory. */
static void test_peer_device(void)
{
	long long base = device_pages();
	char *p = filled(N, 7);
	long moved;

	moved = migrate(fd2, HMM_DMIRROR_MIGRATE_TO_DEV, p, N);
	check("peer: device 2 migrates", moved == N, "moved %ld", moved);
	check("peer: device 3 sees device 2's pages as remote",
	      snapshot_differs(fd3, p, N, PROT_REMOTE) == 0, "%ld differ",
	      snapshot_differs(fd3, p, N, PROT_REMOTE));
	check("peer: device 3 reads them where they are",
	      device_reads(fd3, p, N, 7) && device_pages() == base + N, "");
	check("peer: device 3 writes them where they are",
	      device_writes(fd3, p, N, 8) == 0 && device_pages() == base + N,
	      "");
	check("peer: device 2 still has them local and reads 3's writes",
	      snapshot_differs(fd2, p, N, PROT_LOCAL) == 0 &&
	      device_reads(fd2, p, N, 8), "");
	check("peer: the CPU reads the peer's writes", differs(p, N, 8) < 0,
	      "word %ld", differs(p, N, 8));
	check("peer: nothing left on the device", device_pages() == base,
	      "%lld", device_pages() - base);
	munmap(p, N * PAGE);
}

/*
 * Device 1 DMA-maps the system pages it mirrors; the device pages of its
 * own memory it mirrors as they are, with no DMA mapping, so there is none
 * to undo when they are invalidated (the debug kernel's DMA API debugging
 * reports an unmap of what was never mapped).
 */
static void test_dma_device_memory(void)
{
	long long dma0 = hmm_stat("dma_mapped_pages");
	char *p = filled(N, 21);
	long moved;

	moved = migrate(fd1, HMM_DMIRROR_MIGRATE_TO_DEV, p, N);
	check("dma device: migrates to its own memory", moved == N,
	      "moved %ld", moved);
	check("dma device: mirrors its own pages as local",
	      snapshot_differs(fd1, p, N, PROT_LOCAL) == 0, "%ld differ",
	      snapshot_differs(fd1, p, N, PROT_LOCAL));
	check("dma device: reads them", device_reads(fd1, p, N, 21), "");
	check("dma device: device pages are not DMA-mapped",
	      hmm_stat("dma_mapped_pages") == dma0, "%lld mapped",
	      hmm_stat("dma_mapped_pages") - dma0);
	moved = migrate(fd1, HMM_DMIRROR_MIGRATE_TO_SYS, p, N);
	check("dma device: moves them back", moved == N, "moved %ld", moved);
	check("dma device: nothing unmapped that was not mapped",
	      hmm_stat("dma_mapped_pages") == dma0, "%lld mapped",
	      hmm_stat("dma_mapped_pages") - dma0);
	check("dma device: reads the system pages, DMA-mapped",
	      device_reads(fd1, p, N, 21) &&
	      hmm_stat("dma_mapped_pages") == dma0 + N, "%lld mapped",
	      hmm_stat("dma_mapped_pages") - dma0);
	munmap(p, N * PAGE);
	check("dma device: munmap unmaps them all",
	      hmm_stat("dma_mapped_pages") == dma0, "%lld mapped",
	      hmm_stat("dma_mapped_pages") - dma0);
}

/*
 * A range across a hugetlb VMA: migrate_vma cannot move its pages, so
 * they stay, and the anonymous pages on either side move.
 */
static void test_hugetlb_in_range(void)
{
	unsigned long huge = 2UL << 20;
	char *r = mmap(NULL, 3 * huge, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0), *h, *a, *b;
	long moved;

	check_fatal("reserve", r != MAP_FAILED, "%s", strerror(errno));
	h = (char *)(((uintptr_t)r + huge - 1) & ~(huge - 1));
	if ((uintptr_t)h - (uintptr_t)r < N * PAGE)
		h += huge;
	munmap(r, 3 * huge);
	a = mmap(h - N * PAGE, N * PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	b = mmap(h + huge, N * PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (mmap(h, huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
		 MAP_HUGETLB | MAP_FIXED_NOREPLACE, -1, 0) != h ||
	    a == MAP_FAILED || b == MAP_FAILED) {
		skip("hugetlb in a migrated range", "no huge page here: %s",
		     strerror(errno));
		munmap(h - N * PAGE, huge + 2 * N * PAGE);
		return;
	}
	fill(a, N, 22);
	memset(h, 0x5a, huge);
	fill(b, N, 23);
	moved = migrate(fd0, HMM_DMIRROR_MIGRATE_TO_DEV, a,
			2 * N + huge / PAGE);
	check("hugetlb in range: the anonymous pages around it move",
	      moved == 2 * N, "got %ld", moved);
	check("hugetlb in range: the huge page stays, its data too",
	      cpu_present(h, 1) == 1 && h[huge - 1] == 0x5a, "");
	check("hugetlb in range: data after fault back",
	      differs(a, N, 22) < 0 && differs(b, N, 23) < 0, "");
	munmap(h - N * PAGE, huge + 2 * N * PAGE);
}

struct forked {
	char *p;
};

static void child_after_migration(void *arg)
{
	struct forked *f = arg;
	int fd;

	check("fork: the child reads migrated memory", differs(f->p, N, 9) < 0,
	      "word %ld", differs(f->p, N, 9));
	fill(f->p, N, 10);
	check("fork: the child writes its copy", differs(f->p, N, 10) < 0, "");
	fd = dm_open(0);
	check("fork: the child's device reads the child's copy",
	      device_reads(fd, f->p, N, 10), "");
	close(fd);
}

static void test_fork_after_migration(void)
{
	long long base = device_pages();
	struct forked f = { .p = filled(N, 9) };
	long moved = migrate(fd0, HMM_DMIRROR_MIGRATE_TO_DEV, f.p, N);
	int status;

	check("fork: pages migrated before fork", moved == N, "moved %ld",
	      moved);
	status = in_child(child_after_migration, &f);
	check("fork: the child passed", status == 0, "status %d", status);
	check("fork: the parent's device reads the parent's data",
	      device_reads(fd0, f.p, N, 9), "");
	check("fork: the parent's CPU reads the parent's data",
	      differs(f.p, N, 9) < 0, "word %ld", differs(f.p, N, 9));
	munmap(f.p, N * PAGE);
	check("fork: no device page left", device_pages() == base, "%lld",
	      device_pages() - base);
}

static void test_munmap_migrated(void)
{
	long long base = device_pages();
	char *p = filled(N, 11);
	long moved = migrate(fd0, HMM_DMIRROR_MIGRATE_TO_DEV, p, N);

	munmap(p, N * PAGE);
	check("munmap frees migrated pages", moved == N &&
	      device_pages() == base, "moved %ld, %lld device pages", moved,
	      device_pages() - base);
}

static void child_exits_with_migrated(void *arg)
{
	char *p = filled(N, 12);
	int fd = dm_open(0);
	long moved = migrate(fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, N);

	(void)arg;
	check("exit: the child migrates", moved == N, "moved %ld", moved);
	/* exit with the pages on the device and the file open */
}

static void test_exit_with_migrated(void)
{
	long long base = device_pages();
	int status = in_child(child_exits_with_migrated, NULL);

	check("exit: the child passed", status == 0, "status %d", status);
	check("exit frees the device pages", device_pages() == base, "%lld",
	      device_pages() - base);
}

/* A full device memory moves what fits; the rest stays, all intact. */
static void test_device_full(void)
{
	unsigned long n = DEVICE_PAGES + 256, used;
	long long base = device_pages();
	char *p = filled(n, 13);
	long moved = migrate(fd0, HMM_DMIRROR_MIGRATE_TO_DEV, p, n);

	used = device_pages() - base;
	check("device full: what fits moves", moved > 0 &&
	      (unsigned long)moved <= DEVICE_PAGES && used == (unsigned long)moved,
	      "moved %ld of %lu, %lu device pages used", moved, n, used);
	check("device full: the rest stays in system memory",
	      cpu_present(p, n) == n - moved, "%lu present",
	      cpu_present(p, n));
	check("device full: every page reads right", differs(p, n, 13) < 0,
	      "word %ld", differs(p, n, 13));
	munmap(p, n * PAGE);
	check("device full: all freed", device_pages() == base, "%lld",
	      device_pages() - base);
}

/* RELEASE evicts the device's memory wherever it is mapped. */
static void test_release_evicts(void)
{
	long long base = device_pages();
	char *p = filled(N, 14);
	long moved = migrate(fd0, HMM_DMIRROR_MIGRATE_TO_DEV, p, N);
	int ret = dm_cmd(fd0, HMM_DMIRROR_RELEASE, p, NULL, N, NULL);

	check("RELEASE evicts the device memory", moved == N && !ret &&
	      device_pages() == base && cpu_present(p, N) == N,
	      "moved %ld ret %d, %lld device pages, %lu present", moved, ret,
	      device_pages() - base, cpu_present(p, N));
	check("RELEASE keeps the data", differs(p, N, 14) < 0, "word %ld",
	      differs(p, N, 14));
	munmap(p, N * PAGE);
}

static void test_huge_and_files(void)
{
	unsigned long n = 512;
	char *p = map_aligned(n * PAGE, n * PAGE);
	char path[] = "/tmp/hodp-migrate-XXXXXX";
	long moved;
	char *f;
	int fd;

	madvise(p, n * PAGE, MADV_HUGEPAGE);
	fill(p, n, 15);
	moved = migrate(fd0, HMM_DMIRROR_MIGRATE_TO_DEV, p, n);
	check("a THP range migrates page by page", moved == (long)n,
	      "moved %ld", moved);
	check("THP range reads right after fault back", differs(p, n, 15) < 0,
	      "word %ld", differs(p, n, 15));
	munmap(p, n * PAGE);

	fd = mkstemp(path);
	check_fatal("temporary file", fd >= 0, "%s", strerror(errno));
	unlink(path);
	check_fatal("size it", ftruncate(fd, N * PAGE) == 0, "%s",
		    strerror(errno));
	f = mmap(NULL, N * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	check_fatal("mmap the file", f != MAP_FAILED, "%s", strerror(errno));
	fill(f, N, 16);
	moved = migrate(fd0, HMM_DMIRROR_MIGRATE_TO_DEV, f, N);
	check("file pages stay in system memory", moved == 0 &&
	      cpu_present(f, N) == N, "moved %ld", moved);
	munmap(f, N * PAGE);
	close(fd);

	/* dmirror refuses it first with test_hmm's errno; the core's is EFAULT. */
	moved = migrate(fd0, HMM_DMIRROR_MIGRATE_TO_DEV, (void *)PAGE, 1);
	check("migrating an unmapped range to the device is EINVAL",
	      moved == -EINVAL, "got %ld", moved);
	moved = migrate(fd0, HMM_DMIRROR_MIGRATE_TO_SYS, (void *)PAGE, 1);
	check("migrating an unmapped range back is EFAULT", moved == -EFAULT,
	      "got %ld", moved);
}

static void test_exclusive(void)
{
	struct hmm_dmirror_cmd cmd;
	char *p = filled(N, 17);
	int ret;

	ret = dm_cmd(fd0, HMM_DMIRROR_EXCLUSIVE, p, NULL, N, &cmd);
	check("exclusive: granted for the range", !ret && cmd.cpages == N,
	      "ret %d cpages %llu", ret, (unsigned long long)cmd.cpages);
	check("exclusive: the CPU lost its mappings", cpu_present(p, N) == 0,
	      "%lu present", cpu_present(p, N));
	ret = dm_cmd(fd0, HMM_DMIRROR_CHECK_EXCLUSIVE, p, NULL, N, &cmd);
	check("exclusive: held", !ret && cmd.cpages == N, "ret %d cpages %llu",
	      ret, (unsigned long long)cmd.cpages);
	check("exclusive: the device writes the pages",
	      device_writes(fd0, p, N, 18) == 0, "");
	ret = dm_cmd(fd0, HMM_DMIRROR_CHECK_EXCLUSIVE, p, NULL, N, &cmd);
	check("exclusive: still held after device writes", !ret, "ret %d", ret);
	/* Its own exclusive entries are no race to retry for ever. */
	ret = dm_cmd(fd0, HMM_DMIRROR_EXCLUSIVE, p, NULL, N, &cmd);
	check("exclusive: asking again for a held range is granted",
	      !ret && cmd.cpages == N, "ret %d cpages %llu", ret,
	      (unsigned long long)cmd.cpages);
	ret = dm_cmd(fd0, HMM_DMIRROR_CHECK_EXCLUSIVE, p, NULL, N, &cmd);
	check("exclusive: held after asking again", !ret, "ret %d", ret);

	/* One CPU read of one page ends the device's hold on it. */
	check("exclusive: the CPU reads the device's write",
	      differs(p, 1, 18) < 0, "word %ld", differs(p, 1, 18));
	ret = dm_cmd(fd0, HMM_DMIRROR_CHECK_EXCLUSIVE, p, NULL, 1, NULL);
	check("exclusive: a CPU access revokes it for that page",
	      ret == -EPERM, "ret %d", ret);
	ret = dm_cmd(fd0, HMM_DMIRROR_CHECK_EXCLUSIVE, p + PAGE, NULL, N - 1,
		     NULL);
	check("exclusive: and only for that page", !ret, "ret %d", ret);
	mprotect(p, N * PAGE, PROT_READ);
	ret = dm_cmd(fd0, HMM_DMIRROR_CHECK_EXCLUSIVE, p + PAGE, NULL, N - 1,
		     NULL);
	check("exclusive: mprotect revokes the rest", ret == -EPERM, "ret %d",
	      ret);
	ret = dm_cmd(fd0, HMM_DMIRROR_EXCLUSIVE, p, NULL, N, NULL);
	check("exclusive: refused on read-only memory", ret == -EFAULT,
	      "ret %d", ret);
	check("exclusive: the CPU reads every device write",
	      differs(p, N, 18) < 0, "word %ld", differs(p, N, 18));
	munmap(p, N * PAGE);
}

/*
 * Unloading the driver evicts its device memory from processes that still
 * map it (the files are closed, so the module may go). It runs last and
 * loads the module again for the tests after this program.
 */
static void test_unload_with_migrated(void)
{
	const char *dir = getenv("HODP_MODULES") ?: getenv("HODP_TOP");
	long long base = device_pages();
	char *p = filled(N, 19), cmd[512];
	long moved = migrate(fd0, HMM_DMIRROR_MIGRATE_TO_DEV, p, N);
	int ret;

	check("unload: pages migrated", moved == N, "moved %ld", moved);
	close(fd0);
	close(fd1);
	close(fd2);
	close(fd3);
	ret = system("rmmod hmm_dmirror");
	check("unload: rmmod with device memory in use", ret == 0,
	      "status %d", ret);
	check("unload: the device memory was evicted", device_pages() ==
	      base && cpu_present(p, N) == N,
	      "%lld device pages, %lu present", device_pages() - base,
	      cpu_present(p, N));
	check("unload: the data survived", differs(p, N, 19) < 0, "word %ld",
	      differs(p, N, 19));
	check_fatal("unload: where the modules are", dir, "no HODP_TOP");
	snprintf(cmd, sizeof(cmd), "insmod %s/kernel/hmm/dmirror/hmm_dmirror.ko",
		 dir);
	ret = system(cmd);
	check("unload: the module loads again", ret == 0 &&
	      access("/dev/hmm_dmirror0", F_OK) == 0, "status %d", ret);
	munmap(p, N * PAGE);
}

int main(void)
{
	if (!kernel_has_device_private()) {
		skip("migration to device memory",
		     "this kernel has no CONFIG_DEVICE_PRIVATE (debug kernel only)");
		return 0;
	}
	fd0 = dm_open(0);
	fd1 = dm_open(1);
	fd2 = dm_open(2);
	fd3 = dm_open(3);
	check_fatal("device memory counter", device_pages() >= 0,
		    "no device_pages in hmm_mirror/stats");

	test_migrate_and_cpu_access();
	test_write_on_device_then_fault_back();
	test_migrate_twice_and_back();
	test_second_device();
	test_peer_device();
	test_fork_after_migration();
	test_munmap_migrated();
	test_exit_with_migrated();
	test_device_full();
	test_release_evicts();
	test_huge_and_files();
	test_dma_device_memory();
	test_hugetlb_in_range();
	test_exclusive();
	test_unload_with_migrated();
	return check_done();
}
