// LayerNorm, bias add, exact GELU, residual add, mean pooling, NCHW transpose, SparseViT importance.
#include "common.cuh"
#include <math.h>

// One warp per row; two passes over the row (mean, then variance) as PyTorch computes the biased variance.
__global__ void layer_norm_kernel(const float* __restrict__ x, const float* __restrict__ gamma,
                                  const float* __restrict__ beta, float* out, long long rows, int channels, float eps) {
    long long row = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= rows) return;
    const float* r = x + row * channels;
    float s = 0.f;
    for (int c = lane; c < channels; c += 32) s += r[c];
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    float mean = s / channels;
    float v = 0.f;
    for (int c = lane; c < channels; c += 32) {
        float dlt = r[c] - mean;
        v = fmaf(dlt, dlt, v);
    }
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    float inv = rsqrtf(v / channels + eps);
    float* o = out + row * channels;
    for (int c = lane; c < channels; c += 32) o[c] = (r[c] - mean) * inv * gamma[c] + beta[c];
}

__global__ void bias_add_kernel(float* x, const float* __restrict__ bias, long long n, int channels) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        x[i] += bias[i % channels];
}

__global__ void gelu_kernel(float* x, long long n) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        float v = x[i];
        x[i] = 0.5f * v * (1.f + erff(v * 0.70710678118654752f));
    }
}

__global__ void add_kernel(float* a, const float* __restrict__ b, long long n) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        a[i] += b[i];
}

// One thread per (image, channel), summing over tokens.
__global__ void mean_pool_kernel(const float* __restrict__ x, float* out, int batch, int tokens, int channels) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= batch * channels) return;
    int b = i / channels, c = i - b * channels;
    const float* p = x + (long long)b * tokens * channels + c;
    float s = 0.f;
    for (int t = 0; t < tokens; t++) s += p[(long long)t * channels];
    out[i] = s / tokens;
}

// [B, L, C] -> [B, C, L], one thread per output element.
__global__ void to_channels_first_kernel(const float* __restrict__ x, float* out, int batch, int tokens, int channels) {
    long long n = (long long)batch * tokens * channels;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        long long b = i / ((long long)channels * tokens);
        long long rem = i - b * channels * tokens;
        int c = (int)(rem / tokens), t = (int)(rem - (long long)c * tokens);
        out[i] = x[(b * tokens + t) * channels + c];
    }
}

// One warp per token: mean over channels of |x|.
__global__ void token_importance_kernel(const float* __restrict__ x, float* out, long long tokens, int channels) {
    long long t = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (t >= tokens) return;
    const float* r = x + t * channels;
    float s = 0.f;
    for (int c = lane; c < channels; c += 32) s += fabsf(r[c]);
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0) out[t] = s / channels;
}

// One thread per (image, window): L2 norm of the importance map over the window (padding counts as 0).
__global__ void window_scores_kernel(const float* __restrict__ a, float* out, int batch, GridParams g) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= batch * g.nW) return;
    int b = i / g.nW, w = i - b * g.nW;
    const float* m = a + (long long)b * g.H * g.W;
    double s = 0.0;
    for (int t = 0; t < g.N; t++) {
        int p = source_token(g, w, t);
        if (p >= 0) {
            double v = m[p];
            s += v * v;
        }
    }
    out[i] = (float)sqrt(s);
}

extern "C" {

int svj_layer_norm(const float* x, const float* gamma, const float* beta, float* out, long long rows, int channels,
                   float eps, void* stream) {
    if (!x || !gamma || !beta || !out || rows < 0 || channels <= 0) return SVJ_EINVAL;
    if (rows == 0) return 0;
    layer_norm_kernel<<<blocks_for(rows, 8), 256, 0, (cudaStream_t)stream>>>(x, gamma, beta, out, rows, channels, eps);
    return last_launch_error();
}

int svj_bias_add(float* x, const float* bias, long long rows, int channels, void* stream) {
    if (!x || !bias || rows < 0 || channels <= 0) return SVJ_EINVAL;
    if (rows == 0) return 0;
    long long n = rows * channels;
    bias_add_kernel<<<blocks_for(n, 256), 256, 0, (cudaStream_t)stream>>>(x, bias, n, channels);
    return last_launch_error();
}

int svj_gelu(float* x, long long n, void* stream) {
    if (!x || n < 0) return SVJ_EINVAL;
    if (n == 0) return 0;
    gelu_kernel<<<blocks_for(n, 256), 256, 0, (cudaStream_t)stream>>>(x, n);
    return last_launch_error();
}

int svj_add(float* a, const float* b, long long n, void* stream) {
    if (!a || !b || n < 0) return SVJ_EINVAL;
    if (n == 0) return 0;
    add_kernel<<<blocks_for(n, 256), 256, 0, (cudaStream_t)stream>>>(a, b, n);
    return last_launch_error();
}

int svj_mean_pool(const float* x, float* out, int batch, int tokens, int channels, void* stream) {
    if (!x || !out || batch <= 0 || tokens <= 0 || channels <= 0) return SVJ_EINVAL;
    mean_pool_kernel<<<blocks_for((long long)batch * channels, 256), 256, 0, (cudaStream_t)stream>>>(x, out, batch,
                                                                                                   tokens, channels);
    return last_launch_error();
}

int svj_to_channels_first(const float* x, float* out, int batch, int tokens, int channels, void* stream) {
    if (!x || !out || batch <= 0 || tokens <= 0 || channels <= 0) return SVJ_EINVAL;
    long long n = (long long)batch * tokens * channels;
    to_channels_first_kernel<<<blocks_for(n, 256), 256, 0, (cudaStream_t)stream>>>(x, out, batch, tokens, channels);
    return last_launch_error();
}

int svj_token_importance(const float* x, float* out, long long tokens, int channels, void* stream) {
    if (!x || !out || tokens < 0 || channels <= 0) return SVJ_EINVAL;
    if (tokens == 0) return 0;
    token_importance_kernel<<<blocks_for(tokens, 8), 256, 0, (cudaStream_t)stream>>>(x, out, tokens, channels);
    return last_launch_error();
}

int svj_window_scores(const float* a, float* out, int batch, int height, int width, int window, int shift,
                      void* stream) {
    if (!a || !out || batch <= 0 || !grid_ok(height, width, window, shift)) return SVJ_EINVAL;
    GridParams g = make_grid(height, width, window, shift);
    window_scores_kernel<<<blocks_for((long long)batch * g.nW, 128), 128, 0, (cudaStream_t)stream>>>(a, out, batch, g);
    return last_launch_error();
}

}  // extern "C"

// ------------------------------------------------------------------ fused passes

// One warp per row: a += b (written back), then out = LayerNorm(a): one read of a and b instead of two passes.
__global__ void add_layer_norm_kernel(float* a, const float* __restrict__ b, const float* __restrict__ gamma,
                                      const float* __restrict__ beta, float* out, long long rows, int channels,
                                      float eps) {
    long long row = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= rows) return;
    float* r = a + row * channels;
    const float* q = b + row * channels;
    float s = 0.f;
    for (int c = lane; c < channels; c += 32) {
        float v = r[c] + q[c];
        r[c] = v;
        s += v;
    }
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    float mean = s / channels;
    float v = 0.f;
    for (int c = lane; c < channels; c += 32) {
        float d = r[c] - mean;
        v = fmaf(d, d, v);
    }
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    float inv = rsqrtf(v / channels + eps);
    float* o = out + row * channels;
    for (int c = lane; c < channels; c += 32) o[c] = (r[c] - mean) * inv * gamma[c] + beta[c];
}

// x = GELU(x + bias), exact erf form.
__global__ void bias_gelu_kernel(float* x, const float* __restrict__ bias, long long n, int channels) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        float v = x[i] + bias[i % channels];
        x[i] = 0.5f * v * (1.f + erff(v * 0.70710678118654752f));
    }
}

extern "C" {

int svj_add_layer_norm(float* a, const float* b, const float* gamma, const float* beta, float* out, long long rows,
                       int channels, float eps, void* stream) {
    if (!a || !b || !gamma || !beta || !out || rows < 0 || channels <= 0 || out == a) return SVJ_EINVAL;
    if (rows == 0) return 0;
    add_layer_norm_kernel<<<blocks_for(rows, 8), 256, 0, (cudaStream_t)stream>>>(a, b, gamma, beta, out, rows, channels,
                                                                              eps);
    return last_launch_error();
}

int svj_bias_gelu(float* x, const float* bias, long long rows, int channels, void* stream) {
    if (!x || !bias || rows < 0 || channels <= 0) return SVJ_EINVAL;
    if (rows == 0) return 0;
    long long n = rows * channels;
    bias_gelu_kernel<<<blocks_for(n, 256), 256, 0, (cudaStream_t)stream>>>(x, bias, n, channels);
    return last_launch_error();
}

}  // extern "C"
