/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Per-MR ODP counters of hodp0 as an operator reads them: the MR's
 * restrack id from `rdma resource show mr`, its page_faults,
 * page_invalidations and page_prefetch from `rdma statistic show mr`.
 */
#ifndef _TESTS_HODP_MRSTAT_H
#define _TESTS_HODP_MRSTAT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

struct mr_stat {
	int found;		/* the MR has a line in rdma stat show mr */
	long long faults, invals, prefetch;	/* -1: not reported */
};

/* The value after " NAME " in @line, or -1. */
static inline long long mr_field(const char *line, const char *name)
{
	char key[64];
	const char *p;

	snprintf(key, sizeof(key), " %s ", name);
	p = strstr(line, key);
	return p ? strtoll(p + strlen(key), NULL, 0) : -1;
}

/* hodp0's restrack id of the MR with @lkey (rdma resource show mr). */
static inline int mrn_of(uint32_t lkey)
{
	char line[1024];
	int mrn = -1;
	FILE *f = popen("rdma resource show mr", "r");

	check_fatal("rdma resource show mr", f, "%s", strerror(errno));
	while (fgets(line, sizeof(line) - 1, f)) {
		line[strcspn(line, "\n")] = 0;
		strcat(line, " ");	/* every value is followed by a blank */
		if (!strncmp(line, "dev hodp0 ", 10) &&
		    mr_field(line, "lkey") == lkey)
			mrn = mr_field(line, "mrn");
	}
	pclose(f);
	return mrn;
}

/* The MR's counters as rdma statistic show mr prints them. */
static inline struct mr_stat stat_of(int mrn)
{
	struct mr_stat s = { 0, -1, -1, -1 };
	char line[1024];
	FILE *f = popen("rdma statistic show mr", "r");

	check_fatal("rdma statistic show mr", f, "%s", strerror(errno));
	while (fgets(line, sizeof(line) - 1, f)) {
		line[strcspn(line, "\n")] = 0;
		strcat(line, " ");	/* every value is followed by a blank */
		if (strncmp(line, "dev hodp0 ", 10) ||
		    mr_field(line, "mrn") != mrn)
			continue;
		s.found = 1;
		s.faults = mr_field(line, "page_faults");
		s.invals = mr_field(line, "page_invalidations");
		s.prefetch = mr_field(line, "page_prefetch");
	}
	pclose(f);
	return s;
}

#endif /* _TESTS_HODP_MRSTAT_H */
