#!/usr/bin/env bash
# TCP goodput over a shaped path, tern against Linux with the same
# congestion control: Linux tbf 100mbit, then a tern router adding 20 ms
# and random loss (0.1%, 1%) towards a Linux iperf3 receiver.  The path is
# tests/interop/shaped_path.sh's (this kernel has no sch_netem).
#
#   bench/tcp_shaped.sh RUNS SECONDS [TABLE]
#
# For each loss rate one path is built; on it, for each algorithm (cubic,
# bbr), RUNS pairs of runs alternate tern and Linux as the sender, each an
# iperf3 test of SECONDS to the same receiver.  Every run prints a raw
# line; TABLE (if given) receives the markdown table, TABLE.settings the
# settings line.  Needs root, ip, tc, iperf3, python3: exits 77 (skip)
# without them.  TERN names the tern binary (default build/tern), as for
# the interop tests.
cd "$(dirname "$0")/.." || exit 1
. bench/lib.sh
. tests/interop/shaped_path.sh
require_root
require_cmd ip tc iperf3 python3

RUNS=${1:-3}
SECS=${2:-10}
TABLE=${3:-}
LOSSES=${SHAPED_LOSSES:-0.1% 1%}
CCS=${SHAPED_CCS:-cubic bbr}
NAME=bsh$$ # tern instances' control sockets are global: unique per run

# run_line FILE -> "mbps=... retrans=..." from an iperf3 -J report
run_line() {
	python3 - "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
if "error" in d:
    sys.exit("iperf3: " + d["error"])
e = d["end"]
print("mbps=%.2f retrans=%s bytes=%d" % (e["sum_received"]["bits_per_second"] / 1e6,
      e["sum_sent"].get("retransmits", "?"), e["sum_received"]["bytes"]))
PY
}

rows=()
tag=0
echo "tcp_shaped: $RUNS alternating runs of ${SECS}s per sender, for each of loss {$LOSSES} x {$CCS}"
for loss in $LOSSES; do
	tag=$((tag + 1))
	shaped_path "$NAME" "$tag" "$loss"
	for cc in $CCS; do
		shaped_linux_has "$cc" || { echo "  note: Linux here has no $cc; skipping it"; continue; }
		tv=() lv=() trs=() lrs=() pr=()
		for i in $(seq "$RUNS"); do
			f="$IT_TMP/run.json"
			shaped_tern_send "$cc" "$SECS" "$f" || fail "tern sender ($cc, $loss): $(head -c 300 "$f")"
			tl=$(run_line "$f") || fail "tern run: $tl"
			shaped_linux_send "$cc" "$SECS" "$f" || fail "Linux sender ($cc, $loss): $(head -c 300 "$f")"
			ll=$(run_line "$f") || fail "Linux run: $ll"
			echo "  $cc loss $loss run $i: tern $tl"
			echo "  $cc loss $loss run $i: linux $ll"
			tv+=("$(field mbps "$tl")") lv+=("$(field mbps "$ll")")
			trs+=("$(field retrans "$tl")") lrs+=("$(field retrans "$ll")")
			pr+=("$(div "$(field mbps "$tl")" "$(field mbps "$ll")")")
		done
		read -r tm tmin tmax <<<"$(stats "${tv[@]}")"
		read -r lm lmin lmax <<<"$(stats "${lv[@]}")"
		read -r _ plo phi <<<"$(stats "${pr[@]}")"
		read -r trm _ _ <<<"$(stats "${trs[@]}")"
		read -r lrm _ _ <<<"$(stats "${lrs[@]}")"
		ratio=$(div "$tm" "$lm")
		verdict=$(awk -v r="$ratio" 'BEGIN {print (r >= 0.9 ? "met" : "not met")}')
		rows+=("| $loss | $cc | $(fmt "$tm" 1) | $(fmt "$tmin" 1)-$(fmt "$tmax" 1) | $(fmt "$lm" 1) | $(fmt "$lmin" 1)-$(fmt "$lmax" 1) | **$(fmt "$ratio" 2)x** ($verdict) | $(fmt "$plo" 2)-$(fmt "$phi" 2)x | $(fmt "$trm" 0) / $(fmt "$lrm" 0) |")
		echo "  $cc loss $loss: tern median $(fmt "$tm" 1) Mbit/s, Linux $(fmt "$lm" 1) Mbit/s, tern/Linux $(fmt "$ratio" 2)x"
	done
done

table=$(
	echo "| loss | congestion control | tern median Mbit/s | tern min-max | Linux median Mbit/s | Linux min-max | tern / Linux | per-run pairs | median retransmits tern / Linux |"
	echo "|---|---|---:|---:|---:|---:|---|---:|---:|"
	printf '%s\n' "${rows[@]}"
)
echo
echo "$table"
ncpu=$(nproc)
settings="$RUNS alternating runs of $SECS s per sender (tern first) for each loss rate and algorithm, iperf3 $(iperf3 --version | head -1 | awk '{print $2}') as the receiver (and the Linux sender, with -C), goodput = iperf3's sum_received, not pinned; $ncpu CPUs, $(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), Linux $(uname -r)"
if [ -n "$TABLE" ]; then
	echo "$table" >"$TABLE"
	echo "$settings" >"$TABLE.settings"
fi
