/* Helpers for tests: a stack on a virtual clock with a "wire" device whose
 * frames the test injects and inspects, and frame builders. */
#ifndef TERN_TESTUTIL_H
#define TERN_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/stack.h"
#include "link/dev.h"
#include "wire/wire.h"

#define T_SEC 1000000000ull
#define T_MS 1000000ull

/* A device the test drives: frames it queues with wire_inject come in on
 * the next poll; frames the stack sends collect in `sent`. */
struct wire_dev {
	struct tn_dev dev;
	struct tn_pkt_queue inbox;   /* to deliver to the stack */
	struct tn_pkt_queue sent;    /* what the stack transmitted */
	struct tn_mempool *pool;     /* the test's own buffers for injected frames */
};

struct tn_stack *t_stack_new(uint64_t seed);
/* Attach a wire device (L2 or L3) to s; returns it, ifindex in *ifindex. */
struct wire_dev *t_wire_attach(struct tn_stack *s, enum tn_dev_framing framing, int *ifindex);
void t_wire_inject(struct wire_dev *w, const uint8_t *frame, uint32_t len);
/* Pop the oldest transmitted frame into buf; length, or -1 if none. */
int t_wire_take(struct wire_dev *w, uint8_t *buf, uint32_t cap);
void t_wire_clear(struct wire_dev *w);
/* Poll s at now, advancing the clock. */
void t_run(struct tn_stack *s, uint64_t now);

/* Build an Ethernet + IPv4 frame around an L4 payload; returns its length.
 * ttl, id, frag_off as given; the IPv4 checksum is correct. */
uint32_t t_build_ip(uint8_t *buf, uint32_t cap, const uint8_t *dst_mac, const uint8_t *src_mac,
		    uint32_t src, uint32_t dst, uint8_t proto, uint8_t ttl, uint16_t id,
		    uint16_t frag_off, const uint8_t *l4, uint32_t l4len);
/* An ICMP echo request message (header + data) with a correct checksum. */
uint32_t t_build_echo(uint8_t *buf, uint16_t id, uint16_t seq, uint32_t datalen);
/* A UDP datagram with a correct checksum. */
uint32_t t_build_udp(uint8_t *buf, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
		     const uint8_t *data, uint32_t len);
uint32_t t_ip(const char *dotted);

/* One `tern iptables ...` command line (printf format; words split at
 * spaces) on s; what it prints goes to out (cap bytes), and is echoed to
 * stdout when it fails.  tn_ipt_run's result. */
int t_ipt(struct tn_stack *s, char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A UDP socket bound to `port` on any address (asserted). */
int t_udp_bound(struct tn_stack *s, uint16_t port);
/* Send the 5 bytes "hello" from fd to ip:port. */
ssize_t t_udp_hello(struct tn_stack *s, int fd, const char *ip, uint16_t port);

#endif
