# The shaped path shared by tests/interop/interop_tcp_shaped.sh and
# bench/tcp_shaped.sh (source lib.sh first):
#
#   S (Linux sender) --veth--\
#                              L (Linux: tbf 100mbit) -- tern router -- R (Linux receiver)
#   T (tern sender)  --tap---/                   (20 ms, loss on the way to R)
#
# The kernel here has no sch_netem, so the delay and loss come from the tern
# router's --impair on its link towards R (the ACKs coming back are neither
# delayed nor dropped); the rate limit is Linux's tbf on L's link into the
# router (burst 32 kB, 50 ms of queue: about 625 kB).  Both senders cross
# every hop from L on: the tbf, the router, its impairment and R's stack.
# The tern sender is `tern host --iperf3 5201` (it sends when R's iperf3
# client asks for -R); the Linux sender is iperf3 -c in S towards R's
# iperf3 -s on port 5202.

# shaped_path NAME TAG LOSS : build the path with the tern instances
# NAMErTAG (router) and NAMEtTAG (sender); sets NS_S NS_R NS_L,
# SHAPED_ROUTER and SHAPED_TERN (their names).  Addresses: 198.18.1-6.x.
shaped_path() {
	local name=$1 tag=$2 loss=$3
	SHAPED_ROUTER="${name}r$tag"
	SHAPED_TERN="${name}t$tag"
	ns_new NS_L "l$tag"; ns_new NS_S "s$tag"; ns_new NS_R "r$tag"
	ip netns exec "$NS_L" sysctl -qw net.ipv4.ip_forward=1
	# the tern router: tl to L, tr to R (impaired towards R)
	tern_start "$NS_L" "$SHAPED_ROUTER" --tap "tl$tag" --addr 198.18.1.1/24 --tap "tr$tag" --addr 198.18.2.1/24 \
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
	tern_start "$NS_L" "$SHAPED_TERN" --tap "tt$tag" --addr 198.18.6.2/24 --gateway 198.18.6.1 --iperf3 5201
	linux_addr "$NS_L" "tt$tag" 198.18.6.1/24
	ip netns exec "$NS_R" iperf3 -s -p 5202 >"$IT_TMP/iperf3-s$tag.log" 2>&1 &
	IT_PIDS+=("$!")
	sleep 0.5
}

# shaped_linux_has CC : does the kernel offer this congestion control?
# (iperf3 -C sets TCP_CONGESTION per socket; a namespace may not change
# the default.)
shaped_linux_has() {
	ip netns exec "$NS_S" sysctl -n net.ipv4.tcp_available_congestion_control | grep -qw "$1"
}

# shaped_linux_send CC SECS OUT : Linux (S) sends to R with CC; iperf3 -J to OUT
shaped_linux_send() {
	ip netns exec "$NS_S" iperf3 -c 198.18.2.2 -p 5202 -t "$2" -C "$1" -J >"$3"
}

# shaped_tern_send CC SECS OUT : tern sends to R with CC; iperf3 -J to OUT
shaped_tern_send() {
	"$TERN" -n "$SHAPED_TERN" sysctl -w net.ipv4.tcp_congestion_control="$1" >/dev/null || return 1
	ip netns exec "$NS_R" iperf3 -c 198.18.6.2 -p 5201 -t "$2" -R -J >"$3"
}
