/* A NIC's receive-side scaling pointed at tern's queues (nic_rss.c). */
#ifndef TERN_LINK_NIC_RSS_H
#define TERN_LINK_NIC_RSS_H

#include <stdint.h>

#include "core/rss.h"

struct tn_nic_rss;

/* Fill a device indirection table of `size` entries so that the device,
 * taking entry (hash mod size), picks first + tn_rss_queue(hash, n) for
 * every hash: the queue tern's software steering picks.  -1 (EINVAL) if
 * no table of that size can (size neither a multiple of
 * TN_RSS_RETA_SIZE nor, with n a power of two, of n). */
int tn_nic_rss_indir(uint32_t *indir, uint32_t size, unsigned first, unsigned n);

/* Set the interface's RSS to the Toeplitz hash under `key`, over the
 * IPv4 TCP and UDP 4-tuple, with the indirection table above, so the
 * NIC puts each flow on the queue of the core that owns it.  Returns
 * what it replaced, to restore; NULL with errno: EOPNOTSUPP where the
 * device has no settable RSS (a veth, a TAP), EINVAL where its table
 * cannot match tern's. */
struct tn_nic_rss *tn_nic_rss_take(const char *ifname, const uint8_t key[TN_RSS_KEY_LEN], unsigned first, unsigned n);

/* Put back the hash, key, table and hash fields found; frees. */
void tn_nic_rss_restore(struct tn_nic_rss *r);

#endif
