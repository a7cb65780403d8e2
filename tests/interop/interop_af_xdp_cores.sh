# `tern host --driver af_xdp --cores 2` on a veth end with two queues: one
# stack per core, core k with its own AF_XDP socket (and UMEM) on queue k,
# both sockets behind the one XDP program, which redirects each queue to
# its socket; software Toeplitz steering moves frames the kernel put on the
# other core's queue.  Checks: a too-few-queues interface is refused with a
# clear message; one program on the interface and a socket per queue; Linux
# pings; 64 curl fetches 8 at a time, whole; uploads echoed whole; `tern
# stat` shows both cores served connections and both sockets received
# frames; SIGTERM: clean exit, program gone; the veth deleted under a
# second 2-core host: reported, clean exit.  iperf3 -P 4 both ways, bytes
# equal (its port pinned to core 0, docs/DESIGN.md "Pinned ports").
# Needs root; exit 77 means skipped.
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ip ping curl xargs iperf3 python3 ethtool cmp head
require_af_xdp

ns_new nsl axcl   # Linux
ns_new nst axct   # tern
vl=axcL$$ vt=axcT$$
inl() { ip netns exec "$nsl" "$@"; }
xdp_on() { ip -n "$nst" link show "$vt" 2>/dev/null | grep -q "prog/xdp"; }

# A one-queue veth first: --cores 2 must be refused before anything is loaded.
ip link add "$vl" netns "$nsl" type veth peer name "$vt" netns "$nst" || skip "cannot create a veth pair"
ip -n "$nst" link set "$vt" up arp off
out=$(ip netns exec "$nst" timeout 10 "$TERN" host --name axc1q$$ --dev "$vt" --driver af_xdp --cores 2 \
	--addr 198.18.70.2/24 2>&1)
rc=$?
[ $rc -eq 2 ] || fail "--cores 2 on a one-queue interface: exit $rc, want 2: $out"
echo "$out" | grep -q "has 1 queue; --cores 2 from --queue 0 needs queues 0..1" || fail "no clear message: $out"
xdp_on && fail "XDP program left on $vt after the refusal"
ok "one-queue interface refused: $(echo "$out" | tail -1 | cut -c1-80)..."
ip -n "$nsl" link del "$vl"

veth_for_tern "$nsl" "$vl" "$nst" "$vt" 198.18.70.1/24 2
# XDP carries no checksum state: have Linux finish its checksums before the veth
inl ethtool -K "$vl" tx off >/dev/null || fail "ethtool -K $vl tx off"

# Does this kernel give us an AF_XDP socket at all?  (One core, queue 0.)
ip netns exec "$nst" "$TERN" host --name axcprobe$$ --dev "$vt" --driver af_xdp --addr 198.18.70.2/24 \
	>/dev/null 2>"$IT_TMP/probe.err" &
probe_pid=$!
for _ in $(seq 100); do
	grep -q "^tern: af_xdp $vt queue 0: " "$IT_TMP/probe.err" && break
	kill -0 $probe_pid 2>/dev/null || break
	sleep 0.1
done
kill -TERM $probe_pid 2>/dev/null
wait $probe_pid
grep -q "^tern: af_xdp $vt queue 0: " "$IT_TMP/probe.err" ||
	skip "the kernel refuses AF_XDP: $(grep '^tern:' "$IT_TMP/probe.err" | head -1)"

host=itaxc$$
tern_start "$nst" "$host" --dev "$vt" --driver af_xdp --cores 2 --addr 198.18.70.2/24 --http 80 --udp-echo 7 --iperf3 5201
addr=198.18.70.2
for q in 0 1; do
	grep -q "^tern: af_xdp $vt queue $q: " "$IT_TMP/$host.err" || fail "no socket on queue $q: $(cat "$IT_TMP/$host.err")"
done
grep -q "running on 2 cores, af_xdp queues 0..1" "$IT_TMP/$host.err" || fail "start line: $(cat "$IT_TMP/$host.err")"
# a veth has no RSS to point at the cores' queues: tern says it steers in software
grep -q "^tern: af_xdp $vt: the device's RSS cannot be set (Operation not supported)" "$IT_TMP/$host.err" ||
	fail "no word on the device's RSS: $(cat "$IT_TMP/$host.err")"
progs=$(ip -n "$nst" link show "$vt" | grep -c "prog/xdp")
[ "$progs" = 1 ] || fail "want one XDP program on $vt: $(ip -n "$nst" link show "$vt")"
ok "sockets on queues 0 and 1 ($(sed -n "s/^tern: af_xdp $vt queue 1: //p" "$IT_TMP/$host.err")) behind one program" \
	"($(ip -n "$nst" link show "$vt" | grep -o 'prog/xdp[a-z]* id [0-9]*'))"

check_ping "$nsl" "$addr"

# 64 fetches, 8 at a time: Linux's tx queue (by socket hash) and source ports spread them
curl_many "$nsl" "http://$addr/gen/100000" 64 8 100000
ok "curl: 64 fetches of 100 kB over 8 parallel connections, all whole"
check_uploads "$nsl" "$addr"

# iperf3's port is pinned to core 0: its control connection and 4 streams meet there
iperf3_both "$nsl" "$addr" bytes -P 4 -n 100M

# Which queue a frame arrives on is the kernel's choice (a hash per socket):
# if one queue has seen nothing yet, more connections, up to twice
queue_frames() { # core -> frames its own socket took (kept + handed over)
	"$TERN" -n "$host" stat | sed -n "/^Cores:/,\$p" | awk -v c=$1 '$1 == c && NF == 9 { print $6 + $7 }'
}
for round in 1 2; do
	[ "$(queue_frames 0)" -gt 0 ] && [ "$(queue_frames 1)" -gt 0 ] && break
	seq 1 64 | inl xargs -P 8 -I{} sh -c "curl -sS --max-time 10 http://$addr/gen/1000 >/dev/null" || fail "curl (round $round)"
done

# each core's own socket (queue k) must have taken frames: kept + handed over
check_cores_stat "$host" 72 queues

stop_clean "$host" "counters at exit (all cores)"
xdp_on && fail "XDP program still on $vt after tern exited: $(ip -n "$nst" link show "$vt")"
ok "SIGTERM: clean exit, no XDP program left on $vt"

host2=itaxc2$$
tern_start "$nst" "$host2" --dev "$vt" --driver af_xdp --cores 2 --addr 198.18.70.2/24 --udp-echo 7
out=$(inl ping -c 2 -i 0.2 -W 2 "$addr" 2>&1) || fail "ping after restart: $out"
dev_deleted_under "$nst" "$vt" "$host2"
ok "veth deleted under the 2-core host: reported, clean exit"
