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
