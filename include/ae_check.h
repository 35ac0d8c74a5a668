/*
 * ae_check.h - check.float64 (DESIGN.md section 9): K runs of a float32 sweep, picked at
 * random from the grid, are also trained in float64 with the same seed and settings, so that
 * a sweep can say which of its outcomes float32 arithmetic decided.
 *
 * API:
 *   ae_check_pick(check, grid, err)        the runs to check: K of the grid's, by Philox
 *   ae_check_count(check, first, count)    how many of runs first .. first+count-1 are picked
 *   ae_check_train(check, job, first, count, res, threads)
 *                                          trains the picked float32 runs of a batch in float64
 *                                          on the CPU: float64_outcome, float64_loss of res
 *   ae_check_free(check)
 *
 * The set depends only on the grid's run count, K and check.seed: never on shards, batches,
 * threads, ranks or the backend, so a sharded, merged or resumed sweep checks the same runs
 * and writes the same values (each batch trains the checks of its own runs).
 */
#ifndef AE_CHECK_H
#define AE_CHECK_H

#include "ae_backend.h"

/* Philox stream of the pick, apart from the per-run streams of ae_model.h and the sample
 * axes' AE_SAMPLE_STREAM. */
#define AE_CHECK_STREAM 0x43484b36u /* "CHK6" */
/* Runs a sample may name one by one (K beyond it, unless K >= the grid's runs, is refused). */
#define AE_CHECK_MAX ((uint64_t)1 << 27)

typedef struct {
    uint64_t total;   /* the grid's runs */
    uint64_t count;   /* runs picked: min(K, total) */
    int all;          /* K >= total: every run, no list */
    uint64_t *picked; /* count flat indices, ascending (NULL when all or none) */
} ae_check;

int ae_check_pick(ae_check *check, const ae_grid *grid, ae_error *err);
uint64_t ae_check_count(const ae_check *check, uint64_t first, uint64_t count);
/* Runs first .. first+count-1 are res slots 0 .. count-1, their records already stored
 * (float64_outcome -1, float64_loss NaN): the picked float32 runs get their check's. */
void ae_check_train(const ae_check *check, const ae_job *job, uint64_t first, uint64_t count, ae_results *res,
                    int threads);
void ae_check_free(ae_check *check);

#endif
