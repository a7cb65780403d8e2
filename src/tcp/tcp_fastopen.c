/* TCP Fast Open (RFC 7413), as Linux does it.
 *
 * Server: a listener with TCP_FASTOPEN (qlen > 0), or every listener under
 * tcp_fastopen 0x400, answers a cookie request (an empty option) with a
 * cookie in its SYN-ACK: SipHash-2-4 of the client and server addresses
 * under net.ipv4.tcp_fastopen_key (primary; a backup key is accepted too and
 * its cookie replaced).  A SYN with a valid cookie makes a child at once: its
 * data is taken (the SYN-ACK acknowledges it), the child goes on the accept
 * queue in SYN-RECEIVED so the application reads and answers before the
 * final ACK.  At most qlen such children wait for their final ACK
 * (TCPFastOpenListenOverflow beyond: the ordinary handshake).  A bad cookie:
 * the data is left for the client to resend, the SYN-ACK carries the right
 * cookie.
 *
 * Client: cookies are cached per destination address in a bounded table
 * hanging off the stack (least recently used entry replaced).  With a
 * cookie the SYN carries it and up to a segment of data; without one it
 * asks for one.  A SYN-ACK acknowledging only the SYN sends the data again
 * after the handshake; a SYN with data that times out is resent bare, and
 * its destination gets no Fast Open for 60 s, doubling with each loss in a
 * row (up to 64 min) until a SYN's data is acknowledged again. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/siphash.h"
#include "core/stack.h"
#include "socket/epoll.h"
#include "tcp/tcp_int.h"

#define TFO_MAX_OPT_SPACE 40                /* Linux's MAX_TCP_OPTION_SPACE */
#define TFO_BLACKOUT (60ull * 1000000000ull) /* after a lost SYN with data */
#define TFO_BLACKOUT_MAX_SHIFT 6

struct tfo_entry {
	uint32_t addr;          /* 0: free */
	uint16_t mss;           /* the server's MSS */
	uint8_t len;            /* cookie bytes; 0: none yet */
	uint8_t syn_loss;       /* SYNs with data lost in a row */
	uint8_t cookie[TN_TCP_MAX_COOKIE];
	uint64_t last_loss, used;
};

struct tn_tfo {
	char key_str[sizeof(((struct tn_sysctl *)0)->tcp_fastopen_key)]; /* what keys were parsed from */
	uint8_t keys[2][16];
	int nkeys;
	struct tfo_entry cache[TN_TFO_CACHE];
};

/* ---- keys and cookies ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One key: four groups of 1..8 hex digits joined by '-'; *end after it. */
static bool parse_one(const char *p, uint8_t key[16], const char **end)
{
	for (int w = 0; w < 4; w++) {
		if (w && *p++ != '-')
			return false;
		uint32_t v = 0;
		int n = 0;
		for (; hexval(*p) >= 0; p++, n++)
			v = v << 4 | (uint32_t)hexval(*p);
		if (n < 1 || n > 8)
			return false;
		for (int i = 0; i < 4; i++)
			key[4 * w + i] = (uint8_t)(v >> (8 * i)); /* little-endian words, as Linux */
	}
	*end = p;
	return true;
}

int tn_tcp_fastopen_key_parse(const char *s, uint8_t keys[2][16])
{
	const char *p = s;
	if (!parse_one(p, keys[0], &p))
		return -1;
	if (*p == 0)
		return 1;
	if (*p++ != ',' || !parse_one(p, keys[1], &p) || *p)
		return -1;
	return 2;
}

void tn_tcp_fastopen_key_format(const uint8_t keys[][16], int n, char *buf, size_t cap)
{
	size_t off = 0;
	if (cap)
		buf[0] = 0;
	for (int k = 0; k < n && off < cap; k++) {
		uint32_t w[4];
		for (int i = 0; i < 4; i++)
			w[i] = (uint32_t)keys[k][4 * i] | (uint32_t)keys[k][4 * i + 1] << 8 |
			       (uint32_t)keys[k][4 * i + 2] << 16 | (uint32_t)keys[k][4 * i + 3] << 24;
		off += (size_t)snprintf(buf + off, cap - off, "%s%08x-%08x-%08x-%08x", k ? "," : "", w[0], w[1], w[2],
					w[3]);
	}
}

void tn_tcp_fastopen_cookie(const uint8_t key[16], uint32_t client, uint32_t server, uint8_t out[TN_TFO_COOKIE_LEN])
{
	uint8_t msg[8];
	for (int i = 0; i < 4; i++) {
		msg[i] = (uint8_t)(client >> (24 - 8 * i));
		msg[4 + i] = (uint8_t)(server >> (24 - 8 * i));
	}
	uint64_t v = tn_siphash24(key, msg, sizeof(msg));
	for (int i = 0; i < TN_TFO_COOKIE_LEN; i++)
		out[i] = (uint8_t)(v >> (8 * i));
}

/* The default key: a PRF of the stack's own secrets (drawn from its
 * injected randomness), so nothing new is drawn and no secret shows. */
void tn_tcp_fastopen_init(struct tn_stack *s)
{
	uint8_t seed[16], key[1][16];
	for (int i = 0; i < 8; i++) {
		seed[i] = (uint8_t)(s->tcp.isn_key[0] >> (8 * i));
		seed[8 + i] = (uint8_t)(s->tcp.cookie_key[1] >> (8 * i));
	}
	uint64_t a = tn_siphash24(seed, "tern tfo key 0", 14), b = tn_siphash24(seed, "tern tfo key 1", 14);
	for (int i = 0; i < 8; i++) {
		key[0][i] = (uint8_t)(a >> (8 * i));
		key[0][8 + i] = (uint8_t)(b >> (8 * i));
	}
	tn_tcp_fastopen_key_format(key, 1, s->sysctl.tcp_fastopen_key, sizeof(s->sysctl.tcp_fastopen_key));
}

void tn_tcp_fastopen_free(struct tn_stack *s)
{
	free(s->tcp.tfo);
	s->tcp.tfo = NULL;
}

static struct tn_tfo *tfo_state(struct tn_stack *s)
{
	if (!s->tcp.tfo)
		s->tcp.tfo = calloc(1, sizeof(*s->tcp.tfo));
	return s->tcp.tfo;
}

/* The keys now in force (parsed again when the sysctl changed); 0 if none. */
static int tfo_keys(struct tn_stack *s, struct tn_tfo *f)
{
	if (strcmp(f->key_str, s->sysctl.tcp_fastopen_key) != 0) {
		snprintf(f->key_str, sizeof(f->key_str), "%s", s->sysctl.tcp_fastopen_key);
		f->nkeys = tn_tcp_fastopen_key_parse(f->key_str, f->keys);
		if (f->nkeys < 0)
			f->nkeys = 0;
	}
	return f->nkeys;
}

/* 1: the primary key's cookie, 2: the backup's, 0: neither. */
static int cookie_check(struct tn_stack *s, struct tn_tfo *f, uint32_t client, uint32_t server,
			const struct tn_tcp_opts *o)
{
	if (o->cookie_len != TN_TFO_COOKIE_LEN)
		return 0;
	int n = tfo_keys(s, f);
	for (int k = 0; k < n; k++) {
		uint8_t c[TN_TFO_COOKIE_LEN];
		tn_tcp_fastopen_cookie(f->keys[k], client, server, c);
		if (memcmp(c, o->cookie, sizeof(c)) == 0)
			return k + 1;
	}
	return 0;
}

/* ---- the client's cookie cache ---- */

static struct tfo_entry *cache_find(struct tn_tfo *f, uint32_t addr)
{
	for (int i = 0; f && i < TN_TFO_CACHE; i++)
		if (f->cache[i].addr == addr)
			return &f->cache[i];
	return NULL;
}

/* The entry for addr, made if need be in place of the least recently used. */
static struct tfo_entry *cache_get(struct tn_stack *s, uint32_t addr)
{
	struct tn_tfo *f = tfo_state(s);
	if (!f)
		return NULL;
	struct tfo_entry *e = cache_find(f, addr);
	if (!e) {
		e = &f->cache[0];
		for (int i = 0; i < TN_TFO_CACHE; i++) {
			if (!f->cache[i].addr) {
				e = &f->cache[i];
				break;
			}
			if (f->cache[i].used < e->used)
				e = &f->cache[i];
		}
		memset(e, 0, sizeof(*e));
		e->addr = addr;
	}
	e->used = s->now;
	return e;
}

enum tfo_mode { TFO_NONE, TFO_REQUEST, TFO_COOKIE, TFO_NO_COOKIE };

static enum tfo_mode client_mode(struct tn_stack *s, uint32_t raddr, struct tfo_entry **ep)
{
	int fo = s->sysctl.tcp_fastopen;
	struct tfo_entry *e = cache_find(s->tcp.tfo, raddr);
	*ep = e;
	if (!(fo & TN_TFO_CLIENT_ENABLE))
		return TFO_NONE;
	if (e && e->syn_loss) {
		unsigned shift = e->syn_loss - 1u < TFO_BLACKOUT_MAX_SHIFT ? e->syn_loss - 1u : TFO_BLACKOUT_MAX_SHIFT;
		if (s->now < e->last_loss + (TFO_BLACKOUT << shift))
			return TFO_NONE; /* recent SYN losses: no option, no data */
	}
	if (fo & TN_TFO_CLIENT_NO_COOKIE)
		return TFO_NO_COOKIE;
	return e && e->len ? TFO_COOKIE : TFO_REQUEST;
}

/* The SYN with as much of data as one segment takes (options at their
 * largest, as Linux sizes it); returns the bytes it carries. */
static long send_syn_data(struct tn_stack *s, struct tn_tcb *t, const void *data, size_t len)
{
	struct tfo_entry *e = cache_find(s->tcp.tfo, t->raddr);
	uint32_t mss = tn_tcp_adv_mss(s, t);
	if (e && e->mss && e->mss < mss)
		mss = e->mss;
	uint32_t room = mss > TFO_MAX_OPT_SPACE ? mss - TFO_MAX_OPT_SPACE : 0;
	uint32_t n = len < room ? (uint32_t)len : room;
	if (n && tn_tcp_sndbuf_append(s, t, data, n) < 0)
		n = 0;
	if (n)
		t->tfo |= TN_TFO_SYN_DATA;
	t->snd_nxt = t->snd_max = t->iss + 1 + n;
	t->bytes_sent += n;
	t->rtt_start = s->now;
	tn_tcp_xmit(s, t, t->iss, n, TN_TCP_SYN);
	tn_tcp_arm_rtx(s, t);
	return n;
}

long tn_tcp_fastopen_connect(struct tn_stack *s, struct tn_tcb **out, uint32_t laddr, uint16_t lport,
			     uint32_t raddr, uint16_t rport, const void *data, size_t len, bool defer,
			     bool *deferred)
{
	*deferred = false;
	struct tn_tcb *t;
	int rc = tn_tcp_connect_tcb(s, &t, laddr, lport, raddr, rport);
	if (rc < 0)
		return rc;
	*out = t;
	struct tfo_entry *e;
	enum tfo_mode mode = client_mode(s, raddr, &e);
	if (mode == TFO_COOKIE || mode == TFO_REQUEST)
		t->tfo |= TN_TFO_SYN_OPT;
	if (mode == TFO_COOKIE || mode == TFO_NO_COOKIE) {
		if (defer && !len) { /* Linux defers only with a cookie in hand */
			t->tfo |= TN_TFO_DEFER;
			*deferred = true;
			return 0;
		}
		return send_syn_data(s, t, data, len);
	}
	return send_syn_data(s, t, NULL, 0); /* a cookie request, or plain */
}

long tn_tcp_fastopen_defer_send(struct tn_stack *s, struct tn_tcb *t, const void *data, size_t len)
{
	t->tfo &= (uint8_t)~TN_TFO_DEFER;
	return send_syn_data(s, t, data, len);
}

void tn_tcp_fastopen_synack(struct tn_stack *s, struct tn_tcb *t, const struct tn_tcp_seg *g)
{
	uint8_t f = t->tfo;
	t->tfo &= (uint8_t)~(TN_TFO_SYN_OPT | TN_TFO_SYN_DATA);
	if (!(f & (TN_TFO_SYN_OPT | TN_TFO_SYN_DATA)))
		return;
	const struct tn_tcp_opts *o = &g->h.opt;
	struct tfo_entry *e = cache_get(s, t->raddr);
	if (e && (f & TN_TFO_SYN_OPT) && o->has_cookie && o->cookie_len >= 4 && !(o->cookie_len & 1)) {
		memcpy(e->cookie, o->cookie, o->cookie_len);
		e->len = o->cookie_len;
	}
	if (e)
		e->mss = t->rcv_mss;
	if (!(f & TN_TFO_SYN_DATA))
		return;
	uint32_t sent = t->snd_max - (t->iss + 1), acked = g->h.ack - (t->iss + 1);
	tn_tcp_sndbuf_ack(s, t, acked);
	if (acked >= sent) {
		tn_stat_inc(s, TN_TcpExtTCPFastOpenActive);
		if (e)
			e->syn_loss = 0;
		return;
	}
	/* Only (part of) the SYN acknowledged: the rest goes again as soon as
	 * the handshake is done (tn_tcp_output after this). */
	tn_stat_inc(s, TN_TcpExtTCPFastOpenActiveFail);
	t->snd_nxt = t->snd_max = g->h.ack;
}

void tn_tcp_fastopen_syn_timeout(struct tn_stack *s, struct tn_tcb *t)
{
	if (!(t->tfo & TN_TFO_SYN_DATA) || t->syn_retries != 1)
		return;
	struct tfo_entry *e = cache_get(s, t->raddr);
	if (e) {
		if (e->syn_loss < 255)
			e->syn_loss++;
		e->last_loss = s->now;
	}
}

/* ---- server ---- */

void tn_tcp_fastopen_listen(struct tn_stack *s, struct tn_tcb *l, uint32_t qlen)
{
	int fo = s->sysctl.tcp_fastopen;
	uint32_t wo = TN_TFO_SERVER_ENABLE | TN_TFO_SERVER_WO_SOCKOPT1;
	if (!qlen && ((uint32_t)fo & wo) == wo)
		qlen = l->backlog;
	l->tfo_qlen = (uint16_t)(qlen < 65535 ? qlen : 65535);
}

void tn_tcp_fastopen_passive(struct tn_stack *s, struct tn_tcb *l, struct tn_tcb *c, const struct tn_tcp_seg *g,
			     struct tn_pkt **pkt)
{
	const struct tn_tcp_opts *o = &g->h.opt;
	int fo = s->sysctl.tcp_fastopen;
	bool request = o->has_cookie && o->cookie_len == 0;
	bool syn_data = g->len || (g->h.flags & TN_TCP_FIN);
	if (request)
		tn_stat_inc(s, TN_TcpExtTCPFastOpenCookieReqd);
	if (!(fo & TN_TFO_SERVER_ENABLE) || !l->tfo_qlen || !(syn_data || o->has_cookie))
		return;
	if (l->tfo_pending >= l->tfo_qlen) { /* the ordinary handshake, and no cookie */
		tn_stat_inc(s, TN_TcpExtTCPFastOpenListenOverflow);
		return;
	}
	struct tn_tfo *f = tfo_state(s);
	if (!f)
		return;
	if (!(fo & TN_TFO_SERVER_COOKIE_NOT_REQD)) {
		if (!o->has_cookie)
			return;
		if (request) {
			c->tfo |= TN_TFO_SEND_COOKIE;
			return;
		}
		int k = cookie_check(s, f, c->raddr, c->laddr, o);
		if (!k) {
			tn_stat_inc(s, TN_TcpExtTCPFastOpenPassiveFail);
			c->tfo |= TN_TFO_SEND_COOKIE; /* the data waits for the client to resend it */
			return;
		}
		if (k == 2)
			c->tfo |= TN_TFO_SEND_COOKIE; /* the backup key's: give the primary's */
	}
	if (g->len) { /* the data, kept in its buffer (one segment per buffer) */
		struct tn_pkt *p = *pkt;
		if (p->next) {
			p = tn_pkt_copy(s->pool, p);
			if (!p)
				return; /* no buffer: the ordinary handshake */
			tn_pkt_free(*pkt);
		}
		*pkt = NULL;
		tn_pktq_push(&c->rcvq, p, p->len);
	}
	c->tfo |= TN_TFO_CHILD;
	l->tfo_pending++;
	l->syn_len--; /* on the accept queue at once, not the SYN queue */
	if (l->accept_tail)
		l->accept_tail->accept_next = c;
	else
		l->accept_head = c;
	l->accept_tail = c;
	l->accept_len++;
	c->rcv_nxt += g->len;
	c->bytes_received += g->len;
	if (g->h.flags & TN_TCP_FIN) {
		c->rcv_nxt++;
		c->fin_rcvd = true;
	}
	c->rcv_adv = c->rcv_wup = c->rcv_nxt;
	c->snd_wl1 = g->h.seq;
	c->last_rcv = s->now;
	tn_tcp_cc_start(s, c); /* it may send before the final ACK */
	tn_tcp_sndbuf_expand(s, c);
	tn_stat_inc(s, TN_TcpExtTCPFastOpenPassive);
	tn_sock_wake(l->sk);
}

static bool on_accept_queue(const struct tn_tcb *l, const struct tn_tcb *c)
{
	for (const struct tn_tcb *q = l->accept_head; q; q = q->accept_next)
		if (q == c)
			return true;
	return false;
}

bool tn_tcp_fastopen_child_done(struct tn_tcb *c)
{
	if (!(c->tfo & TN_TFO_CHILD))
		return false;
	c->tfo &= (uint8_t)~TN_TFO_CHILD;
	tn_tcp_rtx_kind_reset(c); /* its data may have armed a tail loss probe; the timer is cancelled next */
	struct tn_tcb *l = c->parent;
	if (l) {
		l->tfo_pending--;
		if (!on_accept_queue(l, c))
			c->parent = NULL; /* accepted already */
	}
	return true;
}

bool tn_tcp_fastopen_unlink(struct tn_tcb *c)
{
	if (!(c->tfo & TN_TFO_CHILD))
		return false;
	c->tfo &= (uint8_t)~TN_TFO_CHILD;
	if (c->parent)
		c->parent->tfo_pending--;
	return true;
}

void tn_tcp_fastopen_release_children(struct tn_stack *s, struct tn_tcb *l)
{
	struct tn_tcp_table *tt = &s->tcp;
	for (uint32_t i = 0; l->tfo_pending && i < tt->nconns; i++)
		for (struct tn_tcb *c = tt->conns[i]; c; c = c->hnext)
			if (c->parent == l && (c->tfo & TN_TFO_CHILD)) {
				c->tfo &= (uint8_t)~TN_TFO_CHILD;
				c->parent = NULL;
				l->tfo_pending--;
			}
}

/* ---- options ---- */

void tn_tcp_fastopen_syn_option(struct tn_stack *s, const struct tn_tcb *t, struct tn_tcp_opts *o, bool synack)
{
	if (synack) {
		struct tn_tfo *f = s->tcp.tfo;
		if (!(t->tfo & TN_TFO_SEND_COOKIE) || !f || !tfo_keys(s, f))
			return;
		o->has_cookie = true;
		o->cookie_len = TN_TFO_COOKIE_LEN;
		tn_tcp_fastopen_cookie(f->keys[0], t->raddr, t->laddr, o->cookie);
		return;
	}
	if (!(t->tfo & TN_TFO_SYN_OPT) || t->syn_retries) /* Linux's retransmitted SYNs carry none */
		return;
	const struct tfo_entry *e = cache_find(s->tcp.tfo, t->raddr);
	o->has_cookie = true;
	o->cookie_len = e ? e->len : 0;
	if (o->cookie_len)
		memcpy(o->cookie, e->cookie, o->cookie_len);
}
