/* The fanout program (fanout_bpf.c) against the software steering's
 * choice: loaded into the kernel and run on frames with BPF_PROG_TEST_RUN,
 * it must pick tn_rss_queue(tn_rss_hash_v4(...)) for every IPv4 TCP/UDP
 * frame, with and without IP options, and 0 for fragments, other
 * protocols, IPv6 and ARP.  Loading needs CAP_BPF: as another user the
 * test is skipped (CI runs as root). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/rss.h"
#include "link/fanout_bpf.h"

static int run(int prog, const uint8_t *frame, uint32_t len)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.test.prog_fd = (uint32_t)prog;
	a.test.data_in = (uint64_t)(uintptr_t)frame;
	a.test.data_size_in = len;
	a.test.repeat = 1;
	assert_int_equal(syscall(__NR_bpf, BPF_PROG_TEST_RUN, &a, sizeof(a)), 0);
	return (int)a.test.retval;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }

/* An Ethernet frame with an IPv4 header of ihl words and 20 bytes of L4. */
static uint32_t ipv4_frame(uint8_t *f, uint8_t proto, unsigned ihl, uint16_t frag, uint32_t src, uint32_t dst,
			   uint16_t sport, uint16_t dport)
{
	memset(f, 0, 14 + 60 + 20);
	put16(f + 12, 0x0800);
	uint8_t *ip = f + 14;
	ip[0] = (uint8_t)(0x40 | ihl);
	put16(ip + 2, (uint16_t)(ihl * 4 + 20));
	put16(ip + 6, frag);
	ip[8] = 64;
	ip[9] = proto;
	put32(ip + 12, src);
	put32(ip + 16, dst);
	for (unsigned i = 20; i < ihl * 4; i++)
		ip[i] = 1; /* NOP options: the ports come after them */
	put16(ip + ihl * 4, sport);
	put16(ip + ihl * 4 + 2, dport);
	return 14 + ihl * 4 + 20;
}

static uint32_t next_rand(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 1 ^ *s << 7;
}

static int load_or_skip(unsigned nqueues)
{
	int prog = tn_fanout_bpf_load(tn_rss_default_key, nqueues);
	if (prog < 0 && (errno == EPERM || errno == EACCES)) {
		print_message("SKIP: loading a BPF program needs CAP_BPF (run as root)\n");
		skip();
	}
	assert_true(prog >= 0);
	return prog;
}

static void test_fanout_matches_steering(void **state)
{
	(void)state;
	static const unsigned queues[] = {2, 3, 4, 16};
	uint32_t seed = 7;
	uint8_t f[128];
	for (unsigned qi = 0; qi < sizeof(queues) / sizeof(queues[0]); qi++) {
		unsigned n = queues[qi];
		int prog = load_or_skip(n);
		unsigned seen[16] = {0};
		for (int i = 0; i < 2000; i++) {
			uint32_t src = next_rand(&seed), dst = next_rand(&seed);
			uint16_t sport = (uint16_t)next_rand(&seed), dport = (uint16_t)next_rand(&seed);
			uint8_t proto = i & 1 ? 6 : 17;
			unsigned ihl = i % 7 == 0 ? 5 + (unsigned)(i % 11) : 5;
			uint32_t len = ipv4_frame(f, proto, ihl, i & 2 ? 0x4000 : 0, src, dst, sport, dport); /* DF or not */
			unsigned want = tn_rss_queue(tn_rss_hash_v4(tn_rss_default_key, src, dst, sport, dport), n);
			int got = run(prog, f, len);
			if (got != (int)want)
				fail_msg("%u queues, %08x:%u -> %08x:%u proto %u ihl %u: program %d, steering %u", n, src, sport,
					 dst, dport, proto, ihl, got, want);
			seen[want]++;
		}
		for (unsigned q = 0; q < n; q++)
			assert_true(seen[q] > 0); /* the case is not all one queue */
		close(prog);
	}
}

/* The specification's vector (66.9.149.187:2794 -> 161.142.100.80:1766,
 * hash 0x51ccc178): the hash itself, seen through 128 queues' worth of
 * indirection (hash mod 128). */
static void test_fanout_spec_vector(void **state)
{
	(void)state;
	int prog = load_or_skip(128);
	uint8_t f[128];
	uint32_t len = ipv4_frame(f, 6, 5, 0, 0x420995bb, 0xa18e6450, 2794, 1766);
	assert_int_equal(run(prog, f, len), 0x51ccc178 % 128);
	close(prog);
}

static void test_fanout_not_a_flow(void **state)
{
	(void)state;
	int prog = load_or_skip(4);
	uint8_t f[128];
	uint32_t src = 0xc6120001, dst = 0xc6120002;
	uint16_t sport = 40000, dport = 80;
	/* make sure the flow itself is not on queue 0, so a 0 below says "not a flow" */
	while (tn_rss_queue(tn_rss_hash_v4(tn_rss_default_key, src, dst, sport, dport), 4) == 0)
		sport++;
	uint32_t len = ipv4_frame(f, 6, 5, 0, src, dst, sport, dport);
	assert_int_not_equal(run(prog, f, len), 0);
	len = ipv4_frame(f, 6, 5, 0x2000, src, dst, sport, dport); /* more fragments */
	assert_int_equal(run(prog, f, len), 0);
	len = ipv4_frame(f, 6, 5, 0x0010, src, dst, sport, dport); /* a later fragment */
	assert_int_equal(run(prog, f, len), 0);
	len = ipv4_frame(f, 1, 5, 0, src, dst, sport, dport); /* ICMP */
	assert_int_equal(run(prog, f, len), 0);
	len = ipv4_frame(f, 47, 5, 0, src, dst, sport, dport); /* GRE */
	assert_int_equal(run(prog, f, len), 0);
	len = ipv4_frame(f, 6, 5, 0, src, dst, sport, dport);
	put16(f + 12, 0x0806); /* ARP */
	assert_int_equal(run(prog, f, len), 0);
	len = ipv4_frame(f, 6, 5, 0, src, dst, sport, dport);
	f[14] = 0x65; /* version 6 in an IPv4 frame */
	assert_int_equal(run(prog, f, len), 0);
	len = ipv4_frame(f, 6, 5, 0, src, dst, sport, dport);
	f[14] = 0x44; /* a header length below 20 */
	assert_int_equal(run(prog, f, len), 0);
	len = ipv4_frame(f, 6, 15, 0, src, dst, sport, dport);
	assert_int_equal(run(prog, f, 14 + 60 + 2), 0); /* cut short in the ports */
	close(prog);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fanout_matches_steering),
		cmocka_unit_test(test_fanout_spec_vector),
		cmocka_unit_test(test_fanout_not_a_flow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
