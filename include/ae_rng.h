/*
 * ae_rng.h - the randomness of a run: cuRAND's Philox4x32-10 counter-based generator and
 * the transforms to uniform and normal numbers, exact on every backend.  Included by
 * ae_model.h (which defines AE_FN: static inline, __host__ __device__ under nvcc).
 *
 * API:
 *   ae_philox4x32_10(counter_lo, counter_hi, seed, out)   four words of the stream
 *   ae_unit_open, ae_log_unit, ae_sincos_2pi             exact transforms
 *   ae_normal(seed, stream, index), ae_uniform(...)      word `index` of a run's stream
 */
#ifndef AE_RNG_H
#define AE_RNG_H

#include <stdint.h>

/* ------------------------------------------------------------------------ */
/* Randomness: cuRAND's Philox4x32-10, and transforms that give the same bits */
/* on every backend.  Word w of the stream (seed, sub) is, as in cuRAND's      */
/* curand_init(seed, sub, 0): ae_philox4x32_10({w/4, sub}, seed)[w % 4].       */
/* The transforms use only IEEE-exact operations (+ - * / sqrt fma, no        */
/* library transcendentals, no contractible a*b+c), so host and device agree. */
/* ------------------------------------------------------------------------ */

AE_FN void ae_philox4x32_10(uint64_t counter_lo, uint64_t counter_hi, uint64_t seed, uint32_t out[4])
{
    uint32_t x0 = (uint32_t)counter_lo, x1 = (uint32_t)(counter_lo >> 32);
    uint32_t x2 = (uint32_t)counter_hi, x3 = (uint32_t)(counter_hi >> 32);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * x0, p1 = (uint64_t)0xCD9E8D57u * x2;
        uint32_t y0 = (uint32_t)(p1 >> 32) ^ x1 ^ k0, y2 = (uint32_t)(p0 >> 32) ^ x3 ^ k1;
        x1 = (uint32_t)p1;
        x3 = (uint32_t)p0;
        x0 = y0;
        x2 = y2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = x0, out[1] = x1, out[2] = x2, out[3] = x3;
}

/* (w + 0.5) / 2^32: exact in double, strictly inside (0, 1). */
AE_FN double ae_unit_open(uint32_t w) { return ((double)w + 0.5) * 2.3283064365386963e-10; }

/* ln(u) for u in (0, 1] (and, the same way, for any positive finite u: the twins' ln(d/eps)):
 * u = mnt * 2^e, ln(mnt) from the atanh series. */
AE_FN double ae_log_unit(double u)
{
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    int e;
    double mnt = frexp(u, &e);
    if (mnt < 0.70710678118654752440) {
        mnt = mnt * 2.0;
        e -= 1;
    }
    double f = mnt - 1.0;
    double s = f / (2.0 + f);
    double s2 = s * s;
    double series = 1.0 / 25.0; /* 1 + s2/3 + s2^2/5 + ... + s2^12/25 (|s| < 0.172) */
    for (int k = 11; k >= 0; k--) series = fma(series, s2, 1.0 / (double)(2 * k + 1));
    double two_s = 2.0 * s;
    return fma((double)e, ln2_hi, fma((double)e, ln2_lo, two_s * series));
}

/* cos and sin of 2*pi*v for v in [0, 1), by octant and Taylor series. */
AE_FN void ae_sincos_2pi(double v, double *cos_out, double *sin_out)
{
    const double quarter_pi = 0.78539816339744830962;
    double v8 = v * 8.0;
    int octant = (int)v8;
    double r = v8 - (double)octant;
    if (octant & 1) r = 1.0 - r;
    double t = r * quarter_pi, t2 = t * t; /* t in [0, pi/4]: 15 terms reach 1e-19 */
    double sin_poly = -1.0 / 1307674368000.0; /* sin t = t (1 - t2/3! + ... - t2^7/15!) */
    sin_poly = fma(sin_poly, t2, 1.0 / 6227020800.0);
    sin_poly = fma(sin_poly, t2, -1.0 / 39916800.0);
    sin_poly = fma(sin_poly, t2, 1.0 / 362880.0);
    sin_poly = fma(sin_poly, t2, -1.0 / 5040.0);
    sin_poly = fma(sin_poly, t2, 1.0 / 120.0);
    sin_poly = fma(sin_poly, t2, -1.0 / 6.0);
    sin_poly = fma(sin_poly, t2, 1.0);
    double cos_poly = 1.0 / 20922789888000.0; /* cos t = 1 - t2/2! + ... + t2^8/16! */
    cos_poly = fma(cos_poly, t2, -1.0 / 87178291200.0);
    cos_poly = fma(cos_poly, t2, 1.0 / 479001600.0);
    cos_poly = fma(cos_poly, t2, -1.0 / 3628800.0);
    cos_poly = fma(cos_poly, t2, 1.0 / 40320.0);
    cos_poly = fma(cos_poly, t2, -1.0 / 720.0);
    cos_poly = fma(cos_poly, t2, 1.0 / 24.0);
    cos_poly = fma(cos_poly, t2, -1.0 / 2.0);
    cos_poly = fma(cos_poly, t2, 1.0);
    double s = t * sin_poly, c = cos_poly;
    double cs[8] = {c, s, -s, -c, -c, -s, s, c};
    double sn[8] = {s, c, c, s, -s, -c, -c, -s};
    *cos_out = cs[octant & 7];
    *sin_out = sn[octant & 7];
}

/* Standard normal number `index` of stream (seed, stream): Box-Muller on one Philox pair. */
AE_FN double ae_normal(uint64_t seed, uint32_t stream, uint64_t index)
{
    uint32_t words[4];
    ae_philox4x32_10(index >> 1, stream, seed, words);
    uint32_t w0 = words[(index & 1) * 2], w1 = words[(index & 1) * 2 + 1];
    double c, s;
    ae_sincos_2pi(ae_unit_open(w1), &c, &s);
    return sqrt(-2.0 * ae_log_unit(ae_unit_open(w0))) * c;
}

/* Uniform number `index` of stream (seed, stream) in (-1, 1). */
AE_FN double ae_uniform(uint64_t seed, uint32_t stream, uint64_t index)
{
    uint32_t words[4];
    ae_philox4x32_10(index >> 2, stream, seed, words);
    return 2.0 * ae_unit_open(words[index & 3]) - 1.0;
}

#endif /* AE_RNG_H */
