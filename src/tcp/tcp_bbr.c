/* BBR v1 (Cardwell et al., "BBR: Congestion-Based Congestion Control",
 * ACM Queue 2016, and draft-cardwell-iccrg-bbr-congestion-control-00).
 *
 * BBR models the path by two numbers: the bottleneck bandwidth (the
 * windowed maximum of delivery-rate samples over 10 round trips) and the
 * round-trip propagation time (the windowed minimum RTT over 10 s).  It
 * paces at gain x bandwidth and caps what is in flight at gain x their
 * product (the BDP), moving through STARTUP (gain 2/ln2 until the
 * bandwidth stops growing by 25% for three rounds), DRAIN (the inverse,
 * until the queue STARTUP built is gone), PROBE_BW (gains cycling 5/4,
 * 3/4, 1 x6, one phase per min RTT) and PROBE_RTT (4 packets for 200 ms
 * when the min RTT is 10 s old).  It ignores loss except for keeping
 * packets conserved during recovery. */
#include <string.h>

#include "core/stack.h"
#include "tcp/tcp_cc.h"
#include "tcp/tcp_int.h"

#define BBR_UNIT 256 /* fixed-point gains */
#define BBR_HIGH_GAIN (BBR_UNIT * 2885 / 1000 + 1) /* 2/ln(2) */
#define BBR_DRAIN_GAIN (BBR_UNIT * 1000 / 2885)   /* its inverse */
#define BBR_CWND_GAIN (BBR_UNIT * 2)
#define BBR_CYCLE_LEN 8
#define BBR_BW_RTTS 10                  /* max-bandwidth filter window, rounds */
#define BBR_MIN_RTT_WIN (10000 * TN_TCP_MS) /* min-RTT filter window */
#define BBR_PROBE_RTT_TIME (200 * TN_TCP_MS)
#define BBR_FULL_BW_THRESH (BBR_UNIT * 5 / 4)
#define BBR_FULL_BW_CNT 3
#define BBR_MIN_CWND_SEGS 4
#define BBR_PACING_MARGIN 1 /* percent below the estimate, to drain queues */
#define BBR_EXTRA_ACKED_WIN_RTTS 5  /* ACK aggregation filter window, rounds */
#define BBR_EXTRA_ACKED_MAX_NS (100 * TN_TCP_MS) /* its cap, in time at bw */
#define BBR_ACK_EPOCH_RESET (1u << 30) /* bytes: restart a very old epoch */

static const int cycle_gain[BBR_CYCLE_LEN] = {BBR_UNIT * 5 / 4, BBR_UNIT * 3 / 4, BBR_UNIT, BBR_UNIT,
					      BBR_UNIT, BBR_UNIT, BBR_UNIT, BBR_UNIT};

enum tn_bbr_mode { BBR_STARTUP, BBR_DRAIN, BBR_PROBE_BW, BBR_PROBE_RTT };

struct bbr_sample {
	uint64_t bw;    /* bytes/s */
	uint32_t round;
};

struct bbr {
	/* Kathleen Nichols' windowed max: best, 2nd, 3rd (bytes/s, and the
	 * round each was taken in; apart, so the struct packs) */
	uint64_t bw[3];
	uint32_t bw_round[3];
	uint32_t ack_epoch_acked; /* bytes ACKed since ack_epoch_stamp */
	uint64_t min_rtt, min_rtt_stamp, probe_rtt_done_stamp, cycle_stamp;
	uint64_t next_rtt_delivered, full_bw, ack_epoch_stamp;
	uint32_t round_count, prior_cwnd;
	uint32_t extra_acked[2]; /* ACK aggregation: max per window of 5 rounds, bytes */
	uint16_t pacing_gain, cwnd_gain;
	uint8_t mode, cycle_idx, full_bw_cnt, prev_ca_state, extra_acked_win_rtts, extra_acked_win_idx;
	bool round_start, full_bw_reached, packet_conservation, probe_rtt_round_done, idle_restart;
};
/* Out of line: larger than the inline area (tn_tcp_cc_set allocates it). */

static struct bbr *bbr_of(struct tn_tcb *t) { return (struct bbr *)tn_tcp_cc_priv(t); }

/* ---- windowed max filter (Linux's lib/minmax.c, in rounds) ---- */

static struct bbr_sample bw_get(const struct bbr *b, int i) { return (struct bbr_sample){b->bw[i], b->bw_round[i]}; }
static void bw_set(struct bbr *b, int i, struct bbr_sample v)
{
	b->bw[i] = v.bw;
	b->bw_round[i] = v.round;
}

static void bw_reset(struct bbr *b, uint32_t round, uint64_t bw)
{
	for (int i = 0; i < 3; i++)
		bw_set(b, i, (struct bbr_sample){bw, round});
}

static void bw_update(struct bbr *b, uint32_t round, uint64_t bw)
{
	struct bbr_sample v = {bw, round};
	if (bw >= b->bw[0] || round - b->bw_round[2] > BBR_BW_RTTS) {
		bw_reset(b, round, bw);
		return;
	}
	if (bw >= b->bw[1]) {
		bw_set(b, 1, v);
		bw_set(b, 2, v);
	} else if (bw >= b->bw[2]) {
		bw_set(b, 2, v);
	}
	/* age out samples older than the window, keeping the ordering */
	if (round - b->bw_round[0] > BBR_BW_RTTS) {
		bw_set(b, 0, bw_get(b, 1));
		bw_set(b, 1, bw_get(b, 2));
		bw_set(b, 2, v);
		if (round - b->bw_round[0] > BBR_BW_RTTS) {
			bw_set(b, 0, bw_get(b, 1));
			bw_set(b, 1, bw_get(b, 2));
		}
	} else if (b->bw_round[1] == b->bw_round[0] && round - b->bw_round[1] > BBR_BW_RTTS / 4) {
		bw_set(b, 1, v);
		bw_set(b, 2, v);
	} else if (b->bw_round[2] == b->bw_round[1] && round - b->bw_round[2] > BBR_BW_RTTS / 2) {
		bw_set(b, 2, v);
	}
}

uint64_t tn_bbr_max_bw(const struct tn_tcb *t) { return bbr_of((struct tn_tcb *)t)->bw[0]; }
int tn_bbr_mode(const struct tn_tcb *t) { return bbr_of((struct tn_tcb *)t)->mode; }
uint64_t tn_bbr_min_rtt(const struct tn_tcb *t) { return bbr_of((struct tn_tcb *)t)->min_rtt; }

/* ---- model ---- */

/* Bytes in flight that gain x BDP allows; the initial window while the
 * min RTT is unknown. */
static uint32_t bbr_bdp(const struct tn_tcb *t, const struct bbr *b, uint64_t bw, int gain)
{
	if (b->min_rtt == UINT64_MAX || !bw)
		return TN_TCP_IW * (uint32_t)t->mss;
	uint64_t bdp = bw * b->min_rtt / 1000000000ull;
	uint64_t w = (bdp * (uint64_t)gain + BBR_UNIT - 1) / BBR_UNIT;
	return w > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)w;
}

/* Room for the segments a send burst holds back (Linux's quantization
 * budget): three bursts, plus two packets in the probing phase. */
static uint32_t bbr_quantization(const struct tn_tcb *t, const struct bbr *b, uint32_t cwnd)
{
	cwnd += 3u * 2u * t->mss;
	if (b->mode == BBR_PROBE_BW && b->cycle_idx == 0)
		cwnd += 2u * t->mss;
	return cwnd;
}

static void set_pacing_rate(struct tn_tcb *t, struct bbr *b, uint64_t bw, int gain)
{
	uint64_t rate = bw * (uint64_t)gain / BBR_UNIT * (100 - BBR_PACING_MARGIN) / 100;
	if (rate && (b->full_bw_reached || rate > t->pacing_rate))
		t->pacing_rate = rate < t->max_pacing_rate ? rate : t->max_pacing_rate;
}

static void init_pacing_rate(struct tn_tcb *t, struct bbr *b)
{
	uint64_t rtt = t->srtt ? t->srtt : TN_TCP_MS;
	uint64_t bw = (uint64_t)t->cwnd * 1000000000ull / rtt;
	t->pacing_rate = 0;
	set_pacing_rate(t, b, bw, BBR_HIGH_GAIN);
}

static void enter_startup(struct bbr *b)
{
	b->mode = BBR_STARTUP;
	b->pacing_gain = BBR_HIGH_GAIN;
	b->cwnd_gain = BBR_HIGH_GAIN;
}

static void advance_cycle(struct tn_stack *s, struct bbr *b)
{
	b->cycle_idx = (uint8_t)((b->cycle_idx + 1) % BBR_CYCLE_LEN);
	b->cycle_stamp = s->now;
}

static void enter_probe_bw(struct tn_stack *s, struct bbr *b)
{
	b->mode = BBR_PROBE_BW;
	b->cwnd_gain = BBR_CWND_GAIN;
	/* a random phase, never the draining 3/4 one, so flows desynchronise */
	b->cycle_idx = (uint8_t)(BBR_CYCLE_LEN - 1 - tn_rand_below(&s->rng, BBR_CYCLE_LEN - 1));
	advance_cycle(s, b);
}

static void save_cwnd(struct tn_tcb *t, struct bbr *b)
{
	if (b->prev_ca_state < TN_CA_RECOVERY && b->mode != BBR_PROBE_RTT)
		b->prior_cwnd = t->cwnd;
	else if (t->cwnd > b->prior_cwnd)
		b->prior_cwnd = t->cwnd;
}

static void bbr_init(struct tn_stack *s, struct tn_tcb *t)
{
	struct bbr *b = bbr_of(t);
	memset(b, 0, sizeof(*b));
	b->min_rtt = t->srtt ? t->srtt : UINT64_MAX;
	b->min_rtt_stamp = s->now;
	b->ack_epoch_stamp = s->now;
	b->next_rtt_delivered = t->delivered;
	b->prev_ca_state = TN_CA_OPEN;
	enter_startup(b);
	init_pacing_rate(t, b);
	t->pace_next_ns = 0;
}

static void update_bw(struct tn_tcb *t, struct bbr *b, const struct tn_rate_sample *rs)
{
	b->round_start = false;
	if (rs->interval_ns <= 0 || !rs->delivered)
		return;
	if (rs->prior_delivered >= b->next_rtt_delivered) {
		b->next_rtt_delivered = t->delivered;
		b->round_count++;
		b->round_start = true;
		b->packet_conservation = false;
	}
	uint64_t bw = rs->delivered * 1000000000ull / (uint64_t)rs->interval_ns;
	/* App-limited samples understate the path, unless they beat the max. */
	if (!rs->is_app_limited || bw >= b->bw[0])
		bw_update(b, b->round_count, bw);
}

/* ACK aggregation (Linux's bbr_update_ack_aggregation, since 4.20): how
 * many bytes were ACKed beyond what the bandwidth estimate would have
 * delivered since the ACK rate last fell to it -- the data the receiver,
 * the path or our own host's batching (one poll reads many ACKs) held
 * back and released at once.  The window keeps room for it, so that the
 * sender is not left idle waiting for ACKs that come in clumps; without
 * it a flow held to 2 x BDP (less when min_rtt reads low) is cwnd-limited,
 * its probing at 5/4 cannot raise the delivery rate, and the bandwidth
 * filter can only fall. */
static void update_ack_aggregation(struct tn_tcb *t, struct bbr *b, const struct tn_rate_sample *rs)
{
	if (!rs->acked_sacked || rs->interval_ns <= 0)
		return;
	if (b->round_start) {
		if (b->extra_acked_win_rtts < 0x1f)
			b->extra_acked_win_rtts++;
		if (b->extra_acked_win_rtts >= BBR_EXTRA_ACKED_WIN_RTTS) {
			b->extra_acked_win_rtts = 0;
			b->extra_acked_win_idx ^= 1;
			b->extra_acked[b->extra_acked_win_idx] = 0;
		}
	}
	uint64_t epoch_ns = t->delivered_ns > b->ack_epoch_stamp ? t->delivered_ns - b->ack_epoch_stamp : 0;
	uint64_t expected = b->bw[0] * epoch_ns / 1000000000ull;
	if (b->ack_epoch_acked <= expected || b->ack_epoch_acked + rs->acked_sacked >= BBR_ACK_EPOCH_RESET) {
		b->ack_epoch_acked = 0; /* the ACK rate fell to the estimate: a new epoch */
		b->ack_epoch_stamp = t->delivered_ns;
		expected = 0;
	}
	b->ack_epoch_acked += rs->acked_sacked;
	uint64_t extra = b->ack_epoch_acked - expected;
	if (extra > t->cwnd)
		extra = t->cwnd;
	if (extra > b->extra_acked[b->extra_acked_win_idx])
		b->extra_acked[b->extra_acked_win_idx] = (uint32_t)extra;
}

/* The window's allowance for ACK aggregation, once the pipe is full: the
 * larger of the two windows' maxima, at most 100 ms at the estimated
 * bandwidth (Linux's bbr_ack_aggregation_cwnd, extra_acked_gain 1). */
static uint32_t ack_aggregation_cwnd(const struct bbr *b)
{
	if (!b->full_bw_reached)
		return 0;
	uint64_t cap = b->bw[0] * BBR_EXTRA_ACKED_MAX_NS / 1000000000ull;
	uint64_t extra = b->extra_acked[0] > b->extra_acked[1] ? b->extra_acked[0] : b->extra_acked[1];
	return (uint32_t)(extra < cap ? extra : cap);
}

static bool next_cycle_phase(struct tn_stack *s, struct tn_tcb *t, struct bbr *b, const struct tn_rate_sample *rs)
{
	bool full_length = s->now - b->cycle_stamp > b->min_rtt;
	int gain = b->pacing_gain;
	if (gain == BBR_UNIT)
		return full_length;
	uint32_t inflight = tn_tcp_in_flight(t);
	if (gain > BBR_UNIT) /* probe until the queue shows or the pipe is full */
		return full_length && (rs->losses || inflight >= bbr_bdp(t, b, b->bw[0], gain));
	return full_length || inflight <= bbr_bdp(t, b, b->bw[0], BBR_UNIT);
}

static void check_full_bw(struct bbr *b, const struct tn_rate_sample *rs)
{
	if (b->full_bw_reached || !b->round_start || rs->is_app_limited)
		return;
	if (b->bw[0] * BBR_UNIT >= b->full_bw * BBR_FULL_BW_THRESH) {
		b->full_bw = b->bw[0];
		b->full_bw_cnt = 0;
		return;
	}
	if (++b->full_bw_cnt >= BBR_FULL_BW_CNT)
		b->full_bw_reached = true;
}

static void check_drain(struct tn_stack *s, struct tn_tcb *t, struct bbr *b)
{
	if (b->mode == BBR_STARTUP && b->full_bw_reached) {
		b->mode = BBR_DRAIN;
		b->pacing_gain = BBR_DRAIN_GAIN;
		b->cwnd_gain = BBR_HIGH_GAIN;
		t->ssthresh = bbr_bdp(t, b, b->bw[0], BBR_UNIT);
	}
	if (b->mode == BBR_DRAIN && tn_tcp_in_flight(t) <= bbr_bdp(t, b, b->bw[0], BBR_UNIT))
		enter_probe_bw(s, b);
}

static void exit_probe_rtt(struct tn_stack *s, struct tn_tcb *t, struct bbr *b)
{
	b->min_rtt_stamp = s->now;
	if (b->prior_cwnd > t->cwnd)
		t->cwnd = b->prior_cwnd; /* restore what PROBE_RTT took */
	if (b->full_bw_reached)
		enter_probe_bw(s, b);
	else
		enter_startup(b);
}

static void update_min_rtt(struct tn_stack *s, struct tn_tcb *t, struct bbr *b, const struct tn_rate_sample *rs)
{
	bool expired = s->now > b->min_rtt_stamp + BBR_MIN_RTT_WIN;
	if (rs->rtt_ns && (rs->rtt_ns < b->min_rtt || expired)) {
		b->min_rtt = rs->rtt_ns;
		b->min_rtt_stamp = s->now;
	}
	if (expired && !b->idle_restart && b->mode != BBR_PROBE_RTT) {
		b->mode = BBR_PROBE_RTT;
		b->pacing_gain = BBR_UNIT;
		b->cwnd_gain = BBR_UNIT;
		save_cwnd(t, b);
		b->probe_rtt_done_stamp = 0;
	}
	if (b->mode == BBR_PROBE_RTT) {
		uint64_t mark = t->delivered + tn_tcp_in_flight(t); /* no bandwidth samples from this */
		t->app_limited = mark ? mark : 1;
		if (!b->probe_rtt_done_stamp && tn_tcp_in_flight(t) <= BBR_MIN_CWND_SEGS * t->mss) {
			b->probe_rtt_done_stamp = s->now + BBR_PROBE_RTT_TIME;
			b->probe_rtt_round_done = false;
			b->next_rtt_delivered = t->delivered;
		} else if (b->probe_rtt_done_stamp) {
			if (b->round_start)
				b->probe_rtt_round_done = true;
			if (b->probe_rtt_round_done && s->now >= b->probe_rtt_done_stamp)
				exit_probe_rtt(s, t, b);
		}
	}
	if (rs->delivered)
		b->idle_restart = false;
}

static void update_gains(struct bbr *b)
{
	switch (b->mode) {
	case BBR_STARTUP:
		b->pacing_gain = BBR_HIGH_GAIN;
		b->cwnd_gain = BBR_HIGH_GAIN;
		break;
	case BBR_DRAIN:
		b->pacing_gain = BBR_DRAIN_GAIN;
		b->cwnd_gain = BBR_HIGH_GAIN;
		break;
	case BBR_PROBE_BW:
		b->pacing_gain = (uint16_t)cycle_gain[b->cycle_idx];
		b->cwnd_gain = BBR_CWND_GAIN;
		break;
	default:
		b->pacing_gain = BBR_UNIT;
		b->cwnd_gain = BBR_UNIT;
		break;
	}
}

/* Packet conservation for the first round of recovery; the saved window
 * back when recovery ends.  True when cwnd is decided already. */
static bool recover_or_restore(struct tn_tcb *t, struct bbr *b, const struct tn_rate_sample *rs, uint32_t *cwnd)
{
	uint32_t inflight = tn_tcp_in_flight(t) + rs->acked_sacked;
	if (rs->losses)
		*cwnd = *cwnd > rs->losses + t->mss ? *cwnd - rs->losses : t->mss;
	uint8_t state = t->ca_state;
	if (state == TN_CA_RECOVERY && b->prev_ca_state != TN_CA_RECOVERY) {
		b->packet_conservation = true;
		b->next_rtt_delivered = t->delivered; /* the round starts now */
		*cwnd = inflight;
	} else if (b->prev_ca_state >= TN_CA_RECOVERY && state < TN_CA_RECOVERY) {
		if (b->prior_cwnd > *cwnd)
			*cwnd = b->prior_cwnd;
		b->packet_conservation = false;
	}
	b->prev_ca_state = state;
	if (b->packet_conservation) {
		if (inflight > *cwnd)
			*cwnd = inflight;
		return true;
	}
	return false;
}

static void set_cwnd(struct tn_tcb *t, struct bbr *b, const struct tn_rate_sample *rs)
{
	uint32_t cwnd = t->cwnd, acked = rs->acked_sacked;
	if (acked && !recover_or_restore(t, b, rs, &cwnd)) {
		uint32_t target = bbr_bdp(t, b, b->bw[0], b->cwnd_gain) + ack_aggregation_cwnd(b);
		target = bbr_quantization(t, b, target);
		if (b->full_bw_reached)
			cwnd = cwnd + acked < target ? cwnd + acked : target;
		else if (cwnd < target || t->delivered < TN_TCP_IW * (uint64_t)t->mss)
			cwnd += acked;
		if (cwnd < BBR_MIN_CWND_SEGS * t->mss)
			cwnd = BBR_MIN_CWND_SEGS * t->mss;
	}
	if (b->mode == BBR_PROBE_RTT && cwnd > BBR_MIN_CWND_SEGS * t->mss)
		cwnd = BBR_MIN_CWND_SEGS * t->mss;
	t->cwnd = cwnd;
}

static void bbr_main(struct tn_stack *s, struct tn_tcb *t, const struct tn_rate_sample *rs)
{
	struct bbr *b = bbr_of(t);
	update_bw(t, b, rs);
	update_ack_aggregation(t, b, rs);
	if (b->mode == BBR_PROBE_BW && next_cycle_phase(s, t, b, rs))
		advance_cycle(s, b);
	check_full_bw(b, rs);
	check_drain(s, t, b);
	update_min_rtt(s, t, b, rs);
	update_gains(b);
	uint64_t bw = b->bw[0];
	if (bw)
		set_pacing_rate(t, b, bw, b->pacing_gain);
	set_cwnd(t, b, rs);
}

static uint32_t bbr_ssthresh(struct tn_stack *s, struct tn_tcb *t)
{
	(void)s;
	save_cwnd(t, bbr_of(t));
	return t->ssthresh;
}

static void bbr_set_state(struct tn_stack *s, struct tn_tcb *t, uint8_t new_state)
{
	(void)s;
	struct bbr *b = bbr_of(t);
	if (new_state == TN_CA_LOSS) {
		/* a timeout: the next round starts afresh, and bandwidth growth is
		 * judged again */
		b->prev_ca_state = TN_CA_LOSS;
		b->full_bw = 0;
		b->round_start = true;
	}
}

static void bbr_cwnd_event(struct tn_stack *s, struct tn_tcb *t, enum tn_ca_event ev)
{
	struct bbr *b = bbr_of(t);
	if (ev != TN_CA_EVENT_TX_START || !t->app_limited)
		return;
	b->idle_restart = true;
	if (b->mode == BBR_PROBE_BW) /* restart at the estimated rate, not a gain above it */
		set_pacing_rate(t, b, b->bw[0], BBR_UNIT);
	else if (b->mode == BBR_PROBE_RTT && b->probe_rtt_done_stamp && s->now >= b->probe_rtt_done_stamp)
		exit_probe_rtt(s, t, b);
}

static uint32_t bbr_undo_cwnd(struct tn_stack *s, struct tn_tcb *t)
{
	(void)s;
	struct bbr *b = bbr_of(t);
	b->full_bw = 0;
	b->full_bw_cnt = 0;
	return t->cwnd;
}

const struct tn_tcp_cc_ops tn_tcp_bbr = {
	.name = "bbr",
	.init = bbr_init,
	.ssthresh = bbr_ssthresh,
	.set_state = bbr_set_state,
	.cwnd_event = bbr_cwnd_event,
	.undo_cwnd = bbr_undo_cwnd,
	.cong_control = bbr_main,
	.wants_pacing = true,
	.priv_size = sizeof(struct bbr),
};
