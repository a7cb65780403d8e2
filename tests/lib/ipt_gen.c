/* See ipt_gen.h. */
#include "ipt_gen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ipt_gen_seed(struct ipt_gen *g, uint64_t seed)
{
	g->x = seed ? seed : 0x9e3779b97f4a7c15ull;
}

uint32_t ipt_gen_u32(struct ipt_gen *g)
{
	g->x ^= g->x << 13;
	g->x ^= g->x >> 7;
	g->x ^= g->x << 17;
	return (uint32_t)(g->x >> 16);
}

static unsigned pick(struct ipt_gen *g, unsigned n)
{
	return ipt_gen_u32(g) % n;
}

static const uint32_t addr_pool[] = {0x0a000001, 0x0a000102, 0x0a010203, 0xc0a80001, 0xc0a80164, 0x08080808, 0xc6120101};
static const uint16_t port_pool[] = {22, 53, 80, 443, 1000, 1500, 8080, 65535};
static const char *const if_pool[] = {"eth0", "eth1", "veth3"};

static void gen_match(struct ipt_gen *g, FILE *f, bool *has_proto, int *proto, unsigned *used)
{
	const char *neg = pick(g, 4) == 0 ? "! " : "";
	unsigned kind = pick(g, 12);
	/* each kind once per rule (as iptables refuses a second -s, -i ...);
	 * 3..5 (protocol, then its ports) may repeat */
	if ((kind < 3 || kind > 5) && (*used & (1u << kind)))
		return;
	*used |= 1u << kind;
	switch (kind) {
	case 0:
	case 1: {
		uint32_t a = addr_pool[pick(g, 7)];
		int plen = (int)pick(g, 33);
		fprintf(f, " %s-%c %u.%u.%u.%u/%d", neg, kind ? 's' : 'd', a >> 24, (a >> 16) & 255, (a >> 8) & 255,
			a & 255, plen);
		break;
	}
	case 2: {
		const char *n = if_pool[pick(g, 3)];
		fprintf(f, " %s-%c %s", neg, pick(g, 2) ? 'i' : 'o', pick(g, 3) ? n : "eth+");
		break;
	}
	case 3:
	case 4:
	case 5:
		if (!*has_proto) {
			static const char *const pn[] = {"tcp", "udp", "icmp", "47"};
			static const int pv[] = {6, 17, 1, 47};
			unsigned k = pick(g, 4);
			bool pneg = pick(g, 5) == 0;
			fprintf(f, " %s-p %s", pneg ? "! " : "", pn[k]);
			*has_proto = true;
			*proto = pneg ? -1 : pv[k];
		} else if (*proto == 6 || *proto == 17) {
			uint16_t a = port_pool[pick(g, 8)], b = port_pool[pick(g, 8)];
			if (pick(g, 2))
				fprintf(f, " %s--%s %u", neg, pick(g, 2) ? "sport" : "dport", a);
			else
				fprintf(f, " %s--%s %u:%u", neg, pick(g, 2) ? "sport" : "dport", a < b ? a : b, a < b ? b : a);
		} else if (*proto == 1) {
			static const char *const it[] = {"echo-request", "0", "3/3", "destination-unreachable", "any"};
			fprintf(f, " %s--icmp-type %s", neg, it[pick(g, 5)]);
		}
		break;
	case 6:
		if (*proto == 6)
			fprintf(f, " %s--tcp-flags %s %s", neg, pick(g, 2) ? "SYN,ACK" : "ALL", pick(g, 2) ? "SYN" : "ACK");
		break;
	case 7:
		if (*proto == 6 || *proto == 17)
			fprintf(f, " -m multiport %s--%s %u,%u:%u", neg, pick(g, 3) == 0 ? "ports" : pick(g, 2) ? "sports" : "dports",
				port_pool[pick(g, 8)], 1000, 1500 + pick(g, 100));
		break;
	case 8:
		fprintf(f, " -m mark %s--mark 0x%x/0x%x", neg, pick(g, 4), pick(g, 2) ? 0xffffffffu : 3u);
		break;
	case 9: {
		unsigned a = pick(g, 1600), b = a + pick(g, 800);
		fprintf(f, " -m length %s--length %u:%u", neg, a, b);
		break;
	}
	case 10:
		fprintf(f, " -m conntrack %s--ctstate %s", neg, pick(g, 2) ? "NEW" : "ESTABLISHED,RELATED");
		break;
	default:
		fprintf(f, " -m comment --comment c%u", pick(g, 100));
		break;
	}
}

char *ipt_gen_ruleset(struct ipt_gen *g, int nrules, int nch)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	if (!f)
		return NULL;
	fprintf(f, "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD %s [0:0]\n:OUTPUT ACCEPT [0:0]\n", pick(g, 2) ? "ACCEPT" : "DROP");
	for (int c = 0; c < nch; c++)
		fprintf(f, ":c%d - [0:0]\n", c);
	for (int r = 0; r < nrules; r++) {
		int chain = (int)pick(g, (unsigned)nch + 1) - 1; /* -1: FORWARD */
		if (chain < 0)
			fprintf(f, "-A FORWARD");
		else
			fprintf(f, "-A c%d", chain);
		bool has_proto = false;
		int proto = 0;
		unsigned used = 0;
		int nm = (int)pick(g, 5);
		for (int k = 0; k < nm; k++)
			gen_match(g, f, &has_proto, &proto, &used);
		unsigned t = pick(g, 10);
		int later = chain + 1 + (int)pick(g, (unsigned)(nch - chain > 0 ? nch - chain : 1));
		if (t >= 5 && t <= 7 && later >= nch)
			t = 0;
		switch (t) {
		case 0: fprintf(f, " -j ACCEPT"); break;
		case 1: case 2: fprintf(f, " -j DROP"); break;
		case 3: fprintf(f, " -j RETURN"); break;
		case 4: fprintf(f, " -j MARK --set-xmark 0x%x/0x%x", pick(g, 4), pick(g, 2) ? 3u : 1u); break;
		case 5: case 6: fprintf(f, " -j c%d", later); break;
		case 7: fprintf(f, " -g c%d", later); break;
		default: break; /* no target */
		}
		fputc('\n', f);
	}
	fprintf(f, "COMMIT\n");
	fclose(f);
	return buf;
}

void ipt_gen_packet(struct ipt_gen *g, struct tn_ipt_pkt *pi)
{
	memset(pi, 0, sizeof(*pi));
	pi->src = addr_pool[pick(g, 7)] ^ (pick(g, 4) == 0 ? pick(g, 256) : 0);
	pi->dst = addr_pool[pick(g, 7)];
	static const uint8_t pr[] = {6, 17, 1, 47};
	pi->proto = pr[pick(g, 4)];
	pi->tot_len = (uint16_t)(20 + pick(g, 2000));
	pi->len = pi->tot_len;
	pi->frag = pick(g, 20) == 0;
	pi->l4ok = !pi->frag;
	pi->sport = port_pool[pick(g, 8)] + (pick(g, 3) == 0 ? (uint16_t)pick(g, 600) : 0);
	pi->dport = port_pool[pick(g, 8)] + (pick(g, 3) == 0 ? (uint16_t)pick(g, 600) : 0);
	pi->tcp_flags = (uint8_t)pick(g, 256);
	pi->icmp_type = (uint8_t)(pick(g, 2) ? 8 : pick(g, 4));
	pi->icmp_code = (uint8_t)pick(g, 4);
	pi->mark = pick(g, 4);
	pi->in = if_pool[pick(g, 3)];
	pi->out = if_pool[pick(g, 3)];
	pi->ct = pick(g, 2) ? TN_IPT_CT_NEW : TN_IPT_CT_ESTABLISHED;
}

/* ---- the reference: every field tested on its own, plainly ---- */
static bool neg(bool m, uint32_t inv, uint32_t bit)
{
	return (inv & bit) ? !m : m;
}

static bool ifeq(const char *rule, const char *name)
{
	size_t n = strlen(rule);
	if (n && rule[n - 1] == '+')
		return strlen(name) >= n - 1 && memcmp(rule, name, n - 1) == 0;
	return strcmp(rule, name) == 0;
}

static bool port_in(uint16_t p, const uint16_t r[2])
{
	return r[0] <= p && p <= r[1];
}

static bool ref_match(const struct tn_ipt_rule *r, const struct tn_ipt_pkt *pi, uint32_t mark)
{
	if (!neg((pi->src & r->smsk) == r->src, r->inv, TN_IPT_INV_SRC))
		return false;
	if (!neg((pi->dst & r->dmsk) == r->dst, r->inv, TN_IPT_INV_DST))
		return false;
	if (r->in[0] && !neg(ifeq(r->in, pi->in), r->inv, TN_IPT_INV_IN))
		return false;
	if (r->out[0] && !neg(ifeq(r->out, pi->out), r->inv, TN_IPT_INV_OUT))
		return false;
	if (r->proto && !neg(pi->proto == r->proto, r->inv, TN_IPT_INV_PROTO))
		return false;
	for (unsigned k = 0; k < r->nmods; k++) {
		switch (r->mods[k]) {
		case TN_IPT_M_TCP:
		case TN_IPT_M_UDP:
			if (pi->frag)
				return false;
			if (r->has_sport && !neg(port_in(pi->sport, r->sport), r->inv, TN_IPT_INV_SPORT))
				return false;
			if (r->has_dport && !neg(port_in(pi->dport, r->dport), r->inv, TN_IPT_INV_DPORT))
				return false;
			if (r->has_flags && !neg((pi->tcp_flags & r->flg_mask) == r->flg_cmp, r->inv, TN_IPT_INV_FLAGS))
				return false;
			break;
		case TN_IPT_M_ICMP:
			if (pi->frag)
				return false;
			if (!neg(r->icmp_type == 255 || (pi->icmp_type == r->icmp_type && pi->icmp_code >= r->icmp_code[0] &&
							 pi->icmp_code <= r->icmp_code[1]),
				 r->inv, TN_IPT_INV_ICMP))
				return false;
			break;
		case TN_IPT_M_MULTIPORT: {
			if (pi->frag)
				return false;
			bool m = false;
			for (unsigned j = 0; j < r->mp_n; j++) {
				if ((r->mp_kind & TN_IPT_MP_SRC) && port_in(pi->sport, r->mp[j]))
					m = true;
				if ((r->mp_kind & TN_IPT_MP_DST) && port_in(pi->dport, r->mp[j]))
					m = true;
			}
			if (!neg(m, r->inv, TN_IPT_INV_MPORT))
				return false;
			break;
		}
		case TN_IPT_M_MARK:
			if (!neg((mark & r->mark_mask) == r->mark, r->inv, TN_IPT_INV_MARK))
				return false;
			break;
		case TN_IPT_M_LENGTH:
			if (!neg(pi->tot_len >= r->len[0] && pi->tot_len <= r->len[1], r->inv, TN_IPT_INV_LENGTH))
				return false;
			break;
		case TN_IPT_M_CONNTRACK:
			if (!neg((pi->ct & r->ctstate) != 0, r->inv, TN_IPT_INV_CTSTATE))
				return false;
			break;
		case TN_IPT_M_STATE:
			if (!neg((pi->ct & r->state) != 0, r->inv, TN_IPT_INV_STATE))
				return false;
			break;
		default:
			break;
		}
	}
	return true;
}

/* 1 accept, 0 drop, -1 fell off / returned (continue in the caller).
 * *gone: a goto left this frame: the caller must not continue either. */
static int ref_chain(const struct tn_ipt_table *t, int c, const struct tn_ipt_pkt *pi, uint32_t *mark, int depth)
{
	if (depth > 2000)
		return 0;
	const struct tn_ipt_chain *ch = &t->chains[c];
	for (uint32_t i = 0; i < ch->nrules; i++) {
		const struct tn_ipt_rule *r = &ch->rules[i];
		if (!ref_match(r, pi, *mark))
			continue;
		switch (r->target) {
		case TN_IPT_T_ACCEPT: return 1;
		case TN_IPT_T_DROP: case TN_IPT_T_REJECT: return 0;
		case TN_IPT_T_RETURN: return -1;
		case TN_IPT_T_MARK: *mark = (*mark & ~r->xmark_m) ^ r->xmark_v; break;
		case TN_IPT_T_JUMP: {
			int v = ref_chain(t, tn_ipt_chain_find(t, r->jump), pi, mark, depth + 1);
			if (v >= 0)
				return v;
			break;
		}
		case TN_IPT_T_GOTO:
			/* the goto'd chain's RETURN returns from this chain too */
			return ref_chain(t, tn_ipt_chain_find(t, r->jump), pi, mark, depth + 1);
		default: break;
		}
	}
	return -1;
}

int ipt_ref_verdict(const struct tn_ipt_table *t, int hook, const struct tn_ipt_pkt *pi, uint32_t *mark)
{
	for (uint32_t c = 0; c < t->nchains; c++) {
		if (!t->chains[c].builtin || t->chains[c].hook != hook)
			continue;
		int v = ref_chain(t, (int)c, pi, mark, 0);
		if (v < 0)
			v = t->chains[c].policy == TN_IPT_T_ACCEPT;
		return v ? TN_NF_ACCEPT : TN_NF_DROP;
	}
	return TN_NF_ACCEPT;
}
