// Host emulation of the CUDA execution model, to check the kernels' logic on machines without a GPU (most
// sessions of this project). Every block runs its threads as cooperative fibers on one OS thread;
// __syncthreads, __syncwarp and shuffles are barriers of the fiber scheduler (a thread runs until it waits
// at one), so a missing barrier or a wrong shuffle shows up as wrong results. Blocks run one after another,
// in an order SVJ_EMU_SCHEDULE chooses (as does the order in which threads resume), so `__shared__` (mapped to
// `static`) arrays are per block; dynamic shared memory is filled with garbage.
// Launches go through emu::enqueue, so a stream under graph capture records them (rt.cpp emulates the runtime).
// Launch limits (1024 threads, grid y/z, 48 KB of dynamic shared memory unless raised with
// cudaFuncSetAttribute, 99 KB opt-in as on sm_86 unless set_smem_optin says otherwise) are enforced; dynamic
// shared memory is 256-byte aligned and starts as NaN bytes (0xFF). Not emulated: timing, blocks running at the
// same time (they run one by one, in the schedule's order), real fp16 tensor cores, CUB (fakecub.h stands in).
#pragma once
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <cstdint>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <map>
#include <functional>
#include <algorithm>

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __restrict__

namespace emu {
extern dim3 tIdx, bIdx, bDim, gDim;
}
#define threadIdx emu::tIdx
#define blockIdx emu::bIdx
#define blockDim emu::bDim
#define gridDim emu::gDim

namespace emu {
void sync_block();
void sync_warp();
void exchange(const void* v, size_t n, int src, void* out);
// The calling thread's lane (its index in the block modulo 32).
int lane_id();
// Warp-wide all-gather: every lane gives `bytes` bytes, and gets all 32 contributions in lane order (a barrier
// of the warp; all 32 lanes must be running).
void warp_allgather(const void* mine, size_t bytes, void* all);
void* dyn_smem();
// The order of blocks, and of the threads of a block between barriers: "forward", "reverse" or "random[:SEED]"
// (emu.cpp); null means forward. The environment's SVJ_EMU_SCHEDULE is read at the first launch unless this was
// called before.
void set_schedule(const char* spec);
// the device's opt-in shared memory limit (cudaDevAttrMaxSharedMemoryPerBlockOptin)
void set_smem_optin(int bytes);
// cudaFuncGetAttributes answers as on a device without a binary for these kernels (the kernel tests set it)
extern bool no_kernel_image;
// blocks_for's cap (common.cuh; 2^20 as on the device unless set): a small cap makes every grid-stride loop run
// more than one pass on test-sized inputs
long long grid_cap();
void set_grid_cap(long long blocks);
// Checks the launch configuration (an error is left for cudaGetLastError, as the runtime does) and enqueues
// the grid on `stream` (see enqueue).
void launch(const void* kernel, dim3 grid, dim3 block, size_t smem, cudaStream_t stream, std::function<void()> body);
// Work on a stream: run at once (the emulated device is synchronous), or recorded into the graph when the
// stream is being captured (rt.cpp). One piece of work runs at a time. Fails on a stream that is not live.
cudaError_t enqueue(cudaStream_t stream, std::function<void()> work);
inline dim3 d3(dim3 d) { return d; }
inline dim3 d3(unsigned x) { return dim3(x); }
inline dim3 d3(int x) { return dim3((unsigned)x); }
}

#define SVJ_EMU_GRID_CAP emu::grid_cap()
// the kernels' headers take their host versions of inline PTX (mma_sync.cuh)
#define SVJ_EMULATOR 1
#define __syncthreads() emu::sync_block()
#define __syncwarp(...) emu::sync_warp()

template <typename T> inline T __shfl_sync(unsigned, T v, int src) {
    static_assert(sizeof(T) <= 8, "shuffles move at most 8 bytes");
    T r;
    emu::exchange(&v, sizeof(T), src & 31, &r);
    return r;
}
template <typename T> inline T __shfl_xor_sync(unsigned, T v, int m) {
    static_assert(sizeof(T) <= 8, "shuffles move at most 8 bytes");
    T r;
    emu::exchange(&v, sizeof(T), ((int)(emu::tIdx.x & 31)) ^ m, &r);
    return r;
}
template <typename T> inline T __ldg(const T* p) { return *p; }
// st.global.wb, the default caching of a plain store (sm_32_intrinsics.h, vector types included)
template <typename T> inline void __stwb(T* p, T v) { *p = v; }
inline unsigned __float_as_uint(float f) { unsigned u; memcpy(&u, &f, 4); return u; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __expf(float x) { return expf(x); }
using std::min;
using std::max;
