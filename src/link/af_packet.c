/* AF_PACKET driver: any Linux interface (a veth end, a NIC) through a
 * packet socket with memory-mapped rings.
 *
 * Receive: a TPACKET_V2 ring of MTU-sized slots, each with its own status:
 * the kernel fills a slot and wakes us, we copy the frame into mempool
 * buffers (the ring is the kernel's; one copy) and give the slot back.  A
 * frame too large for a slot (a veth hands its peer's 64 KiB TSO/GSO
 * segments over whole) is queued to the socket whole as well
 * (PACKET_COPY_THRESH) and its slot marked TP_STATUS_COPY: we take it with
 * recvmsg, in ring order.  Not TPACKET_V3: a V3 block reaches us only when
 * full or when its retire timer fires (1 ms at least, a jiffy here), so a
 * lone frame waited up to that (flood ping averaged 1 ms, connection-per-
 * request HTTP ran at half nginx's rate).  The batching V3 gave under a
 * stream comes from receive moderation instead (rxmod.h), as for AF_XDP.
 *
 * Transmit: a burst is one sendmmsg, each frame a message whose iovecs
 * are its virtio-net header and its buffers, so the kernel's copy is the
 * only one (see afp_tx for why not a TX ring).  PACKET_QDISC_BYPASS sends
 * straight to the driver.
 *
 * Offloads: with PACKET_VNET_HDR each frame either way carries a
 * virtio-net header (vnet.c, shared with the TAP driver), so frames Linux
 * sends us as large segments (veth passes TSO/GSO skbs) arrive whole with
 * their segment size and partial checksum, and we send large segments
 * (TN_DEV_F_TSO, up to 64 KiB of IP) for the kernel to cut up.  Without it
 * (cfg.no_vnet_hdr, or a kernel that refuses) frames are plain and at most
 * MTU-sized.
 *
 * The interface's own MAC is ours: the kernel must hold no address of
 * tern's on it (it would answer ARP for it and take the traffic), and is
 * best kept quiet there (arp off, IPv6 off).  With PACKET_FANOUT_HASH
 * several sockets (tern queues, processes) share the interface, each
 * getting whole flows; per-core stacks share it by PACKET_FANOUT_EBPF
 * and a program computing their Toeplitz hash (fanout_bpf.c).
 *
 * Link loss: sendto fails with ENXIO/ENODEV once the interface is gone,
 * and every 100 ms without received frames we ask the kernel whether our
 * ifindex still exists (and read its drop counter). */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "link/dev.h"
#include "link/fanout_bpf.h"
#include "link/rxmod.h"
#include "link/tcx.h"
#include "link/vnet.h"

#define AFP_MTU_MAX (TN_PKT_DATAROOM - 18u) /* as --tap: room for Ethernet and a VLAN tag */
#define AFP_MTU_MIN 68u
#define AFP_RX_BLOCK_SIZE (256u * 1024u)
#define AFP_RX_BLOCKS 32u
#define AFP_BIG_MAX (65535u + 14u + 4u) /* a whole 64 KiB segment, by recvmsg */
#define AFP_CHECK_NS 100000000ull /* link check at most this often */
#define AFP_GSO_FRAME (65535u + 14u + 4u) /* 64 KiB of IP, Ethernet, a VLAN tag */

/* A frame's message: the virtio-net header and the frame's buffers (TCP
 * builds a large segment a buffer per 1448 bytes: 46 for 64 KiB). */
#define AFP_TX_IOV 64u
struct afp_txmsg {
	struct virtio_net_hdr vh;
	struct iovec iov[AFP_TX_IOV];
};

struct afp {
	struct tn_dev dev;
	int fd;
	int kernel_cut_fd;      /* tcx link dropping the kernel's own copy (tcx.c); -1 none */
	bool fanout_rss;        /* the fanout group spreads by the RSS program (fanout_bpf.c) */
	int ifindex;
	bool vnet;
	bool gone;
	uint8_t *map;           /* the receive ring */
	size_t map_len;
	/* receive: slots of rx_frame_size, rx_per_block to a block; the next
	 * slot to read */
	uint8_t *rx;
	uint32_t rx_block_size, rx_blocks, rx_frame_size, rx_per_block, rx_frames, rx_cur;
	uint8_t *big;           /* a frame too large for a slot, read by recvmsg; lazily allocated */
	struct tn_rxmod rxmod;
	struct afp_txmsg txm[TN_DEV_BURST]; /* a burst's headers and iovecs */
	uint64_t next_check;
	uint64_t watch_until;   /* after a socket error: check on time, not only on wake-ups */
};

static const struct tn_dev_ops afp_ops;

static inline uint32_t load_acquire(const volatile uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void store_release(volatile uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

static struct tpacket2_hdr *rx_slot(const struct afp *a, uint32_t i)
{
	return (struct tpacket2_hdr *)(a->rx + (size_t)(i / a->rx_per_block) * a->rx_block_size +
				       (size_t)(i % a->rx_per_block) * a->rx_frame_size);
}

/* Is the interface still there (by index: a new one with our name is not
 * ours)?  Also folds the kernel's ring drops into rx_dropped. */
static void link_check(struct afp *a)
{
	struct tpacket_stats st;
	socklen_t sl = sizeof(st);
	if (getsockopt(a->fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl) == 0)
		a->dev.stats.rx_dropped += st.tp_drops;
	int err;
	sl = sizeof(err);
	/* ENETDOWN when the link goes down or away: reading clears it (or
	 * poll() keeps waking); the interface may linger a moment before it
	 * is gone, so keep checking on time for a while. */
	if (getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &err, &sl) == 0 && err)
		a->watch_until = a->dev.now + 20 * AFP_CHECK_NS;
	struct ifreq ifr = {.ifr_ifindex = a->ifindex};
	if (ioctl(a->fd, SIOCGIFNAME, &ifr) < 0 && errno == ENODEV)
		a->gone = true;
}

/* Copy a frame into a chain of buffers and take its offload state (the
 * virtio-net header in front of it, or the ring's status bits); NULL if
 * the pool ran dry or the header is not one we offered to take. */
static struct tn_pkt *frame_to_pkt(struct afp *a, struct tn_mempool *mp, const uint8_t *f, uint32_t len,
				   const struct virtio_net_hdr *vh, uint32_t status)
{
	struct tn_pkt *head = NULL, *last = NULL;
	for (uint32_t off = 0; off < len;) {
		struct tn_pkt *p = tn_pkt_alloc(mp);
		if (!p) {
			tn_pkt_free(head);
			return NULL;
		}
		uint32_t n = len - off < TN_PKT_DATAROOM ? len - off : TN_PKT_DATAROOM;
		memcpy(tn_pkt_put(p, n), f + off, n);
		off += n;
		if (head) {
			last->next = p;
			head->pkt_len += n;
		} else {
			head = p;
		}
		last = p;
	}
	if (a->vnet) {
		if (tn_vnet_hdr_take(head, vh, tn_vnet_l2_len(head, true)) < 0) {
			tn_pkt_free(head);
			return NULL;
		}
	} else if (status & TP_STATUS_CSUMNOTREADY) {
		head->flags |= TN_PKT_CSUM_PARTIAL; /* from this host: the kernel never summed it */
	} else if (status & TP_STATUS_CSUM_VALID) {
		head->flags |= TN_PKT_CSUM_OK;
	}
	return head;
}

/* The frame in slot h; NULL if the ring cut it short or it carries a
 * stripped VLAN tag (tern has no use for one). */
static struct tn_pkt *copy_frame(struct afp *a, struct tn_mempool *mp, const struct tpacket2_hdr *h, uint32_t status)
{
	const uint8_t *f = (const uint8_t *)h + h->tp_mac;
	uint32_t len = h->tp_snaplen;
	if (len != h->tp_len || len == 0 || len > a->rx_frame_size - h->tp_mac || (status & TP_STATUS_VLAN_VALID) ||
	    (a->vnet && h->tp_mac < sizeof(struct virtio_net_hdr)))
		return NULL;
	return frame_to_pkt(a, mp, f, len, (const void *)(f - sizeof(struct virtio_net_hdr)), status);
}

/* The whole frame behind a TP_STATUS_COPY slot, from the socket's queue
 * (always read, even to drop it, so the queue stays in step with the
 * ring). */
static struct tn_pkt *copy_big(struct afp *a, struct tn_mempool *mp, uint32_t status, bool want)
{
	if (!a->big && !(a->big = malloc(AFP_BIG_MAX)))
		return NULL;
	struct virtio_net_hdr vh;
	struct iovec iov[2] = {{&vh, sizeof(vh)}, {a->big, AFP_BIG_MAX}};
	struct msghdr mh = {.msg_iov = a->vnet ? iov : iov + 1, .msg_iovlen = a->vnet ? 2 : 1};
	ssize_t n = recvmsg(a->fd, &mh, MSG_DONTWAIT);
	size_t head = a->vnet ? sizeof(vh) : 0;
	if (n <= (ssize_t)head || (mh.msg_flags & MSG_TRUNC) || !want || (status & TP_STATUS_VLAN_VALID))
		return NULL;
	return frame_to_pkt(a, mp, a->big, (uint32_t)((size_t)n - head), &vh, status);
}

/* Our own frames and the kernel's, leaving by this interface: not for us. */
static bool outgoing(const struct tpacket2_hdr *h)
{
	const struct sockaddr_ll *sll = (const void *)((const uint8_t *)h + TPACKET_ALIGN(sizeof(*h)));
	return sll->sll_pkttype == PACKET_OUTGOING;
}

static unsigned afp_rx(struct tn_dev *d, struct tn_mempool *mp, struct tn_pkt **pkts, unsigned n)
{
	struct afp *a = d->priv;
	unsigned got = 0;
	while (got < n) {
		struct tpacket2_hdr *h = rx_slot(a, a->rx_cur);
		uint32_t st = load_acquire(&h->tp_status);
		if (!(st & TP_STATUS_USER))
			break;
		bool ours = !outgoing(h);
		struct tn_pkt *p = st & TP_STATUS_COPY ? copy_big(a, mp, st, ours) : ours ? copy_frame(a, mp, h, st) : NULL;
		if (p) {
			d->stats.rx_packets++;
			d->stats.rx_bytes += p->pkt_len;
			pkts[got++] = p;
		} else if (ours) {
			d->stats.rx_dropped++;
		}
		store_release(&h->tp_status, TP_STATUS_KERNEL);
		a->rx_cur = a->rx_cur + 1 == a->rx_frames ? 0 : a->rx_cur + 1;
	}
	tn_rxmod_note(&a->rxmod, d->now, got, got == n);
	if (got == 0 && !a->gone && d->now >= a->next_check) {
		a->next_check = d->now + AFP_CHECK_NS;
		link_check(a);
	}
	return got;
}

/* A frame waits in the next slot: the stack should poll again now.  After
 * a socket error, the next link check is due.  A lost link is news now,
 * so the owner's loop comes round to tn_af_packet_link_gone at once. */
static uint64_t afp_next_event(struct tn_dev *d)
{
	struct afp *a = d->priv;
	if (a->gone || (load_acquire(&rx_slot(a, a->rx_cur)->tp_status) & TP_STATUS_USER))
		return d->now;
	uint64_t t = d->now < a->watch_until && !a->gone ? a->next_check : UINT64_MAX;
	uint64_t m = tn_rxmod_next(&a->rxmod);
	return m < t ? m : t;
}

/* One frame as a message: its virtio-net header and its buffers, as
 * iovecs the kernel copies from; false if it cannot go (too many
 * buffers, too long, or flags the header cannot carry). */
static bool tx_message(struct afp *a, struct tn_pkt *p, struct afp_txmsg *t, struct mmsghdr *mm)
{
	if (p->pkt_len > (a->vnet ? AFP_GSO_FRAME : a->dev.mtu + 18u))
		return false;
	int n = tn_vnet_iov(p, a->vnet, &t->vh, t->iov, AFP_TX_IOV);
	if (n < 0)
		return false;
	*mm = (struct mmsghdr){.msg_hdr = {.msg_iov = t->iov, .msg_iovlen = (size_t)n}};
	return true;
}

/* Send a burst with sendmmsg, frames gathered from their buffers by the
 * kernel's one copy.  Not a TX ring: its pages go out as an skb's
 * fragments, which a veth copies again (skb_copy_ubufs) before another
 * namespace may keep them, after our copy into the slot; over a NIC the
 * ring saves nothing either, since the frame must be copied into it. */
static unsigned afp_tx(struct tn_dev *d, struct tn_pkt **pkts, unsigned n)
{
	struct afp *a = d->priv;
	struct mmsghdr mm[TN_DEV_BURST];
	unsigned i = 0;
	while (i < n) {
		unsigned m = 0, first = i;
		for (; i < n && m < TN_DEV_BURST; i++, m++) {
			if (tx_message(a, pkts[i], &a->txm[m], &mm[m]))
				continue;
			if (m)
				break; /* what came before goes first */
			d->stats.tx_dropped++;
			tn_pkt_free(pkts[i]);
			first = i + 1;
			m = (unsigned)-1; /* back to 0 with the loop's m++ */
		}
		if (!m)
			continue;
		int k = sendmmsg(a->fd, mm, m, MSG_DONTWAIT);
		if (k < 0) {
			if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR)
				return first; /* the caller keeps them for later */
			if (errno == ENXIO || errno == ENODEV)
				a->gone = true;
			/* refused (the link down, a frame the kernel will not take):
			 * dropped, as a NIC without carrier drops */
			d->stats.tx_dropped++;
			tn_pkt_free(pkts[first]);
			i = first + 1;
			continue;
		}
		for (int j = 0; j < k; j++) {
			d->stats.tx_packets++;
			d->stats.tx_bytes += pkts[first + (unsigned)j]->pkt_len;
			tn_pkt_free(pkts[first + (unsigned)j]);
		}
		if ((unsigned)k < m)
			return first + (unsigned)k;
	}
	return n;
}

/* Out of the owner's poll while receive moderation holds it (rxmod.h). */
static int afp_fd(struct tn_dev *d)
{
	struct afp *a = d->priv;
	return tn_rxmod_holding(&a->rxmod, d->now) ? -1 : a->fd;
}

static void afp_destroy(struct tn_dev *d)
{
	struct afp *a = d->priv;
	if (a->map)
		munmap(a->map, a->map_len);
	close(a->fd);
	free(a->big);
	if (a->kernel_cut_fd >= 0)
		close(a->kernel_cut_fd); /* the kernel's receive path back */
	free(a);
}

static const struct tn_dev_ops afp_ops = {
	.rx_burst = afp_rx,
	.tx_burst = afp_tx,
	.next_event = afp_next_event,
	.fd = afp_fd,
	.destroy = afp_destroy,
};

static int sockopt(int fd, int opt, int v) { return setsockopt(fd, SOL_PACKET, opt, &v, sizeof(v)); }

/* Learn the interface: index, Ethernet MAC, MTU; bring it up if down. */
static int learn_iface(struct afp *a, const char *ifname, uint32_t *ifmtu)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, ifname, strlen(ifname));
	if (ioctl(a->fd, SIOCGIFINDEX, &ifr) < 0)
		return -1;
	a->ifindex = ifr.ifr_ifindex;
	if (ioctl(a->fd, SIOCGIFHWADDR, &ifr) < 0)
		return -1;
	if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
		errno = EPROTONOSUPPORT; /* Ethernet only, for now */
		return -1;
	}
	memcpy(a->dev.mac, ifr.ifr_hwaddr.sa_data, 6);
	if (ioctl(a->fd, SIOCGIFMTU, &ifr) < 0)
		return -1;
	*ifmtu = (uint32_t)ifr.ifr_mtu;
	if (ioctl(a->fd, SIOCGIFFLAGS, &ifr) < 0)
		return -1;
	if (!(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(a->fd, SIOCSIFFLAGS, &ifr) < 0)
			return -1;
	}
	return 0;
}

static uint32_t round_up(uint32_t v, uint32_t to) { return (v + to - 1) / to * to; }

/* The receive slot: a power of two holding the ring's header, the
 * virtio-net header and an MTU-sized frame with a VLAN tag. */
static uint32_t rx_frame_size(uint32_t mtu)
{
	uint32_t need = (uint32_t)TPACKET_ALIGN(TPACKET2_HDRLEN) + 16u + (uint32_t)sizeof(struct virtio_net_hdr) + mtu + 18u;
	uint32_t size = 2048;
	while (size < need)
		size *= 2;
	return size;
}

/* Version, header, the receive ring and its mapping. */
static int setup_rings(struct afp *a, const struct tn_af_packet_cfg *cfg)
{
	uint32_t page = (uint32_t)sysconf(_SC_PAGESIZE);
	if (sockopt(a->fd, PACKET_VERSION, TPACKET_V2) < 0)
		return -1;
	a->vnet = !cfg->no_vnet_hdr && sockopt(a->fd, PACKET_VNET_HDR, 1) == 0;
	/* frames too large for a slot come whole by recvmsg: room for a few
	 * 64 KiB segments on the socket (root may pass rmem_max) */
	int rcvbuf = 8 << 20;
	if (sockopt(a->fd, PACKET_COPY_THRESH, 1) < 0 ||
	    (setsockopt(a->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0 &&
	     setsockopt(a->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0))
		return -1;

	a->rx_frame_size = rx_frame_size(a->dev.mtu);
	a->rx_block_size = round_up(cfg->rx_block_size ? cfg->rx_block_size : AFP_RX_BLOCK_SIZE, page);
	if (a->rx_block_size < a->rx_frame_size)
		a->rx_block_size = round_up(a->rx_frame_size, page);
	a->rx_blocks = cfg->rx_blocks ? cfg->rx_blocks : AFP_RX_BLOCKS;
	a->rx_per_block = a->rx_block_size / a->rx_frame_size;
	a->rx_frames = a->rx_per_block * a->rx_blocks;
	struct tpacket_req rx = {
		.tp_block_size = a->rx_block_size,
		.tp_block_nr = a->rx_blocks,
		.tp_frame_size = a->rx_frame_size,
		.tp_frame_nr = a->rx_frames,
	};
	if (setsockopt(a->fd, SOL_PACKET, PACKET_RX_RING, &rx, sizeof(rx)) < 0)
		return -1;

	size_t rx_len = (size_t)a->rx_block_size * a->rx_blocks;
	a->map_len = rx_len;
	void *m = mmap(NULL, a->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED | MAP_POPULATE, a->fd, 0);
	if (m == MAP_FAILED) /* no locked memory to spare: unlocked will do */
		m = mmap(NULL, a->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, a->fd, 0);
	if (m == MAP_FAILED)
		return -1;
	a->map = m;
	a->rx = a->map;
	tn_rxmod_init(&a->rxmod, cfg->rx_usecs);
	return 0;
}

/* Join the fanout group: by the RSS program (fanout_bpf.c) when the
 * members are per-core stacks and it loads, so each flow reaches the core
 * its Toeplitz hash names; else by the kernel's flow hash.  The members
 * of a group must agree on the mode, and every member tries the same
 * program with the same privileges. */
static int join_fanout(struct afp *a, const struct tn_af_packet_cfg *cfg)
{
	int prog = cfg->rss_queues > 1 ? tn_fanout_bpf_load(cfg->rss_key ? cfg->rss_key : tn_rss_default_key,
							   cfg->rss_queues) : -1;
	int mode = prog >= 0 ? PACKET_FANOUT_EBPF : PACKET_FANOUT_HASH;
	int v = (int)(cfg->fanout_group | (uint32_t)mode << 16);
	int rc = setsockopt(a->fd, SOL_PACKET, PACKET_FANOUT, &v, sizeof(v));
	if (rc == 0 && prog >= 0)
		rc = setsockopt(a->fd, SOL_PACKET, PACKET_FANOUT_DATA, &prog, sizeof(prog)); /* the group holds it */
	a->fanout_rss = rc == 0 && prog >= 0;
	if (prog >= 0) {
		int saved = errno;
		close(prog);
		errno = saved;
	}
	return rc;
}

/* Bind to the interface, then the options that need a bound socket. */
static int attach(struct afp *a, const struct tn_af_packet_cfg *cfg)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = a->ifindex,
	};
	if (bind(a->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return -1;
	sockopt(a->fd, PACKET_QDISC_BYPASS, 1);  /* best effort: a kernel without it uses the qdisc */
	sockopt(a->fd, PACKET_IGNORE_OUTGOING, 1); /* best effort: rx skips PACKET_OUTGOING anyway */
	if (cfg->promisc) {
		struct packet_mreq mr = {.mr_ifindex = a->ifindex, .mr_type = PACKET_MR_PROMISC};
		if (setsockopt(a->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0)
			return -1;
	}
	if (cfg->fanout_group)
		return join_fanout(a, cfg);
	return 0;
}

/* Does the kernel hold an address on the interface (IPv4, or IPv6 other
 * than the link-local one it makes by itself)?  Then it has traffic of
 * its own there, and its receive path stays. */
static bool kernel_uses(const char *ifname)
{
	struct ifaddrs *all;
	if (getifaddrs(&all) < 0)
		return true; /* cannot tell: leave the kernel be */
	bool used = false;
	for (const struct ifaddrs *i = all; i && !used; i = i->ifa_next) {
		if (!i->ifa_addr || strcmp(i->ifa_name, ifname) != 0)
			continue;
		if (i->ifa_addr->sa_family == AF_INET)
			used = true;
		else if (i->ifa_addr->sa_family == AF_INET6)
			used = !IN6_IS_ADDR_LINKLOCAL(&((const struct sockaddr_in6 *)(const void *)i->ifa_addr)->sin6_addr);
	}
	freeifaddrs(all);
	return used;
}

struct tn_dev *tn_af_packet_open(const char *ifname, const struct tn_af_packet_cfg *cfg)
{
	static const struct tn_af_packet_cfg defaults;
	if (!cfg)
		cfg = &defaults;
	if (!ifname || !ifname[0] || strlen(ifname) >= IFNAMSIZ || cfg->fanout_group > 0xffff ||
	    (cfg->mtu && (cfg->mtu < AFP_MTU_MIN || cfg->mtu > AFP_MTU_MAX)) || (cfg->rx_blocks && cfg->rx_blocks > 4096) ||
	    (cfg->rx_block_size && cfg->rx_block_size > (64u << 20))) {
		errno = EINVAL;
		return NULL;
	}
	struct afp *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	uint32_t ifmtu = 0;
	/* protocol 0: nothing is queued to the socket before the rings exist */
	a->fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int rc = a->fd < 0 ? -1 : learn_iface(a, ifname, &ifmtu);
	if (rc == 0) {
		a->dev.mtu = cfg->mtu ? cfg->mtu : ifmtu < AFP_MTU_MAX ? ifmtu : AFP_MTU_MAX;
		if (a->dev.mtu > ifmtu || a->dev.mtu < AFP_MTU_MIN) {
			errno = EINVAL; /* frames the interface would refuse */
			rc = -1;
		}
	}
	if (rc == 0)
		rc = setup_rings(a, cfg);
	if (rc == 0)
		rc = attach(a, cfg);
	if (rc < 0) {
		int saved = errno;
		if (a->map)
			munmap(a->map, a->map_len);
		if (a->fd >= 0)
			close(a->fd);
		free(a);
		errno = saved;
		return NULL;
	}
	memcpy(a->dev.name, ifname, strlen(ifname) + 1);
	a->dev.ops = &afp_ops;
	a->dev.priv = a;
	a->dev.framing = TN_DEV_L2;
	if (a->vnet)
		a->dev.features = TN_DEV_F_CSUM_OFFLOAD | TN_DEV_F_TSO;
	a->kernel_cut_fd = -1;
	if (cfg->kernel_rx == TN_KERNEL_RX_DROP ||
	    (cfg->kernel_rx == TN_KERNEL_RX_AUTO && !kernel_uses(ifname)))
		a->kernel_cut_fd = tn_tcx_drop_ingress(a->ifindex);
	return &a->dev;
}

bool tn_af_packet_fanout_rss(const struct tn_dev *d)
{
	return d && d->ops == &afp_ops && ((const struct afp *)d->priv)->fanout_rss;
}

bool tn_af_packet_kernel_cut(const struct tn_dev *d)
{
	return d && d->ops == &afp_ops && ((const struct afp *)d->priv)->kernel_cut_fd >= 0;
}

int tn_af_packet_link_gone(const struct tn_dev *d)
{
	return d && d->ops == &afp_ops && ((const struct afp *)d->priv)->gone;
}
