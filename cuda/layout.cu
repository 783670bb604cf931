// Layout passes of the Swin structure: patch-embedding im2col, patch merging gather (both channel
// orders), mean pooling over tokens, the channels-first transpose for outputs. Pure data movement is
// done on element bits (bitwise exact for every dtype), in 4- to 16-byte pieces where pointers and strides
// allow (each launcher checks at run time and falls back to single elements).
//
// Index arithmetic: the movers decompose one flat index per piece (not per element, as before: 4-5 divisions
// per 2-byte element made them issue-bound). I is the index type: unsigned where every element index of the
// launch is below 2^31 (32-bit divisions, and i + stride cannot wrap), else unsigned long long.
#include "common.cuh"
#include <string.h>

// The launchers' choice of I for a launch whose element indices are below `elements`.
static inline bool index32(long long elements) { return elements < (1LL << 31); }

// ------------------------------------------------------------------ patch embedding im2col

struct Im2colParams {
    const void* img;     // [B, Cin, H, W]
    void* cols;          // [B * Ho * Wo, Cin * p * p], column (ci * p + py) * p + px: the conv weight's order
    int batch;           // B
    int cin;             // input channels
    int h, w;            // image height and width
    int p;               // patch side (kernel = stride)
    int ho, wo;          // output grid ceil(h / p) x ceil(w / p)
};

// One thread per segment (token, ci, py): the p pixels of one patch row, contiguous in both the image and cols,
// moved as p / P pieces V of P elements (Swin's p = 4: one 8-byte piece in F16, one 16-byte piece in F32). The
// launcher picks V so that P divides p and w: a piece is then all inside the image or all padding.
template <typename E, typename V, typename I>
__global__ void im2col_kernel(Im2colParams a) {
    constexpr int P = sizeof(V) / sizeof(E);
    const int pieces = a.p / P;
    const I segments = (I)a.batch * a.ho * a.wo * a.cin * a.p;
    for (I s = (I)blockIdx.x * blockDim.x + threadIdx.x; s < segments; s += (I)gridDim.x * blockDim.x) {
        const I r = s / a.p;   // token * cin + ci
        const int py = (int)(s - r * a.p);
        const I tok = r / a.cin;
        const int ci = (int)(r - tok * a.cin);
        const I row = tok / a.wo;   // b * ho + oy
        const int ox = (int)(tok - row * a.wo);
        const int b = (int)(row / a.ho), oy = (int)(row - (I)b * a.ho);
        const int y = oy * a.p + py;
        const long long x0 = (long long)ox * a.p;
        V* dst = (V*)((E*)a.cols + s * a.p);   // segment s: elements [s * p, (s + 1) * p) of cols
        if (y < a.h) {
            const V* src = (const V*)((const E*)a.img + (((long long)b * a.cin + ci) * a.h + y) * a.w + x0);
            for (int k = 0; k < pieces; k++) {
                V v{};
                if (x0 + (long long)k * P < a.w) v = src[k];
                dst[k] = v;
            }
        } else {
            for (int k = 0; k < pieces; k++) dst[k] = V{};
        }
    }
}

template <typename E, int VB>
static void launch_im2col(const Im2colParams& a, long long elements, cudaStream_t s) {
    typedef typename Bits<VB>::type V;
    const long long segments = (long long)a.batch * a.ho * a.wo * a.cin * a.p;
    const unsigned blocks = blocks_for(segments, 256);
    if (index32(elements)) im2col_kernel<E, V, unsigned><<<blocks, 256, 0, s>>>(a);
    else im2col_kernel<E, V, unsigned long long><<<blocks, 256, 0, s>>>(a);
}

// The widest piece (16, 8 or 4 bytes, else one element) that divides a patch row and an image row (so that a
// piece is all image or all padding) and the alignment of both base pointers.
template <typename E>
static void im2col_dispatch(const Im2colParams& a, long long elements, cudaStream_t s) {
    const uintptr_t align = (uintptr_t)a.img | (uintptr_t)a.cols;
    const size_t seg = (size_t)a.p * sizeof(E), row = (size_t)a.w * sizeof(E);
    if (seg % 16 == 0 && row % 16 == 0 && align % 16 == 0) launch_im2col<E, 16>(a, elements, s);
    else if (seg % 8 == 0 && row % 8 == 0 && align % 8 == 0) launch_im2col<E, 8>(a, elements, s);
    else if (sizeof(E) < 4 && seg % 4 == 0 && row % 4 == 0 && align % 4 == 0) launch_im2col<E, 4>(a, elements, s);
    else launch_im2col<E, sizeof(E)>(a, elements, s);
}

// ------------------------------------------------------------------ patch merging

struct PatchMergeParams {
    const void* x;       // [B, H, W, C]
    void* out;           // [B, ceil(H/2) * ceil(W/2), 4C]
    int batch;           // B
    int h, w;            // token grid H x W of the input
    int c;               // C
    int unfold;          // 0: CONCAT (entry t*C + c, t over (0,0), (1,0), (0,1), (1,1)); 1: UNFOLD (c*4 + dy*2 + dx)
};

// CONCAT: an output token is its four source rows (quadrants) one after the other, so each thread copies one
// piece V of a quadrant row; the flat index is ((token * 4 + t) * units + u) with units = C elements in V pieces.
template <typename E, typename V, typename I>
__global__ void merge_concat_kernel(PatchMergeParams a) {
    const int h2 = (a.h + 1) / 2, w2 = (a.w + 1) / 2;
    const int units = (int)(a.c * sizeof(E) / sizeof(V));   // the launcher picks V so that it divides C
    const I hw2 = (I)h2 * w2;
    const I n = (I)a.batch * hw2 * 4 * units;
    const V* x = (const V*)a.x;
    V* out = (V*)a.out;
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (I)gridDim.x * blockDim.x) {
        const I q = i / units;   // token * 4 + t
        const int u = (int)(i - q * units), t = (int)(q & 3);
        const I tok = q >> 2;
        const int b = (int)(tok / hw2);
        const I rem = tok - (I)b * hw2;
        const int oi = (int)(rem / w2), oj = (int)(rem - (I)oi * w2);
        const int y = 2 * oi + (t & 1), xx = 2 * oj + (t >> 1);
        V v{};
        if (y < a.h && xx < a.w) v = x[(((long long)b * a.h + y) * a.w + xx) * units + u];
        out[i] = v;
    }
}

// UNFOLD: output entry c*4 + q of a token comes from channel c of quadrant q = dy*2 + dx, so each thread reads
// a 4-byte piece (P channels) from each of the four quadrant rows and interleaves them into 4P output elements
// (16 bytes), the flat index being token * units + u over units = C / P pieces. VEC false: P = 1, element loads
// and stores (any C and alignment).
template <typename E, bool VEC, typename I>
__global__ void merge_unfold_kernel(PatchMergeParams a) {
    typedef typename Bits<VEC ? 4 : sizeof(E)>::type V;    // one quadrant's piece
    typedef typename Bits<VEC ? 16 : sizeof(E)>::type W;   // what one store writes
    constexpr int P = sizeof(V) / sizeof(E), STORES = 4 * sizeof(V) / sizeof(W);
    const int h2 = (a.h + 1) / 2, w2 = (a.w + 1) / 2;
    const int units = a.c / P;
    const I hw2 = (I)h2 * w2;
    const I n = (I)a.batch * hw2 * units;
    const V* x = (const V*)a.x;
    W* out = (W*)a.out;
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (I)gridDim.x * blockDim.x) {
        const I tok = i / units;
        const int u = (int)(i - tok * units);
        const int b = (int)(tok / hw2);
        const I rem = tok - (I)b * hw2;
        const int oi = (int)(rem / w2), oj = (int)(rem - (I)oi * w2);
        E e[4][P], o[4 * P];
#pragma unroll
        for (int q = 0; q < 4; q++) {
            const int y = 2 * oi + (q >> 1), xx = 2 * oj + (q & 1);
            V v{};
            if (y < a.h && xx < a.w) v = x[(((long long)b * a.h + y) * a.w + xx) * units + u];
            memcpy(e[q], &v, sizeof(V));   // not a cast: see Bits
        }
#pragma unroll
        for (int j = 0; j < P; j++)
#pragma unroll
            for (int q = 0; q < 4; q++) o[j * 4 + q] = e[q][j];
        W w[STORES];
        memcpy(w, o, sizeof(o));
#pragma unroll
        for (int k = 0; k < STORES; k++) out[i * STORES + k] = w[k];
    }
}

template <typename E, int VB>
static void launch_merge_concat(const PatchMergeParams& a, long long elements, cudaStream_t s) {
    typedef typename Bits<VB>::type V;
    const unsigned blocks = blocks_for(elements * (long long)sizeof(E) / VB, 256);
    if (index32(elements)) merge_concat_kernel<E, V, unsigned><<<blocks, 256, 0, s>>>(a);
    else merge_concat_kernel<E, V, unsigned long long><<<blocks, 256, 0, s>>>(a);
}

template <typename E, bool VEC>
static void launch_merge_unfold(const PatchMergeParams& a, long long elements, cudaStream_t s) {
    const int p = VEC ? 4 / (int)sizeof(E) : 1;
    const unsigned blocks = blocks_for(elements / (4 * p), 256);
    if (index32(elements)) merge_unfold_kernel<E, VEC, unsigned><<<blocks, 256, 0, s>>>(a);
    else merge_unfold_kernel<E, VEC, unsigned long long><<<blocks, 256, 0, s>>>(a);
}

// CONCAT: the widest piece (16, 8 or 4 bytes, else one element) that divides a quadrant row (C elements) and
// the alignment of both base pointers. UNFOLD: 4-byte pieces where C * eb is a multiple of 4, x 4-byte and out
// 16-byte aligned, else single elements.
template <typename E>
static void merge_dispatch(const PatchMergeParams& a, long long elements, cudaStream_t s) {
    const uintptr_t align = (uintptr_t)a.x | (uintptr_t)a.out;
    if (a.unfold) {
        if ((a.c * sizeof(E)) % 4 == 0 && (uintptr_t)a.x % 4 == 0 && (uintptr_t)a.out % 16 == 0)
            launch_merge_unfold<E, true>(a, elements, s);
        else
            launch_merge_unfold<E, false>(a, elements, s);
        return;
    }
    const size_t row = a.c * sizeof(E);
    if (row % 16 == 0 && align % 16 == 0) launch_merge_concat<E, 16>(a, elements, s);
    else if (row % 8 == 0 && align % 8 == 0) launch_merge_concat<E, 8>(a, elements, s);
    else if (sizeof(E) < 4 && row % 4 == 0 && align % 4 == 0) launch_merge_concat<E, 4>(a, elements, s);
    else launch_merge_concat<E, sizeof(E)>(a, elements, s);
}

// ------------------------------------------------------------------ mean pooling

struct MeanPoolParams {
    const void* x;       // [B, L, C]
    void* out;           // [B, C]
    int batch;           // B
    int tokens;          // L, the tokens averaged
    int channels;        // C
};

// One thread per (image, channel); tokens summed in order in double, as the CPU reference (bitwise equal
// for F32).
template <typename T>
__global__ void mean_pool_kernel(MeanPoolParams a) {
    const T* x = (const T*)a.x;
    const long long n = (long long)a.batch * a.channels;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        int b = (int)(i / a.channels), c = (int)(i - (long long)b * a.channels);
        const T* p = x + (long long)b * a.tokens * a.channels + c;
        double s = 0.0;
        for (int t = 0; t < a.tokens; t++) s += (double)to_float(p[(long long)t * a.channels]);
        ((T*)a.out)[i] = from_float<T>((float)(s / a.tokens));
    }
}

// ------------------------------------------------------------------ channels-first transpose

struct TransposeParams {
    const void* x;       // [B, L, C]
    void* out;           // [B, C, L]
    int tokens;          // L = H * W
    int channels;        // C
};

// 32 x 32 tiles through shared memory: reads coalesced along C, writes along L. Block (32, 8), grid
// (ceil(L/32), ceil(C/32), B).
template <typename E>
__global__ void to_channels_first_kernel(TransposeParams a) {
    __shared__ E tile[32][33];
    const E* x = (const E*)a.x;
    E* out = (E*)a.out;
    const long long b = blockIdx.z;
    const int t0 = blockIdx.x * 32, c0 = blockIdx.y * 32;
    for (int r = threadIdx.y; r < 32; r += 8) {
        int t = t0 + r, c = c0 + threadIdx.x;
        if (t < a.tokens && c < a.channels) tile[r][threadIdx.x] = x[(b * a.tokens + t) * a.channels + c];
    }
    __syncthreads();
    for (int r = threadIdx.y; r < 32; r += 8) {
        int c = c0 + r, t = t0 + threadIdx.x;
        if (c < a.channels && t < a.tokens) out[(b * a.channels + c) * a.tokens + t] = tile[threadIdx.x][r];
    }
}

// 2-byte elements in pairs: 64 x 64 tiles; reads take 4-byte channel pairs of a token, writes 4-byte token
// pairs of a channel (half the accesses of the kernel above, each twice as wide). The tile holds 32-bit words:
// word (t, p) = channels 2p (low half: GPUs are little-endian) and 2p + 1 of token t, at column p ^ (t / 2 % 32),
// a swizzle that keeps both the row-wise stores and the loads of tokens 2k, 2k + 1 (k over a warp) of one
// column free of bank conflicts. Needs C and L even (no pair straddles a row end) and 4-byte aligned bases.
// Block (32, 8), grid (ceil(L/64), ceil(C/64), B).
__global__ void to_channels_first_pairs_kernel(TransposeParams a) {
    __shared__ unsigned tile[64][32];
    const unsigned* x = (const unsigned*)a.x;
    unsigned* out = (unsigned*)a.out;
    const long long b = blockIdx.z;
    const int t0 = blockIdx.x * 64, p0 = blockIdx.y * 32;   // first token, first channel pair
    const int cp = a.channels / 2, tp = a.tokens / 2;       // pairs in a row of x, of out
    const int tx = threadIdx.x;
    for (int r = threadIdx.y; r < 64; r += 8) {
        const int t = t0 + r, p = p0 + tx;
        if (t < a.tokens && p < cp) tile[r][tx ^ ((r >> 1) & 31)] = x[(b * a.tokens + t) * cp + p];
    }
    __syncthreads();
    for (int r = threadIdx.y; r < 64; r += 8) {   // r: channel 2 * p0 + r, of pair column r / 2
        const int c = 2 * p0 + r, q = t0 / 2 + tx;  // q: output pair, tokens 2q and 2q + 1 (tile rows 2tx, 2tx + 1)
        if (c < a.channels && q < tp) {
            const int col = (r >> 1) ^ tx, shift = 16 * (r & 1);
            const unsigned lo = (tile[2 * tx][col] >> shift) & 0xFFFFu, hi = (tile[2 * tx + 1][col] >> shift) & 0xFFFFu;
            out[(b * a.channels + c) * tp + q] = lo | hi << 16;
        }
    }
}

template <typename T>
static int launch_mean_pool(const void* x, void* out, int batch, int tokens, int channels, cudaStream_t s) {
    MeanPoolParams a = {x, out, batch, tokens, channels};
    mean_pool_kernel<T><<<blocks_for((long long)batch * channels, 128), 128, 0, s>>>(a);
    return svj_launch("svj_mean_pool");
}

extern "C" {

int svj_im2col_patches(const void* img, void* cols, int dtype, int batch, int in_channels, int height, int width,
                       int patch, void* stream) {
    const char* op = "svj_im2col_patches";
    SVJ_REQUIRE(img && cols, "%s: null tensor", op);
    SVJ_REQUIRE(batch > 0 && in_channels > 0 && height > 0 && width > 0 && patch > 0,
                "%s: image [%d, %d, %d, %d], patch %d", op, batch, in_channels, height, width, patch);
    int eb = svj_dtype_bytes(dtype);
    SVJ_REQUIRE(svj_is_float(dtype), "%s: dtype %d", op, dtype);
    Im2colParams a;
    a.img = img;
    a.cols = cols;
    a.batch = batch;
    a.cin = in_channels;
    a.h = height;
    a.w = width;
    a.p = patch;
    a.ho = (height + patch - 1) / patch;
    a.wo = (width + patch - 1) / patch;
    long long n = (long long)batch * a.ho * a.wo * in_channels * patch * patch;
    cudaStream_t s = (cudaStream_t)stream;
    if (eb == 4) im2col_dispatch<Bits<4>::type>(a, n, s);
    else im2col_dispatch<Bits<2>::type>(a, n, s);
    return svj_launch(op);
}

int svj_patch_merge(const void* x, void* out, int dtype, int batch, int height, int width, int channels,
                    int merge_order, void* stream) {
    const char* op = "svj_patch_merge";
    SVJ_REQUIRE(x && out, "%s: null tensor", op);
    SVJ_REQUIRE(batch > 0 && height > 0 && width > 0 && channels > 0, "%s: input [%d, %d, %d, %d]", op, batch, height,
                width, channels);
    SVJ_REQUIRE(merge_order == 0 || merge_order == 1, "%s: merge order %d (0 = CONCAT, 1 = UNFOLD)", op, merge_order);
    int eb = svj_dtype_bytes(dtype);
    SVJ_REQUIRE(eb > 0, "%s: unknown dtype %d", op, dtype);
    PatchMergeParams a = {x, out, batch, height, width, channels, merge_order};
    long long n = (long long)batch * ((height + 1) / 2) * ((width + 1) / 2) * 4 * channels;
    cudaStream_t s = (cudaStream_t)stream;
    if (eb == 4) merge_dispatch<Bits<4>::type>(a, n, s);
    else merge_dispatch<Bits<2>::type>(a, n, s);
    return svj_launch(op);
}

int svj_mean_pool(const void* x, void* out, int dtype, int batch, int tokens, int channels, void* stream) {
    const char* op = "svj_mean_pool";
    SVJ_REQUIRE(x && out, "%s: null tensor", op);
    SVJ_REQUIRE(batch > 0 && tokens > 0 && channels > 0, "%s: input [%d, %d, %d]", op, batch, tokens, channels);
    SVJ_DISPATCH_FLOAT(dtype, op, launch_mean_pool, x, out, batch, tokens, channels, (cudaStream_t)stream)
}

int svj_to_channels_first(const void* x, void* out, int dtype, int batch, int tokens, int channels, void* stream) {
    const char* op = "svj_to_channels_first";
    SVJ_REQUIRE(x && out && x != out, "%s: null or aliased tensors", op);
    SVJ_REQUIRE(batch > 0 && batch <= 65535 && tokens > 0 && channels > 0 && channels <= 65535 * 32,
                "%s: input [%d, %d, %d]", op, batch, tokens, channels);
    int eb = svj_dtype_bytes(dtype);
    SVJ_REQUIRE(eb > 0, "%s: unknown dtype %d", op, dtype);
    TransposeParams a = {x, out, tokens, channels};
    dim3 block(32, 8);
    cudaStream_t s = (cudaStream_t)stream;
    if (eb == 2 && channels % 2 == 0 && tokens % 2 == 0 && ((uintptr_t)x | (uintptr_t)out) % 4 == 0) {
        dim3 pairs((unsigned)((tokens + 63) / 64), (unsigned)((channels + 63) / 64), (unsigned)batch);
        to_channels_first_pairs_kernel<<<pairs, block, 0, s>>>(a);
        return svj_launch(op);
    }
    dim3 grid((unsigned)((tokens + 31) / 32), (unsigned)((channels + 31) / 32), (unsigned)batch);
    if (eb == 4) to_channels_first_kernel<Bits<4>::type><<<grid, block, 0, s>>>(a);
    else to_channels_first_kernel<Bits<2>::type><<<grid, block, 0, s>>>(a);
    return svj_launch(op);
}

}  // extern "C"
