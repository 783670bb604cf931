package org.sparsevit.backend.cuda;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.CriticalRegion;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * The JavaCPP binding over {@code native/include/sparsevit_cuda.h} (see there for every entry's contract):
 * only primitives, device addresses and streams as longs, and host arrays. Package-private; public types
 * never see a pointer. Every entry returns 0 or an error code; {@link CudaBackend} turns codes into
 * exceptions with {@link #svj_last_error_string()}.
 *
 * <p>The JNI library ({@code libjniCudaNative.so}, in the jar under
 * {@code org/sparsevit/backend/cuda/linux-x86_64/}) is built by the Maven "cuda" profile from our kernels
 * and the static CUDA runtime only, so it loads on machines without a driver (calls then return an error
 * code). Host arrays are passed by JNI copy or pin, so only the synchronous copy entries take them.
 */
@Platform(value = "linux-x86_64", include = "sparsevit_cuda.h",
        link = {"pthread", "dl", "rt", "cudart_static", "sparsevit_kernels"}) // JavaCPP emits these in reverse order
final class CudaNative {
    /** Element type codes of the header (SVJ_F32 ...). */
    static final int F32 = 0;
    static final int F16 = 1;
    static final int BF16 = 2;
    static final int I32 = 3;
    /** The header's SVJ_EINVAL: an argument check failed. */
    static final int EINVAL = -1;

    private static final Throwable LOAD_ERROR;

    static {
        Throwable err = null;
        try {
            Loader.load();
        } catch (Throwable t) {
            err = t;
        }
        LOAD_ERROR = err;
    }

    private CudaNative() {
    }

    /** Why the JNI library could not be loaded, or null. */
    static Throwable loadError() {
        return LOAD_ERROR;
    }

    // ------------------------------------------------------------------ runtime

    static native int svj_runtime_version(int[] version);

    static native int svj_driver_version(int[] version);

    static native int svj_device_count(int[] count);

    static native int svj_device_name(int device, @Cast("char*") byte[] name, int capacity);

    static native int svj_device_capability(int device, int[] major, int[] minor);

    static native int svj_device_smem_optin(int device, int[] bytes);

    static native int svj_kernel_image_check();

    static native int svj_device_sm_count(int device, int[] count);

    static native int svj_device_memory(@Cast("long long*") long[] freeBytes, @Cast("long long*") long[] totalBytes);

    static native int svj_set_device(int device);

    static native @Cast("const char*") BytePointer svj_error_string(int code);

    static native @Cast("const char*") BytePointer svj_last_error_string();

    static native int svj_malloc(@Cast("void**") long[] ptr, long bytes);

    static native int svj_free(@Cast("void*") long ptr);

    // Copies between the device and bytes [offset, offset + bytes) of a Java array, used in place
    // (GetPrimitiveArrayCritical: no native copy of the array first, nor, for downloads, a copy back). While a
    // thread is in the critical region the JVM cannot collect garbage, so CudaBackend copies large arrays in
    // pieces (CudaBackend.COPY_CHUNK) and waits for the stream's queued work before the first.
    @CriticalRegion
    static native int svj_memcpy_h2d_part(@Cast("void*") long dst, @Cast("const void*") float[] host, long offset,
                                          long bytes, @Cast("void*") long stream);

    @CriticalRegion
    static native int svj_memcpy_h2d_part(@Cast("void*") long dst, @Cast("const void*") int[] host, long offset,
                                          long bytes, @Cast("void*") long stream);

    @CriticalRegion
    static native int svj_memcpy_d2h_part(@Cast("void*") float[] host, long offset, @Cast("const void*") long src,
                                          long bytes, @Cast("void*") long stream);

    @CriticalRegion
    static native int svj_memcpy_d2h_part(@Cast("void*") int[] host, long offset, @Cast("const void*") long src,
                                          long bytes, @Cast("void*") long stream);

    @CriticalRegion
    static native int svj_memcpy_h2d_part(@Cast("void*") long dst, @Cast("const void*") byte[] host, long offset,
                                          long bytes, @Cast("void*") long stream);

    /** From host memory at an address (a direct buffer's): no JNI array involved. */
    static native int svj_memcpy_h2d(@Cast("void*") long dst, @Cast("const void*") long hostSrc, long bytes,
                                     @Cast("void*") long stream);

    static native int svj_memcpy_d2d(@Cast("void*") long dst, @Cast("const void*") long src, long bytes,
                                     @Cast("void*") long stream);

    static native int svj_memset(@Cast("void*") long dst, int value, long bytes, @Cast("void*") long stream);

    static native int svj_stream_create(@Cast("void**") long[] stream);

    static native int svj_stream_destroy(@Cast("void*") long stream);

    static native int svj_stream_synchronize(@Cast("void*") long stream);

    static native int svj_graph_begin_capture(@Cast("void*") long stream);

    static native int svj_graph_end_capture(@Cast("void*") long stream, @Cast("void**") long[] exec);

    static native int svj_graph_launch(@Cast("void*") long exec, @Cast("void*") long stream);

    static native int svj_graph_destroy(@Cast("void*") long exec);

    static native int svj_event_create(@Cast("void**") long[] event);

    static native int svj_event_destroy(@Cast("void*") long event);

    static native int svj_event_record(@Cast("void*") long event, @Cast("void*") long stream);

    static native int svj_event_elapsed_ms(@Cast("void*") long start, @Cast("void*") long stop, float[] ms);

    // ------------------------------------------------------------------ windows

    static native int svj_gather_windows(@Cast("const void*") long x, @Cast("void*") long tile,
                                         @Cast("const int*") long order, int dtype, int batch, int height, int width,
                                         int channels, int window, int shift, int k, @Cast("void*") long stream);

    static native int svj_scatter_windows(@Cast("const void*") long tile, @Cast("void*") long x,
                                          @Cast("const int*") long order, int dtype, int batch, int height, int width,
                                          int channels, int window, int shift, int k, @Cast("void*") long stream);

    static native int svj_zero_padding(@Cast("void*") long tile, @Cast("const int*") long order, int dtype, int batch,
                                       int height, int width, int channels, int window, int shift, int k,
                                       @Cast("void*") long stream);

    static native int svj_rewindow_windows(@Cast("const void*") long from, @Cast("void*") long tile, int dtype,
                                           int batch, int height, int width, int channels, int window, int fromShift,
                                           int shift, @Cast("void*") long stream);

    static native int svj_window_attention(@Cast("const void*") long qkv, @Cast("const void*") long table,
                                           @Cast("void*") long out, @Cast("const int*") long order, int dtype,
                                           int batch, int height, int width, int channels, int heads, int window,
                                           int shift, int biasWindow, int k, @Cast("void*") long stream);

    // ------------------------------------------------------------------ normalisation and elementwise

    static native int svj_gather_layer_norm(@Cast("const void*") long x, @Cast("const void*") long gamma,
                                            @Cast("const void*") long beta, @Cast("void*") long tile,
                                            @Cast("void*") long out, @Cast("const int*") long order, int dtype,
                                            int batch, int height, int width, int channels, int window, int shift,
                                            int k, float eps, int zeroPadded, @Cast("void*") long stream);

    static native int svj_layer_norm(@Cast("const void*") long x, @Cast("const void*") long gamma,
                                     @Cast("const void*") long beta, @Cast("void*") long out, int dtype, long rows,
                                     int channels, float eps, @Cast("void*") long stream);

    static native int svj_add_layer_norm(@Cast("void*") long a, @Cast("const void*") long b,
                                         @Cast("const void*") long gamma, @Cast("const void*") long beta,
                                         @Cast("void*") long out, int dtype, long rows, int channels, float eps,
                                         @Cast("void*") long stream);

    static native int svj_bias_add(@Cast("void*") long x, @Cast("const void*") long bias, int dtype, long rows,
                                   int channels, @Cast("void*") long stream);

    static native int svj_gelu(@Cast("void*") long x, int dtype, long n, @Cast("void*") long stream);

    static native int svj_bias_gelu(@Cast("void*") long x, @Cast("const void*") long bias, int dtype, long rows,
                                    int channels, @Cast("void*") long stream);

    static native int svj_linear_gelu(@Cast("const void*") long x, @Cast("const void*") long w,
                                      @Cast("const void*") long bias, @Cast("void*") long out, int dtype, long rows,
                                      int n, int k, @Cast("void*") long stream);

    static native int svj_mlp_block(@Cast("void*") long x, @Cast("const void*") long gamma,
                                    @Cast("const void*") long beta, @Cast("const void*") long w1,
                                    @Cast("const void*") long b1, @Cast("const void*") long w2,
                                    @Cast("const void*") long b2, int dtype, long rows, int channels, int hidden,
                                    float eps, @Cast("void*") long stream);

    static native int svj_mlp_block_smem(int channels, int dtype, @Cast("long long*") long[] bytes);

    static native int svj_add(@Cast("void*") long a, @Cast("const void*") long b, int dtype, long n,
                              @Cast("void*") long stream);

    static native int svj_cast(@Cast("const void*") long src, int srcDtype, @Cast("void*") long dst, int dstDtype,
                               long n, @Cast("void*") long stream);

    // ------------------------------------------------------------------ Swin structure

    static native int svj_im2col_patches(@Cast("const void*") long img, @Cast("void*") long cols, int dtype, int batch,
                                         int inChannels, int height, int width, int patch, @Cast("void*") long stream);

    static native int svj_patch_merge(@Cast("const void*") long x, @Cast("void*") long out, int dtype, int batch,
                                      int height, int width, int channels, int mergeOrder, @Cast("void*") long stream);

    static native int svj_mean_pool(@Cast("const void*") long x, @Cast("void*") long out, int dtype, int batch,
                                    int tokens, int channels, @Cast("void*") long stream);

    static native int svj_to_channels_first(@Cast("const void*") long x, @Cast("void*") long out, int dtype,
                                            int batch, int tokens, int channels, @Cast("void*") long stream);

    // ------------------------------------------------------------------ model input

    static native int svj_frames_to_tensor(@Cast("const void*") long pixels, @Cast("void*") long out, int dtype,
                                           int batch, int height, int width, int channelOrder, float meanR,
                                           float meanG, float meanB, float stdR, float stdG, float stdB,
                                           @Cast("void*") long stream);

    // ------------------------------------------------------------------ SparseViT importance

    static native int svj_token_importance(@Cast("const void*") long x, @Cast("float*") long out, int dtype,
                                           long tokens, int channels, @Cast("void*") long stream);

    static native int svj_window_scores(@Cast("const float*") long a, @Cast("float*") long out, int batch, int height,
                                        int width, int window, int shift, @Cast("void*") long stream);

    static native int svj_sort_windows_scratch(int batch, int windows, @Cast("long long*") long[] bytes);

    static native int svj_sort_windows(@Cast("const float*") long scores, @Cast("int*") long order, int batch,
                                       int windows, @Cast("void*") long scratch, long scratchBytes,
                                       @Cast("void*") long stream);
}
