/* cpu.c - the CPU backend: runs are grouped into lane groups of up to CPU_LANES
 * consecutive runs of the same shape and schedule; OpenMP threads take whole groups, and
 * a group trains its runs side by side in SIMD lanes with the shared per-model math of
 * ae_model.h (bit-identical to training each run alone).  No state outside the backend. */
#include "ae_backend.h"
#include "lanes/cpu_lanes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define CPU_LANES AE_CPU_LANES /* runs trained side by side in SIMD lanes (ae_backend.h) */

/* One instruction set's lane trainers (src/backends/lanes/, cpu_lanes.h). */
typedef struct {
    ae_cpu_lanes_f32 m2_f32, any_f32; /* m = 2, any m */
    ae_cpu_lanes_f64 m2_f64, any_f64;
} lane_trainers;

/* Every set by ae_cpu_isa; a set this build lacks is all NULL. */
static const lane_trainers isa_trainers[4] = {
    [AE_ISA_BASELINE] = {ae_cpu_lanes_m2_f32_baseline, ae_cpu_lanes_f32_baseline, ae_cpu_lanes_m2_f64_baseline,
                         ae_cpu_lanes_f64_baseline},
#if CPU_LANES_X86
    [AE_ISA_AVX2] = {ae_cpu_lanes_m2_f32_avx2, ae_cpu_lanes_f32_avx2, ae_cpu_lanes_m2_f64_avx2, ae_cpu_lanes_f64_avx2},
    [AE_ISA_AVX512] = {ae_cpu_lanes_m2_f32_avx512, ae_cpu_lanes_f32_avx512, ae_cpu_lanes_m2_f64_avx512,
                       ae_cpu_lanes_f64_avx512},
#endif
};

/* The instruction set to run (AE_ISA_AUTO: the widest this CPU has), or -1 (err).  Every
 * set gives the same bits; asking for one this CPU or build lacks is an error, never a
 * silent fallback, so a test of a set really runs that set. */
static int cpu_isa_pick(int isa, ae_error *err)
{
    int have[4] = {0, 1, 0, 0}; /* by ae_cpu_isa */
#if CPU_LANES_X86
    __builtin_cpu_init();
    have[AE_ISA_AVX2] = __builtin_cpu_supports("avx2");
    have[AE_ISA_AVX512] = __builtin_cpu_supports("avx512f");
#endif
    if (isa == AE_ISA_AUTO)
        for (isa = AE_ISA_AVX512; !have[isa]; isa--) continue;
    if (!have[isa] || !isa_trainers[isa].m2_f32)
        return ae_fail_runtime(err, "--isa %s: this CPU or this build cannot run it", ae_cpu_isa_names[isa]);
    return isa;
}

/* The lanes trained by the set's trainer for their m: m = 2 unrolled, or any m. */
static void train_lanes_f32(const lane_trainers *set, const ae_params *const *lanes, const ae_buffers_f32 *buf,
                            ae_track *track)
{
    (lanes[0]->m == 2 ? set->m2_f32 : set->any_f32)(lanes, buf, track);
}

static void train_lanes_f64(const lane_trainers *set, const ae_params *const *lanes, const ae_buffers_f64 *buf,
                            ae_track *track)
{
    (lanes[0]->m == 2 ? set->m2_f64 : set->any_f64)(lanes, buf, track);
}

int ae_cpu_train_lanes_f32(int isa, const ae_params *const *lanes, const ae_buffers_f32 *buf, ae_track *track,
                           ae_error *err)
{
    isa = cpu_isa_pick(isa, err);
    if (isa >= 0) train_lanes_f32(&isa_trainers[isa], lanes, buf, track);
    return isa;
}

int ae_cpu_train_lanes_f64(int isa, const ae_params *const *lanes, const ae_buffers_f64 *buf, ae_track *track,
                           ae_error *err)
{
    isa = cpu_isa_pick(isa, err);
    if (isa >= 0) train_lanes_f64(&isa_trainers[isa], lanes, buf, track);
    return isa;
}

typedef struct {
    int threads;
    const lane_trainers *lanes; /* of the instruction set it runs */
} cpu_backend;

/* Up to CPU_LANES consecutive runs that can share lanes. */
typedef struct {
    uint64_t first;
    int count;
} lane_group;

/* Lanes share the precision, the model shape, the optimizer and the step schedule (twins:
 * also the renormalisation period). */
static int same_schedule(const ae_params *a, const ae_params *b)
{
    return a->precision == b->precision && a->n == b->n && a->m == b->m && a->optimizer == b->optimizer &&
           a->steps == b->steps && a->check_every == b->check_every && a->twin_renorm_every == b->twin_renorm_every;
}

/* Adam's corrections of every step, for one (beta1, beta2) as the runs use them
 * (ae_bias_table), kept by each thread from group to group.  The lanes read them as the
 * CUDA kernels do instead of each computing a double division and square root a step:
 * the same numbers (the table holds what ae_bias_next returns), so the same bits. */
typedef struct {
    double beta1, beta2;
    int64_t capacity; /* steps asked for when the table was built (at most CPU_BIAS_MAX) */
    int64_t entries;  /* ae_bias_table's count: fewer than capacity when it reached {1, 1} */
    ae_bias *table;
} bias_cache;

/* A table longer than this (beta2 near 1 and very long runs) is not worth its memory: the
 * lanes compute their corrections instead. */
#define CPU_BIAS_MAX ((int64_t)1 << 20)

/* The table for steps 1 .. reach and its last entry, or NULL when it would be too long. */
static const ae_bias *bias_for(bias_cache *cache, double beta1, double beta2, int64_t reach, int64_t *last)
{
    if (reach < 1) reach = 1;
    const int covers = cache->table && cache->beta1 == beta1 && cache->beta2 == beta2 &&
                       (cache->entries < cache->capacity || cache->entries >= reach);
    if (!covers) {
        const int64_t capacity = reach < CPU_BIAS_MAX ? reach : CPU_BIAS_MAX;
        free(cache->table);
        cache->table = ae_xmalloc((size_t)capacity * sizeof *cache->table);
        cache->entries = ae_bias_table(beta1, beta2, capacity, cache->table);
        cache->beta1 = beta1, cache->beta2 = beta2, cache->capacity = capacity;
    }
    if (cache->entries == cache->capacity && cache->entries < reach) return NULL; /* cut at CPU_BIAS_MAX */
    *last = cache->entries - 1; /* every later step's corrections are {1, 1}, or no later step is read */
    return cache->table;
}

/* Runs a group holds: with twins (twin.eps) run l trains in lane l and its twin beside it in
 * lane l + CPU_LANES/2, in lockstep, so state twins can be renormalised as they go. */
static int group_runs(const ae_job *job) { return job->cfg->twin_enabled ? CPU_LANES / 2 : CPU_LANES; }

#define AE_PRECISION 32
#include "cpu_group.inc"
#define AE_PRECISION 64
#include "cpu_group.inc"

static int cpu_train(ae_backend *backend, const ae_job *job, uint64_t first, uint64_t count, ae_results *res,
                     ae_error *err)
{
    (void)err;
    const cpu_backend *cpu = backend->impl;
    lane_group *groups = ae_xcalloc(count, sizeof *groups);
    int64_t n_groups = 0;
    ae_params previous = {0}, current;
    const int runs = group_runs(job);
    for (uint64_t r = 0; r < count; r++) {
        uint64_t base;
        ae_grid_run(job->grid, first + r, &current, &base);
        if (n_groups == 0 || groups[n_groups - 1].count == runs || !same_schedule(&previous, &current))
            groups[n_groups++] = (lane_group){first + r, 0};
        groups[n_groups - 1].count++;
        previous = current;
    }
#pragma omp parallel num_threads(cpu->threads)
    {
        /* either precision's five arrays, then the anchor states (double in both) */
        double *work = ae_xmalloc(6 * CPU_LANES * AE_P_MAX * sizeof(double)), *anchor = work + 5 * CPU_LANES * AE_P_MAX;
        bias_cache bias = {0};
#pragma omp for schedule(dynamic, 1)
        for (int64_t g = 0; g < n_groups; g++) {
            ae_params params;
            uint64_t base;
            ae_grid_run(job->grid, groups[g].first, &params, &base);
            if (params.precision == AE_FLOAT64)
                train_group_f64(cpu, job, groups[g], groups[g].first - first, res, work, anchor, &bias);
            else
                train_group_f32(cpu, job, groups[g], groups[g].first - first, res, (float *)(void *)work, anchor,
                                &bias);
        }
        free(bias.table);
        free(work);
    }
    free(groups);
    return 0;
}

static void cpu_destroy(ae_backend *backend)
{
    free(backend->impl);
    free(backend);
}

/* "Intel(R) Xeon(R) ..." from /proc/cpuinfo, or "unknown CPU". */
static void cpu_model_name(char *out, size_t size)
{
    snprintf(out, size, "unknown CPU");
    FILE *info = fopen("/proc/cpuinfo", "r");
    if (!info) return;
    char line[512];
    while (fgets(line, sizeof line, info)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            colon += 2;
            colon[strcspn(colon, "\n")] = 0;
            snprintf(out, size, "%s", colon);
            break;
        }
    }
    fclose(info);
}

int ae_cpu_threads(int requested)
{
#ifdef _OPENMP
    return requested > 0 ? requested : omp_get_num_procs();
#else
    (void)requested;
    return 1;
#endif
}

ae_backend *ae_backend_cpu_create(const ae_backend_options *opt, ae_error *err)
{
    int isa = cpu_isa_pick(opt->cpu_isa, err);
    if (isa < 0) return NULL;
    ae_backend *backend = ae_xcalloc(1, sizeof *backend);
    cpu_backend *cpu = ae_xcalloc(1, sizeof *cpu);
    cpu->threads = ae_cpu_threads(opt->threads);
    cpu->lanes = &isa_trainers[isa];
    char model[200];
    cpu_model_name(model, sizeof model);
    snprintf(backend->name, sizeof backend->name, "cpu");
    snprintf(backend->device, sizeof backend->device, "%s, %d thread%s, %s x%d lanes", model, cpu->threads,
             cpu->threads == 1 ? "" : "s", ae_cpu_isa_names[isa], CPU_LANES);
    backend->impl = cpu;
    backend->train = cpu_train;
    backend->destroy = cpu_destroy;
    return backend;
}
