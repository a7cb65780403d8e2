# tern on a veth end through the AF_XDP driver (`tern host --dev IF
# --driver af_xdp`), Linux on the other end in its own namespace: the XDP
# program attached (native mode on a veth) while tern runs, ping and flood
# ping, curl against tern's HTTP server (3 MB checked by SHA-256), iperf3
# both ways with byte counts that agree, UDP echo (fragmenting sizes too);
# the kernel with an address of its own on the same interface, reached by
# ping and TCP while tern still answers (tern's XDP program passes the
# kernel what is not tern's);
# receive moderation (--rx-usecs) and large segments sent whole by the
# AF_PACKET side socket, and each turned off;
# SIGTERM: clean exit and the program detached; SIGKILL: detached too;
# a second host, and the veth deleted under it, which it reports and exits
# cleanly.
# Needs root; exit 77 means skipped.
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ip ping curl iperf3 python3 sha256sum ethtool
require_af_xdp

ns_new nsl axl   # Linux
ns_new nst axt   # tern
vl=axL$$ vt=axT$$
veth_for_tern "$nsl" "$vl" "$nst" "$vt" 198.18.46.1/24
# XDP carries no checksum state: a veth's frames from local sockets have
# only a partial checksum, which the kernel would finish on the way out of
# a real NIC; have Linux finish them before the veth.
ip netns exec "$nsl" ethtool -K "$vl" tx off >/dev/null || fail "ethtool -K $vl tx off"
host=itaxdp$$
tern_start "$nst" "$host" --dev "$vt" --driver af_xdp --addr 198.18.46.2/24 --http 80 --udp-echo 7 --iperf3 5201
addr=198.18.46.2
inl() { ip netns exec "$nsl" "$@"; }
xdp_on() { ip -n "$nst" link show "$vt" 2>/dev/null | grep -q "xdp"; }

mode=$(sed -n "s/^tern: af_xdp $vt queue 0: //p" "$IT_TMP/$host.err")
[ -n "$mode" ] || fail "no mode reported: $(cat "$IT_TMP/$host.err")"
case $mode in native*) ;; *) fail "veth has native XDP, but tern reports: $mode" ;; esac
xdp_on || fail "no XDP program on $vt: $(ip -n "$nst" link show "$vt")"
ok "XDP program on $vt ($(ip -n "$nst" link show "$vt" | grep -o 'prog/xdp[a-z]* id [0-9]*')); mode: $mode"
check_mac "$host" "$nst" "$vt"

# ping, flood ping, curl, iperf3 both ways, UDP echo, device counters
check_services "$nsl" "$addr" "$host"

# receive moderation (default 50 us): the iperf3 streams were taken a
# window at a time, yet a ping after them is answered at once
moderated() { "$TERN" -n "$1" addr | sed -n 's/.*af_xdp .*rx_moderated \([0-9]*\).*/\1/p'; }
m=$(moderated "$host")
[ -n "$m" ] && [ "$m" -gt 0 ] || fail "no frames taken under receive moderation after iperf3: $("$TERN" -n "$host" addr)"
rtt=$(inl ping -c 5 -i 0.2 -W 2 "$addr" | sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p')
python3 -c "import sys; sys.exit(0 if float('$rtt') < 5 else 1)" || fail "ping after the streams: avg $rtt ms"
ok "receive moderation: $m frames taken a window at a time; ping after the streams avg $rtt ms"
# what tern sent in iperf3 -R left as whole large segments by the AF_PACKET
# side socket (the byte counts above agree, and curl's SHA-256 matched)
tso=$("$TERN" -n "$host" addr | sed -n 's/.*af_xdp .*tx_tso \([0-9]*\).*/\1/p')
[ -n "$tso" ] && [ "$tso" -gt 0 ] || fail "no large segment sent whole: $("$TERN" -n "$host" addr)"
ok "TSO by the side socket: $tso large segments"

# The kernel keeps an address of its own on tern's interface: the program
# gives tern only ARP and IPv4 for 198.18.46.2 and passes the rest on.
kaddr=198.18.46.3
ip -n "$nst" link set "$vt" arp on
ip -n "$nst" addr add "$kaddr/24" dev "$vt" || fail "ip addr add $kaddr"
before=$("$TERN" -n "$host" addr | sed -n 's/.*xdp program.*to_kernel \([0-9]*\).*/\1/p')
ip netns exec "$nst" python3 -c "
import socket
s = socket.socket(); s.bind(('$kaddr', 7777)); s.listen(1); s.settimeout(10)
c, _ = s.accept(); c.sendall(b'kernel here'); c.close()" &
IT_PIDS+=($!)
sleep 0.3
out=$(inl ping -c 3 -i 0.2 -W 2 "$kaddr" 2>&1) || fail "the kernel's own address $kaddr on $vt: $out"
got=$(inl python3 -c "
import socket
print(socket.create_connection(('$kaddr', 7777), timeout=5).recv(64).decode())") || fail "TCP to the kernel's $kaddr"
[ "$got" = "kernel here" ] || fail "TCP to the kernel's $kaddr: got '$got'"
check_ping "$nsl" "$addr"
check_curl_sha "$nsl" "$addr"
counts=$("$TERN" -n "$host" addr | grep "xdp program" | sed "s/^ *//")
after=$(sed -n 's/.*to_kernel \([0-9]*\).*/\1/p' <<<"$counts")
nosock=$(sed -n 's/.*no_socket \([0-9]*\).*/\1/p' <<<"$counts")
[ -n "$after" ] && [ "$after" -ge $((before + 6)) ] || fail "the kernel's frames not counted as passed: $before, then $counts"
[ "$nosock" = 0 ] || fail "tern's frames dropped for want of a socket: $counts"
ok "the kernel's address $kaddr on $vt answers ping and TCP beside tern's $addr ($counts)"
ip -n "$nst" addr del "$kaddr/24" dev "$vt"
ip -n "$nst" link set "$vt" arp off

# SIGTERM: clean exit, the program gone from the interface
stop_clean "$host"
xdp_on && fail "XDP program still on $vt after tern exited: $(ip -n "$nst" link show "$vt")"
ok "SIGTERM: clean exit, no XDP program left on $vt"

# SIGKILL: the program is held by a BPF link, which dies with the process
hostk=itaxdpk$$
tern_start "$nst" "$hostk" --dev "$vt" --driver af_xdp --addr 198.18.46.2/24
xdp_on || fail "no XDP program on $vt"
eval "pid=\$PID_$hostk"
kill -KILL "$pid"
wait "$pid" 2>/dev/null
for _ in $(seq 30); do xdp_on || break; sleep 0.1; done
xdp_on && fail "XDP program left on $vt after SIGKILL: $(ip -n "$nst" link show "$vt")"
rm -f "/run/tern/$hostk.sock"
ok "SIGKILL: no XDP program left on $vt"

# again, and the interface deleted under the running host
host2=itaxdp2$$
tern_start "$nst" "$host2" --dev "$vt" --driver af_xdp --rx-usecs 0 --offload "tso off" --addr 198.18.46.2/24 \
	--udp-echo 7 --iperf3 5201
out=$(inl ping -c 2 -i 0.2 -W 2 "$addr" 2>&1) || fail "ping after restart: $out"
xdp_on || fail "no XDP program on $vt after restart"
# --rx-usecs 0: a wake-up per frame, even under a stream
out=$(iperf3_check "$nsl" "$addr" bytes -t 1) || fail "iperf3 with --rx-usecs 0: $out"
m=$(moderated "$host2")
[ "$m" = 0 ] || fail "--rx-usecs 0, yet $m frames moderated: $("$TERN" -n "$host2" addr)"
ok "--rx-usecs 0: no moderation under iperf3 ($out)"
# --offload "tso off": every frame by the XDP socket, cut up by tern
out=$(iperf3_check "$nsl" "$addr" bytes -R -n 20M) || fail "iperf3 -R with tso off: $out"
tso=$("$TERN" -n "$host2" addr | sed -n 's/.*af_xdp .*tx_tso \([0-9]*\).*/\1/p')
[ "$tso" = 0 ] || fail "tso off, yet $tso large segments sent whole"
ok "tso off: iperf3 -R by the XDP socket alone ($out)"
dev_deleted_under "$nst" "$vt" "$host2"
ip -n "$nsl" link show "$vl" >/dev/null 2>&1 && fail "peer $vl still there"
ok "veth deleted under the host: reported, clean exit"
