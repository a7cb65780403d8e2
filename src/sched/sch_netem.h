/* netem, Linux's network emulator qdisc (sch_netem.c): what other code
 * (the memlink fault injector, src/link/fault.c) needs to configure one
 * without tc words and to read its counters. */
#ifndef TN_SCH_NETEM_H
#define TN_SCH_NETEM_H

#include <stdbool.h>
#include <stdint.h>

#include "sched/qdisc.h"

/* Probabilities and correlations are fractions of 2^32 - 1 as Linux keeps
 * them (tn_netem_prob converts from [0,1]). */
enum tn_netem_dist {
	TN_NETEM_UNIFORM = 0, /* what Linux does without a table */
	TN_NETEM_NORMAL,
	TN_NETEM_PARETO,
	TN_NETEM_PARETONORMAL,
};

enum tn_netem_loss_model {
	TN_NETEM_LOSS_RANDOM = 0,
	TN_NETEM_LOSS_STATE,   /* 4-state Markov (tc "loss state") */
	TN_NETEM_LOSS_GEMODEL, /* Gilbert-Elliott (tc "loss gemodel") */
};

struct tn_netem_opt {
	uint32_t limit;                 /* packets held at most (1000) */
	uint64_t latency_ns, jitter_ns; /* delay: latency +- jitter */
	uint32_t delay_corr;
	enum tn_netem_dist dist;
	enum tn_netem_loss_model loss_model;
	uint32_t loss, loss_corr;       /* random loss */
	uint32_t p13, p31, p32, p23, p14; /* loss state */
	uint32_t ge_p, ge_r, ge_1h, ge_1k; /* loss gemodel: 1-h, 1-k as tc names them */
	bool ecn;                       /* mark ECT packets CE instead of losing them */
	uint32_t duplicate, dup_corr;
	uint32_t corrupt, corrupt_corr;
	uint32_t reorder, reorder_corr;
	uint32_t gap;                   /* tc makes it 1 when reorder is given */
	uint64_t rate_bits;             /* bits per second; 0: no rate */
	int32_t packet_overhead;
	uint32_t cell_size;
	int32_t cell_overhead;
	bool slot;
	uint64_t slot_min_ns, slot_max_ns;
	enum tn_netem_dist slot_dist;   /* with slot_jitter_ns: "slot distribution" */
	uint64_t slot_delay_ns, slot_jitter_ns;
	uint32_t slot_packets, slot_bytes; /* 0: unlimited */
	/* Extension (tern only, "burstloss AT LEN"): of the packets offered,
	 * numbers [AT, AT + LEN) counted from 0 are lost, deterministically. */
	uint64_t burst_at;
	uint32_t burst_len;
};

struct tn_netem_stats {
	uint64_t lost;       /* dropped by the loss model or burstloss */
	uint64_t ecn_marked; /* marked CE where loss would have dropped */
	uint64_t duplicated; /* copies made (each also counted where it ends) */
	uint64_t corrupted;
	uint64_t reordered;  /* sent ahead of the delay queue */
	uint64_t overflow;   /* dropped at the limit (or for want of memory) */
};

static inline uint32_t tn_netem_prob(double p)
{
	if (!(p > 0))
		return 0;
	if (p >= 1)
		return UINT32_MAX;
	return (uint32_t)(p * 4294967295.0 + 0.5);
}

/* The options tc would give "netem" with no words. */
void tn_netem_opt_default(struct tn_netem_opt *o);
/* Replace the options of a live netem qdisc (what it holds stays);
 * -1 with err set if they are inconsistent. */
int tn_netem_configure(struct tn_qdisc *q, const struct tn_netem_opt *o, struct tn_qerr *err);
/* The earliest time dequeue may release a packet (env->now if one is due
 * already), UINT64_MAX if empty: netem's watchdog time. */
uint64_t tn_netem_next_time(const struct tn_qdisc *q);
const struct tn_netem_stats *tn_netem_stats(const struct tn_qdisc *q);

#endif
