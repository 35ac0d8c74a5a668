/*
 * ae_backend.h - what a backend is: something that trains a contiguous slice of the
 * grid's runs and fills an ae_results with their end-of-run records (ae_job.h).
 *
 * API:
 *   ae_backend                   name, device, train(first, count), destroy
 *   ae_backend_options           how the command line asks for a backend (filled in main)
 *   ae_backend_cpu_create        the CPU backend (src/backends/cpu.c)
 *   ae_backend_cuda_create       the CUDA backend (kernels/, src/backends/cuda.c; built with nvcc)
 *   ae_backend_select            --backend auto|cpu|cuda (src/backends/select.c)
 *   ae_backend_option            parses --backend, --threads, --isa, --device, --kernel
 */
#ifndef AE_BACKEND_H
#define AE_BACKEND_H

#include "ae_job.h"

typedef struct ae_backend ae_backend;
struct ae_backend {
    char name[16];      /* "cpu" or "cuda" */
    char device[256];   /* what it runs on, for the output's provenance */
    void *impl;
    /* Trains runs first .. first+count-1 into res slots 0 .. count-1. */
    int (*train)(ae_backend *backend, const ae_job *job, uint64_t first, uint64_t count,
                 ae_results *res, ae_error *err);
    void (*destroy)(ae_backend *backend);
};

/* CPU instruction sets the lane code is compiled for (src/backends/cpu.c). */
typedef enum { AE_ISA_AUTO = 0, AE_ISA_BASELINE = 1, AE_ISA_AVX2 = 2, AE_ISA_AVX512 = 3 } ae_cpu_isa;
extern const char *const ae_cpu_isa_names[4]; /* "auto", "baseline", "avx2", "avx512" */

/* Runs the CPU backend trains side by side in SIMD lanes: 16 floats fill an AVX-512 register. */
#define AE_CPU_LANES 16
/* The CPU backend's own lane trainers of instruction set isa (AE_ISA_AUTO: the widest here),
 * on AE_CPU_LANES runs that share n, m, the optimizer and the steps (ae_train of
 * ae_loop.inc; the unit tests hold them against each run trained alone).  Returns the set
 * used, or -1 and err when this CPU or build lacks it. */
int ae_cpu_train_lanes_f32(int isa, const ae_params *const *lanes, const ae_buffers_f32 *buf, ae_track *track,
                           ae_error *err);
int ae_cpu_train_lanes_f64(int isa, const ae_params *const *lanes, const ae_buffers_f64 *buf, ae_track *track,
                           ae_error *err);

/* How to make a backend: filled once from the command line and passed down. */
typedef struct {
    const char *name; /* --backend: "auto", "cpu" or "cuda" */
    int threads;      /* --threads: CPU threads, 0: all cores */
    int cpu_isa;      /* --isa: ae_cpu_isa; AUTO: the widest this CPU runs */
    int cuda_device;  /* --device: CUDA device number (modulo the count), -1: the first */
    int cuda_kernel;  /* --kernel: CUDA kernel variant (kernels/train.cuh), -1: the default */
    int quiet;        /* no note when auto falls back to the CPU */
} ae_backend_options;

#define AE_BACKEND_OPTIONS_DEFAULT {"auto", 0, AE_ISA_AUTO, -1, -1, 0}

/* One backend option of the command line, arg with its value: 1 when it was one (both
 * used), 0 when arg is no backend option, -1 (err, usage) when its value is wrong. */
int ae_backend_option(const char *arg, const char *value, ae_backend_options *opt, ae_error *err);

/* NULL and err when the instruction set asked for is not in this CPU or this build. */
ae_backend *ae_backend_cpu_create(const ae_backend_options *opt, ae_error *err);
int ae_cpu_threads(int requested); /* what threads 0 means here */
/* NULL and err when no CUDA device can be used (or the binary was built without CUDA). */
ae_backend *ae_backend_cuda_create(const ae_backend_options *opt, ae_error *err);
/* opt->name: "auto", "cpu" or "cuda"; auto falls back to the CPU with a note on stderr. */
ae_backend *ae_backend_select(const ae_backend_options *opt, ae_error *err);

#endif
