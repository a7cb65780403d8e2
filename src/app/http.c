#include "app/http.h"

#include <string.h>

/* RFC 9110 5.6.2: tchar. */
static bool is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Field-value bytes: VCHAR, obs-text, SP and HTAB; no other controls. */
static bool is_value_byte(unsigned char c) { return c == '\t' || c >= 0x20 ? c != 0x7f : false; }

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

static bool str_ieq(struct tn_http_str s, const char *z)
{
	size_t n = strlen(z);
	if (s.n != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower(s.p[i]) != lower(z[i]))
			return false;
	return true;
}

/* The next line of buf[*off..len): without its CRLF (or bare LF).
 * Returns 1 with the line, 0 if no line end yet, -1 for a bare CR. */
static int next_line(const char *buf, size_t len, size_t *off, struct tn_http_str *line)
{
	const char *p = buf + *off, *end = buf + len;
	const char *lf = memchr(p, '\n', (size_t)(end - p));
	if (!lf)
		return memchr(p, '\r', (size_t)(end - p)) && ((const char *)memchr(p, '\r', (size_t)(end - p)) < end - 1)
			       ? -1
			       : 0;
	const char *e = lf > p && lf[-1] == '\r' ? lf - 1 : lf;
	if (memchr(p, '\r', (size_t)(e - p)))
		return -1; /* a CR not followed by LF */
	line->p = p;
	line->n = (size_t)(e - p);
	*off = (size_t)(lf + 1 - buf);
	return 1;
}

static int parse_version(const char *p, size_t n, int *minor)
{
	if (n != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.' || p[5] < '0' || p[5] > '9' || p[7] < '0' ||
	    p[7] > '9')
		return -400;
	if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
		return -505;
	*minor = p[7] - '0';
	return 0;
}

static bool parse_u64(struct tn_http_str s, uint64_t *out)
{
	uint64_t v = 0;
	if (s.n == 0)
		return false;
	for (size_t i = 0; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9' || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(s.p[i] - '0');
	}
	*out = v;
	return true;
}

/* Content-Length, possibly a list of equal values ("5, 5"). */
static bool parse_content_length(struct tn_http_str v, uint64_t *out, bool *seen)
{
	size_t i = 0;
	while (i < v.n) {
		size_t j = i;
		while (j < v.n && v.p[j] != ',')
			j++;
		struct tn_http_str item = {v.p + i, j - i};
		while (item.n && (item.p[0] == ' ' || item.p[0] == '\t'))
			item.p++, item.n--;
		while (item.n && (item.p[item.n - 1] == ' ' || item.p[item.n - 1] == '\t'))
			item.n--;
		uint64_t x;
		if (!parse_u64(item, &x) || (*seen && x != *out))
			return false;
		*out = x;
		*seen = true;
		i = j + 1;
	}
	return *seen;
}

bool tn_http_has_token(struct tn_http_str v, const char *token)
{
	size_t i = 0;
	while (i <= v.n) {
		size_t j = i;
		while (j < v.n && v.p[j] != ',')
			j++;
		struct tn_http_str item = {v.p + i, j - i};
		while (item.n && (item.p[0] == ' ' || item.p[0] == '\t'))
			item.p++, item.n--;
		while (item.n && (item.p[item.n - 1] == ' ' || item.p[item.n - 1] == '\t'))
			item.n--;
		if (str_ieq(item, token))
			return true;
		i = j + 1;
	}
	return false;
}

/* The last transfer coding in a Transfer-Encoding list is "chunked"? */
static bool last_coding_is_chunked(struct tn_http_str v, bool *only_chunked)
{
	size_t start = 0;
	bool last = false;
	*only_chunked = true;
	for (size_t i = 0; i <= v.n; i++) {
		if (i < v.n && v.p[i] != ',')
			continue;
		struct tn_http_str item = {v.p + start, i - start};
		while (item.n && (item.p[0] == ' ' || item.p[0] == '\t'))
			item.p++, item.n--;
		while (item.n && (item.p[item.n - 1] == ' ' || item.p[item.n - 1] == '\t'))
			item.n--;
		start = i + 1;
		if (!item.n)
			continue;
		last = str_ieq(item, "chunked");
		if (!last)
			*only_chunked = false;
	}
	return last;
}

const struct tn_http_str *tn_http_field_get(const struct tn_http_head *h, const char *name)
{
	for (unsigned i = 0; i < h->nfields; i++)
		if (str_ieq(h->fields[i].name, name))
			return &h->fields[i].value;
	return NULL;
}

/* One field line: name ":" OWS value OWS. */
static int parse_field(struct tn_http_str line, struct tn_http_field *f)
{
	if (line.n && (line.p[0] == ' ' || line.p[0] == '\t'))
		return -400; /* obs-fold: RFC 9112 5.2 lets a server reject it */
	size_t i = 0;
	while (i < line.n && is_tchar((unsigned char)line.p[i]))
		i++;
	if (i == 0 || i == line.n || line.p[i] != ':')
		return -400; /* includes whitespace before the colon */
	f->name = (struct tn_http_str){line.p, i};
	const char *v = line.p + i + 1, *end = line.p + line.n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (const char *q = v; q < end; q++)
		if (!is_value_byte((unsigned char)*q))
			return -400;
	f->value = (struct tn_http_str){v, (size_t)(end - v)};
	return 0;
}

/* The fields up to the empty line; returns the head length, 0, or -status. */
static int parse_fields(const char *buf, size_t len, size_t off, struct tn_http_head *h)
{
	h->nfields = 0;
	for (;;) {
		struct tn_http_str line;
		int rc = next_line(buf, len, &off, &line);
		if (rc < 0)
			return -400;
		if (rc == 0)
			return len > TN_HTTP_MAX_HEAD ? -431 : 0;
		if (off > TN_HTTP_MAX_HEAD)
			return -431;
		if (line.n == 0)
			break;
		if (h->nfields == TN_HTTP_MAX_HEADERS)
			return -431;
		if ((rc = parse_field(line, &h->fields[h->nfields])) < 0)
			return rc;
		h->nfields++;
	}
	h->head_len = off;
	return (int)off;
}

/* Framing and connection semantics shared by requests and responses.
 * Returns 0 or -status (-400, -501). */
static int framing(struct tn_http_head *h, bool request)
{
	bool cl_seen = false, te_seen = false, chunked = false, only_chunked = true;
	unsigned hosts = 0;
	h->keep_alive = h->version_minor == 1;
	for (unsigned i = 0; i < h->nfields; i++) {
		struct tn_http_field *f = &h->fields[i];
		if (str_ieq(f->name, "content-length")) {
			if (!parse_content_length(f->value, &h->content_length, &cl_seen))
				return -400;
		} else if (str_ieq(f->name, "transfer-encoding")) {
			bool only;
			chunked = last_coding_is_chunked(f->value, &only);
			only_chunked = only_chunked && only;
			te_seen = true;
		} else if (str_ieq(f->name, "connection")) {
			if (tn_http_has_token(f->value, "close"))
				h->keep_alive = false;
			else if (tn_http_has_token(f->value, "keep-alive") && h->version_minor == 0)
				h->keep_alive = true;
		} else if (str_ieq(f->name, "host")) {
			hosts++;
		} else if (str_ieq(f->name, "expect")) {
			h->expect_continue = tn_http_has_token(f->value, "100-continue");
		}
	}
	h->has_host = hosts == 1;
	if (request) {
		if (te_seen && cl_seen)
			return -400; /* RFC 9112 6.1: a smuggling attempt; refuse */
		if (te_seen && (!chunked || !only_chunked))
			return -501;
		if (te_seen && h->version_minor == 0)
			return -400; /* RFC 9112 6.1: TE in HTTP/1.0 is a framing fault */
		if (hosts > 1 || (h->version_minor == 1 && hosts == 0))
			return -400; /* RFC 9112 3.2 */
		h->body = te_seen ? TN_HTTP_BODY_CHUNKED : cl_seen && h->content_length ? TN_HTTP_BODY_LENGTH
										       : TN_HTTP_BODY_NONE;
		return 0;
	}
	if (te_seen)
		h->body = chunked ? TN_HTTP_BODY_CHUNKED : TN_HTTP_BODY_UNTIL_CLOSE;
	else if (cl_seen)
		h->body = TN_HTTP_BODY_LENGTH;
	else
		h->body = TN_HTTP_BODY_UNTIL_CLOSE;
	return 0;
}

static void split_target(struct tn_http_head *h)
{
	struct tn_http_str t = h->target;
	if (t.n > 7 && (memcmp(t.p, "http://", 7) == 0 || (t.n > 8 && memcmp(t.p, "https://", 8) == 0))) {
		size_t skip = t.p[4] == 's' ? 8 : 7;
		const char *slash = memchr(t.p + skip, '/', t.n - skip);
		const char *q = memchr(t.p + skip, '?', t.n - skip);
		if (q && (!slash || q < slash))
			slash = NULL;
		if (!slash) { /* "http://host" or "http://host?q": the path is "/" */
			h->path = (struct tn_http_str){"/", 1};
			h->query = q ? (struct tn_http_str){q + 1, (size_t)(t.p + t.n - q - 1)}
				     : (struct tn_http_str){t.p + t.n, 0};
			return;
		}
		t = (struct tn_http_str){slash, (size_t)(t.p + t.n - slash)};
	}
	const char *q = memchr(t.p, '?', t.n);
	h->path = (struct tn_http_str){t.p, q ? (size_t)(q - t.p) : t.n};
	h->query = q ? (struct tn_http_str){q + 1, (size_t)(t.p + t.n - q - 1)} : (struct tn_http_str){t.p + t.n, 0};
}

/* request-line = method SP request-target SP HTTP-version */
static int parse_request_line(struct tn_http_str line, struct tn_http_head *h)
{
	const char *p = line.p, *end = line.p + line.n;
	const char *sp1 = memchr(p, ' ', line.n);
	if (!sp1 || sp1 == p)
		return -400;
	for (const char *q = p; q < sp1; q++)
		if (!is_tchar((unsigned char)*q))
			return -400;
	const char *t = sp1 + 1;
	const char *sp2 = end - 9 >= t ? end - 9 : NULL;
	if (!sp2 || *sp2 != ' ')
		return -400;
	if ((size_t)(sp2 - t) > TN_HTTP_MAX_TARGET)
		return -414;
	if (sp2 == t)
		return -400;
	for (const char *q = t; q < sp2; q++)
		if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f)
			return -400;
	int rc = parse_version(sp2 + 1, 8, &h->version_minor);
	if (rc < 0)
		return rc;
	h->method = (struct tn_http_str){p, (size_t)(sp1 - p)};
	h->target = (struct tn_http_str){t, (size_t)(sp2 - t)};
	bool asterisk = h->target.n == 1 && t[0] == '*';
	bool origin = t[0] == '/';
	bool absolute = h->target.n > 7 && (memcmp(t, "http://", 7) == 0 || memcmp(t, "https://", 8) == 0);
	bool authority = h->method.n == 7 && memcmp(p, "CONNECT", 7) == 0;
	if (asterisk && !(h->method.n == 7 && memcmp(p, "OPTIONS", 7) == 0))
		return -400;
	if (!asterisk && !origin && !absolute && !authority)
		return -400;
	split_target(h);
	return 0;
}

/* A target too long is known before its line ends: say so at once. */
static int early_target_check(const char *buf, size_t len, size_t off)
{
	const char *p = buf + off, *end = buf + len;
	const char *sp1 = memchr(p, ' ', (size_t)(end - p));
	if (!sp1)
		return (size_t)(end - p) > TN_HTTP_MAX_HEAD ? -400 : 0;
	const char *stop = memchr(sp1 + 1, '\n', (size_t)(end - sp1 - 1));
	if (!stop && (size_t)(end - sp1 - 1) > TN_HTTP_MAX_TARGET + 9)
		return -414;
	return 0;
}

int tn_http_parse_request(const char *buf, size_t len, struct tn_http_head *h)
{
	memset(h, 0, sizeof(*h));
	size_t off = 0;
	/* RFC 9112 2.2: ignore at least one empty line before the request */
	while (off < len && (buf[off] == '\r' || buf[off] == '\n') && off < 4)
		off++;
	struct tn_http_str line;
	int rc = next_line(buf, len, &off, &line);
	if (rc < 0)
		return -400;
	if (rc == 0) {
		int e = early_target_check(buf, len, off);
		return e ? e : len > TN_HTTP_MAX_HEAD ? -431 : 0;
	}
	if ((rc = parse_request_line(line, h)) < 0)
		return rc;
	rc = parse_fields(buf, len, off, h);
	if (rc <= 0)
		return rc;
	int f = framing(h, true);
	return f < 0 ? f : rc;
}

int tn_http_parse_response(const char *buf, size_t len, bool request_was_head, struct tn_http_head *h)
{
	memset(h, 0, sizeof(*h));
	size_t off = 0;
	struct tn_http_str line;
	int rc = next_line(buf, len, &off, &line);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return len > TN_HTTP_MAX_HEAD ? -1 : 0;
	/* status-line = HTTP-version SP status-code SP [ reason-phrase ] */
	if (line.n < 12 || parse_version(line.p, 8, &h->version_minor) < 0 || line.p[8] != ' ')
		return -1;
	int status = 0;
	for (int i = 9; i < 12; i++) {
		if (line.p[i] < '0' || line.p[i] > '9')
			return -1;
		status = status * 10 + (line.p[i] - '0');
	}
	if (status < 100 || (line.n > 12 && line.p[12] != ' '))
		return -1;
	h->status = status;
	h->reason = line.n > 13 ? (struct tn_http_str){line.p + 13, line.n - 13} : (struct tn_http_str){line.p + line.n, 0};
	rc = parse_fields(buf, len, off, h);
	if (rc <= 0)
		return rc < 0 ? -1 : 0;
	if (framing(h, false) < 0)
		return -1;
	if (request_was_head || status / 100 == 1 || status == 204 || status == 304)
		h->body = TN_HTTP_BODY_NONE;
	if (h->body == TN_HTTP_BODY_UNTIL_CLOSE)
		h->keep_alive = false; /* the close is the end of the body */
	return rc;
}

/* ---- chunked transfer coding ---- */

enum { CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER, CH_TRAILER_LF };

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

ssize_t tn_http_chunked_decode(struct tn_http_chunked *c, char *buf, size_t *len)
{
	size_t in = 0, out = 0, n = *len;
	while (in < n && !c->done) {
		char ch = buf[in];
		switch (c->state) {
		case CH_SIZE: {
			int v = hexval(ch);
			if (v >= 0) {
				if (c->linelen >= 16)
					return -1;
				c->left = c->left << 4 | (uint64_t)v;
				c->linelen++;
				in++;
				break;
			}
			if (c->linelen == 0)
				return -1;
			if (ch == ';' || ch == ' ' || ch == '\t') {
				c->state = CH_EXT;
			} else if (ch == '\r') {
				c->state = CH_SIZE_LF;
			} else if (ch == '\n') {
				c->state = c->left ? CH_DATA : CH_TRAILER;
				c->linelen = 0;
			} else {
				return -1;
			}
			in++;
			break;
		}
		case CH_EXT: /* extensions are allowed and ignored */
			if (ch == '\r')
				c->state = CH_SIZE_LF;
			else if (ch == '\n')
				c->state = c->left ? CH_DATA : CH_TRAILER, c->linelen = 0;
			else if (ch != '\t' && ((unsigned char)ch < 0x20 || ch == 0x7f))
				return -1;
			in++;
			break;
		case CH_SIZE_LF:
			if (ch != '\n')
				return -1;
			c->state = c->left ? CH_DATA : CH_TRAILER;
			c->linelen = 0;
			in++;
			break;
		case CH_DATA: {
			size_t k = n - in < c->left ? n - in : (size_t)c->left;
			memmove(buf + out, buf + in, k);
			out += k;
			in += k;
			c->left -= k;
			if (!c->left)
				c->state = CH_DATA_CR;
			break;
		}
		case CH_DATA_CR:
			if (ch == '\r')
				c->state = CH_DATA_LF;
			else if (ch == '\n')
				c->state = CH_SIZE, c->linelen = 0;
			else
				return -1;
			in++;
			break;
		case CH_DATA_LF:
			if (ch != '\n')
				return -1;
			c->state = CH_SIZE;
			c->linelen = 0;
			in++;
			break;
		case CH_TRAILER: /* trailer lines, skipped, until an empty one */
			if (ch == '\n') {
				if (c->linelen == 0)
					c->done = true;
				c->linelen = 0;
			} else if (ch == '\r') {
				c->state = CH_TRAILER_LF;
			} else {
				if (++c->linelen > TN_HTTP_MAX_HEAD)
					return -1;
			}
			in++;
			break;
		case CH_TRAILER_LF:
			if (ch != '\n')
				return -1;
			if (c->linelen == 0)
				c->done = true;
			c->linelen = 0;
			c->state = CH_TRAILER;
			in++;
			break;
		default:
			return -1;
		}
	}
	*len = in;
	return (ssize_t)out;
}

/* ---- helpers ---- */

const char *tn_http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 416: return "Range Not Satisfiable";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

/* Days since 1970-01-01 to a civil date (proleptic Gregorian). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

size_t tn_http_date(int64_t t, char out[30])
{
	static const char wd[7][4] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
	static const char mon[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
	int64_t secs = t - days * 86400;
	int64_t y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999)
		y = y < 0 ? 0 : 9999;
	unsigned w = (unsigned)(((days % 7) + 7) % 7);
	char *p = out;
	memcpy(p, wd[w], 3);
	p += 3;
	*p++ = ',';
	*p++ = ' ';
	*p++ = (char)('0' + d / 10);
	*p++ = (char)('0' + d % 10);
	*p++ = ' ';
	memcpy(p, mon[m - 1], 3);
	p += 3;
	*p++ = ' ';
	for (int64_t div = 1000; div; div /= 10)
		*p++ = (char)('0' + (y / div) % 10);
	unsigned hms[3] = {(unsigned)(secs / 3600), (unsigned)(secs / 60 % 60), (unsigned)(secs % 60)};
	for (int i = 0; i < 3; i++) {
		*p++ = i ? ':' : ' ';
		*p++ = (char)('0' + hms[i] / 10);
		*p++ = (char)('0' + hms[i] % 10);
	}
	memcpy(p, " GMT", 5);
	return 29;
}

ssize_t tn_http_path_normalize(struct tn_http_str path, char *out, size_t cap)
{
	if (path.n == 0 || path.p[0] != '/' || cap < 2)
		return -1;
	size_t o = 0;
	out[o++] = '/';
	size_t i = 1;
	while (i <= path.n) {
		/* one segment: decode it into out after the current '/' */
		size_t seg = o;
		while (i < path.n && path.p[i] != '/') {
			char c = path.p[i];
			if ((unsigned char)c <= 0x20 || c == 0x7f)
				return -1; /* never valid raw in a request-target */
			if (c == '%') {
				if (i + 2 >= path.n)
					return -1;
				int hi = hexval(path.p[i + 1]);
				int lo = hexval(path.p[i + 2]);
				if (hi < 0 || lo < 0)
					return -1;
				c = (char)(hi << 4 | lo);
				if (c == 0)
					return -1;
				i += 2;
			}
			if (c == '/')
				return -1; /* an encoded slash would change the segments */
			if (o + 1 >= cap)
				return -1;
			out[o++] = c;
			i++;
		}
		size_t len = o - seg;
		bool dot = len == 1 && out[seg] == '.';
		bool dotdot = len == 2 && out[seg] == '.' && out[seg + 1] == '.';
		if (dot || (len == 0 && i < path.n)) {
			o = seg; /* "." and empty segments ("//") vanish */
		} else if (dotdot) {
			if (seg == 1)
				return -1; /* above the root */
			o = seg - 1; /* back over the '/' before this segment */
			while (o > 0 && out[o - 1] != '/')
				o--;
		} else if (i < path.n) {
			if (o + 1 >= cap)
				return -1;
			out[o++] = '/';
		}
		if (i >= path.n)
			break;
		i++; /* the '/' */
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = 0;
	return (ssize_t)o;
}
