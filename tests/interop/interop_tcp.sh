# TCP between Linux and tern on a TAP: echo (integrity both ways), chargen
# (RFC 864 pattern), discard, a refused port, and the same echo over a
# lossy, delayed, reordering path made by Linux's netem.
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ip python3

ns_new ns tcp
tern_start "$ns" ittcp --tap tap0 --addr 198.18.8.2/24 --tcp-echo 7 --discard 9 --chargen 19
linux_addr "$ns" tap0 198.18.8.1/24

cat >"$IT_TMP/tcp.py" <<'PY'
import hashlib, os, socket, sys, threading, time
host = "198.18.8.2"
def echo(size):
    s = socket.create_connection((host, 7), timeout=120)
    data = os.urandom(size)
    def writer():  # write while reading, or both sides' windows fill and stall
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
    w = threading.Thread(target=writer)
    w.start()
    back = bytearray()
    while True:
        b = s.recv(65536)
        if not b:
            break
        back += b
    w.join()
    s.close()
    if hashlib.sha256(back).digest() != hashlib.sha256(data).digest():
        sys.exit("echo of %d bytes: got %d bytes, SHA-256 differs" % (size, len(back)))
    print("echo ok", size)
lossy = len(sys.argv) > 1
for size in (0, 1, 1460, 100000) + (() if lossy else (2 * 1024 * 1024,)):
    echo(size)
s = socket.create_connection((host, 19), timeout=10)
got = bytearray()
while len(got) < 200000:
    got += s.recv(65536)
s.close()
want = bytes((32 + (i // 74 + i % 74) % 95) if i % 74 < 72 else (13 if i % 74 == 72 else 10) for i in range(200000))
if bytes(got[:200000]) != want:
    sys.exit("chargen pattern differs")
print("chargen ok")
s = socket.create_connection((host, 9), timeout=10)
s.sendall(os.urandom(5 * 1024 * 1024))
s.close()
print("discard ok")
try:
    socket.create_connection((host, 81), timeout=5)
    sys.exit("closed port accepted")
except ConnectionRefusedError:
    print("closed port: ECONNREFUSED")
if lossy:
    t0 = time.time()
    echo(1024 * 1024)
    print("1 MiB echo over the lossy path: %.1f s" % (time.time() - t0))
PY
out=$(ip netns exec "$ns" python3 "$IT_TMP/tcp.py" 2>&1) || fail "$out"
echo "$out"
[ "$(nstat ittcp TcpPassiveOpens)" -ge 7 ] || fail "TcpPassiveOpens too low"
[ "$(nstat ittcp TcpOutRsts)" -ge 1 ] || fail "no RST counted for the closed port"
ok "TCP echo/chargen/discard with Linux, RST for a closed port"

# tern ss: listeners with their backlog, and a connection held open
ss_out=$("$TERN" -n ittcp ss)
echo "$ss_out" | grep -qE "^LISTEN +0 +128 +0.0.0.0:7 " || fail "ss: no listener on :7: $ss_out"
ip netns exec "$ns" python3 -c '
import socket, time
s = socket.create_connection(("198.18.8.2", 9)); s.sendall(b"x" * 1000); time.sleep(1.5)' &
sleep 0.7
ss_out=$("$TERN" -n ittcp ss)
echo "$ss_out" | grep -qE "^ESTAB +0 +0 +198.18.8.2:9 +198.18.8.1:[0-9]+" || fail "ss: no ESTAB on :9: $ss_out"
# ss -i: TCP_INFO under each socket, in ss -ti's words (the client sent 1000 bytes)
ss_out=$("$TERN" -n ittcp ss -i)
echo "$ss_out" | grep -A1 -E "^ESTAB +0 +0 +198.18.8.2:9 " |
	grep -qE "^	 cubic wscale:[0-9]+,7 rto:[0-9.]+ rtt:[0-9.]+/[0-9.]+ ato:[0-9]+ mss:[0-9]+ .*cwnd:10 .*bytes_received:1000 " ||
	fail "ss -i: no detail line for the connection on :9: $ss_out"
"$TERN" -n ittcp ss -x >/dev/null 2>&1 && fail "ss -x accepted"
wait $!  # only the client: a bare wait would wait for the tern hosts too
ok "tern ss shows listeners and connections like ss -tan, and TCP_INFO like ss -tani"


# A lossy path: Linux's netem on its side when the kernel has it, and
# tern's own impairment on its side (so the test runs on any kernel).
ns_new ns2 tcplossy
tern_start "$ns2" ittcpl --tap tap1 --addr 198.18.8.2/24 --impair "loss 2% delay 20ms jitter 2ms reorder 10% duplicate 1%" --tcp-echo 7 --discard 9 --chargen 19
linux_addr "$ns2" tap1 198.18.8.1/24
netem=""
ip netns exec "$ns2" tc qdisc add dev tap1 root netem loss 2% delay 20ms reorder 10% 2>/dev/null && netem=" and Linux netem"
out=$(ip netns exec "$ns2" python3 "$IT_TMP/tcp.py" lossy 2>&1) || fail "lossy path: $out"
[ "$(nstat ittcpl TcpRetransSegs)" -ge 1 ] || fail "no retransmissions on a lossy path"
ok "TCP over 2% loss, 20 ms delay, reordering (tern impairment$netem): every byte intact, $(nstat ittcpl TcpRetransSegs) retransmissions"
