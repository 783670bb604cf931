// Window gather / scatter / zero-padding for a kept-window order list. Pure data movement: the results
// are bitwise identical to the CPU backend for every dtype. Padding and the cyclic shift are folded into
// the indexing (source_token), so no padded or rolled copy of the map is ever made.
//
// Each thread moves one copy unit U of a token row: the widest of 16, 8, 4 or 2 bytes that divides the
// row (C * element bytes) and the buffers' alignment, so C = 96 float rows move as 6 x 16 bytes.
#include "common.cuh"

struct WindowMoveParams {
    const void* src;    // gather: token map x [B, H*W, C]; scatter: tile [B, k, N, C]; zero padding: unused
    void* dst;          // gather: tile; scatter: token map x; zero padding: tile
    const int* order;   // [B, nW] kept window numbers per image, or NULL (natural order)
    GridParams g;       // the block's window grid
    int k;              // kept windows per image (tile's second dimension)
    int units;          // copy units per token row: C * element bytes / sizeof(U)
    long long rows;     // tile rows B * k * N
    int from_tile;      // GATHER only: 0 reads the token map; 1 reads src as a tile [B, nW, N, C] of every window of
                        // the grid with shift from_shift (a rewindow: the previous dense block's tile, not scattered)
    int from_shift;
};

enum MoveKind { GATHER, SCATTER, ZERO_PADDING };

// Tile row `row` = (b * k + j) * N + t: image b, token t of kept window j; returns the map token or -1.
__device__ __forceinline__ int tile_source(const WindowMoveParams& p, long long row, int* b) {
    long long bj = row / p.g.N;
    int t = (int)(row - bj * p.g.N);
    int bb = (int)(bj / p.k);
    int j = (int)(bj - (long long)bb * p.k);
    *b = bb;
    return source_token(p.g, window_of(p.order, p.g.nW, bb, j), t);
}

// One kernel for the three moves: a thread per copy unit of a tile row, grid-stride.
template <typename U, MoveKind KIND>
__global__ void move_windows_kernel(WindowMoveParams p) {
    const long long total = p.rows * p.units;
    const long long hw = (long long)p.g.H * p.g.W;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        long long row = i / p.units;
        int u = (int)(i - row * p.units);
        int b;
        int s = tile_source(p, row, &b);
        if (KIND == GATHER) {
            U v{};
            if (s >= 0) {
                long long r;
                if (p.from_tile) {
                    GridParams gf = p.g;
                    gf.shift = p.from_shift;
                    r = (long long)b * p.g.nW * p.g.N + tile_row_of_token(gf, s);
                } else {
                    r = (long long)b * hw + s;
                }
                v = ((const U*)p.src)[r * p.units + u];
            }
            ((U*)p.dst)[i] = v;
        } else if (KIND == SCATTER) {
            if (s >= 0) ((U*)p.dst)[((long long)b * hw + s) * p.units + u] = ((const U*)p.src)[i];
        } else {
            if (s < 0) ((U*)p.dst)[i] = U{};
        }
    }
}

template <typename U>
static int launch_move(MoveKind kind, WindowMoveParams p, int row_bytes, cudaStream_t s, const char* op) {
    p.units = row_bytes / (int)sizeof(U);
    unsigned blocks = blocks_for(p.rows * p.units, 256);
    switch (kind) {
        case GATHER: move_windows_kernel<U, GATHER><<<blocks, 256, 0, s>>>(p); break;
        case SCATTER: move_windows_kernel<U, SCATTER><<<blocks, 256, 0, s>>>(p); break;
        case ZERO_PADDING: move_windows_kernel<U, ZERO_PADDING><<<blocks, 256, 0, s>>>(p); break;
    }
    return svj_launch(op);
}

// from_shift >= 0 (GATHER only): src is a tile of every window of the grid with that shift, not the token map.
static int move(MoveKind kind, const void* src, void* dst, const int* order, int dtype, int batch, int height,
                int width, int channels, int window, int shift, int k, void* stream, const char* op,
                int from_shift = -1) {
    int eb = svj_dtype_bytes(dtype);
    SVJ_REQUIRE(eb > 0, "%s: unknown dtype %d", op, dtype);
    SVJ_REQUIRE(channels > 0 && (long long)channels * eb <= (1 << 30), "%s: channels %d", op, channels);
    WindowMoveParams p;
    int rc = check_windows(op, batch, height, width, window, shift, k, order, &p.g);
    if (rc) return rc;
    if (k == 0) return 0;   // nothing to move (the tile is empty)
    SVJ_REQUIRE(dst && (src || kind == ZERO_PADDING), "%s: null tensor", op);
    if (kind == ZERO_PADDING && p.g.Hp == p.g.H && p.g.Wp == p.g.W) return 0;   // no padding tokens at all
    p.src = src;
    p.dst = dst;
    p.order = order;
    p.k = k;
    p.rows = (long long)batch * k * p.g.N;
    p.from_tile = from_shift >= 0;
    p.from_shift = from_shift;
    int row_bytes = channels * eb;
    uintptr_t align = (uintptr_t)dst | (uintptr_t)src;
    cudaStream_t s = (cudaStream_t)stream;
    if (row_bytes % 16 == 0 && align % 16 == 0) return launch_move<uint4>(kind, p, row_bytes, s, op);
    if (row_bytes % 8 == 0 && align % 8 == 0) return launch_move<uint2>(kind, p, row_bytes, s, op);
    if (row_bytes % 4 == 0 && align % 4 == 0) return launch_move<unsigned>(kind, p, row_bytes, s, op);
    SVJ_REQUIRE(align % 2 == 0, "%s: misaligned tensor", op);
    return launch_move<unsigned short>(kind, p, row_bytes, s, op);
}

extern "C" {

int svj_gather_windows(const void* x, void* tile, const int* order, int dtype, int batch, int height, int width,
                       int channels, int window, int shift, int k, void* stream) {
    return move(GATHER, x, tile, order, dtype, batch, height, width, channels, window, shift, k, stream,
                "svj_gather_windows");
}

int svj_scatter_windows(const void* tile, void* x, const int* order, int dtype, int batch, int height, int width,
                        int channels, int window, int shift, int k, void* stream) {
    return move(SCATTER, tile, x, order, dtype, batch, height, width, channels, window, shift, k, stream,
                "svj_scatter_windows");
}

int svj_rewindow_windows(const void* from, void* tile, int dtype, int batch, int height, int width, int channels,
                         int window, int from_shift, int shift, void* stream) {
    const char* op = "svj_rewindow_windows";
    SVJ_REQUIRE(grid_ok(height, width, window, from_shift), "%s: invalid source shift %d for window %d", op,
                from_shift, window);
    SVJ_REQUIRE(from != tile || !from, "%s: the tile cannot be the tile it is made from", op);
    SVJ_REQUIRE(grid_ok(height, width, window, shift), "%s: invalid window grid %dx%d, window %d, shift %d", op,
                height, width, window, shift);
    GridParams g = make_grid(height, width, window, shift);
    return move(GATHER, from, tile, nullptr, dtype, batch, height, width, channels, window, shift, g.nW, stream, op,
                from_shift);
}

int svj_zero_padding(void* tile, const int* order, int dtype, int batch, int height, int width, int channels,
                     int window, int shift, int k, void* stream) {
    return move(ZERO_PADDING, nullptr, tile, order, dtype, batch, height, width, channels, window, shift, k, stream,
                "svj_zero_padding");
}

}  // extern "C"
