// LayerNorm over the last dimension, plain and fused with the residual add. One warp per row, two
// passes over the row (mean, then the biased variance of the deviations, as PyTorch), float32 math
// whatever the storage type; rows are short (C <= a few thousand), so the re-reads hit L1.
#include "common.cuh"

#define LN_WARPS 8

template <typename T>
struct LayerNormParams {
    const T* x;          // [rows, C] input (add_layer_norm: the residual stream a, updated in place)
    const T* b;          // add_layer_norm only: [rows, C] added to a; NULL for the plain LayerNorm
    const T* gamma;      // [C] scale
    const T* beta;       // [C] shift
    T* out;              // [rows, C]; may be x for the plain LayerNorm (each lane reads an element before writing it)
    long long rows;      // rows to normalise
    int channels;        // C
    float eps;           // added to the variance
};

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// The rest of a warp's LayerNorm of one row r of C values, once each lane has summed its elements (lane, lane + 32,
// ...) into s: the mean, the variance of the deviations (second pass), and out = (r - mean) / sqrt(var + eps) *
// gamma + beta. out may be r: each lane reads an element before it writes it.
template <typename T>
__device__ __forceinline__ void normalize_row(const T* r, float s, const T* gamma, const T* beta, T* out, int C,
                                              float eps, int lane) {
    const float mean = warp_sum(s) / C;
    float v = 0.f;
    for (int c = lane; c < C; c += 32) {
        const float dl = to_float(r[c]) - mean;
        v = fmaf(dl, dl, v);
    }
    const float inv = rsqrtf(warp_sum(v) / C + eps);
    for (int c = lane; c < C; c += 32)
        out[c] = from_float<T>((to_float(r[c]) - mean) * inv * to_float(gamma[c]) + to_float(beta[c]));
}

template <typename T, bool ADD>
__global__ void __launch_bounds__(LN_WARPS * 32) layer_norm_kernel(LayerNormParams<T> p) {
    const long long row = (long long)blockIdx.x * LN_WARPS + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (row >= p.rows) return;
    const int C = p.channels;
    const T* r = p.x + row * C;
    float s = 0.f;
    if (ADD) {
        T* a = const_cast<T*>(r);
        const T* q = p.b + row * C;
        for (int c = lane; c < C; c += 32) {
            const T v = from_float<T>(to_float(a[c]) + to_float(q[c]));
            a[c] = v;          // the stored (rounded) sum is what gets normalised, as add-then-LayerNorm
            s += to_float(v);
        }
    } else {
        for (int c = lane; c < C; c += 32) s += to_float(r[c]);
    }
    normalize_row(r, s, p.gamma, p.beta, p.out + row * C, C, p.eps, lane);
}

// ------------------------------------------------------------------ gather + LayerNorm
//
// One warp per token of the tile [B, k, N, C]: its source token in the map (shift and padding folded in),
// copied to the tile and normalised into out in the same pass.

template <typename T>
struct GatherLnParams {
    const T* x;          // [B, H*W, C] token map
    const T* gamma;
    const T* beta;
    T* tile;             // [B, k, N, C]
    T* out;              // [B, k, N, C]
    const int* order;    // [B, nW] or NULL
    GridParams g;
    long long rows;      // B * k * N
    int k;
    int channels;
    float eps;
    int zero_padded;
};

template <typename T>
__global__ void __launch_bounds__(LN_WARPS * 32) gather_layer_norm_kernel(GatherLnParams<T> p) {
    const long long row = (long long)blockIdx.x * LN_WARPS + (threadIdx.x >> 5);   // (b * k + j) * N + t
    const int lane = threadIdx.x & 31;
    if (row >= p.rows) return;
    const int N = p.g.N;
    const long long bj = row / N;
    const int t = (int)(row - bj * N);
    const int b = (int)(bj / p.k), j = (int)(bj - (long long)b * p.k);
    const int C = p.channels;
    const int w = window_of(p.order, p.g.nW, b, j);
    const int src = source_token(p.g, w, t);
    T* tr = p.tile + row * C;
    T* o = p.out + row * C;
    const T zero = from_float<T>(0.f);
    if (src < 0) {
        for (int c = lane; c < C; c += 32) {
            tr[c] = zero;
            o[c] = p.zero_padded ? zero : p.beta[c];   // LayerNorm of a zero row is beta
        }
        return;
    }
    const T* r = p.x + ((long long)b * p.g.H * p.g.W + src) * C;
    float s = 0.f;
    for (int c = lane; c < C; c += 32) {
        const T v = r[c];
        tr[c] = v;
        s += to_float(v);
    }
    normalize_row(r, s, p.gamma, p.beta, o, C, p.eps, lane);
}

template <typename T>
static int launch_gather_layer_norm(const void* x, const void* gamma, const void* beta, void* tile, void* out,
                                    const int* order, const GridParams& g, int batch, int channels, int k, float eps,
                                    int zero_padded, cudaStream_t s) {
    GatherLnParams<T> p;
    p.x = (const T*)x;
    p.gamma = (const T*)gamma;
    p.beta = (const T*)beta;
    p.tile = (T*)tile;
    p.out = (T*)out;
    p.order = order;
    p.g = g;
    p.k = k;
    p.channels = channels;
    p.eps = eps;
    p.zero_padded = zero_padded;
    long long rows = (long long)batch * k * g.N;
    p.rows = rows;
    unsigned blocks = (unsigned)((rows + LN_WARPS - 1) / LN_WARPS);
    gather_layer_norm_kernel<T><<<blocks, LN_WARPS * 32, 0, s>>>(p);
    return svj_launch("svj_gather_layer_norm");
}

template <typename T>
static int launch_layer_norm(const void* x, const void* b, const void* gamma, const void* beta, void* out,
                             long long rows, int channels, float eps, cudaStream_t s, const char* op) {
    LayerNormParams<T> p;
    p.x = (const T*)x;
    p.b = (const T*)b;
    p.gamma = (const T*)gamma;
    p.beta = (const T*)beta;
    p.out = (T*)out;
    p.rows = rows;
    p.channels = channels;
    p.eps = eps;
    unsigned blocks = (unsigned)((rows + LN_WARPS - 1) / LN_WARPS);
    if (b) {
        layer_norm_kernel<T, true><<<blocks, LN_WARPS * 32, 0, s>>>(p);
    } else {
        layer_norm_kernel<T, false><<<blocks, LN_WARPS * 32, 0, s>>>(p);
    }
    return svj_launch(op);
}

extern "C" {

int svj_layer_norm(const void* x, const void* gamma, const void* beta, void* out, int dtype, long long rows,
                   int channels, float eps, void* stream) {
    const char* op = "svj_layer_norm";
    SVJ_REQUIRE(x && gamma && beta && out, "%s: null tensor", op);
    SVJ_REQUIRE(rows >= 0 && rows < (1LL << 33) && channels > 0, "%s: %lld rows of %d channels", op, rows, channels);
    if (rows == 0) return 0;
    SVJ_DISPATCH_FLOAT(dtype, op, launch_layer_norm, x, nullptr, gamma, beta, out, rows, channels, eps,
                       (cudaStream_t)stream, op)
}

int svj_gather_layer_norm(const void* x, const void* gamma, const void* beta, void* tile, void* out, const int* order,
                          int dtype, int batch, int height, int width, int channels, int window, int shift, int k,
                          float eps, int zero_padded, void* stream) {
    const char* op = "svj_gather_layer_norm";
    SVJ_REQUIRE(x && gamma && beta && tile && out, "%s: null tensor", op);
    SVJ_REQUIRE(channels > 0, "%s: %d channels", op, channels);
    SVJ_REQUIRE(tile != out && tile != x && out != x, "%s: x, tile and out must be distinct", op);
    GridParams g;
    int rc = check_windows(op, batch, height, width, window, shift, k, order, &g);
    if (rc) return rc;
    SVJ_REQUIRE((long long)batch * k * g.N < (1LL << 33), "%s: %d x %d windows of %d tokens", op, batch, k, g.N);
    if (k == 0) return 0;
    SVJ_DISPATCH_FLOAT(dtype, op, launch_gather_layer_norm, x, gamma, beta, tile, out, order, g, batch, channels, k, eps,
                       zero_padded, (cudaStream_t)stream)
}

int svj_add_layer_norm(void* a, const void* b, const void* gamma, const void* beta, void* out, int dtype,
                       long long rows, int channels, float eps, void* stream) {
    const char* op = "svj_add_layer_norm";
    SVJ_REQUIRE(a && b && gamma && beta && out, "%s: null tensor", op);
    SVJ_REQUIRE(out != a, "%s: out must not be a", op);
    SVJ_REQUIRE(rows >= 0 && rows < (1LL << 33) && channels > 0, "%s: %lld rows of %d channels", op, rows, channels);
    if (rows == 0) return 0;
    SVJ_DISPATCH_FLOAT(dtype, op, launch_layer_norm, a, b, gamma, beta, out, rows, channels, eps,
                       (cudaStream_t)stream, op)
}

}  // extern "C"
