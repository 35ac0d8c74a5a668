/*
 * ae_model.h - the per-model math of aesweep, written once.
 *
 * Every function here is `static inline` and, under nvcc, __host__ __device__:
 * the CPU backend (src/backends/cpu.c) and the CUDA kernels (kernels/) call the
 * very same code.  A "model" is one tiny tied-weight ReLU autoencoder
 *
 *     Z = W^T W + b 1^T,  Y = ReLU(Z),  L = (1/n^2) sum_ij (Y_ij - I_ij)^2
 *
 * with W stored feature-major: W[i*m + k] is latent coordinate k of feature i
 * (column i of the m x n matrix of DESIGN.md).  The parameters live in one flat
 * vector theta = [W (n*m) | b (n)] so the optimizers are plain loops.
 *
 * Where each job lives (every file a body of plain C, included here or by the backends):
 *   ae_rng.h          randomness: Philox4x32-10, ae_normal, ae_uniform
 *   ae_step.inc       one element of a step: entry (i, j) of the forward/backward pass
 *                     (ae_entry_*), one parameter's SGD or Adam(W) update
 *   this header       the settings of a run (ae_params), the optimizer's state (ae_opt,
 *                     ae_bias, ae_bias_table), the tracker (ae_track), ae_summary, ae_trace
 *   ae_outcome.inc    what a state says: ae_loss, ae_recon, ae_classify_state, the tracker's
 *                     checks (ae_track_*), the end-of-run metrics (ae_summarize)
 *   ae_init.inc       initial states (ae_init_*, ae_init_state), ae_perturb, ae_twin_perturb
 *   ae_train.inc      the loop's buffers (ae_buffers), ae_opt_start/_reset, ae_trace_point
 *   ae_lanes.inc      one instance of the step and loop for AE_LANES models side by side:
 *     ae_lanes_step.inc   ae_loss_grad, ae_loss_squares, ae_opt_step
 *     ae_intervene.inc    ae_intervene (resampling, repulsor, gap placement)
 *     ae_loop.inc         ae_step_checks, ae_twin_renorm, ae_train; one-model entry points
 *
 * ae_step.inc, ae_outcome.inc, ae_init.inc and ae_train.inc are compiled once per
 * precision, ae_lanes.inc once per (lanes, m, precision): here for one model, in
 * src/backends/cpu_isa.inc for the CPU's lanes per instruction set, in kernels/train.cu
 * for the CUDA kernels.  Every function of a body has the precision's suffix:
 * ae_train_f32 trains a float32 run, ae_train_f64 a float64 run (model.precision).
 *
 * Settings (ae_params) are double.  A float32 run rounds each to float where it uses it
 * (AE_SETTING), so it computes exactly what it did when settings were float; a float64
 * run uses them as given.
 *
 * Adam's per-step corrections: computed step by step (ae_bias_next), or read from a table
 * of the very same numbers where the caller hands one over (ae_buffers.bias: the CUDA
 * kernels, one model per thread, where reading is cheaper than double division).
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
#define AE_LEARNT_THRESHOLD 0.5                    /* feature i learnt when Y_ii >= this */
#define AE_RADIUS_JUMP 1.05                        /* new norm level past a 5 % jump */

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

/* intervene.when: at intervene.at_step, or at the run's first check on a plateau. */
typedef enum { AE_WHEN_STEP = 0, AE_WHEN_PLATEAU = 1 } ae_intervene_when;

/* model.precision: the floating type a run trains in. */
typedef enum { AE_FLOAT32 = 0, AE_FLOAT64 = 1 } ae_precision;

/* Philox subsequences: each use of randomness in a run has its own stream. */
enum { AE_STREAM_INIT = 0, AE_STREAM_TWIN = 1, AE_STREAM_INTERVENE = 2 };

/* Every numeric setting of one run, resolved from config defaults and grid axes. */
typedef struct {
    int32_t n, m;
    int32_t precision;             /* ae_precision */
    int32_t scheme, optimizer;
    int64_t seed;
    double init_std, init_bound, bias_init, radius, dead_eps;
    double lr, weight_decay, beta1, beta2, eps, momentum;
    int64_t steps, check_every, plateau_steps;
    int64_t outcome_window;        /* convergence and plateaus: loss change over this many steps */
    double outcome_tol, tilt_max, live_min;
    int32_t hessian;               /* outcome.hessian: ae_hessian_mode (ae_stability.h), host only */
    double hessian_tol;            /* outcome.hessian_tol: hessian_neg's cut, relative to max |eigenvalue| */
    double bias_delta;
    int32_t intervene;             /* ae_intervention */
    int32_t intervene_when;        /* ae_intervene_when */
    int64_t intervene_at_step;
    double intervene_scale, intervene_delta, intervene_noise;
    double twin_eps;
    int64_t twin_renorm_every;     /* state twins: Benettin's renormalisation period, 0: a free twin */
    /* the sweep's, not the run's (the settings table gives them --set and --help; they are no axis) */
    int64_t check_float64;         /* runs of the grid trained again in float64 (check.float64) */
    int64_t check_seed;            /* the Philox key that picks them */
} ae_params;

#include "ae_rng.h" /* randomness: Philox4x32-10 and its transforms */

/* ------------------------------------------------------------------------ */
/* The step's per-element math (ae_step.inc), once per precision             */
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

/* An instance of an ae_*.inc body (ae_step.inc, ae_outcome.inc, ...) is compiled for the
 * precision AE_PRECISION, 32 or 64: AE_REAL is its type, AE_SQRT, AE_FABS, ... its
 * library functions (no silent widening), AE_R(name) the name with its suffix
 * (ae_adam_update_f32), AE_SETTING(x) a setting (a double of ae_params) as the run uses
 * it: rounded to float in a float32 run.  The .inc files #undef AE_PRECISION. */
#define AE_REAL_32 float
#define AE_REAL_64 double
#define AE_SQRT_32 sqrtf
#define AE_SQRT_64 sqrt
#define AE_FABS_32 fabsf
#define AE_FABS_64 fabs
#define AE_FMIN_32 fminf
#define AE_FMIN_64 fmin
#define AE_FMAX_32 fmaxf
#define AE_FMAX_64 fmax
#define AE_ACOS_32 acosf
#define AE_ACOS_64 acos
#define AE_REAL AE_PASTE(AE_REAL_, AE_PRECISION)
#define AE_SQRT AE_PASTE(AE_SQRT_, AE_PRECISION)
#define AE_FABS AE_PASTE(AE_FABS_, AE_PRECISION)
#define AE_FMIN AE_PASTE(AE_FMIN_, AE_PRECISION)
#define AE_FMAX AE_PASTE(AE_FMAX_, AE_PRECISION)
#define AE_ACOS AE_PASTE(AE_ACOS_, AE_PRECISION)
#define AE_R(name) AE_PASTE(AE_PASTE(name, _f), AE_PRECISION)
#define AE_SETTING(x) ((AE_REAL)(x))

#define AE_PRECISION 32
#include "ae_step.inc"
#define AE_PRECISION 64
#include "ae_step.inc"


/* ------------------------------------------------------------------------ */
/* What both precisions share: optimizer scalars, outcome tracking, metrics.  */
/* Their floating fields are double; a float32 run computes each value in     */
/* float and stores it widened (exactly), so its bits and decisions are those */
/* of float arithmetic.                                                       */
/* ------------------------------------------------------------------------ */

/* Adam's bias corrections at a step t >= 1: 1 - beta1^t and 1 / sqrt(1 - beta2^t), in
 * double as PyTorch computes them in Python, with beta^t a running product. */
typedef struct {
    double bias1, inv_bias2_sqrt;
} ae_bias;

/* A run's optimizer state besides its per-parameter buffers: the step count, beta^t as
 * running products, and AdamW's decay 1 - lr wd, the same at every step.
 * bias: NULL, and ae_opt_step computes Adam's corrections step by step; or a table of them
 * (ae_bias_table: the same numbers, handed over in ae_buffers.bias: the CUDA kernels, and
 * the CPU's lane groups whose lanes share their betas), which ae_opt_step reads instead;
 * beta^t then stays 1.  On
 * the device computing them takes ~50 instructions a step, double-precision division and
 * square root among them; reading them, 25 fewer of n = 7's ~1 150 (`make sass`). */
typedef struct {
    int64_t t;                   /* steps taken since the start */
    double beta1_pow, beta2_pow; /* beta^t */
    double decay;                /* 1 - lr wd */
    const ae_bias *bias;         /* NULL, or bias[t - 1] at step t <= bias_last + 1, */
    int64_t bias_last;           /* bias[bias_last] at every later step */
} ae_opt;

/* The corrections of the step after the one where beta1_pow, beta2_pow = beta^(t-1);
 * moves them on to beta^t. */
AE_FN ae_bias ae_bias_next(double *beta1_pow, double *beta2_pow, double beta1, double beta2)
{
    ae_bias c;
    *beta1_pow *= beta1, *beta2_pow *= beta2;
    c.bias1 = 1.0 - *beta1_pow;
    c.inv_bias2_sqrt = 1.0 / sqrt(1.0 - *beta2_pow);
    return c;
}

/* A fresh optimizer state (ae_opt_start) moved on to continue after t0 steps (init.optimizer_state
 * = "keep"): t = t0 and beta^t0 as the running products of t0 steps, the very multiplications
 * ae_bias_next makes (no pow: its bits are not those of a running product).  It stops once both
 * corrections are exactly {1, 1}: they stay there at every later step (beta^t only shrinks, so
 * 1 - beta^t only grows to 1, 1 / sqrt(1 - beta^t) only falls to 1; ae_bias_table), so the steps
 * after t0 see the corrections they would have seen had the run never stopped. */
AE_FN void ae_opt_continue(ae_opt *opt, double beta1, double beta2, int64_t t0)
{
    opt->t = t0;
    for (int64_t k = 0; k < t0; k++) {
        const ae_bias c = ae_bias_next(&opt->beta1_pow, &opt->beta2_pow, beta1, beta2);
        if (c.bias1 == 1.0 && c.inv_bias2_sqrt == 1.0) break;
    }
}

/* table[k] = the corrections of step k + 1, for beta1, beta2 as the runs use them
 * (AE_SETTING), up to the first step whose corrections are exactly {1, 1} or to
 * `capacity` entries; returns the entries written.  From that step on every step's are
 * {1, 1}: then beta^t <= 2^-54 (1 - beta^t rounds to 1), and beta^t never grows again
 * (0 <= beta < 1, the config's range). */
AE_FN int64_t ae_bias_table(double beta1, double beta2, int64_t capacity, ae_bias *table)
{
    double beta1_pow = 1.0, beta2_pow = 1.0;
    int64_t k = 0;
    while (k < capacity) {
        const ae_bias c = ae_bias_next(&beta1_pow, &beta2_pow, beta1, beta2);
        table[k++] = c;
        if (c.bias1 == 1.0 && c.inv_bias2_sqrt == 1.0) break;
    }
    return k;
}

typedef enum { AE_PERTURB_NONE = 0, AE_PERTURB_DEAD_NEIGHBORS = 1, AE_PERTURB_LIST = 2 } ae_perturb_kind;

/* What a state alone says about a run, before convergence and divergence count. */
typedef struct {
    int32_t kind;     /* AE_OUT_PERFECT, _SYMMETRIC_, _PINNED_, _DEAD_ or _INTERFERENCE_FAILURE;
                         -1: every feature learnt, perfect not tested (need_perfect = 0) */
    int32_t n_learnt; /* features with Y_ii >= 0.5 */
    int32_t live_ok;  /* every learnt feature has Y_jj >= outcome.live_min */
    double tilt;       /* tau of the unlearnt feature with the largest b_i > 0; NaN if none */
} ae_state_class;

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
 * symmetric saddle tilts slowly while its loss is still flat: it stays a symmetric plateau).
 * learnt_step: the caller's storage for n values, one per feature (ae_track_reset's
 * argument; ae_train passes the buffers' ae_buffers.learnt_step), so this struct, copied
 * per run to device memory, stays small. */
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
    double loss_anchor;              /* L(anchor_step), for convergence at the end */
    double twin_log_sum;             /* a run with a renormalised twin: sum of ln(d/eps) so far */
    int64_t intervened_step;        /* step the intervention changed the state at, -1: none */
    int32_t intervene_due;          /* intervene.when = "plateau": this check recorded the run's
                                       first plateau, so the loop intervenes before its update */
    int32_t frozen;                 /* the learnt features' W_i, b_i at T bit for bit their values
                                       at anchor_step while the loss gradient on them is not zero
                                       (ae_track_frozen, at the end) */
    int64_t *learnt_step;           /* [n] or NULL: the first check of the row of checks, up to
                                       the latest, at which feature i is learnt; -1 while unlearnt */
    double check_loss[AE_TRACK_RING]; /* L at check c (step c * check_every) in [c % AE_TRACK_RING] */
} ae_track;

/* The tracker at the start, with learnt_step (n values, -1 each; NULL: not tracked) as
 * the storage of its escape times. */
AE_FN void ae_track_reset(const ae_params *p, ae_track *track, int64_t *learnt_step)
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
    track->intervened_step = -1;
    track->intervene_due = 0;
    track->frozen = 0;
    track->learnt_step = learnt_step;
    for (int i = 0; learnt_step && i < p->n; i++) learnt_step[i] = -1;
    for (int c = 0; c < AE_TRACK_RING; c++) track->check_loss[c] = NAN;
}

typedef struct {
    double loss, loss_change, tilt, splay, asymmetry, min_gap;
    int32_t n_learnt, radius_levels, outcome, converged, recovered;
} ae_summary;

/* Optional record of a single run's training: loss and theta at steps 0, every,
 * 2*every, ... (points = steps / every + 1 slots; NULL: nothing recorded). */
typedef struct {
    int64_t every;
    double *loss;  /* points */
    double *theta; /* points * P */
} ae_trace;

/* ------------------------------------------------------------------------ */
/* A state's math (ae_outcome.inc, ae_init.inc, ae_train.inc), the training    */
/* step and loop of one model (ae_lanes.inc, AE_LANES 1)                      */
/* and its entry points, once per precision                                 */
/* ------------------------------------------------------------------------ */

#define AE_PRECISION 32
#include "ae_outcome.inc"
#include "ae_init.inc"
#include "ae_train.inc"
#define AE_PRECISION 64
#include "ae_outcome.inc"
#include "ae_init.inc"
#include "ae_train.inc"

#define AE_LANES_SINGLE /* ae_lanes.inc adds the one-model entry points */
#define AE_PRECISION 32
#define AE_LANES 1
#define AE_M 0
#define AE_NAME(name) AE_PASTE(name, _f32_x1)
#include "ae_lanes.inc"
#define AE_PRECISION 64
#define AE_LANES 1
#define AE_M 0
#define AE_NAME(name) AE_PASTE(name, _f64_x1)
#include "ae_lanes.inc"
#undef AE_LANES_SINGLE

#endif /* AE_MODEL_H */
