# `tern host --cores 2` on a veth end through AF_PACKET: two stacks, one per
# core, whose sockets share a PACKET_FANOUT group spread by a BPF program
# computing the cores' Toeplitz hash, with software steering between them
# for the rest (ARP, iperf3's pinned port).  Linux pings (core 0 answers echo), fetches pages
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

cpus=$(thread_cpus "$host" | tr '\n' ' ')
[ "$cpus" = "0 1 " ] || fail "core threads should be pinned to CPUs 0 and 1: $cpus"
ok "core threads pinned, one to CPU 0 and one to CPU 1"

grep -q "fanout by the cores' RSS hash" "$IT_TMP/$host.err" ||
	fail "the fanout group should spread by the RSS program: $(cat "$IT_TMP/$host.err")"

# 64 fetches, 8 at a time: Linux's source ports spread them over both cores
curl_many "$nsl" "http://$addr/gen/100000" 64 8 100000
ok "curl: 64 fetches of 100 kB over 8 parallel connections, all whole"
reqs=$("$TERN" -n "$host" stat | sed -n '/^Http:/{n;s/ *\([0-9]*\) requests/\1/p}')
[ -n "$reqs" ] && [ "$reqs" -ge 64 ] || fail "tern stat should sum the cores' HTTP requests (>= 64): '$reqs'"
ok "tern stat sums the cores' HTTP servers: $reqs requests"

# The kernel put every TCP frame on its core's socket (fanout_bpf.c): the
# steering handed over only what is not a flow's (ARP replies go to every
# core), where the kernel's own flow hash left about half on the wrong core.
st=$("$TERN" -n "$host" stat) || fail "stat"
for c in 0 1; do
	# shellcheck disable=SC2086
	set -- $(echo "$st" | sed -n "/^Cores:/,\$p" | awk -v c=$c '$1 == c && NF == 9')
	[ "${3:-0}" -gt 0 ] || fail "core $c served no connection: $st"
	[ "$7" -le 8 ] || fail "core $c handed $7 frames to the other core ($6 local): the fanout is not the cores' RSS"
	ok "core $c: $3 connections, $6 frames arrived on it, $7 handed over (the fanout program's choice is the steering's)"
done

# iperf3's control connection and its 4 streams would hash to both cores;
# its port is pinned to core 0, so they meet in one test
iperf3_both "$nsl" "$addr" bytes -P 4 -n 100M

# one fanout group: each core must have handed frames to the other or taken some
# (iperf3's streams on the pinned port that hash to core 1 go to core 0)
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
