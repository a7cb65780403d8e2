/* The qdisc registry, life cycle, and the calls parents and devices make. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sched/qdisc.h"
#include "sched/sch_ops.h"
#include "sched/sch_cls.h"

/* Every kind tc can name, in one read-only table. */
static const struct tn_qdisc_ops *const registry[] = {
	&tn_qdisc_pfifo_fast, &tn_qdisc_pfifo, &tn_qdisc_bfifo,
	&tn_qdisc_netem,
	&tn_qdisc_tbf,
	&tn_qdisc_prio, &tn_qdisc_sfq,
	&tn_qdisc_fq_codel,
	&tn_qdisc_htb,
};

const struct tn_qdisc_ops *const *tn_qdisc_all_ops(size_t *n)
{
	*n = sizeof(registry) / sizeof(registry[0]);
	return registry;
}

const struct tn_qdisc_ops *tn_qdisc_lookup_ops(const char *kind)
{
	for (size_t i = 0; i < sizeof(registry) / sizeof(registry[0]); i++)
		if (strcmp(registry[i]->kind, kind) == 0)
			return registry[i];
	return NULL;
}

struct tn_qdisc *tn_qdisc_create(struct tn_qenv *env, const char *kind, uint32_t handle, uint32_t parent,
				 int argc, char **argv, struct tn_qerr *err)
{
	const struct tn_qdisc_ops *ops = tn_qdisc_lookup_ops(kind);
	if (!ops) {
		tn_qerr(err, "unknown qdisc \"%s\"", kind);
		return NULL;
	}
	struct tn_qdisc *q = calloc(1, sizeof(*q) + ops->priv_size);
	if (!q) {
		tn_qerr(err, "out of memory");
		return NULL;
	}
	q->ops = ops;
	q->handle = TN_TC_H_MAJ(handle);
	q->parent = parent;
	q->env = env;
	if (ops->init(q, argc, argv, err) < 0) {
		if (ops->destroy)
			ops->destroy(q);
		tn_qfilter_flush(q);
		free(q);
		return NULL;
	}
	return q;
}

void tn_qdisc_destroy(struct tn_qdisc *q)
{
	if (!q)
		return;
	tn_qdisc_reset(q);
	if (q->ops->destroy)
		q->ops->destroy(q);
	tn_qfilter_flush(q);
	free(q);
}

struct tn_qdisc *tn_qdisc_default(struct tn_qenv *env, uint32_t parent, bool root)
{
	struct tn_qerr err;
	return tn_qdisc_create(env, root ? "pfifo_fast" : "pfifo", 0, parent, 0, NULL, &err);
}

/* A peeked packet waits in the stash, still counted as queued. */
struct tn_pkt *tn_qdisc_dequeue(struct tn_qdisc *q)
{
	struct tn_pkt *p = q->stash;
	if (p) {
		q->stash = NULL;
		q->stats.qlen--;
		q->stats.backlog -= p->pkt_len;
		return p;
	}
	return q->ops->dequeue(q);
}

struct tn_pkt *tn_qdisc_peek(struct tn_qdisc *q)
{
	if (q->stash)
		return q->stash;
	if (q->ops->peek)
		return q->ops->peek(q);
	struct tn_pkt *p = q->ops->dequeue(q);
	if (p) {
		q->stash = p;
		q->stats.qlen++;
		q->stats.backlog += p->pkt_len;
	}
	return p;
}

void tn_qdisc_reset(struct tn_qdisc *q)
{
	if (q->stash) {
		tn_pkt_free(q->stash);
		q->stash = NULL;
	}
	if (q->ops->reset)
		q->ops->reset(q);
	q->stats.qlen = 0;
	q->stats.backlog = 0;
}

void tn_qdisc_drop(struct tn_qdisc *q, struct tn_pkt *p)
{
	q->stats.drops += TN_PKT_SEGS(p);
	tn_pkt_free(p);
}

uint32_t tn_qdisc_pkt_len(const struct tn_pkt *p)
{
	if (p->gso_segs <= 1)
		return p->pkt_len;
	/* Each further segment repeats the headers in front of the payload. */
	uint32_t hdr = 0;
	const uint8_t *l3 = p->buf + p->l3_off;
	if (l3 >= p->data && l3 + 20 <= p->data + p->len) {
		uint32_t ihl = (uint32_t)(l3[0] & 0xf) * 4;
		if (l3 + ihl + 13 <= p->data + p->len)
			hdr = (uint32_t)(l3 - p->data) + ihl + (uint32_t)(l3[ihl + 12] >> 4) * 4;
	}
	return p->pkt_len + (uint32_t)(p->gso_segs - 1) * hdr;
}

int tn_qdisc_pkt_tos(const struct tn_pkt *p)
{
	const uint8_t *l3 = p->buf + p->l3_off;
	if (!p->l3_off || l3 < p->data || l3 + 20 > p->data + p->len || (l3[0] >> 4) != 4)
		return -1;
	return l3[1];
}

uint8_t tn_qdisc_pkt_priority(const struct tn_pkt *p)
{
	/* Linux's ip_tos2prio, indexed by the TOS bits (tos & 0x1e) >> 1. */
	static const uint8_t tos2prio[16] = {0, 0, 0, 0, 2, 2, 2, 2, 6, 6, 6, 6, 4, 4, 4, 4};
	int tos = tn_qdisc_pkt_tos(p);
	return tos < 0 ? 0 : tos2prio[(tos & 0x1e) >> 1];
}
