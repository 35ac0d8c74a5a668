/*
 * warp.cu - the warp-per-model training kernel: one warp trains one model, each lane the
 * features r = lane (mod 32).  See warp.cuh for the layout and the API.
 *
 * Why a warp: past n = 12 (m = 2) one thread cannot keep W, b, the gradient and the
 * moments in registers, and a step (~n^2 (2m + 6) flops) is large enough to share.  32
 * lanes hold 32 times the state; the price is that every entry Z_ij is computed twice,
 * once by the owner of row i and once by the owner of column j, which is what makes the
 * gradient free of atomics and of cross-lane reductions, hence bit-identical to the CPU.
 *
 * The per-element math is the header's (ae_element.inc, ae_lanes.inc's ae_opt_step); the
 * loss, the tracker and the summary run on lane 0 over the state in shared memory, with
 * the header's functions, at the rare steps that need them.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>

#include <cuda_runtime.h>

#include "run.cuh"
#include "warp.cuh"

/* The state's floating type, in one place, and the header's functions of that precision
 * (a float64 instance would set double and _f64 here; float64 runs go to the shared
 * kernel meanwhile). */
typedef float aek_real;
#define AEK_ELEM(name) name##_f32

#define AEK_FULL_WARP 0xffffffffu

/* Floats of shared memory per warp: [W | b] of its model, and n floats of scratch for
 * ae_summarize.  Odd, so that the warps of a block start in different banks. */
static int warp_words(int n_max, int m_max) { return (n_max * m_max + 2 * n_max) | 1; }

size_t aek_warp_shared_bytes(int n_max, int m_max)
{
    return (size_t)AEK_WARP_MODELS * warp_words(n_max, m_max) * sizeof(aek_real);
}

/* ------------------------------------------------------------------------ */
/* One entry Z_ij of the forward pass, as ae_loss_grad sums it                */
/* ------------------------------------------------------------------------ */

/* Feature j's latent vector, read from the shared state (m <= MCAP coordinates). */
template <int MCAP>
static __device__ __forceinline__ void load_w(const aek_real *W, int m, int j, aek_real out[MCAP])
{
#pragma unroll
    for (int k = 0; k < MCAP; k++) out[k] = k < m ? W[j * m + k] : (aek_real)0;
}

/* Z_ij = W_i . W_j + b_i summed over k = 0..m-1 from 0, then + b_i (the CPU's order). */
template <int MCAP>
static __device__ __forceinline__ aek_real entry_z(const aek_real wi[MCAP], const aek_real wj[MCAP], int m,
                                                   aek_real bi)
{
    aek_real z = 0;
#pragma unroll
    for (int k = 0; k < MCAP; k++)
        if (k < m) z += wi[k] * wj[k];
    return z + bi;
}

/* Column entry (i, r), i != r (target 0): adds dz_ir W_i to g, feature r's gradient. */
template <int MCAP>
static __device__ __forceinline__ void add_column(const aek_real wi[MCAP], aek_real bi, const aek_real wr[MCAP], int m,
                                                  aek_real grad_scale, aek_real g[MCAP])
{
    const aek_real z = entry_z<MCAP>(wi, wr, m, bi);
    const aek_real dz = AEK_ELEM(ae_entry_dz)(z, AEK_ELEM(ae_entry_residual)(z, 0), grad_scale);
#pragma unroll
    for (int k = 0; k < MCAP; k++) g[k] += dz * wi[k];
}

/* ------------------------------------------------------------------------ */
/* The gradient of a lane's features                                          */
/* ------------------------------------------------------------------------ */

/* ae_loss_grad's loop (i outer, j inner) adds, for each entry (i, j),
 *     gb[i] += dz_ij;   gW[i] += dz_ij W_j;   gW[j] += dz_ij W_i.
 * So gW[r] receives, in this order: dz_ir W_i for the column entries i < r; then
 * dz_rj W_j for the row entries j = 0..n-1, with at j = r a second dz_rr W_r right after
 * the first; then dz_ir W_i for i > r.  The owner of r adds exactly these, in exactly
 * this order, so its sums are the CPU's bit for bit.  Three passes over the other
 * features (columns before, rows, columns after), each reading W_i, b_i once for all of
 * the lane's features.  The lane's parameters theta[f * (MCAP + 1) + k] (b at k = MCAP)
 * are the state before the update, the same as in shared memory.  squares[f]: row r's
 * sum of squared residuals, for the divergence test. */
template <int FCAP, int MCAP>
static __device__ __forceinline__ void lane_grad(int n, int m, int lane, const aek_real *W, const aek_real *b,
                                                 const aek_real *theta, aek_real *grad, aek_real *squares)
{
    constexpr int S = MCAP + 1; /* floats per feature in the lane's arrays */
    const aek_real grad_scale = (aek_real)2 / (aek_real)(n * n);
#pragma unroll
    for (int e = 0; e < FCAP * S; e++) grad[e] = 0;
#pragma unroll
    for (int f = 0; f < FCAP; f++) squares[f] = 0;
    if (lane >= n) return; /* no features: nothing to add */
    aek_real wi[MCAP];
    /* columns i < r: entry (i, r), target 0 */
    for (int i = 0; i < n; i++) {
        load_w<MCAP>(W, m, i, wi);
        const aek_real bi = b[i];
#pragma unroll
        for (int f = 0; f < FCAP; f++) {
            const int r = lane + 32 * f;
            if (i < r && r < n) add_column<MCAP>(wi, bi, &theta[f * S], m, grad_scale, &grad[f * S]);
        }
    }
    /* row r: entries (r, j), j = 0..n-1 */
    for (int j = 0; j < n; j++) {
        load_w<MCAP>(W, m, j, wi);
#pragma unroll
        for (int f = 0; f < FCAP; f++) {
            const int r = lane + 32 * f;
            if (r >= n) continue;
            const aek_real *wr = &theta[f * S];
            const aek_real z = entry_z<MCAP>(wr, wi, m, wr[MCAP]);
            const aek_real residual = AEK_ELEM(ae_entry_residual)(z, j == r ? (aek_real)1 : (aek_real)0);
            squares[f] += residual * residual;
            const aek_real dz = AEK_ELEM(ae_entry_dz)(z, residual, grad_scale);
            grad[f * S + MCAP] += dz;
#pragma unroll
            for (int k = 0; k < MCAP; k++) {
                grad[f * S + k] += dz * wi[k];
                if (j == r) grad[f * S + k] += dz * wr[k]; /* the diagonal's second add, gW[j] */
            }
        }
    }
    /* columns i > r */
    for (int i = 0; i < n; i++) {
        load_w<MCAP>(W, m, i, wi);
        const aek_real bi = b[i];
#pragma unroll
        for (int f = 0; f < FCAP; f++) {
            const int r = lane + 32 * f;
            if (i > r) add_column<MCAP>(wi, bi, &theta[f * S], m, grad_scale, &grad[f * S]);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* The kernel                                                                 */
/* ------------------------------------------------------------------------ */

/* Warp w of the block trains run order[blockIdx.x * AEK_WARP_MODELS + w]; its state lives
 * in words floats of shared memory.  The loop is ae_train's (ae_lanes.inc) step for step:
 * forward and backward, the divergence test, the tracker at its events, the update. */
template <int NCAP, int MCAP>
static __global__ void __launch_bounds__(AEK_WARP_THREADS)
    train_warp(aek_batch bt, const uint32_t *order, uint32_t count, int words)
{
    constexpr int FCAP = NCAP / 32, S = MCAP + 1, PL = FCAP * S;
    extern __shared__ __align__(16) unsigned char smem_bytes[];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const uint32_t t = blockIdx.x * AEK_WARP_MODELS + warp;
    if (t >= count) return; /* the whole warp */
    const uint32_t slot = order[t];
    const ae_params p = bt.params[slot];
    if (p.n > NCAP || p.m > MCAP) return; /* never: the host buckets runs by (n, m) */
    const int n = p.n, m = p.m;
    aek_real *theta = (aek_real *)(void *)smem_bytes + (size_t)warp * words, *W = theta, *b = theta + n * m;

    ae_track track; /* lane 0's */
    if (lane == 0) {
        init_run(bt, slot, &p, theta); /* twins never come here */
        ae_track_reset(&p, &track);
    }
    __syncwarp();
    /* the lane's features into registers; slots past n or m stay 0 and keep 0 */
    aek_real own[PL], grad[PL], s1[PL], s2[PL], squares[FCAP];
#pragma unroll
    for (int f = 0; f < FCAP; f++) {
        const int r = lane + 32 * f;
#pragma unroll
        for (int k = 0; k < MCAP; k++) own[f * S + k] = r < n && k < m ? W[r * m + k] : (aek_real)0;
        own[f * S + MCAP] = r < n ? b[r] : (aek_real)0;
    }
#pragma unroll
    for (int e = 0; e < PL; e++) s1[e] = 0, s2[e] = 0;
    ae_opt opt;
    AEK_ELEM(ae_opt_start)(&p, &opt);
    set_bias(bt, slot, &opt);
    /* Divergence: the CPU stops at the first step whose total of squared residuals, summed
     * in its order, is not finite.  A non-finite row makes that total non-finite (adding
     * non-negative floats is monotone); finite rows whose sum overflows also do.  Rows
     * below FLT_MAX / (2n) each keep the total below FLT_MAX / 2 (rounding adds < 1 % at
     * n^2 = 65536 terms), so only a step with a row at or above that (or NaN) needs the
     * exact total: lane 0 sums it in the CPU's order (ae_loss), as at the tracker's events. */
    const aek_real row_limit = (aek_real)FLT_MAX / (aek_real)(2 * n);
    int64_t next_event = 0;
    for (int64_t step = 0;; step++) {
        lane_grad<FCAP, MCAP>(n, m, lane, W, b, own, grad, squares);
        int suspicious = 0;
#pragma unroll
        for (int f = 0; f < FCAP; f++) suspicious |= !(squares[f] < row_limit);
        const int event = step == next_event;
        if (__any_sync(AEK_FULL_WARP, suspicious) || event) {
            int diverged = 0;
            if (lane == 0) {
                const aek_real loss = AEK_ELEM(ae_loss)(n, m, W, b); /* finite exactly when the CPU's squares are */
                if (!isfinite(loss))
                    diverged = 1, track.diverged_step = step;
                else if (event)
                    next_event = AEK_ELEM(ae_track_step)(&p, &track, step, loss, 1, theta);
            }
            if (__shfl_sync(AEK_FULL_WARP, diverged, 0)) break; /* the state stays where it broke */
            next_event = __shfl_sync(AEK_FULL_WARP, next_event, 0);
        }
        if (step == p.steps) break;
        AEK_ELEM(ae_opt_step)(&p, &opt, PL, own, grad, s1, s2); /* per element: padding slots stay 0 */
        __syncwarp(); /* every lane has read the state before the update */
#pragma unroll
        for (int f = 0; f < FCAP; f++) {
            const int r = lane + 32 * f;
            if (r >= n) continue;
#pragma unroll
            for (int k = 0; k < MCAP; k++)
                if (k < m) W[r * m + k] = own[f * S + k];
            b[r] = own[f * S + MCAP];
        }
        __syncwarp(); /* the new state is complete */
    }
    if (lane == 0) finish_run(bt, slot, &p, theta, &track, theta + n * m + n);
}

/* ------------------------------------------------------------------------ */
/* Launch                                                                     */
/* ------------------------------------------------------------------------ */

template <int NCAP, int MCAP>
void aek_warp_launch(const aek_batch &bt, const uint32_t *order, uint32_t count, int n_max, int m_max,
                     cudaStream_t stream)
{
    const unsigned blocks = (count + AEK_WARP_MODELS - 1) / AEK_WARP_MODELS;
    train_warp<NCAP, MCAP><<<blocks, AEK_WARP_THREADS, aek_warp_shared_bytes(n_max, m_max), stream>>>(
        bt, order, count, warp_words(n_max, m_max));
}

template <int NCAP, int MCAP> const void *aek_warp_kernel(void) { return (const void *)train_warp<NCAP, MCAP>; }

#define AEK_WARP_INSTANCE(N, M)                                                                                \
    template void aek_warp_launch<N, M>(const aek_batch &, const uint32_t *, uint32_t, int, int, cudaStream_t); \
    template const void *aek_warp_kernel<N, M>(void);
AEK_WARP_LIST(AEK_WARP_INSTANCE)
