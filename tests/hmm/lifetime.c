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

static void *closer(void *arg)
{
	close(*(int *)arg);
	return NULL;
}

/*
 * One round of the race: a process mirrors a page, then its file is closed
 * by a thread (@how 0) or by a forked child in another mm (@how 1) while
 * the process exits. Either unregister or teardown unlinks first.
 */
static void race_round(int how)
{
	char *p = map_anon(1, PROT_READ | PROT_WRITE), buf[PAGE], c = 0;
	int fd = dm_open(how ? 3 : 2), go[2];
	pthread_t t;

	if (dm_cmd(fd, HMM_DMIRROR_WRITE, p, buf, 1, NULL))
		_exit(2);
	if (how == 0) {
		pthread_create(&t, NULL, closer, &fd);
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
	long long r0 = hmm_stat("mm_releases"), released;
	struct timespec t0, t1;
	int i, bad = 0, status;
	pid_t pid;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < rounds; i++) {
		fflush(stdout);
		pid = fork();
		if (!pid)
			race_round(i & 1);
		if (pid < 0 || waitpid(pid, &status, 0) != pid ||
		    !WIFEXITED(status) || WEXITSTATUS(status))
			bad++;
	}
	while (wait(NULL) > 0)
		;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# %d rounds in %.1f s\n", rounds, (t1.tv_sec - t0.tv_sec) +
	       (t1.tv_nsec - t0.tv_nsec) / 1e9);
	check("race: every round ran to completion", !bad, "%d of %d rounds failed",
	      bad, rounds);
	/* Teardown unlinked first in some rounds, unregister in others. */
	released = hmm_stat("mm_releases") - r0;
	printf("# mm teardown won %lld of %d rounds\n", released, rounds);
	check("race: both sides won the race some of the time",
	      released > 0 && released < rounds, "teardown won %lld of %d",
	      released, rounds);
	check("race: every mirror was unregistered", settle("mirrors", m0),
	      "%lld mirrors left", hmm_stat("mirrors") - m0);
	check("race: every hmm was freed", settle("hmms", h0), "%lld hmms left",
	      hmm_stat("hmms") - h0);
	check("race: no mirror page left behind", settle("mirrored_pages", 0),
	      "%lld pages", hmm_stat("mirrored_pages"));
}

int main(void)
{
	const char *rounds = getenv("HMM_RACE_ROUNDS");

	check_fatal("lifetime: core counters are readable",
		    hmm_stat("mirrors") >= 0, "no debugfs hmm_mirror/stats");
	test_close_while_mm_lives();
	test_mm_dies_first();
	test_race(rounds ? atoi(rounds) : 3000);
	return check_done();
}
