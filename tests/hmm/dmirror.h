/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for tests that drive the HMM core through /dev/hmm_dmirrorN.
 */
#ifndef _TESTS_DMIRROR_H
#define _TESTS_DMIRROR_H

#include <fcntl.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "counters.h"
#include "hmm_dmirror_uapi.h"

#define PAGE 4096UL

/* Open device @id; a test cannot go on without it. */
static inline int dm_open(int id)
{
	char path[32];
	int fd;

	snprintf(path, sizeof(path), "/dev/hmm_dmirror%d", id);
	fd = open(path, O_RDWR | O_CLOEXEC);
	check_fatal("open dmirror device", fd >= 0, "open %s: %s", path,
		    strerror(errno));
	return fd;
}

/*
 * One device operation on [addr, addr + npages pages): 0 or -errno. The
 * command as the device returned it lands in *out when given.
 */
static inline int dm_cmd(int fd, unsigned long req, void *addr, void *ptr,
			 unsigned long npages, struct hmm_dmirror_cmd *out)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (uintptr_t)addr,
		.ptr = (uintptr_t)ptr,
		.npages = npages,
	};
	int ret;

	ret = ioctl(fd, req, &cmd) ? -errno : 0;
	if (out)
		*out = cmd;
	return ret;
}

/* Write @value to the file @path (a sysfs knob, a cgroup file): 0 or -1. */
static inline int write_file(const char *path, const char *value)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -1;
	ok = fputs(value, f) >= 0;
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

static inline void *map_anon(unsigned long npages, int prot)
{
	void *p = mmap(NULL, npages * PAGE, prot, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	check_fatal("mmap anonymous memory", p != MAP_FAILED, "%s",
		    strerror(errno));
	return p;
}

/* Fill @npages pages with a pattern derived from @seed. */
static inline void fill(void *p, unsigned long npages, unsigned int seed)
{
	uint32_t *w = p;
	unsigned long i;

	for (i = 0; i < npages * PAGE / 4; i++)
		w[i] = seed * 2654435761u + (uint32_t)i;
}

/* Index of the first word that differs from the pattern, -1 if none. */
static inline long differs(const void *p, unsigned long npages,
			   unsigned int seed)
{
	const uint32_t *w = p;
	unsigned long i;

	for (i = 0; i < npages * PAGE / 4; i++)
		if (w[i] != seed * 2654435761u + (uint32_t)i)
			return (long)i;
	return -1;
}

/* /proc/self/pagemap entry of @addr (bit 63 present, 62 swapped, pfn). */
static inline uint64_t pagemap(const void *addr)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd >= 0) {
		if (pread(fd, &e, sizeof(e), (uintptr_t)addr / PAGE * 8) != 8)
			e = 0;
		close(fd);
	}
	return e;
}

#define PM_PRESENT	(1ULL << 63)
#define PM_SWAPPED	(1ULL << 62)
#define PM_PFN(e)	((e) & ((1ULL << 55) - 1))

/* A number from /proc/vmstat, -1 if absent. */
static inline long long vmstat(const char *name)
{
	return file_counter("/proc/vmstat", name);
}

/* @len bytes of anonymous memory aligned to @align. */
static inline void *map_aligned(unsigned long len, unsigned long align)
{
	char *p = mmap(NULL, len + align, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t a;

	check_fatal("mmap", p != MAP_FAILED, "%s", strerror(errno));
	a = ((uintptr_t)p + align - 1) & ~(align - 1);
	if (a > (uintptr_t)p)
		munmap(p, a - (uintptr_t)p);
	munmap((char *)a + len, (uintptr_t)p + align - a);
	return (void *)a;
}

/* Run @fn in a child that reports its own PASS/FAIL lines; its status. */
static inline int in_child(void (*fn)(void *), void *arg)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	check_fatal("fork", pid >= 0, "%s", strerror(errno));
	if (!pid) {
		check_failures = 0;
		fn(arg);
		fflush(stdout);
		_exit(check_done());
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*
 * Whether the running kernel has CONFIG_DEVICE_PRIVATE: it exports
 * make_device_exclusive_range() only then.
 */
static inline int kernel_has_device_private(void)
{
	char line[256];
	FILE *f = fopen("/proc/kallsyms", "r");
	int found = 0;

	check_fatal("read /proc/kallsyms", f, "%s", strerror(errno));
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, " make_device_exclusive_range\n") != NULL;
	fclose(f);
	return found;
}

#endif /* _TESTS_DMIRROR_H */
