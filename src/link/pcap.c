/* pcap writer: a device that wraps another and records every frame it
 * receives and every frame the lower device accepts for sending, in the
 * classic pcap format with nanosecond timestamps. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link/dev.h"

#define PCAP_MAGIC_NS 0xa1b23c4du
#define LINKTYPE_ETHERNET 1
#define LINKTYPE_RAW 101
#define SNAPLEN 262144u
#define FLUSH_EVERY_NS 100000000ull

struct pcap {
	struct tn_dev dev;
	struct tn_dev *lower;
	FILE *f;
	uint64_t wall_offset;
	uint64_t last_flush;
	uint8_t frame[TN_PKT_DATAROOM];
};

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); } /* pcap is host-endian */
static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

static void write_record(struct pcap *c, const uint8_t *data, uint32_t len)
{
	uint64_t t = c->dev.now + c->wall_offset;
	uint8_t h[16];
	put32(h, (uint32_t)(t / 1000000000ull));
	put32(h + 4, (uint32_t)(t % 1000000000ull));
	put32(h + 8, len);
	put32(h + 12, len);
	fwrite(h, 1, sizeof(h), c->f);
	fwrite(data, 1, len, c->f);
}

/* Flatten a frame into the scratch buffer; frames never exceed one data room. */
static uint32_t flatten(struct pcap *c, const struct tn_pkt *p)
{
	uint32_t n = p->pkt_len < sizeof(c->frame) ? p->pkt_len : (uint32_t)sizeof(c->frame);
	tn_pkt_copy_out(p, 0, c->frame, n);
	return n;
}

static unsigned pcap_rx(struct tn_dev *d, struct tn_mempool *mp, struct tn_pkt **pkts, unsigned n)
{
	struct pcap *c = d->priv;
	c->lower->now = d->now;
	unsigned got = tn_dev_rx(c->lower, mp, pkts, n);
	for (unsigned i = 0; i < got; i++)
		write_record(c, pkts[i]->data, flatten(c, pkts[i]));
	d->stats.rx_packets = c->lower->stats.rx_packets;
	d->stats.rx_bytes = c->lower->stats.rx_bytes;
	return got;
}

/* One frame at a time: the record is written only once the lower device
 * has taken the frame, so a refused frame retried later appears once. */
static unsigned pcap_tx(struct tn_dev *d, struct tn_pkt **pkts, unsigned n)
{
	struct pcap *c = d->priv;
	c->lower->now = d->now;
	unsigned i;
	for (i = 0; i < n; i++) {
		uint32_t len = flatten(c, pkts[i]);
		if (tn_dev_tx(c->lower, &pkts[i], 1) == 0)
			break;
		write_record(c, c->frame, len);
	}
	d->stats.tx_packets = c->lower->stats.tx_packets;
	d->stats.tx_bytes = c->lower->stats.tx_bytes;
	d->stats.tx_dropped = c->lower->stats.tx_dropped;
	return i;
}

static void pcap_service(struct tn_dev *d, uint64_t now)
{
	struct pcap *c = d->priv;
	if (now - c->last_flush >= FLUSH_EVERY_NS) {
		fflush(c->f);
		c->last_flush = now;
	}
	c->lower->now = now;
	if (c->lower->ops->service)
		c->lower->ops->service(c->lower, now);
}

static uint64_t pcap_next_event(struct tn_dev *d) { return tn_dev_next_event(((struct pcap *)d->priv)->lower); }
static int pcap_fd(struct tn_dev *d) { return tn_dev_fd(((struct pcap *)d->priv)->lower); }

static void pcap_destroy(struct tn_dev *d)
{
	struct pcap *c = d->priv;
	fclose(c->f);
	tn_dev_destroy(c->lower);
	free(c);
}

static const struct tn_dev_ops pcap_ops = {
	.rx_burst = pcap_rx,
	.tx_burst = pcap_tx,
	.service = pcap_service,
	.next_event = pcap_next_event,
	.fd = pcap_fd,
	.destroy = pcap_destroy,
};

struct tn_dev *tn_pcap_new(struct tn_dev *lower, const char *path, uint64_t wall_offset_ns)
{
	struct pcap *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->f = fopen(path, "wb");
	if (!c->f) {
		int saved = errno;
		free(c);
		errno = saved;
		return NULL;
	}
	uint8_t gh[24];
	put32(gh, PCAP_MAGIC_NS);
	put16(gh + 4, 2);
	put16(gh + 6, 4);
	put32(gh + 8, 0);
	put32(gh + 12, 0);
	put32(gh + 16, SNAPLEN);
	put32(gh + 20, lower->framing == TN_DEV_L2 ? LINKTYPE_ETHERNET : LINKTYPE_RAW);
	fwrite(gh, 1, sizeof(gh), c->f);
	c->lower = lower;
	c->wall_offset = wall_offset_ns;
	c->dev = *lower;
	c->dev.ops = &pcap_ops;
	c->dev.priv = c;
	c->last_flush = lower->now;
	return &c->dev;
}
