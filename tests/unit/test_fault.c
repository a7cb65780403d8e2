/* The fault injector, driven directly on a virtual clock: it wraps one end
 * of a memlink, and what it lets through is read at the other end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "link/dev.h"

#define MS 1000000ull
#define SEC 1000000000ull

static uint8_t pattern(uint32_t seq, uint32_t i) { return (uint8_t)(seq * 31 + i * 7 + 1); }

/* A frame of len >= 4 bytes: its sequence number, then a pattern of it. */
static struct tn_pkt *frame(struct tn_mempool *mp, uint32_t seq, uint32_t len)
{
	struct tn_pkt *p = tn_pkt_alloc(mp);
	assert_non_null(p);
	uint8_t *d = tn_pkt_put(p, len);
	memcpy(d, &seq, 4);
	for (uint32_t i = 4; i < len; i++)
		d[i] = pattern(seq, i);
	return p;
}

/* Bits by which p differs from the frame `seq` of length len would be. */
static int bits_off(const struct tn_pkt *p, uint32_t seq, uint32_t len)
{
	assert_int_equal(p->pkt_len, len);
	uint8_t want[TN_PKT_DATAROOM], got[TN_PKT_DATAROOM];
	memcpy(want, &seq, 4);
	for (uint32_t i = 4; i < len; i++)
		want[i] = pattern(seq, i);
	assert_int_equal(tn_pkt_copy_out(p, 0, got, len), 0);
	int bits = 0;
	for (uint32_t i = 0; i < len; i++)
		bits += __builtin_popcount(want[i] ^ got[i]);
	return bits;
}

struct rig {
	struct tn_mempool *mp;
	struct tn_dev *a, *b, *f; /* f wraps a; b is the far end */
};

static void rig_new(struct rig *x, const struct tn_fault_cfg *cfg, uint32_t slots)
{
	x->mp = tn_mempool_new(8192);
	assert_non_null(x->mp);
	assert_int_equal(tn_memlink_pair("fa", "fb", TN_DEV_L2, 1500, slots, &x->a, &x->b), 0);
	x->f = tn_fault_new(x->a, cfg);
	assert_non_null(x->f);
	x->f->now = 0;
}

static void rig_free(struct rig *x)
{
	tn_dev_destroy(x->f); /* and x->a with it */
	tn_dev_destroy(x->b);
	assert_int_equal(tn_mempool_in_use(x->mp), 0);
	tn_mempool_free(x->mp);
}

static void send_at(struct rig *x, uint64_t now, uint32_t seq, uint32_t len)
{
	struct tn_pkt *p = frame(x->mp, seq, len);
	x->f->now = now;
	assert_int_equal(tn_dev_tx(x->f, &p, 1), 1);
}

static void service(struct rig *x, uint64_t now)
{
	x->f->now = now;
	x->f->ops->service(x->f, now);
}

/* Receive everything waiting at the far end; record sequence numbers and
 * check each frame intact (unless `any_bits`). */
static uint32_t drain(struct rig *x, uint32_t *seqs, uint32_t cap, uint32_t len, bool any_bits)
{
	struct tn_pkt *in[TN_DEV_BURST];
	uint32_t got = 0;
	unsigned n;
	while ((n = tn_dev_rx(x->b, x->mp, in, TN_DEV_BURST)) > 0) {
		for (unsigned i = 0; i < n; i++, got++) {
			uint32_t seq;
			memcpy(&seq, in[i]->data, 4);
			if (!any_bits)
				assert_int_equal(bits_off(in[i], seq, len), 0);
			if (seqs && got < cap)
				seqs[got] = seq;
			tn_pkt_free(in[i]);
		}
	}
	return got;
}

/* Send n frames one at a time at a fixed time, letting each through. */
static uint32_t send_many(struct rig *x, uint32_t n, uint32_t *seqs, uint32_t cap)
{
	uint32_t got = 0;
	for (uint32_t i = 0; i < n; i++) {
		send_at(x, 0, i, 60);
		service(x, 0);
		if ((i & 1023) == 1023)
			got += drain(x, seqs ? seqs + got : NULL, cap - got, 60, false);
	}
	return got + drain(x, seqs ? seqs + got : NULL, cap - got, 60, false);
}

static bool within(double v, double want, double tol) { return fabs(v - want) <= tol; }

/* No impairment: the decorator looks like the device it wraps and frames
 * leave at once, in order; receive passes straight through. */
static void test_passthrough(void **state)
{
	(void)state;
	for (int null_cfg = 0; null_cfg < 2; null_cfg++) {
		struct tn_fault_cfg zero = {0};
		struct rig x;
		rig_new(&x, null_cfg ? NULL : &zero, 4096);
		assert_string_equal(x.f->name, "fa");
		assert_int_equal(x.f->framing, TN_DEV_L2);
		assert_int_equal(x.f->mtu, 1500);
		assert_memory_equal(x.f->mac, x.a->mac, 6);
		assert_int_equal(tn_dev_fd(x.f), -1);
		assert_null(tn_fault_stats(x.b)); /* not a fault device */
		assert_int_equal(tn_dev_next_event(x.f), UINT64_MAX);

		struct tn_pkt *p[100];
		for (uint32_t i = 0; i < 100; i++)
			p[i] = frame(x.mp, i, 100);
		x.f->now = 5 * MS;
		assert_int_equal(tn_dev_tx(x.f, p, 100), 100);
		assert_int_equal(tn_dev_next_event(x.f), 5 * MS);
		service(&x, 5 * MS);
		uint32_t seqs[100];
		assert_int_equal(drain(&x, seqs, 100, 100, false), 100);
		for (uint32_t i = 0; i < 100; i++)
			assert_int_equal(seqs[i], i);
		const struct tn_fault_stats *st = tn_fault_stats(x.f);
		assert_int_equal(st->passed, 100);
		assert_int_equal(st->lost + st->duplicated + st->reordered + st->corrupted + st->overflow, 0);
		assert_int_equal(x.f->stats.tx_packets, 100);
		assert_int_equal(x.f->stats.tx_bytes, 100 * 100);

		struct tn_pkt *q = frame(x.mp, 7, 80), *in[4];
		tn_dev_tx(x.b, &q, 1);
		assert_int_equal(tn_dev_next_event(x.f), x.f->now); /* a frame to receive */
		assert_int_equal(tn_dev_rx(x.f, x.mp, in, 4), 1);
		assert_int_equal(bits_off(in[0], 7, 80), 0);
		tn_pkt_free(in[0]);
		assert_int_equal(x.f->stats.rx_packets, 1);
		assert_int_equal(x.f->stats.rx_bytes, 80);
		rig_free(&x);
	}
}

static void test_loss_rate(void **state)
{
	(void)state;
	struct tn_fault_cfg cfg = {.loss = 0.1, .seed = 1};
	struct rig x;
	rig_new(&x, &cfg, 4096);
	uint32_t got = send_many(&x, 100000, NULL, 0);
	const struct tn_fault_stats *st = tn_fault_stats(x.f);
	assert_true(within((double)st->lost / 100000, 0.1, 0.005));
	assert_int_equal(got, 100000 - st->lost);
	assert_int_equal(st->passed, got);
	rig_free(&x);

	struct tn_fault_cfg all = {.loss = 1.0, .seed = 1};
	rig_new(&x, &all, 64);
	assert_int_equal(send_many(&x, 1000, NULL, 0), 0);
	assert_int_equal(tn_fault_stats(x.f)->lost, 1000);
	rig_free(&x);
}

/* Each duplicate is an exact copy; the frames arrive once or twice. */
static void test_duplicate_rate(void **state)
{
	(void)state;
	enum { N = 100000 };
	struct tn_fault_cfg cfg = {.duplicate = 0.1, .seed = 2};
	struct rig x;
	rig_new(&x, &cfg, 4096);
	uint32_t *seqs = calloc(2 * N, sizeof(*seqs));
	uint8_t *seen = calloc(N, 1);
	uint32_t got = send_many(&x, N, seqs, 2 * N);
	const struct tn_fault_stats *st = tn_fault_stats(x.f);
	assert_true(within((double)st->duplicated / N, 0.1, 0.005));
	assert_int_equal(got, N + st->duplicated);
	for (uint32_t i = 0; i < got; i++) {
		assert_true(seqs[i] < N);
		seen[seqs[i]]++;
	}
	uint32_t twice = 0;
	for (uint32_t i = 0; i < N; i++) {
		assert_true(seen[i] == 1 || seen[i] == 2);
		twice += seen[i] == 2;
	}
	assert_int_equal(twice, st->duplicated);
	free(seqs);
	free(seen);
	rig_free(&x);
}

/* Corruption flips exactly one bit, anywhere in the frame, chained or not. */
static void test_corrupt_one_bit(void **state)
{
	(void)state;
	struct tn_fault_cfg cfg = {.corrupt = 1.0, .seed = 3};
	struct rig x;
	rig_new(&x, &cfg, 4096);
	uint32_t hits_first = 0, hits_last = 0;
	for (uint32_t i = 0; i < 3000; i++) {
		uint32_t len = 4 + i % 997;
		struct tn_pkt *p = frame(x.mp, i, len);
		if (i % 3 == 0 && len > 10) {
			/* move the tail into a second segment */
			struct tn_pkt *t = tn_pkt_from_bytes(x.mp, p->data + 10, len - 10);
			tn_pkt_trim(p, 10);
			tn_pkt_chain(p, t);
		}
		x.f->now = 0;
		assert_int_equal(tn_dev_tx(x.f, &p, 1), 1);
		service(&x, 0);
		struct tn_pkt *in;
		assert_int_equal(tn_dev_rx(x.b, x.mp, &in, 1), 1);
		assert_int_equal(bits_off(in, i, len), 1);
		hits_first += in->data[0] != (uint8_t)i;
		hits_last += in->data[len - 1] != (len > 4 ? pattern(i, len - 1) : (uint8_t)(i >> 24));
		tn_pkt_free(in);
	}
	assert_int_equal(tn_fault_stats(x.f)->corrupted, 3000);
	assert_true(hits_first > 0 && hits_last > 0); /* both ends of frames get hit */

	/* a packet someone else still references is left intact */
	struct tn_pkt *p = frame(x.mp, 5, 200);
	tn_pkt_ref(p);
	assert_int_equal(tn_dev_tx(x.f, &p, 1), 1);
	service(&x, 0);
	struct tn_pkt *in;
	assert_int_equal(tn_dev_rx(x.b, x.mp, &in, 1), 1);
	assert_int_equal(bits_off(in, 5, 200), 1);
	assert_int_equal(bits_off(p, 5, 200), 0);
	tn_pkt_free(in);
	tn_pkt_free(p);
	rig_free(&x);

	struct tn_fault_cfg some = {.corrupt = 0.3, .seed = 4};
	rig_new(&x, &some, 4096);
	uint32_t damaged = 0;
	for (uint32_t i = 0; i < 20000; i++) {
		send_at(&x, 0, i, 64);
		service(&x, 0);
		struct tn_pkt *r;
		assert_int_equal(tn_dev_rx(x.b, x.mp, &r, 1), 1);
		int bits = bits_off(r, i, 64);
		assert_true(bits <= 1);
		damaged += (uint32_t)bits;
		tn_pkt_free(r);
	}
	assert_int_equal(damaged, tn_fault_stats(x.f)->corrupted);
	assert_true(within(damaged / 20000.0, 0.3, 0.02));
	rig_free(&x);
}

/* A frame sent at t leaves at t+delay, not a nanosecond before. */
static void test_delay(void **state)
{
	(void)state;
	struct tn_fault_cfg cfg = {.delay_ns = 20 * MS, .seed = 5};
	struct rig x;
	rig_new(&x, &cfg, 1024);
	uint64_t t = 3 * SEC + 17;
	send_at(&x, t, 1, 60);
	send_at(&x, t + 1 * MS, 2, 60);
	assert_int_equal(tn_dev_next_event(x.f), t + 20 * MS);
	service(&x, t + 20 * MS - 1);
	assert_int_equal(drain(&x, NULL, 0, 60, false), 0);
	assert_int_equal(tn_dev_next_event(x.f), t + 20 * MS);
	uint32_t seq;
	service(&x, t + 20 * MS);
	assert_int_equal(drain(&x, &seq, 1, 60, false), 1);
	assert_int_equal(seq, 1);
	assert_int_equal(tn_dev_next_event(x.f), t + 21 * MS);
	service(&x, t + 21 * MS - 1);
	assert_int_equal(drain(&x, NULL, 0, 60, false), 0);
	service(&x, t + 21 * MS);
	assert_int_equal(drain(&x, &seq, 1, 60, false), 1);
	assert_int_equal(seq, 2);
	assert_int_equal(tn_dev_next_event(x.f), UINT64_MAX);

	/* with a fixed delay and nothing reordering, order is kept */
	for (uint32_t i = 0; i < 500; i++)
		send_at(&x, 10 * SEC + i / 10, i, 60);
	service(&x, 11 * SEC);
	uint32_t seqs[500];
	assert_int_equal(drain(&x, seqs, 500, 60, false), 500);
	for (uint32_t i = 0; i < 500; i++)
		assert_int_equal(seqs[i], i);
	rig_free(&x);
}

/* Jitter adds a uniform extra delay in [0, jitter]. */
static void test_jitter(void **state)
{
	(void)state;
	struct tn_fault_cfg cfg = {.delay_ns = 10 * MS, .jitter_ns = 5 * MS, .seed = 6};
	struct rig x;
	rig_new(&x, &cfg, 64);
	enum { N = 10000 };
	uint64_t lo = UINT64_MAX, hi = 0;
	double sum = 0;
	uint32_t bins[5] = {0};
	for (uint32_t i = 0; i < N; i++) {
		uint64_t t0 = (uint64_t)i * SEC;
		send_at(&x, t0, i, 60);
		uint64_t extra = tn_dev_next_event(x.f) - t0;
		lo = extra < lo ? extra : lo;
		hi = extra > hi ? extra : hi;
		sum += (double)extra;
		uint64_t bin = (extra - 10 * MS) / MS;
		bins[bin > 4 ? 4 : bin]++;
		service(&x, t0 + extra);
		assert_int_equal(drain(&x, NULL, 0, 60, false), 1);
	}
	assert_true(lo >= 10 * MS);
	assert_true(hi <= 15 * MS);
	assert_true(within(sum / N, 12.5 * MS, 0.1 * MS));
	for (int b = 0; b < 5; b++)
		assert_true(within(bins[b], N / 5, N / 50));
	rig_free(&x);
}

static uint64_t run_until_all(struct rig *x, uint32_t want, uint64_t *first)
{
	uint32_t got = 0;
	uint64_t t = 0;
	*first = UINT64_MAX;
	while (got < want) {
		t = tn_dev_next_event(x->f);
		assert_true(t != UINT64_MAX);
		service(x, t);
		uint32_t n = drain(x, NULL, 0, 1250, false);
		if (n && *first == UINT64_MAX)
			*first = t;
		got += n;
	}
	return t;
}

/* Serialisation: 1000 frames of 1250 bytes at 10 Mbit/s take 1 ms each. */
static void test_rate(void **state)
{
	(void)state;
	struct tn_fault_cfg cfg = {.rate_bps = 10000000, .limit = 2000, .seed = 7};
	struct rig x;
	rig_new(&x, &cfg, 4096);
	for (uint32_t i = 0; i < 1000; i++)
		send_at(&x, 0, i, 1250);
	uint64_t first, last = run_until_all(&x, 1000, &first);
	assert_int_equal(first, 1 * MS);
	assert_true(last >= SEC - MS && last <= SEC + MS);
	/* an idle wire starts the next frame when it is sent */
	send_at(&x, 10 * SEC, 0, 1250);
	assert_int_equal(tn_dev_next_event(x.f), 10 * SEC + 1 * MS);
	service(&x, 10 * SEC + 1 * MS);
	assert_int_equal(drain(&x, NULL, 0, 1250, false), 1);
	rig_free(&x);

	/* a rate that does not divide a frame's time keeps its exact pace:
	 * 300 frames of 10,000 bits at 3 Mbit/s are one second */
	struct tn_fault_cfg odd = {.rate_bps = 3000000, .seed = 7};
	rig_new(&x, &odd, 4096);
	for (uint32_t i = 0; i < 300; i++)
		send_at(&x, 0, i, 1250);
	last = run_until_all(&x, 300, &first);
	assert_int_equal(first, 3333333);
	assert_int_equal(last, SEC);
	rig_free(&x);

	/* delay first, then the wire */
	struct tn_fault_cfg both = {.rate_bps = 10000000, .delay_ns = 50 * MS, .seed = 7};
	rig_new(&x, &both, 64);
	send_at(&x, 0, 0, 1250);
	send_at(&x, 0, 1, 1250);
	last = run_until_all(&x, 2, &first);
	assert_int_equal(first, 51 * MS);
	assert_int_equal(last, 52 * MS);
	rig_free(&x);
}

/* Reordered frames jump the queue: some arrive early, none is lost. */
static void test_reorder(void **state)
{
	(void)state;
	enum { N = 1000 };
	struct tn_fault_cfg cfg = {.delay_ns = 1 * MS, .reorder = 0.25, .seed = 8};
	struct rig x;
	rig_new(&x, &cfg, 4096);
	uint32_t seqs[N], got = 0;
	for (uint32_t i = 0; i < N; i++) {
		uint64_t t = (uint64_t)i * 100000; /* one every 100 us */
		send_at(&x, t, i, 60);
		service(&x, t);
		got += drain(&x, seqs + got, N - got, 60, false);
	}
	service(&x, SEC);
	got += drain(&x, seqs + got, N - got, 60, false);
	assert_int_equal(got, N);
	const struct tn_fault_stats *st = tn_fault_stats(x.f);
	assert_int_equal(st->lost + st->overflow, 0);
	assert_true(within(st->reordered / (double)N, 0.25, 0.05));
	uint8_t seen[N] = {0};
	uint32_t out_of_order = 0;
	for (uint32_t i = 0; i < N; i++) {
		seen[seqs[i]]++;
		out_of_order += i > 0 && seqs[i] < seqs[i - 1];
	}
	for (uint32_t i = 0; i < N; i++)
		assert_int_equal(seen[i], 1);
	assert_true(out_of_order > 50);
	rig_free(&x);
}

/* Beyond the limit, frames are dropped and counted as overflow. */
static void test_limit(void **state)
{
	(void)state;
	struct tn_fault_cfg cfg = {.delay_ns = 1 * MS, .limit = 10, .seed = 9};
	struct rig x;
	rig_new(&x, &cfg, 64);
	for (uint32_t i = 0; i < 25; i++)
		send_at(&x, 0, i, 60);
	assert_int_equal(tn_fault_stats(x.f)->overflow, 15);
	assert_int_equal(x.f->stats.tx_dropped, 15);
	assert_int_equal(tn_mempool_in_use(x.mp), 10);
	service(&x, 1 * MS);
	uint32_t seqs[10];
	assert_int_equal(drain(&x, seqs, 10, 60, false), 10);
	for (uint32_t i = 0; i < 10; i++)
		assert_int_equal(seqs[i], i);
	/* room again once they left */
	send_at(&x, 2 * MS, 99, 60);
	assert_int_equal(tn_fault_stats(x.f)->overflow, 15);
	service(&x, 3 * MS);
	assert_int_equal(drain(&x, NULL, 0, 60, false), 1);
	rig_free(&x);

	struct tn_fault_cfg dflt = {.delay_ns = 1 * MS, .seed = 9}; /* limit 0: 1000 */
	rig_new(&x, &dflt, 4096);
	for (uint32_t i = 0; i < 1200; i++)
		send_at(&x, 0, i, 60);
	assert_int_equal(tn_fault_stats(x.f)->overflow, 200);
	service(&x, 1 * MS);
	assert_int_equal(drain(&x, NULL, 0, 60, false), 1000);
	rig_free(&x);
}

/* What the lower device refuses waits and is retried, in order. */
static void test_lower_full(void **state)
{
	(void)state;
	struct rig x;
	rig_new(&x, NULL, 8);
	for (uint32_t i = 0; i < 20; i++)
		send_at(&x, 5, i, 60);
	uint32_t seqs[20], got = 0;
	for (int round = 0; round < 3; round++) {
		service(&x, 5);
		assert_int_equal(tn_fault_stats(x.f)->passed, round < 2 ? 8u * (round + 1) : 20u);
		if (round < 2)
			assert_int_equal(tn_dev_next_event(x.f), 5); /* frames still held */
		got += drain(&x, seqs + got, 20 - got, 60, false);
	}
	assert_int_equal(got, 20);
	for (uint32_t i = 0; i < 20; i++)
		assert_int_equal(seqs[i], i);
	assert_int_equal(x.a->stats.tx_dropped, 0);
	assert_int_equal(tn_dev_next_event(x.f), UINT64_MAX);
	rig_free(&x);
}

struct outcome {
	uint32_t seqs[3000];
	uint32_t got;
	uint64_t crc;
	struct tn_fault_stats st;
};

static void run_mixed(uint64_t seed, struct outcome *o)
{
	struct tn_fault_cfg cfg = {.delay_ns = 2 * MS, .jitter_ns = 1 * MS, .loss = 0.1, .duplicate = 0.05,
				   .reorder = 0.1, .corrupt = 0.1, .rate_bps = 100000000, .seed = seed};
	struct rig x;
	rig_new(&x, &cfg, 4096);
	o->got = 0;
	o->crc = 0;
	struct tn_pkt *in[TN_DEV_BURST];
	for (uint32_t i = 0; i < 2000; i++) {
		uint64_t t = (uint64_t)i * 50000;
		send_at(&x, t, i, 100 + i % 500);
		service(&x, t);
		if (i == 1999)
			service(&x, 10 * SEC);
		unsigned n;
		while ((n = tn_dev_rx(x.b, x.mp, in, TN_DEV_BURST)) > 0) {
			for (unsigned k = 0; k < n; k++) {
				for (uint32_t j = 0; j < in[k]->len; j++)
					o->crc = o->crc * 1099511628211ull + in[k]->data[j];
				assert_true(o->got < 3000);
				memcpy(&o->seqs[o->got++], in[k]->data, 4);
				tn_pkt_free(in[k]);
			}
		}
	}
	o->st = *tn_fault_stats(x.f);
	rig_free(&x);
}

/* The same seed gives the same run, to the bit; another seed does not. */
static void test_determinism(void **state)
{
	(void)state;
	static struct outcome r[3];
	run_mixed(42, &r[0]);
	run_mixed(42, &r[1]);
	run_mixed(43, &r[2]);
	assert_true(r[0].st.lost > 0 && r[0].st.duplicated > 0 && r[0].st.reordered > 0 && r[0].st.corrupted > 0);
	assert_int_equal(r[0].got, r[1].got);
	assert_memory_equal(r[0].seqs, r[1].seqs, r[0].got * sizeof(uint32_t));
	assert_true(r[0].crc == r[1].crc);
	assert_memory_equal(&r[0].st, &r[1].st, sizeof(r[0].st));
	assert_int_equal(r[0].got, 2000 - r[0].st.lost + r[0].st.duplicated);
	assert_true(r[0].crc != r[2].crc);
	assert_true(memcmp(&r[0].st, &r[2].st, sizeof(r[0].st)) != 0);
}

/* Frames still held when the device goes away are freed. */
static void test_destroy_held(void **state)
{
	(void)state;
	struct tn_fault_cfg cfg = {.delay_ns = 1 * SEC, .duplicate = 0.5, .seed = 10};
	struct rig x;
	rig_new(&x, &cfg, 64);
	for (uint32_t i = 0; i < 50; i++)
		send_at(&x, 0, i, 500);
	struct tn_pkt *p = frame(x.mp, 0, 60); /* one on the wire as well */
	tn_dev_tx(x.a, &p, 1);
	assert_true(tn_mempool_in_use(x.mp) > 50);
	rig_free(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_passthrough),
		cmocka_unit_test(test_loss_rate),
		cmocka_unit_test(test_duplicate_rate),
		cmocka_unit_test(test_corrupt_one_bit),
		cmocka_unit_test(test_delay),
		cmocka_unit_test(test_jitter),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_reorder),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_lower_full),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_destroy_held),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
