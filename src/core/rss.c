/* Toeplitz hash (Microsoft RSS specification).  Bit i of the input, most
 * significant bit of each byte first, selects the 32 key bits starting at
 * key bit i; the hash is the XOR of the selected windows.  The window
 * slides one key bit per input bit. */
#include "core/rss.h"

const uint8_t tn_rss_default_key[TN_RSS_KEY_LEN] = {
	0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
	0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
	0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

uint32_t tn_rss_hash(const uint8_t key[TN_RSS_KEY_LEN], const uint8_t *data, size_t len)
{
	if (len > TN_RSS_KEY_LEN - 4)
		len = TN_RSS_KEY_LEN - 4;
	uint32_t hash = 0;
	/* window: key bits [i, i+32); next: the following 8 key bits */
	uint32_t window = (uint32_t)key[0] << 24 | (uint32_t)key[1] << 16 | (uint32_t)key[2] << 8 | key[3];
	for (size_t i = 0; i < len; i++) {
		uint8_t next = key[i + 4];
		for (int b = 7; b >= 0; b--) {
			if (data[i] >> b & 1)
				hash ^= window;
			window = window << 1 | (uint32_t)(next >> b & 1);
		}
	}
	return hash;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

uint32_t tn_rss_hash_v4(const uint8_t key[TN_RSS_KEY_LEN], uint32_t src, uint32_t dst, uint16_t sport,
			uint16_t dport)
{
	uint8_t in[12];
	put32(in, src);
	put32(in + 4, dst);
	put32(in + 8, (uint32_t)sport << 16 | dport);
	return tn_rss_hash(key, in, sizeof(in));
}

uint32_t tn_rss_hash_v4_2t(const uint8_t key[TN_RSS_KEY_LEN], uint32_t src, uint32_t dst)
{
	uint8_t in[8];
	put32(in, src);
	put32(in + 4, dst);
	return tn_rss_hash(key, in, sizeof(in));
}

uint16_t tn_rss_pick_port(const uint8_t key[TN_RSS_KEY_LEN], uint32_t src, uint32_t dst, uint16_t dport,
			  unsigned nqueues, unsigned queue, uint16_t start_port)
{
	if (queue >= nqueues)
		return 0;
	uint32_t port = start_port ? start_port : 1;
	for (uint32_t tries = 0; tries < 65535; tries++) {
		/* the reply: from dst:dport to src:port */
		if (tn_rss_queue(tn_rss_hash_v4(key, dst, src, dport, (uint16_t)port), nqueues) == queue)
			return (uint16_t)port;
		port = port == 65535 ? 1 : port + 1;
	}
	return 0;
}
