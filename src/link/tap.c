/* Linux TAP (Ethernet) and TUN (raw IP) devices through /dev/net/tun. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "link/dev.h"

/* A frame is read into one data room, so the MTU must leave room for the
 * Ethernet header and one VLAN tag the kernel side may add: a larger frame
 * would come back silently truncated. */
#define TAP_L2_OVERHEAD 18u
#define TAP_MTU_MIN 68u
#define TAP_MTU_DEFAULT 1500u
/* A chained frame is written with one writev; MTU-sized frames need a
 * couple of segments at most, so a longer chain is a bug upstream. */
#define TAP_MAX_SEGS 64
/* The kernel answers EBADFD at once when the interface is deleted; EIO
 * alone may be a passing state, so only a run of them means the link is gone. */
#define TAP_EIO_GONE 8u

struct tap {
	struct tn_dev dev;
	int fd;
	uint32_t eio_run; /* consecutive reads that failed with EIO */
	int gone;         /* the interface was deleted under us */
};

static const struct tn_dev_ops tap_ops;

/* Classify a failed read: EAGAIN/EINTR just end the burst; anything else is
 * counted, and the errors a detached tun file gives mark the link gone. */
static void rx_error(struct tap *t, int err)
{
	if (err == EAGAIN || err == EINTR)
		return;
	t->dev.stats.rx_dropped++;
	if (err == EIO && ++t->eio_run >= TAP_EIO_GONE)
		t->gone = 1;
	if (err == EBADFD || err == ENODEV)
		t->gone = 1;
}

static unsigned tap_rx(struct tn_dev *d, struct tn_mempool *mp, struct tn_pkt **pkts, unsigned n)
{
	struct tap *t = d->priv;
	unsigned got = 0;
	while (got < n) {
		struct tn_pkt *p = tn_pkt_alloc(mp);
		if (!p)
			break;
		ssize_t r = read(t->fd, p->data, TN_PKT_DATAROOM);
		if (r <= 0) {
			if (r < 0)
				rx_error(t, errno);
			tn_pkt_free(p);
			break;
		}
		t->eio_run = 0;
		tn_pkt_put(p, (uint32_t)r); /* r <= TN_PKT_DATAROOM == tailroom of a fresh packet */
		d->stats.rx_packets++;
		d->stats.rx_bytes += (uint64_t)r;
		pkts[got++] = p;
	}
	return got;
}

/* Write one frame; returns the write() result, -1 with errno. */
static ssize_t write_frame(int fd, const struct tn_pkt *p)
{
	if (!p->next)
		return write(fd, p->data, p->len);
	struct iovec iov[TAP_MAX_SEGS];
	int cnt = 0;
	for (const struct tn_pkt *s = p; s; s = s->next) {
		if (cnt == TAP_MAX_SEGS) {
			errno = EMSGSIZE;
			return -1;
		}
		iov[cnt++] = (struct iovec){s->data, s->len};
	}
	return writev(fd, iov, cnt);
}

static unsigned tap_tx(struct tn_dev *d, struct tn_pkt **pkts, unsigned n)
{
	struct tap *t = d->priv;
	unsigned i;
	for (i = 0; i < n; i++) {
		ssize_t w = write_frame(t->fd, pkts[i]);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			break; /* kernel queue full: the caller keeps the rest */
		if (w < 0) {
			/* EIO while the link is down, EINVAL for a frame the
			 * kernel refuses: that frame is lost, the burst goes on. */
			d->stats.tx_dropped++;
			if (errno == EBADFD || errno == ENODEV)
				t->gone = 1;
		} else {
			d->stats.tx_packets++;
			d->stats.tx_bytes += (uint64_t)w;
		}
		tn_pkt_free(pkts[i]);
	}
	return i;
}

static int tap_fd(struct tn_dev *d) { return ((struct tap *)d->priv)->fd; }

static void tap_destroy(struct tn_dev *d)
{
	struct tap *t = d->priv;
	close(t->fd);
	free(t);
}

static const struct tn_dev_ops tap_ops = {
	.rx_burst = tap_rx,
	.tx_burst = tap_tx,
	.fd = tap_fd,
	.destroy = tap_destroy,
};

static int ifr_ioctl(int s, unsigned long req, const char *ifname, struct ifreq *ifr)
{
	memcpy(ifr->ifr_name, ifname, strnlen(ifname, IFNAMSIZ - 1));
	return ioctl(s, req, ifr);
}

/* Bring the kernel side up with the MTU we will use, and learn its MAC
 * (kmac, left zero for TUN) so that ours can differ from it. */
static int link_up(const char *ifname, uint32_t mtu, uint8_t kmac[6])
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	struct ifreq ifr = {0};
	ifr.ifr_mtu = (int)mtu;
	int rc = ifr_ioctl(s, SIOCSIFMTU, ifname, &ifr);
	if (rc == 0) {
		memset(&ifr, 0, sizeof(ifr));
		rc = ifr_ioctl(s, SIOCGIFFLAGS, ifname, &ifr);
	}
	if (rc == 0) {
		ifr.ifr_flags |= IFF_UP;
		rc = ifr_ioctl(s, SIOCSIFFLAGS, ifname, &ifr);
	}
	memset(&ifr, 0, sizeof(ifr));
	if (rc == 0 && ifr_ioctl(s, SIOCGIFHWADDR, ifname, &ifr) == 0)
		memcpy(kmac, ifr.ifr_hwaddr.sa_data, 6);
	int saved = errno;
	close(s);
	errno = saved;
	return rc;
}

/* A random locally administered unicast MAC that is not the kernel side's
 * (equal ones would make the kernel drop our frames as its own echo). */
static void pick_mac(uint8_t mac[6], const uint8_t kmac[6])
{
	if (getrandom(mac, 6, 0) != 6) {
		/* No entropy: derive from the kernel's (itself random) MAC. */
		memcpy(mac, kmac, 6);
		mac[5] ^= 0x01;
	}
	mac[0] = (uint8_t)((mac[0] & 0xfc) | 0x02);
	if (memcmp(mac, kmac, 6) == 0)
		mac[5] ^= 0x01;
}

static bool mtu_fits(enum tn_dev_framing framing, uint32_t mtu)
{
	uint32_t max = framing == TN_DEV_L2 ? TN_PKT_DATAROOM - TAP_L2_OVERHEAD : TN_PKT_DATAROOM;
	return mtu >= TAP_MTU_MIN && mtu <= max;
}

/* Attach fd to the interface; the kernel writes back the name it chose
 * (a pattern like "tap%d" becomes "tap0"). */
static int attach(int fd, const char *ifname, enum tn_dev_framing framing, char name[IFNAMSIZ])
{
	struct ifreq ifr = {0};
	ifr.ifr_flags = (short)((framing == TN_DEV_L2 ? IFF_TAP : IFF_TUN) | IFF_NO_PI);
	memcpy(ifr.ifr_name, ifname, strlen(ifname));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return -1;
	memcpy(name, ifr.ifr_name, IFNAMSIZ);
	name[IFNAMSIZ - 1] = '\0';
	return 0;
}

struct tn_dev *tn_tap_open(const char *ifname, enum tn_dev_framing framing, uint32_t mtu)
{
	if (!mtu)
		mtu = TAP_MTU_DEFAULT;
	if (!ifname || !ifname[0] || strlen(ifname) >= IFNAMSIZ || !mtu_fits(framing, mtu)) {
		errno = EINVAL;
		return NULL;
	}
	struct tap *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	uint8_t kmac[6] = {0};
	t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (t->fd < 0 || attach(t->fd, ifname, framing, t->dev.name) < 0 ||
	    link_up(t->dev.name, mtu, kmac) < 0) {
		int saved = errno;
		if (t->fd >= 0)
			close(t->fd);
		free(t);
		errno = saved;
		return NULL;
	}
	t->dev.ops = &tap_ops;
	t->dev.priv = t;
	t->dev.framing = framing;
	t->dev.mtu = mtu;
	pick_mac(t->dev.mac, kmac);
	return &t->dev;
}

int tn_tap_link_gone(const struct tn_dev *d)
{
	return d && d->ops == &tap_ops && ((const struct tap *)d->priv)->gone;
}
