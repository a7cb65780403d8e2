/* libFuzzer target: the UDP parser (length field against the bytes there)
 * and the pseudo-header checksum over the datagram. */
#include <stdlib.h>
#include <string.h>

#include "wire/csum.h"
#include "wire/wire.h"

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

/* Fill in the checksum of a copy, as the sender does (0 goes out as
 * 0xffff); the receiver's sum over pseudo header and datagram is then 0. */
static void check_datagram_csum(const uint8_t *data, uint16_t len, uint32_t src, uint32_t dst)
{
	uint8_t *d = malloc(len);
	CHECK(d != NULL);
	memcpy(d, data, len);
	tn_put16(d + 6, 0);
	uint32_t ps = tn_csum_pseudo4(src, dst, TN_IPPROTO_UDP, len);
	uint16_t c = tn_csum_fold(tn_csum_partial(d, len, ps));
	tn_put16(d + 6, c ? c : 0xffff);
	CHECK(tn_csum_fold(tn_csum_partial(d, len, ps)) == 0);
	free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tn_udp_hdr u, u2;
	int rc = tn_udp_parse(data, size, &u);
	if (size < TN_UDP_HLEN) {
		CHECK(rc == TN_WIRE_ETRUNC);
		return 0;
	}
	uint16_t len = tn_get16(data + 4);
	if (len < TN_UDP_HLEN || len > size) {
		CHECK(rc == TN_WIRE_ELEN);
		return 0;
	}
	CHECK(rc == TN_UDP_HLEN && u.len == len);
	uint8_t out[TN_UDP_HLEN + 1];
	out[TN_UDP_HLEN] = 0x5a;
	CHECK(tn_udp_emit(&u, out, TN_UDP_HLEN - 1) == 0);
	CHECK(tn_udp_emit(&u, out, sizeof(out)) == TN_UDP_HLEN);
	CHECK(out[TN_UDP_HLEN] == 0x5a);
	CHECK(memcmp(out, data, TN_UDP_HLEN) == 0);
	/* the datagram cut to its own length parses the same */
	CHECK(tn_udp_parse(data, len, &u2) == TN_UDP_HLEN);
	CHECK(u2.sport == u.sport && u2.dport == u.dport && u2.len == u.len && u2.check == u.check);
	if (len > TN_UDP_HLEN)
		CHECK(tn_udp_parse(data, len - 1u, &u2) == TN_WIRE_ELEN);
	uint32_t src = size >= 16 ? tn_get32(data + size - 8) : 0x0a000001;
	uint32_t dst = size >= 16 ? tn_get32(data + size - 4) : 0x0a000002;
	check_datagram_csum(data, len, src, dst);
	return 0;
}
