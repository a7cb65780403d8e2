/* libFuzzer target: the ICMP header parser, the quoted IPv4 header inside
 * error messages, and the message checksum over odd lengths. */
#include <stdlib.h>
#include <string.h>

#include "wire/csum.h"
#include "wire/wire.h"

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

/* The quoted header: whatever parse_quoted accepts lies inside the bytes,
 * and agrees with the full parser whenever that one accepts too. */
static void check_quoted(const uint8_t *q, size_t n)
{
	struct tn_ipv4_hdr h, full;
	int ihl = tn_ipv4_parse_quoted(q, n, &h);
	if (ihl < 0) {
		CHECK(tn_ipv4_parse(q, n, &full) < 0);
		return;
	}
	CHECK(ihl >= TN_IPV4_HLEN && ihl <= TN_IPV4_MAX_HLEN && (size_t)ihl <= n && ihl % 4 == 0);
	CHECK(h.ihl == ihl && h.optlen == ihl - TN_IPV4_HLEN && !h.has_srcroute);
	CHECK(h.src == tn_get32(q + 12) && h.dst == tn_get32(q + 16) && h.proto == q[9]);
	CHECK(memcmp(h.opts, q + TN_IPV4_HLEN, h.optlen) == 0);
	if (tn_ipv4_parse(q, n, &full) > 0)
		CHECK(full.ihl == h.ihl && full.tot_len == h.tot_len && full.id == h.id &&
		      full.frag_off == h.frag_off && full.src == h.src && full.dst == h.dst);
}

/* Fill in the checksum of a copy of the message: it must then verify. */
static void check_message_csum(const uint8_t *data, size_t size)
{
	uint8_t *m = malloc(size);
	CHECK(m != NULL);
	memcpy(m, data, size);
	tn_put16(m + 2, 0);
	uint16_t c = tn_csum(m, size);
	tn_put16(m + 2, c);
	CHECK(tn_csum(m, size) == 0);
	free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tn_icmp_hdr ic, ic2;
	int rc = tn_icmp_parse(data, size, &ic);
	if (size < TN_ICMP_HLEN) {
		CHECK(rc == TN_WIRE_ETRUNC);
		return 0;
	}
	CHECK(rc == TN_ICMP_HLEN);
	uint8_t out[TN_ICMP_HLEN + 1];
	out[TN_ICMP_HLEN] = 0x5a;
	CHECK(tn_icmp_emit(&ic, out, TN_ICMP_HLEN - 1) == 0);
	CHECK(tn_icmp_emit(&ic, out, sizeof(out)) == TN_ICMP_HLEN);
	CHECK(out[TN_ICMP_HLEN] == 0x5a);
	CHECK(memcmp(out, data, TN_ICMP_HLEN) == 0);
	CHECK(tn_icmp_parse(out, TN_ICMP_HLEN, &ic2) == TN_ICMP_HLEN);
	CHECK(ic2.type == ic.type && ic2.code == ic.code && ic2.check == ic.check && ic2.rest == ic.rest);
	if (tn_icmp_is_error(ic.type))
		check_quoted(data + TN_ICMP_HLEN, size - TN_ICMP_HLEN);
	check_message_csum(data, size);
	return 0;
}
