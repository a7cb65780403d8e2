# UDP through tern on a TAP: Linux sends datagrams (some fragmenting) to tern's
# echo service and gets them back intact; a closed port answers with ICMP
# port unreachable, which Linux reports as ECONNREFUSED.
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ip python3

ns_new ns udp
tern_start "$ns" itudp --tap tap0 --addr 198.18.0.2/24 --udp-echo 7
linux_addr "$ns" tap0 198.18.0.1/24

cat >"$IT_TMP/udp.py" <<'PY'
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.connect(("198.18.0.2", 7))
for size in (1, 64, 512, 1472, 1473, 3000, 8000, 20000):
    data = os.urandom(size)
    for attempt in range(3):
        s.send(data)
        try:
            back = s.recv(65536)
            break
        except socket.timeout:
            continue
    else:
        sys.exit("no echo for %d bytes" % size)
    if back != data:
        sys.exit("echo differs for %d bytes" % size)
    print("echo ok", size)
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
out=$(ip netns exec "$ns" python3 "$IT_TMP/udp.py" 2>&1) || fail "$out"
echo "$out"
[ "$(nstat itudp UdpNoPorts)" -ge 1 ] || fail "UdpNoPorts did not count"
[ "$(nstat itudp IcmpOutDestUnreachs)" -ge 1 ] || fail "no ICMP unreachable counted"
[ "$(nstat itudp IpReasmOKs)" -ge 3 ] || fail "fragmented datagrams were not reassembled"
ok "UDP echo of 1..20000 bytes, port unreachable"

if command -v socat >/dev/null; then
	out=$(echo "hello tern" | ip netns exec "$ns" socat -t 2 - UDP:198.18.0.2:7) || fail "socat: $out"
	[ "$out" = "hello tern" ] || fail "socat echo got '$out'"
	ok "socat UDP echo"
fi
