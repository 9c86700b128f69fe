/* SPDX-License-Identifier: GPL-2.0 */
/*
 * debugfs hodp/objects (kernels with hodp's fault injection): a line per
 * device, "NAME pd N cq N qp N mr N srq N ah N mirror N kept N", the
 * driver's own counts (hodp_show_objects()).
 */
#ifndef _TESTS_FAULTINJECT_OBJECTS_H
#define _TESTS_FAULTINJECT_OBJECTS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HODP_OBJECTS	"/sys/kernel/debug/hodp/objects"

/* hodp0's line into @out (empty if there is none). */
static inline void hodp0_objects(char *out, size_t len)
{
	FILE *f = fopen(HODP_OBJECTS, "r");
	char line[512];

	if (len)
		out[0] = 0;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "hodp0 ", 6))
			snprintf(out, len, "%s", line);
	if (f)
		fclose(f);
}

/* hodp0's count of @what ("mirror", "kept", ...), or -1. */
static inline int hodp0_objects_count(const char *what)
{
	char line[512], key[32];
	const char *k;

	hodp0_objects(line, sizeof(line));
	snprintf(key, sizeof(key), " %s ", what);
	k = strstr(line, key);
	return k ? atoi(k + strlen(key)) : -1;
}

#endif
