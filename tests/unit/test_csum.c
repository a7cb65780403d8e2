/* Internet checksum: RFC 1071 examples, odd lengths, sums over packet
 * chains with odd segment boundaries, and RFC 1624 incremental updates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/pkt.h"
#include "core/rand.h"
#include "wire/csum.h"
#include "wire/wire.h"

/* Reference: 16-bit big-endian words, end-around carry after each add. */
static uint16_t ref_sum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;
	for (size_t i = 0; i < n; i += 2) {
		s += (uint32_t)p[i] << 8 | (i + 1 < n ? p[i + 1] : 0);
		s = (s & 0xffff) + (s >> 16);
	}
	return (uint16_t)s;
}

static uint16_t fold16(uint32_t s)
{
	return (uint16_t)~tn_csum_fold(s);
}

static void test_rfc1071_example(void **state)
{
	(void)state;
	/* RFC 1071 section 3: these bytes sum to ddf2 (before complement). */
	const uint8_t b[8] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	assert_int_equal(fold16(tn_csum_partial(b, 8, 0)), 0xddf2);
	assert_int_equal(tn_csum(b, 8), (uint16_t)~0xddf2);
	/* byte-order independence: the swapped data sums to the swapped sum */
	const uint8_t sw[8] = {0x01, 0x00, 0x03, 0xf2, 0xf5, 0xf4, 0xf7, 0xf6};
	assert_int_equal(fold16(tn_csum_partial(sw, 8, 0)), 0xf2dd);
	/* split anywhere on an even boundary: same sum */
	for (size_t cut = 0; cut <= 8; cut += 2)
		assert_int_equal(fold16(tn_csum_partial(b + cut, 8 - cut, tn_csum_partial(b, cut, 0))),
				 0xddf2);
	/* a buffer with its checksum in place sums to zero */
	uint8_t with[10];
	memcpy(with, b, 8);
	tn_put16(with + 8, tn_csum(b, 8));
	assert_int_equal(tn_csum(with, 10), 0);
}

static void test_small_and_odd(void **state)
{
	(void)state;
	assert_int_equal(tn_csum_partial(NULL, 0, 0), 0);
	assert_int_equal(tn_csum(NULL, 0), 0xffff);
	const uint8_t one[1] = {0xab};
	assert_int_equal(fold16(tn_csum_partial(one, 1, 0)), 0xab00); /* padded with zero */
	const uint8_t three[3] = {0x12, 0x34, 0x56};
	assert_int_equal(fold16(tn_csum_partial(three, 3, 0)), 0x1234 + 0x5600);
	/* end-around carry */
	const uint8_t ff[4] = {0xff, 0xff, 0x00, 0x01};
	assert_int_equal(fold16(tn_csum_partial(ff, 4, 0)), 0x0001);
	/* the incoming sum is added in */
	assert_int_equal(fold16(tn_csum_partial(three, 3, 0x10000)), 0x1234 + 0x5600 + 1);
	/* all lengths 0..200 at every alignment against the reference */
	uint8_t buf[256];
	struct tn_rand r;
	tn_rand_seed(&r, 3);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)tn_rand_u64(&r);
	for (size_t align = 0; align < 8; align++) {
		for (size_t n = 0; n <= 200; n++) {
			uint16_t want = ref_sum(buf + align, n);
			uint16_t got = fold16(tn_csum_partial(buf + align, n, 0));
			/* one's complement has two zeros: 0x0000 and 0xffff */
			if (want == 0xffff)
				want = 0;
			if (got == 0xffff)
				got = 0;
			assert_int_equal(got, want);
		}
	}
	/* a big all-0xff buffer: no carry lost */
	static uint8_t big[65536 + 3];
	memset(big, 0xff, sizeof(big));
	assert_int_equal(tn_csum(big, sizeof(big) - 1), 0);
	assert_int_equal(fold16(tn_csum_partial(big, sizeof(big), 0)), ref_sum(big, sizeof(big)));
}

static void test_pseudo_header(void **state)
{
	(void)state;
	/* a UDP datagram built by hand: pseudo header + header + data */
	uint8_t b[12 + 8 + 5];
	tn_put32(b, 0xc0a80001);
	tn_put32(b + 4, 0xc0a800c7);
	b[8] = 0;
	b[9] = 17;
	tn_put16(b + 10, 13);
	tn_put16(b + 12, 1087);
	tn_put16(b + 14, 13);
	tn_put16(b + 16, 13);
	tn_put16(b + 18, 0);
	memcpy(b + 20, "hello", 5);
	uint16_t want = tn_csum(b, sizeof(b));
	uint32_t ps = tn_csum_pseudo4(0xc0a80001, 0xc0a800c7, 17, 13);
	assert_int_equal(tn_csum_fold(tn_csum_partial(b + 12, 13, ps)), want);
}

/* Builds a chain holding `flat` split at the given cut points, each
 * segment at an odd or even address. */
static struct tn_pkt *chain_of(struct tn_mempool *mp, const uint8_t *flat, uint32_t len,
			       const uint32_t *cuts, int ncuts, struct tn_rand *r)
{
	struct tn_pkt *head = NULL;
	uint32_t at = 0;
	for (int i = 0; i <= ncuts; i++) {
		uint32_t end = i < ncuts ? cuts[i] : len;
		struct tn_pkt *s = tn_pkt_alloc(mp);
		assert_non_null(s);
		s->data -= tn_rand_below(r, 4);
		memcpy(tn_pkt_put(s, end - at), flat + at, end - at);
		at = end;
		if (head)
			tn_pkt_chain(head, s);
		else
			head = s;
	}
	return head;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static void test_pkt_chain_random(void **state)
{
	(void)state;
	struct tn_rand r;
	tn_rand_seed(&r, 1071);
	struct tn_mempool *mp = tn_mempool_new(16);
	static uint8_t flat[4000];
	for (int iter = 0; iter < 3000; iter++) {
		uint32_t len = tn_rand_below(&r, 4000);
		for (uint32_t i = 0; i < len; i++)
			flat[i] = (uint8_t)tn_rand_u64(&r);
		int ncuts = (int)tn_rand_below(&r, 8);
		uint32_t cuts[8];
		for (int i = 0; i < ncuts; i++) {
			cuts[i] = tn_rand_below(&r, len + 1);
		}
		qsort(cuts, (size_t)ncuts, sizeof(cuts[0]), cmp_u32);
		uint32_t prev = 0;
		int ok = 1; /* no segment may exceed the data room */
		for (int i = 0; i <= ncuts; i++) {
			uint32_t end = i < ncuts ? cuts[i] : len;
			ok &= end - prev <= TN_PKT_DATAROOM;
			prev = end;
		}
		if (!ok)
			continue;
		struct tn_pkt *p = chain_of(mp, flat, len, cuts, ncuts, &r);
		assert_int_equal(p->pkt_len, len);
		uint32_t off = tn_rand_below(&r, len + 1);
		uint32_t n = tn_rand_below(&r, len - off + 1);
		uint32_t seed = tn_rand_below(&r, 0x20000);
		uint16_t want = tn_csum_fold(tn_csum_partial(flat + off, n, seed));
		assert_int_equal(tn_csum_fold(tn_csum_pkt(p, off, n, seed)), want);
		assert_int_equal(tn_csum_fold(tn_csum_pkt(p, 0, len, 0)), tn_csum(flat, len));
		tn_pkt_free(p);
	}
	assert_int_equal(tn_mempool_in_use(mp), 0);
	tn_mempool_free(mp);
}

/* Every odd one-byte segment in a row: the worst case for byte swapping. */
static void test_pkt_one_byte_segments(void **state)
{
	(void)state;
	struct tn_rand r;
	tn_rand_seed(&r, 11);
	struct tn_mempool *mp = tn_mempool_new(64);
	uint8_t flat[63];
	for (size_t i = 0; i < sizeof(flat); i++)
		flat[i] = (uint8_t)(0xf0 + i);
	uint32_t cuts[62];
	for (int i = 0; i < 62; i++)
		cuts[i] = (uint32_t)i + 1;
	struct tn_pkt *p = chain_of(mp, flat, 63, cuts, 62, &r);
	for (uint32_t off = 0; off < 63; off++)
		for (uint32_t n = 0; off + n <= 63; n++)
			assert_int_equal(tn_csum_fold(tn_csum_pkt(p, off, n, 0)),
					 tn_csum_fold(tn_csum_partial(flat + off, n, 0)));
	/* a large starting sum (a caller's folded-or-not accumulator) */
	assert_int_equal(tn_csum_fold(tn_csum_pkt(p, 0, 63, 0xfffffff0u)),
			 tn_csum_fold(tn_csum_partial(flat, 63, 0xfffffff0u)));
	tn_pkt_free(p);
	tn_mempool_free(mp);
}

static void test_rfc1624(void **state)
{
	(void)state;
	/* RFC 1624 section 4: the rest of the header sums to 0xcd7a and a
	 * field changes from 0x5555 to 0x3285; the new checksum is 0x0000,
	 * which eqn. 3 gets right where eqn. 2 gives 0xffff. */
	assert_int_equal(tn_csum_update16(0xdd2f, 0x5555, 0x3285), 0x0000);
	uint8_t b[6];
	tn_put16(b, 0xcd7a);
	tn_put16(b + 2, 0x5555);
	tn_put16(b + 4, 0);
	assert_int_equal(tn_csum(b, 6), 0xdd2f);
	tn_put16(b + 2, 0x3285);
	assert_int_equal(tn_csum(b, 6), 0x0000);
	/* no change, no change */
	assert_int_equal(tn_csum_update16(0x1234, 0xabcd, 0xabcd), 0x1234);
	assert_int_equal(tn_csum_update32(0x1234, 0xdeadbeef, 0xdeadbeef), 0x1234);
}

/* A 20-byte IPv4-like header: change one 16- or 32-bit field at random,
 * update incrementally, and compare with a recomputation. */
static void test_incremental_random(void **state)
{
	(void)state;
	struct tn_rand r;
	tn_rand_seed(&r, 1624);
	uint8_t h[20];
	int mismatches = 0;
	for (int iter = 0; iter < 200000; iter++) {
		for (int i = 0; i < 20; i++)
			h[i] = (uint8_t)tn_rand_u64(&r);
		if (iter % 16 == 0) /* mostly zero headers reach the corner cases */
			memset(h, 0, 18);
		tn_put16(h + 10, 0);
		tn_put16(h + 10, tn_csum(h, 20));
		assert_int_equal(tn_csum(h, 20), 0);
		uint16_t check = tn_get16(h + 10);
		if (iter % 2) {
			unsigned at = 12 + 4 * tn_rand_below(&r, 2); /* an address */
			uint32_t old = tn_get32(h + at), nw = (uint32_t)tn_rand_u64(&r);
			if (iter % 8 == 1)
				nw = ~old;
			tn_put32(h + at, nw);
			check = tn_csum_update32(check, old, nw);
		} else {
			unsigned at = 2 * tn_rand_below(&r, 10);
			if (at == 10)
				at = 8;
			uint16_t old = tn_get16(h + at), nw = (uint16_t)tn_rand_u64(&r);
			if (iter % 8 == 2)
				nw = (uint16_t)~old;
			tn_put16(h + at, nw);
			check = tn_csum_update16(check, old, nw);
		}
		tn_put16(h + 10, 0);
		uint16_t full = tn_csum(h, 20);
		/* eqn. 3 never yields the other zero: the same value, and it verifies */
		tn_put16(h + 10, check);
		assert_int_equal(tn_csum(h, 20), 0);
		mismatches += check != full;
	}
	assert_int_equal(mismatches, 0);
}

/* tn_csum_finish fills in exactly what a full computation gives, for TCP
 * and UDP behind an Ethernet header, and leaves a finished packet alone. */
static void test_finish_partial(void **state)
{
	(void)state;
	struct tn_mempool *mp = tn_mempool_new(4);
	for (int proto = 6; proto <= 17; proto += 11) {
		uint8_t frame[14 + 20 + 300];
		memset(frame, 0, sizeof(frame));
		uint8_t *ip = frame + 14;
		struct tn_ipv4_hdr ih = {.ihl = 20, .tot_len = 320, .ttl = 64, .proto = (uint8_t)proto,
					 .src = 0xc6120001, .dst = 0xc6120002};
		tn_ipv4_emit(&ih, ip, 20);
		for (int i = 0; i < 300; i++)
			ip[20 + i] = (uint8_t)(i * 7 + 3);
		uint32_t field = proto == 6 ? 16 : 6;
		ip[20 + field] = ip[20 + field + 1] = 0;
		if (proto == 17) {
			ip[24] = 0x01; /* UDP length 300 */
			ip[25] = 0x2c;
		}
		uint16_t want = tn_csum_fold(tn_csum_partial(ip + 20, 300, tn_csum_pseudo4(ih.src, ih.dst, (uint8_t)proto, 300)));
		if (proto == 17 && want == 0)
			want = 0xffff;
		struct tn_pkt *p = tn_pkt_from_bytes(mp, frame, sizeof(frame));
		assert_non_null(p);
		p->l3_off = tn_pkt_off(p, p->data + 14);
		p->flags |= TN_PKT_CSUM_PARTIAL;
		tn_csum_finish(p);
		assert_false(p->flags & TN_PKT_CSUM_PARTIAL);
		assert_int_equal(tn_get16(p->data + 14 + 20 + field), want);
		p->data[14 + 20 + field] ^= 0xff; /* finished: a second call changes nothing */
		tn_csum_finish(p);
		assert_int_equal(tn_get16(p->data + 14 + 20 + field), want ^ 0xff00);
		tn_pkt_free(p);
	}
	tn_mempool_free(mp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc1071_example),
		cmocka_unit_test(test_small_and_odd),
		cmocka_unit_test(test_pseudo_header),
		cmocka_unit_test(test_pkt_chain_random),
		cmocka_unit_test(test_pkt_one_byte_segments),
		cmocka_unit_test(test_rfc1624),
		cmocka_unit_test(test_incremental_random),
		cmocka_unit_test(test_finish_partial),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
