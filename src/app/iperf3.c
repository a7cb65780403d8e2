#include "app/iperf3.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>

#include "tern/tern.h"

#define NS 1000000000ull
#define MS 1000000ull
#define HANDSHAKE_NS (10 * NS)    /* cookie, parameters and every stream */
#define RESULTS_NS (10 * NS)      /* each step of the results exchange */
#define IDLE_NS (60 * NS)         /* a running test with nothing moving */
#define RUN_GRACE_NS (10 * NS)    /* past time + omit, still no TEST_END */
#define DRAIN_NS (3 * NS)         /* after the client's results: data in flight */
#define DRAIN_QUIET_NS (250 * MS)
#define LINGER_NS (2 * NS)        /* a refused connection: read until its FIN or this */
#define MAX_REFUSING 16
#define EXTRA_CONNS 8             /* data connections beyond those expected */
#define SCRATCH (128 * 1024)
#define TEXT_MAX 16384            /* --get-server-output text */
#define OUT_CAP (96 * 1024)       /* control output: results JSON and all */
#define JSON_MAX_DEPTH 16
#define DEFAULT_PORT 5201
#define DEFAULT_BLKSIZE (128 * 1024)

/* iperf3's error numbers (iperf_api.h) for SERVER_ERROR */
#define IE_RECVPARAMS 114   /* "unable to receive parameters from client" + errno */
#define IE_STREAMLISTEN 202 /* "unable to start stream listener" + errno */

/* ======================================================================
 * Control framing
 * ====================================================================== */

void tn_iperf3_msg_start(struct tn_iperf3_msg *m, enum tn_iperf3_msg_kind kind, char *body, uint32_t max)
{
	memset(m, 0, sizeof(*m));
	m->kind = (uint8_t)kind;
	m->body = body;
	m->max = max;
}

size_t tn_iperf3_msg_need(const struct tn_iperf3_msg *m)
{
	if (m->done || m->bad)
		return 0;
	switch (m->kind) {
	case TN_IPERF3_MSG_COOKIE: return TN_IPERF3_COOKIE_LEN - m->have;
	case TN_IPERF3_MSG_STATE: return 1;
	default: return m->have < 4 ? 4 - m->have : 4 + (size_t)m->len - m->have;
	}
}

ssize_t tn_iperf3_msg_take(struct tn_iperf3_msg *m, const void *data, size_t n)
{
	const uint8_t *d = data;
	if (m->bad)
		return -1;
	size_t need = tn_iperf3_msg_need(m);
	size_t k = n < need ? n : need;
	if (k == 0)
		return 0;
	switch (m->kind) {
	case TN_IPERF3_MSG_COOKIE:
		memcpy(m->body + m->have, d, k);
		m->have += (uint32_t)k;
		if (m->have == TN_IPERF3_COOKIE_LEN) {
			m->body[TN_IPERF3_COOKIE_LEN] = 0;
			m->done = true;
		}
		return (ssize_t)k;
	case TN_IPERF3_MSG_STATE:
		m->state = (int8_t)d[0];
		m->have = 1;
		m->done = true;
		return 1;
	default:
		if (m->have < 4) { /* the length word */
			memcpy(m->word + m->have, d, k);
			m->have += (uint32_t)k;
			if (m->have == 4) {
				m->len = (uint32_t)m->word[0] << 24 | (uint32_t)m->word[1] << 16 |
					 (uint32_t)m->word[2] << 8 | m->word[3];
				if (m->len == 0 || m->len > m->max) {
					m->bad = true;
					return -1;
				}
			}
			return (ssize_t)k;
		}
		memcpy(m->body + (m->have - 4), d, k);
		m->have += (uint32_t)k;
		if (m->have == 4 + m->len) {
			m->body[m->len] = 0;
			m->done = true;
		}
		return (ssize_t)k;
	}
}

/* ======================================================================
 * A small JSON reader: checks every byte against the grammar, reads the
 * fields it knows and skips the rest (nesting at most JSON_MAX_DEPTH).
 * ====================================================================== */

struct jr {
	const char *p, *end;
	int depth;
};

static bool jdigit(const struct jr *j) { return j->p < j->end && *j->p >= '0' && *j->p <= '9'; }

static void jws(struct jr *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static bool jpeek(struct jr *j, char c)
{
	jws(j);
	return j->p < j->end && *j->p == c;
}

static bool jeat(struct jr *j, char c)
{
	if (!jpeek(j, c))
		return false;
	j->p++;
	return true;
}

static bool jlit(struct jr *j, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
		return false;
	j->p += n;
	return true;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* A string, decoded into out (cap bytes with its NUL); out NULL: only
 * checked.  *odd is set if it did not fit or held a NUL: such a string
 * names no known field. */
static bool jstr(struct jr *j, char *out, size_t cap, bool *odd)
{
	size_t o = 0;
	bool bad = false;
	jws(j);
	if (j->p >= j->end || *j->p != '"')
		return false;
	j->p++;
	while (j->p < j->end) {
		unsigned char c = (unsigned char)*j->p++;
		if (c == '"') {
			if (out && cap)
				out[o] = 0;
			if (odd)
				*odd = bad;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c == '\\') {
			if (j->p >= j->end)
				return false;
			char e = *j->p++;
			switch (e) {
			case '"': case '\\': case '/': c = (unsigned char)e; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'u': {
				unsigned v = 0;
				for (int i = 0; i < 4; i++) {
					int h = j->p < j->end ? hexval(*j->p) : -1;
					if (h < 0)
						return false;
					v = v << 4 | (unsigned)h;
					j->p++;
				}
				c = v < 0x80 ? (unsigned char)v : '?'; /* we need ASCII only */
				break;
			}
			default: return false;
			}
		}
		if (c == 0)
			bad = true;
		if (out) {
			if (o + 1 < cap)
				out[o++] = (char)c;
			else
				bad = true;
		}
	}
	return false;
}

/* A number by RFC 8259's grammar, converted with strtod. */
static bool jnum(struct jr *j, double *v)
{
	jws(j);
	const char *s = j->p;
	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (!jdigit(j))
		return false;
	if (*j->p == '0')
		j->p++;
	else
		while (jdigit(j))
			j->p++;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (!jdigit(j))
			return false;
		while (jdigit(j))
			j->p++;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (!jdigit(j))
			return false;
		while (jdigit(j))
			j->p++;
	}
	char buf[64];
	size_t n = (size_t)(j->p - s);
	if (n >= sizeof(buf))
		return false; /* no real client writes a number that long */
	memcpy(buf, s, n);
	buf[n] = 0;
	*v = strtod(buf, NULL);
	return true;
}

static bool jskip(struct jr *j)
{
	jws(j);
	if (j->p >= j->end)
		return false;
	char c = *j->p;
	if (c == '"')
		return jstr(j, NULL, 0, NULL);
	if (c == 't')
		return jlit(j, "true");
	if (c == 'f')
		return jlit(j, "false");
	if (c == 'n')
		return jlit(j, "null");
	if (c != '{' && c != '[') {
		double v;
		return jnum(j, &v);
	}
	char close = c == '{' ? '}' : ']';
	if (++j->depth > JSON_MAX_DEPTH)
		return false;
	j->p++;
	if (jeat(j, close)) {
		j->depth--;
		return true;
	}
	for (;;) {
		if (c == '{' && (!jstr(j, NULL, 0, NULL) || !jeat(j, ':')))
			return false;
		if (!jskip(j))
			return false;
		if (jeat(j, ','))
			continue;
		if (!jeat(j, close))
			return false;
		j->depth--;
		return true;
	}
}

/* An object: fn reads (or skips) the value of each field. */
typedef bool (*jfield_fn)(void *ctx, const char *key, struct jr *j);

static bool jobject(struct jr *j, jfield_fn fn, void *ctx)
{
	if (!jeat(j, '{') || ++j->depth > JSON_MAX_DEPTH)
		return false;
	if (jeat(j, '}')) {
		j->depth--;
		return true;
	}
	for (;;) {
		char key[32];
		bool odd;
		if (!jstr(j, key, sizeof(key), &odd) || !jeat(j, ':'))
			return false;
		if (!fn(ctx, odd ? "" : key, j))
			return false;
		if (jeat(j, ','))
			continue;
		if (!jeat(j, '}'))
			return false;
		j->depth--;
		return true;
	}
}

/* A flag: true, false, null or a number (as cJSON's presence test reads
 * "reverse": true, and get_server_output: 1). */
static bool jflag(struct jr *j, bool *out)
{
	jws(j);
	if (jlit(j, "true")) {
		*out = true;
		return true;
	}
	if (jlit(j, "false") || jlit(j, "null")) {
		*out = false;
		return true;
	}
	double v;
	if (!jnum(j, &v))
		return false;
	*out = v != 0;
	return true;
}

/* A whole number in 0..max (a fraction is cut off, as cJSON's valueint). */
static bool juint(struct jr *j, uint64_t max, uint64_t *out)
{
	double v;
	if (!jnum(j, &v) || !(v >= 0) || v > (double)max)
		return false;
	*out = (uint64_t)v;
	return true;
}

static bool param_field(void *ctx, const char *k, struct jr *j)
{
	struct tn_iperf3_params *p = ctx;
	uint64_t v;
	if (strcmp(k, "tcp") == 0)
		return jflag(j, &p->tcp);
	if (strcmp(k, "udp") == 0)
		return jflag(j, &p->udp);
	if (strcmp(k, "sctp") == 0)
		return jflag(j, &p->sctp);
	if (strcmp(k, "reverse") == 0)
		return jflag(j, &p->reverse);
	if (strcmp(k, "bidirectional") == 0)
		return jflag(j, &p->bidir);
	if (strcmp(k, "nodelay") == 0)
		return jflag(j, &p->nodelay);
	if (strcmp(k, "get_server_output") == 0)
		return jflag(j, &p->get_server_output);
	if (strcmp(k, "client_version") == 0)
		return jstr(j, p->client_version, sizeof(p->client_version), NULL);
	static const struct {
		const char *name;
		uint64_t max;
		size_t off, size;
	} nums[] = {
		{"omit", 86400, offsetof(struct tn_iperf3_params, omit), 4},
		{"time", 86400, offsetof(struct tn_iperf3_params, time), 4},
		{"parallel", TN_IPERF3_MAX_PARALLEL, offsetof(struct tn_iperf3_params, parallel), 4},
		{"len", TN_IPERF3_MAX_BLKSIZE, offsetof(struct tn_iperf3_params, len), 4},
		{"MSS", 65535, offsetof(struct tn_iperf3_params, mss), 4},
		{"window", INT32_MAX, offsetof(struct tn_iperf3_params, window), 4},
		{"TOS", 255, offsetof(struct tn_iperf3_params, tos), 4},
		{"num", 1ull << 62, offsetof(struct tn_iperf3_params, bytes), 8},
		{"blockcount", 1ull << 62, offsetof(struct tn_iperf3_params, blocks), 8},
		{"bandwidth", 1ull << 62, offsetof(struct tn_iperf3_params, bandwidth), 8},
	};
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		if (strcmp(k, nums[i].name) != 0)
			continue;
		if (!juint(j, nums[i].max, &v))
			return false;
		if (nums[i].size == 4) {
			uint32_t w = (uint32_t)v;
			memcpy((char *)p + nums[i].off, &w, 4);
		} else {
			memcpy((char *)p + nums[i].off, &v, 8);
		}
		return true;
	}
	return jskip(j);
}

int tn_iperf3_parse_params(const char *json, size_t len, struct tn_iperf3_params *p)
{
	memset(p, 0, sizeof(*p));
	p->parallel = UINT32_MAX; /* absent: 1, as iperf3's default */
	p->len = UINT32_MAX;
	struct jr j = {json, json + len, 0};
	if (!jobject(&j, param_field, p))
		return -1;
	jws(&j);
	if (j.p != j.end)
		return -1;
	if (p->parallel == UINT32_MAX)
		p->parallel = 1;
	if (p->len == UINT32_MAX)
		p->len = DEFAULT_BLKSIZE;
	if (p->parallel == 0 || p->len == 0 || (p->reverse && p->bidir))
		return -1;
	if (!p->udp && !p->sctp)
		p->tcp = true; /* iperf3's default protocol */
	return 0;
}

enum { F_ID = 1, F_BYTES = 2, F_RETR = 4, F_JITTER = 8, F_ERRORS = 16, F_PACKETS = 32 };
#define F_STREAM_REQUIRED (F_ID | F_BYTES | F_RETR | F_JITTER | F_ERRORS | F_PACKETS)

struct stream_ctx {
	struct tn_iperf3_peer_stream *s;
	unsigned seen;
};

static bool stream_field(void *ctx, const char *k, struct jr *j)
{
	struct stream_ctx *c = ctx;
	double v;
	uint64_t u;
	if (strcmp(k, "id") == 0) {
		if (!juint(j, INT32_MAX, &u))
			return false;
		c->s->id = (int32_t)u;
		c->seen |= F_ID;
		return true;
	}
	if (strcmp(k, "bytes") == 0) {
		if (!juint(j, 1ull << 62, &u))
			return false;
		c->s->bytes = u;
		c->seen |= F_BYTES;
		return true;
	}
	unsigned bit = strcmp(k, "retransmits") == 0 ? F_RETR : strcmp(k, "jitter") == 0 ? F_JITTER
		     : strcmp(k, "errors") == 0 ? F_ERRORS : strcmp(k, "packets") == 0 ? F_PACKETS : 0;
	bool start = strcmp(k, "start_time") == 0, end = strcmp(k, "end_time") == 0;
	if (!bit && !start && !end)
		return jskip(j);
	if (!jnum(j, &v))
		return false;
	c->seen |= bit;
	if (bit == F_RETR) /* iperf 3.12 writes -1 as 2^64-1: anything out of range is "unknown" */
		c->s->retransmits = v >= 0 && v <= 9007199254740992.0 ? (int64_t)v : -1;
	if (start || end) {
		if (!isfinite(v))
			return false;
		*(start ? &c->s->start_time : &c->s->end_time) = v;
	}
	return true;
}

enum { R_TOTAL = 1, R_USER = 2, R_SYSTEM = 4, R_SHR = 8, R_STREAMS = 16 };

struct results_ctx {
	struct tn_iperf3_results *r;
	unsigned seen;
};

static bool results_streams(struct tn_iperf3_results *r, struct jr *j)
{
	if (!jeat(j, '[') || ++j->depth > JSON_MAX_DEPTH)
		return false;
	r->nstreams = 0;
	if (jeat(j, ']')) {
		j->depth--;
		return true;
	}
	for (;;) {
		if (r->nstreams == TN_IPERF3_MAX_STREAMS)
			return false;
		struct stream_ctx c = {&r->streams[r->nstreams], 0};
		memset(c.s, 0, sizeof(*c.s));
		if (!jobject(j, stream_field, &c) || (c.seen & F_STREAM_REQUIRED) != F_STREAM_REQUIRED)
			return false;
		r->nstreams++;
		if (jeat(j, ','))
			continue;
		if (!jeat(j, ']'))
			return false;
		j->depth--;
		return true;
	}
}

static bool results_field(void *ctx, const char *k, struct jr *j)
{
	struct results_ctx *c = ctx;
	double v;
	if (strcmp(k, "streams") == 0) {
		c->seen |= R_STREAMS;
		return results_streams(c->r, j);
	}
	unsigned bit = strcmp(k, "cpu_util_total") == 0 ? R_TOTAL : strcmp(k, "cpu_util_user") == 0 ? R_USER
		     : strcmp(k, "cpu_util_system") == 0 ? R_SYSTEM : strcmp(k, "sender_has_retransmits") == 0 ? R_SHR : 0;
	if (!bit)
		return jskip(j);
	if (!jnum(j, &v) || !isfinite(v))
		return false;
	c->seen |= bit;
	switch (bit) {
	case R_TOTAL: c->r->cpu_total = v; break;
	case R_USER: c->r->cpu_user = v; break;
	case R_SYSTEM: c->r->cpu_system = v; break;
	default: c->r->sender_has_retransmits = v == 1 ? 1 : v == 0 ? 0 : -1; break;
	}
	return true;
}

int tn_iperf3_parse_results(const char *json, size_t len, struct tn_iperf3_results *r)
{
	memset(r, 0, offsetof(struct tn_iperf3_results, streams));
	struct results_ctx c = {r, 0};
	struct jr j = {json, json + len, 0};
	if (!jobject(&j, results_field, &c))
		return -1;
	jws(&j);
	if (j.p != j.end || c.seen != (R_TOTAL | R_USER | R_SYSTEM | R_SHR | R_STREAMS))
		return -1;
	return 0;
}

/* ======================================================================
 * Bounded text output
 * ====================================================================== */

struct out {
	char *buf;
	size_t len, cap;
	bool full;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
	if (o->full)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->full = true;
		o->buf[o->len] = 0;
		return;
	}
	o->len += (size_t)n;
}

static void put_json_string(struct out *o, const char *s)
{
	put(o, "\"");
	for (; *s && !o->full; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			put(o, "\\%c", c);
		else if (c == '\n')
			put(o, "\\n");
		else if (c < 0x20 || c >= 0x7f)
			put(o, "\\u%04x", c);
		else
			put(o, "%c", c);
	}
	put(o, "\"");
}

/* iperf3's adaptive units: bytes by 1024 ("MBytes"), bits by 1000 ("Mbits"). */
static void fmt_unit(char *dst, size_t cap, double v, double base, const char *unit)
{
	static const char pre[] = " KMGT";
	int i = 0;
	while (v >= base && i < 4) {
		v /= base;
		i++;
	}
	const char *f = v < 9.995 ? "%4.2f %s%s" : v < 99.95 ? "%4.1f %s%s" : "%4.0f %s%s";
	char p[2] = {pre[i], 0};
	snprintf(dst, cap, f, v, i ? p : "", unit);
}

/* ======================================================================
 * The server
 * ====================================================================== */

enum phase { P_IDLE, P_COOKIE, P_PARAMS, P_STREAMS, P_RUNNING, P_RESULTS, P_DRAIN, P_DONE_WAIT };
enum conn_state { C_COOKIE, C_READY, C_DEAD };

/* epoll tags: kind in the top byte, the test's generation, an index */
enum { T_LISTEN = 1, T_CTRL = 2, T_CONN = 3, T_REFUSE = 4 };
#define TAG(kind, gen, idx) ((uint64_t)(kind) << 56 | (uint64_t)((gen) & 0xffffff) << 32 | (uint32_t)(idx))

struct dconn {                   /* a data connection of the test */
	int fd;                  /* -1 once closed */
	int sock;                /* the descriptor it had, for the server's text */
	uint8_t st;
	bool sender;
	int id;                  /* iperf3's stream id: 1, 3, 4, 5, ... */
	uint8_t have;
	char cookie[TN_IPERF3_COOKIE_LEN];
	uint64_t bytes;          /* since the start (the end of --omit) */
	uint64_t peer_bytes;     /* the client's count, from its results */
	bool peer_known;
	uint32_t retrans_base, retrans;
	struct sockaddr_in peer;
};

struct refusing {
	int fd;                  /* -1: free */
	uint64_t until;
};

struct tn_iperf3 {
	struct tn_stack *s;
	struct tn_iperf3_cfg cfg;
	int listen_fd, ep;
	struct tn_iperf3_stats st;
	char *scratch;           /* SCRATCH bytes: what we send, where received data goes */
	char *body;              /* control message body */
	char *out;               /* control output, out_off..out_len pending */
	uint32_t out_off, out_len;
	bool want_out;
	bool rearmed;            /* an epoll registration changed in this round */
	struct tn_iperf3_results *peer;
	struct refusing refusing[MAX_REFUSING];

	/* the test, while there is one */
	enum phase phase;
	uint32_t gen;
	int ctrl;
	struct sockaddr_in ctrl_peer, ctrl_local;
	struct tn_iperf3_msg msg;
	char cookie[TN_IPERF3_COOKIE_LEN];
	struct tn_iperf3_params prm;
	struct dconn *conns;
	uint32_t nconns, conns_cap, expected, nready, next_check;
	uint64_t deadline;       /* of the current phase; 0: none */
	uint64_t t_start, t_end, omit_end, last_progress, last_rx;
	bool omitting;
	uint64_t limit, sent;    /* bytes to send in all (-n, -k); sent since the start */
	uint64_t cpu_user0, cpu_sys0, cpu_user1, cpu_sys1;
	int64_t stack_retrans0, stack_retrans1;
};

static uint64_t now_ns(const struct tn_iperf3 *p) { return tern_now(p->s); }

__attribute__((format(printf, 2, 3))) static void logf_(struct tn_iperf3 *p, const char *fmt, ...)
{
	if (!p->cfg.log)
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	p->cfg.log(p->cfg.log_ctx, line);
}

static const char *addr_str(const struct sockaddr_in *a, char *buf, size_t cap)
{
	if (!inet_ntop(AF_INET, &a->sin_addr, buf, (socklen_t)cap))
		snprintf(buf, cap, "?");
	return buf;
}

static void ep_set(struct tn_iperf3 *p, int op, int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event e = {.events = events, .data.u64 = tag};
	tern_epoll_ctl(p->s, p->ep, op, fd, &e);
	p->rearmed = true;
}

static uint32_t total_retrans(struct tn_iperf3 *p, int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);
	if (fd < 0 || tern_getsockopt(p->s, fd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0 ||
	    l < offsetof(struct tcp_info, tcpi_total_retrans) + sizeof(ti.tcpi_total_retrans))
		return 0;
	return ti.tcpi_total_retrans;
}

static void cpu_now(struct tn_iperf3 *p, uint64_t *user, uint64_t *sys)
{
	*user = *sys = 0;
	if (p->cfg.cpu_times)
		p->cfg.cpu_times(p->cfg.cpu_ctx, user, sys);
}

/* ---- refused connections: one ACCESS_DENIED byte, our FIN, then read
 * until theirs (closing with their cookie unread would send a RST that
 * can destroy the byte in flight) ---- */

static void refuse(struct tn_iperf3 *p, int fd)
{
	int8_t b = TN_IPERF3_ACCESS_DENIED;
	tern_send(p->s, fd, &b, 1, 0);
	tern_shutdown(p->s, fd, SHUT_WR);
	for (int i = 0; i < MAX_REFUSING; i++) {
		if (p->refusing[i].fd >= 0)
			continue;
		p->refusing[i] = (struct refusing){fd, now_ns(p) + LINGER_NS};
		ep_set(p, EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLRDHUP, TAG(T_REFUSE, 0, i));
		return;
	}
	tern_close(p->s, fd); /* too many at once: no lingering for this one */
}

static void refusing_io(struct tn_iperf3 *p, uint32_t i)
{
	if (i >= MAX_REFUSING || p->refusing[i].fd < 0)
		return;
	ssize_t k;
	while ((k = tern_recv(p->s, p->refusing[i].fd, p->scratch, SCRATCH, 0)) > 0)
		;
	if (k == 0 || errno != EAGAIN) {
		tern_close(p->s, p->refusing[i].fd);
		p->refusing[i].fd = -1;
	}
}

static void refusing_sweep(struct tn_iperf3 *p)
{
	uint64_t now = now_ns(p);
	for (int i = 0; i < MAX_REFUSING; i++)
		if (p->refusing[i].fd >= 0 && now >= p->refusing[i].until) {
			tern_close(p->s, p->refusing[i].fd);
			p->refusing[i].fd = -1;
		}
}

/* ---- the control connection's output ---- */

static int ctl_flush(struct tn_iperf3 *p)
{
	while (p->out_off < p->out_len) {
		ssize_t k = tern_send(p->s, p->ctrl, p->out + p->out_off, p->out_len - p->out_off, 0);
		if (k < 0) {
			if (errno != EAGAIN)
				return -1;
			if (!p->want_out)
				ep_set(p, EPOLL_CTL_MOD, p->ctrl, EPOLLIN | EPOLLOUT | EPOLLRDHUP, TAG(T_CTRL, p->gen, 0));
			p->want_out = true;
			return 0;
		}
		p->out_off += (uint32_t)k;
	}
	p->out_off = p->out_len = 0;
	if (p->want_out)
		ep_set(p, EPOLL_CTL_MOD, p->ctrl, EPOLLIN | EPOLLRDHUP, TAG(T_CTRL, p->gen, 0));
	p->want_out = false;
	return 0;
}

/* Room for n more bytes at out + out_len, compacting first; NULL if none. */
static char *ctl_room(struct tn_iperf3 *p, size_t n)
{
	if (p->out_off) {
		memmove(p->out, p->out + p->out_off, p->out_len - p->out_off);
		p->out_len -= p->out_off;
		p->out_off = 0;
	}
	return p->out_len + n <= OUT_CAP ? p->out + p->out_len : NULL;
}

static void ctl_put(struct tn_iperf3 *p, const void *data, size_t n)
{
	char *dst = ctl_room(p, n);
	if (!dst)
		return; /* cannot happen with OUT_CAP: messages are bounded */
	memcpy(dst, data, n);
	p->out_len += (uint32_t)n;
}

static void send_state(struct tn_iperf3 *p, int8_t state) { ctl_put(p, &state, 1); }

static void send_error(struct tn_iperf3 *p, int32_t ie, int32_t err)
{
	uint32_t w[2] = {htonl((uint32_t)ie), htonl((uint32_t)err)};
	send_state(p, TN_IPERF3_SERVER_ERROR);
	ctl_put(p, w, sizeof(w));
}

/* ---- ending a test ---- */

static void conn_close(struct tn_iperf3 *p, struct dconn *c)
{
	if (c->fd < 0)
		return;
	if (c->st == C_READY && c->sender && p->phase == P_RUNNING)
		c->retrans = total_retrans(p, c->fd) - c->retrans_base;
	tern_close(p->s, c->fd);
	c->fd = -1;
}

static void test_close(struct tn_iperf3 *p)
{
	if (p->phase == P_IDLE)
		return;
	for (uint32_t i = 0; i < p->nconns; i++)
		conn_close(p, &p->conns[i]);
	free(p->conns);
	p->conns = NULL;
	p->nconns = p->conns_cap = p->expected = p->nready = p->next_check = 0;
	if (p->ctrl >= 0) {
		ctl_flush(p); /* a last state or error, if the socket takes it */
		tern_close(p->s, p->ctrl);
	}
	p->ctrl = -1;
	p->out_off = p->out_len = 0;
	p->want_out = false;
	p->phase = P_IDLE;
	p->deadline = 0;
	p->gen++;
}

static void test_abort(struct tn_iperf3 *p, const char *why)
{
	char a[INET_ADDRSTRLEN];
	logf_(p, "iperf3: test from %s port %u ended early: %s", addr_str(&p->ctrl_peer, a, sizeof(a)),
	      ntohs(p->ctrl_peer.sin_port), why);
	p->st.aborted++;
	test_close(p);
}

static void bad_control(struct tn_iperf3 *p, const char *why)
{
	char a[INET_ADDRSTRLEN];
	logf_(p, "iperf3: closing the control connection from %s port %u: %s", addr_str(&p->ctrl_peer, a, sizeof(a)),
	      ntohs(p->ctrl_peer.sin_port), why);
	p->st.bad_control++;
	test_close(p);
}

/* ---- the test's phases ---- */

static void expect_msg(struct tn_iperf3 *p, enum tn_iperf3_msg_kind kind, uint32_t max)
{
	tn_iperf3_msg_start(&p->msg, kind, p->body, max);
}

static bool receiving(const struct dconn *c) { return c->st == C_READY && !c->sender; }

static void start_test(struct tn_iperf3 *p)
{
	uint64_t now = now_ns(p);
	p->t_start = p->last_progress = now;
	p->omitting = p->prm.omit > 0;
	p->omit_end = now + (uint64_t)p->prm.omit * NS;
	p->sent = 0;
	p->limit = p->prm.bytes ? p->prm.bytes : p->prm.blocks ? p->prm.blocks * p->prm.len : 0;
	cpu_now(p, &p->cpu_user0, &p->cpu_sys0);
	p->stack_retrans0 = tern_stat(p->s, "TcpRetransSegs");
	for (uint32_t i = 0; i < p->nconns; i++) {
		struct dconn *c = &p->conns[i];
		if (c->st != C_READY)
			continue;
		c->retrans_base = c->sender ? total_retrans(p, c->fd) : 0;
		ep_set(p, EPOLL_CTL_MOD, c->fd, c->sender ? EPOLLIN | EPOLLOUT | EPOLLRDHUP : EPOLLIN | EPOLLRDHUP,
		       TAG(T_CONN, p->gen, i));
	}
	send_state(p, TN_IPERF3_TEST_START);
	send_state(p, TN_IPERF3_TEST_RUNNING);
	p->phase = P_RUNNING;
	p->deadline = p->prm.time ? now + (uint64_t)(p->prm.time + p->prm.omit) * NS + RUN_GRACE_NS : 0;
	char a[INET_ADDRSTRLEN];
	logf_(p, "iperf3: test from %s port %u: %u stream%s%s, %s %" PRIu64 "%s, block %u, client %s",
	      addr_str(&p->ctrl_peer, a, sizeof(a)), ntohs(p->ctrl_peer.sin_port), p->prm.parallel,
	      p->prm.parallel == 1 ? "" : "s",
	      p->prm.reverse ? ", reverse (tern sends)" : p->prm.bidir ? ", bidirectional" : " (tern receives)",
	      p->prm.bytes ? "bytes" : p->prm.blocks ? "blocks" : "time",
	      p->prm.bytes ? p->prm.bytes : p->prm.blocks ? p->prm.blocks : p->prm.time,
	      p->prm.bytes || p->prm.blocks ? "" : " s", p->prm.len,
	      p->prm.client_version[0] ? p->prm.client_version : "?");
}

/* Data connections are taken in the order they came: a stream's id is its
 * place among the valid ones, as the client numbers them. */
static void check_pending(struct tn_iperf3 *p)
{
	for (; p->next_check < p->nconns; p->next_check++) {
		struct dconn *c = &p->conns[p->next_check];
		if (c->st == C_COOKIE && c->have < TN_IPERF3_COOKIE_LEN)
			break;
		if (c->st != C_COOKIE)
			continue;
		if (memcmp(c->cookie, p->cookie, TN_IPERF3_COOKIE_LEN) != 0 || p->nready == p->expected) {
			p->st.bad_cookie++;
			ep_set(p, EPOLL_CTL_DEL, c->fd, 0, 0);
			refuse(p, c->fd); /* as iperf3: ACCESS_DENIED on that connection */
			c->fd = -1;
			c->st = C_DEAD;
			continue;
		}
		c->st = C_READY;
		c->id = p->nready == 0 ? 1 : (int)p->nready + 2; /* iperf3 numbers 1, 3, 4, ... */
		c->sender = p->prm.reverse || (p->prm.bidir && p->nready >= p->prm.parallel);
		p->nready++;
		int on = 1;
		if (p->prm.nodelay)
			tern_setsockopt(p->s, c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
		if (p->prm.window) {
			int w = (int)p->prm.window;
			tern_setsockopt(p->s, c->fd, SOL_SOCKET, c->sender ? SO_SNDBUF : SO_RCVBUF, &w, sizeof(w));
		}
		/* nothing to read until the test starts; a hangup still shows */
		ep_set(p, EPOLL_CTL_MOD, c->fd, EPOLLRDHUP, TAG(T_CONN, p->gen, p->next_check));
	}
	if (p->phase == P_STREAMS && p->nready == p->expected)
		start_test(p);
}

static void on_cookie(struct tn_iperf3 *p)
{
	for (int i = 0; i < TN_IPERF3_COOKIE_LEN - 1; i++)
		if (p->body[i] < 0x21 || p->body[i] > 0x7e) {
			bad_control(p, "the cookie is not 36 printable characters");
			return;
		}
	if (p->body[TN_IPERF3_COOKIE_LEN - 1] != 0) {
		bad_control(p, "the cookie does not end in NUL");
		return;
	}
	memcpy(p->cookie, p->body, TN_IPERF3_COOKIE_LEN);
	send_state(p, TN_IPERF3_PARAM_EXCHANGE);
	p->phase = P_PARAMS;
	expect_msg(p, TN_IPERF3_MSG_JSON, TN_IPERF3_MAX_PARAMS_JSON);
}

static void on_params(struct tn_iperf3 *p)
{
	if (tn_iperf3_parse_params(p->body, p->msg.len, &p->prm) < 0) {
		send_error(p, IE_RECVPARAMS, EINVAL);
		bad_control(p, "malformed parameters");
		return;
	}
	if (p->prm.udp || p->prm.sctp) {
		char a[INET_ADDRSTRLEN];
		logf_(p, "iperf3: refusing a %s test from %s: tern's iperf3 server runs TCP tests only",
		      p->prm.udp ? "UDP" : "SCTP", addr_str(&p->ctrl_peer, a, sizeof(a)));
		send_error(p, IE_STREAMLISTEN, EPROTONOSUPPORT);
		p->st.refused_proto++;
		test_close(p);
		return;
	}
	p->expected = p->prm.parallel * (p->prm.bidir ? 2 : 1);
	p->conns_cap = p->expected + EXTRA_CONNS;
	p->conns = calloc(p->conns_cap, sizeof(*p->conns));
	if (!p->conns) {
		send_error(p, IE_STREAMLISTEN, ENOMEM);
		test_abort(p, "out of memory");
		return;
	}
	send_state(p, TN_IPERF3_CREATE_STREAMS);
	p->phase = P_STREAMS;
	expect_msg(p, TN_IPERF3_MSG_STATE, 0);
}

static void end_test(struct tn_iperf3 *p)
{
	p->t_end = now_ns(p);
	cpu_now(p, &p->cpu_user1, &p->cpu_sys1);
	for (uint32_t i = 0; i < p->nconns; i++) {
		struct dconn *c = &p->conns[i];
		if (c->st == C_READY && c->sender)
			conn_close(p, c); /* takes its retransmissions; queued data still goes */
	}
	p->stack_retrans1 = tern_stat(p->s, "TcpRetransSegs");
	send_state(p, TN_IPERF3_EXCHANGE_RESULTS);
	p->phase = P_RESULTS;
	p->deadline = p->t_end + RESULTS_NS;
	expect_msg(p, TN_IPERF3_MSG_JSON, TN_IPERF3_MAX_RESULTS_JSON);
}

static double secs(uint64_t ns) { return (double)ns / 1e9; }

static void stream_line(struct out *o, int fd, double dur, uint64_t bytes, const char *retr, const char *role)
{
	char tb[32], bb[32];
	fmt_unit(tb, sizeof(tb), (double)bytes, 1024, "Bytes");
	fmt_unit(bb, sizeof(bb), dur > 0 ? (double)bytes * 8 / dur : 0, 1000, "bits/sec");
	if (fd >= 0)
		put(o, "[%3d] ", fd);
	else
		put(o, "[SUM] ");
	put(o, "  0.00-%-6.2f sec  %s  %s  %4s             %s\n", dur, tb, bb, retr, role);
}

/* What --get-server-output shows: iperf3's summary lines for our side. */
static void server_text(struct tn_iperf3 *p, struct out *o)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	double dur = secs(p->t_end - p->t_start);
	put(o, "Accepted connection from %s, port %u\n", addr_str(&p->ctrl_peer, a, sizeof(a)), ntohs(p->ctrl_peer.sin_port));
	for (uint32_t i = 0; i < p->nconns; i++) {
		struct dconn *c = &p->conns[i];
		if (c->st == C_READY)
			put(o, "[%3d] local %s port %u connected to %s port %u\n", c->sock,
			    addr_str(&p->ctrl_local, a, sizeof(a)), ntohs(p->ctrl_local.sin_port),
			    addr_str(&c->peer, b, sizeof(b)), ntohs(c->peer.sin_port));
	}
	bool any_sender = false;
	for (uint32_t i = 0; i < p->nconns; i++)
		any_sender |= p->conns[i].st == C_READY && p->conns[i].sender;
	put(o, "- - - - - - - - - - - - - - - - - - - - - - - - -\n");
	put(o, "[ ID] Interval           Transfer     Bitrate%s\n", any_sender ? "         Retr" : "");
	uint64_t sum[2] = {0, 0}, retr = 0;
	for (uint32_t i = 0; i < p->nconns; i++) {
		struct dconn *c = &p->conns[i];
		if (c->st != C_READY)
			continue;
		char r[16] = "";
		if (c->sender)
			snprintf(r, sizeof(r), "%u", c->retrans);
		stream_line(o, c->sock, dur, c->bytes, r, c->sender ? "sender" : "receiver");
		sum[c->sender] += c->bytes;
		retr += c->sender ? c->retrans : 0;
	}
	if (p->nready > 1)
		for (int k = 0; k < 2; k++) {
			bool any = false;
			for (uint32_t i = 0; i < p->nconns; i++)
				any |= p->conns[i].st == C_READY && p->conns[i].sender == (k == 1);
			char r[24] = "";
			if (k == 1)
				snprintf(r, sizeof(r), "%" PRIu64, retr);
			if (any)
				stream_line(o, -1, dur, sum[k], r, k ? "sender" : "receiver");
		}
	put(o, "tern: %" PRId64 " segments retransmitted by the whole stack during the test\n",
	    p->stack_retrans1 - p->stack_retrans0);
}

static void send_results(struct tn_iperf3 *p)
{
	double wall = secs(p->t_end - p->t_start);
	double user = wall > 0 ? secs(p->cpu_user1 - p->cpu_user0) / wall * 100 : 0;
	double sys = wall > 0 ? secs(p->cpu_sys1 - p->cpu_sys0) / wall * 100 : 0;
	bool any_sender = false;
	for (uint32_t i = 0; i < p->nconns; i++)
		any_sender |= p->conns[i].st == C_READY && p->conns[i].sender;
	char *word = ctl_room(p, OUT_CAP - 64);
	if (!word) {
		test_abort(p, "no room for the results");
		return;
	}
	struct out o = {word + 4, 0, OUT_CAP - 64 - 4, false};
	put(&o, "{\"cpu_util_total\":%.6f,\"cpu_util_user\":%.6f,\"cpu_util_system\":%.6f,\"sender_has_retransmits\":%d",
	    user + sys, user, sys, any_sender ? 1 : -1);
	if (p->prm.get_server_output) {
		char *text = malloc(TEXT_MAX);
		if (text) {
			struct out t = {text, 0, TEXT_MAX, false};
			text[0] = 0;
			server_text(p, &t);
			put(&o, ",\"server_output_text\":");
			put_json_string(&o, text);
			free(text);
		}
	}
	put(&o, ",\"streams\":[");
	bool first = true;
	for (uint32_t i = 0; i < p->nconns; i++) {
		struct dconn *c = &p->conns[i];
		if (c->st != C_READY)
			continue;
		put(&o, "%s{\"id\":%d,\"bytes\":%" PRIu64 ",\"retransmits\":%" PRId64 ",\"jitter\":0,\"errors\":0,"
			"\"packets\":0,\"start_time\":0,\"end_time\":%.6f}",
		    first ? "" : ",", c->id, c->bytes, c->sender ? (int64_t)c->retrans : -1, wall);
		first = false;
	}
	put(&o, "]}");
	if (o.full) {
		test_abort(p, "the results do not fit");
		return;
	}
	uint32_t be = htonl((uint32_t)o.len);
	memcpy(word, &be, 4);
	p->out_len += 4 + (uint32_t)o.len;
	send_state(p, TN_IPERF3_DISPLAY_RESULTS);
	p->phase = P_DONE_WAIT;
	p->deadline = now_ns(p) + RESULTS_NS;
	expect_msg(p, TN_IPERF3_MSG_STATE, 0);
}

/* The client's counts are in: wait for the bytes it sent that are still
 * on their way (a retransmission among them, perhaps), so both sides
 * report the same.  A stream the client did not count, or any after
 * --omit (whose end each side takes at its own moment), is done when
 * nothing has come for a while. */
static bool drained(struct tn_iperf3 *p)
{
	uint64_t now = now_ns(p);
	if (now >= p->deadline)
		return true;
	bool quiet = now - p->last_rx >= DRAIN_QUIET_NS;
	for (uint32_t i = 0; i < p->nconns; i++) {
		struct dconn *c = &p->conns[i];
		if (!receiving(c) || c->fd < 0 || (c->peer_known && c->bytes >= c->peer_bytes))
			continue;
		if (quiet && (!c->peer_known || p->prm.omit))
			continue;
		return false;
	}
	return true;
}

static void on_results(struct tn_iperf3 *p)
{
	if (tn_iperf3_parse_results(p->body, p->msg.len, p->peer) < 0) {
		bad_control(p, "malformed results");
		return;
	}
	for (uint32_t k = 0; k < p->peer->nstreams; k++)
		for (uint32_t i = 0; i < p->nconns; i++) {
			struct dconn *c = &p->conns[i];
			if (receiving(c) && c->id == p->peer->streams[k].id) {
				c->peer_bytes = p->peer->streams[k].bytes;
				c->peer_known = true;
			}
		}
	p->phase = P_DRAIN;
	p->last_rx = now_ns(p);
	p->deadline = p->last_rx + DRAIN_NS;
	expect_msg(p, TN_IPERF3_MSG_STATE, 0);
	if (drained(p))
		send_results(p);
}

static void on_done(struct tn_iperf3 *p)
{
	char a[INET_ADDRSTRLEN];
	uint64_t in = 0, out = 0;
	for (uint32_t i = 0; i < p->nconns; i++)
		if (p->conns[i].st == C_READY)
			*(p->conns[i].sender ? &out : &in) += p->conns[i].bytes;
	double d = secs(p->t_end - p->t_start);
	logf_(p, "iperf3: test from %s port %u done: %.2f s, received %" PRIu64 " bytes (%.1f Mbit/s), sent %" PRIu64
		 " bytes (%.1f Mbit/s)",
	      addr_str(&p->ctrl_peer, a, sizeof(a)), ntohs(p->ctrl_peer.sin_port), d, in, d > 0 ? in * 8 / d / 1e6 : 0,
	      out, d > 0 ? out * 8 / d / 1e6 : 0);
	p->st.completed++;
	test_close(p);
}

static void on_state(struct tn_iperf3 *p, int8_t state)
{
	if (state == TN_IPERF3_CLIENT_TERMINATE) {
		test_abort(p, "the client terminated it");
		return;
	}
	if (p->phase == P_RUNNING && state == TN_IPERF3_TEST_END) {
		end_test(p);
		return;
	}
	if (p->phase == P_DONE_WAIT && state == TN_IPERF3_IPERF_DONE) {
		on_done(p);
		return;
	}
	char why[64];
	snprintf(why, sizeof(why), "state %d unexpected here", state);
	bad_control(p, why);
}

static void on_message(struct tn_iperf3 *p)
{
	p->last_progress = now_ns(p);
	switch (p->phase) {
	case P_COOKIE: on_cookie(p); break;
	case P_PARAMS: on_params(p); break;
	case P_RESULTS: on_results(p); break;
	default: on_state(p, p->msg.state); break;
	}
}

static void ctrl_io(struct tn_iperf3 *p, uint32_t events)
{
	uint32_t gen = p->gen;
	if ((events & EPOLLOUT) && ctl_flush(p) < 0) {
		test_abort(p, "the control connection failed");
		return;
	}
	while (p->gen == gen && p->phase != P_IDLE) {
		char buf[4096];
		size_t need = tn_iperf3_msg_need(&p->msg);
		ssize_t k = tern_recv(p->s, p->ctrl, buf, need < sizeof(buf) ? need : sizeof(buf), 0);
		if (k < 0 && errno == EAGAIN)
			break;
		if (k <= 0) {
			if (p->phase == P_DONE_WAIT)
				on_done(p); /* the client closed after the results: as good as IPERF_DONE */
			else
				test_abort(p, k == 0 ? "the client closed the control connection" : "the control connection failed");
			return;
		}
		if (tn_iperf3_msg_take(&p->msg, buf, (size_t)k) < 0) {
			bad_control(p, "a JSON length out of range");
			return;
		}
		if (p->msg.done)
			on_message(p);
	}
	if (p->gen == gen && p->phase != P_IDLE && ctl_flush(p) < 0)
		test_abort(p, "the control connection failed");
}

/* ---- data ---- */

static void conn_recv(struct tn_iperf3 *p, struct dconn *c)
{
	bool count = p->phase == P_RUNNING || p->phase == P_RESULTS || p->phase == P_DRAIN;
	ssize_t k;
	while ((k = tern_recv(p->s, c->fd, p->scratch, SCRATCH, 0)) > 0) {
		p->st.bytes_in += (uint64_t)k;
		if (count && !c->sender) {
			c->bytes += (uint64_t)k;
			p->last_progress = p->last_rx = now_ns(p);
		}
	}
	if (k == 0 || errno != EAGAIN)
		conn_close(p, c);
}

static void conn_send(struct tn_iperf3 *p, struct dconn *c, uint32_t idx)
{
	while (p->phase == P_RUNNING && (!p->limit || p->sent < p->limit)) {
		size_t n = SCRATCH;
		if (p->limit && p->limit - p->sent < n)
			n = (size_t)(p->limit - p->sent);
		ssize_t k = tern_send(p->s, c->fd, p->scratch, n, 0);
		if (k < 0) {
			if (errno != EAGAIN)
				conn_close(p, c);
			return;
		}
		c->bytes += (uint64_t)k;
		p->sent += (uint64_t)k;
		p->st.bytes_out += (uint64_t)k;
		p->last_progress = now_ns(p);
	}
	/* the limit is reached: wait for TEST_END with nothing to write */
	ep_set(p, EPOLL_CTL_MOD, c->fd, EPOLLIN | EPOLLRDHUP, TAG(T_CONN, p->gen, idx));
}

static void conn_io(struct tn_iperf3 *p, uint32_t idx, uint32_t events)
{
	if (idx >= p->nconns || p->conns[idx].fd < 0)
		return;
	struct dconn *c = &p->conns[idx];
	if (c->st == C_COOKIE) {
		bool gone = false;
		if (c->have < TN_IPERF3_COOKIE_LEN) {
			ssize_t k = tern_recv(p->s, c->fd, c->cookie + c->have, TN_IPERF3_COOKIE_LEN - c->have, 0);
			if (k > 0 && (c->have += (uint8_t)k) == TN_IPERF3_COOKIE_LEN) /* read no further yet */
				ep_set(p, EPOLL_CTL_MOD, c->fd, EPOLLRDHUP, TAG(T_CONN, p->gen, idx));
			gone = k == 0 || (k < 0 && errno != EAGAIN);
		} else {
			gone = events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR);
		}
		if (gone) {
			tern_close(p->s, c->fd);
			c->fd = -1;
			c->st = C_DEAD;
		}
		check_pending(p);
		return;
	}
	if (p->phase == P_STREAMS) { /* a ready stream that hung up before the start */
		test_abort(p, "a data connection closed before the test started");
		return;
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		conn_recv(p, c);
	if (c->fd >= 0 && c->sender && (events & EPOLLOUT))
		conn_send(p, c, idx);
}

static void accept_all(struct tn_iperf3 *p)
{
	for (;;) {
		struct sockaddr_in peer;
		socklen_t pl = sizeof(peer);
		int fd = tern_accept(p->s, p->listen_fd, (struct sockaddr *)&peer, &pl);
		if (fd < 0)
			return;
		if (p->phase == P_IDLE) {
			p->ctrl = fd;
			p->ctrl_peer = peer;
			socklen_t ll = sizeof(p->ctrl_local);
			tern_getsockname(p->s, fd, (struct sockaddr *)&p->ctrl_local, &ll);
			int on = 1; /* the control messages are small and each waits for an answer */
			tern_setsockopt(p->s, fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
			ep_set(p, EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLRDHUP, TAG(T_CTRL, p->gen, 0));
			p->phase = P_COOKIE;
			p->deadline = now_ns(p) + HANDSHAKE_NS;
			p->last_progress = now_ns(p);
			memset(&p->prm, 0, sizeof(p->prm));
			expect_msg(p, TN_IPERF3_MSG_COOKIE, TN_IPERF3_COOKIE_LEN);
			p->st.tests++;
		} else if (p->phase == P_STREAMS && p->nconns < p->conns_cap) {
			struct dconn *c = &p->conns[p->nconns];
			memset(c, 0, sizeof(*c));
			c->fd = c->sock = fd;
			c->st = C_COOKIE;
			c->peer = peer;
			ep_set(p, EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLRDHUP, TAG(T_CONN, p->gen, p->nconns));
			p->nconns++;
		} else {
			char a[INET_ADDRSTRLEN];
			logf_(p, "iperf3: %s port %u refused: a test is running", addr_str(&peer, a, sizeof(a)),
			      ntohs(peer.sin_port));
			p->st.busy++;
			refuse(p, fd);
		}
	}
}

static void on_timeout(struct tn_iperf3 *p)
{
	if (p->phase == P_DRAIN) {
		send_results(p);
		ctl_flush(p);
		return;
	}
	p->st.timeouts++;
	if (p->phase == P_RUNNING) {
		send_state(p, TN_IPERF3_SERVER_TERMINATE);
		test_abort(p, "no TEST_END in time");
	} else {
		test_abort(p, p->phase == P_COOKIE ? "no cookie in time" : p->phase == P_PARAMS ? "no parameters in time"
			      : p->phase == P_STREAMS ? "the data connections did not all come"
			      : "the results exchange stalled");
	}
}

static void tick(struct tn_iperf3 *p)
{
	uint64_t now = now_ns(p);
	refusing_sweep(p);
	if (p->phase == P_RUNNING && p->omitting && now >= p->omit_end) {
		/* --omit is over: count from here, as iperf3's reset of its stats */
		p->omitting = false;
		p->t_start = now;
		p->sent = 0;
		for (uint32_t i = 0; i < p->nconns; i++) {
			struct dconn *c = &p->conns[i];
			c->bytes = 0;
			if (c->st == C_READY && c->sender && c->fd >= 0)
				c->retrans_base = total_retrans(p, c->fd);
		}
		p->stack_retrans0 = tern_stat(p->s, "TcpRetransSegs");
		cpu_now(p, &p->cpu_user0, &p->cpu_sys0);
	}
	if (p->phase == P_DRAIN && drained(p)) {
		send_results(p);
		if (p->phase != P_IDLE && ctl_flush(p) < 0)
			test_abort(p, "the control connection failed");
		return;
	}
	if (p->phase != P_IDLE && p->deadline && now >= p->deadline) {
		on_timeout(p);
		return;
	}
	if (p->phase == P_RUNNING && now - p->last_progress >= IDLE_NS) {
		p->st.timeouts++;
		send_state(p, TN_IPERF3_SERVER_TERMINATE);
		test_abort(p, "nothing moved for 60 s");
	}
}

static unsigned step_round(struct tn_iperf3 *p)
{
	struct epoll_event evs[128];
	unsigned work = 0;
	int n;
	while ((n = tern_epoll_wait(p->s, p->ep, evs, 128)) > 0) {
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			uint32_t kind = (uint32_t)(tag >> 56), gen = (uint32_t)(tag >> 32) & 0xffffff, idx = (uint32_t)tag;
			if (kind == T_LISTEN)
				accept_all(p);
			else if (kind == T_REFUSE)
				refusing_io(p, idx);
			else if (gen != (p->gen & 0xffffff) || p->phase == P_IDLE)
				continue; /* left from a test that has ended */
			else if (kind == T_CTRL)
				ctrl_io(p, evs[i].events);
			else if (kind == T_CONN)
				conn_io(p, idx, evs[i].events);
		}
		work += (unsigned)n;
		if (n < 128)
			break;
	}
	tick(p);
	/* whatever the step queued on the control connection goes now */
	if (p->phase != P_IDLE && p->out_len > p->out_off && ctl_flush(p) < 0)
		test_abort(p, "the control connection failed");
	return work;
}

unsigned tn_iperf3_step(struct tn_iperf3 *p)
{
	unsigned work = 0;
	/* A registration added or changed in a round (a new connection, the
	 * streams armed at the start) is ready at once, but nothing would wake
	 * the poll loop for it: take it in another round. */
	for (int round = 0; round < 4; round++) {
		p->rearmed = false;
		work += step_round(p);
		if (!p->rearmed)
			break;
	}
	return work;
}

uint64_t tn_iperf3_next_at(struct tn_iperf3 *p)
{
	/* Input that reached a socket after the last step (the poll loop's
	 * final tern_poll also receives) is work now.  A peek: every
	 * registration is level-triggered, so it stays ready. */
	struct epoll_event ev;
	if (p->rearmed || tern_epoll_wait(p->s, p->ep, &ev, 1) > 0)
		return tern_now(p->s);
	uint64_t t = UINT64_MAX;
	for (int i = 0; i < MAX_REFUSING; i++)
		if (p->refusing[i].fd >= 0 && p->refusing[i].until < t)
			t = p->refusing[i].until;
	if (p->phase == P_IDLE)
		return t;
	if (p->deadline && p->deadline < t)
		t = p->deadline;
	if (p->phase == P_RUNNING && p->omitting && p->omit_end < t)
		t = p->omit_end;
	if (p->phase == P_RUNNING && p->last_progress + IDLE_NS < t)
		t = p->last_progress + IDLE_NS;
	if (p->phase == P_DRAIN && p->last_rx + DRAIN_QUIET_NS < t)
		t = p->last_rx + DRAIN_QUIET_NS;
	return t;
}

struct tn_iperf3 *tn_iperf3_new(struct tn_stack *s, const struct tn_iperf3_cfg *cfg)
{
	struct tn_iperf3 *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->s = s;
	p->cfg = *cfg;
	if (!p->cfg.port)
		p->cfg.port = DEFAULT_PORT;
	p->listen_fd = p->ep = p->ctrl = -1;
	for (int i = 0; i < MAX_REFUSING; i++)
		p->refusing[i].fd = -1;
	p->scratch = malloc(SCRATCH);
	p->body = malloc(TN_IPERF3_MAX_RESULTS_JSON + 1);
	p->out = malloc(OUT_CAP);
	p->peer = malloc(sizeof(*p->peer));
	if (!p->scratch || !p->body || !p->out || !p->peer) {
		errno = ENOMEM;
		goto fail;
	}
	/* what the streams carry: a fixed pattern (iperf3 sends random bytes) */
	for (size_t i = 0; i < SCRATCH; i++)
		p->scratch[i] = "0123456789abcdefghijklmnopqrstuvwxyz"[i % 36];
	p->listen_fd = tern_socket(s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int on = 1;
	tern_setsockopt(s, p->listen_fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(p->cfg.port), .sin_addr.s_addr = htonl(cfg->addr)};
	if (p->listen_fd < 0 || tern_bind(s, p->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    tern_listen(s, p->listen_fd, 128) < 0)
		goto fail;
	p->ep = tern_epoll_create(s);
	if (p->ep < 0)
		goto fail;
	struct epoll_event e = {.events = EPOLLIN, .data.u64 = TAG(T_LISTEN, 0, 0)};
	if (tern_epoll_ctl(s, p->ep, EPOLL_CTL_ADD, p->listen_fd, &e) < 0)
		goto fail;
	return p;
fail:;
	int err = errno;
	tn_iperf3_free(p);
	errno = err;
	return NULL;
}

const struct tn_iperf3_stats *tn_iperf3_stats(const struct tn_iperf3 *p) { return &p->st; }

void tn_iperf3_free(struct tn_iperf3 *p)
{
	if (!p)
		return;
	if (p->phase != P_IDLE) {
		send_state(p, TN_IPERF3_SERVER_TERMINATE);
		test_abort(p, "the server is stopping");
	}
	for (int i = 0; i < MAX_REFUSING; i++)
		if (p->refusing[i].fd >= 0)
			tern_close(p->s, p->refusing[i].fd);
	if (p->ep >= 0)
		tern_close(p->s, p->ep);
	if (p->listen_fd >= 0)
		tern_close(p->s, p->listen_fd);
	free(p->scratch);
	free(p->body);
	free(p->out);
	free(p->peer);
	free(p);
}
