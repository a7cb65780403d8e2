/* libFuzzer target: iperf3's control input as tern's server reads it.
 * The input is parsed whole as parameter JSON and as results JSON, and
 * read as a control stream (cookie, parameter message, states, results
 * message) through the framing reader, handed over in pieces whose sizes
 * come from the input itself.  Promises checked: what parses is in range,
 * parsing is deterministic, a parsed object loses its verdict when its
 * closing brace is cut off, framing never takes more than it is offered or
 * than a message needs, and splitting the stream changes nothing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app/iperf3.h"

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_params(const char *buf, size_t len)
{
	struct tn_iperf3_params a, b;
	int ra = tn_iperf3_parse_params(buf, len, &a);
	int rb = tn_iperf3_parse_params(buf, len, &b);
	CHECK(ra == 0 || ra == -1);
	CHECK(ra == rb);
	if (ra < 0)
		return;
	CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	CHECK(a.parallel >= 1 && a.parallel <= TN_IPERF3_MAX_PARALLEL);
	CHECK(a.len >= 1 && a.len <= TN_IPERF3_MAX_BLKSIZE);
	CHECK(!(a.reverse && a.bidir));
	CHECK(a.tcp || a.udp || a.sctp);
	CHECK(a.time <= 86400 && a.omit <= 86400 && a.tos <= 255);
	CHECK(memchr(a.client_version, 0, sizeof(a.client_version)) != NULL);
	if (len && buf[len - 1] == '}')
		CHECK(tn_iperf3_parse_params(buf, len - 1, &b) == -1);
}

static void check_results(const char *buf, size_t len)
{
	static struct tn_iperf3_results a, b; /* 10 KiB each: off the stack */
	int ra = tn_iperf3_parse_results(buf, len, &a);
	int rb = tn_iperf3_parse_results(buf, len, &b);
	CHECK(ra == 0 || ra == -1);
	CHECK(ra == rb);
	if (ra < 0)
		return;
	CHECK(a.nstreams == b.nstreams && a.nstreams <= TN_IPERF3_MAX_STREAMS);
	CHECK(a.sender_has_retransmits >= -1 && a.sender_has_retransmits <= 1);
	CHECK(isfinite(a.cpu_total) && isfinite(a.cpu_user) && isfinite(a.cpu_system));
	for (uint32_t i = 0; i < a.nstreams; i++) {
		const struct tn_iperf3_peer_stream *s = &a.streams[i], *t = &b.streams[i];
		CHECK(s->id >= 0 && s->bytes <= (1ull << 62) && s->retransmits >= -1);
		CHECK(isfinite(s->start_time) && isfinite(s->end_time));
		CHECK(s->id == t->id && s->bytes == t->bytes && s->retransmits == t->retransmits);
	}
	if (len && buf[len - 1] == '}')
		CHECK(tn_iperf3_parse_results(buf, len - 1, &b) == -1);
}

/* What a control stream yields: for each message, its kind and verdict,
 * and a hash of its content. */
struct trace {
	uint32_t n;
	uint64_t h;
	int err;
};

/* Read data as the server's control connection would: a cookie, the
 * parameters, a state, the results, then states.  Pieces are `step` bytes
 * or, with step 0, sized by the input from byte `salt` on. */
static struct trace run_stream(const uint8_t *data, size_t size, size_t step, size_t salt)
{
	static char body[TN_IPERF3_MAX_RESULTS_JSON + 1];
	static const uint8_t kinds[] = {TN_IPERF3_MSG_COOKIE, TN_IPERF3_MSG_JSON, TN_IPERF3_MSG_STATE, TN_IPERF3_MSG_JSON};
	static const uint32_t maxes[] = {TN_IPERF3_COOKIE_LEN, TN_IPERF3_MAX_PARAMS_JSON, 0, TN_IPERF3_MAX_RESULTS_JSON};
	struct trace t = {0, 1469598103934665603ull, 0};
	struct tn_iperf3_msg m;
	size_t off = 0, k = 0;
	tn_iperf3_msg_start(&m, kinds[0], body, maxes[0]);
	while (off < size) {
		size_t piece = step ? step : data[(salt + k++) % size] % 23 + 1u;
		if (piece > size - off)
			piece = size - off;
		size_t need = tn_iperf3_msg_need(&m);
		CHECK(need > 0);
		ssize_t took = tn_iperf3_msg_take(&m, data + off, piece);
		if (took < 0) {
			CHECK(m.kind == TN_IPERF3_MSG_JSON && (m.len == 0 || m.len > m.max));
			CHECK(tn_iperf3_msg_need(&m) == 0 && tn_iperf3_msg_take(&m, data + off, piece) == -1);
			t.err = 1;
			break;
		}
		CHECK((size_t)took <= piece && (size_t)took <= need);
		CHECK((size_t)took == piece || (size_t)took == need); /* takes all it may */
		off += (size_t)took;
		if (!m.done)
			continue;
		CHECK(tn_iperf3_msg_need(&m) == 0);
		uint8_t kind = m.kind;
		t.h = (t.h ^ kind) * 1099511628211ull;
		if (kind == TN_IPERF3_MSG_STATE) {
			t.h = (t.h ^ (uint8_t)m.state) * 1099511628211ull;
		} else {
			size_t n = kind == TN_IPERF3_MSG_COOKIE ? TN_IPERF3_COOKIE_LEN : m.len;
			CHECK(m.body[n] == 0);
			if (kind == TN_IPERF3_MSG_JSON)
				CHECK(m.len >= 1 && m.len <= m.max && m.have == 4 + m.len);
			for (size_t i = 0; i < n; i++)
				t.h = (t.h ^ (uint8_t)m.body[i]) * 1099511628211ull;
			if (kind == TN_IPERF3_MSG_JSON && t.n == 1)
				check_params(m.body, m.len);
			else if (kind == TN_IPERF3_MSG_JSON)
				check_results(m.body, m.len);
		}
		t.n++;
		uint32_t next = t.n < 4 ? t.n : 2; /* states from then on */
		tn_iperf3_msg_start(&m, kinds[next], body, maxes[next]);
	}
	return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a private copy of exactly size bytes: ASan catches any read past it */
	char *buf = malloc(size ? size : 1);
	memcpy(buf, data, size);
	check_params(buf, size);
	check_results(buf, size);
	free(buf);
	if (!size)
		return 0;
	struct trace whole = run_stream(data, size, size, 0);
	struct trace bytes = run_stream(data, size, 1, 0);
	struct trace split = run_stream(data, size, 0, data[0]);
	CHECK(whole.n == bytes.n && whole.h == bytes.h && whole.err == bytes.err);
	CHECK(whole.n == split.n && whole.h == split.h && whole.err == split.err);
	return 0;
}
