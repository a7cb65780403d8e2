/* sfq: Linux's stochastic fairness queueing (sch_sfq).  Packets are hashed
 * by their flow (addresses, protocol, ports, with a random key) into
 * `divisor` buckets; each busy bucket owns one of `flows` slots, a FIFO of
 * at most `depth` packets.  Busy slots are served round robin, each taking
 * up to `quantum` bytes a turn (deficit round robin); a new flow joins at
 * the end of the round.  When `limit` packets are queued, the longest slot
 * loses its last packet (its first with headdrop).  Every `perturb`
 * seconds the key changes and queued packets move to their new slots, each
 * flow's in order.
 *
 * Slots are found by length as Linux does: dep[d] lists the slots holding
 * d packets (dep[0] is the free list), so the longest is dep[cur_depth]'s
 * first, in constant time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "sched/qdisc.h"
#include "sched/sch_cls.h"
#include "sched/sch_ops.h"

#define SFQ_MAX_DEPTH 127        /* packets in one slot */
#define SFQ_MAX_FLOWS 65408u     /* slots */
#define SFQ_MAX_DIVISOR 65536u
#define SFQ_DEFAULT_DIVISOR 1024u
#define SFQ_DEFAULT_FLOWS 128u
#define SFQ_MAX_QUANTUM 262143u
#define SFQ_NONE UINT32_MAX

struct sfq_link {
	uint32_t prev, next; /* indices: slots first, then dep heads */
};

struct sfq_slot {
	struct tn_pkt *head, *tail;
	uint32_t qlen, backlog;
	int32_t allot;       /* bytes it may still send this round */
	uint32_t bucket;     /* the hash bucket that owns it */
	uint32_t next;       /* next busy slot in the round */
};

struct sfq_cfg {
	uint32_t limit, quantum, depth, divisor, flows, perturb;
	bool headdrop;
};

struct sfq {
	struct sfq_cfg cfg;
	uint32_t limit;          /* effective: at most depth * flows */
	uint32_t *ht;            /* bucket -> slot, or SFQ_NONE */
	struct sfq_slot *slots;
	struct sfq_link *links;  /* flows + SFQ_MAX_DEPTH + 1: slots, then dep[] */
	uint32_t cur_depth;      /* packets in the longest slot */
	uint32_t tail;           /* the slot served last in the round, or SFQ_NONE */
	uint64_t key;            /* the hash key (perturbation) */
	uint64_t next_perturb;   /* ns; UINT64_MAX without perturb */
};

static uint32_t dep_idx(const struct sfq *s, uint32_t d) { return s->cfg.flows + d; }

/* Take slot x out of its dep list and put it at the head of dep[d]. */
static void dep_unlink(struct sfq *s, uint32_t x)
{
	uint32_t p = s->links[x].prev, n = s->links[x].next;
	s->links[p].next = n;
	s->links[n].prev = p;
}

static void dep_link(struct sfq *s, uint32_t x, uint32_t d)
{
	uint32_t h = dep_idx(s, d), n = s->links[h].next;
	s->links[x].prev = h;
	s->links[x].next = n;
	s->links[n].prev = x;
	s->links[h].next = x;
}

static bool dep_empty(const struct sfq *s, uint32_t d)
{
	return s->links[dep_idx(s, d)].next == dep_idx(s, d);
}

/* Slot x grew by one packet (it must be below depth). */
static void sfq_inc(struct sfq *s, uint32_t x)
{
	uint32_t d = ++s->slots[x].qlen;
	dep_unlink(s, x);
	dep_link(s, x, d);
	if (d > s->cur_depth)
		s->cur_depth = d;
}

static void sfq_dec(struct sfq *s, uint32_t x)
{
	uint32_t d = s->slots[x].qlen--;
	dep_unlink(s, x);
	dep_link(s, x, d - 1);
	if (d == s->cur_depth && dep_empty(s, d))
		s->cur_depth--;
}

static void slot_push(struct sfq_slot *sl, struct tn_pkt *p)
{
	p->qnext = NULL;
	if (sl->tail)
		sl->tail->qnext = p;
	else
		sl->head = p;
	sl->tail = p;
}

static struct tn_pkt *slot_pop_head(struct sfq_slot *sl)
{
	struct tn_pkt *p = sl->head;
	sl->head = p->qnext;
	if (!sl->head)
		sl->tail = NULL;
	p->qnext = NULL;
	return p;
}

static struct tn_pkt *slot_pop_tail(struct sfq_slot *sl)
{
	struct tn_pkt *p = sl->tail;
	if (sl->head == p) {
		sl->head = sl->tail = NULL;
		return p;
	}
	struct tn_pkt *prev = sl->head;
	while (prev->qnext != p)
		prev = prev->qnext;
	prev->qnext = NULL;
	sl->tail = prev;
	return p;
}

/* The flow hash of a packet: IPv4 addresses, protocol and (unless it is a
 * fragment) the first four bytes of the transport header, keyed. */
static uint32_t flow_hash(const struct sfq *s, const struct tn_pkt *p)
{
	const uint8_t *ip = p->buf + p->l3_off;
	uint64_t a = 0, b = 0;
	if (p->l3_off && ip >= p->data && ip + 20 <= p->data + p->len && (ip[0] >> 4) == 4) {
		a = (uint64_t)ip[12] << 56 | (uint64_t)ip[13] << 48 | (uint64_t)ip[14] << 40 | (uint64_t)ip[15] << 32 |
		    (uint64_t)ip[16] << 24 | (uint64_t)ip[17] << 16 | (uint64_t)ip[18] << 8 | ip[19];
		b = (uint64_t)ip[9] << 32;
		const uint8_t *l4 = ip + (ip[0] & 0xf) * 4;
		bool frag = ((ip[6] & 0x3f) | ip[7]) != 0; /* MF or an offset */
		if (!frag && l4 + 4 <= p->data + p->len)
			b |= (uint64_t)l4[0] << 24 | (uint64_t)l4[1] << 16 | (uint64_t)l4[2] << 8 | l4[3];
	} else {
		b = 1ull << 40; /* not IPv4: one flow */
	}
	return tn_hash2(s->key, a, b);
}

/* The bucket of p: by filter (class minor 1..divisor) or by hash; SFQ_NONE
 * if a filter says nothing. */
static uint32_t sfq_bucket(struct tn_qdisc *q, const struct tn_pkt *p)
{
	struct sfq *s = tn_qdisc_priv(q);
	if (q->filters) {
		uint32_t cl = tn_qfilter_classify(q, p);
		uint32_t min = TN_TC_H_MIN(cl);
		return min >= 1 && min <= s->cfg.divisor ? min - 1 : SFQ_NONE;
	}
	return flow_hash(s, p) & (s->cfg.divisor - 1);
}

/* For tests: the bucket a packet would go to now. */
uint32_t tn_sfq_bucket(struct tn_qdisc *q, const struct tn_pkt *p);
uint32_t tn_sfq_bucket(struct tn_qdisc *q, const struct tn_pkt *p)
{
	return sfq_bucket(q, p);
}

/* Slot x became empty: free it and take it out of the round (prev is the
 * slot before it in the round). */
static void slot_release(struct sfq *s, uint32_t x, uint32_t prev)
{
	struct sfq_slot *sl = &s->slots[x];
	s->ht[sl->bucket] = SFQ_NONE;
	if (sl->next == x) {
		s->tail = SFQ_NONE;
	} else {
		s->slots[prev].next = sl->next;
		if (s->tail == x)
			s->tail = prev;
	}
}

/* Put p in the slot of its bucket, without limit checks; a slot at depth
 * drops p (or, with headdrop, its first packet).  Returns the packet
 * dropped (already counted and freed: compare only), or NULL. */
static const struct tn_pkt *sfq_place(struct tn_qdisc *q, struct tn_pkt *p, uint32_t bucket)
{
	struct sfq *s = tn_qdisc_priv(q);
	uint32_t x = s->ht[bucket];
	if (x == SFQ_NONE) {
		x = s->links[dep_idx(s, 0)].next;
		if (x >= s->cfg.flows) { /* every slot busy */
			tn_qdisc_drop(q, p);
			return p;
		}
		s->ht[bucket] = x;
		s->slots[x].bucket = bucket;
	}
	struct sfq_slot *sl = &s->slots[x];
	if (sl->qlen >= s->cfg.depth) {
		if (!s->cfg.headdrop) {
			tn_qdisc_drop(q, p);
			return p;
		}
		struct tn_pkt *old = slot_pop_head(sl);
		sl->backlog -= old->pkt_len;
		q->stats.qlen--;
		q->stats.backlog -= old->pkt_len;
		sfq_dec(s, x);
		slot_push(sl, p);
		sl->backlog += p->pkt_len;
		sfq_inc(s, x);
		q->stats.qlen++;
		q->stats.backlog += p->pkt_len;
		tn_qdisc_drop(q, old);
		return old;
	}
	slot_push(sl, p);
	sl->backlog += p->pkt_len;
	sfq_inc(s, x);
	q->stats.qlen++;
	q->stats.backlog += p->pkt_len;
	if (sl->qlen == 1) {
		/* A new flow ends the round, so busy ones are not frozen out. */
		if (s->tail == SFQ_NONE) {
			sl->next = x;
		} else {
			sl->next = s->slots[s->tail].next;
			s->slots[s->tail].next = x;
		}
		s->tail = x;
		sl->allot = (int32_t)s->cfg.quantum;
	}
	return NULL;
}

/* Drop one packet from the longest slot (the last, or the first with
 * headdrop).  Returns it (freed: compare only), or NULL if empty. */
static const struct tn_pkt *sfq_drop_longest(struct tn_qdisc *q)
{
	struct sfq *s = tn_qdisc_priv(q);
	if (s->cur_depth == 0)
		return NULL;
	/* When every slot holds one packet, take the one the round serves
	 * next (its predecessor is known), as Linux does. */
	uint32_t x = s->cur_depth == 1 ? s->slots[s->tail].next : s->links[dep_idx(s, s->cur_depth)].next;
	struct sfq_slot *sl = &s->slots[x];
	struct tn_pkt *p = s->cfg.headdrop ? slot_pop_head(sl) : slot_pop_tail(sl);
	sl->backlog -= p->pkt_len;
	q->stats.qlen--;
	q->stats.backlog -= p->pkt_len;
	sfq_dec(s, x);
	if (sl->qlen == 0)
		slot_release(s, x, s->tail);
	tn_qdisc_drop(q, p);
	return p;
}

/* Every slot free, every bucket empty. */
static void sfq_clear(struct sfq *s)
{
	for (uint32_t d = 0; d <= SFQ_MAX_DEPTH; d++) {
		uint32_t h = dep_idx(s, d);
		s->links[h].prev = s->links[h].next = h;
	}
	for (uint32_t i = 0; i < s->cfg.flows; i++) {
		struct sfq_slot *sl = &s->slots[i];
		if (sl->qlen || sl->head)
			s->ht[sl->bucket] = SFQ_NONE;
		memset(sl, 0, sizeof(*sl));
		dep_link(s, i, 0);
	}
	s->cur_depth = 0;
	s->tail = SFQ_NONE;
}

/* A new key; queued packets move to the slots of their new buckets, each
 * flow's in the order they came (Linux's sfq_rehash). */
static void sfq_rehash(struct tn_qdisc *q)
{
	struct sfq *s = tn_qdisc_priv(q);
	struct tn_pkt *list = NULL, **tailp = &list;
	for (uint32_t i = 0; i < s->cfg.flows; i++) {
		struct sfq_slot *sl = &s->slots[i];
		if (!sl->head)
			continue;
		*tailp = sl->head;
		tailp = &sl->tail->qnext;
	}
	*tailp = NULL;
	sfq_clear(s);
	q->stats.qlen = 0;
	q->stats.backlog = 0;
	while (list) {
		struct tn_pkt *p = list;
		list = p->qnext;
		p->qnext = NULL;
		sfq_place(q, p, flow_hash(s, p) & (s->cfg.divisor - 1));
	}
}

static void sfq_maybe_perturb(struct tn_qdisc *q)
{
	struct sfq *s = tn_qdisc_priv(q);
	if (q->env->now < s->next_perturb)
		return;
	s->key = tn_rand_u64(q->env->rng);
	if (!q->filters && q->stats.qlen)
		sfq_rehash(q);
	s->next_perturb = q->env->now + (uint64_t)s->cfg.perturb * 1000000000ull;
}

static int sfq_parse(struct tn_qdisc *q, int argc, char **argv, struct sfq_cfg *c, struct tn_qerr *err)
{
	for (int i = 0; i < argc; i++) {
		const char *w = argv[i];
		if (strcmp(w, "headdrop") == 0) {
			c->headdrop = true;
			continue;
		}
		if (strcmp(w, "redflowlimit") == 0 || strcmp(w, "min") == 0 || strcmp(w, "max") == 0 ||
		    strcmp(w, "probability") == 0 || strcmp(w, "ecn") == 0 || strcmp(w, "harddrop") == 0)
			return tn_qerr(err, "sfq: RED option \"%s\" is not supported", w);
		if (i + 1 == argc)
			return tn_qerr(err, "sfq: \"%s\" needs a value", w);
		const char *v = argv[++i];
		uint32_t x;
		if (strcmp(w, "quantum") == 0) {
			if (tn_tc_get_size(v, &x) < 0 || x == 0 || x > SFQ_MAX_QUANTUM)
				return tn_qerr(err, "sfq: bad quantum \"%s\"", v);
			c->quantum = x;
		} else if (strcmp(w, "perturb") == 0) {
			if (tn_tc_get_u32(v, &x) < 0 || x > 86400)
				return tn_qerr(err, "sfq: bad perturb \"%s\" (seconds)", v);
			c->perturb = x;
		} else if (strcmp(w, "limit") == 0) {
			if (tn_tc_get_u32(v, &x) < 0 || x < 2)
				return tn_qerr(err, "sfq: bad limit \"%s\" (must be > 1)", v);
			c->limit = x;
		} else if (strcmp(w, "divisor") == 0) {
			if (tn_tc_get_u32(v, &x) < 0 || x == 0 || (x & (x - 1)) || x > SFQ_MAX_DIVISOR)
				return tn_qerr(err, "sfq: bad divisor \"%s\" (a power of 2 up to %u)", v, SFQ_MAX_DIVISOR);
			c->divisor = x;
		} else if (strcmp(w, "flows") == 0) {
			if (tn_tc_get_u32(v, &x) < 0 || x == 0 || x > SFQ_MAX_FLOWS)
				return tn_qerr(err, "sfq: bad flows \"%s\" (1 to %u)", v, SFQ_MAX_FLOWS);
			c->flows = x;
		} else if (strcmp(w, "depth") == 0) {
			if (tn_tc_get_u32(v, &x) < 0 || x == 0)
				return tn_qerr(err, "sfq: bad depth \"%s\"", v);
			c->depth = x > SFQ_MAX_DEPTH ? SFQ_MAX_DEPTH : x;
		} else {
			return tn_qerr(err, "sfq: unknown option \"%s\"", w);
		}
	}
	(void)q;
	return 0;
}

/* As Linux: the limit is at most depth * flows, and no more slots are
 * useful than the limit. */
static uint32_t sfq_eff_limit(const struct sfq_cfg *c)
{
	uint64_t cap = (uint64_t)c->depth * c->flows;
	return c->limit < cap ? c->limit : (uint32_t)cap;
}

static int sfq_init(struct tn_qdisc *q, int argc, char **argv, struct tn_qerr *err)
{
	struct sfq *s = tn_qdisc_priv(q);
	struct sfq_cfg c = {
		.limit = SFQ_MAX_DEPTH, .quantum = (q->env->mtu ? q->env->mtu : 1500) + 14,
		.depth = SFQ_MAX_DEPTH, .divisor = SFQ_DEFAULT_DIVISOR, .flows = SFQ_DEFAULT_FLOWS,
	};
	if (sfq_parse(q, argc, argv, &c, err) < 0)
		return -1;
	s->limit = sfq_eff_limit(&c);
	if (c.flows > s->limit)
		c.flows = s->limit;
	s->cfg = c;
	s->ht = malloc(sizeof(*s->ht) * c.divisor);
	s->slots = calloc(c.flows, sizeof(*s->slots));
	s->links = calloc(c.flows + SFQ_MAX_DEPTH + 1, sizeof(*s->links));
	if (!s->ht || !s->slots || !s->links)
		return tn_qerr(err, "sfq: out of memory");
	for (uint32_t i = 0; i < c.divisor; i++)
		s->ht[i] = SFQ_NONE;
	sfq_clear(s);
	s->key = tn_rand_u64(q->env->rng);
	s->next_perturb = c.perturb ? q->env->now + (uint64_t)c.perturb * 1000000000ull : UINT64_MAX;
	return 0;
}

static int sfq_change(struct tn_qdisc *q, int argc, char **argv, struct tn_qerr *err)
{
	struct sfq *s = tn_qdisc_priv(q);
	struct sfq_cfg c = s->cfg;
	c.headdrop = false; /* tc sends the flag only when it is given */
	if (sfq_parse(q, argc, argv, &c, err) < 0)
		return -1;
	if (c.divisor != s->cfg.divisor)
		return tn_qerr(err, "sfq: divisor can only be set when the qdisc is created");
	if (c.flows != s->cfg.flows)
		return tn_qerr(err, "sfq: flows can only be set when the qdisc is created");
	s->cfg = c;
	s->limit = sfq_eff_limit(&c);
	s->next_perturb = c.perturb ? q->env->now + (uint64_t)c.perturb * 1000000000ull : UINT64_MAX;
	while (q->stats.qlen > s->limit)
		sfq_drop_longest(q);
	return 0;
}

static enum tn_qdisc_verdict sfq_enqueue(struct tn_qdisc *q, struct tn_pkt *p)
{
	struct sfq *s = tn_qdisc_priv(q);
	sfq_maybe_perturb(q);
	uint32_t bucket = sfq_bucket(q, p);
	if (bucket == SFQ_NONE) {
		tn_qdisc_drop(q, p);
		return TN_QDISC_DROP;
	}
	const struct tn_pkt *dropped = sfq_place(q, p, bucket);
	if (dropped)
		return dropped == p ? TN_QDISC_DROP : TN_QDISC_CN;
	if (q->stats.qlen <= s->limit)
		return TN_QDISC_OK;
	dropped = sfq_drop_longest(q);
	return dropped == p ? TN_QDISC_DROP : TN_QDISC_CN;
}

/* The slot the round serves next: slots out of allot get another quantum
 * and move to the end of the round, as dequeue does. */
static uint32_t sfq_next_slot(struct sfq *s)
{
	for (;;) {
		uint32_t a = s->slots[s->tail].next;
		if (s->slots[a].allot > 0)
			return a;
		s->tail = a;
		s->slots[a].allot += (int32_t)s->cfg.quantum;
	}
}

static struct tn_pkt *sfq_peek(struct tn_qdisc *q)
{
	struct sfq *s = tn_qdisc_priv(q);
	sfq_maybe_perturb(q);
	if (s->tail == SFQ_NONE)
		return NULL;
	return s->slots[sfq_next_slot(s)].head;
}

static struct tn_pkt *sfq_dequeue(struct tn_qdisc *q)
{
	struct sfq *s = tn_qdisc_priv(q);
	sfq_maybe_perturb(q);
	if (s->tail == SFQ_NONE)
		return NULL;
	uint32_t a = sfq_next_slot(s);
	struct sfq_slot *sl = &s->slots[a];
	struct tn_pkt *p = slot_pop_head(sl);
	sfq_dec(s, a);
	sl->backlog -= p->pkt_len;
	q->stats.qlen--;
	q->stats.backlog -= p->pkt_len;
	if (sl->qlen == 0)
		slot_release(s, a, s->tail);
	else
		sl->allot -= (int32_t)tn_qdisc_pkt_len(p);
	tn_qdisc_count_out(q, p);
	return p;
}

static void sfq_reset(struct tn_qdisc *q)
{
	struct sfq *s = tn_qdisc_priv(q);
	if (!s->slots || !s->links || !s->ht)
		return;
	for (uint32_t i = 0; i < s->cfg.flows; i++) {
		tn_pkt_free_queue(s->slots[i].head);
		s->slots[i].head = s->slots[i].tail = NULL;
	}
	sfq_clear(s);
}

static void sfq_destroy(struct tn_qdisc *q)
{
	struct sfq *s = tn_qdisc_priv(q);
	sfq_reset(q);
	free(s->ht);
	free(s->slots);
	free(s->links);
	s->ht = NULL;
	s->slots = NULL;
	s->links = NULL;
}

static int sfq_dump(const struct tn_qdisc *q, char *buf, size_t cap)
{
	const struct sfq *s = tn_qdisc_cpriv(q);
	char qs[32];
	tn_tc_print_size(qs, sizeof(qs), s->cfg.quantum);
	int n = snprintf(buf, cap, "limit %up quantum %s depth %u%s divisor %u", s->limit, qs, s->cfg.depth,
			 s->cfg.headdrop ? " headdrop" : "", s->cfg.divisor);
	if (s->cfg.perturb && n >= 0 && (size_t)n < cap)
		n += snprintf(buf + n, cap - (size_t)n, " perturb %usec", s->cfg.perturb);
	return n;
}

const struct tn_qdisc_ops tn_qdisc_sfq = {
	.kind = "sfq", .priv_size = sizeof(struct sfq), .init = sfq_init, .change = sfq_change,
	.enqueue = sfq_enqueue, .dequeue = sfq_dequeue, .peek = sfq_peek, .reset = sfq_reset,
	.destroy = sfq_destroy, .dump = sfq_dump,
};
