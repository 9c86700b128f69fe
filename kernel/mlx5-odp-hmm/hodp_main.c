// SPDX-License-Identifier: GPL-2.0
/*
 * hodp: device life. 'rdma link add NAME type hodp netdev IFNAME' creates
 * an ib_device bound to the netdev (RoCE v2: the core fills its GID table
 * from the netdev's addresses); 'rdma link delete NAME', the netdev going
 * away or module unload remove it, also while applications use it (they are
 * disassociated and see a device-fatal event).
 *
 * Module unload must not return while the core still runs our
 * dealloc_driver: a device whose dealloc_driver ran moves to hodp_dying,
 * holding a reference, and is let go only after ib_unregister_device() on
 * it returned, which waits (the device's unregistration lock) until the
 * unregistration that called dealloc_driver is over.
 */
#include <linux/module.h>
#include <linux/netdevice.h>
#include <net/addrconf.h>
#include <rdma/rdma_netlink.h>

#include "hodp.h"

struct workqueue_struct *hodp_wq;

static LIST_HEAD(hodp_devices);		/* live: dealloc_driver not run */
static LIST_HEAD(hodp_dying);		/* dealloc_driver ran or runs */
static DEFINE_MUTEX(hodp_devices_lock);	/* both lists */

/* Let go of the dying devices once the core is done with each of them. */
static void hodp_reap(void)
{
	struct hodp_dev *dev;

	for (;;) {
		mutex_lock(&hodp_devices_lock);
		dev = list_first_entry_or_null(&hodp_dying, struct hodp_dev,
					       list);
		if (dev)
			list_del_init(&dev->list);
		mutex_unlock(&hodp_devices_lock);
		if (!dev)
			return;
		/* Already unregistered: this only waits for the one that did. */
		ib_unregister_device(&dev->ibdev);
		put_device(&dev->ibdev.dev);
	}
}

static bool hodp_bound_to(struct net_device *ndev)
{
	struct hodp_dev *dev;
	bool found = false;

	mutex_lock(&hodp_devices_lock);
	list_for_each_entry(dev, &hodp_devices, list)
		found |= dev->ndev == ndev;
	mutex_unlock(&hodp_devices_lock);
	return found;
}

static int hodp_newlink(const char *name, struct net_device *ndev)
{
	struct hodp_dev *dev;
	int ret;

	hodp_reap();
	if (hodp_bound_to(ndev)) {
		pr_err("hodp: %s already has a hodp device\n", ndev->name);
		return -EEXIST;
	}
	dev = ib_alloc_device(hodp_dev, ibdev);
	if (!dev)
		return -ENOMEM;
	dev->ndev = ndev;
	INIT_LIST_HEAD(&dev->list);
	mutex_init(&dev->odp_lock);
	INIT_LIST_HEAD(&dev->odp_mirrors);
	xa_init_flags(&dev->mrs, XA_FLAGS_ALLOC1 | XA_FLAGS_LOCK_IRQ);
	/*
	 * The lock types match how each table is taken: MRs and AHs are
	 * looked up in any context (irqsave), SRQs are changed with _irq.
	 */
	xa_init_flags(&dev->srqs, XA_FLAGS_ALLOC1 | XA_FLAGS_LOCK_IRQ);
	xa_init_flags(&dev->ahs, XA_FLAGS_ALLOC1 | XA_FLAGS_LOCK_IRQ);
	xa_init_flags(&dev->mws, XA_FLAGS_ALLOC | XA_FLAGS_LOCK_IRQ);
	dev->ibdev.node_type = RDMA_NODE_IB_CA;
	dev->ibdev.phys_port_cnt = 1;
	dev->ibdev.num_comp_vectors = 1;
	strscpy(dev->ibdev.node_desc, "hodp", sizeof(dev->ibdev.node_desc));
	/* The two write commands a queue-in-userspace provider still uses. */
	dev->ibdev.uverbs_cmd_mask |= BIT_ULL(IB_USER_VERBS_CMD_POST_SEND) |
				      BIT_ULL(IB_USER_VERBS_CMD_REQ_NOTIFY_CQ);
	hodp_init_attrs(dev);
	ib_set_device_ops(&dev->ibdev, &hodp_dev_ops);

	ret = ib_device_set_netdev(&dev->ibdev, ndev, 1);
	if (ret) {
		pr_err("hodp: cannot bind %s to %s: %d\n", name, ndev->name, ret);
		goto err;
	}
	mutex_lock(&hodp_devices_lock);
	list_add_tail(&dev->list, &hodp_devices);
	mutex_unlock(&hodp_devices_lock);
	/* No DMA device: the HCA is the CPU, it uses kernel addresses. */
	ret = ib_register_device(&dev->ibdev, name, NULL);
	if (ret) {
		pr_err("hodp: cannot register %s on %s: %d\n", name,
		       ndev->name, ret);
		goto err;	/* dealloc_driver unlinks it */
	}
	pr_info("hodp: %s on %s\n", dev_name(&dev->ibdev.dev), ndev->name);
	return 0;
err:
	ib_dealloc_device(&dev->ibdev);
	return ret;
}

static struct rdma_link_ops hodp_link_ops = {
	.type = "hodp",
	.newlink = hodp_newlink,
};

/*
 * No entry left in @xa. Not xa_empty(): an allocation that ran out of
 * memory half way leaves the empty nodes it had linked behind.
 */
static bool hodp_xa_holds_none(struct xarray *xa)
{
	unsigned long index = 0;

	return !xa_find(xa, &index, ULONG_MAX, XA_PRESENT);
}

/* ib_device_ops.dealloc_driver: the core is about to free the device. */
void hodp_dealloc_driver(struct ib_device *ibdev)
{
	struct hodp_dev *dev = to_hdev(ibdev);

	WARN_ON(!hodp_xa_holds_none(&dev->mrs) ||
		!hodp_xa_holds_none(&dev->srqs) ||
		!hodp_xa_holds_none(&dev->ahs) ||
		!hodp_xa_holds_none(&dev->mws));
	xa_destroy(&dev->mrs);
	xa_destroy(&dev->srqs);
	xa_destroy(&dev->ahs);
	xa_destroy(&dev->mws);
	/* Held until hodp_reap() knows the core has returned from here. */
	get_device(&ibdev->dev);
	mutex_lock(&hodp_devices_lock);
	list_move_tail(&dev->list, &hodp_dying);
	mutex_unlock(&hodp_devices_lock);
}

/**
 * hodp_gsi_by_gid() - the GSI QP of the hodp device that has a GID
 * @gid: a RoCE v2 GID (the destination of a MAD)
 *
 * Return: the QP, referenced (release with hodp_qp_put()), or NULL.
 */
struct hodp_qp *hodp_gsi_by_gid(const union ib_gid *gid)
{
	struct hodp_qp *qp = NULL;
	struct hodp_dev *dev;

	mutex_lock(&hodp_devices_lock);
	list_for_each_entry(dev, &hodp_devices, list) {
		/* A referenced QP keeps its device's GID table alive. */
		qp = hodp_gsi_get(dev);
		if (qp && hodp_qp_reaches(qp, gid))
			break;
		if (qp)
			hodp_qp_put(qp);
		qp = NULL;
	}
	mutex_unlock(&hodp_devices_lock);
	return qp;
}

/**
 * hodp_show_objects() - each device's count of the objects it holds
 * @m: where to print: a line per device,
 *	"NAME pd N cq N qp N mr N srq N ah N mirror N kept N"
 *
 * For the fault-injection tests (debugfs hodp/objects): the RDMA core's
 * resource tracking does not count AHs, and a failed verb must leave none;
 * nor does it count the device's mirrors (one per process with ODP MRs)
 * or the deregistered MRs whose memory a fault still keeps
 * (hodp_mr_keep()).
 */
void hodp_show_objects(struct seq_file *m)
{
	struct hodp_dev *dev;

	mutex_lock(&hodp_devices_lock);
	list_for_each_entry(dev, &hodp_devices, list)
		seq_printf(m, "%s pd %d cq %d qp %d mr %d srq %d ah %d mirror %d kept %d\n",
			   dev_name(&dev->ibdev.dev), atomic_read(&dev->nr_pd),
			   atomic_read(&dev->nr_cq), atomic_read(&dev->nr_qp),
			   atomic_read(&dev->nr_mr), atomic_read(&dev->nr_srq),
			   atomic_read(&dev->nr_ah), atomic_read(&dev->nr_mirror),
			   atomic_read(&dev->nr_kept));
	mutex_unlock(&hodp_devices_lock);
}

/* Queue the unregistration of every device matching @ndev (NULL: all). */
static void hodp_unregister(struct net_device *ndev)
{
	struct hodp_dev *dev;

	mutex_lock(&hodp_devices_lock);
	list_for_each_entry(dev, &hodp_devices, list) {
		if (ndev && dev->ndev != ndev)
			continue;
		/* A device already going away is not ours to remove. */
		if (!ib_device_try_get(&dev->ibdev))
			continue;
		ib_unregister_device_queued(&dev->ibdev);
		ib_device_put(&dev->ibdev);
	}
	mutex_unlock(&hodp_devices_lock);
}

static int hodp_netdev_event(struct notifier_block *nb, unsigned long event,
			     void *ptr)
{
	struct net_device *ndev = netdev_notifier_info_to_dev(ptr);

	if (event == NETDEV_UNREGISTER)
		hodp_unregister(ndev);
	return NOTIFY_OK;
}

static struct notifier_block hodp_netdev_nb = {
	.notifier_call = hodp_netdev_event,
};

static int __init hodp_init(void)
{
	int ret;

	hodp_wq = alloc_workqueue("hodp", WQ_UNBOUND | WQ_MEM_RECLAIM, 0);
	if (!hodp_wq)
		return -ENOMEM;
	/*
	 * Fault events wait for the mm (a file's I/O, a FUSE server): not
	 * beside the QPs' work, which they would hold up, and no more than
	 * HODP_LANE_EVENTS of one mirror's lane at once (hodp_fault.c).
	 * No rescuer: a rescuer runs the work it takes one item after
	 * another, and an event that waits there (for ever, on a FUSE
	 * server) would hold up every process's events it took, workers
	 * free or not. Events fault user ODP memory only, and no
	 * invalidation waits for one (it waits for copies); a kernel ULP's
	 * message into a user's ODP memory waits for one, but that fault
	 * allocates the user's pages, which no rescuer makes succeed under
	 * memory pressure.
	 */
	hodp_fault_wq = alloc_workqueue("hodp_fault", WQ_UNBOUND, 0);
	if (!hodp_fault_wq) {
		ret = -ENOMEM;
		goto err_wq;
	}
	/*
	 * The file lane's events, which may wait on a file system for as
	 * long as its server wants: apart, so that no number of them, of
	 * any processes, holds a worker that faults of anonymous and shmem
	 * memory need. No rescuer, as above.
	 */
	hodp_fault_file_wq = alloc_workqueue("hodp_fault_file", WQ_UNBOUND,
					     0);
	if (!hodp_fault_file_wq) {
		ret = -ENOMEM;
		goto err_fault_wq;
	}
	/*
	 * Memory-lane events whose look and fault wait for a process's mmap
	 * lock (wanted by a writer, maybe behind a fault of a file that
	 * waits for as long as its server wants): apart from both lanes'
	 * workers, one event of a mirror at a time (hodp_fault.c). No
	 * rescuer, as above.
	 */
	hodp_fault_lock_wq = alloc_workqueue("hodp_fault_lock", WQ_UNBOUND,
					     0);
	if (!hodp_fault_lock_wq) {
		ret = -ENOMEM;
		goto err_fault_file_wq;
	}
	/*
	 * Asynchronous prefetches wait for the mm too, and a process may
	 * queue 64 of them (hodp_prefetch.c): on hodp_wq, four processes'
	 * prefetches waiting in their own FUSE servers filled it, and every
	 * QP's work waited behind them. Only user verbs prefetch: no
	 * rescuer. (The GSI QP's work still faults where its WQE stands,
	 * on hodp_wq: it raises no fault events, docs/design.md.)
	 */
	hodp_prefetch_wq = alloc_workqueue("hodp_prefetch", WQ_UNBOUND, 0);
	if (!hodp_prefetch_wq) {
		ret = -ENOMEM;
		goto err_fault_lock_wq;
	}
	ret = hodp_odp_init();
	if (ret)
		goto err_prefetch_wq;
	ret = register_netdevice_notifier(&hodp_netdev_nb);
	if (ret)
		goto err_odp;
	hodp_fail_alloc_init();
	rdma_link_register(&hodp_link_ops);
	return 0;
err_odp:
	hodp_odp_exit();
err_prefetch_wq:
	destroy_workqueue(hodp_prefetch_wq);
err_fault_lock_wq:
	destroy_workqueue(hodp_fault_lock_wq);
err_fault_file_wq:
	destroy_workqueue(hodp_fault_file_wq);
err_fault_wq:
	destroy_workqueue(hodp_fault_wq);
err_wq:
	destroy_workqueue(hodp_wq);
	return ret;
}

static void __exit hodp_exit(void)
{
	rdma_link_unregister(&hodp_link_ops);
	hodp_fail_alloc_exit();
	unregister_netdevice_notifier(&hodp_netdev_nb);
	/*
	 * Unregister each live device here (or wait for whoever is doing
	 * it): its dealloc_driver has run when this returns.
	 */
	for (;;) {
		struct hodp_dev *dev;

		mutex_lock(&hodp_devices_lock);
		dev = list_first_entry_or_null(&hodp_devices, struct hodp_dev,
					       list);
		if (dev)
			get_device(&dev->ibdev.dev);
		mutex_unlock(&hodp_devices_lock);
		if (!dev)
			break;
		ib_unregister_device(&dev->ibdev);
		put_device(&dev->ibdev.dev);
	}
	hodp_reap();
	/*
	 * Every ODP MR went with its device, but the ones a fault event or
	 * an asynchronous prefetch still keeps (hodp_mr_keep()): their work
	 * ends first (a fault blocked in the mm, when its memory's owner
	 * answers), letting the last of them go; then this waits for the
	 * mirrors. Every QP is gone, so every fault event was cancelled or
	 * let go: none waits in a lane to be queued, and none moves to
	 * another workqueue (a let-go event ends where it runs).
	 */
	drain_workqueue(hodp_fault_wq);
	drain_workqueue(hodp_fault_lock_wq);
	drain_workqueue(hodp_fault_file_wq);
	flush_workqueue(hodp_prefetch_wq);
	flush_workqueue(hodp_wq);
	hodp_odp_exit();
	destroy_workqueue(hodp_prefetch_wq);
	destroy_workqueue(hodp_fault_lock_wq);
	destroy_workqueue(hodp_fault_file_wq);
	destroy_workqueue(hodp_fault_wq);
	destroy_workqueue(hodp_wq);
}

module_init(hodp_init);
module_exit(hodp_exit);
MODULE_DESCRIPTION("Software RDMA HCA with on-demand paging on HMM mirrors");
MODULE_LICENSE("GPL");
MODULE_ALIAS_RDMA_LINK("hodp");
