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
#include <string.h>
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
// order. Shared memory for d = 32: 38 KB at window 7, 79 KB at window 12. Where qkv and out allow (16-byte
// aligned base and rows), Q/K/V are staged and the output written in 16-byte pieces; else element by element.
//
// The kernel is a template on KC = ceil(N / 32) (2 at window 7, 5 at window 12), so the softmax touches only
// keys below 32 * KC, and on D = d when d is 32 (Swin-T/S/B; D = 0: d at run time). Query rows past N
// (padding) get zero probabilities without a softmax: their output rows are computed but never stored, which
// must stay so. Each real row's arithmetic is that of the first version of this kernel (one row per warp,
// a lane's keys l + 32 c), in the same order, so its bits are unchanged: q scaled in float then rounded to T;
// (s + bias) + (-100) on a region mismatch; lane partial sums over c, then the butterfly; P = T(e * (1 / sum)).

#define MMA_PAD 8   // T elements added to each Q/K/V row: keeps rows 32-byte aligned, spreads banks

struct MmaShape {
    int np;         // N rounded up to 16
    int ldq;        // Q/K/V row stride in T elements
    int lds;        // score row stride in floats
    bool vec_in;    // qkv base and rows 16-byte aligned: Q/K/V staged in 16-byte pieces
    bool vec_out;   // out base and rows 16-byte aligned: output rows written in 16-byte pieces
};

static size_t attention_mma_smem(int n, int d, int bias_window, MmaShape* s) {
    int np = (n + 15) / 16 * 16;
    int tw = 2 * bias_window - 1;
    s->np = np;
    s->ldq = d + MMA_PAD;
    s->lds = np + 4;
    size_t qkv = (size_t)3 * np * s->ldq * 2;                  // T is 2 bytes
    size_t strips = (size_t)ATTN_WARPS * 16 * s->lds * 4;      // per warp: float scores, P (T) aliasing them
    size_t stage = (size_t)ATTN_WARPS * 256 * 4;               // per warp: one float 16x16 output tile
    return qkv + strips + stage + (size_t)tw * tw * 4 + (size_t)np * 4;
}

template <typename T, int KC, int D>
__global__ void __launch_bounds__(ATTN_WARPS * 32) window_attention_mma_kernel(AttnParams<T> p, MmaShape shape) {
    using namespace nvcuda;
    constexpr int THREADS = ATTN_WARPS * 32;
    extern __shared__ __align__(128) float smem[];   // WMMA pointers must be 32-byte aligned
    const int N = p.g.N;
    const int d = D ? D : p.d;
    const int np = shape.np, ldq = shape.ldq, lds = shape.lds;
    const int tw = 2 * p.bias_window - 1;
    T* qs = (T*)smem;                               // [np, ldq]
    T* ks = qs + np * ldq;                          // [np, ldq]
    T* vs = ks + np * ldq;                          // [np, ldq]
    float* strips = (float*)(vs + np * ldq);        // [ATTN_WARPS, 16, lds]
    float* stages = strips + ATTN_WARPS * 16 * lds; // [ATTN_WARPS, 16 * 16]
    float* bias = stages + ATTN_WARPS * 256;        // [tw * tw]: this head's table column
    int* tok = (int*)(bias + tw * tw);              // [np] token words (below)
    const int h = blockIdx.y;
    const long long bw = blockIdx.x;                // b * k + j
    const int b = (int)(bw / p.k), j = (int)(bw - (long long)b * p.k);
    const int w = window_of(p.order, p.g.nW, b, j);
    const int c3 = 3 * p.channels;
    const T* base = p.qkv + bw * N * c3;
    const T zero = from_float<T>(0.f);
    const int win = p.g.win;
    if (shape.vec_in) {
        // rows of d elements in P 16-byte pieces (8 T): a thread issues the loads of two rounds (its Q, K, V
        // pieces and bias entries) before their shared-memory stores, so their latencies overlap. The table
        // column keeps its stride of heads: tw * tw elements (169 at window 7) are 6 warp loads of at most 32
        // sectors, fewer bytes than reading whole table rows coalesced (heads times the column), and the table
        // (8 KB for Swin-T) stays in cache over the launch; its latency is what the rounds hide.
        const int P = d / 8;
        const int pieces = N * P;
        const int tw2 = tw * tw;
        const int items = max(pieces, tw2);
        const int dt = THREADS / P, de = THREADS - dt * P;   // (row, piece) step of THREADS pieces
        int t = threadIdx.x / P, e = threadIdx.x - t * P;
        const uint4* src = (const uint4*)(base + h * d);
        const int cv = p.channels / 8, c3v = c3 / 8;           // strides in pieces
        for (int i0 = threadIdx.x; i0 < items; i0 += 2 * THREADS) {
            uint4 qv[2], kv[2], vv[2];
            T bv[2];
            int to[2];
#pragma unroll
            for (int u = 0; u < 2; u++) {
                const int i = i0 + u * THREADS;
                to[u] = t * ldq + e * 8;
                if (i < pieces) {
                    const uint4* r = src + (long long)t * c3v + e;
                    qv[u] = __ldg(r);
                    kv[u] = __ldg(r + cv);
                    vv[u] = __ldg(r + 2 * cv);
                }
                if (i < tw2) bv[u] = p.table[(long long)i * p.heads + h];
                t += dt;
                e += de;
                if (e >= P) {
                    e -= P;
                    t++;
                }
            }
#pragma unroll
            for (int u = 0; u < 2; u++) {
                const int i = i0 + u * THREADS;
                if (i < pieces) {
                    T x[8];
                    memcpy(x, &qv[u], sizeof x);   // not a cast: reading a uint4 through a T* breaks aliasing rules
#pragma unroll
                    for (int k = 0; k < 8; k++) x[k] = from_float<T>(to_float(x[k]) * p.scale);
                    memcpy(&qv[u], x, sizeof x);
                    *(uint4*)(qs + to[u]) = qv[u];
                    *(uint4*)(ks + to[u]) = kv[u];
                    *(uint4*)(vs + to[u]) = vv[u];
                }
                if (i < tw2) bias[i] = to_float(bv[u]);
            }
        }
        // padding rows N..np-1, whole rows (ldq * 2 bytes, a multiple of 16) as one block per matrix
        const int nz = (np - N) * ldq / 8;
        const uint4 z = make_uint4(0, 0, 0, 0);
        for (int i = threadIdx.x; i < nz; i += THREADS) {
            ((uint4*)(qs + N * ldq))[i] = z;
            ((uint4*)(ks + N * ldq))[i] = z;
            ((uint4*)(vs + N * ldq))[i] = z;
        }
    } else {
        for (int i = threadIdx.x; i < np * d; i += THREADS) {
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
        for (int i = threadIdx.x; i < tw * tw; i += THREADS) bias[i] = to_float(p.table[(long long)i * p.heads + h]);
    }
    // token words: the bias coordinate qy * tw + qx of token i (row-major in the window) and its region label,
    // one shared load per row in the softmax (no division there)
    for (int i = threadIdx.x; i < N; i += THREADS) {
        const int y = i / win;
        tok[i] = (y * tw + (i - y * win)) << 4 | region(p.g, w, i);   // labels are 0..8
    }
    __syncthreads();

    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int tiles = np / 16;
    const int ldp = 2 * lds;                        // P row stride in T elements
    float* sc = strips + warp * 16 * lds;
    T* pr = (T*)sc;
    float* st = stages + warp * 256;
    // Softmax layout: the two halves of the warp take two rows at once, lane j = lane & 15 of a half holding keys
    // j + 16 m (m < 2 KC). This sums in exactly the order of one row per warp with lane l holding keys l + 32 c:
    // that lane's partial sum over c, then a butterfly whose first step (16) adds the partials of lanes j and
    // j + 16; here a lane adds its two partials (even m: keys j + 32 c; odd m: keys j + 16 + 32 c) itself and
    // the butterfly steps 8..1 stay inside the half. The bits are those of that layout (the maximum is exact in
    // any order); the two rows share each shuffle.
    // Key constants, once per CTA: the score column (a padded key reads key N - 1's, then is excluded), the
    // bias offset and the region label. WindowGrid.biasRow (qy - ky + off) * tw + (qx - kx + off) is element
    // qy * tw + qx of bias + off * (tw + 1) - (ky * tw + kx), an offset that keeps it inside the table
    // (off >= win - 1).
    constexpr int KM = 2 * KC;                      // keys per lane and row
    const int half = lane >> 4, kj = lane & 15;
    const int off = p.bias_window - 1;
    int kcol[KM], kbias[KM], kreg[KM];
#pragma unroll
    for (int m = 0; m < KM; m++) {
        const int kk = min(kj + 16 * m, N - 1);     // only the last two m can pass N (KC = ceil(N / 32))
        const int tk = tok[kk];
        kcol[m] = kk;
        kbias[m] = off * (tw + 1) - (tk >> 4);
        kreg[m] = tk & 15;
    }
    const bool real2 = kj + 16 * (KM - 2) < N, real1 = kj + 16 * (KM - 1) < N;   // the last two keys exist
    // P writes cover columns 0..32 * KC - 1 (>= np, zeros past N): 2 * 32 * KC bytes stay inside the row's own
    // float scores (4 * lds bytes, as np >= 32 * KC - 16), which are read whole before, so no column guard
    for (int ti = warp; ti < tiles; ti += ATTN_WARPS) {
        // S strip = Q[ti] K^T (K^T as a column-major B operand is K row-major)
        for (int tj = 0; tj < tiles; tj++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::fill_fragment(acc, 0.f);
#pragma unroll
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
        // Softmax of the strip's real rows, rows r + half. With an odd count the last pair's second half repeats
        // row nr - 1 and writes zeros over padding row nr.
        const int q0 = ti * 16;
        const int nr = min(16, N - q0);             // real rows of the strip, >= 1
        for (int r = 0; r < nr; r += 2) {
            const bool copy = r + half >= nr;
            const int rr = copy ? nr - 1 : r + half;
            const int tq = tok[q0 + rr];
            const int rq = tq & 15;
            const float* srow = sc + rr * lds;
            const float* brow = bias + (tq >> 4);
            float s[KM];
            float mx = -INFINITY;
#pragma unroll
            for (int m = 0; m < KM; m++) {
                float v = srow[kcol[m]] + brow[kbias[m]];   // WindowGrid.biasRow
                if (kreg[m] != rq) v += -100.f;
                if ((m == KM - 2 && !real2) || (m == KM - 1 && !real1)) v = -INFINITY;
                s[m] = v;
                mx = fmaxf(mx, v);
            }
            for (int o = 8; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
            float even, odd;                        // partial sums of keys j + 32 c and j + 16 + 32 c
#pragma unroll
            for (int m = 0; m < KM; m++) {
                float e = expf(s[m] - mx);
                if ((m == KM - 2 && !real2) || (m == KM - 1 && !real1)) e = 0.f;
                s[m] = e;
                if (m == 0) even = e;               // as 0.f + e: e >= +0
                else if (m == 1) odd = e;
                else if (m % 2 == 0) even += e;
                else odd += e;
            }
            float sum = even + odd;
            for (int o = 8; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
            const float inv = 1.f / sum;            // sum >= 1: the maximum contributes exp(0)
            __syncwarp();   // every lane has read its scores of both rows before they are overwritten
            T* prow = pr + (r + half) * ldp + kj;
#pragma unroll
            for (int m = 0; m < KM; m++) prow[16 * m] = from_float<T>(copy ? 0.f : s[m] * inv);
        }
        // padding query rows: zero probabilities, no softmax. Their output rows are computed but never stored
        // (the stores below skip rows >= N): that is what makes skipping them correct.
        for (int r = nr + (nr & 1); r < 16; r += 2) {
            T* prow = pr + (r + half) * ldp + kj;
#pragma unroll
            for (int m = 0; m < KM; m++) prow[16 * m] = zero;
        }
        __syncwarp();
        // O strip = P V, one 16x16 output tile at a time
#pragma unroll
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
            T* orow = p.out + (bw * N + q0) * (long long)p.channels + h * d + tj * 16;
            if (shape.vec_out) {
                // lane: half (lane & 1) of tile row lane >> 1, one 16-byte store
                const int r = lane >> 1, e0 = (lane & 1) * 8;
                if (q0 + r < N) {
                    const float4 lo = *(const float4*)(st + r * 16 + e0), hi = *(const float4*)(st + r * 16 + e0 + 4);
                    const float f[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
                    unsigned u[4];
#pragma unroll
                    for (int k = 0; k < 4; k++) {
                        const T a = from_float<T>(f[2 * k]), b = from_float<T>(f[2 * k + 1]);
                        unsigned short lo, hi;
                        memcpy(&lo, &a, 2);   // not a cast (aliasing rules)
                        memcpy(&hi, &b, 2);
                        u[k] = lo | (unsigned)hi << 16;   // little-endian: element 2k first
                    }
                    // __stwb (a plain store): nvcc splits a uint4 assignment of computed words into four
                    __stwb((uint4*)(orow + (long long)r * p.channels + e0), make_uint4(u[0], u[1], u[2], u[3]));
                }
            } else {
                for (int e = lane; e < 256; e += 32) {
                    const int r = e >> 4;
                    if (q0 + r < N) orow[(long long)r * p.channels + (e & 15)] = from_float<T>(st[e]);
                }
            }
            __syncwarp();   // the stage is rewritten by the next tile
        }
        __syncwarp();       // the strip is rewritten by the next strip's S
    }
}

// Launches the tensor-core kernel for KC key chunks; a nonzero return (more shared memory than the device
// allows) launches nothing.
template <typename T, int KC, int D>
static int launch_mma(const AttnParams<T>& p, const MmaShape& shape, dim3 grid, size_t smem, cudaStream_t stream,
                      const char* op) {
    static SvjSmemRaised raised;
    int rc = svj_smem_optin((const void*)window_attention_mma_kernel<T, KC, D>, smem, &raised, op);
    if (rc) return rc;
    window_attention_mma_kernel<T, KC, D><<<grid, ATTN_WARPS * 32, smem, stream>>>(p, shape);
    return 0;
}

template <typename T, int D>
static int launch_mma_chunks(const AttnParams<T>& p, const MmaShape& shape, dim3 grid, size_t smem,
                             cudaStream_t stream, const char* op) {
    static_assert(MAX_KEY_CHUNKS == 5, "one case per key chunk count");
    switch ((p.g.N + 31) / 32) {
        case 1: return launch_mma<T, 1, D>(p, shape, grid, smem, stream, op);
        case 2: return launch_mma<T, 2, D>(p, shape, grid, smem, stream, op);
        case 3: return launch_mma<T, 3, D>(p, shape, grid, smem, stream, op);
        case 4: return launch_mma<T, 4, D>(p, shape, grid, smem, stream, op);
        default: return launch_mma<T, 5, D>(p, shape, grid, smem, stream, op);
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
            MmaShape shape;
            size_t smem = attention_mma_smem(g.N, p.d, bias_window, &shape);
            // 16-byte pieces need the base and every row start (multiples of C elements) 16-byte aligned
            const bool rows16 = (size_t)channels * sizeof(T) % 16 == 0;
            shape.vec_in = rows16 && (uintptr_t)qkv % 16 == 0;
            shape.vec_out = rows16 && (uintptr_t)out % 16 == 0;
            int rc = p.d == 32 ? launch_mma_chunks<T, 32>(p, shape, grid, smem, stream, op)
                               : launch_mma_chunks<T, 0>(p, shape, grid, smem, stream, op);
            if (rc == 0) return svj_launch(op);
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
    SVJ_REQUIRE((long long)batch * k < (1LL << 31), "%s: %d images of %d windows exceed a launch's grid", op, batch, k);
    if (k == 0) return 0;
    SVJ_DISPATCH_FLOAT(dtype, op, launch_attention, qkv, table, out, order, g, batch, channels, heads, bias_window, k,
                       (cudaStream_t)stream)
}
