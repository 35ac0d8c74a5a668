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
 * The per-element math is the header's (ae_step.inc, ae_lanes_step.inc's ae_opt_step); the
 * loss, the tracker and the summary run on lane 0 over the state in shared memory, with
 * the header's functions, at the rare steps that need them.  The kernel is a template on
 * the state's type R (float, double): run.cuh's overloads call the header's functions of
 * that precision (_f32, _f64).
 */
#include <float.h>
#include <math.h>
#include <stdint.h>

#include <cuda_runtime.h>

#include "run.cuh"
#include "warp.cuh"

#define AEK_FULL_WARP 0xffffffffu

/* Values of shared memory per warp: [W | b] of its model, and n values of scratch for
 * ae_summarize.  No padding between the warps' slices: a bank conflict needs two lanes of
 * one warp in one access, and the warps' accesses are separate requests. */
static constexpr int warp_words(int n_max, int m_max) { return n_max * m_max + 2 * n_max; }

size_t aek_warp_shared_bytes(int n_max, int m_max, size_t size)
{
    return (size_t)AEK_WARP_MODELS * warp_words(n_max, m_max) * size;
}

/* The 48 KiB of shared memory a block may take without opting in (cudaFuncSetAttribute)
 * hold the largest bucket in float64: 4 warps x (256 x 4 + 2 x 256) doubles, 48 KiB exactly. */
static_assert(AEK_WARP_MODELS * warp_words(AE_N_MAX, AE_M_MAX) * sizeof(double) <= 48 * 1024,
              "the warp kernel's float64 blocks need more than 48 KiB of shared memory");

/* ------------------------------------------------------------------------ */
/* One entry Z_ij of the forward pass, as ae_loss_grad sums it                */
/* ------------------------------------------------------------------------ */

/* Feature j's latent vector, read from the shared state (m <= MCAP coordinates). */
template <typename R, int MCAP>
static __device__ __forceinline__ void load_w(const R *W, int m, int j, R out[MCAP])
{
#pragma unroll
    for (int k = 0; k < MCAP; k++) out[k] = k < m ? W[j * m + k] : (R)0;
}

/* Z_ij = W_i . W_j + b_i summed over k = 0..m-1 from 0, then + b_i (the CPU's order). */
template <typename R, int MCAP>
static __device__ __forceinline__ R entry_z(const R wi[MCAP], const R wj[MCAP], int m, R bi)
{
    R z = 0;
#pragma unroll
    for (int k = 0; k < MCAP; k++)
        if (k < m) z += wi[k] * wj[k];
    return z + bi;
}

/* Column entry (i, r), i != r (target 0): adds dz_ir W_i to g, feature r's gradient. */
template <typename R, int MCAP>
static __device__ __forceinline__ void add_column(const R wi[MCAP], R bi, const R wr[MCAP], int m, R grad_scale,
                                                  R g[MCAP])
{
    const R z = entry_z<R, MCAP>(wi, wr, m, bi);
    const R dz = entry_dz(z, entry_residual(z, (R)0), grad_scale);
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
template <typename R, int FCAP, int MCAP>
static __device__ __forceinline__ void lane_grad(int n, int m, int lane, const R *W, const R *b, const R *theta,
                                                 R *grad, R *squares)
{
    constexpr int S = MCAP + 1; /* values per feature in the lane's arrays */
    const R grad_scale = (R)2 / (R)(n * n);
#pragma unroll
    for (int e = 0; e < FCAP * S; e++) grad[e] = 0;
#pragma unroll
    for (int f = 0; f < FCAP; f++) squares[f] = 0;
    if (lane >= n) return; /* no features: nothing to add */
    R wi[MCAP];
    /* columns i < r: entry (i, r), target 0 */
    for (int i = 0; i < n; i++) {
        load_w<R, MCAP>(W, m, i, wi);
        const R bi = b[i];
#pragma unroll
        for (int f = 0; f < FCAP; f++) {
            const int r = lane + 32 * f;
            if (i < r && r < n) add_column<R, MCAP>(wi, bi, &theta[f * S], m, grad_scale, &grad[f * S]);
        }
    }
    /* row r: entries (r, j), j = 0..n-1 */
    for (int j = 0; j < n; j++) {
        load_w<R, MCAP>(W, m, j, wi);
#pragma unroll
        for (int f = 0; f < FCAP; f++) {
            const int r = lane + 32 * f;
            if (r >= n) continue;
            const R *wr = &theta[f * S];
            const R z = entry_z<R, MCAP>(wr, wi, m, wr[MCAP]);
            const R residual = entry_residual(z, j == r ? (R)1 : (R)0);
            squares[f] += residual * residual;
            const R dz = entry_dz(z, residual, grad_scale);
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
        load_w<R, MCAP>(W, m, i, wi);
        const R bi = b[i];
#pragma unroll
        for (int f = 0; f < FCAP; f++) {
            const int r = lane + 32 * f;
            if (i > r) add_column<R, MCAP>(wi, bi, &theta[f * S], m, grad_scale, &grad[f * S]);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* The kernel                                                                 */
/* ------------------------------------------------------------------------ */

/* Warp w of the block trains run order[blockIdx.x * AEK_WARP_MODELS + w] in the type R of
 * its precision; its state lives in `words` values of shared memory.  The loop is
 * ae_train's (ae_lanes.inc) step for step: forward and backward, the divergence test, the
 * tracker at its events, the update. */
template <typename R, int NCAP, int MCAP>
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
    R *theta = (R *)(void *)smem_bytes + (size_t)warp * words, *W = theta, *b = theta + n * m;

    ae_track track; /* lane 0's */
    if (lane == 0) {
        init_run(bt, slot, &p, theta); /* twins never come here */
        ae_track_reset(&p, &track, learnt_step_of(bt, slot));
    }
    __syncwarp();
    /* the lane's features into registers; slots past n or m stay 0 and keep 0 */
    R own[PL], grad[PL], s1[PL], s2[PL], squares[FCAP];
#pragma unroll
    for (int f = 0; f < FCAP; f++) {
        const int r = lane + 32 * f;
#pragma unroll
        for (int k = 0; k < MCAP; k++) own[f * S + k] = r < n && k < m ? W[r * m + k] : (R)0;
        own[f * S + MCAP] = r < n ? b[r] : (R)0;
    }
    ae_opt opt;
    opt_reset(&p, &opt, PL, s1, s2);
    set_bias(bt, slot, &opt);
    if (bt.base_opt_m) { /* init.optimizer_state = "keep": the lane's features' moments, as own[] holds W, b */
        const size_t base = bt.base[slot], P = (size_t)(n * m + n);
        const double *base_m = bt.base_opt_m + base * P, *base_v = bt.base_opt_v + base * P;
#pragma unroll
        for (int f = 0; f < FCAP; f++) {
            const int r = lane + 32 * f;
#pragma unroll
            for (int k = 0; k < MCAP; k++) {
                s1[f * S + k] = r < n && k < m ? (R)base_m[r * m + k] : (R)0;
                s2[f * S + k] = r < n && k < m ? (R)base_v[r * m + k] : (R)0;
            }
            s1[f * S + MCAP] = r < n ? (R)base_m[n * m + r] : (R)0;
            s2[f * S + MCAP] = r < n ? (R)base_v[n * m + r] : (R)0;
        }
        opt.t = bt.base_opt_step[base]; /* the corrections come from the table (set_bias) */
    }
    /* Divergence: the CPU stops at the first step whose total of squared residuals, summed
     * in its order, is not finite.  A non-finite row makes that total non-finite (adding
     * non-negative values is monotone); finite rows whose sum overflows also do.  Rows
     * below MAX / (2n) (MAX: FLT_MAX or DBL_MAX, the largest R) each keep the total below
     * MAX / 2 however it is rounded: n^2 <= 65536 additions, each with a relative error of
     * at most 2^-24 (float; 2^-53 in double), add less than 0.4 % to it.  So only a step with
     * a row at or above that (or NaN) needs the exact total: lane 0 sums it in the CPU's
     * order (ae_loss), as at the tracker's events. */
    const R row_limit = (R)(sizeof(R) == sizeof(float) ? FLT_MAX : DBL_MAX) / (R)(2 * n);
    int64_t next_event = 0;
    for (int64_t step = 0;; step++) {
        lane_grad<R, FCAP, MCAP>(n, m, lane, W, b, own, grad, squares);
        int suspicious = 0;
#pragma unroll
        for (int f = 0; f < FCAP; f++) suspicious |= !(squares[f] < row_limit);
        const int event = step == next_event;
        if (__any_sync(AEK_FULL_WARP, suspicious) || event) {
            int diverged = 0;
            if (lane == 0) {
                const R step_loss = loss(n, m, W, b); /* finite exactly when the CPU's squares are */
                if (!isfinite(step_loss))
                    diverged = 1, track.diverged_step = step;
                else if (event)
                    next_event = track_step(&p, &track, step, step_loss, 1, theta, anchor_of(bt, slot));
            }
            if (__shfl_sync(AEK_FULL_WARP, diverged, 0)) break; /* the state stays where it broke */
            next_event = __shfl_sync(AEK_FULL_WARP, next_event, 0);
        }
        if (step == p.steps) { /* frozen (ae_train's end): the gradient at T on the learnt features */
            int any_learnt = 0, moving = 0;
#pragma unroll
            for (int f = 0; f < FCAP; f++) {
                const int r = lane + 32 * f;
                if (r >= n) continue;
                const int learnt = recon_at(&p, theta, r) >= (R)AE_LEARNT_THRESHOLD;
                int nonzero = 0;
#pragma unroll
                for (int k = 0; k < S; k++) nonzero |= grad[f * S + k] != 0;
                any_learnt |= learnt;
                moving |= (learnt ? 2 : 1) * nonzero; /* bit 1: a learnt feature's, bit 0: any feature's */
            }
            any_learnt = __any_sync(AEK_FULL_WARP, any_learnt);
            moving = __any_sync(AEK_FULL_WARP, moving & (any_learnt ? 2 : 3));
            if (lane == 0) track.frozen = moving && track_frozen(&p, theta, NULL, anchor_of(bt, slot));
            break;
        }
        opt_step(&p, &opt, PL, own, grad, s1, s2); /* per element: padding slots stay 0 */
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
    if (bt.opt_m) { /* output.optimizer_state: each lane writes its features' moments */
        double *out_m = bt.opt_m + (size_t)slot * bt.stride_theta, *out_v = bt.opt_v + (size_t)slot * bt.stride_theta;
#pragma unroll
        for (int f = 0; f < FCAP; f++) {
            const int r = lane + 32 * f;
            if (r >= n) continue;
#pragma unroll
            for (int k = 0; k < MCAP; k++)
                if (k < m) out_m[r * m + k] = s1[f * S + k], out_v[r * m + k] = s2[f * S + k];
            out_m[n * m + r] = s1[f * S + MCAP], out_v[n * m + r] = s2[f * S + MCAP];
        }
        if (lane == 0) bt.opt_step[slot] = opt.t;
    }
    if (lane == 0) finish_run(bt, slot, &p, theta, &track, theta + n * m + n);
}

/* ------------------------------------------------------------------------ */
/* Launch                                                                     */
/* ------------------------------------------------------------------------ */

template <typename R, int NCAP, int MCAP>
void aek_warp_launch(const aek_batch &bt, const uint32_t *order, uint32_t count, int n_max, int m_max,
                     cudaStream_t stream)
{
    const unsigned blocks = (count + AEK_WARP_MODELS - 1) / AEK_WARP_MODELS;
    train_warp<R, NCAP, MCAP><<<blocks, AEK_WARP_THREADS, aek_warp_shared_bytes(n_max, m_max, sizeof(R)), stream>>>(
        bt, order, count, warp_words(n_max, m_max));
}

template <typename R, int NCAP, int MCAP> const void *aek_warp_kernel(void)
{
    return (const void *)train_warp<R, NCAP, MCAP>;
}

#define AEK_WARP_INSTANCE_R(R, N, M)                                                                           \
    template void aek_warp_launch<R, N, M>(const aek_batch &, const uint32_t *, uint32_t, int, int,           \
                                           cudaStream_t);                                                      \
    template const void *aek_warp_kernel<R, N, M>(void);
#define AEK_WARP_INSTANCE(N, M) AEK_WARP_INSTANCE_R(float, N, M) AEK_WARP_INSTANCE_R(double, N, M)
AEK_WARP_LIST(AEK_WARP_INSTANCE)
