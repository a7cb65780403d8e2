#include "qenv.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

int t_qenv_init(struct t_qenv *e, unsigned npkt, uint64_t seed, uint32_t txqueuelen)
{
	e->mp = tn_mempool_new(npkt);
	tn_rand_seed(&e->rng, seed);
	e->q = (struct tn_qenv){
		.wake_at = UINT64_MAX, .rng = &e->rng, .pool = e->mp, .mtu = 1500, .txqueuelen = txqueuelen};
	return e->mp ? 0 : -1;
}

int t_qenv_reset(void **state)
{
	struct t_qenv *e = *state;
	e->q = (struct tn_qenv){
		.wake_at = UINT64_MAX, .rng = &e->rng, .pool = e->mp, .mtu = e->q.mtu, .txqueuelen = e->q.txqueuelen};
	return 0;
}

int t_qenv_teardown(void **state)
{
	struct t_qenv *e = *state;
	assert_int_equal(tn_mempool_in_use(e->mp), 0);
	tn_mempool_free(e->mp);
	return 0;
}

int t_split_words(char *buf, size_t cap, const char *words, char **argv, int max)
{
	int argc = 0;
	snprintf(buf, cap, "%s", words);
	for (char *t = strtok(buf, " "); t && argc < max; t = strtok(NULL, " "))
		argv[argc++] = t;
	return argc;
}

struct tn_qdisc *t_qdisc_root(struct tn_qenv *q, const char *kind, const char *words, struct tn_qerr *err)
{
	char buf[512], *argv[64];
	int argc = t_split_words(buf, sizeof(buf), words, argv, 64);
	struct tn_qerr local;
	struct tn_qerr *e = err ? err : &local;
	memset(e, 0, sizeof(*e));
	struct tn_qdisc *qd = tn_qdisc_create(q, kind, TN_TC_H(1, 0), TN_TC_H_ROOT, argc, argv, e);
	if (!qd && !err)
		print_message("create %s %s: %s\n", kind, words, e->msg);
	return qd;
}
