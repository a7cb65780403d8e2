# The TAP/TUN driver alone, without the stack: a small program opens a TAP
# and a TUN device with tn_tap_open inside a namespace this script creates
# and removes, and answers ARP and ping by hand through rx_burst/tx_burst
# (replies sent as two-segment chains, so writev is exercised).  Checks:
# the link is up with the requested MTU, our MAC is locally administered and
# not the kernel side's, Linux pings through both devices, the kernel learns
# our MAC, and deleting the interface sets tn_tap_link_gone.
# Needs root and a built library (make lib).  Exit 77 means skipped.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
NS="tern-tapsmoke-$$"
TMP=$(mktemp -d)
HELPER_PID=
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; [ -f "$TMP/helper.out" ] && sed 's/^/    helper: /' "$TMP/helper.out"; exit 1; }
ok() { echo "ok: $*"; }
cleanup() {
	[ -n "$HELPER_PID" ] && kill "$HELPER_PID" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces and TAP devices)"
for c in ip ping; do command -v "$c" >/dev/null || skip "$c not installed"; done
[ -f "$BUILD/libtern.a" ] || skip "$BUILD/libtern.a missing (make lib)"

cat >"$TMP/helper.c" <<'EOF'
/* usage: helper tap|tun IFNAME MTU OUR-IPV4 — answers ARP for OUR-IPV4 and
 * ICMP echo to it until the interface is deleted (exit 0) or 20 s pass. */
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "link/dev.h"
#include "wire/csum.h"
#include "wire/wire.h"

static struct tn_pkt *as_chain(struct tn_mempool *mp, const uint8_t *b, uint32_t len)
{
	struct tn_pkt *p = tn_pkt_from_bytes(mp, b, 20);
	tn_pkt_chain(p, tn_pkt_from_bytes(mp, b + 20, len - 20));
	return p;
}

/* An ARP reply for a request asking for ip; 0 if not such a request. */
static uint32_t arp_reply(const uint8_t *mac, uint32_t ip, const uint8_t *f, uint32_t len, uint8_t *out)
{
	struct tn_eth_hdr eh;
	struct tn_arp_hdr ah;
	if (tn_eth_parse(f, len, &eh) < 0 || eh.type != TN_ETHERTYPE_ARP ||
	    tn_arp_parse(f + TN_ETH_HLEN, len - TN_ETH_HLEN, &ah) < 0 ||
	    ah.op != TN_ARP_REQUEST || ah.tpa != ip)
		return 0;
	struct tn_eth_hdr re = {.type = TN_ETHERTYPE_ARP};
	memcpy(re.dst, eh.src, 6);
	memcpy(re.src, mac, 6);
	struct tn_arp_hdr ra = {.op = TN_ARP_REPLY, .spa = ip, .tpa = ah.spa};
	memcpy(ra.sha, mac, 6);
	memcpy(ra.tha, ah.sha, 6);
	tn_eth_emit(&re, out, 64);
	tn_arp_emit(&ra, out + TN_ETH_HLEN, 64 - TN_ETH_HLEN);
	memset(out + TN_ETH_HLEN + TN_ARP_LEN, 0, 60 - TN_ETH_HLEN - TN_ARP_LEN);
	return 60;
}

/* Turn an echo request to ip (at offset l3 of f) into the reply, in out. */
static uint32_t echo_reply(uint32_t ip, const uint8_t *f, uint32_t len, uint32_t l3, uint8_t *out)
{
	struct tn_ipv4_hdr ih;
	struct tn_icmp_hdr ic;
	if (len <= l3)
		return 0;
	int ihl = tn_ipv4_parse(f + l3, len - l3, &ih);
	if (ihl < 0 || ih.proto != TN_IPPROTO_ICMP || ih.dst != ip ||
	    tn_icmp_parse(f + l3 + ihl, len - l3 - (uint32_t)ihl, &ic) < 0 || ic.type != TN_ICMP_ECHO)
		return 0;
	memcpy(out, f, len);
	if (l3) { /* swap the MACs */
		memcpy(out, f + 6, 6);
		memcpy(out + 6, f, 6);
	}
	/* Swapping addresses leaves the IPv4 checksum as it was. */
	tn_put32(out + l3 + 12, ih.dst);
	tn_put32(out + l3 + 16, ih.src);
	uint8_t *icmp = out + l3 + ihl;
	icmp[0] = 0;
	tn_put16(icmp + 2, tn_csum_update16(tn_get16(icmp + 2), TN_ICMP_ECHO << 8, 0));
	return len;
}

int main(int argc, char **argv)
{
	if (argc != 5)
		return 2;
	enum tn_dev_framing fr = strcmp(argv[1], "tap") == 0 ? TN_DEV_L2 : TN_DEV_L3;
	struct in_addr a;
	inet_pton(AF_INET, argv[4], &a);
	uint32_t ip = ntohl(a.s_addr);
	struct tn_dev *d = tn_tap_open(argv[2], fr, (uint32_t)atoi(argv[3]));
	if (!d) {
		perror("tn_tap_open");
		return 1;
	}
	struct tn_mempool *mp = tn_mempool_new(256);
	const uint8_t *m = d->mac;
	printf("ready %s mtu %u mac %02x:%02x:%02x:%02x:%02x:%02x\n", d->name, d->mtu, m[0], m[1], m[2], m[3],
	       m[4], m[5]);
	fflush(stdout);
	time_t end = time(NULL) + 20;
	while (time(NULL) < end) {
		struct pollfd pfd = {.fd = tn_dev_fd(d), .events = POLLIN};
		poll(&pfd, 1, 200);
		struct tn_pkt *in[TN_DEV_BURST];
		unsigned n = tn_dev_rx(d, mp, in, TN_DEV_BURST);
		for (unsigned i = 0; i < n; i++) {
			uint8_t out[TN_PKT_DATAROOM];
			uint32_t len = fr == TN_DEV_L2 ? arp_reply(d->mac, ip, in[i]->data, in[i]->len, out) : 0;
			if (len)
				printf("rx arp request\n");
			else if ((len = echo_reply(ip, in[i]->data, in[i]->len, fr == TN_DEV_L2 ? 14 : 0, out)))
				printf("rx echo request\n");
			tn_pkt_free(in[i]);
			struct tn_pkt *r = len ? as_chain(mp, out, len) : NULL;
			if (r && tn_dev_tx(d, &r, 1) != 1)
				tn_pkt_free(r);
			fflush(stdout);
		}
		if (tn_tap_link_gone(d)) {
			printf("gone rx_dropped %llu tx_packets %llu\n", (unsigned long long)d->stats.rx_dropped,
			       (unsigned long long)d->stats.tx_packets);
			tn_dev_destroy(d);
			printf("in use %u\n", tn_mempool_in_use(mp));
			tn_mempool_free(mp);
			return 0;
		}
	}
	printf("timeout\n");
	return 1;
}
EOF
${CC:-cc} -std=gnu11 -O1 -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude -Isrc -o "$TMP/helper" \
	"$TMP/helper.c" "$BUILD/libtern.a" -lm || fail "helper does not build"

ip netns add "$NS" || fail "ip netns add $NS"
nsx() { ip netns exec "$NS" "$@"; }

wait_for() { # pattern: wait up to 10 s for a helper line
	for _ in $(seq 100); do
		grep -q "$1" "$TMP/helper.out" && return 0
		sleep 0.1
	done
	return 1
}

# check KIND IFNAME MTU TERN-IP LINUX-IP
check() {
	local kind=$1 ifn=$2 mtu=$3 ours=$4 linux=$5
	: >"$TMP/helper.out"
	nsx "$TMP/helper" "$kind" "$ifn" "$mtu" "$ours" >"$TMP/helper.out" 2>&1 &
	HELPER_PID=$!
	wait_for "^ready" || fail "$kind: helper did not open $ifn"
	local link
	link=$(nsx ip -o link show "$ifn") || fail "$kind: $ifn not created"
	echo "$link" | grep -Eq "<([A-Z_]+,)*UP[,>]" || fail "$kind: $ifn not up: $link"
	echo "$link" | grep -q " mtu $mtu " || fail "$kind: $ifn mtu is not $mtu: $link"
	local mac=
	if [ "$kind" = tap ]; then
		mac=$(sed -n 's/^ready .* mac //p' "$TMP/helper.out")
		local kmac
		kmac=$(nsx cat "/sys/class/net/$ifn/address")
		[ "$mac" != "$kmac" ] || fail "tap: tern MAC $mac equals the kernel's"
		case "$mac" in ?[26ae]:*) ;; *) fail "tap: MAC $mac not locally administered unicast" ;; esac
	fi
	nsx ip addr add "$linux/24" dev "$ifn" || fail "$kind: ip addr add"
	local out
	out=$(nsx ping -c 2 -i 0.2 -W 2 "$ours" 2>&1) || fail "$kind: ping through $ifn: $out"
	echo "$out" | grep -q " 0% packet loss" || fail "$kind: loss through $ifn: $out"
	if [ "$kind" = tap ]; then
		grep -q "rx arp request" "$TMP/helper.out" || fail "tap: no ARP request seen"
		nsx ip neigh show "$ours" dev "$ifn" | grep -q "lladdr $mac" ||
			fail "tap: kernel did not learn $mac: $(nsx ip neigh show dev "$ifn")"
	fi
	nsx ip link del "$ifn" || fail "$kind: ip link del $ifn"
	wait "$HELPER_PID"
	local rc=$?
	HELPER_PID=
	[ $rc -eq 0 ] || fail "$kind: helper exit $rc (link gone not seen?)"
	grep -q "^gone" "$TMP/helper.out" || fail "$kind: link gone not reported"
	grep -q "^in use 0$" "$TMP/helper.out" || fail "$kind: packets leaked"
	ok "$kind: up, mtu $mtu, ping answered through rx/tx bursts, deletion seen"
}

check tap tnsmoke0 1400 198.18.0.2 198.18.0.1
check tun tnsmoke1 1280 198.18.1.2 198.18.1.1
echo "2 passed, 0 failed"
