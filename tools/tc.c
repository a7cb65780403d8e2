/* `tern tc`: Linux's tc against a running `tern host`.
 *   tern [-n NAME] tc [-n NAME] [-s] qdisc|class|filter ...
 *   tern [-n NAME] tc [-n NAME] -f FILE      (also -b, -batch: tc -batch)
 * The words go over the control socket as they are; the host runs them
 * (run_tc) and sends back tc's output or error.  A file is sent line by
 * line and stops at the first failing line, as tc -batch does: each line
 * is all or nothing, the lines before a failure stay applied.  (`tern host
 * --tc FILE` applies a file before the host starts, and does not start if
 * a line fails.) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sched/tc_cmd.h"
#include "tools.h"

#define TC_OUT_CAP 65536

int run_tc(struct tn_stack *s, int argc, char **argv, FILE *f)
{
	char *out = malloc(TC_OUT_CAP);
	if (!out) {
		fprintf(f, "tc: out of memory\n");
		return 2;
	}
	int rc = tern_tc(s, argc - 1, argv + 1, out, TC_OUT_CAP);
	fputs(out, f);
	free(out);
	return rc < 0 ? 1 : 0;
}

/* The whole file in memory (NUL-terminated), NULL with errno on error. */
static char *read_file(const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (!f)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	size_t n;
	while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (len + 1 == cap) {
			char *nb = cap < (64u << 20) ? realloc(buf, cap * 2) : NULL;
			if (!nb) {
				free(buf);
				buf = NULL;
				errno = EFBIG;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	if (f != stdin)
		fclose(f);
	if (buf)
		buf[len] = 0;
	return buf;
}

int tc_file_apply(struct tn_stack *s, const char *path)
{
	char *text = read_file(path);
	if (!text) {
		fprintf(stderr, "tern: --tc %s: %s\n", path, strerror(errno));
		return -1;
	}
	char *out = malloc(TC_OUT_CAP);
	int line = out ? tern_tc_batch(s, text, out, TC_OUT_CAP) : -1;
	if (out)
		fputs(out, stderr);
	if (line)
		fprintf(stderr, "tern: --tc %s: line %d failed; not starting\n", path, line);
	free(out);
	free(text);
	return line ? -1 : 0;
}

static int send_file(const char *name, const char *path)
{
	char *text = read_file(path);
	if (!text) {
		fprintf(stderr, "tc: %s: %s\n", path, strerror(errno));
		return 1;
	}
	int rc = 0, lineno = 0;
	char *save = NULL;
	/* strtok_r would skip empty lines and miscount: walk the lines by hand */
	for (char *line = text; line && rc == 0; line = save) {
		char *nl = strchr(line, '\n');
		save = nl ? nl + 1 : NULL;
		if (nl)
			*nl = 0;
		lineno++;
		char *argv[129];
		argv[0] = "tc";
		int n = tn_tc_split(line, argv + 1, 128);
		if (n < 0) {
			fprintf(stderr, "tc: line %d: too many words\n", lineno);
			rc = 1;
		} else if (n > 0) {
			int first = strcmp(argv[1], "tc") == 0;
			if (n - first > 0) {
				argv[first] = "tc";
				rc = ctl_client(name, n + 1 - first, argv + first);
			}
		}
		if (rc)
			fprintf(stderr, "Command failed %s:%d\n", path, lineno);
	}
	free(text);
	return rc;
}

int cmd_tc(const char *name, int argc, char **argv)
{
	int i = 1;
	const char *file = NULL;
	while (i < argc) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			name = argv[i + 1];
			i += 2;
		} else if ((strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "-b") == 0 || strcmp(argv[i], "-batch") == 0) &&
			   i + 1 < argc) {
			file = argv[i + 1];
			i += 2;
		} else {
			break;
		}
	}
	if (file) {
		if (i < argc) {
			fprintf(stderr, "tc: -f FILE takes no other words (\"%s\")\n", argv[i]);
			return 2;
		}
		return send_file(name, file);
	}
	/* argv[i - 1] becomes "tc": the host sees tc's words after it */
	argv[i - 1] = "tc";
	return ctl_client(name, argc - (i - 1), argv + (i - 1));
}
