// SPDX-License-Identifier: GPL-2.0
/*
 * What docs/design.md says hodp does beyond the common paths, each shown here:
 * an SRQ limit event, the last WQE reached event of an SRQ QP in the
 * error state, a CQ resized with completions pending, a CQ that
 * overflows, the 40-byte header of a UD receive (IPv4 and IPv6 GIDs), an
 * RC connection over an IPv6 GID, an RNR retry that succeeds, a QP taken
 * from error to RESET and used again, and several threads posting on one
 * QP. Every check looks at what arrived, not only at the status.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "verbs.h"

#define BUF (1u << 20)
#define QKEY 0x11111111

static struct ctx c;
static uint8_t *src, *dst;
static struct ibv_mr *smr, *dmr;

static void drain(struct ibv_cq *cq)
{
	struct ibv_wc wc[16];

	while (ibv_poll_cq(cq, 16, wc) > 0)
		;
}

static int wait_event(enum ibv_event_type type, void *elem)
{
	return wait_async_event(&c, type, elem, 5000);
}

/* Every async event of @type for 500 ms: which of @a and @b had one. */
static void events_for(enum ibv_event_type type, void *a, void *b,
		       int *for_a, int *for_b)
{
	struct pollfd pfd = { .fd = c.ctx->async_fd, .events = POLLIN };
	struct ibv_async_event ev;
	int i;

	*for_a = *for_b = 0;
	for (i = 0; i < 5; i++) {
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		while (!ibv_get_async_event(c.ctx, &ev)) {
			if (ev.event_type == type) {
				*for_a |= ev.element.qp == a;
				*for_b |= ev.element.qp == b;
			}
			ibv_ack_async_event(&ev);
		}
	}
}

/* An RDMA write of @len bytes from src+@so to dst+@doff on @qp. */
static int post_write(struct ibv_qp *qp, size_t so, size_t doff, uint32_t len,
		      uint64_t id, int signalled)
{
	struct ibv_sge sge = { (uintptr_t)src + so, len, smr->lkey };
	struct ibv_send_wr wr = { .wr_id = id, .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_RDMA_WRITE,
				  .send_flags = signalled ? IBV_SEND_SIGNALED : 0,
				  .wr.rdma = { (uintptr_t)dst + doff, dmr->rkey } };

	return post_send(qp, &wr);
}

/* @a, with a receive queue of its own, and @b, on @srq, connected. */
static void srq_pair(struct ibv_srq *srq, struct ibv_qp **a,
		     struct ibv_qp **b, const char *what)
{
	char name[64];

	*a = rc_qp(&c, NULL, c.cq);
	*b = rc_srq_qp(&c, srq);
	snprintf(name, sizeof(name), "%s: connect", what);
	check_fatal(name, !rc_connect_both(&c, *a, *b, ALL_ACCESS, 7), "%s",
		    strerror(errno));
}

static void test_srq_limit(void)
{
	struct ibv_srq_init_attr sinit = { .attr = { .max_wr = 16, .max_sge = 1 } };
	struct ibv_srq *srq = ibv_create_srq(c.pd, &sinit);
	struct ibv_srq_attr sa = { .srq_limit = 4 };
	struct ibv_qp *a, *b;
	struct ibv_recv_wr rwr, *bad;
	struct ibv_sge rsge;
	struct ibv_send_wr wr;
	struct ibv_sge sge;
	struct ibv_wc wc;
	int i, ok = 1;

	check_fatal("srq limit: create SRQ", srq, "%s", strerror(errno));
	for (i = 0; i < 8; i++) {
		rsge = (struct ibv_sge){ (uintptr_t)dst + i * 256, 256, dmr->lkey };
		rwr = (struct ibv_recv_wr){ .wr_id = 100 + i, .sg_list = &rsge,
					    .num_sge = 1 };
		ok &= !ibv_post_srq_recv(srq, &rwr, &bad);
	}
	check_fatal("srq limit: post 8 receives", ok, "%s", strerror(errno));
	check_fatal("srq limit: arm the limit at 4",
		    !ibv_modify_srq(srq, &sa, IBV_SRQ_LIMIT), "%s", strerror(errno));
	srq_pair(srq, &a, &b, "srq limit");
	/* 4 receives used: 4 left, not below the limit: no event yet. */
	for (i = 0; i < 5; i++) {
		sge = (struct ibv_sge){ (uintptr_t)src, 64, smr->lkey };
		wr = (struct ibv_send_wr){ .wr_id = i, .sg_list = &sge, .num_sge = 1,
					   .opcode = IBV_WR_SEND,
					   .send_flags = IBV_SEND_SIGNALED };
		ok &= !post_send(a, &wr);
		ok &= poll_one(c.cq, &wc) == IBV_WC_SUCCESS;
		ok &= poll_one(c.cq, &wc) == IBV_WC_SUCCESS;
		if (i == 3)
			check("srq limit: no event while not below the limit",
			      !wait_async_event(&c, IBV_EVENT_SRQ_LIMIT_REACHED,
						srq, 300),
			      "an event with 4 receives left");
	}
	check("srq limit: 5 sends received through the SRQ", ok, "");
	check("srq limit: IBV_EVENT_SRQ_LIMIT_REACHED once 3 are left",
	      wait_event(IBV_EVENT_SRQ_LIMIT_REACHED, srq), "no event in 5 s");
	memset(&sa, 0, sizeof(sa));
	check("srq limit: the event disarmed the limit",
	      !ibv_query_srq(srq, &sa) && sa.srq_limit == 0, "limit %u",
	      sa.srq_limit);
	ibv_destroy_qp(a);
	ibv_destroy_qp(b);
	ibv_destroy_srq(srq);
	drain(c.cq);
}

/*
 * IBV_EVENT_QP_LAST_WQE_REACHED: an SRQ QP moved to the error state
 * raises it once no more of the SRQ's WQEs can be taken through it, once
 * per entry into ERR (again after RESET and ERR, not for ERR again); a QP
 * with a receive queue of its own raises none.
 */
static void test_last_wqe_reached(void)
{
	struct ibv_srq_init_attr sinit = { .attr = { .max_wr = 16, .max_sge = 1 } };
	struct ibv_srq *srq = ibv_create_srq(c.pd, &sinit);
	struct ibv_qp_attr err = { .qp_state = IBV_QPS_ERR };
	struct ibv_qp_attr reset = { .qp_state = IBV_QPS_RESET };
	struct ibv_recv_wr rwr = { .wr_id = 300, .num_sge = 1 }, *bad;
	struct ibv_sge rsge = { (uintptr_t)dst, 256, dmr->lkey };
	struct ibv_sge sge = { (uintptr_t)src, 64, smr->lkey };
	struct ibv_send_wr wr = { .wr_id = 301, .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_SEND,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_qp *a, *b;
	struct ibv_wc wc;
	int ok, for_a, for_b;

	check_fatal("last WQE: create SRQ", srq, "%s", strerror(errno));
	rwr.sg_list = &rsge;
	srq_pair(srq, &a, &b, "last WQE");
	ok = !ibv_post_srq_recv(srq, &rwr, &bad) && !post_send(a, &wr) &&
	     poll_one(c.cq, &wc) == IBV_WC_SUCCESS &&
	     poll_one(c.cq, &wc) == IBV_WC_SUCCESS;
	check("last WQE: a SEND received through the SRQ", ok, "%s",
	      strerror(errno));
	check("last WQE: no event while the SRQ QP works",
	      !wait_async_event(&c, IBV_EVENT_QP_LAST_WQE_REACHED, b, 300), "");
	check_fatal("last WQE: the SRQ QP to ERR",
		    !ibv_modify_qp(b, &err, IBV_QP_STATE), "%s", strerror(errno));
	check("last WQE: IBV_EVENT_QP_LAST_WQE_REACHED for the SRQ QP in ERR",
	      wait_event(IBV_EVENT_QP_LAST_WQE_REACHED, b), "no event in 5 s");
	check_fatal("last WQE: ERR again, and the RQ QP to ERR",
		    !ibv_modify_qp(b, &err, IBV_QP_STATE) &&
		    !ibv_modify_qp(a, &err, IBV_QP_STATE), "%s", strerror(errno));
	events_for(IBV_EVENT_QP_LAST_WQE_REACHED, a, b, &for_a, &for_b);
	check("last WQE: not again for ERR again, none for a QP with its own RQ",
	      !for_a && !for_b, "an event for the SRQ QP %d, for the RQ QP %d",
	      for_b, for_a);
	check_fatal("last WQE: RESET, connect again, ERR",
		    !ibv_modify_qp(b, &reset, IBV_QP_STATE) &&
		    !ibv_modify_qp(a, &reset, IBV_QP_STATE) &&
		    !rc_connect_both(&c, a, b, ALL_ACCESS, 7) &&
		    !ibv_modify_qp(b, &err, IBV_QP_STATE), "%s", strerror(errno));
	check("last WQE: raised again on the next entry into ERR",
	      wait_event(IBV_EVENT_QP_LAST_WQE_REACHED, b), "no event in 5 s");
	ibv_destroy_qp(a);
	ibv_destroy_qp(b);
	ibv_destroy_srq(srq);
	drain(c.cq);
}

static void test_cq_resize_pending(void)
{
	struct ibv_cq *cq = ibv_create_cq(c.ctx, 16, NULL, NULL, 0);
	struct rc_pair p;
	struct ibv_wc wc;
	int i, n = 0, order = 1, st;

	check_fatal("cq resize: create CQ", cq, "%s", strerror(errno));
	p.a = rc_qp(&c, NULL, cq);
	p.b = rc_qp(&c, NULL, c.cq);
	check_fatal("cq resize: connect",
		    !rc_connect_both(&c, p.a, p.b, ALL_ACCESS, 7), "");
	memset(src, 0x5b, 4096);
	memset(dst, 0, 4096);
	for (i = 1; i <= 5; i++)
		post_write(p.a, (i - 1) * 512, (i - 1) * 512, 512, i, 1);
	/* The last write's data landed: its completion follows it. */
	for (i = 0; i < 500 && dst[4 * 512 + 511] != 0x5b; i++)
		usleep(10000);
	usleep(200000);
	st = ibv_resize_cq(cq, 64);
	check("cq resize: resize with 5 completions pending returns 0",
	      !st && cq->cqe >= 64, "ret %d cqe %d", st, cq->cqe);
	while (poll_one(cq, &wc) == IBV_WC_SUCCESS) {
		n++;
		order &= wc.wr_id == (uint64_t)n;
		if (n == 5)
			break;
	}
	check("cq resize: the 5 pending completions survive, in order",
	      n == 5 && order, "%d completions, in order %d", n, order);
	check("cq resize: nothing else", ibv_poll_cq(cq, 1, &wc) == 0, "");
	/* And the resized CQ keeps working. */
	post_write(p.a, 0, 0, 64, 6, 1);
	check("cq resize: a new completion arrives",
	      poll_one(cq, &wc) == IBV_WC_SUCCESS && wc.wr_id == 6, "");
	ibv_destroy_qp(p.a);
	ibv_destroy_qp(p.b);
	ibv_destroy_cq(cq);
}

static void test_cq_overflow(void)
{
	struct ibv_cq *cq = ibv_create_cq(c.ctx, 4, NULL, NULL, 0);
	struct ibv_wc wc[64];
	struct rc_pair p;
	int i, n, cqe, got = 0;

	check_fatal("cq overflow: create CQ", cq, "%s", strerror(errno));
	cqe = cq->cqe;
	check_fatal("cq overflow: a small CQ", cqe > 0 && cqe < 40, "cqe %d", cqe);
	p.a = rc_qp(&c, NULL, cq);
	p.b = rc_qp(&c, NULL, c.cq);
	check_fatal("cq overflow: connect",
		    !rc_connect_both(&c, p.a, p.b, ALL_ACCESS, 7), "");
	for (i = 0; i < cqe + 4; i++)
		post_write(p.a, 0, 0, 64, i + 1, 1);
	check("cq overflow: IBV_EVENT_CQ_ERR for the CQ",
	      wait_event(IBV_EVENT_CQ_ERR, cq), "no event in 5 s (cqe %d)", cqe);
	while ((n = ibv_poll_cq(cq, 64, wc)) > 0)
		got += n;
	check("cq overflow: the CQ held what fits, no more", got == cqe,
	      "%d completions in a CQ of %d", got, cqe);
	ibv_destroy_qp(p.a);
	ibv_destroy_qp(p.b);
	ibv_destroy_cq(cq);
}

/* A UD send of @len bytes over GID index @gi to itself; 0 and the receive
 * buffer at dst, or -1. */
static int ud_send(int gi, const union ibv_gid *gid, uint32_t len)
{
	struct ibv_ah_attr aa = { .is_global = 1, .port_num = 1,
				  .grh = { .dgid = *gid, .sgid_index = gi,
					   .hop_limit = 1 } };
	struct ibv_qp *a = ud_qp_on(c.pd, c.cq, 8, 8, QKEY);
	struct ibv_qp *b = ud_qp_on(c.pd, c.cq, 8, 8, QKEY);
	struct ibv_ah *ah = ibv_create_ah(c.pd, &aa);
	struct ibv_sge sge = { (uintptr_t)src, len, smr->lkey };
	struct ibv_send_wr wr = { .wr_id = 1, .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_SEND,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_wc wc;
	int i, ret = 0;

	check_fatal("UD address handle", ah, "%s", strerror(errno));
	memset(dst, 0xee, 40 + len + 64);	/* and past the end */
	ret |= post_recv(b, dmr, dst, 40 + len, 2);
	wr.wr.ud.ah = ah;
	wr.wr.ud.remote_qpn = b->qp_num;
	wr.wr.ud.remote_qkey = QKEY;
	ret |= post_send(a, &wr);
	for (i = 0; i < 2 && !ret; i++)
		ret |= poll_one(c.cq, &wc) != IBV_WC_SUCCESS ||
		       ((wc.opcode & IBV_WC_RECV) && !(wc.wc_flags & IBV_WC_GRH));
	ibv_destroy_qp(a);
	ibv_destroy_qp(b);
	ibv_destroy_ah(ah);
	return ret ? -1 : 0;
}

static uint16_t ip_csum(const uint8_t *p, int n)
{
	uint32_t sum = 0;
	int i;

	for (i = 0; i < n; i += 2)
		sum += p[i] << 8 | p[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

static void test_ud_header_ipv4(void)
{
	const uint32_t len = 100;
	uint8_t *h = dst, zero[20] = { 0 };
	int ret;

	memset(src, 0x42, len);
	ret = ud_send(1, &c.gid, len);
	check_fatal("ud header (IPv4): the datagram arrives", !ret, "");
	pass("ud header (IPv4): the datagram arrives");
	check("ud header (IPv4): first 20 bytes zero", !memcmp(h, zero, 20), "");
	check("ud header (IPv4): version 4, IHL 5, UDP, TTL 64",
	      h[20] == 0x45 && h[20 + 9] == 17 && h[20 + 8] == 64,
	      "%02x proto %u ttl %u", h[20], h[29], h[28]);
	check("ud header (IPv4): total length (IP + UDP/BTH/DETH/ICRC + payload)",
	      (h[22] << 8 | h[23]) == 20 + 32 + (int)len, "%d",
	      h[22] << 8 | h[23]);
	check("ud header (IPv4): source and destination are the GID's address",
	      !memcmp(h + 32, c.gid.raw + 12, 4) && !memcmp(h + 36, c.gid.raw + 12, 4),
	      "%u.%u.%u.%u", h[32], h[33], h[34], h[35]);
	check("ud header (IPv4): header checksum valid", ip_csum(h + 20, 20) == 0xffff,
	      "sum 0x%x", ip_csum(h + 20, 20));
	check("ud header (IPv4): payload after the 40 bytes, nothing past it",
	      h[40] == 0x42 && h[40 + len - 1] == 0x42 && h[40 + len] == 0xee, "");
}

/* The GID index holding @addr (an IPv6 address), or -1, waiting up to 5 s. */
static int find_gid(const struct in6_addr *addr, union ibv_gid *gid)
{
	struct ibv_port_attr pa;
	int i, tries;

	for (tries = 0; tries < 50; tries++) {
		if (!ibv_query_port(c.ctx, 1, &pa))
			for (i = 0; i < pa.gid_tbl_len; i++)
				if (!ibv_query_gid(c.ctx, 1, i, gid) &&
				    !memcmp(gid->raw, addr, 16))
					return i;
		usleep(100000);
	}
	return -1;
}

static void test_ipv6(void)
{
	struct in6_addr addr;
	union ibv_gid gid;
	struct ibv_qp_attr a;
	struct ibv_wc wc;
	struct rc_pair p;
	const uint32_t len = 200;
	uint8_t *h = dst;
	int gi, ret;

	inet_pton(AF_INET6, "fd77::1", &addr);
	ret = system("ip -6 addr add fd77::1/64 dev dummy0 nodad");
	check_fatal("ipv6: address on dummy0", ret == 0, "status %d", ret);
	gi = find_gid(&addr, &gid);
	check_fatal("ipv6: the address becomes a GID", gi >= 0, "not in 5 s");
	pass("ipv6: the address becomes a GID");

	memset(src, 0x61, len);
	ret = ud_send(gi, &gid, len);
	check("ipv6: a UD datagram over the IPv6 GID arrives", !ret, "");
	check("ipv6: UD header: version 6, next header UDP, hop limit 64",
	      h[0] >> 4 == 6 && h[6] == 17 && h[7] == 64, "%02x %u %u", h[0],
	      h[6], h[7]);
	check("ipv6: UD header: payload length", (h[4] << 8 | h[5]) == 32 + (int)len,
	      "%d", h[4] << 8 | h[5]);
	check("ipv6: UD header: source and destination GIDs",
	      !memcmp(h + 8, gid.raw, 16) && !memcmp(h + 24, gid.raw, 16), "");
	check("ipv6: UD payload after the 40 bytes, nothing past it",
	      h[40] == 0x61 && h[40 + len - 1] == 0x61 && h[40 + len] == 0xee, "");

	/* An RC connection addressed by the IPv6 GID. */
	p.a = rc_qp(&c, NULL, c.cq);
	p.b = rc_qp(&c, NULL, c.cq);
	ret = 0;
	for (int i = 0; i < 2; i++) {
		struct ibv_qp *qp = i ? p.b : p.a, *peer = i ? p.a : p.b;

		memset(&a, 0, sizeof(a));
		a.qp_state = IBV_QPS_INIT;
		a.port_num = 1;
		a.qp_access_flags = ALL_ACCESS;
		ret |= ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
				     IBV_QP_PORT | IBV_QP_ACCESS_FLAGS);
		memset(&a, 0, sizeof(a));
		a.qp_state = IBV_QPS_RTR;
		a.path_mtu = IBV_MTU_1024;
		a.dest_qp_num = peer->qp_num;
		a.max_dest_rd_atomic = 1;
		a.min_rnr_timer = 1;
		a.ah_attr.is_global = 1;
		a.ah_attr.grh.dgid = gid;
		a.ah_attr.grh.sgid_index = gi;
		a.ah_attr.grh.hop_limit = 1;
		a.ah_attr.port_num = 1;
		ret |= ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV |
				     IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
				     IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
				     IBV_QP_MIN_RNR_TIMER);
		memset(&a, 0, sizeof(a));
		a.qp_state = IBV_QPS_RTS;
		a.timeout = 10;
		a.retry_cnt = 2;
		a.rnr_retry = 7;
		a.max_rd_atomic = 1;
		ret |= ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT |
				     IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
				     IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC);
	}
	check("ipv6: an RC pair connects over the IPv6 GID", !ret, "%s",
	      strerror(errno));
	memset(src, 0x7c, 8192);
	memset(dst, 0, 8192);
	ret = ret ?: post_write(p.a, 0, 0, 8192, 9, 1);
	check("ipv6: an RDMA write over it moves the data",
	      !ret && poll_one(c.cq, &wc) == IBV_WC_SUCCESS &&
	      !memcmp(src, dst, 8192), "");
	ibv_destroy_qp(p.a);
	ibv_destroy_qp(p.b);
	ret = system("ip -6 addr del fd77::1/64 dev dummy0");
	check("ipv6: the address goes again", ret == 0, "status %d", ret);
}

static void test_rnr_retry_succeeds(void)
{
	struct rc_pair p = rc_pair(&c, ALL_ACCESS, 7);
	struct ibv_sge sge = { (uintptr_t)src, 3000, smr->lkey };
	struct ibv_send_wr wr = { .wr_id = 31, .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_SEND,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_wc wc;
	int ok = 1, i, seen = 0;

	memset(src, 0x99, 3000);
	memset(dst, 0, 4096);
	check_fatal("rnr: post send with no receive posted", !post_send(p.a, &wr), "");
	usleep(200000);
	check("rnr: the send waits while the receiver is not ready",
	      ibv_poll_cq(c.cq, 1, &wc) == 0, "completion %lu status %d",
	      wc.wr_id, wc.status);
	check_fatal("rnr: post the receive", !post_recv(p.b, dmr, dst, 4096, 32), "");
	for (i = 0; i < 2; i++) {
		ok &= poll_one(c.cq, &wc) == IBV_WC_SUCCESS;
		seen |= wc.wr_id == 31 ? 1 : wc.wr_id == 32 ? 2 : 0;
	}
	check("rnr: the retried send then succeeds, and is received", ok && seen == 3,
	      "ok %d seen %d", ok, seen);
	check("rnr: the data arrived", !memcmp(src, dst, 3000), "");
	ibv_destroy_qp(p.a);
	ibv_destroy_qp(p.b);
	drain(c.cq);
}

static void test_error_reset_reuse(void)
{
	struct rc_pair p = rc_pair(&c, ALL_ACCESS, 7);
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_ERR };
	struct ibv_qp_init_attr ia;
	struct ibv_wc wc;
	int ret;

	ret = ibv_modify_qp(p.a, &a, IBV_QP_STATE) | ibv_modify_qp(p.b, &a, IBV_QP_STATE);
	check_fatal("reuse: both QPs to ERR", !ret, "%s", strerror(errno));
	post_write(p.a, 0, 0, 64, 41, 1);
	check("reuse: a write posted in error is flushed",
	      poll_one(c.cq, &wc) == IBV_WC_WR_FLUSH_ERR && wc.wr_id == 41, "status %d",
	      wc.status);
	a.qp_state = IBV_QPS_RESET;
	ret = ibv_modify_qp(p.a, &a, IBV_QP_STATE) | ibv_modify_qp(p.b, &a, IBV_QP_STATE);
	memset(&a, 0, sizeof(a));
	ret |= ibv_query_qp(p.a, &a, IBV_QP_STATE, &ia);
	check("reuse: ERR -> RESET", !ret && a.qp_state == IBV_QPS_RESET, "state %d",
	      a.qp_state);
	check("reuse: nothing is left on the CQ", ibv_poll_cq(c.cq, 1, &wc) == 0, "");
	ret = rc_connect_both(&c, p.a, p.b, ALL_ACCESS, 7);
	check("reuse: RESET -> INIT -> RTR -> RTS again", !ret, "%s", strerror(errno));
	memset(src, 0x3e, 4096);
	memset(dst, 0, 4096);
	post_write(p.a, 0, 0, 4096, 42, 1);
	check("reuse: a write on the reused QPs moves the data",
	      poll_one(c.cq, &wc) == IBV_WC_SUCCESS && wc.wr_id == 42 &&
	      !memcmp(src, dst, 4096), "status %d", wc.status);
	ibv_destroy_qp(p.a);
	ibv_destroy_qp(p.b);
}

#define THREADS 4
#define PER_THREAD 256
#define SLOT 4096

static struct rc_pair mt;
static atomic_int inflight;

/* Thread t writes its own pattern into its own 16 slots, PER_THREAD times. */
static void *poster(void *arg)
{
	long t = (long)arg;
	int i;

	for (i = 0; i < PER_THREAD; ) {
		if (atomic_fetch_add(&inflight, 1) >= 48) {
			atomic_fetch_sub(&inflight, 1);
			usleep(100);
			continue;
		}
		if (post_write(mt.a, t * SLOT, (t * 16 + i % 16) * SLOT, SLOT,
			       (uint64_t)t << 16 | i, 1)) {
			atomic_fetch_sub(&inflight, 1);
			usleep(100);
			continue;
		}
		i++;
	}
	return NULL;
}

static void test_threads(void)
{
	static uint8_t seen[THREADS][PER_THREAD];
	pthread_t th[THREADS];
	struct ibv_wc wc[16];
	int i, j, n, got = 0, bad = 0, dup = 0, idle = 0, slots_ok = 1;

	mt = rc_pair(&c, ALL_ACCESS, 7);
	for (i = 0; i < THREADS; i++)
		memset(src + i * SLOT, 0x10 + i, SLOT);
	memset(dst, 0, THREADS * 16 * SLOT);
	for (i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, poster, (void *)(long)i);
	while (got < THREADS * PER_THREAD && idle < 5000) {
		n = ibv_poll_cq(c.cq, 16, wc);
		if (n <= 0) {
			idle++;
			usleep(1000);
			continue;
		}
		idle = 0;
		for (i = 0; i < n; i++) {
			unsigned int t = wc[i].wr_id >> 16, k = wc[i].wr_id & 0xffff;

			bad += wc[i].status != IBV_WC_SUCCESS;
			if (t < THREADS && k < PER_THREAD)
				dup += seen[t][k]++ != 0;
			else
				bad++;
		}
		got += n;
		atomic_fetch_sub(&inflight, n);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	check("threads: 4 threads x 256 writes on one QP all complete",
	      got == THREADS * PER_THREAD && !bad, "%d of %d, %d bad", got,
	      THREADS * PER_THREAD, bad);
	check("threads: each work request completes exactly once", !dup,
	      "%d duplicates", dup);
	for (i = 0; i < THREADS; i++)
		for (j = 0; j < 16 * SLOT; j++)
			slots_ok &= dst[i * 16 * SLOT + j] == 0x10 + i;
	check("threads: every slot holds its thread's data", slots_ok, "");
	ibv_destroy_qp(mt.a);
	ibv_destroy_qp(mt.b);
	drain(c.cq);
}

int main(void)
{
	int fl;

	open_dev(&c, "hodp0");
	fl = fcntl(c.ctx->async_fd, F_GETFL);
	check_fatal("async events without blocking",
		    fcntl(c.ctx->async_fd, F_SETFL, fl | O_NONBLOCK) == 0, "");
	src = aligned_alloc(4096, BUF);
	dst = aligned_alloc(4096, BUF);
	smr = ibv_reg_mr(c.pd, src, BUF, ALL_ACCESS);
	dmr = ibv_reg_mr(c.pd, dst, BUF, ALL_ACCESS);
	check_fatal("MRs", smr && dmr, "%s", strerror(errno));
	test_srq_limit();
	test_last_wqe_reached();
	test_cq_resize_pending();
	test_cq_overflow();
	test_ud_header_ipv4();
	test_ipv6();
	test_rnr_retry_succeeds();
	test_error_reset_reuse();
	test_threads();
	return check_done();
}
