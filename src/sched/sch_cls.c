/* tc filters (see sch_cls.h). */
#include <stdlib.h>

#include "sched/sch_cls.h"

void tn_qfilter_flush(struct tn_qdisc *q)
{
	while (q->filters) {
		struct tn_qfilter *f = q->filters;
		q->filters = f->next;
		free(f);
	}
}
