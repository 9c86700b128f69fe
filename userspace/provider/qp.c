// SPDX-License-Identifier: GPL-2.0
/*
 * Queue pairs: creation maps the send ring and, without an SRQ, the
 * receive ring; state changes and queries are commands. Posting sends is
 * in send.c, receives in recv.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hodp.h"

struct hodp_create_qp_resp {
	struct ib_uverbs_create_qp_resp core;
	struct rxe_create_qp_resp drv;
};
_Static_assert(offsetof(struct hodp_create_qp_resp, drv) ==
	       sizeof(struct ib_uverbs_create_qp_resp),
	       "hodp's part of the response follows the core's");

/* Scatter entries that fit one element of a ring after its fixed part. */
static uint32_t sges_fitting(const struct hodp_ring *r, size_t fixed)
{
	return (hodp_ring_elem_size(r) - fixed) / sizeof(struct rxe_sge);
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

struct ibv_qp *hodp_create_qp_ex(struct ibv_context *ctx,
				 struct ibv_qp_init_attr_ex *attr)
{
	const uint32_t supported = IBV_QP_INIT_ATTR_PD |
				   IBV_QP_INIT_ATTR_CREATE_FLAGS |
				   IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
	struct hodp_create_qp_resp resp = {};
	struct ibv_create_qp cmd;
	uint32_t comp_mask;
	struct hodp_qp *qp;
	size_t fixed;
	int ret;

	/* Creation flags are accepted when there are none. */
	if ((attr->comp_mask & ~supported) ||
	    ((attr->comp_mask & IBV_QP_INIT_ATTR_CREATE_FLAGS) &&
	     attr->create_flags) ||
	    ((attr->comp_mask & IBV_QP_INIT_ATTR_SEND_OPS_FLAGS) &&
	     (attr->send_ops_flags &
	      ~hodp_supported_send_ops(attr->qp_type)))) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	qp = calloc(1, sizeof(*qp));
	if (!qp)
		return NULL;
	/*
	 * The command takes no creation flags (EINVAL): there are none, so
	 * it goes without the bit, which the caller gets back.
	 */
	comp_mask = attr->comp_mask;
	attr->comp_mask &= ~IBV_QP_INIT_ATTR_CREATE_FLAGS;
	ret = ibv_cmd_create_qp_ex(ctx, &qp->vqp, attr, &cmd, sizeof(cmd),
				   &resp.core, sizeof(resp));
	attr->comp_mask = comp_mask;
	if (ret)
		goto err;
	ret = hodp_ring_map(&qp->sq, ctx->cmd_fd, &resp.drv.sq_mi);
	if (!ret && !attr->srq)
		ret = hodp_ring_map(&qp->rq, ctx->cmd_fd, &resp.drv.rq_mi);
	if (ret)
		goto err_destroy;

	/* What the kernel granted, bounded by what a ring element holds. */
	fixed = offsetof(struct rxe_send_wqe, dma.sge);
	qp->sq_max_sge = min_u32(attr->cap.max_send_sge,
				 sges_fitting(&qp->sq, fixed));
	qp->sq_max_inline = min_u32(attr->cap.max_inline_data,
				    hodp_ring_elem_size(&qp->sq) - fixed);
	if (qp->rq.buf)
		qp->rq_max_sge = min_u32(attr->cap.max_recv_sge,
					 sges_fitting(&qp->rq,
						      offsetof(struct rxe_recv_wqe, dma.sge)));
	hodp_qp_set_state(qp, IBV_QPS_RESET);
	pthread_spin_init(&qp->sq_lock, PTHREAD_PROCESS_PRIVATE);
	pthread_spin_init(&qp->rq_lock, PTHREAD_PROCESS_PRIVATE);
	if (attr->comp_mask & IBV_QP_INIT_ATTR_SEND_OPS_FLAGS)
		hodp_init_qp_ex(qp, attr->send_ops_flags);
	return &qp->vqp.qp;

err_destroy:
	hodp_ring_unmap(&qp->sq);
	ibv_cmd_destroy_qp(&qp->vqp.qp);
err:
	free(qp);
	errno = ret;
	return NULL;
}

struct ibv_qp *hodp_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *attr)
{
	struct ibv_qp_init_attr_ex ex = {
		.qp_context = attr->qp_context,
		.send_cq = attr->send_cq,
		.recv_cq = attr->recv_cq,
		.srq = attr->srq,
		.cap = attr->cap,
		.qp_type = attr->qp_type,
		.sq_sig_all = attr->sq_sig_all,
		.comp_mask = IBV_QP_INIT_ATTR_PD,
		.pd = pd,
	};
	struct ibv_qp *qp = hodp_create_qp_ex(pd->context, &ex);

	if (qp)
		attr->cap = ex.cap;
	return qp;
}

int hodp_query_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int attr_mask,
		  struct ibv_qp_init_attr *init_attr)
{
	struct ibv_query_qp cmd;
	int ret = ibv_cmd_query_qp(qp, attr, attr_mask, init_attr, &cmd,
				   sizeof(cmd));

	if (!ret)
		hodp_qp_set_state(to_hqp(qp), attr->qp_state);
	return ret;
}

int hodp_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int attr_mask)
{
	struct ibv_modify_qp cmd;
	int ret = ibv_cmd_modify_qp(qp, attr, attr_mask, &cmd, sizeof(cmd));

	if (!ret && (attr_mask & IBV_QP_STATE))
		hodp_qp_set_state(to_hqp(qp), attr->qp_state);
	return ret;
}

int hodp_destroy_qp(struct ibv_qp *ibqp)
{
	struct hodp_qp *qp = to_hqp(ibqp);
	int ret = ibv_cmd_destroy_qp(ibqp);

	if (ret)
		return ret;
	hodp_ring_unmap(&qp->sq);
	hodp_ring_unmap(&qp->rq);
	pthread_spin_destroy(&qp->sq_lock);
	pthread_spin_destroy(&qp->rq_lock);
	free(qp);
	return 0;
}

int hodp_post_recv(struct ibv_qp *ibqp, struct ibv_recv_wr *wr,
		   struct ibv_recv_wr **bad_wr)
{
	struct hodp_qp *qp = to_hqp(ibqp);
	int ret = 0;

	/* Receives go to the SRQ; a QP in RESET takes none (IB spec). */
	if (!qp->rq.buf || hodp_qp_state(qp) == IBV_QPS_RESET) {
		*bad_wr = wr;
		return EINVAL;
	}
	pthread_spin_lock(&qp->rq_lock);
	for (; wr; wr = wr->next) {
		ret = hodp_post_one_recv(&qp->rq, qp->rq_max_sge, wr);
		if (ret) {
			*bad_wr = wr;
			break;
		}
	}
	pthread_spin_unlock(&qp->rq_lock);
	return ret;
}
