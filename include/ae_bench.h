/*
 * ae_bench.h - `aesweep bench`: model-steps per second and the fraction of the device's
 * FP32 peak the useful flops reach, for each backend.
 *
 * API:
 *   ae_bench_main(argc, argv)        the command (argv: the arguments after "bench")
 *   ae_flops_per_step(n, m, params)  useful flops of one training step, counted analytically
 *   ae_cpu_peak_flops(how, size)     FP32 peak of this machine's CPU cores
 *   ae_cuda_*                        CUDA backend extras (src/backends/cuda.c, AE_HAVE_CUDA only)
 */
#ifndef AE_BENCH_H
#define AE_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "ae_backend.h"

int ae_bench_main(int argc, char **argv);

double ae_flops_per_step(int n, int m, const ae_params *params);

/* Cores x SIMD lanes x 2 (FMA) x clock; how: what it was read from, for the report. */
double ae_cpu_peak_flops(char *how, size_t how_size);

#ifdef AE_HAVE_CUDA
/* SMs x FP32 (fp64: FP64) lanes per SM x 2 (FMA) x clock of the backend's device. */
double ae_cuda_peak_flops(const ae_backend *backend, int fp64, char *how, size_t how_size);
/* The kernel instance the backend's variant runs for (n, m) runs of `precision`
 * (ae_precision), named into name, and how many such runs the device holds at once (SMs
 * x resident blocks x runs per block): one wave.  0, or -1 (name says why, *resident = 0). */
int ae_cuda_kernel_for(const ae_backend *backend, int precision, int n, int m, char *name, size_t name_size,
                       uint64_t *resident);
/* Device time of the kernels of the backend's last train call (CUDA events), seconds. */
double ae_cuda_kernel_seconds(const ae_backend *backend);
/* Kernel variant (AEK_SHARED, AEK_FIXED, AEK_LOCAL of kernels/train.cuh); -1 if invalid. */
int ae_cuda_set_kernel(ae_backend *backend, int variant);
const char *ae_cuda_kernel_name(int variant);
#endif

#endif
