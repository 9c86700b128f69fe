// SPDX-License-Identifier: GPL-2.0
/*
 * hodp: the per-MR counters of ODP MRs, under the names mlx5 gives them
 * (rdma statistic show mr):
 *
 *   page_faults         pages mirrored by the faults resolved for the MR
 *                       (hodp_odp_fault() that succeeded): pages, not
 *                       fault events, as mlx5 adds the pages its fault
 *                       handler mapped for the MR. The port counter
 *                       odp_faults counts the events.
 *   page_invalidations  pages of the MR that had a mirror entry when an
 *                       invalidation of the mirror took it away: as mlx5
 *                       counts the translations its invalidation zaps. A
 *                       page of two overlapping MRs counts for each.
 *   page_prefetch       pages prefetched (ibv_advise_mr, hodp_prefetch.c)
 *
 * A pinned MR reports no counters, as on mlx5: it never faults and is
 * never invalidated, and a row of zeros would read as an ODP MR that was
 * never used.
 *
 * The mirror's ->invalidate is one for all ODP MRs of a device and mm,
 * and sees every page-table change of the 2 MiB leaves the mirror holds
 * pages of (one call per leaf), many of them outside any MR. So the MRs of
 * a mirror are kept in an interval tree by user
 * range: finding those an invalidation overlaps is one tree descent plus
 * one step per MR found, however many MRs the process has. Implicit MRs,
 * which all cover the whole address space, have a tree of their own, so
 * that the tree of explicit MRs answers "does an explicit MR cover this
 * leaf" (hodp_odp.c) in one descent. The trees are
 * under the mirror lock, which ->invalidate is called with (for writing):
 * it takes no lock of its own (faults hold none of hodp's locks that it
 * would need), and registration and deregistration hold the mirror lock
 * exclusively (hmm_mirror_lock()) only around the insert or remove,
 * allocating nothing; the implicit MRs' leaf check only reads the tree,
 * under the read lock. The pages of an MR still
 * mirrored in the range are counted by the core over the leaves that
 * exist (hmm_mirror_count_valid()): an implicit MR overlaps every
 * invalidation of its process, and a range the device never touched
 * costs nothing to count.
 */
#include <net/netlink.h>
#include <rdma/restrack.h>
#include <uapi/rdma/rdma_netlink.h>

#include "hodp.h"
#include "hodp_trace.h"

/* The tree of @mr's kind in its mirror. */
static struct rb_root_cached *odp_tree(struct hodp_mr *mr)
{
	return mr->implicit ? &mr->odp->implicit_mrs : &mr->odp->mrs;
}

/**
 * hodp_odp_stats_add() - make an ODP MR's pages countable by invalidations
 * @mr: a registered ODP MR
 *
 * Called once its key exists, before the key is returned to anyone: every
 * access through the key is then counted.
 */
void hodp_odp_stats_add(struct hodp_mr *mr)
{
	struct hmm_mirror *m = &mr->odp->mirror;

	mr->odp_node.start = mr->uaddr & PAGE_MASK;
	mr->odp_node.last = PAGE_ALIGN(mr->uaddr + mr->length) - 1;
	hmm_mirror_lock(m);
	interval_tree_insert(&mr->odp_node, odp_tree(mr));
	hmm_mirror_unlock(m);
}

/**
 * hodp_odp_stats_del() - undo hodp_odp_stats_add()
 * @mr: an ODP MR no access uses any more, still holding its mirror
 */
void hodp_odp_stats_del(struct hodp_mr *mr)
{
	struct hmm_mirror *m = &mr->odp->mirror;

	hmm_mirror_lock(m);
	interval_tree_remove(&mr->odp_node, odp_tree(mr));
	hmm_mirror_unlock(m);
}

/*
 * Mirror leaves (512 entries each) one call of ->invalidate reads at most,
 * over all the MRs it overlaps: a process may own thousands of overlapping
 * ODP MRs, and each munmap, fork or OOM reap of their range must not
 * become a walk of them all under the mirror lock. The core calls once
 * per 2 MiB leaf a CPU change touches (a 1 GiB munmap is up to 512
 * calls), so the budget is per leaf: the MRs that share one leaf. Past it
 * the rest of that call goes uncounted (the counters are statistics, the
 * invalidation is not).
 */
#define HODP_INVAL_COUNT_BUDGET	8

/* Count in each MR of @tree what an invalidation of [first, last] takes. */
static void count_tree(struct hmm_mirror *mirror, struct rb_root_cached *tree,
		       unsigned long first, unsigned long last,
		       unsigned long *budget, enum mmu_notifier_event event)
{
	struct interval_tree_node *node;

	for (node = interval_tree_iter_first(tree, first, last);
	     node && *budget; node = interval_tree_iter_next(node, first, last)) {
		struct hodp_mr *mr = container_of(node, struct hodp_mr,
						  odp_node);
		/* Within the MR's pages, so below TASK_SIZE: no overflow. */
		unsigned long s = max(first, node->start);
		unsigned long e = PAGE_ALIGN(min(last, node->last) + 1);
		u64 pages = hmm_mirror_count_valid(mirror, s, e, budget);

		atomic64_add(pages, &mr->odp_stats.invalidations);
		trace_hodp_odp_invalidate(mr, s, e, pages, event);
	}
}

/**
 * hodp_odp_invalidate() - the mirror's ->invalidate: count what it takes
 * @mirror: the mirror of an hodp_odp, locked by the core
 * @update: the range being invalidated
 *
 * Device access needs nothing from here: every access holds the mirror
 * lock around its use of a page, so none is in flight while this runs,
 * and the entries it would use are cleared before the lock is dropped.
 * Never sleeps (also called where it must not, by the OOM reaper).
 *
 * Return: 0.
 */
int hodp_odp_invalidate(struct hmm_mirror *mirror,
			const struct hmm_update *update)
{
	struct hodp_odp *odp = container_of(mirror, struct hodp_odp, mirror);
	unsigned long first = update->start & PAGE_MASK;
	unsigned long budget = HODP_INVAL_COUNT_BUDGET;

	/* The end of the mirror (exit, unregister): nobody reads them after. */
	if (update->end <= update->start ||
	    update->event == MMU_NOTIFY_RELEASE)
		return 0;
	count_tree(mirror, &odp->mrs, first, update->end - 1, &budget,
		   update->event);
	count_tree(mirror, &odp->implicit_mrs, first, update->end - 1, &budget,
		   update->event);
	return 0;
}

/**
 * hodp_fill_stat_mr_entry() - ib_device_ops.fill_stat_mr_entry
 * @msg: the netlink message of rdma statistic show mr
 * @ibmr: an MR of the device
 *
 * Return: 0, or -EMSGSIZE if the counters do not fit in @msg.
 */
int hodp_fill_stat_mr_entry(struct sk_buff *msg, struct ib_mr *ibmr)
{
	struct hodp_mr *mr = to_hmr(ibmr);
	struct nlattr *table;

	if (!mr->odp)
		return 0;
	table = nla_nest_start(msg, RDMA_NLDEV_ATTR_STAT_HWCOUNTERS);
	if (!table)
		return -EMSGSIZE;
	if (rdma_nl_stat_hwcounter_entry(msg, "page_faults",
					 atomic64_read(&mr->odp_stats.faults)) ||
	    rdma_nl_stat_hwcounter_entry(msg, "page_invalidations",
					 atomic64_read(&mr->odp_stats.invalidations)) ||
	    rdma_nl_stat_hwcounter_entry(msg, "page_prefetch",
					 atomic64_read(&mr->odp_stats.prefetch))) {
		nla_nest_cancel(msg, table);
		return -EMSGSIZE;
	}
	nla_nest_end(msg, table);
	return 0;
}
