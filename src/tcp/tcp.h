/* TCP (RFC 9293): connection blocks, tables, input, output and timers.
 *
 * A TCB exists without a socket while it waits in a listener's queues or
 * finishes closing after close() (an orphan); the socket layer points at
 * it while the application holds it.  Receive data stays in the packet
 * buffers it arrived in (an in-order queue and an out-of-order queue); send
 * data is copied once into a list of chunks allocated on first use, which
 * outgoing segments point into, so an idle connection holds no buffers. */
#ifndef TN_TCP_H
#define TN_TCP_H

#include <stdbool.h>
#include <stdint.h>

#include "core/pkt.h"
#include "core/timer.h"

struct tn_stack;
struct tn_sock;

enum tn_tcp_state {
	TN_TCP_CLOSED = 0,
	TN_TCP_LISTEN,
	TN_TCP_SYN_SENT,
	TN_TCP_SYN_RECEIVED,
	TN_TCP_ESTABLISHED,
	TN_TCP_FIN_WAIT_1,
	TN_TCP_FIN_WAIT_2,
	TN_TCP_CLOSE_WAIT,
	TN_TCP_CLOSING,
	TN_TCP_LAST_ACK,
	TN_TCP_TIME_WAIT,
};

/* Sequence-space comparisons, modulo 2^32. */
static inline bool tn_seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline bool tn_seq_le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }
static inline bool tn_seq_gt(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }
static inline bool tn_seq_ge(uint32_t a, uint32_t b) { return (int32_t)(a - b) >= 0; }

/* A segment sent and not yet cumulatively acknowledged: the unit the SACK
 * scoreboard (RFC 6675), RACK (RFC 8985) and the delivery-rate estimator
 * work on.  The bytes themselves stay in the send buffer. */
enum {
	TN_TXREC_SACKED = 1,       /* covered by a SACK block */
	TN_TXREC_LOST = 2,         /* judged lost: to be (or being) retransmitted */
	TN_TXREC_RETRANS = 4,      /* retransmitted, that copy still in flight */
	TN_TXREC_EVER_RETRANS = 8, /* retransmitted at least once (Karn) */
	TN_TXREC_FIN = 16,         /* the FIN's sequence number */
	TN_TXREC_APP_LIMITED = 32, /* sent while the application held the flow back */
	TN_TXREC_PSH = 64,         /* sent with PSH: a retransmission keeps it */
};
struct tn_tcp_txrec {
	uint32_t seq, end;
	uint64_t xmit_ns;          /* last (re)transmission */
	uint64_t first_tx_ns;      /* the connection's rate state when sent ... */
	uint64_t delivered_ns;
	uint64_t delivered;
	uint8_t flags;
};
/* The records, oldest first, in a ring that grows by doubling and is freed
 * when everything is acknowledged. */
struct tn_tcp_txq {
	struct tn_tcp_txrec *r;
	uint32_t head, count, cap; /* cap: a power of two */
};

/* Loss-recovery state, as Linux's icsk_ca_state. */
enum tn_tcp_ca_state {
	TN_CA_OPEN = 0,
	TN_CA_DISORDER,  /* SACKs or duplicate ACKs seen, nothing judged lost */
	TN_CA_CWR,       /* reducing the window for a loss a probe repaired (or ECN) */
	TN_CA_RECOVERY,  /* fast recovery (RFC 6675 with PRR) */
	TN_CA_LOSS,      /* after a retransmission timeout */
};

/* What rtx_timer is armed for while a connection is synchronized. */
enum tn_tcp_rtx_kind {
	TN_RTX_RTO = 0,  /* retransmission (or SYN, TIME-WAIT, FIN-WAIT-2) */
	TN_RTX_PERSIST,  /* zero-window probe */
	TN_RTX_TLP,      /* tail loss probe (RFC 8985 7) */
	TN_RTX_REO,      /* RACK reordering window (RFC 8985 6.2) */
};

struct tn_tcp_cc_ops;
struct tn_tfo;
#define TN_TCP_CC_PRIV_U64 16 /* inline room for a congestion control's state (CUBIC's 80 B) */

/* The send buffer: bytes from snd_una onward, in a list of chunks
 * (tcp_sndbuf.c, struct tn_tcp_chunk in tcp_int.h).  The list's tail and
 * its cursor live in the first chunk, so this is no larger than the ring
 * it replaced: a million idle connections pay nothing for them. */
struct tn_tcp_chunk;
struct tn_tcp_sndbuf {
	struct tn_tcp_chunk *buf; /* the first chunk (holding snd_una), NULL: none held */
	uint32_t cap;       /* bytes of the chunks held; with buf NULL, the first chunk's size */
	uint32_t start;     /* offset in the first chunk of the byte at snd_una */
	uint32_t len;       /* bytes held (sent-unacked plus unsent) */
};

struct tn_tcb {
	uint8_t state;
	uint8_t snd_wscale, rcv_wscale;
	bool ts_ok, sack_ok, nodelay;
	bool cork;            /* TCP_CORK: hold partial segments */
	bool rcvbuf_locked, sndbuf_locked; /* SO_RCVBUF/SO_SNDBUF set: no auto-tuning */
	bool reuseport;       /* SO_REUSEPORT (listeners) */
	uint8_t quick_acks;   /* ACKs still to send at once (Linux's quick-ACK mode) */
	uint16_t ato_ms;      /* delayed-ACK timeout, 40..200 ms */
	bool fin_queued;      /* the application closed its sending side */
	bool fin_rcvd;        /* the peer's FIN has been taken into rcv_nxt */
	bool fin_sent;        /* our FIN is in sequence space, at fin_seq */
	bool orphan;          /* closed by the application, finishing alone */
	uint32_t laddr, raddr;
	uint16_t lport, rport;

	/* send sequence space */
	uint32_t iss, snd_una, snd_nxt, snd_max, fin_seq;
	uint32_t snd_wnd, snd_wl1, snd_wl2, max_snd_wnd;
	uint16_t mss;         /* largest payload we send */
	uint16_t rcv_mss;     /* the peer's advertised MSS */
	/* receive sequence space */
	uint32_t irs, rcv_nxt, rcv_wup; /* rcv_wup: rcv_nxt at the last window we advertised */
	uint32_t rcv_adv;     /* right edge advertised */
	uint32_t ts_recent;
	uint32_t oow_ack_ms;  /* when we last answered an out-of-window segment (ms clock) */
	uint64_t ts_recent_at;

	/* RTT and retransmission (RFC 6298), congestion window (RFC 5681) */
	uint64_t srtt, rttvar, rto; /* ns */
	uint32_t rtt_seq;
	int error;                   /* pending socket error (errno) */
	uint64_t rtt_start;   /* 0: no sample in flight */
	uint8_t backoff, dupacks, syn_retries;
	uint32_t cwnd, ssthresh, recover;
	uint32_t cwnd_cnt;    /* bytes acked toward the next congestion-avoidance step */
	uint32_t sndbuf_max;
	uint64_t first_rtx_at; /* when the current retransmission run began */
	uint64_t min_rtt;     /* ns, lowest RTT seen (0: none yet) */
	uint64_t last_send;   /* ns: when data was last sent (slow start after idle) */
	uint64_t bytes_sent, bytes_retrans, bytes_received; /* tcp_info's counters */
	uint32_t total_retrans, dsack_dups, reord_events;
	uint32_t backlog;            /* listener: listen()'s backlog */
	uint64_t delivery_rate; /* bytes/s: the last valid rate sample */

	/* Loss recovery: scoreboard, RACK-TLP, PRR, undo */
	struct tn_tcp_txq txq;
	uint32_t sacked_out, lost_out, retrans_out; /* bytes in txq so marked */
	uint32_t high_sacked;       /* highest SACKed sequence (end) */
	uint32_t rtx_hint;          /* no lost record to resend below this seq */
	uint8_t ca_state;           /* enum tn_tcp_ca_state */
	uint8_t rtx_kind;           /* enum tn_tcp_rtx_kind */
	uint8_t reo_wnd_mult, reo_wnd_persist; /* RACK's reordering window steps */
	bool reord_seen;            /* the peer has shown us reordering */
	bool frto;                  /* F-RTO (RFC 5682) under way after an RTO */
	bool frto_new;              /* F-RTO step 2.b: send new data, not retransmissions */
	bool tlp_out, tlp_retrans;  /* a tail loss probe is unanswered (and resent data) */
	bool cwnd_limited;          /* the last send stopped at cwnd */
	bool ecn_ok;                /* ECN negotiated (RFC 3168) */
	bool ece_pending;           /* CE seen: our ACKs carry ECE until the peer's CWR */
	bool cwr_pending;           /* we reduced for an ECE: the next new data carries CWR */
	bool undo_valid;
	uint32_t tlp_high_seq;
	uint32_t undo_marker;       /* snd_una when the episode began */
	int32_t undo_retrans;       /* retransmissions not yet shown spurious by D-SACK */
	uint32_t retrans_stamp;     /* TS clock (ms) of the episode's first retransmission */
	uint32_t prior_cwnd, prior_ssthresh;
	uint32_t prr_delivered, prr_out, recover_fs; /* RFC 6937 */
	uint32_t rack_end_seq;
	uint32_t reo_round_seq;     /* RACK: one D-SACK step per round trip */
	uint64_t rack_xmit_ns, rack_rtt;
	/* delivery rate (draft-cheng-iccrg-delivery-rate-estimation) */
	uint64_t delivered, delivered_ns, first_tx_ns, app_limited;
	/* congestion control and pacing */
	const struct tn_tcp_cc_ops *cc;
	uint64_t cc_priv[TN_TCP_CC_PRIV_U64];
	void *cc_ext;                /* an algorithm's state when larger (BBR), else NULL */
	uint64_t pacing_rate;       /* bytes/s; 0: not paced */
	uint64_t max_pacing_rate;   /* SO_MAX_PACING_RATE; UINT64_MAX: none */
	uint64_t pace_next_ns;      /* the earliest the next paced segment may leave */
	struct tn_timer pace_timer;

	struct tn_tcp_sndbuf snd;
	struct tn_pkt_queue rcvq;  /* in order; bytes = payload bytes */
	struct tn_pkt *ooo;        /* out of order, sorted by seq, qnext-linked */
	uint32_t ooo_bytes;
	uint32_t sack_recent;      /* seq of the latest out-of-order arrival: SACK's first block */
	uint32_t dsack_start, dsack_end; /* a duplicate to report (RFC 2883), if dsack */
	bool dsack;
	bool keepalive;              /* SO_KEEPALIVE */
	uint8_t ka_probes;           /* unanswered keepalive probes */
	uint8_t probes_out;          /* unanswered zero-window probes */
	uint32_t rcvbuf_max;
	uint32_t unacked_segs;     /* full segments received since our last ACK */
	uint32_t last_data_ms;     /* when in-order data last arrived (ms clock) */
	/* receive-buffer auto-tuning (Linux's tcp_rcv_space_adjust) */
	uint32_t rcv_space;        /* bytes the application read in the best RTT so far */
	uint32_t rcv_copied;       /* bytes read since rcv_space_at */
	uint64_t rcv_space_at;

	struct tn_timer rtx_timer;   /* retransmit, SYN retry, persist, TIME-WAIT */
	struct tn_timer ka_timer;    /* keepalive */
	uint32_t ka_idle, ka_intvl, ka_cnt; /* s, s, count; 0: the sysctl */
	uint64_t last_rcv;           /* ns: last segment from the peer */
	struct tn_timer delack_timer;

	/* listener side */
	struct tn_tcb *parent;       /* the listener a child came from */
	struct tn_tcb *accept_head, *accept_tail;
	struct tn_tcb *accept_next;
	uint32_t accept_len, syn_len;
	uint64_t cookie_at;          /* when we last answered a SYN with a cookie */

	struct tn_sock *sk;
	struct tn_tcb *hnext;        /* connection or listener hash chain */
	struct tn_tcb *tsq_next;     /* waiting for room in the device queue */
	bool tsq_queued;
	uint8_t tfo;                 /* TCP Fast Open state: TN_TFO_* bits (tcp_fastopen.h) */
	uint16_t tfo_qlen, tfo_pending; /* listener: TFO children allowed, and under way */
};

#define TN_TCP_HASH 4096

/* Send-buffer chunks not in use (tcp_sndbuf.c): LIFO lists by size, 4
 * KiB doubling to 64 KiB, threaded through the chunks themselves, holding
 * at most TN_TCP_CHUNK_CACHE_BYTES (of data room) per stack.  asked[k] is
 * when (in chunk requests) a chunk of size k was last asked for: a full
 * cache makes room for a chunk in demand by freeing chunks of a size not
 * asked for since.  Once `closed` (the stack is going), chunks that
 * packets still held are freed as they come back. */
#define TN_TCP_CHUNK_MIN 4096u
#define TN_TCP_CHUNK_CLASSES 5
#define TN_TCP_CHUNK_MAX (TN_TCP_CHUNK_MIN << (TN_TCP_CHUNK_CLASSES - 1))
#define TN_TCP_CHUNK_CACHE_BYTES (4u << 20)
struct tn_tcp_chunkcache {
	struct tn_tcp_chunk *free[TN_TCP_CHUNK_CLASSES];
	uint64_t asked[TN_TCP_CHUNK_CLASSES];
	uint64_t requests;
	uint32_t bytes;
	bool closed;
};

struct tn_tcp_table {
	struct tn_tcb **conns;       /* by 4-tuple */
	uint32_t nconns;             /* buckets */
	uint32_t count;
	uint32_t *port_refs;         /* connections by local port: 0 means free at once */
	uint32_t tw_count;            /* connections in TIME-WAIT */
	uint32_t chal_second, chal_count; /* challenge ACKs sent in the current second */
	struct tn_tcb *listeners[256]; /* by local port */
	uint64_t hash_key;
	uint64_t isn_key[2];         /* RFC 6528 secret */
	uint64_t cookie_key[2];      /* SYN cookie secrets */
	uint32_t port_hint;          /* spreads successive ephemeral port searches */
	struct tn_tfo *tfo;          /* Fast Open keys and client cookie cache (tcp_fastopen.c) */
	struct tn_tcb *tsq_head;     /* connections held back by a full device queue */
	struct tn_tcp_chunkcache chunks;
};

void tn_tcp_init(struct tn_stack *s);
void tn_tcp_destroy(struct tn_stack *s);

/* Segment input: pkt->data at the TCP header, l3 metadata in pkt->cb
 * (struct tn_ip_cb).  Consumes pkt. */
void tn_tcp_input(struct tn_stack *s, struct tn_pkt *pkt);

/* Socket-side operations; 0 or -errno. */
int tn_tcp_listen(struct tn_stack *s, struct tn_tcb **out, uint32_t laddr, uint16_t lport,
		  uint32_t backlog);
/* lport 0: choose an ephemeral port for this 4-tuple (Linux's
 * __inet_hash_connect: a port may serve many destinations; a TIME-WAIT
 * holding the 4-tuple is taken over when tcp_tw_reuse allows). */
int tn_tcp_connect(struct tn_stack *s, struct tn_tcb **out, uint32_t laddr, uint16_t lport,
		   uint32_t raddr, uint16_t rport);
struct tn_tcb *tn_tcp_accept(struct tn_stack *s, struct tn_tcb *listener);
/* Queue bytes to send; returns bytes taken or -errno (-EAGAIN when full). */
long tn_tcp_send(struct tn_stack *s, struct tn_tcb *t, const void *buf, size_t len);
/* sendfile: up to len bytes of the host file fd from off, read straight
 * into the send buffer's free space; bytes taken, 0 at the file's end, or
 * -errno (-EAGAIN: the send buffer is full; pread's errors). */
long tn_tcp_send_file(struct tn_stack *s, struct tn_tcb *t, int fd, int64_t off, size_t len);
/* tern_send_lent: up to len bytes at buf by reference (one of l's);
 * bytes taken or -errno as tn_tcp_send. */
struct tern_lent;
long tn_tcp_send_lent(struct tn_stack *s, struct tn_tcb *t, const void *buf, size_t len, struct tern_lent *l);
/* Copy received bytes; 0 at end of stream, -EAGAIN when nothing yet. */
long tn_tcp_recv(struct tn_stack *s, struct tn_tcb *t, void *buf, size_t len, bool peek);
void tn_tcp_shutdown_wr(struct tn_stack *s, struct tn_tcb *t);
/* The application lets go: orderly close (FIN), or abort (RST) when unread
 * data remains or `abort` is set (SO_LINGER 0). */
void tn_tcp_close(struct tn_stack *s, struct tn_tcb *t, bool abort);
uint32_t tn_tcp_rcv_avail(const struct tn_tcb *t);
uint32_t tn_tcp_snd_space(const struct tn_tcb *t);
bool tn_tcp_port_in_use(struct tn_stack *s, uint32_t laddr, uint16_t lport);
struct tn_tcb *tn_tcp_lookup_listener(struct tn_stack *s, uint32_t laddr, uint16_t lport);
struct tn_tcb *tn_tcp_select_listener(struct tn_stack *s, uint32_t laddr, uint16_t lport, uint32_t raddr,
				      uint16_t rport);
const char *tn_tcp_state_name(int state);
/* (Re)start keepalive per t->keepalive and its settings. */
void tn_tcp_keepalive_update(struct tn_stack *s, struct tn_tcb *t);
/* Free a TCB now: off the tables, timers cancelled, buffers released (the
 * struct itself stays while a socket still points at it). */
void tn_tcp_destroy_tcb(struct tn_stack *s, struct tn_tcb *t);
/* TCP_QUICKACK: on, ACK at once for a while (and now, if one waits); off,
 * delay ACKs again. */
void tn_tcp_set_quickack(struct tn_stack *s, struct tn_tcb *t, bool on);
struct tern_tcp_info;
/* TCP_INFO in Linux's layout (t may be NULL: a socket with no connection). */
void tn_tcp_info(const struct tn_stack *s, const struct tn_tcb *t, struct tern_tcp_info *ti);
/* TCP Small Queues: resume connections that stopped because their
 * device queue was half full; returns segments they sent. */
unsigned tn_tcp_tsq_run(struct tn_stack *s);
/* Send whatever the windows now allow. */
void tn_tcp_output(struct tn_stack *s, struct tn_tcb *t);

#endif
