/* C10M regression: 100,000 idle ESTABLISHED connections between two
 * stacks on a memlink (virtual clock) stay under a per-connection memory
 * budget, every one of them still carries data afterwards, and an idle
 * connection that has carried data holds no buffer again.
 *
 * Budgets, from bench/c10m (docs/BENCHMARKS.md "C10M"), with margin:
 *   tern's own accounting (TCB + socket + descriptor slot + hash-table
 *   share, per endpoint): measured 1,111 B, budget 1,150;
 *   heap growth (mallinfo2) per endpoint: measured 1,136 B, budget 1,200
 *   (not under AddressSanitizer, whose allocator mallinfo2 does not see). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "link/dev.h"
#include "socket/sock.h"
#include "tcp/tcp.h"
#include "tern/tern.h"

#ifndef NCONN
#define NCONN 100000
#endif
#define ACCT_BUDGET 1150
#define HEAP_BUDGET 1200
#define BATCH 1000
#define ADDR_SRV 0xc6120001u
#define ADDR_CLI0 0xc612000au
#define NADDR 8
#define TICK 100000ull

#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN 1
#endif
#endif
#ifndef ASAN
#define ASAN 0
#endif

struct env {
	struct tn_stack *c, *s;
	uint64_t now;
	int lfd;
	int cfd[NCONN], sfd[NCONN];
	long accepted;
};

static unsigned rnd(struct env *e)
{
	e->now += TICK;
	return tern_poll(e->c, e->now) + tern_poll(e->s, e->now);
}

static void settle(struct env *e)
{
	for (int k = 0; k < 3; k++) {
		while (rnd(e))
			;
		for (int i = 0; i < 30; i++)
			e->now += 10000000ull, rnd(e);
	}
}

/* Bytes the stack's own structures hold for its connections. */
static unsigned long long accounted(struct tn_stack *s)
{
	unsigned long long b = (unsigned long long)s->tcp.nconns * sizeof(void *) +
			       (unsigned long long)s->socks.nfds * sizeof(void *);
	for (uint32_t i = 0; i < s->tcp.nconns; i++)
		for (struct tn_tcb *t = s->tcp.conns[i]; t; t = t->hnext)
			b += sizeof(*t) + (t->snd.buf ? t->snd.cap : 0) + t->txq.cap * sizeof(struct tn_tcp_txrec) + t->rcvq.bytes +
			     t->ooo_bytes;
	for (uint32_t fd = 0; fd < s->socks.nfds; fd++)
		b += s->socks.fds[fd] ? sizeof(struct tn_sock) : 0;
	return b + (unsigned long long)tern_pool_in_use(s) * 2048;
}

static unsigned long held_buffers(struct tn_stack *s)
{
	unsigned long n = 0;
	for (uint32_t i = 0; i < s->tcp.nconns; i++)
		for (struct tn_tcb *t = s->tcp.conns[i]; t; t = t->hnext)
			n += t->snd.buf != NULL || t->txq.r != NULL || t->rcvq.head != NULL || t->ooo != NULL ||
			     t->cc_ext != NULL;
	return n;
}

static void open_all(struct env *e)
{
	int one = 1;
	for (long i = 0; i < NCONN; i += BATCH) {
		for (long j = i; j < i + BATCH && j < NCONN; j++) {
			struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(1024 + j / NADDR))};
			src.sin_addr.s_addr = htonl(ADDR_CLI0 + (uint32_t)(j % NADDR));
			struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(80),
						  .sin_addr.s_addr = htonl(ADDR_SRV)};
			int c = tern_socket(e->c, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
			assert_true(c >= 0);
			assert_int_equal(tern_setsockopt(e->c, c, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
			assert_int_equal(tern_bind(e->c, c, (struct sockaddr *)&src, sizeof(src)), 0);
			assert_int_equal(tern_connect(e->c, c, (struct sockaddr *)&dst, sizeof(dst)), -1);
			assert_int_equal(errno, EINPROGRESS);
			e->cfd[j] = c;
		}
		long target = i + BATCH < NCONN ? i + BATCH : NCONN;
		for (int r = 0; e->accepted < target; r++) {
			assert_true(r < 10000);
			rnd(e);
			struct sockaddr_in peer;
			socklen_t pl = sizeof(peer);
			int a;
			while ((a = tern_accept(e->s, e->lfd, (struct sockaddr *)&peer, &pl)) >= 0) {
				long j = (long)(ntohs(peer.sin_port) - 1024) * NADDR +
					 (long)(ntohl(peer.sin_addr.s_addr) - ADDR_CLI0);
				assert_true(j >= 0 && j < NCONN);
				e->sfd[j] = a;
				e->accepted++;
				pl = sizeof(peer);
			}
		}
	}
}

static bool echo(struct env *e, long i, uint8_t v)
{
	uint8_t b = v;
	if (tern_send(e->c, e->cfd[i], &b, 1, 0) != 1)
		return false;
	int stage = 0;
	for (int r = 0; r < 100 && stage < 2; r++) {
		rnd(e);
		if (stage == 0 && tern_recv(e->s, e->sfd[i], &b, 1, 0) == 1) {
			if (b != v || tern_send(e->s, e->sfd[i], &b, 1, 0) != 1)
				return false;
			stage = 1;
		}
		if (stage == 1 && tern_recv(e->c, e->cfd[i], &b, 1, 0) == 1)
			stage = b == v ? 2 : -1;
	}
	return stage == 2;
}

static void test_idle_connections_budget(void **state)
{
	(void)state;
	static struct env e;
	memset(&e, 0, sizeof(e));
	e.now = 1000000000ull;
	struct tern_config cc = {.name = "c", .seed = 1, .now = e.now}, cs = {.name = "s", .seed = 2, .now = e.now};
	e.c = tern_stack_new(&cc);
	e.s = tern_stack_new(&cs);
	struct tn_dev *dc, *ds;
	assert_int_equal(tn_memlink_pair("c10m-c", "c10m-s", TN_DEV_L2, 1500, 4096, &dc, &ds), 0);
	int ic = tern_dev_attach(e.c, dc), is = tern_dev_attach(e.s, ds);
	assert_int_equal(tern_addr_add(e.s, is, ADDR_SRV, 24), 0);
	for (int i = 0; i < NADDR; i++)
		assert_int_equal(tern_addr_add(e.c, ic, ADDR_CLI0 + (uint32_t)i, 24), 0);
	struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons(80)};
	e.lfd = tern_socket(e.s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_int_equal(tern_bind(e.s, e.lfd, (struct sockaddr *)&any, sizeof(any)), 0);
	assert_int_equal(tern_listen(e.s, e.lfd, 4096), 0);

	unsigned long long a0 = accounted(e.c) + accounted(e.s);
	struct mallinfo2 m0 = mallinfo2();
	open_all(&e);
	settle(&e);
	struct mallinfo2 m1 = mallinfo2();
	unsigned long long a1 = accounted(e.c) + accounted(e.s);
	assert_int_equal(tern_stat(e.c, "TcpCurrEstab"), NCONN);
	assert_int_equal(tern_stat(e.s, "TcpCurrEstab"), NCONN);
	double acct = (double)(a1 - a0) / (2.0 * NCONN);
	double heap = ((double)(m1.uordblks + m1.hblkhd) - (double)(m0.uordblks + m0.hblkhd)) / (2.0 * NCONN);
	print_message("%d connections: %.0f B per endpoint accounted (budget %d), heap %.0f (budget %d%s)\n", NCONN,
		      acct, ACCT_BUDGET, heap, HEAP_BUDGET, ASAN ? ", not checked under ASan" : "");
	assert_true(acct <= ACCT_BUDGET);
	if (!ASAN)
		assert_true(heap <= HEAP_BUDGET);
	/* Idle: no connection holds a send ring, SACK records, queued data
	 * or out-of-line congestion-control state; no timer is armed beyond
	 * what the wheel had before (keepalive is off by default). */
	assert_int_equal(held_buffers(e.c) + held_buffers(e.s), 0);

	/* Every connection still works: one byte each way on every 97th
	 * (about 1,000), then idle again holds nothing. */
	for (long i = 0; i < NCONN; i += 97)
		assert_true(echo(&e, i, (uint8_t)(i | 1)));
	settle(&e);
	assert_int_equal(held_buffers(e.c) + held_buffers(e.s), 0);
	assert_int_equal(tern_pool_in_use(e.c) + tern_pool_in_use(e.s), 0);

	/* Teardown: nothing left. */
	for (long i = 0; i < NCONN; i += BATCH) {
		long end = i + BATCH < NCONN ? i + BATCH : NCONN;
		for (long j = i; j < end; j++)
			tern_close(e.c, e.cfd[j]);
		for (int k = 0; k < 4; k++)
			rnd(&e);
		for (long j = i; j < end; j++) {
			uint8_t b;
			assert_int_equal(tern_recv(e.s, e.sfd[j], &b, 1, 0), 0); /* EOF */
			tern_close(e.s, e.sfd[j]);
		}
		while (rnd(&e))
			;
	}
	settle(&e);
	e.now += 61000000000ull;
	settle(&e);
	assert_int_equal(e.c->tcp.count + e.s->tcp.count, 0);
	assert_int_equal(tern_pool_in_use(e.c) + tern_pool_in_use(e.s), 0);
	tern_stack_free(e.c);
	tern_stack_free(e.s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idle_connections_budget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
