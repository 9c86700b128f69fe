/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tasks and workers seen through /proc, for the tests that make a
 * process's mmap lock wanted by a writer behind a fault holding it
 * (tests/hodp/odpblock.c, tests/faultinject/event-lifetime.c).
 */
#ifndef _TESTS_HODP_TASKS_H
#define _TESTS_HODP_TASKS_H

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "verbs.h"	/* now_s() */

/*
 * Workers running an item of workqueue @wq ("kworker/...+name"). With no
 * malloc nor stdio, into memory its first call made present: a process
 * whose mmap lock a writer waits for may count them.
 */
static inline int workers_of(const char *wq)
{
	static char dents[32768];
	char want[32], path[64], comm[64];
	int dir = open("/proc", O_RDONLY | O_DIRECTORY), fd, n = 0;
	struct dirent64 *d;
	ssize_t len, r, off;

	memset(dents, 0, sizeof(dents));
	snprintf(want, sizeof(want), "+%s\n", wq);
	while (dir >= 0 && (len = getdents64(dir, dents, sizeof(dents))) > 0)
		for (off = 0; off < len; off += d->d_reclen) {
			d = (struct dirent64 *)(dents + off);
			if (d->d_name[0] < '1' || d->d_name[0] > '9')
				continue;
			snprintf(path, sizeof(path), "/proc/%.20s/comm",
				 d->d_name);
			fd = open(path, O_RDONLY);
			if (fd < 0)
				continue;
			r = read(fd, comm, sizeof(comm) - 1);
			close(fd);
			comm[r > 0 ? r : 0] = 0;
			n += !!strstr(comm, want);
		}
	if (dir >= 0)
		close(dir);
	return n;
}

/*
 * A task of this mm (clone(CLONE_VM)): it maps a page, the lock wanted.
 * Bounded: an alarm kills it within *@arg seconds whatever the test does
 * (a page fault of this process's other tasks waits behind it, and so
 * does their exit; the held reads may be answered by one of them); it
 * keeps no file of the process open (/dev/fuse: its exit would not end
 * the server's connection).
 */
static inline int mmap_writer(void *arg)
{
	sigset_t alrm;

	signal(SIGALRM, SIG_DFL);	/* its own handlers: no CLONE_SIGHAND */
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	sigprocmask(SIG_UNBLOCK, &alrm, NULL);
	alarm(*(const unsigned int *)arg);
	close_range(0, ~0U, 0);
	mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return 0;
}

/* /proc/@pid/@what into @buf (512 bytes), "" if unreadable (no mmap lock). */
static inline void proc_read(pid_t pid, const char *what, char *buf)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	fd = open(path, O_RDONLY);
	n = fd >= 0 ? read(fd, buf, 511) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
}

/*
 * Task @pid waits in mmap() (syscall 9), killably or not ('D'), within 5 s:
 * 1, or 0.
 */
static inline int task_waits(pid_t pid)
{
	double t0 = now_s();
	char buf[512], *st;
	int d;

	while (now_s() - t0 < 5) {
		proc_read(pid, "stat", buf);
		st = strrchr(buf, ')');
		d = st && st[1] == ' ' && st[2] == 'D';
		proc_read(pid, "syscall", buf);
		if (d && !strncmp(buf, "9 ", 2))
			return 1;
		usleep(10000);
	}
	return 0;
}

#endif
