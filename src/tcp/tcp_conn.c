/* TCP connections: the tables, ISNs, lifecycle, buffers, and the
 * operations the socket layer calls. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/tcp.h>

#include "core/hash.h"
#include "core/stack.h"
#include "net/ipv4.h"
#include "socket/epoll.h"
#include "tcp/tcp_int.h"

static const char *const state_names[] = {
	"CLOSED", "LISTEN", "SYN-SENT", "SYN-RECV", "ESTAB", "FIN-WAIT-1", "FIN-WAIT-2",
	"CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT",
};

const char *tn_tcp_state_name(int state)
{
	return state >= 0 && state <= TN_TCP_TIME_WAIT ? state_names[state] : "?";
}

void tn_tcp_init(struct tn_stack *s)
{
	struct tn_tcp_table *tt = &s->tcp;
	memset(tt, 0, sizeof(*tt));
	tt->hash_key = tn_rand_u64(&s->rng);
	tt->isn_key[0] = tn_rand_u64(&s->rng);
	tt->isn_key[1] = tn_rand_u64(&s->rng);
	tt->cookie_key[0] = tn_rand_u64(&s->rng);
	tt->cookie_key[1] = tn_rand_u64(&s->rng);
	tt->nconns = TN_TCP_HASH;
	tt->conns = calloc(tt->nconns, sizeof(*tt->conns));
	tt->port_refs = calloc(65536, sizeof(*tt->port_refs));
	tn_tcp_fastopen_init(s);
}

void tn_tcp_destroy(struct tn_stack *s)
{
	struct tn_tcp_table *tt = &s->tcp;
	for (uint32_t i = 0; tt->conns && i < tt->nconns; i++)
		while (tt->conns[i])
			tn_tcp_destroy_tcb(s, tt->conns[i]);
	for (int i = 0; i < 256; i++)
		while (tt->listeners[i])
			tn_tcp_destroy_tcb(s, tt->listeners[i]);
	free(tt->conns);
	tt->conns = NULL;
	free(tt->port_refs);
	tt->port_refs = NULL;
	tn_tcp_fastopen_free(s);
	tn_tcp_chunk_cache_free(s);
}

static uint32_t conn_bucket(const struct tn_tcp_table *tt, uint32_t laddr, uint16_t lport, uint32_t raddr,
			    uint16_t rport)
{
	return tn_hash2(tt->hash_key, (uint64_t)laddr << 32 | raddr, (uint64_t)lport << 16 | rport) &
	       (tt->nconns - 1);
}

/* Double the connection table when chains average two entries, so
 * lookups stay O(1) from ten connections to millions. */
static void grow_table(struct tn_tcp_table *tt)
{
	uint32_t n = tt->nconns * 2;
	struct tn_tcb **nb = calloc(n, sizeof(*nb));
	if (!nb)
		return; /* keep the longer chains */
	struct tn_tcb **old = tt->conns;
	uint32_t oldn = tt->nconns;
	tt->conns = nb;
	tt->nconns = n;
	for (uint32_t i = 0; i < oldn; i++) {
		for (struct tn_tcb *t = old[i], *next; t; t = next) {
			next = t->hnext;
			uint32_t b = conn_bucket(tt, t->laddr, t->lport, t->raddr, t->rport);
			t->hnext = nb[b];
			nb[b] = t;
		}
	}
	free(old);
}

void tn_tcp_hash(struct tn_stack *s, struct tn_tcb *t)
{
	struct tn_tcp_table *tt = &s->tcp;
	if (t->state != TN_TCP_LISTEN && tt->count >= 2 * tt->nconns)
		grow_table(tt);
	struct tn_tcb **b = t->state == TN_TCP_LISTEN ? &tt->listeners[t->lport & 255]
						      : &tt->conns[conn_bucket(tt, t->laddr, t->lport, t->raddr, t->rport)];
	t->hnext = *b;
	*b = t;
	if (t->state != TN_TCP_LISTEN) {
		tt->count++;
		if (tt->port_refs)
			tt->port_refs[t->lport]++;
	}
}

void tn_tcp_unhash(struct tn_stack *s, struct tn_tcb *t)
{
	struct tn_tcp_table *tt = &s->tcp;
	bool listener = t->state == TN_TCP_LISTEN;
	struct tn_tcb **pp = listener ? &tt->listeners[t->lport & 255]
				      : &tt->conns[conn_bucket(tt, t->laddr, t->lport, t->raddr, t->rport)];
	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == t) {
			*pp = t->hnext;
			t->hnext = NULL;
			if (!listener) {
				tt->count--;
				if (tt->port_refs)
					tt->port_refs[t->lport]--;
			}
			return;
		}
	}
}

struct tn_tcb *tn_tcp_lookup(struct tn_stack *s, uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport)
{
	struct tn_tcp_table *tt = &s->tcp;
	for (struct tn_tcb *t = tt->conns[conn_bucket(tt, laddr, lport, raddr, rport)]; t; t = t->hnext)
		if (t->lport == lport && t->rport == rport && t->laddr == laddr && t->raddr == raddr)
			return t;
	return NULL;
}

struct tn_tcb *tn_tcp_lookup_listener(struct tn_stack *s, uint32_t laddr, uint16_t lport)
{
	struct tn_tcb *wild = NULL;
	for (struct tn_tcb *t = s->tcp.listeners[lport & 255]; t; t = t->hnext) {
		if (t->lport != lport)
			continue;
		if (t->laddr == laddr)
			return t;
		if (!t->laddr)
			wild = t;
	}
	return wild;
}

/* The listener for a SYN from raddr:rport: within an SO_REUSEPORT group
 * (same address and port), one chosen by a hash of the peer, so a flow
 * always lands on the same listener. */
struct tn_tcb *tn_tcp_select_listener(struct tn_stack *s, uint32_t laddr, uint16_t lport, uint32_t raddr,
				      uint16_t rport)
{
	struct tn_tcb *first = tn_tcp_lookup_listener(s, laddr, lport);
	if (!first || !first->reuseport)
		return first;
	uint32_t n = 0;
	for (struct tn_tcb *t = s->tcp.listeners[lport & 255]; t; t = t->hnext)
		n += t->lport == lport && t->laddr == first->laddr && t->reuseport;
	uint32_t pick = tn_hash2(s->tcp.hash_key, (uint64_t)raddr << 16 | rport, lport) % n;
	for (struct tn_tcb *t = s->tcp.listeners[lport & 255]; t; t = t->hnext)
		if (t->lport == lport && t->laddr == first->laddr && t->reuseport && pick-- == 0)
			return t;
	return first;
}

bool tn_tcp_port_in_use(struct tn_stack *s, uint32_t laddr, uint16_t lport)
{
	if (tn_tcp_lookup_listener(s, laddr, lport))
		return true;
	struct tn_tcp_table *tt = &s->tcp;
	if (tt->port_refs && !tt->port_refs[lport])
		return false; /* the common case for a random candidate: O(1) */
	for (uint32_t i = 0; i < tt->nconns; i++)
		for (struct tn_tcb *t = tt->conns[i]; t; t = t->hnext)
			if (t->lport == lport && (!laddr || !t->laddr || t->laddr == laddr) &&
			    t->state != TN_TCP_TIME_WAIT)
				return true;
	return false;
}

/* RFC 6528: ISN = M + F(4-tuple, secret), M a 4-microsecond clock. */
uint32_t tn_tcp_isn(struct tn_stack *s, uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport)
{
	uint64_t f = tn_hash2(s->tcp.isn_key[0], (uint64_t)laddr << 32 | raddr,
			      ((uint64_t)lport << 16 | rport) ^ s->tcp.isn_key[1]);
	return (uint32_t)(s->now / 4000) + (uint32_t)f;
}

struct tn_tcb *tn_tcb_new(struct tn_stack *s)
{
	struct tn_tcb *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	tn_timer_init(&t->rtx_timer, tn_tcp_rtx_fire);
	tn_timer_init(&t->delack_timer, tn_tcp_delack_fire);
	tn_timer_init(&t->ka_timer, tn_tcp_keepalive_fire);
	tn_timer_init(&t->pace_timer, tn_tcp_pace_fire);
	t->max_pacing_rate = UINT64_MAX;
	t->reo_wnd_mult = 1;
	tn_pktq_init(&t->rcvq);
	t->rto = TN_TCP_RTO_INIT;
	t->mss = 536;
	t->rcv_mss = 536;
	t->ssthresh = UINT32_MAX;
	t->snd_wscale = 0xff; /* not offered yet */
	t->rcvbuf_max = (uint32_t)s->sysctl.tcp_rmem[1];
	t->sndbuf_max = (uint32_t)s->sysctl.tcp_wmem[1];
	t->quick_acks = TN_TCP_MAX_QUICKACKS; /* the start of a connection is acked at once */
	t->ato_ms = TN_TCP_ATO_MIN_MS;
	return t;
}

void tn_tcp_set_state(struct tn_stack *s, struct tn_tcb *t, int state)
{
	bool was_est = t->state == TN_TCP_ESTABLISHED || t->state == TN_TCP_CLOSE_WAIT;
	bool is_est = state == TN_TCP_ESTABLISHED || state == TN_TCP_CLOSE_WAIT;
	if (was_est && !is_est)
		s->stats[TN_TcpCurrEstab]--;
	else if (!was_est && is_est)
		s->stats[TN_TcpCurrEstab]++;
	if (t->state == TN_TCP_TIME_WAIT && state != TN_TCP_TIME_WAIT)
		s->tcp.tw_count--;
	else if (t->state != TN_TCP_TIME_WAIT && state == TN_TCP_TIME_WAIT)
		s->tcp.tw_count++;
	t->state = (uint8_t)state;
}

static void free_buffers(struct tn_stack *s, struct tn_tcb *t)
{
	tn_pktq_purge(&t->rcvq);
	tn_pkt_free_queue(t->ooo);
	t->ooo = NULL;
	t->ooo_bytes = 0;
	tn_tcp_sndbuf_release(s, t);
	memset(&t->snd, 0, sizeof(t->snd));
	tn_txq_free(t);
	free(t->cc_ext);
	t->cc_ext = NULL;
}

/* A listener going away takes its children: established ones waiting in
 * the accept queue and half-open ones still in SYN-RECEIVED. */
static void destroy_children(struct tn_stack *s, struct tn_tcb *l)
{
	for (struct tn_tcb *c = l->accept_head, *n; c; c = n) {
		n = c->accept_next;
		c->parent = NULL;
		tn_tcp_destroy_tcb(s, c);
	}
	l->accept_head = l->accept_tail = NULL;
	l->accept_len = 0;
	tn_tcp_fastopen_release_children(s, l);
	struct tn_tcp_table *tt = &s->tcp;
	for (uint32_t i = 0; l->syn_len && i < tt->nconns; i++) {
		for (struct tn_tcb *c = tt->conns[i], *n; c; c = n) {
			n = c->hnext;
			if (c->parent == l) {
				c->parent = NULL;
				l->syn_len--;
				tn_tcp_destroy_tcb(s, c);
			}
		}
	}
}

/* Take a child off its listener's books. */
static void detach_from_parent(struct tn_tcb *t, int old_state)
{
	struct tn_tcb *l = t->parent;
	if (old_state == TN_TCP_SYN_RECEIVED && !tn_tcp_fastopen_unlink(t)) {
		l->syn_len--;
	} else {
		struct tn_tcb *prev = NULL;
		for (struct tn_tcb **pp = &l->accept_head; *pp; prev = *pp, pp = &(*pp)->accept_next) {
			if (*pp == t) {
				*pp = t->accept_next;
				if (l->accept_tail == t)
					l->accept_tail = prev;
				l->accept_len--;
				break;
			}
		}
	}
	t->parent = NULL;
}

static void tsq_remove(struct tn_stack *s, struct tn_tcb *t)
{
	for (struct tn_tcb **pp = &s->tcp.tsq_head; *pp; pp = &(*pp)->tsq_next) {
		if (*pp == t) {
			*pp = t->tsq_next;
			break;
		}
	}
	t->tsq_next = NULL;
	t->tsq_queued = false;
}

void tn_tcp_destroy_tcb(struct tn_stack *s, struct tn_tcb *t)
{
	int old = t->state;
	if (t->tsq_queued)
		tsq_remove(s, t);
	tn_tcp_unhash(s, t);
	tn_timer_cancel(&s->wheel, &t->rtx_timer);
	tn_timer_cancel(&s->wheel, &t->delack_timer);
	tn_timer_cancel(&s->wheel, &t->ka_timer);
	tn_timer_cancel(&s->wheel, &t->pace_timer);
	if (old == TN_TCP_LISTEN)
		destroy_children(s, t);
	if (t->parent)
		detach_from_parent(t, old);
	tn_tcp_set_state(s, t, TN_TCP_CLOSED);
	free_buffers(s, t);
	if (t->sk)
		return; /* the socket frees it on close */
	free(t);
}

void tn_tcp_abort(struct tn_stack *s, struct tn_tcb *t, int err)
{
	if (err == ETIMEDOUT)
		tn_stat_inc(s, TN_TcpExtTCPAbortOnTimeout);
	t->error = err;
	tn_sock_wake(t->sk);
	if (t->state == TN_TCP_SYN_SENT || t->state == TN_TCP_SYN_RECEIVED)
		tn_stat_inc(s, TN_TcpAttemptFails);
	tn_tcp_destroy_tcb(s, t);
}

bool tn_tcp_enter_timewait(struct tn_stack *s, struct tn_tcb *t)
{
	if (s->tcp.tw_count >= (uint32_t)s->sysctl.tcp_max_tw_buckets) {
		tn_stat_inc(s, TN_TcpExtTCPTimeWaitOverflow); /* Linux just closes */
		tn_tcp_destroy_tcb(s, t);
		return false;
	}
	tn_tcp_set_state(s, t, TN_TCP_TIME_WAIT);
	tn_timer_cancel(&s->wheel, &t->delack_timer);
	tn_timer_cancel(&s->wheel, &t->ka_timer);
	tn_timer_cancel(&s->wheel, &t->pace_timer);
	free_buffers(s, t);
	tn_tcp_rtx_kind_reset(t);
	tn_timer_arm(&s->wheel, &t->rtx_timer, s->now + TN_TCP_TIMEWAIT);
	return true;
}

/* Linux turns tcp_retries2 into a time: the sum of the backed-off RTOs
 * from TCP_RTO_MIN, each capped at TCP_RTO_MAX. */
uint64_t tn_tcp_retries_budget(const struct tn_stack *s)
{
	uint64_t total = 0, rto = TN_TCP_RTO_MIN;
	for (int i = 0; i <= s->sysctl.tcp_retries2; i++) {
		total += rto;
		rto = rto * 2 > TN_TCP_RTO_MAX ? TN_TCP_RTO_MAX : rto * 2;
	}
	return total;
}

/* Linux's tcp_sndbuf_expand: room for two congestion windows, so the
 * application can keep the pipe full while half of it is unacknowledged. */
void tn_tcp_sndbuf_expand(struct tn_stack *s, struct tn_tcb *t)
{
	if (t->sndbuf_locked)
		return;
	uint64_t want = 2ull * (t->cwnd > TN_TCP_IW * t->mss ? t->cwnd : TN_TCP_IW * (uint32_t)t->mss);
	uint32_t max = (uint32_t)s->sysctl.tcp_wmem[2];
	if (want > max)
		want = max;
	if (want > t->sndbuf_max)
		t->sndbuf_max = (uint32_t)want;
}

uint32_t tn_tcp_snd_space(const struct tn_tcb *t)
{
	return t->snd.len < t->sndbuf_max ? t->sndbuf_max - t->snd.len : 0;
}

uint32_t tn_tcp_rcv_avail(const struct tn_tcb *t) { return t->rcvq.bytes; }

/* ---- socket-side operations ---- */

int tn_tcp_listen(struct tn_stack *s, struct tn_tcb **out, uint32_t laddr, uint16_t lport, uint32_t backlog)
{
	struct tn_tcb *t = tn_tcb_new(s);
	if (!t)
		return -ENOMEM;
	t->laddr = laddr;
	t->lport = lport;
	t->state = TN_TCP_LISTEN;
	uint32_t cap = (uint32_t)s->sysctl.core_somaxconn;
	t->backlog = backlog < cap ? backlog : cap;
	tn_tcp_hash(s, t);
	*out = t;
	return 0;
}

/* The MSS we advertise: the route's interface MTU less the headers. */
uint16_t tn_tcp_adv_mss(struct tn_stack *s, const struct tn_tcb *t)
{
	uint32_t mtu = 1500;
	const struct tn_route *rt = tn_route_lookup(&s->routes, t->raddr);
	struct tn_iface *ifc = rt ? tn_iface_get(s, rt->ifindex) : NULL;
	if (ifc)
		mtu = ifc->dev->mtu;
	return (uint16_t)(mtu - 40);
}

/* tcp_tw_reuse (Linux's tcp_twsk_unique): a TIME-WAIT may give its
 * 4-tuple to a new connection if timestamps will tell the segments of the
 * two apart, the last one is over a second old, and (mode 2) the peer is
 * this stack itself.  *isn: where the new connection starts, above the old
 * sequence space. */
static bool tw_reusable(struct tn_stack *s, const struct tn_tcb *tw, uint32_t *isn)
{
	int mode = s->sysctl.tcp_tw_reuse;
	if (!mode || (mode == 2 && !tn_addr_is_local(s, tw->raddr)))
		return false;
	if (!tw->ts_ok || !tw->ts_recent_at || s->now - tw->ts_recent_at <= 1000000000ull)
		return false;
	*isn = tw->snd_nxt + 65535 + 2;
	return true;
}

/* Is the 4-tuple free (possibly by taking over a TIME-WAIT)? */
static bool tuple_free(struct tn_stack *s, uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport,
		       uint32_t *isn)
{
	struct tn_tcb *old = tn_tcp_lookup(s, laddr, lport, raddr, rport);
	if (!old)
		return true;
	if (old->state != TN_TCP_TIME_WAIT || !tw_reusable(s, old, isn))
		return false;
	tn_stat_inc(s, TN_TcpExtTWRecycled);
	tn_tcp_destroy_tcb(s, old);
	return true;
}

/* Linux's __inet_hash_connect: from an offset keyed by the destination,
 * the first port with no listener and a free 4-tuple (and, for a stack
 * that is one of several RSS queues, replies that come back to it). */
static int pick_connect_port(struct tn_stack *s, uint32_t laddr, uint32_t raddr, uint16_t rport, uint16_t *port,
			     uint32_t *isn)
{
	int lo = s->sysctl.ip_local_port_range[0], hi = s->sysctl.ip_local_port_range[1];
	uint32_t range = (uint32_t)(hi - lo + 1);
	uint32_t start = tn_hash2(s->tcp.hash_key, (uint64_t)laddr << 32 | raddr, rport) + s->tcp.port_hint++;
	for (uint32_t i = 0; i < range; i++) {
		uint16_t p = (uint16_t)(lo + (int)((start + i) % range));
		if (tn_tcp_lookup_listener(s, laddr, p) || !tn_rss_port_ok(s, laddr, p, raddr, rport))
			continue;
		if (tuple_free(s, laddr, p, raddr, rport, isn)) {
			*port = p;
			/* One of several RSS queues: ports come in runs that belong to
			 * another queue, so many starts lead to the same port; move
			 * the next search past it (as Linux adds i + 2 to its
			 * perturbation) rather than reuse a port the peer may still
			 * hold in TIME-WAIT. */
			if (s->rss.nqueues > 1)
				s->tcp.port_hint += i;
			return 0;
		}
	}
	return -EADDRNOTAVAIL; /* what Linux's connect() says when the range is spent */
}

int tn_tcp_connect_tcb(struct tn_stack *s, struct tn_tcb **out, uint32_t laddr, uint16_t lport, uint32_t raddr,
		       uint16_t rport)
{
	uint32_t isn = 0;
	if (!lport) {
		int rc = pick_connect_port(s, laddr, raddr, rport, &lport, &isn);
		if (rc < 0)
			return rc;
	} else if (!tuple_free(s, laddr, lport, raddr, rport, &isn)) {
		return -EADDRNOTAVAIL;
	}
	struct tn_tcb *t = tn_tcb_new(s);
	if (!t)
		return -ENOMEM;
	t->laddr = laddr;
	t->lport = lport;
	t->raddr = raddr;
	t->rport = rport;
	t->mss = tn_tcp_adv_mss(s, t);
	t->rcv_wscale = s->sysctl.tcp_window_scaling ? 7 : 0;
	t->iss = isn ? isn : tn_tcp_isn(s, laddr, lport, raddr, rport);
	t->snd_una = t->iss;
	t->snd_nxt = t->snd_max = t->iss + 1;
	t->state = TN_TCP_SYN_SENT;
	tn_tcp_hash(s, t);
	tn_stat_inc(s, TN_TcpActiveOpens);
	*out = t;
	return 0;
}

int tn_tcp_connect(struct tn_stack *s, struct tn_tcb **out, uint32_t laddr, uint16_t lport, uint32_t raddr,
		   uint16_t rport)
{
	int rc = tn_tcp_connect_tcb(s, out, laddr, lport, raddr, rport);
	if (rc < 0)
		return rc;
	struct tn_tcb *t = *out;
	t->rtt_start = s->now;
	tn_tcp_xmit(s, t, t->iss, 0, TN_TCP_SYN);
	tn_tcp_arm_rtx(s, t);
	return 0;
}

struct tn_tcb *tn_tcp_accept(struct tn_stack *s, struct tn_tcb *l)
{
	struct tn_tcb *c = l->accept_head;
	(void)s;
	if (!c)
		return NULL;
	l->accept_head = c->accept_next;
	if (!l->accept_head)
		l->accept_tail = NULL;
	l->accept_len--;
	c->accept_next = NULL;
	if (!tn_tcp_fastopen_child(c)) /* a TFO child stays on its listener's TFO queue until its final ACK */
		c->parent = NULL;
	return c;
}

/* Receive-buffer auto-tuning (Linux's tcp_rcv_space_adjust, DRS): once an
 * RTT, if the application read more than ever before, let the buffer hold
 * twice that plus slack, so the window never limits a reader that keeps up.
 * Bounded by tcp_rmem[2] and a quarter of the packet pool, since received
 * data stays in pool buffers. */
static void rcv_space_adjust(struct tn_stack *s, struct tn_tcb *t, uint32_t copied)
{
	if (t->rcvbuf_locked || !s->sysctl.tcp_moderate_rcvbuf)
		return;
	t->rcv_copied += copied;
	uint64_t rtt = t->srtt ? t->srtt : TN_TCP_RTO_MIN;
	if (!t->rcv_space_at) {
		t->rcv_space_at = s->now;
		t->rcv_space = TN_TCP_IW * (uint32_t)t->mss;
	}
	if (s->now - t->rcv_space_at < rtt)
		return;
	if (t->rcv_copied > t->rcv_space) {
		uint64_t want = 2ull * t->rcv_copied + 16ull * t->mss;
		uint64_t cap = (uint64_t)s->sysctl.tcp_rmem[2], pool_cap = (uint64_t)s->pool->size / 4 * t->mss;
		if (cap > pool_cap)
			cap = pool_cap;
		if (want > cap)
			want = cap;
		if (want > t->rcvbuf_max) {
			t->rcvbuf_max = (uint32_t)want;
			tn_stat_inc(s, TN_TernExtTCPRcvBufGrow);
		}
		t->rcv_space = t->rcv_copied;
	}
	t->rcv_copied = 0;
	t->rcv_space_at = s->now;
}

long tn_tcp_recv(struct tn_stack *s, struct tn_tcb *t, void *buf, size_t len, bool peek)
{
	uint8_t *d = buf;
	size_t done = 0;
	for (struct tn_pkt *p = t->rcvq.head; p && done < len;) {
		uint32_t take = p->len < len - done ? p->len : (uint32_t)(len - done);
		memcpy(d + done, p->data, take);
		done += take;
		if (peek) {
			p = p->qnext;
			continue;
		}
		if (take == p->len) {
			struct tn_pkt *n = tn_pktq_pop(&t->rcvq, take);
			tn_pkt_free(n);
			p = t->rcvq.head;
		} else {
			p->data += take;
			p->len -= take;
			p->pkt_len -= take;
			t->rcvq.bytes -= take;
		}
	}
	if (done == 0) {
		if (t->error)
			return -t->error;
		if (t->fin_rcvd)
			return 0;
		if (t->state == TN_TCP_CLOSED)
			return 0;
		return -EAGAIN;
	}
	rcv_space_adjust(s, t, (uint32_t)done);
	/* Reading opened the window by at least a segment: tell the peer (a
	 * TFO child's SYN-ACK has offered the window; its final ACK is due). */
	if (!peek && t->state != TN_TCP_CLOSED && t->state != TN_TCP_SYN_RECEIVED) {
		uint32_t free_space = t->rcvbuf_max - t->rcvq.bytes - t->ooo_bytes;
		uint32_t advertised = t->rcv_adv - t->rcv_nxt;
		if (free_space >= advertised + 2u * t->mss || (advertised < t->mss && free_space >= t->mss))
			tn_tcp_send_ack(s, t);
	}
	return (long)done;
}

void tn_tcp_shutdown_wr(struct tn_stack *s, struct tn_tcb *t)
{
	if (t->fin_queued)
		return;
	switch (t->state) {
	case TN_TCP_SYN_RECEIVED: /* an accepted TFO child: the FIN follows the handshake */
		t->fin_queued = true;
		return;
	case TN_TCP_ESTABLISHED:
		t->fin_queued = true;
		tn_tcp_set_state(s, t, TN_TCP_FIN_WAIT_1);
		break;
	case TN_TCP_CLOSE_WAIT:
		t->fin_queued = true;
		tn_tcp_set_state(s, t, TN_TCP_LAST_ACK);
		break;
	default:
		return;
	}
	tn_tcp_output(s, t);
}

void tn_tcp_close(struct tn_stack *s, struct tn_tcb *t, bool abort)
{
	t->sk = NULL;
	t->orphan = true;
	switch (t->state) {
	case TN_TCP_LISTEN:
	case TN_TCP_SYN_SENT:
	case TN_TCP_CLOSED:
		tn_tcp_destroy_tcb(s, t);
		return;
	case TN_TCP_TIME_WAIT:
		return;
	default:
		break;
	}
	/* Unread data or SO_LINGER 0: abort with RST (RFC 9293 3.10.4).  The
	 * counters as Linux's tcp_close keeps them: unread data is
	 * TCPAbortOnClose, a zero linger TCPAbortOnData. */
	bool unread = t->rcvq.bytes || t->ooo_bytes;
	if (abort || unread) {
		tn_stat_inc(s, unread ? TN_TcpExtTCPAbortOnClose : TN_TcpExtTCPAbortOnData);
		tn_tcp_xmit(s, t, t->snd_nxt, 0, TN_TCP_RST | TN_TCP_ACK);
		tn_tcp_destroy_tcb(s, t);
		return;
	}
	if (t->state == TN_TCP_FIN_WAIT_2) { /* shut down before: the orphan's wait is bounded now */
		tn_timer_arm(&s->wheel, &t->rtx_timer, s->now + (uint64_t)s->sysctl.tcp_fin_timeout * 1000000000ull);
		return;
	}
	tn_tcp_shutdown_wr(s, t);
}

/* ---- keepalive (RFC 1122 4.2.3.6, Linux's timings) ---- */

static uint64_t ka_setting(uint32_t own, int sysctl) { return (uint64_t)(own ? own : (uint32_t)sysctl) * 1000000000ull; }

void tn_tcp_keepalive_update(struct tn_stack *s, struct tn_tcb *t)
{
	bool live = t->state == TN_TCP_ESTABLISHED || t->state == TN_TCP_CLOSE_WAIT;
	if (!t->keepalive || !live) {
		tn_timer_cancel(&s->wheel, &t->ka_timer);
		return;
	}
	uint64_t idle = ka_setting(t->ka_idle, s->sysctl.tcp_keepalive_time);
	tn_timer_arm(&s->wheel, &t->ka_timer, (t->last_rcv ? t->last_rcv : s->now) + idle);
}

void tn_tcp_keepalive_fire(void *ctx, struct tn_timer *tm)
{
	struct tn_stack *s = ctx;
	struct tn_tcb *t = container_of(tm, struct tn_tcb, ka_timer);
	uint64_t idle = ka_setting(t->ka_idle, s->sysctl.tcp_keepalive_time);
	uint64_t intvl = ka_setting(t->ka_intvl, s->sysctl.tcp_keepalive_intvl);
	uint32_t cnt = t->ka_cnt ? t->ka_cnt : (uint32_t)s->sysctl.tcp_keepalive_probes;
	if (t->snd_una != t->snd_max || t->snd.len) { /* data in flight: retransmission watches the peer */
		tn_timer_arm(&s->wheel, &t->ka_timer, s->now + idle);
		return;
	}
	if (s->now - t->last_rcv < idle && t->ka_probes == 0) {
		tn_timer_arm(&s->wheel, &t->ka_timer, t->last_rcv + idle);
		return;
	}
	if (t->ka_probes >= cnt) {
		tn_tcp_abort(s, t, ETIMEDOUT);
		return;
	}
	/* A probe: an old sequence number with no data draws an ACK. */
	tn_stat_inc(s, TN_TcpExtTCPKeepAlive);
	tn_tcp_xmit(s, t, t->snd_una - 1, 0, TN_TCP_ACK);
	t->ka_probes++;
	tn_timer_arm(&s->wheel, &t->ka_timer, s->now + intvl);
}

/* ---- TCP_QUICKACK, TCP_INFO ---- */

void tn_tcp_set_quickack(struct tn_stack *s, struct tn_tcb *t, bool on)
{
	if (!on) {
		t->quick_acks = 0;
		return;
	}
	t->quick_acks = TN_TCP_MAX_QUICKACKS;
	if (tn_timer_pending(&t->delack_timer))
		tn_tcp_send_ack(s, t);
}

/* Linux's numbering of states in tcp_info (include/net/tcp_states.h). */
static uint8_t linux_state(int state)
{
	static const uint8_t map[] = {
		[TN_TCP_CLOSED] = 7, [TN_TCP_LISTEN] = 10, [TN_TCP_SYN_SENT] = 2, [TN_TCP_SYN_RECEIVED] = 3,
		[TN_TCP_ESTABLISHED] = 1, [TN_TCP_FIN_WAIT_1] = 4, [TN_TCP_FIN_WAIT_2] = 5,
		[TN_TCP_CLOSE_WAIT] = 8, [TN_TCP_CLOSING] = 11, [TN_TCP_LAST_ACK] = 9, [TN_TCP_TIME_WAIT] = 6,
	};
	return state >= 0 && state <= TN_TCP_TIME_WAIT ? map[state] : 7;
}

void tn_tcp_info(const struct tn_stack *s, const struct tn_tcb *t, struct tern_tcp_info *ti)
{
	memset(ti, 0, sizeof(*ti));
	ti->tcpi_state = linux_state(t ? t->state : TN_TCP_CLOSED);
	if (!t)
		return;
	uint32_t mss = t->mss ? t->mss : 536;
	ti->tcpi_ca_state = t->ca_state;
	ti->tcpi_retransmits = t->backoff;
	ti->tcpi_probes = t->probes_out;
	ti->tcpi_backoff = t->backoff;
	ti->tcpi_options = (t->ts_ok ? TCPI_OPT_TIMESTAMPS : 0) | (t->sack_ok ? TCPI_OPT_SACK : 0) |
			   (t->snd_wscale != 0xff && t->snd_wscale ? TCPI_OPT_WSCALE : 0);
	ti->tcpi_snd_wscale = t->snd_wscale == 0xff ? 0 : t->snd_wscale & 0xf;
	ti->tcpi_rcv_wscale = t->rcv_wscale & 0xf;
	ti->tcpi_delivery_rate_app_limited = t->app_limited != 0;
	ti->tcpi_rto = (uint32_t)(t->rto / 1000);
	ti->tcpi_ato = (uint32_t)t->ato_ms * 1000;
	ti->tcpi_snd_mss = t->mss;
	ti->tcpi_rcv_mss = t->rcv_mss;
	ti->tcpi_unacked = t->txq.count;
	ti->tcpi_sacked = t->sacked_out / mss;
	ti->tcpi_lost = t->lost_out / mss;
	ti->tcpi_retrans = t->retrans_out / mss;
	ti->tcpi_last_data_sent = t->last_send ? (uint32_t)((s->now - t->last_send) / TN_TCP_MS) : 0;
	ti->tcpi_last_data_recv = t->last_rcv ? (uint32_t)((s->now - t->last_rcv) / TN_TCP_MS) : 0;
	ti->tcpi_rtt = (uint32_t)(t->srtt / 1000);
	ti->tcpi_rttvar = (uint32_t)(t->rttvar / 1000);
	ti->tcpi_snd_ssthresh = t->ssthresh == UINT32_MAX ? 0x7fffffff : t->ssthresh / mss;
	ti->tcpi_snd_cwnd = t->cwnd / mss;
	ti->tcpi_advmss = t->mss;
	ti->tcpi_reordering = t->reord_seen ? 3u + t->reo_wnd_mult : 3u;
	ti->tcpi_rcv_space = t->rcvbuf_max;
	ti->tcpi_total_retrans = t->total_retrans;
	ti->tcpi_pacing_rate = t->pacing_rate;
	ti->tcpi_max_pacing_rate = t->max_pacing_rate;
	ti->tcpi_bytes_acked = t->bytes_sent - t->bytes_retrans > t->snd_max - t->snd_una
				       ? t->bytes_sent - t->bytes_retrans - (t->snd_max - t->snd_una) : 0;
	ti->tcpi_bytes_received = t->bytes_received;
	ti->tcpi_min_rtt = (uint32_t)(t->min_rtt / 1000);
	ti->tcpi_notsent_bytes = tn_tcp_unsent(t);
	ti->tcpi_delivered = (uint32_t)(t->delivered / mss);
	ti->tcpi_bytes_sent = t->bytes_sent;
	ti->tcpi_bytes_retrans = t->bytes_retrans;
	ti->tcpi_dsack_dups = t->dsack_dups;
	ti->tcpi_reord_seen = t->reord_events;
	ti->tcpi_snd_wnd = t->snd_wnd;
	ti->tcpi_delivery_rate = t->delivery_rate;
}
