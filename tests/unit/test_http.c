/* The HTTP/1.1 parsers, decoder and helpers, rule by rule (RFC 9110, 9112). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "app/http.h"

static int req(const char *s, struct tn_http_head *h) { return tn_http_parse_request(s, strlen(s), h); }
static bool eq(struct tn_http_str s, const char *z) { return s.n == strlen(z) && memcmp(s.p, z, s.n) == 0; }

static void test_simple_get(void **state)
{
	(void)state;
	struct tn_http_head h;
	const char *r = "GET /a/b.html?x=1&y HTTP/1.1\r\nHost: example\r\nUser-Agent:  curl/8 \r\n\r\nNEXT";
	assert_int_equal(req(r, &h), (int)strlen(r) - 4);
	assert_true(eq(h.method, "GET"));
	assert_true(eq(h.target, "/a/b.html?x=1&y"));
	assert_true(eq(h.path, "/a/b.html"));
	assert_true(eq(h.query, "x=1&y"));
	assert_int_equal(h.version_minor, 1);
	assert_int_equal(h.nfields, 2);
	assert_true(eq(*tn_http_field_get(&h, "user-agent"), "curl/8")); /* OWS trimmed, name case-blind */
	assert_null(tn_http_field_get(&h, "Accept"));
	assert_true(h.keep_alive);
	assert_true(h.has_host);
	assert_int_equal(h.body, TN_HTTP_BODY_NONE);
}

static void test_incomplete_at_every_split(void **state)
{
	(void)state;
	const char *r = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n";
	size_t n = strlen(r);
	struct tn_http_head h;
	for (size_t i = 0; i < n; i++)
		assert_int_equal(tn_http_parse_request(r, i, &h), 0);
	assert_int_equal(tn_http_parse_request(r, n, &h), (int)n);
	assert_int_equal(h.body, TN_HTTP_BODY_LENGTH);
	assert_int_equal(h.content_length, 3);
}

static void test_bare_lf_and_leading_empty_line(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_true(req("\r\nGET / HTTP/1.1\nHost: a\n\n", &h) > 0);
	assert_true(eq(h.path, "/"));
	assert_int_equal(req("GET / HTTP/1.1\rHost: a\r\n\r\n", &h), -400); /* bare CR */
}

static void test_syntax_errors(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_int_equal(req("GET\r\n\r\n", &h), -400);
	assert_int_equal(req("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", &h), -400);  /* method not a token */
	assert_int_equal(req("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", &h), -400); /* two spaces */
	assert_int_equal(req("GET a HTTP/1.1\r\nHost: a\r\n\r\n", &h), -400);  /* not origin-form */
	assert_int_equal(req("GET * HTTP/1.1\r\nHost: a\r\n\r\n", &h), -400);  /* * is for OPTIONS */
	assert_int_equal(req("GET / HTTP/1.1\r\nHost : a\r\n\r\n", &h), -400); /* space before colon */
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", &h), -400); /* obs-fold */
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", &h), -400); /* control byte */
	assert_int_equal(req("GET / HTTP/1.1\r\nNoColon\r\n\r\n", &h), -400);
	assert_int_equal(req("GET / HTTP/1.x\r\nHost: a\r\n\r\n", &h), -400);
	assert_true(req("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &h) > 0);
}

static void test_versions(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_int_equal(req("GET / HTTP/2.0\r\nHost: a\r\n\r\n", &h), -505);
	assert_int_equal(req("GET / HTTP/1.2\r\nHost: a\r\n\r\n", &h), -505);
	assert_true(req("GET / HTTP/1.0\r\n\r\n", &h) > 0); /* no Host needed in 1.0 */
	assert_int_equal(h.version_minor, 0);
	assert_false(h.keep_alive);
	assert_true(req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &h) > 0);
	assert_true(h.keep_alive);
	assert_true(req("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n", &h) > 0);
	assert_false(h.keep_alive);
}

static void test_host_rules(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_int_equal(req("GET / HTTP/1.1\r\n\r\n", &h), -400);
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", &h), -400);
}

static void test_body_framing_and_smuggling(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", &h),
			 -400);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", &h), -400);
	assert_true(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", &h) > 0);
	assert_int_equal(h.content_length, 5);
	assert_true(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7, 7\r\n\r\n", &h) > 0);
	assert_int_equal(h.content_length, 7);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7, 8\r\n\r\n", &h), -400);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", &h), -400);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", &h),
			 -400);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", &h), -501);
	assert_int_equal(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", &h), -501);
	assert_true(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", &h) > 0);
	assert_int_equal(h.body, TN_HTTP_BODY_CHUNKED);
	assert_int_equal(req("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", &h), -400);
	assert_true(req("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", &h) > 0);
	assert_true(h.expect_continue);
}

static void test_limits(void **state)
{
	(void)state;
	struct tn_http_head h;
	static char buf[40000];
	/* a target over 8 KiB: 414, even before the line is complete */
	int n = snprintf(buf, sizeof(buf), "GET /");
	memset(buf + n, 'a', TN_HTTP_MAX_TARGET + 20);
	assert_int_equal(tn_http_parse_request(buf, (size_t)n + TN_HTTP_MAX_TARGET + 20, &h), -414);
	/* an unending head: 431 once past the limit */
	n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nX: ");
	memset(buf + n, 'b', 20000);
	assert_int_equal(tn_http_parse_request(buf, (size_t)n + 1000, &h), 0);
	assert_int_equal(tn_http_parse_request(buf, (size_t)n + 20000, &h), -431);
	/* too many fields: 431 */
	n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n");
	for (int i = 0; i < TN_HTTP_MAX_HEADERS; i++)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "X%d: y\r\n", i);
	n += snprintf(buf + n, sizeof(buf) - (size_t)n, "\r\n");
	assert_int_equal(tn_http_parse_request(buf, (size_t)n, &h), -431);
}

static void test_absolute_form(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_true(req("GET http://example.org/p/q?z HTTP/1.1\r\nHost: example.org\r\n\r\n", &h) > 0);
	assert_true(eq(h.path, "/p/q"));
	assert_true(eq(h.query, "z"));
	assert_true(req("GET http://example.org HTTP/1.1\r\nHost: example.org\r\n\r\n", &h) > 0);
	assert_true(eq(h.path, "/"));
}

static int resp(const char *s, bool head, struct tn_http_head *h)
{
	return tn_http_parse_response(s, strlen(s), head, h);
}

static void test_responses(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_true(resp("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", false, &h) > 0);
	assert_int_equal(h.status, 200);
	assert_true(eq(h.reason, "OK"));
	assert_int_equal(h.body, TN_HTTP_BODY_LENGTH);
	assert_int_equal(h.content_length, 12);
	assert_true(h.keep_alive);
	/* the same answer to HEAD has no body */
	assert_true(resp("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", true, &h) > 0);
	assert_int_equal(h.body, TN_HTTP_BODY_NONE);
	assert_true(resp("HTTP/1.1 204 No Content\r\n\r\n", false, &h) > 0);
	assert_int_equal(h.body, TN_HTTP_BODY_NONE);
	assert_true(resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n", false, &h) > 0);
	assert_int_equal(h.body, TN_HTTP_BODY_NONE);
	assert_true(resp("HTTP/1.1 100 Continue\r\n\r\n", false, &h) > 0);
	assert_int_equal(h.body, TN_HTTP_BODY_NONE);
	assert_true(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, &h) > 0);
	assert_int_equal(h.body, TN_HTTP_BODY_CHUNKED);
	assert_true(resp("HTTP/1.0 200 OK\r\n\r\n", false, &h) > 0);
	assert_int_equal(h.body, TN_HTTP_BODY_UNTIL_CLOSE);
	assert_false(h.keep_alive);
	assert_true(resp("HTTP/1.1 404 \r\n\r\n", false, &h) > 0); /* empty reason */
	assert_int_equal(h.status, 404);
	assert_int_equal(resp("HTTP/1.1 20 OK\r\n\r\n", false, &h), -1);
	assert_int_equal(resp("HTTP/1.1 2000 OK\r\n\r\n", false, &h), -1);
	assert_int_equal(resp("HTTX/1.1 200 OK\r\n\r\n", false, &h), -1);
	assert_int_equal(resp("HTTP/1.1 200 OK\r\n", false, &h), 0);
}

/* Decode `in` fed `step` bytes at a time; returns decoded length or -1. */
static ssize_t decode(const char *in, size_t step, char *out, size_t *consumed, bool *done)
{
	struct tn_http_chunked c = {0};
	char buf[1024];
	size_t n = strlen(in), off = 0, o = 0;
	while (off < n && !c.done) {
		size_t piece = n - off < step ? n - off : step;
		memcpy(buf, in + off, piece);
		size_t used = piece;
		ssize_t k = tn_http_chunked_decode(&c, buf, &used);
		if (k < 0)
			return -1;
		memcpy(out + o, buf, (size_t)k);
		o += (size_t)k;
		off += used;
	}
	*consumed = off;
	*done = c.done;
	return (ssize_t)o;
}

static void test_chunked(void **state)
{
	(void)state;
	const char *body = "5;name=value\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: x\r\n\r\nGET /next";
	for (size_t step = 1; step < 70; step++) {
		char out[128];
		size_t used;
		bool done;
		ssize_t n = decode(body, step, out, &used, &done);
		assert_int_equal(n, 31);
		assert_memory_equal(out, "helloabcdefghijklmnopqrstuvwxyz", 31);
		assert_true(done);
		assert_int_equal(used, strlen(body) - 9); /* the pipelined request is left */
	}
	char out[64];
	size_t used;
	bool done;
	assert_int_equal(decode("3\nabc\n0\n\n", 4, out, &used, &done), 3); /* bare LFs */
	assert_true(done);
	assert_int_equal(decode("g\r\n", 1, out, &used, &done), -1);
	assert_int_equal(decode("\r\n", 1, out, &used, &done), -1);               /* no size */
	assert_int_equal(decode("3\r\nabcX\r\n", 2, out, &used, &done), -1);       /* no CRLF after data */
	assert_int_equal(decode("11111111111111111\r\n", 3, out, &used, &done), -1); /* 17 digits */
	assert_int_equal(decode("3\r\nab", 2, out, &used, &done), 2);              /* partial */
	assert_false(done);
}

static void test_date(void **state)
{
	(void)state;
	char d[30];
	assert_int_equal(tn_http_date(0, d), 29);
	assert_string_equal(d, "Thu, 01 Jan 1970 00:00:00 GMT");
	tn_http_date(784111777, d);
	assert_string_equal(d, "Sun, 06 Nov 1994 08:49:37 GMT");
	tn_http_date(1709164800 + 3661, d); /* a leap day */
	assert_string_equal(d, "Thu, 29 Feb 2024 01:01:01 GMT");
	tn_http_date(4102444799, d);
	assert_string_equal(d, "Thu, 31 Dec 2099 23:59:59 GMT");
}

static const char *norm(const char *in, char *out, size_t cap)
{
	struct tn_http_str p = {in, strlen(in)};
	return tn_http_path_normalize(p, out, cap) < 0 ? NULL : out;
}

static void test_path_normalize(void **state)
{
	(void)state;
	char o[64];
	assert_string_equal(norm("/", o, 64), "/");
	assert_string_equal(norm("/a/b/../c", o, 64), "/a/c");
	assert_string_equal(norm("/a/./b/", o, 64), "/a/b/");
	assert_string_equal(norm("//a///b", o, 64), "/a/b");
	assert_string_equal(norm("/a/..", o, 64), "/");
	assert_string_equal(norm("/%7Euser/x%20y", o, 64), "/~user/x y");
	assert_string_equal(norm("/a/%2e%2e/b", o, 64), "/b"); /* decoded dots count */
	assert_null(norm("/..", o, 64));
	assert_null(norm("/a/../..", o, 64));
	assert_null(norm("/%2e%2e/etc/passwd", o, 64));
	assert_null(norm("/a%00b", o, 64));
	assert_null(norm("/a%2fb", o, 64)); /* an encoded slash */
	assert_null(norm("/a%zz", o, 64));
	assert_null(norm("/a%4", o, 64));
	assert_null(norm("a/b", o, 64));
	assert_null(norm("/a b", o, 64));
	assert_null(norm("/aaaaaaaaaa", o, 8)); /* does not fit */
}

static void test_tokens_and_reasons(void **state)
{
	(void)state;
	struct tn_http_str v = {"keep-alive, Upgrade ,close", 26};
	assert_true(tn_http_has_token(v, "upgrade"));
	assert_true(tn_http_has_token(v, "CLOSE"));
	assert_false(tn_http_has_token(v, "keep"));
	assert_string_equal(tn_http_reason(404), "Not Found");
	assert_string_equal(tn_http_reason(431), "Request Header Fields Too Large");
	assert_string_equal(tn_http_reason(799), "Unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_get),
		cmocka_unit_test(test_incomplete_at_every_split),
		cmocka_unit_test(test_bare_lf_and_leading_empty_line),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_host_rules),
		cmocka_unit_test(test_body_framing_and_smuggling),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_absolute_form),
		cmocka_unit_test(test_responses),
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_date),
		cmocka_unit_test(test_path_normalize),
		cmocka_unit_test(test_tokens_and_reasons),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
