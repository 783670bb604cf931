/*
 * SparseViT-J CUDA entry points: the one plain C header the Java binding (CudaNative) wraps.
 *
 * Every function returns 0 on success or a CUDA error code (cudaError_t as int) / SVJ_EINVAL (-1) for
 * invalid arguments; it never exits. Pointers are device pointers unless named host_*. Streams are
 * cudaStream_t passed as void*. Kernels are enqueued asynchronously; nothing here synchronises unless
 * its name says so. Tensors are row-major float32 unless stated.
 */
#ifndef SPARSEVIT_CUDA_H
#define SPARSEVIT_CUDA_H

#ifdef __cplusplus
extern "C" {
#endif

#define SVJ_EINVAL (-1)

/* ------------------------------------------------------------------ runtime */
int svj_runtime_version(int* version);
int svj_driver_version(int* version);
int svj_device_count(int* count);
int svj_device_name(int device, char* host_name, int capacity);
int svj_device_capability(int device, int* major, int* minor);
int svj_set_device(int device);
const char* svj_error_string(int code);

int svj_malloc(void** ptr, long long bytes);
int svj_free(void* ptr);
int svj_memcpy_h2d(void* dst, const void* host_src, long long bytes, void* stream);
int svj_memcpy_d2h(void* host_dst, const void* src, long long bytes, void* stream);
int svj_memcpy_d2d(void* dst, const void* src, long long bytes, void* stream);
int svj_memset(void* dst, int value, long long bytes, void* stream);
int svj_stream_create(void** stream);
int svj_stream_destroy(void* stream);
int svj_stream_synchronize(void* stream);

/* CUDA graphs: capture the work enqueued on a stream, then replay it. */
int svj_graph_begin_capture(void* stream);
int svj_graph_end_capture(void* stream, void** graph_exec);
int svj_graph_launch(void* graph_exec, void* stream);
int svj_graph_destroy(void* graph_exec);

/* Events for timing (milliseconds between two recorded events, after synchronising on the second). */
int svj_event_create(void** event);
int svj_event_destroy(void* event);
int svj_event_record(void* event, void* stream);
int svj_event_elapsed_ms(void* start, void* stop, float* host_ms);

/* ------------------------------------------------------------------ window grid
 * height, width: token grid H x W; window: side w; shift: cyclic shift s (0 regular);
 * bias_window: window the relative-position table was built for ((2*bias_window-1)^2 rows).
 * order: int32 [B, nW] kept order per image, or NULL (natural order, k must equal nW).
 */
int svj_gather_windows(const float* x, float* tile, const int* order, int batch, int height, int width,
                       int channels, int window, int shift, int k, void* stream);
int svj_scatter_windows(const float* tile, float* x, const int* order, int batch, int height, int width,
                        int channels, int window, int shift, int k, void* stream);
int svj_zero_padding(float* tile, const int* order, int batch, int height, int width, int channels,
                     int window, int shift, int k, void* stream);
int svj_window_attention(const float* qkv, const float* bias_table, float* out, const int* order, int batch,
                         int height, int width, int channels, int heads, int window, int shift,
                         int bias_window, int k, void* stream);

/* ------------------------------------------------------------------ elementwise / normalisation */
int svj_layer_norm(const float* x, const float* gamma, const float* beta, float* out, long long rows,
                   int channels, float eps, void* stream);
int svj_bias_add(float* x, const float* bias, long long rows, int channels, void* stream);
int svj_gelu(float* x, long long n, void* stream);
/* fused: a += b, then out = LayerNorm(a) (out must not alias a) */
int svj_add_layer_norm(float* a, const float* b, const float* gamma, const float* beta, float* out, long long rows,
                       int channels, float eps, void* stream);
/* fused: x = GELU(x + bias) per row of `channels` */
int svj_bias_gelu(float* x, const float* bias, long long rows, int channels, void* stream);
int svj_add(float* a, const float* b, long long n, void* stream);
int svj_mean_pool(const float* x, float* out, int batch, int tokens, int channels, void* stream);
int svj_to_channels_first(const float* x, float* out, int batch, int tokens, int channels, void* stream);

/* ------------------------------------------------------------------ Swin structure */
int svj_im2col_patches(const float* img, float* cols, int batch, int in_channels, int height, int width,
                       int patch, void* stream);
/* order: 0 = CONCAT (official Swin), 1 = UNFOLD (mmdet) */
int svj_patch_merge(const float* x, float* out, int batch, int height, int width, int channels, int order,
                    void* stream);

/* ------------------------------------------------------------------ SparseViT importance */
int svj_token_importance(const float* x, float* out, long long tokens, int channels, void* stream);
int svj_window_scores(const float* a, float* out, int batch, int height, int width, int window, int shift,
                      void* stream);
/* bytes of device scratch svj_sort_windows needs */
int svj_sort_windows_scratch(int batch, int windows, long long* bytes);
int svj_sort_windows(const float* scores, int* order, int batch, int windows, void* scratch,
                     long long scratch_bytes, void* stream);

#ifdef __cplusplus
}
#endif
#endif
