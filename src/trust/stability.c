/* stability.c - the stability of a state (DESIGN.md section 9): the exact gradient and
 * Hessian of the loss in float64, the Hessian's eigen-decomposition (LAPACK's dsyevr, by
 * LAPACKE) and the four numbers a run records.  The conventions are ae_stability.h's. */
#include "ae_stability.h"
#include "ae_util.h"

#include <lapacke.h>
#include <stdlib.h>

void ae_stability_none(ae_stability *out)
{
    out->grad_norm = NAN;
    out->hessian_min = NAN;
    out->hessian_neg = -1;
    out->hessian_dead_share = NAN;
}

/*
 * The derivation.  theta = [W (n m, feature-major: W[i*m + k]) | b (n)], P = n m + n.
 * With the ReLU pattern of the state fixed, an entry that is off (Z_ij <= 0) contributes
 * the constant I_ij^2 to L, and an entry that is on contributes r_ij^2 with the residual
 * r_ij = Z_ij - I_ij, so
 *
 *     L      = (1/n^2) sum_on r_ij^2 + const
 *     grad L = (2/n^2) sum_on r_ij g_ij,                        g_ij = dZ_ij/dtheta
 *     Hess L = (2/n^2) sum_on [ g_ij g_ij^T + r_ij d2Z_ij ],     d2Z_ij = d2Z_ij/dtheta^2
 *
 * and, since Z_ij = W_i.W_j + b_i,
 *
 *     i != j:  dZ_ij/dW_i = W_j,  dZ_ij/dW_j = W_i,  dZ_ij/db_i = 1;
 *              d2Z_ij/dW_i dW_j = d2Z_ij/dW_j dW_i = I_m (both off-diagonal blocks)
 *     i == j:  dZ_ii/dW_i = 2 W_i,  dZ_ii/db_i = 1;  d2Z_ii/dW_i^2 = 2 I_m
 *
 * and every other first or second derivative is 0.  So g_ij has at most 2m + 1 nonzero
 * components: the entry adds a (2m + 1) x (2m + 1) block of g g^T and r_ij times the
 * identity on the W_i-W_j blocks.
 *
 * Rounding: Z_ij is summed as the forward pass sums it (ae_loss), the gradient is summed
 * term by term in the order of ae_loss_grad (the diagonal's 2 W_i as two terms), so it is
 * ae_loss_grad_f64's bit for bit; each Hessian term is scale (g_a g_c), the same number
 * for (a, c) and (c, a), added in the same order to both: the matrix is exactly symmetric.
 */
void ae_loss_hessian(int n, int m, const double *theta, double *grad, double *hess)
{
    const int P = n * m + n;
    const double *W = theta, *b = theta + n * m;
    const double scale = 2.0 / (double)(n * n);
    int at[2 * AE_M_MAX + 1];     /* the entry's nonzero components of g_ij: where ... */
    double g[2 * AE_M_MAX + 1];   /* ... and their values */
    for (int e = 0; e < P; e++) grad[e] = 0;
    for (int e = 0; e < P * P; e++) hess[e] = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double z = 0;
            for (int k = 0; k < m; k++) z += W[i * m + k] * W[j * m + k];
            z += b[i];
            if (!(z > 0)) continue; /* off, the kink Z_ij = 0 included */
            const double r = z - (i == j ? 1.0 : 0.0), dz = scale * r;
            grad[n * m + i] += dz;
            for (int k = 0; k < m; k++) {
                grad[i * m + k] += dz * W[j * m + k];
                grad[j * m + k] += dz * W[i * m + k];
            }
            int s = 0;
            for (int k = 0; k < m; k++) at[s] = i * m + k, g[s] = i == j ? 2 * W[i * m + k] : W[j * m + k], s++;
            if (i != j)
                for (int k = 0; k < m; k++) at[s] = j * m + k, g[s] = W[i * m + k], s++;
            at[s] = n * m + i, g[s] = 1, s++;
            for (int a = 0; a < s; a++)
                for (int c = 0; c < s; c++) hess[at[a] * P + at[c]] += scale * (g[a] * g[c]);
            for (int k = 0; k < m; k++) {
                if (i == j) {
                    hess[(i * m + k) * P + i * m + k] += dz * 2;
                } else {
                    hess[(i * m + k) * P + j * m + k] += dz;
                    hess[(j * m + k) * P + i * m + k] += dz;
                }
            }
        }
}

/* Y_ii = ReLU(|W_i|^2 + b_i) < 0.5 in float64: feature i is unlearnt. */
static int unlearnt(int m, const double *Wi, double bi)
{
    double z = 0;
    for (int k = 0; k < m; k++) z += Wi[k] * Wi[k];
    z += bi;
    return (z > 0 ? z : 0) < AE_LEARNT_THRESHOLD;
}

/* All eigenvalues (ascending) and unit eigenvectors (column-major: vector k at
 * vectors[k * P]) of the symmetric P x P matrix a, which it destroys.  0, or LAPACK's
 * info.  dsyevr (MRRR) is LAPACK's fastest driver for the whole spectrum with vectors;
 * its documented minimal workspaces (26 P doubles, 10 P integers) are enough, so no
 * workspace query is made: at n = 7 the query and its allocations cost as much as the
 * eigenproblem. */
static lapack_int eigen(int P, double *a, double *values, double *vectors, double *work, lapack_int *iwork)
{
    lapack_int found = 0, *isuppz = iwork + 10 * P;
    /* symmetric: row-major and column-major are the same matrix, and column-major needs no copy */
    const double abstol = LAPACKE_dlamch('S'); /* "safe minimum": eigenvalues to high relative accuracy */
    lapack_int info = LAPACKE_dsyevr_work(LAPACK_COL_MAJOR, 'V', 'A', 'U', P, a, P, 0, 0, 0, 0, abstol, &found, values,
                                          vectors, P, isuppz, work, 26 * P, iwork, 10 * P);
    return info != 0 ? info : found == P ? 0 : -1;
}

int ae_stability_of(int n, int m, const double *theta, double tol, ae_stability *out, double *spectrum)
{
    const int P = n * m + n;
    ae_stability_none(out);
    for (int e = 0; e < P; e++)
        if (!isfinite(theta[e])) return -1;
    /* one block: grad and values (P each), hess and vectors (P x P each), LAPACK's work (26 P) */
    double *grad = ae_xmalloc(((size_t)P * (30 + 2 * (size_t)P)) * sizeof *grad), *values = grad + P;
    double *hess = values + P, *vectors = hess + (size_t)P * P, *work = vectors + (size_t)P * P;
    lapack_int *iwork = ae_xmalloc(12 * (size_t)P * sizeof *iwork); /* 10 P, then isuppz's 2 P */
    ae_loss_hessian(n, m, theta, grad, hess);
    double grad2 = 0;
    for (int e = 0; e < P; e++) grad2 += grad[e] * grad[e];
    const int status = eigen(P, hess, values, vectors, work, iwork) == 0 ? 0 : -1;
    if (status == 0) {
        const double top = fmax(fabs(values[0]), fabs(values[P - 1])), cut = tol * top;
        int negative = 0, cluster = 0;
        for (int k = 0; k < P; k++) negative += values[k] < -cut;
        while (cluster < P && values[cluster] <= values[0] + cut) cluster++;
        double dead = 0;
        int any_dead = 0;
        for (int i = 0; i < n; i++) {
            if (!unlearnt(m, theta + i * m, theta[n * m + i])) continue;
            any_dead = 1;
            for (int k = 0; k < cluster; k++) {
                const double *v = vectors + (size_t)k * (size_t)P;
                for (int c = 0; c < m; c++) dead += v[i * m + c] * v[i * m + c];
                dead += v[n * m + i] * v[n * m + i];
            }
        }
        out->grad_norm = sqrt(grad2);
        out->hessian_min = values[0];
        out->hessian_neg = negative;
        out->hessian_dead_share = any_dead ? dead / (double)cluster : NAN;
        for (int k = 0; spectrum && k < P; k++) spectrum[k] = values[k];
    }
    free(grad), free(iwork);
    return status;
}
