// SPDX-License-Identifier: GPL-2.0
/*
 * File-backed memory, shared mappings of a tmpfs file (memfd) and of a file
 * on ext4 (the suite mounts one on a loop device at /mnt/hodp-ext4): the
 * device reads what the file holds, its writes reach the file, and the
 * pages it wrote are dirtied when their mirror entries go, so writeback
 * does not lose them. And what the core tells a driver of a fault before
 * it runs (hmm_mirror_fault_may_wait(), dmirror's MAY_WAIT): a fault of
 * ext4's file may wait on its file system; of tmpfs (shmem), anonymous
 * memory or a private mapping of /dev/zero it may not; of a range whose
 * last page is ext4's it may, of the range just before that page not.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "dmirror.h"

#define N 32

static void test_file(const char *what, int file)
{
	char *buf = map_anon(N, PROT_READ | PROT_WRITE), *p, name[96];
	long long dirtied;
	int fd = dm_open(0), ret;
	ssize_t n;

	check_fatal("ftruncate", !ftruncate(file, N * PAGE), "%s", strerror(errno));
	fill(buf, N, 11);
	n = pwrite(file, buf, N * PAGE, 0);
	check_fatal("pwrite", n == (ssize_t)(N * PAGE), "%zd", n);
	p = mmap(NULL, N * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
	check_fatal("mmap file", p != MAP_FAILED, "%s", strerror(errno));

	memset(buf, 0, N * PAGE);
	ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, N, NULL);
	snprintf(name, sizeof(name), "%s: device reads the file's contents", what);
	check(name, !ret && differs(buf, N, 11) < 0, "ret %d word %ld", ret,
	      differs(buf, N, 11));

	fill(buf, N, 12);
	ret = dm_cmd(fd, HMM_DMIRROR_WRITE, p, buf, N, NULL);
	snprintf(name, sizeof(name), "%s: device write", what);
	check(name, !ret, "ret %d", ret);

	dirtied = hmm_stat("dirtied_pages");
	munmap(p, N * PAGE);
	snprintf(name, sizeof(name),
		 "%s: unmapping dirties every page the device wrote", what);
	check(name, hmm_stat("dirtied_pages") - dirtied >= N,
	      "dirtied_pages grew by %lld", hmm_stat("dirtied_pages") - dirtied);

	/* Write back and drop the page cache: the data must be on disk. */
	check_fatal("fsync", !fsync(file), "%s", strerror(errno));
	posix_fadvise(file, 0, N * PAGE, POSIX_FADV_DONTNEED);
	memset(buf, 0, N * PAGE);
	n = pread(file, buf, N * PAGE, 0);
	snprintf(name, sizeof(name),
		 "%s: the device's writes survive writeback and eviction", what);
	check(name, n == (ssize_t)(N * PAGE) && differs(buf, N, 12) < 0,
	      "read %zd word %ld", n, differs(buf, N, 12));

	/* And the device sees CPU writes made through write(2). */
	p = mmap(NULL, N * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
	check_fatal("mmap file", p != MAP_FAILED, "%s", strerror(errno));
	ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, N, NULL);
	fill(buf, N, 13);
	n = pwrite(file, buf, N * PAGE, 0);
	memset(buf, 0, N * PAGE);
	ret = ret ?: dm_cmd(fd, HMM_DMIRROR_READ, p, buf, N, NULL);
	snprintf(name, sizeof(name), "%s: device sees data written with write(2)",
		 what);
	check(name, !ret && differs(buf, N, 13) < 0, "ret %d word %ld", ret,
	      differs(buf, N, 13));
	munmap(p, N * PAGE);
	munmap(buf, N * PAGE);
	close(fd);
}

/* MAY_WAIT of @npages at @addr: 1 or 0, or -errno. */
static int may_wait(int fd, void *addr, unsigned long npages)
{
	struct hmm_dmirror_cmd cmd;
	int ret = dm_cmd(fd, HMM_DMIRROR_MAY_WAIT, addr, NULL, npages, &cmd);

	return ret ? ret : (int)cmd.cpages;
}

/*
 * What MAY_WAIT says of a mapping of @file (@want), of anonymous memory
 * and of /dev/zero mapped privately (0), of anonymous memory whose last
 * page is @file's (@want), and of the same without that page (0: a range's
 * end is exclusive).
 */
static void test_may_wait(const char *what, int file, int want)
{
	int fd = dm_open(0), zero = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	char *anon = map_anon(N + 1, PROT_READ | PROT_WRITE), *p, *z, name[160];
	int got, got_anon, got_zero, got_mixed, got_before;

	check_fatal("ftruncate", !ftruncate(file, N * PAGE), "%s", strerror(errno));
	p = mmap(NULL, N * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
	z = zero >= 0 ? mmap(NULL, N * PAGE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE, zero, 0) : MAP_FAILED;
	check_fatal("mmap", p != MAP_FAILED && z != MAP_FAILED, "%s",
		    strerror(errno));
	got = may_wait(fd, p, N);
	got_anon = may_wait(fd, anon, N);
	got_zero = may_wait(fd, z, N);
	/* The anonymous range's last page replaced by the file's first. */
	got_mixed = mmap(anon + N * PAGE, PAGE, PROT_READ, MAP_SHARED |
			 MAP_FIXED, file, 0) != MAP_FAILED ?
		    may_wait(fd, anon, N + 1) : -ENOMEM;
	got_before = may_wait(fd, anon, N);
	snprintf(name, sizeof(name),
		 "%s: MAY_WAIT says a fault of the file %s on it", what,
		 want ? "may wait" : "does not wait");
	check(name, got == want, "%d", got);
	snprintf(name, sizeof(name),
		 "%s: ... of anonymous memory and private /dev/zero, no; of anonymous memory ending in the file, %s; of it just before the file, no",
		 what, want ? "yes" : "no");
	check(name, !got_anon && !got_zero && got_mixed == want && !got_before,
	      "anonymous %d, /dev/zero %d, ending in the file %d, just before it %d",
	      got_anon, got_zero, got_mixed, got_before);
	munmap(p, N * PAGE);
	munmap(z, N * PAGE);
	munmap(anon, (N + 1) * PAGE);
	close(zero);
	close(fd);
}

/*
 * The file is on the file system the test is named after: a mount that
 * failed leaves its mount point on the guest's overlay root, where every
 * check would pass on the wrong file system.
 */
static void check_fs(const char *what, int file, long magic)
{
	struct statfs st;
	char name[96];

	snprintf(name, sizeof(name), "%s: the file is on %s", what, what);
	check_fatal(name, fstatfs(file, &st) == 0 && (long)st.f_type == magic,
		    "fstatfs: %s, f_type 0x%lx, want 0x%lx",
		    strerror(errno), (long)st.f_type, magic);
	pass(name);
}

int main(void)
{
	int file;

	file = memfd_create("hodp-hmm-test", MFD_CLOEXEC);
	check_fatal("memfd_create", file >= 0, "%s", strerror(errno));
	check_fs("tmpfs", file, TMPFS_MAGIC);
	test_file("tmpfs", file);
	test_may_wait("tmpfs", file, 0);
	close(file);

	file = open("/mnt/hodp-ext4/hmm-file-test", O_RDWR | O_CREAT | O_TRUNC,
		    0600);
	check_fatal("open a file on ext4 (suite setup mounts it)", file >= 0,
		    "%s", strerror(errno));
	check_fs("ext4", file, EXT4_SUPER_MAGIC);
	test_file("ext4", file);
	test_may_wait("ext4", file, 1);
	close(file);
	unlink("/mnt/hodp-ext4/hmm-file-test");
	return check_done();
}
