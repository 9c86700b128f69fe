// SPDX-License-Identifier: GPL-2.0
/*
 * Completion queues: a ring of struct ib_uverbs_wc the kernel produces and
 * the provider consumes in place. Arming goes to the kernel. An extended
 * CQ (ibv_create_cq_ex) is the same ring, also read one completion at a
 * time through ibv_start_poll() .. ibv_end_poll().
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
 * The kernel's completion flags in libibverbs' terms: the GRH and
 * immediate flags have the same values in both; the kernel's "with
 * invalidate" bit is not libibverbs'.
 */
static unsigned int wc_flags_of(const struct ib_uverbs_wc *u)
{
	unsigned int flags = u->wc_flags & (IBV_WC_GRH | IBV_WC_WITH_IMM);

	if (u->wc_flags & (1 << 2))	/* IB_WC_WITH_INVALIDATE */
		flags |= IBV_WC_WITH_INV;
	return flags;
}

/*
 * The kernel's completion in libibverbs' terms. Status and opcode have the
 * same values in both.
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
	wc->wc_flags = wc_flags_of(u);
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

/* ---- The extended CQ: one completion at a time ---- */

static inline struct hodp_cq *ex_to_hcq(struct ibv_cq_ex *cqx)
{
	return container_of(cqx, struct hodp_cq, vcq.cq_ex);
}

/* The CQE at the consumer index, if any, becomes the current one. */
static int load_cur(struct hodp_cq *cq)
{
	uint32_t cons = hodp_ring_cons(&cq->ring);

	cq->cur_valid = false;
	if (hodp_ring_empty_at(&cq->ring, cons))
		return ENOENT;
	memcpy(&cq->cur, hodp_ring_elem(&cq->ring, cons), sizeof(cq->cur));
	cq->cur_index = cons;
	cq->cur_valid = true;
	cq->vcq.cq_ex.wr_id = cq->cur.wr_id;
	cq->vcq.cq_ex.status = cq->cur.status;
	return 0;
}

static void consume_cur(struct hodp_cq *cq)
{
	if (cq->cur_valid)
		hodp_ring_consume(&cq->ring, cq->cur_index);
	cq->cur_valid = false;
}

/* The lock is held from a successful start to the end (ibv_end_poll). */
static int cq_start_poll(struct ibv_cq_ex *cqx, struct ibv_poll_cq_attr *attr)
{
	struct hodp_cq *cq = ex_to_hcq(cqx);
	int ret;

	if (attr->comp_mask)
		return EINVAL;
	pthread_spin_lock(&cq->lock);
	ret = load_cur(cq);
	if (ret)
		pthread_spin_unlock(&cq->lock);
	return ret;
}

static int cq_next_poll(struct ibv_cq_ex *cqx)
{
	struct hodp_cq *cq = ex_to_hcq(cqx);

	consume_cur(cq);
	return load_cur(cq);
}

static void cq_end_poll(struct ibv_cq_ex *cqx)
{
	struct hodp_cq *cq = ex_to_hcq(cqx);

	consume_cur(cq);
	pthread_spin_unlock(&cq->lock);
}

static enum ibv_wc_opcode cq_read_opcode(struct ibv_cq_ex *cqx)
{
	return ex_to_hcq(cqx)->cur.opcode;
}

static uint32_t cq_read_vendor_err(struct ibv_cq_ex *cqx)
{
	return ex_to_hcq(cqx)->cur.vendor_err;
}

static uint32_t cq_read_byte_len(struct ibv_cq_ex *cqx)
{
	return ex_to_hcq(cqx)->cur.byte_len;
}

static __be32 cq_read_imm_data(struct ibv_cq_ex *cqx)
{
	return ex_to_hcq(cqx)->cur.ex.imm_data;
}

static uint32_t cq_read_qp_num(struct ibv_cq_ex *cqx)
{
	return ex_to_hcq(cqx)->cur.qp_num;
}

static uint32_t cq_read_src_qp(struct ibv_cq_ex *cqx)
{
	return ex_to_hcq(cqx)->cur.src_qp;
}

static unsigned int cq_read_wc_flags(struct ibv_cq_ex *cqx)
{
	return wc_flags_of(&ex_to_hcq(cqx)->cur);
}

static uint32_t cq_read_slid(struct ibv_cq_ex *cqx)
{
	return ex_to_hcq(cqx)->cur.slid;
}

static uint8_t cq_read_sl(struct ibv_cq_ex *cqx)
{
	return ex_to_hcq(cqx)->cur.sl;
}

static uint8_t cq_read_dlid_path_bits(struct ibv_cq_ex *cqx)
{
	return ex_to_hcq(cqx)->cur.dlid_path_bits;
}

struct hodp_create_cq_ex_resp {
	struct ib_uverbs_ex_create_cq_resp core;
	struct rxe_create_cq_resp drv;
};
_Static_assert(offsetof(struct hodp_create_cq_ex_resp, drv) ==
	       sizeof(struct ib_uverbs_ex_create_cq_resp),
	       "hodp's part of the response follows the core's");

/*
 * What a completion of hodp carries: the standard fields, no timestamps,
 * VLAN or flow tags; and no creation flags.
 */
struct ibv_cq_ex *hodp_create_cq_ex(struct ibv_context *ctx,
				    struct ibv_cq_init_attr_ex *attr)
{
	struct hodp_create_cq_ex_resp resp = {};
	struct ibv_cq_ex *x;
	struct hodp_cq *cq;
	int ret;

	if ((attr->wc_flags & ~(uint64_t)IBV_WC_STANDARD_FLAGS) ||
	    (attr->comp_mask & ~(uint32_t)IBV_CQ_INIT_ATTR_MASK_FLAGS) ||
	    ((attr->comp_mask & IBV_CQ_INIT_ATTR_MASK_FLAGS) && attr->flags)) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	cq = calloc(1, sizeof(*cq));
	if (!cq)
		return NULL;
	ret = ibv_cmd_create_cq_ex(ctx, attr, &cq->vcq, NULL, 0, &resp.core,
				   sizeof(resp), 0);
	if (ret)
		goto err;
	ret = hodp_ring_map(&cq->ring, ctx->cmd_fd, &resp.drv.mi);
	if (ret) {
		ibv_cmd_destroy_cq(&cq->vcq.cq);
		goto err;
	}
	pthread_spin_init(&cq->lock, PTHREAD_PROCESS_PRIVATE);
	x = &cq->vcq.cq_ex;
	x->start_poll = cq_start_poll;
	x->next_poll = cq_next_poll;
	x->end_poll = cq_end_poll;
	x->read_opcode = cq_read_opcode;
	x->read_vendor_err = cq_read_vendor_err;
	x->read_wc_flags = cq_read_wc_flags;
	x->read_byte_len = cq_read_byte_len;
	x->read_imm_data = cq_read_imm_data;
	x->read_qp_num = cq_read_qp_num;
	x->read_src_qp = cq_read_src_qp;
	x->read_slid = cq_read_slid;
	x->read_sl = cq_read_sl;
	x->read_dlid_path_bits = cq_read_dlid_path_bits;
	return x;
err:
	free(cq);
	errno = ret;
	return NULL;
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
