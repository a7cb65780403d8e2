/* Sender-side loss recovery: the record of segments in flight, the SACK
 * scoreboard (RFC 2018, RFC 6675), RACK-TLP loss detection (RFC 8985),
 * Proportional Rate Reduction (RFC 6937), undo of spurious reductions
 * (D-SACK, RFC 2883; timestamps, RFC 3522; F-RTO, RFC 5682), and the
 * delivery-rate estimate congestion control reads
 * (draft-cheng-iccrg-delivery-rate-estimation).
 *
 * The structure follows Linux's tcp_input.c, tcp_recovery.c and
 * tcp_rate.c, so the counters and states mean what they mean there; the
 * unit is the byte, not the packet. */
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "tcp/tcp_cc.h"
#include "tcp/tcp_int.h"

#define TLP_MIN_NS (10 * TN_TCP_MS)
#define WC_DELACK_NS (200 * TN_TCP_MS) /* RFC 8985's WCDelAckT */

/* ---- the record queue ---- */

struct tn_tcp_txrec *tn_txq_at(const struct tn_tcb *t, uint32_t i)
{
	return &t->txq.r[(t->txq.head + i) & (t->txq.cap - 1)];
}

static uint32_t rec_len(const struct tn_tcp_txrec *r) { return r->end - r->seq; }

static bool txq_grow(struct tn_tcb *t)
{
	uint32_t cap = t->txq.cap ? t->txq.cap * 2 : 8;
	struct tn_tcp_txrec *r = malloc(cap * sizeof(*r));
	if (!r)
		return false;
	for (uint32_t i = 0; i < t->txq.count; i++)
		r[i] = *tn_txq_at(t, i);
	free(t->txq.r);
	t->txq.r = r;
	t->txq.cap = cap;
	t->txq.head = 0;
	return true;
}

void tn_txq_free(struct tn_tcb *t)
{
	free(t->txq.r);
	memset(&t->txq, 0, sizeof(t->txq));
	t->sacked_out = t->lost_out = t->retrans_out = 0;
}

/* Stamp a record with the connection's delivery state as it leaves
 * (tcp_rate_skb_sent). */
static void rate_on_send(struct tn_stack *s, struct tn_tcb *t, struct tn_tcp_txrec *r)
{
	if (t->txq.count == 1 && r == tn_txq_at(t, 0) && !(r->flags & TN_TXREC_EVER_RETRANS)) {
		/* nothing else in flight: a new sending interval starts */
		t->first_tx_ns = s->now;
		t->delivered_ns = s->now;
	}
	r->xmit_ns = s->now;
	r->first_tx_ns = t->first_tx_ns;
	r->delivered_ns = t->delivered_ns;
	r->delivered = t->delivered;
	if (t->app_limited)
		r->flags |= TN_TXREC_APP_LIMITED;
	else
		r->flags &= (uint8_t)~TN_TXREC_APP_LIMITED;
}

struct tn_tcp_txrec *tn_txq_push(struct tn_stack *s, struct tn_tcb *t, uint32_t seq, uint32_t end, bool fin)
{
	if (t->txq.count == t->txq.cap && !txq_grow(t))
		return NULL;
	struct tn_tcp_txrec *r = tn_txq_at(t, t->txq.count++);
	memset(r, 0, sizeof(*r));
	r->seq = seq;
	r->end = end;
	r->flags = fin ? TN_TXREC_FIN : 0;
	rate_on_send(s, t, r);
	return r;
}

/* Index of the first record ending after seq (records are contiguous and
 * sorted by sequence). */
static uint32_t txq_find(const struct tn_tcb *t, uint32_t seq)
{
	uint32_t lo = 0, hi = t->txq.count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (tn_seq_le(tn_txq_at(t, mid)->end, seq))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- marks ---- */

static void mark_lost(struct tn_stack *s, struct tn_tcb *t, struct tn_tcp_txrec *r)
{
	uint32_t len = rec_len(r);
	if (r->flags & TN_TXREC_RETRANS) { /* the retransmission was lost too */
		r->flags &= (uint8_t)~TN_TXREC_RETRANS;
		t->retrans_out -= len;
		tn_stat_inc(s, TN_TcpExtTCPLostRetransmit);
	}
	if (!(r->flags & TN_TXREC_LOST)) {
		r->flags |= TN_TXREC_LOST;
		t->lost_out += len;
	}
	if (tn_seq_lt(r->seq, t->rtx_hint))
		t->rtx_hint = r->seq;
}

static void clear_marks(struct tn_tcb *t, struct tn_tcp_txrec *r)
{
	uint32_t len = rec_len(r);
	if (r->flags & TN_TXREC_SACKED)
		t->sacked_out -= len;
	if (r->flags & TN_TXREC_LOST)
		t->lost_out -= len;
	if (r->flags & TN_TXREC_RETRANS)
		t->retrans_out -= len;
	r->flags &= (uint8_t)~(TN_TXREC_SACKED | TN_TXREC_LOST | TN_TXREC_RETRANS);
}

/* ---- per-ACK state ---- */

struct ack_state {
	struct tn_rate_sample rs;
	uint64_t prior_ns, send_elapsed;
	uint32_t prior_end;          /* end of the newest delivered record */
	bool have_prior;
	uint32_t acked, sacked;      /* bytes newly acked, newly SACKed */
	uint32_t prior_snd_una, prior_high_sacked;
	uint64_t oldest_rtt_ns;      /* RTT of the oldest acked record (for the RTO) */
	bool rtt_ok;                 /* no retransmitted record was acked: samples usable */
	bool orig_delivered;         /* never-retransmitted data from before recovery got through */
	bool reordered;
	bool dsack, dsack_tlp;
	uint32_t newly_lost;
};

static bool sent_after(uint64_t t1, uint32_t seq1, uint64_t t2, uint32_t seq2)
{
	return t1 > t2 || (t1 == t2 && tn_seq_gt(seq1, seq2));
}

/* The record reached the peer (tcp_rate_skb_delivered): the newest such
 * record's stamps define this ACK's rate sample. */
static void rate_delivered(struct tn_tcb *t, struct tn_tcp_txrec *r, struct ack_state *st)
{
	if (!r->delivered_ns && !r->xmit_ns)
		return;
	if (!st->have_prior || sent_after(r->xmit_ns, r->end, t->first_tx_ns, st->prior_end)) {
		st->have_prior = true;
		st->rs.prior_delivered = r->delivered;
		st->prior_ns = r->delivered_ns;
		st->rs.is_app_limited = r->flags & TN_TXREC_APP_LIMITED;
		st->send_elapsed = r->xmit_ns - r->first_tx_ns;
		st->prior_end = r->end;
		t->first_tx_ns = r->xmit_ns;
	}
}

/* RFC 8985 6.2 step 2: the most recently sent segment known delivered. */
static void rack_update(struct tn_stack *s, struct tn_tcb *t, const struct tn_tcp_txrec *r)
{
	uint64_t rtt = s->now - r->xmit_ns;
	/* An ACK for a retransmitted segment faster than the minimum RTT is
	 * the original's: it says nothing about the retransmission. */
	if ((r->flags & TN_TXREC_EVER_RETRANS) && t->min_rtt && rtt < t->min_rtt)
		return;
	t->rack_rtt = rtt;
	if (sent_after(r->xmit_ns, r->end, t->rack_xmit_ns, t->rack_end_seq)) {
		t->rack_xmit_ns = r->xmit_ns;
		t->rack_end_seq = r->end;
	}
}

static void delivered(struct tn_stack *s, struct tn_tcb *t, struct tn_tcp_txrec *r, struct ack_state *st)
{
	t->delivered += rec_len(r);
	t->delivered_ns = s->now;
	rate_delivered(t, r, st);
	rack_update(s, t, r);
	if (!(r->flags & TN_TXREC_EVER_RETRANS)) {
		if (tn_seq_le(r->end, t->recover)) /* F-RTO: sent before the timeout */
			st->orig_delivered = true;
		if (tn_seq_lt(r->end, st->prior_high_sacked))
			st->reordered = true;
	}
}

/* ---- cumulative ACK ---- */

static void clean_txq(struct tn_stack *s, struct tn_tcb *t, uint32_t ack, struct ack_state *st)
{
	uint64_t newest_ns = 0;
	bool any = false;
	while (t->txq.count) {
		struct tn_tcp_txrec *r = tn_txq_at(t, 0);
		if (tn_seq_le(r->end, ack)) {
			if (r->flags & TN_TXREC_EVER_RETRANS)
				st->rtt_ok = false;
			else if (!(r->flags & TN_TXREC_SACKED)) {
				if (!any)
					st->oldest_rtt_ns = s->now - r->xmit_ns;
				newest_ns = r->xmit_ns;
				any = true;
			}
			if (!(r->flags & TN_TXREC_SACKED))
				delivered(s, t, r, st);
			clear_marks(t, r);
			t->txq.head = (t->txq.head + 1) & (t->txq.cap - 1);
			t->txq.count--;
			continue;
		}
		if (tn_seq_lt(r->seq, ack)) { /* partly acknowledged: trim the front */
			uint32_t cut = ack - r->seq;
			if (r->flags & TN_TXREC_LOST)
				t->lost_out -= cut;
			if (r->flags & TN_TXREC_RETRANS)
				t->retrans_out -= cut;
			if (r->flags & TN_TXREC_SACKED)
				t->sacked_out -= cut;
			else
				t->delivered += cut;
			r->seq = ack;
		}
		break;
	}
	if (!t->txq.count && t->txq.cap) { /* an idle connection gives the ring back (C10M: 384 B each) */
		free(t->txq.r);
		memset(&t->txq, 0, sizeof(t->txq));
	}
	if (any && st->rtt_ok)
		st->rs.rtt_ns = s->now - newest_ns;
}

/* ---- SACK blocks ---- */

static void sack_dsack(struct tn_stack *s, struct tn_tcb *t, const struct tn_tcp_sack_block *b, struct ack_state *st)
{
	st->dsack = true;
	t->dsack_dups++;
	tn_stat_inc(s, TN_TcpExtTCPDSACKRecv);
	/* RACK (RFC 8985 6.2 step 4): reordering shown by D-SACK widens the
	 * reordering window, at most once per round trip. */
	if (tn_seq_ge(st->prior_snd_una, t->reo_round_seq)) {
		if (t->reo_wnd_mult < 255)
			t->reo_wnd_mult++;
		t->reo_round_seq = t->snd_max;
	}
	t->reo_wnd_persist = 16;
	t->reord_seen = true;
	if (t->undo_valid && tn_seq_ge(b->start, t->undo_marker) && tn_seq_le(b->end, t->snd_max))
		t->undo_retrans--;
	if (t->tlp_out && t->tlp_retrans && b->end == t->tlp_high_seq)
		st->dsack_tlp = true;
}

static void sack_block(struct tn_stack *s, struct tn_tcb *t, uint32_t start, uint32_t end, struct ack_state *st)
{
	if (tn_seq_lt(start, t->snd_una))
		start = t->snd_una;
	for (uint32_t i = txq_find(t, start); i < t->txq.count; i++) {
		struct tn_tcp_txrec *r = tn_txq_at(t, i);
		if (tn_seq_gt(r->end, end))
			break;
		if (tn_seq_lt(r->seq, start) || (r->flags & TN_TXREC_SACKED))
			continue; /* only whole records count: they are what we sent */
		uint32_t len = rec_len(r);
		delivered(s, t, r, st);
		clear_marks(t, r);
		r->flags |= TN_TXREC_SACKED;
		t->sacked_out += len;
		st->sacked += len;
		if (tn_seq_gt(r->end, t->high_sacked))
			t->high_sacked = r->end;
	}
}

static void sack_input(struct tn_stack *s, struct tn_tcb *t, const struct tn_tcp_opts *o, uint32_t ack,
		       struct ack_state *st)
{
	for (unsigned i = 0; i < o->nsack && i < TN_TCP_MAX_SACK; i++) {
		const struct tn_tcp_sack_block *b = &o->sack[i];
		/* RFC 2883 4: the first block is a D-SACK if it lies below the
		 * cumulative ACK or inside the second block. */
		bool dsack = i == 0 && (tn_seq_le(b->end, ack) ||
					(o->nsack > 1 && tn_seq_ge(b->start, o->sack[1].start) &&
					 tn_seq_le(b->end, o->sack[1].end)));
		bool valid = tn_seq_lt(b->start, b->end) && tn_seq_le(b->end, t->snd_max) &&
			     tn_seq_ge(b->start, t->snd_una - t->max_snd_wnd);
		if (!valid) {
			tn_stat_inc(s, TN_TcpExtTCPSACKDiscard);
			continue;
		}
		if (dsack) {
			sack_dsack(s, t, b, st);
			continue;
		}
		if (tn_seq_gt(b->end, ack))
			sack_block(s, t, b->start, b->end, st);
	}
}

/* ---- RACK (RFC 8985 6.2) ---- */

static uint64_t rack_reo_wnd(const struct tn_stack *s, const struct tn_tcb *t)
{
	if (!t->reord_seen) {
		/* No reordering seen: in recovery, or with DupThresh SACKed
		 * segments, a hole is a loss at once (RFC 8985 6.2 step 4). */
		if (t->ca_state >= TN_CA_RECOVERY)
			return 0;
		if (t->sacked_out >= (uint32_t)s->sysctl.tcp_reordering * t->mss)
			return 0;
	}
	uint64_t w = t->min_rtt / 4 * (t->reo_wnd_mult ? t->reo_wnd_mult : 1);
	return t->srtt && w > t->srtt ? t->srtt : w;
}

/* Mark lost every segment sent before the most recently delivered one by
 * more than the reordering window; returns the time (ns from now) when
 * the next undecided one should be checked again, 0 if none. */
static uint64_t rack_detect_loss(struct tn_stack *s, struct tn_tcb *t, uint32_t *newly_lost)
{
	if (!t->rack_xmit_ns)
		return 0;
	uint64_t reo_wnd = rack_reo_wnd(s, t), wait = 0;
	for (uint32_t i = 0; i < t->txq.count; i++) {
		struct tn_tcp_txrec *r = tn_txq_at(t, i);
		if (r->flags & TN_TXREC_SACKED)
			continue;
		if ((r->flags & TN_TXREC_LOST) && !(r->flags & TN_TXREC_RETRANS))
			continue; /* already waiting to be resent */
		if (!sent_after(t->rack_xmit_ns, t->rack_end_seq, r->xmit_ns, r->end)) {
			if (!(r->flags & TN_TXREC_EVER_RETRANS))
				break; /* every later original was sent later still */
			continue;
		}
		uint64_t deadline = t->rack_rtt + reo_wnd, elapsed = s->now - r->xmit_ns;
		if (elapsed >= deadline) {
			*newly_lost += rec_len(r);
			mark_lost(s, t, r);
		} else if (deadline - elapsed > wait) {
			wait = deadline - elapsed;
		}
	}
	return wait;
}

/* RFC 6675 IsLost (tcp_recovery without RACK): a hole with DupThresh
 * segments' worth of SACKed data above it. */
static void dupthresh_detect_loss(struct tn_stack *s, struct tn_tcb *t, uint32_t *newly_lost)
{
	uint32_t above = 0, thresh = (uint32_t)s->sysctl.tcp_reordering * t->mss;
	for (uint32_t i = t->txq.count; i-- > 0;) {
		struct tn_tcp_txrec *r = tn_txq_at(t, i);
		if (r->flags & TN_TXREC_SACKED)
			above += rec_len(r);
		else if (above >= thresh && !(r->flags & TN_TXREC_LOST)) {
			*newly_lost += rec_len(r);
			mark_lost(s, t, r);
		}
	}
}

/* ---- windows: PRR and episodes ---- */

static void set_ca_state(struct tn_stack *s, struct tn_tcb *t, uint8_t state)
{
	if (t->cc->set_state)
		t->cc->set_state(s, t, state);
	t->ca_state = state;
}

/* Linux's tcp_init_cwnd_reduction: the algorithm's ssthresh, and PRR
 * counting from here (RFC 6937: RecoverFS = SND.NXT - SND.UNA). */
static void init_cwnd_reduction(struct tn_stack *s, struct tn_tcb *t)
{
	t->ssthresh = t->cc->ssthresh(s, t);
	t->prr_delivered = 0;
	t->prr_out = 0;
	t->recover_fs = t->snd_max - t->snd_una;
	if (!t->recover_fs)
		t->recover_fs = 1;
}

/* A new episode: remember the window to restore if it proves spurious. */
static void init_undo(struct tn_tcb *t)
{
	t->undo_valid = true;
	t->undo_marker = t->snd_una;
	t->undo_retrans = 0;
	t->retrans_stamp = 0;
	t->prior_cwnd = t->cwnd;
	t->prior_ssthresh = t->ssthresh;
}

static void enter_recovery(struct tn_stack *s, struct tn_tcb *t)
{
	tn_stat_inc(s, t->sack_ok ? TN_TcpExtTCPSackRecovery : TN_TcpExtTCPRenoRecovery);
	if (t->ca_state < TN_CA_CWR)
		init_undo(t);
	if (t->ca_state != TN_CA_CWR)
		init_cwnd_reduction(s, t);
	t->recover = t->snd_max;
	t->tlp_out = false;
	set_ca_state(s, t, TN_CA_RECOVERY);
}

/* Linux's tcp_end_cwnd_reduction. */
static void end_reduction(struct tn_stack *s, struct tn_tcb *t)
{
	if (!t->cc->cong_control && t->ssthresh < t->cwnd)
		t->cwnd = t->ssthresh;
	t->cwnd_cnt = 0;
	if (t->cc->cwnd_event)
		t->cc->cwnd_event(s, t, TN_CA_EVENT_COMPLETE_CWR);
}

/* RFC 6937 PRR with slow-start reduction bound: send in proportion to
 * what was delivered while the pipe is above ssthresh, then regrow to it
 * no faster than slow start. */
static void prr_update(struct tn_tcb *t, uint32_t delivered_bytes, uint32_t newly_lost)
{
	if (!delivered_bytes && !newly_lost)
		return;
	t->prr_delivered += delivered_bytes;
	uint32_t pipe = tn_tcp_in_flight(t);
	int64_t sndcnt;
	if (pipe > t->ssthresh) {
		/* in whole segments, rounded up, as the RFC counts them */
		uint64_t unit = (uint64_t)t->recover_fs * t->mss;
		uint64_t share = ((uint64_t)t->prr_delivered * t->ssthresh + unit - 1) / unit * t->mss;
		sndcnt = (int64_t)share - t->prr_out;
	} else {
		int64_t limit = (int64_t)t->prr_delivered - t->prr_out;
		if (limit < delivered_bytes)
			limit = delivered_bytes;
		limit += t->mss;
		sndcnt = (int64_t)(t->ssthresh - pipe);
		if (sndcnt > limit)
			sndcnt = limit;
	}
	if (sndcnt < 0)
		sndcnt = 0;
	if (!t->prr_out && sndcnt < t->mss) /* the fast retransmit goes at once */
		sndcnt = t->mss;
	t->cwnd = pipe + (uint32_t)sndcnt;
}

uint32_t tn_tcp_prr_sndcnt_for_test(struct tn_tcb *t, uint32_t delivered_bytes)
{
	prr_update(t, delivered_bytes, 0);
	return t->cwnd - tn_tcp_in_flight(t);
}

static void undo(struct tn_stack *s, struct tn_tcb *t, int counter)
{
	t->cwnd = t->cc->undo_cwnd ? t->cc->undo_cwnd(s, t) : tn_tcp_reno_undo_cwnd(s, t);
	if (t->prior_ssthresh > t->ssthresh)
		t->ssthresh = t->prior_ssthresh;
	for (uint32_t i = 0; i < t->txq.count; i++) /* nothing was lost after all */
		tn_txq_at(t, i)->flags &= (uint8_t)~TN_TXREC_LOST;
	t->lost_out = 0;
	t->undo_valid = false;
	t->frto = false;
	t->backoff = 0;
	tn_stat_inc(s, counter);
	set_ca_state(s, t, TN_CA_OPEN);
}

/* RFC 3522 (Eifel detection): the ACK echoes a timestamp from before our
 * first retransmission, so the original got through. */
static bool packet_delayed(const struct tn_tcb *t, const struct tn_tcp_seg *g)
{
	return t->retrans_stamp && t->ts_ok && g->h.opt.has_ts && g->h.opt.tsecr &&
	       tn_seq_lt(g->h.opt.tsecr, t->retrans_stamp);
}

static bool may_undo(const struct tn_tcb *t, const struct tn_tcp_seg *g)
{
	return t->undo_valid && (t->undo_retrans <= 0 || packet_delayed(t, g));
}

/* ---- the state machine (Linux's tcp_fastretrans_alert, reduced) ---- */

static void reno_dupack(struct tn_tcb *t)
{
	/* No SACK: each duplicate ACK stands for one segment that left the
	 * network (RFC 6675's pipe without a scoreboard, Linux's reno sacks). */
	uint32_t out = t->snd_max - t->snd_una;
	t->sacked_out = t->sacked_out + t->mss < out ? t->sacked_out + t->mss : (out > t->mss ? out - t->mss : 0);
}

static void mark_head_lost(struct tn_stack *s, struct tn_tcb *t, struct ack_state *st)
{
	if (!t->txq.count)
		return;
	struct tn_tcp_txrec *r = tn_txq_at(t, 0);
	if ((r->flags & TN_TXREC_LOST) && !(r->flags & TN_TXREC_RETRANS))
		return;
	if (!(r->flags & TN_TXREC_LOST))
		st->newly_lost += rec_len(r);
	mark_lost(s, t, r);
}

static void process_loss_state(struct tn_stack *s, struct tn_tcb *t, const struct tn_tcp_seg *g, struct ack_state *st)
{
	bool recovered = tn_seq_ge(t->snd_una, t->recover);
	if (st->acked && may_undo(t, g)) {
		undo(s, t, TN_TcpExtTCPLossUndo);
		return;
	}
	if (t->frto) { /* RFC 5682 3.1, SACK-enhanced */
		if (st->orig_delivered && t->undo_valid) { /* step 3.b: originals arrived */
			undo(s, t, TN_TcpExtTCPSpuriousRTOs);
			return;
		}
		if (tn_seq_gt(t->snd_max, t->recover)) {
			if (st->sacked || t->dupacks)
				t->frto = false; /* step 3.a: the loss was real */
		} else if (st->acked && !recovered) {
			/* step 2.b: send new data, not retransmissions, and see
			 * what the next ACK says */
			t->recover = t->snd_max;
			if (tn_tcp_unsent(t) && tn_seq_gt(t->snd_una + t->snd_wnd, t->snd_max)) {
				t->frto_new = true;
				return;
			}
			t->frto = false;
		}
	}
	if (recovered) {
		t->frto = false;
		if (may_undo(t, g))
			undo(s, t, TN_TcpExtTCPLossUndo);
		else
			set_ca_state(s, t, TN_CA_OPEN);
		return;
	}
	if (!t->sack_ok && st->acked)
		mark_head_lost(s, t, st); /* NewReno: the next hole */
}

static void process_recovery_state(struct tn_stack *s, struct tn_tcb *t, const struct tn_tcp_seg *g,
				   struct ack_state *st)
{
	if (tn_seq_ge(t->snd_una, t->recover)) {
		if (may_undo(t, g)) {
			undo(s, t, t->undo_retrans <= 0 ? TN_TcpExtTCPDSACKUndo : TN_TcpExtTCPFullUndo);
			return;
		}
		end_reduction(s, t);
		if (t->reo_wnd_persist && --t->reo_wnd_persist == 0)
			t->reo_wnd_mult = 1;
		set_ca_state(s, t, TN_CA_OPEN);
		return;
	}
	if (!t->sack_ok && st->acked) /* RFC 6582: a partial ACK resends the next hole */
		mark_head_lost(s, t, st);
}

static void process_open_state(struct tn_stack *s, struct tn_tcb *t, struct ack_state *st)
{
	/* held until data beyond the reduction point is acknowledged, so our CWR
	 * reached the peer (Linux: snd_una != high_seq) */
	if (t->ca_state == TN_CA_CWR && tn_seq_gt(t->snd_una, t->recover)) {
		end_reduction(s, t);
		set_ca_state(s, t, TN_CA_OPEN);
	}
	if (t->undo_valid && t->undo_retrans <= 0 && st->dsack && t->ca_state < TN_CA_CWR) {
		undo(s, t, TN_TcpExtTCPDSACKUndo); /* every retransmission proved needless */
		return;
	}
	/* RFC 6675 5 (1b): DupThresh duplicate ACKs mean a loss even when
	 * they bring no SACK blocks (a peer without SACK, or a middlebox that
	 * strips the option). */
	if (t->dupacks >= s->sysctl.tcp_reordering && (!t->sack_ok || !t->sacked_out))
		mark_head_lost(s, t, st);
	if (t->lost_out) {
		enter_recovery(s, t);
		return;
	}
	if (t->ca_state == TN_CA_OPEN && (t->sacked_out || t->dupacks))
		set_ca_state(s, t, TN_CA_DISORDER);
	else if (t->ca_state == TN_CA_DISORDER && !t->sacked_out && !t->dupacks)
		set_ca_state(s, t, TN_CA_OPEN);
}

/* RFC 3168 6.1.2: an ECN echo is a congestion signal without a loss:
 * reduce as for a loss (PRR in CWR), at most once a window, and say CWR. */
static void ecn_echo(struct tn_stack *s, struct tn_tcb *t)
{
	if (t->ca_state >= TN_CA_CWR)
		return;
	init_cwnd_reduction(s, t);
	t->prior_cwnd = t->cwnd;
	t->recover = t->snd_max;
	t->cwr_pending = true;
	tn_stat_inc(s, TN_TcpExtTCPECNReduce);
	set_ca_state(s, t, TN_CA_CWR);
}

/* RFC 8985 7.4 as Linux's tcp_process_tlp_ack: did the probe repair a loss? */
static void process_tlp_ack(struct tn_stack *s, struct tn_tcb *t, uint32_t ack, const struct ack_state *st)
{
	if (!t->tlp_out || tn_seq_lt(ack, t->tlp_high_seq))
		return;
	if (!t->tlp_retrans || st->dsack_tlp) {
		t->tlp_out = false; /* new data probed, or both copies arrived */
	} else if (tn_seq_gt(ack, t->tlp_high_seq)) {
		/* only the probe got through: a loss, so reduce the window */
		t->tlp_out = false;
		if (!t->cc->cong_control) {
			t->ssthresh = t->cc->ssthresh(s, t);
			if (t->cwnd > t->ssthresh)
				t->cwnd = t->ssthresh;
		}
		tn_stat_inc(s, TN_TcpExtTCPLossProbeRecovery);
	} else if (!st->acked && !st->sacked) {
		t->tlp_out = false;
	}
}

/* ---- rate sample, congestion control, timers ---- */

static void rate_finish(struct tn_tcb *t, struct ack_state *st)
{
	if (t->app_limited && t->delivered > t->app_limited)
		t->app_limited = 0;
	st->rs.acked_sacked = st->acked + st->sacked;
	st->rs.losses = st->newly_lost;
	if (!st->have_prior || !st->prior_ns) {
		st->rs.interval_ns = -1;
		return;
	}
	st->rs.delivered = t->delivered - st->rs.prior_delivered;
	uint64_t ack_elapsed = t->delivered_ns - st->prior_ns;
	uint64_t interval = st->send_elapsed > ack_elapsed ? st->send_elapsed : ack_elapsed;
	/* An interval shorter than the path's RTT would claim a rate the path
	 * cannot have carried (ACK compression). */
	st->rs.interval_ns = interval < t->min_rtt ? -1 : (int64_t)interval;
	if (st->rs.interval_ns > 0)
		t->delivery_rate = st->rs.delivered * 1000000000ull / (uint64_t)st->rs.interval_ns;
}

static void update_pacing_rate(struct tn_stack *s, struct tn_tcb *t)
{
	if (!t->srtt)
		return;
	int ratio = t->cwnd < t->ssthresh / 2 ? s->sysctl.tcp_pacing_ss_ratio : s->sysctl.tcp_pacing_ca_ratio;
	uint64_t rate = (uint64_t)t->mss * 1000000000ull / t->srtt * ratio / 100;
	rate = rate * (t->cwnd > t->mss ? t->cwnd : t->mss) / t->mss;
	t->pacing_rate = rate < t->max_pacing_rate ? rate : t->max_pacing_rate;
}

static void cong_control(struct tn_stack *s, struct tn_tcb *t, struct ack_state *st)
{
	if (st->rs.acked_sacked && t->cc->pkts_acked)
		t->cc->pkts_acked(s, t, &st->rs);
	if (t->cc->cong_control) {
		t->cc->cong_control(s, t, &st->rs);
		return;
	}
	if (t->ca_state == TN_CA_RECOVERY || t->ca_state == TN_CA_CWR)
		prr_update(t, st->rs.acked_sacked, st->newly_lost);
	else if (st->rs.acked_sacked)
		t->cc->cong_avoid(s, t, st->rs.acked_sacked);
	update_pacing_rate(s, t);
}

/* RFC 8985 7.2: when to probe for a lost tail. */
bool tn_tcp_schedule_tlp(struct tn_stack *s, struct tn_tcb *t)
{
	int er = s->sysctl.tcp_early_retrans;
	if ((er != 3 && er != 4) || !t->sack_ok || t->tlp_out || t->txq.count == 0)
		return false;
	if (t->ca_state != TN_CA_OPEN && t->ca_state != TN_CA_CWR)
		return false;
	uint32_t unsent = tn_tcp_unsent(t);
	if (t->cwnd > tn_tcp_in_flight(t) && unsent && t->snd_wnd > t->snd_max - t->snd_una)
		return false; /* more will be sent anyway */
	uint64_t pto = t->srtt ? 2 * t->srtt : 1000 * TN_TCP_MS;
	if (t->srtt && t->txq.count == 1) {
		uint64_t one = t->srtt + t->srtt / 2 + WC_DELACK_NS;
		pto = pto > one ? pto : one;
	}
	if (pto < TLP_MIN_NS)
		pto = TLP_MIN_NS;
	uint64_t rto = t->rto << t->backoff;
	if (pto > rto)
		return false;
	t->rtx_kind = TN_RTX_TLP;
	tn_timer_arm(&s->wheel, &t->rtx_timer, s->now + pto);
	return true;
}

/* After an ACK: the reordering timer if RACK waits on a segment, else a
 * tail loss probe, else the retransmission timer (RFC 6298 5.3). */
void tn_tcp_rearm(struct tn_stack *s, struct tn_tcb *t, uint64_t reo_wait, bool restart_rto)
{
	if (t->snd_una == t->snd_max) {
		if (t->rtx_kind != TN_RTX_PERSIST || !tn_timer_pending(&t->rtx_timer)) {
			tn_timer_cancel(&s->wheel, &t->rtx_timer);
			t->rtx_kind = TN_RTX_RTO;
		}
		return;
	}
	if (reo_wait) {
		t->rtx_kind = TN_RTX_REO;
		tn_timer_arm(&s->wheel, &t->rtx_timer, s->now + reo_wait);
		return;
	}
	if (restart_rto || !tn_timer_pending(&t->rtx_timer) || t->rtx_kind == TN_RTX_PERSIST ||
	    t->rtx_kind == TN_RTX_REO) {
		if (!tn_tcp_schedule_tlp(s, t))
			tn_tcp_arm_rtx(s, t);
	}
}

/* ---- entry points ---- */

static uint32_t detect_loss(struct tn_stack *s, struct tn_tcb *t, uint64_t *reo_wait, uint32_t *newly_lost)
{
	*reo_wait = 0;
	if (!t->sack_ok)
		return 0;
	if (s->sysctl.tcp_recovery & 1)
		*reo_wait = rack_detect_loss(s, t, newly_lost);
	else if (t->sacked_out)
		dupthresh_detect_loss(s, t, newly_lost);
	return *newly_lost;
}

static void take_rtt_sample(struct tn_stack *s, struct tn_tcb *t, const struct tn_tcp_seg *g, struct ack_state *st)
{
	uint64_t rtt = 0;
	uint32_t ms;
	if (st->acked && st->rtt_ok && st->oldest_rtt_ns)
		rtt = st->oldest_rtt_ns;
	else if (st->acked && tn_tcp_ts_rtt_ms(s, t, g, &ms))
		rtt = (uint64_t)(ms ? ms : 1) * TN_TCP_MS;
	if (rtt)
		tn_tcp_rtt_sample(t, rtt);
	uint64_t min = st->rs.rtt_ns ? st->rs.rtt_ns : rtt;
	if (min && (!t->min_rtt || min < t->min_rtt))
		t->min_rtt = min;
}

void tn_tcp_ack_process(struct tn_stack *s, struct tn_tcb *t, const struct tn_tcp_seg *g, bool dup)
{
	uint32_t ack = g->h.ack;
	struct ack_state st = {.prior_snd_una = t->snd_una, .rtt_ok = true};
	st.prior_high_sacked = t->sacked_out ? t->high_sacked : t->snd_una;
	st.rs.prior_in_flight = tn_tcp_in_flight(t);
	bool cwnd_limited = t->cwnd_limited ||
			    (tn_tcp_in_slow_start(t) && st.rs.prior_in_flight * 2 >= t->cwnd);
	if (tn_seq_gt(ack, t->snd_una)) {
		st.acked = ack - t->snd_una;
		bool fin_acked = tn_tcp_fin_sent(t) && !tn_tcp_fin_acked(t) && tn_seq_gt(ack, t->fin_seq);
		tn_tcp_sndbuf_ack(s, t, fin_acked ? st.acked - 1 : st.acked);
		clean_txq(s, t, ack, &st);
		t->snd_una = ack;
		if (tn_seq_lt(t->snd_nxt, ack))
			t->snd_nxt = ack;
		t->backoff = 0;
		t->first_rtx_at = 0;
		if (!t->sack_ok) { /* NewReno: acked bytes take back duplicate-ACK credit */
			uint32_t out = t->snd_max - t->snd_una;
			t->sacked_out = t->sacked_out > st.acked ? t->sacked_out - st.acked : 0;
			if (t->sacked_out > out)
				t->sacked_out = out;
			t->dupacks = 0;
		}
	}
	if (!t->sacked_out) /* nothing SACKed: the highest SACKed mark restarts here */
		t->high_sacked = t->snd_una;
	if (t->sack_ok && g->h.opt.nsack)
		sack_input(s, t, &g->h.opt, ack, &st);
	if (dup && !t->sack_ok) {
		t->dupacks++;
		reno_dupack(t);
	} else if (dup) {
		t->dupacks = t->dupacks < 255 ? t->dupacks + 1 : 255;
	} else if (st.acked) {
		t->dupacks = 0;
	}
	if (st.reordered) {
		t->reord_seen = true;
		t->reord_events++;
		tn_stat_inc(s, TN_TcpExtTCPSACKReorder);
	}
	take_rtt_sample(s, t, g, &st);
	uint64_t reo_wait = 0;
	detect_loss(s, t, &reo_wait, &st.newly_lost);
	process_tlp_ack(s, t, ack, &st);
	switch (t->ca_state) {
	case TN_CA_LOSS:
		process_loss_state(s, t, g, &st);
		break;
	case TN_CA_RECOVERY:
		process_recovery_state(s, t, g, &st);
		break;
	default:
		process_open_state(s, t, &st);
		break;
	}
	if (t->ecn_ok && (g->h.flags & TN_TCP_ECE))
		ecn_echo(s, t);
	rate_finish(t, &st);
	t->cwnd_limited = cwnd_limited;
	cong_control(s, t, &st);
	if (t->frto_new && t->cwnd < 2u * t->mss)
		t->cwnd = 2u * t->mss; /* F-RTO step 2.b sends two new segments */
	tn_tcp_sndbuf_expand(s, t);
	/* An ACK that moved nothing leaves the timers alone (an orphan's
	 * FIN-WAIT-2 timer rides on rtx_timer too). */
	if (st.acked || st.sacked || st.newly_lost || reo_wait || t->ca_state != TN_CA_OPEN)
		tn_tcp_rearm(s, t, reo_wait, st.acked > 0);
	if (s->tcp_trace)
		s->tcp_trace(s->tcp_trace_ctx, s, t);
}

/* The reordering timer ran out: look again (RFC 8985 6.3). */
void tn_tcp_reo_fire(struct tn_stack *s, struct tn_tcb *t)
{
	uint32_t newly_lost = 0;
	uint64_t wait = rack_detect_loss(s, t, &newly_lost);
	if (newly_lost && t->ca_state < TN_CA_RECOVERY)
		enter_recovery(s, t);
	if (newly_lost && t->ca_state == TN_CA_RECOVERY && !t->cc->cong_control)
		prr_update(t, 0, newly_lost);
	tn_tcp_rtx_kind_reset(t);
	tn_tcp_output(s, t);
	tn_tcp_rearm(s, t, wait, true);
}

/* The probe timeout: send new data if the windows allow, else resend the
 * last segment, so an ACK (with SACK) tells us about the tail. */
void tn_tcp_tlp_fire(struct tn_stack *s, struct tn_tcb *t)
{
	tn_tcp_rtx_kind_reset(t);
	if (t->tlp_out || !t->txq.count) {
		tn_tcp_arm_rtx(s, t);
		return;
	}
	uint32_t before = t->snd_max;
	tn_tcp_output_probe(s, t);
	if (t->snd_max != before) {
		t->tlp_retrans = false;
	} else {
		struct tn_tcp_txrec *r = tn_txq_at(t, t->txq.count - 1);
		if (r->flags & TN_TXREC_SACKED) {
			tn_tcp_arm_rtx(s, t);
			return;
		}
		tn_tcp_retransmit_rec(s, t, r);
		t->tlp_retrans = true;
	}
	t->tlp_out = true;
	t->tlp_high_seq = t->snd_max;
	tn_stat_inc(s, TN_TcpExtTCPLossProbes);
	tn_tcp_arm_rtx(s, t);
}

/* RFC 6298 5.5-5.7 and RFC 5681 3.1 as Linux's tcp_enter_loss: everything
 * not SACKed is presumed lost and resent from the start, in slow start. */
void tn_tcp_enter_loss(struct tn_stack *s, struct tn_tcb *t)
{
	bool new_episode = t->ca_state <= TN_CA_DISORDER || tn_seq_ge(t->snd_una, t->recover) ||
			   (t->ca_state == TN_CA_LOSS && !t->backoff);
	if (new_episode) {
		if (t->ca_state < TN_CA_CWR || !t->undo_valid)
			init_undo(t);
		t->ssthresh = t->cc->ssthresh(s, t);
		if (t->cc->cwnd_event)
			t->cc->cwnd_event(s, t, TN_CA_EVENT_LOSS);
	}
	t->cwnd = t->mss;
	t->cwnd_cnt = 0;
	/* A SACKed segment at the front means the peer dropped what it had
	 * SACKed (reneging): forget every SACK (RFC 2018 8). */
	if (t->txq.count && (tn_txq_at(t, 0)->flags & TN_TXREC_SACKED)) {
		tn_stat_inc(s, TN_TcpExtTCPSACKReneging);
		for (uint32_t i = 0; i < t->txq.count; i++)
			tn_txq_at(t, i)->flags &= (uint8_t)~TN_TXREC_SACKED;
		t->sacked_out = 0;
		t->high_sacked = t->snd_una;
	}
	for (uint32_t i = 0; i < t->txq.count; i++) {
		struct tn_tcp_txrec *r = tn_txq_at(t, i);
		if (!(r->flags & TN_TXREC_SACKED))
			mark_lost(s, t, r);
	}
	t->rtx_hint = t->snd_una;
	if (!t->sack_ok)
		t->sacked_out = 0;
	t->dupacks = 0;
	t->recover = t->snd_max;
	t->frto = s->sysctl.tcp_frto && new_episode && t->backoff == 0;
	t->frto_new = false;
	t->tlp_out = false;
	set_ca_state(s, t, TN_CA_LOSS);
	if (s->tcp_trace)
		s->tcp_trace(s->tcp_trace_ctx, s, t);
}

/* The next record to resend: lost, not yet resent, not SACKed. */
struct tn_tcp_txrec *tn_tcp_next_lost(struct tn_tcb *t)
{
	if (!t->lost_out || t->lost_out <= t->retrans_out)
		return NULL;
	uint32_t from = tn_seq_lt(t->rtx_hint, t->snd_una) ? t->snd_una : t->rtx_hint;
	for (uint32_t i = txq_find(t, from); i < t->txq.count; i++) {
		struct tn_tcp_txrec *r = tn_txq_at(t, i);
		if ((r->flags & (TN_TXREC_LOST | TN_TXREC_RETRANS | TN_TXREC_SACKED)) == TN_TXREC_LOST) {
			t->rtx_hint = r->seq;
			return r;
		}
	}
	t->rtx_hint = t->snd_max;
	return NULL;
}

/* Bookkeeping for a record just resent. */
void tn_tcp_note_retransmit(struct tn_stack *s, struct tn_tcb *t, struct tn_tcp_txrec *r)
{
	uint32_t len = rec_len(r);
	if (!(r->flags & TN_TXREC_RETRANS)) {
		r->flags |= TN_TXREC_RETRANS;
		t->retrans_out += len;
	}
	r->flags |= TN_TXREC_EVER_RETRANS;
	rate_on_send(s, t, r);
	t->total_retrans++;
	t->bytes_retrans += len;
	t->bytes_sent += len;
	if (!t->retrans_stamp)
		t->retrans_stamp = tn_tcp_ts_now(s) ? tn_tcp_ts_now(s) : 1;
	if (t->undo_valid)
		t->undo_retrans++;
	if (t->ca_state == TN_CA_RECOVERY || t->ca_state == TN_CA_CWR)
		t->prr_out += len;
	tn_stat_inc(s, TN_TcpRetransSegs);
	if (t->ca_state == TN_CA_LOSS)
		tn_stat_inc(s, TN_TcpExtTCPSlowStartRetrans);
	else if (t->ca_state == TN_CA_RECOVERY)
		tn_stat_inc(s, TN_TcpExtTCPFastRetrans);
	t->rtx_hint = r->end;
}

/* New data went out: PRR counts it, and the app-limited mark is checked
 * by the sender. */
void tn_tcp_note_send(struct tn_tcb *t, uint32_t len)
{
	if (t->ca_state == TN_CA_RECOVERY || t->ca_state == TN_CA_CWR)
		t->prr_out += len;
}

/* tcp_rate_check_app_limited: the application, not the network, is
 * what holds the flow back; rate samples until this data is delivered
 * say so. */
void tn_tcp_check_app_limited(struct tn_tcb *t)
{
	uint32_t flight = tn_tcp_in_flight(t);
	if (tn_tcp_unsent(t) < t->mss && flight < t->cwnd && t->lost_out <= t->retrans_out) {
		uint64_t mark = t->delivered + flight;
		t->app_limited = mark ? mark : 1;
	}
}
