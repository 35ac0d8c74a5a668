/* cuda_runtime.h (emulation): the runtime API plus CUDA C++'s keywords as plain C++. */
#ifndef AE_EMU_CUDA_RUNTIME_H
#define AE_EMU_CUDA_RUNTIME_H

#include "cuda_runtime_api.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__
#define __launch_bounds__(...)
#define __align__(n) /* aek_emu_shared is aligned where runtime.cpp defines it */

struct aek_emu_dim3 {
    unsigned x, y, z;
};
extern aek_emu_dim3 blockIdx, threadIdx, blockDim;
extern unsigned char aek_emu_shared[]; /* one block's dynamic shared memory */
#define smem_bytes aek_emu_shared     /* train.cu's `extern __shared__ unsigned char smem_bytes[]` */
cudaError_t cudaFuncAttributesOf(struct cudaFuncAttributes *attr);
template <typename F> cudaError_t cudaFuncGetAttributes(struct cudaFuncAttributes *attr, F) { return cudaFuncAttributesOf(attr); }

/* kernel<<<blocks, threads, bytes, stream>>>(args) is rewritten to this by emulate.sh */
void aek_emu_launch_check(unsigned blocks, unsigned threads, size_t bytes);
template <typename F> void aek_emu_launch(unsigned blocks, unsigned threads, size_t bytes, F thread_body)
{
    aek_emu_launch_check(blocks, threads, bytes);
    blockDim = {threads, 1, 1};
    for (unsigned b = 0; b < blocks; b++)
        for (unsigned t = 0; t < threads; t++) {
            blockIdx = {b, 0, 0};
            threadIdx = {t, 0, 0};
            thread_body();
        }
}

#endif
