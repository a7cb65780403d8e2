/* Single-producer/single-consumer ring of pointers.  Cores exchange work only
 * through these; the producer owns `head`, the consumer owns `tail`, and each
 * caches the other's index so the shared cache lines are touched once per
 * burst rather than once per item. */
#ifndef TN_RING_H
#define TN_RING_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

struct tn_ring {
	_Alignas(64) _Atomic uint32_t head; /* written by the producer */
	uint32_t tail_cache;
	_Alignas(64) _Atomic uint32_t tail; /* written by the consumer */
	uint32_t head_cache;
	_Alignas(64) uint32_t mask;
	void *slots[];
};

/* size must be a power of two; NULL otherwise or on allocation failure. */
static inline struct tn_ring *tn_ring_new(uint32_t size)
{
	if (size < 2 || (size & (size - 1)))
		return NULL;
	struct tn_ring *r = aligned_alloc(64, (sizeof(*r) + sizeof(void *) * size + 63) & ~(size_t)63);
	if (!r)
		return NULL;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	r->tail_cache = r->head_cache = 0;
	r->mask = size - 1;
	return r;
}
static inline void tn_ring_free(struct tn_ring *r) { free(r); }

/* Producer: enqueue up to n items; returns how many were enqueued. */
static inline unsigned tn_ring_enqueue_burst(struct tn_ring *r, void *const *items, unsigned n)
{
	uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t free_slots = r->mask + 1 - (head - r->tail_cache);
	if (free_slots < n) {
		r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
		free_slots = r->mask + 1 - (head - r->tail_cache);
		if (n > free_slots)
			n = free_slots;
	}
	for (unsigned i = 0; i < n; i++)
		r->slots[(head + i) & r->mask] = items[i];
	atomic_store_explicit(&r->head, head + n, memory_order_release);
	return n;
}

/* Consumer: dequeue up to n items; returns how many were dequeued. */
static inline unsigned tn_ring_dequeue_burst(struct tn_ring *r, void **items, unsigned n)
{
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint32_t avail = r->head_cache - tail;
	if (avail < n) {
		r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
		avail = r->head_cache - tail;
		if (n > avail)
			n = avail;
	}
	for (unsigned i = 0; i < n; i++)
		items[i] = r->slots[(tail + i) & r->mask];
	atomic_store_explicit(&r->tail, tail + n, memory_order_release);
	return n;
}

static inline unsigned tn_ring_count(struct tn_ring *r)
{
	return atomic_load_explicit(&r->head, memory_order_acquire) -
	       atomic_load_explicit(&r->tail, memory_order_acquire);
}

#endif
