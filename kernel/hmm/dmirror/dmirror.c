// SPDX-License-Identifier: GPL-2.0
/*
 * Dummy HMM mirror device: module life. The devices land with the core.
 */
#include <linux/module.h>

static int __init dmirror_init(void)
{
	return 0;
}

static void __exit dmirror_exit(void)
{
}

module_init(dmirror_init);
module_exit(dmirror_exit);
MODULE_DESCRIPTION("Dummy device for testing HMM mirrors");
MODULE_LICENSE("GPL");
