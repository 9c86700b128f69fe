// SPDX-License-Identifier: GPL-2.0
/*
 * First touch: what an RDMA write into memory never touched costs with
 * on-demand paging, and what prefetch does about it. One RDMA write of
 * MIB MiB (default 64) into a fresh ODP mapping, whose pages the device
 * faults in during the write (cold), then the same write again (warm: the
 * pages are mirrored now); then into another fresh mapping after a
 * synchronous ibv_advise_mr(PREFETCH_WRITE, FLUSH), the write itself
 * taking no fault; then into a third after an asynchronous one. Prints the
 * bandwidth of each, each against the warm write, and the device's page
 * faults (hw_counters/odp_faults) during each write (a prefetch's own
 * faulting is not counted there: it is in the MR's page_prefetch).
 *
 *   odp-firsttouch [MIB [DEVICE [GID_INDEX]]]     (default 64 hodp0 1)
 *
 * Exits 0 if every write completed and its data arrived intact. Its
 * figures are one run's (under QEMU's TCG they drift from run to run):
 * compare them with each other, not with another run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "loopback.h"

#define MIB	(1UL << 20)

static const char usage[] =
	"usage: odp-firsttouch [MIB [DEVICE [GID_INDEX]]]     (default 64 hodp0 1)\n"
	"First touch with on-demand paging: an RDMA write of MIB MiB into fresh\n"
	"ODP memory (cold: the device faults the pages in), the same write again\n"
	"(warm), and into fresh memory after a synchronous and after an\n"
	"asynchronous ibv_advise_mr(PREFETCH_WRITE): the bandwidth of each and\n"
	"the device's page faults during each write.\n"
	"Exits 0 if every write completed and its data arrived intact.\n";

static struct loopback lb;
static const char *dev = "hodp0";
static size_t len;
static unsigned char *src;
static struct ibv_mr *src_mr;

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* The device's page-fault events so far (its counters are cached 10 ms). */
static long long faults(void)
{
	char path[256];
	long long v = -1;
	FILE *f;

	usleep(20000);
	snprintf(path, sizeof(path),
		 "/sys/class/infiniband/%s/ports/1/hw_counters/odp_faults", dev);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* A fresh anonymous mapping of len bytes, registered on demand. */
static struct ibv_mr *fresh(unsigned char **p)
{
	struct ibv_mr *mr;

	*p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (*p == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	/* 4 KiB pages for the CPU and the device, as most memory is. */
	madvise(*p, len, MADV_NOHUGEPAGE);
	mr = ibv_reg_mr(lb.pd, *p, len, IBV_ACCESS_ON_DEMAND |
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	if (!mr)
		die("ibv_reg_mr(IBV_ACCESS_ON_DEMAND): %s", strerror(errno));
	return mr;
}

/* The RDMA write of the source into @dst, checked; its seconds. */
static double write_into(unsigned char *dst, struct ibv_mr *mr)
{
	double t = now();
	int status = loopback_write(&lb, src, src_mr->lkey, (uintptr_t)dst,
				    mr->rkey, len);

	t = now() - t;
	if (status != IBV_WC_SUCCESS)
		die("RDMA write: %s", status < 0 ? "not posted" :
		    ibv_wc_status_str(status));
	if (memcmp(dst, src, len))
		die("RDMA write: the data did not arrive intact");
	return t;
}

static void prefetch_write(unsigned char *p, struct ibv_mr *mr,
			   uint32_t flags)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)p, .length = len, .lkey = mr->lkey,
	};
	int ret = ibv_advise_mr(lb.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
				flags, &sge, 1);

	/* ibv_advise_mr returns an errno value, not -1. */
	if (ret)
		die("ibv_advise_mr(PREFETCH_WRITE): %s", strerror(ret));
}

static double mibs(double seconds)
{
	return len / (double)MIB / seconds;
}

int main(int argc, char **argv)
{
	unsigned char *cold, *sync_dst, *async_dst;
	struct ibv_mr *cold_mr, *sync_mr, *async_mr;
	double t_cold, t_warm, t_sync, t_sync_write, t_async;
	long long f0, f_cold, f_warm, f_sync, f_async;
	size_t i;

	help(argc, argv, usage);
	len = (argc > 1 ? strtoul(argv[1], NULL, 10) : 64) * MIB;
	if (!len || len > 1024 * MIB)
		die("MIB: 1 to 1024");
	if (argc > 2)
		dev = argv[2];
	loopback_open(&lb, dev, argc > 3 ? atoi(argv[3]) : 1);

	/*
	 * The source: written by the CPU before its registration, which
	 * mirrors what is present: it never faults.
	 */
	src = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (src == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	for (i = 0; i < len; i++)
		src[i] = (unsigned char)(i * 7 + i / 4096);
	src_mr = ibv_reg_mr(lb.pd, src, len, IBV_ACCESS_ON_DEMAND |
			    IBV_ACCESS_LOCAL_WRITE);
	if (!src_mr)
		die("ibv_reg_mr(IBV_ACCESS_ON_DEMAND): %s", strerror(errno));

	cold_mr = fresh(&cold);
	f0 = faults();
	t_cold = write_into(cold, cold_mr);
	f_cold = faults();
	t_warm = write_into(cold, cold_mr);
	f_warm = faults();

	sync_mr = fresh(&sync_dst);
	t_sync = now();
	prefetch_write(sync_dst, sync_mr, IBV_ADVISE_MR_FLAG_FLUSH);
	t_sync = now() - t_sync;
	f_sync = faults();
	t_sync_write = write_into(sync_dst, sync_mr);
	t_sync += t_sync_write;
	f_sync = faults() - f_sync;

	async_mr = fresh(&async_dst);
	f_async = faults();
	t_async = now();
	prefetch_write(async_dst, async_mr, 0);
	t_async = now() - t_async + write_into(async_dst, async_mr);
	f_async = faults() - f_async;

	printf("RDMA write of %zu MiB into memory never touched, on %s:\n",
	       len / MIB, dev);
	printf("  cold (the device faults the pages in): %7.1f MiB/s, %.2f of warm, %lld device faults\n",
	       mibs(t_cold), t_warm / t_cold, f_cold - f0);
	printf("  warm (the same pages again):           %7.1f MiB/s, %lld device faults\n",
	       mibs(t_warm), f_warm - f_cold);
	printf("  after a synchronous prefetch:          %7.1f MiB/s, %.2f of warm, %lld device faults (with the prefetch call: %.1f MiB/s, %.2f of warm)\n",
	       mibs(t_sync_write), t_warm / t_sync_write, f_sync,
	       mibs(t_sync), t_warm / t_sync);
	printf("  asynchronous prefetch, then the write: %7.1f MiB/s, %.2f of warm, %lld device faults\n",
	       mibs(t_async), t_warm / t_async, f_async);

	ibv_dereg_mr(async_mr);
	ibv_dereg_mr(sync_mr);
	ibv_dereg_mr(cold_mr);
	ibv_dereg_mr(src_mr);
	loopback_close(&lb);
	return 0;
}
