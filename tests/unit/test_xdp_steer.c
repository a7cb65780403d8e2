/* The XDP steering program (xdp_steer.c), loaded into the kernel and run
 * on frames with BPF_PROG_TEST_RUN.  With no socket in the map, a frame
 * the program gives tern is dropped (XDP_DROP, counted no_socket) and one
 * it leaves to the kernel passes (XDP_PASS): so the return code says
 * which way each frame went.  IPv4 to tern's address and ARP whose target
 * is tern's go to tern, under VLAN tags too; other addresses, broadcasts,
 * IPv6, other ARP, and frames too short to say pass.  Addresses added and
 * removed at run time take effect.  Loading needs CAP_BPF: as another
 * user the test is skipped (CI runs as root). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <linux/bpf.h>
#include <string.h>
#include <unistd.h>

#include "link/bpf.h"
#include "link/xdp_steer.h"

#define TERN_A 0xc6122e02u /* 198.18.46.2 */
#define TERN_B 0xc6122f09u /* 198.18.47.9 */
#define KERNEL 0xc6122e03u /* 198.18.46.3: the kernel's, on the same link */
#define PEER 0xc6122e01u

static int run(const struct tn_xdp_steer *st, const uint8_t *frame, uint32_t len)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.test.prog_fd = (uint32_t)tn_xdp_steer_prog_fd(st);
	a.test.data_in = (uint64_t)(uintptr_t)frame;
	a.test.data_size_in = len;
	a.test.repeat = 1;
	assert_int_equal(tn_bpf(BPF_PROG_TEST_RUN, &a), 0);
	return (int)a.test.retval;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }

/* Ethernet header with `tags` VLAN tags (802.1ad outside, 802.1Q inside);
 * returns where the L3 header starts. */
static uint8_t *eth(uint8_t *f, unsigned tags, uint16_t type)
{
	memset(f, 0, 128);
	memset(f, 0xff, 6);
	uint8_t *p = f + 12;
	for (unsigned i = 0; i < tags; i++, p += 4) {
		put16(p, i + 1 < tags ? 0x88a8 : 0x8100);
		put16(p + 2, (uint16_t)(100 + i));
	}
	put16(p, type);
	return p + 2;
}

static uint32_t ipv4(uint8_t *f, unsigned tags, uint32_t dst)
{
	uint8_t *ip = eth(f, tags, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, 28);
	ip[8] = 64;
	ip[9] = 17;
	put32(ip + 12, PEER);
	put32(ip + 16, dst);
	return (uint32_t)(ip - f) + 28;
}

static uint32_t arp(uint8_t *f, unsigned tags, uint16_t op, uint32_t target)
{
	uint8_t *a = eth(f, tags, 0x0806);
	put16(a, 1);
	put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, op);
	put32(a + 14, PEER);
	put32(a + 24, target);
	return (uint32_t)(a - f) + 28;
}

static struct tn_xdp_steer *load_or_skip(const uint32_t *addrs, unsigned n)
{
	struct tn_xdp_steer_cfg cfg = {.addrs = addrs, .naddrs = n, .nqueues = 4};
	struct tn_xdp_steer *st = tn_xdp_steer_new(0, &cfg);
	if (!st && (errno == EPERM || errno == EACCES)) {
		print_message("SKIP: loading a BPF program needs CAP_BPF (run as root)\n");
		skip();
	}
	assert_non_null(st);
	return st;
}

static void test_tern_frames_by_address(void **state)
{
	(void)state;
	const uint32_t addrs[] = {TERN_A, TERN_B};
	struct tn_xdp_steer *st = load_or_skip(addrs, 2);
	assert_true(tn_xdp_steer_by_addr(st));
	uint8_t f[128];
	for (unsigned tags = 0; tags <= 2; tags++) {
		assert_int_equal(run(st, f, ipv4(f, tags, TERN_A)), XDP_DROP); /* tern's: no socket here */
		assert_int_equal(run(st, f, ipv4(f, tags, TERN_B)), XDP_DROP);
		assert_int_equal(run(st, f, arp(f, tags, 1, TERN_A)), XDP_DROP); /* who has tern's address */
		assert_int_equal(run(st, f, arp(f, tags, 2, TERN_B)), XDP_DROP); /* the answer to tern's */
		assert_int_equal(run(st, f, ipv4(f, tags, KERNEL)), XDP_PASS);
		assert_int_equal(run(st, f, ipv4(f, tags, 0xffffffffu)), XDP_PASS);
		assert_int_equal(run(st, f, arp(f, tags, 1, KERNEL)), XDP_PASS);
	}
	struct tn_xdp_steer_counts c;
	assert_int_equal(tn_xdp_steer_counts(st, &c), 0);
	assert_int_equal(c.no_socket, 12);
	assert_int_equal(c.to_kernel, 9);
	assert_int_equal(c.to_tern, 0);
	tn_xdp_steer_free(st);
}

static void test_not_tern_frames_pass(void **state)
{
	(void)state;
	const uint32_t addrs[] = {TERN_A};
	struct tn_xdp_steer *st = load_or_skip(addrs, 1);
	uint8_t f[128];
	uint32_t len = ipv4(f, 0, TERN_A);
	assert_int_equal(run(st, f, len - 1), XDP_DROP); /* the address is in the first 20 bytes */
	assert_int_equal(run(st, f, 14 + 19), XDP_PASS); /* cut before the destination's end */
	assert_int_equal(run(st, f, 14), XDP_PASS);
	len = ipv4(f, 3, TERN_A); /* a third tag: not looked under */
	assert_int_equal(run(st, f, len), XDP_PASS);
	len = arp(f, 0, 1, TERN_A);
	assert_int_equal(run(st, f, len - 1), XDP_PASS); /* ARP cut in its target address */
	f[18] = 16; /* an ARP of other address sizes */
	assert_int_equal(run(st, f, len), XDP_PASS);
	uint8_t *ip6 = eth(f, 0, 0x86dd); /* IPv6, whose bytes 16..19 hold tern's address */
	put32(ip6 + 16, TERN_A);
	assert_int_equal(run(st, f, 14 + 40), XDP_PASS);
	tn_xdp_steer_free(st);
}

static void test_addresses_at_run_time(void **state)
{
	(void)state;
	const uint32_t addrs[] = {TERN_A};
	struct tn_xdp_steer *st = load_or_skip(addrs, 1);
	uint8_t f[128];
	assert_int_equal(run(st, f, ipv4(f, 0, TERN_B)), XDP_PASS);
	assert_int_equal(tn_xdp_steer_addr(st, TERN_B, true), 0);
	assert_int_equal(run(st, f, ipv4(f, 0, TERN_B)), XDP_DROP);
	assert_int_equal(tn_xdp_steer_addr(st, TERN_A, false), 0);
	assert_int_equal(run(st, f, ipv4(f, 0, TERN_A)), XDP_PASS);
	tn_xdp_steer_free(st);
}

/* No address: every frame is tern's, and with no socket on its queue it
 * passes to the kernel, as libxdp's default program does. */
static void test_no_address_takes_all(void **state)
{
	(void)state;
	struct tn_xdp_steer *st = load_or_skip(NULL, 0);
	assert_false(tn_xdp_steer_by_addr(st));
	uint8_t f[128];
	assert_int_equal(run(st, f, ipv4(f, 0, KERNEL)), XDP_PASS);
	struct tn_xdp_steer_counts c;
	assert_int_equal(tn_xdp_steer_counts(st, &c), 0);
	assert_int_equal(c.to_kernel, 1);
	tn_xdp_steer_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tern_frames_by_address),
		cmocka_unit_test(test_not_tern_frames_pass),
		cmocka_unit_test(test_addresses_at_run_time),
		cmocka_unit_test(test_no_address_takes_all),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
