/* Connection tracking on a router, three stacks A - R - B on memlinks:
 * a TCP transfer through R goes NEW -> ESTABLISHED, its FINs take the entry
 * to TIME_WAIT, and 120 s of virtual time later it is gone; then 100,000
 * concurrent UDP flows through R with nf_conntrack_max 50,000: the overflow
 * is dropped and counted, the existing flows keep working, memory stays
 * bounded (full scale: about 1 s, 4 s under ASan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "filter/conntrack.h"
#include "filter/nf.h"
#include "net/ipv4.h"
#include "sim.h"
#include "testutil.h"
#include "wire/wire.h"

enum { A, R, B };
#define SEC 1000000000ull
#define MS 1000000ull

static void topo(struct sim *sim, uint32_t pool)
{
	(void)pool;
	sim_router3(sim, 57, NULL);
	assert_int_equal(tern_conntrack_enable(sim->st[R]), 0);
	sim_run_until(sim, sim->now + 1 * SEC);
	sim_mark_baseline(sim);
}

static struct tn_ct *entry(struct tn_stack *s, uint8_t proto, const char *src, const char *dst, uint16_t sp,
			   uint16_t dp)
{
	struct tn_ct_tuple t = {t_ip(src), t_ip(dst), sp, dp};
	return tn_ct_find(s, proto, &t, NULL);
}

/* What R's conntrack said about each packet of the test connection. */
struct seen {
	int n;
	enum tn_ct_state st[4096];
	bool reply[4096];
	uint8_t flags[4096];
};

static enum tn_nf_verdict watch(void *priv, struct tn_pkt *p, const struct tn_nf_state *st)
{
	struct seen *w = priv;
	const uint8_t *ip = p->data;
	if (p->len < 40 || ip[9] != 6 || w->n >= 4096)
		return TN_NF_ACCEPT;
	w->st[w->n] = tn_ct_state_of(st->s, p, &w->reply[w->n]);
	w->flags[w->n] = ip[(ip[0] & 15) * 4 + 13];
	w->n++;
	return TN_NF_ACCEPT;
}

static void test_tcp_through_router(void **state)
{
	(void)state;
	struct sim sim;
	topo(&sim, 0);
	static struct seen w;
	memset(&w, 0, sizeof(w));
	struct tn_nf_hook_ops ops = {watch, &w, TN_NF_FORWARD, TN_NF_PRI_FILTER};
	assert_int_equal(tn_nf_register(sim.st[R], &ops), 0);

	int l = tern_socket(sim.st[B], AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in b = {.sin_family = AF_INET, .sin_port = htons(80)};
	assert_int_equal(tern_bind(sim.st[B], l, (struct sockaddr *)&b, sizeof(b)), 0);
	assert_int_equal(tern_listen(sim.st[B], l, 8), 0);
	int c = tern_socket(sim.st[A], AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(5000)};
	assert_int_equal(tern_bind(sim.st[A], c, (struct sockaddr *)&a, sizeof(a)), 0);
	b.sin_addr.s_addr = htonl(t_ip("198.18.2.2"));
	tern_connect(sim.st[A], c, (struct sockaddr *)&b, sizeof(b));
	sim_run_until(&sim, sim.now + 100 * MS);
	int s = tern_accept(sim.st[B], l, NULL, NULL);
	assert_true(s >= 0);
	struct tn_ct *e = entry(sim.st[R], 6, "198.18.1.2", "198.18.2.2", 5000, 80);
	assert_non_null(e);
	assert_int_equal(e->state, TN_CT_TCP_ESTABLISHED);
	assert_true(e->status & TN_CT_S_ASSURED);
	/* the SYN was NEW, the SYN/ACK ESTABLISHED in reply, the ACK ESTABLISHED */
	assert_true(w.n >= 3);
	assert_int_equal(w.st[0], TN_CT_NEW);
	assert_int_equal(w.flags[0], 0x02);
	assert_int_equal(w.st[1], TN_CT_ESTABLISHED);
	assert_true(w.reply[1]);
	assert_int_equal(w.st[2], TN_CT_ESTABLISHED);
	assert_false(w.reply[2]);

	/* 1 MB each way, window checks on every segment */
	static uint8_t buf[65536];
	memset(buf, 0x5a, sizeof(buf));
	size_t sent = 0, got = 0, total = 1 << 20;
	for (int i = 0; i < 20000 && got < total; i++) {
		if (sent < total) {
			ssize_t n = tern_send(sim.st[A], c, buf, total - sent < sizeof(buf) ? total - sent : sizeof(buf), 0);
			if (n > 0)
				sent += (size_t)n;
		}
		sim_run_until(&sim, sim.now + 1 * MS);
		ssize_t n;
		while ((n = tern_recv(sim.st[B], s, buf, sizeof(buf), 0)) > 0)
			got += (size_t)n;
	}
	assert_int_equal(got, total);
	uint64_t invalid = 0;
	for (int i = 0; i < w.n; i++)
		invalid += w.st[i] == TN_CT_INVALID;
	assert_int_equal(invalid, 0);
	assert_int_equal(sim.st[R]->ct->stats.invalid, 0);
	char line[256];
	tn_ct_format(sim.st[R], e, line, sizeof(line));
	printf("R: %s\n", line);
	assert_non_null(strstr(line, "ESTABLISHED src=198.18.1.2 dst=198.18.2.2 sport=5000 dport=80 src=198.18.2.2 "
				     "dst=198.18.1.2 sport=80 dport=5000 [ASSURED] mark=0 use=1"));

	/* A closes first, then B: TIME_WAIT on R */
	tern_close(sim.st[A], c);
	sim_run_until(&sim, sim.now + 100 * MS);
	assert_int_equal(e->state, TN_CT_TCP_CLOSE_WAIT); /* A's FIN, B's ACK */
	tern_close(sim.st[B], s);
	tern_close(sim.st[B], l);
	sim_run_until(&sim, sim.now + 100 * MS);
	assert_int_equal(e->state, TN_CT_TCP_TIME_WAIT);
	assert_int_equal(tn_ct_timeout_left(sim.st[R], e), 119);
	sim_run_until(&sim, sim.now + 110 * SEC);
	assert_int_equal(tn_ct_count(sim.st[R]), 1);
	sim_run_until(&sim, sim.now + 11 * SEC);
	assert_int_equal(tn_ct_count(sim.st[R]), 0);
	assert_null(entry(sim.st[R], 6, "198.18.1.2", "198.18.2.2", 5000, 80));
	tn_nf_unregister(sim.st[R], &ops);
	sim_run_until(&sim, sim.now + 60 * SEC);
	assert_true(sim_no_leak(&sim));
	sim_free(&sim);
}

static void test_udp_overflow(void **state)
{
	(void)state;
	uint32_t max = 50000, flows = 2 * max;
	struct sim sim;
	topo(&sim, 0);
	struct tn_stack *r = sim.st[R];
	char v[16];
	snprintf(v, sizeof(v), "%u", max);
	assert_int_equal(tern_sysctl_set(r, "net.netfilter.nf_conntrack_max", v), 0);
	/* B has no sockets on these ports: every datagram it gets is counted
	 * in UdpNoPorts, and answered (no rate limit) with a port unreachable
	 * that R must find RELATED to its flow */
	tern_sysctl_set(sim.st[B], "net.ipv4.icmp_ratemask", "0");
	tern_sysctl_set(sim.st[A], "net.ipv4.icmp_ratemask", "0");
	struct sim_flows f = {.a = A, .r = R, .b = B, .a_addr = t_ip("198.18.1.2"), .b_addr = t_ip("198.18.2.2"),
			      .reply_to = t_ip("198.18.1.2"), .max = max};

	/* the first half: requests, replies, and two seconds later requests
	 * again: every flow a stream, ASSURED */
	sim_flows_fill(&sim, &f);

	/* the second half: the table is full of ASSURED flows, so every new
	 * flow is dropped and counted */
	int64_t nfdrops = tern_stat(r, "TernExtNfDrops");
	sim_flows_overflow(&sim, &f);
	assert_int_equal(r->ct->stats.early_drop, 0);
	assert_int_equal(tern_stat(r, "TernExtNfDrops") - nfdrops, (int64_t)(flows - max));
	assert_int_equal(tn_ct_count(r), max);

	/* the existing flows keep working, both ways */
	sim_flows_again(&sim, &f);
	assert_int_equal(r->ct->stats.drop, flows - max);
	assert_int_equal(r->ct->stats.invalid, 0);
	assert_int_equal(r->ct->stats.error, 0); /* every port unreachable was RELATED */

	/* memory: the entries that exist (allocated in chunks of 1024 as flows
	 * came), and the buckets (sized when tracking was turned on) */
	size_t mem = tn_ct_memory(r), buckets = (size_t)(r->ct->hmask + 1) * sizeof(uint32_t);
	printf("R: %u entries, %zu bytes of conntrack memory: %.1f per entry, %zu in buckets (sizeof entry %zu)\n",
	       tn_ct_count(r), mem, (double)(mem - buckets) / max, buckets, sizeof(struct tn_ct));
	assert_true(mem - buckets <= (size_t)max * 128 + TN_CT_CHUNK * sizeof(struct tn_ct) + 4096);
	/* everything times out: 120 s of stream timeout */
	sim_flows_expire(&sim, &f);
	sim_free(&sim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_through_router),
		cmocka_unit_test(test_udp_overflow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
