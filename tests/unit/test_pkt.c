/* Packet buffers and the mempool: allocation limits, headroom/tailroom
 * bounds, references, chains (copy, trim, may_pull) and packet queues. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdint.h>
#include <string.h>

#include "core/pkt.h"
#include "core/rand.h"

/* A chain of segments holding bytes 0, 1, 2, ... (mod 251), with the
 * given segment lengths; each segment starts at a different headroom. */
static struct tn_pkt *make_chain(struct tn_mempool *mp, const uint32_t *lens, int nseg)
{
	struct tn_pkt *head = NULL;
	uint32_t v = 0;
	for (int i = 0; i < nseg; i++) {
		struct tn_pkt *s = tn_pkt_alloc(mp);
		assert_non_null(s);
		assert_non_null(tn_pkt_pull(s, 0));
		s->data -= (uint32_t)i % 3; /* vary alignment inside the headroom */
		uint8_t *d = tn_pkt_put(s, lens[i]);
		assert_non_null(d);
		for (uint32_t k = 0; k < lens[i]; k++)
			d[k] = (uint8_t)(v++ % 251);
		if (head)
			tn_pkt_chain(head, s);
		else
			head = s;
	}
	return head;
}

static void check_pattern(const uint8_t *b, uint32_t off, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(b[i], (off + i) % 251);
}

static int nsegs(const struct tn_pkt *p)
{
	int n = 0;
	for (; p; p = p->next)
		n++;
	return n;
}

static uint32_t seg_sum(const struct tn_pkt *p)
{
	uint32_t n = 0;
	for (; p; p = p->next)
		n += p->len;
	return n;
}

static void test_mempool_exhaust(void **state)
{
	(void)state;
	enum { N = 16 };
	struct tn_mempool *mp = tn_mempool_new(N);
	assert_non_null(mp);
	assert_int_equal(tn_mempool_in_use(mp), 0);
	struct tn_pkt *p[N];
	for (int i = 0; i < N; i++) {
		p[i] = tn_pkt_alloc(mp);
		assert_non_null(p[i]);
		assert_ptr_equal(p[i]->pool, mp);
		assert_int_equal(p[i]->refcnt, 1);
		assert_int_equal(p[i]->len, 0);
		assert_int_equal(p[i]->pkt_len, 0);
		assert_null(p[i]->next);
		assert_int_equal(tn_pkt_headroom(p[i]), TN_PKT_HEADROOM);
		assert_int_equal(tn_pkt_tailroom(p[i]), TN_PKT_DATAROOM);
		assert_int_equal((uintptr_t)p[i]->buf % 64, 0);
		for (int j = 0; j < i; j++) /* distinct objects that do not overlap */
			assert_true(p[j]->buf + TN_PKT_BUFSIZE <= (uint8_t *)p[i] ||
				    p[i]->buf + TN_PKT_BUFSIZE <= (uint8_t *)p[j]);
		memset(p[i]->buf, 0xa5, TN_PKT_BUFSIZE); /* ASan: the whole buffer is ours */
	}
	assert_int_equal(tn_mempool_in_use(mp), N);
	assert_int_equal(mp->alloc_fails, 0);
	assert_null(tn_pkt_alloc(mp));
	assert_null(tn_pkt_alloc(mp));
	assert_int_equal(mp->alloc_fails, 2);
	tn_pkt_free(p[3]);
	assert_int_equal(tn_mempool_in_use(mp), N - 1);
	struct tn_pkt *again = tn_pkt_alloc(mp);
	assert_ptr_equal(again, p[3]);
	/* a reused buffer comes back reset */
	assert_int_equal(again->len, 0);
	assert_int_equal(tn_pkt_headroom(again), TN_PKT_HEADROOM);
	for (int i = 0; i < N; i++)
		tn_pkt_free(p[i]);
	assert_int_equal(tn_mempool_in_use(mp), 0);
	tn_pkt_free(NULL);
	tn_mempool_free(mp);
	tn_mempool_free(NULL);
}

static void test_alloc_bulk(void **state)
{
	(void)state;
	struct tn_mempool *mp = tn_mempool_new(10);
	struct tn_pkt *p[12];
	assert_int_equal(tn_pkt_alloc_bulk(mp, p, 4), 4);
	assert_int_equal(mp->alloc_fails, 0);
	assert_int_equal(tn_mempool_in_use(mp), 4);
	assert_int_equal(tn_pkt_alloc_bulk(mp, p + 4, 8), 6);
	assert_int_equal(mp->alloc_fails, 1);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(p[i]->refcnt, 1);
		assert_int_equal(p[i]->len, 0);
		for (int j = 0; j < i; j++)
			assert_ptr_not_equal(p[i], p[j]);
	}
	assert_int_equal(tn_pkt_alloc_bulk(mp, p + 10, 2), 0);
	assert_int_equal(tn_pkt_alloc_bulk(mp, p + 10, 0), 0);
	for (int i = 0; i < 10; i++)
		tn_pkt_free(p[i]);
	assert_int_equal(tn_mempool_in_use(mp), 0);
	tn_mempool_free(mp);
}

static void test_push_pull_put(void **state)
{
	(void)state;
	struct tn_mempool *mp = tn_mempool_new(2);
	struct tn_pkt *p = tn_pkt_alloc(mp);
	uint8_t *d = tn_pkt_put(p, 100);
	assert_ptr_equal(d, p->buf + TN_PKT_HEADROOM);
	memset(d, 7, 100);
	assert_int_equal(p->len, 100);
	assert_int_equal(p->pkt_len, 100);
	assert_null(tn_pkt_put(p, TN_PKT_DATAROOM - 100 + 1));
	assert_int_equal(p->len, 100);
	assert_non_null(tn_pkt_put(p, TN_PKT_DATAROOM - 100));
	assert_int_equal(tn_pkt_tailroom(p), 0);
	assert_null(tn_pkt_put(p, 1));
	assert_non_null(tn_pkt_put(p, 0));

	uint8_t *h = tn_pkt_push(p, 20);
	assert_ptr_equal(h, d - 20);
	assert_int_equal(p->len, TN_PKT_DATAROOM + 20);
	assert_int_equal(p->pkt_len, TN_PKT_DATAROOM + 20);
	assert_null(tn_pkt_push(p, TN_PKT_HEADROOM - 20 + 1));
	assert_non_null(tn_pkt_push(p, TN_PKT_HEADROOM - 20));
	assert_int_equal(tn_pkt_headroom(p), 0);
	assert_null(tn_pkt_push(p, 1));
	assert_int_equal(p->len, TN_PKT_BUFSIZE);

	assert_null(tn_pkt_pull(p, TN_PKT_BUFSIZE + 1));
	assert_int_equal(p->len, TN_PKT_BUFSIZE);
	assert_ptr_equal(tn_pkt_pull(p, TN_PKT_HEADROOM), d);
	assert_int_equal(p->len, TN_PKT_DATAROOM);
	assert_int_equal(p->pkt_len, TN_PKT_DATAROOM);
	assert_non_null(tn_pkt_pull(p, TN_PKT_DATAROOM));
	assert_int_equal(p->len, 0);
	assert_null(tn_pkt_pull(p, 1));
	assert_int_equal(tn_pkt_off(p, p->data), TN_PKT_BUFSIZE);
	tn_pkt_free(p);
	assert_int_equal(tn_mempool_in_use(mp), 0);
	tn_mempool_free(mp);
}

static void test_refcount(void **state)
{
	(void)state;
	struct tn_mempool *mp = tn_mempool_new(4);
	uint32_t lens[] = {10, 20, 30};
	struct tn_pkt *p = make_chain(mp, lens, 3);
	assert_int_equal(tn_mempool_in_use(mp), 3);
	tn_pkt_ref(p);
	assert_int_equal(p->refcnt, 2);
	tn_pkt_free(p);
	assert_int_equal(tn_mempool_in_use(mp), 3); /* still referenced: nothing returned */
	assert_int_equal(p->pkt_len, 60);
	tn_pkt_free(p);
	assert_int_equal(tn_mempool_in_use(mp), 0); /* whole chain back */
	tn_mempool_free(mp);
}

static void test_chain_copy_out(void **state)
{
	(void)state;
	struct tn_mempool *mp = tn_mempool_new(8);
	uint32_t lens[] = {7, 0, 13, 1, 100};
	struct tn_pkt *p = make_chain(mp, lens, 5);
	assert_int_equal(p->pkt_len, 121);
	assert_int_equal(seg_sum(p), 121);
	assert_int_equal(nsegs(p), 5);
	uint8_t b[200];
	for (uint32_t off = 0; off <= 121; off++) {
		for (uint32_t n = 0; off + n <= 121; n += 1 + n / 4) {
			memset(b, 0xff, sizeof(b));
			assert_int_equal(tn_pkt_copy_out(p, off, b, n), 0);
			check_pattern(b, off, n);
			assert_int_equal(b[n], 0xff); /* nothing past n */
		}
	}
	assert_int_equal(tn_pkt_copy_out(p, 0, b, 122), -1);
	assert_int_equal(tn_pkt_copy_out(p, 121, b, 1), -1);
	assert_int_equal(tn_pkt_copy_out(p, 200, b, 0), -1);
	assert_int_equal(tn_pkt_copy_out(p, 0xffffffffu, b, 2), -1); /* no wrap-around */
	assert_int_equal(tn_pkt_copy_out(p, 1, b, 0xffffffffu), -1);
	assert_int_equal(tn_pkt_copy_out(p, 121, b, 0), 0);
	tn_pkt_free(p);
	assert_int_equal(tn_mempool_in_use(mp), 0);
	tn_mempool_free(mp);
}

static void test_chain_trim(void **state)
{
	(void)state;
	struct tn_mempool *mp = tn_mempool_new(8);
	uint32_t lens[] = {10, 20, 30, 40};
	/* every trim length, checking what stays and what goes back */
	for (uint32_t len = 0; len <= 101; len++) {
		struct tn_pkt *p = make_chain(mp, lens, 4);
		tn_pkt_trim(p, len);
		uint32_t want = len > 100 ? 100 : len;
		assert_int_equal(p->pkt_len, want);
		assert_int_equal(seg_sum(p), want);
		/* the segment holding the last byte is the last one kept */
		int keep = want <= 10 ? 1 : want <= 30 ? 2 : want <= 60 ? 3 : 4;
		assert_int_equal(nsegs(p), keep);
		assert_int_equal(tn_mempool_in_use(mp), keep);
		uint8_t b[100];
		assert_int_equal(tn_pkt_copy_out(p, 0, b, want), 0);
		check_pattern(b, 0, want);
		assert_int_equal(tn_pkt_copy_out(p, 0, b, want + 1), -1);
		tn_pkt_free(p);
		assert_int_equal(tn_mempool_in_use(mp), 0);
	}
	tn_mempool_free(mp);
}

static void test_may_pull(void **state)
{
	(void)state;
	struct tn_mempool *mp = tn_mempool_new(8);
	uint32_t lens[] = {5, 3, 0, 10, 50};
	for (uint32_t n = 0; n <= 69; n++) {
		struct tn_pkt *p = make_chain(mp, lens, 5);
		int rc = tn_pkt_may_pull(p, n);
		if (n > 68) {
			assert_int_equal(rc, -1);
		} else {
			assert_int_equal(rc, 0);
			assert_true(p->len >= n);
		}
		/* pulling never changes the packet's bytes */
		assert_int_equal(p->pkt_len, 68);
		assert_int_equal(seg_sum(p), 68);
		uint8_t b[68];
		assert_int_equal(tn_pkt_copy_out(p, 0, b, 68), 0);
		check_pattern(b, 0, 68);
		check_pattern(p->data, 0, p->len);
		/* emptied segments went back to the pool */
		assert_int_equal(tn_mempool_in_use(mp), nsegs(p));
		for (const struct tn_pkt *s = p->next; s; s = s->next)
			assert_true(s->len > 0 || n <= 8 || rc < 0);
		tn_pkt_free(p);
		assert_int_equal(tn_mempool_in_use(mp), 0);
	}
	/* no room in the head segment: refused, chain untouched */
	uint32_t big[] = {TN_PKT_DATAROOM, 100};
	struct tn_pkt *p = make_chain(mp, big, 2);
	assert_int_equal(tn_pkt_may_pull(p, TN_PKT_DATAROOM), 0);
	assert_int_equal(tn_pkt_may_pull(p, TN_PKT_DATAROOM + 10), -1);
	assert_int_equal(p->len, TN_PKT_DATAROOM);
	assert_int_equal(p->next->len, 100);
	tn_pkt_free(p);
	assert_int_equal(tn_mempool_in_use(mp), 0);
	tn_mempool_free(mp);
}

/* Any length becomes a chain of full data rooms; a pool too small for it
 * gives NULL and keeps nothing. */
static void test_from_bytes_chain(void **state)
{
	(void)state;
	struct tn_mempool *mp = tn_mempool_new(40);
	static uint8_t b[65000];
	for (uint32_t i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)(i * 7 + (i >> 8));
	uint32_t lens[] = {1, TN_PKT_DATAROOM, TN_PKT_DATAROOM + 1, 65000};
	for (int k = 0; k < 4; k++) {
		struct tn_pkt *p = tn_pkt_from_bytes_chain(mp, b, lens[k]);
		assert_non_null(p);
		assert_int_equal(p->pkt_len, lens[k]);
		assert_int_equal(tn_mempool_in_use(mp), (lens[k] + TN_PKT_DATAROOM - 1) / TN_PKT_DATAROOM);
		static uint8_t out[65000];
		assert_int_equal(tn_pkt_copy_out(p, 0, out, lens[k]), 0);
		assert_memory_equal(out, b, lens[k]);
		tn_pkt_free(p);
	}
	struct tn_mempool *small = tn_mempool_new(10);
	assert_null(tn_pkt_from_bytes_chain(small, b, 65000));
	assert_int_equal(tn_mempool_in_use(small), 0);
	tn_mempool_free(small);
	tn_mempool_free(mp);
}

static void test_copy_and_from_bytes(void **state)
{
	(void)state;
	struct tn_mempool *mp = tn_mempool_new(8);
	uint32_t lens[] = {33, 1, 700, 2};
	struct tn_pkt *p = make_chain(mp, lens, 4);
	p->flags = TN_PKT_L2_BCAST;
	p->ifindex = 3;
	p->mark = 0x55;
	p->tstamp = 123;
	struct tn_pkt *c = tn_pkt_copy(mp, p);
	assert_non_null(c);
	assert_null(c->next);
	assert_int_equal(c->len, 736);
	assert_int_equal(c->pkt_len, 736);
	check_pattern(c->data, 0, 736);
	assert_int_equal(c->flags, TN_PKT_L2_BCAST);
	assert_int_equal(c->ifindex, 3);
	assert_int_equal(c->mark, 0x55);
	assert_int_equal(c->tstamp, 123);
	assert_int_equal(c->refcnt, 1);
	assert_int_equal(tn_mempool_in_use(mp), 5);
	tn_pkt_free(p);
	check_pattern(c->data, 0, 736); /* independent of the original */
	tn_pkt_free(c);
	/* too big for one segment */
	uint32_t huge[] = {TN_PKT_DATAROOM, 1};
	p = make_chain(mp, huge, 2);
	assert_null(tn_pkt_copy(mp, p));
	tn_pkt_free(p);
	assert_int_equal(tn_mempool_in_use(mp), 0);

	uint8_t bytes[TN_PKT_DATAROOM + 1];
	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)(i % 251);
	c = tn_pkt_from_bytes(mp, bytes, 1000);
	assert_non_null(c);
	assert_int_equal(c->len, 1000);
	assert_int_equal(c->pkt_len, 1000);
	assert_int_equal(tn_pkt_headroom(c), TN_PKT_HEADROOM);
	check_pattern(c->data, 0, 1000);
	tn_pkt_free(c);
	c = tn_pkt_from_bytes(mp, bytes, TN_PKT_DATAROOM);
	assert_non_null(c);
	tn_pkt_free(c);
	assert_null(tn_pkt_from_bytes(mp, bytes, TN_PKT_DATAROOM + 1));
	assert_int_equal(tn_mempool_in_use(mp), 0);
	/* an empty pool: copies fail cleanly */
	struct tn_pkt *all[8];
	assert_int_equal(tn_pkt_alloc_bulk(mp, all, 8), 8);
	assert_null(tn_pkt_from_bytes(mp, bytes, 10));
	assert_null(tn_pkt_copy(mp, all[0]));
	for (int i = 0; i < 8; i++)
		tn_pkt_free(all[i]);
	tn_mempool_free(mp);
}

static void test_truesize(void **state)
{
	(void)state;
	struct tn_mempool *mp = tn_mempool_new(4);
	uint32_t lens[] = {1, 2, 3};
	struct tn_pkt *p = make_chain(mp, lens, 3);
	assert_int_equal(tn_pkt_truesize(p), 3 * (sizeof(struct tn_pkt) + TN_PKT_BUFSIZE));
	assert_true(tn_pkt_truesize(p->next->next) < tn_pkt_truesize(p));
	tn_pkt_free(p);
	tn_mempool_free(mp);
}

static void test_pktq(void **state)
{
	(void)state;
	struct tn_mempool *mp = tn_mempool_new(16);
	struct tn_pkt_queue q;
	tn_pktq_init(&q);
	assert_null(tn_pktq_pop(&q, 0));
	struct tn_pkt *p[5];
	for (int i = 0; i < 5; i++) {
		p[i] = tn_pkt_alloc(mp);
		p[i]->mark = (uint32_t)i;
		tn_pktq_push(&q, p[i], 10u * (uint32_t)(i + 1));
	}
	assert_int_equal(q.count, 5);
	assert_int_equal(q.bytes, 150);
	assert_ptr_equal(q.head, p[0]);
	assert_ptr_equal(q.tail, p[4]);
	for (int i = 0; i < 3; i++) {
		struct tn_pkt *x = tn_pktq_pop(&q, 10u * (uint32_t)(i + 1));
		assert_ptr_equal(x, p[i]);
		assert_null(x->qnext);
		tn_pkt_free(x);
	}
	assert_int_equal(q.count, 2);
	assert_int_equal(q.bytes, 90);
	/* pop to empty, then push again: head and tail are both reset */
	tn_pkt_free(tn_pktq_pop(&q, 40));
	tn_pkt_free(tn_pktq_pop(&q, 50));
	assert_null(q.head);
	assert_null(q.tail);
	assert_int_equal(q.count, 0);
	assert_int_equal(q.bytes, 0);
	assert_null(tn_pktq_pop(&q, 0));
	/* purge frees chains too */
	uint32_t lens[] = {4, 4, 4};
	for (int i = 0; i < 3; i++)
		tn_pktq_push(&q, make_chain(mp, lens, 3), 12);
	struct tn_pkt *single = tn_pkt_alloc(mp);
	tn_pktq_push(&q, single, 0);
	assert_int_equal(tn_mempool_in_use(mp), 10);
	tn_pktq_purge(&q);
	assert_int_equal(tn_mempool_in_use(mp), 0);
	assert_int_equal(q.count, 0);
	assert_null(q.head);
	assert_null(q.tail);
	/* tn_pkt_free_queue on a bare list */
	struct tn_pkt *a = tn_pkt_alloc(mp), *b = tn_pkt_alloc(mp);
	a->qnext = b;
	b->qnext = NULL;
	tn_pkt_free_queue(a);
	tn_pkt_free_queue(NULL);
	assert_int_equal(tn_mempool_in_use(mp), 0);
	tn_mempool_free(mp);
}

/* Random chains: copy_out, trim and may_pull agree with a flat model. */
static void test_random_chains(void **state)
{
	(void)state;
	struct tn_rand r;
	tn_rand_seed(&r, 5);
	struct tn_mempool *mp = tn_mempool_new(32);
	for (int iter = 0; iter < 2000; iter++) {
		uint32_t lens[8];
		int n = 1 + (int)tn_rand_below(&r, 8);
		uint32_t total = 0;
		for (int i = 0; i < n; i++) {
			lens[i] = tn_rand_below(&r, 4) == 0 ? 0 : tn_rand_below(&r, 300);
			total += lens[i];
		}
		struct tn_pkt *p = make_chain(mp, lens, n);
		assert_int_equal(p->pkt_len, total);
		uint32_t pull = tn_rand_below(&r, total + 2);
		assert_int_equal(tn_pkt_may_pull(p, pull), pull <= total ? 0 : -1);
		uint32_t cut = tn_rand_below(&r, total + 2);
		tn_pkt_trim(p, cut);
		uint32_t left = cut < total ? cut : total;
		assert_int_equal(p->pkt_len, left);
		assert_int_equal(seg_sum(p), left);
		uint8_t b[2400];
		uint32_t off = tn_rand_below(&r, left + 1);
		assert_int_equal(tn_pkt_copy_out(p, off, b, left - off), 0);
		check_pattern(b, off, left - off);
		assert_int_equal(tn_pkt_copy_out(p, off, b, left - off + 1), -1);
		assert_int_equal(tn_mempool_in_use(mp), nsegs(p));
		tn_pkt_free(p);
		assert_int_equal(tn_mempool_in_use(mp), 0);
	}
	tn_mempool_free(mp);
}

/* ---- external segments ---- */

struct ext_mem {
	struct tn_pkt_ext ext;
	int released;
	uint8_t bytes[256];
};
static void ext_mem_release(struct tn_pkt_ext *e) { ((struct ext_mem *)e)->released++; }

/* An external segment points into memory it does not own, holds a
 * reference to it until freed, and has no room: nothing can be written
 * into that memory through it; may_pull copies out of it without
 * writing to it. */
static void test_external_segment(void **state)
{
	struct tn_mempool *mp = tn_mempool_new(8);
	struct ext_mem m = {.ext = {.refcnt = 1, .release = ext_mem_release}};
	for (int i = 0; i < 256; i++)
		m.bytes[i] = (uint8_t)i;
	struct tn_pkt *e = tn_pkt_alloc_ext(mp, &m.ext, m.bytes + 10, 100);
	assert_non_null(e);
	assert_true(tn_pkt_is_ext(e));
	assert_int_equal(m.ext.refcnt, 2);
	assert_ptr_equal(e->data, m.bytes + 10);
	assert_int_equal(e->len, 100);
	assert_int_equal(tn_pkt_headroom(e), 0);
	assert_int_equal(tn_pkt_tailroom(e), 0);
	assert_null(tn_pkt_push(e, 1));
	assert_null(tn_pkt_put(e, 1));
	assert_false(tn_pkt_writable(e));
	struct tn_pkt *c = tn_pkt_clone_ext(mp, e);
	assert_int_equal(m.ext.refcnt, 3);
	tn_pkt_free(c);
	assert_int_equal(m.ext.refcnt, 2);
	/* chained after a head: pulled into the head, the external bytes are
	 * read, never written; a segment emptied by the pull is freed */
	struct tn_pkt *h = tn_pkt_alloc(mp);
	memcpy(tn_pkt_put(h, 4), "HDR!", 4);
	assert_true(tn_pkt_writable(h));
	tn_pkt_chain(h, e);
	assert_false(tn_pkt_writable(h));
	assert_int_equal(h->pkt_len, 104);
	assert_int_equal(tn_pkt_may_pull(h, 54), 0);
	assert_int_equal(h->len, 54);
	assert_int_equal(h->data[4], 10);
	assert_ptr_equal(e->data, m.bytes + 60);
	for (int i = 0; i < 256; i++)
		assert_int_equal(m.bytes[i], (uint8_t)i);
	uint8_t out[104];
	assert_int_equal(tn_pkt_copy_out(h, 0, out, 104), 0);
	assert_int_equal(out[103], 109);
	assert_int_equal(tn_pkt_may_pull(h, 104), 0);
	assert_int_equal(m.ext.refcnt, 1); /* e went when it was emptied */
	assert_null(h->next);
	tn_pkt_free(h);
	/* freed at the last reference: the owner's */
	e = tn_pkt_alloc_ext(mp, &m.ext, m.bytes, 5);
	tn_pkt_trim(e, 3);
	tn_pkt_free(e);
	assert_int_equal(m.released, 0);
	tn_pkt_ext_put(&m.ext);
	assert_int_equal(m.released, 1);
	assert_int_equal(tn_mempool_in_use(mp), 0);
	/* a fresh buffer is not external */
	e = tn_pkt_alloc(mp);
	assert_false(tn_pkt_is_ext(e));
	tn_pkt_free(e);
	tn_mempool_free(mp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mempool_exhaust),
		cmocka_unit_test(test_alloc_bulk),
		cmocka_unit_test(test_push_pull_put),
		cmocka_unit_test(test_external_segment),
		cmocka_unit_test(test_refcount),
		cmocka_unit_test(test_chain_copy_out),
		cmocka_unit_test(test_chain_trim),
		cmocka_unit_test(test_may_pull),
		cmocka_unit_test(test_copy_and_from_bytes),
		cmocka_unit_test(test_from_bytes_chain),
		cmocka_unit_test(test_truesize),
		cmocka_unit_test(test_pktq),
		cmocka_unit_test(test_random_chains),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
