// Shared device helpers for every kernel file: element types (load as float, compute in float, store as
// T), the window-grid index arithmetic (the same as WindowGrid.java, line for line), error reporting for
// the extern "C" entries, and launch-size helpers.
#pragma once
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <stdint.h>
#include "sparsevit_cuda.h"

// ------------------------------------------------------------------ errors
//
// Every entry returns 0, SVJ_EINVAL or a cudaError_t. svj_fail records a one-line detail for
// svj_last_error_string (thread-local) and returns the code; it never prints, exits or aborts.

int svj_fail(int code, const char* fmt, ...);

// A runtime call's result: 0, or the error recorded with the op's name. A failed call also clears the
// runtime's (non-sticky) last error, so a later launch check does not report it a second time.
int svj_rt(cudaError_t e, const char* op);

// Checks the launch just made (configuration errors show here; faults inside the kernel show at the
// next synchronisation).
int svj_launch(const char* op);

#define SVJ_REQUIRE(cond, ...) \
    do {                       \
        if (!(cond)) return svj_fail(SVJ_EINVAL, __VA_ARGS__); \
    } while (0)

// ------------------------------------------------------------------ element types

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

// A type of BYTES bytes: element bits moved without a float round trip (bitwise for every dtype), and 4-, 8-
// and 16-byte vector accesses. A pointer read or written as Bits<N> must be N-byte aligned: launchers check base
// pointers and row strides at run time and fall back to narrower types. Values go in and out of a vector by
// memcpy into a local array (nvcc keeps both in registers), never through a pointer cast.
template <int BYTES> struct Bits;
template <> struct Bits<2> { typedef unsigned short type; };
template <> struct Bits<4> { typedef unsigned type; };
template <> struct Bits<8> { typedef uint2 type; };
template <> struct Bits<16> { typedef uint4 type; };

template <typename T> __device__ __forceinline__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
    return __float2bfloat16_rn(v);
}

// Bytes of one element of a dtype code, or 0 when the code is unknown.
static inline int svj_dtype_bytes(int dtype) {
    switch (dtype) {
        case SVJ_F32: return 4;
        case SVJ_F16: return 2;
        case SVJ_BF16: return 2;
        case SVJ_I32: return 4;
        default: return 0;
    }
}

static inline bool svj_is_float(int dtype) { return dtype == SVJ_F32 || dtype == SVJ_F16 || dtype == SVJ_BF16; }

// Calls launcher<T>(args...) with T the C++ type of a floating dtype code (F32, F16, BF16).
#define SVJ_DISPATCH_FLOAT(dtype, op, launcher, ...)                                    \
    switch (dtype) {                                                                    \
        case SVJ_F32: return launcher<float>(__VA_ARGS__);                              \
        case SVJ_F16: return launcher<__half>(__VA_ARGS__);                             \
        case SVJ_BF16: return launcher<__nv_bfloat16>(__VA_ARGS__);                     \
        default: return svj_fail(SVJ_EINVAL, "%s: dtype %d is not F32, F16 or BF16", op, dtype); \
    }

// ------------------------------------------------------------------ row sums (LayerNorm)

// The row sum of the one-warp-per-row layout, whose lane L (0..31) summed elements L, L + 32, ... in order and
// which then added across lanes in the butterfly xor 16, 8, 4, 2, 1. Here lane j of a row's group of 32 / E
// lanes holds the partial sums of lanes L = E * j + k (k < E) of that layout in s[k]: masks >= E pair lanes of
// the group (xor m / E), the smaller ones pair slots within a lane, so every addition is one of that layout and
// the bits are its bits. Every lane of the warp must call it (shuffles).
template <int E>
__device__ __forceinline__ float row_sum(float (&s)[E]) {
#pragma unroll
    for (int m = 16; m >= E; m >>= 1) {
#pragma unroll
        for (int k = 0; k < E; k++) s[k] += __shfl_xor_sync(0xffffffffu, s[k], m / E);
    }
#pragma unroll
    for (int m = E / 2; m > 0; m >>= 1) {
#pragma unroll
        for (int k = 0; k < m; k++) s[k] += s[k + m];
    }
    return s[0];
}

// ------------------------------------------------------------------ window grid

// One block's window grid, as WindowGrid.java describes it.
struct GridParams {
    int H, W;      // token grid (unpadded)
    int win;       // window side
    int shift;     // cyclic shift (0 for the regular grid)
    int Hp, Wp;    // padded grid, multiples of win
    int nWw;       // windows per row of the padded grid
    int nW;        // windows per image
    int N;         // tokens per window, win * win
};

static inline GridParams make_grid(int height, int width, int window, int shift) {
    GridParams g;
    g.H = height;
    g.W = width;
    g.win = window;
    g.shift = shift;
    g.Hp = (height + window - 1) / window * window;
    g.Wp = (width + window - 1) / window * window;
    g.nWw = g.Wp / window;
    g.nW = (g.Hp / window) * g.nWw;
    g.N = window * window;
    return g;
}

// The WindowGrid constructor's checks, plus a bound that keeps every index of a map in 32 bits.
static inline bool grid_ok(int height, int width, int window, int shift) {
    return height > 0 && width > 0 && window > 0 && shift >= 0 && shift < window
           && (long long)(height + window) * (width + window) < (1LL << 31);
}

// Index into the H*W map of token t of window w, or -1 for padding (shift folded in). A window number
// outside [0, nW) (a corrupt order list) reads as all padding, so no kernel ever leaves its buffers.
__device__ __forceinline__ int source_token(const GridParams& g, int w, int t) {
    if ((unsigned)w >= (unsigned)g.nW) return -1;
    int r = w / g.nWw, c = w - r * g.nWw;
    int i = r * g.win + t / g.win;
    int j = c * g.win + t % g.win;
    if (g.shift) {
        i += g.shift;
        if (i >= g.Hp) i -= g.Hp;
        j += g.shift;
        if (j >= g.Wp) j -= g.Wp;
    }
    return (i < g.H && j < g.W) ? i * g.W + j : -1;
}

// The inverse of source_token: row w * N + t of map token `token` (0 <= token < H * W) in a tile that holds every
// window of grid g in natural order (WindowGrid.tileRow). The token's padded position (i, j) sits at
// ((i - shift) mod Hp, (j - shift) mod Wp) of the rolled grid.
__device__ __forceinline__ int tile_row_of_token(const GridParams& g, int token) {
    int i = token / g.W, j = token - i * g.W;
    if (g.shift) {
        i -= g.shift;
        if (i < 0) i += g.Hp;
        j -= g.shift;
        if (j < 0) j += g.Wp;
    }
    const int r = i / g.win, c = j / g.win;
    return (r * g.nWw + c) * g.N + (i - r * g.win) * g.win + (j - c * g.win);
}

// Region label 0..8 of token t of window w on the rolled padded grid (shift mask); 0 when not shifted.
__device__ __forceinline__ int region(const GridParams& g, int w, int t) {
    if (!g.shift) return 0;
    int r = w / g.nWw, c = w - r * g.nWw;
    int i = r * g.win + t / g.win;
    int j = c * g.win + t % g.win;
    int bi = i < g.Hp - g.win ? 0 : (i < g.Hp - g.shift ? 1 : 2);
    int bj = j < g.Wp - g.win ? 0 : (j < g.Wp - g.shift ? 1 : 2);
    return bi * 3 + bj;
}

// Window number of entry j of image b: order[b, j] (rows of nW entries) or j.
__device__ __forceinline__ int window_of(const int* order, int nW, int b, int j) {
    return order ? __ldg(order + (long long)b * nW + j) : j;
}

// Validates the (grid, order, k) triple every window op takes; fills g.
static inline int check_windows(const char* op, int batch, int height, int width, int window, int shift, int k,
                                const int* order, GridParams* g) {
    SVJ_REQUIRE(batch > 0, "%s: batch %d must be positive", op, batch);
    SVJ_REQUIRE(grid_ok(height, width, window, shift), "%s: invalid window grid %dx%d, window %d, shift %d", op,
                height, width, window, shift);
    *g = make_grid(height, width, window, shift);
    SVJ_REQUIRE(k >= 0 && k <= g->nW, "%s: k = %d outside [0, nW = %d]", op, k, g->nW);
    SVJ_REQUIRE(order || k == g->nW, "%s: without an order list k must be nW = %d, got %d", op, g->nW, k);
    return 0;
}

// ------------------------------------------------------------------ launch sizes

// Blocks for n items at `threads` per block, at least 1, capped for grid-stride loops. (The kernel emulator can
// lower the cap, emu::set_grid_cap, so that its tests reach the loops' later passes.)
static inline unsigned blocks_for(long long n, int threads) {
    long long b = (n + threads - 1) / threads;
#ifdef SVJ_EMU_GRID_CAP
    const long long cap = SVJ_EMU_GRID_CAP;
#else
    const long long cap = 1LL << 20;   // grid-stride loops cover the rest
#endif
    return (unsigned)(b > cap ? cap : (b < 1 ? 1 : b));
}

// Raises a kernel's dynamic shared memory limit to the device's whole opt-in limit when it needs more than
// the default 48 KB, once per kernel and device (the attribute is per device; cheap, and legal during graph
// capture). Fails with the device limit when too large. One SvjSmemRaised per kernel, zero-initialised (a
// static).
#define SVJ_MAX_DEVICES 64
struct SvjSmemRaised {
    int bytes[SVJ_MAX_DEVICES];   // the limit raised so far on each device (0: the default)
};
int svj_smem_optin(const void* kernel, size_t bytes, SvjSmemRaised* raised, const char* op);
