#include "wire/tcp.h"

#include <string.h>

#include "wire/wire.h"

static void parse_option(uint8_t kind, const uint8_t *v, uint8_t olen, struct tn_tcp_opts *o)
{
	switch (kind) {
	case TN_TCPOPT_MSS:
		if (olen == 4) {
			o->has_mss = true;
			o->mss = tn_get16(v);
		}
		break;
	case TN_TCPOPT_WSCALE:
		if (olen == 3) {
			o->has_wscale = true;
			o->wscale = v[0] > 14 ? 14 : v[0]; /* RFC 7323 2.3: treat > 14 as 14 */
		}
		break;
	case TN_TCPOPT_SACK_PERM:
		if (olen == 2)
			o->sack_ok = true;
		break;
	case TN_TCPOPT_TIMESTAMP:
		if (olen == 10) {
			o->has_ts = true;
			o->tsval = tn_get32(v);
			o->tsecr = tn_get32(v + 4);
		}
		break;
	case TN_TCPOPT_SACK:
		if (olen >= 10 && (olen - 2) % 8 == 0) {
			uint8_t n = (uint8_t)((olen - 2) / 8);
			o->nsack = n > TN_TCP_MAX_SACK ? TN_TCP_MAX_SACK : n;
			for (uint8_t i = 0; i < o->nsack; i++) {
				o->sack[i].start = tn_get32(v + 8 * i);
				o->sack[i].end = tn_get32(v + 8 * i + 4);
			}
		}
		break;
	case TN_TCPOPT_FASTOPEN:
		if (olen == 2 || (olen >= 6 && olen <= 2 + TN_TCP_MAX_COOKIE && olen % 2 == 0)) {
			o->has_cookie = true;
			o->cookie_len = (uint8_t)(olen - 2);
			memcpy(o->cookie, v, o->cookie_len);
		}
		break;
	default:
		break; /* unknown options are skipped by length */
	}
}

static void parse_options(const uint8_t *p, size_t n, struct tn_tcp_opts *o)
{
	size_t i = 0;
	while (i < n) {
		uint8_t kind = p[i];
		if (kind == TN_TCPOPT_EOL)
			return;
		if (kind == TN_TCPOPT_NOP) {
			i++;
			continue;
		}
		if (i + 1 >= n || p[i + 1] < 2 || p[i + 1] > n - i) {
			o->bad = true;
			return;
		}
		uint8_t olen = p[i + 1];
		parse_option(kind, p + i + 2, olen, o);
		i += olen;
	}
}

int tn_tcp_parse(const uint8_t *p, size_t len, struct tn_tcp_hdr *out)
{
	if (len < TN_TCP_HLEN)
		return TN_WIRE_ETRUNC;
	uint8_t doff = (uint8_t)((p[12] >> 4) * 4);
	if (doff < TN_TCP_HLEN)
		return TN_WIRE_EHDRLEN;
	if (doff > len)
		return TN_WIRE_ETRUNC;
	memset(&out->opt, 0, sizeof(out->opt));
	out->sport = tn_get16(p);
	out->dport = tn_get16(p + 2);
	out->seq = tn_get32(p + 4);
	out->ack = tn_get32(p + 8);
	out->doff = doff;
	out->flags = (uint16_t)(((p[12] & 1) << 8) | p[13]);
	out->win = tn_get16(p + 14);
	out->check = tn_get16(p + 16);
	out->urg = tn_get16(p + 18);
	parse_options(p + TN_TCP_HLEN, doff - TN_TCP_HLEN, &out->opt);
	return doff;
}

size_t tn_tcp_opts_len(const struct tn_tcp_opts *o)
{
	size_t n = 0;
	if (o->has_mss)
		n += 4;
	if (o->has_ts)
		n += 12; /* NOP NOP TS, or SACK_PERM TS */
	else if (o->sack_ok)
		n += 4;
	if (o->has_wscale)
		n += 4;
	if (o->nsack)
		n += 4 + 8u * o->nsack;
	if (o->has_cookie)
		n += (4 + o->cookie_len + 3u) & ~3u;
	return n;
}

size_t tn_tcp_emit(const struct tn_tcp_hdr *h, uint8_t *p, size_t cap)
{
	const struct tn_tcp_opts *o = &h->opt;
	size_t olen = tn_tcp_opts_len(o);
	size_t hl = TN_TCP_HLEN + olen;
	if (olen > 40 || cap < hl || o->nsack > TN_TCP_MAX_SACK || o->cookie_len > TN_TCP_MAX_COOKIE)
		return 0;
	tn_put16(p, h->sport);
	tn_put16(p + 2, h->dport);
	tn_put32(p + 4, h->seq);
	tn_put32(p + 8, h->ack);
	p[12] = (uint8_t)((hl / 4) << 4 | ((h->flags >> 8) & 1));
	p[13] = (uint8_t)h->flags;
	tn_put16(p + 14, h->win);
	tn_put16(p + 16, h->check);
	tn_put16(p + 18, h->urg);
	uint8_t *q = p + TN_TCP_HLEN;
	if (o->has_mss) {
		q[0] = TN_TCPOPT_MSS, q[1] = 4;
		tn_put16(q + 2, o->mss);
		q += 4;
	}
	if (o->has_ts) { /* Linux's layout: SACK_PERM shares the word before TS */
		q[0] = o->sack_ok ? TN_TCPOPT_SACK_PERM : TN_TCPOPT_NOP;
		q[1] = o->sack_ok ? 2 : TN_TCPOPT_NOP;
		q[2] = TN_TCPOPT_TIMESTAMP, q[3] = 10;
		tn_put32(q + 4, o->tsval);
		tn_put32(q + 8, o->tsecr);
		q += 12;
	} else if (o->sack_ok) {
		q[0] = TN_TCPOPT_NOP, q[1] = TN_TCPOPT_NOP, q[2] = TN_TCPOPT_SACK_PERM, q[3] = 2;
		q += 4;
	}
	if (o->has_wscale) {
		q[0] = TN_TCPOPT_NOP, q[1] = TN_TCPOPT_WSCALE, q[2] = 3, q[3] = o->wscale;
		q += 4;
	}
	if (o->nsack) {
		q[0] = TN_TCPOPT_NOP, q[1] = TN_TCPOPT_NOP, q[2] = TN_TCPOPT_SACK, q[3] = (uint8_t)(2 + 8 * o->nsack);
		q += 4;
		for (uint8_t i = 0; i < o->nsack; i++, q += 8) {
			tn_put32(q, o->sack[i].start);
			tn_put32(q + 4, o->sack[i].end);
		}
	}
	if (o->has_cookie) {
		size_t pad = ((4 + o->cookie_len + 3u) & ~3u) - (2u + o->cookie_len);
		q[0] = TN_TCPOPT_FASTOPEN, q[1] = (uint8_t)(2 + o->cookie_len);
		memcpy(q + 2, o->cookie, o->cookie_len);
		memset(q + 2 + o->cookie_len, TN_TCPOPT_NOP, pad);
		q += 2 + o->cookie_len + pad;
	}
	return hl;
}
