/* SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed 64-bit PRF for
 * short inputs, as Linux uses it for TCP Fast Open cookies. */
#ifndef TN_SIPHASH_H
#define TN_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/* The 64-bit tag of `len` bytes under a 16-byte key; the reference
 * implementation's output is this value's little-endian bytes. */
uint64_t tn_siphash24(const uint8_t key[16], const void *data, size_t len);

#endif
