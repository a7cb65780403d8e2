/* SOCK_STREAM (TCP) versions of the socket calls; sock.c dispatches here. */
#ifndef TN_STREAM_H
#define TN_STREAM_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct tn_stack;
struct tn_sock;

int tn_stream_bind(struct tn_stack *s, struct tn_sock *sk, uint32_t addr, uint16_t port);
int tn_stream_listen(struct tn_stack *s, struct tn_sock *sk, int backlog);
int tn_stream_accept(struct tn_stack *s, struct tn_sock *sk, struct sockaddr *addr, socklen_t *len);
int tn_stream_connect(struct tn_stack *s, struct tn_sock *sk, uint32_t addr, uint16_t port);
ssize_t tn_stream_send(struct tn_stack *s, struct tn_sock *sk, const void *buf, size_t len);
/* Up to len bytes of the host file fd from off into the stream. */
ssize_t tn_stream_sendfile(struct tn_stack *s, struct tn_sock *sk, int fd, off_t off, size_t len);
struct tern_lent;
ssize_t tn_stream_send_lent(struct tn_stack *s, struct tn_sock *sk, const void *buf, size_t len, struct tern_lent *l);
/* sendto(MSG_FASTOPEN) on a stream socket: connect with the data in the SYN. */
ssize_t tn_stream_sendto_fastopen(struct tn_stack *s, struct tn_sock *sk, const void *buf, size_t len,
				  uint32_t addr, uint16_t port);
ssize_t tn_stream_recv(struct tn_stack *s, struct tn_sock *sk, void *buf, size_t len, int flags);
int tn_stream_shutdown(struct tn_stack *s, struct tn_sock *sk, int how);
void tn_stream_close(struct tn_stack *s, struct tn_sock *sk);
int tn_stream_events(struct tn_stack *s, struct tn_sock *sk);
int tn_stream_peer(struct tn_sock *sk, uint32_t *addr, uint16_t *port);
int tn_stream_local(struct tn_sock *sk, uint32_t *addr, uint16_t *port);

#endif
