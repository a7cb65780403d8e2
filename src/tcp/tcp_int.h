/* TCP internals shared by tcp_conn.c, tcp_in.c and tcp_out.c. */
#ifndef TN_TCP_INT_H
#define TN_TCP_INT_H

#include "tcp/tcp.h"
#include "wire/tcp.h"

#define TN_TCP_MS 1000000ull
#define TN_TCP_RTO_MIN (200 * TN_TCP_MS)     /* Linux's TCP_RTO_MIN */
#define TN_TCP_RTO_INIT (1000 * TN_TCP_MS)   /* RFC 6298 2.1 */
#define TN_TCP_RTO_MAX (120000 * TN_TCP_MS)  /* Linux's TCP_RTO_MAX */
#define TN_TCP_DELACK_MIN (40 * TN_TCP_MS)   /* Linux's TCP_DELACK_MIN */
#define TN_TCP_TIMEWAIT (60000 * TN_TCP_MS)  /* Linux's TCP_TIMEWAIT_LEN */
#define TN_TCP_IW 10                         /* RFC 6928 */

/* tcp_conn.c */
struct tn_tcb *tn_tcb_new(struct tn_stack *s);
void tn_tcp_hash(struct tn_stack *s, struct tn_tcb *t);
void tn_tcp_unhash(struct tn_stack *s, struct tn_tcb *t);
struct tn_tcb *tn_tcp_lookup(struct tn_stack *s, uint32_t laddr, uint16_t lport, uint32_t raddr,
			     uint16_t rport);
uint32_t tn_tcp_isn(struct tn_stack *s, uint32_t laddr, uint16_t lport, uint32_t raddr, uint16_t rport);
void tn_tcp_set_state(struct tn_stack *s, struct tn_tcb *t, int state);
/* Connection failed or was reset: record err for the socket, go CLOSED,
 * free the TCB if no socket holds it. */
void tn_tcp_abort(struct tn_stack *s, struct tn_tcb *t, int err);
void tn_tcp_enter_timewait(struct tn_stack *s, struct tn_tcb *t);
uint64_t tn_tcp_retries_budget(const struct tn_stack *s);
void tn_tcp_sndbuf_copy(const struct tn_tcb *t, uint32_t off, uint8_t *dst, uint32_t len);
void tn_tcp_sndbuf_ack(struct tn_tcb *t, uint32_t bytes);
static inline bool tn_tcp_fin_sent(const struct tn_tcb *t) { return t->fin_sent; }
static inline bool tn_tcp_fin_acked(const struct tn_tcb *t)
{
	return t->fin_sent && tn_seq_gt(t->snd_una, t->fin_seq);
}

/* tcp_out.c */
uint32_t tn_tcp_ts_now(const struct tn_stack *s);
int tn_tcp_xmit(struct tn_stack *s, struct tn_tcb *t, uint32_t seq, uint32_t len, uint16_t flags);
void tn_tcp_send_rst_for(struct tn_stack *s, uint32_t laddr, uint32_t raddr, const struct tn_tcp_hdr *in,
			 uint32_t seglen);
void tn_tcp_send_ack(struct tn_stack *s, struct tn_tcb *t);
void tn_tcp_ack_soon(struct tn_stack *s, struct tn_tcb *t, bool now);
void tn_tcp_arm_rtx(struct tn_stack *s, struct tn_tcb *t);
void tn_tcp_rtx_fire(void *ctx, struct tn_timer *tm);
void tn_tcp_delack_fire(void *ctx, struct tn_timer *tm);
void tn_tcp_keepalive_fire(void *ctx, struct tn_timer *tm);

#endif
