// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the mirror lock (hmm_mirror_read_lock() and friends): two
 * readers hold it at once, a writer (hmm_mirror_discard(), which clears as
 * an invalidation does) waits until both are gone and the entries they
 * read stay valid meanwhile; two mirrors locked for reading in either
 * argument order by two threads, while a third clears and fills both,
 * neither deadlock nor make lockdep report (on a kernel with
 * CONFIG_PROVE_LOCKING); the OOM reaper's non-blockable invalidation gets
 * the lock past readers that keep taking it. Mirrors with no mm and no DMA device over pages
 * of their own, as in hmm_pt_test.c.
 */
#include <kunit/test.h>
#include <linux/completion.h>
#include <linux/debug_locks.h>
#include <linux/delay.h>
#include <linux/hmm.h>
#include <linux/kthread.h>
#include <linux/mm.h>

#include "hmm_internal.h"

#define BASE	(0x7f0000000000UL)	/* leaf aligned */
#define NPAGES	4
/* Rounds of each thread of lock_two_in_either_order. */
#define ROUNDS	2000

struct lock_test_mirror {
	struct hmm_mirror mirror;
	struct page *pages[NPAGES];
	unsigned long pfns[NPAGES];
};

static struct lock_test_mirror *mirror_new(struct kunit *test)
{
	struct lock_test_mirror *t = kunit_kzalloc(test, sizeof(*t),
						   GFP_KERNEL);
	int i;

	KUNIT_ASSERT_NOT_NULL(test, t);
	init_rwsem(&t->mirror.lock);
	xa_init(&t->mirror.pt);
	xa_init(&t->mirror.dma);
	for (i = 0; i < NPAGES; i++) {
		t->pages[i] = alloc_page(GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, t->pages[i]);
		t->pfns[i] = page_to_pfn(t->pages[i]) | HMM_PFN_VALID |
			     HMM_PFN_WRITE;
	}
	return t;
}

static void mirror_free(struct lock_test_mirror *t)
{
	int i;

	hmm_mirror_discard(&t->mirror, BASE, BASE + NPAGES * PAGE_SIZE);
	for (i = 0; i < NPAGES; i++) {
		ClearPageDirty(t->pages[i]);	/* set_dirty's, carried */
		__free_page(t->pages[i]);
	}
}

/* Mirror the pages at BASE, as a fault stores them. */
static int mirror_fill(struct lock_test_mirror *t)
{
	int ret = hmm_pt_prepare(&t->mirror, BASE);

	if (ret)
		return ret;
	hmm_mirror_lock(&t->mirror);
	ret = hmm_pt_fill(&t->mirror, BASE, BASE + NPAGES * PAGE_SIZE,
			  t->pfns, NULL);
	hmm_mirror_unlock(&t->mirror);
	return ret;
}

struct discarder {
	struct lock_test_mirror *t;
	struct completion done;
	bool cleared;
};

static int discard_thread(void *arg)
{
	struct discarder *d = arg;

	hmm_mirror_discard(&d->t->mirror, BASE, BASE + NPAGES * PAGE_SIZE);
	WRITE_ONCE(d->cleared, true);
	complete(&d->done);
	return 0;
}

/* Wait (up to 10 s) until a writer queues on the lock. */
static bool writer_waits(struct hmm_mirror *m)
{
	int i;

	for (i = 0; i < 1000 && !rwsem_is_contended(&m->lock); i++)
		usleep_range(10000, 20000);
	return rwsem_is_contended(&m->lock);
}

/*
 * Two readers at once; a writer (what an invalidation does) waits for
 * both, and the entries stay valid, and writable for set_dirty, until the
 * last one unlocks.
 */
static void lock_readers_share_writer_waits(struct kunit *test)
{
	struct lock_test_mirror *t = mirror_new(test);
	struct hmm_mirror *m = &t->mirror;
	struct discarder d = { .t = t };
	struct task_struct *task;
	bool second;

	KUNIT_ASSERT_EQ(test, mirror_fill(t), 0);
	init_completion(&d.done);

	hmm_mirror_read_lock(m);
	/* A second reader gets in while the first holds it... */
	second = down_read_trylock(&m->lock);
	KUNIT_EXPECT_TRUE_MSG(test, second,
			      "a second reader could not take the read lock");
	/* ...and a writer does not. */
	if (down_write_trylock(&m->lock)) {
		KUNIT_FAIL(test, "a writer took the lock under a reader");
		up_write(&m->lock);
	}
	KUNIT_EXPECT_EQ(test, hmm_mirror_set_dirty(m, BASE), 0);

	task = kthread_run(discard_thread, &d, "hmm_lock_test");
	if (IS_ERR(task)) {
		KUNIT_FAIL(test, "kthread_run: %ld", PTR_ERR(task));
		complete(&d.done);
	} else {
		KUNIT_EXPECT_TRUE_MSG(test, writer_waits(m),
				      "the discard never waited for the lock");
	}
	KUNIT_EXPECT_FALSE_MSG(test, READ_ONCE(d.cleared),
			       "the discard finished under two readers");
	KUNIT_EXPECT_TRUE(test, hmm_mirror_lookup(m, BASE) & HMM_MPTE_VALID);
	KUNIT_EXPECT_TRUE(test, hmm_mirror_lookup(m, BASE) & HMM_MPTE_DIRTY);

	if (second)
		up_read(&m->lock);
	/* One reader left: the writer still waits. */
	KUNIT_EXPECT_FALSE_MSG(test, READ_ONCE(d.cleared),
			       "the discard finished under one reader");
	KUNIT_EXPECT_TRUE(test, hmm_mirror_lookup(m, BASE + PAGE_SIZE) &
				HMM_MPTE_VALID);
	hmm_mirror_read_unlock(m);

	wait_for_completion(&d.done);
	KUNIT_EXPECT_TRUE(test, READ_ONCE(d.cleared));
	hmm_mirror_read_lock(m);
	KUNIT_EXPECT_EQ(test, hmm_mirror_lookup(m, BASE), 0ULL);
	hmm_mirror_read_unlock(m);
	KUNIT_EXPECT_EQ(test, m->nr_valid, 0UL);
	mirror_free(t);
}

struct two_locker {
	struct hmm_mirror *first, *second;
	struct lock_test_mirror *a, *b;	/* writer: clears and fills both */
	struct completion done;
	int ret;
};

static int two_reader_thread(void *arg)
{
	struct two_locker *l = arg;
	int i;

	for (i = 0; i < ROUNDS; i++) {
		hmm_mirror_read_lock_two(l->first, l->second);
		/* Both readable; read_lock_two(x, x) takes x once. */
		hmm_mirror_lookup(l->first, BASE);
		hmm_mirror_lookup(l->second, BASE);
		hmm_mirror_read_unlock_two(l->first, l->second);
		hmm_mirror_read_lock_two(l->first, l->first);
		hmm_mirror_lookup(l->first, BASE);
		hmm_mirror_read_unlock_two(l->first, l->first);
		cond_resched();
	}
	complete(&l->done);
	return 0;
}

static int two_writer_thread(void *arg)
{
	struct two_locker *l = arg;
	int i;

	for (i = 0; i < ROUNDS && !l->ret; i++) {
		hmm_mirror_discard(&l->a->mirror, BASE, BASE + PAGE_SIZE);
		l->ret = mirror_fill(l->a);
		hmm_mirror_discard(&l->b->mirror, BASE, BASE + PAGE_SIZE);
		if (!l->ret)
			l->ret = mirror_fill(l->b);
		cond_resched();
	}
	complete(&l->done);
	return 0;
}

/*
 * Two mirrors, read-locked with hmm_mirror_read_lock_two() as (a, b) by
 * one thread and (b, a) by another, while a third writes both: no
 * deadlock, and with lockdep no report (it turns debug_locks off at its
 * first). Two plain read locks, or a helper without the nesting
 * annotation, are reported as recursive locking of the class.
 */
static void lock_two_in_either_order(struct kunit *test)
{
	struct lock_test_mirror *a = mirror_new(test), *b = mirror_new(test);
	struct two_locker l[3] = {
		{ .first = &a->mirror, .second = &b->mirror },
		{ .first = &b->mirror, .second = &a->mirror },
		{ .a = a, .b = b },
	};
	int (*fn[3])(void *) = { two_reader_thread, two_reader_thread,
				 two_writer_thread };
	bool lockdep = IS_ENABLED(CONFIG_PROVE_LOCKING);
	int i;

	if (lockdep && !debug_locks)
		kunit_skip(test, "lockdep is off already (an earlier report)");
	KUNIT_ASSERT_EQ(test, mirror_fill(a), 0);
	KUNIT_ASSERT_EQ(test, mirror_fill(b), 0);
	for (i = 0; i < 3; i++) {
		struct task_struct *task;

		init_completion(&l[i].done);
		task = kthread_run(fn[i], &l[i], "hmm_lock_two/%d", i);
		if (IS_ERR(task)) {
			KUNIT_FAIL(test, "kthread_run: %ld", PTR_ERR(task));
			complete(&l[i].done);
		}
	}
	for (i = 0; i < 3; i++)
		wait_for_completion(&l[i].done);
	KUNIT_EXPECT_EQ(test, l[2].ret, 0);
	if (lockdep)
		KUNIT_EXPECT_TRUE_MSG(test, debug_locks,
				      "lockdep reported (see the kernel log)");
	mirror_free(a);
	mirror_free(b);
}

/* Rounds each reader of the reaper test makes before the invalidations. */
#define READER_WARMUP	20
/* How long each of its readers holds the lock (asleep: see below). */
#define READER_HOLD_US	500
/* Non-blockable invalidations it makes, each of which must get the lock. */
#define NB_TRIES	8
/* Their spin, longer than the core's 100 us: a slow emulated guest. */
#define NB_SPIN_NS	(50 * NSEC_PER_MSEC)

struct reader {
	struct hmm_mirror *m;
	bool *stop;
	unsigned long rounds;
	struct completion done;
};

/* A device queue: looks up under the read lock, again and again. */
static int reader_thread(void *arg)
{
	struct reader *r = arg;

	while (!READ_ONCE(*r->stop)) {
		hmm_mirror_read_lock(r->m);
		hmm_mirror_lookup(r->m, BASE);
		usleep_range(READER_HOLD_US, 2 * READER_HOLD_US);
		hmm_mirror_read_unlock(r->m);
		WRITE_ONCE(r->rounds, r->rounds + 1);
	}
	complete(&r->done);
	return 0;
}

static int nop_invalidate(struct hmm_mirror *mirror,
			  const struct hmm_update *update)
{
	return 0;
}

static void nop_free(struct hmm_mirror *mirror)
{
}

static const struct hmm_mirror_ops nop_ops = {
	.invalidate = nop_invalidate,
	.free = nop_free,
};

struct reaper {
	struct hmm_watch watch;
	int got;
	struct completion done;
};

/*
 * The OOM reaper: NB_TRIES non-blockable invalidations of the watched leaf,
 * each of one of its pages but the last (which stays: the leaf is not
 * idle, nothing is queued for the worker).
 */
static int reaper_thread(void *arg)
{
	struct reaper *rp = arg;
	int i;

	for (i = 0; i < NB_TRIES; i++) {
		unsigned long addr = BASE + (i % (NPAGES - 1)) * PAGE_SIZE;
		struct mmu_notifier_range range = {
			.start = addr,
			.end = addr + PAGE_SIZE,
			.event = MMU_NOTIFY_UNMAP,
			.flags = 0,	/* not MMU_NOTIFIER_RANGE_BLOCKABLE */
		};

		if (hmm_mirror_notifier_ops.invalidate(&rp->watch.notifier,
						       &range, i + 2))
			rp->got++;
	}
	complete(&rp->done);
	return 0;
}

/* A kthread running @fn on @cpu, or an ERR_PTR. */
static struct task_struct *run_on(int (*fn)(void *), void *arg, int cpu,
				  const char *name)
{
	struct task_struct *task = kthread_create(fn, arg, "%s/%d", name, cpu);

	if (!IS_ERR(task)) {
		kthread_bind(task, cpu);
		wake_up_process(task);
	}
	return task;
}

/*
 * The OOM reaper's invalidation (non-blockable: it only tries the lock,
 * spinning a bounded while) of a watched leaf, while two readers take the
 * read lock again and again: their holds overlap, so the lock is never
 * free for a bare trylock however long it spins. New readers must wait
 * while the invalidation spins, so that it gets the lock once the two in
 * flight are done: each of NB_TRIES invalidations gets it and clears its
 * page, and the readers go on afterwards. The readers sleep under the
 * lock so that two holds overlap on one CPU (busy ones would need a CPU
 * each); the invalidations run on another CPU, which they keep busy.
 */
static void lock_reaper_gets_past_readers(struct kunit *test)
{
	struct lock_test_mirror *t = mirror_new(test);
	struct hmm_mirror *m = &t->mirror;
	struct hmm_device hdev = { .ops = &nop_ops };
	struct reaper rp = {
		.watch = {
			.mirror = m,
			.start = BASE,
			.end = BASE + HMM_PT_LEAF_SIZE,
		},
	};
	u64 spin = hmm_trylock_spin_ns;
	int i, rcpu, wcpu = cpumask_first(cpu_online_mask);
	unsigned long before[2];
	struct task_struct *task;
	struct reader r[2];
	bool stop = false;

	rcpu = cpumask_next(wcpu, cpu_online_mask);
	if (rcpu >= nr_cpu_ids)
		kunit_skip(test, "one CPU online: the readers need another");
	m->hdev = &hdev;
	KUNIT_ASSERT_EQ(test, mirror_fill(t), 0);
	for (i = 0; i < 2; i++) {
		r[i] = (struct reader){ .m = m, .stop = &stop };
		init_completion(&r[i].done);
		task = run_on(reader_thread, &r[i], rcpu, "hmm_lock_rd");
		if (IS_ERR(task)) {
			KUNIT_FAIL(test, "kthread: %ld", PTR_ERR(task));
			complete(&r[i].done);
		}
	}
	for (i = 0; i < 2; i++)
		while (READ_ONCE(r[i].rounds) < READER_WARMUP &&
		       !completion_done(&r[i].done))
			usleep_range(1000, 2000);

	WRITE_ONCE(hmm_trylock_spin_ns, NB_SPIN_NS);
	init_completion(&rp.done);
	task = run_on(reaper_thread, &rp, wcpu, "hmm_lock_nb");
	if (IS_ERR(task)) {
		KUNIT_FAIL(test, "kthread: %ld", PTR_ERR(task));
		complete(&rp.done);
	}
	wait_for_completion(&rp.done);
	WRITE_ONCE(hmm_trylock_spin_ns, spin);
	KUNIT_EXPECT_EQ_MSG(test, rp.got, NB_TRIES,
			    "non-blockable invalidations got the lock %d times of %d under two readers (rounds %lu, %lu)",
			    rp.got, NB_TRIES, READ_ONCE(r[0].rounds),
			    READ_ONCE(r[1].rounds));
	/* The readers were not shut out for good. */
	for (i = 0; i < 2; i++)
		before[i] = READ_ONCE(r[i].rounds);
	for (i = 0; i < 2; i++)
		while (READ_ONCE(r[i].rounds) == before[i] &&
		       !completion_done(&r[i].done))
			usleep_range(1000, 2000);
	WRITE_ONCE(stop, true);
	for (i = 0; i < 2; i++)
		wait_for_completion(&r[i].done);
	hmm_mirror_read_lock(m);
	if (rp.got == NB_TRIES)
		for (i = 0; i < NPAGES - 1; i++)
			KUNIT_EXPECT_EQ(test,
					hmm_mirror_lookup(m, BASE + i * PAGE_SIZE),
					0ULL);
	KUNIT_EXPECT_TRUE(test, hmm_mirror_lookup(m, BASE + (NPAGES - 1) *
						  PAGE_SIZE) & HMM_MPTE_VALID);
	hmm_mirror_read_unlock(m);
	mirror_free(t);
}

static struct kunit_case hmm_lock_test_cases[] = {
	KUNIT_CASE(lock_readers_share_writer_waits),
	KUNIT_CASE(lock_two_in_either_order),
	KUNIT_CASE(lock_reaper_gets_past_readers),
	{}
};

static struct kunit_suite hmm_lock_test_suite = {
	.name = "hmm_mirror_lock",
	.test_cases = hmm_lock_test_cases,
};

kunit_test_suite(hmm_lock_test_suite);
