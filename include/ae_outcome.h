/*
 * ae_outcome.h - the outcome classes of a run (DESIGN.md section 3), defined once.
 *
 * AE_OUTCOMES lists every class as X(enum, code, name, meaning), in code order.  The
 * enum ae_outcome, the output's flag_values/flag_meanings, `aesweep info`, the
 * init.select parser and --help are all built from this list, so a class is named in
 * one place.  Included by ae_model.h (shared by C and CUDA); the name helpers below are
 * host-only.
 *
 * API:
 *   AE_OUTCOMES(X), ae_outcome, AE_OUTCOME_COUNT   the classes
 *   ae_outcome_name(code)        "perfect", ...; "?" for a code outside the list
 *   ae_outcome_code(name)        the code of a name, -1 when unknown
 *   ae_outcome_retired(name)     for a name older files and configs used: what replaced it
 */
#ifndef AE_OUTCOME_H
#define AE_OUTCOME_H

#include <string.h>

/* First match wins in the order diverged, perfect, still_learning, then the rest. */
#define AE_OUTCOMES(X)                                                                                          \
    X(AE_OUT_PERFECT, 0, "perfect", "every |Y_ij - I_ij| < 0.5: all features learnt, no false activation")    \
    X(AE_OUT_SYMMETRIC_FAILURE, 1, "symmetric_failure",                                                      \
      "an unlearnt feature fires almost equally on every input (b_i > 0, tilt < outcome.tilt_max)")          \
    X(AE_OUT_PINNED_FAILURE, 2, "pinned_failure",                                                            \
      "an unlearnt feature with b_i > 0 pinned at a ReLU kink (tilt >= outcome.tilt_max)")                    \
    X(AE_OUT_DEAD_FAILURE, 3, "dead_failure", "unlearnt features, all with b_i <= 0: they never fire")          \
    X(AE_OUT_INTERFERENCE_FAILURE, 4, "interference_failure",                                                 \
      "every feature learnt, but some Y_ij >= 0.5 (i != j) or Y_ii >= 1.5")                                   \
    X(AE_OUT_STILL_LEARNING, 5, "still_learning",                                                             \
      "not converged: the loss moved by more than outcome.tol over the last outcome.window steps")            \
    X(AE_OUT_DIVERGED, 6, "diverged", "a NaN or Inf appeared; the run stopped there")

#define AE_OUTCOME_ENUM(id, code, name, meaning) id = code,
typedef enum { AE_OUTCOMES(AE_OUTCOME_ENUM) AE_OUTCOME_COUNT } ae_outcome;
#undef AE_OUTCOME_ENUM

#ifndef __CUDA_ARCH__
#define AE_OUTCOME_NAME(id, code, name, meaning) name,
static const char *const ae_outcome_names[AE_OUTCOME_COUNT] = {AE_OUTCOMES(AE_OUTCOME_NAME)};
#undef AE_OUTCOME_NAME

static inline const char *ae_outcome_name(int code)
{
    return code >= 0 && code < AE_OUTCOME_COUNT ? ae_outcome_names[code] : "?";
}

static inline int ae_outcome_code(const char *name)
{
    for (int k = 0; k < AE_OUTCOME_COUNT; k++)
        if (strcmp(ae_outcome_names[k], name) == 0) return k;
    return -1;
}

/* Names of earlier versions: NULL, or a sentence saying what took their place. */
static inline const char *ae_outcome_retired(const char *name)
{
    if (strcmp(name, "mean_bias_failure") == 0)
        return "\"mean_bias_failure\" was split into \"symmetric_failure\" (the unlearnt feature fires almost "
               "equally on every input) and \"pinned_failure\" (it is tilted, pinned at a ReLU kink)";
    return NULL;
}
#endif

#endif /* AE_OUTCOME_H */
