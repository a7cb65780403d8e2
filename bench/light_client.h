/* A light TCP client: the far end of a raw-IP (TN_DEV_L3) memlink playing
 * many TCP clients against one tern server, with 8 bytes of state per
 * connection instead of a TCB.  It is a test harness, not a stack: it
 * speaks just enough TCP for the server to hold real connections — it
 * opens them (SYN, checks the SYN-ACK's acknowledgement, ACK), sends a few
 * bytes on request, checks what comes back is the echo of what it sent at
 * the right sequence numbers, acknowledges every segment that needs it
 * (data, keepalive probes, retransmissions, FIN) and closes with a FIN.
 *
 * Connection i is 4-tuple (addr0 + i / ports, LC_PORT_LO + i % ports) ->
 * (srv_addr, srv_port), ports being LC_NPORTS unless the caller sets
 * fewer, so the client side of the server's table spans many addresses and
 * the 65,535-port limit of one address does not bind.  Its ISN is a hash of i and a key, the server's ISN is learned
 * from the SYN-ACK, and the bytes each way are counted: that is all it
 * keeps.  What it never does: retransmit on a timer (the memlink loses
 * nothing the client sends; it holds frames back while the ring is full),
 * options beyond MSS and SACK-permitted, window management (it always
 * offers 65,535 and reads everything at once).
 *
 * Header-only (static functions) so that bench/c10m.c and the simulation
 * test tests/sim/sim_tcp_light.c share it without another library. */
#ifndef TN_BENCH_LIGHT_CLIENT_H
#define TN_BENCH_LIGHT_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/pkt.h"
#include "link/dev.h"
#include "wire/csum.h"
#include "wire/tcp.h"
#include "wire/wire.h"

#define LC_PORT_LO 1024
#define LC_NPORTS (65536 - LC_PORT_LO)
#define LC_MAX_BYTES 4095 /* per direction per connection: 12-bit counters */
#define LC_POOL 8192

enum lc_state { LC_FREE, LC_SYN_SENT, LC_OPEN };

/* Per connection: 8 bytes. */
struct lc_conn {
	uint32_t srv_isn;
	uint32_t sent : 12, rcvd : 12; /* payload bytes each way */
	uint32_t state : 2, fin_out : 1, fin_in : 1, rst_in : 1;
};
_Static_assert(sizeof(struct lc_conn) == 8, "the light client keeps 8 bytes per connection");

/* What the client saw.  Anything in the right-hand group is a fault of
 * the server (or of the harness): a bench or test requires it to be 0. */
struct lc_stats {
	uint64_t syn_out, ack_out, data_out, fin_out, frames_in;
	uint64_t established, data_in, dup_in, keepalive_probes, fin_in;
	uint64_t bad_frame, bad_tuple, bad_synack, bad_ack, bad_data, bad_seq, rst_in, nomem;
};

struct light_client {
	struct tn_dev *dev;       /* its end of the memlink (not attached to a stack) */
	struct tn_mempool *mp;    /* frames it builds and receives */
	struct lc_conn *conn;     /* by connection index */
	long n;
	uint32_t srv_addr, addr0; /* host order */
	uint32_t ports;           /* client ports per address (LC_NPORTS) */
	uint16_t srv_port;
	uint32_t key;             /* ISN generation */
	struct tn_pkt **out;      /* built, not yet taken by the memlink */
	unsigned nout, outcap;
	struct lc_stats st;
};

static inline uint32_t lc_mix(uint64_t x)
{
	x ^= x >> 33, x *= 0xff51afd7ed558ccdull, x ^= x >> 33, x *= 0xc4ceb9fe1a85ec53ull, x ^= x >> 33;
	return (uint32_t)x;
}

static inline uint32_t lc_isn(const struct light_client *lc, long i) { return lc_mix(((uint64_t)lc->key << 40) ^ (uint64_t)i); }
/* Payload byte k of connection i; the server echoes it, so byte k coming
 * back must be the same. */
static inline uint8_t lc_byte(long i, uint32_t k) { return (uint8_t)lc_mix((uint64_t)i * 4096 + k + 1); }
static inline uint32_t lc_addr(const struct light_client *lc, long i) { return lc->addr0 + (uint32_t)(i / lc->ports); }
static inline uint16_t lc_port(const struct light_client *lc, long i) { return (uint16_t)(LC_PORT_LO + i % lc->ports); }
static inline uint32_t lc_snd_nxt(const struct light_client *lc, long i)
{
	const struct lc_conn *c = &lc->conn[i];
	return lc_isn(lc, i) + 1 + c->sent + c->fin_out;
}
static inline uint32_t lc_rcv_nxt(const struct lc_conn *c) { return c->srv_isn + 1 + c->rcvd + c->fin_in; }

/* The connection a frame to (addr, port) is for, or -1. */
static inline long lc_index(const struct light_client *lc, uint32_t addr, uint16_t port)
{
	if (addr < lc->addr0 || port < LC_PORT_LO || port - LC_PORT_LO >= (long)lc->ports)
		return -1;
	long i = (long)(addr - lc->addr0) * lc->ports + (port - LC_PORT_LO);
	return i < lc->n ? i : -1;
}

/* conn is the caller's (it decides when to allocate and touch it). */
static inline int lc_init(struct light_client *lc, struct tn_dev *dev, struct lc_conn *conn, long n,
			  uint32_t srv_addr, uint16_t srv_port, uint32_t addr0)
{
	memset(lc, 0, sizeof(*lc));
	lc->dev = dev, lc->conn = conn, lc->n = n;
	lc->srv_addr = srv_addr, lc->srv_port = srv_port, lc->addr0 = addr0, lc->key = 1;
	lc->ports = LC_NPORTS;
	lc->mp = tn_mempool_new(LC_POOL);
	lc->outcap = 1024;
	lc->out = malloc(lc->outcap * sizeof(*lc->out));
	if (!lc->mp || !lc->out)
		return -1;
	memset(conn, 0, (size_t)n * sizeof(*conn));
	return 0;
}

static inline void lc_destroy(struct light_client *lc)
{
	for (unsigned k = 0; k < lc->nout; k++)
		tn_pkt_free(lc->out[k]);
	free(lc->out);
	tn_dev_destroy(lc->dev);
	tn_mempool_free(lc->mp);
}

static inline void lc_queue(struct light_client *lc, struct tn_pkt *p)
{
	if (lc->nout == lc->outcap) {
		struct tn_pkt **o = realloc(lc->out, 2 * lc->outcap * sizeof(*o));
		if (!o) {
			lc->st.nomem++;
			tn_pkt_free(p);
			return;
		}
		lc->out = o, lc->outcap *= 2;
	}
	lc->out[lc->nout++] = p;
}

/* Build one segment of connection i with a real TCP checksum (the server
 * verifies it: the frame is not marked checksum-partial). */
static inline void lc_emit(struct light_client *lc, long i, uint32_t seq, uint16_t flags, const uint8_t *data,
			   uint32_t len)
{
	struct tn_pkt *p = tn_pkt_alloc(lc->mp);
	if (!p) {
		lc->st.nomem++;
		return;
	}
	struct tn_tcp_hdr th = {.sport = lc_port(lc, i), .dport = lc->srv_port, .seq = seq, .flags = flags, .win = 65535};
	if (flags & TN_TCP_SYN)
		th.opt.has_mss = true, th.opt.mss = 1460, th.opt.sack_ok = true;
	else
		th.ack = lc_rcv_nxt(&lc->conn[i]);
	uint32_t tlen = (uint32_t)(TN_TCP_HLEN + tn_tcp_opts_len(&th.opt)) + len;
	struct tn_ipv4_hdr ih = {.tot_len = (uint16_t)(TN_IPV4_HLEN + tlen), .frag_off = 0x4000, .ttl = 64,
				 .proto = 6, .src = lc_addr(lc, i), .dst = lc->srv_addr};
	uint8_t *ip = tn_pkt_put(p, ih.tot_len);
	tn_ipv4_emit(&ih, ip, TN_IPV4_HLEN);
	tn_tcp_emit(&th, ip + TN_IPV4_HLEN, tlen - len);
	if (len) /* data is NULL on a bare segment */
		memcpy(ip + ih.tot_len - len, data, len);
	uint32_t sum = tn_csum_pseudo4(ih.src, ih.dst, 6, tlen);
	tn_put16(ip + TN_IPV4_HLEN + 16, tn_csum_fold(tn_csum_partial(ip + TN_IPV4_HLEN, tlen, sum)));
	lc_queue(lc, p);
}

static inline void lc_ack(struct light_client *lc, long i)
{
	lc_emit(lc, i, lc_snd_nxt(lc, i), TN_TCP_ACK, NULL, 0);
	lc->st.ack_out++;
}

/* Hand what is built to the memlink; what does not fit waits. */
static inline void lc_flush(struct light_client *lc)
{
	unsigned k = lc->nout ? tn_dev_tx(lc->dev, lc->out, lc->nout) : 0;
	memmove(lc->out, lc->out + k, (lc->nout - k) * sizeof(*lc->out));
	lc->nout -= k;
}

/* ---- what the harness asks for ---- */

static inline void lc_connect(struct light_client *lc, long i)
{
	struct lc_conn *c = &lc->conn[i];
	*c = (struct lc_conn){.state = LC_SYN_SENT};
	lc_emit(lc, i, lc_isn(lc, i), TN_TCP_SYN, NULL, 0);
	lc->st.syn_out++;
}

/* Send the next len bytes of connection i's stream; false if it is not
 * open or would pass LC_MAX_BYTES. */
static inline bool lc_send(struct light_client *lc, long i, uint32_t len)
{
	struct lc_conn *c = &lc->conn[i];
	uint8_t buf[64];
	if (c->state != LC_OPEN || c->fin_out || len > sizeof(buf) || (uint32_t)c->sent + len > LC_MAX_BYTES)
		return false;
	for (uint32_t k = 0; k < len; k++)
		buf[k] = lc_byte(i, (uint32_t)c->sent + k);
	lc_emit(lc, i, lc_snd_nxt(lc, i), TN_TCP_ACK | TN_TCP_PSH, buf, len);
	c->sent += len;
	lc->st.data_out += len;
	return true;
}

static inline void lc_close(struct light_client *lc, long i)
{
	struct lc_conn *c = &lc->conn[i];
	if (c->state != LC_OPEN || c->fin_out)
		return;
	lc_emit(lc, i, lc_snd_nxt(lc, i), TN_TCP_FIN | TN_TCP_ACK, NULL, 0);
	c->fin_out = 1;
	lc->st.fin_out++;
}

/* The SYN again, for a connection still waiting for its SYN-ACK. */
static inline void lc_resend_syn(struct light_client *lc, long i)
{
	if (lc->conn[i].state != LC_SYN_SENT)
		return;
	lc_emit(lc, i, lc_isn(lc, i), TN_TCP_SYN, NULL, 0);
	lc->st.syn_out++;
}

static inline bool lc_open(const struct light_client *lc, long i) { return lc->conn[i].state == LC_OPEN; }
static inline bool lc_echoed(const struct light_client *lc, long i) { return lc->conn[i].rcvd == lc->conn[i].sent; }
/* Both FINs exchanged (the server's acknowledged by us). */
static inline bool lc_closed(const struct light_client *lc, long i) { return lc->conn[i].fin_out && lc->conn[i].fin_in; }

/* ---- what the server sends ---- */

static inline void lc_synack(struct light_client *lc, long i, const struct tn_tcp_hdr *th)
{
	struct lc_conn *c = &lc->conn[i];
	if (th->flags != (TN_TCP_SYN | TN_TCP_ACK) || th->ack != lc_isn(lc, i) + 1) {
		lc->st.bad_synack++;
		return;
	}
	c->srv_isn = th->seq;
	c->state = LC_OPEN;
	lc->st.established++;
	lc_ack(lc, i);
}

/* The payload must be the next bytes of the stream and equal what was
 * sent at the same offsets (an echo server). */
static inline void lc_data(struct light_client *lc, long i, const uint8_t *d, uint32_t len)
{
	struct lc_conn *c = &lc->conn[i];
	if ((uint32_t)c->rcvd + len > (uint32_t)c->sent) {
		lc->st.bad_data++;
		return;
	}
	for (uint32_t k = 0; k < len; k++)
		if (d[k] != lc_byte(i, (uint32_t)c->rcvd + k)) {
			lc->st.bad_data++;
			return;
		}
	c->rcvd += len;
	lc->st.data_in += len;
}

/* A segment on an open connection; every one that is not a bare ACK of
 * what we sent draws an ACK, as any TCP would answer it. */
static inline void lc_segment(struct light_client *lc, long i, const struct tn_tcp_hdr *th, const uint8_t *d,
			      uint32_t len)
{
	struct lc_conn *c = &lc->conn[i];
	uint32_t rcv_nxt = lc_rcv_nxt(c), una = lc_isn(lc, i) + 1;
	if (th->flags & TN_TCP_SYN) { /* a resent SYN-ACK: our ACK was lost */
		lc->st.dup_in++;
		lc_ack(lc, i);
		return;
	}
	if (!(th->flags & TN_TCP_ACK) || th->ack - una > lc_snd_nxt(lc, i) - una)
		lc->st.bad_ack++;
	if (len == 0 && !(th->flags & TN_TCP_FIN)) {
		if (th->seq == rcv_nxt - 1) { /* keepalive: an old sequence number */
			lc->st.keepalive_probes++;
			lc_ack(lc, i);
		} else if (th->seq != rcv_nxt) {
			lc->st.bad_seq++;
		}
		return;
	}
	if (th->seq != rcv_nxt) {
		if (th->seq - (c->srv_isn + 1) < rcv_nxt - (c->srv_isn + 1))
			lc->st.dup_in++; /* old: a retransmission */
		else
			lc->st.bad_seq++; /* a hole: nothing was lost on the way */
		lc_ack(lc, i);
		return;
	}
	if (len)
		lc_data(lc, i, d, len);
	if ((th->flags & TN_TCP_FIN) && !c->fin_in) {
		c->fin_in = 1;
		lc->st.fin_in++;
	}
	lc_ack(lc, i);
}

static inline void lc_input(struct light_client *lc, struct tn_pkt *p)
{
	struct tn_ipv4_hdr ih;
	struct tn_tcp_hdr th;
	lc->st.frames_in++;
	int ihl = p->next ? -1 : tn_ipv4_parse(p->data, p->len, &ih);
	if (ihl < 0 || ih.proto != 6 || ih.src != lc->srv_addr || tn_ipv4_is_fragment(&ih)) {
		lc->st.bad_frame++;
		return;
	}
	uint32_t tlen = ih.tot_len - (uint32_t)ihl;
	const uint8_t *tcp = p->data + ihl;
	bool csum_ok = (p->flags & TN_PKT_CSUM_PARTIAL) ||
		       tn_csum_fold(tn_csum_partial(tcp, tlen, tn_csum_pseudo4(ih.src, ih.dst, 6, tlen))) == 0;
	int doff = csum_ok ? tn_tcp_parse(tcp, tlen, &th) : -1;
	if (doff < 0) {
		lc->st.bad_frame++;
		return;
	}
	long i = lc_index(lc, ih.dst, th.dport);
	if (i < 0 || th.sport != lc->srv_port || lc->conn[i].state == LC_FREE) {
		lc->st.bad_tuple++;
		return;
	}
	if (th.flags & TN_TCP_RST) {
		lc->st.rst_in++;
		lc->conn[i].rst_in = 1;
	} else if (lc->conn[i].state == LC_SYN_SENT) {
		lc_synack(lc, i, &th);
	} else {
		lc_segment(lc, i, &th, tcp + doff, tlen - (uint32_t)doff);
	}
}

/* One round: send what waits, then take and answer what the server sent,
 * as long as the answers can go out.  Returns frames received. */
static inline unsigned lc_poll(struct light_client *lc)
{
	struct tn_pkt *in[TN_DEV_BURST];
	unsigned total = 0, got;
	lc_flush(lc);
	while (lc->nout == 0 && (got = tn_dev_rx(lc->dev, lc->mp, in, TN_DEV_BURST)) > 0) {
		for (unsigned k = 0; k < got; k++) {
			lc_input(lc, in[k]);
			tn_pkt_free(in[k]);
		}
		total += got;
		lc_flush(lc);
	}
	return total;
}

/* Faults seen: the sum a bench or test requires to be 0. */
static inline uint64_t lc_faults(const struct light_client *lc)
{
	const struct lc_stats *s = &lc->st;
	return s->bad_frame + s->bad_tuple + s->bad_synack + s->bad_ack + s->bad_data + s->bad_seq + s->rst_in +
	       s->nomem;
}

#endif
