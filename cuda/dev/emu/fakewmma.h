// Stand-in for <mma.h> (nvcuda::wmma) in the emulation. A real fragment is spread over the 32 lanes of a
// warp in an unspecified layout; here every thread holds the whole 16x16 tile (the API's results are the
// same; kernels must not index fragment elements, which this does not emulate). store_matrix_sync writes each
// element from one lane only, so a missing __syncwarp between a store and other lanes' reads shows. mma_sync shares the product
// out over the warp's lanes, so all 32 must call it, as on the hardware. Products are exact float products of
// the stored inputs, accumulated in float, as on tensor cores with float accumulation (the order of the
// additions differs). The API's alignment rules are checked: pointers 256-bit aligned, ldm a multiple of 16
// bytes (8 half/bf16 elements, 4 floats).
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {
    T x[16 * 16];
};

template <class Use, int M, int N, int K, class T, class Layout>
inline void fill_fragment(fragment<Use, M, N, K, T, Layout>& f, float v) {
    for (auto& e : f.x) e = (T)v;
}

inline void check_alignment(const char* op, const void* p, unsigned ld, size_t elem) {
    if ((uintptr_t)p % 32 != 0 || (ld * elem) % 16 != 0) {
        fprintf(stderr, "%s: pointer %p must be 32-byte aligned and ldm %u x %zu bytes a multiple of 16\n", op, p, ld,
                elem);
        abort();
    }
}

// matrix_a: element (row m, col k); matrix_b: element (row k, col n). Row-major: p[r * ld + c]; column-major:
// p[c * ld + r].
template <class Use, class T>
inline void load_matrix_sync(fragment<Use, 16, 16, 16, T, row_major>& f, const T* p, unsigned ld) {
    check_alignment("load_matrix_sync", p, ld, sizeof(T));
    for (int r = 0; r < 16; r++) for (int c = 0; c < 16; c++) f.x[r * 16 + c] = p[(size_t)r * ld + c];
}
template <class Use, class T>
inline void load_matrix_sync(fragment<Use, 16, 16, 16, T, col_major>& f, const T* p, unsigned ld) {
    check_alignment("load_matrix_sync", p, ld, sizeof(T));
    for (int r = 0; r < 16; r++) for (int c = 0; c < 16; c++) f.x[r * 16 + c] = p[(size_t)c * ld + r];
}

template <class TA, class LA, class LB>
inline void mma_sync(fragment<accumulator, 16, 16, 16, float>& d, const fragment<matrix_a, 16, 16, 16, TA, LA>& a,
                     const fragment<matrix_b, 16, 16, 16, TA, LB>& b, const fragment<accumulator, 16, 16, 16, float>& c) {
    // each lane computes 8 of the 256 results, and the warp shares them (as the hardware, a warp-wide operation)
    float mine[8];
    int lane = emu::lane_id();
    for (int e = 0; e < 8; e++) {
        int m = (lane * 8 + e) / 16, n = (lane * 8 + e) % 16;
        float acc = c.x[m * 16 + n];
        for (int k = 0; k < 16; k++) acc += (float)a.x[m * 16 + k] * (float)b.x[k * 16 + n];
        mine[e] = acc;
    }
    float out[256];
    emu::warp_allgather(mine, sizeof mine, out);
    for (int i = 0; i < 256; i++) d.x[i] = out[i];
}

inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 16, float>& f, unsigned ld, layout_t l) {
    check_alignment("store_matrix_sync", p, ld, sizeof(float));
    // each lane writes only its share (element i by lane i % 32), as a real fragment is spread over the warp:
    // a lane that reads the tile before a __syncwarp may miss the other lanes' elements, as on the hardware
    const int lane = emu::lane_id();
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++) {
            if (((r * 16 + c) & 31) != lane) continue;
            if (l == mem_row_major) p[(size_t)r * ld + c] = f.x[r * 16 + c];
            else p[(size_t)c * ld + r] = f.x[r * 16 + c];
        }
}
}  // namespace wmma
}  // namespace nvcuda
