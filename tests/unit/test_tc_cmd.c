/* The tc command and the qdisc tree: each command form, abbreviations,
 * show output in tc's format, Linux's add/replace/change/del rules on the
 * default root, automatic handles, errors naming the problem, atomicity (a
 * failing command leaves the tree as it was), grafting under classes and
 * the backlog of ancestors, filters, batches, and tern_tc on a stack.
 *
 * Classful grafting uses "tcls", a small classful qdisc defined here and
 * registered nowhere: classes 1..8 added with "weight N", a leaf each,
 * filters choose the class, the first non-empty class is served. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pkt.h"
#include "sched/qdisc.h"
#include "sched/sch_cls.h"
#include "sched/sch_ops.h"
#include "sched/sch_tree.h"
#include "sched/tc_cmd.h"
#include "tern/tern.h"
#include "link/dev.h"

/* ---- tcls ---- */

#define TCLS_N 8

struct tcls {
	struct {
		bool used;
		uint32_t weight, parent;
		struct tn_qdisc *leaf;
	} c[TCLS_N + 1];
};

static int tcls_init(struct tn_qdisc *q, int argc, char **argv, struct tn_qerr *err)
{
	return argc ? tn_qerr(err, "tcls: no options (\"%s\")", argv[0]) : 0;
}

static int tcls_minor(struct tn_qdisc *q, uint32_t classid)
{
	uint32_t m = TN_TC_H_MIN(classid);
	return TN_TC_H_MAJ(classid) == q->handle && m >= 1 && m <= TCLS_N ? (int)m : -1;
}

static enum tn_qdisc_verdict tcls_enqueue(struct tn_qdisc *q, struct tn_pkt *p)
{
	struct tcls *t = tn_qdisc_priv(q);
	int m = tcls_minor(q, tn_qfilter_classify(q, p));
	if (m < 0 || !t->c[m].used)
		for (m = 1; m <= TCLS_N && !t->c[m].used; m++)
			;
	if (m > TCLS_N) {
		tn_qdisc_drop(q, p);
		return TN_QDISC_DROP;
	}
	uint32_t len = p->pkt_len;
	enum tn_qdisc_verdict v = tn_qdisc_enqueue(t->c[m].leaf, p);
	if (v == TN_QDISC_DROP) {
		q->stats.drops++;
		return v;
	}
	q->stats.qlen++;
	q->stats.backlog += len;
	return v;
}

static struct tn_pkt *tcls_dequeue(struct tn_qdisc *q)
{
	struct tcls *t = tn_qdisc_priv(q);
	for (int m = 1; m <= TCLS_N; m++) {
		if (!t->c[m].used)
			continue;
		struct tn_pkt *p = tn_qdisc_dequeue(t->c[m].leaf);
		if (p) {
			q->stats.qlen--;
			q->stats.backlog -= p->pkt_len;
			tn_qdisc_count_out(q, p);
			return p;
		}
	}
	return NULL;
}

static void tcls_reset(struct tn_qdisc *q)
{
	struct tcls *t = tn_qdisc_priv(q);
	for (int m = 1; m <= TCLS_N; m++)
		if (t->c[m].used)
			tn_qdisc_reset(t->c[m].leaf);
}

static void tcls_destroy(struct tn_qdisc *q)
{
	struct tcls *t = tn_qdisc_priv(q);
	for (int m = 1; m <= TCLS_N; m++)
		if (t->c[m].used)
			tn_qdisc_destroy(t->c[m].leaf);
}

static int tcls_dump(const struct tn_qdisc *q, char *buf, size_t cap) { return snprintf(buf, cap, "classes"); }

static int tcls_change(struct tn_qdisc *q, uint32_t classid, uint32_t parent, int argc, char **argv,
		       struct tn_qerr *err)
{
	struct tcls *t = tn_qdisc_priv(q);
	int m = tcls_minor(q, classid);
	uint32_t w = 1;
	if (m < 0)
		return tn_qerr(err, "tcls: class minor 1..%d", TCLS_N);
	if (parent != q->handle)
		return tn_qerr(err, "tcls: classes hang under the qdisc");
	if (t->c[m].used)
		w = t->c[m].weight;
	for (int i = 0; i < argc; i += 2)
		if (strcmp(argv[i], "weight") != 0 || i + 1 == argc || tn_tc_get_u32(argv[i + 1], &w) < 0)
			return tn_qerr(err, "tcls: unknown option \"%s\"", argv[i]);
	if (!t->c[m].used) {
		t->c[m].leaf = tn_qdisc_default(q->env, classid, false);
		if (!t->c[m].leaf)
			return tn_qerr(err, "out of memory");
		t->c[m].used = true;
		t->c[m].parent = parent;
	}
	t->c[m].weight = w;
	return 0;
}

static int tcls_remove(struct tn_qdisc *q, uint32_t classid, struct tn_qerr *err)
{
	struct tcls *t = tn_qdisc_priv(q);
	int m = tcls_minor(q, classid);
	if (m < 0 || !t->c[m].used)
		return tn_qerr(err, "no class");
	tn_qdisc_destroy(t->c[m].leaf);
	t->c[m].used = false;
	return 0;
}

static int tcls_graft(struct tn_qdisc *q, uint32_t classid, struct tn_qdisc *child, struct tn_qdisc **old)
{
	struct tcls *t = tn_qdisc_priv(q);
	int m = tcls_minor(q, classid);
	if (m < 0 || !t->c[m].used)
		return -1;
	if (!child && !(child = tn_qdisc_default(q->env, classid, false)))
		return -1;
	*old = t->c[m].leaf;
	t->c[m].leaf = child;
	return 0;
}

static struct tn_qdisc *tcls_leaf(struct tn_qdisc *q, uint32_t classid)
{
	struct tcls *t = tn_qdisc_priv(q);
	int m = tcls_minor(q, classid);
	return m > 0 && t->c[m].used ? t->c[m].leaf : NULL;
}

static void tcls_walk(struct tn_qdisc *q, void (*fn)(void *, uint32_t, uint32_t, struct tn_qdisc *), void *ctx)
{
	struct tcls *t = tn_qdisc_priv(q);
	for (int m = 1; m <= TCLS_N; m++)
		if (t->c[m].used)
			fn(ctx, q->handle | (uint32_t)m, t->c[m].parent, t->c[m].leaf);
}

static int tcls_cdump(struct tn_qdisc *q, uint32_t classid, char *buf, size_t cap, struct tn_qstats *st)
{
	struct tcls *t = tn_qdisc_priv(q);
	int m = tcls_minor(q, classid);
	*st = t->c[m].leaf->stats;
	return snprintf(buf, cap, "weight %u", t->c[m].weight);
}

static const struct tn_qclass_ops tcls_cl = {
	.change = tcls_change, .remove = tcls_remove, .graft = tcls_graft, .leaf = tcls_leaf,
	.walk = tcls_walk, .dump = tcls_cdump,
};

static const struct tn_qdisc_ops tcls_ops = {
	.kind = "tcls", .priv_size = sizeof(struct tcls), .init = tcls_init, .enqueue = tcls_enqueue,
	.dequeue = tcls_dequeue, .reset = tcls_reset, .destroy = tcls_destroy, .dump = tcls_dump, .cl = &tcls_cl,
};

/* ---- fixture ---- */

struct env {
	struct tn_mempool *mp;
	struct tn_rand rng;
	struct tn_qenv q[2];
	struct tn_tc_dev devs[2];
	char out[8192];
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	e->mp = tn_mempool_new(4096);
	tn_rand_seed(&e->rng, 1);
	for (int i = 0; i < 2; i++) {
		e->q[i] = (struct tn_qenv){.wake_at = UINT64_MAX, .rng = &e->rng, .pool = e->mp, .mtu = 1500,
					   .txqueuelen = 100};
		e->q[i].root = tn_qdisc_default(&e->q[i], TN_TC_H_ROOT, true);
		e->devs[i] = (struct tn_tc_dev){.name = i ? "tern1" : "tern0", .env = &e->q[i]};
	}
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	for (int i = 0; i < 2; i++)
		tn_qdisc_destroy(e->q[i].root);
	assert_int_equal(tn_mempool_in_use(e->mp), 0);
	tn_mempool_free(e->mp);
	free(e);
	return 0;
}

/* Run a command line (split on spaces) on the fixture's devices. */
static int tc(struct env *e, const char *line)
{
	char buf[512], *argv[64];
	snprintf(buf, sizeof(buf), "%s", line);
	int argc = tn_tc_split(buf, argv, 64);
	assert_true(argc >= 0);
	return tn_tc_exec(e->devs, 2, argc, argv, e->out, sizeof(e->out));
}

static void ok(struct env *e, const char *line)
{
	if (tc(e, line) != 0)
		fail_msg("tc %s: %s", line, e->out);
}

/* The command fails and its message says `want`. */
static void fails(struct env *e, const char *line, const char *want)
{
	if (tc(e, line) != -1)
		fail_msg("tc %s: succeeded (\"%s\")", line, e->out);
	if (!strstr(e->out, want))
		fail_msg("tc %s: \"%s\" does not say \"%s\"", line, e->out, want);
}

static const char *show(struct env *e, const char *line)
{
	ok(e, line);
	return e->out;
}

/* A UDP/IPv4 packet of len bytes to dport, the IP id a sequence number. */
static struct tn_pkt *udp_pkt(struct env *e, uint16_t dport, uint16_t id, uint32_t len)
{
	struct tn_pkt *p = tn_pkt_alloc(e->mp);
	assert_non_null(p);
	uint8_t *d = tn_pkt_put(p, len);
	memset(d, 0, len);
	d[0] = 0x45;
	d[2] = (uint8_t)(len >> 8);
	d[3] = (uint8_t)len;
	d[4] = (uint8_t)(id >> 8);
	d[5] = (uint8_t)id;
	d[9] = 17;
	d[22] = (uint8_t)(dport >> 8);
	d[23] = (uint8_t)dport;
	p->l3_off = tn_pkt_off(p, d);
	return p;
}

static uint16_t pkt_id(const struct tn_pkt *p) { return (uint16_t)(p->data[4] << 8 | p->data[5]); }

/* Install tcls as tern0's root with handle 1: (what `qdisc add ... root
 * handle 1: tcls` would do if it were registered). */
static struct tn_qdisc *tcls_root(struct env *e)
{
	struct tn_qdisc *q = calloc(1, sizeof(*q) + sizeof(struct tcls));
	q->ops = &tcls_ops;
	q->handle = TN_TC_H(1, 0);
	q->parent = TN_TC_H_ROOT;
	q->env = &e->q[0];
	tn_qdisc_destroy(e->q[0].root);
	e->q[0].root = q;
	return q;
}

#define PF_FAST "qdisc pfifo_fast 0: root refcnt 2 bands 3 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1\n"

/* ---- tests ---- */

static void test_show_default(void **state)
{
	struct env *e = *state;
	assert_string_equal(show(e, "qdisc show dev tern0"), PF_FAST);
	for (int i = 0; i < 10; i++)
		tn_qdisc_enqueue(e->q[0].root, udp_pkt(e, 9, (uint16_t)i, 100 + (uint32_t)i));
	for (int i = 0; i < 7; i++)
		tn_pkt_free(tn_qdisc_dequeue(e->q[0].root));
	assert_string_equal(show(e, "-s qdisc show dev tern0"),
			    PF_FAST " Sent 721 bytes 7 pkt (dropped 0, overlimits 0 requeues 0)\n"
				    " backlog 324b 3p requeues 0\n");
	/* without dev: every device, named */
	assert_string_equal(show(e, "qdisc show"),
			    "qdisc pfifo_fast 0: dev tern0 root refcnt 2 bands 3 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1\n"
			    "qdisc pfifo_fast 0: dev tern1 root refcnt 2 bands 3 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1\n");
	/* bare "tc qdisc" lists */
	assert_string_equal(show(e, "qdisc"), e->out);
}

static void test_abbreviations(void **state)
{
	struct env *e = *state;
	ok(e, "qd a dev tern0 root handle 1: pfifo limit 10");
	assert_string_equal(show(e, "q ls dev tern0"), "qdisc pfifo 1: root refcnt 2 limit 10p\n");
	assert_string_equal(show(e, "qdisc list dev tern0"), "qdisc pfifo 1: root refcnt 2 limit 10p\n");
	assert_string_equal(show(e, "qd lst dev tern0"), "qdisc pfifo 1: root refcnt 2 limit 10p\n");
	assert_non_null(strstr(show(e, "-stat qdisc show dev tern0"), " Sent 0 bytes 0 pkt"));
	assert_non_null(strstr(show(e, "-statistics qd sh dev tern0"), " backlog 0b 0p requeues 0"));
	assert_non_null(strstr(show(e, "-s -d qd sh dev tern0"), " Sent 0 bytes"));
	/* a qdisc's own counters follow, each line indented as tc does */
	ok(e, "qd r dev tern0 root fq_codel");
	assert_non_null(strstr(show(e, "-s qd sh dev tern0"),
			       " backlog 0b 0p requeues 0\n"
			       "  maxpacket 0 drop_overlimit 0 new_flow_count 0 ecn_mark 0\n"
			       "  new_flows_len 0 old_flows_len 0\n"));
	ok(e, "qd del dev tern0 root");
	ok(e, "qd r dev tern0 root bfifo limit 3000");
	assert_string_equal(show(e, "qd show dev tern0"), "qdisc bfifo 8000: root refcnt 2 limit 3000b\n");
	ok(e, "qd del dev tern0 root");
	ok(e, "cl show dev tern0");
	assert_string_equal(e->out, "");
	ok(e, "filt show dev tern0");
	ok(e, "filter ls");
	fails(e, "-x qdisc show", "Option \"-x\" is unknown");
	fails(e, "queue show", "Object \"queue\" is unknown");
	fails(e, "qdisc frob dev tern0", "Command \"frob\" is unknown");
}

static void test_add_replace_on_default_root(void **state)
{
	struct env *e = *state;
	struct tn_qdisc *dflt = e->q[0].root;
	ok(e, "qdisc add dev tern0 root handle 1: pfifo limit 10");
	assert_ptr_not_equal(e->q[0].root, dflt);
	assert_string_equal(show(e, "qdisc show dev tern0"), "qdisc pfifo 1: root refcnt 2 limit 10p\n");
	assert_true(e->devs[0].changed);
	/* add again: the root is not the default any more */
	struct tn_qdisc *before = e->q[0].root;
	fails(e, "qdisc add dev tern0 root pfifo limit 20", "Exclusivity flag on, cannot modify");
	fails(e, "qdisc add dev tern0 root handle 1: pfifo limit 20", "Exclusivity flag on, cannot modify");
	fails(e, "qdisc add dev tern0 root handle 2: bfifo", "NLM_F_REPLACE needed to override");
	assert_ptr_equal(e->q[0].root, before);
	assert_string_equal(show(e, "qdisc show dev tern0"), "qdisc pfifo 1: root refcnt 2 limit 10p\n");
	/* replace, same kind: a change of the same qdisc */
	ok(e, "qdisc replace dev tern0 root pfifo limit 20");
	assert_ptr_equal(e->q[0].root, before);
	assert_string_equal(show(e, "qdisc show dev tern0"), "qdisc pfifo 1: root refcnt 2 limit 20p\n");
	/* replace, another kind: a new qdisc */
	ok(e, "qdisc replace dev tern0 root bfifo limit 15k");
	assert_ptr_not_equal(e->q[0].root, before);
	assert_string_equal(show(e, "qdisc show dev tern0"), "qdisc bfifo 8000: root refcnt 2 limit 15Kb\n");
	/* replace with a handle */
	ok(e, "qdisc replace dev tern0 root handle 5: pfifo");
	assert_string_equal(show(e, "qdisc show dev tern0"), "qdisc pfifo 5: root refcnt 2 limit 100p\n");
	/* the other device was not touched */
	assert_string_equal(show(e, "qdisc show dev tern1"), PF_FAST);
	assert_false(e->devs[1].changed);
}

static void test_change(void **state)
{
	struct env *e = *state;
	fails(e, "qdisc change dev tern0 root pfifo limit 5", "Qdisc not found");
	assert_string_equal(show(e, "qdisc show dev tern0"), PF_FAST);
	ok(e, "qdisc add dev tern0 root handle 1: pfifo");
	ok(e, "qdisc change dev tern0 root pfifo limit 5");
	assert_string_equal(show(e, "qdisc show dev tern0"), "qdisc pfifo 1: root refcnt 2 limit 5p\n");
	ok(e, "qdisc change dev tern0 handle 1: pfifo limit 7");
	assert_string_equal(show(e, "qdisc show dev tern0"), "qdisc pfifo 1: root refcnt 2 limit 7p\n");
	fails(e, "qdisc change dev tern0 root bfifo limit 5", "Invalid qdisc name");
	fails(e, "qdisc change dev tern0 handle 9: pfifo limit 5", "Specified qdisc not found");
	fails(e, "qdisc change dev tern0 root pfifo limit 0", "pfifo: bad limit \"0\"");
	assert_string_equal(show(e, "qdisc show dev tern0"), "qdisc pfifo 1: root refcnt 2 limit 7p\n");
	/* pfifo_fast has no change */
	ok(e, "qdisc replace dev tern0 root handle 2: pfifo_fast");
	fails(e, "qdisc change dev tern0 root pfifo_fast", "Change operation not supported");
}

static void test_del_restores_default(void **state)
{
	struct env *e = *state;
	fails(e, "qdisc del dev tern0 root", "Cannot delete qdisc with handle of zero");
	ok(e, "qdisc add dev tern0 root handle 1: pfifo");
	fails(e, "qdisc del dev tern0 root handle 2:", "Invalid handle");
	fails(e, "qdisc del dev tern0 root bfifo", "Invalid qdisc name");
	fails(e, "qdisc del dev tern0 root limit 3", "unknown qdisc \"limit\"");
	fails(e, "qdisc del dev tern0 root pfifo limit 3", "takes no options");
	ok(e, "qdisc del dev tern0 root");
	assert_string_equal(show(e, "qdisc show dev tern0"), PF_FAST);
	ok(e, "qdisc add dev tern0 root handle 1: pfifo");
	ok(e, "qdisc delete dev tern0 handle 1:");
	assert_string_equal(show(e, "qdisc show dev tern0"), PF_FAST);
}

static void test_auto_handles(void **state)
{
	struct env *e = *state;
	ok(e, "qdisc add dev tern0 root pfifo");
	assert_string_equal(show(e, "qdisc show dev tern0"), "qdisc pfifo 8000: root refcnt 2 limit 100p\n");
	ok(e, "qdisc del dev tern0 root");
	ok(e, "qdisc add dev tern0 root bfifo");
	assert_string_equal(show(e, "qdisc show dev tern0"), "qdisc bfifo 8000: root refcnt 2 limit 150000b\n");
	tcls_root(e);
	ok(e, "class add dev tern0 parent 1: classid 1:1 tcls");
	ok(e, "class add dev tern0 parent 1: classid 1:2 tcls");
	ok(e, "class add dev tern0 parent 1: classid 1:3 tcls");
	ok(e, "qdisc add dev tern0 parent 1:1 pfifo");
	ok(e, "qdisc add dev tern0 parent 1:2 pfifo");
	fails(e, "qdisc add dev tern0 parent 1:3 handle 8000: pfifo", "handle 8000: is in use"); /* 1:1's */
	assert_string_equal(show(e, "qdisc show dev tern0"), "qdisc tcls 1: root refcnt 2 classes\n"
							    "qdisc pfifo 8000: parent 1:1 limit 100p\n"
							    "qdisc pfifo 8001: parent 1:2 limit 100p\n");
	fails(e, "qdisc replace dev tern0 parent 1:3 handle 8001: bfifo", "in use elsewhere");
	fails(e, "qdisc add dev tern0 root handle 1:5 pfifo", "invalid qdisc ID");
	fails(e, "qdisc add dev tern0 root handle ffff: pfifo", "reserved for ingress");
}

static void test_errors(void **state)
{
	struct env *e = *state;
	fails(e, "qdisc add dev tern9 root pfifo", "Cannot find device \"tern9\"");
	fails(e, "qdisc add dev tern0 root foo", "unknown qdisc \"foo\"");
	fails(e, "qdisc add dev tern0 root pfifo bogus 3", "pfifo: unknown option \"bogus\"");
	fails(e, "qdisc add dev tern0 root pfifo limit", "pfifo: limit needs a value");
	fails(e, "qdisc add root pfifo", "\"dev\" argument is required");
	fails(e, "qdisc add dev tern0 dev tern1 root pfifo", "duplicate \"dev\"");
	fails(e, "qdisc add dev", "\"dev\" needs a value");
	fails(e, "qdisc add dev tern0 root parent 1:1 pfifo", "duplicate parent ID");
	fails(e, "qdisc add dev tern0 parent x:y pfifo", "invalid parent ID");
	fails(e, "qdisc add dev tern0 parent 1:1 pfifo", "Failed to find specified qdisc");
	fails(e, "qdisc add dev tern0 handle 1: pfifo", "Specified qdisc not found");
	fails(e, "qdisc add dev tern0 pfifo", "Handle cannot be zero");
	fails(e, "qdisc add dev tern0 root", "a qdisc kind is required");
	fails(e, "qdisc add dev tern0 ingress", "not supported");
	ok(e, "qdisc add dev tern0 root handle 1: pfifo");
	fails(e, "qdisc add dev tern0 parent 1:1 bfifo", "Parent qdisc is not classful");
	fails(e, "class add dev tern0 parent 1: classid 1:1 pfifo", "Qdisc not classful");
	fails(e, "class add dev tern0 parent 1: handle 1:1", "try \"classid\"");
	fails(e, "filter add dev tern0 parent 1: protocol ip prio 1 u32 match ip dport 80 0xffff flowid 1:1",
	      "classless");
	tcls_root(e);
	fails(e, "qdisc add dev tern0 parent 1:7 pfifo", "Specified class not found");
	fails(e, "class change dev tern0 classid 1:7 tcls weight 2", "Specified class not found");
	fails(e, "class del dev tern0 classid 1:7", "Specified class not found");
	fails(e, "class add dev tern0 parent 1: classid 2:1 tcls", "name different qdiscs");
	fails(e, "class add dev tern0 parent 1: classid 1:1 pfifo", "does not match its qdisc");
	fails(e, "class add dev tern0 parent 1: classid 1:1 tcls color red", "tcls: unknown option \"color\"");
	fails(e, "class add dev tern0 parent 1: classid 1:1 tcls weight", "tcls: unknown option \"weight\"");
	assert_string_equal(show(e, "class show dev tern0"), "");
}

/* A failing command of any kind leaves the tree exactly as it was. */
static void test_atomic(void **state)
{
	struct env *e = *state;
	struct tn_qdisc *root = tcls_root(e);
	ok(e, "class add dev tern0 parent 1: classid 1:1 tcls weight 2");
	ok(e, "qdisc add dev tern0 parent 1:1 handle 10: pfifo limit 4");
	ok(e, "filter add dev tern0 parent 1: protocol ip prio 1 u32 match ip dport 80 0xffff flowid 1:1");
	char before[8192];
	snprintf(before, sizeof(before), "%s", show(e, "-s qdisc show dev tern0"));
	char cls_before[8192], flt_before[8192];
	snprintf(cls_before, sizeof(cls_before), "%s", show(e, "class show dev tern0"));
	snprintf(flt_before, sizeof(flt_before), "%s", show(e, "filter show dev tern0"));
	struct tn_qdisc *leaf = tcls_leaf(root, TN_TC_H(1, 1));
	static const char *const bad[] = {
		"qdisc replace dev tern0 parent 1:1 handle 11: pfifo limit x",
		"qdisc replace dev tern0 root handle 2: bfifo limit -1",
		"qdisc add dev tern0 parent 1:1 handle 12: pfifo",
		"qdisc replace dev tern0 parent 1:1 handle 13: nosuchkind",
		"qdisc change dev tern0 handle 10: pfifo limit 1 limit 0",
		"class change dev tern0 classid 1:1 tcls weight 3 color 1",
		"class add dev tern0 parent 1: classid 1:1 tcls weight 9",
		"filter add dev tern0 parent 1: prio 2 u32 match ip dport 80 0xffff match ip nosuch 1 1 flowid 1:1",
		"filter add dev tern0 parent 1: prio 2 u32 match ip dport 80",
		"filter add dev tern0 parent 1: prio 2 u32 match ip dport 80 0xffff",
		"filter del dev tern0 parent 1: prio 9",
		"qdisc del dev tern0 parent 1:1 handle 11:",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(tc(e, bad[i]), -1);
		assert_ptr_equal(e->q[0].root, root);
		assert_ptr_equal(tcls_leaf(root, TN_TC_H(1, 1)), leaf);
		assert_string_equal(show(e, "-s qdisc show dev tern0"), before);
		assert_string_equal(show(e, "class show dev tern0"), cls_before);
		assert_string_equal(show(e, "filter show dev tern0"), flt_before);
	}
}

/* Replacing the root moves its packets into the new one, in order. */
static void test_root_replace_requeues(void **state)
{
	struct env *e = *state;
	for (int i = 0; i < 5; i++)
		tn_qdisc_enqueue(e->q[0].root, udp_pkt(e, 9, (uint16_t)i, 100));
	ok(e, "qdisc add dev tern0 root handle 1: pfifo");
	assert_int_equal(e->q[0].root->stats.qlen, 5);
	assert_int_equal(e->q[0].root->stats.backlog, 500);
	assert_int_equal(e->devs[0].dropped, 0);
	for (int i = 0; i < 5; i++) {
		struct tn_pkt *p = tn_qdisc_dequeue(e->q[0].root);
		assert_non_null(p);
		assert_int_equal(pkt_id(p), i);
		tn_pkt_free(p);
	}
	/* a smaller new root: what does not fit is dropped and counted */
	for (int i = 0; i < 5; i++)
		tn_qdisc_enqueue(e->q[0].root, udp_pkt(e, 9, (uint16_t)i, 100));
	ok(e, "qdisc replace dev tern0 root bfifo limit 200");
	assert_int_equal(e->q[0].root->stats.qlen, 2);
	assert_int_equal(e->q[0].root->stats.drops, 3);
	assert_int_equal(e->devs[0].dropped, 3);
	assert_non_null(strstr(show(e, "-s qdisc show dev tern0"), "(dropped 3, overlimits 0 requeues 0)\n backlog 200b 2p"));
	/* del: into the default again */
	ok(e, "qdisc del dev tern0 root");
	assert_int_equal(e->q[0].root->stats.qlen, 2);
	assert_int_equal(e->devs[0].dropped, 3);
}

/* Classes, grafting under them, the ancestors' backlog when a leaf with
 * packets leaves, class show, and filters choosing the class. */
static void test_classful(void **state)
{
	struct env *e = *state;
	struct tn_qdisc *root = tcls_root(e);
	ok(e, "class add dev tern0 parent 1: classid 1:1 tcls weight 3");
	ok(e, "class add dev tern0 parent 1:0 classid 1:2 tcls");
	fails(e, "class add dev tern0 parent 1: classid 1:1 tcls", "already exists");
	ok(e, "class change dev tern0 classid 1:1 tcls weight 5");
	ok(e, "class replace dev tern0 parent 1: classid 1:3 tcls weight 7");
	assert_string_equal(show(e, "class show dev tern0"), "class tcls 1:1 root weight 5\n"
							    "class tcls 1:2 root weight 1\n"
							    "class tcls 1:3 root weight 7\n");
	ok(e, "qdisc add dev tern0 parent 1:1 handle 10: bfifo limit 3000");
	ok(e, "qdisc add dev tern0 parent 1:2 handle 20: pfifo limit 2");
	assert_string_equal(show(e, "qdisc show dev tern0"), "qdisc tcls 1: root refcnt 2 classes\n"
							    "qdisc bfifo 10: parent 1:1 limit 3000b\n"
							    "qdisc pfifo 20: parent 1:2 limit 2p\n");
	assert_string_equal(show(e, "qdisc show dev tern0 invisible"),
			    "qdisc tcls 1: root refcnt 2 classes\n"
			    "qdisc bfifo 10: parent 1:1 limit 3000b\n"
			    "qdisc pfifo 20: parent 1:2 limit 2p\n"
			    "qdisc pfifo 0: parent 1:3 limit 100p\n");
	assert_string_equal(show(e, "class show dev tern0 classid 1:2"), "class tcls 1:2 root leaf 20: weight 1\n");
	/* filter: dport 80 to 1:2; everything else to the first class, 1:1 */
	ok(e, "filter add dev tern0 protocol ip parent 1:0 prio 1 u32 match ip dport 80 0xffff flowid 1:2");
	assert_non_null(strstr(show(e, "filter show dev tern0"), "filter parent 1: protocol ip pref 1 u32"));
	assert_non_null(strstr(e->out, "flowid 1:2"));
	assert_non_null(strstr(e->out, "match 00000050/0000ffff at nexthdr+0"));
	for (int i = 0; i < 3; i++)
		tn_qdisc_enqueue(root, udp_pkt(e, 80, (uint16_t)i, 100));
	for (int i = 0; i < 4; i++)
		tn_qdisc_enqueue(root, udp_pkt(e, 53, (uint16_t)(10 + i), 200));
	struct tn_qdisc *l1 = tcls_leaf(root, TN_TC_H(1, 1)), *l2 = tcls_leaf(root, TN_TC_H(1, 2));
	assert_int_equal(l2->stats.qlen, 2); /* limit 2: the third was dropped */
	assert_int_equal(l2->stats.drops, 1);
	assert_int_equal(l1->stats.qlen, 4);
	assert_int_equal(root->stats.qlen, 6);
	assert_int_equal(root->stats.backlog, 1000);
	assert_non_null(strstr(show(e, "-s class show dev tern0 classid 1:1"),
			       "class tcls 1:1 root leaf 10: weight 5\n Sent 0 bytes 0 pkt (dropped 0, overlimits 0 requeues 0)\n"
			       " backlog 800b 4p requeues 0\n"));
	/* deleting the leaf with packets: dropped, the root's counters follow */
	uint32_t dropped = e->devs[0].dropped;
	ok(e, "qdisc del dev tern0 parent 1:2 handle 20:");
	assert_int_equal(e->devs[0].dropped - dropped, 2);
	assert_int_equal(root->stats.qlen, 4);
	assert_int_equal(root->stats.backlog, 800);
	assert_int_equal(root->stats.drops, 1 + 2);
	assert_string_equal(tcls_leaf(root, TN_TC_H(1, 2))->ops->kind, "pfifo");
	/* replacing 1:1's leaf drops its four */
	ok(e, "qdisc replace dev tern0 parent 1:1 handle 11: pfifo");
	assert_int_equal(root->stats.qlen, 0);
	assert_int_equal(root->stats.backlog, 0);
	assert_int_equal(e->devs[0].dropped - dropped, 6);
	/* and a class with packets deleted */
	tn_qdisc_enqueue(root, udp_pkt(e, 53, 1, 300));
	assert_int_equal(root->stats.qlen, 1);
	ok(e, "class del dev tern0 classid 1:1");
	assert_int_equal(root->stats.qlen, 0);
	assert_int_equal(root->stats.backlog, 0);
	assert_int_equal(e->devs[0].dropped - dropped, 7);
	assert_null(tn_qtree_find(&e->q[0], TN_TC_H(11, 0)));
	/* filters: del by prio, errors */
	ok(e, "filter add dev tern0 parent 1: prio 2 u32 match ip src 198.18.0.0/15 flowid 1:3");
	ok(e, "filter add dev tern0 parent 1: protocol ip u32 match ip protocol 17 0xff flowid 1:3");
	assert_int_equal(root->filters->prio, 1);
	fails(e, "filter del dev tern0 parent 1: prio 7", "not found");
	ok(e, "filter del dev tern0 parent 1: prio 1");
	assert_null(strstr(show(e, "filter show dev tern0"), "pref 1 "));
	assert_non_null(strstr(e->out, "pref 2 "));
	fails(e, "filter add dev tern0 parent 1:3 u32 match ip dport 80 0xffff flowid 1:3", "not to class");
	fails(e, "filter add dev tern0 parent 7: u32 match ip dport 80 0xffff flowid 1:3", "no qdisc 7:");
	fails(e, "filter add dev tern0 parent 1: basic flowid 1:3", "unknown word \"basic\"");
	ok(e, "filter del dev tern0 parent 1:");
	assert_null(root->filters);
	/* the tree nests no deeper than the bound */
	assert_int_equal(tn_qtree_alloc_handle(&e->q[0]), TN_TC_H(0x8000, 0));
}

static void test_batch(void **state)
{
	struct env *e = *state;
	const char *text = "# shape tern0\n"
			   "tc qdisc add dev tern0 root handle 1: pfifo limit 10\n"
			   "\n"
			   "qdisc add dev tern1 root bfifo   # trailing comment\n"
			   "qdisc add dev tern0 root handle 1: pfifo limit 10\n"
			   "qdisc del dev tern1 root\n";
	assert_int_equal(tn_tc_batch(e->devs, 2, text, e->out, sizeof(e->out)), 5);
	assert_non_null(strstr(e->out, "Exclusivity flag on"));
	assert_non_null(strstr(e->out, "Command failed line 5"));
	/* lines before the failure are applied, the one after is not run */
	assert_string_equal(show(e, "qdisc show dev tern0"), "qdisc pfifo 1: root refcnt 2 limit 10p\n");
	assert_string_equal(show(e, "qdisc show dev tern1"), "qdisc bfifo 8000: root refcnt 2 limit 150000b\n");
	assert_int_equal(tn_tc_batch(e->devs, 2, "qdisc del dev tern1 root\n-s qdisc show dev tern1", e->out,
				     sizeof(e->out)), 0);
	assert_non_null(strstr(e->out, "qdisc pfifo_fast 0: root"));
	char words[] = "a \"b c\" d # e f";
	char *argv[4];
	assert_int_equal(tn_tc_split(words, argv, 4), 3);
	assert_string_equal(argv[1], "b c");
	char many[] = "1 2 3 4 5";
	assert_int_equal(tn_tc_split(many, argv, 4), -1);
}

/* Output that does not fit is cut, still a string. */
static void test_small_output(void **state)
{
	struct env *e = *state;
	char small[16];
	char *argv[] = {"qdisc", "show"};
	assert_int_equal(tn_tc_exec(e->devs, 2, 2, argv, small, sizeof(small)), 0);
	assert_int_equal(strlen(small), 15);
	assert_memory_equal(small, "qdisc pfifo_fas", 15);
}

/* tern_tc on a stack: the root really shapes what the device sends. */
static void test_stack(void **state)
{
	(void)state;
	struct tern_config cfg = {.seed = 1, .now = 1000000000ull, .pool_size = 256};
	struct tn_stack *s = tern_stack_new(&cfg);
	struct tn_dev *a, *b;
	assert_int_equal(tn_memlink_pair("tc0", "tcpeer", TN_DEV_L3, 1500, 256, &a, &b), 0);
	int idx = tern_dev_attach(s, a);
	tern_addr_add(s, idx, 0xc6120001, 24);
	char out[2048];
	char *add[] = {"qdisc", "add", "dev", "tc0", "root", "handle", "1:", "pfifo", "limit", "3"};
	assert_int_equal(tern_tc(s, 10, add, out, sizeof(out)), 0);
	char *bad[] = {"qdisc", "add", "dev", "tc9", "root", "pfifo"};
	assert_int_equal(tern_tc(s, 6, bad, out, sizeof(out)), -1);
	assert_string_equal(out, "Cannot find device \"tc9\"\n");
	int fd = tern_socket(s, AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(0xc6120002)};
	char payload[100] = {0};
	for (int i = 0; i < 5; i++) /* the qdisc holds 3 until the poll */
		tern_sendto(s, fd, payload, sizeof(payload), 0, (struct sockaddr *)&to, sizeof(to));
	tern_poll(s, cfg.now + 1000);
	char *st[] = {"-s", "qdisc", "show", "dev", "tc0"};
	assert_int_equal(tern_tc(s, 5, st, out, sizeof(out)), 0);
	assert_string_equal(out, "qdisc pfifo 1: root refcnt 2 limit 3p\n"
				 " Sent 384 bytes 3 pkt (dropped 2, overlimits 0 requeues 0)\n"
				 " backlog 0b 0p requeues 0\n");
	assert_int_equal(tern_tc_batch(s, "qdisc del dev tc0 root\nqdisc show dev tc0\n", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "pfifo_fast 0: root"));
	struct tn_pkt *rx[8];
	struct tn_mempool *mp = tn_mempool_new(16);
	unsigned n = tn_dev_rx(b, mp, rx, 8);
	assert_int_equal(n, 3);
	for (unsigned i = 0; i < n; i++)
		tn_pkt_free(rx[i]);
	tern_close(s, fd);
	tern_stack_free(s);
	tn_dev_destroy(b);
	tn_mempool_free(mp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_show_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abbreviations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_replace_on_default_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_del_restores_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auto_handles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atomic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_replace_requeues, setup, teardown),
		cmocka_unit_test_setup_teardown(test_classful, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_small_output, setup, teardown),
		cmocka_unit_test(test_stack),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
