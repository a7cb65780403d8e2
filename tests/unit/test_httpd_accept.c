/* httpd and a request that is already waiting when its connection is
 * accepted: the handshake's last ACK and the request arrive in one poll
 * (as they do when a burst of frames holds both), and the step that
 * accepts the connection must answer it.  The server's loop sleeps when a
 * step leaves nothing to do; a request left on the epoll ready list for
 * the next step waited for the loop's 1 s cap (seen as wrk's connections
 * stalling 1 s on a two-core host).  The test plays the client on a raw
 * wire, segment by segment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/httpd.h"
#include "tcp_peer.h"
#include "testutil.h"

static const char REQ[] = "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n";

/* Handshake, then the request, all before the server's first step. */
static void connect_and_ask(struct peer *p)
{
	peer_handshake(p, false);
	peer_send(p, SRV_PORT, TN_TCP_ACK | TN_TCP_PSH, REQ, sizeof(REQ) - 1);
	p->seq += sizeof(REQ) - 1;
}

/* The payload tern sent since the last look, as a string. */
static void sent_text(struct peer *p, char *buf, size_t cap)
{
	struct out o;
	size_t n = 0;
	while (take(p, &o))
		if (o.len && n + o.len < cap) {
			memcpy(buf + n, o.data, o.len);
			n += o.len;
		}
	buf[n] = 0;
}

static void test_request_waiting_at_accept(void **state)
{
	(void)state;
	char dir[] = "/tmp/tern-httpd-acc-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[64];
	snprintf(path, sizeof(path), "%s/a.txt", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("hello\n", f);
	fclose(f);
	struct peer p;
	peer_init(&p);
	struct tn_httpd_cfg cfg = {.port = SRV_PORT, .docroot = dir};
	struct tn_httpd *h = tn_httpd_new(p.s, &cfg);
	assert_non_null(h);
	connect_and_ask(&p);
	tn_httpd_step(h); /* one step, no further input */
	advance(&p, 0);   /* what it queued goes out */
	char text[4096];
	sent_text(&p, text, sizeof(text));
	assert_non_null(strstr(text, "HTTP/1.1 200"));
	assert_non_null(strstr(text, "hello\n"));
	tn_httpd_free(h);
	peer_free(&p);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_waiting_at_accept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
