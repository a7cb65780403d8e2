/* NAT as Linux's nf_nat: the nat table is consulted for the first packet
 * of a connection only (conntrack NEW), once per manipulation type:
 * destination (DNAT, REDIRECT) at PRE_ROUTING / LOCAL_OUT, priority -100,
 * source (SNAT, MASQUERADE) at POST_ROUTING / LOCAL_IN, priority 100.  The
 * mapping chosen (get_unique_tuple: keep the original port if free, else
 * search the range for a tuple no other connection uses) is stored by
 * altering the conntrack entry's reply tuple; every packet of the
 * connection, both ways, is then rewritten from the entry (nf_nat_packet)
 * with incremental checksum updates (RFC 1624).  ICMP errors about a
 * translated connection get their quoted header translated too.  A
 * connection no rule maps gets a null binding (its own addresses, a port
 * changed only if another connection already uses the tuple), as Linux.
 * See docs/DESIGN.md, "NAT". */
#ifndef TN_NAT_H
#define TN_NAT_H

#include <stdbool.h>
#include <stdint.h>

#include "filter/conntrack.h"
#include "filter/nf.h"

struct tn_stack;
struct tn_pkt;

enum tn_nat_manip { TN_NAT_MANIP_SRC = 0, TN_NAT_MANIP_DST = 1 };

/* Range flags (Linux's NF_NAT_RANGE_*). */
enum {
	TN_NAT_RANGE_MAP_IPS = 1u << 0,
	TN_NAT_RANGE_PROTO_SPECIFIED = 1u << 1,
	TN_NAT_RANGE_PROTO_RANDOM = 1u << 2,
	TN_NAT_RANGE_PERSISTENT = 1u << 3,
	TN_NAT_RANGE_PROTO_RANDOM_FULLY = 1u << 4,
	/* Linux 5.x+ takes either as "a random port, never the original" */
	TN_NAT_RANGE_PROTO_RANDOM_ALL = TN_NAT_RANGE_PROTO_RANDOM | TN_NAT_RANGE_PROTO_RANDOM_FULLY,
};

/* What a NAT target maps to (host order). */
struct tn_nat_range {
	uint32_t min_ip, max_ip;
	uint16_t min_port, max_port;
	uint8_t flags;
};

struct tn_nat_stats {
	uint64_t setups;        /* mappings chosen by a NAT target */
	uint64_t null_bindings; /* first packets no NAT rule mapped */
	uint64_t remapped;      /* of both: a port changed to keep the tuple unique */
	uint64_t exhausted;     /* no free tuple in the range: packet dropped */
	uint64_t no_addr;       /* MASQUERADE/REDIRECT: the interface has no address */
	uint64_t icmp_bad;      /* ICMP errors dropped (bad checksum, redirect on a NATed flow) */
	uint64_t masq_flushed;  /* MASQUERADE entries removed: their address went away */
};

struct tn_nat {
	struct tn_nat_stats stats;
	/* The hook whose first packet the nat table is looking at (the
	 * targets need its interfaces); NULL outside a traversal. */
	const struct tn_nf_state *st;
};

/* entry->nat: for MASQUERADE, the out interface (bit 31 set) whose address
 * the entry uses, so the entry goes when that address does. */
#define TN_NAT_MASQ_BIT 0x80000000u

/* Parse a target's argument: SNAT/DNAT "A[-B][:P[-Q]]" (ports_only false),
 * MASQUERADE/REDIRECT --to-ports "P[-Q]" (ports_only true).  0, or -1 with
 * iptables' message in err. */
int tn_nat_parse_range(const char *arg, bool ports_only, struct tn_nat_range *r, char *err, size_t errlen);

/* Register the NAT hooks (conntrack on too); a second call does nothing.
 * 0 or a negative errno. */
int tn_nat_enable(struct tn_stack *s);
/* At stack teardown. */
void tn_nat_free(struct tn_stack *s);

/* A NAT target (enum tn_ipt_target value) hit in the nat table for packet
 * p at `hook`: set the entry's mapping up.  ACCEPT, or DROP when no tuple
 * is free or the interface has no address. */
enum tn_nf_verdict tn_nat_target(struct tn_stack *s, struct tn_pkt *p, int hook, int target,
				 const struct tn_nat_range *r);

/* nf_nat_setup_info: give entry e the mapping m from range r.  0, or
 * -EADDRINUSE when every tuple in the range is taken (counted). */
int tn_nat_setup(struct tn_stack *s, struct tn_ct *e, const struct tn_nat_range *r, enum tn_nat_manip m);
/* The mapping a connection gets when no rule gave one (alloc_null_binding). */
int tn_nat_null_binding(struct tn_stack *s, struct tn_ct *e, enum tn_nat_manip m);

/* nf_nat_packet: rewrite p (data at the IPv4 header) as entry e says for
 * direction dir and manipulation m.  false: the headers could not be read. */
bool tn_nat_packet(struct tn_stack *s, struct tn_pkt *p, const struct tn_ct *e, enum tn_ct_dir dir,
		   enum tn_nat_manip m);
/* An ICMP error RELATED to e (going in direction dir): translate the quoted
 * header and the outer address.  false: drop it. */
bool tn_nat_icmp_reply(struct tn_stack *s, struct tn_pkt *p, const struct tn_ct *e, enum tn_ct_dir dir,
		       enum tn_nat_manip m);

/* Rewrite one IPv4 header (at ip, `avail` bytes readable) and the L4 header
 * after it: the source (m SRC) or destination address and port/ICMP id to
 * those of `target`, the IP checksum and the TCP/UDP/ICMP checksum updated
 * incrementally.  csum_partial: the L4 checksum is not computed yet (left
 * alone).  quoted: a header inside an ICMP error, of which only 8 bytes of
 * L4 may be there (a TCP checksum then stays).  false if too short. */
bool tn_nat_manip_hdr(uint8_t *ip, uint32_t avail, const struct tn_ct_tuple *target, enum tn_nat_manip m,
		      bool csum_partial, bool quoted);

/* Remove every MASQUERADE entry of interface ifindex (0: all) whose
 * address is no longer the interface's.  Returns how many. */
unsigned tn_nat_masq_flush(struct tn_stack *s, int ifindex);

#endif
