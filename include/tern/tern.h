/* tern: a user-space TCP/IP stack.
 *
 * One struct tn_stack holds everything: devices, addresses, routes, caches,
 * sockets, timers, counters and settings.  Nothing is global.  Time is an
 * input: tern_poll(stack, now) does what is due at `now` and
 * tern_poll_at(stack) says when it next needs to run, so the same code runs
 * on a real clock or a virtual one.
 *
 * Socket calls follow BSD/Linux: they return -1 and set errno.  They never
 * block: an operation that would wait fails with EAGAIN.  Addresses in the
 * tern_* configuration calls are IPv4 in host byte order.
 */
#ifndef TERN_H
#define TERN_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* TCP Fast Open (RFC 7413) with Linux's values, for C libraries that lack
 * them: sendto(MSG_FASTOPEN) connects with data in the SYN; TCP_FASTOPEN
 * (qlen) on a listener; TCP_FASTOPEN_CONNECT before connect(). */
#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif
#ifndef TCP_FASTOPEN
#define TCP_FASTOPEN 23
#endif
#ifndef TCP_FASTOPEN_CONNECT
#define TCP_FASTOPEN_CONNECT 30
#endif

#ifdef __cplusplus
extern "C" {
#endif

struct tn_stack;
struct tn_dev;

struct tern_config {
	const char *name;        /* for logs; default "tern" */
	uint32_t pool_size;      /* packet buffers; default 16384 */
	uint64_t seed;           /* randomness: 0 picks one from the OS */
	uint64_t now;            /* initial clock (ns) */
	/* Log sink; default: none.  level: 0 error .. 3 debug. */
	void (*log)(void *ctx, int level, const char *msg);
	void *log_ctx;
};

struct tn_stack *tern_stack_new(const struct tern_config *cfg);
/* Make the stack queue `queue` of `nqueues` behind Toeplitz RSS under a
 * 40-byte key (NULL: the Microsoft specification's default key): the
 * source ports it picks for TCP connections and connected UDP sockets are
 * ones whose replies hash to `queue`.  nqueues 0 or 1 turns it off.
 * -1/EINVAL if queue >= nqueues. */
int tern_stack_set_rss(struct tn_stack *s, unsigned nqueues, unsigned queue, const uint8_t *key);
/* Frees everything, including the devices attached. */
void tern_stack_free(struct tn_stack *s);

/* Attach a device; the stack owns it from now on.  Returns its ifindex
 * (1, 2, ...) or -1 with errno. */
int tern_dev_attach(struct tn_stack *s, struct tn_dev *dev);
struct tn_dev *tern_dev_get(struct tn_stack *s, int ifindex);
int tern_dev_count(const struct tn_stack *s);
/* ifindex of a device by name, or -1. */
int tern_dev_index(const struct tn_stack *s, const char *name);
/* Detach and destroy a device (interface removed); routes, neighbours and
 * addresses on it go too. */
int tern_dev_remove(struct tn_stack *s, int ifindex);
/* Turn an offload of an attached device on or off, as `ethtool -K`:
 * "tso" (the device takes large TCP segments whole; only if its driver
 * can), "gso" (TCP builds large segments, cut up before the device if it
 * cannot take them), "gro" (received segments of a flow are merged).
 * 0, or -EINVAL for an unknown device or feature, -EOPNOTSUPP for TSO on a
 * device that cannot do it. */
int tern_dev_offload(struct tn_stack *s, int ifindex, const char *feature, int on);
/* Traffic control as the tc command: argv is tc's words without "tc"
 * ("qdisc add dev tern0 root tbf rate 20mbit burst 32k latency 50ms",
 * "-s qdisc show dev tern0").  The output or the error goes to out (NUL-
 * terminated, cut at cap).  Returns 0, or -1 and nothing changed. */
int tern_tc(struct tn_stack *s, int argc, char **argv, char *out, size_t cap);
/* A file's worth of tc commands, one per line (# comments; a leading "tc"
 * allowed); stops at the first failing line as tc -batch, whose number it
 * returns (0: all applied). */
int tern_tc_batch(struct tn_stack *s, const char *text, char *out, size_t cap);

/* Add an address with its prefix; adds the connected route and sends a
 * gratuitous ARP on Ethernet devices. */
int tern_addr_add(struct tn_stack *s, int ifindex, uint32_t addr, int plen);
/* Add a route; gw 0 means on-link; ifindex 0 finds the device from gw. */
int tern_route_add(struct tn_stack *s, uint32_t dst, int plen, uint32_t gw, int ifindex,
		   uint32_t metric);
int tern_route_del(struct tn_stack *s, uint32_t dst, int plen);

/* Run everything due at `now` (ns): timers, device receive, transmit.
 * Returns how many frames it received or sent (0: nothing to do). */
unsigned tern_poll(struct tn_stack *s, uint64_t now);
/* When the stack next needs tern_poll (ns on the same clock): its current
 * time if it has work now, UINT64_MAX if idle.  Frames waiting in a
 * device's receive ring count only where the driver reports them
 * (next_event); callers polling file descriptors learn of them that way. */
uint64_t tern_poll_at(struct tn_stack *s);
uint64_t tern_now(const struct tn_stack *s);

/* Counters, indexed by the nstat name ("IpInReceives"); -1 if unknown. */
int64_t tern_stat(const struct tn_stack *s, const char *nstat_name);
/* Settings by sysctl name; 0 or a negative errno. */
int tern_sysctl_set(struct tn_stack *s, const char *name, const char *value);
int tern_sysctl_get(const struct tn_stack *s, const char *name, char *buf, size_t cap);
/* Packet buffers currently allocated (for leak checks). */
uint32_t tern_pool_in_use(const struct tn_stack *s);

/* ---- Sockets: SOCK_STREAM (TCP); SOCK_DGRAM with IPPROTO_UDP (or 0), or
 * IPPROTO_ICMP for Linux-style ping sockets (send an echo request header +
 * data, the stack sets the id; receive the echo reply).  connect() on a
 * stream socket returns EINPROGRESS; completion shows as POLLOUT, failure
 * as POLLERR with SO_ERROR. ---- */
int tern_socket(struct tn_stack *s, int domain, int type, int protocol);
int tern_bind(struct tn_stack *s, int fd, const struct sockaddr *addr, socklen_t len);
int tern_connect(struct tn_stack *s, int fd, const struct sockaddr *addr, socklen_t len);
ssize_t tern_sendto(struct tn_stack *s, int fd, const void *buf, size_t len, int flags,
		    const struct sockaddr *to, socklen_t tolen);
ssize_t tern_send(struct tn_stack *s, int fd, const void *buf, size_t len, int flags);
ssize_t tern_recvfrom(struct tn_stack *s, int fd, void *buf, size_t len, int flags,
		      struct sockaddr *from, socklen_t *fromlen);
ssize_t tern_recv(struct tn_stack *s, int fd, void *buf, size_t len, int flags);
/* recvmsg with msg_name, a scatter list, MSG_TRUNC in msg_flags, and the
 * IP_TTL control message when IP_RECVTTL is on. */
ssize_t tern_recvmsg(struct tn_stack *s, int fd, struct msghdr *msg, int flags);
/* sendmsg: a stream takes the iovecs in order (a short count when the send
 * buffer fills); a datagram socket sends them as one datagram to msg_name
 * (or its peer).  readv/writev are recvmsg/sendmsg without names. */
struct iovec;
ssize_t tern_sendmsg(struct tn_stack *s, int fd, const struct msghdr *msg, int flags);
ssize_t tern_readv(struct tn_stack *s, int fd, const struct iovec *iov, int iovcnt);
ssize_t tern_writev(struct tn_stack *s, int fd, const struct iovec *iov, int iovcnt);
/* sendfile(2) onto a stream socket: up to count bytes of in_fd (a file of
 * the host, not a tern descriptor) from *offset, which advances by what was
 * sent (NULL: from the file's position, which advances instead), read
 * straight into the send buffer with no copy in between.  Returns the bytes
 * sent, 0 at the end of the file, or -1 with errno: EAGAIN when the send
 * buffer is full, EINVAL for a socket that is not a stream, pread's errors
 * for in_fd (ESPIPE if it cannot be read at an offset: a pipe). */
ssize_t tern_sendfile(struct tn_stack *s, int fd, int in_fd, off_t *offset, size_t count);
/* Bytes an application lends to stream sockets instead of having them
 * copied (tern_send_lent): what sendfile from the page cache is to the
 * kernel, a file cache of the application's is to tern.  tern takes one
 * of refs for each piece of a send buffer that points at the bytes and
 * puts it back once the piece is acknowledged and no packet points into
 * it any more (a retransmission, a qdisc, a loopback peer's queue); refs
 * reaching 0 calls release.  The application holds a reference of its own
 * while it may lend the bytes again, and must not change them while refs
 * is above 0.  Touched only on the stack's thread, so not atomic. */
struct tern_lent {
	unsigned long refs;
	void (*release)(struct tern_lent *l);
};
static inline void tern_lent_put(struct tern_lent *l)
{
	if (--l->refs == 0)
		l->release(l);
}
/* send() of len bytes at buf that stay the application's (struct
 * tern_lent): returns the bytes taken (all, or what the send buffer has
 * room for), or -1 with send()'s errno; EINVAL for a socket that is not a
 * stream.  Before a TCP_FASTOPEN_CONNECT socket's first write the bytes
 * are copied, as send() would. */
ssize_t tern_send_lent(struct tn_stack *s, int fd, const void *buf, size_t len, struct tern_lent *l);
int tern_listen(struct tn_stack *s, int fd, int backlog);
/* Returns the new connection's descriptor; EAGAIN if none is ready. */
int tern_accept(struct tn_stack *s, int fd, struct sockaddr *addr, socklen_t *len);
int tern_shutdown(struct tn_stack *s, int fd, int how);
int tern_close(struct tn_stack *s, int fd);
int tern_getsockname(struct tn_stack *s, int fd, struct sockaddr *addr, socklen_t *len);
int tern_getpeername(struct tn_stack *s, int fd, struct sockaddr *addr, socklen_t *len);
int tern_setsockopt(struct tn_stack *s, int fd, int level, int name, const void *val,
		    socklen_t len);
int tern_getsockopt(struct tn_stack *s, int fd, int level, int name, void *val, socklen_t *len);

/* TCP_INFO in the layout of Linux's <linux/tcp.h> (glibc's struct tcp_info
 * is its first part, so either may be passed with its own size).  Also
 * TCP_CONGESTION ("reno", "cubic", "bbr") and SO_MAX_PACING_RATE. */
struct tern_tcp_info {
	uint8_t tcpi_state, tcpi_ca_state, tcpi_retransmits, tcpi_probes, tcpi_backoff, tcpi_options;
	uint8_t tcpi_snd_wscale : 4, tcpi_rcv_wscale : 4;
	uint8_t tcpi_delivery_rate_app_limited : 1, tcpi_fastopen_client_fail : 2;
	uint32_t tcpi_rto, tcpi_ato, tcpi_snd_mss, tcpi_rcv_mss;
	uint32_t tcpi_unacked, tcpi_sacked, tcpi_lost, tcpi_retrans, tcpi_fackets;
	uint32_t tcpi_last_data_sent, tcpi_last_ack_sent, tcpi_last_data_recv, tcpi_last_ack_recv;
	uint32_t tcpi_pmtu, tcpi_rcv_ssthresh, tcpi_rtt, tcpi_rttvar, tcpi_snd_ssthresh, tcpi_snd_cwnd;
	uint32_t tcpi_advmss, tcpi_reordering, tcpi_rcv_rtt, tcpi_rcv_space, tcpi_total_retrans;
	uint64_t tcpi_pacing_rate, tcpi_max_pacing_rate, tcpi_bytes_acked, tcpi_bytes_received;
	uint32_t tcpi_segs_out, tcpi_segs_in, tcpi_notsent_bytes, tcpi_min_rtt;
	uint32_t tcpi_data_segs_in, tcpi_data_segs_out;
	uint64_t tcpi_delivery_rate, tcpi_busy_time, tcpi_rwnd_limited, tcpi_sndbuf_limited;
	uint32_t tcpi_delivered, tcpi_delivered_ce;
	uint64_t tcpi_bytes_sent, tcpi_bytes_retrans;
	uint32_t tcpi_dsack_dups, tcpi_reord_seen, tcpi_rcv_ooopack, tcpi_snd_wnd;
};
/* ---- Epoll-shaped readiness (struct epoll_event and EPOLL* from
 * <sys/epoll.h>): EPOLLIN/OUT/RDHUP/HUP/ERR, level-triggered by default,
 * EPOLLET and EPOLLONESHOT.  tern_epoll_wait never blocks: it returns what
 * is ready now; a program sleeps in its own poll loop until tern_poll_at.
 * Closing a socket removes it from every epoll instance. ---- */
struct epoll_event;
int tern_epoll_create(struct tn_stack *s);
int tern_epoll_ctl(struct tn_stack *s, int epfd, int op, int fd, struct epoll_event *ev);
int tern_epoll_wait(struct tn_stack *s, int epfd, struct epoll_event *events, int maxevents);

/* The last ICMP error reported to a socket (what Linux delivers through
 * IP_RECVERR): the reporting host, ICMP type and code, and for ping
 * sockets the echo sequence.  0, or -1 with ENOMSG if none. */
int tern_sock_icmp_error(struct tn_stack *s, int fd, uint32_t *from, uint8_t *type, uint8_t *code,
			 uint16_t *seq);
/* Readiness now: a mask of POLLIN, POLLOUT, POLLERR. */
int tern_sock_events(struct tn_stack *s, int fd);

#ifdef __cplusplus
}
#endif
#endif
