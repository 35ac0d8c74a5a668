/* grid.c - the runs of a sweep: axes in order, row-major flat run numbers. */
#include "ae_config.h"

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* init.optimizer_state = "keep": every run continues its base state's optimizer.  Adam and
 * AdamW keep the same moments (decay is not part of them), so either continues the other;
 * SGD's momentum buffer is another thing, continued by SGD alone.  Every base meets every
 * train.optimizer of the config (the base axis and an optimizer axis are independent). */
static int check_optimizers(const ae_config *cfg, const ae_bases *bases, ae_error *err)
{
    const char *const *names = ae_setting_find("train.optimizer")->names;
    for (int optimizer = AE_OPT_SGD; optimizer <= AE_OPT_ADAMW; optimizer++) {
        if (!ae_config_takes(cfg, "train.optimizer", optimizer)) continue;
        for (uint64_t k = 0; k < bases->count; k++) {
            const int had = bases->opt_optimizer[k];
            if ((had == AE_OPT_SGD) == (optimizer == AE_OPT_SGD)) continue;
            return ae_fail(err, "%s: init.optimizer_state = \"keep\": run %lld of %s holds the state of %s, which "
                                "train.optimizer = \"%s\" cannot continue (adam and adamw continue each other's, sgd "
                                "only its own)",
                           cfg->path, (long long)bases->source_index[k], cfg->init_file, names[had], names[optimizer]);
        }
    }
    return 0;
}

/* perturb.features names features of every run: each below the smallest n of the grid
 * (a feature past n would be ignored in silence). */
static int check_perturb_features(const ae_grid *grid, const ae_config *cfg, ae_error *err)
{
    if (cfg->perturb_kind != AE_PERTURB_LIST) return 0;
    double n_min = INFINITY; /* over the axes that set n (a setting axis, or a sample axis's n) */
    for (int a = 0; a < grid->n_axes; a++) {
        const ae_axis *axis = &grid->axes[a];
        const int per_value = axis->setting ? 1 : axis->n_params;
        for (int j = 0; j < per_value; j++)
            if ((axis->setting ? axis->setting : axis->params[j].setting)->offset == offsetof(ae_params, n))
                for (uint64_t k = 0; k < axis->count; k++)
                    n_min = fmin(n_min, axis->values[k * (uint64_t)per_value + (uint64_t)j]);
    }
    if (n_min == INFINITY) n_min = grid->params.n;
    for (int k = 0; k < cfg->n_perturb_features; k++)
        if (cfg->perturb_features[k] >= n_min)
            return ae_fail(err, "%s: perturb.features: feature %d does not exist in a run with n = %.0f (features 0 to %.0f)",
                           cfg->path, cfg->perturb_features[k], n_min, n_min - 1);
    return 0;
}

/* A float32 run starts from its base state rounded to float32: a value past float32's range
 * would start it at infinity, and every such run would "diverge" at step 0. */
static int check_bases_fit_float32(const ae_grid *grid, const ae_config *cfg, const ae_bases *bases, ae_error *err)
{
    int any_float32 = grid->params.precision == AE_FLOAT32;
    for (int a = 0; a < grid->n_axes; a++)
        if (grid->axes[a].setting && grid->axes[a].setting->offset == offsetof(ae_params, precision)) {
            any_float32 = 0;
            for (uint64_t k = 0; k < grid->axes[a].count; k++) any_float32 |= grid->axes[a].values[k] == AE_FLOAT32;
        }
    if (!any_float32) return 0;
    const uint64_t per_W = (uint64_t)bases->n * (uint64_t)bases->m;
    for (uint64_t r = 0; r < bases->count; r++)
        for (uint64_t e = 0; e < per_W + (uint64_t)bases->n; e++) {
            const double x = e < per_W ? bases->W[r * per_W + e] : bases->b[r * (uint64_t)bases->n + e - per_W];
            if (fabs(x) > FLT_MAX)
                return ae_fail(err, "%s: init.file: base state %llu (run %lld of the file) holds %g, past float32's "
                                    "range: its float32 runs would start at infinity (model.precision = \"float64\" "
                                    "trains it)", cfg->path, (unsigned long long)r, (long long)bases->source_index[r], x);
        }
    return 0;
}

int ae_grid_build(ae_grid *grid, const ae_config *cfg, const ae_bases *bases, ae_error *err)
{
    memset(grid, 0, sizeof *grid);
    grid->cfg = cfg;
    grid->params = cfg->params;
    if (bases) {
        if ((cfg->n_given && bases->n != cfg->params.n) || (cfg->m_given && bases->m != cfg->params.m))
            return ae_fail(err, "%s: model is n=%d, m=%d but the base states in %s are n=%d, m=%d", cfg->path,
                           cfg->params.n, cfg->params.m, cfg->init_file, bases->n, bases->m);
        if (bases->m != 2 && ae_config_takes(cfg, "intervene.method", AE_INTERVENE_GAP))
            return ae_fail(err, "%s: intervene.method = \"gap\" needs m = 2; the base states in %s are m=%d", cfg->path,
                           cfg->init_file, bases->m);
        if (bases->opt_optimizer && check_optimizers(cfg, bases, err)) return -1;
        grid->params.n = bases->n;
        grid->params.m = bases->m;
        if (bases->count > 1) {
            ae_axis *axis = &grid->axes[grid->n_axes++];
            snprintf(axis->name, sizeof axis->name, "base");
            axis->count = bases->count;
            axis->values = ae_xcalloc(bases->count, sizeof(double));
            for (uint64_t k = 0; k < bases->count; k++) axis->values[k] = (double)bases->source_index[k];
            grid->has_base_axis = 1;
        }
    }
    grid->total = 1;
    for (int a = 0; a < cfg->n_axes; a++) {
        ae_axis *axis = &grid->axes[grid->n_axes++];
        *axis = cfg->axes[a];
        size_t per_value = axis->n_params ? (size_t)axis->n_params : 1;
        axis->values = ae_xcalloc(axis->count * per_value, sizeof(double));
        memcpy(axis->values, cfg->axes[a].values, axis->count * per_value * sizeof(double));
    }
    for (int a = 0; a < grid->n_axes; a++) {
        if (grid->axes[a].count > AE_RUNS_MAX / grid->total)
            return ae_fail(err, "%s: the grid has more than %llu runs", cfg->path, (unsigned long long)AE_RUNS_MAX);
        grid->total *= grid->axes[a].count;
    }
    for (int k = 0; k < cfg->n_trajectory_runs; k++)
        if (cfg->trajectory_runs[k] >= grid->total)
            return ae_fail(err, "%s: trajectory.runs: run %llu does not exist (the grid has %llu runs)", cfg->path,
                           (unsigned long long)cfg->trajectory_runs[k], (unsigned long long)grid->total);
    /* per-feature data is padded to the largest n (and m) any run has */
    grid->n_max = grid->params.n;
    grid->m_max = grid->params.m;
    grid->any_float64 = grid->params.precision == AE_FLOAT64;
    for (int a = 0; a < grid->n_axes; a++) {
        const ae_axis *axis = &grid->axes[a];
        if (!axis->setting) continue;
        int is_n = axis->setting->offset == offsetof(ae_params, n), is_m = axis->setting->offset == offsetof(ae_params, m);
        int is_precision = axis->setting->offset == offsetof(ae_params, precision);
        if (is_n) grid->n_max = 0;
        if (is_m) grid->m_max = 0;
        if (is_precision) grid->any_float64 = 0;
        for (uint64_t k = 0; k < axis->count; k++) {
            if (is_n && axis->values[k] > grid->n_max) grid->n_max = (int)axis->values[k];
            if (is_m && axis->values[k] > grid->m_max) grid->m_max = (int)axis->values[k];
            if (is_precision && axis->values[k] == AE_FLOAT64) grid->any_float64 = 1;
        }
    }
    if (check_perturb_features(grid, cfg, err)) return -1;
    return bases ? check_bases_fit_float32(grid, cfg, bases, err) : 0;
}

void ae_grid_free(ae_grid *grid)
{
    for (int a = 0; a < grid->n_axes; a++) free(grid->axes[a].values);
    memset(grid, 0, sizeof *grid);
}

void ae_grid_run(const ae_grid *grid, uint64_t flat, ae_params *params, uint64_t *base)
{
    ae_grid_run_in(grid, flat, -1, params, base);
}

/* precision -1: the run's own */
void ae_grid_run_in(const ae_grid *grid, uint64_t flat, int precision, ae_params *params, uint64_t *base)
{
    *params = grid->params;
    *base = 0;
    for (int a = grid->n_axes - 1; a >= 0; a--) {
        const ae_axis *axis = &grid->axes[a];
        uint64_t index = flat % axis->count;
        flat /= axis->count;
        if (axis->setting)
            ae_setting_put(axis->setting, params, axis->values[index]);
        else if (axis->n_params)
            for (int j = 0; j < axis->n_params; j++)
                ae_setting_put(axis->params[j].setting, params, axis->values[index * (uint64_t)axis->n_params + j]);
        else
            *base = index;
    }
    if (precision >= 0) params->precision = precision;
    ae_params_round_to_precision(params);
}

double ae_grid_model_steps(const ae_grid *grid, uint64_t first, uint64_t count)
{
    int steps_vary = 0;
    for (int a = 0; a < grid->n_axes; a++)
        steps_vary |= grid->axes[a].setting && grid->axes[a].setting->offset == offsetof(ae_params, steps);
    if (!steps_vary) return (double)count * (double)grid->params.steps;
    double total = 0;
    for (uint64_t r = first; r < first + count; r++) {
        ae_params params;
        uint64_t base;
        ae_grid_run(grid, r, &params, &base);
        total += (double)params.steps;
    }
    return total;
}
