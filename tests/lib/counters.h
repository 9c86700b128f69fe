/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Files of /proc, /sys and debugfs the tests read and write: counters
 * from "name value" files (the HMM core's debugfs statistics and the
 * like), one-number files, knobs.
 */
#ifndef TESTS_COUNTERS_H
#define TESTS_COUNTERS_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Write @s into the file @path: 0, or -1. */
static inline int write_str(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");
	int ret;

	if (!f)
		return -1;
	ret = fputs(s, f) < 0 ? -1 : 0;
	return fclose(f) ? -1 : ret;
}

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

/* The number in the file @path (one value alone), -1 if unreadable. */
static inline long long file_value(const char *path)
{
	long long v = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* A port counter of hodp0 (hw_counters/@name), -1 if unreadable. */
static inline long long port_counter(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path),
		 "/sys/class/infiniband/hodp0/ports/1/hw_counters/%s", name);
	/* The device's counters are cached for 10 ms: read after that. */
	usleep(20000);
	return file_value(path);
}

/* hodp0's port counter of device page faults (odp_faults), or -1. */
static inline long long odp_faults(void)
{
	return port_counter("odp_faults");
}

/* hodp0's port counter of WQEs its requesters completed, or -1. */
static inline long long req_wqes(void)
{
	return port_counter("req_wqes");
}

/* A counter of the HMM core (debugfs hmm_mirror/stats), -1 if unreadable. */
static inline long long hmm_stat(const char *name)
{
	return file_counter("/sys/kernel/debug/hmm_mirror/stats", name);
}

#endif
