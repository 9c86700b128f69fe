// SPDX-License-Identifier: GPL-2.0
/*
 * A UD QP's receive queue is a queue: datagrams from several senders at
 * once take its receive WQEs in the order they were posted, and complete
 * them in that order, as a hardware HCA's responder does (one message at
 * a time per QP). hodp copies a datagram in its sender's context, so two
 * senders on two CPUs copy into one responder at the same time: the one
 * that claimed the later WQE must not complete it first.
 *
 * Rounds of SENDERS threads, each with its own UD QP, sending PER_SENDER
 * datagrams into one responder with RECVS receives posted (ids 0, 1, ...):
 * the receives complete in id order, each once, each with one whole
 * datagram, and every datagram lands once. Into pinned receive buffers,
 * then into cold ODP ones (their faults hold a claimed WQE between two
 * runs of a sender).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "verbs.h"

#define QKEY		0x22222222
#define GRH		40
#define LEN		1000	/* below any MTU hodp0 takes */
#define SENDERS		2
#define PER_SENDER	512
#define RECVS		(SENDERS * PER_SENDER)
#define SLOT		2048	/* a receive buffer: GRH + LEN fits */
#define ROUNDS		2	/* of each kind of receive buffer */

static struct ctx c;
static struct ibv_ah *ah;

/*
 * PER_SENDER datagrams of LEN bytes, each sent once the last completed:
 * datagram @n of sender @id is its sender, its number (2 bytes), filler.
 */
static void *sender_thread(void *arg)
{
	struct ud_sender *s = arg;
	struct ibv_sge sge = { 0, LEN, s->mr->lkey };
	struct ibv_send_wr wr = { .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_SEND,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_wc wc;
	int n;

	wr.wr.ud.ah = ah;
	wr.wr.ud.remote_qpn = s->dqpn;
	wr.wr.ud.remote_qkey = QKEY;
	while (!atomic_load(s->go))
		;	/* both start together: their copies overlap */
	for (n = 0; n < PER_SENDER; n++) {
		uint8_t *d = s->buf + (size_t)n * LEN;

		memset(d, 0x40 + s->id, LEN);
		d[0] = s->id;
		d[1] = n & 0xff;
		d[2] = n >> 8;
		sge.addr = (uintptr_t)d;
		wr.wr_id = n;
		if (post_send(s->qp, &wr) || poll_one(s->cq, &wc) !=
		    IBV_WC_SUCCESS) {
			s->failed++;
			continue;
		}
		s->sent++;
	}
	return NULL;
}

/*
 * One round into @rx, whose receives go to @rbuf (@rmr): RECVS receives
 * posted, SENDERS senders at once, then every receive completion read.
 */
static void round_into(struct ibv_qp *rx, struct ibv_cq *rcq,
		       struct ibv_mr *rmr, uint8_t *rbuf, struct ud_sender *s,
		       const char *kind, int round)
{
	static int seen[SENDERS][PER_SENDER];
	int i, got = 0, order = 0, bad = 0, twice = 0;
	int sent = 0, failed = 0, first_order = -1;
	uint64_t first_id = 0;
	pthread_t th[SENDERS];
	atomic_int go = 0;
	struct ibv_wc wc;
	char what[160];

	memset(seen, 0, sizeof(seen));
	for (i = 0; i < SENDERS; i++) {
		s[i].sent = s[i].failed = 0;
		s[i].go = &go;
	}
	for (i = 0; i < RECVS; i++)
		check_fatal("post the receives",
			    !post_recv(rx, rmr, rbuf + (size_t)i * SLOT,
				       GRH + LEN, i), "%s", strerror(errno));
	for (i = 0; i < SENDERS; i++)
		check_fatal("start a sender", !pthread_create(&th[i], NULL,
			    sender_thread, &s[i]), "");
	atomic_store(&go, 1);
	for (i = 0; i < SENDERS; i++) {
		pthread_join(th[i], NULL);
		sent += s[i].sent;
		failed += s[i].failed;
	}
	while (got < RECVS && poll_one(rcq, &wc) >= 0) {
		const uint8_t *d;
		int from, n, k;

		/* The got-th completion is of the got-th receive posted. */
		if (wc.wr_id != (uint64_t)got) {
			if (first_order < 0) {
				first_order = got;
				first_id = wc.wr_id;
			}
			order++;
		}
		got++;
		if (wc.wr_id >= RECVS || wc.status != IBV_WC_SUCCESS ||
		    wc.byte_len != GRH + LEN) {
			bad++;
			continue;
		}
		d = rbuf + wc.wr_id * SLOT + GRH;
		from = d[0];
		n = d[1] | d[2] << 8;
		if (from >= SENDERS || n >= PER_SENDER) {
			bad++;
			continue;
		}
		for (k = 3; k < LEN && d[k] == 0x40 + from; k++)
			;
		if (k < LEN)
			bad++;
		else if (seen[from][n]++)
			twice++;
	}
	snprintf(what, sizeof(what), "%s round %d: every send completes",
		 kind, round);
	check(what, sent == RECVS && !failed, "%d sent, %d failed", sent,
	      failed);
	snprintf(what, sizeof(what),
		 "%s round %d: every datagram lands once, whole", kind, round);
	check(what, got == RECVS && !bad && !twice,
	      "%d of %d receives, %d wrong, %d twice", got, RECVS, bad,
	      twice);
	snprintf(what, sizeof(what),
		 "%s round %d: the receives complete in the order posted",
		 kind, round);
	check(what, got == RECVS && !order,
	      "%d out of order; the first: completion %d was of receive %lu",
	      order, first_order, (unsigned long)first_id);
	snprintf(what, sizeof(what), "%s round %d: no completion more", kind,
		 round);
	check(what, ibv_poll_cq(rcq, 1, &wc) == 0, "one of receive %lu",
	      (unsigned long)wc.wr_id);
}

int main(void)
{
	struct ibv_ah_attr aa = { .is_global = 1, .port_num = 1,
				  .grh = { .sgid_index = 1, .hop_limit = 1 } };
	size_t area = (size_t)RECVS * SLOT;
	struct ud_sender s[SENDERS];
	struct ibv_mr *rmr;
	struct ibv_qp *rx;
	struct ibv_cq *rcq;
	uint8_t *rbuf;
	int i, r;

	open_dev(&c, "hodp0");
	aa.grh.dgid = c.gid;
	ah = ibv_create_ah(c.pd, &aa);
	rcq = ibv_create_cq(c.ctx, RECVS + 1, NULL, NULL, 0);
	check_fatal("an AH and the receiver's CQ", ah && rcq, "%s",
		    strerror(errno));
	rx = ud_qp_on(c.pd, rcq, 1, RECVS, QKEY);
	for (i = 0; i < SENDERS; i++)
		ud_sender_open(&s[i], &c, i, rx->qp_num,
			       (size_t)PER_SENDER * LEN, QKEY);

	rbuf = aligned_alloc(4096, area);
	check_fatal("the receive area", rbuf, "");
	rmr = ibv_reg_mr(c.pd, rbuf, area, ALL_ACCESS);
	check_fatal("register the receive area", rmr, "%s", strerror(errno));
	for (r = 1; r <= ROUNDS; r++)
		round_into(rx, rcq, rmr, rbuf, s, "pinned", r);
	ibv_dereg_mr(rmr);
	free(rbuf);

	for (r = 1; r <= ROUNDS; r++) {
		rbuf = mmap(NULL, area, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		check_fatal("a cold receive area", rbuf != MAP_FAILED, "%s",
			    strerror(errno));
		rmr = ibv_reg_mr(c.pd, rbuf, area,
				 ALL_ACCESS | IBV_ACCESS_ON_DEMAND);
		check_fatal("register it on demand", rmr, "%s",
			    strerror(errno));
		round_into(rx, rcq, rmr, rbuf, s, "ODP", r);
		ibv_dereg_mr(rmr);
		munmap(rbuf, area);
	}

	for (i = 0; i < SENDERS; i++)
		ud_sender_close(&s[i]);
	ibv_destroy_qp(rx);
	ibv_destroy_cq(rcq);
	ibv_destroy_ah(ah);
	return check_done();
}
