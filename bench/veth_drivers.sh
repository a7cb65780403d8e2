#!/usr/bin/env bash
# tern on a veth end through AF_XDP and through AF_PACKET, against Linux on
# the same veth: iperf3 goodput both ways and 64-byte UDP packets per
# second from Linux to the receiver, with the CPU each side spent per
# packet; prints a table and the ratios.
#
#   [TERN=build/tern] [SECS=5] [RUNS=3] [MODES="af_xdp af_packet linux"] bench/veth_drivers.sh [RUNS SECS OUTFILE]
#
# Namespace L runs Linux's side (iperf3 -c, the UDP sender); namespace R
# the receiver: tern (--driver af_xdp or af_packet) or Linux (iperf3 -s).
# The same veth pair for all, Linux's end with `ethtool -K tx off` (AF_XDP
# carries no checksum state, so frames must leave Linux summed; that also
# turns TSO off), R's end with MTU 1500.  Runs alternate the modes (run 1
# of each, then run 2 of each, ...).  UDP: a sendmmsg loop of 18-byte
# datagrams (64-byte frames with the FCS) to a port with no socket for
# SECS (unconnected: ICMP port unreachable does not stop it); the
# receiver's UDP "no port" counter (tern stat --nstat, Linux
# /proc/net/snmp) counts what its stack took in.  CPU per packet: the
# sender's own CPU time (getrusage; on a veth the kernel's receive work,
# softirq run when the sender's transmit enables bottom halves, is charged
# to it, and so is the XDP/AF_PACKET copy for tern) and tern's process CPU
# time (/proc/PID/stat), both over the packets the receiver counted; and
# the machine's softirq time (/proc/stat) over the flood.  Medians of RUNS.
# SECONDS is accepted for SECS when given in the environment.  With OUTFILE
# (scripts/bench) the table is written there and a settings line to
# OUTFILE.settings.
# Needs root, iperf3, ethtool, a C compiler; exit 77 if missing.
set -uo pipefail
cd "$(dirname "$0")/.."
TERN=$(readlink -f "${TERN:-build/tern}")
# bash's own SECONDS counts seconds since start: take it only from the environment
SECS=${2:-${SECS:-${SECONDS_EACH:-$(printenv SECONDS || echo 5)}}}
RUNS=${1:-${RUNS:-3}}
OUT=${3:-}
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
for c in ip iperf3 ethtool cc python3; do command -v $c >/dev/null || { echo "SKIP: $c missing"; exit 77; }; done
tmp=$(mktemp -d)
L=tern-bvd-l-$$ R=tern-bvd-r-$$
cleanup() {
	[ -n "${tpid:-}" ] && kill "$tpid" 2>/dev/null
	[ -s "$tmp/iperf3.pid" ] && kill "$(cat "$tmp/iperf3.pid")" 2>/dev/null
	wait 2>/dev/null; ip netns del $L 2>/dev/null; ip netns del $R 2>/dev/null; rm -rf "$tmp"
}
trap cleanup EXIT
cat >"$tmp/udpflood.c" <<'C'
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/resource.h>
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
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("%lu %ld\n", sent, (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
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
		inr iperf3 -s -D -p 5201 --pidfile "$tmp/iperf3.pid" >/dev/null 2>&1; sleep 0.5
	else
		ip -n $R link set bvdr arp on; ip -n $R addr flush dev bvdr; ip -n $R link set bvdr arp off
		inr sysctl -qw net.ipv6.conf.bvdr.disable_ipv6=1
		# started by ip netns exec itself (it execs tern), not through a shell
		# function: $! of a backgrounded function is a subshell, and killing it
		# left tern running, holding the veth's queue (the next af_xdp host
		# failed with EBUSY) and its XDP program (which took every frame from
		# the next af_packet or Linux receiver)
		ip netns exec $R "$TERN" host --name $hn --dev bvdr --driver "$1" --addr 198.18.47.2/24 --iperf3 5201 \
			>"$tmp/host.out" 2>"$tmp/host.err" &
		tpid=$!
		local up=
		for _ in $(seq 50); do "$TERN" -n $hn stat >/dev/null 2>&1 && { up=1; break; }; sleep 0.1; done
		[ -n "$up" ] || { echo "tern host did not start: $(grep -av libxdp "$tmp/host.err" | tail -3)" >&2; exit 1; }
	fi
	inl ip neigh flush dev bvdl; inl ping -c 1 -W 2 198.18.47.2 >/dev/null || echo "warning: no ping answer" >&2
}
stop_rx() {
	if [ -n "$tpid" ]; then
		kill -TERM "$tpid" 2>/dev/null; wait "$tpid"; local rc=$?
		[ $rc = 0 ] || echo "tern host exited with $rc: $(grep -av libxdp "$tmp/host.err" | tail -3)" >&2
		tpid=
	else
		kill "$(cat "$tmp/iperf3.pid")" 2>/dev/null; rm -f "$tmp/iperf3.pid"; sleep 0.2
		ip -n $R addr flush dev bvdr
	fi
	if ip -n $R link show bvdr | grep -q 'prog/xdp'; then
		echo "warning: an XDP program is still on bvdr; removing it" >&2; ip -n $R link set bvdr xdp off
	fi
}
noports() { # mode; fails (and prints nothing) if the counter cannot be read
	if [ "$1" = linux ]; then inr awk '/^Udp:/ { if (h) print $3; h = 1 }' /proc/net/snmp
	else "$TERN" -n $hn stat --nstat | awk '$1 == "UdpNoPorts" { print $2; f = 1 } END { if (!f) print 0 }'
		[ "${PIPESTATUS[0]}" = 0 ] || return 1; fi
}
cputicks() { [ -n "$tpid" ] && awk '{ print $14 + $15 }' /proc/$tpid/stat || echo 0; }
softirq() { awk '/^cpu / { print $8 }' /proc/stat; }
gput() { # args -> Gbit/s received
	inl timeout $((SECS + 20)) iperf3 -c 198.18.47.2 -t "$SECS" --json "$@" 2>/dev/null |
		python3 -c 'import json,sys; print("%.3f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))' 2>/dev/null || echo 0
}
median() { tr ' ' '\n' | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

declare -A UP DOWN PPS SND RCV SIRQ ups downs ppss snds rcvs sirqs
MODES=${MODES:-af_xdp af_packet linux}
HZ=$(getconf CLK_TCK)
echo "load before: $(uptime)" >&2; load0=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$RUNS"); do
	for mode in $MODES; do
		start_rx $mode
		[ $mode = af_xdp ] && [ "$r" = 1 ] && grep "af_xdp" "$tmp/host.err" | grep -v libxdp >&2
		u=$(gput); d=$(gput -R)
		a=$(noports $mode) || { echo "$mode run $r: cannot read the UDP counter" >&2; exit 1; }
		ta=$(cputicks); qa=$(softirq)
		read -r s sus < <(inl "$tmp/udpflood" 198.18.47.2 "$SECS"); sleep 0.5
		tb=$(cputicks); qb=$(softirq)
		b=$(noports $mode) || { echo "$mode run $r: cannot read the UDP counter" >&2; exit 1; }
		n=$((b - a)); p=$((n / SECS)); [ $n -gt 0 ] || n=1
		snd=$((sus * 1000 / n)) rcv=$(((tb - ta) * 1000000000 / HZ / n)) sq=$(((qb - qa) * 1000000000 / HZ / n))
		echo "$mode run $r: up $u Gbit/s, down $d Gbit/s, UDP $p pps received of $((s / SECS)) sent; ns/packet: sender $snd, tern process $rcv, softirq (all CPUs) $sq; $(cut -d' ' -f1-3 /proc/loadavg)" >&2
		ups[$mode]+="$u " downs[$mode]+="$d " ppss[$mode]+="$p " snds[$mode]+="$snd " rcvs[$mode]+="$rcv " sirqs[$mode]+="$sq "
		if [ -n "${BVD_DEBUG:-}" ]; then
			[ -n "$tpid" ] && "$TERN" -n $hn stat --nstat | grep -i 'udp\|drop\|InRec' >&2
			inl ip neigh >&2; inl ip -s link show bvdl >&2; inr ip -s link show bvdr >&2
		fi
		stop_rx
	done
done
echo "load after: $(uptime)" >&2; load1=$(cut -d' ' -f1-3 /proc/loadavg)
for mode in $MODES; do
	UP[$mode]=$(echo ${ups[$mode]} | median); DOWN[$mode]=$(echo ${downs[$mode]} | median); PPS[$mode]=$(echo ${ppss[$mode]} | median)
	SND[$mode]=$(echo ${snds[$mode]} | median); RCV[$mode]=$(echo ${rcvs[$mode]} | median); SIRQ[$mode]=$(echo ${sirqs[$mode]} | median)
done
ratio() { python3 -c "print('%.2f' % ($1 / $2 if $2 else 0))"; }
table() {
	echo "| receiver on R | iperf3 L->R Gbit/s | iperf3 R->L (-R) Gbit/s | 64-byte UDP L->R pps | sender ns/packet | tern process ns/packet | sender + tern ns/packet | softirq ns/packet (all CPUs) |"
	echo "|---|---|---|---|---|---|---|---|"
	for mode in $MODES; do
		echo "| $mode | ${UP[$mode]} | ${DOWN[$mode]} | ${PPS[$mode]} | ${SND[$mode]} | ${RCV[$mode]} | $((SND[$mode] + RCV[$mode])) | ${SIRQ[$mode]} |"
	done
	echo
	if [ -n "${UP[linux]:-}" ]; then
		for mode in af_xdp af_packet; do
			[ -n "${UP[$mode]:-}" ] || continue
			echo "$mode / Linux: up $(ratio "${UP[$mode]}" "${UP[linux]}")x, down $(ratio "${DOWN[$mode]}" "${DOWN[linux]}")x, pps $(ratio "${PPS[$mode]}" "${PPS[linux]}")x, sender+receiver CPU per packet $(ratio "$((SND[$mode] + RCV[$mode]))" "${SND[linux]}")x"
		done
	fi
}
echo
table
if [ -n "$OUT" ]; then
	table >"$OUT"
	echo "$RUNS alternating runs of ${SECS} s per receiver, medians; the sender + tern column adds the two medians; nothing pinned on a $(nproc)-CPU machine; load average before $load0, after $load1" >"$OUT.settings"
fi
