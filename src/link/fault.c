/* Fault injector: a device that wraps another and impairs what it sends —
 * delay, jitter, loss, duplication, reordering, corruption, rate limit —
 * with every random choice drawn from its own seeded generator, so a run is
 * reproduced by its seed.  Frames wait in a queue ordered by departure time
 * until service() finds them due; this is netem's model. */
#include <stdlib.h>
#include <string.h>

#include "core/rand.h"
#include "link/dev.h"

#define FAULT_DEFAULT_LIMIT 1000u
#define FAULT_HEAP_MIN 64u

struct held {
	uint64_t depart;
	uint64_t seq;   /* breaks ties in send order, so equal delays keep order */
	struct tn_pkt *pkt;
};

struct fault {
	struct tn_dev dev;
	struct tn_dev *lower;
	struct tn_fault_cfg cfg;
	struct tn_fault_stats st;
	struct tn_rand rng;
	uint64_t link_free_at;  /* rate limit: when the wire is next idle */
	uint64_t rate_rem;      /* rate limit: sub-nanosecond carry, in bit*ns units */
	uint64_t seq;
	struct held *heap;      /* min-heap by (depart, seq) */
	uint32_t nheld, cap;
	uint64_t frames_in;     /* frames offered, for the burst window */
};

static const struct tn_dev_ops fault_ops;

static bool earlier(const struct held *a, const struct held *b)
{
	return a->depart < b->depart || (a->depart == b->depart && a->seq < b->seq);
}

/* Callers make sure there is room (nheld < cap). */
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

/* The heap grows on demand so that a large limit costs nothing until the
 * queue really is that long. */
static bool heap_reserve(struct fault *f)
{
	if (f->nheld < f->cap)
		return true;
	uint32_t cap = f->cap ? f->cap * 2 : FAULT_HEAP_MIN;
	if (cap > f->cfg.limit || cap < f->cap)
		cap = f->cfg.limit;
	struct held *h = realloc(f->heap, sizeof(*h) * cap);
	if (!h)
		return false;
	f->heap = h;
	f->cap = cap;
	return true;
}

/* No draw at all for a zero probability, so an unused impairment does not
 * shift the random sequence of the others. */
static bool chance(struct fault *f, double p) { return p > 0 && tn_rand_double(&f->rng) < p; }

/* Flip one random bit.  A packet someone else still holds a reference to
 * (a retransmit queue, say) is copied first, so only the wire sees the
 * damage.  Returns the packet to send on. */
static struct tn_pkt *corrupt_one_bit(struct fault *f, struct tn_pkt *p)
{
	if (p->pkt_len == 0)
		return p;
	if (p->refcnt > 1) {
		struct tn_pkt *c = tn_pkt_copy(p->pool, p);
		if (!c)
			return p; /* no private copy: leave it intact */
		tn_pkt_free(p);
		p = c;
	}
	uint64_t bit = tn_rand_u64(&f->rng) % ((uint64_t)p->pkt_len * 8);
	uint64_t byte = bit / 8;
	for (struct tn_pkt *s = p; s; s = s->next) {
		if (byte < s->len) {
			s->data[byte] ^= (uint8_t)(1u << (bit % 8));
			f->st.corrupted++;
			return p;
		}
		byte -= s->len;
	}
	return p;
}

static uint64_t jitter(struct fault *f)
{
	if (!f->cfg.jitter_ns)
		return 0;
	uint64_t j = (uint64_t)(tn_rand_double(&f->rng) * ((double)f->cfg.jitter_ns + 1.0));
	return j > f->cfg.jitter_ns ? f->cfg.jitter_ns : j;
}

/* Serialisation on a wire of rate_bps: the frame starts once the wire is
 * idle and takes len*8/rate seconds.  The remainder of the division is
 * carried so that a long run keeps the exact rate. */
static uint64_t serialise(struct fault *f, uint64_t t, uint32_t len)
{
	if (t > f->link_free_at) {
		f->link_free_at = t;
		f->rate_rem = 0;
	}
	uint64_t num = (uint64_t)len * 8u * 1000000000u + f->rate_rem;
	f->link_free_at += num / f->cfg.rate_bps;
	f->rate_rem = num % f->cfg.rate_bps;
	return f->link_free_at;
}

/* A frame that jumps the queue leaves now, skipping delay and the rate
 * queue alike, as netem's reordered packets do. */
static uint64_t departure(struct fault *f, uint32_t len, bool jump)
{
	if (jump)
		return f->dev.now;
	uint64_t t = f->dev.now + f->cfg.delay_ns + jitter(f);
	return f->cfg.rate_bps ? serialise(f, t, len) : t;
}

static void hold(struct fault *f, struct tn_pkt *p, bool jump)
{
	if (f->nheld >= f->cfg.limit || !heap_reserve(f)) {
		f->st.overflow++;
		tn_pkt_free(p);
		return;
	}
	heap_push(f, (struct held){departure(f, p->pkt_len, jump), f->seq++, p});
}

/* The decorator's counters are the wire's (the lower device's), plus the
 * frames its own queue had no room for. */
static void sync_stats(struct fault *f)
{
	f->dev.stats = f->lower->stats;
	f->dev.stats.tx_dropped += f->st.overflow;
}

static void impair_one(struct fault *f, struct tn_pkt *p)
{
	uint64_t n = f->frames_in++;
	bool in_burst = f->cfg.burst_len && n >= f->cfg.burst_at && n - f->cfg.burst_at < f->cfg.burst_len;
	if (in_burst || chance(f, f->cfg.loss)) {
		f->st.lost++;
		tn_pkt_free(p);
		return;
	}
	if (chance(f, f->cfg.duplicate)) {
		struct tn_pkt *c = tn_pkt_copy(p->pool, p);
		if (c) {
			f->st.duplicated++;
			hold(f, c, false);
		}
	}
	if (chance(f, f->cfg.corrupt))
		p = corrupt_one_bit(f, p);
	bool jump = chance(f, f->cfg.reorder);
	if (jump)
		f->st.reordered++;
	hold(f, p, jump);
}

static unsigned fault_tx(struct tn_dev *d, struct tn_pkt **pkts, unsigned n)
{
	struct fault *f = d->priv;
	for (unsigned i = 0; i < n; i++)
		impair_one(f, pkts[i]);
	sync_stats(f);
	return n;
}

/* Hand the due frames to the lower device a burst at a time.  What it
 * refuses goes back into the heap under its old key, so it keeps its place
 * and is retried on the next call. */
static void send_due(struct fault *f, uint64_t now)
{
	while (f->nheld && f->heap[0].depart <= now) {
		struct held b[TN_DEV_BURST];
		struct tn_pkt *pkts[TN_DEV_BURST];
		unsigned k = 0;
		while (k < TN_DEV_BURST && f->nheld && f->heap[0].depart <= now) {
			b[k] = heap_pop(f);
			pkts[k] = b[k].pkt;
			k++;
		}
		unsigned sent = tn_dev_tx(f->lower, pkts, k);
		f->st.passed += sent;
		for (unsigned i = sent; i < k; i++)
			heap_push(f, b[i]);
		if (sent < k)
			break;
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
	uint64_t t = f->nheld ? f->heap[0].depart : UINT64_MAX;
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

/* On allocation failure NULL is returned and `lower` still belongs to the
 * caller. */
struct tn_dev *tn_fault_new(struct tn_dev *lower, const struct tn_fault_cfg *cfg)
{
	struct fault *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	if (cfg)
		f->cfg = *cfg;
	if (!f->cfg.limit)
		f->cfg.limit = FAULT_DEFAULT_LIMIT;
	f->lower = lower;
	tn_rand_seed(&f->rng, f->cfg.seed);
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
