/* iptables on a stack: rulesets built from a model and swapped in
 * atomically, the hook functions that traverse them (jump, goto, RETURN,
 * policies, counters) and the targets (REJECT, LOG, MARK).
 *
 * A ruleset is built whole, checked and resolved, then stored in
 * ipt->cur[table] with one pointer store: a packet sees the old set or
 * the new one.  Each traversal holds a use count on the set it started
 * with; a replaced set is freed at once when none holds it, or by the
 * last traversal to let go (a REJECT or LOG inside a traversal may send
 * a packet that runs the hooks again, so this can happen). */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "filter/conntrack.h"
#include "filter/ipt.h"
#include "filter/ipt_cls.h"
#include "filter/ipt_vcache.h"
#include "filter/nat.h"
#include "net/icmp.h"
#include "tcp/tcp_int.h"
#include "wire/tcp.h"
#include "wire/wire.h"

struct tn_ipt_ruleset {
	struct tn_ipt_table t;
	int table;
	uint32_t users;
	bool retired;
	bool uses_ct;
	int hook_chain[TN_NF_NUMHOOKS]; /* the built-in chain per hook, -1 */
	struct tn_ipt_cls **cls;        /* per chain: its classifier, NULL: linear */
	struct tn_ipt_vc_fields vc_fields[TN_NF_NUMHOOKS]; /* what a hook's key holds; use 0: not cached */
	struct tn_ipt_vcache *vc;       /* allocated on first use */
};

/* The verdict cache charges counters through a pointer to `pkts`. */
_Static_assert(offsetof(struct tn_ipt_rule, bytes) == offsetof(struct tn_ipt_rule, pkts) + sizeof(uint64_t),
	       "rule counters: pkts then bytes");
_Static_assert(offsetof(struct tn_ipt_chain, pol_bytes) == offsetof(struct tn_ipt_chain, pol_pkts) + sizeof(uint64_t),
	       "policy counters: pkts then bytes");

struct tn_ipt *tn_ipt_get(struct tn_stack *s)
{
	if (!s->ipt)
		s->ipt = calloc(1, sizeof(*s->ipt));
	return s->ipt;
}

void tn_ipt_set_ct_hook(struct tn_stack *s, tn_ipt_ct_state_fn fn, void *ctx)
{
	struct tn_ipt *ipt = tn_ipt_get(s);
	if (!ipt)
		return;
	ipt->ct_state = fn;
	ipt->ct_ctx = ctx;
}

static void ruleset_free(struct tn_ipt *ipt, struct tn_ipt_ruleset *rs)
{
	if (!rs)
		return;
	for (uint32_t c = 0; c < rs->t.nchains; c++)
		for (uint32_t i = 0; i < rs->t.chains[c].nrules; i++) {
			int si = rs->t.chains[c].rules[i].set_idx;
			if (si >= 0 && (uint32_t)si < ipt->nsets && ipt->sets[si])
				tn_ipset_unref(ipt, si);
		}
	for (uint32_t c = 0; rs->cls && c < rs->t.nchains; c++)
		tn_ipt_cls_unref(rs->cls[c]);
	free(rs->cls);
	tn_ipt_vcache_free(rs->vc);
	tn_ipt_table_free(&rs->t);
	free(rs);
	ipt->freed++;
}

static const int hook_prio[TN_IPT_NTABLES][TN_NF_NUMHOOKS] = {
	[TN_IPT_RAW] = {TN_NF_PRI_RAW, TN_NF_PRI_RAW, TN_NF_PRI_RAW, TN_NF_PRI_RAW, TN_NF_PRI_RAW},
	[TN_IPT_MANGLE] = {TN_NF_PRI_MANGLE, TN_NF_PRI_MANGLE, TN_NF_PRI_MANGLE, TN_NF_PRI_MANGLE, TN_NF_PRI_MANGLE},
	[TN_IPT_NAT] = {[TN_NF_PRE_ROUTING] = TN_NF_PRI_NAT_DST, [TN_NF_LOCAL_IN] = TN_NF_PRI_NAT_SRC,
			[TN_NF_LOCAL_OUT] = TN_NF_PRI_NAT_DST, [TN_NF_POST_ROUTING] = TN_NF_PRI_NAT_SRC},
	[TN_IPT_FILTER] = {TN_NF_PRI_FILTER, TN_NF_PRI_FILTER, TN_NF_PRI_FILTER, TN_NF_PRI_FILTER, TN_NF_PRI_FILTER},
};

static enum tn_nf_verdict ipt_hook(void *priv, struct tn_pkt *p, const struct tn_nf_state *st)
{
	return tn_ipt_do_table(st->s, (int)(uintptr_t)priv - 1, p, st);
}

static void set_registered(struct tn_stack *s, int table, const struct tn_ipt_ruleset *rs, bool on)
{
	struct tn_ipt *ipt = s->ipt;
	if (ipt->registered[table] == on)
		return;
	if (table == TN_IPT_NAT) {
		/* NAT's own hooks (nat.c) run the nat table for a connection's
		 * first packet and translate every packet; once on they stay
		 * on, so connections mapped keep their mapping when the rules
		 * go, as Linux's. */
		if (on)
			(void)tn_nat_enable(s); /* failure: tn_ipt_apply says so */
		ipt->registered[table] = on;
		return;
	}
	for (int h = 0; h < TN_NF_NUMHOOKS; h++) {
		if (rs->hook_chain[h] < 0)
			continue;
		struct tn_nf_hook_ops ops = {.fn = ipt_hook, .priv = (void *)(uintptr_t)(table + 1), .hook = h,
					     .priority = hook_prio[table][h]};
		if (on)
			tn_nf_register(s, &ops);
		else
			tn_nf_unregister(s, &ops);
	}
	ipt->registered[table] = on;
}

void tn_ipt_destroy(struct tn_stack *s)
{
	struct tn_ipt *ipt = s->ipt;
	if (!ipt)
		return;
	for (int t = 0; t < TN_IPT_NTABLES; t++) {
		if (ipt->cur[t])
			set_registered(s, t, ipt->cur[t], false);
		ruleset_free(ipt, ipt->cur[t]);
	}
	tn_ipset_free_all(ipt);
	tn_ipt_hl_free_all(ipt);
	free(ipt);
	s->ipt = NULL;
}

int tn_ipt_export(struct tn_stack *s, struct tn_ipt_model *m)
{
	tn_ipt_model_init(m);
	struct tn_ipt *ipt = s->ipt;
	if (!ipt)
		return 0;
	for (int t = 0; t < TN_IPT_NTABLES; t++) {
		if (!ipt->cur[t])
			continue;
		tn_ipt_table_free(&m->t[t]);
		if (tn_ipt_table_copy(&m->t[t], &ipt->cur[t]->t) < 0) {
			tn_ipt_model_free(m);
			return -ENOMEM;
		}
	}
	return 0;
}

static bool table_trivial(const struct tn_ipt_table *t)
{
	for (uint32_t c = 0; c < t->nchains; c++)
		if (!t->chains[c].builtin || t->chains[c].nrules || t->chains[c].policy != TN_IPT_T_ACCEPT)
			return false;
	return true;
}


/* Each chain's classifier: the current ruleset's, for a chain of the same
 * name whose rules index the same (an edit rebuilds only the chains it
 * changed), else a new one.  Out of memory, a chain is scanned linearly. */
static void build_cls(struct tn_ipt *ipt, struct tn_ipt_ruleset *rs, const struct tn_ipt_ruleset *old)
{
	rs->cls = calloc(rs->t.nchains ? rs->t.nchains : 1, sizeof(*rs->cls));
	if (!rs->cls)
		return;
	for (uint32_t c = 0; c < rs->t.nchains; c++) {
		const struct tn_ipt_chain *ch = &rs->t.chains[c];
		if (!ch->nrules)
			continue;
		int oc = old && old->cls ? tn_ipt_chain_find(&old->t, ch->name) : -1;
		if (oc >= 0 && old->cls[oc] && tn_ipt_cls_same(&old->t.chains[oc], ch)) {
			rs->cls[c] = tn_ipt_cls_ref(old->cls[oc]);
			ipt->cls_shared++;
		} else {
			rs->cls[c] = tn_ipt_cls_build(ch);
			ipt->cls_built++;
		}
	}
}

static struct tn_ipt_ruleset *build(struct tn_stack *s, const struct tn_ipt_table *src, int table, char *err,
				    size_t errlen)
{
	struct tn_ipt *ipt = s->ipt;
	if (tn_ipt_table_check(src, table, err, errlen) < 0)
		return NULL;
	struct tn_ipt_ruleset *rs = calloc(1, sizeof(*rs));
	if (!rs || tn_ipt_table_copy(&rs->t, src) < 0) {
		free(rs);
		snprintf(err, errlen, "iptables: Memory allocation problem.");
		return NULL;
	}
	rs->table = table;
	for (int h = 0; h < TN_NF_NUMHOOKS; h++)
		rs->hook_chain[h] = -1;
	for (uint32_t c = 0; c < rs->t.nchains; c++) {
		struct tn_ipt_chain *ch = &rs->t.chains[c];
		if (ch->builtin)
			rs->hook_chain[ch->hook] = (int)c;
		for (uint32_t i = 0; i < ch->nrules; i++) {
			struct tn_ipt_rule *r = &ch->rules[i];
			r->jump_idx = r->set_idx = r->hl_idx = -1;
			if (r->target == TN_IPT_T_JUMP || r->target == TN_IPT_T_GOTO)
				r->jump_idx = tn_ipt_chain_find(&rs->t, r->jump);
			for (unsigned k = 0; k < r->nmods; k++) {
				if (r->mods[k] == TN_IPT_M_CONNTRACK || r->mods[k] == TN_IPT_M_STATE)
					rs->uses_ct = true;
				if (r->mods[k] == TN_IPT_M_SET) {
					r->set_idx = tn_ipset_find(ipt, r->set_name);
					if (r->set_idx < 0) {
						snprintf(err, errlen, "iptables: Set %s doesn't exist.", r->set_name);
						goto fail;
					}
				}
				if (r->mods[k] == TN_IPT_M_HASHLIMIT) {
					r->hl_idx = tn_ipt_hl_get(ipt, r->hl_name);
					if (r->hl_idx < 0) {
						snprintf(err, errlen, "iptables: hashlimit: cannot create table %s", r->hl_name);
						goto fail;
					}
				}
			}
		}
	}
	build_cls(ipt, rs, ipt->cur[table]);
	for (int h = 0; h < TN_NF_NUMHOOKS; h++)
		if (table != TN_IPT_NAT)
			rs->vc_fields[h] = tn_ipt_vcache_fields(&rs->t, rs->hook_chain[h]);
	return rs;
fail:
	/* set_idx values are not yet counted: clear them before freeing */
	for (uint32_t c = 0; c < rs->t.nchains; c++)
		for (uint32_t i = 0; i < rs->t.chains[c].nrules; i++)
			rs->t.chains[c].rules[i].set_idx = -1;
	tn_ipt_table_free(&rs->t);
	free(rs);
	return NULL;
}

static void release(struct tn_ipt *ipt, struct tn_ipt_ruleset *rs)
{
	if (!rs)
		return;
	if (rs->users) {
		rs->retired = true; /* freed by the last traversal using it */
		return;
	}
	ruleset_free(ipt, rs);
}

int tn_ipt_apply(struct tn_stack *s, const struct tn_ipt_model *m, unsigned tables, char *err, size_t errlen)
{
	struct tn_ipt *ipt = tn_ipt_get(s);
	if (!ipt) {
		snprintf(err, errlen, "iptables: Memory allocation problem.");
		return -1;
	}
	struct tn_ipt_ruleset *built[TN_IPT_NTABLES] = {0};
	for (int t = 0; t < TN_IPT_NTABLES; t++) {
		if (!(tables & (1u << t)))
			continue;
		built[t] = build(s, &m->t[t], t, err, errlen);
		if (!built[t]) {
			for (int k = 0; k < t; k++)
				if (built[k]) {
					for (uint32_t c = 0; c < built[k]->t.nchains; c++)
						for (uint32_t i = 0; i < built[k]->t.chains[c].nrules; i++)
							built[k]->t.chains[c].rules[i].set_idx = -1;
					ruleset_free(ipt, built[k]);
					ipt->freed--;
				}
			return -1;
		}
	}
	/* All built: take the set references, then swap each in. */
	for (int t = 0; t < TN_IPT_NTABLES; t++) {
		struct tn_ipt_ruleset *rs = built[t];
		if (!rs)
			continue;
		for (uint32_t c = 0; c < rs->t.nchains; c++)
			for (uint32_t i = 0; i < rs->t.chains[c].nrules; i++)
				if (rs->t.chains[c].rules[i].set_idx >= 0)
					tn_ipset_ref(ipt, rs->t.chains[c].rules[i].set_idx);
		struct tn_ipt_ruleset *old = ipt->cur[t];
		ipt->cur[t] = rs; /* the one store a packet could observe */
		ipt->swaps++;
		set_registered(s, t, rs, !table_trivial(&rs->t));
		release(ipt, old);
		if (t == TN_IPT_NAT && ipt->registered[t] && !s->nat)
			snprintf(err, errlen, "iptables: NAT could not be enabled (no memory, or the hooks are full)");
		/* As Linux loads nf_conntrack for a rule that needs it. */
		if (rs->uses_ct && !ipt->ct_state && !tn_ct_enabled(s) && tern_conntrack_enable(s) < 0)
			snprintf(err, errlen, "iptables: conntrack could not be enabled (no memory): "
					     "state matches see every packet as INVALID");
	}
	return 0;
}

/* ---- targets ---- */
static const char *ifname(struct tn_stack *s, int ifindex)
{
	if (ifindex == 0)
		return "lo";
	struct tn_iface *ifc = tn_iface_get(s, ifindex);
	return ifc ? ifc->dev->name : "?";
}

static void do_log(struct tn_stack *s, struct tn_ipt *ipt, const struct tn_ipt_rule *r, const struct tn_pkt *p,
		   const struct tn_ipt_pkt *pi)
{
	char line[256];
	size_t n = 0;
#define APP(...)                                                                    \
	do {                                                                        \
		if (n < sizeof(line))                                               \
			n += (size_t)snprintf(line + n, sizeof(line) - n, __VA_ARGS__); \
	} while (0)
	APP("%sIN=%s OUT=%s ", r->log_prefix, pi->in, pi->out);
	APP("SRC=%u.%u.%u.%u DST=%u.%u.%u.%u ", pi->src >> 24, (pi->src >> 16) & 255, (pi->src >> 8) & 255,
	    pi->src & 255, pi->dst >> 24, (pi->dst >> 16) & 255, (pi->dst >> 8) & 255, pi->dst & 255);
	APP("LEN=%u TOS=0x%02X PREC=0x%02X TTL=%u ID=%u ", pi->tot_len, pi->tos & 0x1e, pi->tos & 0xe0, pi->ttl, pi->id);
	if (pi->frag_off & 0x4000)
		APP("DF ");
	if (pi->frag_off & 0x1fff)
		APP("FRAG:%u ", pi->frag_off & 0x1fff);
	if (pi->proto == TN_IPPROTO_TCP && pi->l4ok && !pi->frag) {
		APP("PROTO=TCP SPT=%u DPT=%u ", pi->sport, pi->dport);
		static const char *const fl[] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"};
		static const int order[] = {7, 6, 5, 4, 3, 2, 1, 0}; /* as Linux: CWR ECE URG ACK PSH RST SYN FIN */
		for (int k = 0; k < 8; k++)
			if (pi->tcp_flags & (1u << order[k]))
				APP("%s ", fl[order[k]]);
	} else if (pi->proto == TN_IPPROTO_UDP && pi->l4ok && !pi->frag) {
		APP("PROTO=UDP SPT=%u DPT=%u ", pi->sport, pi->dport);
	} else if (pi->proto == TN_IPPROTO_ICMP && pi->l4ok && !pi->frag) {
		APP("PROTO=ICMP TYPE=%u CODE=%u ", pi->icmp_type, pi->icmp_code);
	} else {
		APP("PROTO=%u ", pi->proto);
	}
	if (p->mark)
		APP("MARK=0x%x ", p->mark);
#undef APP
	n = strlen(line);
	if (n && line[n - 1] == ' ')
		line[n - 1] = 0;
	snprintf(ipt->log[ipt->log_next % TN_IPT_LOG_RING], sizeof(ipt->log[0]), "%s", line);
	ipt->log_next = (ipt->log_next + 1) % TN_IPT_LOG_RING;
	ipt->log_total++;
	/* syslog levels to the stack's (0 error .. 3 debug) */
	int lv = r->log_level <= 3 ? 0 : r->log_level == 4 ? 1 : r->log_level <= 6 ? 2 : 3;
	tn_log(s, lv, "%s", line);
}

void tn_ipt_log_dump(struct tn_stack *s, FILE *out)
{
	struct tn_ipt *ipt = s->ipt;
	if (!ipt)
		return;
	uint64_t n = ipt->log_total < TN_IPT_LOG_RING ? ipt->log_total : TN_IPT_LOG_RING;
	for (uint64_t k = 0; k < n; k++) {
		uint32_t idx = (uint32_t)((ipt->log_next + TN_IPT_LOG_RING - n + k) % TN_IPT_LOG_RING);
		fprintf(out, "%s\n", ipt->log[idx]);
	}
}

static void do_reject(struct tn_stack *s, const struct tn_ipt_rule *r, struct tn_pkt *p, const struct tn_ipt_pkt *pi)
{
	static const uint8_t codes[] = {
		[TN_IPT_REJ_PORT_UNREACH] = 3, [TN_IPT_REJ_NET_UNREACH] = 0,  [TN_IPT_REJ_HOST_UNREACH] = 1,
		[TN_IPT_REJ_PROTO_UNREACH] = 2, [TN_IPT_REJ_NET_PROHIB] = 9, [TN_IPT_REJ_HOST_PROHIB] = 10,
		[TN_IPT_REJ_ADMIN_PROHIB] = 13,
	};
	if (r->reject_with != TN_IPT_REJ_TCP_RESET) {
		tn_icmp_send_error(s, p, TN_ICMP_DEST_UNREACH, codes[r->reject_with], 0);
		return;
	}
	/* A reset from the destination, as Linux's nf_send_reset: only for a
	 * first fragment with a whole TCP header, never for a reset. */
	if (pi->proto != TN_IPPROTO_TCP || pi->frag || !pi->l4ok || (pi->tcp_flags & TN_TCP_RST))
		return;
	const uint8_t *ip = p->data;
	uint32_t ihl = (uint32_t)(ip[0] & 0xf) * 4;
	const uint8_t *th = ip + ihl;
	uint32_t doff = (uint32_t)(th[12] >> 4) * 4;
	if (doff < 20 || pi->tot_len < ihl + doff)
		return;
	struct tn_tcp_hdr h = {.sport = pi->sport, .dport = pi->dport, .seq = tn_get32(th + 4),
			       .ack = tn_get32(th + 8), .flags = pi->tcp_flags};
	uint32_t seglen = pi->tot_len - ihl - doff + !!(pi->tcp_flags & TN_TCP_SYN) + !!(pi->tcp_flags & TN_TCP_FIN);
	tn_tcp_send_rst_for(s, pi->dst, pi->src, &h, seglen);
}

/* The packet's conntrack state as the matches' TN_IPT_CT_* bit. */
static unsigned ct_state_bit(struct tn_stack *s, const struct tn_pkt *p)
{
	if (!tn_ct_enabled(s))
		return TN_IPT_CT_UNTRACKED;
	switch (tn_ct_state_of(s, p, NULL)) {
	case TN_CT_NEW: return TN_IPT_CT_NEW;
	case TN_CT_ESTABLISHED: return TN_IPT_CT_ESTABLISHED;
	case TN_CT_RELATED: return TN_IPT_CT_RELATED;
	case TN_CT_UNTRACKED: return TN_IPT_CT_UNTRACKED;
	case TN_CT_INVALID: break;
	}
	return TN_IPT_CT_INVALID;
}

/* ---- traversal ---- */
#define MAX_DEPTH TN_IPT_MAX_CHAINS

static enum tn_nf_verdict traverse(struct tn_stack *s, int table, int hook, struct tn_pkt *p, struct tn_ipt_pkt *pi,
				   struct tn_ipt_vc_rec *rec);

enum tn_nf_verdict tn_ipt_do_table(struct tn_stack *s, int table, struct tn_pkt *p, const struct tn_nf_state *st)
{
	struct tn_ipt *ipt = s->ipt;
	if (!ipt || table < 0 || table >= TN_IPT_NTABLES || !ipt->cur[table] || ipt->cur[table]->hook_chain[st->hook] < 0)
		return TN_NF_ACCEPT;
	struct tn_ipt_ruleset *rs = ipt->cur[table];
	struct tn_ipt_pkt pi;
	if (tn_ipt_pkt_parse(p, &pi) < 0)
		return TN_NF_ACCEPT;
	if (rs->uses_ct)
		pi.ct = ipt->ct_state ? ipt->ct_state(ipt->ct_ctx, s, p) : ct_state_bit(s, p);
	const struct tn_ipt_vc_fields *vf = &rs->vc_fields[st->hook];
	bool vm = !ipt->vcache_off && vf->use;
	if (vm && !rs->vc && !(rs->vc = tn_ipt_vcache_new()))
		vm = false;
	if (vm && !tn_ipt_vcache_active(rs->vc))
		vm = false;
	struct tn_ipt_vc_key key;
	if (vm) {
		/* an interface index names one device for the stack's life */
		int v = tn_ipt_vcache_lookup(rs->vc, &pi, st->hook, st->in_ifindex, st->out_ifindex, vf, &key);
		if (v >= 0)
			return (enum tn_nf_verdict)v;
	}
	bool has_in = st->hook <= TN_NF_FORWARD, has_out = st->hook >= TN_NF_FORWARD;
	pi.in = has_in ? ifname(s, st->in_ifindex) : "";
	pi.out = has_out ? ifname(s, st->out_ifindex) : "";
	struct tn_ipt_vc_rec rec = {.n = 0};
	enum tn_nf_verdict v = traverse(s, table, st->hook, p, &pi, vm ? &rec : NULL);
	/* cacheable rules neither swap nor free the ruleset; checked anyway */
	if (vm && ipt->cur[table] == rs)
		tn_ipt_vcache_store(rs->vc, &key, &rec, v);
	return v;
}

/* Charge a counter pair (pkts, bytes), and record it for the cache. */
static void charge(uint64_t *ctr, uint32_t len, struct tn_ipt_vc_rec *rec)
{
	ctr[0]++;
	ctr[1] += len;
	if (!rec)
		return;
	if (rec->n < TN_IPT_VC_CTRS)
		rec->ctr[rec->n++] = ctr;
	else
		rec->over = true;
}

enum tn_nf_verdict tn_ipt_traverse(struct tn_stack *s, int table, int hook, struct tn_pkt *p, struct tn_ipt_pkt *pi)
{
	return traverse(s, table, hook, p, pi, NULL);
}

void tn_ipt_vcache_counts(struct tn_stack *s, int table, uint64_t *hits, uint64_t *misses, uint64_t *bypassed)
{
	struct tn_ipt *ipt = s->ipt;
	const struct tn_ipt_ruleset *rs = ipt && table >= 0 && table < TN_IPT_NTABLES ? ipt->cur[table] : NULL;
	tn_ipt_vcache_stats(rs ? rs->vc : NULL, hits, misses, bypassed);
}

static enum tn_nf_verdict traverse(struct tn_stack *s, int table, int hook, struct tn_pkt *p, struct tn_ipt_pkt *pip,
				   struct tn_ipt_vc_rec *rec)
{
	struct tn_ipt *ipt = s->ipt;
	if (!ipt || table < 0 || table >= TN_IPT_NTABLES || !ipt->cur[table] || hook < 0 || hook >= TN_NF_NUMHOOKS)
		return TN_NF_ACCEPT;
	struct tn_ipt_ruleset *rs = ipt->cur[table];
	int entry = rs->hook_chain[hook];
	if (entry < 0)
		return TN_NF_ACCEPT;
	struct tn_ipt_pkt *pi = pip; /* not copied: a copy of what parse just stored stalls */
	struct tn_ipt_mctx mc = {.s = s, .ipt = ipt, .now = s->now, .cls = rs->cls};
	rs->users++;
	uint16_t stk_c[MAX_DEPTH];
	uint32_t stk_i[MAX_DEPTH];
	uint32_t sp = 0, c = (uint32_t)entry, i = 0;
	enum tn_nf_verdict v = TN_NF_ACCEPT;
	for (;;) {
		int k = tn_ipt_chain_match(&rs->t, c, i, pi, &mc);
		if (mc.hotdrop) {
			v = TN_NF_DROP;
			break;
		}
		struct tn_ipt_rule *r = k >= 0 ? &rs->t.chains[c].rules[k] : NULL;
		if (r)
			charge(&r->pkts, pi->len, rec);
		uint8_t tg = r ? r->target : TN_IPT_T_RETURN;
		if (tg == TN_IPT_T_RETURN) {
			if (!rs->t.chains[c].builtin && sp > 0) {
				sp--;
				c = stk_c[sp];
				i = stk_i[sp];
				continue;
			}
			/* end or RETURN of a built-in chain, or of a chain a goto
			 * left with nothing to return to: the policy */
			struct tn_ipt_chain *bc = &rs->t.chains[entry];
			charge(&bc->pol_pkts, pi->len, rec);
			v = bc->policy == TN_IPT_T_DROP ? TN_NF_DROP : TN_NF_ACCEPT;
			break;
		}
		i = (uint32_t)k + 1;
		switch (tg) {
		case TN_IPT_T_NONE:
			continue;
		case TN_IPT_T_ACCEPT:
			v = TN_NF_ACCEPT;
			goto out;
		case TN_IPT_T_DROP:
			v = TN_NF_DROP;
			goto out;
		case TN_IPT_T_JUMP:
			if (sp >= MAX_DEPTH) { /* cannot happen: no loops, at most MAX_CHAINS */
				v = TN_NF_DROP;
				goto out;
			}
			stk_c[sp] = (uint16_t)c;
			stk_i[sp] = i;
			sp++;
			/* fall through */
		case TN_IPT_T_GOTO:
			c = (uint32_t)r->jump_idx;
			i = 0;
			continue;
		case TN_IPT_T_REJECT:
			do_reject(s, r, p, pi);
			v = TN_NF_DROP;
			goto out;
		case TN_IPT_T_LOG:
			do_log(s, ipt, r, p, pi);
			continue;
		case TN_IPT_T_MARK:
			p->mark = (p->mark & ~r->xmark_m) ^ r->xmark_v;
			pi->mark = p->mark;
			continue;
		case TN_IPT_T_SNAT:
		case TN_IPT_T_DNAT:
		case TN_IPT_T_MASQUERADE:
		case TN_IPT_T_REDIRECT:
			/* Terminal, as Linux's: the mapping is set up (or the
			 * packet dropped when no tuple is free). */
			v = tn_nat_target(s, p, hook, tg, &r->nat_range);
			goto out;
		default:
			v = TN_NF_ACCEPT;
			goto out;
		}
	}
out:
	rs->users--;
	if (rs->retired && !rs->users)
		ruleset_free(ipt, rs);
	return v;
}

/* ---- commands on a stack ---- */
static int run_iptables(struct tn_stack *s, int argc, char **argv, FILE *out)
{
	struct tn_ipt_model m;
	if (tn_ipt_export(s, &m) < 0) {
		fprintf(out, "iptables: Memory allocation problem.\n");
		return 1;
	}
	unsigned changed = 0;
	int rc = tn_ipt_command(&m, argc, argv, out, out, &changed);
	if (rc == 0 && changed) {
		char err[320];
		if (tn_ipt_apply(s, &m, changed, err, sizeof(err)) < 0) {
			fprintf(out, "%s\n", err);
			rc = 1;
		}
	}
	tn_ipt_model_free(&m);
	return rc;
}

static int run_save(struct tn_stack *s, int argc, char **argv, FILE *out)
{
	int table = -1;
	bool counters = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--counters"))
			counters = true;
		else if ((!strcmp(argv[i], "-t") || !strcmp(argv[i], "--table")) && i + 1 < argc) {
			table = tn_ipt_table_by_name(argv[++i]);
			if (table < 0) {
				fprintf(out, "iptables-save: Table `%s' does not exist\n", argv[i]);
				return 1;
			}
		} else {
			fprintf(out, "iptables-save: unknown argument `%s'\n", argv[i]);
			return 2;
		}
	}
	struct tn_ipt_model m;
	if (tn_ipt_export(s, &m) < 0)
		return 1;
	tn_ipt_save(&m, table, counters, out);
	tn_ipt_model_free(&m);
	return 0;
}

static int run_restore(struct tn_stack *s, int argc, char **argv, const char *input, size_t inlen, FILE *out)
{
	bool noflush = false, counters = false, test = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-n") || !strcmp(argv[i], "--noflush"))
			noflush = true;
		else if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--counters"))
			counters = true;
		else if (!strcmp(argv[i], "-t") || !strcmp(argv[i], "--test"))
			test = true;
		else if (argv[i][0] == '-') {
			fprintf(out, "iptables-restore: unknown option \"%s\"\n", argv[i]);
			return 2;
		}
	}
	if (!input) {
		fprintf(out, "iptables-restore: no input\n");
		return 2;
	}
	struct tn_ipt_model m;
	if (tn_ipt_export(s, &m) < 0)
		return 1;
	unsigned changed = 0;
	int rc = tn_ipt_restore(&m, input, inlen, noflush, counters, out, &changed);
	if (rc == 0 && changed && !test) {
		char err[320];
		if (tn_ipt_apply(s, &m, changed, err, sizeof(err)) < 0) {
			fprintf(out, "iptables-restore: %s\n", err);
			rc = 1;
		}
	}
	tn_ipt_model_free(&m);
	return rc;
}

static int run_ipset(struct tn_stack *s, int argc, char **argv, FILE *out)
{
	char err[256] = "";
	const char *sub = argc > 1 ? argv[1] : "";
	int rc = 0;
	if (!strcmp(sub, "create") || !strcmp(sub, "-N") || !strcmp(sub, "n")) {
		if (argc < 4) {
			fprintf(out, "ipset: usage: create NAME hash:ip|hash:net|bitmap:port [range A-B]\n");
			return 2;
		}
		char type[64];
		snprintf(type, sizeof(type), "%s", argv[3]);
		if (argc >= 6 && !strcmp(argv[4], "range"))
			snprintf(type, sizeof(type), "%s range %s", argv[3], argv[5]);
		rc = tn_ipset_create(s, argv[2], type, err, sizeof(err));
	} else if (!strcmp(sub, "add") || !strcmp(sub, "del") || !strcmp(sub, "-A") || !strcmp(sub, "-D")) {
		if (argc < 4) {
			fprintf(out, "ipset: usage: %s NAME ELEMENT\n", sub);
			return 2;
		}
		rc = tn_ipset_add(s, argv[2], argv[3], !strcmp(sub, "del") || !strcmp(sub, "-D"), err, sizeof(err));
	} else if (!strcmp(sub, "test")) {
		if (argc < 4) {
			fprintf(out, "ipset: usage: test NAME ELEMENT\n");
			return 2;
		}
		rc = tn_ipset_test(s, argv[2], argv[3], err, sizeof(err));
		if (rc >= 0) {
			fprintf(out, "%s is %sin set %s.\n", argv[3], rc ? "" : "NOT ", argv[2]);
			return rc ? 0 : 1;
		}
	} else if (!strcmp(sub, "destroy") || !strcmp(sub, "-X")) {
		if (argc < 3) {
			fprintf(out, "ipset: usage: destroy NAME\n");
			return 2;
		}
		rc = tn_ipset_destroy(s, argv[2], err, sizeof(err));
	} else if (!strcmp(sub, "list") || !strcmp(sub, "-L")) {
		struct tn_ipt *ipt = tn_ipt_get(s);
		if (argc > 2 && (!ipt || tn_ipset_find(ipt, argv[2]) < 0)) {
			fprintf(out, "ipset v7: The set with the given name does not exist\n");
			return 1;
		}
		tn_ipset_list(s, argc > 2 ? argv[2] : NULL, out);
		return 0;
	} else {
		fprintf(out, "ipset: unknown command \"%s\" (create, add, del, test, list, destroy)\n", sub);
		return 2;
	}
	if (rc < 0) {
		fprintf(out, "%s\n", err);
		return 1;
	}
	return 0;
}

int tn_ipt_run(struct tn_stack *s, int argc, char **argv, const char *input, size_t inlen, FILE *out)
{
	if (argc < 1)
		return 2;
	if (!tn_ipt_get(s)) {
		fprintf(out, "iptables: Memory allocation problem.\n");
		return 1;
	}
	if (!strcmp(argv[0], "iptables"))
		return run_iptables(s, argc, argv, out);
	if (!strcmp(argv[0], "iptables-save"))
		return run_save(s, argc, argv, out);
	if (!strcmp(argv[0], "iptables-restore"))
		return run_restore(s, argc, argv, input, inlen, out);
	if (!strcmp(argv[0], "ipset"))
		return run_ipset(s, argc, argv, out);
	if (!strcmp(argv[0], "iptables-log")) {
		tn_ipt_log_dump(s, out);
		return 0;
	}
	fprintf(out, "tern: unknown command \"%s\"\n", argv[0]);
	return 2;
}
