/* GSO and GRO for IPv4/TCP (net/gso.c): segmentation of a large segment
 * laid out as TCP builds it (no copy) and as a device delivers it (copied),
 * rejection of malformed input, GRO merging of one flow's consecutive
 * segments and every reason not to merge, flow order, the flow table
 * overflowing, and the GRO -> GSO round trip byte for byte.  Every test
 * checks that the mempool is back where it started. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdint.h>
#include <string.h>

#include "core/pkt.h"
#include "net/gso.h"
#include "wire/csum.h"
#include "wire/tcp.h"
#include "wire/wire.h"

#define SRC 0xc6120001u /* 198.18.0.1 */
#define DST 0xc6120002u /* 198.18.0.2 */
#define POOL 512u
#define MAXOUT 256

/* One TCP/IPv4 segment, its header fields and payload: payload byte i is
 * pat(patoff + i, sport). */
struct spec {
	bool eth;          /* an Ethernet header in front of the IP header */
	uint16_t sport;    /* the flow (dport is fixed) */
	uint16_t id, frag_off;
	uint8_t tos, ttl, ipoptlen; /* ipoptlen: bytes of NOP options */
	uint32_t seq, ack;
	uint16_t flags, win;
	bool ts;
	uint32_t tsval, tsecr;
	uint32_t paylen, patoff;
	bool bad_csum;     /* flip the TCP checksum */
};

static uint8_t pat(uint32_t i, uint16_t sport) { return (uint8_t)(i * 131u + (i >> 8) * 7u + sport); }

static struct spec base_spec(void)
{
	return (struct spec){.sport = 40000, .id = 0x1234, .frag_off = TN_IP_DF, .ttl = 64,
			     .seq = 0xfffff000u, .ack = 0x0a0b0c0d, .flags = TN_TCP_ACK, .win = 501,
			     .ts = true, .tsval = 777, .tsecr = 555};
}

static uint32_t l2_len(const struct spec *s) { return s->eth ? TN_ETH_HLEN : 0; }
static uint32_t ip_len(const struct spec *s) { return 20u + s->ipoptlen; }
static uint32_t tcp_len(const struct spec *s) { return 20u + (s->ts ? 12u : 0u); }
static uint32_t hdr_len(const struct spec *s) { return l2_len(s) + ip_len(s) + tcp_len(s); }

/* Write the headers of s (TCP checksum 0) at b; returns their length. */
static uint32_t emit_headers(const struct spec *s, uint8_t *b)
{
	uint32_t off = 0;
	if (s->eth) {
		struct tn_eth_hdr e = {.dst = {2, 0, 0, 0, 0, 2}, .src = {2, 0, 0, 0, 0, 1},
				       .type = TN_ETHERTYPE_IPV4};
		off += (uint32_t)tn_eth_emit(&e, b, TN_ETH_HLEN);
	}
	struct tn_ipv4_hdr ip = {.tos = s->tos, .tot_len = (uint16_t)(ip_len(s) + tcp_len(s) + s->paylen),
				 .id = s->id, .frag_off = s->frag_off, .ttl = s->ttl,
				 .proto = TN_IPPROTO_TCP, .src = SRC, .dst = DST,
				 .optlen = s->ipoptlen};
	memset(ip.opts, TN_IPOPT_NOP, sizeof(ip.opts));
	assert_int_equal(tn_ipv4_emit(&ip, b + off, TN_IPV4_MAX_HLEN), ip_len(s));
	off += ip_len(s);
	struct tn_tcp_hdr t = {.sport = s->sport, .dport = 80, .seq = s->seq, .ack = s->ack,
			       .flags = s->flags, .win = s->win};
	t.opt.has_ts = s->ts;
	t.opt.tsval = s->tsval;
	t.opt.tsecr = s->tsecr;
	assert_int_equal(tn_tcp_emit(&t, b + off, TN_TCP_MAX_HLEN), tcp_len(s));
	return off + tcp_len(s);
}

/* The whole segment as bytes, TCP checksum filled in (or wrong). */
static uint32_t seg_bytes(const struct spec *s, uint8_t *b)
{
	uint32_t h = emit_headers(s, b);
	for (uint32_t i = 0; i < s->paylen; i++)
		b[h + i] = pat(s->patoff + i, s->sport);
	uint32_t l4 = l2_len(s) + ip_len(s), n = tcp_len(s) + s->paylen;
	uint16_t c = tn_csum_fold(tn_csum_partial(b + l4, n, tn_csum_pseudo4(SRC, DST, TN_IPPROTO_TCP, n)));
	if (s->bad_csum)
		c ^= 0x0101;
	tn_put16(b + l4 + 16, c);
	return h + s->paylen;
}

/* A single-buffer segment with data at its first header, l3_off set. */
static struct tn_pkt *make_seg(struct tn_mempool *mp, const struct spec *s)
{
	uint8_t b[TN_PKT_DATAROOM];
	uint32_t n = seg_bytes(s, b);
	struct tn_pkt *p = tn_pkt_from_bytes(mp, b, n);
	assert_non_null(p);
	p->l3_off = (uint16_t)(tn_pkt_off(p, p->data) + l2_len(s));
	return p;
}

/* The large segment laid out as tcp_out.c builds it: headers and the first
 * gso_size payload bytes in the head, one buffer per further segment. */
static struct tn_pkt *make_large_aligned(struct tn_mempool *mp, const struct spec *s, uint16_t gso)
{
	struct tn_pkt *p = tn_pkt_alloc(mp);
	assert_non_null(p);
	uint32_t first = s->paylen < gso ? s->paylen : gso;
	uint8_t *d = tn_pkt_put(p, hdr_len(s) + first);
	assert_non_null(d);
	emit_headers(s, d);
	for (uint32_t i = 0; i < first; i++)
		d[hdr_len(s) + i] = pat(s->patoff + i, s->sport);
	struct tn_pkt *last = p;
	uint16_t segs = 1;
	for (uint32_t off = first; off < s->paylen; off += gso, segs++) {
		uint32_t n = s->paylen - off < gso ? s->paylen - off : gso;
		struct tn_pkt *e = tn_pkt_alloc(mp);
		assert_non_null(e);
		uint8_t *ed = tn_pkt_put(e, n);
		for (uint32_t i = 0; i < n; i++)
			ed[i] = pat(s->patoff + off + i, s->sport);
		last->next = e;
		last = e;
		p->pkt_len += n;
	}
	p->gso_size = gso;
	p->gso_segs = segs;
	p->flags |= TN_PKT_CSUM_PARTIAL;
	p->l3_off = (uint16_t)(tn_pkt_off(p, p->data) + l2_len(s));
	return p;
}

/* The same bytes as a device delivers them: chunk-byte buffers. */
static struct tn_pkt *make_large_device(struct tn_mempool *mp, const struct spec *s, uint16_t gso,
					uint32_t chunk)
{
	static uint8_t b[70000];
	uint32_t h = emit_headers(s, b);
	for (uint32_t i = 0; i < s->paylen; i++)
		b[h + i] = pat(s->patoff + i, s->sport);
	uint32_t total = h + s->paylen;
	struct tn_pkt *p = NULL;
	for (uint32_t off = 0; off < total; off += chunk) {
		uint32_t n = total - off < chunk ? total - off : chunk;
		struct tn_pkt *e = tn_pkt_from_bytes(mp, b + off, n);
		assert_non_null(e);
		if (p)
			tn_pkt_chain(p, e);
		else
			p = e;
	}
	p->gso_size = gso;
	p->gso_segs = (uint16_t)((s->paylen + gso - 1) / gso);
	p->flags |= TN_PKT_CSUM_PARTIAL;
	p->l3_off = (uint16_t)(tn_pkt_off(p, p->data) + l2_len(s));
	return p;
}

static int nbufs(const struct tn_pkt *p)
{
	int n = 0;
	for (; p; p = p->next)
		n++;
	return n;
}

/* Does the TCP checksum of single-buffer segment p (IP header at l3_off)
 * verify? */
static bool tcp_csum_ok(const struct tn_pkt *p)
{
	const uint8_t *ip = p->buf + p->l3_off;
	uint32_t ihl = (uint32_t)(ip[0] & 0xf) * 4, tot = tn_get16(ip + 2);
	uint32_t l4 = (uint32_t)(ip - p->data) + ihl;
	uint32_t sum = tn_csum_pseudo4(tn_get32(ip + 12), tn_get32(ip + 16), TN_IPPROTO_TCP, tot - ihl);
	return tn_csum_fold(tn_csum_pkt(p, l4, tot - ihl, sum)) == 0;
}

/* Check the segments GSO made of large segment `s` (gso bytes each). */
static void check_segments(struct tn_pkt *list, const struct spec *s, uint16_t gso)
{
	uint32_t n = (s->paylen + gso - 1) / gso, i = 0;
	uint32_t l2 = l2_len(s), hl = hdr_len(s);
	uint8_t ref[TN_PKT_DATAROOM];
	for (struct tn_pkt *q = list; q; q = q->qnext, i++) {
		assert_true(i < n);
		uint32_t len = i + 1 < n ? gso : s->paylen - i * gso;
		assert_null(q->next);
		assert_int_equal(q->len, hl + len);
		assert_int_equal(q->pkt_len, hl + len);
		assert_int_equal(q->gso_size, 0);
		assert_int_equal(q->gso_segs, 0);
		assert_true(q->flags & TN_PKT_CSUM_PARTIAL);
		assert_ptr_equal(q->buf + q->l3_off, q->data + l2);
		const uint8_t *ip = q->data + l2, *tcp = ip + ip_len(s);
		struct tn_ipv4_hdr h;
		assert_int_equal(tn_ipv4_parse(ip, q->len - l2, &h), (int)ip_len(s)); /* checksum too */
		assert_int_equal(h.tot_len, ip_len(s) + tcp_len(s) + len);
		assert_int_equal(h.id, (uint16_t)(s->id + i));
		assert_int_equal(h.frag_off, s->frag_off);
		struct tn_tcp_hdr t;
		assert_int_equal(tn_tcp_parse(tcp, tcp_len(s) + len, &t), (int)tcp_len(s));
		assert_int_equal(t.seq, s->seq + i * gso);
		uint16_t want = s->flags;
		if (i + 1 < n)
			want &= (uint16_t)~(TN_TCP_PSH | TN_TCP_FIN);
		if (i > 0)
			want &= (uint16_t)~TN_TCP_CWR;
		assert_int_equal(t.flags, want);
		assert_int_equal(t.ack, s->ack);
		assert_int_equal(t.win, s->win);
		assert_int_equal(t.opt.has_ts, s->ts);
		if (s->ts) {
			assert_int_equal(t.opt.tsval, s->tsval);
			assert_int_equal(t.opt.tsecr, s->tsecr);
		}
		for (uint32_t k = 0; k < len; k++)
			assert_int_equal(tcp[tcp_len(s) + k], pat(s->patoff + i * gso + k, s->sport));
		/* The whole segment, as it would have been built on its own. */
		struct spec one = *s;
		one.seq = s->seq + i * gso;
		one.id = (uint16_t)(s->id + i);
		one.flags = want;
		one.paylen = len;
		one.patoff = s->patoff + i * gso;
		uint32_t rn = seg_bytes(&one, ref);
		tn_csum_finish(q);
		assert_false(q->flags & TN_PKT_CSUM_PARTIAL);
		assert_true(tcp_csum_ok(q));
		assert_int_equal(rn, q->len);
		assert_memory_equal(q->data, ref, rn);
	}
	assert_int_equal(i, n);
}

static void gso_case(const struct spec *s, uint16_t gso, bool aligned, uint32_t chunk)
{
	struct tn_mempool *mp = tn_mempool_new(POOL);
	assert_non_null(mp);
	struct tn_pkt *p = aligned ? make_large_aligned(mp, s, gso) : make_large_device(mp, s, gso, chunk);
	uint32_t before = tn_mempool_in_use(mp);
	struct tn_pkt *list = tn_gso_segment(mp, p);
	assert_non_null(list);
	if (aligned) /* zero copy: the same buffers */
		assert_int_equal(tn_mempool_in_use(mp), before);
	check_segments(list, s, gso);
	tn_pkt_free_queue(list);
	assert_int_equal(tn_mempool_in_use(mp), 0);
	tn_mempool_free(mp);
}

static struct spec large_spec(void)
{
	struct spec s = base_spec();
	s.eth = true;
	s.flags = TN_TCP_ACK | TN_TCP_PSH | TN_TCP_CWR;
	s.paylen = 4500;
	s.patoff = 3;
	return s;
}

static void test_gso_aligned(void **state)
{
	(void)state;
	struct spec s = large_spec();
	gso_case(&s, 1000, true, 0);
	s.flags |= TN_TCP_FIN;
	gso_case(&s, 1000, true, 0);
	s.paylen = 4000; /* a full last segment */
	s.id = 0xfffe;   /* id wraps */
	gso_case(&s, 1000, true, 0);
	s.paylen = 1000; /* one segment */
	gso_case(&s, 1000, true, 0);
	s.paylen = 64 * 1000; /* many */
	s.flags = TN_TCP_ACK;
	gso_case(&s, 1000, true, 0);
}

static void test_gso_copy(void **state)
{
	(void)state;
	struct spec s = large_spec();
	gso_case(&s, 1000, false, TN_PKT_DATAROOM);
	s.flags |= TN_TCP_FIN;
	gso_case(&s, 1000, false, TN_PKT_DATAROOM);
	s.paylen = 60000;
	gso_case(&s, 1448, false, TN_PKT_DATAROOM);
	/* headers split over buffers, odd boundaries */
	s.paylen = 5001;
	gso_case(&s, 1000, false, 37);
	gso_case(&s, 999, false, 1001);
}

static void test_gso_l3(void **state)
{
	(void)state;
	struct spec s = large_spec();
	s.eth = false;
	gso_case(&s, 1000, true, 0);
	gso_case(&s, 1000, false, TN_PKT_DATAROOM);
	s.ipoptlen = 8; /* IP options repeated in every segment */
	gso_case(&s, 1000, true, 0);
	gso_case(&s, 1000, false, 700);
	s.ts = false;
	s.ipoptlen = 0;
	gso_case(&s, 1460, true, 0);
}

/* Malformed large segments are freed and NULL returned. */
static void test_gso_rejects(void **state)
{
	(void)state;
	struct tn_mempool *mp = tn_mempool_new(POOL);
	assert_non_null(mp);
	struct spec s = large_spec();
	for (int c = 0; c < 8; c++) {
		for (int aligned = 0; aligned < 2; aligned++) {
			struct tn_pkt *p = aligned ? make_large_aligned(mp, &s, 1000)
						   : make_large_device(mp, &s, 1000, TN_PKT_DATAROOM);
			uint8_t *ip = p->buf + p->l3_off;
			switch (c) {
			case 0:
				p->gso_size = 0;
				break;
			case 1:
				ip[9] = TN_IPPROTO_UDP;
				break;
			case 2:
				ip[0] = 0x65; /* version 6 */
				break;
			case 3: /* pkt_len longer than tot_len says */
				tn_put16(ip + 2, (uint16_t)(tn_get16(ip + 2) - 1));
				break;
			case 4:
				tn_put16(ip + 2, (uint16_t)(tn_get16(ip + 2) + 1));
				break;
			case 5: /* TCP doff 4 */
				ip[20 + 12] = (uint8_t)(4 << 4 | (ip[20 + 12] & 0xf));
				break;
			case 6: /* IHL 4 */
				ip[0] = 0x44;
				break;
			case 7: /* no payload at all */
				tn_put16(ip + 2, 20 + 32);
				tn_pkt_trim(p, 14 + 20 + 32);
				break;
			}
			assert_null(tn_gso_segment(mp, p));
			assert_int_equal(tn_mempool_in_use(mp), 0);
		}
	}
	tn_mempool_free(mp);
}

/* ---- GRO ---- */

struct outq {
	struct tn_pkt *p[MAXOUT];
	int n;
};

static void drain(struct tn_pkt_queue *q, struct outq *o)
{
	struct tn_pkt *p;
	while ((p = tn_pktq_pop(q, 0))) {
		assert_true(o->n < MAXOUT);
		o->p[o->n++] = p;
	}
}

static uint32_t seq_of(const struct tn_pkt *p) { return tn_get32(p->data + 20 + 4); }
static uint16_t sport_of(const struct tn_pkt *p) { return tn_get16(p->data + 20); }
static uint16_t segs_of(const struct tn_pkt *p) { return TN_PKT_SEGS(p); }

static void free_out(struct outq *o)
{
	for (int i = 0; i < o->n; i++)
		tn_pkt_free(o->p[i]);
	o->n = 0;
}

/* Feed n segments to GRO, flushing at the end; `o` gets what came out,
 * `immediate` how many came out of tn_gro_receive before the flush. */
static int run_gro(struct tn_pkt **in, int n, struct outq *o)
{
	struct tn_gro g;
	memset(&g, 0, sizeof(g));
	struct tn_pkt_queue q;
	tn_pktq_init(&q);
	o->n = 0;
	for (int i = 0; i < n; i++) {
		tn_gro_receive(&g, in[i], &q);
		drain(&q, o);
	}
	int immediate = o->n;
	tn_gro_flush(&g, &q);
	assert_int_equal(g.n, 0);
	drain(&q, o);
	return immediate;
}

/* Consecutive segments of one flow, `len` bytes each. */
static void flow_specs(struct spec *sp, int n, uint16_t sport, uint32_t len)
{
	for (int i = 0; i < n; i++) {
		sp[i] = base_spec();
		sp[i].sport = sport;
		sp[i].seq = base_spec().seq + (uint32_t)i * len;
		sp[i].id = (uint16_t)(base_spec().id + i);
		sp[i].paylen = len;
		sp[i].patoff = (uint32_t)i * len;
	}
}

static void test_gro_merge_roundtrip(void **state)
{
	(void)state;
	struct tn_mempool *mp = tn_mempool_new(POOL);
	assert_non_null(mp);
	enum { N = 10, LEN = 1448 };
	struct spec sp[N];
	flow_specs(sp, N, 40000, LEN);
	sp[N - 1].paylen = 100; /* a short last one still merges */
	struct tn_pkt *in[N];
	for (int i = 0; i < N; i++)
		in[i] = make_seg(mp, &sp[i]);
	struct outq o;
	assert_int_equal(run_gro(in, N, &o), 0);
	assert_int_equal(o.n, 1);
	struct tn_pkt *m = o.p[0];
	uint32_t payload = (N - 1) * LEN + 100;
	assert_int_equal(m->gso_segs, N);
	assert_int_equal(m->gso_size, LEN);
	assert_true(m->flags & TN_PKT_CSUM_PARTIAL);
	assert_int_equal(nbufs(m), N);
	assert_int_equal(m->pkt_len, 52 + payload);
	assert_ptr_equal(m->buf + m->l3_off, m->data);
	struct tn_ipv4_hdr h;
	assert_int_equal(tn_ipv4_parse(m->data, m->pkt_len, &h), 20); /* header checksum too */
	assert_int_equal(h.tot_len, 52 + payload);
	static uint8_t b[N * LEN];
	assert_int_equal(tn_pkt_copy_out(m, 52, b, payload), 0);
	for (uint32_t i = 0; i < payload; i++)
		assert_int_equal(b[i], pat(i, 40000));
	/* and back */
	struct tn_pkt *list = tn_gso_segment(mp, m);
	assert_non_null(list);
	assert_int_equal(tn_mempool_in_use(mp), N);
	int i = 0;
	uint8_t ref[TN_PKT_DATAROOM];
	for (struct tn_pkt *q = list; q; q = q->qnext, i++) {
		assert_true(i < N);
		tn_csum_finish(q);
		uint32_t rn = seg_bytes(&sp[i], ref);
		assert_int_equal(q->len, rn);
		assert_memory_equal(q->data, ref, rn);
	}
	assert_int_equal(i, N);
	tn_pkt_free_queue(list);
	assert_int_equal(tn_mempool_in_use(mp), 0);
	tn_mempool_free(mp);
}

/* The ways segment 3 of 6 can fail to continue segments 0-2. */
enum nomerge {
	NM_GAP, NM_ACK, NM_WIN, NM_TSVAL, NM_TSECR, NM_SYN, NM_FIN, NM_RST, NM_URG, NM_ECE,
	NM_CWR, NM_LARGER, NM_BADCSUM, NM_IPOPT, NM_MF, NM_FRAGOFF, NM_TOS, NM_TTL, NM_DF,
	NM_NOPAYLOAD, NM_COUNT
};

static void test_gro_no_merge(void **state)
{
	(void)state;
	struct tn_mempool *mp = tn_mempool_new(POOL);
	assert_non_null(mp);
	enum { N = 6, K = 3, LEN = 1000 };
	for (int c = 0; c < NM_COUNT; c++) {
		struct spec sp[N];
		flow_specs(sp, N, 40000, LEN);
		struct spec *s = &sp[K];
		/* after a gap, 4 and 5 continue 3 */
		bool startover = true; /* 3 can start a new large segment */
		switch (c) {
		case NM_GAP:
			for (int i = K; i < N; i++)
				sp[i].seq += 1;
			break;
		case NM_ACK:
			for (int i = K; i < N; i++)
				sp[i].ack += 1;
			break;
		case NM_WIN:
			for (int i = K; i < N; i++)
				sp[i].win += 1;
			break;
		case NM_TSVAL:
			for (int i = K; i < N; i++)
				sp[i].tsval += 1;
			break;
		case NM_TSECR:
			for (int i = K; i < N; i++)
				sp[i].tsecr += 1;
			break;
		case NM_SYN:
			s->flags |= TN_TCP_SYN;
			startover = false;
			break;
		case NM_FIN:
			s->flags |= TN_TCP_FIN;
			startover = false;
			break;
		case NM_RST:
			s->flags |= TN_TCP_RST;
			startover = false;
			break;
		case NM_URG:
			s->flags |= TN_TCP_URG;
			startover = false;
			break;
		case NM_ECE:
			s->flags |= TN_TCP_ECE;
			startover = false;
			break;
		case NM_CWR:
			s->flags |= TN_TCP_CWR;
			startover = false;
			break;
		case NM_LARGER: /* 3 larger than the first: 3, 4, 5 from a new start */
			for (int i = K; i < N; i++) {
				sp[i].paylen = LEN + 1;
				sp[i].seq = sp[0].seq + K * LEN + (uint32_t)(i - K) * (LEN + 1);
				sp[i].patoff = K * LEN + (uint32_t)(i - K) * (LEN + 1);
			}
			break;
		case NM_BADCSUM:
			s->bad_csum = true;
			startover = false;
			break;
		case NM_IPOPT:
			s->ipoptlen = 4;
			startover = false;
			break;
		case NM_MF:
			s->frag_off = TN_IP_MF;
			startover = false;
			break;
		case NM_FRAGOFF:
			s->frag_off = TN_IP_DF | 1;
			startover = false;
			break;
		case NM_TOS:
			for (int i = K; i < N; i++)
				sp[i].tos = 3; /* CE */
			break;
		case NM_TTL:
			for (int i = K; i < N; i++)
				sp[i].ttl = 63;
			break;
		case NM_DF:
			for (int i = K; i < N; i++)
				sp[i].frag_off = 0;
			break;
		case NM_NOPAYLOAD:
			s->paylen = 0;
			for (int i = K + 1; i < N; i++) {
				sp[i].seq -= LEN;
				sp[i].patoff -= LEN;
			}
			startover = false;
			break;
		}
		struct tn_pkt *in[N];
		for (int i = 0; i < N; i++)
			in[i] = make_seg(mp, &sp[i]);
		struct tn_pkt *odd = in[K];
		struct outq o;
		run_gro(in, N, &o);
		/* 0-2 merged, then 3 (alone, or starting 3-5), then 4-5 */
		int want = startover ? 2 : 3;
		assert_int_equal(o.n, want);
		assert_int_equal(segs_of(o.p[0]), K);
		assert_int_equal(seq_of(o.p[0]), sp[0].seq);
		if (startover) {
			assert_int_equal(segs_of(o.p[1]), N - K);
			assert_int_equal(seq_of(o.p[1]), sp[K].seq);
		} else {
			assert_ptr_equal(o.p[1], odd); /* as it was */
			assert_int_equal(o.p[1]->gso_size, 0);
			assert_null(o.p[1]->next);
			assert_int_equal(segs_of(o.p[2]), N - K - 1);
			assert_int_equal(seq_of(o.p[2]), sp[K + 1].seq);
		}
		if (c == NM_BADCSUM)
			assert_false(odd->flags & TN_PKT_CSUM_OK);
		int bufs = 0;
		for (int i = 0; i < o.n; i++)
			bufs += nbufs(o.p[i]);
		assert_int_equal(bufs, N);
		free_out(&o);
		assert_int_equal(tn_mempool_in_use(mp), 0);
	}
	tn_mempool_free(mp);
}

/* A reserved bit is a difference a receiver can tell apart, as Linux's
 * inet_gro_receive (any frag_off bit but DF flushes) and tcp_gro_receive
 * (the whole flag word but CWR/FIN/PSH compared) treat it: a segment with
 * the IP reserved flag (0x8000), or a TCP reserved bit, is not merged into
 * one without it, and a GRO -> GSO round trip never changes it. */
static void gro_reserved_case(struct tn_mempool *mp, int c)
{
	enum { N = 4, LEN = 1000 };
	{
		struct spec sp[N];
		flow_specs(sp, N, 40000, LEN);
		struct tn_pkt *in[N];
		uint8_t orig[N][TN_PKT_DATAROOM];
		uint32_t olen[N];
		for (int i = 0; i < N; i++) {
			in[i] = make_seg(mp, &sp[i]);
			if (i == 2) {
				if (c == 0) { /* IP reserved flag: header checksum made afresh */
					in[i]->data[6] |= 0x80;
					in[i]->data[10] = in[i]->data[11] = 0;
					tn_put16(in[i]->data + 10, tn_csum(in[i]->data, 20));
				} else { /* TCP reserved bit: checksum adjusted */
					uint8_t *t = in[i]->data + 20;
					uint16_t old = tn_get16(t + 12);
					t[12] |= 0x2;
					tn_put16(t + 16, tn_csum_update16(tn_get16(t + 16), old, tn_get16(t + 12)));
				}
			}
			olen[i] = in[i]->len;
			memcpy(orig[i], in[i]->data, olen[i]);
		}
		struct outq o;
		run_gro(in, N, &o);
		/* whatever was merged, cutting it up again gives back the originals */
		int k = 0;
		for (int j = 0; j < o.n; j++) {
			struct tn_pkt *list = o.p[j];
			if (list->gso_size)
				list = tn_gso_segment(mp, list);
			for (struct tn_pkt *q = list; q; q = q->qnext, k++) {
				assert_true(k < N);
				tn_csum_finish(q);
				assert_int_equal(q->len, olen[k]);
				assert_memory_equal(q->data, orig[k], olen[k]);
			}
			tn_pkt_free_queue(list);
		}
		assert_int_equal(k, N);
		assert_int_equal(tn_mempool_in_use(mp), 0);
	}
}

/* A pool the teardown frees even when an assertion fails midway. */
static int pool_setup(void **state)
{
	*state = tn_mempool_new(POOL);
	return *state ? 0 : -1;
}

static int pool_teardown(void **state)
{
	tn_mempool_free(*state);
	return 0;
}

static void test_gro_ip_reserved_flag(void **state)
{
	gro_reserved_case(*state, 0);
}

static void test_gro_tcp_reserved_bits(void **state)
{
	gro_reserved_case(*state, 1);
}

static void test_gro_psh(void **state)
{
	(void)state;
	struct tn_mempool *mp = tn_mempool_new(POOL);
	assert_non_null(mp);
	enum { N = 6, LEN = 1000 };
	struct spec sp[N];
	flow_specs(sp, N, 40000, LEN);
	sp[3].flags |= TN_TCP_PSH;
	struct tn_gro g;
	memset(&g, 0, sizeof(g));
	struct tn_pkt_queue q;
	tn_pktq_init(&q);
	struct outq o = {.n = 0};
	for (int i = 0; i < 4; i++) {
		tn_gro_receive(&g, make_seg(mp, &sp[i]), &q);
		drain(&q, &o);
		assert_int_equal(o.n, i < 3 ? 0 : 1); /* out at once with the PSH */
	}
	assert_int_equal(g.n, 0);
	assert_int_equal(segs_of(o.p[0]), 4);
	assert_true(o.p[0]->data[20 + 13] & TN_TCP_PSH);
	for (int i = 4; i < N; i++) {
		tn_gro_receive(&g, make_seg(mp, &sp[i]), &q);
		drain(&q, &o);
	}
	assert_int_equal(o.n, 1);
	tn_gro_flush(&g, &q);
	drain(&q, &o);
	assert_int_equal(o.n, 2);
	assert_int_equal(segs_of(o.p[1]), 2);
	assert_int_equal(seq_of(o.p[1]), sp[4].seq);
	free_out(&o);
	/* a PSH segment with nothing held goes up at once, alone */
	tn_gro_receive(&g, make_seg(mp, &sp[3]), &q);
	drain(&q, &o);
	assert_int_equal(o.n, 1);
	assert_int_equal(g.n, 0);
	assert_int_equal(o.p[0]->gso_size, 0);
	free_out(&o);
	assert_int_equal(tn_mempool_in_use(mp), 0);
	tn_mempool_free(mp);
}

static void test_gro_two_flows(void **state)
{
	(void)state;
	struct tn_mempool *mp = tn_mempool_new(POOL);
	assert_non_null(mp);
	enum { N = 3, LEN = 1200 };
	struct spec a[N], b[N];
	flow_specs(a, N, 40000, LEN);
	flow_specs(b, N, 40001, LEN);
	struct tn_pkt *in[2 * N];
	for (int i = 0; i < N; i++) {
		in[2 * i] = make_seg(mp, &a[i]);
		in[2 * i + 1] = make_seg(mp, &b[i]);
	}
	struct outq o;
	assert_int_equal(run_gro(in, 2 * N, &o), 0);
	assert_int_equal(o.n, 2);
	for (int j = 0; j < 2; j++) {
		struct tn_pkt *m = o.p[j];
		assert_int_equal(m->gso_segs, N);
		assert_int_equal(m->pkt_len, 52 + N * LEN);
		uint16_t sport = sport_of(m);
		assert_true(sport == 40000 || sport == 40001);
		uint8_t buf[N * LEN];
		assert_int_equal(tn_pkt_copy_out(m, 52, buf, N * LEN), 0);
		for (uint32_t i = 0; i < N * LEN; i++)
			assert_int_equal(buf[i], pat(i, sport));
	}
	assert_int_not_equal(sport_of(o.p[0]), sport_of(o.p[1]));
	free_out(&o);
	assert_int_equal(tn_mempool_in_use(mp), 0);
	tn_mempool_free(mp);
}

/* More flows than the table holds, interleaved, and with the odd segment
 * that cannot be merged: every buffer comes out once, each flow in order. */
static void test_gro_many_flows(void **state)
{
	(void)state;
	struct tn_mempool *mp = tn_mempool_new(POOL);
	assert_non_null(mp);
	enum { F = TN_GRO_FLOWS + 5, PER = 6, LEN = 500 };
	for (int round = 0; round < 3; round++) {
		struct tn_pkt *in[F * PER];
		int n = 0;
		for (int k = 0; k < PER; k++) {
			for (int f = 0; f < F; f++) {
				/* round 0: all flows each step; 1: flow-major runs of 2;
				 * 2: some flows skip order */
				int ff = round == 1 ? (f + k / 2) % F : f;
				struct spec sp[PER];
				flow_specs(sp, PER, (uint16_t)(41000 + ff), LEN);
				struct spec s = sp[k];
				if (round == 2 && (ff + k) % 4 == 0)
					s.flags |= TN_TCP_PSH;
				if (round == 2 && (ff + k) % 7 == 0)
					s.bad_csum = true;
				in[n++] = make_seg(mp, &s);
			}
		}
		struct outq o;
		run_gro(in, n, &o);
		int bufs = 0, segs = 0;
		uint32_t next[F];
		for (int f = 0; f < F; f++)
			next[f] = base_spec().seq;
		for (int i = 0; i < o.n; i++) {
			struct tn_pkt *m = o.p[i];
			bufs += nbufs(m);
			segs += segs_of(m);
			int f = sport_of(m) - 41000;
			assert_true(f >= 0 && f < F);
			assert_int_equal(seq_of(m), next[f]); /* per-flow order */
			next[f] += (uint32_t)segs_of(m) * LEN;
		}
		assert_int_equal(bufs, n);
		assert_int_equal(segs, n);
		for (int f = 0; f < F; f++)
			assert_int_equal(next[f], base_spec().seq + PER * LEN);
		free_out(&o);
		assert_int_equal(tn_mempool_in_use(mp), 0);
	}
	tn_mempool_free(mp);
}

/* Non-TCP packets and packets GRO cannot parse pass through, in order with
 * their flow, and nothing is held for them. */
static void test_gro_passthrough(void **state)
{
	(void)state;
	struct tn_mempool *mp = tn_mempool_new(POOL);
	assert_non_null(mp);
	enum { LEN = 800 };
	struct spec sp[4];
	flow_specs(sp, 4, 40000, LEN);
	struct tn_pkt *in[6];
	in[0] = make_seg(mp, &sp[0]);
	in[1] = make_seg(mp, &sp[1]);
	uint8_t junk[10] = {0x45, 1, 2, 3};
	in[2] = tn_pkt_from_bytes(mp, junk, sizeof(junk)); /* truncated */
	assert_non_null(in[2]);
	in[3] = make_seg(mp, &sp[2]);
	in[4] = make_seg(mp, &sp[3]);
	/* a chained segment of the flow (not a candidate): releases the held one */
	struct spec c = sp[3];
	c.seq += LEN;
	c.patoff += LEN;
	in[5] = make_large_device(mp, &c, LEN, 100);
	in[5]->gso_size = 0;
	in[5]->gso_segs = 0;
	in[5]->flags = 0;
	struct outq o;
	run_gro(in, 6, &o);
	assert_int_equal(o.n, 3);
	assert_ptr_equal(o.p[0], in[2]);
	assert_int_equal(segs_of(o.p[1]), 4);
	assert_ptr_equal(o.p[2], in[5]);
	free_out(&o);
	assert_int_equal(tn_mempool_in_use(mp), 0);
	tn_mempool_free(mp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gso_aligned),
		cmocka_unit_test(test_gso_copy),
		cmocka_unit_test(test_gso_l3),
		cmocka_unit_test(test_gso_rejects),
		cmocka_unit_test(test_gro_merge_roundtrip),
		cmocka_unit_test(test_gro_no_merge),
		cmocka_unit_test_setup_teardown(test_gro_ip_reserved_flag, pool_setup, pool_teardown),
		cmocka_unit_test_setup_teardown(test_gro_tcp_reserved_bits, pool_setup, pool_teardown),
		cmocka_unit_test(test_gro_psh),
		cmocka_unit_test(test_gro_two_flows),
		cmocka_unit_test(test_gro_many_flows),
		cmocka_unit_test(test_gro_passthrough),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
