/* An iperf3 server on tern's socket and epoll API: the control protocol of
 * iperf 3.x (cookie, one-byte states, length-prefixed JSON), TCP tests in
 * both directions (normal, --reverse, --bidir), parallel streams, time,
 * byte and block limits, --omit, --get-server-output.  One test at a
 * time: a client arriving while one runs is told ACCESS_DENIED ("the server
 * is busy"), as iperf3 does.  UDP and SCTP tests are refused with
 * SERVER_ERROR.  Non-blocking: call tn_iperf3_step() after each
 * tern_poll(). */
#ifndef TERN_APP_IPERF3_H
#define TERN_APP_IPERF3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct tn_stack;

/* The control protocol's states, one signed byte each (iperf_api.h). */
enum tn_iperf3_state {
	TN_IPERF3_TEST_START = 1,
	TN_IPERF3_TEST_RUNNING = 2,
	TN_IPERF3_TEST_END = 4,
	TN_IPERF3_PARAM_EXCHANGE = 9,
	TN_IPERF3_CREATE_STREAMS = 10,
	TN_IPERF3_SERVER_TERMINATE = 11,
	TN_IPERF3_CLIENT_TERMINATE = 12,
	TN_IPERF3_EXCHANGE_RESULTS = 13,
	TN_IPERF3_DISPLAY_RESULTS = 14,
	TN_IPERF3_IPERF_DONE = 16,
	TN_IPERF3_ACCESS_DENIED = -1,
	TN_IPERF3_SERVER_ERROR = -2,
};

#define TN_IPERF3_COOKIE_LEN 37      /* 36 characters and a NUL */
#define TN_IPERF3_MAX_PARALLEL 128   /* iperf3's MAX_STREAMS */
#define TN_IPERF3_MAX_STREAMS (2 * TN_IPERF3_MAX_PARALLEL) /* --bidir doubles them */
#define TN_IPERF3_MAX_BLKSIZE (1u << 20)  /* iperf3's MAX_BLOCKSIZE */
#define TN_IPERF3_MAX_PARAMS_JSON 16384
#define TN_IPERF3_MAX_RESULTS_JSON 65536

struct tn_iperf3_cfg {
	uint32_t addr;           /* host order; 0: any */
	uint16_t port;           /* 0: 5201 */
	/* CPU time this process has used so far (ns), for the cpu_util fields
	 * of the results.  NULL: they read 0 (a simulation has no CPU clock). */
	void (*cpu_times)(void *ctx, uint64_t *user_ns, uint64_t *system_ns);
	void *cpu_ctx;
	/* One line per test event (start, end, refusals, bad input).  NULL: none. */
	void (*log)(void *ctx, const char *line);
	void *log_ctx;
};

struct tn_iperf3_stats {
	uint64_t tests;          /* control connections taken */
	uint64_t completed;      /* tests that ended with IPERF_DONE */
	uint64_t aborted;        /* ended early: client terminated or went away, or a timeout */
	uint64_t timeouts;       /* of those, ended by one of our deadlines */
	uint64_t busy;           /* connections refused with ACCESS_DENIED while a test ran */
	uint64_t bad_cookie;     /* data connections refused: not the test's cookie, or one too many */
	uint64_t bad_control;    /* control connections closed for malformed input */
	uint64_t refused_proto;  /* UDP or SCTP tests refused */
	uint64_t bytes_in, bytes_out; /* test data received and sent */
};

struct tn_iperf3;
/* Listens at once; NULL with errno on failure (EADDRINUSE). */
struct tn_iperf3 *tn_iperf3_new(struct tn_stack *s, const struct tn_iperf3_cfg *cfg);
/* Accept, read, write and run the test's clock; returns work done. */
unsigned tn_iperf3_step(struct tn_iperf3 *p);
/* When the server next has work (the stack's clock): now if a socket of
 * its is ready (input can arrive after a step, in the poll loop's last
 * tern_poll), else its next deadline, or UINT64_MAX.  A poll loop sleeps
 * no longer than this. */
uint64_t tn_iperf3_next_at(struct tn_iperf3 *p);
const struct tn_iperf3_stats *tn_iperf3_stats(const struct tn_iperf3 *p);
/* Ends a running test (SERVER_TERMINATE), closes everything. */
void tn_iperf3_free(struct tn_iperf3 *p);

/* ---- The protocol's pure parts, exposed for tests and the fuzzer ---- */

/* Framing of control input: a cookie, a state byte, or a JSON message
 * (4-byte big-endian length, then that many bytes).  The reader asks for
 * no more than the message needs, so nothing is ever left over. */
enum tn_iperf3_msg_kind { TN_IPERF3_MSG_COOKIE, TN_IPERF3_MSG_STATE, TN_IPERF3_MSG_JSON };
struct tn_iperf3_msg {
	uint8_t kind;
	bool done;               /* a whole message is in */
	bool bad;                /* the length word was out of range: nothing more is taken */
	uint32_t have;           /* bytes of it taken (the length word included) */
	uint32_t len;            /* JSON: the body length, once its 4 bytes are in */
	uint32_t max;            /* JSON: largest body accepted */
	uint8_t word[4];
	int8_t state;            /* STATE: the byte */
	char *body;              /* COOKIE or JSON body, NUL-terminated when done; max+1 bytes */
};
/* Start reading a message of this kind into body (capacity: max + 1, and
 * at least TN_IPERF3_COOKIE_LEN + 1). */
void tn_iperf3_msg_start(struct tn_iperf3_msg *m, enum tn_iperf3_msg_kind kind, char *body, uint32_t max);
/* Bytes the message still needs. */
size_t tn_iperf3_msg_need(const struct tn_iperf3_msg *m);
/* Take up to n bytes (never more than need); returns bytes taken, or -1
 * if the JSON length word is 0 or over max. */
ssize_t tn_iperf3_msg_take(struct tn_iperf3_msg *m, const void *data, size_t n);

/* A test's parameters, as the client sends them. */
struct tn_iperf3_params {
	bool tcp, udp, sctp, reverse, bidir, nodelay, get_server_output;
	uint32_t omit, time;     /* seconds */
	uint32_t parallel;       /* 1..TN_IPERF3_MAX_PARALLEL */
	uint32_t len;            /* block size: 1..TN_IPERF3_MAX_BLKSIZE */
	uint32_t mss, window, tos;
	uint64_t bytes, blocks;  /* -n, -k; 0: unlimited */
	uint64_t bandwidth;      /* -b in bit/s; 0: unlimited */
	char client_version[16];
};
/* Parse the parameter JSON (not NUL-terminated; exactly len bytes).
 * Unknown fields are skipped.  0, or -1 if it is not one well-formed JSON
 * object or a known field has a wrong type or an out-of-range value. */
int tn_iperf3_parse_params(const char *json, size_t len, struct tn_iperf3_params *p);

/* The client's results: one entry per stream. */
struct tn_iperf3_peer_stream {
	int32_t id;
	uint64_t bytes;
	int64_t retransmits;     /* -1: not known */
	double start_time, end_time;
};
struct tn_iperf3_results {
	double cpu_total, cpu_user, cpu_system;
	int sender_has_retransmits; /* 1, 0 or -1 */
	uint32_t nstreams;
	struct tn_iperf3_peer_stream streams[TN_IPERF3_MAX_STREAMS];
};
/* Parse the results JSON; 0, or -1 as for the parameters (also when a
 * required field is missing or there are more than MAX_STREAMS streams). */
int tn_iperf3_parse_results(const char *json, size_t len, struct tn_iperf3_results *r);

#endif
