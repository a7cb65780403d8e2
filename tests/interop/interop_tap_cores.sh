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
grep -q "running on 2 cores, multi-queue tap, 2 queues" "$IT_TMP/$host.err" || fail "start line: $(cat "$IT_TMP/$host.err")"
ip -n "$nst" -d link show "$tap" | grep -q "multi_queue numqueues 2 " ||
	fail "want a TAP with two queues: $(ip -n "$nst" -d link show "$tap")"
ok "$tap: multi_queue, 2 queues attached"

check_ping "$nst" "$addr"

# 64 fetches, 8 at a time: the kernel's flow hash spreads them over the queues
curl_many "$nst" "http://$addr/gen/100000" 64 8 100000
ok "curl: 64 fetches of 100 kB over 8 parallel connections, all whole"
check_uploads "$nst" "$addr"

# iperf3's port is pinned to core 0: its control connection and 4 streams meet there
iperf3_both "$nst" "$addr" bytes -P 4 -n 100M

# local + handed: frames the kernel put on this core's queue
check_cores_stat "$host" 72 queues

stop_clean "$host" "counters at exit (all cores)"
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
tern_start "$nst" "$host2" --tap "$persist" --cores 2 --no-pin --addr 198.18.71.18/28 --http 80
all=$(awk '/^Cpus_allowed_list:/ { print $2 }' /proc/self/status)
cpus=$(thread_cpus "$host2" | tr '\n' ' ')
[ "$cpus" = "$all $all " ] || fail "--no-pin: both threads should run anywhere ($all): $cpus"
linux_addr "$nst" "$persist" 198.18.71.17/28
curl_many "$nst" "http://198.18.71.18/gen/10000" 16 4 10000
dev_deleted_under "$nst" "$persist" "$host2" TAP
ok "persistent multi-queue TAP, --no-pin (threads on CPUs $all): 16 fetches whole; deleted under the host: reported, clean exit"
