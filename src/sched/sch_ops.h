/* The qdisc kinds (one ops table each, defined in their sch_*.c file) and
 * what several of them share. */
#ifndef TN_SCH_OPS_H
#define TN_SCH_OPS_H

#include "sched/qdisc.h"
extern const struct tn_qdisc_ops tn_qdisc_pfifo_fast;
extern const struct tn_qdisc_ops tn_qdisc_pfifo;
extern const struct tn_qdisc_ops tn_qdisc_bfifo;
extern const struct tn_qdisc_ops tn_qdisc_netem;
extern const struct tn_qdisc_ops tn_qdisc_tbf;
extern const struct tn_qdisc_ops tn_qdisc_prio;
extern const struct tn_qdisc_ops tn_qdisc_sfq;
extern const struct tn_qdisc_ops tn_qdisc_fq_codel;
/* fq_codel's `tc -s` counters as tc prints them (details: sch_fq_codel.h). */
int tn_fq_codel_print_xstats(const struct tn_qdisc *q, char *buf, size_t cap);
extern const struct tn_qdisc_ops tn_qdisc_htb;

/* Linux's skb->priority for a packet tern sent: from the IPv4 TOS as
 * rt_tos2priority does (TC_PRIO_BESTEFFORT 0, BULK 2, INTERACTIVE_BULK 4,
 * INTERACTIVE 6); 0 for anything else (ARP). */
uint8_t tn_qdisc_pkt_priority(const struct tn_pkt *p);
/* The IPv4 TOS byte of a packet, or -1 if it is not IPv4. */
int tn_qdisc_pkt_tos(const struct tn_pkt *p);

#endif
