/* tc's words: rates, sizes, times, percentages and handles, parsed and
 * printed the way iproute2's tc does (tc_util.c), so commands copied from
 * its manual pages mean the same here. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/qdisc.h"

int tn_qerr(struct tn_qerr *err, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return -1;
}

struct unit {
	const char *name;
	double scale;
};

/* A number with a unit from the table; `dflt` scales a bare number.  The
 * unit must match exactly (case-insensitively, as tc). */
static int get_scaled(const char *s, const struct unit *units, double dflt, double *out)
{
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || errno || v < 0 || !isfinite(v))
		return -1;
	if (*end == '\0') {
		*out = v * dflt;
		return 0;
	}
	for (const struct unit *u = units; u->name; u++)
		if (strcasecmp(end, u->name) == 0) {
			*out = v * u->scale;
			return 0;
		}
	return -1;
}

int tn_tc_get_rate(const char *s, uint64_t *bytes_per_s)
{
	static const struct unit units[] = {
		{"bit", 1 / 8.0},	 {"kbit", 1e3 / 8},     {"mbit", 1e6 / 8},  {"gbit", 1e9 / 8},
		{"tbit", 1e12 / 8},	 {"kibit", 1024 / 8.0}, {"mibit", 1048576 / 8.0},
		{"gibit", 1073741824 / 8.0}, {"bps", 1},	 {"kbps", 1e3},	     {"mbps", 1e6},
		{"gbps", 1e9},		 {"tbps", 1e12},	{"kibps", 1024},    {"mibps", 1048576},
		{"gibps", 1073741824.0}, {NULL, 0},
	};
	double v;
	if (get_scaled(s, units, 1 / 8.0, &v) < 0 || v < 1 || v > 1e15)
		return -1;
	*bytes_per_s = (uint64_t)(v + 0.5);
	return 0;
}

int tn_tc_get_size(const char *s, uint32_t *bytes)
{
	static const struct unit units[] = {
		{"b", 1},	       {"k", 1024},	     {"kb", 1024},	  {"m", 1048576},
		{"mb", 1048576},       {"g", 1073741824.0}, {"gb", 1073741824.0}, {"kbit", 1024 / 8.0},
		{"mbit", 1048576 / 8.0}, {"gbit", 1073741824 / 8.0}, {NULL, 0},
	};
	double v;
	if (get_scaled(s, units, 1, &v) < 0 || v > 4294967295.0)
		return -1;
	*bytes = (uint32_t)v;
	return 0;
}

int tn_tc_get_time(const char *s, uint64_t *ns)
{
	static const struct unit units[] = {
		{"s", 1e9},     {"sec", 1e9},  {"secs", 1e9}, {"ms", 1e6},  {"msec", 1e6},
		{"msecs", 1e6}, {"us", 1e3},   {"usec", 1e3}, {"usecs", 1e3}, {"ns", 1},
		{"nsec", 1},    {"nsecs", 1},  {NULL, 0},
	};
	double v;
	if (get_scaled(s, units, 1e3, &v) < 0 || v > 1e15) /* a bare number is microseconds */
		return -1;
	*ns = (uint64_t)(v + 0.5);
	return 0;
}

int tn_tc_get_percent(const char *s, double *p)
{
	static const struct unit units[] = {{"%", 0.01}, {NULL, 0}};
	double v;
	if (get_scaled(s, units, 0.01, &v) < 0 || v > 1)
		return -1;
	*p = v;
	return 0;
}

int tn_tc_get_u32(const char *s, uint32_t *v)
{
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 0);
	if (*end || errno || x > 0xffffffffull || s[0] == '-')
		return -1;
	*v = (uint32_t)x;
	return 0;
}

/* One hex field of a handle: up to four hex digits. */
static int hex16(const char *s, size_t n, uint32_t *v)
{
	if (n == 0 || n > 4)
		return -1;
	uint32_t x = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return -1;
		x = x * 16 + (uint32_t)d;
	}
	*v = x;
	return 0;
}

int tn_tc_get_handle(const char *s, uint32_t *h)
{
	if (!s)
		return -1;
	if (strcmp(s, "root") == 0) {
		*h = TN_TC_H_ROOT;
		return 0;
	}
	if (strcmp(s, "none") == 0) {
		*h = TN_TC_H_UNSPEC;
		return 0;
	}
	const char *colon = strchr(s, ':');
	uint32_t maj, min = 0;
	if (!colon)
		return -1;
	if (hex16(s, (size_t)(colon - s), &maj) < 0)
		return -1;
	if (colon[1] && hex16(colon + 1, strlen(colon + 1), &min) < 0)
		return -1;
	*h = TN_TC_H(maj, min);
	return 0;
}

void tn_tc_print_rate(char *buf, size_t cap, uint64_t bytes_per_s)
{
	double bits = (double)bytes_per_s * 8;
	static const char *units[] = {"bit", "Kbit", "Mbit", "Gbit", "Tbit"};
	int i = 0;
	while (i < 4 && bits >= 1000 && fmod(bits, 1000) == 0) {
		bits /= 1000;
		i++;
	}
	if (i == 0 && bits >= 1000) { /* not a round figure: tc rounds to the nearest unit */
		while (i < 4 && bits >= 1000) {
			bits /= 1000;
			i++;
		}
		snprintf(buf, cap, "%.3g%s", bits, units[i]);
		return;
	}
	snprintf(buf, cap, "%.0f%s", bits, units[i]);
}

void tn_tc_print_size(char *buf, size_t cap, uint32_t bytes)
{
	if (bytes >= 1048576 && bytes % 1048576 == 0)
		snprintf(buf, cap, "%uMb", bytes / 1048576);
	else if (bytes >= 1024 && bytes % 1024 == 0)
		snprintf(buf, cap, "%uKb", bytes / 1024);
	else
		snprintf(buf, cap, "%ub", bytes);
}

void tn_tc_print_time(char *buf, size_t cap, uint64_t ns)
{
	if (ns >= 1000000000ull && ns % 100000000ull == 0)
		snprintf(buf, cap, "%.1fs", (double)ns / 1e9);
	else if (ns >= 1000000ull && ns % 1000ull == 0)
		snprintf(buf, cap, "%.1fms", (double)ns / 1e6);
	else
		snprintf(buf, cap, "%.0fus", (double)ns / 1e3);
	/* "50.0ms" -> "50ms", as tc prints whole values */
	char *dot = strstr(buf, ".0");
	if (dot && (dot[2] < '0' || dot[2] > '9'))
		memmove(dot, dot + 2, strlen(dot + 2) + 1);
}
