/* UDP and ping-socket internals shared by sock.c and the input paths. */
#ifndef TN_UDP_H
#define TN_UDP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct tn_stack;
struct tn_sock;

/* Bind to addr:port (port 0: an ephemeral port, or echo id for ping
 * sockets) and enter the socket in its lookup table.  0 or -errno. */
int tn_dgram_bind(struct tn_stack *s, struct tn_sock *sk, uint32_t addr, uint16_t port);
/* The same, for connect(): an ephemeral port is one whose replies from
 * raddr:rport to src come back to this stack's RSS queue. */
int tn_dgram_bind_to_peer(struct tn_stack *s, struct tn_sock *sk, uint32_t addr, uint16_t port, uint32_t src,
			  uint32_t raddr, uint16_t rport);
void tn_dgram_unhash(struct tn_stack *s, struct tn_sock *sk);
/* Send one datagram; bytes sent or -errno. */
ssize_t tn_udp_sendto(struct tn_stack *s, struct tn_sock *sk, const void *buf, size_t len,
		      uint32_t dst, uint16_t dport);
/* buf is an ICMP echo request (header + data); the stack sets id and
 * checksum.  Bytes sent or -errno. */
ssize_t tn_ping_sendto(struct tn_stack *s, struct tn_sock *sk, const void *buf, size_t len,
		       uint32_t dst);

#endif
