/*
 * bench.c - `aesweep bench`: how many model-steps per second a backend trains, and what
 * fraction of the device's FP32 peak the useful flops of those steps reach.
 *
 * For each n it builds a sweep in memory (n, m = 2, AdamW with the defaults, one grid
 * axis over init.seed with R values), trains it once for a few steps (the warm-up: buffers,
 * module loading) and then for S steps, timed.  The CUDA backend also reports the time
 * its kernels took (CUDA events), which excludes the host's grid decoding and copies,
 * names the kernel instance that ran, and R is a whole number of waves (runs the device
 * holds at once, from its SM count and the kernel's occupancy), so every n fills the GPU.
 */
#define _POSIX_C_SOURCE 200809L
#include "ae_bench.h"
#include "ae_stability.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BENCH_MAX_N 16       /* values in --n */
#define BENCH_WARMUP_STEPS 10
/* Auto --runs: about this many useful flops per timed train call (at least enough runs
 * to fill the device, at most BENCH_RUNS_MAX). */
#define BENCH_FLOPS_CUDA 4e12
#define BENCH_FLOPS_CPU 5e10 /* about a second of the CPU backend */
#define BENCH_RUNS_MAX ((uint64_t)1 << 22)
#define BENCH_STABILITY_RUNS 2048 /* final states whose stability is timed per row */

static const char bench_usage[] =
    "usage: aesweep bench [--n N[,N...]] [--m M] [--precision P[,P...]] [--runs R] [--steps S]\n"
    "                     [--backend auto|cpu|cuda] [--threads T] [--isa I] [--device D]\n"
    "                     [--kernel K[,K...]] [--json FILE]\n"
    "  --n        model sizes (default 7,16,64)\n"
    "  --m        latent dims (default 2)\n"
    "  --precision  model.precision of the runs: float32 (default), float64, or both\n"
    "             (float32,float64: one row each)\n"
    "  --runs     runs per size (default: about 4e12 useful flops on CUDA, in whole waves of\n"
    "             the runs the device holds at once; 5e10 on the CPU)\n"
    "  --steps    training steps per run (default 10000)\n"
    "  --backend  auto (default), cpu or cuda\n"
    "  --threads  CPU threads (default: all cores)\n"
    "  --isa      CPU instruction set: auto (default: the widest), baseline, avx2, avx512\n"
    "  --device   CUDA device number (default 0)\n"
    "  --kernel   CUDA kernel variants to compare (0 shared, 1 fixed, 2 local, 3 warp; default 1)\n"
    "  --json     also write the results as JSON to FILE ('-': stdout)\n";

/* ------------------------------------------------------------------------ */
/* Useful flops and peaks                                                    */
/* ------------------------------------------------------------------------ */

/* Useful flops of one training step of an (n, m) model, counted on the dense
 * formulation a framework would run (no credit for the header's sparsity or for the
 * symmetry of W^T W, none for compares and selects, none for the outcome check that
 * runs every check_every steps):
 *   forward   Z = W^T W                               2 n^2 m
 *             + b, ReLU, Y - I, sum of squares (loss)  5 n^2
 *   backward  dZ = (2/n^2) (Y - I) [Z > 0]             n^2
 *             db = row sums of dZ                      n^2
 *             dW = W (dZ + dZ^T)                       n^2 + 2 n^2 m
 *   optimizer per parameter (P = n m + n):
 *             Adam: m lerp 2, v update 3, sqrt 1, / bias correction 1, + eps 1, / 1,
 *             * step size 1, - 1 = 11; AdamW + 1 (decay); Adam + 2 with weight decay;
 *             SGD 2, + 2 with weight decay, + 2 with momentum.
 * n = 7, m = 2, AdamW: 441 + 343 + 21 * 12 = 1036. */
double ae_flops_per_step(int n, int m, const ae_params *p)
{
    const double nn = (double)n * n, P = (double)n * m + n;
    double forward = 2 * nn * m + 5 * nn;
    double backward = 3 * nn + 2 * nn * m;
    double per_param;
    if (p->optimizer == AE_OPT_SGD)
        per_param = 2 + (p->weight_decay != 0.0f ? 2 : 0) + (p->momentum != 0.0f ? 2 : 0);
    else if (p->optimizer == AE_OPT_ADAMW)
        per_param = 12;
    else
        per_param = 11 + (p->weight_decay != 0.0f ? 2 : 0);
    return forward + backward + per_param * P;
}

/* Physical cores: distinct (physical id, core id) pairs of /proc/cpuinfo, else the
 * online logical CPUs. */
static int cpu_cores(void)
{
    int ids[4096][2], count = 0, phys = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        const char *colon = strchr(line, ':');
        if (!colon) continue;
        if (strncmp(line, "physical id", 11) == 0) phys = atoi(colon + 1);
        if (strncmp(line, "core id", 7) == 0 && count < 4096) {
            int core = atoi(colon + 1), seen = 0;
            for (int k = 0; k < count && !seen; k++) seen = ids[k][0] == phys && ids[k][1] == core;
            if (!seen) ids[count][0] = phys, ids[count][1] = core, count++;
        }
    }
    if (f) fclose(f);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return count > 0 ? count : online > 0 ? (int)online : 1;
}

/* The clock in MHz: cpufreq's maximum, else the first "cpu MHz" of /proc/cpuinfo. */
static double cpu_mhz(const char **source)
{
    double mhz = 0;
    FILE *f = fopen("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", "r");
    if (f) {
        double khz;
        if (fscanf(f, "%lf", &khz) == 1 && khz > 0) mhz = khz * 1e-3, *source = "cpuinfo_max_freq";
        fclose(f);
        if (mhz > 0) return mhz;
    }
    f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        const char *colon = strchr(line, ':');
        if (strncmp(line, "cpu MHz", 7) == 0 && colon) {
            mhz = atof(colon + 1);
            *source = "/proc/cpuinfo cpu MHz (current clock)";
            break;
        }
    }
    if (f) fclose(f);
    return mhz;
}

double ae_cpu_peak_flops(char *how, size_t how_size)
{
    int lanes = 4;
    const char *simd = "SSE (4 lanes, mul + add)";
#if defined(__x86_64__) || defined(__i386__)
    if (__builtin_cpu_supports("avx512f"))
        lanes = 16, simd = "AVX-512 FMA";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        lanes = 8, simd = "AVX2 FMA";
#elif defined(__aarch64__)
    simd = "NEON FMA";
#endif
    const char *source = "unknown";
    int cores = cpu_cores();
    double mhz = cpu_mhz(&source);
    /* one vector FMA unit per core assumed: chips with two reach twice this */
    snprintf(how, how_size, "%d cores x %d FP32 lanes (%s) x 2 x %.0f MHz (%s)", cores, lanes, simd, mhz, source);
    return (double)cores * lanes * 2.0 * mhz * 1e6;
}

/* ------------------------------------------------------------------------ */
/* One measurement                                                           */
/* ------------------------------------------------------------------------ */

typedef struct {
    int n, m, kernel; /* kernel: CUDA variant, -1 for the CPU or the backend's default */
    int precision;    /* ae_precision */
    char kernel_name[64]; /* CUDA: the kernel instance that ran; "-" on the CPU */
    uint64_t resident;    /* CUDA: runs the device holds at once (one wave); 0 on the CPU */
    uint64_t runs;
    int64_t steps;
    double seconds, kernel_seconds, flops_per_step, model_steps_per_s, kernel_model_steps_per_s, peak_fraction;
    double stability_runs_per_s; /* the final states' stability (src/trust/stability.c), host threads; 0: not timed */
    uint64_t outcomes[AE_OUTCOME_COUNT];
} bench_row;

static const char *precision_name(int precision) { return precision == AE_FLOAT64 ? "float64" : "float32"; }

/* The settings every bench sweep shares: the run defaults, at this size and length. */
static void bench_params(ae_params *p, int n, int m, int precision, int64_t steps)
{
    ae_params_defaults(p);
    p->n = n, p->m = m, p->precision = precision, p->steps = steps;
    p->hessian = AE_HESSIAN_FALSE; /* timed apart: bench_stability */
}

/* Final states analysed per second by ae_stability_of on `threads` host threads (the
 * work a sweep's host adds per stored run where outcome.hessian is on), over the first
 * runs of res. */
static double bench_stability(const ae_results *res, uint64_t runs, int n, int m, int threads)
{
    const uint64_t count = runs < BENCH_STABILITY_RUNS ? runs : BENCH_STABILITY_RUNS;
    const int n_max = res->n_max, m_max = res->m_max;
    const double start = ae_now();
#pragma omp parallel for schedule(dynamic, 16) num_threads(threads)
    for (uint64_t r = 0; r < count; r++) {
        double theta[AE_P_MAX];
        for (int i = 0; i < n; i++) {
            for (int k = 0; k < m; k++) theta[i * m + k] = res->W_final[(r * (uint64_t)n_max + (uint64_t)i) * (uint64_t)m_max + (uint64_t)k];
            theta[n * m + i] = res->b_final[r * (uint64_t)n_max + (uint64_t)i];
        }
        ae_stability st;
        ae_stability_of(n, m, theta, 1e-9, &st, NULL);
    }
    const double seconds = ae_now() - start;
    return seconds > 0 ? (double)count / seconds : 0;
}

static int bench_one(ae_backend *backend, bench_row *row, int threads, ae_error *err)
{
    static char path[] = "(aesweep bench)", empty[] = "";
    ae_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.path = path, cfg.text = empty;
    bench_params(&cfg.params, row->n, row->m, row->precision, row->steps);
    cfg.n_given = cfg.m_given = 1;
    cfg.perturb_kind = AE_PERTURB_NONE;
    ae_axis *axis = &cfg.axes[cfg.n_axes++];
    axis->setting = ae_setting_find("init.seed");
    if (!axis->setting) return ae_fail_runtime(err, "bench: the setting init.seed is unknown");
    snprintf(axis->name, sizeof axis->name, "%s", axis->setting->dim ? axis->setting->dim : "seed");
    axis->count = row->runs;
    axis->values = ae_xcalloc(row->runs, sizeof(double));
    for (uint64_t r = 0; r < row->runs; r++) axis->values[r] = (double)r;

    ae_grid grid;
    ae_results res;
    int status = ae_grid_build(&grid, &cfg, NULL, err);
    free(axis->values);
    if (status) return -1;
    ae_job job = {&cfg, &grid, NULL};
    ae_results_alloc(&res, row->runs, grid.n_max, grid.m_max, 0);
    /* warm-up: the same runs for a few steps, so buffers are allocated before timing */
    grid.params.steps = row->steps < BENCH_WARMUP_STEPS ? row->steps : BENCH_WARMUP_STEPS;
    status = backend->train(backend, &job, 0, row->runs, &res, err);
    grid.params.steps = row->steps;
    double start = ae_now();
    if (!status) status = backend->train(backend, &job, 0, row->runs, &res, err);
    row->seconds = ae_now() - start;
    if (!status) {
        for (uint64_t r = 0; r < row->runs; r++)
            if (res.outcome[r] >= 0 && res.outcome[r] < AE_OUTCOME_COUNT) row->outcomes[res.outcome[r]]++;
        double model_steps = (double)row->runs * (double)row->steps;
        row->flops_per_step = ae_flops_per_step(row->n, row->m, &grid.params);
        row->model_steps_per_s = model_steps / row->seconds;
        row->kernel_seconds = 0;
#ifdef AE_HAVE_CUDA
        if (strcmp(backend->name, "cuda") == 0) row->kernel_seconds = ae_cuda_kernel_seconds(backend);
#endif
        row->kernel_model_steps_per_s = row->kernel_seconds > 0 ? model_steps / row->kernel_seconds : 0;
        row->stability_runs_per_s = bench_stability(&res, row->runs, row->n, row->m, threads);
    }
    ae_results_free(&res);
    ae_grid_free(&grid);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Command line                                                              */
/* ------------------------------------------------------------------------ */

static int bench_usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "aesweep bench: %s%s\n%s", what, arg, bench_usage);
    return AE_EXIT_USAGE;
}

/* "7,16,64" into values (each in lo..hi); the count, or -1. */
static int parse_list(const char *text, int *values, int max, int lo, int hi)
{
    int count = 0;
    const char *at = text;
    while (*at) {
        char *end;
        long v = strtol(at, &end, 10);
        if (end == at || v < lo || v > hi || count == max || (*end && *end != ',')) return -1;
        values[count++] = (int)v;
        at = *end ? end + 1 : end;
    }
    return count > 0 ? count : -1;
}

static void write_json(FILE *f, const ae_backend *backend, double peak, const char *peak_how, const bench_row *rows,
                       int n_rows)
{
    fprintf(f, "{\n  \"backend\": \"%s\",\n  \"device\": \"", backend->name);
    for (const char *c = backend->device; *c; c++) fprintf(f, *c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
    fprintf(f, "\",\n  \"peak_flops\": %.6g,\n  \"peak_source\": \"%s\",\n  \"results\": [\n", peak, peak_how);
    for (int k = 0; k < n_rows; k++) {
        const bench_row *r = &rows[k];
        fprintf(f,
                "    {\"n\": %d, \"m\": %d, \"precision\": \"%s\", \"kernel\": %d, \"kernel_name\": \"%s\", \"resident_runs\": %llu, "
                "\"runs\": %llu, \"steps\": %lld, \"seconds\": %.6g, "
                "\"kernel_seconds\": %.6g, \"model_steps_per_s\": %.6g, \"kernel_model_steps_per_s\": %.6g, "
                "\"flops_per_step\": %.6g, \"peak_fraction\": %.6g, \"stability_runs_per_s\": %.6g, \"outcomes\": {",
                r->n, r->m, precision_name(r->precision), r->kernel, r->kernel_name, (unsigned long long)r->resident, (unsigned long long)r->runs,
                (long long)r->steps, r->seconds, r->kernel_seconds, r->model_steps_per_s, r->kernel_model_steps_per_s,
                r->flops_per_step, r->peak_fraction, r->stability_runs_per_s);
        for (int o = 0; o < AE_OUTCOME_COUNT; o++)
            fprintf(f, "%s\"%s\": %llu", o ? ", " : "", ae_outcome_name(o), (unsigned long long)r->outcomes[o]);
        fprintf(f, "}}%s\n", k + 1 < n_rows ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
}

/* write_json into path ('-': stdout); 0, or AE_EXIT_RUNTIME. */
static int write_json_file(const char *path, const ae_backend *backend, double peak, const char *peak_how,
                           const bench_row *rows, int n_rows)
{
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (f) write_json(f, backend, peak, peak_how, rows, n_rows);
    if (!f || (f != stdout && fclose(f))) {
        fprintf(stderr, "aesweep bench: cannot write %s\n", path);
        return AE_EXIT_RUNTIME;
    }
    return 0;
}

/* "float32", "float64" or both, comma-separated, into out[2]: their count, or -1. */
static int parse_precisions(const char *text, int out[2])
{
    int count = 0;
    for (const char *at = text; *at;) {
        size_t length = strcspn(at, ",");
        int precision = length == 7 && !strncmp(at, "float32", 7) ? AE_FLOAT32
                        : length == 7 && !strncmp(at, "float64", 7) ? AE_FLOAT64
                                                                    : -1;
        if (precision < 0 || count == 2) return -1;
        out[count++] = precision;
        at += length + (at[length] == ',');
    }
    return count > 0 ? count : -1;
}

typedef struct {
    int ns[BENCH_MAX_N], n_ns, m;
    int precisions[2], n_precisions; /* ae_precision */
    int kernels[8], n_kernels; /* CUDA variants; {-1}: the backend's default */
    long long runs, steps;     /* runs 0: chosen per row */
    const char *json;
    ae_backend_options backend; /* --backend, --threads, --isa, --device */
} bench_options;

/* The command line into o: -1 to go on, else the exit status (--help, a usage error). */
static int parse_options(int argc, char **argv, bench_options *o)
{
    *o = (bench_options){.ns = {7, 16, 64}, .n_ns = 3, .m = 2, .precisions = {AE_FLOAT32}, .n_precisions = 1, .kernels = {-1}, .n_kernels = 1, .steps = 10000,
                         .backend = AE_BACKEND_OPTIONS_DEFAULT};
    ae_error err = {{0}, 0};
    for (int k = 0; k < argc; k++) {
        const char *arg = argv[k], *value = k + 1 < argc ? argv[k + 1] : NULL;
        char *end = NULL;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            fputs(bench_usage, stdout);
            return AE_EXIT_OK;
        }
        if (!value) return bench_usage_error("missing value or unknown option ", arg);
        k++;
        int backend_option = strcmp(arg, "--kernel") ? ae_backend_option(arg, value, &o->backend, &err) : 0;
        if (backend_option < 0) return bench_usage_error(err.msg, "");
        if (backend_option > 0) continue;
        if (!strcmp(arg, "--n")) {
            if ((o->n_ns = parse_list(value, o->ns, BENCH_MAX_N, AE_N_MIN, AE_N_MAX)) < 0)
                return bench_usage_error("--n expects sizes 2..256, comma-separated: ", value);
        } else if (!strcmp(arg, "--m")) {
            o->m = (int)strtol(value, &end, 10);
            if (*end || o->m < AE_M_MIN || o->m > AE_M_MAX) return bench_usage_error("--m expects 1..4: ", value);
        } else if (!strcmp(arg, "--runs")) {
            o->runs = strtoll(value, &end, 10);
            if (*end || o->runs < 1 || (uint64_t)o->runs > AE_RUNS_MAX)
                return bench_usage_error("--runs expects >= 1: ", value);
        } else if (!strcmp(arg, "--steps")) {
            o->steps = strtoll(value, &end, 10);
            if (*end || o->steps < 1) return bench_usage_error("--steps expects >= 1: ", value);
        } else if (!strcmp(arg, "--precision")) {
            if ((o->n_precisions = parse_precisions(value, o->precisions)) < 0)
                return bench_usage_error("--precision expects float32, float64 or float32,float64: ", value);
        } else if (!strcmp(arg, "--kernel")) {
            if ((o->n_kernels = parse_list(value, o->kernels, 8, 0, 15)) < 0)
                return bench_usage_error("--kernel expects variants, comma-separated: ", value);
        } else if (!strcmp(arg, "--json")) {
            o->json = value;
        } else {
            return bench_usage_error("unknown option ", arg);
        }
    }
    return -1;
}

/* The backend of o, its kernel variants checked (the CPU has none: o->kernels becomes
 * {-1}); NULL with *status the exit status. */
static ae_backend *open_backend(bench_options *o, int *status)
{
    ae_error err = {{0}, 0};
    ae_backend *backend = ae_backend_select(&o->backend, &err);
    if (!backend) {
        fprintf(stderr, "aesweep bench: %s\n", err.msg);
        *status = err.code ? err.code : AE_EXIT_RUNTIME;
        return NULL;
    }
    if (strcmp(backend->name, "cuda") != 0) {
        if (o->kernels[0] >= 0) fprintf(stderr, "aesweep bench: note: --kernel applies to the CUDA backend only\n");
        o->n_kernels = 1, o->kernels[0] = -1;
        return backend;
    }
#ifdef AE_HAVE_CUDA
    for (int b = 0; b < o->n_kernels; b++)
        if (o->kernels[b] >= 0 && ae_cuda_set_kernel(backend, o->kernels[b])) {
            fprintf(stderr, "aesweep bench: no kernel variant %d (0 shared, 1 fixed, 2 local, 3 warp)\n", o->kernels[b]);
            backend->destroy(backend);
            *status = AE_EXIT_USAGE;
            return NULL;
        }
#endif
    return backend;
}

/* The row's kernel (CUDA: the instance the variant runs for its n, m, and one wave of
 * runs) and its run count: --runs, else about the flop budget, on CUDA in whole waves
 * (at least one, so the device is full), on the CPU in whole lane groups. */
static void plan_row(ae_backend *backend, const bench_options *o, bench_row *row)
{
    const int cuda = strcmp(backend->name, "cuda") == 0;
    snprintf(row->kernel_name, sizeof row->kernel_name, "-");
#ifdef AE_HAVE_CUDA
    if (cuda) {
        if (row->kernel >= 0) ae_cuda_set_kernel(backend, row->kernel);
        ae_cuda_kernel_for(backend, row->precision, row->n, row->m, row->kernel_name, sizeof row->kernel_name,
                           &row->resident);
    }
#endif
    if (o->runs > 0) {
        row->runs = (uint64_t)o->runs;
        return;
    }
    ae_params p;
    bench_params(&p, row->n, row->m, row->precision, row->steps);
    double want = (cuda ? BENCH_FLOPS_CUDA : BENCH_FLOPS_CPU) / ((double)row->steps * ae_flops_per_step(row->n, row->m, &p));
    /* CUDA: whole waves; CPU: whole 16-run lane groups, two per thread at least */
    uint64_t unit = cuda ? (row->resident > 0 ? row->resident : 4096) : 32 * (uint64_t)ae_cpu_threads(o->backend.threads);
    uint64_t cap = BENCH_RUNS_MAX / unit * unit;
    row->runs = want < (double)cap ? ((uint64_t)want + unit - 1) / unit * unit : cap;
    if (row->runs < unit) row->runs = unit;
}

static void print_header(const ae_backend *backend, double peak, const char *peak_how, double peak64,
                         const char *peak64_how)
{
    printf("backend %s: %s\npeak    %.3g FP32 flop/s = %s\n", backend->name, backend->device, peak, peak_how);
    if (peak64 > 0) printf("        %.3g FP64 flop/s = %s\n", peak64, peak64_how);
    printf("\n%5s %3s %-8s %-35s %9s %6s %7s %9s %14s %14s %11s %8s %6s %13s %9s\n", "n", "m", "prec", "kernel that ran",
           "runs", "waves", "steps", "seconds", "model-steps/s", "kernel only", "flops/step", "% peak", "diverg",
           "stability/s", "+% time");
}

static void print_row(const bench_row *row)
{
    char kernel_rate[32] = "-", waves[16] = "-";
    if (row->kernel_model_steps_per_s > 0)
        snprintf(kernel_rate, sizeof kernel_rate, "%.4g", row->kernel_model_steps_per_s);
    if (row->resident > 0) snprintf(waves, sizeof waves, "%.2g", (double)row->runs / (double)row->resident);
    /* what the stability of every final state would add to this row's training time */
    const double added = row->stability_runs_per_s > 0 && row->seconds > 0
                             ? 100.0 * ((double)row->runs / row->stability_runs_per_s) / row->seconds : 0;
    printf("%5d %3d %-8s %-35s %9llu %6s %7lld %9.3f %14.4g %14s %11.0f %7.2f%% %6llu %13.4g %8.1f%%\n", row->n, row->m,
           precision_name(row->precision), row->kernel_name, (unsigned long long)row->runs, waves, (long long)row->steps, row->seconds,
           row->model_steps_per_s, kernel_rate, row->flops_per_step, 100.0 * row->peak_fraction,
           (unsigned long long)row->outcomes[AE_OUT_DIVERGED], row->stability_runs_per_s, added);
    fflush(stdout);
}

int ae_bench_main(int argc, char **argv)
{
    bench_options o;
    int status = parse_options(argc, argv, &o);
    if (status >= 0) return status;
    status = 0;
    ae_backend *backend = open_backend(&o, &status);
    if (!backend) return status;
    const int cuda = strcmp(backend->name, "cuda") == 0;
    char peak_how[512], peak64_how[512] = "";
    double peak = 0, peak64 = 0;
#ifdef AE_HAVE_CUDA
    if (cuda) {
        peak = ae_cuda_peak_flops(backend, 0, peak_how, sizeof peak_how);
        peak64 = ae_cuda_peak_flops(backend, 1, peak64_how, sizeof peak64_how);
    }
#endif
    if (!cuda) peak = ae_cpu_peak_flops(peak_how, sizeof peak_how);
    print_header(backend, peak, peak_how, peak64, peak64_how);

    bench_row rows[BENCH_MAX_N * 8 * 2];
    int n_rows = 0;
    for (int a = 0; a < o.n_ns && !status; a++) {
        for (int r = 0; r < o.n_precisions * o.n_kernels && !status; r++) {
            bench_row *row = &rows[n_rows];
            memset(row, 0, sizeof *row);
            row->n = o.ns[a], row->m = o.m, row->kernel = o.kernels[r % o.n_kernels], row->steps = o.steps;
            row->precision = o.precisions[r / o.n_kernels];
            plan_row(backend, &o, row);
            ae_error err = {{0}, 0};
            if (bench_one(backend, row, ae_cpu_threads(o.backend.threads), &err)) {
                fprintf(stderr, "aesweep bench: n=%d: %s\n", row->n, err.msg);
                status = err.code ? err.code : AE_EXIT_RUNTIME;
                break;
            }
            double best = row->kernel_model_steps_per_s > 0 ? row->kernel_model_steps_per_s : row->model_steps_per_s;
            row->peak_fraction = peak > 0 ? best * row->flops_per_step / peak : 0;
            print_row(row);
            n_rows++;
        }
    }
    if (cuda)
        printf("\n'kernel only': the kernels alone (CUDA events), which %% peak uses; 'model-steps/s' includes the "
               "host's work.\n'waves': runs over the runs the device holds at once (SMs x resident blocks x runs "
               "per block).\n");
    printf("\n'stability/s': final states whose Hessian spectrum (outcome.hessian: grad_norm, hessian_*) the host\n"
           "analyses per second on its threads, timed apart from the training; '+%% time': what that adds to the\n"
           "row's training time when every run computes it (a sweep's default where n (m + 1) <= 64).\n");
    if (o.json && n_rows > 0) {
        int json_status = write_json_file(o.json, backend, peak, peak_how, rows, n_rows);
        if (!status) status = json_status;
    }
    backend->destroy(backend);
    return status;
}
