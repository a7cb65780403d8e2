/* libFuzzer target: the HTTP/1.1 head parsers, the chunked decoder (fed in
 * pieces whose sizes come from the input) and the path normaliser, with
 * their promises checked: nothing returned points outside the input. */
#include <stdlib.h>
#include <string.h>

#include "app/http.h"

static void inside(const struct tn_http_str *s, const char *buf, size_t len)
{
	if (s->n && (s->p < buf || s->p + s->n > buf + len))
		abort();
}

static void check_head(const struct tn_http_head *h, const char *buf, size_t len, int rc)
{
	if (rc <= 0)
		return;
	if ((size_t)rc > len || h->head_len != (size_t)rc || h->nfields > TN_HTTP_MAX_HEADERS)
		abort();
	inside(&h->method, buf, len);
	inside(&h->target, buf, len);
	inside(&h->reason, buf, len);
	if (h->path.n && h->path.p[0] != '/')
		abort();
	for (unsigned i = 0; i < h->nfields; i++) {
		inside(&h->fields[i].name, buf, len);
		inside(&h->fields[i].value, buf, len);
	}
}

static void check_chunked(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	memcpy(buf, data, size);
	struct tn_http_chunked c = {0};
	size_t off = 0, step = size ? data[0] % 7 + 1 : 1;
	uint64_t out = 0;
	while (off < size && !c.done) {
		size_t n = size - off < step ? size - off : step;
		size_t used = n;
		ssize_t k = tn_http_chunked_decode(&c, buf + off, &used);
		if (k < 0)
			break;
		if ((size_t)k > used || used > n)
			abort();
		out += (uint64_t)k;
		if (used == 0 && !c.done)
			abort(); /* no progress on non-empty input */
		off += used;
		step = step % 13 + 1;
	}
	if (out > size)
		abort();
	free(buf);
}

static void check_path(const uint8_t *data, size_t size)
{
	char out[512];
	struct tn_http_str p = {(const char *)data, size};
	ssize_t n = tn_http_path_normalize(p, out, sizeof(out));
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(out) || out[0] != '/' || strlen(out) != (size_t)n || strstr(out, "/../") ||
	    strstr(out, "/./") || (n >= 3 && strcmp(out + n - 3, "/..") == 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a private copy: the parsers must not read past it (ASan sees to that) */
	char *buf = malloc(size ? size : 1);
	memcpy(buf, data, size);
	struct tn_http_head h;
	check_head(&h, buf, size, tn_http_parse_request(buf, size, &h));
	check_head(&h, buf, size, tn_http_parse_response(buf, size, false, &h));
	check_head(&h, buf, size, tn_http_parse_response(buf, size, true, &h));
	free(buf);
	check_chunked(data, size);
	check_path(data, size);
	return 0;
}
