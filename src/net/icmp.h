#ifndef TN_ICMP_H
#define TN_ICMP_H

#include <stdint.h>

#include "core/pkt.h"

struct tn_stack;

#define TN_ICMP_HOST_CACHE 64

struct tn_icmp_state {
	/* Global token bucket: icmp_msgs_per_sec, icmp_msgs_burst. */
	uint64_t credit;           /* messages that may go now */
	uint64_t last_refill;
	/* Per-destination limit (icmp_ratelimit ms), a small direct-mapped
	 * cache as Linux keeps in its inet_peer entries. */
	struct { uint32_t dst; uint64_t tokens; uint64_t last; } host[TN_ICMP_HOST_CACHE];
	uint16_t next_echo_id;
};

void tn_icmp_init(struct tn_icmp_state *st);
/* ICMP input: pkt->data at the ICMP header, l3_off at the IP header.
 * Consumes pkt. */
void tn_icmp_input(struct tn_stack *s, struct tn_pkt *pkt);
/* Send an ICMP error about `orig` (data at its IP header; borrowed), if
 * the rules allow (never about an ICMP error, a broadcast/multicast, a
 * non-first fragment, a bogus source) and the rate limits do. */
void tn_icmp_send_error(struct tn_stack *s, const struct tn_pkt *orig, uint8_t type,
			uint8_t code, uint32_t info);

#endif
