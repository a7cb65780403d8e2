/* TCP header and option parsing and emission. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "wire/tcp.h"
#include "wire/wire.h"

static void test_roundtrip_all_options(void **state)
{
	(void)state;
	struct tn_tcp_hdr h = {.sport = 40000, .dport = 80, .seq = 0xfffffff0, .ack = 7,
			       .flags = TN_TCP_SYN | TN_TCP_ACK | TN_TCP_ECE | TN_TCP_AE, .win = 65535,
			       .check = 0x1234};
	h.opt.has_mss = true, h.opt.mss = 1460;
	h.opt.has_wscale = true, h.opt.wscale = 7;
	h.opt.sack_ok = true;
	h.opt.has_ts = true, h.opt.tsval = 0xdeadbeef, h.opt.tsecr = 42;
	uint8_t b[60];
	size_t n = tn_tcp_emit(&h, b, sizeof(b));
	assert_int_equal(n, 40); /* 20 + MSS 4 + SACK_PERM/TS 12 + WS 4, as Linux's SYN-ACK */
	struct tn_tcp_hdr o;
	assert_int_equal(tn_tcp_parse(b, n, &o), 40);
	assert_int_equal(o.sport, 40000);
	assert_int_equal(o.seq, 0xfffffff0);
	assert_int_equal(o.flags, h.flags);
	assert_int_equal(o.win, 65535);
	assert_int_equal(o.check, 0x1234);
	assert_true(o.opt.has_mss && o.opt.mss == 1460);
	assert_true(o.opt.has_wscale && o.opt.wscale == 7);
	assert_true(o.opt.sack_ok);
	assert_true(o.opt.has_ts && o.opt.tsval == 0xdeadbeef && o.opt.tsecr == 42);
	assert_false(o.opt.bad);
}

static void test_sack_blocks_and_cookie(void **state)
{
	(void)state;
	struct tn_tcp_hdr h = {.flags = TN_TCP_ACK};
	h.opt.has_ts = true;
	h.opt.nsack = 3;
	for (int i = 0; i < 3; i++)
		h.opt.sack[i] = (struct tn_tcp_sack_block){1000u * (uint32_t)i, 1000u * (uint32_t)i + 500};
	uint8_t b[60];
	size_t n = tn_tcp_emit(&h, b, sizeof(b));
	assert_int_equal(n, 20 + 12 + 4 + 24);
	struct tn_tcp_hdr o;
	assert_int_equal(tn_tcp_parse(b, n, &o), (int)n);
	assert_int_equal(o.opt.nsack, 3);
	assert_int_equal(o.opt.sack[2].start, 2000);
	assert_int_equal(o.opt.sack[2].end, 2500);
	/* four blocks with timestamps do not fit in 40 bytes */
	h.opt.nsack = 4;
	assert_int_equal(tn_tcp_emit(&h, b, sizeof(b)), 0);
	struct tn_tcp_hdr c = {.flags = TN_TCP_SYN};
	c.opt.has_cookie = true;
	c.opt.cookie_len = 8;
	memset(c.opt.cookie, 0xab, 8);
	n = tn_tcp_emit(&c, b, sizeof(b));
	assert_int_equal(tn_tcp_parse(b, n, &o), (int)n);
	assert_true(o.opt.has_cookie && o.opt.cookie_len == 8 && o.opt.cookie[7] == 0xab);
}

static void test_malformed(void **state)
{
	(void)state;
	uint8_t b[60] = {0};
	struct tn_tcp_hdr o;
	for (size_t k = 0; k < 20; k++)
		assert_int_equal(tn_tcp_parse(b, k, &o), TN_WIRE_ETRUNC);
	b[12] = 4 << 4; /* data offset 16 */
	assert_int_equal(tn_tcp_parse(b, 20, &o), TN_WIRE_EHDRLEN);
	b[12] = 10 << 4; /* 40 bytes claimed, 30 present */
	assert_int_equal(tn_tcp_parse(b, 30, &o), TN_WIRE_ETRUNC);
	/* option length 0, 1, past the end: parsing stops, the segment stands */
	const uint8_t bad[3][4] = {{TN_TCPOPT_MSS, 0, 5, 0}, {TN_TCPOPT_MSS, 1, 5, 0}, {TN_TCPOPT_MSS, 9, 5, 0}};
	for (int i = 0; i < 3; i++) {
		memset(b, 0, sizeof(b));
		b[12] = 6 << 4;
		memcpy(b + 20, bad[i], 4);
		assert_int_equal(tn_tcp_parse(b, 24, &o), 24);
		assert_true(o.opt.bad);
		assert_false(o.opt.has_mss);
	}
	/* a wrong-length MSS is ignored; window scale above 14 is clamped */
	memset(b, 0, sizeof(b));
	b[12] = 7 << 4;
	const uint8_t odd[8] = {TN_TCPOPT_MSS, 3, 5, TN_TCPOPT_WSCALE, 3, 20, TN_TCPOPT_EOL, 0};
	memcpy(b + 20, odd, 8);
	assert_int_equal(tn_tcp_parse(b, 28, &o), 28);
	assert_false(o.opt.has_mss);
	assert_true(o.opt.has_wscale && o.opt.wscale == 14);
	/* SACK with a length that is not 2 + 8n is ignored */
	const uint8_t sk[12] = {TN_TCPOPT_SACK, 7, 0, 0, 0, 1, 0, TN_TCPOPT_EOL, 0, 0, 0, 0};
	b[12] = 8 << 4;
	memcpy(b + 20, sk, 12);
	assert_int_equal(tn_tcp_parse(b, 32, &o), 32);
	assert_int_equal(o.opt.nsack, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_all_options),
		cmocka_unit_test(test_sack_blocks_and_cookie),
		cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
