# TCP Fast Open (RFC 7413) between Linux and tern on a TAP, both ways:
# a Linux client (Python, sendto(MSG_FASTOPEN)) against tern's echo
# service, and tern's HTTP client (tern get --fastopen) against a Linux
# listener with TCP_FASTOPEN.  The first connection asks for a cookie; the
# later ones must carry their data in the SYN, which both sides' counters
# (and, with tshark, tern's capture) show.
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ip python3

ns_new ns tfo
tern_start "$ns" tfosrv --tap tfo0 --addr 198.18.14.2/24 --tcp-echo 7 --pcap "$IT_TMP/tfo.pcap"
linux_addr "$ns" tfo0 198.18.14.1/24
ip netns exec "$ns" sysctl -qw net.ipv4.tcp_fastopen=3 || fail "namespace sysctl net.ipv4.tcp_fastopen=3"
"$TERN" -n tfosrv sysctl -w net.ipv4.tcp_fastopen=3 | grep -q "net.ipv4.tcp_fastopen = 3" || fail "tern sysctl tcp_fastopen=3"

# Linux's TcpExt counter in the namespace, from /proc/net/netstat
linux_stat() {
	ip netns exec "$1" awk -v k="$2" '$1 == "TcpExt:" {
		if (!h) { for (i = 2; i <= NF; i++) n[i] = $i; h = 1 }
		else { for (i = 2; i <= NF; i++) if (n[i] == k) print $i } }' /proc/net/netstat
}

# ---- Linux client -> tern server ----
cat >"$IT_TMP/client.py" <<'PY'
import socket, sys
MSG_FASTOPEN = getattr(socket, "MSG_FASTOPEN", 0x20000000)
for i in range(3):
    s = socket.socket()  # blocking: without a cookie sendto waits for the handshake
    data = b"fast open request %d" % i
    s.sendto(data, MSG_FASTOPEN, ("198.18.14.2", 7))
    s.settimeout(10)
    got = b""
    while len(got) < len(data):
        b = s.recv(100)
        if not b:
            break
        got += b
    s.close()
    if got != data:
        sys.exit("echo %d: sent %r, got %r" % (i, data, got))
    print("echo ok", i)
PY
before=$(linux_stat "$ns" TCPFastOpenActive)
out=$(ip netns exec "$ns" python3 "$IT_TMP/client.py" 2>&1) || fail "$out"
echo "$out"
passive=$(nstat tfosrv TcpExtTCPFastOpenPassive)
reqd=$(nstat tfosrv TcpExtTCPFastOpenCookieReqd)
active=$(( $(linux_stat "$ns" TCPFastOpenActive) - before ))
echo "tern: TCPFastOpenCookieReqd $reqd, TCPFastOpenPassive $passive; Linux: TCPFastOpenActive +$active"
[ "$reqd" -ge 1 ] || fail "tern saw no cookie request"
[ "$passive" -ge 2 ] || fail "tern TCPFastOpenPassive $passive: the later SYNs did not carry accepted data"
[ "$active" -ge 2 ] || fail "Linux TCPFastOpenActive +$active: its SYN data was not acknowledged"
[ "$(nstat tfosrv TcpExtTCPFastOpenPassiveFail)" -eq 0 ] || fail "tern rejected a cookie"
if command -v tshark >/dev/null; then
	sleep 0.5 # the capture is written as packets pass
	n=$(tshark -r "$IT_TMP/tfo.pcap" -Y "tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.len > 0 && tcp.dstport == 7" \
		2>/dev/null | wc -l)
	[ "$n" -ge 2 ] || fail "tshark: $n SYNs with data to port 7 in tern's capture"
	echo "tshark: $n SYNs with data toward tern"
fi
ok "Linux client -> tern server: cookie requested, then the request in the SYN (echoed intact)"

# ---- tern client -> Linux server ----
cat >"$IT_TMP/server.py" <<'PY'
import socket, sys
TCP_FASTOPEN = getattr(socket, "TCP_FASTOPEN", 23)
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN, 16)
l.bind(("198.18.14.1", 8080))
l.listen(16)
open(sys.argv[1], "w").close()  # ready
for i in range(int(sys.argv[2])):
    c, _ = l.accept()
    req = b""
    while b"\r\n\r\n" not in req:
        b = c.recv(4096)
        if not b:
            break
        req += b
    body = b"fast open %d" % i
    c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    c.close()
PY
ip netns exec "$ns" python3 "$IT_TMP/server.py" "$IT_TMP/ready" 3 >"$IT_TMP/server.log" 2>&1 &
IT_PIDS+=("$!")
for _ in $(seq 100); do [ -f "$IT_TMP/ready" ] && break; sleep 0.05; done
[ -f "$IT_TMP/ready" ] || fail "python server did not start: $(cat "$IT_TMP/server.log")"
before=$(linux_stat "$ns" TCPFastOpenPassive)
for i in 0 1 2; do
	got=$("$TERN" -n tfosrv get --fastopen http://198.18.14.1:8080/) || fail "tern get --fastopen exited $?"
	[ "$got" = "fast open $i" ] || fail "tern get --fastopen $i: $got"
done
lpassive=$(( $(linux_stat "$ns" TCPFastOpenPassive) - before ))
tactive=$(nstat tfosrv TcpExtTCPFastOpenActive)
echo "Linux: TCPFastOpenPassive +$lpassive; tern: TCPFastOpenActive $tactive, TCPFastOpenActiveFail $(nstat tfosrv TcpExtTCPFastOpenActiveFail)"
[ "$lpassive" -ge 2 ] || fail "Linux TCPFastOpenPassive +$lpassive: tern's SYNs did not carry accepted data"
[ "$tactive" -ge 2 ] || fail "tern TCPFastOpenActive $tactive"
ok "tern client -> Linux server: cookie cached, then the request in the SYN"
