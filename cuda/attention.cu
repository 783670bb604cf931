// Fused window attention: softmax(q k^T * d^-1/2 + relative position bias + shift mask) v, per window
// and head, with the whole window's K and V in shared memory. The shift mask comes from region labels
// computed on the fly; no mask tensor exists. Storage F32, F16 or BF16; all math in float32.
//
// Launch: one CTA of ATTN_WARPS warps per (kept window of the tile, head). Each warp takes query rows
// q = warp, warp + ATTN_WARPS, ...; lane l holds the scores of keys l, l + 32, ... (N <= 32 *
// MAX_KEY_CHUNKS) in registers, so the softmax is two warp reductions; the output row is then
// accumulated with lanes over head channels, each probability broadcast by a shuffle.
#include "common.cuh"

#define ATTN_WARPS 4
#define MAX_KEY_CHUNKS 5   // N <= 160: windows up to 12 x 12
#define MAX_DIM_CHUNKS 4   // head dim <= 128

template <typename T>
struct AttnParams {
    const T* qkv;        // [B, k, N, 3C]: q channels, then k, then v; head h owns channels [h*d, (h+1)*d) of each
    const T* table;      // relative position bias [(2 * bias_window - 1)^2, heads]
    T* out;              // [B, k, N, C], heads concatenated
    const int* order;    // [B, nW] kept window numbers, or NULL (natural order)
    GridParams g;        // the block's window grid (region labels for the shift mask)
    int channels;        // C = heads * d
    int heads;           // attention heads
    int d;               // head dim C / heads
    int k;               // kept windows per image
    int bias_window;     // window the table was built for (>= g.win)
    float scale;         // d^-1/2, applied to q before the dot products (as PyTorch)
};

// Shared memory floats of one CTA: K and V rows padded to d + 1 (conflict-free column reads), one q row
// per warp, this head's column of the bias table, the N region labels.
static size_t attention_smem(int n, int d, int bias_window) {
    int tw = 2 * bias_window - 1;
    return (size_t)(2 * n * (d + 1) + ATTN_WARPS * d + tw * tw + n) * sizeof(float);
}

template <typename T>
__global__ void __launch_bounds__(ATTN_WARPS * 32) window_attention_kernel(AttnParams<T> p) {
    extern __shared__ float smem[];
    const int N = p.g.N;
    const int d = p.d;
    const int ld = d + 1;
    const int tw = 2 * p.bias_window - 1;
    float* ks = smem;                     // [N, d + 1]
    float* vs = ks + N * ld;              // [N, d + 1]
    float* qs = vs + N * ld;              // [ATTN_WARPS, d]
    float* bias = qs + ATTN_WARPS * d;    // [tw * tw]: this head's table column
    int* reg = (int*)(bias + tw * tw);    // [N] region labels
    const int h = blockIdx.y;
    const long long bw = blockIdx.x;      // b * k + j
    const int b = (int)(bw / p.k), j = (int)(bw - (long long)b * p.k);
    const int w = window_of(p.order, p.g.nW, b, j);
    const int c3 = 3 * p.channels;
    const T* base = p.qkv + bw * N * c3;
    for (int i = threadIdx.x; i < N * d; i += blockDim.x) {
        int t = i / d, e = i - t * d;
        ks[t * ld + e] = to_float(base[(long long)t * c3 + p.channels + h * d + e]);
        vs[t * ld + e] = to_float(base[(long long)t * c3 + 2 * p.channels + h * d + e]);
    }
    for (int i = threadIdx.x; i < tw * tw; i += blockDim.x) bias[i] = to_float(p.table[(long long)i * p.heads + h]);
    for (int i = threadIdx.x; i < N; i += blockDim.x) reg[i] = region(p.g, w, i);
    __syncthreads();

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int win = p.g.win;
    const int off = p.bias_window - 1;
    float* q = qs + warp * d;
    for (int qi = warp; qi < N; qi += ATTN_WARPS) {
        for (int e = lane; e < d; e += 32) q[e] = to_float(base[(long long)qi * c3 + h * d + e]) * p.scale;
        __syncwarp();
        const int rq = reg[qi];
        const int qy = qi / win, qx = qi - qy * win;
        float s[MAX_KEY_CHUNKS];
        float mx = -INFINITY;
#pragma unroll
        for (int c = 0; c < MAX_KEY_CHUNKS; c++) {
            const int kk = c * 32 + lane;
            float v = -INFINITY;
            if (kk < N) {
                float acc = 0.f;
                const float* kr = ks + kk * ld;
                for (int e = 0; e < d; e++) acc = fmaf(q[e], kr[e], acc);
                const int ky = kk / win, kx = kk - ky * win;
                acc += bias[(qy - ky + off) * tw + (qx - kx + off)];   // WindowGrid.biasRow
                if (reg[kk] != rq) acc += -100.f;
                v = acc;
            }
            s[c] = v;
            mx = fmaxf(mx, v);
        }
        for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
        float sum = 0.f;
#pragma unroll
        for (int c = 0; c < MAX_KEY_CHUNKS; c++) {
            float e = (c * 32 + lane < N) ? expf(s[c] - mx) : 0.f;
            s[c] = e;
            sum += e;
        }
        for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
        const float inv = 1.f / sum;   // sum >= 1: the maximum contributes exp(0)
        float acc[MAX_DIM_CHUNKS];
#pragma unroll
        for (int c = 0; c < MAX_DIM_CHUNKS; c++) acc[c] = 0.f;
#pragma unroll
        for (int c = 0; c < MAX_KEY_CHUNKS; c++) {
            if (c * 32 < N) {
                const int n = min(32, N - c * 32);
                for (int src = 0; src < n; src++) {
                    const float pk = __shfl_sync(0xffffffffu, s[c], src);
                    const float* vr = vs + (c * 32 + src) * ld;
#pragma unroll
                    for (int dc = 0; dc < MAX_DIM_CHUNKS; dc++) {
                        const int e = dc * 32 + lane;
                        if (e < d) acc[dc] = fmaf(pk, vr[e], acc[dc]);
                    }
                }
            }
        }
        T* o = p.out + (bw * N + qi) * (long long)p.channels + h * d;
#pragma unroll
        for (int dc = 0; dc < MAX_DIM_CHUNKS; dc++) {
            const int e = dc * 32 + lane;
            if (e < d) o[e] = from_float<T>(acc[dc] * inv);
        }
        __syncwarp();   // q is rewritten by the next row
    }
}

template <typename T>
static int launch_attention(const void* qkv, const void* table, void* out, const int* order, const GridParams& g,
                            int batch, int channels, int heads, int bias_window, int k, cudaStream_t stream) {
    static int smem_raised = 48 * 1024;
    const char* op = "svj_window_attention";
    AttnParams<T> p;
    p.qkv = (const T*)qkv;
    p.table = (const T*)table;
    p.out = (T*)out;
    p.order = order;
    p.g = g;
    p.channels = channels;
    p.heads = heads;
    p.d = channels / heads;
    p.k = k;
    p.bias_window = bias_window;
    p.scale = 1.0f / sqrtf((float)p.d);
    size_t smem = attention_smem(g.N, p.d, bias_window);
    int rc = svj_smem_optin((const void*)window_attention_kernel<T>, smem, &smem_raised, op);
    if (rc) return rc;
    dim3 grid((unsigned)((long long)batch * k), (unsigned)heads);
    window_attention_kernel<T><<<grid, ATTN_WARPS * 32, smem, stream>>>(p);
    return svj_launch(op);
}

extern "C" int svj_window_attention(const void* qkv, const void* table, void* out, const int* order, int dtype,
                                    int batch, int height, int width, int channels, int heads, int window, int shift,
                                    int bias_window, int k, void* stream) {
    const char* op = "svj_window_attention";
    SVJ_REQUIRE(qkv && table && out, "%s: null tensor", op);
    SVJ_REQUIRE(heads > 0 && channels > 0 && channels % heads == 0, "%s: %d channels do not split into %d heads", op,
                channels, heads);
    GridParams g;
    int rc = check_windows(op, batch, height, width, window, shift, k, order, &g);
    if (rc) return rc;
    SVJ_REQUIRE(bias_window >= window && bias_window <= 64, "%s: bias window %d for window %d", op, bias_window,
                window);
    SVJ_REQUIRE(g.N <= 32 * MAX_KEY_CHUNKS, "%s: window %d has %d tokens, at most %d are supported", op, window, g.N,
                32 * MAX_KEY_CHUNKS);
    SVJ_REQUIRE(channels / heads <= 32 * MAX_DIM_CHUNKS, "%s: head dim %d, at most %d is supported", op,
                channels / heads, 32 * MAX_DIM_CHUNKS);
    SVJ_REQUIRE(heads <= 65535, "%s: %d heads", op, heads);
    if (k == 0) return 0;
    SVJ_DISPATCH_FLOAT(dtype, op, launch_attention, qkv, table, out, order, g, batch, channels, heads, bias_window, k,
                       (cudaStream_t)stream)
}
