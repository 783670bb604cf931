package org.sparsevit.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.sparsevit.backend.Precision;
import org.sparsevit.backend.WindowGrid;
import org.sparsevit.tensor.DType;
import org.sparsevit.tensor.HostTensor;
import org.sparsevit.tensor.Tensor;

/**
 * The native CPU kernels against the Java + OpenBLAS path on Swin-T's shapes, and the packed-weight cache.
 * (CpuBackendTest holds both paths against naive double-precision code on small shapes.)
 */
class CpuNativeTest {
    static CpuBackend fast;
    static CpuBackend java;

    @BeforeAll
    static void up() {
        fast = new CpuBackend(Precision.FP32, true);
        java = new CpuBackend(Precision.FP32, false);
    }

    @AfterAll
    static void down() {
        fast.close();
        java.close();
    }

    /** On Linux x86-64 with AVX2 and FMA (CI's machines and ours) the kernels must build, load and be used. */
    @Test
    void nativeKernelsLoadWhereTheCpuHasAvx2() throws IOException {
        Path cpuinfo = Path.of("/proc/cpuinfo");
        boolean x86 = System.getProperty("os.arch").equals("amd64") && System.getProperty("os.name").equals("Linux");
        String flags = x86 && Files.exists(cpuinfo) ? Files.readString(cpuinfo) : "";
        boolean expected = x86 && flags.contains(" avx2") && flags.contains(" fma")
                && System.getProperty(CpuNative.PROPERTY, "native").equals("native");
        assertEquals(expected, CpuNative.available(), "native CPU kernels: " + CpuNative.unavailableReason());
        assertEquals(expected, fast.nativeKernels());
        assertTrue(fast.device().contains(expected ? "native AVX2 kernels" : "Java kernels"), fast.device());
    }

    static HostTensor random(long seed, int... shape) {
        return CpuBackendTest.random(seed, shape);
    }

    static float[] run(CpuBackend be, String op, HostTensor x, HostTensor w, HostTensor bias, HostTensor res) {
        int m = x.dim(0);
        int n = w.dim(0);
        try (Tensor xt = be.upload(x); Tensor wt = be.upload(w); Tensor bt = be.upload(bias);
             Tensor out = res != null ? be.upload(res) : be.empty(DType.F32, m, n)) {
            switch (op) {
                case "linear" -> be.linear(xt, wt, bt, out);
                case "gelu" -> be.linearGelu(xt, wt, bt, out);
                default -> be.linearResidual(xt, wt, bt, out);
            }
            return be.download(out).data();
        }
    }

    /** Swin-T's linear layers at 224 (3136, 784, 196 and 49 tokens; qkv, proj, fc1, fc2, merge, head). */
    @ParameterizedTest
    @CsvSource({"3136,288,96", "3136,96,384", "784,384,192", "196,1536,384", "49,768,3072", "49,2304,768",
                "1,1000,768"})
    void linearMatchesTheJavaPath(int m, int n, int k) {
        HostTensor x = random(m + n, m, k);
        HostTensor w = random(k, n, k);
        HostTensor bias = random(3, n);
        HostTensor res = random(4, m, n);
        for (String op : new String[] {"linear", "gelu", "residual"}) {
            float[] a = run(fast, op, x, w, bias, op.equals("residual") ? res : null);
            float[] b = run(java, op, x, w, bias, op.equals("residual") ? res : null);
            double worst = 0;
            for (int i = 0; i < a.length; i++) {
                worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
            }
            // Gaussian inputs: outputs ~ sqrt(k); float sums in another order differ by a few ulp of that
            assertTrue(worst < 2e-6 * Math.sqrt(k), op + " " + m + "x" + n + "x" + k + ": relative difference " + worst);
        }
    }

    /** A weight written after it was packed is packed again (the cache follows every op that writes). */
    @Test
    void packedWeightsFollowWrites() {
        HostTensor x = random(1, 40, 64);
        HostTensor w1 = random(2, 48, 64);
        HostTensor w2 = random(3, 48, 64);
        try (Tensor xt = fast.upload(x); Tensor wt = fast.upload(w1); Tensor w2t = fast.upload(w2);
             Tensor out = fast.empty(DType.F32, 40, 48)) {
            fast.linear(xt, wt, null, out);
            float[] first = fast.download(out).data();
            fast.copy(w2t, wt);
            fast.linear(xt, wt, null, out);
            float[] second = fast.download(out).data();
            fast.gelu(wt);
            fast.linear(xt, wt, null, out);
            float[] third = fast.download(out).data();
            HostTensor geluW2 = new HostTensor(w2.data().clone(), new int[] {48, 64});
            for (int i = 0; i < geluW2.data().length; i++) {
                double v = geluW2.data()[i];
                geluW2.data()[i] = (float) (0.5 * v * (1 + CpuBackendTest.erfSeries(v / Math.sqrt(2))));
            }
            float[][] expected = {naive(x, w1), naive(x, w2), naive(x, geluW2)};
            float[][] got = {first, second, third};
            for (int t = 0; t < 3; t++) {
                for (int i = 0; i < got[t].length; i++) {
                    assertEquals(expected[t][i], got[t][i], 1e-4, "pass " + t + " element " + i);
                }
            }
        }
    }

    static float[] naive(HostTensor x, HostTensor w) {
        int m = x.dim(0);
        int k = x.dim(1);
        int n = w.dim(0);
        float[] out = new float[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int q = 0; q < k; q++) {
                    s += (double) x.data()[i * k + q] * w.data()[j * k + q];
                }
                out[i * n + j] = (float) s;
            }
        }
        return out;
    }

    /** Swin-T's attention shapes (head dim 32), regular and shifted, a subset of windows kept, padding. */
    @ParameterizedTest
    @CsvSource({"56,56,7,0,3", "56,56,7,3,3", "13,19,7,3,6", "7,7,7,0,24", "24,24,12,6,4"})
    void windowAttentionMatchesTheJavaPath(int h, int w, int win, int shift, int heads) {
        int b = 2;
        int c = heads * 32;
        WindowGrid g = WindowGrid.of(h, w, win, shift);
        int nW = g.numWindows();
        int n = g.windowTokens();
        int k = Math.max(1, nW * 2 / 3);
        HostTensor qkv = random(11, b, k, n, 3 * c);
        HostTensor table = random(12, (2 * win - 1) * (2 * win - 1), heads);
        int[] order = CpuBackendTest.shuffledOrder(13, b, nW);
        float[][] outs = new float[2][];
        CpuBackend[] backends = {fast, java};
        for (int i = 0; i < 2; i++) {
            CpuBackend be = backends[i];
            try (Tensor qt = be.upload(qkv); Tensor tt = be.upload(table); Tensor ot = be.uploadInts(order, b, nW);
                 Tensor out = be.empty(DType.F32, b, k, n, c)) {
                be.windowAttention(qt, tt, heads, g, ot, k, out);
                outs[i] = be.download(out).data();
            }
        }
        for (int i = 0; i < outs[0].length; i++) {
            assertEquals(outs[1][i], outs[0][i], 2e-6 * Math.max(1, Math.abs(outs[1][i])), "element " + i);
        }
    }

    /** Swin-T's LayerNorm widths (and one that is not a multiple of 8, which stays on the Java path). */
    @ParameterizedTest
    @CsvSource({"3136,96", "49,768", "196,384", "5,36"})
    void layerNormMatchesTheJavaPath(int m, int c) {
        HostTensor x = random(21, m, c);
        for (int i = 0; i < x.data().length; i += 7) {
            x.data()[i] += 30; // a mean far from 0, as in residual streams
        }
        HostTensor g = random(22, c);
        HostTensor b = random(23, c);
        float[][] outs = new float[2][];
        CpuBackend[] backends = {fast, java};
        for (int i = 0; i < 2; i++) {
            CpuBackend be = backends[i];
            try (Tensor xt = be.upload(x); Tensor gt = be.upload(g); Tensor bt = be.upload(b);
                 Tensor out = be.empty(DType.F32, m, c)) {
                be.layerNorm(xt, gt, bt, 1e-5f, out);
                outs[i] = be.download(out).data();
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> be.layerNorm(xt, gt, bt, -1f, out));
                assertTrue(e.getMessage().startsWith("layerNorm: eps"), e.getMessage());
            }
        }
        for (int i = 0; i < outs[0].length; i++) {
            assertEquals(outs[1][i], outs[0][i], 1e-6 * Math.max(1, Math.abs(outs[1][i])), "element " + i);
        }
    }

    /** The expanded bias table is cached with the table and made again after the table is written. */
    @Test
    void attentionFollowsAWrittenBiasTable() {
        WindowGrid g = WindowGrid.of(14, 14, 7, 3);
        int heads = 2;
        int c = heads * 32;
        int nW = g.numWindows();
        HostTensor qkv = random(31, 1, nW, 49, 3 * c);
        HostTensor t1 = random(32, 169, heads);
        HostTensor t2 = random(33, 169, heads);
        int[] order = {0, 1, 2, 3};
        float[][] got = new float[2][];
        float[] want;
        try (Tensor qt = fast.upload(qkv); Tensor tt = fast.upload(t1); Tensor t2t = fast.upload(t2);
             Tensor ot = fast.uploadInts(order, 1, nW); Tensor out = fast.empty(DType.F32, 1, nW, 49, c)) {
            fast.windowAttention(qt, tt, heads, g, ot, nW, out);
            got[0] = fast.download(out).data();
            fast.copy(t2t, tt);
            fast.windowAttention(qt, tt, heads, g, ot, nW, out);
            got[1] = fast.download(out).data();
        }
        try (Tensor qt = java.upload(qkv); Tensor tt = java.upload(t2); Tensor ot = java.uploadInts(order, 1, nW);
             Tensor out = java.empty(DType.F32, 1, nW, 49, c)) {
            java.windowAttention(qt, tt, heads, g, ot, nW, out);
            want = java.download(out).data();
        }
        double changed = 0;
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[1][i], 2e-6 * Math.max(1, Math.abs(want[i])), "element " + i);
            changed = Math.max(changed, Math.abs(got[0][i] - got[1][i]));
        }
        assertTrue(changed > 1e-3, "the second table changed nothing");
    }

    @Test
    void anInvalidKernelChoiceIsRejected() {
        String old = System.getProperty(CpuNative.PROPERTY);
        System.setProperty(CpuNative.PROPERTY, "fastest");
        try {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, CpuBackend::new);
            assertTrue(e.getMessage().contains("sparsevit.cpu.kernels must be native or java"), e.getMessage());
        } finally {
            if (old == null) {
                System.clearProperty(CpuNative.PROPERTY);
            } else {
                System.setProperty(CpuNative.PROPERTY, old);
            }
        }
    }
}
