/* The HTTP/1.1 parsers, chunked decoder and helpers (RFC 9110, RFC 9112):
 * one test per rule, each asserting the exact return value and fields. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "app/http.h"

static int req(const char *s, struct tn_http_head *h) { return tn_http_parse_request(s, strlen(s), h); }

static int resp(const char *s, bool head, struct tn_http_head *h)
{
	return tn_http_parse_response(s, strlen(s), head, h);
}

static bool eq(struct tn_http_str s, const char *z) { return s.n == strlen(z) && memcmp(s.p, z, s.n) == 0; }

/* Does s lie inside buf[0..len)? */
static bool within(struct tn_http_str s, const char *buf, size_t len)
{
	return s.p >= buf && s.p + s.n <= buf + len;
}

/* A request line and Host, then `fields` and the blank line. */
static int req_with(const char *fields, struct tn_http_head *h)
{
	static char buf[1024];
	snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n%s\r\n", fields);
	return req(buf, h);
}

/* ---- requests ---- */

static void test_simple_get(void **state)
{
	(void)state;
	struct tn_http_head h;
	const char *r = "GET /a/b.html?x=1&y HTTP/1.1\r\nHost: example\r\nUser-Agent:  curl/8 \r\n\r\n";
	assert_int_equal(req(r, &h), (int)strlen(r));
	assert_int_equal(h.head_len, strlen(r));
	assert_true(eq(h.method, "GET"));
	assert_true(eq(h.target, "/a/b.html?x=1&y"));
	assert_true(eq(h.path, "/a/b.html"));
	assert_true(eq(h.query, "x=1&y"));
	assert_int_equal(h.version_minor, 1);
	assert_int_equal(h.nfields, 2);
	assert_true(eq(h.fields[0].name, "Host"));
	assert_true(eq(h.fields[0].value, "example"));
	assert_true(eq(h.fields[1].value, "curl/8")); /* OWS trimmed */
	assert_true(h.keep_alive);
	assert_true(h.has_host);
	assert_false(h.expect_continue);
	assert_int_equal(h.body, TN_HTTP_BODY_NONE);
	assert_int_equal(h.content_length, 0);
}

static void test_field_get(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_true(req_with("X-One: 1\r\nx-one: 2\r\nAccept: */*\r\n", &h) > 0);
	assert_true(eq(*tn_http_field_get(&h, "X-ONE"), "1")); /* the first, name case-blind */
	assert_true(eq(*tn_http_field_get(&h, "accept"), "*/*"));
	assert_null(tn_http_field_get(&h, "Accept-Encoding"));
	assert_null(tn_http_field_get(&h, "X-On"));
}

static void test_pipelined(void **state)
{
	(void)state;
	struct tn_http_head h;
	const char *r = "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody"
			"GET /next?q HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n"
			"GET /third";
	size_t len = strlen(r);
	int n = tn_http_parse_request(r, len, &h);
	assert_int_equal(n, 49);
	assert_int_equal(h.body, TN_HTTP_BODY_LENGTH);
	assert_int_equal(h.content_length, 4);
	size_t off = (size_t)n + 4; /* past the body */
	n = tn_http_parse_request(r + off, len - off, &h);
	assert_int_equal(n, 52);
	assert_true(eq(h.path, "/next"));
	assert_true(eq(h.query, "q"));
	assert_true(eq(*tn_http_field_get(&h, "host"), "b"));
	assert_false(h.keep_alive);
	off += (size_t)n;
	assert_int_equal(tn_http_parse_request(r + off, len - off, &h), 0); /* not yet complete */
}

static void test_split_at_every_byte(void **state)
{
	(void)state;
	const char *r = "\r\nPOST /x?y HTTP/1.1\r\nHost: a\nContent-Length: 3\r\nX:\t v \r\n\r\n";
	size_t n = strlen(r);
	struct tn_http_head whole, h;
	assert_int_equal(tn_http_parse_request(r, n, &whole), (int)n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(tn_http_parse_request(r, i, &h), 0);
	assert_int_equal(tn_http_parse_request(r, n, &h), (int)n);
	assert_true(eq(h.method, "POST") && eq(h.path, "/x") && eq(h.query, "y"));
	assert_int_equal(h.nfields, whole.nfields);
	assert_int_equal(h.nfields, 3);
	assert_true(eq(h.fields[2].value, "v"));
	assert_int_equal(h.body, TN_HTTP_BODY_LENGTH);
	assert_int_equal(h.content_length, 3);
	assert_int_equal(h.head_len, whole.head_len);
}

static void test_empty_input(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_int_equal(tn_http_parse_request(NULL, 0, &h), 0);
	assert_int_equal(tn_http_parse_response(NULL, 0, false, &h), 0);
	assert_int_equal(req("\r\n", &h), 0);
	assert_int_equal(req("\r", &h), 0); /* its LF may come */
}

static void test_bare_lf(void **state)
{
	(void)state;
	struct tn_http_head h;
	const char *r = "GET /lf HTTP/1.1\nHost: a\nAccept: x\n\n";
	assert_int_equal(req(r, &h), (int)strlen(r));
	assert_true(eq(h.path, "/lf"));
	assert_int_equal(h.nfields, 2);
	assert_true(eq(h.fields[1].value, "x"));
}

static void test_bare_cr(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_int_equal(req("GET / HTTP/1.1\rHost: a\r\n\r\n", &h), -400);
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", &h), -400);
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", &h), -400);
	assert_int_equal(req("GET /\rx", &h), -400); /* known before any LF */
	assert_int_equal(req("GET / HTTP/1.1\r", &h), 0); /* a CR last may get its LF */
}

static void test_control_bytes(void **state)
{
	(void)state;
	struct tn_http_head h;
	const char nul[] = "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n";
	assert_int_equal(tn_http_parse_request(nul, sizeof(nul) - 1, &h), -400);
	const char nul_name[] = "GET / HTTP/1.1\r\nHo\0st: a\r\n\r\n";
	assert_int_equal(tn_http_parse_request(nul_name, sizeof(nul_name) - 1, &h), -400);
	assert_int_equal(req_with("X: a\x01\r\n", &h), -400);
	assert_int_equal(req_with("X: a\x7f\r\n", &h), -400);
	assert_int_equal(req_with("X: a\x1b[0m\r\n", &h), -400);
	/* HTAB and obs-text are field-value bytes */
	assert_true(req_with("X: a\tb \xc3\xa9\r\n", &h) > 0);
	assert_true(eq(*tn_http_field_get(&h, "x"), "a\tb \xc3\xa9"));
}

static void test_leading_empty_lines(void **state)
{
	(void)state;
	struct tn_http_head h;
	const char *r = "\r\n\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
	assert_int_equal(req(r, &h), (int)strlen(r)); /* the empty lines are consumed too */
	assert_true(eq(h.method, "GET"));
	assert_int_equal(req("\r\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &h), -400); /* a bare CR */
	assert_int_equal(req(" \r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &h), -400);   /* not empty */
}

static void test_method_token(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_int_equal(req("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", &h), -400);
	assert_int_equal(req("G\"T / HTTP/1.1\r\nHost: a\r\n\r\n", &h), -400);
	assert_int_equal(req(" / HTTP/1.1\r\nHost: a\r\n\r\n", &h), -400);
	assert_int_equal(req("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", &h), -400);
	assert_int_equal(req("G(", &h), -400); /* known before the line ends */
	assert_true(req("M-SEARCH~! / HTTP/1.1\r\nHost: a\r\n\r\n", &h) > 0);
	assert_true(eq(h.method, "M-SEARCH~!"));
	assert_true(req("get / HTTP/1.1\r\nHost: a\r\n\r\n", &h) > 0); /* a token, if unknown */
	assert_true(eq(h.method, "get"));
}

static void test_request_line_shape(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_int_equal(req("GET\r\n\r\n", &h), -400);
	assert_int_equal(req("GET /\r\nHost: a\r\n\r\n", &h), -400);
	assert_int_equal(req("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", &h), -400);
	assert_int_equal(req("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", &h), -400);
	assert_int_equal(req("GET / HTTP/1.1 x\r\nHost: a\r\n\r\n", &h), -400);
	assert_int_equal(req("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", &h), -400);
	assert_int_equal(req("GET / \r\nHost: a\r\n\r\n", &h), -400);
}

static void test_field_name_rules(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_int_equal(req("GET / HTTP/1.1\r\nHost : a\r\n\r\n", &h), -400);
	assert_int_equal(req("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", &h), -400);
	assert_int_equal(req_with(": empty-name\r\n", &h), -400);
	assert_int_equal(req_with("NoColon\r\n", &h), -400);
	assert_int_equal(req_with("Bad(Name): x\r\n", &h), -400);
	assert_int_equal(req_with("Bad Name: x\r\n", &h), -400);
	assert_true(req_with("X-Ok_#1: x\r\n", &h) > 0);
}

static void test_obs_fold(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n folded\r\n\r\n", &h), -400);
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\tfolded\r\n\r\n", &h), -400);
	/* whitespace right after the request line (RFC 9112 2.2) */
	assert_int_equal(req("GET / HTTP/1.1\r\n Host: a\r\n\r\n", &h), -400);
}

static void test_field_value_ows(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_true(req_with("A:   a  b \t \r\nB:\r\nC: \t \r\nD:x\r\n", &h) > 0);
	assert_true(eq(*tn_http_field_get(&h, "a"), "a  b"));
	assert_int_equal(tn_http_field_get(&h, "b")->n, 0);
	assert_int_equal(tn_http_field_get(&h, "c")->n, 0);
	assert_true(eq(*tn_http_field_get(&h, "d"), "x"));
}

static void test_version_505(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_int_equal(req("GET / HTTP/2.0\r\nHost: a\r\n\r\n", &h), -505);
	assert_int_equal(req("GET / HTTP/1.2\r\nHost: a\r\n\r\n", &h), -505);
	assert_int_equal(req("GET / HTTP/0.9\r\nHost: a\r\n\r\n", &h), -505);
	assert_int_equal(req("GET / HTTP/3.1\r\nHost: a\r\n\r\n", &h), -505);
}

static void test_version_syntax(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_int_equal(req("GET / HTTP/1.x\r\nHost: a\r\n\r\n", &h), -400);
	assert_int_equal(req("GET / http/1.1\r\nHost: a\r\n\r\n", &h), -400);
	assert_int_equal(req("GET / HTTP/1.10\r\nHost: a\r\n\r\n", &h), -400);
	assert_int_equal(req("GET / HTTP/1\r\nHost: a\r\n\r\n", &h), -400);
	assert_int_equal(req("GET / HTTP/11\r\nHost: a\r\n\r\n", &h), -400);
	assert_int_equal(req("GET / HTTPS/1.1\r\nHost: a\r\n\r\n", &h), -400);
	assert_int_equal(req("GET / HTTP/1,1\r\nHost: a\r\n\r\n", &h), -400);
	assert_true(req("GET / HTTP/1.0\r\n\r\n", &h) > 0);
	assert_int_equal(h.version_minor, 0);
}

static void test_keep_alive(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_true(req("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &h) > 0);
	assert_true(h.keep_alive);
	assert_true(req("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, CLOSE\r\n\r\n", &h) > 0);
	assert_false(h.keep_alive);
	assert_true(req("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", &h) > 0);
	assert_true(h.keep_alive); /* a token, not a substring */
	assert_true(req("GET / HTTP/1.0\r\n\r\n", &h) > 0);
	assert_false(h.keep_alive);
	assert_true(req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &h) > 0);
	assert_true(h.keep_alive);
	/* "close" wins over "keep-alive", in either field order */
	assert_true(req("GET / HTTP/1.0\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n", &h) > 0);
	assert_false(h.keep_alive);
	assert_true(req("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", &h) > 0);
	assert_false(h.keep_alive);
}

static void test_host_rules(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_int_equal(req("GET / HTTP/1.1\r\n\r\n", &h), -400);
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", &h), -400);
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", &h), -400);
	assert_int_equal(req("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", &h), -400);
	assert_true(req("GET / HTTP/1.0\r\n\r\n", &h) > 0); /* 1.0 needs none */
	assert_false(h.has_host);
	assert_true(req("GET / HTTP/1.0\r\nHost: a\r\n\r\n", &h) > 0);
	assert_true(h.has_host);
	assert_true(req("GET / HTTP/1.1\r\nHost:\r\n\r\n", &h) > 0); /* empty is allowed (RFC 9110 7.2) */
	assert_true(h.has_host);
}

static void test_content_length(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_true(req_with("Content-Length: 42\r\n", &h) > 0);
	assert_int_equal(h.body, TN_HTTP_BODY_LENGTH);
	assert_int_equal(h.content_length, 42);
	assert_true(req_with("Content-Length: 0\r\n", &h) > 0);
	assert_int_equal(h.body, TN_HTTP_BODY_NONE); /* nothing to read */
	assert_int_equal(h.content_length, 0);
	assert_true(req_with("Content-Length: 5\r\ncontent-length: 5\r\n", &h) > 0);
	assert_int_equal(h.content_length, 5);
	assert_true(req_with("Content-Length: 7 ,7\r\n", &h) > 0);
	assert_int_equal(h.content_length, 7);
	assert_true(req_with("Content-Length: 18446744073709551615\r\n", &h) > 0);
	assert_true(h.content_length == UINT64_MAX);
}

static void test_content_length_bad(void **state)
{
	(void)state;
	struct tn_http_head h;
	static const char *const bad[] = {
		"Content-Length: 5\r\nContent-Length: 6\r\n", "Content-Length: 7, 8\r\n",
		"Content-Length: -1\r\n", "Content-Length: +5\r\n", "Content-Length: 5 5\r\n",
		"Content-Length: 0x5\r\n", "Content-Length:\r\n", "Content-Length: 5,\r\n",
		"Content-Length: 18446744073709551616\r\n", "Content-Length: 99999999999999999999999\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(req_with(bad[i], &h), -400);
}

static void test_smuggling(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_int_equal(req_with("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", &h), -400);
	assert_int_equal(req_with("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", &h), -400);
	assert_int_equal(req_with("Transfer-Encoding: gzip\r\nContent-Length: 0\r\n", &h), -400);
}

static void test_transfer_encoding_501(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_int_equal(req_with("Transfer-Encoding: gzip\r\n", &h), -501);
	assert_int_equal(req_with("Transfer-Encoding: chunked, gzip\r\n", &h), -501);
	assert_int_equal(req_with("Transfer-Encoding: gzip, chunked\r\n", &h), -501);
	assert_int_equal(req_with("Transfer-Encoding: identity\r\n", &h), -501);
	assert_int_equal(req_with("Transfer-Encoding: x-unknown\r\n", &h), -501);
	assert_int_equal(req_with("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", &h), -501);
}

static void test_transfer_encoding_chunked(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_true(req_with("Transfer-Encoding: Chunked\r\n", &h) > 0);
	assert_int_equal(h.body, TN_HTTP_BODY_CHUNKED);
	assert_true(req_with("Transfer-Encoding: , chunked ,\r\n", &h) > 0); /* empty elements */
	assert_int_equal(h.body, TN_HTTP_BODY_CHUNKED);
	/* chunked twice, nothing at all, or TE in 1.0: framing faults */
	assert_int_equal(req_with("Transfer-Encoding: chunked, chunked\r\n", &h), -400);
	assert_int_equal(req_with("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", &h), -400);
	assert_int_equal(req_with("Transfer-Encoding:\r\n", &h), -400);
	assert_int_equal(req("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", &h), -400);
}

static void test_expect_continue(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_true(req_with("Expect: 100-Continue\r\nContent-Length: 1\r\n", &h) > 0);
	assert_true(h.expect_continue);
	assert_true(req_with("Expect: something-else\r\n", &h) > 0);
	assert_false(h.expect_continue);
	/* RFC 9110 10.1.1: ignored from an HTTP/1.0 client */
	assert_true(req("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", &h) > 0);
	assert_false(h.expect_continue);
}

static void test_absolute_form(void **state)
{
	(void)state;
	struct tn_http_head h;
	const char *r = "GET http://example.org/p/q?z HTTP/1.1\r\nHost: example.org\r\n\r\n";
	assert_true(req(r, &h) > 0);
	assert_true(eq(h.target, "http://example.org/p/q?z"));
	assert_true(eq(h.path, "/p/q"));
	assert_true(eq(h.query, "z"));
	r = "GET HTTP://example.org HTTP/1.1\r\nHost: example.org\r\n\r\n";
	assert_true(req(r, &h) > 0);
	assert_true(eq(h.path, "/"));
	assert_true(within(h.path, r, strlen(r))); /* the '/' is in the buffer */
	assert_int_equal(h.query.n, 0);
	assert_true(req("GET https://h:8443?x=1 HTTP/1.1\r\nHost: h\r\n\r\n", &h) > 0);
	assert_true(eq(h.path, "/"));
	assert_true(eq(h.query, "x=1"));
	assert_int_equal(req("GET http:///p HTTP/1.1\r\nHost: h\r\n\r\n", &h), -400); /* no host */
	assert_int_equal(req("GET ftp://h/p HTTP/1.1\r\nHost: h\r\n\r\n", &h), -400);
}

static void test_other_target_forms(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_true(req("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &h) > 0);
	assert_true(eq(h.target, "*"));
	assert_true(eq(h.path, "*"));
	assert_int_equal(req("GET * HTTP/1.1\r\nHost: a\r\n\r\n", &h), -400);
	assert_int_equal(req("OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n", &h), -400);
	assert_int_equal(req("GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", &h), -400);
	assert_true(req("CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n", &h) > 0);
	assert_int_equal(h.path.n, 0); /* authority-form has no path */
	assert_int_equal(req("CONNECT example.org HTTP/1.1\r\nHost: a\r\n\r\n", &h), -400);
	assert_int_equal(req("GET example.org:443 HTTP/1.1\r\nHost: a\r\n\r\n", &h), -400);
}

static void test_target_bytes(void **state)
{
	(void)state;
	struct tn_http_head h;
	const char nul[] = "GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n";
	assert_int_equal(tn_http_parse_request(nul, sizeof(nul) - 1, &h), -400);
	assert_int_equal(req("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", &h), -400);
	assert_int_equal(req("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", &h), -400);
	assert_int_equal(req("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", &h), -400);
	assert_true(req("GET /%C3%A9?a=%20 HTTP/1.1\r\nHost: a\r\n\r\n", &h) > 0);
}

/* "GET /aaa...a" with a target of n bytes, then `tail`. */
static size_t long_target(char *buf, size_t n, const char *tail)
{
	memcpy(buf, "GET /", 5);
	memset(buf + 5, 'a', n - 1);
	strcpy(buf + 4 + n, tail);
	return 4 + n + strlen(tail);
}

static void test_target_414(void **state)
{
	(void)state;
	static char buf[TN_HTTP_MAX_TARGET + 64];
	struct tn_http_head h;
	size_t n = long_target(buf, TN_HTTP_MAX_TARGET, " HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(tn_http_parse_request(buf, n, &h), (int)n); /* exactly the limit */
	assert_int_equal(h.target.n, TN_HTTP_MAX_TARGET);
	n = long_target(buf, TN_HTTP_MAX_TARGET + 1, " HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(tn_http_parse_request(buf, n, &h), -414);
	/* known as soon as the target alone is too long, long before the head ends */
	n = long_target(buf, TN_HTTP_MAX_TARGET + 1, "");
	assert_int_equal(tn_http_parse_request(buf, n, &h), -414);
	assert_int_equal(tn_http_parse_request(buf, n - 1, &h), 0);
}

static void test_head_431(void **state)
{
	(void)state;
	static char buf[TN_HTTP_MAX_HEAD + 64];
	struct tn_http_head h;
	/* a head of exactly the limit is fine; one byte more is not */
	int n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nX: ");
	size_t fill = TN_HTTP_MAX_HEAD - (size_t)n - 4;
	memset(buf + n, 'b', fill);
	memcpy(buf + n + fill, "\r\n\r\n", 4);
	assert_int_equal(tn_http_parse_request(buf, TN_HTTP_MAX_HEAD, &h), TN_HTTP_MAX_HEAD);
	memset(buf + n, 'b', fill + 1);
	memcpy(buf + n + fill + 1, "\r\n\r\n", 4);
	assert_int_equal(tn_http_parse_request(buf, TN_HTTP_MAX_HEAD + 1, &h), -431);
	/* an unfinished head: more is wanted until it cannot fit any more */
	assert_int_equal(tn_http_parse_request(buf, TN_HTTP_MAX_HEAD - 1, &h), 0);
	assert_int_equal(tn_http_parse_request(buf, TN_HTTP_MAX_HEAD, &h), -431);
}

static void test_fields_431(void **state)
{
	(void)state;
	static char buf[4096];
	struct tn_http_head h;
	int n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n");
	for (int i = 1; i < TN_HTTP_MAX_HEADERS; i++)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "X%d: y\r\n", i);
	int at = n;
	n += snprintf(buf + n, sizeof(buf) - (size_t)n, "\r\n");
	assert_int_equal(tn_http_parse_request(buf, (size_t)n, &h), n); /* exactly 64 */
	assert_int_equal(h.nfields, TN_HTTP_MAX_HEADERS);
	n = at + snprintf(buf + at, sizeof(buf) - (size_t)at, "One-Too-Many: y\r\n\r\n");
	assert_int_equal(tn_http_parse_request(buf, (size_t)n, &h), -431);
}

/* ---- responses ---- */

static void test_response_basic(void **state)
{
	(void)state;
	struct tn_http_head h;
	const char *r = "HTTP/1.1 200 OK fine\r\nContent-Length: 12\r\nServer: x\r\n\r\nhello world!";
	assert_int_equal(resp(r, false, &h), (int)strlen(r) - 12);
	assert_int_equal(h.status, 200);
	assert_true(eq(h.reason, "OK fine"));
	assert_int_equal(h.version_minor, 1);
	assert_int_equal(h.nfields, 2);
	assert_int_equal(h.body, TN_HTTP_BODY_LENGTH);
	assert_int_equal(h.content_length, 12);
	assert_true(h.keep_alive);
	for (size_t i = 0; i < strlen(r) - 12; i++)
		assert_int_equal(tn_http_parse_response(r, i, false, &h), 0);
}

static void test_response_without_body(void **state)
{
	(void)state;
	struct tn_http_head h;
	/* the answer to HEAD keeps its Content-Length, but no body follows */
	assert_true(resp("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", true, &h) > 0);
	assert_int_equal(h.body, TN_HTTP_BODY_NONE);
	assert_int_equal(h.content_length, 12);
	assert_true(h.keep_alive);
	assert_true(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true, &h) > 0);
	assert_int_equal(h.body, TN_HTTP_BODY_NONE);
	assert_true(resp("HTTP/1.1 204 No Content\r\n\r\n", false, &h) > 0);
	assert_int_equal(h.body, TN_HTTP_BODY_NONE);
	assert_true(h.keep_alive);
	assert_true(resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n", false, &h) > 0);
	assert_int_equal(h.body, TN_HTTP_BODY_NONE);
	assert_true(resp("HTTP/1.1 100 Continue\r\n\r\n", false, &h) > 0);
	assert_int_equal(h.status, 100);
	assert_int_equal(h.body, TN_HTTP_BODY_NONE);
	assert_true(resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", false, &h) > 0);
	assert_int_equal(h.body, TN_HTTP_BODY_NONE);
}

static void test_response_chunked(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_true(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false, &h) > 0);
	assert_int_equal(h.body, TN_HTTP_BODY_CHUNKED);
	assert_true(h.keep_alive);
	/* TE overrides CL (RFC 9112 6.3), and the connection closes after */
	assert_true(resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", false, &h) >
		    0);
	assert_int_equal(h.body, TN_HTTP_BODY_CHUNKED);
	assert_false(h.keep_alive);
	assert_int_equal(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", false, &h), -1);
}

static void test_response_until_close(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_true(resp("HTTP/1.0 200 OK\r\n\r\n", false, &h) > 0);
	assert_int_equal(h.body, TN_HTTP_BODY_UNTIL_CLOSE);
	assert_false(h.keep_alive);
	assert_true(resp("HTTP/1.1 200 OK\r\n\r\n", false, &h) > 0);
	assert_int_equal(h.body, TN_HTTP_BODY_UNTIL_CLOSE);
	assert_false(h.keep_alive); /* the close ends the body */
	/* a final coding other than chunked: read until close (RFC 9112 6.3) */
	assert_true(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", false, &h) > 0);
	assert_int_equal(h.body, TN_HTTP_BODY_UNTIL_CLOSE);
	assert_true(resp("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, &h) > 0);
	assert_int_equal(h.body, TN_HTTP_BODY_UNTIL_CLOSE);
	assert_true(resp("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n", false, &h) > 0);
	assert_int_equal(h.body, TN_HTTP_BODY_LENGTH);
	assert_false(h.keep_alive);
}

static void test_response_status_line(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_true(resp("HTTP/1.1 404 \r\n\r\n", false, &h) > 0);
	assert_int_equal(h.status, 404);
	assert_int_equal(h.reason.n, 0);
	assert_true(resp("HTTP/1.1 599\r\n\r\n", false, &h) > 0); /* the SP may be missing */
	assert_int_equal(h.status, 599);
	assert_int_equal(resp("HTTP/1.1 20 OK\r\n\r\n", false, &h), -1);
	assert_int_equal(resp("HTTP/1.1 2000 OK\r\n\r\n", false, &h), -1);
	assert_int_equal(resp("HTTP/1.1 099 Low\r\n\r\n", false, &h), -1);
	assert_int_equal(resp("HTTP/1.1  200 OK\r\n\r\n", false, &h), -1);
	assert_int_equal(resp("HTTX/1.1 200 OK\r\n\r\n", false, &h), -1);
	assert_int_equal(resp("HTTP/2.0 200 OK\r\n\r\n", false, &h), -1);
	assert_int_equal(resp("HTTP/1.1 200 O\x01K\r\n\r\n", false, &h), -1);
}

static void test_response_errors(void **state)
{
	(void)state;
	struct tn_http_head h;
	assert_int_equal(resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", false, &h), -1);
	assert_int_equal(resp("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false, &h), -1);
	assert_int_equal(resp("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", false, &h), -1);
	assert_int_equal(resp("HTTP/1.1 200 OK\r\n folded\r\n\r\n", false, &h), -1);
	assert_int_equal(resp("HTTP/1.1 200 OK\rX: y\r\n\r\n", false, &h), -1);
	assert_int_equal(resp("HTTP/1.1 200 OK\r\n", false, &h), 0);
	assert_int_equal(resp("HTT", false, &h), 0);
	assert_int_equal(resp("SSH-2.0", false, &h), -1); /* not HTTP: no need to wait */
	static char buf[TN_HTTP_MAX_HEAD + 8];
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "HTTP/1.1 200 OK\r\nX: ", 20);
	assert_int_equal(tn_http_parse_response(buf, sizeof(buf), false, &h), -1);
}

/* ---- chunked ---- */

struct dec {
	ssize_t rc;    /* decoded bytes, or -1 */
	size_t used;   /* input bytes consumed */
	bool done;
	char out[256]; /* the decoded body */
};

/* Decode `in` handed over `step` bytes at a time (0: a varying step). */
static struct dec decode(const char *in, size_t step)
{
	struct dec d = {0};
	struct tn_http_chunked c = {0};
	size_t n = strlen(in), o = 0, k = 1;
	while (d.used < n && !c.done) {
		size_t piece = step ? step : k++ % 5 + 1;
		char buf[64];
		if (piece > sizeof(buf))
			piece = sizeof(buf);
		if (piece > n - d.used)
			piece = n - d.used;
		memcpy(buf, in + d.used, piece);
		size_t used = piece;
		ssize_t r = tn_http_chunked_decode(&c, buf, &used);
		if (r < 0) {
			d.rc = -1;
			return d;
		}
		assert_true(used <= piece && (size_t)r <= used);
		assert_true(o + (size_t)r < sizeof(d.out));
		memcpy(d.out + o, buf, (size_t)r);
		o += (size_t)r;
		d.used += used;
		if (used < piece)
			break; /* only the end of the body stops it early */
	}
	d.rc = (ssize_t)o;
	d.done = c.done;
	return d;
}

static void test_chunked_whole(void **state)
{
	(void)state;
	char buf[] = "4\r\nWiki\r\n6\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\n\r\n";
	struct tn_http_chunked c = {0};
	size_t len = strlen(buf);
	assert_int_equal(tn_http_chunked_decode(&c, buf, &len), 24);
	assert_int_equal(len, strlen("4\r\nWiki\r\n6\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\n\r\n"));
	assert_memory_equal(buf, "Wikipedia in \r\n\r\nchunks.", 24);
	assert_true(c.done);
}

static void test_chunked_one_byte_feeds(void **state)
{
	(void)state;
	const char *body = "5;name=value;flag\r\nhello\r\n1A ; x=\"q\"\r\nabcdefghijklmnopqrstuvwxyz\r\n"
			   "0\r\nTrailer: x\r\nOther: y\r\n\r\n";
	for (size_t step = 0; step < 80; step++) {
		struct dec d = decode(body, step);
		assert_int_equal(d.rc, 31);
		assert_memory_equal(d.out, "helloabcdefghijklmnopqrstuvwxyz", 31);
		assert_true(d.done);
		assert_int_equal(d.used, strlen(body));
	}
}

static void test_chunked_then_pipelined(void **state)
{
	(void)state;
	char buf[] = "3\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n";
	size_t total = strlen(buf), len = total;
	struct tn_http_chunked c = {0};
	assert_int_equal(tn_http_chunked_decode(&c, buf, &len), 3);
	assert_int_equal(len, 13); /* the next request is left */
	assert_true(c.done);
	/* once done, nothing more is taken */
	size_t again = total - len;
	assert_int_equal(tn_http_chunked_decode(&c, buf + len, &again), 0);
	assert_int_equal(again, 0);
	struct tn_http_head h;
	assert_int_equal(tn_http_parse_request(buf + len, total - len, &h), (int)(total - len));
	assert_true(eq(h.path, "/next"));
	/* the same, byte by byte */
	struct dec d = decode("3\r\nabc\r\n0\r\nT: 1\r\n\r\nGET /next", 1);
	assert_int_equal(d.rc, 3);
	assert_int_equal(d.used, 19);
	assert_true(d.done);
}

static void test_chunked_bare_lf(void **state)
{
	(void)state;
	struct dec d = decode("3\nabc\n2;e\nde\n0\nT: x\n\n", 0);
	assert_int_equal(d.rc, 5);
	assert_memory_equal(d.out, "abcde", 5);
	assert_true(d.done);
	assert_int_equal(d.used, 21);
}

static void test_chunked_sizes(void **state)
{
	(void)state;
	struct tn_http_chunked c = {0};
	char big[] = "FFFFFFFFFFFFFFFF\r\nxy";
	size_t len = strlen(big);
	assert_int_equal(tn_http_chunked_decode(&c, big, &len), 2);
	assert_true(c.left == UINT64_MAX - 2);
	assert_false(c.done);
	struct dec d = decode("000000000000000a\r\n0123456789\r\n0\r\n\r\n", 3);
	assert_int_equal(d.rc, 10);
	assert_true(d.done);
	assert_int_equal(decode("11111111111111111\r\n", 1).rc, -1); /* 17 digits */
	assert_int_equal(decode("3\r\nab", 2).rc, 2);                 /* partial */
	assert_false(decode("3\r\nab", 2).done);
}

static void test_chunked_errors(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"g\r\n",                 /* not hex */
		"\r\n",                  /* no size */
		";x\r\n",                /* an extension without a size */
		"-1\r\n",                /* no sign */
		"3\r\nabcX\r\n",         /* no line end after the data */
		"3\r\nabc\rX",           /* CR without LF */
		"3\rX",                  /* CR without LF on the size line */
		"3 x\r\n",               /* only ';' may follow the BWS */
		"3;a\x01\r\n",           /* a control byte in an extension */
		"0\r\nT: \x01\r\n\r\n",  /* ... in a trailer */
		"0\r\nT: 1\rX\r\n\r\n",  /* a bare CR in a trailer */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		for (size_t step = 0; step < 4; step++)
			assert_int_equal(decode(bad[i], step).rc, -1);
}

static void test_chunked_bounds(void **state)
{
	(void)state;
	static char buf[3 * TN_HTTP_MAX_HEAD];
	struct tn_http_chunked c = {0};
	/* an endless extension */
	memcpy(buf, "1;", 2);
	memset(buf + 2, 'e', 8000);
	size_t len = 8002;
	assert_int_equal(tn_http_chunked_decode(&c, buf, &len), -1);
	/* endless trailers, each line short */
	memset(&c, 0, sizeof(c));
	memcpy(buf, "0\r\n", 3);
	for (size_t i = 3; i + 6 <= sizeof(buf); i += 6)
		memcpy(buf + i, "X: 1\r\n", 6);
	len = sizeof(buf);
	assert_int_equal(tn_http_chunked_decode(&c, buf, &len), -1);
}

/* ---- helpers ---- */

static void test_date(void **state)
{
	(void)state;
	char d[30];
	assert_int_equal(tn_http_date(0, d), 29);
	assert_string_equal(d, "Thu, 01 Jan 1970 00:00:00 GMT");
	assert_int_equal(tn_http_date(784111777, d), 29);
	assert_string_equal(d, "Sun, 06 Nov 1994 08:49:37 GMT");
	tn_http_date(1709211909, d);
	assert_string_equal(d, "Thu, 29 Feb 2024 13:05:09 GMT"); /* a leap day */
	tn_http_date(1709164800 - 1, d);
	assert_string_equal(d, "Wed, 28 Feb 2024 23:59:59 GMT");
	tn_http_date(951782400, d);
	assert_string_equal(d, "Tue, 29 Feb 2000 00:00:00 GMT"); /* 400-year leap */
	tn_http_date(4107542400, d);
	assert_string_equal(d, "Mon, 01 Mar 2100 00:00:00 GMT"); /* 2100 is not leap */
	tn_http_date(-1, d);
	assert_string_equal(d, "Wed, 31 Dec 1969 23:59:59 GMT");
	tn_http_date(-2203848000, d);
	assert_string_equal(d, "Thu, 01 Mar 1900 12:00:00 GMT");
}

static void test_date_extremes(void **state)
{
	(void)state;
	char d[30];
	assert_int_equal(tn_http_date(INT64_MIN, d), 29);
	assert_string_equal(d, "Sat, 01 Jan 0000 00:00:00 GMT");
	assert_int_equal(tn_http_date(INT64_MAX, d), 29);
	assert_string_equal(d, "Fri, 31 Dec 9999 23:59:59 GMT");
}

static const char *norm(const char *in, char *out, size_t cap)
{
	struct tn_http_str p = {in, strlen(in)};
	ssize_t n = tn_http_path_normalize(p, out, cap);
	if (n < 0)
		return NULL;
	assert_int_equal((size_t)n, strlen(out));
	return out;
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
	assert_string_equal(norm("/a/b/..", o, 64), "/a/");
	assert_string_equal(norm("/a/.", o, 64), "/a/");
	assert_string_equal(norm("/a/../b/./c/..", o, 64), "/b/");
	assert_string_equal(norm("/.../..a/a..", o, 64), "/.../..a/a..");
	assert_string_equal(norm("/%7Euser/x%20y", o, 64), "/~user/x y");
	assert_string_equal(norm("/a/%2e%2E/b", o, 64), "/b"); /* decoded dots count */
	assert_string_equal(norm("/a%3Fb", o, 64), "/a?b");
	assert_string_equal(norm("/a?x=/../..", o, 64), "/a"); /* the query is not the path */
	assert_string_equal(norm("/abcdef", o, 8), "/abcdef"); /* just fits with its NUL */
}

static void test_path_normalize_refused(void **state)
{
	(void)state;
	char o[64];
	static const char *const bad[] = {
		"/..", "/a/../..", "/%2e%2e/etc/passwd", "/./.././", /* above the root */
		"/a%00b", "/a%0d%0aX: y", "/a%7f",                       /* NUL and controls */
		"/a%2fb", "/a%2F..%2Fb",                                 /* encoded slashes */
		"/a%zz", "/a%4", "/a%", "/%g0",                          /* bad escapes */
		"a/b", "", "*",                                          /* not origin-form */
		"/a b", "/a\tb", "/\xc3\xa9",                            /* raw bytes no target holds */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(norm(bad[i], o, 64));
	assert_null(norm("/abcdefg", o, 8)); /* does not fit */
	assert_null(norm("/", o, 1));
}

static void test_tokens(void **state)
{
	(void)state;
	const char *list = "keep-alive, Upgrade ,close", *tab = "\tx\t,\t y";
	struct tn_http_str v = {list, strlen(list)};
	assert_true(tn_http_has_token(v, "upgrade"));
	assert_true(tn_http_has_token(v, "CLOSE"));
	assert_true(tn_http_has_token(v, "keep-alive"));
	assert_false(tn_http_has_token(v, "keep"));
	assert_false(tn_http_has_token(v, "alive, upgrade"));
	struct tn_http_str empty = {NULL, 0};
	assert_false(tn_http_has_token(empty, "close"));
	struct tn_http_str tabs = {tab, strlen(tab)};
	assert_true(tn_http_has_token(tabs, "x"));
	assert_true(tn_http_has_token(tabs, "Y"));
}

static void test_reasons(void **state)
{
	(void)state;
	assert_string_equal(tn_http_reason(200), "OK");
	assert_string_equal(tn_http_reason(404), "Not Found");
	assert_string_equal(tn_http_reason(414), "URI Too Long");
	assert_string_equal(tn_http_reason(431), "Request Header Fields Too Large");
	assert_string_equal(tn_http_reason(501), "Not Implemented");
	assert_string_equal(tn_http_reason(505), "HTTP Version Not Supported");
	assert_string_equal(tn_http_reason(799), "Unknown");
	assert_string_equal(tn_http_reason(-1), "Unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_get),
		cmocka_unit_test(test_field_get),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_split_at_every_byte),
		cmocka_unit_test(test_empty_input),
		cmocka_unit_test(test_bare_lf),
		cmocka_unit_test(test_bare_cr),
		cmocka_unit_test(test_control_bytes),
		cmocka_unit_test(test_leading_empty_lines),
		cmocka_unit_test(test_method_token),
		cmocka_unit_test(test_request_line_shape),
		cmocka_unit_test(test_field_name_rules),
		cmocka_unit_test(test_obs_fold),
		cmocka_unit_test(test_field_value_ows),
		cmocka_unit_test(test_version_505),
		cmocka_unit_test(test_version_syntax),
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_host_rules),
		cmocka_unit_test(test_content_length),
		cmocka_unit_test(test_content_length_bad),
		cmocka_unit_test(test_smuggling),
		cmocka_unit_test(test_transfer_encoding_501),
		cmocka_unit_test(test_transfer_encoding_chunked),
		cmocka_unit_test(test_expect_continue),
		cmocka_unit_test(test_absolute_form),
		cmocka_unit_test(test_other_target_forms),
		cmocka_unit_test(test_target_bytes),
		cmocka_unit_test(test_target_414),
		cmocka_unit_test(test_head_431),
		cmocka_unit_test(test_fields_431),
		cmocka_unit_test(test_response_basic),
		cmocka_unit_test(test_response_without_body),
		cmocka_unit_test(test_response_chunked),
		cmocka_unit_test(test_response_until_close),
		cmocka_unit_test(test_response_status_line),
		cmocka_unit_test(test_response_errors),
		cmocka_unit_test(test_chunked_whole),
		cmocka_unit_test(test_chunked_one_byte_feeds),
		cmocka_unit_test(test_chunked_then_pipelined),
		cmocka_unit_test(test_chunked_bare_lf),
		cmocka_unit_test(test_chunked_sizes),
		cmocka_unit_test(test_chunked_errors),
		cmocka_unit_test(test_chunked_bounds),
		cmocka_unit_test(test_date),
		cmocka_unit_test(test_date_extremes),
		cmocka_unit_test(test_path_normalize),
		cmocka_unit_test(test_path_normalize_refused),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_reasons),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
