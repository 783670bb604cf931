// SparseViT window importance: token importance (mean |x| over channels) and per-window L2 scores on a
// window grid. Both accumulate in double in the CPU reference's order (no fused multiply-add can change
// a product of two floats in double), so their results are bitwise equal to it; the window ranking built
// on them therefore matches the CPU's exactly.
#include "common.cuh"
#include <math.h>
#include <string.h>

struct TokenImportanceParams {
    const void* x;       // [tokens, C]
    float* out;          // [tokens]
    long long tokens;    // rows of x (B * L)
    int channels;        // C
};

// One thread per token, channels in order (the CPU's summation order). Each thread reads its row in V-sized
// pieces (V = uint4 where rows and the base are 16-byte aligned: 8 halves or 4 floats per load), so a warp's
// load touches 32 rows once per piece instead of once per element; the rows of a warp share cache lines over
// consecutive pieces. V = T is the plain per-element path for any alignment.
template <typename T, typename V>
__global__ void token_importance_kernel(TokenImportanceParams p) {
    constexpr int E = sizeof(V) / sizeof(T);   // elements per piece
    const int pieces = p.channels / E;        // the launcher picks V so that E divides C
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < p.tokens;
         t += (long long)gridDim.x * blockDim.x) {
        const V* r = (const V*)((const T*)p.x + t * p.channels);
        double s = 0.0;
        for (int v = 0; v < pieces; v++) {
            const V piece = __ldg(r + v);
            T e[E];
            memcpy(e, &piece, sizeof(V));   // not a cast: reading a uint4 through a T* breaks aliasing rules
#pragma unroll
            for (int k = 0; k < E; k++) s += (double)fabsf(to_float(e[k]));
        }
        p.out[t] = (float)(s / p.channels);
    }
}

struct WindowScoresParams {
    const float* a;      // importance map [B, H*W]
    float* out;          // [B, nW]
    int batch;           // images
    GridParams g;        // window grid (padding counts as zero importance)
};

#define SCORE_WARPS 4   // windows per CTA
#define SCORE_ROUND 64   // tokens a warp squares per round: two per lane, a 7x7 window in one round

// One warp per (image, window): the lanes load the window's tokens in parallel (two independent loads each)
// and square them exactly in double; lane 0 then adds the squares in token order, the CPU's order, so the
// sum's bits are the CPU's. Padding and the slots past N add +0.0, which changes no bits: the sum starts at
// +0.0 and adds only squares, so it is never -0.0. (One thread per window, as before, left 31 of 32 lanes of
// a warp idle at stage 0 and waited for 49 loads one after another.)
__global__ void __launch_bounds__(SCORE_WARPS * 32) window_scores_kernel(WindowScoresParams p) {
    __shared__ double sq[SCORE_WARPS][SCORE_ROUND];
    const int lane = threadIdx.x & 31, wib = threadIdx.x >> 5;
    const int N = p.g.N;
    const long long n = (long long)p.batch * p.g.nW;
    for (long long i = (long long)blockIdx.x * SCORE_WARPS + wib; i < n; i += (long long)gridDim.x * SCORE_WARPS) {
        const int b = (int)(i / p.g.nW), w = (int)(i - (long long)b * p.g.nW);
        const float* m = p.a + (long long)b * p.g.H * p.g.W;
        double s = 0.0;
        for (int base = 0; base < N; base += SCORE_ROUND) {
            const int t0 = base + lane, t1 = t0 + 32;
            const int s0 = t0 < N ? source_token(p.g, w, t0) : -1;
            const int s1 = t1 < N ? source_token(p.g, w, t1) : -1;
            const double v0 = s0 >= 0 ? __ldg(m + s0) : 0.0f;
            const double v1 = s1 >= 0 ? __ldg(m + s1) : 0.0f;
            sq[wib][lane] = v0 * v0;        // exact: a float's square fits a double
            sq[wib][lane + 32] = v1 * v1;
            __syncwarp();
            if (lane == 0) {
                const int cnt = min(SCORE_ROUND, N - base);
                for (int k = 0; k < cnt; k++) s += sq[wib][k];
            }
            __syncwarp();   // lane 0 has read the round before the lanes write the next
        }
        if (lane == 0) p.out[i] = (float)sqrt(s);
    }
}

template <typename T>
static int launch_token_importance(const void* x, float* out, long long tokens, int channels, cudaStream_t s) {
    TokenImportanceParams p = {x, out, tokens, channels};
    const bool vec = (uintptr_t)x % 16 == 0 && ((size_t)channels * sizeof(T)) % 16 == 0;
    if (vec)
        token_importance_kernel<T, uint4><<<blocks_for(tokens, 128), 128, 0, s>>>(p);
    else
        token_importance_kernel<T, T><<<blocks_for(tokens, 128), 128, 0, s>>>(p);
    return svj_launch("svj_token_importance");
}

extern "C" {

int svj_token_importance(const void* x, float* out, int dtype, long long tokens, int channels, void* stream) {
    SVJ_REQUIRE(x && out, "svj_token_importance: null tensor");
    SVJ_REQUIRE(tokens >= 0 && channels > 0, "svj_token_importance: %lld tokens of %d channels", tokens, channels);
    if (tokens == 0) return 0;
    SVJ_DISPATCH_FLOAT(dtype, "svj_token_importance", launch_token_importance, x, out, tokens, channels,
                       (cudaStream_t)stream)
}

int svj_window_scores(const float* a, float* out, int batch, int height, int width, int window, int shift,
                      void* stream) {
    const char* op = "svj_window_scores";
    SVJ_REQUIRE(a && out, "%s: null tensor", op);
    SVJ_REQUIRE(batch > 0 && grid_ok(height, width, window, shift), "%s: batch %d, window grid %dx%d, window %d, shift %d",
                op, batch, height, width, window, shift);
    WindowScoresParams p;
    p.g = make_grid(height, width, window, shift);
    p.a = a;
    p.out = out;
    p.batch = batch;
    window_scores_kernel<<<blocks_for((long long)batch * p.g.nW, SCORE_WARPS), SCORE_WARPS * 32, 0,
                           (cudaStream_t)stream>>>(p);
    return svj_launch(op);
}

}  // extern "C"
