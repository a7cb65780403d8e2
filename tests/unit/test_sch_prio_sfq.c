/* prio (strict bands, priomap, filters, grafted children, classes) and sfq
 * (fair shares by Jain's index, new flows served within a round, perturb
 * rehashing without loss or reordering, drops from the longest flow). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pkt.h"
#include "sched/qdisc.h"
#include "sched/sch_cls.h"
#include "sched/sch_ops.h"

#include "qenv.h"

/* sch_sfq.c's hook for tests: the bucket a packet goes to now. */
uint32_t tn_sfq_bucket(struct tn_qdisc *q, const struct tn_pkt *p);

static int setup(void **state)
{
	static struct t_qenv e;
	*state = &e;
	return t_qenv_init(&e, 8192, 1, 1000);
}

/* IPv4/UDP from 10.0.0.1:sport to 10.0.0.2:dport, len bytes; the IP id
 * carries a sequence number. */
static struct tn_pkt *udp_pkt(struct t_qenv *e, uint8_t tos, uint16_t sport, uint16_t dport, uint16_t id, uint32_t len)
{
	struct tn_pkt *p = tn_pkt_alloc(e->mp);
	assert_non_null(p);
	uint8_t *d = tn_pkt_put(p, len);
	assert_non_null(d);
	memset(d, 0, len);
	d[0] = 0x45;
	d[1] = tos;
	d[2] = (uint8_t)(len >> 8);
	d[3] = (uint8_t)len;
	d[4] = (uint8_t)(id >> 8);
	d[5] = (uint8_t)id;
	d[8] = 64;
	d[9] = 17;
	d[12] = 10, d[15] = 1;
	d[16] = 10, d[19] = 2;
	d[20] = (uint8_t)(sport >> 8), d[21] = (uint8_t)sport;
	d[22] = (uint8_t)(dport >> 8), d[23] = (uint8_t)dport;
	p->l3_off = tn_pkt_off(p, d);
	return p;
}

static uint16_t pkt_id(const struct tn_pkt *p) { return (uint16_t)(p->data[4] << 8 | p->data[5]); }
static uint16_t pkt_sport(const struct tn_pkt *p) { return (uint16_t)(p->data[20] << 8 | p->data[21]); }

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

static void expect_error(struct t_qenv *e, const char *kind, const char *words, const char *needle)
{
	struct tn_qerr err = {{0}};
	struct tn_qdisc *q = mk_err(e, kind, words, &err);
	if (q)
		tn_qdisc_destroy(q);
	assert_null(q);
	if (!strstr(err.msg, needle))
		print_message("%s \"%s\": error \"%s\" does not name \"%s\"\n", kind, words, err.msg, needle);
	assert_non_null(strstr(err.msg, needle));
}

static void expect_dump(struct tn_qdisc *q, const char *want)
{
	char d[160];
	q->ops->dump(q, d, sizeof(d));
	assert_string_equal(d, want);
}

/* ---- prio ---- */

/* The parent's queue is the sum of its bands'. */
static void check_sum(struct tn_qdisc *q, uint32_t bands)
{
	uint32_t qlen = 0, backlog = 0;
	for (uint32_t b = 1; b <= bands; b++) {
		struct tn_qdisc *c = q->ops->cl->leaf(q, TN_TC_H(1, b));
		assert_non_null(c);
		qlen += c->stats.qlen;
		backlog += c->stats.backlog;
	}
	assert_int_equal(q->stats.qlen, qlen);
	assert_int_equal(q->stats.backlog, backlog);
}

/* TOS 0x10 (interactive) is band 0, 0 band 1, 0x08 (bulk) band 2. */
static int band_of_tos(uint8_t tos) { return tos == 0x10 ? 0 : tos == 0 ? 1 : 2; }

static void test_prio_strict(void **state)
{
	struct t_qenv *e = *state;
	t_qenv_reset(state);
	struct tn_qdisc *q = mk(e, "prio", "");
	expect_dump(q, "bands 3 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1");
	uint8_t tos[3] = {0x08, 0x00, 0x10};
	for (uint16_t i = 0; i < 60; i++)
		assert_int_equal(tn_qdisc_enqueue(q, udp_pkt(e, tos[i % 3], 1, 2, i, 100 + i)), TN_QDISC_OK);
	check_sum(q, 3);
	assert_int_equal(q->ops->cl->leaf(q, TN_TC_H(1, 1))->stats.qlen, 20);
	int last = 0;
	for (int i = 0; i < 45; i++) {
		struct tn_pkt *pk = tn_qdisc_peek(q);
		struct tn_pkt *p = tn_qdisc_dequeue(q);
		assert_ptr_equal(pk, p);
		int b = band_of_tos(p->data[1]);
		assert_true(b >= last);
		last = b;
		tn_pkt_free(p);
		check_sum(q, 3);
	}
	/* band 0 comes first again as soon as it has a packet */
	tn_qdisc_enqueue(q, udp_pkt(e, 0x10, 1, 2, 999, 100));
	struct tn_pkt *p = tn_qdisc_dequeue(q);
	assert_int_equal(pkt_id(p), 999);
	tn_pkt_free(p);
	assert_int_equal(q->stats.packets, 46);
	check_sum(q, 3);
	tn_qdisc_destroy(q);
}

static void test_prio_priomap_and_words(void **state)
{
	struct t_qenv *e = *state;
	t_qenv_reset(state);
	/* everything to band 3 */
	struct tn_qdisc *q = mk(e, "prio", "bands 4 priomap 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3");
	expect_dump(q, "bands 4 priomap 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3");
	for (uint16_t i = 0; i < 9; i++)
		tn_qdisc_enqueue(q, udp_pkt(e, (uint8_t[]){0x10, 0, 0x08}[i % 3], 1, 2, i, 100));
	assert_int_equal(q->ops->cl->leaf(q, TN_TC_H(1, 4))->stats.qlen, 9);
	check_sum(q, 4);
	tn_qdisc_destroy(q);
	/* a partial priomap: interactive (priority 6) to band 1, the rest default */
	q = mk(e, "prio", "priomap 1 2 2 2 1 2 1");
	expect_dump(q, "bands 3 priomap 1 2 2 2 1 2 1 0 1 1 1 1 1 1 1 1");
	tn_qdisc_enqueue(q, udp_pkt(e, 0x10, 1, 2, 1, 100));
	assert_int_equal(q->ops->cl->leaf(q, TN_TC_H(1, 2))->stats.qlen, 1);
	tn_qdisc_destroy(q);

	expect_error(e, "prio", "bands 2", "out of bands");
	expect_error(e, "prio", "bands 17", "17");
	expect_error(e, "prio", "bands 1", "1");
	expect_error(e, "prio", "priomap 0 1 5", "5");
	expect_error(e, "prio", "priomap 0 x", "x");
	expect_error(e, "prio", "priomap 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0", "16");
	expect_error(e, "prio", "bandz 3", "bandz");
	expect_error(e, "prio", "bands", "bands");

	/* tc qdisc change: more bands, then fewer (the removed band's
	 * packets are dropped and counted) */
	q = mk(e, "prio", "");
	tn_qdisc_enqueue(q, udp_pkt(e, 0x08, 1, 2, 1, 100)); /* band 2 */
	struct tn_qerr err;
	char *more[] = {"bands", "5"};
	assert_int_equal(q->ops->change(q, 2, more, &err), 0);
	check_sum(q, 5);
	char *fewer[] = {"bands", "2", "priomap", "1", "1", "1", "1", "1", "1", "0", "0", "1", "1", "1", "1", "1", "1", "1", "1"};
	assert_int_equal(q->ops->change(q, 19, fewer, &err), 0);
	assert_int_equal(q->stats.qlen, 0);
	assert_int_equal(q->stats.drops, 1);
	check_sum(q, 2);
	char *bad[] = {"bands", "2"}; /* the current priomap names band 1 only: fine */
	assert_int_equal(q->ops->change(q, 2, bad, &err), 0);
	tn_qdisc_destroy(q);
}

/* A u32 filter on the destination port steers to band 1:3 whatever the TOS. */
static void test_prio_filter(void **state)
{
	struct t_qenv *e = *state;
	t_qenv_reset(state);
	struct tn_qdisc *q = mk(e, "prio", "");
	struct tn_qfilter *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->prio = 1;
	f->kind = TN_QFILTER_U32;
	f->classid = TN_TC_H(1, 3);
	f->nkeys = 1;
	/* "match ip dport 80 0xffff": the transport header's first word, low half */
	f->key[0] = (struct tn_qfilter_key){.mask = 0x0000ffff, .value = 80, .off = 0, .transport = true};
	q->filters = f;
	for (uint16_t i = 0; i < 10; i++) {
		tn_qdisc_enqueue(q, udp_pkt(e, 0x10, 1000, 80, i, 100));  /* interactive, but port 80 */
		tn_qdisc_enqueue(q, udp_pkt(e, 0x10, 1000, 443, i, 100)); /* interactive */
	}
	assert_int_equal(f->hits, 10);
	assert_int_equal(q->ops->cl->leaf(q, TN_TC_H(1, 3))->stats.qlen, 10);
	assert_int_equal(q->ops->cl->leaf(q, TN_TC_H(1, 1))->stats.qlen, 10);
	check_sum(q, 3);
	/* a filter naming a class prio does not have: where priority 0 goes (band 1) */
	f->classid = TN_TC_H(1, 9);
	tn_qdisc_enqueue(q, udp_pkt(e, 0x10, 1000, 80, 50, 100));
	assert_int_equal(q->ops->cl->leaf(q, TN_TC_H(1, 2))->stats.qlen, 1);
	for (int i = 0; i < 21; i++) {
		struct tn_pkt *p = tn_qdisc_dequeue(q);
		assert_non_null(p);
		uint16_t dport = (uint16_t)(p->data[22] << 8 | p->data[23]);
		if (i < 10)
			assert_int_equal(dport, 443);
		else if (i == 10)
			assert_int_equal(pkt_id(p), 50);
		else
			assert_int_equal(dport, 80);
		tn_pkt_free(p);
	}
	tn_qdisc_destroy(q); /* frees the filter too */
}

struct walked {
	uint32_t classid[16];
	struct tn_qdisc *leaf[16];
	int n;
};

static void walk_fn(void *ctx, uint32_t classid, uint32_t parent, struct tn_qdisc *leaf)
{
	struct walked *w = ctx;
	assert_int_equal(parent, TN_TC_H(1, 0));
	w->classid[w->n] = classid;
	w->leaf[w->n++] = leaf;
}

/* tbf grafted on band 1 shapes that band only; band 2 goes while band 1
 * waits for tokens; walk lists the bands with their leaves. */
static void test_prio_graft_tbf(void **state)
{
	struct t_qenv *e = *state;
	t_qenv_reset(state);
	struct tn_qdisc *q = mk(e, "prio", "");
	char *words[] = {"rate", "1mbit", "burst", "1500", "limit", "100000"};
	struct tn_qerr err;
	struct tn_qdisc *tbf = tn_qdisc_create(&e->q, "tbf", TN_TC_H(0x10, 0), TN_TC_H(1, 2), 6, words, &err);
	assert_non_null(tbf);
	struct tn_qdisc *old = NULL;
	assert_int_equal(q->ops->cl->graft(q, TN_TC_H(1, 2), tbf, &old), 0);
	assert_string_equal(old->ops->kind, "pfifo");
	tn_qdisc_destroy(old);
	assert_int_equal(q->ops->cl->graft(q, TN_TC_H(1, 4), tbf, &old), -1);

	struct walked w = {0};
	q->ops->cl->walk(q, walk_fn, &w);
	assert_int_equal(w.n, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(w.classid[i], TN_TC_H(1, i + 1));
	assert_ptr_equal(w.leaf[1], tbf);
	assert_string_equal(w.leaf[0]->ops->kind, "pfifo");

	/* band 1 (best effort) shaped to 1 mbit, band 2 (bulk) not: 1 s */
	uint16_t id = 0;
	uint64_t bytes[3] = {0};
	const uint64_t end = 1000000000ull;
	for (;;) {
		while (q->ops->cl->leaf(q, TN_TC_H(1, 2))->stats.qlen < 20)
			tn_qdisc_enqueue(q, udp_pkt(e, 0x00, 1, 2, id++, 1000));
		while (q->ops->cl->leaf(q, TN_TC_H(1, 3))->stats.qlen < 20)
			tn_qdisc_enqueue(q, udp_pkt(e, 0x08, 1, 2, id++, 1000));
		check_sum(q, 3);
		e->q.wake_at = UINT64_MAX;
		struct tn_pkt *p = tn_qdisc_dequeue(q);
		if (p) {
			bytes[band_of_tos(p->data[1])] += p->pkt_len;
			tn_pkt_free(p);
			/* a device at 10 mbit: the next one 0.8 ms later */
			e->q.now += 800000;
		} else {
			assert_true(e->q.wake_at != UINT64_MAX);
			e->q.now = e->q.wake_at;
		}
		if (e->q.now >= end)
			break;
	}
	double r1 = (double)bytes[1] / 1.0;
	print_message("prio with tbf on band 1: band 1 %.0f B/s (1 mbit = 125000), band 2 %.0f B/s\n", r1,
		      (double)bytes[2]);
	assert_true(r1 >= 125000 * 0.98 && r1 <= 125000 + 1500 + 1000);
	assert_true(bytes[2] > 900000); /* band 2 takes the rest of the 10 mbit device */
	struct tn_qstats st;
	char d[64];
	assert_int_equal(q->ops->cl->dump(q, TN_TC_H(1, 2), d, sizeof(d), &st), 0);
	assert_int_equal(st.packets, tbf->stats.packets);
	assert_true(st.overlimits > 0);
	assert_int_equal(q->ops->cl->dump(q, TN_TC_H(1, 0), d, sizeof(d), &st), -1);
	tn_qdisc_destroy(q);
}

/* ---- sfq ---- */

static void test_sfq_words_and_dump(void **state)
{
	struct t_qenv *e = *state;
	t_qenv_reset(state);
	struct tn_qdisc *q = mk(e, "sfq", "");
	expect_dump(q, "limit 127p quantum 1514b depth 127 divisor 1024");
	tn_qdisc_destroy(q);
	q = mk(e, "sfq", "perturb 10"); /* tc-sfq(8) */
	expect_dump(q, "limit 127p quantum 1514b depth 127 divisor 1024 perturb 10sec");
	tn_qdisc_destroy(q);
	q = mk(e, "sfq", "limit 3000 flows 512 divisor 65536 depth 64 quantum 3k headdrop");
	expect_dump(q, "limit 3000p quantum 3Kb depth 64 headdrop divisor 65536");
	tn_qdisc_destroy(q);
	q = mk(e, "sfq", "limit 100000 flows 10 depth 5"); /* capped at depth * flows, as Linux */
	expect_dump(q, "limit 50p quantum 1514b depth 5 divisor 1024");
	tn_qdisc_destroy(q);
	expect_error(e, "sfq", "divisor 1000", "1000");
	expect_error(e, "sfq", "limit 1", "limit");
	expect_error(e, "sfq", "flows 0", "flows");
	expect_error(e, "sfq", "quantum 0", "quantum");
	expect_error(e, "sfq", "perturb soon", "soon");
	expect_error(e, "sfq", "redflowlimit 100000", "redflowlimit");
	expect_error(e, "sfq", "fairness max", "fairness");
	expect_error(e, "sfq", "perturb", "perturb");
}

static double jain(const double *x, int n)
{
	double s = 0, s2 = 0;
	for (int i = 0; i < n; i++) {
		s += x[i];
		s2 += x[i] * x[i];
	}
	return s2 > 0 ? s * s / (n * s2) : 0;
}

/* n backlogged flows, each with its own packet size: the bytes each gets. */
static double sfq_fairness(struct t_qenv *e, const char *words, int n, int rounds)
{
	struct tn_qdisc *q = mk(e, "sfq", words);
	uint32_t queued[100] = {0}, len[100];
	double got[100] = {0};
	uint16_t id = 0;
	for (int f = 0; f < n; f++)
		len[f] = 64 + (uint32_t)(f * 379) % 1437;
	uint64_t deq = (uint64_t)rounds * (uint64_t)n;
	for (uint64_t i = 0; i < deq; i++) {
		for (int f = 0; f < n; f++)
			while (queued[f] < 3) {
				assert_int_equal(tn_qdisc_enqueue(q, udp_pkt(e, 0, (uint16_t)(1000 + f), 80, id++, len[f])),
						 TN_QDISC_OK);
				queued[f]++;
			}
		e->q.now += 100000; /* 100 us a packet: perturb, if set, fires now and then */
		struct tn_pkt *pk = tn_qdisc_peek(q);
		struct tn_pkt *p = tn_qdisc_dequeue(q);
		assert_non_null(p);
		assert_ptr_equal(pk, p); /* peek shows what dequeue gives */
		int f = pkt_sport(p) - 1000;
		got[f] += p->pkt_len;
		queued[f]--;
		tn_pkt_free(p);
	}
	assert_int_equal(q->stats.drops, 0);
	tn_qdisc_destroy(q);
	double j = jain(got, n);
	double lo = got[0], hi = got[0];
	for (int f = 1; f < n; f++) {
		lo = got[f] < lo ? got[f] : lo;
		hi = got[f] > hi ? got[f] : hi;
	}
	print_message("sfq %s, %d flows: Jain's index %.4f (bytes per flow %.0f..%.0f)\n", words, n, j, lo, hi);
	return j;
}

static void test_sfq_fairness(void **state)
{
	struct t_qenv *e = *state;
	t_qenv_reset(state);
	assert_true(sfq_fairness(e, "", 2, 2000) >= 0.95);
	assert_true(sfq_fairness(e, "", 10, 1000) >= 0.95);
	assert_true(sfq_fairness(e, "limit 400", 100, 200) >= 0.95);
	assert_true(sfq_fairness(e, "limit 400 perturb 1", 100, 200) >= 0.95);
}

/* A flow with a big backlog does not hold back a new one: the newcomer's
 * first packet leaves within one round (at most a quantum of the old). */
static void test_sfq_new_flow(void **state)
{
	struct t_qenv *e = *state;
	t_qenv_reset(state);
	for (int k = 0; k < 6; k++) {
		struct tn_qdisc *q = mk(e, "sfq", "");
		for (uint16_t i = 0; i < 100; i++)
			tn_qdisc_enqueue(q, udp_pkt(e, 0, 1000, 80, i, 1500));
		for (int i = 0; i < k; i++)
			tn_pkt_free(tn_qdisc_dequeue(q));
		tn_qdisc_enqueue(q, udp_pkt(e, 0, 2000, 80, 7777, 100));
		uint32_t old_bytes = 0;
		for (;;) {
			struct tn_pkt *p = tn_qdisc_dequeue(q);
			assert_non_null(p);
			bool mine = pkt_sport(p) == 2000;
			if (!mine)
				old_bytes += p->pkt_len;
			tn_pkt_free(p);
			if (mine)
				break;
		}
		print_message("sfq: after %d sent, %u bytes of the backlogged flow left before the new flow's "
			      "first packet\n", k, old_bytes);
		assert_true(old_bytes <= 1514 + 1500);
		tn_qdisc_destroy(q);
	}
}

/* perturb: after the period (virtual time) the key changes and queued
 * packets move to their new buckets; none is lost and each flow keeps its
 * order. */
static void test_sfq_perturb(void **state)
{
	struct t_qenv *e = *state;
	t_qenv_reset(state);
	struct tn_qdisc *q = mk(e, "sfq", "perturb 10");
	enum { FLOWS = 8, PER = 5 };
	struct tn_pkt *probe[FLOWS];
	uint32_t before[FLOWS];
	for (int f = 0; f < FLOWS; f++) {
		probe[f] = udp_pkt(e, 0, (uint16_t)(1000 + f), 80, 0, 100);
		before[f] = tn_sfq_bucket(q, probe[f]);
	}
	uint16_t seq[FLOWS] = {0};
	for (int k = 0; k < PER; k++)
		for (int f = 0; f < FLOWS; f++)
			tn_qdisc_enqueue(q, udp_pkt(e, 0, (uint16_t)(1000 + f), 80, seq[f]++, 100 + (uint32_t)f));
	/* not yet */
	e->q.now = 9999999999ull;
	tn_qdisc_enqueue(q, udp_pkt(e, 0, 1000, 80, seq[0]++, 100));
	for (int f = 0; f < FLOWS; f++)
		assert_int_equal(tn_sfq_bucket(q, probe[f]), before[f]);
	/* a few leave before the period ends */
	uint16_t next[FLOWS] = {0};
	int out = 0;
	for (int i = 0; i < 6; i++) {
		struct tn_pkt *p = tn_qdisc_dequeue(q);
		int f = pkt_sport(p) - 1000;
		assert_int_equal(pkt_id(p), next[f]++);
		tn_pkt_free(p);
		out++;
	}
	e->q.now = 10000000000ull;
	for (int f = 0; f < FLOWS; f++)
		tn_qdisc_enqueue(q, udp_pkt(e, 0, (uint16_t)(1000 + f), 80, seq[f]++, 100));
	int changed = 0;
	for (int f = 0; f < FLOWS; f++)
		changed += tn_sfq_bucket(q, probe[f]) != before[f];
	print_message("sfq perturb: %d of %d flows changed bucket\n", changed, FLOWS);
	assert_true(changed >= FLOWS / 2);
	int in = 0;
	for (int f = 0; f < FLOWS; f++)
		in += seq[f];
	struct tn_pkt *p;
	while ((p = tn_qdisc_dequeue(q)) != NULL) {
		int f = pkt_sport(p) - 1000;
		assert_int_equal(pkt_id(p), next[f]++);
		tn_pkt_free(p);
		out++;
	}
	assert_int_equal(out, in);
	assert_int_equal(q->stats.drops, 0);
	assert_int_equal(q->stats.qlen, 0);
	assert_int_equal(q->stats.backlog, 0);
	for (int f = 0; f < FLOWS; f++)
		tn_pkt_free(probe[f]);
	tn_qdisc_destroy(q);
}

/* Over the limit, the longest flow loses its last packet; over depth, a
 * flow's new packet is dropped (its oldest with headdrop). */
static void test_sfq_limit_drops(void **state)
{
	struct t_qenv *e = *state;
	t_qenv_reset(state);
	struct tn_qdisc *q = mk(e, "sfq", "limit 20");
	for (uint16_t i = 0; i < 15; i++)
		assert_int_equal(tn_qdisc_enqueue(q, udp_pkt(e, 0, 1000, 80, i, 100)), TN_QDISC_OK);
	for (uint16_t i = 0; i < 5; i++)
		assert_int_equal(tn_qdisc_enqueue(q, udp_pkt(e, 0, 2000, 80, i, 100)), TN_QDISC_OK);
	assert_int_equal(tn_qdisc_enqueue(q, udp_pkt(e, 0, 3000, 80, 0, 100)), TN_QDISC_CN);
	assert_int_equal(q->stats.drops, 1);
	assert_int_equal(q->stats.qlen, 20);
	assert_int_equal(q->stats.backlog, 2000);
	/* the longest flow's own packet over the limit: that packet goes */
	assert_int_equal(tn_qdisc_enqueue(q, udp_pkt(e, 0, 1000, 80, 99, 100)), TN_QDISC_DROP);
	int per[3] = {0};
	uint16_t last_a = 0;
	struct tn_pkt *p;
	while ((p = tn_qdisc_dequeue(q)) != NULL) {
		int f = pkt_sport(p) / 1000 - 1;
		per[f]++;
		if (f == 0)
			last_a = pkt_id(p);
		tn_pkt_free(p);
	}
	assert_int_equal(per[0], 14);
	assert_int_equal(per[1], 5);
	assert_int_equal(per[2], 1);
	assert_int_equal(last_a, 13); /* its tail went */
	assert_int_equal(q->stats.drops, 2);
	tn_qdisc_destroy(q);

	q = mk(e, "sfq", "depth 3");
	int dropped = 0;
	for (uint16_t i = 0; i < 5; i++)
		dropped += tn_qdisc_enqueue(q, udp_pkt(e, 0, 1000, 80, i, 100)) == TN_QDISC_DROP;
	assert_int_equal(dropped, 2);
	assert_int_equal(q->stats.qlen, 3);
	tn_qdisc_destroy(q);

	q = mk(e, "sfq", "depth 3 headdrop");
	for (uint16_t i = 0; i < 5; i++)
		tn_qdisc_enqueue(q, udp_pkt(e, 0, 1000, 80, i, 100));
	assert_int_equal(q->stats.drops, 2);
	p = tn_qdisc_dequeue(q);
	assert_int_equal(pkt_id(p), 2); /* the oldest two went */
	tn_pkt_free(p);
	tn_qdisc_destroy(q);

	/* tc qdisc change to a smaller limit drops from the longest */
	q = mk(e, "sfq", "");
	for (uint16_t i = 0; i < 10; i++)
		tn_qdisc_enqueue(q, udp_pkt(e, 0, 1000, 80, i, 100));
	for (uint16_t i = 0; i < 4; i++)
		tn_qdisc_enqueue(q, udp_pkt(e, 0, 2000, 80, i, 100));
	struct tn_qerr err;
	char *words[] = {"limit", "8"};
	assert_int_equal(q->ops->change(q, 2, words, &err), 0);
	assert_int_equal(q->stats.qlen, 8);
	assert_int_equal(q->stats.drops, 6);
	char *bad[] = {"divisor", "64"};
	assert_int_equal(q->ops->change(q, 2, bad, &err), -1);
	assert_non_null(strstr(err.msg, "divisor"));
	tn_qdisc_destroy(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prio_strict),
		cmocka_unit_test(test_prio_priomap_and_words),
		cmocka_unit_test(test_prio_filter),
		cmocka_unit_test(test_prio_graft_tbf),
		cmocka_unit_test(test_sfq_words_and_dump),
		cmocka_unit_test(test_sfq_fairness),
		cmocka_unit_test(test_sfq_new_flow),
		cmocka_unit_test(test_sfq_perturb),
		cmocka_unit_test(test_sfq_limit_drops),
	};
	return cmocka_run_group_tests(tests, setup, t_qenv_teardown);
}
