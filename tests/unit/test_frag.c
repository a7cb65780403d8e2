/* IPv4 fragmentation and reassembly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "net/frag.h"
#include "testutil.h"
#include "wire/csum.h"

struct frags {
	struct tn_pkt *f[64];
	int n;
};

static void collect(struct tn_stack *s, struct tn_pkt *frag, void *arg)
{
	(void)s;
	struct frags *c = arg;
	c->f[c->n++] = frag;
}

/* An IP datagram of 20 + payload bytes as a chain, payload bytes i*7. */
static struct tn_pkt *datagram(struct tn_stack *s, uint32_t payload, uint16_t id, uint16_t frag_off)
{
	struct tn_pkt *head = tn_pkt_alloc(s->pool);
	struct tn_ipv4_hdr h = {.tot_len = (uint16_t)(20 + payload), .id = id, .frag_off = frag_off, .ttl = 64,
				.proto = 17, .src = t_ip("198.18.0.1"), .dst = t_ip("198.18.0.2")};
	tn_ipv4_emit(&h, tn_pkt_put(head, 20), 20);
	uint32_t done = 0;
	struct tn_pkt *seg = head;
	while (done < payload) {
		if (tn_pkt_tailroom(seg) == 0) {
			struct tn_pkt *n = tn_pkt_alloc(s->pool);
			tn_pkt_chain(head, n);
			seg = n;
		}
		uint32_t room = tn_pkt_tailroom(seg);
		uint32_t take = payload - done < room ? payload - done : room;
		uint8_t *d = seg->data + seg->len;
		seg->len += take;
		head->pkt_len += take;
		for (uint32_t i = 0; i < take; i++)
			d[i] = (uint8_t)((done + i) * 7);
		done += take;
	}
	return head;
}

static void test_worked_example(void **state)
{
	(void)state;
	struct tn_stack *s = t_stack_new(1);
	struct frags c = {0};
	struct tn_pkt *p = datagram(s, 5120, 77, 0);
	assert_int_equal(p->pkt_len, 5140);
	assert_int_equal(tn_frag_output(s, p, 1500, collect, &c), 0);
	assert_int_equal(c.n, 4);
	static const int lens[] = {1500, 1500, 1500, 700}, offs[] = {0, 185, 370, 555}, mf[] = {1, 1, 1, 0};
	for (int i = 0; i < 4; i++) {
		struct tn_ipv4_hdr h;
		assert_int_equal(tn_ipv4_parse(c.f[i]->data, c.f[i]->len, &h), 20);
		assert_int_equal(h.tot_len, lens[i]);
		assert_int_equal(h.frag_off & TN_IP_OFFMASK, offs[i]);
		assert_int_equal(!!(h.frag_off & TN_IP_MF), mf[i]);
		assert_int_equal(h.id, 77);
		tn_pkt_free(c.f[i]);
	}
	assert_int_equal(tern_stat(s, "IpFragCreates"), 4);
	assert_int_equal(tern_stat(s, "IpFragOKs"), 1);
	assert_int_equal(tern_pool_in_use(s), 0);
	tern_stack_free(s);
}

/* Reassemble fragments given in `order`; returns the datagram or NULL. */
static struct tn_pkt *feed(struct tn_stack *s, struct frags *c, const int *order, int n)
{
	struct tn_pkt *out = NULL;
	for (int i = 0; i < n; i++) {
		struct tn_pkt *r = tn_frag_reasm(s, c->f[order[i]]);
		if (r) {
			assert_null(out);
			out = r;
		}
	}
	return out;
}

static void check_payload(struct tn_pkt *p, uint32_t payload)
{
	assert_int_equal(p->pkt_len, 20 + payload);
	struct tn_ipv4_hdr h;
	assert_int_equal(tn_ipv4_parse(p->data, p->pkt_len, &h), 20);
	assert_int_equal(h.tot_len, 20 + payload);
	assert_int_equal(h.frag_off & (TN_IP_MF | TN_IP_OFFMASK), 0);
	uint8_t *buf = malloc(payload);
	assert_int_equal(tn_pkt_copy_out(p, 20, buf, payload), 0);
	for (uint32_t i = 0; i < payload; i++)
		if (buf[i] != (uint8_t)(i * 7))
			fail_msg("payload byte %u differs", i);
	free(buf);
}

static void split(struct tn_stack *s, struct frags *c, uint32_t payload, uint16_t id, uint32_t mtu)
{
	c->n = 0;
	assert_int_equal(tn_frag_output(s, datagram(s, payload, id, 0), mtu, collect, c), 0);
}

static void test_roundtrip_orders(void **state)
{
	(void)state;
	struct tn_stack *s = t_stack_new(2);
	struct frags c;
	int inorder[] = {0, 1, 2, 3}, reversed[] = {3, 2, 1, 0}, shuffled[] = {2, 0, 3, 1};
	const int *orders[] = {inorder, reversed, shuffled};
	for (int k = 0; k < 3; k++) {
		split(s, &c, 5120, (uint16_t)(100 + k), 1500);
		struct tn_pkt *p = feed(s, &c, orders[k], 4);
		assert_non_null(p);
		check_payload(p, 5120);
		tn_pkt_free(p);
	}
	assert_int_equal(tern_stat(s, "IpReasmOKs"), 3);
	assert_int_equal(tern_stat(s, "IpReasmReqds"), 12);
	assert_int_equal(tern_pool_in_use(s), 0);
	tern_stack_free(s);
}

static void test_duplicate_ignored(void **state)
{
	(void)state;
	struct tn_stack *s = t_stack_new(3);
	struct frags c;
	split(s, &c, 5120, 5, 1500);
	struct tn_pkt *dup = tn_pkt_copy(s->pool, c.f[1]);
	assert_null(tn_frag_reasm(s, c.f[0]));
	assert_null(tn_frag_reasm(s, c.f[1]));
	assert_null(tn_frag_reasm(s, dup)); /* exact duplicate: dropped, queue kept */
	assert_null(tn_frag_reasm(s, c.f[2]));
	struct tn_pkt *p = tn_frag_reasm(s, c.f[3]);
	assert_non_null(p);
	check_payload(p, 5120);
	tn_pkt_free(p);
	assert_int_equal(tern_stat(s, "IpExtReasmOverlaps"), 0);
	assert_int_equal(tern_pool_in_use(s), 0);
	tern_stack_free(s);
}

static void test_overlap_kills_queue(void **state)
{
	(void)state;
	struct tn_stack *s = t_stack_new(4);
	struct frags c, d;
	split(s, &c, 5120, 9, 1500);
	split(s, &d, 5120, 9, 1000); /* same id, different boundaries: overlaps */
	assert_null(tn_frag_reasm(s, c.f[0]));
	assert_null(tn_frag_reasm(s, d.f[1]));
	assert_int_equal(tern_stat(s, "IpExtReasmOverlaps"), 1);
	assert_int_equal(tern_stat(s, "IpReasmFails"), 1);
	for (int i = 0; i < d.n; i++)
		if (i != 1)
			tn_pkt_free(d.f[i]);
	/* the rest of the first train now starts a fresh queue and cannot complete */
	for (int i = 1; i < 4; i++)
		assert_null(tn_frag_reasm(s, c.f[i]));
	/* a clean copy of the datagram with another id still reassembles */
	split(s, &c, 5120, 10, 1500);
	int order[] = {0, 1, 2, 3};
	struct tn_pkt *p = feed(s, &c, order, 4);
	assert_non_null(p);
	tn_pkt_free(p);
	tern_stack_free(s);
}

static void test_timeout_sends_time_exceeded(void **state)
{
	(void)state;
	struct tn_stack *s = t_stack_new(5);
	int ifindex;
	struct wire_dev *w = t_wire_attach(s, TN_DEV_L3, &ifindex);
	tern_addr_add(s, ifindex, t_ip("198.18.0.2"), 24);
	uint64_t base = tern_pool_in_use(s);
	struct frags c;
	split(s, &c, 3000, 11, 1500);
	assert_null(tn_frag_reasm(s, c.f[0]));
	assert_null(tn_frag_reasm(s, c.f[1])); /* the last one never comes */
	tn_pkt_free(c.f[2]);
	t_run(s, 1 * T_SEC + 29 * T_SEC);
	assert_int_equal(tern_stat(s, "IpReasmTimeout"), 0);
	t_run(s, 1 * T_SEC + 31 * T_SEC);
	assert_int_equal(tern_stat(s, "IpReasmTimeout"), 1);
	assert_int_equal(tern_stat(s, "IcmpOutTimeExcds"), 1);
	uint8_t buf[2048];
	int n = t_wire_take(w, buf, sizeof(buf));
	assert_true(n > 28);
	assert_int_equal(buf[20], TN_ICMP_TIME_EXCEEDED);
	assert_int_equal(buf[21], TN_ICMP_EXC_FRAGTIME);
	assert_int_equal(tern_pool_in_use(s), base);
	tern_stack_free(s);
}

static void test_memory_bound(void **state)
{
	(void)state;
	struct tn_stack *s = t_stack_new(6);
	assert_int_equal(tern_sysctl_set(s, "net.ipv4.ipfrag_high_thresh", "40000"), 0);
	assert_int_equal(tern_sysctl_set(s, "net.ipv4.ipfrag_low_thresh", "20000"), 0);
	struct frags c;
	int held = 0;
	for (int id = 0; id < 40; id++) {
		split(s, &c, 3000, (uint16_t)(200 + id), 1500);
		if (!tn_frag_reasm(s, c.f[0]))
			held++;
		tn_pkt_free(c.f[1]);
		tn_pkt_free(c.f[2]);
	}
	assert_true(tern_stat(s, "TernExtIpReasmMemLimit") > 0);
	assert_true(s->frag.mem <= 40000 + 2 * (sizeof(struct tn_pkt) + TN_PKT_BUFSIZE));
	assert_true(tern_stat(s, "IpReasmFails") > 0);
	tern_stack_free(s);
}

static void test_oversize_and_bad_fragments(void **state)
{
	(void)state;
	struct tn_stack *s = t_stack_new(7);
	/* a fragment at offset 65528 with 16 bytes ends past 65535 */
	struct tn_pkt *p = datagram(s, 16, 12, (uint16_t)(65528 / 8));
	assert_null(tn_frag_reasm(s, p));
	assert_int_equal(tern_stat(s, "TernExtIpReasmOversize"), 1);
	/* MF set with a payload that is not a multiple of 8 */
	p = datagram(s, 13, 13, TN_IP_MF);
	assert_null(tn_frag_reasm(s, p));
	assert_int_equal(tern_stat(s, "IpReasmFails"), 2);
	assert_int_equal(tern_pool_in_use(s), 0);
	tern_stack_free(s);
}

static void test_refragment_forwarded(void **state)
{
	(void)state;
	struct tn_stack *s = t_stack_new(8);
	struct frags c, d = {0};
	split(s, &c, 5120, 14, 1500);
	/* forward the second fragment (offset 185, MF) onto a 576-byte link */
	assert_int_equal(tn_frag_output(s, c.f[1], 576, collect, &d), 0);
	uint32_t expect_off = 185 * 8;
	for (int i = 0; i < d.n; i++) {
		struct tn_ipv4_hdr h;
		assert_int_equal(tn_ipv4_parse(d.f[i]->data, d.f[i]->len, &h), 20);
		assert_int_equal(tn_ipv4_frag_offset(&h), expect_off);
		assert_true(h.frag_off & TN_IP_MF); /* the original was not last */
		assert_true(h.tot_len <= 576);
		expect_off += h.tot_len - 20u;
	}
	assert_int_equal(expect_off, 370 * 8);
	/* all pieces reassemble with the other original fragments */
	struct tn_pkt *r = NULL;
	r = tn_frag_reasm(s, c.f[0]);
	for (int i = 0; i < d.n; i++)
		assert_null(tn_frag_reasm(s, d.f[i]));
	assert_null(tn_frag_reasm(s, c.f[2]));
	r = tn_frag_reasm(s, c.f[3]);
	assert_non_null(r);
	check_payload(r, 5120);
	tn_pkt_free(r);
	assert_int_equal(tern_pool_in_use(s), 0);
	tern_stack_free(s);
}

static void test_options_copied(void **state)
{
	(void)state;
	struct tn_stack *s = t_stack_new(9);
	struct tn_pkt *p = tn_pkt_alloc(s->pool);
	/* header with LSRR (copied) then a record-route (not copied), 3000 bytes payload */
	struct tn_ipv4_hdr h = {.tot_len = 32 + 3000, .id = 1, .ttl = 64, .proto = 17,
				.src = t_ip("198.18.0.1"), .dst = t_ip("198.18.0.2"), .optlen = 12};
	uint8_t opts[12] = {TN_IPOPT_LSRR, 7, 4, 198, 18, 0, 9, 7, 3, 4, 0, 0};
	memcpy(h.opts, opts, 12);
	tn_ipv4_emit(&h, tn_pkt_put(p, 32), 32);
	memset(tn_pkt_put(p, 2000), 0xab, 2000);
	struct tn_pkt *seg = tn_pkt_alloc(s->pool);
	memset(tn_pkt_put(seg, 1000), 0xab, 1000);
	tn_pkt_chain(p, seg);
	struct frags c = {0};
	assert_int_equal(tn_frag_output(s, p, 1500, collect, &c), 0);
	assert_int_equal(c.n, 3);
	struct tn_ipv4_hdr f0, f1;
	assert_int_equal(tn_ipv4_parse(c.f[0]->data, c.f[0]->len, &f0), 32);
	assert_int_equal(tn_ipv4_parse(c.f[1]->data, c.f[1]->len, &f1), 32);
	assert_memory_equal(f0.opts, opts, 12);
	assert_int_equal(f1.opts[0], TN_IPOPT_LSRR); /* copied */
	assert_int_equal(f1.opts[7], TN_IPOPT_NOP);  /* record route became NOPs */
	for (int i = 0; i < c.n; i++)
		tn_pkt_free(c.f[i]);
	tern_stack_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_worked_example),
		cmocka_unit_test(test_roundtrip_orders),
		cmocka_unit_test(test_duplicate_ignored),
		cmocka_unit_test(test_overlap_kills_queue),
		cmocka_unit_test(test_timeout_sends_time_exceeded),
		cmocka_unit_test(test_memory_bound),
		cmocka_unit_test(test_oversize_and_bad_fragments),
		cmocka_unit_test(test_refragment_forwarded),
		cmocka_unit_test(test_options_copied),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
