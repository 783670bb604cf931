// The second half of a Swin block as one kernel: x[M, C] += fc2(GELU(fc1(LayerNorm(x)))), for F16 and BF16 storage
// and C a multiple of 32 up to 256 (Swin-T/S stages 0 and 1, Swin-B's first stage). The unfused path is three
// kernels (LayerNorm, fc1 with bias and GELU, fc2 accumulating into x) and 13 passes of C channels over the rows:
// LayerNorm reads and writes C, fc1 reads C and writes the 4C-wide hidden activation, fc2 reads it back with the
// residual and writes C. Here each CTA takes BM rows, normalises them into shared memory, and streams the hidden
// dimension through in chunks of 64: fc1's chunk, its bias and GELU, then the chunk's share of fc2, accumulated in
// registers. The hidden activation and the normalised rows never leave the SM: the rows are read twice (the
// LayerNorm, the residual at the end) and written once, 3 passes instead of 13, and two launches fewer a block. Where
// C is small the three kernels are memory-bound (fc1 and fc2 at K = 96 do 48 multiply-adds a byte of DRAM traffic);
// this one does all the MLP's math per byte it moves from DRAM, and its weights stream from L2.
//
// Math, per row: the LayerNorm is that of layernorm.cu (the same lanes, sums and order of additions: mean, variance
// of the deviations, (x - mean) * rsqrt(var + eps) * gamma + beta in float, rounded to T); fc1 accumulates in float
// over 16-wide k steps in order, adds the bias and takes the exact erf GELU in float, rounded to T, as gemm.cu's
// fused fc1 (the hidden activation the unfused path stores); fc2 accumulates those T values in float, chunk by
// chunk, then out = T(acc + bias2 + x), one rounding where the unfused path rounds the GEMM and the sum.
//
// Two kernels compute it, both on mma.sync.m16n8k16 with ldmatrix (mma_sync.cuh), with the same arithmetic (bitwise
// the same results where the tensor cores add in the same order, as in the kernel emulator):
// - C <= 96 (Swin-T/S stage 0), mlp_block_mma_kernel: 128-row CTAs; each warp owns 16 rows and all 64 hidden columns
//   of a chunk, so fc1's output gets its bias and GELU in registers and is fc2's A operand as it stands: the hidden
//   chunk never goes to shared memory. Shared memory: the normalised rows [128, C + 8], W1's chunk [64, C + 8], W2's
//   chunk [C, 72]: 52.5 KB at C = 96.
// - C = 128 .. 256, mlp_block_kernel: 64-row CTAs, warps 4 x 2 (a warp's fc2 accumulators are C / 4 floats a lane
//   instead of C / 2); fc1's epilogue runs on its accumulators in registers and writes T pairs into the hidden chunk
//   [64, 72] in shared memory, which fc2 reads back. 61 KB at C = 128, 86 KB at 192, 111 KB at 256 (more than
//   sm_86/89 allow: the entry says so, the caller keeps the unfused path).
// Rows are padded by 8 T (16 bytes: an odd number of 16-byte groups a row makes every ldmatrix conflict-free).
//
// Not measured on a GPU yet. A review estimated the first version (WMMA, with a float scratch round trip in fc1's
// epilogue) bound by shared-memory bandwidth: ~1.3-1.6x faster than the unfused path at Swin-T's stage 0, no faster
// at stage 1 (then the erff GELU at C = 96 and the weights streamed from L2 at C = 192: 64-row CTAs fetch all of
// them every 64 rows). Hence CudaBackend fuses C <= 96 by default. The mma.sync kernels drop the scratch (the
// review's first proposal: ~40% fewer shared-memory wavefronts at C = 96). Next: cp.async for the weight chunks
// (frees the staging registers: CF = 3 spills 12 bytes at 128 registers), 128-row CTAs of 16 warps for C >= 128,
// wgmma + TMA on sm_90.
//
// Per chunk: [A] W2's chunk loads into registers; fc1 on the tensor cores; its epilogue (the C > 96 kernel writes the
// hidden chunk); the W2 registers go to shared memory; barrier; [B] the next W1 chunk loads into registers; fc2's
// share; the W1 registers go to shared memory; barrier. A buffer is written only after the barrier that follows its
// last reads (the hidden chunk and W2's after B of the previous chunk, W1's after A), so one copy of each suffices,
// and each chunk's weights are in flight while the tensor cores work on the other GEMM.
//
// Requirements (the entry checks them): C % 32 == 0, 32 <= C <= 256, hidden % 64 == 0, every pointer 16-byte
// aligned, x not overlapping the parameters. Rows of the last CTA past M normalise as zeros and are never stored.
#include "common.cuh"
#include "mma_sync.cuh"
#include <string.h>

#define MLP_WARPS 8
#define MLP_THREADS (MLP_WARPS * 32)
#define MLP_HC 64               // hidden columns a chunk
#define MLP_LDH (MLP_HC + 8)    // row stride (T) of the hidden chunk and of W2's chunk
#define MLP_MAX_C 256

template <typename T>
struct MlpParams {
    T* x;              // [M, C]: the residual stream, read, then updated in place
    const T* gamma;    // [C] LayerNorm scale
    const T* beta;     // [C] LayerNorm shift
    const T* w1;       // [H, C] fc1 weight
    const T* b1;       // [H] or null
    const T* w2;       // [C, H] fc2 weight
    const T* b2;       // [C] or null
    long long m;       // rows
    int hidden;        // H
    float eps;
};


// W1's chunk c: rows c * 64 .. + 63 of w1, C / 8 pieces of 16 bytes a row, 8 C = 256 CF pieces: CF a thread, in
// piece order (a warp reads whole rows, coalesced; 8 threads of a store phase write 128 consecutive bytes).
template <typename T, int CF>
__device__ __forceinline__ void load_w1(const T* w1, int c, uint4 (&v)[CF]) {
    const uint4* src = (const uint4*)(w1 + (long long)c * MLP_HC * 32 * CF);
#pragma unroll
    for (int u = 0; u < CF; u++) v[u] = __ldg(src + threadIdx.x + u * MLP_THREADS);
}

template <typename T, int CF>
__device__ __forceinline__ void store_w1(T* w1s, const uint4 (&v)[CF]) {
    constexpr int P = 4 * CF, LDX = 32 * CF + 8;
#pragma unroll
    for (int u = 0; u < CF; u++) {
        const int i = threadIdx.x + u * MLP_THREADS;
        const int r = i / P, e = i - r * P;
        *(uint4*)(w1s + r * LDX + e * 8) = v[u];
    }
}

// W2's chunk c: columns c * 64 .. + 63 of every row of w2 [C, H]: 8 pieces a row, 8 C = 256 CF pieces.
template <typename T, int CF>
__device__ __forceinline__ void load_w2(const T* w2, int hidden, int c, uint4 (&v)[CF]) {
#pragma unroll
    for (int u = 0; u < CF; u++) {
        const int i = threadIdx.x + u * MLP_THREADS;
        const int r = i >> 3, e = i & 7;
        v[u] = __ldg((const uint4*)(w2 + (long long)r * hidden + c * MLP_HC + e * 8));
    }
}

template <typename T, int CF>
__device__ __forceinline__ void store_w2(T* w2s, const uint4 (&v)[CF]) {
#pragma unroll
    for (int u = 0; u < CF; u++) {
        const int i = threadIdx.x + u * MLP_THREADS;
        const int r = i >> 3, e = i & 7;
        *(uint4*)(w2s + r * MLP_LDH + e * 8) = v[u];
    }
}

__device__ __forceinline__ float mlp_gelu(float v) { return 0.5f * v * (1.f + erff(v * 0.70710678118654752f)); }

// 8 T of a 16-byte piece as floats, and back
template <typename T>
__device__ __forceinline__ void unpack8(const uint4& v, float (&f)[8]) {
    T e[8];
    memcpy(e, &v, sizeof e);   // not a cast: reading a uint4 through a T* breaks aliasing rules
#pragma unroll
    for (int k = 0; k < 8; k++) f[k] = to_float(e[k]);
}

template <typename T>
__device__ __forceinline__ uint4 pack8(const float (&f)[8]) {
    T e[8];
#pragma unroll
    for (int k = 0; k < 8; k++) e[k] = from_float<T>(f[k]);
    uint4 v;
    memcpy(&v, e, sizeof v);
    return v;
}

// The CTA's rows, normalised into xs. As layer_norm_kernel's 16-byte path: a group of 4 lanes owns a row (8 rows a
// warp), lane j of the group the pieces j, j + 4, ..., CF of them; row_sum gives the one-warp-per-row layout's
// bits. A warp takes RF groups of 8 rows, all their loads issued before any arithmetic.
template <typename T, int RF, int CF>
__device__ __forceinline__ void normalise_rows(const MlpParams<T>& p, long long m0, T* xs) {
    constexpr int C = 32 * CF, LDX = C + 8;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int j = lane & 3;
    uint4 buf[RF][CF];
    bool real[RF];
#pragma unroll
    for (int g = 0; g < RF; g++) {
        const int r = (warp + g * MLP_WARPS) * 8 + (lane >> 2);   // the CTA's row
        real[g] = m0 + r < p.m;
#pragma unroll
        for (int i = 0; i < CF; i++)
            buf[g][i] = real[g] ? __ldg((const uint4*)(p.x + (m0 + r) * C) + j + 4 * i) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int g = 0; g < RF; g++) {
        const int r = (warp + g * MLP_WARPS) * 8 + (lane >> 2);
        float s[8];
#pragma unroll
        for (int k = 0; k < 8; k++) s[k] = 0.f;
#pragma unroll
        for (int i = 0; i < CF; i++) {
            float f[8];
            unpack8<T>(buf[g][i], f);
#pragma unroll
            for (int k = 0; k < 8; k++) s[k] += f[k];
        }
        const float mean = row_sum<8>(s) / C;
#pragma unroll
        for (int k = 0; k < 8; k++) s[k] = 0.f;
#pragma unroll
        for (int i = 0; i < CF; i++) {
            float f[8];
            unpack8<T>(buf[g][i], f);
#pragma unroll
            for (int k = 0; k < 8; k++) {
                const float dl = f[k] - mean;
                s[k] = fmaf(dl, dl, s[k]);
            }
        }
        const float inv = rsqrtf(row_sum<8>(s) / C + p.eps);
        T* dst = xs + r * LDX + j * 8;
#pragma unroll
        for (int i = 0; i < CF; i++) {
            uint4 o = make_uint4(0, 0, 0, 0);
            if (real[g]) {
                float f[8], ga[8], be[8];
                unpack8<T>(buf[g][i], f);
                unpack8<T>(__ldg((const uint4*)p.gamma + j + 4 * i), ga);
                unpack8<T>(__ldg((const uint4*)p.beta + j + 4 * i), be);
#pragma unroll
                for (int k = 0; k < 8; k++) f[k] = (f[k] - mean) * inv * ga[k] + be[k];
                o = pack8<T>(f);
            }
            *(uint4*)(dst + 32 * i) = o;
        }
    }
}

// 8 consecutive bias values as floats (zeros without a bias)
template <typename T>
__device__ __forceinline__ void bias8(const T* b, int col, float (&f)[8]) {
    if (b) {
        unpack8<T>(__ldg((const uint4*)(b + col)), f);
    } else {
#pragma unroll
        for (int k = 0; k < 8; k++) f[k] = 0.f;
    }
}

// Rows a CTA takes, and its dynamic shared memory (T is 2 bytes): the normalised rows, W1's and W2's chunks, and
// for C > 96 the hidden chunk. One formula for the launchers and svj_mlp_block_smem.
static inline int mlp_cta_rows(int c) { return c <= 96 ? 128 : 64; }
static inline size_t mlp_smem(int c) {
    const size_t rows = (size_t)mlp_cta_rows(c), ldx = (size_t)c + 8;
    return (rows * ldx + (size_t)MLP_HC * ldx + (size_t)c * MLP_LDH + (c <= 96 ? 0 : rows * MLP_LDH)) * 2;
}

template <int N>
__device__ __forceinline__ void zero_tiles(float (&d)[N][4]) {
#pragma unroll
    for (int n = 0; n < N; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) d[n][e] = 0.f;
}

// Both kernels' end: x = T(acc + b2 + x) for this lane's rows row0 and row0 + 8 and, of each of the NT n-tiles from
// column col0, columns 2t, 2t + 1. x is read with a plain load: this kernel writes it (this lane, after).
template <typename T, int C, int NT>
__device__ __forceinline__ void store_residual(const MlpParams<T>& p, long long row0, int col0, int t,
                                               const float (&acc)[NT][4]) {
#pragma unroll
    for (int half = 0; half < 2; half++) {
        const long long row = row0 + half * 8;
        if (row >= p.m) continue;
        T* xr = p.x + row * C + col0 + 2 * t;
#pragma unroll
        for (int n = 0; n < NT; n++) {
            float b0 = 0.f, b1 = 0.f, r0, r1;
            if (p.b2) unpack2<T>(__ldg((const unsigned*)(p.b2 + col0 + n * 8 + 2 * t)), b0, b1);
            unpack2<T>(*(const unsigned*)(xr + n * 8), r0, r1);
            *(unsigned*)(xr + n * 8) = pack2<T>(acc[n][half * 2] + b0 + r0, acc[n][half * 2 + 1] + b1 + r1);
        }
    }
}

// C = 128 .. 256 (CF = 4 .. 8): 64-row CTAs, warps 4 x 2. Warp (wr, wc) owns rows 16 wr .. 16 wr + 15 and, in fc1,
// the chunk's hidden columns 32 wc .. (4 n-tiles), in fc2, output columns 16 CF wc .. (2 CF n-tiles, accumulators
// alive over the whole loop: 8 CF floats a lane). fc1's epilogue (bias, GELU, rounding) runs on its accumulators in
// registers and writes T pairs into the hidden chunk hs, which fc2 reads back with ldmatrix (the warps of a row band
// need each other's columns: the barrier after phase A). Two CTAs an SM (128 registers) up to C = 192; from 224 on,
// the accumulators and the staged weights need more registers (~175 to ~190 at sm_90), one CTA an SM.
template <typename T, int CF>
__global__ void __launch_bounds__(MLP_THREADS, CF >= 7 ? 1 : 2) mlp_block_kernel(MlpParams<T> p) {
    constexpr int C = 32 * CF, BM = 64, LDX = C + 8, NT = 2 * CF;   // NT: this warp's fc2 n-tiles
    extern __shared__ __align__(128) float smem[];
    T* xs = (T*)smem;                          // [BM, LDX] normalised rows
    T* w1s = xs + BM * LDX;                    // [64, LDX] W1's chunk
    T* w2s = w1s + MLP_HC * LDX;               // [C, MLP_LDH] W2's chunk
    T* hs = w2s + C * MLP_LDH;                 // [BM, MLP_LDH] the hidden chunk
    const long long m0 = (long long)blockIdx.x * BM;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int wr = warp >> 1, wc = warp & 1;
    const int g = lane >> 2, t = lane & 3;
    const int chunks = p.hidden / MLP_HC;
    // ldmatrix row addresses (mma_sync.cuh): A (16 x 16 at the warp's rows), B (two n-tiles of an [n][k] array)
    const int arow = wr * 16 + (lane & 15), acol = (lane >> 4) * 8;
    const int bn = (lane & 7) + (lane >> 4) * 8, bk = ((lane >> 3) & 1) * 8;

    uint4 stage[CF];   // the next chunk of W1 or W2, in flight
    load_w1<T, CF>(p.w1, 0, stage);
    normalise_rows<T, 1, CF>(p, m0, xs);
    store_w1<T, CF>(w1s, stage);
    __syncthreads();

    float acc[NT][4];
    zero_tiles(acc);

#pragma unroll 1
    for (int c = 0; c < chunks; c++) {
        // [A] fc1's chunk: h = GELU(xs w1s^T + b1) for the warp's rows and 32 hidden columns, W2's chunk in flight
        load_w2<T, CF>(p.w2, p.hidden, c, stage);
        {
            float h[4][4];
            zero_tiles(h);
#pragma unroll
            for (int kk = 0; kk < C; kk += 16) {
                unsigned a[4];
                ldmatrix_x4(a, xs + arow * LDX + acol + kk);
#pragma unroll
                for (int q = 0; q < 2; q++) {
                    unsigned b[4];
                    ldmatrix_x4(b, w1s + (wc * 32 + q * 16 + bn) * LDX + kk + bk);
                    mma_16816<T>(h[2 * q], a, b[0], b[1]);
                    mma_16816<T>(h[2 * q + 1], a, b[2], b[3]);
                }
            }
            // bias, GELU, rounding in registers; T pairs into the hidden chunk (a warp's 8 rows x 4 lanes: rows
            // 144 bytes apart, 32 different banks)
#pragma unroll
            for (int n = 0; n < 4; n++) {
                const int col = wc * 32 + n * 8 + 2 * t;   // in the chunk
                float b0 = 0.f, b1 = 0.f;
                if (p.b1) unpack2<T>(__ldg((const unsigned*)(p.b1 + c * MLP_HC + col)), b0, b1);
                T* hr = hs + (wr * 16 + g) * MLP_LDH + col;
                *(unsigned*)hr = pack2<T>(mlp_gelu(h[n][0] + b0), mlp_gelu(h[n][1] + b1));
                *(unsigned*)(hr + 8 * MLP_LDH) = pack2<T>(mlp_gelu(h[n][2] + b0), mlp_gelu(h[n][3] + b1));
            }
        }
        store_w2<T, CF>(w2s, stage);
        __syncthreads();

        // [B] fc2's share: acc += h w2s^T (the warp's rows, output columns 16 CF wc ..), the next W1 chunk in flight
        const bool more = c + 1 < chunks;
        if (more) load_w1<T, CF>(p.w1, c + 1, stage);
#pragma unroll
        for (int ks = 0; ks < MLP_HC / 16; ks++) {
            unsigned a[4];
            ldmatrix_x4(a, hs + arow * MLP_LDH + acol + ks * 16);
#pragma unroll
            for (int q = 0; q < CF; q++) {
                unsigned b[4];
                ldmatrix_x4(b, w2s + (wc * 16 * CF + q * 16 + bn) * MLP_LDH + ks * 16 + bk);
                mma_16816<T>(acc[2 * q], a, b[0], b[1]);
                mma_16816<T>(acc[2 * q + 1], a, b[2], b[3]);
            }
        }
        if (more) store_w1<T, CF>(w1s, stage);
        __syncthreads();
    }

    store_residual<T, C, NT>(p, m0 + wr * 16 + g, wc * 16 * CF, t, acc);
}

// ------------------------------------------------------------------ C <= 96: mma.sync, the hidden chunk in registers
//
// The same function, bit for bit the same arithmetic (LayerNorm, fc1 sums in 16-wide k steps, bias, erf GELU,
// rounding, fc2 sums chunk by chunk), on mma.sync.m16n8k16 (mma_sync.cuh) instead of WMMA. Each warp owns 16 rows of
// the CTA's 128 and computes all 64 hidden columns of a chunk for them: fc1's accumulators get their bias and GELU in
// registers and, rounded to T, are fc2's A fragments as they stand (a D fragment pair is an A fragment). So the
// hidden chunk never goes to shared memory, nor through a float scratch (the WMMA kernel's epilogue, ~40 shared-
// memory wavefronts a 16 x 16 fragment, was its bottleneck by a review's estimate), and the CTA's only barriers are
// the two a chunk for the weights. Shared memory: the normalised rows [128, C + 8], W1's chunk [64, C + 8], W2's
// chunk [C, 72]: 52.5 KB at C = 96. Per warp and chunk, fc1 is C / 16 k steps of one A ldmatrix and four B
// ldmatrix (8 n-tiles), fc2 4 k steps of C / 16 B ldmatrix (C / 8 n-tiles). Registers: fc2's accumulators (C / 2
// floats), fc1's (32), the chunk's A fragments (16). The output: each lane adds bias and residual to its pairs of
// elements (rows g, g + 8; columns 2t, 2t + 1 of each n-tile) and stores them, 4 bytes at a time.
template <typename T, int CF>
__global__ void __launch_bounds__(MLP_THREADS, 2) mlp_block_mma_kernel(MlpParams<T> p) {
    constexpr int C = 32 * CF, BM = 128, LDX = C + 8, NT = C / 8;
    extern __shared__ __align__(128) float smem[];
    T* xs = (T*)smem;                  // [BM, LDX] normalised rows
    T* w1s = xs + BM * LDX;            // [64, LDX] W1's chunk
    T* w2s = w1s + MLP_HC * LDX;       // [C, MLP_LDH] W2's chunk
    const long long m0 = (long long)blockIdx.x * BM;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int g = lane >> 2, t = lane & 3;
    const int chunks = p.hidden / MLP_HC;
    // ldmatrix row addresses of this lane: A (16 x 16 at the warp's rows), B (two n-tiles of an [n][k] array)
    const T* xa = xs + (warp * 16 + (lane & 15)) * LDX + (lane >> 4) * 8;
    const int bn = (lane & 7) + (lane >> 4) * 8, bk = ((lane >> 3) & 1) * 8;

    uint4 stage[CF];
    load_w1<T, CF>(p.w1, 0, stage);
    normalise_rows<T, 2, CF>(p, m0, xs);
    store_w1<T, CF>(w1s, stage);
    __syncthreads();

    float acc[NT][4];
    zero_tiles(acc);

#pragma unroll 1
    for (int c = 0; c < chunks; c++) {
        load_w2<T, CF>(p.w2, p.hidden, c, stage);
        // fc1's chunk for the warp's 16 rows: 8 n-tiles of 8 hidden columns
        float h[8][4];
        zero_tiles(h);
#pragma unroll
        for (int kk = 0; kk < C; kk += 16) {
            unsigned a[4];
            ldmatrix_x4(a, xa + kk);
#pragma unroll
            for (int np = 0; np < 4; np++) {
                unsigned b[4];
                ldmatrix_x4(b, w1s + (np * 16 + bn) * LDX + kk + bk);
                mma_16816<T>(h[2 * np], a, b[0], b[1]);
                mma_16816<T>(h[2 * np + 1], a, b[2], b[3]);
            }
        }
        // bias and GELU in registers, rounded to T: fc2's A fragments, one per 16 hidden columns
        unsigned ha[4][4];
#pragma unroll
        for (int n = 0; n < 8; n++) {
            float b0 = 0.f, b1 = 0.f;
            if (p.b1) unpack2<T>(__ldg((const unsigned*)(p.b1 + c * MLP_HC + n * 8 + 2 * t)), b0, b1);
            const unsigned top = pack2<T>(mlp_gelu(h[n][0] + b0), mlp_gelu(h[n][1] + b1));
            const unsigned bottom = pack2<T>(mlp_gelu(h[n][2] + b0), mlp_gelu(h[n][3] + b1));
            ha[n >> 1][(n & 1) * 2] = top;
            ha[n >> 1][(n & 1) * 2 + 1] = bottom;
        }
        store_w2<T, CF>(w2s, stage);
        __syncthreads();

        const bool more = c + 1 < chunks;
        if (more) load_w1<T, CF>(p.w1, c + 1, stage);
#pragma unroll
        for (int ks = 0; ks < 4; ks++) {
#pragma unroll
            for (int np = 0; np < NT / 2; np++) {
                unsigned b[4];
                ldmatrix_x4(b, w2s + (np * 16 + bn) * MLP_LDH + ks * 16 + bk);
                mma_16816<T>(acc[2 * np], ha[ks], b[0], b[1]);
                mma_16816<T>(acc[2 * np + 1], ha[ks], b[2], b[3]);
            }
        }
        if (more) store_w1<T, CF>(w1s, stage);
        __syncthreads();
    }

    store_residual<T, C, NT>(p, m0 + warp * 16 + g, 0, t, acc);
}

template <typename T, int CF>
static int launch_mlp_mma(const MlpParams<T>& p, cudaStream_t stream, const char* op) {
    static SvjSmemRaised raised;
    constexpr int C = 32 * CF;
    const size_t smem = mlp_smem(C);
    int rc = svj_smem_optin((const void*)mlp_block_mma_kernel<T, CF>, smem, &raised, op);
    if (rc) return rc;
    const long long ctas = (p.m + mlp_cta_rows(C) - 1) / mlp_cta_rows(C);
    mlp_block_mma_kernel<T, CF><<<(unsigned)ctas, MLP_THREADS, smem, stream>>>(p);
    return svj_launch(op);
}

template <typename T, int CF>
static int launch_mlp(const MlpParams<T>& p, cudaStream_t stream, const char* op) {
    static SvjSmemRaised raised;
    constexpr int C = 32 * CF;
    const size_t smem = mlp_smem(C);
    int rc = svj_smem_optin((const void*)mlp_block_kernel<T, CF>, smem, &raised, op);
    if (rc) return rc;
    const long long ctas = (p.m + mlp_cta_rows(C) - 1) / mlp_cta_rows(C);
    mlp_block_kernel<T, CF><<<(unsigned)ctas, MLP_THREADS, smem, stream>>>(p);
    return svj_launch(op);
}

template <typename T>
static int launch_mlp_c(const MlpParams<T>& p, int c, cudaStream_t stream, const char* op) {
    switch (c / 32) {
        case 1: return launch_mlp_mma<T, 1>(p, stream, op);
        case 2: return launch_mlp_mma<T, 2>(p, stream, op);
        case 3: return launch_mlp_mma<T, 3>(p, stream, op);
        case 4: return launch_mlp<T, 4>(p, stream, op);
        case 5: return launch_mlp<T, 5>(p, stream, op);
        case 6: return launch_mlp<T, 6>(p, stream, op);
        case 7: return launch_mlp<T, 7>(p, stream, op);
        default: return launch_mlp<T, 8>(p, stream, op);
    }
}


static bool overlaps(const void* a, long long abytes, const void* b, long long bbytes) {
    if (!a || !b) return false;
    const uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
    return x < y + (uintptr_t)bbytes && y < x + (uintptr_t)abytes;
}

extern "C" int svj_mlp_block_smem(int channels, int dtype, long long* bytes) {
    const char* op = "svj_mlp_block_smem";
    SVJ_REQUIRE(bytes, "%s: null output", op);
    SVJ_REQUIRE(dtype == SVJ_F16 || dtype == SVJ_BF16, "%s: dtype %d is not F16 or BF16", op, dtype);
    SVJ_REQUIRE(channels % 32 == 0 && channels >= 32 && channels <= MLP_MAX_C,
                "%s: %d channels (a multiple of 32 from 32 to %d)", op, channels, MLP_MAX_C);
    *bytes = (long long)mlp_smem(channels);
    return 0;
}

extern "C" int svj_mlp_block(void* x, const void* gamma, const void* beta, const void* w1, const void* b1,
                             const void* w2, const void* b2, int dtype, long long rows, int channels, int hidden,
                             float eps, void* stream) {
    const char* op = "svj_mlp_block";
    SVJ_REQUIRE(x && gamma && beta && w1 && w2, "%s: null tensor", op);
    SVJ_REQUIRE(dtype == SVJ_F16 || dtype == SVJ_BF16, "%s: dtype %d is not F16 or BF16", op, dtype);
    SVJ_REQUIRE(rows >= 0, "%s: %lld rows", op, rows);
    SVJ_REQUIRE(channels % 32 == 0 && channels >= 32 && channels <= MLP_MAX_C,
                "%s: %d channels (a multiple of 32 from 32 to %d)", op, channels, MLP_MAX_C);
    SVJ_REQUIRE(hidden > 0 && hidden % MLP_HC == 0, "%s: hidden width %d is not a positive multiple of %d", op,
                hidden, MLP_HC);
    SVJ_REQUIRE(eps >= 0.f && eps < INFINITY, "%s: eps %g", op, (double)eps);
    SVJ_REQUIRE(((uintptr_t)x | (uintptr_t)gamma | (uintptr_t)beta | (uintptr_t)w1 | (uintptr_t)b1 |
                 (uintptr_t)w2 | (uintptr_t)b2) % 16 == 0,
                "%s: every tensor must be 16-byte aligned", op);
    const int bm = mlp_cta_rows(channels);
    SVJ_REQUIRE((rows + bm - 1) / bm < (1LL << 31), "%s: %lld rows exceed a launch's grid", op, rows);
    const long long xb = rows * channels * 2, cb = (long long)channels * 2, hb = (long long)hidden * 2,
                    wb = (long long)hidden * channels * 2;
    SVJ_REQUIRE(!overlaps(x, xb, gamma, cb) && !overlaps(x, xb, beta, cb) && !overlaps(x, xb, w1, wb) &&
                    !overlaps(x, xb, b1, hb) && !overlaps(x, xb, w2, wb) && !overlaps(x, xb, b2, cb),
                "%s: x overlaps a parameter", op);
    if (rows == 0) return 0;
    if (dtype == SVJ_F16) {
        MlpParams<__half> p{(__half*)x, (const __half*)gamma, (const __half*)beta, (const __half*)w1,
                            (const __half*)b1, (const __half*)w2, (const __half*)b2, rows, hidden, eps};
        return launch_mlp_c<__half>(p, channels, (cudaStream_t)stream, op);
    }
    MlpParams<__nv_bfloat16> p{(__nv_bfloat16*)x, (const __nv_bfloat16*)gamma, (const __nv_bfloat16*)beta,
                               (const __nv_bfloat16*)w1, (const __nv_bfloat16*)b1, (const __nv_bfloat16*)w2,
                               (const __nv_bfloat16*)b2, rows, hidden, eps};
    return launch_mlp_c<__nv_bfloat16>(p, channels, (cudaStream_t)stream, op);
}
