/* TCP between two tern stacks on a memlink, on a virtual clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "sim.h"
#include "tcp/tcp.h"
#include "testutil.h"

enum { C, S };
#define MS 1000000ull
#define SEC 1000000000ull

static void pair(struct sim *sim, uint64_t seed, const struct tn_fault_cfg *imp)
{
	sim_pair(sim, seed, imp, "198.18.1.1/24", "198.18.1.2/24");
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

static int listen_on(struct sim *sim, uint16_t port)
{
	int l = tern_socket(sim->st[S], AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	assert_int_equal(tern_bind(sim->st[S], l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(tern_listen(sim->st[S], l, 16), 0);
	return l;
}

static const char *server_ip = "198.18.1.2"; /* test_offload_forwarding moves it */

static int connect_to(struct sim *sim, uint16_t port)
{
	int c = tern_socket(sim->st[C], AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
				.sin_addr.s_addr = htonl(t_ip(server_ip))};
	assert_int_equal(tern_connect(sim->st[C], c, (struct sockaddr *)&a, sizeof(a)), -1);
	assert_int_equal(errno, EINPROGRESS);
	return c;
}

static void test_handshake_and_refused(void **state)
{
	(void)state;
	struct sim sim;
	pair(&sim, 1, NULL);
	int l = listen_on(&sim, 80);
	int c = connect_to(&sim, 80);
	struct ev e = {sim.st[C], c, POLLOUT};
	assert_true(sim_run_while_not(&sim, has_ev, &e, sim.now + 1 * SEC));
	struct sockaddr_in peer;
	socklen_t pl = sizeof(peer);
	int a = tern_accept(sim.st[S], l, (struct sockaddr *)&peer, &pl);
	assert_true(a >= 0);
	assert_int_equal(ntohl(peer.sin_addr.s_addr), t_ip("198.18.1.1"));
	assert_int_equal(tern_stat(sim.st[C], "TcpActiveOpens"), 1);
	assert_int_equal(tern_stat(sim.st[S], "TcpPassiveOpens"), 1);
	assert_int_equal(tern_stat(sim.st[S], "TcpCurrEstab"), 1);
	assert_int_equal(tern_accept(sim.st[S], l, NULL, NULL), -1);
	assert_int_equal(errno, EAGAIN);
	/* a closed port answers with RST: ECONNREFUSED */
	int r = connect_to(&sim, 81);
	struct ev er = {sim.st[C], r, POLLERR};
	assert_true(sim_run_while_not(&sim, has_ev, &er, sim.now + 1 * SEC));
	int err = 0;
	socklen_t el = sizeof(err);
	tern_getsockopt(sim.st[C], r, SOL_SOCKET, SO_ERROR, &err, &el);
	assert_int_equal(err, ECONNREFUSED);
	tern_close(sim.st[C], r);
	tern_close(sim.st[C], c);
	tern_close(sim.st[S], a);
	tern_close(sim.st[S], l);
	sim_run_until(&sim, sim.now + 120 * SEC); /* FIN exchange and TIME-WAIT */
	assert_int_equal(sim.st[C]->tcp.count + sim.st[S]->tcp.count, 0);
	assert_true(sim_no_leak(&sim));
	sim_free(&sim);
}

static uint8_t pattern(uint64_t i) { return (uint8_t)(i * 2654435761u >> 13); }

/* Send `bytes` from client to server (and the same back when both_ways),
 * checking every byte; returns virtual seconds taken. */
static double transfer(struct sim *sim, uint64_t bytes, bool both_ways)
{
	int l = listen_on(sim, 5001);
	int c = connect_to(sim, 5001);
	struct ev e = {sim->st[S], l, POLLIN};
	assert_true(sim_run_while_not(sim, has_ev, &e, sim->now + 30 * SEC));
	int a = tern_accept(sim->st[S], l, NULL, NULL);
	assert_true(a >= 0);
	uint64_t start = sim->now;
	uint64_t sent[2] = {0, 0}, got[2] = {0, 0};
	int snd[2] = {c, a}, rcv[2] = {a, c};
	struct tn_stack *ss[2] = {sim->st[C], sim->st[S]}, *rs[2] = {sim->st[S], sim->st[C]};
	int dirs = both_ways ? 2 : 1;
	static uint8_t buf[65536];
	uint64_t deadline = sim->now + 3600 * SEC;
	while (sim->now < deadline) {
		bool done = true;
		for (int d = 0; d < dirs; d++) {
			while (sent[d] < bytes) {
				uint32_t n = bytes - sent[d] < sizeof(buf) ? (uint32_t)(bytes - sent[d]) : (uint32_t)sizeof(buf);
				for (uint32_t i = 0; i < n; i++)
					buf[i] = pattern(sent[d] + i + (uint64_t)d);
				ssize_t k = tern_send(ss[d], snd[d], buf, n, 0);
				if (k <= 0)
					break;
				sent[d] += (uint64_t)k;
			}
			ssize_t k;
			while ((k = tern_recv(rs[d], rcv[d], buf, sizeof(buf), 0)) > 0) {
				for (ssize_t i = 0; i < k; i++)
					if (buf[i] != pattern(got[d] + (uint64_t)i + (uint64_t)d))
						fail_msg("byte %llu differs", (unsigned long long)(got[d] + (uint64_t)i));
				got[d] += (uint64_t)k;
			}
			done = done && got[d] == bytes;
		}
		if (done)
			break;
		sim_run_until(sim, sim->now + 1 * MS);
	}
	double secs = (double)(sim->now - start) / 1e9;
	for (int d = 0; d < dirs; d++)
		assert_int_equal(got[d], bytes);
	/* orderly close both ways: recv sees end of stream */
	tern_shutdown(sim->st[C], c, SHUT_WR);
	struct ev eof = {sim->st[S], a, POLLIN};
	assert_true(sim_run_while_not(sim, has_ev, &eof, sim->now + 60 * SEC));
	assert_int_equal(tern_recv(sim->st[S], a, buf, sizeof(buf), 0), 0);
	tern_close(sim->st[S], a);
	tern_close(sim->st[C], c);
	tern_close(sim->st[S], l);
	sim_run_until(sim, sim->now + 200 * SEC);
	assert_int_equal(sim->st[C]->tcp.count + sim->st[S]->tcp.count, 0);
	assert_true(sim_no_leak(sim));
	return secs;
}

static void test_bulk_clean(void **state)
{
	(void)state;
	struct sim sim;
	pair(&sim, 2, NULL);
	transfer(&sim, 8 << 20, true);
	assert_int_equal(tern_stat(sim.st[C], "TcpRetransSegs"), 0);
	sim_free(&sim);
}

static void test_bulk_lossy(void **state)
{
	(void)state;
	struct tn_fault_cfg imp = {.delay_ns = 10 * MS, .jitter_ns = 2 * MS, .loss = 0.02, .reorder = 0.02,
				   .duplicate = 0.01, .rate_bps = 100000000, .seed = 3};
	struct sim sim;
	pair(&sim, 3, &imp);
	transfer(&sim, 4 << 20, true);
	assert_true(tern_stat(sim.st[C], "TcpRetransSegs") > 0);
	/* The impaired link takes no large segments: software GSO cut them. */
	assert_true(tern_stat(sim.st[C], "TernExtGsoSegmented") > 0);
	sim_free(&sim);
}

static int64_t dev_tx_frames(struct sim *sim, int i)
{
	return (int64_t)tern_dev_get(sim->st[i], 1)->stats.tx_packets;
}

static void offload(struct sim *sim, const char *feature, int on)
{
	for (int i = 0; i < sim->n; i++)
		for (int k = 1; k <= tern_dev_count(sim->st[i]); k++)
			assert_int_equal(tern_dev_offload(sim->st[i], k, feature, on), 0);
}

/* Batching, the default on a memlink: TCP's large segments cross whole
 * (TSO), so frames are far fewer than segments, and nothing is cut up. */
static void test_offload_tso(void **state)
{
	(void)state;
	struct sim sim;
	pair(&sim, 21, NULL);
	transfer(&sim, 8 << 20, true);
	for (int i = C; i <= S; i++) {
		int64_t segs = tern_stat(sim.st[i], "TcpOutSegs");
		assert_true(dev_tx_frames(&sim, i) * 4 < segs);
		assert_int_equal(tern_stat(sim.st[i], "TernExtGsoSegmented"), 0);
		assert_int_equal(tern_stat(sim.st[i], "TcpRetransSegs"), 0);
	}
	sim_free(&sim);
}

/* TSO off: large segments are cut up before the device (one frame per
 * segment) and merged again by the receiver's GRO; every byte intact. */
static void test_offload_gso_gro(void **state)
{
	(void)state;
	struct sim sim;
	pair(&sim, 22, NULL);
	offload(&sim, "tso", 0);
	transfer(&sim, 8 << 20, true);
	for (int i = C; i <= S; i++) {
		assert_true(tern_stat(sim.st[i], "TernExtGsoSegmented") > 0);
		assert_true(tern_stat(sim.st[i], "TernExtGroMerged") > 0);
		assert_true(dev_tx_frames(&sim, i) >= tern_stat(sim.st[i], "TcpOutSegs"));
	}
	sim_free(&sim);
}

/* Everything off: one segment per send, per frame, per receive. */
static void test_offload_off(void **state)
{
	(void)state;
	struct sim sim;
	pair(&sim, 23, NULL);
	offload(&sim, "tso", 0);
	offload(&sim, "gso", 0);
	offload(&sim, "gro", 0);
	assert_int_equal(tern_dev_offload(sim.st[C], 1, "lro", 1), -EINVAL);
	transfer(&sim, 4 << 20, true);
	for (int i = C; i <= S; i++) {
		assert_int_equal(tern_stat(sim.st[i], "TernExtGsoSegmented"), 0);
		assert_int_equal(tern_stat(sim.st[i], "TernExtGroMerged"), 0);
	}
	sim_free(&sim);
}

/* A router between: the client's large segments arrive whole (TSO) and
 * leave through an impaired link that takes none, so the router cuts
 * them up by copying (their buffers are not one per segment). */
static void test_offload_forwarding(void **state)
{
	(void)state;
	enum { R = 2 };
	struct sim sim;
	sim_init(&sim, 24);
	sim_add(&sim, "C");
	sim_add(&sim, "S");
	sim_add(&sim, "R");
	struct tn_fault_cfg slow = {.delay_ns = 2 * MS, .seed = 24};
	int c0, r0, r1, s0;
	sim_link(&sim, C, R, 1500, NULL, NULL, &c0, &r0, NULL);
	sim_link(&sim, R, S, 1500, &slow, &slow, &r1, &s0, NULL);
	sim_addr(&sim, C, c0, "198.18.1.1/24");
	sim_addr(&sim, R, r0, "198.18.1.254/24");
	sim_addr(&sim, R, r1, "198.18.3.254/24");
	sim_addr(&sim, S, s0, "198.18.3.2/24");
	sim_gw(&sim, C, "198.18.1.254");
	sim_gw(&sim, S, "198.18.3.254");
	tern_sysctl_set(sim.st[R], "net.ipv4.ip_forward", "1");
	sim_run_until(&sim, sim.now + 1 * SEC);
	sim_mark_baseline(&sim);
	server_ip = "198.18.3.2";
	transfer(&sim, 4 << 20, true);
	server_ip = "198.18.1.2";
	assert_true(tern_stat(sim.st[R], "TernExtGsoSegmented") > 0);
	assert_int_equal(tern_stat(sim.st[R], "TernExtGsoFailed"), 0);
	assert_int_equal(tern_stat(sim.st[C], "TcpRetransSegs"), 0);
	sim_free(&sim);
}

/* The receiver stops reading: the window closes, the sender probes it with
 * backed-off zero-window probes, and the data flows again once read. */
static void test_zero_window_persist(void **state)
{
	(void)state;
	struct sim sim;
	pair(&sim, 4, NULL);
	int l = listen_on(&sim, 7000);
	int small = 4096; /* the listener's buffer size passes to its connections */
	tern_setsockopt(sim.st[S], l, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	int c = connect_to(&sim, 7000);
	struct ev e = {sim.st[S], l, POLLIN};
	assert_true(sim_run_while_not(&sim, has_ev, &e, sim.now + 5 * SEC));
	int a = tern_accept(sim.st[S], l, NULL, NULL);
	static uint8_t buf[200000];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = pattern(i);
	size_t sent = 0, got = 0;
	for (int i = 0; i < 200 && sent < sizeof(buf); i++) {
		ssize_t k = tern_send(sim.st[C], c, buf + sent, sizeof(buf) - sent, 0);
		if (k > 0)
			sent += (size_t)k;
		sim_run_until(&sim, sim.now + 10 * MS);
	}
	struct tn_tcb *t = tn_sock_get(sim.st[C], c)->tcb;
	assert_true(t->snd_wnd < t->mss); /* closed, or too small to use (SWS avoidance) */
	sim_run_until(&sim, sim.now + 10 * SEC); /* nobody reads for 10 s */
	int64_t probes = tern_stat(sim.st[C], "TcpExtTCPWinProbe");
	assert_in_range(probes, 3, 8); /* 200 ms backed off: 0.2+0.4+0.8+1.6+3.2 s ... */
	static uint8_t in[65536];
	for (int i = 0; i < 100000 && got < sizeof(buf); i++) {
		ssize_t k;
		while ((k = tern_recv(sim.st[S], a, in, sizeof(in), 0)) > 0) {
			for (ssize_t j = 0; j < k; j++)
				if (in[j] != pattern(got + (size_t)j))
					fail_msg("byte %zu differs", got + (size_t)j);
			got += (size_t)k;
		}
		if (sent < sizeof(buf)) {
			ssize_t m = tern_send(sim.st[C], c, buf + sent, sizeof(buf) - sent, 0);
			if (m > 0)
				sent += (size_t)m;
		}
		sim_run_until(&sim, sim.now + 1 * MS);
	}
	assert_int_equal(got, sizeof(buf));
	tern_close(sim.st[C], c);
	tern_close(sim.st[S], a);
	tern_close(sim.st[S], l);
	sim_run_until(&sim, sim.now + 200 * SEC);
	assert_true(sim_no_leak(&sim));
	sim_free(&sim);
}

/* Keepalive: an idle connection is probed after TCP_KEEPIDLE; a live peer
 * answers and the connection stays; a vanished peer is declared dead after
 * TCP_KEEPCNT probes TCP_KEEPINTVL apart (ETIMEDOUT). */
static void test_keepalive(void **state)
{
	(void)state;
	struct sim sim;
	pair(&sim, 6, NULL);
	int l = listen_on(&sim, 7100);
	int on = 1, idle = 10, intvl = 2, cnt = 3;
	tern_setsockopt(sim.st[S], l, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	tern_setsockopt(sim.st[S], l, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	tern_setsockopt(sim.st[S], l, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	tern_setsockopt(sim.st[S], l, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	int c = connect_to(&sim, 7100);
	struct ev e = {sim.st[S], l, POLLIN};
	assert_true(sim_run_while_not(&sim, has_ev, &e, sim.now + 5 * SEC));
	int a = tern_accept(sim.st[S], l, NULL, NULL);
	int got = 0;
	socklen_t gl = sizeof(got);
	tern_getsockopt(sim.st[S], a, IPPROTO_TCP, TCP_KEEPIDLE, &got, &gl);
	assert_int_equal(got, 10); /* inherited from the listener */
	sim_run_until(&sim, sim.now + 9 * SEC);
	assert_int_equal(tern_stat(sim.st[S], "TcpExtTCPKeepAlive"), 0);
	sim_run_until(&sim, sim.now + 25 * SEC);
	assert_in_range(tern_stat(sim.st[S], "TcpExtTCPKeepAlive"), 2, 3); /* one per idle period, answered */
	assert_int_equal(tn_sock_get(sim.st[S], a)->tcb->state, TN_TCP_ESTABLISHED);
	/* the client vanishes without a word */
	struct tn_stack *client = sim.st[C];
	sim.st[0] = sim.st[S]; /* the simulation goes on with the server alone */
	sim.n = 1;
	tern_stack_free(client);
	(void)c;
	struct ev dead = {sim.st[0], a, POLLERR};
	assert_true(sim_run_while_not(&sim, has_ev, &dead, sim.now + 30 * SEC));
	int err = 0;
	socklen_t el = sizeof(err);
	tern_getsockopt(sim.st[0], a, SOL_SOCKET, SO_ERROR, &err, &el);
	assert_int_equal(err, ETIMEDOUT);
	sim_free(&sim);
}

/* writev gathers into the byte stream in order; readv scatters it back;
 * sendmsg on UDP makes one datagram of all the pieces. */
static void test_vectored_io(void **state)
{
	(void)state;
	struct sim sim;
	pair(&sim, 9, NULL);
	struct tn_stack *cs = sim.st[C], *ss = sim.st[S];
	int l = listen_on(&sim, 8080);
	int c = connect_to(&sim, 8080);
	sim_run_until(&sim, sim.now + 10 * MS);
	int a = tern_accept(ss, l, NULL, NULL);
	assert_true(a >= 0);
	struct iovec out[3] = {{"head-", 5}, {"", 0}, {"and-tail", 8}};
	assert_int_equal(tern_writev(cs, c, out, 3), 13);
	sim_run_until(&sim, sim.now + 10 * MS);
	char x[4], y[16];
	struct iovec in[2] = {{x, sizeof(x)}, {y, sizeof(y)}};
	assert_int_equal(tern_readv(ss, a, in, 2), 13);
	assert_memory_equal(x, "head", 4);
	assert_memory_equal(y, "-and-tail", 9);
	struct sockaddr_in peer;
	struct msghdr m = {.msg_name = &peer, .msg_namelen = sizeof(peer), .msg_iov = in, .msg_iovlen = 2};
	assert_int_equal(tern_recvmsg(ss, a, &m, 0), -1); /* nothing left: EAGAIN, not a false EOF */
	assert_int_equal(errno, EAGAIN);
	tern_shutdown(cs, c, SHUT_WR);
	sim_run_until(&sim, sim.now + 10 * MS);
	assert_int_equal(tern_recvmsg(ss, a, &m, 0), 0); /* the FIN */
	assert_int_equal(ntohl(peer.sin_addr.s_addr), t_ip("198.18.1.1"));
	/* UDP: one datagram from three pieces */
	int u = tern_socket(ss, AF_INET, SOCK_DGRAM, 0), v = tern_socket(cs, AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in ua = {.sin_family = AF_INET, .sin_port = htons(5353)};
	assert_int_equal(tern_bind(ss, u, (struct sockaddr *)&ua, sizeof(ua)), 0);
	ua.sin_addr.s_addr = htonl(t_ip("198.18.1.2"));
	struct msghdr um = {.msg_name = &ua, .msg_namelen = sizeof(ua), .msg_iov = out, .msg_iovlen = 3};
	assert_int_equal(tern_sendmsg(cs, v, &um, 0), 13);
	sim_run_until(&sim, sim.now + 10 * MS);
	char d[64];
	assert_int_equal(tern_recv(ss, u, d, sizeof(d), 0), 13);
	assert_memory_equal(d, "head-and-tail", 13);
	tern_close(cs, c);
	tern_close(ss, a);
	tern_close(ss, l);
	tern_close(ss, u);
	tern_close(cs, v);
	sim_run_until(&sim, sim.now + 200 * SEC);
	assert_true(sim_no_leak(&sim));
	sim_free(&sim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_and_refused),
		cmocka_unit_test(test_bulk_clean),
		cmocka_unit_test(test_bulk_lossy),
		cmocka_unit_test(test_offload_tso),
		cmocka_unit_test(test_offload_gso_gro),
		cmocka_unit_test(test_offload_off),
		cmocka_unit_test(test_offload_forwarding),
		cmocka_unit_test(test_zero_window_persist),
		cmocka_unit_test(test_keepalive),
		cmocka_unit_test(test_vectored_io),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
