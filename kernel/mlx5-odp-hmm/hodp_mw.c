// SPDX-License-Identifier: GPL-2.0
/*
 * hodp: memory windows, types 1 and 2B.
 *
 * A window is an rkey of its own over a range of an MR, with rights of its
 * own. Both types are bound by a BIND_MW work request executed in order by
 * the requester (type 1 through the provider's ibv_bind_mw(), type 2 posted
 * by the user); a type 1 window is invalidated by a bind of length 0, a
 * type 2 one by LOCAL_INV on, or SEND_WITH_INV into, the QP it was bound
 * through, and both by deallocation. A bound window holds a reference of
 * its MR, and the MR refuses deregistration while windows are bound to it
 * (as rxe, IBA 10.6.7.2.6).
 *
 * Window keys index the device's mws table, above every MR index, with 8
 * bits the binder chooses. The table's lock is the lock of every binding:
 * a lookup (the responder's, hodp_mw_remote_mr()) checks key, PD, QP,
 * rights and range and takes its MR reference under it, so what the
 * responder then accesses is the MR itself through its own translation
 * path, pinned or ODP. An invalidation or deallocation stops every access
 * that begins after it, and one in progress at its copy's next yield
 * (hodp_mw_still_bound(), every 256 KiB): the rest of that message is a
 * remote access error.
 */
#include <linux/random.h>

#include "hodp.h"

/* The rights a window can grant (hodp has no zero-based windows). */
#define HODP_MW_ACCESS	(IB_ACCESS_LOCAL_WRITE | IB_ACCESS_REMOTE_READ | \
			 IB_ACCESS_REMOTE_WRITE | IB_ACCESS_REMOTE_ATOMIC)

static atomic64_t hodp_qp_serial = ATOMIC64_INIT(0);

/**
 * hodp_qp_next_serial() - a number no other QP of the module's life has
 *
 * Return: it (a type 2 window names its QP by it: no pointer to go stale).
 */
u64 hodp_qp_next_serial(void)
{
	return atomic64_inc_return(&hodp_qp_serial);
}

/* ib_device_ops.alloc_mw: a window with no binding. */
int hodp_alloc_mw(struct ib_mw *ibmw, struct ib_udata *udata)
{
	struct hodp_dev *dev = to_hdev(ibmw->device);
	struct hodp_mw *mw = to_hmw(ibmw);
	u32 index;
	int ret;

	if (ibmw->type != IB_MW_TYPE_1 && ibmw->type != IB_MW_TYPE_2)
		return -EINVAL;
	if (hodp_should_fail_alloc())
		return -ENOMEM;
	if (atomic_inc_return(&dev->nr_mw) > HODP_MAX_MW) {
		atomic_dec(&dev->nr_mw);
		return -ENOMEM;
	}
	/*
	 * Keyed under the lock: a lookup never sees it without its key. A
	 * verb of process context: the allocation may drop the lock to sleep.
	 */
	xa_lock_irq(&dev->mws);
	ret = __xa_alloc_cyclic(&dev->mws, &index, mw,
				XA_LIMIT(HODP_MW_INDEX_MIN, HODP_MW_INDEX_MAX),
				&dev->next_mw, GFP_KERNEL);
	if (ret >= 0) {
		mw->rkey = (index << 8) | (get_random_u32() & 0xff);
		ibmw->rkey = mw->rkey;
	}
	xa_unlock_irq(&dev->mws);
	if (ret < 0) {
		atomic_dec(&dev->nr_mw);
		return ret;
	}
	return 0;
}

/* Drop the binding of @mw, under the mws lock. */
static void mw_unbind(struct hodp_mw *mw)
{
	if (mw->mr) {
		mw->mr->nr_mw--;
		hodp_mr_put(mw->mr);
		mw->mr = NULL;
	}
	mw->bound = false;
	mw->addr = 0;
	mw->length = 0;
	mw->access = 0;
	mw->qp_serial = 0;
	mw->gen++;	/* a message in progress through it loses access */
}

/*
 * ib_device_ops.dealloc_mw: the key goes, with the binding. Accesses that
 * looked the key up before hold the MR, not the window.
 */
int hodp_dealloc_mw(struct ib_mw *ibmw)
{
	struct hodp_dev *dev = to_hdev(ibmw->device);
	struct hodp_mw *mw = to_hmw(ibmw);
	unsigned long flags;

	xa_lock_irqsave(&dev->mws, flags);
	__xa_erase(&dev->mws, mw->rkey >> 8);
	mw_unbind(mw);
	xa_unlock_irqrestore(&dev->mws, flags);
	atomic_dec(&dev->nr_mw);
	return 0;
}

/* May @mr (referenced, of the QP's PD) take a window of @wr's? */
static bool mr_bindable(const struct hodp_mr *mr, u64 addr, u64 length,
			int access)
{
	if (mr->kernel_dma || !(mr->access & IB_ACCESS_MW_BIND))
		return false;
	/* C10-74: remote writers of the window write the MR's pages. */
	if ((access & (IB_ACCESS_REMOTE_WRITE | IB_ACCESS_REMOTE_ATOMIC)) &&
	    !(mr->access & IB_ACCESS_LOCAL_WRITE))
		return false;
	return hodp_mr_in_range(mr, addr, length);
}

/**
 * hodp_mw_bind() - execute a BIND_MW work request
 * @qp: the requester (in RTS, its send queue's runner)
 * @wr: the WQE, already copied out of the ring (read once here)
 *
 * Type 1: binds or rebinds; a length of 0 leaves the window unbound
 * (invalidated). Type 2: binds a window that is not bound, with a range,
 * for this QP only. Either way the rkey's low byte becomes the WQE's.
 *
 * Return: IB_WC_SUCCESS, or IB_WC_MW_BIND_ERR (as rxe).
 */
enum ib_wc_status hodp_mw_bind(struct hodp_qp *qp, const struct rxe_send_wr *wr)
{
	struct hodp_dev *dev = qp->dev;
	u32 mw_rkey = wr->wr.mw.mw_rkey;
	u32 key = wr->wr.mw.rkey & 0xff;
	u64 addr = wr->wr.mw.addr;
	u64 length = wr->wr.mw.length;
	int access = wr->wr.mw.access;
	struct hodp_mr *mr = NULL;
	enum ib_wc_status status = IB_WC_MW_BIND_ERR;
	unsigned long flags;
	struct hodp_mw *mw;

	if (!hodp_key_is_mw(mw_rkey) || (access & ~HODP_MW_ACCESS))
		return IB_WC_MW_BIND_ERR;
	if (length) {
		mr = hodp_mr_get(dev, wr->wr.mw.mr_lkey, qp->ibqp.pd, false);
		if (!mr)
			return IB_WC_MW_BIND_ERR;
		if (!mr_bindable(mr, addr, length, access))
			goto out;
	}

	xa_lock_irqsave(&dev->mws, flags);
	mw = xa_load(&dev->mws, mw_rkey >> 8);
	if (!mw || mw->rkey != mw_rkey || mw->ibmw.pd != qp->ibqp.pd)
		goto unlock;
	/* Type 2: o10-37.2.30 (only a free one), o10-37.2.40 (a range). */
	if (mw->ibmw.type == IB_MW_TYPE_2 && (mw->bound || !mr))
		goto unlock;
	/* Deregistration began: it saw no window, none may come now. */
	if (mr && mr->dying)
		goto unlock;
	mw_unbind(mw);
	mw->rkey = (mw->rkey & ~0xffU) | key;
	if (mr) {
		mr->nr_mw++;
		mw->mr = mr;		/* the window keeps the reference */
		mr = NULL;
		mw->bound = true;
		mw->addr = addr;
		mw->length = length;
		mw->access = access;
		if (mw->ibmw.type == IB_MW_TYPE_2)
			mw->qp_serial = qp->serial;
	}
	status = IB_WC_SUCCESS;
unlock:
	xa_unlock_irqrestore(&dev->mws, flags);
out:
	if (mr)
		hodp_mr_put(mr);
	return status;
}

/**
 * hodp_mw_invalidate() - invalidate a type 2 window (LOCAL_INV of the
 *	requester, or SEND_WITH_INV at the responder)
 * @qp: the QP the invalidation came through: a bound window must have
 *	been bound through it
 * @rkey: the window's current rkey (hodp has no fast-registered MRs: an
 *	MR's key is refused)
 *
 * A type 2 window that is not bound stays so (as rxe).
 *
 * Return: 0, or -EINVAL.
 */
int hodp_mw_invalidate(struct hodp_qp *qp, u32 rkey)
{
	struct hodp_dev *dev = qp->dev;
	unsigned long flags;
	struct hodp_mw *mw;
	int ret = -EINVAL;

	if (!hodp_key_is_mw(rkey))
		return -EINVAL;
	xa_lock_irqsave(&dev->mws, flags);
	mw = xa_load(&dev->mws, rkey >> 8);
	/* o10-37.2.26: not a type 1 window. */
	if (mw && mw->rkey == rkey && mw->ibmw.type == IB_MW_TYPE_2 &&
	    mw->ibmw.pd == qp->ibqp.pd &&
	    (!mw->bound || mw->qp_serial == qp->serial)) {
		mw_unbind(mw);
		ret = 0;
	}
	xa_unlock_irqrestore(&dev->mws, flags);
	return ret;
}

/**
 * hodp_mw_remote_mr() - the MR a window's rkey gives a peer access to
 * @resp: the responder QP the access came to
 * @rkey: a window's rkey (hodp_key_is_mw())
 * @addr: first address of the access
 * @len: its bytes
 * @need: the right it needs (IB_ACCESS_REMOTE_*)
 * @gen: set to the binding's generation, for hodp_mw_still_bound()
 *
 * Only a bound window of the responder's PD, with the right, the access
 * inside its range and (type 2) bound through @resp, gives it; the rights
 * are the window's (the MR's remote rights are not asked for).
 *
 * Return: the MR, referenced (hodp_mr_put()), to access at @addr as its
 * own rkey would; or NULL: a remote access error.
 */
struct hodp_mr *hodp_mw_remote_mr(struct hodp_qp *resp, u32 rkey, u64 addr,
				  u32 len, int need, u32 *gen)
{
	struct hodp_dev *dev = resp->dev;
	struct hodp_mr *mr = NULL;
	unsigned long flags;
	struct hodp_mw *mw;

	xa_lock_irqsave(&dev->mws, flags);
	mw = xa_load(&dev->mws, rkey >> 8);
	if (mw && mw->rkey == rkey && mw->bound &&
	    mw->ibmw.pd == resp->ibqp.pd && (mw->access & need) == need &&
	    (mw->ibmw.type == IB_MW_TYPE_1 || mw->qp_serial == resp->serial) &&
	    addr >= mw->addr && len <= mw->length &&
	    addr - mw->addr <= mw->length - len &&
	    kref_get_unless_zero(&mw->mr->ref)) {
		mr = mw->mr;
		*gen = mw->gen;
	}
	xa_unlock_irqrestore(&dev->mws, flags);
	return mr;
}

/**
 * hodp_mw_still_bound() - is a window still bound as a message found it?
 * @dev: the device
 * @rkey: the window's rkey that a message in progress came with
 * @gen: the binding's generation hodp_mw_remote_mr() gave
 *
 * A long message through a window looks again at every yield of its copy:
 * once the window is invalidated, rebound or deallocated, the rest of the
 * message has no access, even if a new binding has the same rkey (a type
 * 2 window's key byte is the binder's choice) and covers it: its rights
 * and range were checked against the binding it began with.
 *
 * Return: true if the window still has @rkey and the binding of @gen.
 */
bool hodp_mw_still_bound(struct hodp_dev *dev, u32 rkey, u32 gen)
{
	unsigned long flags;
	struct hodp_mw *mw;
	bool ok;

	xa_lock_irqsave(&dev->mws, flags);
	mw = xa_load(&dev->mws, rkey >> 8);
	ok = mw && mw->rkey == rkey && mw->bound && mw->gen == gen;
	xa_unlock_irqrestore(&dev->mws, flags);
	return ok;
}
