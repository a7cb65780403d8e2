/* The epoll-shaped API over UDP and TCP sockets between two stacks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <sys/epoll.h>

#include "sim.h"
#include "testutil.h"

enum { A, B };
#define MS 1000000ull
#define SEC 1000000000ull

static void pair(struct sim *sim)
{
	sim_pair(sim, 5, NULL, "198.18.2.1/24", "198.18.2.2/24");
}

static void send_to_b(struct sim *sim, int from, uint16_t port)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(t_ip("198.18.2.2"))};
	assert_int_equal(tern_sendto(sim->st[A], from, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)), 1);
	sim_run_until(sim, sim->now + 1 * MS);
}

static void test_level_edge_oneshot(void **state)
{
	(void)state;
	struct sim sim;
	pair(&sim);
	struct tn_stack *b = sim.st[B];
	int tx = tern_socket(sim.st[A], AF_INET, SOCK_DGRAM, 0);
	int lt = t_udp_bound(b, 1000), et = t_udp_bound(b, 1001), os = t_udp_bound(b, 1002);
	int ep = tern_epoll_create(b);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 1}, out[8];
	assert_int_equal(tern_epoll_ctl(b, ep, EPOLL_CTL_ADD, lt, &ev), 0);
	assert_int_equal(tern_epoll_ctl(b, ep, EPOLL_CTL_ADD, lt, &ev), -1);
	assert_int_equal(errno, EEXIST);
	ev = (struct epoll_event){.events = EPOLLIN | EPOLLET, .data.u64 = 2};
	tern_epoll_ctl(b, ep, EPOLL_CTL_ADD, et, &ev);
	ev = (struct epoll_event){.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 3};
	tern_epoll_ctl(b, ep, EPOLL_CTL_ADD, os, &ev);
	assert_int_equal(tern_epoll_wait(b, ep, out, 8), 0);
	send_to_b(&sim, tx, 1000);
	send_to_b(&sim, tx, 1001);
	send_to_b(&sim, tx, 1002);
	assert_int_equal(tern_epoll_wait(b, ep, out, 8), 3);
	/* unread: level-triggered reports again, edge and one-shot do not */
	assert_int_equal(tern_epoll_wait(b, ep, out, 8), 1);
	assert_int_equal(out[0].data.u64, 1);
	assert_true(out[0].events & EPOLLIN);
	char buf[8];
	tern_recv(b, lt, buf, sizeof(buf), 0);
	assert_int_equal(tern_epoll_wait(b, ep, out, 8), 0);
	send_to_b(&sim, tx, 1001); /* a new arrival is a new edge */
	send_to_b(&sim, tx, 1002); /* one-shot stays quiet until re-armed */
	assert_int_equal(tern_epoll_wait(b, ep, out, 8), 1);
	assert_int_equal(out[0].data.u64, 2);
	ev = (struct epoll_event){.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 3};
	assert_int_equal(tern_epoll_ctl(b, ep, EPOLL_CTL_MOD, os, &ev), 0);
	assert_int_equal(tern_epoll_wait(b, ep, out, 8), 1);
	assert_int_equal(out[0].data.u64, 3);
	/* DEL and close both remove a registration */
	assert_int_equal(tern_epoll_ctl(b, ep, EPOLL_CTL_DEL, et, NULL), 0);
	assert_int_equal(tern_epoll_ctl(b, ep, EPOLL_CTL_DEL, et, NULL), -1);
	assert_int_equal(errno, ENOENT);
	tern_close(b, lt);
	send_to_b(&sim, tx, 1001);
	assert_int_equal(tern_epoll_wait(b, ep, out, 8), 0);
	tern_close(b, ep);
	tern_close(b, et);
	tern_close(b, os);
	tern_close(sim.st[A], tx);
	sim_free(&sim);
}

static void test_tcp_events(void **state)
{
	(void)state;
	struct sim sim;
	pair(&sim);
	struct tn_stack *a = sim.st[A], *b = sim.st[B];
	int l = tern_socket(b, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(80)};
	tern_bind(b, l, (struct sockaddr *)&sa, sizeof(sa));
	tern_listen(b, l, 8);
	int epb = tern_epoll_create(b), epa = tern_epoll_create(a);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 80}, out[4];
	tern_epoll_ctl(b, epb, EPOLL_CTL_ADD, l, &ev);
	int c = tern_socket(a, AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(t_ip("198.18.2.2"));
	tern_connect(a, c, (struct sockaddr *)&sa, sizeof(sa));
	ev = (struct epoll_event){.events = EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.u64 = 7};
	tern_epoll_ctl(a, epa, EPOLL_CTL_ADD, c, &ev);
	assert_int_equal(tern_epoll_wait(a, epa, out, 4), 0); /* still connecting */
	sim_run_until(&sim, sim.now + 10 * MS);
	assert_int_equal(tern_epoll_wait(a, epa, out, 4), 1);
	assert_int_equal(out[0].events, EPOLLOUT);
	assert_int_equal(tern_epoll_wait(b, epb, out, 4), 1);
	int s = tern_accept(b, l, NULL, NULL);
	assert_true(s >= 0);
	tern_shutdown(b, s, SHUT_WR);
	sim_run_until(&sim, sim.now + 10 * MS);
	assert_int_equal(tern_epoll_wait(a, epa, out, 4), 1);
	assert_true(out[0].events & EPOLLRDHUP);
	/* a refused connection reports EPOLLERR */
	int r = tern_socket(a, AF_INET, SOCK_STREAM, 0);
	sa.sin_port = htons(81);
	tern_connect(a, r, (struct sockaddr *)&sa, sizeof(sa));
	ev = (struct epoll_event){.events = EPOLLOUT, .data.u64 = 81};
	tern_epoll_ctl(a, epa, EPOLL_CTL_ADD, r, &ev);
	sim_run_until(&sim, sim.now + 10 * MS);
	int n = tern_epoll_wait(a, epa, out, 4);
	bool saw_err = false;
	for (int i = 0; i < n; i++)
		saw_err |= out[i].data.u64 == 81 && (out[i].events & EPOLLERR);
	assert_true(saw_err);
	sim_free(&sim);
}

static void test_many_sockets_one_ready(void **state)
{
	(void)state;
	struct sim sim;
	pair(&sim);
	struct tn_stack *b = sim.st[B];
	int ep = tern_epoll_create(b);
	enum { N = 10000 };
	static int fds[N];
	for (int i = 0; i < N; i++) {
		fds[i] = t_udp_bound(b, (uint16_t)(10000 + i));
		struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = (uint64_t)i};
		assert_int_equal(tern_epoll_ctl(b, ep, EPOLL_CTL_ADD, fds[i], &ev), 0);
	}
	struct epoll_event out[64];
	assert_int_equal(tern_epoll_wait(b, ep, out, 64), 0);
	int tx = tern_socket(sim.st[A], AF_INET, SOCK_DGRAM, 0);
	send_to_b(&sim, tx, 10000 + 4321);
	assert_int_equal(tern_epoll_wait(b, ep, out, 64), 1);
	assert_int_equal(out[0].data.u64, 4321);
	assert_int_equal(b->socks.open, N + 1);
	sim_free(&sim); /* frees the sockets and the epoll instance with them */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_level_edge_oneshot),
		cmocka_unit_test(test_tcp_events),
		cmocka_unit_test(test_many_sockets_one_ready),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
