/* Traffic control under TCP on a virtual clock.  Four stacks on memlinks,
 * senders A and C, a router R, a receiver B (A - R - B, C - R); R's device
 * towards B is the bottleneck, shaped by qdiscs that tern_tc_batch
 * configures from the same tc lines one would give Linux.  The replies
 * (ACKs, echoes) are delayed 10 ms on B's link, which sets the base RTT,
 * and 40 ms more on R's link to C; nothing else is impaired.
 *
 * - htb: a 10 Mbit/s tree with leaves of 5, 3 and 2 Mbit/s (ceil 10), u32
 *   filters on the destination port (the 2 Mbit/s class is the default).
 *   Bulk TCP flows come and go in phases: a class alone borrows up to its
 *   ceil, an owner that returns gets its rate back, three busy classes get
 *   their rates, and what an idle class leaves is shared by quantum.
 * - fq_codel as the leaf of a 10 Mbit/s htb (as a shaping router runs it):
 *   a sparse UDP request/response flow keeps its RTT near the base while a
 *   bulk flow fills the link, the bulk flow's own queueing delay stays near
 *   CoDel's 5 ms target, and four bulk flows share the link fairly (Jain's
 *   index, two flows from A and two from C, RTTs 10 and 50 ms).  The same
 *   with a 1000-packet pfifo leaf shows the bufferbloat fq_codel removes.
 *
 * Every byte of every TCP flow is checked on arrival.  On the shaping
 * router, as one would on Linux for low rates, the senders do not hand R
 * 64 KiB segments (TSO off on A and C) and R does not merge them again (GRO
 * off), so R's qdisc sees wire-sized packets. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <netinet/tcp.h>

#include "sim.h"
#include "testutil.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define STEP MS                     /* the applications run every ms */
#define BASE_DELAY (10 * MS)        /* on B's link: the RTT floor */
#define C_DELAY (40 * MS)           /* more on the way back to C */
#define LINK_BPS 10000000.0         /* the shaped rate, bits/s of frames */
/* What TCP's payload gets of a rate: 1448 bytes (timestamps) per 1514-byte
 * frame, which is what htb counts, as Linux's (Ethernet header included). */
#define PAYLOAD_FRAC (1448.0 / 1514.0)
#define BOTTLENECK "s1-2"           /* sim_link's name for R's device to B */
#define MAX_FLOWS 4
#define MAX_PROBES 4096

enum { A, R, B, C };

struct flow {
	int host;                   /* A or C */
	uint16_t port;
	int lfd, cfd, sfd;          /* B's listener, A's client, B's accepted */
	bool on;                    /* the application writes */
	uint64_t sent, got;
	uint64_t got_mark;          /* got at the start of the window */
	double srtt_sum;            /* TCP_INFO srtt samples in the window, us */
	int srtt_n;
};

struct run {
	struct sim sim;
	struct flow f[MAX_FLOWS];
	int nflows;
	/* the sparse flow: 64-byte UDP requests A -> B every probe_gap, B
	 * echoes; RTTs of replies to requests sent inside the window */
	int ua, ub;
	uint64_t probe_gap, next_probe;
	uint32_t probe_seq;
	uint64_t probe_sent_at[MAX_PROBES];
	bool probe_in_window[MAX_PROBES];
	double rtt_ms[MAX_PROBES];
	int nrtt;
	bool window;                /* measuring */
	uint64_t window_start, next_srtt;
};

static uint8_t byte_at(uint16_t port, uint64_t i)
{
	return (uint8_t)(((i * 2654435761u) >> 11) ^ (i / 65521) ^ port);
}

static void run_init(struct run *r, uint64_t seed, const char *tc)
{
	memset(r, 0, sizeof(*r));
	struct tn_fault_cfg back = {.delay_ns = BASE_DELAY, .seed = seed};
	sim_init(&r->sim, seed);
	sim_add(&r->sim, "A");
	sim_add(&r->sim, "R");
	sim_add(&r->sim, "B");
	sim_add(&r->sim, "C");
	struct tn_fault_cfg to_c = {.delay_ns = C_DELAY, .seed = seed + 1};
	int a0, r0, r1, b0, c0, r2;
	assert_int_equal(sim_link(&r->sim, A, R, 1500, NULL, NULL, &a0, &r0, NULL), 0);
	assert_int_equal(sim_link(&r->sim, R, B, 1500, NULL, &back, &r1, &b0, NULL), 0);
	assert_int_equal(sim_link(&r->sim, C, R, 1500, NULL, &to_c, &c0, &r2, NULL), 0);
	sim_addr(&r->sim, A, a0, "198.18.6.2/24");
	sim_addr(&r->sim, R, r0, "198.18.6.1/24");
	sim_addr(&r->sim, R, r1, "198.18.7.1/24");
	sim_addr(&r->sim, B, b0, "198.18.7.2/24");
	sim_addr(&r->sim, R, r2, "198.18.8.1/24");
	sim_addr(&r->sim, C, c0, "198.18.8.2/24");
	sim_gw(&r->sim, A, "198.18.6.1");
	sim_gw(&r->sim, B, "198.18.7.1");
	sim_gw(&r->sim, C, "198.18.8.1");
	struct tn_stack *rs = r->sim.st[R];
	assert_int_equal(tern_sysctl_set(rs, "net.ipv4.ip_forward", "1"), 0);
	assert_int_equal(tern_dev_index(rs, BOTTLENECK), r1);
	assert_int_equal(tern_dev_offload(r->sim.st[A], a0, "tso", 0), 0);
	assert_int_equal(tern_dev_offload(r->sim.st[C], c0, "tso", 0), 0);
	assert_int_equal(tern_dev_offload(rs, r0, "gro", 0), 0);
	assert_int_equal(tern_dev_offload(rs, r2, "gro", 0), 0);
	char out[4096];
	int line = tern_tc_batch(rs, tc, out, sizeof(out));
	if (line)
		fail_msg("tc line %d: %s", line, out);
	/* B's receive window never the limit */
	tern_sysctl_set(r->sim.st[B], "net.ipv4.tcp_rmem", "4096 1048576 6291456");
	sim_run_until(&r->sim, r->sim.now + SEC);
	sim_mark_baseline(&r->sim);
}

static void tc_show(struct run *r)
{
	char *argv[] = {"-s", "class", "show", "dev", BOTTLENECK};
	static char out[16384];
	assert_int_equal(tern_tc(r->sim.st[R], 5, argv, out, sizeof(out)), 0);
	printf("%s", out);
	char *qargv[] = {"-s", "qdisc", "show", "dev", BOTTLENECK};
	assert_int_equal(tern_tc(r->sim.st[R], 5, qargv, out, sizeof(out)), 0);
	printf("%s", out);
}

/* A connected TCP flow from host (A or C) to B:port, not yet writing. */
static struct flow *flow_open(struct run *r, int host, uint16_t port)
{
	struct tn_stack *as = r->sim.st[host], *bs = r->sim.st[B];
	struct flow *f = &r->f[r->nflows++];
	f->host = host;
	f->port = port;
	f->lfd = tern_socket(bs, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	assert_int_equal(tern_bind(bs, f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(tern_listen(bs, f->lfd, 4), 0);
	f->cfd = tern_socket(as, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	sa.sin_addr.s_addr = htonl(t_ip("198.18.7.2"));
	tern_connect(as, f->cfd, (struct sockaddr *)&sa, sizeof(sa));
	f->sfd = -1;
	for (int i = 0; i < 2000 && f->sfd < 0; i++) {
		sim_run_until(&r->sim, r->sim.now + MS);
		f->sfd = tern_accept(bs, f->lfd, NULL, NULL);
	}
	assert_true(f->sfd >= 0);
	return f;
}

static void probe_open(struct run *r, uint64_t gap)
{
	struct tn_stack *as = r->sim.st[A], *bs = r->sim.st[B];
	r->ua = tern_socket(as, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	r->ub = tern_socket(bs, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(7)};
	assert_int_equal(tern_bind(bs, r->ub, (struct sockaddr *)&sa, sizeof(sa)), 0);
	sa.sin_addr.s_addr = htonl(t_ip("198.18.7.2"));
	assert_int_equal(tern_connect(as, r->ua, (struct sockaddr *)&sa, sizeof(sa)), 0);
	r->probe_gap = gap;
	r->next_probe = r->sim.now;
}

static void pump(struct run *r)
{
	struct tn_stack *bs = r->sim.st[B];
	static uint8_t buf[65536];
	for (int k = 0; k < r->nflows; k++) {
		struct flow *f = &r->f[k];
		struct tn_stack *as = r->sim.st[f->host];
		/* fill only what a writable socket will take soon */
		while (f->on && (tern_sock_events(as, f->cfd) & POLLOUT)) {
			size_t len = 16384;
			for (size_t i = 0; i < len; i++)
				buf[i] = byte_at(f->port, f->sent + i);
			ssize_t n = tern_send(as, f->cfd, buf, len, 0);
			if (n <= 0) {
				assert_true(n < 0 && errno == EAGAIN);
				break;
			}
			f->sent += (uint64_t)n;
		}
		ssize_t n;
		while ((n = tern_recv(bs, f->sfd, buf, sizeof(buf), 0)) > 0) {
			for (ssize_t i = 0; i < n; i++)
				if (buf[i] != byte_at(f->port, f->got + (uint64_t)i))
					fail_msg("port %u: byte %llu differs", f->port,
						 (unsigned long long)(f->got + (uint64_t)i));
			f->got += (uint64_t)n;
		}
		if (r->window && r->sim.now >= r->next_srtt && f->on) {
			struct tern_tcp_info ti;
			socklen_t len = sizeof(ti);
			assert_int_equal(tern_getsockopt(as, f->cfd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
			f->srtt_sum += ti.tcpi_rtt;
			f->srtt_n++;
		}
	}
	if (r->window && r->sim.now >= r->next_srtt)
		r->next_srtt = r->sim.now + 100 * MS;
	struct tn_stack *as = r->sim.st[A];
	if (r->probe_gap && r->sim.now >= r->next_probe && r->probe_seq < MAX_PROBES) {
		uint8_t req[64] = {0};
		memcpy(req, &r->probe_seq, sizeof(r->probe_seq));
		assert_int_equal(tern_send(as, r->ua, req, sizeof(req), 0), (ssize_t)sizeof(req));
		r->probe_sent_at[r->probe_seq] = r->sim.now;
		r->probe_in_window[r->probe_seq] = r->window;
		r->probe_seq++;
		r->next_probe += r->probe_gap;
	}
}

/* Echo at B and time replies at A, at the instant they arrive. */
static void probe_service(struct run *r)
{
	if (!r->probe_gap)
		return;
	struct tn_stack *as = r->sim.st[A], *bs = r->sim.st[B];
	uint8_t buf[128];
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	ssize_t n;
	while ((n = tern_recvfrom(bs, r->ub, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl)) > 0) {
		assert_int_equal(tern_sendto(bs, r->ub, buf, (size_t)n, 0, (struct sockaddr *)&from, fl), n);
		fl = sizeof(from);
	}
	while ((n = tern_recv(as, r->ua, buf, sizeof(buf), 0)) > 0) {
		assert_int_equal(n, 64);
		uint32_t seq;
		memcpy(&seq, buf, sizeof(seq));
		assert_true(seq < r->probe_seq);
		if (r->probe_in_window[seq])
			r->rtt_ms[r->nrtt++] = (double)(r->sim.now - r->probe_sent_at[seq]) / 1e6;
	}
}

static bool probe_ready(void *ctx)
{
	struct run *r = ctx;
	return r->probe_gap && ((tern_sock_events(r->sim.st[B], r->ub) & POLLIN) ||
				(tern_sock_events(r->sim.st[A], r->ua) & POLLIN));
}

static void run_for(struct run *r, uint64_t ns)
{
	uint64_t until = r->sim.now + ns;
	while (r->sim.now < until) {
		pump(r);
		uint64_t t = r->sim.now + STEP < until ? r->sim.now + STEP : until;
		if (r->probe_gap && r->next_probe < t && r->next_probe > r->sim.now)
			t = r->next_probe;
		sim_run_while_not(&r->sim, probe_ready, r, t);
		probe_service(r);
	}
}

static void window_start(struct run *r)
{
	r->window = true;
	r->window_start = r->sim.now;
	r->next_srtt = r->sim.now;
	for (int k = 0; k < r->nflows; k++) {
		r->f[k].got_mark = r->f[k].got;
		r->f[k].srtt_sum = 0;
		r->f[k].srtt_n = 0;
	}
	r->nrtt = 0;
}

/* Goodput of flow k over the window so far, Mbit/s. */
static double window_mbps(const struct run *r, int k)
{
	return (double)(r->f[k].got - r->f[k].got_mark) * 8 / ((double)(r->sim.now - r->window_start) / 1e9) / 1e6;
}

static double srtt_ms(const struct run *r, int k)
{
	return r->f[k].srtt_n ? r->f[k].srtt_sum / r->f[k].srtt_n / 1000 : 0;
}

/* Stop writing, let everything arrive, check it all came, close, and find
 * every buffer back in its pool. */
static void run_finish(struct run *r)
{
	for (int k = 0; k < r->nflows; k++)
		r->f[k].on = false;
	r->window = false;
	r->probe_gap = 0;
	bool done = false;
	for (int i = 0; i < 200 && !done; i++) {
		run_for(r, 50 * MS);
		done = true;
		for (int k = 0; k < r->nflows; k++)
			done &= r->f[k].got == r->f[k].sent;
	}
	for (int k = 0; k < r->nflows; k++) {
		assert_true(r->f[k].sent > 0);
		assert_int_equal(r->f[k].got, r->f[k].sent);
		tern_close(r->sim.st[r->f[k].host], r->f[k].cfd);
		tern_close(r->sim.st[B], r->f[k].sfd);
		tern_close(r->sim.st[B], r->f[k].lfd);
	}
	if (r->ua) {
		tern_close(r->sim.st[A], r->ua);
		tern_close(r->sim.st[B], r->ub);
	}
	sim_run_until(&r->sim, r->sim.now + 130 * SEC);
	assert_int_equal(r->sim.st[A]->tcp.count + r->sim.st[B]->tcp.count + r->sim.st[C]->tcp.count, 0);
	assert_true(sim_no_leak(&r->sim));
	sim_free(&r->sim);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double jain(const double *x, int n)
{
	double s = 0, s2 = 0;
	for (int i = 0; i < n; i++)
		s += x[i], s2 += x[i] * x[i];
	return s * s / (n * s2);
}

/* ---- htb ---- */

/* Bytes class X:Y has sent, from `tc -s class show`. */
static uint64_t class_sent(struct run *r, const char *classid)
{
	char *argv[] = {"-s", "class", "show", "dev", BOTTLENECK};
	static char out[16384];
	assert_int_equal(tern_tc(r->sim.st[R], 5, argv, out, sizeof(out)), 0);
	char key[32];
	snprintf(key, sizeof(key), "class htb %s ", classid);
	const char *c = strstr(out, key);
	assert_non_null(c);
	const char *sent = strstr(c, " Sent ");
	assert_non_null(sent);
	return strtoull(sent + 6, NULL, 10);
}

static const char htb_tree[] = "qdisc add dev " BOTTLENECK " root handle 1: htb default 30\n"
			       "class add dev " BOTTLENECK " parent 1: classid 1:1 htb rate 10mbit ceil 10mbit\n"
			       "class add dev " BOTTLENECK " parent 1:1 classid 1:10 htb rate 5mbit ceil 10mbit\n"
			       "class add dev " BOTTLENECK " parent 1:1 classid 1:20 htb rate 3mbit ceil 10mbit\n"
			       "class add dev " BOTTLENECK " parent 1:1 classid 1:30 htb rate 2mbit ceil 10mbit\n"
			       "qdisc add dev " BOTTLENECK " parent 1:10 handle 10: pfifo limit 100\n"
			       "qdisc add dev " BOTTLENECK " parent 1:20 handle 20: pfifo limit 100\n"
			       "qdisc add dev " BOTTLENECK " parent 1:30 handle 30: pfifo limit 100\n"
			       "filter add dev " BOTTLENECK " parent 1: protocol ip prio 1 u32 match ip dport 5001 0xffff flowid 1:10\n"
			       "filter add dev " BOTTLENECK " parent 1: protocol ip prio 1 u32 match ip dport 5002 0xffff flowid 1:20\n";

#define PHASE (5 * SEC)
#define SETTLE (1500 * MS)          /* after a flow comes or goes */

/* Expected rates (Mbit/s of frames) of busy leaves with rates rate[] under
 * a parent of 10: each its rate, plus what the idle ones leave, shared in
 * proportion to the quanta (rate / r2q), as htb's DRR among borrowers. */
static void htb_expect(const double *rate, const bool *busy, int n, double *exp)
{
	double used = 0, q = 0;
	for (int i = 0; i < n; i++)
		if (busy[i])
			used += rate[i], q += rate[i];
	for (int i = 0; i < n; i++)
		exp[i] = busy[i] ? rate[i] + (LINK_BPS / 1e6 - used) * rate[i] / q : 0;
}

static void htb_phase(struct run *r, const char *what, const bool *busy)
{
	static const double rate[3] = {5, 3, 2};
	static const char *const id[3] = {"1:10", "1:20", "1:30"};
	for (int k = 0; k < 3; k++)
		r->f[k].on = busy[k];
	run_for(r, SETTLE);
	window_start(r);
	uint64_t sent0[3];
	for (int k = 0; k < 3; k++)
		sent0[k] = class_sent(r, id[k]);
	run_for(r, PHASE - SETTLE);
	double secs = (double)(r->sim.now - r->window_start) / 1e9;
	double exp[3], good[3], wire[3], sum = 0;
	htb_expect(rate, busy, 3, exp);
	printf("htb %-30s", what);
	for (int k = 0; k < 3; k++) {
		good[k] = window_mbps(r, k);
		wire[k] = (double)(class_sent(r, id[k]) - sent0[k]) * 8 / secs / 1e6;
		sum += good[k];
		printf(" %s %5.2f/%5.2f (%5.2f)", id[k], wire[k], good[k], exp[k]);
	}
	printf(" Mbit/s sent/goodput (expected); goodput sum %5.2f\n", sum);
	for (int k = 0; k < 3; k++) {
		if (busy[k]) {
			/* what the class sent: within 3% of its share */
			assert_true(wire[k] >= 0.97 * exp[k] && wire[k] <= 1.03 * exp[k]);
			/* what TCP delivered over the same window: within 8% (a
			 * loss repaired releases held data at once) */
			assert_true(good[k] >= 0.92 * exp[k] * PAYLOAD_FRAC && good[k] <= 1.08 * exp[k] * PAYLOAD_FRAC);
		} else {
			assert_true(wire[k] < 0.05 && good[k] < 0.05);
		}
	}
	/* the link is used whole whoever is busy */
	assert_true(sum >= 0.95 * LINK_BPS / 1e6 * PAYLOAD_FRAC && sum <= 1.05 * LINK_BPS / 1e6 * PAYLOAD_FRAC);
}

static void test_htb_shares_borrowing_and_return(void **state)
{
	(void)state;
	struct run *r = calloc(1, sizeof(*r));
	run_init(r, 61, htb_tree);
	flow_open(r, A, 5001); /* 1:10 by filter */
	flow_open(r, A, 5002); /* 1:20 by filter */
	flow_open(r, A, 5003); /* 1:30, the default */
	/* 1:20 alone borrows up to its ceil */
	htb_phase(r, "1:20 alone (borrows to ceil)", (bool[]){false, true, false});
	/* 1:10's owner returns: it gets its 5 back; the 2 nobody owns go 5:3 */
	htb_phase(r, "1:10 returns", (bool[]){true, true, false});
	/* all three: each its rate */
	htb_phase(r, "all three", (bool[]){true, true, true});
	/* 1:10 leaves: its 5 go to 1:20 and 1:30, 3:2 */
	htb_phase(r, "1:10 idle (others borrow)", (bool[]){false, true, true});
	tc_show(r);
	/* the filters and the default put every flow in its class: the bytes
	 * each leaf sent are its flow's (plus nothing else: the ACKs go the
	 * other way) */
	run_finish(r);
	free(r);
}

/* ---- fq_codel against a large pfifo, behind a 10 Mbit/s htb ---- */

#define SHAPER "qdisc add dev " BOTTLENECK " root handle 1: htb default 1\n" \
	       "class add dev " BOTTLENECK " parent 1: classid 1:1 htb rate 10mbit\n"
static const char fq_codel_leaf[] = SHAPER "qdisc add dev " BOTTLENECK " parent 1:1 handle 10: fq_codel\n";
static const char pfifo_leaf[] = SHAPER "qdisc add dev " BOTTLENECK " parent 1:1 handle 10: pfifo limit 1000\n";

struct latency {
	double p50, p95, max;      /* sparse flow's RTT, ms */
	double bulk_srtt;          /* bulk flow's mean smoothed RTT, ms */
	double bulk_mbps;
	int n;
};

/* One bulk flow and 64-byte requests every 20 ms for 12 s; measured over
 * the last 8. */
static void latency_run(const char *tc, const char *name, struct latency *l)
{
	struct run *r = calloc(1, sizeof(*r));
	run_init(r, 67, tc);
	flow_open(r, A, 5001)->on = true;
	probe_open(r, 20 * MS);
	run_for(r, 4 * SEC);
	window_start(r);
	run_for(r, 8 * SEC);
	l->n = r->nrtt;
	assert_true(l->n >= 300);
	qsort(r->rtt_ms, (size_t)l->n, sizeof(double), cmp_double);
	l->p50 = r->rtt_ms[l->n / 2];
	l->p95 = r->rtt_ms[l->n * 95 / 100];
	l->max = r->rtt_ms[l->n - 1];
	l->bulk_srtt = srtt_ms(r, 0);
	l->bulk_mbps = window_mbps(r, 0);
	printf("%-8s sparse flow RTT p50 %6.1f ms, p95 %6.1f, max %6.1f (%d requests); bulk flow %5.2f Mbit/s, "
	       "srtt %6.1f ms; base RTT %.0f ms\n",
	       name, l->p50, l->p95, l->max, l->n, l->bulk_mbps, l->bulk_srtt, (double)BASE_DELAY / 1e6);
	tc_show(r);
	run_finish(r);
	free(r);
}

static void test_fq_codel_latency_under_load(void **state)
{
	(void)state;
	struct latency fq, fifo;
	latency_run(fq_codel_leaf, "fq_codel", &fq);
	latency_run(pfifo_leaf, "pfifo", &fifo);
	double base = (double)BASE_DELAY / 1e6;
	double link = LINK_BPS / 1e6 * PAYLOAD_FRAC;
	/* fq_codel: the sparse flow waits at most for the packet being sent
	 * (1.2 ms at 10 Mbit/s) and htb's next slot: base + a few ms */
	assert_true(fq.p50 >= base && fq.p50 <= base + 3);
	assert_true(fq.p95 <= base + 5);
	/* the bulk flow's own queue is held near the 5 ms target */
	assert_true(fq.bulk_srtt >= base && fq.bulk_srtt <= base + 15);
	/* and the link stays full */
	assert_true(fq.bulk_mbps >= 0.93 * link);
	/* pfifo: the same traffic waits behind the bulk flow's queue */
	assert_true(fifo.p50 >= base + 50);
	assert_true(fifo.p50 >= 5 * fq.p50);
	assert_true(fifo.bulk_mbps >= 0.93 * link);
}

struct fairness {
	double jain, sum;
	double queue_ms; /* the flows' mean srtt less their base RTT */
};

/* Four bulk flows for 12 s, measured over the last 8: two from A (RTT
 * 10 ms), two from C (50 ms).  Loss-based TCP sharing one queue gets less
 * the longer its RTT; fq_codel's round robin gives each flow the same. */
static void fairness_run(const char *tc, const char *name, struct fairness *fr)
{
	struct run *r = calloc(1, sizeof(*r));
	run_init(r, 71, tc);
	for (int k = 0; k < 4; k++)
		flow_open(r, k < 2 ? A : C, (uint16_t)(5001 + k))->on = true;
	run_for(r, 4 * SEC);
	window_start(r);
	run_for(r, 8 * SEC);
	double x[4];
	fr->sum = fr->queue_ms = 0;
	printf("%-8s 4 bulk flows, RTT 10 10 50 50 ms:", name);
	for (int k = 0; k < 4; k++) {
		x[k] = window_mbps(r, k);
		fr->sum += x[k];
		double base = (double)(BASE_DELAY + (r->f[k].host == C ? C_DELAY : 0)) / 1e6;
		fr->queue_ms += (srtt_ms(r, k) - base) / 4;
		printf(" %5.2f", x[k]);
	}
	fr->jain = jain(x, 4);
	printf(" Mbit/s, sum %5.2f, Jain %.3f, mean srtt - base RTT %6.1f ms\n", fr->sum, fr->jain, fr->queue_ms);
	run_finish(r);
	free(r);
}

static void test_fq_codel_fair_share(void **state)
{
	(void)state;
	struct fairness fq, fifo;
	fairness_run(fq_codel_leaf, "fq_codel", &fq);
	fairness_run(pfifo_leaf, "pfifo", &fifo);
	assert_true(fq.jain >= 0.9);
	assert_true(fq.sum >= 0.93 * LINK_BPS / 1e6 * PAYLOAD_FRAC);
	/* each flow's packets wait their turn behind three others' (4.8 ms
	 * a packet at a quarter of 10 Mbit/s), and CoDel keeps the rest
	 * short; the fifo queues hundreds of ms.  pfifo's shares are reported
	 * only: flows of one RTT may share a fifo well, and the goodput over a
	 * window moves with the repair of tail drops. */
	assert_true(fq.queue_ms >= 0 && fq.queue_ms <= 20);
	assert_true(fifo.queue_ms >= 10 * fq.queue_ms);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_htb_shares_borrowing_and_return),
		cmocka_unit_test(test_fq_codel_latency_under_load),
		cmocka_unit_test(test_fq_codel_fair_share),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
