/* libFuzzer target: the IPv4 parser, emitter and fragment option rewrite,
 * plus tn_csum_pkt over a chain against the flat checksum.
 *
 * A small reference model, written independently of wire.c, predicts the
 * parser's verdict for every input; an accepted header must emit back to
 * the same bytes and re-parse to the same fields. */
#include <stdlib.h>
#include <string.h>

#include "core/pkt.h"
#include "core/rand.h"
#include "wire/csum.h"
#include "wire/wire.h"

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

/* RFC 791 option list: END stops, NOP is one byte, every other option has
 * a length byte of at least 2 that must fit what is left. */
static int ref_options(const uint8_t *o, size_t n, bool *srcroute)
{
	*srcroute = false;
	for (size_t i = 0; i < n && o[i] != TN_IPOPT_END;) {
		if (o[i] == TN_IPOPT_NOP) {
			i++;
			continue;
		}
		if (n - i < 2 || o[i + 1] < 2 || o[i + 1] > n - i)
			return TN_WIRE_EOPTIONS;
		*srcroute |= o[i] == TN_IPOPT_LSRR || o[i] == TN_IPOPT_SSRR;
		i += o[i + 1];
	}
	return 0;
}

static int ref_parse(const uint8_t *p, size_t len, bool *srcroute)
{
	if (len < 20)
		return TN_WIRE_ETRUNC;
	if (p[0] >> 4 != 4)
		return TN_WIRE_EVERSION;
	size_t ihl = (p[0] & 15u) * 4;
	if (ihl < 20)
		return TN_WIRE_EHDRLEN;
	if (ihl > len)
		return TN_WIRE_ETRUNC;
	size_t tot = (size_t)p[2] << 8 | p[3];
	if (tot < ihl)
		return TN_WIRE_ELEN;
	if (tot > len)
		return TN_WIRE_ETRUNC;
	uint32_t s = 0;
	for (size_t i = 0; i < ihl; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	if (s != 0xffff)
		return TN_WIRE_ECSUM;
	int rc = ref_options(p + 20, ihl - 20, srcroute);
	return rc < 0 ? rc : (int)ihl;
}

static void check_same(const struct tn_ipv4_hdr *a, const struct tn_ipv4_hdr *b)
{
	CHECK(a->ihl == b->ihl && a->tos == b->tos && a->tot_len == b->tot_len && a->id == b->id);
	CHECK(a->frag_off == b->frag_off && a->ttl == b->ttl && a->proto == b->proto);
	CHECK(a->src == b->src && a->dst == b->dst && a->optlen == b->optlen);
	CHECK(a->has_srcroute == b->has_srcroute && memcmp(a->opts, b->opts, a->optlen) == 0);
}

/* Options of a non-first fragment: copied options stay byte for byte,
 * others become NOPs, the header still parses and keeps its source route. */
static void check_fragment_opts(const struct tn_ipv4_hdr *h)
{
	struct tn_ipv4_hdr f = *h;
	tn_ipv4_opts_for_fragment(f.opts, f.optlen);
	for (size_t i = 0; i < f.optlen; i++)
		CHECK(f.opts[i] == h->opts[i] || f.opts[i] == TN_IPOPT_NOP);
	uint8_t again[40];
	memcpy(again, f.opts, f.optlen);
	tn_ipv4_opts_for_fragment(again, f.optlen);
	CHECK(memcmp(again, f.opts, f.optlen) == 0); /* idempotent */
	uint8_t out[TN_IPV4_MAX_HLEN];
	f.tot_len = f.ihl;
	size_t n = tn_ipv4_emit(&f, out, sizeof(out));
	CHECK(n == f.ihl);
	struct tn_ipv4_hdr g;
	CHECK(tn_ipv4_parse(out, n, &g) == (int)n);
	CHECK(g.has_srcroute == h->has_srcroute);
	/* walk the rewritten list: every option left is a copied one */
	for (size_t i = 0; i < g.optlen && g.opts[i] != TN_IPOPT_END;) {
		if (g.opts[i] == TN_IPOPT_NOP) {
			i++;
			continue;
		}
		CHECK(TN_IPOPT_COPIED(g.opts[i]));
		i += g.opts[i + 1];
	}
}

/* The rewrite on raw, unvalidated bytes (in a buffer of exactly their
 * size, so ASan sees any read past the end) only ever writes NOPs. */
static void check_fragment_raw(const uint8_t *data, size_t size)
{
	uint8_t n = (uint8_t)(size < 40 ? size : 40);
	uint8_t *o = malloc(n ? n : 1);
	CHECK(o != NULL);
	memcpy(o, data, n);
	tn_ipv4_opts_for_fragment(o, n);
	for (size_t i = 0; i < n; i++)
		CHECK(o[i] == data[i] || o[i] == TN_IPOPT_NOP);
	free(o);
}

static void check_emit(const uint8_t *data, const struct tn_ipv4_hdr *h)
{
	uint8_t out[TN_IPV4_MAX_HLEN + 1];
	out[h->ihl] = 0x5a;
	CHECK(tn_ipv4_emit(h, out, h->ihl - 1u) == 0);
	CHECK(tn_ipv4_emit(h, out, sizeof(out)) == h->ihl);
	CHECK(out[h->ihl] == 0x5a);
	/* the same bytes, but for the checksum: 0x0000 and 0xffff both verify
	 * when the rest sums to negative zero */
	CHECK(memcmp(out, data, 10) == 0 && memcmp(out + 12, data + 12, h->ihl - 12u) == 0);
	CHECK(tn_csum(out, h->ihl) == 0);
	struct tn_ipv4_hdr h2;
	size_t tot = h->tot_len;
	uint8_t *pkt = malloc(tot);
	CHECK(pkt != NULL);
	memcpy(pkt, out, h->ihl);
	memset(pkt + h->ihl, 0xee, tot - h->ihl);
	CHECK(tn_ipv4_parse(pkt, tot, &h2) == h->ihl);
	check_same(h, &h2);
	free(pkt);
}

/* tn_csum_pkt over the input split into a chain at pseudo-random points
 * (segments at odd and even addresses) equals the flat sum. */
static void check_csum_chain(const uint8_t *data, size_t size)
{
	if (size > 8 * TN_PKT_DATAROOM)
		return;
	struct tn_rand r;
	tn_rand_seed(&r, size * 0x9e3779b97f4a7c15ull + (size ? data[0] : 0));
	struct tn_mempool *mp = tn_mempool_new(32);
	CHECK(mp != NULL);
	struct tn_pkt *head = NULL;
	size_t at = 0;
	do {
		size_t left = size - at, take = tn_rand_below(&r, 4) == 0 ? left : tn_rand_below(&r, 64);
		if (take > left)
			take = left;
		if (take > TN_PKT_DATAROOM)
			take = TN_PKT_DATAROOM;
		struct tn_pkt *s = tn_pkt_alloc(mp);
		CHECK(s != NULL);
		s->data -= tn_rand_below(&r, 2);
		if (take)
			memcpy(tn_pkt_put(s, (uint32_t)take), data + at, take);
		at += take;
		if (head)
			tn_pkt_chain(head, s);
		else
			head = s;
	} while (at < size && tn_mempool_in_use(mp) < 31);
	uint32_t len = head->pkt_len;
	uint32_t off = tn_rand_below(&r, len + 1);
	uint32_t n = tn_rand_below(&r, len - off + 1);
	uint32_t seed = (uint32_t)tn_rand_u64(&r);
	CHECK(tn_csum_fold(tn_csum_pkt(head, off, n, seed)) ==
	      tn_csum_fold(tn_csum_partial(data + off, n, seed)));
	CHECK(tn_csum_fold(tn_csum_pkt(head, 0, len, 0)) == tn_csum(data, len));
	tn_pkt_free(head);
	CHECK(tn_mempool_in_use(mp) == 0);
	tn_mempool_free(mp);
}

static void check_parse(const uint8_t *data, size_t size)
{
	struct tn_ipv4_hdr h;
	bool ref_sr = false;
	int want = ref_parse(data, size, &ref_sr);
	int ihl = tn_ipv4_parse(data, size, &h);
	CHECK(ihl == want);
	if (ihl > 0) {
		CHECK(h.ihl == ihl && h.optlen == ihl - TN_IPV4_HLEN && h.has_srcroute == ref_sr);
		CHECK(h.tot_len >= ihl && h.tot_len <= size);
		CHECK(h.src == tn_get32(data + 12) && h.dst == tn_get32(data + 16));
		CHECK(h.check == tn_get16(data + 10));
		check_emit(data, &h);
		check_fragment_opts(&h);
	}
	struct tn_ipv4_hdr q;
	int qihl = tn_ipv4_parse_quoted(data, size, &q);
	if (ihl > 0) {
		CHECK(qihl == ihl);
		q.has_srcroute = h.has_srcroute;
		check_same(&h, &q);
	}
	if (qihl > 0)
		CHECK((size_t)qihl <= size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_parse(data, size);
	/* Again with the header checksum made right, so that mutations get
	 * past it to the length and option checks. */
	size_t ihl = size ? (data[0] & 15u) * 4 : 0;
	if (ihl >= TN_IPV4_HLEN && ihl <= size) {
		uint8_t *fixed = malloc(size);
		CHECK(fixed != NULL);
		memcpy(fixed, data, size);
		tn_put16(fixed + 10, 0);
		tn_put16(fixed + 10, tn_csum(fixed, ihl));
		check_parse(fixed, size);
		free(fixed);
	}
	check_fragment_raw(data, size);
	check_csum_chain(data, size);
	return 0;
}
