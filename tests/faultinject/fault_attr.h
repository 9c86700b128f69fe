/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hodp's debugfs fault attributes (hodp/fail_alloc, hodp/atomic_miss,
 * hodp/copy_miss: the kernel's fault_attr files,
 * Documentation/fault-injection), written and read by the tests that aim
 * them.
 */
#ifndef _TESTS_FAULTINJECT_FAULT_ATTR_H
#define _TESTS_FAULTINJECT_FAULT_ATTR_H

#include <stdio.h>

#include "counters.h"

/* Write @value into the file @file of the attribute @attr: 0, or -1. */
static inline int attr_write(const char *attr, const char *file,
			     const char *value)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", attr, file);
	return write_str(path, value);
}

/* The number in the file @file of the attribute @attr, -1 if unreadable. */
static inline long long attr_read(const char *attr, const char *file)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", attr, file);
	return file_value(path);
}

/*
 * Arm @attr: of the sites reached from now on, let @space through ('space'
 * lets calls through while it exceeds their size, 1), then fail @times of
 * them (-1: every one), silently. 0, or -1 (errno says why).
 */
static inline int attr_arm(const char *attr, int space, int times)
{
	char s[16], t[16];

	snprintf(s, sizeof(s), "%d", space);
	snprintf(t, sizeof(t), "%d", times);
	return attr_write(attr, "verbose", "0") ||
	       attr_write(attr, "interval", "1") ||
	       attr_write(attr, "space", s) ||
	       attr_write(attr, "times", t) ||
	       attr_write(attr, "probability", "100") ? -1 : 0;
}

#endif
