/* iptables rules: what a packet offers the matches, the matches, the
 * entry point of matching (tn_ipt_chain_match: the chain's compiled
 * classifier, ipt_cls.c, or the linear scan), token buckets for limit and
 * hashlimit, and ipset-style sets. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/stack.h"
#include "filter/ipt.h"
#include "filter/ipt_cls.h"
#include "wire/wire.h"

int tn_ipt_pkt_parse(const struct tn_pkt *p, struct tn_ipt_pkt *pi)
{
	memset(pi, 0, sizeof(*pi));
	pi->in = pi->out = "";
	const uint8_t *ip = p->data;
	uint32_t n = p->len;
	if (n < 20 || (ip[0] >> 4) != 4)
		return -1;
	uint32_t ihl = (uint32_t)(ip[0] & 0xf) * 4;
	if (ihl < 20 || ihl > n)
		return -1;
	pi->tos = ip[1];
	pi->tot_len = tn_get16(ip + 2);
	pi->id = tn_get16(ip + 4);
	pi->frag_off = tn_get16(ip + 6);
	pi->ttl = ip[8];
	pi->proto = ip[9];
	pi->src = tn_get32(ip + 12);
	pi->dst = tn_get32(ip + 16);
	pi->len = p->pkt_len;
	pi->mark = p->mark;
	pi->frag = (pi->frag_off & 0x1fff) != 0;
	if (pi->frag)
		return 0;
	const uint8_t *l4 = ip + ihl;
	uint32_t avail = n - ihl;
	if (pi->tot_len >= ihl && pi->tot_len - ihl < avail)
		avail = pi->tot_len - ihl;
	switch (pi->proto) {
	case TN_IPPROTO_TCP:
		if (avail >= 20) {
			pi->sport = tn_get16(l4);
			pi->dport = tn_get16(l4 + 2);
			pi->tcp_flags = l4[13];
			pi->l4ok = true;
		}
		break;
	case TN_IPPROTO_UDP:
		if (avail >= 8) {
			pi->sport = tn_get16(l4);
			pi->dport = tn_get16(l4 + 2);
			pi->l4ok = true;
		}
		break;
	case TN_IPPROTO_ICMP:
		if (avail >= 4) {
			pi->icmp_type = l4[0];
			pi->icmp_code = l4[1];
			pi->l4ok = true;
		}
		break;
	default:
		pi->l4ok = true;
	}
	return 0;
}

/* "eth+" matches any name starting with "eth"; otherwise exactly. */
static bool if_match(const char *rule, const char *name)
{
	size_t n = strlen(rule);
	if (n && rule[n - 1] == '+')
		return strncmp(rule, name, n - 1) == 0;
	return strcmp(rule, name) == 0;
}

static bool in_range(uint16_t v, const uint16_t r[2])
{
	return v >= r[0] && v <= r[1];
}

bool tn_ipt_bucket_take(struct tn_ipt_bucket *b, uint64_t now, uint32_t rate, uint32_t unit_s, uint32_t burst)
{
	uint64_t cost = (uint64_t)unit_s * 1000000000ull;
	uint64_t cap = cost * (burst ? burst : 1);
	if (!b->init) {
		b->init = true;
		b->credit = cap;
		b->last = now;
	} else if (now > b->last) {
		uint64_t el = now - b->last;
		b->last = now;
		if (!rate || el >= cap / rate + 1)
			b->credit = cap;
		else {
			b->credit += el * rate;
			if (b->credit > cap)
				b->credit = cap;
		}
	}
	if (b->credit >= cost) {
		b->credit -= cost;
		return true;
	}
	return false;
}

/* ---- hashlimit tables: per name, 4-way set-associative buckets ---- */
#define HL_SETS 1024
#define HL_WAYS 4

struct hl_ent {
	uint64_t key;
	struct tn_ipt_bucket b;
	bool used;
};

struct tn_ipt_hltable {
	char name[32];
	uint64_t seed;
	struct hl_ent e[HL_SETS][HL_WAYS];
};

#define HL_MAX_TABLES 32

int tn_ipt_hl_get(struct tn_ipt *ipt, const char *name)
{
	for (uint32_t i = 0; i < ipt->nhl; i++)
		if (strcmp(ipt->hl[i]->name, name) == 0)
			return (int)i;
	if (ipt->nhl >= HL_MAX_TABLES)
		return -ENOSPC;
	struct tn_ipt_hltable **nh = realloc(ipt->hl, sizeof(*nh) * (ipt->nhl + 1));
	if (!nh)
		return -ENOMEM;
	ipt->hl = nh;
	struct tn_ipt_hltable *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	snprintf(h->name, sizeof(h->name), "%s", name);
	h->seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)(ipt->nhl * 0x51ed27u);
	ipt->hl[ipt->nhl] = h;
	return (int)ipt->nhl++;
}

void tn_ipt_hl_free_all(struct tn_ipt *ipt)
{
	for (uint32_t i = 0; i < ipt->nhl; i++)
		free(ipt->hl[i]);
	free(ipt->hl);
	ipt->hl = NULL;
	ipt->nhl = 0;
}


static bool hashlimit_match(const struct tn_ipt_rule *r, const struct tn_ipt_pkt *pi, struct tn_ipt_mctx *mc)
{
	if (!mc->ipt || r->hl_idx < 0 || (uint32_t)r->hl_idx >= mc->ipt->nhl)
		return false;
	struct tn_ipt_hltable *h = mc->ipt->hl[r->hl_idx];
	uint64_t key = 0;
	if (r->hl_mode & TN_IPT_HL_SRCIP)
		key |= (uint64_t)pi->src << 32;
	if (r->hl_mode & TN_IPT_HL_DSTIP)
		key |= pi->dst;
	key ^= (uint64_t)r->hl_mode << 62; /* different modes never share a bucket */
	struct hl_ent *set = h->e[tn_hash_mix(key ^ h->seed) % HL_SETS];
	struct hl_ent *e = NULL, *victim = &set[0];
	for (int w = 0; w < HL_WAYS; w++) {
		if (set[w].used && set[w].key == key) {
			e = &set[w];
			break;
		}
		if (!set[w].used)
			victim = &set[w];
		else if (victim->used && set[w].b.last < victim->b.last)
			victim = &set[w];
	}
	uint64_t expire = (uint64_t)(r->hl_expire_ms ? r->hl_expire_ms : 10000) * 1000000ull;
	if (e && e->b.last + expire < mc->now)
		e->b.init = false; /* expired: a fresh bucket, as a new entry */
	if (!e) {
		e = victim;
		memset(e, 0, sizeof(*e));
		e->used = true;
		e->key = key;
	}
	bool ok = tn_ipt_bucket_take(&e->b, mc->now, r->hl_rate, r->hl_unit, r->hl_burst);
	return r->hl_above ? !ok : ok;
}

static unsigned ct_of(const struct tn_ipt_pkt *pi)
{
	return pi->ct ? pi->ct : TN_IPT_CT_UNTRACKED;
}

/* Port-carrying matches need the L4 header: none on a later fragment
 * (no match), a truncated one drops the packet (Linux's hotdrop). */
static bool l4_ready(const struct tn_ipt_pkt *pi, struct tn_ipt_mctx *mc)
{
	if (pi->frag)
		return false;
	if (!pi->l4ok) {
		mc->hotdrop = true;
		return false;
	}
	return true;
}

bool tn_ipt_rule_match(const struct tn_ipt_rule *r, const struct tn_ipt_pkt *pi, struct tn_ipt_mctx *mc)
{
	uint32_t inv = r->inv;
	if ((((pi->src & r->smsk) == r->src)) == !!(inv & TN_IPT_INV_SRC))
		return false;
	if ((((pi->dst & r->dmsk) == r->dst)) == !!(inv & TN_IPT_INV_DST))
		return false;
	if (r->in[0] && if_match(r->in, pi->in) == !!(inv & TN_IPT_INV_IN))
		return false;
	if (r->out[0] && if_match(r->out, pi->out) == !!(inv & TN_IPT_INV_OUT))
		return false;
	if (r->proto && (pi->proto == r->proto) == !!(inv & TN_IPT_INV_PROTO))
		return false;
	for (unsigned i = 0; i < r->nmods; i++) {
		bool m = true;
		switch (r->mods[i]) {
		case TN_IPT_M_TCP:
		case TN_IPT_M_UDP:
			if (!l4_ready(pi, mc))
				return false;
			if (r->has_sport && in_range(pi->sport, r->sport) == !!(inv & TN_IPT_INV_SPORT))
				return false;
			if (r->has_dport && in_range(pi->dport, r->dport) == !!(inv & TN_IPT_INV_DPORT))
				return false;
			if (r->has_flags && ((pi->tcp_flags & r->flg_mask) == r->flg_cmp) == !!(inv & TN_IPT_INV_FLAGS))
				return false;
			continue;
		case TN_IPT_M_ICMP:
			if (!l4_ready(pi, mc))
				return false;
			m = r->icmp_type == 255 ||
			    (pi->icmp_type == r->icmp_type && pi->icmp_code >= r->icmp_code[0] &&
			     pi->icmp_code <= r->icmp_code[1]);
			if (m == !!(inv & TN_IPT_INV_ICMP))
				return false;
			continue;
		case TN_IPT_M_MULTIPORT:
			if (!l4_ready(pi, mc))
				return false;
			m = false;
			for (unsigned k = 0; k < r->mp_n && !m; k++)
				m = ((r->mp_kind & TN_IPT_MP_SRC) && in_range(pi->sport, r->mp[k])) ||
				    ((r->mp_kind & TN_IPT_MP_DST) && in_range(pi->dport, r->mp[k]));
			if (m == !!(inv & TN_IPT_INV_MPORT))
				return false;
			continue;
		case TN_IPT_M_CONNTRACK:
			if (((ct_of(pi) & r->ctstate) != 0) == !!(inv & TN_IPT_INV_CTSTATE))
				return false;
			continue;
		case TN_IPT_M_STATE:
			if (((ct_of(pi) & r->state) != 0) == !!(inv & TN_IPT_INV_STATE))
				return false;
			continue;
		case TN_IPT_M_MARK:
			if (((pi->mark & r->mark_mask) == r->mark) == !!(inv & TN_IPT_INV_MARK))
				return false;
			continue;
		case TN_IPT_M_LENGTH:
			if (in_range(pi->tot_len, r->len) == !!(inv & TN_IPT_INV_LENGTH))
				return false;
			continue;
		case TN_IPT_M_LIMIT:
			if (!tn_ipt_bucket_take((struct tn_ipt_bucket *)&r->lim, mc->now, r->lim_rate, r->lim_unit,
						r->lim_burst))
				return false;
			continue;
		case TN_IPT_M_HASHLIMIT:
			if (!hashlimit_match(r, pi, mc))
				return false;
			continue;
		case TN_IPT_M_SET:
			m = mc->ipt && tn_ipset_match(mc->ipt, r->set_idx, r->set_dirs, r->set_ndirs, pi);
			if (m == !!(inv & TN_IPT_INV_SET))
				return false;
			continue;
		case TN_IPT_M_COMMENT:
		default:
			continue;
		}
	}
	return true;
}

int tn_ipt_chain_match(const struct tn_ipt_table *t, uint32_t c, uint32_t start, const struct tn_ipt_pkt *pi,
		       struct tn_ipt_mctx *mc)
{
	if (mc->cls && mc->cls[c])
		return tn_ipt_cls_match(mc->cls[c], &t->chains[c], start, pi, mc);
	return tn_ipt_chain_match_linear(&t->chains[c], start, pi, mc);
}

int tn_ipt_chain_match_linear(const struct tn_ipt_chain *ch, uint32_t start, const struct tn_ipt_pkt *pi,
			      struct tn_ipt_mctx *mc)
{
	for (uint32_t i = start; i < ch->nrules; i++) {
		if (tn_ipt_rule_match(&ch->rules[i], pi, mc))
			return (int)i;
		if (mc->hotdrop)
			return -1;
	}
	return -1;
}

/* ---- sets ---- */
#define SET_MAXELEM 65536u
#define EMPTY_KEY UINT64_MAX
#define TOMB_KEY (UINT64_MAX - 1)

struct tn_ipt_set {
	char name[32];
	int type;
	uint64_t *keys;        /* open addressing, linear probing */
	uint32_t cap, nelem, nused;
	uint32_t plen_n[33];   /* hash:net: entries per prefix length */
	uint8_t *bitmap;       /* bitmap:port */
	uint16_t lo, hi;       /* bitmap:port range */
	uint32_t refs;         /* rules in applied rulesets naming it */
};

static uint32_t set_slot(const struct tn_ipt_set *st, uint64_t key)
{
	return (uint32_t)(tn_hash_mix(key) & (st->cap - 1));
}

static bool set_has(const struct tn_ipt_set *st, uint64_t key)
{
	if (!st->cap)
		return false;
	for (uint32_t i = set_slot(st, key), n = 0; n < st->cap; i = (i + 1) & (st->cap - 1), n++) {
		if (st->keys[i] == EMPTY_KEY)
			return false;
		if (st->keys[i] == key)
			return true;
	}
	return false;
}

static int set_grow(struct tn_ipt_set *st)
{
	uint32_t ncap = st->cap ? st->cap * 2 : 64;
	if (st->nelem * 2 < st->cap)
		ncap = st->cap; /* only tombstones to clear */
	uint64_t *nk = malloc(sizeof(*nk) * ncap);
	if (!nk)
		return -ENOMEM;
	for (uint32_t i = 0; i < ncap; i++)
		nk[i] = EMPTY_KEY;
	uint64_t *old = st->keys;
	uint32_t ocap = st->cap;
	st->keys = nk;
	st->cap = ncap;
	st->nused = st->nelem;
	for (uint32_t i = 0; i < ocap; i++) {
		if (old[i] >= TOMB_KEY)
			continue;
		uint32_t j = set_slot(st, old[i]);
		while (nk[j] != EMPTY_KEY)
			j = (j + 1) & (ncap - 1);
		nk[j] = old[i];
	}
	free(old);
	return 0;
}

/* 1 added, 0 already there, <0 error. */
static int set_insert(struct tn_ipt_set *st, uint64_t key)
{
	if (set_has(st, key))
		return 0;
	if (st->nelem >= SET_MAXELEM)
		return -ENOSPC;
	if ((st->nused + 1) * 2 > st->cap && set_grow(st) < 0)
		return -ENOMEM;
	uint32_t i = set_slot(st, key);
	while (st->keys[i] < TOMB_KEY)
		i = (i + 1) & (st->cap - 1);
	if (st->keys[i] == EMPTY_KEY)
		st->nused++;
	st->keys[i] = key;
	st->nelem++;
	return 1;
}

static int set_remove(struct tn_ipt_set *st, uint64_t key)
{
	if (!st->cap)
		return 0;
	for (uint32_t i = set_slot(st, key), n = 0; n < st->cap; i = (i + 1) & (st->cap - 1), n++) {
		if (st->keys[i] == EMPTY_KEY)
			return 0;
		if (st->keys[i] == key) {
			st->keys[i] = TOMB_KEY;
			st->nelem--;
			return 1;
		}
	}
	return 0;
}

static uint32_t plen_mask(unsigned plen)
{
	return plen ? ~0u << (32 - plen) : 0;
}

int tn_ipset_find(struct tn_ipt *ipt, const char *name)
{
	for (uint32_t i = 0; i < ipt->nsets; i++)
		if (strcmp(ipt->sets[i]->name, name) == 0)
			return (int)i;
	return -1;
}

void tn_ipset_ref(struct tn_ipt *ipt, int idx)
{
	ipt->sets[idx]->refs++;
}

void tn_ipset_unref(struct tn_ipt *ipt, int idx)
{
	if (ipt->sets[idx]->refs)
		ipt->sets[idx]->refs--;
}

static void set_free(struct tn_ipt_set *st)
{
	if (!st)
		return;
	free(st->keys);
	free(st->bitmap);
	free(st);
}

void tn_ipset_free_all(struct tn_ipt *ipt)
{
	for (uint32_t i = 0; i < ipt->nsets; i++)
		set_free(ipt->sets[i]);
	free(ipt->sets);
	ipt->sets = NULL;
	ipt->nsets = 0;
}

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -1)

static int parse_u16(const char *s, uint16_t *v)
{
	char *e;
	errno = 0;
	unsigned long x = strtoul(s, &e, 10);
	if (!*s || *e || errno || x > 65535 || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	*v = (uint16_t)x;
	return 0;
}

/* A.B.C.D or A.B.C.D/N, strictly. */
static int parse_addr(const char *s, uint32_t *addr, int *plen)
{
	unsigned a[4];
	int n = 0, len = -1;
	const char *p = s;
	for (int i = 0; i < 4; i++) {
		if (*p < '0' || *p > '9')
			return -1;
		unsigned v = 0;
		int digits = 0;
		while (*p >= '0' && *p <= '9' && digits < 4) {
			v = v * 10 + (unsigned)(*p++ - '0');
			digits++;
		}
		if (v > 255 || digits > 3)
			return -1;
		a[i] = v;
		if (i < 3 && *p++ != '.')
			return -1;
		n++;
	}
	if (*p == '/') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		len = 0;
		while (*p >= '0' && *p <= '9' && len <= 32)
			len = len * 10 + (*p++ - '0');
		if (len > 32)
			return -1;
	}
	if (*p || n != 4)
		return -1;
	*addr = a[0] << 24 | a[1] << 16 | a[2] << 8 | a[3];
	if (plen)
		*plen = len;
	else if (len >= 0)
		return -1;
	return 0;
}

int tn_ipset_create(struct tn_stack *s, const char *name, const char *type, char *err, size_t errlen)
{
	struct tn_ipt *ipt = tn_ipt_get(s);
	if (!ipt)
		return ERR("ipset: out of memory");
	if (!name[0] || strlen(name) >= 32)
		return ERR("ipset v7: Syntax error: setname '%s' is longer than 31 characters", name);
	if (tn_ipset_find(ipt, name) >= 0)
		return ERR("ipset v7: Set cannot be created: set with the same name already exists");
	int ty;
	if (strcmp(type, "hash:ip") == 0)
		ty = TN_IPSET_HASH_IP;
	else if (strcmp(type, "hash:net") == 0)
		ty = TN_IPSET_HASH_NET;
	else if (strncmp(type, "bitmap:port", 11) == 0)
		ty = TN_IPSET_BITMAP_PORT;
	else
		return ERR("ipset v7: Syntax error: typename '%s' is unknown (hash:ip, hash:net, bitmap:port)", type);
	struct tn_ipt_set *st = calloc(1, sizeof(*st));
	if (!st)
		return ERR("ipset: out of memory");
	snprintf(st->name, sizeof(st->name), "%s", name);
	st->type = ty;
	if (ty == TN_IPSET_BITMAP_PORT) {
		st->lo = 0;
		st->hi = 65535;
		const char *r = strstr(type, " range ");
		if (r) {
			char a[16], b[16];
			const char *dash = strchr(r + 7, '-');
			if (!dash || dash - (r + 7) >= 16 || strlen(dash + 1) >= 16) {
				free(st);
				return ERR("ipset v7: Syntax error: bad range \"%s\"", r + 7);
			}
			memcpy(a, r + 7, (size_t)(dash - (r + 7)));
			a[dash - (r + 7)] = 0;
			snprintf(b, sizeof(b), "%s", dash + 1);
			if (parse_u16(a, &st->lo) < 0 || parse_u16(b, &st->hi) < 0 || st->lo > st->hi) {
				free(st);
				return ERR("ipset v7: Syntax error: bad range \"%s\"", r + 7);
			}
		}
		st->bitmap = calloc(8192, 1);
		if (!st->bitmap) {
			free(st);
			return ERR("ipset: out of memory");
		}
	}
	struct tn_ipt_set **ns = realloc(ipt->sets, sizeof(*ns) * (ipt->nsets + 1));
	if (!ns) {
		set_free(st);
		return ERR("ipset: out of memory");
	}
	ipt->sets = ns;
	ipt->sets[ipt->nsets++] = st;
	return 0;
}

int tn_ipset_destroy(struct tn_stack *s, const char *name, char *err, size_t errlen)
{
	struct tn_ipt *ipt = tn_ipt_get(s);
	if (!ipt)
		return ERR("ipset: out of memory");
	int i = tn_ipset_find(ipt, name);
	if (i < 0)
		return ERR("ipset v7: The set with the given name does not exist");
	if (ipt->sets[i]->refs)
		return ERR("ipset v7: Set cannot be destroyed: it is in use by a kernel component");
	/* Rules hold set indices: keep the slot order by swapping only when
	 * nothing references any set after it (refs are all zero there). */
	for (uint32_t k = (uint32_t)i + 1; k < ipt->nsets; k++)
		if (ipt->sets[k]->refs)
			return ERR("ipset v7: Set cannot be destroyed while a later set is in use (tern)");
	set_free(ipt->sets[i]);
	memmove(&ipt->sets[i], &ipt->sets[i + 1], sizeof(*ipt->sets) * (ipt->nsets - (uint32_t)i - 1));
	ipt->nsets--;
	return 0;
}

int tn_ipset_add(struct tn_stack *s, const char *name, const char *elem, bool del, char *err, size_t errlen)
{
	struct tn_ipt *ipt = tn_ipt_get(s);
	if (!ipt)
		return ERR("ipset: out of memory");
	int i = tn_ipset_find(ipt, name);
	if (i < 0)
		return ERR("ipset v7: The set with the given name does not exist");
	struct tn_ipt_set *st = ipt->sets[i];
	if (st->type == TN_IPSET_BITMAP_PORT) {
		uint16_t a, b;
		char buf[32];
		snprintf(buf, sizeof(buf), "%s", elem);
		char *dash = strchr(buf, '-');
		if (dash)
			*dash = 0;
		if (parse_u16(buf, &a) < 0 || (dash ? parse_u16(dash + 1, &b) : (b = a, 0)) < 0 || a > b)
			return ERR("ipset v7: Syntax error: '%s' is invalid as number", elem);
		if (a < st->lo || b > st->hi)
			return ERR("ipset v7: Element is out of the range of the set");
		for (uint32_t p = a; p <= b; p++) {
			if (del)
				st->bitmap[p >> 3] &= (uint8_t)~(1u << (p & 7));
			else
				st->bitmap[p >> 3] |= (uint8_t)(1u << (p & 7));
		}
		return 0;
	}
	uint32_t addr;
	int plen;
	if (parse_addr(elem, &addr, &plen) < 0)
		return ERR("ipset v7: Syntax error: cannot parse %s: resolving to IPv4 address failed", elem);
	if (st->type == TN_IPSET_HASH_NET) {
		if (plen < 0)
			plen = 32;
		if (plen == 0)
			return ERR("ipset v7: The value of the CIDR parameter of the IP address is invalid");
		uint64_t key = (uint64_t)(addr & plen_mask((unsigned)plen)) << 8 | (unsigned)plen;
		int rc = del ? set_remove(st, key) : set_insert(st, key);
		if (rc < 0)
			return ERR("ipset v7: Hash is full, cannot add more elements");
		if (rc == 1)
			st->plen_n[plen] += del ? (uint32_t)-1 : 1u;
		return 0;
	}
	/* hash:ip: a prefix adds (or deletes) each address in it */
	if (plen < 0)
		plen = 32;
	if (plen < 16)
		return ERR("ipset v7: The value of the CIDR parameter of the IP address is invalid");
	uint32_t base = addr & plen_mask((unsigned)plen), count = 1u << (32 - plen);
	for (uint32_t k = 0; k < count; k++) {
		uint64_t key = (uint64_t)(base + k) << 8 | 32;
		int rc = del ? set_remove(st, key) : set_insert(st, key);
		if (rc < 0)
			return ERR("ipset v7: Hash is full, cannot add more elements");
	}
	return 0;
}

static bool set_has_addr(const struct tn_ipt_set *st, uint32_t a)
{
	if (st->type == TN_IPSET_HASH_IP)
		return set_has(st, (uint64_t)a << 8 | 32);
	for (int plen = 32; plen >= 1; plen--)
		if (st->plen_n[plen] && set_has(st, (uint64_t)(a & plen_mask((unsigned)plen)) << 8 | (unsigned)plen))
			return true;
	return false;
}

int tn_ipset_test(struct tn_stack *s, const char *name, const char *elem, char *err, size_t errlen)
{
	struct tn_ipt *ipt = tn_ipt_get(s);
	int i = ipt ? tn_ipset_find(ipt, name) : -1;
	if (i < 0)
		return ERR("ipset v7: The set with the given name does not exist");
	struct tn_ipt_set *st = ipt->sets[i];
	if (st->type == TN_IPSET_BITMAP_PORT) {
		uint16_t p;
		if (parse_u16(elem, &p) < 0)
			return ERR("ipset v7: Syntax error: '%s' is invalid as number", elem);
		return (st->bitmap[p >> 3] >> (p & 7)) & 1;
	}
	uint32_t addr;
	int plen;
	if (parse_addr(elem, &addr, &plen) < 0)
		return ERR("ipset v7: Syntax error: cannot parse %s: resolving to IPv4 address failed", elem);
	return set_has_addr(st, addr);
}

bool tn_ipset_match(struct tn_ipt *ipt, int idx, const uint8_t *dirs, unsigned ndirs, const struct tn_ipt_pkt *pi)
{
	if (idx < 0 || (uint32_t)idx >= ipt->nsets || ndirs < 1)
		return false;
	const struct tn_ipt_set *st = ipt->sets[idx];
	bool src = dirs[0] == TN_IPT_MP_SRC;
	if (st->type == TN_IPSET_BITMAP_PORT) {
		if (pi->frag || !pi->l4ok || (pi->proto != TN_IPPROTO_TCP && pi->proto != TN_IPPROTO_UDP))
			return false;
		uint16_t p = src ? pi->sport : pi->dport;
		return (st->bitmap[p >> 3] >> (p & 7)) & 1;
	}
	return set_has_addr(st, src ? pi->src : pi->dst);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void set_list_one(const struct tn_ipt_set *st, FILE *out)
{
	static const char *const tn[] = {"hash:ip", "hash:net", "bitmap:port"};
	uint32_t n = st->nelem;
	if (st->type == TN_IPSET_BITMAP_PORT) {
		n = 0;
		for (uint32_t p = st->lo; p <= st->hi; p++)
			n += (st->bitmap[p >> 3] >> (p & 7)) & 1;
	}
	fprintf(out, "Name: %s\nType: %s\nRevision: 0\n", st->name, tn[st->type]);
	if (st->type == TN_IPSET_BITMAP_PORT)
		fprintf(out, "Header: range %u-%u\n", st->lo, st->hi);
	else
		fprintf(out, "Header: family inet hashsize %u maxelem %u\n", st->cap ? st->cap : 64, SET_MAXELEM);
	fprintf(out, "Size in memory: %zu\nReferences: %u\nNumber of entries: %u\nMembers:\n",
		sizeof(*st) + st->cap * sizeof(uint64_t) + (st->bitmap ? 8192u : 0u), st->refs, n);
	if (st->type == TN_IPSET_BITMAP_PORT) {
		for (uint32_t p = st->lo; p <= st->hi; p++)
			if ((st->bitmap[p >> 3] >> (p & 7)) & 1)
				fprintf(out, "%u\n", p);
		return;
	}
	uint64_t *k = malloc(sizeof(*k) * (st->nelem + 1));
	if (!k)
		return;
	uint32_t m = 0;
	for (uint32_t i = 0; i < st->cap; i++)
		if (st->keys[i] < TOMB_KEY)
			k[m++] = st->keys[i];
	qsort(k, m, sizeof(*k), cmp_u64);
	for (uint32_t i = 0; i < m; i++) {
		uint32_t a = (uint32_t)(k[i] >> 8);
		unsigned plen = (unsigned)(k[i] & 0xff);
		fprintf(out, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
		if (st->type == TN_IPSET_HASH_NET)
			fprintf(out, "/%u", plen);
		fputc('\n', out);
	}
	free(k);
}

void tn_ipset_list(struct tn_stack *s, const char *name, FILE *out)
{
	struct tn_ipt *ipt = tn_ipt_get(s);
	if (!ipt)
		return;
	for (uint32_t i = 0; i < ipt->nsets; i++) {
		if (name && strcmp(name, ipt->sets[i]->name) != 0)
			continue;
		if (!name && i)
			fputc('\n', out);
		set_list_one(ipt->sets[i], out);
	}
}
