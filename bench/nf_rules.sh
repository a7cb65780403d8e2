#!/usr/bin/env bash
# Linux as the forwarding gateway of bench/nf_rules.c: the same 64-byte UDP
# flow and the same rulesets (`nf_rules rules N`), loaded in the router
# namespace with iptables-restore.
#
#   bench/nf_rules.sh SECONDS BIN N...
#
#   namespace A (198.18.1.1) --veth-- namespace R (forwarding, the rules in
#   filter FORWARD) --veth-- namespace B (198.18.2.1:9000)
#
# For each backend (iptables-legacy, iptables-nft: whichever is installed
# and works here) and each N: load the ruleset in R, `nf_rules send` in A
# for SECONDS + 2, `nf_rules recv` in B counts for SECONDS; time one
# `iptables -A FORWARD` (and the -D undoing it) at N rules.  Prints
#   linux-BACKEND rules=N pps=P add_ms=A del_ms=D
# Nothing is pinned: sender, the veths' softirq forwarding and the receiver
# share the machine's cores.  Needs root and ip (exits 77 otherwise).
cd "$(dirname "$0")/.." || exit 1
. bench/lib.sh
require_root
require_cmd ip
SECS=${1:-3}
BIN=${2:-build/bench/nf_rules}
shift 2
[ $# -gt 0 ] || set -- 0 10 1000 10000

ns_new NS_A nfa
ns_new NS_R nfr
ns_new NS_B nfb
veth_router "$NS_A" "$NS_R" "$NS_B" nfa0 nfr0 nfr1 nfb0 198.18.1.1/24 198.18.1.254/24 198.18.2.254/24 198.18.2.1/24
ip netns exec "$NS_A" ping -c1 -W2 198.18.2.1 >/dev/null || fail "no path A -> B"

ms() { date +%s%N; }
for be in legacy nft; do
	ipt=iptables-$be
	command -v "$ipt" >/dev/null || { echo "linux-$be: $ipt not installed"; continue; }
	if ! ip netns exec "$NS_R" "$ipt" -L FORWARD >/dev/null 2>&1; then
		echo "linux-$be: $ipt does not work here"
		continue
	fi
	for n in "$@"; do
		"$BIN" rules "$n" >"$IT_TMP/rules"
		ip netns exec "$NS_R" "$ipt-restore" <"$IT_TMP/rules" || fail "$ipt-restore $n"
		ip netns exec "$NS_B" "$BIN" recv "$SECS" >"$IT_TMP/recv" &
		rpid=$!
		sleep 0.2
		ip netns exec "$NS_A" "$BIN" send "$((SECS + 2))" >/dev/null
		wait $rpid
		pps=$(sed -n 's/.*pps=\([0-9]*\).*/\1/p' "$IT_TMP/recv")
		t0=$(ms)
		ip netns exec "$NS_R" "$ipt" -A FORWARD -s 198.19.250.1/32 -p udp --dport 7 -j DROP
		t1=$(ms)
		ip netns exec "$NS_R" "$ipt" -D FORWARD -s 198.19.250.1/32 -p udp --dport 7 -j DROP
		t2=$(ms)
		echo "linux-$be rules=$n pps=${pps:-0} add_ms=$(awk "BEGIN{printf \"%.1f\", ($t1 - $t0) / 1e6}") del_ms=$(awk "BEGIN{printf \"%.1f\", ($t2 - $t1) / 1e6}")"
	done
	ip netns exec "$NS_R" "$ipt" -F FORWARD
	ip netns exec "$NS_R" "$ipt" -P FORWARD ACCEPT
done
