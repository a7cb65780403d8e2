/* The indirection table tern gives a NIC (nic_rss.c) must pick, for every
 * hash, the queue tern's software steering picks: first +
 * tn_rss_queue(hash, n).  Sizes that cannot agree are refused.  A device
 * without settable RSS (loopback) says EOPNOTSUPP and is left alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>

#include "link/nic_rss.h"

static uint32_t next_rand(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 1 ^ *s << 7;
}

static void check_table(uint32_t size, unsigned first, unsigned n)
{
	uint32_t *indir = calloc(size, sizeof(*indir));
	assert_non_null(indir);
	assert_int_equal(tn_nic_rss_indir(indir, size, first, n), 0);
	uint32_t seed = size * 31 + n;
	for (int i = 0; i < 20000; i++) {
		uint32_t h = next_rand(&seed);
		if (indir[h % size] != first + tn_rss_queue(h, n))
			fail_msg("table of %u for queues %u..%u: hash %08x takes %u, tern steers to %u", size, first,
				 first + n - 1, h, indir[h % size], first + tn_rss_queue(h, n));
	}
	for (uint32_t i = 0; i < size; i++) /* and only tern's queues */
		assert_true(indir[i] >= first && indir[i] < first + n);
	free(indir);
}

static void test_table_agrees_with_steering(void **state)
{
	(void)state;
	static const uint32_t sizes[] = {128, 256, 512, 2048};
	for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
		for (unsigned n = 1; n <= 6; n++)
			check_table(sizes[s], s, n);
	check_table(64, 0, 2); /* smaller than tern's 128: fine for a power of two */
	check_table(64, 4, 4);
	check_table(32, 0, 32);
}

static void test_table_that_cannot_agree(void **state)
{
	(void)state;
	uint32_t indir[512];
	static const struct { uint32_t size; unsigned n; } bad[] = {{64, 3}, {64, 128}, {96, 3}, {0, 1}, {128, 0}, {200, 16}};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		assert_int_equal(tn_nic_rss_indir(indir, bad[i].size, 0, bad[i].n), -1);
		assert_int_equal(errno, EINVAL);
	}
}

static void test_device_without_rss(void **state)
{
	(void)state;
	errno = 0;
	assert_null(tn_nic_rss_take("lo", tn_rss_default_key, 0, 2));
	assert_int_equal(errno, EOPNOTSUPP);
	assert_null(tn_nic_rss_take("tern-none0", tn_rss_default_key, 0, 2));
	assert_int_equal(errno, ENODEV);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_agrees_with_steering),
		cmocka_unit_test(test_table_that_cannot_agree),
		cmocka_unit_test(test_device_without_rss),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
