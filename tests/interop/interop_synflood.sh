# A SYN flood from hping3 (spoofed source that never answers) against
# tern's HTTP server: with net.ipv4.tcp_syncookies=1 the SYN queue fills,
# cookies take over, and curl still fetches intact pages during the flood.
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ip curl hping3 sha256sum

ns_new ns synflood
root="$IT_TMP/www"
mkdir -p "$root"
head -c 200000 /dev/urandom >"$root/page.bin"
want=$(sha256sum <"$root/page.bin" | cut -c1-64)
tern_start "$ns" itsyn --tap tap0 --addr 198.18.10.2/24 --http 80 --docroot "$root"
linux_addr "$ns" tap0 198.18.10.1/24
"$TERN" -n itsyn sysctl -w net.ipv4.tcp_max_syn_backlog=64 >/dev/null || fail "sysctl"

# 198.18.10.77 does not exist: SYN-ACKs to it go nowhere, as in a real flood
ip netns exec "$ns" timeout 8 hping3 -q -S -p 80 -a 198.18.10.77 --flood 198.18.10.2 >/dev/null 2>&1 &
flood=$!
sleep 1
good=0
for i in $(seq 10); do
	got=$(ip netns exec "$ns" curl -sS --max-time 10 "http://198.18.10.2/page.bin" | sha256sum | cut -c1-64)
	[ "$got" = "$want" ] && good=$((good + 1))
done
sent=$(nstat itsyn TcpExtSyncookiesSent)
full=$(nstat itsyn TcpExtTCPReqQFullDoCookies)
wait $flood 2>/dev/null
[ "$good" = 10 ] || fail "only $good of 10 fetches intact during the flood"
[ "$sent" -gt 1000 ] || fail "only $sent SYN cookies sent: the flood did not fill the queue"
[ "$full" -gt 0 ] || fail "TCPReqQFullDoCookies stayed 0"
ok "SYN flood (hping3 --flood, $sent cookies sent): 10 of 10 curl fetches intact meanwhile"
