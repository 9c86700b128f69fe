/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The miss injections of hodp's debugfs (hodp/atomic_miss: an atomic's
 * target page gone since its lookups; hodp/copy_miss: a resumable copy's
 * ODP destination page gone; hodp/inplace_miss: the same once the WQE's
 * events for its own memory are over) and its slow faults (hodp/slow_fault picks them,
 * hodp/fault_delay_ms says how slow), armed, disarmed (also when the
 * test is killed), and their fault events read from the trace, for the
 * tests that aim them (atomic-miss, ud-miss, event-lifetime), and their
 * completions awaited.
 */
#ifndef _TESTS_FAULTINJECT_MISS_H
#define _TESTS_FAULTINJECT_MISS_H

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "counters.h"
#include "fault_attr.h"
#include "../hodp/trace.h"
#include "../hodp/verbs.h"

#define ATOMIC_MISS	"/sys/kernel/debug/hodp/atomic_miss"
#define COPY_MISS	"/sys/kernel/debug/hodp/copy_miss"
#define INPLACE_MISS	"/sys/kernel/debug/hodp/inplace_miss"
#define SLOW_FAULT	"/sys/kernel/debug/hodp/slow_fault"
#define FAULT_DELAY	"/sys/kernel/debug/hodp/fault_delay_ms"
#define PAGE		4096UL
/* HODP_FAULT_TRIES (hodp.h): the events of a WQE that makes no progress. */
#define FAULT_TRIES	64

/* The next @times looks at @attr find their page gone (-1: every one). */
static inline void arm(const char *attr, int times)
{
	check_fatal("arm the injection", !attr_arm(attr, 0, times),
		    "%s: %s", attr, strerror(errno));
}

static inline void disarm(void)
{
	attr_write(ATOMIC_MISS, "probability", "0");
	attr_write(ATOMIC_MISS, "times", "1");
	attr_write(COPY_MISS, "probability", "0");
	attr_write(COPY_MISS, "times", "1");
	attr_write(INPLACE_MISS, "probability", "0");
	attr_write(INPLACE_MISS, "times", "1");
	attr_write(SLOW_FAULT, "probability", "0");
	attr_write(SLOW_FAULT, "times", "1");
	write_str(FAULT_DELAY, "0");
}

static inline void write_zero(const char *path)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd >= 0) {
		n = write(fd, "0", 1);	/* nothing to do if it fails */
		(void)n;
		close(fd);
	}
}

/* Killed (the harness's timeout): disarmed all the same, then gone. */
static inline void disarm_killed(int sig)
{
	(void)sig;
	write_zero(ATOMIC_MISS "/probability");
	write_zero(COPY_MISS "/probability");
	write_zero(INPLACE_MISS "/probability");
	write_zero(SLOW_FAULT "/probability");
	write_zero(FAULT_DELAY);
	_exit(1);
}

/* A case's trace starts empty (hodp's events are on: trace_hodp_on()). */
static inline void start_trace(void)
{
	trace_clear();
}

/* The case's trace (free it). */
static inline char *stop_trace(void)
{
	char *trace;

	trace = read_trace();
	check_fatal("read the trace", trace, "%s", strerror(errno));
	return trace;
}

/*
 * For a WQE whose every look misses while its events last (their
 * FAULT_TRIES faults quick): its first look once they are over misses
 * too (hodp/inplace_miss), and the fault of the requester's own page that
 * follows sleeps @ms (the next after the events' faults: hodp/slow_fault
 * lets those through).
 */
static inline void arm_slow_inplace(const char *ms)
{
	arm(INPLACE_MISS, 1);
	check_fatal("one slow fault, after the events'",
		    !attr_arm(SLOW_FAULT, FAULT_TRIES + 1, 1) &&
		    !write_str(FAULT_DELAY, ms), "%s", strerror(errno));
}

/*
 * Wait up to 60 s for hodp0's port counter odp_faults to reach @n (it
 * counts a fault as it begins, before a slow one's delay): 1 if it did.
 */
static inline int faults_begun(long long n)
{
	double t0 = now_s();

	while (odp_faults() < n)
		if (now_s() - t0 > 60)
			return 0;
	return 1;
}

/* The next completion on @cq within 60 s into *@wc: its status, or -1. */
static inline int wait_wc(struct ibv_cq *cq, struct ibv_wc *wc)
{
	double t0 = now_s();
	int n;

	do {
		n = ibv_poll_cq(cq, 1, wc);
		if (n)
			return n < 0 ? -1 : (int)wc->status;
		usleep(1000);	/* not spinning beside the fault workers */
	} while (now_s() - t0 < 60);
	return -1;
}

#endif
