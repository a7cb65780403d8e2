/* Fault injector: a device that wraps another and impairs what it sends —
 * delay, jitter, loss, duplication, reordering, corruption, rate limit —
 * with every random choice drawn from its own seeded generator. */
#include <errno.h>
#include <stdlib.h>

#include "core/rand.h"
#include "link/dev.h"

struct held {
	uint64_t depart;
	uint64_t seq;   /* ties depart in send order */
	struct tn_pkt *pkt;
};

struct fault {
	struct tn_dev dev;
	struct tn_dev *lower;
	struct tn_fault_cfg cfg;
	struct tn_fault_stats st;
	struct tn_rand rng;
	uint64_t link_free_at;  /* rate limit: when the wire is next idle */
	uint64_t seq;
	struct held *heap;      /* min-heap by (depart, seq) */
	uint32_t nheld;
};

static bool earlier(const struct held *a, const struct held *b)
{
	return a->depart < b->depart || (a->depart == b->depart && a->seq < b->seq);
}

static void heap_push(struct fault *f, struct held h)
{
	uint32_t i = f->nheld++;
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (!earlier(&h, &f->heap[parent]))
			break;
		f->heap[i] = f->heap[parent];
		i = parent;
	}
	f->heap[i] = h;
}

static struct held heap_pop(struct fault *f)
{
	struct held top = f->heap[0];
	struct held last = f->heap[--f->nheld];
	uint32_t i = 0;
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= f->nheld)
			break;
		if (c + 1 < f->nheld && earlier(&f->heap[c + 1], &f->heap[c]))
			c++;
		if (!earlier(&f->heap[c], &last))
			break;
		f->heap[i] = f->heap[c];
		i = c;
	}
	if (f->nheld)
		f->heap[i] = last;
	return top;
}

static bool chance(struct fault *f, double p) { return p > 0 && tn_rand_double(&f->rng) < p; }

static void corrupt_one_bit(struct fault *f, struct tn_pkt *p)
{
	uint32_t bit = tn_rand_below(&f->rng, p->pkt_len * 8);
	uint32_t byte = bit / 8;
	for (struct tn_pkt *s = p; s; s = s->next) {
		if (byte < s->len) {
			s->data[byte] ^= (uint8_t)(1u << (bit % 8));
			return;
		}
		byte -= s->len;
	}
}

static uint64_t departure(struct fault *f, uint32_t len, bool jump)
{
	uint64_t t = f->dev.now;
	if (!jump) {
		t += f->cfg.delay_ns;
		if (f->cfg.jitter_ns)
			t += (uint64_t)(tn_rand_double(&f->rng) * (double)(f->cfg.jitter_ns + 1));
	}
	if (f->cfg.rate_bps) {
		uint64_t start = t > f->link_free_at ? t : f->link_free_at;
		t = start + (uint64_t)len * 8ull * 1000000000ull / f->cfg.rate_bps;
		f->link_free_at = t;
	}
	return t;
}

static void hold(struct fault *f, struct tn_pkt *p, bool jump)
{
	if (f->nheld >= f->cfg.limit) {
		f->st.overflow++;
		f->dev.stats.tx_dropped++;
		tn_pkt_free(p);
		return;
	}
	heap_push(f, (struct held){departure(f, p->pkt_len, jump), f->seq++, p});
}

static unsigned fault_tx(struct tn_dev *d, struct tn_pkt **pkts, unsigned n)
{
	struct fault *f = d->priv;
	for (unsigned i = 0; i < n; i++) {
		struct tn_pkt *p = pkts[i];
		if (chance(f, f->cfg.loss)) {
			f->st.lost++;
			tn_pkt_free(p);
			continue;
		}
		if (chance(f, f->cfg.duplicate)) {
			struct tn_pkt *c = tn_pkt_copy(p->pool, p);
			if (c) {
				f->st.duplicated++;
				hold(f, c, false);
			}
		}
		if (chance(f, f->cfg.corrupt)) {
			f->st.corrupted++;
			corrupt_one_bit(f, p);
		}
		bool jump = chance(f, f->cfg.reorder);
		if (jump)
			f->st.reordered++;
		hold(f, p, jump);
	}
	return n;
}

static void fault_service(struct tn_dev *d, uint64_t now)
{
	struct fault *f = d->priv;
	f->lower->now = now;
	while (f->nheld && f->heap[0].depart <= now) {
		struct tn_pkt *p = f->heap[0].pkt;
		if (tn_dev_tx(f->lower, &p, 1) == 0)
			break; /* the wire is full: try again next poll */
		heap_pop(f);
		f->st.passed++;
	}
	if (f->lower->ops->service)
		f->lower->ops->service(f->lower, now);
}

static uint64_t fault_next_event(struct tn_dev *d)
{
	struct fault *f = d->priv;
	uint64_t t = f->nheld ? f->heap[0].depart : UINT64_MAX;
	uint64_t l = tn_dev_next_event(f->lower);
	return l < t ? l : t;
}

static unsigned fault_rx(struct tn_dev *d, struct tn_mempool *mp, struct tn_pkt **pkts, unsigned n)
{
	struct fault *f = d->priv;
	f->lower->now = d->now;
	unsigned got = tn_dev_rx(f->lower, mp, pkts, n);
	d->stats.rx_packets = f->lower->stats.rx_packets;
	d->stats.rx_bytes = f->lower->stats.rx_bytes;
	return got;
}

static int fault_fd(struct tn_dev *d) { return tn_dev_fd(((struct fault *)d->priv)->lower); }

static void fault_destroy(struct tn_dev *d)
{
	struct fault *f = d->priv;
	while (f->nheld)
		tn_pkt_free(heap_pop(f).pkt);
	free(f->heap);
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

struct tn_dev *tn_fault_new(struct tn_dev *lower, const struct tn_fault_cfg *cfg)
{
	struct fault *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->cfg = *cfg;
	if (!f->cfg.limit)
		f->cfg.limit = 1000;
	f->heap = malloc(sizeof(*f->heap) * f->cfg.limit);
	if (!f->heap) {
		free(f);
		return NULL;
	}
	f->lower = lower;
	tn_rand_seed(&f->rng, cfg->seed);
	f->dev = *lower;
	f->dev.ops = &fault_ops;
	f->dev.priv = f;
	memset(&f->dev.stats, 0, sizeof(f->dev.stats));
	return &f->dev;
}

const struct tn_fault_stats *tn_fault_stats(const struct tn_dev *d)
{
	return &((const struct fault *)d->priv)->st;
}
