// SparseViT-J CPU kernels (see native/include/sparsevit_cpu.h for the contracts). Compiled into the JNI library
// of org.sparsevit.backend.cpu.CpuNative with the JDK's baseline flags (x86-64); the AVX2/FMA code is confined
// to functions marked SVJ_AVX2 and only reached after svj_cpu_supported() said yes.
#include "sparsevit_cpu.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#define SVJ_AVX2 __attribute__((target("avx2,fma")))

namespace {

constexpr int NR = 16;   // panel width: two 8-float vectors
constexpr int MR = 6;    // rows per micro-tile: 12 accumulators + 2 panel vectors + 1 broadcast of 16 registers
constexpr int KC = 256;  // depth block: a panel's 256 x 16 floats (16 KB) stay in L1 while the row block streams
constexpr int MC = 120;  // row block: 120 x 256 floats (120 KB) of x stay in L2 across the panels

bool detect() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

const bool kSupported = detect();

// Flush-to-zero and denormals-are-zero for the duration of a call, the caller's MXCSR restored after.
// Softmax makes denormals by the thousand (exp of scores far below the maximum, times v): on the machines
// measured each one cost a microcode assist, together about half of attention's time. The change to results
// is below 1.2e-38 absolute per value.
class FlushDenormals {
public:
    FlushDenormals() : saved_(_mm_getcsr()) {
        _mm_setcsr(saved_ | 0x8040);
    }
    ~FlushDenormals() {
        _mm_setcsr(saved_);
    }
    FlushDenormals(const FlushDenormals&) = delete;
    FlushDenormals& operator=(const FlushDenormals&) = delete;

private:
    unsigned int saved_;
};

// ------------------------------------------------------------------------------------- GELU

// erf(z) = z P(s) / Q(s), s = z^2 / 16, z clamped to [-4, 4]: the coefficients of Erf.java
// (bench/tools/fit_erf.py), so both paths compute the same function (to a few units in the last place).
SVJ_AVX2 inline __m256 erf8(__m256 x) {
    const __m256 four = _mm256_set1_ps(4.f);
    __m256 z = _mm256_max_ps(_mm256_min_ps(x, four), _mm256_set1_ps(-4.f));
    __m256 s = _mm256_mul_ps(_mm256_mul_ps(z, z), _mm256_set1_ps(0.0625f));
    __m256 p = _mm256_set1_ps(-0.2528142459565601f);
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(5.3158178291069635f));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(25.683422725079012f));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(15.590644774852542f));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(13.919063623133756f));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(2.930607277163338f));
    p = _mm256_fmadd_ps(p, s, _mm256_set1_ps(1.1283792235538852f));
    __m256 q = _mm256_set1_ps(69.95708617909857f);
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(86.17283264778841f));
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(63.1690762486287f));
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(29.030967129364633f));
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(7.9305266358440445f));
    q = _mm256_fmadd_ps(q, s, _mm256_set1_ps(1.f));
    // 1 / q by the reciprocal estimate and one Newton step (q is in [1, 257]: relative error below 1e-7),
    // twice as fast as a division here
    __m256 inv = _mm256_rcp_ps(q);
    inv = _mm256_mul_ps(inv, _mm256_fnmadd_ps(q, inv, _mm256_set1_ps(2.f)));
    __m256 r = _mm256_mul_ps(_mm256_mul_ps(z, p), inv);
    return _mm256_max_ps(_mm256_min_ps(r, _mm256_set1_ps(1.f)), _mm256_set1_ps(-1.f));
}

SVJ_AVX2 inline __m256 gelu8(__m256 x) {
    __m256 e = erf8(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678f)));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), _mm256_add_ps(_mm256_set1_ps(1.f), e));
}

// ------------------------------------------------------------------------------------- GEMM

struct Epilogue {
    const float* bias;  // this panel's 16 bias values, or null
    bool gelu;
};

// One row of a tile, one step of depth: both halves of the row += x[row, k] * the panel's row k.
SVJ_AVX2 inline void row_fma(const float* a, __m256 b0, __m256 b1, __m256& c0, __m256& c1) {
    const __m256 av = _mm256_broadcast_ss(a);
    c0 = _mm256_fmadd_ps(av, b0, c0);
    c1 = _mm256_fmadd_ps(av, b1, c1);
}

// An R x 16 tile of out (R <= 6 rows of x at a[0..R), one weight panel) over kc steps of depth. load: add the
// tile's current contents; ep (last depth block only): bias, GELU. next (or null): the panel to come, fetched
// into L1 a line per step while this one is used. Rows R..5 are compiled out, so a 5-row tile costs 5/6 of a
// 6-row one.
template <int R>
SVJ_AVX2 inline void micro_tile(int kc, const float* const* a, const float* b, const float* next, float* c, int ldc,
                                bool load, const Epilogue* ep) {
    // named accumulators, not an array: GCC keeps an array of vectors on the stack inside the loop
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const float* a0 = a[0];
    const float* a1 = R > 1 ? a[1] : nullptr;
    const float* a2 = R > 2 ? a[2] : nullptr;
    const float* a3 = R > 3 ? a[3] : nullptr;
    const float* a4 = R > 4 ? a[4] : nullptr;
    const float* a5 = R > 5 ? a[5] : nullptr;
    for (int k = 0; k < kc; k++) {
        if (next != nullptr) {
            _mm_prefetch(reinterpret_cast<const char*>(next + k * NR), _MM_HINT_T0);
        }
        const __m256 b0 = _mm256_load_ps(b + k * NR);
        const __m256 b1 = _mm256_load_ps(b + k * NR + 8);
        row_fma(a0 + k, b0, b1, c00, c01);
        if constexpr (R > 1) {
            row_fma(a1 + k, b0, b1, c10, c11);
        }
        if constexpr (R > 2) {
            row_fma(a2 + k, b0, b1, c20, c21);
        }
        if constexpr (R > 3) {
            row_fma(a3 + k, b0, b1, c30, c31);
        }
        if constexpr (R > 4) {
            row_fma(a4 + k, b0, b1, c40, c41);
        }
        if constexpr (R > 5) {
            row_fma(a5 + k, b0, b1, c50, c51);
        }
    }
    const __m256 acc[2 * MR] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
    __m256 bias0 = _mm256_setzero_ps(), bias1 = bias0;
    if (ep != nullptr && ep->bias != nullptr) {
        bias0 = _mm256_loadu_ps(ep->bias);
        bias1 = _mm256_loadu_ps(ep->bias + 8);
    }
    for (int r = 0; r < R; r++) {
        float* cr = c + static_cast<std::ptrdiff_t>(r) * ldc;
        __m256 v0 = acc[2 * r];
        __m256 v1 = acc[2 * r + 1];
        if (load) {
            v0 = _mm256_add_ps(v0, _mm256_loadu_ps(cr));
            v1 = _mm256_add_ps(v1, _mm256_loadu_ps(cr + 8));
        }
        if (ep != nullptr) {
            v0 = _mm256_add_ps(v0, bias0);
            v1 = _mm256_add_ps(v1, bias1);
            if (ep->gelu) {
                v0 = gelu8(v0);
                v1 = gelu8(v1);
            }
        }
        _mm256_storeu_ps(cr, v0);
        _mm256_storeu_ps(cr + 8, v1);
    }
}

SVJ_AVX2 inline void tile(int rows, int kc, const float* const* a, const float* b, const float* next, float* c,
                          int ldc, bool load, const Epilogue* ep) {
    switch (rows) {
        case 6: micro_tile<6>(kc, a, b, next, c, ldc, load, ep); break;
        case 5: micro_tile<5>(kc, a, b, next, c, ldc, load, ep); break;
        case 4: micro_tile<4>(kc, a, b, next, c, ldc, load, ep); break;
        case 3: micro_tile<3>(kc, a, b, next, c, ldc, load, ep); break;
        case 2: micro_tile<2>(kc, a, b, next, c, ldc, load, ep); break;
        default: micro_tile<1>(kc, a, b, next, c, ldc, load, ep); break;
    }
}

SVJ_AVX2 void linear_avx2(const float* x, int k, const float* packed, int n, const float* bias, float* out,
                          bool accumulate, bool gelu, int row0, int row1, int col0, int col1) {
    alignas(32) float tail[MR * NR];    // a partial panel's tile (n not a multiple of 16)
    alignas(32) float tailBias[NR];
    const std::ptrdiff_t npad = static_cast<std::ptrdiff_t>((n + NR - 1) / NR) * NR;
    for (int k0 = 0; k0 < k; k0 += KC) {
        const int kc = std::min(KC, k - k0);
        const bool last = k0 + kc == k;
        const bool load = accumulate || k0 > 0;
        for (int m0 = row0; m0 < row1; m0 += MC) {
            const int mc = std::min(MC, row1 - m0);
            for (int c0 = col0; c0 < col1; c0 += NR) {
                const int width = std::min(NR, n - c0);
                // panels of a depth block lie one after another: the weight streams through in order
                const float* b = packed + static_cast<std::ptrdiff_t>(k0) * npad + static_cast<std::ptrdiff_t>(c0 / NR) * kc * NR;
                const float* next = c0 + NR < col1 ? b + kc * NR : nullptr;
                Epilogue ep{bias != nullptr ? bias + c0 : nullptr, gelu};
                if (width < NR && bias != nullptr) {
                    std::memset(tailBias, 0, sizeof tailBias);
                    std::memcpy(tailBias, bias + c0, sizeof(float) * width);
                    ep.bias = tailBias;
                }
                // ceil(mc / 6) tiles with rows spread evenly (49 rows: four of 6 and five of 5, not eight of 6
                // and one of 1, which runs at the FMA latency)
                const int tiles = (mc + MR - 1) / MR;
                for (int t = 0, r = 0; t < tiles; t++) {
                    const int rows = mc * (t + 1) / tiles - mc * t / tiles;
                    const float* a[MR] = {};
                    for (int i = 0; i < rows; i++) {
                        a[i] = x + static_cast<std::ptrdiff_t>(m0 + r + i) * k + k0;
                    }
                    float* c = out + static_cast<std::ptrdiff_t>(m0 + r) * n + c0;
                    const Epilogue* e = last ? &ep : nullptr;
                    if (width == NR) {
                        tile(rows, kc, a, b, t == 0 ? next : nullptr, c, n, load, e);
                    } else {
                        for (int i = 0; i < rows; i++) {
                            if (load) {
                                std::memcpy(tail + i * NR, c + static_cast<std::ptrdiff_t>(i) * n, sizeof(float) * width);
                            }
                        }
                        tile(rows, kc, a, b, nullptr, tail, NR, load, e);
                        for (int i = 0; i < rows; i++) {
                            std::memcpy(c + static_cast<std::ptrdiff_t>(i) * n, tail + i * NR, sizeof(float) * width);
                        }
                    }
                    r += rows;
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------------- attention

// exp for softmax inputs (<= 0 after the max is taken): FastExp.java's method, 8 lanes. Below -87: 0.
SVJ_AVX2 inline __m256 exp8(__m256 x) {
    const __m256 rounder = _mm256_set1_ps(12582912.f);
    __m256 tiny = _mm256_cmp_ps(x, _mm256_set1_ps(-87.f), _CMP_LT_OQ);
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.f));
    __m256 t = _mm256_mul_ps(x, _mm256_set1_ps(1.4426950408889634f));
    __m256 i = _mm256_sub_ps(_mm256_add_ps(t, rounder), rounder);
    __m256 y = _mm256_fnmadd_ps(i, _mm256_set1_ps(0.693145751953125f), x);
    y = _mm256_fnmadd_ps(i, _mm256_set1_ps(1.428606765330187e-06f), y);
    __m256 y2 = _mm256_mul_ps(y, y);
    __m256 p01 = _mm256_add_ps(_mm256_set1_ps(1.f), y);
    __m256 p23 = _mm256_fmadd_ps(y, _mm256_set1_ps(1.f / 6), _mm256_set1_ps(0.5f));
    __m256 p45 = _mm256_fmadd_ps(y, _mm256_set1_ps(1.f / 120), _mm256_set1_ps(1.f / 24));
    __m256 p67 = _mm256_fmadd_ps(y, _mm256_set1_ps(1.f / 5040), _mm256_set1_ps(1.f / 720));
    __m256 p = _mm256_fmadd_ps(y2, _mm256_fmadd_ps(y2, _mm256_fmadd_ps(y2, p67, p45), p23), p01);
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(i), _mm256_set1_epi32(127)), 23);
    __m256 r = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    return _mm256_andnot_ps(tiny, r);
}

SVJ_AVX2 inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

SVJ_AVX2 inline float hmax(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// s[0, 8 VS) = q . kt[:, 0, 8 VS) over d (kt rows np apart): VS accumulators, kept in registers
template <int VS>
SVJ_AVX2 inline void scores(const float* q, int d, const float* kt, int np, float* s) {
    __m256 acc[VS];
    for (int v = 0; v < VS; v++) {
        acc[v] = _mm256_setzero_ps();
    }
    for (int t = 0; t < d; t++) {
        const __m256 qv = _mm256_broadcast_ss(q + t);
        for (int v = 0; v < VS; v++) {
            acc[v] = _mm256_fmadd_ps(qv, _mm256_load_ps(kt + t * np + 8 * v), acc[v]);
        }
    }
    for (int v = 0; v < VS; v++) {
        _mm256_store_ps(s + 8 * v, acc[v]);
    }
}

// o[0, 8 VD) = inv * sum over n keys of p[key] v[key, 0, 8 VD) (v rows ldv apart)
template <int VD>
SVJ_AVX2 inline void weighted(const float* p, int n, const float* v, int ldv, float inv, float* o) {
    __m256 acc[VD];
    for (int j = 0; j < VD; j++) {
        acc[j] = _mm256_setzero_ps();
    }
    for (int key = 0; key < n; key++) {
        const __m256 pv = _mm256_broadcast_ss(p + key);
        const float* vr = v + static_cast<std::ptrdiff_t>(key) * ldv;
        for (int j = 0; j < VD; j++) {
            acc[j] = _mm256_fmadd_ps(pv, _mm256_loadu_ps(vr + 8 * j), acc[j]);
        }
    }
    const __m256 iv = _mm256_set1_ps(inv);
    for (int j = 0; j < VD; j++) {
        _mm256_storeu_ps(o + 8 * j, _mm256_mul_ps(acc[j], iv));
    }
}

SVJ_AVX2 void attention_avx2(const float* qkv, float* out, int n, int heads, int d, float scale, const float* bias,
                             const int* regions, float masked, int item0, int item1) {
    const int c = heads * d;
    const int c3 = 3 * c;
    const int np = (n + 7) / 8 * 8;   // keys rounded up to whole vectors
    std::vector<float> scratch(static_cast<size_t>(d) * np + 2 * np + 8);
    float* kt = reinterpret_cast<float*>((reinterpret_cast<std::uintptr_t>(scratch.data()) + 31) & ~std::uintptr_t(31));
    float* srow = kt + static_cast<size_t>(d) * np;   // one query's scores, then probabilities
    float* mrow = srow + np;                          // the query's mask addend per key
    for (int i = n; i < np; i++) {
        mrow[i] = -INFINITY;
    }
    for (int item = item0; item < item1; item++) {
        const int w = item / heads;
        const int h = item % heads;
        const float* base = qkv + static_cast<std::ptrdiff_t>(w) * n * c3;
        // k transposed into [d, np], keys past n zero
        for (int key = 0; key < n; key++) {
            const float* kr = base + static_cast<std::ptrdiff_t>(key) * c3 + c + h * d;
            for (int t = 0; t < d; t++) {
                kt[t * np + key] = kr[t];
            }
        }
        for (int t = 0; t < d; t++) {
            for (int key = n; key < np; key++) {
                kt[t * np + key] = 0.f;
            }
        }
        const int* reg = regions != nullptr ? regions + static_cast<std::ptrdiff_t>(w) * n : nullptr;
        const float* bh = bias + static_cast<std::ptrdiff_t>(h) * n * n;
        for (int q = 0; q < n; q++) {
            const float* qr = base + static_cast<std::ptrdiff_t>(q) * c3 + h * d;
            // scores in chunks of up to 8 vectors (64 keys): 8 accumulators and a broadcast
            for (int j0 = 0; j0 < np; j0 += 64) {
                switch (std::min(8, (np - j0) / 8)) {
                    case 1: scores<1>(qr, d, kt + j0, np, srow + j0); break;
                    case 2: scores<2>(qr, d, kt + j0, np, srow + j0); break;
                    case 3: scores<3>(qr, d, kt + j0, np, srow + j0); break;
                    case 4: scores<4>(qr, d, kt + j0, np, srow + j0); break;
                    case 5: scores<5>(qr, d, kt + j0, np, srow + j0); break;
                    case 6: scores<6>(qr, d, kt + j0, np, srow + j0); break;
                    case 7: scores<7>(qr, d, kt + j0, np, srow + j0); break;
                    default: scores<8>(qr, d, kt + j0, np, srow + j0); break;
                }
            }
            if (reg != nullptr) {
                const int rq = reg[q];
                for (int key = 0; key < n; key++) {
                    mrow[key] = reg[key] != rq ? masked : 0.f;
                }
            } else {
                for (int key = 0; key < n; key++) {
                    mrow[key] = 0.f;
                }
            }
            // s = scale qk + bias + mask (keys past n: -inf), max, exp, sum, normalise
            const float* br = bh + static_cast<std::ptrdiff_t>(q) * n;
            const __m256 sc = _mm256_set1_ps(scale);
            __m256 mx = _mm256_set1_ps(-INFINITY);
            int key = 0;
            for (; key + 8 <= n; key += 8) {
                __m256 s = _mm256_fmadd_ps(_mm256_loadu_ps(srow + key), sc, _mm256_loadu_ps(br + key));
                s = _mm256_add_ps(s, _mm256_loadu_ps(mrow + key));
                _mm256_storeu_ps(srow + key, s);
                mx = _mm256_max_ps(mx, s);
            }
            for (; key < np; key++) {
                srow[key] = key < n ? srow[key] * scale + br[key] + mrow[key] : -INFINITY;
            }
            float m = hmax(mx);
            for (int i = n / 8 * 8; i < n; i++) {
                m = std::max(m, srow[i]);
            }
            const __m256 mv = _mm256_set1_ps(m);
            __m256 sum = _mm256_setzero_ps();
            for (int i = 0; i < np; i += 8) {
                __m256 e = exp8(_mm256_sub_ps(_mm256_load_ps(srow + i), mv));
                _mm256_store_ps(srow + i, e);
                sum = _mm256_add_ps(sum, e);
            }
            const float inv = 1.f / hsum(sum);
            // out row = (p v) / sum, d in vectors of 8, four at a time
            float* orow = out + (static_cast<std::ptrdiff_t>(w) * n + q) * c + h * d;
            const float* vbase = base + 2 * c + h * d;
            for (int t0 = 0; t0 < d; t0 += 32) {
                switch (std::min(4, (d - t0) / 8)) {
                    case 1: weighted<1>(srow, n, vbase + t0, c3, inv, orow + t0); break;
                    case 2: weighted<2>(srow, n, vbase + t0, c3, inv, orow + t0); break;
                    case 3: weighted<3>(srow, n, vbase + t0, c3, inv, orow + t0); break;
                    default: weighted<4>(srow, n, vbase + t0, c3, inv, orow + t0); break;
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------------- LayerNorm

SVJ_AVX2 inline double hsum_pd(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

SVJ_AVX2 void layer_norm_avx2(const float* x, const float* gamma, const float* beta, float eps, int c, float* out,
                              int row0, int row1) {
    for (int r = row0; r < row1; r++) {
        const float* xr = x + static_cast<std::ptrdiff_t>(r) * c;
        float* orow = out + static_cast<std::ptrdiff_t>(r) * c;
        __m256d s0 = _mm256_setzero_pd(), s1 = s0;
        for (int j = 0; j < c; j += 8) {
            __m256 v = _mm256_loadu_ps(xr + j);
            s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
            s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
        }
        const double mean = hsum_pd(_mm256_add_pd(s0, s1)) / c;
        const __m256d md = _mm256_set1_pd(mean);
        __m256d v0 = _mm256_setzero_pd(), v1 = v0;
        for (int j = 0; j < c; j += 8) {
            __m256 v = _mm256_loadu_ps(xr + j);
            __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), md);
            __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), md);
            v0 = _mm256_fmadd_pd(d0, d0, v0);
            v1 = _mm256_fmadd_pd(d1, d1, v1);
        }
        const double var = hsum_pd(_mm256_add_pd(v0, v1));
        const __m256 inv = _mm256_set1_ps(static_cast<float>(1.0 / std::sqrt(var / c + eps)));
        const __m256 mf = _mm256_set1_ps(static_cast<float>(mean));
        for (int j = 0; j < c; j += 8) {
            __m256 v = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + j), mf), inv);
            _mm256_storeu_ps(orow + j, _mm256_fmadd_ps(v, _mm256_loadu_ps(gamma + j), _mm256_loadu_ps(beta + j)));
        }
    }
}

}  // namespace

extern "C" {

int svj_cpu_supported(void) {
    return kSupported ? 1 : 0;
}

int svj_cpu_panel_width(void) {
    return NR;
}

long long svj_cpu_packed_floats(int n, int k) {
    if (n < 0 || k < 0) {
        return SVJ_CPU_EINVAL;
    }
    return static_cast<long long>((n + NR - 1) / NR) * NR * k;
}

int svj_cpu_pack_weights(const float* w, int n, int k, float* packed) {
    if (w == nullptr || packed == nullptr || n <= 0 || k <= 0 || (reinterpret_cast<std::uintptr_t>(packed) & 31) != 0) {
        return SVJ_CPU_EINVAL;
    }
    // [depth block of KC][panel][depth in block][NR]
    const int panels = (n + NR - 1) / NR;
    for (int k0 = 0; k0 < k; k0 += KC) {
        const int kc = std::min(KC, k - k0);
        for (int p = 0; p < panels; p++) {
            float* dst = packed + static_cast<std::ptrdiff_t>(k0) * panels * NR + static_cast<std::ptrdiff_t>(p) * kc * NR;
            for (int j = 0; j < NR; j++) {
                const int col = p * NR + j;
                const float* src = w + static_cast<std::ptrdiff_t>(col) * k + k0;
                for (int kk = 0; kk < kc; kk++) {
                    dst[kk * NR + j] = col < n ? src[kk] : 0.f;
                }
            }
        }
    }
    return 0;
}

int svj_cpu_linear(const float* x, int k, const float* packed, int n, const float* bias, float* out,
                   int accumulate, int gelu, int row0, int row1, int col0, int col1) {
    if (x == nullptr || packed == nullptr || out == nullptr || k <= 0 || n <= 0 || row0 < 0 || row1 < row0
            || col0 < 0 || col0 % NR != 0 || col1 < col0 || col1 > n || (col1 % NR != 0 && col1 != n)
            || (reinterpret_cast<std::uintptr_t>(packed) & 31) != 0) {
        return SVJ_CPU_EINVAL;
    }
    if (!kSupported) {
        return SVJ_CPU_EUNSUPPORTED;
    }
    FlushDenormals ftz;
    linear_avx2(x, k, packed, n, bias, out, accumulate != 0, gelu != 0, row0, row1, col0, col1);
    return 0;
}

int svj_cpu_window_attention(const float* qkv, float* out, int n, int heads, int d, float scale,
                             const float* bias, const int* regions, float masked, int item0, int item1) {
    if (qkv == nullptr || out == nullptr || bias == nullptr || n <= 0 || heads <= 0 || d <= 0 || d % 8 != 0
            || item0 < 0 || item1 < item0) {
        return SVJ_CPU_EINVAL;
    }
    if (!kSupported) {
        return SVJ_CPU_EUNSUPPORTED;
    }
    FlushDenormals ftz;
    attention_avx2(qkv, out, n, heads, d, scale, bias, regions, masked, item0, item1);
    return 0;
}

int svj_cpu_layer_norm(const float* x, const float* gamma, const float* beta, float eps, int c, float* out,
                       int row0, int row1) {
    if (x == nullptr || gamma == nullptr || beta == nullptr || out == nullptr || c <= 0 || c % 8 != 0 || row0 < 0
            || row1 < row0 || !(eps >= 0.f)) {
        return SVJ_CPU_EINVAL;
    }
    if (!kSupported) {
        return SVJ_CPU_EUNSUPPORTED;
    }
    FlushDenormals ftz;
    layer_norm_avx2(x, gamma, beta, eps, c, out, row0, row1);
    return 0;
}

}  // extern "C"
