/* Tuple-space search over one chain's rules; see ipt_cls.h. */
#include "filter/ipt_cls.h"

#include "core/hash.h"

#include <stdlib.h>
#include <string.h>

enum { U_PROTO = 1, U_SPORT = 2, U_DPORT = 4, U_IN = 8, U_OUT = 16 };

struct cls_key {
	uint32_t src, dst, inh, outh;
	/* whole words: a key built field by field in narrow stores and
	 * then read wide stalls on store forwarding */
	uint32_t ports; /* source port << 16 | destination port */
	uint32_t proto;
};

/* Which fields a tuple indexes: prefix masks and U_* bits. */
struct cls_desc {
	uint32_t smsk, dmsk;
	uint8_t use;
};

struct cls_bucket {
	struct cls_key k;
	uint32_t off, n; /* n == 0: empty */
};

struct cls_tuple {
	struct cls_desc d;
	uint32_t min, max;   /* lowest and highest rule index in it */
	uint32_t boff, hmask; /* its buckets: b[boff .. boff + hmask] */
};

/* The exact-match cache: a flow's key (every field any tuple indexes)
 * -> the merged candidate list the tuple search gives it from rule 0.
 * That list is a function of the key and of the classifier alone, which
 * never changes once built, so an entry never goes stale; the per-packet
 * checks (flags, state, limits...) still run on each candidate.  Sized by
 * the chain: a long chain is where a miss costs most. */
#define EMC_MIN 256u   /* entries, direct-mapped: a power of two between */
#define EMC_MAX 4096u  /* these, twice the chain's rules (48 B each) */
#define EMC_CANDS 5u
#define EMC_TOO_MANY 0xffu /* more than EMC_CANDS candidates: search */

struct cls_emc {
	struct cls_key k;
	uint32_t cand[EMC_CANDS]; /* rule indexes, ascending */
	bool used;
	uint8_t n;                /* candidates, or EMC_TOO_MANY */
};

struct tn_ipt_cls {
	uint32_t refs, nrules, ntuples;
	uint8_t uses;                /* union of the tuples' U_* */
	uint32_t smsk, dmsk;         /* union of the tuples' prefix masks */
	struct cls_tuple *t;
	struct cls_bucket *b;
	uint32_t *lists;             /* per bucket, its rules in order */
	const uint32_t **cur, **end; /* merge scratch, one per tuple */
	struct cls_emc *emc;         /* allocated on first use; NULL: none */
	uint32_t emc_mask;           /* its entries - 1 */
	uint64_t emc_hits, emc_misses;
	size_t mem;
};

static bool is_prefix(uint32_t m)
{
	return ((~m) & (~m + 1u)) == 0;
}

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;
	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h | 1; /* never 0, the wildcard's value */
}

static bool if_exact(const char *n)
{
	size_t l = strlen(n);
	return l && n[l - 1] != '+';
}

/* The fields rule r can be indexed by and its values in them.  Only
 * fields the linear match tests before anything with a side effect:
 * addresses, interfaces and the protocol are tested before every module;
 * ports only when no limit or hashlimit comes before the tcp/udp module
 * (a packet those would have charged must reach them). */
static void rule_key(const struct tn_ipt_rule *r, struct cls_desc *d, struct cls_key *k)
{
	memset(d, 0, sizeof(*d));
	memset(k, 0, sizeof(*k));
	if (!(r->inv & TN_IPT_INV_SRC) && is_prefix(r->smsk)) {
		d->smsk = r->smsk;
		k->src = r->src & r->smsk;
	}
	if (!(r->inv & TN_IPT_INV_DST) && is_prefix(r->dmsk)) {
		d->dmsk = r->dmsk;
		k->dst = r->dst & r->dmsk;
	}
	if (r->proto && !(r->inv & TN_IPT_INV_PROTO)) {
		d->use |= U_PROTO;
		k->proto = r->proto;
	}
	if (!(r->inv & TN_IPT_INV_IN) && if_exact(r->in)) {
		d->use |= U_IN;
		k->inh = name_hash(r->in);
	}
	if (!(r->inv & TN_IPT_INV_OUT) && if_exact(r->out)) {
		d->use |= U_OUT;
		k->outh = name_hash(r->out);
	}
	bool ports = false;
	for (unsigned i = 0; i < r->nmods; i++) {
		uint8_t m = r->mods[i];
		if (m == TN_IPT_M_LIMIT || m == TN_IPT_M_HASHLIMIT)
			break;
		if (m == TN_IPT_M_TCP || m == TN_IPT_M_UDP) {
			ports = true;
			break;
		}
	}
	if (!ports)
		return;
	if (r->has_sport && !(r->inv & TN_IPT_INV_SPORT) && r->sport[0] == r->sport[1]) {
		d->use |= U_SPORT;
		k->ports |= (uint32_t)r->sport[0] << 16;
	}
	if (r->has_dport && !(r->inv & TN_IPT_INV_DPORT) && r->dport[0] == r->dport[1]) {
		d->use |= U_DPORT;
		k->ports |= r->dport[0];
	}
}


/* Multiplicative hashing: one multiply per part, then tn_hash_fold32
 * (without it the mask's low bits never saw a source network or port). */
static uint32_t key_hash(const struct cls_key *k)
{
	uint64_t a = (uint64_t)k->src << 32 | k->dst;
	uint64_t b = ((uint64_t)k->inh << 32 | k->outh) ^ ((uint64_t)k->ports << 8 | k->proto);
	return tn_hash_fold32((a * 0x9e3779b97f4a7c15ull) ^ (b * 0xc2b2ae3d27d4eb4full));
}

static bool key_eq(const struct cls_key *a, const struct cls_key *b)
{
	return a->src == b->src && a->dst == b->dst && a->inh == b->inh && a->outh == b->outh && a->ports == b->ports &&
	       a->proto == b->proto;
}

static bool desc_eq(const struct cls_desc *a, const struct cls_desc *b)
{
	return a->smsk == b->smsk && a->dmsk == b->dmsk && a->use == b->use;
}

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 2;
	while (p < n)
		p <<= 1;
	return p;
}

bool tn_ipt_cls_same(const struct tn_ipt_chain *a, const struct tn_ipt_chain *b)
{
	if (a->nrules != b->nrules)
		return false;
	for (uint32_t i = 0; i < a->nrules; i++) {
		struct cls_desc da, db;
		struct cls_key ka, kb;
		rule_key(&a->rules[i], &da, &ka);
		rule_key(&b->rules[i], &db, &kb);
		if (!desc_eq(&da, &db) || !key_eq(&ka, &kb))
			return false;
	}
	return true;
}

struct tn_ipt_cls *tn_ipt_cls_build(const struct tn_ipt_chain *ch)
{
	uint32_t n = ch->nrules;
	struct tn_ipt_cls *c = calloc(1, sizeof(*c));
	struct cls_desc *rd = malloc(sizeof(*rd) * (n ? n : 1));
	struct cls_key *rk = malloc(sizeof(*rk) * (n ? n : 1));
	uint32_t *rt = malloc(sizeof(*rt) * (n ? n : 1)); /* rule -> tuple, then -> bucket */
	uint32_t thsize = pow2_at_least(2 * n + 2);
	uint32_t *th = malloc(sizeof(*th) * thsize);      /* tuple lookup: index + 1, 0 empty */
	uint32_t *cnt = NULL, *fill = NULL;
	if (!c || !rd || !rk || !rt || !th)
		goto fail;
	memset(th, 0, sizeof(*th) * thsize);
	c->refs = 1;
	c->nrules = n;
	c->t = malloc(sizeof(*c->t) * (n ? n : 1));
	cnt = calloc(n ? n : 1, sizeof(*cnt));
	if (!c->t || !cnt)
		goto fail;
	/* 1. each rule's tuple */
	for (uint32_t i = 0; i < n; i++) {
		rule_key(&ch->rules[i], &rd[i], &rk[i]);
		uint32_t h = (uint32_t)tn_hash_mix((uint64_t)rd[i].smsk << 32 ^ rd[i].dmsk ^ (uint64_t)rd[i].use << 24) & (thsize - 1);
		while (th[h] && !desc_eq(&c->t[th[h] - 1].d, &rd[i]))
			h = (h + 1) & (thsize - 1);
		if (!th[h]) {
			struct cls_tuple *t = &c->t[c->ntuples];
			memset(t, 0, sizeof(*t));
			t->d = rd[i];
			t->min = i;
			th[h] = ++c->ntuples;
			c->uses |= rd[i].use;
			c->smsk |= rd[i].smsk;
			c->dmsk |= rd[i].dmsk;
		}
		rt[i] = th[h] - 1;
		c->t[rt[i]].max = i;
		cnt[rt[i]]++;
	}
	/* 2. bucket tables, load <= 1/2 */
	uint32_t nb = 0;
	for (uint32_t k = 0; k < c->ntuples; k++) {
		uint32_t sz = pow2_at_least(2 * cnt[k]);
		c->t[k].boff = nb;
		c->t[k].hmask = sz - 1;
		nb += sz;
	}
	c->b = calloc(nb ? nb : 1, sizeof(*c->b));
	fill = calloc(nb ? nb : 1, sizeof(*fill));
	c->lists = malloc(sizeof(*c->lists) * (n ? n : 1));
	c->cur = malloc(sizeof(*c->cur) * (c->ntuples ? c->ntuples : 1));
	c->end = malloc(sizeof(*c->end) * (c->ntuples ? c->ntuples : 1));
	if (!c->b || !fill || !c->lists || !c->cur || !c->end)
		goto fail;
	for (uint32_t i = 0; i < n; i++) {
		const struct cls_tuple *t = &c->t[rt[i]];
		uint32_t h = key_hash(&rk[i]) & t->hmask;
		struct cls_bucket *b;
		for (;;) {
			b = &c->b[t->boff + h];
			if (!b->n || key_eq(&b->k, &rk[i]))
				break;
			h = (h + 1) & t->hmask;
		}
		b->k = rk[i];
		b->n++;
		rt[i] = t->boff + h;
	}
	uint32_t off = 0;
	for (uint32_t k = 0; k < nb; k++) {
		c->b[k].off = off;
		off += c->b[k].n;
	}
	for (uint32_t i = 0; i < n; i++) /* in rule order: each list is sorted */
		c->lists[c->b[rt[i]].off + fill[rt[i]]++] = i;
	c->mem = sizeof(*c) + sizeof(*c->t) * c->ntuples + sizeof(*c->b) * nb + sizeof(*c->lists) * n +
		 2 * sizeof(*c->cur) * c->ntuples;
	/* give back the unused tail of the tuple array */
	struct cls_tuple *nt = realloc(c->t, sizeof(*c->t) * (c->ntuples ? c->ntuples : 1));
	if (nt)
		c->t = nt;
	free(rd);
	free(rk);
	free(rt);
	free(th);
	free(cnt);
	free(fill);
	return c;
fail:
	free(rd);
	free(rk);
	free(rt);
	free(th);
	free(cnt);
	free(fill);
	if (c) {
		c->refs = 1;
		tn_ipt_cls_unref(c);
	}
	return NULL;
}

struct tn_ipt_cls *tn_ipt_cls_ref(struct tn_ipt_cls *c)
{
	if (c)
		c->refs++;
	return c;
}

void tn_ipt_cls_unref(struct tn_ipt_cls *c)
{
	if (!c || --c->refs)
		return;
	free(c->t);
	free(c->b);
	free(c->lists);
	free(c->cur);
	free(c->end);
	free(c->emc);
	free(c);
}

size_t tn_ipt_cls_mem(const struct tn_ipt_cls *c)
{
	return c ? c->mem + (c->emc ? sizeof(*c->emc) * (c->emc_mask + 1) : 0) : 0;
}

void tn_ipt_cls_emc_stats(const struct tn_ipt_cls *c, uint64_t *hits, uint64_t *misses)
{
	*hits = c ? c->emc_hits : 0;
	*misses = c ? c->emc_misses : 0;
}

uint32_t tn_ipt_cls_ntuples(const struct tn_ipt_cls *c)
{
	return c ? c->ntuples : 0;
}

/* The packet's key in a tuple that indexes `u` with these masks. */
static struct cls_key pkt_key(const struct tn_ipt_pkt *pi, uint32_t smsk, uint32_t dmsk, uint8_t u, uint32_t inh,
			      uint32_t outh)
{
	return (struct cls_key){
		.src = pi->src & smsk,
		.dst = pi->dst & dmsk,
		.inh = (u & U_IN) ? inh : 0,
		.outh = (u & U_OUT) ? outh : 0,
		.ports = ((u & U_SPORT) ? (uint32_t)pi->sport << 16 : 0) | ((u & U_DPORT) ? pi->dport : 0),
		.proto = (u & U_PROTO) ? pi->proto : 0,
	};
}

/* Tuple t's bucket for the packet, or NULL. */
static const struct cls_bucket *tuple_find(const struct tn_ipt_cls *c, const struct cls_tuple *t,
					   const struct tn_ipt_pkt *pi, uint32_t inh, uint32_t outh)
{
	struct cls_key key = pkt_key(pi, t->d.smsk, t->d.dmsk, t->d.use, inh, outh);
	uint32_t h = key_hash(&key) & t->hmask;
	for (;;) {
		const struct cls_bucket *b = &c->b[t->boff + h];
		if (!b->n)
			return NULL;
		if (key_eq(&b->k, &key))
			return b;
		h = (h + 1) & t->hmask;
	}
}

/* The first of the ascending l[0..n) at or after start (l[n-1] >= start). */
static const uint32_t *first_at(const uint32_t *l, uint32_t n, uint32_t start)
{
	if (*l >= start)
		return l;
	uint32_t lo = 0, hi = n - 1; /* l[lo] < start <= l[hi] */
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (l[mid] < start)
			lo = mid;
		else
			hi = mid;
	}
	return l + hi;
}

/* Probe every tuple that holds a rule at or after start; the lists found
 * go to the merge scratch (cur/end).  Their number. */
static uint32_t gather(struct tn_ipt_cls *c, uint32_t start, const struct tn_ipt_pkt *pi, uint32_t inh, uint32_t outh)
{
	uint32_t na = 0;
	for (uint32_t k = 0; k < c->ntuples; k++) {
		const struct cls_tuple *t = &c->t[k];
		if (t->max < start)
			continue;
		const struct cls_bucket *b = tuple_find(c, t, pi, inh, outh);
		if (!b)
			continue;
		const uint32_t *l = c->lists + b->off, *e = l + b->n;
		if (e[-1] < start)
			continue;
		c->cur[na] = first_at(l, b->n, start);
		c->end[na] = e;
		na++;
	}
	return na;
}

/* The smallest head of the na lists in the scratch, taken off its list. */
static uint32_t merge_next(struct tn_ipt_cls *c, uint32_t *na)
{
	uint32_t m = 0;
	for (uint32_t k = 1; k < *na; k++)
		if (*c->cur[k] < *c->cur[m])
			m = k;
	uint32_t i = *c->cur[m];
	if (++c->cur[m] == c->end[m]) {
		(*na)--;
		c->cur[m] = c->cur[*na];
		c->end[m] = c->end[*na];
	}
	return i;
}

/* The tuple search: the candidates in rule order, each checked whole. */
static int search(struct tn_ipt_cls *c, const struct tn_ipt_chain *ch, uint32_t start, const struct tn_ipt_pkt *pi,
		  struct tn_ipt_mctx *mc, uint32_t inh, uint32_t outh)
{
	uint32_t na = gather(c, start, pi, inh, outh);
	while (na) {
		uint32_t i = merge_next(c, &na);
		if (tn_ipt_rule_match(&ch->rules[i], pi, mc))
			return (int)i;
		if (mc->hotdrop)
			return -1;
	}
	return -1;
}

/* e's candidate list for the packet, from rule 0, or EMC_TOO_MANY. */
static void emc_fill(struct tn_ipt_cls *c, struct cls_emc *e, const struct tn_ipt_pkt *pi, uint32_t inh,
		     uint32_t outh)
{
	uint32_t na = gather(c, 0, pi, inh, outh), total = 0;
	for (uint32_t k = 0; k < na; k++)
		total += (uint32_t)(c->end[k] - c->cur[k]);
	if (total > EMC_CANDS) {
		e->n = EMC_TOO_MANY;
		return;
	}
	for (e->n = 0; na;)
		e->cand[e->n++] = merge_next(c, &na);
}

static struct cls_emc *emc_alloc(struct tn_ipt_cls *c)
{
	uint32_t n = pow2_at_least(2 * c->nrules);
	n = n < EMC_MIN ? EMC_MIN : n > EMC_MAX ? EMC_MAX : n;
	c->emc = calloc(n, sizeof(*c->emc));
	c->emc_mask = n - 1;
	return c->emc;
}

int tn_ipt_cls_match(struct tn_ipt_cls *c, const struct tn_ipt_chain *ch, uint32_t start, const struct tn_ipt_pkt *pi,
		     struct tn_ipt_mctx *mc)
{
	/* A truncated L4 header makes the first rule that reaches a port
	 * match drop the packet: which rule that is, only the scan knows. */
	if ((!pi->l4ok && !pi->frag) || c->nrules != ch->nrules)
		return tn_ipt_chain_match_linear(ch, start, pi, mc);
	if (start >= c->nrules)
		return -1;
	uint32_t inh = (c->uses & U_IN) ? name_hash(pi->in) : 0;
	uint32_t outh = (c->uses & U_OUT) ? name_hash(pi->out) : 0;
	/* One tuple is one probe already; the cache pays from two. */
	if (c->ntuples < 2 || (!c->emc && !emc_alloc(c)))
		return search(c, ch, start, pi, mc, inh, outh);
	struct cls_key k = pkt_key(pi, c->smsk, c->dmsk, c->uses, inh, outh);
	struct cls_emc *e = &c->emc[key_hash(&k) & c->emc_mask];
	if (e->used && key_eq(&e->k, &k)) {
		c->emc_hits++;
	} else {
		c->emc_misses++;
		e->k = k;
		e->used = true;
		emc_fill(c, e, pi, inh, outh);
	}
	if (e->n == EMC_TOO_MANY)
		return search(c, ch, start, pi, mc, inh, outh);
	for (uint32_t i = 0; i < e->n; i++) {
		uint32_t r = e->cand[i];
		if (r < start)
			continue;
		if (tn_ipt_rule_match(&ch->rules[r], pi, mc))
			return (int)r;
		if (mc->hotdrop)
			return -1;
	}
	return -1;
}
