/* m2_f32_avx2.c - ae_cpu_lanes_m2_f32_avx2, the CPU's lane trainer for m = 2 in float32,
 * compiled for AVX2: one instance of include/ae_lanes.inc (cpu_lanes.h). */
#include "cpu_lanes.h"

#if CPU_LANES_X86
#pragma GCC target("avx2")
#define AE_PRECISION 32
#define AE_LANES AE_CPU_LANES
#define AE_M 2
#define AE_NAME(name) name
#include "ae_lanes.inc"

void ae_cpu_lanes_m2_f32_avx2(const ae_params *const *params, const ae_buffers_f32 *buf, ae_track *track)
{
    ae_train(params, buf, track, NULL);
}
#endif
