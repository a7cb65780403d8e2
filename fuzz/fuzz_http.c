/* libFuzzer target: the HTTP/1.1 head parsers (request; response with and
 * without HEAD), the chunked decoder and the path normaliser, with their
 * promises checked: every string points inside the input, a complete head
 * is complete only at its end and parses again the same, chunked decoding
 * gives the same answer however the input is split, and a normalised path
 * is rooted and free of dot segments. */
#include <stdlib.h>
#include <string.h>

#include "app/http.h"

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_inside(struct tn_http_str s, const char *buf, size_t len)
{
	if (!s.p) {
		CHECK(s.n == 0);
		return;
	}
	CHECK(s.p >= buf && s.n <= len && s.p <= buf + len - s.n);
}

static void check_path(const char *p, size_t n)
{
	char out[1024];
	ssize_t k = tn_http_path_normalize((struct tn_http_str){p, n}, out, sizeof(out));
	if (k < 0)
		return;
	CHECK((size_t)k < sizeof(out) && out[0] == '/' && strlen(out) == (size_t)k);
	CHECK(!strstr(out, "/../") && !strstr(out, "/./") && !strstr(out, "//"));
	CHECK(strcmp(out, "/..") != 0 && (k < 3 || strcmp(out + k - 3, "/..") != 0));
	CHECK(k < 2 || strcmp(out + k - 2, "/.") != 0);
}

static void check_fields(const struct tn_http_head *h, const char *buf, size_t len)
{
	CHECK(h->nfields <= TN_HTTP_MAX_HEADERS);
	for (unsigned i = 0; i < h->nfields; i++) {
		check_inside(h->fields[i].name, buf, len);
		check_inside(h->fields[i].value, buf, len);
		CHECK(h->fields[i].name.n > 0);
	}
}

/* A complete head: in the buffer, its own length, and the same when parsed
 * alone (as httpd and httpc do); one byte less is merely incomplete. */
static void check_head(const char *buf, size_t len, int kind, int rc, const struct tn_http_head *h)
{
	struct tn_http_head again;
	if (rc <= 0) {
		CHECK(rc == 0 || (kind ? rc == -1
				       : rc == -400 || rc == -414 || rc == -431 || rc == -501 || rc == -505));
		return;
	}
	CHECK((size_t)rc <= len && h->head_len == (size_t)rc && rc <= TN_HTTP_MAX_HEAD);
	check_inside(h->method, buf, (size_t)rc);
	check_inside(h->target, buf, (size_t)rc);
	check_inside(h->path, buf, (size_t)rc);
	check_inside(h->query, buf, (size_t)rc);
	check_inside(h->reason, buf, (size_t)rc);
	check_fields(h, buf, (size_t)rc);
	CHECK(h->body != TN_HTTP_BODY_LENGTH || h->content_length > 0 || kind);
	int r2, r1;
	if (!kind) {
		CHECK(h->version_minor == 0 || h->version_minor == 1);
		CHECK(h->body != TN_HTTP_BODY_UNTIL_CLOSE);
		r2 = tn_http_parse_request(buf, (size_t)rc, &again);
		r1 = tn_http_parse_request(buf, (size_t)rc - 1, &again);
		check_path(h->path.p, h->path.n);
	} else {
		CHECK(h->status >= 100 && h->status <= 999);
		CHECK(kind != 2 || h->body == TN_HTTP_BODY_NONE);
		r2 = tn_http_parse_response(buf, (size_t)rc, kind == 2, &again);
		r1 = tn_http_parse_response(buf, (size_t)rc - 1, kind == 2, &again);
	}
	CHECK(r1 == 0);
	CHECK(r2 == rc);
}

struct chunk_run {
	ssize_t rc; /* decoded bytes or -1 */
	size_t used;
	bool done;
};

/* Decode a copy of data handed over in pieces: sizes from the input itself
 * (starting at byte `salt`), or all at once when salt is SIZE_MAX. */
static struct chunk_run run_chunked(const uint8_t *data, size_t size, size_t salt, char *out)
{
	struct chunk_run r = {0, 0, false};
	struct tn_http_chunked c = {0};
	char *buf = malloc(size ? size : 1);
	size_t o = 0, k = 0;
	memcpy(buf, data, size);
	while (r.used < size && !c.done) {
		size_t step = salt == SIZE_MAX ? size : data[(salt + k++) % size] % 17 + 1u;
		size_t piece = step < size - r.used ? step : size - r.used;
		size_t used = piece;
		ssize_t n = tn_http_chunked_decode(&c, buf + r.used, &used);
		if (n < 0) {
			r.rc = -1;
			break;
		}
		CHECK((size_t)n <= used && used <= piece);
		CHECK(used == piece || c.done); /* only the end of the body stops it */
		memmove(out + o, buf + r.used, (size_t)n);
		o += (size_t)n;
		r.used += used;
	}
	if (c.done) { /* and then nothing more is taken */
		size_t more = size - r.used;
		CHECK(tn_http_chunked_decode(&c, buf + r.used, &more) == 0 && more == 0);
	}
	free(buf);
	if (r.rc == 0)
		r.rc = (ssize_t)o;
	r.done = c.done;
	CHECK(o <= r.used);
	return r;
}

/* Split or whole, the decoder must agree with itself. */
static void check_chunked(const uint8_t *data, size_t size)
{
	char *a = malloc(size ? size : 1), *b = malloc(size ? size : 1);
	struct chunk_run whole = run_chunked(data, size, SIZE_MAX, a);
	struct chunk_run split = run_chunked(data, size, size ? data[0] : 0, b);
	CHECK((whole.rc < 0) == (split.rc < 0));
	if (whole.rc >= 0) {
		CHECK(whole.rc == split.rc && whole.used == split.used && whole.done == split.done);
		CHECK(memcmp(a, b, (size_t)whole.rc) == 0);
	}
	free(a);
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a private copy of exactly size bytes: ASan catches any read past it */
	char *buf = malloc(size ? size : 1);
	struct tn_http_head h;
	memcpy(buf, data, size);
	check_head(buf, size, 0, tn_http_parse_request(buf, size, &h), &h);
	check_head(buf, size, 1, tn_http_parse_response(buf, size, false, &h), &h);
	check_head(buf, size, 2, tn_http_parse_response(buf, size, true, &h), &h);
	check_path(buf, size);
	free(buf);
	check_chunked(data, size);
	return 0;
}
