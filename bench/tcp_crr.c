/* TCP connections per second (connect, request, response, close) on one
 * core: tern against the Linux kernel running the same loop.
 *
 * One transaction: the client opens a connection, sends a 64-byte request
 * when it is connected, reads the 64-byte response and closes with
 * SO_LINGER {1, 0}, which resets the connection (RST) instead of a FIN, so
 * neither end keeps a TIME-WAIT entry and ports are never exhausted.  The
 * server accepts, reads the request, writes the response and closes (FIN);
 * the client's RST then ends the server's half-closed connection.
 * INFLIGHT transactions run at once: the client opens a new connection as
 * soon as one finishes.
 *
 * Both modes run the same loop in one thread, one epoll instance per end
 * (client and server), level-triggered, polled without blocking:
 *   tern:   two stacks joined by a memlink (Ethernet, MTU 1500) on the
 *           real clock; each iteration polls the client stack, handles
 *           the client's events, polls the server stack, handles the
 *           server's.
 *   kernel: non-blocking sockets over 127.0.0.1, epoll_wait with timeout
 *           0; the kernel's loopback does the rest inside the calls.
 *
 * Counts transactions whose response came back intact (length and the
 * request's sequence number echoed) per second of wall time; run pinned
 * (taskset) so the one thread has one core, and cpu= shows how much of it
 * the process used.
 *
 * THREADS > 1 runs that many loops at once, each on a thread pinned to its
 * own CPU with stacks (or a listener) of its own, as tern's per-core
 * stacks are, and sums them: does the rate scale with the cores when
 * nothing else wants them?
 *
 *   tcp_crr tern|kernel [SECONDS] [INFLIGHT] [THREADS]
 *   prints: MODE cps=F per_core_cps=F done=N errors=N bad=N ...
 *   (THREADS > 1: a line per thread, then MODE threads=N cps=SUM)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/stack.h"
#include "link/dev.h"
#include "tern/tern.h"
#include "bench_util.h"

#define MSG 64
#define PORT 8080
#define ADDR_A 0xc6120001u /* 198.18.0.1: the benchmarking range */
#define ADDR_B 0xc6120002u
#define MAXEV 256

/* ---- the socket calls of one end: tern's on a stack, or the kernel's ---- */

struct end {
	struct tn_stack *st; /* NULL: the kernel */
	int epfd;
};

static int e_socket(struct end *e)
{
	return e->st ? tern_socket(e->st, AF_INET, SOCK_STREAM, 0) : socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
}
static int e_setsockopt(struct end *e, int fd, int level, int name, const void *v, socklen_t len)
{
	return e->st ? tern_setsockopt(e->st, fd, level, name, v, len) : setsockopt(fd, level, name, v, len);
}
static int e_bind(struct end *e, int fd, const struct sockaddr_in *sa)
{
	return e->st ? tern_bind(e->st, fd, (const struct sockaddr *)sa, sizeof(*sa))
		     : bind(fd, (const struct sockaddr *)sa, sizeof(*sa));
}
static int e_listen(struct end *e, int fd, int backlog) { return e->st ? tern_listen(e->st, fd, backlog) : listen(fd, backlog); }
static int e_connect(struct end *e, int fd, const struct sockaddr_in *sa)
{
	return e->st ? tern_connect(e->st, fd, (const struct sockaddr *)sa, sizeof(*sa))
		     : connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
}
static int e_accept(struct end *e, int fd)
{
	return e->st ? tern_accept(e->st, fd, NULL, NULL) : accept4(fd, NULL, NULL, SOCK_NONBLOCK);
}
static ssize_t e_send(struct end *e, int fd, const void *b, size_t n)
{
	return e->st ? tern_send(e->st, fd, b, n, 0) : send(fd, b, n, MSG_NOSIGNAL);
}
static ssize_t e_recv(struct end *e, int fd, void *b, size_t n) { return e->st ? tern_recv(e->st, fd, b, n, 0) : recv(fd, b, n, 0); }
static int e_close(struct end *e, int fd) { return e->st ? tern_close(e->st, fd) : close(fd); }
static int e_epoll_create(struct end *e) { return e->st ? tern_epoll_create(e->st) : epoll_create1(0); }
static int e_ctl(struct end *e, int op, int fd, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.fd = fd};
	return e->st ? tern_epoll_ctl(e->st, e->epfd, op, fd, &ev) : epoll_ctl(e->epfd, op, fd, &ev);
}
static int e_wait(struct end *e, struct epoll_event *evs, int max)
{
	return e->st ? tern_epoll_wait(e->st, e->epfd, evs, max) : epoll_wait(e->epfd, evs, max, 0);
}

/* ---- the transaction loop, the same for both ---- */

enum { C_FREE, C_CONNECTING, C_WAITING };

struct crr {
	struct end cli, srv;
	struct sockaddr_in dst;
	int lfd;
	int inflight, open;
	uint8_t *state;    /* client fd -> C_* */
	uint64_t *seq;     /* client fd -> request sequence number */
	int nstate;
	uint64_t next_seq;
	uint64_t done, errors, bad, srv_errors;
	void (*poll)(struct crr *c, struct end *e, uint64_t now);
};

static int grow(struct crr *c, int fd)
{
	if (fd < c->nstate)
		return 0;
	int n = c->nstate ? c->nstate : 1024;
	while (n <= fd)
		n *= 2;
	uint8_t *st = realloc(c->state, (size_t)n);
	uint64_t *sq = realloc(c->seq, (size_t)n * sizeof(*sq));
	if (!st || !sq) {
		free(st ? st : c->state);
		free(sq ? sq : c->seq);
		c->state = NULL;
		c->seq = NULL;
		return -1;
	}
	memset(st + c->nstate, C_FREE, (size_t)(n - c->nstate));
	c->state = st;
	c->seq = sq;
	c->nstate = n;
	return 0;
}

static int client_open(struct crr *c)
{
	struct end *e = &c->cli;
	int fd = e_socket(e);
	if (fd < 0 || grow(c, fd) < 0)
		return -1;
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	if (e_setsockopt(e, fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0 ||
	    (e_connect(e, fd, &c->dst) < 0 && errno != EINPROGRESS) || e_ctl(e, EPOLL_CTL_ADD, fd, EPOLLOUT) < 0) {
		e_close(e, fd);
		return -1;
	}
	c->state[fd] = C_CONNECTING;
	c->open++;
	return 0;
}

static void client_finish(struct crr *c, int fd, bool ok)
{
	e_close(&c->cli, fd); /* SO_LINGER 0: RST */
	c->state[fd] = C_FREE;
	c->open--;
	if (ok)
		c->done++;
	else
		c->errors++;
}

static void client_events(struct crr *c)
{
	struct epoll_event evs[MAXEV];
	int n = e_wait(&c->cli, evs, MAXEV);
	for (int i = 0; i < n; i++) {
		int fd = evs[i].data.fd;
		char buf[MSG * 2];
		if (c->state[fd] == C_CONNECTING) {
			if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
				client_finish(c, fd, false);
				continue;
			}
			uint64_t seq = c->next_seq++;
			memset(buf, 'q', MSG);
			memcpy(buf, &seq, sizeof(seq));
			if (e_send(&c->cli, fd, buf, MSG) != MSG || e_ctl(&c->cli, EPOLL_CTL_MOD, fd, EPOLLIN) < 0) {
				client_finish(c, fd, false);
				continue;
			}
			c->seq[fd] = seq;
			c->state[fd] = C_WAITING;
		} else if (c->state[fd] == C_WAITING) {
			ssize_t k = e_recv(&c->cli, fd, buf, sizeof(buf));
			if (k < 0 && errno == EAGAIN)
				continue;
			uint64_t got = 0;
			if (k >= 8)
				memcpy(&got, buf, sizeof(got));
			if (k == MSG && got != c->seq[fd])
				c->bad++;
			/* Our 64 bytes come in one segment on both stacks; a short
			 * read would count as an error, not be waited for. */
			client_finish(c, fd, k == MSG);
		}
	}
}

static void server_events(struct crr *c)
{
	struct epoll_event evs[MAXEV];
	struct end *e = &c->srv;
	int n = e_wait(e, evs, MAXEV);
	for (int i = 0; i < n; i++) {
		int fd = evs[i].data.fd;
		if (fd == c->lfd) {
			int a;
			while ((a = e_accept(e, c->lfd)) >= 0)
				if (e_ctl(e, EPOLL_CTL_ADD, a, EPOLLIN) < 0)
					e_close(e, a);
			continue;
		}
		char buf[MSG * 2];
		ssize_t k = e_recv(e, fd, buf, sizeof(buf));
		if (k < 0 && errno == EAGAIN)
			continue;
		if (k == MSG) {
			memset(buf + 8, 'r', MSG - 8); /* echo the sequence number */
			if (e_send(e, fd, buf, MSG) != MSG)
				c->srv_errors++;
		} else {
			c->srv_errors++;
		}
		e_close(e, fd); /* FIN after the response */
	}
}

static void run_loop(struct crr *c, uint64_t until, bool refill)
{
	uint64_t now = now_ns();
	while (now < until) {
		while (refill && c->open < c->inflight)
			if (client_open(c) < 0) {
				c->errors++;
				break;
			}
		c->poll(c, &c->cli, now);
		client_events(c);
		c->poll(c, &c->srv, now);
		server_events(c);
		now = now_ns();
	}
}

static int setup_listener(struct crr *c, uint32_t addr, uint16_t port)
{
	struct end *e = &c->srv;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(addr)};
	int one = 1;
	c->lfd = e_socket(e);
	if (c->lfd < 0 || e_setsockopt(e, c->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    e_bind(e, c->lfd, &sa) < 0 || e_listen(e, c->lfd, 4096) < 0)
		return -1;
	if ((c->cli.epfd = e_epoll_create(&c->cli)) < 0 || (c->srv.epfd = e_epoll_create(e)) < 0 ||
	    e_ctl(e, EPOLL_CTL_ADD, c->lfd, EPOLLIN) < 0)
		return -1;
	c->dst = sa;
	return 0;
}

static void tern_poll_end(struct crr *c, struct end *e, uint64_t now)
{
	(void)c;
	tern_poll(e->st, now);
}

static void kernel_poll_end(struct crr *c, struct end *e, uint64_t now)
{
	(void)c;
	(void)e;
	(void)now;
}

/* /proc/net/sockstat's "TCP: inuse N orphan N tw N": TIME-WAIT count. */
static long kernel_tw(void)
{
	FILE *f = fopen("/proc/net/sockstat", "r");
	char line[256];
	long tw = -1;
	while (f && fgets(line, sizeof(line), f)) {
		char *p = strstr(line, " tw ");
		if (strncmp(line, "TCP:", 4) == 0 && p)
			tw = strtol(p + 4, NULL, 10);
	}
	if (f)
		fclose(f);
	return tw;
}

/* One loop of the benchmark: its own pair of stacks (tern) or its own
 * listener (the kernel), on whichever CPU it runs on. */
struct job {
	bool tern;
	double secs;
	int inflight, idx, nthreads, cpu; /* cpu < 0: not pinned */
	double cps;                        /* out */
	int rc;
};

static int run_job(struct job *j)
{
	const char *mode = j->tern ? "tern" : "kernel";
	struct crr c = {.inflight = j->inflight};
	struct tn_stack *a = NULL, *b = NULL;
	uint32_t server_addr = INADDR_LOOPBACK;
	if (j->tern) {
		uint64_t t = now_ns();
		char na[32], nb[32];
		snprintf(na, sizeof(na), "crr-a%d", j->idx);
		snprintf(nb, sizeof(nb), "crr-b%d", j->idx);
		struct tern_config ca = {.name = "crr-client", .seed = 1 + 2 * (uint64_t)j->idx, .now = t};
		struct tern_config cb = {.name = "crr-server", .seed = 2 + 2 * (uint64_t)j->idx, .now = t};
		struct tn_dev *da, *db;
		a = tern_stack_new(&ca);
		b = tern_stack_new(&cb);
		if (!a || !b || tn_memlink_pair(na, nb, TN_DEV_L2, 1500, 4096, &da, &db) < 0)
			return 1;
		int ia = tern_dev_attach(a, da), ib = tern_dev_attach(b, db);
		if (ia < 0 || ib < 0 || tern_addr_add(a, ia, ADDR_A, 24) < 0 || tern_addr_add(b, ib, ADDR_B, 24) < 0)
			return 1;
		c.cli.st = a;
		c.srv.st = b;
		c.poll = tern_poll_end;
		server_addr = ADDR_B;
	} else {
		c.poll = kernel_poll_end;
	}
	if (setup_listener(&c, server_addr, (uint16_t)(PORT + j->idx)) < 0) {
		fprintf(stderr, "tcp_crr %s: setup failed: %s\n", mode, strerror(errno));
		return 1;
	}
	long tw0 = j->tern ? 0 : kernel_tw();
	uint64_t duration = (uint64_t)(j->secs * 1e9);
	run_loop(&c, now_ns() + duration / 10, true); /* warm-up: ARP, caches; not counted */
	uint64_t done0 = c.done, err0 = c.errors, bad0 = c.bad, srv0 = c.srv_errors;
	uint64_t c0 = rusage_cpu_ns(RUSAGE_THREAD), start = now_ns();
	run_loop(&c, start + duration, true);
	uint64_t wall = now_ns() - start, cpu = rusage_cpu_ns(RUSAGE_THREAD) - c0;
	uint64_t done = c.done - done0;
	/* Let the transactions in flight finish (no new ones) and check that
	 * nothing is left behind: no connection, no packet buffer. */
	for (uint64_t t = now_ns(), stop = t + 1000000000ull; t < stop; t = now_ns()) {
		run_loop(&c, t + 1000000ull, false);
		if (c.open == 0 && (!j->tern || a->tcp.count + b->tcp.count == 0))
			break;
	}
	char extra[256], thr[48] = "";
	if (j->tern)
		snprintf(extra, sizeof(extra),
			 "left_open=%d left_tcbs=%u left_bufs=%u client_retrans=%lld server_retrans=%lld", c.open,
			 a->tcp.count + b->tcp.count, tern_pool_in_use(a) + tern_pool_in_use(b),
			 (long long)tern_stat(a, "TcpRetransSegs"), (long long)tern_stat(b, "TcpRetransSegs"));
	else
		snprintf(extra, sizeof(extra), "left_open=%d timewait_before=%ld timewait_after=%ld", c.open, tw0,
			 kernel_tw());
	if (j->nthreads > 1)
		snprintf(thr, sizeof(thr), "thread=%d/%d cpu_id=%d ", j->idx, j->nthreads, j->cpu);
	j->cps = (double)done * 1e9 / (double)wall;
	printf("%s %scps=%.0f per_core_cps=%.0f done=%llu errors=%llu bad=%llu server_errors=%llu inflight=%d "
	       "wall_s=%.3f cpu_s=%.3f cpu=%.3f close=rst(SO_LINGER 0) %s\n",
	       mode, thr, j->cps, cpu ? (double)done * 1e9 / (double)cpu : 0.0, (unsigned long long)done,
	       (unsigned long long)(c.errors - err0), (unsigned long long)(c.bad - bad0),
	       (unsigned long long)(c.srv_errors - srv0), j->inflight, (double)wall / 1e9, (double)cpu / 1e9,
	       (double)cpu / (double)wall, extra);
	if (a)
		tern_stack_free(a);
	if (b)
		tern_stack_free(b);
	free(c.state);
	free(c.seq);
	return done ? 0 : 1;
}

static void *job_main(void *arg)
{
	struct job *j = arg;
	if (j->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(j->cpu, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	j->rc = run_job(j);
	return NULL;
}

/* THREADS > 1: that many loops at once, loop i pinned to CPU i (mod the
 * CPUs online), each with stacks (or a listener) of its own, as tern's
 * per-core stacks are; the last line sums them. */
int main(int argc, char **argv)
{
	bool tern = argc >= 2 && strcmp(argv[1], "tern") == 0;
	if (argc < 2 || (!tern && strcmp(argv[1], "kernel") != 0)) {
		fprintf(stderr, "usage: tcp_crr tern|kernel [SECONDS] [INFLIGHT] [THREADS]\n");
		return 2;
	}
	double secs = argc > 2 ? atof(argv[2]) : 5.0;
	int inflight = argc > 3 ? atoi(argv[3]) : 64;
	int nthreads = argc > 4 ? atoi(argv[4]) : 1;
	if (!(secs > 0 && secs < 3600) || inflight < 1 || inflight > 4096 || nthreads < 1 || nthreads > 64) {
		fprintf(stderr, "tcp_crr: SECONDS in (0, 3600), INFLIGHT in 1..4096, THREADS in 1..64\n");
		return 2;
	}
	if (nthreads == 1) {
		struct job j = {.tern = tern, .secs = secs, .inflight = inflight, .nthreads = 1, .cpu = -1};
		return run_job(&j);
	}
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct job jobs[64];
	pthread_t th[64];
	for (int i = 0; i < nthreads; i++) {
		jobs[i] = (struct job){.tern = tern, .secs = secs, .inflight = inflight, .idx = i, .nthreads = nthreads,
				       .cpu = (int)(i % (ncpu > 0 ? ncpu : 1))};
		if (pthread_create(&th[i], NULL, job_main, &jobs[i]) != 0)
			return 1;
	}
	double sum = 0;
	int rc = 0;
	for (int i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		sum += jobs[i].cps;
		rc |= jobs[i].rc;
	}
	printf("%s threads=%d cps=%.0f\n", argv[1], nthreads, sum);
	return rc;
}
