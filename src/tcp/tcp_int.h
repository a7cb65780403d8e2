/* TCP internals shared by tcp_conn.c, tcp_in.c and tcp_out.c. */
#ifndef TN_TCP_INT_H
#define TN_TCP_INT_H

#include "tcp/tcp.h"
#include "tcp/tcp_fastopen.h"
#include "wire/tcp.h"

struct tern_lent;

#define TN_TCP_MS 1000000ull
/* Per-packet TCP state of a received segment (in pkt->cb): queued data. */
struct tcp_cb {
	uint32_t seq, end; /* payload [seq, end) */
	bool fin;
};

#define TN_TCP_RTO_MIN (200 * TN_TCP_MS)     /* Linux's TCP_RTO_MIN */
#define TN_TCP_RTO_INIT (1000 * TN_TCP_MS)   /* RFC 6298 2.1 */
#define TN_TCP_RTO_FALLBACK (3000 * TN_TCP_MS) /* RFC 6298 5.7, Linux's TCP_TIMEOUT_FALLBACK */
#define TN_TCP_RTO_MAX (120000 * TN_TCP_MS)  /* Linux's TCP_RTO_MAX */
#define TN_TCP_DELACK_MIN (40 * TN_TCP_MS)   /* Linux's TCP_DELACK_MIN */
#define TN_TCP_TIMEWAIT (60000 * TN_TCP_MS)  /* Linux's TCP_TIMEWAIT_LEN */
#define TN_TCP_IW 10                         /* RFC 6928 */
#define TN_TCP_DELACK_MAX_MS 200             /* Linux's TCP_DELACK_MAX */
#define TN_TCP_ATO_MIN_MS 40
#define TN_TCP_MAX_QUICKACKS 16

/* A segment being processed: the parsed header and its addresses. */
struct tn_tcp_seg {
	struct tn_tcp_hdr h;
	uint32_t len;      /* payload bytes */
	uint32_t src, dst;
	uint8_t ecn;       /* the IP header's ECN field */
};

#define TN_ECN_ECT0 2
#define TN_ECN_CE 3

/* tcp_cookie.c: SYN cookies (RFC 4987 3.6, Linux's encoding). */
/* The cookie (our ISN) for a SYN; *mss is lowered to the encoded MSS. */
uint32_t tn_tcp_cookie_make(struct tn_stack *s, const struct tn_tcp_seg *syn, uint16_t *mss);
/* For the ACK completing a cookie handshake: the encoded MSS, or 0 if the
 * cookie is not one we made in the last two minutes. */
uint16_t tn_tcp_cookie_check(struct tn_stack *s, const struct tn_tcp_seg *ack);
/* The SYN-ACK's TSval carrying window scale and SACK-permitted in its low
 * six bits, so the ACK's TSecr brings them back. */
uint32_t tn_tcp_cookie_tsval(struct tn_stack *s, uint8_t peer_wscale, bool sack);
/* Decode what tn_tcp_cookie_tsval stored: peer wscale (0xff: none), SACK. */
void tn_tcp_cookie_ts_decode(uint32_t tsecr, uint8_t *peer_wscale, bool *sack);

/* tcp_conn.c */
struct tn_tcb *tn_tcb_new(struct tn_stack *s);
/* A TCB in SYN-SENT for the 4-tuple (lport 0: choose one), hashed, its SYN
 * not yet sent. */
int tn_tcp_connect_tcb(struct tn_stack *s, struct tn_tcb **out, uint32_t laddr, uint16_t lport, uint32_t raddr,
		       uint16_t rport);
void tn_tcp_hash(struct tn_stack *s, struct tn_tcb *t);
void tn_tcp_unhash(struct tn_stack *s, struct tn_tcb *t);
struct tn_tcb *tn_tcp_lookup(struct tn_stack *s, uint32_t laddr, uint16_t lport, uint32_t raddr,
			     uint16_t rport);
uint32_t tn_tcp_isn(struct tn_stack *s, uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport);
void tn_tcp_set_state(struct tn_stack *s, struct tn_tcb *t, int state);
/* Connection failed or was reset: record err for the socket, go CLOSED,
 * free the TCB if no socket holds it. */
void tn_tcp_abort(struct tn_stack *s, struct tn_tcb *t, int err);
/* False if tcp_max_tw_buckets is reached and t was freed instead. */
bool tn_tcp_enter_timewait(struct tn_stack *s, struct tn_tcb *t);
uint64_t tn_tcp_retries_budget(const struct tn_stack *s);
uint16_t tn_tcp_adv_mss(struct tn_stack *s, const struct tn_tcb *t);
/* A piece of the send buffer (tcp_sndbuf.c).  Bytes are appended once and
 * never rewritten while the chunk lives, so packets may point into it
 * (external segments, core/pkt.h): a chunk leaves the connection when all
 * its bytes are acknowledged and goes back to its stack's cache only when
 * the last packet pointing into it is freed. */
struct tn_tcp_chunk {
	struct tn_pkt_ext ext;          /* the connection's reference + one per segment */
	struct tn_tcp_chunk *next;      /* the connection's next chunk, or the cache's */
	struct tn_tcp_chunkcache *cache; /* where it goes back (its stack's) */
	/* The bytes: data[] below, or the application's (tern_send_lent): a
	 * lent chunk is a header only, full from the start (used == size),
	 * holding one of `lent`'s references until its own last one goes. */
	uint8_t *base;
	struct tern_lent *lent;
	uint32_t size;                  /* bytes of data room */
	uint32_t used;                  /* bytes appended */
	uint32_t pos;                   /* stream position of base[0], mod 2^32 */
	/* In the connection's first chunk only: the last chunk, and the one
	 * the last lookup found (segments go out in order: the next lookup
	 * starts there). */
	struct tn_tcp_chunk *tail, *cur;
	uint8_t data[] __attribute__((aligned(64)));
};
/* Copy len bytes at off (from snd_una) out of the send buffer. */
void tn_tcp_sndbuf_copy(const struct tn_tcb *t, uint32_t off, uint8_t *dst, uint32_t len);
/* Chain the len bytes at off after `head` as external segments (core/pkt.h),
 * none crossing an mss boundary (counted from off) or a chunk's end, so
 * GSO can put headers in front of each mss without copying; head->pkt_len
 * grows.  0, or -1 when the pool is dry (what was chained stays, freed with
 * head). */
int tn_tcp_sndbuf_chain(struct tn_stack *s, const struct tn_tcb *t, struct tn_pkt *head, uint32_t off,
			uint32_t len, uint32_t mss);
/* Drop acknowledged bytes; chunks fully acknowledged leave the connection,
 * all of them once it is empty. */
void tn_tcp_sndbuf_ack(struct tn_stack *s, struct tn_tcb *t, uint32_t bytes);
/* Let go of every chunk (snd.cap becomes the next first chunk's size). */
void tn_tcp_sndbuf_release(struct tn_stack *s, struct tn_tcb *t);
/* Free the cached chunks; later ones are freed as they come back. */
void tn_tcp_chunk_cache_free(struct tn_stack *s);
void tn_tcp_sndbuf_expand(struct tn_stack *s, struct tn_tcb *t);
/* Copy n bytes onto the end of the send buffer; 0 or -ENOMEM (nothing
 * taken, unless more than 64 chunks' worth, 4 MiB, was asked for). */
int tn_tcp_sndbuf_append(struct tn_stack *s, struct tn_tcb *t, const void *buf, uint32_t n);
/* Put the application's n bytes at buf on the end of the send buffer by
 * reference (a lent chunk taking one of l's references); 0 or -ENOMEM. */
int tn_tcp_sndbuf_lend(struct tn_stack *s, struct tn_tcb *t, const uint8_t *buf, uint32_t n, struct tern_lent *l);
static inline bool tn_tcp_fin_sent(const struct tn_tcb *t) { return t->fin_sent; }
static inline bool tn_tcp_fin_acked(const struct tn_tcb *t)
{
	return t->fin_sent && tn_seq_gt(t->snd_una, t->fin_seq);
}
/* Our SYN is unacknowledged: it holds SND.UNA, the send buffer starts
 * after it (Fast Open sends data before the handshake completes). */
static inline uint32_t tn_tcp_syn_unacked(const struct tn_tcb *t)
{
	return t->state == TN_TCP_SYN_SENT || t->state == TN_TCP_SYN_RECEIVED;
}
static inline bool tn_tcp_fastopen_child(const struct tn_tcb *t) { return t->tfo & TN_TFO_CHILD; }
/* Bytes in the send buffer not yet sent (our FIN, once out, is not data). */
static inline uint32_t tn_tcp_unsent(const struct tn_tcb *t)
{
	uint32_t sent = t->snd_max - t->snd_una - (tn_tcp_fin_sent(t) && !tn_tcp_fin_acked(t) ? 1 : 0) -
			tn_tcp_syn_unacked(t);
	return t->snd.len > sent ? t->snd.len - sent : 0;
}

/* tcp_in.c */
/* RFC 6298 2.2-2.3: fold an RTT measurement (ns) into srtt, rttvar, rto. */
void tn_tcp_rtt_sample(struct tn_tcb *t, uint64_t rtt_ns);
/* The RTT (ms) a segment's timestamp echo gives; false if it has none
 * or the echo is implausible. */
bool tn_tcp_ts_rtt_ms(const struct tn_stack *s, const struct tn_tcb *t, const struct tn_tcp_seg *g, uint32_t *ms);
/* Congestion control starts once the handshake has set MSS and cwnd. */
void tn_tcp_cc_start(struct tn_stack *s, struct tn_tcb *t);

/* tcp_recovery.c: the record queue, SACK scoreboard, RACK-TLP, PRR, undo */
struct tn_tcp_txrec *tn_txq_at(const struct tn_tcb *t, uint32_t i);
/* Record a segment about to be sent; NULL if out of memory. */
struct tn_tcp_txrec *tn_txq_push(struct tn_stack *s, struct tn_tcb *t, uint32_t seq, uint32_t end, bool fin);
void tn_txq_free(struct tn_tcb *t);
/* An acceptable ACK (SND.UNA <= SEG.ACK <= SND.MAX): scoreboard, loss
 * detection, recovery state, congestion window and timers.  `dup`: a
 * duplicate ACK as RFC 5681 defines it. */
void tn_tcp_ack_process(struct tn_stack *s, struct tn_tcb *t, const struct tn_tcp_seg *g, bool dup);
void tn_tcp_rearm(struct tn_stack *s, struct tn_tcb *t, uint64_t reo_wait, bool restart_rto);
void tn_tcp_enter_loss(struct tn_stack *s, struct tn_tcb *t);
/* Arm the tail-loss-probe timer in place of the RTO if RFC 8985 7.2
 * allows; false if it does not. */
bool tn_tcp_schedule_tlp(struct tn_stack *s, struct tn_tcb *t);
void tn_tcp_reo_fire(struct tn_stack *s, struct tn_tcb *t);
void tn_tcp_tlp_fire(struct tn_stack *s, struct tn_tcb *t);
struct tn_tcp_txrec *tn_tcp_next_lost(struct tn_tcb *t);
void tn_tcp_note_retransmit(struct tn_stack *s, struct tn_tcb *t, struct tn_tcp_txrec *r);
void tn_tcp_note_send(struct tn_tcb *t, uint32_t len);
void tn_tcp_check_app_limited(struct tn_tcb *t);
/* PRR's send quota for an ACK delivering `delivered` bytes (unit tests). */
uint32_t tn_tcp_prr_sndcnt_for_test(struct tn_tcb *t, uint32_t delivered);
static inline void tn_tcp_rtx_kind_reset(struct tn_tcb *t) { t->rtx_kind = TN_RTX_RTO; }

/* tcp_out.c */
/* Resend one record (in MSS pieces if the MSS shrank since). */
void tn_tcp_retransmit_rec(struct tn_stack *s, struct tn_tcb *t, struct tn_tcp_txrec *r);
/* One new segment regardless of cwnd (a tail loss probe), if the peer's
 * window allows. */
void tn_tcp_output_probe(struct tn_stack *s, struct tn_tcb *t);
void tn_tcp_pace_fire(void *ctx, struct tn_timer *tm);
uint32_t tn_tcp_ts_now(const struct tn_stack *s);
int tn_tcp_xmit(struct tn_stack *s, struct tn_tcb *t, uint32_t seq, uint32_t len, uint16_t flags);
/* Send h (seq, flags and options filled by the caller; ports, ACK number,
 * window and checksum filled here) with `len` bytes from the send buffer. */
int tn_tcp_xmit_hdr(struct tn_stack *s, struct tn_tcb *t, struct tn_tcp_hdr *h, uint32_t len);
void tn_tcp_syn_options(struct tn_stack *s, const struct tn_tcb *t, struct tn_tcp_opts *o, bool synack);
void tn_tcp_send_rst_for(struct tn_stack *s, uint32_t laddr, uint32_t raddr, const struct tn_tcp_hdr *in,
			 uint32_t seglen);
void tn_tcp_send_ack(struct tn_stack *s, struct tn_tcb *t);
void tn_tcp_ack_soon(struct tn_stack *s, struct tn_tcb *t, bool now);
void tn_tcp_arm_rtx(struct tn_stack *s, struct tn_tcb *t);
void tn_tcp_rtx_fire(void *ctx, struct tn_timer *tm);
void tn_tcp_delack_fire(void *ctx, struct tn_timer *tm);
void tn_tcp_keepalive_fire(void *ctx, struct tn_timer *tm);

#endif
