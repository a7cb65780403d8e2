/* TCP Fast Open between two tern stacks on a memlink with a 50 ms round
 * trip, on a virtual clock: a request-response client opens two
 * connections with sendto(MSG_FASTOPEN).  The first asks for a cookie and
 * pays the full handshake; the second carries its request in the SYN, the
 * server reads and answers it before the final ACK, and the answer is in
 * one round trip sooner. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>

#include "sim.h"
#include "tcp/tcp.h"
#include "testutil.h"

enum { C, S };
#define MS 1000000ull
#define SEC 1000000000ull
#define RTT (50 * MS)

static const char request[] = "GET /index.html HTTP/1.0\r\n\r\n";
static const char response[] = "HTTP/1.0 200 OK\r\n\r\nhello, fast open";

struct rr {
	struct sim *sim;
	int lfd, sfd;        /* server: listener, current connection */
	size_t got_req, sent_resp;
	int cfd;             /* client */
	char resp[128];
	size_t got_resp;
	bool sent_req;
};

/* One step of both applications; true when the client has the whole answer. */
static bool step(void *ctx)
{
	struct rr *r = ctx;
	struct tn_stack *ss = r->sim->st[S], *cs = r->sim->st[C];
	if (r->sfd < 0)
		r->sfd = tern_accept(ss, r->lfd, NULL, NULL);
	if (r->sfd >= 0) {
		char buf[256];
		ssize_t n = tern_recv(ss, r->sfd, buf, sizeof(buf), 0);
		if (n > 0)
			r->got_req += (size_t)n;
		if (r->got_req == sizeof(request) - 1 && r->sent_resp == 0) {
			assert_int_equal(tern_send(ss, r->sfd, response, sizeof(response) - 1, 0), sizeof(response) - 1);
			r->sent_resp = sizeof(response) - 1;
		}
	}
	if (!r->sent_req && (tern_sock_events(cs, r->cfd) & POLLOUT)) {
		assert_int_equal(tern_send(cs, r->cfd, request, sizeof(request) - 1, 0), sizeof(request) - 1);
		r->sent_req = true;
	}
	ssize_t n = tern_recv(cs, r->cfd, r->resp + r->got_resp, sizeof(r->resp) - r->got_resp, 0);
	if (n > 0)
		r->got_resp += (size_t)n;
	return r->got_resp == sizeof(response) - 1;
}

/* One request over a new connection opened by sendto(MSG_FASTOPEN);
 * returns the virtual time from the sendto to the whole answer. */
static uint64_t one_request(struct sim *sim, int lfd, bool *in_syn)
{
	struct rr r = {.sim = sim, .lfd = lfd, .sfd = -1};
	struct tn_stack *cs = sim->st[C];
	r.cfd = tern_socket(cs, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(80),
				.sin_addr.s_addr = htonl(t_ip("198.18.1.2"))};
	uint64_t t0 = sim->now;
	ssize_t n = tern_sendto(cs, r.cfd, request, sizeof(request) - 1, MSG_FASTOPEN, (struct sockaddr *)&a,
				sizeof(a));
	*in_syn = n == (ssize_t)sizeof(request) - 1;
	if (*in_syn)
		r.sent_req = true;
	else
		assert_true(n == -1 && errno == EINPROGRESS); /* no cookie: the request follows the handshake */
	assert_true(sim_run_while_not(sim, step, &r, sim->now + 5 * SEC));
	uint64_t took = sim->now - t0;
	assert_memory_equal(r.resp, response, sizeof(response) - 1);
	assert_int_equal(r.got_req, sizeof(request) - 1); /* the request arrived once */
	tern_close(cs, r.cfd);
	tern_close(sim->st[S], r.sfd);
	sim_run_until(sim, sim->now + 1 * SEC);
	return took;
}

static void test_second_request_one_rtt_sooner(void **state)
{
	(void)state;
	struct sim sim;
	struct tn_fault_cfg imp = {.delay_ns = RTT / 2};
	sim_pair(&sim, 7, &imp, "198.18.1.1/24", "198.18.1.2/24");
	struct tn_stack *cs = sim.st[C], *ss = sim.st[S];
	assert_int_equal(tern_sysctl_set(ss, "net.ipv4.tcp_fastopen", "3"), 0);
	int lfd = tern_socket(ss, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(80)};
	assert_int_equal(tern_bind(ss, lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(tern_listen(ss, lfd, 16), 0);
	int qlen = 16;
	/* a datagram first, so neighbour resolution is not in the times */
	int u = tern_socket(cs, AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(t_ip("198.18.1.2"))};
	assert_int_equal(tern_sendto(cs, u, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)), 1);
	tern_close(cs, u);
	sim_run_until(&sim, sim.now + 1 * SEC);
	assert_int_equal(tern_setsockopt(ss, lfd, IPPROTO_TCP, TCP_FASTOPEN, &qlen, sizeof(qlen)), 0);

	bool in_syn;
	uint64_t first = one_request(&sim, lfd, &in_syn);
	assert_false(in_syn);
	assert_int_equal(tern_stat(ss, "TcpExtTCPFastOpenCookieReqd"), 1);
	assert_int_equal(tern_stat(ss, "TcpExtTCPFastOpenPassive"), 0);
	uint64_t second = one_request(&sim, lfd, &in_syn);
	assert_true(in_syn);
	assert_int_equal(tern_stat(cs, "TcpExtTCPFastOpenActive"), 1);
	assert_int_equal(tern_stat(cs, "TcpExtTCPFastOpenActiveFail"), 0);
	assert_int_equal(tern_stat(ss, "TcpExtTCPFastOpenPassive"), 1);
	assert_int_equal(tern_stat(ss, "TcpExtTCPFastOpenPassiveFail"), 0);
	assert_int_equal(tern_stat(ss, "TcpPassiveOpens"), 2);
	printf("request-response: %.1f ms with a cookie request, %.1f ms with the request in the SYN (RTT %.0f ms)\n",
	       (double)first / 1e6, (double)second / 1e6, (double)RTT / 1e6);
	/* two round trips, then one */
	assert_true(first >= 2 * RTT && first < 2 * RTT + 10 * MS);
	assert_true(second >= RTT && second < RTT + 10 * MS);
	tern_close(ss, lfd);
	sim_run_until(&sim, sim.now + 120 * SEC); /* TIME-WAIT ends */
	assert_int_equal(cs->tcp.count + ss->tcp.count, 0);
	assert_true(sim_no_leak(&sim));
	sim_free(&sim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_second_request_one_rtt_sooner),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
