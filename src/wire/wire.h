/* Wire formats: each header is a plain struct in host byte order with one
 * parser and one emitter.  A parser checks every length before it reads a
 * byte and returns the header length consumed, or a negative TN_WIRE_E*
 * reason.  An emitter writes the header into p (at most cap bytes) and
 * returns its length, or 0 if cap is too small.  Nothing else in tern reads
 * or writes raw header bytes. */
#ifndef TN_WIRE_H
#define TN_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tn_wire_err {
	TN_WIRE_ETRUNC = -1,    /* buffer shorter than the header says */
	TN_WIRE_EVERSION = -2,  /* wrong version field */
	TN_WIRE_EHDRLEN = -3,   /* header length field out of range */
	TN_WIRE_ELEN = -4,      /* total length field inconsistent */
	TN_WIRE_ECSUM = -5,     /* checksum mismatch */
	TN_WIRE_EFORMAT = -6,   /* some other field invalid */
	TN_WIRE_EOPTIONS = -7,  /* malformed options */
};

/* Byte-order helpers: the only place raw multi-byte fields are read. */
static inline uint16_t tn_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t tn_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void tn_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void tn_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* ---- Ethernet II (IEEE 802.3 frames with a length field are rejected) ---- */
#define TN_ETH_HLEN 14
#define TN_ETH_ALEN 6
#define TN_ETHERTYPE_IPV4 0x0800
#define TN_ETHERTYPE_ARP 0x0806
#define TN_ETHERTYPE_VLAN 0x8100
#define TN_ETHERTYPE_IPV6 0x86dd

struct tn_eth_hdr {
	uint8_t dst[TN_ETH_ALEN];
	uint8_t src[TN_ETH_ALEN];
	uint16_t type;
};
int tn_eth_parse(const uint8_t *p, size_t len, struct tn_eth_hdr *out);
size_t tn_eth_emit(const struct tn_eth_hdr *h, uint8_t *p, size_t cap);
static inline bool tn_eth_is_bcast(const uint8_t *a)
{
	return (a[0] & a[1] & a[2] & a[3] & a[4] & a[5]) == 0xff;
}
static inline bool tn_eth_is_mcast(const uint8_t *a) { return a[0] & 1; }
static inline bool tn_eth_is_zero(const uint8_t *a)
{
	return (a[0] | a[1] | a[2] | a[3] | a[4] | a[5]) == 0;
}

/* ---- ARP for IPv4 over Ethernet (RFC 826) ---- */
#define TN_ARP_LEN 28
#define TN_ARP_REQUEST 1
#define TN_ARP_REPLY 2

struct tn_arp_hdr {
	uint16_t op;
	uint8_t sha[TN_ETH_ALEN];
	uint32_t spa;
	uint8_t tha[TN_ETH_ALEN];
	uint32_t tpa;
};
/* Only htype 1 / ptype 0x0800 / hlen 6 / plen 4 is accepted (EFORMAT). */
int tn_arp_parse(const uint8_t *p, size_t len, struct tn_arp_hdr *out);
size_t tn_arp_emit(const struct tn_arp_hdr *h, uint8_t *p, size_t cap);

/* ---- IPv4 (RFC 791) ---- */
#define TN_IPV4_HLEN 20
#define TN_IPV4_MAX_HLEN 60
#define TN_IP_DF 0x4000
#define TN_IP_MF 0x2000
#define TN_IP_OFFMASK 0x1fff
#define TN_IPPROTO_ICMP 1
#define TN_IPPROTO_TCP 6
#define TN_IPPROTO_UDP 17

/* Options kinds that matter to input processing. */
#define TN_IPOPT_END 0
#define TN_IPOPT_NOP 1
#define TN_IPOPT_LSRR 131
#define TN_IPOPT_SSRR 137
#define TN_IPOPT_COPIED(t) ((t)&0x80)

struct tn_ipv4_hdr {
	uint8_t ihl;        /* header length in bytes (20..60) */
	uint8_t tos;
	uint16_t tot_len;
	uint16_t id;
	uint16_t frag_off;  /* flags (DF, MF) and offset in 8-byte units */
	uint8_t ttl;
	uint8_t proto;
	uint16_t check;     /* as received (parse) / ignored on emit */
	uint32_t src, dst;
	uint8_t optlen;     /* ihl - 20 */
	bool has_srcroute;  /* LSRR or SSRR present */
	uint8_t opts[40];
};
/* Checks version, IHL, total length against len, the header checksum and
 * the option TLV structure.  Returns ihl.  Trailing link padding beyond
 * tot_len is allowed (callers trim). */
int tn_ipv4_parse(const uint8_t *p, size_t len, struct tn_ipv4_hdr *out);
/* The header quoted inside an ICMP error: only version, IHL and the bytes
 * present are checked (routers have changed TTL and checksum, and the
 * datagram itself is cut short). */
int tn_ipv4_parse_quoted(const uint8_t *p, size_t len, struct tn_ipv4_hdr *out);
/* Writes the header with options and a fresh checksum. */
size_t tn_ipv4_emit(const struct tn_ipv4_hdr *h, uint8_t *p, size_t cap);
static inline uint16_t tn_ipv4_frag_offset(const struct tn_ipv4_hdr *h)
{
	return (uint16_t)((h->frag_off & TN_IP_OFFMASK) * 8u);
}
static inline bool tn_ipv4_is_fragment(const struct tn_ipv4_hdr *h)
{
	return (h->frag_off & (TN_IP_MF | TN_IP_OFFMASK)) != 0;
}
/* Rewrite options for a non-first fragment: options without the copied
 * flag become NOPs (as Linux's ip_options_fragment).  Borrows opts. */
void tn_ipv4_opts_for_fragment(uint8_t *opts, uint8_t optlen);

/* Address classes (host order). */
static inline bool tn_ip_is_zeronet(uint32_t a) { return (a >> 24) == 0; }
static inline bool tn_ip_is_loopback(uint32_t a) { return (a >> 24) == 127; }
static inline bool tn_ip_is_multicast(uint32_t a) { return (a >> 28) == 0xe; }
static inline bool tn_ip_is_lbcast(uint32_t a) { return a == 0xffffffffu; }
static inline bool tn_ip_is_class_e(uint32_t a) { return (a >> 28) == 0xf; }

/* ---- ICMPv4 (RFC 792) ---- */
#define TN_ICMP_HLEN 8
#define TN_ICMP_ECHOREPLY 0
#define TN_ICMP_DEST_UNREACH 3
#define TN_ICMP_SOURCE_QUENCH 4
#define TN_ICMP_REDIRECT 5
#define TN_ICMP_ECHO 8
#define TN_ICMP_TIME_EXCEEDED 11
#define TN_ICMP_PARAMETERPROB 12
#define TN_ICMP_TIMESTAMP 13
#define TN_ICMP_TIMESTAMPREPLY 14
#define TN_ICMP_NET_UNREACH 0
#define TN_ICMP_HOST_UNREACH 1
#define TN_ICMP_PROT_UNREACH 2
#define TN_ICMP_PORT_UNREACH 3
#define TN_ICMP_FRAG_NEEDED 4
#define TN_ICMP_SR_FAILED 5
#define TN_ICMP_EXC_TTL 0
#define TN_ICMP_EXC_FRAGTIME 1

struct tn_icmp_hdr {
	uint8_t type, code;
	uint16_t check;
	uint32_t rest;      /* id<<16|seq for echo; mtu for frag needed; ptr<<24 for param prob */
};
/* Header only: the checksum covers the whole message and is verified by
 * the caller with tn_csum_pkt (messages may span a chain). */
int tn_icmp_parse(const uint8_t *p, size_t len, struct tn_icmp_hdr *out);
/* Writes the header with check as given (compute over the message after). */
size_t tn_icmp_emit(const struct tn_icmp_hdr *h, uint8_t *p, size_t cap);
static inline bool tn_icmp_is_error(uint8_t type)
{
	return type == TN_ICMP_DEST_UNREACH || type == TN_ICMP_SOURCE_QUENCH ||
	       type == TN_ICMP_REDIRECT || type == TN_ICMP_TIME_EXCEEDED ||
	       type == TN_ICMP_PARAMETERPROB;
}

/* ---- UDP (RFC 768) ---- */
#define TN_UDP_HLEN 8
struct tn_udp_hdr {
	uint16_t sport, dport;
	uint16_t len;       /* header + payload */
	uint16_t check;
};
/* Checks 8 <= len field <= available bytes.  Checksum by the caller. */
int tn_udp_parse(const uint8_t *p, size_t len, struct tn_udp_hdr *out);
size_t tn_udp_emit(const struct tn_udp_hdr *h, uint8_t *p, size_t cap);

#endif
