// SPDX-License-Identifier: GPL-2.0
/*
 * hodp: software RDMA HCA with on-demand paging on HMM mirrors: module life.
 */
#include <linux/module.h>

static int __init hodp_init(void)
{
	return 0;
}

static void __exit hodp_exit(void)
{
}

module_init(hodp_init);
module_exit(hodp_exit);
MODULE_DESCRIPTION("Software RDMA HCA with on-demand paging on HMM mirrors");
MODULE_LICENSE("GPL");
