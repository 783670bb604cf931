// Per-image sort of window scores on the device: descending, ties to the lower window number. The
// comparator (score descending, then window ascending) is a total order, so the result is unique and
// equals the CPU backend's stable sort.
//
// v1: bitonic sort of (score, window) pairs in shared memory, one CTA per image, nW <= 8192 (1024 x 2048
//     input, stage 0: 37 x 74 = 2738 windows). v0: rank by counting, O(nW^2), for larger grids.
#include "common.cuh"

#define SORT_MAX 8192

// true when (sa, ia) must come before (sb, ib)
__device__ __forceinline__ bool before(float sa, int ia, float sb, int ib) {
    return sa > sb || (sa == sb && ia < ib);
}

__global__ void bitonic_sort_kernel(const float* __restrict__ scores, int* order, int windows, int padded) {
    extern __shared__ float sm[];
    float* key = sm;
    int* idx = (int*)(sm + padded);
    const float* s = scores + (long long)blockIdx.x * windows;
    for (int i = threadIdx.x; i < padded; i += blockDim.x) {
        key[i] = i < windows ? s[i] : -INFINITY;
        idx[i] = i;                      // padding entries sort last: -inf and a larger index
    }
    __syncthreads();
    for (int size = 2; size <= padded; size <<= 1) {
        for (int stride = size >> 1; stride > 0; stride >>= 1) {
            for (int i = threadIdx.x; i < padded; i += blockDim.x) {
                int j = i ^ stride;
                if (j > i) {
                    bool ascending = (i & size) == 0;   // "ascending" = in kept order
                    bool swap = ascending ? before(key[j], idx[j], key[i], idx[i])
                                          : before(key[i], idx[i], key[j], idx[j]);
                    if (swap) {
                        float tk = key[i];
                        key[i] = key[j];
                        key[j] = tk;
                        int ti = idx[i];
                        idx[i] = idx[j];
                        idx[j] = ti;
                    }
                }
            }
            __syncthreads();
        }
    }
    int* o = order + (long long)blockIdx.x * windows;
    for (int i = threadIdx.x; i < windows; i += blockDim.x) o[i] = idx[i];
}

// Rank of window i = number of windows that come before it.
__global__ void rank_sort_kernel(const float* __restrict__ scores, int* order, int batch, int windows) {
    long long n = (long long)batch * windows;
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < n; t += (long long)gridDim.x * blockDim.x) {
        int b = (int)(t / windows), i = (int)(t - (long long)b * windows);
        const float* s = scores + (long long)b * windows;
        float si = s[i];
        int rank = 0;
        for (int j = 0; j < windows; j++) rank += before(s[j], j, si, i) ? 1 : 0;
        order[(long long)b * windows + rank] = i;
    }
}

extern "C" {

int svj_sort_windows_scratch(int batch, int windows, long long* bytes) {
    if (!bytes || batch <= 0 || windows <= 0) return SVJ_EINVAL;
    *bytes = 0;
    return 0;
}

int svj_sort_windows(const float* scores, int* order, int batch, int windows, void* scratch, long long scratch_bytes,
                     void* stream) {
    (void)scratch;
    (void)scratch_bytes;
    if (!scores || !order || batch <= 0 || windows <= 0) return SVJ_EINVAL;
    cudaStream_t s = (cudaStream_t)stream;
    if (windows <= SORT_MAX) {
        int padded = 1;
        while (padded < windows) padded <<= 1;
        size_t smem = (size_t)padded * (sizeof(float) + sizeof(int));
        if (smem > 48 * 1024) {
            cudaError_t e = cudaFuncSetAttribute(bitonic_sort_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                 (int)smem);
            if (e != cudaSuccess) return (int)e;
        }
        bitonic_sort_kernel<<<batch, 512, smem, s>>>(scores, order, windows, padded);
    } else {
        rank_sort_kernel<<<blocks_for((long long)batch * windows, 256), 256, 0, s>>>(scores, order, batch, windows);
    }
    return last_launch_error();
}

}  // extern "C"
