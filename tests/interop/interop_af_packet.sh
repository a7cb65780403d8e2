# tern on a veth end through the AF_PACKET driver (`tern host --dev IF
# --driver af_packet`), Linux on the other end in its own namespace: ping
# and flood ping, curl against tern's HTTP server (a 3 MB body checked by
# SHA-256), iperf3 both ways with byte counts that agree, UDP echo
# (fragmenting sizes too), and the veth deleted under the running host,
# which reports it and exits cleanly.  Then the driver alone: two sockets
# in one PACKET_FANOUT_HASH group on one veth split flows between them,
# each flow whole on one.  Needs root; exit 77 means skipped.
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ip ping curl iperf3 python3 sha256sum

ns_new nsl afpl   # Linux
ns_new nst afpt   # tern
vl=afpL$$ vt=afpT$$
ip link add "$vl" netns "$nsl" type veth peer name "$vt" netns "$nst" || skip "cannot create a veth pair"
ip -n "$nsl" addr add 198.18.44.1/24 dev "$vl"
ip -n "$nsl" link set "$vl" up
# tern takes the interface's MAC: keep the kernel quiet on it (no ARP, no
# IPv6 neighbour discovery, no forwarding of tern's traffic)
ip -n "$nst" link set "$vt" up arp off
ip netns exec "$nst" sysctl -qw "net.ipv6.conf.$vt.disable_ipv6=1" 2>/dev/null
ip netns exec "$nst" sysctl -qw net.ipv4.ip_forward=0
host=itafp$$
tern_start "$nst" "$host" --dev "$vt" --driver af_packet --addr 198.18.44.2/24 --http 80 --udp-echo 7 --iperf3 5201
addr=198.18.44.2
inl() { ip netns exec "$nsl" "$@"; }

"$TERN" -n "$host" addr | grep -q "link/ether $(ip netns exec "$nst" cat "/sys/class/net/$vt/address")" ||
	fail "tern does not use the interface's MAC: $("$TERN" -n "$host" addr)"
out=$(inl ping -c 5 -i 0.2 -W 2 "$addr" 2>&1) || fail "ping: $out"
echo "$out" | grep -q " 0% packet loss" || fail "ping loss: $out"
ok "ping: $(echo "$out" | tail -1)"
out=$(inl ping -f -c 2000 -W 2 "$addr" 2>&1) || fail "flood ping: $out"
rcvd=$(echo "$out" | sed -n 's/.* \([0-9]*\) received.*/\1/p')
[ "${rcvd:-0}" -ge 1980 ] || fail "flood ping: $out"
ok "flood ping: $rcvd of 2000 answered; $(echo "$out" | tail -1)"

body=$(inl curl -sS --max-time 10 "http://$addr/gen/26") || fail "curl"
[ "$body" = "abcdefghijklmnopqrstuvwxyz" ] || fail "curl /gen/26 returned: $body"
want=$(python3 - <<'PY'
import hashlib
n = 3000000; pat = b"abcdefghijklmnopqrstuvwxyz0123456789\n"
print(hashlib.sha256((pat * (n // 37 + 1))[:n]).hexdigest())
PY
)
got=$(inl curl -sS --max-time 30 "http://$addr/gen/3000000" | sha256sum | cut -c1-64)
[ "$got" = "$want" ] || fail "curl of 3 MB: SHA-256 differs"
ok "curl: a page and 3 MB (SHA-256 matches)"

ip3() { iperf3_check "$nsl" "$addr" "$@"; }
fig=$(ip3 bytes-up -n 200M) || fail "$fig"
ok "iperf3 -n 200M (Linux sends): $fig"
fig=$(ip3 bytes-down -R -n 200M) || fail "$fig"
ok "iperf3 -R -n 200M (tern sends): $fig"
fig=$(ip3 time-up -t 3) || fail "$fig"
ok "iperf3 -t 3: $fig"
fig=$(ip3 time-down -R -t 3) || fail "$fig"
ok "iperf3 -R -t 3: $fig"

cat >"$IT_TMP/udp.py" <<'PY'
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.connect((sys.argv[1], 7))
for size in (1, 64, 1472, 1473, 3000, 8000, 20000):
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
print("UDP echo of 1..20000 bytes intact")
PY
out=$(inl python3 "$IT_TMP/udp.py" "$addr" 2>&1) || fail "$out"
ok "$out"
stats=$("$TERN" -n "$host" addr | grep "RX:")
ok "device counters: $stats"

# the interface deleted under the running host
pid=$(eval echo "\$PID_$host")
ip -n "$nst" link del "$vt" || fail "ip link del $vt"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "tern host still running 5 s after its interface was deleted"
wait "$pid"
rc=$?
[ $rc -eq 0 ] || fail "tern host exited with $rc after the interface went away"
grep -q "interface $vt went away; stopping" "$IT_TMP/$host.err" || fail "no report: $(cat "$IT_TMP/$host.err")"
grep -q "counters at exit" "$IT_TMP/$host.out" || fail "no clean shutdown: $(tail -3 "$IT_TMP/$host.out")"
ok "veth deleted under the host: reported, clean exit"

# PACKET_FANOUT_HASH: two sockets of one group on one veth (the driver
# alone, through a small program): 32 UDP flows from Linux, 20 datagrams
# each; every flow must arrive whole on one socket, and both must get some.
[ -f "$(dirname "$TERN")/libtern.a" ] || skip "$(dirname "$TERN")/libtern.a missing"
cat >"$IT_TMP/fanout.c" <<'C'
/* usage: fanout IFNAME GROUP SECONDS: two af_packet devices in one fanout
 * group; prints "flow SPORT SOCKET COUNT" for every UDP flow to port 9999,
 * "mixed SPORT" for a flow seen on both. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "link/dev.h"

int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	struct tn_af_packet_cfg cfg = {.fanout_group = (uint32_t)atoi(argv[2])};
	struct tn_dev *d[2] = {tn_af_packet_open(argv[1], &cfg), tn_af_packet_open(argv[1], &cfg)};
	if (!d[0] || !d[1]) {
		perror("tn_af_packet_open");
		return 1;
	}
	struct tn_mempool *mp = tn_mempool_new(512);
	static unsigned count[2][65536];
	printf("ready\n");
	fflush(stdout);
	time_t end = time(NULL) + atoi(argv[3]);
	while (time(NULL) < end) {
		struct pollfd pfd[2] = {{.fd = tn_dev_fd(d[0]), .events = POLLIN}, {.fd = tn_dev_fd(d[1]), .events = POLLIN}};
		poll(pfd, 2, 100);
		for (int k = 0; k < 2; k++) {
			struct tn_pkt *in[TN_DEV_BURST];
			unsigned n = tn_dev_rx(d[k], mp, in, TN_DEV_BURST);
			for (unsigned i = 0; i < n; i++) {
				const uint8_t *f = in[i]->data;
				if (in[i]->len >= 42 && f[12] == 0x08 && f[13] == 0 && f[23] == 17 &&
				    (f[36] << 8 | f[37]) == 9999)
					count[k][f[34] << 8 | f[35]]++;
				tn_pkt_free(in[i]);
			}
		}
	}
	for (unsigned p = 0; p < 65536; p++) {
		if (count[0][p] && count[1][p])
			printf("mixed %u\n", p);
		else if (count[0][p] || count[1][p])
			printf("flow %u %d %u\n", p, count[0][p] ? 0 : 1, count[0][p] + count[1][p]);
	}
	tn_dev_destroy(d[0]);
	tn_dev_destroy(d[1]);
	printf("in use %u\n", tn_mempool_in_use(mp));
	tn_mempool_free(mp);
	return 0;
}
C
# the library may be a sanitizer build (gcc's or clang's): link as it was built
built=
for cc in "${CC:-cc}" "${CC:-cc} -fsanitize=address,undefined" "clang -fsanitize=address,undefined"; do
	$cc -std=gnu11 -O1 -Wall -Wextra -Werror -D_GNU_SOURCE -Isrc -o "$IT_TMP/fanout" "$IT_TMP/fanout.c" \
		"$(dirname "$TERN")/libtern.a" -lm 2>"$IT_TMP/cc.err" && { built=1; break; }
done
[ -n "$built" ] || { echo "SKIP part: the fanout helper does not link with $(dirname "$TERN")/libtern.a: $(tail -1 "$IT_TMP/cc.err")"; exit 0; }
ns_new nsf afpf
ns_new nsg afpg
fl=afpFL$$ ft=afpFT$$
ip link add "$fl" netns "$nsf" type veth peer name "$ft" netns "$nsg" || fail "veth for fanout"
ip -n "$nsf" addr add 198.18.45.1/24 dev "$fl"
ip -n "$nsf" link set "$fl" up
ip -n "$nsg" link set "$ft" up arp off
ip -n "$nsf" neigh add 198.18.45.2 lladdr "$(ip netns exec "$nsg" cat "/sys/class/net/$ft/address")" dev "$fl"
ip netns exec "$nsg" "$IT_TMP/fanout" "$ft" 4242 4 >"$IT_TMP/fanout.out" 2>&1 &
fpid=$!
for _ in $(seq 50); do grep -q ready "$IT_TMP/fanout.out" && break; sleep 0.1; done
grep -q ready "$IT_TMP/fanout.out" || fail "fanout helper: $(cat "$IT_TMP/fanout.out")"
ip netns exec "$nsf" python3 - <<'PY'
import socket, time
socks = []
for i in range(32):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("198.18.45.1", 40000 + i))
    socks.append(s)
for r in range(20):
    for s in socks:
        s.sendto(b"x" * 32, ("198.18.45.2", 9999))
    time.sleep(0.01)
PY
wait $fpid || fail "fanout helper: $(cat "$IT_TMP/fanout.out")"
grep -q "^mixed" "$IT_TMP/fanout.out" && fail "a flow was split between the sockets: $(grep mixed "$IT_TMP/fanout.out")"
flows=$(grep -c "^flow" "$IT_TMP/fanout.out")
[ "$flows" -eq 32 ] || fail "fanout: $flows flows seen, not 32"
total=$(awk '/^flow/ { n += $4 } END { print n }' "$IT_TMP/fanout.out")
[ "$total" -eq 640 ] || fail "fanout: $total datagrams, not 640"
on0=$(awk '/^flow/ && $3 == 0' "$IT_TMP/fanout.out" | wc -l)
[ "$on0" -gt 0 ] && [ "$on0" -lt 32 ] || fail "fanout: $on0 of 32 flows on socket 0"
grep -q "^in use 0$" "$IT_TMP/fanout.out" || fail "fanout: packets leaked"
ok "PACKET_FANOUT_HASH: 32 flows, 640 datagrams, $on0 flows on one socket and $((32 - on0)) on the other, none split"
