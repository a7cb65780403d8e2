/* Batching in the data path: GSO cuts one large TCP segment (built once by
 * TCP, one route and neighbour lookup) into wire-sized segments at the
 * device, unless the device takes it whole (TN_DEV_F_TSO: memlink, TAP with
 * a virtio-net header); GRO merges consecutive segments of one flow from a
 * receive burst into one large segment before IP, so TCP input runs once
 * for many.  Both keep every byte and every header field a receiver could
 * tell apart, as Linux's tcp_gso_segment and tcp_gro_receive do. */
#ifndef TN_GSO_H
#define TN_GSO_H

#include <stdbool.h>
#include <stdint.h>

#include "core/pkt.h"

/* The largest IPv4 packet a large segment may be (IP's length field). */
#define TN_GSO_MAX_BYTES 65535u
/* The most segments one large segment stands for (Linux's default
 * gso_max_segs is larger; 64 KiB of 1448-byte segments is 45). */
#define TN_GSO_MAX_SEGS 64u

/* Cut `p` (an IPv4/TCP packet with gso_size set; data at the L2 header or,
 * on an L3 device, at the IP header; l3_off set) into a qnext-linked list of
 * segments of at most gso_size payload bytes, each with its own IP length,
 * identification and header checksum, sequence number and flags (PSH and
 * FIN on the last only, CWR on the first only), and its TCP checksum left
 * to tn_csum_finish (TN_PKT_CSUM_PARTIAL).  When TCP laid the payload out
 * one segment per buffer the headers are written in front of each buffer
 * and nothing is copied; otherwise segments are copied into new buffers
 * from mp.  Consumes p; returns NULL (and frees p) if it is not a
 * well-formed IPv4/TCP packet or buffers ran out. */
struct tn_pkt *tn_gso_segment(struct tn_mempool *mp, struct tn_pkt *p);

/* A receive burst's GRO state: the large segments being built, one per
 * flow seen in the burst (Linux's napi gro_list). */
#define TN_GRO_FLOWS 8
struct tn_gro {
	struct tn_pkt *held[TN_GRO_FLOWS];
	struct tn_pkt *tail[TN_GRO_FLOWS]; /* last buffer of held[i]'s chain */
	unsigned n;
};

/* Offer one received IPv4 packet (data at the IP header, l3_off set, IP
 * header already checked).  It is merged into the held segment of its flow
 * when it continues it exactly (next sequence number, same ACK, window,
 * options, TOS, TTL and DF; payload no larger than the first's; ACK with
 * at most PSH), held when it could start one, and otherwise appended to
 * `out` to go up at once, after any held segment of its flow (so a flow's
 * order is kept).  A segment whose TCP checksum is wrong is never merged;
 * merged and held ones are marked TN_PKT_CSUM_OK. */
void tn_gro_receive(struct tn_gro *g, struct tn_pkt *p, struct tn_pkt_queue *out);
/* Append every held segment to `out` (IP length and header checksum set),
 * leaving the state empty.  Called at the end of each receive burst. */
void tn_gro_flush(struct tn_gro *g, struct tn_pkt_queue *out);

#endif
