// SPDX-License-Identifier: GPL-2.0
/*
 * hodp under injected failures, aimed at its own code: fail_function makes
 * one call of a hodp function marked ALLOW_ERROR_INJECTION fail (queue
 * allocation for CQs, QPs and SRQs; the user mapping of a queue; the key of
 * an MR, after its pages were pinned). Each verb must fail with ENOMEM and
 * leave nothing behind: no resource in rdma res, no pinned page; then the
 * same verb works, and at the end a connected QP pair still moves data.
 * KASAN and kmemleak (scanned at the end of the boot) watch the unwinding.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <unistd.h>

#include "check.h"
#include "../hodp/verbs.h"

#define FAIL_FUNCTION "/sys/kernel/debug/fail_function"

static int write_to(const char *path, const char *value)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -1;
	ok = fputs(value, f) >= 0;
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* Fail the next call of @fn with @retval (0 for NULL). */
static void arm(const char *fn, long retval)
{
	char path[256], val[32];

	write_to(FAIL_FUNCTION "/inject", "");
	check_fatal("fail_function accepts the function",
		    !write_to(FAIL_FUNCTION "/inject", fn), "%s: %s", fn,
		    strerror(errno));
	snprintf(path, sizeof(path), FAIL_FUNCTION "/%s/retval", fn);
	snprintf(val, sizeof(val), "%#lx", (unsigned long)retval);
	check_fatal("set the return value", !write_to(path, val), "%s: %s",
		    path, strerror(errno));
	write_to(FAIL_FUNCTION "/probability", "100");
	write_to(FAIL_FUNCTION "/interval", "1");
	write_to(FAIL_FUNCTION "/verbose", "0");
	write_to(FAIL_FUNCTION "/times", "1");
}

/* Disarm; whether the failure was injected. */
static int disarm(void)
{
	long left = read_long(FAIL_FUNCTION "/times");

	write_to(FAIL_FUNCTION "/inject", "");
	return left == 0;
}

/* hodp0's line of the rdma res summary (counts of each resource). */
static void res_summary(char *out, size_t len)
{
	FILE *p = popen("rdma res show 2>&1", "r");
	char line[512];

	out[0] = 0;
	if (!p)
		return;
	while (fgets(line, sizeof(line), p))
		if (strstr(line, "hodp0:"))
			snprintf(out, len, "%s", line);
	pclose(p);
}

/* kB of pinned memory of this process (VmPin). */
static long vm_pinned(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPin: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

static struct ctx c;
static char buf[16 * 4096];

static void *make_cq(void)
{
	return ibv_create_cq(c.ctx, 64, NULL, NULL, 0);
}

static void *make_qp(void)
{
	struct ibv_qp_init_attr init = {
		.send_cq = c.cq, .recv_cq = c.cq, .qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 16, .max_recv_wr = 16,
			 .max_send_sge = 1, .max_recv_sge = 1 },
	};

	return ibv_create_qp(c.pd, &init);
}

static void *make_srq(void)
{
	struct ibv_srq_init_attr init = {
		.attr = { .max_wr = 16, .max_sge = 1 },
	};

	return ibv_create_srq(c.pd, &init);
}

static void *make_mr(void)
{
	return ibv_reg_mr(c.pd, buf, sizeof(buf), IBV_ACCESS_LOCAL_WRITE);
}

static void destroy(const char *what, void *obj)
{
	if (!strcmp(what, "CQ"))
		ibv_destroy_cq(obj);
	else if (!strcmp(what, "QP"))
		ibv_destroy_qp(obj);
	else if (!strcmp(what, "SRQ"))
		ibv_destroy_srq(obj);
	else
		ibv_dereg_mr(obj);
}

struct point {
	const char *fn;		/* the injection point */
	long retval;
	const char *what;	/* the verb that goes through it */
	void *(*make)(void);
};

static const struct point points[] = {
	{ "hodp_queue_alloc", 0, "CQ", make_cq },
	{ "hodp_queue_map", -12, "CQ", make_cq },
	{ "hodp_queue_alloc", 0, "QP", make_qp },
	{ "hodp_queue_map", -12, "QP", make_qp },
	{ "hodp_queue_alloc", 0, "SRQ", make_srq },
	{ "hodp_queue_map", -12, "SRQ", make_srq },
	{ "hodp_mr_add", -12, "MR", make_mr },
};

static void run_point(const struct point *pt)
{
	char name[128], before[512], after[512];
	long pinned = vm_pinned();
	void *obj;
	int err, injected;

	snprintf(name, sizeof(name), "%s fails in %s", pt->what, pt->fn);
	res_summary(before, sizeof(before));
	arm(pt->fn, pt->retval);
	errno = 0;
	obj = pt->make();
	err = errno;
	injected = disarm();
	check_fatal(name, injected, "the failure was not injected");
	if (obj)
		destroy(pt->what, obj);
	check(name, !obj && err == ENOMEM, "got %p, errno %d (%s)", obj, err,
	      strerror(err));
	res_summary(after, sizeof(after));
	snprintf(name, sizeof(name), "%s fails in %s: nothing left behind",
		 pt->what, pt->fn);
	check(name, !strcmp(before, after) && vm_pinned() == pinned,
	      "res before '%s' after '%s', VmPin %ld -> %ld kB", before,
	      after, pinned, vm_pinned());
	obj = pt->make();
	snprintf(name, sizeof(name), "%s works again after %s failed",
		 pt->what, pt->fn);
	check(name, obj, "%s", strerror(errno));
	if (obj)
		destroy(pt->what, obj);
}

/* Afterwards: an RDMA write between a connected pair lands. */
static void still_works(void)
{
	struct rc_pair p = rc_pair(&c, ALL_ACCESS, 7);
	struct ibv_mr *mr = ibv_reg_mr(c.pd, buf, sizeof(buf), ALL_ACCESS);
	struct ibv_sge sge;
	struct ibv_send_wr wr = {
		.opcode = IBV_WR_RDMA_WRITE, .send_flags = IBV_SEND_SIGNALED,
		.sg_list = &sge, .num_sge = 1,
	};
	struct ibv_wc wc;
	int status;

	check_fatal("register the buffer", mr, "%s", strerror(errno));
	memset(buf, 0x5a, 4096);
	memset(buf + 4096, 0, 4096);
	sge = (struct ibv_sge){ (uintptr_t)buf, 4096, mr->lkey };
	wr.wr.rdma.remote_addr = (uintptr_t)buf + 4096;
	wr.wr.rdma.rkey = mr->rkey;
	status = post_send(p.a, &wr) ? -1 : poll_one(c.cq, &wc);
	check("after the injected failures an RDMA write lands",
	      status == IBV_WC_SUCCESS && buf[4096] == 0x5a &&
	      buf[8191] == 0x5a, "status %d", status);
	ibv_destroy_qp(p.a);
	ibv_destroy_qp(p.b);
	ibv_dereg_mr(mr);
}

int main(void)
{
	unsigned int i;

	if (access(FAIL_FUNCTION, F_OK)) {
		skip("hodp fault injection",
		     "this kernel has no fail_function (make check-debug runs it)");
		return 0;
	}
	open_dev(&c, "hodp0");
	for (i = 0; i < sizeof(points) / sizeof(points[0]); i++)
		run_point(&points[i]);
	still_works();
	return check_done();
}
