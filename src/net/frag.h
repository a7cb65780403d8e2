/* IPv4 fragmentation (output) and reassembly (input), with Linux's limits:
 * reassembly memory between ipfrag_low_thresh and ipfrag_high_thresh, an
 * ipfrag_time timeout (ICMP time exceeded, code 1, if the first fragment
 * came), overlapping fragments discard the whole datagram (exact duplicates
 * are just dropped), datagrams over 65535 bytes are dropped. */
#ifndef TN_FRAG_H
#define TN_FRAG_H

#include <stdint.h>

#include "core/pkt.h"
#include "core/timer.h"

struct tn_stack;

struct tn_frag_queue {
	uint32_t src, dst;
	uint16_t id;
	uint8_t proto;
	uint8_t have_last;       /* the MF=0 fragment arrived */
	uint32_t total_len;      /* payload length, known once have_last */
	uint32_t received;       /* payload bytes held */
	uint32_t truesize;       /* memory charged */
	int ifindex;             /* of the last fragment (for ICMP) */
	struct tn_pkt *frags;    /* sorted by offset, linked through qnext */
	struct tn_timer timer;
	struct tn_frag_queue *next; /* hash chain */
	struct tn_frag_queue *lru_prev, *lru_next; /* eviction order */
};

struct tn_frag_table {
	struct tn_frag_queue **buckets;
	uint32_t nbuckets;
	uint32_t count;
	uint64_t mem;            /* bytes charged across all queues */
	uint64_t hash_key;
	struct tn_frag_queue *lru_head, *lru_tail; /* oldest first */
};

void tn_frag_init(struct tn_frag_table *ft, uint64_t hash_key);
void tn_frag_destroy(struct tn_stack *s);

/* Reassembly input: pkt->data at the IP header of a fragment (header
 * already validated, trimmed to tot_len).  Returns NULL while the datagram
 * is incomplete (the fragment is kept or dropped and counted); returns the
 * whole datagram when complete: the first fragment's IP header (tot_len and
 * frag_off fixed, checksum recomputed) followed by the payload as a chain.
 * Consumes pkt. */
struct tn_pkt *tn_frag_reasm(struct tn_stack *s, struct tn_pkt *pkt);

/* Fragment pkt (data at the IP header, tot_len larger than mtu) into
 * fragments of at most mtu bytes, each handed to out(s, frag, arg).
 * Returns 0 or a negative errno (the rest is dropped and counted as
 * FragFails).  Consumes pkt. */
int tn_frag_output(struct tn_stack *s, struct tn_pkt *pkt, uint32_t mtu,
		   void (*out)(struct tn_stack *s, struct tn_pkt *frag, void *arg), void *arg);

#endif
