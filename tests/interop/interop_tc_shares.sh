# The same tc commands on tern's TAP and on a Linux veth, the same iperf3
# traffic (the shaped side sends: iperf3 -c -R), the same rates and shares:
# - htb: a 20 Mbit/s tree, leaves 1:10 (12mbit), 1:20 (4mbit) and the default
#   1:30 (4mbit), all ceil 20mbit, u32 filters on the iperf3 servers' source
#   ports 5201 -> 1:10 and 5202 -> 1:20.  Two flows at once: each gets its
#   rate plus a share of the 4 Mbit/s nobody owns by quantum (15 and 5);
#   the 1:20 flow alone borrows up to its ceil.  tern's and Linux's rate for
#   each flow agree within 5%, and so do the flows' shares.
# - fq_codel as the leaf of a 20 Mbit/s htb, two flows and a ping: the
#   flows share the rate evenly, and the rates agree with Linux's within 5%
#   where the kernel has sch_fq_codel (this one may not: then tern is
#   checked against the rate and the even share alone, and it says so).
# - for the record, the ping RTT through the htb with a fifo leaf, tern and
#   Linux (not asserted: see the comment there).
# A check that fails after a run that lost 10% or more of its time to CPU
# steal (a busy VM host) or to the tern host waiting for a CPU is run
# again, three times in all (the user-space shaper loses what it sleeps
# through beyond its burst; the kernel's does not); undisturbed, it fails.
# Every class has burst/cburst 15k (6 ms at 20 Mbit/s) on both sides: tc's
# default, 1600 bytes, is 0.64 ms of tokens, and a user-space shaper on a
# busy 2-CPU machine is woken later than that (the rates then measure the
# machine; bench/tc_pps.sh shows the default's cost).  Figures go to stdout.  Namespaces are created and removed here; TAP and
# veth names start "tcsh".
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ip tc iperf3 python3 ping

SECS=${TC_SHARES_SECONDS:-4} # per iperf3 run, the first second omitted
tap=tcsh$$
veth=tcshv$$
host=itsh$$
ns_new ns tcsh
tern_ns=$ns
tern_start "$ns" "$host" --tap "$tap" --addr 198.18.42.2/24 --iperf3 5201 --iperf3 5202
linux_addr "$ns" "$tap" 198.18.42.1/24

# Linux: iperf3 servers on 5201 and 5202 behind one end of a veth pair
ns_new lsrv lsrv
ns_new lcli lcli
ip link add "${veth}a" netns "$lsrv" type veth peer name "${veth}b" netns "$lcli" || fail "veth"
linux_addr "$lsrv" "${veth}a" 198.18.43.2/24
linux_addr "$lcli" "${veth}b" 198.18.43.1/24
for p in 5201 5202; do
	ip netns exec "$lsrv" iperf3 -s -p "$p" >"$IT_TMP/iperf3-$p.log" 2>&1 &
	IT_PIDS+=($!) # ip netns exec execs iperf3: this is the server
done
sleep 0.5
ip netns exec "$lcli" ping -c 1 -W 2 198.18.43.2 >/dev/null || fail "no path over the veth"
ping_ok=0
for _ in $(seq 20); do
	ip netns exec "$ns" ping -c 1 -W 1 198.18.42.2 >/dev/null && { ping_ok=1; break; }
done
[ $ping_ok = 1 ] || fail "tern does not answer ping"

# apply FILE: the same tc lines (DEV stands for the device) on tern's TAP
# and on the veth; both replace what was there.
apply() {
	ip netns exec "$lsrv" tc qdisc del dev "${veth}a" root 2>/dev/null
	"$TERN" tc -n "$host" qdisc del dev "$tap" root >/dev/null 2>&1
	sed "s/DEV/$tap/g" "$1" >"$IT_TMP/tern.tc"
	sed "s/DEV/${veth}a/g" "$1" >"$IT_TMP/linux.tc"
	out=$("$TERN" tc -n "$host" -f "$IT_TMP/tern.tc" 2>&1) || fail "tern tc -f: $out"
	ip netns exec "$lsrv" tc -batch "$IT_TMP/linux.tc" 2>"$IT_TMP/linux.err" || return 1
}

# The CPU the shapers did not get.  A user-space shaper held off the CPU
# for longer than its burst (6 ms here) loses those tokens, and tern's
# rates then fall short: stopping the tern host for 15 ms every 100 ms
# gives 12.7-12.9 against 14.35 Mbit/s and 16.9-17.5 against 19.13 here,
# in main and with the zero-copy send path alike, as the CPU steal of a
# busy VM host does (the kernel's shaper runs from softirq and keeps its
# rate).  So each run reports the machine's CPU steal and, for tern's,
# the tern host's wait for a CPU (run queue, /proc/PID/schedstat), on
# stderr, and a check that fails after a run that lost 10% or more of its
# time so is run again (see phase): a shortfall that comes with them is
# the machine, not tern; one without them fails at once.
# cpu_mark PID -> "ns steal-ticks run-delay-ns"
cpu_mark() {
	local rd=0
	[ -n "$1" ] && rd=$(awk '{print $2}' "/proc/$1/schedstat" 2>/dev/null)
	echo "$(date +%s%N) $(awk '/^cpu /{print $9}' /proc/stat) ${rd:-0}"
}
# cpu_report WHO START_MARK END_MARK
cpu_report() {
	awk -v dir="$IT_TMP" -v who="$1" -v a="$2" -v b="$3" -v hz="$(getconf CLK_TCK)" -v n="$(nproc)" 'BEGIN {
		split(a, x, " "); split(b, y, " "); el = (y[1] - x[1]) / 1e9
		s = sprintf("CPU steal %.1f%% of the machine", (y[2] - x[2]) / hz / (el * n) * 100)
		if (y[3] > 0)
			s = s sprintf(", the tern host waiting for a CPU %.1f%% of the time", (y[3] - x[3]) / 1e9 / el * 100)
		printf "  (%s flows: %s)\n", who, s
		wait_pct = y[3] > 0 ? (y[3] - x[3]) / 1e9 / el * 100 : 0
		printf "%.1f %.1f\n", (y[2] - x[2]) / hz / (el * n) * 100, wait_pct >> (dir "/cpu.runs")
	}' >&2
}

# disturbed: some run since the last phase began lost 10% or more of its
# time to steal or, for tern's host, to waiting for a CPU.
disturbed() { awk '$1 >= 10 || $2 >= 10 { f = 1 } END { exit !f }' "$IT_TMP/cpu.runs" 2>/dev/null; }

# phase WHAT CMD... : run CMD (flows and their check); if the check fails
# after a disturbed run, run it again, three times in all.  Undisturbed,
# a failure is final.
phase() {
	local what=$1 try
	shift
	for try in 1 2 3; do
		: >"$IT_TMP/cpu.runs"
		"$@" && return 0
		disturbed || return 1
		echo "note: $what fell short in a run that lost 10% or more of its time to CPU steal or a wait for a CPU" \
			"(steal %, wait %: $(tr '\n' ';' <"$IT_TMP/cpu.runs")); attempt $try of 3" >&2
	done
	return 1
}

# flows NS ADDR PORT... : iperf3 -c ADDR -p PORT -R at once for each port;
# prints each one's received Mbit/s (the first second omitted), and with
# PING set, the median RTT of pings sent meanwhile.
flows() {
	local ns=$1 addr=$2; shift 2
	local pids=() i=0 tp="" who="Linux's" mark
	if [ "$ns" = "$tern_ns" ]; then
		eval "tp=\$PID_$host"
		who="tern's"
	fi
	mark=$(cpu_mark "$tp")
	for p in "$@"; do
		ip netns exec "$ns" timeout $((SECS + 20)) iperf3 -c "$addr" -p "$p" -R -t "$SECS" -O 1 --json \
			>"$IT_TMP/f$i.json" 2>&1 &
		pids+=($!)
		i=$((i + 1))
	done
	if [ -n "${PING:-}" ]; then
		sleep 1.5
		ip netns exec "$ns" ping -q -c $(((SECS - 1) * 5)) -i 0.2 "$addr" >"$IT_TMP/ping.out" 2>&1 ||
			fail "ping during the flows: $(cat "$IT_TMP/ping.out")"
	fi
	for pid in "${pids[@]}"; do wait "$pid" || true; done
	cpu_report "$who" "$mark" "$(cpu_mark "$tp")"
	python3 - "$IT_TMP" "$#" <<'PY' || fail "iperf3: $(head -c 600 "$IT_TMP/f0.json")"
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
out = []
for i in range(n):
    r = json.load(open(f"{d}/f{i}.json"))
    if "error" in r:
        sys.exit(r["error"])
    out.append("%.3f" % (r["end"]["sum_received"]["bits_per_second"] / 1e6))
print(" ".join(out))
PY
	if [ -n "${PING:-}" ]; then
		# rtt min/avg/max/mdev = 0.045/0.061/0.089/0.012 ms
		sed -n 's#^rtt .* = \([0-9.]*\)/\([0-9.]*\)/\([0-9.]*\)/.*#\2 \3#p' "$IT_TMP/ping.out"
	fi
}

# compare WHAT EXPECTED TERN LINUX: per-flow rates within 5%, shares
# within 5 points; EXPECTED is the configured split in Mbit/s of frames.
compare() {
	python3 - "$@" <<'PY'
import sys
what, exp, t, l = sys.argv[1], [float(x) for x in sys.argv[2].split()], \
    [float(x) for x in sys.argv[3].split()], [float(x) for x in sys.argv[4].split()]
frac = 1448 / 1514  # iperf3 counts payload; htb counts frames
line = [f"{what}:"]
bad = []
for i, (e, a, b) in enumerate(zip(exp, t, l)):
    d = abs(a - b) / b
    line.append(f"flow {i + 1}: tern {a:.2f} Mbit/s, Linux {b:.2f} ({d * 100:.1f}% apart; "
                f"configured {e * frac:.2f});")
    # Linux's own flow strays from its configured rate by up to ~5% from run
    # to run (4.55 against 4.78 seen): tern must be within 5% of Linux or,
    # where Linux strayed, of the configured rate itself
    dc = abs(a - e * frac) / (e * frac)
    if d > 0.05 and dc > 0.05:
        bad.append(f"flow {i + 1}: tern {d * 100:.1f}% from Linux and {dc * 100:.1f}% from the configured rate")
if len(t) > 1:
    st, sl = t[0] / sum(t), l[0] / sum(l)
    line.append(f"flow 1's share: tern {st * 100:.1f}%, Linux {sl * 100:.1f}%, configured "
                f"{exp[0] / sum(exp) * 100:.1f}%")
    sc = exp[0] / sum(exp)
    if abs(st - sl) > 0.05 and abs(st - sc) > 0.05:
        bad.append(f"shares {abs(st - sl) * 100:.1f} points apart, tern's {abs(st - sc) * 100:.1f} from the configured")
print(" ".join(line))
if bad:
    sys.exit("; ".join(bad))
PY
}

cat >"$IT_TMP/htb.tc" <<'EOF'
qdisc add dev DEV root handle 1: htb default 30
class add dev DEV parent 1: classid 1:1 htb rate 20mbit ceil 20mbit burst 15k cburst 15k
class add dev DEV parent 1:1 classid 1:10 htb rate 12mbit ceil 20mbit burst 15k cburst 15k
class add dev DEV parent 1:1 classid 1:20 htb rate 4mbit ceil 20mbit burst 15k cburst 15k
class add dev DEV parent 1:1 classid 1:30 htb rate 4mbit ceil 20mbit burst 15k cburst 15k
filter add dev DEV parent 1: protocol ip prio 1 u32 match ip sport 5201 0xffff flowid 1:10
filter add dev DEV parent 1: protocol ip prio 1 u32 match ip sport 5202 0xffff flowid 1:20
EOF
apply "$IT_TMP/htb.tc" || fail "Linux tc -batch (htb): $(cat "$IT_TMP/linux.err")"
ok "tern: $("$TERN" tc -n "$host" class show dev "$tap" | tr '\n' ';')"

# both PORT... : the flows on tern and on Linux, compared as WHAT with EXPECTED
both() {
	local what=$1 exp=$2 t l
	shift 2
	t=$(flows "$ns" 198.18.42.2 "$@") || { echo "$t"; return 1; }
	l=$(flows "$lcli" 198.18.43.2 "$@") || { echo "$l"; return 1; }
	compare "$what" "$exp" "$t" "$l"
}
phase "htb shares" both "htb, both classes busy" "15 5" 5201 5202 || fail "htb shares differ"
ok "htb: the same shares on tern and Linux"

phase "htb borrowing" both "htb, 1:20 alone borrows to ceil" "20" 5202 || fail "htb borrowing differs"
ok "htb: the same borrowing on tern and Linux"
out=$("$TERN" tc -n "$host" -s class show dev "$tap")
echo "$out"
for c in 1:10 1:20; do
	sent=$(echo "$out" | awk -v c="$c" '$1 == "class" && $3 == c { f = 1; next } f && $1 == "Sent" { print $2; exit }')
	[ "${sent:-0}" -gt 1000000 ] || fail "class $c sent ${sent:-nothing}: a filter did not classify"
done

cat >"$IT_TMP/fqc.tc" <<'EOF'
qdisc add dev DEV root handle 1: htb default 1
class add dev DEV parent 1: classid 1:1 htb rate 20mbit ceil 20mbit burst 15k cburst 15k
qdisc add dev DEV parent 1:1 handle 10: fq_codel
EOF
linux_fqc=1
apply "$IT_TMP/fqc.tc" || linux_fqc=0
if [ $linux_fqc = 0 ]; then
	grep -q "Specified qdisc kind is unknown" "$IT_TMP/linux.err" ||
		fail "Linux tc -batch (fq_codel): $(cat "$IT_TMP/linux.err")"
	echo "note: this kernel has no sch_fq_codel ($(grep -m1 "qdisc kind" "$IT_TMP/linux.err")): tern's fq_codel is checked against the rate and an even share only"
fi
# fqc_tern: tern's fq_codel flows (t) and a ping; the rate and the share
fqc_tern() {
	local res tping
	res=$(PING=1 flows "$ns" 198.18.42.2 5201 5202) || { echo "$res"; return 1; }
	t=$(echo "$res" | sed -n 1p)
	tping=$(echo "$res" | sed -n 2p)
	"$TERN" tc -n "$host" -s qdisc show dev "$tap"
	python3 - "$t" "$tping" <<'PY'

import sys
t = [float(x) for x in sys.argv[1].split()]
avg, mx = (float(x) for x in sys.argv[2].split())
rate = 20 * 1448 / 1514
jain = sum(t) ** 2 / (len(t) * sum(x * x for x in t))
print(f"fq_codel behind htb 20mbit on tern: flows {t[0]:.2f} and {t[1]:.2f} Mbit/s, sum {sum(t):.2f} "
      f"({sum(t) / rate * 100:.1f}% of the {rate:.2f} the rate carries), Jain {jain:.3f}; "
      f"ping meanwhile avg {avg:.1f} ms, max {mx:.1f} ms")
if abs(sum(t) - rate) / rate > 0.05:
    sys.exit(f"sum {sum(t):.2f} Mbit/s is more than 5% from {rate:.2f}")
if jain < 0.95:
    sys.exit(f"Jain's index {jain:.3f} < 0.95")
PY
}
phase "tern's fq_codel" fqc_tern || fail "tern's fq_codel"
ok "tern's fq_codel: the rate, an even share"
if [ $linux_fqc = 1 ]; then
	phase "fq_codel rates" both "fq_codel behind htb 20mbit" "10 10" 5201 5202 || fail "fq_codel rates differ"
	ok "fq_codel: the same rates on tern and Linux"
fi

# Reported, not asserted: the same 20mbit htb with its default pfifo leaf,
# one flow and a ping.  tern's TCP small queues are per device (half the
# txqueuelen or 1 MiB in the qdisc), Linux's per socket (about 1 ms of the
# pacing rate), so tern's own sender queues far more behind its shaper.
printf '%s\n' "qdisc add dev DEV root handle 1: htb default 1" \
	"class add dev DEV parent 1: classid 1:1 htb rate 20mbit ceil 20mbit burst 15k cburst 15k" >"$IT_TMP/fifo.tc"
apply "$IT_TMP/fifo.tc" || fail "Linux tc -batch (htb): $(cat "$IT_TMP/linux.err")"
res=$(PING=1 flows "$ns" 198.18.42.2 5201) || fail "$res"
lres=$(PING=1 flows "$lcli" 198.18.43.2 5201) || fail "$lres"
echo "htb 20mbit, default pfifo leaf, one flow: tern $(echo "$res" | sed -n 1p) Mbit/s, ping avg/max" \
	"$(echo "$res" | sed -n 2p | tr ' ' /) ms; Linux $(echo "$lres" | sed -n 1p) Mbit/s, ping avg/max" \
	"$(echo "$lres" | sed -n 2p | tr ' ' /) ms (reported only: TCP small queues per device in tern, per socket in Linux)"
tern_stop "$host" || fail "tern host exited with an error"
