/* htb: Linux's hierarchical token bucket (net/sched/sch_htb.c).
 *
 * Classes form a tree under the qdisc; leaves (level 0) hold a child qdisc,
 * inner classes only account.  Every class has two token buckets kept in
 * nanoseconds of transmission time as Linux does: tokens for its rate
 * (guaranteed) and ctokens for its ceil, refilled by the time since the
 * class was last charged and capped at burst (buffer) and cburst (cbuffer).
 * From them a class is in one of three modes:
 *   CAN_SEND    tokens >= 0: may send on its own rate;
 *   MAY_BORROW  tokens < 0 but ctokens >= 0: may send with a parent's tokens;
 *   CANT_SEND   ctokens < 0: over its ceil.
 * A leaf with packets can send at level L when its path up the tree is
 * MAY_BORROW up to a class at level L that is CAN_SEND (L = 0: the leaf
 * itself).  Dequeue serves the lowest such level first and, within it, the
 * lowest priority number, and round-robins with deficits (quantum bytes
 * per turn) among the leaves sending at the same level and priority.  The
 * packet is charged to every class on the path: classes below the lending
 * level only to their ceil (they borrowed), the lender and those above to
 * both buckets.  When nothing can send, the watchdog is set to the exact
 * time the earliest blocking class on a waiting leaf's path changes mode.
 *
 * Levels are numbered as Linux numbers them: leaves 0, a class directly
 * under the qdisc 7, each inner level below one less.  Linux keeps the
 * eligible classes in per-level rb-trees with feed lists; here a dequeue
 * scans the (bounded) class table, which gives the same choice for the
 * same state.
 *
 * tc's defaults: ceil = rate, burst = rate/HZ + mtu and cburst = ceil/HZ +
 * mtu with mtu 1600 and HZ as tc reads it from /proc/net/psched on a
 * high-resolution kernel (10^9, so burst is about 1600 bytes), converted to
 * 64 ns ticks and back as tc and the kernel do ("cburst 1599b" at 6mbit);
 * quantum = rate / r2q clamped to 1000..200000 unless given. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/qdisc.h"
#include "sched/sch_cls.h"
#include "sched/sch_ops.h"

#define HTB_MAXDEPTH 8
#define HTB_NUMPRIO 8
#define HTB_MAX_CLASSES 1024
#define HTB_HZ 1000000000.0                 /* tc's get_hz() with hrtimers */
#define HTB_TC_MTU 1600u                    /* tc's default mtu for bursts */
#define HTB_TICKS_PER_US 15.625             /* psched ticks: 64 ns */
#define HTB_MBUFFER (60ll * 1000000000ll)   /* Linux: tokens floor and refill cap, 1 min */
#define NSEC 1000000000ull

enum htb_mode { HTB_CANT_SEND, HTB_MAY_BORROW, HTB_CAN_SEND };

struct htb_class {
	uint32_t classid;
	struct htb_class *parent;   /* NULL: a root class (parent is the qdisc) */
	int level;                  /* 0: leaf */
	uint32_t children;
	uint32_t prio;              /* 0..7, leaves */
	uint32_t quantum;           /* bytes per DRR turn */
	bool quantum_set;
	uint64_t rate, ceil;        /* bytes per second */
	uint32_t buf_ticks, cbuf_ticks; /* burst and cburst as tc passes them (64 ns ticks) */
	int64_t buffer, cbuffer;    /* ns */
	int64_t tokens, ctokens;    /* ns */
	uint64_t t_c;               /* when tokens were last brought up to date */
	enum htb_mode mode;
	uint64_t pq_key;            /* mode != CAN_SEND: when it changes */
	int64_t deficit[HTB_MAXDEPTH];
	struct tn_qdisc *leaf;      /* level 0 */
	uint32_t skip_gen;          /* leaf returned nothing in this dequeue */
	struct tn_qstats st;
	uint64_t lends, borrows;
};

struct htb {
	struct htb_class *cls[HTB_MAX_CLASSES]; /* sorted by classid */
	uint32_t ncls;
	uint32_t defcls;            /* minor of the default class */
	uint32_t r2q;
	uint32_t direct_qlen;
	uint64_t direct_pkts;
	struct tn_pkt_queue direct;
	uint32_t direct_n;
	uint32_t rr[HTB_MAXDEPTH][HTB_NUMPRIO]; /* DRR position: the classid served, or next */
	uint32_t gen;
};

static bool streq(const char *a, const char *b) { return strcmp(a, b) == 0; }

static struct htb_class *htb_find(struct htb *h, uint32_t classid)
{
	uint32_t lo = 0, hi = h->ncls;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (h->cls[mid]->classid == classid)
			return h->cls[mid];
		if (h->cls[mid]->classid < classid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ---- Tokens and modes ---- */

static int64_t l2t(uint64_t rate, uint32_t bytes)
{
	return (int64_t)((uint64_t)bytes * NSEC / rate);
}

static enum htb_mode class_mode(const struct htb_class *cl, int64_t *diff)
{
	int64_t toks = cl->ctokens + *diff;
	if (toks < 0) {
		*diff = -toks;
		return HTB_CANT_SEND;
	}
	toks = cl->tokens + *diff;
	if (toks >= 0)
		return HTB_CAN_SEND;
	*diff = -toks;
	return HTB_MAY_BORROW;
}

static void change_mode(struct tn_qdisc *q, struct htb_class *cl, int64_t diff)
{
	enum htb_mode m = class_mode(cl, &diff);
	if (m == HTB_CANT_SEND && cl->mode != HTB_CANT_SEND) {
		cl->st.overlimits++;
		q->stats.overlimits++;
	}
	cl->mode = m;
	if (m != HTB_CAN_SEND)
		cl->pq_key = q->env->now + (uint64_t)diff;
}

static int64_t elapsed(const struct tn_qdisc *q, const struct htb_class *cl)
{
	uint64_t d = q->env->now > cl->t_c ? q->env->now - cl->t_c : 0;
	return d > (uint64_t)HTB_MBUFFER ? HTB_MBUFFER : (int64_t)d;
}

static int64_t accnt(int64_t toks, int64_t diff, int64_t cap, int64_t cost)
{
	toks += diff;
	if (toks > cap)
		toks = cap;
	toks -= cost;
	if (toks <= -HTB_MBUFFER)
		toks = 1 - HTB_MBUFFER;
	return toks;
}

/* Charge a packet sent by leaf cl at `level` to its whole path. */
static void charge(struct tn_qdisc *q, struct htb_class *cl, int level, const struct tn_pkt *p)
{
	uint32_t bytes = tn_qdisc_pkt_len(p);
	for (; cl; cl = cl->parent) {
		int64_t diff = elapsed(q, cl);
		if (cl->level >= level) {
			if (cl->level == level)
				cl->lends++;
			cl->tokens = accnt(cl->tokens, diff, cl->buffer, l2t(cl->rate, bytes));
		} else {
			cl->borrows++;
			cl->tokens += diff;
		}
		cl->ctokens = accnt(cl->ctokens, diff, cl->cbuffer, l2t(cl->ceil, bytes));
		cl->t_c = q->env->now;
		change_mode(q, cl, 0);
		if (cl->level) {
			cl->st.bytes += p->pkt_len;
			cl->st.packets += TN_PKT_SEGS(p);
		}
	}
}

/* Classes whose time has come change mode (Linux's htb_do_events). */
static void do_events(struct tn_qdisc *q, struct htb *h)
{
	for (uint32_t i = 0; i < h->ncls; i++) {
		struct htb_class *cl = h->cls[i];
		if (cl->mode != HTB_CAN_SEND && cl->pq_key <= q->env->now)
			change_mode(q, cl, elapsed(q, cl));
	}
}

/* The level a leaf can send at now, or -1. */
static int send_level(const struct htb_class *cl)
{
	for (; cl; cl = cl->parent) {
		if (cl->mode == HTB_CAN_SEND)
			return cl->level;
		if (cl->mode == HTB_CANT_SEND)
			return -1;
	}
	return -1; /* a root class cannot borrow */
}

/* ---- Enqueue ---- */

#define HTB_DIRECT ((struct htb_class *)1)

static struct htb_class *classify(struct tn_qdisc *q, struct htb *h, const struct tn_pkt *p)
{
	uint32_t id = tn_qfilter_classify(q, p);
	if (id) {
		if (id == q->handle)
			return HTB_DIRECT; /* X:0, the direct flow */
		struct htb_class *cl = htb_find(h, id);
		if (cl && cl->level == 0)
			return cl;
		/* an inner class (its own filters are not supported) or no
		 * such class: the default, as Linux */
	}
	struct htb_class *cl = htb_find(h, TN_TC_H_MAJ(q->handle) | h->defcls);
	return cl && cl->level == 0 ? cl : HTB_DIRECT;
}

/* Bring our counters in line with what a child did. */
static void sync_child(struct tn_qdisc *q, struct htb_class *cl, uint32_t qlen0, uint32_t backlog0,
		       uint64_t drops0)
{
	struct tn_qdisc *c = cl->leaf;
	q->stats.qlen = q->stats.qlen + c->stats.qlen - qlen0;
	q->stats.backlog = q->stats.backlog + c->stats.backlog - backlog0;
	q->stats.drops += c->stats.drops - drops0;
	cl->st.drops += c->stats.drops - drops0;
}

static enum tn_qdisc_verdict htb_enqueue(struct tn_qdisc *q, struct tn_pkt *p)
{
	struct htb *h = tn_qdisc_priv(q);
	struct htb_class *cl = classify(q, h, p);
	if (cl == HTB_DIRECT) {
		if (h->direct_n >= h->direct_qlen) {
			tn_qdisc_drop(q, p);
			return TN_QDISC_DROP;
		}
		tn_pktq_push(&h->direct, p, p->pkt_len);
		h->direct_n++;
		h->direct_pkts++;
		q->stats.qlen++;
		q->stats.backlog += p->pkt_len;
		return TN_QDISC_OK;
	}
	struct tn_qdisc *c = cl->leaf;
	uint32_t qlen0 = c->stats.qlen, backlog0 = c->stats.backlog;
	uint64_t drops0 = c->stats.drops;
	enum tn_qdisc_verdict v = tn_qdisc_enqueue(c, p);
	sync_child(q, cl, qlen0, backlog0, drops0);
	return v;
}

/* ---- Dequeue ---- */

static struct tn_pkt *htb_dequeue(struct tn_qdisc *q)
{
	struct htb *h = tn_qdisc_priv(q);
	struct tn_pkt *p = h->direct.head;
	if (p) {
		tn_pktq_pop(&h->direct, p->pkt_len);
		h->direct_n--;
		q->stats.qlen--;
		q->stats.backlog -= p->pkt_len;
		tn_qdisc_count_out(q, p);
		return p;
	}
	if (!q->stats.qlen)
		return NULL;
	do_events(q, h);
	h->gen++;
	for (uint32_t tries = 0; tries <= h->ncls; tries++) {
		/* The best (level, prio) any waiting leaf can send at. */
		int best = -1;
		for (uint32_t i = 0; i < h->ncls; i++) {
			struct htb_class *cl = h->cls[i];
			if (cl->level || !cl->leaf->stats.qlen || cl->skip_gen == h->gen)
				continue;
			int lvl = send_level(cl);
			if (lvl < 0)
				continue;
			int key = lvl * HTB_NUMPRIO + (int)cl->prio;
			if (best < 0 || key < best)
				best = key;
		}
		if (best < 0)
			break;
		int lvl = best / HTB_NUMPRIO, prio = best % HTB_NUMPRIO;
		/* Round robin: the first such leaf at or after the position. */
		struct htb_class *pick = NULL, *first = NULL;
		for (uint32_t i = 0; i < h->ncls; i++) {
			struct htb_class *cl = h->cls[i];
			if (cl->level || !cl->leaf->stats.qlen || cl->skip_gen == h->gen ||
			    (int)cl->prio != prio || send_level(cl) != lvl)
				continue;
			if (!first)
				first = cl;
			if (cl->classid >= h->rr[lvl][prio]) {
				pick = cl;
				break;
			}
		}
		if (!pick)
			pick = first;
		struct tn_qdisc *c = pick->leaf;
		uint32_t qlen0 = c->stats.qlen, backlog0 = c->stats.backlog;
		uint64_t drops0 = c->stats.drops;
		p = tn_qdisc_dequeue(c);
		sync_child(q, pick, qlen0, backlog0, drops0);
		if (!p) { /* a child that holds packets back (its own watchdog is set) */
			pick->skip_gen = h->gen;
			h->rr[lvl][prio] = pick->classid + 1;
			continue;
		}
		h->rr[lvl][prio] = pick->classid;
		pick->deficit[lvl] -= tn_qdisc_pkt_len(p);
		if (pick->deficit[lvl] < 0) {
			pick->deficit[lvl] += pick->quantum;
			h->rr[lvl][prio] = pick->classid + 1;
		}
		pick->st.bytes += p->pkt_len;
		pick->st.packets += TN_PKT_SEGS(p);
		charge(q, pick, lvl, p);
		tn_qdisc_count_out(q, p);
		return p;
	}
	/* Nothing may leave now: wake when the first class blocking a waiting
	 * leaf changes mode. */
	uint64_t next = UINT64_MAX;
	for (uint32_t i = 0; i < h->ncls; i++) {
		struct htb_class *cl = h->cls[i];
		if (cl->level || !cl->leaf->stats.qlen || cl->skip_gen == h->gen)
			continue;
		for (struct htb_class *a = cl; a && a->mode != HTB_CAN_SEND; a = a->parent)
			if (a->pq_key < next)
				next = a->pq_key;
	}
	if (next != UINT64_MAX)
		tn_qdisc_watchdog(q, next);
	return NULL;
}

static void htb_reset(struct tn_qdisc *q)
{
	struct htb *h = tn_qdisc_priv(q);
	tn_pktq_purge(&h->direct);
	h->direct_n = 0;
	for (uint32_t i = 0; i < h->ncls; i++) {
		struct htb_class *cl = h->cls[i];
		if (cl->leaf)
			tn_qdisc_reset(cl->leaf);
		cl->mode = HTB_CAN_SEND;
	}
}

static void htb_destroy(struct tn_qdisc *q)
{
	struct htb *h = tn_qdisc_priv(q);
	tn_pktq_purge(&h->direct);
	for (uint32_t i = 0; i < h->ncls; i++) {
		tn_qdisc_destroy(h->cls[i]->leaf);
		free(h->cls[i]);
	}
	h->ncls = 0;
}

/* ---- Qdisc options ---- */

struct htb_opts {
	uint32_t defcls, r2q, direct_qlen;
};

static int parse_opts(struct tn_qdisc *q, int argc, char **argv, struct htb_opts *o, struct tn_qerr *err)
{
	for (int i = 0; i < argc; i += 2) {
		const char *w = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			return tn_qerr(err, "htb: \"%s\" needs a value", w);
		if (streq(w, "default")) {
			char *end;
			unsigned long x = strtoul(v, &end, 16); /* hex, as tc */
			if (!*v || *end || x > 0xffff || v[0] == '-')
				return tn_qerr(err, "htb: bad default class \"%s\" (a hex minor)", v);
			o->defcls = (uint32_t)x;
		} else if (streq(w, "r2q")) {
			if (tn_tc_get_u32(v, &o->r2q) < 0 || o->r2q == 0)
				return tn_qerr(err, "htb: bad r2q \"%s\"", v);
		} else if (streq(w, "direct_qlen")) {
			if (tn_tc_get_u32(v, &o->direct_qlen) < 0)
				return tn_qerr(err, "htb: bad direct_qlen \"%s\"", v);
		} else {
			return tn_qerr(err, "htb: unknown option \"%s\" (default, r2q, direct_qlen)", w);
		}
	}
	return 0;
}

static int htb_init(struct tn_qdisc *q, int argc, char **argv, struct tn_qerr *err)
{
	struct htb *h = tn_qdisc_priv(q);
	struct htb_opts o = {.defcls = 0, .r2q = 10, .direct_qlen = q->env->txqueuelen ? q->env->txqueuelen : 1};
	if (parse_opts(q, argc, argv, &o, err) < 0)
		return -1;
	tn_pktq_init(&h->direct);
	h->defcls = o.defcls;
	h->r2q = o.r2q;
	h->direct_qlen = o.direct_qlen;
	return 0;
}

static int htb_change(struct tn_qdisc *q, int argc, char **argv, struct tn_qerr *err)
{
	struct htb *h = tn_qdisc_priv(q);
	struct htb_opts o = {.defcls = h->defcls, .r2q = h->r2q, .direct_qlen = h->direct_qlen};
	if (parse_opts(q, argc, argv, &o, err) < 0)
		return -1;
	h->defcls = o.defcls;
	h->r2q = o.r2q;
	h->direct_qlen = o.direct_qlen;
	return 0;
}

static int htb_dump(const struct tn_qdisc *q, char *buf, size_t cap)
{
	const struct htb *h = tn_qdisc_cpriv(q);
	return snprintf(buf, cap, "r2q %u default %#x direct_packets_stat %llu direct_qlen %u", h->r2q,
			h->defcls, (unsigned long long)h->direct_pkts, h->direct_qlen);
}

/* ---- Classes ---- */

struct class_opts {
	uint64_t rate, ceil;
	uint32_t burst, cburst, prio, quantum, mtu;
	bool have_burst, have_cburst, have_quantum;
};

/* A burst in bytes as tc passes it: whole 64 ns ticks at `rate`. */
static int burst_ticks(uint64_t rate, uint32_t bytes, uint32_t *ticks)
{
	double t = 1e6 * (double)bytes / (double)rate * HTB_TICKS_PER_US;
	if (t >= 4294967296.0)
		return -1;
	*ticks = (uint32_t)t;
	return 0;
}

static uint32_t ticks_to_bytes(uint64_t rate, uint32_t ticks)
{
	return (uint32_t)((double)rate * ((double)ticks / HTB_TICKS_PER_US) / 1e6);
}

static int parse_class(int argc, char **argv, struct class_opts *o, struct tn_qerr *err)
{
	memset(o, 0, sizeof(*o));
	o->mtu = HTB_TC_MTU;
	for (int i = 0; i < argc; i += 2) {
		const char *w = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			return tn_qerr(err, "htb: \"%s\" needs a value", w);
		if (streq(w, "rate")) {
			if (tn_tc_get_rate(v, &o->rate) < 0)
				return tn_qerr(err, "htb: bad rate \"%s\"", v);
		} else if (streq(w, "ceil")) {
			if (tn_tc_get_rate(v, &o->ceil) < 0)
				return tn_qerr(err, "htb: bad ceil \"%s\"", v);
		} else if (streq(w, "burst") || streq(w, "buffer") || streq(w, "maxburst")) {
			if (tn_tc_get_size(v, &o->burst) < 0 || o->burst == 0)
				return tn_qerr(err, "htb: bad burst \"%s\"", v);
			o->have_burst = true;
		} else if (streq(w, "cburst") || streq(w, "cbuffer") || streq(w, "cmaxburst")) {
			if (tn_tc_get_size(v, &o->cburst) < 0 || o->cburst == 0)
				return tn_qerr(err, "htb: bad cburst \"%s\"", v);
			o->have_cburst = true;
		} else if (streq(w, "prio")) {
			if (tn_tc_get_u32(v, &o->prio) < 0 || o->prio >= HTB_NUMPRIO)
				return tn_qerr(err, "htb: bad prio \"%s\" (0..7)", v);
		} else if (streq(w, "quantum")) {
			if (tn_tc_get_u32(v, &o->quantum) < 0 || o->quantum == 0 || o->quantum > 0x7fffffff)
				return tn_qerr(err, "htb: bad quantum \"%s\"", v);
			o->have_quantum = true;
		} else if (streq(w, "mtu")) {
			if (tn_tc_get_u32(v, &o->mtu) < 0 || o->mtu == 0 || o->mtu > 65535 * 2)
				return tn_qerr(err, "htb: bad mtu \"%s\"", v);
		} else {
			return tn_qerr(err, "htb: unknown class option \"%s\" (rate, ceil, burst, cburst, "
					    "prio, quantum, mtu)", w);
		}
	}
	if (!o->rate)
		return tn_qerr(err, "htb: a class needs a rate");
	if (!o->ceil)
		o->ceil = o->rate;
	if (o->ceil < o->rate)
		return tn_qerr(err, "htb: ceil is below rate");
	if (!o->have_burst)
		o->burst = (uint32_t)((double)o->rate / HTB_HZ) + o->mtu;
	if (!o->have_cburst)
		o->cburst = (uint32_t)((double)o->ceil / HTB_HZ) + o->mtu;
	return 0;
}

/* Apply parsed options (tokens are left as they are, as Linux). */
static int apply_class(struct htb *h, struct htb_class *cl, const struct class_opts *o, struct tn_qerr *err)
{
	uint32_t bt, ct;
	if (burst_ticks(o->rate, o->burst, &bt) < 0)
		return tn_qerr(err, "htb: burst too large for the rate");
	if (burst_ticks(o->ceil, o->cburst, &ct) < 0)
		return tn_qerr(err, "htb: cburst too large for the ceil");
	cl->rate = o->rate;
	cl->ceil = o->ceil;
	cl->buf_ticks = bt;
	cl->cbuf_ticks = ct;
	cl->buffer = (int64_t)bt * 64;
	cl->cbuffer = (int64_t)ct * 64;
	cl->prio = o->prio;
	cl->quantum_set = o->have_quantum;
	if (o->have_quantum) {
		cl->quantum = o->quantum;
	} else {
		uint64_t qu = o->rate / h->r2q;
		cl->quantum = qu < 1000 ? 1000 : qu > 200000 ? 200000 : (uint32_t)qu;
	}
	return 0;
}

static void reset_tokens(struct tn_qdisc *q, struct htb_class *cl)
{
	cl->tokens = cl->buffer;
	cl->ctokens = cl->cbuffer;
	cl->t_c = q->env->now;
	cl->mode = HTB_CAN_SEND;
}

/* Drop what a leaf holds, counted as our drops. */
static void purge_leaf(struct tn_qdisc *q, struct htb_class *cl)
{
	struct tn_qdisc *c = cl->leaf;
	if (!c)
		return;
	q->stats.qlen -= c->stats.qlen;
	q->stats.backlog -= c->stats.backlog;
	q->stats.drops += c->stats.qlen;
	cl->st.drops += c->stats.qlen;
	tn_qdisc_reset(c);
}

static int htb_class_change(struct tn_qdisc *q, uint32_t classid, uint32_t parent, int argc, char **argv,
			    struct tn_qerr *err)
{
	struct htb *h = tn_qdisc_priv(q);
	struct class_opts o;
	if (TN_TC_H_MAJ(classid) != TN_TC_H_MAJ(q->handle) || !TN_TC_H_MIN(classid))
		return tn_qerr(err, "htb: class id %x:%x does not belong to qdisc %x:", classid >> 16,
			       classid & 0xffff, q->handle >> 16);
	struct htb_class *pcl = NULL;
	if (parent != q->handle && parent != TN_TC_H_ROOT && parent != TN_TC_H_UNSPEC) {
		pcl = htb_find(h, parent);
		if (!pcl)
			return tn_qerr(err, "htb: parent class %x:%x does not exist", parent >> 16,
				       parent & 0xffff);
	}
	if (parse_class(argc, argv, &o, err) < 0)
		return -1;
	struct htb_class *cl = htb_find(h, classid);
	if (cl) {
		if (parent != TN_TC_H_UNSPEC && cl->parent != pcl)
			return tn_qerr(err, "htb: class %x:%x has another parent", classid >> 16,
				       classid & 0xffff);
		struct htb_class tmp = *cl;
		if (apply_class(h, &tmp, &o, err) < 0)
			return -1;
		*cl = tmp;
		return 0;
	}
	if (h->ncls >= HTB_MAX_CLASSES)
		return tn_qerr(err, "htb: too many classes (%d)", HTB_MAX_CLASSES);
	if (pcl && pcl->parent && pcl->parent->level < 2)
		return tn_qerr(err, "htb: tree is too deep under %x:%x", parent >> 16, parent & 0xffff);
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return tn_qerr(err, "htb: out of memory");
	cl->classid = classid;
	if (apply_class(h, cl, &o, err) < 0) {
		free(cl);
		return -1;
	}
	cl->leaf = tn_qdisc_default(q->env, classid, false);
	if (!cl->leaf) {
		free(cl);
		return tn_qerr(err, "htb: out of memory");
	}
	reset_tokens(q, cl);
	if (pcl && pcl->level == 0) { /* the parent leaf becomes an inner class */
		purge_leaf(q, pcl);
		tn_qdisc_destroy(pcl->leaf);
		pcl->leaf = NULL;
		pcl->level = (pcl->parent ? pcl->parent->level : HTB_MAXDEPTH) - 1;
		reset_tokens(q, pcl);
	}
	cl->parent = pcl;
	if (pcl)
		pcl->children++;
	uint32_t at = h->ncls;
	while (at > 0 && h->cls[at - 1]->classid > classid) {
		h->cls[at] = h->cls[at - 1];
		at--;
	}
	h->cls[at] = cl;
	h->ncls++;
	return 0;
}

static int htb_class_remove(struct tn_qdisc *q, uint32_t classid, struct tn_qerr *err)
{
	struct htb *h = tn_qdisc_priv(q);
	struct htb_class *cl = htb_find(h, classid);
	if (!cl)
		return tn_qerr(err, "htb: no class %x:%x", classid >> 16, classid & 0xffff);
	if (cl->children)
		return tn_qerr(err, "htb: class %x:%x has children", classid >> 16, classid & 0xffff);
	for (const struct tn_qfilter *f = q->filters; f; f = f->next)
		if ((f->kind == TN_QFILTER_U32 || f->kind == TN_QFILTER_FW) && f->classid == classid)
			return tn_qerr(err, "htb: class %x:%x is in use by a filter (pref %u)", classid >> 16,
				       classid & 0xffff, f->prio);
	struct htb_class *pcl = cl->parent;
	struct tn_qdisc *pleaf = NULL;
	if (pcl && pcl->children == 1) { /* the parent becomes a leaf again */
		pleaf = tn_qdisc_default(q->env, pcl->classid, false);
		if (!pleaf)
			return tn_qerr(err, "htb: out of memory");
	}
	purge_leaf(q, cl);
	tn_qdisc_destroy(cl->leaf);
	uint32_t i = 0;
	while (h->cls[i] != cl)
		i++;
	memmove(&h->cls[i], &h->cls[i + 1], (h->ncls - i - 1) * sizeof(h->cls[0]));
	h->ncls--;
	if (pcl) {
		pcl->children--;
		if (pleaf) {
			pcl->level = 0;
			pcl->leaf = pleaf;
			memset(pcl->deficit, 0, sizeof(pcl->deficit));
			reset_tokens(q, pcl);
		}
	}
	free(cl);
	return 0;
}

static int htb_class_graft(struct tn_qdisc *q, uint32_t classid, struct tn_qdisc *child, struct tn_qdisc **old)
{
	struct htb *h = tn_qdisc_priv(q);
	struct htb_class *cl = htb_find(h, classid);
	*old = NULL;
	if (!cl || cl->level)
		return -1;
	if (!child) {
		child = tn_qdisc_default(q->env, classid, false);
		if (!child)
			return -1;
	}
	child->parent = classid;
	/* The old leaf's packets leave with it: they are ours no longer. */
	purge_leaf(q, cl);
	*old = cl->leaf;
	cl->leaf = child;
	q->stats.qlen += child->stats.qlen;
	q->stats.backlog += child->stats.backlog;
	return 0;
}

static struct tn_qdisc *htb_class_leaf(struct tn_qdisc *q, uint32_t classid)
{
	struct htb_class *cl = htb_find(tn_qdisc_priv(q), classid);
	return cl && !cl->level ? cl->leaf : NULL;
}

static void htb_class_walk(struct tn_qdisc *q,
			   void (*fn)(void *ctx, uint32_t classid, uint32_t parent, struct tn_qdisc *leaf),
			   void *ctx)
{
	struct htb *h = tn_qdisc_priv(q);
	for (uint32_t i = 0; i < h->ncls; i++) {
		struct htb_class *cl = h->cls[i];
		fn(ctx, cl->classid, cl->parent ? cl->parent->classid : q->handle, cl->level ? NULL : cl->leaf);
	}
}

static int htb_class_dump(struct tn_qdisc *q, uint32_t classid, char *buf, size_t cap, struct tn_qstats *st)
{
	struct htb_class *cl = htb_find(tn_qdisc_priv(q), classid);
	if (!cl)
		return -1;
	char r[32], c[32], b[32], cb[32];
	tn_tc_print_rate(r, sizeof(r), cl->rate);
	tn_tc_print_rate(c, sizeof(c), cl->ceil);
	tn_tc_print_size(b, sizeof(b), ticks_to_bytes(cl->rate, cl->buf_ticks));
	tn_tc_print_size(cb, sizeof(cb), ticks_to_bytes(cl->ceil, cl->cbuf_ticks));
	if (st) {
		*st = cl->st;
		if (cl->leaf) {
			st->qlen = cl->leaf->stats.qlen;
			st->backlog = cl->leaf->stats.backlog;
		}
	}
	int n = 0;
	if (!cl->level)
		n = snprintf(buf, cap, "prio %u ", cl->prio);
	if (n < 0 || (size_t)n >= cap)
		return n;
	return n + snprintf(buf + n, cap - (size_t)n, "rate %s ceil %s burst %s cburst %s", r, c, b, cb);
}

static const struct tn_qclass_ops htb_class_ops = {
	.change = htb_class_change, .remove = htb_class_remove, .graft = htb_class_graft,
	.leaf = htb_class_leaf, .walk = htb_class_walk, .dump = htb_class_dump,
};

const struct tn_qdisc_ops tn_qdisc_htb = {
	.kind = "htb", .priv_size = sizeof(struct htb), .init = htb_init, .change = htb_change,
	.enqueue = htb_enqueue, .dequeue = htb_dequeue, .reset = htb_reset, .destroy = htb_destroy,
	.dump = htb_dump, .cl = &htb_class_ops,
};
