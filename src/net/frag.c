/* IPv4 reassembly and fragmentation with Linux's limits and its treatment
 * of overlaps (RFC 5722 in spirit: any overlap discards the datagram;
 * exact duplicates are just dropped). */
#include "net/frag.h"

#include <errno.h>
#include <stdlib.h>

#include "core/hash.h"
#include "core/stack.h"
#include "net/icmp.h"
#include "wire/csum.h"
#include "wire/wire.h"

#define NS_PER_SEC 1000000000ull
#define IP_MAX_LEN 65535u

/* Per-fragment facts kept in cb while it waits in a queue. */
struct frag_cb {
	uint32_t start, end; /* payload byte range in the datagram */
	uint8_t ihl;
};
_Static_assert(sizeof(struct frag_cb) <= TN_PKT_CB_SIZE, "frag_cb must fit in pkt->cb");
static struct frag_cb *fcb(struct tn_pkt *p) { return (struct frag_cb *)p->cb; }

void tn_frag_init(struct tn_frag_table *ft, uint64_t hash_key)
{
	memset(ft, 0, sizeof(*ft));
	ft->hash_key = hash_key;
}

static uint32_t qbucket(const struct tn_frag_table *ft, uint32_t src, uint32_t dst, uint16_t id,
			uint8_t proto)
{
	return tn_hash2(ft->hash_key, ((uint64_t)src << 32) | dst, ((uint64_t)id << 8) | proto) &
	       (ft->nbuckets - 1);
}

static void lru_unlink(struct tn_frag_table *ft, struct tn_frag_queue *q)
{
	if (q->lru_prev)
		q->lru_prev->lru_next = q->lru_next;
	else
		ft->lru_head = q->lru_next;
	if (q->lru_next)
		q->lru_next->lru_prev = q->lru_prev;
	else
		ft->lru_tail = q->lru_prev;
}

static void lru_append(struct tn_frag_table *ft, struct tn_frag_queue *q)
{
	q->lru_next = NULL;
	q->lru_prev = ft->lru_tail;
	if (ft->lru_tail)
		ft->lru_tail->lru_next = q;
	else
		ft->lru_head = q;
	ft->lru_tail = q;
}

/* Remove a queue from the table and free it with its fragments. */
static void queue_kill(struct tn_stack *s, struct tn_frag_queue *q)
{
	struct tn_frag_table *ft = &s->frag;
	struct tn_frag_queue **pp = &ft->buckets[qbucket(ft, q->src, q->dst, q->id, q->proto)];
	while (*pp && *pp != q)
		pp = &(*pp)->next;
	if (*pp)
		*pp = q->next;
	lru_unlink(ft, q);
	tn_timer_cancel(&s->wheel, &q->timer);
	ft->mem -= q->truesize;
	ft->count--;
	tn_pkt_free_queue(q->frags);
	free(q);
}

void tn_frag_destroy(struct tn_stack *s)
{
	while (s->frag.lru_head)
		queue_kill(s, s->frag.lru_head);
	free(s->frag.buckets);
	s->frag.buckets = NULL;
	s->frag.nbuckets = 0;
}

static void queue_fail(struct tn_stack *s, struct tn_frag_queue *q)
{
	tn_stat_inc(s, TN_IpReasmFails);
	queue_kill(s, q);
}

static void frag_timer(void *ctx, struct tn_timer *t)
{
	struct tn_stack *s = ctx;
	struct tn_frag_queue *q = container_of(t, struct tn_frag_queue, timer);
	tn_stat_inc(s, TN_IpReasmTimeout);
	/* RFC 792/1122: time exceeded (reassembly) only if we hold the first
	 * fragment, which is the only one that quotes the transport header. */
	if (q->frags && fcb(q->frags)->start == 0)
		tn_icmp_send_error(s, q->frags, TN_ICMP_TIME_EXCEEDED, TN_ICMP_EXC_FRAGTIME, 0);
	queue_fail(s, q);
}

/* Keep the load factor at most 1 so chains stay short. */
static int table_grow(struct tn_frag_table *ft)
{
	if (ft->nbuckets && ft->count < ft->nbuckets)
		return 0;
	uint32_t n = ft->nbuckets ? ft->nbuckets * 2 : 64;
	struct tn_frag_queue **nb = calloc(n, sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	struct tn_frag_queue **ob = ft->buckets;
	uint32_t on = ft->nbuckets;
	ft->buckets = nb;
	ft->nbuckets = n;
	for (uint32_t i = 0; i < on; i++) {
		for (struct tn_frag_queue *q = ob[i], *next; q; q = next) {
			next = q->next;
			uint32_t b = qbucket(ft, q->src, q->dst, q->id, q->proto);
			q->next = nb[b];
			nb[b] = q;
		}
	}
	free(ob);
	return 0;
}

/* Evict the oldest queues until memory is under the low threshold, as
 * Linux's frag worker did; each evicted datagram is a failed reassembly. */
static void evict(struct tn_stack *s)
{
	while (s->frag.lru_head && s->frag.mem >= (uint64_t)s->sysctl.ipfrag_low_thresh)
		queue_fail(s, s->frag.lru_head);
}

static struct tn_frag_queue *queue_lookup(struct tn_frag_table *ft, const struct tn_ipv4_hdr *h)
{
	if (!ft->nbuckets)
		return NULL;
	struct tn_frag_queue *q = ft->buckets[qbucket(ft, h->src, h->dst, h->id, h->proto)];
	for (; q; q = q->next)
		if (q->src == h->src && q->dst == h->dst && q->id == h->id && q->proto == h->proto)
			return q;
	return NULL;
}

static struct tn_frag_queue *queue_create(struct tn_stack *s, const struct tn_ipv4_hdr *h)
{
	struct tn_frag_table *ft = &s->frag;
	struct tn_frag_queue *q = table_grow(ft) < 0 ? NULL : calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->src = h->src;
	q->dst = h->dst;
	q->id = h->id;
	q->proto = h->proto;
	/* The timeout runs from creation, not from the latest fragment, so a
	 * trickle of fragments cannot keep a queue alive forever. */
	tn_timer_init(&q->timer, frag_timer);
	tn_timer_arm(&s->wheel, &q->timer, s->now + (uint64_t)s->sysctl.ipfrag_time * NS_PER_SEC);
	uint32_t b = qbucket(ft, h->src, h->dst, h->id, h->proto);
	q->next = ft->buckets[b];
	ft->buckets[b] = q;
	lru_append(ft, q);
	ft->count++;
	return q;
}

/* The end of the furthest fragment held. */
static uint32_t queue_end(const struct tn_frag_queue *q)
{
	uint32_t e = 0;
	for (struct tn_pkt *f = q->frags; f; f = f->qnext)
		e = fcb(f)->end;
	return e;
}

/* A last fragment fixes the datagram's length: a second one disagreeing,
 * data already held beyond it, or data arriving beyond it is corruption. */
static bool end_consistent(const struct tn_frag_queue *q, uint32_t end, bool more)
{
	if (more)
		return !q->have_last || end <= q->total_len;
	if (q->have_last)
		return end == q->total_len;
	return end >= queue_end(q);
}

enum insert_result { INSERTED, DUPLICATE, OVERLAP };

/* Insert in offset order; exact duplicates and overlaps are reported. */
static enum insert_result queue_insert(struct tn_frag_queue *q, struct tn_pkt *pkt)
{
	uint32_t start = fcb(pkt)->start, end = fcb(pkt)->end;
	struct tn_pkt *prev = NULL, *next = q->frags;
	while (next && fcb(next)->start < start) {
		prev = next;
		next = next->qnext;
	}
	if (next && fcb(next)->start == start && fcb(next)->end == end)
		return DUPLICATE;
	if ((prev && fcb(prev)->end > start) || (next && fcb(next)->start < end))
		return OVERLAP;
	pkt->qnext = next;
	if (prev)
		prev->qnext = pkt;
	else
		q->frags = pkt;
	return INSERTED;
}

/* Join the fragments: the first keeps its header (rewritten for the whole
 * datagram), later ones lose theirs and are chained behind it. */
static struct tn_pkt *queue_join(struct tn_stack *s, struct tn_frag_queue *q)
{
	struct tn_pkt *head = q->frags;
	struct tn_pkt *rest = head->qnext;
	uint8_t ihl = fcb(head)->ihl;
	uint32_t total = q->total_len;
	q->frags = NULL;
	head->qnext = NULL;
	queue_kill(s, q);
	while (rest) {
		struct tn_pkt *next = rest->qnext;
		rest->qnext = NULL;
		tn_pkt_pull(rest, fcb(rest)->ihl); /* in the head segment: see frag_prepare */
		tn_pkt_chain(head, rest);
		rest = next;
	}
	uint8_t *ip = head->data;
	tn_put16(ip + 2, (uint16_t)(ihl + total));
	tn_put16(ip + 6, tn_get16(ip + 6) & TN_IP_DF);
	tn_put16(ip + 10, 0);
	tn_put16(ip + 10, tn_csum(ip, ihl));
	head->l3_off = tn_pkt_off(head, ip);
	/* Whatever a device said about one fragment's checksum says nothing
	 * about the transport checksum of the whole. */
	head->flags &= ~(uint32_t)TN_PKT_CSUM_OK;
	tn_stat_inc(s, TN_IpReasmOKs);
	return head;
}

/* Read the IP header of a packet that may be a chain; the header is
 * copied out first so a parser never reads past a segment. */
static int read_header(const struct tn_pkt *pkt, struct tn_ipv4_hdr *h)
{
	uint8_t hdr[TN_IPV4_MAX_HLEN];
	uint32_t hl = pkt->pkt_len < TN_IPV4_MAX_HLEN ? pkt->pkt_len : TN_IPV4_MAX_HLEN;
	if (tn_pkt_copy_out(pkt, 0, hdr, hl) < 0)
		return -EINVAL;
	return tn_ipv4_parse(hdr, pkt->pkt_len, h) < 0 ? -EINVAL : 0;
}

/* Make the fragment ours to edit and chain: a private copy if it is
 * shared, the IP header in the head segment, nothing beyond tot_len.
 * Returns NULL (dropped and counted) when that is impossible. */
static struct tn_pkt *frag_prepare(struct tn_stack *s, struct tn_pkt *pkt, struct tn_ipv4_hdr *h)
{
	if (read_header(pkt, h) < 0) {
		tn_stat_inc(s, TN_IpReasmFails);
		tn_drop(s, pkt, TN_IpInHdrErrors);
		return NULL;
	}
	if (pkt->refcnt > 1) {
		struct tn_pkt *c = tn_pkt_copy(s->pool, pkt);
		tn_pkt_free(pkt);
		if (!c) {
			tn_stat_inc(s, TN_IpReasmFails);
			tn_stat_inc(s, TN_TernExtNoBufs);
			return NULL;
		}
		pkt = c;
	}
	tn_pkt_trim(pkt, h->tot_len);
	if (tn_pkt_may_pull(pkt, h->ihl) < 0) {
		tn_stat_inc(s, TN_IpReasmFails);
		tn_drop(s, pkt, TN_TernExtNoBufs);
		return NULL;
	}
	return pkt;
}

/* The queue this fragment belongs to, created if need be; NULL when it
 * was refused (the fragment is then dropped and counted). */
static struct tn_frag_queue *queue_get(struct tn_stack *s, struct tn_pkt *pkt,
				       const struct tn_ipv4_hdr *h)
{
	bool over = s->frag.mem > (uint64_t)s->sysctl.ipfrag_high_thresh;
	if (over)
		evict(s);
	struct tn_frag_queue *q = queue_lookup(&s->frag, h);
	if (q)
		return q;
	if (over) { /* no new datagrams while memory is short */
		tn_stat_inc(s, TN_IpReasmFails);
		tn_drop(s, pkt, TN_TernExtIpReasmMemLimit);
		return NULL;
	}
	q = queue_create(s, h);
	if (!q) {
		tn_stat_inc(s, TN_IpReasmFails);
		tn_drop(s, pkt, TN_TernExtNoBufs);
	}
	return q;
}

/* Checks that need no queue; false when pkt was dropped and counted. */
static bool frag_valid(struct tn_stack *s, struct tn_pkt *pkt, const struct tn_ipv4_hdr *h)
{
	uint32_t start = tn_ipv4_frag_offset(h), len = (uint32_t)h->tot_len - h->ihl;
	bool more = h->frag_off & TN_IP_MF;
	/* Linux trims a short non-last fragment to 8 bytes; we refuse it, as a
	 * sender never produces one and it only serves to confuse. */
	if (len == 0 || (more && (len & 7))) {
		tn_drop(s, pkt, TN_IpReasmFails);
		return false;
	}
	if (start + len + h->ihl > IP_MAX_LEN) {
		struct tn_frag_queue *q = queue_lookup(&s->frag, h);
		tn_stat_inc(s, TN_TernExtIpReasmOversize);
		tn_pkt_free(pkt);
		if (q)
			queue_fail(s, q);
		else
			tn_stat_inc(s, TN_IpReasmFails);
		return false;
	}
	return true;
}

static void queue_charge(struct tn_stack *s, struct tn_frag_queue *q, struct tn_pkt *pkt,
			 uint32_t len)
{
	uint32_t ts = tn_pkt_truesize(pkt);
	q->received += len;
	q->ifindex = pkt->ifindex;
	q->truesize += ts;
	s->frag.mem += ts;
}

struct tn_pkt *tn_frag_reasm(struct tn_stack *s, struct tn_pkt *pkt)
{
	tn_stat_inc(s, TN_IpReasmReqds);
	struct tn_ipv4_hdr h;
	pkt = frag_prepare(s, pkt, &h);
	if (!pkt || !frag_valid(s, pkt, &h))
		return NULL;
	struct tn_frag_queue *q = queue_get(s, pkt, &h);
	if (!q)
		return NULL;
	uint32_t len = (uint32_t)h.tot_len - h.ihl;
	uint32_t start = tn_ipv4_frag_offset(&h), end = start + len;
	bool more = h.frag_off & TN_IP_MF;
	if (!end_consistent(q, end, more)) {
		tn_pkt_free(pkt);
		queue_fail(s, q);
		return NULL;
	}
	/* As Linux, the end is learnt before the insert, so a duplicate that
	 * carries the only MF=0 still tells where the datagram ends. */
	if (!more) {
		q->have_last = 1;
		q->total_len = end;
	}
	*fcb(pkt) = (struct frag_cb){.start = start, .end = end, .ihl = h.ihl};
	switch (queue_insert(q, pkt)) {
	case DUPLICATE:
		tn_pkt_free(pkt);
		break;
	case OVERLAP:
		tn_stat_inc(s, TN_IpExtReasmOverlaps);
		tn_pkt_free(pkt);
		queue_fail(s, q);
		return NULL;
	case INSERTED:
		queue_charge(s, q, pkt, len);
		break;
	}
	/* Held fragments never overlap and all lie below total_len, so
	 * holding total_len bytes means there is no gap. */
	if (!q->have_last || q->received != q->total_len)
		return NULL;
	return queue_join(s, q);
}

/* ---- fragmentation ---- */

/* Append n bytes of pkt from off to f, chaining more buffers when one
 * buffer's room is not enough (MTUs above the data room). */
static int frag_fill(struct tn_mempool *mp, struct tn_pkt *f, const struct tn_pkt *pkt,
		     uint32_t off, uint32_t n)
{
	uint32_t take = n < tn_pkt_tailroom(f) ? n : tn_pkt_tailroom(f);
	tn_pkt_copy_out(pkt, off, tn_pkt_put(f, take), take);
	for (off += take, n -= take; n; off += take, n -= take) {
		struct tn_pkt *seg = tn_pkt_alloc(mp);
		if (!seg)
			return -ENOBUFS;
		seg->data = seg->buf; /* nothing is ever pushed in front of it */
		take = n < tn_pkt_tailroom(seg) ? n : tn_pkt_tailroom(seg);
		tn_pkt_copy_out(pkt, off, tn_pkt_put(seg, take), take);
		tn_pkt_chain(f, seg);
	}
	return 0;
}

/* One fragment: header fh (tot_len and frag_off set) then n bytes of
 * pkt's data from off. */
static struct tn_pkt *frag_build(struct tn_stack *s, const struct tn_pkt *pkt,
				 const struct tn_ipv4_hdr *fh, uint32_t off, uint32_t n)
{
	struct tn_pkt *f = tn_pkt_alloc(s->pool);
	if (!f)
		return NULL;
	uint32_t ihl = fh->ihl;
	uint8_t *ip = tn_pkt_put(f, ihl);
	tn_ipv4_emit(fh, ip, ihl);
	f->l3_off = tn_pkt_off(f, ip);
	f->flags = pkt->flags;
	f->mark = pkt->mark;
	f->ifindex = pkt->ifindex;
	f->tstamp = pkt->tstamp;
	if (frag_fill(s->pool, f, pkt, off, n) < 0) {
		tn_pkt_free(f);
		return NULL;
	}
	return f;
}

/* Fragment offsets are 13 bits of 8-byte units: a datagram (or forwarded
 * fragment) reaching past 65535 bytes cannot be cut up. */
static bool frag_fits(const struct tn_ipv4_hdr *h, uint32_t mtu)
{
	return mtu >= (uint32_t)h->ihl + 8 &&
	       (uint32_t)tn_ipv4_frag_offset(h) + h->tot_len - h->ihl <= IP_MAX_LEN;
}

int tn_frag_output(struct tn_stack *s, struct tn_pkt *pkt, uint32_t mtu,
		   void (*out)(struct tn_stack *s, struct tn_pkt *frag, void *arg), void *arg)
{
	struct tn_ipv4_hdr h;
	int rc = read_header(pkt, &h);
	if (rc == 0 && h.tot_len <= mtu) {
		out(s, pkt, arg);
		return 0;
	}
	if (rc < 0 || !frag_fits(&h, mtu)) {
		tn_drop(s, pkt, TN_IpFragFails);
		return -EINVAL;
	}
	uint32_t payload = (uint32_t)h.tot_len - h.ihl;
	uint32_t chunk_max = (mtu - h.ihl) & ~7u;
	uint32_t base = tn_ipv4_frag_offset(&h);
	/* A forwarded non-last fragment stays non-last in every piece. */
	bool orig_more = h.frag_off & TN_IP_MF;
	struct tn_ipv4_hdr fh = h;
	for (uint32_t off = 0, n; off < payload; off += n) {
		n = payload - off > chunk_max ? chunk_max : payload - off;
		bool more = off + n < payload || orig_more;
		fh.tot_len = (uint16_t)(h.ihl + n);
		fh.frag_off = (uint16_t)((h.frag_off & TN_IP_DF) | ((base + off) / 8) | (more ? TN_IP_MF : 0));
		struct tn_pkt *f = frag_build(s, pkt, &fh, h.ihl + off, n);
		if (!f) {
			tn_drop(s, pkt, TN_IpFragFails);
			return -ENOBUFS;
		}
		/* Only the first fragment carries the options not marked copied;
		 * the header keeps its length, as Linux's ip_options_fragment. */
		if (off == 0)
			tn_ipv4_opts_for_fragment(fh.opts, fh.optlen);
		tn_stat_inc(s, TN_IpFragCreates);
		out(s, f, arg);
	}
	tn_stat_inc(s, TN_IpFragOKs);
	tn_pkt_free(pkt);
	return 0;
}
