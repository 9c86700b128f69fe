// SPDX-License-Identifier: GPL-2.0
/*
 * hodp: ibv_advise_mr() on ODP MRs. PREFETCH and PREFETCH_WRITE fault the
 * ranges through the MR's HMM mirror (for reading, or writable: breaking
 * COW), so that the device's first access to them takes no fault;
 * PREFETCH_NO_FAULT records only the pages already present (a snapshot).
 *
 * With IB_UVERBS_ADVISE_MR_FLAG_FLUSH the work is done before the call
 * returns, and its error is the call's. Without it, a work item on
 * hodp_prefetch_wq does it and errors are dropped, as mlx5 does: not on
 * the QPs' workqueue, which a few processes' prefetches blocked in the mm
 * (their own FUSE servers) would fill, every QP's work waiting behind
 * them. Such a work item keeps each MR it prefetches (hodp_mr_keep():
 * its memory, mirror and device, not its key) and stops once the MR is
 * being deregistered (between chunks, and between a chunk's fault
 * attempts). Dereg does not wait for it: a chunk's fault may wait for the
 * deregistering process itself (its own FUSE server, at its exit). A synchronous prefetch holds
 * references, which dereg waits for, and stops there too. hodp's module
 * exit waits for the work with the workqueue. A mirror (a process's ODP
 * memory on the device) has at most HODP_PREFETCH_INFLIGHT of them; past
 * that, prefetch runs in the caller: what one process queues is bounded,
 * and it cannot make another process's prefetch run in that process.
 */
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "hodp.h"

struct workqueue_struct *hodp_prefetch_wq;

/* Asynchronous prefetches of one mirror queued or running, at most. */
#define HODP_PREFETCH_INFLIGHT	64
/* Bytes mirrored between two checks for a dereg, a signal, a yield. */
#define HODP_PREFETCH_CHUNK	SZ_2M

struct hodp_prefetch_seg {
	struct hodp_mr *mr;		/* referenced; kept once queued */
	u64 addr;
	u32 len;
};

struct hodp_prefetch {
	struct work_struct work;
	struct hodp_odp *odp;		/* charged: the first range's mirror */
	unsigned int flags;		/* HMM_MIRROR_* */
	u32 n;
	struct hodp_prefetch_seg seg[];
};

/*
 * The MR is being deregistered (dying, set before its key goes): a
 * prefetch stops before its next chunk, and a chunk's fault between its
 * attempts, which invalidations race: after dereg returned, the user may
 * map something else there.
 */
static bool prefetch_stop(void *arg)
{
	struct hodp_mr *mr = arg;

	return READ_ONCE(mr->dying);
}

/*
 * Mirror [addr, addr + len) of @mr, a chunk at a time, until done, the
 * MR's dereg (-ENOENT) or, in the caller (@async false), a fatal signal.
 * The caller's prefetch stops at the first chunk that fails (its errno is
 * the call's); the asynchronous one, best effort with nobody to tell,
 * goes on with the next chunks (one that raced invalidations for too long
 * does not cancel the rest) and returns the first error.
 */
static int prefetch_seg(struct hodp_mr *mr, u64 addr, u32 len,
			unsigned int flags, bool async)
{
	unsigned long start = hodp_odp_uaddr(mr, addr) & PAGE_MASK;
	unsigned long end = PAGE_ALIGN(hodp_odp_uaddr(mr, addr) + len);
	unsigned long next;
	int ret = 0, err;

	for (; start < end && (async || !ret); start = next) {
		next = min(end, ALIGN(start + 1, HODP_PREFETCH_CHUNK));
		if (prefetch_stop(mr))
			return -ENOENT;
		if (!async && fatal_signal_pending(current))
			return -EINTR;
		hodp_odp_implicit_touch(mr, start, next);
		err = hmm_mirror_fault_stoppable(&mr->odp->mirror, start, next,
						 flags, prefetch_stop, mr);
		if (err == -ECANCELED)
			return -ENOENT;
		if (!err)	/* pages asked for, as mlx5 counts them */
			atomic64_add((next - start) >> PAGE_SHIFT,
				     &mr->odp_stats.prefetch);
		ret = ret ?: err;
		cond_resched();
	}
	return ret;
}

static void hodp_prefetch_work(struct work_struct *work)
{
	struct hodp_prefetch *pf = container_of(work, struct hodp_prefetch,
						work);
	u32 i;

	for (i = 0; i < pf->n; i++) {
		int ret = prefetch_seg(pf->seg[i].mr, pf->seg[i].addr,
				       pf->seg[i].len, pf->flags, true);

		if (ret && ret != -ENOENT)
			pr_debug("hodp: asynchronous prefetch of 0x%llx+%u failed: %d\n",
				 pf->seg[i].addr, pf->seg[i].len, ret);
	}
	/* Before the MRs go: they keep the mirror alive. */
	atomic_dec(&pf->odp->prefetch_inflight);
	for (i = 0; i < pf->n; i++)
		hodp_mr_unkeep(pf->seg[i].mr);
	kfree(pf);
}

/* The MR of one SGE, referenced, if it may be prefetched as asked. */
static int get_seg(struct ib_pd *pd, const struct ib_sge *sge, bool write,
		   struct hodp_prefetch_seg *seg)
{
	struct hodp_mr *mr = hodp_mr_get(to_hdev(pd->device), sge->lkey, pd,
					 false);
	int ret = 0;

	if (!mr)
		return -ENOENT;
	if (!mr->odp)
		ret = -EINVAL;		/* pinned: nothing to prefetch */
	else if (write && !(mr->access & IB_ACCESS_LOCAL_WRITE))
		ret = -EPERM;
	else if (!hodp_mr_in_range(mr, sge->addr, sge->length))
		ret = -EINVAL;
	if (ret) {
		hodp_mr_put(mr);
		return ret;
	}
	*seg = (struct hodp_prefetch_seg){ mr, sge->addr, sge->length };
	return 0;
}

/**
 * hodp_advise_mr() - the advise_mr verb: prefetch ranges of ODP MRs
 * @pd: the PD the MRs belong to
 * @advice: IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH, _PREFETCH_WRITE or
 *	_PREFETCH_NO_FAULT
 * @flags: IB_UVERBS_ADVISE_MR_FLAG_FLUSH: done when the call returns
 * @sg_list: the ranges (lkey, address, length)
 * @num_sge: how many (uverbs passes at least one)
 * @attrs: unused
 *
 * Return: 0; -EOPNOTSUPP for another advice; -EINVAL for more than
 * HODP_MAX_SGE ranges, a pinned MR or a range outside its MR; -ENOENT for
 * a key that is no MR of @pd; -EPERM for PREFETCH_WRITE of an MR without
 * local write access; -ENOMEM; with FLUSH, the first fault's error
 * (-EFAULT for memory that is not mapped, -EPERM for a write to memory
 * that may not be written, -EINTR on a fatal signal, -ENOENT if an MR was
 * deregistered meanwhile).
 */
int hodp_advise_mr(struct ib_pd *pd, enum ib_uverbs_advise_mr_advice advice,
		   u32 flags, struct ib_sge *sg_list, u32 num_sge,
		   struct uverbs_attr_bundle *attrs)
{
	struct hodp_dev *dev = to_hdev(pd->device);
	bool write = advice == IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE;
	unsigned int mflags = 0;
	struct hodp_prefetch *pf;
	int ret = 0;
	u32 i;

	if (advice != IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH && !write &&
	    advice != IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT)
		return -EOPNOTSUPP;
	if (num_sge > HODP_MAX_SGE) {
		pr_warn_ratelimited("hodp: %s: advise_mr with %u ranges (at most %u)\n",
				    dev_name(&dev->ibdev.dev), num_sge,
				    HODP_MAX_SGE);
		return -EINVAL;
	}
	if (write)
		mflags = HMM_MIRROR_WRITE;
	else if (advice == IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT)
		mflags = HMM_MIRROR_SNAPSHOT;

	pf = hodp_kzalloc(struct_size(pf, seg, num_sge));
	if (!pf)
		return -ENOMEM;
	for (i = 0; i < num_sge && !ret; i++) {
		ret = get_seg(pd, &sg_list[i], write, &pf->seg[i]);
		if (!ret)
			pf->n++;
	}
	if (!ret && !(flags & IB_UVERBS_ADVISE_MR_FLAG_FLUSH) &&
	    atomic_inc_return(&pf->seg[0].mr->odp->prefetch_inflight) <=
	    HODP_PREFETCH_INFLIGHT) {
		INIT_WORK(&pf->work, hodp_prefetch_work);
		pf->odp = pf->seg[0].mr->odp;
		pf->flags = mflags;
		/* Its MRs' memory, not accesses: dereg never waits for it. */
		for (i = 0; i < pf->n; i++) {
			hodp_mr_keep(pf->seg[i].mr);
			hodp_mr_put(pf->seg[i].mr);
		}
		queue_work(hodp_prefetch_wq, &pf->work);
		return 0;
	}
	if (!ret && !(flags & IB_UVERBS_ADVISE_MR_FLAG_FLUSH)) {
		/* Too many queued: done here, its errors dropped all the same. */
		atomic_dec(&pf->seg[0].mr->odp->prefetch_inflight);
		for (i = 0; i < pf->n; i++)
			prefetch_seg(pf->seg[i].mr, pf->seg[i].addr,
				     pf->seg[i].len, mflags, false);
	} else {
		for (i = 0; i < pf->n && !ret; i++)
			ret = prefetch_seg(pf->seg[i].mr, pf->seg[i].addr,
					   pf->seg[i].len, mflags, false);
	}
	for (i = 0; i < pf->n; i++)
		hodp_mr_put(pf->seg[i].mr);
	kfree(pf);
	return ret;
}
