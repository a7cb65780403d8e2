#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
