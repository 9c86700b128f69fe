// SPDX-License-Identifier: GPL-2.0
/*
 * fork and copy-on-write, in both directions: each process's mirror sees
 * its own copy of private memory, device writes break COW like CPU writes,
 * MAP_SHARED memory is one copy for both, and a child cannot use its
 * parent's mirror through the inherited file descriptor.
 */
#define _GNU_SOURCE
#include "dmirror.h"

#define N 8

struct cow {
	int parent_fd;
	char *p;
};

static void child_cow(void *arg)
{
	struct cow *c = arg;
	char *buf = map_anon(N, PROT_READ | PROT_WRITE);
	int fd, ret;

	ret = dm_cmd(c->parent_fd, HMM_DMIRROR_READ, c->p, buf, N, NULL);
	check("fork: the parent's mirror refuses the child (EPERM)",
	      ret == -EPERM, "ret %d", ret);

	fd = dm_open(0);
	ret = dm_cmd(fd, HMM_DMIRROR_READ, c->p, buf, N, NULL);
	check("fork: child's mirror reads the inherited data",
	      !ret && differs(buf, N, 1) < 0, "ret %d word %ld", ret,
	      differs(buf, N, 1));
	/* The child writes its copy through its device. */
	fill(buf, N, 2);
	ret = dm_cmd(fd, HMM_DMIRROR_WRITE, c->p, buf, N, NULL);
	check("fork: child's device write", !ret, "ret %d", ret);
	check("fork: child's CPU sees its device write", differs(c->p, N, 2) < 0,
	      "word %ld", differs(c->p, N, 2));
	close(fd);
}

static void test_cow(void)
{
	char *buf = map_anon(N, PROT_READ | PROT_WRITE);
	struct cow c = { .parent_fd = dm_open(0) };
	int ret, status;

	c.p = map_anon(N, PROT_READ | PROT_WRITE);
	fill(c.p, N, 1);
	ret = dm_cmd(c.parent_fd, HMM_DMIRROR_READ, c.p, buf, N, NULL);
	check("fork: parent mirrors its memory before fork", !ret, "ret %d", ret);

	status = in_child(child_cow, &c);
	check("fork: child checks passed", status == 0, "child status %d", status);
	check("fork: child's device write did not reach the parent",
	      differs(c.p, N, 1) < 0, "word %ld", differs(c.p, N, 1));
	ret = dm_cmd(c.parent_fd, HMM_DMIRROR_READ, c.p, buf, N, NULL);
	check("fork: parent's mirror still reads the parent's data",
	      !ret && differs(buf, N, 1) < 0, "ret %d word %ld", ret,
	      differs(buf, N, 1));
	close(c.parent_fd);
	munmap(c.p, N * PAGE);
	munmap(buf, N * PAGE);
}

static void child_sees_original(void *arg)
{
	struct cow *c = arg;

	/* Let the parent's device write happen first. */
	usleep(300 * 1000);
	check("cow: the parent's device write stays out of the child",
	      differs(c->p, N, 3) < 0, "word %ld", differs(c->p, N, 3));
}

static void test_device_write_breaks_cow(void)
{
	char *buf = map_anon(N, PROT_READ | PROT_WRITE);
	struct cow c = { .parent_fd = dm_open(0) };
	int ret, status;
	pid_t pid;

	c.p = map_anon(N, PROT_READ | PROT_WRITE);
	fill(c.p, N, 3);
	ret = dm_cmd(c.parent_fd, HMM_DMIRROR_READ, c.p, buf, N, NULL);
	check("cow: parent mirror before fork", !ret, "ret %d", ret);

	fflush(stdout);
	pid = fork();
	check_fatal("fork", pid >= 0, "%s", strerror(errno));
	if (!pid) {
		check_failures = 0;
		child_sees_original(&c);
		fflush(stdout);
		_exit(check_done());
	}
	/* The pages are shared copy-on-write now: write them by device. */
	fill(buf, N, 4);
	ret = dm_cmd(c.parent_fd, HMM_DMIRROR_WRITE, c.p, buf, N, NULL);
	check("cow: parent's device write after fork", !ret, "ret %d", ret);
	check("cow: parent's CPU sees its device write", differs(c.p, N, 4) < 0,
	      "word %ld", differs(c.p, N, 4));
	waitpid(pid, &status, 0);
	check("cow: child checks passed", WIFEXITED(status) && !WEXITSTATUS(status),
	      "child status 0x%x", status);
	close(c.parent_fd);
	munmap(c.p, N * PAGE);
	munmap(buf, N * PAGE);
}

static void child_shared(void *arg)
{
	struct cow *c = arg;
	char *buf = map_anon(N, PROT_READ | PROT_WRITE);
	int fd = dm_open(1), ret;

	check("shared: child's CPU sees the parent's device write",
	      differs(c->p, N, 5) < 0, "word %ld", differs(c->p, N, 5));
	fill(buf, N, 6);
	ret = dm_cmd(fd, HMM_DMIRROR_WRITE, c->p, buf, N, NULL);
	check("shared: child's device write", !ret, "ret %d", ret);
	close(fd);
}

static void test_shared(void)
{
	char *buf = map_anon(N, PROT_READ | PROT_WRITE);
	struct cow c = { .parent_fd = dm_open(1) };
	int ret, status;

	c.p = mmap(NULL, N * PAGE, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	check_fatal("mmap shared", c.p != MAP_FAILED, "%s", strerror(errno));
	fill(buf, N, 5);
	ret = dm_cmd(c.parent_fd, HMM_DMIRROR_WRITE, c.p, buf, N, NULL);
	check("shared: parent's device write", !ret, "ret %d", ret);

	status = in_child(child_shared, &c);
	check("shared: child checks passed", status == 0, "child status %d", status);
	check("shared: parent's CPU sees the child's device write",
	      differs(c.p, N, 6) < 0, "word %ld", differs(c.p, N, 6));
	ret = dm_cmd(c.parent_fd, HMM_DMIRROR_READ, c.p, buf, N, NULL);
	check("shared: parent's device sees the child's device write",
	      !ret && differs(buf, N, 6) < 0, "ret %d word %ld", ret,
	      differs(buf, N, 6));
	close(c.parent_fd);
	munmap(c.p, N * PAGE);
	munmap(buf, N * PAGE);
}

int main(void)
{
	test_cow();
	test_device_write_breaks_cow();
	test_shared();
	return check_done();
}
