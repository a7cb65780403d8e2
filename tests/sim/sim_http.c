/* HTTP/1.1 between two tern stacks on a virtual clock: tern's server and
 * client across clean and lossy links, static files, errors, persistent
 * connections, pipelining, request bodies, timeouts, many clients. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/http.h"
#include "app/httpc.h"
#include "app/httpd.h"
#include "sim.h"
#include "testutil.h"

enum { C, S };
#define MS 1000000ull
#define SEC 1000000000ull

struct world {
	struct sim sim;
	struct tn_httpd *httpd;
	char docroot[64];
};


static void run_for(struct world *w, uint64_t ns)
{
	uint64_t end = w->sim.now + ns;
	while (w->sim.now < end) {
		sim_run_until(&w->sim, w->sim.now + 1 * MS);
		if (w->httpd)
			tn_httpd_step(w->httpd);
	}
}

static void write_file(const char *dir, const char *name, const char *data, size_t len)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void world_init(struct world *w, const struct tn_fault_cfg *imp, const struct tn_httpd_cfg *extra)
{
	memset(w, 0, sizeof(*w));
	sim_pair(&w->sim, 7, imp, "198.18.3.1/24", "198.18.3.2/24");
	snprintf(w->docroot, sizeof(w->docroot), "/tmp/tern-http-XXXXXX");
	assert_non_null(mkdtemp(w->docroot));
	write_file(w->docroot, "index.html", "<h1>tern</h1>\n", 14);
	write_file(w->docroot, "digits.txt", "0123456789", 10);
	char sub[128];
	snprintf(sub, sizeof(sub), "%s/sub", w->docroot);
	assert_int_equal(mkdir(sub, 0755), 0);
	write_file(sub, "index.html", "sub\n", 4);
	struct tn_httpd_cfg cfg = extra ? *extra : (struct tn_httpd_cfg){0};
	cfg.port = 80;
	cfg.docroot = w->docroot;
	w->httpd = tn_httpd_new(w->sim.st[S], &cfg);
	assert_non_null(w->httpd);
}

static void world_free(struct world *w)
{
	tn_httpd_free(w->httpd);
	w->httpd = NULL;
	sim_run_until(&w->sim, w->sim.now + 200 * SEC); /* TIME-WAIT and all */
	assert_true(sim_no_leak(&w->sim));
	sim_free(&w->sim);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", w->docroot);
	assert_int_equal(system(cmd), 0);
}

/* ---- tern's client ---- */

struct body {
	char *buf;
	size_t len, cap;
};

static int collect(void *ctx, const void *data, size_t len)
{
	struct body *b = ctx;
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2;
		b->buf = realloc(b->buf, b->cap);
	}
	memcpy(b->buf + b->len, data, len);
	b->len += len;
	return 0;
}

/* One request with tern's client; returns the status (or -errno). */
static int fetch(struct world *w, const char *method, const char *target, const char *body, struct body *out,
		 uint64_t limit)
{
	struct tn_httpc_req r = {.addr = t_ip("198.18.3.2"), .port = 80, .method = method, .target = target,
				 .body = body, .body_len = body ? strlen(body) : 0};
	struct tn_httpc *c = tn_httpc_start(w->sim.st[C], &r, collect, out);
	assert_non_null(c);
	int rc;
	uint64_t end = w->sim.now + limit;
	while ((rc = tn_httpc_step(c)) == 0 && w->sim.now < end)
		run_for(w, 1 * MS);
	int status = rc == 1 ? tn_httpc_head(c)->status : rc < 0 ? -errno : -ETIMEDOUT;
	tn_httpc_free(c);
	return status;
}

static void test_get_generated_body_over_lossy_link(void **state)
{
	(void)state;
	struct world w;
	struct tn_fault_cfg imp = {.delay_ns = 10 * MS, .loss = 0.01, .reorder = 0.01, .duplicate = 0.005, .seed = 3};
	world_init(&w, &imp, NULL);
	struct body b = {0};
	uint64_t start = w.sim.now;
	assert_int_equal(fetch(&w, NULL, "/gen/4194304", NULL, &b, 600 * SEC), 200);
	assert_int_equal(b.len, 4194304);
	for (size_t i = 0; i < b.len; i++)
		if (b.buf[i] != tn_httpd_gen_byte(i))
			fail_msg("byte %zu differs", i);
	printf("4 MiB over 1%% loss, 20 ms RTT: %.2f s virtual\n", (double)(w.sim.now - start) / 1e9);
	free(b.buf);
	world_free(&w);
}

static void test_static_files(void **state)
{
	(void)state;
	struct world w;
	world_init(&w, NULL, NULL);
	struct body b = {0};
	assert_int_equal(fetch(&w, NULL, "/", NULL, &b, 10 * SEC), 200);
	assert_int_equal(b.len, 14);
	assert_memory_equal(b.buf, "<h1>tern</h1>\n", 14);
	b.len = 0;
	assert_int_equal(fetch(&w, NULL, "/digits.txt", NULL, &b, 10 * SEC), 200);
	assert_memory_equal(b.buf, "0123456789", 10);
	b.len = 0;
	assert_int_equal(fetch(&w, NULL, "/sub/", NULL, &b, 10 * SEC), 200);
	assert_memory_equal(b.buf, "sub\n", 4);
	b.len = 0;
	assert_int_equal(fetch(&w, NULL, "/sub", NULL, &b, 10 * SEC), 301);
	b.len = 0;
	assert_int_equal(fetch(&w, NULL, "/missing.html", NULL, &b, 10 * SEC), 404);
	b.len = 0;
	assert_int_equal(fetch(&w, "HEAD", "/digits.txt", NULL, &b, 10 * SEC), 200);
	assert_int_equal(b.len, 0);
	assert_int_equal(fetch(&w, "DELETE", "/digits.txt", NULL, &b, 10 * SEC), 405);
	b.len = 0;
	/* escaping the document root is refused, however it is spelled */
	assert_int_equal(fetch(&w, NULL, "/../../etc/passwd", NULL, &b, 10 * SEC), 400);
	assert_int_equal(fetch(&w, NULL, "/%2e%2e/%2e%2e/etc/passwd", NULL, &b, 10 * SEC), 400);
	assert_int_equal(fetch(&w, NULL, "/sub/../digits.txt", NULL, &b, 10 * SEC), 200);
	free(b.buf);
	world_free(&w);
}

/* ---- raw exchanges, to control every byte ---- */

static int raw_connect(struct world *w)
{
	struct tn_stack *cs = w->sim.st[C];
	int fd = tern_socket(cs, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(80)};
	to.sin_addr.s_addr = htonl(t_ip("198.18.3.2"));
	tern_connect(cs, fd, (struct sockaddr *)&to, sizeof(to));
	for (int i = 0; i < 1000 && !(tern_sock_events(cs, fd) & POLLOUT); i++)
		run_for(w, 1 * MS);
	assert_true(tern_sock_events(cs, fd) & POLLOUT);
	return fd;
}

static void raw_send(struct world *w, int fd, const char *data, size_t len)
{
	size_t off = 0;
	while (off < len) {
		ssize_t k = tern_send(w->sim.st[C], fd, data + off, len - off, 0);
		if (k > 0)
			off += (size_t)k;
		run_for(w, 1 * MS);
	}
}

/* Read for `ns`; returns bytes read, *eof if the server closed. */
static size_t raw_read(struct world *w, int fd, char *buf, size_t cap, uint64_t ns, bool *eof)
{
	size_t len = 0;
	*eof = false;
	uint64_t end = w->sim.now + ns;
	while (w->sim.now < end && !*eof) {
		run_for(w, 1 * MS);
		ssize_t k;
		while (len < cap && (k = tern_recv(w->sim.st[C], fd, buf + len, cap - len, 0)) > 0)
			len += (size_t)k;
		if (len < cap && tern_recv(w->sim.st[C], fd, buf + len, cap - len, 0) == 0)
			*eof = true;
	}
	return len;
}

static int count(const char *hay, size_t len, const char *needle)
{
	int n = 0;
	size_t nl = strlen(needle);
	for (size_t i = 0; i + nl <= len; i++)
		n += memcmp(hay + i, needle, nl) == 0;
	return n;
}

static void test_pipelined_requests_answered_in_order(void **state)
{
	(void)state;
	struct world w;
	world_init(&w, NULL, NULL);
	int fd = raw_connect(&w);
	const char req[] = "GET /digits.txt HTTP/1.1\r\nHost: a\r\n\r\n"
			   "GET /missing HTTP/1.1\r\nHost: a\r\n\r\n"
			   "GET /gen/5 HTTP/1.1\r\nHost: a\r\n\r\n";
	raw_send(&w, fd, req, sizeof(req) - 1);
	char buf[4096];
	bool eof;
	size_t n = raw_read(&w, fd, buf, sizeof(buf), 200 * MS, &eof);
	assert_false(eof); /* persistent */
	struct tn_http_head h;
	int rc = tn_http_parse_response(buf, n, false, &h);
	assert_true(rc > 0);
	assert_int_equal(h.status, 200);
	assert_memory_equal(buf + rc, "0123456789", 10);
	size_t off = (size_t)rc + 10;
	rc = tn_http_parse_response(buf + off, n - off, false, &h);
	assert_true(rc > 0);
	assert_int_equal(h.status, 404);
	off += (size_t)rc + h.content_length;
	rc = tn_http_parse_response(buf + off, n - off, false, &h);
	assert_true(rc > 0);
	assert_int_equal(h.status, 200);
	assert_int_equal(h.content_length, 5);
	assert_memory_equal(buf + off + (size_t)rc, "abcde", 5);
	assert_int_equal(off + (size_t)rc + 5, n);
	/* the same request split into one-byte writes */
	const char slow[] = "GET /gen/3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
	for (size_t i = 0; i < sizeof(slow) - 1; i++)
		raw_send(&w, fd, slow + i, 1);
	n = raw_read(&w, fd, buf, sizeof(buf), 200 * MS, &eof);
	assert_true(eof); /* Connection: close */
	assert_int_equal(count(buf, n, "HTTP/1.1 200 OK"), 1);
	assert_int_equal(count(buf, n, "Connection: close"), 1);
	assert_memory_equal(buf + n - 3, "abc", 3);
	tern_close(w.sim.st[C], fd);
	world_free(&w);
}

static void expect_status(struct world *w, const char *req, size_t len, const char *status_line, bool closes)
{
	int fd = raw_connect(w);
	raw_send(w, fd, req, len);
	static char buf[65536];
	bool eof;
	size_t n = raw_read(w, fd, buf, sizeof(buf), 300 * MS, &eof);
	if (n < strlen(status_line) || memcmp(buf, status_line, strlen(status_line)) != 0)
		fail_msg("expected \"%s\", got \"%.*s\"", status_line, (int)(n < 40 ? n : 40), buf);
	assert_int_equal(eof, closes);
	tern_close(w->sim.st[C], fd);
}

static void test_bad_requests(void **state)
{
	(void)state;
	struct world w;
	struct tn_httpd_cfg cfg = {.max_body = 1000};
	world_init(&w, NULL, &cfg);
#define EXPECT(req, status, closes) expect_status(&w, req, sizeof(req) - 1, status, closes)
	EXPECT("BLAH\r\n\r\n", "HTTP/1.1 400 ", true);
	EXPECT("GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ", true); /* no Host */
	EXPECT("GET / HTTP/2.0\r\nHost: a\r\n\r\n", "HTTP/1.1 505 ", true);
	EXPECT("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", "HTTP/1.1 400 ",
	       true); /* request smuggling */
	EXPECT("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n", "HTTP/1.1 413 ", true);
	EXPECT("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", "HTTP/1.1 501 ", true);
	EXPECT("GET /digits.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=20-30\r\n\r\n", "HTTP/1.1 416 ", false);
	EXPECT("GET /digits.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=2-4\r\n\r\n", "HTTP/1.1 206 ", false);
	EXPECT("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 204 ", false);
#undef EXPECT
	/* a request-target over 8 KiB: 414; a head over 16 KiB: 431 */
	static char big[20000];
	int n = snprintf(big, sizeof(big), "GET /");
	memset(big + n, 'a', 9000);
	n += 9000;
	n += snprintf(big + n, sizeof(big) - (size_t)n, " HTTP/1.1\r\nHost: a\r\n\r\n");
	expect_status(&w, big, (size_t)n, "HTTP/1.1 414 ", true);
	n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
	memset(big + n, 'b', 17000);
	n += 17000;
	n += snprintf(big + n, sizeof(big) - (size_t)n, "\r\n\r\n");
	expect_status(&w, big, (size_t)n, "HTTP/1.1 431 ", true);
	world_free(&w);
}

static void test_request_bodies_echoed(void **state)
{
	(void)state;
	struct world w;
	world_init(&w, NULL, NULL);
	struct body b = {0};
	assert_int_equal(fetch(&w, "POST", "/echo", "hello, tern", &b, 10 * SEC), 200);
	assert_int_equal(b.len, 11);
	assert_memory_equal(b.buf, "hello, tern", 11);
	free(b.buf);
	/* chunked, with an extension and a trailer, then a pipelined GET */
	int fd = raw_connect(&w);
	const char req[] = "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
			   "5;ext=1\r\nhello\r\n7\r\n, chunk\r\n0\r\nX-Trailer: yes\r\n\r\n"
			   "GET /gen/2 HTTP/1.1\r\nHost: a\r\n\r\n";
	raw_send(&w, fd, req, sizeof(req) - 1);
	char buf[4096];
	bool eof;
	size_t n = raw_read(&w, fd, buf, sizeof(buf), 200 * MS, &eof);
	struct tn_http_head h;
	int rc = tn_http_parse_response(buf, n, false, &h);
	assert_true(rc > 0);
	assert_int_equal(h.status, 200);
	assert_int_equal(h.content_length, 12);
	assert_memory_equal(buf + rc, "hello, chunk", 12);
	assert_int_equal(count(buf, n, "HTTP/1.1 200 OK"), 2);
	assert_memory_equal(buf + n - 2, "ab", 2);
	tern_close(w.sim.st[C], fd);
	world_free(&w);
}

static void test_keepalive_limits(void **state)
{
	(void)state;
	struct world w;
	struct tn_httpd_cfg cfg = {.keepalive_requests = 2, .keepalive_timeout_ns = 5 * SEC};
	world_init(&w, NULL, &cfg);
	int fd = raw_connect(&w);
	const char req[] = "GET /gen/1 HTTP/1.1\r\nHost: a\r\n\r\n";
	raw_send(&w, fd, req, sizeof(req) - 1);
	char buf[4096];
	bool eof;
	size_t n = raw_read(&w, fd, buf, sizeof(buf), 100 * MS, &eof);
	assert_false(eof);
	assert_int_equal(count(buf, n, "Connection: close"), 0);
	raw_send(&w, fd, req, sizeof(req) - 1);
	n = raw_read(&w, fd, buf, sizeof(buf), 100 * MS, &eof);
	assert_int_equal(count(buf, n, "Connection: close"), 1); /* the second of two */
	assert_true(eof);
	tern_close(w.sim.st[C], fd);
	/* an idle connection is closed after the keep-alive timeout */
	fd = raw_connect(&w);
	n = raw_read(&w, fd, buf, sizeof(buf), 4 * SEC, &eof);
	assert_false(eof);
	n = raw_read(&w, fd, buf, sizeof(buf), 3 * SEC, &eof);
	assert_true(eof);
	assert_int_equal(n, 0);
	assert_int_equal(tn_httpd_stats(w.httpd)->timeouts, 1);
	tern_close(w.sim.st[C], fd);
	/* HTTP/1.0 without keep-alive: one response, then the close */
	fd = raw_connect(&w);
	const char old[] = "GET /gen/1 HTTP/1.0\r\n\r\n";
	raw_send(&w, fd, old, sizeof(old) - 1);
	n = raw_read(&w, fd, buf, sizeof(buf), 100 * MS, &eof);
	assert_true(eof);
	assert_int_equal(count(buf, n, "HTTP/1.1 200 OK"), 1);
	tern_close(w.sim.st[C], fd);
	world_free(&w);
}

/* A thousand clients at once, each fetching 10 kB. */
static void test_thousand_concurrent_clients(void **state)
{
	(void)state;
	struct world w;
	struct tn_fault_cfg imp = {.delay_ns = 1 * MS, .loss = 0.002, .seed = 5};
	world_init(&w, &imp, NULL);
	enum { N = 1000 };
	static struct body bodies[N];
	static struct tn_httpc *cl[N];
	memset(bodies, 0, sizeof(bodies));
	struct tn_httpc_req r = {.addr = t_ip("198.18.3.2"), .port = 80, .target = "/gen/10000"};
	int done = 0, ok = 0;
	for (int i = 0; i < N; i++) {
		cl[i] = tn_httpc_start(w.sim.st[C], &r, collect, &bodies[i]);
		assert_non_null(cl[i]);
		if (i % 100 == 99)
			run_for(&w, 1 * MS);
	}
	uint64_t end = w.sim.now + 120 * SEC;
	while (done < N && w.sim.now < end) {
		run_for(&w, 1 * MS);
		for (int i = 0; i < N; i++) {
			if (!cl[i])
				continue;
			int rc = tn_httpc_step(cl[i]);
			if (rc == 0)
				continue;
			ok += rc == 1 && tn_httpc_head(cl[i])->status == 200 && bodies[i].len == 10000 &&
			      bodies[i].buf[9999] == tn_httpd_gen_byte(9999);
			tn_httpc_free(cl[i]);
			cl[i] = NULL;
			free(bodies[i].buf);
			done++;
		}
	}
	assert_int_equal(ok, N);
	const struct tn_httpd_stats *st = tn_httpd_stats(w.httpd);
	assert_int_equal(st->requests, N);
	assert_int_equal(st->by_class[2], N);
	world_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_generated_body_over_lossy_link),
		cmocka_unit_test(test_static_files),
		cmocka_unit_test(test_pipelined_requests_answered_in_order),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_request_bodies_echoed),
		cmocka_unit_test(test_keepalive_limits),
		cmocka_unit_test(test_thousand_concurrent_clients),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
