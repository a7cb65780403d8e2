/* Netfilter hook registration and traversal (see nf.h). */
#include "filter/nf.h"

#include <errno.h>
#include <string.h>

#include "core/stack.h"

int tn_nf_register(struct tn_stack *s, const struct tn_nf_hook_ops *ops)
{
	if (!ops || !ops->fn || (unsigned)ops->hook >= TN_NF_NUMHOOKS)
		return -EINVAL;
	struct tn_nf *nf = &s->nf;
	unsigned h = ops->hook, n = nf->n[h];
	if (n == TN_NF_MAX_PER_HOOK)
		return -ENOSPC;
	unsigned i = n;
	/* After every entry of the same or lower priority: registration order
	 * breaks ties, as in Linux. */
	while (i > 0 && nf->entry[h][i - 1].priority > ops->priority) {
		nf->entry[h][i] = nf->entry[h][i - 1];
		i--;
	}
	nf->entry[h][i] = *ops;
	nf->n[h] = (uint8_t)(n + 1);
	return 0;
}

int tn_nf_unregister(struct tn_stack *s, const struct tn_nf_hook_ops *ops)
{
	if (!ops || (unsigned)ops->hook >= TN_NF_NUMHOOKS)
		return -EINVAL;
	struct tn_nf *nf = &s->nf;
	unsigned h = ops->hook;
	for (unsigned i = 0; i < nf->n[h]; i++) {
		struct tn_nf_hook_ops *e = &nf->entry[h][i];
		if (e->fn != ops->fn || e->priv != ops->priv)
			continue;
		memmove(e, e + 1, sizeof(*e) * (nf->n[h] - i - 1));
		nf->n[h]--;
		return 0;
	}
	return -ENOENT;
}

bool tn_nf_hook_slow(struct tn_stack *s, struct tn_nf *nf, enum tn_nf_hooknum hook, struct tn_pkt *p,
		     int in_ifindex, int out_ifindex)
{
	struct tn_nf_state st = {.hook = hook, .in_ifindex = in_ifindex, .out_ifindex = out_ifindex, .s = s};
	for (unsigned i = 0; i < nf->n[hook]; i++) {
		const struct tn_nf_hook_ops *e = &nf->entry[hook][i];
		switch (e->fn(e->priv, p, &st)) {
		case TN_NF_ACCEPT:
			continue;
		case TN_NF_STOLEN:
			return false;
		case TN_NF_DROP:
		default:
			tn_drop(s, p, TN_TernExtNfDrops);
			return false;
		}
	}
	return true;
}
