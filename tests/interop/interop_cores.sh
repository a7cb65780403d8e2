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
veth_for_tern "$nsl" "$vl" "$nst" "$vt" 198.18.46.1/24
host=itcor$$
tern_start "$nst" "$host" --dev "$vt" --driver af_packet --cores 2 --addr 198.18.46.2/24 --http 80 --udp-echo 7 --iperf3 5201
addr=198.18.46.2
inl() { ip netns exec "$nsl" "$@"; }

check_ping "$nsl" "$addr"

# 64 fetches, 8 at a time: Linux's source ports spread them over both cores
curl_many "$nsl" "http://$addr/gen/100000" 64 8 100000
ok "curl: 64 fetches of 100 kB over 8 parallel connections, all whole"

# iperf3's control connection and its 4 streams would hash to both cores;
# its port is pinned to core 0, so they meet in one test
iperf3_both "$nsl" "$addr" bytes -P 4 -n 100M

# one fanout group: each core must have handed frames to the other or taken some
check_cores_stat "$host" 64 fanout

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
