/* IPv4 fragmentation and reassembly: the worked example of the issue,
 * round trips in every order, Linux's overlap, timeout and memory rules,
 * and no leaked buffers after any of it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "net/frag.h"
#include "testutil.h"
#include "wire/csum.h"

#define MAXF 64
#define SRC "198.18.0.1"
#define DST "198.18.0.2"

struct frags {
	struct tn_pkt *f[MAXF];
	int n;
};

/* Every test runs on a fresh stack; teardown lets every queue time out
 * and checks the pool is back where it started. */
struct fx {
	struct tn_stack *s;
	uint32_t base;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	fx->s = t_stack_new(42);
	fx->base = tern_pool_in_use(fx->s);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	t_run(fx->s, fx->s->now + 60 * T_SEC);
	assert_int_equal(fx->s->frag.count, 0);
	assert_int_equal(fx->s->frag.mem, 0);
	assert_int_equal(tern_pool_in_use(fx->s), fx->base);
	tern_stack_free(fx->s);
	free(fx);
	return 0;
}

static struct tn_stack *S(void **state) { return ((struct fx *)*state)->s; }

static void collect(struct tn_stack *s, struct tn_pkt *frag, void *arg)
{
	(void)s;
	struct frags *c = arg;
	assert_true(c->n < MAXF);
	c->f[c->n++] = frag;
}

static uint8_t pattern(uint32_t i, uint16_t id) { return (uint8_t)(i * 7 + id * 13); }

/* An IP datagram (or fragment, by frag_off) of 20 + payload bytes, as a
 * chain when it does not fit one buffer; payload byte i is pattern(i, id). */
static struct tn_pkt *datagram(struct tn_stack *s, uint32_t payload, uint16_t id, uint16_t frag_off)
{
	struct tn_pkt *head = tn_pkt_alloc(s->pool);
	assert_non_null(head);
	struct tn_ipv4_hdr h = {.tot_len = (uint16_t)(20 + payload), .id = id, .frag_off = frag_off,
				.ttl = 64, .proto = 17, .src = t_ip(SRC), .dst = t_ip(DST)};
	tn_ipv4_emit(&h, tn_pkt_put(head, 20), 20);
	struct tn_pkt *seg = head;
	for (uint32_t done = 0; done < payload;) {
		if (tn_pkt_tailroom(seg) == 0) {
			seg = tn_pkt_alloc(s->pool);
			assert_non_null(seg);
			tn_pkt_chain(head, seg);
		}
		uint32_t room = tn_pkt_tailroom(seg);
		uint32_t take = payload - done < room ? payload - done : room;
		uint8_t *d = seg->data + seg->len;
		seg->len += take;
		head->pkt_len += take;
		for (uint32_t i = 0; i < take; i++)
			d[i] = pattern(done + i, id);
		done += take;
	}
	return head;
}

/* The IP header of a packet that may be a chain. */
static int hdr_of(const struct tn_pkt *p, struct tn_ipv4_hdr *h)
{
	uint8_t b[TN_IPV4_MAX_HLEN];
	uint32_t n = p->pkt_len < sizeof(b) ? p->pkt_len : (uint32_t)sizeof(b);
	assert_int_equal(tn_pkt_copy_out(p, 0, b, n), 0);
	return tn_ipv4_parse(b, p->pkt_len, h);
}

static void split(struct tn_stack *s, struct frags *c, uint32_t payload, uint16_t id, uint32_t mtu)
{
	c->n = 0;
	assert_int_equal(tn_frag_output(s, datagram(s, payload, id, 0), mtu, collect, c), 0);
}

static void free_frags(struct frags *c)
{
	for (int i = 0; i < c->n; i++)
		tn_pkt_free(c->f[i]);
	c->n = 0;
}

/* Feed fragments in `order`; returns the datagram (only ever one) or NULL. */
static struct tn_pkt *feed(struct tn_stack *s, struct frags *c, const int *order, int n)
{
	struct tn_pkt *out = NULL;
	for (int i = 0; i < n; i++) {
		struct tn_pkt *r = tn_frag_reasm(s, c->f[order[i]]);
		if (r) {
			assert_null(out);
			out = r;
		}
	}
	return out;
}

static struct tn_pkt *feed_all(struct tn_stack *s, struct frags *c)
{
	int order[MAXF];
	for (int i = 0; i < c->n; i++)
		order[i] = i;
	return feed(s, c, order, c->n);
}

/* A reassembled datagram: a clean whole header and the original bytes. */
static void check_datagram(struct tn_pkt *p, uint32_t ihl, uint32_t payload, uint16_t id)
{
	assert_int_equal(p->pkt_len, ihl + payload);
	struct tn_ipv4_hdr h;
	assert_int_equal(hdr_of(p, &h), (int)ihl); /* parse also checks the checksum */
	assert_int_equal(h.tot_len, ihl + payload);
	assert_int_equal(h.id, id);
	assert_int_equal(h.frag_off & (TN_IP_MF | TN_IP_OFFMASK), 0);
	assert_int_equal(p->l3_off, tn_pkt_off(p, p->data));
	uint8_t *buf = malloc(payload);
	assert_int_equal(tn_pkt_copy_out(p, ihl, buf, payload), 0);
	for (uint32_t i = 0; i < payload; i++)
		if (buf[i] != pattern(i, id))
			fail_msg("payload byte %u differs", i);
	free(buf);
}

static uint32_t truesize1(void) { return (uint32_t)(sizeof(struct tn_pkt) + TN_PKT_BUFSIZE); }

static void set_sysctl(struct tn_stack *s, const char *name, uint64_t v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	assert_int_equal(tern_sysctl_set(s, name, buf), 0);
}

/* ---- fragmentation ---- */

/* The worked example: 5140 bytes (20 + 5120) over a 1500 MTU. */
static void test_worked_example(void **state)
{
	struct tn_stack *s = S(state);
	struct frags c = {0};
	struct tn_pkt *p = datagram(s, 5120, 77, 0);
	assert_int_equal(p->pkt_len, 5140);
	assert_int_equal(tn_frag_output(s, p, 1500, collect, &c), 0);
	assert_int_equal(c.n, 4);
	static const int lens[] = {1500, 1500, 1500, 700}, offs[] = {0, 185, 370, 555}, mf[] = {1, 1, 1, 0};
	for (int i = 0; i < 4; i++) {
		struct tn_ipv4_hdr h;
		assert_int_equal(tn_ipv4_parse(c.f[i]->data, c.f[i]->len, &h), 20);
		assert_int_equal(c.f[i]->pkt_len, lens[i]);
		assert_int_equal(h.tot_len, lens[i]);
		assert_int_equal(h.frag_off & TN_IP_OFFMASK, offs[i]);
		assert_int_equal(!!(h.frag_off & TN_IP_MF), mf[i]);
		assert_int_equal(h.frag_off & TN_IP_DF, 0);
		assert_int_equal(h.id, 77);
		assert_int_equal(h.proto, 17);
		assert_int_equal(c.f[i]->l3_off, tn_pkt_off(c.f[i], c.f[i]->data));
		assert_true(tn_pkt_headroom(c.f[i]) >= TN_ETH_HLEN); /* room for the link header */
		uint32_t off0 = (uint32_t)offs[i] * 8;
		for (uint32_t j = 0; j < h.tot_len - 20u; j++)
			if (c.f[i]->data[20 + j] != pattern(off0 + j, 77))
				fail_msg("fragment %d byte %u differs", i, j);
	}
	free_frags(&c);
	assert_int_equal(tern_stat(s, "IpFragCreates"), 4);
	assert_int_equal(tern_stat(s, "IpFragOKs"), 1);
	assert_int_equal(tern_stat(s, "IpFragFails"), 0);
}

/* A datagram that fits is passed on untouched and not counted. */
static void test_fits_passes_through(void **state)
{
	struct tn_stack *s = S(state);
	struct frags c = {0};
	struct tn_pkt *p = datagram(s, 1480, 3, 0);
	assert_int_equal(tn_frag_output(s, p, 1500, collect, &c), 0);
	assert_int_equal(c.n, 1);
	assert_ptr_equal(c.f[0], p);
	free_frags(&c);
	assert_int_equal(tern_stat(s, "IpFragCreates"), 0);
	assert_int_equal(tern_stat(s, "IpFragOKs"), 0);
}

static void test_df_kept(void **state)
{
	struct tn_stack *s = S(state);
	struct frags c = {0};
	assert_int_equal(tn_frag_output(s, datagram(s, 3000, 4, TN_IP_DF), 1500, collect, &c), 0);
	assert_int_equal(c.n, 3);
	for (int i = 0; i < c.n; i++) {
		struct tn_ipv4_hdr h;
		assert_int_equal(hdr_of(c.f[i], &h), 20);
		assert_true(h.frag_off & TN_IP_DF);
	}
	struct tn_pkt *r = feed_all(s, &c);
	assert_non_null(r);
	struct tn_ipv4_hdr h;
	assert_int_equal(hdr_of(r, &h), 20);
	assert_int_equal(h.frag_off, TN_IP_DF);
	tn_pkt_free(r);
}

/* First fragment: every option; later ones: copied options, the rest NOPs. */
static void test_options_copied(void **state)
{
	struct tn_stack *s = S(state);
	struct tn_pkt *p = tn_pkt_alloc(s->pool);
	/* LSRR (copied) then record route (not copied), 3000 bytes of payload */
	struct tn_ipv4_hdr h = {.tot_len = 32 + 3000, .id = 1, .ttl = 64, .proto = 17,
				.src = t_ip(SRC), .dst = t_ip(DST), .optlen = 12};
	uint8_t opts[12] = {TN_IPOPT_LSRR, 7, 4, 198, 18, 0, 9, 7, 3, 4, 0, 0};
	memcpy(h.opts, opts, 12);
	tn_ipv4_emit(&h, tn_pkt_put(p, 32), 32);
	uint8_t *d = tn_pkt_put(p, 2000);
	for (uint32_t i = 0; i < 2000; i++)
		d[i] = pattern(i, 1);
	struct tn_pkt *seg = tn_pkt_alloc(s->pool);
	d = tn_pkt_put(seg, 1000);
	for (uint32_t i = 0; i < 1000; i++)
		d[i] = pattern(2000 + i, 1);
	tn_pkt_chain(p, seg);
	struct frags c = {0};
	assert_int_equal(tn_frag_output(s, p, 1500, collect, &c), 0);
	assert_int_equal(c.n, 3); /* (1500 - 32) & ~7 = 1464 per fragment */
	static const uint8_t later[12] = {TN_IPOPT_LSRR, 7, 4, 198, 18, 0, 9, 1, 1, 1, 0, 0};
	for (int i = 0; i < c.n; i++) {
		struct tn_ipv4_hdr f;
		assert_int_equal(hdr_of(c.f[i], &f), 32);
		assert_memory_equal(f.opts, i == 0 ? opts : later, 12);
		assert_int_equal(tn_ipv4_frag_offset(&f), 1464 * i);
		assert_true(f.tot_len <= 1500);
	}
	struct tn_pkt *r = feed_all(s, &c);
	assert_non_null(r);
	check_datagram(r, 32, 3000, 1);
	struct tn_ipv4_hdr f;
	hdr_of(r, &f);
	assert_memory_equal(f.opts, opts, 12); /* the whole keeps the first's options */
	tn_pkt_free(r);
}

/* A router forwarding fragments onto a smaller MTU: offsets add the
 * original's, and a non-last original keeps MF on every piece. */
static void test_refragment_forwarded(void **state)
{
	struct tn_stack *s = S(state);
	struct frags c, mid = {0}, last = {0};
	split(s, &c, 5120, 14, 1500);
	assert_int_equal(tn_frag_output(s, c.f[1], 576, collect, &mid), 0);
	assert_int_equal(tn_frag_output(s, c.f[3], 256, collect, &last), 0);
	uint32_t expect = 185 * 8;
	for (int i = 0; i < mid.n; i++) {
		struct tn_ipv4_hdr h;
		assert_int_equal(hdr_of(mid.f[i], &h), 20);
		assert_int_equal(tn_ipv4_frag_offset(&h), expect);
		assert_true(h.frag_off & TN_IP_MF);
		assert_true(h.tot_len <= 576);
		expect += h.tot_len - 20u;
	}
	assert_int_equal(mid.n, 3);
	assert_int_equal(expect, 370 * 8);
	expect = 555 * 8;
	for (int i = 0; i < last.n; i++) {
		struct tn_ipv4_hdr h;
		assert_int_equal(hdr_of(last.f[i], &h), 20);
		assert_int_equal(tn_ipv4_frag_offset(&h), expect);
		assert_int_equal(!!(h.frag_off & TN_IP_MF), i < last.n - 1);
		assert_true(h.tot_len <= 256);
		expect += h.tot_len - 20u;
	}
	assert_int_equal(last.n, 3); /* 680 bytes in 232-byte pieces */
	assert_int_equal(expect, 20 + 5120 - 20);
	/* the pieces reassemble with the untouched fragments, in any order */
	assert_null(tn_frag_reasm(s, c.f[2]));
	int rev[MAXF];
	for (int i = 0; i < last.n; i++)
		rev[i] = last.n - 1 - i;
	assert_null(feed(s, &last, rev, last.n));
	assert_null(feed_all(s, &mid));
	struct tn_pkt *r = tn_frag_reasm(s, c.f[0]);
	assert_non_null(r);
	check_datagram(r, 20, 5120, 14);
	tn_pkt_free(r);
	assert_int_equal(tern_stat(s, "IpFragOKs"), 3);
}

/* Link MTUs above one buffer's data room: fragments become chains. */
static void test_jumbo_mtu(void **state)
{
	struct tn_stack *s = S(state);
	struct frags c;
	split(s, &c, 20000, 21, 9000);
	assert_int_equal(c.n, 3);
	static const int lens[] = {8996, 8996, 2068};
	for (int i = 0; i < 3; i++) {
		struct tn_ipv4_hdr h;
		assert_int_equal(hdr_of(c.f[i], &h), 20);
		assert_int_equal(h.tot_len, lens[i]);
		assert_int_equal(c.f[i]->pkt_len, lens[i]);
		assert_non_null(c.f[i]->next);
	}
	int order[] = {2, 0, 1};
	struct tn_pkt *r = feed(s, &c, order, 3);
	assert_non_null(r);
	check_datagram(r, 20, 20000, 21);
	tn_pkt_free(r);
}

static void test_pool_exhausted(void **state)
{
	struct tn_stack *s = S(state);
	struct tn_pkt *p = datagram(s, 5120, 31, 0);
	/* hold all but two buffers: the third fragment finds none */
	struct tn_pkt_queue hog;
	tn_pktq_init(&hog);
	while (s->pool->nfree > 2)
		tn_pktq_push(&hog, tn_pkt_alloc(s->pool), 0);
	struct frags c = {0};
	assert_int_equal(tn_frag_output(s, p, 1500, collect, &c), -ENOBUFS);
	assert_int_equal(c.n, 2);
	assert_int_equal(tern_stat(s, "IpFragFails"), 1);
	assert_int_equal(tern_stat(s, "IpFragCreates"), 2);
	assert_int_equal(tern_stat(s, "IpFragOKs"), 0);
	free_frags(&c);
	tn_pktq_purge(&hog);
}

/* An offset that cannot be expressed in 13 bits is refused. */
static void test_fragment_past_max_refused(void **state)
{
	struct tn_stack *s = S(state);
	struct frags c = {0};
	struct tn_pkt *p = datagram(s, 1600, 9, (uint16_t)(TN_IP_MF | (64800 / 8)));
	assert_int_equal(tn_frag_output(s, p, 1000, collect, &c), -EINVAL);
	assert_int_equal(c.n, 0);
	assert_int_equal(tern_stat(s, "IpFragFails"), 1);
}

/* ---- reassembly ---- */

static void test_roundtrip_orders(void **state)
{
	struct tn_stack *s = S(state);
	struct frags c;
	int inorder[] = {0, 1, 2, 3}, reversed[] = {3, 2, 1, 0}, shuffled[] = {2, 0, 3, 1},
	    last_first[] = {3, 0, 1, 2};
	const int *orders[] = {inorder, reversed, shuffled, last_first};
	for (int k = 0; k < 4; k++) {
		split(s, &c, 5120, (uint16_t)(100 + k), 1500);
		for (int i = 0; i < 3; i++) /* not complete until the last piece */
			assert_null(tn_frag_reasm(s, c.f[orders[k][i]]));
		assert_int_equal(s->frag.count, 1);
		struct tn_pkt *p = tn_frag_reasm(s, c.f[orders[k][3]]);
		assert_non_null(p);
		check_datagram(p, 20, 5120, (uint16_t)(100 + k));
		assert_int_equal(s->frag.count, 0);
		assert_int_equal(s->frag.mem, 0);
		tn_pkt_free(p);
	}
	assert_int_equal(tern_stat(s, "IpReasmOKs"), 4);
	assert_int_equal(tern_stat(s, "IpReasmReqds"), 16);
	assert_int_equal(tern_stat(s, "IpReasmFails"), 0);
}

static void test_duplicate_ignored(void **state)
{
	struct tn_stack *s = S(state);
	struct frags c;
	split(s, &c, 5120, 5, 1500);
	struct tn_pkt *dup1 = tn_pkt_copy(s->pool, c.f[1]);
	struct tn_pkt *dup3 = tn_pkt_copy(s->pool, c.f[3]);
	assert_null(tn_frag_reasm(s, c.f[0]));
	assert_null(tn_frag_reasm(s, c.f[1]));
	assert_null(tn_frag_reasm(s, dup1)); /* exact duplicate: dropped, queue kept */
	assert_null(tn_frag_reasm(s, c.f[3]));
	assert_null(tn_frag_reasm(s, dup3)); /* duplicate of the last one too */
	assert_int_equal(s->frag.count, 1);
	struct tn_pkt *p = tn_frag_reasm(s, c.f[2]);
	assert_non_null(p);
	check_datagram(p, 20, 5120, 5);
	tn_pkt_free(p);
	assert_int_equal(tern_stat(s, "IpExtReasmOverlaps"), 0);
	assert_int_equal(tern_stat(s, "IpReasmFails"), 0);
	assert_int_equal(tern_stat(s, "IpReasmReqds"), 6);
	/* a copy that differs only in being the last one ends the datagram */
	assert_null(tn_frag_reasm(s, datagram(s, 1480, 6, TN_IP_MF)));
	assert_null(tn_frag_reasm(s, datagram(s, 520, 6, TN_IP_MF | (1480 / 8))));
	p = tn_frag_reasm(s, datagram(s, 520, 6, 1480 / 8));
	assert_non_null(p);
	assert_int_equal(p->pkt_len, 2020);
	tn_pkt_free(p);
}

static void test_overlap_kills_queue(void **state)
{
	struct tn_stack *s = S(state);
	struct frags c, d;
	split(s, &c, 5120, 9, 1500);
	split(s, &d, 5120, 9, 1000); /* same id, other boundaries: they overlap */
	assert_null(tn_frag_reasm(s, c.f[0]));
	assert_null(tn_frag_reasm(s, c.f[2]));
	assert_int_equal(s->frag.count, 1);
	/* d.f[1] is [976, 1952): overlaps the held [0, 1480) */
	assert_null(tn_frag_reasm(s, d.f[1]));
	d.f[1] = NULL;
	assert_int_equal(s->frag.count, 0);
	assert_int_equal(tern_stat(s, "IpExtReasmOverlaps"), 1);
	assert_int_equal(tern_stat(s, "IpReasmFails"), 1);
	free_frags(&d);
	tn_pkt_free(c.f[1]);
	tn_pkt_free(c.f[3]);
	/* a clean copy of the same datagram afterwards reassembles */
	split(s, &c, 5120, 9, 1500);
	int order[] = {1, 3, 0, 2};
	struct tn_pkt *p = feed(s, &c, order, 4);
	assert_non_null(p);
	check_datagram(p, 20, 5120, 9);
	tn_pkt_free(p);
	assert_int_equal(tern_stat(s, "IpReasmOKs"), 1);
	/* overlapping the following fragment: [976, 1952) against [1480, 2960) */
	split(s, &c, 5120, 19, 1500);
	split(s, &d, 5120, 19, 1000);
	assert_null(tn_frag_reasm(s, c.f[1]));
	assert_null(tn_frag_reasm(s, d.f[1]));
	d.f[1] = NULL;
	assert_int_equal(s->frag.count, 0);
	assert_int_equal(tern_stat(s, "IpExtReasmOverlaps"), 2);
	assert_int_equal(tern_stat(s, "IpReasmFails"), 2);
	free_frags(&d);
	tn_pkt_free(c.f[0]);
	tn_pkt_free(c.f[2]);
	tn_pkt_free(c.f[3]);
}

/* Holding the first and the last fragment is not enough: a gap of one
 * 8-byte unit keeps the datagram waiting. */
static void test_gap_waits(void **state)
{
	struct tn_stack *s = S(state);
	struct tn_pkt *a = datagram(s, 1480, 43, TN_IP_MF);
	struct tn_pkt *gap = datagram(s, 8, 43, TN_IP_MF | (1480 / 8));
	struct tn_pkt *z = datagram(s, 512, 43, 1488 / 8);
	assert_null(tn_frag_reasm(s, z));
	assert_null(tn_frag_reasm(s, a));
	assert_int_equal(s->frag.count, 1);
	struct tn_pkt *r = tn_frag_reasm(s, gap);
	assert_non_null(r);
	assert_int_equal(r->pkt_len, 20 + 2000);
	struct tn_ipv4_hdr h;
	assert_int_equal(hdr_of(r, &h), 20);
	assert_int_equal(h.tot_len, 2020);
	tn_pkt_free(r);
}

/* Fragments that disagree about where the datagram ends. */
static void test_inconsistent_end(void **state)
{
	struct tn_stack *s = S(state);
	/* two last fragments with different ends */
	assert_null(tn_frag_reasm(s, datagram(s, 520, 40, 1480 / 8)));
	assert_null(tn_frag_reasm(s, datagram(s, 528, 40, 1480 / 8)));
	assert_int_equal(s->frag.count, 0);
	assert_int_equal(tern_stat(s, "IpReasmFails"), 1);
	/* data beyond a known end */
	assert_null(tn_frag_reasm(s, datagram(s, 520, 41, 1480 / 8)));
	assert_null(tn_frag_reasm(s, datagram(s, 8, 41, TN_IP_MF | (2000 / 8))));
	assert_int_equal(s->frag.count, 0);
	assert_int_equal(tern_stat(s, "IpReasmFails"), 2);
	/* a last fragment ending before data already held */
	assert_null(tn_frag_reasm(s, datagram(s, 1480, 42, TN_IP_MF | (1480 / 8))));
	assert_null(tn_frag_reasm(s, datagram(s, 800, 42, 0)));
	assert_int_equal(s->frag.count, 0);
	assert_int_equal(tern_stat(s, "IpReasmFails"), 3);
	assert_int_equal(tern_stat(s, "IpExtReasmOverlaps"), 0);
}

static void test_bad_fragments(void **state)
{
	struct tn_stack *s = S(state);
	/* MF set with a payload that is not a multiple of 8 */
	assert_null(tn_frag_reasm(s, datagram(s, 13, 13, TN_IP_MF)));
	assert_int_equal(tern_stat(s, "IpReasmFails"), 1);
	/* no payload at all */
	assert_null(tn_frag_reasm(s, datagram(s, 0, 13, 8 / 8)));
	assert_int_equal(tern_stat(s, "IpReasmFails"), 2);
	assert_int_equal(s->frag.count, 0);
	/* a broken header */
	struct tn_pkt *p = datagram(s, 64, 13, TN_IP_MF);
	p->data[10] ^= 0x55;
	assert_null(tn_frag_reasm(s, p));
	assert_int_equal(tern_stat(s, "IpReasmFails"), 3);
	assert_int_equal(tern_stat(s, "IpReasmReqds"), 3);
	assert_int_equal(s->frag.count, 0);
}

static void test_oversize(void **state)
{
	struct tn_stack *s = S(state);
	/* 20 + 65512 + 16 is past 65535 (the header counts): no queue is made */
	assert_null(tn_frag_reasm(s, datagram(s, 16, 12, 65512 / 8)));
	assert_int_equal(tern_stat(s, "TernExtIpReasmOversize"), 1);
	assert_int_equal(tern_stat(s, "IpReasmFails"), 1);
	assert_int_equal(s->frag.count, 0);
	/* exactly 65535 (20 + 65512 + 3) is still a datagram */
	assert_null(tn_frag_reasm(s, datagram(s, 3, 15, 65512 / 8)));
	assert_int_equal(s->frag.count, 1);
	assert_int_equal(tern_stat(s, "TernExtIpReasmOversize"), 1);
	/* a 65535+ attempt kills the queue it belongs to */
	assert_null(tn_frag_reasm(s, datagram(s, 1480, 16, TN_IP_MF)));
	assert_int_equal(s->frag.count, 2);
	assert_null(tn_frag_reasm(s, datagram(s, 1000, 16, 65000 / 8)));
	assert_int_equal(s->frag.count, 1);
	assert_int_equal(tern_stat(s, "TernExtIpReasmOversize"), 2);
	assert_int_equal(tern_stat(s, "IpReasmFails"), 2);
}

/* Many datagrams in flight at once, their fragments mixed together. */
static void test_interleaved(void **state)
{
	struct tn_stack *s = S(state);
	enum { N = 40 };
	struct frags c[N];
	struct { int d, i; } all[N * 12];
	int total = 0;
	for (int d = 0; d < N; d++) {
		split(s, &c[d], 1000 + 337u * (uint32_t)d, (uint16_t)(1000 + d), 1500);
		for (int i = 0; i < c[d].n; i++) {
			assert_true(total < N * 12);
			all[total].d = d;
			all[total].i = i;
			total++;
		}
	}
	uint64_t x = 12345; /* a fixed shuffle */
	for (int i = total - 1; i > 0; i--) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		int j = (int)((x >> 33) % (uint64_t)(i + 1));
		__typeof__(all[0]) t = all[i];
		all[i] = all[j];
		all[j] = t;
	}
	int done = 0;
	bool seen[N] = {false};
	for (int k = 0; k < total; k++) {
		struct tn_pkt *r = tn_frag_reasm(s, c[all[k].d].f[all[k].i]);
		if (!r)
			continue;
		struct tn_ipv4_hdr h;
		assert_int_equal(hdr_of(r, &h), 20);
		int d = h.id - 1000;
		assert_true(d >= 0 && d < N && !seen[d]);
		seen[d] = true;
		check_datagram(r, 20, 1000 + 337u * (uint32_t)d, h.id);
		tn_pkt_free(r);
		done++;
	}
	assert_int_equal(done, N);
	assert_int_equal(tern_stat(s, "IpReasmOKs"), N);
	assert_int_equal(tern_stat(s, "IpReasmReqds"), total);
	assert_int_equal(s->frag.count, 0);
}

/* The same id from different sources are different datagrams. */
static void test_key_includes_addresses(void **state)
{
	struct tn_stack *s = S(state);
	struct frags a, b;
	split(s, &a, 3000, 50, 1500);
	split(s, &b, 3000, 50, 1000); /* would overlap if keyed by id alone */
	for (int i = 0; i < b.n; i++) { /* move b to another source */
		struct tn_ipv4_hdr h;
		assert_int_equal(hdr_of(b.f[i], &h), 20);
		h.src = t_ip("198.18.0.3");
		tn_ipv4_emit(&h, b.f[i]->data, 20);
	}
	assert_null(tn_frag_reasm(s, a.f[0]));
	assert_null(tn_frag_reasm(s, b.f[0]));
	assert_null(tn_frag_reasm(s, a.f[1]));
	assert_null(tn_frag_reasm(s, b.f[1]));
	assert_int_equal(s->frag.count, 2);
	struct tn_pkt *ra = tn_frag_reasm(s, a.f[2]);
	struct tn_pkt *rb = feed(s, &b, (int[]){2, 3}, 2);
	assert_non_null(ra);
	assert_non_null(rb);
	check_datagram(ra, 20, 3000, 50);
	check_datagram(rb, 20, 3000, 50);
	tn_pkt_free(ra);
	tn_pkt_free(rb);
	assert_int_equal(tern_stat(s, "IpExtReasmOverlaps"), 0);
}

/* A fragment someone else also holds is copied, not taken over. */
static void test_shared_fragment(void **state)
{
	struct tn_stack *s = S(state);
	struct frags c;
	split(s, &c, 3000, 60, 1500);
	struct tn_pkt *kept = c.f[1];
	tn_pkt_ref(kept);
	assert_null(tn_frag_reasm(s, c.f[0]));
	assert_null(tn_frag_reasm(s, c.f[1]));
	struct tn_pkt *r = tn_frag_reasm(s, c.f[2]);
	assert_non_null(r);
	check_datagram(r, 20, 3000, 60);
	tn_pkt_free(r);
	struct tn_ipv4_hdr h; /* our reference is untouched */
	assert_int_equal(kept->refcnt, 1);
	assert_int_equal(tn_ipv4_parse(kept->data, kept->len, &h), 20);
	assert_int_equal(tn_ipv4_frag_offset(&h), 1480);
	assert_null(kept->next);
	tn_pkt_free(kept);
}

static void test_timeout_sends_time_exceeded(void **state)
{
	struct tn_stack *s = S(state);
	int ifindex;
	struct wire_dev *w = t_wire_attach(s, TN_DEV_L3, &ifindex);
	assert_int_equal(tern_addr_add(s, ifindex, t_ip(DST), 24), 0);
	uint64_t t0 = s->now;
	struct frags c, d;
	split(s, &c, 3000, 11, 1500);
	assert_null(tn_frag_reasm(s, c.f[0]));
	/* a second datagram, a second later, whose first fragment never comes */
	t_run(s, t0 + 1 * T_SEC);
	split(s, &d, 3000, 12, 1500);
	assert_null(tn_frag_reasm(s, d.f[1]));
	tn_pkt_free(d.f[0]);
	tn_pkt_free(d.f[2]);
	t_run(s, t0 + 20 * T_SEC);
	assert_null(tn_frag_reasm(s, c.f[1])); /* does not extend the deadline */
	tn_pkt_free(c.f[2]);                   /* the last one never comes */
	t_run(s, t0 + 30 * T_SEC - T_MS);
	assert_int_equal(tern_stat(s, "IpReasmTimeout"), 0);
	assert_int_equal(s->frag.count, 2);
	t_run(s, t0 + 30 * T_SEC);
	assert_int_equal(tern_stat(s, "IpReasmTimeout"), 1);
	assert_int_equal(tern_stat(s, "IpReasmFails"), 1);
	assert_int_equal(tern_stat(s, "IcmpOutTimeExcds"), 1);
	assert_int_equal(s->frag.count, 1);
	uint8_t buf[2048];
	int n = t_wire_take(w, buf, sizeof(buf));
	assert_true(n >= 20 + 8 + 20 + 8);
	struct tn_ipv4_hdr outer, quoted;
	assert_int_equal(tn_ipv4_parse(buf, (size_t)n, &outer), 20);
	assert_int_equal(outer.proto, TN_IPPROTO_ICMP);
	assert_int_equal(outer.dst, t_ip(SRC));
	assert_int_equal(buf[20], TN_ICMP_TIME_EXCEEDED);
	assert_int_equal(buf[21], TN_ICMP_EXC_FRAGTIME);
	assert_int_equal(tn_ipv4_parse_quoted(buf + 28, (size_t)n - 28, &quoted), 20);
	assert_int_equal(quoted.id, 11); /* about the first fragment */
	assert_int_equal(quoted.frag_off & TN_IP_OFFMASK, 0);
	assert_int_equal(t_wire_take(w, buf, sizeof(buf)), -1);
	/* without its first fragment a datagram times out silently */
	t_run(s, t0 + 31 * T_SEC);
	assert_int_equal(tern_stat(s, "IpReasmTimeout"), 2);
	assert_int_equal(tern_stat(s, "IpReasmFails"), 2);
	assert_int_equal(tern_stat(s, "IcmpOutTimeExcds"), 1);
	assert_int_equal(tern_stat(s, "IcmpOutRateLimitHost"), 0);
	assert_int_equal(t_wire_take(w, buf, sizeof(buf)), -1);
	assert_int_equal(s->frag.count, 0);
}

static void test_timeout_sysctl(void **state)
{
	struct tn_stack *s = S(state);
	assert_int_equal(tern_sysctl_set(s, "net.ipv4.ipfrag_time", "5"), 0);
	uint64_t t0 = s->now;
	assert_null(tn_frag_reasm(s, datagram(s, 1480, 70, TN_IP_MF | (1480 / 8))));
	t_run(s, t0 + 5 * T_SEC - T_MS);
	assert_int_equal(s->frag.count, 1);
	t_run(s, t0 + 5 * T_SEC);
	assert_int_equal(s->frag.count, 0);
	assert_int_equal(tern_stat(s, "IpReasmTimeout"), 1);
}

/* Over ipfrag_high_thresh: new datagrams are refused and the oldest
 * queues evicted to below ipfrag_low_thresh. */
static void test_memory_bound(void **state)
{
	struct tn_stack *s = S(state);
	uint32_t ts = truesize1();
	set_sysctl(s, "net.ipv4.ipfrag_high_thresh", 10ull * ts);
	set_sysctl(s, "net.ipv4.ipfrag_low_thresh", 5ull * ts);
	enum { N = 12 };
	struct frags c[N];
	for (int i = 0; i < N; i++) {
		split(s, &c[i], 3000, (uint16_t)(200 + i), 1500);
		assert_null(tn_frag_reasm(s, c[i].f[0]));
		if (i < 11)
			assert_int_equal(s->frag.count, i + 1);
	}
	/* 11 queues held 11 buffers (> 10); the 12th was refused and the
	 * oldest seven evicted, leaving 4 (< 5) */
	assert_int_equal(tern_stat(s, "TernExtIpReasmMemLimit"), 1);
	assert_int_equal(tern_stat(s, "IpReasmFails"), 1 + 7);
	assert_int_equal(s->frag.count, 4);
	assert_int_equal(s->frag.mem, 4ull * ts);
	/* the survivors are the newest ones and still complete */
	for (int i = 7; i < 11; i++) {
		int rest[] = {1, 2};
		struct tn_pkt *r = feed(s, &c[i], rest, 2);
		assert_non_null(r);
		check_datagram(r, 20, 3000, (uint16_t)(200 + i));
		tn_pkt_free(r);
	}
	/* the evicted and the refused ones lost their first fragment */
	for (int i = 0; i < 7; i++) {
		int rest[] = {1, 2};
		assert_null(feed(s, &c[i], rest, 2));
	}
	int rest[] = {1, 2};
	assert_null(feed(s, &c[11], rest, 2));
	assert_int_equal(tern_stat(s, "IpReasmOKs"), 4);
}

/* One datagram cut into tiny pieces cannot grow past the bound either. */
static void test_memory_bound_one_queue(void **state)
{
	struct tn_stack *s = S(state);
	uint32_t ts = truesize1();
	set_sysctl(s, "net.ipv4.ipfrag_high_thresh", 4ull * ts);
	set_sysctl(s, "net.ipv4.ipfrag_low_thresh", 2ull * ts);
	for (int i = 0; i < 20; i++) {
		assert_null(tn_frag_reasm(s, datagram(s, 8, 80, (uint16_t)(TN_IP_MF | i))));
		assert_true(s->frag.mem <= 5ull * ts);
	}
	assert_true(tern_stat(s, "TernExtIpReasmMemLimit") > 0);
	assert_true(tern_stat(s, "IpReasmFails") > 0);
}

/* Queues still held when the stack goes away are freed with it. */
static void test_destroy_with_pending(void **state)
{
	(void)state;
	struct tn_stack *s = t_stack_new(7);
	uint32_t base = tern_pool_in_use(s);
	for (int i = 0; i < 100; i++) /* enough to grow the table */
		assert_null(tn_frag_reasm(s, datagram(s, 1480, (uint16_t)i, TN_IP_MF)));
	assert_int_equal(s->frag.count, 100);
	assert_int_equal(tern_pool_in_use(s), base + 100);
	tn_frag_destroy(s);
	assert_int_equal(s->frag.count, 0);
	assert_int_equal(s->frag.mem, 0);
	assert_int_equal(tern_pool_in_use(s), base);
	assert_int_equal(tn_wheel_next(&s->wheel), UINT64_MAX);
	assert_null(tn_frag_reasm(s, datagram(s, 1480, 1, TN_IP_MF)));
	tern_stack_free(s); /* with one queue pending: ASan sees no leak */
}

/* Through the stack: a fragmented echo request in, a fragmented reply out. */
static void test_ping_through_stack(void **state)
{
	struct tn_stack *s = S(state);
	int ifindex;
	struct wire_dev *w = t_wire_attach(s, TN_DEV_L3, &ifindex);
	assert_int_equal(tern_addr_add(s, ifindex, t_ip(DST), 24), 0);
	static uint8_t echo[4000], frame[2048];
	uint32_t elen = t_build_echo(echo, 7, 1, 3000);
	struct tn_pkt *p = tn_pkt_alloc(s->pool);
	struct tn_ipv4_hdr h = {.tot_len = (uint16_t)(20 + elen), .id = 90, .ttl = 64,
				.proto = TN_IPPROTO_ICMP, .src = t_ip(SRC), .dst = t_ip(DST)};
	tn_ipv4_emit(&h, tn_pkt_put(p, 20), 20);
	uint8_t *d = tn_pkt_put(p, 2000);
	memcpy(d, echo, 2000);
	struct tn_pkt *seg = tn_pkt_from_bytes(s->pool, echo + 2000, elen - 2000);
	tn_pkt_chain(p, seg);
	struct frags c = {0};
	assert_int_equal(tn_frag_output(s, p, 1500, collect, &c), 0);
	for (int i = c.n - 1; i >= 0; i--) {
		tn_pkt_copy_out(c.f[i], 0, frame, c.f[i]->pkt_len);
		t_wire_inject(w, frame, c.f[i]->pkt_len);
	}
	free_frags(&c);
	t_run(s, s->now + T_MS);
	assert_int_equal(tern_stat(s, "IpReasmOKs"), 1);
	assert_int_equal(tern_stat(s, "IcmpOutEchoReps"), 1);
	/* the reply left in fragments; put them back together */
	struct tn_pkt *r = NULL;
	int n, frames = 0;
	while ((n = t_wire_take(w, frame, sizeof(frame))) > 0) {
		frames++;
		assert_true(n <= 1500);
		struct tn_pkt *f = tn_pkt_from_bytes(s->pool, frame, (uint32_t)n);
		struct tn_pkt *got = tn_frag_reasm(s, f);
		if (got)
			r = got;
	}
	assert_int_equal(frames, 3);
	assert_non_null(r);
	assert_int_equal(r->pkt_len, 20 + elen);
	uint8_t *reply = malloc(elen);
	assert_int_equal(tn_pkt_copy_out(r, 20, reply, elen), 0);
	assert_int_equal(reply[0], TN_ICMP_ECHOREPLY);
	assert_memory_equal(reply + 8, echo + 8, elen - 8);
	assert_int_equal(tn_csum(reply, elen), 0);
	free(reply);
	tn_pkt_free(r);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_worked_example),
		T(test_fits_passes_through),
		T(test_df_kept),
		T(test_options_copied),
		T(test_refragment_forwarded),
		T(test_jumbo_mtu),
		T(test_pool_exhausted),
		T(test_fragment_past_max_refused),
		T(test_roundtrip_orders),
		T(test_duplicate_ignored),
		T(test_overlap_kills_queue),
		T(test_gap_waits),
		T(test_inconsistent_end),
		T(test_bad_fragments),
		T(test_oversize),
		T(test_interleaved),
		T(test_key_includes_addresses),
		T(test_shared_fragment),
		T(test_timeout_sends_time_exceeded),
		T(test_timeout_sysctl),
		T(test_memory_bound),
		T(test_memory_bound_one_queue),
		T(test_destroy_with_pending),
		T(test_ping_through_stack),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
