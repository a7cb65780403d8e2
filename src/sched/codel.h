/* CoDel, the Controlled Delay AQM (RFC 8289), as Linux's codel_impl.h
 * runs it: reusable by any qdisc that keeps FIFOs of packets stamped with
 * their enqueue time (p->tstamp).
 *
 * A queue's sojourn time (now - enqueue time of the packet at its head) is
 * watched at dequeue.  When it stays at or above `target` for a whole
 * `interval` (and more than one MTU is queued), CoDel enters the dropping
 * state: it drops (or ECN-marks) one packet, then the next at
 * interval/sqrt(count) later, count growing by one per drop, until the
 * sojourn time falls below target.  Re-entering soon after leaving resumes
 * near the old drop rate (count - lastcount).  1/sqrt(count) is kept in
 * fixed point and refined by one Newton step per change of count, as
 * Linux does, instead of computing a square root.
 *
 * Times are nanoseconds of the qdisc environment's clock (q->env->now). */
#ifndef TN_CODEL_H
#define TN_CODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/pkt.h"
#include "sched/qdisc.h"
#include "wire/csum.h"

#define TN_CODEL_DISABLED UINT64_MAX /* ce_threshold: off */

struct tn_codel_params {
	uint64_t target;       /* ns: acceptable standing queue delay */
	uint64_t interval;     /* ns: > 0, about a worst-case RTT */
	uint64_t ce_threshold; /* ns: mark CE above this sojourn; TN_CODEL_DISABLED */
	uint32_t mtu;          /* never drop with no more than this backlog */
	bool ecn;              /* mark ECT packets instead of dropping them */
};

/* Per-queue state (fq_codel: per flow). */
struct tn_codel_vars {
	uint32_t count;        /* drops (marks) since entering dropping state */
	uint32_t lastcount;    /* count when we last entered it */
	bool dropping;
	uint32_t rec_inv_sqrt; /* 1/sqrt(count) in Q0.32 (0xffffffff ~ 1.0) */
	uint64_t first_above_time; /* when the sojourn time will have been above target an interval; 0: not above */
	uint64_t drop_next;    /* when to drop next in dropping state */
	uint64_t ldelay;       /* sojourn time of the last dequeued packet */
};

struct tn_codel_stats {
	uint32_t maxpacket;    /* largest packet seen (wire bytes) */
	uint32_t drop_count;   /* dropped by CoDel */
	uint64_t drop_len;
	uint32_t ecn_mark;     /* marked CE instead of dropped */
	uint32_t ce_mark;      /* marked CE above ce_threshold */
};

static inline void tn_codel_vars_init(struct tn_codel_vars *v)
{
	*v = (struct tn_codel_vars){.rec_inv_sqrt = UINT32_MAX};
}

/* a is after b, on a clock that could in principle wrap. */
static inline bool tn_codel_after(uint64_t a, uint64_t b) { return (int64_t)(a - b) > 0; }
static inline bool tn_codel_after_eq(uint64_t a, uint64_t b) { return (int64_t)(a - b) >= 0; }

static inline uint32_t tn_codel_isqrt(uint64_t x)
{
	uint64_t r = 0, bit = 1ull << 62;
	while (bit > x)
		bit >>= 2;
	while (bit) {
		if (x >= r + bit) {
			x -= r + bit;
			r = (r >> 1) + bit;
		} else {
			r >>= 1;
		}
		bit >>= 2;
	}
	return (uint32_t)r;
}

/* One Newton iteration of y = 1/sqrt(count): y' = y * (3 - count * y^2) / 2.
 * When count jumped so far that the step would overshoot (count * y^2 >= 3,
 * where Linux's arithmetic wraps), start again from 1/isqrt(count). */
static inline void tn_codel_newton_step(struct tn_codel_vars *v)
{
	uint64_t y = v->rec_inv_sqrt;
	uint64_t y2 = (y * y) >> 32;
	if (v->count && y2 && (uint64_t)v->count >= (3ull << 32) / y2) {
		uint32_t s = tn_codel_isqrt(v->count);
		y = s ? UINT32_MAX / s : UINT32_MAX;
		y2 = (y * y) >> 32;
	}
	uint64_t val = ((3ull << 32) - (uint64_t)v->count * y2) >> 2; /* Q32, /4 to stay in 64 bits */
	val = (val * y) >> 31;
	v->rec_inv_sqrt = val > UINT32_MAX ? UINT32_MAX : (uint32_t)val;
}

/* t + interval / sqrt(count) */
static inline uint64_t tn_codel_control_law(uint64_t t, uint64_t interval, uint32_t rec_inv_sqrt)
{
	uint64_t hi = interval >> 32, lo = interval & 0xffffffffu;
	return t + hi * rec_inv_sqrt + ((lo * rec_inv_sqrt) >> 32);
}

/* Mark an IPv4 packet Congestion Experienced if it is ECN-capable (ECT(0)
 * or ECT(1)), updating the header checksum incrementally (RFC 1624).  True
 * if the packet now carries CE (it may have already); false for Not-ECT,
 * non-IPv4, or a header shared with another owner. */
static inline bool tn_codel_set_ce(struct tn_pkt *p)
{
	uint8_t *ip = p->buf + p->l3_off;
	if (!p->l3_off || ip < p->data || ip + 20 > p->data + p->len || (ip[0] >> 4) != 4)
		return false;
	uint8_t ecn = ip[1] & 3;
	if (ecn == 3)
		return true;
	if (ecn == 0 || p->refcnt != 1)
		return false;
	uint16_t old = (uint16_t)(ip[0] << 8 | ip[1]);
	uint16_t check = (uint16_t)(ip[10] << 8 | ip[11]);
	ip[1] |= 3;
	check = tn_csum_update16(check, old, (uint16_t)(ip[0] << 8 | ip[1]));
	ip[10] = (uint8_t)(check >> 8);
	ip[11] = (uint8_t)check;
	return true;
}

/* Is the packet just taken from the head (NULL: the queue was empty) one
 * CoDel may drop?  backlog is what remains queued after taking it. */
static inline bool tn_codel_should_drop(const struct tn_pkt *p, struct tn_codel_vars *v,
					const struct tn_codel_params *cp, struct tn_codel_stats *st,
					uint32_t backlog, uint64_t now)
{
	if (!p) {
		v->first_above_time = 0;
		return false;
	}
	v->ldelay = now > p->tstamp ? now - p->tstamp : 0;
	uint32_t len = tn_qdisc_pkt_len(p);
	if (len > st->maxpacket)
		st->maxpacket = len;
	if (v->ldelay < cp->target || backlog <= cp->mtu) {
		/* went below target: stay below for at least an interval */
		v->first_above_time = 0;
		return false;
	}
	if (v->first_above_time == 0) {
		/* just went above: drop only if it stays there an interval */
		v->first_above_time = now + cp->interval;
		return false;
	}
	return tn_codel_after(now, v->first_above_time);
}

/* How CoDel takes a packet from the head of its queue (updating every
 * count the owner keeps) and drops one (counted). */
typedef struct tn_pkt *(*tn_codel_dequeue_fn)(void *ctx);
typedef void (*tn_codel_drop_fn)(void *ctx, struct tn_pkt *p);

/* The packet to send from this queue now, after any drops or marks CoDel
 * decides; NULL if it is (or became) empty.  *backlog is the owner's byte
 * backlog, read after each dequeue_fn. */
static inline struct tn_pkt *tn_codel_dequeue(void *ctx, const uint32_t *backlog,
					      const struct tn_codel_params *cp, struct tn_codel_vars *v,
					      struct tn_codel_stats *st, uint64_t now,
					      tn_codel_dequeue_fn dequeue_fn, tn_codel_drop_fn drop_fn)
{
	struct tn_pkt *p = dequeue_fn(ctx);
	if (!p) {
		v->dropping = false;
		return NULL;
	}
	bool drop = tn_codel_should_drop(p, v, cp, st, *backlog, now);
	if (v->dropping) {
		if (!drop) {
			v->dropping = false; /* sojourn time below target: leave */
		} else {
			/* Drop (or mark) at every drop_next that has passed; each
			 * drop brings the next one closer (interval/sqrt(count)). */
			while (v->dropping && tn_codel_after_eq(now, v->drop_next)) {
				v->count++;
				tn_codel_newton_step(v);
				if (cp->ecn && tn_codel_set_ce(p)) {
					st->ecn_mark++;
					v->drop_next = tn_codel_control_law(v->drop_next, cp->interval, v->rec_inv_sqrt);
					goto end;
				}
				st->drop_len += tn_qdisc_pkt_len(p);
				st->drop_count++;
				drop_fn(ctx, p);
				p = dequeue_fn(ctx);
				if (!tn_codel_should_drop(p, v, cp, st, *backlog, now))
					v->dropping = false; /* leave dropping state */
				else
					v->drop_next = tn_codel_control_law(v->drop_next, cp->interval, v->rec_inv_sqrt);
			}
		}
	} else if (drop) {
		if (cp->ecn && tn_codel_set_ce(p)) {
			st->ecn_mark++;
		} else {
			st->drop_len += tn_qdisc_pkt_len(p);
			st->drop_count++;
			drop_fn(ctx, p);
			p = dequeue_fn(ctx);
			(void)tn_codel_should_drop(p, v, cp, st, *backlog, now);
		}
		v->dropping = true;
		/* Back into dropping state soon after leaving it: start near
		 * the drop rate that was needed last time. */
		uint32_t delta = v->count - v->lastcount;
		if (delta > 1 && (int64_t)(now - v->drop_next) < (int64_t)(16 * cp->interval)) {
			v->count = delta;
			tn_codel_newton_step(v);
		} else {
			v->count = 1;
			v->rec_inv_sqrt = UINT32_MAX;
		}
		v->lastcount = v->count;
		v->drop_next = tn_codel_control_law(now, cp->interval, v->rec_inv_sqrt);
	}
end:
	if (p && cp->ce_threshold != TN_CODEL_DISABLED && v->ldelay > cp->ce_threshold && tn_codel_set_ce(p))
		st->ce_mark++;
	return p;
}

#endif
