// SPDX-License-Identifier: GPL-2.0
/*
 * libhodp-odp.so: with LD_PRELOAD, a program that cannot be changed
 * registers its memory on demand (ODP) on hodp devices, so nothing it
 * registers there is pinned and RLIMIT_MEMLOCK stops mattering for it.
 *
 * It defines libibverbs' exported registration entry points under their
 * symbol versions (ibv_reg_mr@IBVERBS_1.1, ibv_reg_mr_iova@IBVERBS_1.7,
 * ibv_reg_mr_iova2@IBVERBS_1.8: libhodp-odp.map), which the program's
 * references bind to ahead of libibverbs'. verbs.h's inline __ibv_reg_mr()
 * calls one of those, so every registration a program compiled against
 * libibverbs makes comes here. Each adds IBV_ACCESS_ON_DEMAND when the
 * protection domain's device is hodp's and the environment asks for it,
 * then calls libibverbs' own (dlvsym(RTLD_NEXT, name, version)).
 *
 * Environment:
 *   HODP_ODP=all|off   all (the default): every registration on a hodp
 *                      device is made ODP; off: none (the library does
 *                      nothing)
 *   HODP_ODP_MIN=N     only registrations of at least N bytes (suffixes
 *                      k, m, g: KiB, MiB, GiB); smaller ones keep the
 *                      caller's flags. Default 0.
 *
 * A registration hodp refuses as ODP is made again with the caller's own
 * flags; the first time that happens, one line on stderr says so and why.
 *
 * A hodp device is recognised as hodp's provider recognises it: its node
 * description (sysfs node_desc) is "hodp", which hodp sets when it creates
 * the device and which cannot be changed afterwards; not its name, which
 * 'rdma link add' leaves to the administrator.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <infiniband/verbs.h>

/* verbs.h makes these macros over inlines; this file defines the functions. */
#undef ibv_reg_mr
#undef ibv_reg_mr_iova

#define EXPORT __attribute__((visibility("default")))

/* The node description hodp's kernel side gives its devices. */
#define HODP_NODE_DESC "hodp"
#define PREFIX "libhodp-odp: "

typedef struct ibv_mr *reg_mr_fn(struct ibv_pd *, void *, size_t, int);
typedef struct ibv_mr *reg_mr_iova_fn(struct ibv_pd *, void *, size_t,
				      uint64_t, int);
typedef struct ibv_mr *reg_mr_iova2_fn(struct ibv_pd *, void *, size_t,
				       uint64_t, unsigned int);

static struct {
	reg_mr_fn *reg_mr;
	reg_mr_iova_fn *reg_mr_iova;
	reg_mr_iova2_fn *reg_mr_iova2;
	bool off;		/* HODP_ODP=off */
	size_t min;		/* HODP_ODP_MIN */
} cfg;
static pthread_once_t cfg_once = PTHREAD_ONCE_INIT;

/*
 * libibverbs' ibv_reg_mr and ibv_reg_mr_iova call ibv_reg_mr_iova2
 * through their PLT, i.e. ours: a registration is decided by the outermost
 * of our functions, the calls inside it pass through.
 */
static __thread bool inside;

static void *real_symbol(const char *name, const char *version)
{
	void *sym = dlvsym(RTLD_NEXT, name, version);

	if (!sym)
		fprintf(stderr, PREFIX "no %s@%s after this library: %s\n",
			name, version, dlerror());
	return sym;
}

static size_t parse_size(const char *s)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		goto bad;
	switch (tolower((unsigned char)*end)) {
	case 'g':
		v <<= 10;
		/* fall through */
	case 'm':
		v <<= 10;
		/* fall through */
	case 'k':
		v <<= 10;
		end++;
		break;
	}
	if (*end == '\0')
		return v;
bad:
	fprintf(stderr, PREFIX "HODP_ODP_MIN=%s is not a size (bytes, or with k, m, g): using 0\n",
		s);
	return 0;
}

static void cfg_init(void)
{
	const char *mode = getenv("HODP_ODP");
	const char *min = getenv("HODP_ODP_MIN");

	cfg.reg_mr = real_symbol("ibv_reg_mr", "IBVERBS_1.1");
	cfg.reg_mr_iova = real_symbol("ibv_reg_mr_iova", "IBVERBS_1.7");
	cfg.reg_mr_iova2 = real_symbol("ibv_reg_mr_iova2", "IBVERBS_1.8");
	if (mode && *mode && strcmp(mode, "all") != 0) {
		if (strcmp(mode, "off") != 0)
			fprintf(stderr, PREFIX "HODP_ODP=%s is neither all nor off: off\n",
				mode);
		cfg.off = true;
	}
	if (min && *min)
		cfg.min = parse_size(min);
}

/* Whether @dev is a hodp device; the answer for each device is kept. */
static bool is_hodp(struct ibv_device *dev)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static struct {
		struct ibv_device *dev;
		bool hodp;
	} seen[32];
	static unsigned int nseen;
	char path[IBV_SYSFS_PATH_MAX + 16], desc[128];
	bool hodp = false;
	unsigned int i;
	FILE *f;

	pthread_mutex_lock(&lock);
	for (i = 0; i < nseen; i++) {
		if (seen[i].dev == dev) {
			hodp = seen[i].hodp;
			pthread_mutex_unlock(&lock);
			return hodp;
		}
	}
	snprintf(path, sizeof(path), "%s/node_desc", dev->ibdev_path);
	f = fopen(path, "re");
	if (f) {
		if (fgets(desc, sizeof(desc), f)) {
			desc[strcspn(desc, "\n")] = '\0';
			hodp = strcmp(desc, HODP_NODE_DESC) == 0;
		}
		fclose(f);
	}
	if (nseen < sizeof(seen) / sizeof(seen[0])) {
		seen[nseen].dev = dev;
		seen[nseen].hodp = hodp;
		nseen++;
	}
	pthread_mutex_unlock(&lock);
	return hodp;
}

/* Whether a registration of @length with @access is to be made ODP. */
static bool want_odp(struct ibv_pd *pd, size_t length, unsigned int access)
{
	return !cfg.off && !(access & IBV_ACCESS_ON_DEMAND) &&
	       length >= cfg.min && pd && pd->context &&
	       pd->context->device && is_hodp(pd->context->device);
}

static void say_fallback(struct ibv_pd *pd, int err)
{
	static atomic_bool said;
	const char *name = strerrorname_np(err);

	if (atomic_exchange(&said, true))
		return;
	fprintf(stderr, PREFIX "%s refused an ODP registration (%s: %s): registered with the program's own flags (pinned); said once\n",
		pd->context->device->name, name ? name : "errno", strerror(err));
}

enum entry { REG_MR, REG_MR_IOVA, REG_MR_IOVA2 };

static struct ibv_mr *call(enum entry e, struct ibv_pd *pd, void *addr,
			   size_t length, uint64_t iova, unsigned int access)
{
	switch (e) {
	case REG_MR:
		return cfg.reg_mr(pd, addr, length, (int)access);
	case REG_MR_IOVA:
		return cfg.reg_mr_iova(pd, addr, length, iova, (int)access);
	default:
		return cfg.reg_mr_iova2(pd, addr, length, iova, access);
	}
}

static struct ibv_mr *reg(enum entry e, struct ibv_pd *pd, void *addr,
			  size_t length, uint64_t iova, unsigned int access)
{
	struct ibv_mr *mr;

	pthread_once(&cfg_once, cfg_init);
	if ((e == REG_MR && !cfg.reg_mr) ||
	    (e == REG_MR_IOVA && !cfg.reg_mr_iova) ||
	    (e == REG_MR_IOVA2 && !cfg.reg_mr_iova2)) {
		errno = ENOSYS;
		return NULL;
	}
	if (inside || !want_odp(pd, length, access))
		return call(e, pd, addr, length, iova, access);
	inside = true;
	mr = call(e, pd, addr, length, iova, access | IBV_ACCESS_ON_DEMAND);
	if (!mr) {
		say_fallback(pd, errno);
		mr = call(e, pd, addr, length, iova, access);
	}
	inside = false;
	return mr;
}

EXPORT struct ibv_mr *ibv_reg_mr(struct ibv_pd *pd, void *addr, size_t length,
				 int access)
{
	return reg(REG_MR, pd, addr, length, (uintptr_t)addr,
		   (unsigned int)access);
}

EXPORT struct ibv_mr *ibv_reg_mr_iova(struct ibv_pd *pd, void *addr,
				      size_t length, uint64_t iova, int access)
{
	return reg(REG_MR_IOVA, pd, addr, length, iova, (unsigned int)access);
}

EXPORT struct ibv_mr *ibv_reg_mr_iova2(struct ibv_pd *pd, void *addr,
				       size_t length, uint64_t iova,
				       unsigned int access)
{
	return reg(REG_MR_IOVA2, pd, addr, length, iova, access);
}
