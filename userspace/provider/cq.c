// SPDX-License-Identifier: GPL-2.0
/*
 * Completion queues: a ring of struct ib_uverbs_wc the kernel produces and
 * the provider consumes in place. Arming goes to the kernel.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hodp.h"

struct hodp_create_cq_resp {
	struct ib_uverbs_create_cq_resp core;
	struct rxe_create_cq_resp drv;
};
_Static_assert(offsetof(struct hodp_create_cq_resp, drv) ==
	       sizeof(struct ib_uverbs_create_cq_resp),
	       "hodp's part of the response follows the core's");

struct hodp_resize_cq_resp {
	struct ib_uverbs_resize_cq_resp core;
	struct rxe_resize_cq_resp drv;
};
_Static_assert(offsetof(struct hodp_resize_cq_resp, drv) ==
	       sizeof(struct ib_uverbs_resize_cq_resp),
	       "hodp's part of the response follows the core's");

struct ibv_cq *hodp_create_cq(struct ibv_context *ctx, int cqe,
			      struct ibv_comp_channel *channel, int comp_vector)
{
	struct hodp_create_cq_resp resp = {};
	struct ibv_create_cq cmd;
	struct hodp_cq *cq;
	int ret;

	cq = calloc(1, sizeof(*cq));
	if (!cq)
		return NULL;
	ret = ibv_cmd_create_cq(ctx, cqe, channel, comp_vector, &cq->vcq.cq,
				&cmd, sizeof(cmd), &resp.core, sizeof(resp));
	if (ret)
		goto err;
	ret = hodp_ring_map(&cq->ring, ctx->cmd_fd, &resp.drv.mi);
	if (ret) {
		ibv_cmd_destroy_cq(&cq->vcq.cq);
		goto err;
	}
	pthread_spin_init(&cq->lock, PTHREAD_PROCESS_PRIVATE);
	return &cq->vcq.cq;
err:
	free(cq);
	errno = ret;
	return NULL;
}

/*
 * The kernel's completion in libibverbs' terms. Status, opcode and the
 * GRH and immediate flags have the same values in both; the kernel's
 * "with invalidate" bit is not libibverbs'.
 */
static void to_ibv_wc(struct ibv_wc *wc, const struct ib_uverbs_wc *u)
{
	memset(wc, 0, sizeof(*wc));
	wc->wr_id = u->wr_id;
	wc->status = u->status;
	wc->opcode = u->opcode;
	wc->vendor_err = u->vendor_err;
	wc->byte_len = u->byte_len;
	wc->imm_data = u->ex.imm_data;
	wc->qp_num = u->qp_num;
	wc->src_qp = u->src_qp;
	wc->wc_flags = u->wc_flags & (IBV_WC_GRH | IBV_WC_WITH_IMM);
	if (u->wc_flags & (1 << 2))	/* IB_WC_WITH_INVALIDATE */
		wc->wc_flags |= IBV_WC_WITH_INV;
	wc->pkey_index = u->pkey_index;
	wc->slid = u->slid;
	wc->sl = u->sl;
	wc->dlid_path_bits = u->dlid_path_bits;
}

int hodp_poll_cq(struct ibv_cq *ibcq, int num_entries, struct ibv_wc *wc)
{
	struct hodp_cq *cq = to_hcq(ibcq);
	struct ib_uverbs_wc u;
	int n = 0;

	pthread_spin_lock(&cq->lock);
	while (n < num_entries) {
		uint32_t cons = hodp_ring_cons(&cq->ring);

		if (hodp_ring_empty_at(&cq->ring, cons))
			break;
		memcpy(&u, hodp_ring_elem(&cq->ring, cons), sizeof(u));
		hodp_ring_consume(&cq->ring, cons);
		to_ibv_wc(&wc[n++], &u);
	}
	pthread_spin_unlock(&cq->lock);
	return n;
}

int hodp_req_notify_cq(struct ibv_cq *ibcq, int solicited_only)
{
	return ibv_cmd_req_notify_cq(ibcq, solicited_only);
}

/*
 * The kernel moves the pending completions into a new ring and answers
 * where it is; the old one is unmapped once the new one is in place.
 */
int hodp_resize_cq(struct ibv_cq *ibcq, int cqe)
{
	struct hodp_cq *cq = to_hcq(ibcq);
	struct hodp_resize_cq_resp resp = {};
	struct ibv_resize_cq cmd;
	struct hodp_ring old;
	int ret;

	pthread_spin_lock(&cq->lock);
	ret = ibv_cmd_resize_cq(ibcq, cqe, &cmd, sizeof(cmd), &resp.core,
				sizeof(resp));
	if (!ret) {
		old = cq->ring;
		ret = hodp_ring_map(&cq->ring, ibcq->context->cmd_fd,
				    &resp.drv.mi);
		if (ret)
			cq->ring = old;	/* unusable now, but still ours */
		else
			hodp_ring_unmap(&old);
	}
	pthread_spin_unlock(&cq->lock);
	return ret;
}

int hodp_destroy_cq(struct ibv_cq *ibcq)
{
	struct hodp_cq *cq = to_hcq(ibcq);
	int ret = ibv_cmd_destroy_cq(ibcq);

	if (ret)
		return ret;
	hodp_ring_unmap(&cq->ring);
	pthread_spin_destroy(&cq->lock);
	free(cq);
	return 0;
}
