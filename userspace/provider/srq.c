// SPDX-License-Identifier: GPL-2.0
/* Shared receive queues: a receive ring of their own (see recv.c). */
#include <errno.h>
#include <stdlib.h>

#include "hodp.h"

struct hodp_create_srq_resp {
	struct ib_uverbs_create_srq_resp core;
	struct rxe_create_srq_resp drv;
};
_Static_assert(offsetof(struct hodp_create_srq_resp, drv) ==
	       sizeof(struct ib_uverbs_create_srq_resp),
	       "hodp's part of the response follows the core's");

struct ibv_srq *hodp_create_srq(struct ibv_pd *pd,
				struct ibv_srq_init_attr *attr)
{
	struct hodp_create_srq_resp resp = {};
	struct ibv_create_srq cmd;
	struct hodp_srq *srq;
	int ret;

	srq = calloc(1, sizeof(*srq));
	if (!srq)
		return NULL;
	ret = ibv_cmd_create_srq(pd, &srq->vsrq.srq, attr, &cmd, sizeof(cmd),
				 &resp.core, sizeof(resp));
	if (ret)
		goto err;
	ret = hodp_ring_map(&srq->ring, pd->context->cmd_fd, &resp.drv.mi);
	if (ret) {
		ibv_cmd_destroy_srq(&srq->vsrq.srq);
		goto err;
	}
	srq->max_sge = attr->attr.max_sge;
	srq->vsrq.srq_num = resp.drv.srq_num;
	pthread_spin_init(&srq->lock, PTHREAD_PROCESS_PRIVATE);
	return &srq->vsrq.srq;
err:
	free(srq);
	errno = ret;
	return NULL;
}

int hodp_modify_srq(struct ibv_srq *srq, struct ibv_srq_attr *attr, int mask)
{
	struct ibv_modify_srq cmd;

	/* Resizing would replace the ring: hodp does not offer it. */
	if (mask & IBV_SRQ_MAX_WR)
		return EOPNOTSUPP;
	return ibv_cmd_modify_srq(srq, attr, mask, &cmd, sizeof(cmd));
}

int hodp_query_srq(struct ibv_srq *srq, struct ibv_srq_attr *attr)
{
	struct ibv_query_srq cmd;

	return ibv_cmd_query_srq(srq, attr, &cmd, sizeof(cmd));
}

int hodp_destroy_srq(struct ibv_srq *ibsrq)
{
	struct hodp_srq *srq = to_hsrq(ibsrq);
	int ret = ibv_cmd_destroy_srq(ibsrq);

	if (ret)
		return ret;
	hodp_ring_unmap(&srq->ring);
	pthread_spin_destroy(&srq->lock);
	free(srq);
	return 0;
}

int hodp_post_srq_recv(struct ibv_srq *ibsrq, struct ibv_recv_wr *wr,
		       struct ibv_recv_wr **bad_wr)
{
	struct hodp_srq *srq = to_hsrq(ibsrq);
	int ret = 0;

	pthread_spin_lock(&srq->lock);
	for (; wr; wr = wr->next) {
		ret = hodp_post_one_recv(&srq->ring, srq->max_sge, wr);
		if (ret) {
			*bad_wr = wr;
			break;
		}
	}
	pthread_spin_unlock(&srq->lock);
	return ret;
}
