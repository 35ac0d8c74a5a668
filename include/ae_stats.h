/*
 * ae_stats.h - small statistics for summaries.
 *
 * API:
 *   ae_wilson(k, n, &lo, &hi)   95 % Wilson score interval of k successes in n trials; NaN, NaN
 *                               when n == 0 (the same rule as analysis/aesweep/common.py's wilson)
 */
#ifndef AE_STATS_H
#define AE_STATS_H

#include <stdint.h>

void ae_wilson(uint64_t k, uint64_t n, double *lo, double *hi);

#endif
