/* Connection tracking, with Linux's semantics (nf_conntrack): a per-stack
 * table of connections keyed by tuple in both directions, per-protocol
 * state (TCP with window checks, UDP, ICMP echo ids, a generic tracker for
 * the rest), RELATED for ICMP errors about a tracked flow, entries confirmed
 * only after the packet passed the filters, a bounded table, expiry on the
 * stack's timing wheel.  Off until tn_conntrack_enable().
 *
 * The packet's association: a 32-bit value in struct tn_pkt (`nfct`, in
 * the padding before buf[], so the metadata stays 128 bytes), set at
 * PRE_ROUTING / LOCAL_OUT (and at LOCAL_IN for reassembled datagrams) and
 * read by the rule engine through tn_ct_state_of().  It is an entry index
 * with the direction and the packet's state; it owns nothing, so a packet
 * freed anywhere leaks nothing.  A new flow's entry is "unconfirmed": not
 * in the table, remembered in a small ring of pending entries until the
 * packet reaches the confirm hook (LOCAL_IN / POST_ROUTING, last).  A
 * packet that was dropped on the way never gets there; its entry is freed
 * when the ring slot comes round again (TN_CT_PENDING later new flows), so
 * at most TN_CT_PENDING such entries exist at any time, and none leak.
 * See docs/DESIGN.md, "Connection tracking". */
#ifndef TN_CONNTRACK_H
#define TN_CONNTRACK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/timer.h"

struct tn_stack;
struct tn_pkt;

/* What a packet is to the connection tracker (xt_conntrack's states). */
enum tn_ct_state {
	TN_CT_NEW,
	TN_CT_ESTABLISHED,
	TN_CT_RELATED,
	TN_CT_INVALID,   /* also: never seen by conntrack (Linux: no ct) */
	TN_CT_UNTRACKED, /* fragments that are forwarded without reassembly */
};

enum tn_ct_dir { TN_CT_DIR_ORIGINAL = 0, TN_CT_DIR_REPLY = 1 };

/* One direction's addresses and ports (host order).  ICMP: sport is the
 * echo id, dport is type << 8 | code. */
struct tn_ct_tuple {
	uint32_t src, dst;
	uint16_t sport, dport;
};

/* TCP states, in Linux's order (conntrack -L prints these names). */
enum tn_ct_tcp_state {
	TN_CT_TCP_NONE,
	TN_CT_TCP_SYN_SENT,
	TN_CT_TCP_SYN_RECV,
	TN_CT_TCP_ESTABLISHED,
	TN_CT_TCP_FIN_WAIT,
	TN_CT_TCP_CLOSE_WAIT,
	TN_CT_TCP_LAST_ACK,
	TN_CT_TCP_TIME_WAIT,
	TN_CT_TCP_CLOSE,
	TN_CT_TCP_SYN_SENT2,
	TN_CT_TCP_NSTATES,
};
/* Indexes of net.netfilter.nf_conntrack_tcp_timeout_* in the sysctl
 * array: the states above, then these two. */
#define TN_CT_TCP_TO_MAX_RETRANS 10
#define TN_CT_TCP_TO_UNACK 11
#define TN_CT_TCP_NTIMEOUTS 12

/* Per-direction TCP window data (Linux's ip_ct_tcp_state). */
struct tn_ct_tcp_dir {
	uint32_t td_end;    /* max of seq + len */
	uint32_t td_maxend; /* max of ack + max(win, 1) */
	uint32_t td_maxwin; /* max(win) */
	uint32_t td_maxack; /* max of ack */
	uint8_t td_scale;   /* window scale factor */
	uint8_t flags;      /* TN_CT_TCPF_* */
};
#define TN_CT_TCPF_WINDOW_SCALE 0x01
#define TN_CT_TCPF_SACK_PERM 0x02
#define TN_CT_TCPF_CLOSE_INIT 0x04
#define TN_CT_TCPF_BE_LIBERAL 0x08
#define TN_CT_TCPF_DATA_UNACK 0x10
#define TN_CT_TCPF_MAXACK_SET 0x20

struct tn_ct_tcp {
	struct tn_ct_tcp_dir seen[2];
	uint32_t last_seq, last_ack, last_end;
	uint16_t last_win;
	uint8_t last_index;  /* segment kind of the last packet (TCP_*_SET) */
	uint8_t last_dir;
	uint8_t last_wscale, last_flags;
	uint8_t retrans;
};

/* Entry status bits (Linux's IPS_* where they exist). */
enum {
	TN_CT_S_SEEN_REPLY = 1u << 1,
	TN_CT_S_ASSURED = 1u << 2,
	TN_CT_S_CONFIRMED = 1u << 3,
	TN_CT_S_SRC_NAT = 1u << 4,
	TN_CT_S_DST_NAT = 1u << 5,
	TN_CT_S_SRC_NAT_DONE = 1u << 7,
	TN_CT_S_DST_NAT_DONE = 1u << 8,
	TN_CT_S_DYING = 1u << 9,
	TN_CT_S_USED = 1u << 15, /* tern: the slot holds an entry */
};

/* One connection.  Entries live in chunks of an array and refer to each
 * other by index (0: none), so the links take 4 bytes each. */
struct tn_ct {
	struct tn_ct_tuple tuple[2]; /* original, reply (NAT changes the reply) */
	uint32_t hnext[2];           /* hash chains: next node (index << 1 | dir) */
	uint32_t tnext, tprev;       /* expiry wheel slot list */
	uint32_t expires;            /* conntrack clock (TN_CT_HZ), low 32 bits */
	uint32_t mark;
	uint32_t nat;                /* for NAT's use (0 when unused) */
	uint16_t status;             /* TN_CT_S_* */
	uint8_t proto;
	uint8_t state;               /* TCP: enum tn_ct_tcp_state */
	uint16_t wslot;              /* expiry wheel slot (TN_CT_NOSLOT: none) */
	union {
		struct tn_ct_tcp tcp;
		uint32_t udp_stream_ts; /* UDP: when the flow counts as a stream */
	} u;
};

/* Linux's per-table statistics, as conntrack -S shows them. */
struct tn_ct_stats {
	uint64_t found, invalid, insert, insert_failed, drop, early_drop, error, search_restart;
	uint64_t new_, deleted; /* tern: entries created, entries freed */
};

#define TN_CT_HZ 100u          /* ticks of the conntrack clock per second */
#define TN_CT_WHEEL_SLOTS 512u /* one-second slots */
#define TN_CT_NOSLOT 0xffffu
#define TN_CT_PENDING 8u       /* unconfirmed entries in flight */
#define TN_CT_CHUNK_SHIFT 10u
#define TN_CT_CHUNK (1u << TN_CT_CHUNK_SHIFT)

struct tn_conntrack {
	struct tn_stack *s;
	uint64_t hkey;
	uint32_t *buckets;  /* head node (index << 1 | dir), 0: empty */
	uint32_t hmask;
	struct tn_ct **chunks; /* entries [1..nalloc), in chunks of TN_CT_CHUNK */
	uint32_t nchunks, chunks_cap;
	uint32_t nalloc;       /* entries ever made (slots in chunks used) */
	uint32_t free_head;    /* free list through hnext[0] */
	uint32_t count;        /* entries allocated: confirmed + unconfirmed */
	uint32_t pending[TN_CT_PENDING];
	uint32_t pend_pos;
	/* Expiry: entries sit in the slot of the second they expire in (at
	 * most TN_CT_WHEEL_SLOTS ahead); a packet only moves `expires`, and
	 * an entry found not yet expired when its slot is due moves on. */
	uint32_t wheel[TN_CT_WHEEL_SLOTS];
	uint64_t wheel_cur;    /* first second not yet processed */
	struct tn_timer timer; /* armed at the next non-empty slot */
	struct tn_ct_stats stats;
	/* Called before an entry is freed (NAT releases what it holds). */
	void (*destroy)(void *ctx, struct tn_stack *s, struct tn_ct *e);
	void *destroy_ctx;
};

/* ---- turning it on ---- */
/* Allocate the table (buckets sized from nf_conntrack_max) and register the
 * hooks; a second call does nothing.  0 or -ENOMEM. */
int tern_conntrack_enable(struct tn_stack *s);
/* Unregister, flush, free.  Packets in flight read as INVALID afterwards. */
void tern_conntrack_disable(struct tn_stack *s);
static inline bool tn_ct_enabled(const struct tn_stack *s);
/* At stack teardown. */
void tn_conntrack_free(struct tn_stack *s);

/* ---- what the rule engine asks ---- */
/* The packet's state and, with `reply`, whether it goes in the reply
 * direction.  A packet conntrack did not track reads INVALID, as Linux. */
enum tn_ct_state tn_ct_state_of(struct tn_stack *s, const struct tn_pkt *p, bool *reply);
/* The packet's entry (NULL if none) and its direction. */
struct tn_ct *tn_ct_get(struct tn_stack *s, const struct tn_pkt *p, enum tn_ct_dir *dir);
/* The connection mark (CONNMARK); NULL when the packet has no entry. */
uint32_t *tn_ct_mark(struct tn_stack *s, const struct tn_pkt *p);
/* Timeout left, in seconds (what conntrack -L prints). */
uint32_t tn_ct_timeout_left(struct tn_stack *s, const struct tn_ct *e);

/* ---- for NAT ---- */
/* The reply tuple a tuple would have (ICMP: echo type inverted). */
void tn_ct_invert(uint8_t proto, const struct tn_ct_tuple *t, struct tn_ct_tuple *out);
/* True if a confirmed entry other than `ignore` has tuple t in either
 * direction (nf_conntrack_tuple_taken: NAT port allocation). */
bool tn_ct_tuple_taken(struct tn_stack *s, uint8_t proto, const struct tn_ct_tuple *t, const struct tn_ct *ignore);
/* Replace an entry's reply tuple (nf_conntrack_alter_reply); a confirmed
 * entry is moved in the table.  0, or -EEXIST if the tuple is taken. */
int tn_ct_alter_reply(struct tn_stack *s, struct tn_ct *e, const struct tn_ct_tuple *reply);
/* Look a tuple up: the entry and the direction it matched, or NULL. */
struct tn_ct *tn_ct_find(struct tn_stack *s, uint8_t proto, const struct tn_ct_tuple *t, enum tn_ct_dir *dir);
uint32_t tn_ct_index(struct tn_stack *s, const struct tn_ct *e);
/* Remove an entry now (conntrack -D). */
void tn_ct_kill(struct tn_stack *s, struct tn_ct *e);

/* ---- conntrack -L / -S / -C / -F ---- */
/* Calls fn for every confirmed entry; fn may not free entries. */
void tn_ct_foreach(struct tn_stack *s, void (*fn)(void *ctx, struct tn_ct *e), void *ctx);
/* One line like conntrack -L prints (without the newline). */
int tn_ct_format(struct tn_stack *s, const struct tn_ct *e, char *buf, size_t cap);
/* Print every entry, then conntrack's summary line; returns the count. */
unsigned tn_ct_list(struct tn_stack *s, FILE *f);
void tn_ct_print_stats(struct tn_stack *s, FILE *f);
uint32_t tn_ct_count(struct tn_stack *s);
/* Free every entry; returns how many. */
unsigned tn_ct_flush(struct tn_stack *s);
/* Memory the table holds (entries' chunks, buckets): bytes. */
size_t tn_ct_memory(struct tn_stack *s);

/* ---- the hooks themselves (registered by tern_conntrack_enable) ---- */
struct tn_nf_state;
/* PRE_ROUTING / LOCAL_OUT / LOCAL_IN at TN_NF_PRI_CONNTRACK: associate.
 * Returns a verdict (enum tn_nf_verdict). */
int tn_ct_in(struct tn_stack *s, struct tn_pkt *p, const struct tn_nf_state *st);
/* LOCAL_IN / POST_ROUTING last: confirm. */
int tn_ct_confirm(struct tn_stack *s, struct tn_pkt *p);

/* nfct encoding (struct tn_pkt's nfct): bits 0-2 the packet's state + 1
 * (0: conntrack has not seen it), bit 3 the reply direction, 4-31 the
 * entry index (0: no entry). */
#define TN_CT_NFCT(idx, st, reply) (((uint32_t)(idx) << 4) | ((reply) ? 8u : 0u) | ((uint32_t)(st) + 1u))
#define TN_CT_NFCT_IDX(v) ((v) >> 4)
#define TN_CT_MAX_ENTRIES (1u << 27)

#include "core/stack.h"
static inline bool tn_ct_enabled(const struct tn_stack *s) { return s->ct != NULL; }

#endif
