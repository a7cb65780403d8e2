/* htb on a virtual clock: each class gets its rate, lends unused bandwidth
 * up to ceil and gets it back, never exceeds ceil, serves priorities first
 * among borrowers; the tc-htb manual's tree with its filters; default class
 * and direct packets; the watchdog's exact times; class options, graft,
 * delete. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/pkt.h"
#include "sched/qdisc.h"
#include "sched/sch_cls.h"
#include "sched/sch_ops.h"

#include "qenv.h"

#define NSEC 1000000000ull
#define PKT 1500u
#define MAXSRC 4
#define WIN_NS 100000000ull /* 100 ms windows */
#define MAXWIN 400

static int setup(void **state)
{
	static struct t_qenv e;
	*state = &e;
	return t_qenv_init(&e, 2048, 1, 1000);
}

static int after(void **state)
{
	struct t_qenv *e = *state;
	assert_int_equal(tn_mempool_in_use(e->mp), 0);
	return 0;
}

static struct tn_qdisc *mk_htb(struct t_qenv *e, const char *words)
{
	struct tn_qerr err;
	struct tn_qdisc *q = t_qdisc_root(&e->q, "htb", words, &err);
	if (!q)
		fail_msg("htb %s: %s", words, err.msg);
	return q;
}

static int class_try(struct tn_qdisc *q, uint32_t classid, uint32_t parent, const char *words, struct tn_qerr *err)
{
	char buf[256], *argv[32];
	int argc = t_split_words(buf, sizeof(buf), words, argv, 32);
	memset(err, 0, sizeof(*err));
	return q->ops->cl->change(q, classid, parent, argc, argv, err);
}

static void cls(struct tn_qdisc *q, uint32_t classid, uint32_t parent, const char *words)
{
	struct tn_qerr err;
	if (class_try(q, classid, parent, words, &err) < 0)
		fail_msg("class %x %s: %s", classid, words, err.msg);
}

static void filter(struct tn_qdisc *q, const char *words)
{
	char buf[256], *argv[32];
	int argc = t_split_words(buf, sizeof(buf), words, argv, 32);
	struct tn_qerr err = {{0}};
	if (tn_qfilter_add(q, argc, argv, &err) < 0)
		fail_msg("filter %s: %s", words, err.msg);
}

/* A UDP/IPv4 packet of `len` bytes; the IP id carries the source index. */
static struct tn_pkt *udp_pkt(struct t_qenv *e, uint16_t id, uint16_t sport, uint16_t dport, uint32_t len)
{
	struct tn_pkt *p = tn_pkt_alloc(e->mp);
	assert_non_null(p);
	uint8_t *d = tn_pkt_put(p, len);
	memset(d, 0, len);
	d[0] = 0x45;
	d[2] = (uint8_t)(len >> 8);
	d[3] = (uint8_t)len;
	d[4] = (uint8_t)(id >> 8);
	d[5] = (uint8_t)id;
	d[9] = 17;
	d[20] = (uint8_t)(sport >> 8);
	d[21] = (uint8_t)sport;
	d[22] = (uint8_t)(dport >> 8);
	d[23] = (uint8_t)dport;
	p->l3_off = tn_pkt_off(p, d);
	p->l4_off = (uint16_t)(p->l3_off + 20);
	return p;
}

static uint16_t pkt_id(const struct tn_pkt *p) { return (uint16_t)(p->data[4] << 8 | p->data[5]); }

/* Traffic sources: each keeps its class's leaf backlogged while active. */
struct src {
	uint16_t sport, dport;
	uint32_t classid; /* where it should land, to watch its leaf's queue */
	bool active;
};

struct meter {
	uint64_t bytes[MAXSRC];
	uint64_t win[MAXSRC][MAXWIN];
};

/* Run the device until `t_end`: dequeue at `line` bytes/s (0: as fast as
 * the qdisc allows), jumping to the watchdog when it holds packets back. */
static void run(struct t_qenv *e, struct tn_qdisc *q, struct src *s, int n, uint64_t t_end, uint64_t line,
		struct meter *m)
{
	while (e->q.now < t_end) {
		for (int i = 0; i < n; i++) {
			if (!s[i].active)
				continue;
			struct tn_qdisc *leaf = q->ops->cl->leaf(q, s[i].classid);
			assert_non_null(leaf);
			while (leaf->stats.qlen < 8)
				tn_qdisc_enqueue(q, udp_pkt(e, (uint16_t)i, s[i].sport, s[i].dport, PKT));
		}
		e->q.wake_at = UINT64_MAX;
		struct tn_pkt *p = tn_qdisc_dequeue(q);
		if (p) {
			uint16_t id = pkt_id(p);
			assert_true(id < n);
			m->bytes[id] += p->pkt_len;
			uint64_t w = e->q.now / WIN_NS;
			if (w < MAXWIN)
				m->win[id][w] += p->pkt_len;
			if (line)
				e->q.now += (uint64_t)p->pkt_len * NSEC / line;
			tn_pkt_free(p);
			continue;
		}
		/* nothing may leave: the watchdog must say exactly when */
		assert_true(e->q.wake_at != UINT64_MAX);
		assert_true(e->q.wake_at > e->q.now);
		e->q.now = e->q.wake_at;
	}
}

static double mbit(uint64_t bytes, uint64_t ns) { return (double)bytes * 8 / ((double)ns / 1e9) / 1e6; }

static void expect_mbit(const char *what, double got, double want, double tol)
{
	print_message("    %-28s %8.4f Mbit/s (expected %.4f)\n", what, got, want);
	if (got < want * (1 - tol) || got > want * (1 + tol))
		fail_msg("%s: %.4f Mbit/s, expected %.4f within %.0f%%", what, got, want, tol * 100);
}

static void drain(struct tn_qdisc *q)
{
	tn_qdisc_reset(q);
	tn_qdisc_destroy(q);
}

#define C(min) TN_TC_H(1, (min))

/* Each class gets its rate when all are busy. */
static void test_rates(void **state)
{
	struct t_qenv *e = *state;
	struct tn_qdisc *q = mk_htb(e, "default 20");
	cls(q, C(1), C(0), "rate 10mbit burst 15k");
	cls(q, C(0x10), C(1), "rate 3mbit burst 15k");
	cls(q, C(0x20), C(1), "rate 7mbit burst 15k");
	filter(q, "protocol ip prio 1 u32 match ip dport 10 0xffff flowid 1:10");
	struct src s[2] = {{1, 10, C(0x10), true}, {1, 20, C(0x20), true}};
	static struct meter m;
	memset(&m, 0, sizeof(m));
	run(e, q, s, 2, 10 * NSEC, 100000000 / 8, &m);
	expect_mbit("1:10 rate 3mbit", mbit(m.bytes[0], 10 * NSEC), 3, 0.01);
	expect_mbit("1:20 rate 7mbit", mbit(m.bytes[1], 10 * NSEC), 7, 0.01);
	drain(q);
}

/* Lending: a class alone borrows up to its ceil (and no more, in any
 * 100 ms window), gives back when the owner returns, and borrows again. */
static void test_borrow_and_return(void **state)
{
	struct t_qenv *e = *state;
	struct tn_qdisc *q = mk_htb(e, "default 20");
	cls(q, C(1), C(0), "rate 10mbit burst 15k");
	cls(q, C(0x10), C(1), "rate 6mbit ceil 10mbit burst 15k");
	cls(q, C(0x20), C(1), "rate 4mbit ceil 7mbit burst 15k");
	filter(q, "protocol ip prio 1 u32 match ip dport 10 0xffff flowid 1:10");
	struct src s[2] = {{1, 10, C(0x10), false}, {1, 20, C(0x20), true}};
	static struct meter m;
	memset(&m, 0, sizeof(m));
	/* 0-10 s: only 1:20, which borrows up to its ceil of 7 */
	run(e, q, s, 2, 10 * NSEC, 100000000 / 8, &m);
	expect_mbit("1:20 alone (ceil 7mbit)", mbit(m.bytes[1], 10 * NSEC), 7, 0.02);
	/* 10-20 s: 1:10 comes back and gets its 6 at once */
	uint64_t b0 = m.bytes[0], b1 = m.bytes[1];
	s[0].active = true;
	run(e, q, s, 2, 20 * NSEC, 100000000 / 8, &m);
	expect_mbit("1:10 back (rate 6mbit)", mbit(m.bytes[0] - b0, 10 * NSEC), 6, 0.03);
	expect_mbit("1:20 with 1:10 (rate 4mbit)", mbit(m.bytes[1] - b1, 10 * NSEC), 4, 0.03);
	/* the owner got its rate within the first 200 ms of coming back */
	assert_true(mbit(m.win[0][101], WIN_NS) > 5.5);
	/* 20-30 s: 1:20 leaves; 1:10 borrows up to its ceil of 10 */
	b0 = m.bytes[0];
	s[1].active = false; /* its last queued packets drain first */
	run(e, q, s, 2, 30 * NSEC, 100000000 / 8, &m);
	expect_mbit("1:10 alone (ceil 10mbit)", mbit(m.bytes[0] - b0, 10 * NSEC), 10, 0.02);
	/* never above ceil: in every 100 ms window after the first, at most
	 * ceil plus one packet */
	for (int w = 1; w < 300; w++) {
		assert_true(m.win[1][w] <= 7000000 / 8 / 10 + PKT);
		assert_true(m.win[0][w] <= 10000000 / 8 / 10 + PKT);
	}
	drain(q);
}

/* Among borrowers the lower prio is served first: with both saturated,
 * prio 0 takes everything left above the two rates. */
static void test_prio_borrowers(void **state)
{
	struct t_qenv *e = *state;
	struct tn_qdisc *q = mk_htb(e, "default 20");
	cls(q, C(1), C(0), "rate 10mbit");
	cls(q, C(0x10), C(1), "rate 1mbit ceil 10mbit prio 1");
	cls(q, C(0x20), C(1), "rate 1mbit ceil 10mbit prio 0");
	filter(q, "protocol ip prio 1 u32 match ip dport 10 0xffff flowid 1:10");
	struct src s[2] = {{1, 10, C(0x10), true}, {1, 20, C(0x20), true}};
	static struct meter m;
	memset(&m, 0, sizeof(m));
	run(e, q, s, 2, 10 * NSEC, 0, &m);
	expect_mbit("1:10 prio 1 (rate only)", mbit(m.bytes[0], 10 * NSEC), 1, 0.03);
	expect_mbit("1:20 prio 0 (rate + spare)", mbit(m.bytes[1], 10 * NSEC), 9, 0.03);
	drain(q);
}

static void class_dump(struct tn_qdisc *q, uint32_t classid, const char *want)
{
	char d[160];
	struct tn_qstats st;
	q->ops->cl->dump(q, classid, d, sizeof(d), &st);
	assert_string_equal(d, want);
}

/* The tc-htb manual's tree, filters as written.  Linux serves a leaf that
 * has tokens of its own without asking its parent, so with all three
 * saturated 1:10 gets its 5 Mbit and 1:20 its 3 Mbit (together more than
 * 1:1's 6: the manual oversubscribes), and 1:30 only its 1 kbit after its
 * first burst: 1:1 never has tokens left to lend. */
static void test_manual_tree(void **state)
{
	struct t_qenv *e = *state;
	struct tn_qdisc *q = mk_htb(e, "default 30");
	cls(q, C(1), C(0), "rate 6mbit burst 15k");
	cls(q, C(0x10), C(1), "rate 5mbit burst 15k");
	cls(q, C(0x20), C(1), "rate 3mbit ceil 6mbit burst 15k");
	cls(q, C(0x30), C(1), "rate 1kbit ceil 6mbit burst 15k");
	filter(q, "protocol ip prio 1 u32 match ip dport 80 0xffff flowid 1:10");
	filter(q, "protocol ip prio 1 u32 match ip sport 25 0xffff flowid 1:20");
	char d[160];
	q->ops->dump(q, d, sizeof(d));
	assert_string_equal(d, "r2q 10 default 0x30 direct_packets_stat 0 direct_qlen 1000");
	class_dump(q, C(1), "rate 6Mbit ceil 6Mbit burst 15Kb cburst 1599b");
	class_dump(q, C(0x10), "prio 0 rate 5Mbit ceil 5Mbit burst 15Kb cburst 1600b");
	class_dump(q, C(0x20), "prio 0 rate 3Mbit ceil 6Mbit burst 15Kb cburst 1599b");
	class_dump(q, C(0x30), "prio 0 rate 1Kbit ceil 6Mbit burst 15Kb cburst 1599b");
	/* graft a leaf, as "tc qdisc add dev X parent 1:10 handle 20: pfifo limit 50" */
	char w1[] = "limit", w2[] = "50", *argv[] = {w1, w2};
	struct tn_qerr err;
	struct tn_qdisc *leaf = tn_qdisc_create(&e->q, "pfifo", TN_TC_H(0x20, 0), C(0x10), 2, argv, &err);
	assert_non_null(leaf);
	struct tn_qdisc *old;
	assert_int_equal(q->ops->cl->graft(q, C(0x10), leaf, &old), 0);
	tn_qdisc_destroy(old);
	assert_ptr_equal(q->ops->cl->leaf(q, C(0x10)), leaf);

	struct src s[3] = {{40000, 80, C(0x10), true}, {25, 40001, C(0x20), true}, {40002, 5001, C(0x30), true}};
	static struct meter m;
	memset(&m, 0, sizeof(m));
	run(e, q, s, 3, 10 * NSEC, 100000000 / 8, &m);
	expect_mbit("1:10 (dport 80, 5mbit)", mbit(m.bytes[0], 10 * NSEC), 5, 0.01);
	expect_mbit("1:20 (sport 25, 3mbit)", mbit(m.bytes[1], 10 * NSEC), 3, 0.01);
	print_message("    1:30 (default, 1kbit)        %8.4f Mbit/s\n", mbit(m.bytes[2], 10 * NSEC));
	/* its burst (15k at 1kbit is ~10 packets) and then one packet per 12 s */
	assert_true(m.bytes[2] <= 12 * PKT);
	assert_true(m.bytes[2] >= 8 * PKT);
	assert_int_equal(q->ops->cl->leaf(q, C(0x10))->stats.drops, 0);
	drain(q);
}

/* The same tree with guaranteed rates that fit in 1:1 and explicit quanta:
 * 1:10 gets 5, and 1:20 and 1:30 share what is left over their own rates
 * in the ratio of their quanta (2:1). */
static void test_borrow_by_quantum(void **state)
{
	struct t_qenv *e = *state;
	struct tn_qdisc *q = mk_htb(e, "default 30");
	cls(q, C(1), C(0), "rate 6mbit burst 15k");
	cls(q, C(0x10), C(1), "rate 5mbit burst 15k");
	cls(q, C(0x20), C(1), "rate 100kbit ceil 6mbit burst 15k quantum 3000");
	cls(q, C(0x30), C(1), "rate 1kbit ceil 6mbit burst 15k quantum 1500");
	filter(q, "protocol ip prio 1 u32 match ip dport 80 0xffff flowid 1:10");
	filter(q, "protocol ip prio 1 u32 match ip sport 25 0xffff flowid 1:20");
	struct src s[3] = {{40000, 80, C(0x10), true}, {25, 40001, C(0x20), true}, {40002, 5001, C(0x30), true}};
	static struct meter m;
	memset(&m, 0, sizeof(m));
	run(e, q, s, 3, 2 * NSEC, 100000000 / 8, &m); /* past the initial bursts */
	uint64_t b[3] = {m.bytes[0], m.bytes[1], m.bytes[2]};
	run(e, q, s, 3, 12 * NSEC, 100000000 / 8, &m);
	double spare = 6 - 5 - 0.1 - 0.001;
	expect_mbit("1:10 rate 5mbit", mbit(m.bytes[0] - b[0], 10 * NSEC), 5, 0.02);
	expect_mbit("1:20 100kbit + 2/3 spare", mbit(m.bytes[1] - b[1], 10 * NSEC), 0.1 + spare * 2 / 3, 0.04);
	expect_mbit("1:30 1kbit + 1/3 spare", mbit(m.bytes[2] - b[2], 10 * NSEC), 0.001 + spare / 3, 0.04);
	expect_mbit("total (1:1's 6mbit)", mbit(m.bytes[0] + m.bytes[1] + m.bytes[2] - b[0] - b[1] - b[2], 10 * NSEC),
		    6, 0.01);
	drain(q);
}

/* Unclassified packets go to the default class; with no such class (or an
 * inner one), straight out as Linux's direct packets, counted. */
static void test_default_and_direct(void **state)
{
	struct t_qenv *e = *state;
	struct tn_qdisc *q = mk_htb(e, "default 30");
	cls(q, C(1), C(0), "rate 6mbit");
	cls(q, C(0x10), C(1), "rate 5mbit");
	cls(q, C(0x30), C(1), "rate 1mbit");
	filter(q, "protocol ip prio 1 u32 match ip dport 80 0xffff flowid 1:10");
	filter(q, "protocol ip prio 2 u32 match ip dport 81 0xffff flowid 1:77"); /* no such class */
	filter(q, "protocol ip prio 3 u32 match ip dport 82 0xffff flowid 1:1");  /* inner */
	filter(q, "protocol ip prio 4 u32 match ip dport 83 0xffff flowid 1:0");  /* X:0: direct */
	uint16_t dports[] = {80, 81, 82, 5000, 83};
	for (int i = 0; i < 5; i++)
		assert_int_equal(tn_qdisc_enqueue(q, udp_pkt(e, (uint16_t)i, 1, dports[i], 100)), TN_QDISC_OK);
	assert_int_equal(q->ops->cl->leaf(q, C(0x10))->stats.qlen, 1);
	assert_int_equal(q->ops->cl->leaf(q, C(0x30))->stats.qlen, 3);
	assert_int_equal(q->stats.qlen, 5);
	assert_int_equal(q->stats.backlog, 500);
	/* the direct packet leaves first */
	struct tn_pkt *p = tn_qdisc_dequeue(q);
	assert_int_equal(pkt_id(p), 4);
	tn_pkt_free(p);
	char d[160];
	q->ops->dump(q, d, sizeof(d));
	assert_string_equal(d, "r2q 10 default 0x30 direct_packets_stat 1 direct_qlen 1000");
	for (int i = 0; i < 4; i++)
		tn_pkt_free(tn_qdisc_dequeue(q));
	assert_int_equal(q->stats.qlen, 0);
	assert_int_equal(q->stats.packets, 5);
	assert_int_equal(q->stats.bytes, 500);
	struct tn_qstats st;
	q->ops->cl->dump(q, C(0x30), d, sizeof(d), &st);
	assert_int_equal(st.packets, 3);
	q->ops->cl->dump(q, C(1), d, sizeof(d), &st);
	assert_int_equal(st.packets, 4); /* inner classes count what passed */
	tn_qdisc_destroy(q);

	/* default 0: everything unclassified is direct, limited by direct_qlen */
	q = mk_htb(e, "r2q 5 direct_qlen 3");
	cls(q, C(1), C(0), "rate 6mbit");
	for (int i = 0; i < 5; i++)
		tn_qdisc_enqueue(q, udp_pkt(e, (uint16_t)i, 1, 9, 100));
	assert_int_equal(q->stats.qlen, 3);
	assert_int_equal(q->stats.drops, 2);
	q->ops->dump(q, d, sizeof(d));
	assert_string_equal(d, "r2q 5 default 0 direct_packets_stat 3 direct_qlen 3");
	tn_qdisc_destroy(q); /* frees what it holds */
}

/* The watchdog: exactly when the class's tokens allow the next packet. */
static void test_watchdog(void **state)
{
	struct t_qenv *e = *state;
	struct tn_qdisc *q = mk_htb(e, "default 1");
	/* 1mbit: 1000 bytes take 8 ms; burst (1600 bytes) is 12.8 ms */
	cls(q, C(1), C(0), "rate 1mbit");
	for (int i = 0; i < 5; i++)
		tn_qdisc_enqueue(q, udp_pkt(e, (uint16_t)i, 1, 9, 1000));
	struct tn_pkt *p;
	assert_non_null(p = tn_qdisc_dequeue(q)); /* tokens 12.8 -> 4.8 ms */
	tn_pkt_free(p);
	assert_non_null(p = tn_qdisc_dequeue(q)); /* 4.8 -> -3.2 ms */
	tn_pkt_free(p);
	e->q.wake_at = UINT64_MAX;
	assert_null(tn_qdisc_dequeue(q));
	assert_int_equal(e->q.wake_at, 3200000);
	assert_int_equal(q->stats.overlimits, 1);
	e->q.now = 3199999;
	assert_null(tn_qdisc_dequeue(q));
	e->q.now = 3200000;
	assert_non_null(p = tn_qdisc_dequeue(q));
	tn_pkt_free(p);
	e->q.wake_at = UINT64_MAX;
	assert_null(tn_qdisc_dequeue(q));
	assert_int_equal(e->q.wake_at, 3200000 + 8000000);
	/* an empty qdisc asks for nothing */
	tn_qdisc_reset(q);
	e->q.wake_at = UINT64_MAX;
	assert_null(tn_qdisc_dequeue(q));
	assert_int_equal(e->q.wake_at, UINT64_MAX);
	tn_qdisc_destroy(q);
}

static void class_bad(struct tn_qdisc *q, uint32_t classid, uint32_t parent, const char *words, const char *word)
{
	struct tn_qerr err;
	if (class_try(q, classid, parent, words, &err) == 0)
		fail_msg("class %x \"%s\" accepted", classid, words);
	if (!strstr(err.msg, word))
		fail_msg("class \"%s\": \"%s\" does not name \"%s\"", words, err.msg, word);
}

/* The chain 1:1 > 1:2 > ... > 1:8: each class's parent is the one before. */
static void walk_fn(void *ctx, uint32_t classid, uint32_t par, struct tn_qdisc *lf)
{
	(*(int *)ctx)++;
	assert_true(classid == C(1) ? par == C(0) : par == classid - 1);
	assert_true(classid == C(8) ? lf != NULL : lf == NULL);
}

static void test_class_ops(void **state)
{
	struct t_qenv *e = *state;
	struct tn_qerr err;
	char *bad[] = {"default", "zz"};
	assert_null(tn_qdisc_create(&e->q, "htb", C(0), TN_TC_H_ROOT, 2, bad, &err));
	assert_non_null(strstr(err.msg, "zz"));
	char *bad2[] = {"r2q", "0"};
	assert_null(tn_qdisc_create(&e->q, "htb", C(0), TN_TC_H_ROOT, 2, bad2, &err));
	char *bad3[] = {"quantum", "10"};
	assert_null(tn_qdisc_create(&e->q, "htb", C(0), TN_TC_H_ROOT, 2, bad3, &err));
	assert_non_null(strstr(err.msg, "quantum"));

	struct tn_qdisc *q = mk_htb(e, "default 10");
	class_bad(q, C(1), C(0), "ceil 5mbit", "rate");
	class_bad(q, C(1), C(0), "rate fast", "fast");
	class_bad(q, C(1), C(0), "rate 5mbit ceil 1mbit", "ceil");
	class_bad(q, C(1), C(0), "rate 5mbit prio 8", "8");
	class_bad(q, C(1), C(0), "rate 5mbit burst lots", "lots");
	class_bad(q, C(1), C(0), "rate 5mbit color red", "color");
	class_bad(q, C(1), C(0), "rate 5mbit quantum", "quantum");
	class_bad(q, C(1), C(5), "rate 5mbit", "1:5");           /* no such parent */
	class_bad(q, TN_TC_H(2, 1), C(0), "rate 5mbit", "2:1"); /* another qdisc's id */
	class_bad(q, C(1), C(0), "rate 8bit burst 1g", "burst");
	cls(q, C(1), C(0), "rate 6mbit");
	cls(q, C(0x10), C(1), "rate 5mbit");
	/* quantum = rate / r2q, clamped to 1000..200000 */
	cls(q, C(0x11), C(1), "rate 1kbit");
	cls(q, C(0x12), C(1), "rate 10gbit");
	assert_int_equal(q->ops->cl->remove(q, C(0x11), &err), 0);
	assert_int_equal(q->ops->cl->remove(q, C(0x12), &err), 0);
	/* change keeps the class, all or nothing */
	class_bad(q, C(0x10), C(1), "rate 4mbit ceil 3mbit", "ceil");
	class_dump(q, C(0x10), "prio 0 rate 5Mbit ceil 5Mbit burst 1600b cburst 1600b");
	cls(q, C(0x10), C(1), "rate 4mbit ceil 5mbit prio 3 burst 10k");
	class_dump(q, C(0x10), "prio 3 rate 4Mbit ceil 5Mbit burst 10Kb cburst 1600b");
	/* deleting a class with children, or one a filter points at, is refused */
	assert_int_equal(q->ops->cl->remove(q, C(1), &err), -1);
	assert_non_null(strstr(err.msg, "children"));
	filter(q, "protocol ip prio 1 u32 match ip dport 80 0xffff flowid 1:10");
	assert_int_equal(q->ops->cl->remove(q, C(0x10), &err), -1);
	assert_non_null(strstr(err.msg, "filter"));
	tn_qfilter_flush(q);
	/* packets queued in a leaf that gets a child are dropped and counted */
	for (int i = 0; i < 4; i++)
		tn_qdisc_enqueue(q, udp_pkt(e, 0, 1, 9, 100));
	assert_int_equal(q->stats.qlen, 4);
	cls(q, C(0x100), C(0x10), "rate 1mbit");
	assert_int_equal(q->stats.qlen, 0);
	assert_int_equal(q->stats.backlog, 0);
	assert_int_equal(q->stats.drops, 4);
	assert_null(q->ops->cl->leaf(q, C(0x10)));
	class_dump(q, C(0x10), "rate 4Mbit ceil 5Mbit burst 10Kb cburst 1600b"); /* inner: no prio */
	/* the default now names an inner class: unclassified goes direct */
	tn_qdisc_enqueue(q, udp_pkt(e, 0, 1, 9, 100));
	char d[128];
	q->ops->dump(q, d, sizeof(d));
	assert_non_null(strstr(d, "direct_packets_stat 1 "));
	struct tn_pkt *p = tn_qdisc_dequeue(q);
	assert_non_null(p);
	tn_pkt_free(p);
	/* delete the child: 1:10 is a leaf again, then 1:10, then 1:1 */
	assert_int_equal(q->ops->cl->remove(q, C(0x100), &err), 0);
	assert_non_null(q->ops->cl->leaf(q, C(0x10)));
	assert_int_equal(q->ops->cl->remove(q, C(0x10), &err), 0);
	assert_int_equal(q->ops->cl->remove(q, C(1), &err), 0);
	assert_int_equal(q->ops->cl->remove(q, C(1), &err), -1);
	/* the tree's depth is bounded, as Linux's 8 levels */
	uint32_t parent = C(0);
	int made = 0;
	for (int i = 1; i <= 10; i++) {
		if (class_try(q, C(i), parent, "rate 1mbit", &err) < 0) {
			assert_non_null(strstr(err.msg, "deep"));
			break;
		}
		made++;
		parent = C(i);
	}
	assert_int_equal(made, 8);
	/* walk visits every class with its parent */
	int visited = 0;
	q->ops->cl->walk(q, walk_fn, &visited);
	assert_int_equal(visited, 8);
	tn_qdisc_destroy(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rates, t_qenv_reset, after),
		cmocka_unit_test_setup_teardown(test_borrow_and_return, t_qenv_reset, after),
		cmocka_unit_test_setup_teardown(test_prio_borrowers, t_qenv_reset, after),
		cmocka_unit_test_setup_teardown(test_manual_tree, t_qenv_reset, after),
		cmocka_unit_test_setup_teardown(test_borrow_by_quantum, t_qenv_reset, after),
		cmocka_unit_test_setup_teardown(test_default_and_direct, t_qenv_reset, after),
		cmocka_unit_test_setup_teardown(test_watchdog, t_qenv_reset, after),
		cmocka_unit_test_setup_teardown(test_class_ops, t_qenv_reset, after),
	};
	return cmocka_run_group_tests(tests, setup, t_qenv_teardown);
}
