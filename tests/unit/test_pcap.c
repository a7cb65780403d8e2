/* The pcap writer over a fake lower device: file format (global header,
 * record headers, timestamps, chained frames), only accepted frames
 * recorded, forwarding to the lower device, flush rate, and a read-back
 * by tshark when it is installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "link/dev.h"
#include "testutil.h"

#define WALL (1700000000ull * T_SEC)
#define FAKE_Q 8

/* A lower device: rx hands out the packets preloaded in rxq; tx takes up
 * to tx_room packets into txq and refuses the rest. */
struct fake {
	struct tn_dev dev;
	struct tn_pkt *rxq[FAKE_Q];
	unsigned nrx, rxpos;
	struct tn_pkt *txq[FAKE_Q];
	unsigned ntx, tx_room;
	uint64_t rx_now, tx_now, service_now, next_event;
	int destroyed;
};

static unsigned fake_rx(struct tn_dev *d, struct tn_mempool *mp, struct tn_pkt **pkts, unsigned n)
{
	struct fake *f = d->priv;
	(void)mp;
	f->rx_now = d->now;
	unsigned got = 0;
	while (got < n && f->rxpos < f->nrx) {
		pkts[got] = f->rxq[f->rxpos++];
		d->stats.rx_packets++;
		d->stats.rx_bytes += pkts[got]->pkt_len;
		got++;
	}
	return got;
}

static unsigned fake_tx(struct tn_dev *d, struct tn_pkt **pkts, unsigned n)
{
	struct fake *f = d->priv;
	f->tx_now = d->now;
	unsigned k = 0;
	while (k < n && f->tx_room > 0 && f->ntx < FAKE_Q) {
		f->txq[f->ntx++] = pkts[k];
		d->stats.tx_packets++;
		d->stats.tx_bytes += pkts[k]->pkt_len;
		f->tx_room--;
		k++;
	}
	return k;
}

static void fake_service(struct tn_dev *d, uint64_t now) { ((struct fake *)d->priv)->service_now = now; }
static uint64_t fake_next_event(struct tn_dev *d) { return ((struct fake *)d->priv)->next_event; }
static int fake_fd(struct tn_dev *d) { (void)d; return 42; }

static void fake_destroy(struct tn_dev *d)
{
	struct fake *f = d->priv;
	for (unsigned i = 0; i < f->ntx; i++)
		tn_pkt_free(f->txq[i]);
	f->ntx = 0;
	f->destroyed++;
}

static const struct tn_dev_ops fake_ops = {
	.rx_burst = fake_rx,
	.tx_burst = fake_tx,
	.service = fake_service,
	.next_event = fake_next_event,
	.fd = fake_fd,
	.destroy = fake_destroy,
};

static void fake_init(struct fake *f, enum tn_dev_framing framing)
{
	memset(f, 0, sizeof(*f));
	f->dev.ops = &fake_ops;
	f->dev.priv = f;
	f->dev.framing = framing;
	f->dev.mtu = 1500;
	memcpy(f->dev.name, "fake0", 6);
	memcpy(f->dev.mac, (uint8_t[6]){2, 0, 0, 0, 0, 9}, 6);
	f->tx_room = FAKE_Q;
	f->next_event = UINT64_MAX;
}

static const uint8_t mac_a[6] = {2, 0, 0, 0, 0, 1}, mac_b[6] = {2, 0, 0, 0, 0, 2};

/* A real Ethernet + IPv4 + UDP frame, checksums correct; payload of plen bytes. */
static uint32_t udp_frame(uint8_t *fr, uint32_t cap, uint16_t dport, uint32_t plen)
{
	uint8_t payload[1400], l4[1500];
	for (uint32_t i = 0; i < plen; i++)
		payload[i] = (uint8_t)(i * 7 + dport);
	uint32_t src = t_ip("198.18.0.1"), dst = t_ip("198.18.0.2");
	uint32_t ul = t_build_udp(l4, src, dst, 40000, dport, payload, plen);
	return t_build_ip(fr, cap, mac_b, mac_a, src, dst, 17, 64, dport, 0, l4, ul);
}

/* A packet of the given bytes, split into a chain at each offset in cuts. */
static struct tn_pkt *chain_of(struct tn_mempool *mp, const uint8_t *b, uint32_t len,
			       const uint32_t *cuts, unsigned ncuts)
{
	uint32_t start = 0;
	struct tn_pkt *head = NULL;
	for (unsigned i = 0; i <= ncuts; i++) {
		uint32_t end = i < ncuts ? cuts[i] : len;
		struct tn_pkt *s = tn_pkt_from_bytes(mp, b + start, end - start);
		assert_non_null(s);
		if (head)
			tn_pkt_chain(head, s);
		else
			head = s;
		start = end;
	}
	assert_int_equal(head->pkt_len, len);
	return head;
}

struct capture {
	uint8_t *buf;
	size_t len, off;
};

static void load(struct capture *c, const char *path)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	c->buf = malloc(1 << 16);
	c->len = fread(c->buf, 1, 1 << 16, f);
	c->off = 24;
	fclose(f);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static void check_global_header(const struct capture *c, uint32_t linktype)
{
	assert_true(c->len >= 24);
	assert_int_equal(get32(c->buf), 0xa1b23c4d);
	uint16_t major, minor;
	memcpy(&major, c->buf + 4, 2);
	memcpy(&minor, c->buf + 6, 2);
	assert_int_equal(major, 2);
	assert_int_equal(minor, 4);
	assert_int_equal(get32(c->buf + 8), 0);
	assert_int_equal(get32(c->buf + 12), 0);
	assert_int_equal(get32(c->buf + 16), 262144);
	assert_int_equal(get32(c->buf + 20), linktype);
}

/* The next record must be (ts, data); advances past it. */
static void check_record(struct capture *c, uint64_t ts, const uint8_t *data, uint32_t len)
{
	assert_true(c->off + 16 + len <= c->len);
	const uint8_t *h = c->buf + c->off;
	assert_int_equal(get32(h), ts / T_SEC);
	assert_int_equal(get32(h + 4), ts % T_SEC);
	assert_int_equal(get32(h + 8), len);
	assert_int_equal(get32(h + 12), len);
	assert_memory_equal(h + 16, data, len);
	c->off += 16 + len;
}

static void temp_path(char *path, size_t cap)
{
	snprintf(path, cap, "/tmp/tern-test-pcap-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
}

static bool have_tshark(void)
{
	if (access("/usr/bin/tshark", X_OK) == 0)
		return true;
	print_message("tshark not installed: skipping the tshark read-back\n");
	return false;
}

/* Run a tshark command; its stdout into out, and fail on any stderr line
 * other than tshark's notice about running as root. */
static void run_tshark(const char *args, const char *path, char *out, size_t cap)
{
	char err[] = "/tmp/tern-test-pcap-err-XXXXXX";
	int efd = mkstemp(err);
	assert_true(efd >= 0);
	close(efd);
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "tshark -n -r %s %s 2>%s", path, args, err);
	FILE *t = popen(cmd, "r");
	assert_non_null(t);
	size_t n = fread(out, 1, cap - 1, t);
	out[n] = '\0';
	assert_int_equal(pclose(t), 0);
	FILE *e = fopen(err, "r");
	assert_non_null(e);
	char line[256];
	while (fgets(line, sizeof(line), e)) {
		if (strstr(line, "Running as user"))
			continue;
		fail_msg("tshark stderr: %s", line);
	}
	fclose(e);
	unlink(err);
}

/* tshark reads the frames with the expected lengths, and finds no
 * malformed packet and no bad checksum. */
static void tshark_check(const char *path, const uint32_t *lens, unsigned n)
{
	if (!have_tshark())
		return;
	char out[4096];
	run_tshark("-T fields -e frame.len", path, out, sizeof(out));
	char *save = NULL, *tok = strtok_r(out, "\n", &save);
	for (unsigned i = 0; i < n; i++) {
		assert_non_null(tok);
		assert_int_equal(strtoul(tok, NULL, 10), lens[i]);
		tok = strtok_r(NULL, "\n", &save);
	}
	assert_null(tok);
	run_tshark("-o ip.check_checksum:TRUE -o udp.check_checksum:TRUE -q -z expert", path, out, sizeof(out));
	if (strstr(out, "Malformed") || strstr(out, "Errors") || strstr(out, "Bad checksum"))
		fail_msg("tshark expert info: %s", out);
}

/* L2: received frames and accepted sent frames, in order, with the
 * timestamps of the calls; a refused frame is recorded once, when the
 * lower device finally takes it; a chain is recorded whole. */
static void test_pcap_l2(void **state)
{
	(void)state;
	struct tn_mempool *mp = tn_mempool_new(32);
	struct fake f;
	fake_init(&f, TN_DEV_L2);
	char path[64];
	temp_path(path, sizeof(path));
	struct tn_dev *w = tn_pcap_new(&f.dev, path, WALL);
	assert_non_null(w);
	assert_string_equal(w->name, "fake0");
	assert_int_equal(w->framing, TN_DEV_L2);
	assert_int_equal(w->mtu, 1500);
	assert_memory_equal(w->mac, f.dev.mac, 6);

	uint8_t fr[4][1600];
	uint32_t len[4];
	for (int i = 0; i < 4; i++)
		len[i] = udp_frame(fr[i], sizeof(fr[i]), (uint16_t)(41000 + i), 10 + 300 * (uint32_t)i);
	f.rxq[f.nrx++] = tn_pkt_from_bytes(mp, fr[0], len[0]);
	w->now = 5 * T_SEC + 123456789;
	struct tn_pkt *in[4];
	assert_int_equal(tn_dev_rx(w, mp, in, 4), 1);
	assert_int_equal(f.rx_now, w->now);
	assert_int_equal(w->stats.rx_packets, 1);
	tn_pkt_free(in[0]);

	/* three to send, one of them a three-segment chain; room for two */
	const uint32_t cuts[2] = {14, 300};
	struct tn_pkt *out[3] = {
		tn_pkt_from_bytes(mp, fr[1], len[1]),
		chain_of(mp, fr[2], len[2], cuts, 2),
		tn_pkt_from_bytes(mp, fr[3], len[3]),
	};
	f.tx_room = 2;
	w->now = 6 * T_SEC + 1;
	assert_int_equal(tn_dev_tx(w, out, 3), 2);
	assert_int_equal(f.tx_now, w->now);
	assert_int_equal(out[2]->refcnt, 1); /* still the caller's, as it was */
	f.tx_room = 1;
	w->now = 7 * T_SEC + 999999999;
	assert_int_equal(tn_dev_tx(w, &out[2], 1), 1);
	assert_int_equal(w->stats.tx_packets, 3);
	for (unsigned i = 0; i < f.ntx; i++)
		assert_int_equal(f.txq[i]->refcnt, 1); /* the extra reference is gone */

	tn_dev_destroy(w);
	assert_int_equal(f.destroyed, 1);
	assert_int_equal(tn_mempool_in_use(mp), 0);

	struct capture c;
	load(&c, path);
	check_global_header(&c, 1);
	check_record(&c, WALL + 5 * T_SEC + 123456789, fr[0], len[0]);
	check_record(&c, WALL + 6 * T_SEC + 1, fr[1], len[1]);
	check_record(&c, WALL + 6 * T_SEC + 1, fr[2], len[2]);
	check_record(&c, WALL + 7 * T_SEC + 999999999, fr[3], len[3]);
	assert_int_equal(c.off, c.len); /* nothing else, no duplicate */
	free(c.buf);
	tshark_check(path, len, 4);
	unlink(path);
	tn_mempool_free(mp);
}

/* L3: LINKTYPE_RAW, records start at the IP header. */
static void test_pcap_l3(void **state)
{
	(void)state;
	struct tn_mempool *mp = tn_mempool_new(16);
	struct fake f;
	fake_init(&f, TN_DEV_L3);
	char path[64];
	temp_path(path, sizeof(path));
	struct tn_dev *w = tn_pcap_new(&f.dev, path, 0);
	assert_non_null(w);
	uint8_t fr[2][1600];
	uint32_t len[2];
	for (int i = 0; i < 2; i++)
		len[i] = udp_frame(fr[i], sizeof(fr[i]), (uint16_t)(40053 + i), 100 + 900 * (uint32_t)i) - 14;
	f.rxq[f.nrx++] = tn_pkt_from_bytes(mp, fr[0] + 14, len[0]);
	w->now = 3 * T_SEC;
	struct tn_pkt *in;
	assert_int_equal(tn_dev_rx(w, mp, &in, 1), 1);
	tn_pkt_free(in);
	const uint32_t cut = 20;
	struct tn_pkt *p = chain_of(mp, fr[1] + 14, len[1], &cut, 1);
	w->now = 4 * T_SEC + 5;
	assert_int_equal(tn_dev_tx(w, &p, 1), 1);
	tn_dev_destroy(w);
	assert_int_equal(tn_mempool_in_use(mp), 0);

	struct capture c;
	load(&c, path);
	check_global_header(&c, 101);
	check_record(&c, 3 * T_SEC, fr[0] + 14, len[0]);
	check_record(&c, 4 * T_SEC + 5, fr[1] + 14, len[1]);
	assert_int_equal(c.off, c.len);
	free(c.buf);
	tshark_check(path, len, 2);
	unlink(path);
	tn_mempool_free(mp);
}

static long file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (long)st.st_size;
}

/* service, next_event and fd reach the lower device; the file is flushed
 * by service at most once per 100 ms of device time. */
static void test_pcap_forward_and_flush(void **state)
{
	(void)state;
	struct tn_mempool *mp = tn_mempool_new(8);
	struct fake f;
	fake_init(&f, TN_DEV_L2);
	char path[64];
	temp_path(path, sizeof(path));
	struct tn_dev *w = tn_pcap_new(&f.dev, path, WALL);
	assert_non_null(w);
	assert_int_equal(tn_dev_fd(w), 42);
	f.next_event = 77;
	assert_int_equal(tn_dev_next_event(w), 77);

	uint8_t fr[200];
	uint32_t len = udp_frame(fr, sizeof(fr), 9, 20);
	struct tn_pkt *p = tn_pkt_from_bytes(mp, fr, len);
	w->now = 10 * T_MS;
	assert_int_equal(tn_dev_tx(w, &p, 1), 1);
	w->ops->service(w, 60 * T_MS);
	assert_int_equal(f.service_now, 60 * T_MS);
	assert_int_equal(f.dev.now, 60 * T_MS);
	assert_int_equal(file_size(path), 0); /* still buffered */
	w->ops->service(w, 100 * T_MS);
	assert_int_equal(file_size(path), 24 + 16 + (long)len);

	p = tn_pkt_from_bytes(mp, fr, len);
	assert_int_equal(tn_dev_tx(w, &p, 1), 1);
	w->ops->service(w, 150 * T_MS);
	assert_int_equal(file_size(path), 24 + 16 + (long)len); /* 50 ms after the last flush */
	w->ops->service(w, 200 * T_MS);
	assert_int_equal(file_size(path), 24 + 2 * (16 + (long)len));
	tn_dev_destroy(w);
	unlink(path);
	assert_int_equal(tn_mempool_in_use(mp), 0);
	tn_mempool_free(mp);
}

/* A file that cannot be created: NULL, errno kept, lower still the caller's. */
static void test_pcap_open_fails(void **state)
{
	(void)state;
	struct fake f;
	fake_init(&f, TN_DEV_L2);
	errno = 0;
	assert_null(tn_pcap_new(&f.dev, "/nonexistent-dir/x.pcap", 0));
	assert_int_equal(errno, ENOENT);
	assert_int_equal(f.destroyed, 0);
	errno = 0;
	assert_null(tn_pcap_new(NULL, "/tmp/x.pcap", 0));
	assert_int_equal(errno, EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pcap_l2),
		cmocka_unit_test(test_pcap_l3),
		cmocka_unit_test(test_pcap_forward_and_flush),
		cmocka_unit_test(test_pcap_open_fails),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
