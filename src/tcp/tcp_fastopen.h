/* TCP Fast Open (RFC 7413) as Linux does it: keyed cookies for the
 * server side, a per-stack cookie cache for the client side, and the hooks
 * tcp_in.c, tcp_conn.c and tcp_out.c call (tcp_fastopen.c). */
#ifndef TN_TCP_FASTOPEN_H
#define TN_TCP_FASTOPEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tn_stack;
struct tn_tcb;
struct tn_tcp_seg;
struct tn_tcp_opts;
struct tn_pkt;

/* net.ipv4.tcp_fastopen bits (Linux's TFO_*). */
#define TN_TFO_CLIENT_ENABLE 0x1
#define TN_TFO_SERVER_ENABLE 0x2
#define TN_TFO_CLIENT_NO_COOKIE 0x4     /* data in the SYN without a cookie */
#define TN_TFO_SERVER_COOKIE_NOT_REQD 0x200 /* accept SYN data without a cookie */
#define TN_TFO_SERVER_WO_SOCKOPT1 0x400 /* every listener, qlen = backlog */

#define TN_TFO_COOKIE_LEN 8
#define TN_TFO_CACHE 128                /* client cookie cache entries per stack */

/* struct tn_tcb's tfo bits. */
enum {
	TN_TFO_SYN_OPT = 1,     /* client: the first SYN carries the option (cookie or request) */
	TN_TFO_SYN_DATA = 2,    /* client: the first SYN carried data */
	TN_TFO_DEFER = 4,       /* client: TCP_FASTOPEN_CONNECT, SYN waits for the first write */
	TN_TFO_CHILD = 8,       /* server: a TFO child before the final ACK, on parent's tfo_pending */
	TN_TFO_SEND_COOKIE = 16,/* server: the SYN-ACK carries a cookie */
};

/* net.ipv4.tcp_fastopen_key: "xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx" (each
 * group 1 to 8 hex digits, the key's four little-endian 32-bit words, as
 * Linux prints them), optionally ",BACKUP" in the same form.  Returns the
 * keys parsed (1 or 2), or -1. */
int tn_tcp_fastopen_key_parse(const char *s, uint8_t keys[2][16]);
void tn_tcp_fastopen_key_format(const uint8_t keys[][16], int n, char *buf, size_t cap);
/* The cookie for a client and server address under key (SipHash-2-4 of
 * the two addresses in network order, as Linux's IPv4 cookie). */
void tn_tcp_fastopen_cookie(const uint8_t key[16], uint32_t client, uint32_t server,
			    uint8_t out[TN_TFO_COOKIE_LEN]);

/* Stack lifetime: the default key from the stack's randomness; the cache. */
void tn_tcp_fastopen_init(struct tn_stack *s);
void tn_tcp_fastopen_free(struct tn_stack *s);

/* ---- client ---- */
/* Open a connection the Fast Open way: with a usable cookie (or in
 * no-cookie mode) the SYN carries up to a segment of data (defer: or
 * waits for the first write); without one it asks for a cookie.  Returns
 * the bytes the SYN took (0: none, the handshake is under way) or -errno;
 * *deferred tells a deferred connect. */
long tn_tcp_fastopen_connect(struct tn_stack *s, struct tn_tcb **out, uint32_t laddr, uint16_t lport,
			     uint32_t raddr, uint16_t rport, const void *data, size_t len, bool defer,
			     bool *deferred);
/* The first write on a deferred connect: data into the SYN.  Bytes taken. */
long tn_tcp_fastopen_defer_send(struct tn_stack *s, struct tn_tcb *t, const void *data, size_t len);
/* The SYN-ACK in SYN-SENT, after snd_una = ack: cookie into the cache, the
 * SYN's data acknowledged or set to go again. */
void tn_tcp_fastopen_synack(struct tn_stack *s, struct tn_tcb *t, const struct tn_tcp_seg *g);
/* The SYN timed out: a SYN that carried data marks its destination. */
void tn_tcp_fastopen_syn_timeout(struct tn_stack *s, struct tn_tcb *t);

/* ---- server ---- */
/* TCP_FASTOPEN on a listener (qlen), or listen() under 0x400. */
void tn_tcp_fastopen_listen(struct tn_stack *s, struct tn_tcb *l, uint32_t qlen);
/* A SYN the listener made child c for (hashed, SYN-ACK not yet sent):
 * a cookie request, a cookie to check, data to take.  May take *pkt. */
void tn_tcp_fastopen_passive(struct tn_stack *s, struct tn_tcb *l, struct tn_tcb *c, const struct tn_tcp_seg *g,
			     struct tn_pkt **pkt);
/* The final ACK of a TFO child: off the listener's TFO queue.  True if c
 * was one (it is already in, or out of, the accept queue). */
bool tn_tcp_fastopen_child_done(struct tn_tcb *c);
/* A TFO child leaving its listener (destroyed): true if it was one. */
bool tn_tcp_fastopen_unlink(struct tn_tcb *c);
/* A listener closing: its accepted TFO children let go of it. */
void tn_tcp_fastopen_release_children(struct tn_stack *s, struct tn_tcb *l);

/* ---- both ---- */
/* The TFO option of a SYN (client) or SYN-ACK (server), if any. */
void tn_tcp_fastopen_syn_option(struct tn_stack *s, const struct tn_tcb *t, struct tn_tcp_opts *o, bool synack);

#endif
