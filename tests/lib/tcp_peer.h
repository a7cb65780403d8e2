/* A scripted TCP peer for segment-by-segment tests: tern on a raw-IP
 * wire at 198.18.0.1, the test playing 198.18.0.2, on a virtual clock. */
#ifndef TN_TEST_TCP_PEER_H
#define TN_TEST_TCP_PEER_H

#include <stdbool.h>
#include <stdint.h>

#include "testutil.h"
#include "wire/tcp.h"

#define US_IP "198.18.0.1"
#define PEER_IP "198.18.0.2"
#define PEER_PORT 40000
#define SRV_PORT 80

struct peer {
	struct tn_stack *s;
	struct wire_dev *w;
	uint64_t now;
	uint32_t us, them;
	uint32_t iss;        /* the peer's ISN */
	uint32_t seq;        /* the peer's next sequence number */
	uint32_t ack;        /* what the peer acknowledges (tern's next) */
	uint16_t port;       /* the peer's port */
	bool ts;             /* the peer uses timestamps */
	uint32_t tsval;
	uint32_t tern_ts;    /* tern's last TSval, echoed */
	uint8_t ip_tos;      /* TOS/ECN byte of what the peer sends */
};

/* What tern sent: the header and payload length. */
struct out {
	struct tn_tcp_hdr h;
	uint32_t len;
	uint8_t tos;         /* the IP header's TOS/ECN byte */
	uint8_t data[2048];
};

void peer_init(struct peer *p);
void peer_free(struct peer *p);
void run_to(struct peer *p, uint64_t t);
void advance(struct peer *p, uint64_t dt);
void send_seg(struct peer *p, uint16_t dport, uint32_t seq, uint32_t ack, uint16_t flags, uint16_t win, const struct tn_tcp_opts *opt, const void *data, uint32_t len);
void peer_send(struct peer *p, uint16_t dport, uint16_t flags, const void *data, uint32_t len);
bool take(struct peer *p, struct out *o);
int count_sent(struct peer *p, uint16_t flag);
int64_t peer_stat(struct peer *p, const char *name);
int listen_on(struct peer *p, uint16_t port, int backlog);
struct tn_tcp_opts syn_opts(bool ts);
/* SYN from the peer, tern's SYN-ACK checked, the ACK: established, not accepted. */
void peer_handshake(struct peer *p, bool ts);
/* The handshake, then tern_accept: the accepted descriptor. */
int passive_open(struct peer *p, int lfd, bool ts);

#endif
