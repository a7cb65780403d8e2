# tern and Linux as TCP senders over the same shaped path, with the same
# congestion control, to the same Linux receiver (iperf3).  The path
# (tests/interop/shaped_path.sh): Linux tbf 100mbit, then a tern router
# adding 20 ms and random loss towards the receiver.  bench/tcp_shaped.sh
# measures the same path at length; this only checks both senders work.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/shaped_path.sh"
require_root
require_cmd ip tc iperf3 python3

SECS=${SHAPED_SECS:-5}

# goodput_json FILE -> received Mbit/s from iperf3 -J output
goodput_json() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.1f" % (d["end"]["sum_received"]["bits_per_second"]/1e6))' "$1"
}

# compare TAG CC LOSS : Linux sends to R, then tern sends to R, same algorithm
compare() {
	local tag=$1 cc=$2 loss=$3
	shaped_linux_has "$cc" || { echo "note: Linux here has no $cc; skipping it"; return 0; }
	shaped_linux_send "$cc" "$SECS" "$IT_TMP/lx$tag$cc.json" ||
		fail "Linux sender ($cc): $(head -c 300 "$IT_TMP/lx$tag$cc.json")"
	shaped_tern_send "$cc" "$SECS" "$IT_TMP/tn$tag$cc.json" ||
		fail "tern sender ($cc): $(head -c 300 "$IT_TMP/tn$tag$cc.json")"
	local lx tn
	lx=$(goodput_json "$IT_TMP/lx$tag$cc.json") || fail "parse Linux result"
	tn=$(goodput_json "$IT_TMP/tn$tag$cc.json") || fail "parse tern result"
	local ratio
	ratio=$(python3 -c "print('%.2f' % ($tn / $lx))" 2>/dev/null || echo "?")
	ok "$cc, tbf 100mbit, 20 ms, loss $loss: Linux sends $lx Mbit/s, tern sends $tn Mbit/s (tern/Linux $ratio)"
	# a sanity floor, not the benchmark: both moved data at a useful rate
	python3 -c "import sys; sys.exit(0 if $tn > 1 and $lx > 1 else 1)" || fail "$cc: a sender moved almost nothing"
}

shaped_path itsh a 0.1%
compare a cubic 0.1%
compare a bbr 0.1%
shaped_path itsh b 1%
compare b cubic 1%
compare b bbr 1%
