/* Netfilter hooks in the IPv4 path: where each of the five runs (in and
 * out interfaces), priority order, DROP and STOLEN, a PREROUTING rewrite
 * that changes the routing decision and a LOCAL_OUT rewrite that routes
 * again, on three stacks (A - R - B) on memlinks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "filter/nf.h"
#include "sim.h"
#include "testutil.h"
#include "wire/csum.h"
#include "wire/wire.h"

enum { A, R, B };
#define SEC 1000000000ull

static void topo(struct sim *sim)
{
	sim_router3(sim, 31, NULL);
	sim_run_until(sim, sim->now + 1 * SEC);
	sim_mark_baseline(sim);
}

/* What a recording hook saw. */
struct seen {
	int n;
	struct {
		int id, hook, in, out;
	} ev[64];
	enum tn_nf_verdict verdict;
	uint16_t only_dport; /* 0: every packet */
};

struct rec {
	struct seen *log;
	int id;
};

static bool is_test_udp(const struct tn_pkt *p, uint16_t dport)
{
	const uint8_t *ip = p->data;
	return p->len >= 28 && ip[9] == 17 && (!dport || tn_get16(ip + 22) == dport);
}

static enum tn_nf_verdict record(void *priv, struct tn_pkt *p, const struct tn_nf_state *st)
{
	struct rec *r = priv;
	struct seen *log = r->log;
	if (!is_test_udp(p, log->only_dport))
		return TN_NF_ACCEPT;
	if (log->n < 64)
		log->ev[log->n++] = (typeof(log->ev[0])){r->id, st->hook, st->in_ifindex, st->out_ifindex};
	return log->verdict;
}

static ssize_t recv_now(struct tn_stack *s, int fd)
{
	char buf[64];
	return tern_recv(s, fd, buf, sizeof(buf), 0);
}

static void reg(struct tn_stack *s, struct rec *r, enum tn_nf_hooknum h, int prio)
{
	struct tn_nf_hook_ops ops = {.fn = record, .priv = r, .hook = h, .priority = prio};
	assert_int_equal(tn_nf_register(s, &ops), 0);
}

static void test_where_hooks_run(void **state)
{
	(void)state;
	struct sim sim;
	topo(&sim);
	struct seen log = {.verdict = TN_NF_ACCEPT, .only_dport = 9000};
	struct rec ra = {&log, A}, rr = {&log, R}, rb = {&log, B};
	for (int h = 0; h < TN_NF_NUMHOOKS; h++) {
		reg(sim.st[A], &ra, h, 0);
		reg(sim.st[R], &rr, h, 0);
		reg(sim.st[B], &rb, h, 0);
	}
	int rx = t_udp_bound(sim.st[B], 9000), tx = t_udp_bound(sim.st[A], 5000);
	assert_int_equal(t_udp_hello(sim.st[A], tx, "198.18.2.2", 9000), 5);
	sim_run_until(&sim, sim.now + SEC);
	assert_int_equal(recv_now(sim.st[B], rx), 5);
	int expect[][4] = {
		{A, TN_NF_LOCAL_OUT, 0, 1},   {A, TN_NF_POST_ROUTING, 0, 1}, {R, TN_NF_PRE_ROUTING, 1, 0},
		{R, TN_NF_FORWARD, 1, 2},     {R, TN_NF_POST_ROUTING, 1, 2}, {B, TN_NF_PRE_ROUTING, 1, 0},
		{B, TN_NF_LOCAL_IN, 1, 0},
	};
	assert_int_equal(log.n, 7);
	for (int i = 0; i < 7; i++) {
		assert_int_equal(log.ev[i].id, expect[i][0]);
		assert_int_equal(log.ev[i].hook, expect[i][1]);
		assert_int_equal(log.ev[i].in, expect[i][2]);
		assert_int_equal(log.ev[i].out, expect[i][3]);
	}
	sim_free(&sim);
}

static void test_priority_order_and_registration(void **state)
{
	(void)state;
	struct sim sim;
	topo(&sim);
	struct seen log = {.verdict = TN_NF_ACCEPT, .only_dport = 9000};
	struct rec r1 = {&log, 1}, r2 = {&log, 2}, r3 = {&log, 3}, r4 = {&log, 4};
	reg(sim.st[B], &r1, TN_NF_LOCAL_IN, TN_NF_PRI_NAT_SRC);
	reg(sim.st[B], &r2, TN_NF_LOCAL_IN, TN_NF_PRI_CONNTRACK);
	reg(sim.st[B], &r3, TN_NF_LOCAL_IN, TN_NF_PRI_FILTER);
	reg(sim.st[B], &r4, TN_NF_LOCAL_IN, TN_NF_PRI_FILTER); /* a tie: after r3 */
	int rx = t_udp_bound(sim.st[B], 9000), tx = t_udp_bound(sim.st[A], 5000);
	t_udp_hello(sim.st[A], tx, "198.18.2.2", 9000);
	sim_run_until(&sim, sim.now + SEC);
	assert_int_equal(recv_now(sim.st[B], rx), 5);
	assert_int_equal(log.n, 4);
	int order[] = {2, 3, 4, 1};
	for (int i = 0; i < 4; i++)
		assert_int_equal(log.ev[i].id, order[i]);
	/* unregister one: it no longer runs */
	struct tn_nf_hook_ops ops = {.fn = record, .priv = &r3, .hook = TN_NF_LOCAL_IN};
	assert_int_equal(tn_nf_unregister(sim.st[B], &ops), 0);
	assert_int_equal(tn_nf_unregister(sim.st[B], &ops), -ENOENT);
	log.n = 0;
	t_udp_hello(sim.st[A], tx, "198.18.2.2", 9000);
	sim_run_until(&sim, sim.now + SEC);
	assert_int_equal(log.n, 3);
	/* bounds */
	struct rec more[TN_NF_MAX_PER_HOOK];
	int ok = 0;
	for (int i = 0; i < TN_NF_MAX_PER_HOOK; i++) {
		more[i] = (struct rec){&log, 10 + i};
		struct tn_nf_hook_ops m = {.fn = record, .priv = &more[i], .hook = TN_NF_FORWARD};
		ok += tn_nf_register(sim.st[B], &m) == 0;
	}
	assert_int_equal(ok, TN_NF_MAX_PER_HOOK);
	struct tn_nf_hook_ops full = {.fn = record, .priv = &r1, .hook = TN_NF_FORWARD};
	assert_int_equal(tn_nf_register(sim.st[B], &full), -ENOSPC);
	struct tn_nf_hook_ops bad = {.fn = record, .hook = TN_NF_NUMHOOKS};
	assert_int_equal(tn_nf_register(sim.st[B], &bad), -EINVAL);
	sim_free(&sim);
}

/* DROP at each hook stops the packet there and is counted; an OUTPUT drop
 * tells the UDP sender EPERM, as Linux does. */
static void test_drop_at_each_hook(void **state)
{
	(void)state;
	struct {
		int who, hook;
	} at[] = {{A, TN_NF_LOCAL_OUT}, {A, TN_NF_POST_ROUTING}, {R, TN_NF_PRE_ROUTING}, {R, TN_NF_FORWARD},
		  {R, TN_NF_POST_ROUTING}, {B, TN_NF_PRE_ROUTING}, {B, TN_NF_LOCAL_IN}};
	for (size_t k = 0; k < sizeof(at) / sizeof(at[0]); k++) {
		struct sim sim;
		topo(&sim);
		struct seen log = {.verdict = TN_NF_DROP, .only_dport = 9000};
		struct rec r = {&log, 0};
		reg(sim.st[at[k].who], &r, at[k].hook, 0);
		int rx = t_udp_bound(sim.st[B], 9000), tx = t_udp_bound(sim.st[A], 5000);
		ssize_t sent = t_udp_hello(sim.st[A], tx, "198.18.2.2", 9000);
		if (at[k].who == A) {
			assert_int_equal(sent, -1);
			assert_int_equal(errno, EPERM);
		} else {
			assert_int_equal(sent, 5);
		}
		sim_run_until(&sim, sim.now + SEC);
		assert_int_equal(recv_now(sim.st[B], rx), -1);
		assert_int_equal(log.n, 1);
		assert_int_equal(tern_stat(sim.st[at[k].who], "TernExtNfDrops"), 1);
		tern_close(sim.st[A], tx);
		tern_close(sim.st[B], rx);
		assert_true(sim_no_leak(&sim));
		sim_free(&sim);
	}
}

/* A hook that keeps the packet (STOLEN) owns it. */
static enum tn_nf_verdict steal(void *priv, struct tn_pkt *p, const struct tn_nf_state *st)
{
	(void)st;
	if (!is_test_udp(p, 9000))
		return TN_NF_ACCEPT;
	(*(int *)priv)++;
	tn_pkt_free(p);
	return TN_NF_STOLEN;
}

static void test_stolen(void **state)
{
	(void)state;
	struct sim sim;
	topo(&sim);
	int stolen = 0;
	struct tn_nf_hook_ops ops = {.fn = steal, .priv = &stolen, .hook = TN_NF_FORWARD};
	assert_int_equal(tn_nf_register(sim.st[R], &ops), 0);
	int rx = t_udp_bound(sim.st[B], 9000), tx = t_udp_bound(sim.st[A], 5000);
	t_udp_hello(sim.st[A], tx, "198.18.2.2", 9000);
	sim_run_until(&sim, sim.now + SEC);
	assert_int_equal(stolen, 1);
	assert_int_equal(recv_now(sim.st[B], rx), -1);
	assert_int_equal(tern_stat(sim.st[R], "TernExtNfDrops"), 0);
	tern_close(sim.st[A], tx);
	tern_close(sim.st[B], rx);
	assert_true(sim_no_leak(&sim));
	sim_free(&sim);
}

/* Rewrite the destination (IP header and UDP pseudo-header checksums
 * fixed incrementally), as DNAT will. */
struct rewrite {
	uint32_t from, to;
};

static enum tn_nf_verdict rewrite_dst(void *priv, struct tn_pkt *p, const struct tn_nf_state *st)
{
	(void)st;
	struct rewrite *rw = priv;
	uint8_t *ip = p->data;
	if (!is_test_udp(p, 0) || tn_get32(ip + 16) != rw->from)
		return TN_NF_ACCEPT;
	uint8_t *udp = ip + (ip[0] & 0xf) * 4;
	tn_put32(ip + 16, rw->to);
	tn_put16(ip + 10, tn_csum_update32(tn_get16(ip + 10), rw->from, rw->to));
	if (tn_get16(udp + 6))
		tn_put16(udp + 6, tn_csum_update32(tn_get16(udp + 6), rw->from, rw->to));
	return TN_NF_ACCEPT;
}

/* PREROUTING on the router sends a packet for 198.18.9.9 (nobody) to B;
 * LOCAL_OUT on A turns a packet for B into one for A itself (loopback). */
static void test_rewrites_reroute(void **state)
{
	(void)state;
	struct sim sim;
	topo(&sim);
	struct rewrite dnat = {t_ip("198.18.9.9"), t_ip("198.18.2.2")};
	struct tn_nf_hook_ops pre = {.fn = rewrite_dst, .priv = &dnat, .hook = TN_NF_PRE_ROUTING,
				     .priority = TN_NF_PRI_NAT_DST};
	assert_int_equal(tn_nf_register(sim.st[R], &pre), 0);
	int rx = t_udp_bound(sim.st[B], 9000), tx = t_udp_bound(sim.st[A], 5000);
	assert_int_equal(t_udp_hello(sim.st[A], tx, "198.18.9.9", 9000), 5);
	sim_run_until(&sim, sim.now + SEC);
	assert_int_equal(recv_now(sim.st[B], rx), 5);
	struct rewrite to_self = {t_ip("198.18.2.2"), t_ip("198.18.1.2")};
	struct tn_nf_hook_ops out = {.fn = rewrite_dst, .priv = &to_self, .hook = TN_NF_LOCAL_OUT};
	assert_int_equal(tn_nf_register(sim.st[A], &out), 0);
	int self = t_udp_bound(sim.st[A], 9000);
	assert_int_equal(t_udp_hello(sim.st[A], tx, "198.18.2.2", 9000), 5);
	sim_run_until(&sim, sim.now + SEC);
	assert_int_equal(recv_now(sim.st[A], self), 5);
	assert_int_equal(recv_now(sim.st[B], rx), -1);
	tern_close(sim.st[A], tx);
	tern_close(sim.st[A], self);
	tern_close(sim.st[B], rx);
	assert_true(sim_no_leak(&sim));
	sim_free(&sim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_where_hooks_run),
		cmocka_unit_test(test_priority_order_and_registration),
		cmocka_unit_test(test_drop_at_each_hook),
		cmocka_unit_test(test_stolen),
		cmocka_unit_test(test_rewrites_reroute),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
