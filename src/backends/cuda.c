/*
 * cuda.c - the CUDA backend: host glue around kernels/train.cu.
 *
 * Per train call, in chunks that fit the device: decode every run's settings with
 * ae_grid_run, upload them (one ae_params per run: a whole batch of different settings
 * is one launch per kernel), let the kernels init, train and summarize every run on
 * the device, copy the final states and metrics back and store them in ae_results.
 * Base states (scheme "file") are uploaded once per job.  Buffers grow lazily to the
 * largest chunk seen and are freed in destroy.
 *
 * Every CUDA call goes through cudaCheck (kernels/train.cuh); a failure becomes an
 * ae_error with AE_EXIT_RUNTIME naming the call, file and line.
 */
#include "ae_backend.h"
#include "ae_bench.h"
#include "ae_stability.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train.cuh"

/* Device memory a chunk may take (of what is free), and pinned host memory for staging. */
#define CUDA_DEVICE_FRACTION 0.8
#define CUDA_HOST_STAGING_BYTES ((size_t)2 << 30)
#define CUDA_CHUNK_MAX ((uint64_t)1 << 30) /* kernels index runs with uint32 */

typedef struct {
    int device, variant;
    double kernel_seconds;
    cudaEvent_t start, stop;
    /* per-run buffers for `capacity` runs with the strides below: device and pinned host */
    uint64_t capacity;
    int stride_theta, stride_feature;
    ae_params *d_params, *h_params;
    uint32_t *d_base, *h_base, *d_order, *h_order;
    double *d_theta, *h_theta, *d_recon, *h_recon, *d_norm, *h_norm; /* either precision's values, widened */
    double *d_anchor;                 /* the states at the anchor step, for `frozen` (device only) */
    int64_t *d_learnt, *h_learnt;     /* each feature's learnt_step */
    ae_track *d_track, *h_track;
    ae_summary *d_summary, *h_summary;
    int64_t *h_opt_t0; /* each slot's steps before (init.optimizer_state = "keep"), for aek_train */
    /* with_opt (output.optimizer_state): the final optimizer state, like theta */
    int with_opt;
    double *d_opt_m, *h_opt_m, *d_opt_v, *h_opt_v;
    int64_t *d_opt_step, *h_opt_step;
    /* per job */
    const ae_bases *bases; /* the ones in d_base_W, d_base_b (and d_base_opt_*: "keep") */
    double *d_base_W, *d_base_b, *d_base_opt_m, *d_base_opt_v;
    int64_t *d_base_opt_step;
    int32_t *d_features;
    int features_capacity;
} cuda_backend;

/* Frees and NULLs a device pointer (cudaFree(NULL) is a no-op). */
static int free_device(void *pointer_to_pointer, ae_error *err)
{
    void **p = pointer_to_pointer;
    int rc = cudaCheck(cudaFree(*p), err);
    *p = NULL;
    return rc;
}

static int free_host(void *pointer_to_pointer, ae_error *err)
{
    void **p = pointer_to_pointer;
    int rc = cudaCheck(cudaFreeHost(*p), err);
    *p = NULL;
    return rc;
}

static int free_buffers(cuda_backend *c, ae_error *err)
{
    int rc = 0;
    rc |= free_device(&c->d_params, err), rc |= free_host(&c->h_params, err);
    rc |= free_device(&c->d_base, err), rc |= free_host(&c->h_base, err);
    rc |= free_device(&c->d_order, err), rc |= free_host(&c->h_order, err);
    rc |= free_device(&c->d_theta, err), rc |= free_host(&c->h_theta, err);
    rc |= free_device(&c->d_recon, err), rc |= free_host(&c->h_recon, err);
    rc |= free_device(&c->d_norm, err), rc |= free_host(&c->h_norm, err);
    rc |= free_device(&c->d_anchor, err);
    rc |= free_device(&c->d_learnt, err), rc |= free_host(&c->h_learnt, err);
    rc |= free_device(&c->d_track, err), rc |= free_host(&c->h_track, err);
    rc |= free_device(&c->d_summary, err), rc |= free_host(&c->h_summary, err);
    rc |= free_device(&c->d_opt_m, err), rc |= free_host(&c->h_opt_m, err);
    rc |= free_device(&c->d_opt_v, err), rc |= free_host(&c->h_opt_v, err);
    rc |= free_device(&c->d_opt_step, err), rc |= free_host(&c->h_opt_step, err);
    free(c->h_opt_t0);
    c->h_opt_t0 = NULL;
    c->capacity = 0;
    return rc;
}

/* Bytes of device (and of pinned host) memory one run takes (with_opt: and its optimizer state). */
static size_t bytes_per_run(int stride_theta, int stride_feature, int with_opt)
{
    return sizeof(ae_params) + 2 * sizeof(uint32_t) + sizeof(ae_track) + sizeof(ae_summary) +
           (2 * (size_t)stride_theta + 3 * (size_t)stride_feature) * sizeof(double) + /* anchor; learnt_step */
           (with_opt ? 2 * (size_t)stride_theta * sizeof(double) + sizeof(int64_t) : 0);
}

/* Makes the buffers hold at least min(want, what fits) runs of these strides (with_opt: and
 * their final optimizer state); the capacity it got is c->capacity (>= 1). */
static int ensure_capacity(cuda_backend *c, uint64_t want, int stride_theta, int stride_feature, int with_opt,
                           ae_error *err)
{
    const int same_strides = stride_theta <= c->stride_theta && stride_feature <= c->stride_feature &&
                             with_opt == c->with_opt;
    if (want <= c->capacity && same_strides) return 0;
    if (same_strides && want < 2 * c->capacity) want = 2 * c->capacity; /* grow geometrically */
    if (free_buffers(c, err)) return -1;
    size_t free_bytes = 0, total_bytes = 0;
    if (cudaCheck(cudaMemGetInfo(&free_bytes, &total_bytes), err)) return -1;
    size_t per_run = bytes_per_run(stride_theta, stride_feature, with_opt);
    uint64_t fit = (uint64_t)((double)free_bytes * CUDA_DEVICE_FRACTION) / per_run;
    uint64_t host_fit = CUDA_HOST_STAGING_BYTES / per_run;
    uint64_t n = want;
    if (n > fit) n = fit;
    if (n > host_fit) n = host_fit;
    if (n > CUDA_CHUNK_MAX) n = CUDA_CHUNK_MAX;
    if (n == 0)
        return ae_fail_runtime(err, "CUDA backend: not enough device memory for one run (%zu bytes free)",
                               free_bytes);
    size_t runs = (size_t)n, theta = runs * (size_t)stride_theta, feature = runs * (size_t)stride_feature;
    if (cudaCheck(cudaMalloc((void **)&c->d_params, runs * sizeof(ae_params)), err) ||
        cudaCheck(cudaMalloc((void **)&c->d_base, runs * sizeof(uint32_t)), err) ||
        cudaCheck(cudaMalloc((void **)&c->d_order, runs * sizeof(uint32_t)), err) ||
        cudaCheck(cudaMalloc((void **)&c->d_theta, theta * sizeof(double)), err) ||
        cudaCheck(cudaMalloc((void **)&c->d_recon, feature * sizeof(double)), err) ||
        cudaCheck(cudaMalloc((void **)&c->d_norm, feature * sizeof(double)), err) ||
        cudaCheck(cudaMalloc((void **)&c->d_anchor, theta * sizeof(double)), err) ||
        cudaCheck(cudaMalloc((void **)&c->d_learnt, feature * sizeof(int64_t)), err) ||
        cudaCheck(cudaMalloc((void **)&c->d_track, runs * sizeof(ae_track)), err) ||
        cudaCheck(cudaMalloc((void **)&c->d_summary, runs * sizeof(ae_summary)), err) ||
        cudaCheck(cudaMallocHost((void **)&c->h_params, runs * sizeof(ae_params)), err) ||
        cudaCheck(cudaMallocHost((void **)&c->h_base, runs * sizeof(uint32_t)), err) ||
        cudaCheck(cudaMallocHost((void **)&c->h_order, runs * sizeof(uint32_t)), err) ||
        cudaCheck(cudaMallocHost((void **)&c->h_theta, theta * sizeof(double)), err) ||
        cudaCheck(cudaMallocHost((void **)&c->h_recon, feature * sizeof(double)), err) ||
        cudaCheck(cudaMallocHost((void **)&c->h_norm, feature * sizeof(double)), err) ||
        cudaCheck(cudaMallocHost((void **)&c->h_learnt, feature * sizeof(int64_t)), err) ||
        cudaCheck(cudaMallocHost((void **)&c->h_track, runs * sizeof(ae_track)), err) ||
        cudaCheck(cudaMallocHost((void **)&c->h_summary, runs * sizeof(ae_summary)), err) ||
        (with_opt && (cudaCheck(cudaMalloc((void **)&c->d_opt_m, theta * sizeof(double)), err) ||
                      cudaCheck(cudaMalloc((void **)&c->d_opt_v, theta * sizeof(double)), err) ||
                      cudaCheck(cudaMalloc((void **)&c->d_opt_step, runs * sizeof(int64_t)), err) ||
                      cudaCheck(cudaMallocHost((void **)&c->h_opt_m, theta * sizeof(double)), err) ||
                      cudaCheck(cudaMallocHost((void **)&c->h_opt_v, theta * sizeof(double)), err) ||
                      cudaCheck(cudaMallocHost((void **)&c->h_opt_step, runs * sizeof(int64_t)), err)))) {
        free_buffers(c, NULL); /* the first failure's message stays in err */
        return -1;
    }
    c->h_opt_t0 = ae_xcalloc(runs, sizeof(int64_t));
    c->with_opt = with_opt;
    c->capacity = n;
    c->stride_theta = stride_theta;
    c->stride_feature = stride_feature;
    return 0;
}

/* Base states and the perturbed-feature list of the job, on the device. */
static int upload_job(cuda_backend *c, const ae_job *job, ae_error *err)
{
    const ae_config *cfg = job->cfg;
    if (job->bases != c->bases) {
        if (free_device(&c->d_base_W, err) || free_device(&c->d_base_b, err) || free_device(&c->d_base_opt_m, err) ||
            free_device(&c->d_base_opt_v, err) || free_device(&c->d_base_opt_step, err))
            return -1;
        c->bases = NULL;
        const ae_bases *b = job->bases;
        if (b && b->count > 0) {
            size_t nW = (size_t)b->count * (size_t)b->n * (size_t)b->m, nb = (size_t)b->count * (size_t)b->n;
            if (cudaCheck(cudaMalloc((void **)&c->d_base_W, nW * sizeof(double)), err) ||
                cudaCheck(cudaMalloc((void **)&c->d_base_b, nb * sizeof(double)), err) ||
                cudaCheck(cudaMemcpy(c->d_base_W, b->W, nW * sizeof(double), cudaMemcpyHostToDevice), err) ||
                cudaCheck(cudaMemcpy(c->d_base_b, b->b, nb * sizeof(double), cudaMemcpyHostToDevice), err))
                return -1;
            const size_t nP = nW + nb; /* init.optimizer_state = "keep": moments in theta's layout */
            if (b->opt_m &&
                (cudaCheck(cudaMalloc((void **)&c->d_base_opt_m, nP * sizeof(double)), err) ||
                 cudaCheck(cudaMalloc((void **)&c->d_base_opt_v, nP * sizeof(double)), err) ||
                 cudaCheck(cudaMalloc((void **)&c->d_base_opt_step, (size_t)b->count * sizeof(int64_t)), err) ||
                 cudaCheck(cudaMemcpy(c->d_base_opt_m, b->opt_m, nP * sizeof(double), cudaMemcpyHostToDevice), err) ||
                 cudaCheck(cudaMemcpy(c->d_base_opt_v, b->opt_v, nP * sizeof(double), cudaMemcpyHostToDevice), err) ||
                 cudaCheck(cudaMemcpy(c->d_base_opt_step, b->opt_step, (size_t)b->count * sizeof(int64_t),
                                      cudaMemcpyHostToDevice), err)))
                return -1;
        }
        c->bases = b;
    }
    int nf = cfg->perturb_kind == AE_PERTURB_LIST ? cfg->n_perturb_features : 0;
    if (nf > c->features_capacity) {
        if (free_device(&c->d_features, err) ||
            cudaCheck(cudaMalloc((void **)&c->d_features, (size_t)nf * sizeof(int32_t)), err))
            return -1;
        c->features_capacity = nf;
    }
    if (nf > 0 && cudaCheck(cudaMemcpy(c->d_features, cfg->perturb_features, (size_t)nf * sizeof(int32_t),
                                       cudaMemcpyHostToDevice), err))
        return -1;
    return 0;
}

/* Settings of runs first .. first+count-1 into h_params, their base states into h_base
 * (twins: behind them, the twins' settings, ae_twin_params); fails on the first run the buffers cannot take.  With
 * OpenMP on all cores, so the host keeps up with the device on short runs. */
static int decode_chunk(cuda_backend *c, const ae_job *job, uint64_t first, uint64_t count, int twins,
                        ae_error *err)
{
    const ae_bases *bases = job->bases;
    const int64_t runs = (int64_t)count;
    int64_t bad = runs; /* the first run whose settings the buffers cannot take */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) reduction(min : bad) if (runs > 4096)
#endif
    for (int64_t r = 0; r < runs; r++) {
        uint64_t base;
        ae_params *p = &c->h_params[r];
        ae_grid_run(job->grid, first + (uint64_t)r, p, &base);
        int ok = p->n >= AE_N_MIN && p->n <= AE_N_MAX && p->m >= AE_M_MIN && p->m <= AE_M_MAX &&
                 p->n * p->m + p->n <= c->stride_theta && p->n <= c->stride_feature;
        if (p->scheme == AE_INIT_FILE)
            ok = ok && bases && base < bases->count && bases->n == p->n && bases->m == p->m;
        if (!ok && r < bad) bad = r;
        c->h_base[r] = (uint32_t)base;
        c->h_opt_t0[r] = ok && bases && bases->opt_step ? bases->opt_step[base] : 0;
    }
    if (bad < runs) {
        const ae_params *p = &c->h_params[bad];
        return ae_fail_runtime(err, "CUDA backend: run %llu (n=%d, m=%d) does not fit the grid's n_max=%d, "
                               "m_max=%d or has no base state of its size",
                               (unsigned long long)(first + (uint64_t)bad), p->n, p->m, job->grid->n_max,
                               job->grid->m_max);
    }
    if (twins) {
        memcpy(c->h_params + count, c->h_params, count * sizeof(ae_params));
        memcpy(c->h_base + count, c->h_base, count * sizeof(uint32_t));
        memcpy(c->h_opt_t0 + count, c->h_opt_t0, count * sizeof(int64_t));
        for (uint64_t r = 0; r < count; r++) ae_twin_params(job->cfg, &c->h_params[count + r]);
    }
    return 0;
}

/* The device arrays of a chunk of `slots` slots; twin_from > 0: slots from there on
 * are the twins of the slots before. */
static aek_batch chunk_batch(const cuda_backend *c, const ae_job *job, uint64_t slots, uint64_t twin_from)
{
    const ae_config *cfg = job->cfg;
    const ae_bases *bases = job->bases;
    return (aek_batch){
        .count = (uint32_t)slots,
        .params = c->d_params,
        .base = c->d_base,
        .base_W = c->d_base_W,
        .base_b = c->d_base_b,
        .base_n = bases ? bases->n : 0,
        .base_m = bases ? bases->m : 0,
        .base_opt_m = c->d_base_opt_m,
        .base_opt_v = c->d_base_opt_v,
        .base_opt_step = c->d_base_opt_step,
        .perturb_kind = (int32_t)cfg->perturb_kind,
        .n_perturb_features = cfg->perturb_kind == AE_PERTURB_LIST ? cfg->n_perturb_features : 0,
        .perturb_features = c->d_features,
        .stride_theta = c->stride_theta,
        .stride_feature = c->stride_feature,
        .twin_from = (uint32_t)twin_from,
        .twin_perturb = cfg->twin_setting == NULL,
        .order = c->d_order,
        .theta = c->d_theta,
        .track = c->d_track,
        .summary = c->d_summary,
        .recon = c->d_recon,
        .norm = c->d_norm,
        .anchor = c->d_anchor,
        .learnt_step = c->d_learnt,
        .opt_m = c->d_opt_m, /* NULL unless output.optimizer_state */
        .opt_v = c->d_opt_v,
        .opt_step = c->d_opt_step,
    };
}

/* Uploads the settings, trains every slot of bt and brings the outputs back into the
 * pinned host buffers; adds the kernels' time to c->kernel_seconds.  Every slot's
 * summary starts with outcome -1, which marks a slot no kernel wrote. */
static int train_on_device(cuda_backend *c, const aek_batch *bt, ae_error *err)
{
    size_t runs = bt->count, theta = runs * (size_t)c->stride_theta, feature = runs * (size_t)c->stride_feature;
    float ms = 0;
    if (cudaCheck(cudaMemcpyAsync(c->d_params, c->h_params, runs * sizeof(ae_params), cudaMemcpyHostToDevice, 0), err) ||
        cudaCheck(cudaMemcpyAsync(c->d_base, c->h_base, runs * sizeof(uint32_t), cudaMemcpyHostToDevice, 0), err) ||
        cudaCheck(cudaMemsetAsync(c->d_summary, 0xff, runs * sizeof(ae_summary), 0), err) ||
        cudaCheck(cudaEventRecord(c->start, 0), err) ||
        aek_train(bt, c->h_params, c->h_opt_t0, c->h_order, c->variant, 0, err) ||
        cudaCheck(cudaEventRecord(c->stop, 0), err) ||
        cudaCheck(cudaMemcpyAsync(c->h_theta, c->d_theta, theta * sizeof(double), cudaMemcpyDeviceToHost, 0), err) ||
        cudaCheck(cudaMemcpyAsync(c->h_recon, c->d_recon, feature * sizeof(double), cudaMemcpyDeviceToHost, 0), err) ||
        cudaCheck(cudaMemcpyAsync(c->h_norm, c->d_norm, feature * sizeof(double), cudaMemcpyDeviceToHost, 0), err) ||
        cudaCheck(cudaMemcpyAsync(c->h_learnt, c->d_learnt, feature * sizeof(int64_t), cudaMemcpyDeviceToHost, 0), err) ||
        cudaCheck(cudaMemcpyAsync(c->h_track, c->d_track, runs * sizeof(ae_track), cudaMemcpyDeviceToHost, 0), err) ||
        cudaCheck(cudaMemcpyAsync(c->h_summary, c->d_summary, runs * sizeof(ae_summary), cudaMemcpyDeviceToHost,
                                  0), err) ||
        (c->with_opt &&
         (cudaCheck(cudaMemcpyAsync(c->h_opt_m, c->d_opt_m, theta * sizeof(double), cudaMemcpyDeviceToHost, 0), err) ||
          cudaCheck(cudaMemcpyAsync(c->h_opt_v, c->d_opt_v, theta * sizeof(double), cudaMemcpyDeviceToHost, 0), err) ||
          cudaCheck(cudaMemcpyAsync(c->h_opt_step, c->d_opt_step, runs * sizeof(int64_t), cudaMemcpyDeviceToHost, 0),
                    err))) ||
        cudaCheck(cudaStreamSynchronize(0), err) || cudaCheck(cudaEventElapsedTime(&ms, c->start, c->stop), err))
        return -1;
    c->kernel_seconds += ms * 1e-3;
    return 0;
}

static int trained(const ae_summary *sum) { return sum->outcome >= 0 && sum->outcome < AE_OUTCOME_COUNT; }

/* Device slot r's final optimizer state into res slot `slot` (ae_store_opt). */
static void store_opt(const cuda_backend *c, ae_results *res, uint64_t slot, const ae_params *p, int64_t r)
{
    ae_opt_state opt;
    const int P = p->n * p->m + p->n;
    opt.step = c->h_opt_step[r];
    opt.optimizer = p->optimizer;
    for (int e = 0; e < P; e++)
        opt.m[e] = c->h_opt_m[r * c->stride_theta + e], opt.v[e] = c->h_opt_v[r * c->stride_theta + e];
    ae_store_opt(res, slot, p, &opt);
}

/* Stores the count runs of a trained chunk (and their twins) into res slots
 * slot0 .. slot0+count-1; fails on a run a kernel left untrained. */
static int store_chunk(const cuda_backend *c, const ae_job *job, uint64_t first, uint64_t count, uint64_t slot0,
                       int twins, ae_results *res, ae_error *err)
{
    const int64_t runs = (int64_t)count;
    int64_t untrained = runs;
    int stability = 0; /* some run computes its stability (ae_store_run): ~0.1 ms each, worth threads */
    for (int64_t r = 0; r < runs && !stability; r++) stability = ae_stability_wanted(&c->h_params[r]);
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 64) reduction(min : untrained) if (runs > 4096 || (stability && runs > 1))
#endif
    for (int64_t r = 0; r < runs; r++) {
        const ae_params *p = &c->h_params[r];
        const ae_summary *sum = &c->h_summary[r];
        if (!trained(sum) || !trained(&c->h_summary[r + (twins ? runs : 0)])) {
            if (r < untrained) untrained = r;
            continue;
        }
        const double *theta_r = c->h_theta + r * c->stride_theta;
        ae_store_run(res, slot0 + (uint64_t)r, p, theta_r, &c->h_track[r], sum, c->h_recon + r * c->stride_feature,
                     c->h_norm + r * c->stride_feature, c->h_learnt + r * c->stride_feature);
        if (c->with_opt) store_opt(c, res, slot0 + (uint64_t)r, p, r);
        if (twins)
            ae_record_twin(res, slot0 + (uint64_t)r, job->cfg, p, theta_r, &c->h_track[r],
                           c->h_theta + (runs + r) * c->stride_theta, &c->h_summary[runs + r]);
    }
    if (untrained < runs)
        return ae_fail_runtime(err, "CUDA backend: internal error: run %llu was not trained",
                               (unsigned long long)(first + (uint64_t)untrained));
    return 0;
}

/* Trains runs first .. first+count-1 (one chunk that fits the buffers) into res slots
 * slot0 .. slot0+count-1.  With twins (twin.eps), device slot count+r is the twin of
 * run r, trained beside it by the same thread. */
static int train_chunk(cuda_backend *c, const ae_job *job, uint64_t first, uint64_t count, uint64_t slot0,
                       ae_results *res, ae_error *err)
{
    const int twins = job->cfg->twin_enabled != 0;
    const aek_batch bt = chunk_batch(c, job, count * (uint64_t)(1 + twins), twins ? count : 0);
    if (decode_chunk(c, job, first, count, twins, err) || train_on_device(c, &bt, err)) return -1;
    return store_chunk(c, job, first, count, slot0, twins, res, err);
}

static int cuda_train(ae_backend *backend, const ae_job *job, uint64_t first, uint64_t count, ae_results *res,
                      ae_error *err)
{
    cuda_backend *c = backend->impl;
    const int n_max = job->grid->n_max, m_max = job->grid->m_max;
    c->kernel_seconds = 0;
    if (count == 0) return 0;
    if (count > res->capacity || n_max > res->n_max || m_max > res->m_max)
        return ae_fail_runtime(err, "CUDA backend: results hold %llu runs of n_max=%d, m_max=%d; asked for %llu",
                               (unsigned long long)res->capacity, res->n_max, res->m_max, (unsigned long long)count);
    const uint64_t per_run = job->cfg->twin_enabled ? 2 : 1; /* device slots per run */
    if (upload_job(c, job, err) ||
        ensure_capacity(c, count * per_run, n_max * m_max + n_max, n_max, res->optimizer_state, err))
        return -1;
    if (c->capacity < per_run) return ae_fail_runtime(err, "CUDA backend: not enough device memory for a run and its twin");
    for (uint64_t done = 0; done < count;) {
        uint64_t chunk = count - done < c->capacity / per_run ? count - done : c->capacity / per_run;
        if (train_chunk(c, job, first + done, chunk, done, res, err)) return -1;
        done += chunk;
    }
    return 0;
}

static void cuda_destroy(ae_backend *backend)
{
    if (!backend) return;
    cuda_backend *c = backend->impl;
    if (c) {
        /* errors here have nowhere to go; the process is ending or moving on */
        free_buffers(c, NULL);
        free_device(&c->d_base_W, NULL);
        free_device(&c->d_base_b, NULL);
        free_device(&c->d_base_opt_m, NULL);
        free_device(&c->d_base_opt_v, NULL);
        free_device(&c->d_base_opt_step, NULL);
        free_device(&c->d_features, NULL);
        if (c->start) cudaCheck(cudaEventDestroy(c->start), NULL);
        if (c->stop) cudaCheck(cudaEventDestroy(c->stop), NULL);
        free(c);
    }
    free(backend);
}

ae_backend *ae_backend_cuda_create(const ae_backend_options *opt, ae_error *err)
{
    int devices = 0;
    ae_error cause;
    if (cudaCheck(cudaGetDeviceCount(&devices), &cause)) {
        ae_fail_runtime(err, "no usable CUDA device: %s", cause.msg);
        return NULL;
    }
    if (devices == 0) {
        ae_fail_runtime(err, "no CUDA device found (cudaGetDeviceCount reports 0)");
        return NULL;
    }
    int variant = opt->cuda_kernel < 0 ? AEK_DEFAULT_VARIANT : opt->cuda_kernel;
    if (variant >= AEK_VARIANTS) {
        ae_fail(err, "--kernel %d: expects a kernel variant 0..%d", variant, AEK_VARIANTS - 1);
        return NULL;
    }
    /* --device k (the MPI build gives each rank of a node its node rank): device k modulo
     * the count, so ranks beyond the GPUs share them round-robin; else the first one */
    int device = opt->cuda_device < 0 ? 0 : opt->cuda_device % devices;
    struct cudaDeviceProp prop;
    if (cudaCheck(cudaSetDevice(device), err) || cudaCheck(cudaGetDeviceProperties(&prop, device), err))
        return NULL;
    if (aek_probe(&cause)) {
        ae_fail_runtime(err, "the CUDA kernels cannot run on %s (compute capability %d.%d; built for sm_90): %s",
                        prop.name, prop.major, prop.minor, cause.msg);
        return NULL;
    }
    cuda_backend *c = ae_xcalloc(1, sizeof *c);
    c->device = device;
    c->variant = variant;
    ae_backend *backend = ae_xcalloc(1, sizeof *backend);
    backend->impl = c;
    backend->train = cuda_train;
    backend->destroy = cuda_destroy;
    if (cudaCheck(cudaEventCreate(&c->start), err) || cudaCheck(cudaEventCreate(&c->stop), err)) {
        cuda_destroy(backend);
        return NULL;
    }
    snprintf(backend->name, sizeof backend->name, "cuda");
    snprintf(backend->device, sizeof backend->device, "%s", prop.name);
    return backend;
}

/* ------------------------------------------------------------------------ */
/* Extras for `aesweep bench` (ae_bench.h)                                    */
/* ------------------------------------------------------------------------ */

/* FP32 lanes per SM by architecture: 64 on sm_60, sm_70, sm_75 and sm_80 (A100),
 * 128 on sm_61, sm_86, sm_89, sm_90 (H100, H200) and newer. */
static int fp32_lanes_per_sm(int major, int minor)
{
    if (major >= 9) return 128;
    if (major == 8) return minor == 0 ? 64 : 128;
    if (major == 7) return 64;
    if (major == 6) return minor == 0 ? 64 : 128;
    return 128;
}

/* FP64 lanes per SM: 64 on sm_90 (H100, H200), 32 on the other data-centre parts (sm_60,
 * sm_70, sm_80); the others run FP64 at 1/64 of their FP32 rate. */
static int fp64_lanes_per_sm(int major, int minor)
{
    if (major == 9 && minor == 0) return 64;
    if (minor == 0 && (major == 6 || major == 7 || major == 8)) return 32;
    return fp32_lanes_per_sm(major, minor) / 64;
}

double ae_cuda_peak_flops(const ae_backend *backend, int fp64, char *how, size_t how_size)
{
    const cuda_backend *c = backend->impl;
    int sms = 0, khz = 0, major = 0, minor = 0;
    /* cudaDeviceProp.clockRate is gone in CUDA 13: the attribute gives the peak clock */
    ae_error err;
    if (cudaCheck(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, c->device), &err) ||
        cudaCheck(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, c->device), &err) ||
        cudaCheck(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, c->device), &err) ||
        cudaCheck(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, c->device), &err)) {
        snprintf(how, how_size, "unknown: %s", err.msg);
        return 0;
    }
    int lanes = fp64 ? fp64_lanes_per_sm(major, minor) : fp32_lanes_per_sm(major, minor);
    snprintf(how, how_size, "%d SMs x %d FP%d lanes x 2 (FMA) x %.0f MHz (cudaDevAttrClockRate, sm_%d%d)", sms,
             lanes, fp64 ? 64 : 32, khz * 1e-3, major, minor);
    return (double)sms * lanes * 2.0 * khz * 1e3;
}

int ae_cuda_kernel_for(const ae_backend *backend, int precision, int n, int m, char *name, size_t name_size,
                       uint64_t *resident)
{
    const cuda_backend *c = backend->impl;
    aek_kernel_info info;
    int sms = 0;
    *resident = 0;
    ae_error err = {{0}, 0};
    if (aek_kernel_for(c->variant, precision, n, m, &info, &err) ||
        cudaCheck(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, c->device), &err)) {
        snprintf(name, name_size, "unknown (%s)", err.msg);
        return -1;
    }
    snprintf(name, name_size, "%s", info.name);
    *resident = (uint64_t)sms * (uint64_t)info.blocks_per_sm * (uint64_t)info.runs_per_block;
    return 0;
}

double ae_cuda_kernel_seconds(const ae_backend *backend) { return ((const cuda_backend *)backend->impl)->kernel_seconds; }

int ae_cuda_set_kernel(ae_backend *backend, int variant)
{
    if (variant < 0 || variant >= AEK_VARIANTS) return -1;
    ((cuda_backend *)backend->impl)->variant = variant;
    return 0;
}

const char *ae_cuda_kernel_name(int variant) { return aek_kernel_name(variant); }
