#include "socket/epoll.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "core/stack.h"
#include "socket/sock.h"

static void ready_add(struct tn_ep_item *it)
{
	if (it->ready)
		return;
	struct tn_epoll *ep = it->ep;
	it->ready = true;
	it->rnext = NULL;
	it->rprev = ep->ready_tail;
	if (ep->ready_tail)
		ep->ready_tail->rnext = it;
	else
		ep->ready_head = it;
	ep->ready_tail = it;
}

static void ready_del(struct tn_ep_item *it)
{
	if (!it->ready)
		return;
	struct tn_epoll *ep = it->ep;
	if (it->rprev)
		it->rprev->rnext = it->rnext;
	else
		ep->ready_head = it->rnext;
	if (it->rnext)
		it->rnext->rprev = it->rprev;
	else
		ep->ready_tail = it->rprev;
	it->ready = false;
	it->rprev = it->rnext = NULL;
}

void tn_sock_wake(struct tn_sock *sk)
{
	if (!sk)
		return;
	for (struct tn_ep_item *it = sk->ep_items; it; it = it->sk_next)
		if (!it->disabled)
			ready_add(it);
}

static void item_unlink_sock(struct tn_sock *sk, struct tn_ep_item *it)
{
	for (struct tn_ep_item **pp = &sk->ep_items; *pp; pp = &(*pp)->sk_next)
		if (*pp == it) {
			*pp = it->sk_next;
			return;
		}
}

static void item_unlink_ep(struct tn_epoll *ep, struct tn_ep_item *it)
{
	if (it->ep_prev)
		it->ep_prev->ep_next = it->ep_next;
	else
		ep->items = it->ep_next;
	if (it->ep_next)
		it->ep_next->ep_prev = it->ep_prev;
	ep->count--;
}

void tn_epoll_forget_sock(struct tn_sock *sk)
{
	while (sk->ep_items) {
		struct tn_ep_item *it = sk->ep_items;
		sk->ep_items = it->sk_next;
		ready_del(it);
		item_unlink_ep(it->ep, it);
		free(it);
	}
}

void tn_epoll_free(struct tn_stack *s, struct tn_epoll *ep)
{
	while (ep->items) {
		struct tn_ep_item *it = ep->items;
		ep->items = it->ep_next;
		struct tn_sock *sk = tn_sock_get(s, it->fd);
		if (sk)
			item_unlink_sock(sk, it);
		free(it);
	}
	free(ep);
}

static struct tn_epoll *epoll_of(struct tn_stack *s, int epfd)
{
	struct tn_sock *e = tn_sock_get(s, epfd);
	return e && e->epoll ? e->epoll : NULL;
}

int tern_epoll_create(struct tn_stack *s)
{
	int fd = tern_socket(s, AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return -1;
	struct tn_sock *e = tn_sock_get(s, fd);
	e->epoll = calloc(1, sizeof(*e->epoll));
	if (!e->epoll) {
		tern_close(s, fd);
		errno = ENOMEM;
		return -1;
	}
	e->type = 0; /* not a socket any more: only epoll calls apply */
	return fd;
}

/* A socket is registered with few instances (usually one): search its
 * list, not the instance's, so ctl costs O(1) with thousands registered. */
static struct tn_ep_item *find_item(struct tn_epoll *ep, struct tn_sock *sk)
{
	for (struct tn_ep_item *it = sk->ep_items; it; it = it->sk_next)
		if (it->ep == ep)
			return it;
	return NULL;
}

int tern_epoll_ctl(struct tn_stack *s, int epfd, int op, int fd, struct epoll_event *ev)
{
	struct tn_epoll *ep = epoll_of(s, epfd);
	struct tn_sock *sk = tn_sock_get(s, fd);
	if (!ep || !sk) {
		errno = EBADF;
		return -1;
	}
	if (fd == epfd || sk->epoll) {
		errno = EINVAL;
		return -1;
	}
	struct tn_ep_item *it = find_item(ep, sk);
	switch (op) {
	case EPOLL_CTL_ADD:
		if (it) {
			errno = EEXIST;
			return -1;
		}
		if (!ev || !(it = calloc(1, sizeof(*it)))) {
			errno = ev ? ENOMEM : EFAULT;
			return -1;
		}
		it->ep = ep;
		it->fd = fd;
		it->sk_next = sk->ep_items;
		sk->ep_items = it;
		it->ep_next = ep->items;
		if (ep->items)
			ep->items->ep_prev = it;
		ep->items = it;
		ep->count++;
		break;
	case EPOLL_CTL_MOD:
		if (!it || !ev) {
			errno = it ? EFAULT : ENOENT;
			return -1;
		}
		break;
	case EPOLL_CTL_DEL:
		if (!it) {
			errno = ENOENT;
			return -1;
		}
		ready_del(it);
		item_unlink_sock(sk, it);
		item_unlink_ep(ep, it);
		free(it);
		return 0;
	default:
		errno = EINVAL;
		return -1;
	}
	it->events = ev->events;
	it->data = ev->data.u64;
	it->disabled = false;
	ready_add(it); /* as Linux: readiness is checked at once on ADD and MOD */
	return 0;
}

int tern_epoll_wait(struct tn_stack *s, int epfd, struct epoll_event *events, int maxevents)
{
	struct tn_epoll *ep = epoll_of(s, epfd);
	if (!ep) {
		errno = EBADF;
		return -1;
	}
	if (maxevents <= 0 || !events) {
		errno = EINVAL;
		return -1;
	}
	int n = 0;
	struct tn_ep_item *it = ep->ready_head, *stop = ep->ready_tail;
	while (it && n < maxevents) {
		struct tn_ep_item *next = it->rnext;
		bool last = it == stop;
		uint32_t want = it->events | EPOLLERR | EPOLLHUP;
		uint32_t got = (uint32_t)tern_sock_events(s, it->fd) & want;
		ready_del(it);
		if (got) {
			events[n].events = got;
			events[n].data.u64 = it->data;
			n++;
			if (it->events & EPOLLONESHOT)
				it->disabled = true;
			else if (!(it->events & EPOLLET))
				ready_add(it); /* level-triggered: ask again next time */
		}
		if (last)
			break;
		it = next;
	}
	return n;
}
