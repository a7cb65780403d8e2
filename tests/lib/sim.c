#include "sim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "filter/conntrack.h"
#include "net/ipv4.h"
#include "wire/csum.h"
#include "wire/wire.h"

void sim_init(struct sim *sim, uint64_t seed)
{
	memset(sim, 0, sizeof(*sim));
	const char *env = getenv("TERN_SIM_SEED");
	sim->seed = env ? strtoull(env, NULL, 0) : seed;
	sim->now = 1000000000ull;
}

int sim_add(struct sim *sim, const char *name)
{
	struct tern_config cfg = {.name = name, .seed = sim->seed * 1000 + (uint64_t)sim->n + 1,
				  .now = sim->now, .pool_size = 16384};
	sim->st[sim->n] = tern_stack_new(&cfg);
	return sim->n++;
}

int sim_link(struct sim *sim, int a, int b, uint32_t mtu, const struct tn_fault_cfg *fab,
	     const struct tn_fault_cfg *fba, int *ifa, int *ifb, struct tn_dev **dev_ab)
{
	char na[16], nb[16];
	snprintf(na, sizeof(na), "s%d-%d", a, b);
	snprintf(nb, sizeof(nb), "s%d-%d", b, a);
	struct tn_dev *da, *db;
	if (tn_memlink_pair(na, nb, TN_DEV_L2, mtu, 4096, &da, &db) < 0)
		return -1;
	if (fab) {
		struct tn_fault_cfg c = *fab;
		c.seed ^= sim->seed;
		da = tn_fault_new(da, &c);
	}
	if (fba) {
		struct tn_fault_cfg c = *fba;
		c.seed ^= sim->seed * 31;
		db = tn_fault_new(db, &c);
	}
	if (dev_ab)
		*dev_ab = da;
	*ifa = tern_dev_attach(sim->st[a], da);
	*ifb = tern_dev_attach(sim->st[b], db);
	return 0;
}

static uint32_t ip_of(const char *s)
{
	struct in_addr a;
	inet_pton(AF_INET, s, &a);
	return ntohl(a.s_addr);
}

void sim_addr(struct sim *sim, int i, int ifindex, const char *cidr)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%s", cidr);
	char *slash = strchr(buf, '/');
	*slash = 0;
	tern_addr_add(sim->st[i], ifindex, ip_of(buf), atoi(slash + 1));
}

void sim_gw(struct sim *sim, int i, const char *gw) { tern_route_add(sim->st[i], 0, 0, ip_of(gw), 0, 0); }

static void quiesce(struct sim *sim)
{
	unsigned work;
	do {
		work = 0;
		for (int i = 0; i < sim->n; i++)
			work += tern_poll(sim->st[i], sim->now);
	} while (work);
}

static uint64_t next_event(struct sim *sim)
{
	uint64_t next = UINT64_MAX;
	for (int i = 0; i < sim->n; i++) {
		uint64_t t = tern_poll_at(sim->st[i]);
		if (t < next)
			next = t;
	}
	return next;
}

bool sim_run_while_not(struct sim *sim, bool (*pred)(void *), void *ctx, uint64_t t)
{
	for (;;) {
		quiesce(sim);
		if (pred && pred(ctx))
			return true;
		uint64_t next = next_event(sim);
		if (next <= sim->now)
			next = sim->now + 1;
		if (next > t) {
			sim->now = t;
			quiesce(sim);
			return pred ? pred(ctx) : false;
		}
		sim->now = next;
	}
}

void sim_run_until(struct sim *sim, uint64_t t) { sim_run_while_not(sim, NULL, NULL, t); }

void sim_pair(struct sim *sim, uint64_t seed, const struct tn_fault_cfg *imp, const char *cidr0, const char *cidr1)
{
	sim_init(sim, seed);
	sim_add(sim, "a");
	sim_add(sim, "b");
	int i0, i1;
	sim_link(sim, 0, 1, 1500, imp, imp, &i0, &i1, NULL);
	sim_addr(sim, 0, i0, cidr0);
	sim_addr(sim, 1, i1, cidr1);
	sim_run_until(sim, sim->now + 1000000000ull);
	sim_mark_baseline(sim);
}

void sim_router3(struct sim *sim, uint64_t seed, int ifs[4])
{
	int i[4];
	sim_init(sim, seed);
	sim_add(sim, "A");
	sim_add(sim, "R");
	sim_add(sim, "B");
	sim_link(sim, 0, 1, 1500, NULL, NULL, &i[0], &i[1], NULL);
	sim_link(sim, 1, 2, 1500, NULL, NULL, &i[2], &i[3], NULL);
	sim_addr(sim, 0, i[0], "198.18.1.2/24");
	sim_addr(sim, 1, i[1], "198.18.1.1/24");
	sim_addr(sim, 1, i[2], "198.18.2.1/24");
	sim_addr(sim, 2, i[3], "198.18.2.2/24");
	sim_gw(sim, 0, "198.18.1.1");
	sim_gw(sim, 2, "198.18.2.1");
	tern_sysctl_set(sim->st[1], "net.ipv4.ip_forward", "1");
	if (ifs)
		memcpy(ifs, i, sizeof(i));
}

void sim_mark_baseline(struct sim *sim)
{
	for (int i = 0; i < sim->n; i++)
		sim->base[i] = tern_pool_in_use(sim->st[i]);
}

bool sim_no_leak(struct sim *sim)
{
	bool ok = true;
	for (int i = 0; i < sim->n; i++) {
		if (tern_pool_in_use(sim->st[i]) != sim->base[i]) {
			fprintf(stderr, "stack %d: %u buffers in use, baseline %u\n", i, tern_pool_in_use(sim->st[i]),
				sim->base[i]);
			ok = false;
		}
	}
	return ok;
}

void sim_free(struct sim *sim)
{
	for (int i = 0; i < sim->n; i++)
		tern_stack_free(sim->st[i]);
	sim->n = 0;
}

int sim_send_udp(struct tn_stack *s, uint32_t src, uint32_t dst, uint16_t sp, uint16_t dp)
{
	struct tn_pkt *p = tn_pkt_alloc(s->pool);
	if (!p)
		return -ENOBUFS;
	uint8_t *u = tn_pkt_put(p, 8 + 8);
	if (!u) {
		tn_pkt_free(p);
		return -ENOBUFS;
	}
	memset(u, 0, 16);
	tn_put16(u, sp);
	tn_put16(u + 2, dp);
	tn_put16(u + 4, 16);
	memcpy(u + 8, "natload!", 8);
	tn_put16(u + 6, tn_csum_fold(tn_csum_partial(u, 16, tn_csum_pseudo4(src, dst, 17, 16))));
	struct tn_ip_out o = {.src = src, .dst = dst, .proto = 17};
	return tn_ip_output(s, p, &o);
}

void sim_send_flows(struct sim *sim, const struct sim_flows *f, uint32_t from, uint32_t to, bool reply)
{
	for (uint32_t i = from; i < to; i++) {
		uint16_t sp = (uint16_t)(1024 + i % f->max), dp = (uint16_t)(7000 + i / f->max);
		int rc = reply ? sim_send_udp(sim->st[f->b], f->b_addr, f->reply_to, dp, sp)
			       : sim_send_udp(sim->st[f->a], f->a_addr, f->b_addr, sp, dp);
		assert_int_equal(rc, 0);
		if ((i - from) % 200 == 199)
			sim_run_until(sim, sim->now + 1000000ull);
	}
	sim_run_until(sim, sim->now + 10000000ull);
}

static int64_t noports(struct sim *sim, int who) { return tern_stat(sim->st[who], "UdpNoPorts"); }

void sim_flows_fill(struct sim *sim, struct sim_flows *f)
{
	struct tn_stack *r = sim->st[f->r];
	f->a_noports = noports(sim, f->a);
	f->b_noports = noports(sim, f->b);
	sim_send_flows(sim, f, 0, f->max, false);
	assert_int_equal(tn_ct_count(r), f->max);
	sim_send_flows(sim, f, 0, f->max, true);
	sim_run_until(sim, sim->now + 3000000000ull);
	sim_send_flows(sim, f, 0, f->max, false);
	assert_int_equal(noports(sim, f->b) - f->b_noports, 2 * (int64_t)f->max);
	assert_int_equal(noports(sim, f->a) - f->a_noports, (int64_t)f->max);
	assert_int_equal(r->ct->stats.drop, 0);
}

void sim_flows_overflow(struct sim *sim, struct sim_flows *f)
{
	sim_send_flows(sim, f, f->max, 2 * f->max, false);
	assert_int_equal(sim->st[f->r]->ct->stats.drop, f->max);
	assert_int_equal(noports(sim, f->b) - f->b_noports, 2 * (int64_t)f->max);
}

void sim_flows_again(struct sim *sim, struct sim_flows *f)
{
	sim_send_flows(sim, f, 0, f->max, false);
	sim_send_flows(sim, f, 0, f->max, true);
	assert_int_equal(noports(sim, f->b) - f->b_noports, 3 * (int64_t)f->max);
	assert_int_equal(noports(sim, f->a) - f->a_noports, 2 * (int64_t)f->max);
}

void sim_flows_expire(struct sim *sim, struct sim_flows *f)
{
	tn_ct_print_stats(sim->st[f->r], stdout);
	sim_run_until(sim, sim->now + 125000000000ull);
	assert_int_equal(tn_ct_count(sim->st[f->r]), 0);
	sim_run_until(sim, sim->now + 10000000000ull);
	assert_true(sim_no_leak(sim));
}
