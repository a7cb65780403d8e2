/* libFuzzer target: the iptables command line and iptables-restore.
 * First byte: 0 even = the rest is a restore file; odd = lines of iptables
 * commands run one by one on a model.  Whatever is accepted must save,
 * and the saved text must restore and save again to the same bytes;
 * -L and -S must not crash; a failed command changes nothing. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "filter/ipt.h"

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

static char *save(const struct tn_ipt_model *m)
{
	char *b = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&b, &n);
	CHECK(f != NULL);
	tn_ipt_save(m, -1, true, f);
	fclose(f);
	return b;
}

static int words(char *line, char **argv, int max)
{
	int n = 0;
	argv[n++] = "iptables";
	for (char *p = strtok(line, " \t"); p && n < max; p = strtok(NULL, " \t"))
		argv[n++] = p;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	FILE *sink = fopen("/dev/null", "w");
	CHECK(sink != NULL);
	struct tn_ipt_model m;
	tn_ipt_model_init(&m);
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	if (data[0] & 1) {
		char *copy = malloc(len + 1);
		CHECK(copy != NULL);
		memcpy(copy, text, len);
		copy[len] = 0;
		char *save_ptr = NULL;
		for (char *line = strtok_r(copy, "\n", &save_ptr); line; line = strtok_r(NULL, "\n", &save_ptr)) {
			char *argv[64];
			int argc = words(line, argv, 64);
			char *before = save(&m);
			unsigned changed = 0;
			int rc = tn_ipt_command(&m, argc, argv, sink, sink, &changed);
			if (rc != 0) {
				char *after = save(&m);
				CHECK(strcmp(before, after) == 0);
				free(after);
			}
			free(before);
		}
		free(copy);
	} else {
		(void)tn_ipt_restore(&m, text, len, data[0] & 2, data[0] & 4, sink, NULL);
	}
	/* listings */
	for (int t = 0; t < TN_IPT_NTABLES; t++) {
		char tn[16];
		snprintf(tn, sizeof(tn), "%s", tn_ipt_table_name(t));
		char *l1[] = {"iptables", "-t", tn, "-L", "-n", "-v", "--line-numbers"};
		char *l2[] = {"iptables", "-t", tn, "-S"};
		tn_ipt_command(&m, 7, l1, sink, sink, NULL);
		tn_ipt_command(&m, 4, l2, sink, sink, NULL);
	}
	/* save -> restore -> save is a fixed point */
	char *s1 = save(&m);
	struct tn_ipt_model m2;
	tn_ipt_model_init(&m2);
	CHECK(tn_ipt_restore(&m2, s1, strlen(s1), false, true, sink, NULL) == 0);
	char *s2 = save(&m2);
	CHECK(strcmp(s1, s2) == 0);
	free(s1);
	free(s2);
	tn_ipt_model_free(&m2);
	tn_ipt_model_free(&m);
	fclose(sink);
	return 0;
}
