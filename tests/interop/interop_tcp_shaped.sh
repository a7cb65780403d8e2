# tern and Linux as TCP senders over the same shaped path, with the same
# congestion control, to the same Linux receiver (iperf3).
#
#   S (Linux sender) --veth--\
#                              L (Linux: tbf 100mbit) -- tern router -- R (Linux receiver)
#   T (tern sender)  --tap---/                   (20 ms, loss on the way to R)
#
# The kernel here has no sch_netem, so the delay and loss come from the tern
# router's --impair on its link towards R; the rate limit is Linux's tbf.
# Both senders cross every hop of the same path.
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ip tc iperf3 python3

SECS=${SHAPED_SECS:-5}

# goodput_json FILE -> received Mbit/s from iperf3 -J output
goodput_json() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.1f" % (d["end"]["sum_received"]["bits_per_second"]/1e6))' "$1"
}

# path TAG LOSS : build the topology; sets NS_S NS_R NS_L and host names
path() {
	local tag=$1 loss=$2
	ns_new NS_L "l$tag"; ns_new NS_S "s$tag"; ns_new NS_R "r$tag"
	ip netns exec "$NS_L" sysctl -qw net.ipv4.ip_forward=1
	# the tern router: tapl to L, tapr to R (impaired towards R)
	tern_start "$NS_L" "itshr$tag" --tap "tl$tag" --addr 198.18.1.1/24 --tap "tr$tag" --addr 198.18.2.1/24 \
		--impair "delay 20ms loss $loss" --forward --gateway 198.18.1.2
	ip -n "$NS_L" link set "tr$tag" netns "$NS_R" || fail "move tr$tag"
	linux_addr "$NS_L" "tl$tag" 198.18.1.2/24
	linux_addr "$NS_R" "tr$tag" 198.18.2.2/24
	ip -n "$NS_R" route add default via 198.18.2.1
	ip -n "$NS_L" route add 198.18.2.0/24 via 198.18.1.1
	# the bottleneck: 100 Mbit/s on L's link into the router
	ip netns exec "$NS_L" tc qdisc add dev "tl$tag" root tbf rate 100mbit burst 32k latency 50ms ||
		fail "tc tbf"
	# the Linux sender
	ip -n "$NS_L" link add "vs$tag" type veth peer name "vp$tag" || fail "veth"
	ip -n "$NS_L" link set "vp$tag" netns "$NS_S"
	linux_addr "$NS_L" "vs$tag" 198.18.5.1/24
	linux_addr "$NS_S" "vp$tag" 198.18.5.2/24
	ip -n "$NS_S" route add default via 198.18.5.1
	# the tern sender: an iperf3 server that sends in reverse mode
	tern_start "$NS_L" "itsht$tag" --tap "tt$tag" --addr 198.18.6.2/24 --gateway 198.18.6.1 --iperf3 5201
	linux_addr "$NS_L" "tt$tag" 198.18.6.1/24
	ip netns exec "$NS_R" iperf3 -s -p 5202 >"$IT_TMP/iperf3-s$tag.log" 2>&1 &
	IT_PIDS+=("$!")
	sleep 0.5
}

# compare TAG CC : Linux sends to R, then tern sends to R, same algorithm
compare() {
	local tag=$1 cc=$2 loss=$3
	# iperf3 -C sets TCP_CONGESTION per socket (a namespace may not change the default)
	ip netns exec "$NS_S" sysctl -n net.ipv4.tcp_available_congestion_control | grep -qw "$cc" ||
		{ echo "note: Linux here has no $cc; skipping it"; return 0; }
	"$TERN" -n "itsht$tag" sysctl -w net.ipv4.tcp_congestion_control="$cc" >/dev/null || fail "tern sysctl $cc"
	ip netns exec "$NS_S" iperf3 -c 198.18.2.2 -p 5202 -t "$SECS" -C "$cc" -J >"$IT_TMP/lx$tag$cc.json" ||
		fail "Linux sender ($cc): $(head -c 300 "$IT_TMP/lx$tag$cc.json")"
	ip netns exec "$NS_R" iperf3 -c 198.18.6.2 -p 5201 -t "$SECS" -R -J >"$IT_TMP/tn$tag$cc.json" ||
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

path a 0.1%
compare a cubic 0.1%
compare a bbr 0.1%
path b 1%
compare b cubic 1%
compare b bbr 1%
