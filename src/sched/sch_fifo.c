/* pfifo and bfifo (one FIFO, a packet or byte limit) and pfifo_fast, the
 * default root qdisc: three FIFO bands chosen by the packet's priority
 * through Linux's priomap, band 0 always served first. */
#include <stdio.h>
#include <string.h>

#include "sched/qdisc.h"
#include "sched/sch_ops.h"

struct fifo {
	struct tn_pkt_queue q;
	uint32_t limit; /* packets (pfifo) or bytes (bfifo) */
	bool bytes;
};

static int fifo_parse(struct tn_qdisc *q, int argc, char **argv, bool bytes, uint32_t *limit,
		      struct tn_qerr *err)
{
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "limit") != 0)
			return tn_qerr(err, "%s: unknown option \"%s\" (expected limit)", q->ops->kind, argv[i]);
		if (++i == argc)
			return tn_qerr(err, "%s: limit needs a value", q->ops->kind);
		int rc = bytes ? tn_tc_get_size(argv[i], limit) : tn_tc_get_u32(argv[i], limit);
		if (rc < 0 || *limit == 0)
			return tn_qerr(err, "%s: bad limit \"%s\"", q->ops->kind, argv[i]);
	}
	return 0;
}

static int fifo_init_common(struct tn_qdisc *q, int argc, char **argv, bool bytes, struct tn_qerr *err)
{
	struct fifo *f = tn_qdisc_priv(q);
	uint32_t txql = q->env->txqueuelen ? q->env->txqueuelen : 1;
	uint32_t limit = bytes ? txql * (q->env->mtu ? q->env->mtu : 1500) : txql;
	if (fifo_parse(q, argc, argv, bytes, &limit, err) < 0)
		return -1;
	tn_pktq_init(&f->q);
	f->limit = limit;
	f->bytes = bytes;
	return 0;
}

static int pfifo_init(struct tn_qdisc *q, int argc, char **argv, struct tn_qerr *err)
{
	return fifo_init_common(q, argc, argv, false, err);
}

static int bfifo_init(struct tn_qdisc *q, int argc, char **argv, struct tn_qerr *err)
{
	return fifo_init_common(q, argc, argv, true, err);
}

static int fifo_change(struct tn_qdisc *q, int argc, char **argv, struct tn_qerr *err)
{
	struct fifo *f = tn_qdisc_priv(q);
	uint32_t limit = f->limit;
	if (fifo_parse(q, argc, argv, f->bytes, &limit, err) < 0)
		return -1;
	f->limit = limit;
	return 0;
}

static enum tn_qdisc_verdict fifo_enqueue(struct tn_qdisc *q, struct tn_pkt *p)
{
	struct fifo *f = tn_qdisc_priv(q);
	bool full = f->bytes ? q->stats.backlog + p->pkt_len > f->limit : q->stats.qlen >= f->limit;
	if (full) {
		tn_qdisc_drop(q, p);
		return TN_QDISC_DROP;
	}
	tn_pktq_push(&f->q, p, p->pkt_len);
	q->stats.qlen++;
	q->stats.backlog += p->pkt_len;
	return TN_QDISC_OK;
}

static struct tn_pkt *fifo_dequeue(struct tn_qdisc *q)
{
	struct fifo *f = tn_qdisc_priv(q);
	struct tn_pkt *p = f->q.head;
	if (!p)
		return NULL;
	tn_pktq_pop(&f->q, p->pkt_len);
	q->stats.qlen--;
	q->stats.backlog -= p->pkt_len;
	tn_qdisc_count_out(q, p);
	return p;
}

static struct tn_pkt *fifo_peek(struct tn_qdisc *q)
{
	return ((struct fifo *)tn_qdisc_priv(q))->q.head;
}

static void fifo_reset(struct tn_qdisc *q)
{
	tn_pktq_purge(&((struct fifo *)tn_qdisc_priv(q))->q);
}

static int fifo_dump(const struct tn_qdisc *q, char *buf, size_t cap)
{
	const struct fifo *f = tn_qdisc_cpriv(q);
	if (!f->bytes)
		return snprintf(buf, cap, "limit %up", f->limit);
	char sz[32];
	tn_tc_print_size(sz, sizeof(sz), f->limit);
	return snprintf(buf, cap, "limit %s", sz);
}

const struct tn_qdisc_ops tn_qdisc_pfifo = {
	.kind = "pfifo", .priv_size = sizeof(struct fifo), .init = pfifo_init, .change = fifo_change,
	.enqueue = fifo_enqueue, .dequeue = fifo_dequeue, .peek = fifo_peek, .reset = fifo_reset,
	.dump = fifo_dump,
};

const struct tn_qdisc_ops tn_qdisc_bfifo = {
	.kind = "bfifo", .priv_size = sizeof(struct fifo), .init = bfifo_init, .change = fifo_change,
	.enqueue = fifo_enqueue, .dequeue = fifo_dequeue, .peek = fifo_peek, .reset = fifo_reset,
	.dump = fifo_dump,
};

/* ---- pfifo_fast ---- */

#define PFIFO_FAST_BANDS 3
/* Linux's prio2band: priority (0..15) to band. */
static const uint8_t prio2band[16] = {1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};

struct pfifo_fast {
	struct tn_pkt_queue band[PFIFO_FAST_BANDS];
	uint32_t limit; /* packets in all bands: the device's txqueuelen */
};

static int pfifo_fast_init(struct tn_qdisc *q, int argc, char **argv, struct tn_qerr *err)
{
	if (argc > 0) /* tc cannot configure pfifo_fast either */
		return tn_qerr(err, "pfifo_fast: takes no options (\"%s\")", argv[0]);
	struct pfifo_fast *pf = tn_qdisc_priv(q);
	for (int i = 0; i < PFIFO_FAST_BANDS; i++)
		tn_pktq_init(&pf->band[i]);
	pf->limit = q->env->txqueuelen ? q->env->txqueuelen : 1;
	return 0;
}

static enum tn_qdisc_verdict pfifo_fast_enqueue(struct tn_qdisc *q, struct tn_pkt *p)
{
	struct pfifo_fast *pf = tn_qdisc_priv(q);
	if (q->stats.qlen >= pf->limit) {
		tn_qdisc_drop(q, p);
		return TN_QDISC_DROP;
	}
	tn_pktq_push(&pf->band[prio2band[tn_qdisc_pkt_priority(p) & 15]], p, p->pkt_len);
	q->stats.qlen++;
	q->stats.backlog += p->pkt_len;
	return TN_QDISC_OK;
}

static struct tn_pkt *pfifo_fast_peek(struct tn_qdisc *q)
{
	struct pfifo_fast *pf = tn_qdisc_priv(q);
	for (int i = 0; i < PFIFO_FAST_BANDS; i++)
		if (pf->band[i].head)
			return pf->band[i].head;
	return NULL;
}

static struct tn_pkt *pfifo_fast_dequeue(struct tn_qdisc *q)
{
	struct pfifo_fast *pf = tn_qdisc_priv(q);
	for (int i = 0; i < PFIFO_FAST_BANDS; i++) {
		struct tn_pkt *p = pf->band[i].head;
		if (!p)
			continue;
		tn_pktq_pop(&pf->band[i], p->pkt_len);
		q->stats.qlen--;
		q->stats.backlog -= p->pkt_len;
		tn_qdisc_count_out(q, p);
		return p;
	}
	return NULL;
}

static void pfifo_fast_reset(struct tn_qdisc *q)
{
	struct pfifo_fast *pf = tn_qdisc_priv(q);
	for (int i = 0; i < PFIFO_FAST_BANDS; i++)
		tn_pktq_purge(&pf->band[i]);
}

static int pfifo_fast_dump(const struct tn_qdisc *q, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "bands %d priomap", PFIFO_FAST_BANDS);
	for (int i = 0; i < 16 && n > 0 && (size_t)n < cap; i++)
		n += snprintf(buf + n, cap - (size_t)n, " %u", prio2band[i]);
	return n;
}

const struct tn_qdisc_ops tn_qdisc_pfifo_fast = {
	.kind = "pfifo_fast", .priv_size = sizeof(struct pfifo_fast), .init = pfifo_fast_init,
	.enqueue = pfifo_fast_enqueue, .dequeue = pfifo_fast_dequeue, .peek = pfifo_fast_peek,
	.reset = pfifo_fast_reset, .dump = pfifo_fast_dump,
};
