/* Neighbour cache and ARP (RFC 826), following Linux's NUD states. */
#include "net/neigh.h"

#include <errno.h>
#include <stdlib.h>

#include "core/hash.h"
#include "core/stack.h"
#include "net/icmp.h"
#include "wire/wire.h"

#define NS_PER_MS 1000000ull
#define NS_PER_SEC 1000000000ull
#define ETH_MIN_FRAME 60 /* without FCS; TAP does not pad for us */

static const uint8_t bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

void tn_neigh_init(struct tn_neigh_table *nt, uint64_t hash_key)
{
	memset(nt, 0, sizeof(*nt));
	nt->hash_key = hash_key;
}

static uint32_t nbucket(const struct tn_neigh_table *nt, int ifindex, uint32_t ip)
{
	return tn_hash2(nt->hash_key, ip, (uint64_t)ifindex) & (nt->nbuckets - 1);
}

struct tn_neigh *tn_neigh_lookup(struct tn_neigh_table *nt, int ifindex, uint32_t ip)
{
	if (!nt->nbuckets)
		return NULL;
	for (struct tn_neigh *n = nt->buckets[nbucket(nt, ifindex, ip)]; n; n = n->next)
		if (n->ip == ip && n->ifindex == ifindex)
			return n;
	return NULL;
}

static int table_grow(struct tn_neigh_table *nt)
{
	if (nt->nbuckets && nt->count < nt->nbuckets)
		return 0;
	uint32_t n = nt->nbuckets ? nt->nbuckets * 2 : 64;
	struct tn_neigh **nb = calloc(n, sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	struct tn_neigh **ob = nt->buckets;
	uint32_t on = nt->nbuckets;
	nt->buckets = nb;
	nt->nbuckets = n;
	for (uint32_t i = 0; i < on; i++) {
		for (struct tn_neigh *e = ob[i], *next; e; e = next) {
			next = e->next;
			uint32_t b = nbucket(nt, e->ifindex, e->ip);
			e->next = nb[b];
			nb[b] = e;
		}
	}
	free(ob);
	return 0;
}

static void neigh_timer(void *ctx, struct tn_timer *t);

static struct tn_neigh *neigh_create(struct tn_stack *s, int ifindex, uint32_t ip)
{
	if (table_grow(&s->neigh) < 0)
		return NULL;
	struct tn_neigh *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->ip = ip;
	n->ifindex = ifindex;
	n->updated = n->used = s->now;
	tn_timer_init(&n->timer, neigh_timer);
	tn_pktq_init(&n->pending);
	uint32_t b = nbucket(&s->neigh, ifindex, ip);
	n->next = s->neigh.buckets[b];
	s->neigh.buckets[b] = n;
	s->neigh.count++;
	return n;
}

static void neigh_free(struct tn_stack *s, struct tn_neigh *n, enum tn_stat why)
{
	struct tn_pkt *p;
	while ((p = tn_pktq_pop(&n->pending, n->pending.head ? n->pending.head->pkt_len : 0)) != NULL) {
		if (p->flags & TN_PKT_FORWARDED)
			tn_icmp_send_error(s, p, TN_ICMP_DEST_UNREACH, TN_ICMP_HOST_UNREACH, 0);
		tn_drop(s, p, why);
	}
	tn_timer_cancel(&s->wheel, &n->timer);
}

static void neigh_remove(struct tn_stack *s, struct tn_neigh *n)
{
	struct tn_neigh **pp = &s->neigh.buckets[nbucket(&s->neigh, n->ifindex, n->ip)];
	while (*pp && *pp != n)
		pp = &(*pp)->next;
	if (*pp)
		*pp = n->next;
	s->neigh.count--;
	neigh_free(s, n, TN_TernExtNeighResolveFailed);
	free(n);
}

void tn_neigh_destroy(struct tn_stack *s)
{
	struct tn_neigh_table *nt = &s->neigh;
	for (uint32_t i = 0; i < nt->nbuckets; i++) {
		for (struct tn_neigh *n = nt->buckets[i], *next; n; n = next) {
			next = n->next;
			neigh_free(s, n, TN_TernExtNeighResolveFailed);
			free(n);
		}
	}
	free(nt->buckets);
	tn_neigh_init(nt, nt->hash_key);
}

void tn_neigh_flush_dev(struct tn_stack *s, int ifindex)
{
	struct tn_neigh_table *nt = &s->neigh;
	for (uint32_t i = 0; i < nt->nbuckets; i++) {
		for (struct tn_neigh *n = nt->buckets[i], *next; n; n = next) {
			next = n->next;
			if (n->ifindex == ifindex)
				neigh_remove(s, n);
		}
	}
}

void tn_neigh_foreach(struct tn_neigh_table *nt, void (*fn)(const struct tn_neigh *n, void *arg), void *arg)
{
	for (uint32_t i = 0; i < nt->nbuckets; i++)
		for (struct tn_neigh *n = nt->buckets[i]; n; n = n->next)
			fn(n, arg);
}

const char *tn_nud_name(int state)
{
	static const char *const names[] = {"NONE", "INCOMPLETE", "REACHABLE", "STALE",
					    "DELAY", "PROBE", "FAILED", "PERMANENT"};
	return state >= 0 && state <= TN_NUD_PERMANENT ? names[state] : "?";
}

/* ---- ARP frames ---- */

static void arp_send(struct tn_stack *s, int ifindex, uint16_t op, const uint8_t *dst_mac,
		     uint32_t spa, const uint8_t *tha, uint32_t tpa)
{
	struct tn_iface *ifc = tn_iface_get(s, ifindex);
	if (!ifc || ifc->dev->framing != TN_DEV_L2)
		return;
	struct tn_pkt *p = tn_pkt_alloc(s->pool);
	if (!p) {
		tn_stat_inc(s, TN_TernExtNoBufs);
		return;
	}
	uint8_t *f = tn_pkt_put(p, ETH_MIN_FRAME);
	memset(f, 0, ETH_MIN_FRAME);
	struct tn_eth_hdr eh = {.type = TN_ETHERTYPE_ARP};
	memcpy(eh.dst, dst_mac, 6);
	memcpy(eh.src, ifc->dev->mac, 6);
	tn_eth_emit(&eh, f, ETH_MIN_FRAME);
	struct tn_arp_hdr ah = {.op = op, .spa = spa, .tpa = tpa};
	memcpy(ah.sha, ifc->dev->mac, 6);
	memcpy(ah.tha, tha, 6);
	tn_arp_emit(&ah, f + TN_ETH_HLEN, ETH_MIN_FRAME - TN_ETH_HLEN);
	tn_dev_queue_xmit(s, ifindex, p);
}

static void arp_solicit(struct tn_stack *s, struct tn_neigh *n, bool unicast)
{
	static const uint8_t zero[6] = {0};
	uint32_t src = tn_iface_addr(s, n->ifindex, n->ip);
	tn_stat_inc(s, TN_TernExtArpOutRequests);
	arp_send(s, n->ifindex, TN_ARP_REQUEST, unicast ? n->mac : bcast_mac, src, zero, n->ip);
	n->probes++;
}

void tn_arp_announce(struct tn_stack *s, int ifindex, uint32_t addr)
{
	static const uint8_t zero[6] = {0};
	tn_stat_inc(s, TN_TernExtArpOutGratuitous);
	arp_send(s, ifindex, TN_ARP_REQUEST, bcast_mac, addr, zero, addr);
}

/* ---- state machine ---- */

static uint64_t reachable_time(struct tn_stack *s)
{
	/* Linux: uniformly random in [base/2, 3*base/2). */
	uint64_t base = (uint64_t)s->sysctl.neigh_base_reachable_time_ms * NS_PER_MS;
	return base / 2 + (uint64_t)(tn_rand_double(&s->rng) * (double)base);
}

static void set_state(struct tn_stack *s, struct tn_neigh *n, uint8_t state, uint64_t timeout)
{
	n->state = state;
	n->probes = 0;
	if (timeout)
		tn_timer_arm(&s->wheel, &n->timer, s->now + timeout);
	else
		tn_timer_cancel(&s->wheel, &n->timer);
}

static void eth_out(struct tn_stack *s, struct tn_neigh_table *nt, int ifindex, const uint8_t *mac,
		    struct tn_pkt *pkt)
{
	(void)nt;
	struct tn_iface *ifc = tn_iface_get(s, ifindex);
	uint8_t *h = ifc ? tn_pkt_push(pkt, TN_ETH_HLEN) : NULL;
	if (!h) {
		tn_drop(s, pkt, TN_IpOutDiscards);
		return;
	}
	struct tn_eth_hdr eh = {.type = TN_ETHERTYPE_IPV4};
	memcpy(eh.dst, mac, 6);
	memcpy(eh.src, ifc->dev->mac, 6);
	tn_eth_emit(&eh, h, TN_ETH_HLEN);
	pkt->l2_off = tn_pkt_off(pkt, h);
	tn_dev_queue_xmit(s, ifindex, pkt);
}

static void flush_pending(struct tn_stack *s, struct tn_neigh *n)
{
	struct tn_pkt *p;
	while ((p = tn_pktq_pop(&n->pending, n->pending.head ? n->pending.head->pkt_len : 0)) != NULL)
		eth_out(s, &s->neigh, n->ifindex, n->mac, p);
}

static void neigh_timer(void *ctx, struct tn_timer *t)
{
	struct tn_stack *s = ctx;
	struct tn_neigh *n = container_of(t, struct tn_neigh, timer);
	uint64_t retrans = (uint64_t)s->sysctl.neigh_retrans_time_ms * NS_PER_MS;
	switch (n->state) {
	case TN_NUD_INCOMPLETE:
		if (n->probes >= s->sysctl.neigh_mcast_solicit) {
			neigh_free(s, n, TN_TernExtNeighResolveFailed);
			set_state(s, n, TN_NUD_FAILED, (uint64_t)s->sysctl.neigh_gc_stale_time * NS_PER_SEC);
			return;
		}
		arp_solicit(s, n, false);
		tn_timer_arm(&s->wheel, &n->timer, s->now + retrans);
		return;
	case TN_NUD_REACHABLE:
		set_state(s, n, TN_NUD_STALE, (uint64_t)s->sysctl.neigh_gc_stale_time * NS_PER_SEC);
		return;
	case TN_NUD_DELAY:
		set_state(s, n, TN_NUD_PROBE, retrans);
		arp_solicit(s, n, true);
		return;
	case TN_NUD_PROBE:
		if (n->probes >= s->sysctl.neigh_ucast_solicit) {
			set_state(s, n, TN_NUD_FAILED, (uint64_t)s->sysctl.neigh_gc_stale_time * NS_PER_SEC);
			return;
		}
		arp_solicit(s, n, true);
		tn_timer_arm(&s->wheel, &n->timer, s->now + retrans);
		return;
	case TN_NUD_STALE:
		/* Unused for gc_stale_time: garbage-collect it. */
		if (s->now - n->used >= (uint64_t)s->sysctl.neigh_gc_stale_time * NS_PER_SEC) {
			neigh_remove(s, n);
			return;
		}
		tn_timer_arm(&s->wheel, &n->timer, n->used + (uint64_t)s->sysctl.neigh_gc_stale_time * NS_PER_SEC);
		return;
	case TN_NUD_FAILED:
		neigh_remove(s, n);
		return;
	default:
		return;
	}
}

/* Hold a packet for an unresolved neighbour, dropping the oldest when the
 * queue is over unres_qlen_bytes (as Linux). */
static void queue_pending(struct tn_stack *s, struct tn_neigh *n, struct tn_pkt *pkt)
{
	tn_pktq_push(&n->pending, pkt, pkt->pkt_len);
	while (n->pending.bytes > (uint32_t)s->sysctl.neigh_unres_qlen_bytes && n->pending.count > 1) {
		struct tn_pkt *old = tn_pktq_pop(&n->pending, n->pending.head->pkt_len);
		tn_drop(s, old, TN_TernExtNeighQueueOverflow);
	}
}

void tn_neigh_output(struct tn_stack *s, int ifindex, uint32_t nexthop, struct tn_pkt *pkt)
{
	struct tn_iface *ifc = tn_iface_get(s, ifindex);
	if (!ifc) {
		tn_drop(s, pkt, TN_IpOutDiscards);
		return;
	}
	if (ifc->dev->framing == TN_DEV_L3) {
		tn_dev_queue_xmit(s, ifindex, pkt);
		return;
	}
	if (tn_addr_is_bcast(s, nexthop, ifindex)) {
		eth_out(s, &s->neigh, ifindex, bcast_mac, pkt);
		return;
	}
	struct tn_neigh *n = tn_neigh_lookup(&s->neigh, ifindex, nexthop);
	if (!n) {
		n = neigh_create(s, ifindex, nexthop);
		if (!n) {
			tn_drop(s, pkt, TN_TernExtNeighResolveFailed);
			return;
		}
	}
	n->used = s->now;
	switch (n->state) {
	case TN_NUD_REACHABLE:
	case TN_NUD_PERMANENT:
	case TN_NUD_DELAY:
	case TN_NUD_PROBE:
		eth_out(s, &s->neigh, ifindex, n->mac, pkt);
		return;
	case TN_NUD_STALE:
		set_state(s, n, TN_NUD_DELAY, (uint64_t)s->sysctl.neigh_delay_first_probe_time * NS_PER_SEC);
		eth_out(s, &s->neigh, ifindex, n->mac, pkt);
		return;
	case TN_NUD_INCOMPLETE:
		queue_pending(s, n, pkt);
		return;
	default: /* NONE or FAILED: start resolving */
		set_state(s, n, TN_NUD_INCOMPLETE, 0);
		queue_pending(s, n, pkt);
		arp_solicit(s, n, false);
		tn_timer_arm(&s->wheel, &n->timer, s->now + (uint64_t)s->sysctl.neigh_retrans_time_ms * NS_PER_MS);
		return;
	}
}

int tn_neigh_add_permanent(struct tn_stack *s, int ifindex, uint32_t ip, const uint8_t *mac)
{
	struct tn_neigh *n = tn_neigh_lookup(&s->neigh, ifindex, ip);
	if (!n && !(n = neigh_create(s, ifindex, ip)))
		return -ENOMEM;
	memcpy(n->mac, mac, 6);
	set_state(s, n, TN_NUD_PERMANENT, 0);
	flush_pending(s, n);
	return 0;
}

/* A neighbour told us its MAC (reply, or a request aimed at us). */
static void neigh_confirm(struct tn_stack *s, struct tn_neigh *n, const uint8_t *mac, bool is_reply)
{
	if (n->state == TN_NUD_PERMANENT)
		return;
	bool changed = memcmp(n->mac, mac, 6) != 0;
	memcpy(n->mac, mac, 6);
	n->updated = s->now;
	/* Only a reply proves two-way reachability; hearing a request gives a
	 * STALE entry (Linux's neigh_event_ns), verified on first use. */
	if (is_reply)
		set_state(s, n, TN_NUD_REACHABLE, reachable_time(s));
	else if (changed || n->state == TN_NUD_INCOMPLETE || n->state == TN_NUD_NONE || n->state == TN_NUD_FAILED)
		set_state(s, n, TN_NUD_STALE, (uint64_t)s->sysctl.neigh_gc_stale_time * NS_PER_SEC);
	flush_pending(s, n);
}

static bool bad_sender(const struct tn_arp_hdr *ah)
{
	return tn_eth_is_mcast(ah->sha) || tn_eth_is_zero(ah->sha) || tn_ip_is_multicast(ah->spa) ||
	       tn_ip_is_loopback(ah->spa) || tn_ip_is_lbcast(ah->spa);
}

void tn_arp_input(struct tn_stack *s, int ifindex, struct tn_pkt *pkt)
{
	struct tn_arp_hdr ah;
	if (tn_arp_parse(pkt->data, pkt->len, &ah) < 0 || bad_sender(&ah) ||
	    (ah.op != TN_ARP_REQUEST && ah.op != TN_ARP_REPLY)) {
		tn_drop(s, pkt, TN_TernExtArpInErrors);
		return;
	}
	bool for_us = tn_addr_is_local(s, ah.tpa);
	tn_stat_inc(s, ah.op == TN_ARP_REQUEST ? TN_TernExtArpInRequests : TN_TernExtArpInReplies);
	if (ah.spa != 0 && !tn_addr_is_local(s, ah.spa)) {
		struct tn_neigh *n = tn_neigh_lookup(&s->neigh, ifindex, ah.spa);
		bool gratuitous = ah.spa == ah.tpa;
		/* Learn a new neighbour only from a request aimed at us (arp_accept=0). */
		if (!n && for_us && ah.op == TN_ARP_REQUEST && !gratuitous)
			n = neigh_create(s, ifindex, ah.spa);
		if (n)
			neigh_confirm(s, n, ah.sha, ah.op == TN_ARP_REPLY && !gratuitous && for_us);
	}
	if (ah.op == TN_ARP_REQUEST) {
		if (for_us && ah.spa != ah.tpa) {
			tn_stat_inc(s, TN_TernExtArpOutReplies);
			arp_send(s, ifindex, TN_ARP_REPLY, ah.sha, ah.tpa, ah.sha, ah.spa);
		} else if (!for_us) {
			tn_stat_inc(s, TN_TernExtArpInNotForUs);
		}
	}
	tn_pkt_free(pkt);
}
