/* The virtio-net header (struct virtio_net_hdr) that carries checksum and
 * segmentation state with a frame across a TAP (IFF_VNET_HDR) or a packet
 * socket (PACKET_VNET_HDR): shared by tap.c, af_packet.c and af_xdp.c's
 * side socket. */
#include <errno.h>
#include <string.h>

#include "link/vnet.h"

/* Link, IPv4 and TCP header bytes at the front of a large segment, or 0
 * if they are not all in its first buffer. */
static uint32_t frame_hdr_len(const struct tn_pkt *p, uint32_t l2)
{
	const uint8_t *ip = p->data + l2;
	if (p->len < l2 + 20 || (ip[0] >> 4) != 4)
		return 0;
	uint32_t ihl = (uint32_t)(ip[0] & 0xf) * 4;
	if (ihl < 20 || p->len < l2 + ihl + 13)
		return 0;
	return l2 + ihl + (uint32_t)(ip[ihl + 12] >> 4) * 4;
}

uint32_t tn_vnet_l2_len(const struct tn_pkt *p, bool ethernet)
{
	if (!ethernet)
		return 0;
	if (p->len >= 14 && p->data[12] == 0x81 && p->data[13] == 0x00)
		return 18; /* one VLAN tag */
	return 14;
}

/* What the virtio-net header says about a received frame: checksum state
 * and, for a large segment, its segment size.  -1: a kind we did not
 * offer to take. */
int tn_vnet_hdr_take(struct tn_pkt *p, const struct virtio_net_hdr *h, uint32_t l2)
{
	if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
		p->flags |= TN_PKT_CSUM_PARTIAL; /* the kernel vouches for it */
	else if (h->flags & VIRTIO_NET_HDR_F_DATA_VALID)
		p->flags |= TN_PKT_CSUM_OK;
	uint8_t type = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	if (type == VIRTIO_NET_HDR_GSO_NONE)
		return 0;
	if (type != VIRTIO_NET_HDR_GSO_TCPV4 || h->gso_size == 0)
		return -1;
	/* hdr_len is only a hint (Linux puts the skb's linear length there,
	 * which may be the whole frame): find the headers ourselves. */
	uint32_t hdr = frame_hdr_len(p, l2);
	if (!hdr || hdr >= p->pkt_len)
		return -1;
	p->gso_size = h->gso_size;
	p->gso_segs = (uint16_t)((p->pkt_len - hdr + h->gso_size - 1) / h->gso_size);
	return 0;
}

/* The virtio-net header for a frame we send: a partial checksum becomes
 * the kernel's to finish (the field holds the pseudo-header sum, as Linux's
 * CHECKSUM_PARTIAL), a large segment the kernel's to cut up.  -1 if the
 * frame does not hold what its flags promise. */
int tn_vnet_hdr_make(struct tn_pkt *p, struct virtio_net_hdr *h)
{
	memset(h, 0, sizeof(*h));
	if (!(p->flags & TN_PKT_CSUM_PARTIAL))
		return p->gso_size ? -1 : 0;
	uint8_t *ip = p->buf + p->l3_off;
	if (ip < p->data || ip + 20 > p->data + p->len)
		return -1;
	uint32_t l3 = (uint32_t)(ip - p->data), ihl = (uint32_t)(ip[0] & 0xf) * 4;
	uint32_t tot = (uint32_t)ip[2] << 8 | ip[3], field = ip[9] == 6 ? 16 : ip[9] == 17 ? 6 : 0;
	/* The checksum field (and, for a large segment, the TCP header) must
	 * be in the first buffer; a UDP datagram may be as short as 8 bytes. */
	uint32_t need = p->gso_size ? 20 : field + 2;
	if (!field || tot < ihl + need || l3 + ihl + need > p->len || l3 + tot != p->pkt_len)
		return -1;
	uint8_t *l4 = ip + ihl;
	uint32_t sum = (uint32_t)ip[12] << 8 | ip[13];
	sum += (uint32_t)ip[14] << 8 | ip[15];
	sum += (uint32_t)ip[16] << 8 | ip[17];
	sum += (uint32_t)ip[18] << 8 | ip[19];
	sum += ip[9] + (tot - ihl);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	l4[field] = (uint8_t)(sum >> 8);
	l4[field + 1] = (uint8_t)sum;
	h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h->csum_start = (uint16_t)(l3 + ihl);
	h->csum_offset = (uint16_t)field;
	if (p->gso_size && ip[9] == 6) {
		h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
		if (l4[13] & 0x80) /* CWR: the kernel keeps it on the first segment only */
			h->gso_type |= VIRTIO_NET_HDR_GSO_ECN;
		h->gso_size = p->gso_size;
		h->hdr_len = (uint16_t)(l3 + ihl + (uint32_t)(l4[12] >> 4) * 4);
	}
	return 0;
}

int tn_vnet_iov(struct tn_pkt *p, bool with_hdr, struct virtio_net_hdr *h, struct iovec *iov, unsigned max)
{
	unsigned n = 0;
	if (with_hdr) {
		if (max == 0 || tn_vnet_hdr_make(p, h) < 0) {
			errno = EINVAL;
			return -1;
		}
		iov[n++] = (struct iovec){h, sizeof(*h)};
	}
	for (const struct tn_pkt *s = p; s; s = s->next) {
		if (n == max) {
			errno = EMSGSIZE;
			return -1;
		}
		iov[n++] = (struct iovec){s->data, s->len};
	}
	return (int)n;
}
