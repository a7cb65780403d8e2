#include "core/stats.h"

#include <string.h>

const struct tn_stat_info tn_stat_info[TN_STAT_COUNT] = {
#define X(group, name, text) {#group, #name, text},
#include "core/stats_list.h"
#undef X
};

int tn_stat_lookup(const char *nstat_name)
{
	for (int i = 0; i < TN_STAT_COUNT; i++) {
		size_t gl = strlen(tn_stat_info[i].group);
		if (strncmp(nstat_name, tn_stat_info[i].group, gl) == 0 &&
		    strcmp(nstat_name + gl, tn_stat_info[i].name) == 0)
			return i;
	}
	return -1;
}

void tn_stats_print_netstat(FILE *f, const uint64_t *v)
{
	const char *group = NULL;
	for (int i = 0; i < TN_STAT_COUNT; i++) {
		if (!group || strcmp(group, tn_stat_info[i].group) != 0) {
			group = tn_stat_info[i].group;
			fprintf(f, "%s:\n", group);
		}
		fprintf(f, "    %llu %s\n", (unsigned long long)v[i], tn_stat_info[i].text);
	}
}

void tn_stats_print_nstat(FILE *f, const uint64_t *v, int include_zero)
{
	for (int i = 0; i < TN_STAT_COUNT; i++) {
		if (!v[i] && !include_zero)
			continue;
		char name[64];
		snprintf(name, sizeof(name), "%s%s", tn_stat_info[i].group, tn_stat_info[i].name);
		fprintf(f, "%-32s %llu\n", name, (unsigned long long)v[i]);
	}
}
