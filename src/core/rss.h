/* Receive-side scaling: the Toeplitz hash of the Microsoft RSS
 * specification (what NICs compute to spread flows over queues), the
 * queue a hash selects, and the choice of a source port that brings a
 * connection's replies back to the queue that opened it.
 *
 * Inputs are in host byte order; the hash is over the fields in network
 * order, as the specification lays them out: source address, destination
 * address, then source port and destination port (the 4-tuple) or the
 * addresses alone (the 2-tuple). */
#ifndef TN_RSS_H
#define TN_RSS_H

#include <stddef.h>
#include <stdint.h>

#define TN_RSS_KEY_LEN 40
/* Entries in the indirection table a queue is looked up in (as ixgbe,
 * i40e and Linux's ethtool default: entry i holds queue i % nqueues). */
#define TN_RSS_RETA_SIZE 128u

/* The specification's default key (also Linux's and DPDK's test key). */
extern const uint8_t tn_rss_default_key[TN_RSS_KEY_LEN];

/* Toeplitz hash of len bytes (at most TN_RSS_KEY_LEN - 4 = 36, an IPv6
 * 4-tuple) under a 40-byte key. */
uint32_t tn_rss_hash(const uint8_t key[TN_RSS_KEY_LEN], const uint8_t *data, size_t len);
/* IPv4 with TCP or UDP ports: the 4-tuple. */
uint32_t tn_rss_hash_v4(const uint8_t key[TN_RSS_KEY_LEN], uint32_t src, uint32_t dst, uint16_t sport,
			uint16_t dport);
/* IPv4 addresses only: the 2-tuple (fragments, other protocols). */
uint32_t tn_rss_hash_v4_2t(const uint8_t key[TN_RSS_KEY_LEN], uint32_t src, uint32_t dst);

/* The queue a hash lands on through the default indirection table:
 * (hash mod TN_RSS_RETA_SIZE) mod nqueues.  0 if nqueues is 0. */
static inline unsigned tn_rss_queue(uint32_t hash, unsigned nqueues)
{
	return nqueues ? (hash % TN_RSS_RETA_SIZE) % nqueues : 0;
}

/* For a connection we open from src to dst:dport, a source port at or
 * after start_port (wrapping past 65535 to 1) such that the replies,
 * which arrive as dst:dport -> src:port and are hashed that way, land on
 * `queue` of nqueues.  0 if there is none (queue >= nqueues, or no
 * port maps there under this key). */
uint16_t tn_rss_pick_port(const uint8_t key[TN_RSS_KEY_LEN], uint32_t src, uint32_t dst, uint16_t dport,
			  unsigned nqueues, unsigned queue, uint16_t start_port);

#endif
