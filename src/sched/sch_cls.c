/* tc filters (see sch_cls.h): matching.  Parsing tc's filter words is in
 * tn_qfilter_add. */
#include <stdlib.h>
#include <string.h>

#include "sched/sch_cls.h"
#include "wire/wire.h"

void tn_qfilter_flush(struct tn_qdisc *q)
{
	while (q->filters) {
		struct tn_qfilter *f = q->filters;
		q->filters = f->next;
		free(f);
	}
}

void tn_qfilter_del(struct tn_qdisc *q, uint32_t prio)
{
	struct tn_qfilter **pp = &q->filters;
	while (*pp) {
		struct tn_qfilter *f = *pp;
		if (prio == 0 || f->prio == prio) {
			*pp = f->next;
			free(f);
		} else {
			pp = &f->next;
		}
	}
}

/* The 32-bit word at `off` from base, if the packet's first buffer holds it. */
static bool word_at(const struct tn_pkt *p, const uint8_t *base, int32_t off, uint32_t *w)
{
	const uint8_t *at = base + off;
	if (off < 0 || at < p->data || at + 4 > p->data + p->len)
		return false;
	*w = tn_get32(at);
	return true;
}

static bool u32_match(const struct tn_qfilter *f, const struct tn_pkt *p)
{
	const uint8_t *ip = p->buf + p->l3_off;
	if (!p->l3_off || ip < p->data || ip + 20 > p->data + p->len || (ip[0] >> 4) != 4)
		return false;
	const uint8_t *l4 = ip + (ip[0] & 0xf) * 4;
	for (unsigned i = 0; i < f->nkeys; i++) {
		const struct tn_qfilter_key *k = &f->key[i];
		uint32_t w;
		if (!word_at(p, k->transport ? l4 : ip, k->off, &w) || (w & k->mask) != k->value)
			return false;
	}
	return true;
}

/* Linux's flow classifier keyed on the 5-tuple (src, dst, proto, ports). */
static uint32_t flow_hash(const struct tn_pkt *p)
{
	const uint8_t *ip = p->buf + p->l3_off;
	uint32_t h = 2166136261u;
	if (!p->l3_off || ip < p->data || ip + 20 > p->data + p->len)
		return 0;
	const uint8_t *l4 = ip + (ip[0] & 0xf) * 4;
	size_t n = l4 + 4 <= p->data + p->len ? 4 : 0;
	for (int i = 12; i < 20; i++)
		h = (h ^ ip[i]) * 16777619u;
	h = (h ^ ip[9]) * 16777619u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ l4[i]) * 16777619u;
	return h;
}

uint32_t tn_qfilter_classify(struct tn_qdisc *q, const struct tn_pkt *p)
{
	for (struct tn_qfilter *f = q->filters; f; f = f->next) {
		switch (f->kind) {
		case TN_QFILTER_U32:
			if (!u32_match(f, p))
				continue;
			f->hits++;
			return f->classid;
		case TN_QFILTER_FW:
			if (p->mark & f->fw_mask) {
				f->hits++;
				return TN_TC_H_MAJ(q->handle) | ((p->mark & f->fw_mask) & 0xffffu);
			}
			continue;
		case TN_QFILTER_FLOW:
			if (!f->flow_divisor)
				continue;
			f->hits++;
			return TN_TC_H_MAJ(f->classid) | (flow_hash(p) % f->flow_divisor + 1);
		}
	}
	return 0;
}
