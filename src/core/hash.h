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
/* The finish of a multiplicative hash (splitmix64's fold, multiply,
 * fold): a product's bits only depend on the input bits at or below them,
 * so without it the low bits a table mask keeps never see the high half of
 * what was multiplied. */
static inline uint32_t tn_hash_fold32(uint64_t x)
{
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	return (uint32_t)(x ^ (x >> 32));
}
static inline uint32_t tn_hash2(uint64_t key, uint64_t a, uint64_t b)
{
	return (uint32_t)tn_hash_mix(tn_hash_mix(a ^ key) ^ (b + key));
}

#endif
