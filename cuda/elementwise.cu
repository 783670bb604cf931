// Elementwise passes: bias add, exact GELU (erff), bias + GELU fused, residual add, dtype casts.
// Grid-stride loops, one element per thread per step; load as float, compute in float, store as T.
#include "common.cuh"
#include <math.h>

__device__ __forceinline__ float gelu_exact(float v) { return 0.5f * v * (1.f + erff(v * 0.70710678118654752f)); }

struct ElementwiseParams {
    void* x;             // [n] = [rows, C]: updated in place (a for the add)
    const void* y;       // bias [C] (bias ops) or b [n] (add); unused by GELU
    long long n;         // elements of x
    int channels;        // C, the bias period (1 for the ops without bias)
};

enum ElementwiseKind { BIAS_ADD, GELU, BIAS_GELU, ADD };

template <typename T, ElementwiseKind K>
__global__ void elementwise_kernel(ElementwiseParams p) {
    T* x = (T*)p.x;
    const T* y = (const T*)p.y;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < p.n;
         i += (long long)gridDim.x * blockDim.x) {
        float v = to_float(x[i]);
        if (K == BIAS_ADD || K == BIAS_GELU) v += to_float(y[i % p.channels]);
        if (K == ADD) v += to_float(y[i]);
        if (K == GELU || K == BIAS_GELU) v = gelu_exact(v);
        x[i] = from_float<T>(v);
    }
}

template <typename T, ElementwiseKind K>
static int launch_elementwise(void* x, const void* y, long long n, int channels, cudaStream_t s, const char* op) {
    ElementwiseParams p;
    p.x = x;
    p.y = y;
    p.n = n;
    p.channels = channels;
    elementwise_kernel<T, K><<<blocks_for(n, 256), 256, 0, s>>>(p);
    return svj_launch(op);
}

template <typename T> static int launch_bias_add(void* x, const void* b, long long n, int c, cudaStream_t s) {
    return launch_elementwise<T, BIAS_ADD>(x, b, n, c, s, "svj_bias_add");
}
template <typename T> static int launch_gelu(void* x, long long n, cudaStream_t s) {
    return launch_elementwise<T, GELU>(x, nullptr, n, 1, s, "svj_gelu");
}
template <typename T> static int launch_bias_gelu(void* x, const void* b, long long n, int c, cudaStream_t s) {
    return launch_elementwise<T, BIAS_GELU>(x, b, n, c, s, "svj_bias_gelu");
}
template <typename T> static int launch_add(void* a, const void* b, long long n, cudaStream_t s) {
    return launch_elementwise<T, ADD>(a, b, n, 1, s, "svj_add");
}

// ------------------------------------------------------------------ casts

struct CastParams {
    const void* src;     // [n] of S
    void* dst;           // [n] of D
    long long n;         // elements
};

template <typename S, typename D>
__global__ void cast_kernel(CastParams p) {
    const S* s = (const S*)p.src;
    D* d = (D*)p.dst;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < p.n;
         i += (long long)gridDim.x * blockDim.x)
        d[i] = from_float<D>(to_float(s[i]));
}

template <typename S>
static int launch_cast(const void* src, void* dst, int dst_dtype, long long n, cudaStream_t s) {
    CastParams p;
    p.src = src;
    p.dst = dst;
    p.n = n;
    unsigned blocks = blocks_for(n, 256);
    switch (dst_dtype) {
        case SVJ_F32: cast_kernel<S, float><<<blocks, 256, 0, s>>>(p); break;
        case SVJ_F16: cast_kernel<S, __half><<<blocks, 256, 0, s>>>(p); break;
        case SVJ_BF16: cast_kernel<S, __nv_bfloat16><<<blocks, 256, 0, s>>>(p); break;
        default: return svj_fail(SVJ_EINVAL, "svj_cast: destination dtype %d is not F32, F16 or BF16", dst_dtype);
    }
    return svj_launch("svj_cast");
}

extern "C" {

int svj_bias_add(void* x, const void* bias, int dtype, long long rows, int channels, void* stream) {
    SVJ_REQUIRE(x && bias, "svj_bias_add: null tensor");
    SVJ_REQUIRE(rows >= 0 && channels > 0, "svj_bias_add: %lld rows of %d channels", rows, channels);
    if (rows == 0) return 0;
    SVJ_DISPATCH_FLOAT(dtype, "svj_bias_add", launch_bias_add, x, bias, rows * channels, channels, (cudaStream_t)stream)
}

int svj_gelu(void* x, int dtype, long long n, void* stream) {
    SVJ_REQUIRE(x && n >= 0, "svj_gelu: null tensor or negative size");
    if (n == 0) return 0;
    SVJ_DISPATCH_FLOAT(dtype, "svj_gelu", launch_gelu, x, n, (cudaStream_t)stream)
}

int svj_bias_gelu(void* x, const void* bias, int dtype, long long rows, int channels, void* stream) {
    SVJ_REQUIRE(x && bias, "svj_bias_gelu: null tensor");
    SVJ_REQUIRE(rows >= 0 && channels > 0, "svj_bias_gelu: %lld rows of %d channels", rows, channels);
    if (rows == 0) return 0;
    SVJ_DISPATCH_FLOAT(dtype, "svj_bias_gelu", launch_bias_gelu, x, bias, rows * channels, channels,
                       (cudaStream_t)stream)
}

int svj_add(void* a, const void* b, int dtype, long long n, void* stream) {
    SVJ_REQUIRE(a && b && n >= 0, "svj_add: null tensor or negative size");
    if (n == 0) return 0;
    SVJ_DISPATCH_FLOAT(dtype, "svj_add", launch_add, a, b, n, (cudaStream_t)stream)
}

int svj_cast(const void* src, int src_dtype, void* dst, int dst_dtype, long long n, void* stream) {
    SVJ_REQUIRE(src && dst && n >= 0, "svj_cast: null tensor or negative size");
    SVJ_REQUIRE(src != dst || src_dtype == dst_dtype, "svj_cast: in place between different dtypes");
    if (n == 0) return 0;
    SVJ_DISPATCH_FLOAT(src_dtype, "svj_cast", launch_cast, src, dst, dst_dtype, n, (cudaStream_t)stream)
}

}  // extern "C"
