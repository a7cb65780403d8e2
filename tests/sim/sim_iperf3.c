/* tern's iperf3 server against a scripted iperf3 client on a second tern
 * stack, on a virtual clock: the control protocol step by step in both
 * directions, byte counts that agree across a lossy link, parallel
 * streams, a busy server, a wrong cookie, UDP refused, hostile control
 * input, a client that never ends its test, and no leaks after any. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "app/iperf3.h"
#include "sim.h"
#include "testutil.h"

enum { C, S };
#define MS 1000000ull
#define SEC 1000000000ull

static const char COOKIE[TN_IPERF3_COOKIE_LEN] = "simclientsimclientsimclientsimclient";

struct world {
	struct sim sim;
	struct tn_iperf3 *srv;
};

static void run_for(struct world *w, uint64_t ns)
{
	uint64_t end = w->sim.now + ns;
	while (w->sim.now < end) {
		sim_run_until(&w->sim, w->sim.now + 1 * MS);
		tn_iperf3_step(w->srv);
	}
}

static void log_line(void *ctx, const char *line)
{
	(void)ctx;
	if (getenv("TERN_SIM_VERBOSE"))
		fprintf(stderr, "%s\n", line);
}

static void world_init(struct world *w, const struct tn_fault_cfg *imp)
{
	memset(w, 0, sizeof(*w));
	sim_pair(&w->sim, 7, imp, "198.18.13.1/24", "198.18.13.2/24");
	struct tn_iperf3_cfg cfg = {.port = 5201, .log = log_line};
	w->srv = tn_iperf3_new(w->sim.st[S], &cfg);
	assert_non_null(w->srv);
}

static const struct tn_iperf3_stats *stats(struct world *w) { return tn_iperf3_stats(w->srv); }

static void world_free(struct world *w)
{
	tn_iperf3_free(w->srv);
	sim_run_until(&w->sim, w->sim.now + 200 * SEC); /* TIME-WAIT and all */
	assert_true(sim_no_leak(&w->sim));
	sim_free(&w->sim);
}

/* ---- a scripted client on stack C ---- */

static int cli_connect(struct world *w)
{
	struct tn_stack *c = w->sim.st[C];
	int fd = tern_socket(c, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(5201),
				 .sin_addr.s_addr = htonl(t_ip("198.18.13.2"))};
	tern_connect(c, fd, (struct sockaddr *)&sa, sizeof(sa));
	for (int i = 0; i < 5000 && !(tern_sock_events(c, fd) & (POLLOUT | POLLERR)); i++)
		run_for(w, 1 * MS);
	assert_true(tern_sock_events(c, fd) & POLLOUT);
	return fd;
}

static void cli_send(struct world *w, int fd, const void *data, size_t n)
{
	const char *p = data;
	uint64_t end = w->sim.now + 60 * SEC;
	while (n && w->sim.now < end) {
		ssize_t k = tern_send(w->sim.st[C], fd, p, n, 0);
		if (k < 0) {
			assert_int_equal(errno, EAGAIN);
			run_for(w, 1 * MS);
			continue;
		}
		p += k;
		n -= (size_t)k;
	}
	assert_int_equal(n, 0);
}

/* Up to n bytes, waiting at most `limit`; what came (short at EOF). */
static size_t cli_recv(struct world *w, int fd, void *buf, size_t n, uint64_t limit)
{
	size_t got = 0;
	uint64_t end = w->sim.now + limit;
	while (got < n && w->sim.now < end) {
		ssize_t k = tern_recv(w->sim.st[C], fd, (char *)buf + got, n - got, 0);
		if (k == 0 || (k < 0 && errno != EAGAIN))
			break;
		if (k < 0)
			run_for(w, 1 * MS);
		else
			got += (size_t)k;
	}
	return got;
}

#define EOF_STATE 99
static int cli_state(struct world *w, int fd)
{
	int8_t b;
	return cli_recv(w, fd, &b, 1, 20 * SEC) == 1 ? b : EOF_STATE;
}

static void cli_json(struct world *w, int fd, const char *json)
{
	uint32_t be = htonl((uint32_t)strlen(json));
	cli_send(w, fd, &be, 4);
	cli_send(w, fd, json, strlen(json));
}

static void cli_read_results(struct world *w, int fd, struct tn_iperf3_results *r)
{
	uint32_t be;
	assert_int_equal(cli_recv(w, fd, &be, 4, 20 * SEC), 4);
	uint32_t n = ntohl(be);
	assert_true(n > 0 && n < 100000);
	char *json = malloc(n);
	assert_int_equal(cli_recv(w, fd, json, n, 20 * SEC), n);
	assert_int_equal(tn_iperf3_parse_results(json, n, r), 0);
	free(json);
}

/* A control connection past the cookie, asked for its parameters. */
static int cli_control(struct world *w)
{
	int ctl = cli_connect(w);
	cli_send(w, ctl, COOKIE, sizeof(COOKIE));
	assert_int_equal(cli_state(w, ctl), TN_IPERF3_PARAM_EXCHANGE);
	return ctl;
}

/* Cookie, parameters, streams: returns the control connection once the
 * test runs. */
static int cli_start(struct world *w, const char *params, int nstreams, int *streams)
{
	int ctl = cli_control(w);
	cli_json(w, ctl, params);
	assert_int_equal(cli_state(w, ctl), TN_IPERF3_CREATE_STREAMS);
	for (int i = 0; i < nstreams; i++) {
		streams[i] = cli_connect(w);
		cli_send(w, streams[i], COOKIE, sizeof(COOKIE));
	}
	assert_int_equal(cli_state(w, ctl), TN_IPERF3_TEST_START);
	assert_int_equal(cli_state(w, ctl), TN_IPERF3_TEST_RUNNING);
	return ctl;
}

/* TEST_END, our results (bytes per stream, ids 1, 3, 4, ...), theirs, and
 * IPERF_DONE. */
static void cli_finish(struct world *w, int ctl, int nstreams, const uint64_t *bytes, bool we_send,
		       struct tn_iperf3_results *theirs)
{
	int8_t end = TN_IPERF3_TEST_END;
	cli_send(w, ctl, &end, 1);
	assert_int_equal(cli_state(w, ctl), TN_IPERF3_EXCHANGE_RESULTS);
	char json[4096];
	int n = snprintf(json, sizeof(json),
			 "{\"cpu_util_total\":1.5,\"cpu_util_user\":0.5,\"cpu_util_system\":1,"
			 "\"sender_has_retransmits\":%s,\"streams\":[", we_send ? "1" : "18446744073709551615");
	for (int i = 0; i < nstreams; i++)
		n += snprintf(json + n, sizeof(json) - (size_t)n,
			      "%s{\"id\":%d,\"bytes\":%llu,\"retransmits\":%s,\"jitter\":0,\"errors\":0,\"packets\":0,"
			      "\"start_time\":0,\"end_time\":1.5}",
			      i ? "," : "", i == 0 ? 1 : i + 2, (unsigned long long)bytes[i], we_send ? "0" : "-1");
	snprintf(json + n, sizeof(json) - (size_t)n, "]}");
	cli_json(w, ctl, json);
	cli_read_results(w, ctl, theirs);
	assert_int_equal(cli_state(w, ctl), TN_IPERF3_DISPLAY_RESULTS);
	int8_t done = TN_IPERF3_IPERF_DONE;
	cli_send(w, ctl, &done, 1);
}

/* ---- tests ---- */

/* Four streams of the client's data across 1% loss: the server counts each
 * stream exactly as sent, data still in flight at TEST_END included. */
static void test_client_sends_exact_counts_over_loss(void **state)
{
	(void)state;
	struct world w;
	struct tn_fault_cfg loss = {.loss = 0.01, .delay_ns = 2 * MS, .seed = 3};
	world_init(&w, &loss);
	int st[4];
	int ctl = cli_start(&w, "{\"tcp\":true,\"omit\":0,\"time\":0,\"num\":2000000,\"blockcount\":0,\"parallel\":4,"
				"\"len\":131072,\"pacing_timer\":1000,\"client_version\":\"sim\"}", 4, st);
	static char block[100000];
	uint64_t sent[4] = {0};
	for (int round = 0; round < 5; round++)
		for (int i = 0; i < 4; i++) {
			size_t n = sizeof(block) - (size_t)(i * 1000); /* unequal on purpose */
			cli_send(&w, st[i], block, n);
			sent[i] += n;
		}
	struct tn_iperf3_results r;
	cli_finish(&w, ctl, 4, sent, true, &r); /* right away: data is in flight */
	assert_int_equal(r.nstreams, 4);
	assert_int_equal(r.sender_has_retransmits, -1); /* the server only received */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(r.streams[i].id, i == 0 ? 1 : i + 2);
		assert_int_equal(r.streams[i].bytes, sent[i]);
		assert_int_equal(r.streams[i].retransmits, -1);
	}
	run_for(&w, 100 * MS);
	assert_int_equal(stats(&w)->completed, 1);
	assert_int_equal(stats(&w)->bytes_in, sent[0] + sent[1] + sent[2] + sent[3]);
	for (int i = 0; i < 4; i++)
		tern_close(w.sim.st[C], st[i]);
	tern_close(w.sim.st[C], ctl);
	world_free(&w);
}

/* --reverse with -n: the server sends exactly that many bytes in all, and
 * reports them with a retransmission count. */
static void test_reverse_sends_exactly_n(void **state)
{
	(void)state;
	struct world w;
	world_init(&w, NULL);
	int st[2];
	int ctl = cli_start(&w, "{\"tcp\":true,\"omit\":0,\"time\":0,\"num\":300001,\"parallel\":2,\"reverse\":true,"
				"\"len\":32768,\"client_version\":\"sim\"}", 2, st);
	static char buf[400000];
	uint64_t got[2] = {0};
	for (int i = 0; i < 2000 && got[0] + got[1] < 300001; i++) {
		for (int k = 0; k < 2; k++) {
			ssize_t n = tern_recv(w.sim.st[C], st[k], buf, sizeof(buf), 0);
			if (n > 0)
				got[k] += (uint64_t)n;
		}
		run_for(&w, 1 * MS);
	}
	assert_int_equal(got[0] + got[1], 300001);
	run_for(&w, 500 * MS);
	for (int k = 0; k < 2; k++) /* and not a byte more */
		assert_true(tern_recv(w.sim.st[C], st[k], buf, sizeof(buf), 0) < 0 && errno == EAGAIN);
	struct tn_iperf3_results r;
	cli_finish(&w, ctl, 2, got, false, &r);
	assert_int_equal(r.nstreams, 2);
	assert_int_equal(r.sender_has_retransmits, 1);
	assert_int_equal(r.streams[0].bytes + r.streams[1].bytes, 300001);
	for (int k = 0; k < 2; k++) {
		assert_int_equal(r.streams[k].bytes, got[k]);
		assert_true(r.streams[k].retransmits >= 0);
		/* the server closed its sending side at TEST_END */
		assert_int_equal(cli_recv(&w, st[k], buf, 1, 5 * SEC), 0);
		tern_close(w.sim.st[C], st[k]);
	}
	tern_close(w.sim.st[C], ctl);
	run_for(&w, 100 * MS);
	assert_int_equal(stats(&w)->completed, 1);
	assert_int_equal(stats(&w)->bytes_out, 300001);
	world_free(&w);
}

/* --bidir: the first streams carry the client's data, the rest the
 * server's, and --get-server-output brings the server's summary. */
static void test_bidirectional_with_server_output(void **state)
{
	(void)state;
	struct world w;
	struct tn_fault_cfg rate = {.rate_bps = 200000000, .seed = 1};
	world_init(&w, &rate);
	int st[2];
	int ctl = cli_start(&w, "{\"tcp\":true,\"time\":1,\"parallel\":1,\"bidirectional\":true,\"len\":1000,"
				"\"get_server_output\":1}", 2, st);
	static char buf[65536];
	uint64_t got = 0, sent = 0;
	uint64_t end = w.sim.now + 1 * SEC;
	while (w.sim.now < end) {
		ssize_t n = tern_send(w.sim.st[C], st[0], buf, 5000, 0);
		sent += n > 0 ? (uint64_t)n : 0;
		while ((n = tern_recv(w.sim.st[C], st[1], buf, sizeof(buf), 0)) > 0)
			got += (uint64_t)n;
		run_for(&w, 1 * MS);
	}
	assert_true(sent > 0 && got > 0);
	uint64_t counts[2] = {sent, got};
	int8_t endb = TN_IPERF3_TEST_END;
	cli_send(&w, ctl, &endb, 1);
	assert_int_equal(cli_state(&w, ctl), TN_IPERF3_EXCHANGE_RESULTS);
	char json[1024];
	snprintf(json, sizeof(json),
		 "{\"cpu_util_total\":0,\"cpu_util_user\":0,\"cpu_util_system\":0,\"sender_has_retransmits\":1,"
		 "\"streams\":[{\"id\":1,\"bytes\":%llu,\"retransmits\":0,\"jitter\":0,\"errors\":0,\"packets\":0},"
		 "{\"id\":3,\"bytes\":%llu,\"retransmits\":-1,\"jitter\":0,\"errors\":0,\"packets\":0}]}",
		 (unsigned long long)counts[0], (unsigned long long)counts[1]);
	cli_json(&w, ctl, json);
	uint32_t be;
	assert_int_equal(cli_recv(&w, ctl, &be, 4, 20 * SEC), 4);
	uint32_t n = ntohl(be);
	char *res = calloc(1, n + 1);
	assert_int_equal(cli_recv(&w, ctl, res, n, 20 * SEC), n);
	static struct tn_iperf3_results r;
	assert_int_equal(tn_iperf3_parse_results(res, n, &r), 0);
	assert_int_equal(r.nstreams, 2);
	assert_int_equal(r.streams[0].id, 1);
	assert_int_equal(r.streams[0].bytes, sent); /* received by the server, all of it */
	assert_int_equal(r.streams[0].retransmits, -1);
	assert_int_equal(r.streams[1].id, 3);
	assert_true(r.streams[1].bytes >= got);     /* sent by the server */
	assert_true(r.streams[1].end_time > 0.9 && r.streams[1].end_time < 1.2);
	assert_non_null(strstr(res, "\"server_output_text\":\"Accepted connection from 198.18.13.1"));
	assert_non_null(strstr(res, "receiver\\n"));
	assert_non_null(strstr(res, "sender\\n"));
	free(res);
	assert_int_equal(cli_state(&w, ctl), TN_IPERF3_DISPLAY_RESULTS);
	tern_close(w.sim.st[C], ctl); /* closing instead of IPERF_DONE also ends it */
	run_for(&w, 100 * MS);
	assert_int_equal(stats(&w)->completed, 1);
	tern_close(w.sim.st[C], st[0]);
	tern_close(w.sim.st[C], st[1]);
	world_free(&w);
}

/* A second client while a test runs gets ACCESS_DENIED; a data connection
 * with another cookie gets it too; the client's CLIENT_TERMINATE ends the
 * test and the server takes the next one. */
static void test_busy_wrong_cookie_and_terminate(void **state)
{
	(void)state;
	struct world w;
	world_init(&w, NULL);
	int ctl = cli_control(&w);
	int other = cli_connect(&w);
	cli_send(&w, other, COOKIE, sizeof(COOKIE));
	assert_int_equal(cli_state(&w, other), TN_IPERF3_ACCESS_DENIED);
	assert_int_equal(cli_state(&w, other), EOF_STATE);
	cli_json(&w, ctl, "{\"tcp\":true,\"time\":10,\"parallel\":1}");
	assert_int_equal(cli_state(&w, ctl), TN_IPERF3_CREATE_STREAMS);
	int bad = cli_connect(&w);
	cli_send(&w, bad, "not the cookie of this test, no.....", TN_IPERF3_COOKIE_LEN);
	assert_int_equal(cli_state(&w, bad), TN_IPERF3_ACCESS_DENIED);
	int good = cli_connect(&w);
	cli_send(&w, good, COOKIE, sizeof(COOKIE));
	assert_int_equal(cli_state(&w, ctl), TN_IPERF3_TEST_START);
	assert_int_equal(cli_state(&w, ctl), TN_IPERF3_TEST_RUNNING);
	int8_t term = TN_IPERF3_CLIENT_TERMINATE;
	cli_send(&w, ctl, &term, 1);
	assert_int_equal(cli_state(&w, ctl), EOF_STATE);
	assert_int_equal(stats(&w)->busy, 1);
	assert_int_equal(stats(&w)->bad_cookie, 1);
	assert_int_equal(stats(&w)->aborted, 1);
	int c[4] = {ctl, other, bad, good};
	for (int i = 0; i < 4; i++)
		tern_close(w.sim.st[C], c[i]);
	/* free again: a -n test runs */
	int st[1];
	ctl = cli_start(&w, "{\"tcp\":true,\"num\":1000,\"parallel\":1}", 1, st);
	static char block[1000];
	cli_send(&w, st[0], block, sizeof(block));
	uint64_t sent = sizeof(block);
	struct tn_iperf3_results r;
	cli_finish(&w, ctl, 1, &sent, true, &r);
	assert_int_equal(r.streams[0].bytes, 1000);
	tern_close(w.sim.st[C], st[0]);
	tern_close(w.sim.st[C], ctl);
	run_for(&w, 100 * MS);
	assert_int_equal(stats(&w)->completed, 1);
	world_free(&w);
}

/* UDP: SERVER_ERROR, "unable to start stream listener", EPROTONOSUPPORT. */
static void test_udp_refused(void **state)
{
	(void)state;
	struct world w;
	world_init(&w, NULL);
	int ctl = cli_control(&w);
	cli_json(&w, ctl, "{\"udp\":true,\"time\":10,\"parallel\":1,\"len\":1448,\"bandwidth\":1048576}");
	assert_int_equal(cli_state(&w, ctl), TN_IPERF3_SERVER_ERROR);
	uint32_t words[2];
	assert_int_equal(cli_recv(&w, ctl, words, 8, 5 * SEC), 8);
	assert_int_equal(ntohl(words[0]), 202);
	assert_int_equal(ntohl(words[1]), EPROTONOSUPPORT);
	assert_int_equal(cli_state(&w, ctl), EOF_STATE);
	assert_int_equal(stats(&w)->refused_proto, 1);
	tern_close(w.sim.st[C], ctl);
	world_free(&w);
}

/* Each kind of bad control input closes that connection and is counted. */
static void test_hostile_control(void **state)
{
	(void)state;
	struct world w;
	world_init(&w, NULL);
	static const struct {
		const char *what;
		const char *after_cookie;
		size_t len;
	} cases[] = {
		{"length over the limit", "\x7f\xff\xff\xff", 4},
		{"length zero", "\0\0\0\0", 4},
		{"not JSON", "\0\0\0\x05hello", 9},
		{"truncated object", "\0\0\0\x0a{\"tcp\":tru", 14},
		{"parallel out of range", "\0\0\0\x10{\"parallel\":999}", 20},
		{"reverse and bidirectional", "\0\0\0\x25{\"reverse\":true,\"bidirectional\":true}", 41},
		{"negative time", "\0\0\0\x0b{\"time\":-1}", 15},
	};
	uint64_t bad = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ctl = cli_control(&w);
		cli_send(&w, ctl, cases[i].after_cookie, cases[i].len);
		int s = cli_state(&w, ctl);
		if (s == TN_IPERF3_SERVER_ERROR) { /* bad parameters are answered */
			uint32_t words[2];
			assert_int_equal(cli_recv(&w, ctl, words, 8, 5 * SEC), 8);
			assert_int_equal(ntohl(words[0]), 114);
			s = cli_state(&w, ctl);
		}
		assert_int_equal(s, EOF_STATE);
		assert_int_equal(stats(&w)->bad_control, ++bad);
		tern_close(w.sim.st[C], ctl);
	}
	/* a cookie that is not printable, and an unknown state mid-test */
	int ctl = cli_connect(&w);
	cli_send(&w, ctl, "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15"
			  "\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x20\x21\x22\x23\x24\x25", TN_IPERF3_COOKIE_LEN);
	assert_int_equal(cli_state(&w, ctl), EOF_STATE);
	assert_int_equal(stats(&w)->bad_control, ++bad);
	tern_close(w.sim.st[C], ctl);
	int st[1];
	ctl = cli_start(&w, "{\"tcp\":true,\"time\":5,\"parallel\":1}", 1, st);
	int8_t odd = 77;
	cli_send(&w, ctl, &odd, 1);
	assert_int_equal(cli_state(&w, ctl), EOF_STATE);
	assert_int_equal(stats(&w)->bad_control, ++bad);
	tern_close(w.sim.st[C], ctl);
	tern_close(w.sim.st[C], st[0]);
	/* silence after connecting: the server gives up after its deadline */
	ctl = cli_connect(&w);
	assert_int_equal(cli_state(&w, ctl), EOF_STATE);
	assert_int_equal(stats(&w)->timeouts, 1);
	tern_close(w.sim.st[C], ctl);
	world_free(&w);
}

/* A timed test whose client never sends TEST_END: SERVER_TERMINATE after
 * time + 10 s, and the server is free again. */
static void test_missing_test_end_times_out(void **state)
{
	(void)state;
	struct world w;
	world_init(&w, NULL);
	int st[1];
	int ctl = cli_start(&w, "{\"tcp\":true,\"time\":2,\"parallel\":1}", 1, st);
	uint64_t t0 = w.sim.now;
	assert_int_equal(cli_state(&w, ctl), TN_IPERF3_SERVER_TERMINATE);
	assert_true(w.sim.now - t0 >= 12 * SEC && w.sim.now - t0 < 13 * SEC);
	assert_int_equal(cli_state(&w, ctl), EOF_STATE);
	assert_int_equal(stats(&w)->timeouts, 1);
	assert_int_equal(stats(&w)->aborted, 1);
	tern_close(w.sim.st[C], ctl);
	tern_close(w.sim.st[C], st[0]);
	world_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_sends_exact_counts_over_loss),
		cmocka_unit_test(test_reverse_sends_exactly_n),
		cmocka_unit_test(test_bidirectional_with_server_output),
		cmocka_unit_test(test_busy_wrong_cookie_and_terminate),
		cmocka_unit_test(test_udp_refused),
		cmocka_unit_test(test_hostile_control),
		cmocka_unit_test(test_missing_test_end_times_out),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
