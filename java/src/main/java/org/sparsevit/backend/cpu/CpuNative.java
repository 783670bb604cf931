package org.sparsevit.backend.cpu;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * The JavaCPP binding over {@code native/include/sparsevit_cpu.h} (see there for every entry's contract): the
 * CPU backend's linear layers, window attention and LayerNorm in AVX2/FMA code. Package-private; {@link CpuBackend} checks
 * arguments before calling and falls back to its Java + OpenBLAS path where {@link #available()} is false: no
 * JNI library for this platform, a CPU without AVX2 and FMA, or {@code -Dsparsevit.cpu.kernels=java}.
 *
 * <p>The JNI library ({@code libjniCpuNative.so}, in the jar under {@code org/sparsevit/backend/cpu/linux-x86_64/})
 * is built by every Maven build from {@code native/cpu/sparsevit_cpu.cpp} with the JDK's C++ compiler flags
 * (x86-64 baseline); only the functions that run after the CPU check use AVX2 and FMA. Buffers are passed as
 * direct NIO buffers, read and written in place from their index 0 (JavaCPP adds the position, which is 0 here).
 */
@Platform(value = "linux-x86_64", include = {"sparsevit_cpu.h", "sparsevit_cpu.cpp"})
final class CpuNative {
    /** The system property that chooses the kernels: {@code native} (the default where available) or {@code java}. */
    static final String PROPERTY = "sparsevit.cpu.kernels";

    private static final String UNAVAILABLE;

    static {
        String why = null;
        String choice = System.getProperty(PROPERTY, "native");
        if (!choice.equals("native")) {
            why = "-D" + PROPERTY + "=" + choice;
        } else {
            try {
                if (Loader.load() == null) {
                    why = "no native CPU kernels for " + Loader.getPlatform();
                } else if (svj_cpu_supported() != 1) {
                    why = "this CPU lacks AVX2 or FMA";
                }
            } catch (Throwable t) {
                why = "the native CPU kernels did not load (" + t + ")";
            }
        }
        UNAVAILABLE = why;
    }

    /** Rejects a value of {@link #PROPERTY} other than native or java (called before the backend is built). */
    static void checkProperty() {
        String choice = System.getProperty(PROPERTY, "native");
        if (!choice.equals("native") && !choice.equals("java")) {
            throw new IllegalArgumentException("-D" + PROPERTY + " must be native or java, got '" + choice + "'");
        }
    }

    private CpuNative() {
    }

    /** Whether the native kernels run here. */
    static boolean available() {
        return UNAVAILABLE == null;
    }

    /** Why the native kernels do not run here, or null when they do. */
    static String unavailableReason() {
        return UNAVAILABLE;
    }

    /** Packs an [n, k] weight for {@link #svj_cpu_linear} into a new 32-byte aligned direct buffer. */
    static FloatBuffer pack(FloatBuffer w, int n, int k) {
        long floats = svj_cpu_packed_floats(n, k);
        if (floats < 0 || floats * 4 > Integer.MAX_VALUE - 32) {
            throw new IllegalArgumentException("a packed [" + n + ", " + k + "] weight does not fit one buffer");
        }
        FloatBuffer packed = ByteBuffer.allocateDirect((int) (floats * 4 + 32)).alignedSlice(32)
                .order(ByteOrder.nativeOrder()).asFloatBuffer();
        check(svj_cpu_pack_weights(w, n, k, packed), "pack_weights");
        return packed;
    }

    /** Turns a return code into an exception (the Java side checked the arguments, so this is a bug). */
    static void check(int rc, String entry) {
        if (rc != 0) {
            throw new IllegalStateException("native CPU kernel svj_cpu_" + entry + " failed with code " + rc
                    + (rc == -1 ? " (invalid argument)" : rc == -2 ? " (CPU without AVX2/FMA)" : ""));
        }
    }

    static native int svj_cpu_supported();

    static native int svj_cpu_panel_width();

    static native long svj_cpu_packed_floats(int n, int k);

    static native int svj_cpu_pack_weights(@Cast("const float*") FloatBuffer w, int n, int k, FloatBuffer packed);

    static native int svj_cpu_linear(@Cast("const float*") FloatBuffer x, int k, @Cast("const float*") FloatBuffer packed,
                                     int n, @Cast("const float*") FloatBuffer bias, FloatBuffer out, int accumulate,
                                     int gelu, int row0, int row1, int col0, int col1);

    static native int svj_cpu_window_attention(@Cast("const float*") FloatBuffer qkv, FloatBuffer out, int n, int heads,
                                               int d, float scale, @Cast("const float*") FloatBuffer bias,
                                               @Cast("const int*") IntBuffer regions, float masked, int item0, int item1);

    static native int svj_cpu_layer_norm(@Cast("const float*") FloatBuffer x, @Cast("const float*") FloatBuffer gamma,
                                         @Cast("const float*") FloatBuffer beta, float eps, int c, FloatBuffer out,
                                         int row0, int row1);
}
