#!/usr/bin/env bash
# shellcheck disable=SC2046  # word splitting of value lists is intended
# iperf3 goodput from Linux through a TAP device to tern, against Linux to
# Linux over a veth pair, with the CPU each costs per byte.
#
#   bench/tcp_tap.sh RUNS SECONDS [TABLE]
#
#   tern:  namespace A: iperf3 -c --> TAP (MTU 1500) --> `tern host --iperf3 5201`
#   Linux: namespace B: iperf3 -c --> veth (MTU 1500) --> namespace C: iperf3 -s
#
# Both directions: Linux's iperf3 client sends (the server receives), and
# with -R the server sends (tern sends through the TAP, Linux over the
# veth).  RUNS pairs of runs alternate tern and Linux for each direction,
# each an iperf3 test of SECONDS.  Goodput is iperf3's sum_received.
# CPU per byte: the user + system time of the processes doing the work --
# the iperf3 client (its JSON's host_total), the server (tern host or
# iperf3 -s, from /proc/PID/stat) and the ksoftirqd threads -- over the
# test, divided by the bytes received.  This kernel has no
# CONFIG_IRQ_TIME_ACCOUNTING, so softirq work (TCP/IP receive, the veth's
# NAPI) is charged to the process it interrupts, or to ksoftirqd: work done
# while an unrelated process ran is missed.  The raw lines and the table
# also give the busy time of the whole machine (/proc/stat: user, nice,
# system, irq, softirq), which includes whatever else the machine runs.
# Nothing is pinned: each side may use every CPU.
# TABLE (if given) receives the markdown table, TABLE.settings the settings.
# Needs root, ip, iperf3, python3 (exits 77 otherwise).  TERN names the tern
# binary (default build/tern).
cd "$(dirname "$0")/.." || exit 1
. bench/lib.sh
require_root
require_cmd ip iperf3 python3

RUNS=${1:-3}
SECS=${2:-10}
TABLE=${3:-}
NAME=btap$$ # tern control sockets are global: unique per run
HZ=$(getconf CLK_TCK)

ns_new NS_T btap
tern_start "$NS_T" "$NAME" --tap btap0 --addr 198.18.20.2/24 --iperf3 5201
linux_addr "$NS_T" btap0 198.18.20.1/24
eval "TPID=\$PID_$NAME" # tern_start sets PID_<name>
: "${TPID:?}"
ns_new NS_C btvc
ns_new NS_S btvs
ip -n "$NS_C" link add btv0 type veth peer name btv1 || fail "veth"
ip -n "$NS_C" link set btv1 netns "$NS_S"
linux_addr "$NS_C" btv0 198.18.21.1/24
linux_addr "$NS_S" btv1 198.18.21.2/24
ip netns exec "$NS_S" iperf3 -s -p 5201 >"$IT_TMP/iperf3-s.log" 2>&1 &
LPID=$! # ip netns exec execs iperf3: this is the server's pid
IT_PIDS+=("$LPID")
sleep 0.5
tapinfo=$(ip -n "$NS_T" -d link show btap0 | grep -o "tun type tap pi [a-z]* vnet_hdr [a-z]*" | head -1)

# busy_ticks: busy jiffies of all CPUs (user nice system irq softirq)
busy_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8; exit}' /proc/stat; }
steal_ticks() { awk '$1 == "cpu" {print $9; exit}' /proc/stat; }
# proc_ticks PID... : user + system jiffies of these processes, summed
proc_ticks() {
	local p t=0 v
	for p in "$@"; do
		v=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) && t=$((t + v))
	done
	echo "$t"
}
SOFTIRQD=$(pgrep '^ksoftirqd/' | tr '\n' ' ')

# one_run MODE DIR : one iperf3 test; prints a raw result line
one_run() {
	local mode=$1 dir=$2 f="$IT_TMP/run.json" b0 b1 p0 p1 q0 q1 s0 s1 ns addr srv rflag=
	[ "$dir" = recv ] && rflag=-R
	if [ "$mode" = tern ]; then ns=$NS_T addr=198.18.20.2 srv=$TPID; else ns=$NS_C addr=198.18.21.2 srv=$LPID; fi
	# shellcheck disable=SC2086
	b0=$(busy_ticks) s0=$(steal_ticks) p0=$(proc_ticks "$srv") q0=$(proc_ticks $SOFTIRQD)
	ip netns exec "$ns" timeout $((SECS + 30)) iperf3 -c "$addr" -p 5201 -t "$SECS" $rflag -J >"$f" ||
		fail "$mode $dir: $(head -c 300 "$f")"
	# shellcheck disable=SC2086
	b1=$(busy_ticks) s1=$(steal_ticks) p1=$(proc_ticks "$srv") q1=$(proc_ticks $SOFTIRQD)
	python3 - "$f" "$HZ" "$((b1 - b0))" "$((p1 - p0))" "$((q1 - q0))" "$((s1 - s0))" <<'PY'
import json, sys
f = sys.argv[1]
hz, busy, srv, sirq, steal = (int(x) for x in sys.argv[2:])
d = json.load(open(f))
if "error" in d:
    sys.exit("iperf3: " + d["error"])
e = d["end"]
rcv = e["sum_received"]
secs = rcv["seconds"] or 1
b = rcv["bytes"] or 1
# the client's own user + system time over the test, as iperf3 reports it
client = e["cpu_utilization_percent"]["host_total"] / 100 * e["sum_sent"]["seconds"]
procs = client + (srv + sirq) / hz
print("gbps=%.3f bytes=%d secs=%.2f cpu_ns_per_byte=%.3f cores=%.2f client_s=%.2f server_s=%.2f ksoftirqd_s=%.2f"
      " machine_busy_cores=%.2f machine_ns_per_byte=%.3f steal_s=%.2f retrans=%s"
      % (rcv["bits_per_second"] / 1e9, b, secs, procs * 1e9 / b, procs / secs, client, srv / hz, sirq / hz,
         busy / hz / secs, busy / hz * 1e9 / b, steal / hz, e["sum_sent"].get("retransmits", "?")))
PY
}

echo "tcp_tap: $RUNS alternating runs of ${SECS}s per mode and direction; tern's TAP: $tapinfo"
rows=()
for dir in send recv; do
	tl=() kl=() pr=() cr=()
	for i in $(seq "$RUNS"); do
		t=$(one_run tern "$dir") || fail "$t"
		k=$(one_run linux "$dir") || fail "$k"
		echo "  $dir run $i: tern  $t"
		echo "  $dir run $i: linux $k"
		tl+=("$t") kl+=("$k")
		pr+=("$(div "$(field gbps "$t")" "$(field gbps "$k")")")
		cr+=("$(div "$(field cpu_ns_per_byte "$t")" "$(field cpu_ns_per_byte "$k")")")
	done
	read -r tg tmin tmax <<<"$(stats $(vals gbps "${tl[@]}"))"
	read -r kg kmin kmax <<<"$(stats $(vals gbps "${kl[@]}"))"
	tc=$(median $(vals cpu_ns_per_byte "${tl[@]}"))
	kc=$(median $(vals cpu_ns_per_byte "${kl[@]}"))
	tco=$(median $(vals cores "${tl[@]}"))
	kco=$(median $(vals cores "${kl[@]}"))
	tt=$(median $(vals server_s "${tl[@]}"))
	tm=$(median $(vals machine_busy_cores "${tl[@]}"))
	km=$(median $(vals machine_busy_cores "${kl[@]}"))
	read -r _ plo phi <<<"$(stats "${pr[@]}")"
	read -r _ clo chi <<<"$(stats "${cr[@]}")"
	if [ "$dir" = send ]; then
		what="Linux sends, the iperf3 server receives"
		tlab="Linux iperf3 -c -> TAP -> tern"
		klab="Linux iperf3 -c -> veth -> Linux iperf3 -s"
	else
		what="the iperf3 server sends (-R)"
		tlab="tern -> TAP -> Linux iperf3 -c -R"
		klab="Linux iperf3 -s -> veth -> Linux iperf3 -c -R"
	fi
	rows+=("| $what | $tlab | $(fmt "$tg" 2) | $(fmt "$tmin" 2)-$(fmt "$tmax" 2) | $(fmt "$tco" 2) (tern host $(fmt "$(div "$tt" "$SECS")" 2)) | $(fmt "$tc" 2) | $(fmt "$tm" 2) |")
	rows+=("| | $klab | $(fmt "$kg" 2) | $(fmt "$kmin" 2)-$(fmt "$kmax" 2) | $(fmt "$kco" 2) | $(fmt "$kc" 2) | $(fmt "$km" 2) |")
	rows+=("| | **TAP to tern / veth** | **$(fmt "$(div "$tg" "$kg")" 2)x** | pairs $(fmt "$plo" 2)-$(fmt "$phi" 2)x | | **$(fmt "$(div "$tc" "$kc")" 2)x** (pairs $(fmt "$clo" 2)-$(fmt "$chi" 2)x) | |")
	echo "  $dir: tern $(fmt "$tg" 2) Gbit/s at $(fmt "$tc" 2) CPU ns/B, Linux $(fmt "$kg" 2) Gbit/s at $(fmt "$kc" 2) CPU ns/B"
done

table=$(
	echo "| direction | path | median Gbit/s | min-max | CPU of the benchmark (cores) | CPU ns per byte | whole machine busy (cores) |"
	echo "|---|---|---:|---:|---:|---:|---:|"
	printf '%s\n' "${rows[@]}"
)
echo
echo "$table"
settings="$RUNS alternating runs of $SECS s per mode and direction, iperf3 $(iperf3 --version | head -1 | awk '{print $2}') with default settings, MTU 1500 on both links, not pinned; CPU per byte = user + system time of the iperf3 client (its JSON), the server (tern host or iperf3 -s, /proc/PID/stat) and the ksoftirqd threads over each test, divided by the bytes received; tern's TAP: \`$tapinfo\`; $(nproc) CPUs, $(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), Linux $(uname -r)"
if [ -n "$TABLE" ]; then
	echo "$table" >"$TABLE"
	echo "$settings" >"$TABLE.settings"
fi
