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

/* kernel<<<blocks, threads, bytes, stream>>>(args) is rewritten to this by emulate.sh.
 * The blocks run one after another; the threads of a block run concurrently, each on
 * its own fiber (runtime.cpp), switching only at the barriers below, so a kernel that
 * reads shared memory before a barrier it needs sees the wrong values. */
int aek_emu_launch_check(unsigned blocks, unsigned threads, size_t bytes);
void aek_emu_run_block(unsigned threads, void (*body)(void *), void *arg);
template <typename F> void aek_emu_launch(unsigned blocks, unsigned threads, size_t bytes, F thread_body)
{
    if (aek_emu_launch_check(blocks, threads, bytes)) return;
    blockDim = {threads, 1, 1};
    for (unsigned b = 0; b < blocks; b++) {
        blockIdx = {b, 0, 0};
        aek_emu_run_block(threads, [](void *body) { (*(F *)body)(); }, &thread_body);
    }
}

/* Warp and block barriers and the warp intrinsics, with CUDA's semantics: every lane of
 * mask must arrive (a lane that exited or waits elsewhere is a deadlock, reported).  A
 * shuffle or vote writes the lane's exchange word, waits at the barrier, reads the words
 * of the others; the words alternate between two per lane, so one barrier suffices (a
 * lane rewrites a word two exchanges later, after every lane passed the one between). */
void aek_emu_barrier(int block_wide, unsigned mask);
int aek_emu_next_exchange(void); /* the calling thread's word (0, 1) for its next exchange */
unsigned long long *aek_emu_lane_word(unsigned thread, int word);
inline void __syncwarp(unsigned mask = 0xffffffffu) { aek_emu_barrier(0, mask); }
inline void __syncthreads() { aek_emu_barrier(1, 0); }
/* v of lane src (of this thread's warp) to every lane of mask */
template <typename T> T __shfl_sync(unsigned mask, T v, int src)
{
    static_assert(sizeof(T) <= sizeof(unsigned long long), "__shfl_sync: 8 bytes at most");
    const int word = aek_emu_next_exchange();
    __builtin_memcpy(aek_emu_lane_word(threadIdx.x, word), &v, sizeof v);
    __syncwarp(mask);
    T out;
    __builtin_memcpy(&out, aek_emu_lane_word(threadIdx.x / 32 * 32 + (unsigned)src % 32, word), sizeof out);
    return out;
}
inline unsigned __ballot_sync(unsigned mask, int predicate)
{
    const int word = aek_emu_next_exchange();
    *aek_emu_lane_word(threadIdx.x, word) = predicate != 0;
    __syncwarp(mask);
    unsigned ballot = 0;
    for (unsigned l = 0; l < 32; l++)
        if (mask >> l & 1 && *aek_emu_lane_word(threadIdx.x / 32 * 32 + l, word)) ballot |= 1u << l;
    return ballot;
}
inline int __any_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) != 0; }
inline int __all_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) == mask; }

#endif
