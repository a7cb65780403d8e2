/* The send buffer: a list of chunks per connection holding the bytes from
 * SND.UNA on, the stack's cache of chunks not in use, the calls that fill
 * it (tn_tcp_send copies from the caller; tn_tcp_send_file reads a file
 * straight into its free space; tn_tcp_send_lent points at the caller's
 * bytes) and the one that lends its bytes to outgoing packets
 * (tn_tcp_sndbuf_chain).
 *
 * Why chunks and not a byte ring: segments point into the send buffer
 * (the kernel's copy in sendmmsg/writev is then the only one), and a
 * ring's bytes are overwritten by new data as soon as they are
 * acknowledged, while a packet pointing at them may still be queued: in a
 * qdisc (tbf, netem), as a retransmitted copy whose original was just
 * acknowledged, or in a loopback peer's receive queue.  A chunk is written
 * once, in order, and is reused only when nothing points into it: the
 * connection's reference goes when its last byte is acknowledged, each
 * segment's when the segment is freed (Linux's skb page frags). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/stack.h"
#include "tern/tern.h"
#include "tcp/tcp_int.h"

/* ---- chunks not in use ----
 *
 * A connection lets go of its chunks when everything is acknowledged (an
 * idle connection holds none), and a keep-alive connection serving
 * 100 KiB replies does that after every reply.  Handed to free(), the
 * memory was trimmed (brk) and the next reply's buffer faulted its pages
 * in again, zeroed: a tenth of the HTTP server's CPU when this was a ring.
 * So the stack keeps a few chunks, LIFO per size (the last one back is
 * still in cache), up to TN_TCP_CHUNK_CACHE_BYTES.
 *
 * Sizes go out of use: a connection's chunks double from 4 to 64 KiB, and
 * the small ones, given back, are not asked for again once every
 * connection sends from 64 KiB chunks.  Kept until freed, they would hold
 * the cache and make the large ones miss it.  So a chunk that does not
 * fit displaces chunks of the size asked for least recently, if that was
 * before its own size was. */

static int chunk_class(uint32_t size)
{
	for (int k = 0; k < TN_TCP_CHUNK_CLASSES; k++)
		if (size == TN_TCP_CHUNK_MIN << k)
			return k;
	return -1;
}

static struct tn_tcp_chunk *cache_pop(struct tn_tcp_chunkcache *rc, int k)
{
	struct tn_tcp_chunk *c = rc->free[k];
	rc->free[k] = c->next;
	rc->bytes -= c->size;
	return c;
}

/* The cached size, other than k, asked for least recently and before k
 * was; -1 if none. */
static int cache_stalest(const struct tn_tcp_chunkcache *rc, int k)
{
	int j = -1;
	for (int i = 0; i < TN_TCP_CHUNK_CLASSES; i++)
		if (i != k && rc->free[i] && rc->asked[i] < rc->asked[k] &&
		    (j < 0 || rc->asked[i] < rc->asked[j]))
			j = i;
	return j;
}

static void cache_put(struct tn_tcp_chunkcache *rc, struct tn_tcp_chunk *c)
{
	int k = chunk_class(c->size);
	while (k >= 0 && !rc->closed && c->size > TN_TCP_CHUNK_CACHE_BYTES - rc->bytes) {
		int stale = cache_stalest(rc, k);
		if (stale < 0)
			break;
		free(cache_pop(rc, stale));
	}
	if (k < 0 || rc->closed || c->size > TN_TCP_CHUNK_CACHE_BYTES - rc->bytes) {
		free(c);
		return;
	}
	c->next = rc->free[k];
	rc->free[k] = c;
	rc->bytes += c->size;
}

/* The last reference went (the connection's or a packet's). */
static void chunk_release(struct tn_pkt_ext *e)
{
	struct tn_tcp_chunk *c = (struct tn_tcp_chunk *)((uint8_t *)e - offsetof(struct tn_tcp_chunk, ext));
	if (c->lent) {
		tern_lent_put(c->lent);
		free(c);
		return;
	}
	cache_put(c->cache, c);
}

static struct tn_tcp_chunk *chunk_get(struct tn_stack *s, uint32_t size)
{
	struct tn_tcp_chunkcache *rc = &s->tcp.chunks;
	int k = chunk_class(size);
	struct tn_tcp_chunk *c = NULL;
	if (k >= 0) {
		rc->asked[k] = ++rc->requests;
		if (rc->free[k])
			c = cache_pop(rc, k);
	}
	if (!c && !(c = malloc(sizeof(*c) + size)))
		return NULL;
	*c = (struct tn_tcp_chunk){.ext = {.refcnt = 1, .release = chunk_release}, .cache = rc, .size = size};
	c->base = c->data;
	return c;
}

void tn_tcp_chunk_cache_free(struct tn_stack *s)
{
	struct tn_tcp_chunkcache *rc = &s->tcp.chunks;
	for (int k = 0; k < TN_TCP_CHUNK_CLASSES; k++) {
		while (rc->free[k])
			free(cache_pop(rc, k));
	}
	rc->closed = true;
}

/* ---- the connection's list ---- */

void tn_tcp_sndbuf_release(struct tn_stack *s, struct tn_tcb *t)
{
	struct tn_tcp_chunk *c = t->snd.buf;
	if (c) /* the next first chunk is as large as the last one was */
		t->snd.cap = c->tail->lent ? TN_TCP_CHUNK_MIN : c->tail->size;
	while (c) {
		struct tn_tcp_chunk *next = c->next;
		tn_pkt_ext_put(&c->ext);
		c = next;
	}
	t->snd.buf = NULL;
	t->snd.start = 0;
}

/* The chunk holding stream position pos (which must be held): the last
 * chunk (new data), or walking from the cursor when it is not past pos,
 * else from the first chunk (a retransmission, near SND.UNA).  So loss
 * recovery, going back and forth between the two, walks only what lies
 * between the first chunk and the holes it fills. */
static struct tn_tcp_chunk *chunk_at(const struct tn_tcb *t, uint32_t pos)
{
	struct tn_tcp_chunk *first = t->snd.buf, *c = first->cur;
	if (pos - first->tail->pos < first->tail->used)
		c = first->tail;
	else if ((int32_t)(pos - c->pos) < 0)
		c = first;
	while (pos - c->pos >= c->used)
		c = c->next;
	first->cur = c;
	return c;
}

static uint32_t una_pos(const struct tn_tcb *t) { return t->snd.buf->pos + t->snd.start; }

void tn_tcp_sndbuf_copy(const struct tn_tcb *t, uint32_t off, uint8_t *dst, uint32_t len)
{
	if (!len)
		return;
	uint32_t pos = una_pos(t) + off;
	for (struct tn_tcp_chunk *c = chunk_at(t, pos); len; c = c->next) {
		uint32_t i = pos - c->pos, n = c->used - i < len ? c->used - i : len;
		memcpy(dst, c->base + i, n);
		dst += n;
		pos += n;
		len -= n;
	}
}

int tn_tcp_sndbuf_chain(struct tn_stack *s, const struct tn_tcb *t, struct tn_pkt *head, uint32_t off,
			uint32_t len, uint32_t mss)
{
	struct tn_pkt *last = head;
	while (last->next)
		last = last->next;
	uint32_t pos = una_pos(t) + off, in_mss = 0;
	struct tn_tcp_chunk *c = chunk_at(t, pos);
	while (len) {
		if (pos - c->pos == c->used)
			c = c->next;
		uint32_t i = pos - c->pos, n = c->used - i;
		n = n < len ? n : len;
		n = n < mss - in_mss ? n : mss - in_mss;
		struct tn_pkt *e = tn_pkt_alloc_ext(s->pool, &c->ext, c->base + i, n);
		if (!e)
			return -1;
		last->next = e;
		last = e;
		head->pkt_len += n;
		in_mss = (in_mss + n) % mss;
		pos += n;
		len -= n;
	}
	t->snd.buf->cur = c;
	return 0;
}

/* The first chunk leaves: its bytes are all acknowledged. */
static void drop_first(struct tn_tcb *t)
{
	struct tn_tcp_chunk *c = t->snd.buf, *next = c->next;
	next->tail = c->tail;
	next->cur = c->cur == c ? next : c->cur;
	t->snd.buf = next;
	t->snd.start -= c->used;
	t->snd.cap -= c->size;
	tn_pkt_ext_put(&c->ext);
}

void tn_tcp_sndbuf_ack(struct tn_stack *s, struct tn_tcb *t, uint32_t bytes)
{
	if (bytes > t->snd.len)
		bytes = t->snd.len;
	t->snd.len -= bytes;
	if (t->snd.len == 0) { /* idle connections hold no buffer */
		tn_tcp_sndbuf_release(s, t);
		return;
	}
	t->snd.start += bytes;
	while (t->snd.start >= t->snd.buf->used)
		drop_first(t);
}

/* c goes on the end of t's list.  Its first byte follows all of the last
 * chunk's room (after_room: make_room hands out the rest of that room and
 * the new chunk at once, so the last chunk is full before c holds a byte),
 * or only what the last chunk holds (lent bytes: its free room is never
 * written after that, as only the last chunk is). */
static void link_chunk(struct tn_tcb *t, struct tn_tcp_chunk *c, bool after_room)
{
	struct tn_tcp_chunk *first = t->snd.buf;
	if (!first) {
		t->snd.cap = c->size; /* it was the size to start at */
		t->snd.buf = c;
		c->pos = t->snd_una; /* any start will do: positions only differ */
		c->cur = c;
		t->snd.start = 0;
	} else {
		t->snd.cap += c->size;
		c->pos = first->tail->pos + (after_room ? first->tail->size : first->tail->used);
		first->tail->next = c;
	}
	t->snd.buf->tail = c;
}

/* A new chunk at the end of the list, empty: the first as large as the
 * last the connection had (a keep-alive connection's replies each start
 * where the last one left off), later ones doubling, up to 64 KiB and to
 * what the send buffer may hold.  After lent bytes the doubling starts
 * again from the smallest (what follows a lent body is a reply's head). */
static struct tn_tcp_chunk *add_chunk(struct tn_stack *s, struct tn_tcb *t)
{
	struct tn_tcp_chunk *first = t->snd.buf;
	uint32_t size = !first ? (t->snd.cap ? t->snd.cap : TN_TCP_CHUNK_MIN)
		      : first->tail->lent ? TN_TCP_CHUNK_MIN : first->tail->size * 2;
	while (size > TN_TCP_CHUNK_MIN && (size > TN_TCP_CHUNK_MAX || size / 2 >= t->sndbuf_max))
		size /= 2;
	struct tn_tcp_chunk *c = chunk_get(s, size);
	if (!c)
		return NULL;
	link_chunk(t, c, true);
	return c;
}

int tn_tcp_sndbuf_lend(struct tn_stack *s, struct tn_tcb *t, const uint8_t *buf, uint32_t n, struct tern_lent *l)
{
	if (!n)
		return 0;
	struct tn_tcp_chunk *c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	/* packets only read through base: the const goes no further */
	*c = (struct tn_tcp_chunk){.ext = {.refcnt = 1, .release = chunk_release}, .cache = &s->tcp.chunks,
				   .base = (uint8_t *)(uintptr_t)buf, .lent = l, .size = n, .used = n};
	l->refs++;
	link_chunk(t, c, false);
	t->snd.len += n;
	return 0;
}

/* Drop the empty chunks at the end of the list (a short read left them). */
static void trim_empty(struct tn_stack *s, struct tn_tcb *t)
{
	struct tn_tcp_chunk *first = t->snd.buf, *c = first, *last = NULL;
	for (; c; c = c->next)
		if (c->used)
			last = c;
	if (!last) {
		tn_tcp_sndbuf_release(s, t);
		return;
	}
	for (c = last->next; c;) {
		struct tn_tcp_chunk *next = c->next;
		t->snd.cap -= c->size;
		tn_pkt_ext_put(&c->ext);
		c = next;
	}
	last->next = NULL;
	first->tail = last;
}

/* k bytes were written into the free space make_room gave, from w on. */
static void commit(struct tn_stack *s, struct tn_tcb *t, struct tn_tcp_chunk *w, uint32_t k)
{
	t->snd.len += k;
	for (; w && k; w = w->next) {
		uint32_t n = w->size - w->used < k ? w->size - w->used : k;
		w->used += n;
		k -= n;
	}
	if (t->snd.buf)
		trim_empty(s, t);
}

/* Free space for n bytes after those held: the last chunk's, then new
 * empty chunks, at most `most` pieces (fewer bytes if that is not enough).
 * The pieces go to iov, *w is the chunk the first is in; their count, or
 * -ENOMEM (no chunk added). */
static int make_room(struct tn_stack *s, struct tn_tcb *t, uint32_t n, struct iovec *iov, int most,
		     struct tn_tcp_chunk **w)
{
	int k = 0;
	struct tn_tcp_chunk *c = t->snd.buf ? t->snd.buf->tail : NULL;
	*w = NULL;
	if (c && c->used < c->size) {
		uint32_t f = c->size - c->used < n ? c->size - c->used : n;
		iov[k++] = (struct iovec){c->base + c->used, f};
		*w = c;
		n -= f;
	}
	while (n && k < most) {
		if (!(c = add_chunk(s, t))) {
			if (t->snd.buf)
				trim_empty(s, t);
			return -ENOMEM;
		}
		uint32_t f = c->size < n ? c->size : n;
		iov[k++] = (struct iovec){c->base, f};
		*w = *w ? *w : c;
		n -= f;
	}
	return k;
}

int tn_tcp_sndbuf_append(struct tn_stack *s, struct tn_tcb *t, const void *buf, uint32_t n)
{
	const uint8_t *src = buf;
	while (n) { /* a round of 64 chunks takes 4 MiB: more is rare */
		struct iovec iov[64];
		struct tn_tcp_chunk *w;
		int k = make_room(s, t, n, iov, 64, &w);
		if (k < 0)
			return k; /* earlier rounds' bytes stay: only a huge append gets here */
		uint32_t got = 0;
		for (int i = 0; i < k; i++) {
			memcpy(iov[i].iov_base, src + got, iov[i].iov_len);
			got += (uint32_t)iov[i].iov_len;
		}
		commit(s, t, w, got);
		src += got;
		n -= got;
	}
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

/* send() of up to len bytes at buf: copied (l NULL) or lent (one of l's
 * references).  The first write of a TCP_FASTOPEN_CONNECT socket goes in
 * the SYN, a copy either way. */
static long queue_send(struct tn_stack *s, struct tn_tcb *t, const void *buf, size_t len, struct tern_lent *l)
{
	if (!t->error && (t->tfo & TN_TFO_DEFER))
		return tn_tcp_fastopen_defer_send(s, t, buf, len);
	long room = send_room(t);
	if (room < 0)
		return room;
	uint32_t n = len < (size_t)room ? (uint32_t)len : (uint32_t)room;
	if ((l ? tn_tcp_sndbuf_lend(s, t, buf, n, l) : tn_tcp_sndbuf_append(s, t, buf, n)) < 0)
		return -ENOMEM;
	tn_tcp_output(s, t);
	return n;
}

long tn_tcp_send(struct tn_stack *s, struct tn_tcb *t, const void *buf, size_t len)
{
	return queue_send(s, t, buf, len, NULL);
}

long tn_tcp_send_lent(struct tn_stack *s, struct tn_tcb *t, const void *buf, size_t len, struct tern_lent *l)
{
	return queue_send(s, t, buf, len, l);
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
	/* Into the last chunk's free space and new chunks; a short read (or
	 * none: an idle connection keeps nothing) gives the unused ones back. */
	struct iovec iov[16];
	struct tn_tcp_chunk *w;
	int cnt = make_room(s, t, n, iov, 16, &w);
	if (cnt < 0)
		return -ENOMEM;
	ssize_t k = preadv(fd, iov, cnt, (off_t)off);
	int err = errno;
	commit(s, t, w, k > 0 ? (uint32_t)k : 0);
	if (k <= 0)
		return k < 0 ? -err : 0;
	tn_tcp_output(s, t);
	return k;
}
