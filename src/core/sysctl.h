/* Sysctl-style settings with Linux's names and defaults.  Each stack has
 * its own struct tn_sysctl; the registry maps "net.ipv4.ip_default_ttl" to
 * a field so tools can read and write by name. */
#ifndef TN_SYSCTL_H
#define TN_SYSCTL_H

#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>

struct tn_sysctl {
	int ip_default_ttl;
	int ip_forward;
	int ip_local_port_range[2];
	int ip_no_pmtu_disc;
	int ipfrag_time;
	int ipfrag_high_thresh;
	int ipfrag_low_thresh;
	int icmp_echo_ignore_all;
	int icmp_echo_ignore_broadcasts;
	int icmp_ignore_bogus_error_responses;
	int icmp_ratelimit;          /* ms between errors to one host */
	int icmp_ratemask;
	int icmp_msgs_per_sec;
	int icmp_msgs_burst;
	int route_mtu_expires;       /* s */
	int route_min_pmtu;
	int accept_source_route;
	int core_rmem_default;
	int core_rmem_max;
	int core_wmem_default;
	int core_wmem_max;
	int neigh_base_reachable_time_ms;
	int neigh_retrans_time_ms;
	int neigh_delay_first_probe_time;
	int neigh_mcast_solicit;
	int neigh_ucast_solicit;
	int neigh_unres_qlen_bytes;
	int neigh_gc_stale_time;
	int tcp_syn_retries;
	int tcp_synack_retries;
	int tcp_retries2;
	int tcp_fin_timeout;
	int tcp_orphan_retries;
	int tcp_max_syn_backlog;
	int tcp_timestamps;
	int tcp_window_scaling;
	int tcp_sack;
	int tcp_rmem[3];
	int tcp_wmem[3];
	int core_somaxconn;
	int tcp_keepalive_time;
	int tcp_keepalive_intvl;
	int tcp_keepalive_probes;
	int tcp_syncookies;          /* 0 off, 1 when the SYN queue overflows, 2 always */
	int tcp_abort_on_overflow;   /* accept queue full at the final ACK: 0 drop it, 1 RST */
	int tcp_tw_reuse;            /* 0 off, 1 on, 2 loopback only */
	int tcp_max_tw_buckets;
	int tcp_invalid_ratelimit;   /* ms between replies to out-of-window segments */
	int tcp_challenge_ack_limit; /* challenge ACKs per second, stack-wide */
	int tcp_moderate_rcvbuf;     /* receive-buffer auto-tuning */
	int tcp_dsack;               /* send D-SACK blocks (RFC 2883) */
	int tcp_recovery;            /* bit 0: RACK loss detection (RFC 8985) */
	int tcp_early_retrans;       /* 3 or 4: tail loss probes */
	int tcp_frto;                /* F-RTO (RFC 5682) after a timeout */
	int tcp_reordering;          /* DupThresh when RACK is off */
	int tcp_slow_start_after_idle;
	int tcp_pacing_ss_ratio;     /* % of cwnd/srtt paced in slow start */
	int tcp_pacing_ca_ratio;     /* ... and in congestion avoidance */
	int tcp_ecn;                 /* 0 off, 1 request and accept, 2 accept only */
	int tcp_fastopen;            /* TCP Fast Open (RFC 7413), Linux's bits: TN_TFO_* */
	char tcp_congestion_control[16];
	char tcp_available_congestion_control[64];
	/* "xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx[,backup]", as Linux prints it */
	char tcp_fastopen_key[72];
	/* net.netfilter.nf_conntrack_* (filter/conntrack.h) */
	int nf_conntrack_max;
	int nf_conntrack_tcp_timeout[12]; /* by TCP state, then max_retrans, unacknowledged */
	int nf_conntrack_tcp_loose;
	int nf_conntrack_tcp_be_liberal;
	int nf_conntrack_tcp_max_retrans;
	int nf_conntrack_udp_timeout;
	int nf_conntrack_udp_timeout_stream;
	int nf_conntrack_icmp_timeout;
	int nf_conntrack_generic_timeout;
	int nf_conntrack_checksum;
};

struct tn_sysctl_entry {
	const char *name;
	size_t offset;     /* of the first int in struct tn_sysctl */
	int count;         /* ints in the value (ip_local_port_range: 2) */
	int min, max;
	/* count 0: a string of `max` bytes, accepted if valid() says so (read
	 * only when valid is NULL). */
	bool (*valid)(const char *value);
	/* A valid string rewritten in its canonical form (NULL: kept as given). */
	void (*canon)(char *value, size_t cap);
};

extern const struct tn_sysctl_entry tn_sysctl_table[];
extern const size_t tn_sysctl_table_len;

void tn_sysctl_defaults(struct tn_sysctl *sc);
const struct tn_sysctl_entry *tn_sysctl_find(const char *name);
/* Parse and set "v" or "v1 v2"; 0, or -EINVAL / -ENOENT. */
int tn_sysctl_set(struct tn_sysctl *sc, const char *name, const char *value);
/* Format a value into buf ("32768\t60999" like /proc); -ENOENT if unknown. */
int tn_sysctl_get(const struct tn_sysctl *sc, const char *name, char *buf, size_t cap);
/* Print "name = value" lines for every entry whose name contains filter. */
void tn_sysctl_print(FILE *f, const struct tn_sysctl *sc, const char *filter);

#endif
