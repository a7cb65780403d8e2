/* libFuzzer target: TCP's state machine with real sockets behind it.  A
 * stack on a raw-IP memlink has a listener on port 80 and, after a real
 * handshake played by this harness, an accepted connection and an active
 * one; the input is then a program of operations: segments toward either
 * (flags, sequence numbers near the connection's own or raw, window,
 * arbitrary option bytes, payload, a good or bad checksum), socket calls
 * (send, recv, shutdown, close, linger, nodelay, accept) and jumps of the
 * virtual clock up to minutes, so every timer fires.  At the end all is
 * closed and time runs out: every packet buffer must be back in the pool. */
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "link/dev.h"
#include "wire/csum.h"
#include "wire/tcp.h"
#include "wire/wire.h"

#define US 0xc6120001u   /* 198.18.0.1 */
#define PEER 0xc6120002u /* 198.18.0.2 */
#define SEC 1000000000ull

struct input {
	const uint8_t *p;
	size_t n;
};

static uint8_t byte(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint32_t u32(struct input *in)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v = v << 8 | byte(in);
	return v;
}

/* One side of a connection as the harness plays it. */
struct flow {
	uint16_t lport, pport; /* tern's port, the peer's port */
	uint32_t snd, rcv;     /* the peer's next seq; what it acknowledges */
};

struct world {
	struct tn_stack *s;
	struct tn_dev *peer;
	struct tn_mempool *mp;
	uint64_t now;
	int lfd, afd, cfd;
	struct flow f[2]; /* 0: to the listener / accepted; 1: the active open */
#ifdef TN_FUZZ_TFO
	uint8_t cookie[TN_TCP_MAX_COOKIE]; /* tern's Fast Open cookie for the peer */
	uint8_t cookie_len;
	uint16_t next_port;               /* for TFO SYNs from new peer ports */
	int tfo_fds[8];                   /* Fast Open client sockets */
	int ntfo;
#endif
};

static void poll_all(struct world *w)
{
	tern_poll(w->s, w->now);
}

/* What tern sent: note its sequence numbers so the harness stays near them. */
static void drain(struct world *w)
{
	poll_all(w);
	struct tn_pkt *out[32];
	unsigned n;
	while ((n = tn_dev_rx(w->peer, w->mp, out, 32)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			uint8_t buf[2048];
			uint32_t len = out[i]->pkt_len < sizeof(buf) ? out[i]->pkt_len : sizeof(buf);
			tn_pkt_copy_out(out[i], 0, buf, len);
			tn_pkt_free(out[i]);
			struct tn_tcp_hdr h;
			if (len < 40 || (buf[0] & 0xf) != 5 || tn_tcp_parse(buf + 20, len - 20, &h) < 20)
				continue;
#ifdef TN_FUZZ_TFO
			if ((h.flags & (TN_TCP_SYN | TN_TCP_ACK)) == (TN_TCP_SYN | TN_TCP_ACK) && h.opt.has_cookie &&
			    h.opt.cookie_len) { /* a SYN-ACK's cookie: the listener's */
				memcpy(w->cookie, h.opt.cookie, h.opt.cookie_len);
				w->cookie_len = h.opt.cookie_len;
			}
#endif
			for (int k = 0; k < 2; k++) {
				struct flow *f = &w->f[k];
				if (h.sport != f->lport || h.dport != f->pport)
					continue;
				uint32_t end = h.seq + (len - 20 - h.doff) + !!(h.flags & TN_TCP_SYN) + !!(h.flags & TN_TCP_FIN);
				if ((int32_t)(end - f->rcv) > 0)
					f->rcv = end;
			}
		}
	}
}

static void inject(struct world *w, const struct tn_tcp_hdr *h, const uint8_t *raw_opt, size_t optlen,
		   const uint8_t *data, size_t len, bool bad_sum)
{
	uint8_t l4[1600];
	size_t hl = tn_tcp_emit(h, l4, sizeof(l4));
	if (hl < 20)
		return;
	if (raw_opt && optlen) { /* arbitrary option bytes in place of the emitted ones */
		optlen &= ~(size_t)3;
		if (optlen > 40)
			optlen = 40;
		memcpy(l4 + 20, raw_opt, optlen);
		hl = 20 + optlen;
		l4[12] = (uint8_t)(hl / 4) << 4;
	}
	if (hl + len > sizeof(l4))
		len = sizeof(l4) - hl;
	if (len)
		memcpy(l4 + hl, data, len);
	uint32_t tot = (uint32_t)(hl + len);
	l4[16] = l4[17] = 0;
	uint32_t sum = tn_csum_pseudo4(PEER, US, TN_IPPROTO_TCP, tot);
	tn_put16(l4 + 16, (uint16_t)(tn_csum_fold(tn_csum_partial(l4, tot, sum)) ^ (bad_sum ? 0x0101 : 0)));
	uint8_t pkt[1700];
	struct tn_ipv4_hdr ih = {.ihl = 20, .tot_len = (uint16_t)(20 + tot), .ttl = 64, .proto = TN_IPPROTO_TCP,
				 .src = PEER, .dst = US};
	tn_ipv4_emit(&ih, pkt, sizeof(pkt));
	memcpy(pkt + 20, l4, tot);
	struct tn_pkt *p = tn_pkt_from_bytes(w->mp, pkt, 20 + tot);
	if (p && tn_dev_tx(w->peer, &p, 1) != 1)
		tn_pkt_free(p);
	drain(w);
}

static void syn_opts(struct input *in, struct tn_tcp_opts *o)
{
	uint8_t b = byte(in);
	memset(o, 0, sizeof(*o));
	o->mss = (uint16_t)(b & 1 ? 536 + byte(in) * 4 : 1460);
	o->has_mss = true;
	o->has_wscale = b & 2;
	o->wscale = (uint8_t)(byte(in) % 16);
	o->sack_ok = b & 4;
	o->has_ts = b & 8;
	o->tsval = 1000;
}

/* Handshakes played honestly, so the program starts from ESTABLISHED. */
static void setup(struct world *w, struct input *in)
{
	struct tern_config cfg = {.seed = 7, .now = SEC, .pool_size = 512};
	w->s = tern_stack_new(&cfg);
	w->now = cfg.now;
	w->mp = tn_mempool_new(64);
	struct tn_dev *mine;
	tn_memlink_pair("fz0", "fzpeer", TN_DEV_L3, 1500, 256, &mine, &w->peer);
	tern_addr_add(w->s, tern_dev_attach(w->s, mine), US, 24);
	char cookies[2] = {(char)('0' + byte(in) % 3), 0};
	tern_sysctl_set(w->s, "net.ipv4.tcp_syncookies", cookies);
	w->lfd = tern_socket(w->s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(80)};
	tern_bind(w->s, w->lfd, (struct sockaddr *)&a, sizeof(a));
	tern_listen(w->s, w->lfd, 4);
	/* passive: SYN, SYN-ACK, ACK */
	struct tn_tcp_opts o;
	syn_opts(in, &o);
#ifdef TN_FUZZ_TFO
	/* Fast Open both ways: the listener hands out cookies (this SYN asks
	 * for one), and the active open below goes by sendto(MSG_FASTOPEN) */
	tern_sysctl_set(w->s, "net.ipv4.tcp_fastopen", "3");
	int qlen = 2;
	tern_setsockopt(w->s, w->lfd, IPPROTO_TCP, TCP_FASTOPEN, &qlen, sizeof(qlen));
	o.has_cookie = true;
	o.cookie_len = 0;
	w->next_port = 41000;
#endif
	w->f[0] = (struct flow){.lport = 80, .pport = 40000, .snd = 1000000};
	struct tn_tcp_hdr h = {.sport = 40000, .dport = 80, .seq = w->f[0].snd, .flags = TN_TCP_SYN, .win = 65535, .opt = o};
	inject(w, &h, NULL, 0, NULL, 0, false);
	w->f[0].snd++;
	h = (struct tn_tcp_hdr){.sport = 40000, .dport = 80, .seq = w->f[0].snd, .ack = w->f[0].rcv,
				.flags = TN_TCP_ACK, .win = 4096};
	inject(w, &h, NULL, 0, NULL, 0, false);
	w->afd = tern_accept(w->s, w->lfd, NULL, NULL);
	/* active: connect to the peer, which answers the SYN */
	w->cfd = tern_socket(w->s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(8080), .sin_addr.s_addr = htonl(PEER)};
#ifdef TN_FUZZ_TFO
	tern_sendto(w->s, w->cfd, "hello", 5, MSG_FASTOPEN, (struct sockaddr *)&to, sizeof(to));
#else
	tern_connect(w->s, w->cfd, (struct sockaddr *)&to, sizeof(to));
#endif
	struct sockaddr_in me;
	socklen_t ml = sizeof(me);
	tern_getsockname(w->s, w->cfd, (struct sockaddr *)&me, &ml);
	w->f[1] = (struct flow){.lport = ntohs(me.sin_port), .pport = 8080, .snd = 5000000};
	drain(w);
	syn_opts(in, &o);
#ifdef TN_FUZZ_TFO
	o.has_cookie = true; /* the peer's cookie, cached for later Fast Open connects */
	o.cookie_len = 8;
	memcpy(o.cookie, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
#endif
	h = (struct tn_tcp_hdr){.sport = 8080, .dport = w->f[1].lport, .seq = w->f[1].snd, .ack = w->f[1].rcv,
				.flags = TN_TCP_SYN | TN_TCP_ACK, .win = 65535, .opt = o};
	inject(w, &h, NULL, 0, NULL, 0, false);
	w->f[1].snd++;
}

static void op_segment(struct world *w, struct input *in)
{
	uint8_t sel = byte(in);
	struct flow *f = &w->f[sel & 1];
	struct tn_tcp_hdr h = {.sport = f->pport, .dport = f->lport, .flags = (uint16_t)(byte(in) & 0x3f),
			       .win = (uint16_t)(byte(in) << 8 | byte(in))};
	if (sel & 2) { /* near the connection's numbers: mostly acceptable */
		h.seq = f->snd + (uint32_t)(int8_t)byte(in) * (sel & 4 ? 1000u : 1u);
		h.ack = f->rcv + (uint32_t)(int8_t)byte(in) * (sel & 8 ? 1000u : 1u);
	} else {
		h.seq = u32(in);
		h.ack = u32(in);
	}
	if (sel & 16) {
		h.opt.has_ts = true;
		h.opt.tsval = u32(in);
		h.opt.tsecr = u32(in);
	}
	uint8_t opt[40];
	size_t optlen = sel & 32 ? byte(in) % 41 : 0;
	for (size_t i = 0; i < optlen; i++)
		opt[i] = byte(in);
	uint8_t data[1460];
	size_t len = byte(in);
	len = len > 200 ? (len - 200) * 26 : len; /* up to about one full segment */
	if (len > sizeof(data))
		len = sizeof(data);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)i;
	inject(w, &h, optlen ? opt : NULL, optlen, data, len, (sel & 0xc0) == 0xc0);
	if ((sel & 2) && !(sel & 0xc0) && (h.flags & TN_TCP_ACK))
		f->snd = h.seq + (uint32_t)len + !!(h.flags & TN_TCP_FIN); /* the harness moves on */
}

static void op_socket(struct world *w, struct input *in)
{
	uint8_t b = byte(in);
	int fd = b & 1 ? w->cfd : w->afd;
	static const uint8_t zeros[65536];
	char buf[8192];
	switch ((b >> 1) % 8) {
	case 0:
		tern_send(w->s, fd, zeros, (size_t)byte(in) * 256 + 1, 0);
		break;
	case 1:
		tern_recv(w->s, fd, buf, sizeof(buf), 0);
		break;
	case 2:
		tern_shutdown(w->s, fd, SHUT_WR);
		break;
	case 3: {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		tern_setsockopt(w->s, fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		break;
	}
	case 4: {
		int on = byte(in) & 1;
		tern_setsockopt(w->s, fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
		tern_setsockopt(w->s, fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
		break;
	}
	case 5:
		if (fd >= 0 && tern_close(w->s, fd) == 0) {
			if (fd == w->cfd)
				w->cfd = -1;
			else
				w->afd = -1;
		}
		break;
	case 6: {
		int a = tern_accept(w->s, w->lfd, NULL, NULL);
		if (a >= 0)
			tern_close(w->s, a);
		break;
	}
	default:
		tern_shutdown(w->s, fd, SHUT_RD);
		break;
	}
	drain(w);
}

#ifdef TN_FUZZ_TFO
/* Fast Open: a SYN from a new peer port with tern's cookie (or a bad one,
 * or a request, or none), data and maybe a FIN; or a new client socket
 * opened by sendto(MSG_FASTOPEN) or TCP_FASTOPEN_CONNECT and a write. */
static void op_tfo(struct world *w, struct input *in)
{
	uint8_t b = byte(in);
	uint8_t data[1460];
	size_t len = (size_t)byte(in) * 6;
	for (size_t i = 0; i < len && i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	if (len > sizeof(data))
		len = sizeof(data);
	if (b & 1) {
		struct tn_tcp_hdr h = {.sport = w->next_port++, .dport = 80, .seq = u32(in),
				       .flags = (uint16_t)(TN_TCP_SYN | (b & 2 ? TN_TCP_FIN : 0)), .win = 65535};
		h.opt.has_mss = true;
		h.opt.mss = 1460;
		if (!(b & 4)) {
			h.opt.has_cookie = true;
			h.opt.cookie_len = b & 8 ? 0 : w->cookie_len;
			memcpy(h.opt.cookie, w->cookie, w->cookie_len);
			if (b & 16)
				h.opt.cookie[0] ^= 1; /* a bad cookie */
		}
		inject(w, &h, NULL, 0, data, len, false);
		return;
	}
	if (w->ntfo == (int)(sizeof(w->tfo_fds) / sizeof(w->tfo_fds[0])))
		return;
	int fd = tern_socket(w->s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	w->tfo_fds[w->ntfo++] = fd;
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(8080), .sin_addr.s_addr = htonl(PEER)};
	if (b & 2) {
		int on = 1;
		tern_setsockopt(w->s, fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &on, sizeof(on));
		tern_connect(w->s, fd, (struct sockaddr *)&to, sizeof(to));
		tern_send(w->s, fd, data, len, 0);
	} else {
		tern_sendto(w->s, fd, data, len, MSG_FASTOPEN, (struct sockaddr *)&to, sizeof(to));
	}
	drain(w);
}
#endif

static void op_time(struct world *w, struct input *in)
{
	uint8_t b = byte(in);
	uint64_t dt = b < 128 ? (uint64_t)b * 1000000ull : (uint64_t)(b - 127) * SEC;
	uint64_t end = w->now + dt;
	while (w->now < end) { /* step through every timer on the way */
		uint64_t next = tern_poll_at(w->s);
		w->now = next > w->now && next < end ? next : end;
		drain(w);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = {data, size};
	struct world w;
	memset(&w, 0, sizeof(w));
	setup(&w, &in);
	for (int ops = 0; in.n && ops < 200; ops++) {
		uint8_t op = byte(&in);
		if (op < 160)
			op_segment(&w, &in);
		else if (op < 224)
			op_socket(&w, &in);
#ifdef TN_FUZZ_TFO
		else if (op >= 240)
			op_tfo(&w, &in);
#endif
		else
			op_time(&w, &in);
	}
	if (w.afd >= 0)
		tern_close(w.s, w.afd);
	if (w.cfd >= 0)
		tern_close(w.s, w.cfd);
#ifdef TN_FUZZ_TFO
	for (int i = 0; i < w.ntfo; i++)
		tern_close(w.s, w.tfo_fds[i]);
#endif
	tern_close(w.s, w.lfd);
	/* every timer runs out: retransmissions give up, TIME-WAIT ends */
	for (int k = 0; k < 40 && (w.s->tcp.count || tern_pool_in_use(w.s)); k++) {
		w.now += 60 * SEC;
		drain(&w);
	}
	if (w.s->tcp.count || tern_pool_in_use(w.s))
		abort(); /* a connection or buffer outlived everything */
	tern_stack_free(w.s);
	tn_dev_destroy(w.peer);
	tn_mempool_free(w.mp);
	return 0;
}
