/* Datagram sockets (UDP and ICMP "ping" sockets) inside a stack.  The
 * BSD-shaped calls in include/tern/tern.h map onto these. */
#ifndef TN_SOCK_H
#define TN_SOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/pkt.h"

struct tn_stack;
struct tn_ep_item;
struct tn_epoll;

/* Per-datagram metadata kept in pkt->cb while it waits in a receive queue. */
struct tn_dgram_cb {
	uint32_t src;
	uint16_t sport;
	uint8_t ttl;
	uint8_t tos;
	uint32_t dst;
};

struct tn_sock {
	int fd;
	int type;            /* SOCK_DGRAM */
	int protocol;        /* TN_IPPROTO_UDP or TN_IPPROTO_ICMP */
	uint32_t laddr, raddr;
	uint16_t lport, rport; /* ping sockets: lport is the echo id */
	bool bound, connected;
	bool broadcast;      /* SO_BROADCAST */
	bool reuseaddr;      /* SO_REUSEADDR */
	bool recvttl;        /* IP_RECVTTL */
	bool rxq_ovfl;       /* SO_RXQ_OVFL: report drops with each datagram */
	bool nodelay;        /* TCP_NODELAY */
	bool linger_zero;    /* SO_LINGER on with 0 seconds: close sends RST */
	bool rd_shut;        /* shutdown(SHUT_RD) */
	bool keepalive;      /* SO_KEEPALIVE */
	bool cork;           /* TCP_CORK */
	bool reuseport;      /* SO_REUSEPORT */
	bool rcvbuf_locked, sndbuf_locked; /* SO_RCVBUF/SO_SNDBUF set */
	uint16_t fastopen_qlen : 15;     /* TCP_FASTOPEN: the listener's TFO queue */
	uint16_t fastopen_connect : 1;   /* TCP_FASTOPEN_CONNECT */
	int rcvlowat;        /* SO_RCVLOWAT */
	uint32_t ka_idle, ka_intvl, ka_cnt; /* TCP_KEEPIDLE/INTVL/CNT; 0: the sysctl */
	const struct tn_tcp_cc_ops *cc;     /* TCP_CONGESTION; NULL: the sysctl */
	uint64_t max_pacing_rate;           /* SO_MAX_PACING_RATE, bytes/s; 0: none */
	struct tn_tcb *tcb;  /* stream sockets */
	struct tn_ep_item *ep_items; /* epoll registrations of this socket */
	struct tn_epoll *epoll;      /* set when this descriptor is an epoll instance */
	int ttl;             /* IP_TTL, -1: default */
	int tos;
	int so_error;        /* pending error (ICMP), reported once */
	struct {             /* the last ICMP error, for ping's report */
		uint32_t from;
		uint8_t type, code;
		uint16_t seq;
		bool valid;
	} last_err;
	uint32_t rcvbuf, sndbuf;
	uint64_t drops;      /* datagrams dropped: receive buffer full */
	struct tn_pkt_queue rxq; /* bytes = truesize */
	struct tn_sock *hnext;   /* port hash chain */
};

#define TN_SOCK_HASH 1024

struct tn_sock_table {
	struct tn_sock **fds;     /* by descriptor */
	uint32_t nfds;            /* allocated slots */
	uint32_t open;            /* sockets in use */
	uint32_t free_hint;
	struct tn_sock *udp_hash[TN_SOCK_HASH];  /* by local port */
	struct tn_sock *ping_hash[TN_SOCK_HASH]; /* by echo id */
};

void tn_sock_table_init(struct tn_sock_table *t);
void tn_sock_table_destroy(struct tn_stack *s);
struct tn_sock *tn_sock_get(struct tn_stack *s, int fd);

/* UDP input: pkt->data at the UDP header, pkt->l3_off at the IP header.
 * Consumes pkt. */
void tn_udp_input(struct tn_stack *s, struct tn_pkt *pkt);
/* Deliver an echo reply to the ping socket with its id; false if none
 * (pkt not consumed then).  pkt->data at the ICMP header. */
bool tn_ping_deliver(struct tn_stack *s, struct tn_pkt *pkt, uint16_t id);
/* An ICMP error about a datagram we sent: record it on the matching socket
 * (ECONNREFUSED for a connected UDP socket, as Linux does). */
void tn_sock_icmp_error(struct tn_stack *s, uint8_t proto, uint32_t src, uint32_t dst,
			uint16_t sport, uint16_t dport, int err, uint32_t from, uint8_t type,
			uint8_t code, uint16_t seq);

#endif
