/* IPv4 input (header checks, local delivery, reassembly), forwarding
 * (TTL, ICMP errors, fragmentation) and output (routing, source address,
 * fragmentation, neighbour resolution). */
#include "net/ipv4.h"
#include "net/gso.h"

#include <errno.h>

#include "core/stack.h"
#include "filter/nf.h"
#include "net/frag.h"
#include "net/icmp.h"
#include "net/neigh.h"
#include "net/route.h"
#include "socket/sock.h"
#include "tcp/tcp.h"
#include "wire/csum.h"
#include "wire/wire.h"

static bool martian_source(uint32_t src)
{
	return tn_ip_is_multicast(src) || tn_ip_is_lbcast(src) || tn_ip_is_class_e(src) ||
	       tn_ip_is_loopback(src);
}

/* Hand a packet to its transport.  pkt->data at the IP header. */
static void ip_local_deliver(struct tn_stack *s, struct tn_pkt *pkt)
{
	if (!tn_nf_hook(s, &s->nf, TN_NF_LOCAL_IN, pkt, pkt->ifindex, 0))
		return;
	struct tn_ipv4_hdr h;
	/* Parse again: reassembly rebuilt the header of a whole datagram,
	 * whose payload may span a chain (the header is in the head). */
	uint32_t head = pkt->pkt_len < TN_IPV4_MAX_HLEN ? pkt->pkt_len : TN_IPV4_MAX_HLEN;
	if (tn_pkt_may_pull(pkt, head) < 0 || tn_ipv4_parse(pkt->data, pkt->pkt_len, &h) < 0) {
		tn_drop(s, pkt, TN_IpInHdrErrors);
		return;
	}
	struct tn_ip_cb *cb = tn_ip_cb(pkt);
	cb->src = h.src;
	cb->dst = h.dst;
	cb->tot_len = h.tot_len;
	cb->ihl = h.ihl;
	cb->proto = h.proto;
	cb->ttl = h.ttl;
	cb->tos = h.tos;
	pkt->l3_off = tn_pkt_off(pkt, pkt->data);
	tn_pkt_pull(pkt, h.ihl);
	pkt->l4_off = tn_pkt_off(pkt, pkt->data);
	switch (h.proto) {
	case TN_IPPROTO_ICMP:
		tn_stat_inc(s, TN_IpInDelivers);
		tn_icmp_input(s, pkt);
		return;
	case TN_IPPROTO_UDP:
		tn_stat_inc(s, TN_IpInDelivers);
		tn_udp_input(s, pkt);
		return;
	case TN_IPPROTO_TCP:
		tn_stat_inc(s, TN_IpInDelivers);
		tn_tcp_input(s, pkt);
		return;
	default:
		/* No handler and no raw socket: protocol unreachable, as Linux. */
		pkt->data = pkt->buf + pkt->l3_off;
		pkt->len += h.ihl;
		pkt->pkt_len += h.ihl;
		tn_icmp_send_error(s, pkt, TN_ICMP_DEST_UNREACH, TN_ICMP_PROT_UNREACH, 0);
		tn_drop(s, pkt, TN_IpInUnknownProtos);
	}
}

struct out_hop {
	int ifindex;
	uint32_t nexthop;
};

static void send_to_hop(struct tn_stack *s, struct tn_pkt *pkt, void *arg)
{
	const struct out_hop *hop = arg;
	tn_stat_add(s, TN_IpExtOutOctets, pkt->pkt_len);
	tn_neigh_output(s, hop->ifindex, hop->nexthop, pkt);
}

static uint32_t path_mtu(struct tn_stack *s, const struct tn_route *rt, uint32_t dst)
{
	struct tn_iface *ifc = tn_iface_get(s, rt->ifindex);
	uint32_t mtu = ifc ? ifc->dev->mtu : 1500;
	uint32_t p = tn_pmtu_get(&s->routes, dst, s->now);
	return (p && p < mtu) ? p : mtu;
}

/* A large TCP segment whose every segment fits the MTU goes as it is: the
 * device, or GSO before it, cuts it up (Linux's skb_gso_validate_network_len). */
static bool gso_fits(const struct tn_pkt *pkt, uint32_t mtu)
{
	if (!pkt->gso_size)
		return false;
	const uint8_t *ip = pkt->data;
	uint32_t hl = (uint32_t)(ip[0] & 0xf) * 4 + (uint32_t)(ip[(ip[0] & 0xf) * 4 + 12] >> 4) * 4;
	return hl + pkt->gso_size <= mtu;
}

/* Send a finished IP packet (data at the IP header) toward nexthop,
 * fragmenting to the MTU.  Consumes pkt. */
static int ip_finish_output(struct tn_stack *s, struct tn_pkt *pkt, int ifindex, uint32_t nexthop,
			    uint32_t mtu)
{
	struct out_hop hop = {ifindex, nexthop};
	if (pkt->pkt_len <= mtu || gso_fits(pkt, mtu)) {
		send_to_hop(s, pkt, &hop);
		return 0;
	}
	if (pkt->gso_size) { /* the path shrank under a large segment: cut, then fragment */
		struct tn_pkt *seg = tn_gso_segment(s->pool, pkt);
		int rc = seg ? 0 : -ENOBUFS;
		while (seg) {
			struct tn_pkt *next = seg->qnext;
			seg->qnext = NULL;
			int r = ip_finish_output(s, seg, ifindex, nexthop, mtu);
			if (r < 0)
				rc = r;
			seg = next;
		}
		return rc;
	}
	tn_csum_finish(pkt); /* fragments cannot carry an unfinished checksum */
	return tn_frag_output(s, pkt, mtu, send_to_hop, &hop);
}

/* POST_ROUTING, then on to the neighbour (fragmenting if need be). */
static int ip_post_routing(struct tn_stack *s, struct tn_pkt *pkt, int in_ifindex, int ifindex, uint32_t nexthop,
			   uint32_t mtu)
{
	if (!tn_nf_hook(s, &s->nf, TN_NF_POST_ROUTING, pkt, in_ifindex, ifindex))
		return -EPERM;
	if (ifindex == 0) {
		tn_pktq_push(&s->loopback, pkt, 0);
		return 0;
	}
	return ip_finish_output(s, pkt, ifindex, nexthop, mtu);
}

static void ip_forward(struct tn_stack *s, int in_ifindex, struct tn_pkt *pkt,
		       const struct tn_ipv4_hdr *h)
{
	if (pkt->flags & (TN_PKT_L2_BCAST | TN_PKT_L2_MCAST)) {
		tn_drop(s, pkt, TN_IpInAddrErrors);
		return;
	}
	if (h->ttl <= 1) {
		tn_icmp_send_error(s, pkt, TN_ICMP_TIME_EXCEEDED, TN_ICMP_EXC_TTL, 0);
		tn_drop(s, pkt, TN_IpInHdrErrors);
		return;
	}
	const struct tn_route *rt = tn_route_lookup(&s->routes, h->dst);
	if (!rt || rt->type == TN_RT_UNREACHABLE || rt->type == TN_RT_BLACKHOLE) {
		if (!rt || rt->type == TN_RT_UNREACHABLE)
			tn_icmp_send_error(s, pkt, TN_ICMP_DEST_UNREACH,
					   rt ? TN_ICMP_HOST_UNREACH : TN_ICMP_NET_UNREACH, 0);
		tn_drop(s, pkt, TN_IpExtInNoRoutes);
		return;
	}
	uint32_t mtu = path_mtu(s, rt, h->dst);
	if (h->tot_len > mtu && (h->frag_off & TN_IP_DF) && !gso_fits(pkt, mtu)) {
		tn_icmp_send_error(s, pkt, TN_ICMP_DEST_UNREACH, TN_ICMP_FRAG_NEEDED, mtu);
		tn_drop(s, pkt, TN_IpFragFails);
		return;
	}
	/* Decrement TTL in place, fixing the checksum incrementally (RFC 1624). */
	uint8_t *ip = pkt->data;
	uint16_t old = tn_get16(ip + 8);
	ip[8] = (uint8_t)(h->ttl - 1);
	tn_put16(ip + 10, tn_csum_update16(tn_get16(ip + 10), old, tn_get16(ip + 8)));
	pkt->flags |= TN_PKT_FORWARDED;
	int out = rt->ifindex;
	uint32_t nexthop = rt->gw ? rt->gw : h->dst;
	if (!tn_nf_hook(s, &s->nf, TN_NF_FORWARD, pkt, in_ifindex, out))
		return;
	tn_stat_add(s, TN_IpForwDatagrams, TN_PKT_SEGS(pkt));
	ip_post_routing(s, pkt, in_ifindex, out, nexthop, mtu);
}

void tn_ipv4_input(struct tn_stack *s, int ifindex, struct tn_pkt *pkt)
{
	tn_stat_add(s, TN_IpInReceives, TN_PKT_SEGS(pkt));
	tn_stat_add(s, TN_IpExtInOctets, pkt->pkt_len);
	struct tn_ipv4_hdr h;
	/* A chain (a large segment from GRO or a TSO link) has its header in
	 * the first buffer and its length in pkt_len. */
	uint32_t avail = pkt->len;
	if (pkt->next) {
		tn_pkt_may_pull(pkt, pkt->pkt_len < 60 ? pkt->pkt_len : 60);
		avail = pkt->pkt_len;
	}
	int rc = tn_ipv4_parse(pkt->data, avail, &h);
	if (rc == 0 && h.ihl > pkt->len)
		rc = TN_WIRE_ETRUNC;
	if (rc < 0) {
		if (rc == TN_WIRE_ETRUNC && pkt->len >= TN_IPV4_HLEN)
			tn_drop(s, pkt, TN_IpExtInTruncatedPkts);
		else if (rc == TN_WIRE_ECSUM) {
			tn_stat_inc(s, TN_IpExtInCsumErrors);
			tn_drop(s, pkt, TN_IpInHdrErrors);
		} else
			tn_drop(s, pkt, rc == TN_WIRE_EOPTIONS ? TN_TernExtIpInBadOptions
							    : TN_IpInHdrErrors);
		return;
	}
	tn_pkt_trim(pkt, h.tot_len); /* drop link-layer padding */
	pkt->l3_off = tn_pkt_off(pkt, pkt->data);
	if (!tn_nf_hook(s, &s->nf, TN_NF_PRE_ROUTING, pkt, ifindex, 0))
		return;
	h.src = tn_get32(pkt->data + 12); /* NAT may have rewritten them */
	h.dst = tn_get32(pkt->data + 16);
	if (martian_source(h.src) && ifindex != 0) {
		tn_drop(s, pkt, TN_TernExtIpInMartians);
		return;
	}
	if (h.has_srcroute && !s->sysctl.accept_source_route) {
		tn_drop(s, pkt, TN_TernExtIpInSourceRoute);
		return;
	}
	/* 127/8 is ours only from the loopback (ifindex 0); on a device it is a martian */
	bool local = tn_addr_is_local(s, h.dst) || (ifindex == 0 && tn_ip_is_loopback(h.dst));
	bool bcast = !local && tn_addr_is_bcast(s, h.dst, 0);
	if (!local && !bcast) {
		if (tn_ip_is_multicast(h.dst) || tn_ip_is_zeronet(h.dst) || !s->sysctl.ip_forward) {
			tn_drop(s, pkt, TN_IpInAddrErrors);
			return;
		}
		ip_forward(s, ifindex, pkt, &h);
		return;
	}
	if (bcast)
		tn_stat_inc(s, TN_IpExtInBcastPkts);
	tn_ip_cb(pkt)->route_type = bcast ? TN_RT_BROADCAST : TN_RT_LOCAL;
	if (tn_ipv4_is_fragment(&h)) {
		pkt = tn_frag_reasm(s, pkt);
		if (!pkt)
			return;
		tn_ip_cb(pkt)->route_type = bcast ? TN_RT_BROADCAST : TN_RT_LOCAL;
	}
	ip_local_deliver(s, pkt);
}

uint32_t tn_ip_select_src(struct tn_stack *s, uint32_t dst, int oif)
{
	if (oif)
		return tn_iface_addr(s, oif, dst);
	const struct tn_route *rt = tn_route_lookup(&s->routes, dst);
	if (!rt)
		return 0;
	if (rt->prefsrc)
		return rt->prefsrc;
	return tn_iface_addr(s, rt->ifindex, rt->gw ? rt->gw : dst);
}

/* Route a locally generated datagram: to ourselves (loopback), to a
 * broadcast address, or by the routing table. */
static int ip_route_output(struct tn_stack *s, const struct tn_ip_out *o, int *ifindex,
			   uint32_t *nexthop, uint32_t *src, uint32_t *mtu)
{
	if (tn_addr_is_local(s, o->dst) || tn_ip_is_loopback(o->dst)) {
		*ifindex = 0;
		*nexthop = o->dst;
		*src = o->src ? o->src : o->dst;
		*mtu = 65535;
		return 0;
	}
	if (tn_ip_is_lbcast(o->dst)) {
		int oif = o->oif;
		for (int i = 1; !oif && i <= TN_MAX_IFACES; i++)
			if (s->ifaces[i].dev && s->ifaces[i].naddrs)
				oif = i;
		struct tn_iface *ifc = tn_iface_get(s, oif);
		if (!ifc)
			return -ENETUNREACH;
		*ifindex = oif;
		*nexthop = o->dst;
		*src = o->src ? o->src : tn_iface_addr(s, oif, 0);
		*mtu = ifc->dev->mtu;
		return 0;
	}
	const struct tn_route *rt = tn_route_lookup(&s->routes, o->dst);
	if (!rt || (o->oif && rt->ifindex != o->oif && !rt->scope_link)) {
		if (!o->oif)
			return -ENETUNREACH;
		struct tn_iface *ifc = tn_iface_get(s, o->oif);
		if (!ifc)
			return -ENETUNREACH;
		*ifindex = o->oif;
		*nexthop = o->dst;
		*src = o->src ? o->src : tn_iface_addr(s, o->oif, o->dst);
		*mtu = ifc->dev->mtu;
		return 0;
	}
	if (rt->type == TN_RT_UNREACHABLE || rt->type == TN_RT_BLACKHOLE)
		return rt->type == TN_RT_UNREACHABLE ? -EHOSTUNREACH : -EINVAL;
	*ifindex = rt->ifindex;
	*nexthop = rt->gw ? rt->gw : o->dst;
	*src = o->src ? o->src
		      : (rt->prefsrc ? rt->prefsrc : tn_iface_addr(s, rt->ifindex, *nexthop));
	*mtu = path_mtu(s, rt, o->dst);
	return 0;
}

int tn_ip_output(struct tn_stack *s, struct tn_pkt *pkt, const struct tn_ip_out *o)
{
	int ifindex;
	uint32_t nexthop, src, mtu;
	int rc = ip_route_output(s, o, &ifindex, &nexthop, &src, &mtu);
	if (rc < 0) {
		tn_drop(s, pkt, TN_IpOutNoRoutes);
		return rc;
	}
	uint32_t tot = pkt->pkt_len + TN_IPV4_HLEN;
	if (tot > 65535) {
		tn_drop(s, pkt, TN_IpOutDiscards);
		return -EMSGSIZE;
	}
	struct tn_ipv4_hdr h = {
		.tos = o->tos, .tot_len = (uint16_t)tot, .id = s->ip_id,
		/* IP_PMTUDISC_WANT: DF when the datagram fits the path, fragments otherwise. */
		.frag_off = (o->df && tot <= mtu && !s->sysctl.ip_no_pmtu_disc) ? TN_IP_DF : 0,
		.ttl = o->ttl ? o->ttl : (uint8_t)s->sysctl.ip_default_ttl,
		.proto = o->proto, .src = src, .dst = o->dst,
	};
	uint8_t *ip = tn_pkt_push(pkt, TN_IPV4_HLEN);
	if (!ip) {
		tn_drop(s, pkt, TN_IpOutDiscards);
		return -ENOBUFS;
	}
	tn_ipv4_emit(&h, ip, TN_IPV4_HLEN);
	s->ip_id = (uint16_t)(s->ip_id + TN_PKT_SEGS(pkt)); /* GSO numbers its segments id, id+1, ... */
	pkt->l3_off = tn_pkt_off(pkt, ip);
	pkt->flags |= TN_PKT_LOCAL_OUT;
	tn_stat_add(s, TN_IpOutRequests, TN_PKT_SEGS(pkt));
	if (tn_ip_is_lbcast(o->dst) || tn_addr_is_bcast(s, o->dst, 0))
		tn_stat_inc(s, TN_IpExtOutBcastPkts);
	if (!tn_nf_hook(s, &s->nf, TN_NF_LOCAL_OUT, pkt, 0, ifindex))
		return -EPERM; /* as Linux tells a sender whose packet OUTPUT dropped */
	uint32_t dst = tn_get32(pkt->data + 16);
	if (dst != o->dst) { /* NAT moved it: route again (ip_route_me_harder) */
		struct tn_ip_out again = *o;
		again.dst = dst;
		again.src = tn_get32(pkt->data + 12);
		if (ip_route_output(s, &again, &ifindex, &nexthop, &src, &mtu) < 0) {
			tn_drop(s, pkt, TN_IpOutNoRoutes);
			return -EHOSTUNREACH;
		}
	}
	rc = ip_post_routing(s, pkt, 0, ifindex, nexthop, mtu);
	return rc < 0 ? rc : 0;
}
