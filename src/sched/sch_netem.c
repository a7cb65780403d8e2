/* netem: Linux's network emulator as a qdisc.  Packets are delayed (with
 * jitter from a distribution, and correlation), lost (at random, by a
 * 4-state Markov model or Gilbert-Elliott), duplicated, corrupted,
 * reordered, serialised at a rate and released in slots, following
 * net/sched/sch_netem.c:
 *
 * - enqueue decides duplication, then loss (a duplicated packet that is
 *   "lost" merely loses its duplicate); the copy goes to the root qdisc
 *   with duplication off, so it meets loss, corruption and delay on its
 *   own.  Corruption flips one random bit.  The limit is checked last.
 * - A packet is either reordered (sent ahead of everything, at the head of
 *   the queue) or gets its time to send: now + delay, and with a rate,
 *   after the last packet queued plus its serialisation time.  With
 *   `reorder P gap N`, after a reordered packet N-1 packets are delayed,
 *   then each is reordered with probability P (tc makes gap 1).
 * - The delay queue (tfifo) is ordered by time to send (a binary heap,
 *   ties in arrival order); dequeue releases its head once its time has
 *   come and, with slots, once the slot is open, else sets the watchdog.
 *
 * Correlated random numbers are Linux's get_crandom.  The delay
 * distributions are computed rather than read from iproute2's tables:
 * normal by the inverse of its CDF, pareto as iproute2's table (alpha 3,
 * centred, scaled by 4/3), paretonormal as 0.25 normal + 0.75 pareto; all
 * clipped at 4 sigma as a table of s16 at scale 8192 is.  Randomness comes
 * from q->env->rng only; a zero probability draws nothing, so an unused
 * impairment does not shift the others' sequence. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/qdisc.h"
#include "sched/sch_netem.h"
#include "sched/sch_ops.h"
#include "wire/csum.h"

#define NETEM_HEAP_MIN 64u

struct crnd {
	uint32_t rho, last;
};

struct held {
	uint64_t tts; /* time to send */
	uint64_t seq; /* ties: arrival order */
	struct tn_pkt *pkt;
};

enum { GI_TX_GAP = 1, GI_TX_BURST = 2, GI_LOST_BURST = 3, GI_LOST_GAP = 4 };
enum { GE_GOOD = 1, GE_BAD = 2 };

struct netem {
	struct tn_netem_opt o;
	struct crnd delay_cor, loss_cor, dup_cor, corrupt_cor, reorder_cor;
	int clg_state;
	uint32_t counter;    /* packets delayed since the last reordered one */
	bool in_dup;         /* enqueueing our own duplicate */
	uint64_t offered;    /* packets offered (not our duplicates), for burstloss */
	/* rate: the time to send of the last packet scheduled, and the
	 * remainder of the division, so a long run keeps the exact rate */
	uint64_t rate_last, rate_rem;
	/* slot */
	uint64_t slot_next;
	int64_t slot_packets_left, slot_bytes_left;
	/* the queue: reordered packets (sent first, last in first out, as
	 * Linux's head-enqueued ones), then the heap by time to send */
	struct tn_pkt *front;
	struct held *heap;
	uint32_t nheld, cap;
	uint64_t seq;
	struct tn_netem_stats st;
};

/* ---- randomness ---- */

static uint32_t rnd32(struct tn_qdisc *q) { return (uint32_t)(tn_rand_u64(q->env->rng) >> 32); }

static void init_crandom(struct tn_qdisc *q, struct crnd *s, uint32_t rho)
{
	s->rho = rho;
	s->last = rho ? rnd32(q) : 0;
}

/* Linux's get_crandom: next = (1 - rho) * random + rho * last. */
static uint32_t get_crandom(struct tn_qdisc *q, struct crnd *s)
{
	if (!s || s->rho == 0)
		return rnd32(q);
	uint64_t value = rnd32(q);
	uint64_t rho = (uint64_t)s->rho + 1;
	uint32_t answer = (uint32_t)((value * ((1ull << 32) - rho) + (uint64_t)s->last * rho) >> 32);
	s->last = answer;
	return answer;
}

/* The standard normal quantile (Acklam's rational approximation, relative
 * error below 1.2e-9), 0 < u < 1. */
static double norm_quantile(double u)
{
	static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
				   1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
	static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
				   6.680131188771972e+01,  -1.328068155288572e+01};
	static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
				   -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
	static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
				   3.754408661907416e+00};
	const double lo = 0.02425;
	if (u < lo || u > 1 - lo) {
		double qq = sqrt(-2 * log(u < lo ? u : 1 - u));
		double x = (((((c[0] * qq + c[1]) * qq + c[2]) * qq + c[3]) * qq + c[4]) * qq + c[5]) /
			   ((((d[0] * qq + d[1]) * qq + d[2]) * qq + d[3]) * qq + 1);
		return u < lo ? x : -x;
	}
	double qq = u - 0.5, r = qq * qq;
	return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * qq /
	       (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/* iproute2's pareto table: alpha 3, minus its mean 1.5, times 4/3. */
static double pareto_value(double u) { return (pow(u, -1.0 / 3.0) - 1.5) * (4.0 / 3.0); }

static double u01(uint32_t r) { return ((double)r + 0.5) / 4294967296.0; }

/* Linux's tabledist: mu plus sigma times a value of the distribution. */
static int64_t tabledist(struct tn_qdisc *q, int64_t mu, int64_t sigma, struct crnd *s, enum tn_netem_dist dist)
{
	if (sigma == 0)
		return mu;
	uint32_t rnd = get_crandom(q, s);
	if (dist == TN_NETEM_UNIFORM) /* [mu - sigma, mu + sigma) */
		return mu - sigma + (int64_t)(((unsigned __int128)rnd * (uint64_t)(2 * sigma)) >> 32);
	double t;
	if (dist == TN_NETEM_NORMAL)
		t = norm_quantile(u01(rnd));
	else if (dist == TN_NETEM_PARETO)
		t = pareto_value(u01(rnd));
	else
		t = 0.25 * norm_quantile(u01(rnd32(q))) + 0.75 * pareto_value(u01(rnd));
	if (t > 4)
		t = 4;
	if (t < -4)
		t = -4;
	return mu + (int64_t)llround((double)sigma * t);
}

/* ---- loss models ---- */

/* The 4-state Markov model (Salsano et al., as Linux's loss_4state): the
 * state entered decides, 3 and 4 are losses. */
static bool loss_4state(struct tn_qdisc *q, struct netem *n)
{
	uint64_t rnd = rnd32(q);
	const struct tn_netem_opt *o = &n->o;
	switch (n->clg_state) {
	case GI_TX_GAP:
		if (rnd < o->p14) {
			n->clg_state = GI_LOST_GAP;
			return true;
		}
		if (rnd < (uint64_t)o->p14 + o->p13) {
			n->clg_state = GI_LOST_BURST;
			return true;
		}
		return false;
	case GI_TX_BURST:
		if (rnd < o->p23) {
			n->clg_state = GI_LOST_BURST;
			return true;
		}
		return false;
	case GI_LOST_BURST:
		if (rnd < o->p32) {
			n->clg_state = GI_TX_BURST;
			return false;
		}
		if (rnd < (uint64_t)o->p32 + o->p31) {
			n->clg_state = GI_TX_GAP;
			return false;
		}
		return true;
	default: /* GI_LOST_GAP: an isolated loss, back to the gap */
		n->clg_state = GI_TX_GAP;
		return false;
	}
}

/* Gilbert-Elliott (Linux's loss_gilb_ell): move between good and bad,
 * then lose with the loss probability of the state the packet met. */
static bool loss_gilb_ell(struct tn_qdisc *q, struct netem *n)
{
	const struct tn_netem_opt *o = &n->o;
	if (n->clg_state == GE_GOOD) {
		if (rnd32(q) < o->ge_p)
			n->clg_state = GE_BAD;
		return o->ge_1k && rnd32(q) < o->ge_1k;
	}
	if (rnd32(q) < o->ge_r)
		n->clg_state = GE_GOOD;
	return o->ge_1h && (o->ge_1h == UINT32_MAX || rnd32(q) < o->ge_1h);
}

static bool loss_event(struct tn_qdisc *q, struct netem *n)
{
	switch (n->o.loss_model) {
	case TN_NETEM_LOSS_STATE:
		return loss_4state(q, n);
	case TN_NETEM_LOSS_GEMODEL:
		return loss_gilb_ell(q, n);
	default:
		return n->o.loss && n->o.loss >= get_crandom(q, &n->loss_cor);
	}
}

/* ---- packets ---- */

/* A private copy of a chain, buffer by buffer, each at the same offset in
 * its buffer (so l2/l3/l4 offsets stay right); NULL if the pool is dry. */
static struct tn_pkt *copy_chain(struct tn_qdisc *q, const struct tn_pkt *p)
{
	struct tn_mempool *mp = q->env->pool ? q->env->pool : p->pool;
	struct tn_pkt *head = NULL, *tail = NULL;
	for (const struct tn_pkt *s = p; s; s = s->next) {
		struct tn_pkt *c = tn_pkt_alloc(mp);
		if (!c) {
			if (head)
				tn_pkt_free(head);
			return NULL;
		}
		/* an external segment (TCP's send buffer) has no place in its own buffer */
		c->data = c->buf + (s->ext ? TN_PKT_HEADROOM : (uint32_t)(s->data - s->buf));
		c->len = s->len;
		c->pkt_len = s->pkt_len;
		memcpy(c->data, s->data, s->len);
		if (tail)
			tail->next = c;
		else
			head = c;
		tail = c;
	}
	head->pkt_len = p->pkt_len;
	head->flags = p->flags;
	head->ifindex = p->ifindex;
	head->l2_off = p->l2_off;
	head->l3_off = p->l3_off;
	head->l4_off = p->l4_off;
	head->mark = p->mark;
	head->gso_size = p->gso_size;
	head->gso_segs = p->gso_segs;
	head->tstamp = p->tstamp;
	memcpy(head->cb, p->cb, sizeof(head->cb));
	return head;
}

/* A packet we may write to: the same one, or a copy if someone else still
 * holds a reference (a retransmit queue); NULL (p freed) if no copy. */
static struct tn_pkt *unshare(struct tn_qdisc *q, struct tn_pkt *p)
{
	if (tn_pkt_writable(p)) /* not shared, nothing external (read-only) */
		return p;
	struct tn_pkt *c = copy_chain(q, p);
	tn_pkt_free(p);
	return c;
}

/* Linux's INET_ECN_set_ce: true if the packet is ECN-capable (now CE). */
static bool ecn_set_ce(struct tn_qdisc *q, struct tn_pkt **pp)
{
	struct tn_pkt *p = *pp;
	uint8_t *l3 = p->buf + p->l3_off;
	if (!p->l3_off || l3 < p->data || l3 + 20 > p->data + p->len)
		return false;
	if ((l3[0] >> 4) == 4) {
		uint8_t ecn = l3[1] & 3;
		if (ecn == 0)
			return false;
		if (ecn == 3)
			return true;
	} else if ((l3[0] >> 4) == 6) {
		uint8_t ecn = (l3[1] >> 4) & 3;
		if (ecn == 0)
			return false;
		if (ecn == 3)
			return true;
	} else {
		return false;
	}
	ptrdiff_t off = l3 - p->buf;
	if (!(p = *pp = unshare(q, p)))
		return true; /* no copy to mark: it is gone, as a loss */
	l3 = p->buf + off;
	if ((l3[0] >> 4) == 6) {
		l3[1] |= 0x30;
		return true;
	}
	/* RFC 1624: HC' = ~(~HC + ~m + m') over the word holding the TOS */
	uint16_t old = (uint16_t)(l3[0] << 8 | l3[1]);
	l3[1] |= 3;
	uint16_t neww = (uint16_t)(l3[0] << 8 | l3[1]);
	uint32_t sum = (uint16_t) ~(uint16_t)(l3[10] << 8 | l3[11]);
	sum += (uint16_t)~old;
	sum += neww;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	uint16_t hc = (uint16_t)~sum;
	l3[10] = (uint8_t)(hc >> 8);
	l3[11] = (uint8_t)hc;
	return true;
}

/* Flip one random bit of the packet (anywhere in the chain).  A checksum
 * still to be computed is computed first, so the damage shows, as Linux
 * does with skb_checksum_help.  NULL (p freed) if no private copy. */
static struct tn_pkt *corrupt_one_bit(struct tn_qdisc *q, struct tn_pkt *p)
{
	if (!(p = unshare(q, p)))
		return NULL;
	if (p->flags & TN_PKT_CSUM_PARTIAL)
		tn_csum_finish(p);
	if (p->pkt_len == 0)
		return p;
	uint32_t bit = tn_rand_below(q->env->rng, p->pkt_len * 8u);
	uint32_t byte = bit / 8;
	for (struct tn_pkt *s = p; s; s = s->next) {
		if (byte < s->len) {
			s->data[byte] ^= (uint8_t)(1u << (bit % 8));
			break;
		}
		byte -= s->len;
	}
	return p;
}

/* ---- the time-sorted queue ---- */

static bool earlier(const struct held *a, const struct held *b)
{
	return a->tts < b->tts || (a->tts == b->tts && a->seq < b->seq);
}

static bool heap_reserve(struct netem *n)
{
	if (n->nheld < n->cap)
		return true;
	uint32_t cap = n->cap ? n->cap * 2 : NETEM_HEAP_MIN;
	if (cap < n->cap)
		return false;
	struct held *h = realloc(n->heap, sizeof(*h) * cap);
	if (!h)
		return false;
	n->heap = h;
	n->cap = cap;
	return true;
}

static void heap_push(struct netem *n, struct held h)
{
	uint32_t i = n->nheld++;
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (!earlier(&h, &n->heap[parent]))
			break;
		n->heap[i] = n->heap[parent];
		i = parent;
	}
	n->heap[i] = h;
}

static struct held heap_pop(struct netem *n)
{
	struct held top = n->heap[0];
	struct held last = n->heap[--n->nheld];
	uint32_t i = 0;
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= n->nheld)
			break;
		if (c + 1 < n->nheld && earlier(&n->heap[c + 1], &n->heap[c]))
			c++;
		if (!earlier(&n->heap[c], &last))
			break;
		n->heap[i] = n->heap[c];
		i = c;
	}
	if (n->nheld)
		n->heap[i] = last;
	return top;
}

/* ---- rate and slots ---- */

/* Serialisation time of a packet at the rate, with Linux's overheads;
 * the remainder of the division carries over. */
static uint64_t packet_time(struct netem *n, uint32_t pkt_len)
{
	int64_t len = (int64_t)pkt_len + n->o.packet_overhead;
	if (len < 0)
		len = 0;
	if (n->o.cell_size) {
		int64_t cells = (len + n->o.cell_size - 1) / n->o.cell_size;
		len = cells * ((int64_t)n->o.cell_size + n->o.cell_overhead);
		if (len < 0)
			len = 0;
	}
	uint64_t num = (uint64_t)len * 8u * 1000000000u + n->rate_rem;
	n->rate_rem = num % n->o.rate_bits;
	return num / n->o.rate_bits;
}

static void get_slot_next(struct tn_qdisc *q, struct netem *n, uint64_t now)
{
	int64_t next;
	if (n->o.slot_jitter_ns)
		next = tabledist(q, (int64_t)n->o.slot_delay_ns, (int64_t)n->o.slot_jitter_ns, NULL, n->o.slot_dist);
	else
		next = (int64_t)(n->o.slot_min_ns +
				 (uint64_t)(((unsigned __int128)rnd32(q) * (n->o.slot_max_ns - n->o.slot_min_ns)) >> 32));
	n->slot_next = now + (uint64_t)(next > 0 ? next : 0);
	n->slot_packets_left = n->o.slot_packets ? n->o.slot_packets : INT32_MAX;
	n->slot_bytes_left = n->o.slot_bytes ? n->o.slot_bytes : INT32_MAX;
}

/* ---- qdisc operations ---- */

static enum tn_qdisc_verdict netem_enqueue(struct tn_qdisc *q, struct tn_pkt *p)
{
	struct netem *n = tn_qdisc_priv(q);
	const struct tn_netem_opt *o = &n->o;
	if (!n->in_dup && o->burst_len) {
		uint64_t k = n->offered++;
		if (k >= o->burst_at && k - o->burst_at < o->burst_len) {
			n->st.lost++;
			tn_qdisc_drop(q, p);
			return TN_QDISC_DROP;
		}
	}
	int count = 1;
	if (!n->in_dup && o->duplicate && o->duplicate >= get_crandom(q, &n->dup_cor))
		count++;
	if (loss_event(q, n)) {
		if (o->ecn && ecn_set_ce(q, &p)) {
			if (!p) {
				n->st.overflow++;
				q->stats.drops++;
				return TN_QDISC_DROP;
			}
			n->st.ecn_marked++;
		} else {
			count--;
		}
	}
	if (count == 0) {
		n->st.lost++;
		tn_qdisc_drop(q, p);
		return TN_QDISC_DROP;
	}
	if (count > 1) {
		/* the copy goes through the whole tree again, not duplicated */
		struct tn_pkt *c = copy_chain(q, p);
		if (c) {
			n->st.duplicated++;
			struct tn_qdisc *root = q->env->root ? q->env->root : q;
			n->in_dup = true;
			tn_qdisc_enqueue(root, c);
			n->in_dup = false;
		}
	}
	if (o->corrupt && o->corrupt >= get_crandom(q, &n->corrupt_cor)) {
		if (!(p = corrupt_one_bit(q, p))) {
			n->st.overflow++;
			q->stats.drops++;
			return TN_QDISC_DROP;
		}
		n->st.corrupted++;
	}
	if (q->stats.qlen >= o->limit || !heap_reserve(n)) {
		n->st.overflow++;
		tn_qdisc_drop(q, p);
		return TN_QDISC_DROP;
	}
	uint64_t now = q->env->now;
	if (o->gap == 0 || n->counter < o->gap - 1 || o->reorder < get_crandom(q, &n->reorder_cor)) {
		int64_t delay = tabledist(q, (int64_t)o->latency_ns, (int64_t)o->jitter_ns, &n->delay_cor, o->dist);
		uint64_t tts = delay < 0 && (uint64_t)-delay > now ? 0 : now + (uint64_t)delay;
		if (o->rate_bits) {
			/* after the last packet queued, whose time counts towards
			 * this one's delay (Linux: "time bonus") */
			if (tts <= n->rate_last)
				tts = n->rate_last;
			else
				n->rate_rem = 0; /* the wire was idle */
			tts += packet_time(n, tn_qdisc_pkt_len(p));
			n->rate_last = tts;
		}
		n->counter++;
		heap_push(n, (struct held){tts, n->seq++, p});
	} else {
		n->counter = 0;
		n->st.reordered++;
		q->stats.requeues++; /* as Linux counts a head enqueue */
		p->qnext = n->front;
		n->front = p;
	}
	q->stats.qlen++;
	q->stats.backlog += p->pkt_len;
	return TN_QDISC_OK;
}

static struct tn_pkt *netem_out(struct tn_qdisc *q, struct tn_pkt *p)
{
	q->stats.qlen--;
	q->stats.backlog -= p->pkt_len;
	p->qnext = NULL;
	tn_qdisc_count_out(q, p);
	return p;
}

static struct tn_pkt *netem_dequeue(struct tn_qdisc *q)
{
	struct netem *n = tn_qdisc_priv(q);
	if (n->front) {
		struct tn_pkt *p = n->front;
		n->front = p->qnext;
		return netem_out(q, p);
	}
	if (!n->nheld)
		return NULL;
	uint64_t now = q->env->now, tts = n->heap[0].tts;
	/* a slot that opened before the head was due is spent: wait for the
	 * next one, counted from now */
	if (n->o.slot && n->slot_next < tts)
		get_slot_next(q, n, now);
	if (tts <= now && (!n->o.slot || n->slot_next <= now)) {
		struct tn_pkt *p = heap_pop(n).pkt;
		if (n->o.slot) {
			n->slot_packets_left--;
			n->slot_bytes_left -= tn_qdisc_pkt_len(p);
			if (n->slot_packets_left <= 0 || n->slot_bytes_left <= 0)
				get_slot_next(q, n, now);
		}
		return netem_out(q, p);
	}
	tn_qdisc_watchdog(q, n->o.slot && n->slot_next > tts ? n->slot_next : tts);
	return NULL;
}

uint64_t tn_netem_next_time(const struct tn_qdisc *q)
{
	const struct netem *n = tn_qdisc_cpriv(q);
	if (q->stash || n->front)
		return q->env->now;
	if (!n->nheld)
		return UINT64_MAX;
	uint64_t t = n->heap[0].tts;
	if (n->o.slot && n->slot_next > t)
		t = n->slot_next;
	return t < q->env->now ? q->env->now : t;
}

static void netem_reset(struct tn_qdisc *q)
{
	struct netem *n = tn_qdisc_priv(q);
	tn_pkt_free_queue(n->front);
	n->front = NULL;
	while (n->nheld)
		tn_pkt_free(heap_pop(n).pkt);
	n->rate_last = n->rate_rem = 0;
}

static void netem_destroy(struct tn_qdisc *q)
{
	struct netem *n = tn_qdisc_priv(q);
	netem_reset(q);
	free(n->heap);
	n->heap = NULL;
	n->cap = 0;
}

/* ---- tc words ---- */

void tn_netem_opt_default(struct tn_netem_opt *o)
{
	memset(o, 0, sizeof(*o));
	o->limit = 1000;
}

static bool next_is_number(int i, int argc, char **argv)
{
	return i + 1 < argc && isdigit((unsigned char)argv[i + 1][0]);
}

static bool next_is_signed(int i, int argc, char **argv)
{
	return i + 1 < argc && (isdigit((unsigned char)argv[i + 1][0]) ||
				(argv[i + 1][0] == '-' && isdigit((unsigned char)argv[i + 1][1])));
}

static int get_prob(const char *s, uint32_t *v)
{
	double p;
	if (tn_tc_get_percent(s, &p) < 0)
		return -1;
	*v = tn_netem_prob(p);
	return 0;
}

static int get_s32(const char *s, int32_t *v)
{
	char *end;
	long x = strtol(s, &end, 0);
	if (!*s || *end || x < INT32_MIN || x > INT32_MAX)
		return -1;
	*v = (int32_t)x;
	return 0;
}

static int get_dist(const char *s, enum tn_netem_dist *d)
{
	static const char *names[] = {"uniform", "normal", "pareto", "paretonormal"};
	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0) {
			*d = (enum tn_netem_dist)i;
			return 0;
		}
	return -1;
}

#define NEED(what)                                                                                   \
	do {                                                                                         \
		if (++i >= argc)                                                                     \
			return tn_qerr(err, "netem: %s needs a value", what);                        \
	} while (0)
#define BAD(what) return tn_qerr(err, "netem: bad %s \"%s\"", what, argv[i])

static int parse_loss(struct tn_netem_opt *o, int *ip, int argc, char **argv, struct tn_qerr *err)
{
	int i = *ip;
	NEED("loss");
	const char *m = argv[i];
	if (isdigit((unsigned char)m[0]) || strcmp(m, "random") == 0) {
		if (!isdigit((unsigned char)m[0]))
			NEED("loss random");
		if (get_prob(argv[i], &o->loss) < 0)
			BAD("loss percent");
		if (next_is_number(i, argc, argv)) {
			i++;
			if (get_prob(argv[i], &o->loss_corr) < 0)
				BAD("loss correlation");
		}
		o->loss_model = TN_NETEM_LOSS_RANDOM;
	} else if (strcmp(m, "state") == 0) {
		NEED("loss state");
		double p13;
		if (tn_tc_get_percent(argv[i], &p13) < 0)
			BAD("loss state p13");
		o->loss_model = TN_NETEM_LOSS_STATE;
		o->p13 = tn_netem_prob(p13);
		o->p31 = tn_netem_prob(1 - p13);
		o->p32 = 0;
		o->p23 = UINT32_MAX;
		o->p14 = 0;
		uint32_t *rest[] = {&o->p31, &o->p32, &o->p23, &o->p14};
		static const char *names[] = {"loss state p31", "loss state p32", "loss state p23",
					      "loss state p14"};
		for (int k = 0; k < 4 && next_is_number(i, argc, argv); k++) {
			i++;
			if (get_prob(argv[i], rest[k]) < 0)
				BAD(names[k]);
		}
	} else if (strcmp(m, "gemodel") == 0) {
		NEED("loss gemodel");
		if (get_prob(argv[i], &o->ge_p) < 0)
			BAD("loss gemodel p");
		o->loss_model = TN_NETEM_LOSS_GEMODEL;
		o->ge_r = UINT32_MAX;
		o->ge_1h = UINT32_MAX;
		o->ge_1k = 0;
		uint32_t *rest[] = {&o->ge_r, &o->ge_1h, &o->ge_1k};
		static const char *names[] = {"loss gemodel r", "loss gemodel 1-h", "loss gemodel 1-k"};
		for (int k = 0; k < 3 && next_is_number(i, argc, argv); k++) {
			i++;
			if (get_prob(argv[i], rest[k]) < 0)
				BAD(names[k]);
		}
	} else {
		return tn_qerr(err, "netem: unknown loss model \"%s\" (random, state, gemodel)", m);
	}
	*ip = i;
	return 0;
}

static int parse_slot(struct tn_netem_opt *o, int *ip, int argc, char **argv, struct tn_qerr *err)
{
	int i = *ip;
	NEED("slot");
	o->slot = true;
	if (strcmp(argv[i], "distribution") == 0) {
		NEED("slot distribution");
		if (get_dist(argv[i], &o->slot_dist) < 0)
			BAD("slot distribution");
		NEED("slot distribution delay");
		if (tn_tc_get_time(argv[i], &o->slot_delay_ns) < 0)
			BAD("slot delay");
		NEED("slot distribution jitter");
		if (tn_tc_get_time(argv[i], &o->slot_jitter_ns) < 0 || o->slot_jitter_ns == 0)
			BAD("slot jitter");
	} else {
		if (tn_tc_get_time(argv[i], &o->slot_min_ns) < 0)
			BAD("slot min_delay");
		o->slot_max_ns = o->slot_min_ns;
		if (next_is_number(i, argc, argv)) {
			i++;
			if (tn_tc_get_time(argv[i], &o->slot_max_ns) < 0)
				BAD("slot max_delay");
			if (o->slot_max_ns < o->slot_min_ns)
				return tn_qerr(err, "netem: slot max_delay \"%s\" is below min_delay", argv[i]);
		}
	}
	for (;;) {
		if (i + 1 < argc && strcmp(argv[i + 1], "packets") == 0) {
			i++;
			NEED("slot packets");
			if (tn_tc_get_u32(argv[i], &o->slot_packets) < 0 || o->slot_packets > INT32_MAX)
				BAD("slot packets");
		} else if (i + 1 < argc && strcmp(argv[i + 1], "bytes") == 0) {
			i++;
			NEED("slot bytes");
			if (tn_tc_get_size(argv[i], &o->slot_bytes) < 0 || o->slot_bytes > INT32_MAX)
				BAD("slot bytes");
		} else {
			break;
		}
	}
	*ip = i;
	return 0;
}

static int netem_parse(struct tn_netem_opt *o, int argc, char **argv, struct tn_qerr *err)
{
	tn_netem_opt_default(o);
	bool have_loss = false, have_dist = false;
	for (int i = 0; i < argc; i++) {
		const char *w = argv[i];
		if (strcmp(w, "limit") == 0) {
			NEED("limit");
			if (tn_tc_get_u32(argv[i], &o->limit) < 0)
				BAD("limit");
		} else if (strcmp(w, "delay") == 0 || strcmp(w, "latency") == 0) {
			NEED("delay");
			if (tn_tc_get_time(argv[i], &o->latency_ns) < 0 || o->latency_ns > INT64_MAX / 4)
				BAD("delay");
			if (next_is_number(i, argc, argv)) {
				i++;
				if (tn_tc_get_time(argv[i], &o->jitter_ns) < 0 || o->jitter_ns > INT64_MAX / 4)
					BAD("jitter");
				if (next_is_number(i, argc, argv)) {
					i++;
					if (get_prob(argv[i], &o->delay_corr) < 0)
						BAD("delay correlation");
				}
			}
		} else if (strcmp(w, "distribution") == 0) {
			NEED("distribution");
			if (get_dist(argv[i], &o->dist) < 0)
				return tn_qerr(err, "netem: unknown distribution \"%s\" (uniform, normal, pareto, "
						    "paretonormal)", argv[i]);
			have_dist = true;
		} else if (strcmp(w, "loss") == 0 || strcmp(w, "drop") == 0) {
			if (have_loss)
				return tn_qerr(err, "netem: duplicate loss argument \"%s\"", w);
			have_loss = true;
			if (parse_loss(o, &i, argc, argv, err) < 0)
				return -1;
		} else if (strcmp(w, "ecn") == 0) {
			o->ecn = true;
		} else if (strcmp(w, "duplicate") == 0 || strcmp(w, "corrupt") == 0 || strcmp(w, "reorder") == 0) {
			uint32_t *pr = w[0] == 'd' ? &o->duplicate : w[0] == 'c' ? &o->corrupt : &o->reorder;
			uint32_t *co = w[0] == 'd' ? &o->dup_corr : w[0] == 'c' ? &o->corrupt_corr : &o->reorder_corr;
			NEED(w);
			if (get_prob(argv[i], pr) < 0)
				BAD(w);
			if (next_is_number(i, argc, argv)) {
				i++;
				if (get_prob(argv[i], co) < 0)
					BAD("correlation");
			}
		} else if (strcmp(w, "gap") == 0) {
			NEED("gap");
			if (tn_tc_get_u32(argv[i], &o->gap) < 0)
				BAD("gap");
		} else if (strcmp(w, "rate") == 0) {
			NEED("rate");
			uint64_t bps;
			if (tn_tc_get_rate(argv[i], &bps) < 0)
				BAD("rate");
			o->rate_bits = bps * 8;
			if (next_is_signed(i, argc, argv)) {
				i++;
				if (get_s32(argv[i], &o->packet_overhead) < 0)
					BAD("rate packetoverhead");
				if (next_is_number(i, argc, argv)) {
					i++;
					if (tn_tc_get_u32(argv[i], &o->cell_size) < 0)
						BAD("rate cellsize");
					if (next_is_signed(i, argc, argv)) {
						i++;
						if (get_s32(argv[i], &o->cell_overhead) < 0)
							BAD("rate celloverhead");
					}
				}
			}
		} else if (strcmp(w, "slot") == 0) {
			if (parse_slot(o, &i, argc, argv, err) < 0)
				return -1;
		} else if (strcmp(w, "burstloss") == 0) {
			uint32_t at;
			NEED("burstloss");
			if (tn_tc_get_u32(argv[i], &at) < 0)
				BAD("burstloss start");
			o->burst_at = at;
			NEED("burstloss length");
			if (tn_tc_get_u32(argv[i], &o->burst_len) < 0)
				BAD("burstloss length");
		} else if (strcmp(w, "seed") == 0) {
			return tn_qerr(err, "netem: \"seed\" is not supported: randomness comes from the stack's "
					    "generator");
		} else {
			return tn_qerr(err, "netem: unknown option \"%s\"", w);
		}
	}
	/* tc's consistency checks */
	if (o->reorder) {
		if (o->latency_ns == 0)
			return tn_qerr(err, "netem: reordering not possible without specifying some delay");
		if (o->gap == 0)
			o->gap = 1;
	} else if (o->gap) {
		return tn_qerr(err, "netem: gap specified without reorder probability");
	}
	if (o->ecn && !have_loss)
		return tn_qerr(err, "netem: ecn requested without loss model");
	if (have_dist && (o->latency_ns == 0 || o->jitter_ns == 0))
		return tn_qerr(err, "netem: distribution specified but no latency and jitter values");
	return 0;
}

int tn_netem_configure(struct tn_qdisc *q, const struct tn_netem_opt *o, struct tn_qerr *err)
{
	struct netem *n = tn_qdisc_priv(q);
	if (o->limit == 0)
		return tn_qerr(err, "netem: limit must be at least 1");
	if (o->slot && !o->slot_jitter_ns && o->slot_max_ns < o->slot_min_ns)
		return tn_qerr(err, "netem: slot max_delay below min_delay");
	if ((int64_t)o->latency_ns < 0 || (int64_t)o->jitter_ns < 0)
		return tn_qerr(err, "netem: delay out of range");
	n->o = *o;
	if (n->o.reorder && n->o.gap == 0)
		n->o.gap = 1;
	n->counter = 0;
	init_crandom(q, &n->delay_cor, o->delay_corr);
	init_crandom(q, &n->loss_cor, o->loss_corr);
	init_crandom(q, &n->dup_cor, o->dup_corr);
	init_crandom(q, &n->corrupt_cor, o->corrupt_corr);
	init_crandom(q, &n->reorder_cor, o->reorder_corr);
	n->clg_state = 1;
	n->rate_rem = 0;
	if (o->slot) {
		n->slot_next = q->env->now;
		n->slot_packets_left = o->slot_packets ? o->slot_packets : INT32_MAX;
		n->slot_bytes_left = o->slot_bytes ? o->slot_bytes : INT32_MAX;
	}
	return 0;
}

static int netem_change(struct tn_qdisc *q, int argc, char **argv, struct tn_qerr *err)
{
	struct tn_netem_opt o;
	if (netem_parse(&o, argc, argv, err) < 0)
		return -1;
	return tn_netem_configure(q, &o, err);
}

static int netem_init(struct tn_qdisc *q, int argc, char **argv, struct tn_qerr *err)
{
	return netem_change(q, argc, argv, err);
}

const struct tn_netem_stats *tn_netem_stats(const struct tn_qdisc *q)
{
	return &((const struct netem *)tn_qdisc_cpriv(q))->st;
}

/* ---- dump, as iproute2's netem_print_opt ---- */

struct out {
	char *buf;
	size_t cap, n;
};

static void put(struct out *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(b->buf + (b->n < b->cap ? b->n : b->cap), b->n < b->cap ? b->cap - b->n : 0, fmt, ap);
	va_end(ap);
	if (k > 0)
		b->n += (size_t)k;
}

static const char *pct(char *s, size_t cap, uint32_t v)
{
	snprintf(s, cap, "%g%%", 100.0 * v / 4294967295.0);
	return s;
}

static const char *tm(char *s, size_t cap, uint64_t ns)
{
	tn_tc_print_time(s, cap, ns);
	return s;
}

static int netem_dump(const struct tn_qdisc *q, char *buf, size_t cap)
{
	const struct netem *n = tn_qdisc_cpriv(q);
	const struct tn_netem_opt *o = &n->o;
	struct out b = {buf, cap, 0};
	char s1[48], s2[48];
	if (cap)
		buf[0] = '\0';
	put(&b, "limit %u", o->limit);
	if (o->latency_ns) {
		put(&b, " delay %s", tm(s1, sizeof(s1), o->latency_ns));
		if (o->jitter_ns) {
			put(&b, "  %s", tm(s1, sizeof(s1), o->jitter_ns));
			if (o->delay_corr)
				put(&b, " %s", pct(s1, sizeof(s1), o->delay_corr));
		}
	}
	if (o->loss_model == TN_NETEM_LOSS_RANDOM && o->loss) {
		put(&b, " loss %s", pct(s1, sizeof(s1), o->loss));
		if (o->loss_corr)
			put(&b, " %s", pct(s1, sizeof(s1), o->loss_corr));
	}
	if (o->loss_model == TN_NETEM_LOSS_STATE) {
		put(&b, " loss state p13 %s", pct(s1, sizeof(s1), o->p13));
		put(&b, " p31 %s", pct(s1, sizeof(s1), o->p31));
		put(&b, " p32 %s", pct(s1, sizeof(s1), o->p32));
		put(&b, " p23 %s", pct(s1, sizeof(s1), o->p23));
		put(&b, " p14 %s", pct(s1, sizeof(s1), o->p14));
	}
	if (o->loss_model == TN_NETEM_LOSS_GEMODEL) {
		put(&b, " loss gemodel p %s", pct(s1, sizeof(s1), o->ge_p));
		put(&b, " r %s", pct(s1, sizeof(s1), o->ge_r));
		put(&b, " 1-h %s", pct(s1, sizeof(s1), o->ge_1h));
		put(&b, " 1-k %s", pct(s1, sizeof(s1), o->ge_1k));
	}
	if (o->duplicate) {
		put(&b, " duplicate %s", pct(s1, sizeof(s1), o->duplicate));
		if (o->dup_corr)
			put(&b, " %s", pct(s1, sizeof(s1), o->dup_corr));
	}
	if (o->reorder) {
		put(&b, " reorder %s", pct(s1, sizeof(s1), o->reorder));
		if (o->reorder_corr)
			put(&b, " %s", pct(s1, sizeof(s1), o->reorder_corr));
	}
	if (o->corrupt) {
		put(&b, " corrupt %s", pct(s1, sizeof(s1), o->corrupt));
		if (o->corrupt_corr)
			put(&b, " %s", pct(s1, sizeof(s1), o->corrupt_corr));
	}
	if (o->rate_bits) {
		tn_tc_print_rate(s1, sizeof(s1), o->rate_bits / 8);
		put(&b, " rate %s", s1);
		if (o->packet_overhead)
			put(&b, " packetoverhead %d", o->packet_overhead);
		if (o->cell_size)
			put(&b, " cellsize %u", o->cell_size);
		if (o->cell_overhead)
			put(&b, " celloverhead %d", o->cell_overhead);
	}
	if (o->slot) {
		if (o->slot_jitter_ns)
			put(&b, " slot distribution %s %s", tm(s1, sizeof(s1), o->slot_delay_ns),
			    tm(s2, sizeof(s2), o->slot_jitter_ns));
		else
			put(&b, " slot %s %s", tm(s1, sizeof(s1), o->slot_min_ns), tm(s2, sizeof(s2), o->slot_max_ns));
		if (o->slot_packets)
			put(&b, " packets %u", o->slot_packets);
		if (o->slot_bytes)
			put(&b, " bytes %u", o->slot_bytes);
	}
	if (o->ecn)
		put(&b, " ecn ");
	if (o->gap)
		put(&b, " gap %u", o->gap);
	if (o->burst_len)
		put(&b, " burstloss %llu %u", (unsigned long long)o->burst_at, o->burst_len);
	return (int)b.n;
}

const struct tn_qdisc_ops tn_qdisc_netem = {
	.kind = "netem", .priv_size = sizeof(struct netem), .init = netem_init, .change = netem_change,
	.enqueue = netem_enqueue, .dequeue = netem_dequeue, .reset = netem_reset, .destroy = netem_destroy,
	.dump = netem_dump,
};
