/* `tern trace`: TCP's congestion control made visible.
 *
 * Two stacks on an in-memory link and a virtual clock (no root, no real
 * time): a sender with the chosen congestion control, a receiver that
 * reads everything, and between them a bottleneck:
 *
 *   sender --[queue: N packets, drained at RATE]--[DELAY, LOSS]--> receiver
 *   sender <-----------------------[DELAY]------------------------ receiver
 *
 * Both are fault injectors (src/link/fault.c) chained on the sender's end:
 * the outer one only serialises at the rate and holds at most N frames
 * (the queue), the inner one delays and drops at random.  The reverse
 * path only delays.  The stack's tcp_trace hook reports every ACK a
 * sending connection processes and every retransmission timeout; the
 * samples (at most one per millisecond of virtual time per connection,
 * plus the last state before and the first after every change of
 * ca_state or of the retransmission count) go to PREFIX.csv, and a chart
 * of them to PREFIX.svg. */
#include <errno.h>
#include <math.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/stack.h"
#include "link/dev.h"
#include "plot.h"
#include "tcp/tcp_cc.h"
#include "tools.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define MAX_FLOWS 64
#define PORT 5001
#define SAMPLE_NS (1 * MS)     /* at most one sample per flow per this, between events */
#define SAMPLES_PER_FLOW 60000 /* ... or per this share of a long run */
#define FRAME_BYTES 1514.0 /* a full-sized Ethernet frame, for BDP in packets */

struct sample {
	uint64_t at;                    /* ns since the flows' start */
	uint64_t srtt, rttvar, min_rtt; /* ns */
	uint64_t pacing, delivery;      /* bytes/s */
	uint32_t cwnd, ssthresh, inflight, retrans;
	uint16_t flow;
	uint8_t ca_state;
};

struct flow {
	int fd, rfd;           /* sender's and receiver's sockets (-1: none yet) */
	uint16_t lport;
	bool started, shut, eof;
	int error;
	uint64_t start_at, done_at; /* absolute ns */
	uint64_t sent, received;
	/* sampling */
	bool have_last, has_pending;
	uint64_t last_at;
	uint8_t last_ca;
	uint32_t last_retrans;
	struct sample pending;
	struct tern_tcp_info info; /* at the end */
};

struct opts {
	const char *cc, *out;
	uint64_t rate_bps, delay_ns, bytes, time_ns, stagger_ns, seed;
	double loss;
	uint32_t queue;
	int flows;
};

struct trace {
	struct opts o;
	struct tn_stack *snd, *rcv;
	struct tn_dev *queue_dev, *path_dev;
	int lfd;
	struct flow f[MAX_FLOWS];
	struct sample *s;
	size_t ns, cap;
	bool oom;
	uint64_t interval;          /* between samples of a flow, outside events */
	uint64_t t0, now, end;
};

/* ---- options ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tern trace [--cc reno|cubic|bbr] [--rate 100mbit] [--delay 20ms] [--loss 1%%]\n"
		"                  [--queue N] [--bytes 50M | --time 10s] [--flows N] [--stagger 1s]\n"
		"                  [--seed N] [-o PREFIX]\n"
		"  Runs a sender and a receiver on a virtual clock across a bottleneck and records,\n"
		"  per connection, cwnd, ssthresh, RTT, bytes in flight, pacing and delivery rates,\n"
		"  ca_state and retransmissions; writes PREFIX.csv and PREFIX.svg (default \"trace\").\n"
		"  --cc        the sender's congestion control (default: the stack's, cubic)\n"
		"  --rate      bottleneck rate: bit/s with k, m, g or kbit, mbit, gbit (default 100mbit)\n"
		"  --delay     one-way delay, each way: ns, us, ms, s (default 20ms)\n"
		"  --loss      random loss on the data direction: 1%% or 0.01 (default 0)\n"
		"  --queue     bottleneck queue in packets (default: one bandwidth-delay product)\n"
		"  --bytes     what each flow sends, K/M/G = 2^10/2^20/2^30 bytes (default: --time 10s)\n"
		"  --time      how long the flows run (with --bytes: at most this long)\n"
		"  --flows     parallel connections (default 1, at most %d)\n"
		"  --stagger   start flow i at i times this (default 0)\n"
		"  --seed      for every random choice (loss, ISNs, ports); the same seed, the same run\n"
		"  -o PREFIX   write PREFIX.csv and PREFIX.svg\n",
		MAX_FLOWS);
}

/* "100mbit", "1.5g", "800k", "64000" -> bit/s */
static int parse_rate(const char *s, uint64_t *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || !(v > 0))
		return -1;
	double m = 0;
	if (!*end || !strcasecmp(end, "bit"))
		m = 1;
	else if (!strcasecmp(end, "k") || !strcasecmp(end, "kbit"))
		m = 1e3;
	else if (!strcasecmp(end, "m") || !strcasecmp(end, "mbit"))
		m = 1e6;
	else if (!strcasecmp(end, "g") || !strcasecmp(end, "gbit"))
		m = 1e9;
	if (!m || v * m < 1000 || v * m > 1e12)
		return -1;
	*out = (uint64_t)(v * m);
	return 0;
}

/* "20ms", "1.5s", "300us"; a bare number is seconds if bare_s, else refused */
static int parse_dur(const char *s, uint64_t *out, bool bare_s)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || v < 0)
		return -1;
	double m = 0;
	if (!*end)
		m = bare_s ? 1e9 : 0;
	else if (!strcmp(end, "s"))
		m = 1e9;
	else if (!strcmp(end, "ms"))
		m = 1e6;
	else if (!strcmp(end, "us"))
		m = 1e3;
	else if (!strcmp(end, "ns"))
		m = 1;
	if (!m || v * m > 1e15)
		return -1;
	*out = (uint64_t)(v * m + 0.5);
	return 0;
}

/* "50M", "5MiB", "100k", "123456" -> bytes */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || !(v > 0))
		return -1;
	double m = 0;
	if (!*end || !strcasecmp(end, "b"))
		m = 1;
	else if (strchr("kK", end[0]) && (!end[1] || !strcasecmp(end + 1, "b") || !strcasecmp(end + 1, "ib")))
		m = 1024;
	else if (strchr("mM", end[0]) && (!end[1] || !strcasecmp(end + 1, "b") || !strcasecmp(end + 1, "ib")))
		m = 1024 * 1024;
	else if (strchr("gG", end[0]) && (!end[1] || !strcasecmp(end + 1, "b") || !strcasecmp(end + 1, "ib")))
		m = 1024.0 * 1024 * 1024;
	if (!m || v * m < 1 || v * m > 1e13)
		return -1;
	*out = (uint64_t)(v * m);
	return 0;
}

static int parse_loss(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || v < 0)
		return -1;
	if (!strcmp(end, "%"))
		v /= 100;
	else if (*end)
		return -1;
	if (v >= 1)
		return -1;
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){.out = "trace", .rate_bps = 100000000, .delay_ns = 20 * MS, .flows = 1, .seed = 1};
	bool queue_set = false;
	for (int i = 1; i < argc; i += 2) { /* every option takes a value */
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		}
		if (!v) {
			fprintf(stderr, "tern trace: %s: missing value\n", a);
			return -1;
		}
		int rc = 0;
		char *end = NULL;
		if (!strcmp(a, "--cc")) {
			o->cc = v;
		} else if (!strcmp(a, "--rate")) {
			rc = parse_rate(v, &o->rate_bps);
		} else if (!strcmp(a, "--delay")) {
			rc = parse_dur(v, &o->delay_ns, false);
		} else if (!strcmp(a, "--loss")) {
			rc = parse_loss(v, &o->loss);
		} else if (!strcmp(a, "--queue")) {
			unsigned long q = strtoul(v, &end, 10);
			rc = *end || q < 1 || q > 1000000 ? -1 : 0;
			o->queue = (uint32_t)q;
			queue_set = true;
		} else if (!strcmp(a, "--bytes")) {
			rc = parse_size(v, &o->bytes);
		} else if (!strcmp(a, "--time")) {
			rc = parse_dur(v, &o->time_ns, true);
			rc = rc < 0 || o->time_ns < MS ? -1 : 0;
		} else if (!strcmp(a, "--flows")) {
			long n = strtol(v, &end, 10);
			rc = *end || n < 1 || n > MAX_FLOWS ? -1 : 0;
			o->flows = (int)n;
		} else if (!strcmp(a, "--stagger")) {
			rc = parse_dur(v, &o->stagger_ns, false);
		} else if (!strcmp(a, "--seed")) {
			o->seed = strtoull(v, &end, 0);
			rc = *end ? -1 : 0;
		} else if (!strcmp(a, "-o")) {
			o->out = v;
		} else {
			fprintf(stderr, "tern trace: unknown option %s\n", a);
			return -1;
		}
		if (rc < 0) {
			fprintf(stderr, "tern trace: %s %s: bad value\n", a, v);
			return -1;
		}
	}
	if (!o->bytes && !o->time_ns)
		o->time_ns = 10 * SEC;
	if (!queue_set) { /* one bandwidth-delay product, at least 16 */
		double bdp = (double)o->rate_bps / 8 * 2 * (double)o->delay_ns / 1e9 / FRAME_BYTES;
		o->queue = bdp < 16 ? 16 : (uint32_t)ceil(bdp);
	}
	return 0;
}

/* ---- samples from the tcp_trace hook ---- */

static void record(struct trace *tr, const struct sample *x)
{
	if (tr->ns == tr->cap) {
		size_t cap = tr->cap ? tr->cap * 2 : 4096;
		struct sample *s = realloc(tr->s, cap * sizeof(*s));
		if (!s) {
			tr->oom = true;
			return;
		}
		tr->s = s;
		tr->cap = cap;
	}
	tr->s[tr->ns++] = *x;
}

static void on_tcp(void *ctx, const struct tn_stack *s, const struct tn_tcb *t)
{
	struct trace *tr = ctx;
	if (t->rport != PORT)
		return;
	struct flow *f = NULL;
	int i;
	for (i = 0; i < tr->o.flows; i++)
		if (tr->f[i].started && tr->f[i].lport == t->lport) {
			f = &tr->f[i];
			break;
		}
	if (!f)
		return;
	uint64_t now = tern_now(s);
	struct sample x = {
		.at = now > tr->t0 ? now - tr->t0 : 0,
		.srtt = t->srtt,
		.rttvar = t->rttvar,
		.min_rtt = t->min_rtt,
		.pacing = t->pacing_rate,
		.delivery = t->delivery_rate,
		.cwnd = t->cwnd,
		.ssthresh = t->ssthresh,
		.inflight = tn_tcp_in_flight(t),
		.retrans = t->total_retrans,
		.flow = (uint16_t)i,
		.ca_state = t->ca_state,
	};
	bool event = !f->have_last || x.ca_state != f->last_ca || x.retrans != f->last_retrans;
	if (!event && x.at < f->last_at + tr->interval) {
		f->pending = x; /* kept in case an event follows: the state just before it */
		f->has_pending = true;
		return;
	}
	if (event && f->has_pending)
		record(tr, &f->pending);
	record(tr, &x);
	f->has_pending = false;
	f->have_last = true;
	f->last_at = x.at;
	f->last_ca = x.ca_state;
	f->last_retrans = x.retrans;
}

/* ---- the experiment ---- */

static char chunk[65536];

static unsigned app_step(struct trace *tr)
{
	unsigned work = 0;
	const struct opts *o = &tr->o;
	for (int i = 0; i < o->flows; i++) {
		struct flow *f = &tr->f[i];
		if (!f->started) {
			if (tr->now < tr->t0 + (uint64_t)i * o->stagger_ns)
				continue;
			struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(PORT)};
			uint32_t ip;
			parse_ip("198.18.0.2", &ip);
			to.sin_addr.s_addr = htonl(ip);
			f->fd = tern_socket(tr->snd, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
			if (f->fd < 0 || (tern_connect(tr->snd, f->fd, (struct sockaddr *)&to, sizeof(to)) < 0 &&
					  errno != EINPROGRESS)) {
				f->error = errno;
				f->started = f->shut = f->eof = true;
				continue;
			}
			struct sockaddr_in me;
			socklen_t ml = sizeof(me);
			tern_getsockname(tr->snd, f->fd, (struct sockaddr *)&me, &ml);
			f->lport = ntohs(me.sin_port);
			f->started = true;
			f->start_at = tr->now;
			work++;
		}
		while (!f->shut && (!o->bytes || f->sent < o->bytes)) {
			size_t n = sizeof(chunk);
			if (o->bytes && o->bytes - f->sent < n)
				n = (size_t)(o->bytes - f->sent);
			ssize_t k = tern_send(tr->snd, f->fd, chunk, n, 0);
			if (k <= 0) {
				if (k < 0 && errno != EAGAIN && !f->error) {
					f->error = errno;
					f->shut = f->eof = true;
				}
				break;
			}
			f->sent += (uint64_t)k;
			work++;
		}
		if (!f->shut && o->bytes && f->sent == o->bytes) {
			tern_shutdown(tr->snd, f->fd, SHUT_WR);
			f->shut = true;
			work++;
		}
	}
	struct sockaddr_in peer;
	socklen_t pl = sizeof(peer);
	int a;
	while ((a = tern_accept(tr->rcv, tr->lfd, (struct sockaddr *)&peer, &pl)) >= 0) {
		work++;
		int i = 0;
		while (i < o->flows && !(tr->f[i].started && tr->f[i].lport == ntohs(peer.sin_port) && tr->f[i].rfd < 0))
			i++;
		if (i == o->flows)
			tern_close(tr->rcv, a);
		else
			tr->f[i].rfd = a;
		pl = sizeof(peer);
	}
	static char buf[65536];
	for (int i = 0; i < o->flows; i++) {
		struct flow *f = &tr->f[i];
		if (f->rfd < 0 || f->eof)
			continue;
		ssize_t k;
		while ((k = tern_recv(tr->rcv, f->rfd, buf, sizeof(buf), 0)) > 0) {
			f->received += (uint64_t)k;
			work++;
		}
		if (o->bytes && f->received >= o->bytes && !f->done_at)
			f->done_at = tr->now;
		if (k == 0 || (k < 0 && errno != EAGAIN)) {
			if (k < 0)
				f->error = errno;
			f->eof = true;
			if (!f->done_at)
				f->done_at = tr->now;
			work++;
		}
	}
	return work;
}

static bool all_done(const struct trace *tr)
{
	if (!tr->o.bytes)
		return false;
	for (int i = 0; i < tr->o.flows; i++)
		if (!tr->f[i].eof)
			return false;
	return true;
}

/* Run both stacks and the applications until `until` (absolute) or, with
 * --bytes, until every flow is done. */
static void run(struct trace *tr, uint64_t until, bool apps)
{
	for (;;) {
		unsigned work;
		do {
			work = tern_poll(tr->snd, tr->now) + tern_poll(tr->rcv, tr->now);
			if (apps)
				work += app_step(tr);
		} while (work);
		if (apps && all_done(tr))
			return;
		uint64_t next = tern_poll_at(tr->snd), r = tern_poll_at(tr->rcv);
		if (r < next)
			next = r;
		if (apps)
			for (int i = 0; i < tr->o.flows; i++)
				if (!tr->f[i].started) {
					uint64_t at = tr->t0 + (uint64_t)i * tr->o.stagger_ns;
					if (at < next)
						next = at;
				}
		if (next <= tr->now)
			next = tr->now + 1;
		if (next > until) {
			tr->now = until;
			return;
		}
		tr->now = next;
	}
}

static int setup(struct trace *tr)
{
	const struct opts *o = &tr->o;
	/* Room for what a loss-based sender may keep in flight: the path plus
	 * the queue, for the buffer limits and the packet pools (the receiver
	 * holds data in pool buffers, its window at most a quarter of them). */
	double bdp = (double)o->rate_bps / 8 * 2 * (double)o->delay_ns / 1e9;
	double need = 4 * (bdp + o->queue * FRAME_BYTES);
	uint64_t rmem = need > 6291456 ? (uint64_t)need : 6291456, wmem = need > 4194304 ? (uint64_t)need : 4194304;
	if (rmem > 1u << 30)
		rmem = 1u << 30;
	if (wmem > 1u << 30)
		wmem = 1u << 30;
	uint64_t pool = 4 * rmem / 1448 + 4096;
	if (pool < 16384)
		pool = 16384;
	if (pool > 131072)
		pool = 131072;
	tr->now = 1 * SEC;
	struct tern_config cfg = {.name = "sender", .seed = o->seed * 1000 + 1, .now = tr->now,
				  .pool_size = (uint32_t)pool};
	tr->snd = tern_stack_new(&cfg);
	cfg.name = "receiver";
	cfg.seed = o->seed * 1000 + 2;
	tr->rcv = tern_stack_new(&cfg);
	if (!tr->snd || !tr->rcv)
		return -1;
	char v[64];
	snprintf(v, sizeof(v), "4096 131072 %llu", (unsigned long long)rmem);
	tern_sysctl_set(tr->snd, "net.ipv4.tcp_rmem", v);
	tern_sysctl_set(tr->rcv, "net.ipv4.tcp_rmem", v);
	snprintf(v, sizeof(v), "4096 16384 %llu", (unsigned long long)wmem);
	tern_sysctl_set(tr->snd, "net.ipv4.tcp_wmem", v);
	tern_sysctl_set(tr->rcv, "net.ipv4.tcp_wmem", v);
	if (o->cc && tern_sysctl_set(tr->snd, "net.ipv4.tcp_congestion_control", o->cc) < 0) {
		fprintf(stderr, "tern trace: --cc %s: not one of %s\n", o->cc, tn_tcp_cc_available());
		return -2;
	}

	struct tn_dev *da, *db;
	if (tn_memlink_pair("snd0", "rcv0", TN_DEV_L2, 1500, 4096, &da, &db) < 0)
		return -1;
	/* frames the delay line holds at most: the rate times the delay, in
	 * the smallest frames, and some */
	uint64_t line = (uint64_t)((double)o->rate_bps / 8 * (double)o->delay_ns / 1e9 / 64) + 10000;
	if (line > 10000000)
		line = 10000000;
	struct tn_fault_cfg path = {.delay_ns = o->delay_ns, .loss = o->loss, .limit = (uint32_t)line,
				    .seed = o->seed * 7919 + 11};
	struct tn_fault_cfg queue = {.rate_bps = o->rate_bps, .limit = o->queue, .seed = o->seed * 7919 + 12};
	struct tn_fault_cfg back = {.delay_ns = o->delay_ns, .limit = (uint32_t)line, .seed = o->seed * 7919 + 13};
	struct tn_dev *p = tn_fault_new(da, &path);
	struct tn_dev *q = p ? tn_fault_new(p, &queue) : NULL;
	struct tn_dev *b = tn_fault_new(db, &back);
	if (!p || !q || !b) {
		tn_dev_destroy(q ? q : p ? p : da);
		tn_dev_destroy(b ? b : db);
		return -1;
	}
	tr->path_dev = p;
	tr->queue_dev = q;
	int is = tern_dev_attach(tr->snd, q), ir = tern_dev_attach(tr->rcv, b);
	if (is < 0 || ir < 0) {
		if (is < 0)
			tn_dev_destroy(q);
		if (ir < 0)
			tn_dev_destroy(b);
		return -1;
	}
	uint32_t ip;
	parse_ip("198.18.0.1", &ip);
	tern_addr_add(tr->snd, is, ip, 24);
	parse_ip("198.18.0.2", &ip);
	tern_addr_add(tr->rcv, ir, ip, 24);
	tr->lfd = tern_socket(tr->rcv, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in l = {.sin_family = AF_INET, .sin_port = htons(PORT)};
	if (tern_bind(tr->rcv, tr->lfd, (struct sockaddr *)&l, sizeof(l)) < 0 || tern_listen(tr->rcv, tr->lfd, 128) < 0)
		return -1;
	/* let the gratuitous ARPs pass */
	run(tr, tr->now + 100 * MS, false);
	tr->snd->tcp_trace = on_tcp;
	tr->snd->tcp_trace_ctx = tr;
	return 0;
}

/* ---- output ---- */

static const char *ca_name(unsigned s)
{
	static const char *const n[] = {"Open", "Disorder", "CWR", "Recovery", "Loss"};
	return s < 5 ? n[s] : "?";
}

/* Writes and closes f. */
static int write_csv(const struct trace *tr, FILE *f)
{
	fprintf(f, "time_s,flow,cwnd,ssthresh,srtt_us,rttvar_us,min_rtt_us,inflight,pacing_bps,delivery_bps,ca_state,retrans\n");
	for (size_t i = 0; i < tr->ns; i++) {
		const struct sample *x = &tr->s[i];
		char ss[16];
		if (x->ssthresh == UINT32_MAX)
			snprintf(ss, sizeof(ss), "inf");
		else
			snprintf(ss, sizeof(ss), "%u", x->ssthresh);
		fprintf(f, "%.6f,%u,%u,%s,%llu,%llu,%llu,%u,%llu,%llu,%s,%u\n", (double)x->at / 1e9, x->flow, x->cwnd, ss,
			(unsigned long long)(x->srtt / 1000), (unsigned long long)(x->rttvar / 1000),
			(unsigned long long)(x->min_rtt / 1000), x->inflight, (unsigned long long)x->pacing * 8,
			(unsigned long long)x->delivery * 8, ca_name(x->ca_state), x->retrans);
	}
	return fclose(f) == 0 ? 0 : -1;
}

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
				       "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};
#define PALETTE (sizeof(palette) / sizeof(palette[0]))

static void fmt_rate(char *buf, size_t cap, double bps)
{
	if (bps >= 1e9)
		snprintf(buf, cap, "%g Gbit/s", bps / 1e9);
	else if (bps >= 1e6)
		snprintf(buf, cap, "%g Mbit/s", bps / 1e6);
	else
		snprintf(buf, cap, "%g kbit/s", bps / 1e3);
}

static void fmt_dur(char *buf, size_t cap, uint64_t ns)
{
	if (ns >= SEC && ns % (SEC / 1000) == 0)
		snprintf(buf, cap, "%g s", (double)ns / 1e9);
	else if (ns >= MS / 10)
		snprintf(buf, cap, "%g ms", (double)ns / 1e6);
	else
		snprintf(buf, cap, "%g us", (double)ns / 1e3);
}

/* "cubic, 1 flow, 50 Mbit/s bottleneck, 10 ms each way (RTT 20 ms), 0.5% loss, queue 84 packets";
 * short: "cubic over 50 Mbit/s, RTT 20 ms, 0.5% loss, queue 84 packets, 1 flow" */
static void describe(const struct trace *tr, char *buf, size_t cap, bool shrt)
{
	const struct opts *o = &tr->o;
	char rate[32], d[32], rtt[32], loss[32] = "";
	fmt_rate(rate, sizeof(rate), (double)o->rate_bps);
	fmt_dur(d, sizeof(d), o->delay_ns);
	fmt_dur(rtt, sizeof(rtt), 2 * o->delay_ns);
	if (o->loss > 0)
		snprintf(loss, sizeof(loss), ", %g%% loss", o->loss * 100);
	char cc[64];
	tern_sysctl_get(tr->snd, "net.ipv4.tcp_congestion_control", cc, sizeof(cc));
	if (shrt)
		snprintf(buf, cap, "%s over %s, RTT %s%s, queue %u packets, %d flow%s", cc, rate, rtt, loss, o->queue,
			 o->flows, o->flows > 1 ? "s" : "");
	else
		snprintf(buf, cap, "%s, %d flow%s, %s bottleneck, %s each way (RTT %s)%s, queue %u packets", cc,
			 o->flows, o->flows > 1 ? "s" : "", rate, d, rtt, loss, o->queue);
}

/* Writes and closes f. */
static int write_svg(const struct trace *tr, FILE *f, const char *subtitle)
{
	const struct opts *o = &tr->o;
	char title[512], desc[400];
	describe(tr, desc, sizeof(desc), true);
	snprintf(title, sizeof(title), "tern trace: %s", desc);
	struct plot *p = plot_new(title);
	if (!p) {
		fclose(f);
		return -1;
	}
	plot_set_subtitle(p, subtitle);
	plot_set_xlabel(p, "time (s)");
	double end = (double)(tr->end - tr->t0) / 1e9;
	p->xmax = end > 0 ? end : 1;
	if (end > 0) /* round the axis up to a tick unless that wastes much */
		p->xmax = plot_nice_top(end, 10, NULL) <= end * 1.1 ? plot_nice_top(end, 10, NULL) : end;
	struct plot_panel *pa = plot_add_panel(p, "(a) congestion window, slow-start threshold and bytes in flight", "KB");
	struct plot_panel *pb = plot_add_panel(p, "(b) smoothed RTT and minimum RTT", "ms");
	struct plot_panel *pc = plot_add_panel(p, "(c) pacing rate and delivery rate", "Mbit/s");
	if (!pa || !pb || !pc) {
		plot_free(p);
		fclose(f);
		return -1;
	}
	bool one = o->flows == 1;
	struct fs {
		struct plot_series *cwnd, *ssth, *infl, *srtt, *minrtt, *pace, *deliv;
		struct plot_marks *rtx;
		uint8_t ca;
		double span_at;
		uint32_t retrans;
		bool seen;
	} *fs = calloc((size_t)o->flows, sizeof(*fs));
	if (!fs) {
		plot_free(p);
		fclose(f);
		return -1;
	}
	struct plot_spans *rec = plot_add_spans(p, "fast recovery (Recovery, CWR)", "#ff7f0e");
	struct plot_spans *loss = plot_add_spans(p, "RTO recovery (Loss)", "#d62728");
	struct plot_marks *rtx_all = one ? plot_add_marks(p, "retransmission", "#000") : NULL;
	for (int i = 0; i < o->flows; i++) {
		char l[7][48];
		const char *c = palette[(size_t)i % PALETTE];
		if (one) {
			snprintf(l[0], sizeof(l[0]), "cwnd");
			snprintf(l[1], sizeof(l[1]), "ssthresh");
			snprintf(l[2], sizeof(l[2]), "in flight");
			snprintf(l[3], sizeof(l[3]), "srtt");
			snprintf(l[4], sizeof(l[4]), "min RTT");
			snprintf(l[5], sizeof(l[5]), "pacing rate");
			snprintf(l[6], sizeof(l[6]), "delivery rate");
			/* in flight first, under cwnd: it is at most cwnd, often equal */
			fs[i].infl = plot_add_series(pa, l[2], "#2ca02c", PLOT_SOLID);
			fs[i].cwnd = plot_add_series(pa, l[0], "#1f77b4", PLOT_SOLID);
			fs[i].ssth = plot_add_series(pa, l[1], "#d62728", PLOT_DASHED);
			fs[i].srtt = plot_add_series(pb, l[3], "#1f77b4", PLOT_SOLID);
			fs[i].minrtt = plot_add_series(pb, l[4], "#7f7f7f", PLOT_DASHED);
			fs[i].pace = plot_add_series(pc, l[5], "#ff7f0e", PLOT_SOLID);
			fs[i].deliv = plot_add_series(pc, l[6], "#1f77b4", PLOT_SOLID);
			fs[i].rtx = rtx_all;
		} else {
			snprintf(l[0], sizeof(l[0]), "cwnd %d", i);
			snprintf(l[1], sizeof(l[1]), "ssthresh %d", i);
			snprintf(l[2], sizeof(l[2]), "in flight %d", i);
			snprintf(l[3], sizeof(l[3]), "srtt %d", i);
			snprintf(l[4], sizeof(l[4]), "min RTT %d", i);
			snprintf(l[5], sizeof(l[5]), "pacing %d", i);
			snprintf(l[6], sizeof(l[6]), "delivery %d", i);
			fs[i].infl = plot_add_series(pa, l[2], c, PLOT_DOTTED);
			fs[i].cwnd = plot_add_series(pa, l[0], c, PLOT_SOLID);
			fs[i].ssth = plot_add_series(pa, l[1], c, PLOT_DASHED);
			fs[i].srtt = plot_add_series(pb, l[3], c, PLOT_SOLID);
			fs[i].minrtt = plot_add_series(pb, l[4], c, PLOT_DASHED);
			fs[i].pace = plot_add_series(pc, l[5], c, PLOT_SOLID);
			fs[i].deliv = plot_add_series(pc, l[6], c, PLOT_DOTTED);
			char ml[48];
			snprintf(ml, sizeof(ml), "retransmission %d", i);
			fs[i].rtx = plot_add_marks(p, ml, c);
		}
	}
	/* references: the path's capacity */
	double bdp_kb = (double)o->rate_bps / 8 * 2 * (double)o->delay_ns / 1e9 / 1000;
	struct plot_series *bdp = plot_add_series(pa, "BDP", "#999", PLOT_DOTTED);
	struct plot_series *bdpq = plot_add_series(pa, "BDP + queue", "#bbb", PLOT_DASHED);
	struct plot_series *bn = plot_add_series(pc, "bottleneck", "#999", PLOT_DOTTED);
	if (bdp && bdpq && bn) {
		plot_point(bdp, 0, bdp_kb);
		plot_point(bdp, p->xmax, bdp_kb);
		plot_point(bdpq, 0, bdp_kb + o->queue * FRAME_BYTES / 1000);
		plot_point(bdpq, p->xmax, bdp_kb + o->queue * FRAME_BYTES / 1000);
		plot_point(bn, 0, (double)o->rate_bps / 1e6);
		plot_point(bn, p->xmax, (double)o->rate_bps / 1e6);
	}
	for (size_t k = 0; k < tr->ns; k++) {
		const struct sample *x = &tr->s[k];
		struct fs *q = &fs[x->flow];
		if (!q->cwnd || !q->ssth || !q->infl || !q->srtt || !q->minrtt || !q->pace || !q->deliv)
			continue;
		double t = (double)x->at / 1e9;
		plot_point(q->cwnd, t, x->cwnd / 1000.0);
		plot_point(q->ssth, t, x->ssthresh == UINT32_MAX ? NAN : x->ssthresh / 1000.0);
		plot_point(q->infl, t, x->inflight / 1000.0);
		plot_point(q->srtt, t, x->srtt ? (double)x->srtt / 1e6 : NAN);
		plot_point(q->minrtt, t, x->min_rtt ? (double)x->min_rtt / 1e6 : NAN);
		plot_point(q->pace, t, (double)x->pacing * 8 / 1e6);
		plot_point(q->deliv, t, (double)x->delivery * 8 / 1e6);
		if (q->seen && x->retrans > q->retrans && q->rtx)
			plot_mark(q->rtx, t);
		/* recovery periods, from the state changes */
		bool was_rec = q->seen && (q->ca == TN_CA_RECOVERY || q->ca == TN_CA_CWR);
		bool was_loss = q->seen && q->ca == TN_CA_LOSS;
		bool is_rec = x->ca_state == TN_CA_RECOVERY || x->ca_state == TN_CA_CWR, is_loss = x->ca_state == TN_CA_LOSS;
		if ((was_rec && !is_rec) || (was_loss && !is_loss))
			plot_span(was_rec ? rec : loss, q->span_at, t);
		if ((is_rec && !was_rec) || (is_loss && !was_loss))
			q->span_at = t;
		q->ca = x->ca_state;
		q->retrans = x->retrans;
		q->seen = true;
	}
	for (int i = 0; i < o->flows; i++) /* still recovering at the end */
		if (fs[i].seen && fs[i].ca >= TN_CA_CWR)
			plot_span(fs[i].ca == TN_CA_LOSS ? loss : rec, fs[i].span_at, end);
	free(fs);
	int rc = plot_write_svg(p, f);
	if (fclose(f) != 0)
		rc = -1;
	plot_free(p);
	return rc;
}

static void fmt_bytes(char *buf, size_t cap, uint64_t b)
{
	if (b >= (1ull << 30))
		snprintf(buf, cap, "%.2f GiB", (double)b / (1ull << 30));
	else if (b >= (1ull << 20))
		snprintf(buf, cap, "%.2f MiB", (double)b / (1ull << 20));
	else
		snprintf(buf, cap, "%.1f KiB", (double)b / 1024);
}

int cmd_trace(int argc, char **argv)
{
	struct trace *tr = calloc(1, sizeof(*tr));
	if (!tr)
		return 1;
	for (int i = 0; i < MAX_FLOWS; i++)
		tr->f[i].fd = tr->f[i].rfd = -1;
	int rc = 1;
	char path_csv[4096], path_svg[4096];
	if (parse_args(argc, argv, &tr->o) < 0) {
		usage(stderr);
		free(tr);
		return 2;
	}
	const struct opts *o = &tr->o;
	/* 1 ms between samples; for a long run, a 60,000th of it (as long as
	 * the flows' bytes would take at the bottleneck's rate) */
	double expect_ns = o->time_ns ? (double)o->time_ns
				      : (double)o->bytes * o->flows * 8 / (double)o->rate_bps * 1e9;
	tr->interval = expect_ns / SAMPLES_PER_FLOW > SAMPLE_NS ? (uint64_t)(expect_ns / SAMPLES_PER_FLOW) : SAMPLE_NS;
	snprintf(path_csv, sizeof(path_csv), "%s.csv", o->out);
	snprintf(path_svg, sizeof(path_svg), "%s.svg", o->out);
	FILE *fcsv = NULL, *fsvg = NULL;
	int e = setup(tr);
	if (e < 0) {
		if (e == -1)
			fprintf(stderr, "tern trace: setup failed: %s\n", strerror(errno));
		rc = 2;
		goto out;
	}
	/* the files first, so that a bad path fails before the run */
	if (!(fcsv = fopen(path_csv, "w")) || !(fsvg = fopen(path_svg, "w"))) {
		fprintf(stderr, "tern trace: %s: %s\n", fcsv ? path_svg : path_csv, strerror(errno));
		if (fcsv) {
			fclose(fcsv);
			unlink(path_csv);
		}
		fcsv = NULL;
		rc = 2;
		goto out;
	}
	char desc[400];
	describe(tr, desc, sizeof(desc), false);
	printf("tern trace: %s, seed %llu\n", desc, (unsigned long long)o->seed);
	tr->t0 = tr->now;
	uint64_t limit = o->time_ns ? o->time_ns : 3600 * SEC;
	run(tr, tr->t0 + limit, true);
	tr->end = tr->now;
	for (int i = 0; i < o->flows; i++) { /* the last state of each flow */
		struct flow *f = &tr->f[i];
		if (f->has_pending)
			record(tr, &f->pending);
		socklen_t l = sizeof(f->info);
		if (f->fd >= 0)
			tern_getsockopt(tr->snd, f->fd, IPPROTO_TCP, TCP_INFO, &f->info, &l);
	}

	/* summary */
	uint64_t total = 0, rtx = 0, first = UINT64_MAX, last = 0;
	bool complete = true;
	for (int i = 0; i < o->flows; i++) {
		struct flow *f = &tr->f[i];
		uint64_t end = f->done_at ? f->done_at : tr->end;
		uint64_t start = f->started ? f->start_at : end;
		double secs = (double)(end - start) / 1e9;
		char b[32];
		fmt_bytes(b, sizeof(b), f->received);
		printf("  flow %d: %s in %.3f s, goodput %.2f Mbit/s, %u retransmissions", i, b, secs,
		       secs > 0 ? (double)f->received * 8 / secs / 1e6 : 0.0, f->info.tcpi_total_retrans);
		if (f->info.tcpi_bytes_sent)
			printf(" (%.2f%% of bytes sent)",
			       100.0 * (double)f->info.tcpi_bytes_retrans / (double)f->info.tcpi_bytes_sent);
		if (f->error)
			printf(", failed: %s", strerror(f->error));
		else if (o->bytes && f->received < o->bytes)
			printf(", incomplete");
		printf("\n");
		if (f->error || (o->bytes && f->received < o->bytes))
			complete = false;
		total += f->received;
		rtx += f->info.tcpi_total_retrans;
		if (f->started && start < first)
			first = start;
		if (end > last)
			last = end;
	}
	double secs = first < last ? (double)(last - first) / 1e9 : 0;
	double goodput = secs > 0 ? (double)total * 8 / secs / 1e6 : 0;
	char tb[32];
	fmt_bytes(tb, sizeof(tb), total);
	printf("  total: %s in %.3f s, goodput %.2f Mbit/s, %llu retransmissions\n", tb, secs, goodput,
	       (unsigned long long)rtx);
	const struct tn_fault_stats *qs = tn_fault_stats(tr->queue_dev), *ps = tn_fault_stats(tr->path_dev);
	printf("  bottleneck: %llu frames through the queue, %llu dropped by it (full); %llu lost at random\n",
	       (unsigned long long)qs->passed, (unsigned long long)qs->overflow, (unsigned long long)ps->lost);
	printf("  the sender's sockets at %.3f s (tern ss -i):\n", (double)(tr->end - tr->t0) / 1e9);
	show_ss(tr->snd, stdout, true);

	char sub[512];
	snprintf(sub, sizeof(sub), "%s in %.3f s of virtual time: goodput %.2f Mbit/s, %llu retransmissions; seed %llu",
		 tb, secs, goodput, (unsigned long long)rtx, (unsigned long long)o->seed);
	int wc = write_csv(tr, fcsv), ws = write_svg(tr, fsvg, sub);
	fcsv = fsvg = NULL; /* closed */
	if (tr->oom) {
		fprintf(stderr, "tern trace: out of memory for samples\n");
	} else if (wc < 0) {
		fprintf(stderr, "tern trace: %s: %s\n", path_csv, strerror(errno));
	} else if (ws < 0) {
		fprintf(stderr, "tern trace: %s: %s\n", path_svg, strerror(errno));
	} else {
		printf("  wrote %s (%zu samples) and %s\n", path_csv, tr->ns, path_svg);
		rc = complete ? 0 : 1;
	}
out:
	if (fsvg)
		fclose(fsvg);
	for (int i = 0; i < MAX_FLOWS; i++) {
		if (tr->f[i].fd >= 0 && tr->snd)
			tern_close(tr->snd, tr->f[i].fd);
		if (tr->f[i].rfd >= 0 && tr->rcv)
			tern_close(tr->rcv, tr->f[i].rfd);
	}
	if (tr->snd)
		tern_stack_free(tr->snd);
	if (tr->rcv)
		tern_stack_free(tr->rcv);
	free(tr->s);
	free(tr);
	return rc;
}
