/* RSS in the kernel for an AF_PACKET fanout group.
 *
 * With --cores N, tern's stacks share the interface through one
 * PACKET_FANOUT group, and each flow must reach the core whose Toeplitz
 * hash it has (a connection a core opens picks its source port so that
 * its replies hash to that core: rss.c).  PACKET_FANOUT_HASH spreads by
 * the kernel's own flow hash, which knows nothing of Toeplitz, so about
 * half the frames (with two cores) reached the wrong core and the
 * software steering (steer.c) copied them across, with an eventfd
 * wake-up of the other core.  A PACKET_FANOUT_EBPF group instead asks a
 * program which member takes a frame: this one computes the same
 * Toeplitz hash and indirection the steering does, so frames arrive on
 * their core and the steering finds them local.  The steering stays, for
 * what the program does not decide (ARP replies go to every core, pinned
 * ports, ICMP errors quoting a flow) and in case a member's index is not
 * its core (a core restarted joins the group at the end).
 *
 * The key is fixed when the program is built, so the hash is unrolled:
 * for each of the 96 input bits, "if the bit is set, XOR the 32-bit key
 * window it selects" (three instructions a bit, ~300 in all, JIT-compiled
 * by the kernel).  Frames are read with LD_ABS/LD_IND relative to the
 * network header (SKF_NET_OFF), which is where the fanout runs the program
 * whatever the link layer.  Raw bpf(2) (bpf.c): no loader needed. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <stddef.h>
#include <string.h>

#include "link/bpf.h"
#include "link/fanout_bpf.h"

struct emit {
	struct bpf_insn *insn;
	unsigned n;
	unsigned to_drop[8]; /* jumps to "return 0", patched at the end */
	unsigned ndrop;
};

static void put(struct emit *e, uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
	e->insn[e->n++] = (struct bpf_insn){.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};
}

/* A conditional jump (code, against imm) to "return 0". */
static void drop_unless(struct emit *e, uint8_t jmp, uint8_t reg, int32_t imm)
{
	e->to_drop[e->ndrop++] = e->n;
	put(e, BPF_JMP | jmp | BPF_K, reg, 0, 0, imm);
}

/* Key bits [bit, bit + 32): the window input bit `bit` selects. */
static uint32_t key_window(const uint8_t key[TN_RSS_KEY_LEN], unsigned bit)
{
	unsigned i = bit / 8;
	uint64_t v = 0;
	for (unsigned k = 0; k < 5; k++)
		v = v << 8 | key[i + k];
	return (uint32_t)(v >> (8 - bit % 8));
}

/* r0 holds input byte `byte` of the 4-tuple: fold its set bits into w7. */
static void hash_byte(struct emit *e, const uint8_t key[TN_RSS_KEY_LEN], unsigned byte)
{
	for (int b = 7; b >= 0; b--) {
		put(e, BPF_JMP | BPF_JSET | BPF_K, BPF_REG_0, 0, 1, 1 << b); /* set: on to the XOR */
		put(e, BPF_JMP | BPF_JA, 0, 0, 1, 0);
		put(e, BPF_ALU | BPF_XOR | BPF_K, BPF_REG_7, 0, 0,
		    (int32_t)key_window(key, byte * 8 + (unsigned)(7 - b)));
	}
}

unsigned tn_fanout_bpf_build(const uint8_t key[TN_RSS_KEY_LEN], unsigned nqueues, struct bpf_insn *insns)
{
	struct emit e = {.insn = insns};
	const uint8_t R0 = BPF_REG_0, R1 = BPF_REG_1, R6 = BPF_REG_6, R7 = BPF_REG_7, R8 = BPF_REG_8;
	put(&e, BPF_ALU64 | BPF_MOV | BPF_X, R6, R1, 0, 0); /* LD_ABS wants the context in r6 */
	put(&e, BPF_LDX | BPF_MEM | BPF_W, R0, R6, offsetof(struct __sk_buff, protocol), 0);
	drop_unless(&e, BPF_JNE, R0, htons(0x0800)); /* IPv4 */
	put(&e, BPF_LD | BPF_ABS | BPF_B, 0, 0, 0, SKF_NET_OFF);
	put(&e, BPF_ALU64 | BPF_MOV | BPF_X, R8, R0, 0, 0);
	put(&e, BPF_ALU64 | BPF_AND | BPF_K, R8, 0, 0, 15);
	put(&e, BPF_ALU64 | BPF_LSH | BPF_K, R8, 0, 0, 2); /* r8: header length */
	put(&e, BPF_ALU64 | BPF_RSH | BPF_K, R0, 0, 0, 4);
	drop_unless(&e, BPF_JNE, R0, 4);
	drop_unless(&e, BPF_JLT, R8, 20);
	put(&e, BPF_LD | BPF_ABS | BPF_H, 0, 0, 0, SKF_NET_OFF + 6);
	put(&e, BPF_ALU64 | BPF_AND | BPF_K, R0, 0, 0, 0x3fff); /* MF or an offset: a fragment */
	drop_unless(&e, BPF_JNE, R0, 0);
	put(&e, BPF_LD | BPF_ABS | BPF_B, 0, 0, 0, SKF_NET_OFF + 9);
	put(&e, BPF_JMP | BPF_JEQ | BPF_K, R0, 0, 1, 6); /* TCP */
	drop_unless(&e, BPF_JNE, R0, 17);               /* or UDP */
	put(&e, BPF_ALU | BPF_MOV | BPF_K, R7, 0, 0, 0);
	for (unsigned i = 0; i < 8; i++) { /* the addresses */
		put(&e, BPF_LD | BPF_ABS | BPF_B, 0, 0, 0, SKF_NET_OFF + 12 + (int32_t)i);
		hash_byte(&e, key, i);
	}
	for (unsigned i = 0; i < 4; i++) { /* the ports, after the header's options */
		put(&e, BPF_LD | BPF_IND | BPF_B, 0, R8, 0, SKF_NET_OFF + (int32_t)i);
		hash_byte(&e, key, 8 + i);
	}
	put(&e, BPF_ALU | BPF_AND | BPF_K, R7, 0, 0, TN_RSS_RETA_SIZE - 1);
	put(&e, BPF_ALU | BPF_MOD | BPF_K, R7, 0, 0, (int32_t)(nqueues ? nqueues : 1));
	put(&e, BPF_ALU64 | BPF_MOV | BPF_X, R0, R7, 0, 0);
	put(&e, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	unsigned ret0 = e.n;
	put(&e, BPF_ALU64 | BPF_MOV | BPF_K, R0, 0, 0, 0);
	put(&e, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	for (unsigned i = 0; i < e.ndrop; i++)
		insns[e.to_drop[i]].off = (int16_t)(ret0 - e.to_drop[i] - 1);
	return e.n;
}

int tn_fanout_bpf_load(const uint8_t key[TN_RSS_KEY_LEN], unsigned nqueues)
{
	struct bpf_insn insns[TN_FANOUT_BPF_MAX];
	unsigned n = tn_fanout_bpf_build(key, nqueues, insns);
	return tn_bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, 0, insns, n, "tern_rss");
}
