/* Named counters, one array per stack.  Each drop path increments exactly
 * one of these so that "why was it dropped" always has an answer. */
#ifndef TN_STATS_H
#define TN_STATS_H

#include <stdint.h>
#include <stdio.h>

enum tn_stat {
#define X(group, name, text) TN_##group##name,
#include "core/stats_list.h"
#undef X
	TN_STAT_COUNT
};

struct tn_stat_info {
	const char *group; /* "Ip", "Icmp", "Udp", "IpExt", "TernExt" */
	const char *name;  /* "InReceives" */
	const char *text;  /* netstat -s phrase */
};

extern const struct tn_stat_info tn_stat_info[TN_STAT_COUNT];

/* Index of a counter by its nstat name ("IpInReceives"); -1 if unknown. */
int tn_stat_lookup(const char *nstat_name);
/* Print like `netstat -s` (groups with phrases) or like `nstat -a`. */
void tn_stats_print_netstat(FILE *f, const uint64_t *v);
void tn_stats_print_nstat(FILE *f, const uint64_t *v, int include_zero);

#endif
