/* CUBIC (RFC 9438) with HyStart++ (RFC 9406), the default congestion
 * control.  The window grows as a cubic function of the time since the
 * last reduction, centred on the window where that loss happened, so it
 * regains a large window quickly and probes carefully around it; below
 * Reno's rate it behaves as Reno would (the Reno-friendly region). */
#include <math.h>
#include <string.h>

#include "core/stack.h"
#include "tcp/tcp_cc.h"
#include "tcp/tcp_int.h"

#define CUBIC_C 0.4
#define CUBIC_BETA 0.7
/* RFC 9406 constants */
#define HS_MIN_RTT_THRESH (4 * TN_TCP_MS)
#define HS_MAX_RTT_THRESH (16 * TN_TCP_MS)
#define HS_MIN_RTT_DIVISOR 8
#define HS_N_RTT_SAMPLE 8
#define HS_CSS_GROWTH_DIVISOR 4
#define HS_CSS_ROUNDS 5
#define HS_L 8 /* slow-start growth cap per ACK, in segments, without pacing */

enum { HS_SS = 0, HS_CSS, HS_DONE };

struct cubic {
	double w_max;         /* segments: the window before the last reduction */
	double k;             /* seconds until the window is back at w_max */
	double w_est;         /* segments: what Reno would have by now */
	double cwnd_prior;    /* segments: cwnd when the last reduction began */
	double frac;          /* fractional segments of growth carried over */
	uint64_t epoch_start; /* ns; 0: no congestion-avoidance epoch yet */
	uint64_t last_round_min_rtt, cur_round_min_rtt, css_baseline_min_rtt;
	uint32_t window_end;
	uint16_t rtt_samples;
	uint8_t css_rounds, hs_state;
};
_Static_assert(sizeof(struct cubic) <= sizeof(((struct tn_tcb *)0)->cc_priv), "cubic state fits");

static struct cubic *cubic_of(struct tn_tcb *t) { return (struct cubic *)tn_tcp_cc_priv(t); }

static void cubic_init(struct tn_stack *s, struct tn_tcb *t)
{
	(void)s;
	struct cubic *c = cubic_of(t);
	memset(c, 0, sizeof(*c));
	c->last_round_min_rtt = c->cur_round_min_rtt = UINT64_MAX;
	c->window_end = t->snd_max;
	c->hs_state = t->ssthresh == UINT32_MAX ? HS_SS : HS_DONE;
}

/* W_cubic(t) = C (t - K)^3 + W_max  (RFC 9438 eq. 1), t in seconds. */
double tn_cubic_window(double t_s, double k, double w_max) { return CUBIC_C * pow(t_s - k, 3) + w_max; }
/* K = cbrt((W_max - cwnd_epoch) / C)  (RFC 9438 eq. 2). */
double tn_cubic_k(double w_max, double cwnd_epoch)
{
	return w_max > cwnd_epoch ? cbrt((w_max - cwnd_epoch) / CUBIC_C) : 0;
}

static void epoch_begin(struct tn_stack *s, struct tn_tcb *t, struct cubic *c)
{
	double cwnd = (double)t->cwnd / t->mss;
	c->epoch_start = s->now ? s->now : 1;
	if (c->w_max < cwnd) /* grew past the old maximum in slow start */
		c->w_max = cwnd;
	c->k = tn_cubic_k(c->w_max, cwnd);
	c->w_est = cwnd;
	c->frac = 0;
}

/* RFC 9438 4.2-4.5: the target a round trip ahead, clamped to
 * [cwnd, 1.5 cwnd]; the Reno-friendly estimate wins where it is larger. */
static void cubic_ca(struct tn_stack *s, struct tn_tcb *t, struct cubic *c, uint32_t acked)
{
	if (!c->epoch_start)
		epoch_begin(s, t, c);
	double cwnd = (double)t->cwnd / t->mss, segs = (double)acked / t->mss;
	double rtt = (double)(t->srtt ? t->srtt : t->min_rtt) / 1e9;
	double elapsed = (double)(s->now - c->epoch_start) / 1e9;
	double target = tn_cubic_window(elapsed + rtt, c->k, c->w_max);
	if (target < cwnd)
		target = cwnd;
	if (target > 1.5 * cwnd)
		target = 1.5 * cwnd;
	double alpha = c->w_est >= c->cwnd_prior ? 1.0 : 3.0 * (1 - CUBIC_BETA) / (1 + CUBIC_BETA);
	c->w_est += alpha * segs / cwnd;
	double w_cubic = tn_cubic_window(elapsed, c->k, c->w_max);
	if (w_cubic < c->w_est) { /* Reno-friendly region */
		if (c->w_est > cwnd)
			t->cwnd = (uint32_t)(c->w_est * t->mss);
		return;
	}
	c->frac += (target - cwnd) / cwnd * segs;
	while (c->frac >= 1.0) {
		t->cwnd += t->mss;
		c->frac -= 1.0;
	}
}

static void cubic_cong_avoid(struct tn_stack *s, struct tn_tcb *t, uint32_t acked)
{
	struct cubic *c = cubic_of(t);
	if (!tn_tcp_is_cwnd_limited(t))
		return;
	if (tn_tcp_in_slow_start(t)) {
		if (c->hs_state == HS_CSS) /* RFC 9406 4.2: slower growth while unsure */
			acked /= HS_CSS_GROWTH_DIVISOR;
		uint32_t limit = t->cc->wants_pacing || t->max_pacing_rate != UINT64_MAX ? UINT32_MAX
											   : HS_L * t->mss;
		acked = tn_tcp_slow_start(t, acked, limit);
		if (!acked)
			return;
	}
	cubic_ca(s, t, c, acked);
}

/* RFC 9406 4.2: per round, the minimum RTT; a rise of more than a
 * clamped eighth of the last round's minimum ends slow start (through
 * conservative slow start, in case the rise was noise). */
static void hystart(struct tn_stack *s, struct tn_tcb *t, struct cubic *c, uint64_t rtt)
{
	if (c->hs_state == HS_DONE || !tn_tcp_in_slow_start(t))
		return;
	if (tn_seq_ge(t->snd_una, c->window_end)) { /* a new round */
		c->last_round_min_rtt = c->cur_round_min_rtt;
		c->cur_round_min_rtt = UINT64_MAX;
		c->rtt_samples = 0;
		c->window_end = t->snd_max;
		if (c->hs_state == HS_CSS && ++c->css_rounds >= HS_CSS_ROUNDS) {
			t->ssthresh = t->cwnd; /* on to congestion avoidance */
			c->hs_state = HS_DONE;
			return;
		}
	}
	if (!rtt)
		return;
	if (rtt < c->cur_round_min_rtt)
		c->cur_round_min_rtt = rtt;
	c->rtt_samples++;
	if (c->hs_state == HS_SS && c->rtt_samples >= HS_N_RTT_SAMPLE && c->last_round_min_rtt != UINT64_MAX &&
	    c->cur_round_min_rtt != UINT64_MAX) {
		uint64_t thresh = c->last_round_min_rtt / HS_MIN_RTT_DIVISOR;
		thresh = thresh < HS_MIN_RTT_THRESH ? HS_MIN_RTT_THRESH : thresh > HS_MAX_RTT_THRESH ? HS_MAX_RTT_THRESH : thresh;
		if (c->cur_round_min_rtt >= c->last_round_min_rtt + thresh) {
			c->css_baseline_min_rtt = c->cur_round_min_rtt;
			c->hs_state = HS_CSS;
			c->css_rounds = 0;
		}
	} else if (c->hs_state == HS_CSS && c->rtt_samples >= HS_N_RTT_SAMPLE &&
		   c->cur_round_min_rtt < c->css_baseline_min_rtt) {
		c->hs_state = HS_SS; /* the rise was spurious: back to slow start */
	}
	(void)s;
}

static void cubic_pkts_acked(struct tn_stack *s, struct tn_tcb *t, const struct tn_rate_sample *rs)
{
	hystart(s, t, cubic_of(t), rs->rtt_ns);
}

/* RFC 9438 4.6-4.7: multiplicative decrease by beta, and fast
 * convergence: a flow whose maximum keeps falling releases bandwidth. */
static uint32_t cubic_ssthresh(struct tn_stack *s, struct tn_tcb *t)
{
	(void)s;
	struct cubic *c = cubic_of(t);
	double cwnd = (double)t->cwnd / t->mss;
	c->epoch_start = 0;
	c->w_max = cwnd < c->w_max ? cwnd * (1 + CUBIC_BETA) / 2 : cwnd;
	c->cwnd_prior = cwnd;
	c->hs_state = HS_DONE;
	uint32_t ss = (uint32_t)(t->cwnd * CUBIC_BETA);
	return ss > 2u * t->mss ? ss : 2u * t->mss;
}

static void cubic_cwnd_event(struct tn_stack *s, struct tn_tcb *t, enum tn_ca_event ev)
{
	struct cubic *c = cubic_of(t);
	if (ev == TN_CA_EVENT_TX_START && c->epoch_start && t->last_send) {
		/* Idle time is not congestion-avoidance time (Linux shifts the
		 * epoch the same way), or the window would leap on restart. */
		uint64_t idle = s->now - t->last_send;
		c->epoch_start += idle;
		if (c->epoch_start > s->now)
			c->epoch_start = s->now;
	} else if (ev == TN_CA_EVENT_LOSS || ev == TN_CA_EVENT_CWND_RESTART) {
		c->epoch_start = 0;
	}
}

static uint32_t cubic_undo_cwnd(struct tn_stack *s, struct tn_tcb *t)
{
	struct cubic *c = cubic_of(t);
	c->epoch_start = 0;
	if (c->cwnd_prior > c->w_max) /* the loss was not one: its maximum stands */
		c->w_max = c->cwnd_prior;
	return tn_tcp_reno_undo_cwnd(s, t);
}

const struct tn_tcp_cc_ops tn_tcp_cubic = {
	.name = "cubic",
	.init = cubic_init,
	.ssthresh = cubic_ssthresh,
	.cong_avoid = cubic_cong_avoid,
	.cwnd_event = cubic_cwnd_event,
	.undo_cwnd = cubic_undo_cwnd,
	.pkts_acked = cubic_pkts_acked,
};
