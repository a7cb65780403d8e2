/* memlink: the in-process wire between two devices. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "link/dev.h"

/* A frame whose bytes are a function of (tag, offset), so any byte that
 * went astray is noticed. */
static uint8_t pattern(uint32_t tag, uint32_t i) { return (uint8_t)(tag * 7 + i * 13 + (i >> 8)); }

static struct tn_pkt *frame(struct tn_mempool *mp, uint32_t len, uint32_t tag)
{
	struct tn_pkt *p = tn_pkt_alloc(mp);
	assert_non_null(p);
	uint8_t *d = tn_pkt_put(p, len);
	assert_non_null(d);
	for (uint32_t i = 0; i < len; i++)
		d[i] = pattern(tag, i);
	return p;
}

static void check_frame(const struct tn_pkt *p, uint32_t len, uint32_t tag)
{
	assert_null(p->next);
	assert_int_equal(p->len, len);
	assert_int_equal(p->pkt_len, len);
	for (uint32_t i = 0; i < len; i++)
		assert_int_equal(p->data[i], pattern(tag, i));
}

struct pair {
	struct tn_mempool *mp;
	struct tn_dev *a, *b;
};

static void pair_new(struct pair *x, uint32_t slots, uint32_t pool)
{
	x->mp = tn_mempool_new(pool);
	assert_non_null(x->mp);
	assert_int_equal(tn_memlink_pair("ml-a", "ml-b", TN_DEV_L2, 1500, slots, &x->a, &x->b), 0);
}

static void pair_free(struct pair *x)
{
	tn_dev_destroy(x->a);
	tn_dev_destroy(x->b);
	assert_int_equal(tn_mempool_in_use(x->mp), 0);
	tn_mempool_free(x->mp);
}

static void test_create(void **state)
{
	(void)state;
	struct tn_dev *a = NULL, *b = NULL;
	assert_int_equal(tn_memlink_pair("a", "b", TN_DEV_L2, 1500, 0, &a, &b), -EINVAL);
	assert_int_equal(tn_memlink_pair("a", "b", TN_DEV_L2, 1500, 1, &a, &b), -EINVAL);
	assert_int_equal(tn_memlink_pair("a", "b", TN_DEV_L2, 1500, 6, &a, &b), -EINVAL);
	assert_int_equal(tn_memlink_pair("a", "b", TN_DEV_L2, 1500, 1000, &a, &b), -EINVAL);
	/* an MTU whose frames could not fit a slot */
	assert_int_equal(tn_memlink_pair("a", "b", TN_DEV_L2, TN_PKT_DATAROOM, 8, &a, &b), -EINVAL);
	assert_null(a);
	assert_null(b);

	assert_int_equal(tn_memlink_pair("left", "right", TN_DEV_L3, 1400, 2, &a, &b), 0);
	assert_string_equal(a->name, "left");
	assert_string_equal(b->name, "right");
	assert_int_equal(a->framing, TN_DEV_L3);
	assert_int_equal(b->mtu, 1400);
	assert_int_equal(tn_dev_fd(a), -1);
	assert_int_equal(tn_dev_fd(b), -1);
	assert_memory_not_equal(a->mac, b->mac, 6);
	for (int i = 0; i < 2; i++) {
		const uint8_t *m = i ? b->mac : a->mac;
		assert_int_equal(m[0] & 3, 2); /* locally administered, unicast */
	}
	/* the same names give the same addresses */
	struct tn_dev *a2, *b2;
	assert_int_equal(tn_memlink_pair("left", "right", TN_DEV_L2, 1500, 4, &a2, &b2), 0);
	assert_memory_equal(a->mac, a2->mac, 6);
	assert_memory_equal(b->mac, b2->mac, 6);
	/* a name longer than IFNAMSIZ is cut, not overrun */
	struct tn_dev *c, *d;
	assert_int_equal(tn_memlink_pair("a-very-long-interface-name", "x", TN_DEV_L2, 1500, 4, &c, &d), 0);
	assert_int_equal(strlen(c->name), TN_IFNAMSIZ - 1);
	tn_dev_destroy(a);
	tn_dev_destroy(b);
	tn_dev_destroy(a2);
	tn_dev_destroy(b2);
	tn_dev_destroy(c);
	tn_dev_destroy(d);
}

/* Frames go both ways at once, arrive intact and in order, and each end
 * only sees what the other sent. */
static void test_both_directions(void **state)
{
	(void)state;
	struct pair x;
	pair_new(&x, 64, 256);
	assert_int_equal(tn_dev_next_event(x.a), UINT64_MAX);
	assert_int_equal(tn_dev_next_event(x.b), UINT64_MAX);
	for (uint32_t i = 0; i < 40; i++) {
		struct tn_pkt *p = frame(x.mp, 60 + i, i);
		struct tn_pkt *q = frame(x.mp, 1000 - i, 1000 + i);
		assert_int_equal(tn_dev_tx(x.a, &p, 1), 1);
		assert_int_equal(tn_dev_tx(x.b, &q, 1), 1);
	}
	x.a->now = 77;
	x.b->now = 88;
	assert_int_equal(tn_dev_next_event(x.a), 77); /* frames waiting: run now */
	assert_int_equal(tn_dev_next_event(x.b), 88);
	assert_int_equal(tn_mempool_in_use(x.mp), 0); /* tx consumed every packet */
	struct tn_pkt *in[16];
	uint32_t got_a = 0, got_b = 0;
	unsigned n;
	while ((n = tn_dev_rx(x.b, x.mp, in, 16)) > 0) {
		for (unsigned i = 0; i < n; i++, got_b++) {
			check_frame(in[i], 60 + got_b, got_b);
			tn_pkt_free(in[i]);
		}
	}
	while ((n = tn_dev_rx(x.a, x.mp, in, 7)) > 0) {
		for (unsigned i = 0; i < n; i++, got_a++) {
			check_frame(in[i], 1000 - got_a, 1000 + got_a);
			tn_pkt_free(in[i]);
		}
	}
	assert_int_equal(got_a, 40);
	assert_int_equal(got_b, 40);
	assert_int_equal(tn_dev_next_event(x.a), UINT64_MAX);
	assert_int_equal(tn_dev_next_event(x.b), UINT64_MAX);
	pair_free(&x);
}

/* A full ring takes what fits; the rest stay with the caller, untouched,
 * and go through once the receiver made room.  Many laps wrap the indices. */
static void test_ring_full(void **state)
{
	(void)state;
	struct pair x;
	pair_new(&x, 8, 64);
	struct tn_pkt *p[12];
	for (uint32_t i = 0; i < 12; i++)
		p[i] = frame(x.mp, 100, i);
	assert_int_equal(tn_dev_tx(x.a, p, 12), 8);
	assert_int_equal(tn_mempool_in_use(x.mp), 4);
	for (uint32_t i = 8; i < 12; i++)
		check_frame(p[i], 100, i);
	assert_int_equal(tn_dev_tx(x.a, p + 8, 4), 0); /* still full */
	assert_int_equal(x.a->stats.tx_packets, 8);
	assert_int_equal(x.a->stats.tx_dropped, 0);

	struct tn_pkt *in[16];
	assert_int_equal(tn_dev_rx(x.b, x.mp, in, 3), 3); /* room for 3 more */
	assert_int_equal(tn_dev_tx(x.a, p + 8, 4), 3);
	assert_int_equal(tn_dev_tx(x.a, p + 11, 1), 0);
	for (uint32_t i = 0; i < 3; i++) {
		check_frame(in[i], 100, i);
		tn_pkt_free(in[i]);
	}
	uint32_t next = 3;
	while (next < 12) {
		unsigned n = tn_dev_rx(x.b, x.mp, in, 16);
		assert_true(n > 0);
		for (unsigned i = 0; i < n; i++, next++) {
			check_frame(in[i], 100, next);
			tn_pkt_free(in[i]);
		}
		if (next == 11)
			assert_int_equal(tn_dev_tx(x.a, p + 11, 1), 1);
	}
	assert_int_equal(x.b->stats.rx_packets, 12);

	/* 1000 laps of uneven bursts through a ring of 8 */
	uint32_t sent = 0, recv = 0;
	for (int lap = 0; lap < 1000; lap++) {
		struct tn_pkt *burst[5];
		unsigned k = (unsigned)(lap % 5) + 1;
		for (unsigned i = 0; i < k; i++)
			burst[i] = frame(x.mp, 64, sent + i);
		unsigned took = tn_dev_tx(x.a, burst, k);
		sent += took;
		for (unsigned i = took; i < k; i++)
			tn_pkt_free(burst[i]);
		unsigned n = tn_dev_rx(x.b, x.mp, in, (unsigned)(lap % 3) + 1);
		for (unsigned i = 0; i < n; i++, recv++) {
			check_frame(in[i], 64, recv);
			tn_pkt_free(in[i]);
		}
	}
	unsigned n;
	while ((n = tn_dev_rx(x.b, x.mp, in, 16)) > 0)
		for (unsigned i = 0; i < n; i++, recv++) {
			check_frame(in[i], 64, recv);
			tn_pkt_free(in[i]);
		}
	assert_int_equal(recv, sent);
	assert_true(sent > 1000);
	pair_free(&x);
}

/* With no buffer to copy into, frames wait in the ring, in order. */
static void test_rx_pool_empty(void **state)
{
	(void)state;
	struct pair x;
	pair_new(&x, 16, 64);
	struct tn_mempool *tiny = tn_mempool_new(2);
	for (uint32_t i = 0; i < 5; i++) {
		struct tn_pkt *p = frame(x.mp, 200, i);
		assert_int_equal(tn_dev_tx(x.a, &p, 1), 1);
	}
	struct tn_pkt *in[8];
	assert_int_equal(tn_dev_rx(x.b, tiny, in, 8), 2);
	check_frame(in[0], 200, 0);
	check_frame(in[1], 200, 1);
	struct tn_pkt *more[8];
	assert_int_equal(tn_dev_rx(x.b, tiny, more, 8), 0);
	assert_int_equal(tn_dev_next_event(x.b), x.b->now); /* still waiting */
	assert_int_equal(x.b->stats.rx_packets, 2);
	tn_pkt_free(in[0]);
	tn_pkt_free(in[1]);
	assert_int_equal(tn_dev_rx(x.b, tiny, in, 8), 2);
	check_frame(in[0], 200, 2);
	check_frame(in[1], 200, 3);
	tn_pkt_free(in[0]);
	assert_int_equal(tn_dev_rx(x.b, tiny, more, 8), 1);
	check_frame(more[0], 200, 4);
	tn_pkt_free(in[1]);
	tn_pkt_free(more[0]);
	assert_int_equal(tn_dev_next_event(x.b), UINT64_MAX);
	assert_int_equal(x.b->stats.rx_packets, 5);
	assert_int_equal(tn_mempool_in_use(tiny), 0);
	tn_mempool_free(tiny);
	pair_free(&x);
}

/* A chain goes out as one frame and arrives as one linear segment. */
static void test_chain_flattened(void **state)
{
	(void)state;
	struct pair x;
	pair_new(&x, 8, 64);
	uint8_t want[1500];
	for (uint32_t i = 0; i < sizeof(want); i++)
		want[i] = pattern(9, i);
	struct tn_pkt *head = tn_pkt_from_bytes(x.mp, want, 14);
	/* a middle segment whose data does not start where it was put */
	struct tn_pkt *mid = tn_pkt_alloc(x.mp);
	uint8_t *m = tn_pkt_put(mid, 520);
	memset(m, 0xee, 20);
	memcpy(m + 20, want + 14, 500);
	tn_pkt_pull(mid, 20);
	struct tn_pkt *tail = tn_pkt_from_bytes(x.mp, want + 514, sizeof(want) - 514);
	tn_pkt_chain(mid, tail);
	tn_pkt_chain(head, mid);
	assert_int_equal(head->pkt_len, sizeof(want));
	assert_int_equal(tn_dev_tx(x.a, &head, 1), 1);
	assert_int_equal(tn_mempool_in_use(x.mp), 0); /* every segment freed */
	struct tn_pkt *in;
	assert_int_equal(tn_dev_rx(x.b, x.mp, &in, 1), 1);
	check_frame(in, sizeof(want), 9);
	assert_int_equal(x.a->stats.tx_bytes, sizeof(want));
	tn_pkt_free(in);
	pair_free(&x);
}

/* A frame no slot can hold is consumed, freed and counted, whether or not
 * the ring has room, and does not hold up the frames after it.  A frame of
 * exactly one slot goes through. */
static void test_oversized(void **state)
{
	(void)state;
	struct pair x;
	pair_new(&x, 2, 64);
	struct tn_pkt *huge = frame(x.mp, TN_PKT_DATAROOM, 1);
	tn_pkt_chain(huge, frame(x.mp, 1, 2));
	struct tn_pkt *exact = frame(x.mp, 2000, 3);
	tn_pkt_chain(exact, frame(x.mp, TN_PKT_DATAROOM - 2000, 4));
	struct tn_pkt *small = frame(x.mp, 60, 5);
	struct tn_pkt *v[3] = {huge, exact, small};
	assert_int_equal(tn_dev_tx(x.a, v, 3), 3);
	assert_int_equal(x.a->stats.tx_dropped, 1);
	assert_int_equal(x.a->stats.tx_packets, 2);
	assert_int_equal(x.a->stats.tx_bytes, TN_PKT_DATAROOM + 60);
	assert_int_equal(tn_mempool_in_use(x.mp), 0);

	/* the ring is now full: an oversized frame is still consumed, the
	 * normal frame after it is refused */
	huge = frame(x.mp, TN_PKT_DATAROOM, 1);
	tn_pkt_chain(huge, frame(x.mp, 100, 2));
	small = frame(x.mp, 60, 6);
	struct tn_pkt *w[2] = {huge, small};
	assert_int_equal(tn_dev_tx(x.a, w, 2), 1);
	assert_int_equal(x.a->stats.tx_dropped, 2);
	tn_pkt_free(small);

	struct tn_pkt *in[4];
	assert_int_equal(tn_dev_rx(x.b, x.mp, in, 4), 2);
	assert_int_equal(in[0]->len, TN_PKT_DATAROOM);
	for (uint32_t i = 0; i < 2000; i++)
		assert_int_equal(in[0]->data[i], pattern(3, i));
	for (uint32_t i = 0; i < TN_PKT_DATAROOM - 2000; i++)
		assert_int_equal(in[0]->data[2000 + i], pattern(4, i));
	check_frame(in[1], 60, 5);
	tn_pkt_free(in[0]);
	tn_pkt_free(in[1]);
	pair_free(&x);
}

/* Frames still on the wire when the link goes away are freed with it, in
 * either order of destruction (ASan checks the memory). */
static void test_destroy_in_flight(void **state)
{
	(void)state;
	for (int order = 0; order < 2; order++) {
		struct tn_mempool *mp = tn_mempool_new(16);
		struct tn_dev *a, *b;
		assert_int_equal(tn_memlink_pair("d-a", "d-b", TN_DEV_L2, 1500, 4, &a, &b), 0);
		for (uint32_t i = 0; i < 3; i++) {
			struct tn_pkt *p = frame(mp, 300, i), *q = frame(mp, 300, i);
			assert_int_equal(tn_dev_tx(a, &p, 1), 1);
			assert_int_equal(tn_dev_tx(b, &q, 1), 1);
		}
		if (order == 0) {
			tn_dev_destroy(a);
			/* the survivor still receives what was sent before */
			struct tn_pkt *in[4];
			assert_int_equal(tn_dev_rx(b, mp, in, 4), 3);
			for (unsigned i = 0; i < 3; i++)
				tn_pkt_free(in[i]);
			tn_dev_destroy(b);
		} else {
			tn_dev_destroy(b);
			tn_dev_destroy(a);
		}
		assert_int_equal(tn_mempool_in_use(mp), 0);
		tn_mempool_free(mp);
	}
}

static void test_stats(void **state)
{
	(void)state;
	struct pair x;
	pair_new(&x, 16, 64);
	uint64_t bytes = 0;
	for (uint32_t i = 0; i < 10; i++) {
		struct tn_pkt *p = frame(x.mp, 100 + i * 10, i);
		bytes += 100 + i * 10;
		tn_dev_tx(x.a, &p, 1);
	}
	struct tn_pkt *q = frame(x.mp, 42, 0);
	tn_dev_tx(x.b, &q, 1);
	struct tn_pkt *in[16];
	unsigned n = tn_dev_rx(x.b, x.mp, in, 16);
	assert_int_equal(n, 10);
	for (unsigned i = 0; i < n; i++)
		tn_pkt_free(in[i]);
	assert_int_equal(tn_dev_rx(x.a, x.mp, in, 16), 1);
	tn_pkt_free(in[0]);
	assert_int_equal(x.a->stats.tx_packets, 10);
	assert_int_equal(x.a->stats.tx_bytes, bytes);
	assert_int_equal(x.b->stats.rx_packets, 10);
	assert_int_equal(x.b->stats.rx_bytes, bytes);
	assert_int_equal(x.b->stats.tx_packets, 1);
	assert_int_equal(x.b->stats.tx_bytes, 42);
	assert_int_equal(x.a->stats.rx_packets, 1);
	assert_int_equal(x.a->stats.rx_bytes, 42);
	assert_int_equal(x.a->stats.tx_dropped + x.a->stats.rx_dropped, 0);
	pair_free(&x);
}

/* Two threads, one per end, each with its own pool: every frame crosses
 * intact and in order through a small ring that is full most of the time. */
#define THREAD_FRAMES 200000u

struct thread_end {
	struct tn_dev *dev;
	uint32_t bad;
};

static void *producer(void *arg)
{
	struct thread_end *t = arg;
	struct tn_mempool *mp = tn_mempool_new(64);
	uint32_t seq = 0;
	while (seq < THREAD_FRAMES) {
		struct tn_pkt *p = tn_pkt_alloc(mp);
		uint32_t len = 4 + seq % 200;
		uint8_t *d = tn_pkt_put(p, len);
		memcpy(d, &seq, 4);
		memset(d + 4, (int)(seq & 0xff), len - 4);
		while (tn_dev_tx(t->dev, &p, 1) == 0)
			sched_yield();
		seq++;
	}
	t->bad = tn_mempool_in_use(mp);
	tn_mempool_free(mp);
	return NULL;
}

static void *consumer(void *arg)
{
	struct thread_end *t = arg;
	struct tn_mempool *mp = tn_mempool_new(64);
	uint32_t want = 0;
	struct tn_pkt *in[TN_DEV_BURST];
	while (want < THREAD_FRAMES) {
		unsigned n = tn_dev_rx(t->dev, mp, in, TN_DEV_BURST);
		if (n == 0)
			sched_yield();
		for (unsigned i = 0; i < n; i++, want++) {
			uint32_t seq;
			memcpy(&seq, in[i]->data, 4);
			if (seq != want || in[i]->len != 4 + want % 200 ||
			    (in[i]->len > 4 && in[i]->data[in[i]->len - 1] != (uint8_t)(want & 0xff)))
				t->bad++;
			tn_pkt_free(in[i]);
		}
	}
	t->bad += tn_mempool_in_use(mp);
	tn_mempool_free(mp);
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	struct tn_dev *a, *b;
	assert_int_equal(tn_memlink_pair("t-a", "t-b", TN_DEV_L2, 1500, 16, &a, &b), 0);
	struct thread_end ta = {a, 0}, tb = {b, 0};
	pthread_t pa, pb;
	assert_int_equal(pthread_create(&pb, NULL, consumer, &tb), 0);
	assert_int_equal(pthread_create(&pa, NULL, producer, &ta), 0);
	pthread_join(pa, NULL);
	pthread_join(pb, NULL);
	assert_int_equal(ta.bad, 0);
	assert_int_equal(tb.bad, 0);
	assert_int_equal(a->stats.tx_packets, THREAD_FRAMES);
	assert_int_equal(b->stats.rx_packets, THREAD_FRAMES);
	assert_int_equal(tn_dev_next_event(b), UINT64_MAX);
	tn_dev_destroy(a);
	tn_dev_destroy(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create),
		cmocka_unit_test(test_both_directions),
		cmocka_unit_test(test_ring_full),
		cmocka_unit_test(test_rx_pool_empty),
		cmocka_unit_test(test_chain_flattened),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_destroy_in_flight),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
