/* C10M: N concurrent ESTABLISHED TCP connections in one process, a client
 * stack and a server stack joined by a memlink, on a virtual clock.
 *
 *   c10m N [SAMPLE]          (N: 100000, 1000000, 10000000; SAMPLE: 1000)
 *   c10m --light N [SAMPLE]  one tern server, the clients a test harness
 *
 * --light (see "light mode" below): only the server is a tern stack; the
 * clients are bench/light_client.h, 8 bytes per connection, so what is
 * measured is what a server holding N connections costs.  Without it, the
 * two-stack mode:
 * the client has 8 addresses (198.18.0.10-17: TN_MAX_ADDRS is 8 per
 * interface) and binds every socket to an explicit (address, port) with
 * SO_REUSEADDR, ports 1024-65535; the server listens on as many ports as
 * N needs (8 x 64,512 = 516,096 connections per server port), so every
 * connection has its own 4-tuple and the 65,535-port limit of one
 * address does not bind.  Connections open in batches of 1,000 and are
 * accepted as they complete; the virtual clock moves 100 us per poll
 * round, so no timer fires early because the host is slow.
 *
 * Reported (one line, key=value):
 *   setup rate: connections per second of process CPU time (both stacks);
 *   bytes per connection endpoint (2N endpoints): process VmRSS growth /
 *     2N, heap growth (mallinfo2 uordblks + hblkhd) / 2N and per side
 *     (charged to the stack whose call it grew in), and tern's own
 *     accounting: per stack, sizeof(TCB) x TCBs + sizeof(sock) x sockets
 *     + descriptor and hash tables + send rings, SACK records and queued
 *     packet buffers held by connections;
 *   a one-byte ping-pong on SAMPLE random connections, one at a time,
 *     after all are open (CPU ns per round trip, mean and max), and the
 *     memory after that traffic once the connections are idle again;
 *   teardown: every connection closed (FIN both ways, TIME-WAIT run out
 *     on the virtual clock); TCBs and packet buffers left (must be 0).
 *
 * Memory guard: the bench refuses a run whose projection (C10M_EST_BYTES
 * per endpoint, 1,200 by default, x 2N) exceeds C10M_MAX_GB (12) or
 * MemAvailable less 2 GiB, and caps its own address space at
 * C10M_MAX_GB + 2 GiB with setrlimit, so it fails rather than pushes
 * others out of memory. */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>

#include "core/stack.h"
#include "link/dev.h"
#include "socket/sock.h"
#include "tcp/tcp.h"
#include "tern/tern.h"
#include "light_client.h"
#include "bench_util.h"

#define BATCH 1000
#define ADDR_SRV 0xc6120001u  /* 198.18.0.1 */
#define ADDR_CLI0 0xc612000au /* 198.18.0.10 .. .17 */
#define NADDR 8
#define PORT_LO 1024
#define NPORTS (65536 - PORT_LO)
#define PER_SPORT ((long)NADDR * NPORTS)
#define SPORT0 10000
#define TICK 100000ull /* ns of virtual time per poll round */

/* The process's CPU time by CLOCK_PROCESS_CPUTIME_ID (finer than
 * bench_util.h's cpu_ns), in ns. */
static uint64_t cpu_clock_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct side {
	struct tn_stack *st;
	long long heap; /* heap growth during this stack's calls */
};

struct run {
	struct side cli, srv;
	uint64_t now;     /* the virtual clock */
	long long heap_last;
	int *cfd, *sfd;   /* by connection index */
	long n, accepted;
	int nlisten;
	int lfd[64];
	long errors;
};

static void charge(struct run *r, struct side *sd)
{
	long long h = heap_bytes();
	sd->heap += h - r->heap_last;
	r->heap_last = h;
}

/* One poll round of both stacks; frames moved. */
static unsigned round_(struct run *r)
{
	r->now += TICK;
	unsigned a = tern_poll(r->cli.st, r->now), b = tern_poll(r->srv.st, r->now);
	return a + b;
}

/* Poll until quiet, then let the delayed-ACK and other short timers run
 * out on the virtual clock. */
static void settle(struct run *r)
{
	for (int k = 0; k < 3; k++) {
		while (round_(r))
			;
		for (int i = 0; i < 30; i++) /* 30 x 10 ms */
			r->now += 10 * 1000000ull, round_(r);
	}
}

static long conn_index(uint32_t caddr, uint16_t cport, uint16_t sport)
{
	return (long)(sport - SPORT0) * PER_SPORT + (long)(cport - PORT_LO) * NADDR + (long)(caddr - ADDR_CLI0);
}

static void accept_all(struct run *r)
{
	for (int k = 0; k < r->nlisten; k++) {
		struct sockaddr_in peer;
		socklen_t pl = sizeof(peer);
		int a;
		while ((a = tern_accept(r->srv.st, r->lfd[k], (struct sockaddr *)&peer, &pl)) >= 0) {
			long i = conn_index(ntohl(peer.sin_addr.s_addr), ntohs(peer.sin_port), (uint16_t)(SPORT0 + k));
			if (i < 0 || i >= r->n || r->sfd[i] >= 0)
				r->errors++;
			else
				r->sfd[i] = a;
			r->accepted++;
			pl = sizeof(peer);
		}
	}
}

static int open_batch(struct run *r, long first, long count)
{
	r->heap_last = heap_bytes();
	int one = 1;
	for (long i = first; i < first + count; i++) {
		long sp = i / PER_SPORT, rem = i % PER_SPORT;
		struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(PORT_LO + rem / NADDR))};
		src.sin_addr.s_addr = htonl(ADDR_CLI0 + (uint32_t)(rem % NADDR));
		struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(SPORT0 + sp)),
					  .sin_addr.s_addr = htonl(ADDR_SRV)};
		int c = tern_socket(r->cli.st, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (c < 0 || tern_setsockopt(r->cli.st, c, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		    tern_bind(r->cli.st, c, (struct sockaddr *)&src, sizeof(src)) < 0 ||
		    (tern_connect(r->cli.st, c, (struct sockaddr *)&dst, sizeof(dst)) < 0 && errno != EINPROGRESS)) {
			fprintf(stderr, "c10m: connection %ld: %s\n", i, strerror(errno));
			return -1;
		}
		r->cfd[i] = c;
	}
	charge(r, &r->cli);
	long target = first + count;
	for (int rounds = 0; r->accepted < target; rounds++) {
		if (rounds > 100000) {
			fprintf(stderr, "c10m: stalled at %ld accepted of %ld\n", r->accepted, target);
			return -1;
		}
		r->now += TICK;
		if (tern_poll(r->cli.st, r->now))
			charge(r, &r->cli);
		if (tern_poll(r->srv.st, r->now))
			charge(r, &r->srv);
		long before = r->accepted;
		accept_all(r);
		if (r->accepted != before)
			charge(r, &r->srv);
	}
	return 0;
}

/* tern's own accounting for one stack: what its structures hold. */
struct acct {
	unsigned long long tcb, sock, tables, bufs;
	unsigned long long snd_rings, txq;
	unsigned long tcbs, socks, with_snd, with_txq;
};

static struct acct account(struct tn_stack *s)
{
	struct acct a = {0};
	struct tn_tcp_table *tt = &s->tcp;
	a.tables = (unsigned long long)tt->nconns * sizeof(tt->conns[0]) + 65536ull * sizeof(uint32_t) +
		   (unsigned long long)s->socks.nfds * sizeof(s->socks.fds[0]);
	for (uint32_t i = 0; i < tt->nconns; i++)
		for (struct tn_tcb *t = tt->conns[i]; t; t = t->hnext) {
			a.tcbs++;
			a.tcb += sizeof(*t);
			a.snd_rings += t->snd.buf ? t->snd.cap : 0;
			a.with_snd += t->snd.buf != NULL;
			a.txq += (unsigned long long)t->txq.cap * sizeof(struct tn_tcp_txrec);
			a.with_txq += t->txq.cap != 0;
		}
	for (uint32_t fd = 0; fd < s->socks.nfds; fd++)
		if (s->socks.fds[fd])
			a.socks++, a.sock += sizeof(struct tn_sock);
	a.bufs = (unsigned long long)tern_pool_in_use(s) * 2048;
	return a;
}

static unsigned long long acct_total(const struct acct *a)
{
	return a->tcb + a->sock + a->tables + a->bufs + a->snd_rings + a->txq;
}

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
	return *x;
}

/* One byte each way on connection i; CPU ns, or 0 on failure. */
static uint64_t ping_pong(struct run *r, long i, uint8_t v)
{
	uint64_t t0 = cpu_clock_ns();
	uint8_t b = v, got;
	if (tern_send(r->cli.st, r->cfd[i], &b, 1, 0) != 1)
		return 0;
	int stage = 0;
	for (int rounds = 0; rounds < 1000 && stage < 2; rounds++) {
		round_(r);
		if (stage == 0 && tern_recv(r->srv.st, r->sfd[i], &got, 1, 0) == 1) {
			if (got != v || tern_send(r->srv.st, r->sfd[i], &got, 1, 0) != 1)
				return 0;
			stage = 1;
		}
		if (stage == 1 && tern_recv(r->cli.st, r->cfd[i], &got, 1, 0) == 1)
			stage = got == v ? 2 : -1;
	}
	uint64_t d = cpu_clock_ns() - t0;
	return stage == 2 ? (d ? d : 1) : 0;
}

/* endpoints: TCBs the run will hold; harness: other bytes it needs. */
static int check_budget(long n, double endpoints, double harness)
{
	double est = getenv("C10M_EST_BYTES") ? atof(getenv("C10M_EST_BYTES")) : 1200.0;
	double max_gb = getenv("C10M_MAX_GB") ? atof(getenv("C10M_MAX_GB")) : 12.0;
	double need = est * endpoints + harness + 512e6;
	double avail = (double)proc_kb("/proc/meminfo", "MemAvailable");
	fprintf(stderr, "c10m: %ld connections, projected %.2f GiB at %.0f B per endpoint; MemAvailable %.2f GiB\n", n,
		need / 1073741824.0, est, avail / 1073741824.0);
	if (need > max_gb * 1073741824.0 || need > avail - 2.0 * 1073741824.0) {
		fprintf(stderr, "c10m: refusing: over C10M_MAX_GB=%.1f or MemAvailable less 2 GiB "
				"(set C10M_EST_BYTES to a measured figure if lower)\n", max_gb);
		return -1;
	}
	struct rlimit rl = {.rlim_cur = (rlim_t)((max_gb + 2.0) * 1073741824.0),
			    .rlim_max = (rlim_t)((max_gb + 2.0) * 1073741824.0)};
	setrlimit(RLIMIT_AS, &rl);
	return 0;
}

/* Both ends full tern stacks. */
static int run_full(long n, int sample)
{
	if (check_budget(n, 2.0 * (double)n, 0) < 0)
		return 3;
	struct run r = {.n = n, .now = 1000000000ull};
	struct tern_config cc = {.name = "c10m-client", .seed = 1, .now = r.now};
	struct tern_config cs = {.name = "c10m-server", .seed = 2, .now = r.now};
	r.cli.st = tern_stack_new(&cc);
	r.srv.st = tern_stack_new(&cs);
	struct tn_dev *dc, *ds;
	if (!r.cli.st || !r.srv.st || tn_memlink_pair("c10m-c", "c10m-s", TN_DEV_L2, 1500, 4096, &dc, &ds) < 0)
		return 1;
	int ic = tern_dev_attach(r.cli.st, dc), is = tern_dev_attach(r.srv.st, ds);
	if (ic < 0 || is < 0 || tern_addr_add(r.srv.st, is, ADDR_SRV, 24) < 0)
		return 1;
	for (int i = 0; i < NADDR; i++)
		if (tern_addr_add(r.cli.st, ic, ADDR_CLI0 + (uint32_t)i, 24) < 0)
			return 1;
	r.nlisten = (int)((n + PER_SPORT - 1) / PER_SPORT);
	for (int k = 0; k < r.nlisten; k++) {
		struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(SPORT0 + k))};
		r.lfd[k] = tern_socket(r.srv.st, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (r.lfd[k] < 0 || tern_bind(r.srv.st, r.lfd[k], (struct sockaddr *)&any, sizeof(any)) < 0 ||
		    tern_listen(r.srv.st, r.lfd[k], 4096) < 0)
			return 1;
	}
	/* The application's own arrays, touched before the baseline. */
	r.cfd = malloc((size_t)n * sizeof(int));
	r.sfd = malloc((size_t)n * sizeof(int));
	if (!r.cfd || !r.sfd)
		return 1;
	memset(r.cfd, 0xff, (size_t)n * sizeof(int));
	memset(r.sfd, 0xff, (size_t)n * sizeof(int));
	/* Warm-up: ARP and what one batch of handshakes touches once. */
	{
		struct run w = r;
		w.n = BATCH;
		if (open_batch(&w, 0, BATCH) < 0)
			return 1;
		for (long i = 0; i < BATCH; i++)
			tern_close(r.cli.st, w.cfd[i]), tern_close(r.srv.st, w.sfd[i]), w.cfd[i] = w.sfd[i] = -1;
		settle(&w);
		w.now += 70 * 1000000000ull; /* TIME-WAIT */
		settle(&w);
		r.now = w.now;
		if (r.cli.st->tcp.count + r.srv.st->tcp.count) {
			fprintf(stderr, "c10m: warm-up left %u TCBs\n", r.cli.st->tcp.count + r.srv.st->tcp.count);
			return 1;
		}
	}
	malloc_trim(0);
	long long rss0 = proc_kb("/proc/self/status", "VmRSS"), heap0 = heap_bytes();
	struct acct ac0 = account(r.cli.st), as0 = account(r.srv.st);
	uint64_t c0 = cpu_clock_ns(), v0 = r.now;
	for (long i = 0; i < n; i += BATCH)
		if (open_batch(&r, i, i + BATCH <= n ? BATCH : n - i) < 0)
			return 1;
	uint64_t setup_cpu = cpu_clock_ns() - c0, setup_virt = r.now - v0;
	settle(&r);
	long long rss1 = proc_kb("/proc/self/status", "VmRSS"), heap1 = heap_bytes();
	struct acct ac1 = account(r.cli.st), as1 = account(r.srv.st);
	int64_t est_c = tern_stat(r.cli.st, "TcpCurrEstab"), est_s = tern_stat(r.srv.st, "TcpCurrEstab");
	unsigned long long timers_idle = r.cli.st->wheel.count + r.srv.st->wheel.count;
	if (est_c != n || est_s != n || r.accepted != n)
		r.errors++;
	double ep = 2.0 * (double)n;
	double acct_cli = (double)(acct_total(&ac1) - acct_total(&ac0)) / (double)n;
	double acct_srv = (double)(acct_total(&as1) - acct_total(&as0)) / (double)n;

	/* Ping-pong on a random sample, one connection at a time. */
	uint64_t seed = 88172645463325252ull, pp_sum = 0, pp_max = 0;
	long pp_fail = 0;
	for (int k = 0; k < sample; k++) {
		long i = (long)(xorshift(&seed) % (uint64_t)n);
		uint64_t d = ping_pong(&r, i, (uint8_t)(k + 1));
		if (!d)
			pp_fail++;
		pp_sum += d;
		pp_max = d > pp_max ? d : pp_max;
	}
	settle(&r);
	long long rss2 = proc_kb("/proc/self/status", "VmRSS"), heap2 = heap_bytes();
	struct acct ac2 = account(r.cli.st), as2 = account(r.srv.st);
	int64_t est_c2 = tern_stat(r.cli.st, "TcpCurrEstab"), est_s2 = tern_stat(r.srv.st, "TcpCurrEstab");

	/* Teardown: the client closes (FIN), the server reads EOF and closes. */
	uint64_t c1 = cpu_clock_ns();
	long eof_bad = 0;
	for (long i = 0; i < n; i += BATCH) {
		long end = i + BATCH <= n ? i + BATCH : n;
		for (long j = i; j < end; j++)
			tern_close(r.cli.st, r.cfd[j]);
		for (int k = 0; k < 4; k++)
			round_(&r);
		for (long j = i; j < end; j++) {
			uint8_t b;
			if (tern_recv(r.srv.st, r.sfd[j], &b, 1, 0) != 0)
				eof_bad++;
			tern_close(r.srv.st, r.sfd[j]);
		}
		while (round_(&r))
			;
	}
	settle(&r);
	r.now += 61 * 1000000000ull; /* TIME-WAIT */
	settle(&r);
	for (int k = 0; k < r.nlisten; k++)
		tern_close(r.srv.st, r.lfd[k]);
	uint64_t down_cpu = cpu_clock_ns() - c1;
	unsigned left = r.cli.st->tcp.count + r.srv.st->tcp.count;
	unsigned bufs = tern_pool_in_use(r.cli.st) + tern_pool_in_use(r.srv.st);
	long long heap3 = heap_bytes();
	if (pp_fail || eof_bad || left || bufs || est_c2 != n || est_s2 != n)
		r.errors++;

	printf("c10m connections=%ld established=%lld/%lld errors=%ld client_addrs=%d server_ports=%d "
	       "setup_cpu_s=%.2f setup_per_cpu_s=%.0f setup_virtual_s=%.3f "
	       "rss_per_endpoint=%.0f heap_per_endpoint=%.0f heap_client=%.0f heap_server=%.0f "
	       "acct_client=%.0f acct_server=%.0f sizeof_tcb=%zu sizeof_sock=%zu rss_total_mb=%.0f "
	       "pingpong_sample=%d pingpong_fail=%ld pingpong_mean_us=%.1f pingpong_max_us=%.1f "
	       "after_traffic_rss_per_endpoint=%.0f after_traffic_heap_per_endpoint=%.0f "
	       "after_traffic_snd_rings=%lu after_traffic_txq=%lu after_traffic_bufs=%llu "
	       "timers_armed_idle=%llu teardown_cpu_s=%.2f eof_bad=%ld left_tcbs=%u left_bufs=%u heap_left_per_endpoint=%.1f\n",
	       n, (long long)est_c, (long long)est_s, r.errors, NADDR, r.nlisten, (double)setup_cpu / 1e9,
	       (double)n / ((double)setup_cpu / 1e9), (double)setup_virt / 1e9, (double)(rss1 - rss0) / ep,
	       (double)(heap1 - heap0) / ep, (double)r.cli.heap / (double)n, (double)r.srv.heap / (double)n, acct_cli,
	       acct_srv, sizeof(struct tn_tcb), sizeof(struct tn_sock), (double)rss1 / 1048576.0, sample, pp_fail,
	       sample ? (double)pp_sum / sample / 1e3 : 0.0, (double)pp_max / 1e3, (double)(rss2 - rss0) / ep,
	       (double)(heap2 - heap0) / ep, ac2.with_snd + as2.with_snd, ac2.with_txq + as2.with_txq,
	       (unsigned long long)(ac2.bufs + as2.bufs), timers_idle, (double)down_cpu / 1e9, eof_bad, left, bufs,
	       (double)(heap3 - heap0) / ep);
	tern_stack_free(r.cli.st);
	tern_stack_free(r.srv.st);
	free(r.cfd);
	free(r.sfd);
	return r.errors ? 1 : 0;
}

/* ---- light mode: a tern server against the light client ----
 *
 * The server is a full tern stack (listener, handshakes, accept, TCBs,
 * sockets, an echo application): what is measured.  The clients are
 * bench/light_client.h on the other end of a raw-IP memlink, 8 bytes per
 * connection, from addresses 198.19.1.1 on (64,512 ports each) that the
 * server reaches through one on-link route, so the server's table holds N
 * connections of N distinct 4-tuples on one listening port. */
#define L_SRV 0xc6120001u   /* 198.18.0.1 */
#define L_CLI0 0xc6130101u  /* 198.19.1.1 */
#define L_PORT 80

struct lrun {
	struct light_client lc;
	struct tn_stack *srv;
	uint64_t now;
	int lfd;
	int *sfd;
	long n, accepted, errors;
	uint64_t cpu_srv, cpu_cli, cpu_mark; /* process CPU split by who ran */
};

/* Charge the CPU since the last mark to *bucket. */
static void lap(struct lrun *r, uint64_t *bucket)
{
	uint64_t t = cpu_clock_ns();
	*bucket += t - r->cpu_mark;
	r->cpu_mark = t;
}

static unsigned light_round(struct lrun *r, uint64_t tick)
{
	r->now += tick;
	unsigned a = lc_poll(&r->lc);
	lap(r, &r->cpu_cli);
	unsigned b = tern_poll(r->srv, r->now);
	lap(r, &r->cpu_srv);
	return a + b;
}

static void light_settle(struct lrun *r)
{
	for (int k = 0; k < 3; k++) {
		while (light_round(r, TICK))
			;
		for (int i = 0; i < 30; i++)
			light_round(r, 10 * 1000000ull);
	}
}

static void light_accept(struct lrun *r)
{
	struct sockaddr_in peer;
	socklen_t pl = sizeof(peer);
	int a;
	while ((a = tern_accept(r->srv, r->lfd, (struct sockaddr *)&peer, &pl)) >= 0) {
		long i = lc_index(&r->lc, ntohl(peer.sin_addr.s_addr), ntohs(peer.sin_port));
		if (i < 0 || r->sfd[i] >= 0)
			r->errors++;
		else
			r->sfd[i] = a;
		r->accepted++;
		pl = sizeof(peer);
	}
	lap(r, &r->cpu_srv);
}

/* Open [first, first + count); the SYNs go again after a virtual second
 * without progress (the server may drop a SYN: a full accept queue). */
static int light_open_batch(struct lrun *r, long first, long count)
{
	long target = r->accepted + count;
	for (long i = first; i < first + count; i++)
		lc_connect(&r->lc, i);
	lap(r, &r->cpu_cli);
	for (int rounds = 1; r->accepted < target; rounds++) {
		if (rounds > 100000) {
			fprintf(stderr, "c10m: stalled at %ld accepted of %ld\n", r->accepted, target);
			return -1;
		}
		light_round(r, TICK);
		light_accept(r);
		if (rounds % 10000 == 0)
			for (long i = first; i < first + count; i++)
				lc_resend_syn(&r->lc, i);
	}
	return 0;
}

/* The client closes [first, end) with a FIN; the server application reads
 * EOF on each and closes; both FINs must be through.  Returns the count
 * that did not go that way. */
static long light_close_range(struct lrun *r, long first, long end)
{
	long left = end - first, bad = 0;
	for (long j = first; j < end; j++)
		lc_close(&r->lc, j);
	lap(r, &r->cpu_cli);
	for (int rounds = 0; left && rounds < 10000; rounds++) {
		light_round(r, TICK);
		for (long j = first; j < end; j++) {
			uint8_t b;
			if (r->sfd[j] < 0)
				continue;
			ssize_t got = tern_recv(r->srv, r->sfd[j], &b, 1, 0);
			if (got < 0 && errno == EAGAIN)
				continue;
			bad += got != 0; /* anything but EOF */
			tern_close(r->srv, r->sfd[j]);
			r->sfd[j] = -1;
			left--;
		}
		lap(r, &r->cpu_srv);
	}
	while (light_round(r, TICK))
		;
	for (long j = first; j < end; j++)
		bad += !lc_closed(&r->lc, j);
	return bad + left;
}

/* One byte from the client on connection i, echoed by the server
 * application; the client checks the echo's sequence numbers and value.
 * CPU ns (process, and the server's share in *srv), or 0 on failure. */
static uint64_t light_request(struct lrun *r, long i, uint64_t *srv)
{
	uint64_t t0 = cpu_clock_ns(), s0 = r->cpu_srv;
	r->cpu_mark = t0;
	if (!lc_send(&r->lc, i, 1))
		return 0;
	uint8_t want = lc_byte(i, r->lc.conn[i].sent - 1u), got;
	int stage = 0;
	for (int rounds = 0; rounds < 1000 && stage < 2; rounds++) {
		light_round(r, TICK);
		if (stage == 0 && tern_recv(r->srv, r->sfd[i], &got, 1, 0) == 1) {
			if (got != want || tern_send(r->srv, r->sfd[i], &got, 1, 0) != 1)
				return 0;
			stage = 1;
		}
		lap(r, &r->cpu_srv);
		if (stage == 1 && lc_echoed(&r->lc, i))
			stage = 2;
	}
	uint64_t d = cpu_clock_ns() - t0;
	*srv = r->cpu_srv - s0;
	return stage == 2 ? (d ? d : 1) : 0;
}

static int light_server(struct lrun *r, struct tn_dev **client_end, int ka_idle)
{
	struct tern_config cs = {.name = "c10m-server", .seed = 2, .now = r->now};
	struct tn_dev *ds;
	r->srv = tern_stack_new(&cs);
	if (!r->srv || tn_memlink_pair("c10m-c", "c10m-s", TN_DEV_L3, 1500, 4096, client_end, &ds) < 0)
		return -1;
	int is = tern_dev_attach(r->srv, ds), one = 1, intvl = 10, cnt = 3;
	struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons(L_PORT)};
	if (is < 0 || tern_addr_add(r->srv, is, L_SRV, 24) < 0 || tern_route_add(r->srv, 0xc6130000u, 16, 0, is, 0) < 0)
		return -1;
	/* Accepted connections inherit the listener's keepalive settings. */
	r->lfd = tern_socket(r->srv, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (r->lfd < 0 || tern_bind(r->srv, r->lfd, (struct sockaddr *)&any, sizeof(any)) < 0 ||
	    tern_setsockopt(r->srv, r->lfd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) < 0 ||
	    tern_setsockopt(r->srv, r->lfd, IPPROTO_TCP, TCP_KEEPIDLE, &ka_idle, sizeof(ka_idle)) < 0 ||
	    tern_setsockopt(r->srv, r->lfd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)) < 0 ||
	    tern_setsockopt(r->srv, r->lfd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) < 0 ||
	    tern_listen(r->srv, r->lfd, 4096) < 0)
		return -1;
	return 0;
}

/* Open and close one batch first: what a handshake touches once (pool
 * buffers, the memlink's slots, the first hash-table growth) goes into
 * the baseline.  The client's connection slots are reused with new ISNs. */
static int light_warm_up(struct lrun *r)
{
	long w = r->n < BATCH ? r->n : BATCH;
	if (light_open_batch(r, 0, w) < 0 || light_close_range(r, 0, w))
		return -1;
	light_settle(r);
	memset(r->lc.conn, 0, (size_t)w * sizeof(r->lc.conn[0]));
	r->lc.key++;
	r->accepted = 0;
	if (r->srv->tcp.count) {
		fprintf(stderr, "c10m: warm-up left %u TCBs\n", r->srv->tcp.count);
		return -1;
	}
	return 0;
}

static int run_light(long n, int sample)
{
	int ka_idle = getenv("C10M_KA_IDLE") ? atoi(getenv("C10M_KA_IDLE")) : 30;
	if (check_budget(n, (double)n, (double)n * (sizeof(struct lc_conn) + sizeof(int))) < 0)
		return 3;
	struct lrun r = {.n = n, .now = 1000000000ull};
	struct tn_dev *dc;
	if (light_server(&r, &dc, ka_idle) < 0)
		return 1;
	/* The harness's own arrays, touched before the baseline. */
	struct lc_conn *conn = malloc((size_t)n * sizeof(*conn));
	r.sfd = malloc((size_t)n * sizeof(int));
	if (!conn || !r.sfd || lc_init(&r.lc, dc, conn, n, L_SRV, L_PORT, L_CLI0) < 0)
		return 1;
	memset(r.sfd, 0xff, (size_t)n * sizeof(int));
	r.cpu_mark = cpu_clock_ns();
	if (light_warm_up(&r) < 0)
		return 1;
	malloc_trim(0);
	long long rss0 = proc_kb("/proc/self/status", "VmRSS"), heap0 = heap_bytes();
	struct acct a0 = account(r.srv);

	/* Setup. */
	uint64_t c0 = cpu_clock_ns(), v0 = r.now;
	r.cpu_srv = r.cpu_cli = 0, r.cpu_mark = c0;
	for (long i = 0; i < n; i += BATCH)
		if (light_open_batch(&r, i, i + BATCH <= n ? BATCH : n - i) < 0)
			return 1;
	uint64_t setup_cpu = cpu_clock_ns() - c0, setup_srv = r.cpu_srv, setup_cli = r.cpu_cli, setup_virt = r.now - v0;
	light_settle(&r);
	long long rss1 = proc_kb("/proc/self/status", "VmRSS"), heap1 = heap_bytes();
	struct acct a1 = account(r.srv);
	int64_t est = tern_stat(r.srv, "TcpCurrEstab");
	unsigned long long timers_idle = r.srv->wheel.count;
	long open = 0;
	for (long i = 0; i < n; i++)
		open += lc_open(&r.lc, i);
	if (est != n || r.accepted != n || open != n)
		r.errors++;

	/* Small requests on a random sample, one connection at a time. */
	uint64_t seed = 88172645463325252ull, pp_sum = 0, pp_max = 0, pp_srv = 0;
	long pp_fail = 0;
	for (int k = 0; k < sample; k++) {
		long i = (long)(xorshift(&seed) % (uint64_t)n);
		uint64_t srv = 0, d = light_request(&r, i, &srv);
		pp_fail += !d;
		pp_sum += d, pp_srv += srv;
		pp_max = d > pp_max ? d : pp_max;
	}
	light_settle(&r);
	long long rss2 = proc_kb("/proc/self/status", "VmRSS");
	struct acct a2 = account(r.srv);

	/* Keepalive: two idle periods of virtual time, every connection probed
	 * (twice) and answering; none may be dropped. */
	int64_t ka0 = tern_stat(r.srv, "TcpExtTCPKeepAlive"), ab0 = tern_stat(r.srv, "TcpExtTCPAbortOnTimeout");
	uint64_t lka0 = r.lc.st.keepalive_probes, k0 = cpu_clock_ns(), ks0 = r.cpu_srv;
	r.cpu_mark = k0;
	for (uint64_t end = r.now + 2ull * (uint64_t)ka_idle * 1000000000ull; r.now < end;)
		light_round(&r, TICK);
	light_settle(&r);
	uint64_t ka_cpu = cpu_clock_ns() - k0, ka_srv = r.cpu_srv - ks0;
	int64_t ka_probes = tern_stat(r.srv, "TcpExtTCPKeepAlive") - ka0;
	int64_t ka_aborts = tern_stat(r.srv, "TcpExtTCPAbortOnTimeout") - ab0;
	uint64_t ka_answered = r.lc.st.keepalive_probes - lka0;
	int64_t est2 = tern_stat(r.srv, "TcpCurrEstab");
	if (ka_aborts || est2 != n || (uint64_t)ka_probes != ka_answered || ka_probes < 2 * n - n / 100 ||
	    ka_probes > 2 * n + n / 100)
		r.errors++;

	/* Teardown. */
	uint64_t d0 = cpu_clock_ns(), ds0 = r.cpu_srv;
	r.cpu_mark = d0;
	long close_bad = 0;
	for (long i = 0; i < n; i += BATCH)
		close_bad += light_close_range(&r, i, i + BATCH <= n ? i + BATCH : n);
	light_settle(&r);
	tern_close(r.srv, r.lfd);
	light_settle(&r);
	uint64_t down_cpu = cpu_clock_ns() - d0, down_srv = r.cpu_srv - ds0;
	unsigned left = r.srv->tcp.count, bufs = tern_pool_in_use(r.srv);
	int64_t retrans = tern_stat(r.srv, "TcpRetransSegs"), csum_err = tern_stat(r.srv, "TcpInCsumErrors");
	if (pp_fail || close_bad || left || bufs || csum_err || lc_faults(&r.lc))
		r.errors++;

	const struct lc_stats *ls = &r.lc.st;
	printf("c10m-light connections=%ld established=%lld client_open=%ld errors=%ld client_addrs=%ld server_ports=1 "
	       "setup_cpu_s=%.2f setup_server_cpu_s=%.2f setup_client_cpu_s=%.2f setup_per_cpu_s=%.0f "
	       "setup_per_server_cpu_s=%.0f setup_virtual_s=%.3f "
	       "rss_per_conn=%.0f heap_per_conn=%.0f acct_per_conn=%.0f sizeof_tcb=%zu sizeof_sock=%zu "
	       "client_state_bytes_per_conn=%zu rss_total_mb=%.0f timers_armed_idle=%llu "
	       "request_sample=%d request_fail=%ld request_mean_us=%.1f request_max_us=%.1f request_server_mean_us=%.1f "
	       "after_traffic_rss_per_conn=%.0f after_traffic_snd_rings=%lu after_traffic_txq=%lu "
	       "keepalive_idle_s=%d keepalive_probes=%lld keepalive_answered=%llu keepalive_aborts=%lld "
	       "keepalive_cpu_s=%.2f keepalive_server_cpu_s=%.2f keepalive_server_us_per_probe=%.2f "
	       "teardown_cpu_s=%.2f teardown_server_cpu_s=%.2f close_bad=%ld left_tcbs=%u left_bufs=%u "
	       "retrans_segs=%lld client_faults=%llu client_dup_in=%llu client_frames_in=%llu\n",
	       n, (long long)est, open, r.errors, (n + LC_NPORTS - 1) / LC_NPORTS,
	       (double)setup_cpu / 1e9,
	       (double)setup_srv / 1e9, (double)setup_cli / 1e9, (double)n / ((double)setup_cpu / 1e9),
	       (double)n / ((double)setup_srv / 1e9), (double)setup_virt / 1e9, (double)(rss1 - rss0) / (double)n,
	       (double)(heap1 - heap0) / (double)n, (double)(acct_total(&a1) - acct_total(&a0)) / (double)n,
	       sizeof(struct tn_tcb), sizeof(struct tn_sock), sizeof(struct lc_conn),
	       (double)rss1 / 1048576.0, timers_idle, sample, pp_fail, sample ? (double)pp_sum / sample / 1e3 : 0.0,
	       (double)pp_max / 1e3, sample ? (double)pp_srv / sample / 1e3 : 0.0, (double)(rss2 - rss0) / (double)n,
	       a2.with_snd, a2.with_txq, ka_idle, (long long)ka_probes, (unsigned long long)ka_answered,
	       (long long)ka_aborts, (double)ka_cpu / 1e9, (double)ka_srv / 1e9,
	       ka_probes ? (double)ka_srv / (double)ka_probes / 1e3 : 0.0, (double)down_cpu / 1e9,
	       (double)down_srv / 1e9, close_bad, left, bufs, (long long)retrans, (unsigned long long)lc_faults(&r.lc),
	       (unsigned long long)ls->dup_in, (unsigned long long)ls->frames_in);
	lc_destroy(&r.lc);
	tern_stack_free(r.srv);
	free(conn);
	free(r.sfd);
	return r.errors ? 1 : 0;
}

int main(int argc, char **argv)
{
	bool light = argc > 1 && strcmp(argv[1], "--light") == 0;
	int a = light ? 2 : 1;
	long n = argc > a ? atol(argv[a]) : 100000;
	int sample = argc > a + 1 ? atoi(argv[a + 1]) : 1000;
	long max = light ? 100000000 : 64 * PER_SPORT;
	if (n < 1 || n > max || sample < 0 || sample > n) {
		fprintf(stderr, "usage: c10m [--light] N [SAMPLE]   (N in 1..%ld)\n", max);
		return 2;
	}
	return light ? run_light(n, sample) : run_full(n, sample);
}
