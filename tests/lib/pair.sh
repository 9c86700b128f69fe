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
	local port=$1 srv=() out t0=$EPOCHREALTIME t1 t2
	shift
	while [ "$1" != -- ]; do srv+=("$1"); shift; done
	shift
	out=$(mktemp)
	"${srv[@]}" >"$out" 2>&1 &
	local pid=$!
	t1=$t0 t2=$t0
	if "${WAIT_LISTEN:-wait_listen}" "$port"; then
		t1=$EPOCHREALTIME
		CLIENT_OUT=$("$@" 2>&1)
		CLIENT_RC=$?
		t2=$EPOCHREALTIME
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
	# Where a pair's time goes, for the log (microseconds, builtins only).
	local u0=${t0/[.,]/} u1=${t1/[.,]/} u2=${t2/[.,]/} u3=${EPOCHREALTIME/[.,]/}
	printf '(pair: server listening after %d ms, client ran %d ms, server gone %d ms later)\n' \
		$(((u1 - u0) / 1000)) $(((u2 - u1) / 1000)) $(((u3 - u2) / 1000)) >&2
}

# run_perftest PORT TOOL ARGS...: a perftest pair (server TOOL ARGS -p PORT,
# client the same plus localhost), as run_pair. perftest calibrates the CPU
# clock by a regression over short timed loops; under TCG that fails now and
# then ("r^2 < 0.9"), and a side that times itself then prints "Can't
# produce a report" and exits 1 after the traffic ran, or reports infinite
# times ("inf") and exits 0; its peer, left at
# the final handshake, may fail there too ("Failed to close connection").
# None of that says anything about the device, so such a pair counts as
# clean but for the clock: each side exited 0, or failed only at timing
# itself, or only at that handshake while the other side failed at timing
# itself. A pair like that runs again, on the next port, up to
# $PERFTEST_TRIES times (default 2) for a chance at a timing report; any
# other failure ends the tries and is left for the test to fail on.
# $PERFTEST_WRAP, if set, are words put before TOOL on both sides (e.g.
# to run them as another user, under other limits).
#
# What the device moved is counted by the device, not by perftest's clock:
# with PERFTEST_COUNTER naming files (hw counters of the port, separated by
# spaces), COUNTED is how much each grew over the last try, in that order.
#
# Leaves PORT_USED, COUNTED, and UNCALIBRATED=1 if the last try ran clean
# except for the clock (and so has no timing report).
PERFTEST_INF_RE="(^|[[:space:]])inf([[:space:]]|$)"
PERFTEST_CLOCK_RE="Can't produce a report|$PERFTEST_INF_RE|r\^2|calibrat"
# What a side prints when its peer ended before the final handshake.
PERFTEST_PEER_GONE_RE="Failed to close connection between server and client|Unable to read to socket/rdma_cm|Couldn't read reports|Failed to exchange data between server and clients|ethernet_read_keys: Couldn't read remote address"
PERFTEST_ERROR_RE='error|fail|couldn|unable|cannot|timeout|refused|invalid'
# perftest_clock_failed OUT RC: this side failed at timing itself, only:
# it exited 1 saying it could not report, or 0 with a report of infinite
# times.
perftest_clock_failed() {
	if [ "$2" -ne 0 ]; then
		grep -qE "Can't produce a report" <<<"$1" || return 1
	else
		grep -qE "$PERFTEST_INF_RE" <<<"$1" || return 1
	fi
	! grep -vE "$PERFTEST_CLOCK_RE" <<<"$1" | grep -qiE "$PERFTEST_ERROR_RE"
}
# perftest_peer_gone OUT RC: this side failed only because its peer left.
perftest_peer_gone() {
	[ "$2" -ne 0 ] || return 1
	grep -qE "$PERFTEST_PEER_GONE_RE" <<<"$1" || return 1
	! grep -vE "$PERFTEST_PEER_GONE_RE" <<<"$1" | grep -qiE "$PERFTEST_ERROR_RE"
}
# perftest_clean_but_clock SERVER_OUT SERVER_RC CLIENT_OUT CLIENT_RC: the
# pair failed, and only because of perftest's clock (see above). A side
# that lost its peer at the end is excused only by a peer that left early,
# i.e. exited 1 unable to report (not one that exited 0 reporting "inf").
perftest_clean_but_clock() {
	local s_clock=0 c_clock=0
	perftest_clock_failed "$1" "$2" && s_clock=1
	perftest_clock_failed "$3" "$4" && c_clock=1
	[ $s_clock = 1 ] || [ $c_clock = 1 ] || return 1
	[ "$2" -eq 0 ] || [ $s_clock = 1 ] ||
		{ [ $c_clock = 1 ] && [ "$4" -ne 0 ] &&
		  perftest_peer_gone "$1" "$2"; } || return 1
	[ "$4" -eq 0 ] || [ $c_clock = 1 ] ||
		{ [ $s_clock = 1 ] && [ "$2" -ne 0 ] &&
		  perftest_peer_gone "$3" "$4"; } || return 1
}
perftest_counter() {
	local f v out=()
	for f in ${PERFTEST_COUNTER:-}; do
		v=0
		read -r v <"$f"
		out+=("${v:-0}")
	done
	echo "${out[*]}"
}
# perftest_delta BEFORE AFTER: element-wise AFTER - BEFORE.
perftest_delta() {
	local b=($1) a=($2) i out=()
	for i in "${!a[@]}"; do
		out+=($((a[i] - ${b[i]:-0})))
	done
	echo "${out[*]}"
}
run_perftest() {
	local port=$1 tool=$2 try tries=${PERFTEST_TRIES:-2} before
	shift 2
	UNCALIBRATED=0
	for ((try = 1; try <= tries; try++)); do
		PORT_USED=$port
		before=$(perftest_counter)
		# shellcheck disable=SC2086 # PERFTEST_WRAP: words
		run_pair "$port" ${PERFTEST_WRAP:-} "$tool" "$@" -p "$port" -- \
			${PERFTEST_WRAP:-} "$tool" "$@" -p "$port" localhost
		COUNTED=$(perftest_delta "$before" "$(perftest_counter)")
		UNCALIBRATED=0
		[ "$SERVER_RC" -eq 0 ] && [ "$CLIENT_RC" -eq 0 ] &&
			! grep -qE "$PERFTEST_INF_RE" <<<"$SERVER_OUT"$'\n'"$CLIENT_OUT" &&
			return
		perftest_clean_but_clock "$SERVER_OUT" "$SERVER_RC" \
			"$CLIENT_OUT" "$CLIENT_RC" || return
		UNCALIBRATED=1
		echo "$tool: perftest's clock calibration failed (try $try of $tries)" >&2
		port=$((port + 1))
	done
}

# wait_sending DEV COMM: wait (up to 60 s) until two QPs of processes named
# COMM exist on DEV, one of them in RTS, and DEV's write_bytes counter
# grows: a pair is moving data (RDMA writes). Not a fixed sleep: the debug
# kernel takes seconds to set a pair up. Leaves QP_RES, what rdma res said
# last.
wait_sending() {
	local qps sending deadline=$((SECONDS + 60)) c0 c1
	local counter=/sys/class/infiniband/$1/ports/1/hw_counters/write_bytes
	read -r c0 <"$counter" || return 1
	while [ $SECONDS -lt $deadline ]; do
		QP_RES=$(rdma res show qp link "$1/1" 2>&1)
		qps=$(grep -c "comm $2" <<<"$QP_RES")
		sending=$(grep -c "state RTS.*comm $2" <<<"$QP_RES")
		read -r c1 <"$counter"
		[ "$qps" -ge 2 ] && [ "$sending" -ge 1 ] && [ "$c1" -gt "$c0" ] &&
			return 0
		sleep 0.2
	done
	QP_RES="$QP_RES (write_bytes $c0 -> $c1)"
	return 1
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
