/* The verdict cache: one ruleset's decisions per flow, replayed.
 *
 * A hook's traversal is a function of the packet's flow key when every
 * rule it can reach (its built-in chain and the chains that jumps and gotos
 * lead to) tests only what the key holds -- addresses, protocol, ports or
 * ICMP type and code, interfaces, and, when some rule asks for them, TCP
 * flags, conntrack state and mark -- and only decides: ACCEPT, DROP,
 * RETURN, a jump or goto, or no target (count and go on).  Then the
 * verdict and the counters the traversal charges (the matching rules', the
 * policy's) are fixed per key: the first packet of a flow traverses and
 * records them, later packets replay them, each counter charged with the
 * packet's own length, so `iptables -L -v` reads exactly as without the
 * cache.  A rule with a side effect or a per-packet test (LOG, REJECT,
 * MARK, NAT targets; length, limit, hashlimit, set matches) makes its hooks
 * uncacheable.  A ruleset never changes once built (every edit builds a
 * new one), so an entry never goes stale; the cache dies with its ruleset.
 * This is what Open vSwitch's exact-match cache is to its classifier, for
 * a whole traversal; see docs/DESIGN.md, "iptables". */
#ifndef TN_IPT_VCACHE_H
#define TN_IPT_VCACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "filter/ipt.h"

/* What a hook's key holds: the fields some rule it can reach tests, and
 * only those, so flows no rule can tell apart share an entry (the key of
 * 10,000 flows that differ only in a source port no rule tests is one).
 * use == 0: the hook cannot be cached. */
enum {
	TN_IPT_VC_ON = 1,       /* cacheable */
	TN_IPT_VC_FLAGS = 2,    /* TCP flags */
	TN_IPT_VC_CT = 4,       /* conntrack state */
	TN_IPT_VC_MARK = 8,     /* the mark */
	TN_IPT_VC_PROTO = 16,   /* the protocol */
	TN_IPT_VC_SPORT = 32,   /* TCP/UDP source port */
	TN_IPT_VC_DPORT = 64,   /* TCP/UDP destination port */
	TN_IPT_VC_ICMP = 128,   /* ICMP type and code */
	TN_IPT_VC_IN = 256,     /* input interface */
	TN_IPT_VC_OUT = 512,    /* output interface */
};
struct tn_ipt_vc_fields {
	uint32_t smsk, dmsk; /* the address bits some rule tests */
	uint16_t use;        /* TN_IPT_VC_* */
};
struct tn_ipt_vc_fields tn_ipt_vcache_fields(const struct tn_ipt_table *t, int entry_chain);

#define TN_IPT_VC_CTRS 4 /* counters one entry replays; more: not cached */

/* What a traversal charged, recorded for the cache. */
struct tn_ipt_vc_rec {
	uint64_t *ctr[TN_IPT_VC_CTRS]; /* each: pkts, then bytes */
	uint8_t n;
	bool over;                     /* charged more than TN_IPT_VC_CTRS */
};

struct tn_ipt_vc_key {
	uint32_t src, dst;
	uint32_t ports;  /* source port << 16 | destination port, or ICMP type << 8 | code */
	uint32_t proto;  /* protocol | TCP flags << 8 | ct << 16 | frag, l4ok, hook << 24 */
	uint32_t ifs;    /* input ifindex << 16 | output ifindex */
	uint32_t mark;
};

struct tn_ipt_vcache;
struct tn_ipt_vcache *tn_ipt_vcache_new(void);
void tn_ipt_vcache_free(struct tn_ipt_vcache *vc);
/* The packet's key (into *k, for a store after a miss), and the entry
 * for it replayed: its verdict (TN_NF_ACCEPT or TN_NF_DROP), each counter
 * charged with pi->len; or -1 when the cache does not hold the flow. */
int tn_ipt_vcache_lookup(struct tn_ipt_vcache *vc, const struct tn_ipt_pkt *pi, int hook, int in_ifindex,
			 int out_ifindex, const struct tn_ipt_vc_fields *f, struct tn_ipt_vc_key *k);
/* Keep what a traversal of key recorded (nothing when it overflowed). */
void tn_ipt_vcache_store(struct tn_ipt_vcache *vc, const struct tn_ipt_vc_key *k, const struct tn_ipt_vc_rec *rec,
			 int verdict);
/* Lookups that found the flow, that did not, and packets that went past
 * a cache standing aside (see tn_ipt_vcache_active). */
void tn_ipt_vcache_stats(const struct tn_ipt_vcache *vc, uint64_t *hits, uint64_t *misses, uint64_t *bypassed);
/* Is the cache taking lookups now?  False for a while after a window of
 * lookups that mostly missed (more distinct keys than slots, in turn). */
bool tn_ipt_vcache_active(struct tn_ipt_vcache *vc);

#endif
