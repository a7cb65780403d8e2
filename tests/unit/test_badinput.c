/* A corpus of malformed frames: each is dropped and counted under its own
 * reason, nothing leaks, and the stack still answers ping afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include <errno.h>

#include "testutil.h"
#include "wire/csum.h"

static const uint8_t peer_mac[6] = {0x02, 0xaa, 0, 0, 0, 1};

struct fix {
	struct tn_stack *s;
	struct wire_dev *w;
	int ifindex;
	uint32_t me, peer;
	uint64_t now;
	uint32_t base;
};

static void setup(struct fix *f)
{
	f->s = t_stack_new(21);
	f->w = t_wire_attach(f->s, TN_DEV_L2, &f->ifindex);
	f->me = t_ip("198.18.0.1");
	f->peer = t_ip("198.18.0.2");
	f->now = 1 * T_SEC;
	tern_addr_add(f->s, f->ifindex, f->me, 24);
	tn_neigh_add_permanent(f->s, f->ifindex, f->peer, peer_mac);
	t_run(f->s, f->now);
	t_wire_clear(f->w);
	f->base = tern_pool_in_use(f->s);
}

static uint32_t ip_frame(struct fix *f, uint8_t *b, uint8_t proto, const uint8_t *l4, uint32_t n)
{
	return t_build_ip(b, 2048, f->w->dev.mac, peer_mac, f->peer, f->me, proto, 64, 1, 0, l4, n);
}

/* Inject, run, and check the named counter went up by exactly one. */
static void expect_drop(struct fix *f, const uint8_t *frame, uint32_t len, const char *counter)
{
	int64_t before = tern_stat(f->s, counter);
	assert_true(before >= 0);
	t_wire_inject(f->w, frame, len);
	t_run(f->s, f->now);
	if (tern_stat(f->s, counter) != before + 1)
		fail_msg("%s: %lld -> %lld", counter, (long long)before, (long long)tern_stat(f->s, counter));
}

static void fix_ip_csum(uint8_t *b)
{
	tn_put16(b + 24, 0);
	tn_put16(b + 24, tn_csum(b + 14, (size_t)(b[14] & 0xf) * 4));
}

static void ping_still_works(struct fix *f)
{
	uint8_t msg[64], fr[128], out[2048];
	t_wire_clear(f->w);
	uint32_t n = ip_frame(f, fr, TN_IPPROTO_ICMP, msg, t_build_echo(msg, 7, 1, 32));
	t_wire_inject(f->w, fr, n);
	t_run(f->s, f->now);
	int len = t_wire_take(f->w, out, sizeof(out));
	assert_int_equal(len, (int)n);
	assert_int_equal(out[34], TN_ICMP_ECHOREPLY);
	assert_memory_equal(out, peer_mac, 6);
}

static void test_corpus(void **state)
{
	(void)state;
	struct fix f;
	setup(&f);
	uint8_t b[2048], c[2048], l4[1600];
	uint32_t n;

	/* Ethernet */
	for (uint32_t k = 0; k < 14; k++)
		expect_drop(&f, b, k, "TernExtEthInErrors");
	n = ip_frame(&f, b, TN_IPPROTO_UDP, l4, t_build_udp(l4, f.peer, f.me, 1, 9, NULL, 0));
	memcpy(c, b, n);
	tn_put16(c + 12, 0x88b5);
	expect_drop(&f, c, n, "TernExtEthInUnknownType");
	tn_put16(c + 12, 0x0100); /* 802.3 length */
	expect_drop(&f, c, n, "TernExtEthInErrors");
	memcpy(c, b, n);
	c[0] = 0x02, c[5] = 0x77; /* unicast to another MAC */
	expect_drop(&f, c, n, "TernExtEthInOtherHost");

	/* IPv4 header */
	expect_drop(&f, b, 14 + 19, "IpInHdrErrors");
	memcpy(c, b, n);
	c[14] = 0x65;
	expect_drop(&f, c, n, "IpInHdrErrors");
	memcpy(c, b, n);
	c[14] = 0x44;
	expect_drop(&f, c, n, "IpInHdrErrors");
	memcpy(c, b, n);
	c[14] = 0x4f; /* IHL 60 > packet */
	expect_drop(&f, c, 14 + 40, "IpExtInTruncatedPkts");
	memcpy(c, b, n);
	tn_put16(c + 16, (uint16_t)(n - 14 + 10)); /* tot_len > frame */
	fix_ip_csum(c);
	expect_drop(&f, c, n, "IpExtInTruncatedPkts");
	memcpy(c, b, n);
	tn_put16(c + 16, 12); /* tot_len < IHL*4 */
	fix_ip_csum(c);
	expect_drop(&f, c, n, "IpInHdrErrors");
	memcpy(c, b, n);
	c[22] ^= 0x40;
	expect_drop(&f, c, n, "IpExtInCsumErrors");

	/* options: length 0, length 1, past the end; a source route */
	static const uint8_t bad_opts[3][4] = {{7, 0, 0, 0}, {7, 1, 0, 0}, {7, 9, 0, 0}};
	for (int i = 0; i < 3; i++) {
		struct tn_ipv4_hdr h = {.tot_len = 24 + 8, .ttl = 64, .proto = 17, .src = f.peer, .dst = f.me, .optlen = 4};
		memcpy(h.opts, bad_opts[i], 4);
		memcpy(c, b, 14);
		tn_ipv4_emit(&h, c + 14, 60);
		memset(c + 38, 0, 8);
		expect_drop(&f, c, 46, "TernExtIpInBadOptions");
	}
	{
		struct tn_ipv4_hdr h = {.tot_len = 28 + 8, .ttl = 64, .proto = 17, .src = f.peer, .dst = f.me, .optlen = 8};
		const uint8_t lsrr[8] = {TN_IPOPT_LSRR, 7, 4, 198, 18, 0, 3, 0};
		memcpy(h.opts, lsrr, 8);
		memcpy(c, b, 14);
		tn_ipv4_emit(&h, c + 14, 60);
		memset(c + 42, 0, 8);
		expect_drop(&f, c, 50, "TernExtIpInSourceRoute");
	}
	/* martian sources */
	const char *martians[] = {"127.0.0.1", "224.0.0.5", "255.255.255.255", "240.0.0.1"};
	for (int i = 0; i < 4; i++) {
		n = t_build_ip(c, 2048, f.w->dev.mac, peer_mac, t_ip(martians[i]), f.me, 17, 64, 1, 0, l4, 8);
		expect_drop(&f, c, n, "TernExtIpInMartians");
	}
	/* not for us, forwarding off */
	n = t_build_ip(c, 2048, f.w->dev.mac, peer_mac, f.peer, t_ip("198.19.0.1"), 17, 64, 1, 0, l4, 8);
	expect_drop(&f, c, n, "IpInAddrErrors");

	/* UDP */
	uint32_t ul = t_build_udp(l4, f.peer, f.me, 1000, 9, (const uint8_t *)"abcd", 4);
	tn_put16(l4 + 4, 7);
	n = ip_frame(&f, c, 17, l4, ul);
	expect_drop(&f, c, n, "UdpInErrors");
	ul = t_build_udp(l4, f.peer, f.me, 1000, 9, (const uint8_t *)"abcd", 4);
	tn_put16(l4 + 4, 40); /* longer than the IP payload */
	n = ip_frame(&f, c, 17, l4, ul);
	expect_drop(&f, c, n, "TernExtUdpInShort");
	ul = t_build_udp(l4, f.peer, f.me, 1000, 9, (const uint8_t *)"abcd", 4);
	l4[9] ^= 1;
	n = ip_frame(&f, c, 17, l4, ul);
	expect_drop(&f, c, n, "UdpInCsumErrors");
	n = ip_frame(&f, c, 17, l4, 5);
	expect_drop(&f, c, n, "UdpInErrors");

	/* ICMP */
	uint32_t il = t_build_echo(l4, 1, 1, 16);
	l4[12] ^= 0xff;
	n = ip_frame(&f, c, TN_IPPROTO_ICMP, l4, il);
	expect_drop(&f, c, n, "IcmpInCsumErrors");
	n = ip_frame(&f, c, TN_IPPROTO_ICMP, l4, 4);
	expect_drop(&f, c, n, "IcmpInErrors");
	/* an ICMP error quoting garbage */
	memset(l4, 0, 40);
	l4[0] = TN_ICMP_DEST_UNREACH;
	l4[1] = TN_ICMP_PORT_UNREACH;
	l4[8] = 0x41; /* quoted IHL 4 */
	tn_put16(l4 + 2, tn_csum(l4, 36));
	n = ip_frame(&f, c, TN_IPPROTO_ICMP, l4, 36);
	expect_drop(&f, c, n, "IcmpInErrors");

	/* fragments: overlap, beyond 65535, never completed */
	uint8_t pay[1600];
	memset(pay, 0x5a, sizeof(pay));
	n = t_build_ip(c, 2048, f.w->dev.mac, peer_mac, f.peer, f.me, 17, 64, 99, TN_IP_MF, pay, 800);
	t_wire_inject(f.w, c, n);
	n = t_build_ip(c, 2048, f.w->dev.mac, peer_mac, f.peer, f.me, 17, 64, 99, 50, pay, 400);
	expect_drop(&f, c, n, "IpExtReasmOverlaps");
	n = t_build_ip(c, 2048, f.w->dev.mac, peer_mac, f.peer, f.me, 17, 64, 100, 65528 / 8, pay, 16);
	expect_drop(&f, c, n, "TernExtIpReasmOversize");
	/* a 65535+ reassembly built from many fragments */
	for (uint32_t off = 0; off < 65120; off += 1480) {
		n = t_build_ip(c, 2048, f.w->dev.mac, peer_mac, f.peer, f.me, 17, 64, 101,
			       (uint16_t)(TN_IP_MF | (off / 8)), pay, 1480);
		t_wire_inject(f.w, c, n);
	}
	n = t_build_ip(c, 2048, f.w->dev.mac, peer_mac, f.peer, f.me, 17, 64, 101, (uint16_t)(65120 / 8), pay, 1480);
	expect_drop(&f, c, n, "TernExtIpReasmOversize");
	n = t_build_ip(c, 2048, f.w->dev.mac, peer_mac, f.peer, f.me, 17, 64, 102, TN_IP_MF, pay, 800);
	t_wire_inject(f.w, c, n);
	t_run(f.s, f.now);
	f.now += 31 * T_SEC;
	t_run(f.s, f.now);
	assert_int_equal(tern_stat(f.s, "IpReasmTimeout"), 1);

	/* ARP */
	memset(c, 0, 60);
	memset(c, 0xff, 6);
	memcpy(c + 6, peer_mac, 6);
	tn_put16(c + 12, TN_ETHERTYPE_ARP);
	expect_drop(&f, c, 30, "TernExtArpInErrors");
	tn_put16(c + 14, 1);
	tn_put16(c + 16, 0x0800);
	c[18] = 8; /* hlen 8 */
	c[19] = 4;
	expect_drop(&f, c, 60, "TernExtArpInErrors");

	ping_still_works(&f);
	t_wire_clear(f.w);
	assert_int_equal(tern_pool_in_use(f.s), f.base);
	tern_stack_free(f.s);
}

/* ICMP error rules: none about broadcasts, non-first fragments or ICMP
 * errors; port unreachable quotes the datagram; the rate limit holds. */
static void test_icmp_error_rules(void **state)
{
	(void)state;
	struct fix f;
	setup(&f);
	uint8_t c[2048], l4[64], out[2048];
	uint32_t ul = t_build_udp(l4, f.peer, f.me, 1000, 9, (const uint8_t *)"hi", 2);
	uint32_t n = ip_frame(&f, c, 17, l4, ul);
	t_wire_inject(f.w, c, n);
	t_run(f.s, f.now);
	int len = t_wire_take(f.w, out, sizeof(out));
	assert_int_equal(len, 14 + 20 + 8 + (int)(n - 14));
	assert_int_equal(out[34], TN_ICMP_DEST_UNREACH);
	assert_int_equal(out[35], TN_ICMP_PORT_UNREACH);
	assert_memory_equal(out + 42, c + 14, n - 14); /* the whole datagram quoted */
	assert_int_equal(tern_stat(f.s, "UdpNoPorts"), 1);
	/* to the subnet broadcast: no error */
	n = t_build_ip(c, 2048, f.w->dev.mac, peer_mac, f.peer, t_ip("198.18.0.255"), 17, 64, 1, 0, l4, ul);
	tn_put16(c + 14 + 20 + 6, 0);
	t_wire_inject(f.w, c, n);
	t_run(f.s, f.now);
	assert_int_equal(t_wire_take(f.w, out, sizeof(out)), -1);
	/* an unknown protocol gets protocol unreachable */
	n = ip_frame(&f, c, 200, l4, 8);
	t_wire_inject(f.w, c, n);
	t_run(f.s, f.now);
	assert_true(t_wire_take(f.w, out, sizeof(out)) > 0);
	assert_int_equal(out[35], TN_ICMP_PROT_UNREACH);
	assert_int_equal(tern_stat(f.s, "IpInUnknownProtos"), 1);
	/* per-host rate limit: a burst of 6, then one per second */
	int sent = 0;
	for (int i = 0; i < 20; i++) {
		n = ip_frame(&f, c, 200, l4, 8);
		t_wire_inject(f.w, c, n);
		t_run(f.s, f.now);
		while (t_wire_take(f.w, out, sizeof(out)) > 0)
			sent++;
	}
	assert_int_equal(sent, 4); /* 6 in the bucket, two were spent above */
	assert_true(tern_stat(f.s, "IcmpOutRateLimitHost") >= 15);
	f.now += 1 * T_SEC;
	t_wire_inject(f.w, c, n);
	t_run(f.s, f.now);
	assert_true(t_wire_take(f.w, out, sizeof(out)) > 0);
	tern_stack_free(f.s);
}

/* The UDP socket API: bind, ephemeral ports, connect, errors, rcvbuf. */
static void test_udp_sockets(void **state)
{
	(void)state;
	struct fix f;
	setup(&f);
	struct tn_stack *s = f.s;
	int a = tern_socket(s, AF_INET, SOCK_DGRAM, 0), b = tern_socket(s, AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(7000)};
	assert_int_equal(tern_bind(s, a, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(tern_bind(s, b, (struct sockaddr *)&sa, sizeof(sa)), -1);
	assert_int_equal(errno, EADDRINUSE);
	sa.sin_addr.s_addr = htonl(t_ip("198.18.9.9"));
	sa.sin_port = 0;
	assert_int_equal(tern_bind(s, b, (struct sockaddr *)&sa, sizeof(sa)), -1);
	assert_int_equal(errno, EADDRNOTAVAIL);
	char buf[100];
	assert_int_equal(tern_recv(s, a, buf, sizeof(buf), 0), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(tern_send(s, b, "x", 1, 0), -1);
	assert_int_equal(errno, EDESTADDRREQ);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(7000), .sin_addr.s_addr = htonl(f.me)};
	assert_int_equal(tern_sendto(s, b, "hello", 5, 0, (struct sockaddr *)&to, sizeof(to)), 5);
	struct sockaddr_in bn;
	socklen_t bl = sizeof(bn);
	tern_getsockname(s, b, (struct sockaddr *)&bn, &bl);
	assert_true(ntohs(bn.sin_port) >= 32768 && ntohs(bn.sin_port) <= 60999);
	t_run(s, f.now);
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	assert_int_equal(tern_recvfrom(s, a, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(from.sin_port, bn.sin_port);
	/* broadcast needs SO_BROADCAST */
	struct sockaddr_in bc = {.sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(0xffffffff)};
	assert_int_equal(tern_sendto(s, b, "x", 1, 0, (struct sockaddr *)&bc, sizeof(bc)), -1);
	assert_int_equal(errno, EACCES);
	/* SO_RCVBUF doubles like Linux; a full buffer drops and counts */
	int v = 4096;
	assert_int_equal(tern_setsockopt(s, a, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)), 0);
	socklen_t vl = sizeof(v);
	tern_getsockopt(s, a, SOL_SOCKET, SO_RCVBUF, &v, &vl);
	assert_int_equal(v, 8192);
	for (int i = 0; i < 10; i++)
		tern_sendto(s, b, "fill", 4, 0, (struct sockaddr *)&to, sizeof(to));
	t_run(s, f.now);
	assert_true(tern_stat(s, "UdpRcvbufErrors") > 0);
	/* the socket's own drop count, as Linux's SO_RXQ_OVFL control message */
	int on = 1;
	assert_int_equal(tern_setsockopt(s, a, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof(on)), 0);
	char cbuf[64];
	struct iovec iov = {buf, sizeof(buf)};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	assert_int_equal(tern_recvmsg(s, a, &m, 0), 4);
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	assert_non_null(cm);
	assert_int_equal(cm->cmsg_type, SO_RXQ_OVFL);
	uint32_t dropped;
	memcpy(&dropped, CMSG_DATA(cm), sizeof(dropped));
	assert_int_equal(dropped, tern_stat(s, "UdpRcvbufErrors"));
	/* connected socket gets ECONNREFUSED from port unreachable */
	struct sockaddr_in closed = {.sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(f.me)};
	int c = tern_socket(s, AF_INET, SOCK_DGRAM, 0);
	assert_int_equal(tern_connect(s, c, (struct sockaddr *)&closed, sizeof(closed)), 0);
	assert_int_equal(tern_send(s, c, "x", 1, 0), 1);
	t_run(s, f.now);
	t_run(s, f.now);
	assert_int_equal(tern_recv(s, c, buf, sizeof(buf), 0), -1);
	assert_int_equal(errno, ECONNREFUSED);
	/* too big */
	static char big[65508];
	assert_int_equal(tern_sendto(s, b, big, sizeof(big), 0, (struct sockaddr *)&to, sizeof(to)), -1);
	assert_int_equal(errno, EMSGSIZE);
	tern_close(s, a);
	tern_close(s, b);
	tern_close(s, c);
	assert_int_equal(tern_close(s, c), -1);
	assert_int_equal(errno, EBADF);
	t_run(s, f.now);
	t_wire_clear(f.w);
	assert_int_equal(tern_pool_in_use(s), f.base);
	tern_stack_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus),
		cmocka_unit_test(test_icmp_error_rules),
		cmocka_unit_test(test_udp_sockets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
