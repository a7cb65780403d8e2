/* `tern conntrack`: the connection tracking table of a running host, in
 * the forms of conntrack(8): -L lists entries, -S the statistics, -C the
 * count, -F empties the table.  --enable / --disable turn tracking on and
 * off (it is off until a rule needs it, or until asked). */
#include <string.h>

#include "core/stack.h"
#include "filter/conntrack.h"
#include "tools.h"

struct list_filter {
	struct tn_stack *s;
	FILE *f;
	int proto; /* -1: any */
	unsigned n;
};

static void list_one(void *ctx, struct tn_ct *e)
{
	struct list_filter *l = ctx;
	if (l->proto >= 0 && e->proto != l->proto)
		return;
	char line[256];
	tn_ct_format(l->s, e, line, sizeof(line));
	fprintf(l->f, "%s\n", line);
	l->n++;
}

static int proto_num(const char *p)
{
	if (strcmp(p, "tcp") == 0)
		return 6;
	if (strcmp(p, "udp") == 0)
		return 17;
	if (strcmp(p, "icmp") == 0)
		return 1;
	return -2;
}

int run_conntrack(struct tn_stack *s, int argc, char **argv, FILE *f)
{
	const char *op = argc > 1 ? argv[1] : "-L";
	if (strcmp(op, "--enable") == 0) {
		if (tern_conntrack_enable(s) < 0) {
			fprintf(f, "conntrack: cannot enable connection tracking\n");
			return 1;
		}
		return 0;
	}
	if (strcmp(op, "--disable") == 0) {
		tern_conntrack_disable(s);
		return 0;
	}
	if (strcmp(op, "-L") == 0 || strcmp(op, "--dump") == 0) {
		struct list_filter l = {s, f, -1, 0};
		for (int i = 2; i < argc; i++) {
			if ((strcmp(argv[i], "-p") == 0 || strcmp(argv[i], "--proto") == 0) && i + 1 < argc) {
				l.proto = proto_num(argv[++i]);
				if (l.proto == -2) {
					fprintf(f, "conntrack: unknown protocol \"%s\"\n", argv[i]);
					return 2;
				}
			} else {
				fprintf(f, "conntrack: unknown option \"%s\"\n", argv[i]);
				return 2;
			}
		}
		tn_ct_foreach(s, list_one, &l);
		fprintf(f, "conntrack v1.4.6 (conntrack-tools): %u flow entries have been shown.\n", l.n);
		return 0;
	}
	if (strcmp(op, "-S") == 0 || strcmp(op, "--stats") == 0) {
		tn_ct_print_stats(s, f);
		return 0;
	}
	if (strcmp(op, "-C") == 0 || strcmp(op, "--count") == 0) {
		fprintf(f, "%u\n", tn_ct_count(s));
		return 0;
	}
	if (strcmp(op, "-F") == 0 || strcmp(op, "--flush") == 0) {
		tn_ct_flush(s);
		fprintf(f, "conntrack v1.4.6 (conntrack-tools): connection tracking table has been emptied.\n");
		return 0;
	}
	fprintf(f, "usage: conntrack -L [-p tcp|udp|icmp] | -S | -C | -F | --enable | --disable\n");
	return 2;
}
