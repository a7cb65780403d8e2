#include "app/httpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern/tern.h"

enum phase { CONNECTING, SENDING, HEAD, BODY, DONE, FAILED };

struct tn_httpc {
	struct tn_stack *s;
	int fd;
	enum phase phase;
	char *out;              /* request head and body */
	size_t out_len, out_off;
	bool was_head;          /* a HEAD request: no body follows */
	char in[TN_HTTP_MAX_HEAD + 4096];
	size_t in_len;
	struct tn_http_head head;
	char head_copy[TN_HTTP_MAX_HEAD]; /* the head, kept where head points */
	uint64_t left;          /* Content-Length bytes still to come */
	struct tn_http_chunked chunked;
	uint64_t body_bytes;
	tn_httpc_sink sink;
	void *ctx;
	int err;
};

int tn_httpc_parse_url(const char *url, uint32_t *addr, uint16_t *port, const char **target)
{
	if (strncmp(url, "http://", 7) != 0)
		return -1;
	const char *h = url + 7, *end = h + strcspn(h, ":/?");
	char host[16];
	if ((size_t)(end - h) >= sizeof(host))
		return -1;
	memcpy(host, h, (size_t)(end - h));
	host[end - h] = 0;
	struct in_addr a;
	if (inet_pton(AF_INET, host, &a) != 1)
		return -1;
	*addr = ntohl(a.s_addr);
	*port = 80;
	if (*end == ':') {
		char *e;
		unsigned long p = strtoul(end + 1, &e, 10);
		if (e == end + 1 || p == 0 || p > 65535 || (*e && *e != '/' && *e != '?'))
			return -1;
		*port = (uint16_t)p;
		end = e;
	}
	*target = *end ? end : "/";
	return 0;
}

static int fail(struct tn_httpc *c, int err)
{
	c->phase = FAILED;
	c->err = err;
	errno = err;
	return -1;
}

struct tn_httpc *tn_httpc_start(struct tn_stack *s, const struct tn_httpc_req *r, tn_httpc_sink sink, void *ctx)
{
	struct tn_httpc *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->s = s;
	c->fd = -1;
	c->sink = sink;
	c->ctx = ctx;
	const char *method = r->method ? r->method : "GET";
	c->was_head = strcmp(method, "HEAD") == 0;
	char host[64];
	struct in_addr a = {.s_addr = htonl(r->addr)};
	if (r->host)
		snprintf(host, sizeof(host), "%s", r->host);
	else if (r->port == 80)
		inet_ntop(AF_INET, &a, host, sizeof(host));
	else {
		char ip[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &a, ip, sizeof(ip));
		snprintf(host, sizeof(host), "%s:%u", ip, r->port);
	}
	char clen[48] = "";
	if (r->body_len)
		snprintf(clen, sizeof(clen), "Content-Length: %zu\r\n", r->body_len);
	const char *target = r->target ? r->target : "/";
	size_t cap = strlen(method) + strlen(target) + strlen(host) + 128 + r->body_len;
	c->out = malloc(cap);
	c->fd = tern_socket(s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (!c->out || c->fd < 0) {
		tn_httpc_free(c);
		return NULL;
	}
	int n = snprintf(c->out, cap, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: tern\r\nAccept: */*\r\n%s\r\n",
			 method, target, host, clen);
	c->out_len = (size_t)n;
	if (r->body_len) {
		memcpy(c->out + c->out_len, r->body, r->body_len);
		c->out_len += r->body_len;
	}
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(r->port), .sin_addr = a};
	int on = 1;
	if (r->fastopen && tern_setsockopt(s, c->fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &on, sizeof(on)) < 0) {
		int err = errno;
		tn_httpc_free(c);
		errno = err;
		return NULL;
	}
	if (tern_connect(s, c->fd, (struct sockaddr *)&to, sizeof(to)) < 0 && errno != EINPROGRESS) {
		int err = errno;
		tn_httpc_free(c);
		errno = err;
		return NULL;
	}
	c->phase = CONNECTING;
	return c;
}

static int deliver(struct tn_httpc *c, const char *p, size_t n)
{
	c->body_bytes += n;
	return n && c->sink && c->sink(c->ctx, p, n) < 0 ? -1 : 0;
}

/* Body bytes at c->in: hand them on; true when the body is complete. */
static int take_body(struct tn_httpc *c)
{
	size_t used = c->in_len;
	if (c->head.body == TN_HTTP_BODY_LENGTH) {
		used = c->in_len < c->left ? c->in_len : (size_t)c->left;
		if (deliver(c, c->in, used) < 0)
			return fail(c, ECANCELED);
		c->left -= used;
	} else if (c->head.body == TN_HTTP_BODY_CHUNKED) {
		ssize_t k = tn_http_chunked_decode(&c->chunked, c->in, &used);
		if (k < 0)
			return fail(c, EPROTO);
		if (deliver(c, c->in, (size_t)k) < 0)
			return fail(c, ECANCELED);
	} else if (deliver(c, c->in, used) < 0) { /* until close */
		return fail(c, ECANCELED);
	}
	memmove(c->in, c->in + used, c->in_len - used);
	c->in_len -= used;
	bool done = c->head.body == TN_HTTP_BODY_NONE ||
		    (c->head.body == TN_HTTP_BODY_LENGTH && c->left == 0) ||
		    (c->head.body == TN_HTTP_BODY_CHUNKED && c->chunked.done);
	if (done)
		c->phase = DONE;
	return done;
}

static int parse_head(struct tn_httpc *c)
{
	int rc = tn_http_parse_response(c->in, c->in_len, c->was_head, &c->head);
	if (rc == 0)
		return c->in_len >= TN_HTTP_MAX_HEAD ? fail(c, EPROTO) : 0;
	if (rc < 0)
		return fail(c, EPROTO);
	if (c->head.status / 100 == 1) { /* 100 Continue and friends: skip */
		memmove(c->in, c->in + rc, c->in_len - (size_t)rc);
		c->in_len -= (size_t)rc;
		return parse_head(c);
	}
	/* keep the head where its strings point while the buffer is reused */
	memcpy(c->head_copy, c->in, (size_t)rc);
	tn_http_parse_response(c->head_copy, (size_t)rc, c->was_head, &c->head);
	memmove(c->in, c->in + rc, c->in_len - (size_t)rc);
	c->in_len -= (size_t)rc;
	c->left = c->head.content_length;
	c->phase = BODY;
	return take_body(c);
}

static int read_some(struct tn_httpc *c)
{
	for (;;) {
		ssize_t k = tern_recv(c->s, c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
		if (k < 0)
			return errno == EAGAIN ? 0 : fail(c, errno);
		if (k == 0) {
			if (c->phase == BODY && c->head.body == TN_HTTP_BODY_UNTIL_CLOSE) {
				c->phase = DONE;
				return 1;
			}
			return fail(c, c->phase == HEAD && c->in_len == 0 ? ECONNRESET : EPROTO);
		}
		c->in_len += (size_t)k;
		int rc = c->phase == HEAD ? parse_head(c) : take_body(c);
		if (rc != 0)
			return rc;
	}
}

int tn_httpc_step(struct tn_httpc *c)
{
	if (c->phase == DONE)
		return 1;
	if (c->phase == FAILED) {
		errno = c->err;
		return -1;
	}
	if (c->phase == CONNECTING) {
		int ev = tern_sock_events(c->s, c->fd);
		if (ev & POLLERR) {
			int err = 0;
			socklen_t len = sizeof(err);
			tern_getsockopt(c->s, c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
			return fail(c, err ? err : ECONNREFUSED);
		}
		if (!(ev & POLLOUT))
			return 0;
		c->phase = SENDING;
	}
	if (c->phase == SENDING) {
		while (c->out_off < c->out_len) {
			ssize_t k = tern_send(c->s, c->fd, c->out + c->out_off, c->out_len - c->out_off, 0);
			if (k < 0)
				return errno == EAGAIN ? 0 : fail(c, errno);
			c->out_off += (size_t)k;
		}
		c->phase = HEAD;
	}
	int rc = read_some(c);
	return rc < 0 ? -1 : c->phase == DONE;
}

const struct tn_http_head *tn_httpc_head(const struct tn_httpc *c) { return &c->head; }
uint64_t tn_httpc_body_bytes(const struct tn_httpc *c) { return c->body_bytes; }

void tn_httpc_free(struct tn_httpc *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		tern_close(c->s, c->fd);
	free(c->out);
	free(c);
}
