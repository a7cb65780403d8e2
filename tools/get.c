/* `tern get`: fetch a URL with tern's HTTP client, like curl -s: the body
 * to a file descriptor, -i to show the response head first, -I for HEAD,
 * -X/-d for another method with a body; exit 0 for a response below 400,
 * 22 (curl -f's code) for 400 and above, 7 when the connection failed;
 * --fastopen sends the request in the SYN when a Fast Open cookie is cached. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools.h"

/* With -i/-I the head goes first into the same stream, as curl -i does. */
static void print_head(struct get_session *g)
{
	const struct tn_http_head *h = tn_httpc_head(g->c);
	if (!g->show_head || g->head_shown || !h->status)
		return;
	g->head_shown = true;
	dprintf(g->out_fd, "HTTP/1.%d %d %.*s\r\n", h->version_minor, h->status, (int)h->reason.n, h->reason.p);
	for (unsigned i = 0; i < h->nfields; i++)
		dprintf(g->out_fd, "%.*s: %.*s\r\n", (int)h->fields[i].name.n, h->fields[i].name.p,
			(int)h->fields[i].value.n, h->fields[i].value.p);
	dprintf(g->out_fd, "\r\n");
}

static int write_all(void *ctx, const void *data, size_t len)
{
	struct get_session *g = ctx;
	const char *p = data;
	print_head(g);
	while (len) {
		ssize_t k = write(g->out_fd, p, len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

int get_start(struct get_session *g, struct tn_stack *s, int argc, char **argv, int out_fd, FILE *msg)
{
	memset(g, 0, sizeof(*g));
	g->out_fd = out_fd;
	g->msg = msg;
	struct tn_httpc_req r = {0};
	const char *url = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--progress") == 0)
			g->progress = true;
		else if (strcmp(argv[i], "--fastopen") == 0)
			r.fastopen = true; /* TCP Fast Open (TCP_FASTOPEN_CONNECT) */
		else if (strcmp(argv[i], "-i") == 0)
			g->show_head = true;
		else if (strcmp(argv[i], "-I") == 0)
			g->show_head = true, r.method = "HEAD";
		else if (strcmp(argv[i], "-X") == 0 && i + 1 < argc)
			r.method = argv[++i];
		else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
			r.body = argv[++i];
			r.body_len = strlen(argv[i]);
			if (!r.method)
				r.method = "POST";
		} else if (argv[i][0] != '-' && !url)
			url = argv[i];
		else
			url = NULL, i = argc;
	}
	if (!url || tn_httpc_parse_url(url, &r.addr, &r.port, &r.target) < 0) {
		fprintf(msg, "usage: get [-i] [-I] [-X METHOD] [-d DATA] [-o FILE] [--fastopen] http://A.B.C.D[:PORT]/PATH\n");
		return 2;
	}
	g->started = mono_ns();
	g->pg.last_pct = -1;
	g->c = tn_httpc_start(s, &r, write_all, g);
	if (!g->c) {
		fprintf(msg, "get: %s\n", strerror(errno));
		return 7;
	}
	return 0;
}

/* With -o the body goes to a file and a progress bar to the terminal. */
static void show_progress(struct get_session *g, bool final)
{
	const struct tn_http_head *h = tn_httpc_head(g->c);
	if (!g->progress || !h->status || h->body != TN_HTTP_BODY_LENGTH)
		return;
	progress_bar(g->msg, &g->pg, tn_httpc_body_bytes(g->c), h->content_length,
		     (double)(mono_ns() - g->started) / 1e9, final);
}

int get_step(struct get_session *g)
{
	int rc = tn_httpc_step(g->c);
	show_progress(g, rc == 1);
	if (rc == 0)
		return -1;
	if (rc < 0) {
		fprintf(g->msg, "get: %s\n", strerror(errno));
		return errno == ECONNREFUSED || errno == ETIMEDOUT || errno == EHOSTUNREACH ? 7 : 1;
	}
	print_head(g);
	return tn_httpc_head(g->c)->status >= 400 ? 22 : 0;
}

void get_free(struct get_session *g)
{
	tn_httpc_free(g->c);
	g->c = NULL;
}
