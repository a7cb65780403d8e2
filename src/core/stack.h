/* The stack instance: every piece of state hangs off one of these. */
#ifndef TN_STACK_H
#define TN_STACK_H

#include <stdarg.h>
#include <stdint.h>

#include "core/pkt.h"
#include "sched/qdisc.h"
#include "core/rand.h"
#include "core/rss.h"
#include "core/stats.h"
#include "core/sysctl.h"
#include "core/timer.h"
#include "filter/nf.h"
#include "link/dev.h"
#include "net/frag.h"
#include "net/icmp.h"
#include "net/neigh.h"
#include "net/route.h"
#include "socket/sock.h"
#include "tcp/tcp.h"
#include "tern/tern.h"

#define TN_MAX_IFACES 16
#define TN_MAX_ADDRS 8

struct tn_ifaddr {
	uint32_t addr;
	uint8_t plen;
	uint32_t bcast;   /* subnet broadcast (0 for /31, /32) */
};

struct tn_iface {
	struct tn_dev *dev;       /* NULL: slot unused */
	int ifindex;
	struct tn_ifaddr addrs[TN_MAX_ADDRS];
	int naddrs;
	/* Egress: the root qdisc and what it shares (clock, randomness, the
	 * frames a driver refused, kept in order ahead of the qdisc). */
	struct tn_qenv sched;
	struct tn_pkt_queue requeued; /* bytes = pkt_len */
	bool sched_dirty;         /* enqueued since the last flush */
	uint32_t txqueuelen;
	uint64_t tx_queue_drops;
	bool gro;                 /* merge received TCP segments (default on) */
	bool gso;                 /* TCP builds large segments for it (default on) */
	bool tso_capable;         /* the driver offered TN_DEV_F_TSO when attached */
};

/* Packets and bytes waiting to leave a device (qdisc and requeued). */
static inline uint32_t tn_iface_backlog_pkts(const struct tn_iface *ifc)
{
	return ifc->requeued.count + (ifc->sched.root ? ifc->sched.root->stats.qlen : 0);
}
static inline uint32_t tn_iface_backlog_bytes(const struct tn_iface *ifc)
{
	return ifc->requeued.bytes + (ifc->sched.root ? ifc->sched.root->stats.backlog : 0);
}

/* An address and the interface it belongs to, in a flat list searched on
 * every packet (a host has a handful; scanning 16 interface slots did not
 * scale to the hot path). */
struct tn_conntrack;
struct tn_nat;

struct tn_addr_ref {
	uint32_t addr;
	int ifindex;
};

struct tn_ipt;

/* This stack as queue `queue` of `nqueues` behind Toeplitz RSS (one stack
 * per core, docs/DESIGN.md "Per-core stacks"): the ephemeral ports it
 * chooses for connections are ones whose replies hash back to it. */
struct tn_stack_rss {
	uint16_t nqueues;         /* 0 or 1: not one of several */
	uint16_t queue;
	uint8_t key[TN_RSS_KEY_LEN];
};

struct tn_stack {
	char name[32];
	uint64_t now;
	struct tn_rand rng;
	struct tn_mempool *pool;
	struct tn_wheel wheel;
	struct tn_sysctl sysctl;
	uint64_t stats[TN_STAT_COUNT];
	struct tn_iface ifaces[TN_MAX_IFACES + 1]; /* by ifindex; 0 unused */
	int nifaces;
	struct tn_addr_ref locals[TN_MAX_IFACES * TN_MAX_ADDRS];
	int nlocals;
	struct tn_addr_ref bcasts[TN_MAX_IFACES * TN_MAX_ADDRS];
	int nbcasts;
	uint16_t ip_id;           /* next IP identification */
	struct tn_nf nf;          /* netfilter hook registrations */
	struct tn_conntrack *ct;  /* connection tracking (NULL: off) */
	struct tn_nat *nat;       /* NAT (filter/nat.h; NULL: off) */
	struct tn_ipt *ipt;       /* iptables tables and sets (filter/ipt.h), NULL until used */
	struct tn_route_table routes;
	struct tn_neigh_table neigh;
	struct tn_frag_table frag;
	struct tn_icmp_state icmp;
	struct tn_sock_table socks;
	struct tn_tcp_table tcp;
	struct tn_pkt_queue loopback; /* sent to ourselves, input next pass */
	struct tn_stack_rss rss;
	void (*log)(void *ctx, int level, const char *msg);
	void *log_ctx;
	/* If set, called after every ACK a connection processes and every
	 * timeout it takes, with the connection's state (tern trace). */
	void (*tcp_trace)(void *ctx, const struct tn_stack *s, const struct tn_tcb *t);
	void *tcp_trace_ctx;
};

static inline void tn_stat_inc(struct tn_stack *s, enum tn_stat c) { s->stats[c]++; }
static inline void tn_stat_add(struct tn_stack *s, enum tn_stat c, uint64_t n) { s->stats[c] += n; }

/* The one way packets are dropped: count the reason, free the packet. */
static inline void tn_drop(struct tn_stack *s, struct tn_pkt *p, enum tn_stat reason)
{
	s->stats[reason]++;
	tn_pkt_free(p);
}

static inline struct tn_iface *tn_iface_get(struct tn_stack *s, int ifindex)
{
	if (ifindex <= 0 || ifindex > TN_MAX_IFACES || !s->ifaces[ifindex].dev)
		return NULL;
	return &s->ifaces[ifindex];
}

/* May a connection from laddr:lport to raddr:rport use lport?  Always,
 * unless the stack is one of several RSS queues: then only if the replies
 * (raddr:rport -> laddr:lport) hash to this stack's queue.  laddr 0 (not
 * known yet) is not checked. */
static inline bool tn_rss_port_ok(const struct tn_stack *s, uint32_t laddr, uint16_t lport, uint32_t raddr,
				  uint16_t rport)
{
	if (s->rss.nqueues <= 1 || !laddr || !raddr)
		return true;
	return tn_rss_queue(tn_rss_hash_v4(s->rss.key, raddr, laddr, rport, lport), s->rss.nqueues) == s->rss.queue;
}

/* Queue a finished frame (L2 header in place for Ethernet devices) on the
 * device's transmit queue; it leaves at the end of this poll.  Consumes. */
void tn_dev_queue_xmit(struct tn_stack *s, int ifindex, struct tn_pkt *pkt);

/* Address helpers. */
bool tn_addr_is_local(const struct tn_stack *s, uint32_t addr);
/* Directed or limited broadcast for some interface (or for ifindex > 0 only). */
bool tn_addr_is_bcast(const struct tn_stack *s, uint32_t addr, int ifindex);
/* First address on ifindex (0 if none); with `near` != 0, one whose subnet
 * contains `near` if there is one. */
uint32_t tn_iface_addr(const struct tn_stack *s, int ifindex, uint32_t near);

void tn_log(struct tn_stack *s, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
