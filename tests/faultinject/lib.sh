# SPDX-License-Identifier: GPL-2.0
# Fault injection helpers: failslab and fail_page_alloc, for the tasks that
# ask for it (task-filter), every allocation with some probability.

dbg=/sys/kernel/debug
INJECT_BUDGET=1000000

# have_injection: the kernel has both (the debug kernel), or SKIP and exit.
have_injection() {
	if [ ! -d $dbg/failslab ] || [ ! -d $dbg/fail_page_alloc ]; then
		skip "fault injection" "kernel $(uname -r) has no failslab/fail_page_alloc (make check-debug runs this)"
		done_testing
		exit 0
	fi
}

# inject_on PERCENT: arm both for tasks with make-it-fail set.
inject_on() {
	local f
	for f in failslab fail_page_alloc; do
		echo Y >$dbg/$f/task-filter
		echo N >$dbg/$f/ignore-gfp-wait
		echo 0 >$dbg/$f/verbose
		echo 1 >$dbg/$f/interval
		echo "$1" >$dbg/$f/probability
		echo $INJECT_BUDGET >$dbg/$f/times
	done
	echo 0 >$dbg/fail_page_alloc/min-order
	echo N >$dbg/fail_page_alloc/ignore-gfp-highmem
}

# inject_off: disarm; prints how many failures were injected in all.
inject_off() {
	local f n=0
	for f in failslab fail_page_alloc; do
		echo 0 >$dbg/$f/probability
		n=$((n + INJECT_BUDGET - $(cat $dbg/$f/times)))
	done
	echo $n
}

# The failing task must not touch the guest's root: it is 9p (under an
# overlay), and the 9p client does not survive failed allocations (every
# later exec failed with EINVAL, for every task). So workloads run in a
# chroot on a tmpfs of their own, as static binaries started by a static
# shell (busybox), with /dev, /proc and /sys bound in.
jail=/run/hodp-faultinject

# make_jail PROGRAM...: the jail, with these static programs in /bin.
make_jail() {
	local d
	mkdir -p $jail
	mountpoint -q $jail || mount -t tmpfs hodp-faultinject $jail
	mkdir -p $jail/bin $jail/dev $jail/proc $jail/sys
	cp /bin/busybox $jail/bin/sh
	cp "$@" $jail/bin/
	for d in dev proc sys; do
		mountpoint -q $jail/$d || mount --rbind /$d $jail/$d
	done
}

# failing NAME [ARG...]: run the jailed program NAME with its allocations
# failing (its own task and its children); its output and status do not
# matter, the kernel does. Only the static shell and NAME run failing.
failing() {
	timeout 60 chroot $jail /bin/sh -c \
		'echo 1 >/proc/self/make-it-fail && exec "$@"' sh "/bin/$@" \
		>/dev/null 2>&1
	return 0
}

# drop_jail: unmount it.
drop_jail() {
	umount -R $jail 2>/dev/null
	rmdir $jail 2>/dev/null
	return 0
}
