/* SYN cookies (RFC 4987 3.6), in Linux's encoding: when the SYN queue is
 * full the listener keeps no state for a SYN; its SYN-ACK's sequence number
 * is
 *
 *   H1(4-tuple) + peer ISN + (minute << 24) + ((H2(4-tuple, minute) + mss index) mod 2^24)
 *
 * and the ACK that completes the handshake gives it back (ack - 1).  The
 * minute counter bounds a cookie's life to two minutes; the MSS is one of
 * four values.  With timestamps, the low six bits of our TSval carry the
 * peer's window scale and SACK-permitted, returned in the ACK's TSecr. */
#include "core/hash.h"
#include "core/stack.h"
#include "tcp/tcp_int.h"

#define COOKIE_BITS 24
#define COOKIE_MASK ((1u << COOKIE_BITS) - 1)
#define COOKIE_MAX_AGE 2 /* minutes */
#define TS_OPT_BITS 6
#define TS_OPT_MASK ((1u << TS_OPT_BITS) - 1)
#define TS_NO_WSCALE 0xf
#define TS_SACK (1u << 4)

/* Linux's msstab for IPv4: the common MSS values, smallest first. */
static const uint16_t cookie_mss[] = {536, 1300, 1440, 1460};

static uint32_t tuple_hash(const struct tn_stack *s, const struct tn_tcp_seg *g, uint32_t minute, int which)
{
	uint64_t addrs = (uint64_t)g->src << 32 | g->dst;
	uint64_t ports = (uint64_t)g->h.sport << 48 | (uint64_t)g->h.dport << 32 | minute;
	return tn_hash2(s->tcp.cookie_key[which], addrs, ports);
}

static uint32_t minute_now(const struct tn_stack *s) { return (uint32_t)(s->now / 60000000000ull); }

uint32_t tn_tcp_cookie_make(struct tn_stack *s, const struct tn_tcp_seg *syn, uint16_t *mss)
{
	uint32_t idx = 0;
	for (uint32_t i = 0; i < sizeof(cookie_mss) / sizeof(cookie_mss[0]); i++)
		if (cookie_mss[i] <= *mss)
			idx = i;
	*mss = cookie_mss[idx];
	uint32_t minute = minute_now(s);
	return tuple_hash(s, syn, 0, 0) + syn->h.seq + (minute << COOKIE_BITS) +
	       ((tuple_hash(s, syn, minute, 1) + idx) & COOKIE_MASK);
}

uint16_t tn_tcp_cookie_check(struct tn_stack *s, const struct tn_tcp_seg *ack)
{
	uint32_t peer_isn = ack->h.seq - 1, cookie = ack->h.ack - 1;
	uint32_t v = cookie - (tuple_hash(s, ack, 0, 0) + peer_isn);
	uint32_t now = minute_now(s);
	uint32_t age = (now - (v >> COOKIE_BITS)) & (0xffffffffu >> COOKIE_BITS);
	if (age >= COOKIE_MAX_AGE)
		return 0;
	uint32_t idx = (v - tuple_hash(s, ack, now - age, 1)) & COOKIE_MASK;
	return idx < sizeof(cookie_mss) / sizeof(cookie_mss[0]) ? cookie_mss[idx] : 0;
}

uint32_t tn_tcp_cookie_tsval(struct tn_stack *s, uint8_t peer_wscale, bool sack)
{
	uint32_t opts = (peer_wscale == 0xff ? TS_NO_WSCALE : (peer_wscale & 0xf)) | (sack ? TS_SACK : 0);
	uint32_t now = tn_tcp_ts_now(s);
	uint32_t ts = (now & ~TS_OPT_MASK) | opts;
	if (ts > now) /* never a TSval ahead of our clock: step back one unit */
		ts = (((now >> TS_OPT_BITS) - 1) << TS_OPT_BITS) | opts;
	return ts;
}

void tn_tcp_cookie_ts_decode(uint32_t tsecr, uint8_t *peer_wscale, bool *sack)
{
	uint32_t ws = tsecr & 0xf;
	*peer_wscale = ws == TS_NO_WSCALE ? 0xff : (uint8_t)(ws > 14 ? 14 : ws);
	*sack = tsecr & TS_SACK;
}
