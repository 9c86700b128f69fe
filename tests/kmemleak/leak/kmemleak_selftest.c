// SPDX-License-Identifier: GPL-2.0
/*
 * A module that leaks on purpose, for tests/kmemleak/test-leak: one
 * kmalloc() at load whose address nothing keeps. The debug guest's end of
 * boot must report it through kmemleak; a check that reports nothing for
 * this reports nothing for a real leak of ours either.
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>

/* What the leaked object holds: kmemleak's hex dump shows it. */
#define KMEMLEAK_SELFTEST_MARK "hodp-kmemleak-selftest-leak....."

static int __init kmemleak_selftest_init(void)
{
	/*
	 * kstrdup() copies out of line: a memcpy() into a fresh kmalloc()
	 * that nothing reads is a dead store the compiler may drop.
	 */
	if (!kstrdup(KMEMLEAK_SELFTEST_MARK, GFP_KERNEL))
		return -ENOMEM;
	pr_info("kmemleak_selftest: leaked %zu bytes on purpose\n",
		sizeof(KMEMLEAK_SELFTEST_MARK));
	return 0;
}

static void __exit kmemleak_selftest_exit(void)
{
}

module_init(kmemleak_selftest_init);
module_exit(kmemleak_selftest_exit);
MODULE_DESCRIPTION("Leaks one object at load, for the debug tier's kmemleak check");
MODULE_LICENSE("GPL");
