/* Memory per idle ESTABLISHED TCP connection endpoint, at N connections
 * (default 100,000): tern against the Linux kernel.
 *
 *   tern:   two stacks joined by a memlink (one process), the server
 *           listening on one port, the client spreading its connections
 *           over 8 local addresses (tern picks the ephemeral port per
 *           local address from the default 32768-60999 range, so one
 *           address holds at most 28,232).  Connections are opened in
 *           batches of 1,000 and accepted; afterwards the stacks are
 *           polled until quiet and no packet buffer is held.  Measured:
 *           the heap in use (mallinfo2: uordblks + hblkhd) grown by each
 *           stack's calls, attributed to the client or server side by
 *           which stack's call it grew in, and the process's resident set
 *           (VmRSS) before and after.  Per endpoint: each side's heap
 *           growth / N; the RSS growth / 2N.
 *   kernel: N loopback connections (2N sockets) held by CHILDREN child
 *           processes (a process here may hold at most 20,000 descriptors;
 *           each holds N/CHILDREN connections = 2N/CHILDREN descriptors).
 *           Child k listens on 127.0.0.1:(21000+k) and connects from
 *           127.0.(k+1).1 (bind with IP_BIND_ADDRESS_NO_PORT, the port
 *           chosen at connect), so no source port range runs out.
 *           Measured: /proc/meminfo Slab (and its SUnreclaim and
 *           SReclaimable parts) before the children start and once every
 *           connection is established, and the /proc/slabinfo caches that
 *           grew the most.  Per endpoint: Slab growth / 2N.  MemFree's
 *           drop / 2N is printed too: it also holds what is not slab
 *           (descriptor tables, the children's own pages).  Every socket
 *           has SO_LINGER 0 so the children's exit leaves no TIME-WAIT.
 *
 *   tcp_mem tern|kernel [CONNECTIONS] [CHILDREN]
 *   prints: MODE bytes_per_endpoint=F ...
 *   TCP_MEM_ALL=1 in the environment lists 40 slab caches instead of 6.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/stack.h"
#include "link/dev.h"
#include "tcp/tcp.h"
#include "tern/tern.h"
#include "bench_util.h"

#define BATCH 1000
#define ADDR_SRV 0xc6120001u  /* 198.18.0.1 */
#define ADDR_CLI0 0xc612000au /* 198.18.0.10 .. .17 */
#define NCLI_ADDRS 8
#define PORT 8080
#define KPORT0 21000

/* ---- tern ---- */

/* Heap growth is charged to the stack whose call it happened in.  The
 * heap is read after every call that may allocate, and taken as
 * unchanged across a poll that did nothing (mallinfo2 walks the free
 * lists: reading it around every idle poll would dominate the run). */
static long long heap_last;

struct tern_side {
	struct tn_stack *st;
	long long heap; /* growth during this stack's calls */
};

static void charge(struct tern_side *sd)
{
	long long h = heap_bytes();
	sd->heap += h - heap_last;
	heap_last = h;
}

static unsigned polled(struct tern_side *sd, uint64_t now)
{
	unsigned w = tern_poll(sd->st, now);
	if (w)
		charge(sd);
	return w;
}

/* Open `count` connections from the client's addresses in turn, run the
 * handshakes and accept them; `accepted` counts accepts so far, est0 is
 * the client's TcpCurrEstab before the first batch.  fds (if not NULL)
 * gets the client descriptors. */
static int open_batch(struct tern_side *cli, struct tern_side *srv, int l, int *fds, long count, int64_t est0,
		      long *accepted)
{
	static long serial;
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(PORT), .sin_addr.s_addr = htonl(ADDR_SRV)};
	heap_last = heap_bytes();
	long target = *accepted + count;
	for (long i = 0; i < count; i++, serial++) {
		int c = tern_socket(cli->st, AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in src = {.sin_family = AF_INET};
		src.sin_addr.s_addr = htonl(ADDR_CLI0 + (uint32_t)(serial % NCLI_ADDRS));
		if (c < 0 || tern_bind(cli->st, c, (struct sockaddr *)&src, sizeof(src)) < 0 ||
		    (tern_connect(cli->st, c, (struct sockaddr *)&dst, sizeof(dst)) < 0 && errno != EINPROGRESS)) {
			fprintf(stderr, "tcp_mem tern: connection %ld: %s\n", *accepted + i, strerror(errno));
			return -1;
		}
		if (fds)
			fds[i] = c;
	}
	charge(cli);
	/* Handshakes, and accept what is ready, until the batch is in. */
	uint64_t deadline = now_ns() + 10000000000ull;
	while (*accepted < target || tern_stat(cli->st, "TcpCurrEstab") - est0 < target) {
		uint64_t t = now_ns();
		if (t > deadline) {
			fprintf(stderr, "tcp_mem tern: stalled at %ld accepted, %lld established (of %ld)\n", *accepted,
				(long long)(tern_stat(cli->st, "TcpCurrEstab") - est0), target);
			return -1;
		}
		polled(cli, t);
		polled(srv, t);
		long before = *accepted;
		while (tern_accept(srv->st, l, NULL, NULL) >= 0)
			(*accepted)++;
		if (*accepted != before)
			charge(srv);
	}
	return 0;
}

static int run_tern(long n)
{
	uint64_t t0 = now_ns();
	struct tern_config cc = {.name = "mem-client", .seed = 1, .now = t0};
	struct tern_config cs = {.name = "mem-server", .seed = 2, .now = t0};
	struct tern_side cli = {tern_stack_new(&cc), 0}, srv = {tern_stack_new(&cs), 0};
	struct tn_dev *dc, *ds;
	if (!cli.st || !srv.st || tn_memlink_pair("mem-c", "mem-s", TN_DEV_L2, 1500, 4096, &dc, &ds) < 0)
		return -1;
	int ic = tern_dev_attach(cli.st, dc), is = tern_dev_attach(srv.st, ds);
	if (ic < 0 || is < 0 || tern_addr_add(srv.st, is, ADDR_SRV, 24) < 0)
		return -1;
	for (int i = 0; i < NCLI_ADDRS; i++)
		if (tern_addr_add(cli.st, ic, ADDR_CLI0 + (uint32_t)i, 24) < 0)
			return -1;
	struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons(PORT)};
	int l = tern_socket(srv.st, AF_INET, SOCK_STREAM, 0);
	if (l < 0 || tern_bind(srv.st, l, (struct sockaddr *)&any, sizeof(any)) < 0 || tern_listen(srv.st, l, 4096) < 0)
		return -1;
	/* Warm up with two batches opened and reset: ARP, and the memlink
	 * slots and packet buffers a batch of handshakes touches, which are
	 * not per-connection memory, are in the baseline. */
	int *warm = calloc(2 * BATCH, sizeof(int));
	long wacc = 0;
	if (!warm || open_batch(&cli, &srv, l, warm, 2 * BATCH, 0, &wacc) < 0)
		return -1;
	struct linger lg = {1, 0};
	for (int i = 0; i < 2 * BATCH; i++) {
		tern_setsockopt(cli.st, warm[i], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		tern_close(cli.st, warm[i]);
	}
	free(warm);
	for (int fd = 0; fd < (int)srv.st->socks.nfds; fd++)
		if (fd != l && tn_sock_get(srv.st, fd))
			tern_close(srv.st, fd);
	/* 2,000 resets and FINs at once overflow the 1,000-frame transmit
	 * queue, as they would a Linux qdisc: retransmission (FIN) and the
	 * answering resets finish the rest within a few RTOs. */
	for (uint64_t t = now_ns(), stop = t + 10000000000ull; t < stop && cli.st->tcp.count + srv.st->tcp.count;
	     t = now_ns()) {
		tern_poll(cli.st, t);
		tern_poll(srv.st, t);
	}
	if (cli.st->tcp.count + srv.st->tcp.count != 0) {
		fprintf(stderr, "tcp_mem tern: warm-up connections left %u TCBs\n", cli.st->tcp.count + srv.st->tcp.count);
		return -1;
	}
	malloc_trim(0);
	long long rss0 = proc_kb("/proc/self/status", "VmRSS"), heap0 = heap_bytes();
	cli.heap = srv.heap = 0;
	int64_t est0 = tern_stat(cli.st, "TcpCurrEstab");
	uint64_t start = now_ns();
	long opened = 0, accepted = 0, errors = 0;
	while (opened < n) {
		long want = opened + BATCH < n ? opened + BATCH : n;
		if (open_batch(&cli, &srv, l, NULL, want - opened, est0, &accepted) < 0)
			return -1;
		opened = want;
	}
	/* Idle: nothing in flight, nothing queued. */
	for (int i = 0; i < 1000 && (polled(&cli, now_ns()) || polled(&srv, now_ns()) || i < 10); i++)
		;
	uint64_t setup_ns = now_ns() - start;
	long long rss1 = proc_kb("/proc/self/status", "VmRSS"), heap1 = heap_bytes();
	unsigned bufs = tern_pool_in_use(cli.st) + tern_pool_in_use(srv.st);
	int64_t est_c = tern_stat(cli.st, "TcpCurrEstab") - est0, est_s = tern_stat(srv.st, "TcpCurrEstab");
	if (est_c != n || est_s != n || accepted != n)
		errors++;
	double per_c = (double)cli.heap / (double)n, per_s = (double)srv.heap / (double)n;
	double per_rss = (double)(rss1 - rss0) / (2.0 * (double)n);
	double per_heap = (double)(heap1 - heap0) / (2.0 * (double)n);
	printf("tern bytes_per_endpoint=%.0f heap_per_endpoint=%.0f client_heap_per_conn=%.0f "
	       "server_heap_per_conn=%.0f rss_per_endpoint=%.0f connections=%ld established=%lld/%lld "
	       "errors=%ld bufs_held=%u sizeof_tcb=%zu sizeof_sock=%zu setup_s=%.1f client_addrs=%d\n",
	       per_rss > per_heap ? per_rss : per_heap, per_heap, per_c, per_s, per_rss, n, (long long)est_c,
	       (long long)est_s, errors, bufs, sizeof(struct tn_tcb), sizeof(struct tn_sock), (double)setup_ns / 1e9,
	       NCLI_ADDRS);
	tern_stack_free(cli.st);
	tern_stack_free(srv.st);
	return errors ? -1 : 0;
}

/* ---- Linux ---- */

/* One child: hold `n` loopback connections, report, wait for EOF on `go`. */
static void kernel_child(int k, long n, int report, int go)
{
	struct linger lg = {1, 0};
	int one = 1;
	struct sockaddr_in lsa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(KPORT0 + k)),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in src = {.sin_family = AF_INET};
	src.sin_addr.s_addr = htonl(0x7f000001u | (uint32_t)(k + 1) << 8); /* 127.0.(k+1).1 */
	int l = socket(AF_INET, SOCK_STREAM, 0);
	long done = 0;
	if (l >= 0 && setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
	    bind(l, (struct sockaddr *)&lsa, sizeof(lsa)) == 0 && listen(l, 4096) == 0) {
		for (; done < n; done++) {
			int c = socket(AF_INET, SOCK_STREAM, 0);
			if (c < 0 || setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0 ||
			    setsockopt(c, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) < 0 ||
			    bind(c, (struct sockaddr *)&src, sizeof(src)) < 0 ||
			    connect(c, (struct sockaddr *)&lsa, sizeof(lsa)) < 0)
				break;
			int a = accept(l, NULL, NULL);
			if (a < 0 || setsockopt(a, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0)
				break;
		}
	}
	if (done < n)
		fprintf(stderr, "tcp_mem kernel: child %d stopped at %ld of %ld: %s\n", k, done, n, strerror(errno));
	if (write(report, &done, sizeof(done)) != (ssize_t)sizeof(done))
		_exit(1);
	char b;
	while (read(go, &b, 1) > 0)
		;
	_exit(0);
}

struct slab_cache {
	char name[64];
	long long bytes, objs, objsize;
};

/* /proc/slabinfo: bytes held in each cache (num_objs * objsize). */
static int slabinfo(struct slab_cache *out, int max)
{
	FILE *f = fopen("/proc/slabinfo", "r");
	if (!f)
		return 0;
	char line[512];
	int n = 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		long long active, num, size;
		char name[64];
		if (sscanf(line, "%63s %lld %lld %lld", name, &active, &num, &size) == 4) {
			snprintf(out[n].name, sizeof(out[n].name), "%s", name);
			out[n].bytes = num * size;
			out[n].objs = num;
			out[n].objsize = size;
			n++;
		}
	}
	fclose(f);
	return n;
}

static const struct slab_cache *find_cache(const struct slab_cache *c, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(c[i].name, name) == 0)
			return &c[i];
	return NULL;
}

static int cmp_delta(const void *a, const void *b)
{
	long long x = ((const struct slab_cache *)a)->bytes, y = ((const struct slab_cache *)b)->bytes;
	return x < y ? 1 : x > y ? -1 : 0;
}

static int run_kernel(long n, int children)
{
	enum { MAXC = 512 };
	static struct slab_cache before[MAXC], after[MAXC];
	int report[2], go[2];
	if (pipe(report) < 0 || pipe(go) < 0)
		return -1;
	sleep(1); /* let RCU-deferred frees from anything earlier settle */
	int nb = slabinfo(before, MAXC);
	long long slab0 = proc_kb("/proc/meminfo", "Slab"), unrec0 = proc_kb("/proc/meminfo", "SUnreclaim");
	long long rec0 = proc_kb("/proc/meminfo", "SReclaimable"), free0 = proc_kb("/proc/meminfo", "MemFree");
	uint64_t start = now_ns();
	pid_t pids[256];
	for (int k = 0; k < children; k++) {
		long share = n / children + (k < n % children);
		pids[k] = fork();
		if (pids[k] == 0) {
			close(report[0]);
			close(go[1]);
			kernel_child(k, share, report[1], go[0]);
		}
	}
	close(report[1]);
	close(go[0]);
	long total = 0, got;
	for (int k = 0; k < children && read(report[0], &got, sizeof(got)) == (ssize_t)sizeof(got); k++)
		total += got;
	uint64_t setup_ns = now_ns() - start;
	long long slab1 = proc_kb("/proc/meminfo", "Slab"), unrec1 = proc_kb("/proc/meminfo", "SUnreclaim");
	long long rec1 = proc_kb("/proc/meminfo", "SReclaimable"), free1 = proc_kb("/proc/meminfo", "MemFree");
	int na = slabinfo(after, MAXC);
	close(go[1]); /* the children exit */
	for (int k = 0; k < children; k++)
		waitpid(pids[k], NULL, 0);
	close(report[0]);
	/* Not the sockets' memory: something outside this program (on the
	 * recorded machine, the VM's init) reads /proc/PID/fd of processes,
	 * which instantiates a proc inode, its dentry and its security blob
	 * for every descriptor it looks at.  Count those out. */
	long long scanner = 0;
	const struct slab_cache *pb = find_cache(before, nb, "proc_inode_cache"), *pa = find_cache(after, na, "proc_inode_cache");
	const struct slab_cache *de = find_cache(after, na, "dentry"), *li = find_cache(after, na, "lsm_inode_cache");
	if (pb && pa && pa->objs > pb->objs)
		scanner = (pa->objs - pb->objs) * (pa->objsize + (de ? de->objsize : 0) + (li ? li->objsize : 0));
	/* The caches that grew the most. */
	char top[768] = "";
	if (nb && na) {
		for (int i = 0; i < na; i++)
			for (int j = 0; j < nb; j++)
				if (strcmp(after[i].name, before[j].name) == 0) {
					after[i].bytes -= before[j].bytes;
					break;
				}
		qsort(after, (size_t)na, sizeof(after[0]), cmp_delta);
		size_t off = 0;
		for (int i = 0; i < (getenv("TCP_MEM_ALL") ? 40 : 6) && i < na && off < sizeof(top); i++)
			off += (size_t)snprintf(top + off, sizeof(top) - off, "%s%s:%.0f", i ? "," : "", after[i].name,
						(double)after[i].bytes / (2.0 * (double)n));
	}
	double ep = 2.0 * (double)n;
	printf("kernel bytes_per_endpoint=%.0f slab_per_endpoint=%.0f proc_scan_per_endpoint=%.0f "
	       "unreclaimable_per_endpoint=%.0f reclaimable_per_endpoint=%.0f memfree_drop_per_endpoint=%.0f "
	       "connections=%ld established=%ld errors=%ld children=%d setup_s=%.1f slab_caches_per_endpoint=%s\n",
	       (double)(slab1 - slab0 - scanner) / ep, (double)(slab1 - slab0) / ep, (double)scanner / ep,
	       (double)(unrec1 - unrec0) / ep,
	       (double)(rec1 - rec0) / ep, (double)(free0 - free1) / ep, n, total, n - total, children,
	       (double)setup_ns / 1e9, top[0] ? top : "unreadable");
	return total == n ? 0 : -1;
}

int main(int argc, char **argv)
{
	bool tern = argc >= 2 && strcmp(argv[1], "tern") == 0;
	if (argc < 2 || (!tern && strcmp(argv[1], "kernel") != 0)) {
		fprintf(stderr, "usage: tcp_mem tern|kernel [CONNECTIONS] [CHILDREN]\n");
		return 2;
	}
	long n = argc > 2 ? atol(argv[2]) : 100000;
	int children = argc > 3 ? atoi(argv[3]) : 12;
	if (n < 1 || n > 1000000 || children < 1 || children > 256 || n / children > 9900 ||
	    (tern && n > 28232L * NCLI_ADDRS)) {
		fprintf(stderr, "tcp_mem: CONNECTIONS in 1..1000000 (tern: at most %ld), CHILDREN in 1..256, "
				"at most 9,900 connections per child\n", 28232L * NCLI_ADDRS);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	int rc = tern ? run_tern(n) : run_kernel(n, children);
	return rc < 0 ? 1 : 0;
}
