/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libibverbs helpers for hodp tests: a device, PDs, CQs and pairs of RC
 * queue pairs connected to each other in one process (the in-host
 * transport makes that a real connection).
 */
#ifndef _TESTS_VERBS_H
#define _TESTS_VERBS_H

#include <fcntl.h>
#include <infiniband/verbs.h>
#include <poll.h>
#include <rdma/ib_user_verbs.h>
#include <rdma/rdma_user_rxe.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

struct ctx {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	union ibv_gid gid;
};

struct rc_pair {
	struct ibv_qp *a, *b;
};

static inline void open_dev(struct ctx *c, const char *name)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	int i;

	check_fatal("device list", list, "%s", strerror(errno));
	for (i = 0; list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			c->ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	check_fatal("open device", c->ctx, "%s not found", name);
	c->pd = ibv_alloc_pd(c->ctx);
	c->cq = ibv_create_cq(c->ctx, 256, NULL, NULL, 0);
	check_fatal("pd and cq", c->pd && c->cq, "%s", strerror(errno));
	check_fatal("gid 1", !ibv_query_gid(c->ctx, 1, 1, &c->gid), "");
}

static inline struct ibv_qp *rc_qp(struct ctx *c, struct ibv_pd *pd,
				   struct ibv_cq *cq)
{
	struct ibv_qp_init_attr init = {
		.send_cq = cq, .recv_cq = cq, .qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 64, .max_recv_wr = 64,
			 .max_send_sge = 4, .max_recv_sge = 4,
			 .max_inline_data = 64 },
	};
	struct ibv_qp *qp = ibv_create_qp(pd ? pd : c->pd, &init);

	check_fatal("create RC QP", qp, "%s", strerror(errno));
	return qp;
}

/* An RC QP on @c's PD and CQ whose receives come from @srq, or the end. */
static inline struct ibv_qp *rc_srq_qp(struct ctx *c, struct ibv_srq *srq)
{
	struct ibv_qp_init_attr init = {
		.send_cq = c->cq, .recv_cq = c->cq, .srq = srq,
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 16, .max_send_sge = 1 },
	};
	struct ibv_qp *qp = ibv_create_qp(c->pd, &init);

	check_fatal("create an SRQ's RC QP", qp, "%s", strerror(errno));
	return qp;
}

/* RESET -> INIT -> RTR -> RTS, connected to remote QP @dqpn. */
static inline int rc_connect(struct ctx *c, struct ibv_qp *qp, uint32_t dqpn,
			     int access, int rnr_retry)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT, .port_num = 1,
		.qp_access_flags = access,
	};

	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			  IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = dqpn;
	a.max_dest_rd_atomic = 1;
	a.min_rnr_timer = 1;
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.dgid = c->gid;
	a.ah_attr.grh.sgid_index = 1;
	a.ah_attr.grh.hop_limit = 1;
	a.ah_attr.port_num = 1;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
			  IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = 10;
	a.retry_cnt = 2;
	a.rnr_retry = rnr_retry;
	a.max_rd_atomic = 1;
	return ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT |
			     IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
			     IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC);
}

#define ALL_ACCESS (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
		    IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)

/* Connect @a and @b to each other (RESET -> RTS): 0, or -1 (errno). */
static inline int rc_connect_both(struct ctx *c, struct ibv_qp *a,
				  struct ibv_qp *b, int access, int rnr_retry)
{
	return rc_connect(c, a, b->qp_num, access, rnr_retry) ||
	       rc_connect(c, b, a->qp_num, access, rnr_retry) ? -1 : 0;
}

/* A UD QP from RESET to RTS, with Q_Key @qkey (fatal if refused). */
static inline void ud_ready(struct ibv_qp *qp, uint32_t qkey)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_INIT, .port_num = 1,
				 .qkey = qkey };

	check_fatal("UD QP to INIT", !ibv_modify_qp(qp, &a, IBV_QP_STATE |
		    IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_QKEY), "");
	a.qp_state = IBV_QPS_RTR;
	check_fatal("UD QP to RTR", !ibv_modify_qp(qp, &a, IBV_QP_STATE), "");
	a.qp_state = IBV_QPS_RTS;
	check_fatal("UD QP to RTS",
		    !ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN), "");
}

/* A UD QP of @pd on @cq, ready (RTS) with Q_Key @qkey (fatal if not). */
static inline struct ibv_qp *ud_qp_on(struct ibv_pd *pd, struct ibv_cq *cq,
				      uint32_t send_wr, uint32_t recv_wr,
				      uint32_t qkey)
{
	struct ibv_qp_init_attr init = {
		.send_cq = cq, .recv_cq = cq, .qp_type = IBV_QPT_UD,
		.cap = { .max_send_wr = send_wr, .max_recv_wr = recv_wr,
			 .max_send_sge = 1, .max_recv_sge = 1 },
	};
	struct ibv_qp *qp = ibv_create_qp(pd, &init);

	check_fatal("create a UD QP", qp, "%s", strerror(errno));
	ud_ready(qp, qkey);
	return qp;
}

/*
 * A UD sender of a test's, for a thread of its own: its QP (Q_Key @qkey)
 * on a CQ of its own, a pinned source of @len bytes, the responder's QP
 * number, and what it counted. (Fatal if any of it cannot be made.)
 */
struct ud_sender {
	struct ibv_qp *qp;
	struct ibv_cq *cq;
	struct ibv_mr *mr;
	uint8_t *buf;
	uint32_t dqpn;
	int id, sent, failed;
	atomic_int *go;		/* if set, the thread starts once it is */
};

static inline void ud_sender_open(struct ud_sender *s, struct ctx *c,
				  int id, uint32_t dqpn, size_t len,
				  uint32_t qkey)
{
	*s = (struct ud_sender){ .id = id, .dqpn = dqpn };
	s->cq = ibv_create_cq(c->ctx, 8, NULL, NULL, 0);
	s->buf = malloc(len);
	check_fatal("a UD sender's CQ and source", s->cq && s->buf, "%s",
		    strerror(errno));
	s->qp = ud_qp_on(c->pd, s->cq, 8, 1, qkey);
	s->mr = ibv_reg_mr(c->pd, s->buf, len, ALL_ACCESS);
	check_fatal("register a UD sender's source", s->mr, "%s",
		    strerror(errno));
}

static inline void ud_sender_close(struct ud_sender *s)
{
	ibv_destroy_qp(s->qp);
	ibv_dereg_mr(s->mr);
	ibv_destroy_cq(s->cq);
	free(s->buf);
}

static inline struct rc_pair rc_pair(struct ctx *c, int access, int rnr_retry)
{
	struct rc_pair p = { rc_qp(c, NULL, c->cq), rc_qp(c, NULL, c->cq) };

	check_fatal("connect RC pair",
		    !rc_connect_both(c, p.a, p.b, access, rnr_retry),
		    "%s", strerror(errno));
	return p;
}

/* Wait up to 5 s for one completion on @cq; its status, or -1. */
static inline int poll_one(struct ibv_cq *cq, struct ibv_wc *wc)
{
	struct timespec t0, t;
	int n;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		n = ibv_poll_cq(cq, 1, wc);
		if (n)
			return n < 0 ? -1 : (int)wc->status;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec < 5);
	return -1;
}

/*
 * Wait up to @ms for an async event of @type on @c's device (its async fd
 * made non-blocking), acking every event read: 1 if one came for @elem
 * (a QP, SRQ or CQ: the event's element is a union of their pointers).
 */
static inline int wait_async_event(struct ctx *c, enum ibv_event_type type,
				   void *elem, int ms)
{
	struct pollfd pfd = { .fd = c->ctx->async_fd, .events = POLLIN };
	struct ibv_async_event ev;
	int i, found = 0;

	for (i = 0; i < ms / 100 && !found; i++) {
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		while (!found && !ibv_get_async_event(c->ctx, &ev)) {
			found = ev.event_type == type && ev.element.cq == elem;
			ibv_ack_async_event(&ev);
		}
	}
	return found;
}

static inline int post_recv(struct ibv_qp *qp, struct ibv_mr *mr, void *buf,
			    uint32_t len, uint64_t wr_id)
{
	struct ibv_sge sge = { (uintptr_t)buf, len, mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = wr_id, .sg_list = &sge,
				  .num_sge = 1 }, *bad;

	return ibv_post_recv(qp, &wr, &bad);
}

static inline int post_send(struct ibv_qp *qp, struct ibv_send_wr *wr)
{
	struct ibv_send_wr *bad;

	return ibv_post_send(qp, wr, &bad);
}

/*
 * A WQE posted from a thread of its own, so that the caller can act while
 * the doorbell copies a long message (hodp copies in the system call).
 */
struct long_post {
	struct ibv_qp *qp;
	struct ibv_send_wr wr;
	struct ibv_sge sge;
	atomic_int state;	/* 1 in ibv_post_send (copying), 2 returned */
	long tid;		/* the posting thread's, once state is 1 */
	int ret;		/* ibv_post_send()'s, once state is 2 */
};

static inline void *long_post_thread(void *arg)
{
	struct long_post *r = arg;
	struct ibv_send_wr *bad;

	r->tid = gettid();
	atomic_store(&r->state, 1);
	r->ret = ibv_post_send(r->qp, &r->wr, &bad);
	atomic_store(&r->state, 2);
	return NULL;
}

/* Seconds of CLOCK_MONOTONIC. */
static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline uint32_t checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint32_t h = 2166136261u;

	while (len--)
		h = (h ^ *b++) * 16777619u;
	return h;
}

/*
 * The mapped ring (a struct rxe_queue_buf header) of a queue whose index
 * mask is @mask: tests give each queue they scribble on a size of its own.
 */
static inline struct rxe_queue_buf *find_ring(uint32_t mask)
{
	FILE *f = fopen("/proc/self/maps", "r");
	struct rxe_queue_buf *q = NULL;
	char line[512];

	while (f && !q && fgets(line, sizeof(line), f)) {
		unsigned long a, b;

		if (strstr(line, "/dev/infiniband/uverbs") &&
		    sscanf(line, "%lx-%lx", &a, &b) == 2 &&
		    ((struct rxe_queue_buf *)a)->index_mask == mask)
			q = (struct rxe_queue_buf *)a;
	}
	if (f)
		fclose(f);
	return q;
}

/* The uverbs doorbell, raw: POST_SEND with no work request. */
static inline int raw_doorbell(struct ibv_qp *qp)
{
	struct ib_uverbs_post_send_resp resp;
	struct {
		struct ib_uverbs_cmd_hdr hdr;
		struct ib_uverbs_post_send cmd;
	} req = {
		.hdr = { .command = IB_USER_VERBS_CMD_POST_SEND,
			 .in_words = sizeof(req) / 4,
			 .out_words = sizeof(resp) / 4 },
		.cmd = { .response = (uintptr_t)&resp, .qp_handle = qp->handle,
			 .wqe_size = sizeof(struct ib_uverbs_send_wr) },
	};

	return write(qp->context->cmd_fd, &req, sizeof(req)) < 0 ? -errno : 0;
}

/*
 * RESIZE_CQ, raw: the provider serialises its own resizes of a CQ, the
 * kernel must not rely on that. The new ring is not mapped by anyone.
 */
static inline int raw_resize_cq(struct ibv_cq *cq, uint32_t cqe)
{
	struct {
		struct ib_uverbs_resize_cq_resp r;
		struct rxe_resize_cq_resp mi;
	} resp;
	struct {
		struct ib_uverbs_cmd_hdr hdr;
		struct ib_uverbs_resize_cq cmd;
	} req = {
		.hdr = { .command = IB_USER_VERBS_CMD_RESIZE_CQ,
			 .in_words = sizeof(req) / 4,
			 .out_words = sizeof(resp) / 4 },
		.cmd = { .response = (uintptr_t)&resp, .cq_handle = cq->handle,
			 .cqe = cqe },
	};

	return write(cq->context->cmd_fd, &req, sizeof(req)) < 0 ? -errno : 0;
}

/*
 * The kernel's own evidence: records logged after kmsg_open() that report
 * a bug (KASAN, lockdep, WARN, BUG, refcount, lockups, RCU stalls).
 */
static inline int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

static inline void kmsg_check(int fd, const char *name)
{
	static const char *const bad[] = {
		"BUG:", "WARNING:", "KASAN", "refcount_t", "soft lockup",
		"detected stall", "self-detected stall", "general protection",
		"corruption", "Oops", "possible circular", "inconsistent lock",
	};
	char rec[2048], first[300] = "";
	ssize_t n;
	size_t i;

	if (fd < 0) {
		skip(name, "cannot read /dev/kmsg: %s", strerror(errno));
		return;
	}
	while ((n = read(fd, rec, sizeof(rec) - 1)) != 0) {
		char *msg;

		if (n < 0 && errno == EPIPE)
			continue;	/* overwritten records: read on */
		if (n < 0)
			break;		/* EAGAIN: nothing more */
		rec[n] = 0;
		msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		msg[strcspn(msg, "\n")] = 0;
		for (i = 0; !first[0] && i < sizeof(bad) / sizeof(bad[0]); i++)
			if (strstr(msg, bad[i]))
				snprintf(first, sizeof(first), "%.280s", msg);
	}
	close(fd);
	check(name, !first[0], "the kernel logged: %s", first);
}

#endif /* _TESTS_VERBS_H */
