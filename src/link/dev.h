/* Network devices.  A driver supplies burst receive and transmit; the stack
 * owns the packets it receives (allocated from the stack's mempool) and
 * hands over the packets it transmits.  Decorators (pcap writer, fault
 * injector) are devices that wrap another device. */
#ifndef TN_DEV_H
#define TN_DEV_H

#include <stdbool.h>
#include <stdint.h>

#include "core/pkt.h"

#define TN_IFNAMSIZ 16
#define TN_DEV_BURST 32

struct tn_dev;
struct tn_stack;

enum tn_dev_framing {
	TN_DEV_L2 = 0, /* Ethernet frames */
	TN_DEV_L3 = 1, /* raw IP packets (TUN, packetdrill) */
};

struct tn_dev_ops {
	/* Receive up to n packets, allocated from mp.  Returns the count. */
	unsigned (*rx_burst)(struct tn_dev *d, struct tn_mempool *mp, struct tn_pkt **pkts, unsigned n);
	/* Transmit up to n packets.  Consumes the first k it returns; the
	 * caller keeps (and may retry or free) the rest. */
	unsigned (*tx_burst)(struct tn_dev *d, struct tn_pkt **pkts, unsigned n);
	/* Optional: do time-driven work (delayed frames of a fault injector). */
	void (*service)(struct tn_dev *d, uint64_t now);
	/* Optional: when service() next needs to run; UINT64_MAX if never. */
	uint64_t (*next_event)(struct tn_dev *d);
	/* Optional: a file descriptor to poll for readability, or -1. */
	int (*fd)(struct tn_dev *d);
	void (*destroy)(struct tn_dev *d);
};

struct tn_dev_stats {
	uint64_t rx_packets, rx_bytes, rx_dropped;
	uint64_t tx_packets, tx_bytes, tx_dropped;
};

struct tn_dev {
	const struct tn_dev_ops *ops;
	char name[TN_IFNAMSIZ];
	enum tn_dev_framing framing;
	uint32_t mtu;               /* L3 MTU */
	uint8_t mac[6];
	struct tn_dev_stats stats;
	void *priv;                 /* driver state */
	uint64_t now;               /* clock, set by the stack before each call */
	uint32_t features;          /* TN_DEV_F_* */
};

/* Carries packets whose L4 checksum is unfinished (TN_PKT_CSUM_PARTIAL) to
 * a receiver that then need not verify it: an in-memory link, as Linux's
 * loopback and veth do.  Decorators that alter or record frames (fault,
 * pcap) do not set it, so what they see and deliver is checksummed. */
#define TN_DEV_F_CSUM_OFFLOAD 1u
/* Takes a large TCP segment (gso_size set) whole and carries it as one
 * frame (a memlink, a TAP with a virtio-net header); without it the stack
 * cuts such segments up before the device (tn_gso_segment).  Clearing the
 * bit turns segmentation offload off, as `ethtool -K tso off` would. */
#define TN_DEV_F_TSO 2u

static inline unsigned tn_dev_rx(struct tn_dev *d, struct tn_mempool *mp, struct tn_pkt **pkts, unsigned n)
{
	return d->ops->rx_burst(d, mp, pkts, n);
}
static inline unsigned tn_dev_tx(struct tn_dev *d, struct tn_pkt **pkts, unsigned n)
{
	return d->ops->tx_burst(d, pkts, n);
}
static inline int tn_dev_fd(struct tn_dev *d) { return d->ops->fd ? d->ops->fd(d) : -1; }
static inline uint64_t tn_dev_next_event(struct tn_dev *d)
{
	return d->ops->next_event ? d->ops->next_event(d) : UINT64_MAX;
}
static inline void tn_dev_destroy(struct tn_dev *d)
{
	if (d && d->ops->destroy)
		d->ops->destroy(d);
}

/* ---- Drivers and decorators ---- */

/* An in-process link: two devices joined back to back.  Frames are copied
 * through a lock-free ring per direction (a wire), so the two ends may run
 * on different threads.  `ring_slots` is a power of two. */
int tn_memlink_pair(const char *name_a, const char *name_b, enum tn_dev_framing framing,
		    uint32_t mtu, uint32_t ring_slots, struct tn_dev **a, struct tn_dev **b);

/* Software RSS steering for one stack per core (docs/DESIGN.md "Per-core
 * stacks").  A group joins ncores cores; tn_steer_new wraps core i's own
 * receive queue (`lower`: an AF_PACKET fanout member, a memlink) in a
 * device that classifies every received frame by the Toeplitz hash over
 * its 4-tuple (2-tuple for fragments and other protocols; ICMP errors by
 * the flow they quote; echo, other ICMP, ARP requests and non-IP to core
 * 0; ARP replies to every core) and hands a frame that belongs to another
 * core over through a lock-free ring for that pair of cores.  Transmit
 * goes straight to `lower`.  The group outlives the cores' devices: a core
 * may stop (its device destroyed) and start again with a new one; while it
 * is stopped, frames for it fill its rings and are then dropped
 * (TN_STEER_RING_DROPS of the core handing them over). */
#define TN_STEER_MAX_CORES 64
#define TN_STEER_ALL (-2)
struct tn_steer_group;
enum tn_steer_stat {
	TN_STEER_LOCAL,       /* frames this core received for itself */
	TN_STEER_HANDED,      /* frames it received for another core and passed on */
	TN_STEER_RECEIVED,    /* frames other cores passed to it */
	TN_STEER_RING_DROPS,  /* frames lost: ring full, no memory */
	TN_STEER_NSTATS
};
/* ring_size: frames per ordered pair of cores, a power of two.  key: 40
 * bytes, NULL for the RSS specification's default. */
struct tn_steer_group *tn_steer_group_new(unsigned ncores, enum tn_dev_framing framing, const uint8_t *key,
					  uint32_t ring_size);
/* Only once no core has a device any more. */
void tn_steer_group_free(struct tn_steer_group *g);
unsigned tn_steer_ncores(const struct tn_steer_group *g);
const uint8_t *tn_steer_key(const struct tn_steer_group *g);
/* Core `core`'s device over `lower` (owned from now on).  EBUSY if that
 * core has one. */
struct tn_dev *tn_steer_new(struct tn_steer_group *g, unsigned core, struct tn_dev *lower);
/* The device a steering device wraps, NULL if d is not one. */
struct tn_dev *tn_steer_lower(const struct tn_dev *d);
/* Steer every TCP (proto 6) or UDP (17) flow whose local port is `port`
 * to `core`, whatever its hash, as `ethtool -N IF flow-type tcp4 dst-port
 * PORT action CORE` does on a NIC: for a service whose connections must
 * meet on one core (iperf3's control and data connections share one test).
 * Only before the cores run.  0, or -1 with errno (EINVAL, ENOSPC). */
#define TN_STEER_MAX_PINS 16
int tn_steer_pin_port(struct tn_steer_group *g, uint8_t proto, uint16_t port, unsigned core);
/* The core a frame (of the group's framing) belongs to, or TN_STEER_ALL. */
int tn_steer_classify(const struct tn_steer_group *g, const uint8_t *frame, uint32_t len);
/* Counters of one core (any thread may read them). */
void tn_steer_stats(const struct tn_steer_group *g, unsigned core, uint64_t out[TN_STEER_NSTATS]);
/* Sleeping: a core about to wait calls tn_steer_may_sleep (false: frames
 * are already waiting, do not sleep), then polls tn_steer_wake_fd with its
 * own descriptors, then calls tn_steer_woke. */
int tn_steer_wake_fd(const struct tn_steer_group *g, unsigned core);
bool tn_steer_may_sleep(struct tn_steer_group *g, unsigned core);
void tn_steer_woke(struct tn_steer_group *g, unsigned core);

/* Impairment applied to frames leaving the wrapped device; all random
 * choices come from the seed.  Probabilities are in [0,1]. */
struct tn_fault_cfg {
	uint64_t delay_ns;        /* fixed one-way delay */
	uint64_t jitter_ns;       /* uniform extra delay in [0, jitter] */
	double loss;
	double duplicate;
	double reorder;           /* probability a frame jumps the queue (no delay) */
	double corrupt;           /* probability one random bit is flipped */
	uint64_t rate_bps;        /* 0: unlimited; else serialisation at this rate */
	uint32_t limit;           /* frames held at most (default 1000) */
	uint64_t burst_at;        /* with burst_len: frames [burst_at, burst_at + burst_len) */
	uint32_t burst_len;       /* of those offered are lost (a burst loss) */
	uint64_t seed;
};
struct tn_fault_stats {
	uint64_t passed, lost, duplicated, reordered, corrupted, overflow;
};
/* Wrap `lower`: the new device owns it and destroys it with itself. */
struct tn_dev *tn_fault_new(struct tn_dev *lower, const struct tn_fault_cfg *cfg);
const struct tn_fault_stats *tn_fault_stats(const struct tn_dev *fault_dev);

/* Linux TAP (L2) or TUN (L3) device; creates the interface if missing and
 * brings it up.  NULL with errno set on failure. */
struct tn_dev *tn_tap_open(const char *ifname, enum tn_dev_framing framing, uint32_t mtu);
/* One more queue of a multi-queue TAP/TUN (IFF_MULTI_QUEUE): each call
 * opens one, created with the first; every queue of an interface has the
 * same MAC.  EINVAL if the interface exists without multi_queue. */
struct tn_dev *tn_tap_open_queue(const char *ifname, enum tn_dev_framing framing, uint32_t mtu);
/* True once the TAP/TUN interface was deleted under a running device. */
int tn_tap_link_gone(const struct tn_dev *d);

/* An existing Linux interface (a veth end, a NIC) through an AF_PACKET
 * socket: a memory-mapped TPACKET_V2 receive ring, sendmmsg to send.
 * tern takes the interface's MAC; give tern's address to no kernel
 * interface.  Zero fields take the defaults in af_packet.c. */
struct tn_af_packet_cfg {
	uint32_t mtu;             /* 0: the interface's, at most 2030 */
	bool promisc;             /* also frames for other MACs */
	bool no_vnet_hdr;         /* plain frames: no checksum offload, no TSO/GRO'd frames */
	uint32_t fanout_group;    /* 1..65535: share the interface by flow hash (PACKET_FANOUT_HASH) */
	/* With fanout_group, members that are rss_queues per-core stacks (> 1):
	 * spread by the Toeplitz hash under rss_key (NULL: the default key),
	 * as the software steering does, through a BPF program; member k (in
	 * joining order) takes queue k.  PACKET_FANOUT_HASH if it cannot load. */
	unsigned rss_queues;
	const uint8_t *rss_key;
	uint32_t rx_block_size;   /* bytes of receive slots, a multiple of the page size (default 256 KiB) */
	uint32_t rx_blocks;       /* default 32 */
	/* Receive moderation, as for AF_XDP (rxmod.h): 0 the default (50),
	 * UINT32_MAX off. */
	uint32_t rx_usecs;
	/* The kernel's own receive path on the interface (it gets every
	 * frame too): AUTO cuts it (tcx.c) when the kernel holds no address
	 * there but an IPv6 link-local one, DROP always, PASS never. */
	enum { TN_KERNEL_RX_AUTO, TN_KERNEL_RX_DROP, TN_KERNEL_RX_PASS } kernel_rx;
};
struct tn_dev *tn_af_packet_open(const char *ifname, const struct tn_af_packet_cfg *cfg);
/* Is the kernel's receive path on d's interface cut (see kernel_rx)? */
bool tn_af_packet_kernel_cut(const struct tn_dev *d);
/* Does d's fanout group spread by the RSS program (see rss_queues)? */
bool tn_af_packet_fanout_rss(const struct tn_dev *d);
/* True once the interface was deleted under a running device. */
int tn_af_packet_link_gone(const struct tn_dev *d);

/* One receive queue of an existing Linux interface through an AF_XDP
 * socket (af_xdp.c; libxdp loads the XDP program that steers the queue to
 * it, and removes it with the socket).  The UMEM is `pool`'s memory: give
 * the stack's pool (its packets are received into and sent from in
 * place).  Native XDP first, generic (SKB) if the driver has none;
 * zero-copy where the driver supports it, copy otherwise.  NULL with
 * errno set on failure. */
struct tn_af_xdp_cfg {
	uint32_t queue;           /* the interface's receive queue */
	uint32_t mtu;             /* 0: the interface's, at most 1902 */
	uint32_t ring;            /* slots in each ring, a power of two (default 2048) */
	bool skb_mode;            /* generic XDP only */
	bool drv_mode;            /* native XDP only: fail rather than fall back */
	/* Receive moderation, as ethtool -C rx-usecs with adaptive-rx: under
	 * a stream the owner is woken every rx_usecs, not per frame.  0: the
	 * default (50); UINT32_MAX: off, a wake-up per frame. */
	uint32_t rx_usecs;
	/* Large TCP segments leave whole by an AF_PACKET side socket (see
	 * af_xdp.c) unless this is set: then the stack cuts them up. */
	bool no_tso;
	/* The interface's XDP program (link/xdp_steer.h), shared by the
	 * devices of its queues and freed by the caller after them.  NULL:
	 * the device attaches one of its own that gives it every frame of
	 * its queue (skb_mode / drv_mode choose how it attaches). */
	struct tn_xdp_steer *steer;
};
struct tn_xdp_steer;
struct tn_af_xdp_stats {
	uint64_t tx_zc, tx_copied;  /* frames sent in place / copied into a UMEM packet first */
	uint64_t bad_desc, rx_bad;  /* addresses we did not give / frames too long or short */
	uint64_t rx_fill_empty, rx_ring_full, rx_invalid, tx_invalid; /* the kernel's XDP_STATISTICS */
	uint64_t rx_moderated;      /* frames taken while receive moderation held the socket out of poll */
	uint64_t tx_tso;            /* large segments sent whole by the AF_PACKET side socket */
	/* the interface's XDP program, all queues: frames redirected to a
	 * socket, passed to the kernel, tern's on a queue with no socket */
	uint64_t xdp_to_tern, xdp_to_kernel, xdp_no_socket;
};
struct tn_dev *tn_af_xdp_open(const char *ifname, const struct tn_af_xdp_cfg *cfg, struct tn_mempool *pool);
int tn_af_xdp_link_gone(const struct tn_dev *d);
/* "native, copy", "generic, zero-copy", ...; NULL if d is not AF_XDP. */
const char *tn_af_xdp_mode(const struct tn_dev *d);
const struct tn_af_xdp_stats *tn_af_xdp_stats(const struct tn_dev *d);
/* false when tern was built without libxdp/libbpf: tn_af_xdp_open then
 * fails with ENOTSUP (the Makefile builds the driver when pkg-config finds
 * them, so the rest of tern builds on a machine without them). */
bool tn_af_xdp_built(void);
/* How many queues the interface has that an AF_XDP socket can bind to
 * (the fewer of its receive and transmit queues), -1 if unknown.  One
 * socket per queue: --cores N takes N of them, one per core. */
int tn_af_xdp_queues(const char *ifname);

/* Wrap `lower` and write every received and sent frame to a pcap file
 * (nanosecond timestamps: dev->now + wall_offset_ns).  Owns `lower`. */
struct tn_dev *tn_pcap_new(struct tn_dev *lower, const char *path, uint64_t wall_offset_ns);

#endif
