/* Round-trip checks for each wire parser, shared by the per-parser fuzz
 * targets: a parse that succeeds must emit and re-parse to the same fields. */
#ifndef TERN_FUZZ_WIRE_CHECKS_H
#define TERN_FUZZ_WIRE_CHECKS_H

#include <stdlib.h>
#include <string.h>

#include "wire/csum.h"
#include "wire/tcp.h"
#include "wire/wire.h"

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline void check_eth(const uint8_t *data, size_t size)
{
	uint8_t out[TN_ETH_HLEN];
	struct tn_eth_hdr e, e2;
	if (tn_eth_parse(data, size, &e) > 0) {
		CHECK(tn_eth_emit(&e, out, sizeof(out)) == TN_ETH_HLEN);
		CHECK(tn_eth_parse(out, TN_ETH_HLEN, &e2) == TN_ETH_HLEN && e2.type == e.type);
		CHECK(memcmp(e.dst, e2.dst, 6) == 0 && memcmp(e.src, e2.src, 6) == 0);
	}
}

static inline void check_arp(const uint8_t *data, size_t size)
{
	uint8_t out[TN_ARP_LEN];
	struct tn_arp_hdr a, a2;
	if (tn_arp_parse(data, size, &a) > 0) {
		CHECK(tn_arp_emit(&a, out, sizeof(out)) == TN_ARP_LEN);
		CHECK(tn_arp_parse(out, TN_ARP_LEN, &a2) == TN_ARP_LEN);
		CHECK(a2.spa == a.spa && a2.tpa == a.tpa && a2.op == a.op);
	}
}

static inline void check_ipv4(const uint8_t *data, size_t size)
{
	uint8_t out[TN_IPV4_MAX_HLEN];
	struct tn_ipv4_hdr h, h2;
	int ihl = tn_ipv4_parse(data, size, &h);
	if (ihl > 0) {
		CHECK(ihl <= 60 && (size_t)ihl <= size && h.tot_len <= size && h.tot_len >= ihl);
		h.tot_len = (uint16_t)ihl;
		size_t n = tn_ipv4_emit(&h, out, sizeof(out));
		CHECK(n == (size_t)ihl);
		CHECK(tn_ipv4_parse(out, n, &h2) == ihl);
		CHECK(h2.src == h.src && h2.dst == h.dst && h2.proto == h.proto && h2.id == h.id &&
		      h2.frag_off == h.frag_off && h2.has_srcroute == h.has_srcroute);
		uint8_t opts[40];
		memcpy(opts, h.opts, h.optlen);
		tn_ipv4_opts_for_fragment(opts, h.optlen);
	}
	if (tn_ipv4_parse_quoted(data, size, &h) > 0)
		CHECK(h.ihl <= size);
	if (size > 1) { /* the checksum does not depend on how bytes are split */
		size_t cut = size / 2 & ~(size_t)1;
		uint32_t whole = tn_csum_partial(data, size, 0);
		uint32_t parts = tn_csum_partial(data + cut, size - cut, tn_csum_partial(data, cut, 0));
		CHECK(tn_csum_fold(whole) == tn_csum_fold(parts));
	}
}

static inline void check_icmp(const uint8_t *data, size_t size)
{
	uint8_t out[TN_ICMP_HLEN];
	struct tn_icmp_hdr ic, ic2;
	if (tn_icmp_parse(data, size, &ic) > 0) {
		tn_icmp_emit(&ic, out, sizeof(out));
		CHECK(tn_icmp_parse(out, 8, &ic2) == 8 && ic2.rest == ic.rest && ic2.type == ic.type &&
		      ic2.code == ic.code && ic2.check == ic.check);
	}
}

static inline void check_udp(const uint8_t *data, size_t size)
{
	struct tn_udp_hdr u, u2;
	if (tn_udp_parse(data, size, &u) > 0) {
		CHECK(u.len >= 8 && u.len <= size);
		uint8_t out[TN_UDP_HLEN];
		tn_udp_emit(&u, out, sizeof(out));
		CHECK(tn_udp_parse(out, TN_UDP_HLEN, &u2) == TN_WIRE_ELEN || u.len == 8);
		CHECK(tn_get16(out) == u.sport && tn_get16(out + 2) == u.dport && tn_get16(out + 4) == u.len);
	}
}

static inline void check_tcp(const uint8_t *data, size_t size)
{
	struct tn_tcp_hdr h, h2;
	int doff = tn_tcp_parse(data, size, &h);
	if (doff <= 0)
		return;
	CHECK(doff >= 20 && doff <= 60 && (size_t)doff <= size);
	uint8_t out[TN_TCP_MAX_HLEN];
	size_t n = tn_tcp_emit(&h, out, sizeof(out));
	if (n == 0) /* the options parsed may not fit one header when re-laid */
		return;
	CHECK(tn_tcp_parse(out, n, &h2) == (int)n);
	CHECK(h2.seq == h.seq && h2.ack == h.ack && h2.flags == h.flags && h2.win == h.win);
	CHECK(h2.opt.has_mss == h.opt.has_mss && h2.opt.mss == h.opt.mss);
	CHECK(h2.opt.has_ts == h.opt.has_ts && h2.opt.tsval == h.opt.tsval);
	CHECK(h2.opt.nsack == h.opt.nsack && h2.opt.sack_ok == h.opt.sack_ok);
	/* the Fast Open option: a request (empty) or a cookie, kept byte for byte */
	CHECK(h2.opt.has_cookie == h.opt.has_cookie);
	CHECK(!h.opt.has_cookie || (h2.opt.cookie_len == h.opt.cookie_len &&
				    memcmp(h2.opt.cookie, h.opt.cookie, h.opt.cookie_len) == 0));
}

#endif
