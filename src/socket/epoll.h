/* Epoll-shaped readiness: an epoll instance keeps the sockets registered
 * with it and a ready list.  Anything that may change a socket's readiness
 * calls tn_sock_wake(), which puts the socket's registrations on their
 * ready lists; tern_epoll_wait() walks only the ready list, so a wait costs
 * the number of ready sockets, not the number registered. */
#ifndef TN_EPOLL_H
#define TN_EPOLL_H

#include <stdbool.h>
#include <stdint.h>

struct tn_stack;
struct tn_sock;
struct tn_epoll;

struct tn_ep_item {
	struct tn_epoll *ep;
	int fd;
	uint32_t events;            /* requested, with EPOLLET / EPOLLONESHOT */
	uint64_t data;
	bool ready;                 /* on ep's ready list */
	bool disabled;              /* EPOLLONESHOT fired; MOD re-arms */
	struct tn_ep_item *rprev, *rnext;  /* ready list */
	struct tn_ep_item *sk_next;        /* the socket's registrations */
	struct tn_ep_item *ep_next, *ep_prev; /* the instance's registrations */
};

struct tn_epoll {
	struct tn_ep_item *ready_head, *ready_tail;
	struct tn_ep_item *items;
	uint32_t count;
};

/* Something about sk changed: queue its registrations for the next wait. */
void tn_sock_wake(struct tn_sock *sk);
/* sk is closing: drop its registrations everywhere. */
void tn_epoll_forget_sock(struct tn_sock *sk);
/* An epoll instance is closing: drop all its registrations. */
void tn_epoll_free(struct tn_stack *s, struct tn_epoll *ep);

#endif
