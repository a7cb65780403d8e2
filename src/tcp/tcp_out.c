/* TCP output: building segments, sending data within the windows, the
 * retransmission and delayed-ACK timers. */
#include <errno.h>

#include "core/stack.h"
#include "net/gso.h"
#include "net/ipv4.h"
#include "tcp/tcp_cc.h"
#include "tcp/tcp_int.h"
#include "wire/csum.h"
#include "wire/tcp.h"
#include "wire/wire.h"

/* Window we can offer: free receive space, never shrinking the right edge
 * we already advertised (RFC 9293 3.8.6.2.1). */
static uint32_t rcv_window(const struct tn_tcb *t)
{
	uint32_t used = t->rcvq.bytes + t->ooo_bytes;
	uint32_t free_space = used < t->rcvbuf_max ? t->rcvbuf_max - used : 0;
	/* Receiver SWS avoidance (RFC 1122 4.2.3.3, Linux's __tcp_select_window):
	 * offer nothing until a full segment or half the buffer is free. */
	uint32_t floor = t->mss < t->rcvbuf_max / 2 ? t->mss : t->rcvbuf_max / 2;
	if (free_space < floor)
		free_space = 0;
	uint32_t promised = tn_seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
	return free_space > promised ? free_space : promised;
}

static uint16_t window_field(struct tn_tcb *t, bool syn)
{
	uint32_t win = rcv_window(t);
	if (syn) { /* unscaled (RFC 7323 2.2) */
		win = win > 65535 ? 65535 : win;
		t->rcv_adv = t->rcv_nxt + win;
		t->rcv_wup = t->rcv_nxt;
		return (uint16_t)win;
	}
	uint32_t scaled = win >> t->rcv_wscale;
	/* Round up rather than pull back an edge already offered. */
	if (tn_seq_lt(t->rcv_nxt + (scaled << t->rcv_wscale), t->rcv_adv))
		scaled++;
	if (scaled > 65535)
		scaled = 65535;
	t->rcv_adv = t->rcv_nxt + (scaled << t->rcv_wscale);
	t->rcv_wup = t->rcv_nxt;
	return (uint16_t)scaled;
}

uint32_t tn_tcp_ts_now(const struct tn_stack *s) { return (uint32_t)(s->now / 1000000ull); } /* 1 ms clock */

void tn_tcp_syn_options(struct tn_stack *s, const struct tn_tcb *t, struct tn_tcp_opts *o, bool synack)
{
	o->has_mss = true;
	o->mss = tn_tcp_adv_mss(s, t);
	if (!synack || t->ts_ok) {
		o->has_ts = true;
		o->tsval = tn_tcp_ts_now(s);
		o->tsecr = synack ? t->ts_recent : 0;
	}
	if (!synack || t->sack_ok)
		o->sack_ok = true;
	if (!synack || t->snd_wscale != 0xff) {
		o->has_wscale = true;
		o->wscale = t->rcv_wscale;
	}
	if (t->tfo)
		tn_tcp_fastopen_syn_option(s, t, o, synack);
}

/* Build and send one segment: header, options, and `len` payload bytes
 * from the send buffer at sequence `seq`.  Returns 0 or -errno. */
/* RFC 2018 section 4: the block holding the latest arrival first, then the
 * other out-of-order ranges, highest first, as many as fit (4, or 3 next to
 * timestamps); a D-SACK block (RFC 2883) goes before them all, once. */
static void sack_blocks(struct tn_tcb *t, struct tn_tcp_opts *o)
{
	unsigned max = o->has_ts ? 3 : 4, n = 0;
	if (t->dsack) {
		o->sack[n++] = (struct tn_tcp_sack_block){t->dsack_start, t->dsack_end};
		t->dsack = false;
	}
	struct tn_tcp_sack_block r[64];
	unsigned nr = 0;
	for (struct tn_pkt *p = t->ooo; p && nr < 64; p = p->qnext) {
		const struct tcp_cb *cb = (const struct tcp_cb *)p->cb;
		if (nr && tn_seq_ge(r[nr - 1].end, cb->seq)) { /* touches the last range: extend it */
			if (tn_seq_gt(cb->end, r[nr - 1].end))
				r[nr - 1].end = cb->end;
			continue;
		}
		r[nr++] = (struct tn_tcp_sack_block){cb->seq, cb->end};
	}
	for (unsigned i = 0; i < nr && n < max; i++) /* the latest arrival's range */
		if (tn_seq_ge(t->sack_recent, r[i].start) && tn_seq_lt(t->sack_recent, r[i].end)) {
			o->sack[n++] = r[i];
			r[i].start = r[i].end; /* taken */
			break;
		}
	for (unsigned i = nr; i-- > 0 && n < max;)
		if (r[i].start != r[i].end)
			o->sack[n++] = r[i];
	o->nsack = (uint8_t)n;
}

int tn_tcp_xmit(struct tn_stack *s, struct tn_tcb *t, uint32_t seq, uint32_t len, uint16_t flags)
{
	/* RFC 3168 6.1.1: an ECN-setup SYN carries ECE and CWR, its SYN-ACK
	 * ECE alone; afterwards ECE echoes congestion until the peer's CWR. */
	if ((flags & (TN_TCP_SYN | TN_TCP_ACK)) == TN_TCP_SYN && s->sysctl.tcp_ecn == 1 && !t->syn_retries)
		flags |= TN_TCP_ECE | TN_TCP_CWR;
	else if ((flags & TN_TCP_SYN) && t->ecn_ok)
		flags |= TN_TCP_ECE;
	else if (!(flags & (TN_TCP_SYN | TN_TCP_RST)) && t->ece_pending)
		flags |= TN_TCP_ECE;
	struct tn_tcp_hdr h = {.seq = seq, .flags = flags};
	if (flags & TN_TCP_SYN)
		tn_tcp_syn_options(s, t, &h.opt, flags & TN_TCP_ACK);
	else if (t->ts_ok) {
		h.opt.has_ts = true;
		h.opt.tsval = tn_tcp_ts_now(s);
		h.opt.tsecr = t->ts_recent;
	}
	if (!(flags & TN_TCP_SYN) && t->sack_ok && (t->ooo || t->dsack))
		sack_blocks(t, &h.opt);
	return tn_tcp_xmit_hdr(s, t, &h, len);
}

/* Payload up to this is copied into the head buffer, after the headers:
 * for a short reply a second buffer and a chunk reference cost more than
 * the copy (as drivers' rx_copybreak). */
#define TN_TCP_COPYBREAK 256u

static struct tn_iface *out_iface(struct tn_stack *s, const struct tn_tcb *t);

/* Does a large segment to t's peer leave whole (the device takes TSO)? */
static bool leaves_whole(struct tn_stack *s, const struct tn_tcb *t)
{
	const struct tn_iface *ifc = out_iface(s, t);
	return ifc && ifc->dev && (ifc->dev->features & TN_DEV_F_TSO);
}

/* The payload as external segments pointing into the send buffer (no
 * copy: the device's iovecs carry them to the kernel).  A large segment
 * for a device that cuts it up itself (TSO) takes one piece per chunk it
 * spans; otherwise one per MSS, or two where an MSS crosses a chunk's
 * end, so GSO cuts it by putting headers in front of each MSS (gso.c;
 * a segment laid out whole that must be cut after all, the route having
 * changed, is cut by copying).  Per MSS, a 64 KiB segment was 45 packet
 * buffers to allocate, put in iovecs and free: 8% of tern's CPU serving
 * 100 KiB replies. */
static int add_payload(struct tn_stack *s, struct tn_tcb *t, struct tn_pkt *head, uint32_t off, uint32_t len)
{
	bool large = len > t->mss;
	uint32_t piece = large && leaves_whole(s, t) ? UINT32_MAX : t->mss;
	if (tn_tcp_sndbuf_chain(s, t, head, off, len, piece) < 0)
		return -1;
	if (large) {
		head->gso_size = (uint16_t)t->mss;
		head->gso_segs = (uint16_t)((len + t->mss - 1) / t->mss);
	}
	return 0;
}

int tn_tcp_xmit_hdr(struct tn_stack *s, struct tn_tcb *t, struct tn_tcp_hdr *h, uint32_t len)
{
	struct tn_pkt *p = tn_pkt_alloc(s->pool);
	if (!p) {
		tn_stat_inc(s, TN_TernExtNoBufs);
		return -ENOBUFS;
	}
	/* ECT(0) on new data only: not on retransmissions, ACKs or SYNs (RFC
	 * 3168 6.1.4-6.1.5); the first new data after a reduction says CWR. */
	bool ect = t->ecn_ok && len && !tn_seq_lt(h->seq, t->snd_max);
	if (ect && t->cwr_pending) {
		t->cwr_pending = false;
		h->flags |= TN_TCP_CWR;
	}
	uint16_t flags = h->flags;
	h->sport = t->lport;
	h->dport = t->rport;
	if (flags & TN_TCP_ACK)
		h->ack = t->rcv_nxt;
	h->win = (flags & TN_TCP_RST) ? 0 : window_field(t, flags & TN_TCP_SYN);
	size_t hl = TN_TCP_HLEN + tn_tcp_opts_len(&h->opt);
	uint32_t copied = len <= TN_TCP_COPYBREAK && len <= t->mss ? len : 0;
	uint8_t *d = tn_pkt_put(p, (uint32_t)hl + copied);
	if (!d) {
		tn_pkt_free(p);
		return -EMSGSIZE;
	}
	tn_tcp_emit(h, d, hl);
	/* The buffer starts after an unacknowledged SYN (Fast Open). */
	uint32_t off = h->seq + !!(flags & TN_TCP_SYN) - t->snd_una - tn_tcp_syn_unacked(t);
	if (copied)
		tn_tcp_sndbuf_copy(t, off, d + hl, copied);
	else if (len && add_payload(s, t, p, off, len) < 0) {
		tn_pkt_free(p);
		tn_stat_inc(s, TN_TernExtNoBufs);
		return -ENOBUFS;
	}
	p->flags |= TN_PKT_CSUM_PARTIAL; /* filled in on the way out, unless the link takes it */
	tn_stat_add(s, TN_TcpOutSegs, TN_PKT_SEGS(p));
	if (flags & TN_TCP_RST)
		tn_stat_inc(s, TN_TcpOutRsts);
	if (flags & TN_TCP_ACK) {
		t->unacked_segs = 0;
		tn_timer_cancel(&s->wheel, &t->delack_timer);
	}
	struct tn_ip_out o = {.src = t->laddr, .dst = t->raddr, .proto = TN_IPPROTO_TCP, .df = 1};
	if (ect)
		o.tos = TN_ECN_ECT0;
	int rc = tn_ip_output(s, p, &o);
	/* A filter dropped it: to TCP a segment lost on the way, retransmitted
	 * in time (as Linux's TCP treats an OUTPUT drop). */
	return rc == -EPERM ? 0 : rc;
}

/* A reset for a segment that has no connection (RFC 9293 3.10.7.1). */
void tn_tcp_send_rst_for(struct tn_stack *s, uint32_t laddr, uint32_t raddr,
			 const struct tn_tcp_hdr *in, uint32_t seglen)
{
	if (in->flags & TN_TCP_RST)
		return;
	struct tn_pkt *p = tn_pkt_alloc(s->pool);
	if (!p)
		return;
	struct tn_tcp_hdr h = {.sport = in->dport, .dport = in->sport};
	if (in->flags & TN_TCP_ACK) {
		h.seq = in->ack;
		h.flags = TN_TCP_RST;
	} else {
		h.ack = in->seq + seglen;
		h.flags = TN_TCP_RST | TN_TCP_ACK;
	}
	uint8_t *d = tn_pkt_put(p, TN_TCP_HLEN);
	tn_tcp_emit(&h, d, TN_TCP_HLEN);
	uint32_t sum = tn_csum_pseudo4(laddr, raddr, TN_IPPROTO_TCP, TN_TCP_HLEN);
	tn_put16(d + 16, tn_csum_fold(tn_csum_partial(d, TN_TCP_HLEN, sum)));
	tn_stat_inc(s, TN_TcpOutSegs);
	tn_stat_inc(s, TN_TcpOutRsts);
	struct tn_ip_out o = {.src = laddr, .dst = raddr, .proto = TN_IPPROTO_TCP};
	tn_ip_output(s, p, &o);
}

void tn_tcp_arm_rtx(struct tn_stack *s, struct tn_tcb *t)
{
	uint64_t rto = t->rto << t->backoff;
	if (rto > TN_TCP_RTO_MAX)
		rto = TN_TCP_RTO_MAX;
	t->rtx_kind = TN_RTX_RTO;
	tn_timer_arm(&s->wheel, &t->rtx_timer, s->now + rto);
}

/* TCP Small Queues (Linux's TSQ, simplified): a connection stops adding
 * to a device queue that is half full and waits on a list the poll loop
 * runs after draining the queues, so one bulk flow cannot overflow the
 * queue (a self-inflicted loss) or starve the others. */
static struct tn_iface *out_iface(struct tn_stack *s, const struct tn_tcb *t)
{
	const struct tn_route *rt = tn_route_lookup(&s->routes, t->raddr);
	return rt ? tn_iface_get(s, rt->ifindex) : NULL;
}

#define TN_TSQ_BYTES (1u << 20) /* as Linux's tcp_limit_output_bytes, but per device queue */

static bool tsq_throttled(struct tn_stack *s, struct tn_tcb *t, const struct tn_iface *ifc)
{
	/* Bytes count too: a queue of large segments is short but deep. */
	if (!ifc || (tn_iface_backlog_pkts(ifc) < ifc->txqueuelen / 2 && tn_iface_backlog_bytes(ifc) < TN_TSQ_BYTES))
		return false;
	if (!t->tsq_queued) {
		t->tsq_queued = true;
		t->tsq_next = s->tcp.tsq_head;
		s->tcp.tsq_head = t;
	}
	return true;
}

unsigned tn_tcp_tsq_run(struct tn_stack *s)
{
	struct tn_tcb *list = s->tcp.tsq_head;
	s->tcp.tsq_head = NULL;
	uint64_t before = s->stats[TN_TcpOutSegs];
	while (list) {
		struct tn_tcb *t = list;
		list = t->tsq_next;
		t->tsq_next = NULL;
		t->tsq_queued = false;
		tn_tcp_output(s, t);
	}
	return (unsigned)(s->stats[TN_TcpOutSegs] - before); /* 0 if the queues are still full */
}

/* ---- pacing (Linux's internal TCP pacing) ---- */

static bool paced(const struct tn_tcb *t)
{
	return t->pacing_rate && (t->cc->wants_pacing || t->max_pacing_rate != UINT64_MAX);
}

/* May a segment leave now?  Else the pacing timer wakes us when it may.
 * Lateness up to one pacing quantum is forgiven, as a burst (pace_sent),
 * so a late wake-up does not cost rate. */
static bool pace_allows(struct tn_stack *s, struct tn_tcb *t)
{
	if (!paced(t) || t->pace_next_ns <= s->now)
		return true;
	if (!tn_timer_pending(&t->pace_timer))
		tn_timer_arm(&s->wheel, &t->pace_timer, t->pace_next_ns);
	return false;
}

/* The burst a paced sender may catch up with after waking late: about
 * 1 ms of data at the pacing rate, at least two segments, at most 64 KiB
 * -- what Linux sends as one TSO/GSO skb (tcp_tso_autosize with
 * sk_pacing_shift 10), so the bursts on the wire match Linux's.  With only
 * one timer tick (100 us) forgiven, a host whose wake-ups run later than
 * that -- tick rounding, timer slack, scheduling on a busy machine -- lost
 * the difference on every segment, so the achieved rate fell short of the
 * pacing rate; BBR's bandwidth filter, fed what pacing achieved, then
 * followed it down (tern BBR at 0.4-0.6x Linux on the shaped path). */
static uint64_t pace_quantum_ns(const struct tn_tcb *t, uint64_t rate)
{
	uint64_t bytes = rate >> 10;
	uint64_t two = 2u * (uint64_t)t->mss;
	if (bytes < two)
		bytes = two;
	if (bytes > 65536)
		bytes = 65536;
	uint64_t ns = bytes * 1000000000ull / rate;
	return ns > TN_TICK_NS ? ns : TN_TICK_NS;
}

static void pace_sent(struct tn_stack *s, struct tn_tcb *t, uint32_t bytes)
{
	if (!paced(t))
		return;
	uint64_t rate = t->pacing_rate < t->max_pacing_rate ? t->pacing_rate : t->max_pacing_rate;
	if (!rate)
		rate = 1;
	/* Payload bytes only: pacing_rate is in payload bytes per second (BBR
	 * sets it from the delivery rate, which counts payload), so charging
	 * the 40 header bytes as well paced 3% below the rate asked for. */
	uint64_t len_ns = (uint64_t)bytes * 1000000000ull / rate;
	uint64_t q = pace_quantum_ns(t, rate);
	uint64_t floor = s->now > q ? s->now - q : 0;
	uint64_t base = t->pace_next_ns > floor ? t->pace_next_ns : floor;
	t->pace_next_ns = base + len_ns;
}

void tn_tcp_pace_fire(void *ctx, struct tn_timer *tm)
{
	struct tn_stack *s = ctx;
	struct tn_tcb *t = container_of(tm, struct tn_tcb, pace_timer);
	tn_tcp_output(s, t);
}

/* ---- sending ---- */

void tn_tcp_retransmit_rec(struct tn_stack *s, struct tn_tcb *t, struct tn_tcp_txrec *r)
{
	bool fin = r->flags & TN_TXREC_FIN;
	uint32_t data = r->end - r->seq - (fin ? 1 : 0);
	uint32_t seq = r->seq;
	do {
		uint32_t seg = data < t->mss ? data : t->mss;
		data -= seg;
		uint16_t flags = TN_TCP_ACK | (fin && !data ? TN_TCP_FIN : 0) |
				 ((r->flags & TN_TXREC_PSH) && !data ? TN_TCP_PSH : 0);
		if (tn_tcp_xmit(s, t, seq, seg, flags) < 0)
			break;
		seq += seg;
	} while (data);
	pace_sent(s, t, r->end - r->seq);
	tn_tcp_note_retransmit(s, t, r);
}

/* New data at SND.NXT: `seg` bytes, one segment or (GSO) several full
 * ones sent as one large segment.  The scoreboard keeps a record per MSS,
 * so SACK and loss marking work on wire segments either way. */
static int send_new(struct tn_stack *s, struct tn_tcb *t, uint32_t seg, bool psh)
{
	uint32_t count = t->txq.count;
	for (uint32_t off = 0; off < seg; off += t->mss) {
		uint32_t end = seg - off > t->mss ? off + t->mss : seg;
		struct tn_tcp_txrec *r = tn_txq_push(s, t, t->snd_nxt + off, t->snd_nxt + end, false);
		if (!r) {
			t->txq.count = count;
			return -1;
		}
		if (psh && end == seg)
			r->flags |= TN_TXREC_PSH;
	}
	if (tn_tcp_xmit(s, t, t->snd_nxt, seg, TN_TCP_ACK | (psh ? TN_TCP_PSH : 0)) < 0) {
		t->txq.count = count; /* not sent after all */
		return -1;
	}
	t->snd_nxt += seg;
	if (tn_seq_gt(t->snd_nxt, t->snd_max))
		t->snd_max = t->snd_nxt;
	t->last_send = s->now;
	t->bytes_sent += seg;
	tn_tcp_note_send(t, seg);
	pace_sent(s, t, seg);
	if (!tn_timer_pending(&t->rtx_timer))
		tn_tcp_arm_rtx(s, t);
	return 0;
}

void tn_tcp_output_probe(struct tn_stack *s, struct tn_tcb *t)
{
	uint32_t unsent = tn_tcp_unsent(t);
	uint32_t wnd_room = t->snd_una + t->snd_wnd - t->snd_max;
	if (tn_seq_lt(t->snd_una + t->snd_wnd, t->snd_max))
		wnd_room = 0;
	uint32_t seg = unsent < t->mss ? unsent : t->mss;
	if (seg && seg <= wnd_room && !tn_tcp_fin_sent(t))
		send_new(s, t, seg, seg == unsent);
}

/* RFC 5681 4.1 as Linux's tcp_cwnd_restart: after an idle spell longer
 * than the RTO the window no longer reflects the path: back towards the
 * initial window, halving once per RTO idle. */
static void restart_after_idle(struct tn_stack *s, struct tn_tcb *t)
{
	if (t->txq.count || !t->last_send || t->cc->cong_control)
		return;
	uint64_t idle = s->now - t->last_send;
	if (t->cc->cwnd_event && idle > 0)
		t->cc->cwnd_event(s, t, TN_CA_EVENT_TX_START);
	if (!s->sysctl.tcp_slow_start_after_idle || idle <= t->rto)
		return;
	uint32_t restart = TN_TCP_IW * (uint32_t)t->mss, cwnd = t->cwnd;
	uint32_t keep = t->cwnd - t->cwnd / 4; /* tcp_current_ssthresh: 3/4 cwnd */
	if (t->ssthresh < keep)
		t->ssthresh = keep;
	if (restart > cwnd)
		restart = cwnd;
	for (uint64_t d = idle - t->rto; d > t->rto && cwnd > restart; d -= t->rto)
		cwnd >>= 1;
	t->cwnd = cwnd > restart ? cwnd : restart;
	if (t->cc->cwnd_event)
		t->cc->cwnd_event(s, t, TN_CA_EVENT_CWND_RESTART);
}

/* How much goes as one large segment (GSO) when a full one may go: the
 * full segments the data and both windows allow, up to 64 KiB and to about
 * a millisecond at the pacing rate, but at least two (Linux's
 * tcp_tso_autosize with tcp_min_tso_segs 2), so pacing stays smooth. */
static uint32_t large_segment(const struct tn_tcb *t, const struct tn_iface *ifc, uint32_t unsent,
			      uint32_t cwnd_room, uint32_t wnd_room)
{
	if (!ifc || !ifc->gso)
		return t->mss;
	uint32_t room = unsent < cwnd_room ? unsent : cwnd_room;
	if (room > wnd_room)
		room = wnd_room;
	uint32_t n = room / t->mss;
	uint32_t max = (TN_GSO_MAX_BYTES - 20 - TN_TCP_MAX_HLEN) / t->mss;
	/* A device gathers a frame from at most 64 iovecs (tap, af_packet):
	 * leave room for the virtio-net header, the header buffer and the
	 * extra piece of each MSS that crosses a send-buffer chunk's end (at
	 * most five in 64 KiB: chunks double from 4 KiB). */
	if (max > TN_GSO_MAX_SEGS - 8)
		max = TN_GSO_MAX_SEGS - 8;
	if (t->pacing_rate) {
		uint64_t rate = t->pacing_rate < t->max_pacing_rate ? t->pacing_rate : t->max_pacing_rate;
		uint64_t goal = (rate >> 10) / t->mss; /* 2^-10 s: Linux's sk_pacing_shift */
		if (goal < 2)
			goal = 2;
		if (goal < max)
			max = (uint32_t)goal;
	}
	if (n > max)
		n = max;
	return n > 1 ? n * t->mss : t->mss;
}

/* Lost segments first (RFC 6675 NextSeg rule 1), within cwnd and pacing. */
static bool send_lost(struct tn_stack *s, struct tn_tcb *t)
{
	if (t->frto_new)
		return false;
	struct tn_tcp_txrec *r = tn_tcp_next_lost(t);
	if (!r)
		return false;
	uint32_t pipe = tn_tcp_in_flight(t), len = r->end - r->seq;
	uint32_t need = len < t->mss ? len : t->mss;
	if (pipe + need > t->cwnd && pipe > 0) {
		t->cwnd_limited = true;
		return false;
	}
	/* Beyond the peer's window only the first unacknowledged byte may go
	 * (Linux's tcp_retransmit_skb). */
	if (r->seq != t->snd_una && tn_seq_gt(r->end, t->snd_una + t->snd_wnd))
		return false;
	tn_tcp_retransmit_rec(s, t, r);
	return true;
}

/* Send what the windows allow: lost data again, then new data in
 * MSS-sized segments (Nagle holds a small segment while data is
 * unacknowledged, unless TCP_NODELAY), then our FIN once all data is out. */
void tn_tcp_output(struct tn_stack *s, struct tn_tcb *t)
{
	if (t->state != TN_TCP_ESTABLISHED && t->state != TN_TCP_CLOSE_WAIT &&
	    t->state != TN_TCP_FIN_WAIT_1 && t->state != TN_TCP_LAST_ACK && t->state != TN_TCP_CLOSING &&
	    !tn_tcp_fastopen_child(t)) /* a TFO child sends before the final ACK */
		return;
	struct tn_iface *ifc = out_iface(s, t);
	restart_after_idle(s, t);
	uint32_t start_max = t->snd_max;
	for (;;) {
		if (tsq_throttled(s, t, ifc) || !pace_allows(s, t))
			break;
		if (send_lost(s, t))
			continue;
		if (t->lost_out > t->retrans_out && !t->frto_new)
			break; /* a hole waits for room; new data must not pass it */
		uint32_t pipe = tn_tcp_in_flight(t), unsent = tn_tcp_unsent(t);
		uint32_t sent = t->snd_max - t->snd_una - tn_tcp_syn_unacked(t); /* a TFO child's SYN-ACK is no data */
		uint32_t cwnd_room = t->cwnd > pipe ? t->cwnd - pipe : 0;
		uint32_t wnd_room = t->snd_wnd > sent ? t->snd_wnd - sent : 0;
		uint32_t seg = unsent < t->mss ? unsent : t->mss;
		if (seg == 0) {
			tn_tcp_check_app_limited(t);
			t->cwnd_limited = false;
			break;
		}
		if (seg > cwnd_room) {
			t->cwnd_limited = true;
			seg = cwnd_room;
		}
		if (seg > wnd_room)
			seg = wnd_room;
		if (seg == 0)
			break;
		/* A window-limited runt waits while data is in flight (an ACK will
		 * open the window); with nothing in flight it goes, as Linux does,
		 * since no ACK is coming to wake us. */
		if (seg < t->mss && seg < unsent && sent > 0)
			break;
		if (seg < t->mss && sent > 0 && !t->nodelay && !t->fin_queued)
			break; /* Nagle */
		if (seg < t->mss && t->cork && !t->fin_queued)
			break; /* TCP_CORK: only full segments until uncorked */
		if (seg == t->mss)
			seg = large_segment(t, ifc, unsent, cwnd_room, wnd_room);
		if (send_new(s, t, seg, seg == unsent) < 0)
			break;
		t->frto_new = false;
	}
	/* New data out: the tail may now be probed for (Linux's tcp_write_xmit
	 * schedules the probe after each send). */
	if (t->snd_max != start_max && t->rtx_kind == TN_RTX_RTO)
		tn_tcp_schedule_tlp(s, t);
	/* Zero window with data waiting and nothing in flight: the persist
	 * timer probes, so a lost window update cannot stall us for ever. */
	if (t->snd_wnd == 0 && tn_tcp_unsent(t) && t->snd_una == t->snd_max &&
	    !tn_timer_pending(&t->rtx_timer)) {
		tn_tcp_arm_rtx(s, t);
		t->rtx_kind = TN_RTX_PERSIST;
	}
	bool fin_state = t->state == TN_TCP_FIN_WAIT_1 || t->state == TN_TCP_LAST_ACK ||
			 t->state == TN_TCP_CLOSING;
	if (t->fin_queued && tn_tcp_unsent(t) == 0 && !tn_tcp_fin_sent(t) && fin_state &&
	    tn_txq_push(s, t, t->snd_nxt, t->snd_nxt + 1, true)) {
		tn_tcp_xmit(s, t, t->snd_nxt, 0, TN_TCP_FIN | TN_TCP_ACK);
		t->fin_sent = true;
		t->fin_seq = t->snd_nxt;
		t->snd_nxt++;
		t->snd_max = t->snd_nxt;
		if (!tn_timer_pending(&t->rtx_timer) || t->rtx_kind == TN_RTX_PERSIST)
			tn_tcp_arm_rtx(s, t);
	}
}

/* A pure ACK carries SND.MAX, not SND.NXT: after a timeout pulls SND.NXT
 * back, an ACK numbered below what the peer already received would be
 * outside its window and dropped with the acknowledgment it carries (two
 * sides both recovering would then deadlock).  Linux's tcp_acceptable_seq
 * makes the same choice. */
void tn_tcp_send_ack(struct tn_stack *s, struct tn_tcb *t)
{
	tn_tcp_xmit(s, t, t->snd_max, 0, TN_TCP_ACK);
}

/* Delayed ACK (RFC 1122 4.2.3.2, Linux's __tcp_ack_snd_check): ACK at
 * once in quick-ACK mode or when more than one full segment is unacked,
 * otherwise within the delayed-ACK timeout (ato, 40..200 ms). */
void tn_tcp_ack_soon(struct tn_stack *s, struct tn_tcb *t, bool now)
{
	if (now || t->quick_acks || t->rcv_nxt - t->rcv_wup > t->rcv_mss) {
		if (t->quick_acks)
			t->quick_acks--;
		tn_tcp_send_ack(s, t);
		return;
	}
	if (!tn_timer_pending(&t->delack_timer))
		tn_timer_arm(&s->wheel, &t->delack_timer, s->now + (uint64_t)t->ato_ms * TN_TCP_MS);
}

void tn_tcp_delack_fire(void *ctx, struct tn_timer *tm)
{
	struct tn_stack *s = ctx;
	struct tn_tcb *t = container_of(tm, struct tn_tcb, delack_timer);
	/* The timer ran out: the peer is slower than we guessed (Linux
	 * doubles ato, bounded by the RTO and TCP_DELACK_MAX). */
	uint32_t rto_ms = (uint32_t)(t->rto / TN_TCP_MS), ato = t->ato_ms * 2u;
	if (ato > rto_ms)
		ato = rto_ms;
	t->ato_ms = (uint16_t)(ato > TN_TCP_DELACK_MAX_MS ? TN_TCP_DELACK_MAX_MS : ato < TN_TCP_ATO_MIN_MS ? TN_TCP_ATO_MIN_MS : ato);
	tn_tcp_send_ack(s, t);
}

/* Linux's tcp_probe_timer: a peer that answers no window probe is given
 * up after tcp_retries2 of them, an orphan after tcp_orphan_retries (0
 * meaning 8), and an orphan whose backoff reached the maximum RTO at once
 * -- else a closed socket facing a zero window would live for ever. */
static bool persist_gives_up(struct tn_stack *s, struct tn_tcb *t)
{
	int max_probes = s->sysctl.tcp_retries2;
	if (t->orphan) {
		bool alive = (t->rto << t->backoff) < TN_TCP_RTO_MAX;
		max_probes = s->sysctl.tcp_orphan_retries;
		if (max_probes == 0 && alive)
			max_probes = 8;
		if (!alive && t->backoff >= max_probes)
			return true;
	}
	return t->probes_out >= max_probes;
}

/* RFC 6298 5.4-5.6: everything outstanding is presumed lost; resend
 * from SND.UNA in slow start, backing the timer off. */
static void retransmit_timeout(struct tn_stack *s, struct tn_tcb *t)
{
	tn_stat_inc(s, TN_TcpExtTCPTimeouts);
	if (!t->first_rtx_at)
		t->first_rtx_at = s->now;
	if (s->now - t->first_rtx_at > tn_tcp_retries_budget(s)) {
		tn_tcp_abort(s, t, ETIMEDOUT);
		return;
	}
	tn_tcp_enter_loss(s, t);
	t->rtt_start = 0;
	if (t->backoff < 16)
		t->backoff++;
	t->pace_next_ns = 0;
	tn_tcp_output(s, t);
	tn_tcp_arm_rtx(s, t);
}

void tn_tcp_rtx_fire(void *ctx, struct tn_timer *tm)
{
	struct tn_stack *s = ctx;
	struct tn_tcb *t = container_of(tm, struct tn_tcb, rtx_timer);
	switch (t->state) {
	case TN_TCP_TIME_WAIT:
		tn_tcp_destroy_tcb(s, t);
		return;
	case TN_TCP_SYN_SENT:
		if (++t->syn_retries > s->sysctl.tcp_syn_retries) {
			tn_tcp_abort(s, t, ETIMEDOUT);
			return;
		}
		t->backoff++;
		tn_stat_inc(s, TN_TcpRetransSegs);
		tn_tcp_fastopen_syn_timeout(s, t); /* resent without data or cookie */
		tn_tcp_xmit(s, t, t->iss, 0, TN_TCP_SYN);
		tn_tcp_arm_rtx(s, t);
		return;
	case TN_TCP_SYN_RECEIVED:
		if (++t->syn_retries > s->sysctl.tcp_synack_retries) {
			tn_tcp_abort(s, t, ETIMEDOUT);
			return;
		}
		t->backoff++;
		tn_stat_inc(s, TN_TcpRetransSegs);
		tn_tcp_xmit(s, t, t->iss, 0, TN_TCP_SYN | TN_TCP_ACK);
		tn_tcp_arm_rtx(s, t);
		return;
	case TN_TCP_FIN_WAIT_2: /* an orphan waited tcp_fin_timeout for the peer's FIN */
		tn_tcp_destroy_tcb(s, t);
		return;
	default:
		if (t->rtx_kind == TN_RTX_TLP) {
			tn_tcp_tlp_fire(s, t);
			return;
		}
		if (t->rtx_kind == TN_RTX_REO) {
			tn_tcp_reo_fire(s, t);
			return;
		}
		if (t->snd_una == t->snd_max) {
			if (t->snd_wnd == 0 && t->snd.len) { /* zero-window probe: an old byte's sequence */
				if (persist_gives_up(s, t)) {
					tn_tcp_abort(s, t, ETIMEDOUT);
					return;
				}
				t->probes_out++;
				tn_stat_inc(s, TN_TcpExtTCPWinProbe);
				tn_tcp_xmit(s, t, t->snd_una - 1, 0, TN_TCP_ACK);
				if (t->backoff < 16)
					t->backoff++;
				tn_tcp_arm_rtx(s, t);
				t->rtx_kind = TN_RTX_PERSIST;
			}
			return;
		}
		retransmit_timeout(s, t);
	}
}
