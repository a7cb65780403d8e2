/* Every wire parser: round trips and every malformed case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "wire/csum.h"
#include "wire/wire.h"

static void test_eth(void **state)
{
	(void)state;
	struct tn_eth_hdr h = {.dst = {1, 2, 3, 4, 5, 6}, .src = {7, 8, 9, 10, 11, 12}, .type = 0x0800}, o;
	uint8_t b[14];
	assert_int_equal(tn_eth_emit(&h, b, sizeof(b)), 14);
	assert_int_equal(tn_eth_emit(&h, b, 13), 0);
	assert_int_equal(tn_eth_parse(b, 14, &o), 14);
	assert_memory_equal(&h.dst, &o.dst, 6);
	assert_memory_equal(&h.src, &o.src, 6);
	assert_int_equal(o.type, 0x0800);
	for (size_t n = 0; n < 14; n++)
		assert_int_equal(tn_eth_parse(b, n, &o), TN_WIRE_ETRUNC);
	b[12] = 0x05; /* 802.3 length field */
	b[13] = 0xdc;
	assert_int_equal(tn_eth_parse(b, 14, &o), TN_WIRE_EFORMAT);
	uint8_t bc[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	assert_true(tn_eth_is_bcast(bc) && tn_eth_is_mcast(bc));
}

static void test_arp(void **state)
{
	(void)state;
	struct tn_arp_hdr h = {.op = 1, .sha = {2, 0, 0, 0, 0, 1}, .spa = 0xc6120001, .tpa = 0xc6120002}, o;
	uint8_t b[28];
	assert_int_equal(tn_arp_emit(&h, b, 28), 28);
	assert_int_equal(tn_arp_parse(b, 28, &o), 28);
	assert_int_equal(o.op, 1);
	assert_int_equal(o.spa, 0xc6120001);
	assert_int_equal(o.tpa, 0xc6120002);
	assert_memory_equal(o.sha, h.sha, 6);
	for (size_t n = 0; n < 28; n++)
		assert_int_equal(tn_arp_parse(b, n, &o), TN_WIRE_ETRUNC);
	const int fields[] = {1, 3, 4, 5}; /* htype, ptype, hlen, plen */
	for (int i = 0; i < 4; i++) {
		uint8_t c[28];
		memcpy(c, b, 28);
		c[fields[i]] ^= 0x10;
		assert_int_equal(tn_arp_parse(c, 28, &o), TN_WIRE_EFORMAT);
	}
}

static size_t ip_packet(uint8_t *b, const uint8_t *opts, uint8_t optlen, uint16_t payload)
{
	struct tn_ipv4_hdr h = {.tos = 0x10, .id = 0x1234, .frag_off = TN_IP_DF, .ttl = 64, .proto = 17,
				.src = 0xc6120001, .dst = 0xc6120002, .optlen = optlen};
	if (optlen)
		memcpy(h.opts, opts, optlen);
	h.tot_len = (uint16_t)(20 + ((optlen + 3) & ~3) + payload);
	size_t n = tn_ipv4_emit(&h, b, 60);
	memset(b + n, 0xee, payload);
	return n + payload;
}

static void test_ipv4_roundtrip(void **state)
{
	(void)state;
	uint8_t b[100];
	size_t n = ip_packet(b, NULL, 0, 10);
	struct tn_ipv4_hdr o;
	assert_int_equal(tn_ipv4_parse(b, n, &o), 20);
	assert_int_equal(o.tot_len, 30);
	assert_int_equal(o.id, 0x1234);
	assert_int_equal(o.frag_off, TN_IP_DF);
	assert_int_equal(o.ttl, 64);
	assert_int_equal(o.proto, 17);
	assert_int_equal(o.src, 0xc6120001);
	assert_int_equal(o.dst, 0xc6120002);
	assert_int_equal(tn_csum(b, 20), 0);
	assert_int_equal(tn_ipv4_parse(b, n + 5, &o), 20); /* link padding is fine */
}

static void test_ipv4_malformed(void **state)
{
	(void)state;
	uint8_t b[100], c[100];
	size_t n = ip_packet(b, NULL, 0, 10);
	struct tn_ipv4_hdr o;
	for (size_t k = 0; k < 20; k++)
		assert_int_equal(tn_ipv4_parse(b, k, &o), TN_WIRE_ETRUNC);
	assert_int_equal(tn_ipv4_parse(b, n - 1, &o), TN_WIRE_ETRUNC); /* tot_len > len */
	memcpy(c, b, n);
	c[0] = 0x65; /* version 6 */
	assert_int_equal(tn_ipv4_parse(c, n, &o), TN_WIRE_EVERSION);
	memcpy(c, b, n);
	c[0] = 0x44; /* IHL 4 */
	assert_int_equal(tn_ipv4_parse(c, n, &o), TN_WIRE_EHDRLEN);
	memcpy(c, b, n);
	c[0] = 0x4f; /* IHL 15 = 60 bytes > 30 */
	assert_int_equal(tn_ipv4_parse(c, 30, &o), TN_WIRE_ETRUNC);
	memcpy(c, b, n);
	tn_put16(c + 2, 19); /* tot_len < IHL*4 */
	assert_int_equal(tn_ipv4_parse(c, n, &o), TN_WIRE_ELEN);
	memcpy(c, b, n);
	c[8] ^= 1; /* checksum */
	assert_int_equal(tn_ipv4_parse(c, n, &o), TN_WIRE_ECSUM);
}

static void test_ipv4_options(void **state)
{
	(void)state;
	uint8_t b[100];
	struct tn_ipv4_hdr o;
	const uint8_t nop_end[4] = {TN_IPOPT_NOP, TN_IPOPT_NOP, TN_IPOPT_END, 0};
	size_t n = ip_packet(b, nop_end, 4, 0);
	assert_int_equal(tn_ipv4_parse(b, n, &o), 24);
	assert_false(o.has_srcroute);
	const uint8_t lsrr[8] = {TN_IPOPT_LSRR, 7, 4, 198, 18, 0, 9, TN_IPOPT_END};
	n = ip_packet(b, lsrr, 8, 0);
	assert_int_equal(tn_ipv4_parse(b, n, &o), 28);
	assert_true(o.has_srcroute);
	const uint8_t zero_len[4] = {7, 0, 0, 0}, one_len[4] = {7, 1, 0, 0}, past[4] = {7, 9, 0, 0},
		      trunc[4] = {TN_IPOPT_NOP, TN_IPOPT_NOP, TN_IPOPT_NOP, 7};
	const uint8_t *bad[] = {zero_len, one_len, past, trunc};
	for (int i = 0; i < 4; i++) {
		n = ip_packet(b, bad[i], 4, 0);
		assert_int_equal(tn_ipv4_parse(b, n, &o), TN_WIRE_EOPTIONS);
	}
	uint8_t frag_opts[12] = {TN_IPOPT_LSRR, 7, 4, 1, 2, 3, 4, 7, 3, 4, TN_IPOPT_NOP, TN_IPOPT_END};
	tn_ipv4_opts_for_fragment(frag_opts, 12);
	assert_int_equal(frag_opts[0], TN_IPOPT_LSRR);
	for (int i = 7; i < 10; i++)
		assert_int_equal(frag_opts[i], TN_IPOPT_NOP);
}

static void test_ipv4_quoted(void **state)
{
	(void)state;
	uint8_t b[100];
	size_t n = ip_packet(b, NULL, 0, 8);
	b[8] = 1; /* TTL changed by routers: checksum no longer holds */
	struct tn_ipv4_hdr o;
	assert_int_equal(tn_ipv4_parse(b, n, &o), TN_WIRE_ECSUM);
	assert_int_equal(tn_ipv4_parse_quoted(b, 28, &o), 20);
	assert_int_equal(o.proto, 17);
	assert_int_equal(tn_ipv4_parse_quoted(b, 19, &o), TN_WIRE_ETRUNC);
	b[0] = 0x46;
	assert_int_equal(tn_ipv4_parse_quoted(b, 23, &o), TN_WIRE_ETRUNC);
}

static void test_icmp_udp(void **state)
{
	(void)state;
	uint8_t b[16];
	struct tn_icmp_hdr ih = {.type = 8, .code = 0, .check = 0xabcd, .rest = 0x00010002}, io;
	assert_int_equal(tn_icmp_emit(&ih, b, 16), 8);
	assert_int_equal(tn_icmp_parse(b, 8, &io), 8);
	assert_int_equal(io.type, 8);
	assert_int_equal(io.check, 0xabcd);
	assert_int_equal(io.rest, 0x00010002);
	assert_int_equal(tn_icmp_parse(b, 7, &io), TN_WIRE_ETRUNC);
	assert_true(tn_icmp_is_error(TN_ICMP_DEST_UNREACH));
	assert_false(tn_icmp_is_error(TN_ICMP_ECHO));

	struct tn_udp_hdr uh = {.sport = 1000, .dport = 7, .len = 12, .check = 0x1111}, uo;
	assert_int_equal(tn_udp_emit(&uh, b, 16), 8);
	assert_int_equal(tn_udp_parse(b, 12, &uo), 8);
	assert_int_equal(uo.sport, 1000);
	assert_int_equal(uo.dport, 7);
	assert_int_equal(uo.len, 12);
	assert_int_equal(tn_udp_parse(b, 11, &uo), TN_WIRE_ELEN); /* len field > bytes */
	tn_put16(b + 4, 7);
	assert_int_equal(tn_udp_parse(b, 12, &uo), TN_WIRE_ELEN); /* len < 8 */
	assert_int_equal(tn_udp_parse(b, 7, &uo), TN_WIRE_ETRUNC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eth),           cmocka_unit_test(test_arp),
		cmocka_unit_test(test_ipv4_roundtrip), cmocka_unit_test(test_ipv4_malformed),
		cmocka_unit_test(test_ipv4_options),  cmocka_unit_test(test_ipv4_quoted),
		cmocka_unit_test(test_icmp_udp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
