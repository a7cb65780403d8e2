/* Sender-side loss recovery and congestion control, mechanism by mechanism
 * on a virtual clock: the SACK scoreboard (RFC 2018/6675), RACK's
 * reordering window and TLP's probe timing (RFC 8985), PRR's arithmetic
 * (RFC 6937), and CUBIC's window as a function of time (RFC 9438). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "socket/sock.h"
#include "tcp/tcp_cc.h"
#include "tcp/tcp_int.h"
#include "tcp_peer.h"
#include "testutil.h"

#define MSS 1448 /* 1460 less the timestamp option */

static struct tn_tcb *tcb_of_fd(struct peer *p, int fd) { return tn_sock_get(p->s, fd)->tcb; }

/* An established connection (timestamps on) with `n` full segments sent
 * and unacknowledged; their sequence numbers in seq[]. */
static int open_with_flight(struct peer *p, int n, uint32_t *seq, bool tlp)
{
	peer_init(p);
	if (!tlp)
		tern_sysctl_set(p->s, "net.ipv4.tcp_early_retrans", "0");
	int fd = passive_open(p, listen_on(p, 80, 4), true);
	/* an RTT sample of 50 ms, so the timers have a scale */
	assert_int_equal(tern_send(p->s, fd, "x", 1, 0), 1);
	struct out o;
	assert_true(take(p, &o));
	advance(p, 50 * T_MS);
	p->ack += 1;
	peer_send(p, 80, TN_TCP_ACK, NULL, 0);
	static uint8_t data[64 * MSS];
	assert_int_equal(tern_send(p->s, fd, data, (size_t)n * MSS, 0), n * MSS);
	for (int i = 0; i < n; i++) {
		assert_true(take(p, &o));
		assert_int_equal(o.len, MSS);
		seq[i] = o.h.seq;
	}
	assert_false(take(p, &o));
	return fd;
}

/* An ACK of everything below `ack`, SACKing [start, end) blocks. */
static void sack(struct peer *p, uint32_t ack, int nblocks, const uint32_t *edges)
{
	struct tn_tcp_opts o = {.has_ts = true, .tsval = ++p->tsval, .tsecr = p->tern_ts};
	o.nsack = (uint8_t)nblocks;
	for (int i = 0; i < nblocks; i++)
		o.sack[i] = (struct tn_tcp_sack_block){edges[2 * i], edges[2 * i + 1]};
	send_seg(p, 80, p->seq, ack, TN_TCP_ACK, 65535 >> 2, &o, NULL, 0);
}

/* RFC 6675's scenario: segment 1 of 10 is lost; the peer SACKs 2, 3 and 4
 * as they arrive.  With three segments SACKed above it, segment 1 is lost
 * (DupThresh) and resent at once, the scoreboard holds 3 SACKed segments,
 * and the cumulative ACK that follows clears it. */
static void test_sack_scoreboard_fast_retransmit(void **state)
{
	(void)state;
	struct peer p;
	uint32_t seq[10];
	int fd = open_with_flight(&p, 10, seq, true);
	struct tn_tcb *t = tcb_of_fd(&p, fd);
	struct out o;
	for (int i = 1; i <= 3; i++) {
		uint32_t edges[2] = {seq[1], seq[i] + MSS};
		sack(&p, seq[0], 1, edges);
	}
	assert_int_equal(t->sacked_out, 3 * MSS);
	assert_int_equal(t->ca_state, TN_CA_RECOVERY);
	assert_true(take(&p, &o));
	assert_int_equal(o.h.seq, seq[0]); /* the hole, first */
	assert_int_equal(peer_stat(&p, "TcpExtTCPSackRecovery"), 1);
	assert_int_equal(peer_stat(&p, "TcpRetransSegs"), 1);
	/* everything up to segment 4, then the rest */
	uint32_t none[1] = {0};
	sack(&p, seq[4], 0, none);
	assert_int_equal(t->sacked_out, 0);
	assert_int_equal(t->lost_out, 0);
	sack(&p, seq[9] + MSS, 0, none);
	assert_int_equal(t->ca_state, TN_CA_OPEN);
	assert_int_equal(t->txq.count, 0);
	assert_int_equal(peer_stat(&p, "TcpExtTCPTimeouts"), 0);
	peer_free(&p);
}

/* The same with RACK off (tcp_recovery 0): RFC 6675's IsLost alone. */
static void test_dupthresh_without_rack(void **state)
{
	(void)state;
	struct peer p;
	uint32_t seq[10];
	int fd = open_with_flight(&p, 10, seq, true);
	tern_sysctl_set(p.s, "net.ipv4.tcp_recovery", "0");
	struct tn_tcb *t = tcb_of_fd(&p, fd);
	struct out o;
	uint32_t e2[2] = {seq[1], seq[3]};
	sack(&p, seq[0], 1, e2); /* two above: not yet */
	assert_int_equal(t->lost_out, 0);
	assert_false(take(&p, &o));
	uint32_t e3[2] = {seq[1], seq[4]};
	sack(&p, seq[0], 1, e3);
	assert_true(take(&p, &o));
	assert_int_equal(o.h.seq, seq[0]);
	peer_free(&p);
}

/* RFC 8985 6.2: once the peer has shown reordering, a hole below SACKed
 * data waits a reordering window (min_rtt / 4, at most SRTT) before it is
 * called lost, and the reordering timer calls it when the window ends. */
static void test_rack_reordering_window(void **state)
{
	(void)state;
	struct peer p;
	uint32_t seq[6];
	int fd = open_with_flight(&p, 6, seq, false); /* RACK alone, no probe */
	struct tn_tcb *t = tcb_of_fd(&p, fd);
	t->reord_seen = true; /* as a D-SACK or a filled hole would have taught it */
	struct out o;
	advance(&p, 50 * T_MS); /* a round trip later the SACK for 2 arrives */
	uint32_t e[2] = {seq[1], seq[2] + MSS};
	sack(&p, seq[0], 1, e);
	assert_int_equal(t->lost_out, 0); /* within the window */
	assert_false(take(&p, &o));
	uint64_t reo_wnd = t->min_rtt / 4 < t->srtt ? t->min_rtt / 4 : t->srtt; /* RFC 8985 6.2 */
	assert_true(reo_wnd > 5 * T_MS);
	advance(&p, reo_wnd - 2 * T_MS);
	assert_false(take(&p, &o));
	advance(&p, 4 * T_MS); /* the reordering timer runs out */
	assert_true(take(&p, &o));
	assert_int_equal(o.h.seq, seq[0]);
	assert_int_equal(t->ca_state, TN_CA_RECOVERY);
	peer_free(&p);
}

/* RFC 8985 7.2-7.3: with the tail unacknowledged, a probe goes after
 * PTO = 2 SRTT -- long before the RTO -- and it resends the last segment
 * when there is no new data. */
static void test_tlp_probe_timing(void **state)
{
	(void)state;
	struct peer p;
	uint32_t seq[3];
	int fd = open_with_flight(&p, 3, seq, true);
	struct tn_tcb *t = tcb_of_fd(&p, fd);
	uint64_t pto = 2 * t->srtt;
	assert_true(pto < t->rto);
	struct out o;
	advance(&p, pto - 2 * T_MS);
	assert_false(take(&p, &o));
	advance(&p, 3 * T_MS);
	assert_true(take(&p, &o));
	assert_int_equal(o.h.seq, seq[2]);
	assert_int_equal(o.len, MSS);
	assert_int_equal(peer_stat(&p, "TcpExtTCPLossProbes"), 1);
	/* the probe's ACK (and no D-SACK): the loss was real but repaired; no RTO */
	uint32_t none[1] = {0};
	sack(&p, seq[2] + MSS, 0, none);
	assert_int_equal(t->txq.count, 0);
	advance(&p, 5 * T_SEC);
	assert_int_equal(peer_stat(&p, "TcpExtTCPTimeouts"), 0);
	peer_free(&p);
}

/* RFC 6937 section 6's example: 20 segments in flight, one lost, ssthresh
 * 10.  While the pipe is above ssthresh PRR sends one segment for every
 * two delivered; by the end of recovery it has sent ssthresh's worth. */
static void test_prr_arithmetic(void **state)
{
	(void)state;
	struct tn_tcb t;
	memset(&t, 0, sizeof(t));
	t.mss = 1000;
	t.snd_una = 0;
	t.snd_max = 20000;
	t.ssthresh = 10000;
	t.recover_fs = 20000;
	t.lost_out = 1000;
	uint32_t sent[19];
	for (int i = 0; i < 19; i++) {
		t.sacked_out += 1000; /* one more segment SACKed */
		uint32_t sndcnt = tn_tcp_prr_sndcnt_for_test(&t, 1000);
		sent[i] = sndcnt;
		if (i == 0 && sndcnt) { /* the fast retransmit */
			t.retrans_out += 1000;
			t.prr_out += 1000;
			sndcnt -= 1000;
		}
		t.snd_max += sndcnt; /* new data */
		t.prr_out += sndcnt;
	}
	for (int i = 0; i < 16; i++) /* the pipe is above ssthresh */
		assert_int_equal(sent[i], i % 2 == 0 ? 1000u : 0u);
	assert_int_equal(t.prr_out, 10000); /* ssthresh * delivered / RecoverFS, rounded up */
	assert_int_equal(tn_tcp_in_flight(&t), t.ssthresh);
}

/* PRR's slow-start reduction bound: below ssthresh the pipe regrows no
 * faster than delivered + 1 MSS per ACK. */
static void test_prr_ssrb(void **state)
{
	(void)state;
	struct tn_tcb t;
	memset(&t, 0, sizeof(t));
	t.mss = 1000;
	t.snd_max = 20000;
	t.ssthresh = 10000;
	t.recover_fs = 20000;
	t.lost_out = 15000; /* heavy loss: the pipe is far below ssthresh */
	t.prr_out = 1000;
	t.prr_delivered = 1000;
	t.sacked_out = 1000;
	uint32_t sndcnt = tn_tcp_prr_sndcnt_for_test(&t, 1000);
	/* pipe 4000, ssthresh - pipe 6000, limit max(2000 - 1000, 1000) + 1000 */
	assert_int_equal(sndcnt, 2000);
}

/* RFC 9438: K and W_cubic at the points the RFC's equations pin. */
static void test_cubic_equations(void **state)
{
	(void)state;
	double k = tn_cubic_k(100, 70);
	assert_true(fabs(k - cbrt(30 / 0.4)) < 1e-9);
	assert_true(fabs(tn_cubic_window(0, k, 100) - 70) < 1e-9);   /* the epoch starts at cwnd */
	assert_true(fabs(tn_cubic_window(k, k, 100) - 100) < 1e-9);  /* back to W_max at K */
	assert_true(tn_cubic_window(k + 1, k, 100) - 100 - 0.4 < 1e-9); /* then convex: C (t-K)^3 */
	assert_true(tn_cubic_k(50, 70) == 0);
}

/* CUBIC's window over time, driven ACK by ACK on a fixed 100 ms RTT after
 * a loss at 100 segments: it tracks W_cubic(t) (one RTT ahead, per the
 * RFC) and reaches W_max near K seconds. */
static void test_cubic_window_follows_curve(void **state)
{
	(void)state;
	struct tn_stack *s = t_stack_new(3);
	struct tn_tcb *t = tn_tcb_new(s);
	t->mss = 1000;
	t->cwnd = 100000;
	t->srtt = t->min_rtt = 100 * T_MS;
	t->cwnd_limited = true;
	t->cc = &tn_tcp_cubic;
	tn_tcp_cc_set(s, t, &tn_tcp_cubic);
	t->ssthresh = tn_tcp_cubic.ssthresh(s, t);
	assert_int_equal(t->ssthresh, 70000);
	t->cwnd = t->ssthresh;
	double k = tn_cubic_k(100, 70);
	uint64_t start = s->now;
	for (int rtt = 1; rtt <= 60; rtt++) {
		uint32_t acks = t->cwnd / t->mss;
		for (uint32_t i = 0; i < acks; i++) {
			s->now += 100 * T_MS / acks;
			tn_tcp_cubic.cong_avoid(s, t, t->mss);
		}
		double el = (double)(s->now - start) / 1e9;
		double want = tn_cubic_window(el, k, 100), have = (double)t->cwnd / t->mss;
		double reno = 70 + el / 0.1 * 3 * 0.3 / 1.7; /* the Reno-friendly estimate */
		if (want < reno)
			want = reno;
		assert_true(have >= want - 2 && have <= tn_cubic_window(el + 0.1, k, 100) + 3);
	}
	tn_tcp_destroy_tcb(s, t); /* frees it: no socket holds it */
	tern_stack_free(s);
}

/* RFC 3168 with tcp_ecn=2 (the default, as Linux): tern does not ask
 * for ECN, but a peer's ECN-setup SYN gets an ECN-setup SYN-ACK; then
 * new data is ECT(0), retransmissions and ACKs are not. */
static void test_ecn_negotiation(void **state)
{
	(void)state;
	struct peer p;
	peer_init(&p);
	/* active: no ECE/CWR on the SYN by default */
	int c = tern_socket(p.s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9)};
	to.sin_addr.s_addr = htonl(p.them);
	tern_connect(p.s, c, (struct sockaddr *)&to, sizeof(to));
	struct out o;
	assert_true(take(&p, &o));
	assert_int_equal(o.h.flags, TN_TCP_SYN);
	tern_close(p.s, c);
	while (take(&p, &o))
		;
	/* passive: the peer asks */
	int lfd = listen_on(&p, 80, 4);
	struct tn_tcp_opts so = syn_opts(true);
	send_seg(&p, 80, p.iss, 0, TN_TCP_SYN | TN_TCP_ECE | TN_TCP_CWR, 65535, &so, NULL, 0);
	assert_true(take(&p, &o));
	assert_int_equal(o.h.flags, TN_TCP_SYN | TN_TCP_ACK | TN_TCP_ECE);
	assert_int_equal(o.tos & 3, 0);
	p.seq = p.iss + 1;
	p.ack = o.h.seq + 1;
	p.ts = true;
	peer_send(&p, 80, TN_TCP_ACK, NULL, 0);
	int fd = tern_accept(p.s, lfd, NULL, NULL);
	assert_true(fd >= 0);
	assert_int_equal(tern_send(p.s, fd, "hello", 5, 0), 5);
	assert_true(take(&p, &o));
	assert_int_equal(o.tos & 3, TN_ECN_ECT0);
	advance(&p, 1500 * T_MS); /* unanswered: resent, not ECT */
	assert_true(take(&p, &o));
	assert_int_equal(o.len, 5);
	assert_int_equal(o.tos & 3, 0);
	peer_free(&p);
}

/* RFC 3168 6.1.2-6.1.3: CE on arriving data is echoed with ECE on every
 * ACK until the sender's CWR; an ECE makes the sender reduce once (CWR
 * state, cwnd down to ssthresh by PRR) and mark its next data CWR. */
static void test_ecn_echo_and_response(void **state)
{
	(void)state;
	struct peer p;
	peer_init(&p);
	int lfd = listen_on(&p, 80, 4);
	struct tn_tcp_opts so = syn_opts(true);
	send_seg(&p, 80, p.iss, 0, TN_TCP_SYN | TN_TCP_ECE | TN_TCP_CWR, 65535, &so, NULL, 0);
	struct out o;
	assert_true(take(&p, &o));
	p.seq = p.iss + 1;
	p.ack = o.h.seq + 1;
	p.ts = true;
	peer_send(&p, 80, TN_TCP_ACK, NULL, 0);
	int fd = tern_accept(p.s, lfd, NULL, NULL);
	struct tn_tcb *t = tcb_of_fd(&p, fd);
	assert_true(t->ecn_ok);
	/* the receiver's part */
	p.ip_tos = TN_ECN_CE;
	peer_send(&p, 80, TN_TCP_ACK | TN_TCP_PSH, "abc", 3);
	p.ip_tos = TN_ECN_ECT0;
	assert_true(take(&p, &o));
	assert_true(o.h.flags & TN_TCP_ECE);
	peer_send(&p, 80, TN_TCP_ACK | TN_TCP_PSH, "def", 3);
	advance(&p, 300 * T_MS);
	assert_true(take(&p, &o));
	assert_true(o.h.flags & TN_TCP_ECE); /* still, until CWR */
	peer_send(&p, 80, TN_TCP_ACK | TN_TCP_PSH | TN_TCP_CWR, "ghi", 3);
	advance(&p, 300 * T_MS);
	assert_true(take(&p, &o));
	assert_false(o.h.flags & TN_TCP_ECE);
	assert_int_equal(peer_stat(&p, "TcpExtTCPECNCERecv"), 1);
	/* the sender's part: data out, an ACK with ECE */
	static uint8_t data[4 * MSS];
	assert_int_equal(tern_send(p.s, fd, data, sizeof(data), 0), (ssize_t)sizeof(data));
	uint32_t end = 0;
	while (take(&p, &o))
		end = o.h.seq + o.len;
	uint32_t cwnd = t->cwnd;
	p.ack = end;
	peer_send(&p, 80, TN_TCP_ACK | TN_TCP_ECE, NULL, 0);
	assert_int_equal(t->ca_state, TN_CA_CWR);
	assert_true(t->ssthresh < cwnd);
	assert_int_equal(peer_stat(&p, "TcpExtTCPECNReduce"), 1);
	peer_send(&p, 80, TN_TCP_ACK | TN_TCP_ECE, NULL, 0); /* the same window: no second cut */
	assert_int_equal(peer_stat(&p, "TcpExtTCPECNReduce"), 1);
	assert_int_equal(tern_send(p.s, fd, data, MSS, 0), MSS);
	assert_true(take(&p, &o));
	assert_true(o.h.flags & TN_TCP_CWR);
	assert_int_equal(o.tos & 3, TN_ECN_ECT0);
	peer_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sack_scoreboard_fast_retransmit),
		cmocka_unit_test(test_dupthresh_without_rack),
		cmocka_unit_test(test_rack_reordering_window),
		cmocka_unit_test(test_tlp_probe_timing),
		cmocka_unit_test(test_prr_arithmetic),
		cmocka_unit_test(test_prr_ssrb),
		cmocka_unit_test(test_cubic_equations),
		cmocka_unit_test(test_cubic_window_follows_curve),
		cmocka_unit_test(test_ecn_negotiation),
		cmocka_unit_test(test_ecn_echo_and_response),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
