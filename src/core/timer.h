/* Hashed hierarchical timing wheel (Varghese & Lauck, scheme 7; the layout
 * of Linux's classic timer wheel).  Add and cancel are O(1); expiry cascades
 * a higher level into lower ones once per revolution of the level below, so
 * an idle timer costs nothing until it is due.
 *
 * Timers are intrusive: embed a struct tn_timer in the owning object and
 * recover the owner with container_of in the callback.
 */
#ifndef TN_TIMER_H
#define TN_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TN_TICK_NS 100000ull /* 100 us */
#define TN_WHEEL_L0_BITS 8
#define TN_WHEEL_LN_BITS 6
#define TN_WHEEL_LEVELS 5

#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#endif

struct tn_timer;
typedef void (*tn_timer_fn)(void *ctx, struct tn_timer *t);

struct tn_timer {
	struct tn_timer *next, **pprev; /* pprev == NULL: not armed */
	uint64_t expires;               /* tick at which it fires */
	tn_timer_fn fn;
	uint8_t level;                  /* wheel level it sits in */
};

struct tn_wheel {
	uint64_t cur;           /* next tick to process */
	uint64_t count;         /* armed timers */
	uint64_t level_count[TN_WHEEL_LEVELS];
	int running;            /* inside tn_wheel_run: new timers go after cur */
	struct tn_timer *l0[1u << TN_WHEEL_L0_BITS];
	struct tn_timer *ln[TN_WHEEL_LEVELS - 1][1u << TN_WHEEL_LN_BITS];
	void *ctx;              /* passed to every callback */
};

void tn_wheel_init(struct tn_wheel *w, uint64_t now_ns, void *ctx);
static inline void tn_timer_init(struct tn_timer *t, tn_timer_fn fn)
{
	t->next = NULL;
	t->pprev = NULL;
	t->expires = 0;
	t->fn = fn;
}
static inline bool tn_timer_pending(const struct tn_timer *t) { return t->pprev != NULL; }
/* Arm (or re-arm) t to fire at the first tick at or after `when_ns`. */
void tn_timer_arm(struct tn_wheel *w, struct tn_timer *t, uint64_t when_ns);
void tn_timer_cancel(struct tn_wheel *w, struct tn_timer *t);
/* Fire every timer due at or before now_ns. */
void tn_wheel_run(struct tn_wheel *w, uint64_t now_ns);
/* A time (ns) at or before the next expiry; UINT64_MAX when none is armed.
 * It may be early (a cascade point): callers just run the wheel again. */
uint64_t tn_wheel_next(const struct tn_wheel *w);
static inline uint64_t tn_timer_expiry_ns(const struct tn_timer *t) { return t->expires * TN_TICK_NS; }

#endif
