/*
 * train.cuh - the CUDA training kernels of aesweep and their host launchers.
 *
 * Included from C (src/backends/cuda.c, tests/gpu/) and from CUDA C++ (kernels/train.cu),
 * so everything here is plain C with extern "C" linkage.
 *
 * API:
 *   cudaCheck(call, err)   checks one CUDA runtime call: -1 on failure, the message in err
 *   aek_batch              device arrays of one batch of runs (inputs and per-run outputs)
 *   aek_init(bt)           initial states only: theta = ae_init_state + ae_perturb (tests)
 *   aek_train(bt, ...)     init, train, summarize every run of the batch on the device
 *   aek_kernel_name(v)     what kernel variant v is
 *   aek_has_fixed(n, m)    whether variant AEK_FIXED has a compiled float32 instance for (n, m)
 *   aek_kernel_for(v, precision, n, m, info)  the kernel instance variant v runs for (n, m)
 *                          in that model.precision: its name, block size and resident
 *                          blocks per SM (aesweep bench)
 *
 * Kernel variants (AEK_*), benchmarked side by side with `aesweep bench --kernel 0,1,2,3`
 * (`aesweep run --kernel k` picks one):
 *   0 AEK_SHARED  one model per thread; runtime n, m; the four P-value arrays of ae_train
 *                 in shared memory.  Any n <= 256, m <= 4: the correctness path.
 *   1 AEK_FIXED   the default: one model per thread with n, m compile-time constants
 *                 (instances in train.cu, m = 2 design point first): the inlined header
 *                 loops unroll and W, b, the gradient and the Adam moments live in
 *                 registers.  Other (n, m) go to 3 (the pick rule, train.cu), runs with an
 *                 intervention (its indexing is dynamic) to 0.  float64 instances: m = 2,
 *                 n <= 8 (train.cu, AEK_FIXED_F64_LIST); other float64 sizes go to 3 too.
 *   2 AEK_LOCAL   one model per thread; runtime n, m; arrays in per-thread local memory
 *                 sized by a compile-time bucket (n <= 8, 16, 32, 64, 256; m <= 2, 4).
 *   3 AEK_WARP    one model per warp (kernels/warp.cu), buckets n <= 32, 64, 128, 256 and
 *                 m <= 2, 4, each in float32 and float64; runs with an intervention go to 0.
 * Runs with twins (twin.eps) take AEK_PAIR under every variant: one thread trains a run
 * and its twin in lockstep as the two lanes of an ae_lanes.inc instance (local memory,
 * the buckets of AEK_LOCAL), so state twins can be renormalised as they go.
 * The one-model-per-thread variants call the header's ae_init_state, ae_perturb, ae_train
 * and ae_summarize: they differ only in where the arrays live and in what the compiler
 * knows about n, m.  The warp variant calls the header's per-element step functions.
 * Every variant is a template on the state's type too (float, double), whose instances
 * call the header's _f32 or _f64 functions: a run goes to the instance of its
 * model.precision.  Outputs are double for both (float32 values widened).
 */
#ifndef AE_TRAIN_CUH
#define AE_TRAIN_CUH

#include <stdint.h>
#include <cuda_runtime_api.h>
#include "ae_model.h"
#include "ae_util.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { AEK_SHARED = 0, AEK_FIXED = 1, AEK_LOCAL = 2, AEK_WARP = 3, AEK_VARIANTS = 4 };
#define AEK_DEFAULT_VARIANT AEK_FIXED

/* Evaluates a CUDA runtime call once; 0 when it succeeded, else -1 with the call's text,
 * file, line and CUDA's message in err (a runtime error; err may be NULL). */
#define cudaCheck(call, err) aek_check((call), #call, __FILE__, __LINE__, (err))
int aek_check(cudaError_t code, const char *call, const char *file, int line, ae_error *err);

/* A slot's table of Adam's corrections: entries bias[offset .. offset + last]. */
typedef struct {
    uint32_t offset;
    int32_t last;
} aek_bias_ref;

/* One batch on the device.  Slots 0..count-1; every pointer is device memory. */
typedef struct {
    uint32_t count;
    const ae_params *params;         /* [count] settings of each run (ae_grid_run) */
    const uint32_t *base;            /* [count] base state of each run; NULL unless scheme file */
    const double *base_W, *base_b;   /* all base states, base_n*base_m and base_n values each */
    int32_t base_n, base_m;
    /* init.optimizer_state = "keep": each base state's optimizer state, in the layout of
       theta (base_n*base_m + base_n values each), and its steps; NULL: every run starts afresh */
    const double *base_opt_m, *base_opt_v;
    const int64_t *base_opt_step;
    int32_t perturb_kind;            /* ae_perturb_kind */
    int32_t n_perturb_features;
    const int32_t *perturb_features; /* AE_PERTURB_LIST: feature indices */
    int32_t stride_theta;            /* values per slot of theta, >= n*m + n of every run */
    int32_t stride_feature;          /* values per slot of recon and norm, >= n of every run */
    uint32_t twin_from;              /* > 0: slots >= twin_from are twins of slot - twin_from,
                                        trained beside it by the same thread (AEK_PAIR); 0: none */
    int32_t twin_perturb;            /* twins: state twins (ae_twin_perturb at start, renormalised
                                        every twin_renorm_every steps); 0: setting twins */
    uint32_t *order;                 /* [count] scratch: slots grouped by kernel (aek_train) */
    /* set by aek_train on its copy (callers leave them 0): Adam's corrections (ae_bias_table)
       of each (beta1, beta2) of the batch, one table after the other, and each slot's table */
    const ae_bias *bias;
    const aek_bias_ref *bias_of;     /* [count] */
    /* outputs */
    double *theta;                   /* [count][stride_theta] final [W | b] (aek_init: initial) */
    ae_track *track;                 /* [count] */
    ae_summary *summary;             /* [count] */
    double *recon, *norm;            /* [count][stride_feature] */
    int64_t *learnt_step;            /* [count][stride_feature] each feature's escape time (ae_track) */
    double *anchor;                  /* [count][stride_theta] scratch: the state at the anchor step,
                                        which `frozen` compares the end state with (ae_track_step) */
    /* output.optimizer_state: the final moments [count][stride_theta] and steps [count];
       NULL: not wanted */
    double *opt_m, *opt_v;
    int64_t *opt_step;
} aek_batch;

/* Initial state of every slot into bt->theta.  0, or -1 (err). */
int aek_init(const aek_batch *bt, cudaStream_t stream, ae_error *err);

/* Trains every slot of the batch and writes its outputs.  host_params: the same
 * [count] settings in host memory (the kernels are chosen per run by n, m); host_opt_step:
 * [count] steps each slot's optimizer took before (init.optimizer_state = "keep": the tables
 * of Adam's corrections must reach on to t0 + steps), or NULL: all 0;
 * host_order: [count] host scratch for the slots grouped by kernel.  Everything,
 * the upload of host_order included, is asynchronous on stream: when host_order is
 * pinned memory its copy may still be in flight on return, so host_order must not
 * change until the stream has passed it.  0, or -1 (err). */
int aek_train(const aek_batch *bt, const ae_params *host_params, const int64_t *host_opt_step, uint32_t *host_order,
              int variant, cudaStream_t stream, ae_error *err);

const char *aek_kernel_name(int variant);
int aek_has_fixed(int n, int m);

/* The kernel instance that aek_train launches for runs of size (n, m) (no intervention)
 * in `precision` (ae_precision) under `variant`, as the dispatch picks it: "fixed<7,2>
 * registers", "local<64,2> local memory", "shared, 15 threads/block", "warp<64,2> 4
 * models/block", with ", float64" after the float64 instances.  0, or -1 (err). */
typedef struct {
    char name[64];
    int threads_per_block;
    int runs_per_block; /* threads_per_block, or models per block of the warp kernel */
    int blocks_per_sm; /* resident on one SM at once (the occupancy calculator) */
} aek_kernel_info;
int aek_kernel_for(int variant, int precision, int n, int m, aek_kernel_info *info, ae_error *err);

/* Fails (-1, err) when the kernels cannot run on the current device, e.g. no image for
 * its architecture. */
int aek_probe(ae_error *err);

#ifdef __cplusplus
}
#endif

#endif /* AE_TRAIN_CUH */
