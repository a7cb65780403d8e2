/* The tc command (iproute2's tc syntax) executed against the qdisc trees
 * of a set of devices: `qdisc add dev tern0 root handle 1: htb default 30`,
 * `-s qdisc show dev tern0`, `class add ...`, `filter add ...`.  This file
 * parses the generic part (dev, root, parent, handle, classid, the kind);
 * the kind's own words go to the qdisc, class or filter that knows them.
 * Each command is all or nothing. */
#ifndef TN_TC_CMD_H
#define TN_TC_CMD_H

#include <stddef.h>

#include "sched/qdisc.h"

struct tn_tc_dev {
	const char *name;
	struct tn_qenv *env;
	bool changed;        /* set when a command changed its tree */
	uint32_t dropped;    /* packets lost by changes (a replaced qdisc's queue) */
};

/* Run one tc command (argv without the leading "tc").  Output and error
 * messages go to out (always NUL-terminated, cut at cap).  Returns 0, or
 * -1 on an error (then nothing changed). */
int tn_tc_exec(struct tn_tc_dev *devs, int ndevs, int argc, char **argv, char *out, size_t cap);

/* Split a line into words in place as tc -batch does: blanks separate,
 * "double quotes" group, # starts a comment.  Returns the number of words,
 * or -1 if there are more than max. */
int tn_tc_split(char *line, char **argv, int max);

/* Run a file's worth of commands, one per line (a leading "tc" word is
 * allowed, # comments, blank lines).  Stops at the first failing line, as
 * tc -batch: the lines before it stay applied.  Returns 0, or the failing
 * line's number. */
int tn_tc_batch(struct tn_tc_dev *devs, int ndevs, const char *text, char *out, size_t cap);

#endif
