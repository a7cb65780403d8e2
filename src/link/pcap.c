/* pcap writer: a device that wraps another and records every frame it
 * receives and every frame the lower device accepts for sending, in the
 * classic pcap format with nanosecond timestamps. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link/dev.h"

#define PCAP_MAGIC_NS 0xa1b23c4du
#define PCAP_VERSION_MAJOR 2
#define PCAP_VERSION_MINOR 4
#define LINKTYPE_ETHERNET 1
#define LINKTYPE_RAW 101
#define SNAPLEN 262144u
#define FLUSH_EVERY_NS 100000000ull
#define NS_PER_SEC 1000000000ull
#define STDIO_BUF (64u * 1024u)

struct pcap {
	struct tn_dev dev;
	struct tn_dev *lower;
	FILE *f;
	uint64_t wall_offset;
	uint64_t last_flush;
	bool unflushed; /* records written since the last flush */
	bool failed; /* a write failed: stop rather than leave a misaligned file */
};

/* pcap files are written in the writer's byte order; readers detect it
 * from the magic number. */
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

/* Borrows p.  A chain is written segment by segment, so the record holds
 * the whole frame without a flattening copy. */
static void write_record(struct pcap *c, const struct tn_pkt *p)
{
	if (c->failed)
		return;
	uint64_t t = c->dev.now + c->wall_offset;
	uint32_t caplen = p->pkt_len < SNAPLEN ? p->pkt_len : SNAPLEN;
	uint8_t h[16];
	put32(h, (uint32_t)(t / NS_PER_SEC));
	put32(h + 4, (uint32_t)(t % NS_PER_SEC));
	put32(h + 8, caplen);
	put32(h + 12, p->pkt_len);
	bool ok = fwrite(h, 1, sizeof(h), c->f) == sizeof(h);
	uint32_t left = caplen;
	for (const struct tn_pkt *s = p; s && left && ok; s = s->next) {
		uint32_t n = s->len < left ? s->len : left;
		ok = fwrite(s->data, 1, n, c->f) == n;
		left -= n;
	}
	if (!ok || left)
		c->failed = true;
	c->unflushed = true;
}

static void sync_stats(struct pcap *c)
{
	c->dev.stats = c->lower->stats;
}

static unsigned pcap_rx(struct tn_dev *d, struct tn_mempool *mp, struct tn_pkt **pkts, unsigned n)
{
	struct pcap *c = d->priv;
	c->lower->now = d->now;
	unsigned got = tn_dev_rx(c->lower, mp, pkts, n);
	for (unsigned i = 0; i < got; i++)
		write_record(c, pkts[i]);
	sync_stats(c);
	return got;
}

/* Only the frames the lower device takes are recorded, so a refused frame
 * the caller retries appears once.  The lower device may free what it
 * takes, so each frame is held by an extra reference across the call and
 * recorded afterwards; a holder of a shared packet does not modify it in
 * place (the fault injector copies before corrupting), so the record shows
 * the frame as it was handed to us.  The whole burst goes down at once. */
static unsigned pcap_tx(struct tn_dev *d, struct tn_pkt **pkts, unsigned n)
{
	struct pcap *c = d->priv;
	struct tn_pkt *held[TN_DEV_BURST];
	unsigned sent = 0;
	c->lower->now = d->now;
	while (sent < n) {
		unsigned m = n - sent < TN_DEV_BURST ? n - sent : TN_DEV_BURST;
		for (unsigned i = 0; i < m; i++) {
			held[i] = pkts[sent + i];
			tn_pkt_ref(held[i]);
		}
		unsigned k = tn_dev_tx(c->lower, pkts + sent, m);
		for (unsigned i = 0; i < m; i++) {
			if (i < k)
				write_record(c, held[i]);
			tn_pkt_free(held[i]);
		}
		sent += k;
		if (k < m)
			break;
	}
	sync_stats(c);
	return sent;
}

static void pcap_service(struct tn_dev *d, uint64_t now)
{
	struct pcap *c = d->priv;
	d->now = now;
	/* Bound the flush rate, yet keep a running host's file readable. */
	if (c->unflushed && now - c->last_flush >= FLUSH_EVERY_NS) {
		fflush(c->f);
		c->last_flush = now;
		c->unflushed = false;
	}
	c->lower->now = now;
	if (c->lower->ops->service)
		c->lower->ops->service(c->lower, now);
	sync_stats(c);
}

static uint64_t pcap_next_event(struct tn_dev *d)
{
	struct pcap *c = d->priv;
	c->lower->now = d->now;
	uint64_t t = tn_dev_next_event(c->lower);
	/* Records written: wake to flush them even if the link goes quiet, so
	 * a reader of the running host's file sees them within 100 ms. */
	uint64_t flush_at = c->last_flush + FLUSH_EVERY_NS;
	return c->unflushed && flush_at < t ? flush_at : t;
}

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

static bool write_header(FILE *f, enum tn_dev_framing framing)
{
	uint8_t gh[24];
	put32(gh, PCAP_MAGIC_NS);
	put16(gh + 4, PCAP_VERSION_MAJOR);
	put16(gh + 6, PCAP_VERSION_MINOR);
	put32(gh + 8, 0);  /* thiszone: timestamps are UTC */
	put32(gh + 12, 0); /* sigfigs */
	put32(gh + 16, SNAPLEN);
	put32(gh + 20, framing == TN_DEV_L2 ? LINKTYPE_ETHERNET : LINKTYPE_RAW);
	return fwrite(gh, 1, sizeof(gh), f) == sizeof(gh);
}

static FILE *open_file(const char *path, enum tn_dev_framing framing)
{
	FILE *f = fopen(path, "wbe");
	if (!f)
		return NULL;
	if (setvbuf(f, NULL, _IOFBF, STDIO_BUF) != 0 || !write_header(f, framing)) {
		fclose(f);
		errno = EIO;
		return NULL;
	}
	return f;
}

/* On failure `lower` stays with the caller. */
struct tn_dev *tn_pcap_new(struct tn_dev *lower, const char *path, uint64_t wall_offset_ns)
{
	if (!lower || !path) {
		errno = EINVAL;
		return NULL;
	}
	struct pcap *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->f = open_file(path, lower->framing);
	if (!c->f) {
		int saved = errno;
		free(c);
		errno = saved;
		return NULL;
	}
	c->lower = lower;
	c->wall_offset = wall_offset_ns;
	c->dev = *lower;
	c->dev.ops = &pcap_ops;
	c->dev.priv = c;
	c->last_flush = lower->now;
	return &c->dev;
}
