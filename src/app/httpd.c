#include "app/httpd.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/filecache.h"
#include "app/http.h"
#include "tern/tern.h"

#define CHUNK 16384
#define NS 1000000000ull
#define LINGER_NS (5 * NS) /* nginx's lingering_timeout */

enum body_src { BODY_NONE, BODY_FILE, BODY_CACHED, BODY_GEN, BODY_MEM };

struct hconn {
	int fd;
	uint64_t last_active;
	uint32_t nreq;
	/* input: the request head (and body) as read, pipelined ones after it */
	char *in;
	uint32_t in_len, in_cap;
	bool reading_body;                /* head parsed, collecting its body */
	struct tn_http_head req;          /* valid while reading_body or answering */
	uint32_t head_len;
	uint64_t body_need;               /* Content-Length still to arrive */
	struct tn_http_chunked chunked;
	char *body;                       /* the request body, decoded */
	uint64_t body_len;
	/* output: a head, then a body from one source */
	bool answering;
	char hdr[1024];
	uint32_t hdr_len, hdr_off;
	enum body_src src;
	int file;
	struct tn_fcentry *cached;        /* BODY_CACHED: the file's bytes, a reference held */
	uint64_t pos, left;               /* body offset and bytes still to send */
	char *chunk;                      /* staging for generated bodies */
	uint32_t chunk_len, chunk_off;
	bool close_after;
	bool corked;                      /* TCP_CORK on while head and body are queued */
	bool lingering;                   /* our FIN is sent: read and discard until theirs */
};

struct tn_httpd {
	struct tn_stack *s;
	struct tn_httpd_cfg cfg;
	int docroot;                      /* directory fd, -1 if none */
	int listen_fd, ep;
	struct hconn **conns;             /* by tern fd */
	uint32_t nconns_cap;
	uint64_t next_sweep;
	struct tn_filecache *files;       /* NULL: none */
	struct tn_httpd_stats st;
};

static struct hconn *conn_of(struct tn_httpd *h, int fd)
{
	return fd >= 0 && (uint32_t)fd < h->nconns_cap ? h->conns[fd] : NULL;
}

static void conn_reset_request(struct hconn *c)
{
	c->reading_body = c->answering = false;
	free(c->body);
	c->body = NULL;
	c->body_len = c->body_need = 0;
	memset(&c->chunked, 0, sizeof(c->chunked));
	if (c->file >= 0)
		close(c->file);
	c->file = -1;
	if (c->cached)
		tn_fcentry_put(c->cached);
	c->cached = NULL;
	c->src = BODY_NONE;
	c->hdr_len = c->hdr_off = 0;
	c->pos = c->left = 0;
	c->chunk_len = c->chunk_off = 0;
}

static void conn_close(struct tn_httpd *h, struct hconn *c)
{
	conn_reset_request(c);
	tern_close(h->s, c->fd); /* drops the epoll registration too */
	h->conns[c->fd] = NULL;
	free(c->in);
	free(c->chunk);
	free(c);
	h->st.open--;
}

static void want_events(struct tn_httpd *h, struct hconn *c, uint32_t ev)
{
	struct epoll_event e = {.events = ev, .data.fd = c->fd};
	tern_epoll_ctl(h->s, h->ep, EPOLL_CTL_MOD, c->fd, &e);
}

/* ---- building responses ---- */

static const char *content_type(const char *path)
{
	static const char *const map[][2] = {
		{".html", "text/html; charset=utf-8"}, {".htm", "text/html; charset=utf-8"},
		{".txt", "text/plain; charset=utf-8"}, {".css", "text/css"},
		{".js", "text/javascript"},            {".json", "application/json"},
		{".png", "image/png"},                 {".jpg", "image/jpeg"},
		{".jpeg", "image/jpeg"},               {".gif", "image/gif"},
		{".svg", "image/svg+xml"},             {".ico", "image/x-icon"},
		{".pdf", "application/pdf"},           {".wasm", "application/wasm"},
	};
	const char *dot = strrchr(path, '.');
	if (dot && !strchr(dot, '/'))
		for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
			if (strcasecmp(dot, map[i][0]) == 0)
				return map[i][1];
	return "application/octet-stream";
}

/* Status line and the fields every response carries; `extra` holds any
 * further fields, each ending in CRLF. */
static void put_head(struct tn_httpd *h, struct hconn *c, int status, const char *ctype, uint64_t length,
		     const char *extra)
{
	char date[64] = "";
	if (h->cfg.wallclock) {
		char d[30];
		tn_http_date(h->cfg.wallclock(h->cfg.clock_ctx), d);
		snprintf(date, sizeof(date), "Date: %s\r\n", d);
	}
	if (c->nreq >= h->cfg.keepalive_requests)
		c->close_after = true;
	char clen[48] = ""; /* RFC 9110 8.6: never in a 204 */
	if (status != 204)
		snprintf(clen, sizeof(clen), "Content-Length: %" PRIu64 "\r\n", length);
	int n = snprintf(c->hdr, sizeof(c->hdr),
			 "HTTP/1.1 %d %s\r\nServer: tern\r\n%s%s%s%s%s%s%s\r\n",
			 status, tn_http_reason(status), date, clen, ctype ? "Content-Type: " : "",
			 ctype ? ctype : "", ctype ? "\r\n" : "", extra ? extra : "",
			 c->close_after ? "Connection: close\r\n" : "");
	c->hdr_len = n < 0 ? 0 : (uint32_t)n < sizeof(c->hdr) ? (uint32_t)n : (uint32_t)sizeof(c->hdr) - 1;
	c->hdr_off = 0;
	c->answering = true;
	h->st.requests++;
	h->st.by_class[status / 100 < 6 ? status / 100 : 5]++;
}

/* A short response whose body is its reason phrase. */
static void respond_status(struct tn_httpd *h, struct hconn *c, int status, const char *extra, bool is_head)
{
	char msg[64];
	int n = snprintf(msg, sizeof(msg), "%d %s\n", status, tn_http_reason(status));
	free(c->body); /* an error in the middle of a body: what came is dropped */
	c->body = NULL;
	c->body_len = 0;
	if (status >= 400 && status != 404 && status != 405 && status != 416)
		c->close_after = true; /* the stream may be out of step: do not read on */
	put_head(h, c, status, "text/plain; charset=utf-8", (uint64_t)n, extra);
	if (!is_head && status != 304 && status != 204) {
		c->src = BODY_MEM;
		c->body = malloc((size_t)n);
		if (c->body)
			memcpy(c->body, msg, (size_t)n);
		c->left = c->body ? (uint64_t)n : 0;
		c->pos = 0;
	}
}

/* "bytes=A-B", "bytes=A-" or "bytes=-N" against a size: true and the
 * range if it is one satisfiable range; *bad if it is unsatisfiable. */
static bool parse_range(const struct tn_http_str *v, uint64_t size, uint64_t *from, uint64_t *to, bool *bad)
{
	*bad = false;
	if (!v || v->n < 7 || strncasecmp(v->p, "bytes=", 6) != 0)
		return false;
	const char *p = v->p + 6, *end = v->p + v->n;
	uint64_t a = 0, b = 0;
	bool has_a = false, has_b = false;
	for (; p < end && *p >= '0' && *p <= '9' && a < UINT64_MAX / 10 - 9; p++, has_a = true)
		a = a * 10 + (uint64_t)(*p - '0');
	if (p == end || *p != '-')
		return false;
	for (p++; p < end && *p >= '0' && *p <= '9' && b < UINT64_MAX / 10 - 9; p++, has_b = true)
		b = b * 10 + (uint64_t)(*p - '0');
	if (p != end || (!has_a && !has_b))
		return false; /* several ranges or junk: serve the whole (allowed) */
	if (!has_a) { /* the last b bytes */
		if (b == 0 || size == 0) {
			*bad = true;
			return false;
		}
		*from = b >= size ? 0 : size - b;
		*to = size - 1;
		return true;
	}
	if (a >= size || (has_b && b < a)) {
		*bad = true;
		return false;
	}
	*from = a;
	*to = has_b && b < size ? b : size - 1;
	return true;
}

/* The file rel, if the cache holds it as it is now (sb: its stat): one
 * stat, no open.  NULL: the caller opens it (and answers 404, 301...). */
static struct tn_fcentry *cached_file(struct tn_httpd *h, const char *rel, struct stat *sb)
{
	if (!h->files || fstatat(h->docroot, rel, sb, 0) < 0 || !S_ISREG(sb->st_mode))
		return NULL;
	return tn_filecache_get(h->files, sb);
}

/* Open rel: its descriptor, or -1 once an answer is given (404, 403,
 * 301 for a directory named without its slash). */
static int open_file(struct tn_httpd *h, struct hconn *c, const char *rel, const char *path, struct stat *sb,
		     bool is_head)
{
	int fd = openat(h->docroot, rel, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, sb) < 0) {
		if (fd >= 0)
			close(fd);
		respond_status(h, c, errno == EACCES ? 403 : 404, NULL, is_head);
		return -1;
	}
	if (S_ISDIR(sb->st_mode)) { /* a directory named without its slash */
		close(fd);
		char loc[TN_HTTP_MAX_TARGET + 32];
		snprintf(loc, sizeof(loc), "Location: %s/\r\n", path);
		respond_status(h, c, 301, loc, is_head);
		return -1;
	}
	if (!S_ISREG(sb->st_mode)) {
		close(fd);
		respond_status(h, c, 403, NULL, is_head);
		return -1;
	}
	return fd;
}

/* The head for the file sb describes, and its body (or the Range asked
 * for) from the cache entry e or the descriptor fd; both are the
 * connection's now. */
static void respond_file(struct tn_httpd *h, struct hconn *c, const char *rel, const struct stat *sb, int fd,
			 struct tn_fcentry *e, bool is_head)
{
	c->file = fd;
	c->cached = e;
	uint64_t size = (uint64_t)sb->st_size, from = 0, to = size ? size - 1 : 0;
	bool bad;
	bool ranged = parse_range(tn_http_field_get(&c->req, "Range"), size, &from, &to, &bad);
	char extra[160];
	if (bad) {
		snprintf(extra, sizeof(extra), "Content-Range: bytes */%" PRIu64 "\r\n", size);
		respond_status(h, c, 416, extra, is_head);
		return;
	}
	char lm[30];
	tn_http_date((int64_t)sb->st_mtime, lm);
	int k = snprintf(extra, sizeof(extra), "Accept-Ranges: bytes\r\nLast-Modified: %s\r\n", lm);
	if (ranged)
		snprintf(extra + k, sizeof(extra) - (size_t)k, "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64 "\r\n",
			 from, to, size);
	uint64_t len = size ? to - from + 1 : 0;
	put_head(h, c, ranged ? 206 : 200, content_type(rel), len, extra);
	if (is_head || len == 0)
		return;
	c->src = e ? BODY_CACHED : BODY_FILE;
	c->pos = from;
	c->left = len;
}

/* A file of the document root: from the cache when it holds the file as
 * it is, else from the file, read into the cache on the way when it may
 * be (a body is wanted, the file is small and settled). */
static void serve_file(struct tn_httpd *h, struct hconn *c, const char *path, bool is_head)
{
	char rel[TN_HTTP_MAX_TARGET + 16];
	size_t n = strlen(path);
	/* relative to the document root; a directory's index for a trailing slash */
	snprintf(rel, sizeof(rel), "%s%s", path + 1, path[n - 1] == '/' ? "index.html" : "");
	struct stat sb;
	struct tn_fcentry *e = cached_file(h, rel, &sb);
	if (e) {
		respond_file(h, c, rel, &sb, -1, e, is_head);
		return;
	}
	int fd = open_file(h, c, rel, path, &sb, is_head);
	if (fd < 0)
		return;
	if (h->files && !is_head)
		e = tn_filecache_fill(h->files, fd, &sb, h->cfg.wallclock(h->cfg.clock_ctx));
	if (e) {
		close(fd);
		fd = -1;
	}
	respond_file(h, c, rel, &sb, fd, e, is_head);
}

/* /gen/N: N generated bytes, for load tests without a document root. */
static bool serve_gen(struct tn_httpd *h, struct hconn *c, const char *path, bool is_head)
{
	if (strncmp(path, "/gen/", 5) != 0)
		return false;
	uint64_t n = 0;
	const char *p = path + 5;
	if (!*p)
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (UINT64_MAX - 9) / 10)
			return false;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	if (*p)
		return false;
	put_head(h, c, 200, "application/octet-stream", n, NULL);
	if (!is_head && n) {
		c->src = BODY_GEN;
		c->pos = 0;
		c->left = n;
	}
	return true;
}

static void answer(struct tn_httpd *h, struct hconn *c)
{
	struct tn_http_head *r = &c->req;
	c->nreq++;
	if (!r->keep_alive)
		c->close_after = true;
	bool get = r->method.n == 3 && memcmp(r->method.p, "GET", 3) == 0;
	bool head = r->method.n == 4 && memcmp(r->method.p, "HEAD", 4) == 0;
	bool post = r->method.n == 4 && memcmp(r->method.p, "POST", 4) == 0;
	bool options = r->method.n == 7 && memcmp(r->method.p, "OPTIONS", 7) == 0;
	char path[TN_HTTP_MAX_TARGET + 1];
	ssize_t plen = r->target.n == 1 && r->target.p[0] == '*' ? -2
				 : tn_http_path_normalize(r->path, path, sizeof(path));
	if (options) {
		put_head(h, c, 204, NULL, 0, "Allow: GET, HEAD, POST, OPTIONS\r\n");
		return;
	}
	if (plen < 0) {
		respond_status(h, c, 400, NULL, head);
		return;
	}
	if (post && strcmp(path, "/echo") == 0) {
		put_head(h, c, 200, "application/octet-stream", c->body_len, NULL);
		c->src = BODY_MEM; /* the request body, now the response body */
		c->pos = 0;
		c->left = c->body_len;
		return;
	}
	if (!get && !head) {
		respond_status(h, c, 405, "Allow: GET, HEAD, POST, OPTIONS\r\n", head);
		return;
	}
	if (serve_gen(h, c, path, head))
		return;
	if (h->docroot < 0) {
		respond_status(h, c, 404, NULL, head);
		return;
	}
	serve_file(h, c, path, head);
}

/* ---- reading requests ---- */

static int grow_in(struct hconn *c, uint32_t need)
{
	if (c->in_cap >= need)
		return 0;
	uint32_t cap = c->in_cap ? c->in_cap : 4096;
	while (cap < need)
		cap *= 2;
	char *n = realloc(c->in, cap);
	if (!n)
		return -1;
	c->in = n;
	c->in_cap = cap;
	return 0;
}

/* Move the request body out of the input buffer as it arrives.  Returns
 * 1 when complete, 0 for more, -status on error. */
static int take_body(struct tn_httpd *h, struct hconn *c)
{
	char *p = c->in + c->head_len;
	size_t avail = c->in_len - c->head_len, used;
	uint64_t got;
	if (c->req.body == TN_HTTP_BODY_LENGTH) {
		got = avail < c->body_need ? avail : c->body_need;
		used = (size_t)got;
	} else {
		used = avail;
		ssize_t k = tn_http_chunked_decode(&c->chunked, p, &used);
		if (k < 0)
			return -400;
		got = (uint64_t)k;
	}
	if (c->body_len + got > h->cfg.max_body)
		return -413;
	if (got) {
		char *b = realloc(c->body, (size_t)(c->body_len + got));
		if (!b)
			return -500;
		memcpy(b + c->body_len, p, (size_t)got);
		c->body = b;
		c->body_len += got;
	}
	memmove(p, p + used, avail - used);
	c->in_len -= (uint32_t)used;
	if (c->req.body == TN_HTTP_BODY_LENGTH) {
		c->body_need -= got;
		return c->body_need == 0;
	}
	return c->chunked.done;
}

/* Drop the answered request from the input; what follows is pipelined. */
static void consume_request(struct hconn *c)
{
	memmove(c->in, c->in + c->head_len, c->in_len - c->head_len);
	c->in_len -= c->head_len;
	c->head_len = 0;
}

/* A request we will not serve: answer with status, drop what is buffered
 * (the stream may be out of step) and close after the answer. */
static void reject(struct tn_httpd *h, struct hconn *c, int status)
{
	c->nreq++;
	respond_status(h, c, status, NULL, false);
	c->in_len = 0;
}

/* Parse what is buffered: start answering if a whole request is here. */
static void parse_input(struct tn_httpd *h, struct hconn *c)
{
	if (!c->reading_body) {
		int rc = tn_http_parse_request(c->in, c->in_len, &c->req);
		if (rc == 0)
			return;
		if (rc < 0) {
			reject(h, c, -rc);
			return;
		}
		c->head_len = (uint32_t)rc;
		c->reading_body = c->req.body != TN_HTTP_BODY_NONE;
		c->body_need = c->req.body == TN_HTTP_BODY_LENGTH ? c->req.content_length : 0;
		if (c->req.body == TN_HTTP_BODY_LENGTH && c->body_need > h->cfg.max_body) {
			reject(h, c, 413);
			return;
		}
		if (c->reading_body && c->req.expect_continue && c->in_len == c->head_len) {
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
			tern_send(h->s, c->fd, cont, sizeof(cont) - 1, 0);
		}
	}
	if (c->reading_body) {
		int rc = take_body(h, c);
		if (rc == 0)
			return;
		if (rc < 0) {
			reject(h, c, -rc);
			return;
		}
		c->reading_body = false;
		/* the input buffer may have moved while the body came: point
		 * the parsed head at where it is now */
		tn_http_parse_request(c->in, c->head_len, &c->req);
	}
	answer(h, c);
}

/* ---- writing responses ---- */

/* Generated bytes for /gen/N, a chunk at a time. */
static bool fill_chunk(struct hconn *c)
{
	if (!c->chunk && !(c->chunk = malloc(CHUNK)))
		return false;
	uint32_t n = c->left < CHUNK ? (uint32_t)c->left : CHUNK;
	for (uint32_t i = 0; i < n; i++)
		c->chunk[i] = tn_httpd_gen_byte(c->pos + i);
	c->chunk_len = n;
	c->chunk_off = 0;
	c->pos += n;
	c->left -= n;
	return true;
}

/* A file body goes from the file into the send buffer with no copy of
 * ours between (tern_sendfile).  Returns bytes taken, 0 when the socket is
 * full, -1 to close: an error, or the file ended early (it shrank). */
static ssize_t send_file_part(struct tn_httpd *h, struct hconn *c)
{
	off_t off = (off_t)c->pos;
	ssize_t k = tern_sendfile(h->s, c->fd, c->file, &off, c->left);
	if (k < 0)
		return errno == EAGAIN ? 0 : -1;
	if (k == 0)
		return -1;
	c->pos += (uint64_t)k;
	c->left -= (uint64_t)k;
	return k;
}

/* A body from the file cache: lent, not copied, to the send buffer. */
static ssize_t send_cached_part(struct tn_httpd *h, struct hconn *c)
{
	ssize_t k = tern_send_lent(h->s, c->fd, c->cached->data + c->pos, c->left, &c->cached->lent);
	if (k < 0)
		return errno == EAGAIN ? 0 : -1;
	c->pos += (uint64_t)k;
	c->left -= (uint64_t)k;
	return k;
}

/* A memory or generated body: from the request body or the chunk. */
static ssize_t send_buffered_part(struct tn_httpd *h, struct hconn *c)
{
	const char *p;
	uint32_t n;
	if (c->src == BODY_MEM) {
		p = c->body + c->pos;
		n = c->left < CHUNK * 4 ? (uint32_t)c->left : CHUNK * 4;
	} else {
		if (c->chunk_off == c->chunk_len && !fill_chunk(c))
			return -1;
		p = c->chunk + c->chunk_off;
		n = c->chunk_len - c->chunk_off;
	}
	ssize_t k = tern_send(h->s, c->fd, p, n, 0);
	if (k < 0)
		return errno == EAGAIN ? 0 : -1;
	if (c->src == BODY_MEM) {
		c->pos += (uint64_t)k;
		c->left -= (uint64_t)k;
	} else {
		c->chunk_off += (uint32_t)k;
	}
	return k;
}

/* Returns 1 when the response is out, 0 when the socket is full, -1 to close. */
static int push_body(struct tn_httpd *h, struct hconn *c)
{
	while (c->left || c->chunk_off < c->chunk_len) {
		ssize_t k = c->src == BODY_FILE     ? send_file_part(h, c)
			  : c->src == BODY_CACHED ? send_cached_part(h, c)
						  : send_buffered_part(h, c);
		if (k <= 0)
			return (int)k;
		h->st.bytes_out += (uint64_t)k;
	}
	return 1;
}

static void set_cork(struct tn_httpd *h, struct hconn *c, bool on)
{
	int v = on;
	tern_setsockopt(h->s, c->fd, IPPROTO_TCP, TCP_CORK, &v, sizeof(v));
	c->corked = on;
}

static int push_head(struct tn_httpd *h, struct hconn *c)
{
	while (c->hdr_off < c->hdr_len) {
		ssize_t k = tern_send(h->s, c->fd, c->hdr + c->hdr_off, c->hdr_len - c->hdr_off, 0);
		if (k < 0)
			return errno == EAGAIN ? 0 : -1;
		c->hdr_off += (uint32_t)k;
		h->st.bytes_out += (uint64_t)k;
	}
	return 1;
}

/* With TCP_NODELAY the head left as a segment of its own, ahead of the
 * body's first: a frame more per response for both ends.  Corked while
 * head and body are queued (as nginx's tcp_nopush), only full segments
 * go; uncorking once all is queued sends the tail at once. */
static int push_response(struct tn_httpd *h, struct hconn *c)
{
	if (c->src != BODY_NONE && !c->corked && c->hdr_off == 0)
		set_cork(h, c, true);
	int rc = push_head(h, c);
	if (rc == 1 && c->src != BODY_NONE)
		rc = push_body(h, c);
	if (rc != 0 && c->corked)
		set_cork(h, c, false);
	return rc;
}

static void linger_read(struct tn_httpd *h, struct hconn *c)
{
	char sink[4096];
	ssize_t k;
	while ((k = tern_recv(h->s, c->fd, sink, sizeof(sink), 0)) > 0)
		;
	if (k == 0 || errno != EAGAIN)
		conn_close(h, c);
}

/* Read, answer and write until the connection would block. */
static void conn_work(struct tn_httpd *h, struct hconn *c)
{
	if (c->lingering) {
		linger_read(h, c);
		return;
	}
	c->last_active = tern_now(h->s);
	for (;;) {
		if (c->answering) {
			int rc = push_response(h, c);
			if (rc < 0) {
				conn_close(h, c);
				return;
			}
			if (rc == 0) {
				want_events(h, c, EPOLLOUT | EPOLLRDHUP);
				return;
			}
			bool done = c->close_after;
			conn_reset_request(c);
			if (done) {
				/* A lingering close, as nginx: closing with unread
				 * input would send a RST that can destroy the response
				 * in flight, so send our FIN and read until theirs. */
				tern_shutdown(h->s, c->fd, SHUT_WR);
				c->lingering = true;
				c->in_len = 0;
				want_events(h, c, EPOLLIN | EPOLLRDHUP);
				linger_read(h, c);
				return;
			}
			consume_request(c);
			want_events(h, c, EPOLLIN | EPOLLRDHUP);
			if (c->in_len) { /* a pipelined request is already here */
				parse_input(h, c);
				continue;
			}
		}
		if (grow_in(c, c->in_len + 4096) < 0) {
			conn_close(h, c);
			return;
		}
		ssize_t k = tern_recv(h->s, c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
		if (k == 0 || (k < 0 && errno != EAGAIN)) {
			conn_close(h, c);
			return;
		}
		if (k < 0)
			return;
		c->in_len += (uint32_t)k;
		if (!c->reading_body && c->in_len > TN_HTTP_MAX_HEAD + 4096u) {
			reject(h, c, 431);
			continue;
		}
		parse_input(h, c);
	}
}

/* Accept what the listener holds; how many. */
static unsigned accept_all(struct tn_httpd *h)
{
	unsigned accepted = 0;
	while (h->st.open < h->cfg.max_conns) {
		int fd = tern_accept(h->s, h->listen_fd, NULL, NULL);
		if (fd < 0)
			return accepted;
		if ((uint32_t)fd >= h->nconns_cap) {
			uint32_t cap = h->nconns_cap ? h->nconns_cap : 1024;
			while (cap <= (uint32_t)fd)
				cap *= 2;
			struct hconn **n = realloc(h->conns, cap * sizeof(*n));
			if (!n) {
				tern_close(h->s, fd);
				continue;
			}
			memset(n + h->nconns_cap, 0, (cap - h->nconns_cap) * sizeof(*n));
			h->conns = n;
			h->nconns_cap = cap;
		}
		struct hconn *c = calloc(1, sizeof(*c));
		struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = fd};
		if (!c || tern_epoll_ctl(h->s, h->ep, EPOLL_CTL_ADD, fd, &e) < 0) {
			free(c);
			tern_close(h->s, fd);
			continue;
		}
		/* as nginx's tcp_nodelay: a response's last small segment must
		 * not wait for the ACK of the one before (Nagle against the
		 * client's delayed ACK costs 40 ms per response) */
		int on = 1;
		tern_setsockopt(h->s, fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
		c->fd = fd;
		c->file = -1;
		c->last_active = tern_now(h->s);
		h->conns[fd] = c;
		h->st.open++;
		h->st.accepted++;
		accepted++;
	}
	return accepted;
}

/* Close connections idle past the keep-alive timeout: a sweep once a
 * second costs little next to the traffic of that many connections. */
static void sweep_idle(struct tn_httpd *h)
{
	uint64_t now = tern_now(h->s);
	if (now < h->next_sweep)
		return;
	h->next_sweep = now + NS;
	for (uint32_t i = 0; i < h->nconns_cap; i++) {
		struct hconn *c = h->conns[i];
		uint64_t limit = c && c->lingering ? LINGER_NS : h->cfg.keepalive_timeout_ns;
		if (c && !c->answering && now - c->last_active > limit) {
			h->st.timeouts++;
			conn_close(h, c);
		}
	}
}

/* Serve what the epoll set reports, 256 events at a time until fewer
 * come; true if that accepted connections. */
static bool serve_ready(struct tn_httpd *h, unsigned *work)
{
	struct epoll_event evs[256];
	bool accepted = false;
	int n;
	while ((n = tern_epoll_wait(h->s, h->ep, evs, 256)) > 0) {
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == h->listen_fd) {
				accepted |= accept_all(h) > 0;
				continue;
			}
			struct hconn *c = conn_of(h, fd);
			if (c)
				conn_work(h, c);
		}
		*work += (unsigned)n;
		if (n < 256)
			break;
	}
	return accepted;
}

unsigned tn_httpd_step(struct tn_httpd *h)
{
	unsigned work = 0;
	bool accepted = serve_ready(h, &work);
	if (h->st.open < h->cfg.max_conns) /* room again: take what waited */
		accepted |= accept_all(h) > 0;
	/* A connection accepted with its request already in (the handshake's
	 * last ACK and the request came in one burst) is ready now: serve it
	 * in this step.  Left to the next, it waited for whatever woke the
	 * server's loop next, up to the loop's 1 s cap. */
	for (int round = 0; accepted && round < 8; round++)
		accepted = serve_ready(h, &work);
	sweep_idle(h);
	return work;
}

struct tn_httpd *tn_httpd_new(struct tn_stack *s, const struct tn_httpd_cfg *cfg)
{
	struct tn_httpd *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->s = s;
	h->cfg = *cfg;
	if (!h->cfg.max_conns)
		h->cfg.max_conns = 10000;
	if (!h->cfg.keepalive_requests)
		h->cfg.keepalive_requests = 1000;
	if (!h->cfg.keepalive_timeout_ns)
		h->cfg.keepalive_timeout_ns = 75 * NS;
	if (!h->cfg.max_body)
		h->cfg.max_body = 1 << 20;
	h->docroot = -1;
	h->listen_fd = h->ep = -1;
	if (cfg->docroot && (h->docroot = open(cfg->docroot, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		goto fail;
	uint64_t cache = cfg->file_cache_bytes ? cfg->file_cache_bytes : TN_HTTPD_FILE_CACHE_DEFAULT;
	if (cfg->docroot && cfg->wallclock && cache != TN_HTTPD_NO_FILE_CACHE && !(h->files = tn_filecache_new(cache)))
		goto fail;
	h->listen_fd = tern_socket(s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int on = 1;
	tern_setsockopt(s, h->listen_fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(cfg->port),
				.sin_addr.s_addr = htonl(cfg->addr)};
	if (h->listen_fd < 0 || tern_bind(s, h->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    tern_listen(s, h->listen_fd, 4096) < 0)
		goto fail;
	h->ep = tern_epoll_create(s);
	struct epoll_event e = {.events = EPOLLIN, .data.fd = h->listen_fd};
	if (h->ep < 0 || tern_epoll_ctl(s, h->ep, EPOLL_CTL_ADD, h->listen_fd, &e) < 0)
		goto fail;
	return h;
fail:;
	int err = errno;
	tn_httpd_free(h);
	errno = err;
	return NULL;
}

const struct tn_httpd_stats *tn_httpd_stats(const struct tn_httpd *h) { return &h->st; }

const struct tn_filecache_stats *tn_httpd_file_cache_stats(const struct tn_httpd *h)
{
	return h->files ? tn_filecache_stats(h->files) : NULL;
}

void tn_httpd_free(struct tn_httpd *h)
{
	if (!h)
		return;
	for (uint32_t i = 0; i < h->nconns_cap; i++)
		if (h->conns[i])
			conn_close(h, h->conns[i]);
	free(h->conns);
	if (h->ep >= 0)
		tern_close(h->s, h->ep);
	if (h->listen_fd >= 0)
		tern_close(h->s, h->listen_fd);
	if (h->docroot >= 0)
		close(h->docroot);
	tn_filecache_free(h->files); /* entries still in send buffers go with them */
	free(h);
}
