# tern's pcap capture read by tshark: no malformed packets, and the echo
# replies and fragments are all there.
. "$(dirname "$0")/lib.sh"
require_root
require_cmd ip ping tshark

ns_new ns pcap
cap="$IT_TMP/cap.pcap"
tern_start "$ns" itpcap --tap tap0 --addr 198.18.0.2/24 --udp-echo 7 --pcap "$cap"
linux_addr "$ns" tap0 198.18.0.1/24
ip netns exec "$ns" ping -c 3 -i 0.2 -W 2 198.18.0.2 >/dev/null || fail "ping"
ip netns exec "$ns" ping -c 2 -i 0.2 -W 2 -s 4000 198.18.0.2 >/dev/null || fail "ping -s 4000"
tern_stop itpcap || fail "tern host exit status"

tshark -r "$cap" -q -z expert >"$IT_TMP/expert" 2>"$IT_TMP/tshark.err" || fail "tshark could not read $cap"
grep -v 'Running as user "root"' "$IT_TMP/tshark.err" | grep -q . && fail "tshark warnings: $(cat "$IT_TMP/tshark.err")"
grep -qi "malformed" "$IT_TMP/expert" && fail "malformed packets: $(cat "$IT_TMP/expert")"
replies=$(tshark -r "$cap" -Y "icmp.type == 0" 2>/dev/null | wc -l)
[ "$replies" -ge 5 ] || fail "expected >= 5 echo replies in the capture, saw $replies"
frags=$(tshark -r "$cap" -Y "ip.flags.mf == 1" 2>/dev/null | wc -l)
[ "$frags" -ge 8 ] || fail "expected >= 8 non-last fragments, saw $frags"
arp=$(tshark -r "$cap" -Y "arp" 2>/dev/null | wc -l)
[ "$arp" -ge 2 ] || fail "expected ARP in the capture, saw $arp"
ok "capture: $replies echo replies, $frags fragments with MF, $arp ARP, no malformed packets"
