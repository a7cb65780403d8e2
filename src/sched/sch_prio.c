/* prio: Linux's sch_prio.  N bands (classes handle:1 .. handle:N), each
 * with a child qdisc (pfifo by default); a packet goes to the band its
 * filters name, else to priomap[priority]; dequeue always takes from the
 * lowest-numbered band that has a packet it may send now, so a shaping
 * child holding packets back lets the next band go. */
#include <stdio.h>
#include <string.h>

#include "sched/qdisc.h"
#include "sched/sch_cls.h"
#include "sched/sch_ops.h"

#define PRIO_MAX_BANDS 16 /* TCQ_PRIO_BANDS */
#define PRIO_MIN_BANDS 2

struct prio {
	uint32_t bands;
	uint8_t prio2band[16];
	struct tn_qdisc *queues[PRIO_MAX_BANDS];
};

struct prio_cfg {
	uint32_t bands;
	uint8_t prio2band[16];
};

/* Linux's prio2band default (the same as pfifo_fast's). */
static const uint8_t default_prio2band[16] = {1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};

static int prio_parse(int argc, char **argv, struct prio_cfg *c, struct tn_qerr *err)
{
	bool pmap = false;
	unsigned idx = 0;
	for (int i = 0; i < argc; i++) {
		const char *w = argv[i];
		if (strcmp(w, "bands") == 0) {
			if (pmap)
				return tn_qerr(err, "prio: \"bands\" after \"priomap\"");
			if (++i == argc)
				return tn_qerr(err, "prio: bands needs a value");
			if (tn_tc_get_u32(argv[i], &c->bands) < 0 || c->bands < PRIO_MIN_BANDS ||
			    c->bands > PRIO_MAX_BANDS)
				return tn_qerr(err, "prio: bad bands \"%s\" (%d to %d)", argv[i], PRIO_MIN_BANDS,
					       PRIO_MAX_BANDS);
		} else if (strcmp(w, "priomap") == 0) {
			if (pmap)
				return tn_qerr(err, "prio: double \"priomap\"");
			pmap = true;
		} else if (strcmp(w, "multiqueue") == 0) {
			return tn_qerr(err, "prio: \"multiqueue\" is not supported (one transmit queue)");
		} else {
			uint32_t band;
			if (!pmap)
				return tn_qerr(err, "prio: unknown option \"%s\"", w);
			if (tn_tc_get_u32(w, &band) < 0)
				return tn_qerr(err, "prio: illegal \"priomap\" element \"%s\"", w);
			if (band >= c->bands)
				return tn_qerr(err, "prio: \"priomap\" element %s is out of bands (%u)", w, c->bands);
			if (idx > 15)
				return tn_qerr(err, "prio: \"priomap\" has more than 16 elements (\"%s\")", w);
			c->prio2band[idx++] = (uint8_t)band;
		}
	}
	for (int i = 0; i < 16; i++)
		if (c->prio2band[i] >= c->bands)
			return tn_qerr(err, "prio: priomap element %d (band %u) is out of bands (%u)", i,
				       c->prio2band[i], c->bands);
	return 0;
}

static uint32_t band_classid(const struct tn_qdisc *q, uint32_t band)
{
	return TN_TC_H_MAJ(q->handle) | (band + 1);
}

/* Make sure bands [from, to) have a child in fresh[]; all or nothing. */
static int make_children(struct tn_qdisc *q, struct tn_qdisc **fresh, uint32_t from, uint32_t to,
			 struct tn_qerr *err)
{
	for (uint32_t b = from; b < to; b++) {
		fresh[b] = tn_qdisc_default(q->env, band_classid(q, b), false);
		if (!fresh[b]) {
			for (uint32_t k = from; k < b; k++)
				tn_qdisc_destroy(fresh[k]);
			return tn_qerr(err, "prio: out of memory");
		}
	}
	return 0;
}

static int prio_init(struct tn_qdisc *q, int argc, char **argv, struct tn_qerr *err)
{
	struct prio *pr = tn_qdisc_priv(q);
	struct prio_cfg c = {.bands = 3};
	memcpy(c.prio2band, default_prio2band, sizeof(c.prio2band));
	if (prio_parse(argc, argv, &c, err) < 0)
		return -1;
	if (make_children(q, pr->queues, 0, c.bands, err) < 0)
		return -1;
	pr->bands = c.bands;
	memcpy(pr->prio2band, c.prio2band, sizeof(pr->prio2band));
	return 0;
}

/* Take child c out of q's counts (its packets are dropped) and destroy it. */
static void drop_child(struct tn_qdisc *q, struct tn_qdisc *c)
{
	q->stats.drops += c->stats.qlen;
	q->stats.qlen -= c->stats.qlen;
	q->stats.backlog -= c->stats.backlog;
	tn_qdisc_destroy(c);
}

static int prio_change(struct tn_qdisc *q, int argc, char **argv, struct tn_qerr *err)
{
	struct prio *pr = tn_qdisc_priv(q);
	struct prio_cfg c = {.bands = pr->bands};
	memcpy(c.prio2band, pr->prio2band, sizeof(c.prio2band));
	if (prio_parse(argc, argv, &c, err) < 0)
		return -1;
	struct tn_qdisc *fresh[PRIO_MAX_BANDS] = {0};
	if (c.bands > pr->bands && make_children(q, fresh, pr->bands, c.bands, err) < 0)
		return -1;
	for (uint32_t b = c.bands; b < pr->bands; b++) {
		drop_child(q, pr->queues[b]);
		pr->queues[b] = NULL;
	}
	for (uint32_t b = pr->bands; b < c.bands; b++)
		pr->queues[b] = fresh[b];
	pr->bands = c.bands;
	memcpy(pr->prio2band, c.prio2band, sizeof(pr->prio2band));
	return 0;
}

/* Counters of a child before a call, to follow what it did. */
struct snap {
	uint32_t qlen, backlog;
	uint64_t drops;
};

static struct snap snap_of(const struct tn_qdisc *c)
{
	return (struct snap){c->stats.qlen, c->stats.backlog, c->stats.drops};
}

/* q's queue is the sum of its children's: add what child c changed. */
static void follow_child(struct tn_qdisc *q, const struct tn_qdisc *c, struct snap before)
{
	q->stats.qlen += c->stats.qlen - before.qlen;
	q->stats.backlog += c->stats.backlog - before.backlog;
	q->stats.drops += c->stats.drops - before.drops;
}

static uint32_t prio_classify(struct tn_qdisc *q, const struct tn_pkt *p)
{
	struct prio *pr = tn_qdisc_priv(q);
	if (q->filters) {
		uint32_t cl = tn_qfilter_classify(q, p);
		if (cl) {
			/* As Linux: the class minor is band + 1; anything else
			 * goes where priority 0 goes. */
			uint32_t band = TN_TC_H_MIN(cl) - 1;
			return band < pr->bands ? band : pr->prio2band[0];
		}
	}
	return pr->prio2band[tn_qdisc_pkt_priority(p) & 15];
}

static enum tn_qdisc_verdict prio_enqueue(struct tn_qdisc *q, struct tn_pkt *p)
{
	struct prio *pr = tn_qdisc_priv(q);
	struct tn_qdisc *c = pr->queues[prio_classify(q, p)];
	struct snap s = snap_of(c);
	enum tn_qdisc_verdict v = tn_qdisc_enqueue(c, p);
	follow_child(q, c, s);
	return v;
}

static struct tn_pkt *prio_peek(struct tn_qdisc *q)
{
	struct prio *pr = tn_qdisc_priv(q);
	for (uint32_t b = 0; b < pr->bands; b++) {
		struct tn_qdisc *c = pr->queues[b];
		struct snap s = snap_of(c);
		struct tn_pkt *p = tn_qdisc_peek(c);
		follow_child(q, c, s);
		if (p)
			return p;
	}
	return NULL;
}

static struct tn_pkt *prio_dequeue(struct tn_qdisc *q)
{
	struct prio *pr = tn_qdisc_priv(q);
	for (uint32_t b = 0; b < pr->bands; b++) {
		struct tn_qdisc *c = pr->queues[b];
		if (!c->stats.qlen)
			continue;
		struct snap s = snap_of(c);
		struct tn_pkt *p = tn_qdisc_dequeue(c);
		follow_child(q, c, s);
		if (p) {
			tn_qdisc_count_out(q, p);
			return p;
		}
	}
	return NULL;
}

static void prio_reset(struct tn_qdisc *q)
{
	struct prio *pr = tn_qdisc_priv(q);
	for (uint32_t b = 0; b < pr->bands; b++)
		tn_qdisc_reset(pr->queues[b]);
}

static void prio_destroy(struct tn_qdisc *q)
{
	struct prio *pr = tn_qdisc_priv(q);
	for (uint32_t b = 0; b < PRIO_MAX_BANDS; b++) {
		tn_qdisc_destroy(pr->queues[b]);
		pr->queues[b] = NULL;
	}
}

static int prio_dump(const struct tn_qdisc *q, char *buf, size_t cap)
{
	const struct prio *pr = tn_qdisc_cpriv(q);
	int n = snprintf(buf, cap, "bands %u priomap", pr->bands);
	for (int i = 0; i < 16 && n > 0 && (size_t)n < cap; i++)
		n += snprintf(buf + n, cap - (size_t)n, " %u", pr->prio2band[i]);
	return n;
}

/* ---- classes: one per band ---- */

/* The band of classid, or -1: handle:1 .. handle:bands (major 0 means this qdisc). */
static int class_band(const struct tn_qdisc *q, uint32_t classid)
{
	const struct prio *pr = tn_qdisc_cpriv(q);
	uint32_t maj = TN_TC_H_MAJ(classid), min = TN_TC_H_MIN(classid);
	if ((maj && maj != TN_TC_H_MAJ(q->handle)) || min < 1 || min > pr->bands)
		return -1;
	return (int)(min - 1);
}

static int prio_graft(struct tn_qdisc *q, uint32_t classid, struct tn_qdisc *child, struct tn_qdisc **old)
{
	struct prio *pr = tn_qdisc_priv(q);
	int b = class_band(q, classid);
	if (b < 0)
		return -1;
	if (!child) {
		child = tn_qdisc_default(q->env, band_classid(q, (uint32_t)b), false);
		if (!child)
			return -1;
	}
	struct tn_qdisc *prev = pr->queues[b];
	/* The old child's packets are dropped (Linux purges it as well). */
	q->stats.drops += prev->stats.qlen;
	q->stats.qlen -= prev->stats.qlen;
	q->stats.backlog -= prev->stats.backlog;
	tn_qdisc_reset(prev);
	pr->queues[b] = child;
	child->parent = classid;
	q->stats.qlen += child->stats.qlen;
	q->stats.backlog += child->stats.backlog;
	*old = prev;
	return 0;
}

static struct tn_qdisc *prio_leaf(struct tn_qdisc *q, uint32_t classid)
{
	struct prio *pr = tn_qdisc_priv(q);
	int b = class_band(q, classid);
	return b < 0 ? NULL : pr->queues[b];
}

static void prio_walk(struct tn_qdisc *q, void (*fn)(void *ctx, uint32_t classid, uint32_t parent, struct tn_qdisc *leaf),
		      void *ctx)
{
	struct prio *pr = tn_qdisc_priv(q);
	for (uint32_t b = 0; b < pr->bands; b++)
		fn(ctx, band_classid(q, b), q->handle, pr->queues[b]);
}

static int prio_class_dump(struct tn_qdisc *q, uint32_t classid, char *buf, size_t cap, struct tn_qstats *st)
{
	struct prio *pr = tn_qdisc_priv(q);
	int b = class_band(q, classid);
	if (b < 0)
		return -1;
	if (st) /* a band's counters are its child's, as Linux's prio_dump_class_stats */
		*st = pr->queues[b]->stats;
	if (cap)
		buf[0] = '\0';
	return 0;
}

static const struct tn_qclass_ops prio_class_ops = {
	.graft = prio_graft, .leaf = prio_leaf, .walk = prio_walk, .dump = prio_class_dump,
};

const struct tn_qdisc_ops tn_qdisc_prio = {
	.kind = "prio", .priv_size = sizeof(struct prio), .init = prio_init, .change = prio_change,
	.enqueue = prio_enqueue, .dequeue = prio_dequeue, .peek = prio_peek, .reset = prio_reset,
	.destroy = prio_destroy, .dump = prio_dump, .cl = &prio_class_ops,
};
