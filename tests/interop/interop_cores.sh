# `tern host --cores 2` on a veth end through AF_PACKET: two stacks, one per
# core, whose sockets share a PACKET_FANOUT group, with software Toeplitz
# steering between them.  Linux pings (core 0 answers echo), fetches pages
# over many parallel connections with curl (checked), runs iperf3 -P 4 both
# ways (its port pinned to core 0), and `tern stat` must
# show both cores served connections, with frames handed between them;
# `tern ss` lists each core's sockets; `tern sysctl -w` and `tern tc` apply
# to every core.  Needs root; exit 77 means skipped.
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ip ping curl xargs iperf3 python3

ns_new nsl corl   # Linux
ns_new nst cort   # tern
vl=corL$$ vt=corT$$
ip link add "$vl" netns "$nsl" type veth peer name "$vt" netns "$nst" || skip "cannot create a veth pair"
ip -n "$nsl" addr add 198.18.46.1/24 dev "$vl"
ip -n "$nsl" link set "$vl" up
ip -n "$nst" link set "$vt" up arp off
ip netns exec "$nst" sysctl -qw "net.ipv6.conf.$vt.disable_ipv6=1" 2>/dev/null
ip netns exec "$nst" sysctl -qw net.ipv4.ip_forward=0
host=itcor$$
tern_start "$nst" "$host" --dev "$vt" --driver af_packet --cores 2 --addr 198.18.46.2/24 --http 80 --udp-echo 7 --iperf3 5201
addr=198.18.46.2
inl() { ip netns exec "$nsl" "$@"; }

out=$(inl ping -c 5 -i 0.2 -W 2 "$addr" 2>&1) || fail "ping: $out"
echo "$out" | grep -q " 0% packet loss" || fail "ping loss: $out"
ok "ping: $(echo "$out" | tail -1)"

# 64 fetches, 8 at a time: Linux's source ports spread them over both cores
seq 1 64 | inl xargs -P 8 -I{} sh -c "curl -sS --max-time 10 http://$addr/gen/100000 | wc -c" >"$IT_TMP/sizes" ||
	fail "curl: $(sort "$IT_TMP/sizes" | uniq -c)"
[ "$(grep -c '^100000$' "$IT_TMP/sizes")" = 64 ] || fail "curl: sizes $(sort "$IT_TMP/sizes" | uniq -c)"
ok "curl: 64 fetches of 100 kB over 8 parallel connections, all whole"

# iperf3's control connection and its 4 streams would hash to both cores;
# its port is pinned to core 0, so they meet in one test
fig=$(iperf3_check "$nsl" "$addr" bytes-up -P 4 -n 100M) || fail "$fig"
ok "iperf3 -P 4 -n 100M (Linux sends): $fig"
fig=$(iperf3_check "$nsl" "$addr" bytes-down -R -P 4 -n 100M) || fail "$fig"
ok "iperf3 -R -P 4 -n 100M (tern sends): $fig"

st=$("$TERN" -n "$host" stat) || fail "stat"
echo "$st" | grep -q '^Cores: 2' || fail "stat has no per-core table: $st"
for c in 0 1; do
	line=$(echo "$st" | sed -n "/^Cores:/,\$p" | awk -v c=$c '$1 == c && NF == 9')
	[ -n "$line" ] || fail "stat: no line for core $c: $st"
	set -- $line
	[ "$3" -gt 0 ] || fail "core $c served no connection: $line"
	[ "$7" -gt 0 ] || [ "$8" -gt 0 ] || fail "core $c neither handed nor received a frame: $line"
	ok "core $c: $3 connections accepted, $4 TCP segments, steering: $6 local, $7 handed over, $8 received, $9 dropped"
done
passive=$(echo "$st" | sed -n 's/^ *\([0-9]*\) passive connection openings.*/\1/p')
[ "${passive:-0}" -ge 64 ] || fail "summed passive opens ${passive:-none} < 64"
ok "stat sums the cores: $passive passive openings"

ssout=$("$TERN" -n "$host" ss -a) || fail "ss"
echo "$ssout" | grep -q '^core 0:' && echo "$ssout" | grep -q '^core 1:' || fail "ss has no per-core sections: $ssout"
[ "$(echo "$ssout" | grep -c 'LISTEN.*:80\b')" -ge 2 ] || fail "ss: each core should list its :80 listener: $ssout"
ok "ss lists each core's sockets"

"$TERN" -n "$host" sysctl -w net.ipv4.tcp_congestion_control=bbr >/dev/null || fail "sysctl -w"
"$TERN" -n "$host" tc qdisc add dev "$vt" root pfifo limit 77 || fail "tc qdisc add"
tcs=$("$TERN" -n "$host" tc qdisc show dev "$vt")
echo "$tcs" | grep -q 'limit 77' || fail "tc show: $tcs"
# every core: a fresh connection on each takes the settings (curl until both cores served one more)
seq 1 16 | inl xargs -P 4 -I{} sh -c "curl -sS --max-time 10 http://$addr/gen/1000 >/dev/null" || fail "curl after sysctl/tc"
ok "sysctl -w and tc accepted (the host runs them on every core's stack) and traffic still flows"
tcsum=$("$TERN" -n "$host" tc -s qdisc show dev "$vt")
echo "$tcsum" | grep -q 'limit 77' || fail "tc -s: $tcsum"
ok "tc: core 0's qdisc: $(echo "$tcsum" | grep -m1 Sent)"
