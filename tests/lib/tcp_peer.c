/* The scripted TCP peer of tcp_peer.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "tcp_peer.h"
#include "wire/csum.h"

void peer_init(struct peer *p)
{
	memset(p, 0, sizeof(*p));
	p->s = t_stack_new(11);
	int ifx;
	p->w = t_wire_attach(p->s, TN_DEV_L3, &ifx);
	p->us = t_ip(US_IP);
	p->them = t_ip(PEER_IP);
	assert_int_equal(tern_addr_add(p->s, ifx, p->us, 24), 0);
	p->now = T_SEC;
	p->port = PEER_PORT;
	p->iss = 1000000;
	p->seq = p->iss;
	p->tsval = 5000;
}

void peer_free(struct peer *p) { tern_stack_free(p->s); }

/* Run to t, stopping at every moment the stack has work (timers fire at
 * their own times, not all at t). */
void run_to(struct peer *p, uint64_t t)
{
	for (;;) {
		uint64_t next = tern_poll_at(p->s);
		if (next <= p->now) /* a wheel boundary, not an expiry: step a tick */
			next = p->now + 100000;
		if (next > t)
			break;
		p->now = next;
		t_run(p->s, next);
	}
	p->now = t;
	t_run(p->s, t);
}

void advance(struct peer *p, uint64_t dt) { run_to(p, p->now + dt); }

/* Inject one segment from the peer to tern's port. */
void send_seg(struct peer *p, uint16_t dport, uint32_t seq, uint32_t ack, uint16_t flags, uint16_t win,
		     const struct tn_tcp_opts *opt, const void *data, uint32_t len)
{
	struct tn_tcp_hdr h = {.sport = p->port, .dport = dport, .seq = seq, .ack = ack, .flags = flags, .win = win};
	if (opt)
		h.opt = *opt;
	uint8_t l4[1600];
	size_t hl = tn_tcp_emit(&h, l4, sizeof(l4));
	assert_true(hl >= 20 && hl + len <= sizeof(l4));
	if (len)
		memcpy(l4 + hl, data, len);
	uint32_t tot = (uint32_t)hl + len;
	uint32_t sum = tn_csum_pseudo4(p->them, p->us, TN_IPPROTO_TCP, tot);
	tn_put16(l4 + 16, tn_csum_fold(tn_csum_partial(l4, tot, sum)));
	uint8_t pkt[1700];
	struct tn_ipv4_hdr ih = {.ihl = 20, .tos = p->ip_tos, .tot_len = (uint16_t)(20 + tot), .ttl = 64, .proto = TN_IPPROTO_TCP,
				 .src = p->them, .dst = p->us};
	tn_ipv4_emit(&ih, pkt, sizeof(pkt));
	memcpy(pkt + 20, l4, tot);
	t_wire_inject(p->w, pkt, 20 + tot);
	t_run(p->s, p->now);
}

/* A segment in the peer's current state: its seq, ACK of tern's data,
 * timestamps when negotiated. */
void peer_send(struct peer *p, uint16_t dport, uint16_t flags, const void *data, uint32_t len)
{
	struct tn_tcp_opts o = {0};
	if (p->ts) {
		o.has_ts = true;
		o.tsval = ++p->tsval;
		o.tsecr = p->tern_ts;
	}
	send_seg(p, dport, p->seq, p->ack, flags, 65535 >> 2, &o, data, len); /* with wscale 2: 65532 */
	p->seq += len + ((flags & TN_TCP_FIN) ? 1 : 0);
}

/* The next segment tern sent; false if none. */
bool take(struct peer *p, struct out *o)
{
	t_run(p->s, p->now); /* flush what socket calls queued */
	uint8_t buf[2048];
	int n = t_wire_take(p->w, buf, sizeof(buf));
	if (n < 0)
		return false;
	int ihl = (buf[0] & 0xf) * 4;
	o->tos = buf[1];
	assert_true(tn_tcp_parse(buf + ihl, (size_t)n - (size_t)ihl, &o->h) >= 20);
	o->len = (uint32_t)n - (uint32_t)ihl - o->h.doff;
	memcpy(o->data, buf + ihl + o->h.doff, o->len);
	if (o->h.opt.has_ts)
		p->tern_ts = o->h.opt.tsval;
	return true;
}

int count_sent(struct peer *p, uint16_t flag)
{
	struct out o;
	int n = 0;
	while (take(p, &o))
		n += (o.h.flags & flag) != 0;
	return n;
}

int64_t peer_stat(struct peer *p, const char *name) { return tern_stat(p->s, name); }

int listen_on(struct peer *p, uint16_t port, int backlog)
{
	int fd = tern_socket(p->s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	assert_int_equal(tern_bind(p->s, fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(tern_listen(p->s, fd, backlog), 0);
	return fd;
}

struct tn_tcp_opts syn_opts(bool ts)
{
	struct tn_tcp_opts o = {.has_mss = true, .mss = 1460, .has_wscale = true, .wscale = 2, .sack_ok = true};
	if (ts) {
		o.has_ts = true;
		o.tsval = 5000;
	}
	return o;
}

/* Peer SYN -> tern SYN-ACK -> peer ACK; returns the accepted descriptor. */
void peer_handshake(struct peer *p, bool ts)
{
	struct tn_tcp_opts o = syn_opts(ts);
	send_seg(p, SRV_PORT, p->iss, 0, TN_TCP_SYN, 65535, &o, NULL, 0);
	struct out sa;
	assert_true(take(p, &sa));
	assert_int_equal(sa.h.flags, TN_TCP_SYN | TN_TCP_ACK);
	assert_int_equal(sa.h.ack, p->iss + 1);
	p->seq = p->iss + 1;
	p->ack = sa.h.seq + 1;
	p->ts = ts;
	peer_send(p, SRV_PORT, TN_TCP_ACK, NULL, 0);
}

int passive_open(struct peer *p, int lfd, bool ts)
{
	peer_handshake(p, ts);
	int fd = tern_accept(p->s, lfd, NULL, NULL);
	assert_true(fd >= 0);
	return fd;
}

