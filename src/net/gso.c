/* GSO and GRO for IPv4/TCP (see gso.h). */
#include "net/gso.h"

#include <string.h>

#include "wire/csum.h"
#include "wire/tcp.h"
#include "wire/wire.h"

#define IP_DF 0x4000u
#define IP_NOT_DF 0xbfffu /* the reserved flag, MF and the offset */

/* Where the headers of a large segment are, checked against its bytes. */
struct gso_layout {
	uint32_t l2;       /* bytes before the IP header (Ethernet, or 0) */
	uint32_t ihl, thl; /* IP and TCP header lengths */
	uint32_t hlen;     /* l2 + ihl + thl: what every segment repeats */
	uint32_t payload;  /* TCP payload bytes in all */
	uint32_t seq;
	uint16_t id;
};

static int gso_parse(struct tn_pkt *p, struct gso_layout *L)
{
	uint8_t *l3 = p->buf + p->l3_off;
	if (l3 < p->data || l3 > p->data + p->len)
		return -1;
	L->l2 = (uint32_t)(l3 - p->data);
	if (tn_pkt_may_pull(p, L->l2 + 20) < 0)
		return -1;
	const uint8_t *ip = p->data + L->l2;
	L->ihl = (uint32_t)(ip[0] & 0xf) * 4;
	if ((ip[0] >> 4) != 4 || L->ihl < 20 || ip[9] != TN_IPPROTO_TCP)
		return -1;
	if (tn_pkt_may_pull(p, L->l2 + L->ihl + 20) < 0)
		return -1;
	ip = p->data + L->l2;
	L->thl = (uint32_t)(ip[L->ihl + 12] >> 4) * 4;
	L->hlen = L->l2 + L->ihl + L->thl;
	uint32_t tot = tn_get16(ip + 2);
	if (L->thl < 20 || tn_pkt_may_pull(p, L->hlen) < 0 || tot < L->ihl + L->thl ||
	    L->l2 + tot != p->pkt_len)
		return -1;
	ip = p->data + L->l2;
	L->payload = tot - L->ihl - L->thl;
	L->seq = tn_get32(ip + L->ihl + 4);
	L->id = tn_get16(ip + 4);
	return 0;
}

/* Make segment i (of n, `len` payload bytes, headers at seg->data) what
 * it would have been had it been sent on its own. */
static void fix_segment(struct tn_pkt *seg, const struct tn_pkt *orig, const struct gso_layout *L,
			uint32_t i, uint32_t n, uint32_t len)
{
	uint8_t *ip = seg->data + L->l2, *tcp = ip + L->ihl;
	tn_put16(ip + 2, (uint16_t)(L->ihl + L->thl + len));
	tn_put16(ip + 4, (uint16_t)(L->id + i));
	ip[10] = ip[11] = 0;
	tn_put16(ip + 10, tn_csum(ip, L->ihl));
	tn_put32(tcp + 4, L->seq + i * orig->gso_size);
	if (i + 1 < n)
		tcp[13] &= (uint8_t)~(TN_TCP_PSH | TN_TCP_FIN);
	if (i > 0)
		tcp[13] &= (uint8_t)~TN_TCP_CWR;
	seg->flags = orig->flags | TN_PKT_CSUM_PARTIAL;
	seg->ifindex = orig->ifindex;
	seg->mark = orig->mark;
	seg->tstamp = orig->tstamp;
	seg->l2_off = tn_pkt_off(seg, seg->data);
	seg->l3_off = (uint16_t)(seg->l2_off + L->l2);
	seg->l4_off = (uint16_t)(seg->l3_off + L->ihl);
	seg->gso_size = seg->gso_segs = 0;
	seg->pkt_len = seg->len;
}

/* The payload laid out one segment per buffer, with room in front of
 * each for the headers (GRO'd or older layouts)? */
static bool one_segment_per_buffer(const struct tn_pkt *p, const struct gso_layout *L)
{
	if (p->refcnt != 1 || p->len != L->hlen + (L->payload < p->gso_size ? L->payload : p->gso_size))
		return false;
	for (const struct tn_pkt *e = p->next; e; e = e->next)
		if (e->refcnt != 1 || e->len == 0 || e->len > p->gso_size ||
		    (e->next && e->len != p->gso_size) || tn_pkt_headroom(e) < L->hlen)
			return false;
	return true;
}

static struct tn_pkt *segment_in_place(struct tn_pkt *p, const struct gso_layout *L, uint32_t n)
{
	struct tn_pkt *e = p->next;
	p->next = NULL;
	struct tn_pkt *list = p, *last = p;
	for (uint32_t i = 1; e; i++) {
		struct tn_pkt *next = e->next;
		e->next = NULL;
		memcpy(tn_pkt_push(e, L->hlen), p->data, L->hlen);
		fix_segment(e, p, L, i, n, e->len - L->hlen);
		last->qnext = e;
		last = e;
		e = next;
	}
	last->qnext = NULL;
	fix_segment(p, p, L, 0, n, p->len - L->hlen); /* last: the others copied its header */
	return list;
}

/* TCP's layout (tcp_out.c's add_payload): the head holds the headers
 * alone, the payload follows in buffers that may be external (pointing
 * into the send buffer, read-only) and never cross an MSS boundary. */
static bool headers_then_payload(const struct tn_pkt *p, const struct gso_layout *L)
{
	if (p->refcnt != 1 || p->len != L->hlen || !p->next)
		return false;
	uint32_t in_mss = 0;
	for (const struct tn_pkt *e = p->next; e; e = e->next) {
		if (e->refcnt != 1 || e->len == 0 || in_mss + e->len > p->gso_size)
			return false;
		in_mss = (in_mss + e->len) % p->gso_size;
	}
	return true;
}

/* Move the buffers holding the next `len` payload bytes from *rest onto
 * seg's chain (headers alone so far). */
static void take_payload(struct tn_pkt *seg, struct tn_pkt **rest, uint32_t len)
{
	struct tn_pkt *last = seg;
	while (len) {
		struct tn_pkt *e = *rest;
		*rest = e->next;
		e->next = NULL;
		last->next = e;
		last = e;
		len -= e->len;
	}
}

/* Each segment after the first gets a buffer of its own for the headers,
 * chained in front of its payload buffers: no payload is copied, and the
 * send buffer's bytes are never written. */
static struct tn_pkt *segment_with_headers(struct tn_mempool *mp, struct tn_pkt *p, const struct gso_layout *L,
					   uint32_t n)
{
	struct tn_pkt *rest = p->next, *list = NULL, **tailp = &list;
	p->next = NULL;
	uint32_t first = L->payload < p->gso_size ? L->payload : p->gso_size;
	take_payload(p, &rest, first);
	for (uint32_t i = 1; i < n; i++) {
		uint32_t off = i * p->gso_size, len = L->payload - off < p->gso_size ? L->payload - off : p->gso_size;
		struct tn_pkt *seg = tn_pkt_alloc(mp);
		uint8_t *d = seg ? tn_pkt_put(seg, L->hlen) : NULL;
		if (!d) {
			tn_pkt_free(seg);
			tn_pkt_free_queue(list);
			tn_pkt_free(rest);
			tn_pkt_free(p);
			return NULL;
		}
		memcpy(d, p->data, L->hlen);
		fix_segment(seg, p, L, i, n, len);
		seg->pkt_len = L->hlen + len;
		take_payload(seg, &rest, len);
		*tailp = seg;
		tailp = &seg->qnext;
	}
	fix_segment(p, p, L, 0, n, first); /* last: the others copied its header */
	p->pkt_len = L->hlen + first;
	p->qnext = list;
	return p;
}

static struct tn_pkt *segment_by_copy(struct tn_mempool *mp, struct tn_pkt *p, const struct gso_layout *L,
				      uint32_t n)
{
	struct tn_pkt *list = NULL, **tailp = &list;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t off = i * p->gso_size, len = L->payload - off;
		if (len > p->gso_size)
			len = p->gso_size;
		struct tn_pkt *seg = tn_pkt_alloc(mp);
		uint8_t *d = seg ? tn_pkt_put(seg, L->hlen + len) : NULL;
		if (!d) {
			if (seg)
				tn_pkt_free(seg);
			tn_pkt_free_queue(list);
			tn_pkt_free(p);
			return NULL;
		}
		tn_pkt_copy_out(p, 0, d, L->hlen);
		tn_pkt_copy_out(p, L->hlen + off, d + L->hlen, len);
		fix_segment(seg, p, L, i, n, len);
		*tailp = seg;
		tailp = &seg->qnext;
	}
	tn_pkt_free(p);
	return list;
}

struct tn_pkt *tn_gso_segment(struct tn_mempool *mp, struct tn_pkt *p)
{
	struct gso_layout L;
	if (!p->gso_size || gso_parse(p, &L) < 0 || L.payload == 0) {
		tn_pkt_free(p);
		return NULL;
	}
	uint32_t n = (L.payload + p->gso_size - 1) / p->gso_size;
	if (headers_then_payload(p, &L))
		return segment_with_headers(mp, p, &L, n);
	if (one_segment_per_buffer(p, &L))
		return segment_in_place(p, &L, n);
	if (L.hlen + p->gso_size > TN_PKT_DATAROOM) {
		tn_pkt_free(p);
		return NULL;
	}
	return segment_by_copy(mp, p, &L, n);
}

/* ---- GRO ---- */

struct gro_seg {
	uint8_t *ip, *tcp;
	uint32_t thl, tot, payload, seq;
};

/* A plain data segment GRO may hold or merge: IPv4 without options or
 * fragmentation, TCP with payload, ACK and at most PSH, in one buffer,
 * checksum right. */
static bool gro_candidate(struct tn_pkt *p, struct gro_seg *g)
{
	struct tn_ipv4_hdr h;
	/* Cheap tests first: most packets that are not TCP data go no further. */
	if (p->next || p->gso_size || p->len < 40 || p->data[0] != 0x45 || p->data[9] != TN_IPPROTO_TCP)
		return false;
	if (tn_ipv4_parse(p->data, p->len, &h) < 0 || h.ihl != 20 ||
	    h.proto != TN_IPPROTO_TCP || (h.frag_off & IP_NOT_DF) || h.tot_len < 40)
		return false;
	g->ip = p->data;
	g->tcp = p->data + 20;
	g->tot = h.tot_len;
	g->thl = (uint32_t)(g->tcp[12] >> 4) * 4;
	/* The reserved bits and AE too: a merged packet cut up again could
	 * not give each segment back its own. */
	if (g->thl < 20 || 20 + g->thl >= g->tot || (g->tcp[12] & 0x0f) ||
	    (g->tcp[13] & (uint8_t)~TN_TCP_PSH) != TN_TCP_ACK)
		return false;
	g->payload = g->tot - 20 - g->thl;
	g->seq = tn_get32(g->tcp + 4);
	if (!(p->flags & (TN_PKT_CSUM_PARTIAL | TN_PKT_CSUM_OK))) {
		uint32_t src = tn_get32(g->ip + 12), dst = tn_get32(g->ip + 16);
		uint32_t sum = tn_csum_pseudo4(src, dst, TN_IPPROTO_TCP, g->tot - 20);
		if (tn_csum_fold(tn_csum_partial(g->tcp, g->tot - 20, sum)) != 0)
			return false; /* TCP input counts it */
		p->flags |= TN_PKT_CSUM_OK;
	}
	tn_pkt_trim(p, g->tot); /* link-layer padding */
	return true;
}

/* Is packet b (any IPv4 packet, `len` bytes) of held packet h's flow? */
static bool same_flow(const uint8_t *h_ip, const uint8_t *b, uint32_t len)
{
	uint32_t ihl = (uint32_t)(b[0] & 0xf) * 4;
	return len >= 20 && ihl >= 20 && len >= ihl + 4 && b[9] == TN_IPPROTO_TCP &&
	       memcmp(h_ip + 12, b + 12, 8) == 0 && memcmp(h_ip + 20, b + ihl, 4) == 0;
}

/* Does `s` continue held packet h exactly, as one more segment? */
static bool continues(const struct tn_pkt *h, const struct gro_seg *s)
{
	const uint8_t *ip = h->data, *tcp = ip + 20;
	uint32_t thl = (uint32_t)(tcp[12] >> 4) * 4, tot = tn_get16(ip + 2);
	uint32_t held = tot - 20 - thl;
	return thl == s->thl && tn_get32(tcp + 4) + held == s->seq && !(tcp[13] & TN_TCP_PSH) &&
	       held == (uint32_t)h->gso_size * h->gso_segs && s->payload <= h->gso_size &&
	       tot + s->payload <= TN_GSO_MAX_BYTES && h->gso_segs < TN_GSO_MAX_SEGS &&
	       ip[1] == s->ip[1] && ip[8] == s->ip[8] && (ip[6] & 0x40) == (s->ip[6] & 0x40) &&
	       /* without DF the IDs must count up, as GSO will number them */
	       ((ip[6] & 0x40) || tn_get16(s->ip + 4) == (uint16_t)(tn_get16(ip + 4) + h->gso_segs)) &&
	       memcmp(tcp + 8, s->tcp + 8, 4) == 0 && memcmp(tcp + 14, s->tcp + 14, 2) == 0 &&
	       memcmp(tcp + 20, s->tcp + 20, thl - 20) == 0;
}

static void finish_held(struct tn_pkt *h)
{
	uint8_t *ip = h->data;
	ip[10] = ip[11] = 0;
	tn_put16(ip + 10, tn_csum(ip, 20));
	if (h->gso_segs == 1)
		h->gso_size = h->gso_segs = 0; /* nothing was merged: an ordinary packet */
	else /* verified; if it leaves again, its checksum is made afresh (tcp_gro_complete) */
		h->flags |= TN_PKT_CSUM_PARTIAL;
}

static void release(struct tn_gro *g, unsigned i, struct tn_pkt_queue *out)
{
	struct tn_pkt *h = g->held[i];
	finish_held(h);
	tn_pktq_push(out, h, 0);
	g->n--;
	g->held[i] = g->held[g->n];
	g->tail[i] = g->tail[g->n];
}

static void hold(struct tn_gro *g, struct tn_pkt *p, const struct gro_seg *s, struct tn_pkt_queue *out)
{
	if (g->n == TN_GRO_FLOWS)
		release(g, 0, out);
	p->gso_size = (uint16_t)s->payload;
	p->gso_segs = 1;
	g->held[g->n] = p;
	g->tail[g->n] = p;
	g->n++;
}

static void merge(struct tn_gro *g, unsigned i, struct tn_pkt *p, const struct gro_seg *s)
{
	struct tn_pkt *h = g->held[i];
	uint8_t *ip = h->data, *tcp = ip + 20;
	tcp[13] |= s->tcp[13] & TN_TCP_PSH;
	tn_put16(ip + 2, (uint16_t)(tn_get16(ip + 2) + s->payload));
	tn_pkt_pull(p, 20 + s->thl);
	p->pkt_len = p->len;
	g->tail[i]->next = p;
	g->tail[i] = p;
	h->pkt_len += p->len;
	h->gso_segs++;
}

void tn_gro_receive(struct tn_gro *g, struct tn_pkt *p, struct tn_pkt_queue *out)
{
	struct gro_seg s = {0};
	bool cand = gro_candidate(p, &s);
	for (unsigned i = 0; i < g->n; i++) {
		if (!same_flow(g->held[i]->data, p->data, p->len))
			continue;
		if (cand && continues(g->held[i], &s)) {
			merge(g, i, p, &s);
			if (s.tcp[13] & TN_TCP_PSH) /* the sender's push: up it goes */
				release(g, i, out);
			return;
		}
		release(g, i, out); /* the flow's order is kept */
		break;
	}
	if (cand && !(s.tcp[13] & TN_TCP_PSH))
		hold(g, p, &s, out);
	else
		tn_pktq_push(out, p, 0);
}

void tn_gro_flush(struct tn_gro *g, struct tn_pkt_queue *out)
{
	for (unsigned i = 0; i < g->n; i++) {
		finish_held(g->held[i]);
		tn_pktq_push(out, g->held[i], 0);
	}
	g->n = 0;
}
