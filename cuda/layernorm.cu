// LayerNorm over the last dimension: plain, fused with the residual add, and fused with the window gather
// (norm1 of a Swin block reads the kept windows straight from the token map). Two passes over each row (mean,
// then the biased variance of the deviations, as PyTorch), float32 math whatever the storage type.
#include "common.cuh"
#include <string.h>

#define LN_THREADS 256   // threads per block at most (launch_pieces picks 128 or 256)

enum LnKind { LN_PLAIN, LN_ADD, LN_GATHER };

template <typename T>
struct LayerNormParams {
    const T* x;          // [rows, C] input (LN_ADD: the residual stream a, updated in place; LN_GATHER: the token
                         // map [B, H*W, C])
    const T* b;          // LN_ADD only: [rows, C] added to a
    const T* gamma;      // [C] scale
    const T* beta;       // [C] shift
    T* tile;             // LN_GATHER only: [B, k, N, C], the gathered windows
    T* out;              // [rows, C]; may be x for LN_PLAIN (a lane reads each of its pieces before writing it)
    const int* order;    // LN_GATHER only: [B, nW] or NULL
    GridParams g;        // LN_GATHER only
    long long rows;      // rows to normalise (LN_GATHER: the B * k * N tile rows)
    int k;               // LN_GATHER only: kept windows per image
    int channels;        // C
    float eps;           // added to the variance
    int zero_padded;     // LN_GATHER only: padding tokens normalise to zeros (else to beta, LayerNorm of a zero row)
};

// Loads this lane's pieces c0 .. c0 + NP - 1 (those below n) of a row into buf: xr[i * G] is piece i. LN_ADD adds
// its b pieces (br[i * G]) and keeps the rounded sums, what add-then-LayerNorm normalises.
// Every load takes the read-only path: nothing this kernel reads is written before that read. The gather's map and
// b never are; x in place (out == x) and LN_ADD's a are written in pass 3 only, each piece after the last read of
// it and by the lane that reads it (hence LN_ADD stores a there, and a streaming row re-adds instead of re-reading
// the sums). (With coherent loads the compiler scheduled the plain kernel into 64 registers instead of 40 at NP = 3,
// the add's into 248 at NP = 12.)
template <typename T, typename V, int NP, int KIND>
__device__ __forceinline__ void load_chunk(V (&buf)[NP], const V* xr, const V* br, int c0, int n) {
    constexpr int G = 32 * sizeof(T) / sizeof(V);
#pragma unroll
    for (int i = 0; i < NP; i++)
        if (c0 + i < n) buf[i] = __ldg(xr + (c0 + i) * G);
    if (KIND == LN_ADD) {
        constexpr int E = sizeof(V) / sizeof(T);
        V q[NP];
#pragma unroll
        for (int i = 0; i < NP; i++)
            if (c0 + i < n) q[i] = __ldg(br + (c0 + i) * G);
#pragma unroll
        for (int i = 0; i < NP; i++) {
            if (c0 + i < n) {
                T e[E], f[E];
                memcpy(e, &buf[i], sizeof(V));   // not a cast: reading a uint4 through a T* breaks aliasing rules
                memcpy(f, &q[i], sizeof(V));
#pragma unroll
                for (int k = 0; k < E; k++) e[k] = from_float<T>(to_float(e[k]) + to_float(f[k]));
                memcpy(&buf[i], e, sizeof(V));
            }
        }
    }
}

// LayerNorm of rows of C values: plain, after the residual add (a += b, then LayerNorm of the stored, rounded
// sum), or of tile rows gathered from a token map (copied to the tile as they pass). A row is P = C / E pieces of
// type V (E elements each: V = uint4 where rows and bases are 16-byte aligned, else V = T); a group of G = 32 / E
// lanes owns a row (E rows per warp), its lane j the pieces j, j + G, j + 2G, ...: exactly the elements
// j * E + k + 32 i that lanes j * E + k of the one-warp-per-row layout summed, in the same order, so with
// row_sum the results are bitwise those of that layout (the kernel before 16-byte pieces) whatever V is.
// A lane loads all of its pieces (NP >= ceil(C / 32) of them, see launch_pieces) before it stores anything,
// so they are in flight together (a store between loads that may alias it would serialise them), and works from
// registers: the mean, the variance of the deviations, out = (x - mean) / sqrt(var + eps) * gamma + beta. Longer
// rows stream through in chunks of NP pieces, each pass reloading its chunk (cache hits).
template <typename T, typename V, int NP, int KIND>
__global__ void __launch_bounds__(LN_THREADS) layer_norm_kernel(LayerNormParams<T> p) {
    constexpr int E = sizeof(V) / sizeof(T);   // elements per piece
    constexpr int G = 32 / E;                  // lanes per row
    const int lane = threadIdx.x & 31;
    const int j = lane % G;                    // lane in the row's group
    const long long row = ((long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5)) * E + lane / G;
    const int C = p.channels;
    const int P = C / E;                       // pieces per row (the launcher picks V so that E divides C)
    const bool resident = (P + G - 1) / G <= NP;   // every lane's pieces fit in buf (the same for all lanes)
    int n = 0;                                 // this lane's pieces j, j + G, ...: none past the last row
    const V* xr = nullptr;                     // the row's piece j: pieces at xr[i * G]
    const V* br = nullptr;                     // LN_ADD: b's
    if (row < p.rows) {
        n = (P - j + G - 1) / G;
        if (KIND != LN_GATHER) xr = (const V*)(p.x + row * C) + j;
        if (KIND == LN_ADD) br = (const V*)(p.b + row * C) + j;
        if (KIND == LN_GATHER) {
            // tile row (b * k + w) * N + t: token t of kept window w of image b (shift and padding folded in)
            const int N = p.g.N;
            const long long bw = row / N;
            const int t = (int)(row - bw * N);
            const int b = (int)(bw / p.k), w = (int)(bw - (long long)b * p.k);
            const int src = source_token(p.g, window_of(p.order, p.g.nW, b, w), t);
            if (src < 0) {
                // a padding token: zeros in the tile; out is the LayerNorm of a zero row (beta), or zeros
                V* tr = (V*)(p.tile + row * C);
                V* o = (V*)(p.out + row * C);
                V zero;
                memset(&zero, 0, sizeof(V));   // +0 in every element
                for (int q = j; q < P; q += G) {
                    tr[q] = zero;
                    o[q] = p.zero_padded ? zero : __ldg((const V*)p.beta + q);
                }
                n = 0;
            } else {
                xr = (const V*)(p.x + ((long long)b * p.g.H * p.g.W + src) * C) + j;
            }
        }
    }
    V buf[NP];   // the chunk's pieces (all of them when resident)

    // pass 1: load (LN_GATHER: copy to the tile), sum
    float s[E];
#pragma unroll
    for (int k = 0; k < E; k++) s[k] = 0.f;
#pragma unroll 1
    for (int c0 = 0; c0 < n; c0 += NP) {
        load_chunk<T, V, NP, KIND>(buf, xr, br, c0, n);
        if (KIND == LN_GATHER) {
            V* tr = (V*)(p.tile + row * C) + j;
#pragma unroll
            for (int i = 0; i < NP; i++)
                if (c0 + i < n) tr[(c0 + i) * G] = buf[i];
        }
#pragma unroll
        for (int i = 0; i < NP; i++) {
            if (c0 + i < n) {
                T e[E];
                memcpy(e, &buf[i], sizeof(V));
#pragma unroll
                for (int k = 0; k < E; k++) s[k] += to_float(e[k]);
            }
        }
    }
    const float mean = row_sum<E>(s) / C;

    // pass 2: the variance of the deviations
#pragma unroll
    for (int k = 0; k < E; k++) s[k] = 0.f;
#pragma unroll 1
    for (int c0 = 0; c0 < n; c0 += NP) {
        if (!resident) load_chunk<T, V, NP, KIND>(buf, xr, br, c0, n);
#pragma unroll
        for (int i = 0; i < NP; i++) {
            if (c0 + i < n) {
                T e[E];
                memcpy(e, &buf[i], sizeof(V));
#pragma unroll
                for (int k = 0; k < E; k++) {
                    const float dl = to_float(e[k]) - mean;
                    s[k] = fmaf(dl, dl, s[k]);
                }
            }
        }
    }
    const float inv = rsqrtf(row_sum<E>(s) / C + p.eps);

    // pass 3 (LN_ADD: store the sums in a), normalise, scale and shift a chunk into buf, then store it
#pragma unroll 1
    for (int c0 = 0; c0 < n; c0 += NP) {
        if (!resident) load_chunk<T, V, NP, KIND>(buf, xr, br, c0, n);
        if (KIND == LN_ADD) {
#pragma unroll
            for (int i = 0; i < NP; i++)
                if (c0 + i < n) const_cast<V*>(xr)[(c0 + i) * G] = buf[i];
        }
        const V* gr = (const V*)p.gamma + j;
        const V* bt = (const V*)p.beta + j;
#pragma unroll
        for (int i = 0; i < NP; i++) {
            if (c0 + i < n) {
                T e[E], ga[E], be[E];
                memcpy(e, &buf[i], sizeof(V));
                const V gv = __ldg(gr + (c0 + i) * G), bv = __ldg(bt + (c0 + i) * G);
                memcpy(ga, &gv, sizeof(V));
                memcpy(be, &bv, sizeof(V));
#pragma unroll
                for (int k = 0; k < E; k++)
                    e[k] = from_float<T>((to_float(e[k]) - mean) * inv * to_float(ga[k]) + to_float(be[k]));
                memcpy(&buf[i], e, sizeof(V));
            }
        }
        V* o = (V*)(p.out + row * C) + j;
#pragma unroll
        for (int i = 0; i < NP; i++)
            if (c0 + i < n) o[(c0 + i) * G] = buf[i];
    }
}

// Launches the 16-byte path of the plain and gather kinds with NP >= ceil(C / 32), the pieces per lane, so that
// the row stays in registers: C <= 96 (Swin-T stage 1), 192, 384, and 768. Longer rows (patch merging's
// 4C = 1536) stream in chunks of 24 pieces. The other paths take NP = 6 (below). Blocks of 8 warps, 4 from
// NP = 12 on, where registers leave room for few blocks on an SM and launches are short (Swin-T's stage 3 is 196
// blocks of 8 warps at batch 64, stage 4 49): smaller blocks spread them more evenly over the SMs.
template <typename T, typename V, int KIND>
static int launch_pieces(const LayerNormParams<T>& p, cudaStream_t s, const char* op) {
    constexpr int E = sizeof(V) / sizeof(T);
    const int n = (p.channels + 31) / 32;
    const int threads = n <= 6 ? LN_THREADS : LN_THREADS / 2;
    const int rows_per_block = threads / 32 * E;
    const long long grid = (p.rows + rows_per_block - 1) / rows_per_block;
    // the element path has 4 rows a block for long rows: the last few row counts below the entries' 2^33 overflow
    SVJ_REQUIRE(grid < (1LL << 31), "%s: %lld rows of %d channels", op, p.rows, p.channels);
    const unsigned blocks = (unsigned)grid;
    if constexpr (KIND == LN_ADD || sizeof(V) == sizeof(T)) {
        // one NP for the paths no Swin pass takes (the residual add; elements, for C * sizeof(T) not a multiple of
        // 16 or unaligned views): longer rows stream. NP changes no bits (a lane sums its pieces in order either
        // way); this keeps the library small (each instance is compiled for five targets)
        layer_norm_kernel<T, V, 6, KIND><<<blocks, threads, 0, s>>>(p);
    } else if (n <= 3) {
        layer_norm_kernel<T, V, 3, KIND><<<blocks, threads, 0, s>>>(p);
    } else if (n <= 6) {
        layer_norm_kernel<T, V, 6, KIND><<<blocks, threads, 0, s>>>(p);
    } else if (n <= 12) {
        layer_norm_kernel<T, V, 12, KIND><<<blocks, threads, 0, s>>>(p);
    } else {
        layer_norm_kernel<T, V, 24, KIND><<<blocks, threads, 0, s>>>(p);
    }
    return svj_launch(op);
}

// 16-byte pieces where the row (C * element bytes) and every base are multiples of 16 bytes, else elements.
template <typename T, int KIND>
static int launch_layer_norm(const LayerNormParams<T>& p, cudaStream_t s, const char* op) {
    const uintptr_t align = (uintptr_t)p.x | (uintptr_t)p.b | (uintptr_t)p.gamma | (uintptr_t)p.beta
                            | (uintptr_t)p.tile | (uintptr_t)p.out;
    if (((size_t)p.channels * sizeof(T)) % 16 == 0 && align % 16 == 0) return launch_pieces<T, uint4, KIND>(p, s, op);
    return launch_pieces<T, T, KIND>(p, s, op);
}

template <typename T>
static int launch_gather_layer_norm(const void* x, const void* gamma, const void* beta, void* tile, void* out,
                                    const int* order, const GridParams& g, int batch, int channels, int k, float eps,
                                    int zero_padded, cudaStream_t s) {
    LayerNormParams<T> p = {};
    p.x = (const T*)x;
    p.gamma = (const T*)gamma;
    p.beta = (const T*)beta;
    p.tile = (T*)tile;
    p.out = (T*)out;
    p.order = order;
    p.g = g;
    p.rows = (long long)batch * k * g.N;
    p.k = k;
    p.channels = channels;
    p.eps = eps;
    p.zero_padded = zero_padded;
    return launch_layer_norm<T, LN_GATHER>(p, s, "svj_gather_layer_norm");
}

template <typename T>
static int launch_plain_layer_norm(const void* x, const void* b, const void* gamma, const void* beta, void* out,
                                   long long rows, int channels, float eps, cudaStream_t s, const char* op) {
    LayerNormParams<T> p = {};
    p.x = (const T*)x;
    p.b = (const T*)b;
    p.gamma = (const T*)gamma;
    p.beta = (const T*)beta;
    p.out = (T*)out;
    p.rows = rows;
    p.channels = channels;
    p.eps = eps;
    return b ? launch_layer_norm<T, LN_ADD>(p, s, op) : launch_layer_norm<T, LN_PLAIN>(p, s, op);
}

extern "C" {

int svj_layer_norm(const void* x, const void* gamma, const void* beta, void* out, int dtype, long long rows,
                   int channels, float eps, void* stream) {
    const char* op = "svj_layer_norm";
    SVJ_REQUIRE(x && gamma && beta && out, "%s: null tensor", op);
    SVJ_REQUIRE(rows >= 0 && rows < (1LL << 33) && channels > 0, "%s: %lld rows of %d channels", op, rows, channels);
    if (rows == 0) return 0;
    SVJ_DISPATCH_FLOAT(dtype, op, launch_plain_layer_norm, x, nullptr, gamma, beta, out, rows, channels, eps,
                       (cudaStream_t)stream, op)
}

int svj_gather_layer_norm(const void* x, const void* gamma, const void* beta, void* tile, void* out, const int* order,
                          int dtype, int batch, int height, int width, int channels, int window, int shift, int k,
                          float eps, int zero_padded, void* stream) {
    const char* op = "svj_gather_layer_norm";
    SVJ_REQUIRE(x && gamma && beta && tile && out, "%s: null tensor", op);
    SVJ_REQUIRE(channels > 0, "%s: %d channels", op, channels);
    SVJ_REQUIRE(tile != out && tile != x && out != x, "%s: x, tile and out must be distinct", op);
    GridParams g;
    int rc = check_windows(op, batch, height, width, window, shift, k, order, &g);
    if (rc) return rc;
    SVJ_REQUIRE((long long)batch * k * g.N < (1LL << 33), "%s: %d x %d windows of %d tokens", op, batch, k, g.N);
    if (k == 0) return 0;
    SVJ_DISPATCH_FLOAT(dtype, op, launch_gather_layer_norm, x, gamma, beta, tile, out, order, g, batch, channels, k, eps,
                       zero_padded, (cudaStream_t)stream)
}

int svj_add_layer_norm(void* a, const void* b, const void* gamma, const void* beta, void* out, int dtype,
                       long long rows, int channels, float eps, void* stream) {
    const char* op = "svj_add_layer_norm";
    SVJ_REQUIRE(a && b && gamma && beta && out, "%s: null tensor", op);
    SVJ_REQUIRE(out != a, "%s: out must not be a", op);
    SVJ_REQUIRE(rows >= 0 && rows < (1LL << 33) && channels > 0, "%s: %lld rows of %d channels", op, rows, channels);
    if (rows == 0) return 0;
    SVJ_DISPATCH_FLOAT(dtype, op, launch_plain_layer_norm, a, b, gamma, beta, out, rows, channels, eps,
                       (cudaStream_t)stream, op)
}

}  // extern "C"
