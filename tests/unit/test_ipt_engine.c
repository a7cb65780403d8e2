/* The iptables engine on hand-built packets: every match kind and its
 * negation, jump/goto/RETURN and policies as Linux, counters, REJECT's
 * ICMP error and TCP reset, LOG, MARK, limit and hashlimit on the virtual
 * clock, sets, NAT targets applied, a ruleset swapped while a traversal
 * is inside it, and the matcher against a reference evaluator on random
 * rulesets and packets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter/conntrack.h"
#include "filter/ipt.h"
#include "ipt_gen.h"
#include "testutil.h"
#include "wire/csum.h"
#include "wire/wire.h"

struct env {
	struct tn_stack *s;
	struct wire_dev *w;
	int ifi;
};

static void env_new(struct env *e)
{
	e->s = t_stack_new(7);
	e->w = t_wire_attach(e->s, TN_DEV_L3, &e->ifi);
	assert_int_equal(tern_addr_add(e->s, e->ifi, t_ip("198.18.0.1"), 24), 0);
	tern_route_add(e->s, 0, 0, t_ip("198.18.0.254"), 0, 0);
}

static void env_free(struct env *e)
{
	tern_stack_free(e->s);
}

static char out[65536];

static int run(struct env *e, const char *cmd)
{
	char line[1024], *argv[64];
	snprintf(line, sizeof(line), "%s", cmd);
	int argc = 0;
	for (char *p = strtok(line, " "); p && argc < 64; p = strtok(NULL, " "))
		argv[argc++] = p;
	FILE *f = fmemopen(out, sizeof(out), "w");
	int rc = tn_ipt_run(e->s, argc, argv, NULL, 0, f);
	fclose(f);
	return rc;
}

static int restore(struct env *e, const char *text)
{
	char *argv[] = {"iptables-restore"};
	FILE *f = fmemopen(out, sizeof(out), "w");
	int rc = tn_ipt_run(e->s, 1, argv, text, strlen(text), f);
	fclose(f);
	return rc;
}

struct spec {
	const char *src, *dst;
	uint8_t proto;
	uint16_t sport, dport;
	uint8_t flags;        /* TCP flags, or ICMP type */
	uint8_t code;
	uint16_t payload;
	uint16_t frag_off;
	uint32_t mark;
};

static struct tn_pkt *mk(struct env *e, const struct spec *sp)
{
	struct tn_pkt *p = tn_pkt_alloc(e->s->pool);
	uint32_t l4 = sp->proto == 6 ? 20 : sp->proto == 17 ? 8 : sp->proto == 1 ? 8 : 0;
	uint32_t tot = 20 + l4 + sp->payload;
	uint8_t *ip = tn_pkt_put(p, tot);
	memset(ip, 0, tot);
	ip[0] = 0x45;
	tn_put16(ip + 2, (uint16_t)tot);
	tn_put16(ip + 4, 77);
	tn_put16(ip + 6, sp->frag_off);
	ip[8] = 64;
	ip[9] = sp->proto;
	tn_put32(ip + 12, t_ip(sp->src ? sp->src : "198.18.0.2"));
	tn_put32(ip + 16, t_ip(sp->dst ? sp->dst : "198.18.0.1"));
	tn_put16(ip + 10, tn_csum_fold(tn_csum_partial(ip, 20, 0)));
	uint8_t *h = ip + 20;
	if (sp->proto == 6 || sp->proto == 17) {
		tn_put16(h, sp->sport);
		tn_put16(h + 2, sp->dport);
	}
	if (sp->proto == 6) {
		tn_put32(h + 4, 1000);
		tn_put32(h + 8, 5000);
		h[12] = 5 << 4;
		h[13] = sp->flags;
	}
	if (sp->proto == 17)
		tn_put16(h + 4, (uint16_t)(8 + sp->payload));
	if (sp->proto == 1) {
		h[0] = sp->flags;
		h[1] = sp->code;
	}
	p->l3_off = tn_pkt_off(p, ip);
	p->mark = sp->mark;
	return p;
}

/* The verdict of table t at hook for the packet; *mark_out gets its mark. */
static int verdict_at(struct env *e, int table, int hook, const struct spec *sp, uint32_t *mark_out)
{
	struct tn_pkt *p = mk(e, sp);
	struct tn_nf_state st = {.hook = hook, .in_ifindex = hook <= TN_NF_FORWARD ? e->ifi : 0,
				 .out_ifindex = hook >= TN_NF_FORWARD ? e->ifi : 0, .s = e->s};
	int v = tn_ipt_do_table(e->s, table, p, &st);
	if (mark_out)
		*mark_out = p->mark;
	tn_pkt_free(p);
	return v;
}

static int verdict(struct env *e, const struct spec *sp)
{
	return verdict_at(e, TN_IPT_FILTER, TN_NF_LOCAL_IN, sp, NULL);
}

#define TCP(sp_, dp_, fl_) {.proto = 6, .sport = sp_, .dport = dp_, .flags = fl_}
#define UDP(sp_, dp_) {.proto = 17, .sport = sp_, .dport = dp_}

static const struct {
	const char *match;
	struct spec yes, no;
} cases[] = {
	{"-s 10.1.0.0/16", {.src = "10.1.2.3"}, {.src = "10.2.2.3"}},
	{"! -s 10.1.0.0/16", {.src = "10.2.2.3"}, {.src = "10.1.2.3"}},
	{"-d 198.18.0.1", {.dst = "198.18.0.1"}, {.dst = "198.18.0.3"}},
	{"! -d 198.18.0.0/24", {.dst = "198.18.1.1"}, {.dst = "198.18.0.9"}},
	{"-i wire0", {0}, {0}}, /* matched below by interface name */
	{"-p udp", UDP(1, 2), TCP(1, 2, 2)},
	{"! -p udp", TCP(1, 2, 2), UDP(1, 2)},
	{"-p 47", {.proto = 47}, UDP(1, 2)},
	{"-p tcp --dport 22", TCP(999, 22, 2), TCP(999, 23, 2)},
	{"-p tcp ! --dport 22", TCP(999, 23, 2), TCP(999, 22, 2)},
	{"-p tcp --sport 1000:2000", TCP(1500, 1, 2), TCP(2001, 1, 2)},
	{"-p tcp ! --sport 1000:2000", TCP(999, 1, 2), TCP(1000, 1, 2)},
	{"-p udp --dport 53", UDP(5, 53), UDP(5, 54)},
	{"-p udp -m multiport --dports 53,1000:1010", UDP(5, 1005), UDP(5, 1011)},
	{"-p udp -m multiport ! --dports 53,1000:1010", UDP(5, 1011), UDP(5, 53)},
	{"-p tcp -m multiport --sports 80,443", TCP(443, 1, 16), TCP(444, 1, 16)},
	{"-p tcp -m multiport --ports 80", TCP(5, 80, 16), TCP(5, 81, 16)},
	{"-p tcp --syn", TCP(1, 2, 0x02), TCP(1, 2, 0x12)},
	{"-p tcp ! --syn", TCP(1, 2, 0x12), TCP(1, 2, 0x02)},
	{"-p tcp --tcp-flags ALL NONE", TCP(1, 2, 0), TCP(1, 2, 1)},
	{"-p icmp --icmp-type echo-request", {.proto = 1, .flags = 8}, {.proto = 1, .flags = 0}},
	{"-p icmp ! --icmp-type 8", {.proto = 1, .flags = 0}, {.proto = 1, .flags = 8}},
	{"-p icmp --icmp-type port-unreachable", {.proto = 1, .flags = 3, .code = 3}, {.proto = 1, .flags = 3, .code = 1}},
	{"-m mark --mark 0x1/0x1", {.mark = 3}, {.mark = 2}},
	{"-m mark ! --mark 5", {.mark = 4}, {.mark = 5}},
	{"-m length --length 100:200", {.payload = 100}, {.payload = 200}},
	{"-m length ! --length 100:200", {.payload = 200}, {.payload = 100}},
	{"-m conntrack --ctstate INVALID", {0}, {0}},
	{"-m conntrack ! --ctstate NEW", {0}, {0}},
	{"-m comment --comment x -s 10.0.0.1", {.src = "10.0.0.1"}, {.src = "10.0.0.2"}},
};

static void test_each_match(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct env e;
		env_new(&e);
		char cmd[256];
		snprintf(cmd, sizeof(cmd), "iptables -A INPUT %s -j DROP", cases[k].match);
		if (run(&e, cmd) != 0)
			fail_msg("%s: %s", cmd, out);
		if (strncmp(cases[k].match, "-i", 2) == 0) {
			assert_int_equal(verdict(&e, &cases[k].yes), TN_NF_DROP); /* arrives on wire1 */
			assert_int_equal(run(&e, "iptables -R INPUT 1 -i wire9 -j DROP"), 0);
			assert_int_equal(verdict(&e, &cases[k].yes), TN_NF_ACCEPT);
			assert_int_equal(run(&e, "iptables -R INPUT 1 -i wire+ -j DROP"), 0);
			assert_int_equal(verdict(&e, &cases[k].yes), TN_NF_DROP);
			assert_int_equal(run(&e, "iptables -R INPUT 1 ! -i wire+ -j DROP"), 0);
			assert_int_equal(verdict(&e, &cases[k].yes), TN_NF_ACCEPT);
		} else if (strstr(cases[k].match, "ctstate INVALID")) {
			/* the rule turned conntrack on; a packet it never saw is INVALID, as in Linux */
			assert_true(tn_ct_enabled(e.s));
			assert_int_equal(verdict(&e, &cases[k].yes), TN_NF_DROP);
		} else if (strstr(cases[k].match, "! --ctstate NEW")) {
			assert_int_equal(verdict(&e, &cases[k].yes), TN_NF_DROP);
		} else {
			if (verdict(&e, &cases[k].yes) != TN_NF_DROP)
				fail_msg("%s: should match", cases[k].match);
			if (verdict(&e, &cases[k].no) != TN_NF_ACCEPT)
				fail_msg("%s: should not match", cases[k].match);
		}
		env_free(&e);
	}
}

/* A later fragment has no ports: port matches fail, even negated (as Linux);
 * a truncated TCP header is dropped. */
static void test_fragments_and_truncation(void **state)
{
	(void)state;
	struct env e;
	env_new(&e);
	assert_int_equal(run(&e, "iptables -A INPUT -p udp ! --dport 53 -j DROP"), 0);
	struct spec frag = {.proto = 17, .dport = 99, .frag_off = 10};
	assert_int_equal(verdict(&e, &frag), TN_NF_ACCEPT);
	struct spec whole = UDP(1, 99);
	assert_int_equal(verdict(&e, &whole), TN_NF_DROP);
	assert_int_equal(run(&e, "iptables -F"), 0);
	assert_int_equal(run(&e, "iptables -A INPUT -p tcp --dport 1 -j ACCEPT"), 0);
	struct spec trunc = {.proto = 6, .payload = 0};
	struct tn_pkt *p = mk(&e, &trunc);
	/* cut the TCP header to 10 bytes */
	tn_put16(p->data + 2, 30);
	p->len = p->pkt_len = 30;
	struct tn_nf_state st = {.hook = TN_NF_LOCAL_IN, .in_ifindex = e.ifi, .s = e.s};
	assert_int_equal(tn_ipt_do_table(e.s, TN_IPT_FILTER, p, &st), TN_NF_DROP);
	tn_pkt_free(p);
	env_free(&e);
}

static const char *flow_rules =
	"*filter\n"
	":INPUT DROP [0:0]\n"
	":FORWARD ACCEPT [0:0]\n"
	":OUTPUT ACCEPT [0:0]\n"
	":a - [0:0]\n"
	":b - [0:0]\n"
	":c - [0:0]\n"
	"-A INPUT -p udp --dport 1 -j a\n"    /* a: RETURN, then the next INPUT rule */
	"-A INPUT -p udp --dport 1 -j ACCEPT\n"
	"-A INPUT -p udp --dport 2 -j b\n"    /* b: goto c, c falls off: back to INPUT after the jump to b */
	"-A INPUT -p udp --dport 2 -j ACCEPT\n"
	"-A INPUT -p udp --dport 3 -g c\n"    /* goto from INPUT, c falls off: INPUT's policy */
	"-A INPUT -p udp --dport 3 -j ACCEPT\n"
	"-A INPUT -p udp --dport 4 -j RETURN\n" /* RETURN in a built-in chain: the policy */
	"-A INPUT -p udp --dport 4 -j ACCEPT\n"
	"-A INPUT -p udp --dport 5 -j a\n"
	"-A a -j RETURN\n"
	"-A a -j DROP\n"
	"-A b -g c\n"
	"-A b -j DROP\n"
	"-A c -p udp --dport 99 -j DROP\n"
	"COMMIT\n";

static void test_jump_goto_return_policy_counters(void **state)
{
	(void)state;
	struct env e;
	env_new(&e);
	if (restore(&e, flow_rules) != 0)
		fail_msg("%s", out);
	struct spec d1 = UDP(9, 1), d2 = UDP(9, 2), d3 = UDP(9, 3), d4 = UDP(9, 4), d5 = UDP(9, 5), d9 = UDP(9, 9);
	assert_int_equal(verdict(&e, &d1), TN_NF_ACCEPT);
	assert_int_equal(verdict(&e, &d2), TN_NF_ACCEPT);
	assert_int_equal(verdict(&e, &d3), TN_NF_DROP);
	assert_int_equal(verdict(&e, &d4), TN_NF_DROP);
	assert_int_equal(verdict(&e, &d5), TN_NF_DROP); /* a returns, then the end of INPUT */
	assert_int_equal(verdict(&e, &d9), TN_NF_DROP);
	assert_int_equal(run(&e, "iptables -P INPUT ACCEPT"), 0);
	assert_int_equal(verdict(&e, &d3), TN_NF_ACCEPT);
	assert_int_equal(verdict(&e, &d4), TN_NF_ACCEPT);
	/* counters: packets and bytes per rule, and the policy's */
	assert_int_equal(run(&e, "iptables -L INPUT -v -x -n"), 0);
	assert_non_null(strstr(out, "Chain INPUT (policy ACCEPT 6 packets, 168 bytes)"));
	if (!strstr(out, "       1         28 ACCEPT     udp  --  *      *      0.0.0.0/0            0.0.0.0/0            udp dpt:1"))
		fail_msg("%s", out);
	assert_int_equal(run(&e, "iptables -L a -v -x -n"), 0);
	assert_non_null(strstr(out, "       2         56 RETURN"));
	assert_non_null(strstr(out, "       0          0 DROP"));
	/* counters survive an incremental change (the set is rebuilt by copying) */
	assert_int_equal(run(&e, "iptables -A INPUT -j ACCEPT"), 0);
	assert_int_equal(run(&e, "iptables -L a -v -x -n"), 0);
	assert_non_null(strstr(out, "       2         56 RETURN"));
	assert_int_equal(run(&e, "iptables -Z"), 0);
	assert_int_equal(run(&e, "iptables -L a -v -x -n"), 0);
	assert_non_null(strstr(out, "       0          0 RETURN"));
	env_free(&e);
}

static void test_reject(void **state)
{
	(void)state;
	struct env e;
	env_new(&e);
	assert_int_equal(run(&e, "iptables -A INPUT -p udp -j REJECT"), 0);
	assert_int_equal(run(&e, "iptables -A INPUT -p tcp -j REJECT --reject-with tcp-reset"), 0);
	assert_int_equal(run(&e, "iptables -A INPUT -p 47 -j REJECT --reject-with icmp-admin-prohibited"), 0);
	t_run(e.s, e.s->now);
	t_wire_clear(e.w);
	struct spec u = UDP(4000, 9);
	assert_int_equal(verdict(&e, &u), TN_NF_DROP);
	t_run(e.s, e.s->now + T_MS);
	uint8_t f[2048];
	int n = t_wire_take(e.w, f, sizeof(f));
	assert_true(n >= 56);
	assert_int_equal(f[9], 1);                 /* ICMP */
	assert_int_equal(tn_get32(f + 16), t_ip("198.18.0.2"));
	assert_int_equal(f[20], 3);                /* destination unreachable */
	assert_int_equal(f[21], 3);                /* port */
	assert_int_equal(tn_get16(f + 28 + 22), 9); /* quoting our datagram */
	struct spec g = {.proto = 47, .src = "198.18.0.3"};
	assert_int_equal(verdict(&e, &g), TN_NF_DROP);
	t_run(e.s, e.s->now + T_MS);
	n = t_wire_take(e.w, f, sizeof(f));
	assert_true(n > 0);
	assert_int_equal(f[20], 3);
	assert_int_equal(f[21], 13);
	struct spec t = TCP(4000, 80, 0x02); /* SYN seq 1000 */
	assert_int_equal(verdict(&e, &t), TN_NF_DROP);
	t_run(e.s, e.s->now + T_MS);
	n = t_wire_take(e.w, f, sizeof(f));
	assert_int_equal(n, 40);
	assert_int_equal(f[9], 6);
	assert_int_equal(tn_get32(f + 12), t_ip("198.18.0.1")); /* from the packet's destination */
	assert_int_equal(tn_get16(f + 20), 80);
	assert_int_equal(tn_get16(f + 22), 4000);
	assert_int_equal(f[33], 0x14);               /* RST|ACK */
	assert_int_equal(tn_get32(f + 28), 1001);    /* ACK = SEQ + 1 for the SYN */
	/* no reset for a reset */
	struct spec r = TCP(4000, 80, 0x04);
	assert_int_equal(verdict(&e, &r), TN_NF_DROP);
	t_run(e.s, e.s->now + T_MS);
	assert_int_equal(t_wire_take(e.w, f, sizeof(f)), -1);
	env_free(&e);
}

static char last_log[256];
static int nlogs;
static void logcb(void *ctx, int level, const char *msg)
{
	(void)ctx;
	(void)level;
	snprintf(last_log, sizeof(last_log), "%s", msg);
	nlogs++;
}

static void test_log_and_mark(void **state)
{
	(void)state;
	struct env e;
	env_new(&e);
	e.s->log = logcb;
	assert_int_equal(run(&e, "iptables -A INPUT -p tcp -j LOG --log-prefix SSH: --log-level 4"), 0);
	assert_int_equal(run(&e, "iptables -A INPUT -j MARK --set-xmark 0x10/0xf0"), 0);
	assert_int_equal(run(&e, "iptables -A INPUT -m mark --mark 0x13 -j DROP"), 0);
	struct spec t = {.proto = 6, .src = "10.9.8.7", .sport = 1234, .dport = 22, .flags = 0x02, .mark = 0x23};
	uint32_t mark;
	assert_int_equal(verdict_at(&e, TN_IPT_FILTER, TN_NF_LOCAL_IN, &t, &mark), TN_NF_DROP); /* 0x23 -> 0x13 */
	assert_int_equal(mark, 0x13);
	assert_int_equal(nlogs, 1);
	assert_string_equal(last_log, "SSH:IN=wire0 OUT= SRC=10.9.8.7 DST=198.18.0.1 LEN=40 TOS=0x00 PREC=0x00 TTL=64 "
				      "ID=77 PROTO=TCP SPT=1234 DPT=22 SYN MARK=0x23");
	assert_int_equal(run(&e, "iptables-log"), 0);
	assert_non_null(strstr(out, "SSH:IN=wire0"));
	t.mark = 0;
	assert_int_equal(verdict_at(&e, TN_IPT_FILTER, TN_NF_LOCAL_IN, &t, &mark), TN_NF_ACCEPT);
	assert_int_equal(mark, 0x10);
	env_free(&e);
}

static void test_limit_and_hashlimit(void **state)
{
	(void)state;
	struct env e;
	env_new(&e);
	assert_int_equal(run(&e, "iptables -A INPUT -p udp --dport 1 -m limit --limit 2/sec --limit-burst 3 -j ACCEPT"), 0);
	assert_int_equal(run(&e, "iptables -A INPUT -p udp --dport 2 -m hashlimit --hashlimit-upto 1/sec --hashlimit-burst 2 "
				 "--hashlimit-mode srcip --hashlimit-name h -j ACCEPT"),
			 0);
	assert_int_equal(run(&e, "iptables -P INPUT DROP"), 0);
	struct spec l = UDP(5, 1);
	int pass = 0;
	for (int i = 0; i < 10; i++)
		pass += verdict(&e, &l) == TN_NF_ACCEPT;
	assert_int_equal(pass, 3); /* the burst */
	e.s->now += 500 * T_MS;    /* 2/sec: one more token */
	assert_int_equal(verdict(&e, &l), TN_NF_ACCEPT);
	assert_int_equal(verdict(&e, &l), TN_NF_DROP);
	e.s->now += 10 * T_SEC; /* refills to the burst, no more */
	pass = 0;
	for (int i = 0; i < 10; i++)
		pass += verdict(&e, &l) == TN_NF_ACCEPT;
	assert_int_equal(pass, 3);
	/* hashlimit: a bucket per source */
	struct spec a = {.proto = 17, .dport = 2, .src = "10.0.0.1"}, b = {.proto = 17, .dport = 2, .src = "10.0.0.2"};
	pass = 0;
	for (int i = 0; i < 5; i++)
		pass += verdict(&e, &a) == TN_NF_ACCEPT;
	assert_int_equal(pass, 2);
	pass = 0;
	for (int i = 0; i < 5; i++)
		pass += verdict(&e, &b) == TN_NF_ACCEPT;
	assert_int_equal(pass, 2);
	e.s->now += T_SEC;
	assert_int_equal(verdict(&e, &a), TN_NF_ACCEPT);
	assert_int_equal(verdict(&e, &a), TN_NF_DROP);
	/* the state survives an unrelated incremental change */
	assert_int_equal(run(&e, "iptables -A OUTPUT -j ACCEPT"), 0);
	assert_int_equal(verdict(&e, &a), TN_NF_DROP);
	env_free(&e);
}

static void test_sets(void **state)
{
	(void)state;
	struct env e;
	env_new(&e);
	assert_int_equal(run(&e, "iptables -A INPUT -m set --match-set bad src -j DROP"), 1);
	assert_non_null(strstr(out, "Set bad doesn't exist"));
	assert_int_equal(run(&e, "ipset create bad hash:ip"), 0);
	assert_int_equal(run(&e, "ipset create nets hash:net"), 0);
	assert_int_equal(run(&e, "ipset create ports bitmap:port range 1000-2000"), 0);
	assert_int_equal(run(&e, "ipset create bad hash:ip"), 1);
	assert_int_equal(run(&e, "ipset add bad 10.0.0.5"), 0);
	assert_int_equal(run(&e, "ipset add nets 172.16.0.0/12"), 0);
	assert_int_equal(run(&e, "ipset add nets 172.16.5.0/24"), 0);
	assert_int_equal(run(&e, "ipset add ports 1500"), 0);
	assert_int_equal(run(&e, "ipset add ports 5"), 1);
	assert_int_equal(run(&e, "iptables -A INPUT -m set --match-set bad src -j DROP"), 0);
	assert_int_equal(run(&e, "iptables -A INPUT -m set ! --match-set nets src -j ACCEPT"), 0);
	assert_int_equal(run(&e, "iptables -A INPUT -p udp -m set --match-set ports dst -j DROP"), 0);
	struct spec s1 = {.src = "10.0.0.5"}, s2 = {.src = "10.0.0.6"}, s3 = {.proto = 17, .src = "172.20.1.1", .dport = 1500},
		    s4 = {.proto = 17, .src = "172.20.1.1", .dport = 1501};
	assert_int_equal(verdict(&e, &s1), TN_NF_DROP);
	assert_int_equal(verdict(&e, &s2), TN_NF_ACCEPT);
	assert_int_equal(verdict(&e, &s3), TN_NF_DROP);
	assert_int_equal(verdict(&e, &s4), TN_NF_ACCEPT);
	assert_int_equal(run(&e, "ipset del nets 172.16.0.0/12"), 0);
	assert_int_equal(verdict(&e, &s3), TN_NF_ACCEPT); /* not in nets any more: ACCEPT by rule 2 */
	assert_int_equal(run(&e, "ipset test nets 172.16.5.9"), 0);
	assert_int_equal(run(&e, "ipset test nets 172.17.5.9"), 1);
	assert_int_equal(run(&e, "ipset destroy bad"), 1);
	assert_non_null(strstr(out, "in use by a kernel component"));
	assert_int_equal(run(&e, "ipset list bad"), 0);
	assert_non_null(strstr(out, "Type: hash:ip\n"));
	assert_non_null(strstr(out, "References: 1\n"));
	assert_non_null(strstr(out, "Members:\n10.0.0.5\n"));
	assert_int_equal(run(&e, "iptables -F"), 0);
	assert_int_equal(run(&e, "ipset destroy ports"), 0);
	assert_int_equal(run(&e, "ipset destroy bad"), 0);
	env_free(&e);
}

static void test_nat_applied(void **state)
{
	(void)state;
	struct env e;
	env_new(&e);
	/* NAT targets apply now: the nat table turns NAT (and conntrack) on */
	assert_null(e.s->nat);
	assert_int_equal(run(&e, "iptables -t nat -A POSTROUTING -o wire1 -j MASQUERADE"), 0);
	assert_non_null(e.s->nat);
	assert_true(tn_ct_enabled(e.s));
	const char *f = "*filter\n-A INPUT -j DROP\nCOMMIT\n*nat\n-A PREROUTING -p tcp -j DNAT --to-destination 198.18.0.9\nCOMMIT\n";
	assert_int_equal(restore(&e, f), 0);
	assert_int_equal(run(&e, "iptables-save"), 0);
	assert_non_null(strstr(out, "-A INPUT -j DROP"));
	assert_non_null(strstr(out, "-A PREROUTING -p tcp -j DNAT --to-destination 198.18.0.9"));
	/* a bad range is refused as iptables words it, and changes nothing */
	assert_int_equal(run(&e, "iptables -t nat -A POSTROUTING -p tcp -j SNAT --to-source 198.18.0.1:9-1"), 2);
	assert_non_null(strstr(out, "Port range `9-1' invalid"));
	env_free(&e);
}

/* A LOG line whose sink replaces the ruleset: the traversal in progress
 * finishes on the set it began with, which is freed after it. */
static struct env *swap_env;
static int swaps_in_cb;
static void swap_cb(void *ctx, int level, const char *msg)
{
	(void)ctx;
	(void)level;
	(void)msg;
	swaps_in_cb++;
	const char *v2 = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j DROP\nCOMMIT\n";
	assert_int_equal(restore(swap_env, v2), 0);
}

static void test_swap_during_traversal(void **state)
{
	(void)state;
	struct env e;
	env_new(&e);
	swap_env = &e;
	const char *v1 = "*filter\n:INPUT DROP [0:0]\n:x - [0:0]\n-A INPUT -j x\n-A INPUT -j ACCEPT\n-A x -j LOG\nCOMMIT\n";
	assert_int_equal(restore(&e, v1), 0);
	e.s->log = swap_cb;
	uint64_t freed = e.s->ipt->freed;
	struct spec u = UDP(1, 2);
	assert_int_equal(verdict(&e, &u), TN_NF_ACCEPT); /* the old set's answer */
	assert_int_equal(swaps_in_cb, 1);
	assert_int_equal(e.s->ipt->freed, freed + 1);    /* freed once the packet left it */
	e.s->log = NULL;
	assert_int_equal(verdict(&e, &u), TN_NF_DROP);   /* the new one */
	env_free(&e);
}

static void test_matcher_vs_reference(void **state)
{
	(void)state;
	struct env e;
	env_new(&e);
	struct ipt_gen g;
	ipt_gen_seed(&g, 12345);
	long compared = 0;
	for (int rs = 0; rs < 150; rs++) {
		char *text = ipt_gen_ruleset(&g, 5 + (int)(ipt_gen_u32(&g) % 60), 1 + (int)(ipt_gen_u32(&g) % 6));
		if (restore(&e, text) != 0)
			fail_msg("generated ruleset refused: %s\n%s", out, text);
		struct tn_ipt_model m;
		assert_int_equal(tn_ipt_export(e.s, &m), 0);
		struct tn_pkt *p = tn_pkt_alloc(e.s->pool);
		for (int k = 0; k < 400; k++) {
			struct tn_ipt_pkt pi;
			ipt_gen_packet(&g, &pi);
			uint32_t rmark = pi.mark;
			int want = ipt_ref_verdict(&m.t[TN_IPT_FILTER], TN_NF_FORWARD, &pi, &rmark);
			p->mark = pi.mark;
			int got = tn_ipt_traverse(e.s, TN_IPT_FILTER, TN_NF_FORWARD, p, &pi);
			if (got != want || p->mark != rmark)
				fail_msg("ruleset %d packet %d: got %d mark %u, reference %d mark %u\n%s", rs, k, got, p->mark, want,
					 rmark, text);
			compared++;
		}
		tn_pkt_free(p);
		tn_ipt_model_free(&m);
		free(text);
	}
	assert_int_equal(compared, 150 * 400);
	env_free(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_match),
		cmocka_unit_test(test_fragments_and_truncation),
		cmocka_unit_test(test_jump_goto_return_policy_counters),
		cmocka_unit_test(test_reject),
		cmocka_unit_test(test_log_and_mark),
		cmocka_unit_test(test_limit_and_hashlimit),
		cmocka_unit_test(test_sets),
		cmocka_unit_test(test_nat_applied),
		cmocka_unit_test(test_swap_during_traversal),
		cmocka_unit_test(test_matcher_vs_reference),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
