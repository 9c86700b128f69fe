// SPDX-License-Identifier: GPL-2.0
/*
 * Dirty tracking for a device whose writes the core cannot see
 * (HMM_MIRROR_DIRTY_ON_DROP): when the core drops a writable entry, it
 * marks the page dirty, as ib_umem_odp does, whether or not the driver
 * said the device wrote it.
 *
 * The case that loses data without it is a tmpfs page: a read fault of a
 * hole maps a new, clean page writable (tmpfs does no write notification),
 * so the device can write through the entry it got from a read, and no CPU
 * page-table dirty bit records that write; a clean tmpfs page is a hole to
 * reclaim, which drops it. The test reads each page's dirty flag from
 * /proc/kpageflags after munmap (or close) has dropped the entries: the
 * page is still in the file, unmapped, its flag is what reclaim would go by.
 */
#define _GNU_SOURCE
#include <stdbool.h>

#include "dmirror.h"

#define N 8
#define KPF_DIRTY 4

/* Pages of @pfns with the dirty flag set; -1 if kpageflags is unreadable. */
static int dirty_pages(const uint64_t *pfns, int n)
{
	int fd = open("/proc/kpageflags", O_RDONLY), i, dirty = 0;
	uint64_t flags;

	if (fd < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (pread(fd, &flags, sizeof(flags), pfns[i] * 8) != 8) {
			dirty = -1;
			break;
		}
		dirty += !!(flags & (1ULL << KPF_DIRTY));
	}
	close(fd);
	return dirty;
}

static void set_mode(int fd, uint64_t mode)
{
	check_fatal("SET_MODE ioctl", !ioctl(fd, HMM_DMIRROR_SET_MODE, &mode),
		    "%s", strerror(errno));
}

/*
 * The device reads N holes of a new tmpfs file (a read fault: new clean
 * pages, mapped writable), then writes them through those entries with no
 * fault; the entries are dropped by munmap or, @by_close, by unregister.
 * Checks that the pages are dirty after that exactly when @want_dirty.
 */
static void run(const char *what, uint64_t mode, bool by_close,
		bool want_dirty)
{
	int fd = dm_open(0), file, ret, i, dirty;
	char *p, buf[N * PAGE], name[160];
	struct hmm_dmirror_stats st;
	unsigned char perm[N];
	struct hmm_dmirror_cmd cmd;
	uint64_t pfns[N];

	set_mode(fd, mode);
	file = memfd_create("hodp-hmm-dirty", MFD_CLOEXEC);
	check_fatal("memfd_create", file >= 0, "%s", strerror(errno));
	check_fatal("ftruncate", !ftruncate(file, N * PAGE), "%s",
		    strerror(errno));
	p = mmap(NULL, N * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
	check_fatal("mmap file", p != MAP_FAILED, "%s", strerror(errno));

	ret = dm_cmd(fd, HMM_DMIRROR_READ, p, buf, N, NULL);
	ret = ret ?: dm_cmd(fd, HMM_DMIRROR_SNAPSHOT, p, perm, N, NULL);
	check_fatal("device read and snapshot", !ret, "ret %d", ret);
	for (i = 0; i < N; i++) {
		pfns[i] = PM_PFN(pagemap(p + i * PAGE));
		check_fatal("the read mapped the tmpfs page writable",
			    perm[i] == HMM_DMIRROR_PROT_WRITE && pfns[i],
			    "page %d: perm 0x%x pfn 0x%llx (root needed)", i,
			    perm[i], (unsigned long long)pfns[i]);
	}
	dirty = dirty_pages(pfns, N);
	check_fatal("the pages are clean before the device writes",
		    dirty == 0, "%d dirty (kpageflags)", dirty);

	fill(buf, N, 21);
	ret = dm_cmd(fd, HMM_DMIRROR_WRITE, p, buf, N, &cmd);
	snprintf(name, sizeof(name),
		 "%s: the device writes through the read's entries, no fault",
		 what);
	check(name, !ret && !cmd.faults, "ret %d faults %llu", ret,
	      (unsigned long long)cmd.faults);

	if (by_close) {
		check_fatal("STATS", !ioctl(fd, HMM_DMIRROR_STATS, &st), "%s",
			    strerror(errno));
		close(fd);
		fd = -1;
	}
	munmap(p, N * PAGE);
	if (!by_close)
		check_fatal("STATS", !ioctl(fd, HMM_DMIRROR_STATS, &st), "%s",
			    strerror(errno));
	dirty = dirty_pages(pfns, N);
	snprintf(name, sizeof(name), "%s: %s the pages %s", what,
		 by_close ? "unregister leaves" : "munmap leaves",
		 want_dirty ? "dirty" : "clean (the write would be lost)");
	check(name, dirty == (want_dirty ? N : 0), "%d of %d dirty", dirty, N);
	if (!by_close) {
		snprintf(name, sizeof(name), "%s: the mirror counted %d dirtied",
			 what, want_dirty ? N : 0);
		check(name, st.dirtied_pages == (want_dirty ? N : 0),
		      "dirtied_pages %llu", (unsigned long long)st.dirtied_pages);
	}

	/* The data is in the file either way, as long as nothing reclaims. */
	memset(buf, 0, sizeof(buf));
	snprintf(name, sizeof(name), "%s: the file holds what the device wrote",
		 what);
	check(name, pread(file, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf) &&
	      differs(buf, N, 21) < 0, "word %ld", differs(buf, N, 21));
	close(file);
	if (fd >= 0)
		close(fd);
}

int main(void)
{
	run("tracked writes", 0, false, true);
	/* What the mode is for: without it, an unseen write leaves no trace. */
	run("untracked writes", HMM_DMIRROR_MODE_UNTRACKED_WRITES, false,
	    false);
	run("untracked writes, dirty-on-drop mirror",
	    HMM_DMIRROR_MODE_UNTRACKED_WRITES | HMM_DMIRROR_MODE_DIRTY_ON_DROP,
	    false, true);
	run("untracked writes, dirty-on-drop mirror closed",
	    HMM_DMIRROR_MODE_UNTRACKED_WRITES | HMM_DMIRROR_MODE_DIRTY_ON_DROP,
	    true, true);
	return check_done();
}
