/* TCP bulk goodput, per core of CPU used: tern against the Linux kernel
 * doing the same work.
 *
 *   tern:   two stacks joined by a memlink (Ethernet framing, MTU 1500) in
 *           one thread on the real clock.  One TCP connection; each loop
 *           iteration the sender writes until its send buffer is full, both
 *           stacks are polled once, and the receiver reads everything
 *           queued and discards it.
 *   iperf3: `iperf3 -s -1` and `iperf3 -c 127.0.0.1 -t SECONDS -J` started
 *           from here (two processes on the loopback device); goodput is
 *           the JSON's end.sum_received, CPU is what both children used
 *           (getrusage RUSAGE_CHILDREN), and iperf3's own CPU figures are
 *           printed too.
 *   kernel: the same as iperf3 without it (the fallback when it is not
 *           installed): a sender thread and a receiver thread over
 *           127.0.0.1, blocking sockets, 128 KiB writes and reads (iperf3's
 *           default), default buffers.
 *
 * Goodput counts bytes that reach the receiving application, per second of
 * wall time; "per core" divides by the CPU time the process(es) used (user
 * + system, which on this kernel includes the softirq work done in their
 * context).  Run pinned (taskset): then one core does both ends and the
 * CPU time is at most the wall time.
 *
 *   tcp_bulk tern|iperf3|kernel [SECONDS] [PORT]
 *   prints: MODE gbps=F per_core_gbps=F bytes=N wall_s=F cpu_s=F cpu=F ...
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/stack.h"
#include "link/dev.h"
#include "tern/tern.h"
#include "bench_util.h"

#define CHUNK (128 * 1024) /* iperf3's default TCP block */
#define PORT 5201
#define ADDR_A 0xc6120001u /* 198.18.0.1: the benchmarking range */
#define ADDR_B 0xc6120002u

struct result {
	uint64_t bytes, wall_ns, cpu_ns;
	char extra[512]; /* mode-specific fields, printed as they are */
};

/* ---- tern ---- */

struct tern_pair {
	struct tn_stack *a, *b;
	int lfd, cfd, sfd; /* listener (b), client (a), accepted (b) */
};

static int tern_setup(struct tern_pair *p)
{
	uint64_t t = now_ns();
	struct tern_config ca = {.name = "bulk-a", .seed = 1, .now = t};
	struct tern_config cb = {.name = "bulk-b", .seed = 2, .now = t};
	struct tn_dev *da, *db;
	p->a = tern_stack_new(&ca);
	p->b = tern_stack_new(&cb);
	if (!p->a || !p->b || tn_memlink_pair("bulk-a", "bulk-b", TN_DEV_L2, 1500, 1024, &da, &db) < 0)
		return -1;
	int ia = tern_dev_attach(p->a, da), ib = tern_dev_attach(p->b, db);
	if (ia < 0 || ib < 0 || tern_addr_add(p->a, ia, ADDR_A, 24) < 0 ||
	    tern_addr_add(p->b, ib, ADDR_B, 24) < 0)
		return -1;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(PORT)};
	p->lfd = tern_socket(p->b, AF_INET, SOCK_STREAM, 0);
	if (p->lfd < 0 || tern_bind(p->b, p->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    tern_listen(p->b, p->lfd, 16) < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(ADDR_B);
	p->cfd = tern_socket(p->a, AF_INET, SOCK_STREAM, 0);
	if (p->cfd < 0 || (tern_connect(p->a, p->cfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS))
		return -1;
	p->sfd = -1;
	for (int i = 0; i < 100000 && p->sfd < 0; i++) {
		uint64_t now = now_ns();
		tern_poll(p->a, now);
		tern_poll(p->b, now);
		p->sfd = tern_accept(p->b, p->lfd, NULL, NULL);
	}
	if (p->sfd < 0)
		return -1;
	for (int i = 0; i < 100000 && !(tern_sock_events(p->a, p->cfd) & POLLOUT); i++) {
		uint64_t now = now_ns();
		tern_poll(p->a, now);
		tern_poll(p->b, now);
	}
	return tern_sock_events(p->a, p->cfd) & POLLOUT ? 0 : -1;
}

/* One iteration: fill the send buffer, poll both stacks, drain the
 * receiver.  Returns bytes received. */
static uint64_t tern_step(struct tern_pair *p, const char *out, char *in, uint64_t now, uint64_t *sent)
{
	ssize_t n;
	while ((n = tern_send(p->a, p->cfd, out, CHUNK, 0)) > 0)
		*sent += (uint64_t)n;
	tern_poll(p->a, now);
	tern_poll(p->b, now);
	uint64_t got = 0;
	while ((n = tern_recv(p->b, p->sfd, in, CHUNK, 0)) > 0)
		got += (uint64_t)n;
	return got;
}

static int run_tern(uint64_t duration, struct result *r)
{
	struct tern_pair p = {0};
	char *out = calloc(1, CHUNK), *in = malloc(CHUNK);
	int rc = out && in ? tern_setup(&p) : -1;
	if (rc == 0) {
		uint64_t sent = 0, t = now_ns(), warm = t + duration / 10; /* slow start, not counted */
		while (t < warm) {
			tern_step(&p, out, in, t, &sent);
			t = now_ns();
		}
		uint64_t c0 = rusage_cpu_ns(RUSAGE_SELF), start = now_ns(), end = start + duration;
		int64_t rtx0 = tern_stat(p.a, "TcpRetransSegs");
		int64_t seg0 = tern_stat(p.a, "TcpOutSegs"), ack0 = tern_stat(p.b, "TcpOutSegs");
		uint64_t qd0 = p.a->ifaces[1].tx_queue_drops + p.b->ifaces[1].tx_queue_drops;
		uint64_t iters = 0, last_progress = start, stall = 0;
		t = start;
		while (t < end) {
			uint64_t got = tern_step(&p, out, in, t, &sent);
			r->bytes += got;
			iters++;
			if (got) {
				if (t - last_progress > stall)
					stall = t - last_progress;
				last_progress = t;
			}
			t = now_ns();
		}
		r->wall_ns = t - start;
		r->cpu_ns = rusage_cpu_ns(RUSAGE_SELF) - c0;
		int sndbuf = 0, rcvbuf = 0;
		socklen_t sl = sizeof(int);
		tern_getsockopt(p.a, p.cfd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &sl);
		sl = sizeof(int);
		tern_getsockopt(p.b, p.sfd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &sl);
		snprintf(r->extra, sizeof(r->extra),
			 "segs=%lld acks=%lld retrans=%lld txq_drops=%llu longest_stall_ms=%.1f bytes_per_iter=%.0f sndbuf=%d rcvbuf=%d mtu=1500",
			 (long long)(tern_stat(p.a, "TcpOutSegs") - seg0), (long long)(tern_stat(p.b, "TcpOutSegs") - ack0),
			 (long long)(tern_stat(p.a, "TcpRetransSegs") - rtx0),
			 (unsigned long long)(p.a->ifaces[1].tx_queue_drops + p.b->ifaces[1].tx_queue_drops - qd0),
			 (double)stall / 1e6,
			 iters ? (double)r->bytes / (double)iters : 0.0, sndbuf, rcvbuf);
	}
	if (p.a)
		tern_stack_free(p.a);
	if (p.b)
		tern_stack_free(p.b);
	free(out);
	free(in);
	return rc;
}

/* ---- Linux: iperf3 ---- */

/* Is something listening on TCP port `port`?  (/proc/net/tcp and tcp6:
 * iperf3 listens on the IPv6 wildcard.) */
static bool port_listening(int port)
{
	static const char *const files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
	bool found = false;
	for (int i = 0; i < 2 && !found; i++) {
		FILE *f = fopen(files[i], "r");
		if (!f)
			continue;
		char line[512];
		unsigned lport, st;
		while (!found && fgets(line, sizeof(line), f))
			if (sscanf(line, " %*d: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", &lport, &st) == 2 &&
			    lport == (unsigned)port && st == 0x0a)
				found = true;
		fclose(f);
	}
	return found;
}

/* The number after "key": at or after `from` in the JSON text; NaN if absent. */
static double json_num(const char *from, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *p = from ? strstr(from, pat) : NULL;
	return p ? strtod(p + strlen(pat), NULL) : __builtin_nan("");
}

static pid_t spawn(char *const argv[], int out_fd)
{
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(out_fd >= 0 ? out_fd : null, 1);
		dup2(null, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int run_iperf3(uint64_t duration, int port, struct result *r)
{
	char ports[16], secs[32];
	snprintf(ports, sizeof(ports), "%d", port);
	snprintf(secs, sizeof(secs), "%.3f", (double)duration / 1e9);
	if (port_listening(port)) {
		fprintf(stderr, "tcp_bulk: port %d is already in use\n", port);
		return -1;
	}
	uint64_t c0 = rusage_cpu_ns(RUSAGE_CHILDREN);
	char *srv[] = {"iperf3", "-s", "-1", "-p", ports, NULL};
	pid_t spid = spawn(srv, -1);
	if (spid < 0)
		return -1;
	for (int i = 0; i < 500 && !port_listening(port); i++)
		usleep(10000);
	int pfd[2];
	if (pipe(pfd) < 0)
		return -1;
	char *cli[] = {"iperf3", "-c", "127.0.0.1", "-p", ports, "-t", secs, "-J", NULL};
	pid_t cpid = spawn(cli, pfd[1]);
	close(pfd[1]);
	size_t cap = 1 << 16, len = 0;
	char *json = malloc(cap + 1);
	ssize_t n;
	while (json && (n = read(pfd[0], json + len, cap - len)) > 0) {
		len += (size_t)n;
		if (len == cap) {
			char *bigger = realloc(json, 2 * cap + 1);
			if (!bigger)
				break;
			json = bigger;
			cap *= 2;
		}
	}
	close(pfd[0]);
	int cst = 0, sst = 0;
	waitpid(cpid, &cst, 0);
	for (int i = 0; i < 300; i++) { /* the one-off server exits after its test */
		if (waitpid(spid, &sst, WNOHANG) == spid)
			break;
		if (i == 299) {
			kill(spid, SIGTERM);
			waitpid(spid, &sst, 0);
		}
		usleep(10000);
	}
	r->cpu_ns = rusage_cpu_ns(RUSAGE_CHILDREN) - c0;
	if (!json)
		return -1;
	json[len] = 0;
	const char *recv = strstr(json, "\"sum_received\"");
	const char *sent = strstr(json, "\"sum_sent\"");
	const char *cpu = strstr(json, "\"cpu_utilization_percent\"");
	double bytes = json_num(recv, "bytes"), secs_rx = json_num(recv, "seconds");
	if (!WIFEXITED(cst) || WEXITSTATUS(cst) != 0 || !(bytes > 0) || !(secs_rx > 0)) {
		fprintf(stderr, "tcp_bulk: iperf3 failed (exit %d): %.300s\n", WIFEXITED(cst) ? WEXITSTATUS(cst) : -1,
			json);
		free(json);
		return -1;
	}
	r->bytes = (uint64_t)bytes;
	r->wall_ns = (uint64_t)(secs_rx * 1e9);
	snprintf(r->extra, sizeof(r->extra),
		 "retrans=%.0f iperf3_cpu_client=%.1f%% iperf3_cpu_server=%.1f%% iperf3_gbps=%.3f mtu=65536(lo)",
		 json_num(sent, "retransmits"), json_num(cpu, "host_total"), json_num(cpu, "remote_total"),
		 json_num(recv, "bits_per_second") / 1e9);
	free(json);
	return 0;
}

/* ---- Linux: sender and receiver threads (when iperf3 is absent) ---- */

struct kern_side {
	int fd;
	uint64_t end, bytes, done_ns;
};

static void *kern_sender(void *arg)
{
	struct kern_side *k = arg;
	char *buf = calloc(1, CHUNK);
	while (buf && now_ns() < k->end) {
		ssize_t n = send(k->fd, buf, CHUNK, 0);
		if (n < 0 && errno != EINTR)
			break;
		if (n > 0)
			k->bytes += (uint64_t)n;
	}
	shutdown(k->fd, SHUT_WR);
	free(buf);
	return NULL;
}

static void *kern_receiver(void *arg)
{
	struct kern_side *k = arg;
	char *buf = malloc(CHUNK);
	ssize_t n;
	while (buf && ((n = recv(k->fd, buf, CHUNK, 0)) > 0 || (n < 0 && errno == EINTR)))
		if (n > 0)
			k->bytes += (uint64_t)n;
	k->done_ns = now_ns();
	free(buf);
	return NULL;
}

static int run_kernel(uint64_t duration, struct result *r)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&sa, &sl) < 0 || connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	int s = accept(l, NULL, NULL);
	if (s < 0)
		return -1;
	close(l);
	uint64_t c0 = rusage_cpu_ns(RUSAGE_SELF), start = now_ns();
	struct kern_side tx = {.fd = c, .end = start + duration}, rx = {.fd = s};
	pthread_t tt, rt;
	if (pthread_create(&rt, NULL, kern_receiver, &rx) != 0 || pthread_create(&tt, NULL, kern_sender, &tx) != 0)
		return -1;
	pthread_join(tt, NULL);
	pthread_join(rt, NULL);
	r->cpu_ns = rusage_cpu_ns(RUSAGE_SELF) - c0;
	r->bytes = rx.bytes;
	r->wall_ns = rx.done_ns - start;
	close(c);
	close(s);
	snprintf(r->extra, sizeof(r->extra), "threads=2 chunk=%d mtu=65536(lo)", CHUNK);
	return rx.bytes == tx.bytes ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *mode = argc >= 2 ? argv[1] : "";
	if (strcmp(mode, "tern") != 0 && strcmp(mode, "iperf3") != 0 && strcmp(mode, "kernel") != 0) {
		fprintf(stderr, "usage: tcp_bulk tern|iperf3|kernel [SECONDS] [PORT]\n");
		return 2;
	}
	double secs = argc > 2 ? atof(argv[2]) : 5.0;
	int port = argc > 3 ? atoi(argv[3]) : PORT;
	if (!(secs > 0 && secs < 3600) || port <= 0 || port > 65535) {
		fprintf(stderr, "tcp_bulk: SECONDS must be in (0, 3600), PORT in 1..65535\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct result r = {0};
	uint64_t duration = (uint64_t)(secs * 1e9);
	int rc = mode[0] == 't' ? run_tern(duration, &r) : mode[0] == 'i' ? run_iperf3(duration, port, &r)
									 : run_kernel(duration, &r);
	if (rc < 0 || r.bytes == 0 || r.wall_ns == 0 || r.cpu_ns == 0) {
		fprintf(stderr, "tcp_bulk %s: failed%s%s\n", mode, errno ? ": " : "", errno ? strerror(errno) : "");
		return 1;
	}
	double wall = (double)r.wall_ns / 1e9, cpu = (double)r.cpu_ns / 1e9, bits = (double)r.bytes * 8;
	printf("%s gbps=%.3f per_core_gbps=%.3f bytes=%llu wall_s=%.3f cpu_s=%.3f cpu=%.3f %s\n", mode,
	       bits / wall / 1e9, bits / cpu / 1e9, (unsigned long long)r.bytes, wall, cpu, cpu / wall, r.extra);
	return 0;
}
