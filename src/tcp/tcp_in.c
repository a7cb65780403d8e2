/* TCP input: segment arrival processing (RFC 9293 3.10.7), with RFC 5961's
 * defences against blind RST and SYN, RFC 7323 PAWS, RFC 6298 RTT
 * estimation and RFC 5681/6582 congestion control. */
#include <errno.h>
#include <stdlib.h>

#include "core/stack.h"
#include "net/ipv4.h"
#include "socket/epoll.h"
#include "socket/sock.h"
#include "tcp/tcp_cc.h"
#include "tcp/tcp_int.h"
#include "wire/csum.h"
#include "wire/wire.h"

/* What a queued segment covers, kept in pkt->cb. */
static struct tcp_cb *tcb_of(struct tn_pkt *p) { return (struct tcp_cb *)p->cb; }

/* ---- options negotiated on SYN ---- */

static void take_syn_options(struct tn_stack *s, struct tn_tcb *t, const struct tn_tcp_opts *o)
{
	if (o->has_mss && o->mss >= 88) /* Linux's TCP_MIN_SND_MSS floor */
		t->rcv_mss = o->mss;
	else
		t->rcv_mss = 536;
	if (t->rcv_mss < t->mss)
		t->mss = t->rcv_mss;
	if (o->has_wscale && s->sysctl.tcp_window_scaling) {
		t->snd_wscale = o->wscale;
	} else {
		t->snd_wscale = 0;
		t->rcv_wscale = 0;
	}
	t->ts_ok = o->has_ts && s->sysctl.tcp_timestamps;
	if (t->ts_ok) {
		t->ts_recent = o->tsval;
		t->ts_recent_at = s->now;
		t->mss -= 12; /* the timestamp option rides in every segment */
	}
	t->sack_ok = o->sack_ok && s->sysctl.tcp_sack;
	t->cwnd = TN_TCP_IW * (uint32_t)t->mss;
}

/* ---- RTT (RFC 6298) ---- */

void tn_tcp_rtt_sample(struct tn_tcb *t, uint64_t r)
{
	if (r == 0)
		r = 1000; /* below the clock: count it as 1 us */
	if (!t->srtt) {
		t->srtt = r;
		t->rttvar = r / 2;
	} else {
		uint64_t err = r > t->srtt ? r - t->srtt : t->srtt - r;
		t->rttvar = (3 * t->rttvar + err) / 4;
		t->srtt = (7 * t->srtt + r) / 8;
	}
	uint64_t rto = t->srtt + (4 * t->rttvar > 1000000 ? 4 * t->rttvar : 1000000);
	t->rto = rto < TN_TCP_RTO_MIN ? TN_TCP_RTO_MIN : rto > TN_TCP_RTO_MAX ? TN_TCP_RTO_MAX : rto;
}

/* RFC 6298 5.7, as Linux's tcp_init_metrics: a handshake that gave no RTT
 * sample (its SYN or SYN-ACK was retransmitted) leaves the RTO at 3 s
 * rather than 1 s, to avoid more spurious retransmissions. */
static void rto_fallback(struct tn_tcb *t)
{
	if (!t->srtt)
		t->rto = TN_TCP_RTO_FALLBACK;
}

bool tn_tcp_ts_rtt_ms(const struct tn_stack *s, const struct tn_tcb *t, const struct tn_tcp_seg *g, uint32_t *ms)
{
	if (!t->ts_ok || !g->h.opt.has_ts || !g->h.opt.tsecr)
		return false;
	*ms = tn_tcp_ts_now(s) - g->h.opt.tsecr;
	return *ms < 3600000; /* else not an echo of ours */
}

static void take_rtt(struct tn_stack *s, struct tn_tcb *t, const struct tn_tcp_seg *g)
{
	uint32_t ms;
	if (t->ts_ok && g->h.opt.has_ts && g->h.opt.tsecr) {
		if (tn_tcp_ts_rtt_ms(s, t, g, &ms))
			tn_tcp_rtt_sample(t, (uint64_t)ms * TN_TCP_MS);
	} else if (t->rtt_start && tn_seq_gt(g->h.ack, t->rtt_seq)) {
		tn_tcp_rtt_sample(t, s->now - t->rtt_start);
	}
	if (t->rtt_start && tn_seq_gt(g->h.ack, t->rtt_seq))
		t->rtt_start = 0;
}

/* ---- listen ---- */

/* A new TCB for a handshake the listener l takes part in. */
static void child_init(struct tn_stack *s, struct tn_tcb *l, struct tn_tcb *c, const struct tn_tcp_seg *g)
{
	c->laddr = g->dst;
	c->lport = g->h.dport;
	c->raddr = g->src;
	c->rport = g->h.sport;
	c->rcv_wscale = s->sysctl.tcp_window_scaling ? 7 : 0;
	c->mss = tn_tcp_adv_mss(s, c);
	c->state = TN_TCP_SYN_RECEIVED;
	c->rcvbuf_max = l->rcvbuf_max;
	c->sndbuf_max = l->sndbuf_max;
	c->rcvbuf_locked = l->rcvbuf_locked;
	c->sndbuf_locked = l->sndbuf_locked;
	c->nodelay = l->nodelay;
	c->cork = l->cork;
	c->cc = l->cc;
	c->max_pacing_rate = l->max_pacing_rate;
}

void tn_tcp_cc_start(struct tn_stack *s, struct tn_tcb *t)
{
	/* sequence marks start at SND.UNA: compared modulo 2^32, a stale 0
	 * would be "ahead" for half of all ISNs */
	t->high_sacked = t->recover = t->reo_round_seq = t->rack_end_seq = t->snd_una;
	tn_tcp_cc_set(s, t, t->cc ? t->cc : tn_tcp_cc_default(s));
}

/* Linux's sk_acceptq_is_full and reqsk_queue_is_full: a backlog of N
 * admits N + 1. */
static bool accept_queue_full(const struct tn_tcb *l) { return l->accept_len > l->backlog; }
static bool syn_queue_full(const struct tn_tcb *l) { return l->syn_len > l->backlog; }

/* Answer a SYN with no state kept: the SYN-ACK's ISN is the cookie. */
static void send_cookie_synack(struct tn_stack *s, struct tn_tcb *l, const struct tn_tcp_seg *g)
{
	struct tn_tcb t = {0};
	child_init(s, l, &t, g);
	take_syn_options(s, &t, &g->h.opt);
	t.rcv_nxt = g->h.seq + 1;
	uint16_t peer_mss = t.rcv_mss;
	struct tn_tcp_hdr h = {.seq = tn_tcp_cookie_make(s, g, &peer_mss), .flags = TN_TCP_SYN | TN_TCP_ACK};
	t.snd_una = h.seq;
	tn_tcp_syn_options(s, &t, &h.opt, true);
	if (t.ts_ok)
		h.opt.tsval = tn_tcp_cookie_tsval(s, t.snd_wscale, t.sack_ok);
	tn_tcp_xmit_hdr(s, &t, &h, 0);
	l->cookie_at = s->now;
	tn_stat_inc(s, TN_TcpExtSyncookiesSent);
}

/* The options a cookie ACK brings back: MSS from the cookie, the rest from
 * the TSecr (none of them without timestamps, as in Linux). */
static void cookie_options(struct tn_stack *s, struct tn_tcb *c, const struct tn_tcp_seg *g, uint16_t mss)
{
	c->rcv_mss = mss;
	if (mss < c->mss)
		c->mss = mss;
	c->snd_wscale = 0;
	c->rcv_wscale = 0;
	const struct tn_tcp_opts *o = &g->h.opt;
	if (o->has_ts && o->tsecr && s->sysctl.tcp_timestamps) {
		uint8_t ws;
		bool sack;
		tn_tcp_cookie_ts_decode(o->tsecr, &ws, &sack);
		c->ts_ok = true;
		c->ts_recent = o->tsval;
		c->ts_recent_at = s->now;
		c->mss -= 12;
		c->sack_ok = sack && s->sysctl.tcp_sack;
		if (ws != 0xff && s->sysctl.tcp_window_scaling) {
			c->snd_wscale = ws;
			c->rcv_wscale = 7;
		}
	}
	c->cwnd = TN_TCP_IW * (uint32_t)c->mss;
}

/* An ACK for a listener with no handshake under way: a child if it
 * carries a cookie we made, NULL if not (*rst: answer with a reset). */
static struct tn_tcb *cookie_child(struct tn_stack *s, struct tn_tcb *l, const struct tn_tcp_seg *g, bool *rst)
{
	*rst = true;
	bool recent = l->cookie_at && s->now - l->cookie_at < 120000000000ull;
	if (!s->sysctl.tcp_syncookies || !recent || (g->h.flags & (TN_TCP_SYN | TN_TCP_RST)))
		return NULL;
	uint16_t mss = tn_tcp_cookie_check(s, g);
	if (!mss) {
		tn_stat_inc(s, TN_TcpExtSyncookiesFailed);
		return NULL;
	}
	tn_stat_inc(s, TN_TcpExtSyncookiesRecv);
	if (accept_queue_full(l)) {
		tn_stat_inc(s, TN_TcpExtListenOverflows);
		tn_stat_inc(s, TN_TcpExtListenDrops);
		*rst = s->sysctl.tcp_abort_on_overflow;
		return NULL;
	}
	struct tn_tcb *c = tn_tcb_new(s);
	if (!c) {
		*rst = false;
		return NULL;
	}
	child_init(s, l, c, g);
	cookie_options(s, c, g, mss);
	c->irs = g->h.seq - 1;
	c->rcv_nxt = c->rcv_wup = g->h.seq;
	uint32_t syn_wnd = c->rcvbuf_max < 65535 ? c->rcvbuf_max : 65535;
	c->rcv_adv = c->rcv_nxt + syn_wnd; /* what the SYN-ACK offered */
	c->iss = g->h.ack - 1;
	c->snd_una = c->iss;
	c->snd_nxt = c->snd_max = g->h.ack;
	c->parent = l;
	l->syn_len++;
	tn_tcp_hash(s, c);
	*rst = false;
	return c;
}

/* A SYN for a listener: a child in SYN-RECEIVED on the SYN queue, or a
 * cookie when the queue is full (tcp_syncookies 1) or always (2). */
static void listen_syn(struct tn_stack *s, struct tn_tcb *l, const struct tn_tcp_seg *g, uint32_t isn,
		       struct tn_pkt **pkt)
{
	if (accept_queue_full(l)) { /* Linux drops the SYN, cookies or not */
		tn_stat_inc(s, TN_TcpExtListenOverflows);
		tn_stat_inc(s, TN_TcpExtListenDrops);
		return;
	}
	int cookies = s->sysctl.tcp_syncookies;
	bool full = syn_queue_full(l);
	if (cookies == 2 || (full && cookies == 1)) {
		if (full)
			tn_stat_inc(s, TN_TcpExtTCPReqQFullDoCookies);
		send_cookie_synack(s, l, g);
		return;
	}
	/* Without cookies Linux keeps the last quarter of tcp_max_syn_backlog
	 * for peers it has seen; tern has no such memory and simply drops. */
	int max = s->sysctl.tcp_max_syn_backlog;
	if (full || (!cookies && l->syn_len >= (uint32_t)(max - (max >> 2)))) {
		if (full)
			tn_stat_inc(s, TN_TcpExtTCPReqQFullDrop);
		tn_stat_inc(s, TN_TcpExtListenDrops);
		return;
	}
	struct tn_tcb *c = tn_tcb_new(s);
	if (!c) {
		tn_stat_inc(s, TN_TcpExtListenDrops);
		return;
	}
	child_init(s, l, c, g);
	take_syn_options(s, c, &g->h.opt);
	c->ecn_ok = s->sysctl.tcp_ecn && (g->h.flags & (TN_TCP_ECE | TN_TCP_CWR)) == (TN_TCP_ECE | TN_TCP_CWR);
	c->irs = g->h.seq;
	c->rcv_nxt = c->rcv_adv = c->rcv_wup = g->h.seq + 1; /* nothing offered yet */
	c->snd_wnd = g->h.win;
	c->iss = isn ? isn : tn_tcp_isn(s, c->laddr, c->lport, c->raddr, c->rport);
	c->snd_una = c->iss;
	c->snd_nxt = c->snd_max = c->iss + 1;
	c->parent = l;
	l->syn_len++;
	tn_tcp_hash(s, c);
	tn_tcp_fastopen_passive(s, l, c, g, pkt);
	tn_tcp_xmit(s, c, c->iss, 0, TN_TCP_SYN | TN_TCP_ACK);
	c->rtt_start = s->now; /* the handshake's RTT sample, if it is not resent */
	c->rtt_seq = c->iss;
	tn_tcp_arm_rtx(s, c);
}

/* Segment for a listener.  Returns a child the segment should go on to
 * (a cookie's completed handshake), else NULL.  isn: the ISN a SYN must
 * get (reopening a TIME-WAIT), 0 for a fresh one. */
static struct tn_tcb *listen_input(struct tn_stack *s, struct tn_tcb *l, const struct tn_tcp_seg *g, uint32_t isn,
				  struct tn_pkt **pkt)
{
	if (g->h.flags & TN_TCP_RST)
		return NULL;
	if (g->h.flags & TN_TCP_ACK) {
		bool rst;
		struct tn_tcb *c = cookie_child(s, l, g, &rst);
		if (!c && rst)
			tn_tcp_send_rst_for(s, g->dst, g->src, &g->h, g->len);
		return c;
	}
	if (g->h.flags & TN_TCP_SYN)
		listen_syn(s, l, g, isn, pkt);
	return NULL;
}

/* ---- SYN-SENT ---- */

static void syn_sent_input(struct tn_stack *s, struct tn_tcb *t, const struct tn_tcp_seg *g)
{
	const struct tn_tcp_hdr *h = &g->h;
	bool ack = h->flags & TN_TCP_ACK;
	if (ack && (tn_seq_le(h->ack, t->iss) || tn_seq_gt(h->ack, t->snd_max))) {
		tn_tcp_send_rst_for(s, g->dst, g->src, h, g->len);
		return;
	}
	if (h->flags & TN_TCP_RST) {
		if (ack)
			tn_tcp_abort(s, t, ECONNREFUSED);
		return;
	}
	if (!(h->flags & TN_TCP_SYN))
		return;
	take_syn_options(s, t, &h->opt);
	t->ecn_ok = s->sysctl.tcp_ecn == 1 && !t->syn_retries &&
		    (h->flags & (TN_TCP_ECE | TN_TCP_CWR)) == TN_TCP_ECE;
	t->irs = h->seq;
	t->rcv_nxt = t->rcv_adv = t->rcv_wup = h->seq + 1; /* nothing offered yet */
	t->snd_wnd = h->win; /* RFC 7323: a SYN's window is never scaled */
	t->snd_wl1 = h->seq;
	t->snd_wl2 = h->ack;
	if (!ack) { /* simultaneous open */
		tn_tcp_set_state(s, t, TN_TCP_SYN_RECEIVED);
		tn_tcp_xmit(s, t, t->iss, 0, TN_TCP_SYN | TN_TCP_ACK);
		return;
	}
	t->snd_una = h->ack;
	tn_tcp_fastopen_synack(s, t, g);
	if (t->backoff == 0 && t->rtt_start) /* Karn: only an unretransmitted SYN gives a sample */
		tn_tcp_rtt_sample(t, s->now - t->rtt_start);
	t->rtt_start = 0;
	t->backoff = 0;
	rto_fallback(t);
	tn_timer_cancel(&s->wheel, &t->rtx_timer);
	tn_tcp_cc_start(s, t);
	tn_tcp_set_state(s, t, TN_TCP_ESTABLISHED);
	tn_tcp_sndbuf_expand(s, t);
	t->last_rcv = s->now;
	tn_tcp_keepalive_update(s, t);
	tn_tcp_send_ack(s, t);
	tn_tcp_output(s, t);
}

/* ---- synchronized states ---- */

static uint32_t rcv_wnd(const struct tn_tcb *t)
{
	return tn_seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
}

/* RFC 9293 3.10.7.4 "first: check sequence number". */
static bool acceptable(const struct tn_tcb *t, const struct tn_tcp_seg *g)
{
	uint32_t seglen = g->len + ((g->h.flags & TN_TCP_SYN) ? 1 : 0) + ((g->h.flags & TN_TCP_FIN) ? 1 : 0);
	uint32_t wnd = rcv_wnd(t), seq = g->h.seq;
	bool start_in = tn_seq_ge(seq, t->rcv_nxt) && tn_seq_lt(seq, t->rcv_nxt + wnd);
	if (seglen == 0)
		return wnd == 0 ? seq == t->rcv_nxt : start_in;
	if (wnd == 0)
		return false;
	uint32_t last = seq + seglen - 1;
	return start_in || (tn_seq_ge(last, t->rcv_nxt) && tn_seq_lt(last, t->rcv_nxt + wnd));
}

/* Linux's tcp_oow_rate_limited: answer segments that could be part of an
 * ACK loop (pure ACKs, SYNs; not data) at most once per
 * tcp_invalid_ratelimit.  True: stay silent this time. */
static bool oow_rate_limited(struct tn_stack *s, struct tn_tcb *t, const struct tn_tcp_seg *g, int counter)
{
	if (g->len && !(g->h.flags & TN_TCP_SYN))
		return false;
	uint32_t now = tn_tcp_ts_now(s);
	if (t->oow_ack_ms && now - t->oow_ack_ms < (uint32_t)s->sysctl.tcp_invalid_ratelimit) {
		tn_stat_inc(s, counter);
		return true;
	}
	t->oow_ack_ms = now ? now : 1;
	return false;
}

/* RFC 5961 challenge ACK, limited per connection (above) and across the
 * stack by tcp_challenge_ack_limit per second (RFC 5961 7). */
static void challenge_ack(struct tn_stack *s, struct tn_tcb *t, const struct tn_tcp_seg *g)
{
	if (oow_rate_limited(s, t, g, TN_TcpExtTCPACKSkippedChallenge))
		return;
	struct tn_tcp_table *tt = &s->tcp;
	uint32_t second = (uint32_t)(s->now / 1000000000ull);
	if (second != tt->chal_second) {
		tt->chal_second = second;
		tt->chal_count = 0;
	}
	if (++tt->chal_count > (uint32_t)s->sysctl.tcp_challenge_ack_limit) {
		tn_stat_inc(s, TN_TcpExtTCPACKSkippedChallenge);
		return;
	}
	tn_stat_inc(s, TN_TcpExtTCPChallengeACK);
	tn_tcp_send_ack(s, t);
}

/* The final ACK of a passive open: on to the listener's accept queue. */
static bool synrecv_established(struct tn_stack *s, struct tn_tcb *t, const struct tn_tcp_seg *g)
{
	struct tn_tcb *l = t->parent;
	bool fo = tn_tcp_fastopen_child_done(t); /* already on the accept queue, or accepted */
	if (!fo && l && accept_queue_full(l)) {
		tn_stat_inc(s, TN_TcpExtListenOverflows);
		tn_stat_inc(s, TN_TcpExtListenDrops);
		if (s->sysctl.tcp_abort_on_overflow) { /* tell the peer at once */
			tn_tcp_send_rst_for(s, g->dst, g->src, &g->h, g->len);
			tn_tcp_destroy_tcb(s, t);
		}
		/* else drop the ACK: our SYN-ACK retransmission draws another */
		return false;
	}
	t->snd_una = t->iss + 1; /* data a TFO child sent is acknowledged by ack_input */
	t->snd_wnd = (uint32_t)g->h.win << (t->snd_wscale == 0xff ? 0 : t->snd_wscale);
	t->snd_wl1 = g->h.seq;
	t->snd_wl2 = g->h.ack;
	if (t->backoff) /* Karn: a resent SYN-ACK gives no sample, save by timestamp */
		t->rtt_start = 0;
	take_rtt(s, t, g); /* as Linux's tcp_synack_rtt_meas */
	t->rtt_start = 0;
	t->backoff = 0;
	rto_fallback(t);
	tn_timer_cancel(&s->wheel, &t->rtx_timer);
	tn_tcp_cc_start(s, t);
	tn_tcp_set_state(s, t, t->fin_rcvd ? TN_TCP_CLOSE_WAIT : TN_TCP_ESTABLISHED); /* TFO: a FIN in the SYN */
	tn_tcp_sndbuf_expand(s, t);
	t->keepalive = l ? l->keepalive : t->keepalive;
	t->ka_idle = l ? l->ka_idle : t->ka_idle;
	t->ka_intvl = l ? l->ka_intvl : t->ka_intvl;
	t->ka_cnt = l ? l->ka_cnt : t->ka_cnt;
	t->last_rcv = s->now;
	tn_tcp_keepalive_update(s, t);
	tn_stat_inc(s, TN_TcpPassiveOpens);
	if (t->fin_queued) { /* shut down by the application before the handshake completed */
		t->fin_queued = false;
		tn_tcp_shutdown_wr(s, t);
	}
	if (l && !fo) {
		l->syn_len--;
		if (l->accept_tail)
			l->accept_tail->accept_next = t;
		else
			l->accept_head = t;
		l->accept_tail = t;
		l->accept_len++;
	}
	return true;
}

/* "fifth: check the ACK field".  Returns false if the segment is done. */
static bool ack_input(struct tn_stack *s, struct tn_tcb *t, const struct tn_tcp_seg *g)
{
	const struct tn_tcp_hdr *h = &g->h;
	if (tn_seq_gt(h->ack, t->snd_max)) {
		tn_tcp_send_ack(s, t);
		return false;
	}
	/* RFC 5961 5.2: an ACK older than a window behind SND.UNA is not from
	 * this connection's peer: challenge it and ignore the segment. */
	if (tn_seq_lt(h->ack, t->snd_una - t->max_snd_wnd)) {
		challenge_ack(s, t, g);
		return false;
	}
	/* RFC 5681 2: a duplicate ACK acknowledges nothing new, carries no
	 * data and no window change, while data is outstanding. */
	bool dup = h->ack == t->snd_una && g->len == 0 && !(h->flags & (TN_TCP_FIN | TN_TCP_SYN)) &&
		   t->snd_una != t->snd_max && ((uint32_t)h->win << t->snd_wscale) == t->snd_wnd;
	tn_tcp_ack_process(s, t, g, dup);
	/* Window update, RFC 9293's SND.WL1/SND.WL2 rule. */
	if (tn_seq_lt(t->snd_wl1, h->seq) || (t->snd_wl1 == h->seq && tn_seq_le(t->snd_wl2, h->ack))) {
		uint32_t old = t->snd_wnd;
		t->snd_wnd = (uint32_t)h->win << t->snd_wscale;
		t->snd_wl1 = h->seq;
		t->snd_wl2 = h->ack;
		if (t->snd_wnd > t->max_snd_wnd)
			t->max_snd_wnd = t->snd_wnd;
		if (old == 0 && t->snd_wnd && t->snd_una == t->snd_max &&
		    t->rtx_kind == TN_RTX_PERSIST) { /* the window opened: stop probing */
			tn_timer_cancel(&s->wheel, &t->rtx_timer);
			tn_tcp_rtx_kind_reset(t);
			t->backoff = 0;
		}
	}
	bool our_fin_acked = tn_tcp_fin_acked(t);
	switch (t->state) {
	case TN_TCP_FIN_WAIT_1:
		if (our_fin_acked) {
			tn_tcp_set_state(s, t, TN_TCP_FIN_WAIT_2);
			if (t->orphan) /* tcp_fin_timeout bounds an orphan's wait for the peer's FIN */
				tn_timer_arm(&s->wheel, &t->rtx_timer,
					     s->now + (uint64_t)s->sysctl.tcp_fin_timeout * 1000000000ull);
		}
		break;
	case TN_TCP_CLOSING:
		if (our_fin_acked)
			tn_tcp_enter_timewait(s, t);
		return false;
	case TN_TCP_LAST_ACK:
		if (our_fin_acked) {
			tn_tcp_destroy_tcb(s, t);
			return false;
		}
		break;
	default:
		break;
	}
	return true;
}

static void queue_in_order(struct tn_tcb *t, struct tn_pkt *p)
{
	tn_pktq_push(&t->rcvq, p, p->len);
}

/* The received queues hold one buffer per entry, each with its own
 * sequence range: a chain (a large segment from GRO or a TSO link, or a
 * reassembled datagram) is taken apart here, without copying.  Returns the
 * pieces qnext-linked in order; the FIN belongs to the last. */
static struct tn_pkt *split_chain(struct tn_pkt *p, uint32_t seq, bool fin)
{
	struct tn_pkt *list = NULL, **tailp = &list;
	while (p) {
		struct tn_pkt *next = p->next;
		p->next = NULL;
		p->pkt_len = p->len;
		if (p->len || (fin && !next)) {
			struct tcp_cb *cb = tcb_of(p);
			cb->seq = seq;
			cb->end = seq + p->len;
			cb->fin = fin && !next;
			seq = cb->end;
			*tailp = p;
			tailp = &p->qnext;
		} else {
			tn_pkt_free(p);
		}
		p = next;
	}
	*tailp = NULL;
	return list;
}

/* Take one piece that starts at or before rcv_nxt; true if it ends in FIN. */
static bool take_piece(struct tn_tcb *t, struct tn_pkt *p)
{
	struct tcp_cb *cb = tcb_of(p);
	if (tn_seq_le(cb->end, t->rcv_nxt) && !(cb->fin && cb->end == t->rcv_nxt)) {
		tn_pkt_free(p); /* wholly old */
		return false;
	}
	tn_pkt_pull(p, t->rcv_nxt - cb->seq);
	t->bytes_received += cb->end - t->rcv_nxt;
	t->rcv_nxt = cb->end;
	bool fin = cb->fin;
	if (p->len)
		queue_in_order(t, p);
	else
		tn_pkt_free(p);
	return fin;
}

/* In-order pieces (the first starts at or before rcv_nxt). */
static bool take_in_order(struct tn_tcb *t, struct tn_pkt *pieces)
{
	bool fin = false;
	while (pieces) {
		struct tn_pkt *p = pieces;
		pieces = p->qnext;
		p->qnext = NULL;
		if (fin) { /* nothing follows a FIN */
			tn_pkt_free(p);
			continue;
		}
		fin = take_piece(t, p);
	}
	return fin;
}

/* Move segments the new rcv_nxt has reached from the out-of-order queue. */
static bool drain_ooo(struct tn_tcb *t)
{
	bool fin = false;
	while (!fin && t->ooo && tn_seq_le(tcb_of(t->ooo)->seq, t->rcv_nxt)) {
		struct tn_pkt *p = t->ooo;
		t->ooo = p->qnext;
		p->qnext = NULL;
		t->ooo_bytes -= p->len;
		fin = take_piece(t, p);
	}
	return fin;
}

/* RFC 2883: a duplicate segment is reported in the next ACK's first SACK
 * block, so the sender learns its retransmission was spurious. */
static void note_dsack(struct tn_stack *s, struct tn_tcb *t, uint32_t start, uint32_t end)
{
	if (!t->sack_ok || start == end || !s->sysctl.tcp_dsack)
		return;
	tn_stat_inc(s, TN_TcpExtTCPDSACKOldSent);
	t->dsack = true;
	t->dsack_start = start;
	t->dsack_end = end;
}

static void ooo_insert(struct tn_stack *s, struct tn_tcb *t, struct tn_pkt *p)
{
	struct tcp_cb *cb = tcb_of(p);
	struct tn_pkt **pp = &t->ooo;
	while (*pp && tn_seq_lt(tcb_of(*pp)->seq, cb->seq))
		pp = &(*pp)->qnext;
	t->sack_recent = cb->seq;
	if (*pp && tcb_of(*pp)->seq == cb->seq && tn_seq_ge(tcb_of(*pp)->end, cb->end)) {
		note_dsack(s, t, cb->seq, cb->end); /* a duplicate of what we hold */
		tn_pkt_free(p);
		return;
	}
	tn_stat_inc(s, TN_TcpExtTCPOFOQueue);
	p->qnext = *pp;
	*pp = p;
	t->ooo_bytes += p->len;
}

static void ooo_insert_all(struct tn_stack *s, struct tn_tcb *t, struct tn_pkt *pieces)
{
	while (pieces) {
		struct tn_pkt *p = pieces;
		pieces = p->qnext;
		ooo_insert(s, t, p);
	}
}

/* Returns false if t was freed (no room left for TIME-WAIT). */
static bool fin_arrived(struct tn_stack *s, struct tn_tcb *t)
{
	t->rcv_nxt++;
	t->fin_rcvd = true;
	tn_tcp_send_ack(s, t); /* before TIME-WAIT, which may free t */
	switch (t->state) {
	case TN_TCP_SYN_RECEIVED:
	case TN_TCP_ESTABLISHED:
		tn_tcp_set_state(s, t, TN_TCP_CLOSE_WAIT);
		break;
	case TN_TCP_FIN_WAIT_1:
		if (tn_tcp_fin_acked(t))
			return tn_tcp_enter_timewait(s, t);
		tn_tcp_set_state(s, t, TN_TCP_CLOSING);
		break;
	case TN_TCP_FIN_WAIT_2:
		return tn_tcp_enter_timewait(s, t);
	default:
		break;
	}
	return true;
}

/* Linux's tcp_event_data_recv: fit the delayed-ACK timeout to the gaps
 * between arriving data, and ACK quickly again after an idle spell. */
static void note_data_arrival(struct tn_tcb *t, uint32_t now_ms, uint64_t rto)
{
	uint32_t m = now_ms - t->last_data_ms, rto_ms = (uint32_t)(rto / TN_TCP_MS);
	if (!t->last_data_ms || m > rto_ms) {
		t->quick_acks = TN_TCP_MAX_QUICKACKS;
		t->ato_ms = TN_TCP_ATO_MIN_MS;
	} else if (m <= t->ato_ms / 2u) {
		t->ato_ms = (uint16_t)(t->ato_ms / 2 + TN_TCP_ATO_MIN_MS / 2);
	} else if (m < t->ato_ms) {
		uint32_t ato = t->ato_ms / 2u + m;
		t->ato_ms = (uint16_t)(ato < rto_ms ? ato : rto_ms);
	}
	t->last_data_ms = now_ms ? now_ms : 1;
}

/* "seventh: process the segment text", "eighth: check the FIN bit".
 * Consumes pkt (data at the payload); returns false if t was freed. */
static bool data_input(struct tn_stack *s, struct tn_tcb *t, const struct tn_tcp_seg *g, struct tn_pkt *pkt)
{
	bool fin = g->h.flags & TN_TCP_FIN;
	bool can_receive = t->state == TN_TCP_ESTABLISHED || t->state == TN_TCP_FIN_WAIT_1 ||
			   t->state == TN_TCP_FIN_WAIT_2;
	if (!can_receive || (g->len == 0 && !fin)) {
		tn_pkt_free(pkt);
		return true;
	}
	/* Everything inside the edge we advertised is taken (the window was a
	 * promise); beyond it, only while the buffer has room. */
	bool beyond_edge = tn_seq_gt(g->h.seq + g->len, t->rcv_adv);
	if (beyond_edge && t->rcvq.bytes + t->ooo_bytes + g->len > t->rcvbuf_max + t->mss) {
		tn_stat_inc(s, TN_TcpExtTCPRcvQDrop);
		tn_pkt_free(pkt); /* beyond what we advertised: drop, the peer resends */
		tn_tcp_send_ack(s, t);
		return true;
	}
	struct tn_pkt *pieces = split_chain(pkt, g->h.seq, fin);
	if (tn_seq_gt(g->h.seq, t->rcv_nxt)) {
		ooo_insert_all(s, t, pieces);
		tn_tcp_send_ack(s, t); /* a duplicate ACK at once: fast retransmit needs it */
		t->quick_acks = TN_TCP_MAX_QUICKACKS; /* and quick ACKs while the hole fills */
		return true;
	}
	if (g->len)
		note_data_arrival(t, tn_tcp_ts_now(s), t->rto);
	bool had_ooo = t->ooo != NULL;
	fin = take_in_order(t, pieces);
	if (!fin)
		fin = drain_ooo(t);
	if (fin)
		return fin_arrived(s, t);
	tn_tcp_ack_soon(s, t, had_ooo);
	return true;
}

/* TIME-WAIT (RFC 9293 3.10.7.4, Linux's tcp_timewait_state_process).
 * Returns true when the segment is a new SYN that may reopen the 4-tuple:
 * the caller ends this TIME-WAIT and hands the SYN to the listener. */
static bool timewait_input(struct tn_stack *s, struct tn_tcb *t, const struct tn_tcp_seg *g)
{
	const struct tn_tcp_hdr *h = &g->h;
	if (h->flags & TN_TCP_RST) { /* tcp_rfc1337=0: a reset ends TIME-WAIT */
		tn_tcp_destroy_tcb(s, t);
		return false;
	}
	bool paws_ok = !t->ts_ok || !h->opt.has_ts || tn_seq_gt(h->opt.tsval, t->ts_recent);
	if ((h->flags & (TN_TCP_SYN | TN_TCP_ACK)) == TN_TCP_SYN &&
	    (t->ts_ok && h->opt.has_ts ? paws_ok : tn_seq_gt(h->seq, t->rcv_nxt)))
		return true;
	if ((h->flags & TN_TCP_FIN) && h->seq + g->len + 1 == t->rcv_nxt) {
		/* a retransmitted FIN: ACK it and restart the wait */
		tn_timer_arm(&s->wheel, &t->rtx_timer, s->now + TN_TCP_TIMEWAIT);
		tn_tcp_send_ack(s, t);
		return false;
	}
	if (!oow_rate_limited(s, t, g, TN_TcpExtTCPACKSkippedTimeWait))
		tn_tcp_send_ack(s, t);
	return false;
}

/* New data for a connection whose receiving side is shut (closed, or
 * shutdown(SHUT_RD)) while our FIN is out: FIN-WAIT-1/2, as Linux's
 * tcp_rcv_state_process checks RCV_SHUTDOWN there. */
static bool data_after_close(const struct tn_tcb *t, const struct tn_tcp_seg *g)
{
	bool fin_wait = t->state == TN_TCP_FIN_WAIT_1 || t->state == TN_TCP_FIN_WAIT_2;
	bool rcv_shut = t->orphan || (t->sk && t->sk->rd_shut);
	return fin_wait && rcv_shut && g->len && tn_seq_gt(g->h.seq + g->len, t->rcv_nxt);
}

static void conn_input(struct tn_stack *s, struct tn_tcb *t, const struct tn_tcp_seg *g, struct tn_pkt *pkt)
{
	const struct tn_tcp_hdr *h = &g->h;
	if (t->state == TN_TCP_SYN_SENT) {
		syn_sent_input(s, t, g);
		tn_pkt_free(pkt);
		return;
	}
	/* PAWS (RFC 7323 5.3) */
	if (t->ts_ok && h->opt.has_ts && !(h->flags & TN_TCP_RST) && tn_seq_lt(h->opt.tsval, t->ts_recent)) {
		tn_stat_inc(s, TN_TcpExtPAWSEstab);
		if (!oow_rate_limited(s, t, g, TN_TcpExtTCPACKSkippedPAWS))
			tn_tcp_send_ack(s, t);
		tn_pkt_free(pkt);
		return;
	}
	/* Simultaneous open: the peer's SYN-ACK answers ours (Linux lets it
	 * through the RFC 5961 SYN check the same way). */
	bool simul_synack = t->state == TN_TCP_SYN_RECEIVED && !t->parent && g->len == 0 &&
			    (h->flags & (TN_TCP_SYN | TN_TCP_ACK | TN_TCP_RST)) == (TN_TCP_SYN | TN_TCP_ACK) &&
			    h->seq + 1 == t->rcv_nxt && h->ack == t->snd_nxt;
	if (!simul_synack && !acceptable(t, g)) {
		if (g->len && tn_seq_le(h->seq + g->len, t->rcv_nxt))
			note_dsack(s, t, h->seq, h->seq + g->len); /* old data again */
		int counter = t->state == TN_TCP_SYN_RECEIVED ? TN_TcpExtTCPACKSkippedSynRecv : TN_TcpExtTCPACKSkippedSeq;
		if (!(h->flags & TN_TCP_RST) && !oow_rate_limited(s, t, g, counter))
			tn_tcp_send_ack(s, t);
		tn_pkt_free(pkt);
		return;
	}
	if (t->ts_ok && h->opt.has_ts && tn_seq_le(h->seq, t->rcv_nxt)) {
		t->ts_recent = h->opt.tsval;
		t->ts_recent_at = s->now;
	}
	tn_stat_add(s, TN_TcpInSegs, TN_PKT_SEGS(pkt));
	t->last_rcv = s->now;
	t->ka_probes = 0;
	if (t->ecn_ok) { /* RFC 3168 6.1.3: echo CE with ECE until the sender's CWR */
		if (h->flags & TN_TCP_CWR)
			t->ece_pending = false;
		if (g->ecn == TN_ECN_CE && g->len) {
			t->ece_pending = true;
			t->quick_acks = TN_TCP_MAX_QUICKACKS > t->quick_acks ? t->quick_acks + 1 : t->quick_acks;
			tn_stat_inc(s, TN_TcpExtTCPECNCERecv);
		}
	}
	t->probes_out = 0; /* the peer is alive: Linux's tcp_ack clears icsk_probes_out */
	if (h->flags & TN_TCP_RST) { /* RFC 5961 3.2 */
		tn_pkt_free(pkt);
		if (h->seq != t->rcv_nxt) {
			challenge_ack(s, t, g);
			return;
		}
		if (t->state == TN_TCP_ESTABLISHED || t->state == TN_TCP_CLOSE_WAIT)
			tn_stat_inc(s, TN_TcpEstabResets);
		tn_tcp_abort(s, t, t->state == TN_TCP_SYN_RECEIVED && !t->parent ? ECONNREFUSED : ECONNRESET);
		return;
	}
	if ((h->flags & TN_TCP_SYN) && !simul_synack) { /* RFC 5961 4.2: a SYN in a synchronized state */
		challenge_ack(s, t, g);
		tn_pkt_free(pkt);
		return;
	}
	if (!(h->flags & TN_TCP_ACK)) {
		tn_pkt_free(pkt);
		return;
	}
	if (t->state == TN_TCP_SYN_RECEIVED) {
		if (tn_seq_le(h->ack, t->snd_una) || tn_seq_gt(h->ack, t->snd_max)) {
			tn_tcp_send_rst_for(s, g->dst, g->src, h, g->len);
			tn_pkt_free(pkt);
			return;
		}
		if (!synrecv_established(s, t, g)) {
			tn_pkt_free(pkt);
			return;
		}
	}
	if (!ack_input(s, t, g)) {
		tn_pkt_free(pkt);
		return;
	}
	if (data_after_close(t, g)) {
		/* RFC 1122 4.2.2.13 and Linux: no one will read it, so the
		 * sender must learn at once rather than fill a dead window */
		tn_stat_inc(s, TN_TcpExtTCPAbortOnData);
		tn_tcp_send_rst_for(s, g->dst, g->src, h, g->len);
		tn_pkt_free(pkt);
		tn_tcp_abort(s, t, ECONNRESET);
		return;
	}
	if (data_input(s, t, g, pkt))
		tn_tcp_output(s, t);
}

void tn_tcp_input(struct tn_stack *s, struct tn_pkt *pkt)
{
	struct tn_ip_cb *ip = tn_ip_cb(pkt);
	struct tn_tcp_seg g = {.src = ip->src, .dst = ip->dst, .ecn = ip->tos & 3};
	uint32_t total = pkt->pkt_len;
	if (tn_pkt_may_pull(pkt, total < TN_TCP_MAX_HLEN ? total : TN_TCP_MAX_HLEN) < 0 ||
	    tn_tcp_parse(pkt->data, pkt->len, &g.h) < 0) {
		tn_drop(s, pkt, TN_TcpInErrs);
		return;
	}
	uint32_t sum = tn_csum_pseudo4(ip->src, ip->dst, TN_IPPROTO_TCP, total);
	/* Our own, from a link that vouches, or verified by GRO already. */
	bool trusted = pkt->flags & (TN_PKT_CSUM_PARTIAL | TN_PKT_CSUM_OK);
	if (!trusted && tn_csum_fold(tn_csum_pkt(pkt, 0, total, sum)) != 0) {
		tn_stat_inc(s, TN_TcpInCsumErrors);
		tn_drop(s, pkt, TN_TcpInErrs);
		return;
	}
	g.len = total - g.h.doff;
	tn_pkt_pull(pkt, g.h.doff);
	if (ip->route_type == TN_RT_BROADCAST) { /* TCP is unicast only */
		tn_drop(s, pkt, TN_TcpInErrs);
		return;
	}
	struct tn_tcb *t = tn_tcp_lookup(s, g.dst, g.h.dport, g.src, g.h.sport);
	uint32_t isn = 0;
	if (t && t->state == TN_TCP_TIME_WAIT) {
		tn_stat_inc(s, TN_TcpInSegs);
		if (!timewait_input(s, t, &g)) {
			tn_pkt_free(pkt);
			return;
		}
		/* A new SYN ends the TIME-WAIT; the new connection's sequence
		 * space starts above the old one (Linux's tw_snd_nxt + 65537). */
		isn = t->snd_nxt + 65535 + 2;
		tn_tcp_destroy_tcb(s, t);
		t = NULL;
	}
	if (t) {
		/* Sockets outlive what input may do to the TCB (free it): note
		 * them first, and wake their epoll registrations after. */
		struct tn_sock *sk = t->sk, *lsk = t->parent ? t->parent->sk : NULL;
		conn_input(s, t, &g, pkt);
		tn_sock_wake(sk);
		tn_sock_wake(lsk);
		return;
	}
	if (!isn)
		tn_stat_inc(s, TN_TcpInSegs);
	struct tn_tcb *l = tn_tcp_select_listener(s, g.dst, g.h.dport, g.src, g.h.sport);
	struct tn_tcb *c = l ? listen_input(s, l, &g, isn, &pkt) : NULL;
	if (c) { /* a cookie's handshake completes through the normal path */
		conn_input(s, c, &g, pkt);
		if (c->state == TN_TCP_SYN_RECEIVED) /* the segment was refused */
			tn_tcp_destroy_tcb(s, c);
		tn_sock_wake(l->sk);
		return;
	}
	if (!l)
		tn_tcp_send_rst_for(s, g.dst, g.src, &g.h,
				    g.len + !!(g.h.flags & TN_TCP_SYN) + !!(g.h.flags & TN_TCP_FIN));
	tn_pkt_free(pkt);
}
