/* Keyed hashing for the stack's tables.  The key is per-stack random so an
 * attacker cannot aim many flows at one bucket. */
#ifndef TN_HASH_H
#define TN_HASH_H

#include <stdint.h>

static inline uint64_t tn_hash_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}
static inline uint32_t tn_hash2(uint64_t key, uint64_t a, uint64_t b)
{
	return (uint32_t)tn_hash_mix(tn_hash_mix(a ^ key) ^ (b + key));
}

#endif
