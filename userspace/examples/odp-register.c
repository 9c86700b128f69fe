// SPDX-License-Identifier: GPL-2.0
/*
 * Registration without pinning: register SIZE bytes of fresh anonymous
 * memory on demand (IBV_ACCESS_ON_DEMAND) or pinned, and say what the
 * process's pinned memory (VmPin) is while the MR exists. An ODP MR pins
 * nothing, so it may be larger than RLIMIT_MEMLOCK, or than the machine.
 *
 *   odp-register SIZE odp|pinned [DEVICE [GID_INDEX]]
 *       SIZE in bytes, or with k, m or g (e.g. 8g)
 *
 * Exits 0 if the registration succeeded, 1 if it was refused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "loopback.h"

static size_t parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);

	switch (*end) {
	case 'g': case 'G': v <<= 10; /* fall through */
	case 'm': case 'M': v <<= 10; /* fall through */
	case 'k': case 'K': v <<= 10; end++; break;
	}
	if (!v || *end)
		die("bad size '%s'", s);
	return v;
}

/* A field of /proc/self/status, as it reads ("0 kB"). */
static const char *status(const char *field, char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/status", "r");
	size_t n = strlen(field);

	snprintf(buf, len, "?");
	while (f && fgets(buf, len, f))
		if (!strncmp(buf, field, n) && buf[n] == ':') {
			memmove(buf, buf + n + 1 + strspn(buf + n + 1, " \t"),
				strlen(buf + n + 1) + 1);
			buf[strcspn(buf, "\n")] = 0;
			break;
		}
	if (f)
		fclose(f);
	return buf;
}

static const char usage[] =
	"usage: odp-register SIZE odp|pinned [DEVICE [GID_INDEX]]\n"
	"  SIZE in bytes, or with k, m or g (e.g. 8g)\n"
	"Registers SIZE bytes of fresh anonymous memory on demand or pinned and\n"
	"says what VmPin is while the MR exists: an ODP MR pins nothing, so it may\n"
	"be larger than RLIMIT_MEMLOCK, or than the machine.\n"
	"Exits 0 if the registration succeeded, 1 if it was refused.\n";

int main(int argc, char **argv)
{
	int odp, access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
	struct loopback lb;
	struct ibv_mr *mr;
	char pin[64];
	size_t size;
	void *p;

	help(argc, argv, usage);

	if (argc < 3)
		die("usage: odp-register SIZE odp|pinned [DEVICE [GID_INDEX]]");
	size = parse_size(argv[1]);
	odp = !strcmp(argv[2], "odp");
	if (!odp && strcmp(argv[2], "pinned"))
		die("odp or pinned, not '%s'", argv[2]);
	loopback_open(&lb, argc > 3 ? argv[3] : NULL,
		      argc > 4 ? atoi(argv[4]) : 1);

	/* Reserve the addresses only: no page exists until touched. */
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		die("mmap of %zu bytes: %s", size, strerror(errno));
	if (odp)
		access |= IBV_ACCESS_ON_DEMAND;
	mr = ibv_reg_mr(lb.pd, p, size, access);
	if (!mr) {
		int err = errno;

		printf("%s registration of %s: refused: %s (VmPin %s)\n",
		       argv[2], argv[1], strerror(err),
		       status("VmPin", pin, sizeof(pin)));
		loopback_close(&lb);
		return 1;
	}
	printf("%s registration of %s: done, VmPin %s\n", argv[2],
	       argv[1], status("VmPin", pin, sizeof(pin)));
	ibv_dereg_mr(mr);
	munmap(p, size);
	loopback_close(&lb);
	return 0;
}
