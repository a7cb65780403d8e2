/* HTTP/1.1 message syntax (RFC 9110, RFC 9112): one parser for request and
 * response heads, a chunked-body decoder, and the small helpers the server
 * and client share.  Pure functions over caller-owned bytes: no stack, no
 * allocation, no I/O.  Every length is checked before a byte is read; the
 * strings returned point into the caller's buffer. */
#ifndef TERN_APP_HTTP_H
#define TERN_APP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TN_HTTP_MAX_HEADERS 64
#define TN_HTTP_MAX_HEAD 16384  /* request/status line + fields + blank line */
#define TN_HTTP_MAX_TARGET 8192 /* longer request-target: 414 */

struct tn_http_str {
	const char *p;
	size_t n;
};

struct tn_http_field {
	struct tn_http_str name, value; /* value without surrounding OWS */
};

enum tn_http_body {
	TN_HTTP_BODY_NONE,       /* no body */
	TN_HTTP_BODY_LENGTH,     /* content_length bytes */
	TN_HTTP_BODY_CHUNKED,    /* Transfer-Encoding: chunked */
	TN_HTTP_BODY_UNTIL_CLOSE /* responses only: read until the peer closes */
};

struct tn_http_head {
	/* request: method SP target SP HTTP/1.x; response: HTTP/1.x SP status SP reason */
	struct tn_http_str method, target, path, query; /* path/query split target at '?' */
	int status;                                     /* response status, 100..999 */
	struct tn_http_str reason;
	int version_minor; /* HTTP/1.0 -> 0, HTTP/1.1 -> 1 */
	struct tn_http_field fields[TN_HTTP_MAX_HEADERS];
	unsigned nfields;
	size_t head_len; /* bytes of the head including the blank line */
	enum tn_http_body body;
	uint64_t content_length; /* when body == TN_HTTP_BODY_LENGTH */
	bool keep_alive;         /* from the version and Connection */
	bool expect_continue;    /* request had Expect: 100-continue */
	bool has_host;           /* request had exactly one Host field */
};

/* Parse a request head from buf[0..len).
 * Returns > 0: the head is complete and that many bytes long (h->head_len);
 *         0: incomplete, read more (unless len already exceeds TN_HTTP_MAX_HEAD,
 *            which is reported as -431);
 *       < 0: the request is bad: minus the status to answer with:
 *            -400 (syntax, smuggling: both Content-Length and Transfer-Encoding,
 *            conflicting Content-Length, obs-fold, space before ':', missing Host
 *            in HTTP/1.1, control bytes), -414 (target over TN_HTTP_MAX_TARGET),
 *            -431 (head over TN_HTTP_MAX_HEAD or over TN_HTTP_MAX_HEADERS fields),
 *            -501 (a transfer coding other than chunked),
 *            -505 (a version other than HTTP/1.0 or HTTP/1.1). */
int tn_http_parse_request(const char *buf, size_t len, struct tn_http_head *h);

/* Parse a response head; request_was_head / the status decide whether a body
 * follows (1xx, 204, 304 and responses to HEAD have none).  Same return
 * convention; a bad response returns -1 (there is no one to answer). */
int tn_http_parse_response(const char *buf, size_t len, bool request_was_head,
			   struct tn_http_head *h);

/* The value of the first field called name (case-insensitive), or NULL. */
const struct tn_http_str *tn_http_field_get(const struct tn_http_head *h, const char *name);

/* Does a comma-separated field value contain token (case-insensitive)? */
bool tn_http_has_token(struct tn_http_str value, const char *token);

/* Incremental decoder for the chunked transfer coding (RFC 9112 7.1):
 * chunk sizes in hex (at most 16 digits), chunk extensions skipped,
 * trailer fields skipped.  Zero-initialise before the first call. */
struct tn_http_chunked {
	int state;
	uint64_t left;    /* bytes left in the current chunk */
	uint32_t linelen; /* bytes of the current size/trailer line seen */
	bool done;        /* the last chunk and trailers have been read */
};
/* Decode in place: reads up to *len bytes of buf, moves the body bytes they
 * carry to the front of buf and returns their count; sets *len to the bytes
 * consumed.  Returns -1 on a malformed encoding.  Stops at the end of the
 * body (c->done), leaving what follows (a pipelined message) unconsumed. */
ssize_t tn_http_chunked_decode(struct tn_http_chunked *c, char *buf, size_t *len);

/* Reason phrase for a status code ("OK", "Not Found", ...; "Unknown"). */
const char *tn_http_reason(int status);

/* IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") for unix seconds; out must
 * hold 30 bytes.  Returns the length (29). */
size_t tn_http_date(int64_t unix_seconds, char out[30]);

/* Decode %XX escapes of a request path into out (capacity cap) and resolve
 * "." and ".." segments; the result always starts with '/'.  Returns the
 * length, or -1 if the path is not origin-form, decodes to a NUL byte,
 * escapes the root with "..", or does not fit. */
ssize_t tn_http_path_normalize(struct tn_http_str path, char *out, size_t cap);

#endif
