/* Simulations: two hosts and a router on memlinks with seeded impairment,
 * on a virtual clock.  A = 198.18.1.2 -- R -- 198.18.2.2 = B. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "testutil.h"
#include "wire/csum.h"

enum { A, R, B };
#define MS 1000000ull
#define SEC 1000000000ull

static struct tn_dev *lossy_rb;

static void topo(struct sim *sim, uint64_t seed, const struct tn_fault_cfg *rb, uint32_t rb_mtu)
{
	sim_init(sim, seed);
	sim_add(sim, "A");
	sim_add(sim, "R");
	sim_add(sim, "B");
	int a0, r0, r1, b0;
	sim_link(sim, A, R, 1500, NULL, NULL, &a0, &r0, NULL);
	sim_link(sim, R, B, rb_mtu, rb, rb, &r1, &b0, &lossy_rb);
	sim_addr(sim, A, a0, "198.18.1.2/24");
	sim_addr(sim, R, r0, "198.18.1.1/24");
	sim_addr(sim, R, r1, "198.18.2.1/24");
	sim_addr(sim, B, b0, "198.18.2.2/24");
	sim_gw(sim, A, "198.18.1.1");
	sim_gw(sim, B, "198.18.2.1");
	tern_sysctl_set(sim->st[R], "net.ipv4.ip_forward", "1");
	sim_run_until(sim, sim->now + 1 * SEC); /* gratuitous ARPs cross the slow link */
	sim_mark_baseline(sim);
}

struct readable {
	struct tn_stack *s;
	int fd;
};
static bool is_readable(void *ctx)
{
	struct readable *r = ctx;
	return tern_sock_events(r->s, r->fd) & (POLLIN | POLLERR);
}

static int ping_once(struct sim *sim, int fd, uint16_t seq, uint32_t size, uint64_t *rtt)
{
	uint8_t msg[9000];
	t_build_echo(msg, 0, seq, size);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(t_ip("198.18.2.2"))};
	if (tern_sendto(sim->st[A], fd, msg, 8 + size, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
		return -1;
	uint64_t t0 = sim->now;
	struct readable rd = {sim->st[A], fd};
	if (!sim_run_while_not(sim, is_readable, &rd, t0 + 1 * SEC))
		return 0;
	uint8_t back[9000];
	ssize_t n = tern_recv(sim->st[A], fd, back, sizeof(back), 0);
	if (n < 0)
		return -errno;
	*rtt = sim->now - t0;
	assert_int_equal(back[0], TN_ICMP_ECHOREPLY);
	assert_int_equal(tn_get16(back + 6), seq);
	assert_int_equal(n, 8 + size);
	return 1;
}

static void test_ping_across_router(void **state)
{
	(void)state;
	struct sim sim;
	topo(&sim, 1, NULL, 1500);
	int fd = tern_socket(sim.st[A], AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
	int ok = 0;
	uint64_t rtt;
	for (int i = 0; i < 100; i++) {
		ok += ping_once(&sim, fd, (uint16_t)i, 56, &rtt) == 1;
		sim_run_until(&sim, sim.now + 1 * SEC);
	}
	assert_int_equal(ok, 100);
	assert_int_equal(tern_stat(sim.st[B], "IcmpInEchos"), 100);
	assert_int_equal(tern_stat(sim.st[R], "IpForwDatagrams"), 200);
	tern_close(sim.st[A], fd);
	assert_true(sim_no_leak(&sim));
	sim_free(&sim);
}

static void test_ping_lossy_slow_link(void **state)
{
	(void)state;
	struct tn_fault_cfg lossy = {.delay_ns = 20 * MS, .loss = 0.10, .seed = 5};
	struct sim sim;
	topo(&sim, 2, &lossy, 1500);
	int fd = tern_socket(sim.st[A], AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
	int ok = 0;
	uint64_t rtt, min_rtt = UINT64_MAX;
	for (int i = 0; i < 100; i++) {
		if (ping_once(&sim, fd, (uint16_t)i, 56, &rtt) == 1) {
			ok++;
			min_rtt = rtt < min_rtt ? rtt : min_rtt;
		}
		sim_run_until(&sim, sim.now + 1 * SEC);
	}
	/* two crossings of a 10% loss link: ~81% expected */
	assert_in_range(ok, 70, 95);
	assert_true(min_rtt >= 40 * MS);
	assert_true(min_rtt < 45 * MS);
	/* fragmenting pings across the same link */
	int big = 0;
	for (int i = 0; i < 20; i++) {
		big += ping_once(&sim, fd, (uint16_t)(1000 + i), 4000, &rtt) == 1;
		sim_run_until(&sim, sim.now + 1 * SEC);
	}
	assert_true(big >= 5);
	assert_true(tern_stat(sim.st[B], "IpReasmOKs") >= big);
	tern_close(sim.st[A], fd);
	sim_run_until(&sim, sim.now + 60 * SEC); /* reassembly queues of lost fragments expire */
	assert_true(sim_no_leak(&sim));
	sim_free(&sim);
}

static void test_ttl_and_no_route(void **state)
{
	(void)state;
	struct sim sim;
	topo(&sim, 3, NULL, 1500);
	int fd = tern_socket(sim.st[A], AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
	int one = 1;
	tern_setsockopt(sim.st[A], fd, IPPROTO_IP, IP_TTL, &one, sizeof(one));
	uint64_t rtt;
	assert_int_equal(ping_once(&sim, fd, 1, 56, &rtt), -EHOSTUNREACH);
	uint32_t from;
	uint8_t type, code;
	uint16_t seq;
	assert_int_equal(tern_sock_icmp_error(sim.st[A], fd, &from, &type, &code, &seq), 0);
	assert_int_equal(from, t_ip("198.18.1.1"));
	assert_int_equal(type, TN_ICMP_TIME_EXCEEDED);
	assert_int_equal(seq, 1);
	assert_int_equal(tern_stat(sim.st[R], "IcmpOutTimeExcds"), 1);
	/* no route at the router: net unreachable */
	tern_route_add(sim.st[A], t_ip("198.19.0.0"), 16, t_ip("198.18.1.1"), 0, 0);
	int fd2 = tern_socket(sim.st[A], AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
	uint8_t msg[64];
	t_build_echo(msg, 0, 9, 8);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(t_ip("198.19.9.9"))};
	tern_sendto(sim.st[A], fd2, msg, 16, 0, (struct sockaddr *)&to, sizeof(to));
	sim_run_until(&sim, sim.now + 100 * MS);
	assert_int_equal(tern_stat(sim.st[R], "IpExtInNoRoutes"), 1);
	assert_int_equal(tern_sock_icmp_error(sim.st[A], fd2, &from, &type, &code, &seq), 0);
	assert_int_equal(code, TN_ICMP_NET_UNREACH);
	tern_close(sim.st[A], fd);
	tern_close(sim.st[A], fd2);
	sim_free(&sim);
}

/* Datagram payload: seq (4 bytes), length (2), then bytes from seq. */
static uint32_t fill(uint8_t *b, uint32_t seq, uint32_t len)
{
	tn_put32(b, seq);
	tn_put16(b + 4, (uint16_t)len);
	for (uint32_t i = 6; i < len; i++)
		b[i] = (uint8_t)(seq * 13 + i);
	return len;
}
static bool intact(const uint8_t *b, uint32_t n)
{
	if (n < 6 || tn_get16(b + 4) != n)
		return false;
	uint32_t seq = tn_get32(b);
	for (uint32_t i = 6; i < n; i++)
		if (b[i] != (uint8_t)(seq * 13 + i))
			return false;
	return true;
}

static void udp_run(uint64_t seed, const struct tn_fault_cfg *imp, uint32_t mtu, int count, int *got,
		    int *bad, int64_t *counters, bool no_pmtu_disc)
{
	struct sim sim;
	topo(&sim, seed, imp, mtu);
	if (no_pmtu_disc) /* never set DF: the router must fragment */
		tern_sysctl_set(sim.st[A], "net.ipv4.ip_no_pmtu_disc", "1");
	int rx = tern_socket(sim.st[B], AF_INET, SOCK_DGRAM, 0);
	int big = 4 << 20;
	tern_sysctl_set(sim.st[B], "net.core.rmem_max", "8388608");
	tern_setsockopt(sim.st[B], rx, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	struct sockaddr_in b = {.sin_family = AF_INET, .sin_port = htons(5000)};
	tern_bind(sim.st[B], rx, (struct sockaddr *)&b, sizeof(b));
	int tx = tern_socket(sim.st[A], AF_INET, SOCK_DGRAM, 0);
	b.sin_addr.s_addr = htonl(t_ip("198.18.2.2"));
	tern_connect(sim.st[A], tx, (struct sockaddr *)&b, sizeof(b));
	struct tn_rand r;
	tn_rand_seed(&r, seed);
	static uint8_t buf[9000];
	int emsgsize = 0;
	*got = *bad = 0;
	for (int i = 0; i < count; i++) {
		uint32_t len = i % 10 == 9 ? 1473 + tn_rand_below(&r, 6500) : 6 + tn_rand_below(&r, 1467);
		fill(buf, (uint32_t)i, len);
		ssize_t sent = tern_send(sim.st[A], tx, buf, len, 0);
		if (sent < 0) {
			/* As Linux: a "fragmentation needed" about an earlier DF datagram is
			 * reported once on a connected socket; the path MTU is learned. */
			assert_int_equal(errno, EMSGSIZE);
			emsgsize++;
			sent = tern_send(sim.st[A], tx, buf, len, 0);
		}
		assert_int_equal(sent, (ssize_t)len);
		sim_run_until(&sim, sim.now + 1 * MS);
		ssize_t n;
		while ((n = tern_recv(sim.st[B], rx, buf, sizeof(buf), 0)) > 0) {
			(*got)++;
			*bad += !intact(buf, (uint32_t)n);
		}
	}
	sim_run_until(&sim, sim.now + 1 * SEC);
	ssize_t n;
	while ((n = tern_recv(sim.st[B], rx, buf, sizeof(buf), 0)) > 0) {
		(*got)++;
		*bad += !intact(buf, (uint32_t)n);
	}
	static const char *names[] = {"UdpInDatagrams", "IpReasmOKs", "IpFragCreates", "UdpInCsumErrors"};
	for (int i = 0; i < 4; i++)
		counters[i] = tern_stat(sim.st[i == 2 ? R : B], names[i]);
	counters[4] = emsgsize;
	tern_close(sim.st[A], tx);
	tern_close(sim.st[B], rx);
	sim_run_until(&sim, sim.now + 60 * SEC);
	assert_true(sim_no_leak(&sim));
	sim_free(&sim);
}

static void test_udp_impaired(void **state)
{
	(void)state;
	struct tn_fault_cfg imp = {.delay_ns = 20 * MS, .jitter_ns = 5 * MS, .loss = 0.02, .reorder = 0.05,
				   .duplicate = 0.01, .seed = 9};
	int got, bad;
	int64_t c[5];
	udp_run(4, &imp, 1000, 10000, &got, &bad, c, true);
	assert_int_equal(bad, 0);
	assert_int_equal(c[0], got);
	assert_in_range(got, 9300, 10100); /* 2% loss, whole datagrams lost per fragment */
	assert_true(c[1] > 500);   /* datagrams over 1000-byte MTU reassembled at B */
	assert_true(c[2] > 1000);  /* the router fragmented onto the 1000-byte link */
	assert_int_equal(c[4], 0); /* no DF, so no "fragmentation needed" */
}

static void test_udp_corruption_caught(void **state)
{
	(void)state;
	struct tn_fault_cfg imp = {.corrupt = 0.05, .seed = 10};
	int got, bad;
	int64_t c[5];
	udp_run(5, &imp, 1500, 3000, &got, &bad, c, false);
	assert_int_equal(bad, 0); /* checksums catch every flipped bit */
	assert_true(c[3] > 0);
}

static void test_port_unreachable(void **state)
{
	(void)state;
	struct sim sim;
	topo(&sim, 6, NULL, 1500);
	int tx = tern_socket(sim.st[A], AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in b = {.sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(t_ip("198.18.2.2"))};
	tern_connect(sim.st[A], tx, (struct sockaddr *)&b, sizeof(b));
	tern_send(sim.st[A], tx, "x", 1, 0);
	sim_run_until(&sim, sim.now + 100 * MS);
	char buf[8];
	assert_int_equal(tern_recv(sim.st[A], tx, buf, sizeof(buf), 0), -1);
	assert_int_equal(errno, ECONNREFUSED);
	assert_int_equal(tern_stat(sim.st[B], "UdpNoPorts"), 1);
	tern_close(sim.st[A], tx);
	sim_free(&sim);
}

static void test_determinism(void **state)
{
	(void)state;
	struct tn_fault_cfg imp = {.delay_ns = 10 * MS, .jitter_ns = 9 * MS, .loss = 0.05, .reorder = 0.1,
				   .duplicate = 0.02, .seed = 11};
	int g1, g2, g3, b;
	int64_t c1[5], c2[5], c3[5];
	udp_run(7, &imp, 1000, 1500, &g1, &b, c1, false);
	udp_run(7, &imp, 1000, 1500, &g2, &b, c2, false);
	udp_run(8, &imp, 1000, 1500, &g3, &b, c3, false);
	assert_true(c1[4] >= 1); /* DF datagrams over the 1000-byte hop taught A the path MTU */
	assert_int_equal(g1, g2);
	assert_memory_equal(c1, c2, sizeof(c1));
	assert_true(g1 != g3 || memcmp(c1, c3, sizeof(c1)) != 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ping_across_router), cmocka_unit_test(test_ping_lossy_slow_link),
		cmocka_unit_test(test_ttl_and_no_route),   cmocka_unit_test(test_udp_impaired),
		cmocka_unit_test(test_udp_corruption_caught), cmocka_unit_test(test_port_unreachable),
		cmocka_unit_test(test_determinism),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
