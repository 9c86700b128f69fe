/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * User ABI of the dummy HMM mirror devices /dev/hmm_dmirror0..3: the same
 * ioctls, command structure and snapshot flags as the kernel's own test
 * driver (lib/test_hmm_uapi.h in 6.1), so the same programs drive both.
 */
#ifndef _HMM_DMIRROR_UAPI_H
#define _HMM_DMIRROR_UAPI_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

/**
 * struct hmm_dmirror_cmd - one device operation
 * @addr: first virtual address of the range (page aligned)
 * @ptr: user buffer: data for READ/WRITE, one __u8 per page for SNAPSHOT;
 *	for MIGRATE_TO_DEV and EXCLUSIVE, if non-zero, where the device
 *	reads the range back afterwards (as test_hmm does, for verification)
 * @npages: pages in the range
 * @cpages: out: pages the operation completed: for MIGRATE_TO_DEV/SYS the
 *	pages moved, or with a @ptr to read back into, the pages read
 * @faults: out: device faults it took (READ, WRITE)
 */
struct hmm_dmirror_cmd {
	__u64 addr;
	__u64 ptr;
	__u64 npages;
	__u64 cpages;
	__u64 faults;
};

#define HMM_DMIRROR_READ		_IOWR('H', 0x00, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_WRITE		_IOWR('H', 0x01, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_MIGRATE_TO_DEV	_IOWR('H', 0x02, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_MIGRATE_TO_SYS	_IOWR('H', 0x03, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_SNAPSHOT		_IOWR('H', 0x04, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_EXCLUSIVE		_IOWR('H', 0x05, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_CHECK_EXCLUSIVE	_IOWR('H', 0x06, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_RELEASE		_IOWR('H', 0x07, struct hmm_dmirror_cmd)

/*
 * dmirror only, not in test_hmm: start a device fault of the range (1 GiB
 * at most; writable if cmd.ptr is non-zero) in the device's fault worker
 * and return at once; EBUSY while the previous one runs. The worker is what a real
 * device's page-fault handler would be: the device's release of the mm
 * waits for it.
 */
#define HMM_DMIRROR_PREFETCH		_IOWR('H', 0x40, struct hmm_dmirror_cmd)

/**
 * struct hmm_dmirror_stats - dmirror only: the counters of one mirror (one
 *	open file), as the HMM core keeps them (struct hmm_mirror_stats in
 *	hmm_mirror.h says what each counts)
 * @faults: device faults (and snapshots) started
 * @faulted_pages: pages that on-demand faults (READ, WRITE) stored
 * @prefetched_pages: pages that PREFETCH and SNAPSHOT stored
 * @invalidations: CPU invalidations that dropped entries of this mirror
 * @invalidated_pages: entries those dropped
 * @dirtied_pages: pages marked dirty as their entries were dropped
 */
struct hmm_dmirror_stats {
	__u64 faults;
	__u64 faulted_pages;
	__u64 prefetched_pages;
	__u64 invalidations;
	__u64 invalidated_pages;
	__u64 dirtied_pages;
};

/* dmirror only: read the counters of this file's mirror. */
#define HMM_DMIRROR_STATS		_IOR('H', 0x41, struct hmm_dmirror_stats)

/*
 * dmirror only: set the modes of this file's mirror (a __u64 of
 * HMM_DMIRROR_MODE_* bits; 0, the default, is test_hmm's behaviour).
 * UNTRACKED_WRITES: WRITE copies into the pages without telling the core
 * which it wrote, as a device whose DMA the core cannot see.
 * DIRTY_ON_DROP: the mirror's HMM_MIRROR_DIRTY_ON_DROP mode: the core
 * marks every writable entry's page dirty when it drops the entry.
 * WATCH_ALL: the mirror's HMM_MIRROR_WATCH_ALL mode: one notifier over
 * the whole address space, so every CPU change of the process reaches the
 * device, not only those of the 2 MiB leaves it mirrors. Set it before the
 * file's first device access: changing it once something is watched
 * fails with EBUSY.
 */
#define HMM_DMIRROR_SET_MODE		_IOW('H', 0x42, __u64)
#define HMM_DMIRROR_MODE_UNTRACKED_WRITES	_BITULL(0)
#define HMM_DMIRROR_MODE_DIRTY_ON_DROP		_BITULL(1)
#define HMM_DMIRROR_MODE_WATCH_ALL		_BITULL(2)

/*
 * dmirror only: the device lets go of the range (hmm_mirror_discard(), as
 * a driver deregistering a memory region would): its entries are dropped
 * and the 2 MiB leaves it leaves empty are no longer watched (a worker
 * removes their notifiers soon after).
 */
#define HMM_DMIRROR_DISCARD		_IOWR('H', 0x43, struct hmm_dmirror_cmd)

/**
 * struct hmm_dmirror_flock - dmirror only: FAULT_LOCK's command
 * @addr: first virtual address of the range (page aligned)
 * @npages: pages in the range (4096 at most)
 * @req_pages: how many of them, from @addr, are required; the others are
 *	optional (faulted if they can be, skipped if not); 0: all optional
 * @flags: HMM_DMIRROR_FLOCK_WRITE (fault for write), _PREFETCH (count the
 *	pages as prefetched)
 * @ptr: user buffer of @npages __u64: out: each page's entry as the
 *	device read it under the mirror lock: 0 if it has none, else its pfn
 *	shifted left by HMM_DMIRROR_ENTRY_PFN_SHIFT, or-ed with
 *	HMM_DMIRROR_ENTRY_VALID and, if the device may write, _WRITE
 * @filled: out: the pages the fault said it filled (valid, and writable
 *	for a write, when it returned with the lock held)
 */
struct hmm_dmirror_flock {
	__u64 addr;
	__u64 npages;
	__u64 req_pages;
	__u64 flags;
	__u64 ptr;
	__u64 filled;
};

#define HMM_DMIRROR_FLOCK_WRITE		_BITULL(0)
#define HMM_DMIRROR_FLOCK_PREFETCH	_BITULL(1)
/* An entry of FAULT_LOCK's @ptr: pfn above bit 12, these below. */
#define HMM_DMIRROR_ENTRY_VALID		_BITULL(0)
#define HMM_DMIRROR_ENTRY_WRITE		_BITULL(1)
#define HMM_DMIRROR_ENTRY_PFN_SHIFT	12

/*
 * dmirror only: fault the range and, with the mirror lock still held
 * (hmm_mirror_fault_and_lock()), read its entries, as a driver updating
 * its device's translation would; then unlock and report them. Errors as
 * a device fault's: EFAULT or EPERM for a required page that cannot be
 * mirrored, EBUSY if invalidations kept racing it.
 */
#define HMM_DMIRROR_FAULT_LOCK		_IOWR('H', 0x44, struct hmm_dmirror_flock)

/*
 * dmirror only: may a fault of the range wait on a file system
 * (hmm_mirror_fault_may_wait(): a mapping of a file other than shmem or
 * hugetlbfs)? @cpages out: 1 if it may, else 0. Faults nothing.
 */
#define HMM_DMIRROR_MAY_WAIT		_IOWR('H', 0x45, struct hmm_dmirror_cmd)

/*
 * SNAPSHOT: what the device sees of each page. The permission is a value,
 * not bits: a writable page is WRITE alone, a read-only one READ; the
 * other flags are or-ed to it.
 */
enum {
	HMM_DMIRROR_PROT_ERROR			= 0xFF,
	HMM_DMIRROR_PROT_NONE			= 0x00,
	HMM_DMIRROR_PROT_READ			= 0x01,
	HMM_DMIRROR_PROT_WRITE			= 0x02,
	HMM_DMIRROR_PROT_PMD			= 0x04,
	HMM_DMIRROR_PROT_PUD			= 0x08,
	HMM_DMIRROR_PROT_ZERO			= 0x10,
	HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL	= 0x20,
	HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE	= 0x30,
	HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL	= 0x40,
	HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE	= 0x50,
};

/* Kinds of device memory a device has (0 catches an unset field). */
enum {
	HMM_DMIRROR_MEMORY_DEVICE_PRIVATE = 1,
	HMM_DMIRROR_MEMORY_DEVICE_COHERENT,
};

#endif /* _HMM_DMIRROR_UAPI_H */
