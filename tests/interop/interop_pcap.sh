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

# --cores 2 with --pcap: a file per core, each what its own stack received
# and sent; 16 fetches spread over both cores by RSS, every answer in one
# of the two files and none malformed
require_cmd curl
ns_new nsl pcapl
ns_new nst pcapt
vl=pcL$$ vt=pcT$$
veth_for_tern "$nsl" "$vl" "$nst" "$vt" 198.18.49.1/24
ccap="$IT_TMP/cores.pcap"
tern_start "$nst" itpcapc --dev "$vt" --driver af_packet --cores 2 --addr 198.18.49.2/24 --http 80 --pcap "$ccap"
for i in $(seq 16); do
	ip netns exec "$nsl" curl -s -o /dev/null --max-time 5 "http://198.18.49.2/gen/$((1000 + i))" || fail "curl $i"
done
tern_stop itpcapc || fail "tern host exit status (cores)"
total=0
for k in 0 1; do
	f="$IT_TMP/cores-core$k.pcap"
	[ -s "$f" ] || fail "no capture for core $k: $(ls "$IT_TMP")"
	tshark -r "$f" -q -z expert >"$IT_TMP/expert$k" 2>/dev/null || fail "tshark could not read $f"
	grep -qi "malformed" "$IT_TMP/expert$k" && fail "malformed packets in core $k's capture"
	n=$(tshark -r "$f" -Y "http.response.code == 200" 2>/dev/null | wc -l)
	eval "on$k=$n"
	total=$((total + n))
done
[ "$total" -eq 16 ] || fail "expected 16 HTTP answers across the cores' captures, saw $total ($on0 + $on1)"
ok "--cores 2 --pcap: a capture per core, $on0 + $on1 of the 16 answers, none malformed"
