/* Packets per second through a forwarding tern stack with 0, 10, 1,000
 * and 10,000 iptables filter rules in FORWARD; and the pieces of the same
 * benchmark run on Linux by bench/nf_rules.sh.
 *
 *   nf_rules tern SECONDS N...   three stacks A - R - B on memlinks, one
 *       thread: A sends batches of 32 64-byte UDP datagrams
 *       (198.18.1.1 -> 198.18.2.1:9000; NF_FLOWS=F: from F source
 *       ports 20000.. in turn, default 1), R forwards them (NF_VCACHE=0:
 *       with the verdict cache off, the classifier alone; NF_SPORT_RULE=1:
 *       one more rule, first, on source ports 1-19999, so that the flows'
 *       source ports are something a rule tests), B's socket
 *       receives.  R carries the ruleset `nf_rules rules N`.  Prints per N:
 *       pps (received per second of wall time, all three stacks on one
 *       core), router_ns (time in R's poll per received packet: the
 *       gateway's own cost), ruleset memory (heap growth when loading it:
 *       the rules and their classifier), the classifier's bytes and tuples
 *       and the time to compile it, and the cost of one
 *       `iptables -A FORWARD` and one `-D` at N rules (median of 21).
 *   nf_rules rules N             the ruleset (iptables-restore format):
 *       FORWARD policy DROP, N rules that do not match the traffic (four
 *       shapes in turn: source /32 + udp dport, destination /24 + tcp
 *       dport, source /32 + destination /24, source /32 + udp dport range),
 *       then `-s 198.18.1.0/24 -d 198.18.2.0/24 -p udp -j ACCEPT`.  N = 0:
 *       no rules at all (no ACCEPT either: the table is empty).
 *   nf_rules send SECONDS        Linux: sendmmsg 64-byte datagrams to
 *       198.18.2.1:9000 as fast as possible, for SECONDS.
 *   nf_rules recv SECONDS        Linux: count datagrams on :9000 for
 *       SECONDS after the first; prints pps. */
#include <arpa/inet.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/stack.h"
#include "filter/ipt.h"
#include "filter/ipt_cls.h"
#include "link/dev.h"
#include "tern/tern.h"
#include "bench_util.h"

#define BATCH 32
#define PAYLOAD 64
#define PORT 9000

/* sport_rule: one more rule first, on source ports below the bench's
 * (20000..), so that the source port is something a rule tests. */
static char *ruleset(int n, bool sport_rule)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	fprintf(f, "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD %s [0:0]\n:OUTPUT ACCEPT [0:0]\n", n ? "DROP" : "ACCEPT");
	if (n && sport_rule)
		fprintf(f, "-A FORWARD -p udp -m udp --sport 1:19999 -j DROP\n");
	for (int i = 0; i < n; i++) {
		unsigned h = (unsigned)i / 250, l = (unsigned)i % 250 + 1;
		switch (i % 4) {
		case 0: fprintf(f, "-A FORWARD -s 198.19.%u.%u/32 -p udp -m udp --dport %u -j DROP\n", h, l, 1000 + i % 5000); break;
		case 1: fprintf(f, "-A FORWARD -d 198.19.%u.0/24 -p tcp -m tcp --dport %u -j DROP\n", h, 20 + i % 1000); break;
		case 2: fprintf(f, "-A FORWARD -s 198.19.%u.%u/32 -d 198.18.2.0/24 -j DROP\n", h, l); break;
		default: fprintf(f, "-A FORWARD -s 198.19.%u.%u/32 -p udp -m udp --dport 10000:10100 -j DROP\n", h, l); break;
		}
	}
	if (n)
		fprintf(f, "-A FORWARD -s 198.18.1.0/24 -d 198.18.2.0/24 -p udp -j ACCEPT\n");
	fprintf(f, "COMMIT\n");
	fclose(f);
	return buf;
}

/* ---- tern ---- */
struct net {
	struct tn_stack *a, *r, *b;
	int *tx, ntx, rx; /* one sending socket per flow */
};

static int setup(struct net *n)
{
	uint64_t t = now_ns();
	struct tern_config ca = {.name = "nfr-a", .seed = 1, .now = t}, cr = {.name = "nfr-r", .seed = 2, .now = t},
			   cb = {.name = "nfr-b", .seed = 3, .now = t};
	n->a = tern_stack_new(&ca);
	n->r = tern_stack_new(&cr);
	n->b = tern_stack_new(&cb);
	struct tn_dev *da, *dra, *drb, *db;
	if (!n->a || !n->r || !n->b || tn_memlink_pair("a0", "r-a", TN_DEV_L2, 1500, 1024, &da, &dra) < 0 ||
	    tn_memlink_pair("r-b", "b0", TN_DEV_L2, 1500, 1024, &drb, &db) < 0)
		return -1;
	int ia = tern_dev_attach(n->a, da), ira = tern_dev_attach(n->r, dra), irb = tern_dev_attach(n->r, drb),
	    ib = tern_dev_attach(n->b, db);
	if (ia < 0 || ira < 0 || irb < 0 || ib < 0 || tern_addr_add(n->a, ia, 0xc6120101, 24) < 0 ||
	    tern_addr_add(n->r, ira, 0xc61201fe, 24) < 0 || tern_addr_add(n->r, irb, 0xc61202fe, 24) < 0 ||
	    tern_addr_add(n->b, ib, 0xc6120201, 24) < 0 || tern_route_add(n->a, 0, 0, 0xc61201fe, ia, 0) < 0 ||
	    tern_route_add(n->b, 0, 0, 0xc61202fe, ib, 0) < 0 || tern_sysctl_set(n->r, "net.ipv4.ip_forward", "1") < 0)
		return -1;
	int big = 4 << 20;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(PORT)};
	n->rx = tern_socket(n->b, AF_INET, SOCK_DGRAM, 0);
	if (n->rx < 0 || tern_setsockopt(n->b, n->rx, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big)) < 0 ||
	    tern_bind(n->b, n->rx, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(0xc6120201);
	n->tx = calloc((size_t)n->ntx, sizeof(*n->tx));
	for (int i = 0; n->tx && i < n->ntx; i++) {
		struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(20000 + i))};
		n->tx[i] = tern_socket(n->a, AF_INET, SOCK_DGRAM, 0);
		if (n->tx[i] < 0 || tern_bind(n->a, n->tx[i], (struct sockaddr *)&src, sizeof(src)) < 0 ||
		    tern_connect(n->a, n->tx[i], (struct sockaddr *)&sa, sizeof(sa)) < 0)
			return -1;
	}
	return n->tx ? 0 : -1;
}

static uint64_t drain(struct net *n)
{
	char in[2048];
	uint64_t k = 0;
	while (tern_recv(n->b, n->rx, in, sizeof(in), 0) >= 0)
		k++;
	return k;
}

static int run_ipt(struct tn_stack *s, const char *line, const char *input)
{
	char buf[512], *argv[32];
	snprintf(buf, sizeof(buf), "%s", line);
	int argc = 0;
	for (char *p = strtok(buf, " "); p && argc < 32; p = strtok(NULL, " "))
		argv[argc++] = p;
	char out[4096];
	FILE *f = fmemopen(out, sizeof(out), "w");
	int rc = tn_ipt_run(s, argc, argv, input, input ? strlen(input) : 0, f);
	fclose(f);
	if (rc)
		fprintf(stderr, "nf_rules: %s: %s\n", line, out);
	return rc;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int bench_tern(int nrules, double secs, int flows)
{
	struct net n = {.ntx = flows};
	if (setup(&n) < 0) {
		fprintf(stderr, "nf_rules: setup failed\n");
		return 1;
	}
	bool sport_rule = getenv("NF_SPORT_RULE") && !strcmp(getenv("NF_SPORT_RULE"), "1");
	char *text = ruleset(nrules, sport_rule);
	struct mallinfo2 m0 = mallinfo2();
	if (!text || run_ipt(n.r, "iptables-restore", text))
		return 1;
	struct mallinfo2 m1 = mallinfo2();
	size_t u0 = m0.uordblks + m0.hblkhd, u1 = m1.uordblks + m1.hblkhd;
	size_t rs_mem = u1 > u0 ? u1 - u0 : 0;
	/* the classifier alone, built the same way from the same chain */
	size_t cls_mem = 0;
	uint32_t ntuples = 0;
	uint64_t build_ns = 0;
	{
		struct tn_ipt_model m;
		if (tn_ipt_export(n.r, &m) == 0) {
			struct tn_ipt_table *t = &m.t[TN_IPT_FILTER];
			int c = tn_ipt_chain_find(t, "FORWARD");
			uint64_t b0 = now_ns();
			struct tn_ipt_cls *cl = c >= 0 && t->chains[c].nrules ? tn_ipt_cls_build(&t->chains[c]) : NULL;
			build_ns = now_ns() - b0;
			cls_mem = tn_ipt_cls_mem(cl);
			ntuples = tn_ipt_cls_ntuples(cl);
			tn_ipt_cls_unref(cl);
			tn_ipt_model_free(&m);
		}
	}
	free(text);
	if (getenv("NF_VCACHE") && !strcmp(getenv("NF_VCACHE"), "0"))
		tn_ipt_get(n.r)->vcache_off = true;
	/* warm up: ARP on both links */
	char buf[PAYLOAD] = {0};
	for (int i = 0; i < 50; i++) {
		uint64_t t = now_ns();
		(void)tern_send(n.a, n.tx[0], buf, PAYLOAD, 0);
		tern_poll(n.a, t);
		tern_poll(n.r, t);
		tern_poll(n.b, t);
		tern_poll(n.r, t);
		tern_poll(n.a, t);
		drain(&n);
	}
	uint64_t sent = 0, recv = 0, r_ns = 0;
	int f = 0;
	uint64_t t0 = now_ns(), start = t0, end = start + (uint64_t)(secs * 1e9);
	while (t0 < end) {
		for (int i = 0; i < BATCH; i++)
			sent += tern_send(n.a, n.tx[f++ % flows], buf, PAYLOAD, 0) == PAYLOAD;
		tern_poll(n.a, t0);
		uint64_t t1 = now_ns();
		tern_poll(n.r, t1);
		uint64_t t2 = now_ns();
		tern_poll(n.b, t2);
		recv += drain(&n);
		r_ns += t2 - t1;
		t0 = now_ns();
	}
	uint64_t wall = t0 - start;
	uint64_t vc_hits, vc_misses, vc_bypassed;
	tn_ipt_vcache_counts(n.r, TN_IPT_FILTER, &vc_hits, &vc_misses, &vc_bypassed);
	/* one -A and one -D at nrules, 21 times each */
	uint64_t add[21], del[21];
	for (int k = 0; k < 21; k++) {
		uint64_t a0 = now_ns();
		run_ipt(n.r, "iptables -A FORWARD -s 198.19.250.1/32 -p udp --dport 7 -j DROP", NULL);
		uint64_t a1 = now_ns();
		run_ipt(n.r, "iptables -D FORWARD -s 198.19.250.1/32 -p udp --dport 7 -j DROP", NULL);
		add[k] = a1 - a0;
		del[k] = now_ns() - a1;
	}
	qsort(add, 21, sizeof(add[0]), cmp_u64);
	qsort(del, 21, sizeof(del[0]), cmp_u64);
	printf("tern rules=%d flows=%d sport_rule=%d pps=%.0f router_ns=%.1f sent=%llu received=%llu ruleset_bytes=%zu cls_bytes=%zu tuples=%u "
	       "cls_build_us=%.1f add_us=%.1f del_us=%.1f vcache=%s vc_hits=%llu vc_misses=%llu vc_bypassed=%llu\n",
	       nrules, flows, sport_rule, recv ? (double)recv * 1e9 / (double)wall : 0.0, recv ? (double)r_ns / (double)recv : 0.0,
	       (unsigned long long)sent, (unsigned long long)recv, rs_mem, cls_mem, ntuples, (double)build_ns / 1e3, (double)add[10] / 1e3,
	       (double)del[10] / 1e3, tn_ipt_get(n.r)->vcache_off ? "off" : "on", (unsigned long long)vc_hits,
	       (unsigned long long)vc_misses, (unsigned long long)vc_bypassed);
	fflush(stdout);
	tern_stack_free(n.a);
	tern_stack_free(n.r);
	tern_stack_free(n.b);
	free(n.tx);
	return recv ? 0 : 1;
}

/* ---- Linux halves ---- */
static int linux_send(double secs)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(PORT), .sin_addr.s_addr = htonl(0xc6120201)};
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("nf_rules send");
		return 1;
	}
	static char bufs[BATCH][PAYLOAD];
	struct iovec iov[BATCH];
	struct mmsghdr msg[BATCH];
	for (int i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){bufs[i], PAYLOAD};
		msg[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
	}
	uint64_t end = now_ns() + (uint64_t)(secs * 1e9), sent = 0;
	while (now_ns() < end) {
		int k = sendmmsg(fd, msg, BATCH, 0);
		if (k > 0)
			sent += (uint64_t)k;
	}
	printf("sent=%llu\n", (unsigned long long)sent);
	return 0;
}

static int linux_recv(double secs)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	int big = 4 << 20;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(PORT)};
	struct timeval tv = {.tv_sec = 0, .tv_usec = 100000};
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("nf_rules recv");
		return 1;
	}
	static char bufs[BATCH][2048];
	struct iovec iov[BATCH];
	struct mmsghdr msg[BATCH];
	for (int i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){bufs[i], sizeof(bufs[i])};
		msg[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
	}
	/* wait (up to 10 s) for the first datagram, then count for secs */
	uint64_t deadline = now_ns() + 10000000000ull, got = 0;
	while (now_ns() < deadline && recvmmsg(fd, msg, BATCH, 0, NULL) <= 0)
		;
	uint64_t t0 = now_ns(), end = t0 + (uint64_t)(secs * 1e9);
	while (now_ns() < end) {
		int k = recvmmsg(fd, msg, BATCH, 0, NULL);
		if (k > 0)
			got += (uint64_t)k;
	}
	printf("pps=%.0f received=%llu\n", (double)got * 1e9 / (double)(now_ns() - t0), (unsigned long long)got);
	return got ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "rules")) {
		char *t = ruleset(atoi(argv[2]), false);
		fputs(t, stdout);
		free(t);
		return 0;
	}
	double secs = argc >= 3 ? atof(argv[2]) : 0;
	if (argc >= 3 && !strcmp(argv[1], "send"))
		return linux_send(secs);
	if (argc >= 3 && !strcmp(argv[1], "recv"))
		return linux_recv(secs);
	if (argc >= 3 && !strcmp(argv[1], "tern") && secs > 0) {
		int rc = 0, flows = getenv("NF_FLOWS") ? atoi(getenv("NF_FLOWS")) : 1;
		if (flows < 1 || flows > 40000) {
			fprintf(stderr, "nf_rules: NF_FLOWS: 1..40000\n");
			return 2;
		}
		if (argc == 3) {
			static const int def[] = {0, 10, 1000, 10000};
			for (int i = 0; i < 4; i++)
				rc |= bench_tern(def[i], secs, flows);
		}
		for (int i = 3; i < argc; i++)
			rc |= bench_tern(atoi(argv[i]), secs, flows);
		return rc;
	}
	fprintf(stderr, "usage: nf_rules tern SECONDS [N...] | rules N | send SECONDS | recv SECONDS\n");
	return 2;
}
