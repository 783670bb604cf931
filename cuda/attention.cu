// Fused window attention (FP32): softmax(q k^T * d^-1/2 + relative position bias + shift mask) v, per
// window and head, with the whole window's K and V in shared memory. The shift mask comes from region
// labels computed on the fly; no mask tensor exists.
//
// Launch: one CTA of ATTN_WARPS warps per (window of the tile, head). Each warp takes query rows
// q = warp, warp + ATTN_WARPS, ...; a lane holds the scores of keys lane, lane + 32, ... (N <= 32 *
// MAX_KEY_CHUNKS) in registers; the output row is accumulated with lanes over head channels.
#include "common.cuh"

#define ATTN_WARPS 4
#define MAX_KEY_CHUNKS 5   // N <= 160: windows up to 12 x 12
#define MAX_DIM_CHUNKS 4   // head dim <= 128

struct AttnParams {
    const float* qkv;        // [B, k, N, 3C]: q channels, then k, then v; heads are consecutive groups of d
    const float* table;      // [(2 * bias_window - 1)^2, heads]
    float* out;              // [B, k, N, C]
    const int* order;        // [B, nW] kept order or NULL
    GridParams g;            // window grid of the block
    int channels;            // C
    int heads;               // heads
    int d;                   // head dim C / heads
    int k;                   // kept windows per image
    int bias_window;         // table window
    float scale;             // d^-1/2
};

__global__ void __launch_bounds__(ATTN_WARPS * 32) window_attention_kernel(AttnParams p) {
    extern __shared__ float smem[];
    const int N = p.g.N;
    const int d = p.d;
    const int ld = d + 1;                 // padded row: lanes read different keys without bank conflicts
    float* ks = smem;                     // [N, d + 1]
    float* vs = ks + N * ld;              // [N, d + 1]
    float* qs = vs + N * ld;              // [ATTN_WARPS, d]
    const int h = blockIdx.y;
    const long long bw = blockIdx.x;      // b * k + j
    const int b = (int)(bw / p.k), j = (int)(bw - (long long)b * p.k);
    const int w = window_of(p.order, p.g.nW, b, j);
    const int c3 = 3 * p.channels;
    const float* base = p.qkv + bw * N * c3;
    for (int i = threadIdx.x; i < N * d; i += blockDim.x) {
        int t = i / d, e = i - t * d;
        ks[t * ld + e] = base[(long long)t * c3 + p.channels + h * d + e];
        vs[t * ld + e] = base[(long long)t * c3 + 2 * p.channels + h * d + e];
    }
    __syncthreads();
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int tw = 2 * p.bias_window - 1;
    float* q = qs + warp * d;
    for (int qi = warp; qi < N; qi += ATTN_WARPS) {
        for (int e = lane; e < d; e += 32) q[e] = base[(long long)qi * c3 + h * d + e] * p.scale;
        __syncwarp();
        const int rq = region(p.g, w, qi);
        const int qy = qi / p.g.win, qx = qi - qy * p.g.win;
        float s[MAX_KEY_CHUNKS];
        float mx = -INFINITY;
#pragma unroll
        for (int c = 0; c < MAX_KEY_CHUNKS; c++) {
            int kk = c * 32 + lane;
            float v = -INFINITY;
            if (kk < N) {
                float acc = 0.f;
                const float* kr = ks + kk * ld;
                for (int e = 0; e < d; e++) acc = fmaf(q[e], kr[e], acc);
                int ky = kk / p.g.win, kx = kk - ky * p.g.win;
                int row = (qy - ky + p.bias_window - 1) * tw + (qx - kx + p.bias_window - 1);
                acc += p.table[row * p.heads + h];
                if (p.g.shift && region(p.g, w, kk) != rq) acc += -100.f;
                v = acc;
            }
            s[c] = v;
            mx = fmaxf(mx, v);
        }
        for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
        float sum = 0.f;
#pragma unroll
        for (int c = 0; c < MAX_KEY_CHUNKS; c++) {
            float e = (c * 32 + lane < N) ? __expf(s[c] - mx) : 0.f;
            s[c] = e;
            sum += e;
        }
        for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
        const float inv = 1.f / sum;
        float acc[MAX_DIM_CHUNKS];
#pragma unroll
        for (int c = 0; c < MAX_DIM_CHUNKS; c++) acc[c] = 0.f;
#pragma unroll
        for (int c = 0; c < MAX_KEY_CHUNKS; c++) {
            if (c * 32 >= N) break;
            int n = min(32, N - c * 32);
            for (int src = 0; src < n; src++) {
                float pk = __shfl_sync(0xffffffffu, s[c], src);
                const float* vr = vs + (c * 32 + src) * ld;
#pragma unroll
                for (int dc = 0; dc < MAX_DIM_CHUNKS; dc++) {
                    int e = dc * 32 + lane;
                    if (e < d) acc[dc] = fmaf(pk, vr[e], acc[dc]);
                }
            }
        }
        float* o = p.out + (bw * N + qi) * (long long)p.channels + h * d;
#pragma unroll
        for (int dc = 0; dc < MAX_DIM_CHUNKS; dc++) {
            int e = dc * 32 + lane;
            if (e < d) o[e] = acc[dc] * inv;
        }
        __syncwarp();
    }
}

extern "C" int svj_window_attention(const float* qkv, const float* table, float* out, const int* order, int batch,
                                    int height, int width, int channels, int heads, int window, int shift,
                                    int bias_window, int k, void* stream) {
    if (!qkv || !table || !out || batch <= 0 || heads <= 0 || channels % heads || k < 0
        || !grid_ok(height, width, window, shift) || bias_window < window)
        return SVJ_EINVAL;
    AttnParams p;
    p.g = make_grid(height, width, window, shift);
    if (k > p.g.nW || (!order && k != p.g.nW)) return SVJ_EINVAL;
    p.d = channels / heads;
    if (p.g.N > 32 * MAX_KEY_CHUNKS || p.d > 32 * MAX_DIM_CHUNKS) return SVJ_EINVAL;
    if (k == 0) return 0;
    p.qkv = qkv;
    p.table = table;
    p.out = out;
    p.order = order;
    p.channels = channels;
    p.heads = heads;
    p.k = k;
    p.bias_window = bias_window;
    p.scale = 1.0f / sqrtf((float)p.d);
    size_t smem = (size_t)(2 * p.g.N * (p.d + 1) + ATTN_WARPS * p.d) * sizeof(float);
    if (smem > 48 * 1024) {
        cudaError_t e = cudaFuncSetAttribute(window_attention_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             (int)smem);
        if (e != cudaSuccess) return (int)e;
    }
    dim3 grid((unsigned)((long long)batch * k), (unsigned)heads);
    window_attention_kernel<<<grid, ATTN_WARPS * 32, smem, (cudaStream_t)stream>>>(p);
    return last_launch_error();
}
