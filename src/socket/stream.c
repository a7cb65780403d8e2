/* Stream sockets over tern's TCP. */
#include "socket/stream.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "net/ipv4.h"
#include "socket/sock.h"
#include "tcp/tcp.h"
#include "tcp/tcp_fastopen.h"

static int pick_port(struct tn_stack *s, uint32_t laddr, uint16_t *port)
{
	int lo = s->sysctl.ip_local_port_range[0], hi = s->sysctl.ip_local_port_range[1];
	uint32_t range = (uint32_t)(hi - lo + 1), start = tn_rand_below(&s->rng, range);
	for (uint32_t i = 0; i < range; i++) {
		uint16_t p = (uint16_t)(lo + (int)((start + i) % range));
		if (!tn_tcp_port_in_use(s, laddr, p)) {
			*port = p;
			return 0;
		}
	}
	return -EADDRINUSE;
}

/* The socket's options, onto its connection or listener. */
static void copy_opts_to_tcb(const struct tn_sock *sk, struct tn_tcb *t)
{
	t->rcvbuf_max = sk->rcvbuf;
	t->sndbuf_max = sk->sndbuf;
	t->rcvbuf_locked = sk->rcvbuf_locked;
	t->sndbuf_locked = sk->sndbuf_locked;
	t->nodelay = sk->nodelay;
	t->cork = sk->cork;
	t->reuseport = sk->reuseport;
	t->keepalive = sk->keepalive;
	t->ka_idle = sk->ka_idle, t->ka_intvl = sk->ka_intvl, t->ka_cnt = sk->ka_cnt;
	t->cc = sk->cc;
	t->max_pacing_rate = sk->max_pacing_rate ? sk->max_pacing_rate : UINT64_MAX;
}

int tn_stream_bind(struct tn_stack *s, struct tn_sock *sk, uint32_t addr, uint16_t port)
{
	if (port == 0) {
		int rc = pick_port(s, addr, &port);
		if (rc < 0)
			return rc;
	} else if (!sk->reuseaddr && !sk->reuseport && tn_tcp_port_in_use(s, addr, port)) {
		/* (options first: the check walks connections when the port has any) */
		return -EADDRINUSE;
	}
	sk->laddr = addr;
	sk->lport = port;
	sk->bound = true;
	return 0;
}

int tn_stream_listen(struct tn_stack *s, struct tn_sock *sk, int backlog)
{
	if (sk->tcb && sk->tcb->state != TN_TCP_LISTEN)
		return -EINVAL;
	if (sk->tcb) { /* listen again: only the backlog changes */
		sk->tcb->backlog = backlog < 0 ? 0 : (uint32_t)backlog;
		return 0;
	}
	if (!sk->bound) {
		int rc = tn_stream_bind(s, sk, 0, 0);
		if (rc < 0)
			return rc;
	}
	/* Another listener on the same address and port: only if both asked
	 * for SO_REUSEPORT (then SYNs are spread across the group). */
	const struct tn_tcb *other = tn_tcp_lookup_listener(s, sk->laddr, sk->lport);
	if (other && other->laddr == sk->laddr && !(other->reuseport && sk->reuseport))
		return -EADDRINUSE;
	struct tn_tcb *t;
	int rc = tn_tcp_listen(s, &t, sk->laddr, sk->lport, backlog < 0 ? 0 : (uint32_t)backlog);
	if (rc < 0)
		return rc;
	t->sk = sk;
	copy_opts_to_tcb(sk, t);
	tn_tcp_fastopen_listen(s, t, sk->fastopen_qlen);
	sk->tcb = t;
	return 0;
}

int tn_stream_accept(struct tn_stack *s, struct tn_sock *sk, struct sockaddr *addr, socklen_t *len)
{
	if (!sk->tcb || sk->tcb->state != TN_TCP_LISTEN)
		return -EINVAL;
	struct tn_tcb *c = tn_tcp_accept(s, sk->tcb);
	if (!c)
		return -EAGAIN;
	int fd = tern_socket(s, AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		tn_tcp_close(s, c, true);
		return -errno;
	}
	struct tn_sock *n = tn_sock_get(s, fd);
	n->tcb = c;
	c->sk = n;
	n->laddr = c->laddr;
	n->lport = c->lport;
	n->bound = n->connected = true;
	n->nodelay = sk->nodelay;
	n->cork = sk->cork;
	n->cc = sk->cc;
	n->max_pacing_rate = sk->max_pacing_rate;
	n->rcvlowat = sk->rcvlowat;
	n->rcvbuf_locked = c->rcvbuf_locked;
	n->sndbuf_locked = c->sndbuf_locked;
	n->rcvbuf = c->rcvbuf_max;
	n->sndbuf = c->sndbuf_max;
	n->keepalive = c->keepalive;
	n->ka_idle = c->ka_idle, n->ka_intvl = c->ka_intvl, n->ka_cnt = c->ka_cnt;
	if (addr && len) {
		struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(c->rport)};
		sin.sin_addr.s_addr = htonl(c->raddr);
		socklen_t n2 = *len < (socklen_t)sizeof(sin) ? *len : (socklen_t)sizeof(sin);
		memcpy(addr, &sin, (size_t)n2);
		*len = sizeof(sin);
	}
	return fd;
}

static long stream_open(struct tn_stack *s, struct tn_sock *sk, uint32_t addr, uint16_t port, const void *data,
			size_t len, bool fastopen, bool defer);

int tn_stream_connect(struct tn_stack *s, struct tn_sock *sk, uint32_t addr, uint16_t port)
{
	struct tn_tcb *t = sk->tcb;
	if (t) {
		if (t->error) {
			int err = t->error;
			t->error = 0;
			return -err;
		}
		if (t->state == TN_TCP_LISTEN)
			return -EINVAL;
		return t->state == TN_TCP_SYN_SENT ? -EALREADY : -EISCONN;
	}
	return (int)stream_open(s, sk, addr, port, NULL, 0, sk->fastopen_connect, true);
}

/* connect(), or sendto(MSG_FASTOPEN) with data for the SYN; fastopen:
 * the Fast Open way.  Returns the bytes the SYN took, 0 for a deferred
 * connect (TCP_FASTOPEN_CONNECT), -EINPROGRESS, or another -errno. */
static long stream_open(struct tn_stack *s, struct tn_sock *sk, uint32_t addr, uint16_t port, const void *data,
			size_t len, bool fastopen, bool defer)
{
	struct tn_tcb *t;
	if (port == 0)
		return -ECONNREFUSED;
	uint32_t src = sk->laddr ? sk->laddr : (tn_addr_is_local(s, addr) ? addr : tn_ip_select_src(s, addr, 0));
	if (!src)
		return -ENETUNREACH;
	/* Unbound: the port is chosen for this 4-tuple (it may serve other
	 * destinations too), not reserved as bind() would. */
	bool deferred = false;
	long rc = fastopen && (s->sysctl.tcp_fastopen & TN_TFO_CLIENT_ENABLE)
			  ? tn_tcp_fastopen_connect(s, &t, src, sk->bound ? sk->lport : 0, addr, port, data, len,
						    defer, &deferred)
			  : tn_tcp_connect(s, &t, src, sk->bound ? sk->lport : 0, addr, port);
	if (rc < 0)
		return rc;
	sk->laddr = src;
	sk->lport = t->lport;
	sk->bound = true;
	t->sk = sk;
	copy_opts_to_tcb(sk, t);
	sk->tcb = t;
	sk->connected = true;
	return rc > 0 || deferred ? rc : -EINPROGRESS;
}

ssize_t tn_stream_sendto_fastopen(struct tn_stack *s, struct tn_sock *sk, const void *buf, size_t len,
				  uint32_t addr, uint16_t port)
{
	if (!(s->sysctl.tcp_fastopen & TN_TFO_CLIENT_ENABLE))
		return -EOPNOTSUPP;
	if (sk->tcb) {
		if (sk->tcb->tfo & TN_TFO_DEFER)
			return tn_stream_send(s, sk, buf, len);
		return sk->tcb->state == TN_TCP_LISTEN ? -EINVAL : -EISCONN;
	}
	return stream_open(s, sk, addr, port, buf, len, true, false);
}

ssize_t tn_stream_send(struct tn_stack *s, struct tn_sock *sk, const void *buf, size_t len)
{
	if (!sk->tcb)
		return -ENOTCONN;
	if (sk->tcb->state == TN_TCP_LISTEN)
		return -ENOTCONN;
	return tn_tcp_send(s, sk->tcb, buf, len);
}

ssize_t tn_stream_sendfile(struct tn_stack *s, struct tn_sock *sk, int fd, off_t off, size_t len)
{
	if (!sk->tcb || sk->tcb->state == TN_TCP_LISTEN)
		return -ENOTCONN;
	return tn_tcp_send_file(s, sk->tcb, fd, (int64_t)off, len);
}

ssize_t tn_stream_send_lent(struct tn_stack *s, struct tn_sock *sk, const void *buf, size_t len, struct tern_lent *l)
{
	if (!sk->tcb || sk->tcb->state == TN_TCP_LISTEN)
		return -ENOTCONN;
	return tn_tcp_send_lent(s, sk->tcb, buf, len, l);
}

ssize_t tn_stream_recv(struct tn_stack *s, struct tn_sock *sk, void *buf, size_t len, int flags)
{
	if (!sk->tcb || sk->tcb->state == TN_TCP_LISTEN)
		return -ENOTCONN;
	if (sk->rd_shut && !sk->tcb->rcvq.bytes)
		return 0;
	if (len == 0)
		return 0;
	long n = tn_tcp_recv(s, sk->tcb, buf, len, flags & MSG_PEEK);
	if (n == -EAGAIN && sk->tcb->state == TN_TCP_SYN_SENT)
		return -EAGAIN;
	return n;
}

int tn_stream_shutdown(struct tn_stack *s, struct tn_sock *sk, int how)
{
	if (!sk->tcb || sk->tcb->state == TN_TCP_LISTEN || sk->tcb->state == TN_TCP_SYN_SENT)
		return -ENOTCONN;
	if (how == SHUT_RD || how == SHUT_RDWR)
		sk->rd_shut = true;
	if (how == SHUT_WR || how == SHUT_RDWR)
		tn_tcp_shutdown_wr(s, sk->tcb);
	return 0;
}

void tn_stream_close(struct tn_stack *s, struct tn_sock *sk)
{
	if (!sk->tcb)
		return;
	struct tn_tcb *t = sk->tcb;
	sk->tcb = NULL;
	tn_tcp_close(s, t, sk->linger_zero);
}

int tn_stream_events(struct tn_stack *s, struct tn_sock *sk)
{
	(void)s;
	struct tn_tcb *t = sk->tcb;
	if (!t)
		return POLLOUT | POLLHUP;
	if (t->state == TN_TCP_LISTEN)
		return t->accept_head ? POLLIN : 0;
	int ev = 0;
	uint32_t lowat = sk->rcvlowat > 1 ? (uint32_t)sk->rcvlowat : 1;
	if (t->rcvq.bytes >= lowat || t->fin_rcvd || sk->rd_shut)
		ev |= POLLIN;
	if (t->fin_rcvd)
		ev |= POLLRDHUP;
	/* a TFO child may answer before the final ACK; a deferred Fast Open
	 * connect is writable, its first write making the SYN (as Linux) */
	bool can_send = t->state == TN_TCP_ESTABLISHED || t->state == TN_TCP_CLOSE_WAIT ||
			(t->tfo & (TN_TFO_CHILD | TN_TFO_DEFER));
	if (can_send && !t->fin_queued && tn_tcp_snd_space(t) > 0)
		ev |= POLLOUT;
	if (t->error)
		ev |= POLLERR | POLLIN;
	if (t->state == TN_TCP_CLOSED || (t->fin_rcvd && t->fin_queued))
		ev |= POLLHUP;
	return ev;
}

int tn_stream_peer(struct tn_sock *sk, uint32_t *addr, uint16_t *port)
{
	if (!sk->tcb || sk->tcb->state == TN_TCP_LISTEN || sk->tcb->state == TN_TCP_CLOSED)
		return -ENOTCONN;
	*addr = sk->tcb->raddr;
	*port = sk->tcb->rport;
	return 0;
}

int tn_stream_local(struct tn_sock *sk, uint32_t *addr, uint16_t *port)
{
	*addr = sk->tcb ? sk->tcb->laddr : sk->laddr;
	*port = sk->tcb ? sk->tcb->lport : sk->lport;
	return 0;
}
