/* Connection tracking internals shared by conntrack.c (the table, hooks,
 * expiry) and ct_proto.c (the per-protocol trackers). */
#ifndef TN_CT_INT_H
#define TN_CT_INT_H

#include "filter/conntrack.h"

/* What a tracker learns from the packet: the L4 header is linear. */
struct ct_pkt {
	const uint8_t *l4;
	uint32_t l4len;   /* L4 bytes in the datagram (header and payload) */
	uint32_t l4avail; /* of which linear at l4 */
	enum tn_ct_dir dir;
	uint32_t timeout; /* out: the tracker's new timeout in seconds (0: none) */
};

/* Tracker answers. */
enum ct_verdict {
	CT_INVALID = 0,   /* the packet gets INVALID, the entry is unchanged */
	CT_ACCEPT = 1,
	CT_REPEAT = 2,    /* the entry is stale (TCP reopen): free it, track again */
	CT_KILL = 3,      /* accept the packet, then free the entry (RST, no reply) */
};

static inline uint64_t ct_now(const struct tn_stack *s) { return s->now / (1000000000ull / TN_CT_HZ); }

bool tn_ct_tcp_new(struct tn_stack *s, struct tn_ct *e, const struct ct_pkt *k);
enum ct_verdict tn_ct_tcp_packet(struct tn_stack *s, struct tn_ct *e, struct ct_pkt *k);
/* Header sanity (Linux's tcp_error): length and flag combination. */
bool tn_ct_tcp_valid(const struct ct_pkt *k);
enum ct_verdict tn_ct_udp_packet(struct tn_stack *s, struct tn_ct *e, struct ct_pkt *k);
void tn_ct_udp_new(struct tn_stack *s, struct tn_ct *e);
enum ct_verdict tn_ct_icmp_packet(struct tn_stack *s, struct tn_ct *e, struct ct_pkt *k);
enum ct_verdict tn_ct_generic_packet(struct tn_stack *s, struct tn_ct *e, struct ct_pkt *k);

extern const char *const tn_ct_tcp_state_names[TN_CT_TCP_NSTATES];

#endif
