/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the examples share and is not about ODP: open a device, a PD, one
 * CQ and two RC QPs connected to each other in this process, post one
 * RDMA write and wait for its completion.
 */
#ifndef HODP_EXAMPLES_LOOPBACK_H
#define HODP_EXAMPLES_LOOPBACK_H

#include <stdint.h>
#include <infiniband/verbs.h>

struct loopback {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *a, *b;	/* a writes, b is written to */
};

/*
 * Open @dev (NULL: hodp0) and connect two QPs over its port 1, using GID
 * index @gid (RoCE: 1 is the IPv4-mapped GID on hodp's test setup). Exits
 * with a message on failure.
 */
void loopback_open(struct loopback *lb, const char *dev, int gid);
void loopback_close(struct loopback *lb);

/*
 * RDMA write @len bytes from @src (local key @lkey) to @dst (remote key
 * @rkey) on QP a, and wait for its completion. Returns its status
 * (IBV_WC_SUCCESS or an error), or -1 if it could not be posted.
 */
int loopback_write(struct loopback *lb, void *src, uint32_t lkey,
		   uint64_t dst, uint32_t rkey, uint32_t len);

/*
 * The examples' --help: if the first argument is -h or --help, print
 * @usage (what the program does, its arguments, its exit status) on
 * stdout and exit 0.
 */
void help(int argc, char **argv, const char *usage);

/* Exit with a message: the examples' error path. */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

#endif
