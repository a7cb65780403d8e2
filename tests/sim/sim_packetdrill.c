/* libtern-packetdrill.so as packetdrill drives it: dlopen, the interface
 * struct, packets built and checked here (IPv4 + TCP with checksums, this
 * file's own code, not tern's), injected with netdev_send and sniffed with
 * netdev_receive, time moved with usleep.  Blocking calls run on a second
 * thread the way packetdrill runs them: the main thread goes on once that
 * thread sleeps (/proc/self/task/TID/stat says S).
 *
 * The library: $TERN_PD_SO, else ../../libtern-packetdrill.so beside this
 * binary (BUILD/tests/sim/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../../packetdrill/packetdrill.h"
#include "../../packetdrill/tern_packetdrill.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#endif

/* RFC 2544 benchmarking addresses: the stack is 198.18.0.1, the peer
 * packetdrill plays is 198.18.1.1, reached by the default route. */
#define LOCAL 0xc6120001u
#define REMOTE 0xc6120101u
#define FLAGS "--local_ip=198.18.0.1/24 seed=7"

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10

static char so_path[PATH_MAX];

static struct {
	void *h;
	struct packetdrill_interface ifc;
	void *u;
} D;
#define CALL(fn, ...) D.ifc.fn(D.u, __VA_ARGS__)

static void drill_open(const char *flags)
{
	int mode = RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE;
#ifndef UNDER_ASAN
	mode |= RTLD_DEEPBIND; /* as packetdrill; ASan refuses it */
#endif
	D.h = dlopen(so_path, mode);
	if (!D.h)
		fail_msg("dlopen %s: %s", so_path, dlerror());
	packetdrill_interface_init_t init = (packetdrill_interface_init_t)dlsym(D.h, "packetdrill_interface_init");
	assert_non_null(init);
	memset(&D.ifc, 0, sizeof(D.ifc));
	init(flags, &D.ifc);
	D.u = D.ifc.userdata;
	/* every member filled in */
	void **slot = (void **)&D.ifc;
	for (size_t i = 1; i < sizeof(D.ifc) / sizeof(void *); i++)
		assert_non_null(slot[i]);
}

static int setup(void **state)
{
	(void)state;
	drill_open(FLAGS);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	D.ifc.free(D.u);
	dlclose(D.h);
	memset(&D, 0, sizeof(D));
	return 0;
}

static long long now_us(void)
{
	struct timeval tv;
	assert_int_equal(D.ifc.gettimeofday(D.u, &tv, NULL), 0);
	return (long long)tv.tv_sec * 1000000 + tv.tv_usec;
}

static uint64_t counter(int which)
{
	uint64_t v = 0;
	socklen_t n = sizeof(v);
	assert_int_equal(CALL(getsockopt, -1, TERN_PD_SOL, which, &v, &n), 0);
	return v;
}

/* ---- packets ---- */

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)), put16(p + 2, (uint16_t)v); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }

static uint32_t tcp_csum_of(const uint8_t *ip, const uint8_t *tcp, size_t tcplen)
{
	uint8_t pseudo[12];
	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = 6;
	put16(pseudo + 10, (uint16_t)tcplen);
	return csum_add(csum_add(0, pseudo, 12), tcp, tcplen);
}

struct seg {
	uint32_t src, dst;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	const uint8_t *opt; /* a multiple of 4 bytes */
	size_t optlen;
	const void *data;
	size_t len;
};

static size_t build(uint8_t *b, const struct seg *s)
{
	size_t thl = 20 + s->optlen, total = 20 + thl + s->len;
	memset(b, 0, total);
	b[0] = 0x45;
	put16(b + 2, (uint16_t)total);
	put16(b + 6, 0x4000); /* DF */
	b[8] = 64;
	b[9] = 6;
	put32(b + 12, s->src);
	put32(b + 16, s->dst);
	put16(b + 10, csum_fold(csum_add(0, b, 20)));
	uint8_t *t = b + 20;
	put16(t, s->sport);
	put16(t + 2, s->dport);
	put32(t + 4, s->seq);
	put32(t + 8, s->ack);
	t[12] = (uint8_t)(thl / 4) << 4;
	t[13] = s->flags;
	put16(t + 14, s->win);
	if (s->optlen)
		memcpy(t + 20, s->opt, s->optlen);
	if (s->len)
		memcpy(t + thl, s->data, s->len);
	put16(t + 16, csum_fold(tcp_csum_of(b, t, thl + s->len)));
	return total;
}

/* What the stack sent. */
struct pkt {
	uint8_t raw[4096];
	size_t n;
	long long t_us;
	uint32_t src, dst;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	int mss, wscale; /* -1: absent */
	bool sackok, ts;
	uint32_t tsval, tsecr;
	const uint8_t *data;
	size_t len;
};

/* The next packet the stack sends (netdev_receive moves the clock to it);
 * false if it has nothing scheduled. */
static bool sniff(struct pkt *p)
{
	memset(p, 0, sizeof(*p));
	p->n = sizeof(p->raw);
	assert_int_equal(D.ifc.netdev_receive(D.u, p->raw, &p->n, &p->t_us), 0);
	if (!p->n)
		return false;
	const uint8_t *ip = p->raw;
	assert_true(p->n >= 40);
	assert_int_equal(ip[0], 0x45);
	assert_int_equal(get16(ip + 2), p->n);
	assert_int_equal(csum_fold(csum_add(0, ip, 20)), 0); /* IP checksum */
	assert_int_equal(ip[9], 6);
	p->src = get32(ip + 12);
	p->dst = get32(ip + 16);
	const uint8_t *t = ip + 20;
	size_t tcplen = p->n - 20, thl = (size_t)(t[12] >> 4) * 4;
	assert_true(thl >= 20 && thl <= tcplen);
	assert_int_equal(csum_fold(tcp_csum_of(ip, t, tcplen)), 0); /* TCP checksum */
	p->sport = get16(t);
	p->dport = get16(t + 2);
	p->seq = get32(t + 4);
	p->ack = get32(t + 8);
	p->flags = t[13];
	p->win = get16(t + 14);
	p->mss = p->wscale = -1;
	for (size_t i = 20; i < thl;) {
		uint8_t kind = t[i];
		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		assert_true(i + 1 < thl);
		uint8_t len = t[i + 1];
		assert_true(len >= 2 && i + len <= thl);
		if (kind == 2 && len == 4)
			p->mss = get16(t + i + 2);
		else if (kind == 3 && len == 3)
			p->wscale = t[i + 2];
		else if (kind == 4 && len == 2)
			p->sackok = true;
		else if (kind == 8 && len == 10)
			p->ts = true, p->tsval = get32(t + i + 2), p->tsecr = get32(t + i + 6);
		i += len;
	}
	p->data = t + thl;
	p->len = tcplen - thl;
	return true;
}

static void expect(struct pkt *p, uint8_t flags)
{
	if (!sniff(p))
		fail_msg("expected a packet with flags 0x%x, the stack sent nothing", flags);
	if (p->flags != flags)
		fail_msg("flags 0x%x, expected 0x%x (seq %u ack %u len %zu)", p->flags, flags, p->seq, p->ack, p->len);
}

static void inject(const struct seg *s)
{
	uint8_t b[4096];
	size_t n = build(b, s);
	assert_int_equal(D.ifc.netdev_send(D.u, b, n), 0);
}

/* The peer's side of one connection. */
struct peer {
	uint16_t port, lport;
	uint32_t snd_nxt; /* the peer's next sequence number */
	uint32_t rcv_nxt; /* what the peer has received of the stack's */
	uint32_t tsval, tsecr;
	int fd;           /* the stack's descriptor for it */
};

/* <mss 1460, sackOK, TS val V ecr 0, nop, wscale 7>: what Linux sends. */
static size_t syn_opts(uint8_t *o, uint32_t tsval, uint32_t tsecr)
{
	static const uint8_t head[] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10};
	memcpy(o, head, sizeof(head));
	put32(o + 8, tsval);
	put32(o + 12, tsecr);
	o[16] = 1;
	o[17] = 3, o[18] = 3, o[19] = 7;
	return 20;
}

static size_t ts_opts(uint8_t *o, const struct peer *c)
{
	o[0] = 1, o[1] = 1, o[2] = 8, o[3] = 10;
	put32(o + 4, c->tsval);
	put32(o + 8, c->tsecr);
	return 12;
}

static void send_seg(struct peer *c, uint8_t flags, const void *data, size_t len)
{
	uint8_t o[12];
	struct seg s = {.src = REMOTE, .dst = LOCAL, .sport = c->port, .dport = c->lport,
			.seq = c->snd_nxt, .ack = c->rcv_nxt, .flags = flags, .win = 1000,
			.opt = o, .optlen = ts_opts(o, c), .data = data, .len = len};
	inject(&s);
	c->snd_nxt += (uint32_t)len + ((flags & (F_SYN | F_FIN)) ? 1 : 0);
	c->tsval++;
}

/* The stack's segment, checked against the peer's view; the peer takes
 * in what is in order. */
static void expect_seg(struct peer *c, struct pkt *p, uint8_t flags)
{
	expect(p, flags);
	assert_int_equal(p->src, LOCAL);
	assert_int_equal(p->dst, REMOTE);
	assert_int_equal(p->sport, c->lport);
	assert_int_equal(p->dport, c->port);
	if (flags & F_ACK)
		assert_int_equal(p->ack, c->snd_nxt);
	assert_true(p->ts);
	if (p->seq == c->rcv_nxt)
		c->rcv_nxt += (uint32_t)p->len + ((p->flags & (F_SYN | F_FIN)) ? 1 : 0);
	c->tsecr = p->tsval;
}

static int listen_on(uint16_t port)
{
	int fd = CALL(socket, AF_INET, SOCK_STREAM, IPPROTO_TCP);
	assert_true(fd >= 0);
	int one = 1;
	assert_int_equal(CALL(setsockopt, fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(LOCAL)};
	assert_int_equal(CALL(bind, fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(CALL(listen, fd, 1), 0);
	return fd;
}

/* A SYN to the listener on lport; checks the SYN-ACK and returns it. */
static void passive_syn(struct peer *c, uint16_t lport, struct pkt *synack)
{
	*c = (struct peer){.port = 40000, .lport = lport, .snd_nxt = 1000, .tsval = 100, .fd = -1};
	uint8_t o[20];
	struct seg s = {.src = REMOTE, .dst = LOCAL, .sport = c->port, .dport = lport, .seq = 1000,
			.flags = F_SYN, .win = 65535, .opt = o, .optlen = syn_opts(o, 100, 0)};
	inject(&s);
	c->snd_nxt = 1001;
	c->tsval = 101;
	expect(synack, F_SYN | F_ACK);
	c->rcv_nxt = synack->seq + 1;
	c->tsecr = synack->tsval;
}

/* A connection accepted on a listener at lport. */
static void passive_establish(struct peer *c, uint16_t lport)
{
	int lfd = listen_on(lport);
	struct pkt p;
	passive_syn(c, lport, &p);
	send_seg(c, F_ACK, NULL, 0);
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	c->fd = CALL(accept, lfd, (struct sockaddr *)&from, &fl);
	assert_true(c->fd >= 0);
	assert_int_equal(ntohl(from.sin_addr.s_addr), REMOTE);
	assert_int_equal(ntohs(from.sin_port), c->port);
	assert_int_equal(CALL(close, lfd), 0);
}

/* ---- (1) passive open ---- */

static void test_passive_open(void **state)
{
	(void)state;
	int lfd = listen_on(8080);
	long long t0 = now_us();
	struct peer c;
	struct pkt p;
	passive_syn(&c, 8080, &p);
	assert_int_equal(p.t_us, t0); /* at once */
	assert_int_equal(p.src, LOCAL);
	assert_int_equal(p.dst, REMOTE);
	assert_int_equal(p.sport, 8080);
	assert_int_equal(p.dport, 40000);
	assert_int_equal(p.ack, 1001);
	assert_int_equal(p.mss, 1460); /* MTU 1500 */
	assert_true(p.sackok);
	assert_true(p.ts);
	assert_int_equal(p.tsecr, 100);
	assert_true(p.wscale >= 0 && p.wscale <= 14);
	assert_true(p.win > 0);
	assert_int_equal(p.len, 0);

	/* the handshake's end; accept on the blocking listener returns at once */
	send_seg(&c, F_ACK, NULL, 0);
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	int fd = CALL(accept, lfd, (struct sockaddr *)&from, &fl);
	assert_true(fd >= 0);
	assert_int_equal(fl, sizeof(from));
	assert_int_equal(ntohl(from.sin_addr.s_addr), REMOTE);
	assert_int_equal(now_us(), t0); /* nothing waited */
	int err = 1;
	socklen_t el = sizeof(err);
	assert_int_equal(CALL(getsockopt, fd, SOL_SOCKET, SO_ERROR, &err, &el), 0);
	assert_int_equal(err, 0);
	struct pollfd pf = {.fd = fd, .events = POLLIN | POLLOUT};
	assert_int_equal(CALL(poll, &pf, 1, 0), 1);
	assert_int_equal(pf.revents, POLLOUT);
	assert_int_equal(counter(TERN_PD_INJECTED), 2);
	assert_int_equal(counter(TERN_PD_SENT), 1);
}

/* ---- (2) data both ways, quick and delayed ACKs ---- */

static void test_data(void **state)
{
	(void)state;
	struct peer c;
	passive_establish(&c, 8080);
	struct pkt p;
	char in[100], out[200], buf[1000];
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (char)('a' + i % 26);
	long long t0 = now_us();
	send_seg(&c, F_ACK | F_PSH, in, sizeof(in));
	expect_seg(&c, &p, F_ACK); /* the start of a connection: a quick ACK */
	assert_int_equal(p.t_us, t0);
	assert_int_equal(p.ack, 1101);
	assert_int_equal(CALL(read, c.fd, buf, sizeof(buf)), 100);
	assert_memory_equal(buf, in, 100);

	/* quick ACKs off: the next segment is acknowledged by the delayed-ACK
	 * timer, 40 ms later (Linux's TCP_DELACK_MIN) */
	int zero = 0;
	assert_int_equal(CALL(setsockopt, c.fd, IPPROTO_TCP, TCP_QUICKACK, &zero, sizeof(zero)), 0);
	CALL(usleep, 5000);
	long long t1 = now_us();
	send_seg(&c, F_ACK | F_PSH, in, 50);
	expect_seg(&c, &p, F_ACK);
	assert_int_equal(p.ack, 1151);
	assert_in_range(p.t_us - t1, 40000, 40200); /* 100 us timer ticks */
	assert_int_equal(now_us(), p.t_us); /* netdev_receive moved the clock there */
	assert_int_equal(CALL(recv, c.fd, buf, sizeof(buf), 0), 50);

	/* the stack writes: one segment, at once */
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (char)i;
	uint32_t seq = c.rcv_nxt;
	long long t2 = now_us();
	assert_int_equal(CALL(write, c.fd, out, sizeof(out)), 200);
	expect_seg(&c, &p, F_ACK | F_PSH);
	assert_int_equal(p.seq, seq);
	assert_int_equal(p.len, 200);
	assert_memory_equal(p.data, out, 200);
	assert_int_equal(p.t_us, t2);
	send_seg(&c, F_ACK, NULL, 0);

	/* readv and writev through the interface */
	send_seg(&c, F_ACK | F_PSH, "hello world", 11);
	char a[5], b[20];
	struct iovec iv[2] = {{a, sizeof(a)}, {b, sizeof(b)}};
	assert_int_equal(CALL(readv, c.fd, iv, 2), 11);
	assert_memory_equal(a, "hello", 5);
	assert_memory_equal(b, " world", 6);
	struct iovec ov[2] = {{"abc", 3}, {"defg", 4}};
	assert_int_equal(CALL(writev, c.fd, ov, 2), 7);
	/* one segment, as Linux sends it (the ACK of "hello world" may come
	 * first) */
	char got[7];
	for (;;) {
		assert_true(sniff(&p));
		if (p.len)
			break;
	}
	assert_int_equal(p.flags, F_ACK | F_PSH);
	assert_int_equal(p.seq, c.rcv_nxt);
	assert_int_equal(p.len, 7);
	memcpy(got, p.data, 7);
	assert_memory_equal(got, "abcdefg", 7);
}

/* ---- (3) loss: retransmission on the RTO with exponential backoff ---- */

static void test_retransmit(void **state)
{
	(void)state;
	struct peer c;
	passive_establish(&c, 8080);
	struct pkt p, r1, r2;
	char out[300];
	memset(out, 'x', sizeof(out));
	uint32_t seq = c.rcv_nxt;
	assert_int_equal(CALL(write, c.fd, out, sizeof(out)), 300);
	expect_seg(&c, &p, F_ACK | F_PSH);
	long long t0 = p.t_us;
	/* no ACK: the same segment again after the RTO (the handshake's RTT
	 * was 0, so the minimum, 200 ms), then after twice that */
	expect(&r1, F_ACK | F_PSH);
	assert_int_equal(r1.seq, seq);
	assert_int_equal(r1.len, 300);
	assert_memory_equal(r1.data, out, 300);
	long long gap1 = r1.t_us - t0;
	assert_in_range(gap1, 200000, 200200);
	expect(&r2, F_ACK | F_PSH);
	assert_int_equal(r2.seq, seq);
	assert_int_equal(r2.len, 300);
	long long gap2 = r2.t_us - r1.t_us;
	assert_in_range(gap2, 2 * gap1 - 200, 2 * gap1 + 200);
	/* the ACK ends it: nothing is scheduled any more */
	c.tsecr = r2.tsval;
	send_seg(&c, F_ACK, NULL, 0);
	assert_false(sniff(&p));
}

/* ---- (4) close: FIN, the peer's FIN, the last ACK ---- */

static void test_close(void **state)
{
	(void)state;
	struct peer c;
	passive_establish(&c, 8080);
	struct pkt p;
	uint32_t seq = c.rcv_nxt;
	assert_int_equal(CALL(close, c.fd), 0);
	expect_seg(&c, &p, F_FIN | F_ACK);
	assert_int_equal(p.seq, seq);
	assert_int_equal(p.len, 0);
	send_seg(&c, F_FIN | F_ACK, NULL, 0); /* acks the FIN */
	expect_seg(&c, &p, F_ACK);
	assert_int_equal(p.seq, seq + 1);
	assert_int_equal(p.ack, c.snd_nxt);
	assert_int_equal(CALL(read, c.fd, &p, 1), -1); /* the descriptor is gone */
	assert_int_equal(errno, EBADF);
	/* TIME_WAIT: no more packets, only its timer */
	long long t = now_us();
	assert_false(sniff(&p));
	assert_in_range(now_us() - t, 60000000, 60100000);
}

/* ---- (5) active open on a non-blocking socket ---- */

static void test_active_open(void **state)
{
	(void)state;
	int fd = CALL(socket, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	assert_int_equal(CALL(fcntl, fd, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9090), .sin_addr.s_addr = htonl(REMOTE)};
	long long t0 = now_us();
	assert_int_equal(CALL(connect, fd, (struct sockaddr *)&to, sizeof(to)), -1);
	assert_int_equal(errno, EINPROGRESS);
	struct pkt p;
	expect(&p, F_SYN);
	assert_int_equal(p.t_us, t0);
	assert_int_equal(p.src, LOCAL);
	assert_int_equal(p.dst, REMOTE);
	assert_int_equal(p.dport, 9090);
	assert_int_equal(p.mss, 1460);
	assert_true(p.sackok);
	assert_true(p.ts && p.tsecr == 0);
	assert_true(p.wscale >= 0);
	assert_int_equal(CALL(connect, fd, (struct sockaddr *)&to, sizeof(to)), -1);
	assert_int_equal(errno, EALREADY);
	struct pollfd pf = {.fd = fd, .events = POLLOUT};
	assert_int_equal(CALL(poll, &pf, 1, 0), 0);

	struct peer c = {.port = 9090, .lport = p.sport, .snd_nxt = 5000, .rcv_nxt = p.seq + 1,
			 .tsval = 700, .tsecr = p.tsval, .fd = fd};
	uint8_t o[20];
	struct seg s = {.src = REMOTE, .dst = LOCAL, .sport = 9090, .dport = c.lport, .seq = 5000,
			.ack = c.rcv_nxt, .flags = F_SYN | F_ACK, .win = 65535, .opt = o,
			.optlen = syn_opts(o, 700, p.tsval)};
	CALL(usleep, 30000); /* a 30 ms RTT */
	inject(&s);
	c.snd_nxt = 5001;
	c.tsval = 701;
	expect_seg(&c, &p, F_ACK);
	assert_int_equal(p.ack, 5001);
	assert_int_equal(p.t_us, t0 + 30000);
	assert_int_equal(CALL(poll, &pf, 1, 0), 1);
	assert_int_equal(pf.revents, POLLOUT);
	int err = -1;
	socklen_t el = sizeof(err);
	assert_int_equal(CALL(getsockopt, fd, SOL_SOCKET, SO_ERROR, &err, &el), 0);
	assert_int_equal(err, 0);
	assert_int_equal(CALL(send, fd, "ping", 4, 0), 4);
	expect_seg(&c, &p, F_ACK | F_PSH);
	assert_int_equal(p.len, 4);
	assert_memory_equal(p.data, "ping", 4);
	/* non-blocking read with nothing there */
	char b[8];
	assert_int_equal(CALL(read, fd, b, sizeof(b)), -1);
	assert_int_equal(errno, EAGAIN);
}

/* A blocking connect on the owner thread sleeps through the SYN
 * retransmissions in virtual time and fails as Linux does. */
static void test_blocking_connect_times_out(void **state)
{
	(void)state;
	teardown(state);
	drill_open(FLAGS " net.ipv4.tcp_syn_retries=2");
	int fd = CALL(socket, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9090), .sin_addr.s_addr = htonl(REMOTE)};
	long long t0 = now_us();
	assert_int_equal(CALL(connect, fd, (struct sockaddr *)&to, sizeof(to)), -1);
	assert_int_equal(errno, ETIMEDOUT);
	long long spent = now_us() - t0;
	struct pkt p;
	long long sent[3];
	for (int i = 0; i < 3; i++) {
		expect(&p, F_SYN);
		sent[i] = p.t_us - t0;
	}
	assert_false(sniff(&p));
	assert_int_equal(sent[0], 0);
	assert_in_range(sent[1], 1000000, 1000200); /* RTO 1 s, then 2 s */
	assert_in_range(sent[2] - sent[1], 2000000, 2000200);
	assert_in_range(spent, sent[2] + 4000000, sent[2] + 4000200); /* and 4 s more */
}

/* ---- (6) errors and the clock ---- */

static void test_errors(void **state)
{
	(void)state;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(1)};
	assert_int_equal(CALL(bind, 9999, (struct sockaddr *)&a, sizeof(a)), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(CALL(close, 9999), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(CALL(fcntl, 9999, F_GETFL), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(CALL(socket, AF_INET6, SOCK_STREAM, 0), -1);
	assert_int_equal(errno, EAFNOSUPPORT);
	int fd = CALL(socket, AF_INET, SOCK_STREAM, 0);
	a.sin_addr.s_addr = htonl(0x0a000001); /* not ours, not in our subnet */
	assert_int_equal(CALL(bind, fd, (struct sockaddr *)&a, sizeof(a)), -1);
	assert_int_equal(errno, EADDRNOTAVAIL);
	assert_int_equal(CALL(ioctl, fd, 0x1234ul, NULL), -1);
	assert_int_equal(errno, ENOTTY);

	/* connection refused: the RST, then the error on the next call */
	int on = 1;
	assert_int_equal(CALL(ioctl, fd, FIONBIO, &on), 0);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9091), .sin_addr.s_addr = htonl(REMOTE)};
	assert_int_equal(CALL(connect, fd, (struct sockaddr *)&to, sizeof(to)), -1);
	assert_int_equal(errno, EINPROGRESS);
	struct pkt p;
	expect(&p, F_SYN);
	struct seg rst = {.src = REMOTE, .dst = LOCAL, .sport = 9091, .dport = p.sport, .seq = 0,
			  .ack = p.seq + 1, .flags = F_RST | F_ACK};
	inject(&rst);
	assert_int_equal(CALL(connect, fd, (struct sockaddr *)&to, sizeof(to)), -1);
	assert_int_equal(errno, ECONNREFUSED);
	assert_false(sniff(&p)); /* no retransmission after the RST */

	/* IPv6 is refused and counted; so is what is not IP */
	uint8_t v6[60] = {0x60};
	v6[6] = 6;
	assert_int_equal(D.ifc.netdev_send(D.u, v6, sizeof(v6)), -1);
	assert_int_equal(errno, EAFNOSUPPORT);
	assert_int_equal(counter(TERN_PD_IPV6_REFUSED), 1);
	uint8_t junk[20] = {0x15};
	assert_int_equal(D.ifc.netdev_send(D.u, junk, sizeof(junk)), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(counter(TERN_PD_BAD_INPUT), 1);

	/* the clock moves exactly with usleep */
	long long t0 = now_us();
	assert_int_equal(CALL(usleep, 12345), 0);
	long long t1 = now_us();
	assert_int_equal(t1 - t0, 12345);
	assert_int_equal(CALL(usleep, 0), 0);
	assert_int_equal(now_us(), t1);
	/* ... and a read right after a read adds 1 us, so a caller spinning
	 * on the clock (packetdrill's last 20 us before an event) gets there */
	assert_int_equal(now_us(), t1 + 1);
	assert_int_equal(now_us(), t1 + 2);
	struct timezone tz = {.tz_minuteswest = 99};
	struct timeval tv;
	CALL(usleep, 1);
	assert_int_equal(D.ifc.gettimeofday(D.u, &tv, &tz), 0);
	assert_int_equal(tz.tz_minuteswest, 0);
}

/* Blocking calls on the owner thread that cannot complete. */
static void test_owner_blocking(void **state)
{
	(void)state;
	struct peer c;
	passive_establish(&c, 8080);
	char b[16];
	/* nothing scheduled: EAGAIN rather than a hang */
	assert_int_equal(CALL(read, c.fd, b, sizeof(b)), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(counter(TERN_PD_BLOCK_GAVE_UP), 1);
	/* SO_RCVTIMEO: the clock moves to the timeout */
	struct timeval tv = {.tv_sec = 0, .tv_usec = 300000};
	assert_int_equal(CALL(setsockopt, c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	struct timeval got;
	socklen_t gl = sizeof(got);
	assert_int_equal(CALL(getsockopt, c.fd, SOL_SOCKET, SO_RCVTIMEO, &got, &gl), 0);
	assert_int_equal(got.tv_usec, 300000);
	long long t0 = now_us();
	assert_int_equal(CALL(recv, c.fd, b, sizeof(b), 0), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(now_us() - t0, 300000);
	/* poll and epoll_wait time out in virtual time */
	struct pollfd pf = {.fd = c.fd, .events = POLLIN};
	t0 = now_us();
	assert_int_equal(CALL(poll, &pf, 1, 500), 0);
	assert_int_equal(now_us() - t0, 500000);
	int ep = CALL(epoll_create, 1);
	assert_true(ep >= 0);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 42}, out[4];
	assert_int_equal(CALL(epoll_ctl, ep, EPOLL_CTL_ADD, c.fd, &ev), 0);
	t0 = now_us();
	assert_int_equal(CALL(epoll_wait, ep, out, 4, 250), 0);
	assert_int_equal(now_us() - t0, 250000);
	send_seg(&c, F_ACK | F_PSH, "abc", 3);
	assert_int_equal(CALL(epoll_wait, ep, out, 4, -1), 1);
	assert_int_equal(out[0].data.u64, 42);
	int avail = -1;
	assert_int_equal(CALL(ioctl, c.fd, FIONREAD, &avail), 0);
	assert_int_equal(avail, 3);
	assert_int_equal(CALL(poll, &pf, 1, -1), 1);
	assert_int_equal(pf.revents, POLLIN);
	assert_int_equal(CALL(read, c.fd, b, sizeof(b)), 3);
	assert_int_equal(CALL(close, ep), 0);
}

/* ---- blocking calls on another thread, as packetdrill runs them ---- */

struct bg {
	pthread_t th;
	_Atomic int tid;
	int fd;
	int op; /* 0 accept, 1 read, 2 poll 500 ms, 3 connect to REMOTE:9090 */
	long rc;
	int err;
	long long end_us;
	char buf[64];
};

static void *bg_main(void *arg)
{
	struct bg *g = arg;
	g->tid = (int)syscall(SYS_gettid);
	if (g->op == 0) {
		g->rc = CALL(accept, g->fd, NULL, NULL);
	} else if (g->op == 1) {
		g->rc = CALL(read, g->fd, g->buf, sizeof(g->buf));
	} else if (g->op == 2) {
		struct pollfd pf = {.fd = g->fd, .events = POLLIN};
		g->rc = CALL(poll, &pf, 1, 500);
	} else {
		struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9090),
					 .sin_addr.s_addr = htonl(REMOTE)};
		g->rc = CALL(connect, g->fd, (struct sockaddr *)&to, sizeof(to));
	}
	g->err = errno;
	g->end_us = now_us(); /* packetdrill's end_syscall reads the clock at once */
	return NULL;
}

/* packetdrill's test that the syscall thread blocked: its state is S. */
static bool thread_sleeping(int tid)
{
	char path[64], st[512];
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(st, 1, sizeof(st) - 1, f);
	fclose(f);
	st[n] = '\0';
	const char *rp = strrchr(st, ')');
	return rp && rp[1] == ' ' && rp[2] == 'S';
}

static void bg_start(struct bg *g, int op, int fd)
{
	memset(g, 0, sizeof(*g));
	g->op = op;
	g->fd = fd;
	assert_int_equal(pthread_create(&g->th, NULL, bg_main, g), 0);
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int tid = g->tid;
		if (tid && thread_sleeping(tid))
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 10)
			fail_msg("the blocking call's thread never slept");
		sched_yield();
	}
}

static void test_threaded_accept(void **state)
{
	(void)state;
	int lfd = listen_on(8080);
	long long t0 = now_us();
	struct bg g;
	bg_start(&g, 0, lfd); /* 0...0.2 accept(3, ..., ...) = 4 */
	CALL(usleep, 100000);
	struct peer c;
	struct pkt p;
	passive_syn(&c, 8080, &p);
	assert_int_equal(p.t_us, t0 + 100000);
	CALL(usleep, 50000);
	send_seg(&c, F_ACK, NULL, 0); /* the accept can return now, at 150 ms */
	CALL(usleep, 200000);          /* waits for the thread to come back first */
	pthread_join(g.th, NULL);
	assert_true(g.rc >= 0);
	assert_int_equal(g.end_us - t0, 150000);
	assert_int_equal(now_us() - t0, 350000);
	assert_int_equal(counter(TERN_PD_SETTLE_TIMEOUTS), 0);

	/* 0...0.1 read(4, ..., 64) = 5 */
	c.fd = (int)g.rc;
	bg_start(&g, 1, c.fd);
	CALL(usleep, 20000);
	send_seg(&c, F_ACK | F_PSH, "hello", 5);
	expect_seg(&c, &p, F_ACK); /* quick ACK, at once */
	CALL(usleep, 1000);
	pthread_join(g.th, NULL);
	assert_int_equal(g.rc, 5);
	assert_memory_equal(g.buf, "hello", 5);
	assert_int_equal(g.end_us - t0, 370000);

	/* 0...0.5 poll([{fd=4, events=POLLIN}], 1, 500) = 0: the owner's
	 * sleep stops at the other thread's timeout */
	bg_start(&g, 2, c.fd);
	CALL(usleep, 2000000);
	pthread_join(g.th, NULL);
	assert_int_equal(g.rc, 0);
	assert_int_equal(g.end_us - t0, 871000); /* it started at 371 ms */
	assert_int_equal(now_us() - t0, 2371000);
	assert_int_equal(counter(TERN_PD_SETTLE_TIMEOUTS), 0);
}

/* 0...0.1 connect(3, ..., ...) = 0, then one refused */
static void test_threaded_connect(void **state)
{
	(void)state;
	struct bg g;
	struct pkt p;
	int fd = CALL(socket, AF_INET, SOCK_STREAM, 0);
	long long t0 = now_us();
	bg_start(&g, 3, fd);
	expect(&p, F_SYN); /* sent before the thread slept */
	assert_int_equal(p.t_us, t0);
	CALL(usleep, 20000);
	struct peer c = {.port = 9090, .lport = p.sport, .snd_nxt = 5000, .rcv_nxt = p.seq + 1,
			 .tsval = 700, .tsecr = p.tsval, .fd = fd};
	uint8_t o[20];
	struct seg s = {.src = REMOTE, .dst = LOCAL, .sport = 9090, .dport = c.lport, .seq = 5000,
			.ack = c.rcv_nxt, .flags = F_SYN | F_ACK, .win = 65535, .opt = o,
			.optlen = syn_opts(o, 700, p.tsval)};
	inject(&s);
	c.snd_nxt = 5001;
	c.tsval = 701;
	expect_seg(&c, &p, F_ACK);
	CALL(usleep, 1000);
	pthread_join(g.th, NULL);
	assert_int_equal(g.rc, 0);
	assert_int_equal(g.end_us - t0, 20000);

	int fd2 = CALL(socket, AF_INET, SOCK_STREAM, 0);
	t0 = now_us();
	bg_start(&g, 3, fd2);
	expect(&p, F_SYN);
	CALL(usleep, 5000);
	struct seg rst = {.src = REMOTE, .dst = LOCAL, .sport = 9090, .dport = p.sport,
			  .ack = p.seq + 1, .flags = F_RST | F_ACK};
	inject(&rst);
	CALL(usleep, 1000);
	pthread_join(g.th, NULL);
	assert_int_equal(g.rc, -1);
	assert_int_equal(g.err, ECONNREFUSED);
	assert_int_equal(g.end_us - t0, 5000);
	assert_int_equal(counter(TERN_PD_SETTLE_TIMEOUTS), 0);
}

/* ---- pipes and splice ---- */

static void test_pipe_splice(void **state)
{
	(void)state;
	struct peer c;
	passive_establish(&c, 8080);
	int pfd[2];
	assert_int_equal(CALL(pipe, pfd), 0);
	char msg[100];
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (char)(i * 7);
	assert_int_equal(CALL(write, pfd[1], msg, sizeof(msg)), 100);
	int avail = 0;
	assert_int_equal(CALL(ioctl, pfd[0], FIONREAD, &avail), 0);
	assert_int_equal(avail, 100);
	assert_int_equal(CALL(splice, pfd[0], NULL, c.fd, NULL, 100, 0), 100);
	struct pkt p;
	expect_seg(&c, &p, F_ACK | F_PSH);
	assert_int_equal(p.len, 100);
	assert_memory_equal(p.data, msg, 100);
	send_seg(&c, F_ACK | F_PSH, "from the peer", 13);
	expect_seg(&c, &p, F_ACK);
	assert_int_equal(CALL(splice, c.fd, NULL, pfd[1], NULL, 1000, 0), 13);
	char b[32];
	assert_int_equal(CALL(read, pfd[0], b, sizeof(b)), 13);
	assert_memory_equal(b, "from the peer", 13);
	/* an empty pipe: non-blocking EAGAIN; its end after the writer closes */
	assert_int_equal(CALL(fcntl, pfd[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(CALL(read, pfd[0], b, sizeof(b)), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(CALL(splice, pfd[0], NULL, pfd[1], NULL, 10, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(CALL(close, pfd[1]), 0);
	struct pollfd pf = {.fd = pfd[0], .events = POLLIN};
	assert_int_equal(CALL(poll, &pf, 1, 0), 1);
	assert_int_equal(pf.revents, POLLHUP);
	assert_int_equal(CALL(read, pfd[0], b, sizeof(b)), 0);
	assert_int_equal(CALL(close, pfd[0]), 0);
	assert_int_equal(CALL(close, pfd[0]), -1);
	assert_int_equal(errno, EBADF);
}

/* packetdrill's own default addresses: a bind to the local address it
 * picked at random in 192.168.0.0/16 makes that address the stack's. */
static void test_packetdrill_defaults(void **state)
{
	(void)state;
	teardown(state);
	drill_open("");
	int fd = CALL(socket, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(8080),
				.sin_addr.s_addr = htonl(0xc0a82a07)}; /* 192.168.42.7 */
	assert_int_equal(CALL(bind, fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(CALL(listen, fd, 1), 0);
	uint8_t o[20], b[128];
	struct seg s = {.src = 0xc0000201 /* 192.0.2.1 */, .dst = 0xc0a82a07, .sport = 40000, .dport = 8080,
			.seq = 1, .flags = F_SYN, .win = 65535, .opt = o, .optlen = syn_opts(o, 1, 0)};
	assert_int_equal(D.ifc.netdev_send(D.u, b, build(b, &s)), 0);
	struct pkt p;
	expect(&p, F_SYN | F_ACK);
	assert_int_equal(p.src, 0xc0a82a07);
	assert_int_equal(p.dst, 0xc0000201);
}

static void find_so(const char *argv0)
{
	const char *env = getenv("TERN_PD_SO");
	if (env && *env) {
		snprintf(so_path, sizeof(so_path), "%s", env);
		return;
	}
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", argv0);
	snprintf(so_path, sizeof(so_path), "%s/../../libtern-packetdrill.so", dirname(tmp));
}

int main(int argc, char **argv)
{
	(void)argc;
	find_so(argv[0]);
	if (access(so_path, R_OK) != 0) {
		fprintf(stderr, "no %s: build it with make tests, or set TERN_PD_SO\n", so_path);
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_passive_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retransmit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_active_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocking_connect_times_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_blocking, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threaded_accept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threaded_connect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipe_splice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_packetdrill_defaults, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
