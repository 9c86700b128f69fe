/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tracefs for the hodp tests: hodp's trace events (hodp_trace.h) enabled,
 * filtered and read back.
 */
#ifndef _TESTS_HODP_TRACE_H
#define _TESTS_HODP_TRACE_H

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "counters.h"

#define TRACING		"/sys/kernel/tracing"

/* The whole trace buffer, NUL-terminated (free it), or NULL. */
static inline char *read_trace(void)
{
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	FILE *f = fopen(TRACING "/trace", "r");
	size_t n;

	if (!f || !buf) {
		if (f)
			fclose(f);
		free(buf);
		return NULL;
	}
	while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 4096) {
			char *b = realloc(buf, cap * 2);

			if (!b)
				break;
			buf = b;
			cap *= 2;
		}
	}
	buf[len] = 0;
	fclose(f);
	return buf;
}

/* tracefs mounted at TRACING (the guest does not mount it), or the end. */
static inline void trace_mount(void)
{
	struct stat sb;

	if (stat(TRACING "/events", &sb))
		mount("nodev", TRACING, "tracefs", 0, NULL);
	check_fatal("tracefs is mounted", !stat(TRACING "/events", &sb),
		    "no %s/events: %s", TRACING, strerror(errno));
}

/*
 * hodp's trace events off (at exit: trace_hodp_on()), a second after the
 * test's last case: the work it left (a fault event or prefetch whose
 * process is gone, ended by its FUSE server's abort) is over by then, and
 * no hodp code runs while the call sites are patched (below). An exit on
 * a failed check may still find such work running.
 */
static inline void trace_hodp_off(void)
{
	sleep(1);
	write_str(TRACING "/events/hodp/enable", "0");
}

/*
 * hodp's trace events on, once for the whole test, before its first
 * fault, and off at its exit: a test's cases clear the buffer
 * (trace_clear()) instead of turning them on and off. Enabling an event
 * patches its call sites (text_poke_bp(), an IPI every CPU must answer),
 * and under TCG a CPU once never answered while a fault event's worker
 * ran hodp code: the guest stuck for good, CPU 1 in
 * smp_call_function_many_cond() from the write to events/hodp/enable
 * (tests/hodp/odpblock.c, tests/vm/cpu-report). Call it after
 * trace_mount().
 */
static inline void trace_hodp_on(void)
{
	check_fatal("enable hodp's trace events",
		    !write_str(TRACING "/events/hodp/enable", "1"), "%s",
		    strerror(errno));
	atexit(trace_hodp_off);
}

/* An empty trace buffer, for a case's events alone (or the end). */
static inline void trace_clear(void)
{
	check_fatal("clear the trace", !write_str(TRACING "/trace", ""), "%s",
		    strerror(errno));
}

/* The pid of the task of the trace line that holds @s, or -1. */
static inline long trace_pid_of(const char *trace, const char *s)
{
	const char *p = strstr(trace, s), *line, *q;

	if (!p)
		return -1;
	for (line = p; line > trace && line[-1] != '\n'; line--)
		;
	/* "<comm>-<pid> [<cpu>] ...": the pid ends before the " [". */
	q = strstr(line, " [");
	if (!q || q > p)
		return -1;
	while (q > line && q[-1] == ' ')
		q--;
	while (q > line && isdigit((unsigned char)q[-1]))
		q--;
	return q > line && q[-1] == '-' ? strtol(q, NULL, 10) : -1;
}

/* How many lines of @trace hold @s (by task @pid only, if not 0). */
static inline int count_in(const char *trace, const char *s, long pid)
{
	const char *p, *line;
	int n = 0;

	for (p = strstr(trace, s); p; p = strstr(p + 1, s)) {
		for (line = p; line > trace && line[-1] != '\n'; line--)
			;
		n += !pid || trace_pid_of(line, s) == pid;
	}
	return n;
}

/* How many fault events of QP @qpn @trace holds. */
static inline int events_of(const char *trace, uint32_t qpn)
{
	char want[64];

	snprintf(want, sizeof(want), "hodp_odp_fault_event: hodp0 qpn %u ",
		 qpn);
	return count_in(trace, want, 0);
}

/*
 * A fault of @lkey at @addr is a fault event of @qpn, and the fault is
 * served by a worker, not by this process nor by @poster, the thread
 * whose post_send rang the doorbell and ran the send queue itself.
 */
static inline void check_event(const char *trace, const char *what, uint32_t qpn,
			uint32_t lkey, void *addr, const char *rw, long poster)
{
	char want[160], name[160];
	long pid;

	snprintf(want, sizeof(want),
		 "hodp_odp_fault_event: hodp0 qpn %u lkey 0x%x addr 0x%lx-",
		 qpn, lkey, (unsigned long)addr);
	snprintf(name, sizeof(name), "trace: %s: a fault event of the QP",
		 what);
	check(name, strstr(trace, want), "no '%s' in the trace", want);
	snprintf(want, sizeof(want),
		 "hodp_odp_fault: hodp0 lkey 0x%x uaddr 0x%lx %s", lkey,
		 (unsigned long)addr, rw);
	pid = trace_pid_of(trace, want);
	snprintf(name, sizeof(name),
		 "trace: %s: the fault is a worker's, not the poster's", what);
	check(name, pid > 0 && pid != getpid() && pid != poster,
	      "'%s' by pid %ld (this process: %d, the poster %ld)", want, pid,
	      getpid(), poster);
}

#endif
