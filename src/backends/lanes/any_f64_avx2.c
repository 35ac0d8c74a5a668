/* any_f64_avx2.c - ae_cpu_lanes_f64_avx2, the CPU's lane trainer for any m in float64,
 * compiled for AVX2: one instance of include/ae_lanes.inc (cpu_lanes.h). */
#include "cpu_lanes.h"

#if CPU_LANES_X86
#pragma GCC target("avx2")
#define AE_PRECISION 64
#define AE_LANES AE_CPU_LANES
#define AE_M 0
#define AE_NAME(name) name
#include "ae_lanes.inc"

void ae_cpu_lanes_f64_avx2(const ae_params *const *params, const ae_buffers_f64 *buf, ae_track *track)
{
    ae_train(params, buf, track, NULL);
}
#endif
