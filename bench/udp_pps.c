/* 64-byte UDP packets per second on one core: tern against the Linux
 * kernel doing the same work.
 *
 *   tern:   two stacks joined by a memlink; one thread sends batches of 32
 *           datagrams from the first stack, polls both stacks, and drains
 *           the receiving socket of the second.
 *   kernel: a UDP socket pair on 127.0.0.1; one thread does sendmmsg of 32
 *           datagrams, then recvmmsg(MSG_DONTWAIT) until empty.
 *
 * Both count datagrams that reach the receiving application intact and in
 * order (each carries a sequence number that is checked), per second of
 * wall time.  Run the process pinned (taskset) so "per second" is "per
 * core".  Each loop also times its two halves, send and receive, with the
 * same two clock reads per batch in both modes.
 *
 *   udp_pps tern|kernel [SECONDS]
 *   prints: MODE pps=N sent=N received=N drops=N bad=N tx_ns=F rx_ns=F cpu=F
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "link/dev.h"
#include "tern/tern.h"
#include "bench_util.h"

#define BATCH 32
#define PAYLOAD 64
#define RCVBUF (4 << 20) /* the same request for both: Linux's rmem_max here */
#define PORT 9000
#define ADDR_A 0xc6120001u /* 198.18.0.1: the benchmarking range */
#define ADDR_B 0xc6120002u

struct result {
	uint64_t sent, received, bad;
	uint64_t tx_ns, rx_ns, wall_ns, cpu_ns;
};

/* What the receive side checks in every datagram: its length and the
 * sequence number the sender wrote into its first 8 bytes. */
struct seq_check {
	uint64_t expect;
	uint64_t bad;
};

static void put_seq(char *buf, uint64_t seq) { memcpy(buf, &seq, sizeof(seq)); }

static void check_seq(struct seq_check *c, const char *buf, ssize_t len)
{
	uint64_t got;
	memcpy(&got, buf, sizeof(got));
	if (len != PAYLOAD || got != c->expect)
		c->bad++;
	c->expect = got + 1; /* resynchronise so one gap counts once */
}

/* ---- tern ---- */

struct tern_pair {
	struct tn_stack *a, *b;
	int tx, rx;
};

static int tern_setup_stacks(struct tern_pair *p)
{
	uint64_t t = now_ns();
	struct tern_config ca = {.name = "bench-a", .seed = 1, .now = t};
	struct tern_config cb = {.name = "bench-b", .seed = 2, .now = t};
	struct tn_dev *da, *db;
	p->a = tern_stack_new(&ca);
	p->b = tern_stack_new(&cb);
	if (!p->a || !p->b || tn_memlink_pair("bench-a", "bench-b", TN_DEV_L2, 1500, 1024, &da, &db) < 0)
		return -1;
	int ia = tern_dev_attach(p->a, da), ib = tern_dev_attach(p->b, db);
	if (ia < 0 || ib < 0 || tern_addr_add(p->a, ia, ADDR_A, 24) < 0 ||
	    tern_addr_add(p->b, ib, ADDR_B, 24) < 0)
		return -1;
	return 0;
}

static int tern_setup_sockets(struct tern_pair *p)
{
	int big = RCVBUF;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(PORT)};
	p->rx = tern_socket(p->b, AF_INET, SOCK_DGRAM, 0);
	p->tx = tern_socket(p->a, AF_INET, SOCK_DGRAM, 0);
	if (p->rx < 0 || p->tx < 0 ||
	    tern_setsockopt(p->b, p->rx, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big)) < 0 ||
	    tern_bind(p->b, p->rx, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(ADDR_B);
	return tern_connect(p->a, p->tx, (struct sockaddr *)&sa, sizeof(sa));
}

/* Resolve ARP and settle both stacks before the clock starts; the datagrams
 * sent here are drained and not counted. */
static void tern_warm_up(struct tern_pair *p)
{
	char buf[PAYLOAD] = {0}, in[2048];
	for (int i = 0; i < 100; i++) {
		uint64_t t = now_ns();
		(void)tern_send(p->a, p->tx, buf, PAYLOAD, 0);
		tern_poll(p->a, t);
		tern_poll(p->b, t);
		tern_poll(p->a, t);
		while (tern_recv(p->b, p->rx, in, sizeof(in), 0) >= 0)
			;
	}
}

static void tern_drain(struct tern_pair *p, struct result *r, struct seq_check *c)
{
	char in[2048];
	ssize_t n;
	while ((n = tern_recv(p->b, p->rx, in, sizeof(in), 0)) >= 0) {
		check_seq(c, in, n);
		r->received++;
	}
}

static void tern_loop(struct tern_pair *p, uint64_t duration, struct result *r)
{
	char buf[PAYLOAD] = {0};
	struct seq_check c = {0};
	uint64_t t0 = now_ns(), start = t0, end = start + duration;
	while (t0 < end) {
		for (int i = 0; i < BATCH; i++) {
			put_seq(buf, r->sent);
			r->sent += tern_send(p->a, p->tx, buf, PAYLOAD, 0) == PAYLOAD;
		}
		tern_poll(p->a, t0);
		uint64_t t1 = now_ns();
		tern_poll(p->b, t1);
		tern_drain(p, r, &c);
		uint64_t t2 = now_ns();
		r->tx_ns += t1 - t0;
		r->rx_ns += t2 - t1;
		t0 = t2;
	}
	r->wall_ns = t0 - start;
	/* Anything still in flight counts as received only if it arrives. */
	tern_poll(p->a, t0);
	tern_poll(p->b, t0);
	tern_drain(p, r, &c);
	r->bad = c.bad;
}

static int run_tern(uint64_t duration, struct result *r)
{
	struct tern_pair p = {0};
	int rc = tern_setup_stacks(&p);
	if (rc == 0)
		rc = tern_setup_sockets(&p);
	if (rc == 0) {
		tern_warm_up(&p);
		uint64_t c0 = cpu_ns();
		tern_loop(&p, duration, r);
		r->cpu_ns = cpu_ns() - c0;
	}
	if (p.a)
		tern_stack_free(p.a);
	if (p.b)
		tern_stack_free(p.b);
	return rc;
}

/* ---- Linux ---- */

struct kern_pair {
	int tx, rx;
	char sbuf[BATCH][PAYLOAD], rbuf[BATCH][2048];
	struct iovec siov[BATCH], riov[BATCH];
	struct mmsghdr smsg[BATCH], rmsg[BATCH];
};

static int kern_setup(struct kern_pair *k)
{
	int big = RCVBUF;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	k->rx = socket(AF_INET, SOCK_DGRAM, 0);
	k->tx = socket(AF_INET, SOCK_DGRAM, 0);
	if (k->rx < 0 || k->tx < 0 || setsockopt(k->rx, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big)) < 0 ||
	    bind(k->rx, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(k->rx, (struct sockaddr *)&sa, &sl) < 0 ||
	    connect(k->tx, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	for (int i = 0; i < BATCH; i++) {
		k->siov[i] = (struct iovec){k->sbuf[i], PAYLOAD};
		k->riov[i] = (struct iovec){k->rbuf[i], sizeof(k->rbuf[i])};
		k->smsg[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &k->siov[i], .msg_iovlen = 1}};
		k->rmsg[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &k->riov[i], .msg_iovlen = 1}};
	}
	return 0;
}

static int kern_send(struct kern_pair *k, struct result *r)
{
	for (int i = 0; i < BATCH; i++)
		put_seq(k->sbuf[i], r->sent + (uint64_t)i);
	int n = sendmmsg(k->tx, k->smsg, BATCH, 0);
	if (n < 0)
		return -1;
	r->sent += (uint64_t)n;
	return 0;
}

static void kern_drain(struct kern_pair *k, struct result *r, struct seq_check *c)
{
	int n;
	while ((n = recvmmsg(k->rx, k->rmsg, BATCH, MSG_DONTWAIT, NULL)) > 0) {
		for (int i = 0; i < n; i++)
			check_seq(c, k->rbuf[i], (ssize_t)k->rmsg[i].msg_len);
		r->received += (uint64_t)n;
	}
}

static int kern_loop(struct kern_pair *k, uint64_t duration, struct result *r)
{
	struct seq_check c = {0};
	uint64_t t0 = now_ns(), start = t0, end = start + duration;
	while (t0 < end) {
		if (kern_send(k, r) < 0)
			return -1;
		uint64_t t1 = now_ns();
		kern_drain(k, r, &c);
		uint64_t t2 = now_ns();
		r->tx_ns += t1 - t0;
		r->rx_ns += t2 - t1;
		t0 = t2;
	}
	r->wall_ns = t0 - start;
	kern_drain(k, r, &c);
	r->bad = c.bad;
	return 0;
}

static int run_kernel(uint64_t duration, struct result *r)
{
	struct kern_pair *k = calloc(1, sizeof(*k));
	if (!k)
		return -1;
	k->tx = k->rx = -1;
	int rc = kern_setup(k);
	if (rc == 0) {
		/* The same warm-up as tern's: a few batches, not counted. */
		struct result w = {0};
		struct seq_check c = {0};
		for (int i = 0; i < 4 && rc == 0; i++) {
			rc = kern_send(k, &w);
			kern_drain(k, &w, &c);
		}
	}
	if (rc == 0) {
		uint64_t c0 = cpu_ns();
		rc = kern_loop(k, duration, r);
		r->cpu_ns = cpu_ns() - c0;
	}
	if (k->rx >= 0)
		close(k->rx);
	if (k->tx >= 0)
		close(k->tx);
	free(k);
	return rc;
}

static void print_result(const char *mode, const struct result *r)
{
	double wall = (double)r->wall_ns;
	double per = r->received ? 1.0 / (double)r->received : 0.0;
	printf("%s pps=%.0f sent=%llu received=%llu drops=%llu bad=%llu tx_ns=%.1f rx_ns=%.1f cpu=%.3f\n",
	       mode, (double)r->received * 1e9 / wall, (unsigned long long)r->sent,
	       (unsigned long long)r->received, (unsigned long long)(r->sent - r->received),
	       (unsigned long long)r->bad, (double)r->tx_ns * per, (double)r->rx_ns * per,
	       (double)r->cpu_ns / wall);
}

int main(int argc, char **argv)
{
	bool tern = argc >= 2 && strcmp(argv[1], "tern") == 0;
	if (argc < 2 || (!tern && strcmp(argv[1], "kernel") != 0)) {
		fprintf(stderr, "usage: udp_pps tern|kernel [SECONDS]\n");
		return 2;
	}
	double secs = argc > 2 ? atof(argv[2]) : 5.0;
	if (!(secs > 0 && secs < 3600)) {
		fprintf(stderr, "udp_pps: SECONDS must be in (0, 3600)\n");
		return 2;
	}
	struct result r = {0};
	uint64_t duration = (uint64_t)(secs * 1e9);
	int rc = tern ? run_tern(duration, &r) : run_kernel(duration, &r);
	if (rc < 0 || r.received == 0) {
		fprintf(stderr, "udp_pps %s: failed: %s\n", argv[1], rc < 0 ? strerror(errno) : "nothing received");
		return 1;
	}
	print_result(argv[1], &r);
	return 0;
}
