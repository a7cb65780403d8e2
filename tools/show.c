/* Views of a stack in the forms of ip route, ip neigh, ip addr, netstat -s
 * and sysctl. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "tools.h"

struct route_ctx {
	struct tn_stack *s;
	FILE *f;
};

static void print_route(const struct tn_route *r, void *arg)
{
	struct route_ctx *c = arg;
	char a[INET_ADDRSTRLEN], g[INET_ADDRSTRLEN], src[INET_ADDRSTRLEN];
	struct tn_dev *d = tern_dev_get(c->s, r->ifindex);
	if (r->plen == 0)
		fprintf(c->f, "default");
	else
		fprintf(c->f, "%s/%u", ip_str(r->dst, a), r->plen);
	if (r->gw)
		fprintf(c->f, " via %s", ip_str(r->gw, g));
	fprintf(c->f, " dev %s", d ? d->name : "?");
	if (r->proto == TN_RTPROT_KERNEL)
		fprintf(c->f, " proto kernel");
	if (r->scope_link)
		fprintf(c->f, " scope link");
	if (r->prefsrc)
		fprintf(c->f, " src %s", ip_str(r->prefsrc, src));
	if (r->metric)
		fprintf(c->f, " metric %u", r->metric);
	fprintf(c->f, "\n");
}

void show_route(struct tn_stack *s, FILE *f)
{
	struct route_ctx c = {s, f};
	tn_route_foreach(&s->routes, print_route, &c);
}

static void print_neigh(const struct tn_neigh *n, void *arg)
{
	struct route_ctx *c = arg;
	char a[INET_ADDRSTRLEN];
	struct tn_dev *d = tern_dev_get(c->s, n->ifindex);
	fprintf(c->f, "%s dev %s", ip_str(n->ip, a), d ? d->name : "?");
	if (n->state != TN_NUD_INCOMPLETE && n->state != TN_NUD_FAILED)
		fprintf(c->f, " lladdr %02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1], n->mac[2],
			n->mac[3], n->mac[4], n->mac[5]);
	fprintf(c->f, " %s\n", tn_nud_name(n->state));
}

void show_neigh(struct tn_stack *s, FILE *f)
{
	struct route_ctx c = {s, f};
	tn_neigh_foreach(&s->neigh, print_neigh, &c);
}

void show_addr(struct tn_stack *s, FILE *f)
{
	for (int i = 1; i <= TN_MAX_IFACES; i++) {
		struct tn_iface *ifc = &s->ifaces[i];
		if (!ifc->dev)
			continue;
		const uint8_t *m = ifc->dev->mac;
		fprintf(f, "%d: %s: mtu %u qlen %u\n", i, ifc->dev->name, ifc->dev->mtu, ifc->txqueuelen);
		if (ifc->dev->framing == TN_DEV_L2)
			fprintf(f, "    link/ether %02x:%02x:%02x:%02x:%02x:%02x\n", m[0], m[1], m[2], m[3],
				m[4], m[5]);
		else
			fprintf(f, "    link/none\n");
		for (int j = 0; j < ifc->naddrs; j++) {
			char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
			fprintf(f, "    inet %s/%u", ip_str(ifc->addrs[j].addr, a), ifc->addrs[j].plen);
			if (ifc->addrs[j].bcast)
				fprintf(f, " brd %s", ip_str(ifc->addrs[j].bcast, b));
			fprintf(f, " dev %s\n", ifc->dev->name);
		}
		const struct tn_dev_stats *st = &ifc->dev->stats;
		fprintf(f, "    RX: %llu packets %llu bytes %llu dropped  TX: %llu packets %llu bytes %llu dropped\n",
			(unsigned long long)st->rx_packets, (unsigned long long)st->rx_bytes,
			(unsigned long long)st->rx_dropped, (unsigned long long)st->tx_packets,
			(unsigned long long)st->tx_bytes,
			(unsigned long long)(st->tx_dropped + ifc->tx_queue_drops));
	}
}

void show_stat(struct tn_stack *s, FILE *f, bool nstat)
{
	if (nstat)
		tn_stats_print_nstat(f, s->stats, 0);
	else
		tn_stats_print_netstat(f, s->stats);
}

int run_sysctl(struct tn_stack *s, int argc, char **argv, FILE *f)
{
	int rc = 0;
	bool any = false;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "-a") == 0)
			continue;
		if (strcmp(arg, "-w") == 0)
			continue;
		any = true;
		const char *eq = strchr(arg, '=');
		if (eq) {
			char key[128];
			snprintf(key, sizeof(key), "%.*s", (int)(eq - arg), arg);
			int e = tern_sysctl_set(s, key, eq + 1);
			if (e < 0) {
				fprintf(f, "sysctl: %s \"%s\": %s\n",
					e == -ENOENT ? "cannot stat" : "setting key", key,
					e == -ENOENT ? "No such file or directory" : "Invalid argument");
				rc = 1;
				continue;
			}
			char v[64];
			tern_sysctl_get(s, key, v, sizeof(v));
			fprintf(f, "%s = %s\n", key, v);
		} else {
			char v[64];
			if (tern_sysctl_get(s, arg, v, sizeof(v)) < 0) {
				fprintf(f, "sysctl: cannot stat %s: No such file or directory\n", arg);
				rc = 1;
				continue;
			}
			fprintf(f, "%s = %s\n", arg, v);
		}
	}
	if (!any)
		tn_sysctl_print(f, &s->sysctl, NULL);
	return rc;
}

int run_route(struct tn_stack *s, int argc, char **argv, FILE *f)
{
	if (argc < 2 || strcmp(argv[1], "show") == 0 || strcmp(argv[1], "list") == 0) {
		show_route(s, f);
		return 0;
	}
	bool add = strcmp(argv[1], "add") == 0, del = strcmp(argv[1], "del") == 0;
	uint32_t dst, gw = 0;
	int plen, ifindex = 0;
	long metric = 0;
	if ((!add && !del) || argc < 3 || parse_prefix(argv[2], &dst, &plen) < 0) {
		fprintf(f, "usage: route [show] | route add|del PREFIX [via GW] [dev IF] [metric N]\n");
		return 1;
	}
	for (int i = 3; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "via") == 0 && parse_ip(argv[i + 1], &gw) == 0)
			continue;
		if (strcmp(argv[i], "dev") == 0 && (ifindex = tern_dev_index(s, argv[i + 1])) > 0)
			continue;
		if (strcmp(argv[i], "metric") == 0) {
			metric = strtol(argv[i + 1], NULL, 10);
			continue;
		}
		fprintf(f, "Error: bad argument \"%s %s\"\n", argv[i], argv[i + 1]);
		return 1;
	}
	int rc = add ? tern_route_add(s, dst, plen, gw, ifindex, (uint32_t)metric) : tern_route_del(s, dst, plen);
	if (rc < 0) {
		fprintf(f, "Error: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

static void ss_line(FILE *f, const struct tn_tcb *t)
{
	char la[INET_ADDRSTRLEN], ra[INET_ADDRSTRLEN], l[64], r[64];
	snprintf(l, sizeof(l), "%s:%u", ip_str(t->laddr, la), t->lport);
	if (t->state == TN_TCP_LISTEN)
		snprintf(r, sizeof(r), "0.0.0.0:*");
	else
		snprintf(r, sizeof(r), "%s:%u", ip_str(t->raddr, ra), t->rport);
	/* As ss: a listener's Recv-Q is its accept queue and Send-Q its backlog;
	 * a connection's are bytes not yet read and bytes not yet acknowledged. */
	uint32_t rq = t->state == TN_TCP_LISTEN ? t->accept_len : t->rcvq.bytes;
	uint32_t sq = t->state == TN_TCP_LISTEN ? t->backlog : t->snd.len;
	fprintf(f, "%-11s %-6u %-6u %-25s %-25s\n", tn_tcp_state_name(t->state), rq, sq, l, r);
}

void show_ss(struct tn_stack *s, FILE *f)
{
	fprintf(f, "%-11s %-6s %-6s %-25s %-25s\n", "State", "Recv-Q", "Send-Q", "Local Address:Port",
		"Peer Address:Port");
	for (int i = 0; i < 256; i++)
		for (const struct tn_tcb *t = s->tcp.listeners[i]; t; t = t->hnext)
			ss_line(f, t);
	for (uint32_t i = 0; i < s->tcp.nconns; i++)
		for (const struct tn_tcb *t = s->tcp.conns[i]; t; t = t->hnext)
			ss_line(f, t);
}
