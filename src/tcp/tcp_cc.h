/* Pluggable congestion control, as Linux's tcp_congestion_ops.
 *
 * The stack owns loss detection and recovery (RACK-TLP, the SACK
 * scoreboard, PRR); an algorithm decides the window outside recovery,
 * the slow-start threshold a loss leaves behind, and (if it wants to own
 * everything, as BBR does) cwnd and the pacing rate on every ACK.
 * Windows are in bytes.  An algorithm keeps its state in tn_tcp_cc_priv(t):
 * t->cc_priv inline (80 bytes, CUBIC's size) or, if its priv_size is larger
 * (BBR), an allocation made when it is set on the connection, so the
 * common case costs an idle connection no more than it needs. */
#ifndef TN_TCP_CC_H
#define TN_TCP_CC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcp/tcp.h"

struct tn_stack;
struct tn_tcb;

enum tn_ca_event {
	TN_CA_EVENT_TX_START,     /* first send after the flow went idle */
	TN_CA_EVENT_CWND_RESTART, /* slow start after idle restarted the window */
	TN_CA_EVENT_COMPLETE_CWR, /* a window reduction (recovery or CWR) ended */
	TN_CA_EVENT_LOSS,         /* retransmission timeout */
};

/* What one ACK told us: the delivery-rate sample and the bytes it moved. */
struct tn_rate_sample {
	uint64_t prior_delivered; /* t->delivered when the newest acked segment was sent */
	uint64_t delivered;       /* bytes delivered over the interval */
	int64_t interval_ns;      /* <= 0: no valid rate sample */
	uint64_t rtt_ns;          /* RTT of the newest acked segment; 0 if none */
	uint32_t acked_sacked;    /* bytes newly acked or SACKed by this ACK */
	uint32_t prior_in_flight; /* bytes in flight before this ACK */
	uint32_t losses;          /* bytes newly marked lost on this ACK */
	bool is_app_limited;
};

struct tn_tcp_cc_ops {
	const char *name;
	/* Required. */
	void (*init)(struct tn_stack *s, struct tn_tcb *t);
	/* The slow-start threshold on entering recovery or after a timeout. */
	uint32_t (*ssthresh)(struct tn_stack *s, struct tn_tcb *t);
	/* Open the window for `acked` newly delivered bytes (not in recovery);
	 * required unless cong_control is set. */
	void (*cong_avoid)(struct tn_stack *s, struct tn_tcb *t, uint32_t acked);
	/* Optional. */
	void (*set_state)(struct tn_stack *s, struct tn_tcb *t, uint8_t new_state);
	void (*cwnd_event)(struct tn_stack *s, struct tn_tcb *t, enum tn_ca_event ev);
	/* The window to restore when a reduction proves spurious; without it,
	 * tn_tcp_reno_undo_cwnd. */
	uint32_t (*undo_cwnd)(struct tn_stack *s, struct tn_tcb *t);
	/* Every ACK that delivered data, with its RTT sample (HyStart). */
	void (*pkts_acked)(struct tn_stack *s, struct tn_tcb *t, const struct tn_rate_sample *rs);
	/* If set, called on every ACK instead of cong_avoid and PRR: the
	 * algorithm sets cwnd and pacing_rate itself (BBR). */
	void (*cong_control)(struct tn_stack *s, struct tn_tcb *t, const struct tn_rate_sample *rs);
	bool wants_pacing;
	/* Bytes of private state if more than fit inline in t->cc_priv. */
	size_t priv_size;
};

static inline void *tn_tcp_cc_priv(struct tn_tcb *t) { return t->cc_ext ? t->cc_ext : (void *)t->cc_priv; }

extern const struct tn_tcp_cc_ops tn_tcp_reno;
extern const struct tn_tcp_cc_ops tn_tcp_cubic;
extern const struct tn_tcp_cc_ops tn_tcp_bbr;

/* The algorithm called `name`, or NULL. */
const struct tn_tcp_cc_ops *tn_tcp_cc_find(const char *name);
/* Names of all algorithms, space-separated (tcp_available_congestion_control). */
const char *tn_tcp_cc_available(void);
/* Switch t to ops (TCP_CONGESTION): the new algorithm starts from t's window. */
void tn_tcp_cc_set(struct tn_stack *s, struct tn_tcb *t, const struct tn_tcp_cc_ops *ops);
/* The algorithm new connections get: net.ipv4.tcp_congestion_control. */
const struct tn_tcp_cc_ops *tn_tcp_cc_default(const struct tn_stack *s);

/* For tests and tools: CUBIC's curve, and BBR's model and mode
 * (0 STARTUP, 1 DRAIN, 2 PROBE_BW, 3 PROBE_RTT). */
double tn_cubic_window(double t_s, double k, double w_max);
double tn_cubic_k(double w_max, double cwnd_epoch);
uint64_t tn_bbr_max_bw(const struct tn_tcb *t);
uint64_t tn_bbr_min_rtt(const struct tn_tcb *t);
int tn_bbr_mode(const struct tn_tcb *t);

/* Shared helpers for algorithms. */
/* RFC 5681 slow start: grow by what was acked up to ssthresh; the rest of
 * `acked` that did not fit is returned for congestion avoidance. */
uint32_t tn_tcp_slow_start(struct tn_tcb *t, uint32_t acked, uint32_t limit);
/* RFC 5681 3.1 byte counting: one MSS per `w` bytes acknowledged. */
void tn_tcp_cong_avoid_ai(struct tn_tcb *t, uint32_t w, uint32_t acked);
bool tn_tcp_in_slow_start(const struct tn_tcb *t);
/* Linux's tcp_reno_undo_cwnd: the larger of cwnd and the window before
 * the reduction. */
uint32_t tn_tcp_reno_undo_cwnd(struct tn_stack *s, struct tn_tcb *t);
/* Bytes in flight (RFC 6675 pipe): sent, not acked, SACKed or lost, plus
 * retransmissions in flight. */
uint32_t tn_tcp_in_flight(const struct tn_tcb *t);
/* Is the flow using its window (so it should grow)? */
bool tn_tcp_is_cwnd_limited(const struct tn_tcb *t);

#endif
