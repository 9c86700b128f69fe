# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# What a suite declares it runs: tests/<suite>/TESTS, read by run-tests.
# One line per test program, then the skips it may report:
#
#   test-NAME [MIN] [TIER=MIN]...
#       test-NAME runs in this suite (test-NAME in the suite's directory, or
#       built from NAME.c). It gives at least MIN PASS lines (default 1) on
#       every tier, or the TIER=MIN given for that tier (stock, debug).
#   skip TIER test-NAME CHECK: reason
#       On TIER (stock, debug or any), test-NAME may report "SKIP: CHECK: ..."
#       (CHECK is a bash pattern: '*' matches anything). Any other SKIP is a
#       failure.
#
# '#' starts a comment; blank lines are ignored.

EXPECT_TESTS=()
EXPECT_MIN=()		# "test tier min" or "test * min"
EXPECT_SKIPS=()		# "tier<TAB>test<TAB>check"
EXPECT_ERROR=

# expect_load FILE: read a declaration; 1 with EXPECT_ERROR if it is bad.
expect_load() {
	local file=$1 line n=0 kind t rest tier check reason m
	EXPECT_TESTS=() EXPECT_MIN=() EXPECT_SKIPS=()
	if [ ! -f "$file" ]; then
		EXPECT_ERROR="no declaration of what the suite runs (${file#"${HODP_TOP:-}"/})"
		return 1
	fi
	while IFS= read -r line || [ -n "$line" ]; do
		n=$((n + 1))
		line=${line%%#*}
		read -r kind rest <<<"$line"
		[ -n "$kind" ] || continue
		case "$kind" in
		skip)
			read -r tier t check <<<"$rest"
			reason=${check#*: }
			check=${check%%: *}
			case "$tier" in stock|debug|any) ;; *) tier= ;; esac
			if [ -z "$tier" ] || [ -z "$t" ] || [ -z "$check" ] ||
			   [ "$reason" = "$check" ] || [ -z "$reason" ]; then
				EXPECT_ERROR="$file:$n: want 'skip stock|debug|any test-NAME CHECK: reason'"
				return 1
			fi
			EXPECT_SKIPS+=("$tier"$'\t'"$t"$'\t'"$check")
			;;
		test-*)
			EXPECT_TESTS+=("$kind")
			EXPECT_MIN+=("$kind * 1")
			for m in $rest; do
				case "$m" in
				[0-9]*) EXPECT_MIN+=("$kind * $m") ;;
				stock=[0-9]*|debug=[0-9]*) EXPECT_MIN+=("$kind ${m%%=*} ${m#*=}") ;;
				*) EXPECT_ERROR="$file:$n: '$m': want MIN or stock=MIN or debug=MIN"
				   return 1 ;;
				esac
			done
			;;
		*)
			EXPECT_ERROR="$file:$n: '$kind': a line is 'test-NAME ...' or 'skip ...'"
			return 1
			;;
		esac
	done <"$file"
	if [ ${#EXPECT_TESTS[@]} -eq 0 ]; then
		EXPECT_ERROR="$file declares no test"
		return 1
	fi
}

# expect_declared TEST
expect_declared() {
	local t
	for t in ${EXPECT_TESTS[@]+"${EXPECT_TESTS[@]}"}; do
		[ "$t" = "$1" ] && return 0
	done
	return 1
}

# expect_min_passes TIER TEST: the least number of PASS lines (the last
# matching entry wins: the tier's own after the general one).
expect_min_passes() {
	local e t tier m min=1
	for e in ${EXPECT_MIN[@]+"${EXPECT_MIN[@]}"}; do
		read -r t tier m <<<"$e"
		[ "$t" = "$2" ] || continue
		if [ "$tier" = "*" ] || [ "$tier" = "$1" ]; then min=$m; fi
	done
	# '*' entries come first for each test, so a tier's own value wins.
	for e in ${EXPECT_MIN[@]+"${EXPECT_MIN[@]}"}; do
		read -r t tier m <<<"$e"
		[ "$t" = "$2" ] && [ "$tier" = "$1" ] && min=$m
	done
	echo "$min"
}

# expect_skip_allowed TIER TEST "CHECK: reason" (a SKIP line's payload)
expect_skip_allowed() {
	local e tier t check
	for e in ${EXPECT_SKIPS[@]+"${EXPECT_SKIPS[@]}"}; do
		IFS=$'\t' read -r tier t check <<<"$e"
		[ "$t" = "$2" ] || continue
		[ "$tier" = any ] || [ "$tier" = "$1" ] || continue
		# shellcheck disable=SC2053 # CHECK is a pattern on purpose
		[[ $3 == $check": "* ]] && return 0
	done
	return 1
}
