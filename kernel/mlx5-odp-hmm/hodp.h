/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hodp: a software RDMA HCA (RoCE v2 addressing, in-host transport) that
 * implements the mlx5 on-demand paging design on HMM mirrors. Objects of the
 * device, shared by its files.
 */
#ifndef _HODP_H
#define _HODP_H

#include <linux/interval_tree.h>
#include <linux/kref.h>
#include <linux/netdevice.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <rdma/ib_verbs.h>
#include <rdma/rdma_user_rxe.h>
#include <rdma/uverbs_ioctl.h>

#include <hmm_mirror.h>

#include "hodp_queue.h"

#define HODP_VENDOR_ID		0xffffff
#define HODP_MAX_QP		4096
#define HODP_MAX_QP_WR		4096
#define HODP_MAX_SGE		32
#define HODP_MAX_INLINE		512
#define HODP_MAX_CQ		4096
#define HODP_MAX_CQE		32767
#define HODP_MAX_MR		65536
/* MW keys have indices above every MR's (hodp_mw.c). */
#define HODP_MAX_MW		65536
#define HODP_MW_INDEX_MIN	(HODP_MAX_MR + 1)
#define HODP_MW_INDEX_MAX	(HODP_MAX_MR + HODP_MAX_MW)
#define HODP_MAX_PD		4096
#define HODP_MAX_SRQ		1024
#define HODP_MAX_SRQ_WR		4096
#define HODP_MAX_AH		4096
#define HODP_MAX_MSG_SIZE	BIT(31)
#define HODP_MAX_RD_ATOMIC	16
#define HODP_GID_TABLE_LEN	1024
#define HODP_QPN_MIN		16
#define HODP_GSI_QPN		1	/* QP1 of every device */

/* The port's counters (hodp_stats.c). */
enum hodp_counter {
	HODP_CNT_WQES,			/* WQEs the requester completed */
	HODP_CNT_SEND_BYTES,
	HODP_CNT_WRITE_BYTES,
	HODP_CNT_READ_BYTES,
	HODP_CNT_ATOMICS,
	HODP_CNT_RNR_WAITS,		/* a WQE waited for an RNR timer */
	HODP_CNT_RETRY_WAITS,		/* ... for the transport timer */
	HODP_CNT_WQE_ERRORS,		/* WQEs completed with an error */
	HODP_CNT_ODP_FAULTS,		/* page faults of ODP MRs handled */
	HODP_NR_COUNTERS
};

struct hodp_dev {
	struct ib_device ibdev;
	struct net_device *ndev;
	struct ib_device_attr attrs;	/* what query_device reports */
	struct list_head list;		/* on hodp_devices */
	struct xarray mrs;		/* key >> 8 -> hodp_mr */
	struct xarray srqs;		/* srq number -> hodp_srq */
	struct xarray ahs;		/* ah number -> hodp_ah */
	/*
	 * key >> 8 -> hodp_mw. Its lock (irqsave) is also the lock of every
	 * window's binding and of hodp_mr.nr_mw. No spinlock of hodp is held
	 * when it is taken and none is taken under it (an MR's last kref_put
	 * under it completes a completion, a leaf lock): its order cannot be
	 * turned around by anyone.
	 */
	struct xarray mws;
	struct hodp_qp *gsi;		/* QP1, under the QP table's lock */
	u32 next_mr;
	u32 next_mw;
	atomic_t nr_pd, nr_cq, nr_qp, nr_mr, nr_srq, nr_ah, nr_mw;
	atomic_t nr_mirror;		/* odp_mirrors' length */
	atomic_t nr_kept;		/* ODP MRs deregistered, still kept */
	atomic64_t counters[HODP_NR_COUNTERS];
	struct mutex odp_lock;		/* odp_mirrors and their users */
	struct list_head odp_mirrors;	/* hodp_odp, one per mm */
};

/*
 * A mirror's fault events queue in one lane; those found to touch a file
 * that may keep them waiting (hmm_mirror_fault_may_wait() and its trylock
 * form) move on to the other, each lane bounded apart (hodp_fault.c).
 */
enum hodp_lane {
	HODP_LANE_MEM,		/* every event at first */
	HODP_LANE_FILE,		/* those that may wait on a file system */
	HODP_LANES
};

/*
 * The device's mirror of one process address space, shared by that
 * process's ODP MRs (hodp_odp.c). Freed by the HMM core's ->free, after
 * the last MR unregistered it.
 */
struct hodp_odp {
	struct hmm_mirror mirror;
	struct list_head list;		/* on hodp_dev.odp_mirrors */
	unsigned int users;		/* MRs, under hodp_dev.odp_lock */
	atomic_t prefetch_inflight;	/* asynchronous prefetches queued */
	/*
	 * Fault events of its memory (hodp_fault.c, fault_event_queue()),
	 * under that file's fault_events_lock: those that may wait on a file
	 * system apart from the others, which they must not hold up.
	 */
	struct hodp_event_lane {
		/* Places held: queued or running (in a lane, also lock_turn's) */
		unsigned int running;
		struct list_head waiting;	/* for one of those to end */
	} lanes[HODP_LANES];
	/*
	 * Its memory-lane events that wait for its mmap lock, their lane
	 * places kept: one place, on hodp_fault_lock_wq, the others waiting.
	 */
	struct hodp_event_lane lock_turn;
	/* Written under the mirror lock exclusively, read under it in either
	 * mode (hodp_odp_stats.c); zeroed is empty.
	 */
	struct rb_root_cached mrs;	/* its explicit MRs by user range */
	struct rb_root_cached implicit_mrs;	/* its implicit MRs */
	/* Leaves its implicit MRs keep (hodp_odp.c), set by the first one. */
	struct hodp_leaves *leaves;
};

struct hodp_ucontext {
	struct ib_ucontext ibuc;
};

struct hodp_pd {
	struct ib_pd ibpd;
};

struct hodp_ah {
	struct ib_ah ibah;
	struct rdma_ah_attr attr;
	u32 ah_num;
};

struct hodp_cq {
	struct ib_cq ibcq;
	struct hodp_queue *queue;	/* replaced under both locks */
	struct mutex resize_lock;	/* one resize at a time */
	spinlock_t lock;		/* producer side of the queue */
	bool user;
	bool notify_any;
	bool notify_solicited;
	bool overflowed;
};

/*
 * A memory key: translation from the key's address range to pages. For a
 * pinned MR the table is filled at registration and never misses; an ODP MR
 * resolves pages through its HMM mirror and may miss (page fault).
 */
struct hodp_mr {
	struct ib_mr ibmr;
	struct hodp_dev *dev;
	struct kref ref;		/* accesses: dereg waits for them */
	struct completion freed;
	/*
	 * Its memory: dereg's, and one per fault event or asynchronous
	 * prefetch faulting its pages (hodp_mr_keep()), which dereg does
	 * not wait for; the last frees it.
	 */
	refcount_t kept;
	struct ib_umem *umem;
	u64 iova;
	u64 length;
	unsigned int offset;		/* of iova in its first page */
	int access;
	u32 npages;
	struct page **pages;		/* the translation table (pinned) */
	bool kernel_dma;		/* get_dma_mr: kernel virtual addresses */
	bool dying;			/* dereg began: copies stop using it */
	/* Windows bound to it (dereg refuses then), under the mws lock. */
	unsigned int nr_mw;
	struct hodp_odp *odp;		/* ODP: the translation is its mirror */
	u64 uaddr;			/* ODP: user address of iova */
	bool implicit;			/* ODP: the whole address space */
	/* ODP: on odp->mrs or implicit_mrs: its user range, page aligned */
	struct interval_tree_node odp_node;
	struct ib_odp_counters odp_stats; /* ODP: rdma stat show mr */
};

/*
 * A memory window: a range of an MR (its rkey's only reach) with rights of
 * its own. Every field below the ib_mw is under the device's mws lock.
 * Bound, it holds a reference of its MR; the responder resolves the
 * window's rkey to that MR and range (hodp_mw_remote_mr()), then accesses
 * it as the MR's own rkey would: one translation path, pinned or ODP.
 */
struct hodp_mw {
	struct ib_mw ibmw;
	u32 rkey;			/* the current one (its low byte moves) */
	bool bound;			/* valid with a non-empty range */
	struct hodp_mr *mr;		/* bound: referenced */
	u64 addr;
	u64 length;
	int access;
	u64 qp_serial;			/* type 2, bound: the QP it serves */
	u32 gen;			/* moves at every unbind (and so bind) */
};

struct hodp_srq {
	struct ib_srq ibsrq;
	struct hodp_queue *queue;
	spinlock_t lock;		/* consumer side of the queue */
	u32 srq_num;
	bool user;
	u32 max_sge;
	u32 limit;
};

/* What the requester executes: one send WQE, copied and validated. */
struct hodp_send_wqe {
	struct rxe_send_wr wr;
	u32 length;
	u32 num_sge;
	union {
		struct rxe_sge sge[HODP_MAX_SGE];
		u8 data[HODP_MAX_INLINE];
	};
};

/* A receive WQE, copied and validated. */
struct hodp_recv_wqe {
	u64 wr_id;
	u32 num_sge;
	struct rxe_sge sge[HODP_MAX_SGE];
};

/*
 * A receive WQE a message claimed and whose copy stopped for a fault
 * event (hodp_resp.c): its responder keeps it as the receive being
 * filled, as an HCA keeps the one a stalled message is writing, and the
 * next message into the QP takes it before the ring's next.
 */
struct hodp_held_recv {
	bool valid;
	u64 owner;			/* the requester's serial */
	u32 mark;			/* its message: resume_mark() */
	struct hodp_recv_wqe rwqe;
};

/* A piece of memory to copy: an MR range, or kernel memory if mr is NULL. */
struct hodp_seg {
	struct hodp_mr *mr;
	u64 addr;
	u32 len;
	u32 mw_rkey;			/* a peer's, through a window (its rkey */
	u32 mw_gen;			/* and binding): looked at again */
};

/*
 * A page fault event: what an access of a WQE missed in an ODP MR (its
 * addresses, up to the end of the segment), raised instead of faulting
 * where the access stands (hodp_fault.c). The MR is referenced.
 */
struct hodp_fault_ev {
	struct hodp_mr *mr;
	u64 addr;
	u64 end;
	bool write;
	bool remote;	/* the responder's memory (not the WQE's own) */
};

/* The requester's working memory, per QP (too big for the stack). */
struct hodp_req_ctx {
	struct hodp_qp *qp;			/* its requester */
	struct hodp_qp *peer;			/* the responder while executing */
	bool peer_closed;			/* the responder closed meanwhile */
	struct hodp_send_wqe wqe;
	struct hodp_seg lseg[HODP_MAX_SGE];	/* local buffers of the WQE */
	u32 nlseg;
	struct hodp_recv_wqe rwqe;		/* the responder's receive */
	u8 relem[sizeof(struct rxe_recv_wqe) +
		 HODP_MAX_SGE * sizeof(struct rxe_sge)];
	struct hodp_seg rseg[HODP_MAX_SGE];
	u32 nrseg;
	u8 net_type;				/* of a UD receive's header */
	union rdma_network_hdr ud_hdr;		/* and the header, this run's */
	void *elem;				/* a ring element, copied */
	/*
	 * ODP, for the head WQE: the miss of this run, raised as a fault
	 * event; bytes of the local and of the remote buffers known mirrored
	 * by earlier runs (a hint: the copy still faults what an invalidation
	 * took since); bytes its resumable copy did before its last event.
	 */
	struct hodp_fault_ev miss;
	u32 lprep;
	u32 rprep;
	u32 copied;
	u32 copy_mark;		/* what it was of: resume_mark() (hodp_resp.c) */
	u32 copy_mw_gen;	/* and through which binding of a window */
	/*
	 * The copy running returns every miss it does not fail, never
	 * faulting (a UD datagram under its responder's ud_lock: the GSI
	 * QP's miss is faulted after it, hodp_respond_ud()).
	 */
	bool copy_defer;
	/*
	 * An atomic executed at the responder whose result is not yet in
	 * its local buffer (a page of it missed: a fault event): the value,
	 * and the WQE it is of (run_wqe(), hodp_req.c), whose next run
	 * writes it and executes nothing (hodp_atomic_result()).
	 */
	bool atomic_done;
	u64 atomic_result;
	struct rxe_send_wr atomic_wr;
	u64 rheld_owner;	/* the claimed receive was held for: or 0 */
	u32 rheld_mark;
	u64 rpeek_id;		/* the receive WQE rprep is of: its wr_id */
	u64 rpeek_addr;		/* and first buffer */
};

struct hodp_qp {
	struct ib_qp ibqp;
	struct hodp_dev *dev;
	refcount_t ref;			/* users; destroy waits for zero */
	struct completion idle;
	struct mutex modify_lock;	/* attributes and transitions */
	/*
	 * Writes of state, stopping and resp_users, and every queueing of
	 * the QP's work: errors and doorbells come from any context, and
	 * nothing may queue work of a QP that destroy has stopped.
	 */
	spinlock_t state_lock;
	enum ib_qp_state state;
	unsigned int resp_users;	/* peers executing against the QP */
	wait_queue_head_t resp_wait;	/* RESET waits for them to leave */
	bool user;
	bool sq_sig_all;
	u32 qpn;
	u64 serial;			/* unique for the module's life */
	u32 dest_qpn;
	u32 qkey;
	u32 sq_psn;			/* kept for query_qp: in-host, no PSNs */
	u32 rq_psn;
	u8 min_rnr_timer;
	u8 rnr_retry;
	u8 retry_cnt;
	int access;			/* qp_access_flags */
	struct rdma_ah_attr av;		/* RC/UC: the remote end */
	struct hodp_cq *scq, *rcq;
	struct hodp_srq *srq;

	struct hodp_queue *sq;
	spinlock_t sq_lock;		/* producer side of sq, kernel QPs */
	u32 sq_max_sge;
	u32 sq_max_inline;
	struct hodp_queue *rq;
	spinlock_t rq_lock;		/* consumer side of rq, and held */
	u32 rq_max_sge;
	struct hodp_held_recv held;	/* the receive a message stopped in */
	/*
	 * UD: one datagram at a time, claim to completion or hold, so that
	 * its receives complete in the order posted (hodp_respond_ud()).
	 */
	struct mutex ud_lock;

	struct hodp_req_ctx *ctx;
	/* One runner of the send queue; the attributes it reads (av, ...) */
	struct mutex req_lock;
	struct work_struct req_work;	/* runs the send queue */
	struct delayed_work retry_work;	/* resumes it after an RNR or retry wait */
	u8 timeout;
	u8 rnr_left;			/* RNR retries left for the head WQE */
	u8 retry_left;			/* transport retries left for it */
	bool head_started;		/* the counters above are for the head */
	bool last_wqe_reached;		/* SRQ QP in ERR: its event raised */
	bool retry_pending;		/* retry_work will resume the queue */
	bool stopping;			/* destroy began: no more work */

	/* ODP page fault events of the head WQE (hodp_fault.c). */
	struct hodp_fault_event *fault_event;	/* none: the GSI QP's */
	bool fault_running;		/* it is queued, waits or runs */
	bool fault_own;			/* ... for the head WQE's miss */
	bool fault_pending;		/* the send queue waits for its end */
	bool fault_inplace;		/* its own misses: its last events */
	bool fault_peer_fails;		/* a miss of the responder's fails it */
	u32 fault_events;		/* events of the head WQE */
	u32 fault_stalls;		/* ... in a row that made no progress */
	u64 fault_progress;		/* its lookups' progress at the last */
	/*
	 * Once they are over: its own misses are its last events
	 * (hodp_fault.c, fault_last_left()), and what is left of them.
	 */
	u64 inplace_best;		/* the furthest its runs got */
	int inplace_tries;		/* last events left from there */
	bool inplace_failed;		/* one failed: its next misses fail */
	/* RESETs so far: a requester's resumed copy is of one incarnation. */
	u32 resets;
};

/* The port's active MTU, from the netdev's (no RTNL: any context). */
static inline enum ib_mtu hodp_active_mtu(struct hodp_dev *dev)
{
	return min(IB_MTU_4096, ib_mtu_int_to_enum(READ_ONCE(dev->ndev->mtu)));
}

/* The states in which a QP accepts what a peer sends it. */
static inline bool hodp_state_receives(enum ib_qp_state state)
{
	return state == IB_QPS_RTR || state == IB_QPS_RTS ||
	       state == IB_QPS_SQD || state == IB_QPS_SQE;
}

/*
 * A requester closing: destroy began, or RESET or ERR came; the WQE it
 * runs stops (the copies and hodp_segs_prepare() look at every yield).
 */
static inline bool hodp_req_closing(const struct hodp_qp *qp)
{
	enum ib_qp_state state = READ_ONCE(qp->state);

	return READ_ONCE(qp->stopping) || state == IB_QPS_RESET ||
	       state == IB_QPS_ERR;
}

/*
 * A responder closing: destroy began or it left the receiving states.
 * RESET and destroy wait for the peers executing against it: a long copy
 * stops at its next yield instead of making them wait for all of it.
 */
static inline bool hodp_resp_closing(const struct hodp_qp *qp)
{
	return READ_ONCE(qp->stopping) ||
	       !hodp_state_receives(READ_ONCE(qp->state));
}

/* Datagram QPs: UD, and the GSI QP (QP1) that carries CM MADs. */
static inline bool hodp_qp_is_ud(const struct hodp_qp *qp)
{
	return qp->ibqp.qp_type == IB_QPT_UD || qp->ibqp.qp_type == IB_QPT_GSI;
}

/* Connected QPs: RC, and UC (no acknowledgements, no retries, no RNR). */
static inline bool hodp_qp_is_connected(const struct hodp_qp *qp)
{
	return qp->ibqp.qp_type == IB_QPT_RC || qp->ibqp.qp_type == IB_QPT_UC;
}

static inline struct hodp_dev *to_hdev(struct ib_device *ibdev)
{
	return container_of(ibdev, struct hodp_dev, ibdev);
}

/* The user context of a verb called from userspace. */
static inline struct ib_ucontext *hodp_uctx(struct ib_udata *udata)
{
	return &rdma_udata_to_drv_context(udata, struct hodp_ucontext,
					  ibuc)->ibuc;
}

static inline struct hodp_pd *to_hpd(struct ib_pd *ibpd)
{
	return container_of(ibpd, struct hodp_pd, ibpd);
}

static inline struct hodp_cq *to_hcq(struct ib_cq *ibcq)
{
	return container_of(ibcq, struct hodp_cq, ibcq);
}

static inline struct hodp_qp *to_hqp(struct ib_qp *ibqp)
{
	return container_of(ibqp, struct hodp_qp, ibqp);
}

static inline struct hodp_mr *to_hmr(struct ib_mr *ibmr)
{
	return container_of(ibmr, struct hodp_mr, ibmr);
}

static inline struct hodp_mw *to_hmw(struct ib_mw *ibmw)
{
	return container_of(ibmw, struct hodp_mw, ibmw);
}

static inline struct hodp_srq *to_hsrq(struct ib_srq *ibsrq)
{
	return container_of(ibsrq, struct hodp_srq, ibsrq);
}

static inline struct hodp_ah *to_hah(struct ib_ah *ibah)
{
	return container_of(ibah, struct hodp_ah, ibah);
}

extern struct workqueue_struct *hodp_wq;
extern struct workqueue_struct *hodp_fault_wq;
extern struct workqueue_struct *hodp_fault_file_wq;
extern struct workqueue_struct *hodp_fault_lock_wq;
extern struct workqueue_struct *hodp_prefetch_wq;

/* hodp_main.c */
struct seq_file;
void hodp_dealloc_driver(struct ib_device *ibdev);
void hodp_show_objects(struct seq_file *m);
struct hodp_qp *hodp_gsi_by_gid(const union ib_gid *gid);

/* hodp_verbs.c */
extern const struct ib_device_ops hodp_dev_ops;
void hodp_init_attrs(struct hodp_dev *dev);

/* hodp_cq.c */
int hodp_create_cq(struct ib_cq *ibcq, const struct ib_cq_init_attr *attr,
		   struct ib_udata *udata);
int hodp_destroy_cq(struct ib_cq *ibcq, struct ib_udata *udata);
int hodp_resize_cq(struct ib_cq *ibcq, int cqe, struct ib_udata *udata);
int hodp_poll_cq(struct ib_cq *ibcq, int num_entries, struct ib_wc *wc);
int hodp_req_notify_cq(struct ib_cq *ibcq, enum ib_cq_notify_flags flags);
int hodp_cq_post(struct hodp_cq *cq, const struct ib_wc *wc,
		 bool solicited);

/* hodp_mr.c */
struct ib_mr *hodp_reg_user_mr(struct ib_pd *ibpd, u64 start, u64 length,
			       u64 iova, int access, struct ib_udata *udata);
struct ib_mr *hodp_get_dma_mr(struct ib_pd *ibpd, int access);
int hodp_dereg_mr(struct ib_mr *ibmr, struct ib_udata *udata);
struct hodp_mr *hodp_mr_get(struct hodp_dev *dev, u32 key, struct ib_pd *pd,
			    bool remote);
void hodp_mr_put(struct hodp_mr *mr);
void hodp_mr_hold(struct hodp_mr *mr);
void hodp_mr_keep(struct hodp_mr *mr);
void hodp_mr_unkeep(struct hodp_mr *mr);
void *hodp_mr_kmap(struct hodp_mr *mr, u64 addr, u32 *avail);
void hodp_mr_kunmap(struct hodp_mr *mr, void *va);
bool hodp_mr_in_range(const struct hodp_mr *mr, u64 addr, u64 len);
int hodp_mr_atomic(struct hodp_mr *mr, u64 addr, bool cmp_swap,
		   u64 compare_add, u64 swap, u64 *orig);

/* hodp_mw.c: memory windows */
u64 hodp_qp_next_serial(void);
int hodp_alloc_mw(struct ib_mw *ibmw, struct ib_udata *udata);
int hodp_dealloc_mw(struct ib_mw *ibmw);
enum ib_wc_status hodp_mw_bind(struct hodp_qp *qp,
			       const struct rxe_send_wr *wr);
int hodp_mw_invalidate(struct hodp_qp *qp, u32 rkey);
bool hodp_mw_still_bound(struct hodp_dev *dev, u32 rkey, u32 gen);
struct hodp_mr *hodp_mw_remote_mr(struct hodp_qp *resp, u32 rkey, u64 addr,
				  u32 len, int need, u32 *gen);

static inline bool hodp_key_is_mw(u32 key)
{
	return key >> 8 >= HODP_MW_INDEX_MIN;
}

/* hodp_qp.c */
int hodp_create_qp(struct ib_qp *ibqp, struct ib_qp_init_attr *init,
		   struct ib_udata *udata);
int hodp_modify_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		   struct ib_udata *udata);
int hodp_query_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		  struct ib_qp_init_attr *init);
int hodp_destroy_qp(struct ib_qp *ibqp, struct ib_udata *udata);
struct hodp_qp *hodp_qp_get(u32 qpn);
struct hodp_qp *hodp_gsi_get(struct hodp_dev *dev);
bool hodp_qp_reaches(struct hodp_qp *qp, const union ib_gid *gid);
void hodp_qp_put(struct hodp_qp *qp);
void hodp_qp_error(struct hodp_qp *qp);
void hodp_qp_kick(struct hodp_qp *qp);
bool hodp_qp_arm_retry(struct hodp_qp *qp, unsigned long delay);
bool hodp_resp_enter(struct hodp_qp *qp);
void hodp_resp_exit(struct hodp_qp *qp);
bool hodp_resp_idle(struct hodp_qp *qp);

/* hodp_stats.c */
void hodp_count_wqe(struct hodp_dev *dev, u32 opcode, u32 len,
		    enum ib_wc_status status);
struct rdma_hw_stats *hodp_alloc_hw_port_stats(struct ib_device *ibdev,
					       u32 port_num);
int hodp_get_hw_stats(struct ib_device *ibdev, struct rdma_hw_stats *stats,
		      u32 port, int index);

static inline void hodp_count(struct hodp_dev *dev, enum hodp_counter c)
{
	atomic64_inc(&dev->counters[c]);
}

/* hodp_odp_stats.c: per-MR ODP counters */
void hodp_odp_stats_add(struct hodp_mr *mr);
void hodp_odp_stats_del(struct hodp_mr *mr);
int hodp_odp_invalidate(struct hmm_mirror *mirror,
			const struct hmm_update *update);
int hodp_fill_stat_mr_entry(struct sk_buff *msg, struct ib_mr *ibmr);

/* hodp_srq.c */
int hodp_create_srq(struct ib_srq *ibsrq, struct ib_srq_init_attr *init,
		    struct ib_udata *udata);
int hodp_modify_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr,
		    enum ib_srq_attr_mask mask, struct ib_udata *udata);
int hodp_query_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr);
int hodp_destroy_srq(struct ib_srq *ibsrq, struct ib_udata *udata);

/* hodp_kverbs.c: posting work requests */
int hodp_post_send(struct ib_qp *ibqp, const struct ib_send_wr *wr,
		   const struct ib_send_wr **bad_wr);
int hodp_post_recv(struct ib_qp *ibqp, const struct ib_recv_wr *wr,
		   const struct ib_recv_wr **bad_wr);
int hodp_post_srq_recv(struct ib_srq *ibsrq, const struct ib_recv_wr *wr,
		       const struct ib_recv_wr **bad_wr);

/* hodp_req.c: the requester */
void hodp_req_work(struct work_struct *work);
void hodp_req_doorbell(struct hodp_qp *qp);
void hodp_retry_work(struct work_struct *work);

/* hodp_resp.c: the responder */
void hodp_flush_held(struct hodp_qp *qp);
bool hodp_flush_rq(struct hodp_qp *qp, u32 budget);
enum ib_wc_status hodp_respond(struct hodp_qp *req, struct hodp_qp *resp,
			       bool *rnr);
enum ib_wc_status hodp_respond_ud(struct hodp_qp *req, struct hodp_qp *resp,
				  const union ib_gid *sgid,
				  const union ib_gid *dgid);
void hodp_put_segs(struct hodp_seg *seg, u32 n);
int hodp_resolve_sges(struct hodp_dev *dev, struct ib_pd *pd,
		      const struct rxe_sge *sge, u32 n, int access,
		      struct hodp_seg *seg, u32 *total);

/* hodp_fault.c: page fault events */
int hodp_fault_event_alloc(struct hodp_qp *qp);
void hodp_fault_event_free(struct hodp_qp *qp);
void hodp_fault_raise(struct hodp_qp *qp);
struct hodp_mr *hodp_fault_disown(struct hodp_qp *qp);
void hodp_fault_drop_miss(struct hodp_req_ctx *ctx);

/* hodp_copy.c: copies between segments; what a failed one returns */
#define HODP_COPY_DST_FAULT	1	/* a destination page: no mirroring */
#define HODP_COPY_SRC_FAULT	2	/* a source page */
#define HODP_COPY_STOPPED	3	/* requester or responder closing */
#define HODP_COPY_EVENT		4	/* a miss, raised: ctx->miss */
int hodp_copy_resumable(struct hodp_req_ctx *ctx, struct hodp_seg *dst,
			u32 ndst, struct hodp_seg *src, u32 nsrc, u32 len);
int hodp_copy_datagram(struct hodp_req_ctx *ctx, struct hodp_seg *dst,
		       u32 ndst, struct hodp_seg *hdr, struct hodp_seg *src,
		       u32 nsrc, u32 len);
int hodp_copy_fault_miss(struct hodp_req_ctx *ctx, int *tries);
int hodp_odp_resolve(struct hodp_req_ctx *ctx, struct hodp_seg *seg,
		     u64 addr, bool write, int *tries, int fail);
int hodp_segs_prepare(struct hodp_req_ctx *ctx, struct hodp_seg *seg, u32 n,
		      u32 len, bool write, u32 *done);
enum ib_wc_status hodp_atomic_result(struct hodp_req_ctx *ctx);
bool hodp_copy_must_stop(struct hodp_req_ctx *ctx);
void hodp_record_miss(struct hodp_req_ctx *ctx, struct hodp_seg *seg,
		      u64 addr, u64 end, bool write);
int hodp_miss_unfaulted(struct hodp_req_ctx *ctx, struct hodp_seg *seg,
			u64 addr, u64 end, bool write, int fail);
bool hodp_seg_dying(const struct hodp_seg *seg);

/* hodp_odp.c: ODP MRs on HMM mirrors */
/* Faults one page access may take before giving up (invalidation storm). */
#define HODP_FAULT_TRIES	64
int hodp_odp_init(void);
void hodp_odp_exit(void);
int hodp_odp_reg_mr(struct hodp_dev *dev, struct hodp_mr *mr, u64 start);
void hodp_odp_dereg_mr(struct hodp_mr *mr);
unsigned long hodp_odp_uaddr(const struct hodp_mr *mr, u64 addr);
/* hodp_odp_fault()'s @how: */
#define HODP_ODP_NOWAIT	BIT(0)	/* never wait for the mmap lock */
#define HODP_ODP_AGAIN	BIT(1)	/* the same fault, after -EWOULDBLOCK */
int hodp_odp_fault(struct hodp_mr *mr, unsigned long uaddr,
		   unsigned long limit, bool write, unsigned int how,
		   bool (*stop)(void *arg), void *arg);
int hodp_odp_fault_may_wait(struct hodp_mr *mr, unsigned long uaddr,
			    unsigned long limit, bool trylock);
struct page *hodp_odp_page_locked(struct hodp_mr *mr, u64 addr, bool write);
void hodp_odp_implicit_touch(struct hodp_mr *mr, unsigned long start,
			     unsigned long end);
int hodp_odp_atomic(struct hodp_mr *mr, u64 addr, bool cmp_swap,
		    u64 compare_add, u64 swap, u64 *orig);

/* hodp_prefetch.c: ibv_advise_mr() */
int hodp_advise_mr(struct ib_pd *pd, enum ib_uverbs_advise_mr_advice advice,
		   u32 flags, struct ib_sge *sg_list, u32 num_sge,
		   struct uverbs_attr_bundle *attrs);

/*
 * Fault injection (hodp_fail_alloc.c): debugfs hodp/fail_alloc,
 * hodp/atomic_miss, hodp/copy_miss and hodp/inplace_miss, races made to
 * happen, and hodp/slow_fault with hodp/fault_delay_ms, slow faults.
 */
#if IS_ENABLED(CONFIG_INFINIBAND_HODP_FAULT_INJECTION)
bool hodp_should_fail_alloc(void);
bool hodp_inject_atomic_miss(void);
bool hodp_inject_copy_miss(void);
bool hodp_inject_inplace_miss(void);
void hodp_inject_fault_delay(void);
void hodp_fail_alloc_init(void);
void hodp_fail_alloc_exit(void);
#else
static inline bool hodp_should_fail_alloc(void)
{
	return false;
}

static inline bool hodp_inject_atomic_miss(void)
{
	return false;
}

static inline bool hodp_inject_copy_miss(void)
{
	return false;
}

static inline bool hodp_inject_inplace_miss(void)
{
	return false;
}

static inline void hodp_inject_fault_delay(void)
{
}

static inline void hodp_fail_alloc_init(void)
{
}

static inline void hodp_fail_alloc_exit(void)
{
}
#endif

/*
 * Every allocation hodp makes for a verb goes through one of these (or asks
 * hodp_should_fail_alloc() itself, before an allocation inside another
 * API): each is an injection site of hodp/fail_alloc, and a test fails
 * them one after the other (tests/faultinject/hodp.c). They allocate with
 * GFP_KERNEL: the verbs that use them may sleep.
 */
static inline void *hodp_kzalloc(size_t size)
{
	return hodp_should_fail_alloc() ? NULL : kzalloc(size, GFP_KERNEL);
}

static inline void *hodp_kmalloc(size_t size)
{
	return hodp_should_fail_alloc() ? NULL : kmalloc(size, GFP_KERNEL);
}

static inline void *hodp_kvmalloc_array(size_t n, size_t size)
{
	return hodp_should_fail_alloc() ? NULL :
		kvmalloc_array(n, size, GFP_KERNEL);
}

static inline void *hodp_vmalloc_user(unsigned long size)
{
	return hodp_should_fail_alloc() ? NULL : vmalloc_user(size);
}

#endif /* _HODP_H */
