// SPDX-License-Identifier: GPL-2.0
/*
 * hodp: the HCA's copies between segments of MRs (and kernel memory).
 * Page by page: a pinned MR's page comes from its table, an ODP MR's from
 * its mirror under the mirror lock held for reading, across the copy of
 * that page so that no invalidation of it completes meanwhile (copies of
 * other QPs on the same mirror run at once). hodp_segs_prepare() looks
 * the pages up before a WQE starts, where a miss is a fault event; a miss
 * in the copy itself (an invalidation came between) stops it where the
 * WQE's next run goes on (hodp_copy_resumable(): RDMA WRITE, READ, an RC
 * or UC SEND, an executed atomic's result; and hodp_copy_datagram(): a
 * UD datagram), as a fault event, or, once those are over, as miss_way()
 * says.
 * Between two ODP MRs of different mirrors both are locked for reading
 * with hmm_mirror_read_lock_two(), whose order (lockdep-checked) keeps
 * two copies in opposite directions from deadlocking.
 */
#include <linux/highmem.h>
#include <linux/slab.h>

#include "hodp.h"
#include "hodp_trace.h"

/* Pages hodp_segs_prepare() looks up per hold of the mirror read lock. */
#define HODP_PREPARE_BATCH	512
/* Bytes a copy moves between two chances for others to run. */
#define HODP_COPY_CHUNK	SZ_256K

static bool seg_is_odp(const struct hodp_seg *seg)
{
	return seg->mr && seg->mr->odp;
}

static struct hmm_mirror *seg_mirror(const struct hodp_seg *seg)
{
	return seg_is_odp(seg) ? &seg->mr->odp->mirror : NULL;
}

/* Map *len bytes at @off of a segment that is not ODP (kernel or pinned). */
static void *plain_map(struct hodp_seg *seg, u32 off, u32 *len)
{
	if (!seg->mr)
		return (void *)(uintptr_t)(seg->addr + off);
	return hodp_mr_kmap(seg->mr, seg->addr + off, len);
}

/* Under @seg's mirror lock: the kernel address of @addr, NULL on a miss. */
static void *odp_map_locked(struct hodp_seg *seg, u64 addr, bool write)
{
	struct page *page = hodp_odp_page_locked(seg->mr, addr, write);

	if (!page)
		return NULL;
	return kmap_local_page(page) +
	       (hodp_odp_uaddr(seg->mr, addr) & ~PAGE_MASK);
}

/* Undo plain_map() or odp_map_locked(). */
static void seg_unmap(struct hodp_seg *seg, void *va)
{
	if (seg_is_odp(seg))
		kunmap_local(va);
	else if (seg->mr)
		hodp_mr_kunmap(seg->mr, va);
}

/**
 * hodp_copy_must_stop() - should the WQE's copy, or fault, stop here?
 * @ctx: the requester's working memory (ctx->peer: its responder, if any)
 *
 * At a yield or before a fault. The requester's RESET, ERR or destroy
 * ends its WQE (that comes first: a WQE of a closing requester is flushed
 * or discarded, whatever its peer does); the responder's RESET or destroy
 * waits for this copy, and need not wait for all of it (ctx->peer_closed:
 * to the requester, no answer came).
 *
 * Return: true if the WQE should stop.
 */
bool hodp_copy_must_stop(struct hodp_req_ctx *ctx)
{
	if (hodp_req_closing(ctx->qp))
		return true;
	if (ctx->peer && hodp_resp_closing(ctx->peer)) {
		ctx->peer_closed = true;
		return true;
	}
	return false;
}

/**
 * hodp_seg_dying() - has a segment lost its access?
 * @seg: a resolved segment
 *
 * Return: true if its MR is being deregistered or the memory window it
 * came through was invalidated (a kernel segment has no MR: false).
 */
bool hodp_seg_dying(const struct hodp_seg *seg)
{
	if (!seg->mr)
		return false;
	return READ_ONCE(seg->mr->dying) ||
	       (hodp_key_is_mw(seg->mw_rkey) &&
		!hodp_mw_still_bound(seg->mr->dev, seg->mw_rkey, seg->mw_gen));
}

/* A copy's fault, to hmm_mirror_fault_stoppable() through hodp_odp_fault(). */
struct copy_fault {
	struct hodp_req_ctx *ctx;
	struct hodp_seg *seg;
	bool dying;		/* what stopped it: the segment's access */
};

/*
 * Between the attempts of a fault: is the copy over, or the segment's
 * access gone? Which one is recorded, not asked again afterwards: a
 * window rebound meanwhile would answer otherwise.
 */
static bool copy_fault_stop(void *arg)
{
	struct copy_fault *cf = arg;

	if (hodp_copy_must_stop(cf->ctx))
		return true;
	cf->dying = hodp_seg_dying(cf->seg);
	return cf->dying;
}

/**
 * hodp_odp_resolve() - fault a WQE's miss where it stands
 * @ctx: the requester's working memory (its QPs' closing stops the fault)
 * @seg: the ODP segment that missed (the fault goes on to its end)
 * @addr: the address that missed
 * @write: the access writes
 * @tries: the faults left to the caller, one used
 * @fail: what a failure returns
 *
 * For a copy, a lookup or a datagram of the GSI QP (which raises no
 * fault events) once its first miss ended them, where miss_way() says so.
 *
 * Return: 0, HODP_COPY_STOPPED if a QP closed (looked at before the fault
 * and between its attempts: a fault may take a while) or the caller was
 * killed during it (-EINTR: its work is over, not the peer's fault), else
 * @fail: the page cannot be mirrored, its MR is being deregistered or its
 * window revoked, or *@tries ran out.
 */
int hodp_odp_resolve(struct hodp_req_ctx *ctx, struct hodp_seg *seg,
		     u64 addr, bool write, int *tries, int fail)
{
	struct copy_fault cf = { .ctx = ctx, .seg = seg };
	int ret;

	if (hodp_copy_must_stop(ctx))
		return HODP_COPY_STOPPED;
	if (hodp_seg_dying(seg) || (*tries)-- <= 0)
		return fail;
	ret = hodp_odp_fault(seg->mr, hodp_odp_uaddr(seg->mr, addr),
			     hodp_odp_uaddr(seg->mr, seg->addr + seg->len),
			     write, 0, copy_fault_stop, &cf);
	if (ret == -ECANCELED)
		return cf.dying ? fail : HODP_COPY_STOPPED;
	if (ret == -EINTR)
		return HODP_COPY_STOPPED;
	if (ret)
		return fail;
	trace_hodp_odp_resume(seg->mr, addr, write);
	return 0;
}

static void odp_dirty_locked(struct hodp_seg *seg, u64 addr)
{
	hmm_mirror_set_dirty(seg_mirror(seg), hodp_odp_uaddr(seg->mr, addr));
}

/* At most the rest of the page @addr is in. */
static u32 page_rest(const struct hodp_mr *mr, u64 addr, u32 len)
{
	u64 off = hodp_odp_uaddr(mr, addr) & ~PAGE_MASK;

	return min_t(u64, len, PAGE_SIZE - off);
}

/*
 * Lock the mirrors of a copy's two sides for reading (NULL: not ODP). Two
 * different mirrors (two processes) are locked in the core's order, so
 * copies in opposite directions between them cannot deadlock.
 */
static void copy_lock(struct hmm_mirror *dm, struct hmm_mirror *sm)
{
	if (dm && sm)
		hmm_mirror_read_lock_two(dm, sm);
	else if (dm || sm)
		hmm_mirror_read_lock(dm ?: sm);
}

static void copy_unlock(struct hmm_mirror *dm, struct hmm_mirror *sm)
{
	if (dm && sm)
		hmm_mirror_read_unlock_two(dm, sm);
	else if (dm || sm)
		hmm_mirror_read_unlock(dm ?: sm);
}

/* Is @seg one of the requester's own buffers (its WQE's, by lkey)? */
static bool seg_is_local(const struct hodp_req_ctx *ctx,
			 const struct hodp_seg *seg)
{
	return seg >= ctx->lseg && seg < ctx->lseg + ARRAY_SIZE(ctx->lseg);
}

/**
 * hodp_record_miss() - record a miss of a WQE's run as its fault event
 * @ctx: the requester's working memory; ctx->miss is free
 * @seg: the segment that missed, its MR referenced
 * @addr: where (an address of @seg)
 * @end: the end of what the access needs there (the fault reaches ahead
 *	to it)
 * @write: the access writes
 *
 * For hodp_segs_prepare(), a resumable copy, or an atomic whose page was
 * invalidated since its lookups: the caller stops its WQE there, run_sq()
 * raises the event (hodp_fault_raise()) and hodp_fault.c resolves it.
 */
void hodp_record_miss(struct hodp_req_ctx *ctx, struct hodp_seg *seg,
		      u64 addr, u64 end, bool write)
{
	/* One miss per run: one recorded over another would leak its MR. */
	if (WARN_ON_ONCE(ctx->miss.mr))
		hodp_mr_put(ctx->miss.mr);
	hodp_mr_hold(seg->mr);
	ctx->miss = (struct hodp_fault_ev){ .mr = seg->mr, .addr = addr,
					    .end = end, .write = write,
					    .remote = !seg_is_local(ctx, seg) };
}

/*
 * What a miss at @seg becomes: a miss recorded (ctx->miss), which
 * run_sq() raises as a fault event, also once the WQE's events for its
 * own memory are over (qp->fault_inplace: an event's fault failed, or
 * their bounds were reached): then a miss of the requester's own memory
 * is one of its last events (hodp_fault.c, fault_last_left()), until one
 * failed (qp->inplace_failed); one of the responder's memory (never
 * faulted by a requester) is still an event, until an event of it failed
 * for good or the bounds were reached (qp->fault_peer_fails). A miss
 * after those fails the access as a page that cannot be mirrored does
 * (a local protection error, a remote access error, or the receive's
 * error: mlx5's answer to a fault it could not resolve). Never faulted
 * in the QP's work, nor inside the responder, whose RESET waits for a
 * requester inside it: a fault may block in the mm for as long as that
 * memory's owner wants (a FUSE server). But the GSI QP raises no events:
 * once its first miss ended them, its misses are faulted where they
 * stand (hodp_respond_ud() does a datagram's, out of ud_lock).
 */
enum hodp_miss_way {
	HODP_MISS_RECORD,	/* in ctx->miss, for run_sq() */
	HODP_MISS_FAULT,	/* faulted here */
	HODP_MISS_FAIL,		/* the access fails, no fault */
};

static enum hodp_miss_way miss_way(const struct hodp_req_ctx *ctx,
				   const struct hodp_seg *seg)
{
	const struct hodp_qp *qp = ctx->qp;

	if (!READ_ONCE(qp->fault_inplace))
		return HODP_MISS_RECORD;
	if (qp->ibqp.qp_type == IB_QPT_GSI)
		return HODP_MISS_FAULT;
	if (seg_is_local(ctx, seg))
		return READ_ONCE(qp->inplace_failed) ? HODP_MISS_FAIL :
						       HODP_MISS_RECORD;
	return READ_ONCE(qp->fault_peer_fails) ? HODP_MISS_FAIL :
						 HODP_MISS_RECORD;
}

/**
 * hodp_miss_unfaulted() - a miss that is not faulted where it stands
 * @ctx: the requester's working memory; ctx->miss is free
 * @seg: the segment that missed, its MR referenced
 * @addr: where (an address of @seg)
 * @end: the end of what the access needs there
 * @write: the access writes
 * @fail: what a failure returns
 *
 * A copy's miss, or an atomic's at its target: as hodp_odp_resolve()
 * would, it stops for a QP closing and fails an access gone; else it
 * fails if miss_way() says so, or is recorded in ctx->miss.
 *
 * Return: HODP_COPY_STOPPED, @fail, or HODP_COPY_EVENT (recorded).
 */
int hodp_miss_unfaulted(struct hodp_req_ctx *ctx, struct hodp_seg *seg,
			u64 addr, u64 end, bool write, int fail)
{
	if (hodp_copy_must_stop(ctx))
		return HODP_COPY_STOPPED;
	if (miss_way(ctx, seg) == HODP_MISS_FAIL || hodp_seg_dying(seg))
		return fail;
	hodp_record_miss(ctx, seg, addr, end, write);
	return HODP_COPY_EVENT;
}

/*
 * A miss of the copy at @addr of @seg, as miss_way() says (recorded:
 * HODP_COPY_EVENT, the caller stops the WQE there; so is a miss the caller
 * faults itself, ctx->copy_defer).
 */
static int copy_miss(struct hodp_req_ctx *ctx, struct hodp_seg *seg,
		     u64 addr, bool write, int *tries, int fail)
{
	if (miss_way(ctx, seg) == HODP_MISS_FAULT && !ctx->copy_defer)
		return hodp_odp_resolve(ctx, seg, addr, write, tries, fail);
	return hodp_miss_unfaulted(ctx, seg, addr, seg->addr + seg->len, write,
				   fail);
}

/*
 * Debugging kernels: a destination page gone since the lookups, while
 * the WQE's events for its own memory last (hodp/copy_miss) or once they
 * are over (hodp/inplace_miss): see copy_miss().
 */
static bool inject_miss(const struct hodp_req_ctx *ctx)
{
	if (!IS_ENABLED(CONFIG_INFINIBAND_HODP_FAULT_INJECTION))
		return false;
	if (!READ_ONCE(ctx->qp->fault_inplace))
		return hodp_inject_copy_miss();
	return hodp_inject_inplace_miss();
}

/*
 * One step of a copy: at most *len bytes from @src at @soff to @dst at
 * @doff, within one page of each side; *len says how many were copied.
 * The mirrors of both sides are locked for reading across it (one, if the
 * same; two, with hmm_mirror_read_lock_two()): other copies of the same
 * mirrors run meanwhile, invalidations wait. Return: 0,
 * HODP_COPY_DST_FAULT, HODP_COPY_SRC_FAULT, HODP_COPY_STOPPED or
 * HODP_COPY_EVENT.
 */
static int copy_step(struct hodp_req_ctx *ctx, struct hodp_seg *dst, u32 doff,
		     struct hodp_seg *src, u32 soff, u32 *len)
{
	struct hmm_mirror *dm = seg_mirror(dst), *sm = seg_mirror(src);
	u64 daddr = dst->addr + doff, saddr = src->addr + soff;
	int tries = HODP_FAULT_TRIES, ret;
	u32 n = *len;
	void *d, *s;

	if (dm)
		n = page_rest(dst->mr, daddr, n);
	if (sm)
		n = page_rest(src->mr, saddr, n);

	for (;;) {
		u32 dn = n, sn;
		bool gone = false;

		/* Asked outside the lock: it may log (fault_attr verbose). */
		if (dm)
			gone = inject_miss(ctx);
		copy_lock(dm, sm);
		if (gone)
			d = NULL;
		else
			d = dm ? odp_map_locked(dst, daddr, true) :
				 plain_map(dst, doff, &dn);
		if (!d) {
			copy_unlock(dm, sm);
			ret = copy_miss(ctx, dst, daddr, true, &tries,
					HODP_COPY_DST_FAULT);
			if (ret)
				return ret;
			continue;
		}
		sn = dn;
		s = sm ? odp_map_locked(src, saddr, false) :
			 plain_map(src, soff, &sn);
		if (!s) {
			seg_unmap(dst, d);
			copy_unlock(dm, sm);
			ret = copy_miss(ctx, src, saddr, false, &tries,
					HODP_COPY_SRC_FAULT);
			if (ret)
				return ret;
			continue;
		}
		memcpy(d, s, sn);
		seg_unmap(src, s);
		seg_unmap(dst, d);
		if (dm)
			odp_dirty_locked(dst, daddr);
		copy_unlock(dm, sm);
		*len = sn;
		return 0;
	}
}

/* The segment of @seg[@n] holding byte *@off; *@off becomes its offset. */
static u32 seg_at(const struct hodp_seg *seg, u32 n, u32 *off)
{
	u32 i = 0;

	while (i < n && *off >= seg[i].len) {
		*off -= seg[i].len;
		i++;
	}
	return i;
}

/*
 * Copy @len bytes from byte @sskip of @src to byte @dskip of @dst; *@left:
 * the bytes of @len not copied when it returns.
 */
static int copy_segs(struct hodp_req_ctx *ctx, struct hodp_seg *dst,
		     u32 ndst, u32 dskip, struct hodp_seg *src, u32 nsrc,
		     u32 sskip, u32 len, u32 *left)
{
	u32 doff = dskip, soff = sskip, since_yield = 0;
	u32 di = seg_at(dst, ndst, &doff), si = seg_at(src, nsrc, &soff);
	int ret = 0;

	/*
	 * An access revoked before the first byte (an MR being deregistered,
	 * a window invalidated during hodp_segs_prepare()'s faults): the
	 * yields below look again, every HODP_COPY_CHUNK.
	 */
	if (len && di < ndst && hodp_seg_dying(&dst[di]))
		ret = HODP_COPY_DST_FAULT;
	else if (len && si < nsrc && hodp_seg_dying(&src[si]))
		ret = HODP_COPY_SRC_FAULT;

	while (!ret && len && di < ndst && si < nsrc) {
		u32 n = min3(len, dst[di].len - doff, src[si].len - soff);

		n = min_t(u32, n, HODP_COPY_CHUNK);
		ret = copy_step(ctx, &dst[di], doff, &src[si], soff, &n);
		if (ret)
			break;
		since_yield += n;
		len -= n;
		if (since_yield >= HODP_COPY_CHUNK && len) {
			since_yield = 0;
			cond_resched();
			if (hodp_copy_must_stop(ctx))
				ret = HODP_COPY_STOPPED;
			else if (hodp_seg_dying(&dst[di]))
				ret = HODP_COPY_DST_FAULT;
			else if (hodp_seg_dying(&src[si]))
				ret = HODP_COPY_SRC_FAULT;
		}
		doff += n;
		soff += n;
		if (doff == dst[di].len) {
			di++;
			doff = 0;
		}
		if (soff == src[si].len) {
			si++;
			soff = 0;
		}
	}
	*left = len;
	return ret;
}

/*
 * Copy @hdr (none if NULL) then @len bytes of @src into @dst, after the
 * ctx->copied bytes of both together that the last run did; a miss
 * recorded (copy_miss()) stops it, its bytes done in ctx->copied.
 */
static int copy_from_copied(struct hodp_req_ctx *ctx, struct hodp_seg *dst,
			    u32 ndst, struct hodp_seg *hdr,
			    struct hodp_seg *src, u32 nsrc, u32 len)
{
	u32 hlen = hdr ? hdr->len : 0, total = hlen + len, left = 0, skip;
	/* The ring's WQE read again by this run may be shorter (hostile). */
	u32 done = ctx->copied < total ? ctx->copied : 0;
	int ret = 0;

	if (done < hlen)
		ret = copy_segs(ctx, dst, ndst, done, hdr, 1, done,
				hlen - done, &left);
	if (ret) {
		left += len;
	} else {
		/* The payload's bytes done: none, or all but those left. */
		skip = done > hlen ? done - hlen : 0;
		ret = copy_segs(ctx, dst, ndst, hlen + skip, src, nsrc, skip,
				len - skip, &left);
	}
	if (ret == HODP_COPY_EVENT)
		ctx->copied = total - left;
	return ret;
}

/**
 * hodp_copy_resumable() - copy the head WQE's bytes from one segment list
 *	to another, a miss stopping it where a next run goes on
 * @ctx: the requester's working memory
 * @dst: destination segments
 * @ndst: how many
 * @src: source segments
 * @nsrc: how many
 * @len: bytes of the message; both lists hold at least that many
 *
 * Page by page; pages of ODP MRs are looked up in their mirror. Process
 * context, no spinlock held: a copy may be 2 GiB, it yields the CPU every
 * HODP_COPY_CHUNK bytes, and stops there if its requester or responder
 * (ctx->peer) is closing, or if an MR it is copying from or to is being
 * deregistered (its key became invalid during the message).
 *
 * For a WQE that may run again from where it stopped (an RDMA WRITE, READ
 * or an RC or UC SEND: nothing executed that a second run would repeat; a
 * receive WQE it claimed is held by the responder meanwhile), or an
 * executed atomic's result (its next run writes the value kept). It starts
 * after the ctx->copied bytes its last run did; a page missing there (an
 * invalidation after hodp_segs_prepare()) stops it with the miss in
 * ctx->miss and the bytes done in ctx->copied: run_sq() raises the event
 * (one of the last, the WQE's events for its own memory over), and the
 * next run goes on from that byte; or it fails the copy, or is faulted
 * here (the GSI QP's), as miss_way() says.
 *
 * Return: 0, HODP_COPY_EVENT (the miss in ctx->miss), or
 * HODP_COPY_DST_FAULT or HODP_COPY_SRC_FAULT if a page of that side could
 * not be mirrored (unmapped, or a write to read-only memory), or is the
 * responder's once its events are over, or its MR is being deregistered,
 * or HODP_COPY_STOPPED if a QP closed: the copy stopped there.
 */
int hodp_copy_resumable(struct hodp_req_ctx *ctx, struct hodp_seg *dst,
			u32 ndst, struct hodp_seg *src, u32 nsrc, u32 len)
{
	return copy_from_copied(ctx, dst, ndst, NULL, src, nsrc, len);
}

/**
 * hodp_copy_datagram() - the copy of a UD datagram into its receive WQE:
 *	its header, then its payload
 * @ctx: the requester's working memory
 * @dst: the receive WQE's segments
 * @ndst: how many
 * @hdr: the header, kernel memory (built again by every run; the resume
 *	mark covers it, resume_mark() in hodp_resp.c)
 * @src: the payload's segments
 * @nsrc: how many
 * @len: bytes of payload; @dst holds @hdr's and these
 *
 * It starts after the ctx->copied bytes (of header and payload together)
 * its last run did. A miss never faults here: it stops the copy as a
 * fault event does (HODP_COPY_EVENT, ctx->miss, ctx->copied), also once
 * the WQE's events are over (unless miss_way() fails it): the GSI QP's
 * is then faulted out of the responder's ud_lock (hodp_respond_ud()),
 * and the copy goes on; another's is one of its last events.
 *
 * Return: as hodp_copy_resumable().
 */
int hodp_copy_datagram(struct hodp_req_ctx *ctx, struct hodp_seg *dst,
		       u32 ndst, struct hodp_seg *hdr, struct hodp_seg *src,
		       u32 nsrc, u32 len)
{
	int ret;

	ctx->copy_defer = true;
	ret = copy_from_copied(ctx, dst, ndst, hdr, src, nsrc, len);
	ctx->copy_defer = false;
	return ret;
}

/**
 * hodp_copy_fault_miss() - fault a copy's miss where it stands
 * @ctx: the requester's working memory, its miss in ctx->miss (a GSI
 *	datagram's, once its first miss ended the events it does not
 *	raise: its own buffer's, through an lkey, or the receive's; so no
 *	window to look at again)
 * @tries: the faults left to the WQE from the byte its copy reached (the
 *	caller's count), one used
 *
 * Faults the page as a copy that faults where it stands would, stopping
 * as it would (a QP closing, the MR being deregistered); the miss is
 * consumed either way.
 *
 * Return: 0 (copy again), HODP_COPY_STOPPED, or HODP_COPY_DST_FAULT or
 * HODP_COPY_SRC_FAULT (the receive's page, written, or the source's)
 * if it cannot be mirrored or *@tries ran out.
 */
int hodp_copy_fault_miss(struct hodp_req_ctx *ctx, int *tries)
{
	struct hodp_fault_ev miss = ctx->miss;
	struct hodp_seg seg = { .mr = miss.mr, .addr = miss.addr,
				.len = miss.end - miss.addr };
	int ret;

	ctx->miss.mr = NULL;
	ret = hodp_odp_resolve(ctx, &seg, miss.addr, miss.write, tries,
			       miss.write ? HODP_COPY_DST_FAULT :
					    HODP_COPY_SRC_FAULT);
	hodp_mr_put(miss.mr);
	return ret;
}

/**
 * hodp_atomic_result() - write an executed atomic's result into its buffer
 * @ctx: the requester's working memory: the atomic's local segments, its
 *	result in ctx->atomic_result (ctx->atomic_done set)
 *
 * Once the responder executed the atomic, the value is the requester's
 * whatever happens there (a second execution would be wrong): a page of
 * the local buffer invalidated since the WQE's lookups is a fault event
 * of the requester (ctx->miss), as for a resumable copy, and the WQE's
 * next run calls this again instead of executing it (also once the
 * WQE's events are over: one of its last, hodp_fault.c).
 *
 * Context: process context, the requester's req_lock held (its send queue
 * being run), ctx->atomic_done set by the caller; may sleep (a mirror's
 * lock, never a fault).
 * Return: the WQE's status (IB_WC_SUCCESS with ctx->miss set: a fault
 * event), a local protection error if the buffer cannot be mirrored
 * writable, a flush error if the requester is closing.
 */
enum ib_wc_status hodp_atomic_result(struct hodp_req_ctx *ctx)
{
	struct hodp_seg res = { .addr = (uintptr_t)&ctx->atomic_result,
				.len = sizeof(ctx->atomic_result) };
	int ret;

	lockdep_assert_held(&ctx->qp->req_lock);
	ret = hodp_copy_resumable(ctx, ctx->lseg, ctx->nlseg, &res, 1,
				  sizeof(ctx->atomic_result));
	if (ret == HODP_COPY_EVENT)
		return IB_WC_SUCCESS;
	if (ret == HODP_COPY_STOPPED)
		return IB_WC_WR_FLUSH_ERR;
	return ret ? IB_WC_LOC_PROT_ERR : IB_WC_SUCCESS;
}

/**
 * hodp_segs_prepare() - mirror what a WQE's buffers miss, before using them
 * @ctx: the requester's working memory (ctx->peer set for the responder's
 *	buffers)
 * @seg: the segments
 * @n: how many
 * @len: bytes of them the message uses
 * @write: the HCA will write them
 * @done: in: bytes at the start known mirrored (skipped); out: how far
 *	the lookups got
 *
 * Before a WQE does anything that cannot be undone (reaching its peer,
 * claiming a receive WQE, writing a byte, executing an atomic): a buffer
 * that misses pages then costs a fault event and a new run of the WQE,
 * nothing else. Pages present cost a lookup each. The first miss is
 * recorded in ctx->miss (the caller raises it), or, as miss_way() says
 * once the WQE's events for its own memory are over, left to fail
 * (-EFAULT: the last events failed, or the responder's memory, never
 * faulted by a requester) or, for the GSI QP, faulted where it stands
 * (hodp_odp_fault() reaches ahead). An invalidation may still come before
 * the copy, which then raises it (hodp_copy_resumable()) or faults itself
 * (the GSI QP).
 * It stops when the requester or the peer closes (a 2 GiB buffer is many
 * lookups).
 *
 * Return: 0, -EAGAIN (ctx->miss holds the fault to raise), -EINTR if a QP
 * is closing, or -EFAULT if a page cannot be mirrored or an MR is being
 * deregistered.
 */
int hodp_segs_prepare(struct hodp_req_ctx *ctx, struct hodp_seg *seg, u32 n,
		      u32 len, bool write, u32 *done)
{
	u64 pos = 0, missed = U64_MAX;	/* where the last miss was */
	int tries = HODP_FAULT_TRIES;
	u32 i;

	for (i = 0; i < n && pos < len; pos += seg[i].len, i++) {
		struct hodp_seg *s = &seg[i];
		u64 lo = max_t(u64, pos, *done) - pos;
		u64 hi = min_t(u64, s->len, len - pos);
		u64 addr = s->addr + lo, end = s->addr + hi;

		if (!seg_is_odp(s) || lo >= hi)
			continue;
		while (addr < end) {
			struct hodp_mr *mr = s->mr;
			enum hodp_miss_way way;
			int ret, pages = 0;

			/* A leaf's worth of lookups per lock hold. */
			hmm_mirror_read_lock(&mr->odp->mirror);
			while (addr < end && pages++ < HODP_PREPARE_BATCH &&
			       hodp_odp_page_locked(mr, addr, write))
				addr += page_rest(mr, addr, end - addr);
			hmm_mirror_read_unlock(&mr->odp->mirror);
			*done = pos + (addr - s->addr);
			cond_resched();
			if (hodp_copy_must_stop(ctx))
				return -EINTR;
			if (hodp_seg_dying(s))
				return -EFAULT;
			if (addr >= end || pages > HODP_PREPARE_BATCH)
				continue;
			/*
			 * A miss at addr: as miss_way() says (what it reads
			 * is stable during a run: written by the run itself,
			 * or by the event before the run began).
			 */
			way = miss_way(ctx, s);
			if (way == HODP_MISS_FAIL)
				return -EFAULT;
			if (way == HODP_MISS_RECORD) {
				hodp_record_miss(ctx, s, addr, end, write);
				return -EAGAIN;
			}
			/*
			 * Only misses at the same address count (addr only
			 * grows, so the faults are bounded by the pages).
			 */
			if (addr != missed)
				tries = HODP_FAULT_TRIES;
			missed = addr;
			ret = hodp_odp_resolve(ctx, s, addr, write, &tries,
					       -EFAULT);
			if (ret == HODP_COPY_STOPPED)
				return -EINTR;
			if (ret)
				return ret;
		}
	}
	return 0;
}
