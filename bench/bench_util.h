/* Small helpers the benchmarks share: wall and CPU clocks, memory readings.
 * Static inline functions: the Makefile makes a program of each bench .c
 * file, and of nothing else in bench/. */
#ifndef TERN_BENCH_UTIL_H
#define TERN_BENCH_UTIL_H

#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* CLOCK_MONOTONIC, in ns. */
static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* User + system CPU time by getrusage(who): RUSAGE_SELF (the process),
 * RUSAGE_THREAD, RUSAGE_CHILDREN; in ns. */
static inline uint64_t rusage_cpu_ns(int who)
{
	struct rusage ru;
	getrusage(who, &ru);
	return ((uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000ull +
		(uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec)) * 1000ull;
}

/* The process's user + system CPU time, in ns. */
static inline uint64_t cpu_ns(void) { return rusage_cpu_ns(RUSAGE_SELF); }

/* A "Key:   value kB" line of a /proc file, in bytes; -1 if absent. */
static inline long long proc_kb(const char *path, const char *key)
{
	FILE *f = fopen(path, "r");
	char line[256];
	long long v = -1;
	size_t kl = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			v = strtoll(line + kl + 1, NULL, 10) * 1024;
			break;
		}
	if (f)
		fclose(f);
	return v;
}

/* The heap in use: malloc's allocated bytes plus its mmapped blocks
 * (mallinfo2, which walks the free lists: not for every iteration). */
static inline long long heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();
	return (long long)(mi.uordblks + mi.hblkhd);
}

#endif
