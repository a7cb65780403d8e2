/* The tc command line (iproute2's tc.c, tc_qdisc.c, tc_class.c,
 * tc_filter.c): abbreviations, the generic words, and `show` output in
 * tc's format.  What a command does to a tree is sch_tree.c's. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/stack.h"
#include "sched/sch_cls.h"
#include "sched/sch_tree.h"
#include "sched/tc_cmd.h"

/* ---- output ---- */

struct out {
	char *buf;
	size_t cap, len;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	if (o->cap == 0 || o->len + 1 >= o->cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len = o->len + (size_t)n < o->cap ? o->len + (size_t)n : o->cap - 1;
}

static int fail(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct out *o, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	put(o, "%s\n", msg);
	return -1;
}

/* iproute2's matches(): word is a non-empty prefix of full. */
static bool matches(const char *word, const char *full)
{
	size_t n = strlen(word);
	return n > 0 && n <= strlen(full) && strncmp(word, full, n) == 0;
}

static void print_handle(char *b, size_t cap, uint32_t h)
{
	if (h == TN_TC_H_ROOT)
		snprintf(b, cap, "root");
	else if (TN_TC_H_MIN(h))
		snprintf(b, cap, "%x:%x", h >> 16, TN_TC_H_MIN(h));
	else
		snprintf(b, cap, "%x:", h >> 16);
}

static void print_stats(struct out *o, const struct tn_qstats *st)
{
	char b[32];
	tn_tc_print_size(b, sizeof(b), st->backlog);
	put(o, " Sent %llu bytes %llu pkt (dropped %llu, overlimits %llu requeues %llu)\n backlog %s %up requeues %llu\n",
	    (unsigned long long)st->bytes, (unsigned long long)st->packets, (unsigned long long)st->drops,
	    (unsigned long long)st->overlimits, (unsigned long long)st->requeues, b, st->qlen,
	    (unsigned long long)st->requeues);
}

/* ---- the generic words ---- */

struct cmd {
	struct tn_tc_dev *devs;
	int ndevs;
	struct out *o;
	bool stats;
};

struct words {
	struct tn_tc_dev *dev;
	uint32_t parent, handle; /* 0: not given */
	bool has_parent;
	const char *kind;
	int kargc;
	char **kargv;
	bool root_only, invisible;
};

static int need_arg(struct cmd *c, int *i, int argc, char **argv)
{
	if (*i + 1 >= argc)
		return fail(c->o, "Command line is not complete: \"%s\" needs a value", argv[*i]);
	++*i;
	return 0;
}

static int get_dev(struct cmd *c, struct words *w, const char *name)
{
	if (w->dev)
		return fail(c->o, "Error: duplicate \"dev\": \"%s\" is the second value.", name);
	for (int k = 0; k < c->ndevs; k++)
		if (strcmp(c->devs[k].name, name) == 0) {
			w->dev = &c->devs[k];
			return 0;
		}
	return fail(c->o, "Cannot find device \"%s\"", name);
}

static int set_parent(struct cmd *c, struct words *w, const char *word, const char *val)
{
	if (w->has_parent)
		return fail(c->o, "Error: \"%s\" is duplicate parent ID", word);
	uint32_t h = TN_TC_H_ROOT;
	if (val && (tn_tc_get_handle(val, &h) < 0 || h == TN_TC_H_UNSPEC))
		return fail(c->o, "Error: argument \"%s\" is wrong: invalid parent ID", val);
	w->parent = h;
	w->has_parent = true;
	return 0;
}

static bool unsupported(const char *word)
{
	static const char *const words[] = {"ingress", "clsact", "estimator", "stab", "ingress_block",
					    "egress_block", "block", "chain"};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(word, words[i]) == 0)
			return true;
	return false;
}

/* dev/root/parent/handle (classid for classes), then the kind and its words. */
static int parse_words(struct cmd *c, int argc, char **argv, struct words *w, bool is_class)
{
	memset(w, 0, sizeof(*w));
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "dev") == 0) {
			if (need_arg(c, &i, argc, argv) < 0 || get_dev(c, w, argv[i]) < 0)
				return -1;
		} else if (strcmp(a, "root") == 0) {
			if (set_parent(c, w, a, NULL) < 0)
				return -1;
		} else if (strcmp(a, "parent") == 0) {
			if (need_arg(c, &i, argc, argv) < 0 || set_parent(c, w, a, argv[i]) < 0)
				return -1;
		} else if (strcmp(a, is_class ? "classid" : "handle") == 0) {
			if (need_arg(c, &i, argc, argv) < 0)
				return -1;
			if (w->handle)
				return fail(c->o, "Error: duplicate \"%s\": \"%s\" is the second value.", a, argv[i]);
			uint32_t h;
			if (tn_tc_get_handle(argv[i], &h) < 0 || h == TN_TC_H_ROOT || (!is_class && TN_TC_H_MIN(h)))
				return fail(c->o, "Error: argument \"%s\" is wrong: invalid %s ID", argv[i],
					    is_class ? "class" : "qdisc");
			w->handle = h;
		} else if (is_class && strcmp(a, "handle") == 0) {
			return fail(c->o, "Error: try \"classid\" instead of \"handle\"");
		} else if (unsupported(a)) {
			return fail(c->o, "\"%s\" is not supported by tern's tc", a);
		} else if (strcmp(a, "help") == 0) {
			return fail(c->o, "Usage: tc %s [ add | del | replace | change | show ] dev STRING\n"
					  "       [ handle QHANDLE ] [ root | parent CLASSID ] [ QDISC_KIND [ OPTIONS ] ]",
				    is_class ? "class" : "qdisc");
		} else {
			w->kind = a;
			w->kargc = argc - i - 1;
			w->kargv = argv + i + 1;
			break;
		}
	}
	return 0;
}

static int need_dev(struct cmd *c, const struct words *w)
{
	return w->dev ? 0 : fail(c->o, "Not enough information: \"dev\" argument is required.");
}

static int check_kind(struct cmd *c, const char *kind)
{
	if (kind && !tn_qdisc_lookup_ops(kind)) {
		size_t n;
		const struct tn_qdisc_ops *const *all = tn_qdisc_all_ops(&n);
		char known[160] = "";
		for (size_t i = 0; i < n; i++)
			snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s", i ? " " : "", all[i]->kind);
		return fail(c->o, "unknown qdisc \"%s\" (known: %s)", kind, known);
	}
	return 0;
}

static int tree_result(struct cmd *c, struct tn_tc_dev *d, int rc, const struct tn_qerr *err)
{
	if (rc < 0)
		return fail(c->o, "Error: %s", err->msg[0] ? err->msg : "invalid arguments");
	d->changed = true;
	return 0;
}

/* ---- qdisc ---- */

struct show_ctx {
	struct cmd *c;
	struct tn_tc_dev *dev;
	bool with_dev, root_only, invisible;
	uint32_t parent, classid;
	bool has_parent;
};

static void show_qdisc_fn(void *ctx, struct tn_qdisc *q, struct tn_qdisc *owner, uint32_t classid, int depth)
{
	struct show_ctx *s = ctx;
	struct out *o = s->c->o;
	if (s->root_only && owner)
		return;
	if (owner && q->handle == 0 && !s->invisible) /* defaults under classes are invisible, as in Linux */
		return;
	char opts[512] = "", par[24];
	if (q->ops->dump && q->ops->dump(q, opts, sizeof(opts)) < 0)
		opts[0] = 0;
	put(o, "qdisc %s %x: ", q->ops->kind, q->handle >> 16);
	if (s->with_dev)
		put(o, "dev %s ", s->dev->name);
	if (!owner) {
		put(o, "root refcnt 2 ");
	} else {
		print_handle(par, sizeof(par), classid);
		put(o, "parent %s ", par);
	}
	put(o, "%s\n", opts);
	if (s->c->stats) {
		print_stats(o, &q->stats);
		char xs[256];
		if (q->ops->dump_xstats && q->ops->dump_xstats(q, xs, sizeof(xs)) > 0)
			for (char *sv, *line = strtok_r(xs, "\n", &sv); line; line = strtok_r(NULL, "\n", &sv))
				put(o, "  %s\n", line); /* tc indents each line of them */
	}
	(void)depth;
}

/* Walk every device's tree (or only `only`'s) with fn; ctx is fn's, s the
 * show context fn reads the device from. */
static void show_each_dev(struct cmd *c, struct show_ctx *s, const struct tn_tc_dev *only,
			  void (*fn)(void *, struct tn_qdisc *, struct tn_qdisc *, uint32_t, int), void *ctx)
{
	for (int k = 0; k < c->ndevs; k++) {
		if (only && only != &c->devs[k])
			continue;
		s->dev = &c->devs[k];
		s->with_dev = !only;
		tn_qtree_walk(s->dev->env, fn, ctx);
	}
}

static int qdisc_show(struct cmd *c, int argc, char **argv)
{
	struct show_ctx s = {.c = c};
	struct tn_tc_dev *only = NULL;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "dev") == 0) {
			struct words w = {0};
			if (need_arg(c, &i, argc, argv) < 0 || get_dev(c, &w, argv[i]) < 0)
				return -1;
			only = w.dev;
		} else if (strcmp(argv[i], "root") == 0) {
			s.root_only = true;
		} else if (strcmp(argv[i], "invisible") == 0) {
			s.invisible = true;
		} else {
			return fail(c->o, "What is \"%s\"? Usage: tc qdisc show [ dev STRING ] [ root ] [ invisible ]",
				    argv[i]);
		}
	}
	show_each_dev(c, &s, only, show_qdisc_fn, &s);
	return 0;
}

static int qdisc_cmd(struct cmd *c, int argc, char **argv)
{
	if (argc == 0)
		return qdisc_show(c, 0, NULL);
	const char *op = argv[0];
	unsigned flags;
	if (matches(op, "add"))
		flags = TN_QTREE_CREATE | TN_QTREE_EXCL;
	else if (matches(op, "change"))
		flags = 0;
	else if (matches(op, "replace"))
		flags = TN_QTREE_CREATE | TN_QTREE_REPLACE;
	else if (matches(op, "link"))
		flags = TN_QTREE_REPLACE;
	else if (matches(op, "delete"))
		flags = ~0u;
	else if (matches(op, "show") || matches(op, "list") || matches(op, "lst"))
		return qdisc_show(c, argc - 1, argv + 1);
	else
		return fail(c->o, "Command \"%s\" is unknown, try \"tc qdisc help\".", op);
	struct words w;
	if (parse_words(c, argc - 1, argv + 1, &w, false) < 0 || need_dev(c, &w) < 0 || check_kind(c, w.kind) < 0)
		return -1;
	struct tn_qerr err = {{0}};
	struct tn_qenv *env = w.dev->env;
	int rc;
	if (flags == ~0u) {
		if (w.kargc > 0)
			return fail(c->o, "Error: qdisc del takes no options (\"%s\")", w.kargv[0]);
		rc = tn_qtree_delete(env, w.parent, w.handle, w.kind, &err, &w.dev->dropped);
	} else {
		rc = tn_qtree_modify(env, flags, w.parent, w.handle, w.kind, w.kargc, w.kargv, &err, &w.dev->dropped);
	}
	return tree_result(c, w.dev, rc, &err);
}

/* ---- class ---- */

struct class_show {
	struct show_ctx *s;
	struct tn_qdisc *q;
};

static void show_class_fn(void *ctx, uint32_t classid, uint32_t parent, struct tn_qdisc *leaf)
{
	struct class_show *cs = ctx;
	struct show_ctx *s = cs->s;
	struct out *o = s->c->o;
	if (s->has_parent && parent != s->parent)
		return;
	if (s->classid && classid != s->classid)
		return;
	char id[24], par[24], opts[512] = "";
	struct tn_qstats st = {0};
	if (cs->q->ops->cl->dump && cs->q->ops->cl->dump(cs->q, classid, opts, sizeof(opts), &st) < 0)
		opts[0] = 0;
	print_handle(id, sizeof(id), classid);
	put(o, "class %s %s ", cs->q->ops->kind, id);
	if (s->with_dev)
		put(o, "dev %s ", s->dev->name);
	if (parent == TN_TC_H_ROOT || parent == 0 || parent == cs->q->handle) {
		put(o, "root ");
	} else {
		print_handle(par, sizeof(par), parent);
		put(o, "parent %s ", par);
	}
	if (leaf && leaf->handle)
		put(o, "leaf %x: ", leaf->handle >> 16);
	put(o, "%s\n", opts);
	if (s->c->stats)
		print_stats(o, &st);
}

static void show_classes_of(void *ctx, struct tn_qdisc *q, struct tn_qdisc *owner, uint32_t classid, int depth)
{
	(void)owner;
	(void)classid;
	(void)depth;
	if (!q->ops->cl || !q->ops->cl->walk)
		return;
	struct class_show cs = {.s = ctx, .q = q};
	q->ops->cl->walk(q, show_class_fn, &cs);
}

static int class_show(struct cmd *c, int argc, char **argv)
{
	struct show_ctx s = {.c = c};
	struct tn_tc_dev *only = NULL;
	for (int i = 0; i < argc; i++) {
		uint32_t h;
		struct words w = {0};
		if (strcmp(argv[i], "dev") == 0) {
			if (need_arg(c, &i, argc, argv) < 0 || get_dev(c, &w, argv[i]) < 0)
				return -1;
			only = w.dev;
		} else if (strcmp(argv[i], "parent") == 0 || strcmp(argv[i], "classid") == 0) {
			bool is_parent = argv[i][0] == 'p';
			if (need_arg(c, &i, argc, argv) < 0)
				return -1;
			if (tn_tc_get_handle(argv[i], &h) < 0)
				return fail(c->o, "Error: argument \"%s\" is wrong: invalid class ID", argv[i]);
			if (is_parent) {
				s.parent = h;
				s.has_parent = true;
			} else {
				s.classid = h;
			}
		} else if (strcmp(argv[i], "root") == 0) {
			s.parent = TN_TC_H_ROOT;
			s.has_parent = true;
		} else {
			return fail(c->o, "What is \"%s\"? Usage: tc class show [ dev STRING ] [ root | parent CLASSID ]",
				    argv[i]);
		}
	}
	show_each_dev(c, &s, only, show_classes_of, &s);
	return 0;
}

static int class_cmd(struct cmd *c, int argc, char **argv)
{
	if (argc == 0)
		return class_show(c, 0, NULL);
	const char *op = argv[0];
	unsigned flags;
	if (matches(op, "add"))
		flags = TN_QTREE_CREATE | TN_QTREE_EXCL;
	else if (matches(op, "change"))
		flags = 0;
	else if (matches(op, "replace"))
		flags = TN_QTREE_CREATE;
	else if (matches(op, "delete"))
		flags = ~0u;
	else if (matches(op, "show") || matches(op, "list") || matches(op, "lst"))
		return class_show(c, argc - 1, argv + 1);
	else
		return fail(c->o, "Command \"%s\" is unknown, try \"tc class help\".", op);
	struct words w;
	/* the kind is checked against the class's qdisc */
	if (parse_words(c, argc - 1, argv + 1, &w, true) < 0 || need_dev(c, &w) < 0)
		return -1;
	struct tn_qerr err = {{0}};
	int rc;
	if (flags == ~0u) {
		if (w.kargc > 0)
			return fail(c->o, "Error: class del takes no options (\"%s\")", w.kargv[0]);
		rc = tn_qtree_class_delete(w.dev->env, w.parent, w.handle, &err, &w.dev->dropped);
	} else {
		rc = tn_qtree_class_modify(w.dev->env, flags, w.parent, w.handle, w.kind, w.kargc, w.kargv, &err);
	}
	return tree_result(c, w.dev, rc, &err);
}

/* ---- filter ---- */

/* dev, root and parent are tc's; everything else is the filter's words
 * (protocol, prio, handle, the kind and its matches). */
static int filter_words(struct cmd *c, int argc, char **argv, struct words *w, char **rest, int *nrest)
{
	memset(w, 0, sizeof(*w));
	*nrest = 0;
	bool in_kind = false;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!in_kind && strcmp(a, "dev") == 0) {
			if (need_arg(c, &i, argc, argv) < 0 || get_dev(c, w, argv[i]) < 0)
				return -1;
			continue;
		}
		if (!in_kind && (strcmp(a, "root") == 0 || strcmp(a, "parent") == 0)) {
			if (a[0] == 'p' && need_arg(c, &i, argc, argv) < 0)
				return -1;
			if (set_parent(c, w, a, a[0] == 'p' ? argv[i] : NULL) < 0)
				return -1;
			continue;
		}
		if (!in_kind && (strcmp(a, "ingress") == 0 || strcmp(a, "egress") == 0 || strcmp(a, "block") == 0 ||
				 strcmp(a, "chain") == 0 || strcmp(a, "estimator") == 0))
			return fail(c->o, "\"%s\" is not supported by tern's tc", a);
		static const char *const generic[] = {"protocol", "prio", "pref", "priority", "handle"};
		bool gen = false;
		for (size_t k = 0; !in_kind && k < sizeof(generic) / sizeof(generic[0]); k++)
			gen |= strcmp(a, generic[k]) == 0;
		rest[(*nrest)++] = argv[i];
		if (gen) {
			if (need_arg(c, &i, argc, argv) < 0)
				return -1;
			rest[(*nrest)++] = argv[i];
		} else {
			in_kind = true;
		}
	}
	return 0;
}

struct filter_show {
	struct show_ctx *s;
	char *buf;
	size_t cap;
};

static void show_filters_fn(void *ctx, struct tn_qdisc *q, struct tn_qdisc *owner, uint32_t classid, int depth)
{
	(void)owner;
	(void)classid;
	(void)depth;
	struct filter_show *f = ctx;
	if (!q->filters || (f->s->has_parent && TN_TC_H_MAJ(f->s->parent) != q->handle &&
			    !(f->s->parent == TN_TC_H_ROOT && !owner)))
		return;
	f->buf[0] = 0;
	if (tn_qfilter_dump(q, f->buf, f->cap) > 0)
		put(f->s->c->o, "%s%s", f->buf, f->buf[strlen(f->buf) - 1] == '\n' ? "" : "\n");
}

static int filter_show(struct cmd *c, int argc, char **argv)
{
	struct words w;
	char *rest[64];
	int nrest;
	if (argc > 64 || filter_words(c, argc, argv, &w, rest, &nrest) < 0)
		return argc > 64 ? fail(c->o, "too many words") : -1;
	if (nrest > 0)
		return fail(c->o, "What is \"%s\"? Usage: tc filter show [ dev STRING ] [ root | parent CLASSID ]",
			    rest[0]);
	struct show_ctx s = {.c = c, .parent = w.parent, .has_parent = w.has_parent};
	char buf[4096];
	struct filter_show f = {.s = &s, .buf = buf, .cap = sizeof(buf)};
	show_each_dev(c, &s, w.dev, show_filters_fn, &f);
	return 0;
}

static int filter_cmd(struct cmd *c, int argc, char **argv)
{
	if (argc == 0)
		return filter_show(c, 0, NULL);
	const char *op = argv[0];
	bool add;
	if (matches(op, "add"))
		add = true;
	else if (matches(op, "change"))
		return fail(c->o, "filter change is not supported: delete by prio and add again");
	else if (matches(op, "replace"))
		add = true;
	else if (matches(op, "delete"))
		add = false;
	else if (matches(op, "show") || matches(op, "list") || matches(op, "lst"))
		return filter_show(c, argc - 1, argv + 1);
	else
		return fail(c->o, "Command \"%s\" is unknown, try \"tc filter help\".", op);
	struct words w;
	char *rest[128];
	int nrest;
	if (argc - 1 > 128)
		return fail(c->o, "too many words");
	if (filter_words(c, argc - 1, argv + 1, &w, rest, &nrest) < 0 || need_dev(c, &w) < 0)
		return -1;
	struct tn_qerr err = {{0}};
	struct tn_qdisc *q = tn_qtree_filter_owner(w.dev->env, w.parent, &err);
	if (!q)
		return fail(c->o, "Error: %s", err.msg);
	if (add)
		return tree_result(c, w.dev, tn_qfilter_add(q, nrest, rest, &err), &err);
	uint32_t prio = 0;
	for (int i = 0; i < nrest; i++) {
		if ((strcmp(rest[i], "prio") == 0 || strcmp(rest[i], "pref") == 0 || strcmp(rest[i], "priority") == 0) &&
		    i + 1 < nrest) {
			if (tn_tc_get_u32(rest[++i], &prio) < 0 || prio == 0 || prio > 0xffff)
				return fail(c->o, "Error: argument \"%s\" is wrong: invalid priority", rest[i]);
		} else if (strcmp(rest[i], "protocol") == 0 && i + 1 < nrest) {
			i++;
		} else {
			return fail(c->o, "Error: filter del takes prio N (and protocol P), not \"%s\"", rest[i]);
		}
	}
	if (prio) {
		bool any = false;
		for (struct tn_qfilter *f = q->filters; f; f = f->next)
			any |= f->prio == prio;
		if (!any)
			return fail(c->o, "Error: Filter with specified priority/protocol not found.");
	}
	tn_qfilter_del(q, prio);
	w.dev->changed = true;
	return 0;
}

/* ---- the command ---- */

static int usage(struct cmd *c)
{
	return fail(c->o, "Usage: tc [ OPTIONS ] OBJECT { COMMAND | help }\n"
			  "where  OBJECT := { qdisc | class | filter }\n"
			  "       OPTIONS := { -s[tatistics] | -d[etails] | -p[retty] }");
}

int tn_tc_exec(struct tn_tc_dev *devs, int ndevs, int argc, char **argv, char *out, size_t cap)
{
	struct out o = {.buf = out, .cap = cap};
	if (cap)
		out[0] = 0;
	struct cmd c = {.devs = devs, .ndevs = ndevs, .o = &o};
	int i = 0;
	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		const char *opt = argv[i][1] == '-' ? argv[i] + 1 : argv[i];
		if (matches(opt, "-stats") || matches(opt, "-statistics"))
			c.stats = true;
		else if (matches(opt, "-details") || matches(opt, "-pretty") || matches(opt, "-raw") ||
			 matches(opt, "-iec"))
			continue;
		else if (matches(opt, "-help"))
			return usage(&c);
		else
			return fail(&o, "Option \"%s\" is unknown, try \"tc -help\".", argv[i]);
	}
	if (i == argc)
		return usage(&c);
	const char *obj = argv[i++];
	if (matches(obj, "qdisc"))
		return qdisc_cmd(&c, argc - i, argv + i);
	if (matches(obj, "class"))
		return class_cmd(&c, argc - i, argv + i);
	if (matches(obj, "filter"))
		return filter_cmd(&c, argc - i, argv + i);
	if (matches(obj, "help"))
		return usage(&c);
	return fail(&o, "Object \"%s\" is unknown, try \"tc help\".", obj);
}

int tn_tc_split(char *line, char **argv, int max)
{
	int n = 0;
	char *p = line;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (!*p || *p == '#')
			break;
		if (n == max)
			return -1;
		if (*p == '"') {
			argv[n++] = ++p;
			while (*p && *p != '"')
				p++;
		} else {
			argv[n++] = p;
			while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
				p++;
		}
		if (!*p)
			break;
		*p++ = 0;
	}
	return n;
}

#define TC_MAX_WORDS 128
#define TC_MAX_LINE 4096

int tn_tc_batch(struct tn_tc_dev *devs, int ndevs, const char *text, char *out, size_t cap)
{
	char dummy[1];
	if (!cap) {
		out = dummy;
		cap = sizeof(dummy);
	}
	struct out o = {.buf = out, .cap = cap};
	if (cap)
		out[0] = 0;
	int lineno = 0;
	char line[TC_MAX_LINE];
	char *argv[TC_MAX_WORDS];
	while (*text) {
		const char *nl = strchr(text, '\n');
		size_t n = nl ? (size_t)(nl - text) : strlen(text);
		lineno++;
		if (n >= sizeof(line)) {
			put(&o, "line %d: longer than %d bytes\nCommand failed line %d\n", lineno, TC_MAX_LINE, lineno);
			return lineno;
		}
		memcpy(line, text, n);
		line[n] = 0;
		text += nl ? n + 1 : n;
		int argc = tn_tc_split(line, argv, TC_MAX_WORDS);
		if (argc < 0) {
			put(&o, "line %d: more than %d words\nCommand failed line %d\n", lineno, TC_MAX_WORDS, lineno);
			return lineno;
		}
		int first = argc > 0 && strcmp(argv[0], "tc") == 0;
		if (argc - first == 0)
			continue;
		if (tn_tc_exec(devs, ndevs, argc - first, argv + first, o.buf + o.len, o.cap - o.len) < 0) {
			o.len += strlen(o.buf + o.len);
			put(&o, "Command failed line %d\n", lineno);
			return lineno;
		}
		o.len += strlen(o.buf + o.len);
	}
	return 0;
}

/* ---- on a stack ---- */

static int stack_devs(struct tn_stack *s, struct tn_tc_dev *devs)
{
	int n = 0;
	for (int i = 1; i <= TN_MAX_IFACES; i++) {
		struct tn_iface *ifc = &s->ifaces[i];
		if (!ifc->dev)
			continue;
		ifc->sched.now = s->now;
		devs[n++] = (struct tn_tc_dev){.name = ifc->dev->name, .env = &ifc->sched};
	}
	return n;
}

/* A changed tree runs at the next poll; packets it lost count as the
 * device's queue drops. */
static void stack_after(struct tn_stack *s, struct tn_tc_dev *devs, int n)
{
	for (int k = 0; k < n; k++) {
		if (!devs[k].changed)
			continue;
		int idx = tern_dev_index(s, devs[k].name);
		struct tn_iface *ifc = &s->ifaces[idx];
		ifc->sched_dirty = true;
		ifc->tx_queue_drops += devs[k].dropped;
		tn_stat_add(s, TN_TernExtTxQueueDrops, devs[k].dropped);
	}
}

int tern_tc(struct tn_stack *s, int argc, char **argv, char *out, size_t cap)
{
	struct tn_tc_dev devs[TN_MAX_IFACES];
	int n = stack_devs(s, devs);
	int rc = tn_tc_exec(devs, n, argc, argv, out, cap);
	stack_after(s, devs, n);
	return rc;
}

int tern_tc_batch(struct tn_stack *s, const char *text, char *out, size_t cap)
{
	struct tn_tc_dev devs[TN_MAX_IFACES];
	int n = stack_devs(s, devs);
	int rc = tn_tc_batch(devs, n, text, out, cap);
	stack_after(s, devs, n);
	return rc;
}
