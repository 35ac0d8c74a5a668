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

/* The header's per-run math by the type of the state, written out for both precisions, so
 * a debugger stops on a line of its own in each: the kernels are templates over R. */
/* R = float: the header's _f32 functions */
static __device__ __forceinline__ void init_state(const ae_params *p, const double *W, const double *b,
                                                  float *theta)
{
    ae_init_state_f32(p, W, b, theta);
}
static __device__ __forceinline__ void perturb(const ae_params *p, int kind, const int32_t *features,
                                               int n_features, float *theta)
{
    ae_perturb_f32(p, kind, features, n_features, theta);
}
static __device__ __forceinline__ void twin_perturb(const ae_params *p, float *theta)
{
    ae_twin_perturb_f32(p, 1, 0, theta);
}
static __device__ __forceinline__ void summarize(const ae_params *p, const float *theta, const ae_track *track,
                                                 double *recon, double *norm, float *scratch, ae_summary *out)
{
    ae_summarize_f32(p, theta, track, recon, norm, scratch, out);
}
static __device__ __forceinline__ float entry_residual(float z, float target) { return ae_entry_residual_f32(z, target); }
static __device__ __forceinline__ float entry_dz(float z, float residual, float grad_scale)
{
    return ae_entry_dz_f32(z, residual, grad_scale);
}
static __device__ __forceinline__ float loss(int n, int m, const float *W, const float *b)
{
    return ae_loss_f32(n, m, W, b);
}
static __device__ __forceinline__ void opt_reset(const ae_params *p, ae_opt *opt, int P, float *s1, float *s2)
{
    ae_opt_reset_f32(p, opt, P, s1, s2);
}
static __device__ __forceinline__ void opt_step(const ae_params *p, ae_opt *opt, int P, float *theta,
                                                const float *grad, float *s1, float *s2)
{
    ae_opt_step_f32(p, opt, P, theta, grad, s1, s2);
}
static __device__ __forceinline__ int64_t track_step(const ae_params *p, ae_track *track, int64_t step,
                                                     float loss, int stride, const float *theta, double *anchor)
{
    return ae_track_step_f32(p, track, step, loss, stride, theta, anchor);
}
static __device__ __forceinline__ float recon_at(const ae_params *p, const float *theta, int i)
{
    return ae_recon_at_f32(p, 1, theta, i);
}
static __device__ __forceinline__ int track_frozen(const ae_params *p, const float *theta, const float *grad,
                                                   const double *anchor)
{
    return ae_track_frozen_f32(p, 1, theta, grad, anchor);
}

/* R = double: the header's _f64 functions */
static __device__ __forceinline__ void init_state(const ae_params *p, const double *W, const double *b,
                                                  double *theta)
{
    ae_init_state_f64(p, W, b, theta);
}
static __device__ __forceinline__ void perturb(const ae_params *p, int kind, const int32_t *features,
                                               int n_features, double *theta)
{
    ae_perturb_f64(p, kind, features, n_features, theta);
}
static __device__ __forceinline__ void twin_perturb(const ae_params *p, double *theta)
{
    ae_twin_perturb_f64(p, 1, 0, theta);
}
static __device__ __forceinline__ void summarize(const ae_params *p, const double *theta, const ae_track *track,
                                                 double *recon, double *norm, double *scratch, ae_summary *out)
{
    ae_summarize_f64(p, theta, track, recon, norm, scratch, out);
}
static __device__ __forceinline__ double entry_residual(double z, double target) { return ae_entry_residual_f64(z, target); }
static __device__ __forceinline__ double entry_dz(double z, double residual, double grad_scale)
{
    return ae_entry_dz_f64(z, residual, grad_scale);
}
static __device__ __forceinline__ double loss(int n, int m, const double *W, const double *b)
{
    return ae_loss_f64(n, m, W, b);
}
static __device__ __forceinline__ void opt_reset(const ae_params *p, ae_opt *opt, int P, double *s1, double *s2)
{
    ae_opt_reset_f64(p, opt, P, s1, s2);
}
static __device__ __forceinline__ void opt_step(const ae_params *p, ae_opt *opt, int P, double *theta,
                                                const double *grad, double *s1, double *s2)
{
    ae_opt_step_f64(p, opt, P, theta, grad, s1, s2);
}
static __device__ __forceinline__ int64_t track_step(const ae_params *p, ae_track *track, int64_t step,
                                                     double loss, int stride, const double *theta, double *anchor)
{
    return ae_track_step_f64(p, track, step, loss, stride, theta, anchor);
}
static __device__ __forceinline__ double recon_at(const ae_params *p, const double *theta, int i)
{
    return ae_recon_at_f64(p, 1, theta, i);
}
static __device__ __forceinline__ int track_frozen(const ae_params *p, const double *theta, const double *grad,
                                                   const double *anchor)
{
    return ae_track_frozen_f64(p, 1, theta, grad, anchor);
}

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
