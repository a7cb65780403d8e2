# The control commands against a running host: sysctl changes take effect,
# route and neigh show state like ip(8), SIGTERM prints counters and exits 0.
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ip ping

ns_new ns cli
tern_start "$ns" itcli --tap tap0 --addr 198.18.0.2/24
linux_addr "$ns" tap0 198.18.0.1/24

"$TERN" -n itcli sysctl -w net.ipv4.ip_default_ttl=32 | grep -q "net.ipv4.ip_default_ttl = 32" || fail "sysctl -w"
out=$(ip netns exec "$ns" ping -c 1 -W 2 198.18.0.2) || fail "ping: $out"
echo "$out" | grep -q "ttl=32" || fail "ttl not 32 after sysctl: $out"
ok "sysctl ip_default_ttl=32 takes effect"

"$TERN" -n itcli sysctl -w net.ipv4.icmp_echo_ignore_all=1 >/dev/null
out=$(ip netns exec "$ns" ping -c 2 -i 0.3 -W 1 198.18.0.2 2>&1)
echo "$out" | grep -q "100% packet loss" || fail "echo_ignore_all did not silence tern: $out"
"$TERN" -n itcli sysctl -w net.ipv4.icmp_echo_ignore_all=0 >/dev/null
"$TERN" -n itcli sysctl net.nope >/dev/null 2>&1 && fail "unknown sysctl accepted"
ok "icmp_echo_ignore_all"

"$TERN" -n itcli route add 198.19.0.0/16 via 198.18.0.1 || fail "route add"
"$TERN" -n itcli route | grep -q "198.19.0.0/16 via 198.18.0.1 dev tap0" || fail "route not shown"
"$TERN" -n itcli route | grep -q "198.18.0.0/24 dev tap0 proto kernel scope link src 198.18.0.2" ||
	fail "connected route not shown: $("$TERN" -n itcli route)"
ok "route add/show"

mac=$(ip -n "$ns" link show tap0 | awk '/link\/ether/ { print $2 }')
"$TERN" -n itcli neigh | grep -q "198.18.0.1 dev tap0 lladdr $mac" || fail "neigh: $("$TERN" -n itcli neigh)"
ok "neigh shows the kernel side's MAC"

tern_stop itcli || fail "tern host did not exit 0 on SIGTERM"
grep -q "^Ip:" "$IT_TMP/itcli.out" && grep -q "total packets received" "$IT_TMP/itcli.out" || fail "no counters at exit"
ok "SIGTERM: exit 0 with counters"

# deleting the interface under a running host: reported, clean exit
tern_start "$ns" itdel --tap tapdel --addr 198.18.7.2/24
ip -n "$ns" link del tapdel || fail "ip link del"
for _ in $(seq 50); do kill -0 "$PID_itdel" 2>/dev/null || break; sleep 0.1; done
kill -0 "$PID_itdel" 2>/dev/null && fail "host kept running after its interface was deleted"
wait "$PID_itdel" || fail "host exited non-zero after interface deletion"
grep -q "went away" "$IT_TMP/itdel.err" || fail "deletion not reported"
ok "interface deleted: reported, clean exit"
