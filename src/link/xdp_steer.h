/* The XDP program in front of tern's AF_XDP sockets (xdp_steer.c). */
#ifndef TERN_LINK_XDP_STEER_H
#define TERN_LINK_XDP_STEER_H

#include <stdbool.h>
#include <stdint.h>

struct tn_xdp_steer;

struct tn_xdp_steer_cfg {
	/* tern's IPv4 addresses (host order).  None: every frame of a queue
	 * with a socket goes to tern, the rest to the kernel. */
	const uint32_t *addrs;
	unsigned naddrs;
	unsigned nqueues;   /* entries in the socket map: the interface's queues (0: 64) */
	bool skb_mode;      /* generic XDP only */
	bool drv_mode;      /* native XDP only: fail rather than fall back */
};

/* Frames the program has seen, summed over CPUs. */
struct tn_xdp_steer_counts {
	uint64_t to_tern;    /* redirected to a socket */
	uint64_t to_kernel;  /* passed: not tern's */
	uint64_t no_socket;  /* tern's, on a queue no socket of tern's binds: dropped */
};

/* Maps and program, attached to the interface `ifindex` by a BPF link
 * (native XDP, else generic unless cfg says otherwise): closing it, even
 * by the process dying, detaches the program.  ifindex 0 attaches nothing
 * (tests run the program with BPF_PROG_TEST_RUN).  NULL with errno: EPERM
 * without CAP_BPF / CAP_NET_ADMIN, EBUSY if the interface already has an
 * XDP program. */
struct tn_xdp_steer *tn_xdp_steer_new(int ifindex, const struct tn_xdp_steer_cfg *cfg);
void tn_xdp_steer_free(struct tn_xdp_steer *st);

/* Frames of `queue` for tern go to the AF_XDP socket xsk_fd (closing the
 * socket takes it out of the map again). */
int tn_xdp_steer_bind(struct tn_xdp_steer *st, uint32_t queue, int xsk_fd);

/* Add or remove one of tern's addresses (host order) at run time. */
int tn_xdp_steer_addr(struct tn_xdp_steer *st, uint32_t addr, bool add);

bool tn_xdp_steer_native(const struct tn_xdp_steer *st);
/* Steering by address (false: every frame of a bound queue is tern's). */
bool tn_xdp_steer_by_addr(const struct tn_xdp_steer *st);
int tn_xdp_steer_counts(const struct tn_xdp_steer *st, struct tn_xdp_steer_counts *out);
int tn_xdp_steer_prog_fd(const struct tn_xdp_steer *st);

#endif
