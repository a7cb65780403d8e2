/* The control socket: `tern -n NAME CMD ...` sends CMD to the running host
 * NAME, which runs it against its stack and streams the output back.
 *
 * Request: u32 length (host order; same machine), then the arguments, each
 * NUL-terminated.  Reply: the command's output, then a NUL byte and the
 * exit status in decimal.  Closing the write side of the connection asks a
 * long-running command (ping) to stop and print its summary, as ^C does. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tools.h"

const char *ctl_path(const char *name, char *buf, size_t cap)
{
	const char *dir = "/run/tern";
	if (geteuid() != 0) {
		const char *x = getenv("XDG_RUNTIME_DIR");
		static const char fallback[] = "/tmp";
		snprintf(buf, cap, "%s/tern-%u", x ? x : fallback, (unsigned)geteuid());
		mkdir(buf, 0700);
		snprintf(buf + strlen(buf), cap - strlen(buf), "/%s.sock", name);
		return buf;
	}
	mkdir("/run", 0755);
	mkdir(dir, 0755);
	snprintf(buf, cap, "%s/%s.sock", dir, name);
	return buf;
}

/* The length word, with a descriptor attached when there is one. */
static ssize_t send_len(int fd, uint32_t len, int pass_fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cm;
	memset(&cm, 0, sizeof(cm));
	struct iovec iov = {.iov_base = &len, .iov_len = sizeof(len)};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	if (pass_fd >= 0) {
		m.msg_control = cm.buf;
		m.msg_controllen = sizeof(cm.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
	}
	return sendmsg(fd, &m, 0);
}

static volatile sig_atomic_t client_interrupted;
static void on_sigint(int sig)
{
	(void)sig;
	client_interrupted = 1;
}

int ctl_client(const char *name, int argc, char **argv)
{
	return ctl_client_fd(name, argc, argv, -1);
}

int ctl_client_fd(const char *name, int argc, char **argv, int pass_fd)
{
	char path[256];
	ctl_path(name, path, sizeof(path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "tern: control path too long: %s\n", path);
		return 2;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "tern: cannot reach host \"%s\" at %s: %s (is `tern host --name %s` running?)\n",
			name, path, strerror(errno), name);
		return 2;
	}
	/* get: the body goes to a descriptor passed along (stdout, or -o FILE) */
	bool get = argc > 0 && strcmp(argv[0], "get") == 0;
	int body_fd = get ? STDOUT_FILENO : pass_fd;
	char *args[64];
	int nargs = 0;
	for (int i = 0; i < argc && nargs < 64; i++) {
		if (get && strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
			body_fd = open(argv[++i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (body_fd < 0) {
				fprintf(stderr, "tern: %s: %s\n", argv[i], strerror(errno));
				return 2;
			}
			args[nargs++] = "--progress"; /* the body is in a file: show a bar */
			continue;
		}
		args[nargs++] = argv[i];
	}
	argc = nargs;
	argv = args;
	char req[8192];
	uint32_t len = 0;
	for (int i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]) + 1;
		if (len + n > sizeof(req)) {
			fprintf(stderr, "tern: command too long\n");
			return 2;
		}
		memcpy(req + len, argv[i], n);
		len += (uint32_t)n;
	}
	if (send_len(fd, len, body_fd) != sizeof(len) || write(fd, req, len) != (ssize_t)len) {
		fprintf(stderr, "tern: write to host: %s\n", strerror(errno));
		return 2;
	}
	struct sigaction sa = {.sa_handler = on_sigint};
	sigaction(SIGINT, &sa, NULL);
	char buf[4096], status[16];
	size_t slen = 0;
	bool in_status = false, stopped = false;
	for (;;) {
		if (client_interrupted && !stopped) {
			shutdown(fd, SHUT_WR);
			stopped = true;
		}
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			if (in_status) {
				if (slen + 1 < sizeof(status))
					status[slen++] = buf[i];
			} else if (buf[i] == 0) {
				in_status = true;
			} else {
				fputc(buf[i], stdout);
			}
		}
		fflush(stdout);
	}
	close(fd);
	status[slen] = 0;
	return in_status ? atoi(status) : 2;
}
