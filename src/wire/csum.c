#include "wire/csum.h"

#include "core/pkt.h"

uint32_t tn_csum_partial(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;
	uint64_t s = sum;
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		/* Sum big-endian 16-bit words: add the 4 words of w byte-swapped. */
		w = __builtin_bswap64(w);
		s += (w >> 48) + ((w >> 32) & 0xffff) + ((w >> 16) & 0xffff) + (w & 0xffff);
		p += 8;
		len -= 8;
	}
	while (len >= 2) {
		s += (uint32_t)p[0] << 8 | p[1];
		p += 2;
		len -= 2;
	}
	if (len)
		s += (uint32_t)p[0] << 8;
	while (s >> 32)
		s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint32_t)s;
}

uint32_t tn_csum_pkt(const struct tn_pkt *p, uint32_t off, uint32_t len, uint32_t sum)
{
	int odd = 0; /* bytes summed so far is odd: next segment starts mid-word */
	uint64_t acc = sum; /* wide, so a caller's unfolded sum cannot overflow */
	for (const struct tn_pkt *s = p; s && len; s = s->next) {
		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		uint32_t take = s->len - off;
		if (take > len)
			take = len;
		uint32_t part = tn_csum_partial(s->data + off, take, 0);
		if (odd) /* byte-swap the partial sum to shift it by one byte */
			part = ((part & 0xff) << 8) | ((part >> 8) & 0xff) | (part & 0xffff0000u);
		acc += part;
		odd ^= (int)(take & 1);
		len -= take;
		off = 0;
	}
	while (acc >> 16) /* folded like tn_csum_partial's result */
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint32_t)acc;
}
