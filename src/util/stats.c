/* stats.c - Wilson score intervals for outcome fractions. */
#include "ae_stats.h"

#include <math.h>

void ae_wilson(uint64_t k, uint64_t n, double *lo, double *hi)
{
    const double z = 1.959963984540054; /* 97.5 % normal quantile */
    if (n == 0) { /* no trials, no estimate: NaN, as analysis/aesweep/common.py's wilson */
        *lo = *hi = NAN;
        return;
    }
    double trials = (double)n, p = (double)k / trials, z2 = z * z;
    double denom = 1.0 + z2 / trials;
    double center = (p + z2 / (2.0 * trials)) / denom;
    double half = z / denom * sqrt(p * (1.0 - p) / trials + z2 / (4.0 * trials * trials));
    /* exact at the ends, where rounding would leave ~1e-17 */
    *lo = k == 0 ? 0.0 : fmax(0.0, center - half);
    *hi = k == n ? 1.0 : fmin(1.0, center + half);
}
