# Shared helpers for interop tests: namespaces the test creates and always
# removes, tern hosts started inside them, and checks.  Addresses: 198.18.0.0/15 only.
set -uo pipefail
TERN=${TERN:-build/tern}
TERN=$(readlink -f "$TERN")
IT_PREFIX="tern-it-$$"
IT_NS=()
IT_PIDS=()
IT_TMP=$(mktemp -d)

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }

require_root() { [ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces and TAP devices)"; }
require_cmd() { for c in "$@"; do command -v "$c" >/dev/null || skip "$c not installed (scripts/install-deps installs it)"; done; }

it_cleanup() {
	for p in "${IT_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${IT_PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
	done
	for ns in "${IT_NS[@]}"; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$IT_TMP"
}
trap it_cleanup EXIT

# ns_new VAR SUFFIX : create a namespace and store its name in VAR (not in a
# subshell, so the EXIT trap knows to remove it).
ns_new() {
	local _n="$IT_PREFIX-$2"
	ip netns add "$_n" || fail "ip netns add $_n"
	IT_NS+=("$_n")
	ip netns exec "$_n" ip link set lo up
	printf -v "$1" '%s' "$_n"
}

# tern_start NS NAME ARGS... : start `tern host --name NAME ARGS` in NS, wait
# until its control socket answers.  Output goes to $IT_TMP/NAME.out.
tern_start() {
	local ns=$1 name=$2; shift 2
	ip netns exec "$ns" "$TERN" host --name "$name" "$@" >"$IT_TMP/$name.out" 2>"$IT_TMP/$name.err" &
	local pid=$!
	IT_PIDS+=("$pid")
	eval "PID_$name=$pid"
	for _ in $(seq 100); do
		if "$TERN" -n "$name" stat >/dev/null 2>&1; then return 0; fi
		kill -0 "$pid" 2>/dev/null || { cat "$IT_TMP/$name.err"; fail "tern host $name exited"; }
		sleep 0.1
	done
	cat "$IT_TMP/$name.err"
	fail "tern host $name did not come up"
}

# tern_stop NAME : SIGTERM and wait; returns tern's exit status.
tern_stop() {
	local pid
	eval "pid=\$PID_$1"
	kill -TERM "$pid"
	wait "$pid"
}

# nstat NAME COUNTER -> value (0 if absent)
nstat() {
	"$TERN" -n "$1" stat --nstat | awk -v k="$2" '$1 == k { print $2; f=1 } END { if (!f) print 0 }'
}

# linux_addr NS IF ADDR/N : configure the kernel side of a tap.
linux_addr() {
	ip netns exec "$1" ip addr add "$3" dev "$2" || fail "ip addr add $3 dev $2"
	ip netns exec "$1" ip link set "$2" up
}

# iperf3_check NS ADDR MODE ARGS... : Linux's iperf3 client in NS against
# ADDR (--json); fails unless both ends counted bytes, and for a MODE
# starting with "bytes" (a -n run) the same bytes; prints the figures.
iperf3_check() {
	local ns=$1 addr=$2 mode=$3; shift 3
	ip netns exec "$ns" timeout 60 iperf3 -c "$addr" --json "$@" >"$IT_TMP/$mode.json" 2>&1 ||
		{ echo "iperf3 $*: $(tail -5 "$IT_TMP/$mode.json")"; return 1; }
	python3 - "$IT_TMP/$mode.json" "$mode" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); mode = sys.argv[2]
if "error" in r:
    sys.exit("iperf3: " + r["error"])
s, v = r["end"]["sum_sent"], r["end"]["sum_received"]
if s["bytes"] <= 0 or v["bytes"] <= 0:
    sys.exit(f"{mode}: no bytes")
if mode.startswith("bytes") and s["bytes"] != v["bytes"]:
    sys.exit(f"{mode}: sent {s['bytes']} but received {v['bytes']}")
print(f"sent {s['bytes']} B, received {v['bytes']} B, {v['bits_per_second'] / 1e9:.2f} Gbit/s"
      + (f", {s['retransmits']} retransmits" if "retransmits" in s else ""))
PY
}
