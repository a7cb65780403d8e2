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

# thread_cpus NAME -> the CPUs each of the host's threads may run on
# (Cpus_allowed_list), one line a thread, sorted
thread_cpus() {
	local pid
	eval "pid=\$PID_$1"
	cat /proc/"$pid"/task/*/status | awk '/^Cpus_allowed_list:/ { print $2 }' | sort
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

# require_af_xdp : skip unless this tern was built with its AF_XDP driver
# (a tern built where libxdp-dev/libbpf-dev were missing has none).
require_af_xdp() {
	local probe
	probe=$(timeout 10 "$TERN" host --name "axprobe$$" --dev "axnone$$" --driver af_xdp --addr 198.18.46.9/24 2>&1)
	if [[ "$probe" == *"built without libxdp"* ]]; then
		skip "tern was built without libxdp/libbpf (scripts/install-deps installs libxdp-dev libbpf-dev)"
	fi
}

# veth_for_tern NSL VL NST VT ADDR/N [QUEUES] : a veth pair, Linux's end VL
# in NSL with ADDR/N, tern's end VT in NST, both up (QUEUES rx and tx queues
# on each end if given).  tern takes VT's MAC: the kernel is kept quiet on
# it (no ARP, no IPv6 neighbour discovery, no forwarding of tern's traffic).
veth_for_tern() {
	local nsl=$1 vl=$2 nst=$3 vt=$4 a=$5 q=()
	[ -n "${6:-}" ] && q=(numtxqueues "$6" numrxqueues "$6")
	ip link add "$vl" "${q[@]}" netns "$nsl" type veth peer name "$vt" "${q[@]}" netns "$nst" ||
		skip "cannot create a veth pair${6:+ with $6 queues}"
	ip -n "$nsl" addr add "$a" dev "$vl"
	ip -n "$nsl" link set "$vl" up
	ip -n "$nst" link set "$vt" up arp off
	ip netns exec "$nst" sysctl -qw "net.ipv6.conf.$vt.disable_ipv6=1" 2>/dev/null
	ip netns exec "$nst" sysctl -qw net.ipv4.ip_forward=0
}

# check_mac HOST NS IF : tern's HOST uses the MAC of IF (in NS).
check_mac() {
	"$TERN" -n "$1" addr | grep -q "link/ether $(ip netns exec "$2" cat "/sys/class/net/$3/address")" ||
		fail "tern does not use the interface's MAC: $("$TERN" -n "$1" addr)"
}

# check_ping NS ADDR : five pings from NS, none lost.
check_ping() {
	local out
	out=$(ip netns exec "$1" ping -c 5 -i 0.2 -W 2 "$2" 2>&1) || fail "ping: $out"
	echo "$out" | grep -q " 0% packet loss" || fail "ping loss: $out"
	ok "ping: $(echo "$out" | tail -1)"
}

# check_flood_ping NS ADDR : ping -f -c 2000 from NS, at least 1980 answered.
check_flood_ping() {
	local out rcvd
	out=$(ip netns exec "$1" ping -f -c 2000 -W 2 "$2" 2>&1) || fail "flood ping: $out"
	rcvd=$(echo "$out" | sed -n 's/.* \([0-9]*\) received.*/\1/p')
	[ "${rcvd:-0}" -ge 1980 ] || fail "flood ping: $out"
	ok "flood ping: $rcvd of 2000 answered; $(echo "$out" | tail -1)"
}

# check_curl_sha NS ADDR : curl in NS fetches tern's /gen/26 (the alphabet)
# and /gen/3000000, whose SHA-256 must match the generator's pattern.
check_curl_sha() {
	local body want got
	body=$(ip netns exec "$1" curl -sS --max-time 10 "http://$2/gen/26") || fail "curl"
	[ "$body" = "abcdefghijklmnopqrstuvwxyz" ] || fail "curl /gen/26 returned: $body"
	want=$(python3 - <<'PY'
import hashlib
n = 3000000; pat = b"abcdefghijklmnopqrstuvwxyz0123456789\n"
print(hashlib.sha256((pat * (n // 37 + 1))[:n]).hexdigest())
PY
)
	got=$(ip netns exec "$1" curl -sS --max-time 30 "http://$2/gen/3000000" | sha256sum | cut -c1-64)
	[ "$got" = "$want" ] || fail "curl of 3 MB: SHA-256 differs"
	ok "curl: a page and 3 MB (SHA-256 matches)"
}

# curl_many NS URL COUNT PARALLEL SIZE : COUNT fetches of URL from NS,
# PARALLEL at a time; each must return SIZE bytes.
curl_many() {
	local ns=$1 url=$2 n=$3 par=$4 size=$5
	seq 1 "$n" | ip netns exec "$ns" xargs -P "$par" -I{} sh -c "curl -sS --max-time 10 $url | wc -c" \
		>"$IT_TMP/sizes" || fail "curl $url: $(sort "$IT_TMP/sizes" | uniq -c)"
	[ "$(grep -c "^$size\$" "$IT_TMP/sizes")" = "$n" ] || fail "curl $url: sizes $(sort "$IT_TMP/sizes" | uniq -c)"
}

# check_uploads NS ADDR : 8 POSTs of 300 kB to tern's /echo from NS, 4 at a
# time, each body echoed back intact.
check_uploads() {
	head -c 300000 /dev/urandom >"$IT_TMP/up"
	seq 1 8 | ip netns exec "$1" xargs -P 4 -I{} sh -c "curl -sS --max-time 10 --data-binary @$IT_TMP/up \
		http://$2/echo -o $IT_TMP/back{} && cmp -s $IT_TMP/up $IT_TMP/back{}" ||
		fail "POST /echo: a body came back different"
	ok "curl: 8 uploads of 300 kB echoed back intact"
}

# iperf3_both NS ADDR MODE ARGS... : iperf3_check MODE-up ARGS (Linux sends),
# then MODE-down -R ARGS (tern sends); an ok line for each.  For MODE bytes
# (ARGS with -n: the byte counts must agree) the lines say who sends.
iperf3_both() {
	local ns=$1 addr=$2 mode=$3 fig up='' down=''
	shift 3
	[ "$mode" = bytes ] && up=" (Linux sends)" down=" (tern sends)"
	fig=$(iperf3_check "$ns" "$addr" "$mode-up" "$@") || fail "$fig"
	ok "iperf3 $*$up: $fig"
	fig=$(iperf3_check "$ns" "$addr" "$mode-down" -R "$@") || fail "$fig"
	ok "iperf3 -R $*$down: $fig"
}

# check_udp_echo NS ADDR : datagrams of 1 to 20000 bytes (fragmenting ones
# too) from NS to tern's UDP echo at ADDR come back intact.
check_udp_echo() {
	local out
	cat >"$IT_TMP/udp.py" <<'PY'
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.connect((sys.argv[1], 7))
for size in (1, 64, 512, 1472, 1473, 3000, 8000, 20000):
    data = os.urandom(size)
    for attempt in range(3):
        s.send(data)
        try:
            back = s.recv(65536)
            break
        except socket.timeout:
            continue
    else:
        sys.exit("no echo for %d bytes" % size)
    if back != data:
        sys.exit("echo differs for %d bytes" % size)
print("UDP echo of 1..20000 bytes intact")
PY
	out=$(ip netns exec "$1" python3 "$IT_TMP/udp.py" "$2" 2>&1) || fail "$out"
	ok "$out"
}

# ok_dev_counters HOST : report the device counters of tern's HOST.
ok_dev_counters() {
	ok "device counters: $("$TERN" -n "$1" addr | grep "RX:")"
}

# check_services NS ADDR HOST : from NS, against tern's HOST at ADDR
# (started with --http 80 --udp-echo 7 --iperf3 5201): check_ping,
# check_flood_ping, check_curl_sha, iperf3 -n 200M and -t 3 both ways,
# check_udp_echo; then its device counters.
check_services() {
	check_ping "$1" "$2"
	check_flood_ping "$1" "$2"
	check_curl_sha "$1" "$2"
	iperf3_both "$1" "$2" bytes -n 200M
	iperf3_both "$1" "$2" time -t 3
	check_udp_echo "$1" "$2"
	ok_dev_counters "$3"
}

# stop_clean HOST [LINE] : SIGTERM; tern's HOST must exit 0 having printed
# LINE (default "counters at exit").
stop_clean() {
	tern_stop "$1" || fail "tern host exited with $? on SIGTERM"
	grep -q "${2:-counters at exit}" "$IT_TMP/$1.out" || fail "no clean shutdown: $(tail -3 "$IT_TMP/$1.out")"
}

# dev_deleted_under NS IF HOST [WHAT] : delete IF (in NS) under tern's
# running HOST, which must say so and exit 0 within 5 s, cleanly.  WHAT
# names IF in the failures (default "interface").
dev_deleted_under() {
	local ns=$1 dev=$2 host=$3 what=${4:-interface} pid rc
	eval "pid=\$PID_$host"
	ip -n "$ns" link del "$dev" || fail "ip link del $dev"
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$pid" 2>/dev/null && fail "tern host still running 5 s after its $what was deleted"
	wait "$pid"
	rc=$?
	[ $rc -eq 0 ] || fail "tern host exited with $rc after the $what went away"
	grep -q "interface $dev went away; stopping" "$IT_TMP/$host.err" || fail "no report: $(cat "$IT_TMP/$host.err")"
	grep -q "counters at exit" "$IT_TMP/$host.out" || fail "no clean shutdown: $(tail -3 "$IT_TMP/$host.out")"
}

# check_cores_stat HOST MIN_PASSIVE STEERING : `tern stat` of a --cores 2
# host has a per-core table in which both cores accepted connections and
# received frames, and sums at least MIN_PASSIVE passive openings.
# STEERING queues: each core has its own queue (AF_XDP, multi-queue TAP),
# so kept + handed over (frames off that queue) must be > 0; fanout: one
# PACKET_FANOUT group, so each core must have handed over or received one.
check_cores_stat() {
	local host=$1 min=$2 steering=$3 st line passive c
	st=$("$TERN" -n "$host" stat) || fail "stat"
	echo "$st" | grep -q '^Cores: 2' || fail "stat has no per-core table: $st"
	for c in 0 1; do
		line=$(echo "$st" | sed -n "/^Cores:/,\$p" | awk -v c=$c '$1 == c && NF == 9')
		[ -n "$line" ] || fail "stat: no line for core $c: $st"
		# shellcheck disable=SC2086
		set -- $line
		[ "$3" -gt 0 ] || fail "core $c served no connection: $line"
		if [ "$steering" = queues ]; then
			[ $(($6 + $7)) -gt 0 ] || fail "core $c's queue $c delivered nothing: $line"
			ok "core $c: $3 connections accepted, queue $c: $6 frames kept, $7 handed over; $8 received from the other core"
		else
			[ "$7" -gt 0 ] || [ "$8" -gt 0 ] || fail "core $c neither handed nor received a frame: $line"
			ok "core $c: $3 connections accepted, $4 TCP segments, steering: $6 local, $7 handed over, $8 received, $9 dropped"
		fi
	done
	passive=$(echo "$st" | sed -n 's/^ *\([0-9]*\) passive connection openings.*/\1/p')
	[ "${passive:-0}" -ge "$min" ] || fail "summed passive opens ${passive:-none} < $min"
	ok "stat sums the cores: $passive passive openings"
}
