/* `tern host`: one tern stack on TAP/TUN devices, driven by the real clock,
 * with a control socket for the other commands. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/ring.h"
#include "core/stack.h"
#include "link/dev.h"
#include "link/nic_rss.h"
#include "link/xdp_steer.h"
#include "app/filecache.h"
#include "app/httpd.h"
#include "app/iperf3.h"
#include "tools.h"

#define MAX_DEVS 8
#define MAX_SESSIONS 16

struct dev_spec {
	const char *impair;     /* netem-style words for frames this host sends */
	const char *offload;    /* ethtool -K style: "tso off gro off" */
	const char *ifname;
	const char *driver;     /* --dev: "tap", "af_packet" or "af_xdp"; NULL for --tap/--tun */
	uint32_t fanout;        /* af_packet: PACKET_FANOUT_HASH group, 0 none */
	uint32_t queue;         /* af_xdp: the interface's receive queue */
	int rx_usecs;           /* af_xdp, af_packet: receive moderation, -1 the driver's default, 0 off */
	int kernel_rx;          /* af_packet: TN_KERNEL_RX_* */
	struct tn_xdp_steer *steer; /* af_xdp: the interface's XDP program, all cores' */
	struct tn_nic_rss *nic_rss; /* af_xdp: the NIC's RSS as found, to put back */
	enum tn_dev_framing framing;
	uint32_t mtu;
	uint32_t addr[TN_MAX_ADDRS];
	int plen[TN_MAX_ADDRS];
	int naddrs;
};

struct session {
	int fd;                  /* control connection, -1 if unused */
	char req[8192];
	uint32_t have, want;     /* bytes received / expected (0: length unknown) */
	struct ping_session ping;
	bool pinging;
	struct get_session get;
	bool getting;
	int passed_fd;           /* a descriptor the client sent (get: where the body goes) */
	FILE *out;
};

enum tcp_kind { SVC_DISCARD, SVC_CHARGEN, SVC_ECHO };

#define MAX_TCP_SERVICES 4
#define MAX_IPERF3 4 /* --iperf3 PORT servers, as iperf3 -s -p PORT each */
#define MAX_TCP_CONNS 1024

struct tcp_conn {
	int fd;                 /* -1: unused */
	enum tcp_kind kind;
	uint64_t pos;           /* chargen: bytes generated */
	uint32_t pending, off;  /* echo: bytes read but not yet written back */
	uint8_t buf[4096];
};

struct host {
	struct tn_stack *s;
	int tcp_listen[MAX_TCP_SERVICES];
	enum tcp_kind tcp_kind[MAX_TCP_SERVICES];
	int ntcp;
	struct tcp_conn *conns;
	int conns_hi; /* conns[conns_hi..] are all unused: the loop walks no further */
	const char *name;
	int listen_fd;
	char path[256];
	struct session sessions[MAX_SESSIONS];
	int udp_echo_fd;
	struct tn_httpd *httpd;
	int http_port;
	const char *docroot;
	uint64_t file_cache_bytes;    /* httpd's; 0: its default */
	bool no_pin;                  /* --no-pin: core threads go where the scheduler puts them */
	struct tn_iperf3 *iperf3[MAX_IPERF3];
	int iperf3_port[MAX_IPERF3];
	int niperf3;
	const char *tc_file;    /* --tc FILE: tc commands applied at start */

	const char *iptables_file; /* --iptables */

	/* --cores N: this host is core `core` of cores->n, each with its own
	 * stack, services and thread (docs/DESIGN.md "Per-core stacks"). */
	struct cores *cores;
	unsigned core;
	pthread_t thread;
};

struct cores {
	unsigned n;
	struct tn_steer_group *g;
	struct host *h;         /* n of them; h[0] runs the control socket */
	/* cmdq[i]: commands core 0's thread (the control socket's) asks core
	 * i to run on its stack; an SPSC ring, so no lock is shared. */
	struct tn_ring **cmdq;
};

/* A control command for one core's stack, run by that core's thread. */
/* The HTTP server's counters, summed over cores for `tern stat`. */
struct http_counts {
	bool have, have_cache;
	uint64_t requests, accepted, bytes_out;
	struct tn_filecache_stats fc;
};

struct core_cmd {
	int (*fn)(struct host *h, struct core_cmd *c);
	const char *cmd;
	int argc;
	char **argv;
	int fd;                 /* a descriptor the command reads, -1 */
	FILE *out;              /* written only by the running core until done */
	uint64_t *stats;        /* TN_STAT_COUNT counters, for a copy */
	struct http_counts *http; /* added to by a copy, when not NULL */
	int rc;
	_Atomic int done;       /* release: out, stats and rc are final */
};

/* Is this host one of several per-core stacks (--cores N, N > 1)? */
static bool per_core(const struct host *h) { return h->cores && h->cores->n > 1; }

static int64_t wall_seconds(void *ctx)
{
	(void)ctx;
	return (int64_t)time(NULL);
}

/* The process's CPU time, for the cpu_util fields of iperf3's results. */
static void cpu_times(void *ctx, uint64_t *user_ns, uint64_t *system_ns)
{
	(void)ctx;
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) < 0) {
		*user_ns = *system_ns = 0;
		return;
	}
	*user_ns = (uint64_t)ru.ru_utime.tv_sec * 1000000000ull + (uint64_t)ru.ru_utime.tv_usec * 1000ull;
	*system_ns = (uint64_t)ru.ru_stime.tv_sec * 1000000000ull + (uint64_t)ru.ru_stime.tv_usec * 1000ull;
}

static void iperf3_log(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "tern: %s\n", line);
}

static volatile sig_atomic_t host_stop;
static void on_signal(int sig)
{
	(void)sig;
	host_stop = 1;
}

static void host_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	if (level <= 1)
		fprintf(stderr, "tern: %s\n", msg);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: tern host [--name NAME] --tap IFNAME --addr A.B.C.D/N [--tap IFNAME --addr ...]...\n"
		"                 [--dev IFNAME --driver tap|af_packet|af_xdp [--fanout GROUP] [--queue N]]\n"
		"                 (af_packet, af_xdp: an existing interface; af_xdp: receive queue N, default 0)\n"
		"                 [--rx-usecs N] (af_xdp, af_packet: under a stream, wake every N us rather than per\n"
		"                 frame, as ethtool -C adaptive-rx; default 50 us, adapting up to 1 ms under a flood; 0 off)\n"
		"                 [--kernel-rx drop|pass] (af_packet: the kernel's own receive path on the interface;\n"
		"                 default: cut when the kernel holds no address there)\n"
		"                 [--cores N] (one stack per core behind Toeplitz RSS, each on its own queue of the\n"
		"                 device: af_packet fanout, af_xdp queues --queue..+N-1, multi-queue tap or tun)\n"
		"                 [--no-pin] (with --cores: threads not pinned to CPUs 0..N-1, for CPUs shared with\n"
		"                 other busy programs)\n"
		"                 [--tun IFNAME] [--mtu N] [--gateway G] [--forward] [--udp-echo PORT]\n"
		"                 [--pcap FILE] [--discard PORT] [--chargen PORT] [--tcp-echo PORT]\n"
		"                 [--http PORT [--docroot DIR] [--file-cache MIB]] (HTTP/1.1: files, /gen/BYTES,\n"
		"                 POST /echo; files left alone for 2 s are sent from memory, 64 MiB a core; 0: off)\n"
		"                 [--iperf3 PORT]... (iperf3 servers for TCP tests: iperf3 -c ADDR [-R] [-P N] ...)\n"
		"                 [--impair \"loss 2%% delay 20ms reorder 10%%\"] (after a --tap: its egress)\n"
		"                 [--offload \"tso off gso off gro off\"] (after a --tap: as ethtool -K)\n"
		"                 [--tc FILE] (tc commands, one a line, applied at start: tc qdisc add dev IF root ...)\n"
		"                 [--iptables FILE] (an iptables-restore file applied at start)\n");
}

static int listen_ctl(struct host *h)
{
	ctl_path(h->name, h->path, sizeof(h->path));
	unlink(h->path);
	h->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(h->path) >= sizeof(sun.sun_path))
		return -1;
	memcpy(sun.sun_path, h->path, strlen(h->path) + 1);
	if (h->listen_fd < 0 || bind(h->listen_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(h->listen_fd, 16) < 0) {
		fprintf(stderr, "tern: control socket %s: %s\n", h->path, strerror(errno));
		return -1;
	}
	return 0;
}

static void session_end(struct session *ss, int status)
{
	if (ss->out) {
		fputc(0, ss->out);
		fprintf(ss->out, "%d", status);
		fclose(ss->out); /* closes the connection too */
	} else {
		close(ss->fd);
	}
	if (ss->pinging)
		ping_free(&ss->ping);
	if (ss->getting)
		get_free(&ss->get);
	if (ss->passed_fd >= 0)
		close(ss->passed_fd);
	memset(ss, 0, sizeof(*ss));
	ss->fd = -1;
	ss->passed_fd = -1;
}

static int split_args(struct session *ss, char **argv, int max)
{
	int argc = 0;
	for (uint32_t i = 0; i < ss->want && argc < max; argc++) {
		argv[argc] = ss->req + i;
		i += (uint32_t)strnlen(ss->req + i, ss->want - i) + 1;
	}
	return argc;
}

static void start_ping(struct host *h, struct session *ss, int argc, char **argv)
{
	int count = 0, size = 56, ttl = 0;
	double interval = 1.0, wait = 10.0;
	bool quiet = false;
	uint32_t dst;
	if (ping_parse_args(argc, argv, &count, &interval, &size, &wait, &ttl, &quiet, &dst) < 0) {
		fprintf(ss->out, "usage: ping [-c count] [-i interval] [-s size] [-W timeout] [-t ttl] [-q] ADDR\n");
		session_end(ss, 2);
		return;
	}
	ss->ping.ttl = ttl;
	if (ping_start(&ss->ping, h->s, dst, count, (uint64_t)(interval * 1e9), size, ss->out,
		       mono_ns()) < 0) {
		fprintf(ss->out, "ping: socket: %s\n", strerror(errno));
		session_end(ss, 2);
		return;
	}
	ss->ping.ttl = ttl;
	if (ttl)
		tern_setsockopt(h->s, ss->ping.fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
	ss->ping.quiet = quiet;
	ss->ping.timeout_ns = (uint64_t)(wait * 1e9);
	ss->pinging = true;
}

/* Run c on core i's stack, on core i's own thread: queued to it through
 * its command ring, then waited for (the caller is core 0's thread, whose
 * stack waits meanwhile; a command is short).  Core 0's own runs here.
 * c must stay valid until done: a host stopping mid-command leaves it to
 * its thread (the caller leaks it rather than free it under the core). */
static int on_core(struct host *h, unsigned i, struct core_cmd *c)
{
	struct cores *cs = h->cores;
	if (i == h->core)
		return c->rc = c->fn(&cs->h[i], c);
	atomic_store_explicit(&c->done, 0, memory_order_relaxed);
	void *item = c;
	while (tn_ring_enqueue_burst(cs->cmdq[i], &item, 1) != 1) {
		if (host_stop)
			return -1;
		usleep(100);
	}
	uint64_t one = 1;
	ssize_t w = write(tn_steer_wake_fd(cs->g, i), &one, sizeof(one));
	(void)w;
	while (!atomic_load_explicit(&c->done, memory_order_acquire)) {
		if (host_stop)
			return -1;
		struct timespec ts = {0, 20000};
		nanosleep(&ts, NULL);
	}
	return c->rc;
}

/* Core h's side: run what core 0 queued for it. */
static void run_queued_commands(struct host *h)
{
	if (!per_core(h) || h->core == 0)
		return;
	void *item;
	while (tn_ring_dequeue_burst(h->cores->cmdq[h->core], &item, 1) == 1) {
		struct core_cmd *c = item;
		c->rc = c->fn(h, c);
		atomic_store_explicit(&c->done, 1, memory_order_release);
	}
}

/* Run on h's own thread: the httpd's counters are its. */
static void add_http_counts(const struct host *h, struct http_counts *hc)
{
	if (!h->httpd)
		return;
	const struct tn_httpd_stats *st = tn_httpd_stats(h->httpd);
	hc->have = true;
	hc->requests += st->requests;
	hc->accepted += st->accepted;
	hc->bytes_out += st->bytes_out;
	const struct tn_filecache_stats *fc = tn_httpd_file_cache_stats(h->httpd);
	if (!fc)
		return;
	hc->have_cache = true;
	hc->fc.hits += fc->hits;
	hc->fc.fills += fc->fills;
	hc->fc.unsettled += fc->unsettled;
	hc->fc.cold += fc->cold;
	hc->fc.stale += fc->stale;
	hc->fc.evicted += fc->evicted;
	hc->fc.bytes += fc->bytes;
	hc->fc.entries += fc->entries;
}

static void print_http_counts(FILE *f, const struct http_counts *hc)
{
	if (!hc->have)
		return;
	fprintf(f, "Http:\n    %" PRIu64 " requests\n    %" PRIu64 " connections accepted\n    %" PRIu64 " bytes sent\n",
		hc->requests, hc->accepted, hc->bytes_out);
	if (hc->have_cache)
		fprintf(f, "    file cache: %" PRIu64 " hits, %" PRIu64 " files read in, %" PRIu64 " too new to read in, %" PRIu64
			   " not in the page cache, %" PRIu64 " dropped as changed, %" PRIu64 " evicted; %" PRIu64
			   " bytes in %" PRIu64 " files\n",
			hc->fc.hits, hc->fc.fills, hc->fc.unsettled, hc->fc.cold, hc->fc.stale, hc->fc.evicted,
			hc->fc.bytes, hc->fc.entries);
}

static int copy_stats(struct host *h, struct core_cmd *c)
{
	memcpy(c->stats, h->s->stats, sizeof(uint64_t) * TN_STAT_COUNT);
	if (c->http)
		add_http_counts(h, c->http);
	return 0;
}

static int run_stack_command(struct host *h, struct core_cmd *c)
{
	struct tn_stack *s = h->s;
	const char *cmd = c->cmd;
	if (!strcmp(cmd, "ss"))
		return run_ss(s, c->argc, c->argv, c->out);
	if (!strcmp(cmd, "neigh")) {
		show_neigh(s, c->out);
		return 0;
	}
	if (!strcmp(cmd, "conntrack"))
		return run_conntrack(s, c->argc, c->argv, c->out);
	if (!strcmp(cmd, "sysctl"))
		return run_sysctl(s, c->argc, c->argv, c->out);
	if (!strcmp(cmd, "tc"))
		return run_tc(s, c->argc, c->argv, c->out);
	if (!strcmp(cmd, "route"))
		return run_route(s, c->argc, c->argv, c->out);
	return host_run_iptables(s, c->argc, c->argv, c->fd, c->out);
}

/* A command that reads or sets the stack's state, with --cores N: `stat`
 * sums the counters and adds a per-core table, `ss`, `neigh` and
 * `conntrack` print a section per core, and what changes state (`sysctl
 * -w`, `tc`, `iptables`, `route`...) runs on every core, printing core 0's
 * output.  -1: not such a command (it runs on core 0 alone). */
static int run_on_cores(struct host *h, struct session *ss, const char *cmd, int argc, char **argv)
{
	struct cores *cs = h->cores;
	if (strcmp(cmd, "stat") == 0) {
		uint64_t *sum = calloc(TN_STAT_COUNT, sizeof(*sum)), *each = calloc((size_t)cs->n * TN_STAT_COUNT, sizeof(*each));
		if (!sum || !each) {
			free(sum);
			free(each);
			fprintf(ss->out, "stat: out of memory\n");
			return 1;
		}
		struct http_counts http = {0};
		for (unsigned i = 0; i < cs->n; i++) {
			struct core_cmd c = {.fn = copy_stats, .fd = -1, .stats = each + (size_t)i * TN_STAT_COUNT,
					     .http = &http};
			on_core(h, i, &c);
			for (int k = 0; k < TN_STAT_COUNT; k++)
				sum[k] += c.stats[k];
		}
		if (argc > 1 && strcmp(argv[1], "--nstat") == 0) {
			tn_stats_print_nstat(ss->out, sum, 0);
		} else {
			tn_stats_print_netstat(ss->out, sum);
			print_http_counts(ss->out, &http);
		}
		fprintf(ss->out, "Cores: %u (Toeplitz RSS, software steering)\n", cs->n);
		fprintf(ss->out, "    core  TcpActiveOpens TcpPassiveOpens TcpInSegs  IpInReceives steer_local steer_handed "
				 "steer_received steer_dropped\n");
		for (unsigned i = 0; i < cs->n; i++) {
			uint64_t st[TN_STEER_NSTATS];
			const uint64_t *c = each + (size_t)i * TN_STAT_COUNT;
			tn_steer_stats(cs->g, i, st);
			fprintf(ss->out, "    %4u %15" PRIu64 " %15" PRIu64 " %9" PRIu64 " %13" PRIu64 " %11" PRIu64 " %12" PRIu64
					 " %14" PRIu64 " %13" PRIu64 "\n", i, c[TN_TcpActiveOpens], c[TN_TcpPassiveOpens],
				c[TN_TcpInSegs], c[TN_IpInReceives], st[TN_STEER_LOCAL], st[TN_STEER_HANDED],
				st[TN_STEER_RECEIVED], st[TN_STEER_RING_DROPS]);
		}
		free(sum);
		free(each);
		return 0;
	}
	bool sections = !strcmp(cmd, "ss") || !strcmp(cmd, "neigh") || !strcmp(cmd, "conntrack");
	bool every = !strcmp(cmd, "sysctl") || !strcmp(cmd, "tc") || !strcmp(cmd, "route") || !strcmp(cmd, "iptables") ||
		     !strcmp(cmd, "iptables-restore") || !strcmp(cmd, "ipset") || !strcmp(cmd, "iptables-save") ||
		     !strcmp(cmd, "iptables-log");
	if (!sections && !every)
		return -1;
	/* iptables-restore reads the client's descriptor: read it once, give
	 * every core its own copy. */
	int memfd = -1;
	if (every && ss->passed_fd >= 0) {
		size_t len = 0;
		char *text = ipt_read_all(ss->passed_fd, &len);
		memfd = memfd_create("tern-ctl", MFD_CLOEXEC);
		if (memfd >= 0 && text && len && write(memfd, text, len) != (ssize_t)len) {
			close(memfd);
			memfd = -1;
		}
		free(text);
	}
	FILE *null = fopen("/dev/null", "w");
	int rc = 0;
	for (unsigned i = 0; i < cs->n; i++) {
		FILE *out = sections || i == 0 ? ss->out : null;
		if (sections)
			fprintf(out, "core %u:\n", i);
		int fd = -1;
		if (memfd >= 0) {
			lseek(memfd, 0, SEEK_SET);
			fd = dup(memfd);
		}
		struct core_cmd c = {.fn = run_stack_command, .cmd = cmd, .argc = argc, .argv = argv, .fd = fd, .out = out};
		int r = on_core(h, i, &c);
		if (fd >= 0)
			close(fd);
		if (r > rc)
			rc = r;
	}
	if (null)
		fclose(null);
	if (memfd >= 0)
		close(memfd);
	return rc;
}

static void run_command(struct host *h, struct session *ss)
{
	char *argv[64];
	int argc = split_args(ss, argv, 64);
	ss->out = fdopen(ss->fd, "w");
	if (!ss->out) {
		session_end(ss, 2);
		return;
	}
	const char *cmd = argc ? argv[0] : "";
	int rc = 0, crc = per_core(h) ? run_on_cores(h, ss, cmd, argc, argv) : -1;
	if (crc != -1) {
		rc = crc; /* done on every core */
	} else if (strcmp(cmd, "ping") == 0) {
		start_ping(h, ss, argc, argv);
		return;
	} else if (strcmp(cmd, "get") == 0) {
		if (ss->passed_fd < 0) {
			fprintf(ss->out, "get: the client passed no descriptor for the body\n");
			rc = 2;
		} else if ((rc = get_start(&ss->get, h->s, argc, argv, ss->passed_fd, ss->out)) == 0) {
			ss->getting = true;
			return;
		}
	} else if (strcmp(cmd, "stat") == 0) {
		bool nstat = argc > 1 && strcmp(argv[1], "--nstat") == 0;
		show_stat(h->s, ss->out, nstat);
		struct http_counts http = {0};
		add_http_counts(h, &http);
		if (!nstat)
			print_http_counts(ss->out, &http);
	} else if (strcmp(cmd, "sysctl") == 0) {
		rc = run_sysctl(h->s, argc, argv, ss->out);
	} else if (strcmp(cmd, "route") == 0) {
		rc = run_route(h->s, argc, argv, ss->out);
	} else if (strcmp(cmd, "ss") == 0) {
		rc = run_ss(h->s, argc, argv, ss->out);
	} else if (strcmp(cmd, "conntrack") == 0) {
		rc = run_conntrack(h->s, argc, argv, ss->out);
	} else if (!strcmp(cmd, "iptables") || !strcmp(cmd, "iptables-save") || !strcmp(cmd, "iptables-restore") ||
		   !strcmp(cmd, "ipset") || !strcmp(cmd, "iptables-log")) {
		rc = host_run_iptables(h->s, argc, argv, ss->passed_fd, ss->out);
	} else if (strcmp(cmd, "neigh") == 0) {
		show_neigh(h->s, ss->out);
	} else if (strcmp(cmd, "addr") == 0 || strcmp(cmd, "link") == 0) {
		show_addr(h->s, ss->out);
	} else if (strcmp(cmd, "tc") == 0) {
		rc = run_tc(h->s, argc, argv, ss->out);
	} else {
		fprintf(ss->out, "tern: unknown command \"%s\" (ping, get, stat, sysctl, route, neigh, addr, ss, tc, conntrack, iptables, ipset)\n", cmd);
		rc = 2;
	}
	session_end(ss, rc);
}

/* The request's length word; `get` sends the descriptor for the body
 * with it (SCM_RIGHTS), so the body never mixes with the reply stream. */
static ssize_t recv_len_and_fd(struct session *ss, uint32_t *len)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cm;
	struct iovec iov = {.iov_base = len, .iov_len = sizeof(*len)};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof(cm.buf)};
	ssize_t n = recvmsg(ss->fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); n > 0 && c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && ss->passed_fd < 0)
			memcpy(&ss->passed_fd, CMSG_DATA(c), sizeof(int));
	return n;
}

static void session_read(struct host *h, struct session *ss)
{
	if (ss->pinging) { /* the client closed its side: stop, like ^C */
		ping_finish(&ss->ping, mono_ns());
		session_end(ss, ss->ping.nreceived ? 0 : 1);
		return;
	}
	if (ss->getting) { /* the client went away: stop the transfer */
		session_end(ss, 1);
		return;
	}
	if (ss->want == 0) {
		uint32_t len;
		ssize_t n = recv_len_and_fd(ss, &len);
		if (n != sizeof(len) || len == 0 || len > sizeof(ss->req)) {
			session_end(ss, 2);
			return;
		}
		ss->want = len;
		return;
	}
	ssize_t n = recv(ss->fd, ss->req + ss->have, ss->want - ss->have, MSG_DONTWAIT);
	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		session_end(ss, 2);
		return;
	}
	ss->have += (uint32_t)n;
	if (ss->have == ss->want) {
		ss->req[ss->want - 1] = 0;
		run_command(h, ss);
	}
}

static void accept_sessions(struct host *h)
{
	for (;;) {
		int fd = accept4(h->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct session *free_ss = NULL;
		for (int i = 0; i < MAX_SESSIONS && !free_ss; i++)
			if (h->sessions[i].fd < 0)
				free_ss = &h->sessions[i];
		if (!free_ss) {
			close(fd);
			continue;
		}
		memset(free_ss, 0, sizeof(*free_ss));
		free_ss->fd = fd;
		free_ss->passed_fd = -1;
	}
}

static void udp_echo(struct host *h)
{
	if (h->udp_echo_fd < 0)
		return;
	char buf[65536];
	struct sockaddr_in from;
	for (;;) {
		socklen_t fl = sizeof(from);
		ssize_t n = tern_recvfrom(h->s, h->udp_echo_fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (n < 0)
			return;
		tern_sendto(h->s, h->udp_echo_fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
	}
}

/* RFC 864: lines of 72 printable characters, each starting one further
 * along the 95-character cycle, ended by CRLF. */
static uint8_t chargen_byte(uint64_t pos)
{
	uint64_t line = pos / 74, col = pos % 74;
	if (col == 72)
		return '\r';
	if (col == 73)
		return '\n';
	return (uint8_t)(' ' + (line + col) % 95);
}

static void conn_close(struct host *h, struct tcp_conn *c)
{
	tern_close(h->s, c->fd);
	c->fd = -1;
}

/* One connection of the discard, chargen or echo service: move what can
 * move without blocking. */
static void conn_step(struct host *h, struct tcp_conn *c)
{
	uint8_t buf[16384];
	ssize_t n;
	if (c->kind == SVC_ECHO && c->pending) {
		n = tern_send(h->s, c->fd, c->buf + c->off, c->pending, 0);
		if (n > 0) {
			c->off += (uint32_t)n;
			c->pending -= (uint32_t)n;
		} else if (errno != EAGAIN) {
			conn_close(h, c);
			return;
		}
		if (c->pending)
			return;
	}
	if (c->kind == SVC_CHARGEN) {
		for (;;) {
			for (size_t i = 0; i < sizeof(buf); i++)
				buf[i] = chargen_byte(c->pos + i);
			n = tern_send(h->s, c->fd, buf, sizeof(buf), 0);
			if (n <= 0)
				break;
			c->pos += (uint64_t)n;
		}
		if (n < 0 && errno != EAGAIN) {
			conn_close(h, c);
			return;
		}
	}
	for (;;) {
		uint8_t *dst = c->kind == SVC_ECHO ? c->buf : buf;
		size_t cap = c->kind == SVC_ECHO ? sizeof(c->buf) : sizeof(buf);
		n = tern_recv(h->s, c->fd, dst, cap, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			conn_close(h, c);
			return;
		}
		if (n < 0)
			return;
		if (c->kind == SVC_ECHO) {
			c->pending = (uint32_t)n;
			c->off = 0;
			conn_step(h, c);
			return;
		}
	}
}

static void tcp_services(struct host *h)
{
	for (int i = 0; i < h->ntcp; i++) {
		int fd;
		while ((fd = tern_accept(h->s, h->tcp_listen[i], NULL, NULL)) >= 0) {
			struct tcp_conn *c = NULL;
			for (int k = 0; k < MAX_TCP_CONNS && !c; k++)
				if (h->conns[k].fd < 0)
					c = &h->conns[k];
			if (c && c - h->conns >= h->conns_hi)
				h->conns_hi = (int)(c - h->conns) + 1;
			if (!c) {
				tern_close(h->s, fd);
				continue;
			}
			memset(c, 0, sizeof(*c));
			c->fd = fd;
			c->kind = h->tcp_kind[i];
		}
	}
	/* Walk only up to the highest slot in use: the table is 4 MiB, a
	 * page per slot, and walking it all cost a third of the loop's time
	 * under a packet flood with no connection open. */
	for (int k = 0; k < h->conns_hi; k++)
		if (h->conns[k].fd >= 0)
			conn_step(h, &h->conns[k]);
	while (h->conns_hi > 0 && h->conns[h->conns_hi - 1].fd < 0)
		h->conns_hi--;
}

static int tcp_service_open(struct host *h, int port, enum tcp_kind kind)
{
	int fd = tern_socket(h->s, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int qlen = 128; /* Fast Open, once net.ipv4.tcp_fastopen has the server bit (0x2) */
	if (fd >= 0)
		tern_setsockopt(h->s, fd, IPPROTO_TCP, TCP_FASTOPEN, &qlen, sizeof(qlen));
	if (fd < 0 || tern_bind(h->s, fd, (struct sockaddr *)&a, sizeof(a)) < 0 || tern_listen(h->s, fd, 128) < 0) {
		fprintf(stderr, "tern: tcp port %d: %s\n", port, strerror(errno));
		return -1;
	}
	h->tcp_listen[h->ntcp] = fd;
	h->tcp_kind[h->ntcp++] = kind;
	return 0;
}

static uint64_t service_sessions(struct host *h, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	for (int i = 0; i < MAX_SESSIONS; i++) {
		struct session *ss = &h->sessions[i];
		if (ss->fd >= 0 && ss->getting) {
			int rc = get_step(&ss->get);
			if (rc >= 0)
				session_end(ss, rc);
			continue;
		}
		if (ss->fd < 0 || !ss->pinging)
			continue;
		uint64_t t = ping_step(&ss->ping, now);
		if (ss->ping.done) {
			ping_finish(&ss->ping, now);
			session_end(ss, ss->ping.nreceived ? 0 : 1);
			continue;
		}
		if (t < next)
			next = t;
	}
	return next;
}

/* An interface deleted under us: report it and stop cleanly. */
static bool link_gone(struct host *h)
{
	for (int i = 1; i <= TN_MAX_IFACES; i++) {
		struct tn_dev *d = tern_dev_get(h->s, i);
		if (d && tn_steer_lower(d))
			d = tn_steer_lower(d); /* --cores: the core's own queue */
		if (d && (tn_tap_link_gone(d) || tn_af_packet_link_gone(d) || tn_af_xdp_link_gone(d))) {
			fprintf(stderr, "tern: interface %s went away; stopping\n", d->name);
			return true;
		}
	}
	return false;
}

static int host_loop(struct host *h)
{
	struct tn_steer_group *g = per_core(h) ? h->cores->g : NULL;
	while (!host_stop && !link_gone(h)) {
		run_queued_commands(h);
		uint64_t now = mono_ns();
		tern_poll(h->s, now);
		udp_echo(h);
		tcp_services(h);
		if (h->httpd)
			tn_httpd_step(h->httpd);
		for (int i = 0; i < h->niperf3; i++)
			tn_iperf3_step(h->iperf3[i]);
		uint64_t next = service_sessions(h, now);
		/* send what the services queued; at the time it is now, since the
		 * first poll may have spent a millisecond receiving a flood, and a
		 * shaper charged at a stale time forgets tokens beyond its burst */
		uint64_t received = h->s->stats[TN_IpInReceives];
		tern_poll(h->s, mono_ns());
		/* That poll may have received requests (or ACKs that free send
		 * room) the services have not seen: go round again rather than
		 * sleep on them (the HTTP server's answers waited up to the 1 s
		 * cap).  Only then: after sending alone there is nothing new. */
		if (h->s->stats[TN_IpInReceives] != received)
			next = now;
		for (int i = 0; i < h->niperf3; i++) { /* after that poll: what it received is work now */
			uint64_t t = tn_iperf3_next_at(h->iperf3[i]);
			next = t < next ? t : next;
		}
		uint64_t at = tern_poll_at(h->s);
		if (at < next)
			next = at;
		struct pollfd pfd[MAX_DEVS + MAX_SESSIONS + 2];
		struct session *owner[MAX_DEVS + MAX_SESSIONS + 2];
		int n = 0;
		for (int i = 1; i <= TN_MAX_IFACES; i++) {
			struct tn_dev *d = tern_dev_get(h->s, i);
			if (d && tn_dev_fd(d) >= 0 && n < MAX_DEVS) {
				owner[n] = NULL;
				pfd[n++] = (struct pollfd){.fd = tn_dev_fd(d), .events = POLLIN};
			}
		}
		owner[n] = NULL;
		if (h->listen_fd >= 0)
			pfd[n++] = (struct pollfd){.fd = h->listen_fd, .events = POLLIN};
		if (g) { /* frames another core hands us wake us */
			owner[n] = NULL;
			pfd[n++] = (struct pollfd){.fd = tn_steer_wake_fd(g, h->core), .events = POLLIN};
		}
		for (int i = 0; i < MAX_SESSIONS; i++) {
			if (h->sessions[i].fd < 0)
				continue;
			owner[n] = &h->sessions[i];
			pfd[n++] = (struct pollfd){.fd = h->sessions[i].fd, .events = POLLIN};
		}
		/* Sleep until exactly `next` (at most a second): a shaping
		 * qdisc's watchdog wants its time to the microsecond, since
		 * what it wakes late for is lost once its bucket is full (htb's
		 * default burst holds 0.64 ms at 20 Mbit/s). */
		uint64_t after = mono_ns();
		uint64_t wait = next <= after ? 0 : next - after;
		if (wait > 1000000000ull)
			wait = 1000000000ull;
		struct timespec ts = {(time_t)(wait / 1000000000ull), (long)(wait % 1000000000ull)};
		if (g && !tn_steer_may_sleep(g, h->core))
			ts = (struct timespec){0, 0};
		int rc = ppoll(pfd, (nfds_t)n, &ts, NULL);
		if (g)
			tn_steer_woke(g, h->core);
		if (rc <= 0)
			continue;
		for (int i = 0; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			if (pfd[i].fd == h->listen_fd)
				accept_sessions(h);
			else if (owner[i] && owner[i]->fd == pfd[i].fd)
				session_read(h, owner[i]);
		}
	}
	return 0;
}

static int parse_host_args(int argc, char **argv, struct host *h, struct dev_spec *devs, int *ndevs,
			   uint32_t *gateway, bool *forward, int *echo_port, const char **pcap, unsigned *ncores)
{
	static const struct option opts[] = {
		{"name", required_argument, 0, 'n'}, {"tap", required_argument, 0, 'T'},
		{"tun", required_argument, 0, 'U'},  {"addr", required_argument, 0, 'a'},
		{"mtu", required_argument, 0, 'm'},  {"gateway", required_argument, 0, 'g'},
		{"forward", no_argument, 0, 'f'},    {"udp-echo", required_argument, 0, 'e'},
		{"pcap", required_argument, 0, 'p'}, {"help", no_argument, 0, 'h'},
		{"discard", required_argument, 0, 'D'}, {"chargen", required_argument, 0, 'C'},
		{"tcp-echo", required_argument, 0, 'E'}, {"http", required_argument, 0, 'H'},
		{"docroot", required_argument, 0, 'R'}, {"impair", required_argument, 0, 'I'},
		{"iperf3", required_argument, 0, 'P'}, {"offload", required_argument, 0, 'O'},
		{"tc", required_argument, 0, 'Q'},   {"dev", required_argument, 0, 'V'},
		{"driver", required_argument, 0, 'W'}, {"fanout", required_argument, 0, 'F'},
		{"queue", required_argument, 0, 'K'}, {"rx-usecs", required_argument, 0, 'X'},
		{"kernel-rx", required_argument, 0, 'k'},
		{"iptables", required_argument, 0, 'J'}, {"cores", required_argument, 0, 'Z'},
		{"file-cache", required_argument, 0, 'L'}, {"no-pin", no_argument, 0, 'N'},
		{0, 0, 0, 0},
	};
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		struct dev_spec *last = *ndevs ? &devs[*ndevs - 1] : NULL;
		switch (c) {
		case 'n': h->name = optarg; break;
		case 'T':
		case 'U':
			if (*ndevs == MAX_DEVS)
				return -1;
			devs[(*ndevs)++] = (struct dev_spec){.ifname = optarg, .rx_usecs = -1,
							     .framing = c == 'T' ? TN_DEV_L2 : TN_DEV_L3, .mtu = 1500};
			break;
		case 'V':
			if (*ndevs == MAX_DEVS)
				return -1;
			devs[(*ndevs)++] = (struct dev_spec){.ifname = optarg, .framing = TN_DEV_L2, .driver = "tap", .rx_usecs = -1};
			break;
		case 'k':
			if (!last || !last->driver || strcmp(last->driver, "af_packet") ||
			    (strcmp(optarg, "drop") && strcmp(optarg, "pass"))) {
				fprintf(stderr, "tern: --kernel-rx drop|pass goes after a --dev ... --driver af_packet\n");
				return -1;
			}
			last->kernel_rx = strcmp(optarg, "drop") == 0 ? TN_KERNEL_RX_DROP : TN_KERNEL_RX_PASS;
			break;
		case 'X':
			if (!last || !last->driver || (strcmp(last->driver, "af_xdp") && strcmp(last->driver, "af_packet")) ||
			    atoi(optarg) < 0 || atoi(optarg) > 100000) {
				fprintf(stderr, "tern: --rx-usecs 0..100000 goes after a --dev ... --driver af_xdp|af_packet\n");
				return -1;
			}
			last->rx_usecs = atoi(optarg);
			break;
		case 'W':
		case 'F':
		case 'K':
			if (!last || !last->driver ||
			    (c == 'W' && strcmp(optarg, "tap") && strcmp(optarg, "af_packet") && strcmp(optarg, "af_xdp")) ||
			    (c == 'F' && (atoi(optarg) < 1 || atoi(optarg) > 65535)) ||
			    (c == 'K' && (atoi(optarg) < 0 || atoi(optarg) > 4095))) {
				fprintf(stderr, "tern: --driver tap|af_packet|af_xdp, --fanout 1..65535 and --queue 0..4095 go after a --dev\n");
				return -1;
			}
			if (c == 'W')
				last->driver = optarg;
			else if (c == 'F')
				last->fanout = (uint32_t)atoi(optarg);
			else
				last->queue = (uint32_t)atoi(optarg);
			break;
		case 'a':
			if (!last || last->naddrs == TN_MAX_ADDRS ||
			    parse_prefix(optarg, &last->addr[last->naddrs], &last->plen[last->naddrs]) < 0) {
				fprintf(stderr, "tern: --addr %s: needs A.B.C.D/N after a --tap or --tun\n", optarg);
				return -1;
			}
			last->naddrs++;
			break;
		case 'm':
			if (!last || atoi(optarg) < 68 || atoi(optarg) > 2030) {
				fprintf(stderr, "tern: --mtu: 68..2030 after a --tap or --tun\n");
				return -1;
			}
			last->mtu = (uint32_t)atoi(optarg);
			break;
		case 'g':
			if (parse_ip(optarg, gateway) < 0)
				return -1;
			break;
		case 'f': *forward = true; break;
		case 'e': *echo_port = atoi(optarg); break;
		case 'p': *pcap = optarg; break;
		case 'J': h->iptables_file = optarg; break;
		case 'Z':
			if (atoi(optarg) < 1 || atoi(optarg) > TN_STEER_MAX_CORES) {
				fprintf(stderr, "tern: --cores: 1..%d\n", TN_STEER_MAX_CORES);
				return -1;
			}
			*ncores = (unsigned)atoi(optarg);
			break;
		case 'I':
			if (!last) {
				fprintf(stderr, "tern: --impair goes after a --tap or --tun\n");
				return -1;
			}
			last->impair = optarg;
			break;
		case 'O':
			if (!last) {
				fprintf(stderr, "tern: --offload goes after a --tap or --tun\n");
				return -1;
			}
			last->offload = optarg;
			break;
		case 'Q': h->tc_file = optarg; break;
		case 'H': h->http_port = atoi(optarg); break;
		case 'R': h->docroot = optarg; break;
		case 'N': h->no_pin = true; break;
		case 'L': {
			char *end;
			unsigned long long mib = strtoull(optarg, &end, 10);
			if (*end || end == optarg || mib > (1ull << 20)) {
				fprintf(stderr, "tern: --file-cache %s: MiB, 0 to 1048576\n", optarg);
				return -1;
			}
			h->file_cache_bytes = mib ? mib << 20 : TN_HTTPD_NO_FILE_CACHE;
			break;
		}
		case 'P':
			if (h->niperf3 == MAX_IPERF3) {
				fprintf(stderr, "tern: --iperf3: at most %d servers\n", MAX_IPERF3);
				return -1;
			}
			h->iperf3_port[h->niperf3] = atoi(optarg);
			if (h->iperf3_port[h->niperf3] < 1 || h->iperf3_port[h->niperf3] > 65535) {
				fprintf(stderr, "tern: --iperf3: a port, 1..65535\n");
				return -1;
			}
			h->niperf3++;
			break;
		case 'D':
		case 'C':
		case 'E':
			if (h->ntcp == MAX_TCP_SERVICES)
				return -1;
			h->tcp_kind[h->ntcp] = c == 'D' ? SVC_DISCARD : c == 'C' ? SVC_CHARGEN : SVC_ECHO;
			h->tcp_listen[h->ntcp++] = atoi(optarg); /* the port, until opened */
			break;
		default: return -1;
		}
	}
	return *ndevs ? 0 : -1;
}

static char *pcap_name(const char *base, const char *ifname, bool several)
{
	char *out = malloc(strlen(base) + strlen(ifname) + 2);
	if (!several) {
		strcpy(out, base);
		return out;
	}
	const char *dot = strrchr(base, '.');
	size_t stem = dot ? (size_t)(dot - base) : strlen(base);
	sprintf(out, "%.*s-%s%s", (int)stem, base, ifname, dot ? dot : "");
	return out;
}

/* "loss 2% delay 20ms jitter 5ms reorder 10% duplicate 1% corrupt 0.1% rate 100mbit" */
static int parse_impair(const char *spec, struct tn_fault_cfg *cfg)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", spec);
	memset(cfg, 0, sizeof(*cfg));
	cfg->seed = mono_ns();
	char *save = NULL;
	for (char *w = strtok_r(buf, " ,", &save); w; w = strtok_r(NULL, " ,", &save)) {
		char *v = strtok_r(NULL, " ,", &save);
		if (!v)
			return -1;
		char *end;
		double x = strtod(v, &end);
		if (end == v || x < 0)
			return -1;
		double scale = strcmp(end, "%") == 0 ? 0.01 : strcmp(end, "ms") == 0 ? 1e6 : strcmp(end, "us") == 0 ? 1e3
			     : strcmp(end, "mbit") == 0 ? 1e6 : strcmp(end, "kbit") == 0 ? 1e3 : strcmp(end, "gbit") == 0 ? 1e9 : 1;
		x *= scale;
		if (strcmp(w, "loss") == 0) cfg->loss = x;
		else if (strcmp(w, "delay") == 0) cfg->delay_ns = (uint64_t)x;
		else if (strcmp(w, "jitter") == 0) cfg->jitter_ns = (uint64_t)x;
		else if (strcmp(w, "reorder") == 0) cfg->reorder = x;
		else if (strcmp(w, "duplicate") == 0) cfg->duplicate = x;
		else if (strcmp(w, "corrupt") == 0) cfg->corrupt = x;
		else if (strcmp(w, "rate") == 0) cfg->rate_bps = (uint64_t)x;
		else if (strcmp(w, "seed") == 0) cfg->seed = (uint64_t)x;
		else return -1;
	}
	return 0;
}

/* "tso off gro on ...": pairs of a feature and on/off. */
static int set_offloads(struct tn_stack *s, int ifindex, const char *spec)
{
	char buf[128], *save = NULL;
	snprintf(buf, sizeof(buf), "%s", spec);
	for (char *f = strtok_r(buf, " ,", &save); f; f = strtok_r(NULL, " ,", &save)) {
		char *v = strtok_r(NULL, " ,", &save);
		if (!v || (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) ||
		    tern_dev_offload(s, ifindex, f, strcmp(v, "on") == 0) < 0)
			return -1;
	}
	return 0;
}

/* The link of one device for this host's core: with --cores, core k takes
 * queue k of a multi-queue TAP, AF_XDP queue (--queue) + k, or one more
 * member of the AF_PACKET fanout group. */
static struct tn_dev *open_link(struct host *h, const struct dev_spec *ds)
{
	bool afp = ds->driver && strcmp(ds->driver, "af_packet") == 0;
	bool axdp = ds->driver && strcmp(ds->driver, "af_xdp") == 0;
	bool cored = per_core(h);
	uint32_t queue = ds->queue + (cored ? h->core : 0);
	struct tn_af_packet_cfg ac = {.mtu = ds->mtu, .fanout_group = ds->fanout, .kernel_rx = ds->kernel_rx,
				      .rss_queues = cored ? h->cores->n : 0}; /* the steering's default key */
	struct tn_af_xdp_cfg xc = {.mtu = ds->mtu, .queue = queue, .steer = ds->steer};
	if (ds->rx_usecs >= 0)
		xc.rx_usecs = ac.rx_usecs = ds->rx_usecs ? (uint32_t)ds->rx_usecs : UINT32_MAX;
	struct tn_dev *d = afp ? tn_af_packet_open(ds->ifname, &ac)
			 : axdp ? tn_af_xdp_open(ds->ifname, &xc, h->s->pool)
			 : cored ? tn_tap_open_queue(ds->ifname, ds->framing, ds->mtu)
				    : tn_tap_open(ds->ifname, ds->framing, ds->mtu);
	if (!d && axdp && !tn_af_xdp_built()) {
		fprintf(stderr, "tern: af_xdp %s: tern was built without libxdp/libbpf "
				"(install libxdp-dev libbpf-dev pkg-config and rebuild)\n", ds->ifname);
		return NULL;
	}
	if (!d) {
		int err = errno;
		fprintf(stderr, "tern: %s %s", afp ? "af_packet" : axdp ? "af_xdp" : ds->framing == TN_DEV_L2 ? "tap" : "tun",
			ds->ifname);
		if (cored)
			fprintf(stderr, " (core %u, queue %u)", h->core, axdp ? queue : h->core);
		fprintf(stderr, ": %s%s\n", strerror(err),
			cored && !afp && !axdp && err == EINVAL
				? " (an existing TAP must be multi-queue: ip tuntap add IF mode tap multi_queue)" : "");
		return NULL;
	}
	if (axdp)
		fprintf(stderr, "tern: af_xdp %s queue %u: %s\n", ds->ifname, queue, tn_af_xdp_mode(d));
	if (afp && cored && h->core == 0)
		fprintf(stderr, "tern: af_packet %s: fanout by %s\n", ds->ifname,
			tn_af_packet_fanout_rss(d) ? "the cores' RSS hash (a BPF program)"
						   : "the kernel's flow hash (the RSS program did not load), steered again in software");
	if (afp && tn_af_packet_kernel_cut(d) && (!cored || h->core == 0))
		fprintf(stderr, "tern: af_packet %s: the kernel's own receive path on it is cut (tcx; --kernel-rx pass keeps it)\n",
			ds->ifname);
	else if (afp && ds->kernel_rx == TN_KERNEL_RX_DROP && !tn_af_packet_kernel_cut(d))
		fprintf(stderr, "tern: af_packet %s: cannot cut the kernel's receive path (tcx needs Linux 6.6 and CAP_BPF)\n",
			ds->ifname);
	return d;
}

static int open_devices(struct host *h, struct dev_spec *devs, int ndevs, const char *pcap)
{
	struct timespec rt, mt;
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mt);
	uint64_t wall_offset = ((uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec) -
			       ((uint64_t)mt.tv_sec * 1000000000ull + (uint64_t)mt.tv_nsec);
	for (int i = 0; i < ndevs; i++) {
		struct tn_dev *d = open_link(h, &devs[i]);
		if (!d)
			return -1;
		if (per_core(h)) {
			struct tn_dev *sd = tn_steer_new(h->cores->g, h->core, d);
			if (!sd)
				tn_dev_destroy(d);
			d = sd;
		}
		if (!d) {
			fprintf(stderr, "tern: %s: steering for core %u: %s\n", devs[i].ifname, h->core, strerror(errno));
			return -1;
		}
		if (devs[i].impair) {
			struct tn_fault_cfg fc;
			if (parse_impair(devs[i].impair, &fc) < 0) {
				fprintf(stderr, "tern: --impair \"%s\": expected words like loss 2%% delay 20ms jitter 5ms "
						"reorder 10%% duplicate 1%% corrupt 0.1%% rate 100mbit\n", devs[i].impair);
				tn_dev_destroy(d);
				return -1;
			}
			d = tn_fault_new(d, &fc);
		}
		if (pcap) {
			/* --cores: a file per core (FILE-coreK.pcap), each what its
			 * stack received and sent, as tcpdump per queue would */
			char core[16];
			snprintf(core, sizeof(core), "core%u", h->core);
			char *file = pcap_name(pcap, per_core(h) ? core : devs[i].ifname, per_core(h) || ndevs > 1);
			struct tn_dev *w = tn_pcap_new(d, file, wall_offset);
			if (!w) {
				fprintf(stderr, "tern: pcap %s: %s\n", file, strerror(errno));
				free(file);
				tn_dev_destroy(d);
				return -1;
			}
			free(file);
			d = w;
		}
		int ifindex = tern_dev_attach(h->s, d);
		if (ifindex < 0) {
			tn_dev_destroy(d);
			return -1;
		}
		if (devs[i].offload && set_offloads(h->s, ifindex, devs[i].offload) < 0) {
			fprintf(stderr, "tern: --offload \"%s\": expected words like tso off gso on gro off\n",
				devs[i].offload);
			return -1;
		}
		for (int j = 0; j < devs[i].naddrs; j++)
			if (tern_addr_add(h->s, ifindex, devs[i].addr[j], devs[i].plen[j]) < 0) {
				fprintf(stderr, "tern: address on %s: %s\n", devs[i].ifname, strerror(errno));
				return -1;
			}
	}
	return 0;
}

struct host_opts {
	struct dev_spec devs[MAX_DEVS];
	int ndevs, echo_port;
	uint32_t gateway;
	bool forward;
	const char *pcap;
};

/* af_xdp: the XDP programs detached, the devices' RSS put back. */
static void xdp_devs_release(struct host_opts *o)
{
	for (int i = 0; i < o->ndevs; i++) {
		tn_xdp_steer_free(o->devs[i].steer);
		o->devs[i].steer = NULL;
		tn_nic_rss_restore(o->devs[i].nic_rss);
		o->devs[i].nic_rss = NULL;
	}
}

static void host_teardown(struct host *h)
{
	tn_httpd_free(h->httpd);
	h->httpd = NULL;
	for (int i = 0; i < h->niperf3; i++) {
		tn_iperf3_free(h->iperf3[i]);
		h->iperf3[i] = NULL;
	}
	tern_stack_free(h->s);
	h->s = NULL;
	free(h->conns);
	h->conns = NULL;
}

/* A stack with its devices, settings and services: the whole host, or one
 * core of it. */
static int host_setup(struct host *h, struct host_opts *o)
{
	struct tern_config cfg = {.name = h->name, .now = mono_ns(), .log = host_log};
	h->s = tern_stack_new(&cfg);
	if (!h->s)
		return -1;
	if (per_core(h))
		tern_stack_set_rss(h->s, h->cores->n, h->core, tn_steer_key(h->cores->g));
	if (open_devices(h, o->devs, o->ndevs, o->pcap) < 0)
		return -1;
	if (h->tc_file && tc_file_apply(h->s, h->tc_file) < 0)
		return -1;
	if (o->forward)
		tern_sysctl_set(h->s, "net.ipv4.ip_forward", "1");
	if (h->iptables_file && host_iptables_file(h->s, h->iptables_file) < 0)
		return -1;
	if (o->gateway && tern_route_add(h->s, 0, 0, o->gateway, 0, 0) < 0) {
		fprintf(stderr, "tern: default route via gateway: %s\n", strerror(errno));
		return -1;
	}
	if (o->echo_port > 0) {
		h->udp_echo_fd = tern_socket(h->s, AF_INET, SOCK_DGRAM, 0);
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->echo_port)};
		if (tern_bind(h->s, h->udp_echo_fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			fprintf(stderr, "tern: udp echo port %d: %s\n", o->echo_port, strerror(errno));
			return -1;
		}
	}
	int nsvc = h->ntcp;
	int ports[MAX_TCP_SERVICES];
	enum tcp_kind kinds[MAX_TCP_SERVICES];
	memcpy(ports, h->tcp_listen, sizeof(ports));
	memcpy(kinds, h->tcp_kind, sizeof(kinds));
	h->ntcp = 0;
	h->conns = calloc(MAX_TCP_CONNS, sizeof(*h->conns));
	h->conns_hi = 0;
	for (int i = 0; i < MAX_TCP_CONNS; i++)
		h->conns[i].fd = -1;
	for (int i = 0; i < nsvc; i++)
		if (tcp_service_open(h, ports[i], kinds[i]) < 0)
			return -1;
	if (h->http_port) {
		struct tn_httpd_cfg hc = {.port = (uint16_t)h->http_port, .docroot = h->docroot, .wallclock = wall_seconds,
					  .file_cache_bytes = h->file_cache_bytes};
		if (!(h->httpd = tn_httpd_new(h->s, &hc))) {
			fprintf(stderr, "tern: http port %d%s%s: %s\n", h->http_port, h->docroot ? ", docroot " : "",
				h->docroot ? h->docroot : "", strerror(errno));
			return -1;
		}
	}
	for (int i = 0; i < h->niperf3; i++) {
		struct tn_iperf3_cfg ic = {.port = (uint16_t)h->iperf3_port[i], .cpu_times = cpu_times, .log = iperf3_log};
		if (!(h->iperf3[i] = tn_iperf3_new(h->s, &ic))) {
			fprintf(stderr, "tern: iperf3 port %d: %s\n", h->iperf3_port[i], strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Core i's thread on CPU i (mod the CPUs online), unless --no-pin. */
static void pin_to(const struct host *h, unsigned core)
{
	if (h->no_pin)
		return;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(core % (unsigned)(ncpu > 0 ? ncpu : 1), &set); /* fewer CPUs than cores: modulo */
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *core_thread(void *arg)
{
	struct host *h = arg;
	pin_to(h, h->core);
	host_loop(h);
	host_stop = 1; /* one core's link went away: stop them all */
	return NULL;
}

static void print_exit_stats(struct host *h)
{
	for (int i = 0; i < h->niperf3; i++) {
		const struct tn_iperf3_stats *is = tn_iperf3_stats(h->iperf3[i]);
		char port[24] = "";
		if (h->niperf3 > 1)
			snprintf(port, sizeof(port), " port %d", h->iperf3_port[i]);
		printf("tern host %s: iperf3%s: %" PRIu64 " tests, %" PRIu64 " completed, %" PRIu64 " ended early (%" PRIu64
		       " timeouts), %" PRIu64 " refused busy, %" PRIu64 " bad cookies, %" PRIu64 " bad control, %" PRIu64
		       " UDP/SCTP refused\n", h->name, port, is->tests, is->completed, is->aborted, is->timeouts, is->busy,
		       is->bad_cookie, is->bad_control, is->refused_proto);
	}
}

/* One AF_XDP socket per queue: core k binds queue (--queue) + k, which the
 * interface must have (the kernel would only say EINVAL). */
static int xdp_queues_check(const struct dev_spec *ds, unsigned ncores)
{
	int nq = tn_af_xdp_queues(ds->ifname);
	if (nq < 0)
		return 0;
	if (ds->queue + ncores <= (unsigned)nq)
		return 0;
	if (ncores > 1)
		fprintf(stderr, "tern: af_xdp %s has %d queue%s; --cores %u from --queue %u needs queues %u..%u", ds->ifname,
			nq, nq == 1 ? "" : "s", ncores, ds->queue, ds->queue, ds->queue + ncores - 1);
	else
		fprintf(stderr, "tern: af_xdp %s has %d queue%s, no queue %u", ds->ifname, nq, nq == 1 ? "" : "s",
			ds->queue);
	fprintf(stderr, " (a veth: ip link add ... numrxqueues N numtxqueues N; a NIC: ethtool -L %s combined N)\n",
		ds->ifname);
	return -1;
}

/* af_xdp: the interface's XDP program, shared by the cores' sockets.  It
 * takes tern's frames (IPv4 and ARP for --addr) and passes the rest to
 * the kernel, which may keep addresses of its own on the interface; with
 * no --addr, every frame of tern's queues. */
static int xdp_steer_open(struct dev_spec *ds, int nq)
{
	struct tn_xdp_steer_cfg sc = {.addrs = ds->addr, .naddrs = (unsigned)ds->naddrs, .nqueues = nq > 0 ? (unsigned)nq : 0};
	unsigned ifindex = if_nametoindex(ds->ifname);
	if (!ifindex) {
		fprintf(stderr, "tern: af_xdp %s: %s\n", ds->ifname, strerror(errno));
		return -1;
	}
	ds->steer = tn_xdp_steer_new((int)ifindex, &sc);
	if (!ds->steer) {
		int err = errno;
		fprintf(stderr, "tern: af_xdp %s: XDP program: %s%s\n", ds->ifname, strerror(err),
			err == EBUSY ? " (the interface has an XDP program already: ip link set dev IF xdp off)" : "");
		return -1;
	}
	fprintf(stderr, "tern: af_xdp %s: XDP program (%s) takes %s\n", ds->ifname,
		tn_xdp_steer_native(ds->steer) ? "native" : "generic",
		ds->naddrs ? "ARP and IPv4 for tern's addresses; the rest passes to the kernel" : "every frame (no --addr)");
	return 0;
}

/* af_xdp: point the NIC's RSS at tern's queues with the cores' key, so a
 * flow arrives on the queue of the core whose hash it has (nic_rss.c);
 * where it cannot (a veth), steer.c moves frames after, and with more
 * than one core tern says so. */
static void nic_rss_take(struct dev_spec *ds, unsigned ncores, int nq)
{
	ds->nic_rss = tn_nic_rss_take(ds->ifname, tn_rss_default_key, ds->queue, ncores);
	if (ds->nic_rss) {
		fprintf(stderr, "tern: af_xdp %s: the device's RSS hashes by tern's Toeplitz key over queues %u..%u "
				"(put back at exit)\n", ds->ifname, ds->queue, ds->queue + ncores - 1);
		return;
	}
	const char *why = strerror(errno);
	/* tern's frames on a queue no socket binds are dropped by the XDP
	 * program (no_socket; with no --addr they pass to the kernel) */
	if (nq > 0 && (unsigned)nq > ncores)
		fprintf(stderr, "tern: af_xdp %s has %d queues and tern takes %u..%u, and the device's RSS cannot be set "
				"(%s): tern's frames on the others are lost (ethtool -X %s start %u equal %u)\n",
			ds->ifname, nq, ds->queue, ds->queue + ncores - 1, why, ds->ifname, ds->queue, ncores);
	else if (ncores > 1)
		fprintf(stderr, "tern: af_xdp %s: the device's RSS cannot be set (%s): frames that arrive on the wrong "
				"core are moved in software\n", ds->ifname, why);
}

/* --cores N: one device, and a driver that gives each core its own queue
 * of it (docs/DESIGN.md "Per-core stacks"). */
static int cores_check(struct host_opts *o, unsigned ncores)
{
	struct dev_spec *ds = &o->devs[0];
	if (o->ndevs != 1) {
		fprintf(stderr, "tern: --cores takes one --dev (or --tap)\n");
		return -1;
	}
	if (ds->driver && strcmp(ds->driver, "af_packet") == 0 && !ds->fanout)
		ds->fanout = (uint32_t)(getpid() & 0x7fff) + 1; /* the cores' sockets share one fanout group */
	return 0;
}

/* How the cores share the device, for the start-up line. */
static const char *cores_queues(const struct dev_spec *ds, unsigned ncores, char *buf, size_t len)
{
	if (ds->driver && strcmp(ds->driver, "af_packet") == 0)
		snprintf(buf, len, "af_packet fanout group %u", ds->fanout);
	else if (ds->driver && strcmp(ds->driver, "af_xdp") == 0)
		snprintf(buf, len, "af_xdp queues %u..%u", ds->queue, ds->queue + ncores - 1);
	else
		snprintf(buf, len, "multi-queue %s, %u queues", ds->framing == TN_DEV_L3 ? "tun" : "tap", ncores);
	return buf;
}

int cmd_host(int argc, char **argv)
{
	struct host h = {.name = "tern", .listen_fd = -1, .udp_echo_fd = -1};
	for (int i = 0; i < MAX_SESSIONS; i++)
		h.sessions[i].fd = h.sessions[i].passed_fd = -1;
	struct host_opts o = {0};
	unsigned ncores = 1;
	if (parse_host_args(argc, argv, &h, o.devs, &o.ndevs, &o.gateway, &o.forward, &o.echo_port, &o.pcap,
			    &ncores) < 0) {
		usage();
		return 2;
	}
	for (int i = 0; i < o.ndevs; i++)
		if (o.devs[i].driver && strcmp(o.devs[i].driver, "af_xdp") == 0 && xdp_queues_check(&o.devs[i], ncores) < 0)
			return 2;
	struct cores cs = {.n = ncores};
	if (ncores > 1) {
		if (cores_check(&o, ncores) < 0)
			return 2;
		cs.g = tn_steer_group_new(ncores, o.devs[0].framing, NULL, 4096); /* --tun: raw IP */
		cs.h = calloc(ncores, sizeof(*cs.h));
		cs.cmdq = calloc(ncores, sizeof(*cs.cmdq));
		bool rings = cs.cmdq != NULL;
		for (unsigned i = 0; rings && i < ncores; i++)
			rings = (cs.cmdq[i] = tn_ring_new(16)) != NULL;
		if (!cs.g || !cs.h || !rings) {
			errno = ENOMEM;
			fprintf(stderr, "tern: --cores %u: %s\n", ncores, strerror(errno));
			return 1;
		}
		/* an iperf3 test is a control connection and its streams, which
		 * must meet in one server: its port's flows all go to core 0 */
		for (int i = 0; i < h.niperf3; i++)
			if (tn_steer_pin_port(cs.g, 6, (uint16_t)h.iperf3_port[i], 0) < 0) {
				fprintf(stderr, "tern: --iperf3 %d with --cores: %s\n", h.iperf3_port[i], strerror(errno));
				return 1;
			}
	} else {
		cs.h = &h;
	}
	for (int i = 0; i < o.ndevs; i++) {
		if (!o.devs[i].driver || strcmp(o.devs[i].driver, "af_xdp") != 0 || !tn_af_xdp_built())
			continue;
		int nq = tn_af_xdp_queues(o.devs[i].ifname);
		if (xdp_steer_open(&o.devs[i], nq) < 0) {
			xdp_devs_release(&o);
			return 1; /* the process ends: the kernel takes the rest */
		}
		nic_rss_take(&o.devs[i], ncores, nq);
	}
	if (ncores > 1)
		for (unsigned i = 0; i < ncores; i++)
			cs.h[i] = h; /* the options; a stack and services of its own below */
	int rc = 0;
	unsigned started = 0;
	for (unsigned i = 0; i < ncores && rc == 0; i++, started++) {
		struct host *hi = &cs.h[i];
		hi->cores = &cs;
		hi->core = i;
		if (host_setup(hi, &o) < 0)
			rc = 1;
	}
	if (rc == 0 && listen_ctl(&cs.h[0]) < 0)
		rc = 1;
	if (rc) {
		for (unsigned i = 0; i < started; i++)
			host_teardown(&cs.h[i]);
		if (ncores > 1)
			free(cs.h);
		for (unsigned i = 0; cs.cmdq && i < ncores; i++)
			tn_ring_free(cs.cmdq[i]);
		free(cs.cmdq);
		tn_steer_group_free(cs.g);
		xdp_devs_release(&o);
		return 1;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	struct host *h0 = &cs.h[0];
	char how[96];
	if (ncores > 1)
		fprintf(stderr, "tern: host %s running on %u cores, %s (control: %s)\n", h0->name, ncores,
			cores_queues(&o.devs[0], ncores, how, sizeof(how)), h0->path);
	else
		fprintf(stderr, "tern: host %s running (control: %s)\n", h0->name, h0->path);
	/* Wake when asked, not up to 50 us later (the default timer slack):
	 * qdisc watchdogs and TCP pacing run on these wake-ups.  Threads
	 * created after this inherit it. */
	prctl(PR_SET_TIMERSLACK, 1UL);
	for (unsigned i = 1; i < ncores; i++)
		pthread_create(&cs.h[i].thread, NULL, core_thread, &cs.h[i]);
	if (ncores > 1)
		pin_to(h0, 0);
	host_loop(h0);
	host_stop = 1;
	for (unsigned i = 1; i < ncores; i++)
		pthread_join(cs.h[i].thread, NULL);
	for (int i = 0; i < MAX_SESSIONS; i++)
		if (h0->sessions[i].fd >= 0)
			session_end(&h0->sessions[i], 1);
	close(h0->listen_fd);
	unlink(h0->path);
	uint64_t *sum = calloc(TN_STAT_COUNT, sizeof(*sum));
	for (unsigned i = 0; i < ncores; i++) {
		print_exit_stats(&cs.h[i]);
		for (int k = 0; k < TN_STAT_COUNT; k++)
			sum[k] += cs.h[i].s->stats[k];
	}
	printf("tern host %s: counters at exit%s\n", h0->name, ncores > 1 ? " (all cores)" : "");
	tn_stats_print_netstat(stdout, sum);
	free(sum);
	for (unsigned i = 0; i < ncores; i++)
		host_teardown(&cs.h[i]);
	for (unsigned i = 0; cs.cmdq && i < ncores; i++)
		tn_ring_free(cs.cmdq[i]);
	free(cs.cmdq);
	if (ncores > 1)
		free(cs.h);
	tn_steer_group_free(cs.g);
	xdp_devs_release(&o); /* after every core's socket is closed */
	return 0;
}
