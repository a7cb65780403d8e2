#!/usr/bin/env bash
# tern on a veth end through AF_XDP and through AF_PACKET, against Linux on
# the same veth: iperf3 goodput both ways and 64-byte UDP packets per
# second from Linux to the receiver; prints a table and the ratios.
#
#   [TERN=build/tern] [SECONDS=5] [RUNS=3] bench/veth_drivers.sh
#
# Namespace L runs Linux's side (iperf3 -c, the UDP sender); namespace R
# the receiver: tern (--driver af_xdp or af_packet) or Linux (iperf3 -s).
# The same veth pair for all, Linux's end with `ethtool -K tx off` (AF_XDP
# carries no checksum state, so frames must leave Linux summed; that also
# turns TSO off), R's end with MTU 1500.  UDP: a sendmmsg loop of 18-byte
# datagrams (64-byte frames with the FCS) to a port with no socket for
# SECONDS (unconnected: ICMP port unreachable does not stop it); the receiver's UDP "no port" counter (tern stat --nstat, Linux
# /proc/net/snmp) counts what its stack took in.  Medians of RUNS.
# Needs root, iperf3, ethtool, a C compiler; exit 77 if missing.
set -uo pipefail
cd "$(dirname "$0")/.."
TERN=$(readlink -f "${TERN:-build/tern}")
SECS=${SECONDS_EACH:-${SECONDS:-5}}
RUNS=${RUNS:-3}
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
for c in ip iperf3 ethtool cc python3; do command -v $c >/dev/null || { echo "SKIP: $c missing"; exit 77; }; done
tmp=$(mktemp -d)
L=tern-bvd-l-$$ R=tern-bvd-r-$$
cleanup() { [ -n "${tpid:-}" ] && kill "$tpid" 2>/dev/null; wait 2>/dev/null; ip netns del $L 2>/dev/null; ip netns del $R 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
cat >"$tmp/udpflood.c" <<'C'
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
int main(int argc, char **argv)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9)};
	inet_pton(AF_INET, argv[1], &to.sin_addr);
	static char buf[18];
	struct iovec iov = {buf, sizeof(buf)};
	struct mmsghdr m[64];
	for (int i = 0; i < 64; i++)
		m[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &to, .msg_namelen = sizeof(to), .msg_iov = &iov, .msg_iovlen = 1}};
	time_t end = time(NULL) + atoi(argv[2]);
	unsigned long sent = 0;
	while (time(NULL) < end) {
		int n = sendmmsg(fd, m, 64, 0);
		if (n > 0)
			sent += (unsigned long)n;
	}
	printf("%lu\n", sent);
	return 0;
}
C
cc -O2 -o "$tmp/udpflood" "$tmp/udpflood.c" || { echo "SKIP: cannot build the sender"; exit 77; }
ip netns add $L && ip netns add $R || exit 1
ip -n $L link set lo up; ip -n $R link set lo up
ip link add bvdl netns $L type veth peer name bvdr netns $R
ip netns exec $L ethtool -K bvdl tx off >/dev/null
ip -n $L addr add 198.18.47.1/24 dev bvdl; ip -n $L link set bvdl up
ip -n $R link set bvdr up
inl() { ip netns exec $L "$@"; }
inr() { ip netns exec $R "$@"; }

start_rx() { # af_xdp|af_packet|linux
	tpid= hn=bvd$$$1$RANDOM
	if [ "$1" = linux ]; then
		ip -n $R link set bvdr arp on; ip -n $R addr add 198.18.47.2/24 dev bvdr
		inr iperf3 -s -D -p 5201 >/dev/null 2>&1; sleep 0.5
	else
		ip -n $R link set bvdr arp on; ip -n $R addr flush dev bvdr; ip -n $R link set bvdr arp off
		inr sysctl -qw net.ipv6.conf.bvdr.disable_ipv6=1
		inr "$TERN" host --name $hn --dev bvdr --driver "$1" --addr 198.18.47.2/24 --iperf3 5201 \
			>"$tmp/host.out" 2>"$tmp/host.err" &
		tpid=$!
		for _ in $(seq 50); do "$TERN" -n $hn stat >/dev/null 2>&1 && break; sleep 0.1; done
	fi
	inl ip neigh flush dev bvdl; inl ping -c 1 -W 2 198.18.47.2 >/dev/null || echo "warning: no ping answer" >&2
}
stop_rx() {
	if [ -n "$tpid" ]; then
		kill -0 "$tpid" 2>/dev/null || echo "tern host exited early: $(grep -av libbpf "$tmp/host.err" | tail -3)" >&2
		kill -TERM "$tpid" 2>/dev/null; wait "$tpid" 2>/dev/null; tpid=; else
		pkill -f "iperf3 -s -D -p 5201" 2>/dev/null; ip -n $R addr flush dev bvdr; fi
}
noports() { # mode
	if [ "$1" = linux ]; then inr awk '/^Udp:/ { if (h) print $3; h = 1 }' /proc/net/snmp
	else "$TERN" -n $hn stat --nstat | awk '$1 == "UdpNoPorts" { print $2; f = 1 } END { if (!f) print 0 }'; fi
}
gput() { # args -> Gbit/s received
	inl timeout $((SECS + 20)) iperf3 -c 198.18.47.2 -t "$SECS" --json "$@" 2>/dev/null |
		python3 -c 'import json,sys; print("%.3f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))' 2>/dev/null || echo 0
}
median() { tr ' ' '\n' | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

declare -A UP DOWN PPS
for mode in ${MODES:-af_xdp af_packet linux}; do
	ups= downs= ppss=
	for r in $(seq "$RUNS"); do
		start_rx $mode
		[ $mode = af_xdp ] && [ "$r" = 1 ] && grep "af_xdp" "$tmp/host.err" | grep -v libxdp >&2
		u=$(gput); d=$(gput -R)
		a=$(noports $mode); s=$(inl "$tmp/udpflood" 198.18.47.2 "$SECS"); sleep 0.5; b=$(noports $mode)
		p=$(( (b - a) / SECS ))
		echo "$mode run $r: up $u Gbit/s, down $d Gbit/s, UDP $p pps received of $((s / SECS)) sent" >&2
		ups+="$u " downs+="$d " ppss+="$p "
		[ -n "${BVD_DEBUG:-}" ] && [ -n "$tpid" ] && "$TERN" -n $hn stat --nstat | grep -i udp >&2
		stop_rx
	done
	UP[$mode]=$(echo $ups | median); DOWN[$mode]=$(echo $downs | median); PPS[$mode]=$(echo $ppss | median)
done
ratio() { python3 -c "print('%.2f' % ($1 / $2 if $2 else 0))"; }
echo
echo "| receiver on R | iperf3 L->R Gbit/s | iperf3 R->L (-R) Gbit/s | 64-byte UDP L->R pps |"
echo "|---|---|---|---|"
for mode in af_xdp af_packet linux; do
	echo "| $mode | ${UP[$mode]} | ${DOWN[$mode]} | ${PPS[$mode]} |"
done
echo
echo "af_xdp / af_packet: up $(ratio "${UP[af_xdp]}" "${UP[af_packet]}")x, down $(ratio "${DOWN[af_xdp]}" "${DOWN[af_packet]}")x, pps $(ratio "${PPS[af_xdp]}" "${PPS[af_packet]}")x"
echo "af_xdp / Linux:     up $(ratio "${UP[af_xdp]}" "${UP[linux]}")x, down $(ratio "${DOWN[af_xdp]}" "${DOWN[linux]}")x, pps $(ratio "${PPS[af_xdp]}" "${PPS[linux]}")x"
echo "af_packet / Linux:  up $(ratio "${UP[af_packet]}" "${UP[linux]}")x, down $(ratio "${DOWN[af_packet]}" "${DOWN[linux]}")x, pps $(ratio "${PPS[af_packet]}" "${PPS[linux]}")x"
