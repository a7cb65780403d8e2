/* The send buffer: a ring per connection holding the bytes from SND.UNA
 * on, the stack's cache of rings not in use, and the calls that fill it
 * (tn_tcp_send copies from the caller; tn_tcp_send_file reads a file
 * straight into the ring's free space). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/stack.h"
#include "tcp/tcp_int.h"

/* ---- rings not in use ----
 *
 * A connection gives its ring back when everything is acknowledged (an
 * idle connection holds none), and a keep-alive connection serving
 * 100 KiB replies does that after every reply.  Handed to free(), a
 * 128 KiB ring at the top of the heap was trimmed (brk) and the next
 * reply's ring faulted its pages in again, zeroed: a tenth of the HTTP
 * server's CPU.  So the stack keeps a few rings, LIFO per size (the last
 * one back is still in cache), up to TN_TCP_RING_CACHE_BYTES.
 *
 * Sizes go out of use: each connection's ring doubles through 16, 32 and
 * 64 KiB while its send buffer autotunes, and those rings, given back on
 * the way, are not asked for again once every connection sends from
 * 128 KiB.  Kept until freed, 32 connections' worth held three quarters
 * of the cache and most 128 KiB rings missed it.  So a ring that does not
 * fit displaces rings of the size asked for least recently, if that was
 * before its own size was. */

static int ring_class(uint32_t cap)
{
	for (int k = 0; k < TN_TCP_RING_CLASSES; k++)
		if (cap == (uint32_t)TN_TCP_RING_MIN << k)
			return k;
	return -1;
}

static void *ring_pop(struct tn_tcp_ringcache *rc, int k)
{
	uint8_t *b = rc->free[k];
	memcpy(&rc->free[k], b, sizeof(void *)); /* the list runs through the rings */
	rc->bytes -= (uint32_t)TN_TCP_RING_MIN << k;
	return b;
}

static uint8_t *ring_get(struct tn_stack *s, uint32_t cap)
{
	struct tn_tcp_ringcache *rc = &s->tcp.rings;
	int k = ring_class(cap);
	if (k < 0)
		return malloc(cap);
	rc->asked[k] = ++rc->requests;
	return rc->free[k] ? ring_pop(rc, k) : malloc(cap);
}

/* The cached size, other than k, asked for least recently and before k
 * was; -1 if none. */
static int ring_stalest(const struct tn_tcp_ringcache *rc, int k)
{
	int j = -1;
	for (int i = 0; i < TN_TCP_RING_CLASSES; i++)
		if (i != k && rc->free[i] && rc->asked[i] < rc->asked[k] &&
		    (j < 0 || rc->asked[i] < rc->asked[j]))
			j = i;
	return j;
}

static void ring_put(struct tn_stack *s, uint8_t *b, uint32_t cap)
{
	struct tn_tcp_ringcache *rc = &s->tcp.rings;
	int k = ring_class(cap);
	while (k >= 0 && cap > TN_TCP_RING_CACHE_BYTES - rc->bytes) {
		int stale = ring_stalest(rc, k);
		if (stale < 0)
			break;
		free(ring_pop(rc, stale));
	}
	if (k < 0 || cap > TN_TCP_RING_CACHE_BYTES - rc->bytes) {
		free(b);
		return;
	}
	memcpy(b, &rc->free[k], sizeof(void *));
	rc->free[k] = b;
	rc->bytes += cap;
}

void tn_tcp_ring_cache_free(struct tn_stack *s)
{
	struct tn_tcp_ringcache *rc = &s->tcp.rings;
	for (int k = 0; k < TN_TCP_RING_CLASSES; k++) {
		while (rc->free[k])
			free(ring_pop(rc, k));
	}
	rc->bytes = 0;
}

void tn_tcp_sndbuf_release(struct tn_stack *s, struct tn_tcb *t)
{
	if (t->snd.buf)
		ring_put(s, t->snd.buf, t->snd.cap);
	t->snd.buf = NULL;
	t->snd.start = 0; /* snd.cap stays: the next ring's size */
}

/* ---- the ring ---- */

void tn_tcp_sndbuf_copy(const struct tn_tcb *t, uint32_t off, uint8_t *dst, uint32_t len)
{
	uint32_t i = (t->snd.start + off) % t->snd.cap;
	uint32_t first = t->snd.cap - i < len ? t->snd.cap - i : len;
	memcpy(dst, t->snd.buf + i, first);
	memcpy(dst + first, t->snd.buf, len - first);
}

void tn_tcp_sndbuf_ack(struct tn_stack *s, struct tn_tcb *t, uint32_t bytes)
{
	if (bytes > t->snd.len)
		bytes = t->snd.len;
	t->snd.start = t->snd.cap ? (t->snd.start + bytes) % t->snd.cap : 0;
	t->snd.len -= bytes;
	if (t->snd.len == 0) /* idle connections hold no buffer */
		tn_tcp_sndbuf_release(s, t);
}

/* Room for `need` bytes of unacknowledged data.  The ring starts at 4 KiB
 * and doubles up to sndbuf_max, so a connection that sends a short reply
 * never holds a 16 KiB (or, autotuned, megabytes of) buffer.  Freed when
 * all is acknowledged, it comes back at the size it had: a keep-alive
 * connection serving 100 KiB replies regrew 4 -> 128 KiB for every reply,
 * copying what it held at each step (more bytes than the reply). */
static int ensure_sndbuf(struct tn_stack *s, struct tn_tcb *t, uint32_t need)
{
	if (t->snd.buf && t->snd.cap >= need)
		return 0;
	/* Doubling, not the exact send-buffer size: that grows a little on
	 * every ACK, and sizing to it reallocated (and copied) the ring each
	 * time.  At most twice what is held. */
	uint32_t cap = t->snd.cap ? t->snd.cap : TN_TCP_RING_MIN;
	while (cap < need)
		cap *= 2;
	uint8_t *b = ring_get(s, cap);
	if (!b)
		return -ENOMEM;
	if (t->snd.buf) { /* grow: linearise what is held */
		tn_tcp_sndbuf_copy(t, 0, b, t->snd.len);
		ring_put(s, t->snd.buf, t->snd.cap);
	}
	t->snd.buf = b;
	t->snd.cap = cap;
	t->snd.start = 0;
	return 0;
}

/* The free space after the held bytes, up to n, as one or two pieces
 * (the ring wraps); the ring must have room for n. */
static int sndbuf_tail(const struct tn_tcb *t, uint32_t n, struct iovec iov[2])
{
	uint32_t tail = (t->snd.start + t->snd.len) % t->snd.cap;
	uint32_t first = t->snd.cap - tail < n ? t->snd.cap - tail : n;
	iov[0] = (struct iovec){.iov_base = t->snd.buf + tail, .iov_len = first};
	iov[1] = (struct iovec){.iov_base = t->snd.buf, .iov_len = n - first};
	return n > first ? 2 : 1;
}

int tn_tcp_sndbuf_append(struct tn_stack *s, struct tn_tcb *t, const void *buf, uint32_t n)
{
	if (ensure_sndbuf(s, t, t->snd.len + n) < 0)
		return -ENOMEM;
	struct iovec iov[2];
	sndbuf_tail(t, n, iov);
	memcpy(iov[0].iov_base, buf, iov[0].iov_len);
	memcpy(iov[1].iov_base, (const uint8_t *)buf + iov[0].iov_len, iov[1].iov_len);
	t->snd.len += n;
	return 0;
}

/* ---- sending ---- */

/* How much new data t takes now: >0, or -errno (-EAGAIN when full).
 * Not for a TCP_FASTOPEN_CONNECT socket before its first write. */
static long send_room(const struct tn_tcb *t)
{
	if (t->error)
		return -t->error;
	bool fo_child = tn_tcp_fastopen_child(t); /* may send before the final ACK */
	if ((t->state == TN_TCP_SYN_SENT || t->state == TN_TCP_SYN_RECEIVED) && !fo_child)
		return -EAGAIN;
	if (t->state != TN_TCP_ESTABLISHED && t->state != TN_TCP_CLOSE_WAIT && !fo_child)
		return t->state == TN_TCP_CLOSED ? -ENOTCONN : -EPIPE;
	if (t->fin_queued)
		return -EPIPE;
	uint32_t space = tn_tcp_snd_space(t);
	return space ? (long)space : -EAGAIN;
}

long tn_tcp_send(struct tn_stack *s, struct tn_tcb *t, const void *buf, size_t len)
{
	if (!t->error && (t->tfo & TN_TFO_DEFER)) /* TCP_FASTOPEN_CONNECT: this write goes in the SYN */
		return tn_tcp_fastopen_defer_send(s, t, buf, len);
	long room = send_room(t);
	if (room < 0)
		return room;
	uint32_t n = len < (size_t)room ? (uint32_t)len : (uint32_t)room;
	if (tn_tcp_sndbuf_append(s, t, buf, n) < 0)
		return -ENOMEM;
	tn_tcp_output(s, t);
	return n;
}

/* The first write of a TCP_FASTOPEN_CONNECT socket goes in the SYN, which
 * takes at most a segment: read that much through a buffer. */
static long send_file_syn(struct tn_stack *s, struct tn_tcb *t, int fd, int64_t off, size_t len)
{
	size_t n = len < 65536 ? len : 65536;
	uint8_t *b = malloc(n);
	if (!b)
		return -ENOMEM;
	ssize_t k = pread(fd, b, n, (off_t)off);
	long rc = k < 0 ? -errno : k == 0 ? 0 : tn_tcp_send(s, t, b, (size_t)k);
	free(b);
	return rc;
}

long tn_tcp_send_file(struct tn_stack *s, struct tn_tcb *t, int fd, int64_t off, size_t len)
{
	if (off < 0)
		return -EINVAL;
	if (len == 0)
		return 0;
	if (!t->error && (t->tfo & TN_TFO_DEFER))
		return send_file_syn(s, t, fd, off, len);
	long room = send_room(t);
	if (room < 0)
		return room;
	uint32_t n = len < (size_t)room ? (uint32_t)len : (uint32_t)room;
	if (ensure_sndbuf(s, t, t->snd.len + n) < 0)
		return -ENOMEM;
	struct iovec iov[2];
	int cnt = sndbuf_tail(t, n, iov);
	ssize_t k = preadv(fd, iov, cnt, (off_t)off);
	int err = errno;
	if (k <= 0) { /* nothing to send: an idle connection keeps no ring */
		if (t->snd.len == 0)
			tn_tcp_sndbuf_release(s, t);
		return k < 0 ? -err : 0;
	}
	t->snd.len += (uint32_t)k;
	tn_tcp_output(s, t);
	return k;
}
