/* Sysctl registry: Linux defaults, set/get by name and by /proc path,
 * range and syntax errors, multi-int values, printing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sysctl.h"

static void expect_get(const struct tn_sysctl *sc, const char *name, const char *want)
{
	char buf[64];
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(tn_sysctl_get(sc, name, buf, sizeof(buf)), 0);
	assert_string_equal(buf, want);
}

static void test_defaults(void **state)
{
	(void)state;
	struct tn_sysctl sc;
	memset(&sc, 0x5a, sizeof(sc));
	tn_sysctl_defaults(&sc);
	assert_int_equal(sc.ip_default_ttl, 64);
	assert_int_equal(sc.ip_forward, 0);
	assert_int_equal(sc.ipfrag_time, 30);
	assert_int_equal(sc.ipfrag_high_thresh, 4194304);
	assert_int_equal(sc.ipfrag_low_thresh, 3145728);
	assert_int_equal(sc.ip_local_port_range[0], 32768);
	assert_int_equal(sc.ip_local_port_range[1], 60999);
	assert_int_equal(sc.icmp_ratelimit, 1000);
	assert_int_equal(sc.icmp_ratemask, 6168);
	assert_int_equal(sc.icmp_msgs_per_sec, 1000);
	assert_int_equal(sc.icmp_msgs_burst, 50);
	assert_int_equal(sc.icmp_echo_ignore_all, 0);
	assert_int_equal(sc.icmp_echo_ignore_broadcasts, 1);
	assert_int_equal(sc.accept_source_route, 0);
	assert_int_equal(sc.route_min_pmtu, 552);
	assert_int_equal(sc.route_mtu_expires, 600);
	assert_int_equal(sc.tcp_syn_retries, 6);
	assert_int_equal(sc.tcp_synack_retries, 5);
	assert_int_equal(sc.tcp_fin_timeout, 60);
	assert_int_equal(sc.tcp_keepalive_time, 7200);
	assert_int_equal(sc.tcp_rmem[0], 4096);
	assert_int_equal(sc.tcp_rmem[1], 131072);
	assert_int_equal(sc.tcp_rmem[2], 6291456);
	assert_int_equal(sc.tcp_wmem[1], 16384);
	assert_int_equal(sc.core_somaxconn, 4096);
	assert_int_equal(sc.core_rmem_default, 212992);
	assert_int_equal(sc.neigh_base_reachable_time_ms, 30000);
	assert_int_equal(sc.neigh_retrans_time_ms, 1000);
	expect_get(&sc, "net.ipv4.ip_default_ttl", "64");
	expect_get(&sc, "net.ipv4.ip_local_port_range", "32768\t60999");
	expect_get(&sc, "net.ipv4.tcp_rmem", "4096\t131072\t6291456");
}

/* Every default is inside its own range and survives a get/set round trip. */
static void test_table_consistent(void **state)
{
	(void)state;
	struct tn_sysctl sc, copy;
	tn_sysctl_defaults(&sc);
	tn_sysctl_defaults(&copy);
	assert_true(tn_sysctl_table_len > 30);
	for (size_t i = 0; i < tn_sysctl_table_len; i++) {
		const struct tn_sysctl_entry *e = &tn_sysctl_table[i];
		assert_ptr_equal(tn_sysctl_find(e->name), e);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(tn_sysctl_table[j].name, e->name);
		assert_true(e->count >= 0 && e->count <= 3);
		if (e->count == 0) { /* a string: NUL-terminated inside its field */
			assert_true(e->offset + (size_t)e->max <= sizeof(sc));
			assert_true(strnlen((const char *)&sc + e->offset, (size_t)e->max) < (size_t)e->max);
			continue;
		}
		assert_true(e->offset + sizeof(int) * (size_t)e->count <= sizeof(sc));
		const int *v = (const int *)((const char *)&sc + e->offset);
		for (int k = 0; k < e->count; k++)
			assert_true(v[k] >= e->min && v[k] <= e->max);
		char buf[64];
		assert_int_equal(tn_sysctl_get(&sc, e->name, buf, sizeof(buf)), 0);
		assert_int_equal(tn_sysctl_set(&copy, e->name, buf), 0);
	}
	assert_memory_equal(&sc, &copy, sizeof(sc));
}

static void test_set_get(void **state)
{
	(void)state;
	struct tn_sysctl sc;
	tn_sysctl_defaults(&sc);
	assert_int_equal(tn_sysctl_set(&sc, "net.ipv4.ip_default_ttl", "200"), 0);
	assert_int_equal(sc.ip_default_ttl, 200);
	expect_get(&sc, "net.ipv4.ip_default_ttl", "200");
	assert_int_equal(tn_sysctl_set(&sc, "net.ipv4.ip_forward", "1"), 0);
	assert_int_equal(sc.ip_forward, 1);
	/* the /proc/sys path form names the same entry */
	assert_int_equal(tn_sysctl_set(&sc, "net/ipv4/ip_forward", "0"), 0);
	assert_int_equal(sc.ip_forward, 0);
	expect_get(&sc, "net/ipv4/ip_forward", "0");
	assert_ptr_equal(tn_sysctl_find("net/ipv4/neigh/default/retrans_time_ms"),
			 tn_sysctl_find("net.ipv4.neigh.default.retrans_time_ms"));
	/* whitespace around values, as `echo 5 > /proc/...` writes */
	assert_int_equal(tn_sysctl_set(&sc, "net.ipv4.ipfrag_time", " 5\n"), 0);
	assert_int_equal(sc.ipfrag_time, 5);
	/* the boundaries of a range are allowed */
	assert_int_equal(tn_sysctl_set(&sc, "net.ipv4.ip_default_ttl", "1"), 0);
	assert_int_equal(tn_sysctl_set(&sc, "net.ipv4.ip_default_ttl", "255"), 0);
	assert_int_equal(sc.ip_default_ttl, 255);
	assert_int_equal(tn_sysctl_set(&sc, "net.ipv4.ipfrag_high_thresh", "2147483647"), 0);
	assert_int_equal(sc.ipfrag_high_thresh, 2147483647);
}

static void test_errors(void **state)
{
	(void)state;
	struct tn_sysctl sc, before;
	tn_sysctl_defaults(&sc);
	before = sc;
	char buf[64];
	assert_int_equal(tn_sysctl_set(&sc, "net.ipv4.no_such_thing", "1"), -ENOENT);
	assert_int_equal(tn_sysctl_get(&sc, "net.ipv4.no_such_thing", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(tn_sysctl_set(&sc, "", "1"), -ENOENT);
	assert_int_equal(tn_sysctl_set(&sc, "net.ipv4.ip_forward.", "1"), -ENOENT);
	assert_int_equal(tn_sysctl_set(&sc, "net.ipv4.ip_forwar", "1"), -ENOENT);
	assert_null(tn_sysctl_find("ip_forward")); /* no suffix matching */
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	assert_int_equal(tn_sysctl_set(&sc, longname, "1"), -ENOENT);

	const char *bad_ttl[] = {"0", "256", "-1", "", " ", "abc", "64abc", "64 65", "6 4", "0x40",
				 "99999999999999999999", "1.5", "64,"};
	for (size_t i = 0; i < sizeof(bad_ttl) / sizeof(bad_ttl[0]); i++)
		assert_int_equal(tn_sysctl_set(&sc, "net.ipv4.ip_default_ttl", bad_ttl[i]), -EINVAL);
	assert_int_equal(tn_sysctl_set(&sc, "net.ipv4.ip_forward", "2"), -EINVAL);
	assert_int_equal(tn_sysctl_set(&sc, "net.ipv4.ipfrag_high_thresh", "2147483648"), -EINVAL);
	assert_int_equal(tn_sysctl_set(&sc, "net.ipv4.route.min_pmtu", "67"), -EINVAL);
	/* failed sets change nothing */
	assert_memory_equal(&sc, &before, sizeof(sc));
}

static void test_multi_int(void **state)
{
	(void)state;
	struct tn_sysctl sc, before;
	tn_sysctl_defaults(&sc);
	const char *name = "net.ipv4.ip_local_port_range";
	assert_int_equal(tn_sysctl_set(&sc, name, "1024 2048"), 0);
	assert_int_equal(sc.ip_local_port_range[0], 1024);
	assert_int_equal(sc.ip_local_port_range[1], 2048);
	expect_get(&sc, name, "1024\t2048");
	assert_int_equal(tn_sysctl_set(&sc, name, "40000\t40000"), 0); /* as /proc prints it */
	expect_get(&sc, name, "40000\t40000");
	before = sc;
	const char *bad[] = {"1024", "2048 1024", "0 100", "1 65536", "1024 2048 4096", "1024 x",
			     "1024 2048x", "", "1024,2048"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(tn_sysctl_set(&sc, name, bad[i]), -EINVAL);
	assert_memory_equal(&sc, &before, sizeof(sc));

	assert_int_equal(tn_sysctl_set(&sc, "net.ipv4.tcp_rmem", "4096 87380 6291456"), 0);
	assert_int_equal(sc.tcp_rmem[1], 87380);
	assert_int_equal(tn_sysctl_set(&sc, "net.ipv4.tcp_rmem", "4096 87380"), -EINVAL);
	assert_int_equal(tn_sysctl_set(&sc, "net.ipv4.tcp_rmem", "4096 8192 4096"), -EINVAL);
	assert_int_equal(tn_sysctl_set(&sc, "net.ipv4.tcp_wmem", "0 1 2"), -EINVAL);
	assert_int_equal(sc.tcp_rmem[1], 87380);
}

static void test_get_small_buffer(void **state)
{
	(void)state;
	struct tn_sysctl sc;
	tn_sysctl_defaults(&sc);
	char buf[8];
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(tn_sysctl_get(&sc, "net.ipv4.tcp_rmem", buf, 6), 0);
	assert_string_equal(buf, "4096\t");   /* truncated, still terminated */
	assert_int_equal(buf[6], 'x');         /* nothing past cap */
	assert_int_equal(tn_sysctl_get(&sc, "net.ipv4.tcp_rmem", buf, 1), 0);
	assert_string_equal(buf, "");
	buf[0] = 'x';
	assert_int_equal(tn_sysctl_get(&sc, "net.ipv4.tcp_rmem", buf, 0), 0);
	assert_int_equal(buf[0], 'x');
}

static void test_print(void **state)
{
	(void)state;
	struct tn_sysctl sc;
	tn_sysctl_defaults(&sc);
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	assert_non_null(f);
	tn_sysctl_print(f, &sc, "port_range");
	fclose(f);
	assert_string_equal(out, "net.ipv4.ip_local_port_range = 32768\t60999\n");
	free(out);
	f = open_memstream(&out, &len);
	tn_sysctl_print(f, &sc, NULL);
	fclose(f);
	size_t lines = 0;
	for (size_t i = 0; i < len; i++)
		lines += out[i] == '\n';
	assert_int_equal(lines, tn_sysctl_table_len);
	assert_non_null(strstr(out, "net.ipv4.ip_default_ttl = 64\n"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_table_consistent),
		cmocka_unit_test(test_set_get),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_multi_int),
		cmocka_unit_test(test_get_small_buffer),
		cmocka_unit_test(test_print),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
