/*
 * ae_backend.h - what a backend is: something that trains a contiguous slice of the
 * grid's runs and fills an ae_results with their end-of-run records.
 *
 * API:
 *   ae_job                       everything a backend needs to train any run of the sweep
 *   ae_results_alloc / _free     per-run records of one batch, structure of arrays
 *   ae_prepare_run(job, flat, ...) host helper: settings, initial state, perturbation
 *   ae_record_run / ae_store_run store one finished run into an ae_results slot
 *   ae_trajectories_train/_free  training curves of the config's trajectory runs
 *   ae_backend_options           how the command line asks for a backend (filled in main)
 *   ae_backend_cpu_create        the CPU backend (src/backend_cpu.c)
 *   ae_backend_cuda_create       the CUDA backend (kernels/, when built with nvcc)
 *   ae_backend_select            --backend auto|cpu|cuda (src/backend_select.c)
 *   ae_backend_option            parses --backend, --threads, --isa, --device, --kernel
 */
#ifndef AE_BACKEND_H
#define AE_BACKEND_H

#include "ae_config.h"

typedef struct {
    const ae_config *cfg;
    const ae_grid *grid;
    const ae_bases *bases; /* NULL unless init.scheme = "file" */
} ae_job;

/* The record of a run, every field listed once: the results struct, its alloc/free and
 * the writer's variable table (src/io_write.c) are built from this list.
 * X(name, TYPE, SHAPE, fill, units, long_name):
 *   TYPE   I8, U8, I16, I64, REAL or F64 (the C type is AE_RECORD_CTYPE_<TYPE>; REAL is double
 *          in memory, float32 in the file unless some run of the sweep is float64; F64 is
 *          double in both: values computed in float64 whatever the run's precision)
 *   SHAPE  RUN: one value per run; FEATURE: n_max per run (past the run's n: NaN, or
 *          the fill of an integer field); WEIGHT: n_max * m_max per run
 *   fill   what the file holds before the run is done (-2 where -1 means "none") */
#define AE_RECORD_FIELDS(X)                                                                                       \
    X(outcome, I8, RUN, -1, "1", "outcome class (flag_meanings)")                                                 \
    X(recovered, U8, RUN, 255, "1", "had a plateau and is perfect at the end (1) or not (0)")                     \
    X(converged, U8, RUN, 255, "1", "|loss change| over the last outcome.window steps <= outcome.tol x loss")     \
    X(frozen, U8, RUN, 255, "1",                                                                                  \
      "learnt W_i, b_i at T bit-identical to T - outcome.window, gradient on them not zero: updates round away")  \
    X(n_learnt, I16, RUN, -1, "1", "learnt features (Y_ii >= 0.5)")                                               \
    X(radius_levels, I16, RUN, -1, "1", "distinct norm levels of learnt features")                                \
    X(plateau_kind, I8, RUN, -1, "1", "kind of the longest plateau (flag_meanings)")                              \
    X(plateau_start, I64, RUN, -2, "step", "first check of the longest plateau (-1: none)")                       \
    X(plateau_length, I64, RUN, -2, "step", "last minus first check of the longest plateau (-1: none)")           \
    X(plateau_unlearnt, I16, RUN, -2, "1", "unlearnt features on the longest plateau (-1: none)")                 \
    X(recovery_step, I64, RUN, -2, "step", "first perfect check after the longest plateau (-1: none)")            \
    X(first_perfect_step, I64, RUN, -2, "step", "first perfect check (-1: never)")                                \
    X(diverged_step, I64, RUN, -2, "step", "step the loss became non-finite (-1: never)")                         \
    X(intervened_step, I64, RUN, -2, "step", "step the intervention changed the state at (-1: none)")             \
    X(loss, REAL, RUN, NAN, "1", "final MSE loss L(T)")                                                           \
    X(loss_change, REAL, RUN, NAN, "1", "(L(T) - L(T - outcome.window)) / L(T)")                                  \
    X(tilt, REAL, RUN, NAN, "1", "max_j |W_i.W_j| / b_i of the unlearnt feature with the largest b_i > 0")        \
    X(splay, REAL, RUN, NAN, "1", "splay, sum of feature norms")                                                  \
    X(asymmetry, REAL, RUN, NAN, "1", "norm of the feature sum over the splay")                                   \
    X(min_gap, REAL, RUN, NAN, "rad", "smallest angle between adjacent learnt features")                          \
    X(twin_outcome, I8, RUN, -1, "1", "the twin's outcome class (flag_meanings)")                                 \
    X(twin_recovered, U8, RUN, 255, "1", "the twin had a plateau and is perfect at the end (1) or not (0)")       \
    X(twin_distance, REAL, RUN, NAN, "1", "distance to the twin over all parameters at the end")                  \
    X(lyapunov, REAL, RUN, NAN, "1/step",                                                                         \
      "largest Lyapunov exponent (Benettin, state twins): sum of ln(d/eps) over renormalisations / T")            \
    X(grad_norm, F64, RUN, NAN, "1",                                                                              \
      "|grad L| at the final state, float64 (ReLU pattern of the state: Z_ij > 0 on, Z_ij = 0 off)")              \
    X(hessian_min, F64, RUN, NAN, "1",                                                                            \
      "smallest eigenvalue of the Hessian of L at the final state, float64 (Z_ij > 0 on, Z_ij = 0 off)")          \
    X(hessian_neg, I16, RUN, -2, "1",                                                                             \
      "Hessian eigenvalues below -outcome.hessian_tol x max |eigenvalue| (Z_ij = 0 off; -1: not computed)")       \
    X(hessian_dead_share, F64, RUN, NAN, "1",                                                                     \
      "weight of the smallest eigenvalue's unit eigenvector(s) on the unlearnt features' W_i, b_i (NaN: none)")   \
    X(float64_outcome, I8, RUN, -2, "1",                                                                          \
      "outcome class of the run trained again in float64 (check.float64; -1: not checked; flag_meanings)")       \
    X(float64_loss, F64, RUN, NAN, "1", "final MSE loss of the float64 check (NaN: not checked)")                 \
    X(recon, REAL, FEATURE, NAN, "1", "reconstruction of the active feature, Y_ii")                               \
    X(learnt_step, I64, FEATURE, -2, "step",                                                                      \
      "first check from which the feature stays learnt to the end (-1: unlearnt at the end)")                   \
    X(norm, REAL, FEATURE, NAN, "1", "feature norm |W_i|")                                                        \
    X(b_final, REAL, FEATURE, NAN, "1", "final bias b_i")                                                         \
    X(W_final, REAL, WEIGHT, NAN, "1", "final weights W_i")                                                       \
    X(opt_optimizer, I8, RUN, -1, "1", "optimizer whose state the opt_ variables hold (flag_meanings)")           \
    X(opt_step, I64, RUN, -2, "step", "steps the optimizer has taken, t of Adam's bias corrections")              \
    X(opt_m_b, REAL, FEATURE, NAN, "1", "optimizer state of b_i: Adam's first moment, SGD's momentum buffer")    \
    X(opt_v_b, REAL, FEATURE, NAN, "1", "optimizer state of b_i: Adam's second moment (0 under SGD)")            \
    X(opt_m_W, REAL, WEIGHT, NAN, "1", "optimizer state of W_i: Adam's first moment, SGD's momentum buffer")     \
    X(opt_v_W, REAL, WEIGHT, NAN, "1", "optimizer state of W_i: Adam's second moment (0 under SGD)")

/* Field k of the list is AE_RECORD_FIELD_<name> = k; output.fields keeps a set of them as
 * the bits of a uint64_t (ae_config.output_fields). */
#define AE_RECORD_INDEX(name, TYPE, SHAPE, fill, units, long_name) AE_RECORD_FIELD_##name,
enum { AE_RECORD_FIELDS(AE_RECORD_INDEX) AE_RECORD_FIELD_COUNT };
#undef AE_RECORD_INDEX
#define AE_RECORD_FIELDS_ALL ((uint64_t)-1 >> (64 - AE_RECORD_FIELD_COUNT))
/* What a file keeps unless output.fields says otherwise: every field but the optimizer state. */
#define AE_RECORD_FIELDS_DEFAULT (AE_RECORD_FIELDS_ALL & ~AE_RECORD_FIELDS_OPTIMIZER)
/* The optimizer state (output.optimizer_state): written all together, and only when asked,
 * for it is three times the size of W_final and b_final. */
#define AE_RECORD_FIELDS_OPTIMIZER                                                                                \
    ((uint64_t)1 << AE_RECORD_FIELD_opt_optimizer | (uint64_t)1 << AE_RECORD_FIELD_opt_step |                     \
     (uint64_t)1 << AE_RECORD_FIELD_opt_m_b | (uint64_t)1 << AE_RECORD_FIELD_opt_v_b |                            \
     (uint64_t)1 << AE_RECORD_FIELD_opt_m_W | (uint64_t)1 << AE_RECORD_FIELD_opt_v_W)

#define AE_RECORD_CTYPE_I8 int8_t
#define AE_RECORD_CTYPE_U8 uint8_t
#define AE_RECORD_CTYPE_I16 int16_t
#define AE_RECORD_CTYPE_I64 int64_t
#define AE_RECORD_CTYPE_REAL double
#define AE_RECORD_CTYPE_F64 double
typedef enum { AE_RECORD_RUN, AE_RECORD_FEATURE, AE_RECORD_WEIGHT } ae_record_shape;

/* The records of one batch, structure of arrays: one array per field of AE_RECORD_FIELDS
 * (the optimizer state's only when optimizer_state: NULL otherwise). */
typedef struct {
    uint64_t capacity;
    int n_max, m_max;
    int optimizer_state;
#define AE_RECORD_MEMBER(name, TYPE, SHAPE, fill, units, long_name) AE_RECORD_CTYPE_##TYPE *name;
    AE_RECORD_FIELDS(AE_RECORD_MEMBER)
#undef AE_RECORD_MEMBER
} ae_results;

/* Values per run of a field of this shape. */
static inline uint64_t ae_record_per_run(ae_record_shape shape, int n_max, int m_max)
{
    return shape == AE_RECORD_RUN ? 1 : shape == AE_RECORD_FEATURE ? (uint64_t)n_max : (uint64_t)n_max * (uint64_t)m_max;
}

/* optimizer_state: also the arrays of the opt_ fields (output.optimizer_state). */
void ae_results_alloc(ae_results *res, uint64_t capacity, int n_max, int m_max, int optimizer_state);
void ae_results_free(ae_results *res);

/* A run's optimizer state, beside theta = [W | b] and in its layout: the steps taken and, per
 * parameter, Adam's first and second moments (SGD: the momentum buffer in m, v 0), values of
 * the run's precision widened to double. */
typedef struct {
    int64_t step;
    int32_t optimizer; /* ae_optimizer */
    double m[AE_P_MAX], v[AE_P_MAX];
} ae_opt_state;

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

typedef struct ae_backend ae_backend;
struct ae_backend {
    char name[16];      /* "cpu" or "cuda" */
    char device[256];   /* what it runs on, for the output's provenance */
    void *impl;
    /* Trains runs first .. first+count-1 into res slots 0 .. count-1. */
    int (*train)(ae_backend *backend, const ae_job *job, uint64_t first, uint64_t count,
                 ae_results *res, ae_error *err);
    void (*destroy)(ae_backend *backend);
};

/* CPU instruction sets the lane code is compiled for (src/backend_cpu.c). */
typedef enum { AE_ISA_AUTO = 0, AE_ISA_BASELINE = 1, AE_ISA_AVX2 = 2, AE_ISA_AVX512 = 3 } ae_cpu_isa;
extern const char *const ae_cpu_isa_names[4]; /* "auto", "baseline", "avx2", "avx512" */

/* How to make a backend: filled once from the command line and passed down. */
typedef struct {
    const char *name; /* --backend: "auto", "cpu" or "cuda" */
    int threads;      /* --threads: CPU threads, 0: all cores */
    int cpu_isa;      /* --isa: ae_cpu_isa; AUTO: the widest this CPU runs */
    int cuda_device;  /* --device: CUDA device number (modulo the count), -1: the first */
    int cuda_kernel;  /* --kernel: CUDA kernel variant (kernels/train.cuh), -1: the default */
    int quiet;        /* no note when auto falls back to the CPU */
} ae_backend_options;

#define AE_BACKEND_OPTIONS_DEFAULT {"auto", 0, AE_ISA_AUTO, -1, -1, 0}

/* One backend option of the command line, arg with its value: 1 when it was one (both
 * used), 0 when arg is no backend option, -1 (err, usage) when its value is wrong. */
int ae_backend_option(const char *arg, const char *value, ae_backend_options *opt, ae_error *err);

/* NULL and err when the instruction set asked for is not in this CPU or this build. */
ae_backend *ae_backend_cpu_create(const ae_backend_options *opt, ae_error *err);
int ae_cpu_threads(int requested); /* what threads 0 means here */
/* NULL and err when no CUDA device can be used (or the binary was built without CUDA). */
ae_backend *ae_backend_cuda_create(const ae_backend_options *opt, ae_error *err);
/* opt->name: "auto", "cpu" or "cuda"; auto falls back to the CPU with a note on stderr. */
ae_backend *ae_backend_select(const ae_backend_options *opt, ae_error *err);

#endif
