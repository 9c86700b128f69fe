// SPDX-License-Identifier: GPL-2.0
/*
 * HMM mirror core: module life. The mirror API itself lands with the core.
 */
#include <linux/module.h>

static int __init hmm_mirror_init(void)
{
	return 0;
}

static void __exit hmm_mirror_exit(void)
{
}

module_init(hmm_mirror_init);
module_exit(hmm_mirror_exit);
MODULE_DESCRIPTION("HMM mirrors of process address spaces");
MODULE_LICENSE("GPL");
