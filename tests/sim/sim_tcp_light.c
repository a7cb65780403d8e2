/* The light client of bench/c10m --light (bench/light_client.h) against a
 * tern server on a raw-IP memlink, virtual clock: 2,000 connections from
 * four client addresses open with real handshakes, carry small echoed
 * requests, answer keepalive probes and close with nothing left on the
 * server; and the client's checks catch a server that echoes the wrong
 * byte or resets a connection (so a bench run reporting 0 faults means
 * something). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "core/stack.h"
#include "tcp/tcp.h"
#include "tern/tern.h"
#include "../../bench/light_client.h"

#define NCONN 2000
#define PORTS 500 /* per client address: four addresses */
#define SRV 0xc6120001u  /* 198.18.0.1 */
#define CLI0 0xc6130101u /* 198.19.1.1 */
#define SRV_PORT 80
#define TICK 100000ull
#define KA_IDLE 5

struct env {
	struct tn_stack *s;
	struct light_client lc;
	struct lc_conn conn[NCONN];
	int sfd[NCONN];
	int lfd;
	long accepted;
	uint64_t now;
};

static unsigned rnd(struct env *e)
{
	e->now += TICK;
	return lc_poll(&e->lc) + tern_poll(e->s, e->now);
}

static void quiet(struct env *e)
{
	while (rnd(e))
		;
}

static void setup_env(struct env *e)
{
	memset(e, 0, sizeof(*e));
	e->now = 1000000000ull;
	struct tern_config cfg = {.name = "light-srv", .seed = 7, .now = e->now};
	struct tn_dev *dc, *ds;
	e->s = tern_stack_new(&cfg);
	assert_non_null(e->s);
	assert_int_equal(tn_memlink_pair("lc-c", "lc-s", TN_DEV_L3, 1500, 1024, &dc, &ds), 0);
	int is = tern_dev_attach(e->s, ds), one = 1, idle = KA_IDLE, intvl = 1, cnt = 3;
	assert_true(is > 0);
	assert_int_equal(tern_addr_add(e->s, is, SRV, 24), 0);
	assert_int_equal(tern_route_add(e->s, 0xc6130000u, 16, 0, is, 0), 0);
	struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons(SRV_PORT)};
	e->lfd = tern_socket(e->s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(e->lfd >= 0);
	assert_int_equal(tern_bind(e->s, e->lfd, (struct sockaddr *)&any, sizeof(any)), 0);
	assert_int_equal(tern_setsockopt(e->s, e->lfd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)), 0);
	assert_int_equal(tern_setsockopt(e->s, e->lfd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)), 0);
	assert_int_equal(tern_setsockopt(e->s, e->lfd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)), 0);
	assert_int_equal(tern_setsockopt(e->s, e->lfd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)), 0);
	assert_int_equal(tern_listen(e->s, e->lfd, 4096), 0);
	assert_int_equal(lc_init(&e->lc, dc, e->conn, NCONN, SRV, SRV_PORT, CLI0), 0);
	e->lc.ports = PORTS;
	for (int i = 0; i < NCONN; i++)
		e->sfd[i] = -1;
}

static void teardown_env(struct env *e)
{
	lc_destroy(&e->lc);
	tern_stack_free(e->s);
}

/* Every connection accepted once, under the client's own 4-tuple. */
static void accept_all(struct env *e)
{
	struct sockaddr_in peer;
	socklen_t pl = sizeof(peer);
	int a;
	while ((a = tern_accept(e->s, e->lfd, (struct sockaddr *)&peer, &pl)) >= 0) {
		long i = lc_index(&e->lc, ntohl(peer.sin_addr.s_addr), ntohs(peer.sin_port));
		assert_true(i >= 0);
		assert_int_equal(e->sfd[i], -1);
		e->sfd[i] = a;
		e->accepted++;
		pl = sizeof(peer);
	}
}

static void open_all(struct env *e)
{
	for (long i = 0; i < NCONN; i += 500) {
		for (long j = i; j < i + 500; j++)
			lc_connect(&e->lc, j);
		for (int k = 0; k < 100 && e->accepted < i + 500; k++)
			rnd(e), accept_all(e);
	}
	quiet(e);
	assert_int_equal(e->accepted, NCONN);
	assert_int_equal(tern_stat(e->s, "TcpCurrEstab"), NCONN);
	for (long i = 0; i < NCONN; i++)
		assert_true(lc_open(&e->lc, i));
	assert_int_equal(e->lc.st.established, NCONN);
}

/* The server application echoes what it reads on connection i; `flip`
 * corrupts the echo (to see the client catch it). */
static void echo_once(struct env *e, long i, uint8_t flip)
{
	uint8_t buf[16];
	ssize_t got = -1;
	for (int k = 0; k < 50 && got < 0; k++) {
		rnd(e);
		got = tern_recv(e->s, e->sfd[i], buf, sizeof(buf), 0);
	}
	assert_true(got > 0);
	buf[0] ^= flip;
	assert_int_equal(tern_send(e->s, e->sfd[i], buf, (size_t)got, 0), got);
	quiet(e);
}

/* In batches of 500, so that the server's FINs fit its device queue. */
static void close_all(struct env *e)
{
	for (long i = 0; i < NCONN; i += 500) {
		for (long j = i; j < i + 500; j++)
			lc_close(&e->lc, j);
		quiet(e);
		for (long j = i; j < i + 500; j++) {
			uint8_t b;
			assert_int_equal(tern_recv(e->s, e->sfd[j], &b, 1, 0), 0); /* EOF */
			tern_close(e->s, e->sfd[j]);
		}
		quiet(e);
	}
	for (long i = 0; i < NCONN; i++)
		assert_true(lc_closed(&e->lc, i));
	assert_int_equal(e->s->tcp.count, 0); /* LAST-ACK ended on the client's ACK */
	assert_int_equal(tern_pool_in_use(e->s), 0);
}

static void test_open_request_keepalive_close(void **state)
{
	(void)state;
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	setup_env(e);
	open_all(e);
	/* Four addresses: the server's table holds peers beyond one address. */
	assert_int_equal(lc_addr(&e->lc, NCONN - 1), CLI0 + 3);

	/* Requests of 1 to 3 bytes on every 13th connection, echoed. */
	uint64_t sent = 0;
	for (long i = 0; i < NCONN; i += 13) {
		uint32_t len = 1 + (uint32_t)(i % 3);
		assert_true(lc_send(&e->lc, i, len));
		sent += len;
		echo_once(e, i, 0);
		assert_true(lc_echoed(&e->lc, i));
	}
	assert_int_equal(e->lc.st.data_in, sent);

	/* Keepalive: two idle periods draw two probes per connection, all
	 * answered, none aborted. */
	int64_t ka0 = tern_stat(e->s, "TcpExtTCPKeepAlive");
	for (uint64_t end = e->now + 2ull * KA_IDLE * 1000000000ull + 500000000ull; e->now < end;)
		rnd(e);
	int64_t probes = tern_stat(e->s, "TcpExtTCPKeepAlive") - ka0;
	assert_int_equal(probes, 2 * NCONN);
	assert_int_equal(e->lc.st.keepalive_probes, (uint64_t)probes);
	assert_int_equal(tern_stat(e->s, "TcpExtTCPAbortOnTimeout"), 0);
	assert_int_equal(tern_stat(e->s, "TcpCurrEstab"), NCONN);

	close_all(e);
	assert_int_equal(lc_faults(&e->lc), 0);
	assert_int_equal(tern_stat(e->s, "TcpInCsumErrors"), 0);
	teardown_env(e);
	free(e);
}

static void test_client_catches_bad_echo_and_reset(void **state)
{
	(void)state;
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	setup_env(e);
	open_all(e);
	assert_true(lc_send(&e->lc, 5, 1));
	echo_once(e, 5, 0x40); /* the wrong byte comes back */
	assert_int_equal(e->lc.st.bad_data, 1);
	assert_false(lc_echoed(&e->lc, 5));

	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	assert_int_equal(tern_setsockopt(e->s, e->sfd[9], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	tern_close(e->s, e->sfd[9]); /* an abortive close: RST */
	quiet(e);
	assert_int_equal(e->lc.st.rst_in, 1);
	assert_int_equal(lc_faults(&e->lc), 2);
	teardown_env(e);
	free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_request_keepalive_close),
		cmocka_unit_test(test_client_catches_bad_echo_and_reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
