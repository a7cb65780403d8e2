/* `tern iptables`, `iptables-save`, `iptables-restore`, `ipset` and
 * `iptables-log`: against a running `tern host` through its control socket
 * (the host runs them with tn_ipt_run), or, with `tern iptables --file F`,
 * on an iptables-save file edited in place (no host needed; NAT targets
 * are kept there although no stack applies them yet).
 *
 * iptables-restore sends its input (FILE or standard input) to the host
 * as a descriptor of an in-memory copy, so a large ruleset does not go
 * through the argument buffer and the host never blocks reading a pipe. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/stack.h"
#include "filter/ipt.h"
#include "tools.h"

/* Read all of fd (at most 64 MiB); NULL on error. */
char *ipt_read_all(int fd, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap + 1);
	if (!buf)
		return NULL;
	for (;;) {
		if (n == cap) {
			if (cap >= (64u << 20)) {
				free(buf);
				errno = EFBIG;
				return NULL;
			}
			char *nb = realloc(buf, cap * 2 + 1);
			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = 0;
	*len = n;
	return buf;
}

int host_iptables_file(struct tn_stack *s, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "tern: --iptables %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t len;
	char *text = ipt_read_all(fd, &len);
	close(fd);
	if (!text) {
		fprintf(stderr, "tern: --iptables %s: %s\n", path, strerror(errno));
		return -1;
	}
	char *argv[] = {"iptables-restore", NULL};
	int rc = tn_ipt_run(s, 1, argv, text, len, stderr);
	free(text);
	return rc == 0 ? 0 : -1;
}

/* The offline mode: load FILE (if it exists), run the command, write it back. */
static int on_file(const char *path, int argc, char **argv)
{
	struct tn_ipt_model m;
	tn_ipt_model_init(&m);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		size_t len;
		char *text = ipt_read_all(fd, &len);
		close(fd);
		if (!text || tn_ipt_restore(&m, text, len, false, true, stderr, NULL) != 0) {
			free(text);
			tn_ipt_model_free(&m);
			return 1;
		}
		free(text);
	} else if (errno != ENOENT) {
		fprintf(stderr, "tern: %s: %s\n", path, strerror(errno));
		return 1;
	}
	unsigned changed = 0;
	int rc = tn_ipt_command(&m, argc, argv, stdout, stderr, &changed);
	if (rc == 0 && changed) {
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), "%s.tmp", path);
		FILE *f = fopen(tmp, "w");
		if (!f) {
			fprintf(stderr, "tern: %s: %s\n", tmp, strerror(errno));
			rc = 1;
		} else {
			tn_ipt_save(&m, -1, true, f);
			if (fclose(f) != 0 || rename(tmp, path) < 0) {
				fprintf(stderr, "tern: %s: %s\n", path, strerror(errno));
				rc = 1;
			}
		}
	}
	tn_ipt_model_free(&m);
	return rc;
}

int cmd_iptables(const char *name, int argc, char **argv)
{
	const char *cmd = argv[0];
	if (!strcmp(cmd, "iptables") && argc >= 3 && (!strcmp(argv[1], "--file") || !strcmp(argv[1], "-f"))) {
		const char *path = argv[2];
		argv[2] = "iptables"; /* the command's argv[0] */
		return on_file(path, argc - 2, argv + 2);
	}
	if (strcmp(cmd, "iptables-restore") != 0)
		return ctl_client_fd(name, argc, argv, -1);
	/* iptables-restore [options] [FILE]: the text goes as a memfd */
	const char *file = NULL;
	char *args[64];
	int n = 0;
	for (int i = 0; i < argc && n < 64; i++) {
		if (i > 0 && argv[i][0] != '-') {
			file = argv[i];
			continue;
		}
		args[n++] = argv[i];
	}
	int in = file ? open(file, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	if (in < 0) {
		fprintf(stderr, "iptables-restore: %s: %s\n", file, strerror(errno));
		return 1;
	}
	size_t len;
	char *text = ipt_read_all(in, &len);
	if (file)
		close(in);
	if (!text) {
		fprintf(stderr, "iptables-restore: read: %s\n", strerror(errno));
		return 1;
	}
	int mfd = memfd_create("iptables-restore", MFD_CLOEXEC);
	if (mfd < 0 || write(mfd, text, len) != (ssize_t)len || lseek(mfd, 0, SEEK_SET) < 0) {
		fprintf(stderr, "iptables-restore: memfd: %s\n", strerror(errno));
		free(text);
		if (mfd >= 0)
			close(mfd);
		return 1;
	}
	free(text);
	int rc = ctl_client_fd(name, n, args, mfd);
	close(mfd);
	return rc;
}

int host_run_iptables(struct tn_stack *s, int argc, char **argv, int passed_fd, FILE *out)
{
	char *text = NULL;
	size_t len = 0;
	if (!strcmp(argv[0], "iptables-restore")) {
		if (passed_fd < 0) {
			fprintf(out, "iptables-restore: the client passed no input\n");
			return 2;
		}
		text = ipt_read_all(passed_fd, &len);
		if (!text) {
			fprintf(out, "iptables-restore: read: %s\n", strerror(errno));
			return 1;
		}
	}
	int rc = tn_ipt_run(s, argc, argv, text, len, out);
	free(text);
	return rc;
}
