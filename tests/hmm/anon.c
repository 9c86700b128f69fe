// SPDX-License-Identifier: GPL-2.0
/*
 * Coherence of a mirror of private anonymous memory: the device sees what
 * the CPU wrote and the CPU what the device wrote, across every change of
 * the CPU mapping (munmap + remap, mremap, mprotect, MADV_DONTNEED), and
 * the device is refused what the CPU is refused.
 */
#define _GNU_SOURCE
#include "dmirror.h"

#define N 16

static void test_read_write(int fd)
{
	struct hmm_dmirror_cmd cmd;
	char *p = map_anon(N, PROT_READ | PROT_WRITE);
	char *buf = map_anon(N, PROT_READ | PROT_WRITE);
	int ret;

	fill(p, N, 1);
	ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, N, &cmd);
	check("anon: device read succeeds", !ret, "ret %d", ret);
	check("anon: device read reports all pages", cmd.cpages == N,
	      "cpages %llu", (unsigned long long)cmd.cpages);
	check("anon: first device read faults once", cmd.faults == 1,
	      "faults %llu", (unsigned long long)cmd.faults);
	check("anon: device reads what the CPU wrote", differs(buf, N, 1) < 0,
	      "word %ld differs", differs(buf, N, 1));

	ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, N, &cmd);
	check("anon: second device read takes no fault", !ret && !cmd.faults,
	      "ret %d faults %llu", ret, (unsigned long long)cmd.faults);

	fill(buf, N, 2);
	ret = dm_cmd(fd, HMM_DMIRROR_WRITE, p, buf, N, &cmd);
	check("anon: device write succeeds", !ret && cmd.cpages == N,
	      "ret %d cpages %llu", ret, (unsigned long long)cmd.cpages);
	check("anon: CPU reads what the device wrote", differs(p, N, 2) < 0,
	      "word %ld differs", differs(p, N, 2));

	fill(p, N, 3);
	ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, N, &cmd);
	check("anon: device sees the CPU's later writes",
	      !ret && differs(buf, N, 3) < 0, "ret %d word %ld", ret,
	      differs(buf, N, 3));
	munmap(p, N * PAGE);
	munmap(buf, N * PAGE);
}

static void test_read_only(int fd)
{
	struct hmm_dmirror_cmd cmd;
	char *buf = map_anon(N, PROT_READ | PROT_WRITE);
	char *p = map_anon(N, PROT_READ);
	unsigned long i;
	int ret;

	ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, N, &cmd);
	for (i = 0; i < N * PAGE && !buf[i]; i++)
		;
	check("read-only: device reads zeros", !ret && i == N * PAGE,
	      "ret %d, byte %lu not zero", ret, i);
	memset(buf, 0x5a, N * PAGE);
	ret = dm_cmd(fd, HMM_DMIRROR_WRITE, p, buf, N, &cmd);
	check("read-only: device write is refused with EPERM", ret == -EPERM,
	      "ret %d (%s)", ret, strerror(-ret));
	check("read-only: the refused write changed nothing", !p[0] && !p[N * PAGE - 1],
	      "bytes %d %d", p[0], p[N * PAGE - 1]);
	munmap(p, N * PAGE);
	munmap(buf, N * PAGE);
}

static void test_remap_same_address(int fd)
{
	char *buf = map_anon(N, PROT_READ | PROT_WRITE);
	char *p = map_anon(N, PROT_READ | PROT_WRITE), *q;
	int ret;

	fill(p, N, 4);
	ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, N, NULL);
	check("munmap: device read before", !ret, "ret %d", ret);
	munmap(p, N * PAGE);
	ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, N, NULL);
	check("munmap: device read of an unmapped range fails with EFAULT",
	      ret == -EFAULT, "ret %d", ret);
	q = mmap(p, N * PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	check_fatal("munmap: new mapping at the same address", q == p, "%s",
		    strerror(errno));
	fill(q, N, 5);
	ret = dm_cmd(fd, HMM_DMIRROR_READ, q, buf, N, NULL);
	check("munmap: device sees the new mapping, not stale data",
	      !ret && differs(buf, N, 5) < 0, "ret %d word %ld", ret,
	      differs(buf, N, 5));
	munmap(q, N * PAGE);
	munmap(buf, N * PAGE);
}

static void test_mremap(int fd)
{
	char *buf = map_anon(N, PROT_READ | PROT_WRITE);
	char *p = map_anon(N, PROT_READ | PROT_WRITE);
	char *dst = map_anon(2 * N, PROT_NONE), *q;
	int ret;

	fill(p, N, 6);
	ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, N, NULL);
	check("mremap: device read before", !ret, "ret %d", ret);
	q = mremap(p, N * PAGE, N * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED,
		   dst + N * PAGE);
	check_fatal("mremap: moved", q == dst + N * PAGE, "%s", strerror(errno));
	ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, N, NULL);
	check("mremap: the old range is gone for the device", ret == -EFAULT,
	      "ret %d", ret);
	memset(buf, 0, N * PAGE);
	ret = dm_cmd(fd, HMM_DMIRROR_READ, q, buf, N, NULL);
	check("mremap: device reads the data at the new address",
	      !ret && differs(buf, N, 6) < 0, "ret %d word %ld", ret,
	      differs(buf, N, 6));
	munmap(dst, 2 * N * PAGE);
	munmap(buf, N * PAGE);
}

static void test_mprotect(int fd)
{
	char *buf = map_anon(N, PROT_READ | PROT_WRITE);
	char *p = map_anon(N, PROT_READ | PROT_WRITE);
	int ret;

	fill(p, N, 7);
	fill(buf, N, 8);
	ret = dm_cmd(fd, HMM_DMIRROR_WRITE, p, buf, N, NULL);
	check("mprotect: device write while writable", !ret, "ret %d", ret);
	mprotect(p, N * PAGE, PROT_READ);
	fill(buf, N, 9);
	ret = dm_cmd(fd, HMM_DMIRROR_WRITE, p, buf, N, NULL);
	check("mprotect: device write after PROT_READ fails with EPERM",
	      ret == -EPERM, "ret %d", ret);
	check("mprotect: memory keeps the last allowed write",
	      differs(p, N, 8) < 0, "word %ld", differs(p, N, 8));
	mprotect(p, N * PAGE, PROT_READ | PROT_WRITE);
	ret = dm_cmd(fd, HMM_DMIRROR_WRITE, p, buf, N, NULL);
	check("mprotect: device write works again after PROT_WRITE",
	      !ret && differs(p, N, 9) < 0, "ret %d word %ld", ret,
	      differs(p, N, 9));
	munmap(p, N * PAGE);
	munmap(buf, N * PAGE);
}

static void test_dontneed_and_snapshot(int fd)
{
	unsigned char *buf = map_anon(N, PROT_READ | PROT_WRITE);
	unsigned char *p = map_anon(N + 1, PROT_READ | PROT_WRITE);
	unsigned char perm[N + 1];
	unsigned long i;
	int ret, ok;

	munmap(p + N * PAGE, PAGE);	/* a hole after the range */
	fill(buf, N, 10);
	ret = dm_cmd(fd, HMM_DMIRROR_WRITE, p, buf, N, NULL);
	check("dontneed: device write", !ret, "ret %d", ret);
	ret = dm_cmd(fd, HMM_DMIRROR_SNAPSHOT, p, perm, N, NULL);
	for (i = 0, ok = !ret; i < N; i++)
		ok &= perm[i] == HMM_DMIRROR_PROT_WRITE;
	check("snapshot: written pages are read-write", ok,
	      "ret %d perm[0] 0x%x", ret, perm[0]);

	madvise(p, N * PAGE, MADV_DONTNEED);
	ret = dm_cmd(fd, HMM_DMIRROR_SNAPSHOT, p, perm, N + 1, NULL);
	for (i = 0, ok = !ret; i < N; i++)
		ok &= perm[i] == HMM_DMIRROR_PROT_NONE;
	check("snapshot: pages dropped by MADV_DONTNEED are absent", ok,
	      "ret %d perm[0] 0x%x", ret, perm[0]);
	check("snapshot: a page with no mapping is an error",
	      !ret && perm[N] == HMM_DMIRROR_PROT_ERROR, "perm 0x%x", perm[N]);

	memset(buf, 0xff, N * PAGE);
	ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, N, NULL);
	for (i = 0; i < N * PAGE && !buf[i]; i++)
		;
	check("dontneed: device reads zeros after MADV_DONTNEED",
	      !ret && i == N * PAGE, "ret %d byte %lu", ret, i);
	ret = dm_cmd(fd, HMM_DMIRROR_SNAPSHOT, p, perm, N, NULL);
	check("snapshot: a read fault maps the zero page read-only",
	      !ret && perm[0] == (HMM_DMIRROR_PROT_READ | HMM_DMIRROR_PROT_ZERO),
	      "perm 0x%x", perm[0]);
	munmap(p, N * PAGE);
	munmap(buf, N * PAGE);
}

static void expect_errno(const char *name, int ret, int want)
{
	check(name, ret == -want, "expected %d (%s), got %d (%s)", -want,
	      strerror(want), ret, strerror(-ret));
}

static void test_bad_input(int fd)
{
	char *p = map_anon(1, PROT_READ | PROT_WRITE);
	char buf[PAGE];

	expect_errno("bad input: zero pages is EINVAL",
		     dm_cmd(fd, HMM_DMIRROR_READ, p, buf, 0, NULL), EINVAL);
	expect_errno("bad input: unaligned address is EINVAL",
		     dm_cmd(fd, HMM_DMIRROR_READ, p + 1, buf, 1, NULL), EINVAL);
	expect_errno("bad input: a range that wraps is EINVAL",
		     dm_cmd(fd, HMM_DMIRROR_READ, p, buf, ~0UL / PAGE, NULL),
		     EINVAL);
	expect_errno("bad input: a kernel address is EFAULT",
		     dm_cmd(fd, HMM_DMIRROR_READ, (void *)0xffff888000000000UL,
			    buf, 1, NULL), EFAULT);
	expect_errno("bad input: a bad user buffer is EFAULT",
		     dm_cmd(fd, HMM_DMIRROR_READ, p, (void *)8, 1, NULL), EFAULT);
	expect_errno("bad input: an unknown ioctl is EINVAL",
		     ioctl(fd, _IOWR('H', 0x3f, struct hmm_dmirror_cmd), buf) ?
		     -errno : 0, EINVAL);
	munmap(p, PAGE);
}

/*
 * Debian's kernel has no CONFIG_DEVICE_PRIVATE: migration to device memory
 * and exclusive access (make_device_exclusive_range) do not exist there.
 */
static void test_without_device_private(int fd)
{
	char *p = map_anon(1, PROT_READ | PROT_WRITE);
	char buf[PAGE];

	if (kernel_has_device_private()) {
		skip("no device memory", "this kernel has DEVICE_PRIVATE (migrate.c)");
		return;
	}
	expect_errno("no device memory: MIGRATE_TO_DEV is EOPNOTSUPP",
		     dm_cmd(fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, 1, NULL),
		     EOPNOTSUPP);
	expect_errno("no device memory: MIGRATE_TO_SYS is EOPNOTSUPP",
		     dm_cmd(fd, HMM_DMIRROR_MIGRATE_TO_SYS, p, buf, 1, NULL),
		     EOPNOTSUPP);
	expect_errno("no device memory: EXCLUSIVE is EOPNOTSUPP",
		     dm_cmd(fd, HMM_DMIRROR_EXCLUSIVE, p, buf, 1, NULL),
		     EOPNOTSUPP);
	expect_errno("no device memory: CHECK_EXCLUSIVE is EOPNOTSUPP",
		     dm_cmd(fd, HMM_DMIRROR_CHECK_EXCLUSIVE, p, buf, 1, NULL),
		     EOPNOTSUPP);
	expect_errno("no device memory: RELEASE has nothing to evict",
		     dm_cmd(fd, HMM_DMIRROR_RELEASE, p, buf, 1, NULL), 0);
	munmap(p, PAGE);
}

int main(void)
{
	int fd = dm_open(0);

	test_read_write(fd);
	test_read_only(fd);
	test_remap_same_address(fd);
	test_mremap(fd);
	test_mprotect(fd);
	test_dontneed_and_snapshot(fd);
	test_bad_input(fd);
	test_without_device_private(fd);
	close(fd);
	return check_done();
}
