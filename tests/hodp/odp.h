/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the ODP tests on hodp0: anonymous mappings, the process's
 * pinned memory, the device's fault counter, and patterns to fill and
 * check buffers with.
 */
#ifndef _TESTS_HODP_ODP_H
#define _TESTS_HODP_ODP_H

#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "counters.h"
#include "verbs.h"

#define MIB		(1UL << 20)
#define ODP_ACCESS	(ALL_ACCESS | IBV_ACCESS_ON_DEMAND)

/* A field of /proc/self/status, in kB; -1 if absent. */
static inline long status_kb(const char *field)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, strlen(field)) &&
		    line[strlen(field)] == ':')
			v = strtol(line + strlen(field) + 1, NULL, 10);
	fclose(f);
	return v;
}

/* Fresh anonymous memory, nothing touched (no swap reserved for it). */
static inline void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	check_fatal("mmap", p != MAP_FAILED, "%s", strerror(errno));
	return p;
}

/* A pseudo-random pattern of @seed, and whether @p holds it. */
static inline void fill(uint8_t *p, size_t n, unsigned int seed)
{
	while (n--)
		*p++ = (seed = seed * 1103515245 + 12345) >> 16;
}

static inline int is_filled(const uint8_t *p, size_t n, unsigned int seed)
{
	while (n--)
		if (*p++ != (uint8_t)((seed = seed * 1103515245 + 12345) >> 16))
			return 0;
	return 1;
}

/*
 * A work request posted from another thread (pthread_create(post_thread)),
 * so that its doorbell, which copies in the system call, runs while the
 * test does something else: state 1 while in ibv_post_send(), 2 after.
 */
struct poster {
	struct ibv_qp *qp;
	struct ibv_send_wr *wr;
	atomic_int state;
	int ret;
};

static inline void *post_thread(void *arg)
{
	struct poster *p = arg;

	atomic_store(&p->state, 1);
	p->ret = post_send(p->qp, p->wr);
	atomic_store(&p->state, 2);
	return NULL;
}

#endif /* _TESTS_HODP_ODP_H */
