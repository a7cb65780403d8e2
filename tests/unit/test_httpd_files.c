/* httpd's file bodies, which go from the file into the TCP send buffer
 * with tern_sendfile: a file many times the send buffer over a lossy link,
 * a range from the middle, a file that shrinks while it is being sent,
 * and a file rewritten between two requests on one connection.  With a
 * wall clock, files left alone for two seconds are served from memory
 * (app/filecache.h, lent to the send buffer): the same bodies, a rewrite
 * seen at once, a new file not read in, the cache's bound.  Two tern
 * stacks on a virtual clock; the client side reads raw bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/filecache.h"

#include "app/http.h"
#include "app/httpd.h"
#include "sim.h"
#include "testutil.h"

enum { C, S };
#define MS 1000000ull
#define SEC 1000000000ull
#define BIG (1u << 20)

struct world {
	struct sim sim;
	struct tn_httpd *httpd;
	char docroot[64];
	char big[128];
};

static uint8_t big_byte(uint32_t i) { return (uint8_t)(i * 131 + (i >> 10)); }

static void run_for(struct world *w, uint64_t ns)
{
	uint64_t end = w->sim.now + ns;
	while (w->sim.now < end) {
		sim_run_until(&w->sim, w->sim.now + 1 * MS);
		if (w->httpd)
			tn_httpd_step(w->httpd);
	}
}

static void write_big(struct world *w, uint32_t n, uint8_t xor)
{
	uint8_t *b = malloc(n);
	assert_non_null(b);
	for (uint32_t i = 0; i < n; i++)
		b[i] = big_byte(i) ^ xor;
	int fd = open(w->big, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, n), (ssize_t)n);
	close(fd);
	free(b);
}

/* The server's wall clock, for its file cache: none (no cache), the real
 * one (a file just written is too new to read in), or ten seconds ahead
 * (every file here is settled). */
enum wall { NO_WALL, WALL_NOW, WALL_AHEAD };
static int64_t wall_now(void *ctx) { return (int64_t)time(NULL); }
static int64_t wall_ahead(void *ctx) { return (int64_t)time(NULL) + 10; }

static void world_init_cache(struct world *w, const struct tn_fault_cfg *imp, enum wall wall, uint64_t cache)
{
	memset(w, 0, sizeof(*w));
	sim_pair(&w->sim, 9, imp, "198.18.4.1/24", "198.18.4.2/24");
	snprintf(w->docroot, sizeof(w->docroot), "/tmp/tern-httpd-XXXXXX");
	assert_non_null(mkdtemp(w->docroot));
	snprintf(w->big, sizeof(w->big), "%s/big.bin", w->docroot);
	write_big(w, BIG, 0);
	struct tn_httpd_cfg cfg = {.port = 80, .docroot = w->docroot, .file_cache_bytes = cache};
	if (wall != NO_WALL)
		cfg.wallclock = wall == WALL_NOW ? wall_now : wall_ahead;
	w->httpd = tn_httpd_new(w->sim.st[S], &cfg);
	assert_non_null(w->httpd);
	assert_true((tn_httpd_file_cache_stats(w->httpd) != NULL) == (wall != NO_WALL));
}

static void world_init(struct world *w, const struct tn_fault_cfg *imp) { world_init_cache(w, imp, NO_WALL, 0); }

static const struct tn_filecache_stats *cache_st(struct world *w) { return tn_httpd_file_cache_stats(w->httpd); }

static void world_free(struct world *w)
{
	tn_httpd_free(w->httpd);
	sim_run_until(&w->sim, w->sim.now + 200 * SEC); /* TIME-WAIT and all */
	assert_true(sim_no_leak(&w->sim));
	sim_free(&w->sim);
	unlink(w->big);
	assert_int_equal(rmdir(w->docroot), 0);
}

static int raw_connect(struct world *w)
{
	struct tn_stack *cs = w->sim.st[C];
	int fd = tern_socket(cs, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(80)};
	to.sin_addr.s_addr = htonl(t_ip("198.18.4.2"));
	tern_connect(cs, fd, (struct sockaddr *)&to, sizeof(to));
	for (int i = 0; i < 1000 && !(tern_sock_events(cs, fd) & POLLOUT); i++)
		run_for(w, 1 * MS);
	assert_true(tern_sock_events(cs, fd) & POLLOUT);
	return fd;
}

static void raw_send(struct world *w, int fd, const char *req)
{
	size_t len = strlen(req);
	assert_int_equal(tern_send(w->sim.st[C], fd, req, len, 0), (ssize_t)len);
	run_for(w, 1 * MS);
}

/* A response read off the wire: its head parsed, its body so far. */
struct resp {
	char *buf;
	size_t len, cap;
	struct tn_http_head head;
	size_t head_len;
	bool eof;
};

/* Read until `want` body bytes (head excluded) are in, the server
 * closes, or `ns` pass. */
static void read_resp(struct world *w, int fd, struct resp *r, size_t want, uint64_t ns)
{
	uint64_t end = w->sim.now + ns;
	while (w->sim.now < end && !r->eof) {
		if (r->head_len && r->len - r->head_len >= want)
			return;
		run_for(w, 1 * MS);
		for (;;) {
			if (r->len == r->cap) {
				r->cap = r->cap ? r->cap * 2 : 65536;
				r->buf = realloc(r->buf, r->cap);
				assert_non_null(r->buf);
			}
			ssize_t k = tern_recv(w->sim.st[C], fd, r->buf + r->len, r->cap - r->len, 0);
			if (k <= 0) {
				r->eof = k == 0;
				break;
			}
			r->len += (size_t)k;
		}
		if (!r->head_len) {
			int rc = tn_http_parse_response(r->buf, r->len, false, &r->head);
			assert_true(rc >= 0);
			r->head_len = (size_t)rc;
		}
	}
}

static void assert_body(const struct resp *r, uint32_t from, size_t n, uint8_t xor)
{
	const uint8_t *b = (const uint8_t *)r->buf + r->head_len;
	for (size_t i = 0; i < n; i++)
		if (b[i] != (uint8_t)(big_byte(from + (uint32_t)i) ^ xor))
			fail_msg("body byte %zu differs", i);
}

static void test_big_file_over_lossy_link(void **state)
{
	struct world w;
	struct tn_fault_cfg imp = {.delay_ns = 5 * MS, .loss = 0.01, .reorder = 0.01, .seed = 5};
	world_init(&w, &imp);
	int fd = raw_connect(&w);
	raw_send(&w, fd, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
	struct resp r = {0};
	read_resp(&w, fd, &r, BIG, 300 * SEC);
	assert_int_equal(r.head.status, 200);
	assert_int_equal(r.head.content_length, BIG);
	assert_int_equal(r.len - r.head_len, BIG);
	assert_body(&r, 0, BIG, 0);
	free(r.buf);
	tern_close(w.sim.st[C], fd);
	world_free(&w);
}

static void test_range_from_the_middle(void **state)
{
	struct world w;
	world_init(&w, NULL);
	int fd = raw_connect(&w);
	raw_send(&w, fd, "GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=100000-299999\r\n\r\n");
	struct resp r = {0};
	read_resp(&w, fd, &r, 200000, 30 * SEC);
	assert_int_equal(r.head.status, 206);
	assert_int_equal(r.head.content_length, 200000);
	assert_int_equal(r.len - r.head_len, 200000);
	assert_body(&r, 100000, 200000, 0);
	free(r.buf);
	tern_close(w.sim.st[C], fd);
	world_free(&w);
}

/* Cut short under the server: it sends what the file still has (the head
 * promised more) and closes the connection, as it did with pread. */
static void test_file_shrinks_while_sent(void **state)
{
	struct world w;
	world_init(&w, NULL);
	int fd = raw_connect(&w);
	raw_send(&w, fd, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
	struct resp r = {0};
	read_resp(&w, fd, &r, 1, 10 * SEC);
	assert_int_equal(r.head.content_length, BIG);
	assert_int_equal(truncate(w.big, 100000), 0);
	read_resp(&w, fd, &r, BIG, 60 * SEC);
	assert_true(r.eof);
	size_t got = r.len - r.head_len;
	assert_true(got >= 100000 && got < BIG);
	assert_body(&r, 0, got, 0);
	free(r.buf);
	tern_close(w.sim.st[C], fd);
	world_free(&w);
}

/* Rewritten between two requests on one keep-alive connection: the
 * second response has the new size and bytes. */
static void test_file_rewritten_between_requests(void **state)
{
	struct world w;
	world_init(&w, NULL);
	int fd = raw_connect(&w);
	raw_send(&w, fd, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
	struct resp r = {0};
	read_resp(&w, fd, &r, BIG, 30 * SEC);
	assert_int_equal(r.len - r.head_len, BIG);
	write_big(&w, 70000, 0x5a);
	raw_send(&w, fd, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
	struct resp r2 = {0};
	read_resp(&w, fd, &r2, 70000, 30 * SEC);
	assert_int_equal(r2.head.status, 200);
	assert_int_equal(r2.head.content_length, 70000);
	assert_int_equal(r2.len - r2.head_len, 70000);
	assert_body(&r2, 0, 70000, 0x5a);
	assert_false(r2.eof);
	free(r.buf);
	free(r2.buf);
	tern_close(w.sim.st[C], fd);
	world_free(&w);
}

/* The head does not leave alone ahead of the body (TCP_NODELAY would send
 * it at once): a short file or error page is one segment. */
static void head_and_body_in_one_segment(enum wall wall)
{
	struct world w;
	world_init_cache(&w, NULL, wall, 0);
	char small[128];
	snprintf(small, sizeof(small), "%s/small.txt", w.docroot);
	int f = open(small, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(f >= 0);
	static char body[1000];
	memset(body, 's', sizeof(body));
	assert_int_equal(write(f, body, sizeof(body)), (ssize_t)sizeof(body));
	close(f);
	int fd = raw_connect(&w);
	run_for(&w, 500 * MS); /* the handshake's last ACK is in */
	const char *reqs[] = {"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n", "GET /nothing HTTP/1.1\r\nHost: t\r\n\r\n",
			      "GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n"};
	int want[] = {200, 404, 200};
	for (int i = 0; i < 3; i++) {
		int64_t segs = tern_stat(w.sim.st[S], "TcpOutSegs");
		raw_send(&w, fd, reqs[i]);
		struct resp r = {0};
		read_resp(&w, fd, &r, want[i] == 200 ? sizeof(body) : 14, 10 * SEC);
		assert_int_equal(r.head.status, want[i]);
		/* the request's ACK (a new connection acknowledges at once:
		 * quick-ACK mode) and one segment with head and body; the head
		 * alone made it three */
		assert_int_equal(tern_stat(w.sim.st[S], "TcpOutSegs") - segs, 2);
		free(r.buf);
	}
	if (wall == WALL_AHEAD) /* the second time from the cache, as one segment too */
		assert_int_equal(cache_st(&w)->hits, 1);
	tern_close(w.sim.st[C], fd);
	unlink(small);
	world_free(&w);
}

static void test_head_and_body_in_one_segment(void **state) { head_and_body_in_one_segment(NO_WALL); }
static void test_head_and_body_in_one_segment_cached(void **state) { head_and_body_in_one_segment(WALL_AHEAD); }

/* GET path on fd and check the whole body is the big file's (xor'd). */
static void get_big(struct world *w, int fd, const char *path, uint32_t n, uint8_t xor)
{
	char req[160];
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
	raw_send(w, fd, req);
	struct resp r = {0};
	read_resp(w, fd, &r, n, 300 * SEC);
	assert_int_equal(r.head.status, 200);
	assert_int_equal(r.head.content_length, n);
	assert_int_equal(r.len - r.head_len, n);
	assert_body(&r, 0, n, xor);
	assert_false(r.eof);
	free(r.buf);
}

/* A settled file is read in by the first request and lent to the send
 * buffer by the next ones, over a lossy link (retransmissions come from
 * the cache's memory too); a range comes from the cache as well. */
static void test_cached_file_over_lossy_link(void **state)
{
	struct world w;
	struct tn_fault_cfg imp = {.delay_ns = 5 * MS, .loss = 0.01, .reorder = 0.01, .seed = 7};
	world_init_cache(&w, &imp, WALL_AHEAD, 0);
	int fd = raw_connect(&w);
	get_big(&w, fd, "/big.bin", BIG, 0);
	assert_int_equal(cache_st(&w)->fills, 1);
	assert_int_equal(cache_st(&w)->hits, 0);
	assert_int_equal(cache_st(&w)->bytes, BIG);
	get_big(&w, fd, "/big.bin", BIG, 0);
	assert_int_equal(cache_st(&w)->fills, 1);
	assert_int_equal(cache_st(&w)->hits, 1);
	assert_true(tern_stat(w.sim.st[S], "TcpRetransSegs") > 0);
	raw_send(&w, fd, "GET /big.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=100000-299999\r\n\r\n");
	struct resp r = {0};
	read_resp(&w, fd, &r, 200000, 60 * SEC);
	assert_int_equal(r.head.status, 206);
	assert_int_equal(r.len - r.head_len, 200000);
	assert_body(&r, 100000, 200000, 0);
	assert_int_equal(cache_st(&w)->hits, 2);
	free(r.buf);
	tern_close(w.sim.st[C], fd);
	world_free(&w);
}

/* Rewritten after it was read in: the next request sees the change (its
 * ctime moved), the old entry is dropped and the new bytes read in. */
static void test_cached_file_rewritten(void **state)
{
	struct world w;
	world_init_cache(&w, NULL, WALL_AHEAD, 0);
	int fd = raw_connect(&w);
	get_big(&w, fd, "/big.bin", BIG, 0);
	get_big(&w, fd, "/big.bin", BIG, 0);
	assert_int_equal(cache_st(&w)->hits, 1);
	/* past the file system's clock tick, so the ctime differs */
	nanosleep(&(struct timespec){.tv_nsec = 30 * 1000 * 1000}, NULL);
	write_big(&w, BIG, 0x5a); /* the same size */
	get_big(&w, fd, "/big.bin", BIG, 0x5a);
	assert_int_equal(cache_st(&w)->stale, 1);
	assert_int_equal(cache_st(&w)->fills, 2);
	get_big(&w, fd, "/big.bin", BIG, 0x5a);
	assert_int_equal(cache_st(&w)->hits, 2);
	tern_close(w.sim.st[C], fd);
	world_free(&w);
}

/* A file changed in the last two seconds is served from the file, not
 * read in: a change in the same clock tick would not show in its stat. */
static void test_new_file_not_cached(void **state)
{
	struct world w;
	world_init_cache(&w, NULL, WALL_NOW, 0);
	int fd = raw_connect(&w);
	get_big(&w, fd, "/big.bin", BIG, 0);
	get_big(&w, fd, "/big.bin", BIG, 0);
	assert_int_equal(cache_st(&w)->unsettled, 2);
	assert_int_equal(cache_st(&w)->fills, 0);
	assert_int_equal(cache_st(&w)->bytes, 0);
	tern_close(w.sim.st[C], fd);
	world_free(&w);
}

/* The cache holds at most its bytes, dropping the least recently used;
 * a file over an eighth of it is never read in.  Every body is right. */
static void test_cache_bound(void **state)
{
	struct world w;
	world_init_cache(&w, NULL, WALL_AHEAD, 1u << 20); /* files up to 128 KiB */
	char names[12][96];
	for (int i = 0; i < 12; i++) {
		snprintf(names[i], sizeof(names[i]), "%s/f%d.bin", w.docroot, i);
		int f = open(names[i], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_true(f >= 0);
		uint8_t b[100000];
		for (uint32_t j = 0; j < sizeof(b); j++)
			b[j] = big_byte(j) ^ (uint8_t)i;
		assert_int_equal(write(f, b, sizeof(b)), (ssize_t)sizeof(b));
		close(f);
	}
	int fd = raw_connect(&w);
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 12; i++) {
			char path[32];
			snprintf(path, sizeof(path), "/f%d.bin", i);
			get_big(&w, fd, path, 100000, (uint8_t)i);
			assert_true(cache_st(&w)->bytes <= 1u << 20);
		}
	/* 10 fit; going round in order, each file was dropped before its turn */
	assert_int_equal(cache_st(&w)->entries, 10);
	assert_int_equal(cache_st(&w)->fills, 24);
	assert_int_equal(cache_st(&w)->evicted, 14);
	get_big(&w, fd, "/big.bin", BIG, 0); /* 1 MiB: over the bound for one file */
	assert_int_equal(cache_st(&w)->fills, 24);
	tern_close(w.sim.st[C], fd);
	for (int i = 0; i < 12; i++)
		unlink(names[i]);
	world_free(&w);
}

/* The server goes while a cached body is still in its send buffer: the
 * entry lives until the connection lets go (ASan sees a leak or a use
 * after free otherwise). */
static void test_cache_freed_with_body_in_flight(void **state)
{
	struct world w;
	world_init_cache(&w, NULL, WALL_AHEAD, 0);
	int fd = raw_connect(&w);
	get_big(&w, fd, "/big.bin", BIG, 0);
	raw_send(&w, fd, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
	struct resp r = {0};
	read_resp(&w, fd, &r, 1, 10 * SEC);
	assert_int_equal(cache_st(&w)->hits, 1);
	tn_httpd_free(w.httpd);
	w.httpd = NULL;
	read_resp(&w, fd, &r, BIG, 60 * SEC);
	assert_true(r.len - r.head_len > 0);
	assert_body(&r, 0, r.len - r.head_len, 0);
	free(r.buf);
	tern_close(w.sim.st[C], fd);
	world_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_big_file_over_lossy_link),
		cmocka_unit_test(test_range_from_the_middle),
		cmocka_unit_test(test_file_shrinks_while_sent),
		cmocka_unit_test(test_file_rewritten_between_requests),
		cmocka_unit_test(test_head_and_body_in_one_segment),
		cmocka_unit_test(test_head_and_body_in_one_segment_cached),
		cmocka_unit_test(test_cache_freed_with_body_in_flight),
		cmocka_unit_test(test_cached_file_over_lossy_link),
		cmocka_unit_test(test_cached_file_rewritten),
		cmocka_unit_test(test_new_file_not_cached),
		cmocka_unit_test(test_cache_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
