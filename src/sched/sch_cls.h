/* Classifiers (Linux's tc filters) attached to a classful qdisc: they map a
 * packet to one of its classes.  Kinds: u32 (matches on IP header fields and
 * ports), fw (the packet's netfilter mark), flow (a hash of the flow). */
#ifndef TN_SCH_CLS_H
#define TN_SCH_CLS_H

#include "sched/qdisc.h"

#define TN_QFILTER_MAX_KEYS 8

enum tn_qfilter_kind { TN_QFILTER_U32, TN_QFILTER_FW, TN_QFILTER_FLOW };

/* Fields the flow classifier hashes ("keys src,dst,proto,proto-src,proto-dst"). */
enum {
	TN_QFLOW_KEY_SRC = 1u << 0,
	TN_QFLOW_KEY_DST = 1u << 1,
	TN_QFLOW_KEY_PROTO = 1u << 2,
	TN_QFLOW_KEY_PROTO_SRC = 1u << 3,
	TN_QFLOW_KEY_PROTO_DST = 1u << 4,
};

/* One 32-bit match: (word at offset off from the IP header, or from the
 * transport header when `transport`) & mask == value. */
struct tn_qfilter_key {
	uint32_t mask, value;
	int32_t off;
	bool transport;
};

struct tn_qfilter {
	struct tn_qfilter *next;       /* sorted by prio */
	uint32_t prio;
	uint32_t handle;
	enum tn_qfilter_kind kind;
	uint32_t classid;              /* flowid / classid */
	uint8_t nkeys;
	struct tn_qfilter_key key[TN_QFILTER_MAX_KEYS];
	uint32_t fw_mask;              /* fw: mark & mask is the class minor, or == handle */
	uint32_t flow_divisor;         /* flow: classes baseclass .. baseclass+divisor-1 */
	uint32_t flow_keys;            /* flow: TN_QFLOW_KEY_* hashed */
	uint16_t protocol;             /* 0x0800 (protocol ip) or 0 (all) */
	uint64_t hits;
};

/* Parse tc filter words after "parent X:" ("protocol ip prio 1 u32 match ip
 * dport 80 0xffff flowid 1:10", "handle 6 fw classid 1:6", ...) and attach
 * the filter to q.  All or nothing; err names the bad word. */
int tn_qfilter_add(struct tn_qdisc *q, int argc, char **argv, struct tn_qerr *err);
/* Remove filters of priority prio (0: all). */
void tn_qfilter_del(struct tn_qdisc *q, uint32_t prio);
void tn_qfilter_flush(struct tn_qdisc *q);
/* The class the first matching filter gives, or 0 if none matches. */
uint32_t tn_qfilter_classify(struct tn_qdisc *q, const struct tn_pkt *p);
/* `tc filter show` lines for q's filters. */
int tn_qfilter_dump(const struct tn_qdisc *q, char *buf, size_t cap);

#endif
