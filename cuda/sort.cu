// Per-image sort of window scores on the device: descending, ties to the lower window number, in Java's
// Float.compare order (NaN first, +0.0 before -0.0), so the result equals the CPU backend's stable sort
// for every input. Each (score, window) pair becomes one unsigned key whose ascending order is the kept
// order: key = ~orderable(score) << 32 | window.
//
// v1 (nW <= SORT_SHARED_MAX): bitonic sort of the 64-bit keys in registers, one CTA per image.
// v2 (larger grids, e.g. 1024 x 2048 inputs at stage 0 with small windows): CUB's LSD radix sort of
//     (image << 32 | ~orderable(score)) keys carrying window numbers, stable, so ties keep window order.
#define CCCL_DISABLE_NVTX
#define NVTX_DISABLE
#include "common.cuh"
#include <cub/device/device_radix_sort.cuh>

#define SORT_SHARED_MAX 4096   // v1: 2 x 32 KB of keys in shared memory (opt-in above 48 KB, as every sm_80+ allows)
#define SORT_THREADS 1024   // the most threads v1 uses: 4096 keys, 4 a thread

// Unsigned key whose ascending order is descending Float.compare order of the score.
__device__ __forceinline__ unsigned descending_key(float s) {
    unsigned u = __float_as_uint(s);
    if (s != s) u = 0x7fc00000u;                                     // Java's canonical NaN
    unsigned ascending = (u & 0x80000000u) ? ~u : (u | 0x80000000u);   // monotone in Float.compare order
    return ~ascending;
}

struct SortParams {
    const float* scores;         // [B, nW]
    int* order;                  // [B, nW] window numbers in kept order
    int windows;                 // nW
    int padded;                  // v1: nW rounded up to a power of two, at least 32
    unsigned long long* keys;    // v2: [B * nW] keys for the radix sort
    int* values;                 // v2: [B * nW] window numbers
};

// Compare-exchange of registers e and e + J of each thread (e & J == 0): keys first + e and J higher, in an
// ascending run when bit `size` of first + e is clear.
template <int E, int J>
__device__ __forceinline__ void register_phase(unsigned long long (&r)[E], int first, int size) {
#pragma unroll
    for (int e = 0; e < E; e++) {
        if (e & J) continue;
        const bool up = ((first + e) & size) == 0;   // size may be < E (size 2 of E = 4)
        const unsigned long long x = r[e], y = r[e + J];
        const bool swap = (x > y) == up;
        r[e] = swap ? y : x;
        r[e + J] = swap ? x : y;
    }
}

// Bitonic sort of `padded` keys (a power of two, at least 32) by T = padded / E threads, E consecutive keys
// each: key i is register i % E of thread i / E. A compare-exchange of stride j needs no barrier unless
// j >= 32 * E: for j < E both keys are registers of one thread, up to 16 * E the partner is lane ^ (j / E) of
// the same warp (a shuffle); only the longer strides go through shared memory, two buffers in turn so one
// barrier per such phase suffices (a thread writes a buffer again only after the next barrier, which every
// reader of its previous contents has passed). The short strides, the most frequent ones (stride 2^k comes
// in log2(padded) - k phases), are thus the cheap ones; for 1024 keys 6 of the 55 phases have a barrier. Every
// thread works in every phase; shuffle and shared memory phases compare each pair in both of its threads,
// each keeping its own side. (v1 before: 55 barriers for 1024 keys, half the threads idle in each phase.)
template <int E>
__global__ void __launch_bounds__(SORT_THREADS) bitonic_sort_kernel(SortParams p) {
    extern __shared__ unsigned long long sk[];   // [2][E][T], only when T > 32: key tid * E + e at e * T + tid,
                                                 // so a warp's accesses are consecutive words (no bank conflicts)
    const int T = p.padded / E, tid = threadIdx.x;
    const float* s = p.scores + (long long)blockIdx.x * p.windows;
    unsigned long long r[E];
#pragma unroll
    for (int e = 0; e < E; e++) {
        const int i = tid * E + e;
        r[e] = i < p.windows ? ((unsigned long long)descending_key(__ldg(s + i)) << 32) | (unsigned)i
                             : ~0ULL;   // padding: above every real key (whose low half is < nW)
    }
    int buf = 0;
    for (int size = 2; size <= p.padded; size <<= 1) {
        // bit `size` of key tid * E + e, where size >= E (not in every register phase: those see to it)
        const bool up = ((tid * E) & size) == 0;
        for (int j = size >> 1; j > 0; j >>= 1) {
            if (j < E) {
                if constexpr (E > 2) {
                    if (j == 2) {
                        register_phase<E, 2>(r, tid * E, size);
                        continue;
                    }
                }
                if constexpr (E > 1) register_phase<E, 1>(r, tid * E, size);
                continue;
            }
            const int jt = j / E;   // the partner thread is tid ^ jt
            unsigned long long q[E];
            if (jt < 32) {
#pragma unroll
                for (int e = 0; e < E; e++) q[e] = __shfl_xor_sync(0xffffffffu, r[e], jt);
            } else {
                unsigned long long* b = sk + buf * p.padded;
#pragma unroll
                for (int e = 0; e < E; e++) b[e * T + tid] = r[e];
                __syncthreads();
#pragma unroll
                for (int e = 0; e < E; e++) q[e] = b[e * T + (tid ^ jt)];
                buf ^= 1;
            }
            // the lower key of an ascending pair keeps the minimum, and so on
            const bool keep_min = ((tid & jt) == 0) == up;
#pragma unroll
            for (int e = 0; e < E; e++) r[e] = (r[e] < q[e]) == keep_min ? r[e] : q[e];
        }
    }
    int* o = p.order + (long long)blockIdx.x * p.windows;
#pragma unroll
    for (int e = 0; e < E; e++) {
        const int i = tid * E + e;
        if (i < p.windows) o[i] = (int)(r[e] & 0xffffffffu);
    }
}

// v2 input: key (b << 32 | descending score key), value = window number.
__global__ void radix_keys_kernel(SortParams p, long long n) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        const long long b = i / p.windows;
        p.keys[i] = ((unsigned long long)b << 32) | descending_key(p.scores[i]);
        p.values[i] = (int)(i - b * p.windows);
    }
}

static size_t align256(size_t x) { return (x + 255) & ~(size_t)255; }

static int end_bit(int batch) {
    int bits = 0;
    while ((1LL << bits) < batch) bits++;
    return 32 + bits;
}

// Scratch layout of v2: keys in | keys out | values in | CUB temporary storage.
static int radix_scratch(int batch, int windows, size_t* total, size_t* cub_bytes) {
    long long n = (long long)batch * windows;
    size_t temp = 0;
    int rc = svj_rt(cub::DeviceRadixSort::SortPairs(nullptr, temp, (const unsigned long long*)nullptr,
                                                    (unsigned long long*)nullptr, (const int*)nullptr, (int*)nullptr,
                                                    (int)n, 0, end_bit(batch)),
                    "svj_sort_windows (CUB size query)");
    if (rc) return rc;
    *cub_bytes = temp;
    *total = 2 * align256((size_t)n * 8) + align256((size_t)n * 4) + align256(temp);
    return 0;
}

extern "C" {

int svj_sort_windows_scratch(int batch, int windows, long long* bytes) {
    SVJ_REQUIRE(bytes && batch > 0 && windows > 0 && (long long)batch * windows < (1LL << 31),
                "svj_sort_windows_scratch: %d images of %d windows", batch, windows);
    *bytes = 0;
    if (windows <= SORT_SHARED_MAX) return 0;
    size_t total = 0, temp = 0;
    int rc = radix_scratch(batch, windows, &total, &temp);
    if (rc) return rc;
    *bytes = (long long)total;
    return 0;
}

int svj_sort_windows(const float* scores, int* order, int batch, int windows, void* scratch, long long scratch_bytes,
                     void* stream) {
    const char* op = "svj_sort_windows";
    SVJ_REQUIRE(scores && order, "%s: null tensor", op);
    SVJ_REQUIRE(batch > 0 && windows > 0 && (long long)batch * windows < (1LL << 31), "%s: %d images of %d windows", op,
                batch, windows);
    cudaStream_t s = (cudaStream_t)stream;
    SortParams p;
    p.scores = scores;
    p.order = order;
    p.windows = windows;
    p.padded = 1;
    p.keys = nullptr;
    p.values = nullptr;
    if (windows <= SORT_SHARED_MAX) {
        p.padded = 32;   // a whole warp at least, for the shuffles
        while (p.padded < windows) p.padded <<= 1;
        // T = padded / E threads: E = 4 keys a thread from 128 keys on (T = 1024 at SORT_SHARED_MAX)
        const int E = p.padded >= 128 ? 4 : p.padded / 32, T = p.padded / E;
        const size_t smem = T > 32 ? 2 * (size_t)p.padded * sizeof(unsigned long long) : 0;
        if (E == 1)
            bitonic_sort_kernel<1><<<batch, T, smem, s>>>(p);
        else if (E == 2)
            bitonic_sort_kernel<2><<<batch, T, smem, s>>>(p);
        else {
            static SvjSmemRaised raised;   // 64 KB at 4096 keys
            int rc = svj_smem_optin((const void*)bitonic_sort_kernel<4>, smem, &raised, op);
            if (rc) return rc;
            bitonic_sort_kernel<4><<<batch, T, smem, s>>>(p);
        }
        return svj_launch(op);
    }
    size_t total = 0, temp = 0;
    int rc = radix_scratch(batch, windows, &total, &temp);
    if (rc) return rc;
    SVJ_REQUIRE(scratch && scratch_bytes >= (long long)total, "%s: %lld bytes of scratch given, %lld needed", op,
                scratch_bytes, (long long)total);
    const long long n = (long long)batch * windows;
    char* base = (char*)scratch;
    p.keys = (unsigned long long*)base;
    unsigned long long* keys_out = (unsigned long long*)(base + align256((size_t)n * 8));
    p.values = (int*)(base + 2 * align256((size_t)n * 8));
    void* cub_temp = base + 2 * align256((size_t)n * 8) + align256((size_t)n * 4);
    radix_keys_kernel<<<blocks_for(n, 256), 256, 0, s>>>(p, n);
    rc = svj_launch(op);
    if (rc) return rc;
    rc = svj_rt(cub::DeviceRadixSort::SortPairs(cub_temp, temp, p.keys, keys_out, p.values, order, (int)n, 0,
                                                end_bit(batch), s),
                "svj_sort_windows (CUB radix sort)");
    if (rc) return rc;
    return svj_launch(op);
}

}  // extern "C"
