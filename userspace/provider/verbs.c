// SPDX-License-Identifier: GPL-2.0
/*
 * Protection domains, memory regions and address handles: plain commands
 * to the kernel. An address handle's number (from the kernel) is what a UD
 * work request carries; the kernel resolves it.
 */
#include <errno.h>
#include <stdlib.h>

#include "hodp.h"

struct ibv_pd *hodp_alloc_pd(struct ibv_context *ctx)
{
	struct ib_uverbs_alloc_pd_resp resp;
	struct ibv_alloc_pd cmd;
	struct ibv_pd *pd = calloc(1, sizeof(*pd));
	int ret;

	if (!pd)
		return NULL;
	ret = ibv_cmd_alloc_pd(ctx, pd, &cmd, sizeof(cmd), &resp, sizeof(resp));
	if (ret) {
		free(pd);
		errno = ret;
		return NULL;
	}
	return pd;
}

int hodp_dealloc_pd(struct ibv_pd *pd)
{
	int ret = ibv_cmd_dealloc_pd(pd);

	if (!ret)
		free(pd);
	return ret;
}

struct ibv_mr *hodp_reg_mr(struct ibv_pd *pd, void *addr, size_t length,
			   uint64_t hca_va, int access)
{
	struct ib_uverbs_reg_mr_resp resp;
	struct ibv_reg_mr cmd;
	struct verbs_mr *vmr = calloc(1, sizeof(*vmr));
	int ret;

	if (!vmr)
		return NULL;
	ret = ibv_cmd_reg_mr(pd, addr, length, hca_va, access, vmr, &cmd,
			     sizeof(cmd), &resp, sizeof(resp));
	if (ret) {
		free(vmr);
		errno = ret;
		return NULL;
	}
	return &vmr->ibv_mr;
}

int hodp_dereg_mr(struct verbs_mr *vmr)
{
	int ret = ibv_cmd_dereg_mr(vmr);

	if (!ret)
		free(vmr);
	return ret;
}

/*
 * Memory windows: the kernel keeps them (and judges every bind); a window
 * of either type is bound by a BIND_MW work request in the send queue.
 */
struct ibv_mw *hodp_alloc_mw(struct ibv_pd *pd, enum ibv_mw_type type)
{
	struct ib_uverbs_alloc_mw_resp resp;
	struct ibv_alloc_mw cmd;
	struct ibv_mw *mw = calloc(1, sizeof(*mw));
	int ret;

	if (!mw)
		return NULL;
	ret = ibv_cmd_alloc_mw(pd, type, mw, &cmd, sizeof(cmd), &resp,
			       sizeof(resp));
	if (ret) {
		free(mw);
		errno = ret;
		return NULL;
	}
	return mw;
}

int hodp_dealloc_mw(struct ibv_mw *mw)
{
	int ret = ibv_cmd_dealloc_mw(mw);

	if (!ret)
		free(mw);
	return ret;
}

/*
 * ibv_bind_mw(): a type 1 window, bound by a BIND_MW work request with the
 * next rkey, which the window takes at once (libibverbs' contract: the
 * user undoes it if the bind completes in error).
 */
int hodp_bind_mw(struct ibv_qp *qp, struct ibv_mw *mw,
		 struct ibv_mw_bind *mw_bind)
{
	struct ibv_send_wr wr = {
		.wr_id = mw_bind->wr_id,
		.opcode = IBV_WR_BIND_MW,
		.send_flags = mw_bind->send_flags,
		.bind_mw = {
			.mw = mw,
			.rkey = ibv_inc_rkey(mw->rkey),
			.bind_info = mw_bind->bind_info,
		},
	};
	struct ibv_send_wr *bad;
	int ret;

	if (mw->type != IBV_MW_TYPE_1 ||
	    (mw_bind->bind_info.mw_access_flags & IBV_ACCESS_ZERO_BASED))
		return EINVAL;
	ret = hodp_post_send(qp, &wr, &bad);
	if (ret)
		return ret;
	mw->rkey = wr.bind_mw.rkey;
	return 0;
}

/* Prefetch of ODP MRs: the kernel does it all (hodp_prefetch.c). */
int hodp_advise_mr(struct ibv_pd *pd, enum ibv_advise_mr_advice advice,
		   uint32_t flags, struct ibv_sge *sg_list, uint32_t num_sge)
{
	return ibv_cmd_advise_mr(pd, advice, flags, sg_list, num_sge);
}

/* The kernel's answer: its own, then hodp's (the AH's number). */
struct hodp_create_ah_resp {
	struct ib_uverbs_create_ah_resp core;
	struct rxe_create_ah_resp drv;
};
_Static_assert(offsetof(struct hodp_create_ah_resp, drv) ==
	       sizeof(struct ib_uverbs_create_ah_resp),
	       "hodp's part of the response follows the core's");

struct ibv_ah *hodp_create_ah(struct ibv_pd *pd, struct ibv_ah_attr *attr)
{
	struct hodp_create_ah_resp resp = {};
	struct hodp_ah *ah;
	int ret;

	/* RoCE: an address is a GID. */
	if (!attr->is_global) {
		errno = EINVAL;
		return NULL;
	}
	ah = calloc(1, sizeof(*ah));
	if (!ah)
		return NULL;
	ret = ibv_cmd_create_ah(pd, &ah->ibah, attr, &resp.core, sizeof(resp));
	if (ret) {
		free(ah);
		errno = ret;
		return NULL;
	}
	ah->ah_num = resp.drv.ah_num;
	if (!ah->ah_num) {
		/* A kernel that does not number AHs is not hodp's. */
		ibv_cmd_destroy_ah(&ah->ibah);
		free(ah);
		errno = EPROTO;
		return NULL;
	}
	return &ah->ibah;
}

int hodp_destroy_ah(struct ibv_ah *ibah)
{
	int ret = ibv_cmd_destroy_ah(ibah);

	if (!ret)
		free(to_hah(ibah));
	return ret;
}
