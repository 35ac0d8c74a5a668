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

#include <cuda_runtime.h>

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
/* What every variant does for one run                                        */
/* ------------------------------------------------------------------------ */

/* theta (n*m + n floats) = the run's initial state: a random scheme from its Philox
 * stream, ideal_failure, or its base state, then the bias perturbation; a twin slot
 * then moves eps away (as the CPU backend does). */
static __device__ __forceinline__ void init_run(const aek_batch &bt, uint32_t slot, const ae_params *p,
                                                float *theta)
{
    const float *base_W = NULL, *base_b = NULL;
    if (p->scheme == AE_INIT_FILE) {
        size_t k = bt.base[slot];
        base_W = bt.base_W + k * (size_t)(bt.base_n * bt.base_m);
        base_b = bt.base_b + k * (size_t)bt.base_n;
    }
    ae_init_state(p, base_W, base_b, theta);
    ae_perturb(p, bt.perturb_kind, bt.perturb_features, bt.n_perturb_features, theta);
    if (bt.twin_from > 0 && slot >= bt.twin_from) ae_twin_perturb(p, 1, 0, theta);
}

/* End-of-run metrics on the device, and the one write of the run's results.
 * theta may be any memory; scratch: n floats. */
static __device__ __forceinline__ void finish_run(const aek_batch &bt, uint32_t slot, const ae_params *p,
                                                  const float *theta, const ae_track *track, float *scratch)
{
    const int n = p->n, m = p->m;
    float *out = bt.theta + (size_t)slot * bt.stride_theta;
    for (int e = 0; e < n * m + n; e++) out[e] = theta[e];
    ae_summary summary;
    ae_summarize(p, theta, track, bt.recon + (size_t)slot * bt.stride_feature,
                 bt.norm + (size_t)slot * bt.stride_feature, scratch, &summary);
    bt.track[slot] = *track;
    bt.summary[slot] = summary;
}

/* ------------------------------------------------------------------------ */
/* Variant 0: runtime n, m; arrays in shared memory                          */
/* ------------------------------------------------------------------------ */

/* Each thread owns `words` consecutive floats of shared memory: theta, grad, s1, s2.
 * words is odd, so the threads of a warp touching the same element hit 32 different
 * banks. */
static __global__ void train_shared(aek_batch bt, const uint32_t *order, uint32_t count, int words)
{
    extern __shared__ float smem[];
    uint32_t t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= count) return;
    uint32_t slot = order[t];
    ae_params p = bt.params[slot];
    const int P = p.n * p.m + p.n;
    float *theta = smem + (size_t)threadIdx.x * words;
    ae_buffers buf = {}; /* value-initialised: fields the header may add are 0 */
    buf.theta = theta, buf.grad = theta + P, buf.s1 = theta + 2 * P, buf.s2 = theta + 3 * P;
    ae_track track;
    init_run(bt, slot, &p, theta);
    ae_train(&p, &buf, &track, NULL); /* no trajectory on the device */
    finish_run(bt, slot, &p, theta, &track, buf.grad);
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

template <int N, int M>
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
     * constants only and the compiler keeps them in registers. */
    float spill[P], scratch[N];
    float theta[P], grad[P], s1[P], s2[P];
    init_run(bt, slot, &p, spill);
#pragma unroll
    for (int e = 0; e < P; e++) theta[e] = spill[e];
    ae_buffers buf = {};
    buf.theta = theta, buf.grad = grad, buf.s1 = s1, buf.s2 = s2;
    ae_track track;
    ae_train(&p, &buf, &track, NULL); /* no trajectory on the device */
#pragma unroll
    for (int e = 0; e < P; e++) spill[e] = theta[e];
    finish_run(bt, slot, &p, spill, &track, scratch);
}

/* ------------------------------------------------------------------------ */
/* Variant 2: runtime n, m; arrays in local memory sized by a bucket          */
/* ------------------------------------------------------------------------ */

#define AEK_LOCAL_THREADS 128

template <int NCAP, int MCAP>
static __global__ void __launch_bounds__(AEK_LOCAL_THREADS) train_local(aek_batch bt, const uint32_t *order,
                                                                       uint32_t count)
{
    constexpr int PCAP = NCAP * MCAP + NCAP;
    uint32_t t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= count) return;
    uint32_t slot = order[t];
    ae_params p = bt.params[slot];
    if (p.n > NCAP || p.m > MCAP) return; /* never: the host buckets runs by (n, m) */
    float theta[PCAP], grad[PCAP], s1[PCAP], s2[PCAP];
    ae_buffers buf = {};
    buf.theta = theta, buf.grad = grad, buf.s1 = s1, buf.s2 = s2;
    ae_track track;
    init_run(bt, slot, &p, theta);
    ae_train(&p, &buf, &track, NULL); /* no trajectory on the device */
    finish_run(bt, slot, &p, theta, &track, grad);
}

#define AEK_LOCAL_LIST(X) X(8, 2) X(16, 2) X(32, 2) X(64, 2) X(256, 2) X(8, 4) X(16, 4) X(32, 4) X(64, 4) X(256, 4)

/* ------------------------------------------------------------------------ */
/* Initial states alone (tests)                                              */
/* ------------------------------------------------------------------------ */

static __global__ void init_only(aek_batch bt)
{
    uint32_t slot = blockIdx.x * blockDim.x + threadIdx.x;
    if (slot >= bt.count) return;
    ae_params p = bt.params[slot];
    init_run(bt, slot, &p, bt.theta + (size_t)slot * bt.stride_theta);
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

/* One kernel a run can go to.  n, m: exact for AEK_FIXED, the caps for AEK_LOCAL;
 * kernel: returns the __global__ function (for the occupancy query of aek_kernel_for); a
 * function rather than the address itself, so the table stays a constant expression. */
typedef struct {
    int variant, n, m;
    void (*launch)(const aek_batch &bt, const uint32_t *order, uint32_t count, int n_max, int m_max,
                   cudaStream_t stream);
    const void *(*kernel)(void);
} kernel_entry;

/* The address of __global__ function F, for kernel_entry.kernel. */
template <auto F> static const void *address_of(void) { return (const void *)F; }

static unsigned blocks_for(uint32_t count, unsigned threads) { return (count + threads - 1) / threads; }

template <int N, int M>
static void launch_fixed(const aek_batch &bt, const uint32_t *order, uint32_t count, int, int, cudaStream_t stream)
{
    train_fixed<N, M><<<blocks_for(count, AEK_FIXED_THREADS), AEK_FIXED_THREADS, 0, stream>>>(bt, order, count);
}

template <int NCAP, int MCAP>
static void launch_local(const aek_batch &bt, const uint32_t *order, uint32_t count, int, int, cudaStream_t stream)
{
    train_local<NCAP, MCAP><<<blocks_for(count, AEK_LOCAL_THREADS), AEK_LOCAL_THREADS, 0, stream>>>(bt, order, count);
}

/* Shared memory per block stays within the 48 KiB every device gives without opting
 * in; several blocks share an SM, so a larger block would not add occupancy. */
#define AEK_SHARED_BYTES (48 * 1024)

/* Block size and shared memory of the shared kernel for runs up to (n_max, m_max). */
static int shared_threads(int n_max, int m_max, int *words, size_t *bytes)
{
    *words = (4 * (n_max * m_max + n_max)) | 1; /* odd: no bank conflicts */
    int threads = AEK_SHARED_BYTES / (*words * (int)sizeof(float));
    if (threads > 128) threads = 128;
    if (threads >= 32) threads -= threads % 32;
    *bytes = (size_t)threads * *words * sizeof(float);
    return threads;
}

static void launch_shared(const aek_batch &bt, const uint32_t *order, uint32_t count, int n_max, int m_max,
                          cudaStream_t stream)
{
    int words;
    size_t bytes;
    int threads = shared_threads(n_max, m_max, &words, &bytes);
    train_shared<<<blocks_for(count, threads), threads, bytes, stream>>>(bt, order, count, words);
}

#define AEK_FIXED_ENTRY(N, M) {AEK_FIXED, N, M, launch_fixed<N, M>, address_of<train_fixed<N, M>>},
#define AEK_LOCAL_ENTRY(N, M) {AEK_LOCAL, N, M, launch_local<N, M>, address_of<train_local<N, M>>},
#define AEK_WARP_ENTRY(N, M) {AEK_WARP, N, M, aek_warp_launch<N, M>, aek_warp_kernel<N, M>},
static constexpr kernel_entry kernels[] = {
    {AEK_SHARED, AE_N_MAX, AE_M_MAX, launch_shared, address_of<train_shared>}, /* entry 0: takes every run */
    AEK_FIXED_LIST(AEK_FIXED_ENTRY) AEK_LOCAL_LIST(AEK_LOCAL_ENTRY) AEK_WARP_LIST(AEK_WARP_ENTRY)};
#define AEK_KERNELS ((int)(sizeof kernels / sizeof kernels[0]))

/* The kernel entry for a run of size (n, m) under `variant`; falls back to entry 0.
 * The pick rule of the default variant, AEK_FIXED: one model per thread where a fixed
 * instance exists (n <= 12 at m = 2), one model per warp beyond.  Provisional: it is
 * the design's rule, not yet measured on a GPU (`aesweep bench --n 7,16,64,256 --kernel
 * 0,1,2,3` on one measures each variant at each size). */
static constexpr int pick_kernel(int variant, int n, int m)
{
    int best = 0;
    for (int k = 1; k < AEK_KERNELS; k++) {
        const kernel_entry *e = &kernels[k];
        if (e->variant != variant) continue;
        if (variant == AEK_FIXED && e->n == n && e->m == m) return k;
        /* local and warp buckets: the smallest that holds the run (entries grow within each m) */
        if ((variant == AEK_LOCAL || variant == AEK_WARP) && n <= e->n && m <= e->m &&
            (best == 0 || e->n * (e->m + 1) < kernels[best].n * (kernels[best].m + 1)))
            best = k;
    }
    return variant == AEK_FIXED ? pick_kernel(AEK_WARP, n, m) : best;
}

/* pick_kernel for every (variant, n, m), computed by the compiler. */
struct kernel_table {
    int8_t entry[AEK_VARIANTS][AE_N_MAX + 1][AE_M_MAX + 1];
};

static constexpr kernel_table build_kernel_table()
{
    kernel_table table = {};
    for (int v = 0; v < AEK_VARIANTS; v++)
        for (int n = 0; n <= AE_N_MAX; n++)
            for (int m = 0; m <= AE_M_MAX; m++) table.entry[v][n][m] = (int8_t)pick_kernel(v, n, m);
    return table;
}

static constexpr kernel_table kernel_entries = build_kernel_table();

static int kernel_of(int variant, int n, int m)
{
    if (variant < 0 || variant >= AEK_VARIANTS || n < AE_N_MIN || n > AE_N_MAX || m < AE_M_MIN || m > AE_M_MAX)
        return 0;
    return kernel_entries.entry[variant][n][m];
}

/* The kernel entry for one run: AEK_FIXED compiles the intervention out, AEK_WARP has
 * neither interventions nor twins, so such runs go to entry 0. */
static int kernel_for(int variant, const ae_params *p, int twins)
{
    int k = kernel_of(variant, p->n, p->m);
    const int v = kernels[k].variant;
    return (v == AEK_FIXED || v == AEK_WARP) && p->intervene != AE_INTERVENE_NONE ? 0 : v == AEK_WARP && twins ? 0 : k;
}

extern "C" int aek_has_fixed(int n, int m) { return kernels[kernel_of(AEK_FIXED, n, m)].variant == AEK_FIXED; }

extern "C" const char *aek_kernel_name(int variant)
{
    static const char *const names[AEK_VARIANTS] = {"shared (runtime n, m; shared memory)",
                                                    "fixed (compile-time n, m; registers)",
                                                    "local (runtime n, m; local memory)",
                                                    "warp (one model per warp; registers and shared memory)"};
    return variant >= 0 && variant < AEK_VARIANTS ? names[variant] : "unknown";
}

extern "C" int aek_kernel_for(int variant, int n, int m, aek_kernel_info *info, ae_error *err)
{
    const kernel_entry *e = &kernels[kernel_of(variant, n, m)];
    size_t bytes = 0;
    int words;
    info->threads_per_block = e->variant == AEK_FIXED ? AEK_FIXED_THREADS
                              : e->variant == AEK_LOCAL ? AEK_LOCAL_THREADS
                              : e->variant == AEK_WARP  ? AEK_WARP_THREADS
                                                        : shared_threads(n, m, &words, &bytes);
    info->runs_per_block = e->variant == AEK_WARP ? AEK_WARP_MODELS : info->threads_per_block;
    if (e->variant == AEK_WARP) bytes = aek_warp_shared_bytes(n, m);
    if (e->variant == AEK_FIXED)
        snprintf(info->name, sizeof info->name, "fixed<%d,%d> registers", e->n, e->m);
    else if (e->variant == AEK_LOCAL)
        snprintf(info->name, sizeof info->name, "local<%d,%d> local memory", e->n, e->m);
    else if (e->variant == AEK_WARP)
        snprintf(info->name, sizeof info->name, "warp<%d,%d> %d models/block", e->n, e->m, AEK_WARP_MODELS);
    else
        snprintf(info->name, sizeof info->name, "shared, %d threads/block", info->threads_per_block);
    return cudaCheck(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&info->blocks_per_sm, e->kernel(),
                                                                   info->threads_per_block, bytes),
                     err);
}

/* Groups the slots by kernel (a counting sort into host_order), uploads the order and
 * launches each group's kernel on its part of it. */
extern "C" int aek_train(const aek_batch *bt, const ae_params *host_params, uint32_t *host_order, int variant,
                         cudaStream_t stream, ae_error *err)
{
    uint32_t start[AEK_KERNELS + 1] = {0}, fill[AEK_KERNELS];
    int n_max[AEK_KERNELS] = {0}, m_max[AEK_KERNELS] = {0};
    for (uint32_t s = 0; s < bt->count; s++) {
        const ae_params *p = &host_params[s];
        int k = kernel_for(variant, p, bt->twin_from > 0);
        start[k + 1]++;
        if (p->n > n_max[k]) n_max[k] = p->n;
        if (p->m > m_max[k]) m_max[k] = p->m;
    }
    for (int k = 0; k < AEK_KERNELS; k++) start[k + 1] += start[k], fill[k] = start[k];
    for (uint32_t s = 0; s < bt->count; s++) {
        const ae_params *p = &host_params[s];
        host_order[fill[kernel_for(variant, p, bt->twin_from > 0)]++] = s;
    }
    if (bt->count == 0) return 0;
    if (cudaCheck(cudaMemcpyAsync(bt->order, host_order, bt->count * sizeof(uint32_t), cudaMemcpyHostToDevice,
                                  stream), err))
        return -1;
    for (int k = 0; k < AEK_KERNELS; k++) {
        uint32_t count = start[k + 1] - start[k];
        if (count == 0) continue;
        kernels[k].launch(*bt, bt->order + start[k], count, n_max[k], m_max[k], stream);
        if (cudaCheck(cudaGetLastError(), err)) return -1;
    }
    return 0;
}

extern "C" int aek_probe(ae_error *err)
{
    struct cudaFuncAttributes attr;
    return cudaCheck(cudaFuncGetAttributes(&attr, train_shared), err);
}
