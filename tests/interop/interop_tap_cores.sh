# `tern host --tap IF --cores 2`: one stack per core, core k on its own
# queue of a multi-queue TAP (IFF_MULTI_QUEUE), all queues with one MAC;
# the kernel picks the queue of each frame it sends by its flow hash, and
# software Toeplitz steering moves frames that belong to the other core.
# Checks: the TAP has two queues; Linux pings; 64 curl fetches 8 at a
# time, whole; uploads echoed whole; iperf3 -P 4 both ways, bytes equal;
# `tern stat` shows both cores served
# connections and both queues delivered frames; SIGTERM: clean exit and
# the TAP gone with its last queue; a single-queue TAP is refused with a
# clear message; a persistent multi-queue TAP (ip tuntap ... multi_queue)
# works, and deleting it under the host is reported and exits cleanly.
# Needs root; exit 77 means skipped.
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ip ping curl xargs iperf3 python3 cmp head
[ -c /dev/net/tun ] || skip "no /dev/net/tun"

ns_new nst tmq
tap=tmq$$
host=ittmq$$
addr=198.18.71.2
tern_start "$nst" "$host" --tap "$tap" --cores 2 --addr $addr/24 --http 80 --udp-echo 7 --iperf3 5201
linux_addr "$nst" "$tap" 198.18.71.1/24
inl() { ip netns exec "$nst" "$@"; }
grep -q "running on 2 cores, multi-queue tap, 2 queues" "$IT_TMP/$host.err" || fail "start line: $(cat "$IT_TMP/$host.err")"
ip -n "$nst" -d link show "$tap" | grep -q "multi_queue numqueues 2 " ||
	fail "want a TAP with two queues: $(ip -n "$nst" -d link show "$tap")"
ok "$tap: multi_queue, 2 queues attached"

out=$(inl ping -c 5 -i 0.2 -W 2 "$addr" 2>&1) || fail "ping: $out"
echo "$out" | grep -q " 0% packet loss" || fail "ping loss: $out"
ok "ping: $(echo "$out" | tail -1)"

# 64 fetches, 8 at a time: the kernel's flow hash spreads them over the queues
seq 1 64 | inl xargs -P 8 -I{} sh -c "curl -sS --max-time 10 http://$addr/gen/100000 | wc -c" >"$IT_TMP/sizes" ||
	fail "curl: $(sort "$IT_TMP/sizes" | uniq -c)"
[ "$(grep -c '^100000$' "$IT_TMP/sizes")" = 64 ] || fail "curl: sizes $(sort "$IT_TMP/sizes" | uniq -c)"
ok "curl: 64 fetches of 100 kB over 8 parallel connections, all whole"

head -c 300000 /dev/urandom >"$IT_TMP/up"
seq 1 8 | inl xargs -P 4 -I{} sh -c "curl -sS --max-time 10 --data-binary @$IT_TMP/up http://$addr/echo \
	-o $IT_TMP/back{} && cmp -s $IT_TMP/up $IT_TMP/back{}" || fail "POST /echo: a body came back different"
ok "curl: 8 uploads of 300 kB echoed back intact"

# iperf3's port is pinned to core 0: its control connection and 4 streams meet there
fig=$(iperf3_check "$nst" "$addr" bytes-up -P 4 -n 100M) || fail "$fig"
ok "iperf3 -P 4 -n 100M (Linux sends): $fig"
fig=$(iperf3_check "$nst" "$addr" bytes-down -R -P 4 -n 100M) || fail "$fig"
ok "iperf3 -R -P 4 -n 100M (tern sends): $fig"

st=$("$TERN" -n "$host" stat) || fail "stat"
echo "$st" | grep -q '^Cores: 2' || fail "stat has no per-core table: $st"
for c in 0 1; do
	line=$(echo "$st" | sed -n "/^Cores:/,\$p" | awk -v c=$c '$1 == c && NF == 9')
	[ -n "$line" ] || fail "stat: no line for core $c: $st"
	set -- $line
	[ "$3" -gt 0 ] || fail "core $c served no connection: $line"
	# local + handed: frames the kernel put on this core's queue
	[ $(($6 + $7)) -gt 0 ] || fail "queue $c delivered nothing: $line"
	ok "core $c: $3 connections accepted, queue $c: $6 frames kept, $7 handed over; $8 received from the other core"
done
passive=$(echo "$st" | sed -n 's/^ *\([0-9]*\) passive connection openings.*/\1/p')
[ "${passive:-0}" -ge 72 ] || fail "summed passive opens ${passive:-none} < 72"
ok "stat sums the cores: $passive passive openings"

tern_stop "$host" || fail "tern host exited with $? on SIGTERM"
grep -q "counters at exit (all cores)" "$IT_TMP/$host.out" || fail "no clean shutdown: $(tail -3 "$IT_TMP/$host.out")"
ip -n "$nst" link show "$tap" >/dev/null 2>&1 && fail "$tap still there after its last queue closed"
ok "SIGTERM: clean exit, $tap gone with its last queue"

# A TAP that exists without multi_queue cannot take a second queue.
single=tmqs$$
ip -n "$nst" tuntap add "$single" mode tap || fail "ip tuntap add $single"
out=$(ip netns exec "$nst" timeout 10 "$TERN" host --name ittmqs$$ --tap "$single" --cores 2 --addr $addr/24 2>&1)
rc=$?
[ $rc -ne 0 ] || fail "--cores 2 on a single-queue TAP started"
echo "$out" | grep -q "must be multi-queue: ip tuntap add IF mode tap multi_queue" || fail "no clear message: $out"
ok "single-queue TAP refused: $(echo "$out" | tail -1 | cut -c1-90)..."

persist=tmqp$$
host2=ittmqp$$
ip -n "$nst" tuntap add "$persist" mode tap multi_queue || fail "ip tuntap add $persist multi_queue"
tern_start "$nst" "$host2" --tap "$persist" --cores 2 --addr 198.18.71.18/28 --http 80
linux_addr "$nst" "$persist" 198.18.71.17/28
seq 1 16 | inl xargs -P 4 -I{} sh -c "curl -sS --max-time 10 http://198.18.71.18/gen/10000 | wc -c" >"$IT_TMP/sizes2" ||
	fail "curl on $persist: $(sort "$IT_TMP/sizes2" | uniq -c)"
[ "$(grep -c '^10000$' "$IT_TMP/sizes2")" = 16 ] || fail "curl on $persist: sizes $(sort "$IT_TMP/sizes2" | uniq -c)"
pid=$(eval echo "\$PID_$host2")
ip -n "$nst" link del "$persist" || fail "ip link del $persist"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "tern host still running 5 s after its TAP was deleted"
wait "$pid"
rc=$?
[ $rc -eq 0 ] || fail "tern host exited with $rc after the TAP went away"
grep -q "interface $persist went away; stopping" "$IT_TMP/$host2.err" || fail "no report: $(cat "$IT_TMP/$host2.err")"
grep -q "counters at exit" "$IT_TMP/$host2.out" || fail "no clean shutdown: $(tail -3 "$IT_TMP/$host2.out")"
ok "persistent multi-queue TAP: 16 fetches whole; deleted under the host: reported, clean exit"
