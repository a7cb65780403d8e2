/* Random iptables rulesets and packets, and a plain reference evaluator,
 * for checking a matcher (the linear one now, a compiled classifier
 * later) against the meaning of the rules: same verdict for every packet. */
#ifndef TERN_IPT_GEN_H
#define TERN_IPT_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "filter/ipt.h"

struct ipt_gen {
	uint64_t x; /* xorshift state */
};

void ipt_gen_seed(struct ipt_gen *g, uint64_t seed);
uint32_t ipt_gen_u32(struct ipt_gen *g);
/* An iptables-restore text for the filter table: user chains c0..c{nch-1}
 * (a chain only jumps to later ones: no loops), nrules rules spread over
 * FORWARD and them, using stateless matches and the targets ACCEPT, DROP,
 * RETURN, jump, goto, MARK and none.  Returns a malloc'd string. */
char *ipt_gen_ruleset(struct ipt_gen *g, int nrules, int nch);
/* A random packet view over small pools of addresses, ports, interface
 * names and marks, so rules match often. */
void ipt_gen_packet(struct ipt_gen *g, struct tn_ipt_pkt *pi);
/* The verdict of the built-in chain for hook, evaluated naively
 * (recursion for jumps) on a model table: TN_NF_ACCEPT or TN_NF_DROP.
 * mark: in and out (MARK targets). */
int ipt_ref_verdict(const struct tn_ipt_table *t, int hook, const struct tn_ipt_pkt *pi, uint32_t *mark);

#endif
