/* backend.c - what every backend shares on the host: the per-batch record arrays,
 * preparing a run's initial state, recording its metrics (the stability of its end state
 * too: src/trust/stability.c), trajectories. */
#include "ae_backend.h"
#include "ae_stability.h"

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

void ae_store_opt(ae_results *res, uint64_t slot, const ae_params *params, const ae_opt_state *opt)
{
    if (!res->optimizer_state) return;
    const int n = params->n, m = params->m, n_max = res->n_max, m_max = res->m_max;
    const int finite = res->outcome[slot] != AE_OUT_DIVERGED;
    res->opt_optimizer[slot] = (int8_t)opt->optimizer;
    res->opt_step[slot] = opt->step;
    for (int i = 0; i < n_max; i++) {
        const uint64_t at = slot * (uint64_t)n_max + (uint64_t)i;
        res->opt_m_b[at] = i < n && finite ? opt->m[n * m + i] : NAN;
        res->opt_v_b[at] = i < n && finite ? opt->v[n * m + i] : NAN;
        for (int k = 0; k < m_max; k++) {
            const int inside = i < n && k < m && finite;
            res->opt_m_W[at * (uint64_t)m_max + (uint64_t)k] = inside ? opt->m[i * m + k] : NAN;
            res->opt_v_W[at * (uint64_t)m_max + (uint64_t)k] = inside ? opt->v[i * m + k] : NAN;
        }
    }
}

void ae_store_run(ae_results *res, uint64_t slot, const ae_params *params, const double *theta, const ae_track *track,
                  const ae_summary *sum, const double *recon, const double *norm, const int64_t *learnt_step)
{
    const int n = params->n, m = params->m, n_max = res->n_max, m_max = res->m_max;
    /* a diverged run is neither frozen nor learnt: its escape times say -1 (its last checks' may not) */
    const int diverged = sum->outcome == AE_OUT_DIVERGED;
    res->outcome[slot] = (int8_t)sum->outcome;
    res->recovered[slot] = (uint8_t)sum->recovered;
    res->converged[slot] = (uint8_t)sum->converged;
    res->frozen[slot] = (uint8_t)(track->frozen && !diverged);
    res->n_learnt[slot] = (int16_t)sum->n_learnt;
    res->radius_levels[slot] = (int16_t)sum->radius_levels;
    res->plateau_kind[slot] = (int8_t)track->plateau_kind;
    res->plateau_start[slot] = track->plateau_start;
    res->plateau_length[slot] = track->plateau_length;
    res->plateau_unlearnt[slot] = (int16_t)track->plateau_unlearnt;
    res->recovery_step[slot] = track->recovery_step;
    res->first_perfect_step[slot] = track->first_perfect_step;
    res->diverged_step[slot] = track->diverged_step;
    if (diverged && track->diverged_step < 0) res->diverged_step[slot] = params->steps;
    res->intervened_step[slot] = track->intervened_step;
    res->loss[slot] = sum->loss;
    res->loss_change[slot] = sum->loss_change;
    res->tilt[slot] = sum->tilt;
    res->splay[slot] = sum->splay;
    res->asymmetry[slot] = sum->asymmetry;
    res->min_gap[slot] = sum->min_gap;
    res->twin_outcome[slot] = -1; /* ae_record_twin's, when the run has a twin */
    res->twin_recovered[slot] = 255;
    res->twin_distance[slot] = NAN;
    res->lyapunov[slot] = NAN;
    /* the stability of the end state, in float64 from theta (the run's values, widened): the
     * same numbers on every backend, since the host computes them from the same bits */
    ae_stability st;
    ae_stability_none(&st);
    if (sum->outcome != AE_OUT_DIVERGED && ae_stability_wanted(params))
        ae_stability_of(n, m, theta, ae_stability_cut(params), &st, NULL);
    res->grad_norm[slot] = st.grad_norm;
    res->hessian_min[slot] = st.hessian_min;
    res->hessian_neg[slot] = (int16_t)st.hessian_neg;
    res->hessian_dead_share[slot] = st.hessian_dead_share;
    res->float64_outcome[slot] = -1; /* ae_check_train's, when the run is checked in float64 */
    res->float64_loss[slot] = NAN;
    for (int i = 0; i < n_max; i++) {
        uint64_t at = slot * (uint64_t)n_max + (uint64_t)i;
        res->recon[at] = i < n ? recon[i] : NAN;
        res->learnt_step[at] = i >= n ? -2 : diverged || !learnt_step ? -1 : learnt_step[i]; /* -2: the fill */
        res->norm[at] = i < n ? norm[i] : NAN;
        res->b_final[at] = i < n ? theta[n * m + i] : NAN;
        for (int k = 0; k < m_max; k++)
            res->W_final[at * (uint64_t)m_max + (uint64_t)k] = i < n && k < m ? theta[i * m + k] : NAN;
    }
}

void ae_summarize_run(const ae_params *params, const double *theta, const ae_track *track, double *recon,
                      double *norm, ae_summary *sum)
{
    if (params->precision == AE_FLOAT64) {
        double scratch[AE_N_MAX];
        ae_summarize_f64(params, theta, track, recon, norm, scratch, sum);
        return;
    }
    float state[AE_P_MAX], scratch[AE_N_MAX];
    for (int e = 0; e < params->n * params->m + params->n; e++) state[e] = (float)theta[e];
    ae_summarize_f32(params, state, track, recon, norm, scratch, sum);
}

void ae_record_run(ae_results *res, uint64_t slot, const ae_params *params, const double *theta,
                   const ae_track *track)
{
    double recon[AE_N_MAX], norm[AE_N_MAX];
    ae_summary sum;
    ae_summarize_run(params, theta, track, recon, norm, &sum);
    ae_store_run(res, slot, params, theta, track, &sum, recon, norm, track->learnt_step);
}

void ae_record_twin(ae_results *res, uint64_t slot, const ae_config *cfg, const ae_params *params, const double *theta,
                    const ae_track *track, const double *twin_theta, const ae_summary *twin_sum)
{
    double distance2 = 0;
    for (int e = 0; e < params->n * params->m + params->n; e++) {
        const double gap = (double)twin_theta[e] - (double)theta[e];
        distance2 += gap * gap;
    }
    const int f32 = params->precision == AE_FLOAT32; /* a float32 run's values are floats */
    const double distance = sqrt(distance2), eps = f32 ? (double)(float)params->twin_eps : params->twin_eps;
    res->twin_outcome[slot] = (int8_t)twin_sum->outcome;
    res->twin_recovered[slot] = (uint8_t)twin_sum->recovered;
    res->twin_distance[slot] = f32 ? (double)(float)distance : distance;
    /* undefined for setting twins (no state separation), without a start distance or training
     * time, or when either run diverged; d_T = 0 (the twins met): -inf */
    const int defined = !cfg->twin_setting && eps > 0 && params->steps > 0 && isfinite(distance) &&
                        track->diverged_step < 0 && twin_sum->outcome != AE_OUT_DIVERGED &&
                        res->outcome[slot] != AE_OUT_DIVERGED;
    res->lyapunov[slot] = NAN;
    if (defined) { /* the last term: the interval since the last renormalisation */
        const double lyapunov =
            (track->twin_log_sum + (distance > 0 ? ae_log_unit(distance / eps) : -INFINITY)) / (double)params->steps;
        res->lyapunov[slot] = f32 ? (double)(float)lyapunov : lyapunov;
    }
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
