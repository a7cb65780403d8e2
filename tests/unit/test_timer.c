/* Timing wheel: exact expiry, ordering over days, the span limit, re-arming
 * and cancelling from callbacks, tn_wheel_next as a wake-up bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/rand.h"
#include "core/timer.h"

#define SEC 1000000000ull
#define DAY (86400ull * SEC)

struct tctx {
	struct tn_wheel *w;
	uint64_t prev_now; /* now of the previous tn_wheel_run */
	uint64_t now;      /* now of the running tn_wheel_run */
	uint64_t last_tick;
	uint64_t fired;
	uint64_t bad_order, early, late;
};

struct ttimer {
	struct tn_timer t;
	struct tctx *c;
	uint64_t when;     /* ns asked for */
	uint64_t fired;
	uint64_t fired_tick;
	struct ttimer *victim; /* cancelled by this one's callback */
	int rearms;        /* re-arms left */
	uint64_t rearm_delta;
};

/* Checks every firing against the run's clock: the tick being processed is
 * the timer's own, the run is the first whose clock reached it, and ticks
 * never go backwards. */
static void on_fire(void *ctx, struct tn_timer *t)
{
	struct tctx *c = ctx;
	struct ttimer *tt = container_of(t, struct ttimer, t);
	uint64_t tick = c->w->cur;
	tt->fired++;
	tt->fired_tick = tick;
	c->fired++;
	if (tick < c->last_tick)
		c->bad_order++;
	c->last_tick = tick;
	if (tick != t->expires || c->now < tt->when)
		c->early++;
	if (c->prev_now / TN_TICK_NS >= t->expires && c->prev_now != c->now)
		c->late++;
}

static void run(struct tn_wheel *w, struct tctx *c, uint64_t now)
{
	c->now = now;
	tn_wheel_run(w, now);
	c->prev_now = now;
}

static void setup(struct tn_wheel *w, struct tctx *c, uint64_t now)
{
	*c = (struct tctx){.w = w, .prev_now = now, .now = now};
	tn_wheel_init(w, now, c);
}

static void arm(struct tn_wheel *w, struct tctx *c, struct ttimer *t, uint64_t when, tn_timer_fn fn)
{
	t->c = c;
	t->when = when;
	tn_timer_init(&t->t, fn ? fn : on_fire);
	tn_timer_arm(w, &t->t, when);
}

static void test_arm_cancel_pending(void **state)
{
	(void)state;
	struct tn_wheel w;
	struct tctx c;
	setup(&w, &c, 0);
	struct ttimer t = {0};
	tn_timer_init(&t.t, on_fire);
	assert_false(tn_timer_pending(&t.t));
	tn_timer_cancel(&w, &t.t); /* not armed: no-op */
	assert_int_equal(w.count, 0);
	arm(&w, &c, &t, 5 * SEC, NULL);
	assert_true(tn_timer_pending(&t.t));
	assert_int_equal(w.count, 1);
	tn_timer_arm(&w, &t.t, 7 * SEC); /* re-arm moves it, does not add one */
	assert_int_equal(w.count, 1);
	run(&w, &c, 6 * SEC);
	assert_int_equal(t.fired, 0);
	tn_timer_cancel(&w, &t.t);
	assert_false(tn_timer_pending(&t.t));
	assert_int_equal(w.count, 0);
	tn_timer_cancel(&w, &t.t);
	assert_int_equal(w.count, 0);
	run(&w, &c, 60 * SEC);
	assert_int_equal(t.fired, 0);
	assert_int_equal(tn_wheel_next(&w), UINT64_MAX);
}

static void test_exact_tick(void **state)
{
	(void)state;
	/* Distances that land in each level of the wheel. */
	const uint64_t ticks[] = {0, 1, 255, 256, 257, 16383, 16384, 1u << 20, (1u << 20) + 7,
				  1u << 26, (1ull << 26) + 12345, (1ull << 32) - 1};
	for (size_t i = 0; i < sizeof(ticks) / sizeof(ticks[0]); i++) {
		for (uint64_t start = 0; start < 3; start++) {
			struct tn_wheel w;
			struct tctx c;
			uint64_t t0 = start * 77 * TN_TICK_NS;
			setup(&w, &c, t0);
			struct ttimer t = {0};
			uint64_t when = t0 + ticks[i] * TN_TICK_NS;
			arm(&w, &c, &t, when, NULL);
			if (when > 0) {
				run(&w, &c, when - 1);
				assert_int_equal(t.fired, 0);
				assert_true(tn_timer_pending(&t.t));
				uint64_t nx = tn_wheel_next(&w);
				assert_true(nx <= when);
				assert_true(nx > when - 1);
			}
			run(&w, &c, when);
			assert_int_equal(t.fired, 1);
			assert_int_equal(t.fired_tick, when / TN_TICK_NS);
			assert_false(tn_timer_pending(&t.t));
			assert_int_equal(c.early + c.late, 0);
			assert_int_equal(tn_wheel_next(&w), UINT64_MAX);
		}
	}
}

/* A deadline between ticks fires at the tick after it, never before. */
static void test_unaligned_deadline(void **state)
{
	(void)state;
	struct tn_wheel w;
	struct tctx c;
	setup(&w, &c, 0);
	struct ttimer t = {0};
	arm(&w, &c, &t, 10 * TN_TICK_NS + 1, NULL);
	run(&w, &c, 10 * TN_TICK_NS);
	assert_int_equal(t.fired, 0);
	run(&w, &c, 11 * TN_TICK_NS - 1);
	assert_int_equal(t.fired, 0);
	run(&w, &c, 11 * TN_TICK_NS);
	assert_int_equal(t.fired, 1);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Random step sizes from a microsecond to a few hours (up to a second
 * while `small`). */
static uint64_t random_step(struct tn_rand *r, int small)
{
	static const uint64_t scale[] = {1000, 100000, 10000000, SEC, 100 * SEC, 3 * 3600 * SEC};
	return 1 + tn_rand_u64(r) % scale[tn_rand_below(r, small ? 4 : 6)];
}

static void test_random_days(void **state)
{
	(void)state;
	enum { N = 20000 };
	struct tn_rand r;
	tn_rand_seed(&r, 20240601);
	struct tn_wheel w;
	struct tctx c;
	setup(&w, &c, 0);
	struct ttimer *t = calloc(N, sizeof(*t));
	uint64_t *ticks = calloc(N, sizeof(*ticks));
	assert_non_null(t);
	assert_non_null(ticks);
	for (int i = 0; i < N; i++) {
		/* dense groups near the start, the rest over ten days */
		uint64_t span = i % 4 == 0 ? 2 * SEC : i % 4 == 1 ? 600 * SEC : 10 * DAY;
		arm(&w, &c, &t[i], tn_rand_u64(&r) % (span + 1), NULL);
		ticks[i] = t[i].t.expires;
	}
	qsort(ticks, N, sizeof(*ticks), cmp_u64);
	uint64_t now = 0;
	while (now <= 10 * DAY + TN_TICK_NS) {
		now += random_step(&r, now < 700 * SEC);
		if (tn_rand_below(&r, 4) == 0) /* stop just before a cascade boundary */
			now = ((now / TN_TICK_NS | 255) + 1) * TN_TICK_NS - 1;
		run(&w, &c, now);
		/* exactly the timers whose tick has come have fired */
		uint64_t due = 0;
		while (due < N && ticks[due] <= now / TN_TICK_NS)
			due++;
		assert_int_equal(c.fired, due);
		uint64_t nx = tn_wheel_next(&w);
		if (due == N) {
			assert_int_equal(nx, UINT64_MAX);
		} else {
			assert_true(nx > now);
			assert_true(nx <= ticks[due] * TN_TICK_NS);
		}
	}
	assert_int_equal(c.bad_order, 0);
	assert_int_equal(c.early, 0);
	assert_int_equal(c.late, 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(t[i].fired, 1);
	assert_int_equal(w.count, 0);
	free(t);
	free(ticks);
}

/* A loop that sleeps until tn_wheel_next wakes few times per timer: the
 * bound is early only at cascade points, not every tick. */
static void test_next_drives_loop(void **state)
{
	(void)state;
	enum { N = 200 };
	struct tn_rand r;
	tn_rand_seed(&r, 7);
	struct tn_wheel w;
	struct tctx c;
	setup(&w, &c, 123456789);
	struct ttimer t[N];
	memset(t, 0, sizeof(t));
	for (int i = 0; i < N; i++)
		arm(&w, &c, &t[i], 123456789 + tn_rand_u64(&r) % (7 * DAY), NULL);
	uint64_t wakeups = 0;
	for (uint64_t nx; (nx = tn_wheel_next(&w)) != UINT64_MAX; wakeups++) {
		assert_true(nx > c.now);
		run(&w, &c, nx);
	}
	assert_int_equal(c.fired, N);
	assert_int_equal(c.early + c.late + c.bad_order, 0);
	/* one per timer plus at most one per level per timer for cascades and
	 * the span parking */
	assert_true(wakeups <= (uint64_t)N * (TN_WHEEL_LEVELS + 2));
}

static void test_beyond_span(void **state)
{
	(void)state;
	/* 6 days = 5.2e9 ticks: more than the wheel's 2^32-tick span */
	uint64_t when = 6 * DAY + 3 * TN_TICK_NS;
	assert_true(when / TN_TICK_NS > (1ull << 32));
	for (int stepped = 0; stepped < 2; stepped++) {
		struct tn_wheel w;
		struct tctx c;
		setup(&w, &c, 0);
		struct ttimer t = {0}, u = {0};
		arm(&w, &c, &t, when, NULL);
		arm(&w, &c, &u, 9 * DAY + 1, NULL);
		if (stepped) {
			for (uint64_t now = 3600 * SEC; now < when; now += 3600 * SEC) {
				run(&w, &c, now);
				uint64_t nx = tn_wheel_next(&w);
				assert_true(nx > now && nx <= when);
			}
		}
		run(&w, &c, when - 1);
		assert_int_equal(t.fired, 0);
		run(&w, &c, when);
		assert_int_equal(t.fired, 1);
		assert_int_equal(t.fired_tick, when / TN_TICK_NS);
		assert_int_equal(u.fired, 0);
		assert_true(tn_wheel_next(&w) <= u.t.expires * TN_TICK_NS);
		run(&w, &c, 9 * DAY);
		assert_int_equal(u.fired, 0);
		run(&w, &c, 9 * DAY + TN_TICK_NS);
		assert_int_equal(u.fired, 1);
		assert_int_equal(c.early + c.late + c.bad_order, 0);
	}
}

static void test_big_jump(void **state)
{
	(void)state;
	enum { N = 1000 };
	struct tn_rand r;
	tn_rand_seed(&r, 99);
	struct tn_wheel w;
	struct tctx c;
	setup(&w, &c, 5 * SEC);
	struct ttimer t[N], later = {0};
	memset(t, 0, sizeof(t));
	for (int i = 0; i < N; i++)
		arm(&w, &c, &t[i], 5 * SEC + tn_rand_u64(&r) % (3600 * SEC), NULL);
	arm(&w, &c, &later, 5 * SEC + 3600 * SEC + TN_TICK_NS, NULL);
	run(&w, &c, 5 * SEC + 3600 * SEC);
	for (int i = 0; i < N; i++)
		assert_int_equal(t[i].fired, 1);
	assert_int_equal(later.fired, 0);
	assert_int_equal(c.bad_order + c.early, 0);
	run(&w, &c, 5 * SEC + 3600 * SEC + TN_TICK_NS);
	assert_int_equal(later.fired, 1);
}

/* Arming a timer in the past fires it on the next run, not never. */
static void test_arm_in_past(void **state)
{
	(void)state;
	struct tn_wheel w;
	struct tctx c;
	setup(&w, &c, 0);
	run(&w, &c, 50 * SEC);
	struct ttimer t = {0};
	tn_timer_init(&t.t, on_fire);
	t.c = &c;
	tn_timer_arm(&w, &t.t, 10 * SEC);
	uint64_t nx = tn_wheel_next(&w);
	assert_true(nx > 50 * SEC && nx <= 50 * SEC + TN_TICK_NS);
	run(&w, &c, 50 * SEC + TN_TICK_NS);
	assert_int_equal(t.fired, 1);
}

/* An absurd deadline (UINT64_MAX as "never") must not wrap to "now". */
static void test_arm_far_future(void **state)
{
	(void)state;
	struct tn_wheel w;
	struct tctx c;
	setup(&w, &c, 0);
	struct ttimer t = {0};
	arm(&w, &c, &t, UINT64_MAX, NULL);
	run(&w, &c, DAY);
	assert_int_equal(t.fired, 0);
	assert_true(tn_timer_pending(&t.t));
	assert_true(tn_wheel_next(&w) > DAY);
	tn_timer_cancel(&w, &t.t);
}

static void rearm_cb(void *ctx, struct tn_timer *t)
{
	struct tctx *c = ctx;
	struct ttimer *tt = container_of(t, struct ttimer, t);
	tt->fired++;
	tt->fired_tick = c->w->cur;
	if (tt->rearms-- > 0)
		tn_timer_arm(c->w, t, c->w->cur * TN_TICK_NS + tt->rearm_delta);
}

static void test_rearm_now_in_callback(void **state)
{
	(void)state;
	struct tn_wheel w;
	struct tctx c;
	setup(&w, &c, 0);
	struct ttimer t = {.rearms = 1000000};
	arm(&w, &c, &t, 10 * TN_TICK_NS, rearm_cb);
	/* re-armed to the tick being run: waits for the next tick, no loop */
	run(&w, &c, 10 * TN_TICK_NS);
	assert_int_equal(t.fired, 1);
	assert_true(tn_timer_pending(&t.t));
	run(&w, &c, 11 * TN_TICK_NS);
	assert_int_equal(t.fired, 2);
	assert_int_equal(t.fired_tick, 11);
	run(&w, &c, 15 * TN_TICK_NS);
	assert_int_equal(t.fired, 6);
	tn_timer_cancel(&w, &t.t);
	run(&w, &c, 100 * TN_TICK_NS);
	assert_int_equal(t.fired, 6);
}

static void test_rearm_later_in_callback(void **state)
{
	(void)state;
	struct tn_wheel w;
	struct tctx c;
	setup(&w, &c, 0);
	struct ttimer t = {.rearms = 3, .rearm_delta = 5 * 1000000ull};
	arm(&w, &c, &t, 1000000ull, rearm_cb);
	/* one run over the whole period fires at 1, 6, 11 and 16 ms */
	run(&w, &c, SEC);
	assert_int_equal(t.fired, 4);
	assert_int_equal(t.fired_tick, 16000000ull / TN_TICK_NS);
	assert_false(tn_timer_pending(&t.t));
	assert_int_equal(w.count, 0);
}

static void cancel_cb(void *ctx, struct tn_timer *t)
{
	struct tctx *c = ctx;
	struct ttimer *tt = container_of(t, struct ttimer, t);
	tt->fired++;
	if (tt->victim)
		tn_timer_cancel(c->w, &tt->victim->t);
}

static void test_cancel_in_callback(void **state)
{
	(void)state;
	struct tn_wheel w;
	struct tctx c;
	setup(&w, &c, 0);
	struct ttimer a = {0}, b = {0}, d = {0}, e = {0};
	/* a and b share a tick and cancel each other: exactly one fires */
	a.victim = &b;
	b.victim = &a;
	arm(&w, &c, &a, 300 * TN_TICK_NS, cancel_cb);
	arm(&w, &c, &b, 300 * TN_TICK_NS, cancel_cb);
	/* d, due a tick later, cancels e which sits in a higher level */
	d.victim = &e;
	arm(&w, &c, &d, 301 * TN_TICK_NS, cancel_cb);
	arm(&w, &c, &e, 100000 * TN_TICK_NS, cancel_cb);
	run(&w, &c, 400 * TN_TICK_NS);
	assert_int_equal(a.fired + b.fired, 1);
	assert_int_equal(d.fired, 1);
	assert_false(tn_timer_pending(&e.t));
	assert_int_equal(w.count, 0);
	assert_int_equal(tn_wheel_next(&w), UINT64_MAX);
	run(&w, &c, 200000 * TN_TICK_NS);
	assert_int_equal(e.fired, 0);
	assert_int_equal(a.fired + b.fired, 1);
}

/* tn_wheel_next right at a cascade boundary that has not been processed
 * yet (the run stopped just before it). */
static void test_next_at_boundary(void **state)
{
	(void)state;
	const unsigned shifts[] = {8, 14, 20, 26};
	for (int i = 0; i < 4; i++) {
		struct tn_wheel w;
		struct tctx c;
		setup(&w, &c, 0);
		struct ttimer t = {0};
		uint64_t b = 1ull << shifts[i]; /* first boundary of this level */
		uint64_t when = (2 * b + b / 3) * TN_TICK_NS;
		arm(&w, &c, &t, when, NULL);
		run(&w, &c, (2 * b - 1) * TN_TICK_NS);
		assert_int_equal(t.fired, 0);
		uint64_t nx = tn_wheel_next(&w);
		assert_true(nx > (2 * b - 1) * TN_TICK_NS);
		assert_true(nx <= when);
		while (!t.fired) {
			nx = tn_wheel_next(&w);
			assert_true(nx <= when);
			run(&w, &c, nx);
		}
		assert_int_equal(t.fired_tick, when / TN_TICK_NS);
	}
}

static void count_cb(void *ctx, struct tn_timer *t)
{
	struct tctx *c = ctx;
	c->fired++;
	if (t->expires > c->w->cur)
		c->early++;
}

static void test_million_timers(void **state)
{
	(void)state;
	enum { N = 1000000 };
	struct tn_rand r;
	tn_rand_seed(&r, 1);
	struct tn_wheel w;
	struct tctx c;
	setup(&w, &c, 0);
	struct tn_timer *t = malloc(sizeof(*t) * N);
	assert_non_null(t);
	uint64_t due = 0;
	for (int i = 0; i < N; i++) {
		uint64_t when = tn_rand_u64(&r) % (600 * SEC);
		tn_timer_init(&t[i], count_cb);
		tn_timer_arm(&w, &t[i], when);
		due += t[i].expires <= SEC / TN_TICK_NS;
	}
	assert_int_equal(w.count, N);
	run(&w, &c, SEC);
	assert_int_equal(c.fired, due);
	assert_int_equal(c.early, 0);
	assert_int_equal(w.count, N - due);
	for (int i = 0; i < N; i++)
		tn_timer_cancel(&w, &t[i]);
	assert_int_equal(w.count, 0);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arm_cancel_pending),
		cmocka_unit_test(test_exact_tick),
		cmocka_unit_test(test_unaligned_deadline),
		cmocka_unit_test(test_random_days),
		cmocka_unit_test(test_next_drives_loop),
		cmocka_unit_test(test_beyond_span),
		cmocka_unit_test(test_big_jump),
		cmocka_unit_test(test_arm_in_past),
		cmocka_unit_test(test_arm_far_future),
		cmocka_unit_test(test_rearm_now_in_callback),
		cmocka_unit_test(test_rearm_later_in_callback),
		cmocka_unit_test(test_cancel_in_callback),
		cmocka_unit_test(test_next_at_boundary),
		cmocka_unit_test(test_million_timers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
