/* An HTTP/1.1 origin server on tern's socket and epoll API: static files
 * from a document root (from memory once read: app/filecache.h), generated bodies for load tests (/gen/BYTES), an
 * echo of request bodies (POST /echo), persistent connections with
 * pipelining.  Non-blocking: call tn_httpd_step() after each tern_poll(). */
#ifndef TERN_APP_HTTPD_H
#define TERN_APP_HTTPD_H

#include <stdint.h>

struct tn_stack;

struct tn_httpd_cfg {
	uint32_t addr;                 /* host order; 0: any */
	uint16_t port;
	const char *docroot;           /* NULL: only /gen/ and /echo */
	uint32_t max_conns;            /* 0: 10000; beyond it, new ones wait in the accept queue */
	uint32_t keepalive_requests;   /* 0: 1000 per connection, as nginx */
	uint64_t keepalive_timeout_ns; /* 0: 75 s idle, as nginx */
	uint64_t max_body;             /* 0: 1 MiB request body, as nginx; more: 413 */
	/* Wall-clock seconds for the Date field.  NULL: no Date field, as
	 * RFC 9110 6.6.1 asks of a server without a reliable clock. */
	int64_t (*wallclock)(void *ctx);
	void *clock_ctx;
	/* Bytes of files held in memory and sent without a copy (app/
	 * filecache.h); 0: 64 MiB, TN_HTTPD_NO_FILE_CACHE: none.  The cache
	 * needs the wall clock (a file is read in only once it has been left
	 * alone for two seconds): without one there is none. */
	uint64_t file_cache_bytes;
};
#define TN_HTTPD_NO_FILE_CACHE UINT64_MAX
#define TN_HTTPD_FILE_CACHE_DEFAULT (64ull << 20)

struct tn_httpd_stats {
	uint64_t accepted, requests, bytes_out;
	uint64_t by_class[6];          /* responses by status class: [2] = 2xx ... */
	uint64_t timeouts;             /* idle connections closed */
	uint32_t open;                 /* connections now */
};

struct tn_httpd;
/* Listens at once; NULL with errno on failure (EADDRINUSE, ENOENT docroot). */
struct tn_httpd *tn_httpd_new(struct tn_stack *s, const struct tn_httpd_cfg *cfg);
/* Accept, read, answer and write whatever is ready; returns work done. */
unsigned tn_httpd_step(struct tn_httpd *h);
const struct tn_httpd_stats *tn_httpd_stats(const struct tn_httpd *h);
/* The file cache's counters; NULL when there is none. */
struct tn_filecache_stats;
const struct tn_filecache_stats *tn_httpd_file_cache_stats(const struct tn_httpd *h);
/* Closes every connection and the listener. */
void tn_httpd_free(struct tn_httpd *h);

/* The body /gen/N serves: byte i of it (clients check what they got). */
static inline char tn_httpd_gen_byte(uint64_t i) { return "abcdefghijklmnopqrstuvwxyz0123456789\n"[i % 37]; }

#endif
