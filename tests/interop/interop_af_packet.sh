# tern on a veth end through the AF_PACKET driver (`tern host --dev IF
# --driver af_packet`), Linux on the other end in its own namespace: ping
# and flood ping, curl against tern's HTTP server (a 3 MB body checked by
# SHA-256), iperf3 both ways with byte counts that agree, UDP echo
# (fragmenting sizes too), the kernel's own receive path cut (and kept
# with --kernel-rx pass), and the veth deleted under the running host,
# which reports it and exits cleanly.  Then the driver alone: two sockets
# in one PACKET_FANOUT_HASH group on one veth split flows between them,
# each flow whole on one.  Needs root; exit 77 means skipped.
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ip ping curl iperf3 python3 sha256sum

ns_new nsl afpl   # Linux
ns_new nst afpt   # tern
vl=afpL$$ vt=afpT$$
veth_for_tern "$nsl" "$vl" "$nst" "$vt" 198.18.44.1/24
host=itafp$$
tern_start "$nst" "$host" --dev "$vt" --driver af_packet --addr 198.18.44.2/24 --http 80 --udp-echo 7 --iperf3 5201
addr=198.18.44.2

check_mac "$host" "$nst" "$vt"
# ping, flood ping, curl, iperf3 both ways, UDP echo, device counters
check_services "$nsl" "$addr" "$host"

# the kernel holds no address on the veth end: its own receive path there
# is cut (a tcx program after the packet taps), so 500 pings to tern reach
# no kernel IP input in tern's namespace
kin() { ip netns exec "$nst" awk '/^Ip:/ { if (h) print $4; h = 1 }' /proc/net/snmp; }
grep -q "the kernel's own receive path on it is cut" "$IT_TMP/$host.err" ||
	fail "kernel receive path not cut: $(cat "$IT_TMP/$host.err")"
k0=$(kin); ip netns exec "$nsl" ping -f -c 500 -W 2 "$addr" >/dev/null || fail "ping with the kernel cut"; k1=$(kin)
[ $((k1 - k0)) -lt 50 ] || fail "the kernel's IP input took $((k1 - k0)) frames while cut"
ok "kernel receive path cut: its IP input took $((k1 - k0)) of 500 pings' frames"

# --kernel-rx pass: the kernel sees every frame again (the first host's
# program went with it)
stop_clean "$host"
host=itafp2$$
tern_start "$nst" "$host" --dev "$vt" --driver af_packet --kernel-rx pass --addr 198.18.44.2/24 --udp-echo 7
k0=$(kin); ip netns exec "$nsl" ping -f -c 500 -W 2 "$addr" >/dev/null || fail "ping with --kernel-rx pass"; k1=$(kin)
[ $((k1 - k0)) -ge 500 ] || fail "--kernel-rx pass: the kernel's IP input took only $((k1 - k0)) frames"
ok "--kernel-rx pass: the kernel's IP input took $((k1 - k0)) frames, tern answered all 500 pings"

# the interface deleted under the running host
dev_deleted_under "$nst" "$vt" "$host"
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
