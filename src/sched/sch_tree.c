/* A device's qdisc tree: lookups and the add/change/replace/delete rules
 * of Linux's tc_modify_qdisc, tc_get_qdisc and tc_ctl_tclass (see
 * sch_tree.h). */
#include <string.h>

#include "sched/sch_tree.h"

/* ---- walking ---- */

struct walk {
	tn_qtree_fn fn;
	void *ctx;
	struct tn_qdisc *owner;
	int depth;
};

static void visit(struct walk *w, struct tn_qdisc *q, struct tn_qdisc *owner, uint32_t classid, int depth);

static void visit_class(void *ctx, uint32_t classid, uint32_t parent, struct tn_qdisc *leaf)
{
	(void)parent;
	struct walk *w = ctx;
	if (leaf && w->depth < TN_QTREE_MAX_DEPTH)
		visit(w, leaf, w->owner, classid, w->depth + 1);
}

static void visit(struct walk *w, struct tn_qdisc *q, struct tn_qdisc *owner, uint32_t classid, int depth)
{
	w->fn(w->ctx, q, owner, classid, depth);
	if (!q->ops->cl || !q->ops->cl->walk)
		return;
	struct walk sub = {.fn = w->fn, .ctx = w->ctx, .owner = q, .depth = depth};
	q->ops->cl->walk(q, visit_class, &sub);
}

void tn_qtree_walk(struct tn_qenv *env, tn_qtree_fn fn, void *ctx)
{
	struct walk w = {.fn = fn, .ctx = ctx};
	if (env->root)
		visit(&w, env->root, NULL, TN_TC_H_ROOT, 0);
}

struct find {
	uint32_t handle;
	struct tn_qdisc *q, *owner;
	uint32_t classid;
	int depth;
};

static void find_fn(void *ctx, struct tn_qdisc *q, struct tn_qdisc *owner, uint32_t classid, int depth)
{
	struct find *f = ctx;
	if (!f->q && q->handle && TN_TC_H_MAJ(q->handle) == f->handle) {
		f->q = q;
		f->owner = owner;
		f->classid = classid;
		f->depth = depth;
	}
}

static bool find_full(struct tn_qenv *env, uint32_t handle, struct find *f)
{
	*f = (struct find){.handle = TN_TC_H_MAJ(handle)};
	if (f->handle)
		tn_qtree_walk(env, find_fn, f);
	return f->q != NULL;
}

struct tn_qdisc *tn_qtree_find(struct tn_qenv *env, uint32_t handle)
{
	struct find f;
	return find_full(env, handle, &f) ? f.q : NULL;
}

/* The depth of a qdisc, or -1 if it is not in the tree. */
static int depth_of(struct tn_qenv *env, const struct tn_qdisc *q)
{
	if (q == env->root)
		return 0;
	struct find f;
	return q->handle && find_full(env, q->handle, &f) && f.q == q ? f.depth : -1;
}

struct class_find {
	uint32_t classid, parent;
	bool found;
};

static void class_find_fn(void *ctx, uint32_t classid, uint32_t parent, struct tn_qdisc *leaf)
{
	(void)leaf;
	struct class_find *c = ctx;
	if (!c->found && classid == c->classid) {
		c->found = true;
		c->parent = parent;
	}
}

bool tn_qtree_class_exists(struct tn_qdisc *q, uint32_t classid, uint32_t *parent)
{
	if (!q->ops->cl || !q->ops->cl->walk)
		return false;
	struct class_find c = {.classid = classid};
	q->ops->cl->walk(q, class_find_fn, &c);
	if (c.found && parent)
		*parent = c.parent;
	return c.found;
}

uint32_t tn_qtree_alloc_handle(struct tn_qenv *env)
{
	for (uint32_t maj = 0x8000; maj < 0xffff; maj++) /* ffff: is ingress's */
		if (!tn_qtree_find(env, TN_TC_H(maj, 0)))
			return TN_TC_H(maj, 0);
	return 0;
}

void tn_qtree_reduce_backlog(struct tn_qenv *env, const struct tn_qdisc *child, uint32_t n, uint32_t len)
{
	uint32_t parent = child->parent;
	/* each step goes one level up; the depth bound makes a loop harmless */
	for (int i = 0; i <= TN_QTREE_MAX_DEPTH && parent != TN_TC_H_ROOT && parent; i++) {
		struct tn_qdisc *p = tn_qtree_find(env, parent);
		if (!p)
			break;
		p->stats.qlen -= n < p->stats.qlen ? n : p->stats.qlen;
		p->stats.backlog -= len < p->stats.backlog ? len : p->stats.backlog;
		p->stats.drops += n;
		parent = p->parent;
	}
}

/* ---- grafting ---- */

/* Packets of an old root go into the new one; what cannot leave the old
 * one now (held back by a rate or a delay) or is refused is dropped and
 * counted as the new root's drops. */
static uint32_t move_packets(struct tn_qdisc *from, struct tn_qdisc *to)
{
	uint32_t dropped = 0;
	uint64_t drops0 = to->stats.drops;
	struct tn_pkt *p;
	uint32_t guard = from->stats.qlen + 1;
	while (guard-- && (p = tn_qdisc_dequeue(from)) != NULL)
		tn_qdisc_enqueue(to, p);
	dropped += (uint32_t)(to->stats.drops - drops0);
	if (from->stats.qlen) {
		dropped += from->stats.qlen;
		to->stats.drops += from->stats.qlen;
	}
	return dropped;
}

/* Put `child` (NULL: the default) where the qdisc at (p, classid) is and
 * destroy the old one.  Consumes child, also on failure. */
static int graft(struct tn_qenv *env, struct tn_qdisc *p, uint32_t classid, struct tn_qdisc *child,
		 struct tn_qerr *err, uint32_t *dropped)
{
	uint32_t lost = 0;
	if (!p) {
		if (!child)
			child = tn_qdisc_default(env, TN_TC_H_ROOT, true);
		if (!child)
			return tn_qerr(err, "out of memory");
		struct tn_qdisc *old = env->root;
		env->root = child;
		if (old) {
			lost = move_packets(old, child);
			tn_qdisc_destroy(old);
		}
	} else {
		struct tn_qdisc *old = NULL;
		if (!p->ops->cl->graft || p->ops->cl->graft(p, classid, child, &old) < 0) {
			tn_qdisc_destroy(child);
			return tn_qerr(err, "qdisc %s %x: cannot take a child qdisc at class %x:%x", p->ops->kind,
				       TN_TC_H_MAJ(p->handle) >> 16, TN_TC_H_MAJ(classid) >> 16, TN_TC_H_MIN(classid));
		}
		if (old) {
			lost = old->stats.qlen;
			tn_qtree_reduce_backlog(env, old, old->stats.qlen, old->stats.backlog);
			tn_qdisc_destroy(old);
		}
	}
	if (dropped)
		*dropped += lost;
	/* a qdisc that took packets over must be run; any old wake-up is stale */
	env->wake_at = env->now;
	return 0;
}

/* The qdisc at position parent (root or a class): its owner in *p. */
static int position(struct tn_qenv *env, uint32_t parent, struct tn_qdisc **p, struct tn_qdisc **q,
		    struct tn_qerr *err)
{
	*p = NULL;
	if (parent == TN_TC_H_ROOT) {
		*q = env->root;
		return 0;
	}
	*p = tn_qtree_find(env, parent);
	if (!*p)
		return tn_qerr(err, "Failed to find specified qdisc (parent %x:%x: no qdisc %x:)",
			       TN_TC_H_MAJ(parent) >> 16, TN_TC_H_MIN(parent), TN_TC_H_MAJ(parent) >> 16);
	if (!(*p)->ops->cl)
		return tn_qerr(err, "Parent qdisc is not classful (%s %x:)", (*p)->ops->kind,
			       TN_TC_H_MAJ(parent) >> 16);
	if (!TN_TC_H_MIN(parent) || !tn_qtree_class_exists(*p, parent, NULL))
		return tn_qerr(err, "Specified class not found (%x:%x)", TN_TC_H_MAJ(parent) >> 16,
			       TN_TC_H_MIN(parent));
	*q = (*p)->ops->cl->leaf ? (*p)->ops->cl->leaf(*p, parent) : NULL;
	return 0;
}

static int create_n_graft(struct tn_qenv *env, unsigned flags, struct tn_qdisc *p, uint32_t parent,
			  uint32_t handle, const char *kind, int argc, char **argv, struct tn_qerr *err,
			  uint32_t *dropped)
{
	if (!(flags & TN_QTREE_CREATE))
		return tn_qerr(err, "Qdisc not found. To create specify NLM_F_CREATE flag (use add or replace)");
	if (!kind)
		return tn_qerr(err, "a qdisc kind is required (pfifo, tbf, htb, ...)");
	if (p && depth_of(env, p) + 1 > TN_QTREE_MAX_DEPTH)
		return tn_qerr(err, "qdiscs nest at most %d deep", TN_QTREE_MAX_DEPTH);
	if (!handle && !(handle = tn_qtree_alloc_handle(env)))
		return tn_qerr(err, "Unable to allocate handle");
	struct tn_qdisc *q = tn_qdisc_create(env, kind, handle, parent, argc, argv, err);
	if (!q)
		return -1;
	return graft(env, p, parent, q, err, dropped);
}

static int change(struct tn_qdisc *q, unsigned flags, const char *kind, int argc, char **argv,
		  struct tn_qerr *err)
{
	if (!q)
		return tn_qerr(err, "Specified qdisc not found");
	if (flags & TN_QTREE_EXCL)
		return tn_qerr(err, "Exclusivity flag on, cannot modify (a %s %x: is already there)", q->ops->kind,
			       TN_TC_H_MAJ(q->handle) >> 16);
	if (kind && strcmp(kind, q->ops->kind) != 0)
		return tn_qerr(err, "Invalid qdisc name (\"%s\", but %x: is %s)", kind, TN_TC_H_MAJ(q->handle) >> 16,
			       q->ops->kind);
	if (!q->ops->change)
		return tn_qerr(err, "Change operation not supported by specified qdisc (%s)", q->ops->kind);
	return q->ops->change(q, argc, argv, err);
}

int tn_qtree_modify(struct tn_qenv *env, unsigned flags, uint32_t parent, uint32_t handle, const char *kind,
		    int argc, char **argv, struct tn_qerr *err, uint32_t *dropped)
{
	struct tn_qdisc *p = NULL, *q = NULL;
	if (TN_TC_H_MIN(handle))
		return tn_qerr(err, "Invalid minor handle (a qdisc handle is major:, e.g. 1:)");
	if (handle == TN_TC_H(0xffff, 0))
		return tn_qerr(err, "handle ffff: is reserved for ingress");
	if (!parent) {
		if (!handle)
			return tn_qerr(err, "Handle cannot be zero (give root, parent X:Y or handle X:)");
		return change(tn_qtree_find(env, handle), flags, kind, argc, argv, err);
	}
	if (position(env, parent, &p, &q, err) < 0)
		return -1;
	if (q && q->handle == 0) /* the default qdisc is there: anything may take its place */
		q = NULL;
	if (!q || !handle || q->handle != handle) {
		if (handle) {
			if (q && !(flags & TN_QTREE_REPLACE))
				return tn_qerr(err, "NLM_F_REPLACE needed to override (%s %x: is there; use replace)",
					       q->ops->kind, TN_TC_H_MAJ(q->handle) >> 16);
			struct tn_qdisc *other = tn_qtree_find(env, handle);
			if (!other)
				return create_n_graft(env, flags, p, parent, handle, kind, argc, argv, err, dropped);
			if (flags & TN_QTREE_EXCL)
				return tn_qerr(err, "Exclusivity flag on, cannot override (handle %x: is in use)",
					       handle >> 16);
			return tn_qerr(err, "handle %x: is in use elsewhere in the tree (moving a qdisc is not supported)",
				       handle >> 16);
		}
		if (!q)
			return create_n_graft(env, flags, p, parent, handle, kind, argc, argv, err, dropped);
		/* Linux's "magic test": replace with another kind grafts a new one */
		if ((flags & TN_QTREE_CREATE) && (flags & TN_QTREE_REPLACE) &&
		    ((flags & TN_QTREE_EXCL) || (kind && strcmp(kind, q->ops->kind) != 0)))
			return create_n_graft(env, flags, p, parent, handle, kind, argc, argv, err, dropped);
	}
	return change(q, flags, kind, argc, argv, err);
}

int tn_qtree_delete(struct tn_qenv *env, uint32_t parent, uint32_t handle, const char *kind,
		    struct tn_qerr *err, uint32_t *dropped)
{
	struct tn_qdisc *p = NULL, *q = NULL;
	if (!parent) {
		struct find f;
		if (!handle)
			return tn_qerr(err, "Classid cannot be zero (give root, parent X:Y or handle X:)");
		if (!find_full(env, handle, &f))
			return tn_qerr(err, "Failed to find qdisc with specified handle (%x:)", TN_TC_H_MAJ(handle) >> 16);
		p = f.owner;
		q = f.q;
		parent = f.classid;
	} else if (position(env, parent, &p, &q, err) < 0) {
		return -1;
	}
	if (!q)
		return tn_qerr(err, "Cannot find specified qdisc on specified device");
	if (handle && q->handle != TN_TC_H_MAJ(handle))
		return tn_qerr(err, "Invalid handle (%x: is not there; %x: is)", TN_TC_H_MAJ(handle) >> 16,
			       q->handle >> 16);
	if (kind && strcmp(kind, q->ops->kind) != 0)
		return tn_qerr(err, "Invalid qdisc name (\"%s\", but the qdisc is %s)", kind, q->ops->kind);
	if (q->handle == 0)
		return tn_qerr(err, "Cannot delete qdisc with handle of zero");
	return graft(env, p, parent, NULL, err, dropped);
}

/* ---- classes ---- */

/* tc_ctl_tclass's step 1: the qdisc the class belongs to. */
static struct tn_qdisc *class_qdisc(struct tn_qenv *env, uint32_t *parent, uint32_t *classid, struct tn_qerr *err)
{
	uint32_t qid = TN_TC_H_MAJ(*classid);
	if (*parent != TN_TC_H_ROOT) {
		uint32_t qid1 = TN_TC_H_MAJ(*parent);
		if (qid && qid1 && qid != qid1) {
			tn_qerr(err, "classid %x:%x and parent %x:%x name different qdiscs", qid >> 16,
				TN_TC_H_MIN(*classid), qid1 >> 16, TN_TC_H_MIN(*parent));
			return NULL;
		}
		if (qid1)
			qid = qid1;
		else if (!qid)
			qid = env->root->handle;
		if (*parent)
			*parent = qid | TN_TC_H_MIN(*parent);
	} else if (!qid) {
		qid = env->root->handle;
	}
	struct tn_qdisc *q = tn_qtree_find(env, qid);
	if (!q) {
		tn_qerr(err, "Specified qdisc not found (no qdisc %x:)", qid >> 16);
		return NULL;
	}
	if (!q->ops->cl) {
		tn_qerr(err, "Qdisc not classful (%s %x:)", q->ops->kind, qid >> 16);
		return NULL;
	}
	if (*classid)
		*classid = qid | TN_TC_H_MIN(*classid);
	else if (*parent == TN_TC_H_ROOT)
		*classid = qid;
	return q;
}

int tn_qtree_class_modify(struct tn_qenv *env, unsigned flags, uint32_t parent, uint32_t classid,
			  const char *kind, int argc, char **argv, struct tn_qerr *err)
{
	struct tn_qdisc *q = class_qdisc(env, &parent, &classid, err);
	if (!q)
		return -1;
	if (kind && strcmp(kind, q->ops->kind) != 0)
		return tn_qerr(err, "class kind \"%s\" does not match its qdisc (%s %x:)", kind, q->ops->kind,
			       q->handle >> 16);
	if (!TN_TC_H_MIN(classid))
		return tn_qerr(err, "a classid X:Y is required");
	uint32_t cur_parent = 0;
	if (!tn_qtree_class_exists(q, classid, &cur_parent)) {
		if (!(flags & TN_QTREE_CREATE))
			return tn_qerr(err, "Specified class not found (%x:%x)", classid >> 16, TN_TC_H_MIN(classid));
		cur_parent = q->handle;
	} else if (flags & TN_QTREE_EXCL) {
		return tn_qerr(err, "class %x:%x already exists (use change or replace)", classid >> 16,
			       TN_TC_H_MIN(classid));
	}
	if (!q->ops->cl->change)
		return tn_qerr(err, "%s's classes are fixed: they cannot be added or changed", q->ops->kind);
	if (!parent || parent == TN_TC_H_ROOT)
		parent = parent == TN_TC_H_ROOT ? q->handle : cur_parent;
	return q->ops->cl->change(q, classid, parent, argc, argv, err);
}

int tn_qtree_class_delete(struct tn_qenv *env, uint32_t parent, uint32_t classid, struct tn_qerr *err,
			  uint32_t *dropped)
{
	struct tn_qdisc *q = class_qdisc(env, &parent, &classid, err);
	if (!q)
		return -1;
	if (!TN_TC_H_MIN(classid) || !tn_qtree_class_exists(q, classid, NULL))
		return tn_qerr(err, "Specified class not found (%x:%x)", classid >> 16, TN_TC_H_MIN(classid));
	if (!q->ops->cl->remove)
		return tn_qerr(err, "%s's classes are fixed: they cannot be deleted", q->ops->kind);
	struct tn_qdisc *leaf = q->ops->cl->leaf ? q->ops->cl->leaf(q, classid) : NULL;
	uint32_t n = leaf ? leaf->stats.qlen : 0, len = leaf ? leaf->stats.backlog : 0;
	uint32_t leaf_parent = leaf ? leaf->parent : 0;
	if (q->ops->cl->remove(q, classid, err) < 0)
		return -1;
	if (n) { /* the leaf is gone with the class: its packets leave q and above */
		struct tn_qdisc ghost = {.parent = leaf_parent};
		tn_qtree_reduce_backlog(env, &ghost, n, len);
		if (dropped)
			*dropped += n;
	}
	return 0;
}

struct tn_qdisc *tn_qtree_filter_owner(struct tn_qenv *env, uint32_t parent, struct tn_qerr *err)
{
	struct tn_qdisc *q = !parent || parent == TN_TC_H_ROOT ? env->root : tn_qtree_find(env, parent);
	if (!q) {
		tn_qerr(err, "Parent Qdisc doesn't exists (no qdisc %x:)", TN_TC_H_MAJ(parent) >> 16);
		return NULL;
	}
	if (parent && parent != TN_TC_H_ROOT && TN_TC_H_MIN(parent)) {
		tn_qerr(err, "filters attach to a qdisc (parent %x:), not to class %x:%x", parent >> 16, parent >> 16,
			TN_TC_H_MIN(parent));
		return NULL;
	}
	if (!q->ops->cl) {
		tn_qerr(err, "Class doesn't support blocks: %s %x: is classless (filters need a classful qdisc)",
			q->ops->kind, q->handle >> 16);
		return NULL;
	}
	return q;
}
