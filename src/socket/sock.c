/* The socket table and the BSD-shaped calls for datagram sockets (UDP and
 * ICMP ping sockets).  Calls never block; errors return -1 with errno set
 * to what Linux would set. */
#include "socket/sock.h"
#include "tcp/tcp_cc.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/stack.h"
#include "net/ipv4.h"
#include "socket/epoll.h"
#include "socket/stream.h"
#include "socket/udp.h"
#include "tcp/tcp.h"
#include "tcp/tcp_fastopen.h"
#include <netinet/tcp.h>
#include "wire/wire.h"

#define SOCK_MIN_RCVBUF 2304 /* Linux: 2 * (2048 + sizeof(sk_buff)) rounded */
#define SOCK_MIN_SNDBUF 4608

void tn_sock_table_init(struct tn_sock_table *t) { memset(t, 0, sizeof(*t)); }

void tn_sock_table_destroy(struct tn_stack *s)
{
	struct tn_sock_table *t = &s->socks;
	for (uint32_t i = 0; i < t->nfds; i++) {
		struct tn_sock *sk = t->fds[i];
		if (!sk)
			continue;
		if (sk->epoll) { /* the sockets go too: free the items, unlink nothing */
			for (struct tn_ep_item *it = sk->epoll->items, *n; it; it = n) {
				n = it->ep_next;
				free(it);
			}
			free(sk->epoll);
		}
		if (sk->tcb) { /* hashed connections go with the TCP table */
			struct tn_tcb *tcb = sk->tcb;
			tcb->sk = NULL;
			if (tcb->state == TN_TCP_CLOSED)
				tn_tcp_destroy_tcb(s, tcb);
		}
		tn_pktq_purge(&sk->rxq);
		free(sk);
	}
	free(t->fds);
	memset(t, 0, sizeof(*t));
}

struct tn_sock *tn_sock_get(struct tn_stack *s, int fd)
{
	if (fd < 0 || (uint32_t)fd >= s->socks.nfds)
		return NULL;
	return s->socks.fds[fd];
}

static int set_errno(int err)
{
	errno = err;
	return -1;
}

static struct tn_sock *sock_or_ebadf(struct tn_stack *s, int fd)
{
	struct tn_sock *sk = tn_sock_get(s, fd);
	if (!sk)
		errno = EBADF;
	return sk;
}

static int fd_alloc(struct tn_sock_table *t, struct tn_sock *sk)
{
	for (uint32_t i = t->free_hint; i < t->nfds; i++) {
		if (!t->fds[i]) {
			t->fds[i] = sk;
			t->free_hint = i + 1;
			return (int)i;
		}
	}
	uint32_t n = t->nfds ? t->nfds * 2 : 64;
	struct tn_sock **fds = realloc(t->fds, n * sizeof(*fds));
	if (!fds)
		return -1;
	memset(fds + t->nfds, 0, (n - t->nfds) * sizeof(*fds));
	t->fds = fds;
	uint32_t i = t->nfds;
	t->nfds = n;
	t->fds[i] = sk;
	t->free_hint = i + 1;
	return (int)i;
}

int tern_socket(struct tn_stack *s, int domain, int type, int protocol)
{
	if (domain != AF_INET)
		return set_errno(EAFNOSUPPORT);
	int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (base != SOCK_DGRAM && base != SOCK_STREAM)
		return set_errno(ESOCKTNOSUPPORT);
	if (protocol == 0)
		protocol = base == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
	bool ok = base == SOCK_STREAM ? protocol == IPPROTO_TCP
				      : (protocol == IPPROTO_UDP || protocol == IPPROTO_ICMP);
	if (!ok)
		return set_errno(EPROTONOSUPPORT);
	struct tn_sock *sk = calloc(1, sizeof(*sk));
	if (!sk)
		return set_errno(ENOMEM);
	sk->type = base;
	sk->protocol = protocol;
	sk->ttl = -1;
	sk->rcvbuf = (uint32_t)(base == SOCK_STREAM ? s->sysctl.tcp_rmem[1] : s->sysctl.core_rmem_default);
	sk->sndbuf = (uint32_t)(base == SOCK_STREAM ? s->sysctl.tcp_wmem[1] : s->sysctl.core_wmem_default);
	tn_pktq_init(&sk->rxq);
	int fd = fd_alloc(&s->socks, sk);
	if (fd < 0) {
		free(sk);
		return set_errno(ENFILE);
	}
	sk->fd = fd;
	s->socks.open++;
	return fd;
}

static int sockaddr_in_get(const struct sockaddr *a, socklen_t len, uint32_t *addr, uint16_t *port)
{
	if (!a || len < (socklen_t)sizeof(struct sockaddr_in))
		return -EINVAL;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)a;
	if (sin->sin_family != AF_INET)
		return -EAFNOSUPPORT;
	*addr = ntohl(sin->sin_addr.s_addr);
	*port = ntohs(sin->sin_port);
	return 0;
}

static void sockaddr_in_put(struct sockaddr *a, socklen_t *len, uint32_t addr, uint16_t port)
{
	if (!a || !len)
		return;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	sin.sin_addr.s_addr = htonl(addr);
	sin.sin_port = htons(port);
	socklen_t n = *len < (socklen_t)sizeof(sin) ? *len : (socklen_t)sizeof(sin);
	memcpy(a, &sin, (size_t)n);
	*len = sizeof(sin);
}

int tern_bind(struct tn_stack *s, int fd, const struct sockaddr *addr, socklen_t len)
{
	struct tn_sock *sk = sock_or_ebadf(s, fd);
	if (!sk)
		return -1;
	uint32_t a;
	uint16_t port;
	int rc = sockaddr_in_get(addr, len, &a, &port);
	if (rc < 0)
		return set_errno(-rc);
	if (sk->bound)
		return set_errno(EINVAL);
	if (a && !tn_addr_is_local(s, a) && !tn_ip_is_loopback(a) && !tn_addr_is_bcast(s, a, 0))
		return set_errno(EADDRNOTAVAIL);
	rc = sk->type == SOCK_STREAM ? tn_stream_bind(s, sk, a, port) : tn_dgram_bind(s, sk, a, port);
	return rc < 0 ? set_errno(-rc) : 0;
}

int tern_connect(struct tn_stack *s, int fd, const struct sockaddr *addr, socklen_t len)
{
	struct tn_sock *sk = sock_or_ebadf(s, fd);
	if (!sk)
		return -1;
	if (addr && len >= (socklen_t)sizeof(sa_family_t) && addr->sa_family == AF_UNSPEC) {
		sk->connected = false; /* dissolve the association */
		sk->raddr = 0;
		sk->rport = 0;
		return 0;
	}
	uint32_t a;
	uint16_t port;
	int rc = sockaddr_in_get(addr, len, &a, &port);
	if (rc < 0)
		return set_errno(-rc);
	if (sk->type == SOCK_STREAM) {
		rc = tn_stream_connect(s, sk, a, port);
		return rc < 0 ? set_errno(-rc) : 0;
	}
	if (sk->protocol == IPPROTO_UDP && port == 0)
		return set_errno(EINVAL);
	if (!tn_ip_select_src(s, a, 0) && !tn_addr_is_local(s, a) && !tn_ip_is_lbcast(a))
		return set_errno(ENETUNREACH);
	if (!sk->bound) {
		uint32_t src = sk->protocol == IPPROTO_UDP ? (tn_addr_is_local(s, a) ? a : tn_ip_select_src(s, a, 0)) : 0;
		if ((rc = tn_dgram_bind_to_peer(s, sk, 0, 0, src, a, port)) < 0)
			return set_errno(-rc);
	}
	sk->raddr = a;
	sk->rport = port;
	sk->connected = true;
	if (!sk->laddr) { /* the source address is fixed at connect, as Linux */
		sk->laddr = tn_addr_is_local(s, a) ? a : tn_ip_select_src(s, a, 0);
	}
	return 0;
}

ssize_t tern_sendto(struct tn_stack *s, int fd, const void *buf, size_t len, int flags,
		    const struct sockaddr *to, socklen_t tolen)
{
	struct tn_sock *sk = sock_or_ebadf(s, fd);
	if (!sk)
		return -1;
	if (sk->type == SOCK_STREAM && (flags & MSG_FASTOPEN)) {
		uint32_t a = 0;
		uint16_t port = 0;
		int rc = sockaddr_in_get(to, tolen, &a, &port);
		if (rc < 0 && !(sk->tcb && (sk->tcb->tfo & TN_TFO_DEFER)))
			return set_errno(sk->tcb ? EISCONN : -rc);
		ssize_t n = tn_stream_sendto_fastopen(s, sk, buf, len, a, port);
		return n < 0 ? set_errno((int)-n) : n;
	}
	if (sk->type == SOCK_STREAM) {
		ssize_t n = tn_stream_send(s, sk, buf, len);
		return n < 0 ? set_errno((int)-n) : n;
	}
	uint32_t dst;
	uint16_t dport;
	if (to) {
		int rc = sockaddr_in_get(to, tolen, &dst, &dport);
		if (rc < 0)
			return set_errno(-rc);
	} else {
		if (!sk->connected)
			return set_errno(EDESTADDRREQ);
		dst = sk->raddr;
		dport = sk->rport;
	}
	if (sk->so_error && sk->connected) {
		int err = sk->so_error;
		sk->so_error = 0;
		return set_errno(err);
	}
	if ((tn_ip_is_lbcast(dst) || tn_addr_is_bcast(s, dst, 0)) && !sk->broadcast)
		return set_errno(EACCES);
	ssize_t rc = sk->protocol == IPPROTO_ICMP ? tn_ping_sendto(s, sk, buf, len, dst)
						  : tn_udp_sendto(s, sk, buf, len, dst, dport);
	(void)flags;
	return rc < 0 ? set_errno((int)-rc) : rc;
}

ssize_t tern_send(struct tn_stack *s, int fd, const void *buf, size_t len, int flags)
{
	return tern_sendto(s, fd, buf, len, flags, NULL, 0);
}

ssize_t tern_sendfile(struct tn_stack *s, int fd, int in_fd, off_t *offset, size_t count)
{
	struct tn_sock *sk = sock_or_ebadf(s, fd);
	if (!sk)
		return -1;
	if (sk->type != SOCK_STREAM)
		return set_errno(EINVAL);
	if (offset && *offset < 0)
		return set_errno(EINVAL);
	/* without an offset, the file's own position: read at it, then move it */
	off_t pos = offset ? *offset : lseek(in_fd, 0, SEEK_CUR);
	if (pos < 0)
		return -1; /* lseek's errno (ESPIPE for a pipe) */
	ssize_t n = tn_stream_sendfile(s, sk, in_fd, pos, count);
	if (n < 0)
		return set_errno((int)-n);
	if (offset)
		*offset = pos + n;
	else if (lseek(in_fd, pos + n, SEEK_SET) < 0)
		return -1;
	return n;
}

ssize_t tern_send_lent(struct tn_stack *s, int fd, const void *buf, size_t len, struct tern_lent *l)
{
	struct tn_sock *sk = sock_or_ebadf(s, fd);
	if (!sk)
		return -1;
	if (sk->type != SOCK_STREAM)
		return set_errno(EINVAL);
	ssize_t n = tn_stream_send_lent(s, sk, buf, len, l);
	return n < 0 ? set_errno((int)-n) : n;
}

ssize_t tern_recvfrom(struct tn_stack *s, int fd, void *buf, size_t len, int flags,
		      struct sockaddr *from, socklen_t *fromlen)
{
	struct tn_sock *sk = sock_or_ebadf(s, fd);
	if (!sk)
		return -1;
	if (sk->type == SOCK_STREAM) {
		ssize_t n = tn_stream_recv(s, sk, buf, len, flags);
		if (n >= 0 && from && fromlen) {
			uint32_t a;
			uint16_t p;
			if (tn_stream_peer(sk, &a, &p) == 0)
				sockaddr_in_put(from, fromlen, a, p);
		}
		return n < 0 ? set_errno((int)-n) : n;
	}
	struct tn_pkt *p = sk->rxq.head;
	if (!p) {
		if (sk->so_error) {
			int err = sk->so_error;
			sk->so_error = 0;
			return set_errno(err);
		}
		return set_errno(EAGAIN);
	}
	uint32_t n = p->pkt_len < len ? p->pkt_len : (uint32_t)len;
	tn_pkt_copy_out(p, 0, buf, n);
	const struct tn_dgram_cb *cb = (const struct tn_dgram_cb *)p->cb;
	sockaddr_in_put(from, fromlen, cb->src, cb->sport);
	ssize_t ret = (flags & MSG_TRUNC) ? (ssize_t)p->pkt_len : (ssize_t)n;
	if (!(flags & MSG_PEEK)) {
		tn_pktq_pop(&sk->rxq, tn_pkt_truesize(p));
		tn_pkt_free(p);
	}
	return ret;
}

ssize_t tern_recv(struct tn_stack *s, int fd, void *buf, size_t len, int flags)
{
	return tern_recvfrom(s, fd, buf, len, flags, NULL, NULL);
}

/* Gather: a stream takes the iovecs in order until one is taken short (the
 * send buffer filled); a datagram socket sends them as one datagram. */
ssize_t tern_sendmsg(struct tn_stack *s, int fd, const struct msghdr *msg, int flags)
{
	struct tn_sock *sk = sock_or_ebadf(s, fd);
	if (!sk)
		return -1;
	size_t total = 0;
	for (size_t i = 0; i < (size_t)msg->msg_iovlen; i++) {
		if (msg->msg_iov[i].iov_len > SSIZE_MAX - total)
			return set_errno(EINVAL);
		total += msg->msg_iov[i].iov_len;
	}
	if (sk->type == SOCK_STREAM) {
		/* All the iovecs reach the send buffer before a partial segment
		 * may leave, so writev("abc", "defg") is one 7-byte segment, as in
		 * Linux: held as TCP_CORK holds it, then pushed. */
		struct tn_tcb *t = sk->tcb;
		bool corked = t && t->cork;
		if (t)
			t->cork = true;
		ssize_t sent = 0;
		int err = 0;
		for (size_t i = 0; i < (size_t)msg->msg_iovlen; i++) {
			if (!msg->msg_iov[i].iov_len)
				continue;
			ssize_t k = tern_sendto(s, fd, msg->msg_iov[i].iov_base, msg->msg_iov[i].iov_len, flags, NULL, 0);
			if (k < 0) {
				err = errno;
				break;
			}
			sent += k;
			if ((size_t)k < msg->msg_iov[i].iov_len)
				break;
		}
		if (t) {
			t->cork = corked;
			tn_tcp_output(s, t);
		}
		if (!sent && err)
			return set_errno(err);
		return sent;
	}
	if (total > 65535)
		return set_errno(EMSGSIZE);
	uint8_t *buf = malloc(total ? total : 1);
	if (!buf)
		return set_errno(ENOBUFS);
	size_t off = 0;
	for (size_t i = 0; i < (size_t)msg->msg_iovlen; i++) {
		memcpy(buf + off, msg->msg_iov[i].iov_base, msg->msg_iov[i].iov_len);
		off += msg->msg_iov[i].iov_len;
	}
	ssize_t rc = tern_sendto(s, fd, buf, total, flags, msg->msg_name, msg->msg_namelen);
	int err = errno;
	free(buf);
	errno = err;
	return rc;
}

ssize_t tern_writev(struct tn_stack *s, int fd, const struct iovec *iov, int iovcnt)
{
	if (iovcnt < 0 || iovcnt > IOV_MAX)
		return set_errno(EINVAL);
	struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
	return tern_sendmsg(s, fd, &m, 0);
}

ssize_t tern_readv(struct tn_stack *s, int fd, const struct iovec *iov, int iovcnt)
{
	if (iovcnt < 0 || iovcnt > IOV_MAX)
		return set_errno(EINVAL);
	struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
	return tern_recvmsg(s, fd, &m, 0);
}

/* Append one control message; false (and MSG_CTRUNC) if it does not fit. */
static bool put_cmsg(struct msghdr *msg, size_t *used, int level, int type, const void *data, size_t len)
{
	if (!msg->msg_control || *used + CMSG_SPACE(len) > msg->msg_controllen) {
		msg->msg_flags |= MSG_CTRUNC;
		return false;
	}
	struct cmsghdr *c = (struct cmsghdr *)((char *)msg->msg_control + *used);
	c->cmsg_level = level;
	c->cmsg_type = type;
	c->cmsg_len = CMSG_LEN(len);
	memcpy(CMSG_DATA(c), data, len);
	*used += CMSG_SPACE(len);
	return true;
}

/* A byte stream scatters across the iovecs in order; it stops early only
 * when the data runs out (a later call gets the rest). */
static ssize_t stream_recvmsg(struct tn_stack *s, int fd, struct msghdr *msg, int flags)
{
	ssize_t total = 0;
	msg->msg_flags = 0;
	msg->msg_controllen = 0;
	for (size_t i = 0; i < (size_t)msg->msg_iovlen; i++) {
		if (!msg->msg_iov[i].iov_len)
			continue;
		ssize_t k = tern_recvfrom(s, fd, msg->msg_iov[i].iov_base, msg->msg_iov[i].iov_len, flags, NULL, NULL);
		if (k < 0)
			return total ? total : -1;
		total += k;
		if ((size_t)k < msg->msg_iov[i].iov_len || (flags & MSG_PEEK))
			break;
	}
	if (msg->msg_name) {
		socklen_t len = msg->msg_namelen;
		if (tern_getpeername(s, fd, msg->msg_name, &len) == 0)
			msg->msg_namelen = len;
	}
	return total;
}

ssize_t tern_recvmsg(struct tn_stack *s, int fd, struct msghdr *msg, int flags)
{
	struct tn_sock *sk = sock_or_ebadf(s, fd);
	if (!sk)
		return -1;
	if (sk->type == SOCK_STREAM)
		return stream_recvmsg(s, fd, msg, flags);
	struct tn_pkt *p = sk->rxq.head;
	if (!p)
		return tern_recvfrom(s, fd, NULL, 0, flags, NULL, NULL); /* error or EAGAIN */
	msg->msg_flags = 0;
	uint32_t off = 0;
	for (size_t i = 0; i < (size_t)msg->msg_iovlen && off < p->pkt_len; i++) {
		uint32_t left = p->pkt_len - off;
		uint32_t n = msg->msg_iov[i].iov_len < left ? (uint32_t)msg->msg_iov[i].iov_len : left;
		tn_pkt_copy_out(p, off, msg->msg_iov[i].iov_base, n);
		off += n;
	}
	if (off < p->pkt_len)
		msg->msg_flags |= MSG_TRUNC;
	const struct tn_dgram_cb *cb = (const struct tn_dgram_cb *)p->cb;
	if (msg->msg_name)
		sockaddr_in_put(msg->msg_name, &msg->msg_namelen, cb->src, cb->sport);
	size_t used = 0;
	if (sk->recvttl) {
		int ttl = cb->ttl;
		put_cmsg(msg, &used, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
	}
	if (sk->rxq_ovfl) { /* Linux: datagrams dropped on this socket so far */
		uint32_t drops = (uint32_t)sk->drops;
		put_cmsg(msg, &used, SOL_SOCKET, SO_RXQ_OVFL, &drops, sizeof(drops));
	}
	msg->msg_controllen = used;
	ssize_t ret = (flags & MSG_TRUNC) ? (ssize_t)p->pkt_len : (ssize_t)off;
	if (!(flags & MSG_PEEK)) {
		tn_pktq_pop(&sk->rxq, tn_pkt_truesize(p));
		tn_pkt_free(p);
	}
	return ret;
}

int tern_close(struct tn_stack *s, int fd)
{
	struct tn_sock *sk = sock_or_ebadf(s, fd);
	if (!sk)
		return -1;
	tn_epoll_forget_sock(sk);
	if (sk->epoll) {
		tn_epoll_free(s, sk->epoll);
		sk->epoll = NULL;
	} else if (sk->type == SOCK_STREAM) {
		tn_stream_close(s, sk);
	} else {
		tn_dgram_unhash(s, sk);
	}
	tn_pktq_purge(&sk->rxq);
	s->socks.fds[fd] = NULL;
	if ((uint32_t)fd < s->socks.free_hint)
		s->socks.free_hint = (uint32_t)fd;
	s->socks.open--;
	free(sk);
	return 0;
}

int tern_getsockname(struct tn_stack *s, int fd, struct sockaddr *addr, socklen_t *len)
{
	struct tn_sock *sk = sock_or_ebadf(s, fd);
	if (!sk)
		return -1;
	uint32_t a = sk->laddr;
	uint16_t p = sk->lport;
	if (sk->type == SOCK_STREAM)
		tn_stream_local(sk, &a, &p);
	sockaddr_in_put(addr, len, a, p);
	return 0;
}

int tern_getpeername(struct tn_stack *s, int fd, struct sockaddr *addr, socklen_t *len)
{
	struct tn_sock *sk = sock_or_ebadf(s, fd);
	if (!sk)
		return -1;
	if (sk->type == SOCK_STREAM) {
		uint32_t a;
		uint16_t p;
		int rc = tn_stream_peer(sk, &a, &p);
		if (rc < 0)
			return set_errno(-rc);
		sockaddr_in_put(addr, len, a, p);
		return 0;
	}
	if (!sk->connected)
		return set_errno(ENOTCONN);
	sockaddr_in_put(addr, len, sk->raddr, sk->rport);
	return 0;
}

static int opt_int(const void *val, socklen_t len, int *out)
{
	if (!val || len < (socklen_t)sizeof(int))
		return -EINVAL;
	memcpy(out, val, sizeof(int));
	return 0;
}

/* Copy the socket's keepalive settings to its connection and restart it. */
static void stream_sync_keepalive(struct tn_stack *s, struct tn_sock *sk)
{
	if (!sk->tcb)
		return;
	sk->tcb->keepalive = sk->keepalive;
	sk->tcb->ka_idle = sk->ka_idle;
	sk->tcb->ka_intvl = sk->ka_intvl;
	sk->tcb->ka_cnt = sk->ka_cnt;
	tn_tcp_keepalive_update(s, sk->tcb);
}

/* TCP_CONGESTION: a name, not necessarily NUL-terminated, as in Linux. */
static int set_congestion(struct tn_stack *s, struct tn_sock *sk, const void *val, socklen_t len)
{
	char name[16];
	if (!val || len == 0 || sk->type != SOCK_STREAM)
		return set_errno(EINVAL);
	size_t n = (size_t)len < sizeof(name) - 1 ? (size_t)len : sizeof(name) - 1;
	memcpy(name, val, n);
	name[n] = 0;
	name[strcspn(name, "\n")] = 0;
	const struct tn_tcp_cc_ops *ops = tn_tcp_cc_find(name);
	if (!ops)
		return set_errno(ENOENT);
	sk->cc = ops;
	if (sk->tcb) {
		if (sk->tcb->state >= TN_TCP_ESTABLISHED && sk->tcb->state != TN_TCP_TIME_WAIT)
			tn_tcp_cc_set(s, sk->tcb, ops);
		else
			sk->tcb->cc = ops;
	}
	return 0;
}

int tern_setsockopt(struct tn_stack *s, int fd, int level, int name, const void *val, socklen_t len)
{
	struct tn_sock *sk = sock_or_ebadf(s, fd);
	if (!sk)
		return -1;
	if (level == SOL_SOCKET && name == SO_LINGER) {
		struct linger lg;
		if (!val || len < (socklen_t)sizeof(lg))
			return set_errno(EINVAL);
		memcpy(&lg, val, sizeof(lg));
		sk->linger_zero = lg.l_onoff && lg.l_linger == 0;
		return 0;
	}
	if (level == IPPROTO_TCP && name == TCP_CONGESTION)
		return set_congestion(s, sk, val, len);
	if (level == SOL_SOCKET && name == SO_MAX_PACING_RATE) {
		uint64_t rate = 0;
		if (!val || (len != 4 && len != 8))
			return set_errno(EINVAL);
		if (len == 4) {
			uint32_t r32;
			memcpy(&r32, val, 4);
			rate = r32 == UINT32_MAX ? 0 : r32;
		} else {
			memcpy(&rate, val, 8);
			rate = rate == UINT64_MAX ? 0 : rate;
		}
		sk->max_pacing_rate = rate;
		if (sk->tcb) {
			sk->tcb->max_pacing_rate = rate ? rate : UINT64_MAX;
			if (sk->tcb->pacing_rate > sk->tcb->max_pacing_rate)
				sk->tcb->pacing_rate = sk->tcb->max_pacing_rate;
			if (rate && !sk->tcb->pacing_rate)
				sk->tcb->pacing_rate = rate;
		}
		return 0;
	}
	int v;
	if (opt_int(val, len, &v) < 0)
		return set_errno(EINVAL);
	if (level == IPPROTO_TCP && (name == TCP_KEEPIDLE || name == TCP_KEEPINTVL || name == TCP_KEEPCNT)) {
		if (v < 1 || v > (name == TCP_KEEPCNT ? 127 : 32767))
			return set_errno(EINVAL);
		uint32_t *field = name == TCP_KEEPIDLE ? &sk->ka_idle : name == TCP_KEEPINTVL ? &sk->ka_intvl : &sk->ka_cnt;
		*field = (uint32_t)v;
		stream_sync_keepalive(s, sk);
		return 0;
	}
	if (level == SOL_SOCKET && name == SO_KEEPALIVE) {
		sk->keepalive = v != 0;
		stream_sync_keepalive(s, sk);
		return 0;
	}
	if (level == IPPROTO_TCP && name == TCP_CORK) {
		sk->cork = v != 0;
		if (sk->tcb) {
			sk->tcb->cork = sk->cork;
			tn_tcp_output(s, sk->tcb); /* uncorking sends what was held */
		}
		return 0;
	}
	if (level == IPPROTO_TCP && name == TCP_QUICKACK) {
		if (sk->tcb)
			tn_tcp_set_quickack(s, sk->tcb, v != 0);
		return 0;
	}
	if (level == SOL_SOCKET && name == SO_RCVLOWAT) {
		sk->rcvlowat = v < 1 ? 1 : v;
		tn_sock_wake(sk);
		return 0;
	}
	if (level == IPPROTO_TCP && name == TCP_FASTOPEN && sk->type == SOCK_STREAM) {
		if (v < 0)
			return set_errno(EINVAL);
		uint32_t cap = (uint32_t)s->sysctl.core_somaxconn < 32767 ? (uint32_t)s->sysctl.core_somaxconn : 32767;
		sk->fastopen_qlen = (uint16_t)((uint32_t)v < cap ? (uint32_t)v : cap) & 0x7fff;
		if (sk->tcb && sk->tcb->state == TN_TCP_LISTEN)
			tn_tcp_fastopen_listen(s, sk->tcb, sk->fastopen_qlen);
		return 0;
	}
	if (level == IPPROTO_TCP && name == TCP_FASTOPEN_CONNECT && sk->type == SOCK_STREAM) {
		if (v < 0 || v > 1)
			return set_errno(EINVAL);
		if (!(s->sysctl.tcp_fastopen & TN_TFO_CLIENT_ENABLE))
			return set_errno(EOPNOTSUPP);
		if (sk->tcb)
			return set_errno(EINVAL); /* only before connect(), as Linux */
		sk->fastopen_connect = v & 1;
		return 0;
	}
	if (level == IPPROTO_TCP && name == TCP_NODELAY) {
		sk->nodelay = v != 0;
		if (sk->tcb) {
			sk->tcb->nodelay = sk->nodelay;
			tn_tcp_output(s, sk->tcb);
		}
		return 0;
	}
	if (level == SOL_SOCKET) {
		switch (name) {
		case SO_RCVBUF: { /* Linux doubles the value for bookkeeping overhead */
			uint32_t max = (uint32_t)s->sysctl.core_rmem_max;
			uint32_t want = v < 0 ? 0 : (uint32_t)v;
			want = want > max ? max : want;
			sk->rcvbuf = want * 2 < SOCK_MIN_RCVBUF ? SOCK_MIN_RCVBUF : want * 2;
			sk->rcvbuf_locked = true; /* no auto-tuning, as in Linux */
			if (sk->tcb) {
				sk->tcb->rcvbuf_max = sk->rcvbuf;
				sk->tcb->rcvbuf_locked = true;
			}
			return 0;
		}
		case SO_SNDBUF: {
			uint32_t max = (uint32_t)s->sysctl.core_wmem_max;
			uint32_t want = v < 0 ? 0 : (uint32_t)v;
			want = want > max ? max : want;
			sk->sndbuf = want * 2 < SOCK_MIN_SNDBUF ? SOCK_MIN_SNDBUF : want * 2;
			sk->sndbuf_locked = true;
			if (sk->tcb) {
				sk->tcb->sndbuf_max = sk->sndbuf;
				sk->tcb->sndbuf_locked = true;
			}
			return 0;
		}
		case SO_BROADCAST: sk->broadcast = v != 0; return 0;
		case SO_REUSEADDR: sk->reuseaddr = v != 0; return 0;
		case SO_REUSEPORT: sk->reuseport = v != 0; return 0;
		case SO_RXQ_OVFL: sk->rxq_ovfl = v != 0; return 0;
		default: return set_errno(ENOPROTOOPT);
		}
	}
	if (level == IPPROTO_IP) {
		switch (name) {
		case IP_TTL:
			if (v < -1 || v == 0 || v > 255)
				return set_errno(EINVAL);
			sk->ttl = v;
			return 0;
		case IP_TOS: sk->tos = v & 0xff; return 0;
		case IP_RECVTTL: sk->recvttl = v != 0; return 0;
		default: return set_errno(ENOPROTOOPT);
		}
	}
	return set_errno(ENOPROTOOPT);
}

int tern_getsockopt(struct tn_stack *s, int fd, int level, int name, void *val, socklen_t *len)
{
	struct tn_sock *sk = sock_or_ebadf(s, fd);
	if (!sk)
		return -1;
	if (level == IPPROTO_TCP && name == TCP_CONGESTION && sk->type == SOCK_STREAM) {
		const struct tn_tcp_cc_ops *ops = sk->tcb && sk->tcb->cc ? sk->tcb->cc : sk->cc ? sk->cc : tn_tcp_cc_default(s);
		if (!val || !len)
			return set_errno(EINVAL);
		char cc_name[16] = {0};
		snprintf(cc_name, sizeof(cc_name), "%s", ops->name);
		socklen_t n = *len < (socklen_t)sizeof(cc_name) ? *len : (socklen_t)sizeof(cc_name);
		memcpy(val, cc_name, (size_t)n);
		*len = n;
		return 0;
	}
	if (level == IPPROTO_TCP && name == TCP_INFO && sk->type == SOCK_STREAM) {
		struct tern_tcp_info ti;
		tn_tcp_info(s, sk->tcb, &ti);
		socklen_t n = *len < (socklen_t)sizeof(ti) ? *len : (socklen_t)sizeof(ti);
		if (val)
			memcpy(val, &ti, (size_t)n);
		*len = n;
		return 0;
	}
	if (!val || !len || *len < (socklen_t)sizeof(int))
		return set_errno(EINVAL);
	int v;
	if (level == SOL_SOCKET && name == SO_RCVBUF)
		v = (int)(sk->tcb && sk->tcb->state != TN_TCP_CLOSED ? sk->tcb->rcvbuf_max : sk->rcvbuf);
	else if (level == SOL_SOCKET && name == SO_SNDBUF)
		v = (int)(sk->tcb && sk->tcb->state != TN_TCP_CLOSED ? sk->tcb->sndbuf_max : sk->sndbuf);
	else if (level == SOL_SOCKET && name == SO_RCVLOWAT)
		v = sk->rcvlowat > 1 ? sk->rcvlowat : 1;
	else if (level == SOL_SOCKET && name == SO_REUSEPORT)
		v = sk->reuseport;
	else if (level == IPPROTO_TCP && name == TCP_FASTOPEN)
		v = sk->fastopen_qlen;
	else if (level == IPPROTO_TCP && name == TCP_FASTOPEN_CONNECT)
		v = sk->fastopen_connect;
	else if (level == IPPROTO_TCP && name == TCP_CORK)
		v = sk->cork;
	else if (level == IPPROTO_TCP && name == TCP_QUICKACK)
		v = sk->tcb ? sk->tcb->quick_acks > 0 : 1;
	else if (level == IPPROTO_TCP && name == TCP_MAXSEG)
		v = sk->tcb && sk->tcb->state >= TN_TCP_ESTABLISHED ? sk->tcb->mss : 536;
	else if (level == SOL_SOCKET && name == SO_ERROR) {
		v = sk->so_error;
		sk->so_error = 0;
		if (sk->tcb && sk->tcb->error) {
			v = sk->tcb->error;
			sk->tcb->error = 0;
		}
	} else if (level == IPPROTO_TCP && name == TCP_NODELAY) {
		v = sk->nodelay;
	} else if (level == SOL_SOCKET && name == SO_KEEPALIVE) {
		v = sk->keepalive;
	} else if (level == IPPROTO_TCP && name == TCP_KEEPIDLE) {
		v = sk->ka_idle ? (int)sk->ka_idle : s->sysctl.tcp_keepalive_time;
	} else if (level == IPPROTO_TCP && name == TCP_KEEPINTVL) {
		v = sk->ka_intvl ? (int)sk->ka_intvl : s->sysctl.tcp_keepalive_intvl;
	} else if (level == IPPROTO_TCP && name == TCP_KEEPCNT) {
		v = sk->ka_cnt ? (int)sk->ka_cnt : s->sysctl.tcp_keepalive_probes;
	} else if (level == SOL_SOCKET && name == SO_TYPE)
		v = sk->type;
	else if (level == SOL_SOCKET && name == SO_BROADCAST)
		v = sk->broadcast;
	else if (level == SOL_SOCKET && name == SO_REUSEADDR)
		v = sk->reuseaddr;
	else if (level == SOL_SOCKET && name == SO_RXQ_OVFL)
		v = sk->rxq_ovfl;
	else if (level == IPPROTO_IP && name == IP_TTL)
		v = sk->ttl < 0 ? s->sysctl.ip_default_ttl : sk->ttl;
	else if (level == IPPROTO_IP && name == IP_TOS)
		v = sk->tos;
	else
		return set_errno(ENOPROTOOPT);
	memcpy(val, &v, sizeof(v));
	*len = sizeof(v);
	return 0;
}

int tern_sock_events(struct tn_stack *s, int fd)
{
	struct tn_sock *sk = tn_sock_get(s, fd);
	if (!sk)
		return POLLNVAL;
	if (sk->type == SOCK_STREAM)
		return tn_stream_events(s, sk);
	int ev = POLLOUT;
	if (sk->rxq.count)
		ev |= POLLIN;
	if (sk->so_error)
		ev |= POLLERR;
	return ev;
}

int tern_sock_icmp_error(struct tn_stack *s, int fd, uint32_t *from, uint8_t *type, uint8_t *code,
			 uint16_t *seq)
{
	struct tn_sock *sk = sock_or_ebadf(s, fd);
	if (!sk)
		return -1;
	if (!sk->last_err.valid)
		return set_errno(ENOMSG);
	*from = sk->last_err.from;
	*type = sk->last_err.type;
	*code = sk->last_err.code;
	*seq = sk->last_err.seq;
	sk->last_err.valid = false;
	return 0;
}

int tern_listen(struct tn_stack *s, int fd, int backlog)
{
	struct tn_sock *sk = sock_or_ebadf(s, fd);
	if (!sk)
		return -1;
	if (sk->type != SOCK_STREAM)
		return set_errno(EOPNOTSUPP);
	int rc = tn_stream_listen(s, sk, backlog);
	return rc < 0 ? set_errno(-rc) : 0;
}

int tern_accept(struct tn_stack *s, int fd, struct sockaddr *addr, socklen_t *len)
{
	struct tn_sock *sk = sock_or_ebadf(s, fd);
	if (!sk)
		return -1;
	if (sk->type != SOCK_STREAM)
		return set_errno(EOPNOTSUPP);
	int rc = tn_stream_accept(s, sk, addr, len);
	return rc < 0 ? set_errno(-rc) : rc;
}

int tern_shutdown(struct tn_stack *s, int fd, int how)
{
	struct tn_sock *sk = sock_or_ebadf(s, fd);
	if (!sk)
		return -1;
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return set_errno(EINVAL);
	if (sk->type != SOCK_STREAM)
		return set_errno(ENOTCONN);
	int rc = tn_stream_shutdown(s, sk, how);
	return rc < 0 ? set_errno(-rc) : 0;
}
