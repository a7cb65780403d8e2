/* Views of a stack in the forms of ip route, ip neigh, ip addr, netstat -s,
 * sysctl and ss. */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "tcp/tcp_cc.h"
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

/* The AF_XDP socket's own counters, as ethtool -S shows a driver's. */
static void show_af_xdp(FILE *f, const struct tn_dev *d)
{
	const struct tn_dev *lower = tn_steer_lower(d);
	if (lower)
		d = lower; /* --cores: the core's own queue */
	const struct tn_af_xdp_stats *x = tn_af_xdp_stats(d);
	if (!x)
		return;
	fprintf(f, "    af_xdp %s: rx_moderated %llu rx_fill_empty %llu rx_ring_full %llu tx_copied %llu tx_tso %llu\n",
		tn_af_xdp_mode(d), (unsigned long long)x->rx_moderated, (unsigned long long)x->rx_fill_empty,
		(unsigned long long)x->rx_ring_full, (unsigned long long)x->tx_copied,
		(unsigned long long)x->tx_tso);
	fprintf(f, "    xdp program (interface): to_tern %llu to_kernel %llu no_socket %llu\n",
		(unsigned long long)x->xdp_to_tern, (unsigned long long)x->xdp_to_kernel,
		(unsigned long long)x->xdp_no_socket);
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
		show_af_xdp(f, ifc->dev);
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
			char v[128];
			tern_sysctl_get(s, key, v, sizeof(v));
			fprintf(f, "%s = %s\n", key, v);
		} else {
			char v[128];
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

/* A rate in bits/s the way ss prints it (iproute2's sprint_bw). */
static const char *bw_str(char *buf, size_t cap, double bps)
{
	if (bps >= 1e12)
		snprintf(buf, cap, "%.3gT", bps / 1e12);
	else if (bps >= 1e9)
		snprintf(buf, cap, "%.3gG", bps / 1e9);
	else if (bps >= 1e6)
		snprintf(buf, cap, "%.3gM", bps / 1e6);
	else if (bps >= 1e3)
		snprintf(buf, cap, "%.3gk", bps / 1e3);
	else
		snprintf(buf, cap, "%g", bps);
	return buf;
}

/* The detail line of ss -i (iproute2's tcp_show_info and tcp_stats_print):
 * the same fields in the same order and forms, each shown only when it
 * has a value, so fields tern does not keep (pmtu, segs_out, busy, ...)
 * stay out.  ts/sack/ecn are ss -o's and left out here as there. */
void ss_info_line(FILE *f, const struct tern_tcp_info *ti, const char *cc, bool listener)
{
	char b[32];
	fputs("\t", f);
	if (cc && cc[0])
		fprintf(f, " %s", cc);
	if (ti->tcpi_options & TCPI_OPT_WSCALE)
		fprintf(f, " wscale:%u,%u", ti->tcpi_snd_wscale, ti->tcpi_rcv_wscale);
	if (ti->tcpi_rto && ti->tcpi_rto != 3000000)
		fprintf(f, " rto:%g", (double)ti->tcpi_rto / 1000);
	if (ti->tcpi_backoff)
		fprintf(f, " backoff:%u", ti->tcpi_backoff);
	if (ti->tcpi_rtt)
		fprintf(f, " rtt:%g/%g", (double)ti->tcpi_rtt / 1000, (double)ti->tcpi_rttvar / 1000);
	if (ti->tcpi_ato)
		fprintf(f, " ato:%g", (double)ti->tcpi_ato / 1000);
	if (ti->tcpi_snd_mss)
		fprintf(f, " mss:%u", ti->tcpi_snd_mss);
	if (ti->tcpi_pmtu)
		fprintf(f, " pmtu:%u", ti->tcpi_pmtu);
	if (ti->tcpi_rcv_mss)
		fprintf(f, " rcvmss:%u", ti->tcpi_rcv_mss);
	if (ti->tcpi_advmss)
		fprintf(f, " advmss:%u", ti->tcpi_advmss);
	if (ti->tcpi_snd_cwnd)
		fprintf(f, " cwnd:%u", ti->tcpi_snd_cwnd);
	if (ti->tcpi_snd_ssthresh && ti->tcpi_snd_ssthresh < 0xffff)
		fprintf(f, " ssthresh:%u", ti->tcpi_snd_ssthresh);
	if (ti->tcpi_bytes_sent)
		fprintf(f, " bytes_sent:%llu", (unsigned long long)ti->tcpi_bytes_sent);
	if (ti->tcpi_bytes_retrans)
		fprintf(f, " bytes_retrans:%llu", (unsigned long long)ti->tcpi_bytes_retrans);
	if (ti->tcpi_bytes_acked)
		fprintf(f, " bytes_acked:%llu", (unsigned long long)ti->tcpi_bytes_acked);
	if (ti->tcpi_bytes_received)
		fprintf(f, " bytes_received:%llu", (unsigned long long)ti->tcpi_bytes_received);
	if (ti->tcpi_segs_out)
		fprintf(f, " segs_out:%u", ti->tcpi_segs_out);
	if (ti->tcpi_segs_in)
		fprintf(f, " segs_in:%u", ti->tcpi_segs_in);
	if (ti->tcpi_data_segs_out)
		fprintf(f, " data_segs_out:%u", ti->tcpi_data_segs_out);
	if (ti->tcpi_data_segs_in)
		fprintf(f, " data_segs_in:%u", ti->tcpi_data_segs_in);
	if (ti->tcpi_rtt && ti->tcpi_snd_mss && ti->tcpi_snd_cwnd)
		fprintf(f, " send %sbps",
			bw_str(b, sizeof(b), (double)ti->tcpi_snd_cwnd * ti->tcpi_snd_mss * 8000000. / ti->tcpi_rtt));
	if (ti->tcpi_last_data_sent)
		fprintf(f, " lastsnd:%u", ti->tcpi_last_data_sent);
	if (ti->tcpi_last_data_recv)
		fprintf(f, " lastrcv:%u", ti->tcpi_last_data_recv);
	if (ti->tcpi_last_ack_recv)
		fprintf(f, " lastack:%u", ti->tcpi_last_ack_recv);
	if (ti->tcpi_pacing_rate && ti->tcpi_pacing_rate != UINT64_MAX) {
		fprintf(f, " pacing_rate %sbps", bw_str(b, sizeof(b), (double)ti->tcpi_pacing_rate * 8));
		if (ti->tcpi_max_pacing_rate && ti->tcpi_max_pacing_rate != UINT64_MAX)
			fprintf(f, "/%sbps", bw_str(b, sizeof(b), (double)ti->tcpi_max_pacing_rate * 8));
	}
	if (ti->tcpi_delivery_rate)
		fprintf(f, " delivery_rate %sbps", bw_str(b, sizeof(b), (double)ti->tcpi_delivery_rate * 8));
	if (ti->tcpi_delivered)
		fprintf(f, " delivered:%u", ti->tcpi_delivered);
	if (ti->tcpi_delivered_ce)
		fprintf(f, " delivered_ce:%u", ti->tcpi_delivered_ce);
	if (ti->tcpi_delivery_rate_app_limited)
		fprintf(f, " app_limited");
	if (ti->tcpi_busy_time) {
		fprintf(f, " busy:%llums", (unsigned long long)ti->tcpi_busy_time / 1000);
		if (ti->tcpi_rwnd_limited)
			fprintf(f, " rwnd_limited:%llums(%.1f%%)", (unsigned long long)ti->tcpi_rwnd_limited / 1000,
				100.0 * (double)ti->tcpi_rwnd_limited / (double)ti->tcpi_busy_time);
		if (ti->tcpi_sndbuf_limited)
			fprintf(f, " sndbuf_limited:%llums(%.1f%%)", (unsigned long long)ti->tcpi_sndbuf_limited / 1000,
				100.0 * (double)ti->tcpi_sndbuf_limited / (double)ti->tcpi_busy_time);
	}
	if (ti->tcpi_unacked)
		fprintf(f, " unacked:%u", ti->tcpi_unacked);
	if (ti->tcpi_retrans || ti->tcpi_total_retrans)
		fprintf(f, " retrans:%u/%u", ti->tcpi_retrans, ti->tcpi_total_retrans);
	if (ti->tcpi_lost)
		fprintf(f, " lost:%u", ti->tcpi_lost);
	if (ti->tcpi_sacked && !listener)
		fprintf(f, " sacked:%u", ti->tcpi_sacked);
	if (ti->tcpi_dsack_dups)
		fprintf(f, " dsack_dups:%u", ti->tcpi_dsack_dups);
	if (ti->tcpi_fackets)
		fprintf(f, " fackets:%u", ti->tcpi_fackets);
	if (ti->tcpi_reordering != 3)
		fprintf(f, " reordering:%u", ti->tcpi_reordering);
	if (ti->tcpi_reord_seen)
		fprintf(f, " reord_seen:%u", ti->tcpi_reord_seen);
	if (ti->tcpi_rcv_rtt)
		fprintf(f, " rcv_rtt:%g", (double)ti->tcpi_rcv_rtt / 1000);
	if (ti->tcpi_rcv_space)
		fprintf(f, " rcv_space:%u", ti->tcpi_rcv_space);
	if (ti->tcpi_rcv_ssthresh)
		fprintf(f, " rcv_ssthresh:%u", ti->tcpi_rcv_ssthresh);
	if (ti->tcpi_notsent_bytes)
		fprintf(f, " notsent:%u", ti->tcpi_notsent_bytes);
	if (ti->tcpi_min_rtt && ti->tcpi_min_rtt != UINT32_MAX)
		fprintf(f, " minrtt:%g", (double)ti->tcpi_min_rtt / 1000);
	fputc('\n', f);
}

static void ss_entry(struct tn_stack *s, FILE *f, const struct tn_tcb *t, bool info)
{
	ss_line(f, t);
	/* ss has no TCP_INFO for a TIME-WAIT socket (the kernel keeps only a
	 * timewait sock) and prints nothing under it */
	if (!info || t->state == TN_TCP_TIME_WAIT)
		return;
	struct tern_tcp_info ti;
	tn_tcp_info(s, t, &ti);
	ss_info_line(f, &ti, t->cc ? t->cc->name : NULL, t->state == TN_TCP_LISTEN);
}

void show_ss(struct tn_stack *s, FILE *f, bool info)
{
	fprintf(f, "%-11s %-6s %-6s %-25s %-25s\n", "State", "Recv-Q", "Send-Q", "Local Address:Port",
		"Peer Address:Port");
	for (int i = 0; i < 256; i++)
		for (const struct tn_tcb *t = s->tcp.listeners[i]; t; t = t->hnext)
			ss_entry(s, f, t, info);
	for (uint32_t i = 0; i < s->tcp.nconns; i++)
		for (const struct tn_tcb *t = s->tcp.conns[i]; t; t = t->hnext)
			ss_entry(s, f, t, info);
}

/* `ss [-i]`: also takes -t, -a and -n (and them combined, as -tani), which
 * describe what tern's ss always shows. */
int run_ss(struct tn_stack *s, int argc, char **argv, FILE *f)
{
	bool info = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--info") == 0) {
			info = true;
			continue;
		}
		if (strcmp(a, "--tcp") == 0 || strcmp(a, "--all") == 0 || strcmp(a, "--numeric") == 0)
			continue;
		if (a[0] != '-' || !a[1] || strspn(a + 1, "tani") != strlen(a + 1)) {
			fprintf(f, "usage: ss [-i] (also -t, -a, -n: TCP sockets, all of them, numeric)\n");
			return 2;
		}
		if (strchr(a + 1, 'i'))
			info = true;
	}
	show_ss(s, f, info);
	return 0;
}
