/* HTTP/1.1 message syntax (RFC 9110, RFC 9112): request and response heads,
 * the chunked transfer coding and the helpers httpd and httpc share.
 * Every byte read is below buf + len, nothing is allocated and nothing
 * static is written, so any number of connections may parse at once. */
#include "app/http.h"

#include <string.h>

/* ---- bytes and strings ---- */

/* RFC 9110 5.6.2: the bytes of a token (methods, field names, codings). */
static bool is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_ows(char c) { return c == ' ' || c == '\t'; }

/* Field values, reason phrases, extensions: HTAB, SP, VCHAR, obs-text.
 * Every other control byte (NUL, a bare CR, DEL) is refused: a peer
 * that sends one is either broken or hiding a line break. */
static bool is_text(char ch)
{
	unsigned char c = (unsigned char)ch;
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* A request-target byte: visible ASCII only (RFC 3986 has no others). */
static bool is_vchar(char ch) { return (unsigned char)ch > 0x20 && (unsigned char)ch < 0x7f; }

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static struct tn_http_str str_at(const char *p, size_t n) { return (struct tn_http_str){p, n}; }

/* Case-insensitive: does s start with z? */
static bool str_iprefix(struct tn_http_str s, const char *z)
{
	size_t n = strlen(z);
	if (s.n < n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower(s.p[i]) != lower(z[i]))
			return false;
	return true;
}

static bool str_ieq(struct tn_http_str s, const char *z) { return s.n == strlen(z) && str_iprefix(s, z); }

/* Methods are case-sensitive (RFC 9110 9.1). */
static bool str_eq(struct tn_http_str s, const char *z)
{
	return s.n == strlen(z) && memcmp(s.p, z, s.n) == 0;
}

static struct tn_http_str trim_ows(struct tn_http_str s)
{
	while (s.n && is_ows(s.p[0]))
		s.p++, s.n--;
	while (s.n && is_ows(s.p[s.n - 1]))
		s.n--;
	return s;
}

/* The next element of a comma-separated list (RFC 9110 5.6.1) with its OWS
 * trimmed; false once the list is exhausted.  *pos starts at 0.  An empty
 * value has no elements (and its pointer may be NULL: never offset it). */
static bool list_next(struct tn_http_str v, size_t *pos, struct tn_http_str *item)
{
	if (!v.n || *pos > v.n)
		return false;
	size_t end = *pos;
	while (end < v.n && v.p[end] != ',')
		end++;
	*item = trim_ows(str_at(v.p + *pos, end - *pos));
	*pos = end + 1;
	return true;
}

bool tn_http_has_token(struct tn_http_str value, const char *token)
{
	struct tn_http_str item;
	size_t pos = 0;
	while (list_next(value, &pos, &item))
		if (str_ieq(item, token))
			return true;
	return false;
}

const struct tn_http_str *tn_http_field_get(const struct tn_http_head *h, const char *name)
{
	for (unsigned i = 0; i < h->nfields; i++)
		if (str_ieq(h->fields[i].name, name))
			return &h->fields[i].value;
	return NULL;
}

/* Decimal digits only, refusing rather than wrapping past UINT64_MAX. */
static bool parse_u64(struct tn_http_str s, uint64_t *out)
{
	uint64_t v = 0;
	if (!s.n)
		return false;
	for (size_t i = 0; i < s.n; i++) {
		if (!is_digit(s.p[i]))
			return false;
		unsigned d = (unsigned)(s.p[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* ---- lines ---- */

/* The next line of buf[*off..len) without its CRLF (or bare LF, RFC 9112
 * 2.2).  Returns 1 with the line, 0 if its end has not arrived, -1 for a
 * CR anywhere but just before the LF (a CR as the last byte so far may
 * still get its LF). */
static int next_line(const char *buf, size_t len, size_t *off, struct tn_http_str *line)
{
	if (*off >= len)
		return 0; /* and buf may be NULL when len is 0 */
	const char *p = buf + *off;
	size_t avail = len - *off;
	const char *lf = memchr(p, '\n', avail);
	size_t n = lf ? (size_t)(lf - p) : avail;
	if (lf && n && p[n - 1] == '\r')
		n--;
	const char *cr = memchr(p, '\r', n);
	if (cr && (lf || cr != p + avail - 1))
		return -1;
	if (!lf)
		return 0;
	*line = str_at(p, n);
	*off = (size_t)(lf + 1 - buf);
	return 1;
}

/* HTTP-version = "HTTP/" DIGIT "." DIGIT (case-sensitive, RFC 9112 2.3):
 * other syntax is 400, another version of the right shape 505. */
static int parse_version(const char *p, size_t n, int *minor)
{
	if (n != 8 || memcmp(p, "HTTP/", 5) != 0 || !is_digit(p[5]) || p[6] != '.' || !is_digit(p[7]))
		return -400;
	if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
		return -505;
	*minor = p[7] - '0';
	return 0;
}

/* field-line = field-name ":" OWS field-value OWS (RFC 9112 5). */
static int parse_field(struct tn_http_str line, struct tn_http_field *f)
{
	size_t i = 0;
	/* a leading SP/HTAB is obs-fold (or whitespace after the start line):
	 * RFC 9112 5.2 and 2.2 let a server refuse it, and so it does */
	while (i < line.n && is_tchar((unsigned char)line.p[i]))
		i++;
	/* this also catches whitespace between name and colon (RFC 9112 5.1) */
	if (i == 0 || i == line.n || line.p[i] != ':')
		return -400;
	f->name = str_at(line.p, i);
	f->value = trim_ows(str_at(line.p + i + 1, line.n - i - 1));
	for (size_t k = 0; k < f->value.n; k++)
		if (!is_text(f->value.p[k]))
			return -400;
	return 0;
}

/* Field lines from off to the empty line.  Returns the head length, 0 for
 * more, or -status.  A head that has reached TN_HTTP_MAX_HEAD bytes
 * without its end is certain to be too long: 431 without waiting. */
static int parse_fields(const char *buf, size_t len, size_t off, struct tn_http_head *h)
{
	for (;;) {
		struct tn_http_str line;
		int rc = next_line(buf, len, &off, &line);
		if (rc < 0)
			return -400;
		if (rc == 0)
			return len >= TN_HTTP_MAX_HEAD ? -431 : 0;
		if (off > TN_HTTP_MAX_HEAD)
			return -431;
		if (!line.n)
			break;
		if (h->nfields == TN_HTTP_MAX_HEADERS)
			return -431;
		if (parse_field(line, &h->fields[h->nfields]) < 0)
			return -400;
		h->nfields++;
	}
	h->head_len = off;
	return (int)off;
}

/* ---- framing: what the fields say about the body and the connection ---- */

struct framing {
	uint64_t cl;
	bool cl_seen, te_seen;
	unsigned codings, chunked; /* transfer codings, and how many were chunked */
	bool other_coding;         /* any coding but chunked */
	bool last_chunked;         /* the final coding is chunked */
	bool close, keep_alive, expect_continue;
	unsigned hosts;
};

/* Content-Length (RFC 9110 8.6): digits only.  Repeated fields or a list
 * are accepted only if every value is the same (RFC 9112 6.3 item 5). */
static bool add_content_length(struct tn_http_str v, struct framing *f)
{
	struct tn_http_str item;
	size_t pos = 0;
	bool any = false;
	while (list_next(v, &pos, &item)) {
		uint64_t x;
		if (!parse_u64(item, &x) || (f->cl_seen && x != f->cl))
			return false;
		f->cl = x;
		f->cl_seen = any = true;
	}
	return any;
}

/* Transfer-Encoding, over all its fields as one list (RFC 9110 5.3). */
static void add_transfer_encoding(struct tn_http_str v, struct framing *f)
{
	struct tn_http_str item;
	size_t pos = 0;
	f->te_seen = true;
	while (list_next(v, &pos, &item)) {
		if (!item.n)
			continue; /* empty list elements do not count (RFC 9110 5.6.1) */
		f->last_chunked = str_ieq(item, "chunked");
		f->codings++;
		f->chunked += f->last_chunked;
		f->other_coding |= !f->last_chunked;
	}
}

/* Read the framing fields; false for an unusable Content-Length. */
static bool collect(const struct tn_http_head *h, struct framing *f)
{
	memset(f, 0, sizeof(*f));
	for (unsigned i = 0; i < h->nfields; i++) {
		struct tn_http_str n = h->fields[i].name, v = h->fields[i].value;
		if (str_ieq(n, "content-length")) {
			if (!add_content_length(v, f))
				return false;
		} else if (str_ieq(n, "transfer-encoding")) {
			add_transfer_encoding(v, f);
		} else if (str_ieq(n, "connection")) {
			/* "close" anywhere wins, whatever else is said */
			f->close |= tn_http_has_token(v, "close");
			f->keep_alive |= tn_http_has_token(v, "keep-alive");
		} else if (str_ieq(n, "host")) {
			f->hosts++;
		} else if (str_ieq(n, "expect")) {
			f->expect_continue |= tn_http_has_token(v, "100-continue");
		}
	}
	return true;
}

/* Persistence (RFC 9112 9.3): 1.1 unless "close", 1.0 only on "keep-alive". */
static bool persistent(int minor, const struct framing *f)
{
	if (f->close)
		return false;
	return minor == 1 || f->keep_alive;
}

/* Transfer-Encoding that no reading can make sense of: nothing but empty
 * elements, or chunked applied twice (RFC 9112 6.1 forbids it). */
static bool te_malformed(const struct framing *f) { return f->te_seen && (!f->codings || f->chunked > 1); }

static int request_framing(struct tn_http_head *h)
{
	struct framing f;
	if (!collect(h, &f) || te_malformed(&f))
		return -400;
	if (f.te_seen && f.cl_seen)
		return -400; /* RFC 9112 6.1: the classic smuggling pair */
	if (f.te_seen && h->version_minor == 0)
		return -400; /* RFC 9112 6.1: 1.0 framing with TE is faulty */
	if (f.other_coding)
		return -501; /* only chunked is understood (RFC 9112 6.1) */
	if (f.hosts > 1 || (h->version_minor == 1 && !f.hosts))
		return -400; /* RFC 9112 3.2 */
	h->has_host = f.hosts == 1;
	h->keep_alive = persistent(h->version_minor, &f);
	/* RFC 9110 10.1.1: 100-continue from a 1.0 client is ignored */
	h->expect_continue = f.expect_continue && h->version_minor == 1;
	h->content_length = f.cl;
	/* Content-Length: 0 carries nothing to read: no body at all */
	if (f.te_seen)
		h->body = TN_HTTP_BODY_CHUNKED;
	else
		h->body = f.cl ? TN_HTTP_BODY_LENGTH : TN_HTTP_BODY_NONE;
	return 0;
}

/* RFC 9112 6.3, in its order. */
static int response_framing(struct tn_http_head *h, bool request_was_head)
{
	struct framing f;
	if (!collect(h, &f) || te_malformed(&f))
		return -1;
	h->keep_alive = persistent(h->version_minor, &f);
	h->content_length = f.cl; /* kept for HEAD: the size the GET would have */
	if (request_was_head || h->status < 200 || h->status == 204 || h->status == 304) {
		h->body = TN_HTTP_BODY_NONE;
		return 0;
	}
	if (f.te_seen) {
		/* a final coding other than chunked, or TE in a 1.0 message
		 * (faulty framing, RFC 9112 6.1), leaves only the close */
		bool chunked = f.last_chunked && h->version_minor == 1;
		h->body = chunked ? TN_HTTP_BODY_CHUNKED : TN_HTTP_BODY_UNTIL_CLOSE;
		if (f.cl_seen)
			h->keep_alive = false; /* TE overrides CL; RFC 9112 6.1: close after */
	} else {
		h->body = f.cl_seen ? TN_HTTP_BODY_LENGTH : TN_HTTP_BODY_UNTIL_CLOSE;
	}
	if (h->body == TN_HTTP_BODY_UNTIL_CLOSE)
		h->keep_alive = false; /* the close is the end of the body */
	return 0;
}

/* ---- request line ---- */

/* origin-form: path ["?" query]. */
static void split_origin(struct tn_http_str t, struct tn_http_head *h)
{
	const char *q = memchr(t.p, '?', t.n);
	size_t n = q ? (size_t)(q - t.p) : t.n;
	h->path = str_at(t.p, n);
	h->query = q ? str_at(q + 1, t.n - n - 1) : str_at(t.p + t.n, 0);
}

/* absolute-form (RFC 9112 3.2.2): "http://" or "https://" in any case, a
 * non-empty authority, then path and query.  False if it is not one. */
static bool split_absolute(struct tn_http_str t, struct tn_http_head *h)
{
	size_t s = str_iprefix(t, "http://") ? 7 : str_iprefix(t, "https://") ? 8 : 0;
	if (!s)
		return false;
	size_t a = s;
	while (a < t.n && t.p[a] != '/' && t.p[a] != '?')
		a++;
	if (a == s)
		return false; /* no host */
	if (a < t.n && t.p[a] == '/') {
		split_origin(str_at(t.p + a, t.n - a), h);
		return true;
	}
	/* no path means "/" (RFC 9110 4.2.3); the scheme's second slash is
	 * one inside the caller's buffer, so every string stays in it */
	h->path = str_at(t.p + s - 1, 1);
	h->query = a < t.n ? str_at(t.p + a + 1, t.n - a - 1) : str_at(t.p + t.n, 0);
	return true;
}

/* authority-form (RFC 9112 3.2.3), CONNECT only: host ":" port. */
static bool is_authority(struct tn_http_str t)
{
	size_t colon = t.n;
	while (colon > 0 && is_digit(t.p[colon - 1]))
		colon--;
	if (colon < 2 || colon == t.n || t.p[colon - 1] != ':')
		return false;
	for (size_t i = 0; i + 1 < colon; i++)
		if (t.p[i] == '/' || t.p[i] == '?' || t.p[i] == '@')
			return false;
	return true;
}

/* Classify the target and set path and query (RFC 9112 3.2). */
static int split_target(struct tn_http_head *h)
{
	struct tn_http_str t = h->target;
	struct tn_http_str none = str_at(t.p + t.n, 0);
	h->path = h->query = none;
	if (t.p[0] == '/') {
		split_origin(t, h);
		return 0;
	}
	if (t.n == 1 && t.p[0] == '*') {
		h->path = t; /* asterisk-form: the server itself */
		return str_eq(h->method, "OPTIONS") ? 0 : -400;
	}
	if (split_absolute(t, h))
		return 0;
	/* authority-form has no path: both stay empty */
	return str_eq(h->method, "CONNECT") && is_authority(t) ? 0 : -400;
}

/* Method and target of a request line, complete or not.  What a prefix
 * already shows (a bad method byte, a bad target byte, a target over
 * TN_HTTP_MAX_TARGET) is reported the same either way, so a client is
 * answered without waiting for a line that can never be good.  *mend is
 * the method's length, *tend the end of the target: n when not seen. */
static int scan_request_line(const char *p, size_t n, size_t *mend, size_t *tend)
{
	size_t i = 0;
	*mend = *tend = n;
	while (i < n && is_tchar((unsigned char)p[i]))
		i++;
	if (i == n)
		return 0;
	if (i == 0 || p[i] != ' ')
		return -400;
	*mend = i;
	size_t t = ++i;
	for (; i < n && p[i] != ' '; i++) {
		if (!is_vchar(p[i]))
			return -400;
		if (i - t >= TN_HTTP_MAX_TARGET)
			return -414;
	}
	*tend = i;
	return 0;
}

/* request-line = method SP request-target SP HTTP-version */
static int parse_request_line(struct tn_http_str line, struct tn_http_head *h)
{
	size_t mend, tend;
	int rc = scan_request_line(line.p, line.n, &mend, &tend);
	if (rc < 0)
		return rc;
	if (tend >= line.n || tend == mend + 1)
		return -400; /* no version, or an empty target */
	rc = parse_version(line.p + tend + 1, line.n - tend - 1, &h->version_minor);
	if (rc < 0)
		return rc;
	h->method = str_at(line.p, mend);
	h->target = str_at(line.p + mend + 1, tend - mend - 1);
	return split_target(h);
}

int tn_http_parse_request(const char *buf, size_t len, struct tn_http_head *h)
{
	struct tn_http_str line;
	size_t off = 0, start;
	int rc;
	memset(h, 0, sizeof(*h));
	if (!len)
		return 0;
	do { /* RFC 9112 2.2: empty lines before the request line are skipped */
		start = off;
		rc = next_line(buf, len, &off, &line);
	} while (rc > 0 && !line.n);
	if (rc < 0)
		return -400;
	if (rc == 0) {
		/* a CR last may be the start of the line end: not a line byte */
		size_t n = len - start, mend, tend;
		n -= buf[len - 1] == '\r';
		rc = scan_request_line(buf + start, n, &mend, &tend);
		return rc < 0 ? rc : len >= TN_HTTP_MAX_HEAD ? -431 : 0;
	}
	if ((rc = parse_request_line(line, h)) < 0)
		return rc;
	if (off > TN_HTTP_MAX_HEAD)
		return -431;
	if ((rc = parse_fields(buf, len, off, h)) <= 0)
		return rc;
	int f = request_framing(h);
	return f < 0 ? f : rc;
}

/* ---- response line ---- */

/* status-line = HTTP-version SP status-code SP [reason-phrase]; the second
 * SP is optional here, as RFC 9112 4 asks of a lenient client. */
static int parse_status_line(struct tn_http_str line, struct tn_http_head *h)
{
	const char *p = line.p;
	if (line.n < 12 || parse_version(p, 8, &h->version_minor) < 0 || p[8] != ' ')
		return -1;
	int status = 0;
	for (int i = 9; i < 12; i++) {
		if (!is_digit(p[i]))
			return -1;
		status = status * 10 + (p[i] - '0');
	}
	if (status < 100 || (line.n > 12 && p[12] != ' '))
		return -1;
	h->status = status;
	h->reason = line.n > 13 ? str_at(p + 13, line.n - 13) : str_at(p + line.n, 0);
	for (size_t i = 0; i < h->reason.n; i++)
		if (!is_text(h->reason.p[i]))
			return -1;
	return 0;
}

int tn_http_parse_response(const char *buf, size_t len, bool request_was_head, struct tn_http_head *h)
{
	struct tn_http_str line;
	size_t off = 0;
	memset(h, 0, sizeof(*h));
	if (!len)
		return 0;
	int rc = next_line(buf, len, &off, &line);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		/* not even the start of "HTTP/": no need to wait for more */
		size_t n = len < 5 ? len : 5;
		return len >= TN_HTTP_MAX_HEAD || memcmp(buf, "HTTP/", n) != 0 ? -1 : 0;
	}
	if (off > TN_HTTP_MAX_HEAD || parse_status_line(line, h) < 0)
		return -1;
	rc = parse_fields(buf, len, off, h);
	if (rc <= 0)
		return rc < 0 ? -1 : 0;
	return response_framing(h, request_was_head) < 0 ? -1 : rc;
}

/* ---- chunked transfer coding (RFC 9112 7.1) ---- */

enum {
	CH_SIZE,       /* hex digits of the size; linelen counts them */
	CH_SIZE_WS,    /* BWS after the size: only ';' or the line end may follow */
	CH_EXT,        /* chunk extensions: skipped to the line end */
	CH_SIZE_LF,    /* the LF after the size line's CR */
	CH_DATA,       /* left bytes of chunk data */
	CH_DATA_END,   /* the CRLF (or bare LF) after the data */
	CH_DATA_LF,    /* its LF */
	CH_TRAILER,    /* a trailer line, skipped; linelen counts its bytes */
	CH_TRAILER_LF, /* its LF */
};

/* Nothing is kept of a size line, but an endless one would pin the
 * connection forever: bound it. */
#define CHUNK_LINE_MAX 4096

static int size_line_done(struct tn_http_chunked *c)
{
	c->linelen = 0;
	c->state = c->left ? CH_DATA : CH_TRAILER;
	return 0;
}

static int next_chunk(struct tn_http_chunked *c)
{
	c->linelen = 0;
	c->state = CH_SIZE;
	return 0;
}

/* After the digits: BWS, then extensions, then the line end. */
static int size_rest_byte(struct tn_http_chunked *c, char ch)
{
	if (ch == '\r') {
		c->state = CH_SIZE_LF;
		return 0;
	}
	if (ch == '\n')
		return size_line_done(c);
	if (++c->linelen > CHUNK_LINE_MAX)
		return -1;
	if (c->state == CH_EXT)
		return is_text(ch) ? 0 : -1;
	if (ch == ';') {
		c->state = CH_EXT;
		return 0;
	}
	return is_ows(ch) ? 0 : -1;
}

static int size_byte(struct tn_http_chunked *c, char ch)
{
	int v = hexval(ch);
	if (v < 0) {
		if (!c->linelen)
			return -1; /* no digits at all */
		c->state = CH_SIZE_WS;
		return size_rest_byte(c, ch);
	}
	if (c->linelen == 16)
		return -1; /* more than 64 bits */
	c->left = c->left << 4 | (uint64_t)v;
	c->linelen++;
	return 0;
}

/* In the trailer section, left (no chunk is open) counts its bytes so a
 * peer cannot stream trailers forever; done resets it. */
static int trailer_line_done(struct tn_http_chunked *c)
{
	if (!c->linelen) {
		c->done = true;
		c->left = 0;
	}
	c->linelen = 0;
	c->state = CH_TRAILER;
	return 0;
}

static int trailer_byte(struct tn_http_chunked *c, char ch)
{
	if (ch == '\r') {
		c->state = CH_TRAILER_LF;
		return 0;
	}
	if (ch == '\n')
		return trailer_line_done(c);
	if (!is_text(ch) || ++c->left > TN_HTTP_MAX_HEAD)
		return -1;
	c->linelen++;
	return 0;
}

/* One byte of framing (anything but chunk data). */
static int chunk_byte(struct tn_http_chunked *c, char ch)
{
	switch (c->state) {
	case CH_SIZE:
		return size_byte(c, ch);
	case CH_SIZE_WS:
	case CH_EXT:
		return size_rest_byte(c, ch);
	case CH_SIZE_LF:
		return ch == '\n' ? size_line_done(c) : -1;
	case CH_DATA_END:
		if (ch == '\r') {
			c->state = CH_DATA_LF;
			return 0;
		}
		return ch == '\n' ? next_chunk(c) : -1;
	case CH_DATA_LF:
		return ch == '\n' ? next_chunk(c) : -1;
	case CH_TRAILER:
		return trailer_byte(c, ch);
	case CH_TRAILER_LF:
		return ch == '\n' ? trailer_line_done(c) : -1;
	}
	return -1;
}

ssize_t tn_http_chunked_decode(struct tn_http_chunked *c, char *buf, size_t *len)
{
	size_t in = 0, out = 0, n = *len;
	while (in < n && !c->done) {
		if (c->state != CH_DATA) {
			if (chunk_byte(c, buf[in]) < 0)
				return -1;
			in++;
			continue;
		}
		size_t k = n - in < c->left ? n - in : (size_t)c->left;
		memmove(buf + out, buf + in, k);
		out += k;
		in += k;
		c->left -= k;
		if (!c->left)
			c->state = CH_DATA_END;
	}
	*len = in;
	return (ssize_t)out;
}

/* ---- helpers ---- */

const char *tn_http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

/* Civil date of a day number (days since 1970-01-01, proleptic Gregorian).
 * Counting from 0000-03-01 puts the leap day at the end of each year, and
 * 400-year eras of 146097 days repeat exactly; within an era, the year,
 * then the day of that March-based year, then the month (153 days every
 * five months) follow by division. */
static void civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t z = days + 719468; /* 1970-01-01 is day 719468 after 0000-03-01 */
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);                             /* [0, 146096] */
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                  /* [0, 365] */
	unsigned mp = (5 * doy + 2) / 153;                                       /* 0 = March */
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static char *put2(char *p, unsigned v)
{
	*p++ = (char)('0' + v / 10 % 10);
	*p++ = (char)('0' + v % 10);
	return p;
}

/* The 4-digit year of IMF-fixdate spans 0000-01-01 .. 9999-12-31. */
#define DATE_MIN (-62167219200LL)
#define DATE_MAX 253402300799LL

size_t tn_http_date(int64_t unix_seconds, char out[30])
{
	static const char wday[] = "SunMonTueWedThuFriSat";
	static const char month[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	int64_t t = unix_seconds < DATE_MIN ? DATE_MIN : unix_seconds > DATE_MAX ? DATE_MAX : unix_seconds;
	int64_t days = t / 86400, secs = t % 86400;
	if (secs < 0) { /* division truncates; days must round down */
		secs += 86400;
		days--;
	}
	int64_t y;
	unsigned m, d, w = (unsigned)((days % 7 + 11) % 7); /* day 0 was a Thursday */
	civil_from_days(days, &y, &m, &d);
	char *p = out;
	memcpy(p, wday + 3 * w, 3);
	memcpy(p + 3, ", ", 2);
	p = put2(p + 5, d);
	*p++ = ' ';
	memcpy(p, month + 3 * (m - 1), 3);
	p[3] = ' ';
	p = put2(p + 4, (unsigned)(y / 100));
	p = put2(p, (unsigned)(y % 100));
	*p++ = ' ';
	p = put2(p, (unsigned)(secs / 3600));
	*p++ = ':';
	p = put2(p, (unsigned)(secs / 60 % 60));
	*p++ = ':';
	p = put2(p, (unsigned)(secs % 60));
	memcpy(p, " GMT", 5);
	return 29;
}

/* One path byte at *i, %XX decoded.  Refused (-1): a raw byte a target
 * may not hold, a bad escape, and decoded NUL, control bytes (a CR or LF
 * would reach a Location field) and '/' (it would hide a separator from
 * the dot-segment logic and the file system would then see it). */
static int path_byte(const char *p, size_t end, size_t *i)
{
	char c = p[*i];
	if (c != '%') {
		(*i)++;
		return is_vchar(c) ? (unsigned char)c : -1;
	}
	if (end - *i < 3)
		return -1;
	int hi = hexval(p[*i + 1]), lo = hexval(p[*i + 2]);
	if (hi < 0 || lo < 0)
		return -1;
	*i += 3;
	c = (char)(hi << 4 | lo);
	return (unsigned char)c < 0x20 || c == 0x7f || c == '/' ? -1 : (unsigned char)c;
}

/* The segment just written at out[seg..*o): drop it if it is "." or empty,
 * back up over its parent if it is "..", else end it with '/' unless it
 * is the last.  Returns -1 for ".." at the root or no room. */
static int end_segment(char *out, size_t cap, size_t seg, size_t *o, bool last)
{
	size_t n = *o - seg;
	if (n == 0 || (n == 1 && out[seg] == '.')) {
		*o = seg;
	} else if (n == 2 && out[seg] == '.' && out[seg + 1] == '.') {
		if (seg == 1)
			return -1; /* above the root */
		*o = seg - 1;
		while (out[*o - 1] != '/')
			(*o)--;
	} else if (!last) {
		if (*o + 1 >= cap)
			return -1;
		out[(*o)++] = '/';
	}
	return 0;
}

ssize_t tn_http_path_normalize(struct tn_http_str path, char *out, size_t cap)
{
	if (!path.n || path.p[0] != '/' || cap < 2)
		return -1;
	/* the query is not part of the path */
	const char *q = memchr(path.p, '?', path.n);
	size_t end = q ? (size_t)(q - path.p) : path.n, i = 1, o = 1;
	out[0] = '/';
	for (;;) {
		size_t seg = o;
		while (i < end && path.p[i] != '/') {
			int c = path_byte(path.p, end, &i);
			if (c < 0 || o + 1 >= cap)
				return -1;
			out[o++] = (char)c;
		}
		if (end_segment(out, cap, seg, &o, i >= end) < 0)
			return -1;
		if (i >= end)
			break;
		i++; /* the '/' */
	}
	out[o] = 0;
	return (ssize_t)o;
}
