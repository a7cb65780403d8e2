/* Netfilter hooks: the five places in the IPv4 path where Linux lets
 * packet filters, connection tracking and NAT see a packet, each with a
 * list of functions run in priority order (lowest first), as Linux's
 * nf_hook_ops.  The tables, conntrack and NAT register here; with nothing
 * registered a hook costs one test.
 *
 *   PRE_ROUTING   every IPv4 packet from a device, after header checks and
 *                 before the routing decision (so DNAT can change it)
 *   LOCAL_IN      packets for this host, after reassembly, before transport
 *   FORWARD       packets routed through, after the TTL decrement
 *   LOCAL_OUT     packets this host sends, with their IP header, before the
 *                 device; a hook that changes the destination re-routes
 *   POST_ROUTING  everything leaving a device (sent or forwarded), before
 *                 fragmentation
 *
 * Packet captures tap the device itself, so they see packets a hook drops. */
#ifndef TN_NF_H
#define TN_NF_H

#include <stdbool.h>
#include <stdint.h>

#include "core/pkt.h"

struct tn_stack;

enum tn_nf_hooknum {
	TN_NF_PRE_ROUTING,
	TN_NF_LOCAL_IN,
	TN_NF_FORWARD,
	TN_NF_LOCAL_OUT,
	TN_NF_POST_ROUTING,
	TN_NF_NUMHOOKS,
};

enum tn_nf_verdict {
	TN_NF_DROP = 0,   /* the hook core frees and counts the packet */
	TN_NF_ACCEPT = 1, /* on to the next function, then onward */
	TN_NF_STOLEN = 2, /* the function took the packet (consumed it) */
};

/* Linux's priorities, so modules run in its order. */
enum tn_nf_priority {
	TN_NF_PRI_CONNTRACK_DEFRAG = -400,
	TN_NF_PRI_RAW = -300,
	TN_NF_PRI_CONNTRACK = -200,
	TN_NF_PRI_MANGLE = -150,
	TN_NF_PRI_NAT_DST = -100,
	TN_NF_PRI_FILTER = 0,
	TN_NF_PRI_NAT_SRC = 100,
	TN_NF_PRI_CONNTRACK_CONFIRM = 0x7fffffff,
};

struct tn_nf_state {
	enum tn_nf_hooknum hook;
	int in_ifindex;   /* 0 for packets this host sends */
	int out_ifindex;  /* 0 before the routing decision and for LOCAL_IN */
	struct tn_stack *s;
};

/* Sees p with data at the IPv4 header (l3_off set); may rewrite it. */
typedef enum tn_nf_verdict (*tn_nf_hookfn)(void *priv, struct tn_pkt *p, const struct tn_nf_state *st);

struct tn_nf_hook_ops {
	tn_nf_hookfn fn;
	void *priv;
	enum tn_nf_hooknum hook;
	int priority;
};

#define TN_NF_MAX_PER_HOOK 8

/* A stack's registrations: per hook, sorted by priority. */
struct tn_nf {
	struct tn_nf_hook_ops entry[TN_NF_NUMHOOKS][TN_NF_MAX_PER_HOOK];
	uint8_t n[TN_NF_NUMHOOKS];
};

/* 0, -EINVAL for a bad hook, -ENOSPC when the hook is full. */
int tn_nf_register(struct tn_stack *s, const struct tn_nf_hook_ops *ops);
/* Removes the registration with the same fn, priv and hook; 0 or -ENOENT. */
int tn_nf_unregister(struct tn_stack *s, const struct tn_nf_hook_ops *ops);

bool tn_nf_hook_slow(struct tn_stack *s, struct tn_nf *nf, enum tn_nf_hooknum hook, struct tn_pkt *p,
		     int in_ifindex, int out_ifindex);

/* Run a hook's functions.  True: the packet goes on.  False: it was
 * dropped (freed, counted) or stolen; the caller must not touch it. */
static inline bool tn_nf_hook(struct tn_stack *s, struct tn_nf *nf, enum tn_nf_hooknum hook, struct tn_pkt *p,
			      int in_ifindex, int out_ifindex)
{
	if (!nf->n[hook])
		return true;
	return tn_nf_hook_slow(s, nf, hook, p, in_ifindex, out_ifindex);
}

#endif
