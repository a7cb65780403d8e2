#include "testutil.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "filter/ipt.h"
#include "tern/tern.h"

#include "wire/csum.h"

static unsigned w_rx(struct tn_dev *d, struct tn_mempool *mp, struct tn_pkt **pkts, unsigned n)
{
	struct wire_dev *w = d->priv;
	unsigned got = 0;
	while (got < n && w->inbox.head) {
		struct tn_pkt *src = w->inbox.head;
		struct tn_pkt *p = tn_pkt_alloc(mp);
		if (!p)
			break;
		tn_pktq_pop(&w->inbox, 0);
		memcpy(tn_pkt_put(p, src->len), src->data, src->len);
		tn_pkt_free(src);
		pkts[got++] = p;
	}
	return got;
}

static unsigned w_tx(struct tn_dev *d, struct tn_pkt **pkts, unsigned n)
{
	struct wire_dev *w = d->priv;
	for (unsigned i = 0; i < n; i++) {
		struct tn_pkt *c = tn_pkt_alloc(w->pool);
		if (c) {
			tn_pkt_copy_out(pkts[i], 0, tn_pkt_put(c, pkts[i]->pkt_len), pkts[i]->pkt_len);
			tn_pktq_push(&w->sent, c, 0);
		}
		tn_pkt_free(pkts[i]);
	}
	return n;
}

static uint64_t w_next(struct tn_dev *d)
{
	struct wire_dev *w = d->priv;
	return w->inbox.head ? d->now : UINT64_MAX;
}

static void w_destroy(struct tn_dev *d)
{
	struct wire_dev *w = d->priv;
	tn_pktq_purge(&w->inbox);
	tn_pktq_purge(&w->sent);
	tn_mempool_free(w->pool);
	free(w);
}

static const struct tn_dev_ops w_ops = {
	.rx_burst = w_rx, .tx_burst = w_tx, .next_event = w_next, .destroy = w_destroy,
};

struct tn_stack *t_stack_new(uint64_t seed)
{
	struct tern_config cfg = {.seed = seed, .now = 1 * T_SEC, .pool_size = 4096};
	return tern_stack_new(&cfg);
}

struct wire_dev *t_wire_attach(struct tn_stack *s, enum tn_dev_framing framing, int *ifindex)
{
	struct wire_dev *w = calloc(1, sizeof(*w));
	w->pool = tn_mempool_new(4096);
	w->dev.ops = &w_ops;
	w->dev.priv = w;
	w->dev.framing = framing;
	w->dev.mtu = 1500;
	snprintf(w->dev.name, sizeof(w->dev.name), "wire%d", tern_dev_count(s));
	static const uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0x01};
	memcpy(w->dev.mac, mac, 6);
	w->dev.mac[4] = (uint8_t)tern_dev_count(s);
	tn_pktq_init(&w->inbox);
	tn_pktq_init(&w->sent);
	*ifindex = tern_dev_attach(s, &w->dev);
	return w;
}

void t_wire_inject(struct wire_dev *w, const uint8_t *frame, uint32_t len)
{
	struct tn_pkt *p = tn_pkt_from_bytes(w->pool, frame, len);
	if (p)
		tn_pktq_push(&w->inbox, p, 0);
}

int t_wire_take(struct wire_dev *w, uint8_t *buf, uint32_t cap)
{
	struct tn_pkt *p = tn_pktq_pop(&w->sent, 0);
	if (!p)
		return -1;
	uint32_t n = p->len < cap ? p->len : cap;
	memcpy(buf, p->data, n);
	tn_pkt_free(p);
	return (int)n;
}

void t_wire_clear(struct wire_dev *w) { tn_pktq_purge(&w->sent); }

void t_run(struct tn_stack *s, uint64_t now)
{
	while (tern_poll(s, now))
		;
}

uint32_t t_build_ip(uint8_t *buf, uint32_t cap, const uint8_t *dst_mac, const uint8_t *src_mac,
		    uint32_t src, uint32_t dst, uint8_t proto, uint8_t ttl, uint16_t id,
		    uint16_t frag_off, const uint8_t *l4, uint32_t l4len)
{
	struct tn_eth_hdr eh = {.type = TN_ETHERTYPE_IPV4};
	memcpy(eh.dst, dst_mac, 6);
	memcpy(eh.src, src_mac, 6);
	tn_eth_emit(&eh, buf, cap);
	struct tn_ipv4_hdr ih = {.tot_len = (uint16_t)(20 + l4len), .id = id, .frag_off = frag_off,
				 .ttl = ttl, .proto = proto, .src = src, .dst = dst};
	tn_ipv4_emit(&ih, buf + 14, cap - 14);
	memcpy(buf + 34, l4, l4len);
	return 34 + l4len;
}

uint32_t t_build_echo(uint8_t *buf, uint16_t id, uint16_t seq, uint32_t datalen)
{
	struct tn_icmp_hdr ih = {.type = TN_ICMP_ECHO, .rest = (uint32_t)id << 16 | seq};
	tn_icmp_emit(&ih, buf, 8);
	for (uint32_t i = 0; i < datalen; i++)
		buf[8 + i] = (uint8_t)i;
	tn_put16(buf + 2, tn_csum(buf, 8 + datalen));
	return 8 + datalen;
}

uint32_t t_build_udp(uint8_t *buf, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
		     const uint8_t *data, uint32_t len)
{
	struct tn_udp_hdr uh = {.sport = sport, .dport = dport, .len = (uint16_t)(8 + len)};
	tn_udp_emit(&uh, buf, 8);
	if (len)
		memcpy(buf + 8, data, len);
	uint16_t c = tn_csum_fold(tn_csum_partial(buf, 8 + len, tn_csum_pseudo4(src, dst, 17, 8 + len)));
	tn_put16(buf + 6, c ? c : 0xffff);
	return 8 + len;
}

uint32_t t_ip(const char *dotted)
{
	struct in_addr a;
	inet_pton(AF_INET, dotted, &a);
	return ntohl(a.s_addr);
}

int t_ipt(struct tn_stack *s, char *out, size_t cap, const char *fmt, ...)
{
	char line[512], *argv[64], *save = NULL;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	int argc = 0;
	for (char *p = strtok_r(line, " ", &save); p && argc < 64; p = strtok_r(NULL, " ", &save))
		argv[argc++] = p;
	FILE *f = fmemopen(out, cap, "w");
	int rc = tn_ipt_run(s, argc, argv, NULL, 0, f);
	fclose(f);
	if (rc)
		printf("iptables: %s\n", out);
	return rc;
}

int t_udp_bound(struct tn_stack *s, uint16_t port)
{
	int fd = tern_socket(s, AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	assert_int_equal(tern_bind(s, fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

ssize_t t_udp_hello(struct tn_stack *s, int fd, const char *ip, uint16_t port)
{
	struct sockaddr_in d = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(t_ip(ip))};
	return tern_sendto(s, fd, "hello", 5, 0, (struct sockaddr *)&d, sizeof(d));
}
