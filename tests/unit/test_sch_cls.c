/* tc filters: parsing u32/fw/flow words into keys, classifying packets built
 * by hand, all-or-nothing errors naming the bad word, prio order, dump. */
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

struct env {
	struct t_qenv t; /* first: t_qenv_teardown takes the env */
	struct tn_qdisc *qd; /* an htb qdisc 1: to hang filters on */
};

static int setup(void **state)
{
	static struct env e;
	*state = &e;
	return t_qenv_init(&e.t, 256, 1, 100);
}

static int before(void **state)
{
	struct env *e = *state;
	struct tn_qerr err;
	e->qd = tn_qdisc_create(&e->t.q, "htb", TN_TC_H(1, 0), TN_TC_H_ROOT, 0, NULL, &err);
	return e->qd ? 0 : -1;
}

static int after(void **state)
{
	struct env *e = *state;
	tn_qdisc_destroy(e->qd);
	return 0;
}

/* Split words and add a filter; returns tn_qfilter_add's result. */
static int add(struct env *e, const char *words, struct tn_qerr *err)
{
	char buf[512], *argv[64];
	int argc = t_split_words(buf, sizeof(buf), words, argv, 64);
	memset(err, 0, sizeof(*err));
	return tn_qfilter_add(e->qd, argc, argv, err);
}

static void add_ok(struct env *e, const char *words)
{
	struct tn_qerr err;
	if (add(e, words, &err) < 0)
		fail_msg("filter \"%s\": %s", words, err.msg);
}

static void add_bad(struct env *e, const char *words, const char *word)
{
	struct tn_qerr err;
	struct tn_qfilter *before_list = e->qd->filters;
	unsigned n0 = 0;
	for (struct tn_qfilter *f = before_list; f; f = f->next)
		n0++;
	if (add(e, words, &err) == 0)
		fail_msg("filter \"%s\" accepted", words);
	if (!strstr(err.msg, word))
		fail_msg("filter \"%s\": message \"%s\" does not name \"%s\"", words, err.msg, word);
	unsigned n1 = 0;
	for (struct tn_qfilter *f = e->qd->filters; f; f = f->next)
		n1++;
	assert_int_equal(n0, n1); /* nothing attached */
}

struct hdr {
	uint32_t src, dst;
	uint8_t proto, tos, ihl;
	uint16_t sport, dport;
	uint32_t mark;
};

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

/* An IPv4 packet (IHL 5 unless h->ihl) with a UDP or TCP header. */
static struct tn_pkt *pkt(struct env *e, const struct hdr *h)
{
	struct tn_pkt *p = tn_pkt_alloc(e->t.mp);
	assert_non_null(p);
	unsigned ihl = h->ihl ? h->ihl : 5, len = ihl * 4 + 20 + 40;
	uint8_t *d = tn_pkt_put(p, len);
	memset(d, 0, len);
	d[0] = (uint8_t)(0x40 | ihl);
	d[1] = h->tos;
	d[2] = (uint8_t)(len >> 8);
	d[3] = (uint8_t)len;
	d[8] = 64;
	d[9] = h->proto;
	for (int i = 0; i < 4; i++) {
		d[12 + i] = (uint8_t)(h->src >> (24 - 8 * i));
		d[16 + i] = (uint8_t)(h->dst >> (24 - 8 * i));
	}
	uint8_t *l4 = d + ihl * 4;
	l4[0] = (uint8_t)(h->sport >> 8);
	l4[1] = (uint8_t)h->sport;
	l4[2] = (uint8_t)(h->dport >> 8);
	l4[3] = (uint8_t)h->dport;
	p->l3_off = tn_pkt_off(p, d);
	p->l4_off = tn_pkt_off(p, l4);
	p->mark = h->mark;
	return p;
}

static uint32_t classify(struct env *e, const struct hdr *h)
{
	struct tn_pkt *p = pkt(e, h);
	uint32_t c = tn_qfilter_classify(e->qd, p);
	tn_pkt_free(p);
	return c;
}

static void test_u32_keys(void **state)
{
	struct env *e = *state;
	add_ok(e, "protocol ip prio 1 u32 match ip dport 80 0xffff flowid 1:10");
	struct tn_qfilter *f = e->qd->filters;
	assert_non_null(f);
	assert_int_equal(f->kind, TN_QFILTER_U32);
	assert_int_equal(f->prio, 1);
	assert_int_equal(f->protocol, 0x0800);
	assert_int_equal(f->classid, TN_TC_H(1, 0x10));
	assert_int_equal(f->nkeys, 1);
	assert_true(f->key[0].transport);
	assert_int_equal(f->key[0].off, 0);
	assert_int_equal(f->key[0].mask, 0x0000ffff);
	assert_int_equal(f->key[0].value, 80);
	tn_qfilter_flush(e->qd);

	add_ok(e, "protocol ip prio 1 u32 match ip sport 25 0xffff flowid 1:20");
	f = e->qd->filters;
	assert_int_equal(f->key[0].mask, 0xffff0000u);
	assert_int_equal(f->key[0].value, 25u << 16);
	tn_qfilter_flush(e->qd);

	/* sport and dport share nexthdr+0 and merge into one key, as tc does */
	add_ok(e, "protocol ip pref 5 u32 match ip src 10.1.0.0/16 match ip dst 192.0.2.7 match ip protocol 6 0xff "
		  "match ip sport 1000 0xffff match ip dport 22 0xffff match ip tos 0x10 0xff classid 1:3");
	f = e->qd->filters;
	assert_int_equal(f->prio, 5);
	assert_int_equal(f->nkeys, 5);
	assert_int_equal(f->key[0].off, 12);
	assert_int_equal(f->key[0].mask, 0xffff0000u);
	assert_int_equal(f->key[0].value, IP(10, 1, 0, 0));
	assert_int_equal(f->key[1].off, 16);
	assert_int_equal(f->key[1].mask, 0xffffffffu);
	assert_int_equal(f->key[1].value, IP(192, 0, 2, 7));
	assert_int_equal(f->key[2].off, 8); /* protocol: byte 9 in the word at 8 */
	assert_int_equal(f->key[2].mask, 0x00ff0000u);
	assert_int_equal(f->key[2].value, 6u << 16);
	assert_true(f->key[3].transport);
	assert_int_equal(f->key[3].mask, 0xffffffffu);
	assert_int_equal(f->key[3].value, 1000u << 16 | 22);
	assert_int_equal(f->key[4].off, 0); /* tos: byte 1 */
	assert_int_equal(f->key[4].mask, 0x00ff0000u);
	assert_int_equal(f->key[4].value, 0x10u << 16);
	tn_qfilter_flush(e->qd);

	add_ok(e, "u32 match u32 0x0a000001 0xffffffff at 12 match u16 0x1f90 0xffff at nexthdr+2 match u8 0x11 "
		  "0xff at 9 flowid 1:7");
	f = e->qd->filters;
	assert_int_equal(f->protocol, 0); /* all */
	assert_int_equal(f->prio, 0xc000); /* Linux's first automatic pref, 49152 */
	assert_int_equal(f->nkeys, 3);
	assert_int_equal(f->key[1].mask, 0x0000ffff);
	assert_int_equal(f->key[1].value, 0x1f90);
	assert_true(f->key[1].transport);
	assert_int_equal(f->key[2].off, 8);
	assert_int_equal(f->key[2].mask, 0x00ff0000u);
	add_ok(e, "u32 match ip dsfield 0xb8 0xfc flowid 1:8");
	assert_int_equal(e->qd->filters->prio, 0xc000 - 1); /* then one less than the first */
}

static void test_u32_classify(void **state)
{
	struct env *e = *state;
	/* the HTB manual's filters, as written */
	add_ok(e, "protocol ip prio 1 u32 match ip dport 80 0xffff flowid 1:10");
	add_ok(e, "protocol ip prio 1 u32 match ip sport 25 0xffff flowid 1:20");
	add_ok(e, "protocol ip prio 2 u32 match ip src 10.9.0.0/16 match ip protocol 17 0xff flowid 1:30");
	add_ok(e, "protocol ip prio 3 u32 match ip tos 0x10 0xff flowid 1:40");
	struct hdr web = {.src = IP(10, 0, 0, 1), .dst = IP(10, 0, 0, 2), .proto = 6, .sport = 40000, .dport = 80};
	assert_int_equal(classify(e, &web), TN_TC_H(1, 0x10));
	web.ihl = 7; /* IP options: ports are read after them */
	assert_int_equal(classify(e, &web), TN_TC_H(1, 0x10));
	struct hdr smtp = {.src = IP(10, 0, 0, 1), .proto = 6, .sport = 25, .dport = 50000};
	assert_int_equal(classify(e, &smtp), TN_TC_H(1, 0x20));
	struct hdr udp = {.src = IP(10, 9, 3, 4), .proto = 17, .sport = 53, .dport = 53};
	assert_int_equal(classify(e, &udp), TN_TC_H(1, 0x30));
	udp.src = IP(10, 8, 3, 4); /* outside the /16 */
	assert_int_equal(classify(e, &udp), 0);
	udp.tos = 0x10;
	assert_int_equal(classify(e, &udp), TN_TC_H(1, 0x40));
	udp.proto = 6; /* tcp from 10.9/16 is not 1:30 */
	udp.src = IP(10, 9, 0, 1);
	assert_int_equal(classify(e, &udp), TN_TC_H(1, 0x40));
	/* a packet without IPv4 matches no u32 filter */
	struct tn_pkt *arp = tn_pkt_alloc(e->t.mp);
	tn_pkt_put(arp, 42);
	assert_int_equal(tn_qfilter_classify(e->qd, arp), 0);
	tn_pkt_free(arp);
	/* hits are counted */
	assert_true(e->qd->filters->hits >= 2);
}

/* tc's tcp/udp selectors are the transport header's ports */
static void test_u32_l4_selectors(void **state)
{
	struct env *e = *state;
	add_ok(e, "protocol ip prio 1 u32 match ip protocol 17 0xff match udp dst 53 0xffff flowid 1:5");
	add_ok(e, "protocol ip prio 2 u32 match tcp src 8080 0xffff flowid 1:6");
	struct hdr dns = {.src = IP(10, 0, 0, 1), .proto = 17, .sport = 4000, .dport = 53};
	assert_int_equal(classify(e, &dns), TN_TC_H(1, 5));
	dns.proto = 6; /* port 53 over TCP is not the UDP match */
	assert_int_equal(classify(e, &dns), 0);
	struct hdr web = {.src = IP(10, 0, 0, 1), .proto = 6, .sport = 8080, .dport = 40000};
	assert_int_equal(classify(e, &web), TN_TC_H(1, 6));
	add_bad(e, "protocol ip prio 3 u32 match tcp port 80 0xffff flowid 1:7", "port");
	add_bad(e, "protocol ip prio 3 u32 match udp dst 70000 0xffff flowid 1:7", "70000");
	add_bad(e, "protocol ip prio 3 u32 match udp dst 53", "udp");
}

static void test_prio_order(void **state)
{
	struct env *e = *state;
	/* added out of order; the lower prio wins whatever the order */
	add_ok(e, "protocol ip prio 10 u32 match ip dport 80 0xffff flowid 1:2");
	add_ok(e, "protocol ip prio 2 u32 match ip protocol 6 0xff flowid 1:1");
	add_ok(e, "protocol ip prio 5 u32 match ip dport 80 0xffff flowid 1:3");
	uint32_t last = 0;
	for (struct tn_qfilter *f = e->qd->filters; f; f = f->next) {
		assert_true(f->prio >= last);
		last = f->prio;
	}
	struct hdr web = {.proto = 6, .dport = 80};
	assert_int_equal(classify(e, &web), TN_TC_H(1, 1));
	web.proto = 17;
	assert_int_equal(classify(e, &web), TN_TC_H(1, 3));
	tn_qfilter_del(e->qd, 5);
	assert_int_equal(classify(e, &web), TN_TC_H(1, 2));
	/* within one prio, the order they were added */
	add_ok(e, "protocol ip prio 7 u32 match ip dport 80 0xffff flowid 1:7");
	add_ok(e, "protocol ip prio 7 u32 match ip protocol 17 0xff flowid 1:8");
	assert_int_equal(classify(e, &web), TN_TC_H(1, 7));
	char d[1024];
	tn_qfilter_dump(e->qd, d, sizeof(d));
	assert_non_null(strstr(d, "filter parent 1: protocol ip pref 2 u32 chain 0 fh 801::800 order 2048 key ht 801 "
				  "bkt 0 flowid 1:1\n  match 00060000/00ff0000 at 8\n"));
	assert_non_null(strstr(d, "pref 7 u32 chain 0 fh 802::801 order 2049"));
	assert_non_null(strstr(d, "  match 00000050/0000ffff at nexthdr+0\n"));
}

static void test_fw(void **state)
{
	struct env *e = *state;
	add_ok(e, "protocol ip prio 1 handle 6 fw classid 1:6");
	add_ok(e, "protocol ip prio 1 handle 0x10/0xf0 fw classid 1:a");
	struct tn_qfilter *f = e->qd->filters;
	assert_int_equal(f->kind, TN_QFILTER_FW);
	assert_int_equal(f->handle, 6);
	assert_int_equal(f->classid, TN_TC_H(1, 6));
	struct hdr h = {.proto = 17, .mark = 6};
	assert_int_equal(classify(e, &h), TN_TC_H(1, 6));
	h.mark = 7;
	assert_int_equal(classify(e, &h), 0);
	h.mark = 0x1f; /* & 0xf0 == 0x10 */
	assert_int_equal(classify(e, &h), TN_TC_H(1, 0xa));
	h.mark = 0;
	assert_int_equal(classify(e, &h), 0);
	char d[512];
	tn_qfilter_dump(e->qd, d, sizeof(d));
	assert_non_null(strstr(d, "filter parent 1: protocol ip pref 1 fw chain 0 handle 0x6 classid 1:6\n"));
	assert_non_null(strstr(d, "handle 0x10/0xf0 classid 1:a\n"));
	tn_qfilter_flush(e->qd);
	/* fw without a handle: the mark names the class */
	add_ok(e, "prio 3 fw");
	h.mark = 0x20;
	assert_int_equal(classify(e, &h), TN_TC_H(1, 0x20));
	h.mark = TN_TC_H(1, 0x21);
	assert_int_equal(classify(e, &h), TN_TC_H(1, 0x21));
	h.mark = TN_TC_H(2, 0x21); /* another qdisc's class */
	assert_int_equal(classify(e, &h), 0);
	/* "protocol ip" fw does not take ARP */
	tn_qfilter_flush(e->qd);
	add_ok(e, "protocol ip prio 1 handle 6 fw classid 1:6");
	struct tn_pkt *arp = tn_pkt_alloc(e->t.mp);
	tn_pkt_put(arp, 42);
	arp->mark = 6;
	assert_int_equal(tn_qfilter_classify(e->qd, arp), 0);
	tn_pkt_free(arp);
}

static void test_flow(void **state)
{
	struct env *e = *state;
	add_ok(e, "protocol ip prio 1 flow hash keys src,dst,proto,proto-src,proto-dst divisor 16 baseclass 1:10");
	struct tn_qfilter *f = e->qd->filters;
	assert_int_equal(f->kind, TN_QFILTER_FLOW);
	assert_int_equal(f->flow_divisor, 16);
	assert_int_equal(f->flow_keys, TN_QFLOW_KEY_SRC | TN_QFLOW_KEY_DST | TN_QFLOW_KEY_PROTO |
					       TN_QFLOW_KEY_PROTO_SRC | TN_QFLOW_KEY_PROTO_DST);
	unsigned seen[16] = {0};
	for (uint16_t port = 1000; port < 1400; port++) {
		struct hdr h = {.src = IP(10, 0, 0, 1), .dst = IP(10, 0, 0, 2), .proto = 17, .sport = port,
				.dport = 9};
		uint32_t c = classify(e, &h);
		assert_true(c >= TN_TC_H(1, 0x10) && c < TN_TC_H(1, 0x20)); /* baseclass .. +divisor-1 */
		seen[c - TN_TC_H(1, 0x10)]++;
		assert_int_equal(classify(e, &h), c); /* the same flow, the same class */
	}
	for (int i = 0; i < 16; i++)
		assert_true(seen[i] > 5); /* 400 flows spread over all 16 */
	char d[256];
	tn_qfilter_dump(e->qd, d, sizeof(d));
	assert_string_equal(d, "filter parent 1: protocol ip pref 1 flow chain 0 handle 0x1 hash keys "
			       "src,dst,proto,proto-src,proto-dst divisor 16 baseclass 1:10\n");
	tn_qfilter_flush(e->qd);
	/* keys dst only: the source port does not matter; default baseclass 1:1 */
	add_ok(e, "flow hash keys dst divisor 8");
	uint32_t c0 = 0;
	for (uint16_t port = 1; port < 50; port++) {
		struct hdr h = {.dst = IP(10, 0, 0, 2), .proto = 6, .sport = port};
		uint32_t c = classify(e, &h);
		assert_true(c >= TN_TC_H(1, 1) && c <= TN_TC_H(1, 8));
		if (!c0)
			c0 = c;
		assert_int_equal(c, c0);
	}
}

static void test_bad_input(void **state)
{
	struct env *e = *state;
	add_ok(e, "protocol ip prio 1 u32 match ip dport 80 0xffff flowid 1:10");
	add_bad(e, "protocol ip prio 2 u32 match ip dport 80 0xffff flowid 1:10 bogus", "bogus");
	add_bad(e, "protocol ipx prio 2 u32 match ip dport 80 0xffff flowid 1:10", "ipx");
	add_bad(e, "protocol ip prio zero u32 flowid 1:10", "zero");
	add_bad(e, "protocol ip prio 2 u32 match ip dport http 0xffff flowid 1:10", "http");
	add_bad(e, "protocol ip prio 2 u32 match ip dport 80 0x1ffff flowid 1:10", "0x1ffff");
	add_bad(e, "protocol ip prio 2 u32 match ip src 10.0.0.300/8 flowid 1:10", "10.0.0.300/8");
	add_bad(e, "protocol ip prio 2 u32 match ip src 10.0.0.0/33 flowid 1:10", "10.0.0.0/33");
	add_bad(e, "protocol ip prio 2 u32 match ip color 3 0xff flowid 1:10", "color");
	add_bad(e, "protocol ip prio 2 u32 match ipv6 dport 80 0xffff flowid 1:10", "ipv6");
	add_bad(e, "protocol ip prio 2 u32 match ip dport 80 0xffff flowid one", "one");
	add_bad(e, "protocol ip prio 2 u32 match ip dport 80 0xffff", "flowid");
	add_bad(e, "protocol ip prio 2 u32 match ip dport 80", "dport");
	add_bad(e, "protocol ip prio 2 u32 match u32 1 0xff at 13 flowid 1:1", "13");
	add_bad(e, "protocol ip prio 2 u32 match u32 1 0xff on 12 flowid 1:1", "on");
	add_bad(e, "protocol ip prio 2 u32 match ip dport 80 0xffff match ip dport 81 0xffff flowid 1:1", "81");
	add_bad(e, "protocol ip prio 2 bpf obj x.o", "bpf");
	add_bad(e, "protocol ip prio 2", "classifier");
	add_bad(e, "protocol ip prio 1 handle 6 fw classid 1:6", "prio 1"); /* another kind at prio 1 */
	add_bad(e, "protocol ip prio 3 handle six fw classid 1:6", "six");
	add_bad(e, "protocol ip prio 3 handle 6 fw", "classid");
	add_bad(e, "protocol ip prio 3 handle 6 fw classid 1:6 indev eth0", "indev");
	add_bad(e, "prio 4 flow hash keys src,port divisor 8", "port");
	add_bad(e, "prio 4 flow hash keys src divisor 0", "0");
	add_bad(e, "prio 4 flow map key src", "map");
	add_bad(e, "prio 4 flow hash keys src", "divisor");
	unsigned n = 0;
	for (struct tn_qfilter *f = e->qd->filters; f; f = f->next)
		n++;
	assert_int_equal(n, 1);
	/* u32 handles given by the user; a duplicate is refused */
	add_ok(e, "protocol ip prio 9 handle 800::5 u32 match ip dport 81 0xffff flowid 1:10");
	add_bad(e, "protocol ip prio 9 handle 800::5 u32 match ip dport 82 0xffff flowid 1:10", "800::5");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_u32_keys, before, after),
		cmocka_unit_test_setup_teardown(test_u32_classify, before, after),
		cmocka_unit_test_setup_teardown(test_u32_l4_selectors, before, after),
		cmocka_unit_test_setup_teardown(test_prio_order, before, after),
		cmocka_unit_test_setup_teardown(test_fw, before, after),
		cmocka_unit_test_setup_teardown(test_flow, before, after),
		cmocka_unit_test_setup_teardown(test_bad_input, before, after),
	};
	return cmocka_run_group_tests(tests, setup, t_qenv_teardown);
}
