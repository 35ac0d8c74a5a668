/*
 * ae_model.h - the per-model math of aesweep, written once.
 *
 * Every function here is `static inline` and, under nvcc, __host__ __device__:
 * the CPU backend (src/backend_cpu.c) and the CUDA kernels (kernels/) call the
 * very same code.  A "model" is one tiny tied-weight ReLU autoencoder
 *
 *     Z = W^T W + b 1^T,  Y = ReLU(Z),  L = (1/n^2) sum_ij (Y_ij - I_ij)^2
 *
 * with W stored feature-major: W[i*m + k] is latent coordinate k of feature i
 * (column i of the m x n matrix of DESIGN.md).  The parameters live in one flat
 * vector theta = [W (n*m) | b (n)] so the optimizers are plain loops.
 *
 * API (in file order):
 *   ae_philox4x32_10, ae_log_unit, ae_sincos_2pi, ae_normal, ae_uniform   randomness
 *   ae_element.inc: ae_entry_*, ae_sgd_update, ae_adam_update              one element of a step
 *   ae_loss                                                                loss of a state
 *   ae_opt_start, ae_opt_reset                                             optimizer state
 *   ae_init_random, ae_init_ideal_failure, ae_dead_neighbors               initial states
 *   ae_classify_state                                                      outcome class of a state
 *   ae_track_reset, ae_track_check, ae_track_step, ae_track_lanes          plateaus, recovery, convergence
 *   ae_summarize                                                           end-of-run metrics and outcome
 *   ae_twin_perturb                                                        twins
 *   ae_lanes.inc: ae_loss_grad_*, ae_opt_step_*, ae_intervene_* (ae_place_in_gaps_*),
 *                 ae_twin_renorm_*, ae_train_*                             step, resampling, twins, loop
 *   ae_loss_grad, ae_loss_grad_f64 (tests), ae_opt_step, ae_intervene, ae_train   one model
 *
 * The step's math is written once, as plain functions, in two bodies that this header
 * (and src/backend_cpu.c, per instruction set) includes with different #defines:
 * ae_element.inc once per precision, ae_lanes.inc once per (lanes, m, precision); the
 * plain names above are the single-model float instances.
 */
#ifndef AE_MODEL_H
#define AE_MODEL_H

#include <math.h>
#include <stdint.h>

#include "ae_outcome.h"

#ifdef __CUDACC__
#define AE_FN static inline __host__ __device__
#else
#define AE_FN static inline
#endif

#define AE_N_MIN 2
#define AE_N_MAX 256
#define AE_M_MIN 1
#define AE_M_MAX 4
#define AE_P_MAX (AE_N_MAX * AE_M_MAX + AE_N_MAX) /* parameters of the largest model */
#define AE_LEARNT_THRESHOLD 0.5f                   /* feature i learnt when Y_ii >= this */
#define AE_RADIUS_JUMP 1.05f                       /* new norm level past a 5 % jump */

typedef enum { AE_OPT_SGD = 0, AE_OPT_ADAM = 1, AE_OPT_ADAMW = 2 } ae_optimizer;
typedef enum {
    AE_INIT_XAVIER_NORMAL = 0,
    AE_INIT_NORMAL = 1,
    AE_INIT_UNIFORM = 2,
    AE_INIT_FILE = 3,
    AE_INIT_IDEAL_FAILURE = 4
} ae_scheme;

typedef enum {
    AE_INTERVENE_NONE = 0,
    AE_INTERVENE_ANTHROPIC = 1,
    AE_INTERVENE_REPULSOR = 2,
    AE_INTERVENE_GAP = 3
} ae_intervention;

/* Philox subsequences: each use of randomness in a run has its own stream. */
enum { AE_STREAM_INIT = 0, AE_STREAM_TWIN = 1, AE_STREAM_INTERVENE = 2 };

/* Every numeric setting of one run, resolved from config defaults and grid axes. */
typedef struct {
    int32_t n, m;
    int32_t scheme, optimizer;
    int64_t seed;
    float init_std, init_bound, bias_init, radius, dead_eps;
    float lr, weight_decay, beta1, beta2, eps, momentum;
    int64_t steps, check_every, plateau_steps;
    int64_t outcome_window;        /* convergence and plateaus: loss change over this many steps */
    float outcome_tol, tilt_max, live_min;
    float bias_delta;
    int32_t intervene;             /* ae_intervention */
    int64_t intervene_at_step;
    float intervene_scale, intervene_delta, intervene_noise;
    float twin_eps;
    int64_t twin_renorm_every;     /* state twins: Benettin's renormalisation period, 0: a free twin */
} ae_params;

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

/* ------------------------------------------------------------------------ */
/* The step's per-element math (ae_element.inc), once per precision          */
/* ------------------------------------------------------------------------ */

#if defined(__CUDACC__) || defined(__cplusplus)
#define AE_RESTRICT __restrict__
#else
#define AE_RESTRICT restrict
#endif
/* nvcc's device pass: unroll the loops over features (with n fixed at compile time they
 * disappear); the host compiler does not know the pragma */
#ifdef __CUDA_ARCH__
#define AE_UNROLL _Pragma("unroll")
#else
#define AE_UNROLL
#endif
/* The element functions are inlined into every loop that calls them (also into loops
 * compiled for another instruction set), so they vectorize with it. */
#ifdef __CUDACC__
#define AE_ELEM static __forceinline__ __host__ __device__
#elif defined(__GNUC__)
#define AE_ELEM static inline __attribute__((always_inline))
#else
#define AE_ELEM static inline
#endif
#define AE_PASTE_(a, b) a##b
#define AE_PASTE(a, b) AE_PASTE_(a, b)

/* An instance of ae_element.inc or ae_lanes.inc is compiled for the precision
 * AE_PRECISION, 32 or 64: AE_REAL is its type, AE_SQRT its square root, AE_R(name) the
 * name with its suffix (ae_adam_update_f32).  The .inc files #undef AE_PRECISION. */
#define AE_REAL_32 float
#define AE_REAL_64 double
#define AE_SQRT_32 sqrtf
#define AE_SQRT_64 sqrt
#define AE_REAL AE_PASTE(AE_REAL_, AE_PRECISION)
#define AE_SQRT AE_PASTE(AE_SQRT_, AE_PRECISION)
#define AE_R(name) AE_PASTE(AE_PASTE(name, _f), AE_PRECISION)

#define AE_PRECISION 32
#include "ae_element.inc"
#define AE_PRECISION 64
#include "ae_element.inc"

/* Loss alone, at the state the run ends in (the same sums as ae_loss_grad). */
AE_FN float ae_loss(int n, int m, const float *W, const float *b)
{
    float loss = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            float z = 0;
            for (int k = 0; k < m; k++) z += W[i * m + k] * W[j * m + k];
            z += b[i];
            const float residual = ae_entry_residual_f32(z, i == j ? 1.0f : 0.0f);
            loss += residual * residual;
        }
    return loss / (float)(n * n);
}

/* ------------------------------------------------------------------------ */
/* Optimizers with PyTorch's semantics (torch.optim, single-tensor path):    */
/* the per-parameter update is ae_element.inc's, the loop ae_lanes.inc's.     */
/* Terms that vanish for a setting (weight decay 0, momentum 0) are computed  */
/* anyway: adding 0 leaves a finite number as it is, and lanes need no branch. */
/* ------------------------------------------------------------------------ */

/* A run's optimizer state besides its per-parameter buffers: the step count, beta^t as
 * running products (in double, as PyTorch computes them in Python), and AdamW's decay
 * 1 - lr wd, the same at every step. */
typedef struct {
    int64_t t;                   /* steps taken since the start */
    double beta1_pow, beta2_pow; /* beta^t */
    double decay;                /* 1 - lr wd */
} ae_opt;

AE_FN void ae_opt_start(const ae_params *p, ae_opt *opt)
{
    opt->t = 0;
    opt->beta1_pow = 1.0;
    opt->beta2_pow = 1.0;
    opt->decay = 1.0 - (double)p->lr * (double)p->weight_decay;
}

/* One model's optimizer state at the start, its P-parameter buffers s1, s2 zeroed. */
AE_FN void ae_opt_reset(const ae_params *p, ae_opt *opt, int P, float *s1, float *s2)
{
    ae_opt_start(p, opt);
    for (int e = 0; e < P; e++) s1[e] = 0, s2[e] = 0;
}

/* ------------------------------------------------------------------------ */
/* Initial states                                                            */
/* ------------------------------------------------------------------------ */

/* xavier_normal, normal, uniform: W from the run's Philox stream, b = bias_init. */
AE_FN void ae_init_random(const ae_params *p, float *W, float *b)
{
    const int n = p->n, m = p->m;
    const uint64_t seed = (uint64_t)p->seed;
    double scale = p->scheme == AE_INIT_XAVIER_NORMAL ? sqrt(2.0 / (double)(n + m))
                   : p->scheme == AE_INIT_NORMAL      ? (double)p->init_std
                                                      : (double)p->init_bound;
    for (int e = 0; e < n * m; e++) {
        double draw = p->scheme == AE_INIT_UNIFORM ? ae_uniform(seed, AE_STREAM_INIT, (uint64_t)e)
                                                   : ae_normal(seed, AE_STREAM_INIT, (uint64_t)e);
        W[e] = (float)(scale * draw);
    }
    for (int i = 0; i < n; i++) b[i] = p->bias_init;
}

/* The mean-bias failure state of DESIGN.md section 3: features 0..n-2 on a regular
 * polygon of radius R with b = 1 - R^2, feature n-1 dead: W = dead_eps along the
 * bisector of features n-2 and 0, b = 1/n.  Latent dims past the second are 0. */
AE_FN void ae_init_ideal_failure(const ae_params *p, float *W, float *b)
{
    const int n = p->n, m = p->m, live = n - 1;
    const double radius = (double)p->radius;
    for (int e = 0; e < n * m; e++) W[e] = 0.0f;
    for (int i = 0; i < live; i++) {
        double c, s;
        ae_sincos_2pi((double)i / (double)live, &c, &s);
        W[i * m] = (float)(radius * c);
        if (m > 1) W[i * m + 1] = (float)(radius * s);
        b[i] = (float)fma(-radius, radius, 1.0); /* explicit: no backend may contract it otherwise */
    }
    double c, s; /* bisector of angles 2pi(n-2)/(n-1) and 2pi: (2n-3)/(2(n-1)) turns */
    ae_sincos_2pi((double)(2 * n - 3) / (double)(2 * live), &c, &s);
    W[live * m] = (float)((double)p->dead_eps * c);
    if (m > 1) W[live * m + 1] = (float)((double)p->dead_eps * s);
    b[live] = (float)(1.0 / (double)n);
}

/* Y_ii = ReLU(|W_i|^2 + b_i): how well feature i is reconstructed when it is active. */
AE_FN float ae_recon(int m, const float *Wi, float bi)
{
    float z = 0;
    for (int k = 0; k < m; k++) z += Wi[k] * Wi[k];
    z += bi;
    return z > 0 ? z : 0.0f;
}

/* A monotone stand-in for the angle of (x, y) in [0, 4): exact arithmetic only,
 * so sorting by it agrees on every backend. */
AE_FN float ae_pseudo_angle(float x, float y)
{
    float sum = fabsf(x) + fabsf(y);
    if (sum == 0.0f) return 0.0f;
    float r = x / sum; /* 1 at angle 0, -1 at pi */
    return y >= 0.0f ? 1.0f - r : 3.0f + r;
}

/* The two learnt features angularly adjacent to the dead feature's direction (m = 2).
 * The dead feature is the unlearnt one with the largest |W|; when there is none, or
 * its W is 0, the direction is the bisector of the largest gap between learnt
 * features.  Returns the number of neighbours found (0 or 2). */
AE_FN int ae_dead_neighbors(int n, int m, const float *W, const float *b, int out[2])
{
    int dead = -1, first = -1, last = -1;
    float dead_norm2 = -1.0f, dead_angle = 0.0f;
    if (m != 2) return 0;
    for (int i = 0; i < n; i++) {
        float norm2 = W[2 * i] * W[2 * i] + W[2 * i + 1] * W[2 * i + 1];
        if (ae_recon(2, W + 2 * i, b[i]) < AE_LEARNT_THRESHOLD && norm2 > dead_norm2) {
            dead = i;
            dead_norm2 = norm2;
        }
    }
    int use_gap = dead < 0 || dead_norm2 == 0.0f;
    if (!use_gap) dead_angle = ae_pseudo_angle(W[2 * dead], W[2 * dead + 1]);
    /* Walk the learnt features in angular order: for each, its successor is the learnt
     * feature of the smallest larger pseudo-angle (wrapping).  The gap (a, succ(a))
     * containing the dead direction, or the widest gap, names the neighbours. */
    float best_gap = -1.0f;
    for (int i = 0; i < n; i++) {
        if (ae_recon(2, W + 2 * i, b[i]) < AE_LEARNT_THRESHOLD) continue;
        float ai = ae_pseudo_angle(W[2 * i], W[2 * i + 1]);
        int succ = -1;
        float succ_gap = 5.0f;
        for (int j = 0; j < n; j++) {
            if (j == i || ae_recon(2, W + 2 * j, b[j]) < AE_LEARNT_THRESHOLD) continue;
            float gap = ae_pseudo_angle(W[2 * j], W[2 * j + 1]) - ai;
            if (gap <= 0.0f) gap += 4.0f;
            if (gap < succ_gap) succ_gap = gap, succ = j;
        }
        if (succ < 0) continue;
        if (use_gap) {
            if (succ_gap > best_gap) best_gap = succ_gap, first = i, last = succ;
        } else {
            float offset = dead_angle - ai;
            if (offset < 0.0f) offset += 4.0f;
            if (offset <= succ_gap && (first < 0 || succ_gap < best_gap))
                best_gap = succ_gap, first = i, last = succ;
        }
    }
    if (first < 0) return 0;
    out[0] = first;
    out[1] = last;
    return 2;
}

typedef enum { AE_PERTURB_NONE = 0, AE_PERTURB_DEAD_NEIGHBORS = 1, AE_PERTURB_LIST = 2 } ae_perturb_kind;

/* The initial parameters theta = [W | b] of a run: a random scheme from the run's
 * Philox stream, ideal_failure, or a copy of its base state (scheme "file"). */
AE_FN void ae_init_state(const ae_params *p, const float *base_W, const float *base_b, float *theta)
{
    const int n = p->n, m = p->m;
    if (p->scheme == AE_INIT_FILE) {
        for (int e = 0; e < n * m; e++) theta[e] = base_W[e];
        for (int i = 0; i < n; i++) theta[n * m + i] = base_b[i];
    } else if (p->scheme == AE_INIT_IDEAL_FAILURE) {
        ae_init_ideal_failure(p, theta, theta + n * m);
    } else {
        ae_init_random(p, theta, theta + n * m);
    }
}

/* Adds bias_delta to the biases of the perturbed features (DESIGN.md section 4). */
AE_FN void ae_perturb(const ae_params *p, int kind, const int32_t *features, int n_features, float *theta)
{
    const int n = p->n, m = p->m;
    float *b = theta + n * m;
    if (kind == AE_PERTURB_DEAD_NEIGHBORS) {
        int neighbors[2];
        int found = ae_dead_neighbors(n, m, theta, b, neighbors);
        for (int a = 0; a < found; a++) b[neighbors[a]] += p->bias_delta;
    } else if (kind == AE_PERTURB_LIST) {
        for (int a = 0; a < n_features; a++)
            if (features[a] < n) b[features[a]] += p->bias_delta;
    }
}

/* ------------------------------------------------------------------------ */
/* Outcome classes of a state (DESIGN.md section 3)                           */
/* ------------------------------------------------------------------------ */

/* What a state alone says about a run, before convergence and divergence count. */
typedef struct {
    int32_t kind;     /* AE_OUT_PERFECT, _SYMMETRIC_, _PINNED_, _DEAD_ or _INTERFERENCE_FAILURE;
                         -1: every feature learnt, perfect not tested (need_perfect = 0) */
    int32_t n_learnt; /* features with Y_ii >= 0.5 */
    int32_t live_ok;  /* every learnt feature has Y_jj >= outcome.live_min */
    float tilt;       /* tau of the unlearnt feature with the largest b_i > 0; NaN if none */
} ae_state_class;

/* Classifies the state theta = [W | b] whose element e is theta[e * stride] (stride 1:
 * one model; LANES: one lane of a lane group).  Z_ij = W_i.W_j + b_i is summed as the
 * forward pass sums it.  For an unlearnt feature with b_i > 0 its tilt is
 * tau_i = max_{j != i} |W_i.W_j| / b_i.  need_perfect = 0 skips the n^2 test of every
 * entry of Y when every feature is learnt (the checks need it only until it matters).
 * The loops carry AE_UNROLL so that in a kernel with n, m fixed at compile time theta
 * is indexed by constants only and stays in registers. */
AE_FN void ae_classify_state(const ae_params *p, int stride, const float *theta, int need_perfect, ae_state_class *out)
{
    const int n = p->n, m = p->m;
#define AE_W(i, k) theta[((i) * m + (k)) * stride]
#define AE_B(i) theta[(n * m + (i)) * stride]
    int learnt = 0, live_ok = 1, firing = 0, symmetric = 0;
    float top_bias = 0.0f, tilt = NAN;
    AE_UNROLL for (int i = 0; i < n; i++) {
        float z = 0;
        for (int k = 0; k < m; k++) z += AE_W(i, k) * AE_W(i, k);
        z += AE_B(i);
        const float y = z > 0 ? z : 0.0f, b = AE_B(i);
        if (y >= AE_LEARNT_THRESHOLD) {
            learnt++;
            live_ok &= y >= p->live_min;
            continue;
        }
        if (!(b > 0.0f)) continue;
        float overlap = 0.0f;
        AE_UNROLL for (int j = 0; j < n; j++) {
            float dot = 0;
            for (int k = 0; k < m; k++) dot += AE_W(i, k) * AE_W(j, k);
            if (j != i) overlap = fmaxf(overlap, fabsf(dot));
        }
        const float tau = overlap / b;
        symmetric |= tau < p->tilt_max;
        if (!firing || b > top_bias) top_bias = b, tilt = tau;
        firing = 1;
    }
    out->n_learnt = learnt;
    out->live_ok = live_ok;
    out->tilt = tilt;
    if (learnt < n) {
        out->kind = !firing ? AE_OUT_DEAD_FAILURE : symmetric ? AE_OUT_SYMMETRIC_FAILURE : AE_OUT_PINNED_FAILURE;
        return;
    }
    if (!need_perfect) {
        out->kind = -1;
        return;
    }
    int perfect = 1; /* every |Y_ij - I_ij| < 0.5 */
    AE_UNROLL for (int i = 0; i < n; i++)
        AE_UNROLL for (int j = 0; j < n; j++) {
            float z = 0;
            for (int k = 0; k < m; k++) z += AE_W(i, k) * AE_W(j, k);
            z += AE_B(i);
            const float y = z > 0 ? z : 0.0f;
            perfect &= fabsf(y - (i == j ? 1.0f : 0.0f)) < 0.5f;
        }
    out->kind = perfect ? AE_OUT_PERFECT : AE_OUT_INTERFERENCE_FAILURE;
#undef AE_W
#undef AE_B
}

/* ------------------------------------------------------------------------ */
/* Outcome tracking during training                                          */
/* ------------------------------------------------------------------------ */

/* The loss at the last AE_TRACK_RING checks, for the plateau test: outcome.window may
 * span at most AE_TRACK_RING - 1 checks (the config refuses more). */
#define AE_TRACK_RING 64

/* Per run, filled during training.  A check (every check_every steps, and at the end)
 * is on a plateau when its state is a symmetric or pinned failure whose learnt features
 * all have Y_jj >= live_min, and its loss moved by at most outcome.tol relatively since
 * the latest check at or before `outcome.window` steps earlier (step 0 if none): with a
 * window that is not a multiple of check_every the comparison reaches back to the
 * check before, so it spans ceil(window / check_every) checks.  A plateau is a row of
 * consecutive plateau checks with one number of unlearnt features spanning (last - first
 * check) >= plateau_steps; its kind is the class at its first check (a run escaping the
 * symmetric saddle tilts slowly while its loss is still flat: it stays a symmetric plateau). */
typedef struct {
    int64_t first_perfect_step;     /* first perfect check, -1: never */
    int64_t recovery_step;          /* first perfect check after the longest plateau, -1: none */
    int64_t diverged_step;          /* step the loss turned non-finite, -1: never */
    int64_t plateau_start;          /* the longest plateau's first check, -1: none */
    int64_t plateau_length;         /* its last check - first check, -1: none */
    int32_t plateau_kind;           /* 0 none, AE_OUT_SYMMETRIC_FAILURE (1) or AE_OUT_PINNED_FAILURE (2) */
    int32_t plateau_unlearnt;       /* unlearnt features on it, -1: none */
    int64_t row_start;              /* first check of the current row of plateau checks, -1: none */
    int32_t row_kind, row_unlearnt; /* that row's kind (at its first check) and unlearnt features */
    int64_t next_check;             /* next multiple of check_every */
    int64_t anchor_step;            /* T - outcome.window, or 0 when T < window */
    float loss_anchor;              /* L(anchor_step), for convergence at the end */
    double twin_log_sum;            /* a run with a renormalised twin: sum of ln(d/eps) so far */
    float check_loss[AE_TRACK_RING]; /* L at check c (step c * check_every) in [c % AE_TRACK_RING] */
} ae_track;

AE_FN void ae_track_reset(const ae_params *p, ae_track *track)
{
    track->first_perfect_step = -1;
    track->recovery_step = -1;
    track->diverged_step = -1;
    track->plateau_start = -1;
    track->plateau_length = -1;
    track->plateau_kind = 0;
    track->plateau_unlearnt = -1;
    track->row_start = -1;
    track->row_kind = 0, track->row_unlearnt = 0;
    track->next_check = 0;
    track->anchor_step = p->steps > p->outcome_window ? p->steps - p->outcome_window : 0;
    track->loss_anchor = NAN;
    track->twin_log_sum = 0;
    for (int c = 0; c < AE_TRACK_RING; c++) track->check_loss[c] = NAN;
}

/* One check at `step` of the state theta (element e at theta[e * stride]) whose loss
 * the forward pass of this step computed.  periodic: step is a multiple of check_every
 * (its loss enters the ring); the final check at T need not be. */
AE_FN void ae_track_check(const ae_params *p, ae_track *track, int64_t step, int periodic, float loss, int stride,
                          const float *theta)
{
    const int64_t check = step / p->check_every;
    int64_t reference = (step > p->outcome_window ? step - p->outcome_window : 0) / p->check_every;
    if (check - reference >= AE_TRACK_RING) reference = check - (AE_TRACK_RING - 1); /* refused by the config */
    if (periodic) track->check_loss[check % AE_TRACK_RING] = loss; /* first: at step 0 it is its own reference */
    const float before = track->check_loss[reference % AE_TRACK_RING];
    ae_state_class state;
    const int need_perfect = track->first_perfect_step < 0 || (track->plateau_kind && track->recovery_step < 0);
    ae_classify_state(p, stride, theta, need_perfect, &state);
    const int unlearnt = p->n - state.n_learnt;
    const int plateau = (state.kind == AE_OUT_SYMMETRIC_FAILURE || state.kind == AE_OUT_PINNED_FAILURE) &&
                        state.live_ok && fabsf(loss - before) <= p->outcome_tol * loss;
    if (!plateau) {
        track->row_start = -1;
    } else {
        if (track->row_start < 0 || unlearnt != track->row_unlearnt)
            track->row_start = step, track->row_kind = state.kind, track->row_unlearnt = unlearnt;
        const int64_t length = step - track->row_start;
        if (length >= p->plateau_steps && length > track->plateau_length) {
            if (track->plateau_start != track->row_start) track->recovery_step = -1; /* a new longest plateau */
            track->plateau_start = track->row_start;
            track->plateau_length = length;
            track->plateau_kind = track->row_kind;
            track->plateau_unlearnt = unlearnt;
        }
    }
    if (state.kind == AE_OUT_PERFECT) {
        if (track->first_perfect_step < 0) track->first_perfect_step = step;
        if (track->plateau_kind && track->recovery_step < 0) track->recovery_step = step;
    }
}

/* What the training loop calls at each step where a lane has an event (the anchor step,
 * a check, the end): records them, returns the lane's next event step. */
AE_FN int64_t ae_track_step(const ae_params *p, ae_track *track, int64_t step, float loss, int stride,
                            const float *theta)
{
    const int periodic = step == track->next_check;
    if (step == track->anchor_step) track->loss_anchor = loss;
    if (periodic || step == p->steps) ae_track_check(p, track, step, periodic, loss, stride, theta);
    if (periodic) track->next_check += p->check_every;
    int64_t next = track->next_check < p->steps ? track->next_check : p->steps;
    if (track->anchor_step > step && track->anchor_step < next) next = track->anchor_step;
    return next;
}

/* ae_track_step for every running lane of a LANES-wide state; the lanes' next event. */
AE_FN int64_t ae_track_lanes(const ae_params *const *params, ae_track *track, int lanes, const int *stopped,
                             int64_t step, const float *loss, const float *theta)
{
    int64_t next = INT64_MAX;
    for (int l = 0; l < lanes; l++) {
        if (stopped[l]) continue;
        const int64_t lane_next = ae_track_step(params[l], &track[l], step, loss[l], lanes, theta + l);
        if (lane_next < next) next = lane_next;
    }
    return next;
}

/* ------------------------------------------------------------------------ */
/* End-of-run metrics (DESIGN.md section 3)                                   */
/* ------------------------------------------------------------------------ */

typedef struct {
    float loss, loss_change, tilt, splay, asymmetry, min_gap;
    int32_t n_learnt, radius_levels, outcome, converged, recovered;
} ae_summary;

/* The run's end state theta = [W | b] after training with `track`.  recon, norm: n
 * floats each, written.  scratch: n floats.  Convergence:
 * |L(T) - L(T - window)| <= tol L(T); the outcome is the first match of diverged,
 * perfect, still_learning (not converged), then the state's own class. */
AE_FN void ae_summarize(const ae_params *p, const float *theta, const ae_track *track, float *recon, float *norm,
                        float *scratch, ae_summary *out)
{
    const int n = p->n, m = p->m;
    const float *W = theta, *b = theta + n * m;
    float sum[AE_M_MAX] = {0};
    int finite = 1, learnt = 0;
    out->splay = 0.0f;
    for (int i = 0; i < n; i++) {
        float norm2 = 0;
        for (int k = 0; k < m; k++) {
            float w = W[i * m + k];
            norm2 += w * w;
            sum[k] += w;
            finite &= isfinite(w) != 0;
        }
        finite &= isfinite(b[i]) != 0;
        norm[i] = sqrtf(norm2);
        recon[i] = ae_recon(m, W + i * m, b[i]);
        out->splay += norm[i];
        if (recon[i] >= AE_LEARNT_THRESHOLD) scratch[learnt++] = norm[i];
    }
    out->loss = ae_loss(n, m, W, b);
    finite &= isfinite(out->loss) != 0;
    float sum2 = 0;
    for (int k = 0; k < m; k++) sum2 += sum[k] * sum[k];
    out->asymmetry = out->splay > 0.0f ? sqrtf(sum2) / out->splay : 0.0f;
    ae_state_class state;
    ae_classify_state(p, 1, theta, 1, &state);
    const float change = out->loss - track->loss_anchor;
    out->loss_change = change / out->loss;
    out->converged = fabsf(change) <= p->outcome_tol * out->loss;
    out->tilt = state.tilt;
    out->n_learnt = learnt;
    out->outcome = !finite                          ? AE_OUT_DIVERGED
                   : state.kind == AE_OUT_PERFECT ? AE_OUT_PERFECT
                   : !out->converged              ? AE_OUT_STILL_LEARNING
                                                  : state.kind;
    out->recovered = track->plateau_kind != 0 && out->outcome == AE_OUT_PERFECT;
    /* radius levels: sort learnt norms (insertion sort, n is small), count 5 % jumps */
    for (int a = 1; a < learnt; a++) {
        float key = scratch[a];
        int c = a - 1;
        while (c >= 0 && scratch[c] > key) scratch[c + 1] = scratch[c], c--;
        scratch[c + 1] = key;
    }
    out->radius_levels = learnt > 0;
    for (int a = 1; a < learnt; a++) out->radius_levels += scratch[a] > scratch[a - 1] * AE_RADIUS_JUMP;
    /* min_gap: smallest angle between learnt features that are adjacent in angle
     * (for m = 2 each feature's angular successor; otherwise all pairs) */
    float min_cos = -2.0f;
    for (int i = 0; i < n; i++) {
        if (recon[i] < AE_LEARNT_THRESHOLD || norm[i] == 0.0f) continue;
        float ai = m == 2 ? ae_pseudo_angle(W[2 * i], W[2 * i + 1]) : 0.0f;
        int succ = -1;
        float succ_gap = 5.0f;
        for (int j = 0; j < n; j++) {
            if (j == i || recon[j] < AE_LEARNT_THRESHOLD || norm[j] == 0.0f) continue;
            if (m == 2) {
                float gap = ae_pseudo_angle(W[2 * j], W[2 * j + 1]) - ai;
                if (gap <= 0.0f) gap += 4.0f;
                if (gap < succ_gap) succ_gap = gap, succ = j;
                continue;
            }
            float dot = 0;
            for (int k = 0; k < m; k++) dot += W[i * m + k] * W[j * m + k];
            float cosine = dot / (norm[i] * norm[j]);
            if (cosine > min_cos) min_cos = cosine;
        }
        if (succ >= 0) {
            float dot = W[2 * i] * W[2 * succ] + W[2 * i + 1] * W[2 * succ + 1];
            float cosine = dot / (norm[i] * norm[succ]);
            /* two features only: both gaps count, the smaller one is min_gap */
            if (cosine > min_cos) min_cos = cosine;
        }
    }
    out->min_gap = min_cos < -1.5f ? NAN : acosf(fminf(fmaxf(min_cos, -1.0f), 1.0f));
}

/* ------------------------------------------------------------------------ */
/* Twin runs (the interventions are in ae_lanes.inc: they run inside the loop) */
/* ------------------------------------------------------------------------ */

/* The twin of a run starts eps away: theta + eps x a random unit vector over all P
 * parameters, from the run's own Philox stream. */
AE_FN void ae_twin_perturb(const ae_params *p, int lanes, int lane, float *theta)
{
    const int P = p->n * p->m + p->n;
    double length2 = 0;
    for (int e = 0; e < P; e++) {
        double draw = ae_normal((uint64_t)p->seed, AE_STREAM_TWIN, (uint64_t)e);
        length2 += draw * draw;
    }
    for (int e = 0; e < P; e++)
        theta[e * lanes + lane] += (float)((double)p->twin_eps * ae_normal((uint64_t)p->seed, AE_STREAM_TWIN, (uint64_t)e) /
                                           sqrt(length2));
}

/* The arrays runs train in: P = n*m + n floats per lane each (SoA for LANES > 1).
 * frozen: P floats per lane, where a lane that diverges keeps the state it broke in
 * while its neighbours go on (unused when LANES = 1, where the run just stops).
 * twin_renorm > 0 (LANES > 1 only): lane l + LANES/2 is the state twin of lane l, pulled
 * back to distance eps every twin_renorm steps (ae_lanes.inc, ae_twin_renorm); 0: none. */
typedef struct {
    float *theta, *grad, *s1, *s2, *frozen;
    int64_t twin_renorm;
} ae_buffers;

/* Optional record of a single run's training: loss and theta at steps 0, every,
 * 2*every, ... (points = steps / every + 1 slots; NULL: nothing recorded). */
typedef struct {
    int64_t every;
    float *loss;  /* points */
    float *theta; /* points * P */
} ae_trace;

/* loss: L(step), from the forward pass of this step */
AE_FN void ae_trace_point(const ae_params *p, const ae_trace *trace, int64_t step, const float *theta, float loss)
{
    const int n = p->n, m = p->m, P = n * m + n;
    if (!trace || step % trace->every != 0) return;
    int64_t point = step / trace->every;
    trace->loss[point] = loss;
    for (int e = 0; e < P; e++) trace->theta[point * P + e] = theta[e];
}

/* ------------------------------------------------------------------------ */
/* The training step and loop (ae_lanes.inc): the single-model instances      */
/* ------------------------------------------------------------------------ */

#define AE_PRECISION 32
#define AE_LANES 1
#define AE_M 0
#define AE_NAME(name) AE_PASTE(name, _x1)
#include "ae_lanes.inc"

/* The gradient in double precision, for the finite-difference tests. */
#define AE_PRECISION 64
#define AE_LANES 1
#define AE_M 0
#define AE_NAME(name) AE_PASTE(name, _f64_x1)
#define AE_LANES_GRAD_ONLY
#include "ae_lanes.inc"
#undef AE_LANES_GRAD_ONLY

/* One model: returns the loss, fills the gradient. */
AE_FN float ae_loss_grad(int n, int m, const float *W, const float *b, float *gW, float *gb)
{
    float squares;
    ae_loss_grad_x1(n, m, W, b, gW, gb, &squares);
    return squares / (float)(n * n);
}

/* The same in double precision, for the finite-difference tests. */
AE_FN double ae_loss_grad_f64(int n, int m, const double *W, const double *b, double *gW, double *gb)
{
    double squares;
    ae_loss_grad_f64_x1(n, m, W, b, gW, gb, &squares);
    return squares / (double)(n * n);
}

/* One model's update of its P parameters theta from grad. */
AE_FN void ae_opt_step(const ae_params *p, ae_opt *opt, int P, float *theta, const float *grad, float *s1, float *s2)
{
    ae_opt_step_x1(&p, opt, P, theta, grad, s1, s2);
}

/* One model's intervention (at its intervene.at_step). */
AE_FN void ae_intervene(const ae_params *p, float *theta, float *s1, float *s2) { ae_intervene_x1(p, 0, theta, s1, s2); }

/* Trains one run (trace: optional training curve). */
AE_FN void ae_train(const ae_params *p, const ae_buffers *buf, ae_track *track, const ae_trace *trace)
{
    ae_train_x1(&p, buf, track, trace);
}

#endif /* AE_MODEL_H */
