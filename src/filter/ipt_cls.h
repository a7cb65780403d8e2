/* The compiled classifier of one iptables chain: tuple-space search.
 *
 * Each rule is indexed by the fields it tests exactly and without side
 * effects: source and destination prefixes, protocol, an exact TCP/UDP
 * source or destination port, and exact input/output interface names.
 * The set of fields a rule indexes (prefix lengths included) is its
 * tuple; per tuple a hash table maps the rule's masked values to the
 * sorted list of rules that have them.  A packet probes each tuple once
 * with its own values masked the same way, and the lists it finds are
 * merged in rule order: each candidate is checked whole with
 * tn_ipt_rule_match, so the answer is exactly the linear scan's -- the
 * first rule at or after `start` whose matches all hold, with the same
 * side effects (limit/hashlimit buckets) -- at a cost that grows with the
 * number of tuples and of candidates, not of rules.  A field a rule
 * cannot index (negated, a non-prefix mask, a port range, "eth+") is a
 * wildcard in its tuple.  In front of the search, an exact-match cache
 * (as Open vSwitch puts one in front of its megaflow classifier) maps a
 * flow's key to the candidate list the search gave it, so a flow seen
 * before costs one probe whatever the number of tuples.  See
 * docs/DESIGN.md, "iptables".
 *
 * A classifier holds rule indexes only, never pointers into the chain,
 * so rulesets whose chain has the same rules (counters aside) share it
 * (reference counted). */
#ifndef TN_IPT_CLS_H
#define TN_IPT_CLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "filter/ipt.h"

struct tn_ipt_cls;

/* NULL when out of memory (the chain is then matched linearly). */
struct tn_ipt_cls *tn_ipt_cls_build(const struct tn_ipt_chain *ch);
struct tn_ipt_cls *tn_ipt_cls_ref(struct tn_ipt_cls *c);
void tn_ipt_cls_unref(struct tn_ipt_cls *c);
/* Would chains a and b build the same classifier (same rules in the same
 * order as far as the index is concerned)? */
bool tn_ipt_cls_same(const struct tn_ipt_chain *a, const struct tn_ipt_chain *b);
/* As tn_ipt_chain_match_linear on the chain the classifier was built from. */
int tn_ipt_cls_match(struct tn_ipt_cls *c, const struct tn_ipt_chain *ch, uint32_t start,
		     const struct tn_ipt_pkt *pi, struct tn_ipt_mctx *mc);
/* Bytes the classifier holds; its number of tuples. */
size_t tn_ipt_cls_mem(const struct tn_ipt_cls *c);
uint32_t tn_ipt_cls_ntuples(const struct tn_ipt_cls *c);
/* The exact-match cache's lookups that found the flow and that did not. */
void tn_ipt_cls_emc_stats(const struct tn_ipt_cls *c, uint64_t *hits, uint64_t *misses);

#endif
