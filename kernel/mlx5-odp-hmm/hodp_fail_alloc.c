// SPDX-License-Identifier: GPL-2.0
/*
 * Fault injection aimed at hodp (CONFIG_INFINIBAND_HODP_FAULT_INJECTION),
 * of allocation failures and of one race.
 *
 * Allocations:
 * /sys/kernel/debug/hodp/fail_alloc is a standard fault_attr (probability,
 * interval, times, space, task-filter, verbose: see the kernel's
 * Documentation/fault-injection). Each place where hodp allocates for a
 * verb asks hodp_should_fail_alloc() first and, if told so, fails as if the
 * allocation had. Unlike failslab, which cannot be aimed at one module on
 * x86_64, this fails nothing but hodp's own allocations. Beside it,
 * hodp/objects counts what each device holds, so that a test sees what a
 * failed verb left behind (the RDMA core does not track every object).
 *
 * The races: hodp/atomic_miss, another fault_attr, makes an ODP atomic's
 * page look invalidated between the WQE's lookups and its execution (a
 * window of a few instructions that a test cannot hit at will), so that
 * a test sees what that miss becomes: a fault event, nothing executed.
 * hodp/copy_miss makes the destination page of a copy whose misses are
 * fault events (hodp_copy_resumable(): an RDMA WRITE's, READ's, SEND's,
 * an atomic's result) look invalidated since the lookups, while the
 * WQE's events are not over: what that becomes (an executed atomic's
 * result written by the next run, nothing executed twice) is seen too.
 * hodp/inplace_miss does the same to a copy whose WQE's events for its
 * own memory are over (or a copy that raises none): what miss_way()
 * says of it follows (the requester's own page faulted out of the
 * responder; the responder's an event, or the access failed).
 *
 * Slow faults: hodp/slow_fault, a fault_attr, picks ODP faults that
 * sleep hodp/fault_delay_ms before they begin, as one waiting for a slow
 * file's page would, so that a test can act while a fault is under way
 * (a QP closing, which must not wait for it).
 */
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/fault-inject.h>
#include <linux/seq_file.h>

#include "hodp.h"

static DECLARE_FAULT_ATTR(hodp_fail_alloc);
static DECLARE_FAULT_ATTR(hodp_atomic_miss);
static DECLARE_FAULT_ATTR(hodp_copy_miss);
static DECLARE_FAULT_ATTR(hodp_inplace_miss);
static DECLARE_FAULT_ATTR(hodp_slow_fault);
static struct dentry *hodp_debugfs;
static u32 hodp_fault_delay_ms;

/**
 * hodp_should_fail_alloc() - should this allocation of hodp fail?
 *
 * Return: true when the fault attribute says so; the caller then fails
 * with -ENOMEM as if its allocation had.
 */
bool hodp_should_fail_alloc(void)
{
	return should_fail(&hodp_fail_alloc, 1);
}

/**
 * hodp_inject_atomic_miss() - should this ODP atomic find its page gone?
 *
 * Return: true when hodp/atomic_miss says so; the caller then acts as if
 * the page had been invalidated since the WQE's lookups.
 */
bool hodp_inject_atomic_miss(void)
{
	return should_fail(&hodp_atomic_miss, 1);
}

/**
 * hodp_inject_copy_miss() - should this copy find its destination page gone?
 *
 * Return: true when hodp/copy_miss says so; the caller then acts as if the
 * page had been invalidated since the WQE's lookups.
 */
bool hodp_inject_copy_miss(void)
{
	return should_fail(&hodp_copy_miss, 1);
}

/**
 * hodp_inject_inplace_miss() - should this copy, its WQE's events over,
 *	find its destination page gone?
 *
 * Return: true when hodp/inplace_miss says so; the caller then treats it
 * as any miss of that copy (copy_miss()).
 */
bool hodp_inject_inplace_miss(void)
{
	return should_fail(&hodp_inplace_miss, 1);
}

/**
 * hodp_inject_fault_delay() - sleep before an ODP fault, if told so
 *
 * Sleeps hodp/fault_delay_ms when hodp/slow_fault picks this fault.
 */
void hodp_inject_fault_delay(void)
{
	u32 ms = READ_ONCE(hodp_fault_delay_ms);

	if (ms && should_fail(&hodp_slow_fault, 1))
		msleep(ms);
}

/* debugfs hodp/objects: what each device holds, to compare around a failure. */
static int hodp_objects_show(struct seq_file *m, void *unused)
{
	hodp_show_objects(m);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(hodp_objects);

void hodp_fail_alloc_init(void)
{
	hodp_debugfs = debugfs_create_dir("hodp", NULL);
	fault_create_debugfs_attr("fail_alloc", hodp_debugfs, &hodp_fail_alloc);
	fault_create_debugfs_attr("atomic_miss", hodp_debugfs,
				  &hodp_atomic_miss);
	fault_create_debugfs_attr("copy_miss", hodp_debugfs, &hodp_copy_miss);
	fault_create_debugfs_attr("inplace_miss", hodp_debugfs,
				  &hodp_inplace_miss);
	fault_create_debugfs_attr("slow_fault", hodp_debugfs,
				  &hodp_slow_fault);
	debugfs_create_u32("fault_delay_ms", 0600, hodp_debugfs,
			   &hodp_fault_delay_ms);
	debugfs_create_file("objects", 0400, hodp_debugfs, NULL,
			    &hodp_objects_fops);
}

void hodp_fail_alloc_exit(void)
{
	debugfs_remove_recursive(hodp_debugfs);
}
