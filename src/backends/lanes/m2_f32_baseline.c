/* m2_f32_baseline.c - ae_cpu_lanes_m2_f32_baseline, the CPU's lane trainer for m = 2 in float32,
 * compiled for the default target (the scalar reference): one instance of
 * include/ae_lanes.inc (cpu_lanes.h). */
#include "cpu_lanes.h"

#define AE_PRECISION 32
#define AE_LANES AE_CPU_LANES
#define AE_M 2
#define AE_NAME(name) name
#include "ae_lanes.inc"

void ae_cpu_lanes_m2_f32_baseline(const ae_params *const *params, const ae_buffers_f32 *buf, ae_track *track)
{
    ae_train(params, buf, track, NULL);
}
