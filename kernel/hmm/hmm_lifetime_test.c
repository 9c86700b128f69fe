// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the mirror lifetime state machine (hmm_lifetime.c): of mm
 * teardown and unregister, exactly one unlinks a mirror; teardown tells the
 * driver once, holding no reference of its own, and lets a waiting
 * unregister go on; a mirror unlinked by unregister is never released;
 * ->free runs once, at the last reference; the device's unregister waits
 * for every ->free.
 * They run on a struct hmm of their own, with no mm behind it (the parts
 * that need one are tested from userspace through dmirror).
 */
#include <kunit/test.h>
#include <linux/completion.h>
#include <linux/kthread.h>

#include "hmm_internal.h"

struct lt_mirror {
	struct hmm_mirror mirror;
	int releases;
	int frees;
	unsigned int refs_in_release;
	bool in_callback;
};

static struct lt_mirror *to_lt(struct hmm_mirror *mirror)
{
	return container_of(mirror, struct lt_mirror, mirror);
}

static void lt_release(struct hmm_mirror *mirror)
{
	to_lt(mirror)->releases++;
	to_lt(mirror)->refs_in_release = kref_read(&mirror->kref);
	/* what makes hmm_mirror_unregister() from here warn and refuse */
	to_lt(mirror)->in_callback = hmm_mirror_in_callback(mirror);
}

static void lt_free(struct hmm_mirror *mirror)
{
	to_lt(mirror)->frees++;
}

static const struct hmm_mirror_ops lt_ops = {
	.release = lt_release,
	.free = lt_free,
};

struct lt {
	struct hmm hmm;
	struct hmm_device hdev;
	struct lt_mirror m[2];
};

/* Two mirrors linked to one hmm, as hmm_mirror_register() leaves them. */
static int lt_init(struct kunit *test)
{
	struct lt *t = kunit_kzalloc(test, sizeof(*t), GFP_KERNEL);
	int i;

	KUNIT_ASSERT_NOT_NULL(test, t);
	spin_lock_init(&t->hmm.lock);
	INIT_LIST_HEAD(&t->hmm.mirrors);
	t->hdev.ops = &lt_ops;
	for (i = 0; i < ARRAY_SIZE(t->m); i++) {
		struct hmm_mirror *mirror = &t->m[i].mirror;

		mirror->hdev = &t->hdev;
		mirror->hmm = &t->hmm;
		kref_init(&mirror->kref);
		init_completion(&mirror->released);
		list_add_tail(&mirror->list, &t->hmm.mirrors);
	}
	test->priv = t;
	return 0;
}

static void teardown_releases_each_once(struct kunit *test)
{
	struct lt *t = test->priv;
	struct hmm_mirror *mirror;
	int n = 0;

	while ((mirror = hmm_mirror_unlink_first(&t->hmm))) {
		KUNIT_ASSERT_LT(test, n, 2);
		KUNIT_EXPECT_PTR_EQ(test, mirror, &t->m[n].mirror);
		hmm_mirror_released(mirror);
		/*
		 * Teardown takes no reference of its own: the driver's keeps
		 * the mirror alive (its unregister waits for release), so
		 * the last put, and ->free, is never teardown's.
		 */
		KUNIT_EXPECT_EQ(test, t->m[n].refs_in_release, 1U);
		KUNIT_EXPECT_TRUE(test, t->m[n].in_callback);
		KUNIT_EXPECT_FALSE(test, hmm_mirror_in_callback(mirror));
		n++;
	}
	KUNIT_EXPECT_EQ(test, n, 2);
	KUNIT_EXPECT_TRUE(test, list_empty(&t->hmm.mirrors));
	for (n = 0; n < 2; n++) {
		KUNIT_EXPECT_EQ(test, t->m[n].releases, 1);
		KUNIT_EXPECT_TRUE(test, completion_done(&t->m[n].mirror.released));
		/* the driver's reference is the only one */
		KUNIT_EXPECT_EQ(test, kref_read(&t->m[n].mirror.kref), 1U);
		KUNIT_EXPECT_EQ(test, t->m[n].frees, 0);
		/* unregister after teardown: lost the race, must wait */
		KUNIT_EXPECT_FALSE(test, hmm_mirror_unlink(&t->hmm,
							   &t->m[n].mirror));
	}
}

static void unregister_first_is_never_released(struct kunit *test)
{
	struct lt *t = test->priv;
	struct hmm_mirror *mirror;

	KUNIT_EXPECT_TRUE(test, hmm_mirror_unlink(&t->hmm, &t->m[0].mirror));
	/* twice: only the first unlinks */
	KUNIT_EXPECT_FALSE(test, hmm_mirror_unlink(&t->hmm, &t->m[0].mirror));
	mirror = hmm_mirror_unlink_first(&t->hmm);
	KUNIT_EXPECT_PTR_EQ(test, mirror, &t->m[1].mirror);
	if (mirror)
		hmm_mirror_released(mirror);
	KUNIT_EXPECT_NULL(test, hmm_mirror_unlink_first(&t->hmm));
	KUNIT_EXPECT_EQ(test, t->m[0].releases, 0);
	KUNIT_EXPECT_FALSE(test, completion_done(&t->m[0].mirror.released));
	KUNIT_EXPECT_EQ(test, t->m[1].releases, 1);
}

static void free_at_the_last_reference(struct kunit *test)
{
	struct lt *t = test->priv;
	struct hmm_mirror *mirror = &t->m[0].mirror;

	KUNIT_EXPECT_TRUE(test, hmm_mirror_unlink(&t->hmm, mirror));
	mirror->hmm = NULL;	/* what unregister leaves */
	KUNIT_EXPECT_PTR_EQ(test, hmm_mirror_get(mirror), mirror);
	hmm_mirror_put(mirror);
	KUNIT_EXPECT_EQ(test, t->m[0].frees, 0);
	hmm_mirror_put(mirror);
	KUNIT_EXPECT_EQ(test, t->m[0].frees, 1);
}

struct lt_unregister {
	struct hmm_device *hdev;
	struct completion done;
};

static int lt_device_unregister(void *arg)
{
	struct lt_unregister *u = arg;

	hmm_device_unregister(u->hdev);
	complete(&u->done);
	return 0;
}

/*
 * A mirror unregistered, its driver's reference dropped, another one still
 * held (a work item ending): the device's unregister waits for ->free.
 */
static void device_unregister_waits_for_free(struct kunit *test)
{
	struct lt *t = test->priv;
	struct hmm_mirror *mirror = &t->m[0].mirror;
	struct lt_unregister u = { .hdev = &t->hdev };
	struct task_struct *task;

	KUNIT_ASSERT_EQ(test, hmm_device_register(&t->hdev), 0);
	atomic_inc(&t->hdev.nr_unfreed);	/* as hmm_mirror_register() */
	KUNIT_EXPECT_TRUE(test, hmm_mirror_unlink(&t->hmm, mirror));
	mirror->hmm = NULL;			/* as hmm_mirror_unregister() */
	hmm_mirror_get(mirror);			/* the other reference */
	hmm_mirror_put(mirror);			/* the driver's */
	init_completion(&u.done);
	task = kthread_run(lt_device_unregister, &u, "hmm_lt_unregister");
	KUNIT_ASSERT_FALSE(test, IS_ERR(task));
	/* Cannot return while ->free has not run (never a false failure). */
	KUNIT_EXPECT_EQ(test, wait_for_completion_timeout(&u.done, HZ / 5), 0UL);
	KUNIT_EXPECT_EQ(test, t->m[0].frees, 0);
	hmm_mirror_put(mirror);
	KUNIT_EXPECT_EQ(test, t->m[0].frees, 1);
	/* Bounded, so that a bug fails the case instead of hanging it. */
	KUNIT_ASSERT_NE(test, wait_for_completion_timeout(&u.done, 30 * HZ), 0UL);
}

static void lt_reap_work(struct work_struct *work)
{
}

/*
 * A watch insertion whose xa_reserve() ran out of memory half way (the
 * debug tier's failslab run met it once) leaves the xarray nodes it had
 * linked in mirror->watched, empty: unregister must find nothing watched
 * there and say nothing (it warned, which the tier reports as a failure).
 * The nodes are made as that store left them: the path to a slot created,
 * nothing stored in it.
 */
static void unwatch_all_after_a_failed_reserve(struct kunit *test)
{
	struct lt *t = test->priv;
	struct hmm_mirror *mirror = &t->m[0].mirror;
	XA_STATE(xas, &mirror->watched, 0x7f0000000000UL >> HMM_PT_LEAF_SHIFT);

	mutex_init(&mirror->watch_lock);
	init_rwsem(&mirror->lock);
	xa_init(&mirror->watched);
	spin_lock_init(&mirror->reap_lock);
	INIT_LIST_HEAD(&mirror->reap);
	INIT_DELAYED_WORK(&mirror->reap_work, lt_reap_work);
	do {
		xas_lock(&xas);
		xas_create_range(&xas);
		xas_unlock(&xas);
	} while (xas_nomem(&xas, GFP_KERNEL));
	KUNIT_ASSERT_EQ(test, xas_error(&xas), 0);
	/* The state the failed store left: nodes, and no entry. */
	KUNIT_EXPECT_FALSE(test, xa_empty(&mirror->watched));
	KUNIT_EXPECT_TRUE(test, hmm_xa_holds_none(&mirror->watched));
	hmm_mirror_unwatch_all(mirror);
	KUNIT_EXPECT_TRUE(test, xa_empty(&mirror->watched));
}

static struct kunit_case hmm_lifetime_test_cases[] = {
	KUNIT_CASE(teardown_releases_each_once),
	KUNIT_CASE(unregister_first_is_never_released),
	KUNIT_CASE(free_at_the_last_reference),
	KUNIT_CASE(device_unregister_waits_for_free),
	KUNIT_CASE(unwatch_all_after_a_failed_reserve),
	{}
};

static struct kunit_suite hmm_lifetime_test_suite = {
	.name = "hmm_mirror_lifetime",
	.init = lt_init,
	.test_cases = hmm_lifetime_test_cases,
};

kunit_test_suite(hmm_lifetime_test_suite);
