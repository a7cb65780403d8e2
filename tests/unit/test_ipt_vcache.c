/* The verdict cache (ipt_vcache.h) against the traversal it replays: two
 * stacks with the same rules, one with the cache off, see the same packets
 * (each flow many times, so the cache replays); every verdict and every
 * counter must agree.  And the hooks it must not cache (LOG, REJECT, MARK,
 * length, limit), and the per-packet fields that stay in its key (TCP
 * flags, conntrack state, mark). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "filter/ipt.h"
#include "ipt_gen.h"
#include "testutil.h"
#include "wire/csum.h"
#include "wire/wire.h"

static const char *const if_names[] = {"eth0", "eth1", "veth3"};
static uint64_t vc_bypassed; /* the last tn_ipt_vcache_counts' third count */

struct env {
	struct tn_stack *s;
	int ifi[3];
	unsigned ct; /* what the ct hook answers */
};

static unsigned ct_hook(void *ctx, struct tn_stack *s, const struct tn_pkt *p)
{
	return ((struct env *)ctx)->ct;
}

static void env_new(struct env *e, uint64_t seed, bool cache)
{
	e->s = t_stack_new(seed);
	for (int i = 0; i < 3; i++) {
		struct wire_dev *w = t_wire_attach(e->s, TN_DEV_L3, &e->ifi[i]);
		snprintf(w->dev.name, sizeof(w->dev.name), "%s", if_names[i]);
	}
	tn_ipt_set_ct_hook(e->s, ct_hook, e);
	tn_ipt_get(e->s)->vcache_off = !cache;
}

static char out[65536];

static int ipt(struct env *e, const char *cmd, const char *input)
{
	char line[1024], *argv[64];
	snprintf(line, sizeof(line), "%s", cmd);
	int argc = 0;
	for (char *p = strtok(line, " "); p && argc < 64; p = strtok(NULL, " "))
		argv[argc++] = p;
	FILE *f = fmemopen(out, sizeof(out), "w");
	int rc = tn_ipt_run(e->s, argc, argv, input, input ? strlen(input) : 0, f);
	fclose(f);
	return rc;
}

/* A packet with the view's fields; its length is pi->len. */
static struct tn_pkt *mk(struct env *e, const struct tn_ipt_pkt *pi)
{
	struct tn_pkt *p = tn_pkt_alloc(e->s->pool);
	uint32_t l4 = pi->proto == 6 ? 20 : pi->proto == 17 || pi->proto == 1 ? 8 : 0;
	uint32_t tot = pi->len > 20 + l4 ? pi->len : 20 + l4;
	if (tot > 1500)
		tot = 1500;
	uint8_t *ip = tn_pkt_put(p, tot);
	memset(ip, 0, tot);
	ip[0] = 0x45;
	tn_put16(ip + 2, (uint16_t)tot);
	tn_put16(ip + 6, pi->frag ? 0x2010 : 0);
	ip[8] = 64;
	ip[9] = pi->proto;
	tn_put32(ip + 12, pi->src);
	tn_put32(ip + 16, pi->dst);
	uint8_t *h = ip + 20;
	if (pi->proto == 6 || pi->proto == 17) {
		tn_put16(h, pi->sport);
		tn_put16(h + 2, pi->dport);
	}
	if (pi->proto == 6) {
		h[12] = 5 << 4;
		h[13] = pi->tcp_flags;
	}
	if (pi->proto == 1) {
		h[0] = pi->icmp_type;
		h[1] = pi->icmp_code;
	}
	p->l3_off = tn_pkt_off(p, ip);
	p->mark = pi->mark;
	return p;
}

static int ifindex_of(const struct env *e, const char *name)
{
	for (int i = 0; i < 3; i++)
		if (!strcmp(if_names[i], name))
			return e->ifi[i];
	return 0;
}

static int forward(struct env *e, const struct tn_ipt_pkt *pi, uint32_t *mark)
{
	struct tn_pkt *p = mk(e, pi);
	struct tn_nf_state st = {.hook = TN_NF_FORWARD, .in_ifindex = ifindex_of(e, pi->in),
				 .out_ifindex = ifindex_of(e, pi->out), .s = e->s};
	e->ct = pi->ct;
	int v = tn_ipt_do_table(e->s, TN_IPT_FILTER, p, &st);
	*mark = p->mark;
	tn_pkt_free(p);
	return v;
}

/* The generator's ruleset without what the cache must not cache (length
 * matches, MARK targets): rules the whole FORWARD hook can be cached for. */
static char *pure_ruleset(struct ipt_gen *g, int nrules, int nch)
{
	char *text = ipt_gen_ruleset(g, nrules, nch), *o = malloc(strlen(text) + 1), *w = o;
	for (char *l = strtok(text, "\n"); l; l = strtok(NULL, "\n")) {
		if (strstr(l, "-m length") || strstr(l, "-j MARK"))
			continue;
		w += sprintf(w, "%s\n", l);
	}
	free(text);
	return o;
}

static void assert_same_counters(struct env *a, struct env *b)
{
	struct tn_ipt_model ma, mb;
	assert_int_equal(tn_ipt_export(a->s, &ma), 0);
	assert_int_equal(tn_ipt_export(b->s, &mb), 0);
	const struct tn_ipt_table *ta = &ma.t[TN_IPT_FILTER], *tb = &mb.t[TN_IPT_FILTER];
	assert_int_equal(ta->nchains, tb->nchains);
	for (uint32_t c = 0; c < ta->nchains; c++) {
		assert_int_equal(ta->chains[c].pol_pkts, tb->chains[c].pol_pkts);
		assert_int_equal(ta->chains[c].pol_bytes, tb->chains[c].pol_bytes);
		for (uint32_t i = 0; i < ta->chains[c].nrules; i++) {
			assert_int_equal(ta->chains[c].rules[i].pkts, tb->chains[c].rules[i].pkts);
			assert_int_equal(ta->chains[c].rules[i].bytes, tb->chains[c].rules[i].bytes);
		}
	}
	tn_ipt_model_free(&ma);
	tn_ipt_model_free(&mb);
}

/* Flows in families: a random flow and variants of it that differ in one
 * field each, so a field left out of the key makes two flows the rules
 * tell apart share an entry. */
#define NBASE 8
#define NVAR 10
#define NFLOWS (NBASE * NVAR)
static void make_flows(struct ipt_gen *g, struct tn_ipt_pkt *flows)
{
	for (int b = 0; b < NBASE; b++) {
		struct tn_ipt_pkt base, other;
		ipt_gen_packet(g, &base);
		ipt_gen_packet(g, &other);
		for (int v = 0; v < NVAR; v++) {
			struct tn_ipt_pkt *f = &flows[b * NVAR + v];
			*f = base;
			switch (v) {
			case 1: f->src ^= 1u << (ipt_gen_u32(g) % 8); break; /* a host bit */
			case 2: f->src = other.src; break;
			case 3: f->dst ^= 1u << (ipt_gen_u32(g) % 8); break;
			case 4: f->dst = other.dst; break;
			case 5: f->sport = other.sport; break;
			case 6: f->dport = other.dport; break;
			case 7: f->in = other.in; break;
			case 8: f->out = other.out; break;
			case 9: f->icmp_type = other.icmp_type, f->icmp_code = other.icmp_code; break;
			default: break;
			}
		}
	}
}

/* Random cacheable rulesets (400): 80 flows seen 800 times in random order (TCP
 * flags, state and mark varying within a flow), with
 * and without the cache: the same verdicts and the same counters. */
static void test_random_same_as_traversal(void **state)
{
	struct ipt_gen g;
	uint64_t hits_total = 0;
	struct env plain, cached; /* each restore replaces the rules (and their counters) */
	env_new(&plain, 1, false);
	env_new(&cached, 1, true);
	for (uint64_t seed = 1; seed <= 400; seed++) {
		ipt_gen_seed(&g, seed * 7919);
		char *text = pure_ruleset(&g, 5 + (int)(ipt_gen_u32(&g) % 50), 1 + (int)(ipt_gen_u32(&g) % 5));
		if (ipt(&plain, "iptables-restore", text) || ipt(&cached, "iptables-restore", text))
			fail_msg("ruleset refused: %s\n%s", out, text);
		struct tn_ipt_pkt flows[NFLOWS];
		make_flows(&g, flows);
		for (int k = 0; k < 800; k++) {
			struct tn_ipt_pkt pi = flows[ipt_gen_u32(&g) % NFLOWS];
			pi.len = 40 + ipt_gen_u32(&g) % 1400; /* each packet its own length */
			/* and now and then its own flags, state and mark */
			if (ipt_gen_u32(&g) % 3 == 0)
				pi.tcp_flags = (uint8_t)ipt_gen_u32(&g);
			if (ipt_gen_u32(&g) % 3 == 0)
				pi.ct = ipt_gen_u32(&g) % 2 ? TN_IPT_CT_NEW : TN_IPT_CT_ESTABLISHED;
			if (ipt_gen_u32(&g) % 3 == 0)
				pi.mark = ipt_gen_u32(&g) % 4;
			uint32_t ma, mb;
			int va = forward(&plain, &pi, &ma), vb = forward(&cached, &pi, &mb);
			if (va != vb || ma != mb)
				fail_msg("seed %u packet %d: cache %d mark %u, traversal %d mark %u\n%s", (unsigned)seed, k,
					 vb, mb, va, ma, text);
		}
		assert_same_counters(&plain, &cached);
		uint64_t hits, misses;
		tn_ipt_vcache_counts(cached.s, TN_IPT_FILTER, &hits, &misses, &vc_bypassed);
		hits_total += hits;
		tn_ipt_vcache_counts(plain.s, TN_IPT_FILTER, &hits, &misses, &vc_bypassed);
		assert_int_equal(hits + misses, 0); /* off means off */
		free(text);
	}
	tern_stack_free(plain.s);
	tern_stack_free(cached.s);
	/* the cache did replay: most packets of 80 flows seen 800 times */
	assert_true(hits_total > 400 * 800 / 2);
}

static uint64_t lookups(struct env *e)
{
	uint64_t h, m;
	tn_ipt_vcache_counts(e->s, TN_IPT_FILTER, &h, &m, &vc_bypassed);
	return h + m;
}

static struct tn_ipt_pkt udp_flow(void)
{
	return (struct tn_ipt_pkt){.src = 0x0a000001, .dst = 0x0a000002, .proto = 17, .sport = 5000, .dport = 53,
				   .len = 100, .l4ok = true, .in = "eth0", .out = "eth1", .ct = TN_IPT_CT_NEW};
}

/* Rules with a side effect or a per-packet test keep the hook uncached. */
static void test_uncacheable_rules(void **state)
{
	static const char *const rules[] = {
		"iptables -A FORWARD -p udp -j LOG --log-prefix x",
		"iptables -A FORWARD -p tcp -j REJECT --reject-with tcp-reset",
		"iptables -A FORWARD -j MARK --set-mark 1",
		"iptables -A FORWARD -m length --length 0:500 -j DROP",
		"iptables -A FORWARD -m limit --limit 1/second -j ACCEPT",
	};
	for (unsigned i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		struct env e;
		env_new(&e, 1, true);
		assert_int_equal(ipt(&e, "iptables -N side", NULL), 0);
		/* reachable only through a jump: still the hook's */
		char line[256];
		snprintf(line, sizeof(line), "%s", rules[i]);
		memcpy(strstr(line, "FORWARD"), "side   ", 7);
		if (ipt(&e, line, NULL))
			fail_msg("%s: %s", line, out);
		assert_int_equal(ipt(&e, "iptables -A FORWARD -p udp -j side", NULL), 0);
		struct tn_ipt_pkt pi = udp_flow();
		uint32_t mark;
		for (int k = 0; k < 5; k++)
			forward(&e, &pi, &mark);
		if (lookups(&e))
			fail_msg("%s: the hook was cached", rules[i]);
		tern_stack_free(e.s);
	}
	/* the same chain with a plain rule is cached */
	struct env e;
	env_new(&e, 1, true);
	assert_int_equal(ipt(&e, "iptables -N side", NULL), 0);
	assert_int_equal(ipt(&e, "iptables -A side -p udp --dport 53 -j DROP", NULL), 0);
	assert_int_equal(ipt(&e, "iptables -A FORWARD -p udp -j side", NULL), 0);
	struct tn_ipt_pkt pi = udp_flow();
	uint32_t mark;
	for (int k = 0; k < 5; k++)
		assert_int_equal(forward(&e, &pi, &mark), TN_NF_DROP);
	uint64_t h, m;
	tn_ipt_vcache_counts(e.s, TN_IPT_FILTER, &h, &m, &vc_bypassed);
	assert_int_equal(m, 1);
	assert_int_equal(h, 4);
	tern_stack_free(e.s);
}

/* TCP flags, conntrack state and mark are per packet within a flow; a rule
 * that tests one puts it in the key. */
static void test_per_packet_fields_in_key(void **state)
{
	struct env e;
	env_new(&e, 1, true);
	assert_int_equal(ipt(&e, "iptables -A FORWARD -p tcp --syn -j DROP", NULL), 0);
	assert_int_equal(ipt(&e, "iptables -A FORWARD -m conntrack --ctstate INVALID -j DROP", NULL), 0);
	assert_int_equal(ipt(&e, "iptables -A FORWARD -m mark --mark 7 -j DROP", NULL), 0);
	struct tn_ipt_pkt pi = {.src = 0x0a000001, .dst = 0x0a000002, .proto = 6, .sport = 5000, .dport = 80,
				.len = 60, .l4ok = true, .in = "eth0", .out = "eth1", .ct = TN_IPT_CT_ESTABLISHED};
	uint32_t mark;
	for (int round = 0; round < 3; round++) {
		pi.tcp_flags = 0x02; /* SYN */
		assert_int_equal(forward(&e, &pi, &mark), TN_NF_DROP);
		pi.tcp_flags = 0x10; /* ACK */
		assert_int_equal(forward(&e, &pi, &mark), TN_NF_ACCEPT);
		pi.ct = TN_IPT_CT_INVALID;
		assert_int_equal(forward(&e, &pi, &mark), TN_NF_DROP);
		pi.ct = TN_IPT_CT_ESTABLISHED;
		pi.mark = 7;
		assert_int_equal(forward(&e, &pi, &mark), TN_NF_DROP);
		pi.mark = 0;
		assert_int_equal(forward(&e, &pi, &mark), TN_NF_ACCEPT);
	}
	uint64_t h, m;
	tn_ipt_vcache_counts(e.s, TN_IPT_FILTER, &h, &m, &vc_bypassed);
	assert_int_equal(m, 4); /* SYN, ACK, INVALID, mark 7; the last is the ACK's again */
	assert_int_equal(h, 11);
	/* counters as if every packet had traversed: each DROP rule 3 of
	 * 60 bytes, the policy the 6 ACKs */
	assert_int_equal(ipt(&e, "iptables -L FORWARD -v -n -x", NULL), 0);
	int drops = 0;
	for (const char *q = out; (q = strstr(q, "       3        180 DROP")); q++)
		drops++;
	if (drops != 3 || !strstr(out, "policy ACCEPT 6 packets, 360 bytes"))
		fail_msg("%s", out);
	tern_stack_free(e.s);
}

/* A new ruleset starts with an empty cache: a flow cached as dropped is
 * accepted as soon as the rule goes. */
static void test_edit_starts_empty(void **state)
{
	struct env e;
	env_new(&e, 1, true);
	assert_int_equal(ipt(&e, "iptables -A FORWARD -p udp --dport 53 -j DROP", NULL), 0);
	assert_int_equal(ipt(&e, "iptables -A FORWARD -p udp -j ACCEPT", NULL), 0);
	struct tn_ipt_pkt pi = udp_flow();
	uint32_t mark;
	assert_int_equal(forward(&e, &pi, &mark), TN_NF_DROP);
	assert_int_equal(forward(&e, &pi, &mark), TN_NF_DROP);
	assert_int_equal(ipt(&e, "iptables -D FORWARD 1", NULL), 0);
	assert_int_equal(forward(&e, &pi, &mark), TN_NF_ACCEPT);
	tern_stack_free(e.s);
}

/* Flows that differ in a source port or a source network some rule tests
 * land in different slots: 512 of them, five rounds, miss about once each. */
static void test_flows_spread(void **state)
{
	struct env e;
	env_new(&e, 1, true);
	assert_int_equal(ipt(&e, "iptables -A FORWARD -s 203.0.0.0/8 -p udp --sport 7 -j ACCEPT", NULL), 0);
	assert_int_equal(ipt(&e, "iptables -A FORWARD -p udp --dport 53 -j DROP", NULL), 0);
	uint32_t mark;
	for (int round = 0; round < 5; round++)
		for (uint32_t f = 0; f < 512; f++) {
			struct tn_ipt_pkt pi = udp_flow();
			if (f < 256)
				pi.sport = (uint16_t)(1024 + f * 199);
			else
				pi.src = (f - 256) << 24 | 1; /* 0.0.0.1, 1.0.0.1, ... */
			assert_int_equal(forward(&e, &pi, &mark), TN_NF_DROP);
		}
	uint64_t h, m;
	tn_ipt_vcache_counts(e.s, TN_IPT_FILTER, &h, &m, &vc_bypassed);
	print_message("512 flows x 5: %llu hits, %llu misses\n", (unsigned long long)h, (unsigned long long)m);
	assert_int_equal(h + m, 5 * 512);
	assert_true(m >= 512);             /* each its own entry */
	assert_true(m < 512 + 5 * 30);     /* a few slot collisions at most */
	tern_stack_free(e.s);
}

/* Flows that differ only in what no rule tests share one entry: 1,000
 * source ports and 200 source hosts under a /16 that rules only test as a
 * whole, against rules on the destination port and the /16. */
static void test_untested_fields_share(void **state)
{
	struct env e;
	env_new(&e, 1, true);
	assert_int_equal(ipt(&e, "iptables -A FORWARD -s 10.1.0.0/16 -p udp --dport 53 -j DROP", NULL), 0);
	assert_int_equal(ipt(&e, "iptables -A FORWARD -p udp --dport 54 -j DROP", NULL), 0);
	uint32_t mark;
	for (uint32_t f = 0; f < 1200; f++) {
		struct tn_ipt_pkt pi = udp_flow();
		pi.src = 0x0a010000 | (f % 200);
		pi.sport = (uint16_t)(1024 + f);
		assert_int_equal(forward(&e, &pi, &mark), TN_NF_DROP);
		pi.dport = 54;
		pi.src = 0x0b000000 | f; /* outside the /16: the first rule's miss */
		assert_int_equal(forward(&e, &pi, &mark), TN_NF_DROP);
		pi.dport = 80;
		assert_int_equal(forward(&e, &pi, &mark), TN_NF_ACCEPT);
	}
	uint64_t h, m;
	tn_ipt_vcache_counts(e.s, TN_IPT_FILTER, &h, &m, &vc_bypassed);
	assert_int_equal(m, 3); /* one entry per thing the rules can tell apart */
	assert_int_equal(h, 3 * 1200 - 3);
	tern_stack_free(e.s);
}

/* 40,000 distinct keys in turn overflow the cache: it stands aside (the
 * verdicts still right), and once the traffic is a few flows again it
 * takes lookups again and hits. */
static void test_stands_aside_when_thrashing(void **state)
{
	struct env e;
	env_new(&e, 1, true);
	assert_int_equal(ipt(&e, "iptables -A FORWARD -p udp --sport 1:999 -j DROP", NULL), 0);
	assert_int_equal(ipt(&e, "iptables -A FORWARD -p udp --dport 53 -j DROP", NULL), 0);
	uint32_t mark;
	for (uint32_t f = 0; f < 40000; f++) {
		struct tn_ipt_pkt pi = udp_flow();
		pi.sport = (uint16_t)(1000 + f % 40000);
		pi.dport = f % 3 ? 53 : 80;
		assert_int_equal(forward(&e, &pi, &mark), f % 3 ? TN_NF_DROP : TN_NF_ACCEPT);
	}
	uint64_t h, m;
	tn_ipt_vcache_counts(e.s, TN_IPT_FILTER, &h, &m, &vc_bypassed);
	print_message("40,000 keys: %llu hits, %llu misses, %llu past the cache\n", (unsigned long long)h,
		      (unsigned long long)m, (unsigned long long)vc_bypassed);
	assert_true(vc_bypassed > 20000);
	assert_int_equal(h + m + vc_bypassed, 40000);
	/* a few flows again: after the pause the cache takes them */
	for (uint32_t k = 0; k < 70000; k++) {
		struct tn_ipt_pkt pi = udp_flow();
		pi.sport = (uint16_t)(1000 + k % 4);
		assert_int_equal(forward(&e, &pi, &mark), TN_NF_DROP);
	}
	uint64_t h2, m2;
	tn_ipt_vcache_counts(e.s, TN_IPT_FILTER, &h2, &m2, &vc_bypassed);
	assert_true(h2 - h > 1000);
	tern_stack_free(e.s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_same_as_traversal),
		cmocka_unit_test(test_uncacheable_rules),
		cmocka_unit_test(test_per_packet_fields_in_key),
		cmocka_unit_test(test_edit_starts_empty),
		cmocka_unit_test(test_flows_spread),
		cmocka_unit_test(test_untested_fields_share),
		cmocka_unit_test(test_stands_aside_when_thrashing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
