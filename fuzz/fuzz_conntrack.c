/* Connection tracking: raw IPv4 packets fed to the conntrack hooks of a
 * stack, as the IPv4 layer calls them.  The input is a sequence of records:
 * 2-byte length, a selector byte (bits 0-1: PRE_ROUTING, LOCAL_OUT,
 * LOCAL_IN or loopback; bit 2: the filters drop it, so no confirmation;
 * bits 3-7: seconds of virtual time to pass first), then the packet.  The
 * tuple parsing, the ICMP error path (quoted headers), the TCP window
 * tracker and the table limits all see hostile bytes.  At the end the table
 * is flushed: no entry and no packet buffer may be left over. */
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "filter/conntrack.h"
#include "filter/nf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tern_config cfg = {.seed = 1, .now = 1000000000ull, .pool_size = 64};
	struct tn_stack *s = tern_stack_new(&cfg);
	tern_sysctl_set(s, "net.netfilter.nf_conntrack_max", "32");
	if (tern_conntrack_enable(s) < 0)
		abort();
	uint64_t now = cfg.now;
	size_t off = 0;
	while (off + 3 <= size) {
		size_t len = (size_t)(data[off] << 8 | data[off + 1]) % 2048;
		uint8_t sel = data[off + 2];
		off += 3;
		if (len > size - off)
			len = size - off;
		now += (uint64_t)(sel >> 3) * 1000000000ull;
		tern_poll(s, now);
		struct tn_pkt *p = tn_pkt_from_bytes(s->pool, data + off, (uint32_t)len);
		off += len;
		if (!p)
			continue;
		p->l3_off = tn_pkt_off(p, p->data);
		static const enum tn_nf_hooknum hooks[4] = {TN_NF_PRE_ROUTING, TN_NF_LOCAL_OUT, TN_NF_LOCAL_IN,
							    TN_NF_PRE_ROUTING};
		struct tn_nf_state st = {.hook = hooks[sel & 3], .in_ifindex = (sel & 3) == 3 ? 0 : 1, .s = s};
		int v = tn_ct_in(s, p, &st);
		bool reply;
		enum tn_ct_state cs = tn_ct_state_of(s, p, &reply);
		if (cs > TN_CT_UNTRACKED)
			abort();
		enum tn_ct_dir dir;
		struct tn_ct *e = tn_ct_get(s, p, &dir);
		if (e) {
			char line[256];
			tn_ct_format(s, e, line, sizeof(line));
			uint32_t *mark = tn_ct_mark(s, p);
			if (!mark)
				abort();
			*mark += 1;
		}
		if (v == TN_NF_ACCEPT && !(sel & 4))
			tn_ct_confirm(s, p);
		tn_pkt_free(p);
		if (tn_ct_count(s) > 32 + TN_CT_PENDING)
			abort();
	}
	tn_ct_flush(s);
	if (tn_ct_count(s) != 0 || tn_mempool_in_use(s->pool) != 0)
		abort();
	tern_stack_free(s);
	return 0;
}
