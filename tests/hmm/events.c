// SPDX-License-Identifier: GPL-2.0
/*
 * The driver is told why its mirror is invalidated: each CPU page-table
 * change of a mirrored range reaches dmirror's invalidate callback with the
 * mmu_notifier event the kernel gave it (counted in debugfs
 * hmm_dmirror/events).
 */
#define _GNU_SOURCE
#include <sched.h>
#include <sys/wait.h>

#include "dmirror.h"

#define N 8

/* Invalidations dmirror was told of with event @name. */
static long long event(const char *name)
{
	return file_counter("/sys/kernel/debug/hmm_dmirror/events", name);
}

/* Mirror a fresh range, do @what to it, and expect event @name. */
static void expect_event(int fd, const char *what, const char *name,
			 void (*change)(char *p))
{
	char *buf = map_anon(N, PROT_READ | PROT_WRITE), title[128];
	char *p = map_anon(N, PROT_READ | PROT_WRITE);
	long long before;
	int ret;

	madvise(p, N * PAGE, MADV_NOHUGEPAGE);
	ret = dm_cmd(fd, HMM_DMIRROR_WRITE, p, buf, N, NULL);
	before = event(name);
	change(p);
	snprintf(title, sizeof(title), "%s: the driver is told '%s'", what, name);
	check(title, !ret && before >= 0 && event(name) > before,
	      "ret %d, %s %lld -> %lld", ret, name, before, event(name));
	munmap(p, N * PAGE);
	munmap(buf, N * PAGE);
}

static void do_munmap(char *p) { munmap(p, N * PAGE); }
static void do_dontneed(char *p) { madvise(p, N * PAGE, MADV_DONTNEED); }
static void do_mprotect(char *p) { mprotect(p, N * PAGE, PROT_READ); }
static void do_pageout(char *p) { madvise(p, N * PAGE, MADV_PAGEOUT); }

static void do_fork(char *p)
{
	pid_t pid = fork();

	(void)p;
	if (!pid)
		_exit(0);
	waitpid(pid, NULL, 0);
}

static void do_clear_refs(char *p)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY);

	(void)p;
	if (fd >= 0) {
		if (write(fd, "4", 1) != 1)
			(void)0;
		close(fd);
	}
}

int main(void)
{
	int fd = dm_open(0), status;
	cpu_set_t one;
	long long before;
	pid_t pid;

	/*
	 * On one CPU: pages the device's write faults in wait in that CPU's
	 * batch of new LRU pages, and MADV_PAGEOUT drains only its own
	 * CPU's; moved to the other CPU in between, the test saw no page go
	 * out (the two-CPU debug kernel: 'clear 2 -> 2').
	 */
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	check_fatal("events: run on CPU 0", !sched_setaffinity(0, sizeof(one), &one),
		    "sched_setaffinity");
	check_fatal("events: dmirror counts events", event("unmap") >= 0,
		    "no debugfs hmm_dmirror/events");
	expect_event(fd, "munmap", "unmap", do_munmap);
	expect_event(fd, "MADV_DONTNEED", "clear", do_dontneed);
	expect_event(fd, "mprotect", "protection_vma", do_mprotect);
	expect_event(fd, "fork (copy-on-write)", "protection_page", do_fork);
	expect_event(fd, "clear_refs (soft-dirty)", "soft_dirty", do_clear_refs);
	expect_event(fd, "MADV_PAGEOUT", "clear", do_pageout);

	/* A process that exits with its memory mirrored. */
	before = event("release");
	fflush(stdout);
	pid = fork();
	if (!pid) {
		char buf[PAGE], *p = map_anon(1, PROT_READ | PROT_WRITE);
		int cfd = dm_open(1);

		_exit(dm_cmd(cfd, HMM_DMIRROR_WRITE, p, buf, 1, NULL) ? 1 : 0);
	}
	waitpid(pid, &status, 0);
	check("exit: the driver is told 'release'",
	      WIFEXITED(status) && !WEXITSTATUS(status) && event("release") > before,
	      "status 0x%x, release %lld -> %lld", status, before, event("release"));

	/*
	 * Closing the file unregisters a mirror whose entries are still
	 * valid (and DMA-mapped: device 1): the driver is told (event
	 * 'release', over the whole address space) before they are cleared,
	 * so it can stop the device using them.
	 */
	{
		char buf[4 * PAGE], *p = map_anon(4, PROT_READ | PROT_WRITE);
		int dfd = dm_open(1), ret;

		ret = dm_cmd(dfd, HMM_DMIRROR_WRITE, p, buf, 4, NULL);
		before = event("release");
		close(dfd);
		check("unregister: the driver is told 'release' before its entries go",
		      !ret && event("release") == before + 1,
		      "ret %d, release %lld -> %lld", ret, before, event("release"));
		munmap(p, 4 * PAGE);
	}
	close(fd);
	return check_done();
}
