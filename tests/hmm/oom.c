// SPDX-License-Identifier: GPL-2.0
/*
 * A process killed by the OOM killer while its memory is mirrored: its
 * memory cgroup (64 MiB, no swap) runs out, the kernel kills it (and its
 * OOM reaper may tear the address space down from a context that must not
 * sleep, where the core only trylocks), and everything is cleaned up.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "dmirror.h"

#define CG "/sys/fs/cgroup"

static void victim(void)
{
	char buf[PAGE * 16];
	int fd = dm_open(0);

	/* Mirror everything it allocates, until the cgroup says no more. */
	for (;;) {
		char *p = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			_exit(2);
		memset(buf, 0x77, sizeof(buf));
		if (dm_cmd(fd, HMM_DMIRROR_WRITE, p, buf, 16, NULL))
			_exit(3);
	}
}

int main(void)
{
	long long m0 = hmm_stat("mirrors"), pages0 = hmm_stat("mirrored_pages");
	int status, i;
	pid_t pid;
	char s[32];

	mkdir(CG, 0755);
	mount("cgroup2", CG, "cgroup2", 0, NULL);
	check_fatal("oom: a memory cgroup", !write_file(CG "/cgroup.subtree_control", "+memory") &&
		    (mkdir(CG "/hodp-oom", 0755) == 0 || errno == EEXIST) &&
		    !write_file(CG "/hodp-oom/memory.max", "64M") &&
		    !write_file(CG "/hodp-oom/memory.swap.max", "0"), "%s", strerror(errno));

	fflush(stdout);
	pid = fork();
	if (!pid) {
		snprintf(s, sizeof(s), "%d", getpid());
		if (write_file(CG "/hodp-oom/cgroup.procs", s))
			_exit(4);
		victim();
	}
	waitpid(pid, &status, 0);
	check("oom: the mirrored process was killed by the OOM killer",
	      WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	      "status 0x%x", status);
	for (i = 0; i < 100 && hmm_stat("mirrors") != m0; i++)
		usleep(50 * 1000);
	check("oom: its mirror is gone", hmm_stat("mirrors") == m0,
	      "%lld mirrors left", hmm_stat("mirrors") - m0);
	check("oom: no mirrored page left behind",
	      hmm_stat("mirrored_pages") == pages0, "%lld pages left",
	      hmm_stat("mirrored_pages") - pages0);
	rmdir(CG "/hodp-oom");
	return check_done();
}
