/* NAT: range parsing, tuple allocation (original port kept when free,
 * another per destination otherwise, ports reused only once free, a small
 * range exhausted and counted), incremental checksums checked against a
 * recomputation on random packets, ICMP error translation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "filter/conntrack.h"
#include "filter/nat.h"
#include "filter/nf.h"
#include "testutil.h"
#include "wire/csum.h"
#include "wire/wire.h"

static uint64_t rs = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return (uint32_t)(rs >> 16);
}

static void test_parse_range(void **state)
{
	(void)state;
	struct tn_nat_range r;
	char err[128];
	assert_int_equal(tn_nat_parse_range("198.18.0.1-198.18.0.9:1000-2000", false, &r, err, sizeof(err)), 0);
	assert_int_equal(r.min_ip, t_ip("198.18.0.1"));
	assert_int_equal(r.max_ip, t_ip("198.18.0.9"));
	assert_int_equal(r.min_port, 1000);
	assert_int_equal(r.max_port, 2000);
	assert_int_equal(r.flags, TN_NAT_RANGE_MAP_IPS | TN_NAT_RANGE_PROTO_SPECIFIED);
	assert_int_equal(tn_nat_parse_range("198.18.0.1", false, &r, err, sizeof(err)), 0);
	assert_int_equal(r.flags, TN_NAT_RANGE_MAP_IPS);
	assert_int_equal(tn_nat_parse_range(":80", false, &r, err, sizeof(err)), 0);
	assert_int_equal(r.flags, TN_NAT_RANGE_PROTO_SPECIFIED);
	assert_int_equal(tn_nat_parse_range("8080", true, &r, err, sizeof(err)), 0);
	assert_int_equal(r.min_port, 8080);
	assert_int_equal(tn_nat_parse_range("1.2.3", false, &r, err, sizeof(err)), -1);
	assert_int_equal(tn_nat_parse_range("1.2.3.4:", false, &r, err, sizeof(err)), -1);
	assert_int_equal(tn_nat_parse_range("1.2.3.4:70000", false, &r, err, sizeof(err)), -1);
	assert_int_equal(tn_nat_parse_range("9-8", true, &r, err, sizeof(err)), -1);
	assert_int_equal(tn_nat_parse_range("", true, &r, err, sizeof(err)), -1);
}

/* A random IPv4 + TCP/UDP/ICMP echo packet with right checksums. */
static uint32_t make_pkt(uint8_t *b, uint8_t proto, bool udp_nocsum)
{
	uint32_t plen = rnd() % 200, l4h = proto == 6 ? 20 : 8, tot = 20 + l4h + plen;
	memset(b, 0, tot);
	b[0] = 0x45;
	tn_put16(b + 2, (uint16_t)tot);
	tn_put16(b + 4, (uint16_t)rnd());
	b[8] = 64;
	b[9] = proto;
	tn_put32(b + 12, 0xc6120000u | (rnd() & 0x1ffff));
	tn_put32(b + 16, 0xc6120000u | (rnd() & 0x1ffff));
	tn_put16(b + 10, tn_csum(b, 20));
	uint8_t *l4 = b + 20;
	for (uint32_t i = 0; i < l4h + plen; i++)
		l4[i] = (uint8_t)rnd();
	if (proto == 6) {
		l4[12] = 0x50;
		l4[16] = l4[17] = 0;
		tn_put16(l4 + 16, tn_csum_fold(tn_csum_partial(l4, l4h + plen, tn_csum_pseudo4(tn_get32(b + 12), tn_get32(b + 16), 6, l4h + plen))));
	} else if (proto == 17) {
		tn_put16(l4 + 4, (uint16_t)(l4h + plen));
		l4[6] = l4[7] = 0;
		if (!udp_nocsum) {
			uint16_t c = tn_csum_fold(tn_csum_partial(l4, l4h + plen, tn_csum_pseudo4(tn_get32(b + 12), tn_get32(b + 16), 17, l4h + plen)));
			tn_put16(l4 + 6, c ? c : 0xffff);
		}
	} else {
		l4[0] = rnd() & 1 ? 8 : 0;
		l4[1] = 0;
		l4[2] = l4[3] = 0;
		tn_put16(l4 + 2, tn_csum(l4, l4h + plen));
	}
	return tot;
}

static void test_checksums_random(void **state)
{
	(void)state;
	static uint8_t b[512];
	unsigned udp0 = 0;
	for (int it = 0; it < 20000; it++) {
		uint8_t proto = (uint8_t[]){6, 17, 1}[rnd() % 3];
		bool nocsum = proto == 17 && rnd() % 4 == 0;
		uint32_t tot = make_pkt(b, proto, nocsum);
		struct tn_ct_tuple t = {rnd(), rnd(), (uint16_t)rnd(), (uint16_t)rnd()};
		enum tn_nat_manip m = rnd() & 1 ? TN_NAT_MANIP_SRC : TN_NAT_MANIP_DST;
		assert_true(tn_nat_manip_hdr(b, tot, &t, m, false, false));
		assert_int_equal(tn_get32(b + (m == TN_NAT_MANIP_SRC ? 12 : 16)), m == TN_NAT_MANIP_SRC ? t.src : t.dst);
		assert_int_equal(tn_csum(b, 20), 0);
		uint8_t *l4 = b + 20;
		uint32_t l4len = tot - 20;
		uint32_t ps = tn_csum_pseudo4(tn_get32(b + 12), tn_get32(b + 16), proto, l4len);
		if (proto == 6) {
			assert_int_equal(tn_get16(l4 + (m == TN_NAT_MANIP_SRC ? 0 : 2)), m == TN_NAT_MANIP_SRC ? t.sport : t.dport);
			assert_int_equal(tn_csum_fold(tn_csum_partial(l4, l4len, ps)), 0);
		} else if (proto == 17) {
			if (nocsum) {
				assert_int_equal(tn_get16(l4 + 6), 0); /* no checksum stays none */
				udp0++;
			} else {
				assert_int_not_equal(tn_get16(l4 + 6), 0);
				assert_int_equal(tn_csum_fold(tn_csum_partial(l4, l4len, ps)), 0);
			}
		} else {
			assert_int_equal(tn_get16(l4 + 4), t.sport); /* echo id, like a port */
			assert_int_equal(tn_csum(l4, l4len), 0);
		}
	}
	assert_true(udp0 > 100);
	/* a partial checksum is left alone (finished later from the bytes) */
	uint32_t tot = make_pkt(b, 6, false);
	uint16_t before = tn_get16(b + 36);
	struct tn_ct_tuple t = {1, 2, 3, 4};
	assert_true(tn_nat_manip_hdr(b, tot, &t, TN_NAT_MANIP_SRC, true, false));
	assert_int_equal(tn_get16(b + 36), before);
	assert_int_equal(tn_csum(b, 20), 0);
	/* too short to rewrite */
	assert_false(tn_nat_manip_hdr(b, 19, &t, TN_NAT_MANIP_SRC, false, false));
	assert_false(tn_nat_manip_hdr(b, 24, &t, TN_NAT_MANIP_SRC, false, false));
}

/* A UDP flow src:sp -> dst:dp tracked at LOCAL_OUT on s: its entry (not
 * yet confirmed) and the packet. */
static struct tn_ct *flow(struct tn_stack *s, struct tn_pkt **pp, const char *src, uint16_t sp, const char *dst,
			  uint16_t dp)
{
	struct tn_pkt *p = tn_pkt_alloc(s->pool);
	assert_non_null(p);
	uint8_t *b = tn_pkt_put(p, 28);
	if (!b)
		abort();
	memset(b, 0, 28);
	b[0] = 0x45;
	tn_put16(b + 2, 28);
	b[8] = 64;
	b[9] = 17;
	tn_put32(b + 12, t_ip(src));
	tn_put32(b + 16, t_ip(dst));
	tn_put16(b + 10, tn_csum(b, 20));
	tn_put16(b + 20, sp);
	tn_put16(b + 22, dp);
	tn_put16(b + 24, 8);
	struct tn_nf_state st = {.hook = TN_NF_LOCAL_OUT, .s = s};
	assert_int_equal(tn_ct_in(s, p, &st), TN_NF_ACCEPT);
	*pp = p;
	return tn_ct_get(s, p, NULL);
}

static uint16_t mapped_port(struct tn_stack *s, const char *src, uint16_t sp, const char *dst, uint16_t dp,
			    const struct tn_nat_range *r, int *rc)
{
	struct tn_pkt *p;
	struct tn_ct *e = flow(s, &p, src, sp, dst, dp);
	assert_non_null(e);
	*rc = tn_nat_setup(s, e, r, TN_NAT_MANIP_SRC);
	uint16_t port = e->tuple[TN_CT_DIR_REPLY].dport;
	if (*rc == 0) {
		assert_int_equal(e->tuple[TN_CT_DIR_REPLY].dst, r->min_ip);
		assert_int_equal(tn_ct_confirm(s, p), TN_NF_ACCEPT);
	}
	tn_pkt_free(p);
	return port;
}

static void test_port_allocation(void **state)
{
	(void)state;
	struct tn_stack *s = t_stack_new(3);
	assert_int_equal(tn_nat_enable(s), 0);
	struct tn_nat_range g = {.min_ip = t_ip("198.18.9.1"), .max_ip = t_ip("198.18.9.1"), .flags = TN_NAT_RANGE_MAP_IPS};
	int rc;
	/* the original port, free: kept */
	assert_int_equal(mapped_port(s, "198.18.1.2", 5000, "198.18.2.2", 53, &g, &rc), 5000);
	assert_int_equal(rc, 0);
	/* another inside host, same port, same destination: another port, in
	 * the same class (>= 1024) */
	uint16_t p2 = mapped_port(s, "198.18.1.3", 5000, "198.18.2.2", 53, &g, &rc);
	assert_int_equal(rc, 0);
	assert_int_not_equal(p2, 5000);
	assert_true(p2 >= 1024);
	assert_int_equal(s->nat->stats.remapped, 1);
	/* same port to another destination (or port): unique already, kept */
	assert_int_equal(mapped_port(s, "198.18.1.3", 5000, "198.18.2.3", 53, &g, &rc), 5000);
	assert_int_equal(mapped_port(s, "198.18.1.4", 5000, "198.18.2.2", 54, &g, &rc), 5000);
	/* a privileged port stays privileged */
	assert_int_equal(mapped_port(s, "198.18.1.2", 500, "198.18.2.2", 53, &g, &rc), 500);
	uint16_t p3 = mapped_port(s, "198.18.1.3", 500, "198.18.2.2", 53, &g, &rc);
	assert_true(p3 >= 1 && p3 < 512 && p3 != 500);

	/* a range of two ports: two flows, the third exhausted and counted */
	struct tn_nat_range two = g;
	two.min_ip = two.max_ip = t_ip("198.18.9.2");
	two.min_port = 40000;
	two.max_port = 40001;
	two.flags |= TN_NAT_RANGE_PROTO_SPECIFIED;
	uint16_t a = mapped_port(s, "198.18.1.2", 7000, "198.18.2.9", 80, &two, &rc);
	assert_int_equal(rc, 0);
	uint16_t b = mapped_port(s, "198.18.1.2", 7001, "198.18.2.9", 80, &two, &rc);
	assert_int_equal(rc, 0);
	assert_true(a >= 40000 && a <= 40001 && b >= 40000 && b <= 40001 && a != b);
	mapped_port(s, "198.18.1.2", 7002, "198.18.2.9", 80, &two, &rc);
	assert_int_equal(rc, -EADDRINUSE);
	assert_int_equal(s->nat->stats.exhausted, 1);
	/* the same range to another destination has both ports free */
	mapped_port(s, "198.18.1.2", 7002, "198.18.2.10", 80, &two, &rc);
	assert_int_equal(rc, 0);
	/* reused only once free: the first flow goes, its port is taken again */
	struct tn_ct_tuple t = {t_ip("198.18.1.2"), t_ip("198.18.2.9"), 7000, 80};
	struct tn_ct *e = tn_ct_find(s, 17, &t, NULL);
	assert_non_null(e);
	tn_ct_kill(s, e);
	assert_int_equal(mapped_port(s, "198.18.1.2", 7003, "198.18.2.9", 80, &two, &rc), a);
	assert_int_equal(rc, 0);
	mapped_port(s, "198.18.1.2", 7004, "198.18.2.9", 80, &two, &rc);
	assert_int_equal(rc, -EADDRINUSE);
	assert_int_equal(s->nat->stats.exhausted, 2);
	tern_stack_free(s);
}

/* The mapping tn_nat_setup chose for a new flow: address and port. */
static void mapping(struct tn_stack *s, const char *src, uint16_t sp, const char *dst, uint16_t dp,
		    const struct tn_nat_range *r, uint32_t *addr, uint16_t *port)
{
	struct tn_pkt *p;
	struct tn_ct *e = flow(s, &p, src, sp, dst, dp);
	assert_non_null(e);
	assert_int_equal(tn_nat_setup(s, e, r, TN_NAT_MANIP_SRC), 0);
	*addr = e->tuple[TN_CT_DIR_REPLY].dst;
	*port = e->tuple[TN_CT_DIR_REPLY].dport;
	assert_int_equal(tn_ct_confirm(s, p), TN_NF_ACCEPT);
	tn_pkt_free(p);
}

/* An address range: one client to 20 servers comes from several of its
 * addresses (a hash of client and server), from one with --persistent (a
 * hash of the client).  --random-fully, like --random, never keeps the
 * original port even when it is free. */
static void test_persistent_and_random_fully(void **state)
{
	(void)state;
	struct tn_stack *s = t_stack_new(5);
	assert_int_equal(tn_nat_enable(s), 0);
	struct tn_nat_range r = {.min_ip = t_ip("198.18.9.1"), .max_ip = t_ip("198.18.9.16"), .flags = TN_NAT_RANGE_MAP_IPS};
	for (int persistent = 0; persistent < 2; persistent++) {
		if (persistent)
			r.flags |= TN_NAT_RANGE_PERSISTENT;
		uint32_t distinct = 0, seen[20];
		for (int d = 0; d < 20; d++) {
			char dst[32];
			snprintf(dst, sizeof(dst), "198.18.%d.%d", 20 + persistent, 1 + d);
			uint32_t a;
			uint16_t port;
			mapping(s, "198.18.1.2", 6000, dst, 443, &r, &a, &port);
			assert_true(a >= r.min_ip && a <= r.max_ip);
			bool dup = false;
			for (uint32_t k = 0; k < distinct; k++)
				dup |= seen[k] == a;
			if (!dup)
				seen[distinct++] = a;
		}
		if (persistent)
			assert_int_equal(distinct, 1);
		else
			assert_true(distinct >= 4);
	}
	struct tn_nat_range one = {.min_ip = t_ip("198.18.9.1"), .max_ip = t_ip("198.18.9.1"),
				   .flags = TN_NAT_RANGE_MAP_IPS | TN_NAT_RANGE_PROTO_RANDOM_FULLY};
	for (int k = 0; k < 20; k++) {
		uint32_t a;
		uint16_t port;
		mapping(s, "198.18.1.9", (uint16_t)(7000 + k), "198.18.30.1", 80, &one, &a, &port);
		assert_int_not_equal(port, 7000 + k);
		assert_true(port >= 1024);
	}
	tern_stack_free(s);
}

/* An error from the outside about a datagram that left SNATed: C:c -> S:q
 * became G:p -> S:q.  At PRE_ROUTING (DST manipulation, reply direction)
 * the outer destination becomes C and the quoted source C:c, with every
 * checksum right. */
static void test_icmp_error_translation(void **state)
{
	(void)state;
	struct tn_stack *s = t_stack_new(4);
	uint32_t C = t_ip("198.18.1.2"), S = t_ip("198.18.2.2"), G = t_ip("198.18.2.1"), Rt = t_ip("198.18.3.1");
	struct tn_ct e = {.proto = 17};
	e.tuple[0] = (struct tn_ct_tuple){C, S, 5555, 9999};
	e.tuple[1] = (struct tn_ct_tuple){S, G, 9999, 30001};
	e.status = TN_CT_S_SRC_NAT | TN_CT_S_SRC_NAT_DONE | TN_CT_S_DST_NAT_DONE | TN_CT_S_USED | TN_CT_S_CONFIRMED;
	struct tn_pkt *p = tn_pkt_alloc(s->pool);
	uint32_t qlen = 20 + 8 + 4, tot = 20 + 8 + qlen;
	uint8_t *b = p ? tn_pkt_put(p, tot) : NULL;
	if (!b)
		abort();
	memset(b, 0, tot);
	b[0] = 0x45;
	tn_put16(b + 2, (uint16_t)tot);
	b[8] = 60;
	b[9] = 1;
	tn_put32(b + 12, Rt);
	tn_put32(b + 16, G);
	tn_put16(b + 10, tn_csum(b, 20));
	uint8_t *ic = b + 20, *in = ic + 8, *iu = in + 20;
	ic[0] = 3;
	ic[1] = 3;
	in[0] = 0x45;
	tn_put16(in + 2, (uint16_t)qlen);
	in[8] = 1;
	in[9] = 17;
	tn_put32(in + 12, G);
	tn_put32(in + 16, S);
	tn_put16(in + 10, tn_csum(in, 20));
	tn_put16(iu, 30001);
	tn_put16(iu + 2, 9999);
	tn_put16(iu + 4, 12);
	memcpy(iu + 8, "data", 4);
	tn_put16(iu + 6, tn_csum_fold(tn_csum_partial(iu, 12, tn_csum_pseudo4(G, S, 17, 12))));
	tn_put16(ic + 2, tn_csum(ic, tot - 20));

	/* the direction of the error: against the quoted datagram, the reply */
	assert_true(tn_nat_icmp_reply(s, p, &e, TN_CT_DIR_REPLY, TN_NAT_MANIP_DST));
	b = p->data;
	ic = b + 20, in = ic + 8, iu = in + 20;
	assert_int_equal(tn_get32(b + 12), Rt);
	assert_int_equal(tn_get32(b + 16), C);
	assert_int_equal(tn_csum(b, 20), 0);
	assert_int_equal(tn_get32(in + 12), C);
	assert_int_equal(tn_get32(in + 16), S);
	assert_int_equal(tn_csum(in, 20), 0);
	assert_int_equal(tn_get16(iu), 5555);
	assert_int_equal(tn_get16(iu + 2), 9999);
	assert_int_equal(tn_csum_fold(tn_csum_partial(iu, 12, tn_csum_pseudo4(C, S, 17, 12))), 0);
	assert_int_equal(tn_csum(ic, tot - 20), 0);
	assert_memory_equal(iu + 8, "data", 4);
	/* at POST_ROUTING (SRC manipulation) nothing more changes */
	uint8_t copy[64];
	memcpy(copy, b, tot);
	assert_true(tn_nat_icmp_reply(s, p, &e, TN_CT_DIR_REPLY, TN_NAT_MANIP_SRC));
	assert_memory_equal(copy, p->data, tot);
	/* a corrupted error is dropped, not laundered with a fresh checksum */
	p->data[30] ^= 1;
	assert_false(tn_nat_icmp_reply(s, p, &e, TN_CT_DIR_REPLY, TN_NAT_MANIP_DST));
	/* cut short: refused */
	p->data[30] ^= 1;
	tn_put16(p->data + 2, 40);
	assert_false(tn_nat_icmp_reply(s, p, &e, TN_CT_DIR_REPLY, TN_NAT_MANIP_DST));
	tn_pkt_free(p);
	tern_stack_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_range),
		cmocka_unit_test(test_checksums_random),
		cmocka_unit_test(test_persistent_and_random_fully),
		cmocka_unit_test(test_port_allocation),
		cmocka_unit_test(test_icmp_error_translation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
