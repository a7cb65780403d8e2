/* RSS in the kernel for an AF_PACKET fanout group (fanout_bpf.c). */
#ifndef TERN_LINK_FANOUT_BPF_H
#define TERN_LINK_FANOUT_BPF_H

#include <stdint.h>

#include "core/rss.h"

/* Load a socket-filter program that, run as a PACKET_FANOUT_EBPF group's
 * demultiplexer, returns the queue the software steering would pick for
 * an IPv4 TCP or UDP frame that is not a fragment:
 * tn_rss_queue(tn_rss_hash_v4(key, src, dst, sport, dport), nqueues);
 * 0 for any other frame (steering's "core 0, not a flow").  Returns the
 * program's file descriptor, or -1 with errno (EPERM without CAP_BPF). */
int tn_fanout_bpf_load(const uint8_t key[TN_RSS_KEY_LEN], unsigned nqueues);

/* Build the program into insns (at most TN_FANOUT_BPF_MAX); returns the
 * instruction count.  Exposed for the loader and its test. */
#define TN_FANOUT_BPF_MAX 512u
struct bpf_insn;
unsigned tn_fanout_bpf_build(const uint8_t key[TN_RSS_KEY_LEN], unsigned nqueues, struct bpf_insn *insns);

#endif
