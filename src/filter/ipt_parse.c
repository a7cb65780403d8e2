/* The iptables model: tables of chains of rules, the iptables command
 * line, -L/-S listings and the iptables-save/restore format.  No stack
 * here: the same code edits a stack's tables (through ipt_table.c), a
 * config file, and runs under the fuzzer. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "filter/ipt.h"

/* ---- tables and chains ---- */
static const char *const table_names[TN_IPT_NTABLES] = {"raw", "mangle", "nat", "filter"};
static const char *const hook_names[TN_NF_NUMHOOKS] = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"};
/* Built-in chains per table, in Linux's order. */
static const int table_hooks[TN_IPT_NTABLES][6] = {
	[TN_IPT_RAW] = {TN_NF_PRE_ROUTING, TN_NF_LOCAL_OUT, -1},
	[TN_IPT_MANGLE] = {TN_NF_PRE_ROUTING, TN_NF_LOCAL_IN, TN_NF_FORWARD, TN_NF_LOCAL_OUT, TN_NF_POST_ROUTING, -1},
	[TN_IPT_NAT] = {TN_NF_PRE_ROUTING, TN_NF_LOCAL_IN, TN_NF_LOCAL_OUT, TN_NF_POST_ROUTING, -1},
	[TN_IPT_FILTER] = {TN_NF_LOCAL_IN, TN_NF_FORWARD, TN_NF_LOCAL_OUT, -1},
};

const char *tn_ipt_table_name(int t)
{
	return t >= 0 && t < TN_IPT_NTABLES ? table_names[t] : "?";
}

int tn_ipt_table_by_name(const char *name)
{
	for (int t = 0; t < TN_IPT_NTABLES; t++)
		if (strcmp(name, table_names[t]) == 0)
			return t;
	return -1;
}

void tn_ipt_table_free(struct tn_ipt_table *t)
{
	for (uint32_t i = 0; i < t->nchains; i++)
		free(t->chains[i].rules);
	free(t->chains);
	memset(t, 0, sizeof(*t));
}

static int chain_add(struct tn_ipt_table *t, const char *name)
{
	if (t->nchains == t->cap) {
		uint32_t ncap = t->cap ? t->cap * 2 : 8;
		struct tn_ipt_chain *nc = realloc(t->chains, sizeof(*nc) * ncap);
		if (!nc)
			return -ENOMEM;
		t->chains = nc;
		t->cap = ncap;
	}
	struct tn_ipt_chain *c = &t->chains[t->nchains];
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->hook = -1;
	return (int)t->nchains++;
}

void tn_ipt_table_reset(struct tn_ipt_table *t, int table)
{
	bool present = t->present;
	tn_ipt_table_free(t);
	t->present = present;
	for (int k = 0; table_hooks[table][k] >= 0; k++) {
		int h = table_hooks[table][k];
		int c = chain_add(t, hook_names[h]);
		if (c < 0)
			return;
		t->chains[c].builtin = true;
		t->chains[c].hook = h;
		t->chains[c].policy = TN_IPT_T_ACCEPT;
	}
}

void tn_ipt_model_init(struct tn_ipt_model *m)
{
	memset(m, 0, sizeof(*m));
	for (int t = 0; t < TN_IPT_NTABLES; t++)
		tn_ipt_table_reset(&m->t[t], t);
}

void tn_ipt_model_free(struct tn_ipt_model *m)
{
	for (int t = 0; t < TN_IPT_NTABLES; t++)
		tn_ipt_table_free(&m->t[t]);
}

int tn_ipt_table_copy(struct tn_ipt_table *dst, const struct tn_ipt_table *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->present = src->present;
	dst->chains = calloc(src->nchains ? src->nchains : 1, sizeof(*dst->chains));
	if (!dst->chains)
		return -ENOMEM;
	dst->cap = src->nchains ? src->nchains : 1;
	for (uint32_t i = 0; i < src->nchains; i++) {
		struct tn_ipt_chain *c = &dst->chains[i];
		*c = src->chains[i];
		c->rules = NULL;
		c->cap = c->nrules;
		if (c->nrules) {
			c->rules = malloc(sizeof(*c->rules) * c->nrules);
			if (!c->rules) {
				dst->nchains = i;
				tn_ipt_table_free(dst);
				return -ENOMEM;
			}
			memcpy(c->rules, src->chains[i].rules, sizeof(*c->rules) * c->nrules);
		}
		dst->nchains = i + 1;
	}
	return 0;
}

int tn_ipt_model_copy(struct tn_ipt_model *dst, const struct tn_ipt_model *src)
{
	memset(dst, 0, sizeof(*dst));
	for (int t = 0; t < TN_IPT_NTABLES; t++)
		if (tn_ipt_table_copy(&dst->t[t], &src->t[t]) < 0) {
			tn_ipt_model_free(dst);
			return -ENOMEM;
		}
	return 0;
}

int tn_ipt_chain_find(const struct tn_ipt_table *t, const char *name)
{
	for (uint32_t i = 0; i < t->nchains; i++)
		if (strcmp(t->chains[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int rule_insert(struct tn_ipt_chain *c, uint32_t pos, const struct tn_ipt_rule *r)
{
	if (c->nrules >= TN_IPT_MAX_RULES)
		return -ENOSPC;
	if (c->nrules == c->cap) {
		uint32_t ncap = c->cap ? c->cap * 2 : 8;
		struct tn_ipt_rule *nr = realloc(c->rules, sizeof(*nr) * ncap);
		if (!nr)
			return -ENOMEM;
		c->rules = nr;
		c->cap = ncap;
	}
	memmove(&c->rules[pos + 1], &c->rules[pos], sizeof(*r) * (c->nrules - pos));
	c->rules[pos] = *r;
	c->nrules++;
	return 0;
}

static void rule_delete(struct tn_ipt_chain *c, uint32_t pos)
{
	memmove(&c->rules[pos], &c->rules[pos + 1], sizeof(c->rules[0]) * (c->nrules - pos - 1));
	c->nrules--;
}

/* ---- errors ---- */
struct pctx {
	char err[320];
	int rc;             /* 2 usage error, 1 other */
};

static int perr(struct pctx *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int perr(struct pctx *c, int rc, const char *fmt, ...)
{
	if (!c->err[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->err, sizeof(c->err), fmt, ap);
		va_end(ap);
		c->rc = rc;
	}
	return -1;
}

/* ---- value parsers ---- */
static int parse_uint(const char *s, uint64_t max, uint64_t *v)
{
	if (!s || !*s || !(isdigit((unsigned char)*s)))
		return -1;
	char *e;
	errno = 0;
	unsigned long long x = strtoull(s, &e, 0);
	if (*e || errno || x > max)
		return -1;
	*v = x;
	return 0;
}

/* Copy s into buf (cap bytes) and cut it at the first `sep`: *rest is what
 * followed the separator, NULL if there was none.  -1 if s does not fit. */
static int split_at(const char *s, char *buf, size_t cap, char sep, const char **rest)
{
	if (strlen(s) >= cap)
		return -1;
	strcpy(buf, s);
	char *p = strchr(buf, sep);
	if (p)
		*p++ = 0;
	*rest = p;
	return 0;
}

static int parse_addr_mask(const char *s, uint32_t *addr, uint32_t *mask)
{
	char buf[64];
	const char *slash;
	if (split_at(s, buf, sizeof(buf), '/', &slash) < 0)
		return -1;
	unsigned a[4];
	const char *p = buf;
	for (int i = 0; i < 4; i++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		unsigned v = 0, d = 0;
		while (isdigit((unsigned char)*p) && d < 4) {
			v = v * 10 + (unsigned)(*p++ - '0');
			d++;
		}
		if (v > 255 || d > 3)
			return -1;
		a[i] = v;
		if (i < 3 && *p++ != '.')
			return -1;
	}
	if (*p)
		return -1;
	*addr = a[0] << 24 | a[1] << 16 | a[2] << 8 | a[3];
	*mask = 0xffffffffu;
	if (slash) {
		uint32_t ma, mm;
		uint64_t plen;
		if (parse_uint(slash, 32, &plen) == 0 && !strchr(slash, 'x'))
			*mask = plen ? ~0u << (32 - plen) : 0;
		else if (parse_addr_mask(slash, &ma, &mm) == 0 && mm == 0xffffffffu)
			*mask = ma;
		else
			return -1;
	}
	*addr &= *mask;
	return 0;
}

static int mask_plen(uint32_t m)
{
	int n = 0;
	while (n < 32 && (m & (0x80000000u >> n)))
		n++;
	return (n == 32 ? 0xffffffffu : n ? ~0u << (32 - n) : 0u) == m ? n : -1;
}

static void print_addr(FILE *f, uint32_t a, uint32_t m, bool host_plain)
{
	fprintf(f, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
	if (host_plain && m == 0xffffffffu)
		return;
	int pl = mask_plen(m);
	if (pl >= 0)
		fprintf(f, "/%d", pl);
	else
		fprintf(f, "/%u.%u.%u.%u", m >> 24, (m >> 16) & 255, (m >> 8) & 255, m & 255);
}

static const struct {
	const char *name;
	int num;
} protos[] = {{"all", 0}, {"tcp", 6}, {"udp", 17}, {"icmp", 1}, {"gre", 47}, {"esp", 50}, {"ah", 51}, {"sctp", 132}};

static int parse_proto(const char *s)
{
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (strcasecmp(s, protos[i].name) == 0)
			return protos[i].num;
	uint64_t v;
	if (parse_uint(s, 255, &v) == 0)
		return (int)v;
	return -1;
}

static const char *proto_name(int p, char *buf)
{
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (protos[i].num == p)
			return protos[i].name;
	sprintf(buf, "%d", p);
	return buf;
}

static int parse_port(const char *s, uint16_t *p)
{
	static const struct {
		const char *n;
		uint16_t p;
	} svc[] = {{"ssh", 22}, {"http", 80}, {"https", 443}, {"domain", 53}, {"smtp", 25}, {"ftp", 21}, {"telnet", 23}, {"ntp", 123}};
	uint64_t v;
	if (parse_uint(s, 65535, &v) == 0 && isdigit((unsigned char)s[strlen(s) - 1]) && !strchr(s, 'x')) {
		*p = (uint16_t)v;
		return 0;
	}
	for (size_t i = 0; i < sizeof(svc) / sizeof(svc[0]); i++)
		if (strcmp(s, svc[i].n) == 0) {
			*p = svc[i].p;
			return 0;
		}
	return -1;
}

/* a, a:b, :b, a: */
static int parse_port_range(const char *s, uint16_t r[2])
{
	char buf[32];
	const char *colon;
	if (split_at(s, buf, sizeof(buf), ':', &colon) < 0)
		return -1;
	if (!colon)
		return parse_port(buf, &r[0]) < 0 ? -1 : (r[1] = r[0], 0);
	r[0] = 0;
	r[1] = 65535;
	if (buf[0] && parse_port(buf, &r[0]) < 0)
		return -1;
	if (colon[0] && parse_port(colon, &r[1]) < 0)
		return -1;
	if (r[0] > r[1]) { /* as iptables: a reversed range is swapped */
		uint16_t t = r[0];
		r[0] = r[1];
		r[1] = t;
	}
	return 0;
}

static void print_range(FILE *f, const uint16_t r[2])
{
	if (r[0] == r[1])
		fprintf(f, "%u", r[0]);
	else
		fprintf(f, "%u:%u", r[0], r[1]);
}

static const char *const tcp_flag_names[] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"};

static int parse_tcp_flags(const char *s, uint8_t *v)
{
	if (strcmp(s, "ALL") == 0) {
		*v = 0xff;
		return 0;
	}
	if (strcmp(s, "NONE") == 0) {
		*v = 0;
		return 0;
	}
	*v = 0;
	char buf[128];
	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int k = -1;
		for (int i = 0; i < 8; i++)
			if (strcmp(tok, tcp_flag_names[i]) == 0)
				k = i;
		if (k < 0)
			return -1;
		*v |= (uint8_t)(1u << k);
	}
	return buf[0] ? 0 : -1;
}

static void print_tcp_flags(FILE *f, uint8_t v)
{
	if (!v) {
		fputs("NONE", f);
		return;
	}
	if (v == 0xff) {
		fputs("ALL", f);
		return;
	}
	bool first = true;
	for (int i = 0; i < 8; i++)
		if (v & (1u << i)) {
			fprintf(f, "%s%s", first ? "" : ",", tcp_flag_names[i]);
			first = false;
		}
}

static const struct {
	const char *name;
	uint8_t type, lo, hi;
} icmp_names[] = {
	{"any", 255, 0, 255},
	{"echo-reply", 0, 0, 255},
	{"pong", 0, 0, 255},
	{"destination-unreachable", 3, 0, 255},
	{"network-unreachable", 3, 0, 0},
	{"host-unreachable", 3, 1, 1},
	{"protocol-unreachable", 3, 2, 2},
	{"port-unreachable", 3, 3, 3},
	{"fragmentation-needed", 3, 4, 4},
	{"source-route-failed", 3, 5, 5},
	{"network-prohibited", 3, 9, 9},
	{"host-prohibited", 3, 10, 10},
	{"communication-prohibited", 3, 13, 13},
	{"source-quench", 4, 0, 255},
	{"redirect", 5, 0, 255},
	{"echo-request", 8, 0, 255},
	{"ping", 8, 0, 255},
	{"router-advertisement", 9, 0, 255},
	{"router-solicitation", 10, 0, 255},
	{"time-exceeded", 11, 0, 255},
	{"ttl-exceeded", 11, 0, 255},
	{"ttl-zero-during-transit", 11, 0, 0},
	{"ttl-zero-during-reassembly", 11, 1, 1},
	{"parameter-problem", 12, 0, 255},
	{"timestamp-request", 13, 0, 255},
	{"timestamp-reply", 14, 0, 255},
	{"address-mask-request", 17, 0, 255},
	{"address-mask-reply", 18, 0, 255},
};

static int parse_icmp(const char *s, struct tn_ipt_rule *r)
{
	for (size_t i = 0; i < sizeof(icmp_names) / sizeof(icmp_names[0]); i++)
		if (strcasecmp(s, icmp_names[i].name) == 0) {
			r->icmp_type = icmp_names[i].type;
			r->icmp_code[0] = icmp_names[i].lo;
			r->icmp_code[1] = icmp_names[i].hi;
			return 0;
		}
	char buf[32];
	const char *slash;
	if (split_at(s, buf, sizeof(buf), '/', &slash) < 0)
		return -1;
	uint64_t t, c;
	if (parse_uint(buf, 254, &t) < 0)
		return -1;
	r->icmp_type = (uint8_t)t;
	r->icmp_code[0] = 0;
	r->icmp_code[1] = 255;
	if (slash) {
		if (parse_uint(slash, 255, &c) < 0)
			return -1;
		r->icmp_code[0] = r->icmp_code[1] = (uint8_t)c;
	}
	return 0;
}

static const char *const ct_names[] = {"INVALID", "NEW", "ESTABLISHED", "RELATED", "UNTRACKED"};
/* Linux prints them in this order. */
static const uint8_t ct_print_order[] = {TN_IPT_CT_INVALID, TN_IPT_CT_NEW, TN_IPT_CT_RELATED, TN_IPT_CT_ESTABLISHED,
					 TN_IPT_CT_UNTRACKED};

static int parse_ct(const char *s, uint8_t *v)
{
	char buf[128];
	if (strlen(s) >= sizeof(buf) || !*s)
		return -1;
	strcpy(buf, s);
	*v = 0;
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int k = -1;
		for (int i = 0; i < 5; i++)
			if (strcasecmp(tok, ct_names[i]) == 0)
				k = i;
		if (k < 0)
			return -1;
		*v |= (uint8_t)(1u << k);
	}
	return *v ? 0 : -1;
}

static void print_ct(FILE *f, uint8_t v)
{
	bool first = true;
	for (int i = 0; i < 5; i++) {
		uint8_t b = ct_print_order[i];
		if (v & b) {
			int k = __builtin_ctz(b);
			fprintf(f, "%s%s", first ? "" : ",", ct_names[k]);
			first = false;
		}
	}
}

static int parse_mark(const char *s, uint32_t *v, uint32_t *m)
{
	char buf[64];
	const char *slash;
	if (split_at(s, buf, sizeof(buf), '/', &slash) < 0)
		return -1;
	uint64_t a, b = 0xffffffffu;
	if (parse_uint(buf, 0xffffffffu, &a) < 0 || (slash && parse_uint(slash, 0xffffffffu, &b) < 0))
		return -1;
	*v = (uint32_t)a;
	*m = (uint32_t)b;
	return 0;
}

static int parse_rate(const char *s, uint32_t *rate, uint32_t *unit)
{
	char buf[64];
	const char *u;
	if (split_at(s, buf, sizeof(buf), '/', &u) < 0)
		return -1;
	*unit = 1;
	if (u) {
		size_t n = strlen(u);
		if (!n)
			return -1;
		if (strncasecmp(u, "second", n) == 0)
			*unit = 1;
		else if (strncasecmp(u, "minute", n) == 0)
			*unit = 60;
		else if (strncasecmp(u, "hour", n) == 0)
			*unit = 3600;
		else if (strncasecmp(u, "day", n) == 0)
			*unit = 86400;
		else
			return -1;
	}
	uint64_t v;
	if (parse_uint(buf, 1000000, &v) < 0 || v == 0 || strchr(buf, 'x'))
		return -1;
	*rate = (uint32_t)v;
	return 0;
}

static void print_rate(FILE *f, uint32_t rate, uint32_t unit)
{
	fprintf(f, "%u/%s", rate, unit == 1 ? "sec" : unit == 60 ? "min" : unit == 3600 ? "hour" : "day");
}

static const char *const reject_names[] = {
	[TN_IPT_REJ_PORT_UNREACH] = "icmp-port-unreachable", [TN_IPT_REJ_NET_UNREACH] = "icmp-net-unreachable",
	[TN_IPT_REJ_HOST_UNREACH] = "icmp-host-unreachable", [TN_IPT_REJ_PROTO_UNREACH] = "icmp-proto-unreachable",
	[TN_IPT_REJ_NET_PROHIB] = "icmp-net-prohibited",     [TN_IPT_REJ_HOST_PROHIB] = "icmp-host-prohibited",
	[TN_IPT_REJ_ADMIN_PROHIB] = "icmp-admin-prohibited", [TN_IPT_REJ_TCP_RESET] = "tcp-reset",
};

static int parse_reject(const char *s)
{
	static const struct {
		const char *n;
		int v;
	} alias[] = {{"port-unreach", TN_IPT_REJ_PORT_UNREACH}, {"net-unreach", TN_IPT_REJ_NET_UNREACH},
		     {"host-unreach", TN_IPT_REJ_HOST_UNREACH}, {"proto-unreach", TN_IPT_REJ_PROTO_UNREACH},
		     {"net-prohib", TN_IPT_REJ_NET_PROHIB},     {"host-prohib", TN_IPT_REJ_HOST_PROHIB},
		     {"admin-prohib", TN_IPT_REJ_ADMIN_PROHIB}, {"tcp-rst", TN_IPT_REJ_TCP_RESET}};
	for (int i = 0; i <= TN_IPT_REJ_TCP_RESET; i++)
		if (strcmp(s, reject_names[i]) == 0)
			return i;
	for (size_t i = 0; i < sizeof(alias) / sizeof(alias[0]); i++)
		if (strcmp(s, alias[i].n) == 0)
			return alias[i].v;
	return -1;
}

static int parse_log_level(const char *s)
{
	static const char *const lv[] = {"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"};
	uint64_t v;
	if (parse_uint(s, 7, &v) == 0)
		return (int)v;
	for (int i = 0; i < 8; i++)
		if (strcasecmp(s, lv[i]) == 0)
			return i;
	if (strcasecmp(s, "error") == 0)
		return 3;
	if (strcasecmp(s, "warn") == 0)
		return 4;
	if (strcasecmp(s, "panic") == 0)
		return 0;
	return -1;
}

/* Strings as xtables_save_string: bare when safe, else quoted with \ and " escaped. */
static void print_string(FILE *f, const char *s)
{
	bool bare = *s != 0;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.' && *p != ':' && *p != '/')
			bare = false;
	if (bare) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (const char *p = s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', f);
		fputc(*p, f);
	}
	fputc('"', f);
}

/* Names printed bare in save output must read back as one word. */
static bool bad_word(const char *w)
{
	for (const char *p = w; *p; p++)
		if (isspace((unsigned char)*p) || !isprint((unsigned char)*p) || *p == '"' || *p == '\\' || *p == '\'')
			return true;
	return !*w;
}

/* ---- rule parsing ---- */
static bool has_mod(const struct tn_ipt_rule *r, int m)
{
	for (unsigned i = 0; i < r->nmods; i++)
		if (r->mods[i] == m)
			return true;
	return false;
}

static const char *const mod_names[TN_IPT_M_COUNT] = {
	[TN_IPT_M_TCP] = "tcp",         [TN_IPT_M_UDP] = "udp",     [TN_IPT_M_ICMP] = "icmp",
	[TN_IPT_M_MULTIPORT] = "multiport", [TN_IPT_M_CONNTRACK] = "conntrack", [TN_IPT_M_STATE] = "state",
	[TN_IPT_M_MARK] = "mark",       [TN_IPT_M_LENGTH] = "length", [TN_IPT_M_LIMIT] = "limit",
	[TN_IPT_M_HASHLIMIT] = "hashlimit", [TN_IPT_M_SET] = "set", [TN_IPT_M_COMMENT] = "comment",
};

static int mod_by_name(const char *n)
{
	for (int i = 1; i < TN_IPT_M_COUNT; i++)
		if (strcmp(n, mod_names[i]) == 0)
			return i;
	return -1;
}

static int add_mod(struct pctx *c, struct tn_ipt_rule *r, int m)
{
	if (has_mod(r, m))
		return 0; /* "-m tcp -m tcp": one is enough */
	if (r->nmods >= TN_IPT_MAX_MODS)
		return perr(c, 2, "too many matches");
	r->mods[r->nmods++] = (uint8_t)m;
	if (m == TN_IPT_M_LIMIT) {
		r->lim_rate = 3;
		r->lim_unit = 3600;
		r->lim_burst = 5;
	}
	if (m == TN_IPT_M_HASHLIMIT)
		r->hl_burst = 5;
	if (m == TN_IPT_M_MARK)
		r->mark_mask = 0xffffffffu;
	return 0;
}

static const char *const target_names[] = {
	[TN_IPT_T_ACCEPT] = "ACCEPT", [TN_IPT_T_DROP] = "DROP",       [TN_IPT_T_RETURN] = "RETURN",
	[TN_IPT_T_REJECT] = "REJECT", [TN_IPT_T_LOG] = "LOG",         [TN_IPT_T_MARK] = "MARK",
	[TN_IPT_T_SNAT] = "SNAT",     [TN_IPT_T_DNAT] = "DNAT",       [TN_IPT_T_MASQUERADE] = "MASQUERADE",
	[TN_IPT_T_REDIRECT] = "REDIRECT",
};

static int target_by_name(const char *n)
{
	for (int i = 0; i < (int)(sizeof(target_names) / sizeof(target_names[0])); i++)
		if (target_names[i] && strcmp(n, target_names[i]) == 0)
			return i;
	return -1;
}

struct ruleopts {
	bool inv_pending;
	bool seen_j;
	bool seen_hl_rate, seen_hl_name, seen_set, seen_mark_target, seen_nat_to;
	bool seen_s, seen_d, seen_i, seen_o, seen_p;
};

static const char *need_arg(struct pctx *c, int argc, char **argv, int *i, const char *opt)
{
	if (*i + 1 >= argc) {
		perr(c, 2, "option \"%s\" requires an argument", opt);
		return NULL;
	}
	return argv[++*i];
}

static bool take_inv(struct ruleopts *o)
{
	bool v = o->inv_pending;
	o->inv_pending = false;
	return v;
}

static int check_port_list(struct pctx *c, struct tn_ipt_rule *r, const char *s)
{
	char buf[256];
	if (strlen(s) >= sizeof(buf))
		return perr(c, 2, "too many ports specified");
	strcpy(buf, s);
	unsigned used = 0;
	r->mp_n = 0;
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint16_t rg[2];
		if (parse_port_range(tok, rg) < 0)
			return perr(c, 2, "invalid port/service `%s' specified", tok);
		used += rg[0] == rg[1] ? 1 : 2;
		if (used > TN_IPT_MULTIPORT_MAX)
			return perr(c, 2, "too many ports specified");
		r->mp[r->mp_n][0] = rg[0];
		r->mp[r->mp_n][1] = rg[1];
		r->mp_n++;
	}
	if (!r->mp_n)
		return perr(c, 2, "invalid port/service `%s' specified", s);
	return 0;
}

/* A module's option: 1 consumed, 0 not this module's, -1 error. */
static int mod_option(struct pctx *c, struct tn_ipt_rule *r, struct ruleopts *o, int m, int argc, char **argv, int *i)
{
	const char *opt = argv[*i], *v;
	bool tcpudp = m == TN_IPT_M_TCP || m == TN_IPT_M_UDP;
	if (tcpudp && (!strcmp(opt, "--sport") || !strcmp(opt, "--source-port") || !strcmp(opt, "--dport") ||
		       !strcmp(opt, "--destination-port"))) {
		bool dst = opt[2] == 'd';
		if (!(v = need_arg(c, argc, argv, i, opt)))
			return -1;
		uint16_t *rg = dst ? r->dport : r->sport;
		if (parse_port_range(v, rg) < 0)
			return perr(c, 2, "invalid port/service `%s' specified", v);
		if (dst)
			r->has_dport = true;
		else
			r->has_sport = true;
		if (take_inv(o))
			r->inv |= dst ? TN_IPT_INV_DPORT : TN_IPT_INV_SPORT;
		return 1;
	}
	if (m == TN_IPT_M_TCP && !strcmp(opt, "--tcp-flags")) {
		if (*i + 2 >= argc)
			return perr(c, 2, "--tcp-flags requires two args.");
		if (parse_tcp_flags(argv[*i + 1], &r->flg_mask) < 0)
			return perr(c, 2, "Unknown TCP flag `%s'", argv[*i + 1]);
		if (parse_tcp_flags(argv[*i + 2], &r->flg_cmp) < 0)
			return perr(c, 2, "Unknown TCP flag `%s'", argv[*i + 2]);
		*i += 2;
		r->has_flags = true;
		if (take_inv(o))
			r->inv |= TN_IPT_INV_FLAGS;
		return 1;
	}
	if (m == TN_IPT_M_TCP && !strcmp(opt, "--syn")) {
		r->flg_mask = 0x17; /* FIN,SYN,RST,ACK */
		r->flg_cmp = 0x02;
		r->has_flags = true;
		if (take_inv(o))
			r->inv |= TN_IPT_INV_FLAGS;
		return 1;
	}
	if (m == TN_IPT_M_ICMP && !strcmp(opt, "--icmp-type")) {
		if (!(v = need_arg(c, argc, argv, i, opt)))
			return -1;
		if (parse_icmp(v, r) < 0)
			return perr(c, 2, "Invalid ICMP type `%s'", v);
		if (take_inv(o))
			r->inv |= TN_IPT_INV_ICMP;
		return 1;
	}
	if (m == TN_IPT_M_MULTIPORT && (!strcmp(opt, "--dports") || !strcmp(opt, "--sports") ||
					!strcmp(opt, "--ports") || !strcmp(opt, "--destination-ports") ||
					!strcmp(opt, "--source-ports"))) {
		if (r->mp_kind)
			return perr(c, 2, "multiport can only have one option");
		if (!(v = need_arg(c, argc, argv, i, opt)))
			return -1;
		if (check_port_list(c, r, v) < 0)
			return -1;
		r->mp_kind = opt[2] == 'd' ? TN_IPT_MP_DST : opt[2] == 's' ? TN_IPT_MP_SRC : TN_IPT_MP_BOTH;
		if (take_inv(o))
			r->inv |= TN_IPT_INV_MPORT;
		return 1;
	}
	if ((m == TN_IPT_M_CONNTRACK && !strcmp(opt, "--ctstate")) || (m == TN_IPT_M_STATE && !strcmp(opt, "--state"))) {
		if (!(v = need_arg(c, argc, argv, i, opt)))
			return -1;
		uint8_t *dst = m == TN_IPT_M_STATE ? &r->state : &r->ctstate;
		if (parse_ct(v, dst) < 0)
			return perr(c, 2, m == TN_IPT_M_STATE ? "Bad state \"%s\"" : "Bad ctstate \"%s\"", v);
		if (take_inv(o))
			r->inv |= m == TN_IPT_M_STATE ? TN_IPT_INV_STATE : TN_IPT_INV_CTSTATE;
		return 1;
	}
	if (m == TN_IPT_M_MARK && !strcmp(opt, "--mark")) {
		if (!(v = need_arg(c, argc, argv, i, opt)))
			return -1;
		if (parse_mark(v, &r->mark, &r->mark_mask) < 0)
			return perr(c, 2, "Bad mark value \"%s\"", v);
		r->mark &= r->mark_mask;
		if (take_inv(o))
			r->inv |= TN_IPT_INV_MARK;
		return 1;
	}
	if (m == TN_IPT_M_LENGTH && !strcmp(opt, "--length")) {
		if (!(v = need_arg(c, argc, argv, i, opt)))
			return -1;
		char buf[32];
		if (strlen(v) >= sizeof(buf))
			return perr(c, 2, "length invalid: \"%s\"", v);
		strcpy(buf, v);
		char *colon = strchr(buf, ':');
		uint64_t a = 0, b = 65535;
		if (colon)
			*colon = 0;
		if ((buf[0] || !colon) && parse_uint(buf, 65535, &a) < 0)
			return perr(c, 2, "length invalid: \"%s\"", v);
		if (!colon)
			b = a;
		else if (colon[1] && parse_uint(colon + 1, 65535, &b) < 0)
			return perr(c, 2, "length invalid: \"%s\"", v);
		if (a > b)
			return perr(c, 2, "length invalid: \"%s\"", v);
		r->len[0] = (uint16_t)a;
		r->len[1] = (uint16_t)b;
		if (take_inv(o))
			r->inv |= TN_IPT_INV_LENGTH;
		return 1;
	}
	if (m == TN_IPT_M_LIMIT && (!strcmp(opt, "--limit") || !strcmp(opt, "--limit-burst"))) {
		if (o->inv_pending)
			return perr(c, 2, "limit does not support invert");
		if (!(v = need_arg(c, argc, argv, i, opt)))
			return -1;
		uint64_t b;
		if (opt[7] == 0) {
			if (parse_rate(v, &r->lim_rate, &r->lim_unit) < 0)
				return perr(c, 2, "bad rate \"%s\"'", v);
		} else {
			if (parse_uint(v, 10000, &b) < 0 || b == 0)
				return perr(c, 2, "bad --limit-burst `%s'", v);
			r->lim_burst = (uint32_t)b;
		}
		return 1;
	}
	if (m == TN_IPT_M_HASHLIMIT && !strncmp(opt, "--hashlimit", 11)) {
		const char *sub = opt + 11;
		if (o->inv_pending)
			return perr(c, 2, "hashlimit does not support invert");
		if (!(v = need_arg(c, argc, argv, i, opt)))
			return -1;
		uint64_t b;
		if (!strcmp(sub, "-upto") || !strcmp(sub, "") || !strcmp(sub, "-above")) {
			if (parse_rate(v, &r->hl_rate, &r->hl_unit) < 0)
				return perr(c, 2, "bad rate \"%s\"'", v);
			r->hl_above = !strcmp(sub, "-above");
			o->seen_hl_rate = true;
		} else if (!strcmp(sub, "-burst")) {
			if (parse_uint(v, 10000, &b) < 0 || b == 0)
				return perr(c, 2, "bad --hashlimit-burst `%s'", v);
			r->hl_burst = (uint32_t)b;
		} else if (!strcmp(sub, "-mode")) {
			r->hl_mode = 0;
			char buf[64];
			if (strlen(v) >= sizeof(buf))
				return perr(c, 2, "Invalid mode `%s'", v);
			strcpy(buf, v);
			char *save = NULL;
			for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				if (!strcmp(tok, "srcip"))
					r->hl_mode |= TN_IPT_HL_SRCIP;
				else if (!strcmp(tok, "dstip"))
					r->hl_mode |= TN_IPT_HL_DSTIP;
				else
					return perr(c, 2, "Invalid mode `%s'", tok);
			}
			if (!r->hl_mode)
				return perr(c, 2, "Invalid mode `%s'", v);
		} else if (!strcmp(sub, "-name")) {
			if (!*v || strlen(v) >= sizeof(r->hl_name) || bad_word(v))
				return perr(c, 2, "hashlimit: bad --hashlimit-name `%s'", v);
			snprintf(r->hl_name, sizeof(r->hl_name), "%s", v);
			o->seen_hl_name = true;
		} else if (!strcmp(sub, "-htable-expire")) {
			if (parse_uint(v, 86400000, &b) < 0 || b == 0)
				return perr(c, 2, "bad --hashlimit-htable-expire `%s'", v);
			r->hl_expire_ms = (uint32_t)b;
		} else {
			--*i;
			return 0;
		}
		return 1;
	}
	if (m == TN_IPT_M_SET && !strcmp(opt, "--match-set")) {
		if (*i + 2 >= argc)
			return perr(c, 2, "--match-set requires two args.");
		const char *name = argv[*i + 1], *dirs = argv[*i + 2];
		if (!*name || strlen(name) >= sizeof(r->set_name) || bad_word(name))
			return perr(c, 2, "setname `%s' too long (max 31 characters) or invalid", name);
		snprintf(r->set_name, sizeof(r->set_name), "%s", name);
		r->set_ndirs = 0;
		char buf[32];
		if (strlen(dirs) >= sizeof(buf))
			return perr(c, 2, "Bad set flags `%s'", dirs);
		strcpy(buf, dirs);
		char *save = NULL;
		for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			if (r->set_ndirs >= 2)
				return perr(c, 2, "Bad set flags `%s'", dirs);
			if (!strcmp(tok, "src"))
				r->set_dirs[r->set_ndirs++] = TN_IPT_MP_SRC;
			else if (!strcmp(tok, "dst"))
				r->set_dirs[r->set_ndirs++] = TN_IPT_MP_DST;
			else
				return perr(c, 2, "You must specify (the comma separated list of) 'src' or 'dst'.");
		}
		if (!r->set_ndirs)
			return perr(c, 2, "You must specify (the comma separated list of) 'src' or 'dst'.");
		*i += 2;
		o->seen_set = true;
		if (take_inv(o))
			r->inv |= TN_IPT_INV_SET;
		return 1;
	}
	if (m == TN_IPT_M_COMMENT && !strcmp(opt, "--comment")) {
		if (!(v = need_arg(c, argc, argv, i, opt)))
			return -1;
		if (strchr(v, '\n') || strchr(v, '\r'))
			return perr(c, 2, "COMMENT: no line breaks");
		if (strlen(v) >= sizeof(r->comment))
			return perr(c, 2, "COMMENT must be shorter than %zu characters", sizeof(r->comment));
		snprintf(r->comment, sizeof(r->comment), "%s", v);
		return 1;
	}
	return 0;
}

/* A target's option: 1 consumed, 0 not, -1 error. */
static int target_option(struct pctx *c, struct tn_ipt_rule *r, struct ruleopts *o, int argc, char **argv, int *i)
{
	const char *opt = argv[*i], *v;
	switch (r->target) {
	case TN_IPT_T_REJECT:
		if (strcmp(opt, "--reject-with"))
			return 0;
		if (!(v = need_arg(c, argc, argv, i, opt)))
			return -1;
		int rw = parse_reject(v);
		if (rw < 0)
			return perr(c, 2, "unknown reject type \"%s\"", v);
		r->reject_with = (uint8_t)rw;
		return 1;
	case TN_IPT_T_LOG:
		if (!strcmp(opt, "--log-prefix")) {
			if (!(v = need_arg(c, argc, argv, i, opt)))
				return -1;
			if (strchr(v, '\n') || strchr(v, '\r'))
				return perr(c, 2, "--log-prefix: no line breaks");
			if (strlen(v) >= sizeof(r->log_prefix))
				return perr(c, 2, "Maximum prefix length %zu for --log-prefix", sizeof(r->log_prefix) - 1);
			snprintf(r->log_prefix, sizeof(r->log_prefix), "%s", v);
			return 1;
		}
		if (!strcmp(opt, "--log-level")) {
			if (!(v = need_arg(c, argc, argv, i, opt)))
				return -1;
			int lv = parse_log_level(v);
			if (lv < 0)
				return perr(c, 2, "log-level `%s' unknown", v);
			r->log_level = (uint8_t)lv;
			return 1;
		}
		return 0;
	case TN_IPT_T_MARK: {
		static const char *const mo[] = {"--set-mark", "--set-xmark", "--and-mark", "--or-mark", "--xor-mark"};
		int k = -1;
		for (int j = 0; j < 5; j++)
			if (!strcmp(opt, mo[j]))
				k = j;
		if (k < 0)
			return 0;
		if (o->seen_mark_target)
			return perr(c, 2, "MARK target: Can't specify --set-mark twice");
		if (!(v = need_arg(c, argc, argv, i, opt)))
			return -1;
		uint32_t val, msk;
		if (parse_mark(v, &val, &msk) < 0 || (k >= 2 && strchr(v, '/')))
			return perr(c, 2, "Bad MARK value \"%s\"", v);
		switch (k) {
		case 0: r->xmark_v = val; r->xmark_m = msk | val; break;
		case 1: r->xmark_v = val; r->xmark_m = msk; break;
		case 2: r->xmark_v = 0; r->xmark_m = ~val; break;
		case 3: r->xmark_v = val; r->xmark_m = val; break;
		default: r->xmark_v = val; r->xmark_m = 0; break;
		}
		o->seen_mark_target = true;
		return 1;
	}
	case TN_IPT_T_SNAT:
	case TN_IPT_T_DNAT:
	case TN_IPT_T_MASQUERADE:
	case TN_IPT_T_REDIRECT: {
		const char *want = r->target == TN_IPT_T_SNAT ? "--to-source"
				   : r->target == TN_IPT_T_DNAT ? "--to-destination" : "--to-ports";
		if (!strcmp(opt, "--random")) {
			r->nat_random = true;
			r->nat_range.flags |= TN_NAT_RANGE_PROTO_RANDOM;
			return 1;
		}
		/* as iptables' SNAT, DNAT and MASQUERADE take them */
		if (!strcmp(opt, "--random-fully") && r->target != TN_IPT_T_REDIRECT) {
			r->nat_random_fully = true;
			r->nat_range.flags |= TN_NAT_RANGE_PROTO_RANDOM_FULLY;
			return 1;
		}
		if (!strcmp(opt, "--persistent") && r->target <= TN_IPT_T_DNAT) {
			r->nat_persistent = true;
			r->nat_range.flags |= TN_NAT_RANGE_PERSISTENT;
			return 1;
		}
		if (strcmp(opt, want) && !(r->target <= TN_IPT_T_DNAT && !strcmp(opt, "--to")))
			return 0;
		if (!(v = need_arg(c, argc, argv, i, opt)))
			return -1;
		/* ADDR[-ADDR][:PORT[-PORT]] or PORT[-PORT]: digits, dots, - and : */
		if (!*v || strlen(v) >= sizeof(r->nat_arg) || strspn(v, "0123456789.-:") != strlen(v))
			return perr(c, 2, "Bad IP address \"%s\"", v);
		if (r->target >= TN_IPT_T_MASQUERADE && strspn(v, "0123456789-") != strlen(v))
			return perr(c, 2, "Invalid port range \"%s\"", v);
		char msg[128];
		if (tn_nat_parse_range(v, r->target >= TN_IPT_T_MASQUERADE, &r->nat_range, msg, sizeof(msg)) < 0)
			return perr(c, 2, "%s", msg);
		r->nat_range.flags |= (r->nat_random ? TN_NAT_RANGE_PROTO_RANDOM : 0) |
				       (r->nat_random_fully ? TN_NAT_RANGE_PROTO_RANDOM_FULLY : 0) |
				       (r->nat_persistent ? TN_NAT_RANGE_PERSISTENT : 0);
		snprintf(r->nat_opt, sizeof(r->nat_opt), "%s", want);
		snprintf(r->nat_arg, sizeof(r->nat_arg), "%s", v);
		o->seen_nat_to = true;
		return 1;
	}
	default:
		return 0;
	}
}

static int check_chain_name(struct pctx *c, const char *n)
{
	if (strlen(n) >= TN_IPT_CHAIN_MAXNAME)
		return perr(c, 2, "chain name `%s' too long (must be under %d chars)", n, TN_IPT_CHAIN_MAXNAME);
	if (!*n || n[0] == '-' || n[0] == '!')
		return perr(c, 2, "chain name not allowed to start with `%c'", n[0] ? n[0] : '-');
	if (bad_word(n))
		return perr(c, 2, "chain name `%s' contains invalid characters", n);
	if (target_by_name(n) >= 0)
		return perr(c, 2, "chain name may not clash with target name");
	return 0;
}

/* Parse one rule option at argv[*i]: 1 consumed, 0 not a rule option, -1 error. */
static int rule_option(struct pctx *c, const struct tn_ipt_table *t, struct tn_ipt_rule *r, struct ruleopts *o,
		       int argc, char **argv, int *i)
{
	const char *opt = argv[*i], *v;
	if (!strcmp(opt, "!")) {
		if (o->inv_pending)
			return perr(c, 2, "multiple consecutive ! not allowed");
		o->inv_pending = true;
		return 1;
	}
	if (!strcmp(opt, "-s") || !strcmp(opt, "--source") || !strcmp(opt, "--src") || !strcmp(opt, "-d") ||
	    !strcmp(opt, "--destination") || !strcmp(opt, "--dst")) {
		bool dst = opt[1] == 'd' || opt[2] == 'd';
		if ((dst && o->seen_d) || (!dst && o->seen_s))
			return perr(c, 2, "multiple -%c flags not allowed", dst ? 'd' : 's');
		if (!(v = need_arg(c, argc, argv, i, opt)))
			return -1;
		uint32_t a, m;
		if (parse_addr_mask(v, &a, &m) < 0)
			return perr(c, 2, "host/network `%s' not found", v);
		if (dst) {
			r->dst = a, r->dmsk = m, o->seen_d = true;
			if (take_inv(o))
				r->inv |= TN_IPT_INV_DST;
		} else {
			r->src = a, r->smsk = m, o->seen_s = true;
			if (take_inv(o))
				r->inv |= TN_IPT_INV_SRC;
		}
		return 1;
	}
	if (!strcmp(opt, "-i") || !strcmp(opt, "--in-interface") || !strcmp(opt, "-o") ||
	    !strcmp(opt, "--out-interface")) {
		bool out = opt[1] == 'o' || opt[2] == 'o';
		if ((out && o->seen_o) || (!out && o->seen_i))
			return perr(c, 2, "multiple -%c flags not allowed", out ? 'o' : 'i');
		if (!(v = need_arg(c, argc, argv, i, opt)))
			return -1;
		if (strlen(v) >= TN_IPT_IFNAMSIZ || !*v)
			return perr(c, 2, "interface name `%s' must be shorter than IFNAMSIZ (%d)", v, TN_IPT_IFNAMSIZ - 1);
		if (bad_word(v) || strchr(v, '/'))
			return perr(c, 2, "Invalid interface name `%s'", v);
		snprintf(out ? r->out : r->in, TN_IPT_IFNAMSIZ, "%s", v);
		if (out)
			o->seen_o = true;
		else
			o->seen_i = true;
		if (take_inv(o))
			r->inv |= out ? TN_IPT_INV_OUT : TN_IPT_INV_IN;
		return 1;
	}
	if (!strcmp(opt, "-p") || !strcmp(opt, "--protocol")) {
		if (o->seen_p)
			return perr(c, 2, "multiple -p flags not allowed");
		if (!(v = need_arg(c, argc, argv, i, opt)))
			return -1;
		int p = parse_proto(v);
		if (p < 0)
			return perr(c, 2, "unknown protocol \"%s\" specified", v);
		r->proto = (uint8_t)p;
		o->seen_p = true;
		if (take_inv(o)) {
			if (!p)
				return perr(c, 2, "rule would never match protocol");
			r->inv |= TN_IPT_INV_PROTO;
		}
		return 1;
	}
	if (!strcmp(opt, "-m") || !strcmp(opt, "--match")) {
		if (o->inv_pending)
			return perr(c, 2, "unexpected ! flag before --match");
		if (!(v = need_arg(c, argc, argv, i, opt)))
			return -1;
		int m = mod_by_name(v);
		if (m < 0)
			return perr(c, 2, "Couldn't load match `%s':No such file or directory", v);
		if ((m == TN_IPT_M_TCP && r->proto != 6) || (m == TN_IPT_M_UDP && r->proto != 17) ||
		    (m == TN_IPT_M_ICMP && r->proto != 1) || (r->inv & TN_IPT_INV_PROTO && m <= TN_IPT_M_ICMP))
			return perr(c, 2, "%s match needs `-p %s'", v, v);
		if (m == TN_IPT_M_MULTIPORT && ((r->proto != 6 && r->proto != 17) || (r->inv & TN_IPT_INV_PROTO)))
			return perr(c, 2, "multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'");
		return add_mod(c, r, m) < 0 ? -1 : 1;
	}
	if (!strcmp(opt, "-j") || !strcmp(opt, "--jump") || !strcmp(opt, "-g") || !strcmp(opt, "--goto")) {
		bool go = opt[1] == 'g' || opt[2] == 'g';
		if (o->inv_pending)
			return perr(c, 2, "cannot have ! before %s", opt);
		if (o->seen_j)
			return perr(c, 2, "multiple -j flags not allowed");
		if (!(v = need_arg(c, argc, argv, i, opt)))
			return -1;
		o->seen_j = true;
		int tg = go ? -1 : target_by_name(v);
		if (tg >= 0) {
			r->target = (uint8_t)tg;
			if (tg == TN_IPT_T_LOG)
				r->log_level = 4;
			return 1;
		}
		if (strlen(v) >= TN_IPT_CHAIN_MAXNAME || tn_ipt_chain_find(t, v) < 0 ||
		    t->chains[tn_ipt_chain_find(t, v)].builtin)
			return perr(c, 2, go ? "goto '%s' is not a chain" : "Couldn't load target `%s':No such file or directory", v);
		r->target = go ? TN_IPT_T_GOTO : TN_IPT_T_JUMP;
		snprintf(r->jump, sizeof(r->jump), "%s", v);
		return 1;
	}
	if (strncmp(opt, "--", 2) != 0)
		return 0;
	/* A match option: the modules loaded so far (latest first), then the
	 * protocol's own, loaded implicitly as iptables does. */
	for (int k = (int)r->nmods - 1; k >= 0; k--) {
		int rc = mod_option(c, r, o, r->mods[k], argc, argv, i);
		if (rc)
			return rc;
	}
	int implicit = r->inv & TN_IPT_INV_PROTO ? -1
		       : r->proto == 6 ? TN_IPT_M_TCP : r->proto == 17 ? TN_IPT_M_UDP : r->proto == 1 ? TN_IPT_M_ICMP : -1;
	if (implicit > 0 && !has_mod(r, implicit)) {
		struct tn_ipt_rule save = *r;
		if (add_mod(c, r, implicit) < 0)
			return -1;
		int rc = mod_option(c, r, o, implicit, argc, argv, i);
		if (rc)
			return rc;
		*r = save;
	}
	if (o->seen_j) {
		int rc = target_option(c, r, o, argc, argv, i);
		if (rc)
			return rc;
	}
	return perr(c, 2, "unknown option \"%s\"", opt);
}

/* Checks after the whole rule is read. */
static int rule_finish(struct pctx *c, const struct tn_ipt_chain *ch, struct tn_ipt_rule *r, struct ruleopts *o)
{
	if (o->inv_pending)
		return perr(c, 2, "! not allowed at the end of a rule");
	if (has_mod(r, TN_IPT_M_HASHLIMIT)) {
		if (!o->seen_hl_rate)
			return perr(c, 2, "hashlimit: option \"--hashlimit-upto\" must be specified");
		if (!o->seen_hl_name)
			return perr(c, 2, "hashlimit: option \"--hashlimit-name\" must be specified");
	}
	if (has_mod(r, TN_IPT_M_SET) && !o->seen_set)
		return perr(c, 2, "You must specify `--match-set' with proper arguments");
	if (has_mod(r, TN_IPT_M_MULTIPORT) && !r->mp_kind)
		return perr(c, 2, "multiport expects an option");
	if (has_mod(r, TN_IPT_M_CONNTRACK) && !r->ctstate)
		return perr(c, 2, "conntrack: At least one option is required");
	if (has_mod(r, TN_IPT_M_STATE) && !r->state)
		return perr(c, 2, "state: option \"--state\" must be specified");
	if (has_mod(r, TN_IPT_M_LENGTH) && !r->len[1] && !(r->inv & TN_IPT_INV_LENGTH) && !r->len[0])
		return perr(c, 2, "length: option \"--length\" must be specified");
	if (r->target == TN_IPT_T_MARK && !o->seen_mark_target)
		return perr(c, 2, "MARK target: Parameter --set/and/or/xor-mark is required");
	if ((r->target == TN_IPT_T_SNAT || r->target == TN_IPT_T_DNAT) && !o->seen_nat_to)
		return perr(c, 2, "You must specify %s", r->target == TN_IPT_T_SNAT ? "--to-source" : "--to-destination");
	if (r->target >= TN_IPT_T_SNAT && (r->nat_range.flags & TN_NAT_RANGE_PROTO_SPECIFIED) &&
	    ((r->proto != 6 && r->proto != 17) || (r->inv & TN_IPT_INV_PROTO)))
		return perr(c, 2, "Need TCP, UDP, SCTP or DCCP with port specification");
	if (r->target == TN_IPT_T_REJECT && r->reject_with == TN_IPT_REJ_TCP_RESET &&
	    (r->proto != 6 || (r->inv & TN_IPT_INV_PROTO)))
		return perr(c, 2, "REJECT: tcp-reset only valid with -p tcp");
	if (ch && ch->builtin) {
		if (r->in[0] && (ch->hook == TN_NF_LOCAL_OUT || ch->hook == TN_NF_POST_ROUTING))
			return perr(c, 2, "Can't use -i with %s", ch->name);
		if (r->out[0] && (ch->hook == TN_NF_PRE_ROUTING || ch->hook == TN_NF_LOCAL_IN))
			return perr(c, 2, "Can't use -o with %s", ch->name);
	}
	r->jump_idx = -1;
	r->set_idx = -1;
	r->hl_idx = -1;
	return 0;
}

/* ---- printing a rule (-S / save form) ---- */
static void print_inv(FILE *f, bool inv)
{
	if (inv)
		fputs(" !", f);
}

void tn_ipt_rule_print(const struct tn_ipt_rule *r, FILE *f)
{
	uint32_t inv = r->inv;
	if (r->smsk || r->src) {
		print_inv(f, inv & TN_IPT_INV_SRC);
		fputs(" -s ", f);
		print_addr(f, r->src, r->smsk, false);
	}
	if (r->dmsk || r->dst) {
		print_inv(f, inv & TN_IPT_INV_DST);
		fputs(" -d ", f);
		print_addr(f, r->dst, r->dmsk, false);
	}
	if (r->in[0]) {
		print_inv(f, inv & TN_IPT_INV_IN);
		fprintf(f, " -i %s", r->in);
	}
	if (r->out[0]) {
		print_inv(f, inv & TN_IPT_INV_OUT);
		fprintf(f, " -o %s", r->out);
	}
	if (r->proto) {
		char b[8];
		print_inv(f, inv & TN_IPT_INV_PROTO);
		fprintf(f, " -p %s", proto_name(r->proto, b));
	}
	for (unsigned k = 0; k < r->nmods; k++) {
		int m = r->mods[k];
		fprintf(f, " -m %s", mod_names[m]);
		switch (m) {
		case TN_IPT_M_TCP:
		case TN_IPT_M_UDP:
			if (r->has_sport) {
				print_inv(f, inv & TN_IPT_INV_SPORT);
				fputs(" --sport ", f);
				print_range(f, r->sport);
			}
			if (r->has_dport) {
				print_inv(f, inv & TN_IPT_INV_DPORT);
				fputs(" --dport ", f);
				print_range(f, r->dport);
			}
			if (r->has_flags) {
				print_inv(f, inv & TN_IPT_INV_FLAGS);
				fputs(" --tcp-flags ", f);
				print_tcp_flags(f, r->flg_mask);
				fputc(' ', f);
				print_tcp_flags(f, r->flg_cmp);
			}
			break;
		case TN_IPT_M_ICMP:
			print_inv(f, inv & TN_IPT_INV_ICMP);
			if (r->icmp_type == 255)
				fputs(" --icmp-type any", f);
			else if (r->icmp_code[0] == 0 && r->icmp_code[1] == 255)
				fprintf(f, " --icmp-type %u", r->icmp_type);
			else
				fprintf(f, " --icmp-type %u/%u", r->icmp_type, r->icmp_code[0]);
			break;
		case TN_IPT_M_MULTIPORT:
			print_inv(f, inv & TN_IPT_INV_MPORT);
			fprintf(f, " --%s ", r->mp_kind == TN_IPT_MP_SRC ? "sports" : r->mp_kind == TN_IPT_MP_DST ? "dports" : "ports");
			for (unsigned j = 0; j < r->mp_n; j++) {
				if (j)
					fputc(',', f);
				print_range(f, r->mp[j]);
			}
			break;
		case TN_IPT_M_CONNTRACK:
		case TN_IPT_M_STATE:
			print_inv(f, inv & (m == TN_IPT_M_STATE ? TN_IPT_INV_STATE : TN_IPT_INV_CTSTATE));
			fputs(m == TN_IPT_M_STATE ? " --state " : " --ctstate ", f);
			print_ct(f, m == TN_IPT_M_STATE ? r->state : r->ctstate);
			break;
		case TN_IPT_M_MARK:
			print_inv(f, inv & TN_IPT_INV_MARK);
			fprintf(f, " --mark 0x%x", r->mark);
			if (r->mark_mask != 0xffffffffu)
				fprintf(f, "/0x%x", r->mark_mask);
			break;
		case TN_IPT_M_LENGTH:
			print_inv(f, inv & TN_IPT_INV_LENGTH);
			fputs(" --length ", f);
			print_range(f, r->len);
			break;
		case TN_IPT_M_LIMIT:
			fputs(" --limit ", f);
			print_rate(f, r->lim_rate, r->lim_unit);
			if (r->lim_burst != 5)
				fprintf(f, " --limit-burst %u", r->lim_burst);
			break;
		case TN_IPT_M_HASHLIMIT:
			fprintf(f, " --hashlimit-%s ", r->hl_above ? "above" : "upto");
			print_rate(f, r->hl_rate, r->hl_unit);
			if (r->hl_burst != 5)
				fprintf(f, " --hashlimit-burst %u", r->hl_burst);
			if (r->hl_mode)
				fprintf(f, " --hashlimit-mode %s", r->hl_mode == 3 ? "srcip,dstip"
								  : r->hl_mode == TN_IPT_HL_SRCIP ? "srcip" : "dstip");
			fprintf(f, " --hashlimit-name %s", r->hl_name);
			if (r->hl_expire_ms)
				fprintf(f, " --hashlimit-htable-expire %u", r->hl_expire_ms);
			break;
		case TN_IPT_M_SET:
			print_inv(f, inv & TN_IPT_INV_SET);
			fprintf(f, " --match-set %s ", r->set_name);
			for (unsigned j = 0; j < r->set_ndirs; j++)
				fprintf(f, "%s%s", j ? "," : "", r->set_dirs[j] == TN_IPT_MP_SRC ? "src" : "dst");
			break;
		case TN_IPT_M_COMMENT:
			fputs(" --comment ", f);
			print_string(f, r->comment);
			break;
		}
	}
	switch (r->target) {
	case TN_IPT_T_NONE:
		break;
	case TN_IPT_T_JUMP:
		fprintf(f, " -j %s", r->jump);
		break;
	case TN_IPT_T_GOTO:
		fprintf(f, " -g %s", r->jump);
		break;
	default:
		fprintf(f, " -j %s", target_names[r->target]);
		break;
	}
	switch (r->target) {
	case TN_IPT_T_REJECT:
		fprintf(f, " --reject-with %s", reject_names[r->reject_with]);
		break;
	case TN_IPT_T_LOG:
		if (r->log_prefix[0]) {
			fputs(" --log-prefix ", f);
			print_string(f, r->log_prefix);
		}
		if (r->log_level != 4)
			fprintf(f, " --log-level %u", r->log_level);
		break;
	case TN_IPT_T_MARK:
		fprintf(f, " --set-xmark 0x%x/0x%x", r->xmark_v, r->xmark_m);
		break;
	case TN_IPT_T_SNAT:
	case TN_IPT_T_DNAT:
	case TN_IPT_T_MASQUERADE:
	case TN_IPT_T_REDIRECT:
		if (r->nat_opt[0])
			fprintf(f, " %s %s", r->nat_opt, r->nat_arg);
		if (r->nat_random)
			fputs(" --random", f);
		if (r->nat_random_fully)
			fputs(" --random-fully", f);
		if (r->nat_persistent)
			fputs(" --persistent", f);
		break;
	}
}

/* A rule as iptables-save prints it (malloc'd), or NULL. */
static char *rule_text(const struct tn_ipt_rule *r, size_t *n)
{
	char *x = NULL;
	FILE *f = open_memstream(&x, n);
	if (!f)
		return NULL;
	tn_ipt_rule_print(r, f);
	fclose(f);
	return x;
}

/* Fields that print differently whenever they differ: a cheap test that
 * spares printing nearly every rule of a long chain. */
static bool rule_may_be_same(const struct tn_ipt_rule *a, const struct tn_ipt_rule *b)
{
	return (a->src & a->smsk) == (b->src & b->smsk) && a->smsk == b->smsk && (a->dst & a->dmsk) == (b->dst & b->dmsk) &&
	       a->dmsk == b->dmsk && a->proto == b->proto && a->target == b->target;
}

/* The first rule of ch that prints as r does (iptables -D by
 * specification), or -1. */
static int rule_find_same(const struct tn_ipt_chain *ch, const struct tn_ipt_rule *r)
{
	size_t yn = 0;
	char *y = rule_text(r, &yn);
	int found = -1;
	for (uint32_t i = 0; y && found < 0 && i < ch->nrules; i++) {
		if (!rule_may_be_same(&ch->rules[i], r))
			continue;
		size_t xn = 0;
		char *x = rule_text(&ch->rules[i], &xn);
		if (x && xn == yn && memcmp(x, y, xn) == 0)
			found = (int)i;
		free(x);
	}
	free(y);
	return found;
}

/* ---- checks over a table: loops, targets per hook ---- */
static int dfs_loop(const struct tn_ipt_table *t, uint32_t c, uint8_t *color)
{
	color[c] = 1;
	const struct tn_ipt_chain *ch = &t->chains[c];
	for (uint32_t i = 0; i < ch->nrules; i++) {
		const struct tn_ipt_rule *r = &ch->rules[i];
		if (r->target != TN_IPT_T_JUMP && r->target != TN_IPT_T_GOTO)
			continue;
		int d = tn_ipt_chain_find(t, r->jump);
		if (d < 0)
			continue;
		if (color[d] == 1)
			return -1;
		if (color[d] == 0 && dfs_loop(t, (uint32_t)d, color) < 0)
			return -1;
	}
	color[c] = 2;
	return 0;
}

static void dfs_hooks(const struct tn_ipt_table *t, uint32_t c, unsigned hookbit, unsigned *mask)
{
	if (mask[c] & hookbit)
		return;
	mask[c] |= hookbit;
	const struct tn_ipt_chain *ch = &t->chains[c];
	for (uint32_t i = 0; i < ch->nrules; i++) {
		const struct tn_ipt_rule *r = &ch->rules[i];
		if (r->target != TN_IPT_T_JUMP && r->target != TN_IPT_T_GOTO)
			continue;
		int d = tn_ipt_chain_find(t, r->jump);
		if (d >= 0)
			dfs_hooks(t, (uint32_t)d, hookbit, mask);
	}
}

int tn_ipt_table_check(const struct tn_ipt_table *t, int table, char *err, size_t errlen)
{
	int rc = 0;
	uint8_t *color = calloc(t->nchains + 1, 1);
	unsigned *mask = calloc(t->nchains + 1, sizeof(unsigned));
	if (!color || !mask) {
		snprintf(err, errlen, "iptables: Memory allocation problem.");
		rc = -1;
		goto out;
	}
	for (uint32_t c = 0; c < t->nchains; c++) {
		const struct tn_ipt_chain *ch = &t->chains[c];
		for (uint32_t i = 0; i < ch->nrules; i++) {
			const struct tn_ipt_rule *r = &ch->rules[i];
			if ((r->target == TN_IPT_T_JUMP || r->target == TN_IPT_T_GOTO) &&
			    (tn_ipt_chain_find(t, r->jump) < 0 || t->chains[tn_ipt_chain_find(t, r->jump)].builtin)) {
				snprintf(err, errlen, "iptables: Couldn't load target `%s':No such file or directory", r->jump);
				rc = -1;
				goto out;
			}
		}
	}
	for (uint32_t c = 0; c < t->nchains; c++)
		if (!color[c] && dfs_loop(t, c, color) < 0) {
			snprintf(err, errlen, "iptables: Too many levels of symbolic links.");
			rc = -1;
			goto out;
		}
	for (uint32_t c = 0; c < t->nchains; c++)
		if (t->chains[c].builtin)
			dfs_hooks(t, c, 1u << t->chains[c].hook, mask);
	for (uint32_t c = 0; c < t->nchains; c++) {
		const struct tn_ipt_chain *ch = &t->chains[c];
		for (uint32_t i = 0; i < ch->nrules; i++) {
			const struct tn_ipt_rule *r = &ch->rules[i];
			unsigned ok;
			switch (r->target) {
			case TN_IPT_T_REJECT:
				ok = 1u << TN_NF_LOCAL_IN | 1u << TN_NF_FORWARD | 1u << TN_NF_LOCAL_OUT;
				break;
			case TN_IPT_T_SNAT:
				ok = 1u << TN_NF_POST_ROUTING | 1u << TN_NF_LOCAL_IN;
				break;
			case TN_IPT_T_DNAT:
			case TN_IPT_T_REDIRECT:
				ok = 1u << TN_NF_PRE_ROUTING | 1u << TN_NF_LOCAL_OUT;
				break;
			case TN_IPT_T_MASQUERADE:
				ok = 1u << TN_NF_POST_ROUTING;
				break;
			default:
				continue;
			}
			if (r->target >= TN_IPT_T_SNAT && table != TN_IPT_NAT) {
				snprintf(err, errlen, "iptables: %s target: only valid in nat table, not %s",
					 target_names[r->target], tn_ipt_table_name(table));
				rc = -1;
				goto out;
			}
			unsigned bad = mask[c] & ~ok;
			if (bad) {
				snprintf(err, errlen, "iptables: %s target: used from hook %s (chain %s), not allowed there",
					 target_names[r->target], hook_names[__builtin_ctz(bad)], ch->name);
				rc = -1;
				goto out;
			}
		}
	}
out:
	free(color);
	free(mask);
	return rc;
}

/* ---- -L ---- */
/* As iptables -L without -x: up to 99999 as is, then K, M, G, T. */
static const char *num_short(char *buf, uint64_t v)
{
	static const char sfx[] = "KMGT";
	if (v <= 99999) {
		sprintf(buf, "%" PRIu64, v);
		return buf;
	}
	int k = -1;
	while (v > 9999 && k < 3) {
		v = (v + 500) / 1000;
		k++;
	}
	sprintf(buf, "%" PRIu64 "%c", v, sfx[k]);
	return buf;
}

static void print_num(FILE *f, uint64_t v, int width, bool exact)
{
	char b[24];
	if (exact)
		fprintf(f, "%*" PRIu64 " ", width, v);
	else
		fprintf(f, "%5s ", num_short(b, v));
}

static void list_addr(FILE *f, uint32_t a, uint32_t m, bool inv, bool numeric)
{
	char buf[48];
	FILE *mf = fmemopen(buf, sizeof(buf), "w");
	if (!mf)
		return;
	if (inv)
		fputc('!', mf);
	if (!m && !numeric)
		fputs("anywhere", mf);
	else
		print_addr(mf, a, m, true);
	fclose(mf);
	buf[sizeof(buf) - 1] = 0;
	fprintf(f, "%-20s ", buf);
}

static void list_extra(FILE *f, const struct tn_ipt_rule *r)
{
	uint32_t inv = r->inv;
	for (unsigned k = 0; k < r->nmods; k++) {
		switch (r->mods[k]) {
		case TN_IPT_M_TCP:
		case TN_IPT_M_UDP:
			fputs(r->mods[k] == TN_IPT_M_TCP ? "tcp" : "udp", f);
			if (r->has_sport) {
				fprintf(f, " spt%s:%s", r->sport[0] != r->sport[1] ? "s" : "", inv & TN_IPT_INV_SPORT ? "!" : "");
				print_range(f, r->sport);
			}
			if (r->has_dport) {
				fprintf(f, " dpt%s:%s", r->dport[0] != r->dport[1] ? "s" : "", inv & TN_IPT_INV_DPORT ? "!" : "");
				print_range(f, r->dport);
			}
			if (r->has_flags)
				fprintf(f, " flags:%s0x%02X/0x%02X", inv & TN_IPT_INV_FLAGS ? "!" : "", r->flg_mask, r->flg_cmp);
			fputc(' ', f);
			break;
		case TN_IPT_M_ICMP:
			if (r->icmp_type == 255)
				fprintf(f, "icmp %sany ", inv & TN_IPT_INV_ICMP ? "!" : "");
			else
				fprintf(f, "icmp%s %stype %u ", "", inv & TN_IPT_INV_ICMP ? "!" : "", r->icmp_type);
			break;
		case TN_IPT_M_MULTIPORT:
			fprintf(f, "multiport %s %s", r->mp_kind == 1 ? "sports" : r->mp_kind == 2 ? "dports" : "ports",
				inv & TN_IPT_INV_MPORT ? "! " : "");
			for (unsigned j = 0; j < r->mp_n; j++) {
				if (j)
					fputc(',', f);
				print_range(f, r->mp[j]);
			}
			fputc(' ', f);
			break;
		case TN_IPT_M_CONNTRACK:
		case TN_IPT_M_STATE: {
			bool st = r->mods[k] == TN_IPT_M_STATE;
			fprintf(f, "%s %s", st ? "state" : "ctstate", inv & (st ? TN_IPT_INV_STATE : TN_IPT_INV_CTSTATE) ? "! " : "");
			print_ct(f, st ? r->state : r->ctstate);
			fputc(' ', f);
			break;
		}
		case TN_IPT_M_MARK:
			fprintf(f, "mark match %s0x%x", inv & TN_IPT_INV_MARK ? "! " : "", r->mark);
			if (r->mark_mask != 0xffffffffu)
				fprintf(f, "/0x%x", r->mark_mask);
			fputc(' ', f);
			break;
		case TN_IPT_M_LENGTH:
			fprintf(f, "length %s", inv & TN_IPT_INV_LENGTH ? "!" : "");
			print_range(f, r->len);
			fputc(' ', f);
			break;
		case TN_IPT_M_LIMIT:
			fputs("limit: avg ", f);
			print_rate(f, r->lim_rate, r->lim_unit);
			fprintf(f, " burst %u ", r->lim_burst);
			break;
		case TN_IPT_M_HASHLIMIT:
			fprintf(f, "limit: %s ", r->hl_above ? "above" : "up to");
			print_rate(f, r->hl_rate, r->hl_unit);
			fprintf(f, " burst %u mode %s ", r->hl_burst,
				r->hl_mode == 3 ? "srcip-dstip" : r->hl_mode == 1 ? "srcip" : r->hl_mode == 2 ? "dstip" : "");
			break;
		case TN_IPT_M_SET:
			fprintf(f, "%smatch-set %s ", inv & TN_IPT_INV_SET ? "! " : "", r->set_name);
			for (unsigned j = 0; j < r->set_ndirs; j++)
				fprintf(f, "%s%s", j ? "," : "", r->set_dirs[j] == TN_IPT_MP_SRC ? "src" : "dst");
			fputc(' ', f);
			break;
		case TN_IPT_M_COMMENT:
			fprintf(f, "/* %s */ ", r->comment);
			break;
		}
	}
	switch (r->target) {
	case TN_IPT_T_REJECT:
		fprintf(f, "reject-with %s", reject_names[r->reject_with]);
		break;
	case TN_IPT_T_LOG:
		fprintf(f, "LOG flags 0 level %u", r->log_level);
		if (r->log_prefix[0])
			fprintf(f, " prefix \"%s\"", r->log_prefix);
		break;
	case TN_IPT_T_MARK:
		fprintf(f, "MARK xset 0x%x/0x%x", r->xmark_v, r->xmark_m);
		break;
	case TN_IPT_T_GOTO:
		fprintf(f, "[goto] ");
		break;
	case TN_IPT_T_SNAT:
	case TN_IPT_T_DNAT:
		fprintf(f, "to:%s%s%s%s", r->nat_arg, r->nat_random ? " random" : "", r->nat_random_fully ? " random-fully" : "",
			r->nat_persistent ? " persistent" : "");
		break;
	case TN_IPT_T_MASQUERADE:
	case TN_IPT_T_REDIRECT:
		if (r->nat_arg[0])
			fprintf(f, "%s ports: %s", r->target == TN_IPT_T_REDIRECT ? "redir" : "masq", r->nat_arg);
		if (r->nat_random)
			fputs(" random", f);
		if (r->nat_random_fully)
			fputs(" random-fully", f);
		break;
	}
}

struct listopts {
	bool numeric, verbose, exact, linenum;
};

static uint32_t chain_refs(const struct tn_ipt_table *t, const char *name)
{
	uint32_t n = 0;
	for (uint32_t c = 0; c < t->nchains; c++)
		for (uint32_t i = 0; i < t->chains[c].nrules; i++) {
			const struct tn_ipt_rule *r = &t->chains[c].rules[i];
			if ((r->target == TN_IPT_T_JUMP || r->target == TN_IPT_T_GOTO) && !strcmp(r->jump, name))
				n++;
		}
	return n;
}

static void list_chain(FILE *f, const struct tn_ipt_table *t, uint32_t c, const struct listopts *lo)
{
	const struct tn_ipt_chain *ch = &t->chains[c];
	if (ch->builtin) {
		fprintf(f, "Chain %s (policy %s", ch->name, target_names[ch->policy]);
		if (lo->verbose) {
			fputc(' ', f);
			if (lo->exact)
				fprintf(f, "%" PRIu64 " packets, %" PRIu64 " bytes", ch->pol_pkts, ch->pol_bytes);
			else {
				char x[16], y[16];
				fprintf(f, "%s packets, %s bytes", num_short(x, ch->pol_pkts), num_short(y, ch->pol_bytes));
			}
		}
		fputs(")\n", f);
	} else {
		fprintf(f, "Chain %s (%u references)\n", ch->name, chain_refs(t, ch->name));
	}
	if (lo->linenum)
		fputs("num  ", f);
	if (lo->verbose)
		fprintf(f, lo->exact ? "%8s %10s " : "%5s %5s ", "pkts", "bytes");
	fprintf(f, "%-10s %-4s %-3s ", "target", "prot", "opt");
	if (lo->verbose)
		fprintf(f, "%-6s %-6s ", "in", "out");
	fprintf(f, "%-20s %-20s\n", "source", "destination");
	for (uint32_t i = 0; i < ch->nrules; i++) {
		const struct tn_ipt_rule *r = &ch->rules[i];
		if (lo->linenum)
			fprintf(f, "%-4u ", i + 1);
		if (lo->verbose) {
			if (lo->exact)
				fprintf(f, "%8" PRIu64 " %10" PRIu64 " ", r->pkts, r->bytes);
			else {
				print_num(f, r->pkts, 5, false);
				print_num(f, r->bytes, 5, false);
			}
		}
		const char *tg = r->target == TN_IPT_T_JUMP || r->target == TN_IPT_T_GOTO ? r->jump
				 : r->target == TN_IPT_T_NONE ? "" : target_names[r->target];
		char pb[16], pn[8];
		snprintf(pb, sizeof(pb), "%s%s", r->inv & TN_IPT_INV_PROTO ? "!" : "", proto_name(r->proto, pn));
		fprintf(f, "%-10s %-4s %-3s ", tg, pb, "--");
		if (lo->verbose) {
			char ib[20], ob[20];
			snprintf(ib, sizeof(ib), "%s%s", r->inv & TN_IPT_INV_IN ? "!" : "", r->in[0] ? r->in : "*");
			snprintf(ob, sizeof(ob), "%s%s", r->inv & TN_IPT_INV_OUT ? "!" : "", r->out[0] ? r->out : "*");
			fprintf(f, "%-6s %-6s ", ib, ob);
		}
		list_addr(f, r->src, r->smsk, r->inv & TN_IPT_INV_SRC, lo->numeric);
		list_addr(f, r->dst, r->dmsk, r->inv & TN_IPT_INV_DST, lo->numeric);
		list_extra(f, r);
		fputc('\n', f);
	}
}

/* ---- save ---- */
void tn_ipt_save(const struct tn_ipt_model *m, int table, bool counters, FILE *out)
{
	for (int t = 0; t < TN_IPT_NTABLES; t++) {
		const struct tn_ipt_table *tb = &m->t[t];
		if ((table >= 0 && t != table) || (table < 0 && !tb->present))
			continue;
		fprintf(out, "# Generated by tern iptables-save\n*%s\n", table_names[t]);
		for (uint32_t c = 0; c < tb->nchains; c++) {
			const struct tn_ipt_chain *ch = &tb->chains[c];
			fprintf(out, ":%s %s [%" PRIu64 ":%" PRIu64 "]\n", ch->name,
				ch->builtin ? target_names[ch->policy] : "-", counters ? ch->pol_pkts : 0,
				counters ? ch->pol_bytes : 0);
		}
		for (uint32_t c = 0; c < tb->nchains; c++) {
			const struct tn_ipt_chain *ch = &tb->chains[c];
			for (uint32_t i = 0; i < ch->nrules; i++) {
				if (counters)
					fprintf(out, "[%" PRIu64 ":%" PRIu64 "] ", ch->rules[i].pkts, ch->rules[i].bytes);
				fprintf(out, "-A %s", ch->name);
				tn_ipt_rule_print(&ch->rules[i], out);
				fputc('\n', out);
			}
		}
		fprintf(out, "COMMIT\n# Completed\n");
	}
}

/* ---- the command ---- */
enum {
	CMD_NONE, CMD_APPEND, CMD_INSERT, CMD_DELETE, CMD_REPLACE, CMD_CHECK, CMD_NEW, CMD_DELCHAIN,
	CMD_FLUSH, CMD_ZERO, CMD_POLICY, CMD_LIST, CMD_SPEC, CMD_RENAME,
};

static const struct {
	const char *s, *l;
	int cmd;
} cmd_opts[] = {
	{"-A", "--append", CMD_APPEND}, {"-I", "--insert", CMD_INSERT},   {"-D", "--delete", CMD_DELETE},
	{"-R", "--replace", CMD_REPLACE}, {"-C", "--check", CMD_CHECK},  {"-N", "--new-chain", CMD_NEW},
	{"-X", "--delete-chain", CMD_DELCHAIN}, {"-F", "--flush", CMD_FLUSH}, {"-Z", "--zero", CMD_ZERO},
	{"-P", "--policy", CMD_POLICY}, {"-L", "--list", CMD_LIST},       {"-S", "--list-rules", CMD_SPEC},
	{"-E", "--rename-chain", CMD_RENAME},
};

static bool is_num(const char *s)
{
	if (!*s)
		return false;
	for (const char *p = s; *p; p++)
		if (!isdigit((unsigned char)*p))
			return false;
	return true;
}

struct cmd_state {
	int cmd, cmd2;         /* cmd2: -Z with -L */
	const char *chain, *arg2; /* arg2: new name (-E), policy (-P) */
	long rulenum;          /* 0: none */
	int table;
	struct listopts lo;
	bool restore;
	bool has_counters;
	uint64_t cnt[2];
};

static int run_cmd(struct pctx *c, struct tn_ipt_model *m, int argc, char **argv, struct cmd_state *cs, FILE *out,
		   unsigned *changed)
{
	struct tn_ipt_rule r;
	memset(&r, 0, sizeof(r));
	struct ruleopts o = {0};
	int nopts = 0;
	/* pass 1: the table (needed to resolve -j CHAIN) */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-t") || !strcmp(argv[i], "--table")) {
			if (cs->restore)
				return perr(c, 2, "The -t option cannot be used in iptables-restore.");
			if (i + 1 >= argc)
				return perr(c, 2, "option \"-t\" requires an argument");
			int t = tn_ipt_table_by_name(argv[i + 1]);
			if (t < 0)
				return perr(c, 1, "can't initialize iptables table `%s': Table does not exist (do you need to insmod?)",
					    argv[i + 1]);
			cs->table = t;
			i++;
		}
	}
	struct tn_ipt_table *t = &m->t[cs->table];
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-t") || !strcmp(a, "--table")) {
			i++;
			continue;
		}
		int cmd = CMD_NONE;
		for (size_t k = 0; k < sizeof(cmd_opts) / sizeof(cmd_opts[0]); k++)
			if (!strcmp(a, cmd_opts[k].s) || !strcmp(a, cmd_opts[k].l))
				cmd = cmd_opts[k].cmd;
		if (cmd != CMD_NONE) {
			if (o.inv_pending)
				return perr(c, 2, "cannot have ! before %s", a);
			if (cs->cmd != CMD_NONE) {
				bool zl = (cs->cmd == CMD_LIST && cmd == CMD_ZERO) || (cs->cmd == CMD_ZERO && cmd == CMD_LIST);
				if (!zl || cs->cmd2)
					return perr(c, 2, "Cannot use %s with %s", a, cs->cmd == CMD_LIST ? "-L" : "-Z");
				cs->cmd2 = cmd;
				cs->cmd = CMD_LIST;
			} else {
				cs->cmd = cmd;
			}
			bool chain_req = cmd == CMD_APPEND || cmd == CMD_INSERT || cmd == CMD_DELETE || cmd == CMD_REPLACE ||
					 cmd == CMD_CHECK || cmd == CMD_NEW || cmd == CMD_POLICY || cmd == CMD_RENAME;
			if (i + 1 < argc && (chain_req || (argv[i + 1][0] != '-' && argv[i + 1][0] != '!'))) {
				cs->chain = argv[++i];
			} else if (chain_req) {
				return perr(c, 2, "option \"%s\" requires an argument", a);
			}
			if (cmd == CMD_INSERT && i + 1 < argc && is_num(argv[i + 1]))
				cs->rulenum = strtol(argv[++i], NULL, 10) ? strtol(argv[i], NULL, 10) : -1;
			else if ((cmd == CMD_DELETE || cmd == CMD_REPLACE) && i + 1 < argc && is_num(argv[i + 1]))
				cs->rulenum = strlen(argv[i + 1]) > 9 ? 1000000000 : strtol(argv[++i], NULL, 10);
			else if (cmd == CMD_REPLACE)
				return perr(c, 2, "-R requires a rule number");
			else if ((cmd == CMD_LIST || cmd == CMD_SPEC) && cs->chain && i + 1 < argc && is_num(argv[i + 1]))
				cs->rulenum = strlen(argv[i + 1]) > 9 ? 1000000000 : strtol(argv[++i], NULL, 10);
			if (cmd == CMD_POLICY || cmd == CMD_RENAME) {
				if (i + 1 >= argc)
					return perr(c, 2, "option \"%s\" requires an argument", a);
				cs->arg2 = argv[++i];
			}
			continue;
		}
		if (!strcmp(a, "-n") || !strcmp(a, "--numeric")) {
			cs->lo.numeric = true;
			continue;
		}
		if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			cs->lo.verbose = true;
			continue;
		}
		if (!strcmp(a, "-x") || !strcmp(a, "--exact")) {
			cs->lo.exact = true;
			continue;
		}
		if (!strcmp(a, "--line-numbers")) {
			cs->lo.linenum = true;
			continue;
		}
		if (!strcmp(a, "-w") || !strcmp(a, "--wait")) { /* no lock to wait for */
			if (i + 1 < argc && is_num(argv[i + 1]))
				i++;
			continue;
		}
		/* Combined list flags such as -nvL, -vnL, -Ln. */
		if (a[0] == '-' && a[1] && a[1] != '-' && a[2] && strspn(a + 1, "nvxLSZ") == strlen(a + 1) &&
		    strpbrk(a + 1, "LSZ") != NULL) {
			for (const char *p = a + 1; *p; p++) {
				if (*p == 'n')
					cs->lo.numeric = true;
				else if (*p == 'v')
					cs->lo.verbose = true;
				else if (*p == 'x')
					cs->lo.exact = true;
				else if (*p == 'L' || *p == 'S' || *p == 'Z') {
					int cmd2 = *p == 'L' ? CMD_LIST : *p == 'S' ? CMD_SPEC : CMD_ZERO;
					if (cs->cmd != CMD_NONE && !(cs->cmd == CMD_LIST && cmd2 == CMD_ZERO))
						return perr(c, 2, "Cannot use -%c with another command", *p);
					if (cs->cmd == CMD_LIST)
						cs->cmd2 = cmd2;
					else
						cs->cmd = cmd2;
				}
			}
			if (i + 1 < argc && argv[i + 1][0] != '-')
				cs->chain = argv[++i];
			continue;
		}
		int rc = rule_option(c, t, &r, &o, argc, argv, &i);
		if (rc < 0)
			return -1;
		if (rc == 0)
			return perr(c, 2, "Bad argument `%s'", a);
		nopts++;
	}
	if (cs->cmd == CMD_NONE)
		return perr(c, 2, "no command specified");
	bool takes_rule = cs->cmd == CMD_APPEND || cs->cmd == CMD_INSERT || cs->cmd == CMD_REPLACE ||
			  cs->cmd == CMD_CHECK || (cs->cmd == CMD_DELETE && !cs->rulenum);
	if (!takes_rule && nopts)
		return perr(c, 2, "Illegal option with this command");
	if (cs->chain && cs->cmd != CMD_NEW && cs->cmd != CMD_RENAME && strlen(cs->chain) >= TN_IPT_CHAIN_MAXNAME)
		return perr(c, 2, "chain name `%s' too long (must be under %d chars)", cs->chain, TN_IPT_CHAIN_MAXNAME);
	int ci = cs->chain ? tn_ipt_chain_find(t, cs->chain) : -1;
	if (cs->chain && ci < 0 && cs->cmd != CMD_NEW)
		return perr(c, 1, cs->cmd == CMD_LIST || cs->cmd == CMD_SPEC
				    ? "No chain/target/match by that name."
				    : "iptables: No chain/target/match by that name.");
	if (takes_rule && rule_finish(c, &t->chains[ci], &r, &o) < 0)
		return -1;
	if (cs->has_counters) {
		r.pkts = cs->cnt[0];
		r.bytes = cs->cnt[1];
	}
	t->present = true;
	struct tn_ipt_chain *ch = ci >= 0 ? &t->chains[ci] : NULL;
	switch (cs->cmd) {
	case CMD_LIST:
		if (cs->cmd2 == CMD_SPEC)
			return perr(c, 2, "Cannot use -S with -L");
		for (uint32_t k = 0; k < t->nchains; k++) {
			if (ci >= 0 && k != (uint32_t)ci)
				continue;
			if (ci < 0 && k)
				fputc('\n', out);
			list_chain(out, t, k, &cs->lo);
		}
		if (cs->cmd2 == CMD_ZERO)
			goto zero;
		return 0;
	case CMD_SPEC:
		if (cs->rulenum) {
			if (cs->rulenum < 1 || (uint32_t)cs->rulenum > ch->nrules)
				return perr(c, 1, "iptables: Index of deletion too big.");
			fprintf(out, "-A %s", ch->name);
			tn_ipt_rule_print(&ch->rules[cs->rulenum - 1], out);
			fputc('\n', out);
			return 0;
		}
		for (uint32_t k = 0; k < t->nchains; k++) {
			if (ci >= 0 && k != (uint32_t)ci)
				continue;
			if (t->chains[k].builtin)
				fprintf(out, "-P %s %s\n", t->chains[k].name, target_names[t->chains[k].policy]);
			else
				fprintf(out, "-N %s\n", t->chains[k].name);
		}
		for (uint32_t k = 0; k < t->nchains; k++) {
			if (ci >= 0 && k != (uint32_t)ci)
				continue;
			for (uint32_t i = 0; i < t->chains[k].nrules; i++) {
				fprintf(out, "-A %s", t->chains[k].name);
				tn_ipt_rule_print(&t->chains[k].rules[i], out);
				fputc('\n', out);
			}
		}
		return 0;
	case CMD_CHECK:
		if (rule_find_same(ch, &r) >= 0)
			return 0;
		return perr(c, 1, "iptables: Bad rule (does a matching rule exist in that chain?).");
	case CMD_APPEND:
	case CMD_INSERT: {
		uint32_t pos = ch->nrules;
		if (cs->cmd == CMD_INSERT) {
			long n = cs->rulenum ? cs->rulenum : 1;
			if (n < 1 || (uint64_t)n > (uint64_t)ch->nrules + 1)
				return perr(c, 1, "iptables: Index of insertion too big.");
			pos = (uint32_t)n - 1;
		}
		if (rule_insert(ch, pos, &r) < 0)
			return perr(c, 1, "iptables: Memory allocation problem.");
		break;
	}
	case CMD_REPLACE:
		if (cs->rulenum < 1 || (uint32_t)cs->rulenum > ch->nrules)
			return perr(c, 1, "iptables: Index of replacement too big.");
		if (!cs->has_counters) { /* as iptables -R: the new rule starts at zero */
			r.pkts = r.bytes = 0;
		}
		ch->rules[cs->rulenum - 1] = r;
		break;
	case CMD_DELETE:
		if (cs->rulenum) {
			if (cs->rulenum < 1 || (uint32_t)cs->rulenum > ch->nrules)
				return perr(c, 1, "iptables: Index of deletion too big.");
			rule_delete(ch, (uint32_t)cs->rulenum - 1);
			break;
		}
		int same = rule_find_same(ch, &r);
		if (same < 0)
			return perr(c, 1, "iptables: Bad rule (does a matching rule exist in that chain?).");
		rule_delete(ch, (uint32_t)same);
		break;
	case CMD_NEW:
		if (check_chain_name(c, cs->chain) < 0)
			return -1;
		if (ci >= 0)
			return perr(c, 1, "iptables: Chain already exists.");
		if (t->nchains >= TN_IPT_MAX_CHAINS)
			return perr(c, 1, "iptables: Too many chains.");
		if (chain_add(t, cs->chain) < 0)
			return perr(c, 1, "iptables: Memory allocation problem.");
		break;
	case CMD_RENAME:
		if (ch->builtin)
			return perr(c, 1, "iptables: Invalid argument. Run `dmesg' for more information.");
		if (check_chain_name(c, cs->arg2) < 0)
			return -1;
		if (tn_ipt_chain_find(t, cs->arg2) >= 0)
			return perr(c, 1, "iptables: File exists.");
		for (uint32_t k = 0; k < t->nchains; k++)
			for (uint32_t i = 0; i < t->chains[k].nrules; i++) {
				struct tn_ipt_rule *x = &t->chains[k].rules[i];
				if ((x->target == TN_IPT_T_JUMP || x->target == TN_IPT_T_GOTO) && !strcmp(x->jump, ch->name))
					snprintf(x->jump, sizeof(x->jump), "%s", cs->arg2);
			}
		snprintf(ch->name, sizeof(ch->name), "%s", cs->arg2);
		break;
	case CMD_DELCHAIN: {
		/* one chain, or every user chain (which must all be unreferenced
		 * from outside the set deleted) */
		if (ch && ch->builtin)
			return perr(c, 1, "iptables: Invalid argument. Run `dmesg' for more information.");
		for (uint32_t k = 0; k < t->nchains; k++) {
			if (t->chains[k].builtin || (ch && k != (uint32_t)ci))
				continue;
			if (ch && chain_refs(t, t->chains[k].name))
				return perr(c, 1, "iptables: Too many links.");
			if (ch && t->chains[k].nrules)
				return perr(c, 1, "iptables: Directory not empty.");
		}
		if (!ch) {
			for (uint32_t k = 0; k < t->nchains; k++)
				for (uint32_t i = 0; i < t->chains[k].nrules; i++) {
					const struct tn_ipt_rule *x = &t->chains[k].rules[i];
					if (t->chains[k].builtin && (x->target == TN_IPT_T_JUMP || x->target == TN_IPT_T_GOTO))
						return perr(c, 1, "iptables: Too many links.");
				}
			for (uint32_t k = 0; k < t->nchains; k++)
				if (!t->chains[k].builtin && t->chains[k].nrules)
					return perr(c, 1, "iptables: Directory not empty.");
		}
		uint32_t w = 0;
		for (uint32_t k = 0; k < t->nchains; k++) {
			bool del = !t->chains[k].builtin && (!ch || k == (uint32_t)ci);
			if (del)
				free(t->chains[k].rules);
			else
				t->chains[w++] = t->chains[k];
		}
		t->nchains = w;
		break;
	}
	case CMD_FLUSH:
		for (uint32_t k = 0; k < t->nchains; k++)
			if (!ch || k == (uint32_t)ci)
				t->chains[k].nrules = 0;
		break;
	case CMD_ZERO:
	zero:
		if (cs->rulenum && ch) {
			if (cs->rulenum < 1 || (uint32_t)cs->rulenum > ch->nrules)
				return perr(c, 1, "iptables: Index of deletion too big.");
			ch->rules[cs->rulenum - 1].pkts = ch->rules[cs->rulenum - 1].bytes = 0;
			break;
		}
		for (uint32_t k = 0; k < t->nchains; k++) {
			if (ch && k != (uint32_t)ci)
				continue;
			t->chains[k].pol_pkts = t->chains[k].pol_bytes = 0;
			for (uint32_t i = 0; i < t->chains[k].nrules; i++)
				t->chains[k].rules[i].pkts = t->chains[k].rules[i].bytes = 0;
		}
		break;
	case CMD_POLICY: {
		if (!ch->builtin)
			return perr(c, 1, "iptables: Bad built-in chain name.");
		int p = target_by_name(cs->arg2);
		if (p != TN_IPT_T_ACCEPT && p != TN_IPT_T_DROP)
			return perr(c, 1, "iptables: Bad policy name. Run `dmesg' for more information.");
		ch->policy = (uint8_t)p;
		if (cs->has_counters) {
			ch->pol_pkts = cs->cnt[0];
			ch->pol_bytes = cs->cnt[1];
		}
		break;
	}
	}
	if (changed)
		*changed |= 1u << cs->table;
	return 0;
}

/* Run one command against a copy of the table it names, checked whole,
 * then put in place: a failure leaves m as it was. */
static int command_in(struct tn_ipt_model *m, int argc, char **argv, struct cmd_state *cs, FILE *out, struct pctx *c,
		      unsigned *changed)
{
	struct tn_ipt_model work;
	memset(&work, 0, sizeof(work));
	/* A cheap first pass finds the table; copy only that one. */
	int table = cs->table;
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], "-t") || !strcmp(argv[i], "--table")) {
			int tt = tn_ipt_table_by_name(argv[i + 1]);
			if (tt >= 0)
				table = tt;
		}
	if (tn_ipt_table_copy(&work.t[table], &m->t[table]) < 0)
		return perr(c, 1, "iptables: Memory allocation problem.");
	unsigned ch = 0;
	int rc = run_cmd(c, &work, argc, argv, cs, out, &ch);
	if (rc == 0 && ch) {
		char err[256];
		if (tn_ipt_table_check(&work.t[cs->table], cs->table, err, sizeof(err)) < 0) {
			perr(c, 1, "%s", err);
			rc = -1;
		}
	}
	if (rc == 0) {
		bool present = work.t[table].present;
		tn_ipt_table_free(&m->t[table]);
		m->t[table] = work.t[table];
		m->t[table].present = present;
		if (changed)
			*changed |= ch;
	} else {
		tn_ipt_table_free(&work.t[table]);
	}
	return rc;
}

int tn_ipt_command(struct tn_ipt_model *m, int argc, char **argv, FILE *out, FILE *err, unsigned *changed)
{
	struct pctx c = {0};
	struct cmd_state cs = {.table = TN_IPT_FILTER};
	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs("iptables (tern) -[ACD] chain rule-specification [options]\n"
		      "  -I chain [rulenum] rule  -R chain rulenum rule  -D chain rulenum\n"
		      "  -S [chain [rulenum]]  -L [chain [rulenum]] [-n] [-v] [-x] [--line-numbers]\n"
		      "  -F [chain]  -Z [chain [rulenum]]  -N chain  -X [chain]  -P chain target  -E old new\n"
		      "  -t table (raw mangle nat filter)\n",
		      out);
		return 0;
	}
	if (command_in(m, argc, argv, &cs, out, &c, changed) == 0)
		return 0;
	if (!strncmp(c.err, "iptables: ", 10))
		fprintf(err, "%s\n", c.err);
	else
		fprintf(err, "iptables: %s\n", c.err);
	if (c.rc == 2)
		fprintf(err, "Try `iptables -h' or 'iptables --help' for more information.\n");
	return c.rc ? c.rc : 1;
}

/* ---- restore ---- */
/* Split a line into words: whitespace-separated, "..." quoted with \
 * escapes, as iptables-restore.  -1 on an unterminated quote. */
static int split_words(char *line, char **words, int max, int *n)
{
	*n = 0;
	char *p = line, *w = line;
	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		if (*n >= max)
			return -2;
		words[(*n)++] = w;
		bool quoted = false;
		while (*p && (quoted || (*p != ' ' && *p != '\t'))) {
			if (*p == '"') {
				quoted = !quoted;
				p++;
				continue;
			}
			if (quoted && *p == '\\' && (p[1] == '"' || p[1] == '\\'))
				p++;
			*w++ = *p++;
		}
		if (quoted)
			return -1;
		if (*p)
			p++;
		*w++ = 0;
	}
	return 0;
}

int tn_ipt_restore(struct tn_ipt_model *m, const char *text, size_t len, bool noflush, bool counters, FILE *err,
		   unsigned *changed)
{
	struct tn_ipt_model work;
	if (tn_ipt_model_copy(&work, m) < 0) {
		fprintf(err, "iptables-restore: out of memory\n");
		return 1;
	}
	int table = -1, lineno = 0, rc = 0;
	unsigned ch = 0;
	char msg[400] = "";
	size_t pos = 0;
	char *line = malloc(len + 1);
	if (!line) {
		tn_ipt_model_free(&work);
		fprintf(err, "iptables-restore: out of memory\n");
		return 1;
	}
	while (pos < len && !rc) {
		size_t e = pos;
		while (e < len && text[e] != '\n')
			e++;
		size_t ll = e - pos;
		memcpy(line, text + pos, ll);
		line[ll] = 0;
		pos = e + 1;
		lineno++;
		if (ll && line[ll - 1] == '\r')
			line[--ll] = 0;
		if (memchr(line, 0, ll)) {
			snprintf(msg, sizeof(msg), "a NUL byte in the line");
			rc = 1;
			break;
		}
		char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p || *p == '#')
			continue;
		if (*p == '*') {
			if (table >= 0) {
				snprintf(msg, sizeof(msg), "table `%s' not committed before `%s'", table_names[table], p);
				rc = 1;
				break;
			}
			table = tn_ipt_table_by_name(p + 1);
			if (table < 0) {
				snprintf(msg, sizeof(msg),
					 "can't initialize iptables table `%s': Table does not exist (do you need to insmod?)", p + 1);
				rc = 1;
				break;
			}
			if (!noflush)
				tn_ipt_table_reset(&work.t[table], table);
			work.t[table].present = true;
			ch |= 1u << table;
			continue;
		}
		if (table < 0) {
			snprintf(msg, sizeof(msg), "no table specified");
			rc = 1;
			break;
		}
		if (!strcmp(p, "COMMIT")) {
			char e2[256];
			if (tn_ipt_table_check(&work.t[table], table, e2, sizeof(e2)) < 0) {
				snprintf(msg, sizeof(msg), "%s", e2);
				rc = 1;
				break;
			}
			table = -1;
			continue;
		}
		if (*p == ':') {
			char *words[4];
			int n;
			if (split_words(p + 1, words, 4, &n) < 0 || n < 2 || n > 3) {
				snprintf(msg, sizeof(msg), "bad chain line");
				rc = 1;
				break;
			}
			uint64_t pc = 0, bc = 0;
			if (n == 3 && sscanf(words[2], "[%" SCNu64 ":%" SCNu64 "]", &pc, &bc) != 2) {
				snprintf(msg, sizeof(msg), "invalid counters \"%s\" for chain %s", words[2], words[0]);
				rc = 1;
				break;
			}
			struct tn_ipt_table *t = &work.t[table];
			int ci = tn_ipt_chain_find(t, words[0]);
			if (!strcmp(words[1], "-")) {
				if (ci >= 0 && t->chains[ci].builtin) {
					snprintf(msg, sizeof(msg), "Can't set policy `-' on builtin chain %s", words[0]);
					rc = 1;
					break;
				}
				if (ci >= 0) {
					t->chains[ci].nrules = 0; /* --noflush: a declared chain is flushed */
					continue;
				}
				struct pctx c = {0};
				if (check_chain_name(&c, words[0]) < 0) {
					snprintf(msg, sizeof(msg), "%s", c.err);
					rc = 1;
					break;
				}
				if (t->nchains >= TN_IPT_MAX_CHAINS || chain_add(t, words[0]) < 0) {
					snprintf(msg, sizeof(msg), "too many chains");
					rc = 1;
				}
				continue;
			}
			int pol = target_by_name(words[1]);
			if (ci < 0 || !t->chains[ci].builtin) {
				snprintf(msg, sizeof(msg), "Bad built-in chain name `%s'", words[0]);
				rc = 1;
				break;
			}
			if (pol != TN_IPT_T_ACCEPT && pol != TN_IPT_T_DROP) {
				snprintf(msg, sizeof(msg), "Bad policy name `%s'", words[1]);
				rc = 1;
				break;
			}
			t->chains[ci].policy = (uint8_t)pol;
			if (counters) {
				t->chains[ci].pol_pkts = pc;
				t->chains[ci].pol_bytes = bc;
			}
			continue;
		}
		/* a command line, maybe with [p:b] first */
		char *words[256];
		int n;
		words[0] = "iptables";
		int sw = split_words(p, words + 1, 255, &n);
		if (sw < 0) {
			snprintf(msg, sizeof(msg), sw == -1 ? "unterminated quote" : "too many arguments");
			rc = 1;
			break;
		}
		struct cmd_state cs = {.table = table, .restore = true};
		int first = 1;
		if (n && words[1][0] == '[') {
			uint64_t pc, bc;
			char tail;
			if (sscanf(words[1], "[%" SCNu64 ":%" SCNu64 "]%c", &pc, &bc, &tail) != 2) {
				snprintf(msg, sizeof(msg), "Bad argument `%s'", words[1]);
				rc = 1;
				break;
			}
			if (counters) {
				cs.has_counters = true;
				cs.cnt[0] = pc;
				cs.cnt[1] = bc;
			}
			first = 2;
		}
		words[first - 1] = "iptables";
		char *dummy = NULL;
		size_t dn = 0;
		FILE *sink = open_memstream(&dummy, &dn);
		struct pctx c = {0};
		unsigned cch = 0;
		int r = sink ? run_cmd(&c, &work, n + 2 - first, words + first - 1, &cs, sink, &cch) : -1;
		if (sink)
			fclose(sink);
		free(dummy);
		if (r < 0) {
			snprintf(msg, sizeof(msg), "%s", c.err[0] ? c.err : "out of memory");
			rc = 1;
			break;
		}
	}
	free(line);
	if (!rc && table >= 0) {
		snprintf(msg, sizeof(msg), "COMMIT expected at line %d", lineno + 1);
		rc = 1;
	}
	if (rc) {
		fprintf(err, "iptables-restore: line %d failed: %s\n", lineno, msg);
		tn_ipt_model_free(&work);
		return 1;
	}
	tn_ipt_model_free(m);
	*m = work;
	if (changed)
		*changed |= ch;
	return 0;
}
