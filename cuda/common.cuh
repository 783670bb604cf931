// Shared device helpers: the window-grid index arithmetic (the same as WindowGrid.java) and launch checks.
#pragma once
#include <cuda_runtime.h>
#include <stdint.h>
#include "sparsevit_cuda.h"

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

static inline bool grid_ok(int height, int width, int window, int shift) {
    return height > 0 && width > 0 && window > 0 && shift >= 0 && shift < window;
}

// Index into the H*W map of token t of window w, or -1 for padding (shift folded in).
__device__ __forceinline__ int source_token(const GridParams& g, int w, int t) {
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

// Window number of entry j of image b: order[b, j] or j.
__device__ __forceinline__ int window_of(const int* order, int nW, int b, int j) {
    return order ? order[(long long)b * nW + j] : j;
}

static inline int last_launch_error() {
    cudaError_t e = cudaGetLastError();
    return e == cudaSuccess ? 0 : (int)e;
}

static inline unsigned blocks_for(long long n, int threads) {
    long long b = (n + threads - 1) / threads;
    return (unsigned)(b > 0x7fffffffLL ? 0x7fffffffLL : (b < 1 ? 1 : b));
}
