# Forwarding both ways round: tern routing between two Linux namespaces, and
# a Linux router namespace between two tern hosts.
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ip ping

# (a) tern as the router: C 198.18.1.2 -- tern 198.18.1.1 | 198.18.2.1 -- S 198.18.2.2
ns_new r r; ns_new c c; ns_new s s
tern_start "$r" itrtr --tap tapc --addr 198.18.1.1/24 --tap taps --addr 198.18.2.1/24 --forward
ip -n "$r" link set tapc netns "$c" || fail "move tapc"
ip -n "$r" link set taps netns "$s" || fail "move taps"
linux_addr "$c" tapc 198.18.1.2/24; ip -n "$c" route add default via 198.18.1.1
linux_addr "$s" taps 198.18.2.2/24; ip -n "$s" route add default via 198.18.2.1

out=$(ip netns exec "$c" ping -c 3 -i 0.2 -W 2 198.18.2.2) || fail "C->S through tern: $out"
echo "$out" | grep -q "ttl=63" || fail "expected ttl=63 through one router: $out"
out=$(ip netns exec "$c" ping -c 2 -i 0.2 -W 2 -s 3000 198.18.2.2) || fail "C->S 3000 bytes: $out"
out=$(ip netns exec "$c" ping -c 1 -W 2 -t 1 198.18.2.2 2>&1)
echo "$out" | grep -q "From 198.18.1.1.*Time to live exceeded" || fail "no time exceeded from tern: $out"
[ "$(nstat itrtr IpForwDatagrams)" -ge 5 ] || fail "IpForwDatagrams too low"
[ "$(nstat itrtr IcmpOutTimeExcds)" -ge 1 ] || fail "IcmpOutTimeExcds not counted"
out=$(ip netns exec "$c" ping -c 1 -W 2 198.18.9.9 2>&1)
echo "$out" | grep -q "From 198.18.1.1.*Destination Net Unreachable" || fail "no net unreachable: $out"
ok "tern forwards (ttl 63), fragments, sends time exceeded and net unreachable"

# (b) Linux as the router between two tern hosts (both taps live in namespace L).
ns_new l l
tern_start "$l" ita --tap tapa --addr 198.18.3.2/24 --gateway 198.18.3.1
tern_start "$l" itb --tap tapb --addr 198.18.4.2/24 --gateway 198.18.4.1
linux_addr "$l" tapa 198.18.3.1/24
linux_addr "$l" tapb 198.18.4.1/24
ip netns exec "$l" sysctl -qw net.ipv4.ip_forward=1
out=$("$TERN" -n ita ping -c 3 -i 0.2 198.18.4.2) || fail "tern A -> tern B via Linux: $out"
echo "$out" | grep -q "ttl=63" || fail "expected ttl=63 via the Linux router: $out"
echo "$out" | grep -q " 0% packet loss" || fail "loss through the Linux router: $out"
ok "tern <-> tern through a Linux router"
