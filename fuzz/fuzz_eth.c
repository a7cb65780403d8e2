/* libFuzzer target: the Ethernet parser.  A parse that succeeds must emit
 * the same 14 bytes and re-parse to the same fields; a failure must be the
 * one reason the bytes call for. */
#include <stdlib.h>
#include <string.h>

#include "wire/wire.h"

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tn_eth_hdr h, h2;
	int rc = tn_eth_parse(data, size, &h);
	if (size < TN_ETH_HLEN) {
		CHECK(rc == TN_WIRE_ETRUNC);
		return 0;
	}
	if (tn_get16(data + 12) < 0x0600) {
		CHECK(rc == TN_WIRE_EFORMAT);
		return 0;
	}
	CHECK(rc == TN_ETH_HLEN);
	uint8_t out[TN_ETH_HLEN + 1];
	out[TN_ETH_HLEN] = 0x5a;
	CHECK(tn_eth_emit(&h, out, TN_ETH_HLEN - 1) == 0);
	CHECK(tn_eth_emit(&h, out, sizeof(out)) == TN_ETH_HLEN);
	CHECK(out[TN_ETH_HLEN] == 0x5a);
	CHECK(memcmp(out, data, TN_ETH_HLEN) == 0);
	CHECK(tn_eth_parse(out, TN_ETH_HLEN, &h2) == TN_ETH_HLEN);
	CHECK(memcmp(h.dst, h2.dst, TN_ETH_ALEN) == 0 && memcmp(h.src, h2.src, TN_ETH_ALEN) == 0);
	CHECK(h.type == h2.type);
	CHECK(tn_eth_is_bcast(h.dst) == (memcmp(h.dst, "\xff\xff\xff\xff\xff\xff", 6) == 0));
	CHECK(!tn_eth_is_bcast(h.dst) || tn_eth_is_mcast(h.dst));
	return 0;
}
