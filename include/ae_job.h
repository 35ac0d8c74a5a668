/*
 * ae_job.h - a sweep's runs as a backend sees them: the job, each run's settings and
 * initial state, a finished run stored into its record, the trajectories.
 *
 * API:
 *   ae_job                       everything a backend needs to train any run of the sweep
 *   ae_prepare_run(job, flat, ...) host helper: settings, initial state, perturbation
 *                                (src/backends/backend.c, as the rest)
 *   ae_record_run / ae_store_run store one finished run into an ae_results slot, with the
 *                                rules every backend shares (src/backends/record.c)
 *   ae_train_run                 one run trained on the CPU (check.float64, trajectories)
 *   ae_trajectories_train/_free  training curves of the config's trajectory runs
 */
#ifndef AE_JOB_H
#define AE_JOB_H

#include "ae_config.h"
#include "ae_record.h"

typedef struct {
    const ae_config *cfg;
    const ae_grid *grid;
    const ae_bases *bases; /* NULL unless init.scheme = "file" */
} ae_job;

/* Whether the runs of a job train with an optimizer state the backend reads or hands back:
 * init.optimizer_state = "keep", or output.optimizer_state. */
static inline int ae_job_optimizer_state(const ae_job *job)
{
    return job->cfg->keep_optimizer_state || job->cfg->write_optimizer_state;
}

/* Settings and initial parameters theta = [W | b] of run `flat`: random init from the
 * run's Philox stream, a base state, or ideal_failure, then the bias perturbation, all in
 * the run's precision; theta holds them widened to double (exactly).  twin = 1: those of
 * its twin (ae_twin_params; a state twin starts eps away).  opt (NULL: not wanted): the
 * optimizer state it starts from: its base state's (init.optimizer_state = "keep", rounded
 * to the run's precision) or a fresh one (step 0, zeros). */
void ae_prepare_run(const ae_job *job, uint64_t flat, int twin, ae_params *params, double *theta, ae_opt_state *opt);
/* The same with the run's settings in `precision` (ae_precision), whatever the grid says: the
 * float64 check of a float32 run (check.float64) takes its settings unrounded. */
void ae_prepare_run_in(const ae_job *job, uint64_t flat, int precision, ae_params *params, double *theta,
                       ae_opt_state *opt);
/* A setting twin's settings: the run's, with twin.param moved by eps (x (1 + eps) when
 * twin.relative).  A state twin's are the run's own. */
void ae_twin_params(const ae_config *cfg, ae_params *params);
/* The same for settings already resolved: ae_init_state and ae_perturb of the run's
 * precision (base_W, base_b: its base state, NULL unless scheme file). */
void ae_init_run(const ae_params *params, const double *base_W, const double *base_b, int perturb_kind,
                 const int32_t *features, int n_features, double *theta);

/* Stores a run's final optimizer state in slot `slot` (when res has the arrays), after its
 * record (ae_store_run): NaN moments for a run that diverged (its state continues nothing). */
void ae_store_opt(ae_results *res, uint64_t slot, const ae_params *params, const ae_opt_state *opt);
/* Stores a finished run whose metrics are computed (on the device, say) in slot `slot`;
 * learnt_step: its n escape times (the tracker's, wherever they were computed).  Also the
 * stability of its end state theta where outcome.hessian wants it (ae_stability.h: a
 * float64 eigenproblem on the host, the costliest part of storing a run: call it for the
 * runs of a batch in parallel). */
void ae_store_run(ae_results *res, uint64_t slot, const ae_params *params, const double *theta, const ae_track *track,
                  const ae_summary *sum, const double *recon, const double *norm, const int64_t *learnt_step);
/* Computes the end-of-run metrics of the state theta (values of the run's precision,
 * widened) in the run's precision and stores them in slot `slot` (the escape times from
 * track->learnt_step, host memory). */
void ae_record_run(ae_results *res, uint64_t slot, const ae_params *params, const double *theta,
                   const ae_track *track);
/* ae_summarize of the run's precision on theta (values of that precision, widened). */
void ae_summarize_run(const ae_params *params, const double *theta, const ae_track *track, double *recon,
                      double *norm, ae_summary *sum);
/* Trains one run on the CPU from theta (as ae_prepare_run gives it) in its precision;
 * theta: its end state (widened).  opt: NULL (a fresh optimizer), or the state to continue
 * from, replaced by the state at the end.  learnt_step: n values for the escape times,
 * which track->learnt_step then points at (NULL: not tracked).  trace: optional training
 * curve. */
void ae_train_run(const ae_params *params, double *theta, ae_opt_state *opt, ae_track *track, int64_t *learnt_step,
                  const ae_trace *trace);
/* The twin of slot's run (theta: the run's end state, track: its tracker; twin_theta and
 * twin_sum: the twin's end state and metrics): twin_outcome, twin_recovered, the final
 * distance d_T and, for a state twin, lyapunov = (track->twin_log_sum + ln(d_T/eps)) / T. */
void ae_record_twin(ae_results *res, uint64_t slot, const ae_config *cfg, const ae_params *params, const double *theta,
                    const ae_track *track, const double *twin_theta, const ae_summary *twin_sum);

/* Loss, W and b of the config's trajectory runs every `every` steps (NaN past a run's
 * own steps, n or m).  Always trained on the CPU, with the same math as the sweep. */
typedef struct {
    int count;
    uint64_t *runs;      /* flat run indices, count */
    int64_t every, points;
    int n_max, m_max;
    double *loss;        /* count * points */
    double *W;           /* count * points * n_max * m_max */
    double *b;           /* count * points * n_max */
} ae_trajectories;

/* count, runs, every, points, n_max and m_max only (the file's layout needs them first). */
void ae_trajectories_shape(const ae_job *job, ae_trajectories *traj);
void ae_trajectories_train(const ae_job *job, ae_trajectories *traj);
void ae_trajectories_free(ae_trajectories *traj);

#endif
