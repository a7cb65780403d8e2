/* Per-protocol connection trackers with Linux's semantics: TCP state and
 * window tracking (nf_conntrack_proto_tcp: the state table and Rooij's
 * window checks, "Real Stateful TCP Packet Filtering in IP Filter"), UDP
 * (unreplied, replied, stream), ICMP queries by id, and a generic tracker. */
#include <string.h>

#include "core/stack.h"
#include "filter/ct_int.h"
#include "wire/wire.h"

const char *const tn_ct_tcp_state_names[TN_CT_TCP_NSTATES] = {
	"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT",
	"CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2",
};

/* Segment kinds, by the flags that matter. */
enum { SEG_SYN, SEG_SYNACK, SEG_FIN, SEG_ACK, SEG_RST, SEG_NONE, SEG_KINDS };

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
#define F_ACK 0x10
#define F_URG 0x20

/* Table values beyond the states. */
#define IV TN_CT_TCP_NSTATES       /* invalid */
#define IG (TN_CT_TCP_NSTATES + 1) /* ignore: maybe we are out of sync */

enum {
	NO = TN_CT_TCP_NONE, SS = TN_CT_TCP_SYN_SENT, SR = TN_CT_TCP_SYN_RECV, ES = TN_CT_TCP_ESTABLISHED,
	FW = TN_CT_TCP_FIN_WAIT, CW = TN_CT_TCP_CLOSE_WAIT, LA = TN_CT_TCP_LAST_ACK, TW = TN_CT_TCP_TIME_WAIT,
	CL = TN_CT_TCP_CLOSE, S2 = TN_CT_TCP_SYN_SENT2,
};

/* next[dir][segment kind][state], as Linux's tcp_conntracks. */
static const uint8_t next_state[2][SEG_KINDS][TN_CT_TCP_NSTATES] = {
	{
		/* original:  NO  SS  SR  ES  FW  CW  LA  TW  CL  S2 */
		[SEG_SYN] = {SS, SS, IG, IG, IG, IG, IG, SS, SS, S2},
		[SEG_SYNACK] = {IV, IV, IG, IG, IG, IG, IG, IG, IG, SR},
		[SEG_FIN] = {IV, IV, FW, FW, LA, LA, LA, TW, CL, IV},
		[SEG_ACK] = {ES, IV, ES, ES, CW, CW, TW, TW, CL, IV},
		[SEG_RST] = {IV, CL, CL, CL, CL, CL, CL, CL, CL, CL},
		[SEG_NONE] = {IV, IV, IV, IV, IV, IV, IV, IV, IV, IV},
	},
	{
		/* reply:     NO  SS  SR  ES  FW  CW  LA  TW  CL  S2 */
		[SEG_SYN] = {IV, S2, IV, IV, IV, IV, IV, SS, IV, S2},
		[SEG_SYNACK] = {IV, SR, IG, IG, IG, IG, IG, IG, IG, SR},
		[SEG_FIN] = {IV, IV, FW, FW, LA, LA, LA, TW, CL, IV},
		[SEG_ACK] = {IV, IG, SR, ES, CW, CW, TW, TW, CL, IG},
		[SEG_RST] = {IV, CL, CL, CL, CL, CL, CL, CL, CL, CL},
		[SEG_NONE] = {IV, IV, IV, IV, IV, IV, IV, IV, IV, IV},
	},
};

/* The decoded segment. */
struct seg {
	uint32_t seq, ack, end, win;
	uint8_t flags, kind, doff;
	const uint8_t *opt;
	uint32_t optlen;
};

static inline bool before(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline bool after(uint32_t a, uint32_t b) { return (int32_t)(b - a) < 0; }

static void decode(const struct ct_pkt *k, struct seg *g)
{
	const uint8_t *th = k->l4;
	g->seq = tn_get32(th + 4);
	g->ack = tn_get32(th + 8);
	g->doff = (uint8_t)((th[12] >> 4) * 4);
	g->flags = th[13];
	g->win = tn_get16(th + 14);
	g->end = g->seq + (k->l4len - g->doff) + ((g->flags & F_SYN) ? 1 : 0) + ((g->flags & F_FIN) ? 1 : 0);
	g->opt = th + 20;
	g->optlen = g->doff - 20u;
	if (g->flags & F_RST)
		g->kind = SEG_RST;
	else if (g->flags & F_SYN)
		g->kind = (g->flags & F_ACK) ? SEG_SYNACK : SEG_SYN;
	else if (g->flags & F_FIN)
		g->kind = SEG_FIN;
	else if (g->flags & F_ACK)
		g->kind = SEG_ACK;
	else
		g->kind = SEG_NONE;
}

bool tn_ct_tcp_valid(const struct ct_pkt *k)
{
	if (k->l4avail < 20)
		return false;
	uint32_t doff = (uint32_t)(k->l4[12] >> 4) * 4;
	if (doff < 20 || doff > k->l4len || doff > k->l4avail)
		return false;
	/* Linux's valid combinations; PSH, ECE and CWR do not matter. */
	switch (k->l4[13] & (F_FIN | F_SYN | F_RST | F_ACK | F_URG)) {
	case F_SYN: case F_SYN | F_URG: case F_SYN | F_ACK:
	case F_RST: case F_RST | F_ACK:
	case F_FIN | F_ACK: case F_FIN | F_ACK | F_URG:
	case F_ACK: case F_ACK | F_URG:
		return true;
	default:
		return false;
	}
}

/* Window scale and SACK-permitted from a SYN's options (every read is
 * bounded by the option length). */
static void options(const struct seg *g, struct tn_ct_tcp_dir *d)
{
	d->td_scale = 0;
	d->flags = 0;
	const uint8_t *o = g->opt;
	uint32_t len = g->optlen;
	while (len > 0) {
		uint8_t kind = o[0];
		if (kind == 0)
			return;
		if (kind == 1) {
			o++, len--;
			continue;
		}
		if (len < 2 || o[1] < 2 || o[1] > len)
			return;
		if (kind == 4 && o[1] == 2)
			d->flags |= TN_CT_TCPF_SACK_PERM;
		else if (kind == 3 && o[1] == 3) {
			d->td_scale = o[2] > 14 ? 14 : o[2];
			d->flags |= TN_CT_TCPF_WINDOW_SCALE;
		}
		len -= o[1];
		o += o[1];
	}
}

/* The highest right edge of the SACK blocks, if above *sack. */
static void sack_edge(const struct seg *g, uint32_t *sack)
{
	const uint8_t *o = g->opt;
	uint32_t len = g->optlen;
	while (len > 0) {
		uint8_t kind = o[0];
		if (kind == 0)
			return;
		if (kind == 1) {
			o++, len--;
			continue;
		}
		if (len < 2 || o[1] < 2 || o[1] > len)
			return;
		if (kind == 5 && o[1] >= 10 && (o[1] - 2) % 8 == 0) {
			for (uint32_t i = 2; i + 8 <= o[1]; i += 8) {
				uint32_t right = tn_get32(o + i + 4);
				if (after(right, *sack))
					*sack = right;
			}
			return;
		}
		len -= o[1];
		o += o[1];
	}
}

static uint32_t max_ack_window(const struct tn_ct_tcp_dir *sender)
{
	return sender->td_maxwin > 66000 ? sender->td_maxwin : 66000;
}

bool tn_ct_tcp_new(struct tn_stack *s, struct tn_ct *e, const struct ct_pkt *k)
{
	struct seg g;
	decode(k, &g);
	uint8_t st = next_state[0][g.kind][TN_CT_TCP_NONE];
	if (st >= IV)
		return false;
	struct tn_ct_tcp *t = &e->u.tcp;
	memset(t, 0, sizeof(*t));
	struct tn_ct_tcp_dir *d = &t->seen[0];
	if (st == SS) {
		d->td_end = d->td_maxend = g.end;
		d->td_maxwin = g.win ? g.win : 1;
		options(&g, d);
	} else {
		if (!s->sysctl.nf_conntrack_tcp_loose)
			return false; /* no picking up connections in the middle */
		/* Picked up in the middle: its history is lost, so its window
		 * scale too; be liberal with both sides. */
		d->td_end = g.end;
		d->td_maxwin = g.win ? g.win : 1;
		d->td_maxend = g.end + d->td_maxwin;
		t->seen[0].flags = t->seen[1].flags = TN_CT_TCPF_SACK_PERM | TN_CT_TCPF_BE_LIBERAL;
	}
	t->last_index = SEG_NONE;
	e->state = TN_CT_TCP_NONE;
	return true;
}

static bool in_window(struct tn_stack *s, struct tn_ct *e, enum tn_ct_dir dir, struct seg *g)
{
	struct tn_ct_tcp *t = &e->u.tcp;
	struct tn_ct_tcp_dir *sender = &t->seen[dir], *receiver = &t->seen[!dir];
	uint32_t seq = g->seq, ack = g->ack, sack = g->ack, end = g->end, win = g->win;
	if (receiver->flags & TN_CT_TCPF_SACK_PERM)
		sack_edge(g, &sack);
	if (sender->td_maxwin == 0) {
		/* First packet this way. */
		if (g->flags & F_SYN) {
			/* SYN/ACK answering the SYN, or the reply side's SYN in a
			 * simultaneous open. */
			sender->td_end = sender->td_maxend = end;
			sender->td_maxwin = win ? win : 1;
			options(g, sender);
			/* RFC 7323: scaling only if both sides offer it. */
			if (!((sender->flags & TN_CT_TCPF_WINDOW_SCALE) && (receiver->flags & TN_CT_TCPF_WINDOW_SCALE)))
				sender->td_scale = receiver->td_scale = 0;
			if (!(g->flags & F_ACK))
				return true; /* simultaneous open */
		} else {
			/* The middle of a connection we picked up. */
			sender->td_end = end;
			win <<= sender->td_scale;
			sender->td_maxwin = win ? win : 1;
			sender->td_maxend = end + sender->td_maxwin;
			/* Nothing seen the other way yet: let the checks on the
			 * ACK pass until something is. */
			if (receiver->td_maxwin == 0)
				receiver->td_end = receiver->td_maxend = sack;
		}
	} else if (((e->state == TN_CT_TCP_SYN_SENT && dir == TN_CT_DIR_ORIGINAL) ||
		    (e->state == TN_CT_TCP_SYN_RECV && dir == TN_CT_DIR_REPLY)) &&
		   after(end, sender->td_end)) {
		/* A SYN (or SYN/ACK) again with a later ISN: the peer was
		 * restarted (RFC 793: a new incarnation uses higher numbers). */
		sender->td_end = sender->td_maxend = end;
		sender->td_maxwin = win ? win : 1;
		options(g, sender);
	}
	if (!(g->flags & F_ACK)) {
		ack = sack = receiver->td_end; /* no ACK: take it as right */
	} else if ((g->flags & (F_ACK | F_RST)) == (F_ACK | F_RST) && ack == 0) {
		ack = sack = receiver->td_end; /* stacks that send RST|ACK with ack 0 */
	}
	if (seq == end && (!(g->flags & F_RST) || (seq == 0 && e->state == TN_CT_TCP_SYN_SENT)))
		seq = end = sender->td_end; /* no data: only the ACK is checked */

	/* I: not beyond what the receiver allowed; II: not older than a window
	 * back; III: no ACK of data not yet sent; IV: no ACK older than a
	 * window (or 66000) back. */
	bool ok = before(seq, sender->td_maxend + 1) &&
		  after(end, sender->td_end - receiver->td_maxwin - 1) &&
		  before(sack, receiver->td_end + 1) &&
		  after(sack, receiver->td_end - max_ack_window(sender) - 1);
	if (!ok)
		return (sender->flags & TN_CT_TCPF_BE_LIBERAL) || s->sysctl.nf_conntrack_tcp_be_liberal;

	if (!(g->flags & F_SYN))
		win <<= sender->td_scale;
	uint32_t swin = win + (sack - ack);
	if (sender->td_maxwin < swin)
		sender->td_maxwin = swin;
	if (after(end, sender->td_end)) {
		sender->td_end = end;
		sender->flags |= TN_CT_TCPF_DATA_UNACK;
	}
	if (g->flags & F_ACK) {
		if (!(sender->flags & TN_CT_TCPF_MAXACK_SET)) {
			sender->td_maxack = ack;
			sender->flags |= TN_CT_TCPF_MAXACK_SET;
		} else if (after(ack, sender->td_maxack)) {
			sender->td_maxack = ack;
		}
	}
	if (receiver->td_maxwin != 0 && after(end, sender->td_maxend))
		receiver->td_maxwin += end - sender->td_maxend;
	if (after(sack + win, receiver->td_maxend - 1)) {
		receiver->td_maxend = sack + win;
		if (win == 0)
			receiver->td_maxend++;
	}
	if (ack == receiver->td_end)
		receiver->flags &= (uint8_t)~TN_CT_TCPF_DATA_UNACK;
	/* Retransmissions of the same ACK segment. */
	if (g->kind == SEG_ACK) {
		if (t->last_dir == dir && t->last_seq == seq && t->last_ack == ack && t->last_end == end &&
		    t->last_win == (uint16_t)win) {
			if (t->retrans < 255)
				t->retrans++;
		} else {
			t->last_dir = (uint8_t)dir;
			t->last_seq = seq;
			t->last_ack = ack;
			t->last_end = end;
			t->last_win = (uint16_t)win;
			t->retrans = 0;
		}
	}
	return true;
}

enum ct_verdict tn_ct_tcp_packet(struct tn_stack *s, struct tn_ct *e, struct ct_pkt *k)
{
	struct tn_ct_tcp *t = &e->u.tcp;
	struct seg g;
	decode(k, &g);
	enum tn_ct_dir dir = k->dir;
	uint8_t old = e->state < TN_CT_TCP_NSTATES ? e->state : TN_CT_TCP_NONE;
	uint8_t nw = next_state[dir][g.kind][old];
	bool skip_window = false;
	switch (nw) {
	case SS:
		if (old < TW)
			break;
		/* A SYN on a closed (or closing, or reset) connection: the
		 * client reopens it (RFC 1122 4.2.2.13).  Start afresh. */
		if (((t->seen[dir].flags | t->seen[!dir].flags) & TN_CT_TCPF_CLOSE_INIT) ||
		    (t->last_dir == dir && t->last_index == SEG_RST))
			return CT_REPEAT;
		/* fall through */
	case IG:
		/* Our entry may be out of step with the endpoints: let
		 * the packet through unchanged, remember it, and resync if the
		 * other side answers it. */
		if (g.kind == SEG_SYNACK && t->last_index == SEG_SYN && t->last_dir != dir && g.ack == t->last_end) {
			/* A SYN/ACK for a SYN we ignored: both ends agree a new
			 * connection is starting; so do we. */
			struct tn_ct_tcp_dir *o = &t->seen[t->last_dir];
			old = SS;
			nw = SR;
			o->td_end = o->td_maxend = t->last_end;
			o->td_maxwin = t->last_win ? t->last_win : 1;
			o->td_scale = t->last_wscale;
			o->flags = t->last_flags;
			memset(&t->seen[dir], 0, sizeof(t->seen[dir]));
			break;
		}
		t->last_index = g.kind;
		t->last_dir = (uint8_t)dir;
		t->last_seq = g.seq;
		t->last_end = g.end;
		t->last_win = (uint16_t)g.win;
		if (g.kind == SEG_SYN && dir == TN_CT_DIR_ORIGINAL) {
			struct tn_ct_tcp_dir tmp = {0};
			options(&g, &tmp);
			t->last_flags = tmp.flags & (TN_CT_TCPF_WINDOW_SCALE | TN_CT_TCPF_SACK_PERM);
			t->last_wscale = tmp.td_scale;
		}
		return CT_ACCEPT;
	case IV:
		return CT_INVALID;
	case CL:
		if (g.kind == SEG_RST && (t->seen[!dir].flags & TN_CT_TCPF_MAXACK_SET) &&
		    before(g.seq, t->seen[!dir].td_maxack))
			return CT_INVALID; /* a RST below what the other side acknowledged */
		if (g.kind == SEG_RST &&
		    (((e->status & TN_CT_S_SEEN_REPLY) && t->last_index == SEG_SYN) ||
		     (!(e->status & TN_CT_S_ASSURED) && t->last_index == SEG_ACK)) &&
		    g.ack == t->last_end)
			skip_window = true; /* the answer to a SYN or ACK we let through */
		break;
	default:
		break;
	}
	if (!skip_window && !in_window(s, e, dir, &g))
		return CT_INVALID;
	t->last_index = g.kind;
	t->last_dir = (uint8_t)dir;
	e->state = nw;
	if (old != nw && nw == FW)
		t->seen[dir].flags |= TN_CT_TCPF_CLOSE_INIT;
	const int *to = s->sysctl.nf_conntrack_tcp_timeout;
	uint32_t timeout = (uint32_t)to[nw];
	if (t->retrans >= s->sysctl.nf_conntrack_tcp_max_retrans && timeout > (uint32_t)to[TN_CT_TCP_TO_MAX_RETRANS])
		timeout = (uint32_t)to[TN_CT_TCP_TO_MAX_RETRANS];
	else if (((t->seen[0].flags | t->seen[1].flags) & TN_CT_TCPF_DATA_UNACK) &&
		 timeout > (uint32_t)to[TN_CT_TCP_TO_UNACK])
		timeout = (uint32_t)to[TN_CT_TCP_TO_UNACK];
	k->timeout = timeout ? timeout : 1;
	if (!(e->status & TN_CT_S_SEEN_REPLY)) {
		/* Only a RST came back: no connection to keep. */
		if (g.flags & F_RST)
			return CT_KILL;
	} else if (!(e->status & TN_CT_S_ASSURED) && (old == SR || old == ES) && nw == ES) {
		e->status |= TN_CT_S_ASSURED;
	}
	return CT_ACCEPT;
}

void tn_ct_udp_new(struct tn_stack *s, struct tn_ct *e)
{
	e->u.udp_stream_ts = (uint32_t)(ct_now(s) + 2 * TN_CT_HZ);
}

enum ct_verdict tn_ct_udp_packet(struct tn_stack *s, struct tn_ct *e, struct ct_pkt *k)
{
	uint32_t to = (uint32_t)s->sysctl.nf_conntrack_udp_timeout;
	/* Traffic both ways, still going two seconds after the first packet:
	 * a stream, and ASSURED (Linux 5.x). */
	if (e->status & TN_CT_S_SEEN_REPLY) {
		if ((int32_t)((uint32_t)ct_now(s) - e->u.udp_stream_ts) > 0) {
			to = (uint32_t)s->sysctl.nf_conntrack_udp_timeout_stream;
			e->status |= TN_CT_S_ASSURED;
		}
	}
	k->timeout = to ? to : 1;
	return CT_ACCEPT;
}

enum ct_verdict tn_ct_icmp_packet(struct tn_stack *s, struct tn_ct *e, struct ct_pkt *k)
{
	(void)e;
	uint32_t to = (uint32_t)s->sysctl.nf_conntrack_icmp_timeout;
	k->timeout = to ? to : 1;
	return CT_ACCEPT;
}

enum ct_verdict tn_ct_generic_packet(struct tn_stack *s, struct tn_ct *e, struct ct_pkt *k)
{
	(void)e;
	uint32_t to = (uint32_t)s->sysctl.nf_conntrack_generic_timeout;
	k->timeout = to ? to : 1;
	return CT_ACCEPT;
}
