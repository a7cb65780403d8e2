/* A device's qdisc tree (Linux's sch_api.c tc_modify_qdisc, tc_get_qdisc
 * and tc_ctl_tclass): find a qdisc by handle, add, change, replace or
 * delete a qdisc at the root or under a class, and add, change or delete
 * classes and filters.  Each operation is all or nothing: the new qdisc is
 * built completely (its words parsed) before anything is grafted, and a
 * failure leaves the tree as it was.
 *
 * Packets held by a qdisc that leaves the tree: at the root they are
 * re-enqueued into the new root (what it refuses or cannot take at once
 * is dropped and counted as its drops); under a class they are dropped,
 * and every ancestor's qlen and backlog go down by them and its drops up,
 * as Linux's qdisc_tree_reduce_backlog.  Class ops graft and remove
 * therefore leave their own counters for the old leaf's packets alone. */
#ifndef TN_SCH_TREE_H
#define TN_SCH_TREE_H

#include "sched/qdisc.h"

/* Qdiscs nest at most this deep (root is depth 0). */
#define TN_QTREE_MAX_DEPTH 8

/* Netlink's request flags, which tell add, change, replace and link apart
 * (tc qdisc add: CREATE|EXCL, change: none, replace: CREATE|REPLACE,
 * link: REPLACE). */
#define TN_QTREE_CREATE 1u
#define TN_QTREE_EXCL 2u
#define TN_QTREE_REPLACE 4u

/* The qdisc with this major handle (minor ignored), or NULL.  Default
 * qdiscs (handle 0) are never found, as in Linux. */
struct tn_qdisc *tn_qtree_find(struct tn_qenv *env, uint32_t handle);

/* Visit every qdisc, the root first, then each class's leaf in the order
 * the class ops walk them: fn(ctx, q, owner (NULL at the root), classid
 * q hangs under (TN_TC_H_ROOT at the root), depth). */
typedef void (*tn_qtree_fn)(void *ctx, struct tn_qdisc *q, struct tn_qdisc *owner, uint32_t classid, int depth);
void tn_qtree_walk(struct tn_qenv *env, tn_qtree_fn fn, void *ctx);

/* Whether classful q has class classid; its parent in *parent. */
bool tn_qtree_class_exists(struct tn_qdisc *q, uint32_t classid, uint32_t *parent);

/* The lowest free automatic handle (8000:, 8001:, ...), 0 if none. */
uint32_t tn_qtree_alloc_handle(struct tn_qenv *env);

/* `tc qdisc add|change|replace|link`: parent is TN_TC_H_ROOT, a class id,
 * or 0 (none: then handle names the qdisc to change); handle 0 means
 * "none given"; kind NULL means none given.  *dropped (may be NULL) gets
 * the packets lost by the change. */
int tn_qtree_modify(struct tn_qenv *env, unsigned flags, uint32_t parent, uint32_t handle, const char *kind,
		    int argc, char **argv, struct tn_qerr *err, uint32_t *dropped);
/* `tc qdisc del`: the qdisc at parent (or with handle) goes, and the
 * default takes its place (pfifo_fast at the root, the class's own
 * default under a class). */
int tn_qtree_delete(struct tn_qenv *env, uint32_t parent, uint32_t handle, const char *kind,
		    struct tn_qerr *err, uint32_t *dropped);

/* `tc class add|change|replace`: flags as above; parent and classid as tc
 * gives them (0 when absent). */
int tn_qtree_class_modify(struct tn_qenv *env, unsigned flags, uint32_t parent, uint32_t classid,
			  const char *kind, int argc, char **argv, struct tn_qerr *err);
int tn_qtree_class_delete(struct tn_qenv *env, uint32_t parent, uint32_t classid, struct tn_qerr *err,
			  uint32_t *dropped);

/* The classful qdisc filters attach to for `parent` (0: the root). */
struct tn_qdisc *tn_qtree_filter_owner(struct tn_qenv *env, uint32_t parent, struct tn_qerr *err);

/* Take n packets of len bytes off every ancestor of child (a qdisc that
 * hung under a class) and count them as their drops. */
void tn_qtree_reduce_backlog(struct tn_qenv *env, const struct tn_qdisc *child, uint32_t n, uint32_t len);

#endif
