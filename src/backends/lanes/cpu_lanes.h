/*
 * cpu_lanes.h - the CPU backend's lane trainers: ae_lanes.inc compiled once per
 * (m, precision, instruction set), each instance in a file of its own under
 * src/backends/lanes/, named as its function is:
 *
 *   m2_f32_avx2.c    ae_cpu_lanes_m2_f32_avx2    m = 2 (its loops unroll), float32, AVX2
 *   any_f64_avx512.c ae_cpu_lanes_f64_avx512     any m, float64, AVX-512
 *   ...              (m2 | any) x (f32 | f64) x (baseline | avx2 | avx512): twelve
 *
 * A file each because C has no templates: inside its file an instance's functions keep
 * their plain names (ae_train, ae_loss_grad, ae_opt_step), so a debugger breaks on
 * `any_f64_avx512.c:ae_train` and grep finds every trainer by its whole name.  Each trains
 * AE_CPU_LANES runs side by side (ae_backend.h); every set gives the same bits, which the
 * tests check.  The AVX files are empty where GCC's x86 target pragmas are not available.
 */
#ifndef AE_CPU_LANES_H
#define AE_CPU_LANES_H

#include "ae_backend.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CPU_LANES_X86 1
#else
#define CPU_LANES_X86 0
#endif

typedef void (*ae_cpu_lanes_f32)(const ae_params *const *params, const ae_buffers_f32 *buf, ae_track *track);
typedef void (*ae_cpu_lanes_f64)(const ae_params *const *params, const ae_buffers_f64 *buf, ae_track *track);

void ae_cpu_lanes_m2_f32_baseline(const ae_params *const *params, const ae_buffers_f32 *buf, ae_track *track);
void ae_cpu_lanes_f32_baseline(const ae_params *const *params, const ae_buffers_f32 *buf, ae_track *track);
void ae_cpu_lanes_m2_f64_baseline(const ae_params *const *params, const ae_buffers_f64 *buf, ae_track *track);
void ae_cpu_lanes_f64_baseline(const ae_params *const *params, const ae_buffers_f64 *buf, ae_track *track);
#if CPU_LANES_X86
void ae_cpu_lanes_m2_f32_avx2(const ae_params *const *params, const ae_buffers_f32 *buf, ae_track *track);
void ae_cpu_lanes_f32_avx2(const ae_params *const *params, const ae_buffers_f32 *buf, ae_track *track);
void ae_cpu_lanes_m2_f64_avx2(const ae_params *const *params, const ae_buffers_f64 *buf, ae_track *track);
void ae_cpu_lanes_f64_avx2(const ae_params *const *params, const ae_buffers_f64 *buf, ae_track *track);
void ae_cpu_lanes_m2_f32_avx512(const ae_params *const *params, const ae_buffers_f32 *buf, ae_track *track);
void ae_cpu_lanes_f32_avx512(const ae_params *const *params, const ae_buffers_f32 *buf, ae_track *track);
void ae_cpu_lanes_m2_f64_avx512(const ae_params *const *params, const ae_buffers_f64 *buf, ae_track *track);
void ae_cpu_lanes_f64_avx512(const ae_params *const *params, const ae_buffers_f64 *buf, ae_track *track);
#endif

#endif
