/* runtime.cpp (emulation) - the CUDA runtime calls of cuda_runtime_api.h on the host.
 * "Device" allocations start as 0xff bytes (NaN floats), so a kernel that reads what
 * nobody wrote shows it.  AEK_EMU_FREE_BYTES sets the free "device" memory (default
 * 1 GiB), to exercise the backend's chunking. */
#include <chrono>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_runtime.h"

aek_emu_dim3 blockIdx, threadIdx, blockDim;
alignas(16) unsigned char aek_emu_shared[48 * 1024];
static cudaError_t last_error = cudaSuccess;

struct aek_emu_event {
    double seconds;
};

static double now_seconds()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void aek_emu_launch_check(unsigned blocks, unsigned threads, size_t bytes)
{
    if (blocks == 0 || threads == 0 || threads > 1024 || bytes > sizeof aek_emu_shared) {
        fprintf(stderr, "emulated launch: invalid configuration %u blocks x %u threads, %zu bytes\n", blocks,
                threads, bytes);
        last_error = cudaErrorInvalidValue;
    }
}

cudaError_t cudaFuncAttributesOf(struct cudaFuncAttributes *attr)
{
    attr->numRegs = 0;
    return cudaSuccess;
}

extern "C" {
cudaError_t cudaGetDeviceCount(int *count) { return *count = 1, cudaSuccess; }
cudaError_t cudaSetDevice(int) { return cudaSuccess; }
cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int)
{
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "CPU emulation of a CUDA device");
    prop->major = 9, prop->minor = 0, prop->multiProcessorCount = 1;
    return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int)
{
    *value = attr == cudaDevAttrClockRate ? 1000000 : attr == cudaDevAttrComputeCapabilityMajor ? 9 : attr == cudaDevAttrMultiProcessorCount ? 1 : 0;
    return cudaSuccess;
}
/* An SM of the emulated device: 2048 threads, 228 KiB of shared memory. */
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int *blocks, const void *, int threads, size_t shared_bytes)
{
    if (threads < 1) return cudaErrorInvalidValue;
    int by_threads = 2048 / threads, by_shared = shared_bytes ? (int)((228u << 10) / shared_bytes) : by_threads;
    *blocks = by_threads < by_shared ? by_threads : by_shared;
    return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes)
{
    const char *text = getenv("AEK_EMU_FREE_BYTES");
    *free_bytes = text ? (size_t)strtoull(text, NULL, 10) : (size_t)1 << 30;
    *total_bytes = *free_bytes;
    return cudaSuccess;
}
cudaError_t cudaMalloc(void **ptr, size_t bytes)
{
    *ptr = malloc(bytes ? bytes : 1);
    if (!*ptr) return cudaErrorMemoryAllocation;
    memset(*ptr, 0xff, bytes);
    return cudaSuccess;
}
cudaError_t cudaMallocHost(void **ptr, size_t bytes) { return cudaMalloc(ptr, bytes); }
cudaError_t cudaFree(void *ptr) { return free(ptr), cudaSuccess; }
cudaError_t cudaFreeHost(void *ptr) { return free(ptr), cudaSuccess; }
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind)
{
    memcpy(dst, src, bytes);
    return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t)
{
    return cudaMemcpy(dst, src, bytes, kind);
}
cudaError_t cudaMemset(void *dst, int value, size_t bytes) { return memset(dst, value, bytes), cudaSuccess; }
cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes, cudaStream_t) { return cudaMemset(dst, value, bytes); }
cudaError_t cudaEventCreate(cudaEvent_t *event)
{
    *event = (cudaEvent_t)calloc(1, sizeof(aek_emu_event));
    return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) { return free(event), cudaSuccess; }
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t) { return event->seconds = now_seconds(), cudaSuccess; }
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t stop)
{
    *ms = (float)((stop->seconds - start->seconds) * 1e3);
    return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }
cudaError_t cudaGetLastError(void)
{
    cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}
const char *cudaGetErrorString(cudaError_t error) { return error ? "emulated error" : "no error"; }
const char *cudaGetErrorName(cudaError_t error) { return error ? "cudaErrorEmulated" : "cudaSuccess"; }
}
