// Patch embedding im2col (patch x patch, stride patch, zero padding on the bottom/right) and the patch
// merging gather in both channel orders.
#include "common.cuh"

// cols [B * Ho * Wo, Cin * p * p], column index (ci * p + py) * p + px: the conv weight's [C, Cin, p, p] order.
__global__ void im2col_kernel(const float* __restrict__ img, float* cols, int batch, int cin, int h, int w, int p,
                              int ho, int wo) {
    long long kk = (long long)cin * p * p;
    long long n = (long long)batch * ho * wo * kk;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        long long row = i / kk;
        int col = (int)(i - row * kk);
        int b = (int)(row / ((long long)ho * wo));
        int rem = (int)(row - (long long)b * ho * wo);
        int oy = rem / wo, ox = rem - oy * wo;
        int ci = col / (p * p), r2 = col - ci * p * p;
        int py = r2 / p, px = r2 - py * p;
        int y = oy * p + py, x = ox * p + px;
        cols[i] = (y < h && x < w) ? img[(((long long)b * cin + ci) * h + y) * w + x] : 0.f;
    }
}

// out [B, h2 * w2, 4C]; CONCAT: entry t * C + c with t over (0,0), (1,0), (0,1), (1,1);
// UNFOLD: entry c * 4 + dy * 2 + dx.
__global__ void patch_merge_kernel(const float* __restrict__ x, float* out, int batch, int h, int w, int c, int order) {
    int h2 = (h + 1) / 2, w2 = (w + 1) / 2;
    long long n = (long long)batch * h2 * w2 * 4 * c;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        long long tok = i / (4 * c);
        int e = (int)(i - tok * 4 * c);
        int b = (int)(tok / ((long long)h2 * w2));
        int rem = (int)(tok - (long long)b * h2 * w2);
        int oi = rem / w2, oj = rem - oi * w2;
        int ch, dy, dx;
        if (order == 0) {
            int t = e / c;
            ch = e - t * c;
            dy = t & 1;
            dx = t >> 1;
        } else {
            ch = e >> 2;
            int q = e & 3;
            dy = q >> 1;
            dx = q & 1;
        }
        int y = 2 * oi + dy, xx = 2 * oj + dx;
        out[i] = (y < h && xx < w) ? x[(((long long)b * h + y) * w + xx) * c + ch] : 0.f;
    }
}

extern "C" {

int svj_im2col_patches(const float* img, float* cols, int batch, int in_channels, int height, int width, int patch,
                       void* stream) {
    if (!img || !cols || batch <= 0 || in_channels <= 0 || height <= 0 || width <= 0 || patch <= 0) return SVJ_EINVAL;
    int ho = (height + patch - 1) / patch, wo = (width + patch - 1) / patch;
    long long n = (long long)batch * ho * wo * in_channels * patch * patch;
    im2col_kernel<<<blocks_for(n, 256), 256, 0, (cudaStream_t)stream>>>(img, cols, batch, in_channels, height, width,
                                                                      patch, ho, wo);
    return last_launch_error();
}

int svj_patch_merge(const float* x, float* out, int batch, int height, int width, int channels, int order,
                    void* stream) {
    if (!x || !out || batch <= 0 || height <= 0 || width <= 0 || channels <= 0 || (order != 0 && order != 1))
        return SVJ_EINVAL;
    long long n = (long long)batch * ((height + 1) / 2) * ((width + 1) / 2) * 4 * channels;
    patch_merge_kernel<<<blocks_for(n, 256), 256, 0, (cudaStream_t)stream>>>(x, out, batch, height, width, channels,
                                                                           order);
    return last_launch_error();
}

}  // extern "C"
