/* tbf: Linux's token bucket filter (sch_tbf).  Tokens are kept as time in
 * nanoseconds, as Linux does: the bucket holds at most `burst` bytes' worth
 * of time at `rate`, refills with the clock, and a packet costs its wire
 * length's transmission time.  An optional second bucket (peakrate, mtu)
 * limits how fast a full bucket drains.  Packets wait in a child qdisc, a
 * bfifo whose byte limit is `limit` or, as tc computes it from latency,
 * rate * latency + burst (the child can be replaced through class 1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/gso.h"
#include "sched/qdisc.h"
#include "sched/sch_ops.h"

#define NSEC_PER_SEC 1000000000ull

struct tbf_cfg {
	uint64_t rate, peak;   /* bytes per second; peak 0: no peak bucket */
	uint32_t burst, mtu;   /* bucket sizes in bytes */
	uint32_t limit;        /* bytes in the child fifo */
	uint32_t mpu;          /* a packet costs at least this */
	int32_t overhead;      /* bytes added to each packet's cost */
};

struct tbf {
	struct tbf_cfg cfg;
	int64_t buffer;        /* burst as time at rate (ns) */
	int64_t mtu_ns;        /* mtu as time at peak (ns) */
	uint32_t max_size;     /* the largest packet that can ever leave */
	int64_t tokens, ptokens;
	uint64_t t_c;          /* when tokens were last brought up to date */
	struct tn_qdisc *child;
};

/* Nanoseconds to send len bytes at rate. */
static int64_t l2t(uint64_t rate, uint64_t len)
{
	return (int64_t)((unsigned __int128)len * NSEC_PER_SEC / rate);
}

static uint32_t tbf_len(const struct tbf *t, const struct tn_pkt *p)
{
	int64_t len = (int64_t)tn_qdisc_pkt_len(p) + t->cfg.overhead;
	if (len < (int64_t)t->cfg.mpu)
		len = t->cfg.mpu;
	return len < 0 ? 0 : (uint32_t)len;
}

/* tc's matches(): a word may be any prefix of the keyword. */
static bool matches(const char *word, const char *keyword)
{
	size_t n = strlen(word);
	return n > 0 && strncmp(word, keyword, n) == 0;
}

/* "1540" or tc's "1540/8" (the cell size only mattered to rate tables). */
static int get_size_cell(const char *s, uint32_t *v)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	if (!slash)
		return tn_tc_get_size(s, v);
	size_t n = (size_t)(slash - s);
	uint32_t cell;
	if (n == 0 || n >= sizeof(buf) || tn_tc_get_u32(slash + 1, &cell) < 0 || cell == 0 ||
	    (cell & (cell - 1)))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return tn_tc_get_size(buf, v);
}

static int tbf_parse(int argc, char **argv, struct tbf_cfg *c, struct tn_qerr *err)
{
	uint64_t latency = 0;
	bool have_latency = false;
	memset(c, 0, sizeof(*c));
	for (int i = 0; i < argc; i++) {
		const char *w = argv[i];
		if (i + 1 == argc)
			return tn_qerr(err, "tbf: \"%s\" needs a value", w);
		const char *v = argv[++i];
		if (matches(w, "limit")) {
			if (c->limit || have_latency)
				return tn_qerr(err, "tbf: double \"limit/latency\" spec (\"%s\")", w);
			if (tn_tc_get_size(v, &c->limit) < 0 || c->limit == 0)
				return tn_qerr(err, "tbf: bad limit \"%s\"", v);
		} else if (matches(w, "latency")) {
			if (c->limit || have_latency)
				return tn_qerr(err, "tbf: double \"limit/latency\" spec (\"%s\")", w);
			if (tn_tc_get_time(v, &latency) < 0)
				return tn_qerr(err, "tbf: bad latency \"%s\"", v);
			have_latency = true;
		} else if (matches(w, "burst") || strcmp(w, "buffer") == 0 || strcmp(w, "maxburst") == 0) {
			if (c->burst)
				return tn_qerr(err, "tbf: double \"buffer/burst\" spec (\"%s\")", w);
			if (get_size_cell(v, &c->burst) < 0 || c->burst == 0)
				return tn_qerr(err, "tbf: bad burst \"%s\"", v);
		} else if (strcmp(w, "mtu") == 0 || strcmp(w, "minburst") == 0) {
			if (c->mtu)
				return tn_qerr(err, "tbf: double \"mtu/minburst\" spec (\"%s\")", w);
			if (get_size_cell(v, &c->mtu) < 0 || c->mtu == 0)
				return tn_qerr(err, "tbf: bad mtu \"%s\"", v);
		} else if (strcmp(w, "mpu") == 0) {
			if (tn_tc_get_size(v, &c->mpu) < 0)
				return tn_qerr(err, "tbf: bad mpu \"%s\"", v);
		} else if (strcmp(w, "overhead") == 0) {
			char *end;
			long o = strtol(v, &end, 10);
			if (*end || end == v || o < -1024 || o > 1024)
				return tn_qerr(err, "tbf: bad overhead \"%s\"", v);
			c->overhead = (int32_t)o;
		} else if (strcmp(w, "rate") == 0) {
			if (c->rate)
				return tn_qerr(err, "tbf: double \"rate\" spec");
			if (tn_tc_get_rate(v, &c->rate) < 0)
				return tn_qerr(err, "tbf: bad rate \"%s\"", v);
		} else if (matches(w, "peakrate")) {
			if (c->peak)
				return tn_qerr(err, "tbf: double \"peakrate\" spec");
			if (tn_tc_get_rate(v, &c->peak) < 0)
				return tn_qerr(err, "tbf: bad peakrate \"%s\"", v);
		} else {
			return tn_qerr(err, "tbf: unknown option \"%s\"", w);
		}
	}
	if (!c->rate || !c->burst)
		return tn_qerr(err, "tbf: both \"rate\" and \"burst\" are required");
	if (c->peak && !c->mtu)
		return tn_qerr(err, "tbf: \"mtu\" is required if \"peakrate\" is requested");
	if (c->peak && c->peak <= c->rate)
		return tn_qerr(err, "tbf: peakrate must be greater than rate");
	if (!c->limit && !have_latency)
		return tn_qerr(err, "tbf: either \"limit\" or \"latency\" is required");
	if (!c->limit) {
		/* As tc: what arrives during latency at the rate, plus the burst. */
		double lim = (double)c->rate * (double)latency / 1e9 + c->burst;
		if (c->peak) {
			double lim2 = (double)c->peak * (double)latency / 1e9 + c->mtu;
			if (lim2 < lim)
				lim = lim2;
		}
		if (lim > 4294967295.0)
			return tn_qerr(err, "tbf: latency \"%.0fms\" makes the limit too large", (double)latency / 1e6);
		c->limit = (uint32_t)lim;
	}
	return 0;
}

/* The child fifo's words: "limit N". */
static struct tn_qdisc *make_bfifo(struct tn_qdisc *q, uint32_t limit, struct tn_qerr *err)
{
	char num[16], word[] = "limit";
	snprintf(num, sizeof(num), "%u", limit);
	char *argv[] = {word, num};
	return tn_qdisc_create(q->env, "bfifo", 0, TN_TC_H_MAJ(q->handle) | 1, 2, argv, err);
}

static void tbf_apply(struct tn_qdisc *q, const struct tbf_cfg *c)
{
	struct tbf *t = tn_qdisc_priv(q);
	t->cfg = *c;
	t->buffer = l2t(c->rate, c->burst);
	t->max_size = c->burst;
	if (c->peak) {
		t->mtu_ns = l2t(c->peak, c->mtu);
		if (c->mtu < t->max_size)
			t->max_size = c->mtu;
	} else {
		t->mtu_ns = 0;
	}
	/* A new configuration starts with full buckets, as Linux's tbf_change. */
	t->tokens = t->buffer;
	t->ptokens = t->mtu_ns;
	t->t_c = q->env->now;
}

static int tbf_init(struct tn_qdisc *q, int argc, char **argv, struct tn_qerr *err)
{
	struct tbf *t = tn_qdisc_priv(q);
	struct tbf_cfg c;
	if (tbf_parse(argc, argv, &c, err) < 0)
		return -1;
	t->child = make_bfifo(q, c.limit, err);
	if (!t->child)
		return -1;
	tbf_apply(q, &c);
	return 0;
}

static int tbf_change(struct tn_qdisc *q, int argc, char **argv, struct tn_qerr *err)
{
	struct tbf *t = tn_qdisc_priv(q);
	struct tbf_cfg c;
	if (tbf_parse(argc, argv, &c, err) < 0)
		return -1;
	/* The default child keeps its packets and takes the new limit; a
	 * grafted child is left as it is. */
	if (t->child->ops == &tn_qdisc_bfifo && t->child->ops->change) {
		char num[16], word[] = "limit";
		snprintf(num, sizeof(num), "%u", c.limit);
		char *cargv[] = {word, num};
		if (t->child->ops->change(t->child, 2, cargv, err) < 0)
			return -1;
	}
	tbf_apply(q, &c);
	return 0;
}

/* Bring q's counters in line with what the child did since `before`. */
struct snap {
	uint32_t qlen, backlog;
	uint64_t drops;
};

static struct snap snap_of(const struct tn_qdisc *c)
{
	return (struct snap){c->stats.qlen, c->stats.backlog, c->stats.drops};
}

static void follow_child(struct tn_qdisc *q, const struct tn_qdisc *c, struct snap before)
{
	q->stats.qlen += c->stats.qlen - before.qlen;
	q->stats.backlog += c->stats.backlog - before.backlog;
	q->stats.drops += c->stats.drops - before.drops;
}

/* A large segment bigger than the bucket: cut it up and queue the pieces
 * (Linux's tbf_segment); pieces still too big are dropped. */
static enum tn_qdisc_verdict tbf_segment(struct tn_qdisc *q, struct tn_pkt *p)
{
	struct tbf *t = tn_qdisc_priv(q);
	uint32_t segs = TN_PKT_SEGS(p);
	struct tn_pkt *seg = tn_gso_segment(q->env->pool, p);
	if (!seg) {
		q->stats.drops += segs;
		return TN_QDISC_DROP;
	}
	unsigned queued = 0, dropped = 0;
	while (seg) {
		struct tn_pkt *next = seg->qnext;
		seg->qnext = NULL;
		if (tbf_len(t, seg) > t->max_size) {
			tn_qdisc_drop(q, seg);
			dropped++;
		} else {
			struct snap s = snap_of(t->child);
			if (tn_qdisc_enqueue(t->child, seg) == TN_QDISC_DROP)
				dropped++;
			else
				queued++;
			follow_child(q, t->child, s);
		}
		seg = next;
	}
	if (!queued)
		return TN_QDISC_DROP;
	return dropped ? TN_QDISC_CN : TN_QDISC_OK;
}

static enum tn_qdisc_verdict tbf_enqueue(struct tn_qdisc *q, struct tn_pkt *p)
{
	struct tbf *t = tn_qdisc_priv(q);
	if (tbf_len(t, p) > t->max_size) {
		if (p->gso_size && TN_PKT_SEGS(p) > 1)
			return tbf_segment(q, p);
		tn_qdisc_drop(q, p);
		return TN_QDISC_DROP;
	}
	struct snap s = snap_of(t->child);
	enum tn_qdisc_verdict v = tn_qdisc_enqueue(t->child, p);
	follow_child(q, t->child, s);
	return v;
}

static struct tn_pkt *tbf_dequeue(struct tn_qdisc *q)
{
	struct tbf *t = tn_qdisc_priv(q);
	struct snap s = snap_of(t->child);
	struct tn_pkt *p = tn_qdisc_peek(t->child);
	follow_child(q, t->child, s);
	if (!p)
		return NULL;
	uint32_t len = tbf_len(t, p);
	uint64_t now = q->env->now;
	int64_t elapsed = now > t->t_c ? (int64_t)(now - t->t_c) : 0;
	int64_t toks = elapsed < t->buffer ? elapsed : t->buffer;
	int64_t ptoks = 0;
	if (t->cfg.peak) {
		ptoks = toks + t->ptokens;
		if (ptoks > t->mtu_ns)
			ptoks = t->mtu_ns;
		ptoks -= l2t(t->cfg.peak, len);
	}
	toks += t->tokens;
	if (toks > t->buffer)
		toks = t->buffer;
	toks -= l2t(t->cfg.rate, len);
	if (toks >= 0 && ptoks >= 0) {
		s = snap_of(t->child);
		p = tn_qdisc_dequeue(t->child);
		follow_child(q, t->child, s);
		if (!p)
			return NULL;
		t->t_c = now;
		t->tokens = toks;
		t->ptokens = ptoks;
		tn_qdisc_count_out(q, p);
		return p;
	}
	/* Tokens suffice exactly when both deficits are made up. */
	int64_t wait = -toks > -ptoks ? -toks : -ptoks;
	tn_qdisc_watchdog(q, now + (uint64_t)wait);
	q->stats.overlimits++;
	return NULL;
}

static void tbf_reset(struct tn_qdisc *q)
{
	struct tbf *t = tn_qdisc_priv(q);
	if (t->child)
		tn_qdisc_reset(t->child);
	t->tokens = t->buffer;
	t->ptokens = t->mtu_ns;
	t->t_c = q->env->now;
}

static void tbf_destroy(struct tn_qdisc *q)
{
	struct tbf *t = tn_qdisc_priv(q);
	tn_qdisc_destroy(t->child);
	t->child = NULL;
}

static int tbf_dump(const struct tn_qdisc *q, char *buf, size_t cap)
{
	const struct tbf *t = tn_qdisc_cpriv(q);
	const struct tbf_cfg *c = &t->cfg;
	char r[32], b[32], pr[32], m[32], l[32];
	tn_tc_print_rate(r, sizeof(r), c->rate);
	tn_tc_print_size(b, sizeof(b), c->burst);
	int n = snprintf(buf, cap, "rate %s burst %s", r, b);
	if (c->peak && n >= 0 && (size_t)n < cap) {
		tn_tc_print_rate(pr, sizeof(pr), c->peak);
		tn_tc_print_size(m, sizeof(m), c->mtu);
		n += snprintf(buf + n, cap - (size_t)n, " peakrate %s minburst %s", pr, m);
	}
	/* tc shows the latency the limit gives, or the limit when the burst
	 * alone is more than it (the latency would be negative). */
	double lat = (double)c->limit / (double)c->rate - (double)c->burst / (double)c->rate;
	if (c->peak) {
		double lat2 = (double)c->limit / (double)c->peak - (double)c->mtu / (double)c->peak;
		if (lat2 > lat)
			lat = lat2;
	}
	if (n >= 0 && (size_t)n < cap) {
		if (lat >= 0) {
			uint64_t us = (uint64_t)(lat * 1e6 + 0.5);
			tn_tc_print_time(l, sizeof(l), us * 1000);
			n += snprintf(buf + n, cap - (size_t)n, " lat %s", l);
		} else {
			tn_tc_print_size(l, sizeof(l), c->limit);
			n += snprintf(buf + n, cap - (size_t)n, " limit %s", l);
		}
	}
	if (c->mpu && n >= 0 && (size_t)n < cap) {
		tn_tc_print_size(m, sizeof(m), c->mpu);
		n += snprintf(buf + n, cap - (size_t)n, " mpu %s", m);
	}
	if (c->overhead && n >= 0 && (size_t)n < cap)
		n += snprintf(buf + n, cap - (size_t)n, " overhead %d", c->overhead);
	return n;
}

/* ---- class 1: the child qdisc, as Linux's tbf (tc qdisc add ... parent 1:1) ---- */

static bool tbf_class_ok(const struct tn_qdisc *q, uint32_t classid)
{
	return TN_TC_H_MIN(classid) == 1 && (TN_TC_H_MAJ(classid) == 0 || TN_TC_H_MAJ(classid) == q->handle);
}

static int tbf_graft(struct tn_qdisc *q, uint32_t classid, struct tn_qdisc *child, struct tn_qdisc **old)
{
	struct tbf *t = tn_qdisc_priv(q);
	if (!tbf_class_ok(q, classid))
		return -1;
	if (!child) {
		struct tn_qerr err;
		child = make_bfifo(q, t->cfg.limit, &err);
		if (!child)
			return -1;
	}
	struct tn_qdisc *prev = t->child;
	/* What the old child holds is dropped (Linux purges it too). */
	q->stats.drops += prev->stats.qlen;
	q->stats.qlen -= prev->stats.qlen;
	q->stats.backlog -= prev->stats.backlog;
	tn_qdisc_reset(prev);
	t->child = child;
	child->parent = TN_TC_H_MAJ(q->handle) | 1;
	q->stats.qlen += child->stats.qlen;
	q->stats.backlog += child->stats.backlog;
	*old = prev;
	return 0;
}

static struct tn_qdisc *tbf_leaf(struct tn_qdisc *q, uint32_t classid)
{
	struct tbf *t = tn_qdisc_priv(q);
	return tbf_class_ok(q, classid) ? t->child : NULL;
}

static void tbf_walk(struct tn_qdisc *q, void (*fn)(void *ctx, uint32_t classid, uint32_t parent, struct tn_qdisc *leaf),
		     void *ctx)
{
	struct tbf *t = tn_qdisc_priv(q);
	fn(ctx, TN_TC_H_MAJ(q->handle) | 1, q->handle, t->child);
}

static int tbf_class_dump(struct tn_qdisc *q, uint32_t classid, char *buf, size_t cap, struct tn_qstats *st)
{
	struct tbf *t = tn_qdisc_priv(q);
	if (!tbf_class_ok(q, classid))
		return -1;
	if (st)
		*st = t->child->stats;
	if (cap)
		buf[0] = '\0';
	return 0;
}

static const struct tn_qclass_ops tbf_class_ops = {
	.graft = tbf_graft, .leaf = tbf_leaf, .walk = tbf_walk, .dump = tbf_class_dump,
};

const struct tn_qdisc_ops tn_qdisc_tbf = {
	.kind = "tbf", .priv_size = sizeof(struct tbf), .init = tbf_init, .change = tbf_change,
	.enqueue = tbf_enqueue, .dequeue = tbf_dequeue, .reset = tbf_reset, .destroy = tbf_destroy,
	.dump = tbf_dump, .cl = &tbf_class_ops,
};
