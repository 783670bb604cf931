// Per-image sort of window scores on the device: descending, ties to the lower window number, in Java's
// Float.compare order (NaN first, +0.0 before -0.0), so the result equals the CPU backend's stable sort
// for every input. Each (score, window) pair becomes one unsigned key whose ascending order is the kept
// order: key = ~orderable(score) << 32 | window.
//
// v1 (nW <= SORT_SHARED_MAX): bitonic sort of the 64-bit keys in shared memory, one CTA per image.
// v2 (larger grids, e.g. 1024 x 2048 inputs at stage 0 with small windows): CUB's LSD radix sort of
//     (image << 32 | ~orderable(score)) keys carrying window numbers, stable, so ties keep window order.
#define CCCL_DISABLE_NVTX
#define NVTX_DISABLE
#include "common.cuh"
#include <cub/device/device_radix_sort.cuh>

#define SORT_SHARED_MAX 4096   // 32 KB of keys: under the default shared memory limit
#define SORT_THREADS 512

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
    int padded;                  // v1: nW rounded up to a power of two
    unsigned long long* keys;    // v2: [B * nW] keys for the radix sort
    int* values;                 // v2: [B * nW] window numbers
};

__global__ void __launch_bounds__(SORT_THREADS) bitonic_sort_kernel(SortParams p) {
    extern __shared__ unsigned long long sk[];   // [padded]
    const float* s = p.scores + (long long)blockIdx.x * p.windows;
    for (int i = threadIdx.x; i < p.padded; i += blockDim.x)
        sk[i] = i < p.windows ? ((unsigned long long)descending_key(s[i]) << 32) | (unsigned)i
                              : ~0ULL;   // padding: above every real key (whose low half is < nW)
    __syncthreads();
    for (int size = 2; size <= p.padded; size <<= 1) {
        for (int stride = size >> 1; stride > 0; stride >>= 1) {
            for (int i = threadIdx.x; i < p.padded; i += blockDim.x) {
                const int j = i ^ stride;
                if (j > i) {
                    const bool up = (i & size) == 0;
                    const unsigned long long a = sk[i], b = sk[j];
                    if ((a > b) == up) {
                        sk[i] = b;
                        sk[j] = a;
                    }
                }
            }
            __syncthreads();
        }
    }
    int* o = p.order + (long long)blockIdx.x * p.windows;
    for (int i = threadIdx.x; i < p.windows; i += blockDim.x) o[i] = (int)(sk[i] & 0xffffffffu);
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
        while (p.padded < windows) p.padded <<= 1;
        bitonic_sort_kernel<<<batch, SORT_THREADS, (size_t)p.padded * sizeof(unsigned long long), s>>>(p);
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
