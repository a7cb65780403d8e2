# tern trace: the in-memory congestion-control experiment, for cubic, bbr
# and reno (no root, no namespaces): the CSV has rows of the right shape,
# the SVG is well-formed XML with lines in it, the summary shows goodput,
# and the sender's ss -i line names the algorithm.
. "$(dirname "$0")/lib.sh"
require_cmd python3

header="time_s,flow,cwnd,ssthresh,srtt_us,rttvar_us,min_rtt_us,inflight,pacing_bps,delivery_bps,ca_state,retrans"
for cc in cubic bbr reno; do
	csv=$IT_TMP/$cc.csv svg=$IT_TMP/$cc.svg
	out=$("$TERN" trace --cc "$cc" --rate 50mbit --delay 10ms --loss 0.5% --bytes 5M -o "$IT_TMP/$cc" 2>&1) ||
		fail "tern trace --cc $cc: exit $?: $out"
	echo "$out"
	[ "$(head -1 "$csv")" = "$header" ] || fail "$cc: CSV header: $(head -1 "$csv")"
	rows=$(($(wc -l <"$csv") - 1))
	[ "$rows" -ge 100 ] || fail "$cc: only $rows CSV rows"
	# 12 fields, one flow, time never going back, a known ca_state, and
	# retransmissions counted (0.5% random loss on 3600 segments)
	awk -F, -v want=12 'NR == 1 { next }
		NF != want || $2 != 0 || $1 + 0 < prev || $11 !~ /^(Open|Disorder|CWR|Recovery|Loss)$/ {
			print "bad row " NR ": " $0; exit 1 }
		{ prev = $1 + 0; if ($12 + 0 > rtx) rtx = $12 + 0 }
		END { if (rtx < 1) { print "no retransmission in the CSV"; exit 1 } }' "$csv" || fail "$cc: CSV"
	python3 -c 'import xml.dom.minidom, sys; xml.dom.minidom.parse(sys.argv[1])' "$svg" ||
		fail "$cc: $svg is not well-formed XML"
	[ "$(grep -c "<polyline" "$svg")" -ge 6 ] || fail "$cc: too few lines in the SVG"
	grep -q "tern trace: $cc over 50 Mbit/s, RTT 20 ms, 0.5% loss" "$svg" || fail "$cc: SVG title"
	gp=$(echo "$out" | awk '/^  total:/ { for (i = 1; i < NF; i++) if ($i == "goodput") print $(i + 1) }')
	awk -v g="$gp" 'BEGIN { exit !(g > 1 && g <= 50) }' || fail "$cc: goodput \"$gp\" Mbit/s (of 50)"
	echo "$out" | grep -q "^  flow 0: 5.00 MiB in " || fail "$cc: flow 0 did not deliver 5 MiB"
	echo "$out" | grep -qE "^	 $cc wscale:7,7 rto:[0-9.]+ rtt:[0-9.]+/[0-9.]+ .*mss:1448 .*cwnd:[0-9]+ .*bytes_sent:[0-9]+ .*send [0-9.]+[kMG]bps .*minrtt:2[0-9.]*$" ||
		fail "$cc: no ss -i line for the sender"
	echo "$out" | grep -qF "wrote $csv ($rows samples) and $svg" || fail "$cc: files not reported"
	ok "$cc: $rows samples, goodput $gp Mbit/s, well-formed SVG"
done

# two flows, by time: both in the CSV and the summary (3 s, so that even a
# SYN lost to the full queue is resent in time)
out=$("$TERN" trace --flows 2 --stagger 200ms --rate 20mbit --delay 5ms --queue 50 --time 3s -o "$IT_TMP/two" 2>&1) ||
	fail "tern trace --flows 2: exit $?: $out"
echo "$out"
[ "$(cut -d, -f2 "$IT_TMP/two.csv" | sort -u | tr '\n' ' ')" = "0 1 flow " ] || fail "--flows 2: flows in the CSV"
echo "$out" | grep -qE "^  flow 1: [0-9.]+ MiB in 2.800 s, goodput [1-9]" || fail "--flows 2 --stagger: flow 1"
python3 -c 'import xml.dom.minidom, sys; xml.dom.minidom.parse(sys.argv[1])' "$IT_TMP/two.svg" || fail "two flows: SVG"
ok "two staggered flows"

# bad options: a usage error, nothing written
for args in "--cc nope" "--rate fast" "--delay 20" "--loss 150%" "--flows 0" "--bytes" "--frobnicate 1"; do
	# shellcheck disable=SC2086
	"$TERN" trace $args -o "$IT_TMP/bad" >/dev/null 2>&1 && fail "tern trace $args: accepted"
done
[ ! -e "$IT_TMP/bad.csv" ] || fail "a failed run wrote a CSV"
out=$("$TERN" trace --cc nope 2>&1)
echo "$out" | grep -q "not one of reno cubic bbr" || fail "--cc nope: no list of algorithms: $out"
ok "bad options refused"
