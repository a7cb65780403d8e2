/* SPSC ring: bursts, full and empty, index wrap-around past 2^32, and a
 * producer and a consumer on two threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdint.h>

#include "core/ring.h"

#define ITEM(i) ((void *)(uintptr_t)(i))

static void test_new(void **state)
{
	(void)state;
	assert_null(tn_ring_new(0));
	assert_null(tn_ring_new(1));
	assert_null(tn_ring_new(3));
	assert_null(tn_ring_new(1000));
	struct tn_ring *r = tn_ring_new(2);
	assert_non_null(r);
	assert_int_equal(tn_ring_count(r), 0);
	tn_ring_free(r);
	r = tn_ring_new(1u << 16);
	assert_non_null(r);
	assert_int_equal(r->mask, (1u << 16) - 1);
	tn_ring_free(r);
}

static void test_bursts(void **state)
{
	(void)state;
	struct tn_ring *r = tn_ring_new(16);
	void *in[40], *out[40];
	for (uintptr_t i = 0; i < 40; i++)
		in[i] = ITEM(i + 1);
	assert_int_equal(tn_ring_dequeue_burst(r, out, 4), 0); /* empty */
	assert_int_equal(tn_ring_enqueue_burst(r, in, 0), 0);
	assert_int_equal(tn_ring_enqueue_burst(r, in, 5), 5);
	assert_int_equal(tn_ring_count(r), 5);
	assert_int_equal(tn_ring_enqueue_burst(r, in + 5, 20), 11); /* to full */
	assert_int_equal(tn_ring_count(r), 16);
	assert_int_equal(tn_ring_enqueue_burst(r, in + 16, 1), 0);  /* full */
	assert_int_equal(tn_ring_dequeue_burst(r, out, 3), 3);
	assert_ptr_equal(out[0], in[0]);
	assert_ptr_equal(out[2], in[2]);
	assert_int_equal(tn_ring_enqueue_burst(r, in + 16, 10), 3); /* the freed slots */
	assert_int_equal(tn_ring_dequeue_burst(r, out, 40), 16);
	for (int i = 0; i < 16; i++)
		assert_ptr_equal(out[i], in[i + 3]);
	assert_int_equal(tn_ring_count(r), 0);
	assert_int_equal(tn_ring_dequeue_burst(r, out, 40), 0);
	/* many laps of the slot array, with odd burst sizes */
	uintptr_t next_in = 1, next_out = 1;
	for (int lap = 0; lap < 1000; lap++) {
		unsigned want = (unsigned)(lap % 7) + 1;
		for (unsigned k = 0; k < want; k++)
			in[k] = ITEM(next_in + k);
		next_in += tn_ring_enqueue_burst(r, in, want);
		unsigned got = tn_ring_dequeue_burst(r, out, (unsigned)(lap % 5) + 1);
		for (unsigned k = 0; k < got; k++)
			assert_ptr_equal(out[k], ITEM(next_out++));
		assert_int_equal(tn_ring_count(r), next_in - next_out);
		assert_true(tn_ring_count(r) <= 16);
	}
	tn_ring_free(r);
}

/* Put both indices just below 2^32 so the run crosses the overflow. */
static void test_index_wrap(void **state)
{
	(void)state;
	for (uint32_t start = UINT32_MAX - 20; start != 5; start++) {
		struct tn_ring *r = tn_ring_new(8);
		atomic_store(&r->head, start);
		atomic_store(&r->tail, start);
		r->head_cache = r->tail_cache = start;
		void *in[8], *out[8];
		uintptr_t next_in = 1, next_out = 1;
		for (int round = 0; round < 12; round++) {
			for (unsigned k = 0; k < 8; k++)
				in[k] = ITEM(next_in + k);
			unsigned put = tn_ring_enqueue_burst(r, in, 8);
			next_in += put;
			assert_int_equal(tn_ring_count(r), next_in - next_out);
			assert_int_equal(tn_ring_count(r), 8); /* always refilled to full */
			assert_int_equal(tn_ring_enqueue_burst(r, in, 1), 0);
			unsigned got = tn_ring_dequeue_burst(r, out, (unsigned)round % 8 + 1);
			assert_int_equal(got, (unsigned)round % 8 + 1);
			for (unsigned k = 0; k < got; k++)
				assert_ptr_equal(out[k], ITEM(next_out++));
		}
		unsigned got = tn_ring_dequeue_burst(r, out, 8);
		for (unsigned k = 0; k < got; k++)
			assert_ptr_equal(out[k], ITEM(next_out++));
		assert_int_equal(next_out, next_in);
		assert_int_equal(tn_ring_count(r), 0);
		assert_int_equal(tn_ring_dequeue_burst(r, out, 1), 0);
		tn_ring_free(r);
	}
}

struct spsc {
	struct tn_ring *r;
	uintptr_t n;
};

static void *producer(void *arg)
{
	struct spsc *a = arg;
	uintptr_t next = 1;
	unsigned burst = 1;
	while (next <= a->n) {
		void *items[32];
		unsigned k = 0;
		for (; k < burst && next + k <= a->n; k++)
			items[k] = ITEM(next + k);
		next += tn_ring_enqueue_burst(a->r, items, k);
		burst = burst % 32 + 1;
	}
	return NULL;
}

static void test_two_threads(void **state)
{
	(void)state;
	struct spsc a = {tn_ring_new(1024), 10000000};
	assert_non_null(a.r);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, producer, &a), 0);
	uintptr_t expect = 1, bad = 0;
	unsigned burst = 7;
	while (expect <= a.n) {
		void *out[64];
		unsigned got = tn_ring_dequeue_burst(a.r, out, burst);
		for (unsigned i = 0; i < got; i++)
			bad += out[i] != ITEM(expect++);
		burst = burst % 64 + 1;
	}
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(bad, 0);
	assert_int_equal(expect, a.n + 1);
	assert_int_equal(tn_ring_count(a.r), 0);
	tn_ring_free(a.r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new),
		cmocka_unit_test(test_bursts),
		cmocka_unit_test(test_index_wrap),
		cmocka_unit_test(test_two_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
