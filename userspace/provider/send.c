// SPDX-License-Identifier: GPL-2.0
/*
 * The send queue: work requests become struct rxe_send_wqe in the send
 * ring, then one doorbell per batch (a POST_SEND command with no work
 * request) tells the kernel to look. Two interfaces fill it: ibv_post_send()
 * and the ibv_wr_*() builders of an extended QP. hodp executes sends,
 * RDMA writes and reads, atomics, and binds and invalidations of memory
 * windows; it judges every WQE itself, so this side only keeps a WQE
 * within its ring element.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "hodp.h"

/* The doorbell: the write command POST_SEND carrying no work request. */
static int ring_doorbell(struct hodp_qp *qp)
{
	struct ib_uverbs_post_send_resp resp;
	struct {
		struct ib_uverbs_cmd_hdr hdr;
		struct ib_uverbs_post_send cmd;
	} req = {
		.hdr = {
			.command = IB_USER_VERBS_CMD_POST_SEND,
			.in_words = sizeof(req) / 4,
			.out_words = sizeof(resp) / 4,
		},
		.cmd = {
			.response = (uintptr_t)&resp,
			.qp_handle = qp->vqp.qp.handle,
			.wqe_size = sizeof(struct ib_uverbs_send_wr),
		},
	};

	if (write(qp->vqp.qp.context->cmd_fd, &req, sizeof(req)) != sizeof(req))
		return errno ? errno : EIO;
	return 0;
}

/* The fixed part of a send WQE for @opcode, in the slot at @prod. */
static struct rxe_send_wqe *start_wqe(struct hodp_qp *qp, uint32_t prod,
				      uint64_t wr_id, uint32_t opcode,
				      uint32_t send_flags)
{
	struct rxe_send_wqe *wqe = hodp_ring_elem(&qp->sq, prod);

	memset(wqe, 0, sizeof(*wqe));
	wqe->wr.wr_id = wr_id;
	wqe->wr.opcode = opcode;
	wqe->wr.send_flags = send_flags;
	return wqe;
}

static void set_rdma(struct rxe_send_wqe *wqe, uint32_t rkey, uint64_t addr)
{
	wqe->wr.wr.rdma.remote_addr = addr;
	wqe->wr.wr.rdma.rkey = rkey;
	wqe->iova = addr;
}

static void set_atomic(struct rxe_send_wqe *wqe, uint32_t rkey, uint64_t addr,
		       uint64_t compare_add, uint64_t swap)
{
	wqe->wr.wr.atomic.remote_addr = addr;
	wqe->wr.wr.atomic.rkey = rkey;
	wqe->wr.wr.atomic.compare_add = compare_add;
	wqe->wr.wr.atomic.swap = swap;
	wqe->iova = addr;
}

/*
 * A window's binding. A bind of length 0 (type 1: invalidation) may name
 * no MR.
 */
static void set_bind(struct rxe_send_wqe *wqe, struct ibv_mw *mw,
		     uint32_t rkey, const struct ibv_mw_bind_info *info)
{
	wqe->wr.wr.mw.addr = info->addr;
	wqe->wr.wr.mw.length = info->length;
	wqe->wr.wr.mw.mr_lkey = info->mr ? info->mr->lkey : 0;
	wqe->wr.wr.mw.mw_rkey = mw ? mw->rkey : 0;
	wqe->wr.wr.mw.rkey = rkey;
	wqe->wr.wr.mw.access = info->mw_access_flags;
}

static void set_ud(struct rxe_send_wqe *wqe, struct ibv_ah *ah, uint32_t qpn,
		   uint32_t qkey)
{
	wqe->wr.wr.ud.remote_qpn = qpn;
	wqe->wr.wr.ud.remote_qkey = qkey;
	wqe->wr.wr.ud.ah_num = ah ? to_hah(ah)->ah_num : 0;
}

static int set_sges(struct hodp_qp *qp, struct rxe_send_wqe *wqe,
		    const struct ibv_sge *sg, size_t n)
{
	uint32_t length = 0;
	size_t i;

	if (n > qp->sq_max_sge)
		return EINVAL;
	for (i = 0; i < n; i++) {
		wqe->dma.sge[i].addr = sg[i].addr;
		wqe->dma.sge[i].length = sg[i].length;
		wqe->dma.sge[i].lkey = sg[i].lkey;
		length += sg[i].length;
	}
	wqe->dma.num_sge = n;
	wqe->dma.length = length;
	wqe->dma.resid = length;
	return 0;
}

/*
 * Inline data: copied into the WQE after what it holds already; the
 * buffers are the caller's again once this returns.
 */
static int append_inline(struct hodp_qp *qp, struct rxe_send_wqe *wqe,
			 const struct ibv_data_buf *bufs, size_t n)
{
	size_t length = wqe->dma.length, i;

	for (i = 0; i < n; i++) {
		if (bufs[i].length > qp->sq_max_inline - length)
			return EINVAL;
		memcpy(wqe->dma.inline_data + length, bufs[i].addr,
		       bufs[i].length);
		length += bufs[i].length;
	}
	wqe->dma.length = length;
	wqe->dma.resid = length;
	return 0;
}

/* Inline data replacing whatever the WQE carried. */
static int set_inline(struct hodp_qp *qp, struct rxe_send_wqe *wqe,
		      const struct ibv_data_buf *bufs, size_t n)
{
	wqe->dma.length = 0;
	wqe->dma.num_sge = 0;
	wqe->wr.send_flags |= IBV_SEND_INLINE;
	return append_inline(qp, wqe, bufs, n);
}

/* ---- ibv_post_send() ---- */

/*
 * UC has no responses (IB spec): a READ or an atomic is refused when
 * posted. What else a QP type cannot do the kernel completes with an error.
 */
static bool hodp_opcode_allowed(struct hodp_qp *qp, enum ibv_wr_opcode opcode)
{
	if (qp->vqp.qp.qp_type != IBV_QPT_UC)
		return true;
	return opcode != IBV_WR_RDMA_READ &&
	       opcode != IBV_WR_ATOMIC_CMP_AND_SWP &&
	       opcode != IBV_WR_ATOMIC_FETCH_AND_ADD;
}

static int post_one_send(struct hodp_qp *qp, uint32_t prod,
			 const struct ibv_send_wr *wr)
{
	struct rxe_send_wqe *wqe;
	int i, ret;

	if (wr->num_sge < 0 || !hodp_opcode_allowed(qp, wr->opcode))
		return EINVAL;
	wqe = start_wqe(qp, prod, wr->wr_id, wr->opcode, wr->send_flags);
	switch (wr->opcode) {
	case IBV_WR_RDMA_WRITE_WITH_IMM:
		wqe->wr.ex.imm_data = wr->imm_data;
		/* fall through */
	case IBV_WR_RDMA_WRITE:
	case IBV_WR_RDMA_READ:
		set_rdma(wqe, wr->wr.rdma.rkey, wr->wr.rdma.remote_addr);
		break;
	case IBV_WR_ATOMIC_CMP_AND_SWP:
	case IBV_WR_ATOMIC_FETCH_AND_ADD:
		set_atomic(wqe, wr->wr.atomic.rkey, wr->wr.atomic.remote_addr,
			   wr->wr.atomic.compare_add, wr->wr.atomic.swap);
		break;
	case IBV_WR_SEND_WITH_IMM:
		wqe->wr.ex.imm_data = wr->imm_data;
		break;
	case IBV_WR_SEND_WITH_INV:
	case IBV_WR_LOCAL_INV:
		wqe->wr.ex.invalidate_rkey = wr->invalidate_rkey;
		break;
	case IBV_WR_BIND_MW:
		set_bind(wqe, wr->bind_mw.mw, wr->bind_mw.rkey,
			 &wr->bind_mw.bind_info);
		return 0;	/* no gather list */
	default:
		break;	/* the kernel completes what it cannot do with an error */
	}
	if (qp->vqp.qp.qp_type == IBV_QPT_UD)
		set_ud(wqe, wr->wr.ud.ah, wr->wr.ud.remote_qpn,
		       wr->wr.ud.remote_qkey);
	if (!(wr->send_flags & IBV_SEND_INLINE))
		return set_sges(qp, wqe, wr->sg_list, wr->num_sge);
	/* Inline: the gather list is read now, one buffer at a time. */
	wqe->dma.length = 0;
	for (i = 0; i < wr->num_sge; i++) {
		struct ibv_data_buf buf = {
			.addr = (void *)(uintptr_t)wr->sg_list[i].addr,
			.length = wr->sg_list[i].length,
		};

		ret = append_inline(qp, wqe, &buf, 1);
		if (ret)
			return ret;
	}
	wqe->wr.send_flags |= IBV_SEND_INLINE;
	return 0;
}

int hodp_post_send(struct ibv_qp *ibqp, struct ibv_send_wr *wr,
		   struct ibv_send_wr **bad_wr)
{
	struct hodp_qp *qp = to_hqp(ibqp);
	uint32_t prod, start;
	int ret = 0, db;

	if (!hodp_may_post_send(qp)) {
		*bad_wr = wr;
		return EINVAL;
	}
	pthread_spin_lock(&qp->sq_lock);
	prod = start = hodp_ring_prod(&qp->sq);
	for (; wr; wr = wr->next) {
		if (hodp_ring_full_at(&qp->sq, prod))
			ret = ENOMEM;
		else
			ret = post_one_send(qp, prod, wr);
		if (ret) {
			*bad_wr = wr;
			break;
		}
		prod = (prod + 1) & qp->sq.mask;
		/* Published one by one: the kernel may start on the first. */
		hodp_ring_publish(&qp->sq, prod);
	}
	if (prod != start) {
		db = ring_doorbell(qp);
		if (!ret)
			ret = db;
	}
	pthread_spin_unlock(&qp->sq_lock);
	return ret;
}

/* ---- ibv_wr_*(): a batch built between wr_start and wr_complete ---- */

static struct rxe_send_wqe *batch_next(struct ibv_qp_ex *qpx, uint32_t opcode)
{
	struct hodp_qp *qp = ex_to_hqp(qpx);

	qp->batch_wqe = NULL;
	if (qp->batch_err)
		return NULL;
	if (hodp_ring_full_at(&qp->sq, qp->batch_prod)) {
		qp->batch_err = ENOMEM;
		return NULL;
	}
	qp->batch_wqe = start_wqe(qp, qp->batch_prod, qpx->wr_id, opcode,
				  qpx->wr_flags);
	qp->batch_prod = (qp->batch_prod + 1) & qp->sq.mask;
	return qp->batch_wqe;
}

static void wr_start(struct ibv_qp_ex *qpx)
{
	struct hodp_qp *qp = ex_to_hqp(qpx);

	pthread_spin_lock(&qp->sq_lock);
	qp->batch_start = qp->batch_prod = hodp_ring_prod(&qp->sq);
	qp->batch_wqe = NULL;
	qp->batch_err = 0;
}

static int wr_complete(struct ibv_qp_ex *qpx)
{
	struct hodp_qp *qp = ex_to_hqp(qpx);
	int ret = qp->batch_err;

	if (!ret && !hodp_may_post_send(qp))
		ret = EINVAL;
	/* All or nothing: a batch with an error is not published. */
	if (!ret && qp->batch_prod != qp->batch_start) {
		hodp_ring_publish(&qp->sq, qp->batch_prod);
		ret = ring_doorbell(qp);
	}
	qp->batch_wqe = NULL;
	pthread_spin_unlock(&qp->sq_lock);
	return ret;
}

static void wr_abort(struct ibv_qp_ex *qpx)
{
	struct hodp_qp *qp = ex_to_hqp(qpx);

	qp->batch_wqe = NULL;
	pthread_spin_unlock(&qp->sq_lock);
}

static void wr_send(struct ibv_qp_ex *qpx)
{
	batch_next(qpx, IBV_WR_SEND);
}

static void wr_send_imm(struct ibv_qp_ex *qpx, __be32 imm)
{
	struct rxe_send_wqe *wqe = batch_next(qpx, IBV_WR_SEND_WITH_IMM);

	if (wqe)
		wqe->wr.ex.imm_data = imm;
}

static void wr_rdma_write(struct ibv_qp_ex *qpx, uint32_t rkey, uint64_t addr)
{
	struct rxe_send_wqe *wqe = batch_next(qpx, IBV_WR_RDMA_WRITE);

	if (wqe)
		set_rdma(wqe, rkey, addr);
}

static void wr_rdma_write_imm(struct ibv_qp_ex *qpx, uint32_t rkey,
			      uint64_t addr, __be32 imm)
{
	struct rxe_send_wqe *wqe = batch_next(qpx, IBV_WR_RDMA_WRITE_WITH_IMM);

	if (wqe) {
		set_rdma(wqe, rkey, addr);
		wqe->wr.ex.imm_data = imm;
	}
}

static void wr_rdma_read(struct ibv_qp_ex *qpx, uint32_t rkey, uint64_t addr)
{
	struct rxe_send_wqe *wqe = batch_next(qpx, IBV_WR_RDMA_READ);

	if (wqe)
		set_rdma(wqe, rkey, addr);
}

static void wr_atomic_cmp_swp(struct ibv_qp_ex *qpx, uint32_t rkey,
			      uint64_t addr, uint64_t compare, uint64_t swap)
{
	struct rxe_send_wqe *wqe = batch_next(qpx, IBV_WR_ATOMIC_CMP_AND_SWP);

	if (wqe)
		set_atomic(wqe, rkey, addr, compare, swap);
}

static void wr_atomic_fetch_add(struct ibv_qp_ex *qpx, uint32_t rkey,
				uint64_t addr, uint64_t add)
{
	struct rxe_send_wqe *wqe = batch_next(qpx, IBV_WR_ATOMIC_FETCH_AND_ADD);

	if (wqe)
		set_atomic(wqe, rkey, addr, add, 0);
}

static void wr_send_inv(struct ibv_qp_ex *qpx, uint32_t rkey)
{
	struct rxe_send_wqe *wqe = batch_next(qpx, IBV_WR_SEND_WITH_INV);

	if (wqe)
		wqe->wr.ex.invalidate_rkey = rkey;
}

static void wr_local_inv(struct ibv_qp_ex *qpx, uint32_t rkey)
{
	struct rxe_send_wqe *wqe = batch_next(qpx, IBV_WR_LOCAL_INV);

	if (wqe)
		wqe->wr.ex.invalidate_rkey = rkey;
}

static void wr_bind_mw(struct ibv_qp_ex *qpx, struct ibv_mw *mw, uint32_t rkey,
		       const struct ibv_mw_bind_info *info)
{
	struct rxe_send_wqe *wqe = batch_next(qpx, IBV_WR_BIND_MW);

	if (wqe)
		set_bind(wqe, mw, rkey, info);
}

static void wr_set_ud_addr(struct ibv_qp_ex *qpx, struct ibv_ah *ah,
			   uint32_t qpn, uint32_t qkey)
{
	struct hodp_qp *qp = ex_to_hqp(qpx);

	if (qp->batch_wqe)
		set_ud(qp->batch_wqe, ah, qpn, qkey);
}

static void batch_result(struct hodp_qp *qp, int ret)
{
	if (ret && !qp->batch_err)
		qp->batch_err = ret;
}

static void wr_set_sge(struct ibv_qp_ex *qpx, uint32_t lkey, uint64_t addr,
		       uint32_t length)
{
	struct hodp_qp *qp = ex_to_hqp(qpx);
	struct ibv_sge sge = { .addr = addr, .length = length, .lkey = lkey };

	if (qp->batch_wqe)
		batch_result(qp, set_sges(qp, qp->batch_wqe, &sge, 1));
}

static void wr_set_sge_list(struct ibv_qp_ex *qpx, size_t n,
			    const struct ibv_sge *sg)
{
	struct hodp_qp *qp = ex_to_hqp(qpx);

	if (qp->batch_wqe)
		batch_result(qp, set_sges(qp, qp->batch_wqe, sg, n));
}

static void wr_set_inline_data(struct ibv_qp_ex *qpx, void *addr,
			       size_t length)
{
	struct hodp_qp *qp = ex_to_hqp(qpx);
	struct ibv_data_buf buf = { .addr = addr, .length = length };

	if (qp->batch_wqe)
		batch_result(qp, set_inline(qp, qp->batch_wqe, &buf, 1));
}

static void wr_set_inline_data_list(struct ibv_qp_ex *qpx, size_t n,
				    const struct ibv_data_buf *bufs)
{
	struct hodp_qp *qp = ex_to_hqp(qpx);

	if (qp->batch_wqe)
		batch_result(qp, set_inline(qp, qp->batch_wqe, bufs, n));
}

/**
 * hodp_supported_send_ops() - the IBV_QP_EX_WITH_* operations hodp executes
 *	on a QP of a type
 * @qp_type: the QP's type (UC: no READ, no atomics)
 */
uint64_t hodp_supported_send_ops(enum ibv_qp_type qp_type)
{
	uint64_t ops = IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_SEND_WITH_IMM |
		       IBV_QP_EX_WITH_RDMA_WRITE |
		       IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM;

	/* Memory windows: connected QPs (as rxe binds). */
	if (qp_type == IBV_QPT_RC || qp_type == IBV_QPT_UC)
		ops |= IBV_QP_EX_WITH_SEND_WITH_INV | IBV_QP_EX_WITH_LOCAL_INV |
		       IBV_QP_EX_WITH_BIND_MW;
	if (qp_type == IBV_QPT_UC)
		return ops;
	return ops | IBV_QP_EX_WITH_RDMA_READ |
	       IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP |
	       IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD;
}

/**
 * hodp_init_qp_ex() - make a QP an extended one, with the builders asked for
 * @qp: the QP, just created
 * @ops: IBV_QP_EX_WITH_* flags (checked against hodp_supported_send_ops())
 */
void hodp_init_qp_ex(struct hodp_qp *qp, uint64_t ops)
{
	struct ibv_qp_ex *x = &qp->vqp.qp_ex;

	x->wr_start = wr_start;
	x->wr_complete = wr_complete;
	x->wr_abort = wr_abort;
	if (ops & IBV_QP_EX_WITH_SEND)
		x->wr_send = wr_send;
	if (ops & IBV_QP_EX_WITH_SEND_WITH_IMM)
		x->wr_send_imm = wr_send_imm;
	if (ops & IBV_QP_EX_WITH_RDMA_WRITE)
		x->wr_rdma_write = wr_rdma_write;
	if (ops & IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM)
		x->wr_rdma_write_imm = wr_rdma_write_imm;
	if (ops & IBV_QP_EX_WITH_RDMA_READ)
		x->wr_rdma_read = wr_rdma_read;
	if (ops & IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP)
		x->wr_atomic_cmp_swp = wr_atomic_cmp_swp;
	if (ops & IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD)
		x->wr_atomic_fetch_add = wr_atomic_fetch_add;
	if (ops & IBV_QP_EX_WITH_SEND_WITH_INV)
		x->wr_send_inv = wr_send_inv;
	if (ops & IBV_QP_EX_WITH_LOCAL_INV)
		x->wr_local_inv = wr_local_inv;
	if (ops & IBV_QP_EX_WITH_BIND_MW)
		x->wr_bind_mw = wr_bind_mw;
	x->wr_set_sge = wr_set_sge;
	x->wr_set_sge_list = wr_set_sge_list;
	x->wr_set_inline_data = wr_set_inline_data;
	x->wr_set_inline_data_list = wr_set_inline_data_list;
	if (qp->vqp.qp.qp_type == IBV_QPT_UD)
		x->wr_set_ud_addr = wr_set_ud_addr;
	qp->vqp.comp_mask |= VERBS_QP_EX;
}
