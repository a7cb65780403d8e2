/* Every wire parser and emitter: round trips, and the exact reason code
 * for each malformed input (truncation at every length, bad fields,
 * IPv4 options). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "wire/csum.h"
#include "wire/wire.h"

/* ---- Ethernet ---- */

static void test_eth(void **state)
{
	(void)state;
	struct tn_eth_hdr h = {.dst = {1, 2, 3, 4, 5, 6}, .src = {7, 8, 9, 10, 11, 12}, .type = 0x0800}, o;
	uint8_t b[64];
	memset(b, 0xee, sizeof(b));
	assert_int_equal(tn_eth_emit(&h, b, 13), 0);
	assert_int_equal(b[0], 0xee); /* nothing written when it does not fit */
	assert_int_equal(tn_eth_emit(&h, b, sizeof(b)), TN_ETH_HLEN);
	assert_int_equal(b[14], 0xee);
	const uint8_t want[14] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x08, 0x00};
	assert_memory_equal(b, want, 14);
	assert_int_equal(tn_eth_parse(b, 60, &o), TN_ETH_HLEN); /* payload follows */
	assert_memory_equal(o.dst, h.dst, 6);
	assert_memory_equal(o.src, h.src, 6);
	assert_int_equal(o.type, 0x0800);
	for (size_t n = 0; n < TN_ETH_HLEN; n++)
		assert_int_equal(tn_eth_parse(b, n, &o), TN_WIRE_ETRUNC);
	assert_int_equal(tn_eth_parse(NULL, 0, &o), TN_WIRE_ETRUNC);
	/* 802.3 frames carry a length (< 0x0600) where the EtherType goes */
	const uint16_t lens[] = {0x0000, 0x002e, 0x05dc, 0x05ff};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		tn_put16(b + 12, lens[i]);
		assert_int_equal(tn_eth_parse(b, 60, &o), TN_WIRE_EFORMAT);
	}
	const uint16_t types[] = {0x0600, TN_ETHERTYPE_ARP, TN_ETHERTYPE_VLAN, TN_ETHERTYPE_IPV6, 0xffff};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		h.type = types[i];
		assert_int_equal(tn_eth_emit(&h, b, 14), 14);
		assert_int_equal(tn_eth_parse(b, 14, &o), 14);
		assert_int_equal(o.type, types[i]);
	}
	const uint8_t bc[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, mc[6] = {0x01, 0, 0x5e, 0, 0, 1},
		      uc[6] = {0x02, 0, 0, 0, 0, 1}, zero[6] = {0};
	assert_true(tn_eth_is_bcast(bc) && tn_eth_is_mcast(bc));
	assert_true(!tn_eth_is_bcast(mc) && tn_eth_is_mcast(mc));
	assert_true(!tn_eth_is_bcast(uc) && !tn_eth_is_mcast(uc) && !tn_eth_is_zero(uc));
	assert_true(tn_eth_is_zero(zero));
}

/* ---- ARP ---- */

static void test_arp(void **state)
{
	(void)state;
	struct tn_arp_hdr h = {.op = TN_ARP_REPLY,
			       .sha = {2, 0, 0, 0, 0, 1},
			       .spa = 0xc6120001,
			       .tha = {2, 0, 0, 0, 0, 2},
			       .tpa = 0xc6120002},
			  o;
	uint8_t b[46];
	memset(b, 0, sizeof(b)); /* Ethernet pads ARP to 46 bytes */
	assert_int_equal(tn_arp_emit(&h, b, 27), 0);
	assert_int_equal(tn_arp_emit(&h, b, 28), TN_ARP_LEN);
	const uint8_t want[8] = {0, 1, 0x08, 0x00, 6, 4, 0, 2};
	assert_memory_equal(b, want, 8);
	assert_int_equal(tn_arp_parse(b, 46, &o), TN_ARP_LEN);
	assert_int_equal(o.op, TN_ARP_REPLY);
	assert_memory_equal(o.sha, h.sha, 6);
	assert_memory_equal(o.tha, h.tha, 6);
	assert_int_equal(o.spa, 0xc6120001);
	assert_int_equal(o.tpa, 0xc6120002);
	for (size_t n = 0; n < TN_ARP_LEN; n++)
		assert_int_equal(tn_arp_parse(b, n, &o), TN_WIRE_ETRUNC);
	/* htype, ptype, hlen, plen: each wrong value is refused */
	struct {
		size_t at;
		uint8_t v;
	} bad[] = {{1, 6}, {0, 1}, {3, 0xdd}, {2, 0x86}, {4, 8}, {4, 0}, {5, 16}, {5, 6}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t c[28];
		memcpy(c, b, 28);
		c[bad[i].at] = bad[i].v;
		assert_int_equal(tn_arp_parse(c, 28, &o), TN_WIRE_EFORMAT);
	}
	/* any op value parses: the caller decides */
	tn_put16(b + 6, 9);
	assert_int_equal(tn_arp_parse(b, 28, &o), 28);
	assert_int_equal(o.op, 9);
}

/* ---- IPv4 ---- */

static struct tn_ipv4_hdr ip_hdr(const uint8_t *opts, uint8_t optlen, uint16_t payload)
{
	struct tn_ipv4_hdr h = {.tos = 0x10, .id = 0x1234, .frag_off = TN_IP_DF, .ttl = 64, .proto = 17,
				.src = 0xc6120001, .dst = 0xc6120002, .optlen = optlen};
	if (optlen)
		memcpy(h.opts, opts, optlen);
	h.tot_len = (uint16_t)(20 + ((optlen + 3) & ~3) + payload);
	return h;
}

/* Emits a header with the given options, then payload bytes. */
static size_t ip_packet(uint8_t *b, const uint8_t *opts, uint8_t optlen, uint16_t payload)
{
	struct tn_ipv4_hdr h = ip_hdr(opts, optlen, payload);
	size_t n = tn_ipv4_emit(&h, b, 60);
	assert_true(n >= 20);
	memset(b + n, 0xee, payload);
	return n + payload;
}

/* Raw options bytes (already a multiple of 4) behind a fixed header. */
static size_t ip_raw_opts(uint8_t *b, const uint8_t *opts, size_t optlen)
{
	size_t ihl = 20 + optlen;
	memset(b, 0, ihl);
	b[0] = (uint8_t)(0x40 | ihl / 4);
	tn_put16(b + 2, (uint16_t)ihl);
	b[8] = 64;
	b[9] = 6;
	tn_put32(b + 12, 0x0a000001);
	tn_put32(b + 16, 0x0a000002);
	memcpy(b + 20, opts, optlen);
	tn_put16(b + 10, tn_csum(b, ihl));
	return ihl;
}

static void test_ipv4_roundtrip(void **state)
{
	(void)state;
	uint8_t b[100];
	size_t n = ip_packet(b, NULL, 0, 10);
	assert_int_equal(n, 30);
	assert_int_equal(b[0], 0x45);
	assert_int_equal(tn_csum(b, 20), 0);
	struct tn_ipv4_hdr o;
	assert_int_equal(tn_ipv4_parse(b, n, &o), 20);
	assert_int_equal(o.ihl, 20);
	assert_int_equal(o.optlen, 0);
	assert_int_equal(o.tos, 0x10);
	assert_int_equal(o.tot_len, 30);
	assert_int_equal(o.id, 0x1234);
	assert_int_equal(o.frag_off, TN_IP_DF);
	assert_int_equal(o.ttl, 64);
	assert_int_equal(o.proto, 17);
	assert_int_equal(o.src, 0xc6120001);
	assert_int_equal(o.dst, 0xc6120002);
	assert_int_equal(o.check, tn_get16(b + 10));
	assert_false(o.has_srcroute);
	assert_false(tn_ipv4_is_fragment(&o));
	assert_int_equal(tn_ipv4_parse(b, n + 5, &o), 20); /* link padding is fine */
	/* emit ignores the struct's check and writes a fresh one */
	o.check = 0xdead;
	uint8_t c[60];
	assert_int_equal(tn_ipv4_emit(&o, c, sizeof(c)), 20);
	assert_memory_equal(b, c, 20);
	assert_int_equal(tn_ipv4_emit(&o, c, 19), 0);

	/* options of every length 1..40 are padded with END to a word */
	for (uint8_t optlen = 1; optlen <= 40; optlen++) {
		uint8_t opts[40];
		memset(opts, TN_IPOPT_NOP, optlen);
		struct tn_ipv4_hdr h = ip_hdr(opts, optlen, 0);
		size_t ihl = 20 + ((optlen + 3u) & ~3u);
		assert_int_equal(tn_ipv4_emit(&h, c, ihl - 1), 0);
		assert_int_equal(tn_ipv4_emit(&h, c, sizeof(c)), ihl);
		for (size_t i = 20 + optlen; i < ihl; i++)
			assert_int_equal(c[i], TN_IPOPT_END);
		assert_int_equal(tn_ipv4_parse(c, ihl, &o), (int)ihl);
		assert_int_equal(o.optlen, ihl - 20);
		assert_memory_equal(o.opts, c + 20, ihl - 20);
	}
	/* more options than fit a header */
	struct tn_ipv4_hdr h = ip_hdr(NULL, 0, 0);
	h.optlen = 41;
	assert_int_equal(tn_ipv4_emit(&h, c, sizeof(c)), 0);

	h = ip_hdr(NULL, 0, 0);
	h.frag_off = TN_IP_MF | 185;
	assert_true(tn_ipv4_is_fragment(&h));
	assert_int_equal(tn_ipv4_frag_offset(&h), 1480);
	h.frag_off = 185;
	assert_true(tn_ipv4_is_fragment(&h));
	h.frag_off = TN_IP_DF;
	assert_false(tn_ipv4_is_fragment(&h));
	h.frag_off = TN_IP_OFFMASK;
	assert_int_equal(tn_ipv4_frag_offset(&h), 65528);
}

static void test_ipv4_truncated(void **state)
{
	(void)state;
	uint8_t b[100];
	const uint8_t opts[8] = {TN_IPOPT_NOP, 7, 7, 4, 0, 0, 0, 0}; /* record route */
	size_t n = ip_packet(b, opts, 8, 0);
	assert_int_equal(n, 28);
	struct tn_ipv4_hdr o;
	assert_int_equal(tn_ipv4_parse(b, 28, &o), 28);
	for (size_t k = 0; k < 28; k++)
		assert_int_equal(tn_ipv4_parse(b, k, &o), TN_WIRE_ETRUNC);
	n = ip_packet(b, NULL, 0, 10);
	for (size_t k = 0; k < n; k++) /* below 20: no header; above: tot_len > len */
		assert_int_equal(tn_ipv4_parse(b, k, &o), TN_WIRE_ETRUNC);
}

static void test_ipv4_malformed(void **state)
{
	(void)state;
	uint8_t b[100], c[100];
	size_t n = ip_packet(b, NULL, 0, 10);
	struct tn_ipv4_hdr o;
	for (uint8_t v = 0; v < 16; v++) {
		if (v == 4)
			continue;
		memcpy(c, b, n);
		c[0] = (uint8_t)(v << 4 | 5);
		assert_int_equal(tn_ipv4_parse(c, n, &o), TN_WIRE_EVERSION);
	}
	for (uint8_t ihl = 0; ihl < 5; ihl++) {
		memcpy(c, b, n);
		c[0] = (uint8_t)(0x40 | ihl);
		assert_int_equal(tn_ipv4_parse(c, n, &o), TN_WIRE_EHDRLEN);
	}
	/* IHL*4 beyond the bytes there are */
	memcpy(c, b, n);
	c[0] = 0x4f;
	assert_int_equal(tn_ipv4_parse(c, 59, &o), TN_WIRE_ETRUNC);
	c[0] = 0x48; /* 32 > 30 */
	assert_int_equal(tn_ipv4_parse(c, n, &o), TN_WIRE_ETRUNC);
	/* tot_len below the header length (checksum kept valid) */
	for (uint16_t tl = 0; tl < 20; tl++) {
		memcpy(c, b, n);
		tn_put16(c + 2, tl);
		tn_put16(c + 10, 0);
		tn_put16(c + 10, tn_csum(c, 20));
		assert_int_equal(tn_ipv4_parse(c, n, &o), TN_WIRE_ELEN);
	}
	memcpy(c, b, n);
	tn_put16(c + 2, 20); /* a header alone is fine */
	tn_put16(c + 10, 0);
	tn_put16(c + 10, tn_csum(c, 20));
	assert_int_equal(tn_ipv4_parse(c, n, &o), 20);
	assert_int_equal(o.tot_len, 20);
	/* tot_len beyond the buffer */
	memcpy(c, b, n);
	tn_put16(c + 2, 31);
	tn_put16(c + 10, 0);
	tn_put16(c + 10, tn_csum(c, 20));
	assert_int_equal(tn_ipv4_parse(c, 30, &o), TN_WIRE_ETRUNC);
	assert_int_equal(tn_ipv4_parse(c, 31, &o), 20);
	tn_put16(c + 2, 0xffff);
	tn_put16(c + 10, 0);
	tn_put16(c + 10, tn_csum(c, 20));
	assert_int_equal(tn_ipv4_parse(c, 100, &o), TN_WIRE_ETRUNC);
	/* a bit flipped anywhere outside version/IHL/length breaks the sum */
	for (size_t at = 1; at < 20; at++) {
		if (at == 2 || at == 3)
			continue;
		for (int bit = 0; bit < 8; bit++) {
			memcpy(c, b, n);
			c[at] ^= (uint8_t)(1u << bit);
			assert_int_equal(tn_ipv4_parse(c, n, &o), TN_WIRE_ECSUM);
		}
	}
	/* checksum 0x0000 vs 0xffff: not interchangeable when the sum is not zero */
	memcpy(c, b, n);
	tn_put16(c + 10, (uint16_t)~tn_get16(b + 10));
	assert_int_equal(tn_ipv4_parse(c, n, &o), TN_WIRE_ECSUM);
}

static void test_ipv4_options(void **state)
{
	(void)state;
	uint8_t b[100];
	struct tn_ipv4_hdr o;
	struct {
		uint8_t opts[12];
		size_t len;
		int want;
		bool srcroute;
	} cases[] = {
		{{TN_IPOPT_NOP, TN_IPOPT_NOP, TN_IPOPT_NOP, TN_IPOPT_NOP}, 4, 24, false},
		{{TN_IPOPT_NOP, TN_IPOPT_END, 7, 0}, 4, 24, false}, /* after END: not parsed */
		{{TN_IPOPT_END, 0xff, 0xff, 0xff}, 4, 24, false},
		{{TN_IPOPT_LSRR, 7, 4, 10, 0, 0, 9, TN_IPOPT_END}, 8, 28, true},
		{{TN_IPOPT_NOP, TN_IPOPT_SSRR, 7, 4, 10, 0, 0, 9}, 8, 28, true}, /* ends at the end */
		{{7, 8, 4, 0, 0, 0, 0, 0}, 8, 28, false},     /* exactly fills the space */
		{{68, 4, 5, 0, TN_IPOPT_LSRR, 3, 4, 0}, 8, 28, true},
		{{148, 4, 0, 0}, 4, 24, false},               /* router alert */
		{{7, 0, 0, 0}, 4, TN_WIRE_EOPTIONS, false},   /* length 0 */
		{{7, 1, 0, 0}, 4, TN_WIRE_EOPTIONS, false},   /* length 1 */
		{{7, 5, 0, 0}, 4, TN_WIRE_EOPTIONS, false},   /* past the end */
		{{TN_IPOPT_NOP, 7, 4, 0}, 4, TN_WIRE_EOPTIONS, false},
		{{TN_IPOPT_NOP, TN_IPOPT_NOP, TN_IPOPT_NOP, 7}, 4, TN_WIRE_EOPTIONS, false}, /* no length byte */
		{{TN_IPOPT_LSRR, 8, 4, 10, 0, 0, 9, 0, 7, 9, 0, 0}, 12, TN_WIRE_EOPTIONS, false},
		{{TN_IPOPT_LSRR, 255, 4, 10}, 4, TN_WIRE_EOPTIONS, false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = ip_raw_opts(b, cases[i].opts, cases[i].len);
		o.has_srcroute = !cases[i].srcroute;
		assert_int_equal(tn_ipv4_parse(b, n, &o), cases[i].want);
		if (cases[i].want > 0) {
			assert_int_equal(o.has_srcroute, cases[i].srcroute);
			assert_int_equal(o.optlen, cases[i].len);
			assert_memory_equal(o.opts, cases[i].opts, cases[i].len);
		}
	}
	/* a full 40 bytes of options */
	uint8_t big[40];
	memset(big, TN_IPOPT_NOP, sizeof(big));
	big[36] = 7;
	big[37] = 4;
	size_t n = ip_raw_opts(b, big, 40);
	assert_int_equal(tn_ipv4_parse(b, n, &o), 60);
	big[37] = 5;
	n = ip_raw_opts(b, big, 40);
	assert_int_equal(tn_ipv4_parse(b, n, &o), TN_WIRE_EOPTIONS);
}

static void test_ipv4_opts_for_fragment(void **state)
{
	(void)state;
	/* RR (7, not copied), LSRR (131, copied), security (130, copied),
	 * timestamp (68, not copied), NOP, END then bytes after END */
	uint8_t o[32] = {7,   7,  4, 1, 2, 3, 4,                /* RR */
			 131, 7,  4, 10, 0, 0, 9,                /* LSRR */
			 130, 4,  0xaa, 0xbb,                    /* security */
			 68,  8,  5, 0x01, 0, 0, 0, 1,           /* TS */
			 TN_IPOPT_NOP, TN_IPOPT_END, 7, 3};
	uint8_t want[32] = {1,   1,  1, 1, 1, 1, 1,
			    131, 7,  4, 10, 0, 0, 9,
			    130, 4,  0xaa, 0xbb,
			    1,   1,  1, 1, 1, 1, 1, 1,
			    TN_IPOPT_NOP, TN_IPOPT_END, 7, 3};
	assert_true(TN_IPOPT_COPIED(TN_IPOPT_LSRR));
	assert_true(TN_IPOPT_COPIED(TN_IPOPT_SSRR));
	assert_false(TN_IPOPT_COPIED(7));
	tn_ipv4_opts_for_fragment(o, sizeof(o));
	assert_memory_equal(o, want, sizeof(o));
	/* a fragment built with the result still parses and keeps LSRR */
	uint8_t b[60];
	struct tn_ipv4_hdr h;
	size_t n = ip_raw_opts(b, o, 32);
	assert_int_equal(tn_ipv4_parse(b, n, &h), 52);
	assert_true(h.has_srcroute);
	/* nothing to do on no options, and a bad length never runs past n */
	tn_ipv4_opts_for_fragment(o, 0);
	uint8_t bad[4] = {7, 200, 0, 0};
	tn_ipv4_opts_for_fragment(bad, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(bad[i], TN_IPOPT_NOP);
	uint8_t lone[2] = {TN_IPOPT_NOP, 7}; /* type without length at the end */
	tn_ipv4_opts_for_fragment(lone, 2);
	assert_int_equal(lone[0], TN_IPOPT_NOP);
}

static void test_ipv4_quoted(void **state)
{
	(void)state;
	uint8_t b[100];
	const uint8_t lsrr[8] = {TN_IPOPT_LSRR, 7, 4, 10, 0, 0, 9, TN_IPOPT_END};
	size_t n = ip_packet(b, lsrr, 8, 8);
	b[8] = 1; /* TTL changed by routers: checksum no longer holds */
	tn_put16(b + 2, 1400); /* and the quote is cut short */
	struct tn_ipv4_hdr o;
	assert_int_equal(tn_ipv4_parse(b, n, &o), TN_WIRE_ETRUNC);
	assert_int_equal(tn_ipv4_parse_quoted(b, n, &o), 28);
	assert_int_equal(o.proto, 17);
	assert_int_equal(o.tot_len, 1400);
	assert_int_equal(o.optlen, 8);
	assert_false(o.has_srcroute);
	for (size_t k = 0; k < 28; k++)
		assert_int_equal(tn_ipv4_parse_quoted(b, k, &o), TN_WIRE_ETRUNC);
	b[0] = 0x65;
	assert_int_equal(tn_ipv4_parse_quoted(b, n, &o), TN_WIRE_EVERSION);
	b[0] = 0x43;
	assert_int_equal(tn_ipv4_parse_quoted(b, n, &o), TN_WIRE_EHDRLEN);
}

static void test_ip_classes(void **state)
{
	(void)state;
	assert_true(tn_ip_is_zeronet(0x00000001));
	assert_false(tn_ip_is_zeronet(0x01000000));
	assert_true(tn_ip_is_loopback(0x7f000001));
	assert_true(tn_ip_is_multicast(0xe0000001));
	assert_true(tn_ip_is_multicast(0xefffffff));
	assert_false(tn_ip_is_multicast(0xf0000000));
	assert_true(tn_ip_is_lbcast(0xffffffff));
	assert_true(tn_ip_is_class_e(0xf0000000));
	assert_false(tn_ip_is_class_e(0xe0000000));
}

/* ---- ICMP ---- */

static void test_icmp(void **state)
{
	(void)state;
	uint8_t b[16];
	memset(b, 0xee, sizeof(b));
	struct tn_icmp_hdr ih = {.type = TN_ICMP_ECHO, .code = 0, .check = 0xabcd, .rest = 0x00010002}, io;
	assert_int_equal(tn_icmp_emit(&ih, b, 7), 0);
	assert_int_equal(b[0], 0xee);
	assert_int_equal(tn_icmp_emit(&ih, b, 16), TN_ICMP_HLEN);
	const uint8_t want[8] = {8, 0, 0xab, 0xcd, 0, 1, 0, 2};
	assert_memory_equal(b, want, 8);
	assert_int_equal(b[8], 0xee);
	assert_int_equal(tn_icmp_parse(b, 16, &io), TN_ICMP_HLEN);
	assert_int_equal(io.type, TN_ICMP_ECHO);
	assert_int_equal(io.code, 0);
	assert_int_equal(io.check, 0xabcd);
	assert_int_equal(io.rest, 0x00010002);
	for (size_t n = 0; n < TN_ICMP_HLEN; n++)
		assert_int_equal(tn_icmp_parse(b, n, &io), TN_WIRE_ETRUNC);
	/* a message with a correct checksum sums to zero */
	uint8_t m[12] = {0};
	ih.check = 0;
	tn_icmp_emit(&ih, m, sizeof(m));
	memcpy(m + 8, "ping", 4);
	ih.check = tn_csum(m, sizeof(m));
	tn_icmp_emit(&ih, m, sizeof(m));
	assert_int_equal(tn_csum(m, sizeof(m)), 0);
	const uint8_t errors[] = {TN_ICMP_DEST_UNREACH, TN_ICMP_SOURCE_QUENCH, TN_ICMP_REDIRECT,
				  TN_ICMP_TIME_EXCEEDED, TN_ICMP_PARAMETERPROB};
	for (size_t i = 0; i < sizeof(errors); i++)
		assert_true(tn_icmp_is_error(errors[i]));
	const uint8_t queries[] = {TN_ICMP_ECHO, TN_ICMP_ECHOREPLY, TN_ICMP_TIMESTAMP, TN_ICMP_TIMESTAMPREPLY, 42};
	for (size_t i = 0; i < sizeof(queries); i++)
		assert_false(tn_icmp_is_error(queries[i]));
}

/* ---- UDP ---- */

static void test_udp(void **state)
{
	(void)state;
	uint8_t b[32];
	memset(b, 0xee, sizeof(b));
	struct tn_udp_hdr uh = {.sport = 1000, .dport = 53, .len = 12, .check = 0x1111}, uo;
	assert_int_equal(tn_udp_emit(&uh, b, 7), 0);
	assert_int_equal(b[0], 0xee);
	assert_int_equal(tn_udp_emit(&uh, b, sizeof(b)), TN_UDP_HLEN);
	const uint8_t want[8] = {0x03, 0xe8, 0, 53, 0, 12, 0x11, 0x11};
	assert_memory_equal(b, want, 8);
	assert_int_equal(tn_udp_parse(b, 12, &uo), TN_UDP_HLEN);
	assert_int_equal(uo.sport, 1000);
	assert_int_equal(uo.dport, 53);
	assert_int_equal(uo.len, 12);
	assert_int_equal(uo.check, 0x1111);
	assert_int_equal(tn_udp_parse(b, 32, &uo), TN_UDP_HLEN); /* IP payload may be longer */
	for (size_t n = 0; n < TN_UDP_HLEN; n++)
		assert_int_equal(tn_udp_parse(b, n, &uo), TN_WIRE_ETRUNC);
	for (size_t n = 8; n < 12; n++) /* the length field says more than there is */
		assert_int_equal(tn_udp_parse(b, n, &uo), TN_WIRE_ELEN);
	for (uint16_t l = 0; l < 8; l++) {
		tn_put16(b + 4, l);
		assert_int_equal(tn_udp_parse(b, 32, &uo), TN_WIRE_ELEN);
	}
	tn_put16(b + 4, 8); /* an empty datagram */
	assert_int_equal(tn_udp_parse(b, 8, &uo), TN_UDP_HLEN);
	tn_put16(b + 4, 0xffff);
	assert_int_equal(tn_udp_parse(b, 32, &uo), TN_WIRE_ELEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eth),
		cmocka_unit_test(test_arp),
		cmocka_unit_test(test_ipv4_roundtrip),
		cmocka_unit_test(test_ipv4_truncated),
		cmocka_unit_test(test_ipv4_malformed),
		cmocka_unit_test(test_ipv4_options),
		cmocka_unit_test(test_ipv4_opts_for_fragment),
		cmocka_unit_test(test_ipv4_quoted),
		cmocka_unit_test(test_ip_classes),
		cmocka_unit_test(test_icmp),
		cmocka_unit_test(test_udp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
