#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tools.h"

uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int parse_ip(const char *str, uint32_t *addr)
{
	struct in_addr a;
	if (inet_pton(AF_INET, str, &a) != 1)
		return -1;
	*addr = ntohl(a.s_addr);
	return 0;
}

int parse_prefix(const char *str, uint32_t *addr, int *plen)
{
	if (strcmp(str, "default") == 0) {
		*addr = 0;
		*plen = 0;
		return 0;
	}
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", str);
	char *slash = strchr(buf, '/');
	*plen = 32;
	if (slash) {
		*slash = 0;
		char *end;
		long v = strtol(slash + 1, &end, 10);
		if (*end || v < 0 || v > 32)
			return -1;
		*plen = (int)v;
	}
	return parse_ip(buf, addr);
}

const char *ip_str(uint32_t addr, char *buf)
{
	struct in_addr a = {.s_addr = htonl(addr)};
	inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
	return buf;
}

/* "  [=========>          ]  45%   471.9 kB  1.23 Mbit/s": redrawn in place
 * on a terminal; elsewhere (logs) one line per quarter. */
void progress_bar(FILE *f, struct progress *pg, uint64_t done, uint64_t total, double secs, bool final)
{
	int pct = total ? (int)(done * 100 / total) : 100;
	bool tty = isatty(fileno(f));
	if (!final && (tty ? pct == pg->last_pct : pct / 25 == pg->last_pct / 25))
		return;
	pg->last_pct = pct;
	char bar[32];
	int fill = pct * 30 / 100;
	for (int i = 0; i < 30; i++)
		bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
	bar[30] = 0;
	double rate = secs > 0 ? (double)done * 8 / secs / 1e6 : 0;
	fprintf(f, "%s  [%s] %3d%% %9.1f kB %7.2f Mbit/s%s", tty ? "\r" : "", bar, pct, (double)done / 1000, rate,
		tty && !final ? "" : "\n");
	fflush(f);
}
