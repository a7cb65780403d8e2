/* Zero-copy TCP output: data segments whose payload buffers point into the
 * send buffer's chunks (external segments, core/pkt.h), the chunks' life
 * while packets still point into them, and GSO cutting such a segment.
 * The wire keeps the packets tern transmits as they are (the test wire
 * copies them), so the test sees where their bytes are. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/stack.h"
#include "net/gso.h"
#include "socket/sock.h"
#include "tcp/tcp_int.h"
#include "tcp_peer.h"
#include "testutil.h"
#include "wire/csum.h"
#include "wire/wire.h"

#define HDRS 40u /* IPv4 and TCP without options: the peer offers none */
#define MSS 1460u

static struct tn_tcb *tcb_of_fd(struct peer *p, int fd) { return tn_sock_get(p->s, fd)->tcb; }

static uint8_t pat(uint32_t i, uint8_t salt) { return (uint8_t)(i * 13 + (i >> 9) + salt); }

/* The wire with its transmit replaced: packets are queued as they come. */
struct holding {
	struct peer p;
	struct tn_dev_ops ops;
	int fd;
	struct tn_tcb *t;
};

static unsigned hold_tx(struct tn_dev *d, struct tn_pkt **pkts, unsigned n)
{
	struct wire_dev *w = d->priv;
	for (unsigned i = 0; i < n; i++)
		tn_pktq_push(&w->sent, pkts[i], 0);
	return n;
}

static struct holding *holding_new(uint32_t features)
{
	struct holding *h = calloc(1, sizeof(*h));
	assert_non_null(h);
	peer_init(&h->p);
	h->ops = *h->p.w->dev.ops;
	h->ops.tx_burst = hold_tx;
	h->p.w->dev.ops = &h->ops;
	h->p.w->dev.features = features;
	h->fd = passive_open(&h->p, listen_on(&h->p, SRV_PORT, 16), false);
	h->t = tcb_of_fd(&h->p, h->fd);
	h->t->nodelay = true; /* a short last segment goes at once */
	return h;
}

static void holding_free(struct holding *h)
{
	peer_free(&h->p);
	free(h);
}

static void send_pattern(struct holding *h, uint32_t n, uint8_t salt)
{
	uint8_t *b = malloc(n);
	assert_non_null(b);
	for (uint32_t i = 0; i < n; i++)
		b[i] = pat(i, salt);
	assert_int_equal(tern_send(h->p.s, h->fd, b, n, 0), (ssize_t)n);
	free(b);
	t_run(h->p.s, h->p.now);
}

/* The next packet tern sent, taken off the wire (the caller frees it). */
static struct tn_pkt *next_sent(struct holding *h)
{
	struct tn_pkt *p = tn_pktq_pop(&h->p.w->sent, 0);
	assert_non_null(p);
	return p;
}

static uint32_t seq_of(const struct tn_pkt *p) { return tn_get32(p->data + 20 + 4); }

/* The packet's payload is the pattern's bytes at stream offset `from`. */
static void assert_payload(const struct tn_pkt *p, uint32_t from, uint8_t salt)
{
	uint32_t n = p->pkt_len - HDRS;
	uint8_t *b = malloc(n);
	assert_int_equal(tn_pkt_copy_out(p, HDRS, b, n), 0);
	for (uint32_t i = 0; i < n; i++)
		if (b[i] != pat(from + i, salt))
			fail_msg("byte %u of the segment at %u: %u, not %u", i, from, b[i], pat(from + i, salt));
	free(b);
}

/* The IP header and the TCP checksum (over the whole chain) are right. */
static void assert_checksums(const struct tn_pkt *p)
{
	assert_int_equal(tn_csum(p->data, 20), 0);
	uint32_t l4 = p->pkt_len - 20;
	uint32_t sum = tn_csum_pseudo4(tn_get32(p->data + 12), tn_get32(p->data + 16), TN_IPPROTO_TCP, l4);
	assert_int_equal(tn_csum_fold(tn_csum_pkt(p, 20, l4, sum)), 0);
}

static bool in_chunk(const struct tn_tcp_chunk *c, const struct tn_pkt *seg)
{
	return seg->ext == &c->ext && seg->data >= c->data && seg->data + seg->len <= c->data + c->used;
}

/* Each data segment is a buffer of headers and the payload in external
 * segments pointing into the send buffer's chunk: nothing copied. */
static void test_segments_point_into_send_buffer(void **state)
{
	struct holding *h = holding_new(0);
	uint32_t iss = h->p.ack;
	send_pattern(h, 3400, 1);
	struct tn_tcp_chunk *c = h->t->snd.buf;
	assert_non_null(c);
	assert_int_equal(c->used, 3400);
	assert_int_equal(c->ext.refcnt, 1 + 3); /* the connection's and one per segment */
	uint32_t lens[] = {MSS, MSS, 3400 - 2 * MSS};
	for (int i = 0; i < 3; i++) {
		struct tn_pkt *p = next_sent(h);
		assert_int_equal(seq_of(p), iss + (uint32_t)i * MSS);
		assert_false(tn_pkt_is_ext(p));
		assert_int_equal(p->len, HDRS);
		assert_non_null(p->next);
		assert_true(tn_pkt_is_ext(p->next));
		assert_true(in_chunk(c, p->next));
		assert_ptr_equal(p->next->data, c->data + (uint32_t)i * MSS);
		assert_int_equal(p->next->len, lens[i]);
		assert_null(p->next->next);
		assert_payload(p, (uint32_t)i * MSS, 1);
		assert_checksums(p);
		tn_pkt_free(p);
	}
	assert_null(h->p.w->sent.head);
	assert_int_equal(c->ext.refcnt, 1);
	/* a short segment is copied into its header buffer: one buffer */
	assert_int_equal(tern_send(h->p.s, h->fd, "short", 5, 0), 5);
	t_run(h->p.s, h->p.now);
	struct tn_pkt *p = next_sent(h);
	assert_null(p->next);
	assert_int_equal(p->len, HDRS + 5);
	assert_memory_equal(p->data + HDRS, "short", 5);
	tn_pkt_free(p);
	holding_free(h);
}

/* A packet still queued when its bytes are acknowledged (a qdisc's, or a
 * retransmission's copy) keeps them: new data goes to another chunk, and
 * the old chunk goes back to the cache only when the packet is freed. */
static void test_packet_outlives_its_ack(void **state)
{
	struct holding *h = holding_new(0);
	uint32_t iss = h->p.ack;
	struct tn_tcp_chunkcache *cc = &h->p.s->tcp.chunks;
	send_pattern(h, 3400, 1);
	struct tn_tcp_chunk *c = h->t->snd.buf;
	struct tn_pkt *held[3];
	for (int i = 0; i < 3; i++)
		held[i] = next_sent(h);
	h->p.ack = iss + 3400;
	peer_send(&h->p, SRV_PORT, TN_TCP_ACK, NULL, 0);
	assert_null(h->t->snd.buf); /* all acknowledged: the connection let go */
	assert_int_equal(c->ext.refcnt, 3); /* the packets did not */
	assert_int_equal(cc->bytes, 0);
	send_pattern(h, 3400, 2);
	assert_ptr_not_equal(h->t->snd.buf, c);
	for (int i = 0; i < 3; i++) {
		struct tn_pkt *p = next_sent(h); /* the new data, elsewhere */
		assert_false(in_chunk(c, p->next));
		assert_payload(p, (uint32_t)i * MSS, 2);
		tn_pkt_free(p);
	}
	for (int i = 0; i < 3; i++) {
		assert_payload(held[i], (uint32_t)i * MSS, 1);
		assert_checksums(held[i]);
		assert_int_equal(cc->bytes, 0);
		tn_pkt_free(held[i]);
	}
	assert_int_equal(cc->bytes, 4096);
	assert_ptr_equal(cc->free[0], c);
	holding_free(h);
}

/* A segment whose bytes run over the end of a chunk has two external
 * pieces, one in each; its checksum covers both. */
static void test_segment_crosses_chunks(void **state)
{
	struct holding *h = holding_new(0);
	send_pattern(h, 6400, 3);
	struct tn_tcp_chunk *c0 = h->t->snd.buf, *c1 = c0->next;
	assert_non_null(c1);
	assert_int_equal(c0->used, 4096);
	assert_int_equal(c1->used, 6400 - 4096);
	for (uint32_t i = 0; i < 5; i++) {
		struct tn_pkt *p = next_sent(h);
		assert_payload(p, i * MSS, 3);
		assert_checksums(p);
		if (i == 2) { /* bytes 2920..4379 */
			struct tn_pkt *a = p->next, *b = a->next;
			assert_non_null(b);
			assert_true(in_chunk(c0, a));
			assert_true(in_chunk(c1, b));
			assert_int_equal(a->len, 4096 - 2 * MSS);
			assert_int_equal(b->len, 3 * MSS - 4096);
			assert_ptr_equal(b->data, c1->data);
		} else {
			assert_null(p->next->next);
		}
		tn_pkt_free(p);
	}
	holding_free(h);
}

/* A retransmission after part of the send buffer is acknowledged, the
 * first chunk entirely: it points into the second chunk, at the right
 * place. */
static void test_retransmit_after_partial_ack(void **state)
{
	struct holding *h = holding_new(0);
	uint32_t iss = h->p.ack;
	struct tn_tcp_chunkcache *cc = &h->p.s->tcp.chunks;
	send_pattern(h, 6400, 4);
	struct tn_tcp_chunk *c0 = h->t->snd.buf, *c1 = c0->next;
	t_wire_clear(h->p.w);
	h->p.ack = iss + 2000;
	peer_send(&h->p, SRV_PORT, TN_TCP_ACK, NULL, 0);
	assert_ptr_equal(h->t->snd.buf, c0); /* partly acknowledged */
	assert_int_equal(h->t->snd.start, 2000);
	h->p.ack = iss + 4100;
	peer_send(&h->p, SRV_PORT, TN_TCP_ACK, NULL, 0);
	assert_ptr_equal(h->t->snd.buf, c1); /* the first chunk left */
	assert_int_equal(h->t->snd.start, 4100 - 4096);
	assert_int_equal(h->t->snd.len, 6400 - 4100);
	assert_int_equal(h->t->snd.cap, 8192);
	assert_int_equal(cc->bytes, 4096); /* and, no packet holding it, went back */
	t_wire_clear(h->p.w);
	advance(&h->p, 3 * T_SEC); /* the RTO (a tail loss probe may come first) */
	struct tn_pkt *p;
	while (seq_of(p = next_sent(h)) != iss + 4100)
		tn_pkt_free(p);
	assert_int_equal(p->pkt_len - HDRS, 3 * MSS - 4100); /* the rest of the segment sent as 2920..; over the copybreak */
	assert_true(in_chunk(c1, p->next));
	assert_ptr_equal(p->next->data, c1->data + 4);
	assert_payload(p, 4100, 4);
	assert_checksums(p);
	tn_pkt_free(p);
	holding_free(h);
}

/* A large segment for a TSO device is the header buffer and one external
 * piece per chunk it spans: the device gathers it whole, so per-MSS
 * pieces would only be buffers to allocate, put in iovecs and free. */
static void test_tso_segment_is_whole_pieces(void **state)
{
	struct holding *h = holding_new(TN_DEV_F_TSO | TN_DEV_F_CSUM_OFFLOAD);
	send_pattern(h, 4 * MSS, 5);
	struct tn_tcp_chunk *c0 = h->t->snd.buf;
	struct tn_pkt *p = next_sent(h);
	assert_null(h->p.w->sent.head);
	assert_int_equal(p->gso_size, MSS);
	assert_int_equal(p->gso_segs, 4);
	assert_int_equal(p->len, HDRS);
	assert_int_equal(p->pkt_len, HDRS + 4 * MSS);
	unsigned pieces = 0;
	for (struct tn_pkt *e = p->next; e; e = e->next, pieces++)
		assert_true(tn_pkt_is_ext(e));
	assert_int_equal(pieces, 2); /* the first chunk (4 KiB), then the rest */
	assert_int_equal(p->next->len, 4096);
	assert_payload(p, 0, 5);
	tn_pkt_free(p);
	assert_int_equal(c0->ext.refcnt, 1);
	holding_free(h);
}

/* For a device without TSO the large segment is laid out one piece per
 * MSS (two where an MSS crosses a chunk), and GSO cuts it on the way out
 * by putting a header buffer in front of each MSS's pieces, copying no
 * payload: what reaches the device is segments of headers and pieces of
 * the send buffer, with the right headers and bytes. */
static void test_gso_cuts_external_segments(void **state)
{
	struct holding *h = holding_new(TN_DEV_F_CSUM_OFFLOAD);
	uint32_t iss = h->p.ack;
	send_pattern(h, 4 * MSS, 5);
	struct tn_tcp_chunk *c0 = h->t->snd.buf;
	uint16_t id = 0;
	for (uint32_t i = 0; i < 4; i++) {
		struct tn_pkt *seg = next_sent(h);
		assert_int_equal(seg->len, HDRS);
		assert_int_equal(seg->pkt_len, HDRS + MSS);
		assert_int_equal(seg->gso_size, 0);
		assert_int_equal(tn_get16(seg->data + 2), HDRS + MSS);
		if (i == 0)
			id = tn_get16(seg->data + 4);
		assert_int_equal(tn_get16(seg->data + 4), (uint16_t)(id + i));
		assert_int_equal(seq_of(seg), iss + i * MSS);
		assert_true(seg->next != NULL);
		for (struct tn_pkt *e = seg->next; e; e = e->next)
			assert_true(tn_pkt_is_ext(e)); /* no payload copied */
		assert_payload(seg, i * MSS, 5);
		tn_csum_finish(seg);
		assert_checksums(seg);
		tn_pkt_free(seg);
	}
	assert_null(h->p.w->sent.head);
	assert_int_equal(c0->ext.refcnt, 1); /* every piece went back */
	holding_free(h);
}

/* External pieces laid out otherwise (one across an MSS boundary): GSO
 * cuts by copying, reading the external bytes and writing none. */
static void test_gso_copies_other_external_layouts(void **state)
{
	struct holding *h = holding_new(TN_DEV_F_TSO | TN_DEV_F_CSUM_OFFLOAD);
	uint32_t iss = h->p.ack;
	send_pattern(h, 2 * MSS, 6);
	struct tn_tcp_chunk *c = h->t->snd.buf;
	struct tn_pkt *orig = next_sent(h);
	/* the same segment, its payload one piece of two MSS */
	struct tn_pkt *p = tn_pkt_alloc(h->p.s->pool);
	memcpy(tn_pkt_put(p, HDRS), orig->data, HDRS);
	p->l3_off = tn_pkt_off(p, p->data);
	p->gso_size = orig->gso_size;
	p->gso_segs = orig->gso_segs;
	p->flags = orig->flags;
	tn_pkt_free(orig);
	tn_pkt_chain(p, tn_pkt_alloc_ext(h->p.s->pool, &c->ext, c->data, 2 * MSS));
	uint8_t before[2 * MSS];
	memcpy(before, c->data, sizeof(before));
	struct tn_pkt *seg = tn_gso_segment(h->p.s->pool, p);
	for (uint32_t i = 0; i < 2; i++) {
		assert_non_null(seg);
		struct tn_pkt *next = seg->qnext;
		assert_null(seg->next); /* copied: one buffer */
		assert_int_equal(seg->pkt_len, HDRS + MSS);
		assert_int_equal(seq_of(seg), iss + i * MSS);
		assert_payload(seg, i * MSS, 6);
		tn_pkt_free(seg);
		seg = next;
	}
	assert_null(seg);
	assert_memory_equal(before, c->data, sizeof(before));
	assert_int_equal(c->ext.refcnt, 1);
	holding_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_segments_point_into_send_buffer),
		cmocka_unit_test(test_packet_outlives_its_ack),
		cmocka_unit_test(test_segment_crosses_chunks),
		cmocka_unit_test(test_retransmit_after_partial_ack),
		cmocka_unit_test(test_tso_segment_is_whole_pieces),
		cmocka_unit_test(test_gso_cuts_external_segments),
		cmocka_unit_test(test_gso_copies_other_external_layouts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
