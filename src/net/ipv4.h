#ifndef TN_IPV4_H
#define TN_IPV4_H

#include <stdint.h>

#include "core/pkt.h"

struct tn_stack;

/* Per-packet IPv4 metadata in pkt->cb during input. */
struct tn_ip_cb {
	uint32_t src, dst;
	uint16_t tot_len;
	uint8_t ihl;
	uint8_t proto;
	uint8_t ttl;
	uint8_t tos;
	uint8_t route_type;   /* enum tn_route_type of dst */
};
static inline struct tn_ip_cb *tn_ip_cb(struct tn_pkt *p) { return (struct tn_ip_cb *)p->cb; }

/* Input from a device: pkt->data at the IP header.  Consumes pkt. */
void tn_ipv4_input(struct tn_stack *s, int ifindex, struct tn_pkt *pkt);

struct tn_ip_out {
	uint32_t src;      /* 0: choose by route */
	uint32_t dst;
	uint8_t proto;
	uint8_t ttl;       /* 0: net.ipv4.ip_default_ttl */
	uint8_t tos;
	uint8_t df;        /* set DF (path MTU discovery) */
	int oif;           /* 0: by route */
};
/* Locally generated: pkt->data at the L4 header; prepends the IP header,
 * routes, fragments and sends.  Returns 0 or a negative errno
 * (-ENETUNREACH, -EMSGSIZE, -ENOBUFS).  Consumes pkt. */
int tn_ip_output(struct tn_stack *s, struct tn_pkt *pkt, const struct tn_ip_out *o);
/* Source address the stack would use toward dst (0 if no route). */
uint32_t tn_ip_select_src(struct tn_stack *s, uint32_t dst, int oif);

#endif
