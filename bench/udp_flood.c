/* A UDP flood from the kernel's stack, for bench/tc_pps.sh: LEN-byte
 * datagrams to ADDR:PORT as fast as sendmmsg takes them, for SECONDS.
 * Errors (a full queue: ENOBUFS, an ICMP error: ECONNREFUSED) are counted
 * and the flood goes on.  Prints: sent=N errors=N secs=F pps=F
 *
 *   udp_flood ADDR PORT SECONDS [LEN]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: udp_flood ADDR PORT SECONDS [LEN]\n");
		return 2;
	}
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
	if (inet_pton(AF_INET, argv[1], &to.sin_addr) != 1) {
		fprintf(stderr, "udp_flood: bad address %s\n", argv[1]);
		return 2;
	}
	double secs = atof(argv[3]);
	size_t len = argc > 4 ? (size_t)atoi(argv[4]) : 64;
	if (len < 8 || len > 1472) {
		fprintf(stderr, "udp_flood: LEN 8..1472\n");
		return 2;
	}
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0) {
		perror("udp_flood");
		return 1;
	}
	static char data[BATCH][1472];
	struct iovec iov[BATCH];
	struct mmsghdr msgs[BATCH];
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){data[i], len};
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	unsigned long long sent = 0, errors = 0, seq = 0;
	double t0 = now_s(), end = t0 + secs, t = t0;
	while (t < end) {
		for (int i = 0; i < BATCH; i++, seq++)
			memcpy(data[i], &seq, sizeof(seq));
		int n = sendmmsg(fd, msgs, BATCH, 0);
		if (n > 0)
			sent += (unsigned)n;
		else if (errno != EINTR)
			errors++;
		if ((seq & 1023) == 0)
			t = now_s();
	}
	t = now_s();
	printf("sent=%llu errors=%llu secs=%.3f pps=%.0f\n", sent, errors, t - t0, (double)sent / (t - t0));
	close(fd);
	return 0;
}
