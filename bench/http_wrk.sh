#!/usr/bin/env bash
# HTTP requests per second: wrk against tern's HTTP server (on a veth end
# through AF_PACKET and AF_XDP) and against nginx on the same veth (the
# kernel's stack), with 1 and 2 cores each; prints a table and the ratios.
#
#   [TERN=build/tern] [RUNS=3] [SECS=5] [MODES="af_packet af_xdp nginx"]
#   [CORES="1 2"] [CONNS=32] [PIN=no|yes] [HOST_ARGS="--rx-usecs 0"] bench/http_wrk.sh [RUNS SECS OUTFILE]
#
# Namespace L runs wrk (-t1 -cCONNS -dSECS), namespace R the server on
# 198.18.53.2:80: `tern host --dev bhwr --driver af_packet|af_xdp --cores N
# --http 80 --docroot DIR` or nginx (worker_processes N, access_log off,
# sendfile on, otherwise nginx's defaults; keepalive_requests is 1000 in
# both).  The files are 1 KiB and 100 KiB; each is fetched over keep-alive
# connections, and the 1 KiB one also with `Connection: close` (a new
# connection per request).  The veth has as many queues each way as the
# cores (AF_XDP with --cores N binds one socket per queue) and Linux's end
# has `ethtool -K tx off` (AF_XDP carries no checksum state), for every
# server alike.  For each core count, runs alternate the servers (run 1 of
# each, then run 2 ...); medians of RUNS.
# PIN=no (the default): no server is pinned (tern --no-pin; nginx's
# default, no worker_cpu_affinity): wrk, the kernel's veth work (softirq on
# the sending CPU) and the server share the machine's CPUs, which caps
# every figure and above all the 1 -> 2 core scaling.  PIN=yes: tern's
# core threads pinned (its default) and nginx's workers too
# (worker_cpu_affinity auto), so wrk shares a CPU with one of them; with
# one core neither is pinned (tern pins only with --cores 2 and up).  With OUTFILE (scripts/bench) the table
# is written there and a settings line to OUTFILE.settings.
# Needs root, wrk, nginx, ethtool; exit 77 if missing.
set -uo pipefail
cd "$(dirname "$0")/.."
TERN=$(readlink -f "${TERN:-build/tern}")
RUNS=${1:-${RUNS:-3}}
SECS=${2:-${SECS:-5}}
OUT=${3:-}
CONNS=${CONNS:-32}
MODES=${MODES:-af_packet af_xdp nginx}
CORES=${CORES:-1 2}
PIN=${PIN:-no}
case $PIN in
no) TERN_PIN=--no-pin NGINX_PIN= ;;
yes) TERN_PIN= NGINX_PIN='worker_cpu_affinity auto;' ;;
*) echo "PIN=no or PIN=yes" >&2; exit 2 ;;
esac
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
for c in ip wrk nginx ethtool python3; do command -v $c >/dev/null || { echo "SKIP: $c missing"; exit 77; }; done
[ -x "$TERN" ] || { echo "SKIP: no $TERN"; exit 77; }
tmp=$(mktemp -d)
L=tern-bhw-l-$$ R=tern-bhw-r-$$
A=198.18.53.2
tpid=
cleanup() {
	[ -n "$tpid" ] && kill "$tpid" 2>/dev/null
	[ -s "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null
	wait 2>/dev/null; ip netns del $L 2>/dev/null; ip netns del $R 2>/dev/null; rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/www"
head -c 1024 /dev/urandom >"$tmp/www/1k.bin"
head -c 102400 /dev/urandom >"$tmp/www/100k.bin"
chmod -R a+rX "$tmp"
# tern's file cache reads in only files left alone for 2 s (app/filecache.h);
# nginx's come from a page cache just as warm
sleep 2.1
ip netns add $L && ip netns add $R || exit 1
ip -n $L link set lo up; ip -n $R link set lo up
# make_veth N: the pair with N queues each way (as many as the cores: a
# veth delivers on the peer's queue of the sender's transmit queue, and
# AF_XDP with --cores N binds queues 0..N-1, so a frame on any other queue
# would go to the kernel instead of tern)
make_veth() {
	ip -n $L link del bhwl 2>/dev/null
	ip link add bhwl numtxqueues "$1" numrxqueues "$1" netns $L type veth peer name bhwr numtxqueues "$1" numrxqueues "$1" netns $R
	ip netns exec $L ethtool -K bhwl tx off >/dev/null
	ip -n $L addr add 198.18.53.1/24 dev bhwl; ip -n $L link set bhwl up
	ip -n $R link set bhwr up
}
inl() { ip netns exec $L "$@"; }
inr() { ip netns exec $R "$@"; }

start_srv() { # mode cores
	tpid=
	if [ "$1" = nginx ]; then
		ip -n $R link set bhwr arp on; ip -n $R addr add $A/24 dev bhwr
		cat >"$tmp/nginx.conf" <<-EOF
			worker_processes $2;
			$([ "$2" -gt 1 ] && echo "$NGINX_PIN")
			pid $tmp/nginx.pid;
			error_log $tmp/nginx.err;
			events { worker_connections 4096; }
			http {
			    access_log off;
			    sendfile on;
			    default_type application/octet-stream;
			    server { listen $A:80; root $tmp/www; }
			}
		EOF
		inr nginx -c "$tmp/nginx.conf" || { echo "nginx did not start: $(tail -3 "$tmp/nginx.err")" >&2; exit 1; }
	else
		ip -n $R link set bhwr arp on; ip -n $R addr flush dev bhwr; ip -n $R link set bhwr arp off
		inr sysctl -qw net.ipv6.conf.bhwr.disable_ipv6=1
		hn=bhw$$$1$RANDOM
		# ip netns exec execs tern, so $! is tern's pid
		ip netns exec $R "$TERN" host --name $hn --dev bhwr --driver "$1" ${HOST_ARGS:-} --cores "$2" $TERN_PIN --addr $A/24 \
			--http 80 --docroot "$tmp/www" >"$tmp/host.out" 2>"$tmp/host.err" &
		tpid=$!
		local up=
		for _ in $(seq 50); do "$TERN" -n $hn stat >/dev/null 2>&1 && { up=1; break; }; sleep 0.1; done
		[ -n "$up" ] || { echo "tern host did not start: $(grep -av libxdp "$tmp/host.err" | tail -3)" >&2; exit 1; }
	fi
	inl ip neigh flush dev bhwl
	for _ in $(seq 20); do inl curl -s -o /dev/null --max-time 2 http://$A/1k.bin && break; sleep 0.2; done
}
stop_srv() {
	if [ -n "$tpid" ]; then
		kill -TERM "$tpid"; wait "$tpid"; local rc=$?
		[ $rc = 0 ] || echo "tern host exited with $rc: $(grep -av libxdp "$tmp/host.err" | tail -3)" >&2
		tpid=
	else
		local p; p=$(cat "$tmp/nginx.pid"); kill -QUIT "$p"
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		ip -n $R addr flush dev bhwr
	fi
	if ip -n $R link show bhwr | grep -q 'prog/xdp'; then
		echo "warning: an XDP program is still on bhwr; removing it" >&2; ip -n $R link set bhwr xdp off
	fi
}
# wrk: requests/s, or 0 when wrk failed; errors (non-2xx, socket errors) go to stderr
wrk_rps() { # file [close]
	local hdr=() o
	[ "${2:-}" = close ] && hdr=(-H 'Connection: close')
	o=$(inl timeout $((SECS + 20)) wrk -t1 -c"$CONNS" -d"${SECS}s" "${hdr[@]}" "http://$A/$1" 2>&1)
	echo "$o" | grep -i 'non-2xx\|socket errors' | sed "s|^|  wrk $1 ${2:-}: |" >&2
	echo "$o" | awk '/^Requests\/sec:/ { print $2; f = 1 } END { if (!f) print 0 }'
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
ratio() { python3 -c "print('%.2f' % ($1 / $2 if $2 else 0))"; }

TESTS="1k.bin 100k.bin 1k.bin:close"
declare -A RES
load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load before: $(uptime)" >&2
for n in $CORES; do
	make_veth "$n"
	for r in $(seq "$RUNS"); do
		for mode in $MODES; do
			start_srv $mode $n
			line="$mode cores $n run $r:"
			for t in $TESTS; do
				v=$(wrk_rps ${t%%:*} "$([ "${t#*:}" = close ] && echo close)")
				RES[$mode,$n,$t]+="$v "
				line+=" $t $v"
			done
			echo "$line req/s; load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
			stop_srv
		done
	done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load after: $(uptime)" >&2

med() { echo ${RES[$1,$2,$3]:-} | median | awk '{ printf "%.0f", $1 }'; }
table() {
	echo "| server | cores | 1 KiB keep-alive req/s | 100 KiB keep-alive req/s | 1 KiB, connection per request, req/s |"
	echo "|---|---:|---:|---:|---:|"
	for n in $CORES; do
		for mode in $MODES; do
			name=$([ $mode = nginx ] && echo "nginx (Linux)" || echo "tern $mode")
			echo "| $name | $n | $(med $mode $n 1k.bin) | $(med $mode $n 100k.bin) | $(med $mode $n 1k.bin:close) |"
		done
	done
	echo
	for n in $CORES; do
		for mode in $MODES; do
			[ $mode = nginx ] && continue
			case " $MODES " in *" nginx "*) ;; *) continue ;; esac
			echo -n "tern $mode / nginx, $n core(s):"
			for t in $TESTS; do echo -n " $t $(ratio "$(med $mode $n $t)" "$(med nginx $n $t)")x"; done
			echo
		done
	done
	if [[ " $CORES " == *" 1 "* && " $CORES " == *" 2 "* ]]; then
		for mode in $MODES; do
			echo -n "$mode 2 cores / 1 core:"
			for t in $TESTS; do echo -n " $t $(ratio "$(med $mode 2 $t)" "$(med $mode 1 $t)")x"; done
			echo
		done
	fi
}
table
if [ -n "$OUT" ]; then
	table >"$OUT"
	echo "$RUNS alternating runs of ${SECS} s per server and core count, medians; wrk -t1 -c$CONNS; $([ "$PIN" = no ] && echo "nothing pinned (tern --no-pin)" || echo "servers pinned (tern's default, nginx worker_cpu_affinity auto)") on a $(nproc)-CPU machine (wrk, the veth's softirq and the server share it); load average before $load0, after $load1" >"$OUT.settings"
fi
