/* tbf on a virtual clock: tc's words and dump, the long-run rate, the
 * initial burst, the peak bucket, exact watchdog times, limit drops, large
 * segments cut up to fit the bucket, and its child class. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/pkt.h"
#include "sched/qdisc.h"
#include "sched/sch_ops.h"

#include "qenv.h"

static int setup(void **state)
{
	static struct t_qenv e;
	*state = &e;
	return t_qenv_init(&e, 4096, 1, 1000);
}

/* An IPv4/UDP packet of len bytes (data at the IP header); the IP id
 * carries a sequence number. */
static struct tn_pkt *udp_pkt(struct t_qenv *e, uint16_t id, uint32_t len)
{
	struct tn_pkt *p = tn_pkt_alloc(e->mp);
	assert_non_null(p);
	uint8_t *d = tn_pkt_put(p, len);
	assert_non_null(d);
	memset(d, 0, len);
	d[0] = 0x45;
	d[2] = (uint8_t)(len >> 8);
	d[3] = (uint8_t)len;
	d[4] = (uint8_t)(id >> 8);
	d[5] = (uint8_t)id;
	d[8] = 64;
	d[9] = 17;
	d[12] = 10, d[15] = 1;
	d[16] = 10, d[19] = 2;
	d[20] = 0x30, d[21] = 0x39, d[22] = 0, d[23] = 80;
	p->l3_off = tn_pkt_off(p, d);
	return p;
}

static uint16_t pkt_id(const struct tn_pkt *p) { return (uint16_t)(p->data[4] << 8 | p->data[5]); }

static struct tn_qdisc *mk_err(struct t_qenv *e, const char *kind, const char *words, struct tn_qerr *err)
{
	return t_qdisc_root(&e->q, kind, words, err);
}

static struct tn_qdisc *mk(struct t_qenv *e, const char *kind, const char *words)
{
	struct tn_qdisc *q = t_qdisc_root(&e->q, kind, words, NULL);
	assert_non_null(q);
	return q;
}

static void expect_error(struct t_qenv *e, const char *words, const char *needle)
{
	struct tn_qerr err = {{0}};
	struct tn_qdisc *q = mk_err(e, "tbf", words, &err);
	if (q)
		tn_qdisc_destroy(q);
	assert_null(q);
	if (!strstr(err.msg, needle))
		print_message("\"%s\": error \"%s\" does not name \"%s\"\n", words, err.msg, needle);
	assert_non_null(strstr(err.msg, needle));
}

static void expect_dump(struct tn_qdisc *q, const char *want)
{
	char d[160];
	q->ops->dump(q, d, sizeof(d));
	assert_string_equal(d, want);
}

static void test_tbf_words_and_dump(void **state)
{
	struct t_qenv *e = *state;
	/* tc-tbf(8)'s example, as written */
	struct tn_qdisc *q = mk(e, "tbf", "rate 220kbit latency 50ms burst 1540");
	expect_dump(q, "rate 220Kbit burst 1540b lat 50ms");
	/* the child fifo's limit is rate * latency + burst, as tc computes */
	struct tn_qdisc *leaf = q->ops->cl->leaf(q, TN_TC_H(1, 1));
	assert_non_null(leaf);
	assert_string_equal(leaf->ops->kind, "bfifo");
	expect_dump(leaf, "limit 2915b");
	tn_qdisc_destroy(q);

	q = mk(e, "tbf", "rate 1mbit burst 10k limit 30000");
	expect_dump(q, "rate 1Mbit burst 10Kb lat 158.1ms");
	tn_qdisc_destroy(q);
	q = mk(e, "tbf", "rate 1mbit burst 10k limit 5000"); /* the burst alone is more: tc shows the limit */
	expect_dump(q, "rate 1Mbit burst 10Kb limit 5000b");
	tn_qdisc_destroy(q);
	q = mk(e, "tbf", "rate 1mbit buffer 10k/8 peakrate 2mbit minburst 1514 lat 50ms mpu 64");
	expect_dump(q, "rate 1Mbit burst 10Kb peakrate 2Mbit minburst 1514b lat 50ms mpu 64b");
	tn_qdisc_destroy(q);

	expect_error(e, "burst 1540 latency 50ms", "rate");
	expect_error(e, "rate 1mbit latency 50ms", "burst");
	expect_error(e, "rate 1mbit burst 10k", "latency");
	expect_error(e, "rate 1mbit burst 10k latency 50ms limit 10000", "double");
	expect_error(e, "rate 1mbit burst 10k latency 50ms peakrate 2mbit", "mtu");
	expect_error(e, "rate 1mbit burst 10k latency 50ms peakrate 1mbit mtu 1514", "peakrate");
	expect_error(e, "rate fast burst 10k latency 50ms", "fast");
	expect_error(e, "rate 1mbit burst 10q latency 50ms", "10q");
	expect_error(e, "rate 1mbit burst 10k latency soon", "soon");
	expect_error(e, "rate 1mbit burst 10k latency 50ms colour red", "colour");
	expect_error(e, "rate 1mbit burst 10k latency", "latency");
}

/* Keep q holding `depth` packets of len bytes, or as many as its limit takes. */
static void fill(struct t_qenv *e, struct tn_qdisc *q, uint32_t depth, uint32_t len, uint16_t *id)
{
	while (q->stats.qlen < depth)
		if (tn_qdisc_enqueue(q, udp_pkt(e, (*id)++, len)) != TN_QDISC_OK)
			break;
	assert_true(q->stats.qlen > 0);
}

/* Dequeue as fast as tbf allows for `dur` ns from now, with a saturating
 * source; the bytes sent. */
static uint64_t run_saturated(struct t_qenv *e, struct tn_qdisc *q, uint64_t dur, uint32_t len)
{
	uint64_t end = e->q.now + dur, bytes = 0;
	uint16_t id = 0;
	for (;;) {
		fill(e, q, 8, len, &id);
		e->q.wake_at = UINT64_MAX;
		struct tn_pkt *p = tn_qdisc_dequeue(q);
		if (p) {
			bytes += tn_qdisc_pkt_len(p);
			tn_pkt_free(p);
			continue;
		}
		assert_true(e->q.wake_at > e->q.now && e->q.wake_at != UINT64_MAX);
		if (e->q.wake_at > end)
			break;
		e->q.now = e->q.wake_at;
	}
	e->q.now = end;
	return bytes;
}

/* 10 s of virtual time at 10 mbit and at 220 kbit: the rate is held
 * within 1% (counting the initial burst as tbf's allowance). */
static void test_tbf_rate(void **state)
{
	struct t_qenv *e = *state;
	struct {
		const char *words;
		double rate, burst;
		uint32_t len;
	} cases[] = {
		{"rate 10mbit burst 10k latency 50ms", 1.25e6, 10240, 1514},
		{"rate 220kbit latency 50ms burst 1540", 27500, 1540, 1000},
		{"rate 220kbit latency 50ms burst 1540", 27500, 1540, 77},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t_qenv_reset(state);
		struct tn_qdisc *q = mk(e, "tbf", cases[i].words);
		uint64_t bytes = run_saturated(e, q, 10000000000ull, cases[i].len);
		double measured = ((double)bytes - cases[i].burst) / 10.0;
		double rel = fabs(measured - cases[i].rate) / cases[i].rate;
		double raw = fabs((double)bytes / 10.0 - cases[i].rate) / cases[i].rate;
		print_message("tbf %s, %u-byte packets: %.1f B/s over 10 s (%.4f%% off; %.3f%% counting the burst)\n",
			      cases[i].words, cases[i].len, measured, rel * 100, raw * 100);
		assert_true(rel < 0.01);
		assert_true(raw < 0.01);
		/* never more than the tokens earned */
		assert_true((double)bytes <= cases[i].rate * 10.0 + cases[i].burst + 0.5);
		assert_true(q->stats.overlimits > 0);
		tn_qdisc_destroy(q);
	}
}

/* At t=0 with a full bucket, what leaves before the first wait is at
 * most burst bytes (and as much of it as whole packets allow). */
static void test_tbf_initial_burst(void **state)
{
	struct t_qenv *e = *state;
	t_qenv_reset(state);
	struct tn_qdisc *q = mk(e, "tbf", "rate 1mbit burst 10k limit 200k");
	for (uint16_t i = 0; i < 100; i++)
		tn_qdisc_enqueue(q, udp_pkt(e, i, 1000));
	uint64_t bytes = 0;
	struct tn_pkt *p;
	while ((p = tn_qdisc_dequeue(q)) != NULL) {
		bytes += p->pkt_len;
		tn_pkt_free(p);
	}
	print_message("initial burst: %llu bytes (burst 10240)\n", (unsigned long long)bytes);
	assert_true(bytes <= 10240);
	assert_true(bytes > 10240 - 1000);
	assert_int_equal(q->stats.qlen, 90);
	assert_int_equal(q->stats.backlog, 90000);
	assert_int_equal(q->stats.packets, 10);
	assert_int_equal(q->stats.overlimits, 1);
	tn_qdisc_destroy(q);
}

/* The peak bucket: a full main bucket drains no faster than peakrate
 * (no more than mtu + peak * t bytes by time t). */
static void test_tbf_peakrate(void **state)
{
	struct t_qenv *e = *state;
	t_qenv_reset(state);
	struct tn_qdisc *q = mk(e, "tbf", "rate 1mbit burst 20k peakrate 10mbit mtu 1514 limit 200k");
	for (uint16_t i = 0; i < 40; i++)
		tn_qdisc_enqueue(q, udp_pkt(e, i, 1000));
	uint64_t bytes = 0;
	int sent = 0;
	while (sent < 20) {
		e->q.wake_at = UINT64_MAX;
		struct tn_pkt *p = tn_qdisc_dequeue(q);
		if (!p) {
			assert_true(e->q.wake_at != UINT64_MAX && e->q.wake_at > e->q.now);
			e->q.now = e->q.wake_at;
			continue;
		}
		bytes += p->pkt_len;
		sent++;
		tn_pkt_free(p);
		/* peak: bytes by now <= mtu + peak * now */
		assert_true((double)bytes <= 1514 + 1.25e6 * (double)e->q.now / 1e9 + 0.5);
	}
	/* 20 kB within the 20 KiB bucket took peak-rate time, not none */
	double t = (double)e->q.now / 1e9, want = (20000.0 - 1514) / 1.25e6;
	print_message("peakrate: 20 packets of 1000 B in %.3f ms (peak allows %.3f ms)\n", t * 1e3, want * 1e3);
	assert_true(t >= want);
	assert_true(t < want + 1000 / 1.25e6 + 1e-6);
	tn_qdisc_destroy(q);
}

/* The watchdog names the exact nanosecond the tokens suffice. */
static void test_tbf_watchdog_exact(void **state)
{
	struct t_qenv *e = *state;
	t_qenv_reset(state);
	struct tn_qdisc *q = mk(e, "tbf", "rate 1mbit burst 1500 limit 10000");
	for (uint16_t i = 0; i < 3; i++)
		tn_qdisc_enqueue(q, udp_pkt(e, i, 1500));
	e->q.now = 1000;
	struct tn_pkt *p = tn_qdisc_dequeue(q);
	assert_non_null(p);
	tn_pkt_free(p);
	e->q.wake_at = UINT64_MAX;
	assert_null(tn_qdisc_dequeue(q));
	/* 1500 bytes at 125000 B/s: 12 ms after the last send */
	uint64_t t = e->q.wake_at;
	assert_int_equal(t, 1000 + 12000000);
	assert_int_equal(q->stats.overlimits, 1);
	e->q.now = t - 1;
	e->q.wake_at = UINT64_MAX;
	assert_null(tn_qdisc_dequeue(q));
	assert_int_equal(e->q.wake_at, t);
	assert_null(tn_qdisc_peek(q));
	e->q.now = t;
	assert_non_null(tn_qdisc_peek(q));
	p = tn_qdisc_dequeue(q);
	assert_non_null(p);
	assert_int_equal(pkt_id(p), 1);
	tn_pkt_free(p);
	assert_int_equal(q->stats.qlen, 1);
	assert_int_equal(q->stats.packets, 2);
	tn_qdisc_destroy(q);
}

/* The child fifo's byte limit and packets larger than the bucket. */
static void test_tbf_limit_drops(void **state)
{
	struct t_qenv *e = *state;
	t_qenv_reset(state);
	/* latency 24 ms at 1 mbit: 3000 + 2000 burst = 5000 bytes */
	struct tn_qdisc *q = mk(e, "tbf", "rate 1mbit burst 2000 latency 24ms");
	int dropped = 0;
	for (uint16_t i = 0; i < 10; i++)
		dropped += tn_qdisc_enqueue(q, udp_pkt(e, i, 1000)) == TN_QDISC_DROP;
	assert_int_equal(dropped, 5);
	assert_int_equal(q->stats.drops, 5);
	assert_int_equal(q->stats.qlen, 5);
	assert_int_equal(q->stats.backlog, 5000);
	/* larger than the bucket: could never leave */
	assert_int_equal(tn_qdisc_enqueue(q, udp_pkt(e, 99, 2001)), TN_QDISC_DROP);
	assert_int_equal(q->stats.drops, 6);
	assert_int_equal(q->stats.qlen, 5);
	tn_qdisc_destroy(q);
}

/* A TCP large segment: 1800 payload bytes as 600-byte segments, with
 * 40 bytes of headers. */
static struct tn_pkt *tcp_gso_pkt(struct t_qenv *e)
{
	const uint32_t payload = 1800, len = 40 + payload;
	struct tn_pkt *p = tn_pkt_alloc(e->mp);
	uint8_t *d = tn_pkt_put(p, len);
	memset(d, 0, len);
	d[0] = 0x45;
	d[2] = (uint8_t)(len >> 8);
	d[3] = (uint8_t)len;
	d[8] = 64;
	d[9] = 6;
	d[12] = 10, d[15] = 1;
	d[16] = 10, d[19] = 2;
	d[20] = 0x30, d[21] = 0x39, d[23] = 80;
	d[24 + 3] = 1;   /* seq 1 */
	d[32] = 5 << 4;  /* data offset */
	d[33] = 0x10;    /* ACK */
	for (uint32_t i = 0; i < payload; i++)
		d[40 + i] = (uint8_t)i;
	p->l3_off = tn_pkt_off(p, d);
	p->l4_off = (uint16_t)(p->l3_off + 20);
	p->gso_size = 600;
	p->gso_segs = 3;
	return p;
}

static void test_tbf_gso_segment(void **state)
{
	struct t_qenv *e = *state;
	t_qenv_reset(state);
	struct tn_qdisc *q = mk(e, "tbf", "rate 1mbit burst 1000 limit 10000");
	struct tn_pkt *big = tcp_gso_pkt(e);
	assert_int_equal(tn_qdisc_pkt_len(big), 1920);
	assert_int_equal(tn_qdisc_enqueue(q, big), TN_QDISC_OK);
	assert_int_equal(q->stats.qlen, 3);
	assert_int_equal(q->stats.backlog, 3 * 640);
	uint32_t seq = 1;
	int got = 0;
	while (got < 3) {
		e->q.wake_at = UINT64_MAX;
		struct tn_pkt *p = tn_qdisc_dequeue(q);
		if (!p) {
			e->q.now = e->q.wake_at;
			continue;
		}
		assert_int_equal(p->gso_size, 0);
		assert_int_equal(p->pkt_len, 640);
		uint32_t s = (uint32_t)p->data[24] << 24 | p->data[25] << 16 | p->data[26] << 8 | p->data[27];
		assert_int_equal(s, seq);
		assert_int_equal(p->data[40], (uint8_t)(seq - 1));
		seq += 600;
		tn_pkt_free(p);
		got++;
	}
	assert_int_equal(q->stats.packets, 3);
	assert_int_equal(q->stats.qlen, 0);
	assert_int_equal(q->stats.backlog, 0);
	/* the same with a bucket smaller than one segment: all dropped, counted */
	struct tn_qdisc *q2 = mk(e, "tbf", "rate 1mbit burst 500 limit 10000");
	assert_int_equal(tn_qdisc_enqueue(q2, tcp_gso_pkt(e)), TN_QDISC_DROP);
	assert_int_equal(q2->stats.drops, 3);
	assert_int_equal(q2->stats.qlen, 0);
	tn_qdisc_destroy(q2);
	tn_qdisc_destroy(q);
}

static void count_class(void *ctx, uint32_t classid, uint32_t parent, struct tn_qdisc *leaf)
{
	int *n = ctx;
	assert_int_equal(classid, TN_TC_H(1, 1));
	assert_int_equal(parent, TN_TC_H(1, 0));
	assert_non_null(leaf);
	(*n)++;
}

/* Class 1:1 holds the child: graft a pfifo in and its limit applies;
 * tc qdisc change keeps queued packets. */
static void test_tbf_class_and_change(void **state)
{
	struct t_qenv *e = *state;
	t_qenv_reset(state);
	struct tn_qdisc *q = mk(e, "tbf", "rate 1mbit burst 1500 limit 100000");
	int n = 0;
	q->ops->cl->walk(q, count_class, &n);
	assert_int_equal(n, 1);
	tn_qdisc_enqueue(q, udp_pkt(e, 0, 100));
	char w1[] = "limit", w2[] = "2";
	char *argv[] = {w1, w2};
	struct tn_qerr err;
	struct tn_qdisc *pf = tn_qdisc_create(&e->q, "pfifo", TN_TC_H(10, 0), TN_TC_H(1, 1), 2, argv, &err);
	assert_non_null(pf);
	struct tn_qdisc *old = NULL;
	assert_int_equal(q->ops->cl->graft(q, TN_TC_H(1, 1), pf, &old), 0);
	assert_non_null(old);
	assert_int_equal(q->stats.qlen, 0);
	assert_int_equal(q->stats.drops, 1); /* what the old child held */
	tn_qdisc_destroy(old);
	assert_ptr_equal(q->ops->cl->leaf(q, TN_TC_H(1, 1)), pf);
	assert_null(q->ops->cl->leaf(q, TN_TC_H(1, 2)));
	for (uint16_t i = 0; i < 3; i++)
		tn_qdisc_enqueue(q, udp_pkt(e, i, 100));
	assert_int_equal(q->stats.qlen, 2);
	assert_int_equal(q->stats.drops, 2);
	char d[64];
	struct tn_qstats st;
	assert_int_equal(q->ops->cl->dump(q, TN_TC_H(1, 1), d, sizeof(d), &st), 0);
	assert_int_equal(st.qlen, 2);
	/* back to the default child */
	assert_int_equal(q->ops->cl->graft(q, TN_TC_H(1, 1), NULL, &old), 0);
	tn_qdisc_destroy(old);
	assert_string_equal(q->ops->cl->leaf(q, TN_TC_H(1, 1))->ops->kind, "bfifo");

	for (uint16_t i = 0; i < 4; i++)
		tn_qdisc_enqueue(q, udp_pkt(e, i, 1000));
	char *cargv[] = {"rate", "2mbit", "burst", "3000", "limit", "50000"};
	assert_int_equal(q->ops->change(q, 6, cargv, &err), 0);
	assert_int_equal(q->stats.qlen, 4);
	expect_dump(q, "rate 2Mbit burst 3000b lat 188ms");
	char *bad[] = {"rate", "2mbit"};
	assert_int_equal(q->ops->change(q, 2, bad, &err), -1);
	assert_non_null(strstr(err.msg, "burst"));
	expect_dump(q, "rate 2Mbit burst 3000b lat 188ms");
	tn_qdisc_destroy(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tbf_words_and_dump),
		cmocka_unit_test(test_tbf_rate),
		cmocka_unit_test(test_tbf_initial_burst),
		cmocka_unit_test(test_tbf_peakrate),
		cmocka_unit_test(test_tbf_watchdog_exact),
		cmocka_unit_test(test_tbf_limit_drops),
		cmocka_unit_test(test_tbf_gso_segment),
		cmocka_unit_test(test_tbf_class_and_change),
	};
	return cmocka_run_group_tests(tests, setup, t_qenv_teardown);
}
