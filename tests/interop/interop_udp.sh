# UDP through tern on a TAP: Linux sends datagrams (some fragmenting) to tern's
# echo service and gets them back intact; a closed port answers with ICMP
# port unreachable, which Linux reports as ECONNREFUSED.
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ip python3

ns_new ns udp
tern_start "$ns" itudp --tap tap0 --addr 198.18.0.2/24 --udp-echo 7
linux_addr "$ns" tap0 198.18.0.1/24

check_udp_echo "$ns" 198.18.0.2
cat >"$IT_TMP/closed.py" <<'PY'
import socket, sys
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.settimeout(2)
c.connect(("198.18.0.2", 9))
c.send(b"anyone there?")
try:
    c.recv(100)
    sys.exit("closed port answered")
except ConnectionRefusedError:
    print("closed port: ECONNREFUSED")
PY
out=$(ip netns exec "$ns" python3 "$IT_TMP/closed.py" 2>&1) || fail "$out"
[ "$(nstat itudp UdpNoPorts)" -ge 1 ] || fail "UdpNoPorts did not count"
[ "$(nstat itudp IcmpOutDestUnreachs)" -ge 1 ] || fail "no ICMP unreachable counted"
[ "$(nstat itudp IpReasmOKs)" -ge 3 ] || fail "fragmented datagrams were not reassembled"
ok "$out; UdpNoPorts, the ICMP unreachable and 3 reassemblies counted"

if command -v socat >/dev/null; then
	out=$(echo "hello tern" | ip netns exec "$ns" socat -t 2 - UDP:198.18.0.2:7) || fail "socat: $out"
	[ "$out" = "hello tern" ] || fail "socat echo got '$out'"
	ok "socat UDP echo"
fi
