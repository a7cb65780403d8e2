#include "wire/wire.h"

#include <string.h>

#include "wire/csum.h"

int tn_eth_parse(const uint8_t *p, size_t len, struct tn_eth_hdr *out)
{
	if (len < TN_ETH_HLEN)
		return TN_WIRE_ETRUNC;
	memcpy(out->dst, p, TN_ETH_ALEN);
	memcpy(out->src, p + 6, TN_ETH_ALEN);
	out->type = tn_get16(p + 12);
	if (out->type < 0x0600) /* an 802.3 length, not an EtherType */
		return TN_WIRE_EFORMAT;
	return TN_ETH_HLEN;
}

size_t tn_eth_emit(const struct tn_eth_hdr *h, uint8_t *p, size_t cap)
{
	if (cap < TN_ETH_HLEN)
		return 0;
	memcpy(p, h->dst, TN_ETH_ALEN);
	memcpy(p + 6, h->src, TN_ETH_ALEN);
	tn_put16(p + 12, h->type);
	return TN_ETH_HLEN;
}

int tn_arp_parse(const uint8_t *p, size_t len, struct tn_arp_hdr *out)
{
	if (len < TN_ARP_LEN)
		return TN_WIRE_ETRUNC;
	if (tn_get16(p) != 1 || tn_get16(p + 2) != TN_ETHERTYPE_IPV4 || p[4] != 6 || p[5] != 4)
		return TN_WIRE_EFORMAT;
	out->op = tn_get16(p + 6);
	memcpy(out->sha, p + 8, 6);
	out->spa = tn_get32(p + 14);
	memcpy(out->tha, p + 18, 6);
	out->tpa = tn_get32(p + 24);
	return TN_ARP_LEN;
}

size_t tn_arp_emit(const struct tn_arp_hdr *h, uint8_t *p, size_t cap)
{
	if (cap < TN_ARP_LEN)
		return 0;
	tn_put16(p, 1);
	tn_put16(p + 2, TN_ETHERTYPE_IPV4);
	p[4] = 6;
	p[5] = 4;
	tn_put16(p + 6, h->op);
	memcpy(p + 8, h->sha, 6);
	tn_put32(p + 14, h->spa);
	memcpy(p + 18, h->tha, 6);
	tn_put32(p + 24, h->tpa);
	return TN_ARP_LEN;
}

/* Walk the option TLVs; every length byte is checked against the space
 * left before it is used. */
static int ipv4_check_options(const uint8_t *o, size_t n, bool *srcroute)
{
	size_t i = 0;
	*srcroute = false;
	while (i < n) {
		uint8_t type = o[i];
		if (type == TN_IPOPT_END)
			break;
		if (type == TN_IPOPT_NOP) {
			i++;
			continue;
		}
		if (i + 1 >= n)
			return TN_WIRE_EOPTIONS;
		uint8_t olen = o[i + 1];
		if (olen < 2 || olen > n - i)
			return TN_WIRE_EOPTIONS;
		if (type == TN_IPOPT_LSRR || type == TN_IPOPT_SSRR)
			*srcroute = true;
		i += olen;
	}
	return 0;
}

/* The fixed fields and options; the caller has checked ihl <= length. */
static void ipv4_read_fields(const uint8_t *p, uint8_t ihl, struct tn_ipv4_hdr *out)
{
	out->ihl = ihl;
	out->tos = p[1];
	out->tot_len = tn_get16(p + 2);
	out->id = tn_get16(p + 4);
	out->frag_off = tn_get16(p + 6);
	out->ttl = p[8];
	out->proto = p[9];
	out->check = tn_get16(p + 10);
	out->src = tn_get32(p + 12);
	out->dst = tn_get32(p + 16);
	out->optlen = (uint8_t)(ihl - TN_IPV4_HLEN);
	memcpy(out->opts, p + TN_IPV4_HLEN, out->optlen);
}

int tn_ipv4_parse(const uint8_t *p, size_t len, struct tn_ipv4_hdr *out)
{
	if (len < TN_IPV4_HLEN)
		return TN_WIRE_ETRUNC;
	if ((p[0] >> 4) != 4)
		return TN_WIRE_EVERSION;
	uint8_t ihl = (uint8_t)((p[0] & 0x0f) * 4);
	if (ihl < TN_IPV4_HLEN)
		return TN_WIRE_EHDRLEN;
	if (ihl > len)
		return TN_WIRE_ETRUNC;
	ipv4_read_fields(p, ihl, out);
	if (out->tot_len < ihl)
		return TN_WIRE_ELEN;
	if (out->tot_len > len)
		return TN_WIRE_ETRUNC;
	if (tn_csum(p, ihl) != 0)
		return TN_WIRE_ECSUM;
	if (ipv4_check_options(out->opts, out->optlen, &out->has_srcroute) < 0)
		return TN_WIRE_EOPTIONS;
	return ihl;
}

size_t tn_ipv4_emit(const struct tn_ipv4_hdr *h, uint8_t *p, size_t cap)
{
	size_t ihl = TN_IPV4_HLEN + ((h->optlen + 3u) & ~3u);
	if (ihl > TN_IPV4_MAX_HLEN || cap < ihl)
		return 0;
	p[0] = (uint8_t)(0x40 | (ihl / 4));
	p[1] = h->tos;
	tn_put16(p + 2, h->tot_len);
	tn_put16(p + 4, h->id);
	tn_put16(p + 6, h->frag_off);
	p[8] = h->ttl;
	p[9] = h->proto;
	tn_put16(p + 10, 0);
	tn_put32(p + 12, h->src);
	tn_put32(p + 16, h->dst);
	memcpy(p + TN_IPV4_HLEN, h->opts, h->optlen);
	memset(p + TN_IPV4_HLEN + h->optlen, TN_IPOPT_END, ihl - TN_IPV4_HLEN - h->optlen);
	tn_put16(p + 10, tn_csum(p, ihl));
	return ihl;
}

void tn_ipv4_opts_for_fragment(uint8_t *o, uint8_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t type = o[i];
		if (type == TN_IPOPT_END)
			break;
		if (type == TN_IPOPT_NOP || i + 1 >= n) {
			i++;
			continue;
		}
		uint8_t olen = o[i + 1];
		if (olen < 2 || olen > n - i)
			olen = (uint8_t)(n - i);
		if (!TN_IPOPT_COPIED(type))
			memset(o + i, TN_IPOPT_NOP, olen);
		i += olen;
	}
}

int tn_icmp_parse(const uint8_t *p, size_t len, struct tn_icmp_hdr *out)
{
	if (len < TN_ICMP_HLEN)
		return TN_WIRE_ETRUNC;
	out->type = p[0];
	out->code = p[1];
	out->check = tn_get16(p + 2);
	out->rest = tn_get32(p + 4);
	return TN_ICMP_HLEN;
}

size_t tn_icmp_emit(const struct tn_icmp_hdr *h, uint8_t *p, size_t cap)
{
	if (cap < TN_ICMP_HLEN)
		return 0;
	p[0] = h->type;
	p[1] = h->code;
	tn_put16(p + 2, h->check);
	tn_put32(p + 4, h->rest);
	return TN_ICMP_HLEN;
}

int tn_udp_parse(const uint8_t *p, size_t len, struct tn_udp_hdr *out)
{
	if (len < TN_UDP_HLEN)
		return TN_WIRE_ETRUNC;
	out->sport = tn_get16(p);
	out->dport = tn_get16(p + 2);
	out->len = tn_get16(p + 4);
	out->check = tn_get16(p + 6);
	if (out->len < TN_UDP_HLEN || out->len > len)
		return TN_WIRE_ELEN;
	return TN_UDP_HLEN;
}

size_t tn_udp_emit(const struct tn_udp_hdr *h, uint8_t *p, size_t cap)
{
	if (cap < TN_UDP_HLEN)
		return 0;
	tn_put16(p, h->sport);
	tn_put16(p + 2, h->dport);
	tn_put16(p + 4, h->len);
	tn_put16(p + 6, h->check);
	return TN_UDP_HLEN;
}

int tn_ipv4_parse_quoted(const uint8_t *p, size_t len, struct tn_ipv4_hdr *out)
{
	if (len < TN_IPV4_HLEN)
		return TN_WIRE_ETRUNC;
	if ((p[0] >> 4) != 4)
		return TN_WIRE_EVERSION;
	uint8_t ihl = (uint8_t)((p[0] & 0x0f) * 4);
	if (ihl < TN_IPV4_HLEN)
		return TN_WIRE_EHDRLEN;
	if (ihl > len)
		return TN_WIRE_ETRUNC;
	ipv4_read_fields(p, ihl, out);
	out->has_srcroute = false;
	return ihl;
}
