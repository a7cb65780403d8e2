/* fq_codel (RFC 8290, Linux's sch_fq_codel): packets are hashed by their
 * 5-tuple (keyed with a seed drawn at creation) into `flows` queues, each
 * managed by CoDel (codel.h).  Flows with packets sit on one of two
 * lists served by deficit round robin with `quantum` bytes a round: a flow
 * that was idle joins the new list, served before the old one (the sparse
 * flow optimisation: a flow sending less than its share never waits
 * behind bulk flows), and moves to the old list once it used its quantum
 * or emptied.  Over the packet limit or memory_limit, up to drop_batch
 * packets are dropped from the head of the fattest flow, so the flow
 * causing the overload pays for it.
 *
 * p->tstamp holds a packet's enqueue time while it is queued here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/codel.h"
#include "sched/qdisc.h"
#include "sched/sch_fq_codel.h"
#include "sched/sch_ops.h"

#define FQC_MAX_FLOWS 65536u
#define FQC_MIN_QUANTUM 256u
#define FQC_MAX_QUANTUM (1u << 20)
#define FQC_MAX_MEMORY (1u << 31)
#define FQC_MAX_TIME (4294967295ull * 1000) /* tc passes times as u32 microseconds */

enum { FQC_NONE, FQC_NEW, FQC_OLD };

struct fqc_flow {
	struct tn_pkt *head, *tail; /* linked through qnext */
	struct fqc_flow *next;      /* on the new or old list */
	int32_t deficit;
	uint32_t backlog;           /* wire bytes queued (tn_qdisc_pkt_len) */
	uint8_t list;               /* FQC_NONE, FQC_NEW or FQC_OLD */
	struct tn_codel_vars cv;
};

/* Flows are only ever taken from the front of a list and added at its
 * tail, so a singly linked list does. */
struct fqc_list {
	struct fqc_flow *head, *tail;
	uint32_t len;
};

struct fqc_conf {
	uint32_t limit, flows, quantum, memory_limit, drop_batch;
	uint64_t target, interval, ce_threshold;
	bool ecn;
};

struct fqc {
	struct fqc_conf c;
	struct tn_codel_params cp;
	struct fqc_flow *flows;
	uint64_t seed[2];
	struct fqc_list new_flows, old_flows;
	uint32_t memory_usage;
	struct tn_codel_stats cst;
	uint32_t drop_overlimit, drop_overmemory, new_flow_count;
};

/* ---- Options ---- */

static int get_time_opt(const char *name, const char *s, uint64_t *ns, struct tn_qerr *err)
{
	if (tn_tc_get_time(s, ns) < 0 || *ns > FQC_MAX_TIME)
		return tn_qerr(err, "fq_codel: bad %s \"%s\"", name, s);
	return 0;
}

static int fqc_parse(int argc, char **argv, struct fqc_conf *c, bool live, struct tn_qerr *err)
{
	for (int i = 0; i < argc; i++) {
		const char *w = argv[i];
		if (strcmp(w, "ecn") == 0) {
			c->ecn = true;
			continue;
		}
		if (strcmp(w, "noecn") == 0) {
			c->ecn = false;
			continue;
		}
		static const char *const with_value[] = {"limit",  "flows",	   "quantum",	   "target",
							 "interval", "memory_limit", "ce_threshold", "drop_batch"};
		bool known = false;
		for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++)
			known |= strcmp(w, with_value[k]) == 0;
		if (!known)
			return tn_qerr(err,
				       "fq_codel: unknown option \"%s\" (expected limit, flows, quantum, target, "
				       "interval, memory_limit, ecn, noecn, ce_threshold or drop_batch)",
				       w);
		if (++i == argc)
			return tn_qerr(err, "fq_codel: %s needs a value", w);
		const char *v = argv[i];
		uint32_t u;
		if (strcmp(w, "limit") == 0) {
			if (tn_tc_get_u32(v, &u) < 0 || u == 0)
				return tn_qerr(err, "fq_codel: bad limit \"%s\" (packets, at least 1)", v);
			c->limit = u;
		} else if (strcmp(w, "flows") == 0) {
			if (tn_tc_get_u32(v, &u) < 0 || u == 0 || u > FQC_MAX_FLOWS)
				return tn_qerr(err, "fq_codel: bad flows \"%s\" (1 to %u)", v, FQC_MAX_FLOWS);
			if (live && u != c->flows)
				return tn_qerr(err, "fq_codel: flows \"%s\" cannot change on a live qdisc", v);
			c->flows = u;
		} else if (strcmp(w, "quantum") == 0) {
			if (tn_tc_get_size(v, &u) < 0 || u == 0 || u > FQC_MAX_QUANTUM)
				return tn_qerr(err, "fq_codel: bad quantum \"%s\" (bytes, at most %u)", v,
					       FQC_MAX_QUANTUM);
			c->quantum = u < FQC_MIN_QUANTUM ? FQC_MIN_QUANTUM : u; /* as Linux */
		} else if (strcmp(w, "target") == 0) {
			if (get_time_opt(w, v, &c->target, err) < 0)
				return -1;
		} else if (strcmp(w, "interval") == 0) {
			if (get_time_opt(w, v, &c->interval, err) < 0)
				return -1;
			if (c->interval == 0)
				return tn_qerr(err, "fq_codel: bad interval \"%s\" (must be more than 0)", v);
		} else if (strcmp(w, "ce_threshold") == 0) {
			if (get_time_opt(w, v, &c->ce_threshold, err) < 0)
				return -1;
		} else if (strcmp(w, "memory_limit") == 0) {
			if (tn_tc_get_size(v, &u) < 0 || u == 0)
				return tn_qerr(err, "fq_codel: bad memory_limit \"%s\" (bytes)", v);
			c->memory_limit = u > FQC_MAX_MEMORY ? FQC_MAX_MEMORY : u; /* as Linux */
		} else { /* drop_batch */
			if (tn_tc_get_u32(v, &u) < 0 || u == 0)
				return tn_qerr(err, "fq_codel: bad drop_batch \"%s\" (packets, at least 1)", v);
			c->drop_batch = u;
		}
	}
	return 0;
}

static void fqc_apply(struct tn_qdisc *q, const struct fqc_conf *c)
{
	struct fqc *f = tn_qdisc_priv(q);
	f->c = *c;
	f->cp.target = c->target;
	f->cp.interval = c->interval;
	f->cp.ce_threshold = c->ce_threshold;
	f->cp.ecn = c->ecn;
	/* psched_mtu: the device MTU and an Ethernet header */
	f->cp.mtu = (q->env->mtu ? q->env->mtu : 1500) + 14;
}

/* ---- Flows ---- */

static void list_add_tail(struct fqc_list *l, struct fqc_flow *fl, uint8_t which)
{
	fl->next = NULL;
	fl->list = which;
	if (l->tail)
		l->tail->next = fl;
	else
		l->head = fl;
	l->tail = fl;
	l->len++;
}

static struct fqc_flow *list_pop(struct fqc_list *l)
{
	struct fqc_flow *fl = l->head;
	l->head = fl->next;
	if (!l->head)
		l->tail = NULL;
	l->len--;
	fl->next = NULL;
	fl->list = FQC_NONE;
	return fl;
}

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The flow of a packet: a keyed hash of its IPv4 addresses, protocol and
 * (unless it is a fragment) ports; every non-IPv4 packet shares one. */
static uint32_t fqc_classify(const struct fqc *f, const struct tn_pkt *p)
{
	uint64_t addrs = 0, rest = 0;
	if (tn_qdisc_pkt_tos(p) >= 0) {
		const uint8_t *ip = p->buf + p->l3_off, *end = p->data + p->len;
		uint32_t ihl = (uint32_t)(ip[0] & 15) * 4;
		uint8_t proto = ip[9];
		rest = 1ull << 40 | (uint64_t)proto << 32;
		for (int i = 12; i < 20; i++)
			addrs = addrs << 8 | ip[i];
		bool frag = (ip[6] & 0x3f) || ip[7]; /* MF or an offset */
		bool ports = proto == 6 || proto == 17 || proto == 132 || proto == 136; /* TCP UDP SCTP UDP-Lite */
		if (ihl >= 20 && !frag && ports && ip + ihl + 4 <= end) {
			const uint8_t *l4 = ip + ihl;
			rest |= (uint64_t)l4[0] << 24 | (uint64_t)l4[1] << 16 | (uint64_t)l4[2] << 8 | l4[3];
		}
	}
	uint64_t h = mix64(addrs ^ f->seed[0]);
	h = mix64(h ^ rest ^ f->seed[1]);
	return (uint32_t)(((h >> 32) * f->c.flows) >> 32);
}

struct fqc_ctx {
	struct tn_qdisc *q;
	struct fqc_flow *fl;
};

/* Take the head packet of a flow, with all the accounting. */
static struct tn_pkt *flow_take(struct tn_qdisc *q, struct fqc_flow *fl)
{
	struct fqc *f = tn_qdisc_priv(q);
	struct tn_pkt *p = fl->head;
	if (!p)
		return NULL;
	fl->head = p->qnext;
	if (!fl->head)
		fl->tail = NULL;
	p->qnext = NULL;
	fl->backlog -= tn_qdisc_pkt_len(p);
	f->memory_usage -= tn_pkt_truesize(p);
	q->stats.qlen--;
	q->stats.backlog -= p->pkt_len;
	return p;
}

static struct tn_pkt *codel_take(void *ctx)
{
	struct fqc_ctx *c = ctx;
	return flow_take(c->q, c->fl);
}

static void codel_drop(void *ctx, struct tn_pkt *p)
{
	struct fqc_ctx *c = ctx;
	tn_qdisc_drop(c->q, p);
}

/* Drop up to `max` packets from the head of the fattest flow, stopping
 * once half its backlog is gone; the flow's index. */
static uint32_t fqc_drop_fattest(struct tn_qdisc *q, uint32_t max)
{
	struct fqc *f = tn_qdisc_priv(q);
	uint32_t idx = 0, maxbacklog = 0;
	for (uint32_t i = 0; i < f->c.flows; i++)
		if (f->flows[i].backlog > maxbacklog || (!f->flows[idx].head && f->flows[i].head)) {
			maxbacklog = f->flows[i].backlog;
			idx = i;
		}
	struct fqc_flow *fl = &f->flows[idx];
	uint32_t threshold = maxbacklog >> 1, len = 0, n = 0;
	struct tn_pkt *p;
	while (n < max && (p = flow_take(q, fl)) != NULL) {
		len += tn_qdisc_pkt_len(p);
		tn_qdisc_drop(q, p);
		n++;
		if (len >= threshold)
			break;
	}
	fl->cv.count += n; /* CoDel of that flow: drop faster next time */
	return idx;
}

/* ---- Ops ---- */

static int fqc_init(struct tn_qdisc *q, int argc, char **argv, struct tn_qerr *err)
{
	struct fqc *f = tn_qdisc_priv(q);
	uint32_t mtu = q->env->mtu ? q->env->mtu : 1500;
	struct fqc_conf c = {
		.limit = 10240, .flows = 1024, .quantum = mtu + 14, .memory_limit = 32u << 20,
		.drop_batch = 64, .target = 5000000, .interval = 100000000,
		.ce_threshold = TN_CODEL_DISABLED, .ecn = true,
	};
	if (fqc_parse(argc, argv, &c, false, err) < 0)
		return -1;
	f->flows = calloc(c.flows, sizeof(*f->flows));
	if (!f->flows)
		return tn_qerr(err, "fq_codel: out of memory for %u flows", c.flows);
	for (uint32_t i = 0; i < c.flows; i++)
		tn_codel_vars_init(&f->flows[i].cv);
	f->seed[0] = tn_rand_u64(q->env->rng);
	f->seed[1] = tn_rand_u64(q->env->rng);
	fqc_apply(q, &c);
	return 0;
}

static int fqc_change(struct tn_qdisc *q, int argc, char **argv, struct tn_qerr *err)
{
	struct fqc *f = tn_qdisc_priv(q);
	struct fqc_conf c = f->c;
	if (fqc_parse(argc, argv, &c, true, err) < 0)
		return -1;
	fqc_apply(q, &c);
	while (q->stats.qlen > f->c.limit || f->memory_usage > f->c.memory_limit) {
		uint32_t before = q->stats.qlen;
		fqc_drop_fattest(q, 1);
		if (q->stats.qlen == before)
			break; /* nothing left to drop */
		f->drop_overlimit += before - q->stats.qlen;
	}
	return 0;
}

static enum tn_qdisc_verdict fqc_enqueue(struct tn_qdisc *q, struct tn_pkt *p)
{
	struct fqc *f = tn_qdisc_priv(q);
	uint32_t idx = fqc_classify(f, p);
	struct fqc_flow *fl = &f->flows[idx];
	p->tstamp = q->env->now;
	p->qnext = NULL;
	if (fl->tail)
		fl->tail->qnext = p;
	else
		fl->head = p;
	fl->tail = p;
	fl->backlog += tn_qdisc_pkt_len(p);
	q->stats.qlen++;
	q->stats.backlog += p->pkt_len;
	f->memory_usage += tn_pkt_truesize(p);
	if (fl->list == FQC_NONE) {
		list_add_tail(&f->new_flows, fl, FQC_NEW);
		f->new_flow_count++;
		fl->deficit = (int32_t)f->c.quantum;
	}
	bool over_memory = f->memory_usage > f->c.memory_limit;
	if (q->stats.qlen <= f->c.limit && !over_memory)
		return TN_QDISC_OK;

	uint32_t before = q->stats.qlen;
	uint32_t fat = fqc_drop_fattest(q, f->c.drop_batch);
	uint32_t dropped = before - q->stats.qlen;
	f->drop_overlimit += dropped;
	if (over_memory)
		f->drop_overmemory += dropped;
	if (fat != idx)
		return TN_QDISC_OK;
	/* This packet's own flow paid: tell the sender to slow down.  Drops
	 * come from the head, so this packet went only if the flow emptied. */
	return fl->head ? TN_QDISC_CN : TN_QDISC_DROP;
}

static struct tn_pkt *fqc_dequeue(struct tn_qdisc *q)
{
	struct fqc *f = tn_qdisc_priv(q);
	for (;;) {
		struct fqc_list *l = f->new_flows.head ? &f->new_flows : &f->old_flows;
		struct fqc_flow *fl = l->head;
		if (!fl)
			return NULL;
		if (fl->deficit <= 0) {
			/* used its quantum: next round, behind the old flows */
			fl->deficit += (int32_t)f->c.quantum;
			list_pop(l);
			list_add_tail(&f->old_flows, fl, FQC_OLD);
			continue;
		}
		struct fqc_ctx ctx = {q, fl};
		struct tn_pkt *p = tn_codel_dequeue(&ctx, &q->stats.backlog, &f->cp, &fl->cv, &f->cst,
						    q->env->now, codel_take, codel_drop);
		if (!p) {
			/* Empty: a new flow goes through the old list once
			 * (so new flows cannot starve old ones); an old flow
			 * leaves the lists until it has packets again. */
			list_pop(l);
			if (l == &f->new_flows && f->old_flows.head)
				list_add_tail(&f->old_flows, fl, FQC_OLD);
			continue;
		}
		fl->deficit -= (int32_t)tn_qdisc_pkt_len(p);
		tn_qdisc_count_out(q, p);
		return p;
	}
}

static void fqc_reset(struct tn_qdisc *q)
{
	struct fqc *f = tn_qdisc_priv(q);
	if (!f->flows)
		return;
	for (uint32_t i = 0; i < f->c.flows; i++) {
		struct fqc_flow *fl = &f->flows[i];
		tn_pkt_free_queue(fl->head);
		*fl = (struct fqc_flow){0};
		tn_codel_vars_init(&fl->cv);
	}
	f->new_flows = (struct fqc_list){0};
	f->old_flows = (struct fqc_list){0};
	f->memory_usage = 0;
	q->stats.qlen = 0;
	q->stats.backlog = 0;
}

static void fqc_destroy(struct tn_qdisc *q)
{
	struct fqc *f = tn_qdisc_priv(q);
	free(f->flows);
	f->flows = NULL;
}

static int fqc_dump(const struct tn_qdisc *q, char *buf, size_t cap)
{
	const struct fqc *f = tn_qdisc_cpriv(q);
	char target[32], interval[32], mem[32], ce[48] = "";
	tn_tc_print_time(target, sizeof(target), f->c.target);
	tn_tc_print_time(interval, sizeof(interval), f->c.interval);
	tn_tc_print_size(mem, sizeof(mem), f->c.memory_limit);
	if (f->c.ce_threshold != TN_CODEL_DISABLED) {
		char t[32];
		tn_tc_print_time(t, sizeof(t), f->c.ce_threshold);
		snprintf(ce, sizeof(ce), " ce_threshold %s", t);
	}
	return snprintf(buf, cap, "limit %up flows %u quantum %u target %s%s interval %s memory_limit %s%s drop_batch %u",
			f->c.limit, f->c.flows, f->c.quantum, target, ce, interval, mem, f->c.ecn ? " ecn" : "",
			f->c.drop_batch);
}

const struct tn_qdisc_ops tn_qdisc_fq_codel = {
	.kind = "fq_codel", .priv_size = sizeof(struct fqc), .init = fqc_init, .change = fqc_change,
	.enqueue = fqc_enqueue, .dequeue = fqc_dequeue, .reset = fqc_reset, .destroy = fqc_destroy,
	.dump = fqc_dump, .dump_xstats = tn_fq_codel_print_xstats,
};

int tn_fq_codel_get_xstats(const struct tn_qdisc *q, struct tn_fq_codel_xstats *xs)
{
	if (!q || q->ops != &tn_qdisc_fq_codel)
		return -1;
	const struct fqc *f = tn_qdisc_cpriv(q);
	*xs = (struct tn_fq_codel_xstats){
		.maxpacket = f->cst.maxpacket, .drop_overlimit = f->drop_overlimit,
		.drop_overmemory = f->drop_overmemory, .new_flow_count = f->new_flow_count,
		.ecn_mark = f->cst.ecn_mark, .ce_mark = f->cst.ce_mark, .codel_drops = f->cst.drop_count,
		.memory_usage = f->memory_usage, .new_flows_len = f->new_flows.len,
		.old_flows_len = f->old_flows.len,
	};
	return 0;
}

int tn_fq_codel_print_xstats(const struct tn_qdisc *q, char *buf, size_t cap)
{
	struct tn_fq_codel_xstats xs;
	if (tn_fq_codel_get_xstats(q, &xs) < 0)
		return -1;
	int n = snprintf(buf, cap, "maxpacket %u drop_overlimit %u new_flow_count %u ecn_mark %u", xs.maxpacket,
			 xs.drop_overlimit, xs.new_flow_count, xs.ecn_mark);
	if (xs.ce_mark && n >= 0 && (size_t)n < cap)
		n += snprintf(buf + n, cap - (size_t)n, " ce_mark %u", xs.ce_mark);
	if (xs.memory_usage && n >= 0 && (size_t)n < cap)
		n += snprintf(buf + n, cap - (size_t)n, " memory_used %u", xs.memory_usage);
	if (xs.drop_overmemory && n >= 0 && (size_t)n < cap)
		n += snprintf(buf + n, cap - (size_t)n, " drop_overmemory %u", xs.drop_overmemory);
	if (n >= 0 && (size_t)n < cap)
		n += snprintf(buf + n, cap - (size_t)n, "\nnew_flows_len %u old_flows_len %u", xs.new_flows_len,
			      xs.old_flows_len);
	return n;
}
