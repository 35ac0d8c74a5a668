/*
 * ae_stability.h - how stable a state is (DESIGN.md section 9): the gradient and the
 * exact Hessian of the loss at the state, in float64, the Hessian's spectrum (LAPACK's
 * dsyevr through LAPACKE) and the four numbers a run records.  Host only (src/trust/stability.c).
 *
 * The loss is L = (1/n^2) sum_ij (ReLU(Z_ij) - I_ij)^2, Z_ij = W_i.W_j + b_i, with the ReLU
 * pattern of the state held fixed: entry (i, j) is on where Z_ij > 0 and off where
 * Z_ij <= 0.  At a kink (Z_ij = 0 exactly) the entry is off, as in the engine's own
 * gradient (ae_entry_dz): the derivatives are the one-sided ones from the off side.
 *
 * API:
 *   ae_stability                   the four numbers of a state
 *   ae_stability_wanted(params)    whether a run computes them (outcome.hessian)
 *   ae_loss_hessian(n, m, theta, grad, hess)   gradient and Hessian of L at theta
 *   ae_stability_of(n, m, theta, tol, out, spectrum)  the four numbers of theta (and its spectrum)
 *   ae_stability_none(out)         the values of a run without them (off, diverged)
 */
#ifndef AE_STABILITY_H
#define AE_STABILITY_H

#include "ae_model.h"

/* outcome.hessian: auto computes the stability where n (m + 1) <= AE_HESSIAN_AUTO_P_MAX
 * (P <= 64 parameters: a 64 x 64 eigenproblem, ~0.1-0.2 ms a run on one core), false
 * never, true always (n = 256, m = 4: a 1280 x 1280 eigenproblem, about a second). */
typedef enum { AE_HESSIAN_AUTO = 0, AE_HESSIAN_FALSE = 1, AE_HESSIAN_TRUE = 2 } ae_hessian_mode;
#define AE_HESSIAN_AUTO_P_MAX 64

typedef struct {
    double grad_norm;   /* |grad L| over all n m + n parameters */
    double hessian_min; /* the smallest eigenvalue of the Hessian */
    int32_t hessian_neg; /* eigenvalues below -tol x max |eigenvalue|; -1: not computed */
    /* The weight of the most negative eigendirection on the unlearnt features'
     * parameters (W_i and b_i of the features with ReLU(|W_i|^2 + b_i) < 0.5, in float64):
     * the sum of the squares of those components of its unit eigenvector, averaged over
     * the eigenvalues within tol x max |eigenvalue| of the smallest, so that a degenerate
     * smallest eigenvalue (a symmetric state) has one value whatever basis LAPACK picks in
     * its eigenspace.  NaN when every feature is learnt. */
    double hessian_dead_share;
} ae_stability;

/* The cut of hessian_neg relative to max |eigenvalue|: outcome.hessian_tol, and for a float32
 * run at least AE_HESSIAN_F32_FLOOR.  A float32 state is the float64 state it stands for
 * moved by rounding (~6e-8 relative), which bends the flat directions of the Hessian (the
 * live features' rotations at fixed norm, the global rotation) by up to ~1e-7 of the largest
 * eigenvalue: perfect float32 states measure down to -5e-8 relative where their float64
 * twins measure -1e-16 (README, Stability).  A saddle's own negative curvature, -1.7e-3
 * relative at the n = 7 symmetric failure, is far beyond either cut. */
#define AE_HESSIAN_F32_FLOOR 0x1p-20
static inline double ae_stability_cut(const ae_params *p)
{
    return p->precision == AE_FLOAT32 && p->hessian_tol < AE_HESSIAN_F32_FLOOR ? AE_HESSIAN_F32_FLOOR : p->hessian_tol;
}

/* outcome.hessian of the run: on, off, or auto by its size. */
static inline int ae_stability_wanted(const ae_params *p)
{
    return p->hessian == AE_HESSIAN_TRUE ||
           (p->hessian == AE_HESSIAN_AUTO && p->n * (p->m + 1) <= AE_HESSIAN_AUTO_P_MAX);
}

/* grad (P = n m + n values) and hess (P x P, row-major and symmetric) of L at theta =
 * [W (n m, feature-major) | b (n)], the ReLU pattern that of theta (the derivation is in
 * src/trust/stability.c). */
void ae_loss_hessian(int n, int m, const double *theta, double *grad, double *hess);

/* The four numbers of the state theta (tol: outcome.hessian_tol); spectrum: NULL, or room
 * for the P eigenvalues, ascending.  0; -1 when theta is not finite or LAPACK fails (out
 * holds ae_stability_none's values then). */
int ae_stability_of(int n, int m, const double *theta, double tol, ae_stability *out, double *spectrum);

/* NaN, NaN, -1, NaN: a run that computes none (outcome.hessian off, or diverged). */
void ae_stability_none(ae_stability *out);

#endif
