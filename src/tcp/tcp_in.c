/* TCP input: segment arrival processing (RFC 9293 3.10.7), with RFC 5961's
 * defences against blind RST and SYN, RFC 7323 PAWS, RFC 6298 RTT
 * estimation and RFC 5681/6582 congestion control. */
#include <errno.h>
#include <stdlib.h>

#include "core/stack.h"
#include "net/ipv4.h"
#include "socket/epoll.h"
#include "tcp/tcp_int.h"
#include "wire/csum.h"
#include "wire/wire.h"

/* What a queued segment covers, kept in pkt->cb. */
struct tcp_cb {
	uint32_t seq, end; /* payload [seq, end) */
	bool fin;
};
static struct tcp_cb *tcb_of(struct tn_pkt *p) { return (struct tcp_cb *)p->cb; }

struct seg {
	struct tn_tcp_hdr h;
	uint32_t len;      /* payload bytes */
	uint32_t src, dst;
};

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

static void rtt_sample(struct tn_tcb *t, uint64_t r)
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

static void take_rtt(struct tn_stack *s, struct tn_tcb *t, const struct seg *g)
{
	if (t->ts_ok && g->h.opt.has_ts && g->h.opt.tsecr) {
		uint32_t ms = tn_tcp_ts_now(s) - g->h.opt.tsecr;
		if (ms < 3600000)
			rtt_sample(t, (uint64_t)ms * TN_TCP_MS);
	} else if (t->rtt_start && tn_seq_gt(g->h.ack, t->rtt_seq)) {
		rtt_sample(t, s->now - t->rtt_start);
	}
	if (t->rtt_start && tn_seq_gt(g->h.ack, t->rtt_seq))
		t->rtt_start = 0;
}

/* ---- listen ---- */

static void listen_input(struct tn_stack *s, struct tn_tcb *l, const struct seg *g)
{
	if (g->h.flags & TN_TCP_RST)
		return;
	if (g->h.flags & TN_TCP_ACK) {
		tn_tcp_send_rst_for(s, g->dst, g->src, &g->h, g->len);
		return;
	}
	if (!(g->h.flags & TN_TCP_SYN))
		return;
	if (l->accept_len >= l->backlog) {
		tn_stat_inc(s, TN_TcpExtListenOverflows);
		tn_stat_inc(s, TN_TcpExtListenDrops);
		return;
	}
	if (l->syn_len >= (uint32_t)s->sysctl.tcp_max_syn_backlog) {
		tn_stat_inc(s, TN_TcpExtListenDrops);
		return;
	}
	struct tn_tcb *c = tn_tcb_new(s);
	if (!c) {
		tn_stat_inc(s, TN_TcpExtListenDrops);
		return;
	}
	c->laddr = g->dst;
	c->lport = g->h.dport;
	c->raddr = g->src;
	c->rport = g->h.sport;
	c->rcv_wscale = s->sysctl.tcp_window_scaling ? 7 : 0;
	const struct tn_route *rt = tn_route_lookup(&s->routes, c->raddr);
	struct tn_iface *ifc = rt ? tn_iface_get(s, rt->ifindex) : NULL;
	c->mss = (uint16_t)((ifc ? ifc->dev->mtu : 1500) - 40);
	take_syn_options(s, c, &g->h.opt);
	c->irs = g->h.seq;
	c->rcv_nxt = c->rcv_adv = c->rcv_wup = g->h.seq + 1; /* nothing offered yet */
	c->snd_wnd = g->h.win;
	c->iss = tn_tcp_isn(s, c->laddr, c->lport, c->raddr, c->rport);
	c->snd_una = c->iss;
	c->snd_nxt = c->snd_max = c->iss + 1;
	c->state = TN_TCP_SYN_RECEIVED;
	c->parent = l;
	c->rcvbuf_max = l->rcvbuf_max;
	c->sndbuf_max = l->sndbuf_max;
	c->nodelay = l->nodelay;
	l->syn_len++;
	tn_tcp_hash(s, c);
	tn_tcp_xmit(s, c, c->iss, 0, TN_TCP_SYN | TN_TCP_ACK);
	tn_tcp_arm_rtx(s, c);
}

/* ---- SYN-SENT ---- */

static void syn_sent_input(struct tn_stack *s, struct tn_tcb *t, const struct seg *g)
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
	if (t->backoff == 0 && t->rtt_start) /* Karn: only an unretransmitted SYN gives a sample */
		rtt_sample(t, s->now - t->rtt_start);
	t->rtt_start = 0;
	t->backoff = 0;
	tn_timer_cancel(&s->wheel, &t->rtx_timer);
	tn_tcp_set_state(s, t, TN_TCP_ESTABLISHED);
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
static bool acceptable(const struct tn_tcb *t, const struct seg *g)
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

static void challenge_ack(struct tn_stack *s, struct tn_tcb *t)
{
	tn_stat_inc(s, TN_TcpExtTCPChallengeACK);
	tn_tcp_send_ack(s, t);
}

/* The final ACK of a passive open: on to the listener's accept queue. */
static bool synrecv_established(struct tn_stack *s, struct tn_tcb *t, const struct seg *g)
{
	struct tn_tcb *l = t->parent;
	if (l && l->accept_len >= l->backlog) { /* tcp_abort_on_overflow=0: drop the ACK */
		tn_stat_inc(s, TN_TcpExtListenOverflows);
		tn_stat_inc(s, TN_TcpExtListenDrops);
		return false;
	}
	t->snd_una = g->h.ack;
	t->snd_wnd = (uint32_t)g->h.win << (t->snd_wscale == 0xff ? 0 : t->snd_wscale);
	t->snd_wl1 = g->h.seq;
	t->snd_wl2 = g->h.ack;
	t->backoff = 0;
	tn_timer_cancel(&s->wheel, &t->rtx_timer);
	tn_tcp_set_state(s, t, TN_TCP_ESTABLISHED);
	t->keepalive = l ? l->keepalive : t->keepalive;
	t->ka_idle = l ? l->ka_idle : t->ka_idle;
	t->ka_intvl = l ? l->ka_intvl : t->ka_intvl;
	t->ka_cnt = l ? l->ka_cnt : t->ka_cnt;
	t->last_rcv = s->now;
	tn_tcp_keepalive_update(s, t);
	tn_stat_inc(s, TN_TcpPassiveOpens);
	if (l) {
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

static void fast_retransmit(struct tn_stack *s, struct tn_tcb *t)
{
	uint32_t flight = t->snd_nxt - t->snd_una;
	t->ssthresh = flight / 2 > 2u * t->mss ? flight / 2 : 2u * t->mss;
	t->cwnd = t->ssthresh + 3u * t->mss;
	t->recover = t->snd_max;
	tn_stat_inc(s, TN_TcpExtTCPFastRetrans);
	tn_stat_inc(s, TN_TcpRetransSegs);
	uint32_t seg = t->snd.len < t->mss ? t->snd.len : t->mss;
	if (seg)
		tn_tcp_xmit(s, t, t->snd_una, seg, TN_TCP_ACK);
	t->rtt_start = 0;
}

/* New data acknowledged (RFC 5681 slow start / congestion avoidance,
 * RFC 6582 NewReno partial ACKs). */
static void ack_new_data(struct tn_stack *s, struct tn_tcb *t, const struct seg *g)
{
	uint32_t acked = g->h.ack - t->snd_una;
	bool fin_acked = tn_tcp_fin_sent(t) && !tn_tcp_fin_acked(t) && tn_seq_gt(g->h.ack, t->fin_seq);
	tn_tcp_sndbuf_ack(t, fin_acked ? acked - 1 : acked);
	t->snd_una = g->h.ack;
	if (tn_seq_lt(t->snd_nxt, t->snd_una))
		t->snd_nxt = t->snd_una;
	take_rtt(s, t, g);
	t->backoff = 0;
	t->first_rtx_at = 0;
	if (t->dupacks >= 3) {
		if (tn_seq_lt(g->h.ack, t->recover)) { /* partial ACK: resend the next hole */
			uint32_t seg = t->snd.len < t->mss ? t->snd.len : t->mss;
			if (seg)
				tn_tcp_xmit(s, t, t->snd_una, seg, TN_TCP_ACK);
			t->cwnd = t->cwnd > acked ? t->cwnd - acked + t->mss : t->mss;
		} else {
			t->cwnd = t->ssthresh;
			t->dupacks = 0;
		}
	} else {
		t->dupacks = 0;
		if (t->cwnd < t->ssthresh)
			t->cwnd += acked < t->mss ? acked : t->mss;
		else
			t->cwnd += (uint32_t)((uint64_t)t->mss * t->mss / t->cwnd) + 1;
	}
	if (t->snd_una == t->snd_max)
		tn_timer_cancel(&s->wheel, &t->rtx_timer);
	else
		tn_tcp_arm_rtx(s, t);
}

/* "fifth: check the ACK field".  Returns false if the segment is done. */
static bool ack_input(struct tn_stack *s, struct tn_tcb *t, const struct seg *g)
{
	const struct tn_tcp_hdr *h = &g->h;
	if (tn_seq_gt(h->ack, t->snd_max)) {
		tn_tcp_send_ack(s, t);
		return false;
	}
	bool dup = h->ack == t->snd_una && g->len == 0 && !(h->flags & TN_TCP_FIN) &&
		   t->snd_una != t->snd_max && ((uint32_t)h->win << t->snd_wscale) == t->snd_wnd;
	if (tn_seq_gt(h->ack, t->snd_una))
		ack_new_data(s, t, g);
	else if (dup && ++t->dupacks == 3)
		fast_retransmit(s, t);
	else if (dup && t->dupacks > 3)
		t->cwnd += t->mss;
	/* Window update, RFC 9293's SND.WL1/SND.WL2 rule. */
	if (tn_seq_lt(t->snd_wl1, h->seq) || (t->snd_wl1 == h->seq && tn_seq_le(t->snd_wl2, h->ack))) {
		uint32_t old = t->snd_wnd;
		t->snd_wnd = (uint32_t)h->win << t->snd_wscale;
		t->snd_wl1 = h->seq;
		t->snd_wl2 = h->ack;
		if (t->snd_wnd > t->max_snd_wnd)
			t->max_snd_wnd = t->snd_wnd;
		if (old == 0 && t->snd_wnd && t->snd_una == t->snd_max) { /* the window opened: stop probing */
			tn_timer_cancel(&s->wheel, &t->rtx_timer);
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

/* Move segments the new rcv_nxt has reached from the out-of-order queue. */
static bool drain_ooo(struct tn_tcb *t)
{
	bool fin = false;
	while (t->ooo && tn_seq_le(tcb_of(t->ooo)->seq, t->rcv_nxt)) {
		struct tn_pkt *p = t->ooo;
		t->ooo = p->qnext;
		t->ooo_bytes -= p->len;
		struct tcp_cb *cb = tcb_of(p);
		if (tn_seq_le(cb->end, t->rcv_nxt) && !(cb->fin && cb->end == t->rcv_nxt)) {
			tn_pkt_free(p); /* wholly old */
			continue;
		}
		uint32_t skip = t->rcv_nxt - cb->seq;
		tn_pkt_pull(p, skip);
		t->rcv_nxt = cb->end;
		fin = cb->fin;
		if (p->len)
			queue_in_order(t, p);
		else
			tn_pkt_free(p);
		if (fin)
			break;
	}
	return fin;
}

static void ooo_insert(struct tn_stack *s, struct tn_tcb *t, struct tn_pkt *p)
{
	struct tcp_cb *cb = tcb_of(p);
	struct tn_pkt **pp = &t->ooo;
	while (*pp && tn_seq_lt(tcb_of(*pp)->seq, cb->seq))
		pp = &(*pp)->qnext;
	if (*pp && tcb_of(*pp)->seq == cb->seq && tn_seq_ge(tcb_of(*pp)->end, cb->end)) {
		tn_pkt_free(p); /* a duplicate of what we hold */
		return;
	}
	tn_stat_inc(s, TN_TcpExtTCPOFOQueue);
	p->qnext = *pp;
	*pp = p;
	t->ooo_bytes += p->len;
}

static void fin_arrived(struct tn_stack *s, struct tn_tcb *t)
{
	t->rcv_nxt++;
	t->fin_rcvd = true;
	switch (t->state) {
	case TN_TCP_SYN_RECEIVED:
	case TN_TCP_ESTABLISHED:
		tn_tcp_set_state(s, t, TN_TCP_CLOSE_WAIT);
		break;
	case TN_TCP_FIN_WAIT_1:
		if (tn_tcp_fin_acked(t))
			tn_tcp_enter_timewait(s, t);
		else
			tn_tcp_set_state(s, t, TN_TCP_CLOSING);
		break;
	case TN_TCP_FIN_WAIT_2:
		tn_tcp_enter_timewait(s, t);
		break;
	default:
		break;
	}
	tn_tcp_send_ack(s, t);
}

/* "seventh: process the segment text", "eighth: check the FIN bit".
 * Consumes pkt (data at the payload). */
static void data_input(struct tn_stack *s, struct tn_tcb *t, const struct seg *g, struct tn_pkt *pkt)
{
	bool fin = g->h.flags & TN_TCP_FIN;
	bool can_receive = t->state == TN_TCP_ESTABLISHED || t->state == TN_TCP_FIN_WAIT_1 ||
			   t->state == TN_TCP_FIN_WAIT_2;
	if (!can_receive || (g->len == 0 && !fin)) {
		tn_pkt_free(pkt);
		return;
	}
	if (pkt->next) { /* keep queued data in one segment per buffer */
		struct tn_pkt *flat = tn_pkt_copy(s->pool, pkt);
		tn_pkt_free(pkt);
		if (!flat)
			return;
		pkt = flat;
	}
	struct tcp_cb *cb = tcb_of(pkt);
	cb->seq = g->h.seq;
	cb->end = g->h.seq + g->len;
	cb->fin = fin;
	if (t->rcvq.bytes + t->ooo_bytes + g->len > t->rcvbuf_max + t->mss) {
		tn_pkt_free(pkt); /* beyond what we advertised: drop, the peer resends */
		tn_tcp_send_ack(s, t);
		return;
	}
	if (tn_seq_gt(cb->seq, t->rcv_nxt)) {
		ooo_insert(s, t, pkt);
		tn_tcp_send_ack(s, t); /* a duplicate ACK at once: fast retransmit needs it */
		return;
	}
	bool had_ooo = t->ooo != NULL;
	tn_pkt_pull(pkt, t->rcv_nxt - cb->seq);
	t->rcv_nxt = cb->end;
	if (pkt->len)
		queue_in_order(t, pkt);
	else
		tn_pkt_free(pkt);
	if (!fin)
		fin = drain_ooo(t);
	if (fin) {
		fin_arrived(s, t);
		return;
	}
	tn_tcp_ack_soon(s, t, had_ooo);
}

static void timewait_input(struct tn_stack *s, struct tn_tcb *t, const struct seg *g)
{
	if (g->h.flags & TN_TCP_RST) { /* tcp_rfc1337=0: a reset ends TIME-WAIT */
		tn_tcp_destroy_tcb(s, t);
		return;
	}
	if (g->h.flags & TN_TCP_FIN) /* a retransmitted FIN: ACK it and restart the wait */
		tn_timer_arm(&s->wheel, &t->rtx_timer, s->now + TN_TCP_TIMEWAIT);
	tn_tcp_send_ack(s, t);
}

static void conn_input(struct tn_stack *s, struct tn_tcb *t, const struct seg *g, struct tn_pkt *pkt)
{
	const struct tn_tcp_hdr *h = &g->h;
	if (t->state == TN_TCP_SYN_SENT) {
		syn_sent_input(s, t, g);
		tn_pkt_free(pkt);
		return;
	}
	if (t->state == TN_TCP_TIME_WAIT) {
		timewait_input(s, t, g);
		tn_pkt_free(pkt);
		return;
	}
	/* PAWS (RFC 7323 5.3) */
	if (t->ts_ok && h->opt.has_ts && !(h->flags & TN_TCP_RST) && tn_seq_lt(h->opt.tsval, t->ts_recent)) {
		tn_stat_inc(s, TN_TcpExtPAWSEstab);
		tn_tcp_send_ack(s, t);
		tn_pkt_free(pkt);
		return;
	}
	if (!acceptable(t, g)) {
		if (!(h->flags & TN_TCP_RST))
			tn_tcp_send_ack(s, t);
		tn_pkt_free(pkt);
		return;
	}
	if (t->ts_ok && h->opt.has_ts && tn_seq_le(h->seq, t->rcv_nxt)) {
		t->ts_recent = h->opt.tsval;
		t->ts_recent_at = s->now;
	}
	tn_stat_inc(s, TN_TcpInSegs);
	t->last_rcv = s->now;
	t->ka_probes = 0;
	if (h->flags & TN_TCP_RST) { /* RFC 5961 3.2 */
		tn_pkt_free(pkt);
		if (h->seq != t->rcv_nxt) {
			challenge_ack(s, t);
			return;
		}
		if (t->state == TN_TCP_ESTABLISHED || t->state == TN_TCP_CLOSE_WAIT)
			tn_stat_inc(s, TN_TcpEstabResets);
		tn_tcp_abort(s, t, t->state == TN_TCP_SYN_RECEIVED && !t->parent ? ECONNREFUSED : ECONNRESET);
		return;
	}
	if (h->flags & TN_TCP_SYN) { /* RFC 5961 4.2: a SYN in a synchronized state */
		challenge_ack(s, t);
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
	data_input(s, t, g, pkt);
	tn_tcp_output(s, t);
}

void tn_tcp_input(struct tn_stack *s, struct tn_pkt *pkt)
{
	struct tn_ip_cb *ip = tn_ip_cb(pkt);
	struct seg g = {.src = ip->src, .dst = ip->dst};
	uint32_t total = pkt->pkt_len;
	if (tn_pkt_may_pull(pkt, total < TN_TCP_MAX_HLEN ? total : TN_TCP_MAX_HLEN) < 0 ||
	    tn_tcp_parse(pkt->data, pkt->len, &g.h) < 0) {
		tn_drop(s, pkt, TN_TcpInErrs);
		return;
	}
	uint32_t sum = tn_csum_pseudo4(ip->src, ip->dst, TN_IPPROTO_TCP, total);
	if (tn_csum_fold(tn_csum_pkt(pkt, 0, total, sum)) != 0) {
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
	if (t) {
		/* Sockets outlive what input may do to the TCB (free it): note
		 * them first, and wake their epoll registrations after. */
		struct tn_sock *sk = t->sk, *lsk = t->parent ? t->parent->sk : NULL;
		conn_input(s, t, &g, pkt);
		tn_sock_wake(sk);
		tn_sock_wake(lsk);
		return;
	}
	tn_stat_inc(s, TN_TcpInSegs);
	struct tn_tcb *l = tn_tcp_lookup_listener(s, g.dst, g.h.dport);
	if (l)
		listen_input(s, l, &g);
	else
		tn_tcp_send_rst_for(s, g.dst, g.src, &g.h,
				    g.len + !!(g.h.flags & TN_TCP_SYN) + !!(g.h.flags & TN_TCP_FIN));
	tn_pkt_free(pkt);
}
