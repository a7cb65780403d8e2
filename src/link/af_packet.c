/* AF_PACKET driver: any Linux interface (a veth end, a NIC) through a
 * packet socket with memory-mapped rings.
 *
 * Receive: a TPACKET_V3 ring of blocks.  The kernel fills a block with
 * frames and hands it over when it is full or when the retire timer
 * (tp_retire_blk_tov) fires on a partly filled one; we copy each frame
 * into mempool buffers (the ring is the kernel's; one copy) and give the
 * block back once every frame of it is taken.  A burst may stop inside a
 * block: the position is kept, and next_event says frames are waiting.
 *
 * Transmit: a ring of fixed slots, TPACKET_V3 too (one PACKET_VERSION per
 * socket; the kernel takes V3 transmit rings since 4.11, frame by frame
 * like V2).  A burst copies frames into free slots, marks them
 * TP_STATUS_SEND_REQUEST, and one sendto(fd, NULL, 0, MSG_DONTWAIT) has
 * the kernel send them all; a slot is free again once the kernel's skb
 * for it is released.  PACKET_QDISC_BYPASS sends straight to the driver.
 *
 * Offloads: with PACKET_VNET_HDR each frame in either ring carries a
 * virtio-net header (vnet.c, shared with the TAP driver), so frames Linux
 * sends us as large segments (veth passes TSO/GSO skbs) arrive whole with
 * their segment size and partial checksum, and we send large segments
 * (TN_DEV_F_TSO) for the kernel to cut up.  Slots are sized for 64 KiB of
 * IP then.  Without it (cfg.no_vnet_hdr, or a kernel that refuses) frames
 * are plain and MTU-sized slots do.
 *
 * The interface's own MAC is ours: the kernel must hold no address of
 * tern's on it (it would answer ARP for it and take the traffic), and is
 * best kept quiet there (arp off, IPv6 off).  With PACKET_FANOUT_HASH
 * several sockets (tern queues, processes) share the interface, each
 * getting whole flows.
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
#include <unistd.h>

#include "link/dev.h"
#include "link/tcx.h"
#include "link/vnet.h"

#define AFP_MTU_MAX (TN_PKT_DATAROOM - 18u) /* as --tap: room for Ethernet and a VLAN tag */
#define AFP_MTU_MIN 68u
#define AFP_RX_BLOCK_SIZE (256u * 1024u)
#define AFP_RX_BLOCKS 32u
#define AFP_RX_FRAME 2048u        /* only sets tp_frame_nr: V3 packs frames by their size */
#define AFP_RETIRE_MS 1u
#define AFP_TX_FRAMES 128u
#define AFP_CHECK_NS 100000000ull /* link check at most this often */
/* What a transmit slot holds before the frame: the tpacket3_hdr, aligned
 * (TPACKET3_HDRLEN counts a sockaddr_ll the transmit path does not use). */
#define AFP_TX_OFF (TPACKET3_HDRLEN - sizeof(struct sockaddr_ll))
#define AFP_GSO_FRAME (65535u + 14u + 4u) /* 64 KiB of IP, Ethernet, a VLAN tag */

struct afp {
	struct tn_dev dev;
	int fd;
	int kernel_cut_fd;      /* tcx link dropping the kernel's own copy (tcx.c); -1 none */
	int ifindex;
	bool vnet;
	bool gone;
	uint8_t *map;           /* both rings: receive, then transmit */
	size_t map_len;
	/* receive: block being read, the frame within it, frames left */
	uint8_t *rx;
	uint32_t rx_block_size, rx_blocks, rx_cur;
	struct tpacket3_hdr *rx_pkt;
	uint32_t rx_left;
	/* transmit: slot size and count, next slot to fill */
	uint8_t *tx;
	uint32_t tx_frame_size, tx_frames, tx_cur;
	uint64_t next_check;
	uint64_t watch_until;   /* after a socket error: check on time, not only on wake-ups */
};

static const struct tn_dev_ops afp_ops;

static inline uint32_t load_acquire(const volatile uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void store_release(volatile uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

static struct tpacket_block_desc *rx_block(struct afp *a, uint32_t i)
{
	return (struct tpacket_block_desc *)(a->rx + (size_t)i * a->rx_block_size);
}

/* Is the interface still there (by index: a new one with our name is not
 * ours)?  Also folds the kernel's ring drops into rx_dropped. */
static void link_check(struct afp *a)
{
	struct tpacket_stats_v3 st;
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

/* Copy one frame out of the ring into a chain of buffers; NULL if the
 * pool ran dry or the frame is not whole. */
static struct tn_pkt *copy_frame(struct afp *a, struct tn_mempool *mp, const struct tpacket3_hdr *h)
{
	const uint8_t *f = (const uint8_t *)h + h->tp_mac;
	uint32_t len = h->tp_snaplen;
	if (len != h->tp_len || len == 0 || (h->tp_status & TP_STATUS_VLAN_VALID))
		return NULL; /* cut short by the ring, or a stripped VLAN tag tern has no use for */
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
		const struct virtio_net_hdr *vh = (const void *)(f - sizeof(struct virtio_net_hdr));
		if (tn_vnet_hdr_take(head, vh, tn_vnet_l2_len(head, true)) < 0) {
			tn_pkt_free(head);
			return NULL;
		}
	} else if (h->tp_status & TP_STATUS_CSUMNOTREADY) {
		head->flags |= TN_PKT_CSUM_PARTIAL; /* from this host: the kernel never summed it */
	} else if (h->tp_status & TP_STATUS_CSUM_VALID) {
		head->flags |= TN_PKT_CSUM_OK;
	}
	return head;
}

/* Our own frames and the kernel's, leaving by this interface: not for us. */
static bool outgoing(const struct tpacket3_hdr *h)
{
	const struct sockaddr_ll *sll = (const void *)((const uint8_t *)h + TPACKET_ALIGN(sizeof(*h)));
	return sll->sll_pkttype == PACKET_OUTGOING;
}

static unsigned afp_rx(struct tn_dev *d, struct tn_mempool *mp, struct tn_pkt **pkts, unsigned n)
{
	struct afp *a = d->priv;
	unsigned got = 0;
	while (got < n) {
		struct tpacket_block_desc *bd = rx_block(a, a->rx_cur);
		if (!a->rx_pkt) { /* start on the next block, if it is ours */
			if (!(load_acquire(&bd->hdr.bh1.block_status) & TP_STATUS_USER))
				break;
			a->rx_left = bd->hdr.bh1.num_pkts;
			a->rx_pkt = (struct tpacket3_hdr *)((uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt);
		}
		while (a->rx_left && got < n) {
			struct tpacket3_hdr *h = a->rx_pkt;
			if (!outgoing(h)) {
				struct tn_pkt *p = copy_frame(a, mp, h);
				if (p) {
					d->stats.rx_packets++;
					d->stats.rx_bytes += p->pkt_len;
					pkts[got++] = p;
				} else {
					d->stats.rx_dropped++;
				}
			}
			a->rx_pkt = (struct tpacket3_hdr *)((uint8_t *)h + h->tp_next_offset);
			a->rx_left--;
		}
		if (a->rx_left)
			break; /* the burst is full; the rest of the block waits */
		store_release(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL);
		a->rx_pkt = NULL;
		a->rx_cur = (a->rx_cur + 1) % a->rx_blocks;
	}
	if (got == 0 && !a->gone && d->now >= a->next_check) {
		a->next_check = d->now + AFP_CHECK_NS;
		link_check(a);
	}
	return got;
}

/* Frames wait in a block we own: the stack should poll again now.  After
 * a socket error, the next link check is due.  A lost link is news now,
 * so the owner's loop comes round to tn_af_packet_link_gone at once. */
static uint64_t afp_next_event(struct tn_dev *d)
{
	struct afp *a = d->priv;
	if (a->gone || a->rx_pkt || (load_acquire(&rx_block(a, a->rx_cur)->hdr.bh1.block_status) & TP_STATUS_USER))
		return d->now;
	return d->now < a->watch_until && !a->gone ? a->next_check : UINT64_MAX;
}

/* Fill one transmit slot with p (its virtio-net header first); false if
 * the frame cannot go (too long for a slot, or flags it does not honour). */
static bool fill_slot(struct afp *a, struct tpacket3_hdr *h, struct tn_pkt *p)
{
	uint8_t *out = (uint8_t *)h + AFP_TX_OFF;
	uint32_t room = a->tx_frame_size - (uint32_t)AFP_TX_OFF, len = 0;
	if (a->vnet) {
		struct virtio_net_hdr vh;
		if (tn_vnet_hdr_make(p, &vh) < 0)
			return false;
		memcpy(out, &vh, sizeof(vh));
		len = sizeof(vh);
	}
	if (p->pkt_len > room - len)
		return false;
	for (const struct tn_pkt *s = p; s; s = s->next) {
		memcpy(out + len, s->data, s->len);
		len += s->len;
	}
	h->tp_len = len;
	h->tp_snaplen = len;
	h->tp_next_offset = 0;
	return true;
}

/* Have the kernel send what the slots hold. */
static void tx_kick(struct afp *a)
{
	if (sendto(a->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0)
		return;
	/* EAGAIN/ENOBUFS: the slots stay requested and go with the next
	 * kick; ENETDOWN: they wait for the link. */
	if (errno == ENXIO || errno == ENODEV)
		a->gone = true;
}

static unsigned afp_tx(struct tn_dev *d, struct tn_pkt **pkts, unsigned n)
{
	struct afp *a = d->priv;
	unsigned i, queued = 0;
	for (i = 0; i < n; i++) {
		struct tpacket3_hdr *h = (struct tpacket3_hdr *)(a->tx + (size_t)a->tx_cur * a->tx_frame_size);
		uint32_t st = load_acquire(&h->tp_status);
		if (st == TP_STATUS_WRONG_FORMAT) /* refused by the kernel earlier: counted now */
			d->stats.tx_dropped++;
		else if (st != TP_STATUS_AVAILABLE)
			break; /* ring full: the caller keeps the rest */
		struct tn_pkt *p = pkts[i];
		if (fill_slot(a, h, p)) {
			store_release(&h->tp_status, TP_STATUS_SEND_REQUEST);
			a->tx_cur = (a->tx_cur + 1) % a->tx_frames;
			d->stats.tx_packets++;
			d->stats.tx_bytes += p->pkt_len;
			queued++;
		} else {
			if (st == TP_STATUS_WRONG_FORMAT)
				store_release(&h->tp_status, TP_STATUS_AVAILABLE);
			d->stats.tx_dropped++;
		}
		tn_pkt_free(p);
	}
	if (queued || i < n)
		tx_kick(a);
	return i;
}

static int afp_fd(struct tn_dev *d) { return ((struct afp *)d->priv)->fd; }

static void afp_destroy(struct tn_dev *d)
{
	struct afp *a = d->priv;
	if (a->map)
		munmap(a->map, a->map_len);
	close(a->fd);
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

/* Version, header, loss policy, then both rings and one mapping of them. */
static int setup_rings(struct afp *a, const struct tn_af_packet_cfg *cfg)
{
	uint32_t page = (uint32_t)sysconf(_SC_PAGESIZE);
	if (sockopt(a->fd, PACKET_VERSION, TPACKET_V3) < 0)
		return -1;
	a->vnet = !cfg->no_vnet_hdr && sockopt(a->fd, PACKET_VNET_HDR, 1) == 0;
	if (sockopt(a->fd, PACKET_LOSS, 1) < 0) /* a frame the kernel refuses is dropped, not a stuck ring */
		return -1;

	a->rx_block_size = round_up(cfg->rx_block_size ? cfg->rx_block_size : AFP_RX_BLOCK_SIZE, page);
	if (a->vnet && a->rx_block_size < 128u * 1024u)
		a->rx_block_size = 128u * 1024u; /* a 64 KiB frame and its headers must fit a block */
	a->rx_blocks = cfg->rx_blocks ? cfg->rx_blocks : AFP_RX_BLOCKS;
	struct tpacket_req3 rx = {
		.tp_block_size = a->rx_block_size,
		.tp_block_nr = a->rx_blocks,
		.tp_frame_size = AFP_RX_FRAME,
		.tp_frame_nr = a->rx_block_size / AFP_RX_FRAME * a->rx_blocks,
		.tp_retire_blk_tov = cfg->rx_retire_ms ? cfg->rx_retire_ms : AFP_RETIRE_MS,
	};
	if (setsockopt(a->fd, SOL_PACKET, PACKET_RX_RING, &rx, sizeof(rx)) < 0)
		return -1;

	/* One slot per block, so a slot may be larger than a page. */
	uint32_t frame = (uint32_t)AFP_TX_OFF + (a->vnet ? sizeof(struct virtio_net_hdr) + AFP_GSO_FRAME
							 : a->dev.mtu + 18u);
	a->tx_frame_size = round_up(frame, page);
	a->tx_frames = cfg->tx_frames ? cfg->tx_frames : AFP_TX_FRAMES;
	struct tpacket_req3 tx = {
		.tp_block_size = a->tx_frame_size,
		.tp_block_nr = a->tx_frames,
		.tp_frame_size = a->tx_frame_size,
		.tp_frame_nr = a->tx_frames,
	};
	if (setsockopt(a->fd, SOL_PACKET, PACKET_TX_RING, &tx, sizeof(tx)) < 0)
		return -1;

	size_t rx_len = (size_t)a->rx_block_size * a->rx_blocks;
	a->map_len = rx_len + (size_t)a->tx_frame_size * a->tx_frames;
	void *m = mmap(NULL, a->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED | MAP_POPULATE, a->fd, 0);
	if (m == MAP_FAILED) /* no locked memory to spare: unlocked will do */
		m = mmap(NULL, a->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, a->fd, 0);
	if (m == MAP_FAILED)
		return -1;
	a->map = m;
	a->rx = a->map;
	a->tx = a->map + rx_len;
	return 0;
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
	if (cfg->fanout_group) {
		int v = (int)(cfg->fanout_group | (uint32_t)PACKET_FANOUT_HASH << 16);
		if (setsockopt(a->fd, SOL_PACKET, PACKET_FANOUT, &v, sizeof(v)) < 0)
			return -1;
	}
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
	    (cfg->tx_frames && cfg->tx_frames > 65536) || (cfg->rx_block_size && cfg->rx_block_size > (64u << 20))) {
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

bool tn_af_packet_kernel_cut(const struct tn_dev *d)
{
	return d && d->ops == &afp_ops && ((const struct afp *)d->priv)->kernel_cut_fd >= 0;
}

int tn_af_packet_link_gone(const struct tn_dev *d)
{
	return d && d->ops == &afp_ops && ((const struct afp *)d->priv)->gone;
}
