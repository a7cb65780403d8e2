/* Software RSS steering for per-core stacks (docs/DESIGN.md "Per-core
 * stacks").  Each core's device wraps that core's own receive queue (an
 * AF_PACKET fanout member, a memlink); the kernel or NIC spread frames over
 * the queues by a hash of its own, so each received frame is classified
 * here by the Toeplitz hash the stacks' source-port choice uses, and a frame
 * that belongs to another core is copied to it through a lock-free SPSC
 * ring for that ordered pair of cores.  A frame crosses threads only as a
 * malloc'd copy: packet buffers never leave their own core's pool. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/ring.h"
#include "core/rss.h"
#include "link/dev.h"

struct steer_frame {
	uint32_t len;
	uint32_t flags;      /* TN_PKT_CSUM_PARTIAL / TN_PKT_CSUM_OK */
	uint16_t gso_size, gso_segs;
	uint8_t data[];
};

struct steer_core {
	_Atomic(struct tn_dev *) dev;   /* the core's device, NULL while stopped */
	_Atomic int sleeping;           /* the core is about to wait on wake_fd */
	int wake_fd;                    /* eventfd */
	_Atomic uint64_t st[TN_STEER_NSTATS];
};

struct steer_pin {
	uint8_t proto;
	uint16_t port;
	uint16_t core;
};

struct tn_steer_group {
	unsigned n;
	struct steer_pin pins[TN_STEER_MAX_PINS]; /* set before the cores run */
	unsigned npins;
	enum tn_dev_framing framing;
	uint8_t key[TN_RSS_KEY_LEN];
	struct tn_ring **rings;         /* rings[from * n + to], NULL on the diagonal */
	struct steer_core *cores;
};

struct steer {
	struct tn_steer_group *g;
	unsigned core;
	struct tn_dev *lower;
	unsigned rr;                    /* which inbound ring to start from */
};

static inline void st_add(struct steer_core *c, enum tn_steer_stat i, uint64_t v)
{
	atomic_fetch_add_explicit(&c->st[i], v, memory_order_relaxed);
}

struct tn_steer_group *tn_steer_group_new(unsigned ncores, enum tn_dev_framing framing, const uint8_t *key,
					  uint32_t ring_size)
{
	if (ncores < 1 || ncores > TN_STEER_MAX_CORES || (ring_size & (ring_size - 1)) || ring_size < 2) {
		errno = EINVAL;
		return NULL;
	}
	struct tn_steer_group *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->n = ncores;
	g->framing = framing;
	memcpy(g->key, key ? key : tn_rss_default_key, TN_RSS_KEY_LEN);
	g->rings = calloc((size_t)ncores * ncores, sizeof(*g->rings));
	g->cores = calloc(ncores, sizeof(*g->cores));
	if (!g->rings || !g->cores)
		goto fail;
	for (unsigned i = 0; i < ncores; i++)
		g->cores[i].wake_fd = -1;
	for (unsigned i = 0; i < ncores; i++) {
		g->cores[i].wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (g->cores[i].wake_fd < 0)
			goto fail;
		for (unsigned j = 0; j < ncores; j++)
			if (i != j && !(g->rings[i * ncores + j] = tn_ring_new(ring_size)))
				goto fail;
	}
	return g;
fail:
	tn_steer_group_free(g);
	errno = ENOMEM;
	return NULL;
}

void tn_steer_group_free(struct tn_steer_group *g)
{
	if (!g)
		return;
	for (unsigned i = 0; g->rings && i < g->n * g->n; i++) {
		if (!g->rings[i])
			continue;
		void *f;
		while (tn_ring_dequeue_burst(g->rings[i], &f, 1))
			free(f);
		tn_ring_free(g->rings[i]);
	}
	for (unsigned i = 0; g->cores && i < g->n; i++)
		if (g->cores[i].wake_fd >= 0)
			close(g->cores[i].wake_fd);
	free(g->rings);
	free(g->cores);
	free(g);
}

unsigned tn_steer_ncores(const struct tn_steer_group *g) { return g->n; }
const uint8_t *tn_steer_key(const struct tn_steer_group *g) { return g->key; }

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

int tn_steer_pin_port(struct tn_steer_group *g, uint8_t proto, uint16_t port, unsigned core)
{
	if (core >= g->n || (proto != 6 && proto != 17)) {
		errno = EINVAL;
		return -1;
	}
	if (g->npins == TN_STEER_MAX_PINS) {
		errno = ENOSPC;
		return -1;
	}
	g->pins[g->npins++] = (struct steer_pin){.proto = proto, .port = port, .core = (uint16_t)core};
	return 0;
}

/* The core a local port is pinned to, or -1. */
static int pinned(const struct tn_steer_group *g, uint8_t proto, uint16_t local_port)
{
	for (unsigned i = 0; i < g->npins; i++)
		if (g->pins[i].proto == proto && g->pins[i].port == local_port)
			return g->pins[i].core;
	return -1;
}

/* The core of a TCP/UDP flow seen from its local end: a pinned port's
 * core, else the Toeplitz hash's (over the packet as received). */
static int flow_core(const struct tn_steer_group *g, uint8_t proto, uint32_t src, uint32_t dst, uint16_t sport,
		     uint16_t dport, uint16_t local_port)
{
	int pin = g->npins ? pinned(g, proto, local_port) : -1;
	return pin >= 0 ? pin : (int)tn_rss_queue(tn_rss_hash_v4(g->key, src, dst, sport, dport), g->n);
}

/* The core an IPv4 packet belongs to, or -1 for "core 0, not a flow". */
static int classify_ip(const struct tn_steer_group *g, const uint8_t *ip, uint32_t len)
{
	if (len < 20 || ip[0] >> 4 != 4)
		return -1;
	uint32_t ihl = (uint32_t)(ip[0] & 15) * 4;
	if (ihl < 20 || len < ihl)
		return -1;
	uint32_t src = rd32(ip + 12), dst = rd32(ip + 16);
	uint8_t proto = ip[9];
	bool frag = (rd16(ip + 6) & 0x3fff) != 0; /* MF or an offset */
	const uint8_t *l4 = ip + ihl;
	uint32_t l4len = len - ihl;
	if (!frag && (proto == 6 || proto == 17) && l4len >= 4)
		return flow_core(g, proto, src, dst, rd16(l4), rd16(l4 + 2), rd16(l4 + 2));
	if (!frag && proto == 1 && l4len >= 8) {
		uint8_t type = l4[0];
		/* An error quoting one of our packets: that flow's core, found by
		 * hashing the quoted header the way its replies are hashed. */
		if ((type == 3 || type == 4 || type == 5 || type == 11 || type == 12) && l4len >= 8 + 20 + 4) {
			const uint8_t *q = l4 + 8;
			uint32_t qihl = (uint32_t)(q[0] & 15) * 4;
			if (q[0] >> 4 == 4 && qihl >= 20 && l4len >= 8 + qihl + 4 && (q[9] == 6 || q[9] == 17))
				return flow_core(g, q[9], rd32(q + 16), rd32(q + 12), rd16(q + qihl + 2), rd16(q + qihl),
						 rd16(q + qihl));
		}
		return -1; /* echo requests and replies, other ICMP: core 0 */
	}
	if (proto == 1)
		return -1;
	return (int)tn_rss_queue(tn_rss_hash_v4_2t(g->key, src, dst), g->n);
}

int tn_steer_classify(const struct tn_steer_group *g, const uint8_t *frame, uint32_t len)
{
	if (g->n == 1)
		return 0;
	if (g->framing == TN_DEV_L3) {
		int q = classify_ip(g, frame, len);
		return q < 0 ? 0 : q;
	}
	if (len < 14)
		return 0;
	uint16_t type = rd16(frame + 12);
	if (type == 0x0806) /* ARP: a reply (to whichever core asked) to all, a request to core 0 */
		return len >= 22 && rd16(frame + 20) == 2 ? TN_STEER_ALL : 0;
	if (type != 0x0800)
		return 0;
	int q = classify_ip(g, frame + 14, len - 14);
	return q < 0 ? 0 : q;
}

static struct steer_frame *to_blob(const struct tn_pkt *p)
{
	struct steer_frame *f = malloc(sizeof(*f) + p->pkt_len);
	if (!f)
		return NULL;
	f->len = p->pkt_len;
	f->flags = p->flags & (TN_PKT_CSUM_PARTIAL | TN_PKT_CSUM_OK);
	f->gso_size = p->gso_size;
	f->gso_segs = p->gso_segs;
	tn_pkt_copy_out(p, 0, f->data, p->pkt_len);
	return f;
}

static struct tn_pkt *from_blob(struct tn_mempool *mp, const struct steer_frame *f)
{
	/* a large GRO'd or TSO frame is more than one data room */
	struct tn_pkt *p = tn_pkt_from_bytes_chain(mp, f->data, f->len);
	if (!p)
		return NULL;
	p->flags |= f->flags;
	p->gso_size = f->gso_size;
	p->gso_segs = f->gso_segs;
	return p;
}

static void wake(struct steer_core *c)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&c->sleeping, memory_order_relaxed)) {
		uint64_t one = 1;
		ssize_t r = write(c->wake_fd, &one, sizeof(one));
		(void)r;
	}
}

/* Hand p (not freed) to core `to`. */
static void hand_over(struct steer *st, const struct tn_pkt *p, unsigned to)
{
	struct steer_core *me = &st->g->cores[st->core];
	struct steer_frame *f = to_blob(p);
	void *item = f;
	if (!f || tn_ring_enqueue_burst(st->g->rings[st->core * st->g->n + to], &item, 1) != 1) {
		free(f);
		st_add(me, TN_STEER_RING_DROPS, 1);
		return;
	}
	st_add(me, TN_STEER_HANDED, 1);
	wake(&st->g->cores[to]);
}

static unsigned steer_rx(struct tn_dev *d, struct tn_mempool *mp, struct tn_pkt **pkts, unsigned n)
{
	struct steer *st = d->priv;
	struct tn_steer_group *g = st->g;
	struct steer_core *me = &g->cores[st->core];
	unsigned got = 0;
	/* Frames the other cores handed us first. */
	for (unsigned k = 0; k < g->n && got < n; k++) {
		unsigned from = (st->rr + k) % g->n;
		if (from == st->core)
			continue;
		struct tn_ring *r = g->rings[from * g->n + st->core];
		void *item;
		while (got < n && tn_ring_dequeue_burst(r, &item, 1)) {
			struct tn_pkt *p = from_blob(mp, item);
			free(item);
			if (!p) {
				st_add(me, TN_STEER_RING_DROPS, 1);
				continue;
			}
			st_add(me, TN_STEER_RECEIVED, 1);
			d->stats.rx_packets++;
			d->stats.rx_bytes += p->pkt_len;
			pkts[got++] = p;
		}
	}
	st->rr++;
	while (got < n) {
		struct tn_pkt *in[TN_DEV_BURST];
		unsigned want = n - got < TN_DEV_BURST ? n - got : TN_DEV_BURST;
		unsigned m = tn_dev_rx(st->lower, mp, in, want);
		for (unsigned i = 0; i < m; i++) {
			struct tn_pkt *p = in[i];
			uint8_t hdr[14 + 60 + 8 + 60 + 4];
			uint32_t hl = p->pkt_len < sizeof(hdr) ? p->pkt_len : (uint32_t)sizeof(hdr);
			tn_pkt_copy_out(p, 0, hdr, hl);
			int q = tn_steer_classify(g, hdr, hl);
			if (q == TN_STEER_ALL) {
				for (unsigned c = 0; c < g->n; c++)
					if (c != st->core)
						hand_over(st, p, c);
			} else if ((unsigned)q != st->core) {
				hand_over(st, p, (unsigned)q);
				tn_pkt_free(p);
				continue;
			}
			st_add(me, TN_STEER_LOCAL, 1);
			d->stats.rx_packets++;
			d->stats.rx_bytes += p->pkt_len;
			pkts[got++] = p;
		}
		if (m < want)
			break;
	}
	return got;
}

static unsigned steer_tx(struct tn_dev *d, struct tn_pkt **pkts, unsigned n)
{
	struct steer *st = d->priv;
	st->lower->now = d->now;
	unsigned k = tn_dev_tx(st->lower, pkts, n);
	d->stats.tx_packets = st->lower->stats.tx_packets;
	d->stats.tx_bytes = st->lower->stats.tx_bytes;
	d->stats.tx_dropped = st->lower->stats.tx_dropped;
	return k;
}

static bool inbound_waiting(const struct steer *st)
{
	for (unsigned from = 0; from < st->g->n; from++) {
		if (from == st->core)
			continue;
		struct tn_ring *r = st->g->rings[from * st->g->n + st->core];
		if (atomic_load_explicit(&r->head, memory_order_acquire) != atomic_load_explicit(&r->tail, memory_order_relaxed))
			return true;
	}
	return false;
}

static void steer_service(struct tn_dev *d, uint64_t now)
{
	struct steer *st = d->priv;
	st->lower->now = now;
	if (st->lower->ops->service)
		st->lower->ops->service(st->lower, now);
}

static uint64_t steer_next_event(struct tn_dev *d)
{
	struct steer *st = d->priv;
	st->lower->now = d->now;
	if (inbound_waiting(st))
		return d->now;
	return tn_dev_next_event(st->lower);
}

static int steer_fd(struct tn_dev *d) { return tn_dev_fd(((struct steer *)d->priv)->lower); }

static void steer_destroy(struct tn_dev *d)
{
	struct steer *st = d->priv;
	tn_dev_destroy(st->lower);
	atomic_store_explicit(&st->g->cores[st->core].dev, NULL, memory_order_release);
	free(st);
	free(d);
}

static const struct tn_dev_ops steer_ops = {
	.rx_burst = steer_rx,
	.tx_burst = steer_tx,
	.service = steer_service,
	.next_event = steer_next_event,
	.fd = steer_fd,
	.destroy = steer_destroy,
};

struct tn_dev *tn_steer_new(struct tn_steer_group *g, unsigned core, struct tn_dev *lower)
{
	if (!g || !lower || core >= g->n) {
		errno = EINVAL;
		return NULL;
	}
	struct tn_dev *d = calloc(1, sizeof(*d));
	struct steer *st = calloc(1, sizeof(*st));
	if (!d || !st) {
		free(d);
		free(st);
		errno = ENOMEM;
		return NULL;
	}
	struct tn_dev *expect = NULL;
	if (!atomic_compare_exchange_strong(&g->cores[core].dev, &expect, d)) {
		free(d);
		free(st);
		errno = EBUSY;
		return NULL;
	}
	st->g = g;
	st->core = core;
	st->lower = lower;
	d->ops = &steer_ops;
	memcpy(d->name, lower->name, sizeof(d->name));
	d->framing = lower->framing;
	d->mtu = lower->mtu;
	memcpy(d->mac, lower->mac, sizeof(d->mac));
	d->features = lower->features;
	d->priv = st;
	return d;
}

struct tn_dev *tn_steer_lower(const struct tn_dev *d)
{
	return d->ops == &steer_ops ? ((const struct steer *)d->priv)->lower : NULL;
}

void tn_steer_stats(const struct tn_steer_group *g, unsigned core, uint64_t out[TN_STEER_NSTATS])
{
	for (int i = 0; i < TN_STEER_NSTATS; i++)
		out[i] = core < g->n ? atomic_load_explicit(&g->cores[core].st[i], memory_order_relaxed) : 0;
}

int tn_steer_wake_fd(const struct tn_steer_group *g, unsigned core) { return g->cores[core].wake_fd; }

bool tn_steer_may_sleep(struct tn_steer_group *g, unsigned core)
{
	struct steer_core *c = &g->cores[core];
	atomic_store_explicit(&c->sleeping, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	struct tn_dev *d = atomic_load_explicit(&c->dev, memory_order_acquire);
	if (d && inbound_waiting(d->priv)) {
		atomic_store_explicit(&c->sleeping, 0, memory_order_relaxed);
		return false;
	}
	return true;
}

void tn_steer_woke(struct tn_steer_group *g, unsigned core)
{
	struct steer_core *c = &g->cores[core];
	atomic_store_explicit(&c->sleeping, 0, memory_order_relaxed);
	uint64_t v;
	ssize_t r = read(c->wake_fd, &v, sizeof(v));
	(void)r;
}
