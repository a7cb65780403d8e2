/* Queueing disciplines (Linux's net/sched): every packet a device sends is
 * enqueued on the device's root qdisc and leaves when the poll loop
 * dequeues it for the driver.
 *
 * A qdisc is an object with an ops table (struct tn_qdisc_ops) and private
 * state after it.  Classful qdiscs (prio, htb) hold child qdiscs in classes
 * addressed by major:minor handles and choose a class with filters
 * (sch_cls.c).  Each qdisc parses its own tc words ("rate 5mbit burst 15k"),
 * so the tc command line, a config file and the unit tests all create
 * qdiscs the same way, and a bad word is reported by the qdisc that knows
 * what it means.
 *
 * Time and randomness come from the device's environment (struct
 * tn_qenv), so qdiscs run on the virtual clock in tests.  A qdisc that
 * holds packets back (a rate, a delay) returns NULL from dequeue and says
 * when to come back with tn_qdisc_watchdog(): the stack then wakes exactly
 * then (tern_poll_at). */
#ifndef TN_QDISC_H
#define TN_QDISC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/pkt.h"
#include "core/rand.h"

/* Handles as tc writes them: major:minor, 16 bits each. */
#define TN_TC_H(maj, min) (((uint32_t)(maj) << 16) | ((uint32_t)(min)&0xffffu))
#define TN_TC_H_MAJ(h) ((h)&0xffff0000u)
#define TN_TC_H_MIN(h) ((h)&0x0000ffffu)
#define TN_TC_H_ROOT 0xffffffffu
#define TN_TC_H_UNSPEC 0u

/* enqueue's answer, as Linux's NET_XMIT_*. */
enum tn_qdisc_verdict {
	TN_QDISC_OK = 0,   /* queued */
	TN_QDISC_DROP = 1, /* dropped (this packet) */
	TN_QDISC_CN = 2,   /* queued, but another packet was dropped */
};

struct tn_qstats {
	uint64_t bytes, packets; /* sent (dequeued) */
	uint64_t drops, overlimits, requeues;
	uint32_t backlog;        /* bytes queued */
	uint32_t qlen;           /* packets queued */
};

/* What a device's qdiscs share: the clock, randomness, buffers for copies
 * (netem's duplicates), and the earliest wake-up any of them asked for. */
struct tn_qenv {
	uint64_t now;
	uint64_t wake_at;        /* UINT64_MAX: no one is waiting for time */
	struct tn_rand *rng;
	struct tn_mempool *pool;
	uint32_t mtu;            /* the device's, for burst and quantum defaults */
	uint32_t txqueuelen;     /* default packet limit of fifos */
	struct tn_qdisc *root;
	struct tn_pkt *requeued; /* taken by dequeue, refused by the driver */
};

/* An error message for the user: which word and why. */
struct tn_qerr {
	char msg[160];
};

struct tn_qdisc;

/* Per-class operations of a classful qdisc. */
struct tn_qclass_ops {
	/* Create or change class `classid` under `parent` (a class of this
	 * qdisc, or the qdisc's own handle) with tc words (htb's rate/ceil);
	 * a qdisc whose classes are fixed (prio's bands) may leave it NULL. */
	int (*change)(struct tn_qdisc *q, uint32_t classid, uint32_t parent, int argc, char **argv,
		      struct tn_qerr *err);
	int (*remove)(struct tn_qdisc *q, uint32_t classid, struct tn_qerr *err);
	/* Replace the class's leaf qdisc with `child` (NULL: the default);
	 * the old one is returned for the caller to destroy. */
	int (*graft)(struct tn_qdisc *q, uint32_t classid, struct tn_qdisc *child, struct tn_qdisc **old);
	struct tn_qdisc *(*leaf)(struct tn_qdisc *q, uint32_t classid);
	/* Visit every class: fn(ctx, classid, parent, leaf). */
	void (*walk)(struct tn_qdisc *q, void (*fn)(void *ctx, uint32_t classid, uint32_t parent,
						    struct tn_qdisc *leaf),
		     void *ctx);
	/* The class's tc options ("rate 5Mbit ceil 6Mbit ...") and counters. */
	int (*dump)(struct tn_qdisc *q, uint32_t classid, char *buf, size_t cap, struct tn_qstats *st);
};

struct tn_qdisc_ops {
	const char *kind;        /* "pfifo_fast", "tbf", ... as tc names them */
	size_t priv_size;
	/* Parse tc words into a fresh qdisc; on error say which word. */
	int (*init)(struct tn_qdisc *q, int argc, char **argv, struct tn_qerr *err);
	/* Optional: change a live qdisc (tc qdisc change); parse first, apply
	 * only if all words are good. */
	int (*change)(struct tn_qdisc *q, int argc, char **argv, struct tn_qerr *err);
	/* Consumes p.  Keeps q->stats.qlen and backlog (and drops) right. */
	enum tn_qdisc_verdict (*enqueue)(struct tn_qdisc *q, struct tn_pkt *p);
	/* The next packet that may leave now, or NULL (empty, or waiting: then
	 * tn_qdisc_watchdog says until when).  Counts it as sent. */
	struct tn_pkt *(*dequeue)(struct tn_qdisc *q);
	/* The packet dequeue would return next, without taking it; NULL if
	 * none could leave now.  Optional for leaf qdiscs (tn_qdisc_peek
	 * falls back on dequeue plus a one-packet stash). */
	struct tn_pkt *(*peek)(struct tn_qdisc *q);
	void (*reset)(struct tn_qdisc *q);   /* drop everything queued */
	void (*destroy)(struct tn_qdisc *q); /* free private allocations (children too) */
	/* tc's options as `tc qdisc show` prints them after the handle. */
	int (*dump)(const struct tn_qdisc *q, char *buf, size_t cap);
	/* Optional: the qdisc's own counters as `tc -s` prints them after the
	 * generic ones (fq_codel's maxpacket, drop_overlimit, ...). */
	int (*dump_xstats)(const struct tn_qdisc *q, char *buf, size_t cap);
	const struct tn_qclass_ops *cl;      /* NULL for classless qdiscs */
};

struct tn_qdisc {
	const struct tn_qdisc_ops *ops;
	uint32_t handle;         /* major:0 */
	uint32_t parent;         /* TN_TC_H_ROOT or a class id */
	struct tn_qenv *env;
	struct tn_qstats stats;
	struct tn_pkt *stash;    /* tn_qdisc_peek's packet, when ops->peek is NULL */
	struct tn_qfilter *filters; /* classifiers of a classful qdisc (sch_cls.c) */
	_Alignas(16) uint8_t priv[];
};

static inline void *tn_qdisc_priv(struct tn_qdisc *q) { return q->priv; }
static inline const void *tn_qdisc_cpriv(const struct tn_qdisc *q) { return q->priv; }

/* ---- The registry and life cycle (sch_api.c) ---- */

const struct tn_qdisc_ops *tn_qdisc_lookup_ops(const char *kind);
/* Every kind, in registration order (for error messages and tests). */
const struct tn_qdisc_ops *const *tn_qdisc_all_ops(size_t *n);
/* A new qdisc of `kind` configured by tc words; NULL with err set. */
struct tn_qdisc *tn_qdisc_create(struct tn_qenv *env, const char *kind, uint32_t handle, uint32_t parent,
				 int argc, char **argv, struct tn_qerr *err);
/* Drops what it holds, frees it and its children. */
void tn_qdisc_destroy(struct tn_qdisc *q);
/* The default qdisc of a class or device: pfifo_fast for a device root,
 * pfifo with the device's txqueuelen for a class. */
struct tn_qdisc *tn_qdisc_default(struct tn_qenv *env, uint32_t parent, bool root);

/* ---- Calling a qdisc (what parents and the device do) ---- */

static inline enum tn_qdisc_verdict tn_qdisc_enqueue(struct tn_qdisc *q, struct tn_pkt *p)
{
	return q->ops->enqueue(q, p);
}
struct tn_pkt *tn_qdisc_dequeue(struct tn_qdisc *q);
struct tn_pkt *tn_qdisc_peek(struct tn_qdisc *q);
void tn_qdisc_reset(struct tn_qdisc *q);

/* Helpers for qdisc implementations. */
/* Drop p (consumed) and count it. */
void tn_qdisc_drop(struct tn_qdisc *q, struct tn_pkt *p);
/* Ask to be dequeued again at time t (the watchdog). */
static inline void tn_qdisc_watchdog(struct tn_qdisc *q, uint64_t t)
{
	if (t < q->env->wake_at)
		q->env->wake_at = t;
}
/* The bytes a packet takes on the wire, for rates: its length (a large
 * segment counts each segment's headers, as Linux's qdisc_pkt_len). */
uint32_t tn_qdisc_pkt_len(const struct tn_pkt *p);
/* Bookkeeping of a packet taken from a child or own queue. */
static inline void tn_qdisc_count_out(struct tn_qdisc *q, const struct tn_pkt *p)
{
	q->stats.bytes += p->pkt_len;
	q->stats.packets += TN_PKT_SEGS(p);
}

/* ---- Parsing tc words (sch_parse.c) ---- */

/* "5mbit", "220kbit", "1gbit", "100bps" (bytes/s), plain bits/s: bytes/s. */
int tn_tc_get_rate(const char *s, uint64_t *bytes_per_s);
/* "15k", "1540", "1mb", "2m" (bytes, k = 1024 as tc's get_size). */
int tn_tc_get_size(const char *s, uint32_t *bytes);
/* "50ms", "10us", "1s", "600ms": nanoseconds. */
int tn_tc_get_time(const char *s, uint64_t *ns);
/* "10%", "0.5%", "0.1": a probability in [0,1]. */
int tn_tc_get_percent(const char *s, double *p);
/* "1:", "1:10", "ffff:", "root", "none": a handle. */
int tn_tc_get_handle(const char *s, uint32_t *h);
int tn_tc_get_u32(const char *s, uint32_t *v);
/* Printing as tc does: "5Mbit", "15Kb", "50ms". */
void tn_tc_print_rate(char *buf, size_t cap, uint64_t bytes_per_s);
void tn_tc_print_size(char *buf, size_t cap, uint32_t bytes);
void tn_tc_print_time(char *buf, size_t cap, uint64_t ns);
/* Set err->msg printf-style; returns -1 for `return tn_qerr(...)`. */
int tn_qerr(struct tn_qerr *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
