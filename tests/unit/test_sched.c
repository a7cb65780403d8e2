/* The qdisc framework: tc word parsing, pfifo/bfifo limits, pfifo_fast's
 * strict band priority, peek, the registry, and the device root's
 * requeue and TSQ accounting through a stack. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
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
	return t_qenv_init(&e, 4096, 1, 100);
}

/* An IPv4 packet of `len` bytes (data at the IP header) with this TOS; the
 * IP id carries a sequence number to check order. */
static struct tn_pkt *ip_pkt(struct t_qenv *e, uint8_t tos, uint16_t id, uint32_t len)
{
	struct tn_pkt *p = tn_pkt_alloc(e->mp);
	assert_non_null(p);
	uint8_t *d = tn_pkt_put(p, len);
	memset(d, 0, len);
	d[0] = 0x45;
	d[1] = tos;
	d[2] = (uint8_t)(len >> 8);
	d[3] = (uint8_t)len;
	d[4] = (uint8_t)(id >> 8);
	d[5] = (uint8_t)id;
	d[9] = 17;
	p->l3_off = tn_pkt_off(p, d);
	return p;
}

static uint16_t pkt_id(const struct tn_pkt *p) { return (uint16_t)(p->data[4] << 8 | p->data[5]); }

static struct tn_qdisc *mk(struct t_qenv *e, const char *kind, const char *words)
{
	return t_qdisc_root(&e->q, kind, words, NULL);
}

static void test_parse_words(void **state)
{
	(void)state;
	uint64_t r, t;
	uint32_t sz, h;
	double p;
	assert_int_equal(tn_tc_get_rate("5mbit", &r), 0);
	assert_int_equal(r, 625000);
	assert_int_equal(tn_tc_get_rate("220kbit", &r), 0);
	assert_int_equal(r, 27500);
	assert_int_equal(tn_tc_get_rate("1gbit", &r), 0);
	assert_int_equal(r, 125000000);
	assert_int_equal(tn_tc_get_rate("100kbps", &r), 0); /* bytes per second */
	assert_int_equal(r, 100000);
	assert_int_equal(tn_tc_get_rate("8000", &r), 0); /* bare: bits per second */
	assert_int_equal(r, 1000);
	assert_int_equal(tn_tc_get_rate("5 mbit", &r), -1);
	assert_int_equal(tn_tc_get_rate("fast", &r), -1);
	assert_int_equal(tn_tc_get_rate("-5mbit", &r), -1);
	assert_int_equal(tn_tc_get_size("15k", &sz), 0);
	assert_int_equal(sz, 15360);
	assert_int_equal(tn_tc_get_size("1540", &sz), 0);
	assert_int_equal(sz, 1540);
	assert_int_equal(tn_tc_get_size("1mb", &sz), 0);
	assert_int_equal(sz, 1048576);
	assert_int_equal(tn_tc_get_size("12q", &sz), -1);
	assert_int_equal(tn_tc_get_time("50ms", &t), 0);
	assert_int_equal(t, 50000000);
	assert_int_equal(tn_tc_get_time("600ms", &t), 0);
	assert_int_equal(t, 600000000);
	assert_int_equal(tn_tc_get_time("10", &t), 0); /* bare: microseconds */
	assert_int_equal(t, 10000);
	assert_int_equal(tn_tc_get_time("1s", &t), 0);
	assert_int_equal(t, 1000000000);
	assert_int_equal(tn_tc_get_percent("10%", &p), 0);
	assert_true(p > 0.0999 && p < 0.1001);
	assert_int_equal(tn_tc_get_percent("0.5", &p), 0); /* bare: still percent, as tc */
	assert_true(p > 0.00499 && p < 0.00501);
	assert_int_equal(tn_tc_get_percent("150%", &p), -1);
	assert_int_equal(tn_tc_get_handle("1:", &h), 0);
	assert_int_equal(h, 0x10000);
	assert_int_equal(tn_tc_get_handle("1:10", &h), 0); /* hex, as tc */
	assert_int_equal(h, 0x10010);
	assert_int_equal(tn_tc_get_handle("ffff:", &h), 0);
	assert_int_equal(h, 0xffff0000u);
	assert_int_equal(tn_tc_get_handle("root", &h), 0);
	assert_int_equal(h, TN_TC_H_ROOT);
	assert_int_equal(tn_tc_get_handle("1", &h), -1);
	assert_int_equal(tn_tc_get_handle("10000:", &h), -1);
	assert_int_equal(tn_tc_get_handle("1:g", &h), -1);
	char b[32];
	tn_tc_print_rate(b, sizeof(b), 625000);
	assert_string_equal(b, "5Mbit");
	tn_tc_print_rate(b, sizeof(b), 27500);
	assert_string_equal(b, "220Kbit");
	tn_tc_print_size(b, sizeof(b), 15360);
	assert_string_equal(b, "15Kb");
	tn_tc_print_size(b, sizeof(b), 1540);
	assert_string_equal(b, "1540b");
	tn_tc_print_time(b, sizeof(b), 50000000);
	assert_string_equal(b, "50ms");
	tn_tc_print_time(b, sizeof(b), 1500000);
	assert_string_equal(b, "1.5ms");
}

static void test_registry(void **state)
{
	struct t_qenv *e = *state;
	size_t n;
	const struct tn_qdisc_ops *const *all = tn_qdisc_all_ops(&n);
	assert_true(n >= 3);
	for (size_t i = 0; i < n; i++)
		assert_ptr_equal(tn_qdisc_lookup_ops(all[i]->kind), all[i]);
	struct tn_qerr err;
	assert_null(tn_qdisc_create(&e->q, "nosuch", 0, TN_TC_H_ROOT, 0, NULL, &err));
	assert_non_null(strstr(err.msg, "nosuch"));
	char *bad[] = {"limit", "lots"};
	assert_null(tn_qdisc_create(&e->q, "pfifo", 0, TN_TC_H_ROOT, 2, bad, &err));
	assert_non_null(strstr(err.msg, "lots"));
	char *unknown[] = {"burst", "10"};
	assert_null(tn_qdisc_create(&e->q, "pfifo", 0, TN_TC_H_ROOT, 2, unknown, &err));
	assert_non_null(strstr(err.msg, "burst"));
	assert_null(tn_qdisc_create(&e->q, "pfifo_fast", 0, TN_TC_H_ROOT, 2, unknown, &err));
}

static void test_pfifo_limit_and_order(void **state)
{
	struct t_qenv *e = *state;
	struct tn_qdisc *q = mk(e, "pfifo", "limit 5");
	assert_non_null(q);
	for (uint16_t i = 0; i < 8; i++)
		assert_int_equal(tn_qdisc_enqueue(q, ip_pkt(e, 0, i, 100)), i < 5 ? TN_QDISC_OK : TN_QDISC_DROP);
	assert_int_equal(q->stats.qlen, 5);
	assert_int_equal(q->stats.backlog, 500);
	assert_int_equal(q->stats.drops, 3);
	struct tn_pkt *pk = tn_qdisc_peek(q);
	assert_int_equal(pkt_id(pk), 0);
	for (uint16_t i = 0; i < 5; i++) {
		struct tn_pkt *p = tn_qdisc_dequeue(q);
		assert_int_equal(pkt_id(p), i);
		tn_pkt_free(p);
	}
	assert_null(tn_qdisc_dequeue(q));
	assert_int_equal(q->stats.packets, 5);
	assert_int_equal(q->stats.bytes, 500);
	char d[64];
	q->ops->dump(q, d, sizeof(d));
	assert_string_equal(d, "limit 5p");
	tn_qdisc_destroy(q);
}

static void test_bfifo_byte_limit(void **state)
{
	struct t_qenv *e = *state;
	struct tn_qdisc *q = mk(e, "bfifo", "limit 1000");
	assert_non_null(q);
	assert_int_equal(tn_qdisc_enqueue(q, ip_pkt(e, 0, 1, 600)), TN_QDISC_OK);
	assert_int_equal(tn_qdisc_enqueue(q, ip_pkt(e, 0, 2, 600)), TN_QDISC_DROP);
	assert_int_equal(tn_qdisc_enqueue(q, ip_pkt(e, 0, 3, 400)), TN_QDISC_OK);
	assert_int_equal(q->stats.backlog, 1000);
	tn_qdisc_destroy(q); /* frees what it holds */
}

/* pfifo_fast: interactive TOS (0x10) is band 0, best effort band 1, bulk
 * (0x08) band 2; band 1 is never served while band 0 has packets. */
static void test_pfifo_fast_bands(void **state)
{
	struct t_qenv *e = *state;
	struct tn_qdisc *q = mk(e, "pfifo_fast", "");
	assert_non_null(q);
	uint8_t tos[3] = {0x08, 0x00, 0x10}; /* bulk, best effort, interactive */
	uint16_t id = 0;
	for (int round = 0; round < 10; round++)
		for (int b = 0; b < 3; b++)
			tn_qdisc_enqueue(q, ip_pkt(e, tos[b], (uint16_t)(b * 100 + id++ / 3), 100));
	int last_band = 0;
	for (int i = 0; i < 30; i++) {
		struct tn_pkt *p = tn_qdisc_dequeue(q);
		assert_non_null(p);
		int band = p->data[1] == 0x10 ? 0 : p->data[1] == 0 ? 1 : 2;
		assert_true(band >= last_band); /* strict priority: never back to a higher band */
		last_band = band;
		tn_pkt_free(p);
	}
	assert_null(tn_qdisc_dequeue(q));
	/* a packet not IPv4 (no l3_off) is best effort */
	struct tn_pkt *arp = tn_pkt_alloc(e->mp);
	tn_pkt_put(arp, 42);
	tn_qdisc_enqueue(q, ip_pkt(e, 0x08, 7, 100));
	tn_qdisc_enqueue(q, arp);
	assert_ptr_equal(tn_qdisc_dequeue(q), arp);
	tn_pkt_free(arp);
	char d[96];
	q->ops->dump(q, d, sizeof(d));
	assert_string_equal(d, "bands 3 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1");
	tn_qdisc_destroy(q);
}

/* The device's limit: txqueuelen packets in all bands together. */
static void test_pfifo_fast_limit(void **state)
{
	struct t_qenv *e = *state;
	struct tn_qdisc *q = mk(e, "pfifo_fast", "");
	int dropped = 0;
	for (uint16_t i = 0; i < 150; i++)
		dropped += tn_qdisc_enqueue(q, ip_pkt(e, i % 2 ? 0x10 : 0, i, 60)) == TN_QDISC_DROP;
	assert_int_equal(dropped, 50);
	assert_int_equal(q->stats.qlen, 100);
	assert_int_equal(q->stats.drops, 50);
	tn_qdisc_destroy(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_words),
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_pfifo_limit_and_order),
		cmocka_unit_test(test_bfifo_byte_limit),
		cmocka_unit_test(test_pfifo_fast_bands),
		cmocka_unit_test(test_pfifo_fast_limit),
	};
	return cmocka_run_group_tests(tests, setup, t_qenv_teardown);
}
