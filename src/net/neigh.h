/* The neighbour (ARP) cache, following Linux's NUD state machine:
 *
 *   INCOMPLETE --reply--> REACHABLE --reachable_time--> STALE
 *   STALE --used--> DELAY --delay_first_probe_time--> PROBE
 *   PROBE --reply--> REACHABLE;  PROBE/INCOMPLETE --no reply--> FAILED
 *
 * Packets sent to an unresolved neighbour wait in a bounded per-entry queue
 * (unres_qlen_bytes) and leave when the reply comes; if resolution fails
 * they are dropped and counted (and forwarded ones get ICMP host
 * unreachable). */
#ifndef TN_NEIGH_H
#define TN_NEIGH_H

#include <stdint.h>

#include "core/pkt.h"
#include "core/timer.h"

struct tn_stack;

enum tn_nud_state {
	TN_NUD_NONE = 0,
	TN_NUD_INCOMPLETE,
	TN_NUD_REACHABLE,
	TN_NUD_STALE,
	TN_NUD_DELAY,
	TN_NUD_PROBE,
	TN_NUD_FAILED,
	TN_NUD_PERMANENT,
};

struct tn_neigh {
	uint32_t ip;
	int ifindex;
	uint8_t state;       /* enum tn_nud_state */
	uint8_t probes;      /* solicitations sent in this state */
	uint8_t mac[6];
	uint64_t updated;    /* ns: last confirmation */
	uint64_t used;       /* ns: last use */
	struct tn_timer timer;
	struct tn_pkt_queue pending; /* waiting for resolution; bytes = pkt_len */
	struct tn_neigh *next;       /* hash chain */
};

struct tn_neigh_table {
	struct tn_neigh **buckets;
	uint32_t nbuckets;
	uint32_t count;
	uint64_t hash_key;
};

void tn_neigh_init(struct tn_neigh_table *nt, uint64_t hash_key);
/* Free every entry and its pending packets. */
void tn_neigh_destroy(struct tn_stack *s);

/* Send an IPv4 packet (pkt->data at the IP header) to next hop `nexthop`
 * on `ifindex`: adds the Ethernet header and queues it on the device, or
 * holds it while ARP resolves.  Consumes pkt. */
void tn_neigh_output(struct tn_stack *s, int ifindex, uint32_t nexthop, struct tn_pkt *pkt);
/* ARP input: pkt->data at the ARP header.  Consumes pkt. */
void tn_arp_input(struct tn_stack *s, int ifindex, struct tn_pkt *pkt);
/* Broadcast a gratuitous ARP for addr on ifindex (on address add). */
void tn_arp_announce(struct tn_stack *s, int ifindex, uint32_t addr);

struct tn_neigh *tn_neigh_lookup(struct tn_neigh_table *nt, int ifindex, uint32_t ip);
/* Add or replace a permanent entry (like `ip neigh add ... nud permanent`). */
int tn_neigh_add_permanent(struct tn_stack *s, int ifindex, uint32_t ip, const uint8_t *mac);
/* Drop every entry on ifindex. */
void tn_neigh_flush_dev(struct tn_stack *s, int ifindex);
void tn_neigh_foreach(struct tn_neigh_table *nt, void (*fn)(const struct tn_neigh *n, void *arg), void *arg);
const char *tn_nud_name(int state);

#endif
