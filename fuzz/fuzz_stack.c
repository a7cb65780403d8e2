/* Whole-stack fuzzing: the input is a sequence of frames (2-byte length,
 * then bytes) fed to a stack with an address, a UDP socket and a forwarding
 * route, with virtual time advancing between frames.  At the end every
 * packet buffer must be back in the pool: no leak, whatever came in. */
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "link/dev.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tern_config cfg = {.seed = 1, .now = 1000000000ull, .pool_size = 1024};
	struct tn_stack *s = tern_stack_new(&cfg);
	struct tn_dev *mine, *peer, *mine2, *peer2;
	tn_memlink_pair("fz0", "fzpeer0", TN_DEV_L2, 1500, 256, &mine, &peer);
	tn_memlink_pair("fz1", "fzpeer1", TN_DEV_L3, 576, 256, &mine2, &peer2);
	int i0 = tern_dev_attach(s, mine), i1 = tern_dev_attach(s, mine2);
	tern_addr_add(s, i0, 0xc6120001, 24);
	tern_addr_add(s, i1, 0xc6130001, 24);
	tern_sysctl_set(s, "net.ipv4.ip_forward", "1");
	tern_sysctl_set(s, "net.ipv4.ipfrag_high_thresh", "262144");
	tern_sysctl_set(s, "net.ipv4.ipfrag_low_thresh", "131072");
	int fd = tern_socket(s, AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(7)};
	tern_bind(s, fd, (struct sockaddr *)&a, sizeof(a));
	int pfd = tern_socket(s, AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
	struct tn_mempool *mp = tn_mempool_new(64);
	uint64_t now = cfg.now;
	size_t off = 0;
	while (off + 2 <= size) {
		size_t len = (size_t)(data[off] << 8 | data[off + 1]) % 2048;
		off += 2;
		if (len > size - off)
			len = size - off;
		struct tn_pkt *p = tn_pkt_from_bytes(mp, data + off, (uint32_t)len);
		off += len;
		if (p)
			tn_dev_tx(len & 1 ? peer2 : peer, &p, 1);
		now += 1000000ull * (len % 7);
		tern_poll(s, now);
		char buf[2048];
		while (tern_recv(s, fd, buf, sizeof(buf), 0) >= 0)
			;
		while (tern_recv(s, pfd, buf, sizeof(buf), 0) >= 0)
			;
		/* drain what the stack sent so the rings never fill */
		struct tn_pkt *out[32];
		unsigned n;
		while ((n = tn_dev_rx(peer, mp, out, 32)) > 0)
			for (unsigned i = 0; i < n; i++)
				tn_pkt_free(out[i]);
		while ((n = tn_dev_rx(peer2, mp, out, 32)) > 0)
			for (unsigned i = 0; i < n; i++)
				tn_pkt_free(out[i]);
	}
	tern_close(s, fd);
	tern_close(s, pfd);
	/* long enough for reassembly (30 s) and ARP (3 s) to give up */
	for (int k = 0; k < 40; k++) {
		now += 1000000000ull;
		tern_poll(s, now);
	}
	tern_poll(s, now);
	if (tern_pool_in_use(s) != 0)
		abort();
	tern_stack_free(s);
	tn_dev_destroy(peer);
	tn_dev_destroy(peer2);
	tn_mempool_free(mp);
	return 0;
}
