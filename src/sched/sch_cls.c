/* tc filters (see sch_cls.h): matching, and parsing tc's filter words
 * (tn_qfilter_add) as iproute2's f_u32.c, f_fw.c and f_flow.c take them. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sch_cls.h"
#include "wire/wire.h"

void tn_qfilter_flush(struct tn_qdisc *q)
{
	while (q->filters) {
		struct tn_qfilter *f = q->filters;
		q->filters = f->next;
		free(f);
	}
}

void tn_qfilter_del(struct tn_qdisc *q, uint32_t prio)
{
	struct tn_qfilter **pp = &q->filters;
	while (*pp) {
		struct tn_qfilter *f = *pp;
		if (prio == 0 || f->prio == prio) {
			*pp = f->next;
			free(f);
		} else {
			pp = &f->next;
		}
	}
}

/* The 32-bit word at `off` from base, if the packet's first buffer holds it. */
static bool word_at(const struct tn_pkt *p, const uint8_t *base, int32_t off, uint32_t *w)
{
	const uint8_t *at = base + off;
	if (off < 0 || at < p->data || at + 4 > p->data + p->len)
		return false;
	*w = tn_get32(at);
	return true;
}

static bool u32_match(const struct tn_qfilter *f, const struct tn_pkt *p)
{
	const uint8_t *ip = p->buf + p->l3_off;
	if (!p->l3_off || ip < p->data || ip + 20 > p->data + p->len || (ip[0] >> 4) != 4)
		return false;
	const uint8_t *l4 = ip + (ip[0] & 0xf) * 4;
	for (unsigned i = 0; i < f->nkeys; i++) {
		const struct tn_qfilter_key *k = &f->key[i];
		uint32_t w;
		if (!word_at(p, k->transport ? l4 : ip, k->off, &w) || (w & k->mask) != k->value)
			return false;
	}
	return true;
}

static bool is_ipv4(const struct tn_pkt *p)
{
	const uint8_t *ip = p->buf + p->l3_off;
	return p->l3_off && ip >= p->data && ip + 20 <= p->data + p->len && (ip[0] >> 4) == 4;
}

/* Linux's flow classifier: a hash of the chosen keys (addresses, protocol,
 * ports); a field the packet does not hold hashes as zero. */
static uint32_t flow_hash(const struct tn_pkt *p, uint32_t keys)
{
	const uint8_t *ip = p->buf + p->l3_off;
	uint32_t h = 2166136261u;
	uint8_t in[13] = {0};
	if (is_ipv4(p)) {
		const uint8_t *l4 = ip + (ip[0] & 0xf) * 4;
		bool ports = l4 + 4 <= p->data + p->len && (ip[9] == 6 || ip[9] == 17 || ip[9] == 132 ||
							    ip[9] == 33 || ip[9] == 136);
		if (keys & TN_QFLOW_KEY_SRC)
			memcpy(in, ip + 12, 4);
		if (keys & TN_QFLOW_KEY_DST)
			memcpy(in + 4, ip + 16, 4);
		if (keys & TN_QFLOW_KEY_PROTO)
			in[8] = ip[9];
		if (ports && (keys & TN_QFLOW_KEY_PROTO_SRC))
			memcpy(in + 9, l4, 2);
		if (ports && (keys & TN_QFLOW_KEY_PROTO_DST))
			memcpy(in + 11, l4 + 2, 2);
	}
	for (size_t i = 0; i < sizeof(in); i++)
		h = (h ^ in[i]) * 16777619u;
	return h;
}

/* fw: with a handle, mark & mask == handle gives classid; without, the mark
 * itself names the class (its minor, and a major of 0 or this qdisc's). */
static uint32_t fw_match(const struct tn_qfilter *f, const struct tn_qdisc *q, const struct tn_pkt *p)
{
	uint32_t id = p->mark & f->fw_mask;
	if (f->handle || f->classid)
		return id == f->handle ? f->classid : 0;
	if (!id || (TN_TC_H_MAJ(id) && TN_TC_H_MAJ(id) != TN_TC_H_MAJ(q->handle)))
		return 0;
	return TN_TC_H_MAJ(q->handle) | TN_TC_H_MIN(id);
}

uint32_t tn_qfilter_classify(struct tn_qdisc *q, const struct tn_pkt *p)
{
	for (struct tn_qfilter *f = q->filters; f; f = f->next) {
		uint32_t c = 0;
		if (f->protocol && !is_ipv4(p))
			continue;
		switch (f->kind) {
		case TN_QFILTER_U32:
			if (u32_match(f, p))
				c = f->classid;
			break;
		case TN_QFILTER_FW:
			c = fw_match(f, q, p);
			break;
		case TN_QFILTER_FLOW:
			if (f->flow_divisor)
				c = TN_TC_H_MAJ(f->classid) |
				    TN_TC_H_MIN(f->classid + flow_hash(p, f->flow_keys) % f->flow_divisor);
			break;
		}
		if (c) {
			f->hits++;
			return c;
		}
	}
	return 0;
}

/* ---- Parsing tc filter words ---- */

static bool streq(const char *a, const char *b) { return strcmp(a, b) == 0; }

/* Add (value, mask) at a word offset, merging with a key already at that
 * offset as tc's pack_key does (sport and dport share nexthdr+0); a match
 * that contradicts an earlier one is an error. */
static int add_key(struct tn_qfilter *f, uint32_t value, uint32_t mask, int32_t off, bool transport,
		   const char *word, struct tn_qerr *err)
{
	value &= mask;
	for (unsigned i = 0; i < f->nkeys; i++) {
		struct tn_qfilter_key *k = &f->key[i];
		if (k->off != off || k->transport != transport)
			continue;
		if ((value ^ k->value) & (mask & k->mask))
			return tn_qerr(err, "u32: match \"%s\" contradicts an earlier match", word);
		k->value |= value;
		k->mask |= mask;
		return 0;
	}
	if (f->nkeys >= TN_QFILTER_MAX_KEYS)
		return tn_qerr(err, "u32: too many matches at \"%s\" (at most %d words)", word,
			       TN_QFILTER_MAX_KEYS);
	f->key[f->nkeys++] = (struct tn_qfilter_key){.mask = mask, .value = value, .off = off,
						     .transport = transport};
	return 0;
}

/* A u8/u16/u32 match at byte offset `off` packed into its aligned word. */
static int add_sized(struct tn_qfilter *f, unsigned size, uint32_t value, uint32_t mask, int32_t off,
		     bool transport, char **vm, const char *word, struct tn_qerr *err)
{
	if (size < 4 && value > (1u << size * 8) - 1)
		return tn_qerr(err, "u32: value \"%s\" is wider than u%u", vm[0], size * 8);
	if (size < 4 && mask > (1u << size * 8) - 1)
		return tn_qerr(err, "u32: mask \"%s\" is wider than u%u", vm[1], size * 8);
	if (off < 0 || off > 0xffff)
		return tn_qerr(err, "u32: bad offset at \"%s\"", word);
	if ((size == 4 && off % 4) || (size == 2 && off % 4 == 3))
		return tn_qerr(err, "u32: \"%s\": u%u at offset %d is not aligned", word, size * 8, (int)off);
	unsigned shift = 8 * (4 - (unsigned)(off % 4) - size);
	return add_key(f, value << shift, mask << shift, off & ~3, transport, word, err);
}

static int get_num(const char *s, uint32_t *v) { return tn_tc_get_u32(s, v); }

/* "10.0.0.0/8", "10.1.2.3": address and prefix mask. */
static int get_prefix(const char *s, uint32_t *addr, uint32_t *mask)
{
	char buf[32];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	struct in_addr a;
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -1;
	uint32_t plen = 32;
	if (slash && (tn_tc_get_u32(slash + 1, &plen) < 0 || plen > 32 || !slash[1]))
		return -1;
	*mask = plen ? ~0u << (32 - plen) : 0;
	*addr = ntohl(a.s_addr) & *mask;
	return 0;
}

/* One "match ..." after the word match; *i points at the selector. */
static int parse_match(struct tn_qfilter *f, int argc, char **argv, int *i, struct tn_qerr *err)
{
	int k = *i;
#define NEED(n)                                                                                    \
	do {                                                                                       \
		if (k + (n) >= argc)                                                               \
			return tn_qerr(err, "u32: \"%s\" needs %d more word%s", argv[k], (n),      \
				       (n) > 1 ? "s" : "");                                        \
	} while (0)
	if (k >= argc)
		return tn_qerr(err, "u32: match needs a selector (ip, tcp, udp, u32, u16, u8)");
	const char *sel = argv[k];
	uint32_t v, m;
	if (streq(sel, "ip")) {
		k++;
		if (k >= argc)
			return tn_qerr(err, "u32: match ip needs a field");
		const char *fld = argv[k];
		if (streq(fld, "src") || streq(fld, "dst")) {
			NEED(1);
			if (get_prefix(argv[k + 1], &v, &m) < 0)
				return tn_qerr(err, "u32: bad address \"%s\"", argv[k + 1]);
			if (add_key(f, v, m, streq(fld, "src") ? 12 : 16, false, argv[k + 1], err) < 0)
				return -1;
			*i = k + 2;
			return 0;
		}
		static const struct {
			const char *name;
			unsigned size;
			int32_t off;
			bool transport;
		} fields[] = {
			{"sport", 2, 0, true},	  {"dport", 2, 2, true},      {"protocol", 1, 9, false},
			{"tos", 1, 1, false},	  {"dsfield", 1, 1, false},   {"precedence", 1, 1, false},
			{"ihl", 1, 0, false},	  {"icmp_type", 1, 0, true},  {"icmp_code", 1, 1, true},
			{NULL, 0, 0, false},
		};
		for (int j = 0; fields[j].name; j++) {
			if (!streq(fld, fields[j].name))
				continue;
			NEED(2);
			if (get_num(argv[k + 1], &v) < 0)
				return tn_qerr(err, "u32: bad value \"%s\" for ip %s", argv[k + 1], fld);
			if (get_num(argv[k + 2], &m) < 0)
				return tn_qerr(err, "u32: bad mask \"%s\" for ip %s", argv[k + 2], fld);
			if (add_sized(f, fields[j].size, v, m, fields[j].off, fields[j].transport, argv + k + 1,
				      argv[k + 1], err) < 0)
				return -1;
			*i = k + 3;
			return 0;
		}
		return tn_qerr(err, "u32: unknown ip field \"%s\"", fld);
	}
	if (streq(sel, "tcp") || streq(sel, "udp")) {
		/* tc's tcp/udp selectors: ports at nexthdr+0 and nexthdr+2 */
		NEED(3);
		const char *fld = argv[k + 1];
		if (!streq(fld, "src") && !streq(fld, "dst"))
			return tn_qerr(err, "u32: unknown %s field \"%s\" (src, dst)", sel, fld);
		if (get_num(argv[k + 2], &v) < 0)
			return tn_qerr(err, "u32: bad value \"%s\" for %s %s", argv[k + 2], sel, fld);
		if (get_num(argv[k + 3], &m) < 0)
			return tn_qerr(err, "u32: bad mask \"%s\" for %s %s", argv[k + 3], sel, fld);
		if (add_sized(f, 2, v, m, streq(fld, "src") ? 0 : 2, true, argv + k + 2, argv[k + 2], err) < 0)
			return -1;
		*i = k + 4;
		return 0;
	}
	unsigned size = streq(sel, "u32") ? 4 : streq(sel, "u16") ? 2 : streq(sel, "u8") ? 1 : 0;
	if (!size)
		return tn_qerr(err, "u32: unknown match selector \"%s\" (ip, tcp, udp, u32, u16, u8)", sel);
	NEED(4);
	if (get_num(argv[k + 1], &v) < 0)
		return tn_qerr(err, "u32: bad value \"%s\"", argv[k + 1]);
	if (get_num(argv[k + 2], &m) < 0)
		return tn_qerr(err, "u32: bad mask \"%s\"", argv[k + 2]);
	if (!streq(argv[k + 3], "at"))
		return tn_qerr(err, "u32: expected \"at\", not \"%s\"", argv[k + 3]);
	const char *o = argv[k + 4];
	bool transport = false;
	if (strncmp(o, "nexthdr+", 8) == 0) {
		transport = true;
		o += 8;
	}
	uint32_t off;
	if (get_num(o, &off) < 0 || off > 0xffff)
		return tn_qerr(err, "u32: bad offset \"%s\"", argv[k + 4]);
	if (add_sized(f, size, v, m, (int32_t)off, transport, argv + k + 1, argv[k + 4], err) < 0)
		return -1;
	*i = k + 5;
	return 0;
#undef NEED
}

static int parse_classid(const char *kind, const char *s, uint32_t *id, struct tn_qerr *err)
{
	if (!s)
		return tn_qerr(err, "%s: flowid/classid needs a class", kind);
	if (tn_tc_get_handle(s, id) < 0 || *id == TN_TC_H_ROOT || *id == 0)
		return tn_qerr(err, "%s: bad class id \"%s\"", kind, s);
	return 0;
}

static int parse_u32(struct tn_qfilter *f, int argc, char **argv, struct tn_qerr *err)
{
	bool have_class = false;
	for (int i = 0; i < argc;) {
		const char *w = argv[i];
		if (streq(w, "match")) {
			i++;
			if (parse_match(f, argc, argv, &i, err) < 0)
				return -1;
		} else if (streq(w, "flowid") || streq(w, "classid")) {
			if (parse_classid("u32", i + 1 < argc ? argv[i + 1] : NULL, &f->classid, err) < 0)
				return -1;
			have_class = true;
			i += 2;
		} else {
			return tn_qerr(err, "u32: unknown word \"%s\" (match, flowid, classid)", w);
		}
	}
	if (!have_class)
		return tn_qerr(err, "u32: the filter needs a flowid or classid");
	return 0;
}

static int parse_fw(struct tn_qfilter *f, const char *handle, int argc, char **argv, struct tn_qerr *err)
{
	f->fw_mask = 0xffffffffu;
	if (handle) { /* MARK or MARK/MASK */
		char buf[48];
		snprintf(buf, sizeof(buf), "%s", handle);
		char *slash = strchr(buf, '/');
		if (slash)
			*slash++ = '\0';
		if (get_num(buf, &f->handle) < 0 || (slash && get_num(slash, &f->fw_mask) < 0) ||
		    strlen(handle) >= sizeof(buf))
			return tn_qerr(err, "fw: bad handle \"%s\" (MARK or MARK/MASK)", handle);
		if (f->handle & ~f->fw_mask)
			return tn_qerr(err, "fw: handle \"%s\" has bits outside its mask", handle);
	}
	bool have_class = false;
	for (int i = 0; i < argc; i += 2) {
		if (streq(argv[i], "classid") || streq(argv[i], "flowid")) {
			if (parse_classid("fw", i + 1 < argc ? argv[i + 1] : NULL, &f->classid, err) < 0)
				return -1;
			have_class = true;
		} else if (streq(argv[i], "mask")) {
			if (i + 1 >= argc || get_num(argv[i + 1], &f->fw_mask) < 0 || !f->fw_mask)
				return tn_qerr(err, "fw: bad mask \"%s\"", i + 1 < argc ? argv[i + 1] : "");
		} else {
			return tn_qerr(err, "fw: unknown word \"%s\" (classid, mask)", argv[i]);
		}
	}
	if (handle && !have_class)
		return tn_qerr(err, "fw: handle %s needs a classid", handle);
	if (!handle && have_class)
		return tn_qerr(err, "fw: classid needs a handle (the mark to match)");
	return 0;
}

static const struct {
	const char *name;
	uint32_t bit;
} flow_key_names[] = {
	{"src", TN_QFLOW_KEY_SRC},		 {"dst", TN_QFLOW_KEY_DST},
	{"proto", TN_QFLOW_KEY_PROTO},		 {"proto-src", TN_QFLOW_KEY_PROTO_SRC},
	{"proto-dst", TN_QFLOW_KEY_PROTO_DST}, {NULL, 0},
};

static int parse_flow(struct tn_qfilter *f, int argc, char **argv, struct tn_qerr *err)
{
	if (argc < 1 || !streq(argv[0], "hash"))
		return tn_qerr(err, "flow: expected \"hash\", not \"%s\"", argc ? argv[0] : "");
	for (int i = 1; i < argc; i += 2) {
		const char *w = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			return tn_qerr(err, "flow: \"%s\" needs a value", w);
		if (streq(w, "keys")) {
			char buf[128];
			if (strlen(v) >= sizeof(buf))
				return tn_qerr(err, "flow: keys too long");
			snprintf(buf, sizeof(buf), "%s", v);
			f->flow_keys = 0;
			char *save = NULL;
			for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				uint32_t bit = 0;
				for (int j = 0; flow_key_names[j].name; j++)
					if (streq(t, flow_key_names[j].name))
						bit = flow_key_names[j].bit;
				if (!bit)
					return tn_qerr(err, "flow: unknown key \"%s\" (src, dst, proto, "
							    "proto-src, proto-dst)", t);
				f->flow_keys |= bit;
			}
		} else if (streq(w, "divisor")) {
			if (get_num(v, &f->flow_divisor) < 0 || f->flow_divisor == 0 || f->flow_divisor > 65536)
				return tn_qerr(err, "flow: bad divisor \"%s\"", v);
		} else if (streq(w, "baseclass")) {
			if (parse_classid("flow", v, &f->classid, err) < 0)
				return -1;
			if (!TN_TC_H_MIN(f->classid))
				return tn_qerr(err, "flow: baseclass \"%s\" needs a minor", v);
		} else {
			return tn_qerr(err, "flow: unknown word \"%s\" (keys, divisor, baseclass)", w);
		}
	}
	if (!f->flow_keys)
		return tn_qerr(err, "flow: hash needs keys");
	if (!f->flow_divisor)
		return tn_qerr(err, "flow: hash needs a divisor");
	return 0;
}

/* A u32 handle "800::5" or "800:0:5": hash table, bucket, node in hex. */
static int u32_handle(const char *s, uint32_t *h)
{
	uint32_t part[3] = {0, 0, 0}, lim[3] = {0xfff, 0xff, 0xfff};
	int n = 0;
	for (const char *c = s;; c++) {
		if (*c == ':' || !*c) {
			if (++n > 3)
				return -1;
			if (!*c)
				break;
			continue;
		}
		int d = *c >= '0' && *c <= '9' ? *c - '0' : *c >= 'a' && *c <= 'f' ? *c - 'a' + 10
			: *c >= 'A' && *c <= 'F' ? *c - 'A' + 10 : -1;
		if (d < 0 || part[n] * 16 + (uint32_t)d > lim[n])
			return -1;
		part[n] = part[n] * 16 + (uint32_t)d;
	}
	if (n != 3 || !part[2])
		return -1;
	*h = part[0] << 20 | part[1] << 12 | part[2];
	return 0;
}

int tn_qfilter_add(struct tn_qdisc *q, int argc, char **argv, struct tn_qerr *err)
{
	struct tn_qfilter f = {0};
	const char *handle = NULL;
	int i = 0;
	for (; i < argc; i += 2) {
		const char *w = argv[i];
		if (streq(w, "u32") || streq(w, "fw") || streq(w, "flow"))
			break;
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			return tn_qerr(err, "filter: \"%s\" needs a value", w);
		if (streq(w, "protocol")) {
			if (streq(v, "ip") || streq(v, "ipv4"))
				f.protocol = 0x0800;
			else if (streq(v, "all"))
				f.protocol = 0;
			else
				return tn_qerr(err, "filter: unsupported protocol \"%s\" (ip, all)", v);
		} else if (streq(w, "prio") || streq(w, "pref") || streq(w, "priority") ||
			   streq(w, "preference")) {
			if (get_num(v, &f.prio) < 0 || f.prio == 0 || f.prio > 0xffff)
				return tn_qerr(err, "filter: bad prio \"%s\" (1..65535)", v);
		} else if (streq(w, "handle")) {
			handle = v;
		} else {
			return tn_qerr(err, "filter: unknown word \"%s\" (protocol, prio, handle, u32, fw, "
					    "flow)", w);
		}
	}
	if (i >= argc)
		return tn_qerr(err, "filter: missing classifier (u32, fw, flow)");
	const char *kind = argv[i];
	int kargc = argc - i - 1;
	char **kargv = argv + i + 1;
	if (streq(kind, "u32")) {
		f.kind = TN_QFILTER_U32;
		if (handle && u32_handle(handle, &f.handle) < 0)
			return tn_qerr(err, "u32: bad handle \"%s\" (HT:BKT:NODE in hex)", handle);
		if (parse_u32(&f, kargc, kargv, err) < 0)
			return -1;
	} else if (streq(kind, "fw")) {
		f.kind = TN_QFILTER_FW;
		if (parse_fw(&f, handle, kargc, kargv, err) < 0)
			return -1;
	} else {
		f.kind = TN_QFILTER_FLOW;
		if (handle && get_num(handle, &f.handle) < 0)
			return tn_qerr(err, "flow: bad handle \"%s\"", handle);
		if (parse_flow(&f, kargc, kargv, err) < 0)
			return -1;
		if (!TN_TC_H_MAJ(f.classid))
			f.classid |= TN_TC_H_MAJ(q->handle);
		if (!TN_TC_H_MIN(f.classid))
			f.classid |= 1;
	}
	/* The priority: given, or as Linux picks it (49152, then one less than
	 * the first filter's). */
	if (!f.prio)
		f.prio = q->filters ? (q->filters->prio > 1 ? q->filters->prio - 1 : 1) : 0xc000;
	unsigned same = 0, u32_prios = 0;
	uint32_t htid = 0;
	for (struct tn_qfilter *o = q->filters; o; o = o->next) {
		if (o->kind == TN_QFILTER_U32 && (!o->next || o->next->prio != o->prio))
			u32_prios++;
		if (o->prio != f.prio)
			continue;
		if (o->kind != f.kind)
			return tn_qerr(err, "filter: prio %u already holds filters of another kind", f.prio);
		if (o->protocol != f.protocol)
			return tn_qerr(err, "filter: prio %u already holds filters of another protocol", f.prio);
		if (f.handle && o->handle == f.handle)
			return tn_qerr(err, "filter: prio %u already has handle %s", f.prio, handle);
		same++;
		htid = o->handle >> 20;
	}
	if (f.kind == TN_QFILTER_U32 && !f.handle) {
		if (!same)
			htid = 0x800 + u32_prios;
		f.handle = (htid & 0xfff) << 20 | (0x800 + same);
	}
	if (f.kind == TN_QFILTER_FLOW && !f.handle)
		f.handle = same + 1;
	struct tn_qfilter *nf = malloc(sizeof(*nf));
	if (!nf)
		return tn_qerr(err, "filter: out of memory");
	*nf = f;
	struct tn_qfilter **pp = &q->filters;
	while (*pp && (*pp)->prio <= nf->prio)
		pp = &(*pp)->next;
	nf->next = *pp;
	*pp = nf;
	return 0;
}

static void print_class(char *b, size_t cap, uint32_t id)
{
	snprintf(b, cap, "%x:%x", id >> 16, id & 0xffff);
}

#define OUT(...)                                                                                   \
	do {                                                                                       \
		if ((size_t)n < cap)                                                               \
			n += snprintf(buf + n, cap - (size_t)n, __VA_ARGS__);                      \
		else                                                                               \
			n += snprintf(NULL, 0, __VA_ARGS__);                                       \
	} while (0)

int tn_qfilter_dump(const struct tn_qdisc *q, char *buf, size_t cap)
{
	int n = 0;
	if (cap)
		buf[0] = '\0';
	for (const struct tn_qfilter *f = q->filters; f; f = f->next) {
		char cls[24];
		print_class(cls, sizeof(cls), f->classid);
		OUT("filter parent %x: protocol %s pref %u ", q->handle >> 16, f->protocol ? "ip" : "all", f->prio);
		switch (f->kind) {
		case TN_QFILTER_U32:
			OUT("u32 chain 0 fh %x::%x order %u key ht %x bkt 0 flowid %s\n", f->handle >> 20,
			    f->handle & 0xfff, f->handle & 0xfff, f->handle >> 20, cls);
			for (unsigned i = 0; i < f->nkeys; i++)
				OUT("  match %08x/%08x at %s%d\n", f->key[i].value, f->key[i].mask,
				    f->key[i].transport ? "nexthdr+" : "", (int)f->key[i].off);
			break;
		case TN_QFILTER_FW:
			if (f->handle || f->classid) {
				OUT("fw chain 0 handle 0x%x", f->handle);
				if (f->fw_mask != 0xffffffffu)
					OUT("/0x%x", f->fw_mask);
				OUT(" classid %s\n", cls);
			} else {
				OUT("fw chain 0\n");
			}
			break;
		case TN_QFILTER_FLOW: {
			OUT("flow chain 0 handle 0x%x hash keys ", f->handle);
			const char *sep = "";
			for (int j = 0; flow_key_names[j].name; j++)
				if (f->flow_keys & flow_key_names[j].bit) {
					OUT("%s%s", sep, flow_key_names[j].name);
					sep = ",";
				}
			OUT(" divisor %u baseclass %s\n", f->flow_divisor, cls);
			break;
		}
		}
	}
	return n;
}
