/* Injected randomness: a per-stack xoshiro256** generator, seeded from the
 * configuration (tests) or the OS (tools). */
#ifndef TN_RAND_H
#define TN_RAND_H

#include <stdint.h>

struct tn_rand {
	uint64_t s[4];
};

static inline uint64_t tn_splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}
static inline void tn_rand_seed(struct tn_rand *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = tn_splitmix64(&seed);
}
static inline uint64_t tn_rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static inline uint64_t tn_rand_u64(struct tn_rand *r)
{
	uint64_t *s = r->s;
	uint64_t result = tn_rotl64(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = tn_rotl64(s[3], 45);
	return result;
}
/* Uniform in [0, n) (n > 0), without modulo bias worth caring about. */
static inline uint32_t tn_rand_below(struct tn_rand *r, uint32_t n)
{
	return (uint32_t)(((tn_rand_u64(r) >> 32) * (uint64_t)n) >> 32);
}
/* Uniform double in [0, 1). */
static inline double tn_rand_double(struct tn_rand *r)
{
	return (double)(tn_rand_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

#endif
