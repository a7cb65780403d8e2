/* Devices: memlink, the fault injector, the pcap writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

#include "link/dev.h"
#include "link/rxmod.h"
#include "link/vnet.h"
#include "testutil.h"

static struct tn_pkt *frame(struct tn_mempool *mp, uint32_t len, uint8_t tag)
{
	struct tn_pkt *p = tn_pkt_alloc(mp);
	uint8_t *d = tn_pkt_put(p, len);
	for (uint32_t i = 0; i < len; i++)
		d[i] = (uint8_t)(tag + i);
	return p;
}

static void test_memlink(void **state)
{
	(void)state;
	struct tn_mempool *mp = tn_mempool_new(64);
	struct tn_dev *a, *b;
	assert_int_equal(tn_memlink_pair("a", "b", TN_DEV_L2, 1500, 6, &a, &b), -EINVAL);
	assert_int_equal(tn_memlink_pair("a", "b", TN_DEV_L2, 1500, 8, &a, &b), 0);
	assert_memory_not_equal(a->mac, b->mac, 6);
	assert_true(a->mac[0] & 2); /* locally administered */
	struct tn_pkt *p[12];
	for (int i = 0; i < 12; i++)
		p[i] = frame(mp, 60 + (uint32_t)i, (uint8_t)i);
	assert_int_equal(tn_dev_tx(a, p, 12), 8); /* ring holds 8: the rest stay ours */
	for (int i = 8; i < 12; i++)
		tn_pkt_free(p[i]);
	assert_int_equal(tn_dev_next_event(b), b->now);
	struct tn_pkt *in[16];
	assert_int_equal(tn_dev_rx(b, mp, in, 16), 8);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(in[i]->len, 60 + i);
		assert_int_equal(in[i]->data[5], (uint8_t)(i + 5));
		tn_pkt_free(in[i]);
	}
	assert_int_equal(tn_dev_next_event(b), UINT64_MAX);
	/* a chain is flattened; an oversized frame is dropped and counted */
	struct tn_pkt *c = frame(mp, 100, 1);
	tn_pkt_chain(c, frame(mp, 50, 101));
	struct tn_pkt *huge = frame(mp, 2000, 0);
	tn_pkt_chain(huge, frame(mp, 100, 0));
	struct tn_pkt *two[2] = {c, huge};
	assert_int_equal(tn_dev_tx(b, two, 2), 2);
	assert_int_equal(b->stats.tx_dropped, 1);
	assert_int_equal(tn_dev_rx(a, mp, in, 16), 1);
	assert_int_equal(in[0]->len, 150);
	for (int i = 0; i < 150; i++)
		assert_int_equal(in[0]->data[i], (uint8_t)(1 + i));
	tn_pkt_free(in[0]);
	/* receiving with an empty pool leaves the frame in the ring */
	struct tn_mempool *tiny = tn_mempool_new(1);
	struct tn_pkt *hold = tn_pkt_alloc(tiny);
	struct tn_pkt *f = frame(mp, 60, 0);
	tn_dev_tx(a, &f, 1);
	assert_int_equal(tn_dev_rx(b, tiny, in, 4), 0);
	tn_pkt_free(hold);
	assert_int_equal(tn_dev_rx(b, tiny, in, 4), 1);
	tn_pkt_free(in[0]);
	/* frames in flight when the link goes away are freed with it */
	f = frame(mp, 60, 0);
	tn_dev_tx(a, &f, 1);
	tn_dev_destroy(a);
	tn_dev_destroy(b);
	assert_int_equal(tn_mempool_in_use(mp), 0);
	tn_mempool_free(mp);
	tn_mempool_free(tiny);
}

struct faulty {
	struct tn_mempool *mp;
	struct tn_dev *a, *b, *f;
};

static void faulty_new(struct faulty *x, const struct tn_fault_cfg *cfg)
{
	x->mp = tn_mempool_new(4096);
	tn_memlink_pair("fa", "fb", TN_DEV_L2, 1500, 4096, &x->a, &x->b);
	x->f = tn_fault_new(x->a, cfg);
	x->f->now = 0;
}

static int drain(struct faulty *x, uint8_t *tags, int cap)
{
	struct tn_pkt *in[32];
	int got = 0;
	unsigned n;
	while ((n = tn_dev_rx(x->b, x->mp, in, 32)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			if (tags && got < cap)
				tags[got] = in[i]->data[0];
			got++;
			tn_pkt_free(in[i]);
		}
	}
	return got;
}

static void faulty_free(struct faulty *x)
{
	tn_dev_destroy(x->f);
	tn_dev_destroy(x->b);
	assert_int_equal(tn_mempool_in_use(x->mp), 0);
	tn_mempool_free(x->mp);
}

static int send_many(struct faulty *x, int n, uint32_t len)
{
	int got = 0;
	for (int i = 0; i < n; i++) {
		struct tn_pkt *p = frame(x->mp, len, (uint8_t)i);
		tn_dev_tx(x->f, &p, 1);
		x->f->ops->service(x->f, x->f->now);
		if ((i & 255) == 255)
			got += drain(x, NULL, 0);
	}
	return got + drain(x, NULL, 0);
}

static void test_fault_rates(void **state)
{
	(void)state;
	struct tn_fault_cfg cfg = {.loss = 0.1, .duplicate = 0.05, .seed = 3};
	struct faulty x;
	faulty_new(&x, &cfg);
	int got = send_many(&x, 100000, 60);
	const struct tn_fault_stats *st = tn_fault_stats(x.f);
	double loss = (double)st->lost / 100000, dup = (double)st->duplicated / 100000;
	assert_true(fabs(loss - 0.1) < 0.005);
	assert_true(fabs(dup - 0.045) < 0.005); /* duplicates of the 90% not lost */
	assert_int_equal(got, 100000 - (int)st->lost + (int)st->duplicated);
	faulty_free(&x);
}

static void test_fault_corrupt_one_bit(void **state)
{
	(void)state;
	struct tn_fault_cfg cfg = {.corrupt = 1.0, .seed = 4};
	struct faulty x;
	faulty_new(&x, &cfg);
	for (int k = 0; k < 100; k++) {
		struct tn_pkt *p = frame(x.mp, 100, 0);
		tn_dev_tx(x.f, &p, 1);
		x.f->ops->service(x.f, 0);
		struct tn_pkt *in;
		assert_int_equal(tn_dev_rx(x.b, x.mp, &in, 1), 1);
		int bits = 0;
		for (int i = 0; i < 100; i++)
			bits += __builtin_popcount(in->data[i] ^ (uint8_t)i);
		assert_int_equal(bits, 1);
		tn_pkt_free(in);
	}
	faulty_free(&x);
}

static void test_fault_delay_jitter_rate(void **state)
{
	(void)state;
	struct tn_fault_cfg cfg = {.delay_ns = 20 * T_MS, .seed = 5};
	struct faulty x;
	faulty_new(&x, &cfg);
	struct tn_pkt *p = frame(x.mp, 60, 0);
	x.f->now = 1000;
	tn_dev_tx(x.f, &p, 1);
	assert_int_equal(tn_dev_next_event(x.f), 1000 + 20 * T_MS);
	x.f->ops->service(x.f, 1000 + 20 * T_MS - 1);
	assert_int_equal(drain(&x, NULL, 0), 0);
	x.f->ops->service(x.f, 1000 + 20 * T_MS);
	assert_int_equal(drain(&x, NULL, 0), 1);
	faulty_free(&x);

	struct tn_fault_cfg j = {.delay_ns = 10 * T_MS, .jitter_ns = 5 * T_MS, .seed = 6};
	faulty_new(&x, &j);
	uint64_t lo = UINT64_MAX, hi = 0;
	for (int i = 0; i < 1000; i++) {
		struct tn_pkt *q = frame(x.mp, 60, 0);
		x.f->now = 0;
		tn_dev_tx(x.f, &q, 1);
		uint64_t t = tn_dev_next_event(x.f);
		lo = t < lo ? t : lo;
		hi = t > hi ? t : hi;
		x.f->ops->service(x.f, 1 * T_SEC);
		drain(&x, NULL, 0);
	}
	assert_true(lo >= 10 * T_MS && hi <= 15 * T_MS && hi - lo > 4 * T_MS);
	faulty_free(&x);

	/* 1000 frames of 1250 bytes at 10 Mbit/s: 1 ms each, 1 s in all */
	struct tn_fault_cfg r = {.rate_bps = 10000000, .limit = 2000, .seed = 7};
	faulty_new(&x, &r);
	x.f->now = 0;
	for (int i = 0; i < 1000; i++) {
		struct tn_pkt *q = frame(x.mp, 1250, 0);
		tn_dev_tx(x.f, &q, 1);
	}
	int got = 0;
	uint64_t t = 0;
	while (got < 1000) {
		t = tn_dev_next_event(x.f);
		x.f->ops->service(x.f, t);
		got += drain(&x, NULL, 0);
	}
	assert_int_equal(t, 1 * T_SEC);
	faulty_free(&x);
}

static void test_fault_reorder_overflow_determinism(void **state)
{
	(void)state;
	struct tn_fault_cfg cfg = {.delay_ns = 1 * T_MS, .reorder = 0.2, .limit = 64, .seed = 8};
	struct faulty x;
	faulty_new(&x, &cfg);
	x.f->now = 0;
	for (int i = 0; i < 100; i++) {
		struct tn_pkt *p = frame(x.mp, 60, (uint8_t)i);
		tn_dev_tx(x.f, &p, 1);
	}
	assert_int_equal(tn_fault_stats(x.f)->overflow, 36);
	x.f->ops->service(x.f, 10 * T_MS);
	uint8_t tags[64];
	assert_int_equal(drain(&x, tags, 64), 64);
	int out_of_order = 0;
	for (int i = 1; i < 64; i++)
		out_of_order += tags[i] < tags[i - 1];
	assert_true(out_of_order > 0);
	faulty_free(&x);
	/* same seed, same outcome */
	uint64_t lost[2];
	for (int k = 0; k < 2; k++) {
		struct tn_fault_cfg c = {.loss = 0.3, .seed = 99};
		faulty_new(&x, &c);
		send_many(&x, 1000, 60);
		lost[k] = tn_fault_stats(x.f)->lost;
		faulty_free(&x);
	}
	assert_int_equal(lost[0], lost[1]);
}

static void test_pcap(void **state)
{
	(void)state;
	char path[] = "/tmp/tern-pcap-XXXXXX";
	int fd = mkstemp(path);
	close(fd);
	struct tn_mempool *mp = tn_mempool_new(16);
	struct tn_dev *a, *b;
	tn_memlink_pair("pa", "pb", TN_DEV_L2, 1500, 64, &a, &b);
	struct tn_dev *w = tn_pcap_new(a, path, 1700000000ull * 1000000000ull);
	w->now = 123456789;
	uint8_t fr[2048];
	uint8_t mac1[6] = {2, 0, 0, 0, 0, 1}, mac2[6] = {2, 0, 0, 0, 0, 2}, l4[64];
	uint32_t ul = t_build_udp(l4, t_ip("198.18.0.1"), t_ip("198.18.0.2"), 1, 2, (const uint8_t *)"pcap", 4);
	uint32_t n = t_build_ip(fr, sizeof(fr), mac2, mac1, t_ip("198.18.0.1"), t_ip("198.18.0.2"), 17, 64, 1, 0, l4, ul);
	struct tn_pkt *p = tn_pkt_from_bytes(mp, fr, 20);
	tn_pkt_chain(p, tn_pkt_from_bytes(mp, fr + 20, n - 20)); /* a chain is written whole */
	assert_int_equal(tn_dev_tx(w, &p, 1), 1);
	struct tn_pkt *q = tn_pkt_from_bytes(mp, fr, n);
	tn_dev_tx(b, &q, 1);
	struct tn_pkt *in;
	assert_int_equal(tn_dev_rx(w, mp, &in, 1), 1);
	tn_pkt_free(in);
	tn_dev_destroy(w);
	tn_dev_destroy(b);
	FILE *f = fopen(path, "rb");
	uint8_t buf[4096];
	size_t len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_int_equal(len, 24 + 2 * (16 + n));
	uint32_t magic, linktype, sec, nsec, caplen;
	memcpy(&magic, buf, 4);
	memcpy(&linktype, buf + 20, 4);
	memcpy(&sec, buf + 24, 4);
	memcpy(&nsec, buf + 28, 4);
	memcpy(&caplen, buf + 32, 4);
	assert_int_equal(magic, 0xa1b23c4d);
	assert_int_equal(linktype, 1);
	assert_int_equal(sec, 1700000000);
	assert_int_equal(nsec, 123456789);
	assert_int_equal(caplen, n);
	assert_memory_equal(buf + 40, fr, n);
	if (access("/usr/bin/tshark", X_OK) == 0) {
		char cmd[256];
		snprintf(cmd, sizeof(cmd), "tshark -r %s -T fields -e udp.dstport 2>/dev/null", path);
		FILE *t = popen(cmd, "r");
		char line[64] = {0};
		assert_non_null(fgets(line, sizeof(line), t));
		assert_int_equal(atoi(line), 2);
		pclose(t);
	} else {
		print_message("tshark not installed: skipping the tshark read-back\n");
	}
	unlink(path);
	assert_int_equal(tn_mempool_in_use(mp), 0);
	tn_mempool_free(mp);
}

/* Receive moderation: a frame after quiet time is taken at once; a stream
 * is taken once per window; an idle gap ends it; 0 turns it off. */
static void test_rxmod(void **state)
{
	(void)state;
	const uint64_t us = 1000, w = 50 * us;
	struct tn_rxmod m = {.rx_ns = w};
	uint64_t t = 1000000;
	/* light traffic, a frame per 100 us: never held */
	for (int i = 0; i < 20; i++, t += 100 * us) {
		tn_rxmod_note(&m, t, 1, false);
		assert_false(tn_rxmod_holding(&m, t));
		assert_int_equal(tn_rxmod_next(&m), UINT64_MAX);
	}
	/* 3 frames a window (below TN_RXMOD_MIN): still per frame */
	for (int i = 0; i < 30; i++, t += w / 3 + 1)
		tn_rxmod_note(&m, t, 1, false);
	assert_false(m.on);
	assert_int_equal(m.moderated, 0);
	/* a stream, a frame every 5 us: after its first window the
	 * descriptor is held until each window ends, and the owner is told
	 * to come back then */
	uint64_t held = 0, polls = 0;
	for (int i = 0; i < 200; i++, t += 5 * us) {
		if (tn_rxmod_holding(&m, t)) {
			held++;
			assert_true(tn_rxmod_next(&m) > t);
			assert_true(tn_rxmod_next(&m) <= t + w);
			continue; /* asleep: the frame waits on the ring */
		}
		polls++;
		uint32_t waiting = polls == 1 ? 1 : (uint32_t)(w / (5 * us));
		tn_rxmod_note(&m, t, waiting, false);
	}
	assert_true(m.on);
	assert_true(held > 150);
	assert_true(polls < 30);
	assert_true(m.moderated > 0);
	/* an idle gap of more than a window: the next frame is taken at
	 * once and is not a stream */
	t = m.win_end + 3 * w;
	assert_false(tn_rxmod_holding(&m, t));
	assert_true(tn_rxmod_next(&m) <= t); /* the loop looks now */
	tn_rxmod_note(&m, t, 1, false);
	assert_false(m.on);
	assert_false(tn_rxmod_holding(&m, t + us));
	/* off: never held, whatever comes */
	struct tn_rxmod off = {0};
	for (int i = 0; i < 100; i++, t += us) {
		tn_rxmod_note(&off, t, 64, false);
		assert_false(tn_rxmod_holding(&off, t));
	}
	assert_int_equal(off.moderated, 0);
}

/* Open loop: frames every gap_ns; the owner wakes at the window's end
 * (late by late_ns) while holding, else at the next frame (late too), and
 * takes what waits in bursts of at most `burst` frames (0: no limit), each
 * frame costing proc_ns.  Returns frames per wake-up over 2 s; *win the
 * final window. */
static double rxmod_open_loop(uint64_t gap_ns, uint64_t late_ns, uint32_t burst, uint64_t proc_ns, uint64_t *win)
{
	struct tn_rxmod m = {.rx_ns = 50000, .max_ns = TN_RXMOD_MAX_NS};
	uint64_t t = 1000000, next = t, wakes = 0, frames = 0;
	while (t < 2000000000ull) {
		uint64_t wake = (tn_rxmod_holding(&m, t) ? m.win_end : next) + late_ns;
		t = wake > t ? wake : t;
		bool more;
		do {
			uint32_t got = 0;
			for (; next <= t && (!burst || got < burst); next += gap_ns)
				got++;
			more = burst && got == burst;
			tn_rxmod_note(&m, t, got, more);
			frames += got;
			t += got * proc_ns;
		} while (more);
		wakes++;
	}
	*win = m.win_ns;
	return (double)frames / (double)wakes;
}

/* Closed loop: c requests out, each answered proc_ns after it is taken
 * and back rtt_ns later (wrk's connections).  Returns requests per second;
 * *win the final window. */
static double rxmod_closed_loop(int c, uint64_t rtt_ns, uint64_t proc_ns, uint64_t late_ns, uint64_t max_ns,
				uint64_t *win)
{
	struct tn_rxmod m = {.rx_ns = 50000, .max_ns = max_ns};
	uint64_t at[256], t = 0, done = 0;
	assert_true(c <= 256);
	for (int i = 0; i < c; i++)
		at[i] = 1000u * (uint64_t)i;
	while (t < 2000000000ull) {
		uint64_t first = UINT64_MAX;
		for (int i = 0; i < c; i++)
			first = at[i] < first ? at[i] : first;
		uint64_t wake = (tn_rxmod_holding(&m, t) ? m.win_end : first) + late_ns;
		t = wake > t ? wake : t;
		uint32_t got = 0;
		uint64_t busy = t;
		for (int i = 0; i < c; i++)
			if (at[i] <= t) {
				got++;
				busy += proc_ns;
				at[i] = busy + rtt_ns;
			}
		tn_rxmod_note(&m, t, got, false);
		done += got;
		t = busy;
	}
	*win = m.win_ns;
	return (double)done / 2.0;
}

/* The window grows under a flood (hundreds of frames a wake-up, as a
 * TPACKET_V3 block gave) and stays short for a closed loop, whose rate the
 * longer window would cut. */
static void test_rxmod_adaptive(void **state)
{
	(void)state;
	uint64_t win;
	double per = rxmod_open_loop(5555, 30000, 0, 0, &win); /* 180k frames/s */
	print_message("flood 180k/s: %.1f frames a wake-up, window %llu us\n", per, (unsigned long long)win / 1000);
	assert_true(per > 100);
	assert_int_equal(win, TN_RXMOD_MAX_NS);
	/* the same taken as drivers take it, 32 frames a call at 700 ns a
	 * frame: the bursts after the first at a wake-up are the ended
	 * window's too, or a doubled window's rate looks cut and the growth
	 * is undone (it stayed at 100-400 us, 34-64 frames a wake-up) */
	per = rxmod_open_loop(5555, 30000, TN_DEV_BURST, 700, &win);
	print_message("flood 180k/s in bursts of %u: %.1f frames a wake-up, window %llu us\n", TN_DEV_BURST, per,
		      (unsigned long long)win / 1000);
	assert_true(per > 100);
	assert_int_equal(win, TN_RXMOD_MAX_NS);
	per = rxmod_open_loop(20000, 30000, 0, 0, &win); /* 50k frames/s: never 8 a window */
	assert_true(per < 6);
	assert_int_equal(win, 50000);
	/* 32 connections, 20 us back and forth, 3 us a request: the rate of
	 * a fixed 50 us window must hold, and the window stay short (left to
	 * grow without the rate check, it reaches 1 ms and the rate falls
	 * to a fraction) */
	double fixed = rxmod_closed_loop(32, 20000, 3000, 30000, 50000, &win);
	double rps = rxmod_closed_loop(32, 20000, 3000, 30000, TN_RXMOD_MAX_NS, &win);
	print_message("closed loop of 32: %.0f req/s (a fixed 50 us window: %.0f), window %llu us\n", rps, fixed,
		      (unsigned long long)win / 1000);
	assert_true(rps > 0.9 * fixed);
	assert_true(win <= 100000);
	/* slow clients (0.5 ms away): few frames a window, no growth */
	rxmod_closed_loop(32, 500000, 3000, 30000, TN_RXMOD_MAX_NS, &win);
	assert_true(win <= 100000);
}

/* tn_vnet_iov: the header, then every buffer; never a frame cut short. */
static void test_vnet_iov(void **state)
{
	(void)state;
	struct tn_mempool *mp = tn_mempool_new(64);
	struct tn_pkt *p = frame(mp, 60, 1);
	for (int i = 0; i < 3; i++) {
		struct tn_pkt *q = frame(mp, 100, (uint8_t)i);
		q->next = p->next;
		p->next = q;
		p->pkt_len += q->len;
	}
	struct virtio_net_hdr vh;
	struct iovec iov[8];
	assert_int_equal(tn_vnet_iov(p, false, &vh, iov, 8), 4);
	assert_ptr_equal(iov[0].iov_base, p->data);
	assert_int_equal(iov[3].iov_len, 100);
	assert_int_equal(tn_vnet_iov(p, true, &vh, iov, 8), 5); /* no offload asked: a zero header */
	assert_ptr_equal(iov[0].iov_base, &vh);
	assert_int_equal(vh.flags, 0);
	assert_int_equal(vh.gso_type, 0);
	errno = 0;
	assert_int_equal(tn_vnet_iov(p, true, &vh, iov, 4), -1); /* one buffer too many: not cut short */
	assert_int_equal(errno, EMSGSIZE);
	p->gso_size = 1448; /* a large segment without the partial checksum it needs */
	errno = 0;
	assert_int_equal(tn_vnet_iov(p, true, &vh, iov, 8), -1);
	assert_int_equal(errno, EINVAL);
	tn_pkt_free(p);
	assert_int_equal(tn_mempool_in_use(mp), 0);
	tn_mempool_free(mp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memlink),
		cmocka_unit_test(test_fault_rates),
		cmocka_unit_test(test_fault_corrupt_one_bit),
		cmocka_unit_test(test_fault_delay_jitter_rate),
		cmocka_unit_test(test_fault_reorder_overflow_determinism),
		cmocka_unit_test(test_pcap),
		cmocka_unit_test(test_rxmod),
		cmocka_unit_test(test_rxmod_adaptive),
		cmocka_unit_test(test_vnet_iov),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
