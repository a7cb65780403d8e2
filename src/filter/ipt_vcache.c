/* The verdict cache; see ipt_vcache.h. */
#include "filter/ipt_vcache.h"

#include <stdlib.h>

#include "core/hash.h"
#include "filter/nf.h"

/* Direct-mapped, 16,384 entries of 64 bytes (1 MB of address space per
 * cached table's ruleset, from calloc: pages are touched only by the
 * slots keys land in).  Keys hold only what the rules test, so many flows
 * share an entry; 16,384 distinct keys arriving in turn would miss on
 * about 37% of them (slot collisions), fewer keys much less. */
#define VC_SIZE 16384u

struct vc_entry {
	struct tn_ipt_vc_key k;
	bool used;
	uint8_t verdict;
	uint8_t n;     /* counters to charge */
	uint64_t *ctr[TN_IPT_VC_CTRS];
};

/* More distinct keys than the cache holds, arriving in turn, make it
 * miss most of the time, and a miss costs the lookup (a cache line of a
 * megabyte table) on top of the traversal, whose own tables the cache's
 * lines have pushed out: slower than no cache.  So each window of
 * lookups is judged, and after one that missed more than a quarter of the
 * time the cache stands aside for VC_BYPASS packets, then tries again. */
#define VC_WINDOW 4096u
#define VC_BYPASS 65536u

struct tn_ipt_vcache {
	uint64_t hits, misses, bypassed;
	uint32_t win_lookups, win_misses;
	uint32_t bypass_left;
	struct vc_entry e[VC_SIZE];
};

/* What rule r makes the key hold (f), or false when its outcome is not a
 * function of a key (a per-packet test) or its target does more than
 * decide where the traversal goes. */
static bool rule_fields(const struct tn_ipt_rule *r, struct tn_ipt_vc_fields *f)
{
	f->smsk |= r->smsk;
	f->dmsk |= r->dmsk;
	if (r->in[0])
		f->use |= TN_IPT_VC_IN;
	if (r->out[0])
		f->use |= TN_IPT_VC_OUT;
	if (r->proto)
		f->use |= TN_IPT_VC_PROTO;
	for (unsigned i = 0; i < r->nmods; i++) {
		switch (r->mods[i]) {
		case TN_IPT_M_TCP:
		case TN_IPT_M_UDP:
			f->use |= TN_IPT_VC_PROTO | (r->has_sport ? TN_IPT_VC_SPORT : 0) |
				  (r->has_dport ? TN_IPT_VC_DPORT : 0) | (r->has_flags ? TN_IPT_VC_FLAGS : 0);
			break;
		case TN_IPT_M_MULTIPORT:
			f->use |= TN_IPT_VC_PROTO | ((r->mp_kind & TN_IPT_MP_SRC) ? TN_IPT_VC_SPORT : 0) |
				  ((r->mp_kind & TN_IPT_MP_DST) ? TN_IPT_VC_DPORT : 0);
			break;
		case TN_IPT_M_ICMP:
			f->use |= TN_IPT_VC_PROTO | TN_IPT_VC_ICMP;
			break;
		case TN_IPT_M_COMMENT:
			break;
		case TN_IPT_M_CONNTRACK:
		case TN_IPT_M_STATE:
			f->use |= TN_IPT_VC_CT;
			break;
		case TN_IPT_M_MARK:
			f->use |= TN_IPT_VC_MARK;
			break;
		default: /* length, limit, hashlimit, set */
			return false;
		}
	}
	switch (r->target) {
	case TN_IPT_T_NONE:
	case TN_IPT_T_ACCEPT:
	case TN_IPT_T_DROP:
	case TN_IPT_T_RETURN:
	case TN_IPT_T_JUMP:
	case TN_IPT_T_GOTO:
		return true;
	default:
		return false;
	}
}

struct tn_ipt_vc_fields tn_ipt_vcache_fields(const struct tn_ipt_table *t, int entry_chain)
{
	struct tn_ipt_vc_fields f = {.use = TN_IPT_VC_ON}, none = {0};
	if (entry_chain < 0 || (uint32_t)entry_chain >= t->nchains)
		return none;
	/* every chain reachable from the entry, by a worklist over chains */
	uint32_t n = t->nchains, *todo = malloc(sizeof(*todo) * n), top = 0;
	bool *seen = calloc(n, sizeof(*seen)), ok = todo && seen;
	if (ok) {
		todo[top++] = (uint32_t)entry_chain;
		seen[entry_chain] = true;
	}
	while (ok && top) {
		const struct tn_ipt_chain *ch = &t->chains[todo[--top]];
		for (uint32_t i = 0; ok && i < ch->nrules; i++) {
			const struct tn_ipt_rule *r = &ch->rules[i];
			ok = rule_fields(r, &f);
			int j = r->jump_idx;
			if (ok && (r->target == TN_IPT_T_JUMP || r->target == TN_IPT_T_GOTO) && j >= 0 &&
			    (uint32_t)j < n && !seen[j]) {
				seen[j] = true;
				todo[top++] = (uint32_t)j;
			}
		}
	}
	free(todo);
	free(seen);
	return ok ? f : none;
}

struct tn_ipt_vcache *tn_ipt_vcache_new(void)
{
	return calloc(1, sizeof(struct tn_ipt_vcache));
}

void tn_ipt_vcache_free(struct tn_ipt_vcache *vc)
{
	free(vc);
}

/* Multiplicative hashing of the key's words, finished by tn_hash_fold32
 * (without it flows differing in the source port shared a slot; with it,
 * 10,000 flows on consecutive ports collide as a uniform hash would). */
static uint32_t hash_words(uint32_t src, uint32_t dst, uint32_t ports, uint32_t proto, uint32_t ifs, uint32_t mark)
{
	uint64_t a = (uint64_t)src << 32 | dst, b = (uint64_t)ports << 32 | proto, c = (uint64_t)ifs << 32 | mark;
	return tn_hash_fold32((a * 0x9e3779b97f4a7c15ull) ^ (b * 0xc2b2ae3d27d4eb4full) ^ (c * 0x165667b19e3779f9ull));
}

static uint32_t key_hash(const struct tn_ipt_vc_key *k)
{
	return hash_words(k->src, k->dst, k->ports, k->proto, k->ifs, k->mark);
}

bool tn_ipt_vcache_active(struct tn_ipt_vcache *vc)
{
	if (!vc->bypass_left)
		return true;
	vc->bypass_left--;
	vc->bypassed++;
	return false;
}

/* One lookup into the window; judge the window when it is full. */
static void window_count(struct tn_ipt_vcache *vc, bool miss)
{
	vc->win_misses += miss;
	if (++vc->win_lookups < VC_WINDOW)
		return;
	if (vc->win_misses > VC_WINDOW / 4)
		vc->bypass_left = VC_BYPASS;
	vc->win_lookups = vc->win_misses = 0;
}

int tn_ipt_vcache_lookup(struct tn_ipt_vcache *vc, const struct tn_ipt_pkt *pi, int hook, int in_ifindex,
			 int out_ifindex, const struct tn_ipt_vc_fields *f, struct tn_ipt_vc_key *k)
{
	/* The key stays in registers, hashed and compared from there, and is
	 * stored only for a miss: stored field by field and read back wide,
	 * it stalled on store forwarding (a third of the lookup in perf). */
	uint16_t u = f->use;
	uint32_t flags = (u & TN_IPT_VC_FLAGS) ? pi->tcp_flags : 0;
	uint32_t ct = (u & TN_IPT_VC_CT) ? pi->ct : 0;
	uint32_t src = pi->src & f->smsk, dst = pi->dst & f->dmsk;
	uint32_t ports = ((u & TN_IPT_VC_SPORT) ? (uint32_t)pi->sport << 16 : 0) | ((u & TN_IPT_VC_DPORT) ? pi->dport : 0);
	if (u & TN_IPT_VC_ICMP)
		ports ^= (uint32_t)pi->icmp_type << 8 | pi->icmp_code;
	/* frag and l4ok always: later fragments never match ports, and a
	 * truncated header drops the packet (hotdrop) */
	uint32_t proto = ((u & TN_IPT_VC_PROTO) ? pi->proto : 0) | flags << 8 | ct << 16 | (uint32_t)pi->frag << 24 |
			 (uint32_t)pi->l4ok << 25 | (uint32_t)hook << 26;
	uint32_t ifs = ((u & TN_IPT_VC_IN) ? (uint32_t)(in_ifindex & 0xffff) << 16 : 0) |
		       ((u & TN_IPT_VC_OUT) ? (uint32_t)(out_ifindex & 0xffff) : 0);
	uint32_t mark = (u & TN_IPT_VC_MARK) ? pi->mark : 0;
	struct vc_entry *e = &vc->e[hash_words(src, dst, ports, proto, ifs, mark) & (VC_SIZE - 1)];
	if (!e->used || e->k.src != src || e->k.dst != dst || e->k.ports != ports || e->k.proto != proto ||
	    e->k.ifs != ifs || e->k.mark != mark) {
		vc->misses++;
		window_count(vc, true);
		k->src = src;
		k->dst = dst;
		k->ports = ports;
		k->proto = proto;
		k->ifs = ifs;
		k->mark = mark;
		return -1;
	}
	vc->hits++;
	window_count(vc, false);
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

void tn_ipt_vcache_stats(const struct tn_ipt_vcache *vc, uint64_t *hits, uint64_t *misses, uint64_t *bypassed)
{
	*hits = vc ? vc->hits : 0;
	*misses = vc ? vc->misses : 0;
	*bypassed = vc ? vc->bypassed : 0;
}
