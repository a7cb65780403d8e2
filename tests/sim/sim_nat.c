/* NAT on a gateway: A (inside, 198.18.1.2 and .3) - R - B (outside,
 * 198.18.2.2, with no route to the inside: only translated traffic can come
 * back).  MASQUERADE for TCP, UDP and ping (B sees R's address), a DNAT port
 * forward, full NAT (DNAT + SNAT: A sees R), hairpin (A's .2 reaches A's .3
 * through R's public address), an ICMP port unreachable about a NATed UDP
 * flow arriving as ECONNREFUSED, 100 flows through 10 ports, and 100,000
 * flows through MASQUERADE against nf_conntrack_max 50,000.  Checksum
 * offload is off on every link, so every checksum NAT updates is checked
 * by a receiver (checksum error counters stay 0). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "filter/conntrack.h"
#include "filter/ipt.h"
#include "filter/nat.h"
#include "filter/nf.h"
#include "net/ipv4.h"
#include "sim.h"
#include "testutil.h"
#include "wire/csum.h"
#include "wire/wire.h"

enum { A, R, B };
#define SEC 1000000000ull
#define MS 1000000ull

static int r_a, r_b, a0, b0;

static void no_offload(struct tn_stack *s, int ifi)
{
	tern_dev_offload(s, ifi, "tso", 0);
	tern_dev_get(s, ifi)->features &= ~(uint32_t)TN_DEV_F_CSUM_OFFLOAD;
}

static void topo(struct sim *sim, bool a_gw)
{
	sim_init(sim, 77);
	sim_add(sim, "A");
	sim_add(sim, "R");
	sim_add(sim, "B");
	sim_link(sim, A, R, 1500, NULL, NULL, &a0, &r_a, NULL);
	sim_link(sim, R, B, 1500, NULL, NULL, &r_b, &b0, NULL);
	sim_addr(sim, A, a0, "198.18.1.2/24");
	sim_addr(sim, A, a0, "198.18.1.3/24");
	sim_addr(sim, R, r_a, "198.18.1.1/24");
	sim_addr(sim, R, r_b, "198.18.2.1/24");
	sim_addr(sim, B, b0, "198.18.2.2/24");
	if (a_gw)
		sim_gw(sim, A, "198.18.1.1");
	no_offload(sim->st[A], a0);
	no_offload(sim->st[R], r_a);
	no_offload(sim->st[R], r_b);
	no_offload(sim->st[B], b0);
	tern_sysctl_set(sim->st[R], "net.ipv4.ip_forward", "1");
	sim_run_until(sim, sim->now + 1 * SEC);
	sim_mark_baseline(sim);
}

static char out[8192];

#define ipt(s, ...) t_ipt(s, out, sizeof(out), __VA_ARGS__)

static const char *ifn(struct sim *sim, int who, int ifindex) { return tern_dev_get(sim->st[who], ifindex)->name; }

static struct sockaddr_in sa(const char *ip, uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = ip ? htonl(t_ip(ip)) : 0;
	return a;
}

static int sock_bound(struct tn_stack *s, int type, const char *ip, uint16_t port)
{
	int fd = tern_socket(s, AF_INET, type, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = sa(ip, port);
	assert_int_equal(tern_bind(s, fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static void no_csum_errors(struct sim *sim)
{
	for (int i = 0; i < 3; i++) {
		assert_int_equal(tern_stat(sim->st[i], "TcpInCsumErrors"), 0);
		assert_int_equal(tern_stat(sim->st[i], "UdpInCsumErrors"), 0);
		assert_int_equal(tern_stat(sim->st[i], "IcmpInCsumErrors"), 0);
		assert_int_equal(tern_stat(sim->st[i], "IpExtInCsumErrors"), 0);
	}
}

/* A TCP connection from (cs: cip:cport) to dip:dport, accepted on the
 * listener l of stack ss; 200 KB each way, every byte checked.  Returns
 * the peer address the server saw. */
static struct sockaddr_in tcp_exchange(struct sim *sim, int cs, const char *cip, uint16_t cport, const char *dip,
				       uint16_t dport, int ss, int l)
{
	int c = sock_bound(sim->st[cs], SOCK_STREAM, cip, cport);
	struct sockaddr_in d = sa(dip, dport);
	tern_connect(sim->st[cs], c, (struct sockaddr *)&d, sizeof(d));
	sim_run_until(sim, sim->now + 100 * MS);
	struct sockaddr_in peer;
	socklen_t pl = sizeof(peer);
	int s = tern_accept(sim->st[ss], l, (struct sockaddr *)&peer, &pl);
	assert_true(s >= 0);
	static uint8_t buf[65536], rb[65536];
	size_t total = 200000, sent[2] = {0, 0}, got[2] = {0, 0};
	int fds[2] = {c, s}, st[2] = {cs, ss};
	for (int i = 0; i < 5000 && (got[0] < total || got[1] < total); i++) {
		for (int k = 0; k < 2; k++) {
			while (sent[k] < total) {
				size_t n = total - sent[k] < 8192 ? total - sent[k] : 8192;
				for (size_t j = 0; j < n; j++)
					buf[j] = (uint8_t)((sent[k] + j) * 7 + k);
				ssize_t w = tern_send(sim->st[st[k]], fds[k], buf, n, 0);
				if (w <= 0)
					break;
				sent[k] += (size_t)w;
			}
		}
		sim_run_until(sim, sim->now + 1 * MS);
		for (int k = 0; k < 2; k++) {
			ssize_t n;
			while ((n = tern_recv(sim->st[st[!k]], fds[!k], rb, sizeof(rb), 0)) > 0) {
				for (ssize_t j = 0; j < n; j++)
					assert_int_equal(rb[j], (uint8_t)((got[k] + (size_t)j) * 7 + k));
				got[k] += (size_t)n;
			}
		}
	}
	assert_int_equal(got[0], total);
	assert_int_equal(got[1], total);
	/* the client sees the address it connected to */
	struct sockaddr_in cp;
	pl = sizeof(cp);
	assert_int_equal(tern_getpeername(sim->st[cs], c, (struct sockaddr *)&cp, &pl), 0);
	assert_int_equal(ntohl(cp.sin_addr.s_addr), t_ip(dip));
	assert_int_equal(ntohs(cp.sin_port), dport);
	tern_close(sim->st[cs], c);
	tern_close(sim->st[ss], s);
	sim_run_until(sim, sim->now + 200 * MS);
	return peer;
}

/* The last ICMP echo request B got: source and id. */
struct echo_seen {
	uint32_t src;
	uint16_t id;
	int n;
};

static enum tn_nf_verdict watch_echo(void *priv, struct tn_pkt *p, const struct tn_nf_state *st)
{
	struct echo_seen *w = priv;
	const uint8_t *ip = p->data;
	uint32_t ihl = (uint32_t)(ip[0] & 15) * 4;
	if (p->len >= ihl + 8 && ip[9] == TN_IPPROTO_ICMP && ip[ihl] == 8) {
		w->src = tn_get32(ip + 12);
		w->id = tn_get16(ip + ihl + 4);
		w->n++;
	}
	return TN_NF_ACCEPT;
}

static void test_masquerade(void **state)
{
	(void)state;
	struct sim sim;
	topo(&sim, true);
	struct tn_stack *r = sim.st[R];
	assert_int_equal(ipt(r, "iptables -t nat -A POSTROUTING -o %s -j MASQUERADE", ifn(&sim, R, r_b)), 0);

	/* TCP: B sees the gateway; the client's port is kept (it is free) */
	int l = sock_bound(sim.st[B], SOCK_STREAM, NULL, 80);
	assert_int_equal(tern_listen(sim.st[B], l, 8), 0);
	struct sockaddr_in peer = tcp_exchange(&sim, A, "198.18.1.2", 40000, "198.18.2.2", 80, B, l);
	assert_int_equal(ntohl(peer.sin_addr.s_addr), t_ip("198.18.2.1"));
	assert_int_equal(ntohs(peer.sin_port), 40000);
	struct tn_ct_tuple t = {t_ip("198.18.1.2"), t_ip("198.18.2.2"), 40000, 80};
	struct tn_ct *e = tn_ct_find(r, TN_IPPROTO_TCP, &t, NULL);
	assert_non_null(e);
	char line[256];
	tn_ct_format(r, e, line, sizeof(line));
	printf("R: %s\n", line);
	assert_non_null(strstr(line, "src=198.18.1.2 dst=198.18.2.2 sport=40000 dport=80 src=198.18.2.2 dst=198.18.2.1 "
				     "sport=80 dport=40000 [ASSURED]"));

	/* UDP both ways, payload checked */
	int ub = sock_bound(sim.st[B], SOCK_DGRAM, NULL, 9000);
	int ua = sock_bound(sim.st[A], SOCK_DGRAM, "198.18.1.2", 5000);
	struct sockaddr_in to = sa("198.18.2.2", 9000), from;
	const char msg[] = "through the masquerade";
	assert_int_equal(tern_sendto(sim.st[A], ua, msg, sizeof(msg), 0, (struct sockaddr *)&to, sizeof(to)),
			 (ssize_t)sizeof(msg));
	sim_run_until(&sim, sim.now + 10 * MS);
	char rb[256];
	socklen_t fl = sizeof(from);
	assert_int_equal(tern_recvfrom(sim.st[B], ub, rb, sizeof(rb), 0, (struct sockaddr *)&from, &fl),
			 (ssize_t)sizeof(msg));
	assert_memory_equal(rb, msg, sizeof(msg));
	assert_int_equal(ntohl(from.sin_addr.s_addr), t_ip("198.18.2.1"));
	assert_int_equal(ntohs(from.sin_port), 5000);
	const char ans[] = "and back";
	assert_int_equal(tern_sendto(sim.st[B], ub, ans, sizeof(ans), 0, (struct sockaddr *)&from, fl),
			 (ssize_t)sizeof(ans));
	sim_run_until(&sim, sim.now + 10 * MS);
	fl = sizeof(from);
	assert_int_equal(tern_recvfrom(sim.st[A], ua, rb, sizeof(rb), 0, (struct sockaddr *)&from, &fl),
			 (ssize_t)sizeof(ans));
	assert_memory_equal(rb, ans, sizeof(ans));
	assert_int_equal(ntohl(from.sin_addr.s_addr), t_ip("198.18.2.2"));
	assert_int_equal(ntohs(from.sin_port), 9000);

	/* ping: B sees the echo from the gateway, A gets the reply */
	static struct echo_seen w;
	memset(&w, 0, sizeof(w));
	struct tn_nf_hook_ops ops = {watch_echo, &w, TN_NF_PRE_ROUTING, TN_NF_PRI_FILTER};
	assert_int_equal(tn_nf_register(sim.st[B], &ops), 0);
	int pa = tern_socket(sim.st[A], AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
	assert_true(pa >= 0);
	uint8_t echo[16] = {8, 0, 0, 0, 0, 0, 0, 1, 'p', 'i', 'n', 'g', 1, 2, 3, 4};
	struct sockaddr_in pb = sa("198.18.2.2", 0);
	assert_int_equal(tern_sendto(sim.st[A], pa, echo, sizeof(echo), 0, (struct sockaddr *)&pb, sizeof(pb)),
			 (ssize_t)sizeof(echo));
	sim_run_until(&sim, sim.now + 10 * MS);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.src, t_ip("198.18.2.1"));
	uint8_t er[64];
	ssize_t n = tern_recv(sim.st[A], pa, er, sizeof(er), 0);
	assert_int_equal(n, (ssize_t)sizeof(echo));
	assert_int_equal(er[0], 0); /* echo reply */
	assert_memory_equal(er + 6, echo + 6, sizeof(echo) - 6);
	tn_nf_unregister(sim.st[B], &ops);
	no_csum_errors(&sim);
	printf("R nat: setups %llu null %llu remapped %llu\n", (unsigned long long)r->nat->stats.setups,
	       (unsigned long long)r->nat->stats.null_bindings, (unsigned long long)r->nat->stats.remapped);
	tern_close(sim.st[A], ua);
	tern_close(sim.st[A], pa);
	tern_close(sim.st[B], ub);
	tern_close(sim.st[B], l);
	sim_run_until(&sim, sim.now + 200 * SEC);
	assert_int_equal(tn_ct_count(r), 0);
	assert_true(sim_no_leak(&sim));
	sim_free(&sim);
}

static void test_dnat_full_nat_hairpin(void **state)
{
	(void)state;
	struct sim sim;
	topo(&sim, true);
	struct tn_stack *r = sim.st[R];
	const char *in = ifn(&sim, R, r_a), *outi = ifn(&sim, R, r_b);
	/* port forward: B -> R:8080 reaches A:80, A sees B */
	assert_int_equal(ipt(r, "iptables -t nat -A PREROUTING -i %s -p tcp --dport 8080 -j DNAT --to-destination 198.18.1.2:80", outi), 0);
	/* full NAT: B -> R:8081 reaches A:81 from R's inside address */
	assert_int_equal(ipt(r, "iptables -t nat -A PREROUTING -i %s -p tcp --dport 8081 -j DNAT --to-destination 198.18.1.2:81", outi), 0);
	assert_int_equal(ipt(r, "iptables -t nat -A POSTROUTING -o %s -p tcp --dport 81 -j SNAT --to-source 198.18.1.1", in), 0);
	/* hairpin: A's .2 -> R's public 198.18.2.1:8082 reaches A's .3:82,
	 * masqueraded so the answers go back through R */
	assert_int_equal(ipt(r, "iptables -t nat -A PREROUTING -d 198.18.2.1 -p tcp --dport 8082 -j DNAT --to-destination 198.18.1.3:82"), 0);
	assert_int_equal(ipt(r, "iptables -t nat -A POSTROUTING -s 198.18.1.0/24 -d 198.18.1.3 -p tcp --dport 82 -j MASQUERADE"), 0);

	int l80 = sock_bound(sim.st[A], SOCK_STREAM, NULL, 80), l81 = sock_bound(sim.st[A], SOCK_STREAM, NULL, 81);
	int l82 = sock_bound(sim.st[A], SOCK_STREAM, "198.18.1.3", 82);
	assert_int_equal(tern_listen(sim.st[A], l80, 8), 0);
	assert_int_equal(tern_listen(sim.st[A], l81, 8), 0);
	assert_int_equal(tern_listen(sim.st[A], l82, 8), 0);

	struct sockaddr_in p = tcp_exchange(&sim, B, "198.18.2.2", 41000, "198.18.2.1", 8080, A, l80);
	assert_int_equal(ntohl(p.sin_addr.s_addr), t_ip("198.18.2.2"));
	assert_int_equal(ntohs(p.sin_port), 41000);

	p = tcp_exchange(&sim, B, "198.18.2.2", 41001, "198.18.2.1", 8081, A, l81);
	assert_int_equal(ntohl(p.sin_addr.s_addr), t_ip("198.18.1.1"));
	assert_int_equal(ntohs(p.sin_port), 41001);
	struct tn_ct_tuple t = {t_ip("198.18.2.2"), t_ip("198.18.2.1"), 41001, 8081};
	struct tn_ct *e = tn_ct_find(r, TN_IPPROTO_TCP, &t, NULL);
	assert_non_null(e);
	assert_true(e->status & TN_CT_S_SRC_NAT);
	assert_true(e->status & TN_CT_S_DST_NAT);
	char line[256];
	tn_ct_format(r, e, line, sizeof(line));
	printf("R: %s\n", line);
	assert_non_null(strstr(line, "src=198.18.2.2 dst=198.18.2.1 sport=41001 dport=8081 src=198.18.1.2 dst=198.18.1.1 "
				     "sport=81 dport=41001"));

	int64_t fwd = tern_stat(r, "IpForwDatagrams");
	p = tcp_exchange(&sim, A, "198.18.1.2", 42000, "198.18.2.1", 8082, A, l82);
	assert_int_equal(ntohl(p.sin_addr.s_addr), t_ip("198.18.1.1"));
	assert_int_equal(ntohs(p.sin_port), 42000);
	assert_true(tern_stat(r, "IpForwDatagrams") - fwd > 100); /* both ways through R */
	no_csum_errors(&sim);
	tern_close(sim.st[A], l80);
	tern_close(sim.st[A], l81);
	tern_close(sim.st[A], l82);
	sim_run_until(&sim, sim.now + 200 * SEC);
	assert_true(sim_no_leak(&sim));
	sim_free(&sim);
}

/* REDIRECT: on R in PREROUTING (a transparent proxy: B's connection to
 * R's port 80 reaches R's listener on 3128) and on A in OUTPUT (A's own
 * connection to B:80 reaches A's listener on 127.0.0.1:8000, through the
 * loopback). */
static void test_redirect(void **state)
{
	(void)state;
	struct sim sim;
	topo(&sim, true);
	struct tn_stack *r = sim.st[R];
	assert_int_equal(ipt(r, "iptables -t nat -A PREROUTING -i %s -p tcp --dport 80 -j REDIRECT --to-ports 3128",
			     ifn(&sim, R, r_b)), 0);
	int proxy = sock_bound(r, SOCK_STREAM, NULL, 3128);
	assert_int_equal(tern_listen(r, proxy, 8), 0);
	struct sockaddr_in p = tcp_exchange(&sim, B, "198.18.2.2", 43000, "198.18.2.1", 80, R, proxy);
	assert_int_equal(ntohl(p.sin_addr.s_addr), t_ip("198.18.2.2"));
	assert_int_equal(ntohs(p.sin_port), 43000);

	assert_int_equal(ipt(sim.st[A], "iptables -t nat -A OUTPUT -p tcp -d 198.18.2.2 --dport 80 -j REDIRECT --to-ports 8000"), 0);
	int local = sock_bound(sim.st[A], SOCK_STREAM, "127.0.0.1", 8000);
	assert_int_equal(tern_listen(sim.st[A], local, 8), 0);
	int64_t fwd = tern_stat(r, "IpForwDatagrams");
	p = tcp_exchange(&sim, A, "198.18.1.2", 43001, "198.18.2.2", 80, A, local);
	assert_int_equal(ntohl(p.sin_addr.s_addr), t_ip("198.18.1.2"));
	assert_int_equal(ntohs(p.sin_port), 43001);
	assert_int_equal(tern_stat(r, "IpForwDatagrams"), fwd); /* it never left A */
	no_csum_errors(&sim);
	tern_close(r, proxy);
	tern_close(sim.st[A], local);
	sim_run_until(&sim, sim.now + 200 * SEC);
	assert_true(sim_no_leak(&sim));
	sim_free(&sim);
}

/* The ICMP error A gets: its quoted header as A sent it. */
struct icmp_seen {
	uint8_t pkt[256];
	uint32_t len;
	int n;
};

static enum tn_nf_verdict watch_icmp(void *priv, struct tn_pkt *p, const struct tn_nf_state *st)
{
	struct icmp_seen *w = priv;
	const uint8_t *ip = p->data;
	uint32_t ihl = (uint32_t)(ip[0] & 15) * 4;
	if (p->len >= ihl + 8 && ip[9] == TN_IPPROTO_ICMP && ip[ihl] == 3) {
		w->len = p->len < sizeof(w->pkt) ? p->len : (uint32_t)sizeof(w->pkt);
		memcpy(w->pkt, ip, w->len);
		w->n++;
	}
	return TN_NF_ACCEPT;
}

static void test_icmp_error_to_inside(void **state)
{
	(void)state;
	struct sim sim;
	topo(&sim, true);
	struct tn_stack *r = sim.st[R];
	assert_int_equal(ipt(r, "iptables -t nat -A POSTROUTING -o %s -p udp -j SNAT --to-source 198.18.2.1:30000-30099", ifn(&sim, R, r_b)), 0);
	static struct icmp_seen w;
	memset(&w, 0, sizeof(w));
	struct tn_nf_hook_ops ops = {watch_icmp, &w, TN_NF_PRE_ROUTING, TN_NF_PRI_FILTER};
	assert_int_equal(tn_nf_register(sim.st[A], &ops), 0);
	int u = sock_bound(sim.st[A], SOCK_DGRAM, "198.18.1.2", 5555);
	struct sockaddr_in d = sa("198.18.2.2", 9999);
	assert_int_equal(tern_connect(sim.st[A], u, (struct sockaddr *)&d, sizeof(d)), 0);
	assert_int_equal(tern_send(sim.st[A], u, "x", 1, 0), 1);
	sim_run_until(&sim, sim.now + 20 * MS);
	char b[8];
	errno = 0;
	assert_int_equal(tern_recv(sim.st[A], u, b, sizeof(b), 0), -1);
	assert_int_equal(errno, ECONNREFUSED);
	assert_int_equal(w.n, 1);
	const uint8_t *ip = w.pkt, *icmp = ip + 20, *in = icmp + 8, *iu = in + 20;
	assert_true(w.len >= 20 + 8 + 20 + 8);
	assert_int_equal(tn_get32(ip + 16), t_ip("198.18.1.2")); /* to A */
	assert_int_equal(tn_get32(ip + 12), t_ip("198.18.2.2"));
	assert_int_equal(tn_csum(ip, 20), 0);
	assert_int_equal(tn_csum(icmp, tn_get16(ip + 2) - 20u), 0);
	assert_int_equal(tn_csum(in, 20), 0);                   /* quoted IP header checksum fixed */
	assert_int_equal(tn_get32(in + 12), t_ip("198.18.1.2")); /* quoted: as A sent it */
	assert_int_equal(tn_get32(in + 16), t_ip("198.18.2.2"));
	assert_int_equal(tn_get16(iu), 5555);
	assert_int_equal(tn_get16(iu + 2), 9999);
	/* the whole quoted datagram is there: its UDP checksum must verify */
	uint32_t ulen = tn_get16(iu + 4);
	assert_int_equal(ulen, 9);
	assert_int_equal(tn_csum_fold(tn_csum_partial(iu, ulen, tn_csum_pseudo4(t_ip("198.18.1.2"), t_ip("198.18.2.2"), 17, ulen))), 0);
	tn_nf_unregister(sim.st[A], &ops);
	no_csum_errors(&sim);
	tern_close(sim.st[A], u);
	sim_run_until(&sim, sim.now + 60 * SEC);
	assert_true(sim_no_leak(&sim));
	sim_free(&sim);
}

static void count_one(void *ctx, struct tn_ct *e)
{
	(void)e;
	(*(unsigned *)ctx)++;
}

/* 100 inside ports to one destination through 10 ports: 10 distinct
 * mappings, 90 drops counted; a port is free again once its entry is gone. */
static void test_port_range_exhaustion(void **state)
{
	(void)state;
	struct sim sim;
	topo(&sim, true);
	struct tn_stack *r = sim.st[R];
	assert_int_equal(ipt(r, "iptables -t nat -A POSTROUTING -o %s -p udp -j SNAT --to-source 198.18.2.1:20000-20009", ifn(&sim, R, r_b)), 0);
	int ub = sock_bound(sim.st[B], SOCK_DGRAM, NULL, 9000);
	int fds[100];
	struct sockaddr_in to = sa("198.18.2.2", 9000);
	for (int i = 0; i < 100; i++) {
		fds[i] = sock_bound(sim.st[A], SOCK_DGRAM, "198.18.1.2", (uint16_t)(6000 + i));
		uint8_t m[2] = {(uint8_t)i, 0x5a};
		assert_int_equal(tern_sendto(sim.st[A], fds[i], m, 2, 0, (struct sockaddr *)&to, sizeof(to)), 2);
		sim_run_until(&sim, sim.now + 1 * MS);
	}
	sim_run_until(&sim, sim.now + 10 * MS);
	bool seen[10] = {0};
	int got = 0;
	for (;;) {
		uint8_t m[8];
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = tern_recvfrom(sim.st[B], ub, m, sizeof(m), 0, (struct sockaddr *)&from, &fl);
		if (n < 0)
			break;
		assert_int_equal(n, 2);
		assert_int_equal(m[0], got); /* the first ten flows, in order */
		assert_int_equal(m[1], 0x5a);
		assert_int_equal(ntohl(from.sin_addr.s_addr), t_ip("198.18.2.1"));
		uint16_t port = ntohs(from.sin_port);
		assert_true(port >= 20000 && port <= 20009);
		assert_false(seen[port - 20000]);
		seen[port - 20000] = true;
		got++;
	}
	assert_int_equal(got, 10);
	assert_int_equal(r->nat->stats.exhausted, 90);
	unsigned confirmed = 0;
	tn_ct_foreach(r, count_one, &confirmed);
	assert_int_equal(confirmed, 10); /* (the dropped flows' unconfirmed entries wait in the pending ring) */
	/* the ten mappings expire (30 s unreplied); then new flows get ports */
	sim_run_until(&sim, sim.now + 32 * SEC);
	confirmed = 0;
	tn_ct_foreach(r, count_one, &confirmed);
	assert_int_equal(confirmed, 0);
	for (int i = 50; i < 55; i++) {
		uint8_t m[2] = {(uint8_t)i, 0x5a};
		assert_int_equal(tern_sendto(sim.st[A], fds[i], m, 2, 0, (struct sockaddr *)&to, sizeof(to)), 2);
	}
	sim_run_until(&sim, sim.now + 10 * MS);
	for (int i = 50; i < 55; i++) {
		uint8_t m[8];
		assert_int_equal(tern_recv(sim.st[B], ub, m, sizeof(m), 0), 2);
		assert_int_equal(m[0], i);
	}
	assert_int_equal(r->nat->stats.exhausted, 90);
	for (int i = 0; i < 100; i++)
		tern_close(sim.st[A], fds[i]);
	tern_close(sim.st[B], ub);
	no_csum_errors(&sim);
	sim_run_until(&sim, sim.now + 40 * SEC);
	assert_true(sim_no_leak(&sim));
	sim_free(&sim);
}

/* ---- 100,000 flows through MASQUERADE, nf_conntrack_max 50,000 ---- */

static void test_masquerade_overflow(void **state)
{
	(void)state;
	uint32_t max = 50000;
	struct sim sim;
	topo(&sim, true);
	struct tn_stack *r = sim.st[R];
	assert_int_equal(tern_sysctl_set(r, "net.netfilter.nf_conntrack_max", "50000"), 0);
	assert_int_equal(ipt(r, "iptables -t nat -A POSTROUTING -o %s -j MASQUERADE", ifn(&sim, R, r_b)), 0);
	/* requests, then replies to the gateway's address: only translated
	 * replies reach A (where nothing listens: UdpNoPorts counts them) */
	struct sim_flows f = {.a = A, .r = R, .b = B, .a_addr = t_ip("198.18.1.2"), .b_addr = t_ip("198.18.2.2"),
			      .reply_to = t_ip("198.18.2.1"), .max = max};
	sim_flows_fill(&sim, &f);
	/* the second half: the table is full of ASSURED flows */
	sim_flows_overflow(&sim, &f);
	/* the existing flows keep working, both ways */
	sim_flows_again(&sim, &f);
	assert_int_equal(r->nat->stats.exhausted, 0);
	assert_int_equal(r->nat->stats.remapped, 0); /* every source port was free */
	assert_int_equal(r->nat->stats.setups, max);
	no_csum_errors(&sim);
	/* everything times out: 120 s of stream timeout */
	sim_flows_expire(&sim, &f);
	sim_free(&sim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_masquerade),
		cmocka_unit_test(test_dnat_full_nat_hairpin),
		cmocka_unit_test(test_redirect),
		cmocka_unit_test(test_icmp_error_to_inside),
		cmocka_unit_test(test_port_range_exhaustion),
		cmocka_unit_test(test_masquerade_overflow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
