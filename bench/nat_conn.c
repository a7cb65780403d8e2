/* New connections per second through a NAT gateway (MASQUERADE) and the
 * memory one conntrack entry costs: tern, and the pieces of the same
 * benchmark run on Linux by bench/nat_conn.sh.
 *
 * One connection: A connects to a listener on B through R, which
 * masquerades A's address (`-t nat -A POSTROUTING -o <R's B side> -j
 * MASQUERADE`); B accepts and closes at once (FIN); A, seeing the end of
 * stream, closes with SO_LINGER {1, 0}, a RST, so neither end keeps a
 * TIME-WAIT.  R's conntrack entry goes SYN_SENT, SYN_RECV, ESTABLISHED
 * (ASSURED), FIN_WAIT, CLOSE_WAIT and ends in CLOSE on the RST, where it
 * stays nf_conntrack_tcp_timeout_close (10 s); a SYN reusing its tuple
 * replaces it (a reopened connection), as Linux.  INFLIGHT connections run
 * at once; A opens a new one as soon as one ends.  B has no route back to
 * A: nothing completes unless R translates.
 *
 *   nat_conn tern SECONDS [INFLIGHT]   three stacks A - R - B on memlinks,
 *       one thread (all three share the core): prints cps (connections
 *       completed per second of wall time), per_cpu_cps (per second of the
 *       process's CPU time), router_ns (wall time in R's poll per
 *       connection: the gateway's own cost) and router_cpu_ns (that scaled
 *       by the process's CPU share: for a shared core), nat_new (the
 *       MASQUERADE rule's packet counter: new NAT mappings), R's conntrack
 *       counters over the run (entries created, inserted, dropped) and the
 *       states its entries are in at the end.  With `plain` after
 *       INFLIGHT: the same without NAT (no rule, so no conntrack; B routes
 *       back through R), printed as tern-plain: what NAT costs.
 *   nat_conn tern-mem FLOWS            the same three stacks; A sends one
 *       UDP datagram per flow (distinct source port / destination port
 *       pairs) through R; prints R's conntrack entries, the heap growth
 *       (mallinfo2 uordblks + hblkhd) per entry, sizeof(struct tn_ct) and
 *       the whole table's bytes (tn_ct_memory: entries' chunks, buckets)
 *       per entry.
 *   nat_conn server SECONDS            Linux, in B: accept and close.
 *   nat_conn client SECONDS [INFLIGHT] Linux, in A: the same connection
 *       loop against 198.18.2.1, non-blocking sockets and epoll.
 *   nat_conn linux-mem FLOWS NS_A NS_R Linux: UDP sockets made in
 *       namespace NS_A, the rest done in NS_R (ip netns names); the same
 *       flows as tern-mem; prints R's nf_conntrack_count growth, the growth
 *       of /proc/meminfo's Slab and of /proc/slabinfo's caches per entry,
 *       and the nf_conntrack cache's object size. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
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
#include "filter/conntrack.h"
#include "filter/ct_int.h"
#include "filter/ipt.h"
#include "link/dev.h"
#include "tern/tern.h"
#include "bench_util.h"

#define PORT 8080
#define ADDR_A 0xc6120101u  /* 198.18.1.1 */
#define ADDR_RA 0xc61201feu /* 198.18.1.254 */
#define ADDR_RB 0xc61202feu /* 198.18.2.254 */
#define ADDR_B 0xc6120201u  /* 198.18.2.1 */
#define MAXEV 256
#define PORTS_PER_SOCK 60000 /* destination ports 1..60000 per source port */

/* ---- one end's socket calls: a tern stack's, or the kernel's ---- */

struct end {
	struct tn_stack *st; /* NULL: the kernel */
	int epfd;
};

static int e_socket(struct end *e, int type)
{
	return e->st ? tern_socket(e->st, AF_INET, type, 0) : socket(AF_INET, type | SOCK_NONBLOCK, 0);
}
static int e_setsockopt(struct end *e, int fd, int level, int name, const void *v, socklen_t len)
{
	return e->st ? tern_setsockopt(e->st, fd, level, name, v, len) : setsockopt(fd, level, name, v, len);
}
static int e_close(struct end *e, int fd) { return e->st ? tern_close(e->st, fd) : close(fd); }
static int e_ctl(struct end *e, int op, int fd, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.fd = fd};
	return e->st ? tern_epoll_ctl(e->st, e->epfd, op, fd, &ev) : epoll_ctl(e->epfd, op, fd, &ev);
}
static int e_wait(struct end *e, struct epoll_event *evs, int max, int timeout_ms)
{
	return e->st ? tern_epoll_wait(e->st, e->epfd, evs, max) : epoll_wait(e->epfd, evs, max, timeout_ms);
}

/* ---- the connection loop's two halves, the same for both ---- */

struct client {
	struct end e;
	struct sockaddr_in dst;
	int inflight, open;
	uint64_t done, errors;
};

static int client_open(struct client *c)
{
	struct end *e = &c->e;
	int fd = e_socket(e, SOCK_STREAM);
	if (fd < 0)
		return -1;
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	int rc = e_setsockopt(e, fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	if (rc == 0)
		rc = e->st ? tern_connect(e->st, fd, (struct sockaddr *)&c->dst, sizeof(c->dst))
			   : connect(fd, (struct sockaddr *)&c->dst, sizeof(c->dst));
	if ((rc < 0 && errno != EINPROGRESS) || e_ctl(e, EPOLL_CTL_ADD, fd, EPOLLIN) < 0) {
		e_close(e, fd);
		return -1;
	}
	c->open++;
	return 0;
}

/* A connection ends when B's FIN arrives (recv returns 0): that one
 * counts; a reset or a refused connect is an error. */
static void client_events(struct client *c, int timeout_ms)
{
	struct epoll_event evs[MAXEV];
	int n = e_wait(&c->e, evs, MAXEV, timeout_ms);
	for (int i = 0; i < n; i++) {
		int fd = evs[i].data.fd;
		char buf[64];
		ssize_t k = c->e.st ? tern_recv(c->e.st, fd, buf, sizeof(buf), 0) : recv(fd, buf, sizeof(buf), 0);
		if (k < 0 && errno == EAGAIN)
			continue;
		if (k == 0)
			c->done++;
		else
			c->errors++;
		e_close(&c->e, fd); /* SO_LINGER 0: RST */
		c->open--;
	}
}

static void client_refill(struct client *c)
{
	while (c->open < c->inflight)
		if (client_open(c) < 0) {
			c->errors++;
			break;
		}
}

struct server {
	struct end e;
	int lfd;
	uint64_t accepted;
};

static int server_listen(struct server *v, uint32_t addr)
{
	struct end *e = &v->e;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(PORT), .sin_addr.s_addr = htonl(addr)};
	int one = 1;
	v->lfd = e_socket(e, SOCK_STREAM);
	if (v->lfd < 0 || e_setsockopt(e, v->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return -1;
	int rc = e->st ? tern_bind(e->st, v->lfd, (struct sockaddr *)&sa, sizeof(sa)) : bind(v->lfd, (struct sockaddr *)&sa, sizeof(sa));
	if (rc == 0)
		rc = e->st ? tern_listen(e->st, v->lfd, 4096) : listen(v->lfd, 4096);
	if (rc < 0)
		return -1;
	e->epfd = e->st ? tern_epoll_create(e->st) : epoll_create1(0);
	return e->epfd < 0 || e_ctl(e, EPOLL_CTL_ADD, v->lfd, EPOLLIN) < 0 ? -1 : 0;
}

static void server_events(struct server *v, int timeout_ms)
{
	struct epoll_event evs[4];
	if (e_wait(&v->e, evs, 4, timeout_ms) <= 0)
		return;
	int fd;
	while ((fd = v->e.st ? tern_accept(v->e.st, v->lfd, NULL, NULL) : accept4(v->lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
		v->accepted++;
		e_close(&v->e, fd); /* FIN */
	}
}

/* ---- tern: A - R - B ---- */

struct net {
	struct tn_stack *a, *r, *b;
	int ia, ib;
};

/* One `iptables ...` line on stack s; its output in out (may be NULL). */
static int run_ipt(struct tn_stack *s, const char *line, char *out, size_t cap)
{
	char buf[256], *argv[32], err[1024];
	if (!out) {
		out = err;
		cap = sizeof(err);
	}
	snprintf(buf, sizeof(buf), "%s", line);
	int argc = 0;
	for (char *p = strtok(buf, " "); p && argc < 32; p = strtok(NULL, " "))
		argv[argc++] = p;
	FILE *f = fmemopen(out, cap, "w");
	if (!f)
		return -1;
	int rc = tn_ipt_run(s, argc, argv, NULL, 0, f);
	fclose(f);
	if (rc)
		fprintf(stderr, "nat_conn: %s: %s\n", line, out);
	return rc;
}

/* Packets the MASQUERADE rule has seen: the nat table is consulted for a
 * connection's first packet only, so this counts new NAT mappings. */
static uint64_t masq_packets(struct tn_stack *r)
{
	char out[2048];
	if (run_ipt(r, "iptables -t nat -L POSTROUTING -n -v -x", out, sizeof(out)))
		return 0;
	for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n"))
		if (strstr(l, "MASQUERADE"))
			return strtoull(l, NULL, 10);
	return 0;
}

/* nat: R masquerades and B has no route to A; without, R only forwards
 * (no rule, so no conntrack) and B routes back through it. */
static int setup(struct net *n, bool nat)
{
	uint64_t t = now_ns();
	struct tern_config ca = {.name = "natc-a", .seed = 1, .now = t}, cr = {.name = "natc-r", .seed = 2, .now = t},
			   cb = {.name = "natc-b", .seed = 3, .now = t};
	n->a = tern_stack_new(&ca);
	n->r = tern_stack_new(&cr);
	n->b = tern_stack_new(&cb);
	struct tn_dev *da, *dra, *drb, *db;
	if (!n->a || !n->r || !n->b || tn_memlink_pair("natc-a0", "natc-ra", TN_DEV_L2, 1500, 4096, &da, &dra) < 0 ||
	    tn_memlink_pair("natc-rb", "natc-b0", TN_DEV_L2, 1500, 4096, &drb, &db) < 0)
		return -1;
	n->ia = tern_dev_attach(n->a, da);
	n->ib = tern_dev_attach(n->b, db);
	int ira = tern_dev_attach(n->r, dra), irb = tern_dev_attach(n->r, drb);
	if (n->ia < 0 || ira < 0 || irb < 0 || n->ib < 0 || tern_addr_add(n->a, n->ia, ADDR_A, 24) < 0 ||
	    tern_addr_add(n->r, ira, ADDR_RA, 24) < 0 || tern_addr_add(n->r, irb, ADDR_RB, 24) < 0 ||
	    tern_addr_add(n->b, n->ib, ADDR_B, 24) < 0 || tern_route_add(n->a, 0, 0, ADDR_RA, n->ia, 0) < 0 ||
	    tern_sysctl_set(n->r, "net.ipv4.ip_forward", "1") < 0)
		return -1;
	if (!nat)
		return tern_route_add(n->b, 0, 0, ADDR_RB, n->ib, 0);
	return run_ipt(n->r, "iptables -t nat -A POSTROUTING -o natc-rb -j MASQUERADE", NULL, 0);
}

static void net_free(struct net *n)
{
	tern_stack_free(n->a);
	tern_stack_free(n->r);
	tern_stack_free(n->b);
}

struct state_count {
	uint32_t n[TN_CT_TCP_NSTATES];
};

static void count_state(void *ctx, struct tn_ct *e)
{
	struct state_count *c = ctx;
	if (e->proto == 6 && e->state < TN_CT_TCP_NSTATES)
		c->n[e->state]++;
}

/* "CLOSE:123,TIME_WAIT:4": the TCP states R's entries are in. */
static void states(struct tn_stack *r, char *buf, size_t cap)
{
	struct state_count c = {{0}};
	tn_ct_foreach(r, count_state, &c);
	size_t len = 0;
	buf[0] = 0;
	for (int i = 0; i < TN_CT_TCP_NSTATES; i++)
		if (c.n[i] && len < cap)
			len += (size_t)snprintf(buf + len, cap - len, "%s%s:%u", len ? "," : "", tn_ct_tcp_state_names[i], c.n[i]);
	if (!len)
		snprintf(buf, cap, "none");
}

static uint64_t tern_loop(struct net *n, struct client *c, struct server *v, uint64_t until, bool refill)
{
	uint64_t r_ns = 0, now = now_ns();
	while (now < until) {
		if (refill)
			client_refill(c);
		tern_poll(n->a, now);
		client_events(c, 0);
		uint64_t t1 = now_ns();
		tern_poll(n->r, t1);
		uint64_t t2 = now_ns();
		tern_poll(n->b, t2);
		server_events(v, 0);
		r_ns += t2 - t1;
		now = now_ns();
	}
	return r_ns;
}

static void pump(struct net *n, int rounds)
{
	for (int i = 0; i < rounds; i++) {
		uint64_t t = now_ns();
		tern_poll(n->a, t);
		tern_poll(n->r, t);
		tern_poll(n->b, t);
	}
}

static int bench_tern(double secs, int inflight, bool nat)
{
	struct net n = {0};
	struct client c = {.e.st = NULL, .inflight = inflight};
	struct server v = {0};
	if (setup(&n, nat) < 0)
		goto fail;
	c.e.st = n.a;
	v.e.st = n.b;
	c.dst = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(PORT), .sin_addr.s_addr = htonl(ADDR_B)};
	if (server_listen(&v, ADDR_B) < 0 || (c.e.epfd = tern_epoll_create(n.a)) < 0)
		goto fail;
	uint64_t dur = (uint64_t)(secs * 1e9);
	tern_loop(&n, &c, &v, now_ns() + dur / 10, true); /* warm-up: ARP, caches */
	static const struct tn_ct_stats none;
	const struct tn_ct_stats s0 = nat ? n.r->ct->stats : none;
	uint64_t masq0 = nat ? masq_packets(n.r) : 0;
	uint64_t done0 = c.done, err0 = c.errors, acc0 = v.accepted, cpu0 = cpu_ns(), start = now_ns();
	uint64_t r_ns = tern_loop(&n, &c, &v, start + dur, true);
	uint64_t wall = now_ns() - start, cpu = cpu_ns() - cpu0;
	const struct tn_ct_stats s1 = nat ? n.r->ct->stats : none;
	uint64_t masq1 = nat ? masq_packets(n.r) : 0;
	uint64_t done = c.done - done0;
	/* Let the connections in flight end, then see what R holds. */
	for (uint64_t t = now_ns(), stop = t + 1000000000ull; c.open && t < stop; t = now_ns())
		tern_loop(&n, &c, &v, t + 1000000ull, false);
	pump(&n, 20); /* the last RSTs through R, however little the loop above ran */
	char st[256];
	states(n.r, st, sizeof(st));
	/* The time in R's poll is wall time: on a shared core it includes
	 * time the process was not running.  Scaled by the process's share
	 * of the core over the run, it estimates R's CPU. */
	double share = (double)cpu / (double)wall;
	printf("%s cps=%.0f per_cpu_cps=%.0f router_ns=%.0f router_cpu_ns=%.0f done=%llu errors=%llu accepted=%llu inflight=%d wall_s=%.3f cpu=%.3f "
	       "nat_new=%llu ct_new=%llu ct_insert=%llu ct_drop=%llu ct_invalid=%llu ct_count=%u ct_states=%s left_open=%d\n",
	       nat ? "tern" : "tern-plain", (double)done * 1e9 / (double)wall, cpu ? (double)done * 1e9 / (double)cpu : 0.0,
	       done ? (double)r_ns / (double)done : 0.0, done ? (double)r_ns * (share < 1 ? share : 1) / (double)done : 0.0,
	       (unsigned long long)done,
	       (unsigned long long)(c.errors - err0), (unsigned long long)(v.accepted - acc0), inflight,
	       (double)wall / 1e9, share, (unsigned long long)(masq1 - masq0),
	       (unsigned long long)(s1.new_ - s0.new_),
	       (unsigned long long)(s1.insert - s0.insert), (unsigned long long)(s1.drop - s0.drop),
	       (unsigned long long)(s1.invalid - s0.invalid), tn_ct_count(n.r), st, c.open);
	net_free(&n);
	return done ? 0 : 1;
fail:
	fprintf(stderr, "nat_conn tern: setup failed: %s\n", strerror(errno));
	return 1;
}

/* The flows of the memory measurement: socket i / PORTS_PER_SOCK (its own
 * source port), destination port 1 + i % PORTS_PER_SOCK. */
static int nsocks(long flows) { return (int)((flows + PORTS_PER_SOCK - 1) / PORTS_PER_SOCK); }

static int bench_tern_mem(long flows)
{
	struct net n = {0};
	int ns = nsocks(flows), *fd = calloc((size_t)ns, sizeof(int));
	if (!fd || setup(&n, true) < 0)
		goto fail;
	for (int i = 0; i < ns; i++)
		if ((fd[i] = tern_socket(n.a, AF_INET, SOCK_DGRAM, 0)) < 0)
			goto fail;
	char msg[32] = "nat_conn";
	/* Warm up: ARP both ways, the sockets' ports bound, the conntrack
	 * table made; those flows are not counted. */
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(65000), .sin_addr.s_addr = htonl(ADDR_B)};
	for (int i = 0; i < ns; i++)
		tern_sendto(n.a, fd[i], msg, sizeof(msg), 0, (struct sockaddr *)&to, sizeof(to));
	pump(&n, 100);
	uint32_t c0 = tn_ct_count(n.r);
	size_t h0 = heap_bytes(), t0 = tn_ct_memory(n.r);
	uint64_t start = now_ns();
	for (long i = 0; i < flows;) {
		for (int k = 0; k < 256 && i < flows; k++, i++) {
			to.sin_port = htons((uint16_t)(1 + i % PORTS_PER_SOCK));
			tern_sendto(n.a, fd[i / PORTS_PER_SOCK], msg, sizeof(msg), 0, (struct sockaddr *)&to, sizeof(to));
		}
		pump(&n, 2);
	}
	pump(&n, 100);
	double fill_s = (double)(now_ns() - start) / 1e9;
	uint32_t entries = tn_ct_count(n.r) - c0;
	size_t h1 = heap_bytes(), t1 = tn_ct_memory(n.r);
	size_t nb = (size_t)n.r->ct->hmask + 1;
	printf("tern-mem flows=%ld entries=%u heap_per_entry=%.1f sizeof_entry=%zu table_per_entry=%.1f "
	       "table_growth_per_entry=%.1f buckets=%zu bucket_bytes=%zu heap_growth=%zu fill_s=%.2f ct_drop=%llu\n",
	       flows, entries, entries ? (double)(h1 - h0) / entries : 0.0, sizeof(struct tn_ct),
	       tn_ct_count(n.r) ? (double)t1 / tn_ct_count(n.r) : 0.0, entries ? (double)(t1 - t0) / entries : 0.0, nb,
	       nb * sizeof(uint32_t), h1 - h0, fill_s, (unsigned long long)n.r->ct->stats.drop);
	net_free(&n);
	free(fd);
	return entries ? 0 : 1;
fail:
	fprintf(stderr, "nat_conn tern-mem: setup failed\n");
	free(fd);
	return 1;
}

/* ---- Linux halves ---- */

static int linux_server(double secs)
{
	struct server v = {0};
	if (server_listen(&v, INADDR_ANY) < 0) {
		perror("nat_conn server");
		return 1;
	}
	for (uint64_t end = now_ns() + (uint64_t)(secs * 1e9); now_ns() < end;)
		server_events(&v, 100);
	printf("accepted=%llu\n", (unsigned long long)v.accepted);
	return 0;
}

static int linux_client(double secs, int inflight)
{
	struct client c = {.inflight = inflight};
	c.dst = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(PORT), .sin_addr.s_addr = htonl(ADDR_B)};
	if ((c.e.epfd = epoll_create1(0)) < 0) {
		perror("nat_conn client");
		return 1;
	}
	uint64_t dur = (uint64_t)(secs * 1e9);
	for (uint64_t end = now_ns() + dur / 10; now_ns() < end;) {
		client_refill(&c);
		client_events(&c, 1);
	}
	uint64_t done0 = c.done, err0 = c.errors, cpu0 = cpu_ns(), start = now_ns();
	for (uint64_t end = start + dur; now_ns() < end;) {
		client_refill(&c);
		client_events(&c, 1);
	}
	uint64_t wall = now_ns() - start, cpu = cpu_ns() - cpu0, done = c.done - done0;
	printf("cps=%.0f done=%llu errors=%llu inflight=%d wall_s=%.3f client_cpu=%.3f\n", (double)done * 1e9 / (double)wall,
	       (unsigned long long)done, (unsigned long long)(c.errors - err0), inflight, (double)wall / 1e9,
	       (double)cpu / (double)wall);
	return done ? 0 : 1;
}

static int enter_ns(const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "/run/netns/%s", name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = fd < 0 ? -1 : setns(fd, CLONE_NEWNET);
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		fprintf(stderr, "nat_conn: netns %s: %s\n", name, strerror(errno));
	return rc;
}

static long read_long(const char *path, const char *key)
{
	FILE *f = fopen(path, "r");
	char line[256];
	long v = -1;
	size_t kl = key ? strlen(key) : 0;
	while (f && fgets(line, sizeof(line), f))
		if (!key || (strncmp(line, key, kl) == 0 && line[kl] == ':')) {
			v = strtol(line + (key ? kl + 1 : 0), NULL, 10);
			break;
		}
	if (f)
		fclose(f);
	return v;
}

#define MAXC 400
struct slab_cache {
	char name[64];
	long long bytes; /* num_objs * objsize */
	long objsize;
};

static int slabinfo(struct slab_cache *out, int max)
{
	FILE *f = fopen("/proc/slabinfo", "r");
	char line[512];
	int n = 0;
	while (f && n < max && fgets(line, sizeof(line), f)) {
		long active, num, size;
		if (sscanf(line, "%63s %ld %ld %ld", out[n].name, &active, &num, &size) == 4) {
			out[n].bytes = (long long)num * size;
			out[n].objsize = size;
			n++;
		}
	}
	if (f)
		fclose(f);
	return n;
}

static const struct slab_cache *find_cache(const struct slab_cache *c, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(c[i].name, name))
			return &c[i];
	return NULL;
}

/* The three caches that grew the most, "name:bytes_per_entry,...". */
static void top_growth(const struct slab_cache *b, int nb, const struct slab_cache *a, int na, long entries, char *buf,
		       size_t cap)
{
	long long best[3] = {0};
	const char *name[3] = {0};
	for (int i = 0; i < na; i++) {
		const struct slab_cache *p = find_cache(b, nb, a[i].name);
		long long d = a[i].bytes - (p ? p->bytes : 0);
		for (int k = 0; k < 3; k++)
			if (d > best[k]) {
				for (int j = 2; j > k; j--) {
					best[j] = best[j - 1];
					name[j] = name[j - 1];
				}
				best[k] = d;
				name[k] = a[i].name;
				break;
			}
	}
	size_t len = 0;
	buf[0] = 0;
	for (int k = 0; k < 3 && name[k] && len < cap; k++)
		len += (size_t)snprintf(buf + len, cap - len, "%s%s:%.0f", k ? "," : "", name[k], (double)best[k] / (double)entries);
}

/* Slab growth per entry, with every R-side entry made in the one window:
 * the UDP sockets are made in A first (their slab memory before the first
 * snapshot), then the process moves to R to read the counts. */
static int linux_mem(long flows, const char *ns_a, const char *ns_r)
{
	int ns = nsocks(flows), *fd = calloc((size_t)ns, sizeof(int));
	if (!fd || enter_ns(ns_a) < 0)
		return 1;
	char msg[32] = "nat_conn";
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(65000), .sin_addr.s_addr = htonl(ADDR_B)};
	for (int i = 0; i < ns; i++)
		if ((fd[i] = socket(AF_INET, SOCK_DGRAM, 0)) < 0 ||
		    sendto(fd[i], msg, sizeof(msg), 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
			perror("nat_conn linux-mem");
			return 1;
		}
	if (enter_ns(ns_r) < 0)
		return 1;
	const char *cnt = "/proc/sys/net/netfilter/nf_conntrack_count";
	usleep(200000);
	static struct slab_cache before[MAXC], after[MAXC];
	long c0 = read_long(cnt, NULL);
	long slab0 = read_long("/proc/meminfo", "Slab"), free0 = read_long("/proc/meminfo", "MemFree");
	int nb = slabinfo(before, MAXC);
	uint64_t start = now_ns();
	for (long i = 0; i < flows; i++) {
		to.sin_port = htons((uint16_t)(1 + i % PORTS_PER_SOCK));
		while (sendto(fd[i / PORTS_PER_SOCK], msg, sizeof(msg), 0, (struct sockaddr *)&to, sizeof(to)) < 0 &&
		       errno == ENOBUFS)
			usleep(100);
		if (i % 64 == 63)
			sched_yield(); /* let the veth's softirq keep up: its backlog is 1000 */
	}
	usleep(500000);
	double fill_s = (double)(now_ns() - start) / 1e9;
	long c1 = read_long(cnt, NULL);
	long slab1 = read_long("/proc/meminfo", "Slab"), free1 = read_long("/proc/meminfo", "MemFree");
	int na = slabinfo(after, MAXC);
	long entries = c1 - c0;
	const struct slab_cache *cb = find_cache(before, nb, "nf_conntrack"), *ca = find_cache(after, na, "nf_conntrack");
	char top[256] = "";
	if (entries > 0)
		top_growth(before, nb, after, na, entries, top, sizeof(top));
	long long slabsum0 = 0, slabsum1 = 0;
	for (int i = 0; i < nb; i++)
		slabsum0 += before[i].bytes;
	for (int i = 0; i < na; i++)
		slabsum1 += after[i].bytes;
	printf("linux-mem flows=%ld entries=%ld slab_per_entry=%.1f slabinfo_per_entry=%.1f memfree_drop_per_entry=%.1f "
	       "nf_conntrack_objsize=%ld nf_conntrack_cache_per_entry=%.1f buckets=%ld fill_s=%.2f top_caches=%s\n",
	       flows, entries, entries > 0 ? (double)(slab1 - slab0) * 1024 / (double)entries : 0.0,
	       entries > 0 ? (double)(slabsum1 - slabsum0) / (double)entries : 0.0,
	       entries > 0 ? (double)(free0 - free1) * 1024 / (double)entries : 0.0, ca ? ca->objsize : -1,
	       entries > 0 && ca ? (double)(ca->bytes - (cb ? cb->bytes : 0)) / (double)entries : 0.0,
	       read_long("/proc/sys/net/netfilter/nf_conntrack_buckets", NULL), fill_s, top[0] ? top : "none");
	for (int i = 0; i < ns; i++)
		close(fd[i]);
	free(fd);
	return entries > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *cmd = argc >= 2 ? argv[1] : "";
	double secs = argc >= 3 ? atof(argv[2]) : 0;
	int inflight = argc >= 4 ? atoi(argv[3]) : 64;
	if (inflight < 1 || inflight > 4096)
		inflight = 64;
	if (!strcmp(cmd, "tern") && secs > 0)
		return bench_tern(secs, inflight, !(argc >= 5 && !strcmp(argv[4], "plain")));
	if (!strcmp(cmd, "tern-mem") && argc >= 3 && atol(argv[2]) > 0)
		return bench_tern_mem(atol(argv[2]));
	if (!strcmp(cmd, "server") && secs > 0)
		return linux_server(secs);
	if (!strcmp(cmd, "client") && secs > 0)
		return linux_client(secs, inflight);
	if (!strcmp(cmd, "linux-mem") && argc >= 5 && atol(argv[2]) > 0)
		return linux_mem(atol(argv[2]), argv[3], argv[4]);
	fprintf(stderr, "usage: nat_conn tern SECONDS [INFLIGHT [plain]] | tern-mem FLOWS | server SECONDS | "
			"client SECONDS [INFLIGHT] | linux-mem FLOWS NS_A NS_R\n");
	return 2;
}
