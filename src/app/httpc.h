/* An HTTP/1.1 client for one request on tern's socket API: connect, send,
 * read the response head, deliver the body (Content-Length, chunked or
 * until close) to a sink.  Non-blocking: call tn_httpc_step() after each
 * tern_poll() until it reports done. */
#ifndef TERN_APP_HTTPC_H
#define TERN_APP_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/http.h"

struct tn_stack;

struct tn_httpc_req {
	uint32_t addr;        /* server, host order */
	uint16_t port;
	const char *host;     /* the Host field; NULL: the address */
	const char *method;   /* NULL: GET */
	const char *target;   /* NULL: "/" */
	const void *body;     /* sent with Content-Length when body_len > 0 */
	size_t body_len;
	bool fastopen;        /* TCP_FASTOPEN_CONNECT: the request rides in the SYN when a cookie is cached */
};

/* Receives body bytes as they arrive; a negative return aborts. */
typedef int (*tn_httpc_sink)(void *ctx, const void *data, size_t len);

struct tn_httpc;
struct tn_httpc *tn_httpc_start(struct tn_stack *s, const struct tn_httpc_req *r, tn_httpc_sink sink,
				void *ctx);
/* 0: in progress; 1: the whole response is in; -1: failed (errno:
 * ECONNREFUSED, ECONNRESET, ETIMEDOUT, EPROTO for a bad response, ...). */
int tn_httpc_step(struct tn_httpc *c);
/* The response head (valid once step has returned 1, or the head came). */
const struct tn_http_head *tn_httpc_head(const struct tn_httpc *c);
uint64_t tn_httpc_body_bytes(const struct tn_httpc *c);
void tn_httpc_free(struct tn_httpc *c);

/* "http://A.B.C.D[:PORT][/target]" -> address, port (80), target ("/"). */
int tn_httpc_parse_url(const char *url, uint32_t *addr, uint16_t *port, const char **target);

#endif
