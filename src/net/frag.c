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
	/* RFC 792: time exceeded (fragment reassembly) only if we hold the first fragment. */
	if (q->frags && fcb(q->frags)->start == 0)
		tn_icmp_send_error(s, q->frags, TN_ICMP_TIME_EXCEEDED, TN_ICMP_EXC_FRAGTIME, 0);
	queue_fail(s, q);
}

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

/* Over the high threshold: evict oldest queues down to the low one. */
static void evict(struct tn_stack *s)
{
	while (s->frag.lru_head && s->frag.mem > (uint64_t)s->sysctl.ipfrag_low_thresh)
		queue_fail(s, s->frag.lru_head);
}

static struct tn_frag_queue *queue_find(struct tn_stack *s, const struct tn_ipv4_hdr *h, bool *refused)
{
	struct tn_frag_table *ft = &s->frag;
	*refused = false;
	if (ft->nbuckets) {
		for (struct tn_frag_queue *q = ft->buckets[qbucket(ft, h->src, h->dst, h->id, h->proto)]; q;
		     q = q->next)
			if (q->src == h->src && q->dst == h->dst && q->id == h->id && q->proto == h->proto)
				return q;
	}
	if (ft->mem > (uint64_t)s->sysctl.ipfrag_high_thresh) {
		evict(s);
		*refused = true;
		return NULL;
	}
	struct tn_frag_queue *q = table_grow(ft) < 0 ? NULL : calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->src = h->src;
	q->dst = h->dst;
	q->id = h->id;
	q->proto = h->proto;
	tn_timer_init(&q->timer, frag_timer);
	tn_timer_arm(&s->wheel, &q->timer, s->now + (uint64_t)s->sysctl.ipfrag_time * NS_PER_SEC);
	uint32_t b = qbucket(ft, h->src, h->dst, h->id, h->proto);
	q->next = ft->buckets[b];
	ft->buckets[b] = q;
	q->lru_prev = ft->lru_tail;
	if (ft->lru_tail)
		ft->lru_tail->lru_next = q;
	else
		ft->lru_head = q;
	ft->lru_tail = q;
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

enum insert_result { INSERTED, DUPLICATE, OVERLAP };

/* Insert in offset order; exact duplicates and overlaps are reported. */
static enum insert_result queue_insert(struct tn_frag_queue *q, struct tn_pkt *pkt)
{
	uint32_t start = fcb(pkt)->start, end = fcb(pkt)->end;
	struct tn_pkt **pp = &q->frags;
	while (*pp && fcb(*pp)->start < start)
		pp = &(*pp)->qnext;
	struct tn_pkt *prev = NULL;
	for (struct tn_pkt *f = q->frags; f && f != *pp; f = f->qnext)
		prev = f;
	struct tn_pkt *next = *pp;
	if (next && fcb(next)->start == start && fcb(next)->end == end)
		return DUPLICATE;
	if ((prev && fcb(prev)->end > start) || (next && fcb(next)->start < end))
		return OVERLAP;
	pkt->qnext = next;
	*pp = pkt;
	return INSERTED;
}

static bool queue_complete(const struct tn_frag_queue *q)
{
	if (!q->have_last)
		return false;
	uint32_t covered = 0;
	for (struct tn_pkt *f = q->frags; f; f = f->qnext) {
		if (fcb(f)->start != covered)
			return false;
		covered = fcb(f)->end;
	}
	return covered == q->total_len;
}

/* Join the fragments: the first keeps its header (rewritten for the whole
 * datagram), later ones lose theirs and are chained behind it. */
static struct tn_pkt *queue_join(struct tn_stack *s, struct tn_frag_queue *q)
{
	struct tn_pkt *head = q->frags;
	q->frags = NULL;
	struct tn_pkt *rest = head->qnext;
	head->qnext = NULL;
	uint8_t ihl = fcb(head)->ihl;
	while (rest) {
		struct tn_pkt *next = rest->qnext;
		rest->qnext = NULL;
		tn_pkt_pull(rest, fcb(rest)->ihl);
		tn_pkt_chain(head, rest);
		rest = next;
	}
	uint8_t *ip = head->data;
	uint16_t df = tn_get16(ip + 6) & TN_IP_DF;
	tn_put16(ip + 2, (uint16_t)(ihl + q->total_len));
	tn_put16(ip + 6, df);
	tn_put16(ip + 10, 0);
	tn_put16(ip + 10, tn_csum(ip, ihl));
	head->l3_off = tn_pkt_off(head, ip);
	queue_kill(s, q);
	tn_stat_inc(s, TN_IpReasmOKs);
	return head;
}

struct tn_pkt *tn_frag_reasm(struct tn_stack *s, struct tn_pkt *pkt)
{
	tn_stat_inc(s, TN_IpReasmReqds);
	struct tn_ipv4_hdr h;
	if (tn_ipv4_parse(pkt->data, pkt->len, &h) < 0) {
		tn_stat_inc(s, TN_IpReasmFails);
		tn_drop(s, pkt, TN_IpInHdrErrors);
		return NULL;
	}
	uint32_t start = tn_ipv4_frag_offset(&h), len = h.tot_len - h.ihl, end = start + len;
	bool more = h.frag_off & TN_IP_MF;
	if (len == 0 || (more && (len & 7))) {
		tn_drop(s, pkt, TN_IpReasmFails);
		return NULL;
	}
	bool refused;
	struct tn_frag_queue *q = queue_find(s, &h, &refused);
	if (!q) {
		tn_stat_inc(s, TN_IpReasmFails);
		tn_drop(s, pkt, refused ? TN_TernExtIpReasmMemLimit : TN_TernExtNoBufs);
		return NULL;
	}
	if (end + h.ihl > IP_MAX_LEN) {
		tn_stat_inc(s, TN_TernExtIpReasmOversize);
		tn_pkt_free(pkt);
		queue_fail(s, q);
		return NULL;
	}
	/* A last fragment fixes the length; anything disagreeing kills the queue. */
	if ((!more && ((q->have_last && end != q->total_len) || (!q->have_last && end < queue_end(q)))) ||
	    (q->have_last && end > q->total_len)) {
		tn_pkt_free(pkt);
		queue_fail(s, q);
		return NULL;
	}
	fcb(pkt)->start = start;
	fcb(pkt)->end = end;
	fcb(pkt)->ihl = h.ihl;
	switch (queue_insert(q, pkt)) {
	case DUPLICATE:
		tn_pkt_free(pkt);
		return NULL;
	case OVERLAP:
		tn_stat_inc(s, TN_IpExtReasmOverlaps);
		tn_pkt_free(pkt);
		queue_fail(s, q);
		return NULL;
	case INSERTED:
		break;
	}
	if (!more) {
		q->have_last = 1;
		q->total_len = end;
	}
	q->received += len;
	q->ifindex = pkt->ifindex;
	uint32_t ts = tn_pkt_truesize(pkt);
	q->truesize += ts;
	s->frag.mem += ts;
	if (!queue_complete(q))
		return NULL;
	return queue_join(s, q);
}

/* ---- fragmentation ---- */

int tn_frag_output(struct tn_stack *s, struct tn_pkt *pkt, uint32_t mtu,
		   void (*out)(struct tn_stack *s, struct tn_pkt *frag, void *arg), void *arg)
{
	struct tn_ipv4_hdr h;
	uint8_t hdr[TN_IPV4_MAX_HLEN];
	uint32_t hl = pkt->pkt_len < TN_IPV4_MAX_HLEN ? pkt->pkt_len : TN_IPV4_MAX_HLEN;
	if (tn_pkt_copy_out(pkt, 0, hdr, hl) < 0 || tn_ipv4_parse(hdr, pkt->pkt_len, &h) < 0 ||
	    mtu < (uint32_t)h.ihl + 8) {
		tn_drop(s, pkt, TN_IpFragFails);
		return -EINVAL;
	}
	uint32_t payload = h.tot_len - h.ihl;
	uint32_t chunk_max = (mtu - h.ihl) & ~7u;
	uint32_t base_off = tn_ipv4_frag_offset(&h);
	bool orig_more = h.frag_off & TN_IP_MF;
	uint16_t keep_flags = h.frag_off & TN_IP_DF;
	for (uint32_t off = 0; off < payload;) {
		uint32_t n = payload - off > chunk_max ? chunk_max : payload - off;
		bool last = off + n == payload;
		struct tn_pkt *f = tn_pkt_alloc(s->pool);
		if (!f) {
			tn_drop(s, pkt, TN_IpFragFails);
			return -ENOBUFS;
		}
		struct tn_ipv4_hdr fh = h;
		if (off > 0) { /* non-first fragments carry only the copied options */
			tn_ipv4_opts_for_fragment(fh.opts, fh.optlen);
		}
		uint32_t fihl = TN_IPV4_HLEN + ((fh.optlen + 3u) & ~3u);
		fh.tot_len = (uint16_t)(fihl + n);
		fh.frag_off = (uint16_t)(keep_flags | ((base_off + off) / 8) | ((!last || orig_more) ? TN_IP_MF : 0));
		uint8_t *d = tn_pkt_put(f, fihl + n);
		tn_ipv4_emit(&fh, d, fihl);
		tn_pkt_copy_out(pkt, h.ihl + off, d + fihl, n);
		f->l3_off = tn_pkt_off(f, d);
		f->flags = pkt->flags;
		f->mark = pkt->mark;
		tn_stat_inc(s, TN_IpFragCreates);
		out(s, f, arg);
		off += n;
	}
	tn_stat_inc(s, TN_IpFragOKs);
	tn_pkt_free(pkt);
	return 0;
}
