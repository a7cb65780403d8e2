/* Cut the kernel's own receive path on an interface tern owns.
 *
 * An AF_PACKET socket gets a copy of every frame, but the kernel still
 * runs each one up its own stack too: with no address on the interface,
 * ip_rcv and a route lookup only to drop it (IpInAddrErrors).  On the
 * veth flood that was 700 of the 1,900-2,100 ns of softirq per frame.
 * Packet taps run before the ingress hook in __netif_receive_skb_core,
 * so a program there that drops everything leaves tern its copy and the
 * kernel nothing more to do.
 *
 * The program (two instructions: return TC_ACT_SHOT) is attached through
 * tcx (BPF_LINK_CREATE with BPF_TCX_INGRESS, Linux 6.6 and later): a link
 * owned by a file descriptor, so it goes when tern exits, even by
 * SIGKILL, and leaves no qdisc or filter behind as a clsact filter would.
 * Raw bpf(2) calls (bpf.c) rather than libbpf: Debian 12's libbpf and headers
 * predate tcx, and two instructions need no loader. */
#include <errno.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "link/bpf.h"
#include "link/tcx.h"

#define TN_BPF_TCX_INGRESS 46 /* enum bpf_attach_type, Linux 6.6 */
#define TN_TC_ACT_SHOT 2

int tn_tcx_drop_ingress(int ifindex)
{
	const struct bpf_insn prog[] = {
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = TN_TC_ACT_SHOT},
		{.code = BPF_JMP | BPF_EXIT},
	};
	int prog_fd = tn_bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, 0, prog, sizeof(prog) / sizeof(prog[0]), "tern_kern_drop");
	if (prog_fd < 0)
		return -1;
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.link_create.prog_fd = (uint32_t)prog_fd;
	a.link_create.target_ifindex = (uint32_t)ifindex;
	a.link_create.attach_type = TN_BPF_TCX_INGRESS;
	int link_fd = tn_bpf(BPF_LINK_CREATE, &a);
	int saved = errno;
	close(prog_fd); /* the link holds the program */
	errno = saved;
	return link_fd;
}
