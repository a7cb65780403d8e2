/* ICMPv4: echo, errors in and out, and Linux's rate limits for errors. */
#include "net/icmp.h"

#include <errno.h>

#include "core/hash.h"
#include "core/stack.h"
#include "net/ipv4.h"
#include "net/route.h"
#include "socket/sock.h"
#include "wire/csum.h"
#include "wire/wire.h"

#define NS_PER_MS 1000000ull
#define NS_PER_SEC 1000000000ull
#define XRLIM_BURST_FACTOR 6 /* per-host bucket depth, as Linux */
#define ICMP_ERR_MAX_LEN 576 /* RFC 1812 4.3.2.3: error datagrams fit 576 bytes */

void tn_icmp_init(struct tn_icmp_state *st)
{
	memset(st, 0, sizeof(*st));
	st->credit = (uint64_t)-1; /* filled to the burst on first use */
}

/* icmp_global_allow: msgs_per_sec refill up to msgs_burst. */
static bool global_allow(struct tn_stack *s)
{
	struct tn_icmp_state *st = &s->icmp;
	uint64_t burst = (uint64_t)s->sysctl.icmp_msgs_burst;
	if (st->credit == (uint64_t)-1) {
		st->credit = burst;
		st->last_refill = s->now;
	}
	uint64_t elapsed = s->now - st->last_refill;
	uint64_t add = elapsed * (uint64_t)s->sysctl.icmp_msgs_per_sec / NS_PER_SEC;
	if (add) {
		st->credit = st->credit + add > burst ? burst : st->credit + add;
		st->last_refill = s->now;
	}
	if (!st->credit)
		return false;
	st->credit--;
	return true;
}

/* inet_peer_xrlim_allow: one message per icmp_ratelimit ms per host, with a
 * burst of XRLIM_BURST_FACTOR. */
static bool host_allow(struct tn_stack *s, uint32_t dst)
{
	uint64_t timeout = (uint64_t)s->sysctl.icmp_ratelimit * NS_PER_MS;
	if (!timeout)
		return true;
	unsigned i = (unsigned)tn_hash2(s->routes.hash_key, dst, 0x1c) % TN_ICMP_HOST_CACHE;
	struct tn_icmp_state *st = &s->icmp;
	if (st->host[i].dst != dst || st->host[i].last == 0) {
		st->host[i].dst = dst;
		st->host[i].tokens = XRLIM_BURST_FACTOR * timeout;
		st->host[i].last = s->now ? s->now : 1;
	}
	uint64_t tok = st->host[i].tokens + (s->now - st->host[i].last);
	if (tok > XRLIM_BURST_FACTOR * timeout)
		tok = XRLIM_BURST_FACTOR * timeout;
	st->host[i].last = s->now ? s->now : 1;
	if (tok < timeout) {
		st->host[i].tokens = tok;
		return false;
	}
	st->host[i].tokens = tok - timeout;
	return true;
}

static void count_out(struct tn_stack *s, uint8_t type)
{
	tn_stat_inc(s, TN_IcmpOutMsgs);
	switch (type) {
	case TN_ICMP_DEST_UNREACH: tn_stat_inc(s, TN_IcmpOutDestUnreachs); break;
	case TN_ICMP_TIME_EXCEEDED: tn_stat_inc(s, TN_IcmpOutTimeExcds); break;
	case TN_ICMP_PARAMETERPROB: tn_stat_inc(s, TN_IcmpOutParmProbs); break;
	case TN_ICMP_ECHO: tn_stat_inc(s, TN_IcmpOutEchos); break;
	case TN_ICMP_ECHOREPLY: tn_stat_inc(s, TN_IcmpOutEchoReps); break;
	default: break;
	}
}

/* The rules of RFC 1122 3.2.2 / RFC 1812 4.3.2.7 for when no error may be
 * sent.  h is the offending packet's header. */
static bool error_allowed(struct tn_stack *s, const struct tn_pkt *orig, const struct tn_ipv4_hdr *h)
{
	if (orig->flags & (TN_PKT_L2_BCAST | TN_PKT_L2_MCAST))
		return false;
	if (tn_ip_is_multicast(h->dst) || tn_addr_is_bcast(s, h->dst, 0))
		return false;
	if (h->frag_off & TN_IP_OFFMASK)
		return false;
	if (h->src == 0 || tn_ip_is_loopback(h->src) || tn_ip_is_lbcast(h->src) ||
	    tn_ip_is_multicast(h->src) || tn_ip_is_class_e(h->src) || tn_addr_is_bcast(s, h->src, 0))
		return false;
	if (h->proto == TN_IPPROTO_ICMP) {
		uint8_t inner_type;
		if (tn_pkt_copy_out(orig, h->ihl, &inner_type, 1) < 0)
			return false;
		/* Unknown types count as errors too (Linux: type > NR_ICMP_TYPES). */
		if (tn_icmp_is_error(inner_type) || inner_type > 18)
			return false;
	}
	return true;
}

static bool rate_allowed(struct tn_stack *s, uint8_t type, uint32_t dst)
{
	if (type > 31 || !((1u << type) & (unsigned)s->sysctl.icmp_ratemask))
		return true;
	if (!global_allow(s)) {
		tn_stat_inc(s, TN_IcmpOutRateLimitGlobal);
		return false;
	}
	if (!host_allow(s, dst)) {
		tn_stat_inc(s, TN_IcmpOutRateLimitHost);
		return false;
	}
	return true;
}

void tn_icmp_send_error(struct tn_stack *s, const struct tn_pkt *orig, uint8_t type, uint8_t code,
			uint32_t info)
{
	struct tn_ipv4_hdr h;
	uint8_t hdr[TN_IPV4_MAX_HLEN];
	uint32_t hl = orig->pkt_len < TN_IPV4_MAX_HLEN ? orig->pkt_len : TN_IPV4_MAX_HLEN;
	if (tn_pkt_copy_out(orig, 0, hdr, hl) < 0 || tn_ipv4_parse(hdr, orig->pkt_len, &h) < 0)
		return;
	if (!error_allowed(s, orig, &h) || !rate_allowed(s, type, h.src))
		return;
	struct tn_pkt *p = tn_pkt_alloc(s->pool);
	if (!p) {
		tn_stat_inc(s, TN_TernExtNoBufs);
		tn_stat_inc(s, TN_IcmpOutErrors);
		return;
	}
	/* Quote as much of the offending datagram as fits in 576 bytes. */
	uint32_t quote = ICMP_ERR_MAX_LEN - TN_IPV4_HLEN - TN_ICMP_HLEN;
	if (quote > orig->pkt_len)
		quote = orig->pkt_len;
	uint8_t *m = tn_pkt_put(p, TN_ICMP_HLEN + quote);
	struct tn_icmp_hdr ih = {.type = type, .code = code};
	if (type == TN_ICMP_DEST_UNREACH && code == TN_ICMP_FRAG_NEEDED)
		ih.rest = info & 0xffff;
	else if (type == TN_ICMP_PARAMETERPROB)
		ih.rest = info << 24;
	tn_icmp_emit(&ih, m, TN_ICMP_HLEN);
	tn_pkt_copy_out(orig, 0, m + TN_ICMP_HLEN, quote);
	tn_put16(m + 2, tn_csum(m, TN_ICMP_HLEN + quote));
	/* Reply from the address the packet was sent to when it was ours;
	 * otherwise let routing choose (icmp_errors_use_inbound_ifaddr=0). */
	struct tn_ip_out o = {
		.src = tn_addr_is_local(s, h.dst) ? h.dst : 0, .dst = h.src,
		.proto = TN_IPPROTO_ICMP, .tos = (uint8_t)((h.tos & 0x1e) | 0xc0),
	};
	count_out(s, type);
	if (tn_ip_output(s, p, &o) < 0)
		tn_stat_inc(s, TN_IcmpOutErrors);
}

/* Echo request: turn the message round in place (type 8 -> 0) and send it
 * back; works on chains from reassembly too. */
static void icmp_echo(struct tn_stack *s, struct tn_pkt *pkt)
{
	struct tn_ip_cb *cb = tn_ip_cb(pkt);
	if (s->sysctl.icmp_echo_ignore_all ||
	    (cb->route_type == TN_RT_BROADCAST && s->sysctl.icmp_echo_ignore_broadcasts)) {
		tn_pkt_free(pkt);
		return;
	}
	uint8_t *m = pkt->data;
	uint16_t old = tn_get16(m);
	m[0] = TN_ICMP_ECHOREPLY;
	tn_put16(m + 2, tn_csum_update16(tn_get16(m + 2), old, tn_get16(m)));
	struct tn_ip_out o = {
		.src = cb->route_type == TN_RT_BROADCAST ? 0 : cb->dst, .dst = cb->src,
		.proto = TN_IPPROTO_ICMP, .tos = cb->tos, .df = 0,
	};
	count_out(s, TN_ICMP_ECHOREPLY);
	pkt->flags = 0;
	if (tn_ip_output(s, pkt, &o) < 0)
		tn_stat_inc(s, TN_IcmpOutErrors);
}

static int icmp_errno(uint8_t type, uint8_t code)
{
	if (type == TN_ICMP_TIME_EXCEEDED)
		return EHOSTUNREACH;
	if (type == TN_ICMP_PARAMETERPROB)
		return EPROTO;
	switch (code) {
	case TN_ICMP_NET_UNREACH: return ENETUNREACH;
	case TN_ICMP_PROT_UNREACH: return ENOPROTOOPT;
	case TN_ICMP_PORT_UNREACH: return ECONNREFUSED;
	case TN_ICMP_FRAG_NEEDED: return EMSGSIZE;
	default: return EHOSTUNREACH;
	}
}

/* An error about a datagram we sent: find the inner header and tell the
 * socket; learn the path MTU from "fragmentation needed". */
static void icmp_error_input(struct tn_stack *s, struct tn_pkt *pkt, const struct tn_icmp_hdr *ih)
{
	uint8_t inner[TN_IPV4_MAX_HLEN + 8];
	uint32_t avail = pkt->pkt_len - TN_ICMP_HLEN;
	uint32_t n = avail < sizeof(inner) ? avail : (uint32_t)sizeof(inner);
	struct tn_ipv4_hdr h;
	if (tn_pkt_copy_out(pkt, TN_ICMP_HLEN, inner, n) < 0 ||
	    tn_ipv4_parse_quoted(inner, n, &h) < 0 || (uint32_t)h.ihl + 8 > n) {
		tn_drop(s, pkt, TN_IcmpInErrors);
		return;
	}
	uint32_t ihl = h.ihl;
	uint32_t src = h.src, dst = h.dst;
	uint8_t proto = h.proto;
	if (ih->type == TN_ICMP_DEST_UNREACH && ih->code == TN_ICMP_FRAG_NEEDED) {
		uint32_t mtu = ih->rest & 0xffff;
		if (mtu < (uint32_t)s->sysctl.route_min_pmtu)
			mtu = (uint32_t)s->sysctl.route_min_pmtu;
		if (!s->sysctl.ip_no_pmtu_disc)
			tn_pmtu_update(&s->routes, dst, mtu,
				       s->now + (uint64_t)s->sysctl.route_mtu_expires * NS_PER_SEC);
	}
	uint16_t sport = tn_get16(inner + ihl), dport = tn_get16(inner + ihl + 2);
	uint16_t seq = 0;
	if (proto == TN_IPPROTO_ICMP) { /* our echo request: id and seq */
		sport = tn_get16(inner + ihl + 4);
		seq = tn_get16(inner + ihl + 6);
	}
	tn_sock_icmp_error(s, proto, src, dst, sport, dport, icmp_errno(ih->type, ih->code),
			   tn_ip_cb(pkt)->src, ih->type, ih->code, seq);
	tn_pkt_free(pkt);
}

void tn_icmp_input(struct tn_stack *s, struct tn_pkt *pkt)
{
	tn_stat_inc(s, TN_IcmpInMsgs);
	struct tn_icmp_hdr ih;
	if (tn_pkt_may_pull(pkt, TN_ICMP_HLEN) < 0 || tn_icmp_parse(pkt->data, pkt->len, &ih) < 0) {
		tn_drop(s, pkt, TN_IcmpInErrors);
		return;
	}
	if (tn_csum_fold(tn_csum_pkt(pkt, 0, pkt->pkt_len, 0)) != 0) {
		tn_stat_inc(s, TN_IcmpInCsumErrors);
		tn_drop(s, pkt, TN_IcmpInErrors);
		return;
	}
	switch (ih.type) {
	case TN_ICMP_ECHO:
		tn_stat_inc(s, TN_IcmpInEchos);
		icmp_echo(s, pkt);
		return;
	case TN_ICMP_ECHOREPLY:
		tn_stat_inc(s, TN_IcmpInEchoReps);
		if (!tn_ping_deliver(s, pkt, (uint16_t)(ih.rest >> 16)))
			tn_drop(s, pkt, TN_TernExtPingSockNoMatch);
		return;
	case TN_ICMP_DEST_UNREACH:
		tn_stat_inc(s, TN_IcmpInDestUnreachs);
		break;
	case TN_ICMP_TIME_EXCEEDED:
		tn_stat_inc(s, TN_IcmpInTimeExcds);
		break;
	case TN_ICMP_PARAMETERPROB:
		tn_stat_inc(s, TN_IcmpInParmProbs);
		break;
	case TN_ICMP_REDIRECT:
		/* Redirects are not acted on: hosts here have static routes. */
		tn_stat_inc(s, TN_IcmpInRedirects);
		tn_pkt_free(pkt);
		return;
	default:
		tn_pkt_free(pkt);
		return;
	}
	if (tn_ip_cb(pkt)->route_type == TN_RT_BROADCAST && s->sysctl.icmp_ignore_bogus_error_responses) {
		tn_pkt_free(pkt);
		return;
	}
	icmp_error_input(s, pkt, &ih);
}
