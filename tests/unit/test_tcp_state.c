/* The TCP state machine driven segment by segment on a virtual clock: the
 * test plays the peer, injecting segments on a raw-IP wire and reading what
 * tern sends back.  Each case names the RFC or Linux behaviour it pins. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "tcp/tcp_int.h"
#include "tcp_peer.h"
#include "testutil.h"
#include "wire/csum.h"
#include "wire/tcp.h"

static struct tn_tcb *tcb_of_fd(struct peer *p, int fd) { return tn_sock_get(p->s, fd)->tcb; }

/* ---- opening ---- */

static void test_passive_open_options(void **state)
{
	struct peer p;
	peer_init(&p);
	int lfd = listen_on(&p, SRV_PORT, 16);
	struct tn_tcp_opts o = syn_opts(true);
	send_seg(&p, SRV_PORT, p.iss, 0, TN_TCP_SYN, 65535, &o, NULL, 0);
	struct out sa;
	assert_true(take(&p, &sa));
	assert_int_equal(sa.h.flags, TN_TCP_SYN | TN_TCP_ACK);
	assert_true(sa.h.opt.has_mss);
	assert_int_equal(sa.h.opt.mss, 1460); /* the route's MTU less 40, timestamps or not */
	assert_true(sa.h.opt.has_wscale);
	assert_int_equal(sa.h.opt.wscale, 7);
	assert_true(sa.h.opt.sack_ok);
	assert_true(sa.h.opt.has_ts);
	assert_int_equal(sa.h.opt.tsecr, 5000);
	assert_int_equal(tern_accept(p.s, lfd, NULL, NULL), -1);
	assert_int_equal(errno, EAGAIN);
	p.seq = p.iss + 1;
	p.ack = sa.h.seq + 1;
	p.ts = true;
	peer_send(&p, SRV_PORT, TN_TCP_ACK, NULL, 0);
	int fd = tern_accept(p.s, lfd, NULL, NULL);
	assert_true(fd >= 0);
	struct tn_tcb *t = tcb_of_fd(&p, fd);
	assert_int_equal(t->state, TN_TCP_ESTABLISHED);
	assert_int_equal(t->snd_wscale, 2);
	assert_int_equal(t->mss, 1460 - 12);
	assert_int_equal(peer_stat(&p, "TcpPassiveOpens"), 1);
	peer_free(&p);
}

static void test_synack_retransmit_then_give_up(void **state)
{
	struct peer p;
	peer_init(&p);
	listen_on(&p, SRV_PORT, 16);
	struct tn_tcp_opts o = syn_opts(false);
	send_seg(&p, SRV_PORT, p.iss, 0, TN_TCP_SYN, 65535, &o, NULL, 0);
	assert_int_equal(count_sent(&p, TN_TCP_SYN), 1);
	/* tcp_synack_retries=5 with 1 s doubling: 1, 2, 4, 8, 16 s, then gone at 32 s more */
	uint64_t at = p.now, rto = T_SEC;
	for (int i = 0; i < 5; i++) {
		at += rto;
		run_to(&p, at - T_MS);
		assert_int_equal(count_sent(&p, TN_TCP_SYN), 0);
		run_to(&p, at + T_MS);
		assert_int_equal(count_sent(&p, TN_TCP_SYN), 1);
		rto *= 2;
	}
	assert_int_equal(p.s->tcp.count, 1);
	run_to(&p, at + rto + T_MS);
	assert_int_equal(p.s->tcp.count, 0);
	assert_int_equal(count_sent(&p, TN_TCP_SYN), 0);
	peer_free(&p);
}

static int start_connect(struct peer *p)
{
	int fd = tern_socket(p->s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(SRV_PORT)};
	a.sin_addr.s_addr = htonl(p->them);
	assert_int_equal(tern_connect(p->s, fd, (struct sockaddr *)&a, sizeof(a)), -1);
	assert_int_equal(errno, EINPROGRESS);
	return fd;
}

static void test_active_open(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = start_connect(&p);
	struct out syn;
	assert_true(take(&p, &syn));
	assert_int_equal(syn.h.flags, TN_TCP_SYN);
	assert_int_equal(syn.h.opt.mss, 1460);
	assert_true(syn.h.opt.has_ts && syn.h.opt.sack_ok && syn.h.opt.has_wscale);
	uint16_t lport = syn.h.sport;
	assert_true(lport >= 32768 && lport <= 60999); /* ip_local_port_range */
	p.port = SRV_PORT; /* the peer is the server now */
	struct tn_tcp_opts o = syn_opts(false);
	send_seg(&p, lport, p.iss, syn.h.seq + 1, TN_TCP_SYN | TN_TCP_ACK, 65535, &o, NULL, 0);
	struct out ack;
	assert_true(take(&p, &ack));
	assert_int_equal(ack.h.flags, TN_TCP_ACK);
	assert_int_equal(ack.h.ack, p.iss + 1);
	assert_int_equal(tcb_of_fd(&p, fd)->state, TN_TCP_ESTABLISHED);
	int err = -1;
	socklen_t el = sizeof(err);
	assert_int_equal(tern_getsockopt(p.s, fd, SOL_SOCKET, SO_ERROR, &err, &el), 0);
	assert_int_equal(err, 0);
	assert_true(tern_sock_events(p.s, fd) & POLLOUT);
	peer_free(&p);
}

static void test_syn_retries_then_etimedout(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = start_connect(&p);
	/* tcp_syn_retries=6: SYNs at 0, 1, 3, 7, 15, 31, 63 s; ETIMEDOUT at 127 s */
	run_to(&p, p.now + 126 * T_SEC);
	assert_int_equal(count_sent(&p, TN_TCP_SYN), 7);
	assert_int_equal(tcb_of_fd(&p, fd)->state, TN_TCP_SYN_SENT);
	run_to(&p, p.now + 2 * T_SEC);
	char c;
	assert_int_equal(tern_recv(p.s, fd, &c, 1, 0), -1);
	assert_int_equal(errno, ETIMEDOUT);
	peer_free(&p);
}

static void test_simultaneous_open(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = start_connect(&p);
	struct out syn;
	assert_true(take(&p, &syn));
	p.port = SRV_PORT;
	struct tn_tcp_opts o = syn_opts(false);
	send_seg(&p, syn.h.sport, p.iss, 0, TN_TCP_SYN, 65535, &o, NULL, 0); /* SYNs cross */
	struct out sa;
	assert_true(take(&p, &sa));
	assert_int_equal(sa.h.flags, TN_TCP_SYN | TN_TCP_ACK);
	assert_int_equal(sa.h.seq, syn.h.seq);
	assert_int_equal(sa.h.ack, p.iss + 1);
	assert_int_equal(tcb_of_fd(&p, fd)->state, TN_TCP_SYN_RECEIVED);
	send_seg(&p, syn.h.sport, p.iss, syn.h.seq + 1, TN_TCP_SYN | TN_TCP_ACK, 65535, &o, NULL, 0);
	assert_int_equal(tcb_of_fd(&p, fd)->state, TN_TCP_ESTABLISHED);
	peer_free(&p);
}

static void test_rst_to_closed_port(void **state)
{
	struct peer p;
	peer_init(&p);
	struct tn_tcp_opts o = syn_opts(false);
	send_seg(&p, 81, 777, 0, TN_TCP_SYN, 65535, &o, NULL, 0);
	struct out r;
	assert_true(take(&p, &r));
	assert_int_equal(r.h.flags, TN_TCP_RST | TN_TCP_ACK);
	assert_int_equal(r.h.seq, 0);
	assert_int_equal(r.h.ack, 778);
	send_seg(&p, 81, 777, 4242, TN_TCP_ACK, 65535, NULL, NULL, 0);
	assert_true(take(&p, &r));
	assert_int_equal(r.h.flags, TN_TCP_RST);
	assert_int_equal(r.h.seq, 4242);
	send_seg(&p, 81, 777, 4242, TN_TCP_RST, 65535, NULL, NULL, 0); /* never a RST for a RST */
	assert_false(take(&p, &r));
	peer_free(&p);
}

/* ---- RFC 5961 ---- */

static void test_rst_exact_vs_in_window(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	/* in the window but not at RCV.NXT: a challenge ACK, the connection stays */
	send_seg(&p, SRV_PORT, p.seq + 100, 0, TN_TCP_RST, 0, NULL, NULL, 0);
	struct out a;
	assert_true(take(&p, &a));
	assert_int_equal(a.h.flags, TN_TCP_ACK);
	assert_int_equal(a.h.ack, p.seq);
	assert_int_equal(peer_stat(&p, "TcpExtTCPChallengeACK"), 1);
	assert_int_equal(tcb_of_fd(&p, fd)->state, TN_TCP_ESTABLISHED);
	/* outside the window: silently dropped */
	send_seg(&p, SRV_PORT, p.seq - 10, 0, TN_TCP_RST, 0, NULL, NULL, 0);
	assert_false(take(&p, &a));
	assert_int_equal(tcb_of_fd(&p, fd)->state, TN_TCP_ESTABLISHED);
	/* exactly RCV.NXT: the connection is reset */
	send_seg(&p, SRV_PORT, p.seq, 0, TN_TCP_RST, 0, NULL, NULL, 0);
	char c;
	assert_int_equal(tern_recv(p.s, fd, &c, 1, 0), -1);
	assert_int_equal(errno, ECONNRESET);
	assert_int_equal(peer_stat(&p, "TcpEstabResets"), 1);
	peer_free(&p);
}

static void test_syn_in_established_challenged(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	struct tn_tcp_opts o = syn_opts(false);
	send_seg(&p, SRV_PORT, p.seq + 5, 0, TN_TCP_SYN, 65535, &o, NULL, 0);
	struct out a;
	assert_true(take(&p, &a));
	assert_int_equal(a.h.flags, TN_TCP_ACK);
	assert_int_equal(a.h.ack, p.seq);
	assert_int_equal(tcb_of_fd(&p, fd)->state, TN_TCP_ESTABLISHED);
	peer_free(&p);
}

static void test_challenge_ack_rate_limited(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	for (int i = 0; i < 50; i++)
		send_seg(&p, SRV_PORT, p.seq + 100 + (uint32_t)i, 0, TN_TCP_RST, 0, NULL, NULL, 0);
	/* one per tcp_invalid_ratelimit (500 ms) per connection */
	assert_int_equal(count_sent(&p, TN_TCP_ACK), 1);
	assert_int_equal(peer_stat(&p, "TcpExtTCPACKSkippedChallenge"), 49);
	advance(&p, 501 * T_MS);
	send_seg(&p, SRV_PORT, p.seq + 100, 0, TN_TCP_RST, 0, NULL, NULL, 0);
	assert_int_equal(count_sent(&p, TN_TCP_ACK), 1);
	assert_int_equal(tcb_of_fd(&p, fd)->state, TN_TCP_ESTABLISHED);
	peer_free(&p);
}

static void test_old_ack_ignored(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	struct tn_tcb *t = tcb_of_fd(&p, fd);
	/* an ACK far behind SND.UNA (more than the peer's largest window):
	 * its data is not taken, a challenge ACK answers */
	send_seg(&p, SRV_PORT, p.seq, p.ack - 1000000, TN_TCP_ACK, 65535, NULL, "evil", 4);
	struct out a;
	assert_true(take(&p, &a));
	assert_int_equal(a.h.ack, p.seq);
	assert_int_equal(t->rcvq.bytes, 0);
	/* an in-window data segment with a current ACK is taken */
	peer_send(&p, SRV_PORT, TN_TCP_ACK | TN_TCP_PSH, "good", 4);
	char buf[8];
	assert_int_equal(tern_recv(p.s, fd, buf, sizeof(buf), 0), 4);
	assert_memory_equal(buf, "good", 4);
	peer_free(&p);
}

/* ---- RFC 7323 ---- */

static void test_paws_rejects_old_timestamp(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), true);
	peer_send(&p, SRV_PORT, TN_TCP_ACK, "aaaa", 4);
	count_sent(&p, 0);
	struct tn_tcp_opts o = {.has_ts = true, .tsval = 100, .tsecr = p.tern_ts}; /* older than ts_recent */
	send_seg(&p, SRV_PORT, p.seq, p.ack, TN_TCP_ACK, 16383, &o, "bbbb", 4);
	struct out a;
	assert_true(take(&p, &a));
	assert_int_equal(a.h.ack, p.seq); /* a duplicate ACK: the data was not taken */
	assert_int_equal(peer_stat(&p, "TcpExtPAWSEstab"), 1);
	char buf[16];
	assert_int_equal(tern_recv(p.s, fd, buf, sizeof(buf), 0), 4);
	assert_memory_equal(buf, "aaaa", 4);
	peer_free(&p);
}

static void test_window_scaling_limits_sending(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	/* the peer offers 10 << 2 = 40 bytes */
	send_seg(&p, SRV_PORT, p.seq, p.ack, TN_TCP_ACK, 10, NULL, NULL, 0);
	static uint8_t data[5000];
	assert_int_equal(tern_send(p.s, fd, data, sizeof(data), 0), (ssize_t)sizeof(data));
	struct out o;
	uint32_t sent = 0;
	while (take(&p, &o))
		sent += o.len;
	assert_int_equal(sent, 40);
	/* tern's own window field is scaled by 7 */
	peer_send(&p, SRV_PORT, TN_TCP_ACK, "x", 1);
	advance(&p, 300 * T_MS);
	assert_true(take(&p, &o));
	struct tn_tcb *t = tcb_of_fd(&p, fd);
	assert_int_equal((uint32_t)o.h.win << 7, t->rcv_adv - t->rcv_nxt);
	peer_free(&p);
}

static void test_out_of_window_data_dropped(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	send_seg(&p, SRV_PORT, p.seq + 10000000, p.ack, TN_TCP_ACK, 65535, NULL, "far", 3);
	struct out a;
	assert_true(take(&p, &a));
	assert_int_equal(a.h.ack, p.seq);
	assert_int_equal(tcb_of_fd(&p, fd)->rcvq.bytes + tcb_of_fd(&p, fd)->ooo_bytes, 0);
	peer_free(&p);
}

static void test_out_of_order_reassembled(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	send_seg(&p, SRV_PORT, p.seq + 3, p.ack, TN_TCP_ACK, 65535, NULL, "def", 3);
	struct out a;
	assert_true(take(&p, &a)); /* an immediate duplicate ACK */
	assert_int_equal(a.h.ack, p.seq);
	char buf[8];
	assert_int_equal(tern_recv(p.s, fd, buf, sizeof(buf), 0), -1);
	send_seg(&p, SRV_PORT, p.seq, p.ack, TN_TCP_ACK, 65535, NULL, "abc", 3);
	assert_true(take(&p, &a)); /* the hole filled: ACK at once */
	assert_int_equal(a.h.ack, p.seq + 6);
	assert_int_equal(tern_recv(p.s, fd, buf, sizeof(buf), 0), 6);
	assert_memory_equal(buf, "abcdef", 6);
	peer_free(&p);
}

/* ---- closing ---- */

static void test_active_close_to_time_wait(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	struct tn_tcb *t = tcb_of_fd(&p, fd);
	assert_int_equal(tern_shutdown(p.s, fd, SHUT_WR), 0);
	struct out f;
	assert_true(take(&p, &f));
	assert_true(f.h.flags & TN_TCP_FIN);
	assert_int_equal(t->state, TN_TCP_FIN_WAIT_1);
	p.ack = f.h.seq + 1;
	peer_send(&p, SRV_PORT, TN_TCP_ACK, NULL, 0);
	assert_int_equal(t->state, TN_TCP_FIN_WAIT_2);
	peer_send(&p, SRV_PORT, TN_TCP_ACK, "late", 4); /* half-closed: still receives */
	char buf[8];
	assert_int_equal(tern_recv(p.s, fd, buf, sizeof(buf), 0), 4);
	peer_send(&p, SRV_PORT, TN_TCP_FIN | TN_TCP_ACK, NULL, 0);
	assert_int_equal(t->state, TN_TCP_TIME_WAIT);
	assert_int_equal(tern_close(p.s, fd), 0);
	assert_int_equal(p.s->tcp.tw_count, 1);
	count_sent(&p, 0);
	/* a retransmitted FIN is ACKed and restarts the 60 s */
	advance(&p, 50 * T_SEC);
	send_seg(&p, SRV_PORT, p.seq - 1, p.ack, TN_TCP_FIN | TN_TCP_ACK, 65535, NULL, NULL, 0);
	struct out a;
	assert_true(take(&p, &a));
	assert_int_equal(a.h.ack, p.seq);
	advance(&p, 59 * T_SEC);
	assert_int_equal(p.s->tcp.tw_count, 1);
	advance(&p, 2 * T_SEC);
	assert_int_equal(p.s->tcp.tw_count, 0);
	assert_int_equal(p.s->tcp.count, 0);
	peer_free(&p);
}

static void test_simultaneous_close(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	struct tn_tcb *t = tcb_of_fd(&p, fd);
	tern_shutdown(p.s, fd, SHUT_WR);
	struct out f;
	assert_true(take(&p, &f));
	peer_send(&p, SRV_PORT, TN_TCP_FIN | TN_TCP_ACK, NULL, 0); /* FINs cross: ours not yet acked */
	assert_int_equal(t->state, TN_TCP_CLOSING);
	p.ack = f.h.seq + 1;
	peer_send(&p, SRV_PORT, TN_TCP_ACK, NULL, 0);
	assert_int_equal(t->state, TN_TCP_TIME_WAIT);
	tern_close(p.s, fd);
	peer_free(&p);
}

static void test_passive_close(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	struct tn_tcb *t = tcb_of_fd(&p, fd);
	peer_send(&p, SRV_PORT, TN_TCP_FIN | TN_TCP_ACK, NULL, 0);
	assert_int_equal(t->state, TN_TCP_CLOSE_WAIT);
	char c;
	assert_int_equal(tern_recv(p.s, fd, &c, 1, 0), 0);
	assert_int_equal(tern_send(p.s, fd, "bye", 3, 0), 3); /* half-close: the other way still works */
	count_sent(&p, 0);
	tern_close(p.s, fd);
	struct out f;
	assert_true(take(&p, &f));
	assert_true(f.h.flags & TN_TCP_FIN);
	assert_int_equal(p.s->tcp.count, 1); /* LAST-ACK */
	p.ack = f.h.seq + 1;
	peer_send(&p, SRV_PORT, TN_TCP_ACK, NULL, 0);
	assert_int_equal(p.s->tcp.count, 0);
	peer_free(&p);
}

static void test_close_with_unread_data_sends_rst(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	peer_send(&p, SRV_PORT, TN_TCP_ACK, "unread", 6);
	count_sent(&p, 0);
	tern_close(p.s, fd);
	struct out r;
	assert_true(take(&p, &r));
	assert_true(r.h.flags & TN_TCP_RST);
	assert_int_equal(peer_stat(&p, "TcpExtTCPAbortOnClose"), 1); /* Linux's name for this case */
	assert_int_equal(peer_stat(&p, "TcpExtTCPAbortOnData"), 0);
	assert_int_equal(p.s->tcp.count, 0);
	peer_free(&p);
}

static void test_linger_zero_sends_rst(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	assert_int_equal(tern_setsockopt(p.s, fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	tern_close(p.s, fd);
	struct out r;
	assert_true(take(&p, &r));
	assert_true(r.h.flags & TN_TCP_RST);
	assert_int_equal(peer_stat(&p, "TcpExtTCPAbortOnData"), 1); /* Linux's name for this case */
	assert_int_equal(p.s->tcp.count, 0);
	peer_free(&p);
}

/* shutdown(SHUT_WR), the FIN acknowledged (FIN-WAIT-2), then close(): the
 * orphan waits tcp_fin_timeout for the peer's FIN, not forever (found by
 * fuzz_tcp_sock; Linux arms the same timer in tcp_close). */
static void test_close_after_shutdown_bounds_fin_wait_2(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	assert_int_equal(tern_shutdown(p.s, fd, SHUT_WR), 0);
	struct out f;
	assert_true(take(&p, &f));
	assert_true(f.h.flags & TN_TCP_FIN);
	p.ack = f.h.seq + 1;
	peer_send(&p, SRV_PORT, TN_TCP_ACK, NULL, 0);
	assert_int_equal(tcb_of_fd(&p, fd)->state, TN_TCP_FIN_WAIT_2);
	tern_close(p.s, fd);
	advance(&p, 59 * T_SEC);
	assert_int_equal(p.s->tcp.count, 1);
	advance(&p, 2 * T_SEC);
	assert_int_equal(p.s->tcp.count, 0);
	peer_free(&p);
}

/* A zero window that no probe ever reopens: after tcp_retries2 (15)
 * unanswered probes the connection fails with ETIMEDOUT; closed, it is
 * given up after 8 (tcp_orphan_retries=0), as Linux's tcp_probe_timer. */
static void test_persist_gives_up(void **state)
{
	for (int orphan = 0; orphan < 2; orphan++) {
		struct peer p;
		peer_init(&p);
		int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
		send_seg(&p, SRV_PORT, p.seq, p.ack, TN_TCP_ACK, 0, NULL, NULL, 0); /* window 0 */
		assert_int_equal(tern_send(p.s, fd, "stuck", 5, 0), 5);
		if (orphan)
			tern_close(p.s, fd);
		advance(&p, 3000 * T_SEC);
		assert_int_equal(peer_stat(&p, "TcpExtTCPWinProbe"), orphan ? 8 : 15);
		assert_int_equal(p.s->tcp.count, 0);
		if (!orphan) {
			int err = 0;
			socklen_t len = sizeof(err);
			tern_getsockopt(p.s, fd, SOL_SOCKET, SO_ERROR, &err, &len);
			assert_int_equal(err, ETIMEDOUT);
		}
		peer_free(&p);
	}
}

/* Data for a closed socket while our FIN is out: a RST at once (RFC 1122
 * 4.2.2.13, Linux's TCPAbortOnData), not a window filling for no one. */
static void test_data_after_close_resets(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	tern_close(p.s, fd);
	struct out f;
	assert_true(take(&p, &f));
	assert_true(f.h.flags & TN_TCP_FIN);
	peer_send(&p, SRV_PORT, TN_TCP_ACK, "late data", 9); /* FIN not yet acknowledged: FIN-WAIT-1 */
	struct out r;
	assert_true(take(&p, &r));
	assert_true(r.h.flags & TN_TCP_RST);
	assert_int_equal(peer_stat(&p, "TcpExtTCPAbortOnData"), 1);
	assert_int_equal(p.s->tcp.count, 0);
	peer_free(&p);
}

static void test_max_tw_buckets(void **state)
{
	struct peer p;
	peer_init(&p);
	tern_sysctl_set(p.s, "net.ipv4.tcp_max_tw_buckets", "0");
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	tern_close(p.s, fd);
	struct out f;
	assert_true(take(&p, &f));
	p.ack = f.h.seq + 1;
	peer_send(&p, SRV_PORT, TN_TCP_FIN | TN_TCP_ACK, NULL, 0);
	assert_int_equal(p.s->tcp.count, 0); /* closed at once, no TIME-WAIT */
	assert_int_equal(peer_stat(&p, "TcpExtTCPTimeWaitOverflow"), 1);
	peer_free(&p);
}

static void test_syn_reopens_time_wait(void **state)
{
	struct peer p;
	peer_init(&p);
	int lfd = listen_on(&p, SRV_PORT, 16);
	int fd = passive_open(&p, lfd, false);
	tern_close(p.s, fd);
	struct out f;
	assert_true(take(&p, &f));
	p.ack = f.h.seq + 1;
	peer_send(&p, SRV_PORT, TN_TCP_FIN | TN_TCP_ACK, NULL, 0);
	assert_int_equal(p.s->tcp.tw_count, 1);
	count_sent(&p, 0);
	/* an old SYN (below RCV.NXT) gets an ACK, not a new connection */
	struct tn_tcp_opts o = syn_opts(false);
	send_seg(&p, SRV_PORT, p.iss, 0, TN_TCP_SYN, 65535, &o, NULL, 0);
	assert_true(take(&p, &f));
	assert_int_equal(f.h.flags, TN_TCP_ACK);
	advance(&p, T_SEC); /* past the out-of-window reply limit */
	/* a SYN above RCV.NXT reopens; the new ISN is above the old space */
	send_seg(&p, SRV_PORT, p.seq + 100000, 0, TN_TCP_SYN, 65535, &o, NULL, 0);
	assert_true(take(&p, &f));
	assert_int_equal(f.h.flags, TN_TCP_SYN | TN_TCP_ACK);
	assert_int_equal(f.h.seq, p.ack + 65535 + 2);
	assert_int_equal(p.s->tcp.tw_count, 0);
	peer_free(&p);
}

/* ---- listen queues and SYN cookies ---- */

static void syn_from(struct peer *p, uint16_t port, uint32_t isn, bool ts)
{
	p->port = port;
	struct tn_tcp_opts o = syn_opts(ts);
	send_seg(p, SRV_PORT, isn, 0, TN_TCP_SYN, 65535, &o, NULL, 0);
}

static void test_syncookies_always(void **state)
{
	struct peer p;
	peer_init(&p);
	tern_sysctl_set(p.s, "net.ipv4.tcp_syncookies", "2");
	int lfd = listen_on(&p, SRV_PORT, 16);
	syn_from(&p, 41000, 5555, true);
	struct out sa;
	assert_true(take(&p, &sa));
	assert_int_equal(sa.h.flags, TN_TCP_SYN | TN_TCP_ACK);
	assert_int_equal(p.s->tcp.count, 0); /* no state kept */
	assert_int_equal(peer_stat(&p, "TcpExtSyncookiesSent"), 1);
	/* the option bits ride in the TSval: wscale 2, SACK */
	assert_int_equal(sa.h.opt.tsval & 0xf, 2);
	assert_true(sa.h.opt.tsval & 0x10);
	/* a forged ACK is refused with a RST */
	struct tn_tcp_opts o = {.has_ts = true, .tsval = 5001, .tsecr = sa.h.opt.tsval};
	send_seg(&p, SRV_PORT, 5556, sa.h.seq + 12345, TN_TCP_ACK, 100, &o, NULL, 0);
	struct out r;
	assert_true(take(&p, &r));
	assert_true(r.h.flags & TN_TCP_RST);
	assert_int_equal(peer_stat(&p, "TcpExtSyncookiesFailed"), 1);
	/* the right ACK, carrying data, completes the handshake */
	send_seg(&p, SRV_PORT, 5556, sa.h.seq + 1, TN_TCP_ACK | TN_TCP_PSH, 100, &o, "GET /", 5);
	assert_int_equal(peer_stat(&p, "TcpExtSyncookiesRecv"), 1);
	int fd = tern_accept(p.s, lfd, NULL, NULL);
	assert_true(fd >= 0);
	struct tn_tcb *t = tcb_of_fd(&p, fd);
	assert_int_equal(t->state, TN_TCP_ESTABLISHED);
	assert_int_equal(t->snd_wscale, 2);
	assert_true(t->sack_ok && t->ts_ok);
	assert_int_equal(t->rcv_mss, 1460);
	char buf[8];
	assert_int_equal(tern_recv(p.s, fd, buf, sizeof(buf), 0), 5);
	assert_memory_equal(buf, "GET /", 5);
	peer_free(&p);
}

static void test_syncookies_without_timestamps(void **state)
{
	struct peer p;
	peer_init(&p);
	tern_sysctl_set(p.s, "net.ipv4.tcp_syncookies", "2");
	int lfd = listen_on(&p, SRV_PORT, 16);
	p.port = 41001;
	struct tn_tcp_opts so = {.has_mss = true, .mss = 1400, .has_wscale = true, .wscale = 3};
	send_seg(&p, SRV_PORT, 9000, 0, TN_TCP_SYN, 65535, &so, NULL, 0);
	struct out sa;
	assert_true(take(&p, &sa));
	send_seg(&p, SRV_PORT, 9001, sa.h.seq + 1, TN_TCP_ACK, 65535, NULL, NULL, 0);
	int fd = tern_accept(p.s, lfd, NULL, NULL);
	assert_true(fd >= 0);
	struct tn_tcb *t = tcb_of_fd(&p, fd);
	assert_int_equal(t->rcv_mss, 1300); /* the largest table MSS not above 1400 */
	assert_int_equal(t->snd_wscale, 0); /* no timestamps: no room for the options */
	assert_false(t->sack_ok);
	peer_free(&p);
}

static void test_cookie_expires(void **state)
{
	struct peer p;
	peer_init(&p);
	tern_sysctl_set(p.s, "net.ipv4.tcp_syncookies", "2");
	int lfd = listen_on(&p, SRV_PORT, 16);
	syn_from(&p, 41002, 7000, false);
	struct out sa;
	assert_true(take(&p, &sa));
	advance(&p, 3 * 60 * T_SEC);
	syn_from(&p, 41003, 100, false); /* keeps cookies "recent" */
	count_sent(&p, 0);
	p.port = 41002;
	send_seg(&p, SRV_PORT, 7001, sa.h.seq + 1, TN_TCP_ACK, 65535, NULL, NULL, 0);
	assert_int_equal(tern_accept(p.s, lfd, NULL, NULL), -1);
	assert_int_equal(peer_stat(&p, "TcpExtSyncookiesFailed"), 1);
	peer_free(&p);
}

static void test_syn_queue_full_uses_cookies(void **state)
{
	struct peer p;
	peer_init(&p);
	int lfd = listen_on(&p, SRV_PORT, 1); /* Linux admits backlog + 1 */
	syn_from(&p, 42000, 1, false);
	syn_from(&p, 42001, 1, false);
	assert_int_equal(p.s->tcp.count, 2);
	syn_from(&p, 42002, 1, false);
	assert_int_equal(p.s->tcp.count, 2);
	assert_int_equal(peer_stat(&p, "TcpExtSyncookiesSent"), 1);
	assert_int_equal(peer_stat(&p, "TcpExtTCPReqQFullDoCookies"), 1);
	(void)lfd;
	/* with cookies off, the same SYN is dropped */
	tern_sysctl_set(p.s, "net.ipv4.tcp_syncookies", "0");
	count_sent(&p, 0);
	syn_from(&p, 42003, 1, false);
	struct out o;
	assert_false(take(&p, &o));
	assert_int_equal(peer_stat(&p, "TcpExtTCPReqQFullDrop"), 1);
	assert_true(peer_stat(&p, "TcpExtListenDrops") >= 1);
	peer_free(&p);
}

static void complete(struct peer *p, uint16_t port, uint32_t isn)
{
	struct out sa;
	syn_from(p, port, isn, false);
	assert_true(take(p, &sa));
	send_seg(p, SRV_PORT, isn + 1, sa.h.seq + 1, TN_TCP_ACK, 65535, NULL, NULL, 0);
}

static void test_accept_queue_overflow(void **state)
{
	struct peer p;
	peer_init(&p);
	listen_on(&p, SRV_PORT, 0); /* room for one */
	complete(&p, 43000, 10);
	assert_int_equal(peer_stat(&p, "TcpPassiveOpens"), 1);
	/* the queue is full: a new SYN is dropped (ListenOverflows) */
	syn_from(&p, 43001, 10, false);
	struct out o;
	assert_false(take(&p, &o));
	assert_int_equal(peer_stat(&p, "TcpExtListenOverflows"), 1);
	peer_free(&p);
}

static void test_abort_on_overflow(void **state)
{
	for (int abort_mode = 0; abort_mode <= 1; abort_mode++) {
		struct peer p;
		peer_init(&p);
		tern_sysctl_set(p.s, "net.ipv4.tcp_abort_on_overflow", abort_mode ? "1" : "0");
		listen_on(&p, SRV_PORT, 1);
		struct out sa1, sa2, sa3, o;
		/* ordered so every SYN finds room in the SYN queue (backlog + 1) */
		syn_from(&p, 44000, 10, false);
		assert_true(take(&p, &sa1));
		syn_from(&p, 44001, 20, false);
		assert_true(take(&p, &sa2));
		p.port = 44000;
		send_seg(&p, SRV_PORT, 11, sa1.h.seq + 1, TN_TCP_ACK, 65535, NULL, NULL, 0);
		syn_from(&p, 44002, 30, false);
		assert_true(take(&p, &sa3));
		assert_int_equal(peer_stat(&p, "TcpExtSyncookiesSent"), 0);
		p.port = 44001;
		send_seg(&p, SRV_PORT, 21, sa2.h.seq + 1, TN_TCP_ACK, 65535, NULL, NULL, 0);
		assert_int_equal(peer_stat(&p, "TcpPassiveOpens"), 2);
		/* the third final ACK finds the accept queue over its backlog */
		p.port = 44002;
		send_seg(&p, SRV_PORT, 31, sa3.h.seq + 1, TN_TCP_ACK, 65535, NULL, NULL, 0);
		assert_int_equal(peer_stat(&p, "TcpPassiveOpens"), 2);
		assert_int_equal(peer_stat(&p, "TcpExtListenOverflows"), 1);
		if (abort_mode) {
			assert_true(take(&p, &o));
			assert_true(o.h.flags & TN_TCP_RST);
			assert_int_equal(p.s->tcp.count, 2);
		} else {
			assert_false(take(&p, &o)); /* silence; our SYN-ACK will be resent */
			assert_int_equal(p.s->tcp.count, 3);
			advance(&p, 1100 * T_MS);
			assert_int_equal(count_sent(&p, TN_TCP_SYN), 1);
		}
		peer_free(&p);
	}
}

/* ---- timers and data ---- */

static void test_rto_backoff(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	count_sent(&p, 0);
	assert_int_equal(tern_send(p.s, fd, "hello", 5, 0), 5);
	struct out d;
	assert_true(take(&p, &d));
	assert_int_equal(d.len, 5);
	/* the handshake's RTT (~0 here) sets the RTO to Linux's 200 ms
	 * minimum; then it doubles (RFC 6298 5.5) */
	uint64_t at = p.now, rto = 200 * T_MS;
	for (int i = 0; i < 4; i++) {
		at += rto;
		run_to(&p, at - T_MS);
		assert_false(take(&p, &d));
		run_to(&p, at + T_MS);
		assert_true(take(&p, &d));
		assert_int_equal(d.len, 5);
		rto *= 2;
	}
	assert_int_equal(peer_stat(&p, "TcpRetransSegs"), 4);
	peer_free(&p);
}

/* RFC 6298 5.7: a handshake whose SYN-ACK had to be resent gives no RTT
 * sample, and the first data's RTO is 3 s, not 1 s (Linux does the same). */
static void test_rto_fallback_after_resent_synack(void **state)
{
	struct peer p;
	peer_init(&p);
	/* the RTO alone: a tail loss probe would go at 1 s (RFC 8985 7.2 with
	 * no RTT sample), tested on its own elsewhere */
	tern_sysctl_set(p.s, "net.ipv4.tcp_early_retrans", "0");
	int lfd = listen_on(&p, SRV_PORT, 16);
	struct tn_tcp_opts o = syn_opts(false);
	send_seg(&p, SRV_PORT, p.iss, 0, TN_TCP_SYN, 65535, &o, NULL, 0);
	struct out sa;
	assert_true(take(&p, &sa));
	advance(&p, 1100 * T_MS); /* the SYN-ACK is resent after 1 s */
	assert_true(take(&p, &sa));
	assert_int_equal(sa.h.flags, TN_TCP_SYN | TN_TCP_ACK);
	p.seq = p.iss + 1;
	p.ack = sa.h.seq + 1;
	peer_send(&p, SRV_PORT, TN_TCP_ACK, NULL, 0);
	int fd = tern_accept(p.s, lfd, NULL, NULL);
	assert_true(fd >= 0);
	assert_int_equal(tern_send(p.s, fd, "hello", 5, 0), 5);
	struct out d;
	assert_true(take(&p, &d));
	uint64_t at = p.now;
	run_to(&p, at + 3 * T_SEC - T_MS);
	assert_false(take(&p, &d));
	run_to(&p, at + 3 * T_SEC + T_MS);
	assert_true(take(&p, &d));
	assert_int_equal(d.len, 5);
	peer_free(&p);
}

/* RFC 2018: with SACK permitted, a duplicate ACK names what arrived beyond
 * the hole, the latest arrival's block first, at most 3 blocks next to
 * timestamps; RFC 2883: a duplicate segment is named once in a D-SACK. */
static void test_sack_and_dsack_blocks(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), true);
	uint32_t base = p.seq;
	struct tn_tcp_opts o = {.has_ts = true, .tsval = 6000};
	/* holes at [0,10), [20,30), [40,50), [60,70); data at 10, 30, 50, 70 */
	static const uint32_t at[] = {10, 30, 50, 70};
	struct out a;
	for (int i = 0; i < 4; i++) {
		send_seg(&p, SRV_PORT, base + at[i], p.ack, TN_TCP_ACK, 65535, &o, "0123456789", 10);
		assert_true(take(&p, &a));
		assert_int_equal(a.h.ack, base);
		assert_int_equal(a.h.opt.nsack, i + 1 < 3 ? i + 1 : 3);
		assert_int_equal(a.h.opt.sack[0].start, base + at[i]); /* the latest first */
		assert_int_equal(a.h.opt.sack[0].end, base + at[i] + 10);
	}
	/* the highest others follow the latest: 70, then 50, 30 */
	assert_int_equal(a.h.opt.sack[1].start, base + 50);
	assert_int_equal(a.h.opt.sack[2].start, base + 30);
	/* data at 20 joins [10,20) and [30,40): one block [10,40) */
	send_seg(&p, SRV_PORT, base + 20, p.ack, TN_TCP_ACK, 65535, &o, "0123456789", 10);
	assert_true(take(&p, &a));
	assert_int_equal(a.h.opt.sack[0].start, base + 10);
	assert_int_equal(a.h.opt.sack[0].end, base + 40);
	/* a duplicate of held data: D-SACK first, then the blocks */
	send_seg(&p, SRV_PORT, base + 50, p.ack, TN_TCP_ACK, 65535, &o, "0123456789", 10);
	assert_true(take(&p, &a));
	assert_int_equal(a.h.opt.sack[0].start, base + 50);
	assert_int_equal(a.h.opt.sack[0].end, base + 60);
	/* fill everything: no blocks left */
	send_seg(&p, SRV_PORT, base, p.ack, TN_TCP_ACK, 65535, &o, "0123456789", 10);
	send_seg(&p, SRV_PORT, base + 40, p.ack, TN_TCP_ACK, 65535, &o, "0123456789", 10);
	send_seg(&p, SRV_PORT, base + 60, p.ack, TN_TCP_ACK, 65535, &o, "0123456789", 10);
	while (take(&p, &a))
		;
	assert_int_equal(a.h.ack, base + 80);
	assert_int_equal(a.h.opt.nsack, 0);
	/* old data again (below RCV.NXT): reported as a D-SACK below the ACK */
	send_seg(&p, SRV_PORT, base, p.ack, TN_TCP_ACK, 65535, &o, "0123456789", 10);
	assert_true(take(&p, &a));
	assert_int_equal(a.h.opt.nsack, 1);
	assert_int_equal(a.h.opt.sack[0].start, base);
	assert_int_equal(a.h.opt.sack[0].end, base + 10);
	char buf[128];
	assert_int_equal(tern_recv(p.s, fd, buf, sizeof(buf), 0), 80);
	peer_free(&p);
}

static void test_delayed_ack(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	struct tn_tcb *t = tcb_of_fd(&p, fd);
	t->quick_acks = 0; /* past the start of the connection, data flowing */
	t->last_data_ms = tn_tcp_ts_now(p.s);
	static uint8_t seg[1460];
	count_sent(&p, 0);
	peer_send(&p, SRV_PORT, TN_TCP_ACK, seg, 1000); /* one segment: the ACK waits */
	struct out a;
	assert_false(take(&p, &a));
	advance(&p, 39 * T_MS);
	assert_false(take(&p, &a));
	advance(&p, 2 * T_MS);
	assert_true(take(&p, &a)); /* 40 ms: Linux's minimum delayed-ACK time */
	assert_int_equal(a.h.ack, p.seq);
	peer_send(&p, SRV_PORT, TN_TCP_ACK, seg, 1460);
	assert_false(take(&p, &a));
	peer_send(&p, SRV_PORT, TN_TCP_ACK, seg, 1460); /* the second full segment: ACK now */
	assert_true(take(&p, &a));
	assert_int_equal(a.h.ack, p.seq);
	peer_free(&p);
}

static void test_fast_retransmit(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	count_sent(&p, 0);
	static uint8_t data[8 * 1460];
	assert_int_equal(tern_send(p.s, fd, data, sizeof(data), 0), (ssize_t)sizeof(data));
	struct out d;
	int segs = 0;
	uint32_t first = 0;
	while (take(&p, &d)) {
		if (!segs)
			first = d.h.seq;
		segs++;
	}
	assert_int_equal(segs, 8);
	/* the first is lost: three duplicate ACKs bring it back before any timeout */
	for (int i = 0; i < 3; i++)
		send_seg(&p, SRV_PORT, p.seq, first, TN_TCP_ACK, 65535 >> 2, NULL, NULL, 0);
	assert_true(take(&p, &d));
	assert_int_equal(d.h.seq, first);
	assert_int_equal(peer_stat(&p, "TcpExtTCPFastRetrans"), 1);
	peer_free(&p);
}

static void test_ephemeral_port_reuse_by_tuple(void **state)
{
	struct peer p;
	peer_init(&p);
	/* a one-port range: two connections to different peers share it */
	tern_sysctl_set(p.s, "net.ipv4.ip_local_port_range", "50000 50000");
	int a = start_connect(&p);
	int b = tern_socket(p.s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(SRV_PORT + 1)};
	to.sin_addr.s_addr = htonl(p.them);
	assert_int_equal(tern_connect(p.s, b, (struct sockaddr *)&to, sizeof(to)), -1);
	assert_int_equal(errno, EINPROGRESS);
	/* the same 4-tuple again: no port left */
	int c = tern_socket(p.s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_int_equal(tern_connect(p.s, c, (struct sockaddr *)&to, sizeof(to)), -1);
	assert_int_equal(errno, EADDRNOTAVAIL);
	(void)a;
	peer_free(&p);
}

/* A short reply holds a 4 KiB chunk; a bulk send adds chunks, each twice
 * the last; once everything is acknowledged nothing is held, and the
 * next first chunk is as large as the last one was. */
static void test_send_buffer_grows_from_small(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	struct tn_tcb *t = tcb_of_fd(&p, fd);
	assert_null(t->snd.buf);
	assert_int_equal(tern_send(p.s, fd, "hello", 5, 0), 5);
	assert_int_equal(t->snd.cap, 4096);
	static uint8_t data[12000];
	assert_int_equal(tern_send(p.s, fd, data, sizeof(data), 0), (ssize_t)sizeof(data));
	assert_int_equal(t->snd.cap, 4096 + 8192);
	struct out o;
	uint32_t top = p.ack;
	while (take(&p, &o))
		top = o.h.seq + o.len;
	p.ack = top;
	peer_send(&p, SRV_PORT, TN_TCP_ACK, NULL, 0);
	while (take(&p, &o)) /* the rest, now that the window opened */
		p.ack = o.h.seq + o.len;
	peer_send(&p, SRV_PORT, TN_TCP_ACK, NULL, 0);
	assert_int_equal(t->snd.len, 0);
	assert_null(t->snd.buf);
	/* the next reply's first chunk is as large as the last one was */
	assert_int_equal(tern_send(p.s, fd, "again", 5, 0), 5);
	assert_non_null(t->snd.buf);
	assert_int_equal(t->snd.cap, 8192);
	peer_free(&p);
}

/* bind() to port 0 picks a port nobody holds, among thousands held. */
static void test_bind_any_port_avoids_held_ones(void **state)
{
	struct peer p;
	peer_init(&p);
	tern_sysctl_set(p.s, "net.ipv4.ip_local_port_range", "40000 40999");
	bool seen[1000] = {false};
	for (int i = 0; i < 1000; i++) {
		int fd = tern_socket(p.s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		struct sockaddr_in a = {.sin_family = AF_INET};
		assert_int_equal(tern_bind(p.s, fd, (struct sockaddr *)&a, sizeof(a)), 0);
		assert_int_equal(tern_listen(p.s, fd, 1), 0);
		socklen_t len = sizeof(a);
		assert_int_equal(tern_getsockname(p.s, fd, (struct sockaddr *)&a, &len), 0);
		int port = ntohs(a.sin_port);
		assert_in_range(port, 40000, 40999);
		assert_false(seen[port - 40000]);
		seen[port - 40000] = true;
	}
	int fd = tern_socket(p.s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	assert_int_equal(tern_bind(p.s, fd, (struct sockaddr *)&a, sizeof(a)), -1);
	assert_int_equal(errno, EADDRINUSE);
	peer_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_passive_open_options),
		cmocka_unit_test(test_synack_retransmit_then_give_up),
		cmocka_unit_test(test_active_open),
		cmocka_unit_test(test_syn_retries_then_etimedout),
		cmocka_unit_test(test_simultaneous_open),
		cmocka_unit_test(test_rst_to_closed_port),
		cmocka_unit_test(test_rst_exact_vs_in_window),
		cmocka_unit_test(test_syn_in_established_challenged),
		cmocka_unit_test(test_challenge_ack_rate_limited),
		cmocka_unit_test(test_old_ack_ignored),
		cmocka_unit_test(test_paws_rejects_old_timestamp),
		cmocka_unit_test(test_window_scaling_limits_sending),
		cmocka_unit_test(test_out_of_window_data_dropped),
		cmocka_unit_test(test_out_of_order_reassembled),
		cmocka_unit_test(test_active_close_to_time_wait),
		cmocka_unit_test(test_simultaneous_close),
		cmocka_unit_test(test_passive_close),
		cmocka_unit_test(test_close_with_unread_data_sends_rst),
		cmocka_unit_test(test_linger_zero_sends_rst),
		cmocka_unit_test(test_close_after_shutdown_bounds_fin_wait_2),
		cmocka_unit_test(test_persist_gives_up),
		cmocka_unit_test(test_data_after_close_resets),
		cmocka_unit_test(test_max_tw_buckets),
		cmocka_unit_test(test_syn_reopens_time_wait),
		cmocka_unit_test(test_syncookies_always),
		cmocka_unit_test(test_syncookies_without_timestamps),
		cmocka_unit_test(test_cookie_expires),
		cmocka_unit_test(test_syn_queue_full_uses_cookies),
		cmocka_unit_test(test_accept_queue_overflow),
		cmocka_unit_test(test_abort_on_overflow),
		cmocka_unit_test(test_rto_backoff),
		cmocka_unit_test(test_rto_fallback_after_resent_synack),
		cmocka_unit_test(test_sack_and_dsack_blocks),
		cmocka_unit_test(test_delayed_ack),
		cmocka_unit_test(test_fast_retransmit),
		cmocka_unit_test(test_ephemeral_port_reuse_by_tuple),
		cmocka_unit_test(test_send_buffer_grows_from_small),
		cmocka_unit_test(test_bind_any_port_avoids_held_ones),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
