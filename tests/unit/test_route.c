/* Routing table: longest-prefix match against a brute-force matcher, metrics,
 * deletes, per-device flush, iteration order, and the path-MTU cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>

#include "core/rand.h"
#include "net/route.h"

static struct tn_route R(uint32_t dst, uint8_t plen, uint32_t metric, int ifindex)
{
	return (struct tn_route){.dst = dst, .plen = plen, .metric = metric, .ifindex = ifindex};
}

static void test_lpm_basic(void **state)
{
	(void)state;
	struct tn_route_table rt;
	tn_route_init(&rt, 1);
	assert_null(tn_route_lookup(&rt, 0xc6120101));
	struct tn_route r = R(0, 0, 0, 1);
	assert_int_equal(tn_route_add(&rt, &r), 0);
	r = R(0xc6120000, 16, 0, 2);
	assert_int_equal(tn_route_add(&rt, &r), 0);
	r = R(0xc6120100, 24, 0, 3);
	assert_int_equal(tn_route_add(&rt, &r), 0);
	r = R(0xc6120105, 32, 0, 4);
	assert_int_equal(tn_route_add(&rt, &r), 0);
	assert_int_equal(tn_route_add(&rt, &r), -EEXIST);
	r.plen = 33;
	assert_int_equal(tn_route_add(&rt, &r), -EINVAL);
	assert_int_equal(tn_route_lookup(&rt, 0xc6120105)->ifindex, 4);
	assert_int_equal(tn_route_lookup(&rt, 0xc6120106)->ifindex, 3);
	assert_int_equal(tn_route_lookup(&rt, 0xc6120206)->ifindex, 2);
	assert_int_equal(tn_route_lookup(&rt, 0x08080808)->ifindex, 1);
	/* dst is stored masked */
	r = R(0xc6130177, 24, 0, 5);
	assert_int_equal(tn_route_add(&rt, &r), 0);
	assert_int_equal(tn_route_lookup(&rt, 0xc6130101)->dst, 0xc6130100);
	assert_int_equal(tn_route_del(&rt, 0xc6120100, 24, -1, -1), 0);
	assert_int_equal(tn_route_lookup(&rt, 0xc6120106)->ifindex, 2);
	assert_int_equal(tn_route_del(&rt, 0xc6120100, 24, -1, -1), -ESRCH);
	tn_route_destroy(&rt);
}

static void test_metric(void **state)
{
	(void)state;
	struct tn_route_table rt;
	tn_route_init(&rt, 2);
	struct tn_route a = R(0, 0, 100, 1), b = R(0, 0, 10, 2);
	tn_route_add(&rt, &a);
	tn_route_add(&rt, &b);
	assert_int_equal(tn_route_lookup(&rt, 1)->ifindex, 2);
	assert_int_equal(tn_route_del(&rt, 0, 0, 10, -1), 0);
	assert_int_equal(tn_route_lookup(&rt, 1)->ifindex, 1);
	tn_route_destroy(&rt);
}

static const struct tn_route *brute(const struct tn_route *all, int n, uint32_t dst)
{
	const struct tn_route *best = NULL;
	for (int i = 0; i < n; i++) {
		uint32_t m = all[i].plen ? ~0u << (32 - all[i].plen) : 0;
		if ((dst & m) != all[i].dst)
			continue;
		if (!best || all[i].plen > best->plen || (all[i].plen == best->plen && all[i].metric < best->metric))
			best = &all[i];
	}
	return best;
}

static void test_lpm_random(void **state)
{
	(void)state;
	enum { NR = 1000, NQ = 10000 };
	struct tn_rand r;
	tn_rand_seed(&r, 99);
	struct tn_route_table rt;
	tn_route_init(&rt, 3);
	struct tn_route *all = calloc(NR, sizeof(*all));
	int n = 0;
	while (n < NR) {
		uint8_t plen = (uint8_t)(8 + tn_rand_below(&r, 25));
		uint32_t m = ~0u << (32 - plen);
		/* cluster addresses so prefixes overlap */
		uint32_t dst = (0xc6120000u | (uint32_t)(tn_rand_u64(&r) & 0x1ffff)) & m;
		all[n] = R(dst, plen, tn_rand_below(&r, 4), n + 1);
		if (tn_route_add(&rt, &all[n]) == 0)
			n++;
	}
	for (int q = 0; q < NQ; q++) {
		uint32_t dst = 0xc6120000u | (uint32_t)(tn_rand_u64(&r) & 0x1ffff);
		const struct tn_route *want = brute(all, n, dst), *got = tn_route_lookup(&rt, dst);
		if (!want) {
			assert_null(got);
			continue;
		}
		assert_non_null(got);
		assert_int_equal(got->plen, want->plen);
		assert_int_equal(got->metric, want->metric);
		assert_int_equal(got->dst, want->dst);
	}
	free(all);
	tn_route_destroy(&rt);
}

static int order_ok;
static uint8_t last_plen;
static void check_order(const struct tn_route *r, void *arg)
{
	(void)arg;
	if (r->plen > last_plen)
		order_ok = 0;
	last_plen = r->plen;
}

static void test_flush_and_foreach(void **state)
{
	(void)state;
	struct tn_route_table rt;
	tn_route_init(&rt, 4);
	for (int i = 0; i < 50; i++) {
		struct tn_route r = R(0xc6120000u + ((uint32_t)i << 8), (uint8_t)(16 + i % 17), 0, 1 + i % 2);
		tn_route_add(&rt, &r);
	}
	order_ok = 1;
	last_plen = 32;
	tn_route_foreach(&rt, check_order, NULL);
	assert_true(order_ok);
	uint32_t before = rt.total;
	tn_route_flush_dev(&rt, 1);
	assert_true(rt.total < before);
	for (uint32_t a = 0xc6120000; a < 0xc6130000; a += 97) {
		const struct tn_route *got = tn_route_lookup(&rt, a);
		if (got)
			assert_int_equal(got->ifindex, 2);
	}
	tn_route_destroy(&rt);
}

static void test_pmtu(void **state)
{
	(void)state;
	struct tn_route_table rt;
	tn_route_init(&rt, 5);
	assert_int_equal(tn_pmtu_get(&rt, 0xc6120202, 0), 0);
	tn_pmtu_update(&rt, 0xc6120202, 1280, 1000);
	assert_int_equal(tn_pmtu_get(&rt, 0xc6120202, 999), 1280);
	assert_int_equal(tn_pmtu_get(&rt, 0xc6120202, 1000), 0);
	assert_int_equal(tn_pmtu_get(&rt, 0xc6120203, 0), 0);
	tn_route_destroy(&rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lpm_basic), cmocka_unit_test(test_metric),
		cmocka_unit_test(test_lpm_random), cmocka_unit_test(test_flush_and_foreach),
		cmocka_unit_test(test_pmtu),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
