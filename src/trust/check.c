/* check.c - check.float64: which runs a sweep checks in float64, and their training. */
#include "ae_check.h"

#include <stdlib.h>
#include <string.h>

/* A uniform whole number in [0, j]: 64 bits of Philox word pair j of the check's stream,
 * scaled by (j + 1) / 2^64 (exact integer arithmetic, so every machine draws the same). */
static uint64_t draw_below(uint64_t seed, uint64_t j)
{
    uint32_t words[4];
    ae_philox4x32_10(j, AE_CHECK_STREAM, seed, words);
    const uint64_t u = (uint64_t)words[0] | (uint64_t)words[1] << 32;
    return (uint64_t)(((unsigned __int128)u * ((unsigned __int128)j + 1)) >> 64);
}

/* An open-addressing set of run indices (stored + 1, so 0 is an empty slot). */
typedef struct {
    uint64_t *slots, mask;
} run_set;

static uint64_t *set_slot(const run_set *set, uint64_t run)
{
    uint64_t at = (run * 0x9E3779B97F4A7C15u) >> 17 & set->mask;
    while (set->slots[at] && set->slots[at] != run + 1) at = (at + 1) & set->mask;
    return &set->slots[at];
}

static int compare_runs(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Floyd's algorithm: for j = N - K .. N - 1, add a uniform t in [0, j], or j itself when t
 * is in already; every K-subset of the N runs is equally likely, and it takes K draws. */
int ae_check_pick(ae_check *check, const ae_grid *grid, ae_error *err)
{
    const uint64_t want = (uint64_t)grid->params.check_float64, total = grid->total;
    memset(check, 0, sizeof *check);
    check->total = total;
    check->count = want < total ? want : total;
    check->all = want >= total;
    if (check->all || want == 0) return 0;
    if (want > AE_CHECK_MAX)
        return ae_fail(err, "%s: check.float64 = %llu: a sample names at most %llu runs (or every run: K >= the grid's "
                            "%llu)",
                       grid->cfg->path, (unsigned long long)want, (unsigned long long)AE_CHECK_MAX,
                       (unsigned long long)total);
    uint64_t capacity = 16;
    while (capacity < 2 * want) capacity *= 2;
    run_set set = {ae_xcalloc(capacity, sizeof(uint64_t)), capacity - 1};
    const uint64_t seed = (uint64_t)grid->params.check_seed;
    for (uint64_t j = total - want; j < total; j++) {
        const uint64_t t = draw_below(seed, j);
        const uint64_t pick = *set_slot(&set, t) ? j : t; /* j is new: every earlier pick is below it */
        *set_slot(&set, pick) = pick + 1;
    }
    check->picked = ae_xmalloc(want * sizeof(uint64_t));
    uint64_t found = 0;
    for (uint64_t s = 0; s < capacity; s++)
        if (set.slots[s]) check->picked[found++] = set.slots[s] - 1;
    free(set.slots);
    qsort(check->picked, found, sizeof(uint64_t), compare_runs);
    return 0;
}

/* The position of the first picked run >= run. */
static uint64_t lower_bound(const ae_check *check, uint64_t run)
{
    uint64_t lo = 0, hi = check->count;
    while (lo < hi) {
        const uint64_t mid = lo + (hi - lo) / 2;
        if (check->picked[mid] < run)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint64_t ae_check_count(const ae_check *check, uint64_t first, uint64_t count)
{
    if (check->all) return count;
    if (!check->picked) return 0;
    return lower_bound(check, first + count) - lower_bound(check, first);
}

void ae_check_train(const ae_check *check, const ae_job *job, uint64_t first, uint64_t count, ae_results *res,
                    int threads)
{
    const uint64_t checks = ae_check_count(check, first, count);
    if (!checks) return;
    const uint64_t start = check->all ? 0 : lower_bound(check, first);
    const int keep = job->cfg->keep_optimizer_state;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (checks > 1)
    for (int64_t c = 0; c < (int64_t)checks; c++) {
        const uint64_t run = check->all ? first + (uint64_t)c : check->picked[start + (uint64_t)c];
        ae_params params;
        uint64_t base;
        ae_grid_run(job->grid, run, &params, &base);
        if (params.precision != AE_FLOAT32) continue; /* a float64 run of a precision axis: nothing to check */
        double theta[AE_P_MAX], recon[AE_N_MAX], norm[AE_N_MAX];
        ae_opt_state opt; /* a kept optimizer state is continued, unrounded, as a float64 run would */
        ae_track track;
        ae_summary sum;
        ae_prepare_run_in(job, run, AE_FLOAT64, &params, theta, keep ? &opt : NULL);
        ae_train_run(&params, theta, keep ? &opt : NULL, &track, NULL, NULL);
        ae_summarize_run(&params, theta, &track, recon, norm, &sum);
        res->float64_outcome[run - first] = (int8_t)sum.outcome;
        res->float64_loss[run - first] = sum.loss;
    }
}

void ae_check_free(ae_check *check)
{
    free(check->picked);
    memset(check, 0, sizeof *check);
}
