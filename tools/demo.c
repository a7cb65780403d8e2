/* `tern demo`: three tern stacks on in-memory links, on a virtual clock.
 *
 *   alice 198.18.1.2 ---- 198.18.1.1 router 198.18.2.1 ~~~~ 198.18.2.2 bob
 *                 clean link                 lossy, slow link
 *
 * Alice pings Bob through the router (small and fragmenting pings), sends
 * UDP datagrams to Bob's echo service and fetches a megabyte from Bob's
 * HTTP server over TCP; then every stack's counters tell what happened on
 * the way. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "link/dev.h"
#include "app/httpd.h"
#include "core/sha256.h"
#include "tools.h"

#define MS 1000000ull
#define SEC 1000000000ull

struct demo {
	struct tn_stack *alice, *router, *bob;
	struct tn_dev *lossy_rb, *lossy_br; /* fault decorators on the router--bob link */
	int bob_echo;
	struct tn_httpd *bob_http;
	uint64_t now;
};

static void bob_echo_service(struct demo *d)
{
	char buf[65536];
	struct sockaddr_in from;
	for (;;) {
		socklen_t fl = sizeof(from);
		ssize_t n = tern_recvfrom(d->bob, d->bob_echo, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (n < 0)
			return;
		tern_sendto(d->bob, d->bob_echo, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
	}
}

/* Run the three stacks until `until`, or until alice's socket `watch_fd`
 * (if >= 0) has something to read, so replies are timed when they land. */
static void demo_run_watch(struct demo *d, uint64_t until, int watch_fd)
{
	struct tn_stack *all[3] = {d->alice, d->router, d->bob};
	while (d->now <= until) {
		unsigned work;
		do {
			work = 0;
			for (int i = 0; i < 3; i++)
				work += tern_poll(all[i], d->now);
			bob_echo_service(d);
			if (d->bob_http)
				work += tn_httpd_step(d->bob_http);
		} while (work);
		if (watch_fd >= 0 && (tern_sock_events(d->alice, watch_fd) & POLLIN))
			return;
		uint64_t next = until + 1;
		for (int i = 0; i < 3; i++) {
			uint64_t t = tern_poll_at(all[i]);
			if (t < next)
				next = t;
		}
		if (next <= d->now)
			next = d->now + 1;
		d->now = next;
	}
	d->now = until;
}

static void demo_run(struct demo *d, uint64_t until) { demo_run_watch(d, until, -1); }

static int link_stacks(struct tn_stack *a, struct tn_stack *b, const char *na, const char *nb,
		       const struct tn_fault_cfg *fault, struct tn_dev **fa, struct tn_dev **fb,
		       int *ia, int *ib)
{
	struct tn_dev *da, *db;
	if (tn_memlink_pair(na, nb, TN_DEV_L2, 1500, 1024, &da, &db) < 0)
		return -1;
	if (fault) {
		struct tn_fault_cfg fcfg = *fault;
		da = tn_fault_new(da, &fcfg);
		fcfg.seed++;
		db = tn_fault_new(db, &fcfg);
		*fa = da;
		*fb = db;
	}
	*ia = tern_dev_attach(a, da);
	*ib = tern_dev_attach(b, db);
	return (*ia > 0 && *ib > 0) ? 0 : -1;
}

static int demo_setup(struct demo *d, uint64_t seed)
{
	struct tern_config cfg = {.now = 1 * SEC, .seed = seed, .name = "alice"};
	d->now = cfg.now;
	d->alice = tern_stack_new(&cfg);
	cfg.name = "router";
	cfg.seed = seed + 1;
	d->router = tern_stack_new(&cfg);
	cfg.name = "bob";
	cfg.seed = seed + 2;
	d->bob = tern_stack_new(&cfg);
	if (!d->alice || !d->router || !d->bob)
		return -1;
	int a0, r0, r1, b0;
	struct tn_fault_cfg lossy = {.delay_ns = 25 * MS, .jitter_ns = 2 * MS, .loss = 0.03, .duplicate = 0.01,
				     .seed = seed + 7};
	if (link_stacks(d->alice, d->router, "alice0", "router0", NULL, NULL, NULL, &a0, &r0) < 0 ||
	    link_stacks(d->router, d->bob, "router1", "bob0", &lossy, &d->lossy_rb, &d->lossy_br, &r1, &b0) < 0)
		return -1;
	uint32_t ip;
	parse_ip("198.18.1.2", &ip), tern_addr_add(d->alice, a0, ip, 24);
	parse_ip("198.18.1.1", &ip), tern_addr_add(d->router, r0, ip, 24);
	parse_ip("198.18.2.1", &ip), tern_addr_add(d->router, r1, ip, 24);
	parse_ip("198.18.2.2", &ip), tern_addr_add(d->bob, b0, ip, 24);
	parse_ip("198.18.1.1", &ip), tern_route_add(d->alice, 0, 0, ip, 0, 0);
	parse_ip("198.18.2.1", &ip), tern_route_add(d->bob, 0, 0, ip, 0, 0);
	tern_sysctl_set(d->router, "net.ipv4.ip_forward", "1");
	d->bob_echo = tern_socket(d->bob, AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in echo = {.sin_family = AF_INET, .sin_port = htons(7)};
	return tern_bind(d->bob, d->bob_echo, (struct sockaddr *)&echo, sizeof(echo));
}

static void demo_ping(struct demo *d, int count, int size)
{
	struct ping_session p;
	uint32_t bob;
	parse_ip("198.18.2.2", &bob);
	ping_start(&p, d->alice, bob, count, 1 * SEC, size, stdout, d->now);
	p.timeout_ns = 2 * SEC;
	for (;;) {
		uint64_t next = ping_step(&p, d->now);
		if (p.done)
			break;
		demo_run_watch(d, next > d->now ? next : d->now + MS, p.fd);
	}
	ping_finish(&p, d->now);
	ping_free(&p);
}

/* Alice sends datagrams of many sizes (some fragment) to Bob's echo port
 * and counts intact echoes. */
static void demo_udp(struct demo *d, int count)
{
	int fd = tern_socket(d->alice, AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in bob = {.sin_family = AF_INET, .sin_port = htons(7)};
	uint32_t ip;
	parse_ip("198.18.2.2", &ip);
	bob.sin_addr.s_addr = htonl(ip);
	tern_connect(d->alice, fd, (struct sockaddr *)&bob, sizeof(bob));
	static const int sizes[] = {64, 512, 1400, 1472, 2000, 4000, 8000};
	int echoed = 0, bad = 0;
	long bytes_sent = 0;
	uint8_t buf[8192], back[8192];
	for (int i = 0; i < count; i++) {
		int len = sizes[i % 7];
		for (int k = 0; k < len; k++)
			buf[k] = (uint8_t)(i * 31 + k);
		if (tern_send(d->alice, fd, buf, (size_t)len, 0) == len)
			bytes_sent += len;
		demo_run(d, d->now + 10 * MS);
		ssize_t n;
		while ((n = tern_recv(d->alice, fd, back, sizeof(back), 0)) > 0) {
			int j = back[0] == (uint8_t)(i * 31) ? i : -1; /* echoes may arrive late */
			(void)j;
			echoed++;
			for (ssize_t k = 1; k < n; k++)
				if ((uint8_t)(back[k] - back[k - 1]) != 1) {
					bad++;
					break;
				}
		}
	}
	demo_run(d, d->now + 1 * SEC);
	while (tern_recv(d->alice, fd, back, sizeof(back), 0) > 0)
		echoed++;
	printf("  %d datagrams (%ld bytes, sizes 64..8000) sent to bob's echo port, %d echoed back intact, %d corrupted\n",
	       count, bytes_sent, echoed - bad, bad);
	printf("  (a datagram is lost if any of its fragments is lost on the way there or back)\n");
	tern_close(d->alice, fd);
}

static int64_t st(struct tn_stack *s, const char *n) { return tern_stat(s, n); }

struct fetched {
	uint64_t bytes;
	struct tn_sha256 sha;
};

static int take_body(void *ctx, const void *data, size_t len)
{
	struct fetched *f = ctx;
	tn_sha256_update(&f->sha, data, len);
	f->bytes += len;
	return 0;
}

#define DEMO_FILE (1u << 20)

/* SHA-256 of what /gen/N serves, computed here independently. */
static void expected_sha(char hex[65])
{
	struct tn_sha256 c;
	tn_sha256_init(&c);
	char buf[4096];
	for (uint32_t off = 0; off < DEMO_FILE; off += sizeof(buf)) {
		for (uint32_t i = 0; i < sizeof(buf); i++)
			buf[i] = tn_httpd_gen_byte(off + i);
		tn_sha256_update(&c, buf, sizeof(buf));
	}
	uint8_t d[32];
	tn_sha256_final(&c, d);
	tn_sha256_hex(d, hex);
}

/* Alice fetches a megabyte from Bob's HTTP server across the lossy link. */
static void demo_http(struct demo *d)
{
	struct tn_httpd_cfg hc = {.port = 80};
	d->bob_http = tn_httpd_new(d->bob, &hc);
	struct tn_httpc_req r = {.port = 80, .target = "/gen/1048576"};
	parse_ip("198.18.2.2", &r.addr);
	struct fetched f = {0};
	tn_sha256_init(&f.sha);
	struct tn_httpc *c = d->bob_http ? tn_httpc_start(d->alice, &r, take_body, &f) : NULL;
	if (!c) {
		printf("  could not start: %s\n", strerror(errno));
		tn_httpd_free(d->bob_http);
		d->bob_http = NULL;
		return;
	}
	int64_t rtx0 = st(d->bob, "TcpRetransSegs");
	printf("  GET http://198.18.2.2/gen/1048576\n");
	struct progress pg = {-1};
	uint64_t start = d->now;
	int rc;
	while ((rc = tn_httpc_step(c)) == 0 && d->now - start < 600 * SEC) {
		demo_run(d, d->now + 1 * MS);
		progress_bar(stdout, &pg, f.bytes, DEMO_FILE, (double)(d->now - start) / 1e9, false);
	}
	double secs = (double)(d->now - start) / 1e9;
	progress_bar(stdout, &pg, f.bytes, DEMO_FILE, secs, true);
	if (rc == 1) {
		uint8_t dg[32];
		char got[65], want[65];
		tn_sha256_final(&f.sha, dg);
		tn_sha256_hex(dg, got);
		expected_sha(want);
		printf("  %d %s: %llu bytes in %.2f s of network time, goodput %.2f Mbit/s\n",
		       tn_httpc_head(c)->status, tn_http_reason(tn_httpc_head(c)->status),
		       (unsigned long long)f.bytes, secs, (double)f.bytes * 8 / secs / 1e6);
		printf("  SHA-256 %s %s\n", got, strcmp(got, want) == 0 ? "(matches what bob served)" : "(DIFFERS!)");
	} else {
		printf("  GET failed after %.2f s: %s\n", secs, rc < 0 ? strerror(errno) : "timed out");
	}
	printf("  bob's TCP retransmitted %lld segments (%lld fast retransmits, %lld timeouts) of %lld sent\n",
	       (long long)(st(d->bob, "TcpRetransSegs") - rtx0), (long long)st(d->bob, "TcpExtTCPFastRetrans"),
	       (long long)st(d->bob, "TcpExtTCPTimeouts"), (long long)st(d->bob, "TcpOutSegs"));
	tn_httpc_free(c);
	demo_run(d, d->now + 1 * SEC);
	tn_httpd_free(d->bob_http);
	d->bob_http = NULL;
}

static void demo_report(struct demo *d)
{
	const struct tn_fault_stats *f1 = tn_fault_stats(d->lossy_rb), *f2 = tn_fault_stats(d->lossy_br);
	printf("\n== What happened on the way ==\n");
	printf("  lossy link router<->bob: %llu frames passed, %llu lost, %llu duplicated (3%% loss, 1%% dup, 25 ms +-2 ms each way)\n",
	       (unsigned long long)(f1->passed + f2->passed), (unsigned long long)(f1->lost + f2->lost),
	       (unsigned long long)(f1->duplicated + f2->duplicated));
	printf("  router: forwarded %lld packets, created %lld fragments\n", (long long)st(d->router, "IpForwDatagrams"),
	       (long long)st(d->router, "IpFragCreates"));
	printf("  alice:  sent %lld IP packets, split %lld datagrams into %lld fragments, reassembled %lld, gave up on %lld (timeout %lld)\n",
	       (long long)st(d->alice, "IpOutRequests"), (long long)st(d->alice, "IpFragOKs"),
	       (long long)st(d->alice, "IpFragCreates"), (long long)st(d->alice, "IpReasmOKs"),
	       (long long)st(d->alice, "IpReasmFails"), (long long)st(d->alice, "IpReasmTimeout"));
	printf("  bob:    answered %lld pings, received %lld UDP datagrams, reassembled %lld, gave up on %lld\n",
	       (long long)st(d->bob, "IcmpInEchos"), (long long)st(d->bob, "UdpInDatagrams"),
	       (long long)st(d->bob, "IpReasmOKs"), (long long)st(d->bob, "IpReasmFails"));
	printf("  ARP:    alice sent %lld requests, bob answered %lld; gratuitous ARPs at start: %lld\n",
	       (long long)st(d->alice, "TernExtArpOutRequests"), (long long)st(d->bob, "TernExtArpOutReplies"),
	       (long long)(st(d->alice, "TernExtArpOutGratuitous") + st(d->router, "TernExtArpOutGratuitous") +
			   st(d->bob, "TernExtArpOutGratuitous")));
	printf("\n== alice's neighbours (ip neigh) ==\n");
	show_neigh(d->alice, stdout);
	printf("\n== router's routes (ip route) ==\n");
	show_route(d->router, stdout);
}

int cmd_demo(int argc, char **argv)
{
	uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 1;
	struct demo d = {0};
	printf("tern demo: three user-space stacks on in-memory links, virtual clock, seed %llu\n\n",
	       (unsigned long long)seed);
	printf("  alice 198.18.1.2 ---- 198.18.1.1 [router] 198.18.2.1 ~~~~ 198.18.2.2 bob\n");
	printf("               clean link                     3%% loss, 25 ms delay\n\n");
	int rc = demo_setup(&d, seed);
	if (rc < 0) {
		fprintf(stderr, "tern demo: setup failed: %s\n", strerror(errno));
		return 1;
	}
	demo_run(&d, d.now + 10 * MS);
	printf("== alice pings bob (through the router) ==\n");
	demo_ping(&d, 10, 56);
	printf("\n== alice pings bob with 4000-byte pings: each leaves as 3 fragments ==\n");
	demo_ping(&d, 5, 4000);
	printf("\n== UDP: alice -> bob's echo service (port 7) ==\n");
	demo_udp(&d, 140);
	printf("\n== HTTP over TCP: alice fetches 1 MiB from bob's server (port 80) ==\n");
	demo_http(&d);
	demo_report(&d);
	printf("\n(%.1f s of network time simulated.  Real hosts: `tern host --tap tern0 --addr 198.18.0.2/24`.)\n",
	       (double)(d.now - 1 * SEC) / 1e9);
	tern_stack_free(d.alice);
	tern_stack_free(d.router);
	tern_stack_free(d.bob);
	return 0;
}
