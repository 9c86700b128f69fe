// SPDX-License-Identifier: GPL-2.0
/*
 * dmirror: a dummy device that mirrors the address space of whoever opens
 * it, through the HMM mirror core. It reads like a specification of that
 * API: each open file is one mirror of the opener's mm, and each ioctl is
 * one device operation on it, written as a driver for real hardware would:
 * look entries up under the mirror lock, fault what is missing, never touch
 * user memory with the lock held.
 *
 * /dev/hmm_dmirror0..3 speak the user ABI of the kernel's lib/test_hmm,
 * mmap of the device file included: the kernel's own HMM selftests run on
 * them.
 * Odd-numbered devices also DMA-map the pages they mirror, to exercise that
 * path of the core.
 *
 * Each device has device_memory_mb of device-private memory, each page of
 * which is backed by a system page the "device" copies to and from.
 * Devices 0 and 1 each own their memory; devices 2 and 3 share an owner,
 * as two devices joined by a peer link would: each mirrors and accesses
 * the other's pages where they are. Migration to device memory and
 * exclusive access need CONFIG_DEVICE_PRIVATE; without it those ioctls
 * fail with EOPNOTSUPP.
 */
#include <linux/debugfs.h>
#include <linux/dma-direct.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/highmem.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pgtable.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>

#include "hmm_devmem.h"
#include "hmm_mirror.h"
#include "hmm_dmirror_uapi.h"

#define DMIRROR_NDEVICES	4
/* Pages handled per step of an ioctl: bounds the kernel buffers. */
#define DMIRROR_STEP_PAGES	4096UL
/* Largest PREFETCH: the worker cannot be stopped by a signal. */
#define DMIRROR_PREFETCH_MAX_PAGES	(1UL << (30 - PAGE_SHIFT))
/*
 * Pages copied per hold of the mirror lock (64 KiB): a copy of a whole
 * step under one lock would keep the OOM reaper's bounded spin out.
 */
#define DMIRROR_LOCK_PAGES	16UL
/* Faults in a row that make no progress before giving up with -EBUSY. */
#define DMIRROR_MAX_STALLS	64

static unsigned int device_memory_mb = 16;
module_param(device_memory_mb, uint, 0444);
MODULE_PARM_DESC(device_memory_mb,
		 "Device memory of each device in MiB (DEVICE_PRIVATE kernels)");

/* For tests of the core's DMA policy, which refuses a limited device. */
static unsigned int dma_mask_bits = 64;
module_param(dma_mask_bits, uint, 0444);
MODULE_PARM_DESC(dma_mask_bits,
		 "DMA mask of the odd-numbered devices in bits (12 to 64)");

/*
 * @dma_dev: odd-numbered devices: the device DMA-maps for, ready before
 *	the character device appears (a mirror takes hdev.dev when opened)
 */
struct dmirror_device {
	struct miscdevice misc;
	struct hmm_device hdev;
	struct hmm_devmem *devmem;
	struct device *dma_dev;
	char name[16];
};

/* The owner that devices 2 and 3 share. */
static int dmirror_peer_owner;

/*
 * One open file: one mirror of the opener's mm.
 * @fault_work: the device's fault worker (PREFETCH), faulting
 *	[@fault_start, @fault_end) with @fault_flags while bit 0 of
 *	@fault_busy is set. It runs only while the file is open: release
 *	waits for it, and so does the mm's release.
 * @modes: HMM_DMIRROR_MODE_* of the file (HMM_DMIRROR_SET_MODE)
 */
struct dmirror {
	struct hmm_mirror mirror;
	struct dmirror_device *mdevice;
	pid_t owner_pid;
	struct work_struct fault_work;
	unsigned long fault_start;
	unsigned long fault_end;
	unsigned int fault_flags;
	unsigned long fault_busy;
	u64 modes;
};

static struct dmirror_device dmirror_devices[DMIRROR_NDEVICES];

/*
 * Invalidations seen, by mmu_notifier event, in debugfs hmm_dmirror/events:
 * what the core tells a driver, for tests to check.
 */
static const char *const dmirror_event_names[] = {
	[MMU_NOTIFY_UNMAP] = "unmap",
	[MMU_NOTIFY_CLEAR] = "clear",
	[MMU_NOTIFY_PROTECTION_VMA] = "protection_vma",
	[MMU_NOTIFY_PROTECTION_PAGE] = "protection_page",
	[MMU_NOTIFY_SOFT_DIRTY] = "soft_dirty",
	[MMU_NOTIFY_RELEASE] = "release",
	[MMU_NOTIFY_MIGRATE] = "migrate",
	[MMU_NOTIFY_EXCLUSIVE] = "exclusive",
};

static atomic64_t dmirror_events[ARRAY_SIZE(dmirror_event_names)];
static struct dentry *dmirror_debugfs;

static struct dmirror *to_dmirror(struct hmm_mirror *mirror)
{
	return container_of(mirror, struct dmirror, mirror);
}

/*
 * The mm is gone: stop the device's work on it, as a driver must, by
 * waiting for the fault worker. This is the wait that deadlocks if the core
 * tears the mm down from the worker's own fault (a synchronous mmput).
 */
static void dmirror_mirror_release(struct hmm_mirror *mirror)
{
	struct dmirror *dmirror = to_dmirror(mirror);

	flush_work(&dmirror->fault_work);
	dev_dbg(dmirror->mdevice->misc.this_device, "mm of pid %d released\n",
		dmirror->owner_pid);
}

static void dmirror_mirror_free(struct hmm_mirror *mirror)
{
	kfree(to_dmirror(mirror));
}

/*
 * Every device access happens under the mirror lock on entries looked up
 * there, so the core clearing the entries is all it takes: the callback
 * only counts what it is told. It must not sleep (non-blockable contexts).
 */
static int dmirror_invalidate(struct hmm_mirror *mirror,
			      const struct hmm_update *update)
{
	if (update->event < ARRAY_SIZE(dmirror_events))
		atomic64_inc(&dmirror_events[update->event]);
	return 0;
}

static const struct hmm_mirror_ops dmirror_mirror_ops = {
	.invalidate = dmirror_invalidate,
	.release = dmirror_mirror_release,
	.free = dmirror_mirror_free,
};

static int dmirror_events_show(struct seq_file *m, void *unused)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(dmirror_events); i++)
		seq_printf(m, "%s %lld\n", dmirror_event_names[i],
			   atomic64_read(&dmirror_events[i]));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(dmirror_events);

/*
 * The device's fault worker: one PREFETCH, counted as prefetched pages. Its
 * result is not reported.
 */
static void dmirror_fault_worker(struct work_struct *work)
{
	struct dmirror *dmirror =
		container_of(work, struct dmirror, fault_work);

	hmm_mirror_fault(&dmirror->mirror, dmirror->fault_start,
			 dmirror->fault_end,
			 dmirror->fault_flags | HMM_MIRROR_PREFETCH);
	clear_bit_unlock(0, &dmirror->fault_busy);
}

static int dmirror_open(struct inode *inode, struct file *filp)
{
	struct miscdevice *misc = filp->private_data;
	struct dmirror_device *mdevice =
		container_of(misc, struct dmirror_device, misc);
	struct dmirror *dmirror;
	int ret;

	if (!current->mm)
		return -EINVAL;
	dmirror = kzalloc(sizeof(*dmirror), GFP_KERNEL);
	if (!dmirror)
		return -ENOMEM;
	dmirror->mdevice = mdevice;
	dmirror->owner_pid = task_tgid_nr(current);
	INIT_WORK(&dmirror->fault_work, dmirror_fault_worker);
	ret = hmm_mirror_register(&dmirror->mirror, &mdevice->hdev,
				  current->mm);
	if (ret) {
		kfree(dmirror);
		return ret;
	}
	filp->private_data = dmirror;
	return 0;
}

static int dmirror_release(struct inode *inode, struct file *filp)
{
	struct dmirror *dmirror = filp->private_data;

	/* No device work after unregister: stop the fault worker first. */
	cancel_work_sync(&dmirror->fault_work);
	hmm_mirror_unregister(&dmirror->mirror);
	hmm_mirror_put(&dmirror->mirror);
	return 0;
}

/* End of the range of a command (checked by dmirror_range_ok()). */
static unsigned long dmirror_cmd_end(const struct hmm_dmirror_cmd *cmd)
{
	return cmd->addr + (cmd->npages << PAGE_SHIFT);
}

/*
 * The device has no DMA engine: it copies with the CPU. Where its DMA
 * device maps directly (no IOMMU: a DMA address is the physical address,
 * as in the guests of the tests), it checks that the core's DMA address of
 * each system page it copies is that page's, 4 KiB mappings and huge ones
 * alike, so that a wrong one fails the copy. False if it is wrong.
 */
static bool dmirror_dma_addr_ok(struct hmm_mirror *mirror, unsigned long addr,
				u64 entry, struct page *page)
{
	struct device *dev = mirror->hdev->dev;
	dma_addr_t da;

	if (!dev || (entry & HMM_MPTE_DEVICE) || get_dma_ops(dev))
		return true;
	da = hmm_mirror_dma_addr(mirror, addr);
	if (da != DMA_MAPPING_ERROR &&
	    dma_to_phys(dev, da) == page_to_phys(page))
		return true;
	dev_err_ratelimited(dev, "dmirror: DMA address %pad of 0x%lx is not that of its page\n",
			    &da, addr);
	return false;
}

/*
 * Copy between the mirrored pages of [addr, end) and @buf, under the mirror
 * lock held for reading (other copies of this mirror run meanwhile: a
 * write sets its dirty bits atomically), until a page is missing (or not
 * writable, for a write). Returns the first address not done. A write
 * tells the core which pages it wrote,
 * unless the file plays a device whose writes its driver cannot see
 * (HMM_DMIRROR_MODE_UNTRACKED_WRITES).
 */
static unsigned long dmirror_copy_locked(struct dmirror *dmirror,
					 unsigned long addr, unsigned long end,
					 char *buf, bool write)
{
	struct hmm_mirror *mirror = &dmirror->mirror;
	u64 need = HMM_MPTE_VALID | (write ? HMM_MPTE_WRITE : 0);
	bool tracked = !(READ_ONCE(dmirror->modes) &
			 HMM_DMIRROR_MODE_UNTRACKED_WRITES);

	for (; addr < end; addr += PAGE_SIZE, buf += PAGE_SIZE) {
		u64 entry = hmm_mirror_lookup(mirror, addr);
		struct page *page;
		void *va;

		if ((entry & need) != need)
			break;
		page = pfn_to_page(hmm_mpte_pfn(entry));
		/* Our memory or a peer's: what backs the device page. */
		if (entry & HMM_MPTE_DEVICE)
			page = page->zone_device_data;
		if (WARN_ON_ONCE(!page) ||
		    !dmirror_dma_addr_ok(mirror, addr, entry, page))
			break;
		va = kmap_local_page(page);
		if (write) {
			memcpy(va, buf, PAGE_SIZE);
			if (tracked)
				hmm_mirror_set_dirty(mirror, addr);
		} else {
			memcpy(buf, va, PAGE_SIZE);
		}
		kunmap_local(va);
	}
	return addr;
}

/* The device accesses [start, end) through its mirror, faulting as needed. */
static int dmirror_access(struct dmirror *dmirror, unsigned long start,
			  unsigned long end, char *buf, bool write,
			  struct hmm_dmirror_cmd *cmd)
{
	struct hmm_mirror *mirror = &dmirror->mirror;
	unsigned long addr = start, next, done;
	int stalls = 0, ret;

	for (;;) {
		next = min(end, addr + (DMIRROR_LOCK_PAGES << PAGE_SHIFT));
		hmm_mirror_read_lock(mirror);
		done = dmirror_copy_locked(dmirror, addr, next,
					   buf + (addr - start), write);
		hmm_mirror_read_unlock(mirror);
		if (done == end)
			return 0;
		if (done == next) {
			/* A stretch done: the lock is let go between two. */
			addr = done;
			stalls = 0;
			cond_resched();
			continue;
		}
		/* Invalidated again between the fault and the lock. */
		stalls = done == addr ? stalls + 1 : 0;
		if (stalls > DMIRROR_MAX_STALLS)
			return -EBUSY;
		if (fatal_signal_pending(current))
			return -EINTR;
		addr = done;
		ret = hmm_mirror_fault(mirror, addr, end,
				       write ? HMM_MIRROR_WRITE : 0);
		if (ret)
			return ret;
		cmd->faults++;
	}
}

/*
 * READ and WRITE: the device copies between the user's buffer and the
 * mirrored range through a bounce buffer, DMIRROR_STEP_PAGES at a time.
 */
static int dmirror_rw(struct dmirror *dmirror, struct hmm_dmirror_cmd *cmd,
		      bool write)
{
	unsigned long start = cmd->addr, addr, next;
	unsigned long end = dmirror_cmd_end(cmd);
	char *bounce;
	int ret = 0;

	bounce = kvmalloc(min(cmd->npages, DMIRROR_STEP_PAGES) << PAGE_SHIFT,
			  GFP_KERNEL);
	if (!bounce)
		return -ENOMEM;
	for (addr = start; addr < end; addr = next) {
		void __user *user = u64_to_user_ptr(cmd->ptr + (addr - start));

		next = min(end, addr + (DMIRROR_STEP_PAGES << PAGE_SHIFT));
		if (write && copy_from_user(bounce, user, next - addr)) {
			ret = -EFAULT;
			break;
		}
		ret = dmirror_access(dmirror, addr, next, bounce, write, cmd);
		if (ret)
			break;
		if (!write && copy_to_user(user, bounce, next - addr)) {
			ret = -EFAULT;
			break;
		}
		cmd->cpages += (next - addr) >> PAGE_SHIFT;
	}
	kvfree(bounce);
	return ret;
}

/* What SNAPSHOT reports for one mirror entry. */
static u8 dmirror_perm(struct dmirror *dmirror, u64 entry)
{
	unsigned int order;
	u8 perm;

	if (entry & HMM_MPTE_ERROR)
		return HMM_DMIRROR_PROT_ERROR;
	if (!(entry & HMM_MPTE_VALID))
		return HMM_DMIRROR_PROT_NONE;
	/* A value, not bits: test_hmm reports a writable page as WRITE alone. */
	perm = entry & HMM_MPTE_WRITE ? HMM_DMIRROR_PROT_WRITE :
					HMM_DMIRROR_PROT_READ;
	order = hmm_mpte_order(entry);
	if (order == PMD_SHIFT - PAGE_SHIFT)
		perm |= HMM_DMIRROR_PROT_PMD;
	else if (order == PUD_SHIFT - PAGE_SHIFT)
		perm |= HMM_DMIRROR_PROT_PUD;
	if (is_zero_pfn(hmm_mpte_pfn(entry)))
		perm |= HMM_DMIRROR_PROT_ZERO;
	if (entry & HMM_MPTE_DEVICE) {
		struct page *page = pfn_to_page(hmm_mpte_pfn(entry));

		perm |= hmm_devmem_of_page(page) == dmirror->mdevice->devmem ?
			HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL :
			HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE;
	}
	return perm;
}

static int dmirror_snapshot(struct dmirror *dmirror,
			    struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr, addr, next, n, i;
	unsigned long end = dmirror_cmd_end(cmd);
	u64 *entries;
	u8 *perm;
	int ret = 0;

	n = min(cmd->npages, DMIRROR_STEP_PAGES);
	entries = kvmalloc_array(n, sizeof(*entries), GFP_KERNEL);
	perm = kvmalloc(n, GFP_KERNEL);
	if (!entries || !perm) {
		ret = -ENOMEM;
		goto out;
	}
	for (addr = start; addr < end; addr = next) {
		next = min(end, addr + (DMIRROR_STEP_PAGES << PAGE_SHIFT));
		n = (next - addr) >> PAGE_SHIFT;
		ret = hmm_mirror_snapshot(&dmirror->mirror, addr, next, entries);
		if (ret)
			break;
		for (i = 0; i < n; i++)
			perm[i] = dmirror_perm(dmirror, entries[i]);
		if (copy_to_user(u64_to_user_ptr(cmd->ptr +
						 ((addr - start) >> PAGE_SHIFT)),
				 perm, n)) {
			ret = -EFAULT;
			break;
		}
		cmd->cpages += n;
	}
out:
	kvfree(perm);
	kvfree(entries);
	return ret;
}

static int dmirror_unsupported(struct dmirror *dmirror, const char *what)
{
	dev_info_once(dmirror->mdevice->misc.this_device,
		      "%s needs CONFIG_DEVICE_PRIVATE, which this kernel lacks\n",
		      what);
	return -EOPNOTSUPP;
}

/*
 * test_hmm refuses to migrate a range that readable VMAs do not cover with
 * -EINVAL (the core says -EFAULT for a hole and moves nothing of a
 * PROT_NONE mapping). Checked before migrating: the ioctl's caller is the
 * mirror's mm (dmirror_ioctl() made sure).
 */
static int dmirror_migrate_vmas_ok(unsigned long start, unsigned long end)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	unsigned long addr;
	int ret = 0;

	mmap_read_lock(mm);
	for (addr = start; addr < end; addr = vma->vm_end) {
		vma = vma_lookup(mm, addr);
		if (!vma || !(vma->vm_flags & VM_READ)) {
			ret = -EINVAL;
			break;
		}
	}
	mmap_read_unlock(mm);
	return ret;
}

/*
 * After MIGRATE_TO_DEV, as test_hmm does: the device reads the range into
 * cmd->ptr for the caller to verify, but only if it can without moving
 * anything: a page it does not see where it is (another owner's device
 * memory, an unpopulated page) fails with -ENOENT.
 */
static int dmirror_migrate_read_back(struct dmirror *dmirror,
				     struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr, addr, next, n, i;
	unsigned long end = dmirror_cmd_end(cmd);
	u64 *entries;
	int ret = 0;

	n = min(cmd->npages, DMIRROR_STEP_PAGES);
	entries = kvmalloc_array(n, sizeof(*entries), GFP_KERNEL);
	if (!entries)
		return -ENOMEM;
	for (addr = start; addr < end && !ret; addr = next) {
		next = min(end, addr + (DMIRROR_STEP_PAGES << PAGE_SHIFT));
		n = (next - addr) >> PAGE_SHIFT;
		ret = hmm_mirror_snapshot(&dmirror->mirror, addr, next, entries);
		for (i = 0; i < n && !ret; i++)
			if (!(entries[i] & HMM_MPTE_VALID))
				ret = -ENOENT;
		cond_resched();
	}
	kvfree(entries);
	/* What the snapshot saw, the read faults in (without a migration). */
	return ret ? ret : dmirror_rw(dmirror, cmd, false);
}

/*
 * MIGRATE_TO_DEV and MIGRATE_TO_SYS: cpages says how many pages moved.
 * MIGRATE_TO_DEV with a cmd->ptr also reads the range back into it, and
 * then cpages says how many pages it read, as test_hmm's.
 */
static int dmirror_migrate(struct dmirror *dmirror,
			   struct hmm_dmirror_cmd *cmd, bool to_device)
{
	unsigned long start = cmd->addr;
	unsigned long end = dmirror_cmd_end(cmd);
	struct hmm_devmem *devmem = dmirror->mdevice->devmem;
	unsigned long moved = 0;
	int ret;

	if (!devmem)
		return dmirror_unsupported(dmirror,
					   "migration to device memory");
	if (to_device) {
		ret = dmirror_migrate_vmas_ok(start, end);
		if (!ret)
			ret = hmm_mirror_migrate_to_device(&dmirror->mirror,
							   devmem, start, end,
							   &moved);
		/* Read back, cpages counts what was read, as test_hmm's. */
		if (!ret && cmd->ptr)
			return dmirror_migrate_read_back(dmirror, cmd);
	} else {
		ret = hmm_mirror_migrate_to_ram(&dmirror->mirror, start, end,
						&moved);
	}
	cmd->cpages = moved;
	return ret;
}

/*
 * Copy what the device mirrors of the range into cmd->ptr, without a fault
 * (a fault would take back exclusive access): -ENOENT for a page it does
 * not mirror.
 */
static int dmirror_read_mirrored(struct dmirror *dmirror,
				 struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr, addr, next, done;
	unsigned long end = dmirror_cmd_end(cmd);
	char *bounce;
	int ret = 0;

	bounce = kvmalloc(min(cmd->npages, DMIRROR_STEP_PAGES) << PAGE_SHIFT,
			  GFP_KERNEL);
	if (!bounce)
		return -ENOMEM;
	for (addr = start; addr < end; addr = next) {
		next = min(end, addr + (DMIRROR_STEP_PAGES << PAGE_SHIFT));
		done = addr;
		while (done < next) {
			unsigned long to = min(next, done +
					       (DMIRROR_LOCK_PAGES << PAGE_SHIFT));

			hmm_mirror_read_lock(&dmirror->mirror);
			done = dmirror_copy_locked(dmirror, done, to,
						   bounce + (done - addr), false);
			hmm_mirror_read_unlock(&dmirror->mirror);
			if (done != to)
				break;
			cond_resched();
		}
		if (done != next) {
			ret = -ENOENT;
			break;
		}
		if (copy_to_user(u64_to_user_ptr(cmd->ptr + (addr - start)),
				 bounce, next - addr)) {
			ret = -EFAULT;
			break;
		}
		cond_resched();
	}
	kvfree(bounce);
	return ret;
}

/* EXCLUSIVE, as test_hmm: with a cmd->ptr, the device reads the range back. */
static int dmirror_exclusive(struct dmirror *dmirror,
			     struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr;
	unsigned long end = dmirror_cmd_end(cmd);
	int ret;

	ret = hmm_mirror_make_exclusive(&dmirror->mirror, start, end);
	if (ret == -EOPNOTSUPP)
		return dmirror_unsupported(dmirror, "exclusive device access");
	if (!ret && cmd->ptr)
		ret = dmirror_read_mirrored(dmirror, cmd);
	if (!ret)
		cmd->cpages = cmd->npages;
	return ret;
}

/*
 * CHECK_EXCLUSIVE: 0 if the device still has exclusive access to every page
 * of the range, else -EPERM. The lock is taken a step at a time.
 */
static int dmirror_check_exclusive(struct dmirror *dmirror,
				   struct hmm_dmirror_cmd *cmd)
{
	unsigned long addr = cmd->addr, next, end = dmirror_cmd_end(cmd);

	if (!IS_ENABLED(CONFIG_DEVICE_PRIVATE))
		return dmirror_unsupported(dmirror, "exclusive device access");
	for (; addr < end; addr = next) {
		next = min(end, addr + (DMIRROR_STEP_PAGES << PAGE_SHIFT));
		hmm_mirror_read_lock(&dmirror->mirror);
		for (; addr < next; addr += PAGE_SIZE) {
			if (!(hmm_mirror_lookup(&dmirror->mirror, addr) &
			      HMM_MPTE_EXCLUSIVE))
				break;
			cmd->cpages++;
		}
		hmm_mirror_read_unlock(&dmirror->mirror);
		if (addr < next)
			return -EPERM;
		cond_resched();
	}
	return 0;
}

/*
 * PREFETCH: hand the range (1 GiB at most) to the fault worker and return.
 * A range with no VMA makes the worker's fault fail, which is no one's
 * business here.
 */
static int dmirror_prefetch(struct dmirror *dmirror,
			    struct hmm_dmirror_cmd *cmd)
{
	if (cmd->npages > DMIRROR_PREFETCH_MAX_PAGES)
		return -EINVAL;
	/* One at a time: the worker owns the fields until it clears the bit. */
	if (test_and_set_bit_lock(0, &dmirror->fault_busy))
		return -EBUSY;
	dmirror->fault_start = cmd->addr;
	dmirror->fault_end = dmirror_cmd_end(cmd);
	dmirror->fault_flags = cmd->ptr ? HMM_MIRROR_WRITE : 0;
	queue_work(system_unbound_wq, &dmirror->fault_work);
	return 0;
}

/* RELEASE: move everything in this device's memory back to the CPU. */
static int dmirror_release_device_memory(struct dmirror *dmirror)
{
	struct hmm_devmem *devmem = dmirror->mdevice->devmem;

	return devmem ? hmm_devmem_evict(devmem) : 0;
}

/* STATS: the mirror's counters, as the core keeps them. */
static int dmirror_stats(struct dmirror *dmirror, void __user *uarg)
{
	struct hmm_dmirror_stats ust = {};
	struct hmm_mirror_stats st;

	hmm_mirror_read_stats(&dmirror->mirror, &st);
	ust.faults = st.faults;
	ust.faulted_pages = st.faulted_pages;
	ust.prefetched_pages = st.prefetched_pages;
	ust.invalidations = st.invalidations;
	ust.invalidated_pages = st.invalidated_pages;
	ust.dirtied_pages = st.dirtied_pages;
	return copy_to_user(uarg, &ust, sizeof(ust)) ? -EFAULT : 0;
}

/*
 * SET_MODE: the device's own modes, and the mirror's dirty-on-drop and
 * whole-space watch.
 */
static int dmirror_set_mode(struct dmirror *dmirror, void __user *uarg)
{
	unsigned int mirror_modes = 0;
	u64 modes;
	int ret;

	if (copy_from_user(&modes, uarg, sizeof(modes)))
		return -EFAULT;
	if (modes & ~(HMM_DMIRROR_MODE_UNTRACKED_WRITES |
		      HMM_DMIRROR_MODE_DIRTY_ON_DROP |
		      HMM_DMIRROR_MODE_WATCH_ALL))
		return -EINVAL;
	if (modes & HMM_DMIRROR_MODE_DIRTY_ON_DROP)
		mirror_modes |= HMM_MIRROR_DIRTY_ON_DROP;
	if (modes & HMM_DMIRROR_MODE_WATCH_ALL)
		mirror_modes |= HMM_MIRROR_WATCH_ALL;
	ret = hmm_mirror_set_modes(&dmirror->mirror, mirror_modes);
	if (!ret)
		WRITE_ONCE(dmirror->modes, modes);
	return ret;
}

static bool dmirror_range_ok(const struct hmm_dmirror_cmd *cmd)
{
	return PAGE_ALIGNED(cmd->addr) && cmd->npages &&
	       cmd->npages <= (TASK_SIZE_MAX >> PAGE_SHIFT) &&
	       dmirror_cmd_end(cmd) > cmd->addr;
}

/* DISCARD: the device lets go of the range, as at an MR's deregistration. */
static int dmirror_discard(struct dmirror *dmirror,
			   struct hmm_dmirror_cmd *cmd)
{
	hmm_mirror_discard(&dmirror->mirror, cmd->addr, dmirror_cmd_end(cmd));
	return 0;
}

/* MAY_WAIT: what the core tells a driver scheduling its faults. */
static int dmirror_may_wait(struct dmirror *dmirror,
			    struct hmm_dmirror_cmd *cmd)
{
	cmd->cpages = hmm_mirror_fault_may_wait(&dmirror->mirror, cmd->addr,
						dmirror_cmd_end(cmd));
	return 0;
}

/*
 * FAULT_LOCK: fault the range and read its entries while the fault's lock
 * is still held, as a driver filling its translation table would, then
 * report them. A mirror entry becomes the ABI's: pfn, VALID and WRITE.
 */
static int dmirror_fault_lock(struct dmirror *dmirror, void __user *uarg)
{
	struct hmm_mirror *mirror = &dmirror->mirror;
	struct hmm_mirror_range req = {};
	struct hmm_dmirror_flock fl;
	unsigned long i;
	u64 *entries;
	int ret;

	if (copy_from_user(&fl, uarg, sizeof(fl)))
		return -EFAULT;
	if (!PAGE_ALIGNED(fl.addr) || fl.addr >= TASK_SIZE_MAX || !fl.npages ||
	    fl.npages > DMIRROR_STEP_PAGES || fl.req_pages > fl.npages ||
	    fl.flags & ~(HMM_DMIRROR_FLOCK_WRITE | HMM_DMIRROR_FLOCK_PREFETCH))
		return -EINVAL;
	entries = kvmalloc_array(fl.npages, sizeof(*entries), GFP_KERNEL);
	if (!entries)
		return -ENOMEM;
	req.start = fl.addr;
	req.end = fl.addr + (fl.npages << PAGE_SHIFT);
	req.req_end = fl.addr + (fl.req_pages << PAGE_SHIFT);
	if (!fl.req_pages)
		req.flags |= HMM_MIRROR_OPTIONAL;
	if (fl.flags & HMM_DMIRROR_FLOCK_WRITE)
		req.flags |= HMM_MIRROR_WRITE;
	if (fl.flags & HMM_DMIRROR_FLOCK_PREFETCH)
		req.flags |= HMM_MIRROR_PREFETCH;
	ret = hmm_mirror_fault_and_lock(mirror, &req);
	if (ret)
		goto out;
	/* The device's translation update: no allocation, no user memory. */
	hmm_mirror_lookup_range(mirror, req.start, fl.npages, entries);
	hmm_mirror_unlock(mirror);

	for (i = 0; i < fl.npages; i++) {
		u64 e = entries[i];

		entries[i] = 0;
		if (!(e & HMM_MPTE_VALID))
			continue;
		entries[i] = ((u64)hmm_mpte_pfn(e) <<
			      HMM_DMIRROR_ENTRY_PFN_SHIFT) |
			     HMM_DMIRROR_ENTRY_VALID;
		if (e & HMM_MPTE_WRITE)
			entries[i] |= HMM_DMIRROR_ENTRY_WRITE;
	}
	fl.filled = req.filled;
	if (copy_to_user(u64_to_user_ptr(fl.ptr), entries,
			 fl.npages * sizeof(*entries)) ||
	    copy_to_user(uarg, &fl, sizeof(fl)))
		ret = -EFAULT;
out:
	kvfree(entries);
	return ret;
}

static long dmirror_ioctl(struct file *filp, unsigned int command,
			  unsigned long arg)
{
	void __user *uarg = (void __user *)arg;
	struct dmirror *dmirror = filp->private_data;
	struct hmm_dmirror_cmd cmd;
	int ret;

	/* A mirror is bound to its mm: a forked child gets no access. */
	if (!hmm_mirror_is_mm(&dmirror->mirror, current->mm)) {
		dev_warn_ratelimited(dmirror->mdevice->misc.this_device,
				     "mirror of pid %d used by pid %d from another mm: refused\n",
				     dmirror->owner_pid, task_tgid_nr(current));
		return -EPERM;
	}
	/* The commands that take no struct hmm_dmirror_cmd. */
	if (command == HMM_DMIRROR_STATS)
		return dmirror_stats(dmirror, uarg);
	if (command == HMM_DMIRROR_SET_MODE)
		return dmirror_set_mode(dmirror, uarg);
	if (command == HMM_DMIRROR_FAULT_LOCK)
		return dmirror_fault_lock(dmirror, uarg);
	if (copy_from_user(&cmd, uarg, sizeof(cmd)))
		return -EFAULT;
	if (command != HMM_DMIRROR_RELEASE && !dmirror_range_ok(&cmd))
		return -EINVAL;
	cmd.cpages = 0;
	cmd.faults = 0;

	switch (command) {
	case HMM_DMIRROR_READ:
		ret = dmirror_rw(dmirror, &cmd, false);
		break;
	case HMM_DMIRROR_WRITE:
		ret = dmirror_rw(dmirror, &cmd, true);
		break;
	case HMM_DMIRROR_SNAPSHOT:
		ret = dmirror_snapshot(dmirror, &cmd);
		break;
	case HMM_DMIRROR_MIGRATE_TO_DEV:
		ret = dmirror_migrate(dmirror, &cmd, true);
		break;
	case HMM_DMIRROR_MIGRATE_TO_SYS:
		ret = dmirror_migrate(dmirror, &cmd, false);
		break;
	case HMM_DMIRROR_EXCLUSIVE:
		ret = dmirror_exclusive(dmirror, &cmd);
		break;
	case HMM_DMIRROR_CHECK_EXCLUSIVE:
		ret = dmirror_check_exclusive(dmirror, &cmd);
		break;
	case HMM_DMIRROR_RELEASE:
		ret = dmirror_release_device_memory(dmirror);
		break;
	case HMM_DMIRROR_PREFETCH:
		ret = dmirror_prefetch(dmirror, &cmd);
		break;
	case HMM_DMIRROR_DISCARD:
		ret = dmirror_discard(dmirror, &cmd);
		break;
	case HMM_DMIRROR_MAY_WAIT:
		ret = dmirror_may_wait(dmirror, &cmd);
		break;
	default:
		return -EINVAL;
	}
	if (ret)
		return ret;
	return copy_to_user(uarg, &cmd, sizeof(cmd)) ? -EFAULT : 0;
}

/*
 * mmap of the device file, as test_hmm: a mapping backed by zeroed driver
 * pages (vm_insert_page() makes it VM_MIXEDMAP), a kind of memory the
 * core mirrors but never migrates. Bounded like an ioctl's step: the
 * pages are charged to the caller's memory cgroup.
 */
static int dmirror_mmap(struct file *filp, struct vm_area_struct *vma)
{
	struct dmirror *dmirror = filp->private_data;
	unsigned long addr;
	int ret;

	if (vma_pages(vma) > DMIRROR_STEP_PAGES) {
		dev_dbg(dmirror->mdevice->misc.this_device,
			"mmap of %lu pages refused: %lu at most\n",
			vma_pages(vma), DMIRROR_STEP_PAGES);
		return -EINVAL;
	}
	for (addr = vma->vm_start; addr < vma->vm_end; addr += PAGE_SIZE) {
		struct page *page = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);

		if (!page)
			return -ENOMEM;
		ret = vm_insert_page(vma, addr, page);
		/* The mapping holds its own reference; unmapping frees it. */
		put_page(page);
		if (ret)
			return ret;
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
	}
	return 0;
}

static const struct file_operations dmirror_fops = {
	.owner = THIS_MODULE,
	.open = dmirror_open,
	.release = dmirror_release,
	.mmap = dmirror_mmap,
	.unlocked_ioctl = dmirror_ioctl,
	.llseek = noop_llseek,
};

/*
 * Device memory: each device page is backed by a system page, kept in its
 * zone_device_data; "DMA" to and from the device is a page copy.
 */
static int dmirror_copy_to_device(struct hmm_devmem *devmem,
				  struct page *dst, struct page *src)
{
	struct page *backing = alloc_page(GFP_HIGHUSER);

	if (!backing)
		return -ENOMEM;
	if (src)
		copy_highpage(backing, src);
	else
		clear_highpage(backing);
	dst->zone_device_data = backing;
	return 0;
}

static int dmirror_copy_from_device(struct hmm_devmem *devmem,
				    struct page *dst, struct page *src)
{
	if (WARN_ON_ONCE(!src->zone_device_data))
		return -EIO;
	copy_highpage(dst, src->zone_device_data);
	return 0;
}

static void dmirror_devmem_page_free(struct hmm_devmem *devmem,
				     struct page *page)
{
	if (page->zone_device_data)
		__free_page(page->zone_device_data);
}

static const struct hmm_devmem_ops dmirror_devmem_ops = {
	.copy_to_device = dmirror_copy_to_device,
	.copy_from_device = dmirror_copy_from_device,
	.page_free = dmirror_devmem_page_free,
};

/* Undo dmirror_device_add() from its step @misc_done on. */
static void dmirror_device_undo(struct dmirror_device *mdevice, bool misc_done)
{
	if (misc_done)
		misc_deregister(&mdevice->misc);
	if (mdevice->devmem)
		hmm_devmem_destroy(mdevice->devmem);
	mdevice->devmem = NULL;
	hmm_device_unregister(&mdevice->hdev);
	if (mdevice->dma_dev)
		root_device_unregister(mdevice->dma_dev);
	mdevice->dma_dev = NULL;
}

static void dmirror_device_remove(struct dmirror_device *mdevice)
{
	dmirror_device_undo(mdevice, true);
}

/* Odd-numbered devices DMA-map what they mirror, for a device of their own. */
static int dmirror_dma_device(struct dmirror_device *mdevice, unsigned int id)
{
	char name[24];
	int ret;

	if (!(id & 1))
		return 0;
	snprintf(name, sizeof(name), "hmm_dmirror%u_dma", id);
	mdevice->dma_dev = root_device_register(name);
	if (IS_ERR(mdevice->dma_dev)) {
		ret = PTR_ERR(mdevice->dma_dev);
		mdevice->dma_dev = NULL;
		return ret;
	}
	ret = -EINVAL;
	if (dma_mask_bits >= 12 && dma_mask_bits <= 64)
		ret = dma_coerce_mask_and_coherent(mdevice->dma_dev,
						   DMA_BIT_MASK(dma_mask_bits));
	if (ret) {
		root_device_unregister(mdevice->dma_dev);
		mdevice->dma_dev = NULL;
	}
	return ret;
}

static int dmirror_device_add(struct dmirror_device *mdevice, unsigned int id)
{
	int ret;

	snprintf(mdevice->name, sizeof(mdevice->name), "hmm_dmirror%u", id);
	ret = dmirror_dma_device(mdevice, id);
	if (ret)
		return ret;
	mdevice->hdev.ops = &dmirror_mirror_ops;
	mdevice->hdev.owner = id >= 2 ? &dmirror_peer_owner : NULL;
	/* Before the device file exists: an open takes it at once. */
	mdevice->hdev.dev = mdevice->dma_dev;
	ret = hmm_device_register(&mdevice->hdev);
	if (ret) {
		dmirror_device_undo(mdevice, false);
		return ret;
	}
	mdevice->devmem = hmm_devmem_create(&mdevice->hdev, &dmirror_devmem_ops,
					    (unsigned long)device_memory_mb << 20,
					    mdevice);
	if (IS_ERR(mdevice->devmem)) {
		ret = PTR_ERR(mdevice->devmem);
		mdevice->devmem = NULL;
		/* Kernels without DEVICE_PRIVATE: mirrors without memory. */
		if (ret != -EOPNOTSUPP) {
			dmirror_device_undo(mdevice, false);
			return ret;
		}
	}
	mdevice->misc.minor = MISC_DYNAMIC_MINOR;
	mdevice->misc.name = mdevice->name;
	mdevice->misc.fops = &dmirror_fops;
	ret = misc_register(&mdevice->misc);
	if (ret)
		dmirror_device_undo(mdevice, false);
	return ret;
}

static int __init dmirror_init(void)
{
	unsigned int id;
	int ret;

	dmirror_debugfs = debugfs_create_dir("hmm_dmirror", NULL);
	debugfs_create_file("events", 0444, dmirror_debugfs, NULL,
			    &dmirror_events_fops);
	for (id = 0; id < DMIRROR_NDEVICES; id++) {
		ret = dmirror_device_add(&dmirror_devices[id], id);
		if (ret) {
			pr_err("hmm_dmirror: cannot add device %u: %d\n", id, ret);
			while (id--)
				dmirror_device_remove(&dmirror_devices[id]);
			debugfs_remove_recursive(dmirror_debugfs);
			return ret;
		}
	}
	return 0;
}

static void __exit dmirror_exit(void)
{
	unsigned int id;

	for (id = 0; id < DMIRROR_NDEVICES; id++)
		dmirror_device_remove(&dmirror_devices[id]);
	debugfs_remove_recursive(dmirror_debugfs);
}

module_init(dmirror_init);
module_exit(dmirror_exit);
MODULE_DESCRIPTION("Dummy device for testing HMM mirrors");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(HMM_MIRROR);
