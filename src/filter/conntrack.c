/* Connection tracking: the table, the hooks, confirmation and expiry (see
 * conntrack.h; the per-protocol trackers are in ct_proto.c). */
#include "filter/conntrack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/pkt.h"
#include "core/stack.h"
#include "filter/ct_int.h"
#include "filter/nf.h"
#include "wire/csum.h"
#include "wire/wire.h"

#define NS_PER_SEC 1000000000ull

static inline struct tn_ct *at(const struct tn_conntrack *ct, uint32_t idx)
{
	return &ct->chunks[idx >> TN_CT_CHUNK_SHIFT][idx & (TN_CT_CHUNK - 1)];
}

uint32_t tn_ct_index(struct tn_stack *s, const struct tn_ct *e)
{
	struct tn_conntrack *ct = s->ct;
	for (uint32_t c = 0; ct && c < ct->nchunks; c++)
		if (e >= ct->chunks[c] && e < ct->chunks[c] + TN_CT_CHUNK)
			return (c << TN_CT_CHUNK_SHIFT) | (uint32_t)(e - ct->chunks[c]);
	return 0;
}

static inline bool tuple_eq(const struct tn_ct_tuple *a, const struct tn_ct_tuple *b)
{
	return a->src == b->src && a->dst == b->dst && a->sport == b->sport && a->dport == b->dport;
}

static inline uint32_t bucket_of(const struct tn_conntrack *ct, uint8_t proto, const struct tn_ct_tuple *t)
{
	uint64_t a = (uint64_t)t->src << 32 | t->dst;
	uint64_t b = (uint64_t)t->sport << 32 | (uint64_t)t->dport << 8 | proto;
	return tn_hash2(ct->hkey, a, b) & ct->hmask;
}

void tn_ct_invert(uint8_t proto, const struct tn_ct_tuple *t, struct tn_ct_tuple *out)
{
	struct tn_ct_tuple r = {.src = t->dst, .dst = t->src, .sport = t->dport, .dport = t->sport};
	if (proto == TN_IPPROTO_ICMP) {
		/* Queries and their replies: echo 8/0, timestamp 13/14,
		 * information 15/16, address mask 17/18. */
		uint8_t type = (uint8_t)(t->dport >> 8), inv;
		switch (type) {
		case 8: inv = 0; break;
		case 0: inv = 8; break;
		case 13: case 15: case 17: inv = (uint8_t)(type + 1); break;
		case 14: case 16: case 18: inv = (uint8_t)(type - 1); break;
		default: inv = type;
		}
		r.sport = t->sport;
		r.dport = (uint16_t)(inv << 8 | (t->dport & 0xff));
	}
	*out = r;
}

static uint32_t find_idx(const struct tn_conntrack *ct, uint8_t proto, const struct tn_ct_tuple *t,
			 enum tn_ct_dir *dir)
{
	for (uint32_t n = ct->buckets[bucket_of(ct, proto, t)]; n;) {
		struct tn_ct *e = at(ct, n >> 1);
		unsigned d = n & 1;
		if (e->proto == proto && tuple_eq(&e->tuple[d], t)) {
			if (dir)
				*dir = (enum tn_ct_dir)d;
			return n >> 1;
		}
		n = e->hnext[d];
	}
	return 0;
}

struct tn_ct *tn_ct_find(struct tn_stack *s, uint8_t proto, const struct tn_ct_tuple *t, enum tn_ct_dir *dir)
{
	uint32_t idx = s->ct ? find_idx(s->ct, proto, t, dir) : 0;
	return idx ? at(s->ct, idx) : NULL;
}

static void hash_add(struct tn_conntrack *ct, uint32_t idx, unsigned d)
{
	struct tn_ct *e = at(ct, idx);
	uint32_t b = bucket_of(ct, e->proto, &e->tuple[d]);
	e->hnext[d] = ct->buckets[b];
	ct->buckets[b] = idx << 1 | d;
}

static void hash_del(struct tn_conntrack *ct, uint32_t idx, unsigned d)
{
	struct tn_ct *e = at(ct, idx);
	uint32_t node = idx << 1 | d;
	uint32_t *link = &ct->buckets[bucket_of(ct, e->proto, &e->tuple[d])];
	while (*link) {
		if (*link == node) {
			*link = e->hnext[d];
			e->hnext[d] = 0;
			return;
		}
		link = &at(ct, *link >> 1)->hnext[*link & 1];
	}
}

/* ---- expiry: one-second slots, lazily refreshed ---- */

static inline uint64_t exp64(const struct tn_stack *s, const struct tn_ct *e)
{
	uint64_t now = ct_now(s);
	return now + (uint64_t)(int64_t)(int32_t)(e->expires - (uint32_t)now);
}

static void wheel_arm(struct tn_conntrack *ct, uint64_t sec)
{
	uint64_t due = (sec + 1) * NS_PER_SEC;
	if (!tn_timer_pending(&ct->timer) || tn_timer_expiry_ns(&ct->timer) > due)
		tn_timer_arm(&ct->s->wheel, &ct->timer, due);
}

static uint64_t target_slot(struct tn_conntrack *ct, const struct tn_ct *e)
{
	uint64_t sec = exp64(ct->s, e) / TN_CT_HZ;
	if (sec < ct->wheel_cur)
		sec = ct->wheel_cur;
	if (sec > ct->wheel_cur + TN_CT_WHEEL_SLOTS - 1)
		sec = ct->wheel_cur + TN_CT_WHEEL_SLOTS - 1;
	return sec;
}

static void wheel_link(struct tn_conntrack *ct, uint32_t idx)
{
	struct tn_ct *e = at(ct, idx);
	uint64_t sec = target_slot(ct, e);
	uint32_t i = (uint32_t)(sec % TN_CT_WHEEL_SLOTS);
	e->wslot = (uint16_t)i;
	e->tprev = 0;
	e->tnext = ct->wheel[i];
	if (e->tnext)
		at(ct, e->tnext)->tprev = idx;
	ct->wheel[i] = idx;
	wheel_arm(ct, sec);
}

static void wheel_unlink(struct tn_conntrack *ct, uint32_t idx)
{
	struct tn_ct *e = at(ct, idx);
	if (e->wslot == TN_CT_NOSLOT)
		return;
	if (e->tprev)
		at(ct, e->tprev)->tnext = e->tnext;
	else
		ct->wheel[e->wslot] = e->tnext;
	if (e->tnext)
		at(ct, e->tnext)->tprev = e->tprev;
	e->tnext = e->tprev = 0;
	e->wslot = TN_CT_NOSLOT;
}

static void refresh(struct tn_conntrack *ct, uint32_t idx, uint32_t secs)
{
	struct tn_ct *e = at(ct, idx);
	e->expires = (uint32_t)(ct_now(ct->s) + (uint64_t)secs * TN_CT_HZ);
	if (e->wslot == TN_CT_NOSLOT)
		return; /* unconfirmed: linked at confirmation */
	/* Later than its slot: found there and moved on (lazily).  Earlier
	 * (a state with a shorter timeout): move it now. */
	uint32_t want = (uint32_t)(target_slot(ct, e) - ct->wheel_cur);
	uint32_t have = (uint32_t)((e->wslot + TN_CT_WHEEL_SLOTS - ct->wheel_cur % TN_CT_WHEEL_SLOTS) % TN_CT_WHEEL_SLOTS);
	if (want < have) {
		wheel_unlink(ct, idx);
		wheel_link(ct, idx);
	}
}

uint32_t tn_ct_timeout_left(struct tn_stack *s, const struct tn_ct *e)
{
	int32_t left = (int32_t)(e->expires - (uint32_t)ct_now(s));
	return left > 0 ? (uint32_t)left / TN_CT_HZ : 0;
}

/* ---- entries ---- */

static uint32_t ct_alloc(struct tn_conntrack *ct)
{
	uint32_t idx = ct->free_head;
	if (idx) {
		ct->free_head = at(ct, idx)->hnext[0];
	} else {
		if (ct->nalloc >= TN_CT_MAX_ENTRIES)
			return 0;
		if (ct->nalloc >= ct->nchunks * TN_CT_CHUNK) {
			if (ct->nchunks == ct->chunks_cap) {
				uint32_t cap = ct->chunks_cap ? ct->chunks_cap * 2 : 16;
				struct tn_ct **n = realloc(ct->chunks, sizeof(*n) * cap);
				if (!n)
					return 0;
				ct->chunks = n;
				ct->chunks_cap = cap;
			}
			struct tn_ct *c = calloc(TN_CT_CHUNK, sizeof(*c));
			if (!c)
				return 0;
			ct->chunks[ct->nchunks++] = c;
		}
		idx = ct->nalloc++;
	}
	struct tn_ct *e = at(ct, idx);
	memset(e, 0, sizeof(*e));
	e->status = TN_CT_S_USED;
	e->wslot = TN_CT_NOSLOT;
	ct->count++;
	ct->stats.new_++;
	return idx;
}

static void pending_forget(struct tn_conntrack *ct, uint32_t idx)
{
	for (unsigned i = 0; i < TN_CT_PENDING; i++)
		if (ct->pending[i] == idx)
			ct->pending[i] = 0;
}

static void ct_free(struct tn_conntrack *ct, uint32_t idx)
{
	struct tn_ct *e = at(ct, idx);
	if (!(e->status & TN_CT_S_USED))
		return;
	if (ct->destroy)
		ct->destroy(ct->destroy_ctx, ct->s, e);
	if (e->status & TN_CT_S_CONFIRMED) {
		hash_del(ct, idx, 0);
		hash_del(ct, idx, 1);
		wheel_unlink(ct, idx);
	} else {
		pending_forget(ct, idx);
	}
	memset(e, 0, sizeof(*e));
	e->hnext[0] = ct->free_head;
	ct->free_head = idx;
	ct->count--;
	ct->stats.deleted++;
}

void tn_ct_kill(struct tn_stack *s, struct tn_ct *e)
{
	if (s->ct && e)
		ct_free(s->ct, tn_ct_index(s, e));
}

/* An unconfirmed entry waits in the ring for its packet to reach the
 * confirm hook; whatever still sits in the slot we take is from a packet
 * dropped on the way (TN_CT_PENDING new flows ago), and goes. */
static void pending_add(struct tn_conntrack *ct, uint32_t idx)
{
	uint32_t slot = ct->pend_pos++ % TN_CT_PENDING;
	uint32_t old = ct->pending[slot];
	ct->pending[slot] = 0;
	if (old)
		ct_free(ct, old);
	ct->pending[slot] = idx;
}

/* Linux's early_drop: make room by evicting a connection that has not
 * been ASSURED, looking at a few buckets from the new tuple's. */
static bool early_drop(struct tn_conntrack *ct, uint8_t proto, const struct tn_ct_tuple *t)
{
	uint32_t b = bucket_of(ct, proto, t);
	for (unsigned k = 0; k < 8; k++) {
		for (uint32_t n = ct->buckets[(b + k) & ct->hmask]; n;) {
			struct tn_ct *e = at(ct, n >> 1);
			if (!(e->status & TN_CT_S_ASSURED)) {
				ct_free(ct, n >> 1);
				ct->stats.early_drop++;
				return true;
			}
			n = e->hnext[n & 1];
		}
	}
	return false;
}

/* ---- associating a packet ---- */

static bool is_query(uint8_t type)
{
	return type == 8 || type == 13 || type == 15 || type == 17;
}
static bool is_reply(uint8_t type)
{
	return type == 0 || type == 14 || type == 16 || type == 18;
}

/* The L4 part of a tuple from the first bytes of an L4 header (at least 8
 * available).  False for an ICMP type conntrack does not track. */
static bool l4_tuple(uint8_t proto, const uint8_t *l4, struct tn_ct_tuple *t)
{
	switch (proto) {
	case TN_IPPROTO_TCP:
	case TN_IPPROTO_UDP:
		t->sport = tn_get16(l4);
		t->dport = tn_get16(l4 + 2);
		return true;
	case TN_IPPROTO_ICMP:
		if (!is_query(l4[0]) && !is_reply(l4[0]))
			return false;
		t->sport = tn_get16(l4 + 4);
		t->dport = (uint16_t)(l4[0] << 8 | l4[1]);
		return true;
	default:
		t->sport = t->dport = 0;
		return true;
	}
}

static int mark_invalid(struct tn_conntrack *ct, struct tn_pkt *p)
{
	ct->stats.invalid++;
	p->nfct = TN_CT_NFCT(0, TN_CT_INVALID, 0);
	return TN_NF_ACCEPT;
}

/* An ICMP error: RELATED to the flow of the datagram it quotes. */
static int icmp_error(struct tn_stack *s, struct tn_pkt *p, const uint8_t *l4, uint32_t l4avail)
{
	struct tn_conntrack *ct = s->ct;
	struct tn_ipv4_hdr ih;
	if (l4avail < TN_ICMP_HLEN)
		return mark_invalid(ct, p);
	const uint8_t *in = l4 + TN_ICMP_HLEN;
	uint32_t inavail = l4avail - TN_ICMP_HLEN;
	int ihl = tn_ipv4_parse_quoted(in, inavail, &ih);
	if (ihl < 0 || inavail < (uint32_t)ihl + 8 || (ih.frag_off & TN_IP_OFFMASK))
		return mark_invalid(ct, p);
	const uint8_t *il4 = in + ihl;
	/* No errors about errors (RFC 1122 3.2.2). */
	if (ih.proto == TN_IPPROTO_ICMP && tn_icmp_is_error(il4[0]))
		return mark_invalid(ct, p);
	struct tn_ct_tuple t = {.src = ih.src, .dst = ih.dst};
	if (!l4_tuple(ih.proto, il4, &t))
		return mark_invalid(ct, p);
	/* As Linux, look the quoted tuple up inverted: what the error's
	 * sender saw is what the answer to the quoted datagram would be
	 * addressed as, after NAT too (an error about a datagram that left
	 * SNATed quotes its translated source, the reply tuple's destination). */
	struct tn_ct_tuple inv;
	tn_ct_invert(ih.proto, &t, &inv);
	enum tn_ct_dir d = TN_CT_DIR_ORIGINAL;
	uint32_t idx = find_idx(ct, ih.proto, &inv, &d);
	if (!idx) {
		ct->stats.error++;
		p->nfct = TN_CT_NFCT(0, TN_CT_INVALID, 0);
		return TN_NF_ACCEPT;
	}
	ct->stats.found++;
	/* The error goes against the quoted datagram's direction. */
	p->nfct = TN_CT_NFCT(idx, TN_CT_RELATED, d == TN_CT_DIR_REPLY);
	return TN_NF_ACCEPT;
}

static bool csum_bad(struct tn_stack *s, struct tn_pkt *p, const struct tn_nf_state *st, uint8_t proto,
		     uint32_t ihl, uint32_t l4len, uint32_t src, uint32_t dst)
{
	if (st->hook != TN_NF_PRE_ROUTING || !s->sysctl.nf_conntrack_checksum ||
	    (p->flags & (TN_PKT_CSUM_OK | TN_PKT_CSUM_PARTIAL)))
		return false;
	uint32_t sum = 0;
	if (proto == TN_IPPROTO_UDP) {
		if (l4len >= 8 && tn_get16(p->data + ihl + 6) == 0)
			return false; /* no checksum */
		sum = tn_csum_pseudo4(src, dst, proto, l4len);
	} else if (proto == TN_IPPROTO_TCP) {
		sum = tn_csum_pseudo4(src, dst, proto, l4len);
	}
	return tn_csum_fold(tn_csum_pkt(p, ihl, l4len, sum)) != 0;
}

int tn_ct_in(struct tn_stack *s, struct tn_pkt *p, const struct tn_nf_state *st)
{
	struct tn_conntrack *ct = s->ct;
	if (!ct)
		return TN_NF_ACCEPT;
	if (st->hook == TN_NF_LOCAL_IN && p->nfct)
		return TN_NF_ACCEPT; /* seen at PRE_ROUTING (LOCAL_IN sees reassembled datagrams) */
	if (st->hook == TN_NF_PRE_ROUTING && st->in_ifindex == 0 && p->nfct) {
		/* Looped back: tracked at LOCAL_OUT and confirmed already. */
		uint32_t idx = TN_CT_NFCT_IDX(p->nfct);
		if (!idx || (idx < ct->nalloc && p->len >= TN_IPV4_HLEN && (at(ct, idx)->status & TN_CT_S_CONFIRMED) &&
			     at(ct, idx)->proto == p->data[9]))
			return TN_NF_ACCEPT;
	}
	p->nfct = 0;
	/* The headers conntrack reads, in the first segment: IP, and TCP with
	 * options or an ICMP error's quoted IP header and 8 bytes. */
	uint32_t want = p->pkt_len < 136 ? p->pkt_len : 136;
	if (p->len < want)
		(void)tn_pkt_may_pull(p, want);
	const uint8_t *ip = p->data;
	uint32_t avail = p->len;
	if (avail < TN_IPV4_HLEN || (ip[0] >> 4) != 4)
		return mark_invalid(ct, p);
	uint32_t ihl = (uint32_t)(ip[0] & 0xf) * 4, tot = tn_get16(ip + 2);
	if (ihl < TN_IPV4_HLEN || ihl > avail || tot < ihl || tot > p->pkt_len)
		return mark_invalid(ct, p);
	uint8_t proto = ip[9];
	uint32_t src = tn_get32(ip + 12), dst = tn_get32(ip + 16);
	if (tn_get16(ip + 6) & (TN_IP_MF | TN_IP_OFFMASK)) {
		/* Local datagrams are tracked once reassembled (LOCAL_IN);
		 * forwarded fragments pass untracked. */
		if (st->hook == TN_NF_PRE_ROUTING && tn_addr_is_local(s, dst))
			return TN_NF_ACCEPT;
		p->nfct = TN_CT_NFCT(0, TN_CT_UNTRACKED, 0);
		return TN_NF_ACCEPT;
	}
	struct ct_pkt k = {.l4 = ip + ihl, .l4len = tot - ihl};
	k.l4avail = avail - ihl < k.l4len ? avail - ihl : k.l4len;
	struct tn_ct_tuple t = {.src = src, .dst = dst};
	switch (proto) {
	case TN_IPPROTO_TCP:
		if (!tn_ct_tcp_valid(&k))
			return mark_invalid(ct, p);
		break;
	case TN_IPPROTO_UDP:
		if (k.l4avail < 8 || tn_get16(k.l4 + 4) < 8 || tn_get16(k.l4 + 4) > k.l4len)
			return mark_invalid(ct, p);
		break;
	case TN_IPPROTO_ICMP:
		if (k.l4avail < TN_ICMP_HLEN)
			return mark_invalid(ct, p);
		break;
	default:
		break;
	}
	if ((proto == TN_IPPROTO_TCP || proto == TN_IPPROTO_UDP || proto == TN_IPPROTO_ICMP) &&
	    csum_bad(s, p, st, proto, ihl, k.l4len, src, dst))
		return mark_invalid(ct, p);
	if (proto == TN_IPPROTO_ICMP && tn_icmp_is_error(k.l4[0]))
		return icmp_error(s, p, k.l4, k.l4avail);
	if (!l4_tuple(proto, k.l4, &t))
		return mark_invalid(ct, p);

	for (int round = 0; round < 2; round++) {
		enum tn_ct_dir dir = TN_CT_DIR_ORIGINAL;
		uint32_t idx = find_idx(ct, proto, &t, &dir);
		struct tn_ct *e;
		bool fresh = false;
		if (idx) {
			ct->stats.found++;
			e = at(ct, idx);
		} else {
			if (proto == TN_IPPROTO_ICMP && !is_query(k.l4[0]))
				return mark_invalid(ct, p); /* a reply to nothing we saw */
			if (ct->count >= (uint32_t)s->sysctl.nf_conntrack_max && !early_drop(ct, proto, &t)) {
				ct->stats.drop++;
				return TN_NF_DROP; /* "nf_conntrack: table full, dropping packet" */
			}
			idx = ct_alloc(ct);
			if (!idx) {
				ct->stats.drop++;
				return TN_NF_DROP;
			}
			e = at(ct, idx);
			e->proto = proto;
			e->tuple[0] = t;
			tn_ct_invert(proto, &t, &e->tuple[1]);
			if (proto == TN_IPPROTO_TCP && !tn_ct_tcp_new(s, e, &k)) {
				ct_free(ct, idx);
				return mark_invalid(ct, p);
			}
			if (proto == TN_IPPROTO_UDP)
				tn_ct_udp_new(s, e);
			pending_add(ct, idx);
			fresh = true;
		}
		k.dir = dir;
		k.timeout = 0;
		enum ct_verdict v;
		switch (proto) {
		case TN_IPPROTO_TCP: v = tn_ct_tcp_packet(s, e, &k); break;
		case TN_IPPROTO_UDP: v = tn_ct_udp_packet(s, e, &k); break;
		case TN_IPPROTO_ICMP: v = tn_ct_icmp_packet(s, e, &k); break;
		default: v = tn_ct_generic_packet(s, e, &k); break;
		}
		if (v == CT_REPEAT && round == 0) {
			ct_free(ct, idx); /* a reopened connection: start afresh */
			continue;
		}
		if (v == CT_INVALID || v == CT_REPEAT) {
			if (fresh)
				ct_free(ct, idx);
			return mark_invalid(ct, p);
		}
		bool reply = dir == TN_CT_DIR_REPLY;
		enum tn_ct_state state = reply || (e->status & TN_CT_S_SEEN_REPLY) ? TN_CT_ESTABLISHED : TN_CT_NEW;
		if (reply)
			e->status |= TN_CT_S_SEEN_REPLY;
		if (k.timeout)
			refresh(ct, idx, k.timeout);
		if (v == CT_KILL) {
			ct_free(ct, idx);
			idx = 0;
		}
		p->nfct = TN_CT_NFCT(idx, state, reply);
		return TN_NF_ACCEPT;
	}
	return mark_invalid(ct, p);
}

int tn_ct_confirm(struct tn_stack *s, struct tn_pkt *p)
{
	struct tn_conntrack *ct = s->ct;
	uint32_t idx = TN_CT_NFCT_IDX(p->nfct);
	if (!ct || !idx || idx >= ct->nalloc)
		return TN_NF_ACCEPT;
	struct tn_ct *e = at(ct, idx);
	if (!(e->status & TN_CT_S_USED) || (e->status & TN_CT_S_CONFIRMED))
		return TN_NF_ACCEPT;
	pending_forget(ct, idx);
	if (find_idx(ct, e->proto, &e->tuple[0], NULL) || find_idx(ct, e->proto, &e->tuple[1], NULL)) {
		/* Another packet of the same flow got in first. */
		ct_free(ct, idx);
		p->nfct = 0;
		ct->stats.insert_failed++;
		ct->stats.drop++;
		return TN_NF_DROP;
	}
	hash_add(ct, idx, 0);
	hash_add(ct, idx, 1);
	e->status |= TN_CT_S_CONFIRMED;
	wheel_link(ct, idx);
	ct->stats.insert++;
	return TN_NF_ACCEPT;
}

/* ---- what the rule engine and NAT ask ---- */

static struct tn_ct *entry_of(struct tn_stack *s, uint32_t nfct)
{
	struct tn_conntrack *ct = s->ct;
	uint32_t idx = TN_CT_NFCT_IDX(nfct);
	if (!ct || !idx || idx >= ct->nalloc)
		return NULL;
	struct tn_ct *e = at(ct, idx);
	return (e->status & TN_CT_S_USED) ? e : NULL;
}

enum tn_ct_state tn_ct_state_of(struct tn_stack *s, const struct tn_pkt *p, bool *reply)
{
	uint32_t v = p->nfct;
	if (reply)
		*reply = false;
	if (!s->ct || !(v & 7))
		return TN_CT_INVALID;
	if (TN_CT_NFCT_IDX(v) && !entry_of(s, v))
		return TN_CT_INVALID;
	if (reply)
		*reply = (v & 8) != 0;
	return (enum tn_ct_state)((v & 7) - 1);
}

struct tn_ct *tn_ct_get(struct tn_stack *s, const struct tn_pkt *p, enum tn_ct_dir *dir)
{
	struct tn_ct *e = entry_of(s, p->nfct);
	if (e && dir)
		*dir = (p->nfct & 8) ? TN_CT_DIR_REPLY : TN_CT_DIR_ORIGINAL;
	return e;
}

uint32_t *tn_ct_mark(struct tn_stack *s, const struct tn_pkt *p)
{
	struct tn_ct *e = entry_of(s, p->nfct);
	return e ? &e->mark : NULL;
}

bool tn_ct_tuple_taken(struct tn_stack *s, uint8_t proto, const struct tn_ct_tuple *t, const struct tn_ct *ignore)
{
	struct tn_ct *e = tn_ct_find(s, proto, t, NULL);
	return e && e != ignore;
}

int tn_ct_alter_reply(struct tn_stack *s, struct tn_ct *e, const struct tn_ct_tuple *reply)
{
	struct tn_conntrack *ct = s->ct;
	if (!ct)
		return -EINVAL;
	if (tn_ct_tuple_taken(s, e->proto, reply, e))
		return -EEXIST;
	uint32_t idx = tn_ct_index(s, e);
	bool in_table = (e->status & TN_CT_S_CONFIRMED) != 0;
	if (in_table)
		hash_del(ct, idx, 1);
	e->tuple[1] = *reply;
	if (in_table)
		hash_add(ct, idx, 1);
	return 0;
}

/* ---- expiry ---- */

static void ct_gc(void *ctx, struct tn_timer *tm)
{
	struct tn_conntrack *ct = container_of(tm, struct tn_conntrack, timer);
	struct tn_stack *s = ct->s;
	(void)ctx;
	uint64_t now = ct_now(s), sec = now / TN_CT_HZ;
	if (sec > ct->wheel_cur) {
		uint64_t n = sec - ct->wheel_cur;
		if (n > TN_CT_WHEEL_SLOTS)
			n = TN_CT_WHEEL_SLOTS;
		uint32_t due = 0; /* the due slots' entries, chained through tnext */
		for (uint64_t k = 0; k < n; k++) {
			uint32_t i = (uint32_t)((ct->wheel_cur + k) % TN_CT_WHEEL_SLOTS);
			for (uint32_t idx = ct->wheel[i]; idx;) {
				struct tn_ct *e = at(ct, idx);
				uint32_t next = e->tnext;
				e->tnext = due;
				e->tprev = 0;
				e->wslot = TN_CT_NOSLOT;
				due = idx;
				idx = next;
			}
			ct->wheel[i] = 0;
		}
		ct->wheel_cur = sec;
		while (due) {
			struct tn_ct *e = at(ct, due);
			uint32_t next = e->tnext;
			e->tnext = 0;
			if ((int32_t)(e->expires - (uint32_t)now) <= 0)
				ct_free(ct, due);
			else
				wheel_link(ct, due);
			due = next;
		}
	}
	for (uint32_t k = 0; k < TN_CT_WHEEL_SLOTS; k++)
		if (ct->wheel[(ct->wheel_cur + k) % TN_CT_WHEEL_SLOTS]) {
			wheel_arm(ct, ct->wheel_cur + k);
			break;
		}
}

/* ---- on and off ---- */

static enum tn_nf_verdict hook_in(void *priv, struct tn_pkt *p, const struct tn_nf_state *st)
{
	(void)priv;
	return (enum tn_nf_verdict)tn_ct_in(st->s, p, st);
}

static enum tn_nf_verdict hook_confirm(void *priv, struct tn_pkt *p, const struct tn_nf_state *st)
{
	(void)priv;
	return (enum tn_nf_verdict)tn_ct_confirm(st->s, p);
}

static const struct tn_nf_hook_ops ct_ops[] = {
	{hook_in, NULL, TN_NF_PRE_ROUTING, TN_NF_PRI_CONNTRACK},
	{hook_in, NULL, TN_NF_LOCAL_OUT, TN_NF_PRI_CONNTRACK},
	{hook_in, NULL, TN_NF_LOCAL_IN, TN_NF_PRI_CONNTRACK},
	{hook_confirm, NULL, TN_NF_LOCAL_IN, TN_NF_PRI_CONNTRACK_CONFIRM},
	{hook_confirm, NULL, TN_NF_POST_ROUTING, TN_NF_PRI_CONNTRACK_CONFIRM},
};
#define NOPS (sizeof(ct_ops) / sizeof(ct_ops[0]))

int tern_conntrack_enable(struct tn_stack *s)
{
	if (s->ct)
		return 0;
	struct tn_conntrack *ct = calloc(1, sizeof(*ct));
	if (!ct)
		return -ENOMEM;
	uint32_t max = (uint32_t)(s->sysctl.nf_conntrack_max > 0 ? s->sysctl.nf_conntrack_max : 1);
	uint32_t nb = 256;
	while (nb < max / 2 && nb < (1u << 17))
		nb <<= 1;
	ct->buckets = calloc(nb, sizeof(uint32_t));
	if (!ct->buckets) {
		free(ct);
		return -ENOMEM;
	}
	ct->hmask = nb - 1;
	ct->s = s;
	ct->hkey = tn_rand_u64(&s->rng);
	ct->nalloc = 1; /* index 0 means none */
	ct->wheel_cur = ct_now(s) / TN_CT_HZ;
	tn_timer_init(&ct->timer, ct_gc);
	unsigned i;
	for (i = 0; i < NOPS; i++)
		if (tn_nf_register(s, &ct_ops[i]) < 0)
			break;
	if (i < NOPS) {
		while (i--)
			tn_nf_unregister(s, &ct_ops[i]);
		free(ct->buckets);
		free(ct);
		return -ENOSPC;
	}
	s->ct = ct;
	return 0;
}

unsigned tn_ct_flush(struct tn_stack *s)
{
	struct tn_conntrack *ct = s->ct;
	unsigned n = 0;
	for (uint32_t idx = 1; ct && idx < ct->nalloc; idx++)
		if (at(ct, idx)->status & TN_CT_S_USED) {
			ct_free(ct, idx);
			n++;
		}
	return n;
}

void tern_conntrack_disable(struct tn_stack *s)
{
	struct tn_conntrack *ct = s->ct;
	if (!ct)
		return;
	for (unsigned i = 0; i < NOPS; i++)
		tn_nf_unregister(s, &ct_ops[i]);
	tn_ct_flush(s);
	tn_timer_cancel(&s->wheel, &ct->timer);
	for (uint32_t c = 0; c < ct->nchunks; c++)
		free(ct->chunks[c]);
	free(ct->chunks);
	free(ct->buckets);
	free(ct);
	s->ct = NULL;
}

void tn_conntrack_free(struct tn_stack *s) { tern_conntrack_disable(s); }

/* ---- conntrack -L / -S / -C / -F ---- */

void tn_ct_foreach(struct tn_stack *s, void (*fn)(void *ctx, struct tn_ct *e), void *ctx)
{
	struct tn_conntrack *ct = s->ct;
	for (uint32_t idx = 1; ct && idx < ct->nalloc; idx++) {
		struct tn_ct *e = at(ct, idx);
		if ((e->status & (TN_CT_S_USED | TN_CT_S_CONFIRMED)) == (TN_CT_S_USED | TN_CT_S_CONFIRMED))
			fn(ctx, e);
	}
}

static int put_tuple(char *buf, size_t cap, uint8_t proto, const struct tn_ct_tuple *t)
{
	char a[16], b[16];
	snprintf(a, sizeof(a), "%u.%u.%u.%u", t->src >> 24, (t->src >> 16) & 255, (t->src >> 8) & 255, t->src & 255);
	snprintf(b, sizeof(b), "%u.%u.%u.%u", t->dst >> 24, (t->dst >> 16) & 255, (t->dst >> 8) & 255, t->dst & 255);
	switch (proto) {
	case TN_IPPROTO_TCP:
	case TN_IPPROTO_UDP:
		return snprintf(buf, cap, "src=%s dst=%s sport=%u dport=%u ", a, b, t->sport, t->dport);
	case TN_IPPROTO_ICMP:
		return snprintf(buf, cap, "src=%s dst=%s type=%u code=%u id=%u ", a, b, t->dport >> 8,
				t->dport & 255, t->sport);
	default:
		return snprintf(buf, cap, "src=%s dst=%s ", a, b);
	}
}

int tn_ct_format(struct tn_stack *s, const struct tn_ct *e, char *buf, size_t cap)
{
	size_t n = 0;
#define ADD(...)                                                                     \
	do {                                                                         \
		int r_ = snprintf(buf + n, n < cap ? cap - n : 0, __VA_ARGS__);      \
		n += r_ > 0 ? (size_t)r_ : 0;                                        \
	} while (0)
#define ADDT(t)                                                                      \
	do {                                                                         \
		int r_ = put_tuple(buf + n, n < cap ? cap - n : 0, e->proto, t);     \
		n += r_ > 0 ? (size_t)r_ : 0;                                        \
	} while (0)
	const char *name = e->proto == TN_IPPROTO_TCP ? "tcp" : e->proto == TN_IPPROTO_UDP ? "udp"
			 : e->proto == TN_IPPROTO_ICMP ? "icmp" : "unknown";
	ADD("%-8s %u %u ", name, e->proto, tn_ct_timeout_left(s, e));
	if (e->proto == TN_IPPROTO_TCP && e->state < TN_CT_TCP_NSTATES)
		ADD("%s ", tn_ct_tcp_state_names[e->state]);
	ADDT(&e->tuple[0]);
	if (!(e->status & TN_CT_S_SEEN_REPLY))
		ADD("[UNREPLIED] ");
	ADDT(&e->tuple[1]);
	if (e->status & TN_CT_S_ASSURED)
		ADD("[ASSURED] ");
	ADD("mark=%u use=1", e->mark);
#undef ADD
#undef ADDT
	return (int)n;
}

struct list_ctx {
	struct tn_stack *s;
	FILE *f;
	unsigned n;
};

static void list_one(void *ctx, struct tn_ct *e)
{
	struct list_ctx *l = ctx;
	char line[256];
	tn_ct_format(l->s, e, line, sizeof(line));
	fprintf(l->f, "%s\n", line);
	l->n++;
}

unsigned tn_ct_list(struct tn_stack *s, FILE *f)
{
	struct list_ctx l = {s, f, 0};
	tn_ct_foreach(s, list_one, &l);
	fprintf(f, "conntrack v1.4.6 (conntrack-tools): %u flow entries have been shown.\n", l.n);
	return l.n;
}

void tn_ct_print_stats(struct tn_stack *s, FILE *f)
{
	struct tn_ct_stats z = {0};
	const struct tn_ct_stats *st = s->ct ? &s->ct->stats : &z;
	fprintf(f,
		"cpu=0   \tfound=%llu invalid=%llu insert=%llu insert_failed=%llu drop=%llu early_drop=%llu "
		"error=%llu search_restart=%llu clash_resolve=0 chaintoolong=0 \n",
		(unsigned long long)st->found, (unsigned long long)st->invalid, (unsigned long long)st->insert,
		(unsigned long long)st->insert_failed, (unsigned long long)st->drop,
		(unsigned long long)st->early_drop, (unsigned long long)st->error,
		(unsigned long long)st->search_restart);
}

uint32_t tn_ct_count(struct tn_stack *s) { return s->ct ? s->ct->count : 0; }

size_t tn_ct_memory(struct tn_stack *s)
{
	struct tn_conntrack *ct = s->ct;
	if (!ct)
		return 0;
	return sizeof(*ct) + (size_t)ct->nchunks * TN_CT_CHUNK * sizeof(struct tn_ct) +
	       (size_t)(ct->hmask + 1) * sizeof(uint32_t) + (size_t)ct->chunks_cap * sizeof(struct tn_ct *);
}
