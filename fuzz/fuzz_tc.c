/* The tc command parser and executor: the input is command lines (one per
 * line, words split on blanks) run against a stack with one memlink
 * device; packets then go through whatever tree resulted, virtual time
 * passes, and everything is destroyed.  Every packet buffer must be back
 * in the pool at the end, whatever the commands were. */
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "link/dev.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 8192)
		return 0;
	struct tern_config cfg = {.seed = 1, .now = 1000000000ull, .pool_size = 512};
	struct tn_stack *s = tern_stack_new(&cfg);
	struct tn_dev *mine, *peer;
	tn_memlink_pair("eth0", "peer0", TN_DEV_L3, 1500, 64, &mine, &peer);
	int idx = tern_dev_attach(s, mine);
	tern_addr_add(s, idx, 0xc6120001, 24);
	int fd = tern_socket(s, AF_INET, SOCK_DGRAM, 0);
	struct tn_mempool *mp = tn_mempool_new(64);
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = 0;
	char out[4096];
	uint64_t now = cfg.now;
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0xc6120002)};
	char payload[1400];
	memset(payload, 0xab, sizeof(payload));
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *argv[64];
		int argc = 0;
		char *wsave = NULL;
		for (char *w = strtok_r(line, " ", &wsave); w && argc < 64; w = strtok_r(NULL, " ", &wsave))
			argv[argc++] = w;
		tern_tc(s, argc, argv, out, sizeof(out));
		/* traffic of several ports, sizes and TOS through the tree */
		for (int k = 0; k < 6; k++) {
			int tos = (k & 3) << 3;
			tern_setsockopt(s, fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
			to.sin_port = htons((uint16_t)(k % 2 ? 80 : 5000 + k));
			tern_sendto(s, fd, payload, (size_t)(100 + 200 * k), 0, (struct sockaddr *)&to, sizeof(to));
		}
		now += 3000000ull;
		tern_poll(s, now);
		struct tn_pkt *rx[32];
		unsigned n;
		while ((n = tn_dev_rx(peer, mp, rx, 32)) > 0)
			for (unsigned i = 0; i < n; i++)
				tn_pkt_free(rx[i]);
	}
	char *show[] = {"-s", "qdisc", "show"};
	tern_tc(s, 3, show, out, sizeof(out));
	char *cshow[] = {"-s", "class", "show", "dev", "eth0"};
	tern_tc(s, 5, cshow, out, sizeof(out));
	char *fshow[] = {"filter", "show", "dev", "eth0"};
	tern_tc(s, 4, fshow, out, sizeof(out));
	/* let shaped and delayed packets leave, then drain */
	for (int k = 0; k < 20; k++) {
		now += 100000000ull;
		tern_poll(s, now);
		struct tn_pkt *rx[32];
		unsigned n;
		while ((n = tn_dev_rx(peer, mp, rx, 32)) > 0)
			for (unsigned i = 0; i < n; i++)
				tn_pkt_free(rx[i]);
	}
	char *del[] = {"qdisc", "del", "dev", "eth0", "root"};
	tern_tc(s, 5, del, out, sizeof(out));
	tern_close(s, fd);
	free(text);
	/* back on the default root: what was held back is gone (dropped,
	 * counted), the rest leaves now; then no buffer may be missing */
	tern_poll(s, now + 1000);
	struct tn_pkt *rx[32];
	unsigned n;
	while ((n = tn_dev_rx(peer, mp, rx, 32)) > 0)
		for (unsigned i = 0; i < n; i++)
			tn_pkt_free(rx[i]);
	if (tern_pool_in_use(s) != 0)
		abort();
	tern_stack_free(s);
	tn_dev_destroy(peer);
	if (tn_mempool_in_use(mp) != 0)
		abort();
	tn_mempool_free(mp);
	return 0;
}
