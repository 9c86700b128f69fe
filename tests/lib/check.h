/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Result reporting for C tests (see tests/lib/run-tests): PASS/FAIL/SKIP
 * lines on stdout, exit status 1 if anything failed.
 */
#ifndef _TESTS_CHECK_H
#define _TESTS_CHECK_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* check(name, cond, "") is fine: nothing more to say when it passes. */
#pragma GCC diagnostic ignored "-Wformat-zero-length"

static int check_failures;

static inline void check_vreport(const char *kind, const char *name,
				  const char *fmt, va_list ap)
{
	printf("%s: %s: ", kind, name);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
}

static inline void pass(const char *name)
{
	printf("PASS: %s\n", name);
	fflush(stdout);
}

__attribute__((format(printf, 2, 3)))
static inline void fail(const char *name, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	check_vreport("FAIL", name, fmt, ap);
	va_end(ap);
	check_failures++;
}

__attribute__((format(printf, 2, 3)))
static inline void skip(const char *name, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	check_vreport("SKIP", name, fmt, ap);
	va_end(ap);
}

/* check(name, condition, "what was seen", ...): PASS or FAIL with it. */
#define check(name, cond, ...)				\
	do {						\
		if (cond)				\
			pass(name);			\
		else					\
			fail(name, __VA_ARGS__);	\
	} while (0)

/* Stop the test program: what follows cannot run meaningfully. */
#define check_fatal(name, cond, ...)			\
	do {						\
		if (!(cond)) {				\
			fail(name, __VA_ARGS__);	\
			exit(1);			\
		}					\
	} while (0)

static inline int check_done(void)
{
	return check_failures ? 1 : 0;
}

/*
 * A count from the environment ($NAME: a tier's knob, e.g. fewer race
 * rounds on the slower debug kernel), or @dflt if unset; anything but a
 * number from 1 to @max ends the test.
 */
static inline int env_count(const char *name, int dflt, int max)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (!v)
		return dflt;
	n = strtol(v, &end, 10);
	check_fatal(name, *v && !*end && n > 0 && n <= max,
		    "'%s': not a count from 1 to %d", v, max);
	return n;
}

#endif /* _TESTS_CHECK_H */
