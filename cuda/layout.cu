// Layout passes of the Swin structure: patch-embedding im2col, patch merging gather (both channel
// orders), mean pooling over tokens, the channels-first transpose for outputs. Pure data movement is
// done on element bits (bitwise exact for every dtype).
#include "common.cuh"

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

template <typename E>
__global__ void im2col_kernel(Im2colParams a) {
    const E* img = (const E*)a.img;
    E* cols = (E*)a.cols;
    const int pp = a.p * a.p;
    const long long kk = (long long)a.cin * pp;
    const long long n = (long long)a.batch * a.ho * a.wo * kk;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        long long row = i / kk;
        int col = (int)(i - row * kk);
        int b = (int)(row / ((long long)a.ho * a.wo));
        int rem = (int)(row - (long long)b * a.ho * a.wo);
        int oy = rem / a.wo, ox = rem - oy * a.wo;
        int ci = col / pp, r2 = col - ci * pp;
        int py = r2 / a.p, px = r2 - py * a.p;
        int y = oy * a.p + py, x = ox * a.p + px;
        E v{};
        if (y < a.h && x < a.w) v = img[(((long long)b * a.cin + ci) * a.h + y) * a.w + x];
        cols[i] = v;
    }
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

template <typename E>
__global__ void patch_merge_kernel(PatchMergeParams a) {
    const E* x = (const E*)a.x;
    E* out = (E*)a.out;
    const int h2 = (a.h + 1) / 2, w2 = (a.w + 1) / 2;
    const long long c4 = 4LL * a.c;
    const long long n = (long long)a.batch * h2 * w2 * c4;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        long long tok = i / c4;
        int e = (int)(i - tok * c4);
        int b = (int)(tok / ((long long)h2 * w2));
        int rem = (int)(tok - (long long)b * h2 * w2);
        int oi = rem / w2, oj = rem - oi * w2;
        int ch, dy, dx;
        if (!a.unfold) {
            int t = e / a.c;
            ch = e - t * a.c;
            dy = t & 1;
            dx = t >> 1;
        } else {
            ch = e >> 2;
            dy = (e >> 1) & 1;
            dx = e & 1;
        }
        int y = 2 * oi + dy, xx = 2 * oj + dx;
        E v{};
        if (y < a.h && xx < a.w) v = x[(((long long)b * a.h + y) * a.w + xx) * a.c + ch];
        out[i] = v;
    }
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
    if (eb == 4) im2col_kernel<Bits<4>::type><<<blocks_for(n, 256), 256, 0, s>>>(a);
    else im2col_kernel<Bits<2>::type><<<blocks_for(n, 256), 256, 0, s>>>(a);
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
    if (eb == 4) patch_merge_kernel<Bits<4>::type><<<blocks_for(n, 256), 256, 0, s>>>(a);
    else patch_merge_kernel<Bits<2>::type><<<blocks_for(n, 256), 256, 0, s>>>(a);
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
    dim3 grid((unsigned)((tokens + 31) / 32), (unsigned)((channels + 31) / 32), (unsigned)batch);
    dim3 block(32, 8);
    cudaStream_t s = (cudaStream_t)stream;
    if (eb == 4) to_channels_first_kernel<Bits<4>::type><<<grid, block, 0, s>>>(a);
    else to_channels_first_kernel<Bits<2>::type><<<grid, block, 0, s>>>(a);
    return svj_launch(op);
}

}  // extern "C"
