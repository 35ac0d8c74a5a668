/*
 * run.cuh - what every CUDA kernel does for one run before and after training, shared by
 * train.cu (one model per thread) and warp.cu (one model per warp).  CUDA C++ only.
 *
 * API:
 *   set_bias(bt, slot, buf_or_opt)                 points the run's training at the slot's table
 *                                                  of Adam's corrections (ae_model.h, ae_opt)
 *   anchor_of, learnt_step_of (bt, slot)           the slot's rows for `frozen` and learnt_step
 *   init_state, perturb, twin_perturb, summarize,  the header's _f32 (R = float) or _f64
 *   entry_residual, entry_dz, loss, opt_reset,     (R = double) functions, by the state's type
 *   opt_step, track_step, track_frozen, recon_at   (the second group: the pieces of a step,
 *                                                  which warp.cu calls one by one)
 *   init_run(bt, slot, p, theta)                   the run's initial state
 *   init_opt(bt, slot, P, s1, s2)                  its optimizer's moments at the start, and
 *                                                  the steps it took before (0: afresh)
 *   finish_run(bt, slot, p, theta, track, scratch) its end-of-run metrics and the one write
 *                                                  of its results
 *   finish_opt(bt, slot, P, s1, s2, t)             its optimizer state at the end, if wanted
 */
#ifndef AE_RUN_CUH
#define AE_RUN_CUH

#include "train.cuh"

/* The slot's anchor-state scratch and escape-time row, in the batch's device memory. */
static __device__ __forceinline__ double *anchor_of(const aek_batch &bt, uint32_t slot)
{
    return bt.anchor + (size_t)slot * bt.stride_theta;
}
static __device__ __forceinline__ int64_t *learnt_step_of(const aek_batch &bt, uint32_t slot)
{
    return bt.learnt_step + (size_t)slot * bt.stride_feature;
}

/* The slot's table of Adam's corrections (aek_train built it), into an ae_buffers or an
 * ae_opt: both name it bias, bias_last.  The header's training then reads the corrections
 * instead of computing them (ae_model.h, ae_opt, says why). */
template <typename T> static __device__ __forceinline__ void set_bias(const aek_batch &bt, uint32_t slot, T *to)
{
    const aek_bias_ref ref = bt.bias_of[slot];
    to->bias = bt.bias + ref.offset, to->bias_last = ref.last;
}

#define AEK_RUN_OVERLOADS(R, F)                                                                                     \
    static __device__ __forceinline__ void init_state(const ae_params *p, const double *W, const double *b,        \
                                                      R *theta)                                                     \
    {                                                                                                               \
        ae_init_state_##F(p, W, b, theta);                                                                          \
    }                                                                                                               \
    static __device__ __forceinline__ void perturb(const ae_params *p, int kind, const int32_t *features,           \
                                                   int n_features, R *theta)                                        \
    {                                                                                                               \
        ae_perturb_##F(p, kind, features, n_features, theta);                                                       \
    }                                                                                                               \
    static __device__ __forceinline__ void twin_perturb(const ae_params *p, R *theta)                               \
    {                                                                                                               \
        ae_twin_perturb_##F(p, 1, 0, theta);                                                                        \
    }                                                                                                               \
    static __device__ __forceinline__ void summarize(const ae_params *p, const R *theta, const ae_track *track,     \
                                                     double *recon, double *norm, R *scratch, ae_summary *out)      \
    {                                                                                                               \
        ae_summarize_##F(p, theta, track, recon, norm, scratch, out);                                               \
    }                                                                                                               \
    static __device__ __forceinline__ R entry_residual(R z, R target) { return ae_entry_residual_##F(z, target); }  \
    static __device__ __forceinline__ R entry_dz(R z, R residual, R grad_scale)                                     \
    {                                                                                                               \
        return ae_entry_dz_##F(z, residual, grad_scale);                                                            \
    }                                                                                                               \
    static __device__ __forceinline__ R loss(int n, int m, const R *W, const R *b)                                  \
    {                                                                                                               \
        return ae_loss_##F(n, m, W, b);                                                                             \
    }                                                                                                               \
    static __device__ __forceinline__ void opt_reset(const ae_params *p, ae_opt *opt, int P, R *s1, R *s2)          \
    {                                                                                                               \
        ae_opt_reset_##F(p, opt, P, s1, s2);                                                                        \
    }                                                                                                               \
    static __device__ __forceinline__ void opt_step(const ae_params *p, ae_opt *opt, int P, R *theta,               \
                                                    const R *grad, R *s1, R *s2)                                    \
    {                                                                                                               \
        ae_opt_step_##F(p, opt, P, theta, grad, s1, s2);                                                            \
    }                                                                                                               \
    static __device__ __forceinline__ int64_t track_step(const ae_params *p, ae_track *track, int64_t step,         \
                                                         R loss, int stride, const R *theta, double *anchor)        \
    {                                                                                                               \
        return ae_track_step_##F(p, track, step, loss, stride, theta, anchor);                                      \
    }                                                                                                               \
    static __device__ __forceinline__ R recon_at(const ae_params *p, const R *theta, int i)                          \
    {                                                                                                               \
        return ae_recon_at_##F(p, 1, theta, i);                                                                     \
    }                                                                                                               \
    static __device__ __forceinline__ int track_frozen(const ae_params *p, const R *theta, const R *grad,            \
                                                       const double *anchor)                                        \
    {                                                                                                               \
        return ae_track_frozen_##F(p, 1, theta, grad, anchor);                                                      \
    }
AEK_RUN_OVERLOADS(float, f32)
AEK_RUN_OVERLOADS(double, f64)
#undef AEK_RUN_OVERLOADS

/* theta (n*m + n values) = the run's initial state: a random scheme from its Philox
 * stream, ideal_failure, or its base state, then the bias perturbation; a state twin's
 * slot then moves eps away (as ae_prepare_run does; a setting twin's slot has its own
 * settings). */
template <typename R>
static __device__ __forceinline__ void init_run(const aek_batch &bt, uint32_t slot, const ae_params *p, R *theta)
{
    const double *base_W = NULL, *base_b = NULL;
    if (p->scheme == AE_INIT_FILE) {
        size_t k = bt.base[slot];
        base_W = bt.base_W + k * (size_t)(bt.base_n * bt.base_m);
        base_b = bt.base_b + k * (size_t)bt.base_n;
    }
    init_state(p, base_W, base_b, theta);
    perturb(p, bt.perturb_kind, bt.perturb_features, bt.n_perturb_features, theta);
    if (bt.twin_from > 0 && slot >= bt.twin_from && bt.twin_perturb) twin_perturb(p, theta);
}

/* s1, s2 (P values each) = the moments run `slot` starts from: its base state's (rounded to
 * R), or zeros; returns the steps its optimizer took before.  Indexed by e alone, so a kernel
 * with P fixed at compile time keeps s1, s2 in registers. */
template <typename R>
static __device__ __forceinline__ int64_t init_opt(const aek_batch &bt, uint32_t slot, int P, R *s1, R *s2)
{
    if (!bt.base_opt_m) {
#pragma unroll
        for (int e = 0; e < P; e++) s1[e] = 0, s2[e] = 0;
        return 0;
    }
    const size_t k = bt.base[slot];
    const double *m = bt.base_opt_m + k * (size_t)P, *v = bt.base_opt_v + k * (size_t)P;
#pragma unroll
    for (int e = 0; e < P; e++) s1[e] = (R)m[e], s2[e] = (R)v[e];
    return bt.base_opt_step[k];
}

/* The optimizer state at the end (widened to double), where the batch wants it. */
template <typename R>
static __device__ __forceinline__ void finish_opt(const aek_batch &bt, uint32_t slot, int P, const R *s1,
                                                  const R *s2, int64_t t)
{
    if (!bt.opt_m) return;
    double *m = bt.opt_m + (size_t)slot * bt.stride_theta, *v = bt.opt_v + (size_t)slot * bt.stride_theta;
#pragma unroll
    for (int e = 0; e < P; e++) m[e] = s1[e], v[e] = s2[e];
    bt.opt_step[slot] = t;
}

/* End-of-run metrics on the device, and the one write of the run's results (widened to
 * double).  theta may be any memory; scratch: n values. */
template <typename R>
static __device__ __forceinline__ void finish_run(const aek_batch &bt, uint32_t slot, const ae_params *p,
                                                  const R *theta, const ae_track *track, R *scratch)
{
    const int n = p->n, m = p->m;
    double *out = bt.theta + (size_t)slot * bt.stride_theta;
    for (int e = 0; e < n * m + n; e++) out[e] = theta[e];
    ae_summary summary;
    summarize(p, theta, track, bt.recon + (size_t)slot * bt.stride_feature,
              bt.norm + (size_t)slot * bt.stride_feature, scratch, &summary);
    bt.track[slot] = *track;
    bt.summary[slot] = summary;
}

#endif /* AE_RUN_CUH */
