// Warp-level tensor-core primitives of sm_80 and newer, as inline PTX: ldmatrix (8x8 matrices of 16-bit elements
// from shared memory, straight into the fragment layout of mma) and mma.sync.m16n8k16 (F16 or BF16 inputs, float
// accumulation). Unlike WMMA's opaque fragments, their layouts are specified, so a kernel can apply an epilogue to
// the accumulators in registers and feed one GEMM's output to the next as its A operand without shared memory.
// The kernel emulator (cuda/dev/emu, which defines SVJ_EMULATOR) runs a host version of each that follows the same
// layouts element by element, over the warp's lanes.
//
// Layouts (PTX ISA, "Matrix Fragments for mma.m16n8k16"), g = lane / 4, t = lane % 4; a 32-bit register holds two
// consecutive elements, the lower column (or k) in its low half:
//   A, 16 x 16 (m x k): a[0] = (g, 2t .. 2t+1), a[1] = (g + 8, 2t ..), a[2] = (g, 2t + 8 ..), a[3] = (g + 8, 2t + 8 ..)
//   B, 16 x 8 (k x n):  b[0] = (k 2t .. 2t+1, n g), b[1] = (k 2t + 8 .., n g): row g of an [n][k] array, which is
//                       how a linear layer's weight [out, in] is stored
//   C, D, 16 x 8 float: c[0], c[1] = (g, 2t), (g, 2t + 1); c[2], c[3] = (g + 8, 2t), (g + 8, 2t + 1)
//   ldmatrix .x4: lanes 8i .. 8i + 7 give the addresses of rows 0 .. 7 of matrix i (16 bytes each, 16-byte
//                 aligned, in shared memory); lane l receives in r[i] the elements (l / 4, 2 (l % 4) .. + 1) of
//                 matrix i. So for a 16 x 16 row-major A at p (row stride ld), lane l gives p + (l % 16) ld +
//                 (l / 16) 8 and gets a[0..3]; for two n-tiles of B in an [n][k] array, lane l gives row
//                 n0 + l % 8 + (l / 16) 8, column k0 + ((l / 8) % 2) 8, and gets b[0], b[1] of tile n0 in
//                 r[0], r[1] and of tile n0 + 8 in r[2], r[3].
// A D fragment pair (n-tiles 2j, 2j + 1 of a 16 x 16 block) is, converted to 16 bits, the A fragment of k-step j:
// a[0] = pack(D_2j[0], D_2j[1]), a[1] = pack(D_2j[2], D_2j[3]), a[2] = pack(D_2j+1[0], ..[1]), a[3] = pack(D_2j+1[2], ..[3]).
#pragma once
#include "common.cuh"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <type_traits>

// two T (16-bit) as one register, lo in the low half
template <typename T>
__device__ __forceinline__ unsigned pack2(float lo, float hi) {
    const T l = from_float<T>(lo), h = from_float<T>(hi);
    unsigned short a, b;
    memcpy(&a, &l, 2);   // not a cast (aliasing rules)
    memcpy(&b, &h, 2);
    return (unsigned)a | (unsigned)b << 16;
}

template <typename T>
__device__ __forceinline__ void unpack2(unsigned v, float& lo, float& hi) {
    T l, h;
    const unsigned short a = (unsigned short)(v & 0xffffu), b = (unsigned short)(v >> 16);
    memcpy(&l, &a, 2);
    memcpy(&h, &b, 2);
    lo = to_float(l);
    hi = to_float(h);
}

// Four 8x8 matrices of 16-bit elements from shared memory (see above); every lane of the warp must call it.
__device__ __forceinline__ void ldmatrix_x4(unsigned (&r)[4], const void* row) {
#ifdef SVJ_EMULATOR
    if ((uintptr_t)row % 16 != 0) {
        fprintf(stderr, "EMU ERROR: ldmatrix row address %p is not 16-byte aligned\n", row);
        abort();
    }
    const void* rows[32];
    emu::warp_allgather(&row, sizeof row, rows);
    const int l = emu::lane_id();
    for (int i = 0; i < 4; i++) memcpy(&r[i], (const char*)rows[8 * i + l / 4] + 4 * (l % 4), 4);
#else
    const unsigned a = (unsigned)__cvta_generic_to_shared(row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
#endif
}

// d += a b on the tensor cores: A 16 x 16 and B 16 x 8 of T (__half or __nv_bfloat16), D 16 x 8 float. Every lane of
// the warp must call it.
template <typename T>
__device__ __forceinline__ void mma_16816(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
#ifdef SVJ_EMULATOR
    // the warp's operands gathered, the products of this lane's four results added in k order (as fakewmma.h)
    struct In { unsigned a[4], b[2]; float c[4]; } mine, all[32];
    for (int i = 0; i < 4; i++) mine.a[i] = a[i], mine.c[i] = d[i];
    mine.b[0] = b0;
    mine.b[1] = b1;
    emu::warp_allgather(&mine, sizeof mine, all);
    float A[16][16], B[16][8], C[16][8];
    for (int l = 0; l < 32; l++) {
        const int g = l / 4, t = l % 4;
        for (int i = 0; i < 4; i++) {
            const int r = g + (i & 1) * 8, k = 2 * t + (i >> 1) * 8;
            unpack2<T>(all[l].a[i], A[r][k], A[r][k + 1]);
        }
        for (int i = 0; i < 2; i++) unpack2<T>(all[l].b[i], B[2 * t + 8 * i][g], B[2 * t + 8 * i + 1][g]);
        for (int i = 0; i < 4; i++) C[g + (i >> 1) * 8][2 * t + (i & 1)] = all[l].c[i];
    }
    const int l = emu::lane_id(), g = l / 4, t = l % 4;
    for (int i = 0; i < 4; i++) {
        const int r = g + (i >> 1) * 8, n = 2 * t + (i & 1);
        float acc = C[r][n];
        for (int k = 0; k < 16; k++) acc += A[r][k] * B[k][n];
        d[i] = acc;
    }
#else
    if constexpr (std::is_same<T, __half>::value) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                     "{%8, %9}, {%0, %1, %2, %3};\n"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    } else {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                     "{%8, %9}, {%0, %1, %2, %3};\n"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
#endif
}
