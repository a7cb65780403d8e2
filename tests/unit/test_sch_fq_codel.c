/* fq_codel on a virtual clock: a device dequeues at a fixed line rate
 * (env.now advanced by each packet's serialisation time) while sources
 * enqueue, either at a fixed rate (unresponsive) or as a window-based
 * Reno-like sender reacting to drops and CE marks one RTT later.
 *
 * Checked: fairness between 2, 10 and 100 flows (Jain's index), the
 * standing queue delay near the 5 ms target under a saturating flow, CE
 * marks instead of drops with ECN, a sparse flow served ahead of a bulk
 * one, drops from the fattest flow over the packet and memory limits, the
 * tc words, dump and counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pkt.h"
#include "sched/codel.h"
#include "sched/qdisc.h"
#include "sched/sch_fq_codel.h"
#include "sched/sch_ops.h"
#include "wire/csum.h"

#include "qenv.h"

#define POOL 12000u

/* A fresh pool for every test; teardown: every packet back. */
static int setup(void **state)
{
	static struct t_qenv e;
	*state = &e;
	return t_qenv_init(&e, POOL, 1, 1000);
}

static struct tn_qdisc *mk(struct t_qenv *e, const char *words, struct tn_qerr *err)
{
	return t_qdisc_root(&e->q, "fq_codel", words, err);
}

static int change(struct tn_qdisc *q, const char *words, struct tn_qerr *err)
{
	char buf[256], *argv[32];
	int argc = t_split_words(buf, sizeof(buf), words, argv, 32);
	return q->ops->change(q, argc, argv, err);
}

/* A UDP/IPv4 packet of `len` bytes from 10.0.0.1:sport to 10.0.0.2:9 with
 * this TOS and a valid header checksum; the IP id carries `id` and the
 * payload the send time. */
static struct tn_pkt *udp_pkt(struct t_qenv *e, uint16_t sport, uint8_t tos, uint16_t id, uint32_t len,
			      uint64_t sent)
{
	struct tn_pkt *p = tn_pkt_alloc(e->mp);
	assert_non_null(p);
	uint8_t *d = tn_pkt_put(p, len);
	assert_non_null(d);
	assert_true(len >= 36);
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
	uint16_t c = tn_csum(d, 20);
	d[10] = (uint8_t)(c >> 8);
	d[11] = (uint8_t)c;
	d[20] = (uint8_t)(sport >> 8);
	d[21] = (uint8_t)sport;
	d[23] = 9;
	memcpy(d + 28, &sent, sizeof(sent));
	p->l3_off = tn_pkt_off(p, d);
	p->l4_off = (uint16_t)(p->l3_off + 20);
	return p;
}

static uint16_t pkt_sport(const struct tn_pkt *p) { return (uint16_t)(p->data[20] << 8 | p->data[21]); }
static uint16_t pkt_id(const struct tn_pkt *p) { return (uint16_t)(p->data[4] << 8 | p->data[5]); }
static uint64_t pkt_sent(const struct tn_pkt *p)
{
	uint64_t t;
	memcpy(&t, p->data + 28, sizeof(t));
	return t;
}

/* ---- The simulation ---- */

#define MAXSRC 128
#define MAXEV 65536
#define MS 1000000ull
#define SEC 1000000000ull

struct src {
	uint32_t size;
	uint8_t tos;
	uint64_t gap;       /* ns between packets at full speed */
	uint64_t next;      /* next send; UINT64_MAX: waiting for the window */
	uint64_t stop;      /* sends nothing from then on (0: never stops) */
	bool responsive;
	/* Reno-like window */
	double cwnd;
	uint32_t inflight;
	bool slow_start;
	uint64_t last_cut;
	/* results */
	uint64_t bytes, pkts;         /* dequeued after the warm-up */
	uint32_t sent_ids;
	uint32_t signals;             /* losses and CE marks seen */
	uint32_t ce_seen;
};

/* Feedback to source 0 (the responsive one): acks and losses, in time order. */
struct ev {
	uint64_t t;
	bool congestion;
};

struct sim {
	struct t_qenv *e;
	struct tn_qdisc *q;
	uint64_t rate;      /* line rate, bytes/s */
	uint64_t rtt;       /* base RTT of the responsive source */
	uint64_t warmup, end;
	struct src s[MAXSRC];
	int nsrc;
	struct ev ev[MAXEV];
	uint32_t ev_head, ev_tail;
	/* sojourn times (ns) of dequeued packets after the warm-up, per class */
	uint64_t *soj[2];
	uint32_t nsoj[2], capsoj;
	int sparse;         /* index of a source whose sojourns go in soj[1], or -1 */
	uint32_t bad_csum;
	uint64_t busy;      /* ns the device sent after the warm-up */
};

static void ev_push(struct sim *sm, uint64_t t, bool congestion)
{
	assert_true(sm->ev_tail - sm->ev_head < MAXEV);
	assert_true(sm->ev_tail == sm->ev_head || sm->ev[(sm->ev_tail - 1) % MAXEV].t <= t);
	sm->ev[sm->ev_tail++ % MAXEV] = (struct ev){t, congestion};
}

static void sim_init(struct sim *sm, struct t_qenv *e, struct tn_qdisc *q, uint64_t rate_bits, uint64_t end)
{
	memset(sm, 0, sizeof(*sm));
	sm->e = e;
	sm->q = q;
	sm->rate = rate_bits / 8;
	sm->rtt = 20 * MS;
	sm->end = end;
	sm->warmup = 2 * SEC;
	sm->sparse = -1;
	sm->capsoj = 200000;
	sm->soj[0] = calloc(sm->capsoj, sizeof(uint64_t));
	sm->soj[1] = calloc(sm->capsoj, sizeof(uint64_t));
	assert_non_null(sm->soj[0]);
	assert_non_null(sm->soj[1]);
}

static void sim_free(struct sim *sm)
{
	free(sm->soj[0]);
	free(sm->soj[1]);
}

/* An unresponsive source of `size`-byte packets at `bytes_per_s`. */
static int add_cbr(struct sim *sm, uint32_t size, uint64_t bytes_per_s, uint64_t start)
{
	struct src *s = &sm->s[sm->nsrc];
	*s = (struct src){.size = size, .gap = (uint64_t)size * SEC / bytes_per_s, .next = start};
	return sm->nsrc++;
}

/* The responsive source (always source 0): sends back to back at
 * `access_bytes_per_s` while its window allows. */
static int add_reno(struct sim *sm, uint32_t size, uint64_t access_bytes_per_s, uint8_t tos)
{
	assert_int_equal(sm->nsrc, 0);
	struct src *s = &sm->s[sm->nsrc];
	*s = (struct src){.size = size, .tos = tos, .gap = (uint64_t)size * SEC / access_bytes_per_s,
			  .responsive = true, .cwnd = 10, .slow_start = true};
	return sm->nsrc++;
}

static void reno_feedback(struct sim *sm, const struct ev *ev)
{
	struct src *s = &sm->s[0];
	s->inflight--;
	if (ev->congestion) {
		s->signals++;
		/* one reduction per RTT, as a TCP in recovery */
		if (ev->t - s->last_cut > sm->rtt + 10 * MS || s->last_cut == 0) {
			s->cwnd = s->cwnd / 2 < 2 ? 2 : s->cwnd / 2;
			s->slow_start = false;
			s->last_cut = ev->t;
		}
	} else if (s->slow_start) {
		s->cwnd += 1;
	} else {
		s->cwnd += 1 / s->cwnd;
	}
	if (s->next == UINT64_MAX && s->inflight < s->cwnd)
		s->next = ev->t;
}

static void record(struct sim *sm, int cls, uint64_t v)
{
	if (sm->nsoj[cls] < sm->capsoj)
		sm->soj[cls][sm->nsoj[cls]++] = v;
}

static void sim_run(struct sim *sm)
{
	struct tn_qdisc *q = sm->q;
	struct tn_qenv *env = &sm->e->q;
	uint64_t dev_free = UINT64_MAX; /* device idle until something is queued */
	uint64_t now = 0;
	env->now = 0;
	for (;;) {
		/* the earliest event: a source sending, feedback, or the device */
		int who = -1;
		uint64_t t = dev_free;
		for (int i = 0; i < sm->nsrc; i++)
			if (sm->s[i].next < t) {
				t = sm->s[i].next;
				who = i;
			}
		bool fb = sm->ev_head != sm->ev_tail && sm->ev[sm->ev_head % MAXEV].t < t;
		if (fb)
			t = sm->ev[sm->ev_head % MAXEV].t;
		if (t >= sm->end)
			break;
		assert_true(t >= now);
		now = env->now = t;
		if (fb) {
			struct ev ev = sm->ev[sm->ev_head++ % MAXEV];
			reno_feedback(sm, &ev);
			continue;
		}
		if (who >= 0) {
			struct src *s = &sm->s[who];
			if (s->stop && now >= s->stop) {
				s->next = UINT64_MAX;
				continue;
			}
			if (s->responsive && s->inflight >= s->cwnd) {
				s->next = UINT64_MAX;
				continue;
			}
			struct tn_pkt *p = udp_pkt(sm->e, (uint16_t)(1000 + who), s->tos, (uint16_t)s->sent_ids++,
						   s->size, now);
			uint64_t drops = q->stats.drops;
			enum tn_qdisc_verdict v = tn_qdisc_enqueue(q, p);
			(void)v;
			if (s->responsive) {
				s->inflight++;
				/* whatever the limit dropped (from the fattest flow:
				 * with one bulk flow, ours) is seen one RTT later */
				for (uint64_t k = drops; k < q->stats.drops; k++)
					ev_push(sm, now + sm->rtt, true);
			}
			s->next = now + s->gap;
			if (dev_free == UINT64_MAX)
				dev_free = now;
			continue;
		}
		/* the device takes the next packet */
		uint64_t drops = q->stats.drops;
		struct tn_pkt *p = tn_qdisc_dequeue(q);
		if (sm->s[0].responsive)
			for (uint64_t k = drops; k < q->stats.drops; k++)
				ev_push(sm, now + sm->rtt, true);
		if (!p) {
			dev_free = UINT64_MAX;
			continue;
		}
		uint64_t tx = (uint64_t)p->pkt_len * SEC / sm->rate;
		int who2 = pkt_sport(p) - 1000;
		assert_true(who2 >= 0 && who2 < sm->nsrc);
		struct src *s = &sm->s[who2];
		bool ce = (p->data[1] & 3) == 3;
		if (tn_csum(p->data, 20) != 0)
			sm->bad_csum++;
		if (now >= sm->warmup) {
			s->bytes += p->pkt_len;
			s->pkts++;
			sm->busy += tx;
			record(sm, who2 == sm->sparse ? 1 : 0, now - pkt_sent(p));
		}
		if (ce)
			s->ce_seen++;
		if (s->responsive)
			ev_push(sm, now + tx + sm->rtt, ce);
		tn_pkt_free(p);
		dev_free = now + tx;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t pct(uint64_t *v, uint32_t n, double p)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u64);
	uint32_t i = (uint32_t)(p * (n - 1));
	return v[i];
}

static double jain(const struct sim *sm, int from, int to)
{
	double sum = 0, sq = 0;
	for (int i = from; i < to; i++) {
		double x = (double)sm->s[i].bytes;
		sum += x;
		sq += x * x;
	}
	return sq > 0 ? sum * sum / ((to - from) * sq) : 0;
}

/* ---- Fairness ---- */

/* n unresponsive flows offering 1.5x the line rate in all (mixed: every
 * other flow sends 500-byte packets instead of 1514), over `secs`. */
static double fairness_run(struct t_qenv *e, int n, bool mixed, uint64_t secs, uint64_t *drops)
{
	struct tn_qdisc *q = mk(e, "", NULL);
	assert_non_null(q);
	struct sim *sm = malloc(sizeof(*sm));
	assert_non_null(sm);
	sim_init(sm, e, q, 10000000, secs * SEC);
	uint64_t each = sm->rate * 3 / 2 / (uint64_t)n;
	for (int i = 0; i < n; i++)
		add_cbr(sm, mixed && i % 2 ? 500 : 1514, each, (uint64_t)i * 37000);
	sim_run(sm);
	double j = jain(sm, 0, n);
	uint64_t min = UINT64_MAX, max = 0;
	for (int i = 0; i < n; i++) {
		min = sm->s[i].bytes < min ? sm->s[i].bytes : min;
		max = sm->s[i].bytes > max ? sm->s[i].bytes : max;
	}
	double util = (double)sm->busy / (double)(sm->end - sm->warmup);
	print_message("fairness %3d flows%s: Jain %.4f, bytes per flow %llu..%llu, utilisation %.3f, drops %llu\n", n,
		      mixed ? " (1514/500 B)" : "", j, (unsigned long long)min, (unsigned long long)max, util,
		      (unsigned long long)q->stats.drops);
	assert_true(util > 0.99); /* work conserving: never idle with packets queued */
	*drops = q->stats.drops;
	sim_free(sm);
	free(sm);
	tn_qdisc_destroy(q);
	return j;
}

static void test_fairness(void **state)
{
	struct t_qenv *e = *state;
	uint64_t drops;
	assert_true(fairness_run(e, 2, false, 10, &drops) >= 0.95);
	assert_true(drops > 0);
	assert_true(fairness_run(e, 10, false, 10, &drops) >= 0.95);
	assert_true(fairness_run(e, 100, false, 20, &drops) >= 0.95);
	assert_true(fairness_run(e, 2, true, 10, &drops) >= 0.95);
	assert_true(fairness_run(e, 10, true, 10, &drops) >= 0.95);
	assert_true(fairness_run(e, 100, true, 20, &drops) >= 0.95);
}

/* ---- CoDel under a saturating flow ---- */

struct codel_result {
	uint64_t p50, p95, max;
	double util;
	uint64_t drops;
	struct tn_fq_codel_xstats xs;
	uint32_t signals, ce_seen, bad_csum;
};

static void codel_run(struct t_qenv *e, const char *words, uint8_t tos, struct codel_result *r)
{
	struct tn_qdisc *q = mk(e, words, NULL);
	assert_non_null(q);
	struct sim *sm = malloc(sizeof(*sm));
	assert_non_null(sm);
	sim_init(sm, e, q, 10000000, 20 * SEC);
	add_reno(sm, 1514, sm->rate * 2, tos); /* its access link: 2x the bottleneck */
	sim_run(sm);
	r->p50 = pct(sm->soj[0], sm->nsoj[0], 0.5);
	r->p95 = pct(sm->soj[0], sm->nsoj[0], 0.95);
	r->max = pct(sm->soj[0], sm->nsoj[0], 1.0);
	r->util = (double)sm->busy / (double)(sm->end - sm->warmup);
	r->drops = q->stats.drops;
	r->signals = sm->s[0].signals;
	r->ce_seen = sm->s[0].ce_seen;
	r->bad_csum = sm->bad_csum;
	assert_int_equal(tn_fq_codel_get_xstats(q, &r->xs), 0);
	print_message("codel \"%s\" tos %#x: sojourn p50 %.2f ms p95 %.2f ms max %.2f ms, utilisation %.3f, drops %llu, "
		      "ecn_mark %u, signals %u\n",
		      words, tos, r->p50 / 1e6, r->p95 / 1e6, r->max / 1e6, r->util, (unsigned long long)r->drops,
		      r->xs.ecn_mark, r->signals);
	sim_free(sm);
	free(sm);
	tn_qdisc_destroy(q);
}

static void test_codel_standing_queue(void **state)
{
	struct t_qenv *e = *state;
	struct codel_result r;
	codel_run(e, "", 0, &r);
	assert_true(r.p50 >= 2 * MS && r.p50 <= 10 * MS);
	assert_true(r.p95 <= 30 * MS);
	assert_true(r.max < 100 * MS); /* never a standing queue of seconds */
	assert_true(r.util > 0.85);
	assert_true(r.drops > 0);
	assert_int_equal(r.xs.ecn_mark, 0); /* Not-ECT: dropped, not marked */
	assert_int_equal(r.xs.codel_drops, r.drops); /* CoDel, not the limit */
	assert_int_equal(r.xs.maxpacket, 1514);
}

static void test_codel_ecn(void **state)
{
	struct t_qenv *e = *state;
	struct codel_result r;
	codel_run(e, "", 0x02, &r); /* ECT(0), ecn on by default */
	assert_true(r.p50 >= 2 * MS && r.p50 <= 10 * MS);
	assert_true(r.max < 100 * MS);
	assert_true(r.util > 0.85);
	assert_int_equal(r.drops, 0);   /* marks instead of drops */
	assert_true(r.xs.ecn_mark > 0);
	assert_int_equal(r.ce_seen, r.xs.ecn_mark);
	assert_int_equal(r.bad_csum, 0); /* the header checksum follows the mark */
	/* noecn: the same ECT packets are dropped */
	codel_run(e, "noecn", 0x02, &r);
	assert_true(r.drops > 0);
	assert_int_equal(r.xs.ecn_mark, 0);
	assert_int_equal(r.ce_seen, 0);
	assert_true(r.p50 >= 2 * MS && r.p50 <= 10 * MS);
}

/* An unresponsive flow at twice the line rate is beyond what CoDel's
 * drop schedule catches up with quickly (as in Linux): its own queue
 * grows toward the limit, the limit drops from it, and nothing leaks. */
static void test_codel_unresponsive(void **state)
{
	struct t_qenv *e = *state;
	struct tn_qdisc *q = mk(e, "limit 2000", NULL);
	struct sim *sm = malloc(sizeof(*sm));
	assert_non_null(sm);
	sim_init(sm, e, q, 10000000, 10 * SEC);
	add_cbr(sm, 1514, sm->rate * 2, 0);
	sim_run(sm);
	struct tn_fq_codel_xstats xs;
	tn_fq_codel_get_xstats(q, &xs);
	uint64_t sent = sm->s[0].sent_ids;
	print_message("unresponsive 2x: sent %llu, dequeued %llu, codel drops %u, overlimit drops %u, queued %u\n",
		      (unsigned long long)sent, (unsigned long long)q->stats.packets, xs.codel_drops,
		      xs.drop_overlimit, q->stats.qlen);
	assert_true(q->stats.qlen <= 2000);
	assert_true(xs.codel_drops > 0);
	assert_int_equal(sent, q->stats.packets + q->stats.drops + q->stats.qlen); /* every packet counted */
	assert_int_equal(q->stats.drops, (uint64_t)xs.codel_drops + xs.drop_overlimit);
	sim_free(sm);
	free(sm);
	tn_qdisc_destroy(q);
}

/* ---- Sparse flows ---- */

static void test_sparse_flow(void **state)
{
	struct t_qenv *e = *state;
	for (int responsive = 1; responsive >= 0; responsive--) {
		struct tn_qdisc *q = mk(e, "", NULL);
		struct sim *sm = malloc(sizeof(*sm));
		assert_non_null(sm);
		sim_init(sm, e, q, 10000000, 10 * SEC);
		if (responsive)
			add_reno(sm, 1514, sm->rate * 2, 0);
		else
			add_cbr(sm, 1514, sm->rate * 2, 0);
		sm->sparse = add_cbr(sm, 100, 100 * 20, 3 * MS); /* 100 B every 50 ms */
		sim_run(sm);
		uint64_t sp_max = pct(sm->soj[1], sm->nsoj[1], 1.0);
		uint64_t sp_p50 = pct(sm->soj[1], sm->nsoj[1], 0.5);
		uint64_t bulk_p50 = pct(sm->soj[0], sm->nsoj[0], 0.5);
		print_message("sparse flow beside a %s bulk flow: sparse sojourn p50 %.3f ms max %.3f ms (%u pkts), bulk "
			      "p50 %.2f ms\n",
			      responsive ? "responsive" : "2x unresponsive", sp_p50 / 1e6, sp_max / 1e6, sm->nsoj[1],
			      bulk_p50 / 1e6);
		assert_true(sm->nsoj[1] >= 155); /* every one after the warm-up got through */
		assert_int_equal(sm->s[1].pkts, sm->nsoj[1]);
		/* at most one bulk packet's serialisation (1.2 ms) ahead of it */
		assert_true(sp_max <= 1300000);
		assert_true(sp_max < bulk_p50);
		sim_free(sm);
		free(sm);
		tn_qdisc_destroy(q);
	}
}

/* A flow that was idle goes first: after one packet of a backlogged flow,
 * a new flow's packet is next. */
static void test_new_flow_first(void **state)
{
	struct t_qenv *e = *state;
	struct tn_qdisc *q = mk(e, "", NULL);
	for (uint16_t i = 0; i < 10; i++)
		assert_int_equal(tn_qdisc_enqueue(q, udp_pkt(e, 1, 0, i, 1514, 0)), TN_QDISC_OK);
	struct tn_pkt *p = tn_qdisc_dequeue(q);
	assert_int_equal(pkt_sport(p), 1);
	tn_pkt_free(p);
	tn_qdisc_enqueue(q, udp_pkt(e, 2, 0, 0, 100, 0));
	struct tn_pkt *pk = tn_qdisc_peek(q); /* through the framework's stash */
	assert_int_equal(pkt_sport(pk), 2);
	assert_int_equal(q->stats.qlen, 10);
	assert_int_equal(q->stats.backlog, 9 * 1514 + 100);
	p = tn_qdisc_dequeue(q);
	assert_ptr_equal(p, pk);
	assert_int_equal(q->stats.qlen, 9);
	assert_int_equal(q->stats.packets, 2); /* each counted once */
	tn_pkt_free(p);
	struct tn_fq_codel_xstats xs;
	tn_fq_codel_get_xstats(q, &xs);
	assert_int_equal(xs.new_flow_count, 2);
	/* DRR: quantum 300 with 100-byte and 1514-byte packets */
	tn_qdisc_destroy(q);
	q = mk(e, "quantum 300", NULL);
	for (uint16_t i = 0; i < 40; i++) {
		tn_qdisc_enqueue(q, udp_pkt(e, 1, 0, i, 1500, 0));
		tn_qdisc_enqueue(q, udp_pkt(e, 2, 0, i, 100, 0));
	}
	uint64_t bytes[3] = {0};
	for (int i = 0; i < 30; i++) {
		p = tn_qdisc_dequeue(q);
		bytes[pkt_sport(p)] += p->pkt_len;
		tn_pkt_free(p);
	}
	/* byte-fair within a packet or two despite the 15:1 size ratio */
	assert_true(bytes[1] > 0 && bytes[2] > 0);
	assert_true(bytes[1] <= bytes[2] + 1500 + 300);
	assert_true(bytes[2] <= bytes[1] + 1500 + 300);
	tn_qdisc_destroy(q);
}

/* ---- Limits ---- */

static void test_packet_limit(void **state)
{
	struct t_qenv *e = *state;
	struct tn_qdisc *q = mk(e, "limit 100", NULL);
	for (uint16_t i = 0; i < 80; i++)
		assert_int_equal(tn_qdisc_enqueue(q, udp_pkt(e, 1, 0, i, 1000, 0)), TN_QDISC_OK);
	for (uint16_t i = 0; i < 20; i++)
		assert_int_equal(tn_qdisc_enqueue(q, udp_pkt(e, 2, 0, i, 1000, 0)), TN_QDISC_OK);
	assert_int_equal(q->stats.qlen, 100);
	/* the 101st (flow 2) makes the fattest flow (1) lose half its backlog */
	assert_int_equal(tn_qdisc_enqueue(q, udp_pkt(e, 2, 0, 20, 1000, 0)), TN_QDISC_OK);
	assert_int_equal(q->stats.drops, 40);
	assert_int_equal(q->stats.qlen, 61);
	assert_int_equal(q->stats.backlog, 61000);
	struct tn_fq_codel_xstats xs;
	tn_fq_codel_get_xstats(q, &xs);
	assert_int_equal(xs.drop_overlimit, 40);
	assert_int_equal(xs.drop_overmemory, 0);
	/* flow 1 lost its oldest packets; flow 2 lost nothing */
	uint16_t next[3] = {0, 40, 0};
	struct tn_pkt *p;
	while ((p = tn_qdisc_dequeue(q)) != NULL) {
		uint16_t sp = pkt_sport(p);
		assert_int_equal(pkt_id(p), next[sp]++);
		tn_pkt_free(p);
	}
	assert_int_equal(next[1], 80);
	assert_int_equal(next[2], 21);
	assert_int_equal(q->stats.qlen, 0);
	assert_int_equal(q->stats.backlog, 0);
	tn_qdisc_destroy(q);

	/* the fattest flow's own packet: congestion; drop_batch caps a batch */
	q = mk(e, "limit 10 drop_batch 3", NULL);
	for (uint16_t i = 0; i < 10; i++)
		tn_qdisc_enqueue(q, udp_pkt(e, 1, 0, i, 1000, 0));
	assert_int_equal(tn_qdisc_enqueue(q, udp_pkt(e, 1, 0, 10, 1000, 0)), TN_QDISC_CN);
	assert_int_equal(q->stats.drops, 3);
	assert_int_equal(q->stats.qlen, 8);
	/* a flow whose only packet is the fattest loses that packet */
	tn_qdisc_destroy(q);
	q = mk(e, "limit 2", NULL);
	tn_qdisc_enqueue(q, udp_pkt(e, 1, 0, 0, 100, 0));
	tn_qdisc_enqueue(q, udp_pkt(e, 2, 0, 0, 100, 0));
	assert_int_equal(tn_qdisc_enqueue(q, udp_pkt(e, 3, 0, 0, 1000, 0)), TN_QDISC_DROP);
	assert_int_equal(q->stats.qlen, 2);
	assert_int_equal(q->stats.drops, 1);
	tn_qdisc_destroy(q);
}

static void test_memory_limit(void **state)
{
	struct t_qenv *e = *state;
	struct tn_pkt *probe = udp_pkt(e, 1, 0, 0, 100, 0);
	uint32_t ts = tn_pkt_truesize(probe);
	tn_pkt_free(probe);
	char words[64];
	snprintf(words, sizeof(words), "memory_limit %u", 50 * ts);
	struct tn_qdisc *q = mk(e, words, NULL);
	for (uint16_t i = 0; i < 40; i++)
		tn_qdisc_enqueue(q, udp_pkt(e, 1, 0, i, 100, 0));
	for (uint16_t i = 0; i < 10; i++)
		tn_qdisc_enqueue(q, udp_pkt(e, 2, 0, i, 100, 0));
	struct tn_fq_codel_xstats xs;
	tn_fq_codel_get_xstats(q, &xs);
	assert_int_equal(xs.memory_usage, 50 * ts);
	assert_int_equal(q->stats.drops, 0);
	/* over memory (far below the packet limit): the fattest flow pays */
	assert_int_equal(tn_qdisc_enqueue(q, udp_pkt(e, 2, 0, 10, 100, 0)), TN_QDISC_OK);
	tn_fq_codel_get_xstats(q, &xs);
	assert_int_equal(q->stats.drops, 20);
	assert_int_equal(xs.drop_overmemory, 20);
	assert_int_equal(xs.drop_overlimit, 20);
	assert_int_equal(xs.memory_usage, 31 * ts);
	char buf[256];
	tn_fq_codel_print_xstats(q, buf, sizeof(buf));
	char want[256];
	snprintf(want, sizeof(want),
		 "maxpacket 0 drop_overlimit 20 new_flow_count 2 ecn_mark 0 memory_used %u drop_overmemory 20\n"
		 "new_flows_len 2 old_flows_len 0",
		 31 * ts);
	assert_string_equal(buf, want);
	struct tn_pkt *p;
	int n1 = 0;
	while ((p = tn_qdisc_dequeue(q)) != NULL) {
		n1 += pkt_sport(p) == 1;
		tn_pkt_free(p);
	}
	assert_int_equal(n1, 20);
	tn_fq_codel_get_xstats(q, &xs);
	assert_int_equal(xs.memory_usage, 0);
	assert_int_equal(xs.maxpacket, 100);
	tn_qdisc_destroy(q);
}

/* ---- ECN details ---- */

static void test_ce_threshold(void **state)
{
	struct t_qenv *e = *state;
	struct tn_qdisc *q = mk(e, "ce_threshold 1ms", NULL);
	e->q.now = 0;
	tn_qdisc_enqueue(q, udp_pkt(e, 1, 0x01, 0, 100, 0)); /* ECT(1) */
	tn_qdisc_enqueue(q, udp_pkt(e, 1, 0x02, 1, 100, 0)); /* ECT(0) */
	tn_qdisc_enqueue(q, udp_pkt(e, 1, 0x00, 2, 100, 0)); /* Not-ECT */
	e->q.now = 500000;
	struct tn_pkt *p = tn_qdisc_dequeue(q);
	assert_int_equal(p->data[1] & 3, 1); /* 0.5 ms: below the threshold */
	tn_pkt_free(p);
	e->q.now = 2 * MS;
	p = tn_qdisc_dequeue(q);
	assert_int_equal(p->data[1] & 3, 3); /* 2 ms: CE */
	assert_int_equal(tn_csum(p->data, 20), 0);
	tn_pkt_free(p);
	p = tn_qdisc_dequeue(q);
	assert_int_equal(p->data[1] & 3, 0); /* cannot be marked */
	tn_pkt_free(p);
	struct tn_fq_codel_xstats xs;
	tn_fq_codel_get_xstats(q, &xs);
	assert_int_equal(xs.ce_mark, 1);
	assert_int_equal(xs.ecn_mark, 0);
	assert_int_equal(q->stats.drops, 0);
	tn_qdisc_destroy(q);
	e->q.now = 0;
}

/* ---- Classification ---- */

static void test_flows_hashing(void **state)
{
	struct t_qenv *e = *state;
	struct tn_qdisc *q = mk(e, "", NULL);
	/* five ports: five flows (with this seed no two collide) */
	for (uint16_t sp = 1; sp <= 5; sp++)
		for (int k = 0; k < 3; k++)
			tn_qdisc_enqueue(q, udp_pkt(e, sp, 0, 0, 100, 0));
	struct tn_fq_codel_xstats xs;
	tn_fq_codel_get_xstats(q, &xs);
	assert_int_equal(xs.new_flows_len, 5);
	tn_qdisc_reset(q);
	assert_int_equal(q->stats.qlen, 0);
	tn_fq_codel_get_xstats(q, &xs);
	assert_int_equal(xs.new_flows_len + xs.old_flows_len, 0);
	assert_int_equal(xs.memory_usage, 0);
	/* non-IPv4 (ARP) packets share one flow; a short IPv4 header too */
	for (int k = 0; k < 4; k++) {
		struct tn_pkt *arp = tn_pkt_alloc(e->mp);
		memset(tn_pkt_put(arp, 42), 0, 42);
		tn_qdisc_enqueue(q, arp);
	}
	struct tn_pkt *shorty = tn_pkt_alloc(e->mp);
	uint8_t *d = tn_pkt_put(shorty, 12);
	memset(d, 0, shorty->len);
	d[0] = 0x45;
	shorty->l3_off = tn_pkt_off(shorty, d);
	tn_qdisc_enqueue(q, shorty);
	tn_fq_codel_get_xstats(q, &xs);
	assert_int_equal(xs.new_flows_len, 1);
	assert_int_equal(q->stats.qlen, 5);
	tn_qdisc_destroy(q);
}

/* ---- CoDel's arithmetic ---- */

static void test_codel_control_law(void **state)
{
	(void)state;
	struct tn_codel_vars v;
	tn_codel_vars_init(&v);
	v.count = 1;
	double worst = 0;
	for (uint32_t c = 2; c <= 20000; c++) { /* one Newton step per drop, as CoDel counts */
		v.count = c;
		tn_codel_newton_step(&v);
		double err = fabs(v.rec_inv_sqrt / 4294967296.0 * sqrt((double)c) - 1);
		if (c >= 16 && err > worst)
			worst = err;
	}
	print_message("1/sqrt(count) by Newton steps, count 16..20000: worst relative error %.5f\n", worst);
	assert_true(worst < 0.01);
	/* a jump (re-entering dropping state, or the fattest-flow drops)
	 * cannot wrap the step: it starts again near 1/sqrt(count) */
	v.count = 5000;
	v.rec_inv_sqrt = UINT32_MAX;
	tn_codel_newton_step(&v);
	assert_true(fabs(v.rec_inv_sqrt / 4294967296.0 * sqrt(5000.0) - 1) < 0.01);
	/* next drop at interval / sqrt(count) */
	assert_int_equal(tn_codel_control_law(1000, 100 * MS, UINT32_MAX), 1000 + 100 * MS - 1);
	uint64_t t = tn_codel_control_law(0, 100 * MS, 1u << 31); /* count 4 */
	assert_true(t >= 50 * MS - 1 && t <= 50 * MS);
	t = tn_codel_control_law(0, 3600 * SEC, 1u << 31); /* intervals past 32 bits */
	assert_true(t >= 1800 * SEC - 1 && t <= 1800 * SEC);
}

/* ---- Words ---- */

static void expect_error(struct t_qenv *e, const char *words, const char *named)
{
	struct tn_qerr err;
	struct tn_qdisc *q = mk(e, words, &err);
	if (q) {
		tn_qdisc_destroy(q);
		fail_msg("\"%s\" accepted", words);
	}
	if (!strstr(err.msg, named))
		fail_msg("\"%s\": message \"%s\" does not name \"%s\"", words, err.msg, named);
}

static void test_parse_and_dump(void **state)
{
	struct t_qenv *e = *state;
	char d[256];
	struct tn_qdisc *q = mk(e, "", NULL);
	q->ops->dump(q, d, sizeof(d));
	assert_string_equal(d, "limit 10240p flows 1024 quantum 1514 target 5ms interval 100ms memory_limit 32Mb ecn "
			       "drop_batch 64");
	char xs[256];
	tn_fq_codel_print_xstats(q, xs, sizeof(xs));
	assert_string_equal(xs, "maxpacket 0 drop_overlimit 0 new_flow_count 0 ecn_mark 0\nnew_flows_len 0 old_flows_len 0");
	tn_qdisc_destroy(q);

	q = mk(e, "limit 1000 flows 256 quantum 300 target 2ms interval 50ms memory_limit 4mb noecn drop_batch 16 "
		  "ce_threshold 500us",
	       NULL);
	assert_non_null(q);
	q->ops->dump(q, d, sizeof(d));
	assert_string_equal(d, "limit 1000p flows 256 quantum 300 target 2ms ce_threshold 500us interval 50ms "
			       "memory_limit 4Mb drop_batch 16");
	tn_qdisc_destroy(q);

	q = mk(e, "quantum 100 ecn", NULL); /* as Linux: at least 256 */
	q->ops->dump(q, d, sizeof(d));
	assert_non_null(strstr(d, "quantum 256 "));
	assert_non_null(strstr(d, " ecn "));
	tn_qdisc_destroy(q);

	expect_error(e, "limit lots", "lots");
	expect_error(e, "limit 0", "limit");
	expect_error(e, "limit", "limit");
	expect_error(e, "flows 0", "flows");
	expect_error(e, "flows 70000", "70000");
	expect_error(e, "quantum 2mb", "2mb");
	expect_error(e, "target soon", "soon");
	expect_error(e, "interval 0", "interval");
	expect_error(e, "interval -5ms", "-5ms");
	expect_error(e, "ce_threshold x", "ce_threshold");
	expect_error(e, "memory_limit 12q", "12q");
	expect_error(e, "drop_batch 0", "drop_batch");
	expect_error(e, "ecn perturb 10", "perturb");
	expect_error(e, "limit 100 bogus", "bogus");

	/* change: all or nothing; flows is fixed; a lower limit drops */
	q = mk(e, "", NULL);
	for (uint16_t i = 0; i < 10; i++)
		tn_qdisc_enqueue(q, udp_pkt(e, (uint16_t)(1 + i % 2), 0, i, 100, 0));
	struct tn_qerr err;
	assert_int_equal(change(q, "limit 5 flows 512", &err), -1);
	assert_non_null(strstr(err.msg, "flows"));
	q->ops->dump(q, d, sizeof(d));
	assert_non_null(strstr(d, "limit 10240p "));
	assert_int_equal(change(q, "limit 5 target 10ms noecn", &err), 0);
	q->ops->dump(q, d, sizeof(d));
	assert_string_equal(d, "limit 5p flows 1024 quantum 1514 target 10ms interval 100ms memory_limit 32Mb drop_batch 64");
	assert_int_equal(q->stats.qlen, 5);
	assert_int_equal(q->stats.drops, 5);
	assert_int_equal(change(q, "flows 1024", &err), 0); /* the same value is fine */
	tn_qdisc_destroy(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codel_control_law),
		cmocka_unit_test_setup_teardown(test_parse_and_dump, setup, t_qenv_teardown),
		cmocka_unit_test_setup_teardown(test_flows_hashing, setup, t_qenv_teardown),
		cmocka_unit_test_setup_teardown(test_new_flow_first, setup, t_qenv_teardown),
		cmocka_unit_test_setup_teardown(test_packet_limit, setup, t_qenv_teardown),
		cmocka_unit_test_setup_teardown(test_memory_limit, setup, t_qenv_teardown),
		cmocka_unit_test_setup_teardown(test_ce_threshold, setup, t_qenv_teardown),
		cmocka_unit_test_setup_teardown(test_fairness, setup, t_qenv_teardown),
		cmocka_unit_test_setup_teardown(test_codel_standing_queue, setup, t_qenv_teardown),
		cmocka_unit_test_setup_teardown(test_codel_ecn, setup, t_qenv_teardown),
		cmocka_unit_test_setup_teardown(test_codel_unresponsive, setup, t_qenv_teardown),
		cmocka_unit_test_setup_teardown(test_sparse_flow, setup, t_qenv_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
