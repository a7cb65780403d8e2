/* The Internet checksum (RFC 1071) and its incremental update (RFC 1624). */
#ifndef TN_CSUM_H
#define TN_CSUM_H

#include <stddef.h>
#include <stdint.h>

struct tn_pkt;

/* One's-complement sum of a byte range, folded to 32 bits, added to `sum`.
 * Bytes are taken in network order; an odd tail is padded with zero. */
uint32_t tn_csum_partial(const void *data, size_t len, uint32_t sum);
/* Sum over bytes [off, off+len) of a packet chain; odd segment boundaries
 * are handled. */
uint32_t tn_csum_pkt(const struct tn_pkt *p, uint32_t off, uint32_t len, uint32_t sum);
/* Fill in the TCP or UDP checksum a packet marked TN_PKT_CSUM_PARTIAL left
 * undone, and clear the mark: the software fallback for a device that does
 * not take such packets (Linux's skb_checksum_help).  The IPv4 header is at
 * p->l3_off and the L4 header in the first segment. */
void tn_csum_finish(struct tn_pkt *p);
/* Fold to 16 bits and complement: the value to put in a checksum field. */
static inline uint16_t tn_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}
/* Checksum of a byte range as it goes on the wire (host-order value). */
static inline uint16_t tn_csum(const void *data, size_t len)
{
	return tn_csum_fold(tn_csum_partial(data, len, 0));
}
/* IPv4 pseudo-header sum for TCP/UDP (addresses in host order). */
static inline uint32_t tn_csum_pseudo4(uint32_t src, uint32_t dst, uint8_t proto, uint32_t len)
{
	return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + len;
}
/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for a 16-bit field change. */
static inline uint16_t tn_csum_update16(uint16_t check, uint16_t old, uint16_t new_)
{
	uint32_t s = (uint16_t)~check + (uint32_t)(uint16_t)~old + new_;
	return tn_csum_fold(s);
}
static inline uint16_t tn_csum_update32(uint16_t check, uint32_t old, uint32_t new_)
{
	check = tn_csum_update16(check, (uint16_t)(old >> 16), (uint16_t)(new_ >> 16));
	return tn_csum_update16(check, (uint16_t)old, (uint16_t)new_);
}

#endif
