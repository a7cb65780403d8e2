/* The neighbour cache and ARP, driven frame by frame through a fake
 * Ethernet device on a virtual clock.  The device lives in this file: its
 * transmit side records every frame the stack sends, its receive side
 * delivers frames the test injects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "net/neigh.h"
#include "wire/wire.h"

#define SEC 1000000000ull
#define MS 1000000ull
#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))
#define OUR_IP IP4(198, 18, 0, 1)
#define PEER_IP IP4(198, 18, 0, 2)
#define IP_PKT_LEN 40u /* 20-byte header + 20 bytes of payload */

static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t zero6[6] = {0};
static const uint8_t peer_mac[6] = {0x02, 0xaa, 0, 0, 0, 0x02};
static const uint8_t other_mac[6] = {0x02, 0xbb, 0, 0, 0, 0x03};
static const uint8_t third_mac[6] = {0x02, 0xcc, 0, 0, 0, 0x04};

/* ---- the fake device ---- */

#define MAX_FRAMES 64
#define FRAME_CAP 256

struct frame {
	uint32_t len; /* on the wire; at most FRAME_CAP bytes kept */
	uint8_t b[FRAME_CAP];
};

struct fake_dev {
	struct tn_dev dev;
	struct frame tx[MAX_FRAMES];
	unsigned tx_head, tx_count;
	unsigned tx_lost; /* sent while the record was full */
	struct frame rx[MAX_FRAMES];
	unsigned rx_head, rx_count;
};

static unsigned fake_rx(struct tn_dev *d, struct tn_mempool *mp, struct tn_pkt **pkts, unsigned n)
{
	struct fake_dev *fd = d->priv;
	unsigned got = 0;
	while (got < n && fd->rx_count) {
		struct frame *fr = &fd->rx[fd->rx_head];
		struct tn_pkt *p = tn_pkt_alloc(mp);
		if (!p)
			break;
		memcpy(tn_pkt_put(p, fr->len), fr->b, fr->len);
		pkts[got++] = p;
		fd->rx_head = (fd->rx_head + 1) % MAX_FRAMES;
		fd->rx_count--;
	}
	return got;
}

static unsigned fake_tx(struct tn_dev *d, struct tn_pkt **pkts, unsigned n)
{
	struct fake_dev *fd = d->priv;
	for (unsigned i = 0; i < n; i++) {
		if (fd->tx_count == MAX_FRAMES) {
			fd->tx_lost++;
		} else {
			struct frame *fr = &fd->tx[(fd->tx_head + fd->tx_count++) % MAX_FRAMES];
			fr->len = pkts[i]->pkt_len;
			uint32_t keep = fr->len < FRAME_CAP ? fr->len : FRAME_CAP;
			assert_int_equal(tn_pkt_copy_out(pkts[i], 0, fr->b, keep), 0);
		}
		tn_pkt_free(pkts[i]);
	}
	return n;
}

static void fake_destroy(struct tn_dev *d) { free(d->priv); }

static const struct tn_dev_ops fake_ops = {
	.rx_burst = fake_rx, .tx_burst = fake_tx, .destroy = fake_destroy,
};

static struct fake_dev *fake_new(enum tn_dev_framing framing, uint8_t id)
{
	struct fake_dev *fd = calloc(1, sizeof(*fd));
	assert_non_null(fd);
	fd->dev.ops = &fake_ops;
	fd->dev.priv = fd;
	fd->dev.framing = framing;
	fd->dev.mtu = 1500;
	snprintf(fd->dev.name, sizeof(fd->dev.name), "fake%u", id);
	const uint8_t mac[6] = {0x02, 0x00, 0x5e, 0x10, 0x00, id};
	memcpy(fd->dev.mac, mac, 6);
	return fd;
}

/* ---- fixture ---- */

struct fx {
	struct tn_stack *s;
	struct fake_dev *d;
	int ifindex;
	uint64_t now;
	uint32_t base; /* buffers in use when idle */
};

static void poll_now(struct fx *f) { tern_poll(f->s, f->now); }

/* Advance the clock to t in 10 ms steps, as a real poll loop would. */
static void run_to(struct fx *f, uint64_t t)
{
	while (f->now + 10 * MS <= t) {
		f->now += 10 * MS;
		poll_now(f);
	}
	f->now = t;
	poll_now(f);
}

static void run_for(struct fx *f, uint64_t dt) { run_to(f, f->now + dt); }

static void clear_tx(struct fx *f)
{
	f->d->tx_head = 0;
	f->d->tx_count = 0;
}

/* A stack with one fake device holding 198.18.0.1/24.  With `drain`, the
 * gratuitous ARP sent on address add is discarded. */
static struct fx fx_new(enum tn_dev_framing framing, uint64_t seed, bool drain)
{
	struct fx f = {.now = 1 * SEC};
	struct tern_config cfg = {.seed = seed, .now = f.now, .pool_size = 512};
	f.s = tern_stack_new(&cfg);
	assert_non_null(f.s);
	f.d = fake_new(framing, 1);
	f.ifindex = tern_dev_attach(f.s, &f.d->dev);
	assert_true(f.ifindex > 0);
	assert_int_equal(tern_addr_add(f.s, f.ifindex, OUR_IP, 24), 0);
	poll_now(&f);
	f.base = tern_pool_in_use(f.s);
	if (drain)
		clear_tx(&f);
	return f;
}

static void fx_free(struct fx *f)
{
	assert_int_equal(f->d->tx_lost, 0);
	tern_stack_free(f->s);
}

/* Frees the stack after checking every buffer came back. */
static void fx_end(struct fx *f)
{
	poll_now(f);
	assert_int_equal(tern_pool_in_use(f->s), f->base);
	fx_free(f);
}

static int64_t ctr(struct fx *f, const char *name)
{
	int64_t v = tern_stat(f->s, name);
	assert_true(v >= 0);
	return v;
}

static struct tn_neigh *entry(struct fx *f, uint32_t ip) { return tn_neigh_lookup(&f->s->neigh, f->ifindex, ip); }

static int state_of(struct fx *f, uint32_t ip)
{
	struct tn_neigh *n = entry(f, ip);
	return n ? n->state : -1;
}

/* ---- frames out ---- */

static bool take(struct fx *f, struct frame *out)
{
	if (!f->d->tx_count)
		return false;
	*out = f->d->tx[f->d->tx_head];
	f->d->tx_head = (f->d->tx_head + 1) % MAX_FRAMES;
	f->d->tx_count--;
	return true;
}

/* Next frame as ARP (checking its framing and padding): its op, or -1 if
 * nothing was sent. */
static int take_arp(struct fx *f, struct tn_eth_hdr *eh, struct tn_arp_hdr *ah)
{
	struct frame fr;
	if (!take(f, &fr))
		return -1;
	assert_int_equal(tn_eth_parse(fr.b, fr.len, eh), TN_ETH_HLEN);
	assert_int_equal(eh->type, TN_ETHERTYPE_ARP);
	assert_int_equal(fr.len, 60); /* padded to the Ethernet minimum */
	assert_memory_equal(eh->src, f->d->dev.mac, 6);
	for (uint32_t i = TN_ETH_HLEN + TN_ARP_LEN; i < fr.len; i++)
		assert_int_equal(fr.b[i], 0);
	assert_int_equal(tn_arp_parse(fr.b + TN_ETH_HLEN, fr.len - TN_ETH_HLEN, ah), TN_ARP_LEN);
	assert_memory_equal(ah->sha, f->d->dev.mac, 6);
	return ah->op;
}

/* Next frame as one of our test IPv4 packets: its tag, dst MAC in dst. */
static int take_ip(struct fx *f, uint8_t *dst)
{
	struct frame fr;
	if (!take(f, &fr))
		return -1;
	struct tn_eth_hdr eh;
	assert_int_equal(tn_eth_parse(fr.b, fr.len, &eh), TN_ETH_HLEN);
	assert_int_equal(eh.type, TN_ETHERTYPE_IPV4);
	assert_memory_equal(eh.src, f->d->dev.mac, 6);
	assert_int_equal(fr.len, TN_ETH_HLEN + IP_PKT_LEN);
	memcpy(dst, eh.dst, 6);
	return fr.b[TN_ETH_HLEN + TN_IPV4_HLEN];
}

static void expect_silence(struct fx *f) { assert_int_equal(f->d->tx_count, 0); }

/* ---- frames and packets in ---- */

static void inject(struct fx *f, const uint8_t *b, uint32_t len)
{
	assert_true(f->d->rx_count < MAX_FRAMES && len <= FRAME_CAP);
	struct frame *fr = &f->d->rx[(f->d->rx_head + f->d->rx_count++) % MAX_FRAMES];
	fr->len = len;
	memcpy(fr->b, b, len);
	poll_now(f);
}

static void inject_arp(struct fx *f, const uint8_t *eth_dst, uint16_t op, const uint8_t *sha, uint32_t spa,
		       const uint8_t *tha, uint32_t tpa)
{
	uint8_t fr[60] = {0};
	struct tn_eth_hdr eh = {.type = TN_ETHERTYPE_ARP};
	memcpy(eh.dst, eth_dst, 6);
	memcpy(eh.src, sha, 6);
	tn_eth_emit(&eh, fr, sizeof(fr));
	struct tn_arp_hdr ah = {.op = op, .spa = spa, .tpa = tpa};
	memcpy(ah.sha, sha, 6);
	memcpy(ah.tha, tha, 6);
	tn_arp_emit(&ah, fr + TN_ETH_HLEN, sizeof(fr) - TN_ETH_HLEN);
	inject(f, fr, sizeof(fr));
}

static void inject_request(struct fx *f, const uint8_t *sha, uint32_t spa, uint32_t tpa)
{
	inject_arp(f, bcast, TN_ARP_REQUEST, sha, spa, zero6, tpa);
}

/* A reply sent to our MAC, as an answer to our request. */
static void inject_reply(struct fx *f, const uint8_t *sha, uint32_t spa)
{
	inject_arp(f, f->d->dev.mac, TN_ARP_REPLY, sha, spa, f->d->dev.mac, OUR_IP);
}

/* A 40-byte IPv4 packet whose payload is `tag` repeated. */
static struct tn_pkt *ip_pkt(struct fx *f, uint32_t src, uint32_t dst, uint8_t tag, uint32_t flags)
{
	struct tn_pkt *p = tn_pkt_alloc(f->s->pool);
	assert_non_null(p);
	uint8_t *b = tn_pkt_put(p, IP_PKT_LEN);
	struct tn_ipv4_hdr h = {
		.tot_len = IP_PKT_LEN, .ttl = 64, .proto = TN_IPPROTO_UDP, .src = src, .dst = dst,
	};
	assert_int_equal(tn_ipv4_emit(&h, b, IP_PKT_LEN), TN_IPV4_HLEN);
	memset(b + TN_IPV4_HLEN, tag, IP_PKT_LEN - TN_IPV4_HLEN);
	p->l3_off = tn_pkt_off(p, b);
	p->flags = flags;
	return p;
}

static void send_to(struct fx *f, uint32_t nexthop, uint8_t tag)
{
	tn_neigh_output(f->s, f->ifindex, nexthop, ip_pkt(f, OUR_IP, nexthop, tag, TN_PKT_LOCAL_OUT));
	poll_now(f);
}

/* Resolve PEER_IP: request, reply, REACHABLE; frames cleared. */
static void resolve_peer(struct fx *f)
{
	send_to(f, PEER_IP, 1);
	inject_reply(f, peer_mac, PEER_IP);
	assert_int_equal(state_of(f, PEER_IP), TN_NUD_REACHABLE);
	clear_tx(f);
}

/* ---- tests ---- */

static void test_gratuitous_on_address_add(void **state)
{
	(void)state;
	struct fx f = fx_new(TN_DEV_L2, 1, false);
	struct tn_eth_hdr eh;
	struct tn_arp_hdr ah;
	assert_int_equal(take_arp(&f, &eh, &ah), TN_ARP_REQUEST);
	assert_memory_equal(eh.dst, bcast, 6);
	assert_int_equal(ah.spa, OUR_IP);
	assert_int_equal(ah.tpa, OUR_IP);
	assert_memory_equal(ah.tha, zero6, 6);
	expect_silence(&f);
	assert_int_equal(ctr(&f, "TernExtArpOutGratuitous"), 1);
	assert_int_equal(ctr(&f, "TernExtArpOutRequests"), 0);

	assert_int_equal(tern_addr_add(f.s, f.ifindex, IP4(10, 7, 0, 1), 16), 0);
	poll_now(&f);
	assert_int_equal(take_arp(&f, &eh, &ah), TN_ARP_REQUEST);
	assert_int_equal(ah.spa, IP4(10, 7, 0, 1));
	assert_int_equal(ah.tpa, IP4(10, 7, 0, 1));
	assert_int_equal(ctr(&f, "TernExtArpOutGratuitous"), 2);
	assert_int_equal(f.s->neigh.count, 0);
	fx_end(&f);
}

static void test_unknown_neighbour_queues_and_asks(void **state)
{
	(void)state;
	struct fx f = fx_new(TN_DEV_L2, 2, true);
	send_to(&f, PEER_IP, 1);
	struct tn_eth_hdr eh;
	struct tn_arp_hdr ah;
	assert_int_equal(take_arp(&f, &eh, &ah), TN_ARP_REQUEST);
	assert_memory_equal(eh.dst, bcast, 6);
	assert_int_equal(ah.spa, OUR_IP);
	assert_int_equal(ah.tpa, PEER_IP);
	assert_memory_equal(ah.tha, zero6, 6);
	expect_silence(&f); /* the packet itself waits */
	struct tn_neigh *n = entry(&f, PEER_IP);
	assert_non_null(n);
	assert_int_equal(n->state, TN_NUD_INCOMPLETE);
	assert_int_equal(n->pending.count, 1);
	assert_int_equal(n->pending.bytes, IP_PKT_LEN);

	send_to(&f, PEER_IP, 2); /* joins the queue, no second request */
	expect_silence(&f);
	assert_int_equal(n->pending.count, 2);
	assert_int_equal(n->pending.bytes, 2 * IP_PKT_LEN);
	assert_int_equal(ctr(&f, "TernExtArpOutRequests"), 1);

	/* The request's source is our address on the target's subnet. */
	assert_int_equal(tern_addr_add(f.s, f.ifindex, IP4(10, 7, 0, 1), 16), 0);
	poll_now(&f);
	clear_tx(&f);
	send_to(&f, IP4(10, 7, 2, 3), 3);
	assert_int_equal(take_arp(&f, &eh, &ah), TN_ARP_REQUEST);
	assert_int_equal(ah.spa, IP4(10, 7, 0, 1));
	assert_int_equal(ah.tpa, IP4(10, 7, 2, 3));
	fx_free(&f);
}

static void test_resolution_fails_after_three_tries(void **state)
{
	(void)state;
	struct fx f = fx_new(TN_DEV_L2, 3, true);
	const uint32_t origin = IP4(198, 18, 0, 50);
	assert_int_equal(tn_neigh_add_permanent(f.s, f.ifindex, origin, other_mac), 0);
	uint64_t t0 = f.now;
	send_to(&f, PEER_IP, 1);
	/* A forwarded packet from `origin`: its sender hears of the failure. */
	tn_neigh_output(f.s, f.ifindex, PEER_IP, ip_pkt(&f, origin, PEER_IP, 2, TN_PKT_FORWARDED));
	struct tn_eth_hdr eh;
	struct tn_arp_hdr ah;
	poll_now(&f);
	assert_int_equal(take_arp(&f, &eh, &ah), TN_ARP_REQUEST);
	for (int i = 1; i < 3; i++) {
		run_to(&f, t0 + (uint64_t)i * SEC - 10 * MS);
		expect_silence(&f);
		run_to(&f, t0 + (uint64_t)i * SEC);
		assert_int_equal(take_arp(&f, &eh, &ah), TN_ARP_REQUEST);
		assert_memory_equal(eh.dst, bcast, 6);
		assert_int_equal(ah.tpa, PEER_IP);
	}
	run_to(&f, t0 + 3 * SEC - 10 * MS);
	assert_int_equal(state_of(&f, PEER_IP), TN_NUD_INCOMPLETE);
	assert_int_equal(ctr(&f, "TernExtNeighResolveFailed"), 0);
	run_to(&f, t0 + 3 * SEC);
	assert_int_equal(state_of(&f, PEER_IP), TN_NUD_FAILED);
	assert_int_equal(entry(&f, PEER_IP)->pending.count, 0);
	assert_int_equal(ctr(&f, "TernExtNeighResolveFailed"), 2);
	assert_int_equal(ctr(&f, "TernExtArpOutRequests"), 3);

	/* Exactly one ICMP host unreachable, to the forwarded packet's source. */
	struct frame fr;
	assert_true(take(&f, &fr));
	struct tn_eth_hdr ieh;
	assert_int_equal(tn_eth_parse(fr.b, fr.len, &ieh), TN_ETH_HLEN);
	assert_int_equal(ieh.type, TN_ETHERTYPE_IPV4);
	assert_memory_equal(ieh.dst, other_mac, 6);
	struct tn_ipv4_hdr ih;
	int ihl = tn_ipv4_parse(fr.b + TN_ETH_HLEN, fr.len - TN_ETH_HLEN, &ih);
	assert_int_equal(ihl, TN_IPV4_HLEN);
	assert_int_equal(ih.proto, TN_IPPROTO_ICMP);
	assert_int_equal(ih.dst, origin);
	struct tn_icmp_hdr ic;
	assert_true(tn_icmp_parse(fr.b + TN_ETH_HLEN + ihl, fr.len - TN_ETH_HLEN - (uint32_t)ihl, &ic) > 0);
	assert_int_equal(ic.type, TN_ICMP_DEST_UNREACH);
	assert_int_equal(ic.code, TN_ICMP_HOST_UNREACH);
	expect_silence(&f);
	run_for(&f, 2 * SEC); /* no more tries */
	expect_silence(&f);
	assert_int_equal(tern_pool_in_use(f.s), f.base);

	/* A FAILED entry is tried afresh on the next packet. */
	send_to(&f, PEER_IP, 3);
	assert_int_equal(take_arp(&f, &eh, &ah), TN_ARP_REQUEST);
	assert_int_equal(state_of(&f, PEER_IP), TN_NUD_INCOMPLETE);
	run_for(&f, 3 * SEC);
	assert_int_equal(state_of(&f, PEER_IP), TN_NUD_FAILED);
	assert_int_equal(ctr(&f, "TernExtNeighResolveFailed"), 3);
	/* and is removed later, without touching the permanent one */
	run_for(&f, 16 * SEC);
	assert_null(entry(&f, PEER_IP));
	assert_int_equal(state_of(&f, origin), TN_NUD_PERMANENT);
	clear_tx(&f);
	fx_end(&f);
}

/* The ICMP error about a forwarded packet goes back to a sender behind the
 * very neighbour that failed: resolution starts again for it (as in Linux)
 * and the second failure ends the story, the error itself being dropped. */
static void test_failure_report_to_the_failed_neighbour(void **state)
{
	(void)state;
	struct fx f = fx_new(TN_DEV_L2, 22, true);
	tn_neigh_output(f.s, f.ifindex, PEER_IP, ip_pkt(&f, PEER_IP, IP4(198, 18, 0, 77), 1, TN_PKT_FORWARDED));
	run_for(&f, 3 * SEC);
	struct tn_neigh *n = entry(&f, PEER_IP);
	assert_int_equal(n->state, TN_NUD_INCOMPLETE);
	assert_int_equal(n->pending.count, 1); /* the ICMP error */
	assert_int_equal(ctr(&f, "TernExtNeighResolveFailed"), 1);
	run_for(&f, 3 * SEC);
	assert_int_equal(state_of(&f, PEER_IP), TN_NUD_FAILED);
	assert_int_equal(ctr(&f, "TernExtNeighResolveFailed"), 2);
	assert_int_equal(ctr(&f, "TernExtArpOutRequests"), 6);
	run_for(&f, 20 * SEC);
	assert_null(entry(&f, PEER_IP));
	clear_tx(&f);
	fx_end(&f);
}

static void test_reply_releases_queue_in_order(void **state)
{
	(void)state;
	struct fx f = fx_new(TN_DEV_L2, 4, true);
	for (uint8_t tag = 1; tag <= 3; tag++)
		send_to(&f, PEER_IP, tag);
	clear_tx(&f);
	inject_reply(&f, peer_mac, PEER_IP);
	struct tn_neigh *n = entry(&f, PEER_IP);
	assert_int_equal(n->state, TN_NUD_REACHABLE);
	assert_memory_equal(n->mac, peer_mac, 6);
	assert_int_equal(n->pending.count, 0);
	assert_int_equal(n->pending.bytes, 0);
	uint8_t dst[6];
	for (int tag = 1; tag <= 3; tag++) {
		assert_int_equal(take_ip(&f, dst), tag);
		assert_memory_equal(dst, peer_mac, 6);
	}
	expect_silence(&f);
	assert_int_equal(ctr(&f, "TernExtArpInReplies"), 1);
	/* Resolved: the next packet leaves at once, no ARP. */
	send_to(&f, PEER_IP, 4);
	assert_int_equal(take_ip(&f, dst), 4);
	assert_memory_equal(dst, peer_mac, 6);
	expect_silence(&f);
	/* No retry is left armed. */
	run_for(&f, 5 * SEC);
	expect_silence(&f);
	assert_int_equal(ctr(&f, "TernExtArpOutRequests"), 1);
	fx_end(&f);
}

static void test_reachable_turns_stale_at_random_time(void **state)
{
	(void)state;
	uint64_t seen[4];
	for (int i = 0; i < 4; i++) {
		struct fx f = fx_new(TN_DEV_L2, 100 + (uint64_t)i, true);
		resolve_peer(&f);
		uint64_t t0 = f.now;
		while (state_of(&f, PEER_IP) == TN_NUD_REACHABLE && f.now < t0 + 60 * SEC)
			run_for(&f, 100 * MS);
		assert_int_equal(state_of(&f, PEER_IP), TN_NUD_STALE);
		seen[i] = f.now - t0;
		assert_true(seen[i] >= 15 * SEC);
		assert_true(seen[i] <= 45 * SEC + 100 * MS);
		expect_silence(&f); /* going STALE sends nothing */
		fx_end(&f);
	}
	assert_false(seen[0] == seen[1] && seen[1] == seen[2] && seen[2] == seen[3]);
}

/* Bring PEER_IP to STALE, then use it: DELAY. */
static void peer_to_delay(struct fx *f)
{
	resolve_peer(f);
	run_for(f, 46 * SEC);
	assert_int_equal(state_of(f, PEER_IP), TN_NUD_STALE);
	send_to(f, PEER_IP, 7);
	uint8_t dst[6];
	assert_int_equal(take_ip(f, dst), 7); /* a STALE entry still carries traffic */
	assert_memory_equal(dst, peer_mac, 6);
	assert_int_equal(state_of(f, PEER_IP), TN_NUD_DELAY);
}

static void test_stale_delay_probe_reachable(void **state)
{
	(void)state;
	struct fx f = fx_new(TN_DEV_L2, 5, true);
	peer_to_delay(&f);
	uint64_t t0 = f.now;
	run_to(&f, t0 + 5 * SEC - 10 * MS);
	assert_int_equal(state_of(&f, PEER_IP), TN_NUD_DELAY);
	expect_silence(&f);
	run_to(&f, t0 + 5 * SEC);
	assert_int_equal(state_of(&f, PEER_IP), TN_NUD_PROBE);
	struct tn_eth_hdr eh;
	struct tn_arp_hdr ah;
	assert_int_equal(take_arp(&f, &eh, &ah), TN_ARP_REQUEST);
	assert_memory_equal(eh.dst, peer_mac, 6); /* unicast to the MAC we know */
	assert_int_equal(ah.tpa, PEER_IP);
	assert_int_equal(ah.spa, OUR_IP);
	assert_memory_equal(ah.tha, zero6, 6);
	/* While probing, traffic keeps flowing to the known MAC. */
	send_to(&f, PEER_IP, 8);
	uint8_t dst[6];
	assert_int_equal(take_ip(&f, dst), 8);
	assert_memory_equal(dst, peer_mac, 6);
	inject_reply(&f, peer_mac, PEER_IP);
	assert_int_equal(state_of(&f, PEER_IP), TN_NUD_REACHABLE);
	run_for(&f, 5 * SEC);
	expect_silence(&f);
	fx_end(&f);
}

static void test_probe_without_reply_fails(void **state)
{
	(void)state;
	struct fx f = fx_new(TN_DEV_L2, 6, true);
	peer_to_delay(&f);
	uint64_t t0 = f.now + 5 * SEC; /* DELAY ends */
	struct tn_eth_hdr eh;
	struct tn_arp_hdr ah;
	for (int i = 0; i < 3; i++) {
		run_to(&f, t0 + (uint64_t)i * SEC);
		assert_int_equal(state_of(&f, PEER_IP), TN_NUD_PROBE);
		assert_int_equal(take_arp(&f, &eh, &ah), TN_ARP_REQUEST);
		assert_memory_equal(eh.dst, peer_mac, 6);
		expect_silence(&f);
	}
	run_to(&f, t0 + 3 * SEC);
	assert_int_equal(state_of(&f, PEER_IP), TN_NUD_FAILED);
	expect_silence(&f);
	assert_int_equal(ctr(&f, "TernExtNeighResolveFailed"), 0); /* nothing was waiting */
	/* Next use starts over with a broadcast. */
	send_to(&f, PEER_IP, 9);
	assert_int_equal(take_arp(&f, &eh, &ah), TN_ARP_REQUEST);
	assert_memory_equal(eh.dst, bcast, 6);
	assert_int_equal(state_of(&f, PEER_IP), TN_NUD_INCOMPLETE);
	inject_reply(&f, peer_mac, PEER_IP);
	uint8_t dst[6];
	assert_int_equal(take_ip(&f, dst), 9);
	fx_end(&f);
}

static void test_request_for_us_is_answered(void **state)
{
	(void)state;
	struct fx f = fx_new(TN_DEV_L2, 7, true);
	const uint32_t asker = IP4(198, 18, 0, 9);
	inject_request(&f, peer_mac, asker, OUR_IP);
	struct tn_eth_hdr eh;
	struct tn_arp_hdr ah;
	assert_int_equal(take_arp(&f, &eh, &ah), TN_ARP_REPLY);
	assert_memory_equal(eh.dst, peer_mac, 6); /* unicast to the requester */
	assert_int_equal(ah.spa, OUR_IP);
	assert_memory_equal(ah.tha, peer_mac, 6);
	assert_int_equal(ah.tpa, asker);
	expect_silence(&f);
	assert_int_equal(ctr(&f, "TernExtArpInRequests"), 1);
	assert_int_equal(ctr(&f, "TernExtArpOutReplies"), 1);
	/* The requester is learned STALE, as Linux does. */
	struct tn_neigh *n = entry(&f, asker);
	assert_non_null(n);
	assert_int_equal(n->state, TN_NUD_STALE);
	assert_memory_equal(n->mac, peer_mac, 6);

	/* arp_ignore=0: an address of another interface is answered too. */
	struct fake_dev *d2 = fake_new(TN_DEV_L2, 2);
	int if2 = tern_dev_attach(f.s, &d2->dev);
	assert_int_equal(tern_addr_add(f.s, if2, IP4(10, 2, 0, 1), 24), 0);
	inject_request(&f, other_mac, IP4(198, 18, 0, 10), IP4(10, 2, 0, 1));
	assert_int_equal(take_arp(&f, &eh, &ah), TN_ARP_REPLY);
	assert_int_equal(ah.spa, IP4(10, 2, 0, 1));
	assert_memory_equal(eh.dst, other_mac, 6);
	assert_int_equal(ctr(&f, "TernExtArpOutReplies"), 2);
	fx_end(&f);
}

static void test_request_for_others_is_ignored(void **state)
{
	(void)state;
	struct fx f = fx_new(TN_DEV_L2, 8, true);
	inject_request(&f, peer_mac, IP4(198, 18, 0, 9), IP4(198, 18, 0, 77));
	expect_silence(&f);
	assert_int_equal(ctr(&f, "TernExtArpInRequests"), 1);
	assert_int_equal(ctr(&f, "TernExtArpInNotForUs"), 1);
	assert_int_equal(ctr(&f, "TernExtArpOutReplies"), 0);
	assert_int_equal(f.s->neigh.count, 0);
	/* A request that claims our own address as its sender is neither
	 * answered nor learned. */
	inject_request(&f, peer_mac, OUR_IP, OUR_IP);
	inject_request(&f, peer_mac, OUR_IP, IP4(198, 18, 0, 77));
	expect_silence(&f);
	assert_int_equal(f.s->neigh.count, 0);
	fx_end(&f);
}

static void test_probe_from_zero_is_answered_not_learned(void **state)
{
	(void)state;
	struct fx f = fx_new(TN_DEV_L2, 9, true);
	inject_request(&f, peer_mac, 0, OUR_IP);
	struct tn_eth_hdr eh;
	struct tn_arp_hdr ah;
	assert_int_equal(take_arp(&f, &eh, &ah), TN_ARP_REPLY);
	assert_memory_equal(eh.dst, peer_mac, 6);
	assert_int_equal(ah.spa, OUR_IP);
	assert_int_equal(ah.tpa, 0);
	assert_memory_equal(ah.tha, peer_mac, 6);
	assert_int_equal(f.s->neigh.count, 0);
	assert_null(entry(&f, 0));
	/* A probe for someone else's address gets nothing. */
	inject_request(&f, peer_mac, 0, IP4(198, 18, 0, 33));
	expect_silence(&f);
	assert_int_equal(f.s->neigh.count, 0);
	fx_end(&f);
}

static void test_gratuitous_updates_known_entries_only(void **state)
{
	(void)state;
	struct fx f = fx_new(TN_DEV_L2, 10, true);
	const uint32_t host = IP4(198, 18, 0, 9);
	inject_request(&f, peer_mac, IP4(198, 18, 0, 20), IP4(198, 18, 0, 20));
	expect_silence(&f);
	assert_null(entry(&f, IP4(198, 18, 0, 20))); /* arp_accept=0 */
	inject_arp(&f, bcast, TN_ARP_REPLY, peer_mac, IP4(198, 18, 0, 21), bcast, IP4(198, 18, 0, 21));
	assert_null(entry(&f, IP4(198, 18, 0, 21)));

	inject_request(&f, peer_mac, host, OUR_IP); /* learned */
	clear_tx(&f);
	/* Announced within the locktime: gratuitous ARP still overrides. */
	inject_request(&f, other_mac, host, host);
	expect_silence(&f);
	assert_memory_equal(entry(&f, host)->mac, other_mac, 6);
	assert_int_equal(state_of(&f, host), TN_NUD_STALE);
	/* A gratuitous reply (broadcast) does the same. */
	inject_arp(&f, bcast, TN_ARP_REPLY, third_mac, host, bcast, host);
	assert_memory_equal(entry(&f, host)->mac, third_mac, 6);
	assert_int_equal(state_of(&f, host), TN_NUD_STALE);
	assert_int_equal(f.s->neigh.count, 1);
	fx_end(&f);
}

static void test_locktime_and_confirmation(void **state)
{
	(void)state;
	struct fx f = fx_new(TN_DEV_L2, 11, true);
	resolve_peer(&f);
	/* A request we overhear, moments after the reply, with another MAC:
	 * ignored (locktime); the same MAC does not demote REACHABLE. */
	inject_request(&f, other_mac, PEER_IP, IP4(198, 18, 0, 77));
	assert_memory_equal(entry(&f, PEER_IP)->mac, peer_mac, 6);
	inject_request(&f, peer_mac, PEER_IP, IP4(198, 18, 0, 77));
	assert_int_equal(state_of(&f, PEER_IP), TN_NUD_REACHABLE);
	/* A conflicting unicast reply within the locktime is ignored too. */
	inject_reply(&f, other_mac, PEER_IP);
	assert_memory_equal(entry(&f, PEER_IP)->mac, peer_mac, 6);
	assert_int_equal(state_of(&f, PEER_IP), TN_NUD_REACHABLE);
	/* After it, the new MAC is taken, unverified: STALE. */
	run_for(&f, 1 * SEC);
	inject_request(&f, other_mac, PEER_IP, IP4(198, 18, 0, 77));
	assert_memory_equal(entry(&f, PEER_IP)->mac, other_mac, 6);
	assert_int_equal(state_of(&f, PEER_IP), TN_NUD_STALE);
	/* A reply that is not sent to us (broadcast) makes an INCOMPLETE
	 * entry usable but unverified. */
	send_to(&f, IP4(198, 18, 0, 3), 5);
	clear_tx(&f);
	inject_arp(&f, bcast, TN_ARP_REPLY, third_mac, IP4(198, 18, 0, 3), bcast, OUR_IP);
	assert_int_equal(state_of(&f, IP4(198, 18, 0, 3)), TN_NUD_STALE);
	uint8_t dst[6];
	assert_int_equal(take_ip(&f, dst), 5);
	assert_memory_equal(dst, third_mac, 6);
	/* Replies from hosts we never asked for are not learned. */
	inject_reply(&f, peer_mac, IP4(198, 18, 0, 30));
	assert_null(entry(&f, IP4(198, 18, 0, 30)));
	fx_end(&f);
}

static void test_malformed_arp_counted(void **state)
{
	(void)state;
	struct fx f = fx_new(TN_DEV_L2, 12, true);
	uint8_t good[60] = {0};
	struct tn_eth_hdr eh = {.type = TN_ETHERTYPE_ARP};
	memcpy(eh.dst, bcast, 6);
	memcpy(eh.src, peer_mac, 6);
	tn_eth_emit(&eh, good, sizeof(good));
	struct tn_arp_hdr ah = {.op = TN_ARP_REQUEST, .spa = IP4(198, 18, 0, 9), .tpa = OUR_IP};
	memcpy(ah.sha, peer_mac, 6);
	tn_arp_emit(&ah, good + TN_ETH_HLEN, sizeof(good) - TN_ETH_HLEN);

	uint8_t fr[60];
	memcpy(fr, good, 60);
	inject(&f, fr, TN_ETH_HLEN + 20); /* truncated */
	inject(&f, fr, TN_ETH_HLEN + TN_ARP_LEN - 1);
	fr[TN_ETH_HLEN + 1] = 6; /* htype 6 (IEEE 802) */
	inject(&f, fr, 60);
	memcpy(fr, good, 60);
	fr[TN_ETH_HLEN + 2] = 0x86; /* ptype IPv6 */
	inject(&f, fr, 60);
	memcpy(fr, good, 60);
	fr[TN_ETH_HLEN + 4] = 8; /* hlen */
	inject(&f, fr, 60);
	memcpy(fr, good, 60);
	fr[TN_ETH_HLEN + 7] = 3; /* op 3 (RARP) */
	inject(&f, fr, 60);
	assert_int_equal(ctr(&f, "TernExtArpInErrors"), 6);
	/* Senders that cannot be neighbours. */
	const uint8_t mcast_mac[6] = {0x01, 0x00, 0x5e, 0, 0, 1};
	inject_request(&f, bcast, IP4(198, 18, 0, 9), OUR_IP);
	inject_request(&f, mcast_mac, IP4(198, 18, 0, 9), OUR_IP);
	inject_request(&f, zero6, IP4(198, 18, 0, 9), OUR_IP);
	inject_request(&f, peer_mac, IP4(224, 0, 0, 1), OUR_IP);
	inject_request(&f, peer_mac, IP4(127, 0, 0, 1), OUR_IP);
	inject_request(&f, peer_mac, IP4(255, 255, 255, 255), OUR_IP);
	/* Targets that cannot be on a link (Linux drops them too). */
	inject_request(&f, peer_mac, IP4(198, 18, 0, 9), IP4(224, 0, 0, 1));
	inject_request(&f, peer_mac, IP4(198, 18, 0, 9), IP4(127, 0, 0, 1));
	assert_int_equal(ctr(&f, "TernExtArpInErrors"), 14);
	assert_int_equal(ctr(&f, "TernExtArpInRequests"), 0);
	expect_silence(&f);
	assert_int_equal(f.s->neigh.count, 0);
	/* The good one still works. */
	inject(&f, good, 60);
	struct tn_eth_hdr reh;
	struct tn_arp_hdr rah;
	assert_int_equal(take_arp(&f, &reh, &rah), TN_ARP_REPLY);
	fx_end(&f);
}

static void test_queue_overflow_drops_oldest(void **state)
{
	(void)state;
	struct fx f = fx_new(TN_DEV_L2, 13, true);
	assert_int_equal(tern_sysctl_set(f.s, "net.ipv4.neigh.default.unres_qlen_bytes", "100"), 0);
	for (uint8_t tag = 1; tag <= 5; tag++)
		send_to(&f, PEER_IP, tag);
	assert_int_equal(ctr(&f, "TernExtNeighQueueOverflow"), 3); /* 2 x 40 bytes fit in 100 */
	struct tn_neigh *n = entry(&f, PEER_IP);
	assert_int_equal(n->pending.count, 2);
	assert_int_equal(n->pending.bytes, 2 * IP_PKT_LEN);
	clear_tx(&f);
	inject_reply(&f, peer_mac, PEER_IP);
	uint8_t dst[6];
	assert_int_equal(take_ip(&f, dst), 4); /* the newest survive, in order */
	assert_int_equal(take_ip(&f, dst), 5);
	expect_silence(&f);

	/* As in Linux, one packet larger than the limit is still held. */
	assert_int_equal(tern_sysctl_set(f.s, "net.ipv4.neigh.default.unres_qlen_bytes", "10"), 0);
	send_to(&f, IP4(198, 18, 0, 3), 6);
	send_to(&f, IP4(198, 18, 0, 3), 7);
	assert_int_equal(entry(&f, IP4(198, 18, 0, 3))->pending.count, 1);
	assert_int_equal(ctr(&f, "TernExtNeighQueueOverflow"), 4);
	clear_tx(&f);
	inject_reply(&f, third_mac, IP4(198, 18, 0, 3));
	assert_int_equal(take_ip(&f, dst), 7);
	fx_end(&f);
}

static void test_l3_device_needs_no_arp(void **state)
{
	(void)state;
	struct fx f = fx_new(TN_DEV_L3, 14, false);
	expect_silence(&f); /* no gratuitous ARP on a TUN */
	send_to(&f, PEER_IP, 1);
	struct frame fr;
	assert_true(take(&f, &fr));
	assert_int_equal(fr.len, IP_PKT_LEN); /* raw IP, nothing prepended */
	assert_int_equal(fr.b[0], 0x45);
	assert_int_equal(fr.b[TN_IPV4_HLEN], 1);
	expect_silence(&f);
	assert_int_equal(f.s->neigh.count, 0);
	assert_int_equal(ctr(&f, "TernExtArpOutRequests"), 0);
	tn_arp_announce(f.s, f.ifindex, OUR_IP);
	poll_now(&f);
	expect_silence(&f);
	assert_int_equal(ctr(&f, "TernExtArpOutGratuitous"), 0);
	fx_end(&f);
}

static void test_broadcast_and_multicast_need_no_arp(void **state)
{
	(void)state;
	struct fx f = fx_new(TN_DEV_L2, 15, true);
	uint8_t dst[6];
	send_to(&f, IP4(255, 255, 255, 255), 1);
	assert_int_equal(take_ip(&f, dst), 1);
	assert_memory_equal(dst, bcast, 6);
	send_to(&f, IP4(198, 18, 0, 255), 2); /* subnet broadcast */
	assert_int_equal(take_ip(&f, dst), 2);
	assert_memory_equal(dst, bcast, 6);
	send_to(&f, IP4(224, 0, 0, 251), 3);
	assert_int_equal(take_ip(&f, dst), 3);
	const uint8_t mdns[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb};
	assert_memory_equal(dst, mdns, 6);
	send_to(&f, IP4(239, 255, 255, 250), 4); /* the 24th bit is not mapped */
	assert_int_equal(take_ip(&f, dst), 4);
	const uint8_t ssdp[6] = {0x01, 0x00, 0x5e, 0x7f, 0xff, 0xfa};
	assert_memory_equal(dst, ssdp, 6);
	expect_silence(&f);
	assert_int_equal(f.s->neigh.count, 0);
	assert_int_equal(ctr(&f, "TernExtArpOutRequests"), 0);
	fx_end(&f);
}

static void test_no_buffers(void **state)
{
	(void)state;
	struct fx f = fx_new(TN_DEV_L2, 16, true);
	struct tn_pkt *held[600];
	unsigned nheld = 0;
	struct tn_pkt *spare = ip_pkt(&f, OUR_IP, PEER_IP, 1, TN_PKT_LOCAL_OUT);
	while (nheld < 600 && (held[nheld] = tn_pkt_alloc(f.s->pool)) != NULL)
		nheld++;
	assert_true(nheld < 600);
	tn_arp_announce(f.s, f.ifindex, OUR_IP);
	assert_int_equal(ctr(&f, "TernExtNoBufs"), 1);
	assert_int_equal(ctr(&f, "TernExtArpOutGratuitous"), 1); /* only the one on add */
	/* The request cannot be built, but the packet waits and the retry
	 * goes out once buffers are back. */
	tn_neigh_output(f.s, f.ifindex, PEER_IP, spare);
	assert_int_equal(ctr(&f, "TernExtNoBufs"), 2);
	assert_int_equal(ctr(&f, "TernExtArpOutRequests"), 0);
	assert_int_equal(state_of(&f, PEER_IP), TN_NUD_INCOMPLETE);
	poll_now(&f);
	expect_silence(&f);
	for (unsigned i = 0; i < nheld; i++)
		tn_pkt_free(held[i]);
	run_for(&f, 1 * SEC);
	struct tn_eth_hdr eh;
	struct tn_arp_hdr ah;
	assert_int_equal(take_arp(&f, &eh, &ah), TN_ARP_REQUEST);
	assert_int_equal(ctr(&f, "TernExtArpOutRequests"), 1);
	inject_reply(&f, peer_mac, PEER_IP);
	uint8_t dst[6];
	assert_int_equal(take_ip(&f, dst), 1);
	fx_end(&f);
}

static void test_permanent_entries(void **state)
{
	(void)state;
	struct fx f = fx_new(TN_DEV_L2, 17, true);
	const uint32_t gw = IP4(198, 18, 0, 60);
	assert_int_equal(tn_neigh_add_permanent(f.s, f.ifindex, gw, other_mac), 0);
	assert_int_equal(state_of(&f, gw), TN_NUD_PERMANENT);
	send_to(&f, gw, 1);
	uint8_t dst[6];
	assert_int_equal(take_ip(&f, dst), 1);
	assert_memory_equal(dst, other_mac, 6);
	expect_silence(&f);
	/* ARP cannot change it, and it never ages. */
	run_for(&f, 2 * SEC);
	inject_reply(&f, peer_mac, gw);
	inject_request(&f, peer_mac, gw, gw);
	assert_memory_equal(entry(&f, gw)->mac, other_mac, 6);
	run_for(&f, 200 * SEC);
	assert_int_equal(state_of(&f, gw), TN_NUD_PERMANENT);
	expect_silence(&f);
	/* Making an unresolved neighbour permanent releases what waits. */
	send_to(&f, PEER_IP, 2);
	clear_tx(&f);
	assert_int_equal(tn_neigh_add_permanent(f.s, f.ifindex, PEER_IP, third_mac), 0);
	poll_now(&f);
	assert_int_equal(take_ip(&f, dst), 2);
	assert_memory_equal(dst, third_mac, 6);
	run_for(&f, 5 * SEC); /* and its retry timer is gone */
	expect_silence(&f);
	fx_end(&f);
}

static void test_flush_dev_drops_pending(void **state)
{
	(void)state;
	struct fx f = fx_new(TN_DEV_L2, 18, true);
	assert_int_equal(tn_neigh_add_permanent(f.s, f.ifindex, IP4(198, 18, 0, 50), other_mac), 0);
	send_to(&f, PEER_IP, 1);
	tn_neigh_output(f.s, f.ifindex, PEER_IP, ip_pkt(&f, IP4(198, 18, 0, 50), PEER_IP, 2, TN_PKT_FORWARDED));
	inject_request(&f, peer_mac, IP4(198, 18, 0, 9), OUR_IP);
	clear_tx(&f);
	assert_int_equal(f.s->neigh.count, 3);
	tn_neigh_flush_dev(f.s, f.ifindex);
	assert_int_equal(f.s->neigh.count, 0);
	assert_null(entry(&f, PEER_IP));
	assert_int_equal(ctr(&f, "TernExtNeighResolveFailed"), 2);
	poll_now(&f);
	expect_silence(&f); /* no ICMP: the device went away, resolution did not fail */
	run_for(&f, 10 * SEC); /* no timer survived */
	expect_silence(&f);
	fx_end(&f);
}

static void test_stale_garbage_collected(void **state)
{
	(void)state;
	struct fx f = fx_new(TN_DEV_L2, 19, true);
	const uint32_t host = IP4(198, 18, 0, 9);
	inject_request(&f, peer_mac, host, OUR_IP);
	clear_tx(&f);
	uint64_t t0 = f.now;
	run_to(&f, t0 + 60 * SEC - 10 * MS);
	assert_int_equal(state_of(&f, host), TN_NUD_STALE);
	run_to(&f, t0 + 60 * SEC);
	assert_null(entry(&f, host));
	assert_int_equal(f.s->neigh.count, 0);

	/* An entry in use is kept: used at 30 s, it is verified instead. */
	inject_request(&f, peer_mac, host, OUR_IP);
	clear_tx(&f);
	run_for(&f, 30 * SEC);
	send_to(&f, host, 1);
	assert_int_equal(state_of(&f, host), TN_NUD_DELAY);
	run_for(&f, 5 * SEC);
	inject_reply(&f, peer_mac, host);
	run_for(&f, 10 * SEC);
	assert_int_equal(state_of(&f, host), TN_NUD_REACHABLE);
	clear_tx(&f);
	fx_end(&f);
}

static void count_entry(const struct tn_neigh *n, void *arg)
{
	int *counts = arg;
	counts[n->state]++;
}

static void test_foreach_names_and_growth(void **state)
{
	(void)state;
	struct fx f = fx_new(TN_DEV_L2, 20, true);
	assert_string_equal(tn_nud_name(TN_NUD_NONE), "NONE");
	assert_string_equal(tn_nud_name(TN_NUD_INCOMPLETE), "INCOMPLETE");
	assert_string_equal(tn_nud_name(TN_NUD_REACHABLE), "REACHABLE");
	assert_string_equal(tn_nud_name(TN_NUD_STALE), "STALE");
	assert_string_equal(tn_nud_name(TN_NUD_DELAY), "DELAY");
	assert_string_equal(tn_nud_name(TN_NUD_PROBE), "PROBE");
	assert_string_equal(tn_nud_name(TN_NUD_FAILED), "FAILED");
	assert_string_equal(tn_nud_name(TN_NUD_PERMANENT), "PERMANENT");
	assert_string_equal(tn_nud_name(99), "?");

	/* 300 requesters: the table grows and finds every one. */
	for (int i = 0; i < 300; i++) {
		uint8_t mac[6] = {0x02, 0x42, 0, 0, (uint8_t)(i >> 8), (uint8_t)i};
		inject_request(&f, mac, IP4(198, 18, 1 + i / 200, 1 + i % 200), OUR_IP);
		clear_tx(&f);
	}
	resolve_peer(&f);
	send_to(&f, IP4(198, 18, 0, 3), 1);
	clear_tx(&f);
	assert_int_equal(f.s->neigh.count, 302);
	assert_true(f.s->neigh.nbuckets >= 302);
	for (int i = 0; i < 300; i++) {
		struct tn_neigh *n = entry(&f, IP4(198, 18, 1 + i / 200, 1 + i % 200));
		assert_non_null(n);
		assert_int_equal(n->mac[4] << 8 | n->mac[5], i);
	}
	assert_null(tn_neigh_lookup(&f.s->neigh, f.ifindex + 1, PEER_IP)); /* per interface */
	int counts[8] = {0};
	tn_neigh_foreach(&f.s->neigh, count_entry, counts);
	assert_int_equal(counts[TN_NUD_STALE], 300);
	assert_int_equal(counts[TN_NUD_REACHABLE], 1);
	assert_int_equal(counts[TN_NUD_INCOMPLETE], 1);
	fx_free(&f); /* pending packet and armed timers: freed by the stack */
}

static void test_destroy_frees_everything(void **state)
{
	(void)state;
	/* Pending packets, armed timers, many entries: tern_stack_free must
	 * release them all (ASan's leak check fails the run otherwise). */
	struct fx f = fx_new(TN_DEV_L2, 21, true);
	for (uint8_t i = 2; i < 40; i++)
		send_to(&f, IP4(198, 18, 0, i), i);
	resolve_peer(&f);
	assert_int_equal(f.s->neigh.count, 38);
	assert_true(tern_pool_in_use(f.s) > f.base);
	fx_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gratuitous_on_address_add),
		cmocka_unit_test(test_unknown_neighbour_queues_and_asks),
		cmocka_unit_test(test_resolution_fails_after_three_tries),
		cmocka_unit_test(test_failure_report_to_the_failed_neighbour),
		cmocka_unit_test(test_reply_releases_queue_in_order),
		cmocka_unit_test(test_reachable_turns_stale_at_random_time),
		cmocka_unit_test(test_stale_delay_probe_reachable),
		cmocka_unit_test(test_probe_without_reply_fails),
		cmocka_unit_test(test_request_for_us_is_answered),
		cmocka_unit_test(test_request_for_others_is_ignored),
		cmocka_unit_test(test_probe_from_zero_is_answered_not_learned),
		cmocka_unit_test(test_gratuitous_updates_known_entries_only),
		cmocka_unit_test(test_locktime_and_confirmation),
		cmocka_unit_test(test_malformed_arp_counted),
		cmocka_unit_test(test_queue_overflow_drops_oldest),
		cmocka_unit_test(test_l3_device_needs_no_arp),
		cmocka_unit_test(test_broadcast_and_multicast_need_no_arp),
		cmocka_unit_test(test_no_buffers),
		cmocka_unit_test(test_permanent_entries),
		cmocka_unit_test(test_flush_dev_drops_pending),
		cmocka_unit_test(test_stale_garbage_collected),
		cmocka_unit_test(test_foreach_names_and_growth),
		cmocka_unit_test(test_destroy_frees_everything),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
