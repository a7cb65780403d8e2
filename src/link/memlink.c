/* memlink: two devices joined back to back in one process.  Each direction
 * is a single-producer/single-consumer ring of frame slots; frames are
 * copied in on transmit and out on receive, as a wire would, so each end's
 * packet buffers stay in its own stack's pool and the two ends may run on
 * different threads.
 *
 * A memlink takes large TCP segments whole (TN_DEV_F_TSO), as Linux's veth
 * and loopback pass GSO packets: such a frame fills as many consecutive
 * slots as its bytes need, the first saying how many and carrying the
 * segment size, like a virtio-net header.  The receiver gets it as one
 * chain, so neither end cuts up or merges anything. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link/dev.h"

#define ML_MIN_MTU 68u    /* the IPv4 minimum */
#define ML_L2_OVERHEAD 18u /* Ethernet header + one VLAN tag */

struct ml_slot {
	uint32_t len;          /* first slot: the whole frame's length */
	uint8_t csum_partial;  /* the sender left the L4 checksum to the link */
	uint8_t nslots;        /* first slot: slots the frame fills */
	uint16_t gso_size;     /* first slot: the large segment's segment size */
	uint16_t gso_segs;
	uint8_t data[TN_PKT_DATAROOM];
};

/* A frame as big as a large segment (IP's 64 KiB plus the link header). */
#define ML_MAX_FRAME (65535u + ML_L2_OVERHEAD)
#define ML_SLOTS_FOR(len) (((len) + TN_PKT_DATAROOM - 1) / TN_PKT_DATAROOM)

/* One direction.  The read-only fields share no cache line with the
 * indices, and each index has its own line, so the two threads only ever
 * contend on the index the other one publishes. */
struct ml_dir {
	uint32_t mask;
	struct ml_slot *slots;
	_Alignas(64) _Atomic uint32_t head; /* written by the producer */
	uint32_t tail_cache;                /* producer's view of tail */
	_Alignas(64) _Atomic uint32_t tail; /* written by the consumer */
	uint32_t head_cache;                /* consumer's view of head */
};

struct ml_shared {
	struct ml_dir dir[2]; /* dir[i]: frames sent by end i */
	_Alignas(64) _Atomic int refs;
};

struct ml_end {
	struct tn_dev dev;
	struct ml_shared *sh;
	int side;
};

static struct ml_dir *tx_dir(struct tn_dev *d)
{
	struct ml_end *e = d->priv;
	return &e->sh->dir[e->side];
}

static struct ml_dir *rx_dir(const struct tn_dev *d)
{
	const struct ml_end *e = d->priv;
	return &e->sh->dir[!e->side];
}

/* Producer side: are the k slots from `head` free?  The consumer's index is
 * re-read only when the cached one says the ring is too full. */
static bool slots_free(struct ml_dir *q, uint32_t head, uint32_t k)
{
	if (head + k - 1 - q->tail_cache <= q->mask)
		return true;
	q->tail_cache = atomic_load_explicit(&q->tail, memory_order_acquire);
	return head + k - 1 - q->tail_cache <= q->mask;
}

/* Copy a frame into k slots from `head`; -1 if its segments disagree with
 * its length. */
static int frame_to_slots(struct ml_dir *q, uint32_t head, const struct tn_pkt *p, uint32_t k)
{
	for (uint32_t i = 0; i < k; i++) {
		uint32_t off = i * TN_PKT_DATAROOM, n = p->pkt_len - off;
		if (n > TN_PKT_DATAROOM)
			n = TN_PKT_DATAROOM;
		if (tn_pkt_copy_out(p, off, q->slots[(head + i) & q->mask].data, n) < 0)
			return -1;
	}
	struct ml_slot *s = &q->slots[head & q->mask];
	s->len = p->pkt_len;
	s->nslots = (uint8_t)k;
	s->csum_partial = (p->flags & TN_PKT_CSUM_PARTIAL) != 0;
	s->gso_size = k > 1 ? p->gso_size : 0;
	s->gso_segs = k > 1 ? p->gso_segs : 0;
	return 0;
}

static unsigned ml_tx(struct tn_dev *d, struct tn_pkt **pkts, unsigned n)
{
	struct ml_dir *q = tx_dir(d);
	uint32_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
	unsigned i;
	for (i = 0; i < n; i++) {
		struct tn_pkt *p = pkts[i];
		uint32_t k = ML_SLOTS_FOR(p->pkt_len);
		/* Only a large segment may be bigger than a slot, and no frame
		 * bigger than the ring: retrying would not help. */
		if (p->pkt_len == 0 || (k > 1 && (!p->gso_size || p->pkt_len > ML_MAX_FRAME)) || k > q->mask) {
			d->stats.tx_dropped++;
			tn_pkt_free(p);
			continue;
		}
		if (!slots_free(q, head, k))
			break; /* ring full: the caller keeps the rest */
		if (frame_to_slots(q, head, p, k) < 0) {
			d->stats.tx_dropped++; /* pkt_len disagrees with the segments: not a frame */
			tn_pkt_free(p);
			continue;
		}
		d->stats.tx_packets++;
		d->stats.tx_bytes += p->pkt_len;
		tn_pkt_free(p);
		head += k;
	}
	atomic_store_explicit(&q->head, head, memory_order_release);
	return i;
}

/* Consumer side: is there a frame at `tail`? */
static bool frame_ready(struct ml_dir *q, uint32_t tail)
{
	if (q->head_cache != tail)
		return true;
	q->head_cache = atomic_load_explicit(&q->head, memory_order_acquire);
	return q->head_cache != tail;
}

/* The frame at `tail` as a chain of buffers from mp, one per slot; NULL
 * if mp ran out.  The producer published all its slots at once. */
static struct tn_pkt *slots_to_frame(struct ml_dir *q, uint32_t tail, struct tn_mempool *mp)
{
	const struct ml_slot *first = &q->slots[tail & q->mask];
	struct tn_pkt *head = NULL, *last = NULL;
	for (uint32_t i = 0; i < first->nslots; i++) {
		uint32_t off = i * TN_PKT_DATAROOM, len = first->len - off;
		if (len > TN_PKT_DATAROOM)
			len = TN_PKT_DATAROOM;
		struct tn_pkt *p = tn_pkt_alloc(mp);
		if (!p) {
			tn_pkt_free(head);
			return NULL;
		}
		memcpy(tn_pkt_put(p, len), q->slots[(tail + i) & q->mask].data, len);
		if (!head) {
			head = p;
		} else {
			last->next = p;
			head->pkt_len += len;
		}
		last = p;
	}
	return head;
}

static unsigned ml_rx(struct tn_dev *d, struct tn_mempool *mp, struct tn_pkt **pkts, unsigned n)
{
	struct ml_dir *q = rx_dir(d);
	uint32_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
	unsigned got = 0;
	while (got < n && frame_ready(q, tail)) {
		const struct ml_slot *s = &q->slots[tail & q->mask];
		struct tn_pkt *p = slots_to_frame(q, tail, mp);
		if (!p)
			break; /* no buffer: the frame waits in the ring */
		if (s->csum_partial)
			p->flags |= TN_PKT_CSUM_PARTIAL;
		p->gso_size = s->gso_size;
		p->gso_segs = s->gso_segs;
		d->stats.rx_packets++;
		d->stats.rx_bytes += s->len;
		pkts[got++] = p;
		tail += s->nslots;
	}
	atomic_store_explicit(&q->tail, tail, memory_order_release);
	return got;
}

/* Frames waiting to be received mean "run now". */
static uint64_t ml_next_event(struct tn_dev *d)
{
	struct ml_dir *q = rx_dir(d);
	uint32_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
	return atomic_load_explicit(&q->head, memory_order_acquire) != tail ? d->now : UINT64_MAX;
}

/* Nothing to poll: a peer thread's frames are found by polling rx. */
static int ml_fd(struct tn_dev *d)
{
	(void)d;
	return -1;
}

static void shared_free(struct ml_shared *sh)
{
	free(sh->dir[0].slots);
	free(sh->dir[1].slots);
	free(sh);
}

/* The ends may be destroyed on different threads; the last one out frees
 * the wire (frames still in it are plain bytes, not packets). */
static void ml_destroy(struct tn_dev *d)
{
	struct ml_end *e = d->priv;
	struct ml_shared *sh = e->sh;
	free(e);
	if (atomic_fetch_sub_explicit(&sh->refs, 1, memory_order_acq_rel) == 1)
		shared_free(sh);
}

static const struct tn_dev_ops ml_ops = {
	.rx_burst = ml_rx,
	.tx_burst = ml_tx,
	.next_event = ml_next_event,
	.fd = ml_fd,
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
	e->dev.features = TN_DEV_F_CSUM_OFFLOAD | TN_DEV_F_TSO;
	e->dev.priv = e;
	e->dev.framing = framing;
	e->dev.mtu = mtu;
	snprintf(e->dev.name, sizeof(e->dev.name), "%s", name);
	name_mac(name, e->dev.mac);
	return e;
}

static struct ml_shared *shared_new(uint32_t ring_slots)
{
	struct ml_shared *sh = aligned_alloc(64, sizeof(*sh));
	if (!sh)
		return NULL;
	memset(sh, 0, sizeof(*sh));
	atomic_init(&sh->refs, 2);
	for (int i = 0; i < 2; i++) {
		atomic_init(&sh->dir[i].head, 0);
		atomic_init(&sh->dir[i].tail, 0);
		sh->dir[i].mask = ring_slots - 1;
		sh->dir[i].slots = malloc(sizeof(struct ml_slot) * ring_slots);
	}
	if (!sh->dir[0].slots || !sh->dir[1].slots) {
		shared_free(sh);
		return NULL;
	}
	return sh;
}

int tn_memlink_pair(const char *name_a, const char *name_b, enum tn_dev_framing framing,
		    uint32_t mtu, uint32_t ring_slots, struct tn_dev **a, struct tn_dev **b)
{
	uint32_t l2 = framing == TN_DEV_L2 ? ML_L2_OVERHEAD : 0;
	if (ring_slots < 2 || ring_slots > (1u << 24) || (ring_slots & (ring_slots - 1)))
		return -EINVAL;
	/* A frame the MTU allows must fit one slot. */
	if (mtu < ML_MIN_MTU || mtu > TN_PKT_DATAROOM - l2)
		return -EINVAL;
	struct ml_shared *sh = shared_new(ring_slots);
	if (!sh)
		return -ENOMEM;
	struct ml_end *ea = ml_end_new(sh, 0, name_a, framing, mtu);
	struct ml_end *eb = ml_end_new(sh, 1, name_b, framing, mtu);
	if (!ea || !eb) {
		shared_free(sh);
		free(ea);
		free(eb);
		return -ENOMEM;
	}
	*a = &ea->dev;
	*b = &eb->dev;
	return 0;
}
