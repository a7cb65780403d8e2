/* The stack instance: creation, devices and addresses, and the poll loop
 * that drives timers, receive and transmit. */
#include "core/stack.h"
#include "filter/ipt.h"
#include "net/gso.h"
#include "filter/conntrack.h"
#include "filter/nat.h"
#include "wire/csum.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "net/ipv4.h"
#include "wire/wire.h"

#define TN_DEFAULT_POOL 16384
#define TN_RX_BUDGET 256 /* frames per device per poll, so one device cannot starve the rest */

void tn_log(struct tn_stack *s, int level, const char *fmt, ...)
{
	if (!s->log)
		return;
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->log(s->log_ctx, level, msg);
}

struct tn_stack *tern_stack_new(const struct tern_config *cfg)
{
	struct tern_config def = {0};
	if (!cfg)
		cfg = &def;
	struct tn_stack *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	snprintf(s->name, sizeof(s->name), "%s", cfg->name ? cfg->name : "tern");
	s->pool = tn_mempool_new(cfg->pool_size ? cfg->pool_size : TN_DEFAULT_POOL);
	if (!s->pool) {
		free(s);
		return NULL;
	}
	uint64_t seed = cfg->seed;
	if (!seed && getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = (uint64_t)(uintptr_t)s ^ cfg->now;
	tn_rand_seed(&s->rng, seed);
	s->now = cfg->now;
	s->log = cfg->log;
	s->log_ctx = cfg->log_ctx;
	tn_wheel_init(&s->wheel, s->now, s);
	tn_sysctl_defaults(&s->sysctl);
	tn_route_init(&s->routes, tn_rand_u64(&s->rng));
	tn_neigh_init(&s->neigh, tn_rand_u64(&s->rng));
	tn_frag_init(&s->frag, tn_rand_u64(&s->rng));
	tn_icmp_init(&s->icmp);
	tn_sock_table_init(&s->socks);
	tn_tcp_init(s);
	s->ip_id = (uint16_t)tn_rand_u64(&s->rng);
	tn_pktq_init(&s->loopback);
	return s;
}

int tern_stack_set_rss(struct tn_stack *s, unsigned nqueues, unsigned queue, const uint8_t *key)
{
	if (nqueues > 0xffff || (nqueues > 1 && queue >= nqueues)) {
		errno = EINVAL;
		return -1;
	}
	s->rss.nqueues = (uint16_t)(nqueues > 1 ? nqueues : 0);
	s->rss.queue = (uint16_t)(nqueues > 1 ? queue : 0);
	memcpy(s->rss.key, key ? key : tn_rss_default_key, TN_RSS_KEY_LEN);
	return 0;
}

static void iface_sched_free(struct tn_iface *ifc)
{
	tn_pktq_purge(&ifc->requeued);
	tn_qdisc_destroy(ifc->sched.root);
	ifc->sched.root = NULL;
}

void tern_stack_free(struct tn_stack *s)
{
	if (!s)
		return;
	tn_sock_table_destroy(s);
	tn_ipt_destroy(s);
	tn_tcp_destroy(s);
	tn_nat_free(s);
	tn_conntrack_free(s);
	tn_frag_destroy(s);
	tn_neigh_destroy(s);
	tn_route_destroy(&s->routes);
	tn_pktq_purge(&s->loopback);
	for (int i = 1; i <= TN_MAX_IFACES; i++) {
		struct tn_iface *ifc = &s->ifaces[i];
		if (!ifc->dev)
			continue;
		iface_sched_free(ifc);
		tn_dev_destroy(ifc->dev);
	}
	tn_mempool_free(s->pool);
	free(s);
}

int tern_dev_attach(struct tn_stack *s, struct tn_dev *dev)
{
	for (int i = 1; i <= TN_MAX_IFACES; i++) {
		struct tn_iface *ifc = &s->ifaces[i];
		if (ifc->dev)
			continue;
		memset(ifc, 0, sizeof(*ifc));
		ifc->dev = dev;
		ifc->ifindex = i;
		ifc->txqueuelen = 1000;
		ifc->gro = true;
		ifc->gso = true;
		ifc->tso_capable = (dev->features & TN_DEV_F_TSO) != 0;
		tn_pktq_init(&ifc->requeued);
		ifc->sched = (struct tn_qenv){.now = s->now, .wake_at = UINT64_MAX, .rng = &s->rng,
					      .pool = s->pool, .mtu = dev->mtu, .txqueuelen = ifc->txqueuelen};
		ifc->sched.root = tn_qdisc_default(&ifc->sched, TN_TC_H_ROOT, true);
		if (!ifc->sched.root) {
			memset(ifc, 0, sizeof(*ifc));
			errno = ENOMEM;
			return -1;
		}
		dev->now = s->now;
		s->nifaces++;
		return i;
	}
	errno = ENOSPC;
	return -1;
}

static void addr_index_rebuild(struct tn_stack *s);

struct tn_dev *tern_dev_get(struct tn_stack *s, int ifindex)
{
	struct tn_iface *ifc = tn_iface_get(s, ifindex);
	return ifc ? ifc->dev : NULL;
}

int tern_dev_count(const struct tn_stack *s) { return s->nifaces; }

int tern_dev_index(const struct tn_stack *s, const char *name)
{
	for (int i = 1; i <= TN_MAX_IFACES; i++)
		if (s->ifaces[i].dev && strcmp(s->ifaces[i].dev->name, name) == 0)
			return i;
	return -1;
}

int tern_dev_offload(struct tn_stack *s, int ifindex, const char *feature, int on)
{
	struct tn_iface *ifc = tn_iface_get(s, ifindex);
	if (!ifc || !feature)
		return -EINVAL;
	if (strcmp(feature, "gro") == 0) {
		ifc->gro = on;
	} else if (strcmp(feature, "gso") == 0) {
		ifc->gso = on;
	} else if (strcmp(feature, "tso") == 0) {
		if (!on)
			ifc->dev->features &= ~TN_DEV_F_TSO;
		else if (ifc->tso_capable)
			ifc->dev->features |= TN_DEV_F_TSO;
		else
			return -EOPNOTSUPP;
	} else {
		return -EINVAL;
	}
	return 0;
}

int tern_dev_remove(struct tn_stack *s, int ifindex)
{
	struct tn_iface *ifc = tn_iface_get(s, ifindex);
	if (!ifc) {
		errno = ENODEV;
		return -1;
	}
	tn_route_flush_dev(&s->routes, ifindex);
	tn_neigh_flush_dev(s, ifindex);
	iface_sched_free(ifc);
	tn_dev_destroy(ifc->dev);
	memset(ifc, 0, sizeof(*ifc));
	s->nifaces--;
	addr_index_rebuild(s);
	tn_nat_masq_flush(s, ifindex); /* its MASQUERADE entries lost their address */
	return 0;
}

static uint32_t prefix_mask(int plen) { return plen ? ~0u << (32 - plen) : 0; }

int tern_addr_add(struct tn_stack *s, int ifindex, uint32_t addr, int plen)
{
	struct tn_iface *ifc = tn_iface_get(s, ifindex);
	if (!ifc || plen < 0 || plen > 32 || addr == 0) {
		errno = EINVAL;
		return -1;
	}
	if (ifc->naddrs == TN_MAX_ADDRS) {
		errno = ENOSPC;
		return -1;
	}
	for (int i = 0; i < ifc->naddrs; i++)
		if (ifc->addrs[i].addr == addr) {
			errno = EEXIST;
			return -1;
		}
	uint32_t mask = prefix_mask(plen);
	struct tn_ifaddr *a = &ifc->addrs[ifc->naddrs++];
	a->addr = addr;
	a->plen = (uint8_t)plen;
	a->bcast = plen < 31 ? (addr | ~mask) : 0;
	addr_index_rebuild(s);
	struct tn_route r = {
		.dst = addr & mask, .plen = (uint8_t)plen, .type = TN_RT_UNICAST,
		.proto = TN_RTPROT_KERNEL, .scope_link = 1, .prefsrc = addr, .ifindex = ifindex,
	};
	int rc = tn_route_add(&s->routes, &r);
	if (rc < 0 && rc != -EEXIST) {
		ifc->naddrs--;
		addr_index_rebuild(s);
		errno = -rc;
		return -1;
	}
	if (ifc->dev->framing == TN_DEV_L2)
		tn_arp_announce(s, ifindex, addr);
	return 0;
}

int tern_route_add(struct tn_stack *s, uint32_t dst, int plen, uint32_t gw, int ifindex,
		   uint32_t metric)
{
	if (plen < 0 || plen > 32) {
		errno = EINVAL;
		return -1;
	}
	if (ifindex == 0) {
		const struct tn_route *via = gw ? tn_route_lookup(&s->routes, gw) : NULL;
		if (!via || via->gw) { /* the gateway must be on-link */
			errno = ENETUNREACH;
			return -1;
		}
		ifindex = via->ifindex;
	}
	if (!tn_iface_get(s, ifindex)) {
		errno = ENODEV;
		return -1;
	}
	struct tn_route r = {
		.dst = dst & prefix_mask(plen), .plen = (uint8_t)plen, .type = TN_RT_UNICAST,
		.proto = TN_RTPROT_STATIC, .scope_link = gw == 0, .gw = gw, .metric = metric,
		.ifindex = ifindex,
	};
	int rc = tn_route_add(&s->routes, &r);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return 0;
}

int tern_route_del(struct tn_stack *s, uint32_t dst, int plen)
{
	int rc = tn_route_del(&s->routes, dst & prefix_mask(plen), (uint8_t)plen, -1, -1);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return 0;
}

/* Rebuild the flat address lists after an address or device change. */
static void addr_index_rebuild(struct tn_stack *s)
{
	s->nlocals = s->nbcasts = 0;
	for (int i = 1; i <= TN_MAX_IFACES; i++) {
		const struct tn_iface *ifc = &s->ifaces[i];
		if (!ifc->dev)
			continue;
		for (int j = 0; j < ifc->naddrs; j++) {
			s->locals[s->nlocals++] = (struct tn_addr_ref){ifc->addrs[j].addr, i};
			if (ifc->addrs[j].bcast)
				s->bcasts[s->nbcasts++] = (struct tn_addr_ref){ifc->addrs[j].bcast, i};
		}
	}
}

bool tn_addr_is_local(const struct tn_stack *s, uint32_t addr)
{
	for (int i = 0; i < s->nlocals; i++)
		if (s->locals[i].addr == addr)
			return true;
	return false;
}

bool tn_addr_is_bcast(const struct tn_stack *s, uint32_t addr, int ifindex)
{
	if (tn_ip_is_lbcast(addr))
		return true;
	for (int i = 0; i < s->nbcasts; i++)
		if (s->bcasts[i].addr == addr && (ifindex <= 0 || s->bcasts[i].ifindex == ifindex))
			return true;
	return false;
}

uint32_t tn_iface_addr(const struct tn_stack *s, int ifindex, uint32_t near)
{
	if (ifindex <= 0 || ifindex > TN_MAX_IFACES || !s->ifaces[ifindex].dev)
		return 0;
	const struct tn_iface *ifc = &s->ifaces[ifindex];
	if (ifc->naddrs == 0)
		return 0;
	if (near) {
		for (int j = 0; j < ifc->naddrs; j++) {
			uint32_t m = prefix_mask(ifc->addrs[j].plen);
			if ((ifc->addrs[j].addr & m) == (near & m))
				return ifc->addrs[j].addr;
		}
	}
	return ifc->addrs[0].addr;
}

void tn_dev_queue_xmit(struct tn_stack *s, int ifindex, struct tn_pkt *pkt)
{
	struct tn_iface *ifc = tn_iface_get(s, ifindex);
	if (!ifc) {
		tn_drop(s, pkt, TN_IpOutDiscards);
		return;
	}
	ifc->sched.now = s->now;
	ifc->sched_dirty = true;
	if (tn_qdisc_enqueue(ifc->sched.root, pkt) != TN_QDISC_OK) {
		ifc->tx_queue_drops++;
		tn_stat_inc(s, TN_TernExtTxQueueDrops);
	}
}

/* Software GSO for a device that takes wire-sized frames only: the
 * segments go to the requeued list, ahead of anything still queued.  As in
 * Linux, this happens after the qdisc, so it shapes large segments. */
static void gso_to_requeued(struct tn_stack *s, struct tn_iface *ifc, struct tn_pkt *pkt)
{
	uint32_t segs = TN_PKT_SEGS(pkt);
	struct tn_pkt *seg = tn_gso_segment(s->pool, pkt);
	if (!seg) {
		tn_stat_add(s, TN_TernExtGsoFailed, segs);
		return;
	}
	tn_stat_inc(s, TN_TernExtGsoSegmented);
	while (seg) {
		struct tn_pkt *next = seg->qnext;
		tn_pktq_push(&ifc->requeued, seg, seg->pkt_len);
		seg = next;
	}
}

/* Fill a burst: first what the driver refused last time (and GSO's
 * segments), then what the qdisc lets go now. */
static unsigned fill_burst(struct tn_stack *s, struct tn_iface *ifc, struct tn_pkt **burst)
{
	unsigned n = 0;
	while (n < TN_DEV_BURST) {
		struct tn_pkt *p = tn_pktq_pop(&ifc->requeued, ifc->requeued.head ? ifc->requeued.head->pkt_len : 0);
		if (!p)
			p = tn_qdisc_dequeue(ifc->sched.root);
		if (!p)
			break;
		if (p->gso_size && !(ifc->dev->features & TN_DEV_F_TSO)) {
			gso_to_requeued(s, ifc, p);
			continue;
		}
		/* a device that takes a large segment whole finishes its
		 * checksum too (Linux's TSO needs checksum offload): only the
		 * others' frames are summed here */
		if (!(ifc->dev->features & TN_DEV_F_CSUM_OFFLOAD) && !p->gso_size)
			tn_csum_finish(p);
		burst[n++] = p;
	}
	return n;
}

/* Put frames the driver refused back at the head of the requeued list,
 * in order (a requeue, not a drop). */
static void requeue_front(struct tn_iface *ifc, struct tn_pkt **pkts, unsigned n)
{
	for (unsigned i = n; i-- > 0;) {
		pkts[i]->qnext = ifc->requeued.head;
		ifc->requeued.head = pkts[i];
		if (!ifc->requeued.tail)
			ifc->requeued.tail = pkts[i];
		ifc->requeued.count++;
		ifc->requeued.bytes += pkts[i]->pkt_len;
	}
	ifc->sched.root->stats.requeues += n;
}

/* Hand what the qdisc releases to the driver in bursts, until the driver
 * is full or the qdisc holds the rest back (then its watchdog says when). */
static unsigned iface_flush(struct tn_stack *s, struct tn_iface *ifc)
{
	unsigned sent_total = 0;
	struct tn_pkt *burst[TN_DEV_BURST];
	ifc->dev->now = s->now;
	ifc->sched.now = s->now;
	ifc->sched.wake_at = UINT64_MAX;
	ifc->sched_dirty = false;
	for (;;) {
		unsigned n = fill_burst(s, ifc, burst);
		if (n == 0)
			break;
		unsigned sent = tn_dev_tx(ifc->dev, burst, n);
		sent_total += sent;
		if (sent < n) {
			requeue_front(ifc, burst + sent, n - sent);
			break;
		}
	}
	return sent_total;
}

static void gro_deliver(struct tn_stack *s, struct tn_iface *ifc, struct tn_pkt_queue *up)
{
	struct tn_pkt *p;
	while ((p = tn_pktq_pop(up, 0)) != NULL) {
		if (p->gso_segs > 1)
			tn_stat_add(s, TN_TernExtGroMerged, p->gso_segs - 1u);
		tn_ipv4_input(s, ifc->ifindex, p);
	}
}

/* IPv4 from a device: through GRO when the interface has it on. */
static void ip_from_dev(struct tn_stack *s, struct tn_iface *ifc, struct tn_pkt *pkt, struct tn_gro *gro)
{
	if (!ifc->gro) {
		tn_ipv4_input(s, ifc->ifindex, pkt);
		return;
	}
	pkt->l3_off = tn_pkt_off(pkt, pkt->data);
	struct tn_pkt_queue up;
	tn_pktq_init(&up);
	tn_gro_receive(gro, pkt, &up);
	gro_deliver(s, ifc, &up);
}

static void eth_input(struct tn_stack *s, struct tn_iface *ifc, struct tn_pkt *pkt, struct tn_gro *gro)
{
	struct tn_eth_hdr eh;
	if (tn_eth_parse(pkt->data, pkt->len, &eh) < 0) {
		tn_drop(s, pkt, TN_TernExtEthInErrors);
		return;
	}
	pkt->l2_off = tn_pkt_off(pkt, pkt->data);
	if (tn_eth_is_bcast(eh.dst))
		pkt->flags |= TN_PKT_L2_BCAST;
	else if (tn_eth_is_mcast(eh.dst))
		pkt->flags |= TN_PKT_L2_MCAST;
	else if (memcmp(eh.dst, ifc->dev->mac, 6) != 0) {
		tn_drop(s, pkt, TN_TernExtEthInOtherHost);
		return;
	}
	tn_pkt_pull(pkt, TN_ETH_HLEN);
	switch (eh.type) {
	case TN_ETHERTYPE_IPV4:
		ip_from_dev(s, ifc, pkt, gro);
		break;
	case TN_ETHERTYPE_ARP:
		tn_arp_input(s, ifc->ifindex, pkt);
		break;
	default:
		tn_drop(s, pkt, TN_TernExtEthInUnknownType);
	}
}

static void frame_input(struct tn_stack *s, struct tn_iface *ifc, struct tn_pkt *pkt, struct tn_gro *gro)
{
	pkt->ifindex = (uint16_t)ifc->ifindex;
	pkt->tstamp = s->now;
	if (ifc->dev->framing == TN_DEV_L2)
		eth_input(s, ifc, pkt, gro);
	else
		ip_from_dev(s, ifc, pkt, gro);
}

static unsigned iface_receive(struct tn_stack *s, struct tn_iface *ifc)
{
	struct tn_pkt *burst[TN_DEV_BURST];
	unsigned total = 0;
	struct tn_gro gro = {.n = 0};
	while (total < TN_RX_BUDGET) {
		ifc->dev->now = s->now;
		unsigned n = tn_dev_rx(ifc->dev, s->pool, burst, TN_DEV_BURST);
		for (unsigned i = 0; i < n; i++)
			frame_input(s, ifc, burst[i], &gro);
		/* The burst is done: what GRO holds goes up now. */
		struct tn_pkt_queue up;
		tn_pktq_init(&up);
		tn_gro_flush(&gro, &up);
		gro_deliver(s, ifc, &up);
		total += n;
		if (n < TN_DEV_BURST)
			break;
	}
	return total;
}

/* Packets a host sends to itself go round through input on a later pass,
 * as Linux's loopback device does, so input never re-enters output. */
static unsigned loopback_run(struct tn_stack *s)
{
	unsigned n = 0;
	struct tn_pkt_queue q = s->loopback;
	tn_pktq_init(&s->loopback);
	struct tn_pkt *p;
	while ((p = tn_pktq_pop(&q, 0)) != NULL) {
		p->ifindex = 0;
		tn_ipv4_input(s, 0, p);
		n++;
	}
	return n;
}

unsigned tern_poll(struct tn_stack *s, uint64_t now)
{
	unsigned work = 0;
	if (now > s->now)
		s->now = now;
	tn_wheel_run(&s->wheel, s->now);
	for (int i = 1; i <= TN_MAX_IFACES; i++) {
		struct tn_iface *ifc = &s->ifaces[i];
		if (!ifc->dev)
			continue;
		if (ifc->dev->ops->service) {
			ifc->dev->now = s->now;
			ifc->dev->ops->service(ifc->dev, s->now);
		}
		work += iface_receive(s, ifc);
	}
	work += loopback_run(s);
	for (int i = 1; i <= TN_MAX_IFACES; i++)
		if (s->ifaces[i].dev)
			work += iface_flush(s, &s->ifaces[i]);
	if (s->tcp.tsq_head && tn_tcp_tsq_run(s)) { /* queues drained: held-back TCP goes on */
		for (int i = 1; i <= TN_MAX_IFACES; i++)
			if (s->ifaces[i].dev)
				work += iface_flush(s, &s->ifaces[i]);
		work++;
	}
	return work;
}

uint64_t tern_poll_at(struct tn_stack *s)
{
	if (s->loopback.count)
		return s->now;
	uint64_t t = tn_wheel_next(&s->wheel);
	for (int i = 1; i <= TN_MAX_IFACES; i++) {
		struct tn_iface *ifc = &s->ifaces[i];
		if (!ifc->dev)
			continue;
		if (ifc->requeued.count || (ifc->sched.root->stats.qlen && ifc->sched_dirty))
			return s->now;
		if (ifc->sched.root->stats.qlen && ifc->sched.wake_at < t)
			t = ifc->sched.wake_at;
		uint64_t d = tn_dev_next_event(ifc->dev);
		if (d < t)
			t = d;
	}
	return t;
}

uint64_t tern_now(const struct tn_stack *s) { return s->now; }

int64_t tern_stat(const struct tn_stack *s, const char *nstat_name)
{
	int i = tn_stat_lookup(nstat_name);
	return i < 0 ? -1 : (int64_t)s->stats[i];
}

int tern_sysctl_set(struct tn_stack *s, const char *name, const char *value)
{
	return tn_sysctl_set(&s->sysctl, name, value);
}

int tern_sysctl_get(const struct tn_stack *s, const char *name, char *buf, size_t cap)
{
	return tn_sysctl_get(&s->sysctl, name, buf, cap);
}

uint32_t tern_pool_in_use(const struct tn_stack *s) { return tn_mempool_in_use(s->pool); }
