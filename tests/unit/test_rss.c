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

#include "core/rss.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_vectors),
		cmocka_unit_test(test_generic_form),
		cmocka_unit_test(test_queue),
		cmocka_unit_test(test_pick_port),
		cmocka_unit_test(test_many_connections),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
