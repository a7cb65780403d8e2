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

struct tap {
	struct tn_dev dev;
	int fd;
	int gone; /* the interface was deleted under us */
};

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
			tn_pkt_free(p);
			if (r < 0 && errno != EAGAIN && errno != EINTR) {
				d->stats.rx_dropped++;
				if (errno == EBADFD || errno == EIO || errno == ENODEV)
					t->gone = 1;
			}
			break;
		}
		tn_pkt_put(p, (uint32_t)r);
		d->stats.rx_packets++;
		d->stats.rx_bytes += (uint64_t)r;
		pkts[got++] = p;
	}
	return got;
}

static unsigned tap_tx(struct tn_dev *d, struct tn_pkt **pkts, unsigned n)
{
	struct tap *t = d->priv;
	unsigned i;
	for (i = 0; i < n; i++) {
		struct tn_pkt *p = pkts[i];
		struct iovec iov[16];
		int cnt = 0;
		for (struct tn_pkt *s = p; s && cnt < 16; s = s->next)
			iov[cnt++] = (struct iovec){s->data, s->len};
		ssize_t w = writev(t->fd, iov, cnt);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			break; /* kernel queue full: the caller keeps the rest */
		if (w < 0) {
			d->stats.tx_dropped++;
			if (errno == EBADFD || errno == ENODEV)
				t->gone = 1;
		} else {
			d->stats.tx_packets++;
			d->stats.tx_bytes += (uint64_t)w;
		}
		tn_pkt_free(p);
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

/* Bring the kernel side up with the MTU we will use. */
static int link_up(const char *ifname, uint32_t mtu)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	struct ifreq ifr = {0};
	memcpy(ifr.ifr_name, ifname, strnlen(ifname, IFNAMSIZ - 1));
	ifr.ifr_mtu = (int)mtu;
	int rc = ioctl(s, SIOCSIFMTU, &ifr);
	if (rc == 0)
		rc = ioctl(s, SIOCGIFFLAGS, &ifr);
	if (rc == 0) {
		ifr.ifr_flags |= IFF_UP;
		rc = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	int saved = errno;
	close(s);
	errno = saved;
	return rc;
}

struct tn_dev *tn_tap_open(const char *ifname, enum tn_dev_framing framing, uint32_t mtu)
{
	if (!ifname || strlen(ifname) >= IFNAMSIZ) {
		errno = EINVAL;
		return NULL;
	}
	if (!mtu)
		mtu = 1500;
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct ifreq ifr = {0};
	ifr.ifr_flags = (short)((framing == TN_DEV_L2 ? IFF_TAP : IFF_TUN) | IFF_NO_PI);
	memcpy(ifr.ifr_name, ifname, strlen(ifname));
	struct tap *t = calloc(1, sizeof(*t));
	if (!t || ioctl(fd, TUNSETIFF, &ifr) < 0 || link_up(ifname, mtu) < 0) {
		int saved = errno;
		free(t);
		close(fd);
		errno = saved;
		return NULL;
	}
	t->fd = fd;
	t->dev.ops = &tap_ops;
	t->dev.priv = t;
	t->dev.framing = framing;
	t->dev.mtu = mtu;
	memcpy(t->dev.name, ifname, strlen(ifname) + 1);
	/* Our own MAC, distinct from the kernel side's: random, locally administered. */
	if (getrandom(t->dev.mac, 6, 0) != 6)
		memset(t->dev.mac, 0x5a, 6);
	t->dev.mac[0] = (uint8_t)((t->dev.mac[0] & 0xfc) | 0x02);
	return &t->dev;
}

int tn_tap_link_gone(const struct tn_dev *d)
{
	return d->ops == &tap_ops && ((const struct tap *)d->priv)->gone;
}
