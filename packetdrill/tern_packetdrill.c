/* libtern-packetdrill.so: tern behind packetdrill's shared-object interface
 * (packetdrill.h).  One tern stack on an in-memory L3 device: netdev_send
 * queues a packet for the device's receive side, whatever the stack
 * transmits is queued for netdev_receive, and the system calls map onto the
 * tern_* socket API.
 *
 * Time is virtual.  The clock moves only when packetdrill sleeps (usleep),
 * when it waits for an outbound packet (netdev_receive jumps to the stack's
 * next timer until something is sent), when it spins on gettimeofday (a
 * thread's read right after its own read adds 1 us: packetdrill spins the
 * last 20 us before an event), and when a blocked call of the owner thread
 * waits.
 *
 * Blocking.  packetdrill runs a call the script expects to block (a time
 * range "0...1 accept(...)") on a second thread and goes on once that
 * thread sleeps.  So a blocked call on any thread but the owner (the thread
 * that last injected or sniffed a packet; at first the one that called
 * packetdrill_interface_init) sleeps on a condition variable until the
 * owner changes something, and the owner waits before it moves the clock
 * until every blocked call has looked at the change, and a finished one has
 * come back for its end time.  A blocked call on the owner thread moves the
 * clock itself to the stack's next timer, as a kernel would sleep through
 * its timers; if the stack has no timer left it returns -1 with EAGAIN
 * instead of hanging.  tern's own calls never block.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include "core/pkt.h"
#include "link/dev.h"
#include "tern/tern.h"

#include "packetdrill.h"
#include "tern_packetdrill.h"

#define NS_PER_US 1000ull
#define NS_PER_MS 1000000ull
#define NS_PER_SEC 1000000000ull
#define OUTQ_MAX 4096u              /* sent packets held for netdev_receive */
#define RECEIVE_HORIZON (86400ull * NS_PER_SEC) /* netdev_receive gives up a day ahead */
#define SETTLE_REAL_SECS 2          /* real time to wait for a blocked thread */
#define PIPE_BASE 0x40000000        /* pipe descriptors: far above tern's */
#define PIPE_CAP 65536u             /* Linux's default pipe size */
#define MAX_FD (1 << 20)

/* ---- byte frames queued in and out ---- */

struct frame {
	struct frame *next;
	uint64_t t_ns;
	uint32_t len;
	uint8_t data[];
};

struct fq {
	struct frame *head, *tail;
	uint32_t count;
};

static void fq_push(struct fq *q, struct frame *f)
{
	f->next = NULL;
	if (q->tail)
		q->tail->next = f;
	else
		q->head = f;
	q->tail = f;
	q->count++;
}

static struct frame *fq_pop(struct fq *q)
{
	struct frame *f = q->head;
	if (!f)
		return NULL;
	q->head = f->next;
	if (!q->head)
		q->tail = NULL;
	q->count--;
	return f;
}

static void fq_purge(struct fq *q)
{
	struct frame *f;
	while ((f = fq_pop(q)) != NULL)
		free(f);
}

/* ---- per-descriptor state tern does not keep ---- */

struct fdinfo {
	bool used;
	bool nonblock;       /* O_NONBLOCK: tern itself never blocks */
	bool cloexec;        /* FD_CLOEXEC, kept for F_GETFD */
	bool stream;         /* SOCK_STREAM */
	uint64_t rcvtimeo;   /* SO_RCVTIMEO, ns; 0: none */
	uint64_t sndtimeo;   /* SO_SNDTIMEO */
};

struct pipebuf {
	uint8_t data[PIPE_CAP];
	uint32_t len;
	bool rd_open, wr_open;
	struct fdinfo rd, wr;
};

/* A blocked call sleeping on another thread than the owner. */
struct waiter {
	struct waiter *next;
	uint64_t seen;     /* the epoch it last looked at */
	uint64_t deadline; /* when it gives up: the clock stops there too */
};

struct pd {
	pthread_mutex_t mu;
	pthread_cond_t changed; /* the stack or the clock moved: look again */
	pthread_cond_t settled; /* a blocked call looked, or a finished one came back */
	struct tn_stack *s;
	int ifindex;
	uint64_t now;           /* the virtual clock, ns */
	struct fq in, out;
	struct fdinfo *fds;
	size_t nfds;
	struct pipebuf **pipes;
	size_t npipes;
	pthread_t owner;
	struct waiter *waiters;
	uint64_t epoch;         /* bumped whenever the stack may have changed */
	unsigned returning;     /* finished blocked calls not yet back */
	uint64_t ret_gen;       /* bumped when settle stops waiting for them */
	uint32_t local, netmask;
	bool adopt;
	uint64_t ctr[TERN_PD_SETTLE_TIMEOUTS + 1];
};

/* A finished blocked call's thread, until it calls in again (packetdrill
 * reads the clock right after a blocking call returns). */
static __thread struct pd *tl_returning;
static __thread uint64_t tl_ret_gen;
/* This thread's last call was gettimeofday: another one is a spin. */
static __thread struct pd *tl_gtod;

enum { CALL_OTHER, CALL_GTOD };

/* ---- the L3 device ---- */

static unsigned dev_rx(struct tn_dev *d, struct tn_mempool *mp, struct tn_pkt **pkts, unsigned n)
{
	struct pd *pd = d->priv;
	unsigned got = 0;
	while (got < n && pd->in.head) {
		struct tn_pkt *p = tn_pkt_alloc(mp);
		if (!p)
			break; /* no buffer: it waits for the next poll */
		struct frame *f = fq_pop(&pd->in);
		memcpy(tn_pkt_put(p, f->len), f->data, f->len);
		d->stats.rx_packets++;
		d->stats.rx_bytes += f->len;
		free(f);
		pkts[got++] = p;
	}
	return got;
}

static unsigned dev_tx(struct tn_dev *d, struct tn_pkt **pkts, unsigned n)
{
	struct pd *pd = d->priv;
	for (unsigned i = 0; i < n; i++) {
		struct tn_pkt *p = pkts[i];
		struct frame *f = pd->out.count < OUTQ_MAX ? malloc(sizeof(*f) + p->pkt_len) : NULL;
		if (!f || tn_pkt_copy_out(p, 0, f->data, p->pkt_len) < 0) {
			free(f);
			d->stats.tx_dropped++;
			pd->ctr[TERN_PD_OUT_DROPPED]++;
			tn_pkt_free(p);
			continue;
		}
		f->len = p->pkt_len;
		f->t_ns = d->now;
		fq_push(&pd->out, f);
		d->stats.tx_packets++;
		d->stats.tx_bytes += p->pkt_len;
		pd->ctr[TERN_PD_SENT]++;
		tn_pkt_free(p);
	}
	return n;
}

/* Injected packets waiting mean "poll now". */
static uint64_t dev_next_event(struct tn_dev *d)
{
	struct pd *pd = d->priv;
	return pd->in.head ? d->now : UINT64_MAX;
}

static int dev_fd(struct tn_dev *d)
{
	(void)d;
	return -1;
}

static void dev_destroy(struct tn_dev *d) { free(d); }

static const struct tn_dev_ops pd_dev_ops = {
	.rx_burst = dev_rx,
	.tx_burst = dev_tx,
	.next_event = dev_next_event,
	.fd = dev_fd,
	.destroy = dev_destroy,
};

/* ---- clock and wake-ups ---- */

static int set_errno(int e)
{
	errno = e;
	return -1;
}

/* Run the stack at the current clock until it has nothing more to do now,
 * then tell blocked calls to look again. */
static void pump(struct pd *pd)
{
	int saved = errno;
	for (int i = 0; i < 64; i++) {
		tern_poll(pd->s, pd->now);
		if (tern_poll_at(pd->s) > pd->now)
			break;
	}
	pd->epoch++;
	pthread_cond_broadcast(&pd->changed);
	errno = saved;
}

static bool all_settled(const struct pd *pd)
{
	if (pd->returning)
		return false;
	for (const struct waiter *w = pd->waiters; w; w = w->next)
		if (w->seen != pd->epoch)
			return false;
	return true;
}

/* Before the clock moves: every blocked call has seen the last change and
 * a finished one has come back.  Bounded in real time, in case a thread
 * never calls in again. */
static void settle(struct pd *pd)
{
	if (all_settled(pd))
		return;
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += SETTLE_REAL_SECS;
	while (!all_settled(pd)) {
		if (pthread_cond_timedwait(&pd->settled, &pd->mu, &dl) == ETIMEDOUT) {
			pd->ctr[TERN_PD_SETTLE_TIMEOUTS]++;
			pd->returning = 0;
			pd->ret_gen++; /* late comers no longer count */
			break;
		}
	}
}

/* When something is next due: the stack's next event, or the deadline of
 * a blocked call (a poll timing out on another thread). */
static uint64_t next_event(struct pd *pd)
{
	uint64_t t = tern_poll_at(pd->s);
	for (const struct waiter *w = pd->waiters; w; w = w->next)
		if (w->deadline > pd->now && w->deadline < t)
			t = w->deadline;
	return t;
}

/* Move the clock to the next event, but not past `limit`; false when
 * there is none and the limit is infinite. */
static bool advance_next(struct pd *pd, uint64_t limit)
{
	settle(pd);
	uint64_t next = next_event(pd);
	if (next == UINT64_MAX && limit == UINT64_MAX)
		return false;
	uint64_t t = next < limit ? next : limit;
	if (t > pd->now)
		pd->now = t;
	pump(pd);
	return true;
}

/* Move the clock to t, running every timer on the way at its own time. */
static void advance_to(struct pd *pd, uint64_t t)
{
	unsigned stuck = 0;
	for (;;) {
		settle(pd);
		uint64_t next = next_event(pd);
		if (next > t)
			break;
		if (next > pd->now) {
			pd->now = next;
			stuck = 0;
		} else if (++stuck > 1000) {
			break; /* work "now" that never goes: let time go on */
		}
		pump(pd);
	}
	if (t > pd->now) {
		pd->now = t;
		pump(pd);
	}
	settle(pd);
}

static struct pd *enter(void *u, int call)
{
	struct pd *pd = u;
	pthread_mutex_lock(&pd->mu);
	if (tl_returning == pd) {
		tl_returning = NULL;
		if (tl_ret_gen == pd->ret_gen && pd->returning)
			pd->returning--;
		pthread_cond_broadcast(&pd->settled);
	}
	if (call == CALL_GTOD && tl_gtod == pd)
		advance_to(pd, pd->now + NS_PER_US); /* a caller spinning on the clock */
	tl_gtod = call == CALL_GTOD ? pd : NULL;
	return pd;
}

static void leave(struct pd *pd)
{
	int saved = errno;
	pthread_mutex_unlock(&pd->mu);
	errno = saved;
}

/* ---- blocking ---- */

struct blk {
	struct waiter w;
	bool linked, waited;
};

enum { BW_AGAIN, BW_TIMEOUT, BW_IDLE };

/* One wait of a blocked call, then it tries again (BW_AGAIN); BW_TIMEOUT
 * once the clock reaches the deadline, BW_IDLE when the owner thread waits
 * on a stack with nothing left to do. */
static int block_wait(struct pd *pd, struct blk *b, uint64_t deadline)
{
	if (pd->now >= deadline)
		return BW_TIMEOUT;
	if (pthread_equal(pthread_self(), pd->owner)) {
		if (advance_next(pd, deadline))
			return BW_AGAIN;
		pd->ctr[TERN_PD_BLOCK_GAVE_UP]++;
		return BW_IDLE;
	}
	if (!b->linked) {
		b->w.next = pd->waiters;
		b->w.deadline = deadline;
		pd->waiters = &b->w;
		b->linked = true;
	}
	b->w.seen = pd->epoch;
	pthread_cond_broadcast(&pd->settled);
	pthread_cond_wait(&pd->changed, &pd->mu);
	b->waited = true;
	return BW_AGAIN;
}

static void block_end(struct pd *pd, struct blk *b)
{
	if (b->linked) {
		for (struct waiter **pp = &pd->waiters; *pp; pp = &(*pp)->next)
			if (*pp == &b->w) {
				*pp = b->w.next;
				break;
			}
		pthread_cond_broadcast(&pd->settled);
	}
	if (b->waited && tl_returning != pd) {
		pd->returning++;
		tl_returning = pd;
		tl_ret_gen = pd->ret_gen;
	}
}

static uint64_t deadline_after(const struct pd *pd, uint64_t timeout_ns)
{
	return timeout_ns ? pd->now + timeout_ns : UINT64_MAX;
}

/* ---- descriptors ---- */

static bool is_pipe_fd(int fd) { return fd >= PIPE_BASE; }

static struct pipebuf *pipe_of(struct pd *pd, int fd, bool *write_end)
{
	if (!is_pipe_fd(fd))
		return NULL;
	size_t i = (size_t)(fd - PIPE_BASE) / 2;
	bool w = (fd - PIPE_BASE) & 1;
	if (i >= pd->npipes || !pd->pipes[i])
		return NULL;
	struct pipebuf *p = pd->pipes[i];
	if (w ? !p->wr_open : !p->rd_open)
		return NULL;
	*write_end = w;
	return p;
}

static struct fdinfo *fdi(struct pd *pd, int fd)
{
	bool w;
	struct pipebuf *p = pipe_of(pd, fd, &w);
	if (p)
		return w ? &p->wr : &p->rd;
	if (fd < 0 || fd >= MAX_FD)
		return NULL;
	if ((size_t)fd >= pd->nfds) {
		size_t n = pd->nfds ? pd->nfds : 64;
		while (n <= (size_t)fd)
			n *= 2;
		struct fdinfo *t = realloc(pd->fds, n * sizeof(*t));
		if (!t)
			return NULL;
		memset(t + pd->nfds, 0, (n - pd->nfds) * sizeof(*t));
		pd->fds = t;
		pd->nfds = n;
	}
	return &pd->fds[fd];
}

static void fd_opened(struct pd *pd, int fd, bool nonblock, bool cloexec, bool stream)
{
	struct fdinfo *f = fdi(pd, fd);
	if (f)
		*f = (struct fdinfo){.used = true, .nonblock = nonblock, .cloexec = cloexec, .stream = stream};
}

/* A tern descriptor (socket or epoll instance)? */
static bool is_sock(struct pd *pd, int fd)
{
	return !is_pipe_fd(fd) && tern_sock_events(pd->s, fd) != POLLNVAL;
}

static bool fd_nonblock(struct pd *pd, int fd)
{
	struct fdinfo *f = fdi(pd, fd);
	return f && f->nonblock;
}

/* ---- sockets ---- */

static int pd_socket(void *u, int domain, int type, int protocol)
{
	struct pd *pd = enter(u, CALL_OTHER);
	int fd = tern_socket(pd->s, domain, type, protocol);
	if (fd >= 0)
		fd_opened(pd, fd, type & SOCK_NONBLOCK, type & SOCK_CLOEXEC,
			  (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) == SOCK_STREAM);
	leave(pd);
	return fd;
}

static int pd_bind(void *u, int fd, const struct sockaddr *addr, socklen_t len)
{
	struct pd *pd = enter(u, CALL_OTHER);
	int rc = tern_bind(pd->s, fd, addr, len);
	/* packetdrill picks its local address at random in its subnet: a
	 * bind there makes the address ours, as its tun setup would. */
	if (rc < 0 && errno == EADDRNOTAVAIL && pd->adopt && addr->sa_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)addr)->sin_addr.s_addr);
		int plen = __builtin_popcount(pd->netmask);
		if ((a & pd->netmask) == (pd->local & pd->netmask) &&
		    tern_addr_add(pd->s, pd->ifindex, a, plen) == 0)
			rc = tern_bind(pd->s, fd, addr, len);
		else
			errno = EADDRNOTAVAIL;
	}
	leave(pd);
	return rc;
}

static int pd_listen(void *u, int fd, int backlog)
{
	struct pd *pd = enter(u, CALL_OTHER);
	int rc = tern_listen(pd->s, fd, backlog);
	leave(pd);
	return rc;
}

static int pd_accept(void *u, int fd, struct sockaddr *addr, socklen_t *len)
{
	struct pd *pd = enter(u, CALL_OTHER);
	struct fdinfo *f = fdi(pd, fd);
	uint64_t dl = deadline_after(pd, f ? f->rcvtimeo : 0);
	struct blk b = {0};
	int rc;
	for (;;) {
		rc = tern_accept(pd->s, fd, addr, len);
		if (rc >= 0 || errno != EAGAIN || fd_nonblock(pd, fd))
			break;
		if (block_wait(pd, &b, dl) != BW_AGAIN) {
			rc = set_errno(EAGAIN);
			break;
		}
	}
	if (rc >= 0) {
		fd_opened(pd, rc, false, false, true);
		pump(pd);
	}
	block_end(pd, &b);
	leave(pd);
	return rc;
}

/* A blocking connect waits for the handshake to end: 0 when established,
 * -1 with the connection's error when it failed. */
static int pd_connect(void *u, int fd, const struct sockaddr *addr, socklen_t len)
{
	struct pd *pd = enter(u, CALL_OTHER);
	int rc = tern_connect(pd->s, fd, addr, len);
	pump(pd);
	struct fdinfo *f = fdi(pd, fd);
	if (rc < 0 && errno == EINPROGRESS && !fd_nonblock(pd, fd)) {
		uint64_t dl = deadline_after(pd, f ? f->sndtimeo : 0);
		struct blk b = {0};
		for (;;) {
			int ev = tern_sock_events(pd->s, fd);
			if (ev & POLLERR) {
				int err = 0;
				socklen_t n = sizeof(err);
				tern_getsockopt(pd->s, fd, SOL_SOCKET, SO_ERROR, &err, &n);
				rc = set_errno(err ? err : ECONNREFUSED);
				break;
			}
			if (ev & POLLOUT) {
				rc = 0;
				break;
			}
			int w = block_wait(pd, &b, dl);
			if (w != BW_AGAIN) {
				rc = set_errno(w == BW_TIMEOUT ? EINPROGRESS : ETIMEDOUT);
				break;
			}
		}
		block_end(pd, &b);
	}
	leave(pd);
	return rc;
}

/* ---- pipes ---- */

static int pd_pipe(void *u, int pipefd[2])
{
	struct pd *pd = enter(u, CALL_OTHER);
	int rc = -1;
	size_t i;
	for (i = 0; i < pd->npipes && pd->pipes[i]; i++)
		;
	if (i == pd->npipes) {
		size_t n = pd->npipes ? pd->npipes * 2 : 8;
		struct pipebuf **t = n <= (size_t)(INT_MAX - PIPE_BASE) / 2 ? realloc(pd->pipes, n * sizeof(*t)) : NULL;
		if (!t) {
			errno = EMFILE;
			goto out;
		}
		memset(t + pd->npipes, 0, (n - pd->npipes) * sizeof(*t));
		pd->pipes = t;
		pd->npipes = n;
	}
	struct pipebuf *p = calloc(1, sizeof(*p));
	if (!p) {
		errno = ENFILE;
		goto out;
	}
	p->rd_open = p->wr_open = true;
	p->rd.used = p->wr.used = true;
	pd->pipes[i] = p;
	pipefd[0] = PIPE_BASE + (int)(2 * i);
	pipefd[1] = pipefd[0] + 1;
	rc = 0;
out:
	leave(pd);
	return rc;
}

static void pipe_close(struct pd *pd, int fd, struct pipebuf *p, bool w)
{
	if (w)
		p->wr_open = false;
	else
		p->rd_open = false;
	if (!p->rd_open && !p->wr_open) {
		pd->pipes[(size_t)(fd - PIPE_BASE) / 2] = NULL;
		free(p);
	}
	pump(pd); /* a blocked reader sees the end, a writer EPIPE */
}

static int pipe_events(const struct pipebuf *p, bool w)
{
	if (w)
		return !p->rd_open ? POLLERR | POLLOUT : p->len < PIPE_CAP ? POLLOUT : 0;
	return (p->len ? POLLIN : 0) | (!p->wr_open ? POLLHUP : 0);
}

static void pipe_consume(struct pipebuf *p, uint32_t n)
{
	memmove(p->data, p->data + n, p->len - n);
	p->len -= n;
}

/* read(2) from a pipe: what is there, 0 at the end, EAGAIN if empty. */
static ssize_t pipe_read_once(struct pipebuf *p, const struct iovec *iov, int iovcnt)
{
	if (!p->len)
		return p->wr_open ? set_errno(EAGAIN) : 0;
	uint32_t off = 0;
	for (int i = 0; i < iovcnt && off < p->len; i++) {
		size_t n = iov[i].iov_len < p->len - off ? iov[i].iov_len : p->len - off;
		memcpy(iov[i].iov_base, p->data + off, n);
		off += (uint32_t)n;
	}
	pipe_consume(p, off);
	return off;
}

static ssize_t pipe_readv(struct pd *pd, int fd, struct pipebuf *p, const struct iovec *iov, int iovcnt)
{
	struct blk b = {0};
	ssize_t n;
	for (;;) {
		n = pipe_read_once(p, iov, iovcnt);
		if (n >= 0 || p->rd.nonblock)
			break;
		if (block_wait(pd, &b, UINT64_MAX) != BW_AGAIN) {
			n = set_errno(EAGAIN);
			break;
		}
		bool w;
		if (pipe_of(pd, fd, &w) != p) {
			n = set_errno(EBADF);
			break;
		}
	}
	if (n > 0)
		pump(pd);
	block_end(pd, &b);
	return n;
}

/* write(2) to a pipe; a blocking write waits until it has put it all. */
static ssize_t pipe_writev(struct pd *pd, int fd, struct pipebuf *p, const struct iovec *iov, int iovcnt)
{
	size_t total = 0, done = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	struct blk b = {0};
	ssize_t rc;
	for (;;) {
		if (!p->rd_open) {
			rc = done ? (ssize_t)done : set_errno(EPIPE);
			break;
		}
		size_t skip = done;
		for (int i = 0; i < iovcnt && p->len < PIPE_CAP; i++) {
			if (skip >= iov[i].iov_len) {
				skip -= iov[i].iov_len;
				continue;
			}
			size_t n = iov[i].iov_len - skip;
			if (n > PIPE_CAP - p->len)
				n = PIPE_CAP - p->len;
			memcpy(p->data + p->len, (const uint8_t *)iov[i].iov_base + skip, n);
			p->len += (uint32_t)n;
			done += n;
			skip = 0;
		}
		if (done == total || p->wr.nonblock) {
			rc = done || !total ? (ssize_t)done : set_errno(EAGAIN);
			break;
		}
		if (block_wait(pd, &b, UINT64_MAX) != BW_AGAIN) {
			rc = done ? (ssize_t)done : set_errno(EAGAIN);
			break;
		}
		bool w;
		if (pipe_of(pd, fd, &w) != p) {
			rc = done ? (ssize_t)done : set_errno(EBADF);
			break;
		}
	}
	if (done)
		pump(pd);
	block_end(pd, &b);
	return rc;
}

/* ---- receive and send ---- */

/* Every receive call: recvmsg with a blocking wait for data, the end of
 * the stream or an error. */
static ssize_t do_recvmsg(struct pd *pd, int fd, struct msghdr *msg, int flags)
{
	bool w;
	struct pipebuf *p = pipe_of(pd, fd, &w);
	if (p)
		return w ? set_errno(EBADF) : pipe_readv(pd, fd, p, msg->msg_iov, (int)msg->msg_iovlen);
	struct fdinfo *f = fdi(pd, fd);
	bool may_block = !(flags & MSG_DONTWAIT) && !fd_nonblock(pd, fd);
	uint64_t dl = deadline_after(pd, f ? f->rcvtimeo : 0);
	struct msghdr m = *msg;
	struct blk b = {0};
	ssize_t n;
	for (;;) {
		*msg = m;
		n = tern_recvmsg(pd->s, fd, msg, flags & ~MSG_DONTWAIT);
		if (n >= 0 || errno != EAGAIN || !may_block)
			break;
		if (block_wait(pd, &b, dl) != BW_AGAIN) {
			n = set_errno(EAGAIN);
			break;
		}
	}
	if (!(n < 0 && errno == EAGAIN))
		pump(pd); /* the window may open: an update goes out */
	block_end(pd, &b);
	return n;
}

/* Every send call: sendmsg; a blocking stream send waits until it has
 * queued every byte (Linux), returning a short count only on a timeout. */
static ssize_t do_sendmsg(struct pd *pd, int fd, const struct msghdr *msg, int flags)
{
	bool w;
	struct pipebuf *p = pipe_of(pd, fd, &w);
	if (p)
		return !w ? set_errno(EBADF) : pipe_writev(pd, fd, p, msg->msg_iov, (int)msg->msg_iovlen);
	if (msg->msg_iovlen > IOV_MAX)
		return set_errno(EINVAL);
	struct fdinfo *f = fdi(pd, fd);
	bool may_block = !(flags & MSG_DONTWAIT) && !fd_nonblock(pd, fd);
	uint64_t dl = deadline_after(pd, f ? f->sndtimeo : 0);
	size_t total = 0, done = 0;
	for (size_t i = 0; i < msg->msg_iovlen; i++)
		total += msg->msg_iov[i].iov_len;
	struct iovec iov[IOV_MAX > 1024 ? 1024 : IOV_MAX];
	struct blk b = {0};
	ssize_t rc;
	for (;;) {
		/* The part not sent yet. */
		struct msghdr m = *msg;
		size_t skip = done, k = 0;
		for (size_t i = 0; i < msg->msg_iovlen; i++) {
			if (!msg->msg_iov[i].iov_len)
				continue;
			if (skip >= msg->msg_iov[i].iov_len) {
				skip -= msg->msg_iov[i].iov_len;
				continue;
			}
			iov[k].iov_base = (uint8_t *)msg->msg_iov[i].iov_base + skip;
			iov[k].iov_len = msg->msg_iov[i].iov_len - skip;
			skip = 0;
			k++;
		}
		m.msg_iov = iov;
		m.msg_iovlen = k;
		ssize_t n = tern_sendmsg(pd->s, fd, &m, flags & ~MSG_DONTWAIT);
		if (n > 0)
			done += (size_t)n;
		if (n < 0 && errno != EAGAIN) {
			rc = done ? (ssize_t)done : -1;
			break;
		}
		if (n >= 0 && (done >= total || !(f && f->stream))) {
			rc = (ssize_t)done;
			break;
		}
		if (!may_block) {
			rc = done ? (ssize_t)done : set_errno(EAGAIN);
			break;
		}
		if (n > 0)
			pump(pd);
		if (block_wait(pd, &b, dl) != BW_AGAIN) {
			rc = done ? (ssize_t)done : set_errno(EAGAIN);
			break;
		}
	}
	pump(pd);
	block_end(pd, &b);
	return rc;
}

static ssize_t pd_readv(void *u, int fd, const struct iovec *iov, int iovcnt)
{
	struct pd *pd = enter(u, CALL_OTHER);
	ssize_t n;
	if (iovcnt < 0 || iovcnt > IOV_MAX) {
		n = set_errno(EINVAL);
	} else {
		struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
		n = do_recvmsg(pd, fd, &m, 0);
	}
	leave(pd);
	return n;
}

static ssize_t pd_recv(void *u, int fd, void *buf, size_t len, int flags)
{
	struct pd *pd = enter(u, CALL_OTHER);
	struct iovec v = {.iov_base = buf, .iov_len = len};
	struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1};
	ssize_t n = do_recvmsg(pd, fd, &m, flags);
	leave(pd);
	return n;
}

static ssize_t pd_read(void *u, int fd, void *buf, size_t count) { return pd_recv(u, fd, buf, count, 0); }

static ssize_t pd_recvfrom(void *u, int fd, void *buf, size_t len, int flags, struct sockaddr *from,
			   socklen_t *fromlen)
{
	struct pd *pd = enter(u, CALL_OTHER);
	struct iovec v = {.iov_base = buf, .iov_len = len};
	struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1};
	if (from && fromlen) {
		m.msg_name = from;
		m.msg_namelen = *fromlen;
	}
	ssize_t n = do_recvmsg(pd, fd, &m, flags);
	if (n >= 0 && from && fromlen)
		*fromlen = m.msg_namelen;
	leave(pd);
	return n;
}

static ssize_t pd_recvmsg(void *u, int fd, struct msghdr *msg, int flags)
{
	struct pd *pd = enter(u, CALL_OTHER);
	ssize_t n = do_recvmsg(pd, fd, msg, flags);
	leave(pd);
	return n;
}

static ssize_t pd_writev(void *u, int fd, const struct iovec *iov, int iovcnt)
{
	struct pd *pd = enter(u, CALL_OTHER);
	ssize_t n;
	if (iovcnt < 0 || iovcnt > IOV_MAX) {
		n = set_errno(EINVAL);
	} else {
		struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
		n = do_sendmsg(pd, fd, &m, 0);
	}
	leave(pd);
	return n;
}

static ssize_t pd_send(void *u, int fd, const void *buf, size_t len, int flags)
{
	struct pd *pd = enter(u, CALL_OTHER);
	struct iovec v = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1};
	ssize_t n = do_sendmsg(pd, fd, &m, flags);
	leave(pd);
	return n;
}

static ssize_t pd_write(void *u, int fd, const void *buf, size_t count) { return pd_send(u, fd, buf, count, 0); }

static ssize_t pd_sendto(void *u, int fd, const void *buf, size_t len, int flags,
			 const struct sockaddr *to, socklen_t tolen)
{
	struct pd *pd = enter(u, CALL_OTHER);
	struct iovec v = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr m = {.msg_name = (void *)to, .msg_namelen = to ? tolen : 0, .msg_iov = &v, .msg_iovlen = 1};
	ssize_t n = do_sendmsg(pd, fd, &m, flags);
	leave(pd);
	return n;
}

static ssize_t pd_sendmsg(void *u, int fd, const struct msghdr *msg, int flags)
{
	struct pd *pd = enter(u, CALL_OTHER);
	ssize_t n = do_sendmsg(pd, fd, msg, flags);
	leave(pd);
	return n;
}

/* ---- descriptor control ---- */

static int pd_fcntl(void *u, int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	int arg = (cmd == F_SETFL || cmd == F_SETFD) ? va_arg(ap, int) : 0;
	va_end(ap);
	struct pd *pd = enter(u, CALL_OTHER);
	bool w = false;
	struct pipebuf *p = pipe_of(pd, fd, &w);
	struct fdinfo *f = (p || is_sock(pd, fd)) ? fdi(pd, fd) : NULL;
	int rc;
	if (!f) {
		rc = set_errno(EBADF);
	} else {
		switch (cmd) {
		case F_GETFL:
			rc = (p ? (w ? O_WRONLY : O_RDONLY) : O_RDWR) | (f->nonblock ? O_NONBLOCK : 0);
			break;
		case F_SETFL:
			f->nonblock = (arg & O_NONBLOCK) != 0;
			rc = 0;
			break;
		case F_GETFD:
			rc = f->cloexec ? FD_CLOEXEC : 0;
			break;
		case F_SETFD:
			f->cloexec = (arg & FD_CLOEXEC) != 0;
			rc = 0;
			break;
		default:
			rc = set_errno(EINVAL);
		}
	}
	leave(pd);
	return rc;
}

/* Bytes a read would return now. */
static int readable_bytes(struct pd *pd, int fd, int *out)
{
	struct fdinfo *f = fdi(pd, fd);
	if (f && !f->stream) { /* the next datagram's length */
		uint8_t one;
		ssize_t n = tern_recv(pd->s, fd, &one, 1, MSG_PEEK | MSG_TRUNC);
		*out = n < 0 ? 0 : (int)n;
		return n < 0 && errno != EAGAIN ? -1 : 0;
	}
	size_t cap = 65536;
	for (;;) {
		uint8_t *buf = malloc(cap);
		if (!buf)
			return set_errno(ENOMEM);
		ssize_t n = tern_recv(pd->s, fd, buf, cap, MSG_PEEK);
		free(buf);
		if (n < 0) {
			if (errno != EAGAIN)
				return set_errno(errno == ENOTCONN ? EINVAL : errno);
			n = 0;
		}
		if ((size_t)n < cap || cap >= (size_t)INT_MAX / 2) {
			*out = (int)n;
			return 0;
		}
		cap *= 2;
	}
}

static int pd_ioctl(void *u, int fd, unsigned long request, ...)
{
	va_list ap;
	va_start(ap, request);
	int *arg = va_arg(ap, void *);
	va_end(ap);
	struct pd *pd = enter(u, CALL_OTHER);
	bool w = false;
	struct pipebuf *p = pipe_of(pd, fd, &w);
	struct fdinfo *f = (p || is_sock(pd, fd)) ? fdi(pd, fd) : NULL;
	int rc;
	if (!f) {
		rc = set_errno(EBADF);
	} else if (request == FIONBIO) {
		f->nonblock = *arg != 0;
		rc = 0;
	} else if (request == FIONREAD) { /* also SIOCINQ */
		if (p) {
			*arg = w ? 0 : (int)p->len;
			rc = 0;
		} else {
			rc = readable_bytes(pd, fd, arg);
		}
	} else {
		rc = set_errno(ENOTTY);
	}
	leave(pd);
	return rc;
}

static int pd_close(void *u, int fd)
{
	struct pd *pd = enter(u, CALL_OTHER);
	bool w;
	struct pipebuf *p = pipe_of(pd, fd, &w);
	int rc;
	if (p) {
		pipe_close(pd, fd, p, w);
		rc = 0;
	} else {
		rc = tern_close(pd->s, fd);
		if (rc == 0) {
			struct fdinfo *f = fdi(pd, fd);
			if (f)
				*f = (struct fdinfo){0};
		}
		pump(pd);
	}
	leave(pd);
	return rc;
}

static int pd_shutdown(void *u, int fd, int how)
{
	struct pd *pd = enter(u, CALL_OTHER);
	int rc = is_pipe_fd(fd) ? set_errno(ENOTSOCK) : tern_shutdown(pd->s, fd, how);
	pump(pd);
	leave(pd);
	return rc;
}

static uint64_t tv_ns(const struct timeval *tv)
{
	if (tv->tv_sec < 0 || tv->tv_usec < 0)
		return 0;
	return (uint64_t)tv->tv_sec * NS_PER_SEC + (uint64_t)tv->tv_usec * NS_PER_US;
}

static int pd_getsockopt(void *u, int fd, int level, int name, void *val, socklen_t *len)
{
	struct pd *pd = enter(u, CALL_OTHER);
	int rc;
	if (fd == -1 && level == TERN_PD_SOL) {
		if (name < 1 || name > TERN_PD_SETTLE_TIMEOUTS) {
			rc = set_errno(ENOPROTOOPT);
		} else if (!val || !len || *len < (socklen_t)sizeof(uint64_t)) {
			rc = set_errno(EINVAL);
		} else {
			memcpy(val, &pd->ctr[name], sizeof(uint64_t));
			*len = sizeof(uint64_t);
			rc = 0;
		}
	} else if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO) && is_sock(pd, fd)) {
		struct fdinfo *f = fdi(pd, fd);
		uint64_t ns = name == SO_RCVTIMEO ? f->rcvtimeo : f->sndtimeo;
		struct timeval tv = {.tv_sec = (time_t)(ns / NS_PER_SEC),
				     .tv_usec = (suseconds_t)(ns % NS_PER_SEC / NS_PER_US)};
		if (!val || !len || *len < (socklen_t)sizeof(tv)) {
			rc = set_errno(EINVAL);
		} else {
			memcpy(val, &tv, sizeof(tv));
			*len = sizeof(tv);
			rc = 0;
		}
	} else {
		rc = is_pipe_fd(fd) ? set_errno(ENOTSOCK) : tern_getsockopt(pd->s, fd, level, name, val, len);
	}
	leave(pd);
	return rc;
}

static int pd_setsockopt(void *u, int fd, int level, int name, const void *val, socklen_t len)
{
	struct pd *pd = enter(u, CALL_OTHER);
	int rc;
	if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO) && is_sock(pd, fd)) {
		struct timeval tv;
		if (!val || len < (socklen_t)sizeof(tv)) {
			rc = set_errno(EINVAL);
		} else {
			memcpy(&tv, val, sizeof(tv));
			if (tv.tv_usec < 0 || tv.tv_usec >= 1000000) {
				rc = set_errno(EDOM);
			} else {
				struct fdinfo *f = fdi(pd, fd);
				*(name == SO_RCVTIMEO ? &f->rcvtimeo : &f->sndtimeo) = tv_ns(&tv);
				rc = 0;
			}
		}
	} else {
		rc = is_pipe_fd(fd) ? set_errno(ENOTSOCK) : tern_setsockopt(pd->s, fd, level, name, val, len);
		pump(pd); /* TCP_NODELAY, TCP_CORK... may send */
	}
	leave(pd);
	return rc;
}

/* ---- readiness ---- */

static int poll_once(struct pd *pd, struct pollfd *fds, nfds_t nfds)
{
	int ready = 0;
	for (nfds_t i = 0; i < nfds; i++) {
		fds[i].revents = 0;
		if (fds[i].fd < 0)
			continue;
		bool w;
		struct pipebuf *p = pipe_of(pd, fds[i].fd, &w);
		int ev = p ? pipe_events(p, w) : is_pipe_fd(fds[i].fd) ? POLLNVAL : tern_sock_events(pd->s, fds[i].fd);
		ev &= fds[i].events | POLLERR | POLLHUP | POLLNVAL;
		fds[i].revents = (short)ev;
		if (ev)
			ready++;
	}
	return ready;
}

static int pd_poll(void *u, struct pollfd *fds, nfds_t nfds, int timeout)
{
	struct pd *pd = enter(u, CALL_OTHER);
	uint64_t dl = timeout < 0 ? UINT64_MAX : pd->now + (uint64_t)timeout * NS_PER_MS;
	struct blk b = {0};
	int n;
	while ((n = poll_once(pd, fds, nfds)) == 0 && timeout != 0) {
		if (block_wait(pd, &b, dl) != BW_AGAIN)
			break;
	}
	block_end(pd, &b);
	leave(pd);
	return n;
}

static int pd_epoll_create(void *u, int size)
{
	struct pd *pd = enter(u, CALL_OTHER);
	int fd = size <= 0 ? set_errno(EINVAL) : tern_epoll_create(pd->s);
	if (fd >= 0)
		fd_opened(pd, fd, false, false, false);
	leave(pd);
	return fd;
}

static int pd_epoll_ctl(void *u, int epfd, int op, int fd, struct epoll_event *ev)
{
	struct pd *pd = enter(u, CALL_OTHER);
	int rc = is_pipe_fd(fd) ? set_errno(EPERM) : tern_epoll_ctl(pd->s, epfd, op, fd, ev);
	leave(pd);
	return rc;
}

static int pd_epoll_wait(void *u, int epfd, struct epoll_event *events, int maxevents, int timeout)
{
	struct pd *pd = enter(u, CALL_OTHER);
	uint64_t dl = timeout < 0 ? UINT64_MAX : pd->now + (uint64_t)timeout * NS_PER_MS;
	struct blk b = {0};
	int n;
	if (maxevents <= 0) {
		n = set_errno(EINVAL);
	} else {
		while ((n = tern_epoll_wait(pd->s, epfd, events, maxevents)) == 0 && timeout != 0) {
			if (block_wait(pd, &b, dl) != BW_AGAIN)
				break;
		}
	}
	block_end(pd, &b);
	leave(pd);
	return n;
}

/* splice between a pipe and a socket (one side must be a pipe). */
static int pd_splice(void *u, int fd_in, loff_t *off_in, int fd_out, loff_t *off_out, size_t len,
		     unsigned int flags)
{
	struct pd *pd = enter(u, CALL_OTHER);
	bool win, wout;
	struct pipebuf *pin = pipe_of(pd, fd_in, &win), *pout = pipe_of(pd, fd_out, &wout);
	int sock = pin ? fd_out : fd_in;
	struct blk b = {0};
	ssize_t rc;
	if ((pin && win) || (pout && !wout) || (!pin && is_pipe_fd(fd_in)) || (!pout && is_pipe_fd(fd_out))) {
		rc = set_errno(EBADF); /* a closed pipe end, or the wrong one */
	} else if (!pin == !pout) {
		rc = set_errno(EINVAL); /* tern has pipe-to-socket and back only */
	} else if (!is_sock(pd, sock)) {
		rc = set_errno(EBADF);
	} else if (off_in || off_out) {
		rc = set_errno(ESPIPE);
	} else if (!len) {
		rc = 0;
	} else {
		bool may_block = !(flags & SPLICE_F_NONBLOCK) && !fd_nonblock(pd, sock);
		for (;;) {
			if (pin) { /* pipe to socket */
				if (!pin->len && !pin->wr_open) {
					rc = 0;
					break;
				}
				size_t n = len < pin->len ? len : pin->len;
				rc = n ? tern_send(pd->s, sock, pin->data, n, 0) : set_errno(EAGAIN);
				if (rc > 0)
					pipe_consume(pin, (uint32_t)rc);
			} else { /* socket to pipe */
				size_t n = PIPE_CAP - pout->len;
				if (!pout->rd_open) {
					rc = set_errno(EPIPE);
					break;
				}
				if (len < n)
					n = len;
				rc = n ? tern_recv(pd->s, sock, pout->data + pout->len, n, 0) : set_errno(EAGAIN);
				if (rc > 0)
					pout->len += (uint32_t)rc;
			}
			if (rc >= 0 || errno != EAGAIN || !may_block)
				break;
			if (block_wait(pd, &b, UINT64_MAX) != BW_AGAIN ||
			    (pin && pipe_of(pd, fd_in, &win) != pin) || (pout && pipe_of(pd, fd_out, &wout) != pout)) {
				rc = set_errno(EAGAIN);
				break;
			}
		}
		pump(pd);
	}
	block_end(pd, &b);
	leave(pd);
	return (int)rc;
}

/* ---- packets and time ---- */

static int pd_netdev_send(void *u, const void *buf, size_t count)
{
	struct pd *pd = enter(u, CALL_OTHER);
	pd->owner = pthread_self();
	const uint8_t *b = buf;
	int rc = 0;
	if (count && (b[0] >> 4) == 6) { /* tern is IPv4-only */
		pd->ctr[TERN_PD_IPV6_REFUSED]++;
		rc = set_errno(EAFNOSUPPORT);
	} else if (!count || (b[0] >> 4) != 4) {
		pd->ctr[TERN_PD_BAD_INPUT]++;
		rc = set_errno(EINVAL);
	} else if (count > TN_PKT_DATAROOM) {
		pd->ctr[TERN_PD_BAD_INPUT]++;
		rc = set_errno(EMSGSIZE);
	} else {
		struct frame *f = malloc(sizeof(*f) + count);
		if (!f) {
			rc = set_errno(ENOBUFS);
		} else {
			memcpy(f->data, buf, count);
			f->len = (uint32_t)count;
			f->t_ns = pd->now;
			fq_push(&pd->in, f);
			pd->ctr[TERN_PD_INJECTED]++;
			pump(pd);
		}
	}
	leave(pd);
	return rc;
}

static int pd_netdev_receive(void *u, void *buf, size_t *count, long long *time_usecs)
{
	struct pd *pd = enter(u, CALL_OTHER);
	pd->owner = pthread_self();
	uint64_t horizon = pd->now + RECEIVE_HORIZON;
	for (;;) {
		settle(pd);
		struct frame *f = fq_pop(&pd->out);
		if (f) {
			size_t n = f->len;
			if (n > *count) {
				n = *count;
				pd->ctr[TERN_PD_OUT_TRUNCATED]++;
			}
			memcpy(buf, f->data, n);
			*count = n;
			*time_usecs = (long long)(f->t_ns / NS_PER_US);
			free(f);
			break;
		}
		/* Nothing sent yet: on to the stack's next timer, if it has one
		 * (else nothing will come: the clock stays). */
		uint64_t next = next_event(pd);
		if (next == UINT64_MAX || next > horizon) {
			*count = 0;
			*time_usecs = (long long)(pd->now / NS_PER_US);
			break;
		}
		advance_next(pd, UINT64_MAX);
	}
	leave(pd);
	return 0;
}

static int pd_usleep(void *u, useconds_t usec)
{
	struct pd *pd = enter(u, CALL_OTHER);
	advance_to(pd, pd->now + (uint64_t)usec * NS_PER_US);
	leave(pd);
	return 0;
}

static int pd_gettimeofday(void *u, struct timeval *tv, struct timezone *tz)
{
	struct pd *pd = enter(u, CALL_GTOD);
	if (tv) {
		tv->tv_sec = (time_t)(pd->now / NS_PER_SEC);
		tv->tv_usec = (suseconds_t)(pd->now % NS_PER_SEC / NS_PER_US);
	}
	if (tz)
		memset(tz, 0, sizeof(*tz));
	leave(pd);
	return 0;
}

static void pd_free(void *u)
{
	struct pd *pd = u;
	if (!pd)
		return;
	tern_stack_free(pd->s); /* and the device */
	fq_purge(&pd->in);
	fq_purge(&pd->out);
	for (size_t i = 0; i < pd->npipes; i++)
		free(pd->pipes[i]);
	free(pd->pipes);
	free(pd->fds);
	pthread_cond_destroy(&pd->changed);
	pthread_cond_destroy(&pd->settled);
	pthread_mutex_destroy(&pd->mu);
	free(pd);
}

/* ---- set-up ---- */

struct opts {
	uint32_t local, netmask, mtu;
	uint64_t seed, start_ns;
	bool adopt;
};

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "tern-packetdrill: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(EXIT_FAILURE);
}

static uint32_t parse_ip(const char *key, const char *v)
{
	struct in_addr a;
	if (inet_pton(AF_INET, v, &a) != 1)
		die("bad address in %s", key);
	return ntohl(a.s_addr);
}

static uint64_t parse_num(const char *key, const char *v, uint64_t max)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 0);
	if (errno || end == v || *end || n > max)
		die("bad number in %s", key);
	return n;
}

/* Flags: "key=value" words (a leading "--" is allowed) apart by spaces or
 * commas.  local_ip=A[/N], netmask_ip=M, mtu=N, seed=N, clock_start=SECS,
 * adopt_local=0|1, and any tern sysctl by name (net.ipv4.tcp_sack=0). */
static void parse_flags(struct pd *pd, struct opts *o, const char *flags, char ***sysctls, size_t *nsys)
{
	char *copy = strdup(flags ? flags : "");
	if (!copy)
		die("%s", "out of memory");
	char *save = NULL;
	for (char *w = strtok_r(copy, " \t\n,", &save); w; w = strtok_r(NULL, " \t\n,", &save)) {
		while (*w == '-')
			w++;
		char *eq = strchr(w, '=');
		if (!eq)
			die("flag without a value: %s", w);
		*eq = '\0';
		const char *v = eq + 1;
		if (strcmp(w, "local_ip") == 0) {
			char *slash = strchr((char *)v, '/');
			if (slash) {
				*slash = '\0';
				uint64_t plen = parse_num(w, slash + 1, 32);
				o->netmask = plen ? ~0u << (32 - plen) : 0;
			}
			o->local = parse_ip(w, v);
		} else if (strcmp(w, "netmask_ip") == 0) {
			o->netmask = parse_ip(w, v);
		} else if (strcmp(w, "mtu") == 0) {
			o->mtu = (uint32_t)parse_num(w, v, TN_PKT_DATAROOM);
			if (o->mtu < 68)
				die("%s below 68", w);
		} else if (strcmp(w, "seed") == 0) {
			o->seed = parse_num(w, v, UINT64_MAX);
		} else if (strcmp(w, "clock_start") == 0) {
			o->start_ns = parse_num(w, v, UINT64_MAX / NS_PER_SEC / 2) * NS_PER_SEC;
		} else if (strcmp(w, "adopt_local") == 0) {
			o->adopt = parse_num(w, v, 1) != 0;
		} else if (strncmp(w, "net.", 4) == 0) {
			char **t = realloc(*sysctls, (*nsys + 2) * sizeof(*t));
			if (!t)
				die("%s", "out of memory");
			*sysctls = t;
			t[(*nsys)++] = strdup(w);
			t[(*nsys)++] = strdup(v);
		} else {
			die("unknown flag: %s", w);
		}
	}
	free(copy);
	(void)pd;
}

__attribute__((visibility("default"))) void packetdrill_interface_init(const char *flags,
								     struct packetdrill_interface *ifc)
{
	struct pd *pd = calloc(1, sizeof(*pd));
	if (!pd)
		die("%s", "out of memory");
	/* packetdrill's IPv4 defaults: local addresses in 192.168.0.0/16 (it
	 * picks one at random; a bind there is adopted), remote 192.0.2.1. */
	struct opts o = {
		.local = 0xc0a80001, .netmask = 0xffff0000, .mtu = 1500, .seed = 1,
		.start_ns = NS_PER_SEC, .adopt = true,
	};
	char **sysctls = NULL;
	size_t nsys = 0;
	parse_flags(pd, &o, flags, &sysctls, &nsys);

	pthread_mutex_init(&pd->mu, NULL);
	pthread_cond_init(&pd->changed, NULL);
	pthread_cond_init(&pd->settled, NULL);
	pd->now = o.start_ns;
	pd->owner = pthread_self();
	pd->local = o.local;
	pd->netmask = o.netmask;
	pd->adopt = o.adopt;
	struct tern_config cfg = {.name = "packetdrill", .seed = o.seed, .now = o.start_ns};
	pd->s = tern_stack_new(&cfg);
	if (!pd->s)
		die("%s", "cannot create the stack");
	for (size_t i = 0; i < nsys; i += 2) {
		if (tern_sysctl_set(pd->s, sysctls[i], sysctls[i + 1]) < 0)
			die("cannot set %s", sysctls[i]);
		free(sysctls[i]);
		free(sysctls[i + 1]);
	}
	free(sysctls);
	struct tn_dev *d = calloc(1, sizeof(*d));
	if (!d)
		die("%s", "out of memory");
	d->ops = &pd_dev_ops;
	d->priv = pd;
	d->framing = TN_DEV_L3;
	d->mtu = o.mtu;
	snprintf(d->name, sizeof(d->name), "tun0");
	pd->ifindex = tern_dev_attach(pd->s, d);
	if (pd->ifindex < 0 || tern_addr_add(pd->s, pd->ifindex, o.local, __builtin_popcount(o.netmask)) < 0 ||
	    tern_route_add(pd->s, 0, 0, 0, pd->ifindex, 0) < 0)
		die("%s", "cannot configure the device");

	*ifc = (struct packetdrill_interface){
		.userdata = pd,
		.free = pd_free,
		.socket = pd_socket,
		.bind = pd_bind,
		.listen = pd_listen,
		.accept = pd_accept,
		.connect = pd_connect,
		.read = pd_read,
		.readv = pd_readv,
		.recv = pd_recv,
		.recvfrom = pd_recvfrom,
		.recvmsg = pd_recvmsg,
		.write = pd_write,
		.writev = pd_writev,
		.send = pd_send,
		.sendto = pd_sendto,
		.sendmsg = pd_sendmsg,
		.fcntl = pd_fcntl,
		.ioctl = pd_ioctl,
		.close = pd_close,
		.shutdown = pd_shutdown,
		.getsockopt = pd_getsockopt,
		.setsockopt = pd_setsockopt,
		.poll = pd_poll,
		.netdev_send = pd_netdev_send,
		.netdev_receive = pd_netdev_receive,
		.usleep = pd_usleep,
		.gettimeofday = pd_gettimeofday,
		.epoll_create = pd_epoll_create,
		.epoll_ctl = pd_epoll_ctl,
		.epoll_wait = pd_epoll_wait,
		.pipe = pd_pipe,
		.splice = pd_splice,
	};
}
