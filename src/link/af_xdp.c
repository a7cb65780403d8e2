/* AF_XDP driver: one receive queue of a Linux interface (a veth end, a
 * NIC) through an XDP socket, with libxdp (Debian's libxdp-dev) loading
 * the XDP program that steers the queue's frames to the socket.
 *
 * UMEM: the stack's own mempool.  Its memory (page-aligned, see pkt.c) is
 * registered whole as the socket's UMEM in unaligned-chunk mode, a chunk
 * being one tn_pkt's buf[] (TN_PKT_BUFSIZE bytes).  So:
 *
 * Receive without a copy: we allocate packets from the pool and put the
 * offset of each one's buf[] on the fill ring; the kernel writes a frame
 * XDP_PACKET_HEADROOM (256) bytes into that buf and posts it on the rx
 * ring; we point the packet's data at it and hand the packet to the stack.
 * The stack frees it to the pool as any other; the fill ring is topped up
 * from the pool.  (Frames of at most TN_PKT_BUFSIZE - 256 = 1920 bytes.)
 *
 * Transmit without a copy: a packet the stack built in the pool (one
 * segment, no other reference) goes on the tx ring as it is, by the offset
 * of its data; we keep it until its address comes back on the completion
 * ring and free it then.  A chain, a shared packet (a pcap decorator holds
 * a reference) or one from elsewhere is copied into a fresh pool packet.
 *
 * The UMEM thus has its fill and completion rings and the socket its rx
 * and tx rings; `held` records, per pool object, which ring (fill or tx)
 * owns it, so every address the kernel returns is checked against what we
 * gave it, and destroy() returns them all to the pool.
 *
 * Modes: the socket is bound without XDP_COPY or XDP_ZEROCOPY, so the
 * kernel takes zero-copy where the driver supports it and copy otherwise
 * (XDP_OPTIONS reports which).  The XDP program is attached in native
 * (driver) mode first and generic (SKB) mode if the driver has none
 * (xdp_steer.c); veth has native XDP, so a veth end runs native + copy.  In zero-copy
 * mode a chunk must not cross a page (the NIC DMAs into it); pool objects
 * whose buf does are kept off the fill ring and transmit by copy.
 *
 * Offloads: AF_XDP carries no checksum or segmentation metadata, so the
 * stack sums what it sends by the socket and checks what it receives.
 * Large TCP segments (TSO) leave by a second socket instead: an AF_PACKET
 * one on the same interface, bound to no protocol (it receives nothing),
 * with PACKET_VNET_HDR and PACKET_QDISC_BYPASS, through which the kernel
 * takes a 64 KiB segment whole with a partial checksum and cuts it up (or
 * a veth hands it to its peer whole, as Linux's own sockets do).  Without
 * that, every 1448 bytes cost a frame on the AF_XDP ring, and in copy mode
 * an skb, a veth transmit and the peer's receive each (tern sent at 0.27x
 * Linux's rate over a veth).  Order is kept: the AF_XDP ring is pushed out
 * before a segment leaves by the side socket, and a segment waits while it
 * is not empty.  tn_af_xdp_cfg.no_tso, or no AF_PACKET, leaves only the
 * XDP path (features 0).
 *
 * The program: tern's own (xdp_steer.c), which sends the socket of a
 * frame's receive queue only tern's frames (to its addresses, ARP for
 * them) and passes the rest to the kernel, through an XSKMAP keyed by
 * receive queue.  libxdp makes the sockets with its program load
 * inhibited, and each open puts its socket in the map.  The program is
 * shared: one per interface, made by the owner (tn_af_xdp_cfg.steer, as
 * `tern host` does for all its cores) or, without one, by the device for
 * itself, taking every frame of its queue.  So one socket per queue:
 * under --cores N, core k opens queue q + k with a UMEM of its own (its
 * stack's pool).  Which queue a frame takes is the kernel's or the NIC's
 * choice; steering (steer.c) moves it to its core after.  The device
 * notices the interface deleted: every 100 ms we ask whether our ifindex
 * still exists (and sendto fails with ENXIO/ENODEV/ENETDOWN). */
#ifdef TERN_HAVE_XDP
#include <errno.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <linux/if_packet.h>
#include <unistd.h>
#include <xdp/xsk.h>

#include "link/dev.h"
#include "link/rxmod.h"
#include "link/vnet.h"
#include "link/xdp_steer.h"

#ifndef SOL_XDP
#define SOL_XDP 283
#endif

#define AXDP_RING 2048u           /* each of the four rings */
#define AXDP_XDP_HEADROOM 256u    /* XDP_PACKET_HEADROOM: where the kernel puts a frame in a chunk */
#define AXDP_FRAME_MAX (TN_PKT_BUFSIZE - AXDP_XDP_HEADROOM)
#define AXDP_MTU_MIN 68u
#define AXDP_CHECK_NS 100000000ull
#define AXDP_BATCH 64u

enum { HELD_NONE = 0, HELD_FILL = 1, HELD_TX = 2 };

struct axdp {
	struct tn_dev dev;
	struct tn_mempool *mp;      /* its memory is the UMEM */
	uint8_t *base;
	uint64_t size;
	uint8_t *held;              /* per pool object: HELD_* */
	uint32_t fill_max;          /* packets at most on the fill ring */
	uint32_t nfill;             /* packets now on it (or being filled by the kernel) */
	uint32_t ntx;               /* packets on the tx ring or awaiting completion */
	uint32_t ring;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fq, tx;
	struct xsk_ring_cons cq, rx;
	int fd;
	int tso_fd;                 /* AF_PACKET side socket for large segments; -1 none */
	int ifindex;
	uint32_t queue;
	bool zerocopy, gone, kick_pending;
	struct tn_xdp_steer *steer; /* the interface's program and maps */
	bool own_steer;             /* made for this device alone: freed with it */
	uint64_t next_check;
	struct tn_rxmod rxmod;      /* rx_usecs: link/rxmod.h */
	struct tn_af_xdp_stats xs;
};

static const struct tn_dev_ops axdp_ops;

static inline uint32_t obj_index(const struct axdp *x, uint64_t off) { return (uint32_t)(off / x->mp->obj_size); }
static inline struct tn_pkt *obj_at(const struct axdp *x, uint32_t i)
{
	return (struct tn_pkt *)(x->base + (size_t)i * x->mp->obj_size);
}
static inline uint64_t buf_off(const struct axdp *x, const struct tn_pkt *p) { return (uint64_t)(p->buf - x->base); }
static inline bool in_pool(const struct axdp *x, const struct tn_pkt *p)
{
	return p->pool == x->mp && (const uint8_t *)p >= x->base && (const uint8_t *)p < x->base + x->size;
}

/* Zero-copy: the device DMAs into a chunk, which must then lie in one
 * page (an ordinary mapping's pages are not contiguous). */
static bool chunk_ok(const struct axdp *x, uint64_t off, uint32_t len)
{
	if (!x->zerocopy)
		return true;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	return off % page + len <= page;
}

/* Top the fill ring up from the pool, leaving the stack three quarters of
 * the pool. */
static void refill(struct axdp *x)
{
	struct tn_pkt *skip = NULL; /* zero-copy: objects unfit for the ring, back to the pool after */
	while (x->nfill < x->fill_max) {
		uint32_t want = x->fill_max - x->nfill, idx;
		if (want > AXDP_BATCH)
			want = AXDP_BATCH;
		if (want > x->mp->nfree)
			want = x->mp->nfree;
		if (want == 0 || xsk_ring_prod__reserve(&x->fq, want, &idx) != want)
			break;
		uint32_t n = 0;
		while (n < want) {
			struct tn_pkt *p = tn_pkt_alloc(x->mp);
			if (!p)
				break;
			if (!chunk_ok(x, buf_off(x, p), TN_PKT_BUFSIZE)) {
				p->qnext = skip;
				skip = p;
				continue;
			}
			x->held[obj_index(x, buf_off(x, p))] = HELD_FILL;
			*xsk_ring_prod__fill_addr(&x->fq, idx + n++) = buf_off(x, p);
		}
		if (n < want) /* the pool ran out: give back what we reserved and did not fill */
			x->fq.cached_prod -= want - n;
		xsk_ring_prod__submit(&x->fq, n);
		x->nfill += n;
		if (n < want)
			break;
	}
	tn_pkt_free_queue(skip);
	if (xsk_ring_prod__needs_wakeup(&x->fq))
		recvfrom(x->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
}

/* Free the packets whose transmission the kernel has completed. */
static void reclaim(struct axdp *x)
{
	uint32_t idx, n;
	while ((n = xsk_ring_cons__peek(&x->cq, AXDP_BATCH, &idx)) > 0) {
		for (uint32_t i = 0; i < n; i++) {
			uint64_t addr = xsk_umem__add_offset_to_addr(*xsk_ring_cons__comp_addr(&x->cq, idx + i));
			uint32_t o = addr < x->size ? obj_index(x, addr) : UINT32_MAX;
			if (o >= x->mp->size || x->held[o] != HELD_TX) {
				x->xs.bad_desc++; /* not an address we sent: ignore it */
				continue;
			}
			x->held[o] = HELD_NONE;
			x->ntx--;
			tn_pkt_free(obj_at(x, o));
		}
		xsk_ring_cons__release(&x->cq, n);
	}
}

static void note_errno(struct axdp *x)
{
	if (errno == ENXIO || errno == ENODEV || errno == ENETDOWN)
		x->next_check = 0; /* check the link at once */
}

/* Have the kernel send what the tx ring holds (copy mode sends a batch
 * per call; a busy device says EAGAIN/EBUSY/ENOBUFS: try again later). */
static void tx_kick(struct axdp *x)
{
	x->kick_pending = false;
	if (!xsk_ring_prod__needs_wakeup(&x->tx))
		return;
	for (int i = 0; i < 16; i++) {
		if (sendto(x->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0) {
			/* sent a batch; more waiting? */
			if (*x->tx.consumer == *x->tx.producer)
				return;
			continue;
		}
		if (errno == EAGAIN || errno == EBUSY || errno == ENOBUFS) {
			if (*x->tx.consumer == *x->tx.producer)
				return;
			continue;
		}
		note_errno(x);
		return;
	}
	x->kick_pending = *x->tx.consumer != *x->tx.producer;
}

static void link_check(struct axdp *x)
{
	char name[IF_NAMESIZE];
	if (!if_indextoname((unsigned)x->ifindex, name) && (errno == ENXIO || errno == ENODEV))
		x->gone = true;
	struct xdp_statistics st;
	socklen_t sl = sizeof(st);
	if (getsockopt(x->fd, SOL_XDP, XDP_STATISTICS, &st, &sl) == 0) {
		x->dev.stats.rx_dropped = x->xs.rx_bad + st.rx_dropped + st.rx_ring_full;
		x->xs.rx_fill_empty = st.rx_fill_ring_empty_descs;
		x->xs.rx_ring_full = st.rx_ring_full;
		x->xs.rx_invalid = st.rx_invalid_descs;
		x->xs.tx_invalid = st.tx_invalid_descs;
	}
}

static unsigned axdp_rx(struct tn_dev *d, struct tn_mempool *mp, struct tn_pkt **pkts, unsigned n)
{
	struct axdp *x = d->priv;
	(void)mp; /* frames arrive in packets of our pool: the stack's, by construction */
	reclaim(x);
	if (x->kick_pending)
		tx_kick(x);
	uint32_t idx, got = xsk_ring_cons__peek(&x->rx, n, &idx);
	unsigned out = 0;
	for (uint32_t i = 0; i < got; i++) {
		const struct xdp_desc *desc = xsk_ring_cons__rx_desc(&x->rx, idx + i);
		uint64_t base = xsk_umem__extract_addr(desc->addr);
		uint64_t addr = xsk_umem__add_offset_to_addr(desc->addr);
		uint32_t o = base < x->size ? obj_index(x, base) : UINT32_MAX;
		if (o >= x->mp->size || x->held[o] != HELD_FILL || base != buf_off(x, obj_at(x, o))) {
			x->xs.bad_desc++;
			continue;
		}
		struct tn_pkt *p = obj_at(x, o);
		x->held[o] = HELD_NONE;
		x->nfill--;
		uint64_t off = addr - base;
		if (off > TN_PKT_BUFSIZE || desc->len > TN_PKT_BUFSIZE - off || desc->len < 14) {
			x->xs.rx_bad++;
			d->stats.rx_dropped++;
			tn_pkt_free(p);
			continue;
		}
		p->data = p->buf + off;
		p->len = p->pkt_len = desc->len;
		d->stats.rx_packets++;
		d->stats.rx_bytes += desc->len;
		pkts[out++] = p;
	}
	if (got)
		xsk_ring_cons__release(&x->rx, got);
	tn_rxmod_note(&x->rxmod, d->now, got, got == n);
	refill(x);
	if (out == 0 && d->now >= x->next_check) {
		x->next_check = d->now + AXDP_CHECK_NS;
		link_check(x);
	}
	return out;
}

/* A frame the tx ring can carry: p itself, or a copy in a fresh pool
 * packet; NULL (p kept) if the pool is dry. */
static struct tn_pkt *tx_frame(struct axdp *x, struct tn_pkt *p)
{
	if (in_pool(x, p) && !p->next && p->refcnt == 1 && chunk_ok(x, (uint64_t)(p->data - x->base), p->len)) {
		x->xs.tx_zc++;
		return p;
	}
	struct tn_pkt *q = tn_pkt_alloc(x->mp);
	if (!q)
		return NULL;
	if (x->zerocopy && !chunk_ok(x, (uint64_t)(q->data - x->base), p->pkt_len)) {
		tn_pkt_free(q);
		return NULL; /* an unfit object on top of the pool: try again later */
	}
	uint8_t *dst = tn_pkt_put(q, p->pkt_len);
	if (!dst || tn_pkt_copy_out(p, 0, dst, p->pkt_len) < 0) {
		tn_pkt_free(q);
		return NULL;
	}
	x->xs.tx_copied++;
	tn_pkt_free(p);
	return q;
}

/* A large TCP segment, whole, by the side socket (virtio-net header
 * first); false (p kept, for later) if it cannot go yet. */
static bool send_large(struct axdp *x, struct tn_pkt *p)
{
	struct virtio_net_hdr vh;
	struct iovec iov[1 + 64];
	int n = tn_vnet_iov(p, true, &vh, iov, sizeof(iov) / sizeof(iov[0]));
	if (n < 0) { /* flags it does not hold, or more buffers than TCP builds: cannot happen */
		x->dev.stats.tx_dropped++;
		tn_pkt_free(p);
		return true;
	}
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
	ssize_t k = sendmsg(x->tso_fd, &mh, MSG_DONTWAIT);
	if (k < 0) {
		if (errno == EAGAIN || errno == ENOBUFS || errno == EBUSY)
			return false;
		note_errno(x);
		x->dev.stats.tx_dropped++;
		tn_pkt_free(p);
		return true;
	}
	x->xs.tx_tso++;
	x->dev.stats.tx_packets++;
	x->dev.stats.tx_bytes += p->pkt_len;
	tn_pkt_free(p);
	return true;
}

/* Hand the kernel the frames placed on the tx ring and not yet submitted. */
static void tx_submit(struct axdp *x, unsigned placed, unsigned *submitted)
{
	if (placed > *submitted) {
		xsk_ring_prod__submit(&x->tx, placed - *submitted);
		*submitted = placed;
		tx_kick(x);
	}
}

static unsigned axdp_tx(struct tn_dev *d, struct tn_pkt **pkts, unsigned n)
{
	struct axdp *x = d->priv;
	reclaim(x);
	uint32_t idx, room = xsk_prod_nb_free(&x->tx, n);
	if (room > n)
		room = n;
	unsigned i, placed = 0, submitted = 0;
	if (room && xsk_ring_prod__reserve(&x->tx, room, &idx) != room)
		room = 0;
	for (i = 0; i < room; i++) {
		struct tn_pkt *p = pkts[i];
		if (p->gso_size && x->tso_fd >= 0) {
			/* the frames before it go first: it waits while the ring
			 * still holds any */
			tx_submit(x, placed, &submitted);
			if (*x->tx.consumer != *x->tx.producer || !send_large(x, p))
				break;
			continue;
		}
		if (p->pkt_len > d->mtu + 18u || p->pkt_len > AXDP_FRAME_MAX || p->pkt_len < 14) {
			d->stats.tx_dropped++; /* the stack segments for us: cannot happen */
			tn_pkt_free(p);
			continue;
		}
		uint32_t len = p->pkt_len;
		struct tn_pkt *q = tx_frame(x, p);
		if (!q)
			break;
		struct xdp_desc *desc = xsk_ring_prod__tx_desc(&x->tx, idx + placed);
		desc->addr = (uint64_t)(q->data - x->base);
		desc->len = q->len;
		desc->options = 0;
		x->held[obj_index(x, buf_off(x, q))] = HELD_TX;
		x->ntx++;
		placed++;
		d->stats.tx_packets++;
		d->stats.tx_bytes += len;
	}
	if (room > placed)
		x->tx.cached_prod -= room - placed;
	tx_submit(x, placed, &submitted);
	return i;
}

/* Frames waiting on the rx ring, or a tx ring the kernel has not emptied:
 * poll again now.  Otherwise the link check is due on time. */
static uint64_t axdp_next_event(struct tn_dev *d)
{
	struct axdp *x = d->priv;
	if (x->gone || x->kick_pending || *x->rx.producer != *x->rx.consumer)
		return d->now;
	uint64_t t = tn_rxmod_next(&x->rxmod);
	return t < x->next_check ? t : x->next_check;
}

/* While moderating, the socket stays out of the owner's poll until the
 * window ends (axdp_next_event wakes it then). */
static int axdp_fd(struct tn_dev *d)
{
	struct axdp *x = d->priv;
	return tn_rxmod_holding(&x->rxmod, d->now) ? -1 : x->fd;
}

static void axdp_close(struct axdp *x)
{
	if (x->xsk)
		xsk_socket__delete(x->xsk); /* closed, it leaves the program's map */
	if (x->umem)
		xsk_umem__delete(x->umem);
	x->xsk = NULL;
	x->umem = NULL;
}

static void axdp_destroy(struct tn_dev *d)
{
	struct axdp *x = d->priv;
	axdp_close(x);
	if (x->own_steer)
		tn_xdp_steer_free(x->steer);
	if (x->tso_fd >= 0)
		close(x->tso_fd);
	for (uint32_t i = 0; i < x->mp->size; i++)
		if (x->held[i] != HELD_NONE)
			tn_pkt_free(obj_at(x, i));
	free(x->held);
	free(x);
}

static const struct tn_dev_ops axdp_ops = {
	.rx_burst = axdp_rx,
	.tx_burst = axdp_tx,
	.next_event = axdp_next_event,
	.fd = axdp_fd,
	.destroy = axdp_destroy,
};

/* Index, MAC and MTU of the interface; bring it up if down. */
static int learn_iface(struct axdp *x, const char *ifname, uint32_t *ifmtu)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, ifname, strlen(ifname));
	int rc = -1;
	if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0)
		goto out;
	x->ifindex = ifr.ifr_ifindex;
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		goto out;
	if (ifr.ifr_hwaddr.sa_family != 1 /* ARPHRD_ETHER */) {
		errno = EPROTONOSUPPORT;
		goto out;
	}
	memcpy(x->dev.mac, ifr.ifr_hwaddr.sa_data, 6);
	if (ioctl(fd, SIOCGIFMTU, &ifr) < 0)
		goto out;
	*ifmtu = (uint32_t)ifr.ifr_mtu;
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		goto out;
	if (!(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			goto out;
	}
	rc = 0;
out:;
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/* UMEM over the pool, then the socket, put in the program's map. */
static int try_open(struct axdp *x, const char *ifname)
{
	struct xsk_umem_config uc = {
		.fill_size = x->ring,
		.comp_size = x->ring,
		.frame_size = TN_PKT_BUFSIZE,
		.frame_headroom = 0,
		.flags = XDP_UMEM_UNALIGNED_CHUNK_FLAG,
	};
	int rc = xsk_umem__create(&x->umem, x->base, x->size, &x->fq, &x->cq, &uc);
	if (rc) {
		x->umem = NULL;
		errno = -rc;
		return -1;
	}
	struct xsk_socket_config sc = {
		.rx_size = x->ring,
		.tx_size = x->ring,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD, /* xdp_steer.c's program */
		.bind_flags = XDP_USE_NEED_WAKEUP,
	};
	rc = xsk_socket__create(&x->xsk, ifname, x->queue, x->umem, &x->rx, &x->tx, &sc);
	if (rc) {
		x->xsk = NULL;
		axdp_close(x);
		errno = -rc;
		return -1;
	}
	x->fd = xsk_socket__fd(x->xsk);
	if (tn_xdp_steer_bind(x->steer, x->queue, x->fd) < 0) {
		int saved = errno;
		axdp_close(x);
		errno = saved;
		return -1;
	}
	struct xdp_options opt;
	socklen_t ol = sizeof(opt);
	x->zerocopy = getsockopt(x->fd, SOL_XDP, XDP_OPTIONS, &opt, &ol) == 0 && (opt.flags & XDP_OPTIONS_ZEROCOPY);
	return 0;
}

/* The side socket large segments leave by: AF_PACKET, bound to the
 * interface but to no protocol (so it receives nothing), taking a
 * virtio-net header, past the qdisc as the XDP path is.  -1 if any of it
 * fails: then there is no TSO. */
static int open_tso(int ifindex)
{
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_ifindex = ifindex};
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

struct tn_dev *tn_af_xdp_open(const char *ifname, const struct tn_af_xdp_cfg *cfg, struct tn_mempool *pool)
{
	static const struct tn_af_xdp_cfg defaults;
	if (!cfg)
		cfg = &defaults;
	if (!ifname || !ifname[0] || strlen(ifname) >= IFNAMSIZ || !pool || pool->size < 64 ||
	    (cfg->mtu && (cfg->mtu < AXDP_MTU_MIN || cfg->mtu > AXDP_FRAME_MAX - 18u)) ||
	    (cfg->ring && (cfg->ring < 64 || cfg->ring > 16384 || (cfg->ring & (cfg->ring - 1))))) {
		errno = EINVAL;
		return NULL;
	}
	long page = sysconf(_SC_PAGESIZE);
	if (page <= 0 || (uintptr_t)pool->mem % (uintptr_t)page) {
		errno = EINVAL; /* a UMEM starts on a page */
		return NULL;
	}
	struct axdp *x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->held = calloc(pool->size, 1);
	if (!x->held) {
		free(x);
		return NULL;
	}
	x->mp = pool;
	x->base = pool->mem;
	x->size = (uint64_t)pool->obj_size * pool->size;
	x->queue = cfg->queue;
	x->ring = cfg->ring ? cfg->ring : AXDP_RING;
	tn_rxmod_init(&x->rxmod, cfg->rx_usecs);
	x->fill_max = pool->size / 4 < x->ring ? pool->size / 4 : x->ring;
	x->fd = -1;
	x->tso_fd = -1;
	uint32_t ifmtu = 0;
	int rc = learn_iface(x, ifname, &ifmtu);
	if (rc == 0) {
		uint32_t cap = AXDP_FRAME_MAX - 18u;
		x->dev.mtu = cfg->mtu ? cfg->mtu : ifmtu < cap ? ifmtu : cap;
		if (x->dev.mtu > ifmtu || x->dev.mtu < AXDP_MTU_MIN) {
			errno = EINVAL;
			rc = -1;
		}
	}
	x->steer = cfg->steer;
	if (rc == 0 && !x->steer) {
		struct tn_xdp_steer_cfg sc = {.nqueues = x->queue + 1, .skb_mode = cfg->skb_mode, .drv_mode = cfg->drv_mode};
		x->steer = tn_xdp_steer_new(x->ifindex, &sc);
		x->own_steer = true;
		rc = x->steer ? 0 : -1;
	}
	if (rc == 0)
		rc = try_open(x, ifname);
	if (rc < 0) {
		int saved = errno;
		if (x->own_steer)
			tn_xdp_steer_free(x->steer);
		free(x->held);
		free(x);
		errno = saved;
		return NULL;
	}
	memcpy(x->dev.name, ifname, strlen(ifname) + 1);
	x->dev.ops = &axdp_ops;
	x->dev.priv = x;
	x->dev.framing = TN_DEV_L2;
	x->tso_fd = cfg->no_tso ? -1 : open_tso(x->ifindex);
	x->dev.features = x->tso_fd >= 0 ? TN_DEV_F_TSO : 0;
	refill(x);
	return &x->dev;
}

int tn_af_xdp_link_gone(const struct tn_dev *d)
{
	return d && d->ops == &axdp_ops && ((const struct axdp *)d->priv)->gone;
}

const char *tn_af_xdp_mode(const struct tn_dev *d)
{
	if (!d || d->ops != &axdp_ops)
		return NULL;
	const struct axdp *x = d->priv;
	return tn_xdp_steer_native(x->steer) ? (x->zerocopy ? "native, zero-copy" : "native, copy")
			 : (x->zerocopy ? "generic, zero-copy" : "generic, copy");
}

const struct tn_af_xdp_stats *tn_af_xdp_stats(const struct tn_dev *d)
{
	if (!d || d->ops != &axdp_ops)
		return NULL;
	struct axdp *x = d->priv;
	x->xs.rx_moderated = x->rxmod.moderated; /* kept by rxmod, copied when asked */
	struct tn_xdp_steer_counts c;
	if (tn_xdp_steer_counts(x->steer, &c) == 0) {
		x->xs.xdp_to_tern = c.to_tern;
		x->xs.xdp_to_kernel = c.to_kernel;
		x->xs.xdp_no_socket = c.no_socket;
	}
	return &x->xs;
}

bool tn_af_xdp_built(void) { return true; }

#else /* built without libxdp/libbpf (their -dev packages were missing) */
#include <errno.h>

#include "link/dev.h"

bool tn_af_xdp_built(void) { return false; }

struct tn_dev *tn_af_xdp_open(const char *ifname, const struct tn_af_xdp_cfg *cfg, struct tn_mempool *pool)
{
	errno = ENOTSUP;
	return NULL;
}

int tn_af_xdp_link_gone(const struct tn_dev *d) { return 0; }
const char *tn_af_xdp_mode(const struct tn_dev *d) { return NULL; }
const struct tn_af_xdp_stats *tn_af_xdp_stats(const struct tn_dev *d) { return NULL; }
#endif

/* Counted in sysfs rather than asked of ethtool: its channel counts mean
 * different things to different drivers (veth gives rx and tx, most NICs
 * combined), while queues/rx-N and tx-N are the real counts xsk_bind
 * checks a queue against, for every driver.  It is sysfs as mounted: that
 * of the namespace under `ip netns exec`, which remounts it. */
#include <dirent.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

static int count_queues(const char *ifname, const char *prefix)
{
	char path[64 + IF_NAMESIZE];
	snprintf(path, sizeof(path), "/sys/class/net/%s/queues", ifname);
	DIR *dir = opendir(path);
	if (!dir)
		return -1;
	int n = 0;
	for (struct dirent *e; (e = readdir(dir));)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(dir);
	return n;
}

int tn_af_xdp_queues(const char *ifname)
{
	if (!ifname || !ifname[0] || strlen(ifname) >= IF_NAMESIZE || strchr(ifname, '/'))
		return -1;
	int rx = count_queues(ifname, "rx-"), tx = count_queues(ifname, "tx-");
	return rx <= 0 || tx <= 0 ? -1 : rx < tx ? rx : tx;
}
