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
	if wait_listen "$port"; then
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
