// Window gather / scatter / zero-padding for a kept-window order list. Pure data movement: the results
// are bitwise identical to the CPU backend. Padding and the cyclic shift are folded into the indexing
// (source_token), so no padded or rolled copy of the map is ever made.
#include "common.cuh"

// One thread per (row of the tile, 4-channel group): row = (b * k + j) * N + t.
__global__ void gather_kernel(const float* __restrict__ x, float* __restrict__ tile, const int* __restrict__ order,
                              GridParams g, int channels, int k, long long rows) {
    int groups = (channels + 3) >> 2;
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long total = rows * groups;
    for (; idx < total; idx += (long long)gridDim.x * blockDim.x) {
        long long row = idx / groups;
        int c = (int)(idx - row * groups) << 2;
        int t = (int)(row % g.N);
        long long bj = row / g.N;
        int b = (int)(bj / k), j = (int)(bj - (long long)b * k);
        int src = source_token(g, window_of(order, g.nW, b, j), t);
        float* d = tile + row * channels + c;
        int n = min(4, channels - c);
        if (src < 0) {
            for (int e = 0; e < n; e++) d[e] = 0.f;
        } else {
            const float* s = x + ((long long)b * g.H * g.W + src) * channels + c;
            for (int e = 0; e < n; e++) d[e] = s[e];
        }
    }
}

__global__ void scatter_kernel(const float* __restrict__ tile, float* __restrict__ x, const int* __restrict__ order,
                               GridParams g, int channels, int k, long long rows) {
    int groups = (channels + 3) >> 2;
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long total = rows * groups;
    for (; idx < total; idx += (long long)gridDim.x * blockDim.x) {
        long long row = idx / groups;
        int c = (int)(idx - row * groups) << 2;
        int t = (int)(row % g.N);
        long long bj = row / g.N;
        int b = (int)(bj / k), j = (int)(bj - (long long)b * k);
        int dst = source_token(g, window_of(order, g.nW, b, j), t);
        if (dst < 0) continue;
        const float* s = tile + row * channels + c;
        float* d = x + ((long long)b * g.H * g.W + dst) * channels + c;
        int n = min(4, channels - c);
        for (int e = 0; e < n; e++) d[e] = s[e];
    }
}

__global__ void zero_padding_kernel(float* __restrict__ tile, const int* __restrict__ order, GridParams g,
                                    int channels, int k, long long rows) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long total = rows * channels;
    for (; idx < total; idx += (long long)gridDim.x * blockDim.x) {
        long long row = idx / channels;
        int t = (int)(row % g.N);
        long long bj = row / g.N;
        int b = (int)(bj / k), j = (int)(bj - (long long)b * k);
        if (source_token(g, window_of(order, g.nW, b, j), t) < 0) tile[idx] = 0.f;
    }
}

static int check_args(const void* a, const void* b, int batch, int height, int width, int channels, int window,
                      int shift, int k, const int* order) {
    if (!a || !b || batch <= 0 || channels <= 0 || !grid_ok(height, width, window, shift) || k < 0) return SVJ_EINVAL;
    GridParams g = make_grid(height, width, window, shift);
    if (k > g.nW || (!order && k != g.nW)) return SVJ_EINVAL;
    return 0;
}

extern "C" {

int svj_gather_windows(const float* x, float* tile, const int* order, int batch, int height, int width,
                       int channels, int window, int shift, int k, void* stream) {
    int rc = check_args(x, tile, batch, height, width, channels, window, shift, k, order);
    if (rc || k == 0) return rc;
    GridParams g = make_grid(height, width, window, shift);
    long long rows = (long long)batch * k * g.N;
    gather_kernel<<<blocks_for(rows * ((channels + 3) / 4), 256), 256, 0, (cudaStream_t)stream>>>(
        x, tile, order, g, channels, k, rows);
    return last_launch_error();
}

int svj_scatter_windows(const float* tile, float* x, const int* order, int batch, int height, int width,
                        int channels, int window, int shift, int k, void* stream) {
    int rc = check_args(tile, x, batch, height, width, channels, window, shift, k, order);
    if (rc || k == 0) return rc;
    GridParams g = make_grid(height, width, window, shift);
    long long rows = (long long)batch * k * g.N;
    scatter_kernel<<<blocks_for(rows * ((channels + 3) / 4), 256), 256, 0, (cudaStream_t)stream>>>(
        tile, x, order, g, channels, k, rows);
    return last_launch_error();
}

int svj_zero_padding(float* tile, const int* order, int batch, int height, int width, int channels, int window,
                     int shift, int k, void* stream) {
    int rc = check_args(tile, tile, batch, height, width, channels, window, shift, k, order);
    if (rc || k == 0) return rc;
    GridParams g = make_grid(height, width, window, shift);
    if (g.Hp == g.H && g.Wp == g.W) return 0;
    long long rows = (long long)batch * k * g.N;
    zero_padding_kernel<<<blocks_for(rows * channels, 256), 256, 0, (cudaStream_t)stream>>>(tile, order, g, channels,
                                                                                           k, rows);
    return last_launch_error();
}

}  // extern "C"
