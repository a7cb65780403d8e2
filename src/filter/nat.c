/* NAT (see nat.h and docs/DESIGN.md, "NAT"): the hooks, tuple allocation,
 * packet rewriting with incremental checksums, ICMP error translation. */
#include "filter/nat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/pkt.h"
#include "core/rand.h"
#include "core/stack.h"
#include "filter/ipt.h"
#include "wire/csum.h"
#include "wire/wire.h"

#define DONE_BIT(m) ((m) == TN_NAT_MANIP_SRC ? TN_CT_S_SRC_NAT_DONE : TN_CT_S_DST_NAT_DONE)
#define NAT_BIT(m) ((m) == TN_NAT_MANIP_SRC ? TN_CT_S_SRC_NAT : TN_CT_S_DST_NAT)
#define NAT_MASK (TN_CT_S_SRC_NAT | TN_CT_S_DST_NAT)
#define MAX_ATTEMPTS 128u

/* ---- ranges ---- */

static int parse_ip(const char *s, size_t n, uint32_t *out)
{
	char b[16];
	if (n == 0 || n >= sizeof(b))
		return -1;
	memcpy(b, s, n);
	b[n] = 0;
	unsigned v[4];
	char tail;
	if (sscanf(b, "%u.%u.%u.%u%c", &v[0], &v[1], &v[2], &v[3], &tail) != 4)
		return -1;
	for (int i = 0; i < 4; i++)
		if (v[i] > 255)
			return -1;
	if (strspn(b, "0123456789.") != n)
		return -1;
	*out = v[0] << 24 | v[1] << 16 | v[2] << 8 | v[3];
	return 0;
}

static int parse_port(const char *s, size_t n, uint16_t *out)
{
	if (n == 0 || n > 5 || strspn(s, "0123456789") < n)
		return -1;
	unsigned v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (unsigned)(s[i] - '0');
	if (v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

static int parse_ports(const char *s, struct tn_nat_range *r)
{
	const char *dash = strchr(s, '-');
	size_t n = strlen(s);
	if (parse_port(s, dash ? (size_t)(dash - s) : n, &r->min_port) < 0)
		return -1;
	r->max_port = r->min_port;
	if (dash && parse_port(dash + 1, strlen(dash + 1), &r->max_port) < 0)
		return -1;
	if (r->min_port == 0 || r->max_port < r->min_port)
		return -1;
	r->flags |= TN_NAT_RANGE_PROTO_SPECIFIED;
	return 0;
}

int tn_nat_parse_range(const char *arg, bool ports_only, struct tn_nat_range *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	if (!arg || !*arg) {
		snprintf(err, errlen, "Bad IP address \"%s\"", arg ? arg : "");
		return -1;
	}
	if (ports_only) {
		if (parse_ports(arg, r) < 0) {
			snprintf(err, errlen, "Invalid port range \"%s\"", arg);
			return -1;
		}
		return 0;
	}
	const char *colon = strchr(arg, ':');
	size_t alen = colon ? (size_t)(colon - arg) : strlen(arg);
	if (colon && parse_ports(colon + 1, r) < 0) {
		snprintf(err, errlen, "Port range `%s' invalid", colon + 1);
		return -1;
	}
	if (alen) {
		const char *dash = memchr(arg, '-', alen);
		size_t n1 = dash ? (size_t)(dash - arg) : alen;
		if (parse_ip(arg, n1, &r->min_ip) < 0 ||
		    (dash && parse_ip(dash + 1, alen - n1 - 1, &r->max_ip) < 0)) {
			snprintf(err, errlen, "Bad IP address \"%.*s\"", (int)alen, arg);
			return -1;
		}
		if (!dash)
			r->max_ip = r->min_ip;
		if (r->max_ip < r->min_ip) {
			snprintf(err, errlen, "Bad IP address \"%.*s\"", (int)alen, arg);
			return -1;
		}
		r->flags |= TN_NAT_RANGE_MAP_IPS;
	} else if (!colon) {
		snprintf(err, errlen, "Bad IP address \"%s\"", arg);
		return -1;
	}
	return 0;
}

/* ---- tuple allocation (nf_nat_core.c's get_unique_tuple) ---- */

static inline bool tuple_eq(const struct tn_ct_tuple *a, const struct tn_ct_tuple *b)
{
	return a->src == b->src && a->dst == b->dst && a->sport == b->sport && a->dport == b->dport;
}

static inline bool has_ports(uint8_t proto) { return proto == TN_IPPROTO_TCP || proto == TN_IPPROTO_UDP; }

/* The key a manipulation changes: a port, or the ICMP id (sport, both ways). */
static uint16_t *keyptr(uint8_t proto, struct tn_ct_tuple *t, enum tn_nat_manip m)
{
	if (proto == TN_IPPROTO_ICMP)
		return &t->sport;
	if (has_ports(proto))
		return m == TN_NAT_MANIP_SRC ? &t->sport : &t->dport;
	return NULL;
}

static bool in_range(uint8_t proto, struct tn_ct_tuple *t, enum tn_nat_manip m, const struct tn_nat_range *r)
{
	uint32_t ip = m == TN_NAT_MANIP_SRC ? t->src : t->dst;
	if ((r->flags & TN_NAT_RANGE_MAP_IPS) && (ip < r->min_ip || ip > r->max_ip))
		return false;
	uint16_t *k = keyptr(proto, t, m);
	if (!(r->flags & TN_NAT_RANGE_PROTO_SPECIFIED) || !k)
		return true;
	return *k >= r->min_port && *k <= r->max_port;
}

/* nf_nat_used_tuple: would the connection with original tuple t clash
 * with one in the table (its reply tuple in use either way)? */
static bool used_tuple(struct tn_stack *s, uint8_t proto, const struct tn_ct_tuple *t, const struct tn_ct *e)
{
	struct tn_ct_tuple reply;
	tn_ct_invert(proto, t, &reply);
	return tn_ct_tuple_taken(s, proto, &reply, e);
}

/* find_best_ips_proto: one address of the range, the same for the same
 * pair of hosts (a hash of both), so a server sees a client always come
 * from the same address; with --persistent a hash of the client alone, so
 * every server sees it from one address. */
static void best_ip(struct tn_ct_tuple *t, const struct tn_nat_range *r, enum tn_nat_manip m)
{
	if (!(r->flags & TN_NAT_RANGE_MAP_IPS))
		return;
	uint32_t *var = m == TN_NAT_MANIP_SRC ? &t->src : &t->dst;
	if (r->min_ip == r->max_ip) {
		*var = r->min_ip;
		return;
	}
	uint64_t dist = (uint64_t)r->max_ip - r->min_ip + 1;
	uint32_t other = (r->flags & TN_NAT_RANGE_PERSISTENT) ? 0 : m == TN_NAT_MANIP_SRC ? t->dst : t->src;
	uint32_t j = tn_hash2(0x6e6174u, t->src, other);
	*var = r->min_ip + (uint32_t)(((uint64_t)j * dist) >> 32);
}

/* nf_nat_l4proto_unique_tuple: a port (or ICMP id) that makes t unique,
 * from a random offset in the range, at most 128 tries, then fewer from
 * new offsets.  false when none was found. */
static bool unique_l4(struct tn_stack *s, uint8_t proto, struct tn_ct_tuple *t, const struct tn_nat_range *r,
		      enum tn_nat_manip m, const struct tn_ct *e)
{
	uint16_t *k = keyptr(proto, t, m);
	if (!k)
		return !used_tuple(s, proto, t, e); /* nothing to vary */
	uint32_t min, size;
	if (r->flags & TN_NAT_RANGE_PROTO_SPECIFIED) {
		min = r->min_port;
		size = (uint32_t)r->max_port - r->min_port + 1;
	} else if (proto == TN_IPPROTO_ICMP) {
		min = 0;
		size = 65536;
	} else {
		if (m == TN_NAT_MANIP_DST)
			return true; /* a destination port is kept */
		/* Ports in the class of the original: <512, 600-1023, >=1024. */
		if (*k < 1024) {
			min = *k < 512 ? 1 : 600;
			size = *k < 512 ? 511 : 1023 - 600 + 1;
		} else {
			min = 1024;
			size = 65535 - 1024 + 1;
		}
	}
	uint32_t off = (m == TN_NAT_MANIP_DST && !(r->flags & TN_NAT_RANGE_PROTO_RANDOM_ALL))
			       ? 0 : tn_rand_below(&s->rng, 65536);
	uint32_t attempts = size < MAX_ATTEMPTS ? size : MAX_ATTEMPTS;
	for (;;) {
		for (uint32_t i = 0; i < attempts; i++, off++) {
			*k = (uint16_t)(min + off % size);
			if (!used_tuple(s, proto, t, e))
				return true;
		}
		if (attempts >= size || attempts < 16)
			return false;
		attempts /= 2;
		off = tn_rand_below(&s->rng, 65536);
	}
}

static int unique_tuple(struct tn_stack *s, const struct tn_ct *e, const struct tn_ct_tuple *orig,
			const struct tn_nat_range *r, enum tn_nat_manip m, struct tn_ct_tuple *out)
{
	uint8_t proto = e->proto;
	*out = *orig;
	/* 1) A source manipulation keeps the original tuple if it is in
	 * range and free. */
	if (m == TN_NAT_MANIP_SRC && !(r->flags & TN_NAT_RANGE_PROTO_RANDOM_ALL) && in_range(proto, out, m, r) &&
	    !used_tuple(s, proto, out, e))
		return 0;
	/* 2) An address from the range. */
	best_ip(out, r, m);
	/* 3) The port only if not in range or not unique. */
	if (!(r->flags & TN_NAT_RANGE_PROTO_RANDOM_ALL)) {
		if (r->flags & TN_NAT_RANGE_PROTO_SPECIFIED) {
			if (in_range(proto, out, m, r) &&
			    (r->min_port == r->max_port || !used_tuple(s, proto, out, e)))
				return 0;
		} else if (!used_tuple(s, proto, out, e)) {
			return 0;
		}
	}
	return unique_l4(s, proto, out, r, m, e) ? 0 : -EADDRINUSE;
}

int tn_nat_setup(struct tn_stack *s, struct tn_ct *e, const struct tn_nat_range *r, enum tn_nat_manip m)
{
	struct tn_nat *nat = s->nat;
	if (e->status & DONE_BIT(m))
		return 0;
	/* The original tuple as the manipulations done so far left it. */
	struct tn_ct_tuple curr, nt, reply;
	tn_ct_invert(e->proto, &e->tuple[TN_CT_DIR_REPLY], &curr);
	int rc = unique_tuple(s, e, &curr, r, m, &nt);
	if (rc < 0) {
		if (nat)
			nat->stats.exhausted++;
		return rc;
	}
	if (!tuple_eq(&nt, &curr)) {
		tn_ct_invert(e->proto, &nt, &reply);
		if (tn_ct_alter_reply(s, e, &reply) < 0) {
			if (nat)
				nat->stats.exhausted++;
			return -EADDRINUSE;
		}
		e->status |= NAT_BIT(m);
		struct tn_ct_tuple a = nt, b = curr;
		uint16_t *ka = keyptr(e->proto, &a, m), *kb = keyptr(e->proto, &b, m);
		if (nat && ka && kb && *ka != *kb)
			nat->stats.remapped++;
	}
	e->status |= DONE_BIT(m);
	return 0;
}

int tn_nat_null_binding(struct tn_stack *s, struct tn_ct *e, enum tn_nat_manip m)
{
	/* Its own address: the one the reply goes to (SRC) or comes from. */
	uint32_t ip = m == TN_NAT_MANIP_SRC ? e->tuple[TN_CT_DIR_REPLY].dst : e->tuple[TN_CT_DIR_REPLY].src;
	struct tn_nat_range r = {.min_ip = ip, .max_ip = ip, .flags = TN_NAT_RANGE_MAP_IPS};
	if (s->nat)
		s->nat->stats.null_bindings++;
	return tn_nat_setup(s, e, &r, m);
}

/* ---- the targets ---- */

enum tn_nf_verdict tn_nat_target(struct tn_stack *s, struct tn_pkt *p, int hook, int target,
				 const struct tn_nat_range *r)
{
	struct tn_nat *nat = s->nat;
	enum tn_ct_dir dir;
	struct tn_ct *e = tn_ct_get(s, p, &dir);
	if (!nat || !e || tn_ct_state_of(s, p, NULL) != TN_CT_NEW)
		return TN_NF_ACCEPT; /* only a connection's first packet is mapped */
	const struct tn_nf_state *st = nat->st;
	struct tn_nat_range range = *r;
	enum tn_nat_manip m = TN_NAT_MANIP_SRC;
	switch (target) {
	case TN_IPT_T_SNAT:
		break;
	case TN_IPT_T_DNAT:
		m = TN_NAT_MANIP_DST;
		break;
	case TN_IPT_T_MASQUERADE: {
		int oif = st ? st->out_ifindex : 0;
		uint32_t dst = p->len >= TN_IPV4_HLEN ? tn_get32(p->data + 16) : 0;
		uint32_t a = oif ? tn_iface_addr(s, oif, dst) : 0x7f000001u;
		if (!a) {
			nat->stats.no_addr++;
			return TN_NF_DROP; /* Linux: "... ate my IP address" */
		}
		range.min_ip = range.max_ip = a;
		range.flags |= TN_NAT_RANGE_MAP_IPS;
		if (oif)
			e->nat = TN_NAT_MASQ_BIT | (uint32_t)oif;
		break;
	}
	case TN_IPT_T_REDIRECT: {
		m = TN_NAT_MANIP_DST;
		uint32_t a = 0x7f000001u; /* OUTPUT: to the host itself */
		if (hook == TN_NF_PRE_ROUTING) {
			a = st ? tn_iface_addr(s, st->in_ifindex, 0) : 0;
			if (!a) {
				nat->stats.no_addr++;
				return TN_NF_DROP;
			}
		}
		range.min_ip = range.max_ip = a;
		range.flags |= TN_NAT_RANGE_MAP_IPS;
		break;
	}
	default:
		return TN_NF_ACCEPT;
	}
	if (tn_nat_setup(s, e, &range, m) < 0)
		return TN_NF_DROP;
	nat->stats.setups++;
	return TN_NF_ACCEPT;
}

/* ---- rewriting packets ---- */

static inline void put_csum(uint8_t *f, uint16_t c) { tn_put16(f, c); }

bool tn_nat_manip_hdr(uint8_t *ip, uint32_t avail, const struct tn_ct_tuple *target, enum tn_nat_manip m,
		      bool csum_partial, bool quoted)
{
	if (avail < TN_IPV4_HLEN)
		return false;
	uint32_t ihl = (uint32_t)(ip[0] & 0xf) * 4;
	if (ihl < TN_IPV4_HLEN || ihl > avail)
		return false;
	uint8_t proto = ip[9];
	uint8_t *l4 = ip + ihl;
	uint32_t l4avail = avail - ihl;
	uint32_t aoff = m == TN_NAT_MANIP_SRC ? 12 : 16;
	uint32_t oldip = tn_get32(ip + aoff), newip = m == TN_NAT_MANIP_SRC ? target->src : target->dst;
	bool first = (tn_get16(ip + 6) & TN_IP_OFFMASK) == 0;
	if (first) {
		switch (proto) {
		case TN_IPPROTO_TCP:
		case TN_IPPROTO_UDP: {
			if (l4avail < 8)
				return false;
			uint32_t poff = m == TN_NAT_MANIP_SRC ? 0 : 2;
			uint16_t oldp = tn_get16(l4 + poff), newp = m == TN_NAT_MANIP_SRC ? target->sport : target->dport;
			tn_put16(l4 + poff, newp);
			if (csum_partial)
				break; /* the checksum is computed on the way out, from these bytes */
			if (proto == TN_IPPROTO_TCP) {
				/* A quoted TCP header may be cut after 8 bytes: its
				 * checksum is not there to fix. */
				if (l4avail < 18)
					break;
				uint16_t c = tn_get16(l4 + 16);
				c = tn_csum_update32(c, oldip, newip);
				put_csum(l4 + 16, tn_csum_update16(c, oldp, newp));
			} else {
				uint16_t c = tn_get16(l4 + 6);
				if (c == 0)
					break; /* no checksum: stays none */
				c = tn_csum_update32(c, oldip, newip);
				c = tn_csum_update16(c, oldp, newp);
				put_csum(l4 + 6, c ? c : 0xffff);
			}
			break;
		}
		case TN_IPPROTO_ICMP: {
			if (l4avail < 8)
				return false;
			switch (l4[0]) {
			case 0: case 8: case 13: case 14: case 15: case 16: case 17: case 18: {
				uint16_t oldid = tn_get16(l4 + 4);
				tn_put16(l4 + 4, target->sport);
				put_csum(l4 + 2, tn_csum_update16(tn_get16(l4 + 2), oldid, target->sport));
				break;
			}
			default:
				break; /* an error: its id field is not an id */
			}
			break;
		}
		default:
			break;
		}
	}
	tn_put32(ip + aoff, newip);
	put_csum(ip + 10, tn_csum_update32(tn_get16(ip + 10), oldip, newip));
	return true;
}

/* L4 bytes the rewrite needs linear: TCP 20, UDP/ICMP 8. */
static bool pull_headers(struct tn_pkt *p, uint32_t *ihl_out)
{
	if (p->len < TN_IPV4_HLEN && tn_pkt_may_pull(p, p->pkt_len < TN_IPV4_HLEN ? p->pkt_len : TN_IPV4_HLEN) < 0)
		return false;
	if (p->len < TN_IPV4_HLEN)
		return false;
	uint32_t ihl = (uint32_t)(p->data[0] & 0xf) * 4;
	uint32_t need = ihl + (p->data[9] == TN_IPPROTO_TCP ? 20u : 8u);
	if (need > p->pkt_len)
		need = p->pkt_len;
	if (p->len < need && tn_pkt_may_pull(p, need) < 0)
		return false;
	*ihl_out = ihl;
	return p->len >= ihl;
}

bool tn_nat_packet(struct tn_stack *s, struct tn_pkt *p, const struct tn_ct *e, enum tn_ct_dir dir,
		   enum tn_nat_manip m)
{
	(void)s;
	uint16_t bit = NAT_BIT(m);
	if (dir == TN_CT_DIR_REPLY)
		bit ^= NAT_MASK;
	if (!(e->status & bit))
		return true;
	uint32_t ihl;
	if (!pull_headers(p, &ihl))
		return false;
	struct tn_ct_tuple target;
	tn_ct_invert(e->proto, &e->tuple[!dir], &target);
	uint32_t avail = p->len < p->pkt_len ? p->len : p->pkt_len;
	return tn_nat_manip_hdr(p->data, avail, &target, m, (p->flags & TN_PKT_CSUM_PARTIAL) != 0, false);
}

bool tn_nat_icmp_reply(struct tn_stack *s, struct tn_pkt *p, const struct tn_ct *e, enum tn_ct_dir dir,
		       enum tn_nat_manip m)
{
	struct tn_nat *nat = s->nat;
	uint32_t want = p->pkt_len < 8 + 60 + 8 + 60 ? p->pkt_len : 8 + 60 + 8 + 60;
	if (p->len < want && tn_pkt_may_pull(p, want) < 0)
		return false;
	uint8_t *ip = p->data;
	if (p->len < TN_IPV4_HLEN)
		return false;
	uint32_t ihl = (uint32_t)(ip[0] & 0xf) * 4, tot = tn_get16(ip + 2);
	if (ihl < TN_IPV4_HLEN || tot > p->pkt_len || tot < ihl + TN_ICMP_HLEN + TN_IPV4_HLEN + 8 ||
	    p->len < ihl + TN_ICMP_HLEN + TN_IPV4_HLEN)
		return false;
	uint8_t *icmp = ip + ihl;
	/* Rewriting makes a fresh ICMP checksum: first make sure the one it
	 * has is right, or a corrupted error would leave here as good. */
	if (!(p->flags & TN_PKT_CSUM_OK) && tn_csum_fold(tn_csum_pkt(p, ihl, tot - ihl, 0)) != 0) {
		if (nat)
			nat->stats.icmp_bad++;
		return false;
	}
	if (icmp[0] == TN_ICMP_REDIRECT) {
		/* A redirect would have the hosts talk past the translation. */
		if ((e->status & (TN_CT_S_SRC_NAT_DONE | TN_CT_S_DST_NAT_DONE)) !=
			    (TN_CT_S_SRC_NAT_DONE | TN_CT_S_DST_NAT_DONE) ||
		    (e->status & NAT_MASK)) {
			if (nat)
				nat->stats.icmp_bad++;
			return false;
		}
	}
	uint16_t bit = NAT_BIT(m);
	if (dir == TN_CT_DIR_REPLY)
		bit ^= NAT_MASK;
	if (!(e->status & bit))
		return true;
	/* The quoted datagram back to how its sender sent it: the opposite
	 * manipulation to this hook's, with the other direction's tuple. */
	uint32_t inavail = p->len - ihl - TN_ICMP_HLEN;
	if (inavail > tot - ihl - TN_ICMP_HLEN)
		inavail = tot - ihl - TN_ICMP_HLEN;
	uint8_t *in = icmp + TN_ICMP_HLEN;
	uint32_t inihl = (uint32_t)(in[0] & 0xf) * 4;
	if (inihl < TN_IPV4_HLEN || inavail < inihl + 8)
		return false;
	if (!tn_nat_manip_hdr(in, inavail, &e->tuple[!dir], m == TN_NAT_MANIP_SRC ? TN_NAT_MANIP_DST : TN_NAT_MANIP_SRC,
			      false, true))
		return false;
	icmp[2] = icmp[3] = 0;
	tn_put16(icmp + 2, tn_csum_fold(tn_csum_pkt(p, ihl, tot - ihl, 0)));
	/* The outer header: as a reply to the connection would be. */
	struct tn_ct_tuple target;
	tn_ct_invert(e->proto, &e->tuple[!dir], &target);
	return tn_nat_manip_hdr(ip, p->len, &target, m, false, false);
}

/* ---- MASQUERADE entries whose address went away ---- */

struct flush_ctx {
	struct tn_stack *s;
	int ifindex;
	uint32_t *idx;
	uint32_t n, cap;
};

static void flush_one(void *ctx, struct tn_ct *e)
{
	struct flush_ctx *f = ctx;
	if (!(e->nat & TN_NAT_MASQ_BIT))
		return;
	int oif = (int)(e->nat & ~TN_NAT_MASQ_BIT);
	if (f->ifindex && oif != f->ifindex)
		return;
	/* The address the replies come to (the reply tuple's destination). */
	uint32_t a = e->tuple[TN_CT_DIR_REPLY].dst;
	struct tn_iface *ifc = tn_iface_get(f->s, oif);
	for (int i = 0; ifc && i < ifc->naddrs; i++)
		if (ifc->addrs[i].addr == a)
			return;
	if (f->n == f->cap) {
		uint32_t cap = f->cap ? f->cap * 2 : 64;
		uint32_t *n = realloc(f->idx, cap * sizeof(*n));
		if (!n)
			return;
		f->idx = n;
		f->cap = cap;
	}
	f->idx[f->n++] = tn_ct_index(f->s, e);
}

unsigned tn_nat_masq_flush(struct tn_stack *s, int ifindex)
{
	if (!s->ct)
		return 0;
	struct flush_ctx f = {.s = s, .ifindex = ifindex};
	tn_ct_foreach(s, flush_one, &f);
	for (uint32_t i = 0; i < f.n; i++) {
		struct tn_ct *e = &s->ct->chunks[f.idx[i] >> TN_CT_CHUNK_SHIFT][f.idx[i] & (TN_CT_CHUNK - 1)];
		tn_ct_kill(s, e);
	}
	free(f.idx);
	if (s->nat)
		s->nat->stats.masq_flushed += f.n;
	return f.n;
}

/* ---- the hooks ---- */

static enum tn_nf_verdict nat_hook(void *priv, struct tn_pkt *p, const struct tn_nf_state *st)
{
	(void)priv;
	struct tn_stack *s = st->s;
	struct tn_nat *nat = s->nat;
	enum tn_ct_dir dir;
	struct tn_ct *e = tn_ct_get(s, p, &dir);
	if (!nat || !e)
		return TN_NF_ACCEPT;
	enum tn_nat_manip m = (st->hook == TN_NF_PRE_ROUTING || st->hook == TN_NF_LOCAL_OUT) ? TN_NAT_MANIP_DST
											     : TN_NAT_MANIP_SRC;
	enum tn_ct_state cs = tn_ct_state_of(s, p, NULL);
	if (cs == TN_CT_RELATED) {
		/* Only ICMP errors are RELATED in tern (no helpers). */
		if (p->len >= TN_IPV4_HLEN && p->data[9] == TN_IPPROTO_ICMP)
			return tn_nat_icmp_reply(s, p, e, dir, m) ? TN_NF_ACCEPT : TN_NF_DROP;
		return TN_NF_ACCEPT;
	}
	if (cs == TN_CT_NEW && !(e->status & DONE_BIT(m))) {
		const struct tn_nf_state *saved = nat->st;
		nat->st = st;
		enum tn_nf_verdict v = tn_ipt_do_table(s, TN_IPT_NAT, p, st);
		nat->st = saved;
		if (v != TN_NF_ACCEPT)
			return v;
		/* The entry may be gone (a packet sent from a LOG sink...). */
		e = tn_ct_get(s, p, &dir);
		if (!e)
			return TN_NF_ACCEPT;
		if (!(e->status & DONE_BIT(m)) && tn_nat_null_binding(s, e, m) < 0)
			return TN_NF_DROP;
	} else if ((e->nat & TN_NAT_MASQ_BIT) && m == TN_NAT_MANIP_SRC && dir == TN_CT_DIR_ORIGINAL &&
		   !tn_addr_is_local(s, e->tuple[TN_CT_DIR_REPLY].dst)) {
		/* Its interface lost the address the connection was
		 * masqueraded to: the entry goes (Linux flushes on the event). */
		tn_nat_masq_flush(s, (int)(e->nat & ~TN_NAT_MASQ_BIT));
		return TN_NF_DROP;
	}
	return tn_nat_packet(s, p, e, dir, m) ? TN_NF_ACCEPT : TN_NF_DROP;
}

static const struct tn_nf_hook_ops nat_ops[] = {
	{nat_hook, NULL, TN_NF_PRE_ROUTING, TN_NF_PRI_NAT_DST},
	{nat_hook, NULL, TN_NF_LOCAL_OUT, TN_NF_PRI_NAT_DST},
	{nat_hook, NULL, TN_NF_LOCAL_IN, TN_NF_PRI_NAT_SRC},
	{nat_hook, NULL, TN_NF_POST_ROUTING, TN_NF_PRI_NAT_SRC},
};
#define NOPS (sizeof(nat_ops) / sizeof(nat_ops[0]))

int tn_nat_enable(struct tn_stack *s)
{
	if (s->nat)
		return 0;
	int rc = tern_conntrack_enable(s);
	if (rc < 0)
		return rc;
	struct tn_nat *nat = calloc(1, sizeof(*nat));
	if (!nat)
		return -ENOMEM;
	unsigned i;
	for (i = 0; i < NOPS; i++)
		if ((rc = tn_nf_register(s, &nat_ops[i])) < 0)
			break;
	if (i < NOPS) {
		while (i--)
			tn_nf_unregister(s, &nat_ops[i]);
		free(nat);
		return rc;
	}
	s->nat = nat;
	return 0;
}

void tn_nat_free(struct tn_stack *s)
{
	if (!s->nat)
		return;
	for (unsigned i = 0; i < NOPS; i++)
		tn_nf_unregister(s, &nat_ops[i]);
	free(s->nat);
	s->nat = NULL;
}
