/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hodp's libibverbs provider: its objects. The kernel side speaks the
 * Soft-RoCE user ABI (uverbs ABI 2, <rdma/rdma_user_rxe.h>): work and
 * completion queues are rings in memory mapped from the uverbs file, the
 * provider produces WQEs and consumes CQEs in place, and the only commands
 * on the data path are the send doorbell and arming a CQ.
 */
#ifndef HODP_PROVIDER_H
#define HODP_PROVIDER_H

#include <pthread.h>
#include <stddef.h>
#include <rdma/rdma_user_rxe.h>

#include "verbs_private.h"
#include "ring.h"

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

/* The uverbs ABI version of hodp's kernel side (Soft-RoCE's). */
#define HODP_ABI_VERSION	2

struct hodp_device {
	struct verbs_device vdev;
};

struct hodp_context {
	struct verbs_context vctx;
};

struct hodp_cq {
	struct verbs_cq vcq;
	struct hodp_ring ring;
	pthread_spinlock_t lock;
	/* ibv_start_poll() .. ibv_end_poll(), under lock: the current CQE. */
	struct ib_uverbs_wc cur;
	uint32_t cur_index;
	bool cur_valid;
};

struct hodp_srq {
	struct verbs_srq vsrq;
	struct hodp_ring ring;
	pthread_spinlock_t lock;
	uint32_t max_sge;
};

struct hodp_qp {
	struct verbs_qp vqp;
	struct hodp_ring sq, rq;	/* rq unmapped with an SRQ */
	pthread_spinlock_t sq_lock, rq_lock;
	uint32_t sq_max_sge, sq_max_inline, rq_max_sge;
	/*
	 * The state this process last set or queried (hodp_qp_state()): it
	 * decides what may be posted. An error the kernel moved the QP to
	 * meanwhile allows posting anyway (it flushes).
	 */
	int state;
	/* The ibv_wr_*() batch between wr_start and wr_complete/abort. */
	uint32_t batch_start;		/* producer index at wr_start */
	uint32_t batch_prod;		/* producer index after the batch */
	struct rxe_send_wqe *batch_wqe;	/* the WQE being built, or NULL */
	int batch_err;
};

struct hodp_ah {
	struct ibv_ah ibah;
	uint32_t ah_num;
};

static inline struct hodp_cq *to_hcq(struct ibv_cq *cq)
{
	return container_of(cq, struct hodp_cq, vcq.cq);
}

static inline struct hodp_qp *to_hqp(struct ibv_qp *qp)
{
	return container_of(qp, struct hodp_qp, vqp.qp);
}

static inline struct hodp_qp *ex_to_hqp(struct ibv_qp_ex *qpx)
{
	return container_of(qpx, struct hodp_qp, vqp.qp_ex);
}

static inline enum ibv_qp_state hodp_qp_state(struct hodp_qp *qp)
{
	return __atomic_load_n(&qp->state, __ATOMIC_RELAXED);
}

static inline void hodp_qp_set_state(struct hodp_qp *qp,
				     enum ibv_qp_state state)
{
	__atomic_store_n(&qp->state, state, __ATOMIC_RELAXED);
}

/* The IB spec: sends may be posted from RTS on (RESET, INIT, RTR refuse). */
static inline int hodp_may_post_send(struct hodp_qp *qp)
{
	enum ibv_qp_state s = hodp_qp_state(qp);

	return s != IBV_QPS_RESET && s != IBV_QPS_INIT && s != IBV_QPS_RTR;
}

static inline struct hodp_srq *to_hsrq(struct ibv_srq *srq)
{
	return container_of(srq, struct hodp_srq, vsrq.srq);
}

static inline struct hodp_ah *to_hah(struct ibv_ah *ah)
{
	return container_of(ah, struct hodp_ah, ibah);
}

/* verbs.c: PD, MR, MW, AH */
struct ibv_pd *hodp_alloc_pd(struct ibv_context *ctx);
int hodp_dealloc_pd(struct ibv_pd *pd);
struct ibv_mr *hodp_reg_mr(struct ibv_pd *pd, void *addr, size_t length,
			   uint64_t hca_va, int access);
int hodp_dereg_mr(struct verbs_mr *vmr);
int hodp_advise_mr(struct ibv_pd *pd, enum ibv_advise_mr_advice advice,
		   uint32_t flags, struct ibv_sge *sg_list, uint32_t num_sge);
struct ibv_mw *hodp_alloc_mw(struct ibv_pd *pd, enum ibv_mw_type type);
int hodp_dealloc_mw(struct ibv_mw *mw);
int hodp_bind_mw(struct ibv_qp *qp, struct ibv_mw *mw,
		 struct ibv_mw_bind *mw_bind);
struct ibv_ah *hodp_create_ah(struct ibv_pd *pd, struct ibv_ah_attr *attr);
int hodp_destroy_ah(struct ibv_ah *ah);

/* cq.c */
struct ibv_cq *hodp_create_cq(struct ibv_context *ctx, int cqe,
			      struct ibv_comp_channel *channel, int comp_vector);
struct ibv_cq_ex *hodp_create_cq_ex(struct ibv_context *ctx,
				    struct ibv_cq_init_attr_ex *attr);
int hodp_poll_cq(struct ibv_cq *cq, int num_entries, struct ibv_wc *wc);
int hodp_req_notify_cq(struct ibv_cq *cq, int solicited_only);
int hodp_resize_cq(struct ibv_cq *cq, int cqe);
int hodp_destroy_cq(struct ibv_cq *cq);

/* qp.c */
struct ibv_qp *hodp_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *attr);
struct ibv_qp *hodp_create_qp_ex(struct ibv_context *ctx,
				 struct ibv_qp_init_attr_ex *attr);
int hodp_query_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int attr_mask,
		  struct ibv_qp_init_attr *init_attr);
int hodp_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int attr_mask);
int hodp_destroy_qp(struct ibv_qp *qp);
int hodp_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr,
		   struct ibv_recv_wr **bad_wr);

/* send.c: the send queue, both posting interfaces */
int hodp_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr,
		   struct ibv_send_wr **bad_wr);
void hodp_init_qp_ex(struct hodp_qp *qp, uint64_t send_ops_flags);
uint64_t hodp_supported_send_ops(enum ibv_qp_type qp_type);

/* srq.c */
struct ibv_srq *hodp_create_srq(struct ibv_pd *pd,
				struct ibv_srq_init_attr *attr);
int hodp_modify_srq(struct ibv_srq *srq, struct ibv_srq_attr *attr, int mask);
int hodp_query_srq(struct ibv_srq *srq, struct ibv_srq_attr *attr);
int hodp_destroy_srq(struct ibv_srq *srq);
int hodp_post_srq_recv(struct ibv_srq *srq, struct ibv_recv_wr *wr,
		       struct ibv_recv_wr **bad_wr);

/* recv.c: one receive WQE into a receive ring (a QP's or an SRQ's) */
int hodp_post_one_recv(struct hodp_ring *ring, uint32_t max_sge,
		       const struct ibv_recv_wr *wr);

#endif /* HODP_PROVIDER_H */
