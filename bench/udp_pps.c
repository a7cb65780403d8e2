/* 64-byte UDP packets per second on one core: tern (two stacks joined by a
 * memlink, one thread doing both the sending and the receiving stack's
 * work) against the Linux kernel (one thread, a UDP socket pair on
 * loopback, sendmmsg and recvmmsg in batches of 32).  Both count datagrams
 * that reach the receiving application.
 *
 *   udp_pps tern|kernel SECONDS   prints "<mode> <pps> <drops>"
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "link/dev.h"
#include "tern/tern.h"

#define BATCH 32
#define PAYLOAD 64

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int run_tern(double seconds, double *pps, uint64_t *drops)
{
	struct tern_config ca = {.seed = 1, .now = now_ns(), .pool_size = 8192};
	struct tern_config cb = {.seed = 2, .now = ca.now, .pool_size = 8192};
	struct tn_stack *a = tern_stack_new(&ca), *b = tern_stack_new(&cb);
	struct tn_dev *da, *db;
	if (!a || !b || tn_memlink_pair("bench-a", "bench-b", TN_DEV_L2, 1500, 1024, &da, &db) < 0)
		return -1;
	int ia = tern_dev_attach(a, da), ib = tern_dev_attach(b, db);
	tern_addr_add(a, ia, 0xc6120001, 24);
	tern_addr_add(b, ib, 0xc6120002, 24);
	int rx = tern_socket(b, AF_INET, SOCK_DGRAM, 0), tx = tern_socket(a, AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(9000)};
	tern_bind(b, rx, (struct sockaddr *)&addr, sizeof(addr));
	addr.sin_addr.s_addr = htonl(0xc6120002);
	tern_connect(a, tx, (struct sockaddr *)&addr, sizeof(addr));
	char buf[PAYLOAD] = {0}, in[2048];
	/* warm up: ARP resolution and caches */
	for (int i = 0; i < 100; i++) {
		uint64_t t = now_ns();
		tern_send(a, tx, buf, PAYLOAD, 0);
		tern_poll(a, t);
		tern_poll(b, t);
		tern_poll(a, t);
		while (tern_recv(b, rx, in, sizeof(in), 0) > 0)
			;
	}
	uint64_t received = 0, sent = 0, start = now_ns(), end = start + (uint64_t)(seconds * 1e9), t = start;
	unsigned iter = 0;
	while (t < end) {
		for (int i = 0; i < BATCH; i++)
			sent += tern_send(a, tx, buf, PAYLOAD, 0) == PAYLOAD;
		if ((++iter & 63) == 0)
			t = now_ns(); /* the clock is read once per 2048 packets */
		tern_poll(a, t);
		tern_poll(b, t);
		while (tern_recv(b, rx, in, sizeof(in), 0) > 0)
			received++;
	}
	double el = (double)(now_ns() - start) / 1e9;
	*pps = (double)received / el;
	*drops = sent - received;
	tern_stack_free(a);
	tern_stack_free(b);
	return 0;
}

static int run_kernel(double seconds, double *pps, uint64_t *drops)
{
	int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
	int big = 16 << 20;
	setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(addr);
	if (bind(rx, (struct sockaddr *)&addr, sizeof(addr)) < 0 || getsockname(rx, (struct sockaddr *)&addr, &al) < 0 ||
	    connect(tx, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return -1;
	static char sbuf[BATCH][PAYLOAD], rbuf[BATCH][2048];
	struct mmsghdr smsg[BATCH], rmsg[BATCH];
	struct iovec siov[BATCH], riov[BATCH];
	for (int i = 0; i < BATCH; i++) {
		siov[i] = (struct iovec){sbuf[i], PAYLOAD};
		riov[i] = (struct iovec){rbuf[i], sizeof(rbuf[i])};
		smsg[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &siov[i], .msg_iovlen = 1}};
		rmsg[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &riov[i], .msg_iovlen = 1}};
	}
	uint64_t received = 0, sent = 0, start = now_ns(), end = start + (uint64_t)(seconds * 1e9);
	unsigned iter = 0;
	uint64_t t = start;
	while (t < end) {
		int n = sendmmsg(tx, smsg, BATCH, 0);
		if (n > 0)
			sent += (uint64_t)n;
		int r;
		while ((r = recvmmsg(rx, rmsg, BATCH, MSG_DONTWAIT, NULL)) > 0)
			received += (uint64_t)r;
		if ((++iter & 63) == 0)
			t = now_ns();
	}
	double el = (double)(now_ns() - start) / 1e9;
	*pps = (double)received / el;
	*drops = sent - received;
	close(rx);
	close(tx);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: udp_pps tern|kernel [SECONDS]\n");
		return 2;
	}
	double secs = argc > 2 ? atof(argv[2]) : 3.0, pps;
	uint64_t drops;
	int rc = strcmp(argv[1], "tern") == 0 ? run_tern(secs, &pps, &drops) : run_kernel(secs, &pps, &drops);
	if (rc < 0) {
		fprintf(stderr, "udp_pps %s: setup failed: %s\n", argv[1], strerror(errno));
		return 1;
	}
	printf("%s %.0f %llu\n", argv[1], pps, (unsigned long long)drops);
	return 0;
}
