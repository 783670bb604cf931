// Fused window attention: softmax(q k^T * d^-1/2 + relative position bias + shift mask) v, per window
// and head, with the whole window's K and V in shared memory. The shift mask comes from region labels
// computed on the fly; no mask tensor exists. Storage F32, F16 or BF16; all math in float32.
//
// Launch: one CTA of ATTN_WARPS warps per (kept window of the tile, head). Each warp takes query rows
// q = warp, warp + ATTN_WARPS, ...; lane l holds the scores of keys l, l + 32, ... (N <= 32 *
// MAX_KEY_CHUNKS) in registers, so the softmax is two warp reductions; the output row is then
// accumulated with lanes over head channels, each probability broadcast by a shuffle.
#include "common.cuh"
#include <mma.h>
#include <type_traits>

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
    extern __shared__ __align__(128) float smem[];   // WMMA pointers must be 32-byte aligned
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
    // (t, e) of element i, stepped by the block size without a division per element
    const int dt = (ATTN_WARPS * 32) / d, de = (ATTN_WARPS * 32) - dt * d;
    for (int i = threadIdx.x, t = i / d, e = i - t * d; i < N * d; i += ATTN_WARPS * 32) {
        ks[t * ld + e] = to_float(base[(long long)t * c3 + p.channels + h * d + e]);
        vs[t * ld + e] = to_float(base[(long long)t * c3 + 2 * p.channels + h * d + e]);
        t += dt;
        e += de;
        if (e >= d) {
            e -= d;
            t++;
        }
    }
    for (int i = threadIdx.x; i < tw * tw; i += blockDim.x) bias[i] = to_float(p.table[(long long)i * p.heads + h]);
    for (int i = threadIdx.x; i < N; i += blockDim.x) reg[i] = region(p.g, w, i);
    __syncthreads();

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int win = p.g.win;
    const int off = p.bias_window - 1;
    float* q = qs + warp * d;
    // this lane's keys kk = c * 32 + lane: bias coordinate once, not per query row (region labels stay in
    // shared memory: 5 more registers cost occupancy); WindowGrid.biasRow (qy - ky + off) * tw + (qx - kx + off)
    // is then qrow - kb[c] with qrow = qy * tw + qx
    int kb[MAX_KEY_CHUNKS];
#pragma unroll
    for (int c = 0; c < MAX_KEY_CHUNKS; c++) {
        const int kk = c * 32 + lane;
        const int ky = kk / win, kx = kk - ky * win;
        kb[c] = ky * tw + kx - off * (tw + 1);
    }
    int qy = warp / win, qx = warp - qy * win;   // coordinates of row qi, stepped with it
    for (int qi = warp; qi < N; qi += ATTN_WARPS) {
        for (int e = lane; e < d; e += 32) q[e] = to_float(base[(long long)qi * c3 + h * d + e]) * p.scale;
        __syncwarp();
        const int rq = reg[qi];
        const int qrow = qy * tw + qx;
        qx += ATTN_WARPS;
        while (qx >= win) {
            qx -= win;
            qy++;
        }
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
                acc += bias[qrow - kb[c]];   // WindowGrid.biasRow
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

// ------------------------------------------------------------------ F16/BF16 on tensor cores
//
// One CTA of ATTN_WARPS warps per (kept window, head); N padded to Np (a multiple of 16), head dim d a
// multiple of 16. Q (scaled by d^-1/2 in float, then stored as T, as PyTorch does), K and V of the window
// are staged in shared memory (padding rows zero). Each warp then owns 16-row strips of queries and needs
// no further CTA barrier: S = Q K^T for its strip on tensor cores (float accumulation) into its own float
// strip; each row becomes probabilities in float (bias from the table, shift mask from region labels,
// padded keys excluded) written back as T over the same row (P aliases S: a row is read whole into
// registers before it is overwritten); O = P V on tensor cores, staged in float and written as T in tile
// order. Shared memory for d = 32: 38 KB at window 7, 79 KB at window 12.

#define MMA_PAD 8   // T elements added to each Q/K/V row: keeps rows 32-byte aligned, spreads banks

static size_t attention_mma_smem(int n, int d, int bias_window, int* np_out, int* ldq_out, int* lds_out) {
    int np = (n + 15) / 16 * 16;
    int ldq = d + MMA_PAD;
    int lds = np + 4;
    int tw = 2 * bias_window - 1;
    *np_out = np;
    *ldq_out = ldq;
    *lds_out = lds;
    size_t qkv = (size_t)3 * np * ldq * 2;                    // T is 2 bytes
    size_t strips = (size_t)ATTN_WARPS * 16 * lds * 4;        // per warp: float scores, P (T) aliasing them
    size_t stage = (size_t)ATTN_WARPS * 256 * 4;              // per warp: one float 16x16 output tile
    return qkv + strips + stage + (size_t)tw * tw * 4 + (size_t)np * 4;
}

template <typename T>
__global__ void __launch_bounds__(ATTN_WARPS * 32) window_attention_mma_kernel(AttnParams<T> p, int np, int ldq,
                                                                                  int lds) {
    using namespace nvcuda;
    extern __shared__ __align__(128) float smem[];   // WMMA pointers must be 32-byte aligned
    const int N = p.g.N;
    const int d = p.d;
    const int tw = 2 * p.bias_window - 1;
    T* qs = (T*)smem;                               // [np, ldq]
    T* ks = qs + np * ldq;                          // [np, ldq]
    T* vs = ks + np * ldq;                          // [np, ldq]
    float* strips = (float*)(vs + np * ldq);        // [ATTN_WARPS, 16, lds]
    float* stages = strips + ATTN_WARPS * 16 * lds; // [ATTN_WARPS, 16 * 16]
    float* bias = stages + ATTN_WARPS * 256;        // [tw * tw]: this head's table column
    int* reg = (int*)(bias + tw * tw);              // [np] region labels
    const int h = blockIdx.y;
    const long long bw = blockIdx.x;                // b * k + j
    const int b = (int)(bw / p.k), j = (int)(bw - (long long)b * p.k);
    const int w = window_of(p.order, p.g.nW, b, j);
    const int c3 = 3 * p.channels;
    const T* base = p.qkv + bw * N * c3;
    const T zero = from_float<T>(0.f);
    for (int i = threadIdx.x; i < np * d; i += blockDim.x) {
        int t = i / d, e = i - t * d;
        if (t < N) {
            const T* row = base + (long long)t * c3 + h * d + e;
            qs[t * ldq + e] = from_float<T>(to_float(row[0]) * p.scale);
            ks[t * ldq + e] = row[p.channels];
            vs[t * ldq + e] = row[2 * p.channels];
        } else {
            qs[t * ldq + e] = zero;
            ks[t * ldq + e] = zero;
            vs[t * ldq + e] = zero;
        }
    }
    for (int i = threadIdx.x; i < tw * tw; i += blockDim.x) bias[i] = to_float(p.table[(long long)i * p.heads + h]);
    for (int i = threadIdx.x; i < N; i += blockDim.x) reg[i] = region(p.g, w, i);
    __syncthreads();

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int tiles = np / 16;
    const int win = p.g.win;
    const int off = p.bias_window - 1;
    const int ldp = 2 * lds;                        // P row stride in T elements
    float* sc = strips + warp * 16 * lds;
    T* pr = (T*)sc;
    float* st = stages + warp * 256;
    for (int ti = warp; ti < tiles; ti += ATTN_WARPS) {
        // S strip = Q[ti] K^T (K^T as a column-major B operand is K row-major)
        for (int tj = 0; tj < tiles; tj++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::fill_fragment(acc, 0.f);
            for (int kk = 0; kk < d; kk += 16) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> bt;
                wmma::load_matrix_sync(a, qs + ti * 16 * ldq + kk, ldq);
                wmma::load_matrix_sync(bt, ks + tj * 16 * ldq + kk, ldq);
                wmma::mma_sync(acc, a, bt, acc);
            }
            wmma::store_matrix_sync(sc + tj * 16, acc, lds, wmma::mem_row_major);
        }
        __syncwarp();
        // softmax row by row; padded query rows become zeros
        for (int r = 0; r < 16; r++) {
            const int qi = ti * 16 + r;
            float s[MAX_KEY_CHUNKS];
            float mx = -INFINITY;
            const int rq = qi < N ? reg[qi] : 0;
            const int qy = qi / win, qx = qi - qy * win;
#pragma unroll
            for (int c = 0; c < MAX_KEY_CHUNKS; c++) {
                const int kk = c * 32 + lane;
                float v = -INFINITY;
                if (qi < N && kk < N) {
                    const int ky = kk / win, kx = kk - ky * win;
                    v = sc[r * lds + kk] + bias[(qy - ky + off) * tw + (qx - kx + off)];   // WindowGrid.biasRow
                    if (reg[kk] != rq) v += -100.f;
                }
                s[c] = v;
                mx = fmaxf(mx, v);
            }
            for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
            float sum = 0.f;
#pragma unroll
            for (int c = 0; c < MAX_KEY_CHUNKS; c++) {
                float e = (qi < N && c * 32 + lane < N) ? expf(s[c] - mx) : 0.f;
                s[c] = e;
                sum += e;
            }
            for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
            const float inv = qi < N ? 1.f / sum : 0.f;   // sum >= 1 for real rows
            __syncwarp();   // every lane has read its scores of this row before the row is overwritten
#pragma unroll
            for (int c = 0; c < MAX_KEY_CHUNKS; c++) {
                const int kk = c * 32 + lane;
                if (kk < np) pr[r * ldp + kk] = from_float<T>(s[c] * inv);
            }
        }
        __syncwarp();
        // O strip = P V, one 16x16 output tile at a time
        for (int tj = 0; tj < d / 16; tj++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::fill_fragment(acc, 0.f);
            for (int kk = 0; kk < np; kk += 16) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> bv;
                wmma::load_matrix_sync(a, pr + kk, ldp);
                wmma::load_matrix_sync(bv, vs + kk * ldq + tj * 16, ldq);
                wmma::mma_sync(acc, a, bv, acc);
            }
            wmma::store_matrix_sync(st, acc, 16, wmma::mem_row_major);
            __syncwarp();
            for (int e = lane; e < 256; e += 32) {
                const int r = ti * 16 + (e >> 4);
                if (r < N) p.out[(bw * N + r) * (long long)p.channels + h * d + tj * 16 + (e & 15)] = from_float<T>(st[e]);
            }
            __syncwarp();   // the stage is rewritten by the next tile
        }
        __syncwarp();       // the strip is rewritten by the next strip's S
    }
}

template <typename T>
static int launch_attention(const void* qkv, const void* table, void* out, const int* order, const GridParams& g,
                            int batch, int channels, int heads, int bias_window, int k, cudaStream_t stream) {
    static SvjSmemRaised smem_raised;
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
    dim3 grid((unsigned)((long long)batch * k), (unsigned)heads);
    if constexpr (!std::is_same<T, float>::value) {
        if (p.d % 16 == 0) {
            static SvjSmemRaised mma_raised;
            int np, ldq, lds;
            size_t smem = attention_mma_smem(g.N, p.d, bias_window, &np, &ldq, &lds);
            int rc = svj_smem_optin((const void*)window_attention_mma_kernel<T>, smem, &mma_raised, op);
            if (rc == 0) {
                window_attention_mma_kernel<T><<<grid, ATTN_WARPS * 32, smem, stream>>>(p, np, ldq, lds);
                return svj_launch(op);
            }
            // more shared memory than the device allows: the CUDA-core kernel below needs less
        }
    }
    size_t smem = attention_smem(g.N, p.d, bias_window);
    int rc = svj_smem_optin((const void*)window_attention_kernel<T>, smem, &smem_raised, op);
    if (rc) return rc;
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
