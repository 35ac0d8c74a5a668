/*
 * warp.cuh - the warp-per-model training kernel (kernels/warp.cu): one warp trains one
 * model, for the sizes where one thread's registers cannot hold a model (DESIGN.md §8).
 *
 * Included from CUDA C++ only (kernels/train.cu's dispatch table, kernels/warp.cu).
 *
 * API:
 *   AEK_WARP_LIST(X)            the buckets (NCAP, MCAP): runs with n <= NCAP, m <= MCAP;
 *                               each has an instance per precision, R = float or double
 *   AEK_WARP_MODELS             models (warps) per thread block
 *   aek_warp_shared_bytes(n, m, size)  dynamic shared memory of a block for runs up to
 *                               (n, m) whose values take `size` bytes (sizeof(R))
 *   aek_warp_launch<R, N, M>    launches instance (R, N, M) on `count` runs of `order`
 *   aek_warp_kernel<R, N, M>    the instance's __global__ function (occupancy queries)
 *
 * Layout: lane l owns the features r = l, l + 32, l + 64, ... (NCAP / 32 of them): their
 * W_r, b_r, gradients and optimizer moments live in its registers.  The model's state
 * [W | b] is also kept, in the CPU's layout, in the warp's slice of shared memory, where
 * every lane reads the other features' parameters; it is rewritten after each update.
 * Each lane forms the gradient of its features in exactly the CPU's order of additions,
 * so the result equals ae_train's bit for bit (without FMA contraction), in either
 * precision.  Runs with an intervention and twin batches do not come here (train.cu sends
 * them to AEK_SHARED and AEK_PAIR).
 */
#ifndef AE_WARP_CUH
#define AE_WARP_CUH

#include <stddef.h>
#include <stdint.h>

#include "train.cuh"

#define AEK_WARP_LIST(X) X(32, 2) X(64, 2) X(128, 2) X(256, 2) X(32, 4) X(64, 4) X(128, 4) X(256, 4)
#define AEK_WARP_MODELS 4
#define AEK_WARP_THREADS (32 * AEK_WARP_MODELS)

size_t aek_warp_shared_bytes(int n_max, int m_max, size_t size);

template <typename R, int NCAP, int MCAP>
void aek_warp_launch(const aek_batch &bt, const uint32_t *order, uint32_t count, int n_max, int m_max,
                     cudaStream_t stream);
template <typename R, int NCAP, int MCAP> const void *aek_warp_kernel(void);

#define AEK_WARP_DECLARE_R(R, N, M)                                                                            \
    extern template void aek_warp_launch<R, N, M>(const aek_batch &, const uint32_t *, uint32_t, int, int,    \
                                                  cudaStream_t);                                               \
    extern template const void *aek_warp_kernel<R, N, M>(void);
#define AEK_WARP_DECLARE(N, M) AEK_WARP_DECLARE_R(float, N, M) AEK_WARP_DECLARE_R(double, N, M)
AEK_WARP_LIST(AEK_WARP_DECLARE)
#undef AEK_WARP_DECLARE
#undef AEK_WARP_DECLARE_R

#endif /* AE_WARP_CUH */
