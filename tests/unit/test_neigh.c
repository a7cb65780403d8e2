/* ARP and the neighbour cache, driven frame by frame on a virtual clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "net/ipv4.h"
#include "net/neigh.h"
#include "testutil.h"

static const uint8_t peer_mac[6] = {0x02, 0xaa, 0, 0, 0, 1};
static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

struct fix {
	struct tn_stack *s;
	struct wire_dev *w;
	int ifindex;
	uint64_t now;
};

static void setup(struct fix *f)
{
	f->s = t_stack_new(11);
	f->w = t_wire_attach(f->s, TN_DEV_L2, &f->ifindex);
	f->now = 1 * T_SEC;
	tern_addr_add(f->s, f->ifindex, t_ip("198.18.0.1"), 24);
	t_run(f->s, f->now);
}

static void advance(struct fix *f, uint64_t dt)
{
	f->now += dt;
	t_run(f->s, f->now);
}

/* Take the next frame; parse it as ARP; returns op or -1. */
static int take_arp(struct fix *f, struct tn_arp_hdr *ah, uint8_t *dst_mac)
{
	uint8_t buf[2048];
	int n = t_wire_take(f->w, buf, sizeof(buf));
	if (n < 0)
		return -1;
	struct tn_eth_hdr eh;
	assert_int_equal(tn_eth_parse(buf, (size_t)n, &eh), 14);
	if (eh.type != TN_ETHERTYPE_ARP)
		return -2;
	assert_int_equal(n, 60); /* padded to the Ethernet minimum */
	if (dst_mac)
		memcpy(dst_mac, eh.dst, 6);
	assert_int_equal(tn_arp_parse(buf + 14, (size_t)n - 14, ah), 28);
	return ah->op;
}

static void inject_arp(struct fix *f, uint16_t op, const uint8_t *sha, uint32_t spa, uint32_t tpa)
{
	uint8_t fr[60] = {0};
	struct tn_eth_hdr eh = {.type = TN_ETHERTYPE_ARP};
	memcpy(eh.dst, op == TN_ARP_REQUEST ? bcast : f->w->dev.mac, 6);
	memcpy(eh.src, sha, 6);
	tn_eth_emit(&eh, fr, 60);
	struct tn_arp_hdr ah = {.op = op, .spa = spa, .tpa = tpa};
	memcpy(ah.sha, sha, 6);
	if (op == TN_ARP_REPLY)
		memcpy(ah.tha, f->w->dev.mac, 6);
	tn_arp_emit(&ah, fr + 14, 46);
	t_wire_inject(f->w, fr, 60);
	t_run(f->s, f->now);
}

static void send_udp(struct fix *f, const char *dst)
{
	int fd = tern_socket(f->s, AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(t_ip(dst))};
	assert_int_equal(tern_sendto(f->s, fd, "x", 1, 0, (struct sockaddr *)&a, sizeof(a)), 1);
	tern_close(f->s, fd);
	t_run(f->s, f->now);
}

static void test_gratuitous_on_add(void **state)
{
	(void)state;
	struct fix f;
	setup(&f);
	struct tn_arp_hdr ah;
	uint8_t dst[6];
	assert_int_equal(take_arp(&f, &ah, dst), TN_ARP_REQUEST);
	assert_memory_equal(dst, bcast, 6);
	assert_int_equal(ah.spa, t_ip("198.18.0.1"));
	assert_int_equal(ah.tpa, t_ip("198.18.0.1"));
	assert_int_equal(tern_stat(f.s, "TernExtArpOutGratuitous"), 1);
	tern_stack_free(f.s);
}

static void test_resolve_and_flush_queue(void **state)
{
	(void)state;
	struct fix f;
	setup(&f);
	t_wire_clear(f.w);
	send_udp(&f, "198.18.0.2");
	send_udp(&f, "198.18.0.2");
	struct tn_arp_hdr ah;
	assert_int_equal(take_arp(&f, &ah, NULL), TN_ARP_REQUEST);
	assert_int_equal(ah.tpa, t_ip("198.18.0.2"));
	assert_int_equal(take_arp(&f, &ah, NULL), -1); /* one request, both packets queued */
	struct tn_neigh *n = tn_neigh_lookup(&f.s->neigh, f.ifindex, t_ip("198.18.0.2"));
	assert_int_equal(n->state, TN_NUD_INCOMPLETE);
	assert_int_equal(n->pending.count, 2);
	inject_arp(&f, TN_ARP_REPLY, peer_mac, t_ip("198.18.0.2"), t_ip("198.18.0.1"));
	assert_int_equal(n->state, TN_NUD_REACHABLE);
	uint8_t buf[2048];
	for (int i = 0; i < 2; i++) {
		int len = t_wire_take(f.w, buf, sizeof(buf));
		assert_true(len > 0);
		assert_memory_equal(buf, peer_mac, 6);
		assert_int_equal(tn_get16(buf + 12), TN_ETHERTYPE_IPV4);
	}
	/* REACHABLE turns STALE after 15..45 s */
	advance(&f, 14 * T_SEC);
	assert_int_equal(n->state, TN_NUD_REACHABLE);
	advance(&f, 32 * T_SEC);
	assert_int_equal(n->state, TN_NUD_STALE);
	/* use -> DELAY -> PROBE (unicast) -> reply -> REACHABLE */
	send_udp(&f, "198.18.0.2");
	assert_int_equal(n->state, TN_NUD_DELAY);
	t_wire_clear(f.w);
	advance(&f, 5 * T_SEC);
	assert_int_equal(n->state, TN_NUD_PROBE);
	uint8_t dst[6];
	assert_int_equal(take_arp(&f, &ah, dst), TN_ARP_REQUEST);
	assert_memory_equal(dst, peer_mac, 6);
	inject_arp(&f, TN_ARP_REPLY, peer_mac, t_ip("198.18.0.2"), t_ip("198.18.0.1"));
	assert_int_equal(n->state, TN_NUD_REACHABLE);
	tern_stack_free(f.s);
}

static void test_resolution_fails(void **state)
{
	(void)state;
	struct fix f;
	setup(&f);
	uint32_t base = tern_pool_in_use(f.s);
	t_wire_clear(f.w);
	send_udp(&f, "198.18.0.3");
	int requests = 0;
	struct tn_arp_hdr ah;
	for (int i = 0; i < 5; i++) {
		while (take_arp(&f, &ah, NULL) == TN_ARP_REQUEST)
			requests++;
		advance(&f, 1 * T_SEC);
	}
	assert_int_equal(requests, 3); /* mcast_solicit */
	assert_int_equal(tern_stat(f.s, "TernExtNeighResolveFailed"), 1);
	struct tn_neigh *n = tn_neigh_lookup(&f.s->neigh, f.ifindex, t_ip("198.18.0.3"));
	assert_int_equal(n->state, TN_NUD_FAILED);
	assert_int_equal(tern_pool_in_use(f.s), base);
	tern_stack_free(f.s);
}

static void test_answers_only_ours(void **state)
{
	(void)state;
	struct fix f;
	setup(&f);
	t_wire_clear(f.w);
	inject_arp(&f, TN_ARP_REQUEST, peer_mac, t_ip("198.18.0.9"), t_ip("198.18.0.1"));
	struct tn_arp_hdr ah;
	uint8_t dst[6];
	assert_int_equal(take_arp(&f, &ah, dst), TN_ARP_REPLY);
	assert_memory_equal(dst, peer_mac, 6);
	assert_memory_equal(ah.sha, f.w->dev.mac, 6);
	assert_int_equal(ah.spa, t_ip("198.18.0.1"));
	assert_int_equal(ah.tpa, t_ip("198.18.0.9"));
	/* the requester was learned (STALE), as Linux does */
	assert_int_equal(tn_neigh_lookup(&f.s->neigh, f.ifindex, t_ip("198.18.0.9"))->state, TN_NUD_STALE);
	inject_arp(&f, TN_ARP_REQUEST, peer_mac, t_ip("198.18.0.9"), t_ip("198.18.0.77"));
	assert_int_equal(take_arp(&f, &ah, NULL), -1);
	assert_int_equal(tern_stat(f.s, "TernExtArpInNotForUs"), 1);
	/* RFC 5227 probe: sender 0.0.0.0 is answered, not learned */
	inject_arp(&f, TN_ARP_REQUEST, peer_mac, 0, t_ip("198.18.0.1"));
	assert_int_equal(take_arp(&f, &ah, NULL), TN_ARP_REPLY);
	assert_null(tn_neigh_lookup(&f.s->neigh, f.ifindex, 0));
	tern_stack_free(f.s);
}

static void test_gratuitous_updates_only_known(void **state)
{
	(void)state;
	struct fix f;
	setup(&f);
	const uint8_t other[6] = {0x02, 0xbb, 0, 0, 0, 2};
	inject_arp(&f, TN_ARP_REQUEST, peer_mac, t_ip("198.18.0.20"), t_ip("198.18.0.20"));
	assert_null(tn_neigh_lookup(&f.s->neigh, f.ifindex, t_ip("198.18.0.20")));
	inject_arp(&f, TN_ARP_REQUEST, peer_mac, t_ip("198.18.0.9"), t_ip("198.18.0.1"));
	inject_arp(&f, TN_ARP_REQUEST, other, t_ip("198.18.0.9"), t_ip("198.18.0.9"));
	assert_memory_equal(tn_neigh_lookup(&f.s->neigh, f.ifindex, t_ip("198.18.0.9"))->mac, other, 6);
	tern_stack_free(f.s);
}

static void test_malformed_and_bad_sender(void **state)
{
	(void)state;
	struct fix f;
	setup(&f);
	uint8_t fr[60] = {0};
	struct tn_eth_hdr eh = {.type = TN_ETHERTYPE_ARP};
	memcpy(eh.dst, bcast, 6);
	memcpy(eh.src, peer_mac, 6);
	tn_eth_emit(&eh, fr, 60);
	t_wire_inject(f.w, fr, 20); /* truncated */
	fr[15] = 6;                 /* htype 6 */
	t_wire_inject(f.w, fr, 60);
	t_run(f.s, f.now);
	assert_int_equal(tern_stat(f.s, "TernExtArpInErrors"), 2);
	inject_arp(&f, TN_ARP_REQUEST, bcast, t_ip("198.18.0.9"), t_ip("198.18.0.1")); /* broadcast sha */
	assert_int_equal(tern_stat(f.s, "TernExtArpInErrors"), 3);
	tern_stack_free(f.s);
}

static void test_queue_overflow_and_l3(void **state)
{
	(void)state;
	struct fix f;
	setup(&f);
	tern_sysctl_set(f.s, "net.ipv4.neigh.default.unres_qlen_bytes", "100");
	for (int i = 0; i < 5; i++)
		send_udp(&f, "198.18.0.4");
	assert_int_equal(tern_stat(f.s, "TernExtNeighQueueOverflow"), 2); /* 3 x 29 bytes fit */
	tern_stack_free(f.s);

	struct tn_stack *s = t_stack_new(12);
	int ifindex;
	struct wire_dev *w = t_wire_attach(s, TN_DEV_L3, &ifindex);
	tern_addr_add(s, ifindex, t_ip("198.18.0.1"), 24);
	int fd = tern_socket(s, AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(t_ip("198.18.0.2"))};
	tern_sendto(s, fd, "x", 1, 0, (struct sockaddr *)&a, sizeof(a));
	t_run(s, 2 * T_SEC);
	uint8_t buf[100];
	assert_int_equal(t_wire_take(w, buf, sizeof(buf)), 29); /* raw IP, no ARP */
	assert_int_equal(buf[0], 0x45);
	tern_stack_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gratuitous_on_add),     cmocka_unit_test(test_resolve_and_flush_queue),
		cmocka_unit_test(test_resolution_fails),      cmocka_unit_test(test_answers_only_ours),
		cmocka_unit_test(test_gratuitous_updates_only_known),
		cmocka_unit_test(test_malformed_and_bad_sender), cmocka_unit_test(test_queue_overflow_and_l3),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
