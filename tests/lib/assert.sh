# SPDX-License-Identifier: GPL-2.0
#
# Result reporting for shell tests (see tests/lib/run-tests): source it,
# report each check, and end with 'done_testing' for the exit status.

_failures=0

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; _failures=$((_failures + 1)); }
skip() { echo "SKIP: $1: $2"; }

# expect_eq NAME WANT GOT
expect_eq() {
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected '$2', got '$3'"; fi
}

# expect_match NAME REGEX TEXT (extended regex, anywhere in TEXT)
expect_match() {
	if grep -qE -- "$2" <<<"$3"; then
		pass "$1"
	else
		fail "$1" "expected output matching /$2/, got: $(tail -c 400 <<<"$3" | tr '\n' '|')"
	fi
}

# expect_no_match NAME REGEX TEXT
expect_no_match() {
	if grep -qE -- "$2" <<<"$3"; then
		fail "$1" "output must not match /$2/, got: $(grep -m 3 -E -- "$2" <<<"$3" | tr '\n' '|')"
	else
		pass "$1"
	fi
}

# run_cmd CMD...: run, leaving its exit status in $RC and its output
# (stdout and stderr together) in $OUT; the output also goes to the log.
run_cmd() {
	local t0=${EPOCHREALTIME/[.,]/} t1
	OUT=$("$@" 2>&1)
	RC=$?
	# How long it took, for the log: where a slow suite's time goes.
	t1=${EPOCHREALTIME/[.,]/}
	printf '$ %s\n%s\n[exit %d, %d ms]\n' "$*" "$OUT" "$RC" $(((t1 - t0) / 1000)) >&2
}

done_testing() {
	[ "$_failures" -eq 0 ]
}

# guest_seconds START OUTPUT: seconds since START (a $SECONDS value), less
# what tests/vm/run said it waited for another guest (OUTPUT: its stderr).
# A time bound on a guest must not count another suite's guest.
guest_seconds() {
	local waited
	waited=$(sed -n 's/^vm: waited \([0-9]*\)s for the guest lock$/\1/p' <<<"$2" | tail -n 1)
	echo $((SECONDS - $1 - ${waited:-0}))
}
