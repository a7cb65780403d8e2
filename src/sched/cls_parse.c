/* tc filter words (tc's f_u32.c, f_fw.c, f_flow.c) into a struct
 * tn_qfilter, and `tc filter show` lines for them.  Matching is sch_cls.c. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sch_cls.h"

struct fparse {
	int argc, i;
	char **argv;
	struct tn_qerr *err;
};

static const char *next(struct fparse *f, const char *what)
{
	if (f->i + 1 >= f->argc) {
		tn_qerr(f->err, "\"%s\" needs %s", f->argv[f->i], what);
		return NULL;
	}
	return f->argv[++f->i];
}

static int add_key(struct tn_qfilter *flt, struct tn_qerr *err, uint32_t value, uint32_t mask, int32_t off,
		   bool transport)
{
	if (flt->nkeys == TN_QFILTER_MAX_KEYS)
		return tn_qerr(err, "u32: more than %d matches", TN_QFILTER_MAX_KEYS);
	flt->key[flt->nkeys++] = (struct tn_qfilter_key){
		.value = value & mask, .mask = mask, .off = off, .transport = transport};
	return 0;
}

/* VALUE MASK, both within `bits`. */
static int value_mask(struct fparse *f, unsigned bits, uint32_t *v, uint32_t *m)
{
	const char *vs = next(f, "a value and a mask"), *ms = vs ? next(f, "a mask") : NULL;
	uint32_t lim = bits == 32 ? 0xffffffffu : (1u << bits) - 1;
	if (!ms)
		return -1;
	if (tn_tc_get_u32(vs, v) < 0 || *v > lim)
		return tn_qerr(f->err, "u32: bad value \"%s\" (%u bits)", vs, bits);
	if (tn_tc_get_u32(ms, m) < 0 || *m > lim)
		return tn_qerr(f->err, "u32: bad mask \"%s\" (%u bits)", ms, bits);
	return 0;
}

/* "at OFF" or "at nexthdr+OFF" after match u32|u16|u8. */
static int at_offset(struct fparse *f, int32_t *off, bool *transport)
{
	if (f->i + 1 >= f->argc || strcmp(f->argv[f->i + 1], "at") != 0)
		return tn_qerr(f->err, "u32: \"at OFFSET\" expected after the value and mask");
	f->i++;
	const char *s = next(f, "an offset");
	if (!s)
		return -1;
	*transport = strncmp(s, "nexthdr+", 8) == 0;
	uint32_t v;
	if (tn_tc_get_u32(*transport ? s + 8 : s, &v) < 0 || v > 1024)
		return tn_qerr(f->err, "u32: bad offset \"%s\"", s);
	*off = (int32_t)v;
	return 0;
}

/* match u32|u16|u8 VALUE MASK at [nexthdr+]OFF */
static int match_raw(struct fparse *f, struct tn_qfilter *flt, unsigned bits)
{
	uint32_t v = 0, m = 0;
	int32_t off = 0;
	bool tr = false;
	if (value_mask(f, bits, &v, &m) < 0 || at_offset(f, &off, &tr) < 0)
		return -1;
	unsigned in_word = (unsigned)off & 3;
	if (in_word * 8 + bits > 32)
		return tn_qerr(f->err, "u32: a %u-bit match at offset %d crosses a 32-bit word", bits, off);
	unsigned shift = 32 - bits - in_word * 8;
	return add_key(flt, f->err, v << shift, m << shift, off & ~3, tr);
}

static int match_ip(struct fparse *f, struct tn_qfilter *flt)
{
	const char *what = next(f, "a field (src, dst, sport, dport, protocol, tos, dsfield)");
	if (!what)
		return -1;
	uint32_t v, m;
	if (strcmp(what, "src") == 0 || strcmp(what, "dst") == 0) {
		const char *a = next(f, "an address A.B.C.D[/N]");
		if (!a)
			return -1;
		char buf[32];
		snprintf(buf, sizeof(buf), "%s", a);
		char *slash = strchr(buf, '/');
		uint32_t plen = 32;
		if (slash) {
			*slash = 0;
			if (tn_tc_get_u32(slash + 1, &plen) < 0 || plen > 32)
				return tn_qerr(f->err, "u32: bad prefix length in \"%s\"", a);
		}
		struct in_addr ia;
		if (inet_pton(AF_INET, buf, &ia) != 1)
			return tn_qerr(f->err, "u32: bad address \"%s\"", a);
		m = plen ? ~0u << (32 - plen) : 0;
		return add_key(flt, f->err, ntohl(ia.s_addr), m, what[0] == 's' ? 12 : 16, false);
	}
	if (strcmp(what, "sport") == 0 || strcmp(what, "dport") == 0) {
		if (value_mask(f, 16, &v, &m) < 0)
			return -1;
		unsigned sh = what[0] == 's' ? 16 : 0;
		return add_key(flt, f->err, v << sh, m << sh, 0, true);
	}
	if (strcmp(what, "protocol") == 0) {
		if (value_mask(f, 8, &v, &m) < 0)
			return -1;
		return add_key(flt, f->err, v << 16, m << 16, 8, false);
	}
	if (strcmp(what, "tos") == 0 || strcmp(what, "dsfield") == 0 || strcmp(what, "precedence") == 0) {
		if (value_mask(f, 8, &v, &m) < 0)
			return -1;
		return add_key(flt, f->err, v << 16, m << 16, 0, false);
	}
	return tn_qerr(f->err, "u32: unknown ip field \"%s\" (src, dst, sport, dport, protocol, tos, dsfield)", what);
}

/* match tcp|udp src|dst VALUE MASK: the transport header's ports. */
static int match_l4(struct fparse *f, struct tn_qfilter *flt, const char *proto)
{
	const char *what = next(f, "src or dst");
	if (!what)
		return -1;
	if (strcmp(what, "src") != 0 && strcmp(what, "dst") != 0)
		return tn_qerr(f->err, "u32: unknown %s field \"%s\" (src, dst)", proto, what);
	uint32_t v, m;
	if (value_mask(f, 16, &v, &m) < 0)
		return -1;
	unsigned sh = what[0] == 's' ? 16 : 0;
	return add_key(flt, f->err, v << sh, m << sh, 0, true);
}

static int parse_u32(struct fparse *f, struct tn_qfilter *flt)
{
	for (f->i++; f->i < f->argc; f->i++) {
		const char *w = f->argv[f->i];
		int rc;
		if (strcmp(w, "match") == 0) {
			const char *sel = next(f, "ip, tcp, udp, u32, u16 or u8");
			if (!sel)
				return -1;
			if (strcmp(sel, "ip") == 0)
				rc = match_ip(f, flt);
			else if (strcmp(sel, "tcp") == 0 || strcmp(sel, "udp") == 0)
				rc = match_l4(f, flt, sel);
			else if (strcmp(sel, "u32") == 0)
				rc = match_raw(f, flt, 32);
			else if (strcmp(sel, "u16") == 0)
				rc = match_raw(f, flt, 16);
			else if (strcmp(sel, "u8") == 0)
				rc = match_raw(f, flt, 8);
			else
				rc = tn_qerr(f->err, "u32: unknown match \"%s\" (ip, tcp, udp, u32, u16, u8)", sel);
		} else if (strcmp(w, "flowid") == 0 || strcmp(w, "classid") == 0) {
			const char *c = next(f, "a class X:Y");
			if (!c)
				return -1;
			rc = tn_tc_get_handle(c, &flt->classid) < 0 || flt->classid == TN_TC_H_ROOT
				     ? tn_qerr(f->err, "u32: bad %s \"%s\"", w, c) : 0;
		} else {
			rc = tn_qerr(f->err, "u32: unknown word \"%s\" (match, flowid, classid)", w);
		}
		if (rc < 0)
			return -1;
	}
	if (!flt->classid)
		return tn_qerr(f->err, "u32: flowid X:Y is required");
	return 0;
}

/* fw: the class is the packet's mark (masked); "handle H[/M] fw classid
 * X:H" names the class explicitly. */
static int parse_fw(struct fparse *f, struct tn_qfilter *flt, const char *handle)
{
	flt->fw_mask = 0xffffffffu;
	uint32_t mark = 0;
	if (handle) {
		char buf[40];
		snprintf(buf, sizeof(buf), "%s", handle);
		char *slash = strchr(buf, '/');
		if (slash) {
			*slash = 0;
			if (tn_tc_get_u32(slash + 1, &flt->fw_mask) < 0 || !flt->fw_mask)
				return tn_qerr(f->err, "fw: bad mask in handle \"%s\"", handle);
		}
		if (tn_tc_get_u32(buf, &mark) < 0)
			return tn_qerr(f->err, "fw: bad handle \"%s\" (a mark)", handle);
	}
	for (f->i++; f->i < f->argc; f->i++) {
		const char *w = f->argv[f->i];
		if (strcmp(w, "classid") != 0 && strcmp(w, "flowid") != 0)
			return tn_qerr(f->err, "fw: unknown word \"%s\" (classid)", w);
		const char *c = next(f, "a class X:Y");
		if (!c)
			return -1;
		if (tn_tc_get_handle(c, &flt->classid) < 0 || flt->classid == TN_TC_H_ROOT)
			return tn_qerr(f->err, "fw: bad classid \"%s\"", c);
	}
	if (flt->classid && handle && TN_TC_H_MIN(flt->classid) != ((mark & flt->fw_mask) & 0xffffu))
		return tn_qerr(f->err, "fw: the class comes from the mark: classid must be X:%x for handle %s",
			       (mark & flt->fw_mask) & 0xffffu, handle);
	return 0;
}

static int parse_flow(struct fparse *f, struct tn_qfilter *flt, uint32_t qhandle)
{
	flt->classid = qhandle;
	for (f->i++; f->i < f->argc; f->i++) {
		const char *w = f->argv[f->i], *v;
		if (strcmp(w, "hash") == 0)
			continue;
		if (!(v = next(f, "a value")))
			return -1;
		if (strcmp(w, "keys") == 0) {
			char buf[128], *save = NULL;
			snprintf(buf, sizeof(buf), "%s", v);
			for (char *k = strtok_r(buf, ",", &save); k; k = strtok_r(NULL, ",", &save))
				if (strcmp(k, "src") && strcmp(k, "dst") && strcmp(k, "proto") && strcmp(k, "proto-src") &&
				    strcmp(k, "proto-dst"))
					return tn_qerr(f->err, "flow: key \"%s\" not supported (src, dst, proto, "
							       "proto-src, proto-dst)", k);
		} else if (strcmp(w, "divisor") == 0) {
			if (tn_tc_get_u32(v, &flt->flow_divisor) < 0 || !flt->flow_divisor || flt->flow_divisor > 0xffff)
				return tn_qerr(f->err, "flow: bad divisor \"%s\"", v);
		} else if (strcmp(w, "baseclass") == 0) {
			if (tn_tc_get_handle(v, &flt->classid) < 0 || flt->classid == TN_TC_H_ROOT)
				return tn_qerr(f->err, "flow: bad baseclass \"%s\"", v);
		} else {
			return tn_qerr(f->err, "flow: unknown word \"%s\" (hash keys, divisor, baseclass)", w);
		}
	}
	if (!flt->flow_divisor)
		return tn_qerr(f->err, "flow: divisor N is required");
	return 0;
}

static void insert_sorted(struct tn_qdisc *q, struct tn_qfilter *flt)
{
	struct tn_qfilter **pp = &q->filters;
	while (*pp && (*pp)->prio <= flt->prio)
		pp = &(*pp)->next;
	flt->next = *pp;
	*pp = flt;
}

/* Linux's tcf_auto_prio: 0xc000 for the first, then one less than the
 * highest-priority (lowest-numbered) filter. */
static uint32_t auto_prio(const struct tn_qdisc *q)
{
	if (!q->filters)
		return 0xc000;
	return q->filters->prio > 1 ? q->filters->prio - 1 : 1;
}

int tn_qfilter_add(struct tn_qdisc *q, int argc, char **argv, struct tn_qerr *err)
{
	struct tn_qfilter flt = {0};
	struct fparse f = {.argc = argc, .argv = argv, .err = err};
	const char *handle = NULL;
	for (; f.i < argc; f.i++) {
		const char *w = argv[f.i], *v;
		if (strcmp(w, "protocol") == 0) {
			if (!(v = next(&f, "a protocol")))
				return -1;
			if (strcmp(v, "ip") != 0 && strcmp(v, "all") != 0 && strcmp(v, "0x0800") != 0)
				return tn_qerr(err, "protocol \"%s\" not supported (ip, all)", v);
		} else if (strcmp(w, "prio") == 0 || strcmp(w, "pref") == 0 || strcmp(w, "priority") == 0) {
			if (!(v = next(&f, "a number")))
				return -1;
			if (tn_tc_get_u32(v, &flt.prio) < 0 || flt.prio == 0 || flt.prio > 0xffff)
				return tn_qerr(err, "Illegal \"priority\" \"%s\"", v);
		} else if (strcmp(w, "handle") == 0) {
			if (!(handle = next(&f, "a handle")))
				return -1;
		} else {
			break;
		}
	}
	if (f.i == argc)
		return tn_qerr(err, "a filter kind is required (u32, fw, flow)");
	const char *kind = argv[f.i];
	int rc;
	if (strcmp(kind, "u32") == 0) {
		flt.kind = TN_QFILTER_U32;
		rc = parse_u32(&f, &flt);
	} else if (strcmp(kind, "fw") == 0) {
		flt.kind = TN_QFILTER_FW;
		rc = parse_fw(&f, &flt, handle);
	} else if (strcmp(kind, "flow") == 0) {
		flt.kind = TN_QFILTER_FLOW;
		rc = parse_flow(&f, &flt, q->handle);
	} else {
		rc = tn_qerr(err, "unknown filter \"%s\" (u32, fw, flow)", kind);
	}
	if (rc < 0)
		return -1;
	if (flt.classid && TN_TC_H_MAJ(flt.classid) == 0)
		flt.classid |= TN_TC_H_MAJ(q->handle);
	if (!flt.prio)
		flt.prio = auto_prio(q);
	uint32_t h = 0;
	if (handle && flt.kind != TN_QFILTER_FW)
		tn_tc_get_u32(handle, &h);
	struct tn_qfilter *nf = malloc(sizeof(*nf));
	if (!nf)
		return tn_qerr(err, "out of memory");
	*nf = flt;
	nf->handle = h;
	insert_sorted(q, nf);
	return 0;
}

static int dump_one(const struct tn_qdisc *q, const struct tn_qfilter *f, char *buf, size_t cap)
{
	char cls[24];
	snprintf(cls, sizeof(cls), "%x:%x", f->classid >> 16, TN_TC_H_MIN(f->classid));
	int n = snprintf(buf, cap, "filter parent %x: protocol ip pref %u ", q->handle >> 16, f->prio);
	if (n < 0 || (size_t)n >= cap)
		return n;
	switch (f->kind) {
	case TN_QFILTER_U32:
		n += snprintf(buf + n, cap - (size_t)n, "u32 chain 0 fh 800::%x order %u key ht 800 bkt 0 flowid %s (rule hit %llu)\n",
			      f->prio, f->prio, cls, (unsigned long long)f->hits);
		for (unsigned i = 0; i < f->nkeys && (size_t)n < cap; i++)
			n += snprintf(buf + n, cap - (size_t)n, "  match %08x/%08x at %s%d\n", f->key[i].value,
				      f->key[i].mask, f->key[i].transport ? "nexthdr+" : "", f->key[i].off);
		break;
	case TN_QFILTER_FW:
		n += snprintf(buf + n, cap - (size_t)n, "fw chain 0 mask 0x%08x%s%s (hits %llu)\n", f->fw_mask,
			      f->classid ? " classid " : "", f->classid ? cls : "", (unsigned long long)f->hits);
		break;
	case TN_QFILTER_FLOW:
		n += snprintf(buf + n, cap - (size_t)n,
			      "flow chain 0 hash keys src,dst,proto,proto-src,proto-dst divisor %u baseclass %s\n",
			      f->flow_divisor, cls);
		break;
	}
	return n;
}

int tn_qfilter_dump(const struct tn_qdisc *q, char *buf, size_t cap)
{
	size_t n = 0;
	if (cap)
		buf[0] = 0;
	for (const struct tn_qfilter *f = q->filters; f && n + 1 < cap; f = f->next) {
		int k = dump_one(q, f, buf + n, cap - n);
		if (k < 0)
			break;
		n = n + (size_t)k < cap ? n + (size_t)k : cap - 1;
	}
	return (int)n;
}
