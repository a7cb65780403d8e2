/* RSS: the Toeplitz hash reproduces the Microsoft RSS specification's IPv4
 * verification suite (2-tuple and 4-tuple, default key) exactly; the
 * generic form agrees; queue selection follows the default indirection
 * table; and a picked source port brings the replies to the chosen queue
 * for every queue of 1..16. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdint.h>
#include <string.h>

#include "core/rss.h"
#include "link/dev.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

/* "Verifying the RSS hash calculation", IPv4: source, destination, source
 * port, destination port, hash over the addresses, hash with the ports. */
static const struct {
	uint32_t src, dst;
	uint16_t sport, dport;
	uint32_t h2, h4;
} vectors[] = {
	{IP(66, 9, 149, 187), IP(161, 142, 100, 80), 2794, 1766, 0x323e8fc2, 0x51ccc178},
	{IP(199, 92, 111, 2), IP(65, 69, 140, 83), 14230, 4739, 0xd718262a, 0xc626b0ea},
	{IP(24, 19, 198, 95), IP(12, 22, 207, 184), 12898, 38024, 0xd2d0a5de, 0x5c2b394a},
	{IP(38, 27, 205, 30), IP(209, 142, 163, 6), 48228, 2217, 0x82989176, 0xafc7327f},
	{IP(153, 39, 163, 191), IP(202, 188, 127, 2), 44251, 1303, 0x5d1809c5, 0x10e828a2},
};
#define NVEC (sizeof(vectors) / sizeof(vectors[0]))

static void test_spec_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < NVEC; i++) {
		assert_int_equal(tn_rss_hash_v4_2t(tn_rss_default_key, vectors[i].src, vectors[i].dst), vectors[i].h2);
		assert_int_equal(tn_rss_hash_v4(tn_rss_default_key, vectors[i].src, vectors[i].dst, vectors[i].sport,
						vectors[i].dport),
				 vectors[i].h4);
	}
}

static void test_generic_form(void **state)
{
	(void)state;
	/* the first vector as the bytes on the wire */
	const uint8_t in[12] = {66, 9, 149, 187, 161, 142, 100, 80, 2794 >> 8, 2794 & 0xff, 1766 >> 8, 1766 & 0xff};
	assert_int_equal(tn_rss_hash(tn_rss_default_key, in, 12), 0x51ccc178);
	assert_int_equal(tn_rss_hash(tn_rss_default_key, in, 8), 0x323e8fc2);
	assert_int_equal(tn_rss_hash(tn_rss_default_key, in, 0), 0);
	/* linear: the hash of a XOR b is the XOR of the hashes */
	const uint8_t a[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
	uint8_t x[12];
	for (int i = 0; i < 12; i++)
		x[i] = (uint8_t)(a[i] ^ in[i]);
	assert_int_equal(tn_rss_hash(tn_rss_default_key, x, 12),
			 tn_rss_hash(tn_rss_default_key, a, 12) ^ tn_rss_hash(tn_rss_default_key, in, 12));
	/* an all-zero key hashes everything to 0; length past 36 is clamped */
	const uint8_t zero[TN_RSS_KEY_LEN] = {0};
	assert_int_equal(tn_rss_hash(zero, in, 12), 0);
	uint8_t big[64];
	for (int i = 0; i < 64; i++)
		big[i] = (uint8_t)(i * 37 + 1);
	assert_int_equal(tn_rss_hash(tn_rss_default_key, big, 64), tn_rss_hash(tn_rss_default_key, big, 36));
}

static void test_queue(void **state)
{
	(void)state;
	assert_int_equal(tn_rss_queue(0x51ccc178, 0), 0);
	assert_int_equal(tn_rss_queue(0x51ccc178, 1), 0);
	assert_int_equal(tn_rss_queue(0x51ccc178, 4), (0x78 % 4));
	assert_int_equal(tn_rss_queue(0x51ccc178, 3), (0x78 % 3));
	assert_int_equal(tn_rss_queue(0xffffffff, 128), 127);
	assert_int_equal(tn_rss_queue(0xffffff80, 5), 0);
}

static void test_pick_port(void **state)
{
	(void)state;
	uint32_t local = IP(198, 18, 0, 2), remote = IP(198, 18, 0, 1);
	for (unsigned nq = 1; nq <= 16; nq++) {
		for (unsigned q = 0; q < nq; q++) {
			uint16_t start = (uint16_t)(32768 + nq * 97 + q);
			uint16_t p = tn_rss_pick_port(tn_rss_default_key, local, remote, 80, nq, q, start);
			assert_true(p >= start);
			/* the replies, as a NIC hashes them */
			uint32_t h = tn_rss_hash_v4(tn_rss_default_key, remote, local, 80, p);
			assert_int_equal(tn_rss_queue(h, nq), q);
			/* the first such port: none before it from start */
			for (uint32_t k = start; k < p; k++)
				assert_int_not_equal(tn_rss_queue(tn_rss_hash_v4(tn_rss_default_key, remote, local, 80,
										 (uint16_t)k), nq), q);
		}
	}
	/* wraps past 65535 to 1, never 0 */
	uint16_t p = tn_rss_pick_port(tn_rss_default_key, local, remote, 443, 8, 5, 65535);
	assert_true(p != 0);
	assert_int_equal(tn_rss_queue(tn_rss_hash_v4(tn_rss_default_key, remote, local, 443, p), 8), 5);
	/* a queue that does not exist */
	assert_int_equal(tn_rss_pick_port(tn_rss_default_key, local, remote, 80, 4, 4, 1000), 0);
	assert_int_equal(tn_rss_pick_port(tn_rss_default_key, local, remote, 80, 0, 0, 1000), 0);
	/* a key under which every hash is 0: only queue 0 is reachable */
	const uint8_t zero[TN_RSS_KEY_LEN] = {0};
	assert_int_equal(tn_rss_pick_port(zero, local, remote, 80, 2, 1, 1000), 0);
	assert_int_equal(tn_rss_pick_port(zero, local, remote, 80, 2, 0, 1000), 1000);
}

/* 10,000 connections from each of two queues to one server: every picked
 * port is new (they only go up, from 1024, without wrapping) and its
 * replies land on the queue that opened it.  (The queue is a linear
 * function of the port bits, so half the ports belong to each queue.) */
static void test_many_connections(void **state)
{
	(void)state;
	const unsigned nq = 2;
	uint32_t local = IP(198, 18, 0, 2), server = IP(198, 18, 0, 1);
	unsigned bad = 0;
	for (unsigned q = 0; q < nq; q++) {
		uint32_t port = 1024;
		for (unsigned c = 0; c < 10000; c++) {
			uint16_t p = tn_rss_pick_port(tn_rss_default_key, local, server, 5201, nq, q, (uint16_t)port);
			assert_true(p >= port);
			bad += tn_rss_queue(tn_rss_hash_v4(tn_rss_default_key, server, local, 5201, p), nq) != q;
			port = (uint32_t)p + 1;
		}
		assert_true(port <= 65536);
	}
	assert_int_equal(bad, 0);
}

/* An Ethernet/IPv4/TCP frame (no payload) from src:sport to dst:dport. */
static void tcp_frame(uint8_t *f, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport)
{
	memset(f, 0, 54);
	f[12] = 0x08;
	uint8_t *ip = f + 14;
	ip[0] = 0x45;
	ip[3] = 40;
	ip[9] = 6;
	for (int i = 0; i < 4; i++) {
		ip[12 + i] = (uint8_t)(src >> (24 - 8 * i));
		ip[16 + i] = (uint8_t)(dst >> (24 - 8 * i));
	}
	ip[20] = (uint8_t)(sport >> 8), ip[21] = (uint8_t)sport;
	ip[22] = (uint8_t)(dport >> 8), ip[23] = (uint8_t)dport;
}

/* A pinned local port takes every flow to its core (inbound segments and
 * ICMP errors quoting ours); other flows keep the hash's core. */
static void test_pinned_port(void **state)
{
	struct tn_steer_group *g = tn_steer_group_new(4, TN_DEV_L2, NULL, 64);
	assert_non_null(g);
	assert_int_equal(tn_steer_pin_port(g, 6, 5201, 2), 0);
	assert_int_equal(tn_steer_pin_port(g, 6, 80, 9), -1); /* no core 9 */
	uint8_t f[128];
	unsigned seen[4] = {0};
	uint32_t me = 0xc6120002;
	for (uint32_t i = 0; i < 400; i++) {
		uint32_t peer = 0xc6120100 + i;
		uint16_t port = (uint16_t)(30000 + i * 7);
		tcp_frame(f, peer, me, port, 5201);
		assert_int_equal(tn_steer_classify(g, f, 54), 2);
		/* our segment from 5201 came back as an ICMP error quoting it */
		uint8_t e[128] = {0};
		memcpy(e, f, 14);
		uint8_t *ip = e + 14, *icmp = ip + 20;
		ip[0] = 0x45, ip[3] = 56 + 8, ip[9] = 1;
		icmp[0] = 3, icmp[1] = 4;
		tcp_frame(f, me, peer, 5201, port);
		memcpy(icmp + 8, f + 14, 28);
		assert_int_equal(tn_steer_classify(g, e, 14 + 20 + 8 + 28), 2);
		/* any other port: the hash */
		tcp_frame(f, peer, me, port, 5202);
		int q = tn_steer_classify(g, f, 54);
		assert_int_equal(q, (int)tn_rss_queue(tn_rss_hash_v4(tn_steer_key(g), peer, me, port, 5202), 4));
		seen[q]++;
	}
	for (int c = 0; c < 4; c++)
		assert_true(seen[c] > 50); /* the others still spread */
	tn_steer_group_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_vectors),
		cmocka_unit_test(test_generic_form),
		cmocka_unit_test(test_queue),
		cmocka_unit_test(test_pick_port),
		cmocka_unit_test(test_many_connections),
		cmocka_unit_test(test_pinned_port),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
