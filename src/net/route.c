/* IPv4 routes: one hash table per prefix length, searched longest first
 * over the lengths in use; and the path-MTU cache. */
#include "net/route.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"

static uint32_t mask_of(uint8_t plen) { return plen ? ~0u << (32 - plen) : 0; }

void tn_route_init(struct tn_route_table *rt, uint64_t hash_key)
{
	memset(rt, 0, sizeof(*rt));
	rt->hash_key = hash_key;
}

void tn_route_destroy(struct tn_route_table *rt)
{
	for (int l = 0; l <= 32; l++) {
		for (uint32_t b = 0; b < rt->nbuckets[l]; b++) {
			struct tn_route *r = rt->buckets[l][b];
			while (r) {
				struct tn_route *n = r->next;
				free(r);
				r = n;
			}
		}
		free(rt->buckets[l]);
	}
	uint64_t key = rt->hash_key;
	tn_route_init(rt, key);
}

static uint32_t bucket_of(const struct tn_route_table *rt, int plen, uint32_t dst)
{
	return tn_hash2(rt->hash_key, dst, (uint64_t)plen) & (rt->nbuckets[plen] - 1);
}

/* Keep the load factor at most 1 so lookups stay O(1). */
static int grow(struct tn_route_table *rt, int plen)
{
	uint32_t old_n = rt->nbuckets[plen];
	if (old_n && rt->count[plen] < old_n)
		return 0;
	uint32_t n = old_n ? old_n * 2 : 4;
	struct tn_route **nb = calloc(n, sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	struct tn_route **ob = rt->buckets[plen];
	rt->buckets[plen] = nb;
	rt->nbuckets[plen] = n;
	for (uint32_t b = 0; b < old_n; b++) {
		struct tn_route *r = ob[b];
		while (r) {
			struct tn_route *next = r->next;
			uint32_t i = bucket_of(rt, plen, r->dst);
			r->next = nb[i];
			nb[i] = r;
			r = next;
		}
	}
	free(ob);
	return 0;
}

int tn_route_add(struct tn_route_table *rt, const struct tn_route *r)
{
	if (r->plen > 32)
		return -EINVAL;
	uint32_t dst = r->dst & mask_of(r->plen);
	if (rt->nbuckets[r->plen]) {
		for (struct tn_route *o = rt->buckets[r->plen][bucket_of(rt, r->plen, dst)]; o; o = o->next)
			if (o->dst == dst && o->metric == r->metric && o->ifindex == r->ifindex)
				return -EEXIST;
	}
	if (grow(rt, r->plen) < 0)
		return -ENOMEM;
	struct tn_route *n = malloc(sizeof(*n));
	if (!n)
		return -ENOMEM;
	*n = *r;
	n->dst = dst;
	uint32_t i = bucket_of(rt, r->plen, dst);
	n->next = rt->buckets[r->plen][i];
	rt->buckets[r->plen][i] = n;
	rt->count[r->plen]++;
	rt->lens |= 1ull << r->plen;
	rt->total++;
	return 0;
}

static void unlink_route(struct tn_route_table *rt, uint8_t plen, struct tn_route **pp)
{
	struct tn_route *r = *pp;
	*pp = r->next;
	free(r);
	rt->total--;
	if (--rt->count[plen] == 0)
		rt->lens &= ~(1ull << plen);
}

int tn_route_del(struct tn_route_table *rt, uint32_t dst, uint8_t plen, int64_t metric, int ifindex)
{
	if (plen > 32 || !rt->nbuckets[plen])
		return -ESRCH;
	dst &= mask_of(plen);
	struct tn_route **best = NULL;
	for (struct tn_route **pp = &rt->buckets[plen][bucket_of(rt, plen, dst)]; *pp; pp = &(*pp)->next) {
		struct tn_route *r = *pp;
		if (r->dst != dst || (metric >= 0 && r->metric != (uint32_t)metric) ||
		    (ifindex >= 0 && r->ifindex != ifindex))
			continue;
		if (!best || r->metric < (*best)->metric)
			best = pp;
	}
	if (!best)
		return -ESRCH;
	unlink_route(rt, plen, best);
	return 0;
}

void tn_route_flush_dev(struct tn_route_table *rt, int ifindex)
{
	for (uint8_t l = 0; l <= 32; l++) {
		for (uint32_t b = 0; b < rt->nbuckets[l]; b++) {
			struct tn_route **pp = &rt->buckets[l][b];
			while (*pp) {
				if ((*pp)->ifindex == ifindex)
					unlink_route(rt, l, pp);
				else
					pp = &(*pp)->next;
			}
		}
	}
}

const struct tn_route *tn_route_lookup(const struct tn_route_table *rt, uint32_t dst)
{
	uint64_t lens = rt->lens;
	while (lens) {
		int plen = 63 - __builtin_clzll(lens);
		lens &= ~(1ull << plen);
		uint32_t net = dst & mask_of((uint8_t)plen);
		const struct tn_route *best = NULL;
		for (const struct tn_route *r = rt->buckets[plen][bucket_of(rt, plen, net)]; r; r = r->next)
			if (r->dst == net && (!best || r->metric < best->metric))
				best = r;
		if (best)
			return best;
	}
	return NULL;
}

static int cmp_route(const void *a, const void *b)
{
	const struct tn_route *x = *(const struct tn_route *const *)a, *y = *(const struct tn_route *const *)b;
	if (x->plen != y->plen)
		return x->plen > y->plen ? -1 : 1;
	if (x->dst != y->dst)
		return x->dst < y->dst ? -1 : 1;
	return x->metric < y->metric ? -1 : x->metric > y->metric;
}

void tn_route_foreach(const struct tn_route_table *rt, void (*fn)(const struct tn_route *r, void *arg),
		      void *arg)
{
	const struct tn_route **all = malloc(sizeof(*all) * (rt->total ? rt->total : 1));
	if (!all)
		return;
	uint32_t n = 0;
	for (int l = 32; l >= 0; l--)
		for (uint32_t b = 0; b < rt->nbuckets[l]; b++)
			for (const struct tn_route *r = rt->buckets[l][b]; r; r = r->next)
				all[n++] = r;
	qsort(all, n, sizeof(*all), cmp_route);
	for (uint32_t i = 0; i < n; i++)
		fn(all[i], arg);
	free(all);
}

/* Path MTU cache: direct-mapped by destination; a newer entry evicts. */
static struct tn_pmtu_entry *pmtu_slot(const struct tn_route_table *rt, uint32_t dst)
{
	uint32_t i = tn_hash2(rt->hash_key, dst, 0x707d) % TN_PMTU_CACHE;
	return (struct tn_pmtu_entry *)&rt->pmtu[i];
}

void tn_pmtu_update(struct tn_route_table *rt, uint32_t dst, uint32_t mtu, uint64_t expires)
{
	struct tn_pmtu_entry *e = pmtu_slot(rt, dst);
	e->dst = dst;
	e->mtu = mtu;
	e->expires = expires;
}

uint32_t tn_pmtu_get(const struct tn_route_table *rt, uint32_t dst, uint64_t now)
{
	const struct tn_pmtu_entry *e = pmtu_slot(rt, dst);
	if (e->mtu == 0 || e->dst != dst || now >= e->expires)
		return 0;
	return e->mtu;
}
