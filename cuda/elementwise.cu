// Elementwise passes: bias add, exact GELU (erff), bias + GELU fused, residual add, dtype casts.
// Grid-stride loops over pieces of E elements: 16-byte vectors (8 halves or 4 floats) where the pointers and,
// for the bias ops, the rows allow, else single elements (E = 1: any size or alignment). Each element is loaded
// as float, computed in float by the same expression on either path, stored as T: the vector path only moves
// the bits differently, so its results are bitwise those of the element path.
#include "common.cuh"
#include <math.h>
#include <string.h>

__device__ __forceinline__ float gelu_exact(float v) { return 0.5f * v * (1.f + erff(v * 0.70710678118654752f)); }

struct ElementwiseParams {
    void* x;             // [n] = [rows, C]: updated in place (a for the add)
    const void* y;       // bias [C] (bias ops) or b [n] (add); unused by GELU
    long long pieces;    // whole pieces of E elements in x: n / E
    int tail;            // elements after the last piece, < E (0 for the bias ops: E divides C)
    unsigned period;     // bias ops: pieces per row, C / E; 1 for the others
};

enum ElementwiseKind { BIAS_ADD, GELU, BIAS_GELU, ADD };

// One element: v = x (+ y), then GELU, in float.
template <typename T, ElementwiseKind K> __device__ __forceinline__ T elementwise_op(T a, T b) {
    float v = to_float(a);
    if (K != GELU) v += to_float(b);
    if (K == GELU || K == BIAS_GELU) v = gelu_exact(v);
    return from_float<T>(v);
}

// V = Bits<16>::type (E = 16 / sizeof(T)) or T (E = 1). The bias piece of a thread's first piece is one 32-bit
// remainder (the first index and the stride are below 2^28: blocks_for's cap), then it steps along with the
// grid stride: no division per piece (the old kernel took a 64-bit `%` per element).
template <typename T, ElementwiseKind K, typename V>
__global__ void elementwise_kernel(ElementwiseParams p) {
    constexpr int E = sizeof(V) / sizeof(T);
    constexpr bool BIAS = K == BIAS_ADD || K == BIAS_GELU;
    V* x = (V*)p.x;
    const V* y = (const V*)p.y;   // not __ldg: the add may run in place (y == x)
    const unsigned first = blockIdx.x * blockDim.x + threadIdx.x, stride = gridDim.x * blockDim.x;
    unsigned col = 0, step = 0;
    if (BIAS) {
        col = first % p.period;
        step = stride % p.period;
    }
    for (long long i = first; i < p.pieces; i += stride) {
        T a[E], b[E];
        V va = x[i], vb;
        if (K != GELU) vb = y[BIAS ? (long long)col : i];
        memcpy(a, &va, sizeof(V));   // not a cast: reading a uint4 through a T* breaks aliasing rules
        if (K != GELU) memcpy(b, &vb, sizeof(V));
#pragma unroll
        for (int k = 0; k < E; k++) a[k] = elementwise_op<T, K>(a[k], K != GELU ? b[k] : a[k]);
        memcpy(&va, a, sizeof(V));
        x[i] = va;
        if (BIAS) {
            col += step;   // < 2 * period <= 2^32
            if (col >= p.period) col -= p.period;
        }
    }
    if (!BIAS && (int)first < p.tail) {   // the last n % E elements, one per thread
        T* xe = (T*)p.x;
        const long long e = p.pieces * E + first;
        xe[e] = elementwise_op<T, K>(xe[e], K == ADD ? ((const T*)p.y)[e] : xe[e]);
    }
}

template <typename T, ElementwiseKind K>
static int launch_elementwise(void* x, const void* y, long long n, int channels, cudaStream_t s, const char* op) {
    constexpr int E = 16 / sizeof(T);
    const bool bias = K == BIAS_ADD || K == BIAS_GELU;
    // 16-byte pieces need x (and the bias or b) 16-byte aligned, and for the bias ops whole pieces per row
    const uintptr_t align = (uintptr_t)x | (K == GELU ? 0 : (uintptr_t)y);
    const bool vec = align % 16 == 0 && (!bias || channels % E == 0);
    ElementwiseParams p;
    p.x = x;
    p.y = y;
    p.pieces = vec ? n / E : n;
    p.tail = vec ? (int)(n % E) : 0;
    p.period = bias ? (unsigned)(vec ? channels / E : channels) : 1u;
    const unsigned blocks = blocks_for(p.pieces > p.tail ? p.pieces : p.tail, 256);
    typedef typename Bits<16>::type V16;
    if (vec)
        elementwise_kernel<T, K, V16><<<blocks, 256, 0, s>>>(p);
    else
        elementwise_kernel<T, K, T><<<blocks, 256, 0, s>>>(p);
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
    long long pieces;    // whole pieces of E elements: n / E
    int tail;            // elements after them, < E
};

// E = 16 / max(sizeof S, sizeof D) elements per piece (the wider side moves 16 bytes, the other 8), or 1.
template <typename S, typename D, int E>
__global__ void cast_kernel(CastParams p) {
    typedef typename Bits<E * sizeof(S)>::type VS;
    typedef typename Bits<E * sizeof(D)>::type VD;
    const VS* src = (const VS*)p.src;
    VD* dst = (VD*)p.dst;
    const unsigned first = blockIdx.x * blockDim.x + threadIdx.x, stride = gridDim.x * blockDim.x;
    for (long long i = first; i < p.pieces; i += stride) {
        S a[E];
        D b[E];
        VS va = src[i];
        memcpy(a, &va, sizeof(VS));
#pragma unroll
        for (int k = 0; k < E; k++) b[k] = from_float<D>(to_float(a[k]));
        VD vb;
        memcpy(&vb, b, sizeof(VD));
        dst[i] = vb;
    }
    if ((int)first < p.tail) {
        const long long e = p.pieces * E + first;
        ((D*)p.dst)[e] = from_float<D>(to_float(((const S*)p.src)[e]));
    }
}

template <typename S, typename D>
static void launch_cast_to(const void* src, void* dst, long long n, cudaStream_t s) {
    constexpr int E = 16 / (sizeof(S) > sizeof(D) ? sizeof(S) : sizeof(D));
    CastParams p;
    p.src = src;
    p.dst = dst;
    if ((uintptr_t)src % (E * sizeof(S)) == 0 && (uintptr_t)dst % (E * sizeof(D)) == 0) {
        p.pieces = n / E;
        p.tail = (int)(n % E);
        const unsigned blocks = blocks_for(p.pieces > p.tail ? p.pieces : p.tail, 256);
        cast_kernel<S, D, E><<<blocks, 256, 0, s>>>(p);
    } else {
        p.pieces = n;
        p.tail = 0;
        cast_kernel<S, D, 1><<<blocks_for(n, 256), 256, 0, s>>>(p);
    }
}

template <typename S>
static int launch_cast(const void* src, void* dst, int dst_dtype, long long n, cudaStream_t s) {
    switch (dst_dtype) {
        case SVJ_F32: launch_cast_to<S, float>(src, dst, n, s); break;
        case SVJ_F16: launch_cast_to<S, __half>(src, dst, n, s); break;
        case SVJ_BF16: launch_cast_to<S, __nv_bfloat16>(src, dst, n, s); break;
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
