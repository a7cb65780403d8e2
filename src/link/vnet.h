/* virtio-net headers for drivers whose kernel side speaks them (TAP,
 * AF_PACKET): what a received header says about a frame, and the header
 * for a frame we send. */
#ifndef TN_VNET_H
#define TN_VNET_H

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/pkt.h"

/* Bytes of link header in front of the IP header of a received frame:
 * 0 for an L3 device, 14 for Ethernet, 18 with one VLAN tag. */
uint32_t tn_vnet_l2_len(const struct tn_pkt *p, bool ethernet);
/* Set p's checksum flags and, for a large TCP segment, gso_size/gso_segs
 * from a received header (the header length is found in the frame, after
 * l2 bytes of link header, not taken from hdr_len).  -1: a kind we did not
 * offer to take. */
int tn_vnet_hdr_take(struct tn_pkt *p, const struct virtio_net_hdr *h, uint32_t l2);
/* Fill h for sending p: a partial checksum (TN_PKT_CSUM_PARTIAL) left to
 * the kernel, a large segment (gso_size) to be cut up by it.  Writes the
 * pseudo-header sum into p's checksum field.  -1 if p does not hold what
 * its flags promise. */
int tn_vnet_hdr_make(struct tn_pkt *p, struct virtio_net_hdr *h);
/* The iovecs that send p whole: with_hdr, its virtio-net header first
 * (made into *h), then each of its buffers; at most max of them.  The
 * count, or -1 with errno EINVAL (no header can be made) or EMSGSIZE
 * (more buffers than fit): a frame is never sent cut short. */
int tn_vnet_iov(struct tn_pkt *p, bool with_hdr, struct virtio_net_hdr *h, struct iovec *iov, unsigned max);

#endif
