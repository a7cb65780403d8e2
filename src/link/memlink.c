/* memlink: two devices joined back to back in one process.  Each direction
 * is a single-producer/single-consumer ring of frame slots; frames are
 * copied in on transmit and out on receive, as a wire would, so each end's
 * packet buffers stay in its own stack's pool. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link/dev.h"

struct ml_slot {
	uint32_t len;
	uint8_t data[TN_PKT_DATAROOM];
};

struct ml_dir {
	_Alignas(64) _Atomic uint32_t head; /* producer */
	_Alignas(64) _Atomic uint32_t tail; /* consumer */
	uint32_t mask;
	struct ml_slot *slots;
};

struct ml_shared {
	struct ml_dir dir[2];   /* dir[i]: frames sent by end i */
	_Atomic int refs;
};

struct ml_end {
	struct tn_dev dev;
	struct ml_shared *sh;
	int side;
};

static unsigned ml_tx(struct tn_dev *d, struct tn_pkt **pkts, unsigned n)
{
	struct ml_end *e = d->priv;
	struct ml_dir *q = &e->sh->dir[e->side];
	uint32_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
	uint32_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
	unsigned i;
	for (i = 0; i < n; i++) {
		struct tn_pkt *p = pkts[i];
		if (p->pkt_len > TN_PKT_DATAROOM) {
			d->stats.tx_dropped++;
			tn_pkt_free(p);
			continue;
		}
		if (head - tail > q->mask)
			break; /* ring full: the caller keeps the rest */
		struct ml_slot *s = &q->slots[head & q->mask];
		tn_pkt_copy_out(p, 0, s->data, p->pkt_len);
		s->len = p->pkt_len;
		d->stats.tx_packets++;
		d->stats.tx_bytes += p->pkt_len;
		tn_pkt_free(p);
		head++;
	}
	atomic_store_explicit(&q->head, head, memory_order_release);
	return i;
}

static unsigned ml_rx(struct tn_dev *d, struct tn_mempool *mp, struct tn_pkt **pkts, unsigned n)
{
	struct ml_end *e = d->priv;
	struct ml_dir *q = &e->sh->dir[!e->side];
	uint32_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
	uint32_t head = atomic_load_explicit(&q->head, memory_order_acquire);
	unsigned got = 0;
	while (got < n && tail != head) {
		struct ml_slot *s = &q->slots[tail & q->mask];
		struct tn_pkt *p = tn_pkt_alloc(mp);
		if (!p)
			break; /* no buffer: the frame waits in the ring */
		memcpy(tn_pkt_put(p, s->len), s->data, s->len);
		d->stats.rx_packets++;
		d->stats.rx_bytes += s->len;
		pkts[got++] = p;
		tail++;
	}
	atomic_store_explicit(&q->tail, tail, memory_order_release);
	return got;
}

/* Frames waiting to be received mean "run now". */
static uint64_t ml_next_event(struct tn_dev *d)
{
	struct ml_end *e = d->priv;
	struct ml_dir *q = &e->sh->dir[!e->side];
	return atomic_load_explicit(&q->head, memory_order_acquire) !=
			       atomic_load_explicit(&q->tail, memory_order_relaxed)
		       ? d->now
		       : UINT64_MAX;
}

static void ml_destroy(struct tn_dev *d)
{
	struct ml_end *e = d->priv;
	struct ml_shared *sh = e->sh;
	free(e);
	if (atomic_fetch_sub(&sh->refs, 1) == 1) {
		free(sh->dir[0].slots);
		free(sh->dir[1].slots);
		free(sh);
	}
}

static const struct tn_dev_ops ml_ops = {
	.rx_burst = ml_rx,
	.tx_burst = ml_tx,
	.next_event = ml_next_event,
	.destroy = ml_destroy,
};

/* A locally administered unicast MAC derived from the name (FNV-1a), so a
 * topology gets the same addresses every run. */
static void name_mac(const char *name, uint8_t mac[6])
{
	uint64_t h = 1469598103934665603ull;
	for (const char *c = name; *c; c++)
		h = (h ^ (uint8_t)*c) * 1099511628211ull;
	mac[0] = 0x02;
	for (int i = 1; i < 6; i++)
		mac[i] = (uint8_t)(h >> (8 * i));
}

static struct ml_end *ml_end_new(struct ml_shared *sh, int side, const char *name,
				 enum tn_dev_framing framing, uint32_t mtu)
{
	struct ml_end *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->sh = sh;
	e->side = side;
	e->dev.ops = &ml_ops;
	e->dev.priv = e;
	e->dev.framing = framing;
	e->dev.mtu = mtu;
	snprintf(e->dev.name, sizeof(e->dev.name), "%s", name);
	name_mac(name, e->dev.mac);
	return e;
}

int tn_memlink_pair(const char *name_a, const char *name_b, enum tn_dev_framing framing,
		    uint32_t mtu, uint32_t ring_slots, struct tn_dev **a, struct tn_dev **b)
{
	uint32_t l2 = framing == TN_DEV_L2 ? 18 : 0; /* Ethernet + a VLAN tag */
	if (ring_slots < 2 || (ring_slots & (ring_slots - 1)) || mtu < 68 || mtu + l2 > TN_PKT_DATAROOM)
		return -EINVAL;
	struct ml_shared *sh = calloc(1, sizeof(*sh));
	if (!sh)
		return -ENOMEM;
	atomic_init(&sh->refs, 2);
	for (int i = 0; i < 2; i++) {
		sh->dir[i].mask = ring_slots - 1;
		sh->dir[i].slots = malloc(sizeof(struct ml_slot) * ring_slots);
	}
	struct ml_end *ea = ml_end_new(sh, 0, name_a, framing, mtu);
	struct ml_end *eb = ml_end_new(sh, 1, name_b, framing, mtu);
	if (!sh->dir[0].slots || !sh->dir[1].slots || !ea || !eb) {
		free(sh->dir[0].slots);
		free(sh->dir[1].slots);
		free(sh);
		free(ea);
		free(eb);
		return -ENOMEM;
	}
	*a = &ea->dev;
	*b = &eb->dev;
	return 0;
}
