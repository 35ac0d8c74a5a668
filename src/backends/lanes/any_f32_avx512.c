/* any_f32_avx512.c - ae_cpu_lanes_f32_avx512, the CPU's lane trainer for any m in float32,
 * compiled for AVX-512: one instance of include/ae_lanes.inc (cpu_lanes.h). */
#include "cpu_lanes.h"

#if CPU_LANES_X86
#pragma GCC target("avx512f")
#define AE_PRECISION 32
#define AE_LANES AE_CPU_LANES
#define AE_M 0
#define AE_NAME(name) name
#include "ae_lanes.inc"

void ae_cpu_lanes_f32_avx512(const ae_params *const *params, const ae_buffers_f32 *buf, ae_track *track)
{
    ae_train(params, buf, track, NULL);
}
#endif
