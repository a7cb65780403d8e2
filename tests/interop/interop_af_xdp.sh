# tern on a veth end through the AF_XDP driver (`tern host --dev IF
# --driver af_xdp`), Linux on the other end in its own namespace: the XDP
# program attached (native mode on a veth) while tern runs, ping and flood
# ping, curl against tern's HTTP server (3 MB checked by SHA-256), iperf3
# both ways with byte counts that agree, UDP echo (fragmenting sizes too);
# SIGTERM: clean exit and the program detached; a second host, and the
# veth deleted under it, which it reports and exits cleanly.
# Needs root; exit 77 means skipped.
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ip ping curl iperf3 python3 sha256sum ethtool
# a tern built where libxdp-dev/libbpf-dev were missing has no AF_XDP driver
probe=$(timeout 10 "$TERN" host --name axprobe$$ --dev axnone$$ --driver af_xdp --addr 198.18.46.9/24 2>&1)
if [[ "$probe" == *"built without libxdp"* ]]; then
	skip "tern was built without libxdp/libbpf (scripts/install-deps installs libxdp-dev libbpf-dev)"
fi

ns_new nsl axl   # Linux
ns_new nst axt   # tern
vl=axL$$ vt=axT$$
ip link add "$vl" netns "$nsl" type veth peer name "$vt" netns "$nst" || skip "cannot create a veth pair"
ip -n "$nsl" addr add 198.18.46.1/24 dev "$vl"
ip -n "$nsl" link set "$vl" up
# XDP carries no checksum state: a veth's frames from local sockets have
# only a partial checksum, which the kernel would finish on the way out of
# a real NIC; have Linux finish them before the veth.
ip netns exec "$nsl" ethtool -K "$vl" tx off >/dev/null || fail "ethtool -K $vl tx off"
ip -n "$nst" link set "$vt" up arp off
ip netns exec "$nst" sysctl -qw "net.ipv6.conf.$vt.disable_ipv6=1" 2>/dev/null
ip netns exec "$nst" sysctl -qw net.ipv4.ip_forward=0
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

# SIGTERM: clean exit, the program gone from the interface
tern_stop "$host" || fail "tern host exited with $? on SIGTERM"
grep -q "counters at exit" "$IT_TMP/$host.out" || fail "no clean shutdown: $(tail -3 "$IT_TMP/$host.out")"
xdp_on && fail "XDP program still on $vt after tern exited: $(ip -n "$nst" link show "$vt")"
ok "SIGTERM: clean exit, no XDP program left on $vt"

# again, and the interface deleted under the running host
host2=itaxdp2$$
tern_start "$nst" "$host2" --dev "$vt" --driver af_xdp --addr 198.18.46.2/24 --udp-echo 7
out=$(inl ping -c 2 -i 0.2 -W 2 "$addr" 2>&1) || fail "ping after restart: $out"
xdp_on || fail "no XDP program on $vt after restart"
pid=$(eval echo "\$PID_$host2")
ip -n "$nst" link del "$vt" || fail "ip link del $vt"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "tern host still running 5 s after its interface was deleted"
wait "$pid"
rc=$?
[ $rc -eq 0 ] || fail "tern host exited with $rc after the interface went away"
grep -q "interface $vt went away; stopping" "$IT_TMP/$host2.err" || fail "no report: $(cat "$IT_TMP/$host2.err")"
grep -q "counters at exit" "$IT_TMP/$host2.out" || fail "no clean shutdown: $(tail -3 "$IT_TMP/$host2.out")"
ip -n "$nsl" link show "$vl" >/dev/null 2>&1 && fail "peer $vl still there"
ok "veth deleted under the host: reported, clean exit"
