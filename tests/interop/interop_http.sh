# HTTP/1.1 between Linux tools and tern on a TAP: curl against tern's
# server (files, ranges, HEAD, errors, uploads plain and chunked, reused
# connections, HTTP/1.0, many at once, 0 B to 1 GiB, through netem loss),
# raw pipelining and half-closes through nc, wrk under load, tern's client
# (`tern get`) against Python's http.server and nc, an aborted download
# seen by Linux as a RST, and tshark's verdict on the capture.
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ip curl python3 nc sha256sum

ns_new ns http
root="$IT_TMP/www"
mkdir -p "$root/dir"
printf '<h1>hello from tern</h1>\n' >"$root/index.html"
printf 'in a directory\n' >"$root/dir/index.html"
head -c 3000000 /dev/urandom >"$root/big.bin"
tern_start "$ns" ithttp --tap tap0 --addr 198.18.9.2/24 --http 80 --docroot "$root" --tcp-echo 7 \
	--pcap "$IT_TMP/http.pcap"
linux_addr "$ns" tap0 198.18.9.1/24
url=http://198.18.9.2
incurl() { ip netns exec "$ns" curl -sS --max-time 30 "$@"; }

body=$(incurl "$url/") || fail "curl /"
[ "$body" = "<h1>hello from tern</h1>" ] || fail "curl / returned: $body"
got=$(incurl "$url/big.bin" | sha256sum | cut -c1-64)
want=$(sha256sum <"$root/big.bin" | cut -c1-64)
[ "$got" = "$want" ] || fail "3 MB file: SHA-256 differs"
ok "curl GET of a page and a 3 MB file (SHA-256 matches)"

head=$(incurl -I "$url/big.bin" | tr -d '\r')
echo "$head" | grep -q '^HTTP/1.1 200 OK$' || fail "HEAD: $head"
echo "$head" | grep -q '^Content-Length: 3000000$' || fail "HEAD length: $head"
echo "$head" | grep -q '^Last-Modified: .* GMT$' || fail "HEAD Last-Modified: $head"
echo "$head" | grep -q '^Date: .* GMT$' || fail "HEAD Date: $head"
range=$(incurl -r 1000-1999 "$url/big.bin" | sha256sum | cut -c1-64)
[ "$range" = "$(tail -c +1001 "$root/big.bin" | head -c 1000 | sha256sum | cut -c1-64)" ] || fail "range 1000-1999"
code=$(incurl -o /dev/null -w '%{http_code}' -r 1000-1999 "$url/big.bin")
[ "$code" = 206 ] || fail "range status $code"
[ "$(incurl -o /dev/null -w '%{http_code}' "$url/nope")" = 404 ] || fail "missing file not 404"
[ "$(incurl -o /dev/null -w '%{http_code}' -X DELETE "$url/index.html")" = 405 ] || fail "DELETE not 405"
[ "$(incurl -o /dev/null -w '%{http_code} %{redirect_url}' "$url/dir")" = "301 $url/dir/" ] || fail "dir redirect"
[ "$(incurl -L "$url/dir")" = "in a directory" ] || fail "following the redirect"
[ "$(incurl --path-as-is -o /dev/null -w '%{http_code}' "$url/../../etc/passwd")" = 400 ] || fail "traversal not refused"
ok "curl HEAD, Range (206), 404, 405, 301 to a directory, path traversal refused (400)"

head -c 200000 /dev/urandom >"$IT_TMP/up.bin"
got=$(incurl --data-binary @"$IT_TMP/up.bin" -H 'Content-Type: application/octet-stream' "$url/echo" | sha256sum | cut -c1-64)
[ "$got" = "$(sha256sum <"$IT_TMP/up.bin" | cut -c1-64)" ] || fail "POST /echo with Content-Length"
got=$(incurl --data-binary @"$IT_TMP/up.bin" -H 'Transfer-Encoding: chunked' "$url/echo" | sha256sum | cut -c1-64)
[ "$got" = "$(sha256sum <"$IT_TMP/up.bin" | cut -c1-64)" ] || fail "POST /echo chunked"
ok "curl uploads of 200 kB echoed intact, with Content-Length and chunked (Expect: 100-continue)"

# one curl, three URLs: one connection, reused
n=$(incurl -o /dev/null -o /dev/null -o /dev/null -w '%{num_connects}\n' "$url/" "$url/gen/1000" "$url/index.html" | awk '{ n += $1 } END { print n }')
[ "$n" = 1 ] || fail "keep-alive: $n connections for three requests"
[ "$(incurl -0 "$url/gen/10")" = "abcdefghij" ] || fail "HTTP/1.0 request"
ok "persistent connection reused by curl for three requests; HTTP/1.0 served"

# Files left alone for two seconds are read into the host's file cache and
# lent from there to the send buffer: the same bytes, whole and in ranges,
# and a file rewritten in place (same size) is served new at once.
sleep 2.1
fc0=$("$TERN" -n ithttp stat | grep 'file cache:') || fail "tern stat has no file cache line"
for _ in 1 2 3; do
	got=$(incurl "$url/big.bin" | sha256sum | cut -c1-64)
	[ "$got" = "$want" ] || fail "3 MB file from the cache: SHA-256 differs"
done
range=$(incurl -r 2000000-2999999 "$url/big.bin" | sha256sum | cut -c1-64)
[ "$range" = "$(tail -c +2000001 "$root/big.bin" | sha256sum | cut -c1-64)" ] || fail "range from the cache"
head -c 3000000 /dev/urandom >"$IT_TMP/big2.bin"
dd if="$IT_TMP/big2.bin" of="$root/big.bin" conv=notrunc status=none
want2=$(sha256sum <"$root/big.bin" | cut -c1-64)
[ "$want2" != "$want" ] || fail "the rewrite changed nothing"
got=$(incurl "$url/big.bin" | sha256sum | cut -c1-64)
[ "$got" = "$want2" ] || fail "file rewritten in place: the old bytes were served"
want=$want2
fc1=$("$TERN" -n ithttp stat | grep 'file cache:')
hits() { echo "$1" | sed -n 's/.*file cache: \([0-9]*\) hits.*/\1/p'; }
changed() { echo "$1" | sed -n 's/.* \([0-9]*\) dropped as changed.*/\1/p'; }
# 3 whole and 1 range from memory (the first of them read the file in, unless an
# earlier request had); the rewrite dropped the entry
[ $(($(hits "$fc1") - $(hits "$fc0"))) -ge 3 ] || fail "file cache hits: before '$fc0', after '$fc1'"
[ $(($(changed "$fc1") - $(changed "$fc0"))) -eq 1 ] || fail "the rewrite should drop one entry: '$fc0' -> '$fc1'"
ok "a settled 3 MB file served three times and in a range (from memory), and its in-place rewrite at once: $fc1"

# pipelining, byte for byte, through nc
resp=$(printf 'GET /gen/3 HTTP/1.1\r\nHost: a\r\n\r\nGET /nope HTTP/1.1\r\nHost: a\r\n\r\nGET /gen/4 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n' |
	ip netns exec "$ns" timeout 10 nc 198.18.9.2 80 | tr -d '\r')
[ "$(echo "$resp" | grep -o 'HTTP/1.1 [0-9]*' | tr '\n' ' ')" = "HTTP/1.1 200 HTTP/1.1 404 HTTP/1.1 200 " ] ||
	fail "pipelined responses (or their order): $resp"
[ "$(echo "$resp" | tail -1)" = "abcd" ] || fail "pipelined last body: $resp"
bad=$(printf 'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n' |
	ip netns exec "$ns" timeout 10 nc 198.18.9.2 80 | head -1 | tr -d '\r')
[ "$bad" = "HTTP/1.1 400 Bad Request" ] || fail "smuggling attempt answered: $bad"
ok "three pipelined requests answered in order over one connection (nc); CL+TE refused with 400"

# 200 transfers, 50 at a time
seq 200 | ip netns exec "$ns" xargs -P 50 -I{} curl -sS --max-time 30 -o /dev/null -w '%{http_code}\n' "$url/gen/100000" \
	>"$IT_TMP/par.txt" || fail "parallel curls failed"
[ "$(grep -c '^200$' "$IT_TMP/par.txt")" = 200 ] || fail "parallel: $(sort "$IT_TMP/par.txt" | uniq -c)"
ok "200 downloads of 100 kB, 50 at a time: all 200 OK"

if command -v wrk >/dev/null; then
	w=$(ip netns exec "$ns" wrk -t2 -c100 -d3s "$url/gen/1000" 2>&1) || fail "wrk: $w"
	reqs=$(echo "$w" | awk '/requests in/ { print $1 }')
	echo "$w" | grep -q "Non-2xx" && fail "wrk saw errors: $w"
	echo "$w" | grep -q "Socket errors" && fail "wrk socket errors: $w"
	[ "${reqs:-0}" -gt 100 ] || fail "wrk: only ${reqs:-0} requests: $w"
	ok "wrk, 100 connections for 3 s: $reqs requests, $(echo "$w" | awk '/Requests\/sec/ { print $2 }') req/s, no errors"
else
	echo "SKIP part: wrk not installed"
fi

# tern's client against Linux's Python http.server
mkdir -p "$IT_TMP/pysrv"
head -c 1500000 /dev/urandom >"$IT_TMP/pysrv/file.bin"
ip netns exec "$ns" python3 -m http.server 8000 --bind 198.18.9.1 --directory "$IT_TMP/pysrv" \
	>"$IT_TMP/pysrv.log" 2>&1 &
py=$!
IT_PIDS+=("$py")
for _ in $(seq 150); do ip netns exec "$ns" curl -s -o /dev/null http://198.18.9.1:8000/ && break; sleep 0.1; done
"$TERN" -n ithttp get -o "$IT_TMP/got.bin" http://198.18.9.1:8000/file.bin || fail "tern get exited $?"
cmp -s "$IT_TMP/got.bin" "$IT_TMP/pysrv/file.bin" || fail "tern get: body differs"
hdr=$("$TERN" -n ithttp get -I http://198.18.9.1:8000/file.bin | tr -d '\r')
echo "$hdr" | grep -q '^HTTP/1.0 200 OK$' || fail "tern get -I: $hdr"
echo "$hdr" | grep -qi '^Content-Length: 1500000$' || fail "tern get -I length: $hdr"
"$TERN" -n ithttp get http://198.18.9.1:8000/missing >/dev/null
[ $? = 22 ] || fail "tern get of a missing file did not exit 22"
"$TERN" -n ithttp get http://198.18.9.1:8001/ >/dev/null 2>&1
[ $? = 7 ] || fail "tern get to a closed port did not exit 7"
ok "tern get from Python's http.server: 1.5 MB intact, -I head, 404 -> exit 22, refused -> exit 7"

# nc both ways, with half-closes: Linux shuts its side first (echo), and
# tern's client reads a body that ends with Linux's close
back=$(printf 'half-closed hello' | ip netns exec "$ns" timeout 10 nc -N 198.18.9.2 7)
[ "$back" = "half-closed hello" ] || fail "echo after nc's half-close: $back"
printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nbody from nc' | ip netns exec "$ns" timeout 10 nc -N -l 198.18.9.1 8002 &
ncpid=$!
for _ in $(seq 100); do ip netns exec "$ns" ss -ltn | grep -q '198.18.9.1:8002 ' && break; sleep 0.05; done
got=$("$TERN" -n ithttp get http://198.18.9.1:8002/) || fail "tern get from nc exited $?"
[ "$got" = "body from nc" ] || fail "tern get from nc: $got"
wait $ncpid
printf 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n chunk\r\n0\r\nT: 1\r\n\r\n' |
	ip netns exec "$ns" timeout 10 nc -l 198.18.9.1 8004 >/dev/null &
ncpid=$!
for _ in $(seq 100); do ip netns exec "$ns" ss -ltn | grep -q '198.18.9.1:8004 ' && break; sleep 0.05; done
got=$("$TERN" -n ithttp get http://198.18.9.1:8004/) || fail "tern get of a chunked body exited $?"
[ "$got" = "hello chunk" ] || fail "tern get of a chunked body: $got"
kill $ncpid 2>/dev/null; wait $ncpid 2>/dev/null
ok "nc: echo after Linux's half-close; tern get of a body ended by Linux's close, and of a chunked one"

# an aborted download: tern closes with unread data, Linux sees a RST
cat >"$IT_TMP/slow.py" <<'PY'
import socket, sys, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("198.18.9.1", 8003)); l.listen(1)
open(sys.argv[1], "w").close()  # ready
c, _ = l.accept(); c.recv(4096)
c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n")
try:
    for _ in range(100000):
        c.sendall(b"x" * 65536)
        time.sleep(0.001)
    print("no reset")
except (ConnectionResetError, BrokenPipeError):
    # ECONNRESET, or EPIPE when the RST's error was taken by an earlier
    # call: this side never shut down, so either means a RST came
    print("reset")
PY
ip netns exec "$ns" timeout 30 python3 "$IT_TMP/slow.py" "$IT_TMP/slow.ready" >"$IT_TMP/slow.out" 2>&1 &
slow=$!
for _ in $(seq 100); do [ -e "$IT_TMP/slow.ready" ] && break; sleep 0.05; done
aborts() { echo $(( $(nstat ithttp TcpExtTCPAbortOnClose) + $(nstat ithttp TcpExtTCPAbortOnData) )); }
aborts0=$(aborts)
timeout -s INT 2 "$TERN" -n ithttp get -o "$IT_TMP/partial.bin" http://198.18.9.1:8003/ >/dev/null 2>&1
wait $slow
[ "$(cat "$IT_TMP/slow.out")" = reset ] || fail "Linux saw no RST from the aborted download: $(cat "$IT_TMP/slow.out")"
# unread data at close is TCPAbortOnClose; data arriving after it, TCPAbortOnData
[ "$(aborts)" -gt "$aborts0" ] || fail "the abort was not counted"
ok "an interrupted tern get resets the connection: Linux's send fails with ECONNRESET"

# tshark on everything the host sent and received above
if command -v tshark >/dev/null; then
	# one pass: every frame that is malformed or carries an expert error
	bad=$(tshark -r "$IT_TMP/http.pcap" -Y '_ws.malformed || _ws.expert.severity >= 8388608' 2>/dev/null)
	frames=$(capinfos -M -c "$IT_TMP/http.pcap" 2>/dev/null | awk '/Number of packets/ { print $NF }')
	[ -z "$bad" ] || fail "tshark: malformed frames or expert errors: $(echo "$bad" | head -5)"
	ok "tshark: ${frames:-all} frames, none malformed, no expert errors"
fi

# Sizes from 0 B to 1 GiB, persistent and not, on a clean path and (up to
# 2 MB) through Linux netem loss 2% delay 20ms reorder 10%
cat >"$IT_TMP/gen.py" <<'PY'
import hashlib, sys
n = int(sys.argv[1]); pat = b"abcdefghijklmnopqrstuvwxyz0123456789\n"
block = pat * 28339; h = hashlib.sha256(); left = n
while left >= len(block):
    h.update(block); left -= len(block)
h.update((pat * (left // 37 + 1))[:left]); print(h.hexdigest())
PY
fetch_sizes() { # NS ADDR SIZE... : each size closing and kept alive
	local ns=$1 addr=$2; shift 2
	for n in "$@"; do
		want=$(python3 "$IT_TMP/gen.py" "$n")
		got=$(ip netns exec "$ns" curl -sS --max-time 300 -H 'Connection: close' "http://$addr/gen/$n" | sha256sum | cut -c1-64)
		[ "$got" = "$want" ] || fail "$n bytes (Connection: close): SHA-256 differs"
		[ "$n" -gt 100000000 ] && continue # twice a gigabyte adds time, not coverage
		got=$(ip netns exec "$ns" curl -sS --max-time 300 "http://$addr/gen/$n" "http://$addr/gen/$n" | sha256sum | cut -c1-64)
		want2=$(python3 - "$n" <<'PY'
import hashlib, sys
n = int(sys.argv[1]); pat = b"abcdefghijklmnopqrstuvwxyz0123456789\n"
d = (pat * (n // 37 + 1))[:n]; print(hashlib.sha256(d + d).hexdigest())
PY
)
		[ "$got" = "$want2" ] || fail "$n bytes twice on one connection: SHA-256 differs"
	done
}
ns_new ns2 httpbig
tern_start "$ns2" ithttpb --tap tap1 --addr 198.18.9.2/24 --http 80
linux_addr "$ns2" tap1 198.18.9.1/24
t0=$SECONDS
fetch_sizes "$ns2" 198.18.9.2 0 1 65536 10000000 1073741824
ok "curl: 0 B, 1 B, 64 KiB, 10 MB and 1 GiB, closing and persistent, SHA-256 match ($((SECONDS - t0)) s)"
# the lossy path: Linux's netem when the kernel has it, else tern's own
# impairment on its side (the same words)
ns_new ns3 httplossy
imp="loss 2% delay 20ms reorder 10%"
if ip netns exec "$ns3" ip link add dummy0 type dummy 2>/dev/null &&
	ip netns exec "$ns3" tc qdisc add dev dummy0 root netem delay 1ms 2>/dev/null; then
	tern_start "$ns3" ithttpl --tap tap2 --addr 198.18.9.2/24 --http 80
	ip netns exec "$ns3" tc qdisc add dev tap2 root netem $imp || fail "netem"
	how="Linux netem"
else
	tern_start "$ns3" ithttpl --tap tap2 --addr 198.18.9.2/24 --impair "$imp" --http 80
	how="tern's impairment (this kernel has no netem)"
fi
linux_addr "$ns3" tap2 198.18.9.1/24
t0=$SECONDS
fetch_sizes "$ns3" 198.18.9.2 0 100000 2000000
[ "$(nstat ithttpl TcpRetransSegs)" -gt 0 ] || fail "no retransmissions on the lossy path"
ok "through $how, $imp: 0 B, 100 kB, 2 MB intact ($((SECONDS - t0)) s, $(nstat ithttpl TcpRetransSegs) retransmissions)"
