/* SHA-256 (FIPS 180-4), for checking transfers end to end in the demo and
 * the tools.  In-tree rather than libcrypto so `make demo` builds on a
 * fresh machine with nothing installed (see docs/DESIGN.md). */
#ifndef TN_SHA256_H
#define TN_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct tn_sha256 {
	uint32_t h[8];
	uint64_t len;       /* bytes so far */
	uint8_t buf[64];
	uint32_t used;
};

void tn_sha256_init(struct tn_sha256 *c);
void tn_sha256_update(struct tn_sha256 *c, const void *data, size_t len);
void tn_sha256_final(struct tn_sha256 *c, uint8_t out[32]);
/* Lower-case hex of a digest; out holds 65 bytes. */
void tn_sha256_hex(const uint8_t d[32], char out[65]);

#endif
