// SPDX-License-Identifier: GPL-2.0
/*
 * hodp: the ib_device_ops glue. Device and port attributes, user contexts,
 * protection domains and address handles live here; the objects with more
 * to them (CQ, QP, SRQ, MR) have files of their own.
 *
 * The user ABI keeps Soft-RoCE's ring layout (<rdma/rdma_user_rxe.h>,
 * uverbs ABI 2), but the driver id is not rxe's: rdma_rxe looks devices up
 * by netdev and RDMA_DRIVER_RXE and takes them for a struct rxe_dev, and
 * unregisters every RDMA_DRIVER_RXE device when it unloads. hodp has
 * RDMA_DRIVER_UNKNOWN, the id of a driver outside the kernel's enum, and
 * its own libibverbs provider (userspace/provider), which recognises hodp
 * devices by their node description "hodp".
 */
#include <linux/etherdevice.h>
#include <net/addrconf.h>
#include <rdma/ib_addr.h>
#include <rdma/ib_cache.h>
#include <rdma/ib_mad.h>
#include <rdma/uverbs_ioctl.h>

#include "hodp.h"

/* The Soft-RoCE user verbs ABI version the stock provider expects. */
#define HODP_UVERBS_ABI_VERSION	2

/**
 * hodp_init_attrs() - what the device can do, honestly
 * @dev: the device, bound to its netdev
 */
void hodp_init_attrs(struct hodp_dev *dev)
{
	struct ib_device_attr *a = &dev->attrs;

	memset(a, 0, sizeof(*a));
	a->vendor_id = HODP_VENDOR_ID;
	a->max_mr_size = HODP_MAX_MSG_SIZE;
	a->page_size_cap = PAGE_SIZE;
	a->device_cap_flags = IB_DEVICE_RC_RNR_NAK_GEN |
			      IB_DEVICE_SYS_IMAGE_GUID |
			      IB_DEVICE_PORT_ACTIVE_EVENT |
			      IB_DEVICE_MEM_WINDOW |
			      IB_DEVICE_MEM_WINDOW_TYPE_2B;
	a->kernel_cap_flags = IBK_ALLOW_USER_UNREG | IBK_ON_DEMAND_PAGING;
	/* ODP MRs (hodp_odp.c) serve every access of these transports. */
	a->odp_caps.general_caps = IB_ODP_SUPPORT | IB_ODP_SUPPORT_IMPLICIT;
	a->odp_caps.per_transport_caps.rc_odp_caps = IB_ODP_SUPPORT_SEND |
		IB_ODP_SUPPORT_RECV | IB_ODP_SUPPORT_WRITE |
		IB_ODP_SUPPORT_READ | IB_ODP_SUPPORT_ATOMIC |
		IB_ODP_SUPPORT_SRQ_RECV;
	a->odp_caps.per_transport_caps.ud_odp_caps = IB_ODP_SUPPORT_SEND |
		IB_ODP_SUPPORT_RECV | IB_ODP_SUPPORT_SRQ_RECV;
	a->max_qp = HODP_MAX_QP;
	a->max_qp_wr = HODP_MAX_QP_WR;
	a->max_send_sge = HODP_MAX_SGE;
	a->max_recv_sge = HODP_MAX_SGE;
	a->max_sge_rd = HODP_MAX_SGE;
	a->max_cq = HODP_MAX_CQ;
	a->max_cqe = HODP_MAX_CQE;
	a->max_mr = HODP_MAX_MR;
	a->max_mw = HODP_MAX_MW;
	a->max_pd = HODP_MAX_PD;
	a->max_qp_rd_atom = HODP_MAX_RD_ATOMIC;
	a->max_qp_init_rd_atom = HODP_MAX_RD_ATOMIC;
	a->max_res_rd_atom = HODP_MAX_RD_ATOMIC * HODP_MAX_QP;
	a->atomic_cap = IB_ATOMIC_HCA;
	a->max_srq = HODP_MAX_SRQ;
	a->max_srq_wr = HODP_MAX_SRQ_WR;
	a->max_srq_sge = HODP_MAX_SGE;
	a->max_ah = HODP_MAX_AH;
	a->max_pkeys = 1;
	a->local_ca_ack_delay = 15;
	addrconf_addr_eui48((unsigned char *)&a->sys_image_guid,
			    dev->ndev->dev_addr);
	addrconf_addr_eui48((unsigned char *)&dev->ibdev.node_guid,
			    dev->ndev->dev_addr);
}

static int hodp_query_device(struct ib_device *ibdev,
			     struct ib_device_attr *attr,
			     struct ib_udata *udata)
{
	if (udata->inlen || udata->outlen)
		return -EINVAL;
	*attr = to_hdev(ibdev)->attrs;
	return 0;
}

static int hodp_query_port(struct ib_device *ibdev, u32 port,
			   struct ib_port_attr *attr)
{
	struct net_device *ndev = to_hdev(ibdev)->ndev;
	bool up = netif_running(ndev) && netif_carrier_ok(ndev);

	attr->state = up ? IB_PORT_ACTIVE : IB_PORT_DOWN;
	attr->phys_state = up ? IB_PORT_PHYS_STATE_LINK_UP :
				IB_PORT_PHYS_STATE_DISABLED;
	attr->max_mtu = IB_MTU_4096;
	attr->active_mtu = hodp_active_mtu(to_hdev(ibdev));
	attr->gid_tbl_len = HODP_GID_TABLE_LEN;
	attr->port_cap_flags = IB_PORT_CM_SUP;
	attr->max_msg_sz = HODP_MAX_MSG_SIZE;
	attr->pkey_tbl_len = 1;
	return ib_get_eth_speed(ibdev, port, &attr->active_speed,
				&attr->active_width);
}

static int hodp_get_port_immutable(struct ib_device *ibdev, u32 port,
				   struct ib_port_immutable *immutable)
{
	immutable->core_cap_flags = RDMA_CORE_PORT_IBA_ROCE_UDP_ENCAP;
	immutable->pkey_tbl_len = 1;
	immutable->gid_tbl_len = HODP_GID_TABLE_LEN;
	immutable->max_mad_size = IB_MGMT_MAD_SIZE;
	return 0;
}

static enum rdma_link_layer hodp_get_link_layer(struct ib_device *ibdev,
						u32 port)
{
	return IB_LINK_LAYER_ETHERNET;
}

static int hodp_query_pkey(struct ib_device *ibdev, u32 port, u16 index,
			   u16 *pkey)
{
	if (index)
		return -EINVAL;
	*pkey = IB_DEFAULT_PKEY_FULL;
	return 0;
}

static int hodp_alloc_ucontext(struct ib_ucontext *uctx, struct ib_udata *udata)
{
	return 0;
}

static void hodp_dealloc_ucontext(struct ib_ucontext *uctx)
{
}

/*
 * The device is going away under a live user context: the core zaps its
 * mappings and destroys its objects; nothing of ours needs stopping first.
 */
static void hodp_disassociate_ucontext(struct ib_ucontext *uctx)
{
}

static int hodp_alloc_pd(struct ib_pd *ibpd, struct ib_udata *udata)
{
	struct hodp_dev *dev = to_hdev(ibpd->device);

	if (atomic_inc_return(&dev->nr_pd) > HODP_MAX_PD) {
		atomic_dec(&dev->nr_pd);
		return -ENOMEM;
	}
	return 0;
}

static int hodp_dealloc_pd(struct ib_pd *ibpd, struct ib_udata *udata)
{
	atomic_dec(&to_hdev(ibpd->device)->nr_pd);
	return 0;
}

static int hodp_create_ah(struct ib_ah *ibah, struct rdma_ah_init_attr *init,
			  struct ib_udata *udata)
{
	struct hodp_dev *dev = to_hdev(ibah->device);
	gfp_t gfp = init->flags & RDMA_CREATE_AH_SLEEPABLE ? GFP_KERNEL :
							      GFP_ATOMIC;
	struct rxe_create_ah_resp resp = {};
	struct hodp_ah *ah = to_hah(ibah);
	unsigned long flags;
	int ret;

	if (!(rdma_ah_get_ah_flags(init->ah_attr) & IB_AH_GRH))
		return -EINVAL;	/* RoCE addresses by GID */
	if (atomic_inc_return(&dev->nr_ah) > HODP_MAX_AH) {
		atomic_dec(&dev->nr_ah);
		return -ENOMEM;
	}
	rdma_copy_ah_attr(&ah->attr, init->ah_attr);
	/* An injection site for the number's allocation, outside the lock. */
	if (hodp_should_fail_alloc()) {
		ret = -ENOMEM;
		goto err;
	}
	/* Not always sleepable: the caller's interrupt state is kept. */
	xa_lock_irqsave(&dev->ahs, flags);
	ret = __xa_alloc(&dev->ahs, &ah->ah_num, ah, xa_limit_31b, gfp);
	xa_unlock_irqrestore(&dev->ahs, flags);
	if (ret)
		goto err;
	if (udata && udata->outlen >= sizeof(resp)) {
		resp.ah_num = ah->ah_num;
		ret = ib_copy_to_udata(udata, &resp, sizeof(resp));
		if (ret)
			goto err_erase;
	}
	return 0;
err_erase:
	xa_lock_irqsave(&dev->ahs, flags);
	__xa_erase(&dev->ahs, ah->ah_num);
	xa_unlock_irqrestore(&dev->ahs, flags);
err:
	rdma_destroy_ah_attr(&ah->attr);
	atomic_dec(&dev->nr_ah);
	return ret;
}

static int hodp_query_ah(struct ib_ah *ibah, struct rdma_ah_attr *attr)
{
	*attr = to_hah(ibah)->attr;
	attr->grh.sgid_attr = NULL;
	return 0;
}

static int hodp_destroy_ah(struct ib_ah *ibah, u32 flags)
{
	struct hodp_dev *dev = to_hdev(ibah->device);
	struct hodp_ah *ah = to_hah(ibah);
	unsigned long irqflags;

	xa_lock_irqsave(&dev->ahs, irqflags);
	__xa_erase(&dev->ahs, ah->ah_num);
	xa_unlock_irqrestore(&dev->ahs, irqflags);
	rdma_destroy_ah_attr(&ah->attr);
	atomic_dec(&dev->nr_ah);
	return 0;
}

const struct ib_device_ops hodp_dev_ops = {
	.owner = THIS_MODULE,
	.driver_id = RDMA_DRIVER_UNKNOWN,
	.uverbs_abi_ver = HODP_UVERBS_ABI_VERSION,

	.advise_mr = hodp_advise_mr,
	.alloc_hw_port_stats = hodp_alloc_hw_port_stats,
	.alloc_mw = hodp_alloc_mw,
	.alloc_pd = hodp_alloc_pd,
	.alloc_ucontext = hodp_alloc_ucontext,
	.create_ah = hodp_create_ah,
	.create_cq = hodp_create_cq,
	.create_qp = hodp_create_qp,
	.create_srq = hodp_create_srq,
	.create_user_ah = hodp_create_ah,
	.dealloc_driver = hodp_dealloc_driver,
	.dealloc_mw = hodp_dealloc_mw,
	.dealloc_pd = hodp_dealloc_pd,
	.dealloc_ucontext = hodp_dealloc_ucontext,
	.dereg_mr = hodp_dereg_mr,
	.destroy_ah = hodp_destroy_ah,
	.destroy_cq = hodp_destroy_cq,
	.destroy_qp = hodp_destroy_qp,
	.destroy_srq = hodp_destroy_srq,
	.disassociate_ucontext = hodp_disassociate_ucontext,
	.fill_stat_mr_entry = hodp_fill_stat_mr_entry,
	.get_dma_mr = hodp_get_dma_mr,
	.get_hw_stats = hodp_get_hw_stats,
	.get_link_layer = hodp_get_link_layer,
	.get_port_immutable = hodp_get_port_immutable,
	.mmap = hodp_mmap,
	.mmap_free = hodp_mmap_free,
	.modify_qp = hodp_modify_qp,
	.modify_srq = hodp_modify_srq,
	.poll_cq = hodp_poll_cq,
	.post_recv = hodp_post_recv,
	.post_send = hodp_post_send,
	.post_srq_recv = hodp_post_srq_recv,
	.query_ah = hodp_query_ah,
	.query_device = hodp_query_device,
	.query_pkey = hodp_query_pkey,
	.query_port = hodp_query_port,
	.query_qp = hodp_query_qp,
	.query_srq = hodp_query_srq,
	.reg_user_mr = hodp_reg_user_mr,
	.req_notify_cq = hodp_req_notify_cq,
	.resize_cq = hodp_resize_cq,

	INIT_RDMA_OBJ_SIZE(ib_ah, hodp_ah, ibah),
	INIT_RDMA_OBJ_SIZE(ib_cq, hodp_cq, ibcq),
	INIT_RDMA_OBJ_SIZE(ib_mw, hodp_mw, ibmw),
	INIT_RDMA_OBJ_SIZE(ib_pd, hodp_pd, ibpd),
	INIT_RDMA_OBJ_SIZE(ib_qp, hodp_qp, ibqp),
	INIT_RDMA_OBJ_SIZE(ib_srq, hodp_srq, ibsrq),
	INIT_RDMA_OBJ_SIZE(ib_ucontext, hodp_ucontext, ibuc),
};
