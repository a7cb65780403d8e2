/* UDP (RFC 768) and ICMP echo ("ping") sockets: port tables, input
 * demultiplexing, output, and ICMP errors reported to sockets. */
#include "socket/udp.h"

#include <errno.h>
#include <netinet/in.h>

#include "core/stack.h"
#include "net/ipv4.h"
#include "socket/epoll.h"
#include "socket/sock.h"
#include "wire/csum.h"
#include "wire/wire.h"

#define UDP_MAX_PAYLOAD 65507u /* 65535 - 20 (IP) - 8 (UDP) */

static struct tn_sock **bucket(struct tn_stack *s, const struct tn_sock *sk, uint16_t port)
{
	struct tn_sock **tbl = sk->protocol == IPPROTO_ICMP ? s->socks.ping_hash : s->socks.udp_hash;
	return &tbl[port % TN_SOCK_HASH];
}

static bool port_conflict(struct tn_stack *s, const struct tn_sock *sk, uint32_t addr, uint16_t port)
{
	for (struct tn_sock *o = *bucket(s, sk, port); o; o = o->hnext) {
		if (o->lport != port || o == sk)
			continue;
		if (o->laddr && addr && o->laddr != addr)
			continue;
		if (o->reuseaddr && sk->reuseaddr)
			continue;
		return true;
	}
	return false;
}

/* raddr/rport, src: the peer and our source when the socket is being
 * connected (0 otherwise), for a stack that is one of several RSS queues. */
static int pick_port(struct tn_stack *s, struct tn_sock *sk, uint32_t addr, uint16_t *port, uint32_t src,
		     uint32_t raddr, uint16_t rport)
{
	int lo = s->sysctl.ip_local_port_range[0], hi = s->sysctl.ip_local_port_range[1];
	if (sk->protocol == IPPROTO_ICMP) { /* echo ids: any 16-bit value but 0 */
		lo = 1;
		hi = 65535;
	}
	uint32_t range = (uint32_t)(hi - lo + 1);
	uint32_t start = tn_rand_below(&s->rng, range);
	for (uint32_t i = 0; i < range; i++) {
		uint16_t p = (uint16_t)(lo + (int)((start + i) % range));
		if (sk->protocol != IPPROTO_ICMP && !tn_rss_port_ok(s, src, p, raddr, rport))
			continue;
		if (!port_conflict(s, sk, addr, p)) {
			*port = p;
			return 0;
		}
	}
	return -EADDRINUSE;
}

int tn_dgram_bind(struct tn_stack *s, struct tn_sock *sk, uint32_t addr, uint16_t port)
{
	return tn_dgram_bind_to_peer(s, sk, addr, port, 0, 0, 0);
}

int tn_dgram_bind_to_peer(struct tn_stack *s, struct tn_sock *sk, uint32_t addr, uint16_t port, uint32_t src,
			  uint32_t raddr, uint16_t rport)
{
	if (port == 0) {
		int rc = pick_port(s, sk, addr, &port, src, raddr, rport);
		if (rc < 0)
			return rc;
	} else if (port_conflict(s, sk, addr, port)) {
		return -EADDRINUSE;
	}
	sk->laddr = addr;
	sk->lport = port;
	sk->bound = true;
	struct tn_sock **b = bucket(s, sk, port);
	sk->hnext = *b;
	*b = sk;
	return 0;
}

void tn_dgram_unhash(struct tn_stack *s, struct tn_sock *sk)
{
	if (!sk->bound)
		return;
	for (struct tn_sock **pp = bucket(s, sk, sk->lport); *pp; pp = &(*pp)->hnext) {
		if (*pp == sk) {
			*pp = sk->hnext;
			break;
		}
	}
	sk->bound = false;
}

/* The best socket for a datagram: connected exact match beats a bound
 * address beats a wildcard. */
static struct tn_sock *lookup(struct tn_sock *chain, uint32_t saddr, uint16_t sport, uint32_t daddr,
			      uint16_t dport)
{
	struct tn_sock *best = NULL;
	int best_score = -1;
	for (struct tn_sock *sk = chain; sk; sk = sk->hnext) {
		if (sk->lport != dport)
			continue;
		if (sk->laddr && sk->laddr != daddr)
			continue;
		if (sk->connected && (sk->raddr != saddr || (sk->rport && sk->rport != sport)))
			continue;
		int score = (sk->laddr ? 2 : 0) + (sk->connected ? 4 : 0);
		if (score > best_score) {
			best = sk;
			best_score = score;
		}
	}
	return best;
}

/* Queue a datagram if the receive buffer has room (an empty queue always
 * takes one, so a tiny SO_RCVBUF still receives).  Consumes pkt. */
static bool sock_queue_rcv(struct tn_sock *sk, struct tn_pkt *pkt)
{
	uint32_t size = tn_pkt_truesize(pkt);
	if (sk->rxq.count && sk->rxq.bytes + size > sk->rcvbuf) {
		sk->drops++;
		return false;
	}
	tn_pktq_push(&sk->rxq, pkt, size);
	tn_sock_wake(sk);
	return true;
}

static void udp_csum_error(struct tn_stack *s, struct tn_pkt *pkt)
{
	tn_stat_inc(s, TN_UdpInCsumErrors);
	tn_drop(s, pkt, TN_UdpInErrors);
}

void tn_udp_input(struct tn_stack *s, struct tn_pkt *pkt)
{
	struct tn_ip_cb *ip = tn_ip_cb(pkt);
	struct tn_udp_hdr uh;
	if (tn_pkt_may_pull(pkt, TN_UDP_HLEN) < 0 ||
	    tn_udp_parse(pkt->data, pkt->pkt_len, &uh) < 0) {
		tn_stat_inc(s, TN_TernExtUdpInShort);
		tn_drop(s, pkt, TN_UdpInErrors);
		return;
	}
	tn_pkt_trim(pkt, uh.len);
	/* A link that vouches (the field then holds only the pseudo-header
	 * sum of a partial checksum) or a check already done is trusted. */
	if (uh.check && !(pkt->flags & (TN_PKT_CSUM_PARTIAL | TN_PKT_CSUM_OK))) {
		uint32_t sum = tn_csum_pseudo4(ip->src, ip->dst, TN_IPPROTO_UDP, uh.len);
		if (tn_csum_fold(tn_csum_pkt(pkt, 0, uh.len, sum)) != 0) {
			udp_csum_error(s, pkt);
			return;
		}
	}
	struct tn_sock *sk = lookup(s->socks.udp_hash[uh.dport % TN_SOCK_HASH], ip->src, uh.sport,
				    ip->dst, uh.dport);
	if (!sk) {
		tn_stat_inc(s, TN_UdpNoPorts);
		if (ip->route_type != TN_RT_BROADCAST) {
			/* Point back at the IP header to quote it in the error. */
			uint32_t l3 = (uint32_t)(pkt->data - (pkt->buf + pkt->l3_off));
			pkt->data -= l3;
			pkt->len += l3;
			pkt->pkt_len += l3;
			tn_icmp_send_error(s, pkt, TN_ICMP_DEST_UNREACH, TN_ICMP_PORT_UNREACH, 0);
		}
		tn_pkt_free(pkt);
		return;
	}
	struct tn_dgram_cb *cb = (struct tn_dgram_cb *)pkt->cb;
	uint32_t src = ip->src, dst = ip->dst;
	uint8_t ttl = ip->ttl, tos = ip->tos;
	cb->src = src;
	cb->sport = uh.sport;
	cb->dst = dst;
	cb->ttl = ttl;
	cb->tos = tos;
	tn_pkt_pull(pkt, TN_UDP_HLEN);
	if (!sock_queue_rcv(sk, pkt)) {
		tn_stat_inc(s, TN_UdpRcvbufErrors);
		tn_drop(s, pkt, TN_UdpInErrors);
		return;
	}
	tn_stat_inc(s, TN_UdpInDatagrams);
}

/* Build a packet chain holding an L4 header of hlen bytes (zeroed, at the
 * head) followed by the user's bytes. */
static struct tn_pkt *build_chain(struct tn_stack *s, uint32_t hlen, const void *buf, size_t len)
{
	struct tn_pkt *head = tn_pkt_alloc(s->pool);
	if (!head)
		return NULL;
	const uint8_t *src = buf;
	uint32_t room = TN_PKT_DATAROOM - hlen;
	uint32_t first = len < room ? (uint32_t)len : room;
	uint8_t *d = tn_pkt_put(head, hlen + first);
	memset(d, 0, hlen);
	memcpy(d + hlen, src, first);
	size_t done = first;
	while (done < len) {
		struct tn_pkt *seg = tn_pkt_alloc(s->pool);
		if (!seg) {
			tn_pkt_free(head);
			return NULL;
		}
		seg->data = seg->buf; /* continuation segments need no headroom */
		uint32_t take = len - done < TN_PKT_BUFSIZE ? (uint32_t)(len - done) : TN_PKT_BUFSIZE;
		memcpy(tn_pkt_put(seg, take), src + done, take);
		tn_pkt_chain(head, seg);
		done += take;
	}
	return head;
}

static uint32_t source_for(struct tn_stack *s, const struct tn_sock *sk, uint32_t dst)
{
	if (sk->laddr && !tn_addr_is_bcast(s, sk->laddr, 0))
		return sk->laddr;
	if (tn_addr_is_local(s, dst))
		return dst;
	return tn_ip_select_src(s, dst, 0);
}

/* A first send binds an ephemeral port, as Linux's autobind; then pick the
 * source address toward dst. */
static int autobind_and_source(struct tn_stack *s, struct tn_sock *sk, uint32_t dst, uint32_t *src)
{
	if (!sk->bound) {
		int rc = tn_dgram_bind(s, sk, 0, 0);
		if (rc < 0)
			return rc;
	}
	*src = source_for(s, sk, dst);
	return *src ? 0 : -ENETUNREACH;
}

ssize_t tn_udp_sendto(struct tn_stack *s, struct tn_sock *sk, const void *buf, size_t len,
		      uint32_t dst, uint16_t dport)
{
	if (len > UDP_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (dport == 0)
		return -EINVAL;
	uint32_t src;
	int rc = autobind_and_source(s, sk, dst, &src);
	if (rc < 0)
		return rc;
	struct tn_pkt *p = build_chain(s, TN_UDP_HLEN, buf, len);
	if (!p) {
		tn_stat_inc(s, TN_UdpSndbufErrors);
		tn_stat_inc(s, TN_TernExtNoBufs);
		return -ENOBUFS;
	}
	struct tn_udp_hdr uh = {.sport = sk->lport, .dport = dport, .len = (uint16_t)(len + TN_UDP_HLEN)};
	tn_udp_emit(&uh, p->data, TN_UDP_HLEN);
	/* Checksummed on the way out (tn_csum_finish, which also sends a
	 * computed 0 as all ones), unless the link takes it as it is, as
	 * Linux's UDP leaves CHECKSUM_PARTIAL to loopback and offloading NICs. */
	p->flags |= TN_PKT_CSUM_PARTIAL;
	struct tn_ip_out o = {
		.src = src, .dst = dst, .proto = TN_IPPROTO_UDP, .df = 1,
		.ttl = sk->ttl > 0 ? (uint8_t)sk->ttl : 0, .tos = (uint8_t)sk->tos,
	};
	rc = tn_ip_output(s, p, &o);
	if (rc < 0)
		return rc;
	tn_stat_inc(s, TN_UdpOutDatagrams);
	return (ssize_t)len;
}

ssize_t tn_ping_sendto(struct tn_stack *s, struct tn_sock *sk, const void *buf, size_t len,
		       uint32_t dst)
{
	struct tn_icmp_hdr ih;
	if (len > UDP_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (tn_icmp_parse(buf, len, &ih) < 0 || ih.type != TN_ICMP_ECHO || ih.code != 0)
		return -EINVAL;
	uint32_t src;
	int rc = autobind_and_source(s, sk, dst, &src);
	if (rc < 0)
		return rc;
	struct tn_pkt *p = build_chain(s, 0, buf, len);
	if (!p) {
		tn_stat_inc(s, TN_TernExtNoBufs);
		return -ENOBUFS;
	}
	ih.rest = (uint32_t)sk->lport << 16 | (ih.rest & 0xffff);
	ih.check = 0;
	tn_icmp_emit(&ih, p->data, TN_ICMP_HLEN);
	ih.check = tn_csum_fold(tn_csum_pkt(p, 0, p->pkt_len, 0));
	tn_icmp_emit(&ih, p->data, TN_ICMP_HLEN);
	struct tn_ip_out o = {
		.src = src, .dst = dst, .proto = TN_IPPROTO_ICMP, .df = 1,
		.ttl = sk->ttl > 0 ? (uint8_t)sk->ttl : 0, .tos = (uint8_t)sk->tos,
	};
	tn_stat_inc(s, TN_IcmpOutMsgs);
	tn_stat_inc(s, TN_IcmpOutEchos);
	rc = tn_ip_output(s, p, &o);
	return rc < 0 ? rc : (ssize_t)len;
}

bool tn_ping_deliver(struct tn_stack *s, struct tn_pkt *pkt, uint16_t id)
{
	struct tn_ip_cb *ip = tn_ip_cb(pkt);
	struct tn_sock *sk = NULL;
	for (struct tn_sock *o = s->socks.ping_hash[id % TN_SOCK_HASH]; o; o = o->hnext) {
		if (o->lport == id && (!o->connected || o->raddr == ip->src)) {
			sk = o;
			break;
		}
	}
	if (!sk)
		return false;
	struct tn_dgram_cb *cb = (struct tn_dgram_cb *)pkt->cb;
	uint32_t src = ip->src, dst = ip->dst;
	uint8_t ttl = ip->ttl, tos = ip->tos;
	cb->src = src;
	cb->sport = 0;
	cb->dst = dst;
	cb->ttl = ttl;
	cb->tos = tos;
	if (!sock_queue_rcv(sk, pkt))
		tn_pkt_free(pkt);
	return true;
}

void tn_sock_icmp_error(struct tn_stack *s, uint8_t proto, uint32_t src, uint32_t dst,
			uint16_t sport, uint16_t dport, int err, uint32_t from, uint8_t type,
			uint8_t code, uint16_t seq)
{
	if (proto == TN_IPPROTO_ICMP) {
		for (struct tn_sock *sk = s->socks.ping_hash[sport % TN_SOCK_HASH]; sk; sk = sk->hnext) {
			if (sk->lport != sport)
				continue;
			sk->so_error = err;
			sk->last_err.from = from;
			sk->last_err.type = type;
			sk->last_err.code = code;
			sk->last_err.seq = seq;
			sk->last_err.valid = true;
			tn_sock_wake(sk);
			return;
		}
		return;
	}
	if (proto != TN_IPPROTO_UDP)
		return;
	struct tn_sock *sk = lookup(s->socks.udp_hash[sport % TN_SOCK_HASH], dst, dport, src, sport);
	/* Linux reports errors only on connected sockets (without IP_RECVERR). */
	if (sk && sk->connected) {
		sk->so_error = err;
		tn_sock_wake(sk);
	}
}
