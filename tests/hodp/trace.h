/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tracefs for the hodp tests: hodp's trace events (hodp_trace.h) enabled,
 * filtered and read back.
 */
#ifndef _TESTS_HODP_TRACE_H
#define _TESTS_HODP_TRACE_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

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

#endif
