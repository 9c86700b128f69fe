// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the range arithmetic of the core: which ranges the entry
 * points accept (hmm_range_check) and how they cut a range into per-leaf
 * pieces (hmm_leaf_end), up to the top of the address space, where a
 * careless "round up to the next leaf" wraps to 0 and loops forever; and
 * the largest range hmm_mirror_fault_and_lock() takes.
 */
#include <kunit/test.h>
#include <linux/mm.h>

#include "hmm_internal.h"

#define LIMIT	BIT(47)

static void range_check(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, hmm_range_check(0x1000, 0x2000, LIMIT), 0);
	KUNIT_EXPECT_EQ(test, hmm_range_check(0, PAGE_SIZE, LIMIT), 0);
	KUNIT_EXPECT_EQ(test, hmm_range_check(LIMIT - PAGE_SIZE, LIMIT, LIMIT),
			0);
	/* empty or reversed */
	KUNIT_EXPECT_EQ(test, hmm_range_check(0x1000, 0x1000, LIMIT), -EINVAL);
	KUNIT_EXPECT_EQ(test, hmm_range_check(0x2000, 0x1000, LIMIT), -EINVAL);
	/* not page aligned */
	KUNIT_EXPECT_EQ(test, hmm_range_check(0x1001, 0x2000, LIMIT), -EINVAL);
	KUNIT_EXPECT_EQ(test, hmm_range_check(0x1000, 0x2fff, LIMIT), -EINVAL);
	/* beyond the address space */
	KUNIT_EXPECT_EQ(test, hmm_range_check(LIMIT - PAGE_SIZE,
					      LIMIT + PAGE_SIZE, LIMIT),
			-EFAULT);
	KUNIT_EXPECT_EQ(test, hmm_range_check(LIMIT, LIMIT + PAGE_SIZE, LIMIT),
			-EFAULT);
}

static void leaf_end(struct kunit *test)
{
	unsigned long leaf = HMM_PT_LEAF_SIZE;

	/* Inside one leaf: the range's own end. */
	KUNIT_EXPECT_EQ(test, hmm_leaf_end(leaf, leaf + PAGE_SIZE),
			leaf + PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, hmm_leaf_end(leaf + PAGE_SIZE, 2 * leaf),
			2 * leaf);
	/* Across leaves: the leaf's end, from its start or its middle. */
	KUNIT_EXPECT_EQ(test, hmm_leaf_end(leaf, 3 * leaf), 2 * leaf);
	KUNIT_EXPECT_EQ(test, hmm_leaf_end(leaf + 5 * PAGE_SIZE, 3 * leaf),
			2 * leaf);
	KUNIT_EXPECT_EQ(test, hmm_leaf_end(2 * leaf - PAGE_SIZE, 3 * leaf),
			2 * leaf);
}

static void leaf_end_at_the_top(struct kunit *test)
{
	unsigned long top_leaf = ALIGN_DOWN(ULONG_MAX, HMM_PT_LEAF_SIZE);
	unsigned long end = ULONG_MAX & PAGE_MASK;

	/* The last leaf ends at 2^64, which is 0: keep the range's end. */
	KUNIT_EXPECT_EQ(test, hmm_leaf_end(top_leaf, end), end);
	KUNIT_EXPECT_EQ(test, hmm_leaf_end(top_leaf + PAGE_SIZE, end), end);
	/* The leaf below it still ends where it should. */
	KUNIT_EXPECT_EQ(test, hmm_leaf_end(top_leaf - PAGE_SIZE, end),
			top_leaf);
}

/* Walking a range leaf by leaf covers it exactly, one leaf per piece. */
static void leaf_walk_covers_the_range(struct kunit *test)
{
	static const unsigned long ranges[][2] = {
		{ 0x7f0000001000UL, 0x7f0000002000UL },
		{ 0x7f00001ff000UL, 0x7f0000201000UL },
		{ 0x7f0000000000UL, 0x7f0000800000UL },
		{ 0x7f0000123000UL, 0x7f0000a45000UL },
	};
	unsigned long i, addr, next, covered, pieces;

	for (i = 0; i < ARRAY_SIZE(ranges); i++) {
		unsigned long start = ranges[i][0], end = ranges[i][1];

		covered = 0;
		pieces = 0;
		for (addr = start; addr < end; addr = next) {
			next = hmm_leaf_end(addr, end);
			KUNIT_ASSERT_GT(test, next, addr);
			KUNIT_EXPECT_EQ(test, addr >> HMM_PT_LEAF_SHIFT,
					(next - 1) >> HMM_PT_LEAF_SHIFT);
			covered += next - addr;
			pieces++;
		}
		KUNIT_EXPECT_EQ(test, addr, end);
		KUNIT_EXPECT_EQ(test, covered, end - start);
		KUNIT_EXPECT_EQ(test, pieces,
				((end - 1) >> HMM_PT_LEAF_SHIFT) -
				(start >> HMM_PT_LEAF_SHIFT) + 1);
	}
}

/*
 * hmm_mirror_fault_and_lock() keeps a record per leaf of its range: one
 * over HMM_MIRROR_LOCK_MAX_SIZE, optional or not, is refused (-E2BIG)
 * before anything is allocated; one of that size gets as far as the
 * mirror, here unregistered (-ENODEV).
 */
static void fault_and_lock_caps_the_range(struct kunit *test)
{
	struct hmm_mirror *mirror = kunit_kzalloc(test, sizeof(*mirror),
						  GFP_KERNEL);
	struct hmm_mirror_range req = {
		.start = LIMIT / 2,
		.flags = HMM_MIRROR_OPTIONAL,
	};

	KUNIT_ASSERT_NOT_NULL(test, mirror);
	init_rwsem(&mirror->active);
	mirror->dead = true;

	req.end = req.start + HMM_MIRROR_LOCK_MAX_SIZE + PAGE_SIZE;
	KUNIT_EXPECT_EQ(test, hmm_mirror_fault_and_lock(mirror, &req), -E2BIG);
	req.end = req.start + (LIMIT / 4);
	KUNIT_EXPECT_EQ(test, hmm_mirror_fault_and_lock(mirror, &req), -E2BIG);
	req.flags = 0;
	req.req_end = req.start + PAGE_SIZE;
	KUNIT_EXPECT_EQ(test, hmm_mirror_fault_and_lock(mirror, &req), -E2BIG);
	req.end = req.start + HMM_MIRROR_LOCK_MAX_SIZE;
	KUNIT_EXPECT_EQ(test, hmm_mirror_fault_and_lock(mirror, &req),
			-ENODEV);
	KUNIT_EXPECT_EQ(test, req.filled, 0UL);
}

static struct kunit_case hmm_range_test_cases[] = {
	KUNIT_CASE(range_check),
	KUNIT_CASE(leaf_end),
	KUNIT_CASE(leaf_end_at_the_top),
	KUNIT_CASE(leaf_walk_covers_the_range),
	KUNIT_CASE(fault_and_lock_caps_the_range),
	{}
};

static struct kunit_suite hmm_range_test_suite = {
	.name = "hmm_mirror_range",
	.test_cases = hmm_range_test_cases,
};

kunit_test_suite(hmm_range_test_suite);
