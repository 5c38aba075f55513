/* Timing samples for the benchmark programs: a monotonic clock, sorting, percentiles. */
#ifndef KRATIXFS_BENCH_SAMPLES_H
#define KRATIXFS_BENCH_SAMPLES_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples (nanoseconds), in microseconds. */
static inline double percentile_us(const uint64_t *sorted, size_t n, double p)
{
	size_t i = (size_t)(p / 100.0 * (double)n);
	return (double)sorted[i >= n ? n - 1 : i] / 1000.0;
}

#endif
