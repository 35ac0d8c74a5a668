/* backend.c - what every backend shares on the host: the per-batch record arrays,
 * preparing a run's initial state, training one run alone, trajectories.  The record of a
 * trained run and its rules are record.c's. */
#include "ae_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ae_results_alloc(ae_results *res, uint64_t capacity, int n_max, int m_max, int optimizer_state)
{
    memset(res, 0, sizeof *res);
    res->capacity = capacity;
    res->n_max = n_max;
    res->m_max = m_max;
    res->optimizer_state = optimizer_state;
#define ALLOC_FIELD(name, TYPE, SHAPE, fill, units, long_name)                                                   \
    if (optimizer_state || !(AE_RECORD_FIELDS_OPTIMIZER >> AE_RECORD_FIELD_##name & 1))                         \
        res->name = ae_xcalloc(capacity * ae_record_per_run(AE_RECORD_##SHAPE, n_max, m_max), sizeof *res->name);
    AE_RECORD_FIELDS(ALLOC_FIELD)
#undef ALLOC_FIELD
}

void ae_results_free(ae_results *res)
{
#define FREE_FIELD(name, TYPE, SHAPE, fill, units, long_name) free(res->name);
    AE_RECORD_FIELDS(FREE_FIELD)
#undef FREE_FIELD
    memset(res, 0, sizeof *res);
}

void ae_twin_params(const ae_config *cfg, ae_params *params)
{
    const ae_setting *s = cfg->twin_setting;
    if (!s) return;
    const double value = ae_setting_get(s, params), eps = params->twin_eps;
    ae_setting_put(s, params, cfg->twin_relative ? value * (1.0 + eps) : value + eps);
}

void ae_init_run(const ae_params *params, const double *base_W, const double *base_b, int perturb_kind,
                 const int32_t *features, int n_features, double *theta)
{
    if (params->precision == AE_FLOAT64) {
        ae_init_state_f64(params, base_W, base_b, theta);
        ae_perturb_f64(params, perturb_kind, features, n_features, theta);
        return;
    }
    float state[AE_P_MAX];
    ae_init_state_f32(params, base_W, base_b, state);
    ae_perturb_f32(params, perturb_kind, features, n_features, state);
    for (int e = 0; e < params->n * params->m + params->n; e++) theta[e] = state[e];
}

/* A state twin starts eps away (ae_twin_perturb of the run's precision). */
static void twin_perturb_run(const ae_params *params, double *theta)
{
    if (params->precision == AE_FLOAT64) {
        ae_twin_perturb_f64(params, 1, 0, theta);
        return;
    }
    float state[AE_P_MAX];
    const int P = params->n * params->m + params->n;
    for (int e = 0; e < P; e++) state[e] = (float)theta[e];
    ae_twin_perturb_f32(params, 1, 0, state);
    for (int e = 0; e < P; e++) theta[e] = state[e];
}

/* The optimizer state run `params` starts from: base state `base`'s, rounded to the run's
 * precision, or a fresh one. */
static void start_opt(const ae_job *job, const ae_params *params, uint64_t base, ae_opt_state *opt)
{
    const ae_bases *bases = job->bases;
    const int P = params->n * params->m + params->n;
    opt->optimizer = params->optimizer;
    if (!job->cfg->keep_optimizer_state || !bases || !bases->opt_m) {
        opt->step = 0;
        for (int e = 0; e < P; e++) opt->m[e] = 0, opt->v[e] = 0;
        return;
    }
    const double *m = bases->opt_m + base * (uint64_t)P, *v = bases->opt_v + base * (uint64_t)P;
    opt->step = bases->opt_step[base];
    for (int e = 0; e < P; e++)
        opt->m[e] = params->precision == AE_FLOAT64 ? m[e] : (double)(float)m[e],
        opt->v[e] = params->precision == AE_FLOAT64 ? v[e] : (double)(float)v[e];
}

/* ae_prepare_run of settings already decoded (base: the run's base state index). */
static void prepare_decoded(const ae_job *job, uint64_t base, int twin, ae_params *params, double *theta,
                            ae_opt_state *opt)
{
    if (twin) ae_twin_params(job->cfg, params);
    const ae_bases *bases = job->bases;
    const ae_config *cfg = job->cfg;
    const double *base_W = bases ? bases->W + base * (uint64_t)bases->n * (uint64_t)bases->m : NULL;
    const double *base_b = bases ? bases->b + base * (uint64_t)bases->n : NULL;
    ae_init_run(params, base_W, base_b, cfg->perturb_kind, cfg->perturb_features, cfg->n_perturb_features, theta);
    if (twin && !cfg->twin_setting) twin_perturb_run(params, theta);
    if (opt) start_opt(job, params, base, opt);
}

void ae_prepare_run(const ae_job *job, uint64_t flat, int twin, ae_params *params, double *theta, ae_opt_state *opt)
{
    uint64_t base;
    ae_grid_run(job->grid, flat, params, &base);
    prepare_decoded(job, base, twin, params, theta, opt);
}

void ae_prepare_run_in(const ae_job *job, uint64_t flat, int precision, ae_params *params, double *theta,
                       ae_opt_state *opt)
{
    uint64_t base;
    ae_grid_run_in(job->grid, flat, precision, params, &base);
    prepare_decoded(job, base, 0, params, theta, opt);
}

void ae_train_run(const ae_params *params, double *theta, ae_opt_state *opt, ae_track *track, int64_t *learnt_step,
                  const ae_trace *trace)
{
    const int P = params->n * params->m + params->n;
    int64_t step = opt ? opt->step : 0;
    if (params->precision == AE_FLOAT64) {
        double grad[AE_P_MAX], s1[AE_P_MAX], s2[AE_P_MAX], anchor[AE_P_MAX];
        ae_buffers_f64 buffers = {.theta = theta, .grad = grad, .s1 = s1, .s2 = s2, .anchor = anchor,
                                  .learnt_step = learnt_step, .opt_t = opt ? &step : NULL};
        for (int e = 0; e < P && opt; e++) s1[e] = opt->m[e], s2[e] = opt->v[e];
        ae_train_f64(params, &buffers, track, trace);
        for (int e = 0; e < P && opt; e++) opt->m[e] = s1[e], opt->v[e] = s2[e];
    } else {
        float state[AE_P_MAX], grad[AE_P_MAX], s1[AE_P_MAX], s2[AE_P_MAX];
        double anchor[AE_P_MAX];
        for (int e = 0; e < P; e++) state[e] = (float)theta[e];
        for (int e = 0; e < P && opt; e++) s1[e] = (float)opt->m[e], s2[e] = (float)opt->v[e];
        ae_buffers_f32 buffers = {.theta = state, .grad = grad, .s1 = s1, .s2 = s2, .anchor = anchor,
                                  .learnt_step = learnt_step, .opt_t = opt ? &step : NULL};
        ae_train_f32(params, &buffers, track, trace);
        for (int e = 0; e < P; e++) theta[e] = state[e];
        for (int e = 0; e < P && opt; e++) opt->m[e] = s1[e], opt->v[e] = s2[e];
    }
    if (opt) opt->step = step, opt->optimizer = params->optimizer;
}

void ae_trajectories_shape(const ae_job *job, ae_trajectories *traj)
{
    const ae_config *cfg = job->cfg;
    const ae_grid *grid = job->grid;
    memset(traj, 0, sizeof *traj);
    if (!cfg->trajectory_every) return;
    int64_t max_steps = 0;
    for (int k = 0; k < cfg->n_trajectory_runs; k++) {
        ae_params params;
        uint64_t base;
        ae_grid_run(grid, cfg->trajectory_runs[k], &params, &base);
        if (params.steps > max_steps) max_steps = params.steps;
    }
    traj->count = cfg->n_trajectory_runs;
    traj->runs = cfg->trajectory_runs;
    traj->every = cfg->trajectory_every;
    traj->points = max_steps / traj->every + 1;
    traj->n_max = grid->n_max;
    traj->m_max = grid->m_max;
}

void ae_trajectories_train(const ae_job *job, ae_trajectories *traj)
{
    const ae_grid *grid = job->grid;
    ae_trajectories_shape(job, traj);
    if (!traj->count) return;
    const uint64_t points = (uint64_t)traj->points, count = (uint64_t)traj->count;
    const uint64_t n_max = (uint64_t)grid->n_max, m_max = (uint64_t)grid->m_max;
    traj->loss = ae_xmalloc(count * points * sizeof(double));
    traj->W = ae_xmalloc(count * points * n_max * m_max * sizeof(double));
    traj->b = ae_xmalloc(count * points * n_max * sizeof(double));
    double *trace_theta = ae_xmalloc(points * AE_P_MAX * sizeof(double));
    for (uint64_t k = 0; k < count; k++) {
        double theta[AE_P_MAX];
        ae_params p;
        ae_track track;
        int64_t learnt_step[AE_N_MAX];
        double *loss = traj->loss + k * points;
        for (uint64_t t = 0; t < points; t++) loss[t] = NAN;
        for (uint64_t e = 0; e < points * AE_P_MAX; e++) trace_theta[e] = NAN;
        ae_opt_state opt; /* a trajectory continues a kept optimizer state as its run does */
        ae_prepare_run(job, traj->runs[k], 0, &p, theta, &opt);
        ae_trace trace = {traj->every, loss, trace_theta};
        ae_train_run(&p, theta, &opt, &track, learnt_step, &trace);
        const uint64_t n = (uint64_t)p.n, m = (uint64_t)p.m, P = n * m + n;
        for (uint64_t t = 0; t < points; t++)
            for (uint64_t i = 0; i < n_max; i++) {
                const double *point = trace_theta + t * P;
                uint64_t at = (k * points + t) * n_max + i;
                traj->b[at] = i < n ? point[n * m + i] : NAN;
                for (uint64_t c = 0; c < m_max; c++) traj->W[at * m_max + c] = i < n && c < m ? point[i * m + c] : NAN;
            }
    }
    free(trace_theta);
}

void ae_trajectories_free(ae_trajectories *traj)
{
    free(traj->loss);
    free(traj->W);
    free(traj->b);
    memset(traj, 0, sizeof *traj);
}
