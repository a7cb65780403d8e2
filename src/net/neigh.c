/* Neighbour cache and ARP (RFC 826), following Linux's NUD state machine
 * (net/core/neighbour.c) and its ARP input rules (net/ipv4/arp.c). */
#include "net/neigh.h"

#include <errno.h>
#include <stdlib.h>

#include "core/hash.h"
#include "core/stack.h"
#include "net/icmp.h"
#include "wire/wire.h"

#define NS_PER_MS 1000000ull
#define NS_PER_SEC 1000000000ull
#define ETH_MIN_FRAME 60 /* without FCS; the kernel pads on real NICs, TAP does not */
/* Linux's neighbour locktime default: a MAC learned less than this long ago
 * is not replaced by a non-gratuitous ARP, so two hosts (or proxies)
 * answering the same request do not make the entry flap. */
#define NEIGH_LOCKTIME_NS NS_PER_SEC
/* Hard limit on entries, the role of Linux's gc_thresh3: requests from
 * spoofed senders cannot grow the table without bound.  Entries leave by
 * their own timers, so a full table empties within gc_stale_time. */
#define NEIGH_MAX_ENTRIES 16384u

static const uint8_t bcast_mac[TN_ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t zero_mac[TN_ETH_ALEN] = {0};

static uint64_t ms_ns(int ms) { return (uint64_t)ms * NS_PER_MS; }
static uint64_t sec_ns(int sec) { return (uint64_t)sec * NS_PER_SEC; }

/* ---- the table ---- */

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

/* Keep the load factor at most one by doubling the bucket array. */
static int table_grow(struct tn_neigh_table *nt)
{
	if (nt->nbuckets && nt->count < nt->nbuckets)
		return 0;
	uint32_t size = nt->nbuckets ? nt->nbuckets * 2 : 64;
	struct tn_neigh **nb = calloc(size, sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	struct tn_neigh **ob = nt->buckets;
	uint32_t on = nt->nbuckets;
	nt->buckets = nb;
	nt->nbuckets = size;
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
	struct tn_neigh_table *nt = &s->neigh;
	if (nt->count >= NEIGH_MAX_ENTRIES || table_grow(nt) < 0)
		return NULL;
	struct tn_neigh *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->ip = ip;
	n->ifindex = ifindex;
	n->state = TN_NUD_NONE;
	n->updated = n->used = s->now;
	tn_timer_init(&n->timer, neigh_timer);
	tn_pktq_init(&n->pending);
	uint32_t b = nbucket(nt, ifindex, ip);
	n->next = nt->buckets[b];
	nt->buckets[b] = n;
	nt->count++;
	return n;
}

/* Drop every packet of q, counted as unresolved.  With `report`, packets
 * being forwarded first earn their sender an ICMP host unreachable (as
 * Linux's arp_error_report). */
static void drop_queue(struct tn_stack *s, struct tn_pkt_queue *q, bool report)
{
	struct tn_pkt *p;
	while ((p = tn_pktq_pop(q, q->head ? q->head->pkt_len : 0)) != NULL) {
		if (report && (p->flags & TN_PKT_FORWARDED))
			tn_icmp_send_error(s, p, TN_ICMP_DEST_UNREACH, TN_ICMP_HOST_UNREACH, 0);
		tn_drop(s, p, TN_TernExtNeighResolveFailed);
	}
}

/* Unlink, cancel, drop what waits (no ICMP: the entry is going away on
 * request, not because resolution failed) and free. */
static void neigh_remove(struct tn_stack *s, struct tn_neigh *n)
{
	struct tn_neigh **pp = &s->neigh.buckets[nbucket(&s->neigh, n->ifindex, n->ip)];
	while (*pp && *pp != n)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = n->next;
		s->neigh.count--;
	}
	tn_timer_cancel(&s->wheel, &n->timer);
	drop_queue(s, &n->pending, false);
	free(n);
}

static void remove_matching(struct tn_stack *s, bool all, int ifindex)
{
	struct tn_neigh_table *nt = &s->neigh;
	for (uint32_t i = 0; i < nt->nbuckets; i++) {
		for (struct tn_neigh *n = nt->buckets[i], *next; n; n = next) {
			next = n->next;
			if (all || n->ifindex == ifindex)
				neigh_remove(s, n);
		}
	}
}

void tn_neigh_destroy(struct tn_stack *s)
{
	remove_matching(s, true, 0);
	free(s->neigh.buckets);
	tn_neigh_init(&s->neigh, s->neigh.hash_key);
}

void tn_neigh_flush_dev(struct tn_stack *s, int ifindex) { remove_matching(s, false, ifindex); }

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

/* Build and queue one ARP frame, padded to the Ethernet minimum; false if
 * the device has no link layer or no buffer was free. */
static bool arp_send(struct tn_stack *s, int ifindex, uint16_t op, const uint8_t *dst_mac,
		     uint32_t spa, const uint8_t *tha, uint32_t tpa)
{
	struct tn_iface *ifc = tn_iface_get(s, ifindex);
	if (!ifc || ifc->dev->framing != TN_DEV_L2)
		return false;
	struct tn_pkt *p = tn_pkt_alloc(s->pool);
	if (!p) {
		tn_stat_inc(s, TN_TernExtNoBufs);
		return false;
	}
	uint8_t *f = tn_pkt_put(p, ETH_MIN_FRAME);
	memset(f, 0, ETH_MIN_FRAME);
	struct tn_eth_hdr eh = {.type = TN_ETHERTYPE_ARP};
	memcpy(eh.dst, dst_mac, TN_ETH_ALEN);
	memcpy(eh.src, ifc->dev->mac, TN_ETH_ALEN);
	tn_eth_emit(&eh, f, ETH_MIN_FRAME);
	struct tn_arp_hdr ah = {.op = op, .spa = spa, .tpa = tpa};
	memcpy(ah.sha, ifc->dev->mac, TN_ETH_ALEN);
	memcpy(ah.tha, tha, TN_ETH_ALEN);
	tn_arp_emit(&ah, f + TN_ETH_HLEN, ETH_MIN_FRAME - TN_ETH_HLEN);
	p->l2_off = tn_pkt_off(p, f);
	p->flags |= TN_PKT_LOCAL_OUT;
	tn_dev_queue_xmit(s, ifindex, p);
	return true;
}

/* A request for n: broadcast while resolving, unicast to the known MAC
 * while probing (PROBE).  Counts the attempt even without a buffer, as
 * Linux counts probes, so a starved pool still ends in FAILED. */
static void arp_solicit(struct tn_stack *s, struct tn_neigh *n)
{
	const uint8_t *dst = n->state == TN_NUD_PROBE ? n->mac : bcast_mac;
	uint32_t src = tn_iface_addr(s, n->ifindex, n->ip);
	n->probes++;
	if (arp_send(s, n->ifindex, TN_ARP_REQUEST, dst, src, zero_mac, n->ip))
		tn_stat_inc(s, TN_TernExtArpOutRequests);
}

void tn_arp_announce(struct tn_stack *s, int ifindex, uint32_t addr)
{
	if (arp_send(s, ifindex, TN_ARP_REQUEST, bcast_mac, addr, zero_mac, addr))
		tn_stat_inc(s, TN_TernExtArpOutGratuitous);
}

/* ---- the state machine ---- */

static bool nud_valid(uint8_t state)
{
	return state == TN_NUD_REACHABLE || state == TN_NUD_STALE || state == TN_NUD_DELAY ||
	       state == TN_NUD_PROBE || state == TN_NUD_PERMANENT;
}

/* A timeout of 0 means "no timer" to set_state: tiny settings round up. */
static uint64_t at_least_1ns(uint64_t t) { return t ? t : 1; }

/* Linux: uniformly random in [base/2, 3*base/2). */
static uint64_t reachable_time(struct tn_stack *s)
{
	uint32_t base = (uint32_t)s->sysctl.neigh_base_reachable_time_ms;
	return at_least_1ns(ms_ns((int)(base / 2)) + ms_ns((int)tn_rand_below(&s->rng, base)));
}

/* Enter `state` with a fresh probe count; timeout 0 leaves no timer. */
static void set_state(struct tn_stack *s, struct tn_neigh *n, uint8_t state, uint64_t timeout)
{
	n->state = state;
	n->probes = 0;
	if (timeout)
		tn_timer_arm(&s->wheel, &n->timer, s->now + timeout);
	else
		tn_timer_cancel(&s->wheel, &n->timer);
}

static uint64_t state_timeout(struct tn_stack *s, uint8_t state)
{
	switch (state) {
	case TN_NUD_REACHABLE:
		return reachable_time(s);
	case TN_NUD_STALE:
		return sec_ns(s->sysctl.neigh_gc_stale_time);
	case TN_NUD_DELAY:
		return sec_ns(s->sysctl.neigh_delay_first_probe_time);
	case TN_NUD_FAILED:
		/* Gone at what would be Linux's next periodic gc pass. */
		return at_least_1ns(ms_ns(s->sysctl.neigh_base_reachable_time_ms / 2));
	default:
		return 0;
	}
}

static void enter(struct tn_stack *s, struct tn_neigh *n, uint8_t state)
{
	set_state(s, n, state, state_timeout(s, state));
}

static void eth_out(struct tn_stack *s, int ifindex, const uint8_t *dst, struct tn_pkt *pkt)
{
	struct tn_iface *ifc = tn_iface_get(s, ifindex);
	uint8_t *h = ifc ? tn_pkt_push(pkt, TN_ETH_HLEN) : NULL;
	if (!h) {
		tn_drop(s, pkt, TN_IpOutDiscards);
		return;
	}
	struct tn_eth_hdr eh = {.type = TN_ETHERTYPE_IPV4};
	memcpy(eh.dst, dst, TN_ETH_ALEN);
	memcpy(eh.src, ifc->dev->mac, TN_ETH_ALEN);
	tn_eth_emit(&eh, h, TN_ETH_HLEN);
	pkt->l2_off = tn_pkt_off(pkt, h);
	tn_dev_queue_xmit(s, ifindex, pkt);
}

static void flush_pending(struct tn_stack *s, struct tn_neigh *n)
{
	struct tn_pkt *p;
	while ((p = tn_pktq_pop(&n->pending, n->pending.head ? n->pending.head->pkt_len : 0)) != NULL)
		eth_out(s, n->ifindex, n->mac, p);
}

/* Resolution failed (Linux's neigh_invalidate).  The state changes before
 * any ICMP goes out: sending it may come back through tn_neigh_output for
 * this very neighbour, which then starts afresh on an empty queue. */
static void neigh_fail(struct tn_stack *s, struct tn_neigh *n)
{
	struct tn_pkt_queue q = n->pending;
	tn_pktq_init(&n->pending);
	enter(s, n, TN_NUD_FAILED);
	drop_queue(s, &q, true);
}

static void stale_expired(struct tn_stack *s, struct tn_neigh *n)
{
	uint64_t gc = sec_ns(s->sysctl.neigh_gc_stale_time);
	if (s->now - n->used >= gc)
		neigh_remove(s, n);
	else
		tn_timer_arm(&s->wheel, &n->timer, n->used + gc);
}

static void neigh_timer(void *ctx, struct tn_timer *t)
{
	struct tn_stack *s = ctx;
	struct tn_neigh *n = container_of(t, struct tn_neigh, timer);
	switch (n->state) {
	case TN_NUD_REACHABLE:
		enter(s, n, TN_NUD_STALE);
		return;
	case TN_NUD_STALE:
		stale_expired(s, n);
		return;
	case TN_NUD_FAILED:
		neigh_remove(s, n);
		return;
	case TN_NUD_DELAY:
		set_state(s, n, TN_NUD_PROBE, 0);
		break;
	case TN_NUD_INCOMPLETE:
	case TN_NUD_PROBE:
		break;
	default:
		return;
	}
	int max = n->state == TN_NUD_PROBE ? s->sysctl.neigh_ucast_solicit : s->sysctl.neigh_mcast_solicit;
	if (n->probes >= max) {
		neigh_fail(s, n);
		return;
	}
	arp_solicit(s, n);
	tn_timer_arm(&s->wheel, &n->timer, s->now + ms_ns(s->sysctl.neigh_retrans_time_ms));
}

/* Hold a packet for an unresolved neighbour, dropping the oldest while the
 * queue is over unres_qlen_bytes (Linux keeps the newest). */
static void queue_pending(struct tn_stack *s, struct tn_neigh *n, struct tn_pkt *pkt)
{
	tn_pktq_push(&n->pending, pkt, pkt->pkt_len);
	while (n->pending.bytes > (uint32_t)s->sysctl.neigh_unres_qlen_bytes && n->pending.count > 1) {
		struct tn_pkt *old = tn_pktq_pop(&n->pending, n->pending.head->pkt_len);
		tn_drop(s, old, TN_TernExtNeighQueueOverflow);
	}
}

static void start_resolve(struct tn_stack *s, struct tn_neigh *n, struct tn_pkt *pkt)
{
	if (s->sysctl.neigh_mcast_solicit <= 0) {
		enter(s, n, TN_NUD_FAILED);
		tn_drop(s, pkt, TN_TernExtNeighResolveFailed);
		return;
	}
	set_state(s, n, TN_NUD_INCOMPLETE, 0);
	queue_pending(s, n, pkt);
	arp_solicit(s, n);
	tn_timer_arm(&s->wheel, &n->timer, s->now + ms_ns(s->sysctl.neigh_retrans_time_ms));
}

/* RFC 1112 section 6.4: the low 23 bits of the group under 01:00:5e. */
static void ip_mcast_mac(uint32_t group, uint8_t *mac)
{
	mac[0] = 0x01;
	mac[1] = 0x00;
	mac[2] = 0x5e;
	mac[3] = (uint8_t)((group >> 16) & 0x7f);
	mac[4] = (uint8_t)(group >> 8);
	mac[5] = (uint8_t)group;
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
		eth_out(s, ifindex, bcast_mac, pkt);
		return;
	}
	if (tn_ip_is_multicast(nexthop)) {
		uint8_t mac[TN_ETH_ALEN];
		ip_mcast_mac(nexthop, mac);
		eth_out(s, ifindex, mac, pkt);
		return;
	}
	struct tn_neigh *n = tn_neigh_lookup(&s->neigh, ifindex, nexthop);
	if (!n && !(n = neigh_create(s, ifindex, nexthop))) {
		tn_drop(s, pkt, TN_TernExtNeighResolveFailed);
		return;
	}
	n->used = s->now;
	if (n->state == TN_NUD_STALE) /* used while it is being verified */
		enter(s, n, TN_NUD_DELAY);
	switch (n->state) {
	case TN_NUD_REACHABLE:
	case TN_NUD_PERMANENT:
	case TN_NUD_DELAY:
	case TN_NUD_PROBE:
		eth_out(s, ifindex, n->mac, pkt);
		return;
	case TN_NUD_INCOMPLETE:
		queue_pending(s, n, pkt);
		return;
	default: /* NONE or FAILED */
		start_resolve(s, n, pkt);
		return;
	}
}

int tn_neigh_add_permanent(struct tn_stack *s, int ifindex, uint32_t ip, const uint8_t *mac)
{
	struct tn_neigh *n = tn_neigh_lookup(&s->neigh, ifindex, ip);
	if (!n && !(n = neigh_create(s, ifindex, ip)))
		return -ENOBUFS;
	memcpy(n->mac, mac, TN_ETH_ALEN);
	n->updated = s->now;
	set_state(s, n, TN_NUD_PERMANENT, 0);
	flush_pending(s, n);
	return 0;
}

/* What an ARP packet says about its sender (Linux's neigh_update without
 * the admin flag).  A valid entry keeps its MAC unless `override`; news
 * that only says STALE does not demote a valid entry whose MAC it
 * confirms.  Whatever was waiting leaves once the entry is valid. */
static void neigh_update(struct tn_stack *s, struct tn_neigh *n, const uint8_t *mac, uint8_t state,
			 bool override)
{
	if (n->state == TN_NUD_PERMANENT)
		return;
	bool changed = memcmp(n->mac, mac, TN_ETH_ALEN) != 0;
	if (nud_valid(n->state)) {
		if (changed && !override)
			return;
		if (!changed && state == TN_NUD_STALE)
			state = n->state;
	}
	memcpy(n->mac, mac, TN_ETH_ALEN);
	n->updated = s->now;
	if (state != n->state || state == TN_NUD_REACHABLE)
		enter(s, n, state);
	flush_pending(s, n);
}

/* ---- ARP input ---- */

/* Linux's arp_rcv/arp_process sanity rules beyond the wire format. */
static bool arp_acceptable(const struct tn_arp_hdr *ah)
{
	if (ah->op != TN_ARP_REQUEST && ah->op != TN_ARP_REPLY)
		return false;
	if (tn_eth_is_mcast(ah->sha) || tn_eth_is_zero(ah->sha))
		return false;
	if (tn_ip_is_multicast(ah->spa) || tn_ip_is_loopback(ah->spa) || tn_ip_is_lbcast(ah->spa))
		return false;
	return !tn_ip_is_multicast(ah->tpa) && !tn_ip_is_loopback(ah->tpa);
}

static bool lock_expired(const struct tn_stack *s, const struct tn_neigh *n)
{
	return s->now >= n->updated + NEIGH_LOCKTIME_NS;
}

/* A request not aimed at us: only refreshes what we already know. */
static void arp_overheard(struct tn_stack *s, int ifindex, const struct tn_arp_hdr *ah)
{
	tn_stat_inc(s, TN_TernExtArpInNotForUs);
	if (ah->spa == 0)
		return;
	struct tn_neigh *n = tn_neigh_lookup(&s->neigh, ifindex, ah->spa);
	if (n)
		neigh_update(s, n, ah->sha, TN_NUD_STALE, lock_expired(s, n) || ah->spa == ah->tpa);
}

static void arp_request_in(struct tn_stack *s, int ifindex, const struct tn_arp_hdr *ah)
{
	tn_stat_inc(s, TN_TernExtArpInRequests);
	if (!tn_addr_is_local(s, ah->tpa)) {
		arp_overheard(s, ifindex, ah);
		return;
	}
	/* Our own address as sender is a conflict or a loop (Linux's route
	 * check calls it a martian): neither learned nor answered. */
	if (ah->spa != 0 && tn_addr_is_local(s, ah->spa))
		return;
	/* An RFC 5227 probe (sender 0.0.0.0) is answered but teaches nothing;
	 * any other requester is learned STALE (Linux's neigh_event_ns). */
	if (ah->spa != 0) {
		struct tn_neigh *n = tn_neigh_lookup(&s->neigh, ifindex, ah->spa);
		if (!n)
			n = neigh_create(s, ifindex, ah->spa);
		if (n)
			neigh_update(s, n, ah->sha, TN_NUD_STALE, true);
	}
	if (arp_send(s, ifindex, TN_ARP_REPLY, ah->sha, ah->tpa, ah->sha, ah->spa))
		tn_stat_inc(s, TN_TernExtArpOutReplies);
}

/* Replies never create entries (arp_accept=0).  Only one sent to our own
 * MAC proves two-way reachability; a broadcast one leaves the entry STALE. */
static void arp_reply_in(struct tn_stack *s, int ifindex, const struct tn_arp_hdr *ah, bool l2_unicast)
{
	tn_stat_inc(s, TN_TernExtArpInReplies);
	if (ah->spa == 0 || tn_addr_is_local(s, ah->spa))
		return;
	struct tn_neigh *n = tn_neigh_lookup(&s->neigh, ifindex, ah->spa);
	if (!n)
		return;
	bool override = lock_expired(s, n) || ah->spa == ah->tpa;
	neigh_update(s, n, ah->sha, l2_unicast ? TN_NUD_REACHABLE : TN_NUD_STALE, override);
}

void tn_arp_input(struct tn_stack *s, int ifindex, struct tn_pkt *pkt)
{
	struct tn_arp_hdr ah;
	struct tn_iface *ifc = tn_iface_get(s, ifindex);
	if (!ifc || ifc->dev->framing != TN_DEV_L2 || tn_pkt_may_pull(pkt, TN_ARP_LEN) < 0 ||
	    tn_arp_parse(pkt->data, pkt->len, &ah) < 0 || !arp_acceptable(&ah)) {
		tn_drop(s, pkt, TN_TernExtArpInErrors);
		return;
	}
	bool l2_unicast = !(pkt->flags & (TN_PKT_L2_BCAST | TN_PKT_L2_MCAST));
	/* Everything needed is in ah: free the buffer before building a reply. */
	tn_pkt_free(pkt);
	if (ah.op == TN_ARP_REQUEST)
		arp_request_in(s, ifindex, &ah);
	else
		arp_reply_in(s, ifindex, &ah, l2_unicast);
}
