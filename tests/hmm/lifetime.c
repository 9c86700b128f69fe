// SPDX-License-Identifier: GPL-2.0
/*
 * Mirror and mm lifetimes (the argument of the HMM v8 review): a mirror
 * may outlive its mm; release runs once when the mm dies; closing the file
 * while the mm lives unregisters; and unregister racing mm teardown -
 * exactly one of them unlinks the mirror - survives thousands of rounds.
 * The core's counters must come back to where they started.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <sys/wait.h>
#include <time.h>

#include "dmirror.h"

/* Wait (the free of struct hmm waits for an SRCU grace period). */
static int settle(const char *stat, long long want)
{
	int i;

	for (i = 0; i < 100 && hmm_stat(stat) != want; i++)
		usleep(50 * 1000);
	return hmm_stat(stat) == want;
}

static void test_close_while_mm_lives(void)
{
	long long m0 = hmm_stat("mirrors"), h0 = hmm_stat("hmms");
	long long r0 = hmm_stat("mm_releases");
	char *p = map_anon(4, PROT_READ | PROT_WRITE), buf[4 * PAGE];
	int a = dm_open(0), b = dm_open(1);

	check("close: two opens are two mirrors", hmm_stat("mirrors") == m0 + 2,
	      "mirrors %lld -> %lld", m0, hmm_stat("mirrors"));
	check("close: one hmm for the one mm", hmm_stat("hmms") == h0 + 1,
	      "hmms %lld -> %lld", h0, hmm_stat("hmms"));
	check("close: both mirror", !dm_cmd(a, HMM_DMIRROR_READ, p, buf, 4, NULL) &&
	      !dm_cmd(b, HMM_DMIRROR_READ, p, buf, 4, NULL), "");
	close(a);
	check("close: closing one unregisters it", hmm_stat("mirrors") == m0 + 1,
	      "mirrors %lld", hmm_stat("mirrors") - m0);
	check("close: the other still mirrors",
	      !dm_cmd(b, HMM_DMIRROR_READ, p, buf, 4, NULL), "");
	close(b);
	check("close: all mirrors gone", hmm_stat("mirrors") == m0,
	      "mirrors %lld", hmm_stat("mirrors") - m0);
	check("close: the hmm is freed with its last mirror", settle("hmms", h0),
	      "hmms %lld", hmm_stat("hmms") - h0);
	check("close: no release while the mm lives", hmm_stat("mm_releases") == r0,
	      "releases %lld", hmm_stat("mm_releases") - r0);
	munmap(p, 4 * PAGE);
}

/*
 * The process that opened the device exits while a child it forked still
 * holds the file: the mirror outlives its mm, release runs once, the child
 * cannot use the mirror, and its close unregisters cleanly.
 */
static void test_mm_dies_first(void)
{
	long long m0 = hmm_stat("mirrors"), h0 = hmm_stat("hmms");
	long long r0 = hmm_stat("mm_releases");
	int status, go[2], done[2];
	pid_t opener;

	check_fatal("pipe", !pipe(go) && !pipe(done), "%s", strerror(errno));
	fflush(stdout);
	opener = fork();
	if (!opener) {
		char *p = map_anon(4, PROT_READ | PROT_WRITE), buf[4 * PAGE], c;
		int fd = dm_open(0);

		if (dm_cmd(fd, HMM_DMIRROR_READ, p, buf, 4, NULL))
			_exit(2);
		if (!fork()) {
			/* Holder: outlives the opener with the file open. */
			int ret;

			if (read(go[0], &c, 1) != 1)
				_exit(3);
			ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, 4, NULL);
			c = ret == -EPERM ? 'P' : 'x';
			if (write(done[1], &c, 1) != 1)
				_exit(4);
			if (read(go[0], &c, 1) != 1)
				_exit(5);
			close(fd);
			c = 'C';
			_exit(write(done[1], &c, 1) == 1 ? 0 : 6);
		}
		_exit(0);
	}
	waitpid(opener, &status, 0);
	check("exit first: the opener exited", WIFEXITED(status) &&
	      !WEXITSTATUS(status), "status 0x%x", status);
	check("exit first: release ran once for the dead mm",
	      settle("mm_releases", r0 + 1), "releases %lld",
	      hmm_stat("mm_releases") - r0);
	check("exit first: the mirror outlives its mm",
	      hmm_stat("mirrors") == m0 + 1, "mirrors %lld",
	      hmm_stat("mirrors") - m0);

	char c = 'g';

	check_fatal("pipe write", write(go[1], &c, 1) == 1, "");
	check("exit first: the holder is refused the mirror (other mm)",
	      read(done[0], &c, 1) == 1 && c == 'P', "holder said '%c'", c);
	check_fatal("pipe write", write(go[1], &c, 1) == 1, "");
	check("exit first: the holder closed the file",
	      read(done[0], &c, 1) == 1 && c == 'C', "holder said '%c'", c);
	check("exit first: unregister after release leaves nothing",
	      settle("mirrors", m0) && settle("hmms", h0), "mirrors %lld hmms %lld",
	      hmm_stat("mirrors") - m0, hmm_stat("hmms") - h0);
	check("exit first: still one release",
	      hmm_stat("mm_releases") == r0 + 1, "releases %lld",
	      hmm_stat("mm_releases") - r0);
	while (wait(NULL) > 0)
		;
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
}

struct closer {
	int fd;
	unsigned long skew;
	volatile int running;
};

/* Burn @n iterations without a system call (a skew, not a timing). */
static void spin(unsigned long n)
{
	volatile unsigned long i;

	for (i = 0; i < n; i++)
		;
}

static void *closer(void *arg)
{
	struct closer *c = arg;

	c->running = 1;
	spin(c->skew);
	close(c->fd);
	return NULL;
}

/*
 * One round of the race: a process mirrors a page, then its file is closed
 * by a thread (@how 0) or by a forked child in another mm (@how 1) while
 * the process exits. Either unregister or teardown unlinks first.
 *
 * The thread's close unregisters first if it enters close() before the
 * exit's kill reaches it, teardown otherwise. Left to itself which one
 * that is depends on how fast the kernel starts a thread: always teardown
 * on a slow (debug) kernel with two CPUs. So the owner waits until the
 * closer runs, then one side burns a skew of 2^(@skew) iterations before
 * its step, the owner in even rounds of @how 0, the closer in odd ones,
 * @skew swept over the rounds from nothing to far longer than a close:
 * the two steps cross at some skew on any kernel, and each side wins.
 */
static void race_round(int how, int round)
{
	int skew = (round >> 1) % 22;
	char *p = map_anon(1, PROT_READ | PROT_WRITE), buf[PAGE], c = 0;
	int fd = dm_open(how ? 3 : 2), go[2];
	struct closer cl = {
		.fd = fd,
		.skew = (round & 1) ? 1UL << skew : 0,
	};
	pthread_t t;

	if (dm_cmd(fd, HMM_DMIRROR_WRITE, p, buf, 1, NULL))
		_exit(2);
	if (how == 0) {
		if (pthread_create(&t, NULL, closer, &cl))
			_exit(6);
		while (!cl.running)
			sched_yield();
		spin((round & 1) ? 0 : 1UL << skew);
		_exit(0);
	}
	if (pipe(go))
		_exit(3);
	if (!fork()) {
		if (read(go[0], &c, 1) != 1)
			_exit(4);
		close(fd);
		_exit(0);
	}
	if (write(go[1], &c, 1) != 1)
		_exit(5);
	_exit(0);
}

static void test_race(int rounds)
{
	long long m0 = hmm_stat("mirrors"), h0 = hmm_stat("hmms");
	long long r0 = hmm_stat("mm_releases"), released, before;
	long long thread_won = 0, threads = 0;
	struct timespec t0, t1;
	int i, bad = 0, status;
	pid_t pid;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < rounds; i++) {
		fflush(stdout);
		before = hmm_stat("mm_releases");
		pid = fork();
		if (!pid)
			race_round(i & 1, i >> 1);
		if (pid < 0 || waitpid(pid, &status, 0) != pid ||
		    !WIFEXITED(status) || WEXITSTATUS(status))
			bad++;
		/* The round's mm is gone once it is reaped. */
		if (!(i & 1)) {
			threads++;
			thread_won += hmm_stat("mm_releases") - before;
		}
	}
	while (wait(NULL) > 0)
		;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# %d rounds in %.1f s\n", rounds, (t1.tv_sec - t0.tv_sec) +
	       (t1.tv_nsec - t0.tv_nsec) / 1e9);
	check("race: every round ran to completion", !bad, "%d of %d rounds failed",
	      bad, rounds);
	/*
	 * Teardown unlinked first in some rounds, unregister in others, and
	 * in the thread's rounds alone: the forked closer's close is never
	 * the last (its parent's exit drops the file after the mm), so there
	 * teardown always unlinks and the unregister waits for its release.
	 */
	released = hmm_stat("mm_releases") - r0;
	printf("# mm teardown won %lld of %d rounds, %lld of %lld with a thread closing\n",
	       released, rounds, thread_won, threads);
	check("race: both sides won the race some of the time",
	      thread_won > 0 && thread_won < threads,
	      "teardown won %lld of %lld rounds with a thread closing",
	      thread_won, threads);
	check("race: every mirror was unregistered", settle("mirrors", m0),
	      "%lld mirrors left", hmm_stat("mirrors") - m0);
	check("race: every hmm was freed", settle("hmms", h0), "%lld hmms left",
	      hmm_stat("hmms") - h0);
	check("race: no mirror page left behind", settle("mirrored_pages", 0),
	      "%lld pages", hmm_stat("mirrored_pages"));
}

/* Wait up to @secs for a counter to reach @want. */
static int settle_within(const char *stat, long long want, int secs)
{
	int i;

	for (i = 0; i < secs * 20 && hmm_stat(stat) < want; i++)
		usleep(50 * 1000);
	return hmm_stat(stat) >= want;
}

#define FAULT_PAGES 16384	/* 64 MiB: the fault outlives its process */

/*
 * The process exits while its device's fault worker faults a large range
 * (PREFETCH) and a forked holder keeps the file open. The worker's fault
 * holds the last user reference of the mm; when it ends, the mm's teardown
 * must not run in the worker (dmirror's release waits for the worker: a
 * synchronous mmput there never returns). Bounded: release within 60 s.
 */
static void test_exit_during_device_fault(void)
{
	long long m0 = hmm_stat("mirrors"), r0 = hmm_stat("mm_releases");
	long long f0 = hmm_stat("faults");
	int status, go[2];
	pid_t owner;
	char c = 'g';

	check_fatal("pipe", !pipe(go), "%s", strerror(errno));
	fflush(stdout);
	owner = fork();
	if (!owner) {
		char *p = map_anon(FAULT_PAGES, PROT_READ | PROT_WRITE);
		int fd = dm_open(0), i;

		if (!fork()) {
			/* Holder: keeps the file open until told. */
			if (read(go[0], &c, 1) != 1)
				_exit(3);
			close(fd);
			_exit(0);
		}
		/* ptr != 0: fault for writing (allocates every page). */
		if (dm_cmd(fd, HMM_DMIRROR_PREFETCH, p, p, FAULT_PAGES, NULL))
			_exit(2);
		/* The worker's fault began: it holds the mm now. */
		for (i = 0; i < 2000 && hmm_stat("faults") == f0; i++)
			usleep(1000);
		_exit(hmm_stat("faults") > f0 ? 0 : 4);
	}
	waitpid(owner, &status, 0);
	check("fault in flight: the owner exited with the fault running",
	      WIFEXITED(status) && !WEXITSTATUS(status), "status 0x%x", status);
	check("fault in flight: the mm is released when the fault ends (no deadlock)",
	      settle_within("mm_releases", r0 + 1, 60), "releases %lld",
	      hmm_stat("mm_releases") - r0);
	check_fatal("pipe write", write(go[1], &c, 1) == 1, "");
	while (wait(&status) > 0)
		;
	check("fault in flight: the holder closed the mirror",
	      settle("mirrors", m0), "mirrors %lld", hmm_stat("mirrors") - m0);
	close(go[0]);
	close(go[1]);
}

/* Load or unload hmm_dmirror: the command's exit status. */
static int dmirror_module(int load)
{
	const char *dir = getenv("HODP_MODULES") ?: getenv("HODP_TOP");
	char cmd[512];
	int ret;

	if (!load)
		ret = system("rmmod hmm_dmirror");
	else if (!dir)
		return -1;
	else {
		snprintf(cmd, sizeof(cmd),
			 "insmod %s/kernel/hmm/dmirror/hmm_dmirror.ko", dir);
		ret = system(cmd);
	}
	return WIFEXITED(ret) ? WEXITSTATUS(ret) : -1;
}

#define DELAY_KNOB "/sys/kernel/debug/hmm_mirror/teardown_delay_ms"

/*
 * The seed's rule: once a driver has unregistered its mirrors, none of its
 * functions runs again. The owner of a mirror exits while a forked holder
 * keeps the file open; teardown releases the mirror and (test builds'
 * knob) lingers 3 s at the end of its work on it. In that window the
 * holder closes the file and hmm_dmirror is unloaded: whatever teardown
 * still does must not call into the unloaded driver (->free), so the owner
 * must exit cleanly.
 */
static void test_unload_during_teardown(void)
{
	long long m0 = hmm_stat("mirrors"), r0 = hmm_stat("mm_releases");
	int status, go[2], done[2], ret;
	pid_t owner;
	char c = 'g';

	if (access(DELAY_KNOB, W_OK)) {
		skip("unload during teardown",
		     "no %s (test builds only: make debug-modules)", DELAY_KNOB);
		return;
	}
	check_fatal("pipe", !pipe(go) && !pipe(done), "%s", strerror(errno));
	check_fatal("set the teardown delay", !write_file(DELAY_KNOB, "3000"),
		    "%s", strerror(errno));
	fflush(stdout);
	owner = fork();
	if (!owner) {
		char *p = map_anon(4, PROT_READ | PROT_WRITE), buf[4 * PAGE];
		int fd = dm_open(0);

		if (dm_cmd(fd, HMM_DMIRROR_READ, p, buf, 4, NULL))
			_exit(2);
		if (!fork()) {
			/* Holder: the only one with the file. */
			if (read(go[0], &c, 1) != 1)
				_exit(3);
			close(fd);
			c = 'C';
			_exit(write(done[1], &c, 1) == 1 ? 0 : 4);
		}
		close(fd);
		_exit(0);
	}
	/* The owner is in its mm's teardown once its mirror was released. */
	check("unload during teardown: the owner's mirror is released",
	      settle_within("mm_releases", r0 + 1, 30), "releases %lld",
	      hmm_stat("mm_releases") - r0);
	check_fatal("pipe write", write(go[1], &c, 1) == 1, "");
	check("unload during teardown: the holder closed the file",
	      read(done[0], &c, 1) == 1 && c == 'C' && hmm_stat("mirrors") == m0,
	      "holder said '%c', mirrors %lld", c, hmm_stat("mirrors") - m0);
	ret = dmirror_module(0);
	check("unload during teardown: rmmod hmm_dmirror", ret == 0,
	      "status %d", ret);
	check("unload during teardown: the owner exited cleanly (no call into the unloaded driver)",
	      waitpid(owner, &status, 0) == owner && WIFEXITED(status) &&
	      !WEXITSTATUS(status), "status 0x%x", status);
	write_file(DELAY_KNOB, "0");
	ret = dmirror_module(1);
	check("unload during teardown: hmm_dmirror loads again",
	      ret == 0 && access("/dev/hmm_dmirror0", F_OK) == 0, "status %d",
	      ret);
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
}

int main(void)
{
	check_fatal("lifetime: core counters are readable",
		    hmm_stat("mirrors") >= 0, "no debugfs hmm_mirror/stats");
	test_close_while_mm_lives();
	test_mm_dies_first();
	test_race(env_count("HMM_RACE_ROUNDS", 3000, 100000));
	test_exit_during_device_fault();
	test_unload_during_teardown();
	return check_done();
}
