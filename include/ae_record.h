/*
 * ae_record.h - the record of a run: every field the output file keeps per run, listed
 * once (AE_RECORD_FIELDS), and the structure of arrays that holds one batch of records.
 * The writer's variable table (src/format/write.c), the results' alloc/free and the
 * readers are built from the list; docs/FORMAT.md documents it.
 *
 * API:
 *   AE_RECORD_FIELDS(X)          name, type, shape, fill, units, long name of each field
 *   ae_results_alloc / _free     per-run records of one batch, structure of arrays
 *   ae_opt_state                 a run's optimizer state, as the file keeps it
 */
#ifndef AE_RECORD_H
#define AE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "ae_model.h"

/* The record of a run, every field listed once: the results struct, its alloc/free and
 * the writer's variable table (src/format/write.c) are built from this list.
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

/* The fields of named codes (CF flag_values, flag_meanings; the outcome classes, the plateau
 * kinds, the optimizers), whose fill is a code too: no _FillValue, a `comment` instead. */
static inline int ae_record_is_flag(size_t field)
{
    return field == AE_RECORD_FIELD_outcome || field == AE_RECORD_FIELD_twin_outcome ||
           field == AE_RECORD_FIELD_float64_outcome || field == AE_RECORD_FIELD_plateau_kind ||
           field == AE_RECORD_FIELD_opt_optimizer;
}

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

#endif
