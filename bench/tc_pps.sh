#!/usr/bin/env bash
# shellcheck disable=SC2046  # word splitting of value lists is intended
# Small UDP packets per second forwarded through a shaped device: a tern
# router against a Linux router (a namespace with ip_forward) with the
# same qdisc on the same egress, in the same run.
#
#   bench/tc_pps.sh RUNS SECONDS [TABLE]
#
#   tern:  A: udp_flood --> TAP --> tern host --forward --> TAP --> B
#   Linux: A: udp_flood --> veth --> R (Linux forwards) --> veth --> B
#
# The qdisc goes on the router's device towards B (tern tc on tern's TAP,
# tc on R's veth), from the same tc lines.  A floods 64-byte datagrams
# (bench/udp_flood.c: sendmmsg on a kernel socket, 106-byte frames) to a
# socket bound in B that nobody reads (so B sends no ICMP errors back); the
# figure is the frames the router delivered, B's interface rx_packets over
# the middle of the run (a second off either end), per second.  (iperf3
# -u was tried first: its loss count calls everything after the last
# datagram received delivered, which a deep queue inflates, and its TCP
# control connection crosses the flooded queue and timed out.)
# Qdiscs at 1gbit (1.18 M frames/s, more than either router forwards
# here: the qdisc's work is in the path but the rate does not bind; htb
# with tc's default burst, 14 us of tokens at that rate, and with 64k) and
# at 20mbit (23,585 frames/s: the rate binds, both should deliver it).
# RUNS pairs of runs alternate tern and Linux for each qdisc; a qdisc the
# kernel lacks is run on tern alone and marked so.  Also reported: the
# tern host's CPU (cores) over its runs, since one thread does its work.
# The sender is pinned to CPU 0 (taskset), the rest is not: Linux forwards
# in the sender's softirq, on its CPU; tern's router is a thread of its
# own.  The whole machine's busy time is recorded: other work on this
# machine changes the figures.
# TABLE (if given) receives the markdown table, TABLE.settings the settings.
# Needs root, ip, tc, python3 (exits 77 otherwise).  TERN names the tern
# binary (default build/tern), FLOOD the sender (default udp_flood in the
# same build directory).
cd "$(dirname "$0")/.." || exit 1
. bench/lib.sh
require_root
require_cmd ip tc python3
FLOOD=${FLOOD:-$(dirname "$TERN")/bench/udp_flood}
[ -x "$FLOOD" ] || skip "no $FLOOD (make tests builds it)"

RUNS=${1:-3}
SECS=${2:-5}
[ "$SECS" -ge 3 ] || fail "SECONDS: at least 3 (a second off either end is not counted)"
TABLE=${3:-}
NAME=bpps$$ # tern control sockets are global: unique per run
HZ=$(getconf CLK_TCK)
TA=bpa$$ TB=bpb$$

# tern: the router's TAPs, A's end in NS_TA, B's moved to NS_TB
ns_new NS_TA pta
ns_new NS_TB ptb
tern_start "$NS_TA" "$NAME" --tap "$TA" --addr 198.18.50.2/24 --tap "$TB" --addr 198.18.51.2/24 --forward
eval "TPID=\$PID_$NAME"
: "${TPID:?}"
ip -n "$NS_TA" link set "$TB" netns "$NS_TB" || fail "move $TB"
linux_addr "$NS_TA" "$TA" 198.18.50.1/24
linux_addr "$NS_TB" "$TB" 198.18.51.1/24
ip -n "$NS_TA" route add 198.18.51.0/24 via 198.18.50.2
ip -n "$NS_TB" route add default via 198.18.51.2
# Linux: A - R - B over two veth pairs
ns_new NS_LA pla
ns_new NS_LR plr
ns_new NS_LB plb
veth_router "$NS_LA" "$NS_LR" "$NS_LB" bpla0 bplr0 bplr1 bplb0 198.18.52.1/24 198.18.52.2/24 198.18.53.2/24 198.18.53.1/24
for ns in "$NS_TB" "$NS_LB"; do # a bound socket: no ICMP port unreachable
	ip netns exec "$ns" python3 -c 'import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 9000))
time.sleep(100000)' &
	IT_PIDS+=("$!")
done
sleep 0.5
ip netns exec "$NS_TA" ping -c 1 -W 2 198.18.51.1 >/dev/null || fail "no path through the tern router"
ip netns exec "$NS_LA" ping -c 1 -W 2 198.18.53.1 >/dev/null || fail "no path through the Linux router"

# Each case: a label and tc lines (DEV: the router's device towards B).
CASES=(
	"pfifo_fast|qdisc add dev DEV root handle 1: pfifo_fast"
	"tbf 1gbit|qdisc add dev DEV root handle 1: tbf rate 1gbit burst 256k latency 10ms"
	"htb 1gbit|qdisc add dev DEV root handle 1: htb default 1;class add dev DEV parent 1: classid 1:1 htb rate 1gbit"
	"htb 1gbit burst 64k|qdisc add dev DEV root handle 1: htb default 1;class add dev DEV parent 1: classid 1:1 htb rate 1gbit burst 64k cburst 64k"
	"fq_codel|qdisc add dev DEV root handle 1: fq_codel"
	"htb 20mbit|qdisc add dev DEV root handle 1: htb default 1;class add dev DEV parent 1: classid 1:1 htb rate 20mbit"
	"htb 20mbit + fq_codel|qdisc add dev DEV root handle 1: htb default 1;class add dev DEV parent 1: classid 1:1 htb rate 20mbit;qdisc add dev DEV parent 1:1 handle 10: fq_codel"
)

# set_qdisc MODE LINES : replace the router's egress qdisc; non-zero if
# the kernel refuses (a qdisc it lacks).
set_qdisc() {
	local f="$IT_TMP/case.tc"
	if [ "$1" = tern ]; then
		"$TERN" tc -n "$NAME" qdisc del dev "$TB" root >/dev/null 2>&1
		tr ';' '\n' <<<"$2" | sed "s/DEV/$TB/g" >"$f"
		"$TERN" tc -n "$NAME" -f "$f" >"$IT_TMP/tc.err" 2>&1 || fail "tern tc: $(cat "$IT_TMP/tc.err")"
	else
		ip netns exec "$NS_LR" tc qdisc del dev bplr1 root 2>/dev/null
		tr ';' '\n' <<<"$2" | sed "s/DEV/bplr1/g" >"$f"
		ip netns exec "$NS_LR" tc -batch "$f" >"$IT_TMP/tc.err" 2>&1
	fi
}

proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# busy jiffies of all CPUs (user nice system irq softirq): the whole machine
busy_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8; exit}' /proc/stat; }
# the flood runs on CPU 0 (its kernel work too: for Linux, the whole path)
if command -v taskset >/dev/null; then PIN=(taskset -c 0) PINNED="the sender pinned to CPU 0"; else PIN=() PINNED="nothing pinned"; fi

rx_packets() { ip netns exec "$1" cat "/sys/class/net/$2/statistics/rx_packets"; }
now() { date +%s.%N; }

# one_run MODE : one flood; prints a raw result line
one_run() {
	local ns addr bns bdev f="$IT_TMP/flood.out" fpid p0 p1 c0 c1 t0 t1
	if [ "$1" = tern ]; then
		ns=$NS_TA addr=198.18.51.1 bns=$NS_TB bdev=$TB
	else
		ns=$NS_LA addr=198.18.53.1 bns=$NS_LB bdev=bplb0
	fi
	ip netns exec "$ns" "${PIN[@]}" "$FLOOD" "$addr" 9000 "$SECS" >"$f" 2>&1 &
	fpid=$!
	sleep 1
	c0=$(rx_packets "$bns" "$bdev") t0=$(now) p0=$(proc_ticks "$TPID") b0=$(busy_ticks)
	sleep $((SECS - 2))
	c1=$(rx_packets "$bns" "$bdev") t1=$(now) p1=$(proc_ticks "$TPID") b1=$(busy_ticks)
	wait "$fpid" || fail "$1: udp_flood: $(cat "$f")"
	awk -v c=$((c1 - c0)) -v t0="$t0" -v t1="$t1" -v p=$((p1 - p0)) -v b=$((b1 - b0)) -v hz="$HZ" \
		-v line="$(cat "$f")" 'BEGIN {
		split(line, w, /[ =]/); for (i = 1; i < length(w); i += 2) v[w[i]] = w[i + 1]
		printf "rx_pps=%.0f tx_pps=%.0f window_s=%.2f tern_host_cores=%.2f machine_busy_cores=%.2f\n",
			c / (t1 - t0), v["pps"], t1 - t0, p / hz / (t1 - t0), b / hz / (t1 - t0) }'
}

echo "tc_pps: $RUNS alternating runs of ${SECS}s per qdisc and router"
rows=() busy=()
for c in "${CASES[@]}"; do
	label=${c%%|*} lines=${c#*|}
	tl=() kl=() pr=()
	set_qdisc tern "$lines"
	linux_ok=1
	set_qdisc linux "$lines" || linux_ok=0
	[ $linux_ok = 1 ] || echo "  $label: Linux: $(grep -m1 -i error "$IT_TMP/tc.err"); tern alone"
	for i in $(seq "$RUNS"); do
		t=$(one_run tern) || fail "$t"
		echo "  $label run $i: tern  $t"
		tl+=("$t")
		if [ $linux_ok = 1 ]; then
			k=$(one_run linux) || fail "$k"
			echo "  $label run $i: linux $k"
			kl+=("$k")
			pr+=("$(div "$(field rx_pps "$t")" "$(field rx_pps "$k")")")
		fi
	done
	read -r tg tmin tmax <<<"$(stats $(vals rx_pps "${tl[@]}"))"
	toff=$(median $(vals tx_pps "${tl[@]}"))
	tcores=$(median $(vals tern_host_cores "${tl[@]}"))
	mapfile -t -O "${#busy[@]}" busy < <(vals machine_busy_cores "${tl[@]}" "${kl[@]}")
	if [ $linux_ok = 1 ]; then
		read -r kg kmin kmax <<<"$(stats $(vals rx_pps "${kl[@]}"))"
		koff=$(median $(vals tx_pps "${kl[@]}"))
		read -r _ plo phi <<<"$(stats "${pr[@]}")"
		rows+=("| $label | $(kpps "$tg") | $(kpps "$tmin")-$(kpps "$tmax") | $(kpps "$toff") | $(fmt "$tcores" 2) | $(kpps "$kg") | $(kpps "$kmin")-$(kpps "$kmax") | $(kpps "$koff") | **$(fmt "$(div "$tg" "$kg")" 2)x** | $(fmt "$plo" 2)-$(fmt "$phi" 2)x |")
		echo "  $label: tern $(kpps "$tg") k pps, Linux $(kpps "$kg") k pps: $(fmt "$(div "$tg" "$kg")" 2)x"
	else
		rows+=("| $label | $(kpps "$tg") | $(kpps "$tmin")-$(kpps "$tmax") | $(kpps "$toff") | $(fmt "$tcores" 2) | n/a (no such qdisc in this kernel) | | | | |")
		echo "  $label: tern $(kpps "$tg") k pps; Linux n/a"
	fi
done

table=$(
	echo "| router egress qdisc | tern k pps forwarded | min-max | offered | tern host cores | Linux k pps forwarded | min-max | offered | tern / Linux | per-run pairs |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|"
	printf '%s\n' "${rows[@]}"
)
echo
echo "$table"
settings="$RUNS alternating runs of $SECS s per qdisc and router (tern first), bench/udp_flood sending 64-byte datagrams (106-byte frames) from A to B through the router as fast as sendmmsg takes them (offered: its median rate), forwarded = B's interface rx_packets over the run less a second at either end, $PINNED; whole machine busy during the runs: median $(fmt "$(median "${busy[@]}")" 2) cores; 20mbit is 23,585 frames/s; $(nproc) CPUs, $(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), Linux $(uname -r)"
if [ -n "$TABLE" ]; then
	echo "$table" >"$TABLE"
	echo "$settings" >"$TABLE.settings"
fi
