/* tern's additions to the packetdrill interface (libtern-packetdrill.so).
 *
 * Counters of the interface itself are read with getsockopt on descriptor
 * -1 at level TERN_PD_SOL, into a uint64_t: packetdrill never passes -1,
 * and the library exports nothing but packetdrill_interface_init.
 */
#ifndef TERN_PD_EXT_H
#define TERN_PD_EXT_H

#define TERN_PD_SOL 0x7465726e /* "tern" */

enum tern_pd_counter {
	TERN_PD_IPV6_REFUSED = 1, /* netdev_send of an IPv6 packet: -1, EAFNOSUPPORT */
	TERN_PD_BAD_INPUT,        /* netdev_send refused otherwise (empty, too long, not IP) */
	TERN_PD_INJECTED,         /* packets netdev_send passed to the stack */
	TERN_PD_SENT,             /* packets the stack sent (queued for netdev_receive) */
	TERN_PD_OUT_DROPPED,      /* sent packets dropped: the outbound queue was full */
	TERN_PD_OUT_TRUNCATED,    /* packets longer than netdev_receive's buffer */
	TERN_PD_BLOCK_GAVE_UP,    /* blocking calls that returned EAGAIN: the stack was idle */
	TERN_PD_SETTLE_TIMEOUTS,  /* waits for a blocked thread that ran out of real time */
};

#endif
