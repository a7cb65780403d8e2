#!/usr/bin/env bash
# Linux as the NAT gateway of bench/nat_conn.c: the same connection loop
# and the same UDP flows, through a Linux router that masquerades.
#
#   bench/nat_conn.sh SECONDS BIN FLOWS [INFLIGHT [CPU]]
#
#   namespace A (198.18.1.1) --veth-- namespace R (forwarding,
#   `iptables -t nat -A POSTROUTING -o nbr1 -j MASQUERADE`) --veth--
#   namespace B (198.18.2.1, no route back to A)
#
# First the rate without NAT (R only forwards; B routes back: no rule, so
# no conntrack), printed as linux-plain.  Then, with R masquerading and B
# without a route back, the memory: `nat_conn linux-mem FLOWS` sends one
# UDP datagram per flow from A and measures R's new conntrack entries
# (nf_conntrack_count) and the kernel's slab growth per entry.  Then the
# rate through the NAT: `nat_conn server` in B, `nat_conn client SECONDS INFLIGHT` in A; R's MASQUERADE rule
# counter and conntrack drop counter (/proc/net/stat/nf_conntrack, what
# `conntrack -S` shows) are read before and after, and the TCP states of
# R's entries at the end (/proc/net/nf_conntrack, what `conntrack -L`
# shows).  Prints
#   linux-plain cps=C done=N errors=N accepted=N
#   linux-mem flows=N entries=N slab_per_entry=B ...
#   linux cps=C done=N errors=N accepted=N nat_new=N ct_drop=N ct_count=N ct_states=...
# Unless CPU is given, nothing is pinned: client, the veths' softirq
# forwarding (in R) and the server share the machine's cores.  Needs root, ip and iptables (exits 77
# otherwise).
cd "$(dirname "$0")/.." || exit 1
. bench/lib.sh
require_root
require_cmd ip iptables
SECS=${1:-3}
BIN=$(readlink -f "${2:-build/bench/nat_conn}")
FLOWS=${3:-100000}
INFLIGHT=${4:-64}
# CPU: client and server pinned to it (taskset), so the veths' softirq
# forwarding, which runs in the sending process's context, is there too:
# Linux on one core, as tern.
PIN=()
[ -n "${5:-}" ] && command -v taskset >/dev/null && PIN=(taskset -c "$5")

ns_new NS_A natba
ns_new NS_R natbr
ns_new NS_B natbb
veth_router "$NS_A" "$NS_R" "$NS_B" nba0 nbr0 nbr1 nbb0 198.18.1.1/24 198.18.1.254/24 198.18.2.254/24 198.18.2.1/24

# conn_run: server in B, client in A; their results in $IT_TMP/server, client.
conn_run() {
	ip netns exec "$NS_B" "${PIN[@]}" "$BIN" server "$(awk -v s="$SECS" 'BEGIN {print s * 1.1 + 2}')" >"$IT_TMP/server" &
	local spid=$!
	sleep 0.3
	ip netns exec "$NS_A" "${PIN[@]}" "$BIN" client "$SECS" "$INFLIGHT" >"$IT_TMP/client" || fail "client: $(cat "$IT_TMP/client")"
	wait $spid
}

# Plain forwarding first, while R has no rule (so no conntrack): B routes
# back through R (veth_router's default route).  What NAT adds is the
# difference.
ip netns exec "$NS_A" ping -c1 -W2 198.18.2.1 >/dev/null || fail "no path A -> B"
conn_run
echo "linux-plain $(cat "$IT_TMP/client") $(cat "$IT_TMP/server")"
ip -n "$NS_B" route del default via 198.18.2.254

ip netns exec "$NS_R" iptables -t nat -A POSTROUTING -o nbr1 -j MASQUERADE || fail "iptables MASQUERADE"
ip netns exec "$NS_A" ping -c1 -W2 198.18.2.1 >/dev/null || fail "no path A -> B through the NAT"

"$BIN" linux-mem "$FLOWS" "$NS_A" "$NS_R" || fail "linux-mem"

# ct_stat COLUMN: a column of /proc/net/stat/nf_conntrack (hex, one line
# per CPU) summed over the CPUs, in R.
ct_stat() {
	local k=0 i sum=0 f
	while read -r -a f; do
		if [ $k -eq 0 ]; then
			for i in "${!f[@]}"; do [ "${f[$i]}" = "$1" ] && k=$((i + 1)); done
			[ $k -gt 0 ] || { echo 0; return; }
			continue
		fi
		sum=$((sum + 16#${f[$((k - 1))]}))
	done < <(ip netns exec "$NS_R" cat /proc/net/stat/nf_conntrack)
	echo $sum
}
# New NAT mappings: the MASQUERADE rule's packet counter (the nat table
# sees a connection's first packet only).  Linux 6.x no longer counts
# conntrack's inserts in /proc/net/stat/nf_conntrack.
masq() { ip netns exec "$NS_R" iptables -t nat -L POSTROUTING -n -v -x | awk '/MASQUERADE/ {print $1; exit}'; }
masq0=$(masq)
drop0=$(ct_stat drop)
conn_run
masq1=$(masq)
drop1=$(ct_stat drop)
count=$(ip netns exec "$NS_R" cat /proc/sys/net/netfilter/nf_conntrack_count)
states=none
if ip netns exec "$NS_R" test -r /proc/net/nf_conntrack; then
	states=$(ip netns exec "$NS_R" awk '$3 == "tcp" {n[$6]++} END {for (s in n) printf "%s%s:%d", c++ ? "," : "", s, n[s]}' \
		/proc/net/nf_conntrack)
fi
echo "linux $(cat "$IT_TMP/client") $(cat "$IT_TMP/server") nat_new=$((masq1 - masq0)) ct_drop=$((drop1 - drop0)) ct_count=$count ct_states=${states:-none}"
