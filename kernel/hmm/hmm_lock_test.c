// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the mirror lock (hmm_mirror_read_lock() and friends): two
 * readers hold it at once, a writer (hmm_mirror_discard(), which clears as
 * an invalidation does) waits until both are gone and the entries they
 * read stay valid meanwhile; two mirrors locked for reading in either
 * argument order by two threads, while a third clears and fills both,
 * neither deadlock nor make lockdep report (on a kernel with
 * CONFIG_PROVE_LOCKING). Mirrors with no mm and no DMA device over pages
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

static struct kunit_case hmm_lock_test_cases[] = {
	KUNIT_CASE(lock_readers_share_writer_waits),
	KUNIT_CASE(lock_two_in_either_order),
	{}
};

static struct kunit_suite hmm_lock_test_suite = {
	.name = "hmm_mirror_lock",
	.test_cases = hmm_lock_test_cases,
};

kunit_test_suite(hmm_lock_test_suite);
