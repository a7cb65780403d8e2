/* The cost per packet of each queueing discipline, at 1, 100 and 10,000
 * flows: nanoseconds for one enqueue plus one dequeue, measured on the real
 * clock while the qdisc runs on a virtual one (so a shaper never holds a
 * packet back for time: what is measured is the work, not the wait).
 *
 * Each round enqueues a batch of 64-byte IPv4/UDP packets spread over the
 * flows (distinct source ports) and dequeues until the qdisc is empty or
 * holds the rest back, advancing the virtual clock by a second per round.
 * Packets are pre-built and recycled, so buffer allocation is not in the
 * figure.  Kinds not built into this tern are reported as such.
 *
 *   qdisc_cost [SECONDS_PER_CASE]
 *   prints: KIND "OPTIONS" flows=N ns_per_pkt=F pkts=N drops=N
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/pkt.h"
#include "core/rand.h"
#include "sched/qdisc.h"

#define BATCH 64
#define LEN 106 /* 64 bytes of payload + UDP + IPv4 + Ethernet headers */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct tn_pkt *make_pkt(struct tn_mempool *mp, uint32_t flow)
{
	struct tn_pkt *p = tn_pkt_alloc(mp);
	if (!p)
		return NULL;
	uint8_t *d = tn_pkt_put(p, LEN);
	memset(d, 0, LEN);
	d[12] = 0x08; /* Ethernet, IPv4 */
	uint8_t *ip = d + 14;
	ip[0] = 0x45;
	ip[2] = 0;
	ip[3] = LEN - 14;
	ip[8] = 64;
	ip[9] = 17;
	ip[12] = 198, ip[13] = 18, ip[14] = 0, ip[15] = 1;
	ip[16] = 198, ip[17] = 18, ip[18] = 0, ip[19] = 2;
	ip[20] = (uint8_t)((1024 + flow) >> 8);
	ip[21] = (uint8_t)(1024 + flow);
	ip[22] = 0x23, ip[23] = 0x28; /* port 9000 */
	p->l3_off = tn_pkt_off(p, ip);
	return p;
}

struct cost_case {
	const char *kind;
	const char *opts;
	const char *class_opts; /* classful: one class 1:1 under the root with these */
};

static int split(char *buf, char **argv, int max)
{
	int argc = 0;
	for (char *t = strtok(buf, " "); t && argc < max; t = strtok(NULL, " "))
		argv[argc++] = t;
	return argc;
}

static void run_case(const struct cost_case *c, uint32_t flows, double seconds)
{
	struct tn_mempool *mp = tn_mempool_new(4 * BATCH + 16);
	struct tn_rand rng;
	tn_rand_seed(&rng, 1);
	struct tn_qenv env = {.now = 1, .wake_at = UINT64_MAX, .rng = &rng, .pool = mp, .mtu = 1500,
			      .txqueuelen = 1000};
	char buf[256], *argv[32];
	snprintf(buf, sizeof(buf), "%s", c->opts);
	int argc = split(buf, argv, 32);
	struct tn_qerr err = {{0}};
	struct tn_qdisc *q = tn_qdisc_create(&env, c->kind, TN_TC_H(1, 0), TN_TC_H_ROOT, argc, argv, &err);
	if (!q) {
		printf("%s \"%s\" flows=%u unavailable: %s\n", c->kind, c->opts, flows, err.msg);
		tn_mempool_free(mp);
		return;
	}
	env.root = q;
	if (c->class_opts && q->ops->cl && q->ops->cl->change) {
		snprintf(buf, sizeof(buf), "%s", c->class_opts);
		argc = split(buf, argv, 32);
		if (q->ops->cl->change(q, TN_TC_H(1, 1), TN_TC_H(1, 0), argc, argv, &err) < 0) {
			printf("%s class \"%s\": %s\n", c->kind, c->class_opts, err.msg);
			tn_qdisc_destroy(q);
			tn_mempool_free(mp);
			return;
		}
	}
	struct tn_pkt *spare[BATCH];
	uint32_t nspare = 0, flow = 0;
	uint64_t pkts = 0, drops0 = q->stats.drops, spent = 0, deadline = now_ns() + (uint64_t)(seconds * 1e9);
	while (now_ns() < deadline) {
		while (nspare < BATCH) {
			struct tn_pkt *p = make_pkt(mp, flow);
			if (!p)
				break;
			flow = (flow + 1) % flows;
			spare[nspare++] = p;
		}
		uint64_t t0 = now_ns();
		for (uint32_t i = 0; i < nspare; i++) {
			/* re-stamp the flow: packets are recycled across flows */
			uint32_t f = (flow + i) % flows;
			uint8_t *ip = spare[i]->buf + spare[i]->l3_off;
			ip[20] = (uint8_t)((1024 + f) >> 8);
			ip[21] = (uint8_t)(1024 + f);
			tn_qdisc_enqueue(q, spare[i]);
		}
		flow = (flow + nspare) % flows;
		struct tn_pkt *p;
		while ((p = tn_qdisc_dequeue(q)) != NULL)
			tn_pkt_free(p);
		spent += now_ns() - t0;
		pkts += nspare;
		nspare = 0;
		env.now += 1000000000ull; /* a second of virtual time: shapers have tokens again */
		env.wake_at = UINT64_MAX;
	}
	uint64_t drops = q->stats.drops - drops0;
	tn_qdisc_destroy(q);
	printf("%s \"%s\" flows=%u ns_per_pkt=%.1f pkts=%llu drops=%llu\n", c->kind, c->opts, flows,
	       pkts ? (double)spent / (double)pkts : 0.0, (unsigned long long)pkts, (unsigned long long)drops);
	tn_mempool_free(mp);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 1.0;
	static const struct cost_case cases[] = {
		{"pfifo_fast", "", NULL},
		{"pfifo", "", NULL},
		{"bfifo", "", NULL},
		{"prio", "", NULL},
		{"tbf", "rate 10gbit burst 1mb latency 50ms", NULL},
		{"sfq", "perturb 10", NULL},
		{"fq_codel", "", NULL},
		{"htb", "default 1", "rate 10gbit ceil 10gbit"},
		{"netem", "delay 0ms", NULL},
	};
	static const uint32_t flows[] = {1, 100, 10000};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (size_t k = 0; k < sizeof(flows) / sizeof(flows[0]); k++)
			run_case(&cases[i], flows[k], seconds);
	return 0;
}
