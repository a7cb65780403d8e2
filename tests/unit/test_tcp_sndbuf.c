/* The TCP send ring (tcp_sndbuf.c): rings coming back from the stack's
 * cache, and tern_sendfile reading a file straight into the ring, with
 * short reads, the end of the file, a full buffer, a file that shrinks
 * and a ring that wraps.  The test plays the peer on a raw-IP wire and
 * checks the bytes that arrive. */
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

/* ---- the ring cache ---- */

/* A ring given back when all is acknowledged is the next one handed out:
 * no malloc, no page faults on a keep-alive connection's next reply. */
static void test_ring_comes_back_from_the_stack(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	struct tn_tcb *t = tcb_of_fd(&p, fd);
	assert_int_equal(tern_send(p.s, fd, "hello", 5, 0), 5);
	uint8_t *ring = t->snd.buf;
	assert_non_null(ring);
	assert_int_equal(p.s->tcp.rings.bytes, 0);
	uint8_t got[16];
	uint32_t n = 0;
	drain(&p, got, sizeof(got), &n);
	assert_int_equal(n, 5);
	assert_null(t->snd.buf); /* idle: the connection holds none */
	assert_int_equal(p.s->tcp.rings.bytes, 4096);
	assert_ptr_equal(p.s->tcp.rings.free[0], ring);
	assert_int_equal(tern_send(p.s, fd, "again", 5, 0), 5);
	assert_ptr_equal(t->snd.buf, ring);
	assert_int_equal(p.s->tcp.rings.bytes, 0);
	assert_null(p.s->tcp.rings.free[0]);
	peer_free(&p);
}

/* The cache holds at most TN_TCP_RING_CACHE_BYTES; rings of a size it has
 * no list for are freed at once. */
static void test_ring_cache_is_bounded(void **state)
{
	struct peer p;
	peer_init(&p);
	struct tn_tcb t;
	memset(&t, 0, sizeof(t));
	uint32_t big = TN_TCP_RING_CACHE_BYTES / 2;
	for (int i = 0; i < 3; i++) {
		t.snd.cap = big;
		t.snd.buf = malloc(big);
		assert_non_null(t.snd.buf);
		tn_tcp_sndbuf_release(p.s, &t);
		assert_null(t.snd.buf);
		assert_int_equal(t.snd.cap, big);
	}
	assert_int_equal(p.s->tcp.rings.bytes, TN_TCP_RING_CACHE_BYTES); /* the third was freed */
	tn_tcp_ring_cache_free(p.s);
	assert_int_equal(p.s->tcp.rings.bytes, 0);
	uint32_t odd[] = {5000, TN_TCP_RING_MIN << TN_TCP_RING_CLASSES};
	for (int i = 0; i < 2; i++) {
		t.snd.cap = odd[i];
		t.snd.buf = malloc(odd[i]);
		assert_non_null(t.snd.buf);
		tn_tcp_sndbuf_release(p.s, &t);
		assert_int_equal(p.s->tcp.rings.bytes, 0);
	}
	/* what the cache holds at the end goes with the stack (ASan's leak
	 * check runs this) */
	t.snd.cap = 8192;
	t.snd.buf = malloc(8192);
	tn_tcp_sndbuf_release(p.s, &t);
	assert_int_equal(p.s->tcp.rings.bytes, 8192);
	peer_free(&p);
}

/* A full cache makes room for a ring in demand by freeing rings of a size
 * not asked for since: the 16-64 KiB rings every connection leaves behind
 * while its buffer autotunes must not keep its 128 KiB rings out, and a
 * stale size coming back does not displace the one in demand. */
static void test_ring_cache_gives_way_to_demand(void **state)
{
	struct peer p;
	peer_init(&p);
	struct tn_tcb old;
	memset(&old, 0, sizeof(old));
	const uint32_t mib = 1u << 20;
	for (uint32_t i = 0; i < TN_TCP_RING_CACHE_BYTES / mib; i++) {
		old.snd.cap = mib;
		old.snd.buf = malloc(mib);
		assert_non_null(old.snd.buf);
		tn_tcp_sndbuf_release(p.s, &old);
	}
	assert_int_equal(p.s->tcp.rings.bytes, TN_TCP_RING_CACHE_BYTES);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	struct tn_tcb *t = tcb_of_fd(&p, fd);
	t->snd.cap = 128u << 10; /* the size this connection's ring had */
	assert_int_equal(tern_send(p.s, fd, "hello", 5, 0), 5);
	uint8_t *ring = t->snd.buf;
	uint8_t got[16];
	uint32_t n = 0;
	drain(&p, got, sizeof(got), &n);
	assert_int_equal(n, 5);
	/* one 1 MiB ring (asked for never) went to make room */
	assert_int_equal(p.s->tcp.rings.bytes, TN_TCP_RING_CACHE_BYTES - mib + (128u << 10));
	assert_ptr_equal(p.s->tcp.rings.free[5], ring);
	assert_int_equal(tern_send(p.s, fd, "again", 5, 0), 5);
	assert_ptr_equal(t->snd.buf, ring);
	drain(&p, got, sizeof(got), &n);
	assert_int_equal(n, 10);
	/* A ring of the stale size coming back does not displace it: it is
	 * freed. */
	old.snd.cap = mib;
	old.snd.buf = malloc(mib);
	assert_non_null(old.snd.buf);
	tn_tcp_sndbuf_release(p.s, &old);
	assert_int_equal(p.s->tcp.rings.bytes, TN_TCP_RING_CACHE_BYTES - mib + (128u << 10));
	assert_ptr_equal(p.s->tcp.rings.free[5], ring);
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
 * idle connection keeps no ring for the read that found nothing. */
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

/* The free space wraps round the end of the ring: one read fills both
 * pieces, and the bytes leave in order after what was held. */
static void test_sendfile_into_wrapped_ring(void **state)
{
	struct peer p;
	peer_init(&p);
	int fd = passive_open(&p, listen_on(&p, SRV_PORT, 16), false);
	struct tn_tcb *t = tcb_of_fd(&p, fd);
	static uint8_t head[3000], got[6000];
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
	assert_int_equal(t->snd.cap, 4096);
	assert_int_equal(t->snd.len, 3000 - first);
	uint32_t tail = (t->snd.start + t->snd.len) % t->snd.cap;
	assert_true(t->snd.cap - tail < 2500); /* so the read wraps */
	assert_true(t->snd.len + 2500 <= t->snd.cap); /* without growing the ring */
	int f = make_file(2500);
	off_t off = 0;
	assert_int_equal(tern_sendfile(p.s, fd, f, &off, 2500), 2500);
	assert_int_equal(t->snd.cap, 4096);
	drain(&p, got, sizeof(got), &n);
	assert_int_equal(n, 5500);
	for (uint32_t i = 0; i < 3000; i++)
		assert_int_equal(got[i], 'h');
	assert_file_bytes(got + 3000, 0, 2500);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_comes_back_from_the_stack),
		cmocka_unit_test(test_ring_cache_is_bounded),
		cmocka_unit_test(test_ring_cache_gives_way_to_demand),
		cmocka_unit_test(test_sendfile_whole_file),
		cmocka_unit_test(test_sendfile_full_buffer),
		cmocka_unit_test(test_sendfile_eof_before_count),
		cmocka_unit_test(test_sendfile_file_shrinks),
		cmocka_unit_test(test_sendfile_into_wrapped_ring),
		cmocka_unit_test(test_sendfile_file_position),
		cmocka_unit_test(test_sendfile_errors),
		cmocka_unit_test(test_sendfile_fastopen_connect),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
