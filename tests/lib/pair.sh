# SPDX-License-Identifier: GPL-2.0
#
# Client/server pairs of stock RDMA tools (pingpong, perftest, rping) on
# the loopback: start the server, wait for its TCP port, run the client.

# wait_listen PORT [SECONDS]: wait until something listens on TCP PORT.
# Reads /proc/net/tcp{,6} with builtins: a fork costs 0.1-0.3 s in the guest.
wait_listen() {
	local port hex deadline line local_addr st
	port=$1
	hex=$(printf ':%04X' "$port")
	deadline=$((SECONDS + ${2:-20}))
	while [ $SECONDS -lt $deadline ]; do
		for f in /proc/net/tcp /proc/net/tcp6; do
			[ -r "$f" ] || continue
			while read -r _ local_addr _ st _; do
				[ "$st" = 0A ] && [ "${local_addr: -5}" = "$hex" ] && return 0
			done <"$f"
		done
		sleep 0.2
	done
	return 1
}

# run_pair PORT SERVER_CMD -- CLIENT_CMD: run both, the client once the
# server listens. Leaves SERVER_RC, CLIENT_RC, SERVER_OUT, CLIENT_OUT.
run_pair() {
	local port=$1 srv=() out
	shift
	while [ "$1" != -- ]; do srv+=("$1"); shift; done
	shift
	out=$(mktemp)
	"${srv[@]}" >"$out" 2>&1 &
	local pid=$!
	if "${WAIT_LISTEN:-wait_listen}" "$port"; then
		CLIENT_OUT=$("$@" 2>&1)
		CLIENT_RC=$?
	else
		CLIENT_OUT="server did not listen on port $port"
		CLIENT_RC=255
		kill "$pid" 2>/dev/null
	fi
	# A server whose client failed may wait forever: bound it.
	local waited=0
	while kill -0 "$pid" 2>/dev/null && [ $waited -lt 100 ]; do
		sleep 0.2
		waited=$((waited + 1))
	done
	kill -9 "$pid" 2>/dev/null
	wait "$pid"
	SERVER_RC=$?
	SERVER_OUT=$(cat "$out")
	rm -f "$out"
	printf '$ %s\n%s\n[server exit %d]\n$ %s\n%s\n[client exit %d]\n' \
		"${srv[*]}" "$SERVER_OUT" "$SERVER_RC" "$*" "$CLIENT_OUT" "$CLIENT_RC" >&2
}

# run_perftest PORT TOOL ARGS...: a perftest pair (server TOOL ARGS -p PORT,
# client the same plus localhost), as run_pair. perftest calibrates the CPU
# clock by a regression over short timed loops; under TCG that fails now and
# then ("r^2 < 0.9"), and the report is missing ("Can't produce a report")
# or infinite ("inf" times), which says nothing about the device. Only a
# pair whose two sides ran clean but for that (no other error line, and a
# side that exited non-zero said it could not report) runs again, on the
# next port, up to $PERFTEST_TRIES times (default 3; the debug kernel,
# slower and noisier, gets more); any other failure ends the tries and is
# left for the test to fail on. Once a pair failed to calibrate on every
# try, the guest is known to calibrate badly and later pairs get 2 tries
# each. Leaves PORT_USED, and UNCALIBRATED=1 if no try could calibrate (the
# last try then ran clean except for the clock).
PERFTEST_BAD_CLOCK=0
PERFTEST_CLOCK_RE="Can't produce a report|[[:space:]]inf[[:space:]]|r\^2|calibrat"
# perftest_clean_but_clock OUT RC: this side failed only at timing itself.
perftest_clean_but_clock() {
	local others
	others=$(grep -vE "$PERFTEST_CLOCK_RE" <<<"$1" |
		grep -iE 'error|fail|couldn|unable|cannot|timeout|refused|invalid')
	[ -z "$others" ] || return 1
	[ "$2" -eq 0 ] || grep -qE "Can't produce a report" <<<"$1"
}
run_perftest() {
	local port=$1 tool=$2 try tries=${PERFTEST_TRIES:-3}
	shift 2
	[ "$PERFTEST_BAD_CLOCK" = 1 ] && [ "$tries" -gt 2 ] && tries=2
	UNCALIBRATED=0
	for ((try = 1; try <= tries; try++)); do
		PORT_USED=$port
		run_pair "$port" "$tool" "$@" -p "$port" -- \
			"$tool" "$@" -p "$port" localhost
		grep -Eq "Can't produce a report|[[:space:]]inf[[:space:]]" \
			<<<"$SERVER_OUT$CLIENT_OUT" || return
		if ! perftest_clean_but_clock "$SERVER_OUT" "$SERVER_RC" ||
		   ! perftest_clean_but_clock "$CLIENT_OUT" "$CLIENT_RC"; then
			echo "$tool: clock calibration failed, and something else too: not retried" >&2
			return
		fi
		echo "$tool: perftest's clock calibration failed (try $try of $tries)" >&2
		port=$((port + 1))
	done
	UNCALIBRATED=1
	PERFTEST_BAD_CLOCK=1
}

# wait_cm_listen PORT [SECONDS]: wait until an rdma_cm ID listens on PORT
# (rdma_cm listeners are not TCP sockets: ask the RDMA core).
wait_cm_listen() {
	local deadline=$((SECONDS + ${2:-20}))
	while [ $SECONDS -lt $deadline ]; do
		[[ "$(rdma res show cm_id 2>/dev/null)" =~ LISTEN[^$'\n']*:$1[[:space:]] ]] && return 0
		sleep 0.2
	done
	return 1
}

# run_cm_pair PORT SERVER_CMD -- CLIENT_CMD: as run_pair, for rdma_cm tools.
run_cm_pair() {
	WAIT_LISTEN=wait_cm_listen run_pair "$@"
}
