/* TCP header and options (RFC 9293, RFC 7323 window scale and timestamps,
 * RFC 2018 SACK, RFC 6994/7413 fast-open cookie). */
#ifndef TN_WIRE_TCP_H
#define TN_WIRE_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TN_TCP_HLEN 20
#define TN_TCP_MAX_HLEN 60

#define TN_TCP_FIN 0x001
#define TN_TCP_SYN 0x002
#define TN_TCP_RST 0x004
#define TN_TCP_PSH 0x008
#define TN_TCP_ACK 0x010
#define TN_TCP_URG 0x020
#define TN_TCP_ECE 0x040
#define TN_TCP_CWR 0x080
#define TN_TCP_AE 0x100 /* the former NS bit */

#define TN_TCPOPT_EOL 0
#define TN_TCPOPT_NOP 1
#define TN_TCPOPT_MSS 2
#define TN_TCPOPT_WSCALE 3
#define TN_TCPOPT_SACK_PERM 4
#define TN_TCPOPT_SACK 5
#define TN_TCPOPT_TIMESTAMP 8
#define TN_TCPOPT_FASTOPEN 34
#define TN_TCP_MAX_SACK 4
#define TN_TCP_MAX_COOKIE 16

struct tn_tcp_sack_block {
	uint32_t start, end;
};

struct tn_tcp_opts {
	bool has_mss, has_wscale, sack_ok, has_ts, has_cookie;
	bool bad;                /* parsing stopped at a malformed option */
	uint16_t mss;
	uint8_t wscale;
	uint32_t tsval, tsecr;
	uint8_t nsack;
	struct tn_tcp_sack_block sack[TN_TCP_MAX_SACK];
	uint8_t cookie_len;      /* 0 with has_cookie: a cookie request */
	uint8_t cookie[TN_TCP_MAX_COOKIE];
};

struct tn_tcp_hdr {
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t doff;            /* header length in bytes (20..60) */
	uint16_t flags;
	uint16_t win;
	uint16_t check;
	uint16_t urg;
	struct tn_tcp_opts opt;
};

/* Checks the data offset against len and walks the options with every
 * length checked; a malformed option ends option parsing (opt.bad set),
 * as Linux's tcp_parse_options does, rather than failing the segment.
 * Returns doff or a negative TN_WIRE_E* reason. */
int tn_tcp_parse(const uint8_t *p, size_t len, struct tn_tcp_hdr *out);
/* Writes the header and the options present in h->opt (NOP-aligned as
 * Linux lays them out), with check as given; returns the header length
 * or 0 if cap is too small or the options do not fit in 40 bytes. */
size_t tn_tcp_emit(const struct tn_tcp_hdr *h, uint8_t *p, size_t cap);
/* Bytes the options of h would take (a multiple of 4). */
size_t tn_tcp_opts_len(const struct tn_tcp_opts *o);

#endif
