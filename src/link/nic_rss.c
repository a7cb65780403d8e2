/* A NIC's receive-side scaling pointed at tern's queues.
 *
 * With AF_XDP, a frame reaches the socket of the queue the NIC put it on
 * (XDP cannot redirect to another queue's socket), so the NIC's RSS
 * decides which core sees a flow first.  tern's cores pick their
 * connections' source ports by the Toeplitz hash under their own key
 * (rss.c), and steer.c moves a frame that arrives on the wrong core: a
 * copy and a wake-up of the other core per frame.  A NIC that computes
 * the same hash with the same key and an indirection table that agrees
 * with tern's puts every frame on its core at once, so we set its key,
 * hash function, hash fields (IPv4 TCP and UDP over both addresses and
 * both ports: many NICs hash UDP on the addresses alone by default) and
 * table, as `ethtool -X IF hkey K hfunc toeplitz equal N` and `ethtool -N
 * IF rx-flow-hash udp4 sdfn` would, and put back what was there when tern
 * stops (not after a SIGKILL: then `ethtool -X IF default`).  A veth or
 * a TAP has no RSS to set; the software steering then does all of it.
 *
 * Through the SIOCETHTOOL ioctl (ETHTOOL_GRSSH/SRSSH, GRXFH/SRXFH): the
 * netlink interface would need a library (libmnl) for the same four
 * requests. */
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "link/nic_rss.h"

#define TN_ETH_RSS_HASH_TOP 1u /* hfunc bit 0: Toeplitz (ETH_RSS_HASH_TOP) */
#define HASH_4TUPLE (RXH_IP_SRC | RXH_IP_DST | RXH_L4_B_0_1 | RXH_L4_B_2_3)

struct tn_nic_rss {
	char ifname[IFNAMSIZ];
	struct ethtool_rxfh *saved; /* hfunc, table and key found */
	uint64_t fields[2];         /* hash fields found for TCP and UDP over IPv4 */
	bool fields_set[2];
};

static const uint32_t flow_types[2] = {TCP_V4_FLOW, UDP_V4_FLOW};

int tn_nic_rss_indir(uint32_t *indir, uint32_t size, unsigned first, unsigned n)
{
	bool pow2 = n && !(n & (n - 1));
	/* the device's entry (hash mod size) must determine (hash mod 128) mod n */
	if (!n || !size || !(size % TN_RSS_RETA_SIZE == 0 || (pow2 && size % n == 0 && TN_RSS_RETA_SIZE % n == 0))) {
		errno = EINVAL;
		return -1;
	}
	for (uint32_t i = 0; i < size; i++)
		indir[i] = first + (i % TN_RSS_RETA_SIZE) % n;
	return 0;
}

static int ethtool(const char *ifname, void *req)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, ifname, strnlen(ifname, IFNAMSIZ - 1));
	ifr.ifr_data = req;
	int rc = ioctl(fd, SIOCETHTOOL, &ifr);
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/* The device's table and key as they are, in one allocation. */
static struct ethtool_rxfh *rxfh_get(const char *ifname)
{
	struct ethtool_rxfh sizes = {.cmd = ETHTOOL_GRSSH};
	if (ethtool(ifname, &sizes) < 0)
		return NULL;
	if (!sizes.indir_size || sizes.indir_size > 65536 || sizes.key_size > 1024) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	size_t len = sizeof(sizes) + sizes.indir_size * sizeof(uint32_t) + sizes.key_size;
	struct ethtool_rxfh *r = calloc(1, len);
	if (!r)
		return NULL;
	*r = sizes;
	r->cmd = ETHTOOL_GRSSH;
	if (ethtool(ifname, r) < 0) {
		int saved = errno;
		free(r);
		errno = saved;
		return NULL;
	}
	return r;
}

static int rxfh_set(const char *ifname, struct ethtool_rxfh *r)
{
	r->cmd = ETHTOOL_SRSSH;
	r->rss_context = 0;
	return ethtool(ifname, r);
}

static int hash_fields(const char *ifname, uint32_t flow, uint64_t *data, bool set)
{
	struct ethtool_rxnfc nfc = {.cmd = set ? ETHTOOL_SRXFH : ETHTOOL_GRXFH, .flow_type = flow, .data = *data};
	int rc = ethtool(ifname, &nfc);
	if (rc == 0 && !set)
		*data = nfc.data;
	return rc;
}

struct tn_nic_rss *tn_nic_rss_take(const char *ifname, const uint8_t key[TN_RSS_KEY_LEN], unsigned first, unsigned n)
{
	struct tn_nic_rss *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	memcpy(r->ifname, ifname, strnlen(ifname, IFNAMSIZ - 1));
	r->saved = rxfh_get(ifname);
	struct ethtool_rxfh *want = NULL;
	int rc = r->saved ? 0 : -1;
	if (rc == 0 && r->saved->key_size < 16) {
		errno = EOPNOTSUPP; /* a 4-tuple's hash needs 16 bytes of key */
		rc = -1;
	}
	size_t len = 0;
	if (rc == 0) {
		len = sizeof(*want) + r->saved->indir_size * sizeof(uint32_t) + r->saved->key_size;
		want = calloc(1, len);
		rc = want ? 0 : -1;
	}
	if (rc == 0) {
		memcpy(want, r->saved, len);
		rc = tn_nic_rss_indir(want->rss_config, want->indir_size, first, n);
	}
	if (rc == 0) {
		/* the key: tern's 40 bytes, zeros after (a longer key's tail
		 * never meets an IPv4 4-tuple), or its first key_size bytes */
		uint8_t *k = (uint8_t *)(want->rss_config + want->indir_size);
		memset(k, 0, want->key_size);
		memcpy(k, key, want->key_size < TN_RSS_KEY_LEN ? want->key_size : TN_RSS_KEY_LEN);
		want->hfunc = TN_ETH_RSS_HASH_TOP;
		rc = rxfh_set(ifname, want);
	}
	for (int i = 0; rc == 0 && i < 2; i++) {
		uint64_t four = HASH_4TUPLE;
		if (hash_fields(ifname, flow_types[i], &r->fields[i], false) == 0 && r->fields[i] != four) {
			r->fields_set[i] = hash_fields(ifname, flow_types[i], &four, true) == 0;
			rc = r->fields_set[i] ? 0 : -1;
		}
	}
	free(want);
	if (rc < 0) {
		int saved = errno;
		tn_nic_rss_restore(r); /* what was set so far */
		errno = saved;
		return NULL;
	}
	return r;
}

void tn_nic_rss_restore(struct tn_nic_rss *r)
{
	if (!r)
		return;
	for (int i = 0; i < 2; i++)
		if (r->fields_set[i])
			hash_fields(r->ifname, flow_types[i], &r->fields[i], true);
	if (r->saved)
		rxfh_set(r->ifname, r->saved);
	free(r->saved);
	free(r);
}
