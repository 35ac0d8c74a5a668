/*
 * train.cu - aesweep's training kernels: one model per thread, trained for all its steps
 * on chip.  See train.cuh for the variants and the API.
 *
 * Why one model per thread: at the design point (n = 7, m = 2) a model is 21 parameters
 * and a step is ~1 000 flops, far too little to share between threads without the
 * synchronisation costing more than the work.  One thread per model keeps W, b, the
 * gradient and the Adam moments in that thread's registers (AEK_FIXED), needs no barrier
 * at all, and fills the GPU with a few hundred thousand runs.  The math is the header's
 * (ae_model.h): every kernel calls ae_init_state, ae_perturb, ae_train and ae_summarize.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <map>
#include <utility>
#include <vector>

#include <cuda_runtime.h>

#include "run.cuh"
#include "train.cuh"
#include "warp.cuh"

/* ------------------------------------------------------------------------ */
/* Error checks                                                               */
/* ------------------------------------------------------------------------ */

extern "C" int aek_check(cudaError_t code, const char *call, const char *file, int line, ae_error *err)
{
    if (code == cudaSuccess) return 0;
    if (err) {
        snprintf(err->msg, sizeof err->msg, "CUDA backend: %s (%s:%d): %s (%s)", call, file, line,
                 cudaGetErrorString(code), cudaGetErrorName(code));
        err->code = AE_EXIT_RUNTIME;
    }
    return -1;
}

/* ------------------------------------------------------------------------ */
/* The header's functions of each precision, by the C++ type of the state     */
/* ------------------------------------------------------------------------ */

/* Twins: a run and its twin as the two lanes of one thread (AEK_PAIR), each precision */
#define AE_PRECISION 32
#define AE_LANES 2
#define AE_M 0
#define AE_NAME(name) AE_PASTE(name, _f32_x2)
#include "ae_lanes.inc"
#define AE_PRECISION 64
#define AE_LANES 2
#define AE_M 0
#define AE_NAME(name) AE_PASTE(name, _f64_x2)
#include "ae_lanes.inc"

/* The header's training loops by the type of the state (the per-run overloads, init_run
 * and finish_run are run.cuh's), written out for both precisions. */
/* R = float: the header's _f32 functions */
static __device__ __forceinline__ void train(const aek_batch &bt, uint32_t slot, const ae_params *p, float *theta,
                                             float *grad, float *s1, float *s2, int64_t *opt_t, ae_track *track)
{
    ae_buffers_f32 buf = {}; /* value-initialised: fields the header may add are 0 */
    buf.theta = theta, buf.grad = grad, buf.s1 = s1, buf.s2 = s2, buf.opt_t = opt_t;
    buf.anchor = anchor_of(bt, slot), buf.learnt_step = learnt_step_of(bt, slot);
    set_bias(bt, slot, &buf);
    ae_train_f32(p, &buf, track, NULL); /* no trajectory on the device */
}
static __device__ __forceinline__ void train_pair_lanes(const ae_params *const *lanes, ae_buffers_f32 *buf,
                                                        ae_track *track)
{
    ae_train_f32_x2(lanes, buf, track, NULL);
}

/* R = double: the header's _f64 functions */
static __device__ __forceinline__ void train(const aek_batch &bt, uint32_t slot, const ae_params *p, double *theta,
                                             double *grad, double *s1, double *s2, int64_t *opt_t, ae_track *track)
{
    ae_buffers_f64 buf = {}; /* value-initialised: fields the header may add are 0 */
    buf.theta = theta, buf.grad = grad, buf.s1 = s1, buf.s2 = s2, buf.opt_t = opt_t;
    buf.anchor = anchor_of(bt, slot), buf.learnt_step = learnt_step_of(bt, slot);
    set_bias(bt, slot, &buf);
    ae_train_f64(p, &buf, track, NULL); /* no trajectory on the device */
}
static __device__ __forceinline__ void train_pair_lanes(const ae_params *const *lanes, ae_buffers_f64 *buf,
                                                        ae_track *track)
{
    ae_train_f64_x2(lanes, buf, track, NULL);
}

template <typename R> struct buffers_of;
template <> struct buffers_of<float> { typedef ae_buffers_f32 type; };
template <> struct buffers_of<double> { typedef ae_buffers_f64 type; };

template <typename R> constexpr int precision_of() { return sizeof(R) == sizeof(double) ? AE_FLOAT64 : AE_FLOAT32; }

/* ------------------------------------------------------------------------ */
/* Variant 0: runtime n, m; arrays in shared memory                          */
/* ------------------------------------------------------------------------ */

/* Each thread owns `words` consecutive values of shared memory: theta, grad, s1, s2.
 * words is odd, so the threads of a warp touching the same element hit 32 different
 * banks. */
template <typename R> static __global__ void train_shared(aek_batch bt, const uint32_t *order, uint32_t count, int words)
{
    extern __shared__ __align__(8) unsigned char smem_bytes[]; /* one declaration for every R */
    R *smem = reinterpret_cast<R *>(smem_bytes);
    uint32_t t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= count) return;
    uint32_t slot = order[t];
    ae_params p = bt.params[slot];
    const int P = p.n * p.m + p.n;
    R *theta = smem + (size_t)threadIdx.x * words;
    ae_track track;
    init_run(bt, slot, &p, theta);
    int64_t opt_t = init_opt(bt, slot, P, theta + 2 * P, theta + 3 * P);
    train(bt, slot, &p, theta, theta + P, theta + 2 * P, theta + 3 * P, &opt_t, &track);
    finish_opt(bt, slot, P, theta + 2 * P, theta + 3 * P, opt_t);
    finish_run(bt, slot, &p, theta, &track, theta + P);
}

/* ------------------------------------------------------------------------ */
/* Variant 1: compile-time n, m; arrays in registers                          */
/* ------------------------------------------------------------------------ */

#define AEK_FIXED_THREADS 128

/* Instances (N, M).  m = 2 is the design point; each instance is a fully unrolled copy
 * of the training step, so the list stays where registers can hold 4 (N*M + N) floats.
 * The state stays in registers only where the compiler unrolls the header's loops:
 * with nvcc 13, n*n*m <= 98 and (6, 4) do so; (8..12, 2) and (7, 3) keep their loss-grad
 * loop rolled, so their arrays live in local memory, unless the header's i and j loops
 * carry `#pragma unroll`, which makes n <= 12 (m = 2) register-resident too.  Check
 * with `nvcc -ptx` (no ld.local/st.local in the step loop) or `-Xptxas -v`. */
#define AEK_FIXED_LIST(X)                                                                       \
    X(2, 2) X(3, 2) X(4, 2) X(5, 2) X(6, 2) X(7, 2) X(8, 2) X(9, 2) X(10, 2) X(11, 2) X(12, 2) \
    X(2, 1) X(3, 1) X(4, 1) X(5, 1) X(6, 1) X(7, 1) X(8, 1)                                   \
    X(3, 3) X(4, 3) X(5, 3) X(6, 3) X(7, 3)                                                   \
    X(4, 4) X(5, 4) X(6, 4)

template <typename R, int N, int M>
static __global__ void __launch_bounds__(AEK_FIXED_THREADS) train_fixed(aek_batch bt, const uint32_t *order,
                                                                       uint32_t count)
{
    constexpr int P = N * M + N;
    uint32_t t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= count) return;
    uint32_t slot = order[t];
    ae_params p = bt.params[slot];
    if (p.n != N || p.m != M || p.intervene != AE_INTERVENE_NONE) return; /* never: see aek_train */
    /* constants from here on, so the header's loops unroll and the intervention code,
     * whose indexing is dynamic, is not compiled in */
    p.n = N, p.m = M, p.intervene = AE_INTERVENE_NONE;
    /* The state is indexed dynamically only by init, perturbation and summary: they work
     * on `spill` (local memory, touched twice), so theta, grad, s1, s2 are indexed with
     * constants only and the compiler keeps them in registers.  The moments are loaded
     * (init_opt) and stored (finish_opt) once, outside the step loop. */
    R spill[P], scratch[N];
    R theta[P], grad[P], s1[P], s2[P];
    init_run(bt, slot, &p, spill);
#pragma unroll
    for (int e = 0; e < P; e++) theta[e] = spill[e];
    int64_t opt_t = init_opt(bt, slot, P, s1, s2);
    ae_track track;
    train(bt, slot, &p, theta, grad, s1, s2, &opt_t, &track);
    finish_opt(bt, slot, P, s1, s2, opt_t);
#pragma unroll
    for (int e = 0; e < P; e++) spill[e] = theta[e];
    finish_run(bt, slot, &p, spill, &track, scratch);
}

/* ------------------------------------------------------------------------ */
/* Variant 2: runtime n, m; arrays in local memory sized by a bucket          */
/* ------------------------------------------------------------------------ */

#define AEK_LOCAL_THREADS 128

template <typename R, int NCAP, int MCAP>
static __global__ void __launch_bounds__(AEK_LOCAL_THREADS) train_local(aek_batch bt, const uint32_t *order,
                                                                       uint32_t count)
{
    constexpr int PCAP = NCAP * MCAP + NCAP;
    uint32_t t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= count) return;
    uint32_t slot = order[t];
    ae_params p = bt.params[slot];
    if (p.n > NCAP || p.m > MCAP) return; /* never: the host buckets runs by (n, m) */
    R theta[PCAP], grad[PCAP], s1[PCAP], s2[PCAP];
    ae_track track;
    const int P = p.n * p.m + p.n;
    init_run(bt, slot, &p, theta);
    int64_t opt_t = init_opt(bt, slot, P, s1, s2);
    train(bt, slot, &p, theta, grad, s1, s2, &opt_t, &track);
    finish_opt(bt, slot, P, s1, s2, opt_t);
    finish_run(bt, slot, &p, theta, &track, grad);
}

#define AEK_LOCAL_LIST(X) X(8, 2) X(16, 2) X(32, 2) X(64, 2) X(256, 2) X(8, 4) X(16, 4) X(32, 4) X(64, 4) X(256, 4)

/* ------------------------------------------------------------------------ */
/* Twins: a run and its twin as the two lanes of one thread (AEK_PAIR)        */
/* ------------------------------------------------------------------------ */

enum { AEK_PAIR = AEK_VARIANTS, AEK_KINDS }; /* not a variant to pick: twins always take it */

/* Slot `slot` in lane 0, its twin (slot + twin_from) in lane 1, the arrays interleaved as
 * ae_lanes.inc lays out lanes; the same bits as the CPU's lanes l and l + LANES/2. */
template <typename R, int NCAP, int MCAP>
static __global__ void __launch_bounds__(AEK_LOCAL_THREADS) train_pair(aek_batch bt, const uint32_t *order,
                                                                      uint32_t count)
{
    constexpr int PCAP = NCAP * MCAP + NCAP;
    uint32_t t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= count) return;
    const uint32_t slots[2] = {order[t], order[t] + bt.twin_from};
    ae_params p[2] = {bt.params[slots[0]], bt.params[slots[1]]};
    if (p[0].n > NCAP || p[0].m > MCAP) return; /* never: the host buckets runs by (n, m) */
    const int P = p[0].n * p[0].m + p[0].n;
    R one[PCAP], scratch[NCAP];
    R theta[2 * PCAP], grad[2 * PCAP], s1[2 * PCAP], s2[2 * PCAP], broken[2 * PCAP];
    double anchor[2 * PCAP];
    int64_t opt_t[2];
    for (int lane = 0; lane < 2; lane++) {
        init_run(bt, slots[lane], &p[lane], one);
        for (int e = 0; e < P; e++) theta[e * 2 + lane] = one[e];
        opt_t[lane] = init_opt(bt, slots[lane], P, grad, grad + PCAP); /* grad: scratch until training */
        for (int e = 0; e < P; e++) s1[e * 2 + lane] = grad[e], s2[e * 2 + lane] = grad[PCAP + e];
    }
    typename buffers_of<R>::type buf = {};
    buf.theta = theta, buf.grad = grad, buf.s1 = s1, buf.s2 = s2, buf.broken = broken, buf.anchor = anchor;
    buf.opt_t = opt_t;
    /* lane 1's escape times in its own slot's row, twin_from slots on */
    buf.learnt_step = learnt_step_of(bt, slots[0]), buf.learnt_stride = (int64_t)bt.twin_from * bt.stride_feature;
    buf.twin_renorm = bt.twin_perturb ? p[0].twin_renorm_every : 0;
    const ae_params *lanes[2] = {&p[0], &p[1]};
    ae_track track[2];
    train_pair_lanes(lanes, &buf, track);
    for (int lane = 0; lane < 2; lane++) {
        for (int e = 0; e < P; e++) grad[e] = s1[e * 2 + lane], grad[PCAP + e] = s2[e * 2 + lane];
        finish_opt(bt, slots[lane], P, grad, grad + PCAP, opt_t[lane]);
        for (int e = 0; e < P; e++) one[e] = theta[e * 2 + lane];
        finish_run(bt, slots[lane], &p[lane], one, &track[lane], scratch);
    }
}

/* ------------------------------------------------------------------------ */
/* Initial states alone (tests)                                              */
/* ------------------------------------------------------------------------ */

/* The initial state in the run's precision, widened into bt.theta. */
template <typename R> static __device__ void init_widened(const aek_batch &bt, uint32_t slot, const ae_params *p)
{
    R theta[AE_P_MAX];
    init_run(bt, slot, p, theta);
    double *out = bt.theta + (size_t)slot * bt.stride_theta;
    for (int e = 0; e < p->n * p->m + p->n; e++) out[e] = theta[e];
}

static __global__ void init_only(aek_batch bt)
{
    uint32_t slot = blockIdx.x * blockDim.x + threadIdx.x;
    if (slot >= bt.count) return;
    ae_params p = bt.params[slot];
    if (p.precision == AE_FLOAT64)
        init_widened<double>(bt, slot, &p);
    else
        init_widened<float>(bt, slot, &p);
}

extern "C" int aek_init(const aek_batch *bt, cudaStream_t stream, ae_error *err)
{
    if (bt->count == 0) return 0;
    init_only<<<(bt->count + 127) / 128, 128, 0, stream>>>(*bt);
    return cudaCheck(cudaGetLastError(), err);
}

/* ------------------------------------------------------------------------ */
/* Dispatch: the table of kernels and the grouping of a batch's runs         */
/* ------------------------------------------------------------------------ */

/* One kernel a run can go to.  precision: the ae_precision of its runs; n, m: exact for
 * AEK_FIXED, the caps for AEK_LOCAL;
 * kernel: returns the __global__ function (for the occupancy query of aek_kernel_for); a
 * function rather than the address itself, so the table stays a constant expression. */
typedef struct {
    int variant, precision, n, m;
    void (*launch)(const aek_batch &bt, const uint32_t *order, uint32_t count, int n_max, int m_max,
                   cudaStream_t stream);
    const void *(*kernel)(void);
} kernel_entry;

/* The address of __global__ function F, for kernel_entry.kernel. */
template <auto F> static const void *address_of(void) { return (const void *)F; }

static unsigned blocks_for(uint32_t count, unsigned threads) { return (count + threads - 1) / threads; }

template <typename R, int N, int M>
static void launch_fixed(const aek_batch &bt, const uint32_t *order, uint32_t count, int, int, cudaStream_t stream)
{
    train_fixed<R, N, M><<<blocks_for(count, AEK_FIXED_THREADS), AEK_FIXED_THREADS, 0, stream>>>(bt, order, count);
}

template <typename R, int NCAP, int MCAP>
static void launch_pair(const aek_batch &bt, const uint32_t *order, uint32_t count, int, int, cudaStream_t stream)
{
    train_pair<R, NCAP, MCAP><<<blocks_for(count, AEK_LOCAL_THREADS), AEK_LOCAL_THREADS, 0, stream>>>(bt, order,
                                                                                                       count);
}

template <typename R, int NCAP, int MCAP>
static void launch_local(const aek_batch &bt, const uint32_t *order, uint32_t count, int, int, cudaStream_t stream)
{
    train_local<R, NCAP, MCAP><<<blocks_for(count, AEK_LOCAL_THREADS), AEK_LOCAL_THREADS, 0, stream>>>(bt, order,
                                                                                                       count);
}

/* Shared memory per block stays within the 48 KiB every device gives without opting
 * in; several blocks share an SM, so a larger block would not add occupancy. */
#define AEK_SHARED_BYTES (48 * 1024)

/* Block size and shared memory of the shared kernel for runs up to (n_max, m_max) whose
 * values take `size` bytes. */
static int shared_threads(int n_max, int m_max, size_t size, int *words, size_t *bytes)
{
    *words = (4 * (n_max * m_max + n_max)) | 1; /* odd: no bank conflicts */
    int threads = AEK_SHARED_BYTES / (*words * (int)size);
    if (threads > 128) threads = 128;
    if (threads >= 32) threads -= threads % 32;
    *bytes = (size_t)threads * *words * size;
    return threads;
}

template <typename R>
static void launch_shared(const aek_batch &bt, const uint32_t *order, uint32_t count, int n_max, int m_max,
                          cudaStream_t stream)
{
    int words;
    size_t bytes;
    int threads = shared_threads(n_max, m_max, sizeof(R), &words, &bytes);
    train_shared<R><<<blocks_for(count, threads), threads, bytes, stream>>>(bt, order, count, words);
}

/* The float64 register kernels: m = 2, n <= 8 only.  A double state needs twice the
 * registers, so larger ones spill anyway, and each instance costs minutes of ptxas; the
 * other float64 runs of variant 1 go to the warp kernel, as float32 runs of sizes
 * without an instance do. */
#define AEK_FIXED_F64_LIST(X) X(2, 2) X(3, 2) X(4, 2) X(5, 2) X(6, 2) X(7, 2) X(8, 2)

#define AEK_SHARED_ENTRY(R) {AEK_SHARED, precision_of<R>(), AE_N_MAX, AE_M_MAX, launch_shared<R>, address_of<train_shared<R>>},
#define AEK_FIXED_F32_ENTRY(N, M) \
    {AEK_FIXED, AE_FLOAT32, N, M, launch_fixed<float, N, M>, address_of<train_fixed<float, N, M>>},
#define AEK_FIXED_F64_ENTRY(N, M) \
    {AEK_FIXED, AE_FLOAT64, N, M, launch_fixed<double, N, M>, address_of<train_fixed<double, N, M>>},
#define AEK_LOCAL_ENTRY(N, M)                                                                                    \
    {AEK_LOCAL, AE_FLOAT32, N, M, launch_local<float, N, M>, address_of<train_local<float, N, M>>},              \
        {AEK_LOCAL, AE_FLOAT64, N, M, launch_local<double, N, M>, address_of<train_local<double, N, M>>},
#define AEK_WARP_ENTRY(N, M)                                                                                     \
    {AEK_WARP, AE_FLOAT32, N, M, aek_warp_launch<float, N, M>, aek_warp_kernel<float, N, M>},                    \
        {AEK_WARP, AE_FLOAT64, N, M, aek_warp_launch<double, N, M>, aek_warp_kernel<double, N, M>},
#define AEK_PAIR_ENTRY(N, M)                                                                                     \
    {AEK_PAIR, AE_FLOAT32, N, M, launch_pair<float, N, M>, address_of<train_pair<float, N, M>>},                 \
        {AEK_PAIR, AE_FLOAT64, N, M, launch_pair<double, N, M>, address_of<train_pair<double, N, M>>},
/* entries 0 and 1, the shared kernel of each precision (by ae_precision), take every run */
static constexpr kernel_entry kernels[] = {
    AEK_SHARED_ENTRY(float) AEK_SHARED_ENTRY(double) AEK_FIXED_LIST(AEK_FIXED_F32_ENTRY)
        AEK_FIXED_F64_LIST(AEK_FIXED_F64_ENTRY) AEK_LOCAL_LIST(AEK_LOCAL_ENTRY) AEK_LOCAL_LIST(AEK_PAIR_ENTRY)
            AEK_WARP_LIST(AEK_WARP_ENTRY)};
#define AEK_KERNELS ((int)(sizeof kernels / sizeof kernels[0]))
static_assert(AEK_KERNELS <= 127, "kernel_table holds entries as int8_t");

/* The kernel entry for a run of size (n, m) in `precision` under `variant`; falls back to
 * the shared kernel of that precision.  The pick rule of the default variant, AEK_FIXED,
 * the same in both precisions: one model per thread where a fixed instance exists (float32:
 * n <= 12 at m = 2; float64: n <= 8 at m = 2), one model per warp beyond.
 * Provisional: it is the design's rule, not yet measured on a GPU (`aesweep bench --n
 * 7,16,64,256 --kernel 0,1,2,3` on one measures each variant at each size). */
static constexpr int pick_kernel(int variant, int precision, int n, int m)
{
    int best = precision;
    for (int k = 2; k < AEK_KERNELS; k++) {
        const kernel_entry *e = &kernels[k];
        if (e->variant != variant || e->precision != precision) continue;
        if (variant == AEK_FIXED && e->n == n && e->m == m) return k;
        /* local, pair and warp buckets: the smallest that holds the run (entries grow within each m) */
        if ((variant == AEK_LOCAL || variant == AEK_PAIR || variant == AEK_WARP) && n <= e->n && m <= e->m &&
            (best == precision || e->n * (e->m + 1) < kernels[best].n * (kernels[best].m + 1)))
            best = k;
    }
    return variant == AEK_FIXED ? pick_kernel(AEK_WARP, precision, n, m) : best;
}

/* pick_kernel for every (precision, variant, n, m), computed once, on first use (a C++
 * function-local static: thread-safe; too many steps for the compiler's constexpr limit). */
struct kernel_table {
    int8_t entry[2][AEK_KINDS][AE_N_MAX + 1][AE_M_MAX + 1];
};

static kernel_table build_kernel_table()
{
    kernel_table table = {};
    for (int r = 0; r < 2; r++)
        for (int v = 0; v < AEK_KINDS; v++)
            for (int n = 0; n <= AE_N_MAX; n++)
                for (int m = 0; m <= AE_M_MAX; m++) table.entry[r][v][n][m] = (int8_t)pick_kernel(v, r, n, m);
    return table;
}

static int kernel_of(int variant, int precision, int n, int m)
{
    precision = precision == AE_FLOAT64 ? AE_FLOAT64 : AE_FLOAT32;
    if (variant < 0 || variant >= AEK_KINDS || n < AE_N_MIN || n > AE_N_MAX || m < AE_M_MIN || m > AE_M_MAX)
        return precision;
    static const kernel_table table = build_kernel_table();
    return table.entry[precision][variant][n][m];
}

/* The kernel entry for one run: AEK_FIXED compiles the intervention out and AEK_WARP has
 * none, so a run with one goes to the shared kernel of its precision; a run with a twin
 * goes to AEK_PAIR. */
static int kernel_for(int variant, const ae_params *p, int twins)
{
    if (twins) return kernel_of(AEK_PAIR, p->precision, p->n, p->m);
    int k = kernel_of(variant, p->precision, p->n, p->m);
    const int v = kernels[k].variant;
    return (v == AEK_FIXED || v == AEK_WARP) && p->intervene != AE_INTERVENE_NONE ? kernels[k].precision : k;
}

extern "C" int aek_has_fixed(int n, int m) { return kernels[kernel_of(AEK_FIXED, AE_FLOAT32, n, m)].variant == AEK_FIXED; }

extern "C" const char *aek_kernel_name(int variant)
{
    static const char *const names[AEK_VARIANTS] = {"shared (runtime n, m; shared memory)",
                                                    "fixed (compile-time n, m; registers)",
                                                    "local (runtime n, m; local memory)",
                                                    "warp (one model per warp; registers and shared memory)"};
    return variant >= 0 && variant < AEK_VARIANTS ? names[variant] : "unknown";
}

extern "C" int aek_kernel_for(int variant, int precision, int n, int m, aek_kernel_info *info, ae_error *err)
{
    const kernel_entry *e = &kernels[kernel_of(variant, precision, n, m)];
    const char *suffix = e->precision == AE_FLOAT64 ? ", float64" : "";
    const size_t size = e->precision == AE_FLOAT64 ? sizeof(double) : sizeof(float); /* of a value */
    size_t bytes = 0;
    int words;
    info->threads_per_block = e->variant == AEK_FIXED   ? AEK_FIXED_THREADS
                              : e->variant == AEK_LOCAL ? AEK_LOCAL_THREADS
                              : e->variant == AEK_WARP  ? AEK_WARP_THREADS
                                                        : shared_threads(n, m, size, &words, &bytes);
    info->runs_per_block = e->variant == AEK_WARP ? AEK_WARP_MODELS : info->threads_per_block;
    if (e->variant == AEK_WARP) bytes = aek_warp_shared_bytes(n, m, size);
    if (e->variant == AEK_FIXED)
        snprintf(info->name, sizeof info->name, "fixed<%d,%d> registers%s", e->n, e->m, suffix);
    else if (e->variant == AEK_LOCAL)
        snprintf(info->name, sizeof info->name, "local<%d,%d> local memory%s", e->n, e->m, suffix);
    else if (e->variant == AEK_WARP)
        snprintf(info->name, sizeof info->name, "warp<%d,%d> %d models/block%s", e->n, e->m, AEK_WARP_MODELS,
                 suffix);
    else
        snprintf(info->name, sizeof info->name, "shared, %d threads/block%s", info->threads_per_block, suffix);
    return cudaCheck(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&info->blocks_per_sm, e->kernel(),
                                                                   info->threads_per_block, bytes),
                     err);
}

/* ------------------------------------------------------------------------ */
/* Adam's corrections, tabulated on the host                                  */
/* ------------------------------------------------------------------------ */

/* A setting as run p uses it (AE_SETTING): rounded to float in a float32 run.  Through a
 * volatile float, which must round: here g++ 12.2 -O2 compiled (double)(float)x into x
 * (its C++ has only -fexcess-precision=fast, under which casts need not round; its
 * vectorizer took that licence; -fno-tree-vectorize kept the rounding). */
static double as_run_uses(const ae_params *p, double setting)
{
    if (p->precision == AE_FLOAT64) return setting;
    volatile float rounded = (float)setting;
    return rounded;
}

/* Builds one table of Adam's corrections per (beta1, beta2) of the slots (as each run's
 * precision rounds them), as long as the longest run's t0 + steps or until the corrections
 * stop changing, and each slot's reference to its table; uploads both into stream-ordered
 * allocations that free_bias releases after the launches.  SGD runs get a table too
 * (they never read it): one rule for every slot.  0, or -1 (err). */
static int upload_bias(const ae_params *host_params, const int64_t *host_opt_step, uint32_t slots, aek_batch *bt,
                       cudaStream_t stream, ae_error *err)
{
    struct key_steps { double beta1, beta2; int64_t steps; };
    std::vector<key_steps> tables;
    std::map<std::pair<double, double>, uint32_t> table_of;
    std::vector<aek_bias_ref> refs(slots);
    uint32_t last = UINT32_MAX; /* the previous slot's table: neighbouring slots share one */
    for (uint32_t s = 0; s < slots; s++) {
        const ae_params *p = &host_params[s];
        const double beta1 = as_run_uses(p, p->beta1), beta2 = as_run_uses(p, p->beta2);
        if (last == UINT32_MAX || tables[last].beta1 != beta1 || tables[last].beta2 != beta2) {
            auto found = table_of.emplace(std::make_pair(beta1, beta2), (uint32_t)tables.size());
            if (found.second) tables.push_back({beta1, beta2, 0});
            last = found.first->second;
        }
        const int64_t reach = p->steps + (host_opt_step ? host_opt_step[s] : 0); /* a kept state starts at t0 */
        if (reach > tables[last].steps) tables[last].steps = reach;
        refs[s].offset = last; /* the table's index until its offset is known */
    }
    std::vector<ae_bias> data;
    std::vector<aek_bias_ref> placed(tables.size());
    for (size_t k = 0; k < tables.size(); k++) {
        const int64_t capacity = tables[k].steps > 0 ? tables[k].steps : 1, offset = (int64_t)data.size();
        if (offset + capacity > (int64_t)UINT32_MAX) { /* beta2 near 1 and ~1e8 steps, many times over */
            if (err)
                snprintf(err->msg, sizeof err->msg, "CUDA backend: the tables of Adam's corrections of one batch "
                         "would exceed 2^32 entries (train.steps, beta1 and beta2 too large together)"),
                    err->code = AE_EXIT_RUNTIME;
            return -1;
        }
        data.resize((size_t)(offset + capacity));
        const int64_t entries = ae_bias_table(tables[k].beta1, tables[k].beta2, capacity, &data[(size_t)offset]);
        data.resize((size_t)(offset + entries));
        placed[k] = {(uint32_t)offset, (int32_t)(entries - 1)};
    }
    for (uint32_t s = 0; s < slots; s++) refs[s] = placed[refs[s].offset];
    ae_bias *d_bias = NULL;
    aek_bias_ref *d_refs = NULL;
    /* pageable sources: each copy returns once its source is staged, so the vectors may go */
    if (cudaCheck(cudaMallocAsync((void **)&d_bias, data.size() * sizeof(ae_bias), stream), err) ||
        cudaCheck(cudaMallocAsync((void **)&d_refs, refs.size() * sizeof(aek_bias_ref), stream), err) ||
        cudaCheck(cudaMemcpyAsync(d_bias, data.data(), data.size() * sizeof(ae_bias), cudaMemcpyHostToDevice,
                                  stream), err) ||
        cudaCheck(cudaMemcpyAsync(d_refs, refs.data(), refs.size() * sizeof(aek_bias_ref), cudaMemcpyHostToDevice,
                                  stream), err)) {
        if (d_bias) cudaFreeAsync(d_bias, stream); /* the first failure's message stays in err */
        if (d_refs) cudaFreeAsync(d_refs, stream);
        return -1;
    }
    bt->bias = d_bias, bt->bias_of = d_refs;
    return 0;
}

static int free_bias(const aek_batch *bt, cudaStream_t stream, ae_error *err)
{
    return cudaCheck(cudaFreeAsync((void *)bt->bias, stream), err) |
           cudaCheck(cudaFreeAsync((void *)bt->bias_of, stream), err);
}

/* Groups the slots by kernel (a counting sort into host_order), uploads the order and
 * Adam's correction tables and launches each group's kernel on its part of it. */
extern "C" int aek_train(const aek_batch *bt, const ae_params *host_params, const int64_t *host_opt_step,
                         uint32_t *host_order, int variant, cudaStream_t stream, ae_error *err)
{
    uint32_t start[AEK_KERNELS + 1] = {0}, fill[AEK_KERNELS];
    int n_max[AEK_KERNELS] = {0}, m_max[AEK_KERNELS] = {0};
    const int twins = bt->twin_from > 0;
    const uint32_t threads = twins ? bt->twin_from : bt->count; /* twins: a thread per pair */
    for (uint32_t s = 0; s < threads; s++) {
        const ae_params *p = &host_params[s];
        int k = kernel_for(variant, p, twins);
        start[k + 1]++;
        if (p->n > n_max[k]) n_max[k] = p->n;
        if (p->m > m_max[k]) m_max[k] = p->m;
    }
    for (int k = 0; k < AEK_KERNELS; k++) start[k + 1] += start[k], fill[k] = start[k];
    for (uint32_t s = 0; s < threads; s++) {
        const ae_params *p = &host_params[s];
        host_order[fill[kernel_for(variant, p, twins)]++] = s;
    }
    if (threads == 0) return 0;
    aek_batch batch = *bt;
    if (cudaCheck(cudaMemcpyAsync(bt->order, host_order, threads * sizeof(uint32_t), cudaMemcpyHostToDevice,
                                  stream), err) ||
        upload_bias(host_params, host_opt_step, bt->count, &batch, stream, err))
        return -1;
    int rc = 0;
    for (int k = 0; k < AEK_KERNELS && rc == 0; k++) {
        uint32_t count = start[k + 1] - start[k];
        if (count == 0) continue;
        kernels[k].launch(batch, bt->order + start[k], count, n_max[k], m_max[k], stream);
        rc = cudaCheck(cudaGetLastError(), err);
    }
    return free_bias(&batch, stream, rc ? NULL : err) || rc ? -1 : 0;
}

extern "C" int aek_probe(ae_error *err)
{
    struct cudaFuncAttributes attr;
    return cudaCheck(cudaFuncGetAttributes(&attr, train_shared<float>), err);
}
