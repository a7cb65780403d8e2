/* The XDP program in front of tern's AF_XDP sockets.
 *
 * tern usually shares an interface with the kernel: on a NIC the kernel
 * keeps its own address (ssh, the management network), tern has others.
 * So the program sends a frame to tern's socket for its receive queue
 * only if it is tern's: an IPv4 packet to one of tern's addresses, or an
 * ARP packet whose target address is one of them (requests for tern's
 * address, replies to tern's own requests), under at most two VLAN tags.
 * Everything else (the kernel's addresses, broadcasts and multicast,
 * IPv6, LLDP) passes to the kernel's stack as if tern were not there.
 * With no address given (a host that learns its address later) it sends
 * every frame of a queue with a socket to tern, as libxdp's default
 * program did before it.
 *
 * A frame of tern's arriving on a queue that no socket of tern's binds is
 * dropped and counted (no_socket): passed, the kernel has no such address
 * and would drop it too, or with forwarding on route it back out.  Which
 * queue a frame takes is the NIC's choice (its RSS), and XDP can only
 * redirect to the socket of the queue the frame arrived on, so steering
 * to a core is the NIC's (ethtool -X) or, after, steer.c's.
 *
 * Maps: a hash of tern's addresses (4-byte keys, as on the wire), the
 * XSKMAP of sockets by queue, and per-CPU counters (no atomics on the
 * per-frame path).  The program is a few dozen instructions emitted here
 * and loaded by raw bpf(2) (bpf.c), as tcx.c and fanout_bpf.c are; the
 * AF_XDP sockets are made by libxdp with its own program load inhibited.
 * It is attached through a BPF link (BPF_LINK_CREATE, BPF_XDP): the link
 * is a file descriptor, so the program goes when tern exits, even by
 * SIGKILL, where libxdp's attachment stayed behind a killed process and
 * made the next start fail. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "link/bpf.h"
#include "link/xdp_steer.h"

#define STEER_MAX_ADDRS 64
#define STEER_MAX_INSNS 96
enum { COUNT_TERN, COUNT_KERNEL, COUNT_NO_SOCKET, COUNT_N };

struct tn_xdp_steer {
	int xskmap, addrs, counts, prog, link;
	unsigned ncpus; /* possible CPUs: a per-CPU map's values per key */
	bool native, by_addr;
};

struct emit {
	struct bpf_insn *in;
	unsigned n;
	unsigned to_pass[16]; /* forward jumps to "pass to the kernel", patched last */
	unsigned npass;
};

static void put(struct emit *e, uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
	e->in[e->n++] = (struct bpf_insn){.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};
}

static void ld_map(struct emit *e, uint8_t dst, int map)
{
	put(e, BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_MAP_FD, 0, map);
	put(e, 0, 0, 0, 0, 0);
}

/* if (reg op imm) goto pass */
static void pass_if(struct emit *e, uint8_t op, uint8_t reg, int32_t imm)
{
	e->to_pass[e->npass++] = e->n;
	put(e, BPF_JMP | op | BPF_K, reg, 0, 0, imm);
}

/* if (base + len > data_end, in r3) goto pass: the verifier's bounds check */
static void need(struct emit *e, uint8_t base, int32_t len)
{
	put(e, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_5, base, 0, 0);
	put(e, BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_5, 0, 0, len);
	e->to_pass[e->npass++] = e->n;
	put(e, BPF_JMP | BPF_JGT | BPF_X, BPF_REG_5, BPF_REG_3, 0, 0);
}

/* counts[slot]++ on this CPU, then return r7 (the action). */
static void count_and_exit(struct emit *e, int counts, int slot)
{
	put(e, BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, -8, slot);
	ld_map(e, BPF_REG_1, counts);
	put(e, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0);
	put(e, BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -8);
	put(e, BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem);
	put(e, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 3, 0);
	put(e, BPF_LDX | BPF_MEM | BPF_DW, BPF_REG_1, BPF_REG_0, 0, 0);
	put(e, BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_1, 0, 0, 1);
	put(e, BPF_STX | BPF_MEM | BPF_DW, BPF_REG_0, BPF_REG_1, 0, 0);
	put(e, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_0, BPF_REG_7, 0, 0);
	put(e, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

/* r0 = bpf_redirect_map(xskmap, ctx->rx_queue_index, miss), counted:
 * to_tern if it went, else `miss_slot`. */
static void redirect(struct emit *e, const struct tn_xdp_steer *st, int32_t miss, int miss_slot)
{
	ld_map(e, BPF_REG_1, st->xskmap);
	put(e, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_6, offsetof(struct xdp_md, rx_queue_index), 0);
	put(e, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_3, 0, 0, miss);
	put(e, BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_redirect_map);
	put(e, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_7, BPF_REG_0, 0, 0);
	unsigned at = e->n;
	put(e, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_7, 0, 0, miss);
	count_and_exit(e, st->counts, COUNT_TERN);
	e->in[at].off = (int16_t)(e->n - at - 1);
	count_and_exit(e, st->counts, miss_slot);
}

/* The address a frame is for, into r1: IPv4's destination or ARP's
 * target; anything else, or too short, to pass. */
static void frame_addr(struct emit *e)
{
	const uint8_t R0 = BPF_REG_0, R1 = BPF_REG_1, R2 = BPF_REG_2, R3 = BPF_REG_3;
	put(e, BPF_LDX | BPF_MEM | BPF_W, R2, BPF_REG_6, offsetof(struct xdp_md, data), 0);
	put(e, BPF_LDX | BPF_MEM | BPF_W, R3, BPF_REG_6, offsetof(struct xdp_md, data_end), 0);
	need(e, R2, 14);
	put(e, BPF_LDX | BPF_MEM | BPF_H, R0, R2, 12, 0);
	for (int tag = 0; tag < 2; tag++) { /* 802.1Q, 802.1ad: step over the tag */
		put(e, BPF_JMP | BPF_JEQ | BPF_K, R0, 0, 1, htons(0x8100));
		put(e, BPF_JMP | BPF_JNE | BPF_K, R0, 0, 5, htons(0x88a8));
		put(e, BPF_ALU64 | BPF_ADD | BPF_K, R2, 0, 0, 4);
		need(e, R2, 14);
		put(e, BPF_LDX | BPF_MEM | BPF_H, R0, R2, 12, 0);
	}
	unsigned arp = e->n;
	put(e, BPF_JMP | BPF_JNE | BPF_K, R0, 0, 0, htons(0x0800));
	need(e, R2, 14 + 20);
	put(e, BPF_LDX | BPF_MEM | BPF_W, R1, R2, 14 + 16, 0);
	unsigned done = e->n;
	put(e, BPF_JMP | BPF_JA, 0, 0, 0, 0);
	e->in[arp].off = (int16_t)(e->n - arp - 1);
	pass_if(e, BPF_JNE, R0, htons(0x0806));
	need(e, R2, 14 + 28);
	put(e, BPF_LDX | BPF_MEM | BPF_H, R0, R2, 14 + 4, 0); /* hardware and protocol address lengths */
	pass_if(e, BPF_JNE, R0, htons(0x0604));
	put(e, BPF_LDX | BPF_MEM | BPF_W, R1, R2, 14 + 24, 0);
	e->in[done].off = (int16_t)(e->n - done - 1);
}

static unsigned build(const struct tn_xdp_steer *st, struct bpf_insn *insns)
{
	struct emit e = {.in = insns};
	put(&e, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_6, BPF_REG_1, 0, 0);
	if (!st->by_addr) {
		redirect(&e, st, XDP_PASS, COUNT_KERNEL);
		return e.n;
	}
	frame_addr(&e);
	put(&e, BPF_STX | BPF_MEM | BPF_W, BPF_REG_10, BPF_REG_1, -4, 0);
	ld_map(&e, BPF_REG_1, st->addrs);
	put(&e, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0);
	put(&e, BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -4);
	put(&e, BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem);
	pass_if(&e, BPF_JEQ, BPF_REG_0, 0);
	redirect(&e, st, XDP_DROP, COUNT_NO_SOCKET);
	for (unsigned i = 0; i < e.npass; i++)
		insns[e.to_pass[i]].off = (int16_t)(e.n - e.to_pass[i] - 1);
	put(&e, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_7, 0, 0, XDP_PASS);
	count_and_exit(&e, st->counts, COUNT_KERNEL);
	return e.n;
}

static int attach(struct tn_xdp_steer *st, int ifindex, uint32_t mode)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.link_create.prog_fd = (uint32_t)st->prog;
	a.link_create.target_ifindex = (uint32_t)ifindex;
	a.link_create.attach_type = BPF_XDP;
	a.link_create.flags = mode;
	st->link = tn_bpf(BPF_LINK_CREATE, &a);
	st->native = mode == XDP_FLAGS_DRV_MODE;
	return st->link < 0 ? -1 : 0;
}

/* The kernel fills one value per possible CPU, not per online one. */
static unsigned possible_cpus(void)
{
	FILE *f = fopen("/sys/devices/system/cpu/possible", "r");
	unsigned lo = 0, hi = 0;
	int got = f ? fscanf(f, "%u-%u", &lo, &hi) : 0;
	if (f)
		fclose(f);
	if (got == 1)
		hi = lo;
	return got >= 1 && hi < 65536 ? hi + 1 : 4096;
}

struct tn_xdp_steer *tn_xdp_steer_new(int ifindex, const struct tn_xdp_steer_cfg *cfg)
{
	static const struct tn_xdp_steer_cfg none;
	if (!cfg)
		cfg = &none;
	if (cfg->naddrs > STEER_MAX_ADDRS || (cfg->naddrs && !cfg->addrs)) {
		errno = EINVAL;
		return NULL;
	}
	struct tn_xdp_steer *st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	st->xskmap = st->addrs = st->counts = st->prog = st->link = -1;
	st->by_addr = cfg->naddrs > 0;
	st->ncpus = possible_cpus();
	st->xskmap = tn_bpf_map_create(BPF_MAP_TYPE_XSKMAP, 4, 4, cfg->nqueues ? cfg->nqueues : 64, "tern_xsks");
	st->addrs = tn_bpf_map_create(BPF_MAP_TYPE_HASH, 4, 4, STEER_MAX_ADDRS, "tern_addrs");
	st->counts = tn_bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, COUNT_N, "tern_counts");
	int rc = st->xskmap < 0 || st->addrs < 0 || st->counts < 0 ? -1 : 0;
	for (unsigned i = 0; rc == 0 && i < cfg->naddrs; i++)
		rc = tn_xdp_steer_addr(st, cfg->addrs[i], true);
	if (rc == 0) {
		struct bpf_insn insns[STEER_MAX_INSNS];
		unsigned n = build(st, insns);
		st->prog = tn_bpf_prog_load(BPF_PROG_TYPE_XDP, BPF_XDP, insns, n, "tern_steer");
		rc = st->prog < 0 ? -1 : 0;
	}
	if (rc == 0 && ifindex > 0) {
		/* native XDP first (unless generic is asked for), then generic */
		rc = cfg->skb_mode ? -1 : attach(st, ifindex, XDP_FLAGS_DRV_MODE);
		if (rc < 0 && !cfg->drv_mode && errno != EBUSY)
			rc = attach(st, ifindex, XDP_FLAGS_SKB_MODE);
	}
	if (rc < 0) {
		int saved = errno;
		tn_xdp_steer_free(st);
		errno = saved;
		return NULL;
	}
	return st;
}

void tn_xdp_steer_free(struct tn_xdp_steer *st)
{
	if (!st)
		return;
	int fds[] = {st->link, st->prog, st->xskmap, st->addrs, st->counts};
	for (unsigned i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(st);
}

int tn_xdp_steer_bind(struct tn_xdp_steer *st, uint32_t queue, int xsk_fd)
{
	return tn_bpf_map_update(st->xskmap, &queue, &xsk_fd);
}

int tn_xdp_steer_addr(struct tn_xdp_steer *st, uint32_t addr, bool add)
{
	uint32_t key = htonl(addr), one = 1; /* the key as the frame has it */
	return add ? tn_bpf_map_update(st->addrs, &key, &one) : tn_bpf_map_delete(st->addrs, &key);
}

bool tn_xdp_steer_native(const struct tn_xdp_steer *st) { return st->native; }
bool tn_xdp_steer_by_addr(const struct tn_xdp_steer *st) { return st->by_addr; }
int tn_xdp_steer_prog_fd(const struct tn_xdp_steer *st) { return st->prog; }

int tn_xdp_steer_counts(const struct tn_xdp_steer *st, struct tn_xdp_steer_counts *out)
{
	unsigned ncpu = st->ncpus;
	uint64_t *v = calloc(ncpu, sizeof(*v));
	uint64_t sum[COUNT_N] = {0};
	if (!v)
		return -1;
	for (uint32_t slot = 0; slot < COUNT_N; slot++) {
		memset(v, 0, ncpu * sizeof(*v));
		if (tn_bpf_map_lookup(st->counts, &slot, v) < 0) {
			free(v);
			return -1;
		}
		for (unsigned c = 0; c < ncpu; c++)
			sum[slot] += v[c];
	}
	free(v);
	*out = (struct tn_xdp_steer_counts){sum[COUNT_TERN], sum[COUNT_KERNEL], sum[COUNT_NO_SOCKET]};
	return 0;
}
