# tern on a TUN device (raw IP, no Ethernet or ARP): Linux pings it,
# including fragmenting pings, and tern pings back; then a multi-queue TUN
# with --cores 2: ping, 32 fetches whole, both cores serving.
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ip ping

ns_new ns tun
tern_start "$ns" ittun --tun tun0 --addr 198.18.5.2/24
linux_addr "$ns" tun0 198.18.5.1/24
out=$(ip netns exec "$ns" ping -c 3 -i 0.2 -W 2 198.18.5.2) || fail "ping over TUN: $out"
echo "$out" | grep -q " 0% packet loss" || fail "loss over TUN: $out"
out=$(ip netns exec "$ns" ping -c 2 -i 0.2 -W 2 -s 3000 198.18.5.2) || fail "ping -s 3000 over TUN: $out"
out=$("$TERN" -n ittun ping -c 2 -i 0.2 198.18.5.1) || fail "tern ping over TUN: $out"
echo "$out" | grep -q "2 received" || fail "tern ping over TUN: $out"
[ "$(nstat ittun TernExtArpOutRequests)" -eq 0 ] || fail "ARP on a TUN device"
ok "TUN: ping both ways, fragments, no ARP"

# --tun with --cores 2: a multi-queue TUN, a stack per core on its own
# queue, steering by the IP 4-tuple (no Ethernet header to skip): ping,
# 32 fetches 8 at a time whole, and both cores served connections
require_cmd curl xargs cmp head
tun2=tunmq$$
host2=ittunmq$$
tern_start "$ns" "$host2" --tun "$tun2" --cores 2 --addr 198.18.6.2/24 --http 80
linux_addr "$ns" "$tun2" 198.18.6.1/24
grep -q "running on 2 cores, multi-queue tun, 2 queues" "$IT_TMP/$host2.err" || fail "start line: $(cat "$IT_TMP/$host2.err")"
ip -n "$ns" -d link show "$tun2" | grep -q "multi_queue numqueues 2 " ||
	fail "want a TUN with two queues: $(ip -n "$ns" -d link show "$tun2")"
check_ping "$ns" 198.18.6.2
curl_many "$ns" "http://198.18.6.2/gen/100000" 32 8 100000
ok "TUN, 2 cores: 32 fetches of 100 kB over 8 parallel connections, all whole"
check_cores_stat "$host2" 32 queues
stop_clean "$host2" "counters at exit (all cores)"
ok "TUN, 2 cores: clean exit"
