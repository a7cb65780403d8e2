/* Connection tracking: TCP state transitions with window checks and the
 * invalid cases, UDP unreplied -> replied -> ASSURED, ICMP echo ids, RELATED
 * ICMP errors, timeouts on the virtual clock, the table limit (drop and
 * early_drop), unconfirmed entries of dropped packets, the NAT hooks, the
 * entry size and conntrack -L's format.  Packets go straight to the hook
 * functions, as the IPv4 layer calls them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "filter/conntrack.h"
#include "filter/nf.h"
#include "wire/csum.h"
#include "wire/wire.h"

#define SEC 1000000000ull
#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))
static const uint32_t HA = IP(198, 18, 1, 2), HB = IP(198, 18, 2, 2), HR = IP(198, 18, 1, 1);

static struct tn_stack *new_stack(void)
{
	struct tern_config cfg = {.name = "ct", .pool_size = 256, .seed = 7, .now = 1000 * SEC};
	struct tn_stack *s = tern_stack_new(&cfg);
	assert_non_null(s);
	assert_int_equal(tern_conntrack_enable(s), 0);
	return s;
}

static void advance(struct tn_stack *s, uint64_t ns) { tern_poll(s, s->now + ns); }

static size_t ip_hdr(uint8_t *b, uint32_t src, uint32_t dst, uint8_t proto, size_t l4len)
{
	memset(b, 0, 20);
	b[0] = 0x45;
	tn_put16(b + 2, (uint16_t)(20 + l4len));
	b[8] = 64;
	b[9] = proto;
	tn_put32(b + 12, src);
	tn_put32(b + 16, dst);
	tn_put16(b + 10, tn_csum(b, 20));
	return 20;
}

static void l4_csum(uint8_t *ip, size_t l4len, size_t at)
{
	uint8_t proto = ip[9];
	uint32_t sum = proto == 1 ? 0 : tn_csum_pseudo4(tn_get32(ip + 12), tn_get32(ip + 16), proto, (uint32_t)l4len);
	tn_put16(ip + 20 + at, 0);
	tn_put16(ip + 20 + at, tn_csum_fold(tn_csum_partial(ip + 20, l4len, sum)));
}

#define SYN 0x02
#define ACK 0x10
#define FIN 0x01
#define RST 0x04
#define PSH 0x08

/* A TCP segment; SYNs carry MSS, window scale 7 and SACK-permitted. */
static size_t tcp_seg(uint8_t *b, uint32_t src, uint32_t dst, uint16_t sp, uint16_t dp, uint32_t seq, uint32_t ack,
		      uint8_t flags, uint16_t win, size_t datalen)
{
	size_t optlen = (flags & SYN) ? 12 : 0;
	size_t l4 = 20 + optlen + datalen;
	ip_hdr(b, src, dst, 6, l4);
	uint8_t *t = b + 20;
	memset(t, 0, l4);
	tn_put16(t, sp);
	tn_put16(t + 2, dp);
	tn_put32(t + 4, seq);
	tn_put32(t + 8, ack);
	t[12] = (uint8_t)(((20 + optlen) / 4) << 4);
	t[13] = flags;
	tn_put16(t + 14, win);
	if (optlen) {
		static const uint8_t o[12] = {2, 4, 5, 0xb4, 1, 3, 3, 7, 4, 2, 1, 1};
		memcpy(t + 20, o, 12);
	}
	l4_csum(b, l4, 16);
	return 20 + l4;
}

static size_t udp_dgram(uint8_t *b, uint32_t src, uint32_t dst, uint16_t sp, uint16_t dp, size_t datalen)
{
	size_t l4 = 8 + datalen;
	ip_hdr(b, src, dst, 17, l4);
	uint8_t *u = b + 20;
	memset(u, 0xab, l4);
	tn_put16(u, sp);
	tn_put16(u + 2, dp);
	tn_put16(u + 4, (uint16_t)l4);
	l4_csum(b, l4, 6);
	return 20 + l4;
}

static size_t icmp_echo(uint8_t *b, uint32_t src, uint32_t dst, uint8_t type, uint16_t id, uint16_t seq)
{
	size_t l4 = 8 + 16;
	ip_hdr(b, src, dst, 1, l4);
	uint8_t *c = b + 20;
	memset(c, 0x11, l4);
	c[0] = type;
	c[1] = 0;
	tn_put16(c + 4, id);
	tn_put16(c + 6, seq);
	l4_csum(b, l4, 2);
	return 20 + l4;
}

/* An ICMP error from src to dst quoting the first 28 bytes of `orig`. */
static size_t icmp_error(uint8_t *b, uint32_t src, uint32_t dst, uint8_t type, uint8_t code, const uint8_t *orig)
{
	size_t l4 = 8 + 28;
	ip_hdr(b, src, dst, 1, l4);
	uint8_t *c = b + 20;
	memset(c, 0, 8);
	c[0] = type;
	c[1] = code;
	memcpy(c + 8, orig, 28);
	l4_csum(b, l4, 2);
	return 20 + l4;
}

struct res {
	int verdict;
	enum tn_ct_state state;
	bool reply;
};

/* Through the conntrack hook of `hook`, then (unless `drop`) the confirm
 * hook, as a packet the filters passed (or dropped). */
static struct res pass_ex(struct tn_stack *s, enum tn_nf_hooknum hook, const uint8_t *b, size_t len, bool drop)
{
	struct tn_pkt *p = tn_pkt_from_bytes(s->pool, b, (uint32_t)len);
	assert_non_null(p);
	p->l3_off = tn_pkt_off(p, p->data);
	struct tn_nf_state st = {.hook = hook, .in_ifindex = hook == TN_NF_PRE_ROUTING ? 1 : 0, .s = s};
	struct res r = {0};
	r.verdict = tn_ct_in(s, p, &st);
	r.state = tn_ct_state_of(s, p, &r.reply);
	if (r.verdict == TN_NF_ACCEPT && !drop)
		r.verdict = tn_ct_confirm(s, p);
	tn_pkt_free(p);
	return r;
}
static struct res pass(struct tn_stack *s, const uint8_t *b, size_t len)
{
	return pass_ex(s, TN_NF_PRE_ROUTING, b, len, false);
}

static struct tn_ct *find(struct tn_stack *s, uint8_t proto, uint32_t src, uint32_t dst, uint16_t sp, uint16_t dp)
{
	struct tn_ct_tuple t = {src, dst, sp, dp};
	return tn_ct_find(s, proto, &t, NULL);
}

#define EXPECT(r, st, rep)                                \
	do {                                              \
		struct res r_ = (r);                      \
		assert_int_equal(r_.verdict, TN_NF_ACCEPT); \
		assert_int_equal(r_.state, st);           \
		assert_int_equal(r_.reply, rep);          \
	} while (0)

static void test_sizes(void **state)
{
	(void)state;
	assert_true(sizeof(struct tn_ct) <= 128);
	assert_int_equal(offsetof(struct tn_pkt, buf), 128); /* nfct fits the padding */
	printf("sizeof(struct tn_ct) = %zu\n", sizeof(struct tn_ct));
}

/* A whole connection A:5000 -> B:80, with its state after each segment. */
static void handshake(struct tn_stack *s, uint32_t isn_a, uint32_t isn_b)
{
	uint8_t b[256];
	EXPECT(pass(s, b, tcp_seg(b, HA, HB, 5000, 80, isn_a, 0, SYN, 64240, 0)), TN_CT_NEW, false);
	struct tn_ct *e = find(s, 6, HA, HB, 5000, 80);
	assert_non_null(e);
	assert_int_equal(e->state, TN_CT_TCP_SYN_SENT);
	EXPECT(pass(s, b, tcp_seg(b, HB, HA, 80, 5000, isn_b, isn_a + 1, SYN | ACK, 65160, 0)), TN_CT_ESTABLISHED,
	       true);
	assert_int_equal(e->state, TN_CT_TCP_SYN_RECV);
	assert_false(e->status & TN_CT_S_ASSURED);
	EXPECT(pass(s, b, tcp_seg(b, HA, HB, 5000, 80, isn_a + 1, isn_b + 1, ACK, 502, 0)), TN_CT_ESTABLISHED,
	       false);
	assert_int_equal(e->state, TN_CT_TCP_ESTABLISHED);
	assert_true(e->status & TN_CT_S_ASSURED);
}

static void test_tcp_lifecycle(void **state)
{
	(void)state;
	struct tn_stack *s = new_stack();
	uint8_t b[2048];
	uint32_t a = 1000, z = 500000;
	handshake(s, a, z);
	struct tn_ct *e = find(s, 6, HA, HB, 5000, 80);
	/* data both ways */
	EXPECT(pass(s, b, tcp_seg(b, HA, HB, 5000, 80, a + 1, z + 1, ACK | PSH, 502, 100)), TN_CT_ESTABLISHED, false);
	EXPECT(pass(s, b, tcp_seg(b, HB, HA, 80, 5000, z + 1, a + 101, ACK | PSH, 509, 1000)), TN_CT_ESTABLISHED, true);
	EXPECT(pass(s, b, tcp_seg(b, HA, HB, 5000, 80, a + 101, z + 1001, ACK, 502, 0)), TN_CT_ESTABLISHED, false);
	advance(s, SEC / 50);
	char line[256];
	tn_ct_format(s, e, line, sizeof(line));
	assert_string_equal(line, "tcp      6 431999 ESTABLISHED src=198.18.1.2 dst=198.18.2.2 sport=5000 dport=80 "
				  "src=198.18.2.2 dst=198.18.1.2 sport=80 dport=5000 [ASSURED] mark=0 use=1");
	/* A closes: FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT */
	pass(s, b, tcp_seg(b, HA, HB, 5000, 80, a + 101, z + 1001, FIN | ACK, 502, 0));
	assert_int_equal(e->state, TN_CT_TCP_FIN_WAIT);
	pass(s, b, tcp_seg(b, HB, HA, 80, 5000, z + 1001, a + 102, ACK, 509, 0));
	assert_int_equal(e->state, TN_CT_TCP_CLOSE_WAIT);
	pass(s, b, tcp_seg(b, HB, HA, 80, 5000, z + 1001, a + 102, FIN | ACK, 509, 0));
	assert_int_equal(e->state, TN_CT_TCP_LAST_ACK);
	pass(s, b, tcp_seg(b, HA, HB, 5000, 80, a + 102, z + 1002, ACK, 502, 0));
	assert_int_equal(e->state, TN_CT_TCP_TIME_WAIT);
	assert_int_equal(tn_ct_timeout_left(s, e), 120);
	advance(s, 119 * SEC);
	assert_int_equal(tn_ct_count(s), 1);
	advance(s, 2 * SEC);
	assert_int_equal(tn_ct_count(s), 0);
	assert_null(find(s, 6, HA, HB, 5000, 80));
	assert_int_equal(tn_mempool_in_use(s->pool), 0);
	tern_stack_free(s);
}

static void test_tcp_window(void **state)
{
	(void)state;
	struct tn_stack *s = new_stack();
	uint8_t b[2048];
	uint32_t a = 0xfffffff0u, z = 7; /* across the sequence wrap */
	handshake(s, a, z);
	struct tn_ct *e = find(s, 6, HA, HB, 5000, 80);
	uint64_t inv = s->ct->stats.invalid;
	/* B's window toward A is 509 << 7: a segment far beyond it is invalid */
	EXPECT(pass(s, b, tcp_seg(b, HA, HB, 5000, 80, a + 1 + 10000000, z + 1, ACK, 502, 10)), TN_CT_INVALID, false);
	/* an ACK for data B never sent */
	EXPECT(pass(s, b, tcp_seg(b, HA, HB, 5000, 80, a + 1, z + 1 + 5000, ACK, 502, 0)), TN_CT_INVALID, false);
	/* data long acknowledged (beyond a window back) */
	EXPECT(pass(s, b, tcp_seg(b, HB, HA, 80, 5000, z + 1 - 10000000, a + 1, ACK, 509, 100)), TN_CT_INVALID, false);
	assert_int_equal(s->ct->stats.invalid, inv + 3);
	assert_int_equal(e->state, TN_CT_TCP_ESTABLISHED);
	/* in the window: fine, right up to its edge */
	EXPECT(pass(s, b, tcp_seg(b, HA, HB, 5000, 80, a + 1 + 509 * 128 - 100, z + 1, ACK, 502, 100)),
	       TN_CT_ESTABLISHED, false);
	/* a RST below what the other side acknowledged is invalid */
	EXPECT(pass(s, b, tcp_seg(b, HB, HA, 80, 5000, z + 1 - 70000, a + 1, RST, 0, 0)), TN_CT_INVALID, false);
	/* liberal: out of window passes */
	tern_sysctl_set(s, "net.netfilter.nf_conntrack_tcp_be_liberal", "1");
	EXPECT(pass(s, b, tcp_seg(b, HA, HB, 5000, 80, a + 1 + 10000000, z + 1, ACK, 502, 10)), TN_CT_ESTABLISHED,
	       false);
	tern_sysctl_set(s, "net.netfilter.nf_conntrack_tcp_be_liberal", "0");
	/* an in-window RST closes */
	EXPECT(pass(s, b, tcp_seg(b, HB, HA, 80, 5000, z + 1, 0, RST, 0, 0)), TN_CT_ESTABLISHED, true);
	assert_int_equal(e->state, TN_CT_TCP_CLOSE);
	assert_int_equal(tn_ct_timeout_left(s, e), 10);
	advance(s, 11 * SEC);
	assert_int_equal(tn_ct_count(s), 0);
	tern_stack_free(s);
}

static void test_tcp_invalid(void **state)
{
	(void)state;
	struct tn_stack *s = new_stack();
	uint8_t b[256];
	/* SYN/ACK, FIN, RST with no connection */
	EXPECT(pass(s, b, tcp_seg(b, HB, HA, 80, 5000, 1, 2, SYN | ACK, 100, 0)), TN_CT_INVALID, false);
	EXPECT(pass(s, b, tcp_seg(b, HB, HA, 80, 5000, 1, 2, FIN | ACK, 100, 0)), TN_CT_INVALID, false);
	EXPECT(pass(s, b, tcp_seg(b, HB, HA, 80, 5001, 1, 2, RST, 100, 0)), TN_CT_INVALID, false);
	/* flag combinations Linux rejects */
	EXPECT(pass(s, b, tcp_seg(b, HA, HB, 5000, 80, 1, 0, SYN | FIN, 100, 0)), TN_CT_INVALID, false);
	EXPECT(pass(s, b, tcp_seg(b, HA, HB, 5000, 80, 1, 0, 0, 100, 0)), TN_CT_INVALID, false);
	/* truncated header, bad data offset, bad checksum */
	size_t n = tcp_seg(b, HA, HB, 5000, 80, 1, 0, SYN, 100, 0);
	b[3] = 30; /* tot_len 30: 10 bytes of TCP */
	EXPECT(pass(s, b, 30), TN_CT_INVALID, false);
	n = tcp_seg(b, HA, HB, 5000, 80, 1, 0, ACK, 100, 0);
	b[32] = 0x40; /* doff 16 bytes */
	EXPECT(pass(s, b, n), TN_CT_INVALID, false);
	n = tcp_seg(b, HA, HB, 5000, 80, 1, 0, SYN, 100, 0);
	b[n - 1] ^= 0x55;
	EXPECT(pass(s, b, n), TN_CT_INVALID, false);
	/* ... which LOCAL_OUT does not verify */
	EXPECT(pass_ex(s, TN_NF_LOCAL_OUT, b, n, false), TN_CT_NEW, false);
	tn_ct_flush(s);
	/* no picking up in the middle with tcp_loose=0 */
	tern_sysctl_set(s, "net.netfilter.nf_conntrack_tcp_loose", "0");
	EXPECT(pass(s, b, tcp_seg(b, HA, HB, 5000, 80, 1, 2, ACK, 100, 0)), TN_CT_INVALID, false);
	tern_sysctl_set(s, "net.netfilter.nf_conntrack_tcp_loose", "1");
	/* picked up: ESTABLISHED state, NEW packet, liberal, becomes ASSURED on a reply */
	EXPECT(pass(s, b, tcp_seg(b, HA, HB, 5000, 80, 1, 2, ACK, 100, 10)), TN_CT_NEW, false);
	struct tn_ct *e = find(s, 6, HA, HB, 5000, 80);
	assert_int_equal(e->state, TN_CT_TCP_ESTABLISHED);
	EXPECT(pass(s, b, tcp_seg(b, HB, HA, 80, 5000, 2, 11, ACK, 100, 0)), TN_CT_ESTABLISHED, true);
	EXPECT(pass(s, b, tcp_seg(b, HA, HB, 5000, 80, 11, 2, ACK, 100, 0)), TN_CT_ESTABLISHED, false);
	assert_true(e->status & TN_CT_S_ASSURED);
	/* SYN sent, a RST answers: the entry goes at once */
	tn_ct_flush(s);
	EXPECT(pass(s, b, tcp_seg(b, HA, HB, 6000, 81, 100, 0, SYN, 100, 0)), TN_CT_NEW, false);
	EXPECT(pass(s, b, tcp_seg(b, HB, HA, 81, 6000, 0, 101, RST | ACK, 0, 0)), TN_CT_ESTABLISHED, true);
	assert_int_equal(tn_ct_count(s), 0);
	assert_int_equal(tn_mempool_in_use(s->pool), 0);
	tern_stack_free(s);
}

static void test_tcp_reopen(void **state)
{
	(void)state;
	struct tn_stack *s = new_stack();
	uint8_t b[256];
	uint32_t a = 1000, z = 9000;
	handshake(s, a, z);
	struct tn_ct *e = find(s, 6, HA, HB, 5000, 80);
	pass(s, b, tcp_seg(b, HA, HB, 5000, 80, a + 1, z + 1, FIN | ACK, 502, 0));
	pass(s, b, tcp_seg(b, HB, HA, 80, 5000, z + 1, a + 2, FIN | ACK, 509, 0));
	pass(s, b, tcp_seg(b, HA, HB, 5000, 80, a + 2, z + 2, ACK, 502, 0));
	assert_int_equal(e->state, TN_CT_TCP_TIME_WAIT);
	/* a new SYN on the same ports reopens it as a new connection */
	EXPECT(pass(s, b, tcp_seg(b, HA, HB, 5000, 80, a + 100000, 0, SYN, 64240, 0)), TN_CT_NEW, false);
	e = find(s, 6, HA, HB, 5000, 80);
	assert_non_null(e);
	assert_int_equal(e->state, TN_CT_TCP_SYN_SENT);
	assert_false(e->status & TN_CT_S_SEEN_REPLY);
	assert_int_equal(tn_ct_count(s), 1);
	/* a SYN on an established connection is let through and ignored; a
	 * SYN/ACK acknowledging it resynchronises the entry */
	tn_ct_flush(s);
	handshake(s, a, z);
	e = find(s, 6, HA, HB, 5000, 80);
	EXPECT(pass(s, b, tcp_seg(b, HA, HB, 5000, 80, 777777, 0, SYN, 64240, 0)), TN_CT_ESTABLISHED, false);
	assert_int_equal(e->state, TN_CT_TCP_ESTABLISHED);
	EXPECT(pass(s, b, tcp_seg(b, HB, HA, 80, 5000, 4444, 777778, SYN | ACK, 64240, 0)), TN_CT_ESTABLISHED, true);
	assert_int_equal(e->state, TN_CT_TCP_SYN_RECV);
	EXPECT(pass(s, b, tcp_seg(b, HA, HB, 5000, 80, 777778, 4445, ACK, 502, 0)), TN_CT_ESTABLISHED, false);
	assert_int_equal(e->state, TN_CT_TCP_ESTABLISHED);
	tern_stack_free(s);
}

static void test_udp(void **state)
{
	(void)state;
	struct tn_stack *s = new_stack();
	uint8_t b[256];
	EXPECT(pass(s, b, udp_dgram(b, HA, HB, 4000, 53, 20)), TN_CT_NEW, false);
	struct tn_ct *e = find(s, 17, HA, HB, 4000, 53);
	assert_non_null(e);
	char line[256];
	tn_ct_format(s, e, line, sizeof(line));
	assert_string_equal(line, "udp      17 30 src=198.18.1.2 dst=198.18.2.2 sport=4000 dport=53 [UNREPLIED] "
				  "src=198.18.2.2 dst=198.18.1.2 sport=53 dport=4000 mark=0 use=1");
	EXPECT(pass(s, b, udp_dgram(b, HA, HB, 4000, 53, 20)), TN_CT_NEW, false);
	EXPECT(pass(s, b, udp_dgram(b, HB, HA, 53, 4000, 40)), TN_CT_ESTABLISHED, true);
	assert_true(e->status & TN_CT_S_SEEN_REPLY);
	assert_false(e->status & TN_CT_S_ASSURED);
	assert_int_equal(tn_ct_timeout_left(s, e), 30);
	/* still talking after two seconds: a stream, ASSURED, 120 s */
	advance(s, 3 * SEC);
	EXPECT(pass(s, b, udp_dgram(b, HA, HB, 4000, 53, 20)), TN_CT_ESTABLISHED, false);
	assert_true(e->status & TN_CT_S_ASSURED);
	assert_int_equal(tn_ct_timeout_left(s, e), 120);
	/* another source port is another flow */
	EXPECT(pass(s, b, udp_dgram(b, HA, HB, 4001, 53, 20)), TN_CT_NEW, false);
	assert_int_equal(tn_ct_count(s), 2);
	/* timeouts on the virtual clock: the unreplied one after 30 s */
	advance(s, 29 * SEC);
	assert_int_equal(tn_ct_count(s), 2);
	advance(s, 2 * SEC);
	assert_int_equal(tn_ct_count(s), 1);
	advance(s, 90 * SEC);
	assert_int_equal(tn_ct_count(s), 0);
	tern_stack_free(s);
}

static void test_icmp_echo(void **state)
{
	(void)state;
	struct tn_stack *s = new_stack();
	uint8_t b[256];
	EXPECT(pass(s, b, icmp_echo(b, HA, HB, 8, 7, 1)), TN_CT_NEW, false);
	EXPECT(pass(s, b, icmp_echo(b, HB, HA, 0, 8, 1)), TN_CT_INVALID, false); /* another id */
	EXPECT(pass(s, b, icmp_echo(b, HB, HA, 0, 7, 1)), TN_CT_ESTABLISHED, true);
	EXPECT(pass(s, b, icmp_echo(b, HA, HB, 8, 7, 2)), TN_CT_ESTABLISHED, false);
	EXPECT(pass(s, b, icmp_echo(b, HA, HB, 8, 9, 1)), TN_CT_NEW, false);
	assert_int_equal(tn_ct_count(s), 2);
	struct tn_ct_tuple t = {HA, HB, 7, 8 << 8};
	struct tn_ct *e = tn_ct_find(s, 1, &t, NULL);
	assert_non_null(e);
	char line[256];
	tn_ct_format(s, e, line, sizeof(line));
	assert_string_equal(line, "icmp     1 30 src=198.18.1.2 dst=198.18.2.2 type=8 code=0 id=7 "
				  "src=198.18.2.2 dst=198.18.1.2 type=0 code=0 id=7 mark=0 use=1");
	/* an unknown ICMP type is not tracked */
	size_t n = icmp_echo(b, HA, HB, 42, 1, 1);
	EXPECT(pass(s, b, n), TN_CT_INVALID, false);
	advance(s, 31 * SEC);
	assert_int_equal(tn_ct_count(s), 0);
	tern_stack_free(s);
}

static void test_related(void **state)
{
	(void)state;
	struct tn_stack *s = new_stack();
	uint8_t b[256], orig[256], err[256];
	udp_dgram(orig, HA, HB, 4000, 9999, 20);
	EXPECT(pass(s, orig, 48), TN_CT_NEW, false);
	/* B: port unreachable, back to A: RELATED, in the reply direction */
	EXPECT(pass(s, err, icmp_error(err, HB, HA, 3, 3, orig)), TN_CT_RELATED, true);
	/* R: TTL exceeded on the way */
	EXPECT(pass(s, err, icmp_error(err, HR, HA, 11, 0, orig)), TN_CT_RELATED, true);
	/* an error about B's reply travels the original direction */
	udp_dgram(b, HB, HA, 9999, 4000, 20);
	EXPECT(pass(s, err, icmp_error(err, HA, HB, 3, 3, b)), TN_CT_RELATED, false);
	/* a RELATED packet does not refresh the entry or count as a reply */
	struct tn_ct *e = find(s, 17, HA, HB, 4000, 9999);
	assert_false(e->status & TN_CT_S_SEEN_REPLY);
	/* about a flow we do not know: INVALID, counted as error */
	uint64_t errs = s->ct->stats.error;
	udp_dgram(b, HA, HB, 4001, 9999, 20);
	EXPECT(pass(s, err, icmp_error(err, HB, HA, 3, 3, b)), TN_CT_INVALID, false);
	assert_int_equal(s->ct->stats.error, errs + 1);
	/* about a ping */
	icmp_echo(b, HA, HB, 8, 55, 1);
	EXPECT(pass(s, b, 44), TN_CT_NEW, false);
	EXPECT(pass(s, err, icmp_error(err, HR, HA, 3, 1, b)), TN_CT_RELATED, true);
	/* a truncated quote and an error about an error are invalid */
	size_t n = icmp_error(err, HB, HA, 3, 3, orig);
	tn_put16(err + 2, 20 + 8 + 24);
	EXPECT(pass(s, err, n - 4), TN_CT_INVALID, false);
	icmp_error(b, HB, HA, 3, 3, orig);
	EXPECT(pass(s, err, icmp_error(err, HR, HB, 11, 0, b)), TN_CT_INVALID, false);
	/* and nothing RELATED was added to the table */
	assert_int_equal(tn_ct_count(s), 2);
	tern_stack_free(s);
}

static void test_table_full(void **state)
{
	(void)state;
	struct tn_stack *s = new_stack();
	uint8_t b[256];
	tern_sysctl_set(s, "net.netfilter.nf_conntrack_max", "4");
	for (uint16_t i = 0; i < 4; i++) {
		EXPECT(pass(s, b, udp_dgram(b, HA, HB, (uint16_t)(1000 + i), 53, 10)), TN_CT_NEW, false);
		EXPECT(pass(s, b, udp_dgram(b, HB, HA, 53, (uint16_t)(1000 + i), 10)), TN_CT_ESTABLISHED, true);
	}
	advance(s, 3 * SEC);
	for (uint16_t i = 0; i < 4; i++)
		EXPECT(pass(s, b, udp_dgram(b, HA, HB, (uint16_t)(1000 + i), 53, 10)), TN_CT_ESTABLISHED, false);
	/* all four ASSURED: a fifth flow is dropped and counted */
	struct res r = pass(s, b, udp_dgram(b, HA, HB, 2000, 53, 10));
	assert_int_equal(r.verdict, TN_NF_DROP);
	assert_int_equal(s->ct->stats.drop, 1);
	assert_int_equal(s->ct->stats.early_drop, 0);
	assert_int_equal(tn_ct_count(s), 4);
	/* the existing flows keep working */
	for (uint16_t i = 0; i < 4; i++)
		EXPECT(pass(s, b, udp_dgram(b, HB, HA, 53, (uint16_t)(1000 + i), 10)), TN_CT_ESTABLISHED, true);
	/* an unassured entry gives way to a new flow (early_drop) */
	struct tn_ct *e = find(s, 17, HA, HB, 1000, 53);
	e->status &= (uint16_t)~TN_CT_S_ASSURED;
	tern_sysctl_set(s, "net.netfilter.nf_conntrack_max", "4");
	int dropped_before = (int)s->ct->stats.drop;
	for (uint16_t p = 3000; p < 3200 && s->ct->stats.early_drop == 0; p++)
		pass(s, b, udp_dgram(b, HA, HB, p, 53, 10));
	/* eviction looks at a few buckets only: either it found the entry, or
	 * the new flows were dropped */
	assert_true(s->ct->stats.early_drop == 1 || (int)s->ct->stats.drop > dropped_before);
	assert_true(tn_ct_count(s) <= 4);
	tern_stack_free(s);
}

/* Packets dropped between the conntrack hook and the confirm hook: their
 * entries never enter the table, and are freed as the ring turns. */
static void test_unconfirmed(void **state)
{
	(void)state;
	struct tn_stack *s = new_stack();
	uint8_t b[256];
	for (uint16_t i = 0; i < 100; i++)
		EXPECT(pass_ex(s, TN_NF_PRE_ROUTING, b, udp_dgram(b, HA, HB, (uint16_t)(1000 + i), 53, 10), true),
		       TN_CT_NEW, false);
	assert_true(tn_ct_count(s) <= TN_CT_PENDING);
	assert_null(find(s, 17, HA, HB, 1000, 53));
	/* a flow whose first packet was dropped starts NEW again */
	EXPECT(pass(s, b, udp_dgram(b, HA, HB, 1000, 53, 10)), TN_CT_NEW, false);
	assert_non_null(find(s, 17, HA, HB, 1000, 53));
	uint32_t chunks = s->ct->nchunks;
	assert_int_equal(chunks, 1);
	assert_true(tn_ct_flush(s) >= 1);
	assert_int_equal(tn_ct_count(s), 0);
	/* nested packets: an inner new flow confirmed while the outer waits */
	struct tn_pkt *outer = tn_pkt_from_bytes(s->pool, b, (uint32_t)udp_dgram(b, HA, HB, 7000, 53, 10));
	struct tn_nf_state st = {.hook = TN_NF_PRE_ROUTING, .in_ifindex = 1, .s = s};
	assert_int_equal(tn_ct_in(s, outer, &st), TN_NF_ACCEPT);
	EXPECT(pass_ex(s, TN_NF_LOCAL_OUT, b, tcp_seg(b, HR, HA, 1, 2, 3, 4, RST | ACK, 0, 0), false), TN_CT_INVALID,
	       false);
	EXPECT(pass_ex(s, TN_NF_LOCAL_OUT, b, icmp_echo(b, HR, HA, 8, 1, 1), false), TN_CT_NEW, false);
	assert_int_equal(tn_ct_confirm(s, outer), TN_NF_ACCEPT);
	assert_int_equal(tn_ct_state_of(s, outer, NULL), TN_CT_NEW);
	assert_non_null(find(s, 17, HA, HB, 7000, 53));
	tn_pkt_free(outer);
	/* disabled: packets read INVALID, memory goes */
	tern_conntrack_disable(s);
	assert_null(s->ct);
	assert_int_equal(tn_mempool_in_use(s->pool), 0);
	tern_stack_free(s);
}

static void test_nat_hooks(void **state)
{
	(void)state;
	struct tn_stack *s = new_stack();
	uint8_t b[256];
	/* SNAT-like: A:4000 -> B:53 leaves as R:61000; the reply comes to R */
	struct tn_pkt *p = tn_pkt_from_bytes(s->pool, b, (uint32_t)udp_dgram(b, HA, HB, 4000, 53, 10));
	struct tn_nf_state st = {.hook = TN_NF_PRE_ROUTING, .in_ifindex = 1, .s = s};
	assert_int_equal(tn_ct_in(s, p, &st), TN_NF_ACCEPT);
	enum tn_ct_dir dir;
	struct tn_ct *e = tn_ct_get(s, p, &dir);
	assert_non_null(e);
	assert_int_equal(dir, TN_CT_DIR_ORIGINAL);
	struct tn_ct_tuple reply = {HB, HR, 53, 61000};
	assert_false(tn_ct_tuple_taken(s, 17, &reply, e));
	assert_int_equal(tn_ct_alter_reply(s, e, &reply), 0);
	*tn_ct_mark(s, p) = 42;
	assert_int_equal(tn_ct_confirm(s, p), TN_NF_ACCEPT);
	tn_pkt_free(p);
	assert_true(tn_ct_tuple_taken(s, 17, &reply, NULL));
	EXPECT(pass(s, b, udp_dgram(b, HB, HR, 53, 61000, 10)), TN_CT_ESTABLISHED, true);
	assert_null(find(s, 17, HB, HA, 53, 4000));
	/* moved again once confirmed */
	struct tn_ct_tuple reply2 = {HB, HR, 53, 61001};
	assert_int_equal(tn_ct_alter_reply(s, e, &reply2), 0);
	EXPECT(pass(s, b, udp_dgram(b, HB, HR, 53, 61001, 10)), TN_CT_ESTABLISHED, true);
	EXPECT(pass(s, b, udp_dgram(b, HB, HR, 53, 61000, 10)), TN_CT_NEW, false);
	assert_int_equal(e->mark, 42);
	tern_stack_free(s);
}

static void test_cli_output(void **state)
{
	(void)state;
	struct tn_stack *s = new_stack();
	uint8_t b[256];
	pass(s, b, udp_dgram(b, HA, HB, 4000, 53, 10));
	pass(s, b, icmp_echo(b, HA, HB, 8, 3, 1));
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(tn_ct_list(s, f), 2);
	tn_ct_print_stats(s, f);
	fclose(f);
	assert_non_null(strstr(buf, "udp      17 30 src=198.18.1.2"));
	assert_non_null(strstr(buf, "2 flow entries have been shown."));
	assert_non_null(strstr(buf, "cpu=0   \tfound=0 invalid=0 insert=2 insert_failed=0 drop=0 early_drop=0 error=0"));
	free(buf);
	tern_stack_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_tcp_lifecycle),
		cmocka_unit_test(test_tcp_window),
		cmocka_unit_test(test_tcp_invalid),
		cmocka_unit_test(test_tcp_reopen),
		cmocka_unit_test(test_udp),
		cmocka_unit_test(test_icmp_echo),
		cmocka_unit_test(test_related),
		cmocka_unit_test(test_table_full),
		cmocka_unit_test(test_unconfirmed),
		cmocka_unit_test(test_nat_hooks),
		cmocka_unit_test(test_cli_output),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
