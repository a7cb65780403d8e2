/* TCP Fast Open (RFC 7413), segment by segment: the test plays the client
 * against a tern listener, and the server against a tern client, on the
 * scripted-peer wire.  Also SipHash-2-4's reference vectors and the key
 * sysctl's format. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "core/siphash.h"
#include "tcp/tcp_int.h"
#include "tcp_peer.h"
#include "testutil.h"
#include "wire/tcp.h"

#define KEY "00010203-04050607-08090a0b-0c0d0e0f"
#define KEY2 "deadbeef-01234567-89abcdef-00c0ffee"

static struct tn_tcb *tcb_of_fd(struct peer *p, int fd) { return tn_sock_get(p->s, fd)->tcb; }

/* ---- SipHash-2-4 ---- */

/* The authors' vectors.h: key 00..0f, message 00, 01, ... of each length. */
static const uint64_t sip_vectors[] = {
	0x726fdb47dd0e0e31ull, 0x74f839c593dc67fdull, 0x0d6c8009d9a94f5aull, 0x85676696d7fb7e2dull,
	0xcf2794e0277187b7ull, 0x18765564cd99a68dull, 0xcbc9466e58fee3ceull, 0xab0200f58b01d137ull,
	0x93f5f5799a932462ull, 0x9e0082df0ba9e4b0ull, 0x7a5dbbc594ddb9f3ull, 0xf4b32f46226bada7ull,
	0x751e8fbc860ee5fbull, 0x14ea5627c0843d90ull, 0xf723ca908e7af2eeull, 0xa129ca6149be45e5ull,
	0x3f2acc7f57c29bdbull,
};

static void test_siphash_vectors(void **state)
{
	uint8_t key[16], msg[64];
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	for (size_t n = 0; n < sizeof(sip_vectors) / sizeof(sip_vectors[0]); n++)
		assert_true(tn_siphash24(key, msg, n) == sip_vectors[n]);
}

/* ---- the key sysctl ---- */

static void test_key_sysctl(void **state)
{
	struct tn_stack *s = t_stack_new(3);
	char buf[128];
	/* the default: a key drawn for this stack, in Linux's form */
	assert_int_equal(tern_sysctl_get(s, "net.ipv4.tcp_fastopen_key", buf, sizeof(buf)), 0);
	assert_int_equal(strlen(buf), 35);
	uint8_t keys[2][16];
	assert_int_equal(tn_tcp_fastopen_key_parse(buf, keys), 1);
	/* another seed, another key */
	struct tn_stack *s2 = t_stack_new(4);
	char buf2[128];
	tern_sysctl_get(s2, "net.ipv4.tcp_fastopen_key", buf2, sizeof(buf2));
	assert_string_not_equal(buf, buf2);
	tern_stack_free(s2);
	/* round trips, short groups written out in full */
	assert_int_equal(tern_sysctl_set(s, "net.ipv4.tcp_fastopen_key", KEY), 0);
	tern_sysctl_get(s, "net.ipv4.tcp_fastopen_key", buf, sizeof(buf));
	assert_string_equal(buf, KEY);
	assert_int_equal(tern_sysctl_set(s, "net.ipv4.tcp_fastopen_key", "1-a-FF-0," KEY2), 0);
	tern_sysctl_get(s, "net.ipv4.tcp_fastopen_key", buf, sizeof(buf));
	assert_string_equal(buf, "00000001-0000000a-000000ff-00000000," KEY2);
	assert_int_equal(tn_tcp_fastopen_key_parse(buf, keys), 2);
	assert_int_equal(keys[0][0], 1);           /* the words are little-endian */
	assert_int_equal(keys[0][4], 0xa);
	assert_int_equal(keys[1][0], 0xef);
	assert_int_equal(keys[1][3], 0xde);
	static const char *const bad[] = {
		"", "x", "1-2-3", "1-2-3-4-5", "123456789-0-0-0", "1-2-3-4,", "1-2-3-4,5-6-7", "1-2-3-g",
		"1--2-3-4", "1-2-3-4,5-6-7-8,9-a-b-c", "-1-2-3-4", "1-2-3-4 5",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(tern_sysctl_set(s, "net.ipv4.tcp_fastopen_key", bad[i]), -EINVAL);
	tern_sysctl_get(s, "net.ipv4.tcp_fastopen_key", buf, sizeof(buf));
	assert_string_equal(buf, "00000001-0000000a-000000ff-00000000," KEY2); /* unchanged */
	/* the mode: Linux's default, client only */
	assert_int_equal(tern_sysctl_get(s, "net.ipv4.tcp_fastopen", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1");
	tern_stack_free(s);
}

/* ---- server side: the test is the client ---- */

/* Linux's IPv4 cookie, computed here independently: SipHash-2-4 of the
 * client's then the server's address (network order), little-endian. */
static void expect_cookie(const char *key, uint32_t client, uint32_t server, uint8_t out[8])
{
	uint8_t keys[2][16], msg[8];
	assert_true(tn_tcp_fastopen_key_parse(key, keys) >= 1);
	for (int i = 0; i < 4; i++) {
		msg[i] = (uint8_t)(client >> (24 - 8 * i));
		msg[4 + i] = (uint8_t)(server >> (24 - 8 * i));
	}
	uint64_t v = tn_siphash24(keys[0], msg, 8);
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(v >> (8 * i));
}

static int tfo_server(struct peer *p, const char *mode, int qlen)
{
	assert_int_equal(tern_sysctl_set(p->s, "net.ipv4.tcp_fastopen", mode), 0);
	assert_int_equal(tern_sysctl_set(p->s, "net.ipv4.tcp_fastopen_key", KEY), 0);
	int lfd = listen_on(p, SRV_PORT, 16);
	assert_int_equal(tern_setsockopt(p->s, lfd, IPPROTO_TCP, TCP_FASTOPEN, &qlen, sizeof(qlen)), 0);
	return lfd;
}

/* A SYN from the peer with a cookie option (len bytes of cookie; 0: a
 * request; -1: no option) and data. */
static void tfo_syn(struct peer *p, const uint8_t *cookie, int len, const char *data, uint16_t extra_flags)
{
	struct tn_tcp_opts o = syn_opts(false);
	if (len >= 0) {
		o.has_cookie = true;
		o.cookie_len = (uint8_t)len;
		if (len)
			memcpy(o.cookie, cookie, (size_t)len);
	}
	uint32_t n = data ? (uint32_t)strlen(data) : 0;
	send_seg(p, SRV_PORT, p->iss, 0, TN_TCP_SYN | extra_flags, 65535, &o, data, n);
}

static void test_server_cookie_request(void **state)
{
	struct peer p;
	peer_init(&p);
	int lfd = tfo_server(&p, "3", 16);
	tfo_syn(&p, NULL, 0, NULL, 0);
	struct out sa;
	assert_true(take(&p, &sa));
	assert_int_equal(sa.h.flags, TN_TCP_SYN | TN_TCP_ACK);
	assert_int_equal(sa.h.ack, p.iss + 1);
	assert_true(sa.h.opt.has_cookie);
	assert_int_equal(sa.h.opt.cookie_len, 8);
	uint8_t want[8];
	expect_cookie(KEY, p.them, p.us, want);
	assert_memory_equal(sa.h.opt.cookie, want, 8);
	assert_int_equal(peer_stat(&p, "TcpExtTCPFastOpenCookieReqd"), 1);
	assert_int_equal(peer_stat(&p, "TcpExtTCPFastOpenPassive"), 0);
	assert_int_equal(tern_accept(p.s, lfd, NULL, NULL), -1); /* an ordinary handshake */
	peer_free(&p);
}

static void test_server_valid_cookie_data(void **state)
{
	struct peer p;
	peer_init(&p);
	int lfd = tfo_server(&p, "3", 16);
	uint8_t cookie[8];
	expect_cookie(KEY, p.them, p.us, cookie);
	tfo_syn(&p, cookie, 8, "GET /", 0);
	struct out sa;
	assert_true(take(&p, &sa));
	assert_int_equal(sa.h.flags, TN_TCP_SYN | TN_TCP_ACK);
	assert_int_equal(sa.h.ack, p.iss + 1 + 5); /* the data acknowledged in the SYN-ACK */
	assert_false(sa.h.opt.has_cookie);         /* a valid primary cookie is not sent again */
	assert_int_equal(peer_stat(&p, "TcpExtTCPFastOpenPassive"), 1);
	/* before the final ACK: accepted, readable, writable */
	int fd = tern_accept(p.s, lfd, NULL, NULL);
	assert_true(fd >= 0);
	assert_int_equal(tcb_of_fd(&p, fd)->state, TN_TCP_SYN_RECEIVED);
	char buf[16];
	assert_int_equal(tern_recv(p.s, fd, buf, sizeof(buf), 0), 5);
	assert_memory_equal(buf, "GET /", 5);
	assert_true(tern_sock_events(p.s, fd) & POLLOUT);
	assert_int_equal(tern_send(p.s, fd, "200 OK", 6, 0), 6);
	struct out d;
	assert_true(take(&p, &d)); /* the answer leaves before the final ACK */
	assert_int_equal(d.h.seq, sa.h.seq + 1);
	assert_int_equal(d.len, 6);
	assert_memory_equal(d.data, "200 OK", 6);
	assert_int_equal(d.h.ack, p.iss + 1 + 5);
	assert_int_equal(peer_stat(&p, "TcpCurrEstab"), 0);
	/* the final ACK, acknowledging the answer too */
	p.seq = p.iss + 1 + 5;
	p.ack = sa.h.seq + 1 + 6;
	peer_send(&p, SRV_PORT, TN_TCP_ACK, NULL, 0);
	struct tn_tcb *t = tcb_of_fd(&p, fd);
	assert_int_equal(t->state, TN_TCP_ESTABLISHED);
	assert_int_equal(t->snd_una, sa.h.seq + 1 + 6);
	assert_int_equal(t->snd.len, 0);
	assert_int_equal(t->txq.count, 0);
	assert_int_equal(tcb_of_fd(&p, lfd)->tfo_pending, 0);
	assert_int_equal(peer_stat(&p, "TcpPassiveOpens"), 1);
	assert_int_equal(peer_stat(&p, "TcpCurrEstab"), 1);
	/* more data flows as usual */
	peer_send(&p, SRV_PORT, TN_TCP_ACK | TN_TCP_PSH, "more", 4);
	assert_int_equal(tern_recv(p.s, fd, buf, sizeof(buf), 0), 4);
	tern_close(p.s, fd);
	peer_free(&p);
}

static void test_server_bad_cookie(void **state)
{
	struct peer p;
	peer_init(&p);
	int lfd = tfo_server(&p, "3", 16);
	uint8_t bad[8] = {1, 2, 3, 4, 5, 6, 7, 8}, want[8];
	expect_cookie(KEY, p.them, p.us, want);
	tfo_syn(&p, bad, 8, "hello", 0);
	struct out sa;
	assert_true(take(&p, &sa));
	assert_int_equal(sa.h.ack, p.iss + 1); /* the data is not taken */
	assert_true(sa.h.opt.has_cookie);
	assert_int_equal(sa.h.opt.cookie_len, 8);
	assert_memory_equal(sa.h.opt.cookie, want, 8);
	assert_int_equal(peer_stat(&p, "TcpExtTCPFastOpenPassiveFail"), 1);
	assert_int_equal(peer_stat(&p, "TcpExtTCPFastOpenPassive"), 0);
	assert_int_equal(tern_accept(p.s, lfd, NULL, NULL), -1);
	/* the client resends its data after the handshake: delivered once */
	p.seq = p.iss + 1;
	p.ack = sa.h.seq + 1;
	peer_send(&p, SRV_PORT, TN_TCP_ACK | TN_TCP_PSH, "hello", 5);
	int fd = tern_accept(p.s, lfd, NULL, NULL);
	assert_true(fd >= 0);
	char buf[16];
	assert_int_equal(tern_recv(p.s, fd, buf, sizeof(buf), 0), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(tern_recv(p.s, fd, buf, sizeof(buf), 0), -1);
	assert_int_equal(errno, EAGAIN);
	peer_free(&p);
}

/* An accepted TFO child outlives its listener: closed before the final
 * ACK, the listener lets go of it, and the handshake still completes. */
static void test_server_listener_closed_before_final_ack(void **state)
{
	struct peer p;
	peer_init(&p);
	int lfd = tfo_server(&p, "3", 4);
	uint8_t cookie[8];
	expect_cookie(KEY, p.them, p.us, cookie);
	tfo_syn(&p, cookie, 8, "hi", 0);
	struct out sa;
	assert_true(take(&p, &sa));
	int fd = tern_accept(p.s, lfd, NULL, NULL);
	assert_true(fd >= 0);
	assert_true(tcb_of_fd(&p, fd)->parent != NULL); /* on the listener's TFO queue */
	tern_close(p.s, lfd);
	assert_null(tcb_of_fd(&p, fd)->parent);
	p.seq = p.iss + 1 + 2;
	p.ack = sa.h.seq + 1;
	peer_send(&p, SRV_PORT, TN_TCP_ACK, NULL, 0);
	assert_int_equal(tcb_of_fd(&p, fd)->state, TN_TCP_ESTABLISHED);
	char buf[4];
	assert_int_equal(tern_recv(p.s, fd, buf, sizeof(buf), 0), 2);
	tern_close(p.s, fd);
	peer_free(&p);
}

/* tcp_fastopen 0 or 1 (no server bit): the option is ignored, as the
 * TCP_FASTOPEN socket option is without the sysctl. */
static void test_server_disabled(void **state)
{
	static const char *const modes[] = {"0", "1"};
	for (int m = 0; m < 2; m++) {
		struct peer p;
		peer_init(&p);
		int lfd = tfo_server(&p, modes[m], 16);
		tfo_syn(&p, NULL, 0, NULL, 0);
		struct out sa;
		assert_true(take(&p, &sa));
		assert_false(sa.h.opt.has_cookie);
		uint8_t cookie[8];
		expect_cookie(KEY, p.them, p.us, cookie);
		p.port++;
		tfo_syn(&p, cookie, 8, "hello", 0);
		assert_true(take(&p, &sa));
		assert_int_equal(sa.h.flags, TN_TCP_SYN | TN_TCP_ACK);
		assert_int_equal(sa.h.ack, p.iss + 1);
		assert_false(sa.h.opt.has_cookie);
		assert_int_equal(tern_accept(p.s, lfd, NULL, NULL), -1);
		assert_int_equal(peer_stat(&p, "TcpExtTCPFastOpenPassive"), 0);
		peer_free(&p);
	}
}

static void test_server_fin_in_syn(void **state)
{
	struct peer p;
	peer_init(&p);
	int lfd = tfo_server(&p, "3", 16);
	uint8_t cookie[8];
	expect_cookie(KEY, p.them, p.us, cookie);
	tfo_syn(&p, cookie, 8, "bye", TN_TCP_FIN);
	struct out sa;
	assert_true(take(&p, &sa));
	assert_int_equal(sa.h.ack, p.iss + 1 + 3 + 1); /* data and FIN */
	int fd = tern_accept(p.s, lfd, NULL, NULL);
	assert_true(fd >= 0);
	char buf[8];
	assert_int_equal(tern_recv(p.s, fd, buf, sizeof(buf), 0), 3);
	assert_int_equal(tern_recv(p.s, fd, buf, sizeof(buf), 0), 0); /* end of stream */
	p.seq = p.iss + 1 + 3 + 1;
	p.ack = sa.h.seq + 1;
	peer_send(&p, SRV_PORT, TN_TCP_ACK, NULL, 0);
	assert_int_equal(tcb_of_fd(&p, fd)->state, TN_TCP_CLOSE_WAIT);
	tern_close(p.s, fd);
	struct out fin;
	do
		assert_true(take(&p, &fin));
	while (!(fin.h.flags & TN_TCP_FIN));
	assert_int_equal(fin.h.seq, sa.h.seq + 1);
	peer_free(&p);
}

static void test_server_qlen_overflow_and_backup_key(void **state)
{
	struct peer p;
	peer_init(&p);
	int lfd = tfo_server(&p, "3", 1);
	/* the cookie of the backup key: accepted, and replaced */
	assert_int_equal(tern_sysctl_set(p.s, "net.ipv4.tcp_fastopen_key", KEY2 "," KEY), 0);
	uint8_t old[8], cur[8];
	expect_cookie(KEY, p.them, p.us, old);
	expect_cookie(KEY2, p.them, p.us, cur);
	tfo_syn(&p, old, 8, "one", 0);
	struct out sa;
	assert_true(take(&p, &sa));
	assert_int_equal(sa.h.ack, p.iss + 1 + 3);
	assert_true(sa.h.opt.has_cookie);
	assert_memory_equal(sa.h.opt.cookie, cur, 8);
	assert_int_equal(tcb_of_fd(&p, lfd)->tfo_pending, 1);
	/* qlen 1: a second TFO SYN waits for the first's final ACK */
	p.port++;
	tfo_syn(&p, cur, 8, "two", 0);
	assert_true(take(&p, &sa));
	assert_int_equal(sa.h.ack, p.iss + 1);
	assert_int_equal(peer_stat(&p, "TcpExtTCPFastOpenListenOverflow"), 1);
	assert_int_equal(peer_stat(&p, "TcpExtTCPFastOpenPassive"), 1);
	/* the listener closing takes the waiting TFO child */
	tern_close(p.s, lfd);
	assert_int_equal(p.s->tcp.count, 0);
	peer_free(&p);
}

/* ---- client side: the test is the server ---- */

static int fo_sendto(struct peer *p, const char *data)
{
	int fd = tern_socket(p->s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(SRV_PORT)};
	a.sin_addr.s_addr = htonl(p->them);
	ssize_t n = tern_sendto(p->s, fd, data, strlen(data), MSG_FASTOPEN, (struct sockaddr *)&a, sizeof(a));
	return n < 0 ? -errno : (int)n;
}

/* The peer's SYN-ACK to tern's SYN, acknowledging `ack`; cookie if set. */
static void synack(struct peer *p, const struct out *syn, uint32_t ack, const uint8_t *cookie)
{
	struct tn_tcp_opts o = syn_opts(false);
	if (cookie) {
		o.has_cookie = true;
		o.cookie_len = 8;
		memcpy(o.cookie, cookie, 8);
	}
	send_seg(p, syn->h.sport, p->iss, ack, TN_TCP_SYN | TN_TCP_ACK, 65535, &o, NULL, 0);
}

static const uint8_t server_cookie[8] = {0xc0, 0x0c, 0x1e, 0x5e, 0xe0, 0xf0, 0x01, 0x02};

/* First contact: a cookie request, the cookie kept from the SYN-ACK. */
static void get_cookie(struct peer *p)
{
	assert_int_equal(fo_sendto(p, "hello"), -EINPROGRESS);
	struct out syn;
	assert_true(take(p, &syn));
	assert_int_equal(syn.h.flags & (TN_TCP_SYN | TN_TCP_ACK), TN_TCP_SYN);
	assert_true(syn.h.opt.has_cookie);
	assert_int_equal(syn.h.opt.cookie_len, 0);
	assert_int_equal(syn.len, 0);
	synack(p, &syn, syn.h.seq + 1, server_cookie);
	struct out ack;
	assert_true(take(p, &ack));
	assert_int_equal(ack.h.flags, TN_TCP_ACK);
	assert_int_equal(ack.len, 0);
}

static void client_peer(struct peer *p)
{
	peer_init(p);
	p->port = SRV_PORT; /* the peer is the server */
}

static void test_client_cookie_then_data(void **state)
{
	struct peer p;
	client_peer(&p);
	get_cookie(&p);
	assert_int_equal(fo_sendto(&p, "hello"), 5);
	struct out syn;
	assert_true(take(&p, &syn));
	assert_int_equal(syn.h.flags & (TN_TCP_SYN | TN_TCP_ACK), TN_TCP_SYN);
	assert_true(syn.h.opt.has_cookie);
	assert_int_equal(syn.h.opt.cookie_len, 8);
	assert_memory_equal(syn.h.opt.cookie, server_cookie, 8);
	assert_int_equal(syn.len, 5);
	assert_memory_equal(syn.data, "hello", 5);
	synack(&p, &syn, syn.h.seq + 1 + 5, NULL);
	struct out ack;
	assert_true(take(&p, &ack));
	assert_int_equal(ack.h.flags, TN_TCP_ACK);
	assert_int_equal(ack.h.seq, syn.h.seq + 1 + 5);
	assert_int_equal(ack.len, 0);
	assert_false(take(&p, &ack)); /* nothing to resend */
	assert_int_equal(peer_stat(&p, "TcpExtTCPFastOpenActive"), 1);
	assert_int_equal(peer_stat(&p, "TcpExtTCPFastOpenActiveFail"), 0);
	peer_free(&p);
}

static void test_client_data_not_acked(void **state)
{
	struct peer p;
	client_peer(&p);
	get_cookie(&p);
	assert_int_equal(fo_sendto(&p, "hello"), 5);
	struct out syn, o;
	assert_true(take(&p, &syn));
	assert_int_equal(syn.len, 5);
	synack(&p, &syn, syn.h.seq + 1, NULL); /* the server took only the SYN */
	bool resent = false;
	while (take(&p, &o))
		if (o.len == 5 && o.h.seq == syn.h.seq + 1 && memcmp(o.data, "hello", 5) == 0)
			resent = true;
	assert_true(resent);
	assert_int_equal(peer_stat(&p, "TcpExtTCPFastOpenActiveFail"), 1);
	assert_int_equal(peer_stat(&p, "TcpExtTCPFastOpenActive"), 0);
	peer_free(&p);
}

static void test_client_syn_timeout(void **state)
{
	struct peer p;
	client_peer(&p);
	get_cookie(&p);
	assert_int_equal(fo_sendto(&p, "hello"), 5);
	struct out syn, re;
	assert_true(take(&p, &syn));
	assert_int_equal(syn.len, 5);
	advance(&p, T_SEC + 10 * T_MS);
	assert_true(take(&p, &re));
	assert_int_equal(re.h.flags & TN_TCP_SYN, TN_TCP_SYN);
	assert_int_equal(re.h.seq, syn.h.seq);
	assert_int_equal(re.len, 0);           /* resent without data */
	assert_false(re.h.opt.has_cookie);     /* and without the option */
	/* the handshake completes; the data follows it */
	synack(&p, &re, re.h.seq + 1, NULL);
	bool resent = false;
	struct out o;
	while (take(&p, &o))
		resent |= o.len == 5 && o.h.seq == syn.h.seq + 1;
	assert_true(resent);
	/* the destination is left alone for a while: no option, no data */
	p.iss += 100000;
	assert_int_equal(fo_sendto(&p, "again"), -EINPROGRESS);
	assert_true(take(&p, &o));
	assert_int_equal(o.h.flags & TN_TCP_SYN, TN_TCP_SYN);
	assert_false(o.h.opt.has_cookie);
	assert_int_equal(o.len, 0);
	peer_free(&p);
}

static void test_client_fastopen_connect(void **state)
{
	struct peer p;
	client_peer(&p);
	int on = 1;
	/* no cookie yet: connect sends a cookie request */
	int fd = tern_socket(p.s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_int_equal(tern_setsockopt(p.s, fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &on, sizeof(on)), 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(SRV_PORT)};
	a.sin_addr.s_addr = htonl(p.them);
	assert_int_equal(tern_connect(p.s, fd, (struct sockaddr *)&a, sizeof(a)), -1);
	assert_int_equal(errno, EINPROGRESS);
	struct out syn, o;
	assert_true(take(&p, &syn));
	assert_true(syn.h.opt.has_cookie);
	assert_int_equal(syn.h.opt.cookie_len, 0);
	synack(&p, &syn, syn.h.seq + 1, server_cookie);
	while (take(&p, &o))
		;
	/* with the cookie: connect returns at once, sends nothing, is writable */
	int fd2 = tern_socket(p.s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_int_equal(tern_setsockopt(p.s, fd2, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &on, sizeof(on)), 0);
	assert_int_equal(tern_connect(p.s, fd2, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_false(take(&p, &o));
	assert_true(tern_sock_events(p.s, fd2) & POLLOUT);
	assert_int_equal(tern_send(p.s, fd2, "GET /", 5, 0), 5); /* the first write makes the SYN */
	assert_true(take(&p, &o));
	assert_int_equal(o.h.flags & (TN_TCP_SYN | TN_TCP_ACK), TN_TCP_SYN);
	assert_int_equal(o.len, 5);
	assert_memory_equal(o.h.opt.cookie, server_cookie, 8);
	/* TCP_FASTOPEN_CONNECT is for before connect(); off with the sysctl */
	assert_int_equal(tern_setsockopt(p.s, fd2, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &on, sizeof(on)), -1);
	assert_int_equal(errno, EINVAL);
	tern_sysctl_set(p.s, "net.ipv4.tcp_fastopen", "0");
	int fd3 = tern_socket(p.s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_int_equal(tern_setsockopt(p.s, fd3, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &on, sizeof(on)), -1);
	assert_int_equal(errno, EOPNOTSUPP);
	assert_int_equal(fo_sendto(&p, "x"), -EOPNOTSUPP);
	peer_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_vectors),
		cmocka_unit_test(test_key_sysctl),
		cmocka_unit_test(test_server_cookie_request),
		cmocka_unit_test(test_server_valid_cookie_data),
		cmocka_unit_test(test_server_bad_cookie),
		cmocka_unit_test(test_server_listener_closed_before_final_ack),
		cmocka_unit_test(test_server_disabled),
		cmocka_unit_test(test_server_fin_in_syn),
		cmocka_unit_test(test_server_qlen_overflow_and_backup_key),
		cmocka_unit_test(test_client_cookie_then_data),
		cmocka_unit_test(test_client_data_not_acked),
		cmocka_unit_test(test_client_syn_timeout),
		cmocka_unit_test(test_client_fastopen_connect),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
