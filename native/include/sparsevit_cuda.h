/*
 * SparseViT-J CUDA entry points: the one plain C header the Java binding (CudaNative) wraps.
 *
 * Conventions
 *  - Every function returns 0 on success, SVJ_EINVAL (-1) when an argument check fails, or a CUDA
 *    error code (cudaError_t as int). Nothing here prints, exits or aborts; svj_last_error_string()
 *    gives a one-line detail of the calling thread's last failure (which entry, which argument).
 *  - Pointers are device pointers unless named host_*. Streams, graphs and events are the CUDA handles
 *    passed as void*. A NULL stream is the legacy default stream.
 *  - Kernels and *_async copies are only enqueued; nothing synchronises unless its comment says so.
 *  - Tensors are dense and row-major. `dtype` is one of SVJ_F32, SVJ_F16, SVJ_BF16 (SVJ_I32 where a
 *    comment allows it) and applies to every data pointer of the call that is typed void*; float* and
 *    int* arguments are always float32 and int32. Math is done in float32 whatever the storage type
 *    ("load as float, compute in float, store as T", rounding to nearest even).
 *  - Window operations take the window grid as (height, width, window, shift) exactly as
 *    org.sparsevit.backend.WindowGrid: an H x W token map, zero-padded at the bottom/right to multiples
 *    of `window`, rolled by `shift` towards the top-left when shift > 0, cut into nW windows of
 *    N = window^2 row-major tokens. `order` is int32 [B, nW]: each image's window numbers in kept order;
 *    an op works on the first k of every row. order == NULL means all windows in natural order (then k
 *    must equal nW). Window numbers outside [0, nW) read as all-padding windows (no memory fault).
 *  - The library links only the CUDA runtime (statically), so it loads without a driver; then
 *    svj_device_count returns an error code (cudaErrorInsufficientDriver, cudaErrorNoDevice, ...).
 */
#ifndef SPARSEVIT_CUDA_H
#define SPARSEVIT_CUDA_H

#ifdef __cplusplus
extern "C" {
#endif

#define SVJ_EINVAL (-1)

/* element type codes */
#define SVJ_F32 0
#define SVJ_F16 1
#define SVJ_BF16 2
#define SVJ_I32 3

/* ------------------------------------------------------------------ runtime */

/* CUDA runtime version this library was linked with, e.g. 13000. */
int svj_runtime_version(int* version);
/* Newest CUDA version the installed driver supports; 0 (and success) when there is no driver. */
int svj_driver_version(int* version);
/* Number of usable devices; fails (and sets *count = 0) without a driver or device. */
int svj_device_count(int* count);
/* Device name, NUL-terminated, at most capacity - 1 characters. */
int svj_device_name(int device, char* host_name, int capacity);
int svj_device_capability(int device, int* major, int* minor);
/* The number of multiprocessors (SMs) of device. */
int svj_device_sm_count(int device, int* count);
/* 0 when the current device can run this library's kernels; else the runtime's error (no kernel image for the
 * device: cudaErrorNoKernelImageForDevice), as the first launch would report it. */
int svj_kernel_image_check(void);
/* The shared memory a block of device may opt in to, in bytes (cudaDevAttrMaxSharedMemoryPerBlockOptin). */
int svj_device_smem_optin(int device, int* bytes);
/* Free and total memory of the current device, in bytes. */
int svj_device_memory(long long* free_bytes, long long* total_bytes);
int svj_set_device(int device);
/* Text of an error code (ours or CUDA's); a static string. */
const char* svj_error_string(int code);
/* Detail of the calling thread's last failure ("svj_gather_windows: k = 9 outside [0, nW = 8]"), or "". */
const char* svj_last_error_string(void);

/* cudaMalloc; allowed while the calling thread captures a graph (the memory is not part of the graph). */
int svj_malloc(void** ptr, long long bytes);
int svj_free(void* ptr);
/* Copies that return when the copy is complete (they synchronise the stream). */
int svj_memcpy_h2d(void* dst, const void* host_src, long long bytes, void* stream);
int svj_memcpy_d2h(void* host_dst, const void* src, long long bytes, void* stream);
/* The same, between the device and a part of a host buffer: bytes [host_offset, host_offset + bytes) of it
   (the Java binding passes a whole array, used in place, and copies it in pieces). */
int svj_memcpy_h2d_part(void* dst, const void* host_base, long long host_offset, long long bytes, void* stream);
int svj_memcpy_d2h_part(void* host_base, long long host_offset, const void* src, long long bytes, void* stream);
/* Enqueued copies: the host buffer must stay valid (and should be pinned) until the stream passes them. */
int svj_memcpy_h2d_async(void* dst, const void* host_src, long long bytes, void* stream);
int svj_memcpy_d2h_async(void* host_dst, const void* src, long long bytes, void* stream);
int svj_memcpy_d2d(void* dst, const void* src, long long bytes, void* stream);
int svj_memset(void* dst, int value, long long bytes, void* stream);

/* Non-blocking streams (they do not synchronise with the legacy default stream). */
int svj_stream_create(void** stream);
int svj_stream_destroy(void* stream);
/* Waits for all work enqueued on the stream. */
int svj_stream_synchronize(void* stream);

/* CUDA graphs: capture the work enqueued on a stream (thread-local capture mode), instantiate it, replay
 * it. A failed end_capture leaves the stream out of capture mode. */
int svj_graph_begin_capture(void* stream);
int svj_graph_end_capture(void* stream, void** graph_exec);
int svj_graph_launch(void* graph_exec, void* stream);
int svj_graph_destroy(void* graph_exec);

/* Events for timing: milliseconds between two recorded events, after waiting for the second. */
int svj_event_create(void** event);
int svj_event_destroy(void* event);
int svj_event_record(void* event, void* stream);
int svj_event_elapsed_ms(void* start, void* stop, float* host_ms);

/* ------------------------------------------------------------------ windows (windows.cu, attention.cu)
 * Pure data movement is bitwise exact; dtype may also be SVJ_I32 for these three. */

/* x [B, H*W, C] -> tile [B, k, N, C]; padding tokens are written as zeros. */
int svj_gather_windows(const void* x, void* tile, const int* order, int dtype, int batch, int height, int width,
                       int channels, int window, int shift, int k, void* stream);
/* tile [B, k, N, C] -> x [B, H*W, C]: the non-padding tokens of the kept windows; the rest of x untouched. */
int svj_scatter_windows(const void* tile, void* x, const int* order, int dtype, int batch, int height, int width,
                        int channels, int window, int shift, int k, void* stream);
/* Rewindow without the token map: from [B, nW, N, C] holds every window of the grid with shift from_shift in natural
 * order (a dense block's tile, not scattered); tile [B, nW, N, C] gets every window of the grid with shift `shift`
 * (same map and window), padding tokens zero. Bitwise svj_scatter_windows(from) then svj_gather_windows (order NULL,
 * k = nW). dtype may be SVJ_I32. */
int svj_rewindow_windows(const void* from, void* tile, int dtype, int batch, int height, int width, int channels,
                         int window, int from_shift, int shift, void* stream);
/* Sets the padding tokens of tile [B, k, N, C] to zero. */
int svj_zero_padding(void* tile, const int* order, int dtype, int batch, int height, int width, int channels,
                     int window, int shift, int k, void* stream);
/* Fused window attention: qkv [B, k, N, 3C] (q, k, v channel blocks; heads are consecutive groups of
 * d = C / heads), table [(2 * bias_window - 1)^2, heads], out [B, k, N, C]:
 * softmax(q k^T * d^-1/2 + bias + mask) v per window and head, the shift mask (-100 between different
 * regions) derived from the grid. N <= 160, d <= 128. */
int svj_window_attention(const void* qkv, const void* table, void* out, const int* order, int dtype, int batch,
                         int height, int width, int channels, int heads, int window, int shift, int bias_window,
                         int k, void* stream);

/* ------------------------------------------------------------------ normalisation and elementwise
 * (layernorm.cu, elementwise.cu); rows x channels views of row-major tensors */

/* out = LayerNorm(x) over the last dimension (biased variance); out may be x. */
int svj_layer_norm(const void* x, const void* gamma, const void* beta, void* out, int dtype, long long rows,
                   int channels, float eps, void* stream);
/* Fused residual: a += b (stored), then out = LayerNorm(a); out must not be a. */
int svj_add_layer_norm(void* a, const void* b, const void* gamma, const void* beta, void* out, int dtype,
                       long long rows, int channels, float eps, void* stream);
/* Window gather fused with the block's first LayerNorm: tile = gather(x) (padding tokens zero), out =
   LayerNorm(tile); with zero_padded, padding tokens of out are zero too (Swin's padding), else they hold
   LayerNorm(0) = beta (SparseViT's). */
int svj_gather_layer_norm(const void* x, const void* gamma, const void* beta, void* tile, void* out, const int* order,
                          int dtype, int batch, int height, int width, int channels, int window, int shift, int k,
                          float eps, int zero_padded, void* stream);
/* x[r, c] += bias[c]. */
int svj_bias_add(void* x, const void* bias, int dtype, long long rows, int channels, void* stream);
/* In place exact GELU, x * 0.5 * (1 + erf(x / sqrt 2)). */
int svj_gelu(void* x, int dtype, long long n, void* stream);
/* Fused: x[r, c] = GELU(x[r, c] + bias[c]). */
int svj_bias_gelu(void* x, const void* bias, int dtype, long long rows, int channels, void* stream);
/* Linear layer with bias and exact GELU fused in the GEMM (gemm.cu): out[M, N] = GELU(x[M, K] w[N, K]^T + bias[N]),
 * F16 or BF16 only, on tensor cores with float accumulation, rounded to dtype once at the end. bias may be NULL
 * (no bias). N and K multiples of 8; x, w, bias and out 16-byte aligned; out must not overlap x or w. */
int svj_linear_gelu(const void* x, const void* w, const void* bias, void* out, int dtype, long long rows, int n, int k,
                    void* stream);
/* The second half of a Swin block as one kernel (mlp.cu): x[M, C] += fc2(GELU(fc1(LayerNorm(x)))), in place, with
 * LayerNorm gamma/beta [C] and eps, fc1 w1 [H, C] and b1 [H], fc2 w2 [C, H] and b2 [C] (b1, b2 may be NULL).
 * F16 or BF16 only: LayerNorm as svj_layer_norm, fc1 + bias + exact GELU as svj_linear_gelu, fc2 accumulated in
 * float and added to x with one rounding. C a multiple of 32 from 32 to 256, H a multiple of 64, every tensor
 * 16-byte aligned, x not overlapping the parameters. Needs svj_mlp_block_smem bytes of shared memory a block: where
 * the device allows less, it returns SVJ_EINVAL and launches nothing. */
int svj_mlp_block(void* x, const void* gamma, const void* beta, const void* w1, const void* b1, const void* w2,
                  const void* b2, int dtype, long long rows, int channels, int hidden, float eps, void* stream);
/* The shared memory svj_mlp_block needs for C channels (F16/BF16), in bytes. */
int svj_mlp_block_smem(int channels, int dtype, long long* bytes);
/* a += b elementwise. */
int svj_add(void* a, const void* b, int dtype, long long n, void* stream);
/* dst = src converted between floating dtypes (round to nearest even when narrowing). */
int svj_cast(const void* src, int src_dtype, void* dst, int dst_dtype, long long n, void* stream);

/* ------------------------------------------------------------------ Swin structure (layout.cu) */

/* Patch-embedding im2col: img [B, Cin, H, W] -> cols [B * Ho * Wo, Cin * p * p] (Ho = ceil(H / p),
 * column (ci * p + py) * p + px, zero padding at the bottom/right), ready for cols x w^T. */
int svj_im2col_patches(const void* img, void* cols, int dtype, int batch, int in_channels, int height, int width,
                       int patch, void* stream);
/* Patch merging gather: x [B, H, W, C] -> out [B, ceil(H/2) * ceil(W/2), 4C], zero padding at the
 * bottom/right. merge_order 0 = CONCAT (official Swin: entry t*C + c, t over (0,0), (1,0), (0,1), (1,1)),
 * 1 = UNFOLD (mmdet: entry c*4 + dy*2 + dx). Bitwise exact. */
int svj_patch_merge(const void* x, void* out, int dtype, int batch, int height, int width, int channels,
                    int merge_order, void* stream);
/* Mean over tokens: x [B, L, C] -> out [B, C]. */
int svj_mean_pool(const void* x, void* out, int dtype, int batch, int tokens, int channels, void* stream);
/* Transpose x [B, L, C] -> out [B, C, L]. Bitwise exact. */
int svj_to_channels_first(const void* x, void* out, int dtype, int batch, int tokens, int channels, void* stream);

/* ------------------------------------------------------------------ model input (frames.cu) */

/* 8-bit frames to the model input: pixels [B, H, W, 3] unsigned bytes (interleaved; channel_order 0 = RGB,
 * 1 = BGR) -> out [B, 3, H, W] of dtype (F32, F16 or BF16), channels in RGB order, value
 * (v / 255 - mean[c]) / std[c] computed in float32 in that order (bitwise the Java twin, Frames.normalise), then
 * rounded to nearest even. mean/std per RGB channel: finite, std > 0. out must not overlap the pixels. */
int svj_frames_to_tensor(const void* pixels, void* out, int dtype, int batch, int height, int width,
                         int channel_order, float mean_r, float mean_g, float mean_b, float std_r, float std_g,
                         float std_b, void* stream);

/* ------------------------------------------------------------------ SparseViT importance (importance.cu, sort.cu) */

/* out[t] = mean over channels of |x[t, :]|: x [tokens, C] (any float dtype), out float32 [tokens].
 * Accumulated in double in channel order, as the CPU reference: bitwise equal to it. */
int svj_token_importance(const void* x, float* out, int dtype, long long tokens, int channels, void* stream);
/* Per-window L2 norm of the (padded, rolled) importance map: a [B, H*W] -> out [B, nW]; bitwise equal
 * to the CPU reference. */
int svj_window_scores(const float* a, float* out, int batch, int height, int width, int window, int shift,
                      void* stream);
/* Bytes of device scratch svj_sort_windows needs for this size (0 for the in-shared-memory path). */
int svj_sort_windows_scratch(int batch, int windows, long long* bytes);
/* Per image, window numbers by descending score, ties to the lower number, NaN first (Java's
 * Float.compare order, -0.0 below +0.0): scores [B, nW] -> order int32 [B, nW]. scratch: at least
 * svj_sort_windows_scratch bytes (NULL when that is 0). */
int svj_sort_windows(const float* scores, int* order, int batch, int windows, void* scratch, long long scratch_bytes,
                     void* stream);

#ifdef __cplusplus
}
#endif
#endif
