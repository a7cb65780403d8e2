# The real iperf3 client (Debian's 3.x) against tern's iperf3 server
# (`tern host --iperf3 5201`) on a TAP: TCP both ways, parallel streams,
# time and byte limits, block lengths, JSON output checked field by field,
# --get-server-output, a second client refused while one runs, UDP refused
# with an error, and hostile control input that closes the connection
# without harming the next test.
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ip iperf3 python3

ns_new ns ip3
host=itip3$$ # the control socket's name is global: unique, so runs may overlap
tern_start "$ns" "$host" --tap tn-ip3 --addr 198.18.12.2/24 --iperf3 5201
linux_addr "$ns" tn-ip3 198.18.12.1/24
addr=198.18.12.2
ip3() { ip netns exec "$ns" timeout 40 iperf3 -c "$addr" "$@"; }

# jcheck FILE MODE: check an iperf3 --json report; prints the figures
jcheck() {
	python3 - "$@" <<'PY'
import json, sys
path, mode = sys.argv[1], sys.argv[2]
with open(path) as f:
    r = json.load(f)
if "error" in r:
    sys.exit("iperf3 reported: " + r["error"])
end = r["end"]
sent, rcvd = end["sum_sent"], end["sum_received"]
def fail(msg):
    sys.exit(f"{mode}: {msg} (sent {sent['bytes']}, received {rcvd['bytes']})")
if rcvd["bytes"] <= 0 or sent["bytes"] <= 0:
    fail("no bytes counted")
streams = end["streams"]
if mode == "parallel4":
    if len(streams) != 4:
        fail(f"{len(streams)} streams, not 4")
    for s in streams:
        if s["receiver"]["bytes"] <= 0 or s["sender"]["bytes"] <= 0:
            fail("a stream without bytes")
if mode.startswith("bytes"):
    want = int(mode[5:])
    if sent["bytes"] != rcvd["bytes"]:
        fail("sender and receiver disagree")
    if sent["bytes"] < want:
        fail(f"fewer than {want} bytes")
    for s in streams:
        if s["sender"]["bytes"] != s["receiver"]["bytes"]:
            fail(f"stream {s['sender']['socket']}: the two sides disagree")
if mode == "reverse":
    if r["start"]["test_start"]["reverse"] != 1:
        fail("not a reverse test")
    if "retransmits" not in sent:
        fail("no retransmission count from the sending server")
print(f"sent {sent['bytes']} B at {sent['bits_per_second'] / 1e6:.0f} Mbit/s, "
      f"received {rcvd['bytes']} B at {rcvd['bits_per_second'] / 1e6:.0f} Mbit/s"
      + (f", {sent['retransmits']} retransmits" if "retransmits" in sent else ""))
PY
}

run_json() { # MODE ARGS... : one test with --json, checked
	local mode=$1; shift
	ip3 --json "$@" >"$IT_TMP/$mode.json" 2>&1 || fail "iperf3 $* exited $?: $(tail -5 "$IT_TMP/$mode.json")"
	jcheck "$IT_TMP/$mode.json" "$mode" || fail "iperf3 $*: $(head -c 600 "$IT_TMP/$mode.json")"
}

fig=$(run_json normal -t 3) || fail "$fig"
ok "iperf3 -c -t 3 (Linux sends, tern receives): $fig"
fig=$(run_json reverse -R -t 3) || fail "$fig"
ok "iperf3 -R -t 3 (tern sends): $fig"
fig=$(run_json parallel4 -P 4 -t 3) || fail "$fig"
ok "iperf3 -P 4 -t 3: four streams, each counted: $fig"
fig=$(run_json bytes10485760 -n 10M) || fail "$fig"
ok "iperf3 -n 10M: both sides count the same bytes: $fig"
fig=$(run_json bytes1000000 -n 1000000 -l 1000 -P 2) || fail "$fig"
ok "iperf3 -n 1000000 -l 1000 -P 2: both sides agree on every stream: $fig"
fig=$(run_json rbytes -R -n 5M -l 32K) || fail "$fig"
ok "iperf3 -R -n 5M -l 32K: $fig"

out=$(ip3 -t 1 --get-server-output 2>&1) || fail "--get-server-output: $out"
echo "$out" | grep -q "^Server output:" || fail "no server output: $out"
echo "$out" | grep -q "Accepted connection from 198.18.12.1" || fail "server output: $out"
echo "$out" | grep -qE "^\[ *[0-9]+\] +0\.00-.*receiver$" || fail "no receiver line in the server output: $out"
ok "--get-server-output: the server's summary comes back"

# a second client while a test runs: refused as busy; the first one finishes
ip3 -t 4 >"$IT_TMP/first.txt" 2>&1 &
first=$!
sleep 1.5
second=$(ip3 -t 1 2>&1)
rc=$?
[ $rc -ne 0 ] || fail "a second client was not refused: $second"
echo "$second" | grep -q "the server is busy" || fail "second client: $second"
wait $first || fail "the first client failed: $(cat "$IT_TMP/first.txt")"
grep -q "receiver$" "$IT_TMP/first.txt" || fail "first client: $(cat "$IT_TMP/first.txt")"
ok "a second client during a test is told the server is busy; the first completes"

udp=$(ip3 -u -t 1 2>&1)
[ $? -ne 0 ] || fail "a UDP test was not refused: $udp"
echo "$udp" | grep -q "unable to start stream listener: Protocol not supported" || fail "UDP refusal: $udp"
ok "iperf3 -u is refused cleanly: $(echo "$udp" | grep error)"

# hostile control input: each connection is closed, the server lives on
cat >"$IT_TMP/hostile.py" <<'PY'
import socket, struct, sys, time
addr = (sys.argv[1], 5201)
cookie = b"abcdefghijklmnopqrstuvwxyz234567abcd\0"
def session(*chunks, expect_close=True):
    s = socket.create_connection(addr, timeout=5)
    got = b""
    try:
        for c in chunks:
            s.sendall(c)
            time.sleep(0.05)
        s.settimeout(3)
        while True:
            d = s.recv(4096)
            if not d:
                break
            got += d
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    return got
# a cookie, then a length word far over the limit
r = session(cookie, struct.pack(">I", 0x7fffffff))
assert r[:1] == b"\x09", r
# a cookie, then JSON that is not JSON
body = b'{"tcp":true,"parallel":1,"len":'
r = session(cookie, struct.pack(">I", len(body)), body)
assert r[:1] == b"\x09" and r[1:2] == b"\xfe", r   # SERVER_ERROR follows PARAM_EXCHANGE
# nesting past any sense
body = b'{"x":' + b'[' * 5000 + b']' * 5000 + b'}'
r = session(cookie, struct.pack(">I", len(body)), body)
assert r[1:2] == b"\xfe", r
# absurd values
body = b'{"tcp":true,"parallel":100000,"time":1}'
r = session(cookie, struct.pack(">I", len(body)), body)
assert r[1:2] == b"\xfe", r
# a cookie that is not one
r = session(b"\x01" * 37)
assert r == b"", r
print("ok")
PY
hostile=$(ip netns exec "$ns" timeout 60 python3 "$IT_TMP/hostile.py" "$addr" 2>&1) || fail "hostile input: $hostile"
fig=$(run_json after -n 2M) || fail "after hostile input: $fig"
ok "malformed control input (length, JSON, nesting, values, cookie) closes the connection; the next test runs: $fig"

tern_stop "$host" || fail "tern host exited with an error"
summary=$(grep "iperf3:" "$IT_TMP/$host.out")
echo "$summary"
echo "$summary" | grep -q " 5 bad control" || fail "bad control inputs not counted: $summary"
echo "$summary" | grep -q " 1 refused busy" || fail "busy refusal not counted: $summary"
echo "$summary" | grep -q " 1 UDP/SCTP refused" || fail "UDP refusal not counted: $summary"
ok "the host's counters: $summary"
