#include "core/timer.h"

#include <string.h>

#define L0_SIZE (1u << TN_WHEEL_L0_BITS)
#define LN_SIZE (1u << TN_WHEEL_LN_BITS)
#define L0_MASK (L0_SIZE - 1)
#define LN_MASK (LN_SIZE - 1)
#define MAX_SPAN ((1ull << (TN_WHEEL_L0_BITS + (TN_WHEEL_LEVELS - 1) * TN_WHEEL_LN_BITS)) - 1)

static unsigned level_shift(unsigned level)
{
	return level == 0 ? 0 : TN_WHEEL_L0_BITS + (level - 1) * TN_WHEEL_LN_BITS;
}

void tn_wheel_init(struct tn_wheel *w, uint64_t now_ns, void *ctx)
{
	memset(w, 0, sizeof(*w));
	w->cur = now_ns / TN_TICK_NS;
	w->ctx = ctx;
}

static void slot_insert(struct tn_timer **slot, struct tn_timer *t)
{
	t->next = *slot;
	if (t->next)
		t->next->pprev = &t->next;
	t->pprev = slot;
	*slot = t;
}

static void slot_remove(struct tn_timer *t)
{
	*t->pprev = t->next;
	if (t->next)
		t->next->pprev = t->pprev;
	t->next = NULL;
	t->pprev = NULL;
}

/* Place t by its distance from the wheel's current tick.  Timers beyond the
 * wheel's span park at the far end of the top level; when they come back
 * round they are placed again, so any expiry works. */
static void wheel_place(struct tn_wheel *w, struct tn_timer *t, uint64_t first)
{
	uint64_t exp = t->expires < first ? first : t->expires;
	uint64_t delta = exp - w->cur;
	if (delta < L0_SIZE) {
		t->level = 0;
		slot_insert(&w->l0[exp & L0_MASK], t);
		w->level_count[0]++;
		return;
	}
	if (delta > MAX_SPAN)
		exp = w->cur + MAX_SPAN;
	unsigned lvl = 1;
	while (lvl < TN_WHEEL_LEVELS - 1 && (exp - w->cur) >= (1ull << level_shift(lvl + 1)))
		lvl++;
	t->level = (uint8_t)lvl;
	slot_insert(&w->ln[lvl - 1][(exp >> level_shift(lvl)) & LN_MASK], t);
	w->level_count[lvl]++;
}

void tn_timer_arm(struct tn_wheel *w, struct tn_timer *t, uint64_t when_ns)
{
	tn_timer_cancel(w, t);
	/* Round up without overflow: UINT64_MAX is a valid "never". */
	t->expires = when_ns / TN_TICK_NS + (when_ns % TN_TICK_NS != 0);
	w->count++;
	/* Armed from a callback: the current tick's slot is being emptied,
	 * so the earliest it can fire is the next tick. */
	wheel_place(w, t, w->running ? w->cur + 1 : w->cur);
}

void tn_timer_cancel(struct tn_wheel *w, struct tn_timer *t)
{
	if (!tn_timer_pending(t))
		return;
	slot_remove(t);
	w->level_count[t->level]--;
	w->count--;
}

/* Move every timer of one higher-level slot down to where it now belongs. */
static void cascade(struct tn_wheel *w, unsigned lvl)
{
	unsigned idx = (unsigned)(w->cur >> level_shift(lvl)) & LN_MASK;
	struct tn_timer *t = w->ln[lvl - 1][idx];
	w->ln[lvl - 1][idx] = NULL;
	while (t) {
		struct tn_timer *next = t->next;
		t->next = NULL;
		t->pprev = NULL;
		w->level_count[lvl]--;
		wheel_place(w, t, w->cur); /* due now: run_tick empties this slot next */
		t = next;
	}
}

static void run_tick(struct tn_wheel *w)
{
	unsigned idx = (unsigned)(w->cur & L0_MASK);
	if (idx == 0) {
		for (unsigned lvl = 1; lvl < TN_WHEEL_LEVELS; lvl++) {
			cascade(w, lvl);
			if (((w->cur >> level_shift(lvl)) & LN_MASK) != 0)
				break;
		}
	}
	struct tn_timer **slot = &w->l0[idx];
	while (*slot) {
		struct tn_timer *t = *slot;
		slot_remove(t);
		w->level_count[0]--;
		if (t->expires > w->cur) { /* parked beyond the span: place again */
			wheel_place(w, t, w->cur + 1);
			continue;
		}
		w->count--;
		t->fn(w->ctx, t);
	}
}

void tn_wheel_run(struct tn_wheel *w, uint64_t now_ns)
{
	uint64_t now = now_ns / TN_TICK_NS;
	w->running = 1;
	while (w->cur <= now) {
		if (w->count == 0) {
			w->cur = now + 1;
			break;
		}
		run_tick(w);
		w->cur++;
		/* Nothing in level 0: jump straight to the next cascade point. */
		if (w->level_count[0] == 0 && (w->cur & L0_MASK) != 0) {
			uint64_t boundary = (w->cur | L0_MASK) + 1;
			w->cur = boundary <= now ? boundary : now + 1;
		}
	}
	w->running = 0;
}

uint64_t tn_wheel_next(const struct tn_wheel *w)
{
	if (w->count == 0)
		return UINT64_MAX;
	uint64_t best = UINT64_MAX;
	if (w->level_count[0]) {
		for (uint64_t i = 0; i < L0_SIZE; i++) {
			if (w->l0[(w->cur + i) & L0_MASK]) {
				best = w->cur + i;
				break;
			}
		}
	}
	/* Higher levels: the earliest non-empty slot's cascade tick bounds the
	 * expiry of everything in it. */
	for (unsigned lvl = 1; lvl < TN_WHEEL_LEVELS; lvl++) {
		if (!w->level_count[lvl])
			continue;
		unsigned sh = level_shift(lvl);
		uint64_t base = w->cur >> sh;
		/* On a boundary not yet run, the current slot is still to be
		 * cascaded and holds timers due from this very tick. */
		if ((w->cur & ((1ull << sh) - 1)) == 0 && w->ln[lvl - 1][base & LN_MASK]) {
			best = w->cur;
			break;
		}
		for (uint64_t k = 1; k <= LN_SIZE; k++) {
			if (w->ln[lvl - 1][(base + k) & LN_MASK]) {
				uint64_t tick = (base + k) << sh;
				if (tick < best)
					best = tick;
				break;
			}
		}
	}
	if (best == UINT64_MAX)
		best = w->cur;
	return best * TN_TICK_NS;
}
