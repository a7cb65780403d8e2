/* fq_codel's counters beyond struct tn_qstats: what `tc -s qdisc show`
 * prints under an fq_codel (Linux's struct tc_fq_codel_qd_stats). */
#ifndef TN_SCH_FQ_CODEL_H
#define TN_SCH_FQ_CODEL_H

#include <stdint.h>

#include "sched/qdisc.h"

struct tn_fq_codel_xstats {
	uint32_t maxpacket;       /* largest packet seen, bytes */
	uint32_t drop_overlimit;  /* dropped because the packet limit or memory_limit was hit */
	uint32_t drop_overmemory; /* of those, because of memory_limit */
	uint32_t new_flow_count;  /* times a flow became new (sparse) */
	uint32_t ecn_mark;        /* CE-marked by CoDel instead of dropped */
	uint32_t ce_mark;         /* CE-marked above ce_threshold */
	uint32_t codel_drops;     /* dropped by CoDel at dequeue */
	uint32_t memory_usage;    /* bytes of buffers held */
	uint32_t new_flows_len;   /* flows on the new list */
	uint32_t old_flows_len;   /* flows on the old list */
};

/* 0 and the counters, or -1 if q is not an fq_codel. */
int tn_fq_codel_get_xstats(const struct tn_qdisc *q, struct tn_fq_codel_xstats *xs);

#endif
