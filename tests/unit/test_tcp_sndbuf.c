/* The TCP send buffer (tcp_sndbuf.c): chunks coming back from the stack's
 * cache, the cache's bound and eviction, and tern_sendfile reading a file
 * straight into the buffer, with short reads, the end of the file, a full
 * buffer, a file that shrinks and a read across chunks; tern_send_lent
 * putting the caller's bytes in by reference.  The test plays
 * the peer on a raw-IP wire and checks the bytes that arrive. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/stack.h"
#include "socket/sock.h"
#include "tcp/tcp_int.h"
#include "tcp_peer.h"
#include "testutil.h"

static struct tn_tcb *tcb_of_fd(struct peer *p, int fd) { return tn_sock_get(p->s, fd)->tcb; }

static uint8_t file_byte(uint32_t i) { return (uint8_t)(i * 7 + (i >> 8) + 1); }

/* A memory file of n known bytes. */
static int make_file(uint32_t n)
{
	int f = memfd_create("sndbuf-test", 0);
	assert_true(f >= 0);
	uint8_t *b = malloc(n ? n : 1);
	assert_non_null(b);
	for (uint32_t i = 0; i < n; i++)
		b[i] = file_byte(i);
	assert_int_equal(pwrite(f, b, n, 0), (ssize_t)n);
	free(b);
	return f;
}

/* Take what tern sends, in order, acknowledging as it comes until it
 * stops; the payload is appended to got at *len. */
static void drain(struct peer *p, uint8_t *got, uint32_t cap, uint32_t *len)
{
	struct out o;
	for (;;) {
		bool any = false;
		while (take(p, &o)) {
			any = true;
			if (!o.len || o.h.seq != p->ack)
				continue;
			assert_true(*len + o.len <= cap);
			memcpy(got + *len, o.data, o.len);
			*len += o.len;
			p->ack += o.len;
		}
		if (!any)
			return;
		peer_send(p, SRV_PORT, TN_TCP_ACK, NULL, 0);
	}
}

static void assert_file_bytes(const uint8_t *got, uint32_t from, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (got[i] != file_byte(from + i))
			fail_msg("byte %u: %u, the file has %u", i, got[i], file_byte(from + i));
}

/* A connection whose send buffer is locked at 8 KiB (SO_SNDBUF 4096,
 * doubled as Linux does). */
static int small_sndbuf_conn(struct peer *p)
{
	int fd = passive_open(p, listen_on(p, SRV_PORT, 16), false);
	int v = 4096;
	assert_int_equal(tern_setsockopt(p->s, fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)), 0);
	assert_int_equal(tcb_of_fd(p, fd)->sndbuf_max, 8192);
	return fd;
}

/* ---- the chunk cache ---- */

/* A chunk given back when all is acknowledged is the next one handed out:
 * no malloc, no page faults on a keep-alive connection's next reply. */
static void test_chunk_comes_back_from_the_stack(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	struct tn_tcb *t = tcb_of_fd(&p, fd);
	struct tn_tcp_chunkcache *cc = &p.s->tcp.chunks;
	assert_int_equal(tern_send(p.s, fd, "hello", 5, 0), 5);
	struct tn_tcp_chunk *c = t->snd.buf;
	assert_non_null(c);
	assert_int_equal(c->size, 4096);
	assert_int_equal(cc->bytes, 0);
	uint8_t got[16];
	uint32_t n = 0;
	drain(&p, got, sizeof(got), &n);
	assert_int_equal(n, 5);
	assert_null(t->snd.buf); /* idle: the connection holds none */
	assert_int_equal(cc->bytes, 4096);
	assert_ptr_equal(cc->free[0], c);
	assert_int_equal(tern_send(p.s, fd, "again", 5, 0), 5);
	assert_ptr_equal(t->snd.buf, c);
	assert_int_equal(cc->bytes, 0);
	assert_null(cc->free[0]);
	peer_free(&p);
}

/* A connection that is only a send buffer, to hand chunks to the cache. */
static struct tn_tcb *bare_tcb(void)
{
	struct tn_tcb *t = calloc(1, sizeof(*t));
	assert_non_null(t);
	t->sndbuf_max = 1u << 30;
	return t;
}

/* Take a first chunk of `size` into t (appending a byte). */
static struct tn_tcp_chunk *take_chunk(struct tn_stack *s, struct tn_tcb *t, uint32_t size)
{
	t->snd.cap = size;
	assert_int_equal(tn_tcp_sndbuf_append(s, t, "x", 1), 0);
	assert_int_equal(t->snd.buf->size, size);
	return t->snd.buf;
}

/* The cache holds at most TN_TCP_CHUNK_CACHE_BYTES; chunks coming back
 * once it is full are freed (ASan's leak check runs this), and so is
 * everything once the stack is going. */
static void test_chunk_cache_is_bounded(void **state)
{
	struct peer p;
	peer_init(&p);
	struct tn_tcp_chunkcache *cc = &p.s->tcp.chunks;
	enum { N = TN_TCP_CHUNK_CACHE_BYTES / TN_TCP_CHUNK_MAX + 2 };
	struct tn_tcb *t[N];
	for (int i = 0; i < N; i++) {
		t[i] = bare_tcb();
		take_chunk(p.s, t[i], TN_TCP_CHUNK_MAX);
	}
	for (int i = 0; i < N; i++) {
		tn_tcp_sndbuf_release(p.s, t[i]);
		assert_null(t[i]->snd.buf);
		assert_int_equal(t[i]->snd.cap, TN_TCP_CHUNK_MAX); /* the next first chunk's size */
	}
	assert_int_equal(cc->bytes, TN_TCP_CHUNK_CACHE_BYTES); /* the last two were freed */
	/* sizes are powers of two from 4 to 64 KiB: a larger ask is clamped */
	struct tn_tcp_chunk *c = take_chunk(p.s, t[0], TN_TCP_CHUNK_MAX);
	tn_tcp_sndbuf_release(p.s, t[0]);
	t[0]->snd.cap = TN_TCP_CHUNK_MAX * 2;
	assert_int_equal(tn_tcp_sndbuf_append(p.s, t[0], "x", 1), 0);
	assert_ptr_equal(t[0]->snd.buf, c);
	tn_tcp_chunk_cache_free(p.s);
	assert_int_equal(cc->bytes, 0);
	tn_tcp_sndbuf_release(p.s, t[0]); /* after the cache closed: freed */
	assert_int_equal(cc->bytes, 0);
	assert_null(cc->free[TN_TCP_CHUNK_CLASSES - 1]);
	for (int i = 0; i < N; i++)
		free(t[i]);
	peer_free(&p);
}

/* A full cache makes room for a chunk in demand by freeing chunks of a
 * size not asked for since: the small chunks a connection starts with
 * must not keep its 64 KiB chunks out once every connection sends from
 * those, and a stale size coming back does not displace the one in
 * demand. */
static void test_chunk_cache_gives_way_to_demand(void **state)
{
	struct peer p;
	peer_init(&p);
	struct tn_tcp_chunkcache *cc = &p.s->tcp.chunks;
	const uint32_t small = 16384;
	enum { N = TN_TCP_CHUNK_CACHE_BYTES / 16384 };
	struct tn_tcb *old[N];
	for (int i = 0; i < N; i++) {
		old[i] = bare_tcb();
		take_chunk(p.s, old[i], small);
	}
	for (int i = 0; i < N - 1; i++) /* the last one is still in use */
		tn_tcp_sndbuf_release(p.s, old[i]);
	assert_int_equal(cc->bytes, TN_TCP_CHUNK_CACHE_BYTES - small);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	struct tn_tcb *t = tcb_of_fd(&p, fd);
	t->snd.cap = TN_TCP_CHUNK_MAX; /* the size this connection's chunks had */
	t->sndbuf_max = 1u << 20;      /* (autotuned) */
	assert_int_equal(tern_send(p.s, fd, "hello", 5, 0), 5);
	struct tn_tcp_chunk *c = t->snd.buf;
	assert_int_equal(c->size, TN_TCP_CHUNK_MAX);
	uint8_t got[16];
	uint32_t n = 0;
	drain(&p, got, sizeof(got), &n);
	assert_int_equal(n, 5);
	/* three 16 KiB chunks (not asked for since) went to make room */
	assert_int_equal(cc->bytes, TN_TCP_CHUNK_CACHE_BYTES);
	assert_ptr_equal(cc->free[TN_TCP_CHUNK_CLASSES - 1], c);
	assert_int_equal(tern_send(p.s, fd, "again", 5, 0), 5);
	assert_ptr_equal(t->snd.buf, c);
	drain(&p, got, sizeof(got), &n);
	assert_int_equal(n, 10);
	/* A chunk of the stale size coming back does not displace it: it is
	 * freed. */
	tn_tcp_sndbuf_release(p.s, old[N - 1]);
	assert_int_equal(cc->bytes, TN_TCP_CHUNK_CACHE_BYTES);
	assert_ptr_equal(cc->free[TN_TCP_CHUNK_CLASSES - 1], c);
	for (int i = 0; i < N; i++)
		free(old[i]);

	peer_free(&p);
}

/* ---- tern_sendfile ---- */

static void test_sendfile_whole_file(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	int f = make_file(3000);
	off_t off = 0;
	assert_int_equal(tern_sendfile(p.s, fd, f, &off, 3000), 3000);
	assert_int_equal(off, 3000);
	assert_int_equal(lseek(f, 0, SEEK_CUR), 0); /* the file's position is not used */
	static uint8_t got[4000];
	uint32_t n = 0;
	drain(&p, got, sizeof(got), &n);
	assert_int_equal(n, 3000);
	assert_file_bytes(got, 0, 3000);
	assert_null(tcb_of_fd(&p, fd)->snd.buf);
	close(f);
	peer_free(&p);
}

/* More than the buffer takes: a short count, then EAGAIN with the offset
 * left alone, then the rest once the peer has acknowledged. */
static void test_sendfile_full_buffer(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = small_sndbuf_conn(&p);
	int f = make_file(20000);
	off_t off = 0;
	assert_int_equal(tern_sendfile(p.s, fd, f, &off, 20000), 8192);
	assert_int_equal(off, 8192);
	assert_int_equal(tern_sendfile(p.s, fd, f, &off, 20000 - 8192), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(off, 8192);
	static uint8_t got[20000];
	uint32_t n = 0;
	while (off < 20000) {
		drain(&p, got, sizeof(got), &n);
		ssize_t k = tern_sendfile(p.s, fd, f, &off, (size_t)(20000 - off));
		assert_true(k > 0);
	}
	drain(&p, got, sizeof(got), &n);
	assert_int_equal(n, 20000);
	assert_file_bytes(got, 0, 20000);
	close(f);
	peer_free(&p);
}

/* A promise longer than the file: what is there, then 0 (the end), and an
 * idle connection keeps no chunk for the read that found nothing. */
static void test_sendfile_eof_before_count(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	struct tn_tcb *t = tcb_of_fd(&p, fd);
	int f = make_file(1000);
	off_t off = 0;
	assert_int_equal(tern_sendfile(p.s, fd, f, &off, 5000), 1000);
	assert_int_equal(tern_sendfile(p.s, fd, f, &off, 4000), 0);
	assert_int_equal(off, 1000);
	static uint8_t got[2000];
	uint32_t n = 0;
	drain(&p, got, sizeof(got), &n);
	assert_int_equal(n, 1000);
	assert_file_bytes(got, 0, 1000);
	assert_null(t->snd.buf);
	assert_int_equal(tern_sendfile(p.s, fd, f, &off, 4000), 0);
	assert_null(t->snd.buf);
	assert_int_equal(t->snd.len, 0);
	close(f);
	peer_free(&p);
}

/* The file shrinks between calls: the next read is short, then 0. */
static void test_sendfile_file_shrinks(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = small_sndbuf_conn(&p);
	int f = make_file(10000);
	off_t off = 0;
	assert_int_equal(tern_sendfile(p.s, fd, f, &off, 10000), 8192);
	assert_int_equal(ftruncate(f, 9000), 0);
	static uint8_t got[10000];
	uint32_t n = 0;
	drain(&p, got, sizeof(got), &n);
	assert_int_equal(tern_sendfile(p.s, fd, f, &off, 10000 - 8192), 808);
	assert_int_equal(tern_sendfile(p.s, fd, f, &off, 10000 - 9000), 0);
	assert_int_equal(off, 9000);
	drain(&p, got, sizeof(got), &n);
	assert_int_equal(n, 9000);
	assert_file_bytes(got, 0, 9000);
	close(f);
	peer_free(&p);
}

/* One read fills the free end of the last chunk and new chunks after it,
 * with part of the first chunk already acknowledged; the bytes leave in
 * order after what was held. */
static void test_sendfile_across_chunks(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	struct tn_tcb *t = tcb_of_fd(&p, fd);
	static uint8_t head[3000], got[40000];
	memset(head, 'h', sizeof(head));
	assert_int_equal(tern_send(p.s, fd, head, sizeof(head), 0), 3000);
	/* take what leaves now, acknowledge only the first segment */
	struct out o;
	uint32_t n = 0, first = 0, next = p.ack;
	while (take(&p, &o)) {
		if (o.len && o.h.seq == next) {
			memcpy(got + n, o.data, o.len);
			n += o.len;
			next += o.len;
			first = first ? first : o.len;
		}
	}
	assert_true(first > 0 && first < 3000);
	p.ack += first;
	peer_send(&p, SRV_PORT, TN_TCP_ACK, NULL, 0);
	p.ack = next;
	struct tn_tcp_chunk *c = t->snd.buf;
	assert_int_equal(c->size, 4096);
	assert_null(c->next);
	assert_int_equal(t->snd.start, first);
	int f = make_file(30000);
	off_t off = 0;
	ssize_t k = tern_sendfile(p.s, fd, f, &off, 30000);
	assert_true(k > 4096 - 3000 + 8192); /* into three chunks at least */
	assert_ptr_equal(t->snd.buf, c);
	assert_int_equal(c->used, 4096);
	uint32_t held = 0, chunks = 0;
	for (struct tn_tcp_chunk *x = c; x; x = x->next, chunks++) {
		held += x->used;
		assert_true(x->used > 0 && x->used <= x->size);
		if (x->next) {
			assert_int_equal(x->used, x->size); /* only the last has room */
			assert_int_equal(x->next->pos, x->pos + x->used);
			assert_int_equal(x->next->size, x->size * 2);
		} else {
			assert_ptr_equal(c->tail, x);
		}
	}
	assert_true(chunks >= 3);
	assert_int_equal(held - t->snd.start, t->snd.len);
	while (off < 30000) {
		drain(&p, got, sizeof(got), &n);
		assert_true(tern_sendfile(p.s, fd, f, &off, (size_t)(30000 - off)) > 0);
	}
	drain(&p, got, sizeof(got), &n);
	assert_int_equal(n, 33000);
	for (uint32_t i = 0; i < 3000; i++)
		assert_int_equal(got[i], 'h');
	assert_file_bytes(got + 3000, 0, 30000);
	assert_null(t->snd.buf);
	close(f);
	peer_free(&p);
}

/* Without an offset the file's position is read from and moved on. */
static void test_sendfile_file_position(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	int f = make_file(4000);
	assert_int_equal(lseek(f, 1000, SEEK_SET), 1000);
	assert_int_equal(tern_sendfile(p.s, fd, f, NULL, 2000), 2000);
	assert_int_equal(lseek(f, 0, SEEK_CUR), 3000);
	assert_int_equal(tern_sendfile(p.s, fd, f, NULL, 2000), 1000);
	assert_int_equal(lseek(f, 0, SEEK_CUR), 4000);
	static uint8_t got[4000];
	uint32_t n = 0;
	drain(&p, got, sizeof(got), &n);
	assert_int_equal(n, 3000);
	assert_file_bytes(got, 1000, 3000);
	close(f);
	peer_free(&p);
}

static void test_sendfile_errors(void **state)
{
	struct peer p;
	peer_init(&p);
	int lfd = listen_on(&p, SRV_PORT, 16);
	int fd = passive_open(&p, lfd, false);
	struct tn_tcb *t = tcb_of_fd(&p, fd);
	int f = make_file(100);
	off_t off = 0;
	/* a descriptor that is not open: pread's EBADF, nothing held */
	assert_int_equal(tern_sendfile(p.s, fd, 1000000, &off, 100), -1);
	assert_int_equal(errno, EBADF);
	assert_null(t->snd.buf);
	/* a pipe has no offset to read at */
	int pp[2];
	assert_int_equal(pipe(pp), 0);
	assert_int_equal(write(pp[1], "x", 1), 1);
	assert_int_equal(tern_sendfile(p.s, fd, pp[0], &off, 1), -1);
	assert_int_equal(errno, ESPIPE);
	assert_int_equal(tern_sendfile(p.s, fd, pp[0], NULL, 1), -1);
	assert_int_equal(errno, ESPIPE);
	assert_null(t->snd.buf);
	off = -1;
	assert_int_equal(tern_sendfile(p.s, fd, f, &off, 1), -1);
	assert_int_equal(errno, EINVAL);
	off = 0;
	/* not a connection */
	assert_int_equal(tern_sendfile(p.s, lfd, f, &off, 100), -1);
	assert_int_equal(errno, ENOTCONN);
	int u = tern_socket(p.s, AF_INET, SOCK_DGRAM, 0);
	assert_int_equal(tern_sendfile(p.s, u, f, &off, 100), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(tern_sendfile(p.s, 999, f, &off, 100), -1);
	assert_int_equal(errno, EBADF);
	/* after shutdown(SHUT_WR): EPIPE, as send() */
	assert_int_equal(tern_shutdown(p.s, fd, SHUT_WR), 0);
	assert_int_equal(tern_sendfile(p.s, fd, f, &off, 100), -1);
	assert_int_equal(errno, EPIPE);
	assert_int_equal(off, 0);
	close(pp[0]);
	close(pp[1]);
	close(f);
	peer_free(&p);
}

/* The first write of a TCP_FASTOPEN_CONNECT socket holding a cookie goes
 * in the SYN, from a file as from a buffer. */
static void test_sendfile_fastopen_connect(void **state)
{
	static const uint8_t cookie[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct peer p;
	peer_init(&p);
	p.port = SRV_PORT; /* the peer is the server */
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(SRV_PORT)};
	a.sin_addr.s_addr = htonl(p.them);
	int on = 1;
	struct out syn, o;
	for (int round = 0; round < 2; round++) {
		int fd = tern_socket(p.s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		assert_int_equal(tern_setsockopt(p.s, fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &on, sizeof(on)), 0);
		int rc = tern_connect(p.s, fd, (struct sockaddr *)&a, sizeof(a));
		if (round == 0) { /* no cookie yet: a cookie request, kept from the SYN-ACK */
			assert_int_equal(rc, -1);
			assert_true(take(&p, &syn));
			struct tn_tcp_opts so = syn_opts(false);
			so.has_cookie = true;
			so.cookie_len = 8;
			memcpy(so.cookie, cookie, 8);
			send_seg(&p, syn.h.sport, p.iss, syn.h.seq + 1, TN_TCP_SYN | TN_TCP_ACK, 65535, &so, NULL, 0);
			while (take(&p, &o))
				;
			continue;
		}
		assert_int_equal(rc, 0);
		int f = make_file(300);
		off_t off = 100;
		assert_int_equal(tern_sendfile(p.s, fd, f, &off, 200), 200);
		assert_int_equal(off, 300);
		assert_true(take(&p, &syn));
		assert_int_equal(syn.h.flags & (TN_TCP_SYN | TN_TCP_ACK), TN_TCP_SYN);
		assert_int_equal(syn.len, 200);
		assert_file_bytes(syn.data, 100, 200);
		close(f);
	}
	peer_free(&p);
}

/* ---- lent bytes (tern_send_lent) ---- */

/* The application's side of struct tern_lent: how often release ran. */
struct lender {
	struct tern_lent l;
	int released;
};

static void lender_release(struct tern_lent *l) { ((struct lender *)l)->released++; }

static uint8_t *file_bytes(uint32_t n)
{
	uint8_t *b = malloc(n);
	assert_non_null(b);
	for (uint32_t i = 0; i < n; i++)
		b[i] = file_byte(i);
	return b;
}

/* Lent bytes go between copied ones as a chunk pointing at the caller's
 * memory, holding one reference until they are all acknowledged; the head
 * before them and the tail after arrive in order, and the copied tail
 * starts a new small chunk. */
static void test_lent_between_copies(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	struct tn_tcb *t = tcb_of_fd(&p, fd);
	uint8_t *body = file_bytes(20000);
	struct lender ld = {.l = {.refs = 1, .release = lender_release}};
	assert_int_equal(tern_send(p.s, fd, "HEAD", 4, 0), 4);
	assert_int_equal(tern_send_lent(p.s, fd, body, 20000, &ld.l), 20000);
	assert_int_equal(tern_send(p.s, fd, "TAIL", 4, 0), 4);
	struct tn_tcp_chunk *c = t->snd.buf;
	assert_int_equal(c->used, 4);
	assert_ptr_equal(c->next->base, body);
	assert_int_equal(c->next->pos, c->pos + 4);
	assert_int_equal(c->next->used, 20000);
	assert_int_equal(c->next->next->size, 4096);
	assert_int_equal(c->next->next->pos, c->pos + 20004);
	assert_int_equal(t->snd.len, 20008);
	assert_int_equal(ld.l.refs, 2);
	static uint8_t got[30000];
	uint32_t n = 0;
	drain(&p, got, sizeof(got), &n);
	assert_int_equal(n, 20008);
	assert_memory_equal(got, "HEAD", 4);
	assert_memory_equal(got + 4, body, 20000);
	assert_memory_equal(got + 20004, "TAIL", 4);
	assert_null(t->snd.buf);
	assert_int_equal(ld.l.refs, 1); /* tern let go; the lender's own is left */
	assert_int_equal(ld.released, 0);
	tern_lent_put(&ld.l);
	assert_int_equal(ld.released, 1);
	free(body);
	peer_free(&p);
}

/* A packet pointing into lent bytes keeps them lent after the ACK (a copy
 * in a qdisc, a retransmission): the reference goes with the packet. */
static void test_lent_outlives_ack_while_a_packet_holds_it(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	struct tn_tcb *t = tcb_of_fd(&p, fd);
	uint8_t *body = file_bytes(1000);
	struct lender ld = {.l = {.refs = 1, .release = lender_release}};
	assert_int_equal(tern_send_lent(p.s, fd, body, 1000, &ld.l), 1000);
	struct tn_pkt *held = tn_pkt_alloc(p.s->pool);
	assert_non_null(held);
	assert_int_equal(tn_tcp_sndbuf_chain(p.s, t, held, 0, 1000, 1460), 0);
	assert_ptr_equal(held->next->data, body);
	static uint8_t got[2000];
	uint32_t n = 0;
	drain(&p, got, sizeof(got), &n);
	assert_int_equal(n, 1000);
	assert_null(t->snd.buf);
	assert_int_equal(ld.l.refs, 2); /* the chunk lives on in `held` */
	tn_pkt_free(held);
	assert_int_equal(ld.l.refs, 1);
	tern_lent_put(&ld.l);
	assert_int_equal(ld.released, 1);
	free(body);
	peer_free(&p);
}

/* A full send buffer takes what it has room for; EAGAIN when none; the
 * rest once acknowledged.  Errors are send()'s, and nothing is held. */
static void test_lent_short_count_and_errors(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = small_sndbuf_conn(&p);
	int lfd = listen_on(&p, SRV_PORT + 1, 16);
	uint8_t *body = file_bytes(30000);
	struct lender ld = {.l = {.refs = 1, .release = lender_release}};
	static uint8_t got[40000];
	uint32_t n = 0, sent = 0;
	ssize_t k = tern_send_lent(p.s, fd, body, 30000, &ld.l);
	assert_int_equal(k, 8192);
	sent += (uint32_t)k;
	assert_int_equal(tern_send_lent(p.s, fd, body + sent, 30000 - sent, &ld.l), -1);
	assert_int_equal(errno, EAGAIN);
	while (sent < 30000) {
		drain(&p, got, sizeof(got), &n);
		k = tern_send_lent(p.s, fd, body + sent, 30000 - sent, &ld.l);
		assert_true(k > 0);
		sent += (uint32_t)k;
	}
	drain(&p, got, sizeof(got), &n);
	assert_int_equal(n, 30000);
	assert_memory_equal(got, body, 30000);
	assert_int_equal(ld.l.refs, 1);
	assert_int_equal(tern_send_lent(p.s, lfd, body, 10, &ld.l), -1);
	assert_int_equal(errno, ENOTCONN);
	int u = tern_socket(p.s, AF_INET, SOCK_DGRAM, 0);
	assert_int_equal(tern_send_lent(p.s, u, body, 10, &ld.l), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(tern_send_lent(p.s, 999, body, 10, &ld.l), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(tern_shutdown(p.s, fd, SHUT_WR), 0);
	assert_int_equal(tern_send_lent(p.s, fd, body, 10, &ld.l), -1);
	assert_int_equal(errno, EPIPE);
	assert_int_equal(ld.l.refs, 1);
	tern_lent_put(&ld.l);
	assert_int_equal(ld.released, 1);
	free(body);
	peer_free(&p);
}

/* Bytes never acknowledged come back when the connection goes: a reset
 * here, and the stack's end for one left sending. */
static void test_lent_returned_when_the_connection_goes(void **state)
{
	struct peer p;
	peer_init(&p);
	int lfd = listen_on(&p, SRV_PORT, 16);
	int fd = passive_open(&p, lfd, false);
	uint8_t *body = file_bytes(5000);
	struct lender ld = {.l = {.refs = 1, .release = lender_release}};
	assert_int_equal(tern_send_lent(p.s, fd, body, 5000, &ld.l), 5000);
	assert_int_equal(ld.l.refs, 2);
	peer_send(&p, SRV_PORT, TN_TCP_RST, NULL, 0);
	struct out o;
	while (take(&p, &o))
		;
	assert_int_equal(ld.l.refs, 1);
	tern_close(p.s, fd);
	p.port++;
	fd = passive_open(&p, lfd, false);
	assert_int_equal(tern_send_lent(p.s, fd, body, 5000, &ld.l), 5000);
	assert_int_equal(ld.l.refs, 2);
	peer_free(&p);
	assert_int_equal(ld.l.refs, 1);
	tern_lent_put(&ld.l);
	assert_int_equal(ld.released, 1);
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chunk_comes_back_from_the_stack),
		cmocka_unit_test(test_chunk_cache_is_bounded),
		cmocka_unit_test(test_chunk_cache_gives_way_to_demand),
		cmocka_unit_test(test_sendfile_whole_file),
		cmocka_unit_test(test_sendfile_full_buffer),
		cmocka_unit_test(test_sendfile_eof_before_count),
		cmocka_unit_test(test_sendfile_file_shrinks),
		cmocka_unit_test(test_sendfile_across_chunks),
		cmocka_unit_test(test_sendfile_file_position),
		cmocka_unit_test(test_sendfile_errors),
		cmocka_unit_test(test_sendfile_fastopen_connect),
		cmocka_unit_test(test_lent_between_copies),
		cmocka_unit_test(test_lent_outlives_ack_while_a_packet_holds_it),
		cmocka_unit_test(test_lent_short_count_and_errors),
		cmocka_unit_test(test_lent_returned_when_the_connection_goes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
