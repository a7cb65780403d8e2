/* Raw bpf(2) helpers (bpf.h). */
#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "link/bpf.h"

int tn_bpf(int cmd, union bpf_attr *attr)
{
	return (int)syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static void set_name(char dst[BPF_OBJ_NAME_LEN], const char *name)
{
	size_t n = name ? strlen(name) : 0;
	memcpy(dst, name, n < BPF_OBJ_NAME_LEN - 1 ? n : BPF_OBJ_NAME_LEN - 1);
}

int tn_bpf_prog_load(uint32_t type, uint32_t attach, const struct bpf_insn *insns, unsigned n, const char *name)
{
	/* GPL: the helpers the programs call (map lookups, redirects) are
	 * open to any licence, but GPL-only ones would need it */
	static const char license[] = "GPL";
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.prog_type = type;
	a.expected_attach_type = attach;
	a.insns = (uint64_t)(uintptr_t)insns;
	a.insn_cnt = n;
	a.license = (uint64_t)(uintptr_t)license;
	set_name(a.prog_name, name);
	int fd = tn_bpf(BPF_PROG_LOAD, &a);
	if (fd >= 0 || errno == EPERM)
		return fd;
	/* Rejected: load again to get the verifier's reasons, for the one
	 * who must fix the emitter or learn what this kernel lacks. */
	int saved = errno;
	char *log = calloc(1, 1 << 16);
	if (log) {
		a.log_buf = (uint64_t)(uintptr_t)log;
		a.log_size = 1 << 16;
		a.log_level = 1;
		if (tn_bpf(BPF_PROG_LOAD, &a) < 0 && log[0])
			fprintf(stderr, "tern: bpf program %s rejected: %s\n%s", name, strerror(saved), log);
		free(log);
	}
	errno = saved;
	return -1;
}

int tn_bpf_map_create(uint32_t type, uint32_t key_size, uint32_t value_size, uint32_t max_entries, const char *name)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_type = type;
	a.key_size = key_size;
	a.value_size = value_size;
	a.max_entries = max_entries;
	set_name(a.map_name, name);
	return tn_bpf(BPF_MAP_CREATE, &a);
}

static int map_elem(int cmd, int map, const void *key, const void *value)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)map;
	a.key = (uint64_t)(uintptr_t)key;
	a.value = (uint64_t)(uintptr_t)value;
	a.flags = BPF_ANY;
	return tn_bpf(cmd, &a);
}

int tn_bpf_map_update(int map, const void *key, const void *value)
{
	return map_elem(BPF_MAP_UPDATE_ELEM, map, key, value);
}

int tn_bpf_map_delete(int map, const void *key)
{
	return map_elem(BPF_MAP_DELETE_ELEM, map, key, NULL);
}

int tn_bpf_map_lookup(int map, const void *key, void *value)
{
	return map_elem(BPF_MAP_LOOKUP_ELEM, map, key, value);
}
