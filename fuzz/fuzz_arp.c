/* libFuzzer target: the ARP parser.  Only Ethernet/IPv4 ARP is accepted;
 * an accepted packet must emit back to the same 28 bytes. */
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
	struct tn_arp_hdr a, a2;
	int rc = tn_arp_parse(data, size, &a);
	if (size < TN_ARP_LEN) {
		CHECK(rc == TN_WIRE_ETRUNC);
		return 0;
	}
	static const uint8_t eth_ipv4[6] = {0, 1, 0x08, 0x00, 6, 4};
	if (memcmp(data, eth_ipv4, sizeof(eth_ipv4)) != 0) {
		CHECK(rc == TN_WIRE_EFORMAT);
		return 0;
	}
	CHECK(rc == TN_ARP_LEN);
	uint8_t out[TN_ARP_LEN + 1];
	out[TN_ARP_LEN] = 0x5a;
	CHECK(tn_arp_emit(&a, out, TN_ARP_LEN - 1) == 0);
	CHECK(tn_arp_emit(&a, out, sizeof(out)) == TN_ARP_LEN);
	CHECK(out[TN_ARP_LEN] == 0x5a);
	CHECK(memcmp(out, data, TN_ARP_LEN) == 0);
	CHECK(tn_arp_parse(out, TN_ARP_LEN, &a2) == TN_ARP_LEN);
	CHECK(a2.op == a.op && a2.spa == a.spa && a2.tpa == a.tpa);
	CHECK(memcmp(a2.sha, a.sha, 6) == 0 && memcmp(a2.tha, a.tha, 6) == 0);
	return 0;
}
