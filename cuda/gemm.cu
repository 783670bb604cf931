// Linear layer with the bias and the exact GELU in the GEMM's epilogue: out[M, N] = GELU(x[M, K] w[N, K]^T + bias[N])
// for F16 and BF16 storage, on tensor cores (mma.sync m16n8k16, float accumulation). It replaces cuBLAS's GEMM followed
// by our bias + GELU pass, which reads and writes the [M, 4C] hidden activation of every MLP once more: 8 of the
// 37 passes over the token map in a Swin block. cuBLASLt's GELU epilogue cannot stand in for it: it computes
// the tanh approximation, and Swin's GELU is the exact erf form.
//
// Math: the products accumulate in float (order: 16-wide k steps, as tensor cores add them), then the bias (as
// float) is added, GELU(v) = 0.5 v (1 + erf(v / sqrt 2)) is taken in float with erff, and the result is rounded
// to T once. (The unfused path rounds the GEMM's sum to T before the GELU: this one is at least as accurate.)
//
// Tiles: a CTA of 8 warps computes a 128 x 128 block of out, stepping k by 32. x and w tiles move global ->
// registers (16-byte pieces) -> shared memory, two buffers: the next k step's loads are in flight while the
// tensor cores work on the current one, and one barrier a step suffices (a buffer is rewritten only after the
// barrier that follows its last reads). Each warp owns a 64 x 32 part: 4 x 4 mma.sync.m16n8k16 tiles (mma_sync.cuh),
// their operands loaded with ldmatrix (4 for A, 2 for B a 16-wide k step). Epilogue: each lane adds the bias to its
// accumulators (rows g, g + 8, columns 2t, 2t + 1 of each 16 x 8 tile), takes the GELU, rounds, and writes the
// pairs into a [128, 136] T staging tile in the dead tile buffers (conflict-free: a warp's 8 rows x 4 lanes hit 32
// different banks); after a barrier the CTA stores the tile in 16-byte pieces, whole rows a warp. (The WMMA version
// before went through a float scratch a warp, ~40 shared-memory wavefronts a 16 x 16 fragment by a review's count.)
// CTAs run N tiles fastest, so the CTAs that share an x tile run together and read it from L2, not DRAM.
//
// Requirements (the entry checks them): K and N multiples of 8, x, w, bias and out 16-byte aligned (rows are
// then too), M * N and the tile count within range. Rows of x past M and of w past N, and k past K, load as zeros.
#include "common.cuh"
#include "mma_sync.cuh"
#include <string.h>

#define GEMM_BM 128
#define GEMM_BN 128
#define GEMM_BK 32
#define GEMM_LDS (GEMM_BK + 8)   // tile row stride in T: rows stay 16-byte aligned, 8 rows of a fragment load
                                 // hit 8 different 4-bank groups
#define GEMM_WARPS 8
#define GEMM_THREADS (GEMM_WARPS * 32)

template <typename T>
struct GemmParams {
    const T* x;        // [M, K]
    const T* w;        // [N, K]
    const T* bias;     // [N], or null
    T* out;            // [M, N]
    long long m;       // rows
    int n, k;
    int n_tiles;       // ceil(N / 128): the fastest part of the CTA number
};

#define GEMM_LDO (GEMM_BN + 8)   // the staged output tile's row stride in T (272 bytes: conflict-free pair writes)

// Shared memory of one CTA (40 KB): two buffers of the x and w tiles; the epilogue's output tile reuses them.
template <typename T>
union __align__(128) GemmSmem {
    struct {
        uint4 a[2][GEMM_BM * GEMM_LDS * sizeof(T) / 16];
        uint4 b[2][GEMM_BN * GEMM_LDS * sizeof(T) / 16];
    } tiles;
    uint4 out[GEMM_BM * GEMM_LDO * sizeof(T) / 16];
};

// A tile is 128 rows of 32 T = 4 pieces of 16 bytes a row, 512 pieces: two a thread. Piece i = thread + 256 u sits
// at row (i % 8) + 8 (i / 32), piece column (i / 8) % 4: a warp loads 8 whole rows (coalesced), and the 8 threads of
// each shared-memory store phase write 8 rows of one column, which the 80-byte row stride spreads over all 8 16-byte
// bank groups (row-major piece order put two of them on one group). Rows at or past `rows` and columns at or past
// k load as zeros (k % 8 == 0: a piece is wholly in or out).
__device__ __forceinline__ int tile_piece_row(int i) { return (i & 7) + ((i >> 5) << 3); }
__device__ __forceinline__ int tile_piece_col(int i) { return (i >> 3) & 3; }

template <typename T>
__device__ __forceinline__ void load_tile(const T* src, long long row0, long long rows, int k, int k0, uint4 (&v)[2]) {
#pragma unroll
    for (int u = 0; u < 2; u++) {
        const int i = threadIdx.x + u * GEMM_THREADS;
        const long long r = row0 + tile_piece_row(i);
        const int c = k0 + tile_piece_col(i) * 8;
        v[u] = r < rows && c < k ? __ldg((const uint4*)(src + r * k + c)) : make_uint4(0, 0, 0, 0);
    }
}

template <typename T>
__device__ __forceinline__ void store_tile(uint4* dst, const uint4 (&v)[2]) {
#pragma unroll
    for (int u = 0; u < 2; u++) {
        const int i = threadIdx.x + u * GEMM_THREADS;
        dst[(tile_piece_row(i) * GEMM_LDS + tile_piece_col(i) * 8) * (int)sizeof(T) / 16] = v[u];
    }
}

__device__ __forceinline__ float gemm_gelu(float v) { return 0.5f * v * (1.f + erff(v * 0.70710678118654752f)); }

template <typename T>
__global__ void __launch_bounds__(GEMM_THREADS, 2) linear_gelu_kernel(GemmParams<T> p) {
    __shared__ GemmSmem<T> sm;
    const long long tile = blockIdx.x;
    const int tn = (int)(tile % p.n_tiles);
    const long long m0 = tile / p.n_tiles * GEMM_BM;
    const int n0 = tn * GEMM_BN;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int wm = warp >> 2, wn = warp & 3;   // 2 x 4 warps: rows wm * 64, columns wn * 32 of the CTA's block
    const int g = lane >> 2, t = lane & 3;
    // ldmatrix row addresses of this lane (mma_sync.cuh): A rows wm * 64 + 16 i + (lane % 16), k + (lane / 16) 8;
    // B (w's tile is [n][k]) rows wn * 32 + 16 p + lane % 8 + (lane / 16) 8, k + ((lane / 8) % 2) 8
    const int a_off = (wm * 64 + (lane & 15)) * GEMM_LDS + (lane >> 4) * 8;
    const int b_off = (wn * 32 + (lane & 7) + (lane >> 4) * 8) * GEMM_LDS + ((lane >> 3) & 1) * 8;

    float acc[4][4][4];   // [m tile][n tile][fragment element]
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[i][j][e] = 0.f;

    const int steps = (p.k + GEMM_BK - 1) / GEMM_BK;
    uint4 va[2], vb[2];
    load_tile(p.x, m0, p.m, p.k, 0, va);
    load_tile(p.w, n0, p.n, p.k, 0, vb);
    store_tile<T>(sm.tiles.a[0], va);
    store_tile<T>(sm.tiles.b[0], vb);
    __syncthreads();
    for (int s = 0; s < steps; s++) {
        const int buf = s & 1;
        if (s + 1 < steps) {   // the next step's pieces, in flight during this step's products
            load_tile(p.x, m0, p.m, p.k, (s + 1) * GEMM_BK, va);
            load_tile(p.w, n0, p.n, p.k, (s + 1) * GEMM_BK, vb);
        }
        const T* as = (const T*)sm.tiles.a[buf] + a_off;
        const T* bs = (const T*)sm.tiles.b[buf] + b_off;
#pragma unroll
        for (int kk = 0; kk < GEMM_BK; kk += 16) {
            unsigned b[2][4];   // n tiles 2q, 2q + 1 in b[q]
#pragma unroll
            for (int q = 0; q < 2; q++) ldmatrix_x4(b[q], bs + q * 16 * GEMM_LDS + kk);
#pragma unroll
            for (int i = 0; i < 4; i++) {
                unsigned a[4];
                ldmatrix_x4(a, as + i * 16 * GEMM_LDS + kk);
#pragma unroll
                for (int j = 0; j < 4; j++) mma_16816<T>(acc[i][j], a, b[j >> 1][(j & 1) * 2], b[j >> 1][(j & 1) * 2 + 1]);
            }
        }
        if (s + 1 < steps) {
            store_tile<T>(sm.tiles.a[buf ^ 1], va);
            store_tile<T>(sm.tiles.b[buf ^ 1], vb);
        }
        __syncthreads();
    }

    // epilogue; the tiles are dead (the loop ended on a barrier): bias, GELU and rounding in registers, the pairs
    // staged in the output tile, then stored in 16-byte pieces
    T* ot = (T*)sm.out;
#pragma unroll
    for (int j = 0; j < 4; j++) {
        const int col = wn * 32 + j * 8 + 2 * t;   // in the block; N % 8 == 0: a pair is wholly in or out
        float b0 = 0.f, b1 = 0.f;
        if (p.bias && n0 + col < p.n) unpack2<T>(__ldg((const unsigned*)(p.bias + n0 + col)), b0, b1);
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int row = wm * 64 + i * 16 + g;
            *(unsigned*)(ot + row * GEMM_LDO + col) =
                pack2<T>(gemm_gelu(acc[i][j][0] + b0), gemm_gelu(acc[i][j][1] + b1));
            *(unsigned*)(ot + (row + 8) * GEMM_LDO + col) =
                pack2<T>(gemm_gelu(acc[i][j][2] + b0), gemm_gelu(acc[i][j][3] + b1));
        }
    }
    __syncthreads();
    // 128 rows of 16 pieces: a warp stores two whole rows (256 bytes each) an instruction
#pragma unroll
    for (int u = 0; u < GEMM_BM * GEMM_BN / 8 / GEMM_THREADS; u++) {
        const int i = threadIdx.x + u * GEMM_THREADS;
        const int r = i >> 4, e = (i & 15) * 8;
        const long long row = m0 + r;
        if (row < p.m && n0 + e < p.n)
            *(uint4*)(p.out + row * p.n + n0 + e) = *(const uint4*)(ot + r * GEMM_LDO + e);
    }
}

template <typename T>
static int launch_linear_gelu(const void* x, const void* w, const void* bias, void* out, long long m, int n, int k,
                              cudaStream_t stream) {
    GemmParams<T> p;
    p.x = (const T*)x;
    p.w = (const T*)w;
    p.bias = (const T*)bias;
    p.out = (T*)out;
    p.m = m;
    p.n = n;
    p.k = k;
    p.n_tiles = (int)(((long long)n + GEMM_BN - 1) / GEMM_BN);
    const long long tiles = (m + GEMM_BM - 1) / GEMM_BM * p.n_tiles;
    linear_gelu_kernel<T><<<(unsigned)tiles, GEMM_THREADS, 0, stream>>>(p);
    return svj_launch("svj_linear_gelu");
}

extern "C" int svj_linear_gelu(const void* x, const void* w, const void* bias, void* out, int dtype, long long rows,
                               int n, int k, void* stream) {
    const char* op = "svj_linear_gelu";
    SVJ_REQUIRE(x && w && out, "%s: null tensor", op);
    SVJ_REQUIRE(dtype == SVJ_F16 || dtype == SVJ_BF16, "%s: dtype %d is not F16 or BF16", op, dtype);
    SVJ_REQUIRE(rows >= 0 && n > 0 && k > 0, "%s: invalid size %lld x %d x %d", op, rows, n, k);
    SVJ_REQUIRE(n % 8 == 0 && k % 8 == 0, "%s: N = %d and K = %d must be multiples of 8", op, n, k);
    SVJ_REQUIRE(((uintptr_t)x | (uintptr_t)w | (uintptr_t)bias | (uintptr_t)out) % 16 == 0,
                "%s: x, w, bias and out must be 16-byte aligned", op);
    const long long tiles = (rows + GEMM_BM - 1) / GEMM_BM * (((long long)n + GEMM_BN - 1) / GEMM_BN);
    SVJ_REQUIRE(tiles < (1LL << 31), "%s: %lld x %d outputs exceed a launch's grid", op, rows, n);
    if (rows == 0) return 0;
    if (dtype == SVJ_F16) return launch_linear_gelu<__half>(x, w, bias, out, rows, n, k, (cudaStream_t)stream);
    return launch_linear_gelu<__nv_bfloat16>(x, w, bias, out, rows, n, k, (cudaStream_t)stream);
}
