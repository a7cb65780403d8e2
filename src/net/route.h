/* IPv4 routing table: longest-prefix match, metrics, a default route,
 * preferred source addresses, and a cache of path MTUs learned from ICMP
 * "fragmentation needed" (Linux's nexthop exceptions). */
#ifndef TN_ROUTE_H
#define TN_ROUTE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/timer.h"

struct tn_stack;

enum tn_route_type {
	TN_RT_UNICAST = 0,
	TN_RT_LOCAL,      /* one of our addresses: deliver locally */
	TN_RT_BROADCAST,  /* a subnet or limited broadcast: deliver locally */
	TN_RT_BLACKHOLE,  /* drop silently */
	TN_RT_UNREACHABLE,/* drop with ICMP host unreachable */
};

enum tn_route_proto {
	TN_RTPROT_KERNEL = 0, /* added with an address ("proto kernel") */
	TN_RTPROT_STATIC,     /* added by a user */
};

struct tn_route {
	uint32_t dst;        /* network, host order, masked */
	uint8_t plen;        /* 0..32 */
	uint8_t type;        /* enum tn_route_type */
	uint8_t proto;       /* enum tn_route_proto */
	uint8_t scope_link;  /* directly connected (no gateway) */
	uint32_t gw;         /* next hop, 0 if on-link */
	uint32_t prefsrc;    /* preferred source, 0 to choose */
	uint32_t metric;
	int ifindex;
	struct tn_route *next; /* hash chain */
};

#define TN_PMTU_CACHE 256

struct tn_pmtu_entry {
	uint32_t dst;
	uint32_t mtu;
	uint64_t expires;    /* ns */
};

struct tn_route_table {
	/* One hash table per prefix length; `lens` has bit L set when
	 * length L has any route, so lookup tries only lengths in use. */
	struct tn_route **buckets[33];
	uint32_t nbuckets[33];
	uint32_t count[33];
	uint64_t lens;
	uint32_t total;
	uint64_t hash_key;   /* per-stack random */
	struct tn_pmtu_entry pmtu[TN_PMTU_CACHE];
};

void tn_route_init(struct tn_route_table *rt, uint64_t hash_key);
void tn_route_destroy(struct tn_route_table *rt);
/* Add a route (copied).  -EEXIST if the same dst/plen/metric exists,
 * -EINVAL for a bad plen, -ENOMEM. */
int tn_route_add(struct tn_route_table *rt, const struct tn_route *r);
/* Delete the route dst/plen (metric -1: any metric; ifindex -1: any). */
int tn_route_del(struct tn_route_table *rt, uint32_t dst, uint8_t plen, int64_t metric, int ifindex);
/* Delete every route through ifindex (interface removed). */
void tn_route_flush_dev(struct tn_route_table *rt, int ifindex);
/* Longest-prefix match; among equal prefixes the lowest metric. */
const struct tn_route *tn_route_lookup(const struct tn_route_table *rt, uint32_t dst);
/* Iterate all routes, most specific first (for `tern route`). */
void tn_route_foreach(const struct tn_route_table *rt,
		      void (*fn)(const struct tn_route *r, void *arg), void *arg);

/* Path MTU cache. */
void tn_pmtu_update(struct tn_route_table *rt, uint32_t dst, uint32_t mtu, uint64_t expires);
/* The learned MTU toward dst, or 0 if none (or expired at now). */
uint32_t tn_pmtu_get(const struct tn_route_table *rt, uint32_t dst, uint64_t now);

#endif
