#include "wire/csum.h"

#include <string.h>

#include "core/pkt.h"

/* RFC 1071 2(B): the ones' complement sum does not depend on byte order.
 * Add native 32-bit words into 64 bits (32 bytes a turn, no shifts or
 * swaps in the loop), fold to 16 bits, and swap once at the end. */
uint32_t tn_csum_partial(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;
	uint64_t s = 0;
	while (len >= 32) {
		uint32_t w[8];
		memcpy(w, p, 32);
		s += (uint64_t)w[0] + w[1] + w[2] + w[3] + w[4] + w[5] + w[6] + w[7];
		p += 32;
		len -= 32;
	}
	while (len >= 4) {
		uint32_t w;
		memcpy(&w, p, 4);
		s += w;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t w;
		memcpy(&w, p, 2);
		s += w;
		p += 2;
		len -= 2;
	}
	if (len) { /* the last byte is the high half of a big-endian word */
		uint8_t last[2] = {p[0], 0};
		uint16_t w;
		memcpy(&w, last, 2);
		s += w;
	}
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	s = ((s & 0xff) << 8) | (s >> 8);
#endif
	s += sum;
	while (s >> 16)
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

void tn_csum_finish(struct tn_pkt *p)
{
	if (!(p->flags & TN_PKT_CSUM_PARTIAL))
		return;
	p->flags &= ~(uint32_t)TN_PKT_CSUM_PARTIAL;
	uint8_t *ip = p->buf + p->l3_off;
	if (ip < p->data || ip + 20 > p->data + p->len)
		return;
	uint32_t ihl = (uint32_t)(ip[0] & 0xf) * 4, tot = (uint32_t)ip[2] << 8 | ip[3];
	uint32_t l4 = (uint32_t)(ip - p->data) + ihl, field = ip[9] == 6 ? 16 : ip[9] == 17 ? 6 : 0;
	if (!field || tot < ihl || l4 + field + 2 > p->len || l4 + (tot - ihl) > p->pkt_len)
		return;
	uint32_t src = (uint32_t)ip[12] << 24 | (uint32_t)ip[13] << 16 | (uint32_t)ip[14] << 8 | ip[15];
	uint32_t dst = (uint32_t)ip[16] << 24 | (uint32_t)ip[17] << 16 | (uint32_t)ip[18] << 8 | ip[19];
	uint8_t *f = p->data + l4 + field;
	f[0] = f[1] = 0;
	uint16_t c = tn_csum_fold(tn_csum_pkt(p, l4, tot - ihl, tn_csum_pseudo4(src, dst, ip[9], tot - ihl)));
	if (ip[9] == 17 && c == 0)
		c = 0xffff; /* RFC 768: a computed zero is sent as all ones */
	f[0] = (uint8_t)(c >> 8);
	f[1] = (uint8_t)c;
}
