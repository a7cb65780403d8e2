/* iptables on a router between two stacks (A - R - B on memlinks): drop a
 * port, reject with tcp-reset (the client sees ECONNREFUSED), allow only
 * ESTABLISHED,RELATED inbound (the ctstate rule turns conntrack on; replies
 * pass, unsolicited packets do not), and rulesets replaced under traffic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "filter/conntrack.h"
#include "filter/ipt.h"
#include "sim.h"
#include "testutil.h"
#include "wire/wire.h"

enum { A, R, B };
#define SEC 1000000000ull
#define MS 1000000ull

static int r_a, r_b; /* R's interfaces toward A and B */

static void topo(struct sim *sim)
{
	int ifs[4];
	sim_router3(sim, 41, ifs);
	r_a = ifs[1];
	r_b = ifs[2];
	sim_run_until(sim, sim->now + 1 * SEC);
	sim_mark_baseline(sim);
}

static char out[16384];

#define ipt(s, ...) t_ipt(s, out, sizeof(out), __VA_ARGS__)

static int restore(struct tn_stack *s, const char *text)
{
	char *argv[] = {"iptables-restore"};
	FILE *f = fmemopen(out, sizeof(out), "w");
	int rc = tn_ipt_run(s, 1, argv, text, strlen(text), f);
	fclose(f);
	return rc;
}

static const char *ifn(struct sim *sim, int who, int ifindex)
{
	return tern_dev_get(sim->st[who], ifindex)->name;
}

static int recv_all(struct tn_stack *s, int fd)
{
	char buf[64];
	int n = 0;
	while (tern_recv(s, fd, buf, sizeof(buf), 0) > 0)
		n++;
	return n;
}

static void test_drop_a_port(void **state)
{
	(void)state;
	struct sim sim;
	topo(&sim);
	assert_int_equal(ipt(sim.st[R], "iptables -A FORWARD -p udp --dport 9000 -j DROP"), 0);
	int rx0 = t_udp_bound(sim.st[B], 9000), rx1 = t_udp_bound(sim.st[B], 9001), tx = t_udp_bound(sim.st[A], 5000);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(t_udp_hello(sim.st[A], tx, "198.18.2.2", 9000), 5);
		assert_int_equal(t_udp_hello(sim.st[A], tx, "198.18.2.2", 9001), 5);
	}
	sim_run_until(&sim, sim.now + SEC);
	assert_int_equal(recv_all(sim.st[B], rx0), 0);
	assert_int_equal(recv_all(sim.st[B], rx1), 3);
	assert_int_equal(tern_stat(sim.st[R], "TernExtNfDrops"), 3);
	assert_int_equal(ipt(sim.st[R], "iptables -L FORWARD -v -x -n"), 0);
	assert_non_null(strstr(out, "       3         99 DROP       udp"));
	/* the same rule on INPUT of B instead: B's own filter */
	assert_int_equal(ipt(sim.st[R], "iptables -F"), 0);
	assert_int_equal(ipt(sim.st[B], "iptables -A INPUT -p udp --dport 9001 -j DROP"), 0);
	t_udp_hello(sim.st[A], tx, "198.18.2.2", 9000);
	t_udp_hello(sim.st[A], tx, "198.18.2.2", 9001);
	sim_run_until(&sim, sim.now + SEC);
	assert_int_equal(recv_all(sim.st[B], rx0), 1);
	assert_int_equal(recv_all(sim.st[B], rx1), 0);
	tern_close(sim.st[A], tx);
	tern_close(sim.st[B], rx0);
	tern_close(sim.st[B], rx1);
	assert_true(sim_no_leak(&sim));
	sim_free(&sim);
}

struct ev {
	struct tn_stack *s;
	int fd, mask;
};
static bool has_ev(void *ctx)
{
	struct ev *e = ctx;
	return tern_sock_events(e->s, e->fd) & e->mask;
}

static int connect_to(struct tn_stack *s, const char *ip, uint16_t port)
{
	int c = tern_socket(s, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(t_ip(ip))};
	assert_int_equal(tern_connect(s, c, (struct sockaddr *)&a, sizeof(a)), -1);
	assert_int_equal(errno, EINPROGRESS);
	return c;
}

static int listen_on(struct tn_stack *s, uint16_t port)
{
	int l = tern_socket(s, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	assert_int_equal(tern_bind(s, l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(tern_listen(s, l, 16), 0);
	return l;
}

static void test_reject_with_tcp_reset(void **state)
{
	(void)state;
	struct sim sim;
	topo(&sim);
	assert_int_equal(ipt(sim.st[R], "iptables -A FORWARD -p tcp --dport 80 -j REJECT --reject-with tcp-reset"), 0);
	int l80 = listen_on(sim.st[B], 80), l81 = listen_on(sim.st[B], 81);
	int c = connect_to(sim.st[A], "198.18.2.2", 80);
	struct ev e = {sim.st[A], c, POLLERR};
	assert_true(sim_run_while_not(&sim, has_ev, &e, sim.now + SEC));
	int err = 0;
	socklen_t el = sizeof(err);
	tern_getsockopt(sim.st[A], c, SOL_SOCKET, SO_ERROR, &err, &el);
	assert_int_equal(err, ECONNREFUSED);
	assert_int_equal(tern_stat(sim.st[B], "TcpPassiveOpens"), 0); /* B never saw it */
	int ok = connect_to(sim.st[A], "198.18.2.2", 81);
	struct ev eo = {sim.st[A], ok, POLLOUT};
	assert_true(sim_run_while_not(&sim, has_ev, &eo, sim.now + SEC));
	assert_int_equal(tern_stat(sim.st[B], "TcpPassiveOpens"), 1);
	/* and ICMP port unreachable for UDP: a connected socket sees ECONNREFUSED */
	assert_int_equal(ipt(sim.st[R], "iptables -A FORWARD -p udp -j REJECT"), 0);
	int u = tern_socket(sim.st[A], AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in d = {.sin_family = AF_INET, .sin_port = htons(7), .sin_addr.s_addr = htonl(t_ip("198.18.2.2"))};
	assert_int_equal(tern_connect(sim.st[A], u, (struct sockaddr *)&d, sizeof(d)), 0);
	assert_int_equal(tern_send(sim.st[A], u, "x", 1, 0), 1);
	sim_run_until(&sim, sim.now + SEC);
	char b;
	assert_int_equal(tern_recv(sim.st[A], u, &b, 1, 0), -1);
	assert_int_equal(errno, ECONNREFUSED);
	tern_close(sim.st[A], u);
	tern_close(sim.st[A], c);
	tern_close(sim.st[A], ok);
	tern_close(sim.st[B], l80);
	tern_close(sim.st[B], l81);
	sim_run_until(&sim, sim.now + 200 * SEC);
	assert_true(sim_no_leak(&sim));
	sim_free(&sim);
}

static void test_only_established_inbound(void **state)
{
	(void)state;
	struct sim sim;
	topo(&sim);
	const char *outside = ifn(&sim, R, r_b);
	assert_int_equal(ipt(sim.st[R], "iptables -A FORWARD -i %s -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
			     outside), 0);
	assert_int_equal(ipt(sim.st[R], "iptables -A FORWARD -i %s -j DROP", outside), 0);
	int a = t_udp_bound(sim.st[A], 5000), a2 = t_udp_bound(sim.st[A], 5001), b = t_udp_bound(sim.st[B], 9000);
	/* The rule turned conntrack on, as Linux loads nf_conntrack for it:
	 * replies pass, unsolicited packets do not. */
	assert_true(tn_ct_enabled(sim.st[R]));
	t_udp_hello(sim.st[A], a, "198.18.2.2", 9000);
	sim_run_until(&sim, sim.now + SEC);
	assert_int_equal(recv_all(sim.st[B], b), 1);
	t_udp_hello(sim.st[B], b, "198.18.1.2", 5000); /* a reply */
	sim_run_until(&sim, sim.now + SEC);
	assert_int_equal(recv_all(sim.st[A], a), 1);
	t_udp_hello(sim.st[B], b, "198.18.1.2", 5001); /* unsolicited */
	sim_run_until(&sim, sim.now + SEC);
	assert_int_equal(recv_all(sim.st[A], a2), 0);
	assert_int_equal(ipt(sim.st[R], "iptables -L FORWARD -v -x -n"), 0);
	assert_non_null(strstr(out, "       1         33 ACCEPT     all  --  "));
	assert_non_null(strstr(out, "       1         33 DROP"));
	tern_close(sim.st[A], a);
	tern_close(sim.st[A], a2);
	tern_close(sim.st[B], b);
	assert_true(sim_no_leak(&sim));
	sim_free(&sim);
}

/* Rulesets whose two halves only accept together: a packet that saw the
 * first rule of one version and the second of another would be dropped.
 * Replaced after every packet for 300 packets (each version built whole
 * and swapped in with one store); every packet arrives, every old set is
 * freed. */
static void test_atomic_swap_under_traffic(void **state)
{
	(void)state;
	struct sim sim;
	topo(&sim);
	int tx = t_udp_bound(sim.st[A], 5000), rx = t_udp_bound(sim.st[B], 9000);
	int got = 0;
	for (int k = 1; k <= 300; k++) {
		char text[512];
		snprintf(text, sizeof(text),
			 "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:v%d - [0:0]\n"
			 "-A FORWARD -p udp -j MARK --set-xmark 0x%x/0xffffffff\n"
			 "-A FORWARD -p udp -j v%d\n"
			 "-A v%d -m mark ! --mark 0x%x -j DROP\n"
			 "COMMIT\n",
			 k, k, k, k, k);
		if (restore(sim.st[R], text) != 0)
			fail_msg("%s", out);
		assert_int_equal(t_udp_hello(sim.st[A], tx, "198.18.2.2", 9000), 5);
		sim_run_until(&sim, sim.now + 200000); /* 0.2 ms: packets still on the wire at the next swap */
		got += recv_all(sim.st[B], rx);
	}
	sim_run_until(&sim, sim.now + SEC);
	got += recv_all(sim.st[B], rx);
	assert_int_equal(got, 300);
	assert_int_equal(tern_stat(sim.st[R], "TernExtNfDrops"), 0);
	struct tn_ipt *ipt = sim.st[R]->ipt;
	assert_int_equal(ipt->swaps, 300);
	assert_int_equal(ipt->freed, 299);
	tern_close(sim.st[A], tx);
	tern_close(sim.st[B], rx);
	assert_true(sim_no_leak(&sim));
	sim_free(&sim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drop_a_port),
		cmocka_unit_test(test_reject_with_tcp_reset),
		cmocka_unit_test(test_only_established_inbound),
		cmocka_unit_test(test_atomic_swap_under_traffic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
