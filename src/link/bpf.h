/* Raw bpf(2) for the few small programs tern builds itself (tcx.c,
 * fanout_bpf.c, xdp_steer.c): each is a handful of instructions emitted in
 * C, so no ELF loader is needed, and Debian 12's libbpf predates some of
 * what they use (tcx links). */
#ifndef TERN_LINK_BPF_H
#define TERN_LINK_BPF_H

#include <stdint.h>

struct bpf_insn;
union bpf_attr;

/* bpf(cmd, attr): the syscall, -1 with errno on failure. */
int tn_bpf(int cmd, union bpf_attr *attr);

/* Load n instructions as a program of `type` (enum bpf_prog_type) named
 * `name` (at most 15 characters), for the attach point `attach` (enum
 * bpf_attach_type, 0 where the type has only one).  Returns its descriptor, or -1 with
 * errno (EPERM without CAP_BPF). */
int tn_bpf_prog_load(uint32_t type, uint32_t attach, const struct bpf_insn *insns, unsigned n, const char *name);

/* A map of `type` (enum bpf_map_type); descriptor or -1 with errno. */
int tn_bpf_map_create(uint32_t type, uint32_t key_size, uint32_t value_size, uint32_t max_entries, const char *name);

/* map[key] = value (BPF_ANY); 0 or -1 with errno. */
int tn_bpf_map_update(int map, const void *key, const void *value);

/* map[key] removed; 0 or -1 with errno (ENOENT if it was not there). */
int tn_bpf_map_delete(int map, const void *key);

/* value = map[key]; 0 or -1 with errno. */
int tn_bpf_map_lookup(int map, const void *key, void *value);

#endif
