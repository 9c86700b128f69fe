// SPDX-License-Identifier: GPL-2.0
/*
 * A program that knows nothing of ODP, for test-preload to run under
 * libhodp-odp.so: it registers two buffers of SIZE bytes on hodp0 with
 * plain ibv_reg_mr() (or, given IOVA_SHIFT, the destination with
 * ibv_reg_mr_iova() at an iova IOVA_SHIFT bytes past its address, twice),
 * RDMA-writes one into the other and checks the bytes, then prints its
 * own VmPin (/proc/self/status) while the MRs are registered:
 *
 *   reg-vmpin SIZE [IOVA_SHIFT]
 *   -> "data checked" and "VmPin: N kB" on stdout, exit 0; else exit 1.
 *
 * With IOVA_SHIFT, a failed registration of the destination is reported
 * ("ibv_reg_mr_iova(dst) N: error") and the second is tried all the same.
 *
 * With REG_VMPIN_FAIL_ALLOC=1 in the environment (the faultinject suite:
 * hodp built with CONFIG_INFINIBAND_HODP_FAULT_INJECTION), hodp's first
 * allocation after the QPs are set up fails, once: that of the first
 * registration. The helper says whether it was injected ("injected: 1").
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "loopback.h"

#define FAIL_ALLOC "/sys/kernel/debug/hodp/fail_alloc/"

static int fail_alloc_set(const char *file, const char *value)
{
	FILE *f = fopen(file, "w");
	int ok;

	if (!f)
		return -1;
	ok = fputs(value, f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* Fail hodp's next allocation, once. */
static void fail_alloc_arm(void)
{
	if (fail_alloc_set(FAIL_ALLOC "verbose", "0") ||
	    fail_alloc_set(FAIL_ALLOC "interval", "1") ||
	    fail_alloc_set(FAIL_ALLOC "space", "1") ||
	    fail_alloc_set(FAIL_ALLOC "times", "1") ||
	    fail_alloc_set(FAIL_ALLOC "probability", "100"))
		die("arming " FAIL_ALLOC ": %s", strerror(errno));
}

/* Disarm; print whether the failure was injected (times went to 0). */
static void fail_alloc_disarm(void)
{
	FILE *f = fopen(FAIL_ALLOC "times", "r");
	long left = -1;

	if (f) {
		if (fscanf(f, "%ld", &left) != 1)
			left = -1;
		fclose(f);
	}
	fail_alloc_set(FAIL_ALLOC "probability", "0");
	fail_alloc_set(FAIL_ALLOC "space", "0");
	printf("injected: %d\n", left == 0);
}

static void print_vmpin(void)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		die("/proc/self/status: %s", strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmPin:", 6))
			fputs(line, stdout);
	fclose(f);
}

int main(int argc, char **argv)
{
	struct ibv_mr *src_mr, *dst_mr, *again = NULL;
	size_t size, shift, i;
	unsigned char *src, *dst;
	struct loopback lb;
	uint64_t iova;
	bool inject;
	int status;

	if (argc < 2)
		die("usage: reg-vmpin SIZE [IOVA_SHIFT]");
	size = strtoull(argv[1], NULL, 0);
	shift = argc > 2 ? strtoull(argv[2], NULL, 0) : 0;
	loopback_open(&lb, "hodp0", 1);
	src = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	dst = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (src == MAP_FAILED || dst == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	for (i = 0; i < size; i++)
		src[i] = (unsigned char)(i * 3 + 11);

	inject = getenv("REG_VMPIN_FAIL_ALLOC") &&
		 !strcmp(getenv("REG_VMPIN_FAIL_ALLOC"), "1");
	if (inject)
		fail_alloc_arm();
	src_mr = ibv_reg_mr(lb.pd, src, size, IBV_ACCESS_LOCAL_WRITE);
	if (inject)
		fail_alloc_disarm();
	if (!src_mr)
		die("ibv_reg_mr(src): %s", strerror(errno));
	iova = (uintptr_t)dst + shift;
	if (shift) {
		dst_mr = ibv_reg_mr_iova(lb.pd, dst, size, iova,
					 IBV_ACCESS_LOCAL_WRITE |
					 IBV_ACCESS_REMOTE_WRITE);
		if (!dst_mr)
			fprintf(stderr, "ibv_reg_mr_iova(dst) 1: %s\n",
				strerror(errno));
		again = ibv_reg_mr_iova(lb.pd, dst, size, iova,
					IBV_ACCESS_LOCAL_WRITE |
					IBV_ACCESS_REMOTE_WRITE);
		if (!again)
			die("ibv_reg_mr_iova(dst) 2: %s", strerror(errno));
	} else {
		dst_mr = ibv_reg_mr(lb.pd, dst, size, IBV_ACCESS_LOCAL_WRITE |
				    IBV_ACCESS_REMOTE_WRITE);
	}
	if (!dst_mr)
		die("ibv_reg_mr(dst): %s", strerror(errno));

	status = loopback_write(&lb, src, src_mr->lkey, iova, dst_mr->rkey,
				size);
	if (status != IBV_WC_SUCCESS)
		die("RDMA write: %s", status < 0 ? "not posted" :
		    ibv_wc_status_str(status));
	for (i = 0; i < size; i++)
		if (dst[i] != (unsigned char)(i * 3 + 11))
			die("byte %zu: 0x%02x, expected 0x%02x", i, dst[i],
			    (unsigned char)(i * 3 + 11));
	printf("data checked: %zu bytes\n", size);
	print_vmpin();

	if (again)
		ibv_dereg_mr(again);
	ibv_dereg_mr(dst_mr);
	ibv_dereg_mr(src_mr);
	loopback_close(&lb);
	return 0;
}
