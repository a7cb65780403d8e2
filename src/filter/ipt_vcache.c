/* The verdict cache; see ipt_vcache.h. */
#include "filter/ipt_vcache.h"

#include <stdlib.h>

#include "filter/nf.h"

/* Direct-mapped, 16,384 entries of 64 bytes (1 MB of address space per
 * cached table's ruleset, from calloc: pages are touched only by the
 * slots flows land in).  Sized for a gateway's working set: with 10,000
 * flows arriving round-robin a 1,024-entry cache missed every time. */
#define VC_SIZE 16384u

struct vc_entry {
	struct tn_ipt_vc_key k;
	bool used;
	uint8_t verdict;
	uint8_t n;     /* counters to charge */
	uint64_t *ctr[TN_IPT_VC_CTRS];
};

struct tn_ipt_vcache {
	uint64_t hits, misses;
	struct vc_entry e[VC_SIZE];
};

/* The matches whose outcome the key decides, and the targets that only
 * decide where the traversal goes. */
static uint8_t rule_mask(const struct tn_ipt_rule *r)
{
	uint8_t m = TN_IPT_VC_ON;
	for (unsigned i = 0; i < r->nmods; i++) {
		switch (r->mods[i]) {
		case TN_IPT_M_TCP:
			if (r->has_flags)
				m |= TN_IPT_VC_FLAGS;
			break;
		case TN_IPT_M_UDP:
		case TN_IPT_M_ICMP:
		case TN_IPT_M_MULTIPORT:
		case TN_IPT_M_COMMENT:
			break;
		case TN_IPT_M_CONNTRACK:
		case TN_IPT_M_STATE:
			m |= TN_IPT_VC_CT;
			break;
		case TN_IPT_M_MARK:
			m |= TN_IPT_VC_MARK;
			break;
		default: /* length, limit, hashlimit, set */
			return 0;
		}
	}
	switch (r->target) {
	case TN_IPT_T_NONE:
	case TN_IPT_T_ACCEPT:
	case TN_IPT_T_DROP:
	case TN_IPT_T_RETURN:
	case TN_IPT_T_JUMP:
	case TN_IPT_T_GOTO:
		return m;
	default:
		return 0;
	}
}

uint8_t tn_ipt_vcache_mask(const struct tn_ipt_table *t, int entry_chain)
{
	if (entry_chain < 0 || (uint32_t)entry_chain >= t->nchains)
		return 0;
	/* every chain reachable from the entry, by a worklist over chains */
	uint32_t n = t->nchains, *todo = malloc(sizeof(*todo) * n);
	bool *seen = calloc(n, sizeof(*seen));
	uint8_t mask = TN_IPT_VC_ON;
	uint32_t top = 0;
	if (!todo || !seen)
		mask = 0;
	else {
		todo[top++] = (uint32_t)entry_chain;
		seen[entry_chain] = true;
	}
	while (mask && top) {
		const struct tn_ipt_chain *ch = &t->chains[todo[--top]];
		for (uint32_t i = 0; mask && i < ch->nrules; i++) {
			const struct tn_ipt_rule *r = &ch->rules[i];
			uint8_t m = rule_mask(r);
			mask = m ? mask | m : 0;
			int j = r->jump_idx;
			if (mask && (r->target == TN_IPT_T_JUMP || r->target == TN_IPT_T_GOTO) && j >= 0 &&
			    (uint32_t)j < n && !seen[j]) {
				seen[j] = true;
				todo[top++] = (uint32_t)j;
			}
		}
	}
	free(todo);
	free(seen);
	return mask;
}

struct tn_ipt_vcache *tn_ipt_vcache_new(void)
{
	return calloc(1, sizeof(struct tn_ipt_vcache));
}

void tn_ipt_vcache_free(struct tn_ipt_vcache *vc)
{
	free(vc);
}

/* Multiplicative hashing of the key's words, then a fold and one more
 * multiply: without the fold an input bit only moves product bits at or
 * above its own position, and the low bits the mask keeps never saw the
 * high halves (flows differing in the source port shared a slot). */
static uint32_t hash_words(uint32_t src, uint32_t dst, uint32_t ports, uint32_t proto, uint32_t ifs, uint32_t mark)
{
	uint64_t a = (uint64_t)src << 32 | dst, b = (uint64_t)ports << 32 | proto, c = (uint64_t)ifs << 32 | mark;
	uint64_t x = (a * 0x9e3779b97f4a7c15ull) ^ (b * 0xc2b2ae3d27d4eb4full) ^ (c * 0x165667b19e3779f9ull);
	x ^= x >> 32;
	return (uint32_t)((x * 0x27d4eb2f165667c5ull) >> 32);
}

static uint32_t key_hash(const struct tn_ipt_vc_key *k)
{
	return hash_words(k->src, k->dst, k->ports, k->proto, k->ifs, k->mark);
}

int tn_ipt_vcache_lookup(struct tn_ipt_vcache *vc, const struct tn_ipt_pkt *pi, int hook, int in_ifindex,
			 int out_ifindex, uint8_t mask, struct tn_ipt_vc_key *k)
{
	/* The key stays in registers, hashed and compared from there, and is
	 * stored only for a miss: stored field by field and read back wide,
	 * it stalled on store forwarding (a third of the lookup in perf). */
	uint32_t flags = (mask & TN_IPT_VC_FLAGS) ? pi->tcp_flags : 0;
	uint32_t ct = (mask & TN_IPT_VC_CT) ? pi->ct : 0;
	uint32_t src = pi->src, dst = pi->dst;
	uint32_t ports = ((uint32_t)pi->sport << 16 | pi->dport) ^ ((uint32_t)pi->icmp_type << 8 | pi->icmp_code);
	uint32_t proto = pi->proto | flags << 8 | ct << 16 | (uint32_t)pi->frag << 24 | (uint32_t)pi->l4ok << 25 |
			 (uint32_t)hook << 26;
	uint32_t ifs = (uint32_t)(in_ifindex & 0xffff) << 16 | (uint32_t)(out_ifindex & 0xffff);
	uint32_t mark = (mask & TN_IPT_VC_MARK) ? pi->mark : 0;
	struct vc_entry *e = &vc->e[hash_words(src, dst, ports, proto, ifs, mark) & (VC_SIZE - 1)];
	if (!e->used || e->k.src != src || e->k.dst != dst || e->k.ports != ports || e->k.proto != proto ||
	    e->k.ifs != ifs || e->k.mark != mark) {
		vc->misses++;
		k->src = src;
		k->dst = dst;
		k->ports = ports;
		k->proto = proto;
		k->ifs = ifs;
		k->mark = mark;
		return -1;
	}
	vc->hits++;
	uint32_t len = pi->len;
	for (unsigned i = 0, n = e->n; i < n; i++) {
		e->ctr[i][0]++;
		e->ctr[i][1] += len;
	}
	return e->verdict;
}

void tn_ipt_vcache_store(struct tn_ipt_vcache *vc, const struct tn_ipt_vc_key *k, const struct tn_ipt_vc_rec *rec,
			 int verdict)
{
	if (rec->over || (verdict != TN_NF_ACCEPT && verdict != TN_NF_DROP))
		return;
	struct vc_entry *e = &vc->e[key_hash(k) & (VC_SIZE - 1)];
	e->k = *k;
	e->used = true;
	e->verdict = (uint8_t)verdict;
	e->n = rec->n;
	for (unsigned i = 0; i < rec->n; i++)
		e->ctr[i] = rec->ctr[i];
}

void tn_ipt_vcache_stats(const struct tn_ipt_vcache *vc, uint64_t *hits, uint64_t *misses)
{
	*hits = vc ? vc->hits : 0;
	*misses = vc ? vc->misses : 0;
}
