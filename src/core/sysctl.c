#include "core/sysctl.h"
#include "tcp/tcp_cc.h"
#include "tcp/tcp_fastopen.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Conntrack timeouts: at most 100 days (its clock compares 32-bit ticks). */
#define CT_TO_MAX (100 * 86400)
#define E(n, field, cnt, lo, hi) {n, offsetof(struct tn_sysctl, field), cnt, lo, hi, NULL, NULL}
#define S(n, field, check) {n, offsetof(struct tn_sysctl, field), 0, 0, sizeof(((struct tn_sysctl *)0)->field), check, NULL}
#define SC(n, field, check, canon) \
	{n, offsetof(struct tn_sysctl, field), 0, 0, sizeof(((struct tn_sysctl *)0)->field), check, canon}

static bool cc_name_valid(const char *v) { return tn_tcp_cc_find(v) != NULL; }
static bool tfo_key_valid(const char *v)
{
	uint8_t keys[2][16];
	return tn_tcp_fastopen_key_parse(v, keys) > 0;
}
static void tfo_key_canon(char *v, size_t cap)
{
	uint8_t keys[2][16];
	int n = tn_tcp_fastopen_key_parse(v, keys);
	if (n > 0)
		tn_tcp_fastopen_key_format(keys, n, v, cap);
}

const struct tn_sysctl_entry tn_sysctl_table[] = {
	E("net.ipv4.ip_default_ttl", ip_default_ttl, 1, 1, 255),
	E("net.ipv4.ip_forward", ip_forward, 1, 0, 1),
	E("net.ipv4.ip_local_port_range", ip_local_port_range, 2, 1, 65535),
	E("net.ipv4.ip_no_pmtu_disc", ip_no_pmtu_disc, 1, 0, 3),
	E("net.ipv4.ipfrag_time", ipfrag_time, 1, 1, INT_MAX),
	E("net.ipv4.ipfrag_high_thresh", ipfrag_high_thresh, 1, 0, INT_MAX),
	E("net.ipv4.ipfrag_low_thresh", ipfrag_low_thresh, 1, 0, INT_MAX),
	E("net.ipv4.icmp_echo_ignore_all", icmp_echo_ignore_all, 1, 0, 1),
	E("net.ipv4.icmp_echo_ignore_broadcasts", icmp_echo_ignore_broadcasts, 1, 0, 1),
	E("net.ipv4.icmp_ignore_bogus_error_responses", icmp_ignore_bogus_error_responses, 1, 0, 1),
	E("net.ipv4.icmp_ratelimit", icmp_ratelimit, 1, 0, INT_MAX),
	E("net.ipv4.icmp_ratemask", icmp_ratemask, 1, 0, INT_MAX),
	E("net.ipv4.icmp_msgs_per_sec", icmp_msgs_per_sec, 1, 0, INT_MAX),
	E("net.ipv4.icmp_msgs_burst", icmp_msgs_burst, 1, 0, INT_MAX),
	E("net.ipv4.route.mtu_expires", route_mtu_expires, 1, 1, INT_MAX),
	E("net.ipv4.route.min_pmtu", route_min_pmtu, 1, 68, 65535),
	E("net.ipv4.tcp_syn_retries", tcp_syn_retries, 1, 1, 127),
	E("net.ipv4.tcp_synack_retries", tcp_synack_retries, 1, 0, 255),
	E("net.ipv4.tcp_retries2", tcp_retries2, 1, 0, 255),
	E("net.ipv4.tcp_fin_timeout", tcp_fin_timeout, 1, 1, INT_MAX),
	E("net.ipv4.tcp_orphan_retries", tcp_orphan_retries, 1, 0, 255),
	E("net.ipv4.tcp_max_syn_backlog", tcp_max_syn_backlog, 1, 1, INT_MAX),
	E("net.ipv4.tcp_timestamps", tcp_timestamps, 1, 0, 1),
	E("net.ipv4.tcp_window_scaling", tcp_window_scaling, 1, 0, 1),
	E("net.ipv4.tcp_sack", tcp_sack, 1, 0, 1),
	E("net.ipv4.tcp_rmem", tcp_rmem, 3, 1, INT_MAX),
	E("net.ipv4.tcp_wmem", tcp_wmem, 3, 1, INT_MAX),
	E("net.core.somaxconn", core_somaxconn, 1, 0, INT_MAX),
	E("net.ipv4.tcp_keepalive_time", tcp_keepalive_time, 1, 1, INT_MAX),
	E("net.ipv4.tcp_keepalive_intvl", tcp_keepalive_intvl, 1, 1, INT_MAX),
	E("net.ipv4.tcp_keepalive_probes", tcp_keepalive_probes, 1, 1, 127),
	E("net.ipv4.tcp_syncookies", tcp_syncookies, 1, 0, 2),
	E("net.ipv4.tcp_abort_on_overflow", tcp_abort_on_overflow, 1, 0, 1),
	E("net.ipv4.tcp_tw_reuse", tcp_tw_reuse, 1, 0, 2),
	E("net.ipv4.tcp_max_tw_buckets", tcp_max_tw_buckets, 1, 0, INT_MAX),
	E("net.ipv4.tcp_invalid_ratelimit", tcp_invalid_ratelimit, 1, 0, INT_MAX),
	E("net.ipv4.tcp_challenge_ack_limit", tcp_challenge_ack_limit, 1, 0, INT_MAX),
	E("net.ipv4.tcp_moderate_rcvbuf", tcp_moderate_rcvbuf, 1, 0, 1),
	E("net.ipv4.tcp_dsack", tcp_dsack, 1, 0, 1),
	E("net.ipv4.tcp_recovery", tcp_recovery, 1, 0, 7),
	E("net.ipv4.tcp_early_retrans", tcp_early_retrans, 1, 0, 4),
	E("net.ipv4.tcp_frto", tcp_frto, 1, 0, 2),
	E("net.ipv4.tcp_reordering", tcp_reordering, 1, 1, 300),
	E("net.ipv4.tcp_slow_start_after_idle", tcp_slow_start_after_idle, 1, 0, 1),
	E("net.ipv4.tcp_pacing_ss_ratio", tcp_pacing_ss_ratio, 1, 0, 1000),
	E("net.ipv4.tcp_pacing_ca_ratio", tcp_pacing_ca_ratio, 1, 0, 1000),
	E("net.ipv4.tcp_ecn", tcp_ecn, 1, 0, 2),
	E("net.ipv4.tcp_fastopen", tcp_fastopen, 1, 0, 0xfff),
	SC("net.ipv4.tcp_fastopen_key", tcp_fastopen_key, tfo_key_valid, tfo_key_canon),
	S("net.ipv4.tcp_congestion_control", tcp_congestion_control, cc_name_valid),
	S("net.ipv4.tcp_available_congestion_control", tcp_available_congestion_control, NULL),
	E("net.ipv4.conf.all.accept_source_route", accept_source_route, 1, 0, 1),
	E("net.core.rmem_default", core_rmem_default, 1, 4096, INT_MAX),
	E("net.core.rmem_max", core_rmem_max, 1, 4096, INT_MAX),
	E("net.core.wmem_default", core_wmem_default, 1, 4096, INT_MAX),
	E("net.core.wmem_max", core_wmem_max, 1, 4096, INT_MAX),
	E("net.ipv4.neigh.default.base_reachable_time_ms", neigh_base_reachable_time_ms, 1, 1, INT_MAX),
	E("net.ipv4.neigh.default.retrans_time_ms", neigh_retrans_time_ms, 1, 1, INT_MAX),
	E("net.ipv4.neigh.default.delay_first_probe_time", neigh_delay_first_probe_time, 1, 1, INT_MAX),
	E("net.ipv4.neigh.default.mcast_solicit", neigh_mcast_solicit, 1, 0, 255),
	E("net.ipv4.neigh.default.ucast_solicit", neigh_ucast_solicit, 1, 0, 255),
	E("net.ipv4.neigh.default.unres_qlen_bytes", neigh_unres_qlen_bytes, 1, 0, INT_MAX),
	E("net.ipv4.neigh.default.gc_stale_time", neigh_gc_stale_time, 1, 1, INT_MAX),
	E("net.netfilter.nf_conntrack_max", nf_conntrack_max, 1, 0, 1 << 27),
	E("net.netfilter.nf_conntrack_tcp_timeout_syn_sent", nf_conntrack_tcp_timeout[1], 1, 0, CT_TO_MAX),
	E("net.netfilter.nf_conntrack_tcp_timeout_syn_recv", nf_conntrack_tcp_timeout[2], 1, 0, CT_TO_MAX),
	E("net.netfilter.nf_conntrack_tcp_timeout_established", nf_conntrack_tcp_timeout[3], 1, 0, CT_TO_MAX),
	E("net.netfilter.nf_conntrack_tcp_timeout_fin_wait", nf_conntrack_tcp_timeout[4], 1, 0, CT_TO_MAX),
	E("net.netfilter.nf_conntrack_tcp_timeout_close_wait", nf_conntrack_tcp_timeout[5], 1, 0, CT_TO_MAX),
	E("net.netfilter.nf_conntrack_tcp_timeout_last_ack", nf_conntrack_tcp_timeout[6], 1, 0, CT_TO_MAX),
	E("net.netfilter.nf_conntrack_tcp_timeout_time_wait", nf_conntrack_tcp_timeout[7], 1, 0, CT_TO_MAX),
	E("net.netfilter.nf_conntrack_tcp_timeout_close", nf_conntrack_tcp_timeout[8], 1, 0, CT_TO_MAX),
	E("net.netfilter.nf_conntrack_tcp_timeout_max_retrans", nf_conntrack_tcp_timeout[10], 1, 0, CT_TO_MAX),
	E("net.netfilter.nf_conntrack_tcp_timeout_unacknowledged", nf_conntrack_tcp_timeout[11], 1, 0, CT_TO_MAX),
	E("net.netfilter.nf_conntrack_tcp_loose", nf_conntrack_tcp_loose, 1, 0, 1),
	E("net.netfilter.nf_conntrack_tcp_be_liberal", nf_conntrack_tcp_be_liberal, 1, 0, 1),
	E("net.netfilter.nf_conntrack_tcp_max_retrans", nf_conntrack_tcp_max_retrans, 1, 0, 255),
	E("net.netfilter.nf_conntrack_udp_timeout", nf_conntrack_udp_timeout, 1, 0, CT_TO_MAX),
	E("net.netfilter.nf_conntrack_udp_timeout_stream", nf_conntrack_udp_timeout_stream, 1, 0, CT_TO_MAX),
	E("net.netfilter.nf_conntrack_icmp_timeout", nf_conntrack_icmp_timeout, 1, 0, CT_TO_MAX),
	E("net.netfilter.nf_conntrack_generic_timeout", nf_conntrack_generic_timeout, 1, 0, CT_TO_MAX),
	E("net.netfilter.nf_conntrack_checksum", nf_conntrack_checksum, 1, 0, 1),
};
const size_t tn_sysctl_table_len = sizeof(tn_sysctl_table) / sizeof(tn_sysctl_table[0]);

void tn_sysctl_defaults(struct tn_sysctl *sc)
{
	memset(sc, 0, sizeof(*sc));
	sc->ip_default_ttl = 64;
	sc->ip_forward = 0;
	sc->ip_local_port_range[0] = 32768;
	sc->ip_local_port_range[1] = 60999;
	sc->ipfrag_time = 30;
	sc->ipfrag_high_thresh = 4 * 1024 * 1024;
	sc->ipfrag_low_thresh = 3 * 1024 * 1024;
	sc->icmp_echo_ignore_broadcasts = 1;
	sc->icmp_ignore_bogus_error_responses = 1;
	sc->icmp_ratelimit = 1000;
	sc->icmp_ratemask = 6168;
	sc->icmp_msgs_per_sec = 1000;
	sc->icmp_msgs_burst = 50;
	sc->route_mtu_expires = 600;
	sc->route_min_pmtu = 552;
	sc->core_rmem_default = 212992;
	sc->core_rmem_max = 212992;
	sc->core_wmem_default = 212992;
	sc->core_wmem_max = 212992;
	sc->neigh_base_reachable_time_ms = 30000;
	sc->neigh_retrans_time_ms = 1000;
	sc->neigh_delay_first_probe_time = 5;
	sc->neigh_mcast_solicit = 3;
	sc->neigh_ucast_solicit = 3;
	sc->neigh_unres_qlen_bytes = 212992;
	sc->neigh_gc_stale_time = 60;
	sc->tcp_syn_retries = 6;
	sc->tcp_synack_retries = 5;
	sc->tcp_retries2 = 15;
	sc->tcp_fin_timeout = 60;
	sc->tcp_orphan_retries = 0; /* Linux: 0 means 8 */
	sc->tcp_max_syn_backlog = 4096;
	sc->tcp_timestamps = 1;
	sc->tcp_window_scaling = 1;
	sc->tcp_sack = 1;
	sc->tcp_rmem[0] = 4096, sc->tcp_rmem[1] = 131072, sc->tcp_rmem[2] = 6291456;
	sc->tcp_wmem[0] = 4096, sc->tcp_wmem[1] = 16384, sc->tcp_wmem[2] = 4194304;
	sc->core_somaxconn = 4096;
	sc->tcp_keepalive_time = 7200;
	sc->tcp_keepalive_intvl = 75;
	sc->tcp_keepalive_probes = 9;
	sc->tcp_syncookies = 1;
	sc->tcp_abort_on_overflow = 0;
	sc->tcp_tw_reuse = 2;
	sc->tcp_max_tw_buckets = 131072; /* what Linux sizes for a few GiB of memory */
	sc->tcp_invalid_ratelimit = 500;
	sc->tcp_challenge_ack_limit = 1000; /* Linux before 6.0; later ones rely on the per-connection limit */
	sc->tcp_moderate_rcvbuf = 1;
	sc->tcp_dsack = 1;
	sc->tcp_recovery = 1;
	sc->tcp_early_retrans = 3;
	sc->tcp_frto = 2;
	sc->tcp_reordering = 3;
	sc->tcp_slow_start_after_idle = 1;
	sc->tcp_pacing_ss_ratio = 200;
	sc->tcp_pacing_ca_ratio = 120;
	sc->tcp_ecn = 2;
	sc->tcp_fastopen = 1; /* client only, as Linux; the key comes with the TCP tables */
	snprintf(sc->tcp_congestion_control, sizeof(sc->tcp_congestion_control), "cubic");
	snprintf(sc->tcp_available_congestion_control, sizeof(sc->tcp_available_congestion_control), "%s",
		 tn_tcp_cc_available());
	/* Linux's defaults; nf_conntrack_max is what Linux sizes for >= 4 GiB
	 * (entries are allocated as flows arrive, not up front). */
	sc->nf_conntrack_max = 262144;
	static const int tcp_to[12] = {0, 120, 60, 432000, 120, 60, 30, 120, 10, 120, 300, 300};
	memcpy(sc->nf_conntrack_tcp_timeout, tcp_to, sizeof(tcp_to));
	sc->nf_conntrack_tcp_loose = 1;
	sc->nf_conntrack_tcp_be_liberal = 0;
	sc->nf_conntrack_tcp_max_retrans = 3;
	sc->nf_conntrack_udp_timeout = 30;
	sc->nf_conntrack_udp_timeout_stream = 120;
	sc->nf_conntrack_icmp_timeout = 30;
	sc->nf_conntrack_generic_timeout = 600;
	sc->nf_conntrack_checksum = 1;
}

const struct tn_sysctl_entry *tn_sysctl_find(const char *name)
{
	/* Accept the /proc/sys path form too: net/ipv4/ip_forward. */
	char norm[128];
	size_t n = strlen(name);
	if (n >= sizeof(norm))
		return NULL;
	for (size_t i = 0; i <= n; i++)
		norm[i] = name[i] == '/' ? '.' : name[i];
	for (size_t i = 0; i < tn_sysctl_table_len; i++)
		if (strcmp(tn_sysctl_table[i].name, norm) == 0)
			return &tn_sysctl_table[i];
	return NULL;
}

int tn_sysctl_set(struct tn_sysctl *sc, const char *name, const char *value)
{
	const struct tn_sysctl_entry *e = tn_sysctl_find(name);
	if (!e)
		return -ENOENT;
	if (e->count == 0) {
		size_t n = strcspn(value, " \t\n");
		if (!e->valid)
			return -EPERM;
		if (n == 0 || n >= (size_t)e->max || value[n + strspn(value + n, " \t\n")])
			return -EINVAL;
		char v[128];
		memcpy(v, value, n);
		v[n] = 0;
		if (!e->valid(v))
			return -EINVAL;
		if (e->canon)
			e->canon(v, (size_t)e->max);
		memcpy((char *)sc + e->offset, v, strlen(v) + 1);
		return 0;
	}
	int vals[4];
	const char *p = value;
	for (int i = 0; i < e->count; i++) {
		char *end;
		errno = 0;
		long v = strtol(p, &end, 10);
		if (end == p || errno || v < e->min || v > e->max)
			return -EINVAL;
		vals[i] = (int)v;
		p = end;
	}
	while (*p == ' ' || *p == '\t' || *p == '\n')
		p++;
	if (*p)
		return -EINVAL;
	if (e->count >= 2 && (vals[0] > vals[1] || (e->count == 3 && vals[1] > vals[2])))
		return -EINVAL;
	memcpy((char *)sc + e->offset, vals, sizeof(int) * (size_t)e->count);
	return 0;
}

int tn_sysctl_get(const struct tn_sysctl *sc, const char *name, char *buf, size_t cap)
{
	const struct tn_sysctl_entry *e = tn_sysctl_find(name);
	if (!e)
		return -ENOENT;
	const int *v = (const int *)((const char *)sc + e->offset);
	size_t off = 0;
	if (cap) /* a zero-sized buffer gets nothing, not even the NUL */
		buf[0] = 0;
	if (e->count == 0) {
		if (cap)
			snprintf(buf, cap, "%s", (const char *)sc + e->offset);
		return 0;
	}
	for (int i = 0; i < e->count && off < cap; i++)
		off += (size_t)snprintf(buf + off, cap - off, i ? "\t%d" : "%d", v[i]);
	return 0;
}

void tn_sysctl_print(FILE *f, const struct tn_sysctl *sc, const char *filter)
{
	char buf[128];
	for (size_t i = 0; i < tn_sysctl_table_len; i++) {
		if (filter && !strstr(tn_sysctl_table[i].name, filter))
			continue;
		tn_sysctl_get(sc, tn_sysctl_table[i].name, buf, sizeof(buf));
		fprintf(f, "%s = %s\n", tn_sysctl_table[i].name, buf);
	}
}

