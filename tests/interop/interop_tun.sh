# tern on a TUN device (raw IP, no Ethernet or ARP): Linux pings it,
# including fragmenting pings, and tern pings back.
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
