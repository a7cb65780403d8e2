#include "core/pkt.h"

#include <stdlib.h>

struct tn_mempool *tn_mempool_new(uint32_t count)
{
	struct tn_mempool *mp = calloc(1, sizeof(*mp));
	if (!mp)
		return NULL;
	mp->obj_size = (uint32_t)((sizeof(struct tn_pkt) + TN_PKT_BUFSIZE + 63) & ~(size_t)63);
	/* Page-aligned and whole pages: the AF_XDP driver registers it as a UMEM. */
	size_t len = ((size_t)mp->obj_size * count + 4095) & ~(size_t)4095;
	mp->mem = aligned_alloc(4096, len);
	mp->free = malloc(sizeof(*mp->free) * count);
	if (!mp->mem || !mp->free) {
		free(mp->mem);
		free(mp->free);
		free(mp);
		return NULL;
	}
	mp->size = count;
	/* Push in reverse so the first allocations walk memory upward. */
	for (uint32_t i = 0; i < count; i++) {
		struct tn_pkt *p = (struct tn_pkt *)(mp->mem + (size_t)mp->obj_size * (count - 1 - i));
		p->pool = mp;
		mp->free[i] = p;
	}
	mp->nfree = count;
	return mp;
}

void tn_mempool_free(struct tn_mempool *mp)
{
	if (!mp)
		return;
	free(mp->mem);
	free(mp->free);
	free(mp);
}

static inline void pkt_reset(struct tn_pkt *p)
{
	p->data = p->buf + TN_PKT_HEADROOM;
	p->len = 0;
	p->pkt_len = 0;
	p->next = NULL;
	p->qnext = NULL;
	p->refcnt = 1;
	p->flags = 0;
	p->ifindex = 0;
	p->l2_off = p->l3_off = p->l4_off = 0;
	p->mark = 0;
	p->gso_size = p->gso_segs = 0;
	p->tstamp = 0;
	p->nfct = 0;
	p->ext = NULL;
}

struct tn_pkt *tn_pkt_alloc(struct tn_mempool *mp)
{
	if (mp->nfree == 0) {
		mp->alloc_fails++;
		return NULL;
	}
	struct tn_pkt *p = mp->free[--mp->nfree];
	pkt_reset(p);
	return p;
}

unsigned tn_pkt_alloc_bulk(struct tn_mempool *mp, struct tn_pkt **pkts, unsigned n)
{
	if (n > mp->nfree) {
		mp->alloc_fails++;
		n = mp->nfree;
	}
	for (unsigned i = 0; i < n; i++) {
		struct tn_pkt *p = mp->free[--mp->nfree];
		pkt_reset(p);
		pkts[i] = p;
	}
	return n;
}

void tn_pkt_free(struct tn_pkt *p)
{
	if (!p || --p->refcnt > 0)
		return;
	while (p) {
		struct tn_pkt *next = p->next;
		struct tn_mempool *mp = p->pool;
		if (p->ext) {
			tn_pkt_ext_put(p->ext);
			p->ext = NULL;
		}
		mp->free[mp->nfree++] = p;
		p = next;
	}
}

struct tn_pkt *tn_pkt_alloc_ext(struct tn_mempool *mp, struct tn_pkt_ext *e, uint8_t *data, uint32_t n)
{
	struct tn_pkt *p = tn_pkt_alloc(mp);
	if (!p)
		return NULL;
	e->refcnt++;
	p->ext = e;
	p->data = data;
	p->len = p->pkt_len = n;
	return p;
}

void tn_pkt_free_queue(struct tn_pkt *q)
{
	while (q) {
		struct tn_pkt *n = q->qnext;
		tn_pkt_free(q);
		q = n;
	}
}

void tn_pkt_trim(struct tn_pkt *p, uint32_t len)
{
	if (len >= p->pkt_len)
		return;
	p->pkt_len = len;
	struct tn_pkt *seg = p;
	uint32_t left = len;
	while (seg) {
		if (seg->len >= left) {
			seg->len = left;
			struct tn_pkt *rest = seg->next;
			seg->next = NULL;
			/* Later segments have no other owner: return them directly. */
			while (rest) {
				struct tn_pkt *n = rest->next;
				rest->next = NULL;
				rest->refcnt = 1;
				tn_pkt_free(rest);
				rest = n;
			}
			return;
		}
		left -= seg->len;
		seg = seg->next;
	}
}

int tn_pkt_copy_out(const struct tn_pkt *p, uint32_t off, void *dst, uint32_t n)
{
	if ((uint64_t)off + n > p->pkt_len)
		return -1;
	uint8_t *d = dst;
	for (const struct tn_pkt *s = p; s && n; s = s->next) {
		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		uint32_t take = s->len - off;
		if (take > n)
			take = n;
		memcpy(d, s->data + off, take);
		d += take;
		n -= take;
		off = 0;
	}
	return n ? -1 : 0;
}

struct tn_pkt *tn_pkt_copy(struct tn_mempool *mp, const struct tn_pkt *p)
{
	if (p->pkt_len > TN_PKT_DATAROOM)
		return NULL;
	struct tn_pkt *c = tn_pkt_alloc(mp);
	if (!c)
		return NULL;
	tn_pkt_copy_out(p, 0, tn_pkt_put(c, p->pkt_len), p->pkt_len);
	c->flags = p->flags;
	c->ifindex = p->ifindex;
	c->mark = p->mark;
	c->tstamp = p->tstamp;
	return c;
}

struct tn_pkt *tn_pkt_from_bytes(struct tn_mempool *mp, const void *b, uint32_t len)
{
	if (len > TN_PKT_DATAROOM)
		return NULL;
	struct tn_pkt *c = tn_pkt_alloc(mp);
	if (c)
		memcpy(tn_pkt_put(c, len), b, len);
	return c;
}

struct tn_pkt *tn_pkt_from_bytes_chain(struct tn_mempool *mp, const void *b, uint32_t len)
{
	const uint8_t *src = b;
	struct tn_pkt *head = NULL;
	do {
		uint32_t n = len < TN_PKT_DATAROOM ? len : TN_PKT_DATAROOM;
		struct tn_pkt *seg = tn_pkt_from_bytes(mp, src, n);
		if (!seg) {
			tn_pkt_free(head);
			return NULL;
		}
		if (head)
			tn_pkt_chain(head, seg);
		else
			head = seg;
		src += n;
		len -= n;
	} while (len);
	return head;
}

void tn_pkt_chain(struct tn_pkt *head, struct tn_pkt *tail)
{
	struct tn_pkt *s = head;
	while (s->next)
		s = s->next;
	s->next = tail;
	for (struct tn_pkt *t = tail; t; t = t->next)
		head->pkt_len += t->len;
}

int tn_pkt_may_pull(struct tn_pkt *p, uint32_t n)
{
	if (p->len >= n)
		return 0;
	if (n > p->pkt_len || n - p->len > tn_pkt_tailroom(p))
		return -1;
	while (p->len < n && p->next) {
		struct tn_pkt *s = p->next;
		uint32_t take = n - p->len;
		if (take > s->len)
			take = s->len;
		memcpy(p->data + p->len, s->data, take);
		p->len += take;
		s->data += take;
		s->len -= take;
		if (s->len == 0) {
			p->next = s->next;
			s->next = NULL;
			s->refcnt = 1;
			tn_pkt_free(s);
		}
	}
	return p->len >= n ? 0 : -1;
}
