# Linux ping <-> tern on a TAP: plain, fragmenting (-s 4000), flood, and tern pinging Linux.
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ping ip

ns_new ns ping
tern_start "$ns" itping --tap tap0 --addr 198.18.0.2/24
linux_addr "$ns" tap0 198.18.0.1/24

out=$(ip netns exec "$ns" ping -c 5 -i 0.2 -W 2 198.18.0.2) || fail "ping: $out"
echo "$out" | grep -q " 0% packet loss" || fail "loss on plain ping: $out"
ok "Linux ping: 0% loss"

out=$(ip netns exec "$ns" ping -c 3 -i 0.2 -s 4000 -W 2 198.18.0.2) || fail "ping -s 4000: $out"
echo "$out" | grep -q "4008 bytes from 198.18.0.2" || fail "no 4008-byte replies: $out"
reasm=$(nstat itping IpReasmOKs); frags=$(nstat itping IpFragCreates)
[ "$reasm" -ge 3 ] || fail "IpReasmOKs=$reasm, want >= 3"
[ "$frags" -ge 9 ] || fail "IpFragCreates=$frags, want >= 9"
ok "ping -s 4000: reassembled $reasm, created $frags fragments"

out=$(ip netns exec "$ns" ping -f -c 10000 -q 198.18.0.2) || fail "flood ping: $out"
echo "$out" | grep -q "10000 packets transmitted, 10000 received" || fail "flood ping lost packets: $out"
ok "flood ping: 10000/10000"

out=$("$TERN" -n itping ping -c 3 -i 0.2 198.18.0.1) || fail "tern ping: $out"
echo "$out" | grep -q "3 packets transmitted, 3 received, 0% packet loss" || fail "tern ping loss: $out"
echo "$out" | grep -q "ttl=64" || fail "tern ping: no ttl=64 in $out"
echo "$out" | grep -q "rtt min/avg/max/mdev" || fail "tern ping: no rtt summary"
ok "tern ping of Linux: 0% loss, ttl=64"

tern_stop itping || fail "tern host exited non-zero"
grep -q "total packets received" "$IT_TMP/itping.out" || fail "no counters printed at exit"
ok "host stopped cleanly and printed counters"
