// SPDX-License-Identifier: GPL-2.0
/*
 * hodp under injected failures, aimed at its own code: debugfs
 * hodp/fail_alloc (CONFIG_INFINIBAND_HODP_FAULT_INJECTION) fails hodp's
 * allocations for verbs and nothing else: every allocation a verb makes
 * is an injection site (kernel/mlx5-odp-hmm/hodp.h). For each verb (create
 * CQ, QP, SRQ, AH; register MR: pinned, ODP, implicit ODP, and ODP while
 * another ODP MR holds the process's mirror; resize CQ) the k-th site it
 * passes fails, for k = 1, 2, ... until the verb passes them all: each
 * time the verb must fail with ENOMEM and leave nothing behind (no
 * resource in rdma res or hodp/objects, whose mirror count says whether
 * an ODP registration gave back its use of the mirror, no pinned page, a
 * resized CQ still usable), then work. At the end a connected
 * QP pair still moves data. KASAN and kmemleak (scanned at the end of the
 * boot) watch the unwinding.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <unistd.h>

#include "check.h"
#include "fault_attr.h"
#include "objects.h"
#include "../hodp/verbs.h"

#define FAIL_ALLOC "/sys/kernel/debug/hodp/fail_alloc"

/* Fail the @k-th injection site reached from now on (k >= 1), once. */
static void arm(int k)
{
	check_fatal("arm hodp/fail_alloc", !attr_arm(FAIL_ALLOC, k, 1), "%s",
		    strerror(errno));
}

/* Disarm; whether the failure was injected. */
static int disarm(void)
{
	long long left = attr_read(FAIL_ALLOC, "times");

	attr_write(FAIL_ALLOC, "probability", "0");
	attr_write(FAIL_ALLOC, "space", "0");
	return left == 0;
}

/*
 * hodp0's line of the rdma res summary (counts of each resource), then its
 * line of hodp/objects (the driver's own counts: AHs are not in rdma res).
 */
static void res_summary(char *out, size_t len)
{
	FILE *p = popen("rdma res show 2>&1", "r");
	char line[512], res[512] = "", objs[512];

	while (p && fgets(line, sizeof(line), p))
		if (strstr(line, "hodp0:"))
			snprintf(res, sizeof(res), "%s", line);
	if (p)
		pclose(p);
	hodp0_objects(objs, sizeof(objs));
	snprintf(out, len, "%s| %s", res, objs);
}

/* hodp0's mirrors (hodp/objects), or -1. */
static int mirrors(void)
{
	return hodp0_objects_count("mirror");
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

/*
 * ODP: registration takes a use of the process's mirror (the first one
 * registers it) before the key; a failure after must give it back.
 */
static void *make_odp_mr(void)
{
	return ibv_reg_mr(c.pd, buf, sizeof(buf),
			  IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_ON_DEMAND);
}

/*
 * An ODP MR registered while another holds the process's mirror (that
 * one registered first, both let go if the second fails): a failure of
 * the second must give back its own use of the mirror, which the
 * comparison sees once the first is gone (hodp/objects: mirror 0).
 */
static struct ibv_mr *beside_held;

static void *make_odp_beside(void)
{
	struct ibv_mr *mr;
	int err;

	beside_held = make_odp_mr();
	if (!beside_held)
		return NULL;
	mr = make_odp_mr();
	if (!mr) {
		err = errno;
		ibv_dereg_mr(beside_held);
		beside_held = NULL;
		errno = err;
	}
	return mr;
}

/* An implicit ODP MR: the whole address space, its leaf table too. */
static void *make_implicit_mr(void)
{
	return ibv_reg_mr(c.pd, NULL, SIZE_MAX,
			  IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_ON_DEMAND);
}

static void *make_ah(void)
{
	struct ibv_ah_attr aa = { .is_global = 1, .port_num = 1,
				  .grh = { .dgid = c.gid, .sgid_index = 1,
					   .hop_limit = 1 } };

	return ibv_create_ah(c.pd, &aa);
}

static void destroy(const char *what, void *obj)
{
	if (!strcmp(what, "AH"))
		ibv_destroy_ah(obj);
	else if (!strcmp(what, "CQ"))
		ibv_destroy_cq(obj);
	else if (!strcmp(what, "QP"))
		ibv_destroy_qp(obj);
	else if (!strcmp(what, "SRQ"))
		ibv_destroy_srq(obj);
	else if (!strcmp(what, "ODP MR beside another")) {
		ibv_dereg_mr(obj);
		ibv_dereg_mr(beside_held);
		beside_held = NULL;
	} else {
		ibv_dereg_mr(obj);
	}
}

/* Resize the CQ made for it: NULL (errno set) if the resize failed. */
static struct ibv_cq *resize_cq;

static void *resize(void)
{
	return ibv_resize_cq(resize_cq, 512) ? NULL : resize_cq;
}

struct verb {
	const char *what;
	void *(*make)(void);
};

static const struct verb verbs[] = {
	{ "CQ", make_cq },
	{ "QP", make_qp },
	{ "SRQ", make_srq },
	{ "MR", make_mr },
	{ "ODP MR", make_odp_mr },
	{ "implicit ODP MR", make_implicit_mr },
	{ "ODP MR beside another", make_odp_beside },
	{ "AH", make_ah },
	{ "CQ resize", resize },
};

/* A failed resize must leave the CQ as it was: empty and usable. */
static int resized_cq_usable(void)
{
	struct ibv_wc wc;

	return ibv_poll_cq(resize_cq, 1, &wc) == 0 &&
	       !ibv_req_notify_cq(resize_cq, 0);
}

static void run_verb(const struct verb *v)
{
	char name[128], before[512], after[512];
	long pinned = vm_pinned();
	int k, err, injected;
	void *obj;

	for (k = 1; k < 16; k++) {
		if (v->make == resize) {
			resize_cq = ibv_create_cq(c.ctx, 16, NULL, NULL, 0);
			check_fatal("CQ to resize", resize_cq, "%s",
				    strerror(errno));
		}
		res_summary(before, sizeof(before));
		arm(k);
		errno = 0;
		obj = v->make();
		err = errno;
		injected = disarm();
		if (!injected) {
			/* It passed every site: k - 1 of them. */
			snprintf(name, sizeof(name),
				 "%s: works with hodp/fail_alloc armed beyond its %d allocation sites",
				 v->what, k - 1);
			check(name, obj && k > 1, "%s after %d sites",
			      obj ? "made" : strerror(err), k - 1);
			if (obj && v->make != resize)
				destroy(v->what, obj);
			if (v->make == resize)
				ibv_destroy_cq(resize_cq);
			return;
		}
		snprintf(name, sizeof(name), "%s: fails with ENOMEM at site %d",
			 v->what, k);
		check(name, !obj && err == ENOMEM, "got %p, errno %d (%s)",
		      obj, err, strerror(err));
		if (obj && v->make != resize)
			destroy(v->what, obj);
		if (v->make == resize) {
			snprintf(name, sizeof(name),
				 "%s: the CQ is intact after site %d failed",
				 v->what, k);
			check(name, resized_cq_usable(), "%s", strerror(errno));
		}
		res_summary(after, sizeof(after));
		snprintf(name, sizeof(name),
			 "%s: site %d failing leaves nothing behind", v->what, k);
		check(name, !strcmp(before, after) && vm_pinned() == pinned,
		      "res before '%s' after '%s', VmPin %ld -> %ld kB", before,
		      after, pinned, vm_pinned());
		if (v->make == resize)
			ibv_destroy_cq(resize_cq);
	}
	snprintf(name, sizeof(name), "%s: passes its allocation sites", v->what);
	fail(name, "still failing at site %d", k);
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
	int n;

	if (access(FAIL_ALLOC, F_OK)) {
		skip("hodp fault injection",
		     "no debugfs hodp/fail_alloc: kernel without fault injection (make check-debug runs it)");
		return 0;
	}
	open_dev(&c, "hodp0");
	{
		char summary[1024];

		res_summary(summary, sizeof(summary));
		/* Else "nothing behind" would compare two empty lines. */
		check("rdma res and hodp/objects both count hodp0's objects",
		      strstr(summary, "hodp0:") && strstr(summary, "| hodp0 pd "),
		      "'%s'", summary);
	}
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		run_verb(&verbs[i]);
	n = mirrors();
	check("hodp/objects: no mirror left after the ODP registrations",
	      n == 0, "%d mirrors", n);
	still_works();
	return check_done();
}
