/* Simulation harness: several stacks on memlinks (optionally impaired),
 * one virtual clock, run until quiet or until a deadline. */
#ifndef TERN_SIM_H
#define TERN_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "core/stack.h"
#include "link/dev.h"

#define SIM_MAX 8

struct sim {
	struct tn_stack *st[SIM_MAX];
	int n;
	uint64_t now;
	uint64_t seed;
	uint32_t base[SIM_MAX]; /* pool use after setup */
};

/* Seed: TERN_SIM_SEED from the environment overrides `seed`. */
void sim_init(struct sim *sim, uint64_t seed);
int sim_add(struct sim *sim, const char *name);
/* Join stacks a and b; fault configs may be NULL.  Returns 0; ifindexes out. */
int sim_link(struct sim *sim, int a, int b, uint32_t mtu, const struct tn_fault_cfg *fab,
	     const struct tn_fault_cfg *fba, int *ifa, int *ifb, struct tn_dev **dev_ab);
void sim_addr(struct sim *sim, int i, int ifindex, const char *cidr);
void sim_gw(struct sim *sim, int i, const char *gw);
/* Run all stacks until t (absolute ns), waking exactly when any needs to. */
void sim_run_until(struct sim *sim, uint64_t t);
/* Run until pred(ctx) is true or t is reached; returns pred's last value. */
bool sim_run_while_not(struct sim *sim, bool (*pred)(void *), void *ctx, uint64_t t);
/* Two stacks (0 and 1) on one link, impaired both ways by imp (NULL: clean),
 * at addresses cidr0 and cidr1, run for a second so ARP and gratuitous
 * traffic settle, and the leak baseline taken. */
void sim_pair(struct sim *sim, uint64_t seed, const struct tn_fault_cfg *imp, const char *cidr0, const char *cidr1);
void sim_mark_baseline(struct sim *sim);
/* Stacks A (0), R (1) and B (2) on links A - R - B: A 198.18.1.2/24, R
 * 198.18.1.1/24 and 198.18.2.1/24, B 198.18.2.2/24, A and B routing through
 * R, which forwards.  Not yet run.  ifs (or NULL): the ifindexes of A's, R's
 * toward A, R's toward B and B's interface. */
void sim_router3(struct sim *sim, uint64_t seed, int ifs[4]);

/* Many UDP flows from stack a to stack b through a router r that tracks
 * connections with nf_conntrack_max `max` (the 100,000-flow tests): flow i
 * is a:(1024 + i % max) -> b:(7000 + i / max), nothing listening at either
 * end, so UdpNoPorts counts what arrives. */
struct sim_flows {
	int a, r, b;
	uint32_t a_addr, b_addr;
	uint32_t reply_to; /* where b's replies go: a_addr, or r's when it masquerades */
	uint32_t max;
	int64_t a_noports, b_noports; /* UdpNoPorts when sim_flows_fill began */
};
/* A UDP datagram (8 bytes, checksummed) from s, src:sp to dst:dp, past the
 * socket layer; tn_ip_output's result. */
int sim_send_udp(struct tn_stack *s, uint32_t src, uint32_t dst, uint16_t sp, uint16_t dp);
/* One datagram on each of flows [from, to), from a (reply: from b to
 * reply_to), 200 at a time with a millisecond between, then 10 ms more. */
void sim_send_flows(struct sim *sim, const struct sim_flows *f, uint32_t from, uint32_t to, bool reply);
/* Flows [0, max): requests, replies, and 3 s later requests again (every
 * flow a stream, ASSURED); asserts the table holds max, B counted two
 * datagrams a flow and A one, and r dropped nothing. */
void sim_flows_fill(struct sim *sim, struct sim_flows *f);
/* Flows [max, 2 max) with the table full of ASSURED flows: asserts r
 * dropped each one and none reached b. */
void sim_flows_overflow(struct sim *sim, struct sim_flows *f);
/* Flows [0, max) again both ways: asserts they all got through. */
void sim_flows_again(struct sim *sim, struct sim_flows *f);
/* r's conntrack stats printed; then 125 s for every flow to time out:
 * asserts the table is empty and, 10 s later, nothing leaked. */
void sim_flows_expire(struct sim *sim, struct sim_flows *f);
/* True if every stack's pool is back to its baseline. */
bool sim_no_leak(struct sim *sim);
void sim_free(struct sim *sim);

#endif
