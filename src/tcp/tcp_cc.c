/* Congestion control: the registry, the helpers algorithms share, and
 * Reno/NewReno as RFC 5681 and RFC 6582 define them (the recovery window
 * itself is PRR's, in tcp_recovery.c, as in Linux). */
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "tcp/tcp_cc.h"
#include "tcp/tcp_int.h"

static const struct tn_tcp_cc_ops *const algorithms[] = {&tn_tcp_reno, &tn_tcp_cubic, &tn_tcp_bbr};

const struct tn_tcp_cc_ops *tn_tcp_cc_find(const char *name)
{
	for (size_t i = 0; i < sizeof(algorithms) / sizeof(algorithms[0]); i++)
		if (strcmp(algorithms[i]->name, name) == 0)
			return algorithms[i];
	return NULL;
}

const char *tn_tcp_cc_available(void) { return "reno cubic bbr"; }

const struct tn_tcp_cc_ops *tn_tcp_cc_default(const struct tn_stack *s)
{
	const struct tn_tcp_cc_ops *ops = tn_tcp_cc_find(s->sysctl.tcp_congestion_control);
	return ops ? ops : &tn_tcp_cubic;
}

void tn_tcp_cc_set(struct tn_stack *s, struct tn_tcb *t, const struct tn_tcp_cc_ops *ops)
{
	free(t->cc_ext);
	t->cc_ext = NULL;
	if (ops->priv_size > sizeof(t->cc_priv) && !(t->cc_ext = calloc(1, ops->priv_size)))
		ops = &tn_tcp_cubic; /* no memory for its state: the inline algorithm */
	t->cc = ops;
	memset(t->cc_priv, 0, sizeof(t->cc_priv));
	t->pacing_rate = 0;
	t->cc->init(s, t);
}

uint32_t tn_tcp_in_flight(const struct tn_tcb *t)
{
	uint32_t out = t->snd_max - t->snd_una;
	uint32_t left = t->sacked_out + t->lost_out;
	out = out > left ? out - left : 0;
	return out + t->retrans_out;
}

bool tn_tcp_in_slow_start(const struct tn_tcb *t) { return t->cwnd < t->ssthresh; }

bool tn_tcp_is_cwnd_limited(const struct tn_tcb *t) { return t->cwnd_limited; }

uint32_t tn_tcp_slow_start(struct tn_tcb *t, uint32_t acked, uint32_t limit)
{
	uint32_t grow = acked < limit ? acked : limit;
	uint64_t cwnd = (uint64_t)t->cwnd + grow;
	if (cwnd > t->ssthresh)
		cwnd = t->ssthresh > t->cwnd ? t->ssthresh : t->cwnd;
	uint32_t used = (uint32_t)(cwnd - t->cwnd);
	t->cwnd = (uint32_t)cwnd;
	return acked > used && t->cwnd >= t->ssthresh ? acked - used : 0;
}

void tn_tcp_cong_avoid_ai(struct tn_tcb *t, uint32_t w, uint32_t acked)
{
	if (w < t->mss)
		w = t->mss;
	t->cwnd_cnt += acked;
	while (t->cwnd_cnt >= w) {
		t->cwnd_cnt -= w;
		t->cwnd += t->mss;
	}
}

/* ---- Reno (RFC 5681) ---- */

static void reno_init(struct tn_stack *s, struct tn_tcb *t) { (void)s, (void)t; }

/* RFC 5681 eq. (4): ssthresh = max(FlightSize / 2, 2 * SMSS). */
static uint32_t reno_ssthresh(struct tn_stack *s, struct tn_tcb *t)
{
	(void)s;
	uint32_t flight = t->snd_max - t->snd_una;
	return flight / 2 > 2u * t->mss ? flight / 2 : 2u * t->mss;
}

/* Slow start grows by min(N, SMSS) per ACK (RFC 5681 eq. 2); congestion
 * avoidance by one SMSS per cwnd of bytes acknowledged (its RECOMMENDED
 * byte counting, section 3.1). */
static void reno_cong_avoid(struct tn_stack *s, struct tn_tcb *t, uint32_t acked)
{
	(void)s;
	if (!tn_tcp_is_cwnd_limited(t))
		return;
	if (tn_tcp_in_slow_start(t)) {
		acked = tn_tcp_slow_start(t, acked, t->mss);
		if (!acked)
			return;
	}
	tn_tcp_cong_avoid_ai(t, t->cwnd, acked);
}

uint32_t tn_tcp_reno_undo_cwnd(struct tn_stack *s, struct tn_tcb *t)
{
	(void)s;
	return t->cwnd > t->prior_cwnd ? t->cwnd : t->prior_cwnd;
}

const struct tn_tcp_cc_ops tn_tcp_reno = {
	.name = "reno",
	.init = reno_init,
	.ssthresh = reno_ssthresh,
	.cong_avoid = reno_cong_avoid,
	.undo_cwnd = tn_tcp_reno_undo_cwnd,
};
