/* iptables for tern: tables (raw, mangle, nat, filter), chains and rules
 * on the netfilter hooks, the iptables command line and the
 * iptables-save/restore format, ipset-style sets.
 *
 * Two layers:
 *  - a model (struct tn_ipt_model): four tables of named chains holding
 *    rules, edited by iptables commands and restore files.  It needs no
 *    stack: `tern iptables -f FILE` edits a file with it, and the fuzzer
 *    drives it.  ipt_parse.c.
 *  - the stack's state (struct tn_ipt, s->ipt): per table an immutable
 *    ruleset built from a model (jump targets, sets and hashlimit tables
 *    resolved, loops and target/hook constraints checked) and swapped in
 *    with one pointer store; the hook functions traverse it.  A change
 *    exports the current rulesets to a model (counters and rate-limit
 *    state included), edits it and applies the result; a chain whose rules
 *    did not change keeps its compiled classifier.  ipt_table.c.
 *
 * Matching sits behind tn_ipt_chain_match() (ipt_rule.c): each chain's
 * compiled classifier (tuple-space search, ipt_cls.c). */
#ifndef TN_IPT_H
#define TN_IPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/pkt.h"
#include "filter/nat.h"
#include "filter/nf.h"

struct tn_stack;

enum tn_ipt_table_id { TN_IPT_RAW, TN_IPT_MANGLE, TN_IPT_NAT, TN_IPT_FILTER, TN_IPT_NTABLES };

#define TN_IPT_CHAIN_MAXNAME 29 /* with the NUL, as Linux's XT_EXTENSION_MAXNAMELEN */
#define TN_IPT_IFNAMSIZ 16
#define TN_IPT_MAX_CHAINS 1024
#define TN_IPT_MAX_RULES 100000
#define TN_IPT_MAX_MODS 12
#define TN_IPT_MULTIPORT_MAX 15

/* Connection-tracking states as match bits (Linux's XT_STATE_* order). */
enum {
	TN_IPT_CT_INVALID = 1u << 0,
	TN_IPT_CT_NEW = 1u << 1,
	TN_IPT_CT_ESTABLISHED = 1u << 2,
	TN_IPT_CT_RELATED = 1u << 3,
	TN_IPT_CT_UNTRACKED = 1u << 4,
};
/* Where the tables learn a packet's conntrack state: one TN_IPT_CT_* bit.
 * Default (no function set): TN_IPT_CT_UNTRACKED.  Conntrack sets it. */
typedef unsigned (*tn_ipt_ct_state_fn)(void *ctx, struct tn_stack *s, const struct tn_pkt *p);

/* -m modules, in the order a rule names them (printed in that order). */
enum tn_ipt_mod {
	TN_IPT_M_TCP = 1,
	TN_IPT_M_UDP,
	TN_IPT_M_ICMP,
	TN_IPT_M_MULTIPORT,
	TN_IPT_M_CONNTRACK,
	TN_IPT_M_STATE,
	TN_IPT_M_MARK,
	TN_IPT_M_LENGTH,
	TN_IPT_M_LIMIT,
	TN_IPT_M_HASHLIMIT,
	TN_IPT_M_SET,
	TN_IPT_M_COMMENT,
	TN_IPT_M_COUNT,
};

/* Negation bits (rule->inv). */
enum {
	TN_IPT_INV_SRC = 1u << 0,
	TN_IPT_INV_DST = 1u << 1,
	TN_IPT_INV_IN = 1u << 2,
	TN_IPT_INV_OUT = 1u << 3,
	TN_IPT_INV_PROTO = 1u << 4,
	TN_IPT_INV_SPORT = 1u << 5,
	TN_IPT_INV_DPORT = 1u << 6,
	TN_IPT_INV_FLAGS = 1u << 7,
	TN_IPT_INV_ICMP = 1u << 8,
	TN_IPT_INV_MPORT = 1u << 9,
	TN_IPT_INV_CTSTATE = 1u << 10,
	TN_IPT_INV_STATE = 1u << 11,
	TN_IPT_INV_MARK = 1u << 12,
	TN_IPT_INV_LENGTH = 1u << 13,
	TN_IPT_INV_SET = 1u << 14,
};

enum tn_ipt_target {
	TN_IPT_T_NONE,    /* no -j: count and go on */
	TN_IPT_T_ACCEPT,
	TN_IPT_T_DROP,
	TN_IPT_T_RETURN,
	TN_IPT_T_JUMP,    /* -j CHAIN */
	TN_IPT_T_GOTO,    /* -g CHAIN */
	TN_IPT_T_REJECT,
	TN_IPT_T_LOG,
	TN_IPT_T_MARK,
	TN_IPT_T_SNAT,
	TN_IPT_T_DNAT,
	TN_IPT_T_MASQUERADE,
	TN_IPT_T_REDIRECT,
};

enum tn_ipt_reject_with {
	TN_IPT_REJ_PORT_UNREACH,  /* default */
	TN_IPT_REJ_NET_UNREACH,
	TN_IPT_REJ_HOST_UNREACH,
	TN_IPT_REJ_PROTO_UNREACH,
	TN_IPT_REJ_NET_PROHIB,
	TN_IPT_REJ_HOST_PROHIB,
	TN_IPT_REJ_ADMIN_PROHIB,
	TN_IPT_REJ_TCP_RESET,
};

enum { TN_IPT_MP_SRC = 1, TN_IPT_MP_DST = 2, TN_IPT_MP_BOTH = 3 };
enum { TN_IPT_HL_SRCIP = 1, TN_IPT_HL_DSTIP = 2 };

/* A token bucket (limit, and each hashlimit entry): credit in units where
 * one unit_ns of time adds `rate` and a packet costs unit_ns. */
struct tn_ipt_bucket {
	uint64_t credit;
	uint64_t last;
	bool init;
};

struct tn_ipt_rule {
	uint32_t src, smsk, dst, dmsk;
	char in[TN_IPT_IFNAMSIZ], out[TN_IPT_IFNAMSIZ]; /* "" any; "eth+" prefix */
	uint8_t proto;               /* 0: all */
	uint32_t inv;                /* TN_IPT_INV_* */
	uint8_t mods[TN_IPT_MAX_MODS];
	uint8_t nmods;
	/* tcp / udp */
	bool has_sport, has_dport, has_flags;
	uint16_t sport[2], dport[2];
	uint8_t flg_mask, flg_cmp;
	/* icmp: type 255 = any */
	uint8_t icmp_type, icmp_code[2];
	/* multiport */
	uint8_t mp_kind, mp_n;
	uint16_t mp[TN_IPT_MULTIPORT_MAX][2];
	/* conntrack --ctstate, state --state: TN_IPT_CT_* bits */
	uint8_t ctstate, state;
	/* mark */
	uint32_t mark, mark_mask;
	/* length (IP total length) */
	uint16_t len[2];
	/* limit: rate per unit, burst */
	uint32_t lim_rate, lim_unit, lim_burst; /* unit: seconds (1, 60, 3600, 86400) */
	struct tn_ipt_bucket lim;
	/* hashlimit */
	uint32_t hl_rate, hl_unit, hl_burst, hl_expire_ms;
	uint8_t hl_mode;
	bool hl_above;
	char hl_name[32];
	int hl_idx;                  /* resolved at apply */
	/* set */
	char set_name[32];
	uint8_t set_dirs[2];         /* TN_IPT_MP_SRC / TN_IPT_MP_DST per dimension */
	uint8_t set_ndirs;
	int set_idx;                 /* resolved at apply */
	char comment[256];
	/* target */
	uint8_t target;              /* enum tn_ipt_target */
	char jump[TN_IPT_CHAIN_MAXNAME];
	int jump_idx;                /* resolved chain index */
	uint8_t reject_with;
	char log_prefix[30];
	uint8_t log_level;
	uint32_t xmark_v, xmark_m;   /* MARK: mark = (mark & ~m) ^ v */
	char nat_opt[20];            /* "--to-source" ... "" when none */
	char nat_arg[64];
	bool nat_random, nat_random_fully, nat_persistent; /* --random, --random-fully, --persistent */
	struct tn_nat_range nat_range; /* nat_arg parsed (and --random) */
	/* counters */
	uint64_t pkts, bytes;
};

struct tn_ipt_chain {
	char name[TN_IPT_CHAIN_MAXNAME];
	bool builtin;
	int hook;                    /* builtin: enum tn_nf_hooknum */
	uint8_t policy;              /* builtin: TN_IPT_T_ACCEPT or TN_IPT_T_DROP */
	uint64_t pol_pkts, pol_bytes;
	struct tn_ipt_rule *rules;
	uint32_t nrules, cap;
};

struct tn_ipt_table {
	struct tn_ipt_chain *chains; /* built-in chains first, in Linux's order */
	uint32_t nchains, cap;
	bool present;                /* touched: iptables-save prints it */
};

struct tn_ipt_model {
	struct tn_ipt_table t[TN_IPT_NTABLES];
};

/* ---- the model (ipt_parse.c) ---- */
const char *tn_ipt_table_name(int t);
int tn_ipt_table_by_name(const char *name);
void tn_ipt_model_init(struct tn_ipt_model *m);
void tn_ipt_model_free(struct tn_ipt_model *m);
/* Deep copy; 0 or -ENOMEM. */
int tn_ipt_model_copy(struct tn_ipt_model *dst, const struct tn_ipt_model *src);
void tn_ipt_table_free(struct tn_ipt_table *t);
int tn_ipt_table_copy(struct tn_ipt_table *dst, const struct tn_ipt_table *src);
void tn_ipt_table_reset(struct tn_ipt_table *t, int table); /* built-in chains only, ACCEPT */
int tn_ipt_chain_find(const struct tn_ipt_table *t, const char *name);
/* Loops (ELOOP), targets in chains whose hooks cannot have them: 0, or
 * -1 with a message in err. */
int tn_ipt_table_check(const struct tn_ipt_table *t, int table, char *err, size_t errlen);

/* Run one iptables command (argv[0] is "iptables") on the model.  Output
 * (-L, -S) to out; errors to err as iptables words them.  Returns 0, 1
 * for a failed command (nothing changed), 2 for a usage error.  *changed
 * gets the bit of each table the command modified. */
int tn_ipt_command(struct tn_ipt_model *m, int argc, char **argv, FILE *out, FILE *err, unsigned *changed);
/* iptables-restore: the whole text is checked before anything changes.
 * noflush: tables named keep their rules (as --noflush).  counters: take
 * [p:b] from the file.  0, or 1 with "iptables-restore: line N failed: ..." on err. */
int tn_ipt_restore(struct tn_ipt_model *m, const char *text, size_t len, bool noflush, bool counters,
		   FILE *err, unsigned *changed);
/* iptables-save: the present tables (or only `table` if >= 0). */
void tn_ipt_save(const struct tn_ipt_model *m, int table, bool counters, FILE *out);
/* One rule as -S prints it after "-A CHAIN" (leading space included). */
void tn_ipt_rule_print(const struct tn_ipt_rule *r, FILE *out);

/* ---- the stack side (ipt_table.c) ---- */
struct tn_ipt_ruleset;
struct tn_ipt_set;
struct tn_ipt_hltable;
struct tn_ipt_cls;

#define TN_IPT_LOG_RING 64

struct tn_ipt {
	struct tn_ipt_ruleset *cur[TN_IPT_NTABLES];
	bool registered[TN_IPT_NTABLES];
	tn_ipt_ct_state_fn ct_state;
	void *ct_ctx;
	struct tn_ipt_set **sets;
	uint32_t nsets;
	struct tn_ipt_hltable **hl;
	uint32_t nhl;
	char log[TN_IPT_LOG_RING][256]; /* LOG target lines, newest at log_next-1 */
	uint32_t log_next;
	uint64_t log_total;
	uint64_t swaps, freed;          /* rulesets swapped in / freed */
	uint64_t cls_built, cls_shared; /* chain classifiers compiled / kept from the last ruleset */
	bool vcache_off;                /* no verdict cache (ipt_vcache.h): tests and benchmarks compare */
};

/* s->ipt, created on first use; NULL only when out of memory. */
struct tn_ipt *tn_ipt_get(struct tn_stack *s);
void tn_ipt_destroy(struct tn_stack *s);
void tn_ipt_set_ct_hook(struct tn_stack *s, tn_ipt_ct_state_fn fn, void *ctx);
/* The stack's tables as a model (counters and limit state included). */
int tn_ipt_export(struct tn_stack *s, struct tn_ipt_model *m);
/* Build the tables in `tables` (bits) from m and swap them in together;
 * nothing changes on error (message in err). */
int tn_ipt_apply(struct tn_stack *s, const struct tn_ipt_model *m, unsigned tables, char *err, size_t errlen);
/* Run a table's chain for a hook directly (the hook functions do this):
 * TN_NF_ACCEPT, TN_NF_DROP (REJECT included, its answer sent) or STOLEN. */
enum tn_nf_verdict tn_ipt_do_table(struct tn_stack *s, int table, struct tn_pkt *p, const struct tn_nf_state *st);
/* The traversal itself, on a packet view the caller filled (in/out
 * names, ct); p is where MARK writes and what REJECT answers. */
struct tn_ipt_pkt;
enum tn_nf_verdict tn_ipt_traverse(struct tn_stack *s, int table, int hook, struct tn_pkt *p, struct tn_ipt_pkt *pi);
/* The current ruleset's verdict cache: traversals replayed / recorded /
 * run past the cache while it stood aside. */
void tn_ipt_vcache_counts(struct tn_stack *s, int table, uint64_t *hits, uint64_t *misses, uint64_t *bypassed);
/* The last n LOG lines, oldest first, each followed by '\n'. */
void tn_ipt_log_dump(struct tn_stack *s, FILE *out);
/* Commands on a stack, as `tern iptables|iptables-save|iptables-restore|ipset`
 * runs them (argv[0] names which).  input: the restore file's text. */
int tn_ipt_run(struct tn_stack *s, int argc, char **argv, const char *input, size_t inlen, FILE *out);

/* ---- matching (ipt_rule.c) ---- */
/* What the matches look at, taken from the packet once. */
struct tn_ipt_pkt {
	uint32_t src, dst;
	uint8_t proto, tos, ttl;
	uint16_t tot_len, id, frag_off;
	bool frag;                   /* not the first fragment: no L4 header */
	bool l4ok;                   /* L4 header present (ports/type/flags valid) */
	uint16_t sport, dport;
	uint8_t tcp_flags;
	uint8_t icmp_type, icmp_code;
	uint32_t len;                /* bytes, as counted (pkt_len) */
	uint32_t mark;
	const char *in, *out;        /* interface names, "" none */
	unsigned ct;                 /* TN_IPT_CT_* bit */
};
/* Parse what the matches need from p (data at the IPv4 header); -1 if
 * not even an IPv4 header is there. */
int tn_ipt_pkt_parse(const struct tn_pkt *p, struct tn_ipt_pkt *pi);

/* Context a stateful match needs (clock, sets, hashlimit tables). */
struct tn_ipt_mctx {
	struct tn_stack *s;
	struct tn_ipt *ipt;
	uint64_t now;
	bool hotdrop;                /* a truncated header: drop the packet */
	struct tn_ipt_cls *const *cls; /* the ruleset's classifier per chain (NULL: none) */
};
/* The first rule at or after `start` in chain c that matches pi, or -1.
 * The one entry point of matching: the chain's compiled classifier
 * (mc->cls[c], ipt_cls.h) when there is one, else the linear scan. */
int tn_ipt_chain_match(const struct tn_ipt_table *t, uint32_t c, uint32_t start, const struct tn_ipt_pkt *pi,
		       struct tn_ipt_mctx *mc);
/* The plain scan, rule by rule: the classifier's reference. */
int tn_ipt_chain_match_linear(const struct tn_ipt_chain *ch, uint32_t start, const struct tn_ipt_pkt *pi,
			      struct tn_ipt_mctx *mc);
bool tn_ipt_rule_match(const struct tn_ipt_rule *r, const struct tn_ipt_pkt *pi, struct tn_ipt_mctx *mc);
/* A token bucket: true if a packet may pass now (and takes its cost). */
bool tn_ipt_bucket_take(struct tn_ipt_bucket *b, uint64_t now, uint32_t rate, uint32_t unit_s, uint32_t burst);

/* ---- sets (ipt_rule.c) ---- */
enum tn_ipt_set_type { TN_IPSET_HASH_IP, TN_IPSET_HASH_NET, TN_IPSET_BITMAP_PORT };
int tn_ipset_create(struct tn_stack *s, const char *name, const char *type, char *err, size_t errlen);
int tn_ipset_destroy(struct tn_stack *s, const char *name, char *err, size_t errlen);
int tn_ipset_add(struct tn_stack *s, const char *name, const char *elem, bool del, char *err, size_t errlen);
/* 1 in the set, 0 not, -1 error. */
int tn_ipset_test(struct tn_stack *s, const char *name, const char *elem, char *err, size_t errlen);
int tn_ipset_find(struct tn_ipt *ipt, const char *name);
void tn_ipset_ref(struct tn_ipt *ipt, int idx);
void tn_ipset_unref(struct tn_ipt *ipt, int idx);
void tn_ipset_list(struct tn_stack *s, const char *name, FILE *out);
void tn_ipset_free_all(struct tn_ipt *ipt);
/* Does set idx hold the packet in these dimensions? */
bool tn_ipset_match(struct tn_ipt *ipt, int idx, const uint8_t *dirs, unsigned ndirs, const struct tn_ipt_pkt *pi);
/* hashlimit tables, by name. */
int tn_ipt_hl_get(struct tn_ipt *ipt, const char *name);
void tn_ipt_hl_free_all(struct tn_ipt *ipt);

#endif
