/* libFuzzer target: GRO (tn_gro_receive, tn_gro_flush) and GSO
 * (tn_gso_segment) on up to 16 packets from the input.
 *
 * Input: records of
 *   f  (1 byte)  bit 0 TN_PKT_CSUM_PARTIAL, bit 1 set gso_size, bit 2 fix
 *                the IP header checksum, bit 3 set IP tot_len to the
 *                length, bit 4 split the packet into a chain at `a`,
 *                bit 5 straight to GSO (not through GRO), bit 6 fix the
 *                TCP checksum, bit 7 TN_PKT_CSUM_OK
 *   a  (1 byte)  split point (scaled to the length); for straight-to-GSO
 *                packets also the L2 length: l3_off = data + (a & 63) - 8
 *   g  (2 bytes) gso_size when bit 1
 *   n  (2 bytes) length, then n bytes of packet
 *
 * Checked, against a reference written from gso.h rather than gso.c:
 *  - GRO: every input buffer comes out exactly once; merged segments count
 *    as many inputs as they stand for; a merged packet's chain is the
 *    merged inputs in order, its IP length and header checksum right, its
 *    payload theirs in order; an unmerged packet keeps its bytes (a held
 *    one may be trimmed to its IP length, its header checksum redone);
 *    packets of one flow come out in the order they went in.
 *  - GSO: NULL exactly when the packet is not well-formed IPv4/TCP with
 *    payload and gso_size (or, only then, a segment would not fit a
 *    buffer); otherwise ceil(payload / gso_size) segments, each the
 *    headers with its own length, id, checksum, sequence number and flags,
 *    and its slice of the payload, whose TCP checksum verifies after
 *    tn_csum_finish.  A GRO-merged packet is cut back in place into the
 *    very segments that were merged, byte for byte (but for the fields
 *    GRO does not compare: IP id, TCP urgent pointer, and the reserved
 *    bits tests/unit/test_gso.c shows it wrongly merges across).
 *  - No buffer is leaked. */
#include <stdlib.h>
#include <string.h>

#include "core/pkt.h"
#include "net/gso.h"
#include "wire/csum.h"
#include "wire/tcp.h"
#include "wire/wire.h"

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXPKT 16
#define MAXBUF 8
#define MAXLEN 8192u
#define POOL 12000u

enum {
	F_PARTIAL = 1, F_GSO = 2, F_IPCSUM = 4, F_TOTLEN = 8, F_SPLIT = 16, F_DIRECT = 32,
	F_TCPCSUM = 64, F_OK = 128,
};

struct input {
	struct tn_pkt *head;
	struct tn_pkt *buf[MAXBUF];
	int nbuf;
	uint32_t len; /* bytes */
	uint8_t bytes[MAXLEN];
	bool seen[MAXBUF];
};

static struct tn_mempool *pool;
static struct input in[MAXPKT];
static uint8_t flat[MAXLEN], segbuf[TN_PKT_BUFSIZE];

/* ---- a reference for what GSO accepts ---- */

struct ref {
	uint32_t l2, ihl, thl, hlen, tot, payload;
};

/* Well-formed as gso.h asks: IPv4/TCP at l2 (l2 within the first buffer),
 * header lengths in range, IP length equal to the rest of the packet,
 * some payload. */
static bool ref_parse(const uint8_t *b, uint32_t len, int64_t l2, uint32_t head_len, struct ref *r)
{
	if (l2 < 0 || (uint64_t)l2 > head_len || (uint64_t)l2 + 20 > len)
		return false;
	const uint8_t *ip = b + l2;
	r->l2 = (uint32_t)l2;
	r->ihl = (ip[0] & 15u) * 4;
	if (ip[0] >> 4 != 4 || r->ihl < 20 || ip[9] != TN_IPPROTO_TCP || r->l2 + r->ihl + 20 > len)
		return false;
	r->thl = (ip[r->ihl + 12] >> 4) * 4u;
	r->hlen = r->l2 + r->ihl + r->thl;
	r->tot = (uint32_t)ip[2] << 8 | ip[3];
	if (r->thl < 20 || r->hlen > len || r->tot < r->ihl + r->thl || r->l2 + r->tot != len)
		return false;
	r->payload = r->tot - r->ihl - r->thl;
	return r->payload > 0;
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t chain_len(const struct tn_pkt *p)
{
	uint32_t n = 0;
	for (; p; p = p->next)
		n += p->len;
	return n;
}

static bool tcp_csum_ok(const uint8_t *ip)
{
	uint32_t ihl = (ip[0] & 15u) * 4, tot = get16(ip + 2);
	uint32_t sum = tn_csum_pseudo4(get32(ip + 12), get32(ip + 16), TN_IPPROTO_TCP, tot - ihl);
	return tn_csum_fold(tn_csum_partial(ip + ihl, tot - ihl, sum)) == 0;
}

/* Run GSO on p (gso_size set) whose bytes are b[0, len) and head buffer
 * head_len bytes; check the result against the reference and free it.
 * orig (optional): for a GRO-merged packet, the inputs each segment must
 * be, and the buffers it must be cut into. */
static void check_gso(struct tn_pkt *p, const uint8_t *b, uint32_t len, uint32_t head_len,
		      struct input **orig, int norig)
{
	int64_t l2 = (int64_t)p->l3_off - (int64_t)tn_pkt_off(p, p->data);
	uint16_t gso = p->gso_size;
	uint32_t flags = p->flags;
	struct ref r;
	bool ok = gso && ref_parse(b, len, l2, head_len, &r);
	uint32_t before = tn_mempool_in_use(pool), bufs = 0;
	for (struct tn_pkt *e = p; e; e = e->next)
		bufs++;
	struct tn_pkt *list = tn_gso_segment(pool, p);
	if (!ok) {
		CHECK(list == NULL);
		CHECK(tn_mempool_in_use(pool) == before - bufs);
		return;
	}
	if (!list) { /* only when a segment would not fit one buffer */
		CHECK(r.hlen + gso > TN_PKT_DATAROOM);
		CHECK(tn_mempool_in_use(pool) == before - bufs);
		return;
	}
	uint32_t n = (r.payload + gso - 1) / gso, i = 0;
	CHECK(!orig || (int)n == norig);
	const uint8_t *ip0 = b + r.l2, *tcp0 = ip0 + r.ihl;
	for (struct tn_pkt *q = list; q; q = q->qnext, i++) {
		CHECK(i < n);
		uint32_t sl = i + 1 < n ? gso : r.payload - i * gso;
		CHECK(q->next == NULL && q->len == r.hlen + sl && q->pkt_len == q->len);
		CHECK(q->gso_size == 0 && q->gso_segs == 0 && (q->flags & TN_PKT_CSUM_PARTIAL));
		CHECK((q->flags & ~(uint32_t)TN_PKT_CSUM_PARTIAL) == (flags & ~(uint32_t)TN_PKT_CSUM_PARTIAL));
		CHECK(q->buf + q->l3_off == q->data + r.l2);
		const uint8_t *ip = q->data + r.l2, *tcp = ip + r.ihl;
		/* L2, then the IP header but for length, id and checksum */
		CHECK(memcmp(q->data, b, r.l2) == 0);
		CHECK(memcmp(ip, ip0, 2) == 0 && memcmp(ip + 6, ip0 + 6, 4) == 0);
		CHECK(memcmp(ip + 12, ip0 + 12, r.ihl - 12) == 0);
		CHECK(get16(ip + 2) == r.ihl + r.thl + sl);
		CHECK(get16(ip + 4) == (uint16_t)(get16(ip0 + 4) + i));
		CHECK(tn_csum(ip, r.ihl) == 0);
		/* TCP: ports, ack, window, urgent pointer, options as given */
		CHECK(memcmp(tcp, tcp0, 4) == 0 && memcmp(tcp + 8, tcp0 + 8, 5) == 0);
		CHECK(memcmp(tcp + 14, tcp0 + 14, 2) == 0 && memcmp(tcp + 18, tcp0 + 18, r.thl - 18) == 0);
		CHECK(get32(tcp + 4) == get32(tcp0 + 4) + i * gso);
		uint8_t fl = tcp0[13];
		if (i + 1 < n)
			fl &= (uint8_t)~(TN_TCP_PSH | TN_TCP_FIN);
		if (i > 0)
			fl &= (uint8_t)~TN_TCP_CWR;
		CHECK(tcp[13] == fl);
		CHECK(memcmp(tcp + r.thl, b + r.hlen + i * gso, sl) == 0);
		tn_csum_finish(q);
		CHECK(!(q->flags & TN_PKT_CSUM_PARTIAL));
		CHECK(tcp_csum_ok(ip));
		if (orig) { /* cut back in place into the very inputs */
			const struct input *o = orig[i];
			CHECK(q == o->head && q->len <= o->len);
			memcpy(segbuf, o->bytes, q->len);
			const uint8_t *d = q->data;
			/* fields GRO does not compare: IP id and the reserved flag
			 * (bug: see test_gro_ip_reserved_flag), TCP reserved bits
			 * (bug: test_gro_tcp_reserved_bits) and urgent pointer;
			 * checksums are checked above */
			for (uint32_t k = 0; k < q->len; k++) {
				uint8_t m = 0xff;
				if (k == 4 || k == 5 || k == 10 || k == 11 || k == 36 || k == 37 || k == 38 ||
				    k == 39)
					m = 0;
				else if (k == 6)
					m = 0x7f;
				else if (k == 32)
					m = 0xf1;
				CHECK((d[k] & m) == (segbuf[k] & m));
			}
			CHECK(get16(d + 2) == get16(segbuf + 2));
		}
	}
	CHECK(i == n);
	tn_pkt_free_queue(list);
	CHECK(tn_mempool_in_use(pool) == before - bufs);
}

/* ---- building the input packets ---- */

static void fixups(uint8_t *b, uint32_t len, int64_t l2, uint8_t f)
{
	if (l2 < 0 || (uint64_t)l2 + 20 > len)
		return;
	uint8_t *ip = b + l2;
	uint32_t room = len - (uint32_t)l2;
	if (f & F_TOTLEN)
		tn_put16(ip + 2, (uint16_t)room);
	uint32_t ihl = (ip[0] & 15u) * 4, tot = get16(ip + 2);
	if ((f & F_TCPCSUM) && ihl >= 20 && ip[9] == TN_IPPROTO_TCP && tot <= room && tot >= ihl + 20) {
		uint8_t *tcp = ip + ihl;
		tcp[16] = tcp[17] = 0;
		tn_put16(tcp + 16, tn_csum_fold(tn_csum_partial(tcp, tot - ihl,
			tn_csum_pseudo4(get32(ip + 12), get32(ip + 16), TN_IPPROTO_TCP, tot - ihl))));
	}
	if ((f & F_IPCSUM) && ihl >= 20 && ihl <= room) {
		ip[10] = ip[11] = 0;
		tn_put16(ip + 10, tn_csum(ip, ihl));
	}
}

/* p's bytes into a chain: first buffer `first` bytes (or up to a full
 * buffer), the rest in full buffers, as a device delivers them. */
static bool build(struct input *x, uint32_t first)
{
	x->nbuf = 0;
	x->head = NULL;
	uint32_t off = 0;
	do {
		uint32_t n = x->len - off;
		uint32_t cap = x->nbuf == 0 && first && first < TN_PKT_DATAROOM ? first : TN_PKT_DATAROOM;
		if (n > cap)
			n = cap;
		if (x->nbuf == MAXBUF)
			return false;
		struct tn_pkt *e = tn_pkt_from_bytes(pool, x->bytes + off, n);
		CHECK(e != NULL);
		x->buf[x->nbuf++] = e;
		if (x->head)
			tn_pkt_chain(x->head, e);
		else
			x->head = e;
		off += n;
	} while (off < x->len);
	return true;
}

/* The flow of a packet as tn_gro_receive tells flows apart. */
static bool flow_key(const struct tn_pkt *p, uint8_t key[12])
{
	const uint8_t *b = p->data;
	uint32_t ihl = (b[0] & 15u) * 4;
	if (p->len < 20 || ihl < 20 || p->len < ihl + 4 || b[9] != TN_IPPROTO_TCP)
		return false;
	memcpy(key, b + 12, 8);
	memcpy(key + 8, b + ihl, 4);
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!pool) {
		pool = tn_mempool_new(POOL);
		CHECK(pool != NULL);
	}
	CHECK(tn_mempool_in_use(pool) == 0);
	struct tn_gro g;
	memset(&g, 0, sizeof(g));
	struct tn_pkt_queue out;
	tn_pktq_init(&out);
	struct input *gin[MAXPKT];
	int ngin = 0, nin = 0;
	size_t pos = 0;
	while (nin < MAXPKT && size - pos >= 6) {
		uint8_t f = data[pos], a = data[pos + 1];
		uint16_t gso = (uint16_t)(data[pos + 2] << 8 | data[pos + 3]);
		uint32_t n = (uint32_t)(data[pos + 4] << 8 | data[pos + 5]);
		pos += 6;
		if (n > size - pos)
			n = (uint32_t)(size - pos);
		if (n == 0 || n > MAXLEN)
			break;
		struct input *x = &in[nin++];
		memcpy(x->bytes, data + pos, n);
		pos += n;
		x->len = n;
		memset(x->seen, 0, sizeof(x->seen));
		int64_t l2 = (f & F_DIRECT) ? (int64_t)(a & 63) - 8 : 0;
		fixups(x->bytes, n, l2, f);
		uint32_t first = (f & F_SPLIT) ? (uint32_t)a * n / 256 : 0;
		if (!build(x, first)) {
			tn_pkt_free(x->head);
			nin--;
			continue;
		}
		struct tn_pkt *p = x->head;
		p->flags = (f & F_PARTIAL ? TN_PKT_CSUM_PARTIAL : 0) | (f & F_OK ? TN_PKT_CSUM_OK : 0);
		p->gso_size = (f & F_GSO) ? gso : 0;
		if (f & F_DIRECT) {
			p->l3_off = (uint16_t)(tn_pkt_off(p, p->data) + l2);
			check_gso(p, x->bytes, x->len, x->buf[0]->len, NULL, 0);
			continue;
		}
		p->l3_off = tn_pkt_off(p, p->data);
		gin[ngin++] = x;
		tn_gro_receive(&g, p, &out);
	}
	tn_gro_flush(&g, &out);
	CHECK(g.n == 0);

	/* GRO: every buffer once, segment counts, merged chains, flow order */
	uint32_t total_segs = 0;
	uint8_t keys[MAXPKT][12];
	int last_idx[MAXPKT], nkeys = 0;
	struct tn_pkt *p;
	while ((p = tn_pktq_pop(&out, 0))) {
		struct input *chain[MAXPKT];
		int nchain = 0, first_idx = -1;
		for (struct tn_pkt *e = p; e; e = e->next) {
			int hit = 0;
			for (int i = 0; i < ngin; i++)
				for (int k = 0; k < gin[i]->nbuf; k++)
					if (gin[i]->buf[k] == e) {
						CHECK(!gin[i]->seen[k]);
						gin[i]->seen[k] = true;
						hit++;
						if (k == 0) {
							CHECK(nchain < MAXPKT);
							chain[nchain++] = gin[i];
							if (first_idx < 0)
								first_idx = i;
						}
					}
			CHECK(hit == 1);
		}
		CHECK(chain[0]->head == p);
		CHECK(p->pkt_len == chain_len(p));
		uint8_t key[12];
		if (flow_key(p, key)) {
			int k = 0;
			while (k < nkeys && memcmp(keys[k], key, 12) != 0)
				k++;
			if (k == nkeys) {
				memcpy(keys[nkeys++], key, 12);
				last_idx[k] = -1;
			}
			CHECK(first_idx > last_idx[k]);
			last_idx[k] = first_idx;
		}
		if (p->gso_segs) { /* merged */
			CHECK(p->gso_segs >= 2 && p->gso_segs == nchain && p->gso_size);
			CHECK(p->flags & TN_PKT_CSUM_PARTIAL);
			total_segs += p->gso_segs;
			const uint8_t *ip = p->data;
			uint32_t thl = (ip[32] >> 4) * 4u, payload = get16(ip + 2) - 20 - thl;
			CHECK(get16(ip + 2) == p->pkt_len && tn_csum(ip, 20) == 0);
			CHECK(p->len == 20 + thl + p->gso_size);
			uint32_t off = 20 + thl, want = 0;
			for (int i = 0; i < nchain; i++) {
				const struct input *x = chain[i];
				CHECK(x->nbuf == 1 && (i == 0 || x->head->len <= p->gso_size));
				uint32_t xtot = get16(x->bytes + 2), xl = xtot - 20 - thl;
				CHECK(xtot <= x->len);
				CHECK(tn_pkt_copy_out(p, off, flat, xl) == 0);
				CHECK(memcmp(flat, x->bytes + 20 + thl, xl) == 0);
				CHECK(get32(x->bytes + 24) == get32(ip + 24) + want);
				off += xl;
				want += xl;
			}
			CHECK(want == payload && off == p->pkt_len);
			CHECK(tn_pkt_copy_out(p, 0, flat, p->pkt_len) == 0);
			check_gso(p, flat, p->pkt_len, p->len, chain, nchain);
			continue;
		}
		total_segs++;
		CHECK(nchain == 1);
		struct input *x = chain[0];
		/* as it went in, but maybe trimmed to its IP length, with its
		 * header checksum made afresh */
		CHECK(p->pkt_len <= x->len && tn_pkt_copy_out(p, 0, flat, p->pkt_len) == 0);
		if (p->pkt_len < x->len || memcmp(flat, x->bytes, p->pkt_len) != 0) {
			CHECK(p->pkt_len >= 20 && p->pkt_len == get16(flat + 2));
			CHECK(memcmp(flat, x->bytes, 10) == 0 &&
			      memcmp(flat + 12, x->bytes + 12, p->pkt_len - 12) == 0);
			CHECK(tn_csum(flat, 20) == 0);
		}
		if (p->gso_size) /* the fuzzer's own large segment: through GSO */
			check_gso(p, flat, p->pkt_len, p->len, NULL, 0);
		else
			tn_pkt_free(p);
	}
	CHECK((int)total_segs == ngin);
	for (int i = 0; i < ngin; i++)
		for (int k = 0; k < gin[i]->nbuf; k++)
			CHECK(gin[i]->seen[k]);
	CHECK(tn_mempool_in_use(pool) == 0);
	return 0;
}
