// SPDX-License-Identifier: GPL-2.0
/*
 * hodp: the responder. In-host, a requester executes its WQE directly
 * against the responder QP: this file is what the responder checks and does
 * (receive WQE consumption, rkey and access checks, the copy, the receive
 * completion), with the statuses the IB spec gives each side.
 */
#include <linux/highmem.h>
#include <linux/ip.h>
#include <linux/jhash.h>
#include <linux/sched.h>
#include <net/checksum.h>
#include <net/ipv6.h>

#include "hodp.h"

/**
 * hodp_put_segs() - release the MRs of resolved segments
 * @seg: segments
 * @n: how many
 */
void hodp_put_segs(struct hodp_seg *seg, u32 n)
{
	while (n--)
		if (seg[n].mr)
			hodp_mr_put(seg[n].mr);
}

/**
 * hodp_resolve_sges() - look up the lkeys of a scatter/gather list
 * @dev: the device
 * @pd: the PD the MRs must belong to
 * @sge: the list (already copied to kernel memory)
 * @n: entries
 * @access: IB_ACCESS_LOCAL_WRITE if the HCA will write there
 * @seg: out: one referenced segment per entry of non-zero length
 * @total: out: bytes in all
 *
 * Return: the number of segments, or -EACCES (bad key, PD, access or
 * range: a local protection error) or -EMSGSIZE (over the message size).
 */
int hodp_resolve_sges(struct hodp_dev *dev, struct ib_pd *pd,
		      const struct rxe_sge *sge, u32 n, int access,
		      struct hodp_seg *seg, u32 *total)
{
	u64 sum = 0;
	u32 i, k = 0;

	for (i = 0; i < n; i++) {
		struct hodp_mr *mr;

		if (!sge[i].length)
			continue;
		mr = hodp_mr_get(dev, sge[i].lkey, pd, false);
		if (!mr || ((access & IB_ACCESS_LOCAL_WRITE) &&
			    !(mr->access & IB_ACCESS_LOCAL_WRITE)) ||
		    !hodp_mr_in_range(mr, sge[i].addr, sge[i].length)) {
			if (mr)
				hodp_mr_put(mr);
			hodp_put_segs(seg, k);
			return -EACCES;
		}
		seg[k++] = (struct hodp_seg){ mr, sge[i].addr, sge[i].length };
		sum += sge[i].length;
	}
	if (sum > HODP_MAX_MSG_SIZE) {
		hodp_put_segs(seg, k);
		return -EMSGSIZE;
	}
	*total = sum;
	return k;
}

/*
 * The receive WQE a message stopped in (resp->held), if there is one:
 * into ctx->rwqe, with whose message it was, and taken if @claim.
 * Return: 1 if there is one, 0 if not, -ESHUTDOWN if claiming from a
 * responder that is closing: looked at under rq_lock, which its ERR
 * flush of the held WQE takes once ERR is published, so that no claim
 * after that flush takes a receive posted behind the flushed one.
 */
static int read_held(struct hodp_qp *resp, struct hodp_req_ctx *ctx,
		     bool claim)
{
	struct hodp_held_recv *held = &resp->held;
	unsigned long flags;
	int found;

	/*
	 * A hint without the lock: set by a requester stopped in a copy
	 * (try_hold_recv()), this one if RC or UC, any sender if UD.
	 */
	if (!claim && !READ_ONCE(held->valid))
		return 0;
	spin_lock_irqsave(&resp->rq_lock, flags);
	found = claim && hodp_resp_closing(resp) ? -ESHUTDOWN : held->valid;
	if (found > 0) {
		ctx->rwqe = held->rwqe;
		ctx->rheld_owner = held->owner;
		ctx->rheld_mark = held->mark;
		if (claim)
			WRITE_ONCE(held->valid, false);
	}
	spin_unlock_irqrestore(&resp->rq_lock, flags);
	return found;
}

/*
 * Read the responder's next receive WQE (the one a message stopped in,
 * else the next of its SRQ or receive queue) into ctx->rwqe, and take it
 * if @claim (else it stays posted: a look before claiming, which another
 * QP of the SRQ may take meanwhile).
 * Return: 0, -EAGAIN if there is none (receiver not ready), -EINVAL if
 * the WQE is malformed, -ESHUTDOWN if the responder is closing.
 */
static int read_recv(struct hodp_qp *resp, struct hodp_req_ctx *ctx,
		     bool claim)
{
	struct hodp_srq *srq = resp->srq;
	struct hodp_queue *q = srq ? srq->queue : resp->rq;
	spinlock_t *lock = srq ? &srq->lock : &resp->rq_lock;
	u32 max_sge = srq ? srq->max_sge : resp->rq_max_sge;
	struct rxe_recv_wqe *raw = (struct rxe_recv_wqe *)ctx->relem;
	bool limit_reached = false;
	unsigned long flags;
	u32 left;
	int ret;

	ret = read_held(resp, ctx, claim);
	if (ret)
		return ret < 0 ? ret : 0;
	ctx->rheld_owner = 0;
	spin_lock_irqsave(lock, flags);
	if (!hodp_queue_count(q)) {
		spin_unlock_irqrestore(lock, flags);
		return -EAGAIN;
	}
	hodp_queue_peek(q, raw, sizeof(ctx->relem));
	if (claim) {
		hodp_queue_pop(q);
		left = hodp_queue_count(q);
		if (srq && srq->limit && left < srq->limit) {
			srq->limit = 0;		/* the event disarms it */
			limit_reached = true;
		}
	}
	spin_unlock_irqrestore(lock, flags);

	if (limit_reached && srq->ibsrq.event_handler) {
		struct ib_event ev = {
			.device = srq->ibsrq.device,
			.element.srq = &srq->ibsrq,
			.event = IB_EVENT_SRQ_LIMIT_REACHED,
		};

		srq->ibsrq.event_handler(&ev, srq->ibsrq.srq_context);
	}
	ctx->rwqe.wr_id = raw->wr_id;
	ctx->rwqe.num_sge = READ_ONCE(raw->dma.num_sge);
	if (ctx->rwqe.num_sge > max_sge)
		return -EINVAL;
	memcpy(ctx->rwqe.sge, raw->dma.sge,
	       ctx->rwqe.num_sge * sizeof(struct rxe_sge));
	return 0;
}

/*
 * ODP, before a message touches the responder (hodp_segs_prepare()):
 * what the first @len bytes of its buffers miss is a fault event. Return:
 * 0 (go on: the copy meets what is still missing, and decides what a
 * page that cannot be mirrored, or no longer an event, is), -EAGAIN
 * (ctx->miss is the event) or -EINTR (a QP is closing).
 */
static int prepare_remote(struct hodp_req_ctx *ctx, struct hodp_seg *seg,
			  u32 n, u32 len, bool write)
{
	int ret = hodp_segs_prepare(ctx, seg, n, len, write, &ctx->rprep);

	return ret == -EAGAIN || ret == -EINTR ? ret : 0;
}

/*
 * The same for the receive WQE a message will claim: the one held, or at
 * the head now (whatever it is when claimed, the copy is right: this only
 * keeps the common cold case from faulting after the claim).
 */
static int prepare_recv(struct hodp_qp *resp, struct hodp_req_ctx *ctx,
			u32 len)
{
	u32 room;
	int n, ret;

	/*
	 * No ODP MR on the device: nothing to look at (a hint, read without
	 * odp_lock: an MR registered meanwhile only faults in the copy).
	 */
	if (list_empty(&resp->dev->odp_mirrors))
		return 0;
	if (read_recv(resp, ctx, false))
		return 0;	/* none, or malformed: the claim says */
	/*
	 * Another WQE than the last run looked at (another QP of the SRQ
	 * took that one, or the user rewrote it): its lookups start over.
	 */
	if (ctx->rwqe.wr_id != ctx->rpeek_id ||
	    (ctx->rwqe.num_sge && ctx->rwqe.sge[0].addr != ctx->rpeek_addr)) {
		ctx->rpeek_id = ctx->rwqe.wr_id;
		ctx->rpeek_addr = ctx->rwqe.num_sge ? ctx->rwqe.sge[0].addr : 0;
		ctx->rprep = 0;
	}
	n = hodp_resolve_sges(resp->dev, resp->ibqp.pd, ctx->rwqe.sge,
			      ctx->rwqe.num_sge, IB_ACCESS_LOCAL_WRITE,
			      ctx->rseg, &room);
	if (n < 0)
		return 0;
	ret = prepare_remote(ctx, ctx->rseg, n, min(len, room), true);
	hodp_put_segs(ctx->rseg, n);
	return ret;
}

static void recv_complete(struct hodp_qp *resp, struct hodp_qp *req,
			  struct hodp_req_ctx *ctx, enum ib_wc_status status,
			  enum ib_wc_opcode opcode, u32 len)
{
	const struct rxe_send_wr *wr = &ctx->wqe.wr;
	struct ib_wc wc = {
		.wr_id = ctx->rwqe.wr_id,
		.status = status,
		.opcode = opcode,
		.byte_len = len,
		.qp = &resp->ibqp,
		.src_qp = req->qpn,
		.port_num = 1,
	};

	if (hodp_qp_is_ud(resp)) {
		wc.wc_flags |= IB_WC_GRH | IB_WC_WITH_NETWORK_HDR_TYPE;
		wc.network_hdr_type = ctx->net_type;
	}
	if (wr->opcode == IB_WR_SEND_WITH_IMM ||
	    wr->opcode == IB_WR_RDMA_WRITE_WITH_IMM) {
		wc.wc_flags |= IB_WC_WITH_IMM;
		wc.ex.imm_data = wr->ex.imm_data;
	} else if (wr->opcode == IB_WR_SEND_WITH_INV &&
		   status == IB_WC_SUCCESS) {
		wc.wc_flags |= IB_WC_WITH_INVALIDATE;
		wc.ex.invalidate_rkey = wr->ex.invalidate_rkey;
	}
	if (hodp_cq_post(resp->rcq, &wc, wr->send_flags & IB_SEND_SOLICITED))
		hodp_qp_error(resp);
}

/*
 * Claim the responder's next receive WQE (into ctx->rwqe) for a message
 * that completes one. Return: IB_WC_SUCCESS with *rnr set if there is
 * none (receiver not ready), IB_WC_SUCCESS with ctx->peer_closed set if
 * the responder is closing (nothing claimed: no answer comes),
 * IB_WC_SUCCESS if claimed, or the requester's error status if the WQE
 * is malformed (it completes with an error and the responder goes to the
 * error state).
 */
static enum ib_wc_status claim_recv(struct hodp_qp *req, struct hodp_qp *resp,
				    struct hodp_req_ctx *ctx,
				    enum ib_wc_opcode opcode, bool *rnr)
{
	int ret = read_recv(resp, ctx, true);

	if (ret == -EAGAIN) {
		*rnr = true;
		return IB_WC_SUCCESS;
	}
	if (ret == -ESHUTDOWN) {
		ctx->peer_closed = true;
		return IB_WC_SUCCESS;
	}
	if (ret) {
		recv_complete(resp, req, ctx, IB_WC_LOC_QP_OP_ERR, opcode, 0);
		hodp_qp_error(resp);
		return IB_WC_REM_OP_ERR;
	}
	return IB_WC_SUCCESS;
}

/*
 * Complete the receive WQE a message into it (SEND, UD datagram) filled,
 * after its copy returned @ret: a receive buffer that cannot be
 * mirrored is the responder's local protection error (and the requester's
 * remote operation error); a source page that cannot be (the requester's
 * buffer unmapped after hodp_segs_prepare() saw it) aborts the message:
 * the receive completes with a remote abort, the requester with a local
 * protection error.
 */
static enum ib_wc_status copy_done(struct hodp_qp *req, struct hodp_qp *resp,
				   struct hodp_req_ctx *ctx, int ret, u32 len)
{
	switch (ret) {
	case 0:
		recv_complete(resp, req, ctx, IB_WC_SUCCESS, IB_WC_RECV, len);
		return IB_WC_SUCCESS;
	case HODP_COPY_DST_FAULT:
		recv_complete(resp, req, ctx, IB_WC_LOC_PROT_ERR, IB_WC_RECV, 0);
		if (!hodp_qp_is_ud(resp))
			hodp_qp_error(resp);
		return IB_WC_REM_OP_ERR;
	default:
		recv_complete(resp, req, ctx, IB_WC_REM_ABORT_ERR, IB_WC_RECV, 0);
		return IB_WC_LOC_PROT_ERR;
	}
}

/*
 * Does a closed responder's receive WQE, claimed by a message whose copy
 * stopped there, complete with a flush error here? An SRQ's does: it is
 * not RESET's to discard (reset_queues()), nor a user QP's destroy's
 * (hodp_destroy_qp() waits for this peer to leave: the CQ is still
 * there); but not at a kernel QP's destroy, whose ULP's handler would
 * read the QP that destroy frees. The QP's own does in error only: RESET
 * discards it with the ring, destroy with the QP.
 */
static bool claimed_recv_flushed(const struct hodp_qp *resp)
{
	bool stopping = READ_ONCE(resp->stopping);

	if (resp->srq)
		return !stopping || resp->user;
	return !stopping && READ_ONCE(resp->state) == IB_QPS_ERR;
}

/*
 * A copy that stopped because a QP closed (HODP_COPY_STOPPED), after the
 * message claimed a receive WQE if @claimed. The requester closed: its WQE
 * ends with a flush error, and the receive with a remote abort (the rest
 * of the message never comes). The responder closed (ctx->peer_closed):
 * the requester hears nothing, as from a responder gone (its transport
 * timer runs, or a UC or UD message is lost), and the receive is flushed
 * or not as claimed_recv_flushed() says.
 */
static enum ib_wc_status copy_stopped(struct hodp_qp *req,
				      struct hodp_qp *resp,
				      struct hodp_req_ctx *ctx, bool claimed,
				      enum ib_wc_opcode opcode)
{
	if (ctx->peer_closed) {
		if (claimed && claimed_recv_flushed(resp))
			recv_complete(resp, req, ctx, IB_WC_WR_FLUSH_ERR,
				      opcode, 0);
		return IB_WC_SUCCESS;
	}
	if (claimed)
		recv_complete(resp, req, ctx, IB_WC_REM_ABORT_ERR, opcode, 0);
	return IB_WC_WR_FLUSH_ERR;
}

/*
 * What a resumed message (ctx->copied: hodp_copy_resumable()) must find
 * again to skip the bytes its last run copied: the same message (every
 * run reads the ring's WQE again, which the user may have rewritten) to
 * the same responder (its serial: a QP number comes back), not reset
 * since, and the same MR behind the rkey (@mr, NULL for a SEND: an rkey
 * comes back too), or behind each lkey of the receive WQE (@rseg, @nrseg:
 * a SEND's).
 */
static u32 resume_mark(const struct hodp_req_ctx *ctx,
		       const struct hodp_qp *resp, const struct hodp_mr *mr,
		       const struct hodp_seg *rseg, u32 nrseg)
{
	const struct rxe_send_wr *wr = &ctx->wqe.wr;
	u32 h, i;

	h = jhash_3words(wr->opcode, ctx->wqe.length, wr->wr.rdma.rkey,
			 (__force u32)wr->ex.imm_data);
	h = jhash_3words(lower_32_bits(wr->wr.rdma.remote_addr),
			 upper_32_bits(wr->wr.rdma.remote_addr),
			 READ_ONCE(resp->resets), h);
	h = jhash(&resp->serial, sizeof(resp->serial), h);
	h = jhash(&mr, sizeof(mr), h);
	for (i = 0; i < nrseg; i++)
		h = jhash(&rseg[i].mr, sizeof(rseg[i].mr), h);
	/*
	 * A datagram's header is built again each run from its AH, which a
	 * rewritten ring may change: bytes done of another header are wrong.
	 */
	if (hodp_qp_is_ud(resp))
		h = jhash(&ctx->ud_hdr, sizeof(ctx->ud_hdr), h);
	/* Inline data is the WQE's own: read again from the ring each run. */
	if (wr->send_flags & IB_SEND_INLINE)
		h = jhash(ctx->wqe.data, ctx->wqe.length, h);
	for (i = 0; i < ctx->nlseg; i++)
		h = jhash_3words(lower_32_bits(ctx->lseg[i].addr),
				 upper_32_bits(ctx->lseg[i].addr),
				 ctx->lseg[i].len,
				 jhash(&ctx->lseg[i].mr, sizeof(ctx->lseg[i].mr),
				       h));
	return h;
}

/*
 * Before a message's copy (through @mr, or NULL; into the receive WQE's
 * @rseg, @nrseg): keep ctx->copied if this run is of the message it
 * counts (resume_mark() in *@mark), else start over.
 * Return: false if the memory window the message began through (@mw_gen:
 * its binding now) was bound again since: the rest may not go through
 * the new binding (hodp_mw.c).
 */
static bool resume_ok(struct hodp_req_ctx *ctx, const struct hodp_qp *resp,
		      const struct hodp_mr *mr, const struct hodp_seg *rseg,
		      u32 nrseg, u32 mw_gen, u32 *mark)
{
	*mark = resume_mark(ctx, resp, mr, rseg, nrseg);
	if (ctx->copied && *mark != ctx->copy_mark)
		ctx->copied = 0;
	return !ctx->copied || mw_gen == ctx->copy_mw_gen;
}

/* A resumable copy stopped for a fault event: what it was of. */
static void resume_keep(struct hodp_req_ctx *ctx, int ret, u32 mark,
			u32 mw_gen)
{
	if (ret != HODP_COPY_EVENT)
		return;
	ctx->copy_mark = mark;
	ctx->copy_mw_gen = mw_gen;
}

/*
 * After a message that completes a receive WQE claimed it: the bytes its
 * last run copied are in that WQE's buffers only if it is the one this
 * message stopped in (resp->held, taken again: read_held()).
 */
static void resume_recv(struct hodp_req_ctx *ctx, u32 mark)
{
	if (ctx->rheld_owner != ctx->qp->serial || ctx->rheld_mark != mark)
		ctx->copied = 0;
}

/*
 * The copy of a message that claimed ctx->rwqe stopped for a fault event:
 * the responder keeps the WQE for the message's next run (or whichever
 * message comes next: an HCA's receive being filled is the next one's),
 * ahead of its ring; its ERR flush completes it first, RESET discards it
 * (an SRQ's it completes). The requester is one of the responder's users
 * (hodp_resp_enter()): RESET does not run meanwhile, and the ERR flush of
 * the receive queue waits for it to leave (a WQE held after the flush of
 * the held one ran is flushed then).
 * Return: false if the responder holds one already (nothing done).
 */
static bool try_hold_recv(struct hodp_qp *req, struct hodp_qp *resp,
			  struct hodp_req_ctx *ctx, u32 mark)
{
	struct hodp_held_recv *held = &resp->held;
	unsigned long flags;
	bool taken;

	spin_lock_irqsave(&resp->rq_lock, flags);
	taken = held->valid;
	if (!taken) {
		held->rwqe = ctx->rwqe;
		held->owner = req->serial;
		held->mark = mark;
		WRITE_ONCE(held->valid, true);
	}
	spin_unlock_irqrestore(&resp->rq_lock, flags);
	return !taken;
}

/* try_hold_recv() for an RC or UC message: its only requester. */
static void hold_recv(struct hodp_qp *req, struct hodp_qp *resp,
		      struct hodp_req_ctx *ctx, u32 mark,
		      enum ib_wc_opcode opcode)
{
	/* One requester at a time runs into a responder (execute()). */
	if (!try_hold_recv(req, resp, ctx, mark)) {
		/* Never lost: ended as a message that never came. */
		pr_warn_ratelimited("hodp: QP %u: a second receive held\n",
				    resp->qpn);
		recv_complete(resp, req, ctx, IB_WC_REM_ABORT_ERR, opcode, 0);
		ctx->copied = 0;
	}
}

/*
 * A SEND into the responder's next receive WQE. A page its copy misses
 * (invalidated after the lookups) is a fault event: the responder holds
 * the WQE, and the next run fills it on from where this one stopped.
 */
static enum ib_wc_status deliver(struct hodp_qp *req, struct hodp_qp *resp,
				 struct hodp_req_ctx *ctx, bool *rnr)
{
	u32 len = ctx->wqe.length, room, mark;
	enum ib_wc_status status;
	int n, ret;

	ret = prepare_recv(resp, ctx, len);
	if (ret == -EAGAIN)
		return IB_WC_SUCCESS;	/* a fault event, nothing claimed */
	if (ret)
		return copy_stopped(req, resp, ctx, false, IB_WC_RECV);
	status = claim_recv(req, resp, ctx, IB_WC_RECV, rnr);
	if (status != IB_WC_SUCCESS || *rnr || ctx->peer_closed)
		return status;
	n = hodp_resolve_sges(resp->dev, resp->ibqp.pd, ctx->rwqe.sge,
			      ctx->rwqe.num_sge, IB_ACCESS_LOCAL_WRITE,
			      ctx->rseg, &room);
	if (n < 0 || room < len) {
		if (n >= 0)
			hodp_put_segs(ctx->rseg, n);
		recv_complete(resp, req, ctx, n < 0 ? IB_WC_LOC_PROT_ERR :
			      IB_WC_LOC_LEN_ERR, IB_WC_RECV, 0);
		hodp_qp_error(resp);
		return IB_WC_REM_INV_REQ_ERR;
	}
	/* No window, so nothing to refuse: its result is not needed. */
	resume_ok(ctx, resp, NULL, ctx->rseg, n, 0, &mark);
	resume_recv(ctx, mark);
	ret = hodp_copy_resumable(ctx, ctx->rseg, n, ctx->lseg, ctx->nlseg,
				  len);
	resume_keep(ctx, ret, mark, 0);
	hodp_put_segs(ctx->rseg, n);
	if (ret == HODP_COPY_EVENT) {
		hold_recv(req, resp, ctx, mark, IB_WC_RECV);
		return IB_WC_SUCCESS;	/* a fault event: ctx->miss */
	}
	if (ret == HODP_COPY_STOPPED)
		return copy_stopped(req, resp, ctx, true, IB_WC_RECV);
	/*
	 * SEND with invalidate: the responder's window goes once the data is
	 * in (as rxe); one it cannot invalidate (key, type, PD, or bound
	 * through another QP) is an invalid request (IB class J).
	 */
	if (!ret && ctx->wqe.wr.opcode == IB_WR_SEND_WITH_INV &&
	    hodp_mw_invalidate(resp, ctx->wqe.wr.ex.invalidate_rkey)) {
		recv_complete(resp, req, ctx, IB_WC_REM_INV_REQ_ERR,
			      IB_WC_RECV, 0);
		if (resp->ibqp.qp_type == IB_QPT_RC)
			hodp_qp_error(resp);
		return IB_WC_REM_INV_REQ_ERR;
	}
	return copy_done(req, resp, ctx, ret, len);
}

/* Bytes after the network header of a RoCE v2 UD packet: UDP, BTH, DETH, ICRC. */
#define HODP_UD_TRANSPORT_BYTES	(8 + 12 + 8 + 4)

/*
 * The 40 bytes a UD receive starts with, as a RoCE v2 HCA writes them: an
 * IPv4 header in the last 20 bytes when both GIDs are IPv4-mapped, else
 * the IPv6 header (laid out like an IB GRH). Consumers tell the two apart
 * by the completion's network header type (the kernel) or by parsing it
 * (libibverbs' ibv_init_ah_from_wc).
 */
static enum rdma_network_type build_ud_header(union rdma_network_hdr *hdr,
					      const union ib_gid *sgid,
					      const union ib_gid *dgid,
					      u32 len)
{
	const struct in6_addr *s = (const struct in6_addr *)sgid->raw;
	const struct in6_addr *d = (const struct in6_addr *)dgid->raw;

	memset(hdr, 0, sizeof(*hdr));
	if (ipv6_addr_v4mapped(s) && ipv6_addr_v4mapped(d)) {
		struct iphdr *ip = &hdr->roce4grh;

		ip->version = 4;
		ip->ihl = 5;
		ip->tot_len = htons(sizeof(*ip) + HODP_UD_TRANSPORT_BYTES + len);
		ip->ttl = 64;
		ip->protocol = IPPROTO_UDP;
		ip->saddr = s->s6_addr32[3];
		ip->daddr = d->s6_addr32[3];
		ip->check = ip_fast_csum(ip, ip->ihl);
		return RDMA_NETWORK_IPV4;
	}
	hdr->ibgrh.version_tclass_flow = cpu_to_be32(6 << 28);
	hdr->ibgrh.paylen = cpu_to_be16(HODP_UD_TRANSPORT_BYTES + len);
	hdr->ibgrh.next_hdr = IPPROTO_UDP;
	hdr->ibgrh.hop_limit = 64;
	hdr->ibgrh.sgid = *sgid;
	hdr->ibgrh.dgid = *dgid;
	return RDMA_NETWORK_IPV6;
}

/*
 * hodp_respond_ud() under the responder's ud_lock: claim its next receive
 * WQE (the one held first), fill it and complete it, or hold it with the
 * copy's miss in ctx->miss (*@ret HODP_COPY_EVENT). Never faults (see the
 * caller). Return: as hodp_respond_ud().
 */
static enum ib_wc_status deliver_dgram(struct hodp_qp *req,
				       struct hodp_qp *resp,
				       const union ib_gid *sgid,
				       const union ib_gid *dgid, int *ret)
{
	struct hodp_req_ctx *ctx = req->ctx;
	u32 len = ctx->wqe.length, room, mark = 0;
	union rdma_network_hdr *hdr = &ctx->ud_hdr;
	enum ib_wc_status status;
	struct hodp_seg head;
	int n;

	lockdep_assert_held(&resp->ud_lock);
	*ret = 0;
	n = read_recv(resp, ctx, true);
	if (n == -EAGAIN || n == -ESHUTDOWN)
		return IB_WC_SUCCESS;	/* dropped: no receive, or closing */
	if (n) {
		recv_complete(resp, req, ctx, IB_WC_LOC_QP_OP_ERR, IB_WC_RECV, 0);
		return IB_WC_SUCCESS;
	}
	ctx->net_type = build_ud_header(hdr, sgid, dgid, len);
	n = hodp_resolve_sges(resp->dev, resp->ibqp.pd, ctx->rwqe.sge,
			      ctx->rwqe.num_sge, IB_ACCESS_LOCAL_WRITE,
			      ctx->rseg, &room);
	if (n < 0 || room < len + sizeof(*hdr)) {
		if (n >= 0)
			hodp_put_segs(ctx->rseg, n);
		recv_complete(resp, req, ctx, n < 0 ? IB_WC_LOC_PROT_ERR :
			      IB_WC_LOC_LEN_ERR, IB_WC_RECV, 0);
		return IB_WC_SUCCESS;
	}
	head = (struct hodp_seg){ NULL, (uintptr_t)hdr, sizeof(*hdr) };
	/* No window, so nothing to refuse: its result is not needed. */
	resume_ok(ctx, resp, NULL, ctx->rseg, n, 0, &mark);
	resume_recv(ctx, mark);
	*ret = hodp_copy_datagram(ctx, ctx->rseg, n, &head, ctx->lseg,
				  ctx->nlseg, len);
	resume_keep(ctx, *ret, mark, 0);
	/*
	 * A page missed: the WQE held by the responder meanwhile, as for a
	 * SEND, its copy going on after the fault. The held one is the first
	 * a claim takes, and only ud_lock's holder claims or holds: none is
	 * held now. Should one be, the datagram is aborted rather than lose
	 * a WQE.
	 */
	if (*ret == HODP_COPY_EVENT &&
	    WARN_ON_ONCE(!try_hold_recv(req, resp, ctx, mark))) {
		hodp_fault_drop_miss(ctx);
		*ret = HODP_COPY_SRC_FAULT;
	}
	hodp_put_segs(ctx->rseg, n);
	if (*ret == HODP_COPY_EVENT)
		return IB_WC_SUCCESS;	/* ctx->miss: the caller's */
	if (*ret == HODP_COPY_STOPPED)
		return copy_stopped(req, resp, ctx, true, IB_WC_RECV);
	status = copy_done(req, resp, ctx, *ret, len + sizeof(*hdr));
	/* Unreliable: the sender never hears of the receiver's trouble. */
	return *ret == HODP_COPY_DST_FAULT ? IB_WC_SUCCESS : status;
}

/*
 * Under ud_lock: the datagram's fault failed (@fail: its receive's page,
 * or its source's, cannot be mirrored, or the faults ran out). The
 * receive held for it, if still its own, completes with that failure (as
 * a copy's failure completes the receive it claimed); one another sender
 * took meanwhile is that sender's, and this datagram is lost. Return: the
 * sender's status: a local protection error for its own buffer, success
 * for the receiver's.
 */
static enum ib_wc_status fail_dgram(struct hodp_qp *req, struct hodp_qp *resp,
				    int fail)
{
	struct hodp_req_ctx *ctx = req->ctx;

	lockdep_assert_held(&resp->ud_lock);
	/*
	 * A look, then the claim of the held WQE alone (never the queue's):
	 * only ud_lock's holder holds or claims it, and the ERR flush, which
	 * may take it meanwhile, comes with the responder closing, which the
	 * claim refuses.
	 */
	if (read_held(resp, ctx, false) > 0 &&
	    ctx->rheld_owner == req->serial && read_held(resp, ctx, true) > 0)
		copy_done(req, resp, ctx, fail, 0);
	return fail == HODP_COPY_SRC_FAULT ? IB_WC_LOC_PROT_ERR :
					     IB_WC_SUCCESS;
}

/**
 * hodp_respond_ud() - deliver the requester's datagram to a UD responder
 * @req: the requester (its ctx holds the WQE and local segments)
 * @resp: the responder, referenced, receiving, with the right Q_Key
 * @sgid: the requester's GID
 * @dgid: the responder's GID
 *
 * The receive buffer starts with 40 bytes of GRH, then the payload. No
 * receive WQE: the datagram is dropped; one too small or malformed
 * completes with an error. A page of an ODP buffer the copy misses
 * (invalidated since the lookups) is a fault event of the requester, as
 * for a SEND: the responder holds the receive WQE, and the next run
 * fills it on from there (or another sender's datagram fills it, the
 * next claim: this sender's takes the WQE after).
 *
 * Several senders deliver to one UD responder at once, each in its own
 * context; the responder takes one datagram at a time (ud_lock, from
 * claim to completion or hold), as an HCA's receive pipeline does: its
 * receive WQEs complete in the order they were posted. Nothing under
 * ud_lock faults: the lookups before (prepare_recv()) claim nothing, and
 * once the WQE's events are over, a miss of the receive is still an
 * event, or fails it (no fault of another's memory: hodp_copy.c,
 * miss_way()), one of the sender's own buffer is one of its last events,
 * the receive WQE held meanwhile (the GSI QP, which raises no events,
 * faults it here, between two turns of the lock). So a sender
 * waits for ud_lock at most the copies of the datagrams before its own
 * (each waiting at most behind an invalidation for a mirror's lock),
 * never another's fault.
 *
 * Return: the requester's status: success whatever the receiver did with
 * it (with ctx->miss set: a fault event), but a local protection error if
 * its own buffer could not be read.
 */
enum ib_wc_status hodp_respond_ud(struct hodp_qp *req, struct hodp_qp *resp,
				  const union ib_gid *sgid,
				  const union ib_gid *dgid)
{
	struct hodp_req_ctx *ctx = req->ctx;
	int tries = HODP_FAULT_TRIES, ret;
	enum ib_wc_status status;
	u32 best = 0;

	ctx->net_type = RDMA_NETWORK_IPV6;
	ret = prepare_recv(resp, ctx, ctx->wqe.length + sizeof(ctx->ud_hdr));
	if (ret == -EAGAIN)
		return IB_WC_SUCCESS;	/* a fault event, nothing claimed */
	if (ret)
		return copy_stopped(req, resp, ctx, false, IB_WC_RECV);
	for (;;) {
		/*
		 * Killed in its doorbell: as a copy stopped by that (no miss
		 * is left: hodp_copy_fault_miss() consumed it).
		 */
		if (mutex_lock_killable(&resp->ud_lock))
			return copy_stopped(req, resp, ctx, false, IB_WC_RECV);
		status = deliver_dgram(req, resp, sgid, dgid, &ret);
		mutex_unlock(&resp->ud_lock);
		/*
		 * Done, or a miss for run_sq(): a fault event (one of the
		 * last, the WQE's events over), but the GSI QP's.
		 */
		if (ret != HODP_COPY_EVENT || !READ_ONCE(req->fault_inplace) ||
		    req->ibqp.qp_type != IB_QPT_GSI)
			return status;
		/*
		 * The GSI QP raises no events: faulted here, then copied on.
		 * HODP_FAULT_TRIES faults from each byte the copy reached.
		 */
		if (ctx->copied > best) {
			best = ctx->copied;
			tries = HODP_FAULT_TRIES;
		}
		ret = hodp_copy_fault_miss(ctx, &tries);
		if (ret == HODP_COPY_STOPPED)
			return copy_stopped(req, resp, ctx, false, IB_WC_RECV);
		if (ret)
			break;
	}
	if (mutex_lock_killable(&resp->ud_lock))
		return copy_stopped(req, resp, ctx, false, IB_WC_RECV);
	status = fail_dgram(req, resp, ret);
	mutex_unlock(&resp->ud_lock);
	return status;
}

/*
 * The responder's memory named by an rkey, with the rights @need: an MR's
 * own rkey, or a memory window's (its range of an MR, its rights).
 */
static struct hodp_mr *remote_mr(struct hodp_qp *resp, u32 rkey, u64 addr,
				 u32 len, int need, u32 *mw_gen)
{
	struct hodp_mr *mr;

	if (!(resp->access & need))
		return NULL;
	if (hodp_key_is_mw(rkey))
		return hodp_mw_remote_mr(resp, rkey, addr, len, need, mw_gen);
	mr = hodp_mr_get(resp->dev, rkey, resp->ibqp.pd, true);
	if (mr && (!(mr->access & need) || !hodp_mr_in_range(mr, addr, len))) {
		hodp_mr_put(mr);
		mr = NULL;
	}
	return mr;
}

/*
 * The responder's segment of an RDMA WRITE or READ; through a window, the
 * copy looks at the window again as it goes (hodp_mw_still_bound()).
 */
static struct hodp_seg remote_seg(struct hodp_mr *mr, u32 rkey, u32 mw_gen,
				  u64 addr, u32 len)
{
	return (struct hodp_seg){ .mr = mr, .addr = addr, .len = len,
				  .mw_rkey = rkey, .mw_gen = mw_gen };
}

/*
 * Execute @wr's atomic on @remote (its page looked up just before). A
 * page invalidated since those lookups is a fault event, until that
 * memory's events are over (qp->fault_peer_fails); then the atomic fails
 * as on a page that cannot be mirrored writable: the responder's memory
 * is never faulted by a requester (hodp_miss_unfaulted()).
 * Return: 0 (executed: the value before in *@orig), -EAGAIN (nothing
 * executed, the miss in ctx->miss), HODP_COPY_STOPPED (a QP closing) or
 * HODP_COPY_DST_FAULT (its events over; nothing executed), or
 * hodp_mr_atomic()'s -EFAULT or -EINVAL.
 */
static int remote_atomic(struct hodp_req_ctx *ctx, struct hodp_seg *remote,
			 const struct rxe_send_wr *wr, u64 *orig)
{
	int ret;

	ret = hodp_mr_atomic(remote->mr, wr->wr.atomic.remote_addr,
			     wr->opcode == IB_WR_ATOMIC_CMP_AND_SWP,
			     wr->wr.atomic.compare_add, wr->wr.atomic.swap,
			     orig);
	if (ret != -EAGAIN)
		return ret;
	ret = hodp_miss_unfaulted(ctx, remote, remote->addr, remote->addr + 8,
				  true, HODP_COPY_DST_FAULT);
	return ret == HODP_COPY_EVENT ? -EAGAIN : ret;
}

static enum ib_wc_status access_error(struct hodp_qp *resp)
{
	/* UC: the packet is dropped silently, the responder goes on. */
	if (resp->ibqp.qp_type == IB_QPT_UC)
		return IB_WC_SUCCESS;
	/* RC: a NAK-remote access error, and the responder is in error. */
	hodp_qp_error(resp);
	return IB_WC_REM_ACCESS_ERR;
}

/*
 * prepare_remote() of an rkey's segment (@remote, its MR referenced).
 * Return: true to go on; false on a fault event, a QP closing or the
 * access revoked, with the MR released and *status what hodp_respond()
 * returns (nothing of the message was done).
 */
static bool remote_ready(struct hodp_qp *req, struct hodp_qp *resp,
			 struct hodp_req_ctx *ctx, struct hodp_seg *remote,
			 bool write, enum ib_wc_opcode opcode,
			 enum ib_wc_status *status)
{
	int ret = prepare_remote(ctx, remote, 1, remote->len, write);

	/*
	 * Its access revoked meanwhile (a window invalidated, the MR being
	 * deregistered): refused before a receive WQE is claimed for it
	 * (one held for it from an earlier run stays held).
	 */
	if (!ret && !hodp_seg_dying(remote))
		return true;
	hodp_mr_put(remote->mr);
	if (ret == -EAGAIN)
		*status = IB_WC_SUCCESS;	/* a fault event */
	else if (ret)
		*status = copy_stopped(req, resp, ctx, false, opcode);
	else
		*status = access_error(resp);
	return false;
}

/**
 * hodp_respond() - execute the requester's current WQE at the responder
 * @req: the requester QP; its ctx holds the WQE and its resolved local
 *	segments
 * @resp: the responder QP, referenced, in a state that receives
 * @rnr: out: the responder had no receive WQE (RNR NAK): try again later
 *
 * Return: the status of the requester's completion (a UC requester gets
 * none: it completes successfully whatever happened here).
 */
enum ib_wc_status hodp_respond(struct hodp_qp *req, struct hodp_qp *resp,
			       bool *rnr)
{
	struct hodp_req_ctx *ctx = req->ctx;
	const struct rxe_send_wr *wr = &ctx->wqe.wr;
	u32 len = ctx->wqe.length;
	enum ib_wc_status status;
	struct hodp_seg remote;
	struct hodp_mr *mr;
	u32 mw_gen = 0, mark;
	u64 orig;
	int ret;

	switch (wr->opcode) {
	case IB_WR_SEND:
	case IB_WR_SEND_WITH_IMM:
	case IB_WR_SEND_WITH_INV:
		return deliver(req, resp, ctx, rnr);

	case IB_WR_RDMA_WRITE:
	case IB_WR_RDMA_WRITE_WITH_IMM:
		mr = remote_mr(resp, wr->wr.rdma.rkey, wr->wr.rdma.remote_addr,
			       len, IB_ACCESS_REMOTE_WRITE, &mw_gen);
		if (!mr && len)
			return access_error(resp);
		if (mr) {
			remote = remote_seg(mr, wr->wr.rdma.rkey, mw_gen,
					    wr->wr.rdma.remote_addr, len);
			if (!remote_ready(req, resp, ctx, &remote, true,
					  IB_WC_RECV_RDMA_WITH_IMM, &status))
				return status;
			if (!resume_ok(ctx, resp, mr, NULL, 0, mw_gen, &mark)) {
				hodp_mr_put(mr);
				return access_error(resp);
			}
		} else {
			mark = 0;	/* no byte to copy, none to resume */
		}
		if (wr->opcode == IB_WR_RDMA_WRITE_WITH_IMM) {
			/*
			 * It completes a receive WQE: own it before writing a
			 * byte, or a QP sharing the SRQ may take it between.
			 */
			status = claim_recv(req, resp, ctx,
					    IB_WC_RECV_RDMA_WITH_IMM, rnr);
			if (status != IB_WC_SUCCESS || *rnr ||
			    ctx->peer_closed) {
				if (mr)
					hodp_mr_put(mr);
				return status;
			}
			resume_recv(ctx, mark);
		}
		/*
		 * It may run again from where a page missed: a fault event
		 * (ctx->miss), the receive WQE it claimed held meanwhile.
		 */
		ret = 0;
		if (mr) {
			ret = hodp_copy_resumable(ctx, &remote, 1, ctx->lseg,
						  ctx->nlseg, len);
			resume_keep(ctx, ret, mark, mw_gen);
			hodp_mr_put(mr);
		}
		if (ret == HODP_COPY_EVENT) {
			if (wr->opcode == IB_WR_RDMA_WRITE_WITH_IMM)
				hold_recv(req, resp, ctx, mark,
					  IB_WC_RECV_RDMA_WITH_IMM);
			return IB_WC_SUCCESS;	/* a fault event: ctx->miss */
		}
		if (ret == HODP_COPY_STOPPED)
			return copy_stopped(req, resp, ctx, wr->opcode ==
					    IB_WR_RDMA_WRITE_WITH_IMM,
					    IB_WC_RECV_RDMA_WITH_IMM);
		if (wr->opcode == IB_WR_RDMA_WRITE_WITH_IMM)
			recv_complete(resp, req, ctx, !ret ? IB_WC_SUCCESS :
				      ret == HODP_COPY_DST_FAULT ?
				      IB_WC_LOC_PROT_ERR : IB_WC_REM_ABORT_ERR,
				      IB_WC_RECV_RDMA_WITH_IMM, ret ? 0 : len);
		if (ret == HODP_COPY_DST_FAULT)
			return access_error(resp);
		return ret ? IB_WC_LOC_PROT_ERR : IB_WC_SUCCESS;

	case IB_WR_RDMA_READ:
		mr = remote_mr(resp, wr->wr.rdma.rkey, wr->wr.rdma.remote_addr,
			       len, IB_ACCESS_REMOTE_READ, &mw_gen);
		if (!mr && len)
			return access_error(resp);
		ret = 0;
		if (mr) {
			remote = remote_seg(mr, wr->wr.rdma.rkey, mw_gen,
					    wr->wr.rdma.remote_addr, len);
			if (!remote_ready(req, resp, ctx, &remote, false,
					  IB_WC_RECV, &status))
				return status;
			if (!resume_ok(ctx, resp, mr, NULL, 0, mw_gen, &mark)) {
				hodp_mr_put(mr);
				return access_error(resp);
			}
			ret = hodp_copy_resumable(ctx, ctx->lseg, ctx->nlseg,
						  &remote, 1, len);
			resume_keep(ctx, ret, mark, mw_gen);
			hodp_mr_put(mr);
		}
		if (ret == HODP_COPY_EVENT)
			return IB_WC_SUCCESS;	/* a fault event: ctx->miss */
		if (ret == HODP_COPY_STOPPED)
			return copy_stopped(req, resp, ctx, false, IB_WC_RECV);
		if (ret == HODP_COPY_SRC_FAULT)
			return access_error(resp);
		return ret ? IB_WC_LOC_PROT_ERR : IB_WC_SUCCESS;

	case IB_WR_ATOMIC_CMP_AND_SWP:
	case IB_WR_ATOMIC_FETCH_AND_ADD:
		mr = remote_mr(resp, wr->wr.atomic.rkey,
			       wr->wr.atomic.remote_addr, 8,
			       IB_ACCESS_REMOTE_ATOMIC, &mw_gen);
		if (!mr)
			return access_error(resp);
		remote = remote_seg(mr, wr->wr.atomic.rkey, mw_gen,
				    wr->wr.atomic.remote_addr, 8);
		if (!remote_ready(req, resp, ctx, &remote, true, IB_WC_RECV,
				  &status))
			return status;
		ret = remote_atomic(ctx, &remote, wr, &orig);
		hodp_mr_put(mr);
		if (ret == -EAGAIN)
			return IB_WC_SUCCESS;	/* a fault event: ctx->miss */
		/* A QP closing. */
		if (ret == HODP_COPY_STOPPED)
			return copy_stopped(req, resp, ctx, false, IB_WC_RECV);
		/*
		 * ... or the page cannot be mirrored writable (its events
		 * over, or the access revoked).
		 */
		if (ret == HODP_COPY_DST_FAULT || ret == -EFAULT)
			return access_error(resp);
		if (ret) {
			hodp_qp_error(resp);
			return IB_WC_REM_INV_REQ_ERR;	/* misaligned */
		}
		/*
		 * Executed: whatever the responder does now, the result is
		 * the requester's (a retry would execute it twice), kept for
		 * the WQE's next run if a page of its buffer misses. It is
		 * written once the responder is left (run_wqe()): the
		 * responder's RESET and destroy do not wait for a fault in
		 * the requester's memory, and only the requester's own
		 * closing stops that copy.
		 */
		ctx->copied = 0;	/* bytes of the result written */
		ctx->atomic_done = true;
		ctx->atomic_result = orig;
		return IB_WC_SUCCESS;
	}
	return IB_WC_REM_INV_REQ_ERR;
}

/**
 * hodp_flush_held() - complete the receive a message stopped in, if any
 * @qp: a QP in the error state, or an SRQ's in RESET or being destroyed
 *	(the WQE is the SRQ's: not to be discarded with the QP's rings)
 *
 * It is the QP's oldest receive and no one's while held (a peer takes it
 * under rq_lock, or finds it gone): it goes at once, before the receives
 * still posted and the send queue's flush, whether or not a peer is still
 * executing against the QP.
 */
void hodp_flush_held(struct hodp_qp *qp)
{
	struct ib_wc wc = {
		.status = IB_WC_WR_FLUSH_ERR,
		.opcode = IB_WC_RECV,
		.qp = &qp->ibqp,
	};
	unsigned long flags;
	bool found;

	if (!READ_ONCE(qp->held.valid))
		return;
	spin_lock_irqsave(&qp->rq_lock, flags);
	found = qp->held.valid;
	if (found) {
		WRITE_ONCE(qp->held.valid, false);
		wc.wr_id = qp->held.rwqe.wr_id;
	}
	spin_unlock_irqrestore(&qp->rq_lock, flags);
	/* Outside rq_lock: a kernel ULP's handler may post a receive. */
	if (found)
		hodp_cq_post(qp->rcq, &wc, false);	/* full: lost, as all */
}

/**
 * hodp_flush_rq() - complete posted receives with a flush error
 * @qp: a QP in the error state, no peer executing against it, its held
 *	receive flushed already (hodp_flush_held(): it goes first)
 * @budget: at most this many (the user moves the producer index: one
 *	count of it, not a loop on it, and interrupts are off meanwhile)
 *
 * Return: receives may be left (flush again later).
 */
bool hodp_flush_rq(struct hodp_qp *qp, u32 budget)
{
	struct ib_wc wc = {
		.status = IB_WC_WR_FLUSH_ERR,
		.opcode = IB_WC_RECV,
		.qp = &qp->ibqp,
	};
	struct rxe_recv_wqe head;
	unsigned long flags;
	u32 n, i;

	if (!qp->rq)
		return false;
	spin_lock_irqsave(&qp->rq_lock, flags);
	n = min(hodp_queue_count(qp->rq), budget);
	for (i = 0; i < n; i++) {
		hodp_queue_peek(qp->rq, &head, sizeof(head));
		hodp_queue_pop(qp->rq);
		wc.wr_id = head.wr_id;
		if (hodp_cq_post(qp->rcq, &wc, false))
			break;	/* the CQ is full: the rest are lost */
	}
	spin_unlock_irqrestore(&qp->rq_lock, flags);
	return n == budget && i == n;
}
