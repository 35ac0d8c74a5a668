/* runtime.cpp (emulation) - the CUDA runtime calls of cuda_runtime_api.h on the host.
 * "Device" allocations start as 0xff bytes (NaN floats), so a kernel that reads what
 * nobody wrote shows it.  AEK_EMU_FREE_BYTES sets the free "device" memory (default
 * 1 GiB), to exercise the backend's chunking.  A block's threads are fibers: each runs
 * until it waits at a barrier or ends; a barrier opens when every thread it names waits
 * at it; no thread can go on when no barrier can open (a deadlock: reported, the process
 * aborts).  A fiber starts on its own stack with makecontext/setcontext and switches
 * with GCC's __builtin_setjmp/__builtin_longjmp, which, unlike swapcontext, make no
 * system call (and, unlike _longjmp, do not unwind). */
#include <chrono>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <vector>

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

int aek_emu_launch_check(unsigned blocks, unsigned threads, size_t bytes)
{
    if (blocks == 0 || threads == 0 || threads > 1024 || bytes > sizeof aek_emu_shared) {
        fprintf(stderr, "emulated launch: invalid configuration %u blocks x %u threads, %zu bytes\n", blocks,
                threads, bytes);
        last_error = cudaErrorInvalidValue;
        return -1;
    }
    return 0;
}

/* ---- a block's threads as fibers ---------------------------------------------------- */

enum { FIBER_RUNNING, FIBER_WAITING, FIBER_DONE };
struct emu_fiber {
    ucontext_t start; /* its entry on its stack, until it first runs */
    void *resume[5];  /* where it waits, once it ran (__builtin_setjmp) */
    char *stack;
    int started, state;
    int block_wide;          /* waiting at __syncthreads (else at a warp barrier) */
    unsigned mask;           /* the warp barrier's lanes */
    unsigned long long word[2]; /* __shfl_sync / __ballot_sync exchange, alternating */
    int parity;                 /* the word of the latest exchange */
};
enum { FIBER_STACK = 512 << 10 }; /* the one-model-per-thread kernels keep arrays of ~20 KB */
static std::vector<emu_fiber> fibers;
static void *scheduler[5]; /* the scheduler's place (__builtin_setjmp) */
static unsigned current, block_threads;
static unsigned waiting_in_warp[1024 / 32], waiting_in_block, done_in_block; /* counts, to open a barrier in O(1) */
static void (*block_body)(void *);
static void *block_arg;

/* __builtin_longjmp may not share a function with its __builtin_setjmp */
static __attribute__((noinline)) void jump_to(void **place) { __builtin_longjmp(place, 1); }

static void fiber_entry()
{
    block_body(block_arg);
    fibers[current].state = FIBER_DONE;
    done_in_block++;
    jump_to(scheduler); /* never returns: its stack is reused */
}

/* Runs fiber t until it waits at a barrier or ends. */
static __attribute__((noinline)) void run_fiber(unsigned t)
{
    current = t;
    threadIdx = {t, 0, 0};
    if (__builtin_setjmp(scheduler) == 0) {
        if (fibers[t].started) jump_to(fibers[t].resume);
        fibers[t].started = 1;
        setcontext(&fibers[t].start);
    }
}

/* Opens the barrier thread t waits at when every thread it names waits there too. */
static bool barrier_open(unsigned t)
{
    const emu_fiber &f = fibers[t];
    unsigned first = 0, count = block_threads;
    if (!f.block_wide) first = t / 32 * 32, count = 32;
    for (unsigned u = first; u < first + count; u++) {
        if (!f.block_wide && !(f.mask >> (u - first) & 1)) continue;
        if (u >= block_threads) return false; /* a lane the block does not have */
        const emu_fiber &g = fibers[u];
        if (f.block_wide && g.state == FIBER_DONE) continue; /* exited threads do not hold a block barrier */
        if (g.state != FIBER_WAITING || g.block_wide != f.block_wide) return false;
    }
    for (unsigned u = first; u < first + count && u < block_threads; u++)
        if (fibers[u].state == FIBER_WAITING && (f.block_wide || f.mask >> (u - first) & 1)) {
            fibers[u].state = FIBER_RUNNING;
            waiting_in_warp[u / 32]--, waiting_in_block--;
        }
    return true;
}

void aek_emu_run_block(unsigned threads, void (*body)(void *), void *arg)
{
    while (fibers.size() < threads) {
        fibers.push_back(emu_fiber{});
        fibers.back().stack = (char *)malloc(FIBER_STACK);
    }
    block_threads = threads, block_body = body, block_arg = arg;
    waiting_in_block = done_in_block = 0;
    memset(waiting_in_warp, 0, sizeof waiting_in_warp);
    for (unsigned t = 0; t < threads; t++) {
        emu_fiber &f = fibers[t];
        getcontext(&f.start);
        f.start.uc_stack.ss_sp = f.stack;
        f.start.uc_stack.ss_size = FIBER_STACK;
        f.start.uc_link = NULL;
        makecontext(&f.start, fiber_entry, 0);
        f.started = 0, f.state = FIBER_RUNNING, f.parity = 0;
    }
    for (;;) {
        unsigned live = 0, ran = 0;
        for (unsigned t = 0; t < threads; t++) {
            if (fibers[t].state == FIBER_DONE) continue;
            live++;
            if (fibers[t].state == FIBER_WAITING) continue;
            run_fiber(t);
            ran++;
        }
        if (live == 0) return;
        /* a block barrier that the last threads to end were holding */
        for (unsigned t = 0; t < threads && ran == 0; t++)
            if (fibers[t].state == FIBER_WAITING && fibers[t].block_wide && barrier_open(t)) ran++;
        if (ran == 0) {
            fprintf(stderr, "emulated launch: deadlock in block %u: %u threads wait at barriers that cannot open\n",
                    blockIdx.x, live);
            abort();
        }
    }
}

static __attribute__((noinline)) void wait_here(void **place)
{
    if (__builtin_setjmp(place) == 0) jump_to(scheduler);
}

/* The thread waits; the last one its barrier needs opens it and goes on without waiting. */
void aek_emu_barrier(int block_wide, unsigned mask)
{
    emu_fiber &f = fibers[current];
    f.state = FIBER_WAITING, f.block_wide = block_wide, f.mask = mask;
    waiting_in_warp[current / 32]++, waiting_in_block++;
    const bool all_there = block_wide ? waiting_in_block + done_in_block == block_threads
                                      : waiting_in_warp[current / 32] >= (unsigned)__builtin_popcount(mask);
    if (all_there && barrier_open(current)) return;
    wait_here(f.resume); /* back here once the barrier opened (run_fiber set current) */
}

int aek_emu_next_exchange(void) { return fibers[current].parity ^= 1; }
unsigned long long *aek_emu_lane_word(unsigned thread, int word) { return &fibers[thread].word[word]; }

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
#ifdef __FMA__ /* EMU_CXXFLAGS="-mfma ...": contracted like a GPU, so no longer the CPU's bits */
    snprintf(prop->name, sizeof prop->name, "CPU emulation of a CUDA device, with FMA");
#else
    snprintf(prop->name, sizeof prop->name, "CPU emulation of a CUDA device");
#endif
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
/* launches run to completion when made, so stream order is program order */
cudaError_t cudaMallocAsync(void **ptr, size_t bytes, cudaStream_t) { return cudaMalloc(ptr, bytes); }
cudaError_t cudaFreeAsync(void *ptr, cudaStream_t) { return cudaFree(ptr); }
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
