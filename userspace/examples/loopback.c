// SPDX-License-Identifier: GPL-2.0
/* The examples' common part: see loopback.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopback.h"

void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void help(int argc, char **argv, const char *usage)
{
	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(usage, stdout);
		exit(0);
	}
}

static struct ibv_context *open_device(const char *name)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *ctx = NULL;
	int i;

	if (!list)
		die("ibv_get_device_list: %s", strerror(errno));
	for (i = 0; list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	if (!ctx)
		die("cannot open RDMA device %s", name);
	return ctx;
}

static struct ibv_qp *create_qp(struct loopback *lb)
{
	struct ibv_qp_init_attr attr = {
		.send_cq = lb->cq,
		.recv_cq = lb->cq,
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 16, .max_recv_wr = 16,
			 .max_send_sge = 1, .max_recv_sge = 1 },
	};
	struct ibv_qp *qp = ibv_create_qp(lb->pd, &attr);

	if (!qp)
		die("ibv_create_qp: %s", strerror(errno));
	return qp;
}

/* RESET -> INIT -> RTR -> RTS, connected to @remote_qpn on this port. */
static void connect_qp(struct ibv_qp *qp, uint32_t remote_qpn,
		       const union ibv_gid *gid, int gid_index)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.port_num = 1,
		.qp_access_flags = IBV_ACCESS_REMOTE_WRITE |
				   IBV_ACCESS_REMOTE_READ,
	};

	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			  IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		die("QP to INIT: %s", strerror(errno));
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = remote_qpn;
	a.max_dest_rd_atomic = 1;
	a.min_rnr_timer = 12;
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.dgid = *gid;
	a.ah_attr.grh.sgid_index = gid_index;
	a.ah_attr.grh.hop_limit = 1;
	a.ah_attr.port_num = 1;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
			  IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		die("QP to RTR: %s", strerror(errno));
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = 14;
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.max_rd_atomic = 1;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT |
			  IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
			  IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC))
		die("QP to RTS: %s", strerror(errno));
}

void loopback_open(struct loopback *lb, const char *dev, int gid_index)
{
	union ibv_gid gid;

	lb->ctx = open_device(dev ? dev : "hodp0");
	lb->pd = ibv_alloc_pd(lb->ctx);
	if (!lb->pd)
		die("ibv_alloc_pd: %s", strerror(errno));
	lb->cq = ibv_create_cq(lb->ctx, 32, NULL, NULL, 0);
	if (!lb->cq)
		die("ibv_create_cq: %s", strerror(errno));
	if (ibv_query_gid(lb->ctx, 1, gid_index, &gid))
		die("ibv_query_gid(port 1, index %d) failed", gid_index);
	lb->a = create_qp(lb);
	lb->b = create_qp(lb);
	connect_qp(lb->a, lb->b->qp_num, &gid, gid_index);
	connect_qp(lb->b, lb->a->qp_num, &gid, gid_index);
}

void loopback_close(struct loopback *lb)
{
	ibv_destroy_qp(lb->a);
	ibv_destroy_qp(lb->b);
	ibv_destroy_cq(lb->cq);
	ibv_dealloc_pd(lb->pd);
	ibv_close_device(lb->ctx);
}

int loopback_write(struct loopback *lb, void *src, uint32_t lkey,
		   uint64_t dst, uint32_t rkey, uint32_t len)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)src, .length = len, .lkey = lkey,
	};
	struct ibv_send_wr wr = {
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = IBV_WR_RDMA_WRITE,
		.send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { .remote_addr = dst, .rkey = rkey },
	}, *bad;
	struct ibv_wc wc;
	int n;

	if (ibv_post_send(lb->a, &wr, &bad))
		return -1;
	/* Busy-poll: a loopback write completes in a moment (or errors). */
	while ((n = ibv_poll_cq(lb->cq, 1, &wc)) == 0)
		;
	if (n < 0)
		return -1;
	return wc.status;
}
