/* record.c - a trained run into its record (ae_results slot), with the rules that hold
 * across backends: a diverged run is neither frozen nor learnt and has a diverged_step;
 * its optimizer moments are NaN; the stability of the end state (src/trust/stability.c);
 * a twin's outcome, distance and Lyapunov exponent.  Every backend's runs pass through here,
 * so these rules are written once. */
#include "ae_backend.h"
#include "ae_stability.h"

#include <math.h>

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
