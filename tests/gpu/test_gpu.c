/*
 * test_gpu.c - the CUDA kernels against the CPU path of the same header (needs a GPU).
 *
 *   init        initial states (every scheme, every perturbation) bit-identical to the host's
 *   train       final W, b after 2 000 AdamW steps, 1 000 random runs (n 2..16), every
 *               kernel variant: median relative difference < 1e-5, 99th percentile < 1e-3;
 *               outcomes, plateaus, recoveries and on-device metrics agree with the host's;
 *               on the emulated device (tests/gpu/emulate.sh) every run bit-identical
 *   large       n 17..256 (the runtime-n kernels), fewer steps, same tolerances
 *   dispatch    the instance each variant picks past the fixed sizes is the warp kernel of
 *               the run's precision, and it fits on an SM (float64 at n = 256, m = 4: 48 KiB)
 *   diverged    SGD at lr 1e3 diverges: flagged (outcome diverged, diverged_step) on exactly the
 *               runs the CPU flags, while the runs beside them train on unharmed
 *
 * Prints one line per check and "N passed, N failed"; exits 1 on any failure.
 * Build and run: see tests/gpu/README.md.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ae_backend.h" /* the CPU path: ae_init_run, ae_train_run, ae_summarize_run */
#include "ae_config.h"
#include "ae_model.h"
#include "train.cuh"

static int passed, failed;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    printf("%s ", ok ? "ok  " : "FAIL");
    vprintf(fmt, args);
    printf("\n");
    va_end(args);
    fflush(stdout);
    ok ? passed++ : failed++;
}

/* What the last failed CUDA call said. */
static ae_error gpu_err;
/* the device is tests/gpu/emu's CPU emulation without FMA contraction (runtime.cpp names
 * it so): results must be the CPU's bit for bit, where contracted multiply-adds leave
 * tolerances */
static int emulated;

/* A CUDA failure ends the test program: nothing after it can be trusted. */
static void must(int rc)
{
    if (rc) {
        fprintf(stderr, "test_gpu: %s\n", gpu_err.msg);
        exit(1);
    }
}

/* ------------------------------------------------------------------------ */
/* Random test cases (splitmix64: independent of what is under test)        */
/* ------------------------------------------------------------------------ */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double rng_unit(void) { return (double)(rng_next() >> 11) * 0x1.0p-53; }
static int rng_int(int lo, int hi) { return lo + (int)(rng_next() % (uint64_t)(hi - lo + 1)); }
static float rng_log_uniform(double lo, double hi) { return (float)exp(log(lo) + rng_unit() * (log(hi) - log(lo))); }

/* The run defaults (ae_params_defaults) for an (n, m) model: a random seed, 2 000 steps. */
static ae_params default_params(int n, int m)
{
    ae_params p;
    ae_params_defaults(&p);
    p.n = n, p.m = m;
    p.seed = (int64_t)rng_next();
    p.steps = 2000;
    return p;
}

/* ------------------------------------------------------------------------ */
/* A batch on the device and the same runs on the host                       */
/* ------------------------------------------------------------------------ */

typedef struct {
    uint32_t count;
    int stride_theta, stride_feature;
    ae_params *params;        /* host, count */
    uint32_t *base;           /* host, count */
    const double *base_W, *base_b;
    int base_n, base_m, n_bases;
    int perturb_kind, n_features;
    const int32_t *features;
    /* results, host: theta [count][stride_theta] etc. */
    double *theta, *recon, *norm; /* either precision's values, widened */
    ae_track *track;
    ae_summary *summary;
    int64_t *learnt, *want_learnt; /* [count][stride_feature] learnt_step: the device's, the CPU path's */
} batch;

static batch batch_new(uint32_t count, int n_max, int m_max)
{
    batch b;
    memset(&b, 0, sizeof b);
    b.count = count;
    b.stride_theta = n_max * m_max + n_max;
    b.stride_feature = n_max;
    b.params = calloc(count, sizeof(ae_params));
    b.base = calloc(count, sizeof(uint32_t));
    b.theta = calloc((size_t)count * b.stride_theta, sizeof(double));
    b.recon = calloc((size_t)count * b.stride_feature, sizeof(double));
    b.norm = calloc((size_t)count * b.stride_feature, sizeof(double));
    b.track = calloc(count, sizeof(ae_track));
    b.summary = calloc(count, sizeof(ae_summary));
    b.learnt = calloc((size_t)count * b.stride_feature, sizeof(int64_t));
    b.want_learnt = calloc((size_t)count * b.stride_feature, sizeof(int64_t));
    if (!b.params || !b.base || !b.theta || !b.recon || !b.norm || !b.track || !b.summary || !b.learnt ||
        !b.want_learnt) {
        fprintf(stderr, "test_gpu: out of memory\n");
        exit(1);
    }
    return b;
}

static void batch_free(batch *b)
{
    free(b->params), free(b->base), free(b->theta), free(b->recon), free(b->norm), free(b->track),
        free(b->summary), free(b->learnt), free(b->want_learnt);
}

static void *upload(const void *host, size_t bytes)
{
    void *dev = NULL;
    must(cudaCheck(cudaMalloc(&dev, bytes ? bytes : 1), &gpu_err));
    if (host && bytes) must(cudaCheck(cudaMemcpy(dev, host, bytes, cudaMemcpyHostToDevice), &gpu_err));
    return dev;
}

/* Runs b on the device: initial states only (variant < 0) or the full training with a
 * kernel variant; fills b's result arrays. */
static void batch_run_device(batch *b, int variant)
{
    const size_t n = b->count, theta = n * b->stride_theta, feature = n * b->stride_feature;
    const size_t n_base_W = (size_t)b->n_bases * b->base_n * b->base_m, n_base_b = (size_t)b->n_bases * b->base_n;
    aek_batch bt = {
        .count = b->count,
        .params = upload(b->params, n * sizeof(ae_params)),
        .base = upload(b->base, n * sizeof(uint32_t)),
        .base_W = upload(b->base_W, n_base_W * sizeof(double)),
        .base_b = upload(b->base_b, n_base_b * sizeof(double)),
        .base_n = b->base_n,
        .base_m = b->base_m,
        .perturb_kind = b->perturb_kind,
        .n_perturb_features = b->n_features,
        .perturb_features = upload(b->features, (size_t)b->n_features * sizeof(int32_t)),
        .stride_theta = b->stride_theta,
        .stride_feature = b->stride_feature,
        .order = upload(NULL, n * sizeof(uint32_t)),
        .theta = upload(NULL, theta * sizeof(double)),
        .track = upload(NULL, n * sizeof(ae_track)),
        .summary = upload(NULL, n * sizeof(ae_summary)),
        .recon = upload(NULL, feature * sizeof(double)),
        .norm = upload(NULL, feature * sizeof(double)),
        .anchor = upload(NULL, theta * sizeof(double)),
        .learnt_step = upload(NULL, feature * sizeof(int64_t)),
    };
    uint32_t *order = calloc(n ? n : 1, sizeof(uint32_t));
    must(cudaCheck(cudaMemset(bt.summary, 0xff, n * sizeof(ae_summary)), &gpu_err)); /* outcome -1: not trained */
    must(cudaCheck(cudaMemset(bt.theta, 0xff, theta * sizeof(double)), &gpu_err));
    if (variant < 0)
        must(aek_init(&bt, 0, &gpu_err));
    else
        must(aek_train(&bt, b->params, NULL, order, variant, 0, &gpu_err));
    must(cudaCheck(cudaDeviceSynchronize(), &gpu_err));
    must(cudaCheck(cudaMemcpy(b->theta, bt.theta, theta * sizeof(double), cudaMemcpyDeviceToHost), &gpu_err));
    must(cudaCheck(cudaMemcpy(b->recon, bt.recon, feature * sizeof(double), cudaMemcpyDeviceToHost), &gpu_err));
    must(cudaCheck(cudaMemcpy(b->norm, bt.norm, feature * sizeof(double), cudaMemcpyDeviceToHost), &gpu_err));
    must(cudaCheck(cudaMemcpy(b->track, bt.track, n * sizeof(ae_track), cudaMemcpyDeviceToHost), &gpu_err));
    must(cudaCheck(cudaMemcpy(b->summary, bt.summary, n * sizeof(ae_summary), cudaMemcpyDeviceToHost), &gpu_err));
    if (variant >= 0)
        must(cudaCheck(cudaMemcpy(b->learnt, bt.learnt_step, feature * sizeof(int64_t), cudaMemcpyDeviceToHost),
                       &gpu_err));
    void *device[] = {(void *)bt.params, (void *)bt.base, (void *)bt.base_W, (void *)bt.base_b,
                      (void *)bt.perturb_features, bt.order, bt.theta, bt.track, bt.summary, bt.recon, bt.norm,
                      bt.anchor, bt.learnt_step};
    for (size_t k = 0; k < sizeof device / sizeof device[0]; k++) must(cudaCheck(cudaFree(device[k]), &gpu_err));
    free(order);
}

/* Initial state of run r on the host, as ae_prepare_run makes it. */
static void host_init(const batch *b, uint32_t r, double *theta)
{
    const ae_params *p = &b->params[r];
    const double *base_W = NULL, *base_b = NULL;
    if (p->scheme == AE_INIT_FILE) {
        base_W = b->base_W + (size_t)b->base[r] * b->base_n * b->base_m;
        base_b = b->base_b + (size_t)b->base[r] * b->base_n;
    }
    ae_init_run(p, base_W, base_b, b->perturb_kind, b->features, b->n_features, theta);
}

/* The CPU path: final theta [count][stride_theta], tracks and learnt_step of every run. */
static void batch_run_host(const batch *b, double *theta, ae_track *track)
{
    for (uint32_t r = 0; r < b->count; r++) {
        double *t = theta + (size_t)r * b->stride_theta;
        host_init(b, r, t);
        ae_train_run(&b->params[r], t, NULL, &track[r], b->want_learnt + (size_t)r * b->stride_feature, NULL);
    }
}

/* ------------------------------------------------------------------------ */
/* init: bit-identical initial states                                        */
/* ------------------------------------------------------------------------ */

static const char *const scheme_names[] = {"xavier_normal", "normal", "uniform", "file", "ideal_failure"};
static const char *const perturb_names[] = {"none", "dead_neighbors", "list"};

static void test_init(void)
{
    enum { RUNS = 3000, BASES = 64, BASE_N = 7, BASE_M = 2 };
    static const int32_t features[] = {0, 3, 5, 300}; /* 300: past every n, ignored */
    /* base states: half random, half ideal failures of random radius (dead_neighbors finds those) */
    double *base_W = calloc(BASES * BASE_N * BASE_M, sizeof(double)), *base_b = calloc(BASES * BASE_N, sizeof(double));
    for (int k = 0; k < BASES; k++) {
        double theta[BASE_N * BASE_M + BASE_N];
        ae_params p = default_params(BASE_N, BASE_M);
        p.seed = k;
        p.scheme = k % 2 ? AE_INIT_IDEAL_FAILURE : AE_INIT_NORMAL;
        p.radius = (float)(1.0 + 0.5 * rng_unit());
        p.bias_init = (float)(rng_unit() - 0.5);
        ae_init_state_f64(&p, NULL, NULL, theta); /* float64 values: float32 runs round them */
        memcpy(base_W + k * BASE_N * BASE_M, theta, sizeof(double) * BASE_N * BASE_M);
        memcpy(base_b + k * BASE_N, theta + BASE_N * BASE_M, sizeof(double) * BASE_N);
    }
    for (int scheme = 0; scheme < 5; scheme++) {
        for (int kind = 0; kind < 3; kind++) {
            batch b = batch_new(RUNS, AE_N_MAX, AE_M_MAX);
            b.base_W = base_W, b.base_b = base_b, b.base_n = BASE_N, b.base_m = BASE_M, b.n_bases = BASES;
            b.perturb_kind = kind, b.features = features, b.n_features = 4;
            for (uint32_t r = 0; r < b.count; r++) {
                int n = rng_unit() < 0.8 ? rng_int(2, 32) : rng_int(33, AE_N_MAX), m = rng_int(1, AE_M_MAX);
                if (scheme == AE_INIT_FILE) n = BASE_N, m = BASE_M;
                ae_params *p = &b.params[r];
                *p = default_params(n, m);
                p->precision = rng_int(AE_FLOAT32, AE_FLOAT64);
                p->scheme = scheme;
                p->init_std = (float)(0.1 + 2.0 * rng_unit());
                p->init_bound = (float)(0.1 + 2.0 * rng_unit());
                p->bias_init = (float)(rng_unit() - 0.5);
                p->radius = (float)(1.0 + 0.5 * rng_unit());
                p->dead_eps = rng_log_uniform(1e-4, 1e-1);
                p->bias_delta = (float)(0.2 * rng_unit());
                b.base[r] = (uint32_t)rng_int(0, BASES - 1);
            }
            batch_run_device(&b, -1);
            int differ = 0, first = -1;
            for (uint32_t r = 0; r < b.count; r++) {
                double want[AE_P_MAX];
                const ae_params *p = &b.params[r];
                host_init(&b, r, want);
                if (memcmp(want, b.theta + (size_t)r * b.stride_theta, sizeof(double) * (p->n * p->m + p->n))) {
                    if (first < 0) first = (int)r;
                    differ++;
                }
            }
            check(differ == 0, "init %-13s perturb %-14s: %d of %d runs bit-identical to the host (first differing: %d)",
                  scheme_names[scheme], perturb_names[kind], RUNS - differ, RUNS, first);
            batch_free(&b);
        }
    }
    free(base_W), free(base_b);
}

/* ------------------------------------------------------------------------ */
/* train / large / diverged: the device against the CPU path                 */
/* ------------------------------------------------------------------------ */

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* a and b within rel * |a| + abs of each other, or the same non-finite value. */
static int close_to(double a, double b, double rel, double abs)
{
    if (a == b || (isnan(a) && isnan(b))) return 1;
    return fabs(a - b) <= rel * fabs(a) + abs;
}

/* ||theta_gpu - theta_cpu|| / ||theta_cpu|| of run r. */
static double relative_difference(const batch *b, const double *want, uint32_t r)
{
    const ae_params *p = &b->params[r];
    const double *got = b->theta + (size_t)r * b->stride_theta, *ref = want + (size_t)r * b->stride_theta;
    double diff = 0, norm = 0;
    for (int e = 0; e < p->n * p->m + p->n; e++) {
        diff += ((double)got[e] - ref[e]) * ((double)got[e] - ref[e]);
        norm += (double)ref[e] * ref[e];
    }
    return norm > 0 ? sqrt(diff / norm) : sqrt(diff);
}

/* Checks one device result against the CPU's: theta tolerances, outcomes, trained-ness,
 * and that the device's metrics are what ae_summarize gives for the device's state. */
static void compare_runs(const char *what, const batch *b, const double *want, const ae_track *want_track,
                         const uint8_t *skip)
{
    double *rel = calloc(b->count, sizeof(double));
    int count = 0, identical = 0, untrained = 0, outcome_agree = 0, metrics_agree = 0, compared = 0, track_agree = 0;
    for (uint32_t r = 0; r < b->count; r++) {
        const ae_params *p = &b->params[r];
        const int n = p->n, m = p->m;
        const ae_summary *got = &b->summary[r];
        const double *theta = b->theta + (size_t)r * b->stride_theta;
        if (got->outcome < 0 || got->outcome >= AE_OUTCOME_COUNT) {
            untrained++;
            continue;
        }
        /* metrics: the host's ae_summarize of the device's final state */
        double recon[AE_N_MAX], norm[AE_N_MAX];
        ae_summary host;
        ae_summarize_run(p, theta, &b->track[r], recon, norm, &host);
        int same = host.outcome == got->outcome && host.n_learnt == got->n_learnt &&
                   host.converged == got->converged && host.recovered == got->recovered &&
                   close_to(host.loss, got->loss, 1e-5f, 1e-6f) &&
                   (isnan(host.tilt) ? isnan(got->tilt) : close_to(host.tilt, got->tilt, 1e-5f, 1e-5f));
        for (int i = 0; i < n; i++) same &= close_to(recon[i], b->recon[(size_t)r * b->stride_feature + i], 1e-5f, 1e-6f);
        metrics_agree += same;
        if (skip && skip[r]) continue;
        compared++;
        rel[count++] = relative_difference(b, want, r);
        identical += memcmp(theta, want + (size_t)r * b->stride_theta, sizeof(double) * (n * m + n)) == 0;
        double want_recon[AE_N_MAX], want_norm[AE_N_MAX];
        ae_summary want_sum;
        const double *wt = want + (size_t)r * b->stride_theta;
        ae_summarize_run(p, wt, &want_track[r], want_recon, want_norm, &want_sum);
        const ae_track *got_track = &b->track[r], *cpu_track = &want_track[r];
        outcome_agree += want_sum.outcome == got->outcome && want_sum.recovered == got->recovered &&
                         (cpu_track->diverged_step >= 0) == (got_track->diverged_step >= 0) &&
                         cpu_track->plateau_kind == got_track->plateau_kind &&
                         cpu_track->plateau_unlearnt == got_track->plateau_unlearnt;
        int same_track = cpu_track->frozen == got_track->frozen &&
                         cpu_track->intervened_step == got_track->intervened_step;
        for (int i = 0; i < n; i++)
            same_track &= b->learnt[(size_t)r * b->stride_feature + i] == b->want_learnt[(size_t)r * b->stride_feature + i];
        track_agree += same_track;
    }
    qsort(rel, (size_t)count, sizeof(double), compare_double);
    double median = count ? rel[count / 2] : 0, p99 = count ? rel[(size_t)(0.99 * (count - 1))] : 0;
    check(untrained == 0, "%s: every run trained (%d of %u not)", what, untrained, b->count);
    check(median < 1e-5, "%s: median relative difference to the CPU %.3g < 1e-5 (%d runs, %d bit-identical)", what,
          median, count, identical);
    if (emulated) /* no FMA contraction: the same operations in the same order give the same bits */
        check(identical == count, "%s: emulated, so every run bit-identical to the CPU (%d of %d)", what, identical,
              count);
    check(p99 < 1e-3, "%s: 99th percentile relative difference %.3g < 1e-3 (max %.3g)", what, p99,
          count ? rel[count - 1] : 0);
    check(outcome_agree >= 0.99 * compared,
          "%s: outcome, recovered, plateau kind and size equal to the CPU's in %d of %d runs (>= 99 %%)", what,
          outcome_agree, compared);
    check(track_agree >= (emulated ? compared : 0.99 * compared),
          "%s: frozen, intervened_step and every learnt_step equal to the CPU's in %d of %d runs (%s)", what,
          track_agree, compared, emulated ? "all: emulated" : ">= 99 %");
    const int trained = (int)b->count - untrained;
    check(metrics_agree >= 0.999 * trained,
          "%s: on-device metrics equal the host's ae_summarize in %d of %d runs (>= 99.9 %%)", what, metrics_agree,
          trained);
    free(rel);
}

static void test_train(void)
{
    enum { RUNS = 1000, N_MAX = 16 };
    batch b = batch_new(RUNS, N_MAX, AE_M_MAX);
    for (uint32_t r = 0; r < b.count; r++) {
        int n = rng_int(2, N_MAX), m = rng_unit() < 0.75 ? 2 : rng_int(1, AE_M_MAX);
        b.params[r] = default_params(n, m);
        b.params[r].precision = r % 2 ? AE_FLOAT64 : AE_FLOAT32; /* each kernel in both precisions */
        b.params[r].lr = rng_log_uniform(1e-4, 1e-2);
    }
    double *want = calloc((size_t)b.count * b.stride_theta, sizeof(double));
    ae_track *want_track = calloc(b.count, sizeof(ae_track));
    batch_run_host(&b, want, want_track);
    for (int v = 0; v < AEK_VARIANTS; v++) {
        char what[96];
        snprintf(what, sizeof what, "train kernel %d %s", v, aek_kernel_name(v));
        batch_run_device(&b, v);
        compare_runs(what, &b, want, want_track, NULL);
    }
    free(want), free(want_track);
    batch_free(&b);
}

static void test_large(void)
{
    enum { RUNS = 48 };
    batch b = batch_new(RUNS, AE_N_MAX, AE_M_MAX);
    for (uint32_t r = 0; r < b.count; r++) {
        int n = r < 4 ? AE_N_MAX : rng_int(17, 128), m = rng_int(1, AE_M_MAX);
        if (r < 2) m = AE_M_MAX; /* the largest model in each precision: the warp kernel's 48 KiB block in float64 */
        b.params[r] = default_params(n, m);
        b.params[r].steps = r < 4 ? 20 : 200;
        b.params[r].check_every = 10;
        b.params[r].precision = r % 2 ? AE_FLOAT64 : AE_FLOAT32;
        b.params[r].lr = rng_log_uniform(1e-4, 1e-2);
    }
    double *want = calloc((size_t)b.count * b.stride_theta, sizeof(double));
    ae_track *want_track = calloc(b.count, sizeof(ae_track));
    batch_run_host(&b, want, want_track);
    for (int v = 0; v < AEK_VARIANTS; v++) {
        char what[96];
        snprintf(what, sizeof what, "large n kernel %d", v);
        batch_run_device(&b, v);
        compare_runs(what, &b, want, want_track, NULL);
    }
    free(want), free(want_track);
    batch_free(&b);
}

/* Past the fixed instances, variants 1 and 3 run the warp kernel of the run's precision:
 * the instance aek_kernel_for names (the dispatch table aek_train uses), and one that the
 * device can hold (blocks_per_sm is 0 where a block wants more shared memory than the
 * device gives).  Below them, variant 1 keeps its fixed instances. */
static void test_dispatch(void)
{
    static const int sizes[][2] = {{16, 2}, {40, 2}, {24, 4}, {200, 2}, {AE_N_MAX, AE_M_MAX}};
    static const int variants[] = {AEK_FIXED, AEK_WARP};
    for (int precision = AE_FLOAT32; precision <= AE_FLOAT64; precision++) {
        const int float64 = precision == AE_FLOAT64;
        aek_kernel_info info;
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
                const int n = sizes[s][0], m = sizes[s][1];
                int ncap = 0, mcap = 0;
                must(aek_kernel_for(variants[v], precision, n, m, &info, &gpu_err));
                const int warp = sscanf(info.name, "warp<%d,%d>", &ncap, &mcap) == 2 && n <= ncap && m <= mcap &&
                                 (strstr(info.name, ", float64") != NULL) == float64;
                check(warp && info.blocks_per_sm >= 1, "dispatch kernel %d, %s, n = %d, m = %d: \"%s\", %d blocks/SM",
                      variants[v], float64 ? "float64" : "float32", n, m, info.name, info.blocks_per_sm);
            }
        must(aek_kernel_for(AEK_FIXED, precision, 7, 2, &info, &gpu_err));
        check(strcmp(info.name, float64 ? "fixed<7,2> registers, float64" : "fixed<7,2> registers") == 0,
              "dispatch kernel 1, %s, n = 7, m = 2: \"%s\"", float64 ? "float64" : "float32", info.name);
    }
}

static void test_diverged(void)
{
    enum { RUNS = 256 };
    batch b = batch_new(RUNS, 20, 2);
    uint8_t *huge = calloc(RUNS, 1);
    for (uint32_t r = 0; r < b.count; r++) {
        b.params[r] = default_params(r % 4 < 2 ? 7 : 20, 2); /* fixed and runtime-n kernels */
        b.params[r].precision = r % 8 < 4 ? AE_FLOAT32 : AE_FLOAT64;
        b.params[r].steps = 500;
        if (r % 2 == 0) {
            b.params[r].optimizer = AE_OPT_SGD, b.params[r].lr = 1e3f, b.params[r].weight_decay = 0;
            huge[r] = 1;
        }
    }
    double *want = calloc((size_t)b.count * b.stride_theta, sizeof(double));
    ae_track *want_track = calloc(b.count, sizeof(ae_track));
    batch_run_host(&b, want, want_track);
    int cpu_diverged = 0;
    for (uint32_t r = 0; r < b.count; r++) cpu_diverged += huge[r] && want_track[r].diverged_step >= 0;
    check(cpu_diverged >= RUNS / 2 * 9 / 10, "diverged: the CPU sees %d of %d SGD lr=1e3 runs diverge (>= 90 %%)",
          cpu_diverged, RUNS / 2);
    for (int v = 0; v < AEK_VARIANTS; v++) {
        batch_run_device(&b, v);
        int flagged = 0, same_set = 0, same_step = 0, wrong = 0;
        for (uint32_t r = 0; r < b.count; r++) {
            int gpu = b.track[r].diverged_step >= 0, cpu = want_track[r].diverged_step >= 0;
            flagged += gpu;
            same_set += gpu == cpu;
            same_step += b.track[r].diverged_step == want_track[r].diverged_step;
            wrong += gpu != (b.summary[r].outcome == AE_OUT_DIVERGED);
        }
        check(same_set == RUNS, "diverged kernel %d: %d runs flagged, exactly the CPU's (%d of %d agree)", v, flagged,
              same_set, RUNS);
        check(wrong == 0, "diverged kernel %d: outcome diverged exactly where diverged_step >= 0 (%d disagree)", v, wrong);
        check(same_step >= RUNS * 99 / 100, "diverged kernel %d: diverged_step equal to the CPU's in %d of %d runs", v,
              same_step, RUNS);
        char what[64];
        snprintf(what, sizeof what, "diverged kernel %d, the other runs", v);
        compare_runs(what, &b, want, want_track, huge);
    }
    free(huge), free(want), free(want_track);
    batch_free(&b);
}

int main(void)
{
    int devices = 0;
    must(cudaCheck(cudaGetDeviceCount(&devices), &gpu_err));
    if (devices == 0) {
        fprintf(stderr, "test_gpu: no CUDA device\n");
        return 1;
    }
    struct cudaDeviceProp prop;
    must(cudaCheck(cudaGetDeviceProperties(&prop, 0), &gpu_err));
    printf("device: %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
    emulated = strstr(prop.name, "CPU emulation") != NULL && strstr(prop.name, "FMA") == NULL;
    must(aek_probe(&gpu_err));
    test_init();
    test_train();
    test_large();
    test_dispatch();
    test_diverged();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
