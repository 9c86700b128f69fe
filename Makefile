# SPDX-License-Identifier: GPL-2.0
#
# hodp: RDMA on-demand paging on HMM mirrors.
#
#   make              kernel modules (out of tree, options from Kconfig) and
#                     userspace
#   make check        everything, then every test suite (host and guest)
#   make check-debug  the guest suites on the debug kernel (KASAN, lockdep,
#                     kmemleak...), which make debug-kernel builds once
#   make bench        everything, then the benchmarks (JSON, report.md and
#                     plots in build/bench/)
#   make deps         install the Debian packages the project needs
#   make install      modules_install + depmod, then install-user
#   make install-user the userspace parts only: hodp's libibverbs provider,
#                     libhodp-odp.so, the dmirror uapi header, the examples
#   make dkms-source  the module sources and dkms.conf into
#                     /usr/src/hodp-VERSION, for dkms add/build/install
#   make config       answer the Kconfig questions (build/.config)
#   make clean
#
# Variables: KVER (default: what linux-headers-amd64 resolves to), KDIR,
# HODP_CONFIG (the Kconfig answers, default build/.config), C=1 (sparse),
# INSTALL_MOD_PATH, DESTDIR, PREFIX, DKMS_SRC (for dkms-source), SUITES (for
# check: which suites), BENCHMARKS (for bench: which ones), DEBUG_SUITES
# (for check-debug).

KVER ?= $(shell tests/vm/kver)
KDIR ?= /usr/src/linux-headers-$(KVER)
BUILD := $(CURDIR)/build
HODP_CONFIG ?= $(BUILD)/.config
PREFIX ?= /usr/local
export HODP_CONFIG KVER
# The version is dkms.conf's (no git: DKMS builds from a copy of the tree).
VERSION := $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' dkms.conf)
DKMS_SRC ?= /usr/src/hodp-$(VERSION)

kconfig := $(BUILD)/kconfig
# Userspace parts, each a directory with its own Makefile.
# The phony target that builds them all is user-dirs: one of them is named
# userspace itself.
USER_DIRS := $(patsubst %/Makefile,%,$(wildcard userspace/Makefile \
	tests/Makefile benchmarks/Makefile))

# No BTF for modules: the headers ship no vmlinux to base it on.
kbuild = $(MAKE) -C $(KDIR) M=$(CURDIR) CONFIG_DEBUG_INFO_BTF_MODULES= \
	HODP_CONFIG_H=$(kconfig)/hodp_config.h \
	$$(cat $(kconfig)/hodp.mk)

.PHONY: all modules check demo bench deps install install-modules \
	install-user dkms-source clean config olddefconfig kconfig debug-kernel \
	debug-modules check-debug user-dirs $(USER_DIRS)

all: modules user-dirs

# Resolve the options; when the answers changed, rebuild the modules from
# scratch so that a module switched off does not linger.
kconfig:
	@scripts/kconfig $(KDIR) $(kconfig)
	@if ! cmp -s $(kconfig)/hodp.mk $(kconfig)/hodp.mk.built; then \
		$(MAKE) -C $(KDIR) M=$(CURDIR) clean >/dev/null; \
		cp $(kconfig)/hodp.mk $(kconfig)/hodp.mk.built; \
	fi

config:
	@scripts/kconfig $(KDIR) $(kconfig) --oldaskconfig
olddefconfig:
	@scripts/kconfig $(KDIR) $(kconfig) --olddefconfig

modules: kconfig
	+$(kbuild) modules

user-dirs: $(USER_DIRS)
# After kconfig: when its answers change it runs kbuild's clean, which
# deletes every .o under the checkout, build/ included (make -j raced it).
$(USER_DIRS): | kconfig
	+$(MAKE) -C $@

deps:
	@scripts/deps

check: deps
	+$(MAKE) all
	tests/run $(SUITES)

# The debug tier: the debug kernel (built once, cached outside the tree), our
# modules built for it in a copy of the sources (kbuild writes objects next
# to them), and the guest suites booted on it.
DEBUG_TREE := $(BUILD)/debug/tree
DEBUG_CONFIG := $(BUILD)/debug/.config
# (Not rxe: the kernel's own driver, no code of ours; hodp's rxe-coexist
# test runs hodp beside it on the debug kernel.) kmemleak first: it tests
# that the leak check the others rely on reports a leak.
DEBUG_SUITES ?= kmemleak hodp faultinject hmm

debug-kernel:
	@scripts/deps debug
	@scripts/debug-kernel >/dev/null

debug-modules: debug-kernel
	@mkdir -p $(DEBUG_TREE)
	@find Makefile Kbuild Kconfig dkms.conf scripts kernel -type f \( -name '*.[ch]' \
		-o -name Kbuild -o -name Kconfig -o -name Makefile -o -name dkms.conf -o -path 'scripts/*' \) | \
		tar -cf - -T - | tar -xf - -C $(DEBUG_TREE)
	@# Its own answers, with the KUnit suites on (the kernel has KUnit).
	@[ -f $(DEBUG_CONFIG) ] || echo CONFIG_HMM_MIRROR_KUNIT_TEST=y >$(DEBUG_CONFIG)
	+eval "$$(scripts/debug-kernel)" && $(MAKE) -C $(DEBUG_TREE) modules \
		KDIR=$$DEBUG_BUILD KVER=$$DEBUG_KVER HODP_CONFIG=$(DEBUG_CONFIG)

check-debug: deps debug-modules
	+$(MAKE) user-dirs
	HODP_VM_KERNEL=debug tests/run $(or $(SUITES),$(DEBUG_SUITES))

# The newcomer's first command: hodp doing on-demand paging in the test
# guest, step by step (demo/guest).
demo: deps
	+$(MAKE) all
	demo/run

bench: deps
	+$(MAKE) all
	benchmarks/run $(BENCHMARKS)

# The modules, then the userspace (one after the other: kconfig's clean
# deletes every .o under the checkout, userspace's included).
install: install-modules
	+$(MAKE) install-user

install-modules: modules
	+$(kbuild) INSTALL_MOD_PATH=$(INSTALL_MOD_PATH) modules_install
	depmod $(if $(INSTALL_MOD_PATH),-b $(INSTALL_MOD_PATH)) $(KVER)

# What a machine running the modules needs from userspace (DKMS installs
# the modules): userspace/'s parts (see its Makefile), and the uapi header
# of /dev/hmm_dmirror*, under DESTDIR and PREFIX.
install-user:
	+$(MAKE) -C userspace install DESTDIR=$(DESTDIR) PREFIX=$(PREFIX)
	install -D -m 0644 kernel/hmm/dmirror/hmm_dmirror_uapi.h \
		$(DESTDIR)$(PREFIX)/include/hodp/hmm_dmirror_uapi.h

# DKMS's source: what 'make modules' reads, and dkms.conf, copied to
# DKMS_SRC (/usr/src/hodp-VERSION, under DESTDIR), for 'dkms add', 'build'
# and 'install hodp/VERSION'. Replaces an older copy of the same version.
dkms-source:
	rm -rf $(DESTDIR)$(DKMS_SRC)
	mkdir -p $(DESTDIR)$(DKMS_SRC)
	{ echo Makefile; echo Kbuild; echo Kconfig; echo dkms.conf; \
	  echo scripts/kconfig; find kernel -type f \( -name '*.[ch]' \
		-o -name Kbuild -o -name Kconfig \) ! -name '*.mod.c'; } | \
		tar -cf - --no-recursion -T - | tar -xf - -C $(DESTDIR)$(DKMS_SRC)

clean:
	+$(MAKE) -C $(KDIR) M=$(CURDIR) clean >/dev/null
	+$(foreach d,$(USER_DIRS),$(MAKE) -C $(d) clean &&) true
	rm -rf $(BUILD)
