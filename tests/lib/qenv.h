/* A qdisc's world for unit tests: its own packet pool, a seeded random
 * source and a tn_qenv on a virtual clock; tc words split and a root
 * qdisc 1: made from them. */
#ifndef TERN_TEST_QENV_H
#define TERN_TEST_QENV_H

#include <stddef.h>
#include <stdint.h>

#include "core/pkt.h"
#include "core/rand.h"
#include "sched/qdisc.h"

struct t_qenv {
	struct tn_mempool *mp;
	struct tn_rand rng;
	struct tn_qenv q;
};

/* A pool of npkt buffers, the random source seeded with seed, and q at
 * time 0 with no wake-up asked, mtu 1500 and this txqueuelen; 0, or -1 if
 * the pool could not be had. */
int t_qenv_init(struct t_qenv *e, unsigned npkt, uint64_t seed, uint32_t txqueuelen);
/* cmocka fixture (*state: a struct t_qenv): q afresh, as t_qenv_init made
 * it (time 0, no wake-up, no root, nothing requeued). */
int t_qenv_reset(void **state);
/* cmocka fixture (*state: a struct t_qenv): asserts every packet is back
 * in the pool, then frees it. */
int t_qenv_teardown(void **state);

/* words copied into buf (cap bytes) and split at spaces into argv, at most
 * max of them; returns how many. */
int t_split_words(char *buf, size_t cap, const char *words, char **argv, int max);
/* tn_qdisc_create of a root qdisc 1: of this kind with tc words on q.
 * With err NULL, a failure is printed (kind, words and the message). */
struct tn_qdisc *t_qdisc_root(struct tn_qenv *q, const char *kind, const char *words, struct tn_qerr *err);

#endif
