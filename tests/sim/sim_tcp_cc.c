/* Congestion control and loss recovery on a bottleneck: two stacks on a
 * memlink whose forward direction is rate-limited with a shallow queue and
 * whose ACK path carries the delay.  Each algorithm must fill the pipe
 * when nothing is lost, repair a burst loss without a timeout, and keep
 * every byte intact. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <netinet/tcp.h>

#include "sim.h"
#include "tcp/tcp_cc.h"
#include "tcp/tcp_int.h"
#include "testutil.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define RATE 50000000ull       /* bottleneck: 50 Mbit/s */
#define ACK_DELAY (20 * MS)    /* RTT 20 ms plus queueing */
#define QUEUE 40               /* packets: under half the 86-packet BDP */
/* What the application can get through: 1448 payload bytes (timestamps
 * on) in each 1514-byte frame. */
#define PAYLOAD_RATE (RATE * 1448 / 1514)

enum { SND, RCV };

struct path {
	struct sim sim;
	struct tn_dev *bottleneck;
};

static void path_init(struct path *p, const char *cc, uint64_t seed, double loss, uint32_t burst_at,
		      uint32_t burst_len)
{
	struct tn_fault_cfg fwd = {.rate_bps = RATE, .limit = QUEUE, .loss = loss, .burst_at = burst_at,
				   .burst_len = burst_len, .seed = seed};
	struct tn_fault_cfg back = {.delay_ns = ACK_DELAY, .seed = seed + 1};
	sim_init(&p->sim, seed);
	sim_add(&p->sim, "snd");
	sim_add(&p->sim, "rcv");
	int ia, ib;
	assert_int_equal(sim_link(&p->sim, SND, RCV, 1500, &fwd, &back, &ia, &ib, &p->bottleneck), 0);
	sim_addr(&p->sim, SND, ia, "198.18.5.1/24");
	sim_addr(&p->sim, RCV, ib, "198.18.5.2/24");
	assert_int_equal(tern_sysctl_set(p->sim.st[SND], "net.ipv4.tcp_congestion_control", cc), 0);
	/* a receive window well above the BDP, so the sender's window governs */
	tern_sysctl_set(p->sim.st[RCV], "net.ipv4.tcp_rmem", "4096 1048576 6291456");
	sim_run_until(&p->sim, p->sim.now + SEC);
	sim_mark_baseline(&p->sim);
}

static uint8_t byte_at(uint64_t i) { return (uint8_t)((i * 2654435761u) >> 11) ^ (uint8_t)(i / 65521); }

struct result {
	double goodput_bps;     /* over the whole transfer, handshake included */
	double steady_bps;      /* over the second half */
	int64_t timeouts, retrans, recoveries;
	char cc[16];
};

/* Send `bytes` one way, checking each one; report rates and counters. */
static void transfer(struct path *p, uint64_t bytes, struct result *r)
{
	struct tn_stack *ss = p->sim.st[SND], *rs = p->sim.st[RCV];
	int l = tern_socket(rs, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(5201)};
	assert_int_equal(tern_bind(rs, l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(tern_listen(rs, l, 4), 0);
	int fd = tern_socket(ss, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	a.sin_addr.s_addr = htonl(t_ip("198.18.5.2"));
	tern_connect(ss, fd, (struct sockaddr *)&a, sizeof(a));
	int rfd = -1;
	uint64_t start = p->sim.now;
	for (int i = 0; i < 5000 && rfd < 0; i++) {
		sim_run_until(&p->sim, p->sim.now + MS);
		rfd = tern_accept(rs, l, NULL, NULL);
	}
	assert_true(rfd >= 0);
	static uint8_t buf[65536];
	uint64_t sent = 0, got = 0, half_at = 0, deadline = p->sim.now + 120 * SEC;
	while (got < bytes && p->sim.now < deadline) {
		while (sent < bytes) {
			size_t n = bytes - sent < sizeof(buf) ? (size_t)(bytes - sent) : sizeof(buf);
			for (size_t i = 0; i < n; i++)
				buf[i] = byte_at(sent + i);
			ssize_t k = tern_send(ss, fd, buf, n, 0);
			if (k <= 0)
				break;
			sent += (uint64_t)k;
		}
		ssize_t k;
		while ((k = tern_recv(rs, rfd, buf, sizeof(buf), 0)) > 0) {
			for (ssize_t i = 0; i < k; i++)
				if (buf[i] != byte_at(got + (uint64_t)i))
					fail_msg("byte %llu differs", (unsigned long long)(got + (uint64_t)i));
			got += (uint64_t)k;
			if (!half_at && got >= bytes / 2)
				half_at = p->sim.now;
		}
		sim_run_until(&p->sim, p->sim.now + MS / 2);
	}
	assert_int_equal(got, bytes);
	double secs = (double)(p->sim.now - start) / 1e9;
	r->goodput_bps = (double)bytes * 8 / secs;
	r->steady_bps = (double)(bytes - bytes / 2) * 8 / ((double)(p->sim.now - half_at) / 1e9);
	r->timeouts = tern_stat(ss, "TcpExtTCPTimeouts");
	r->retrans = tern_stat(ss, "TcpRetransSegs");
	r->recoveries = tern_stat(ss, "TcpExtTCPSackRecovery");
	socklen_t len = sizeof(r->cc);
	assert_int_equal(tern_getsockopt(ss, fd, IPPROTO_TCP, TCP_CONGESTION, r->cc, &len), 0);
	tern_close(ss, fd);
	tern_close(rs, rfd);
	tern_close(rs, l);
	sim_run_until(&p->sim, p->sim.now + 130 * SEC);
	assert_int_equal(ss->tcp.count + rs->tcp.count, 0);
	assert_true(sim_no_leak(&p->sim));
}

static void report(const char *what, const struct result *r)
{
	printf("%-6s %-24s goodput %5.1f Mbit/s (%4.1f%% of the 47.8 a 50 Mbit/s wire carries), second half "
	       "%5.1f (%4.1f%%), %lld retransmitted, %lld recoveries, %lld timeouts\n",
	       r->cc, what, r->goodput_bps / 1e6, r->goodput_bps / PAYLOAD_RATE * 100, r->steady_bps / 1e6,
	       r->steady_bps / PAYLOAD_RATE * 100, (long long)r->retrans, (long long)r->recoveries, (long long)r->timeouts);
}

/* No random loss: only the queue's own overflow.  90% of the bottleneck
 * over the second half of 20 MB (the start is slow start's). */
static void fills_the_pipe(const char *cc)
{
	struct path p;
	struct result r;
	path_init(&p, cc, 7, 0, 0, 0);
	transfer(&p, 20u << 20, &r);
	report("no loss, 40-packet queue", &r);
	assert_string_equal(r.cc, cc);
	assert_true(r.steady_bps >= 0.90 * PAYLOAD_RATE);
	sim_free(&p.sim);
}

static void test_reno_fills_the_pipe(void **state) { (void)state, fills_the_pipe("reno"); }
static void test_cubic_fills_the_pipe(void **state) { (void)state, fills_the_pipe("cubic"); }
static void test_bbr_fills_the_pipe(void **state) { (void)state, fills_the_pipe("bbr"); }

/* Ten packets in a row lost in mid-transfer: SACK recovery repairs them
 * within the window, with no retransmission timeout. */
static void burst_without_rto(const char *cc)
{
	struct path p;
	struct result r;
	path_init(&p, cc, 9, 0, 2000, 10);
	transfer(&p, 8u << 20, &r);
	report("10-packet burst lost", &r);
	assert_int_equal(r.timeouts, 0);
	assert_true(r.retrans >= 10);
	assert_true(r.recoveries >= 1);
	sim_free(&p.sim);
}

static void test_reno_burst_without_rto(void **state) { (void)state, burst_without_rto("reno"); }
static void test_cubic_burst_without_rto(void **state) { (void)state, burst_without_rto("cubic"); }
static void test_bbr_burst_without_rto(void **state) { (void)state, burst_without_rto("bbr"); }

/* 1% random loss: every byte arrives.  Loss-based algorithms do no worse
 * than the Mathis et al. bound for Reno without SACK, 1.22 MSS / (RTT
 * sqrt(p)) = 7.1 Mbit/s here; BBR, which does not take random loss for
 * congestion, keeps most of the bottleneck. */
static void test_random_loss_all_algorithms(void **state)
{
	(void)state;
	static const char *const ccs[] = {"reno", "cubic", "bbr"};
	double mathis = 1.22 * 1448 * 8 / (0.020 * 0.1);
	for (int i = 0; i < 3; i++) {
		struct path p;
		struct result r;
		path_init(&p, ccs[i], 11, 0.01, 0, 0);
		transfer(&p, 4u << 20, &r);
		report("1% random loss", &r);
		assert_true(r.goodput_bps >= (i == 2 ? 0.5 * PAYLOAD_RATE : mathis));
		sim_free(&p.sim);
	}
}

/* BBR's model on the bottleneck: STARTUP, (DRAIN,) then PROBE_BW; a
 * bandwidth estimate within 10% of what the wire carries; a min RTT at
 * the path's 20 ms; and PROBE_RTT once that estimate is 10 s old. */
struct bbr_watch {
	int modes_seen;      /* bit per mode */
	int order[8], norder;
	uint64_t max_bw, min_rtt;
};

static void watch_bbr(void *ctx, const struct tn_stack *s, const struct tn_tcb *t)
{
	struct bbr_watch *w = ctx;
	if (!t->cc || strcmp(t->cc->name, "bbr") != 0)
		return;
	int m = tn_bbr_mode(t);
	if (!(w->modes_seen & (1 << m)) && w->norder < 8)
		w->order[w->norder++] = m;
	w->modes_seen |= 1 << m;
	w->max_bw = tn_bbr_max_bw(t);
	w->min_rtt = tn_bbr_min_rtt(t);
	(void)s;
}

static void test_bbr_model_and_modes(void **state)
{
	(void)state;
	struct path p;
	struct result r;
	struct bbr_watch w = {0};
	path_init(&p, "bbr", 13, 0, 0, 0);
	p.sim.st[SND]->tcp_trace = watch_bbr;
	p.sim.st[SND]->tcp_trace_ctx = &w;
	transfer(&p, 75u << 20, &r); /* about 13 s at the bottleneck */
	report("13 s, modes watched", &r);
	printf("bbr model: max bw %.1f Mbit/s, min rtt %.1f ms, modes in order:", (double)w.max_bw * 8 / 1e6,
	       (double)w.min_rtt / 1e6);
	for (int i = 0; i < w.norder; i++)
		printf(" %d", w.order[i]);
	printf("\n");
	/* DRAIN may begin and end within one ACK (the queue STARTUP built is
	 * gone already when the losses it caused drain it), so it may not
	 * be seen between ACKs */
	int k = 0;
	assert_int_equal(w.order[k++], 0); /* STARTUP */
	if (w.order[k] == 1)
		k++;                           /* DRAIN */
	assert_true(w.norder >= k + 2);
	assert_int_equal(w.order[k++], 2); /* PROBE_BW */
	assert_int_equal(w.order[k], 3);   /* PROBE_RTT, after 10 s */
	double bw_bits = (double)w.max_bw * 8;
	assert_true(bw_bits >= 0.9 * PAYLOAD_RATE && bw_bits <= 1.1 * PAYLOAD_RATE);
	assert_true(w.min_rtt >= ACK_DELAY && w.min_rtt < ACK_DELAY + 5 * MS);
	sim_free(&p.sim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reno_fills_the_pipe),
		cmocka_unit_test(test_cubic_fills_the_pipe),
		cmocka_unit_test(test_bbr_fills_the_pipe),
		cmocka_unit_test(test_reno_burst_without_rto),
		cmocka_unit_test(test_cubic_burst_without_rto),
		cmocka_unit_test(test_bbr_burst_without_rto),
		cmocka_unit_test(test_random_loss_all_algorithms),
		cmocka_unit_test(test_bbr_model_and_modes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
