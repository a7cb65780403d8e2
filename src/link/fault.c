/* Fault injector: a device that wraps another and impairs what it sends
 * through a netem qdisc (src/sched/sch_netem.c), the same code `tc qdisc
 * add ... netem` runs in a stack, so there is one implementation of the
 * impairments.  struct tn_fault_cfg maps onto netem's options:
 *
 *   delay, jitter   netem delay (delay + jitter/2) +- jitter/2, uniform:
 *                   an extra delay in [0, jitter], as this API promises
 *   loss            loss random
 *   duplicate       duplicate (the copy meets loss and delay on its own)
 *   reorder         reorder P gap 1: the packet is sent ahead, undelayed
 *   corrupt         corrupt (one random bit)
 *   rate_bps        rate, serialised exactly (no overhead, remainders carried)
 *   limit           limit
 *   burst_at/len    burstloss AT LEN, netem's deterministic extension
 *
 * Randomness comes from the decorator's own generator, seeded from the
 * configuration, handed to the qdisc as its environment's; the qdisc's
 * clock is the device's.  tx enqueues; service() dequeues what netem lets
 * go and hands it to the lower device, keeping what that refuses for the
 * next call; next_event() is netem's watchdog time. */
#include <stdlib.h>
#include <string.h>

#include "core/rand.h"
#include "link/dev.h"
#include "sched/qdisc.h"
#include "sched/sch_netem.h"

#define FAULT_DEFAULT_LIMIT 1000u

struct fault {
	struct tn_dev dev;
	struct tn_dev *lower;
	struct tn_fault_stats st;
	struct tn_rand rng;
	struct tn_qenv env;
	struct tn_qdisc *q;
	struct tn_pkt_queue refused; /* dequeued, refused by the lower device */
};

static const struct tn_dev_ops fault_ops;

/* The decorator's counters are the wire's (the lower device's), plus the
 * frames its own queue had no room for; its impairment counters are
 * netem's. */
static void sync_stats(struct fault *f)
{
	const struct tn_netem_stats *ns = tn_netem_stats(f->q);
	f->st.lost = ns->lost;
	f->st.duplicated = ns->duplicated;
	f->st.reordered = ns->reordered;
	f->st.corrupted = ns->corrupted;
	f->st.overflow = ns->overflow;
	f->dev.stats = f->lower->stats;
	f->dev.stats.tx_dropped += f->st.overflow;
}

static unsigned fault_tx(struct tn_dev *d, struct tn_pkt **pkts, unsigned n)
{
	struct fault *f = d->priv;
	f->env.now = d->now;
	for (unsigned i = 0; i < n; i++)
		tn_qdisc_enqueue(f->q, pkts[i]);
	sync_stats(f);
	return n;
}

/* Hand what netem releases to the lower device a burst at a time.  What
 * it refuses waits, in order, ahead of the qdisc. */
static void send_due(struct fault *f, uint64_t now)
{
	f->env.now = now;
	f->env.wake_at = UINT64_MAX;
	for (;;) {
		struct tn_pkt *pkts[TN_DEV_BURST];
		unsigned k = 0;
		while (k < TN_DEV_BURST) {
			struct tn_pkt *p = tn_pktq_pop(&f->refused, f->refused.head ? f->refused.head->pkt_len : 0);
			if (!p)
				p = tn_qdisc_dequeue(f->q);
			if (!p)
				break;
			pkts[k++] = p;
		}
		if (k == 0)
			return;
		unsigned sent = tn_dev_tx(f->lower, pkts, k);
		f->st.passed += sent;
		if (sent < k) {
			for (unsigned i = k; i-- > sent;) { /* back at the head, in order */
				pkts[i]->qnext = f->refused.head;
				f->refused.head = pkts[i];
				if (!f->refused.tail)
					f->refused.tail = pkts[i];
				f->refused.count++;
				f->refused.bytes += pkts[i]->pkt_len;
			}
			return;
		}
	}
}

static void fault_service(struct tn_dev *d, uint64_t now)
{
	struct fault *f = d->priv;
	f->lower->now = now;
	send_due(f, now);
	if (f->lower->ops->service)
		f->lower->ops->service(f->lower, now);
	sync_stats(f);
}

static uint64_t fault_next_event(struct tn_dev *d)
{
	struct fault *f = d->priv;
	f->lower->now = d->now;
	f->env.now = d->now;
	uint64_t t = f->refused.head ? d->now : tn_netem_next_time(f->q);
	uint64_t l = tn_dev_next_event(f->lower);
	return l < t ? l : t;
}

static unsigned fault_rx(struct tn_dev *d, struct tn_mempool *mp, struct tn_pkt **pkts, unsigned n)
{
	struct fault *f = d->priv;
	f->lower->now = d->now;
	unsigned got = tn_dev_rx(f->lower, mp, pkts, n);
	sync_stats(f);
	return got;
}

static int fault_fd(struct tn_dev *d) { return tn_dev_fd(((struct fault *)d->priv)->lower); }

static void fault_destroy(struct tn_dev *d)
{
	struct fault *f = d->priv;
	tn_pktq_purge(&f->refused);
	tn_qdisc_destroy(f->q);
	tn_dev_destroy(f->lower);
	free(f);
}

static const struct tn_dev_ops fault_ops = {
	.rx_burst = fault_rx,
	.tx_burst = fault_tx,
	.service = fault_service,
	.next_event = fault_next_event,
	.fd = fault_fd,
	.destroy = fault_destroy,
};

static void cfg_to_netem(const struct tn_fault_cfg *c, struct tn_netem_opt *o)
{
	tn_netem_opt_default(o);
	o->limit = c->limit ? c->limit : FAULT_DEFAULT_LIMIT;
	o->latency_ns = c->delay_ns + c->jitter_ns / 2;
	o->jitter_ns = c->jitter_ns / 2;
	o->dist = TN_NETEM_UNIFORM;
	o->loss_model = TN_NETEM_LOSS_RANDOM;
	o->loss = tn_netem_prob(c->loss);
	o->duplicate = tn_netem_prob(c->duplicate);
	o->corrupt = tn_netem_prob(c->corrupt);
	o->reorder = tn_netem_prob(c->reorder);
	o->gap = o->reorder ? 1 : 0;
	o->rate_bits = c->rate_bps;
	o->burst_at = c->burst_at;
	o->burst_len = c->burst_len;
}

/* On allocation failure NULL is returned and `lower` still belongs to the
 * caller. */
struct tn_dev *tn_fault_new(struct tn_dev *lower, const struct tn_fault_cfg *cfg)
{
	struct fault *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	struct tn_fault_cfg c = {0};
	if (cfg)
		c = *cfg;
	tn_rand_seed(&f->rng, c.seed);
	f->env = (struct tn_qenv){.now = lower->now, .wake_at = UINT64_MAX, .rng = &f->rng, .pool = NULL,
				  .mtu = lower->mtu, .txqueuelen = FAULT_DEFAULT_LIMIT};
	struct tn_qerr err;
	f->q = tn_qdisc_create(&f->env, "netem", 0, TN_TC_H_ROOT, 0, NULL, &err);
	struct tn_netem_opt o;
	cfg_to_netem(&c, &o);
	if (!f->q || tn_netem_configure(f->q, &o, &err) < 0) {
		tn_qdisc_destroy(f->q);
		free(f);
		return NULL;
	}
	f->env.root = f->q;
	tn_pktq_init(&f->refused);
	f->lower = lower;
	f->dev.ops = &fault_ops;
	f->dev.priv = f;
	memcpy(f->dev.name, lower->name, sizeof(f->dev.name));
	f->dev.framing = lower->framing;
	f->dev.mtu = lower->mtu;
	memcpy(f->dev.mac, lower->mac, sizeof(f->dev.mac));
	f->dev.now = lower->now;
	sync_stats(f);
	return &f->dev;
}

const struct tn_fault_stats *tn_fault_stats(const struct tn_dev *d)
{
	if (!d || d->ops != &fault_ops)
		return NULL;
	return &((const struct fault *)d->priv)->st;
}
