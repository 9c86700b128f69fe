/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Counters the tests read from "name value" files: the HMM core's
 * debugfs statistics and the like.
 */
#ifndef TESTS_COUNTERS_H
#define TESTS_COUNTERS_H

#include <stdio.h>
#include <string.h>

/* The value of @name in the "name value" lines of @file, -1 if absent. */
static inline long long file_counter(const char *file, const char *name)
{
	char key[64];
	long long v, found = -1;
	FILE *f = fopen(file, "r");

	if (!f)
		return -1;
	while (fscanf(f, "%63s %lld", key, &v) == 2)
		if (!strcmp(key, name))
			found = v;
	fclose(f);
	return found;
}

/* A counter of the HMM core (debugfs hmm_mirror/stats), -1 if unreadable. */
static inline long long hmm_stat(const char *name)
{
	return file_counter("/sys/kernel/debug/hmm_mirror/stats", name);
}

#endif
