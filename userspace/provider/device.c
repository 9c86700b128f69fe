// SPDX-License-Identifier: GPL-2.0
/*
 * hodp's libibverbs provider: registration with libibverbs, which devices
 * are hodp's, the device and the user context, and the verbs table.
 *
 * hodp registers its devices with driver id RDMA_DRIVER_UNKNOWN (the id an
 * out-of-tree driver has), so libibverbs cannot match them by driver id:
 * it offers every device of that id to every provider's match_device().
 * Ours takes a device when the kernel says it is hodp's: driver id unknown
 * and node description "hodp", which hodp sets at creation and which cannot
 * be changed afterwards (hodp has no modify_device). The device name is not
 * used: 'rdma link add' lets the administrator choose any.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <infiniband/ib_user_ioctl_verbs.h>

#include "hodp.h"

/* The node description hodp's kernel side gives its devices. */
#define HODP_NODE_DESC	"hodp"

static bool hodp_match_device(struct verbs_sysfs_dev *sysfs_dev)
{
	char desc[IBV_SYSFS_NAME_MAX];
	int len;

	if (sysfs_dev->driver_id != RDMA_DRIVER_UNKNOWN)
		return false;
	len = ibv_read_ibdev_sysfs_file(desc, sizeof(desc), sysfs_dev,
					"node_desc");
	if (len <= 0)
		return false;
	desc[strcspn(desc, "\n")] = '\0';
	return strcmp(desc, HODP_NODE_DESC) == 0;
}

static struct verbs_device *hodp_alloc_device(struct verbs_sysfs_dev *sysfs_dev)
{
	struct hodp_device *dev = calloc(1, sizeof(*dev));

	(void)sysfs_dev;
	return dev ? &dev->vdev : NULL;
}

static void hodp_uninit_device(struct verbs_device *vdev)
{
	free(container_of(vdev, struct hodp_device, vdev));
}

static int hodp_query_device_ex(struct ibv_context *ctx,
				const struct ibv_query_device_ex_input *input,
				struct ibv_device_attr_ex *attr,
				size_t attr_size)
{
	struct ib_uverbs_ex_query_device_resp resp;
	size_t resp_size = sizeof(resp);

	return ibv_cmd_query_device_any(ctx, input, attr, attr_size, &resp,
					&resp_size);
}

static int hodp_query_port(struct ibv_context *ctx, uint8_t port,
			   struct ibv_port_attr *attr)
{
	struct ibv_query_port cmd;

	return ibv_cmd_query_port(ctx, port, attr, &cmd, sizeof(cmd));
}

static void hodp_free_context(struct ibv_context *ibctx)
{
	struct hodp_context *ctx =
		container_of(ibctx, struct hodp_context, vctx.context);

	verbs_uninit_context(&ctx->vctx);
	free(ctx);
}

static const struct verbs_context_ops hodp_ctx_ops = {
	.advise_mr = hodp_advise_mr,
	.alloc_mw = hodp_alloc_mw,
	.alloc_pd = hodp_alloc_pd,
	.bind_mw = hodp_bind_mw,
	.create_ah = hodp_create_ah,
	.create_cq = hodp_create_cq,
	.create_cq_ex = hodp_create_cq_ex,
	.create_qp = hodp_create_qp,
	.create_qp_ex = hodp_create_qp_ex,
	.create_srq = hodp_create_srq,
	.dealloc_mw = hodp_dealloc_mw,
	.dealloc_pd = hodp_dealloc_pd,
	.dereg_mr = hodp_dereg_mr,
	.destroy_ah = hodp_destroy_ah,
	.destroy_cq = hodp_destroy_cq,
	.destroy_qp = hodp_destroy_qp,
	.destroy_srq = hodp_destroy_srq,
	.free_context = hodp_free_context,
	.modify_qp = hodp_modify_qp,
	.modify_srq = hodp_modify_srq,
	.poll_cq = hodp_poll_cq,
	.post_recv = hodp_post_recv,
	.post_send = hodp_post_send,
	.post_srq_recv = hodp_post_srq_recv,
	.query_device_ex = hodp_query_device_ex,
	.query_port = hodp_query_port,
	.query_qp = hodp_query_qp,
	.query_srq = hodp_query_srq,
	.reg_mr = hodp_reg_mr,
	.req_notify_cq = hodp_req_notify_cq,
	.resize_cq = hodp_resize_cq,
};

static struct verbs_context *hodp_alloc_context(struct ibv_device *ibdev,
						int cmd_fd, void *private_data)
{
	struct ib_uverbs_get_context_resp resp;
	struct ibv_get_context cmd;
	struct hodp_context *ctx;

	(void)private_data;
	ctx = _verbs_init_and_alloc_context(ibdev, cmd_fd, sizeof(*ctx),
					    &((struct hodp_context *)NULL)->vctx,
					    RDMA_DRIVER_UNKNOWN);
	if (!ctx)
		return NULL;
	if (ibv_cmd_get_context(&ctx->vctx, &cmd, sizeof(cmd), &resp,
				sizeof(resp))) {
		verbs_uninit_context(&ctx->vctx);
		free(ctx);
		return NULL;
	}
	verbs_set_ops(&ctx->vctx, &hodp_ctx_ops);
	return &ctx->vctx;
}

/*
 * No table entry: hodp_match_device() decides alone. The table itself must
 * exist (only the sentinel): libibverbs 44 walks every provider's table,
 * without checking for NULL, when it matches a device that has a driver id
 * (any other RDMA device of the host).
 */
static const struct verbs_match_ent hodp_match_table[] = {
	{ .kind = VERBS_MATCH_SENTINEL },
};

static const struct verbs_device_ops hodp_dev_ops = {
	.name = "hodp",
	.match_min_abi_version = HODP_ABI_VERSION,
	.match_max_abi_version = HODP_ABI_VERSION,
	.match_table = hodp_match_table,
	.match_device = hodp_match_device,
	.alloc_context = hodp_alloc_context,
	.alloc_device = hodp_alloc_device,
	.uninit_device = hodp_uninit_device,
};

/*
 * The rdma-core release of the libibverbs this process runs, from the name
 * of the file it was loaded from (libibverbs.so.1.<lib minor>.<release>.<n>,
 * as rdma-core names it), or -1.
 */
static int libibverbs_release(void)
{
	char path[PATH_MAX];
	unsigned int major, minor, release;
	const char *base;
	Dl_info info;

	if (!dladdr((void *)verbs_register_driver_34, &info) || !info.dli_fname ||
	    !realpath(info.dli_fname, path))
		return -1;
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (sscanf(base, "libibverbs.so.%u.%u.%u", &major, &minor, &release) != 3 ||
	    major != 1 || release > INT_MAX)
		return -1;
	return release;
}

/*
 * Loaded by libibverbs (dlopen, from /etc/libibverbs.d/hodp.driver):
 * register, but only with the libibverbs whose private structures
 * verbs_private.h declares. The symbol version IBVERBS_PRIVATE_34 alone
 * does not prove it: rdma-core kept that name over releases whose
 * verbs_context_ops differ.
 */
static __attribute__((constructor)) void hodp_register(void)
{
	int release = libibverbs_release();

	if (release != HODP_RDMA_CORE_RELEASE) {
		char found[32] = "an unknown release";

		if (release >= 0)
			snprintf(found, sizeof(found), "rdma-core %d", release);
		fprintf(stderr,
			"hodp: provider built for libibverbs of rdma-core %d, this process runs %s: not registering (hodp devices stay unbound)\n",
			HODP_RDMA_CORE_RELEASE, found);
		return;
	}
	verbs_register_driver_34(&hodp_dev_ops);
}
