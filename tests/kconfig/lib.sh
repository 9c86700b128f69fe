# SPDX-License-Identifier: GPL-2.0
# Helpers for the Kconfig tests: a scratch copy of the sources to build in,
# and a fake kernel directory with an edited configuration.

kver=$("$HODP_TOP/tests/vm/kver")
real_kdir=/usr/src/linux-headers-$kver

# copy_tree DEST: the project's files (tracked or new, not ignored).
copy_tree() {
	mkdir -p "$1"
	(cd "$HODP_TOP" && git ls-files -z --cached --others --exclude-standard |
		tar --null -T - -cf -) | tar -xf - -C "$1"
}

# fake_kdir DEST SED-SCRIPT: the real headers' tools, with their .config
# edited by SED-SCRIPT.
fake_kdir() {
	mkdir -p "$1"
	ln -s "$real_kdir/scripts" "$1/scripts"
	sed -e "$2" "$real_kdir/.config" >"$1/.config"
}

# built_modules DIR: the .ko files under DIR, names only, sorted.
built_modules() {
	(cd "$1" && find kernel -name '*.ko' -printf '%f\n' | LC_ALL=C sort | paste -sd' ')
}
