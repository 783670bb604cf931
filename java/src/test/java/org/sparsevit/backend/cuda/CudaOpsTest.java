package org.sparsevit.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.function.Supplier;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.sparsevit.SparseVitException;
import org.sparsevit.backend.Backend;
import org.sparsevit.backend.Precision;
import org.sparsevit.backend.WindowGrid;
import org.sparsevit.backend.cpu.CpuBackend;
import org.sparsevit.io.Half;
import org.sparsevit.model.MergeOrder;
import org.sparsevit.tensor.DType;
import org.sparsevit.tensor.HostTensor;
import org.sparsevit.tensor.Tensor;

/**
 * Every CUDA op against its CPU twin ({@link CpuBackend}). Tolerances, relative to max|ref|: data movement
 * and the importance/sort chain bitwise; FP32 math 1e-5; F16/BF16 storage and 16-bit GEMM modes 1e-2.
 * For F16/BF16 the CPU runs in F32 on the same inputs rounded to the storage type.
 * Skipped, with the reason, where no GPU is usable.
 */
@Tag("gpu")
class CudaOpsTest {
    static CpuBackend cpu;
    static CudaBackend gpu;

    static final DType[] FLOATS = {DType.F32, DType.F16, DType.BF16};

    @BeforeAll
    static void up() {
        // no assumption here: an aborted class would vanish from the report; each test is skipped with the reason
        if (CudaBackend.unavailableReason() == null) {
            cpu = new CpuBackend();
            gpu = new CudaBackend();
        }
    }

    @BeforeEach
    void requireGpu() {
        assumeTrue(gpu != null, "no usable GPU: " + CudaBackend.unavailableReason());
    }

    @AfterAll
    static void down() {
        if (gpu != null) {
            gpu.close();
        }
        if (cpu != null) {
            cpu.close();
        }
    }

    // ------------------------------------------------------------------------------------- helpers

    static HostTensor random(long seed, int... shape) {
        HostTensor t = HostTensor.zeros(shape);
        Random r = new Random(seed);
        for (int i = 0; i < t.data().length; i++) {
            t.data()[i] = (float) r.nextGaussian();
        }
        return t;
    }

    /** Per image a random permutation of the nW window numbers. */
    static int[] order(long seed, int b, int nW) {
        int[] all = new int[b * nW];
        Random r = new Random(seed);
        for (int bb = 0; bb < b; bb++) {
            List<Integer> l = new ArrayList<>();
            for (int i = 0; i < nW; i++) {
                l.add(i);
            }
            Collections.shuffle(l, r);
            for (int i = 0; i < nW; i++) {
                all[bb * nW + i] = l.get(i);
            }
        }
        return all;
    }

    /** Values rounded to a storage type (exactly what the GPU holds after uploading them as that type). */
    static HostTensor rounded(HostTensor h, DType dt) {
        float[] v = h.data().clone();
        for (int i = 0; i < v.length; i++) {
            if (dt == DType.F16) {
                v[i] = Half.toFloat(Half.fromFloat(v[i]));
            } else if (dt == DType.BF16) {
                v[i] = Half.bf16ToFloat(Half.floatToBf16(v[i]));
            }
        }
        return new HostTensor(v, h.shape());
    }

    @FunctionalInterface
    interface OpBody {
        void run(Backend be, List<Tensor> in, Tensor order, Tensor out);
    }

    /**
     * Runs op on the CPU (F32, inputs rounded to dt) and on the GPU (inputs stored as dt, output as outDt
     * or dt when null); outShape null means the op works in place on its first input. Returns {cpu, gpu}.
     */
    static HostTensor[] both(DType dt, DType outDt, int[] outShape, HostTensor[] inputs, int[] ints, int[] intShape,
                             OpBody op) {
        HostTensor[] res = new HostTensor[2];
        Backend[] bes = {cpu, gpu};
        for (int i = 0; i < 2; i++) {
            Backend be = bes[i];
            boolean onGpu = be == gpu;
            List<Tensor> ts = new ArrayList<>();
            Tensor ord = null;
            Tensor out = null;
            try {
                for (HostTensor h : inputs) {
                    ts.add(onGpu ? be.upload(h, dt) : be.upload(rounded(h, dt)));
                }
                ord = ints == null ? null : be.uploadInts(ints, intShape);
                if (outShape != null) {
                    out = be.zeros(onGpu ? (outDt == null ? dt : outDt) : DType.F32, outShape);
                }
                op.run(be, ts, ord, out);
                res[i] = be.download(out == null ? ts.get(0) : out);
            } finally {
                ts.forEach(Tensor::close);
                if (ord != null) {
                    ord.close();
                }
                if (out != null) {
                    out.close();
                }
            }
        }
        return res;
    }

    static HostTensor[] both(int[] outShape, HostTensor[] inputs, int[] ints, int[] intShape, OpBody op) {
        return both(DType.F32, null, outShape, inputs, ints, intShape, op);
    }

    static void bitwise(String what, HostTensor[] r) {
        assertArrayEquals(r[0].shape(), r[1].shape(), what + ": shape");
        float[] a = r[0].data();
        float[] b = r[1].data();
        for (int i = 0; i < a.length; i++) {
            if (Float.floatToRawIntBits(a[i]) != Float.floatToRawIntBits(b[i])) {
                throw new AssertionError(what + ": element " + i + " differs: cpu " + a[i] + ", gpu " + b[i]);
            }
        }
    }

    /** Equal values, any NaN equal to any NaN (Float.floatToIntBits). */
    static void sameValues(String what, HostTensor want, HostTensor got) {
        float[] a = want.data();
        float[] b = got.data();
        for (int i = 0; i < a.length; i++) {
            if (Float.floatToIntBits(a[i]) != Float.floatToIntBits(b[i])) {
                throw new AssertionError(what + ": element " + i + " is " + b[i] + ", expected " + a[i]);
            }
        }
    }

    /** max|gpu - cpu| <= tol * max|cpu| (and exact equality where the reference is all zeros). */
    static void close(String what, HostTensor[] r, double tol) {
        assertArrayEquals(r[0].shape(), r[1].shape(), what + ": shape");
        double ref = r[0].maxAbs();
        double diff = 0;
        float[] a = r[0].data();
        float[] b = r[1].data();
        for (int i = 0; i < a.length; i++) {
            double d = Math.abs((double) a[i] - b[i]);
            if (Double.isNaN(d)) {
                throw new AssertionError(what + ": NaN at element " + i + " (cpu " + a[i] + ", gpu " + b[i] + ")");
            }
            diff = Math.max(diff, d);
        }
        double bound = tol * ref;
        assertTrue(diff <= bound, String.format(Locale.ROOT, "%s: max|gpu - cpu| = %.3g exceeds %.3g (max|ref| = %.3g)",
                what, diff, bound, ref));
    }

    static double tol(DType dt) {
        return dt == DType.F32 ? 1e-5 : 1e-2;
    }

    /** k values from 0 to nW: empty, one window, a third, all but one, all. */
    static int[] keeps(int nW) {
        return new int[]{0, 1, nW / 3, nW - 1, nW};
    }

    // ------------------------------------------------------------------------------------- windows

    @ParameterizedTest(name = "{0}x{1} window {2} shift {3} bias window {4}")
    @CsvSource({"14,14,7,0,7", "14,14,7,3,7", "13,19,7,0,7", "13,19,7,3,7", "50,75,7,3,7", "24,24,12,6,12",
            "25,38,12,6,12", "7,10,7,3,7", "5,5,5,0,7", "3,9,7,0,7"})
    void windowDataMovementIsBitwise(int h, int w, int win, int shift, int biasWindow) {
        int b = 2;
        int c = 40;
        WindowGrid g = new WindowGrid(h, w, win, shift, biasWindow);
        int nW = g.numWindows();
        int n = g.windowTokens();
        int[] ord = order(3, b, nW);
        HostTensor x = random(1, b, h * w, c);
        for (DType dt : FLOATS) {
            for (int k : keeps(nW)) {
                String what = dt + " k=" + k + "/" + nW;
                bitwise("gather " + what, both(dt, null, new int[]{b, k, n, c}, new HostTensor[]{x}, ord,
                        new int[]{b, nW}, (be, in, o, out) -> be.gatherWindows(in.get(0), g, o, k, out)));
                HostTensor tile = random(2 + k, b, k, n, c);
                bitwise("scatter " + what, both(dt, null, null, new HostTensor[]{x, tile}, ord, new int[]{b, nW},
                        (be, in, o, out) -> be.scatterWindows(in.get(1), g, o, k, in.get(0))));
                bitwise("zeroPadding " + what, both(dt, null, null, new HostTensor[]{tile}, ord, new int[]{b, nW},
                        (be, in, o, out) -> be.zeroPadding(in.get(0), g, o, k)));
            }
            // natural order (no list)
            bitwise("gather natural " + dt, both(dt, null, new int[]{b, nW, n, c}, new HostTensor[]{x}, null, null,
                    (be, in, o, out) -> be.gatherWindows(in.get(0), g, null, nW, out)));
        }
        // gather fused with norm1: the tile bitwise, the normalised tile as LayerNorm of it, both padding modes
        HostTensor gamma = random(6, c);
        HostTensor beta = random(7, c);
        for (DType dt : FLOATS) {
            for (int k : keeps(nW)) {
                for (boolean zeroPadded : new boolean[]{false, true}) {
                    String what = dt + " k=" + k + "/" + nW + (zeroPadded ? " zero padded" : "");
                    bitwise("gatherLayerNorm tile " + what, both(dt, null, new int[]{b, k, n, c},
                            new HostTensor[]{x, gamma, beta}, ord, new int[]{b, nW}, (be, in, o, out) -> {
                                try (Tensor t = be.empty(out.dtype(), b, k, n, c)) {
                                    be.gatherLayerNorm(in.get(0), g, o, k, in.get(1), in.get(2), 1e-5f, zeroPadded, out, t);
                                }
                            }));
                    close("gatherLayerNorm " + what, both(dt, null, new int[]{b, k, n, c},
                            new HostTensor[]{x, gamma, beta}, ord, new int[]{b, nW}, (be, in, o, out) -> {
                                try (Tensor t = be.empty(out.dtype(), b, k, n, c)) {
                                    be.gatherLayerNorm(in.get(0), g, o, k, in.get(1), in.get(2), 1e-5f, zeroPadded, t, out);
                                }
                            }), tol(dt));
                }
            }
        }
        // an odd channel count takes the narrow copy units
        HostTensor x3 = random(5, b, h * w, 3);
        bitwise("gather C=3", both(new int[]{b, nW, n, 3}, new HostTensor[]{x3}, null, null,
                (be, in, o, out) -> be.gatherWindows(in.get(0), g, null, nW, out)));
        // a dense block's tile handed to the next block's grid (the other shift, or the same): padding rows of the
        // source hold values, which must not be read
        for (int fromShift : new int[]{0, win / 2, shift}) {
            WindowGrid from = new WindowGrid(h, w, win, fromShift, biasWindow);
            for (int ch : new int[]{c, 3}) {
                HostTensor src = random(8 + fromShift, b, from.numWindows(), n, ch);
                for (DType dt : FLOATS) {
                    bitwise("rewindow from shift " + fromShift + " C=" + ch + " " + dt, both(dt, null,
                            new int[]{b, nW, n, ch}, new HostTensor[]{src}, null, null,
                            (be, in, o, out) -> be.rewindowWindows(in.get(0), from, g, out)));
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}x{1} window {2} shift {3} bias window {4}, C {5}, heads {6}")
    @CsvSource({"14,14,7,0,7,64,2", "14,14,7,3,7,96,3", "13,19,7,3,7,64,2", "50,75,7,3,7,32,1", "24,24,12,6,12,64,2",
            "25,38,12,6,12,96,3", "7,10,7,3,7,128,2", "5,5,5,0,7,48,3", "14,14,7,3,7,48,3", "24,24,12,6,12,128,2"})
    void windowAttention(int h, int w, int win, int shift, int biasWindow, int c, int heads) {
        int b = 2;
        WindowGrid g = new WindowGrid(h, w, win, shift, biasWindow);
        int nW = g.numWindows();
        int n = g.windowTokens();
        int tw = 2 * biasWindow - 1;
        int[] ord = order(7, b, nW);
        HostTensor table = random(5, tw * tw, heads);
        for (DType dt : FLOATS) {
            for (int k : keeps(nW)) {
                HostTensor qkv = random(4 + k, b, k, n, 3 * c);
                if (k == 0) {
                    continue;
                }
                close("attention " + dt + " k=" + k + "/" + nW, both(dt, null, new int[]{b, k, n, c},
                        new HostTensor[]{qkv, table}, ord, new int[]{b, nW},
                        (be, in, o, out) -> be.windowAttention(in.get(0), in.get(1), heads, g, o, k, out)), tol(dt));
            }
        }
        HostTensor qkv = random(9, b, nW, n, 3 * c);
        close("attention natural order", both(new int[]{b, nW, n, c}, new HostTensor[]{qkv, table}, null, null,
                (be, in, o, out) -> be.windowAttention(in.get(0), in.get(1), heads, g, null, nW, out)), 1e-5);
    }

    /**
     * The fused kernel's F16/BF16 error (against float64 attention of the same stored inputs) is at most
     * twice that of the unfused same-precision path, emulated on the host as PyTorch eager runs it: q * scale,
     * q k^T, + bias, + mask, softmax and p v each stored in the type.
     */
    @ParameterizedTest(name = "{0}x{1} window {2} shift {3}, C {5}, heads {6}")
    @CsvSource({"14,14,7,3,7,96,3", "13,19,7,3,7,64,2", "24,24,12,6,12,64,2", "14,14,7,0,7,72,3"})
    void fusedAttentionErrorWithinTwiceTheUnfusedPath(int h, int w, int win, int shift, int biasWindow, int c, int heads) {
        int b = 2;
        WindowGrid g = new WindowGrid(h, w, win, shift, biasWindow);
        int nW = g.numWindows();
        int n = g.windowTokens();
        int d = c / heads;
        int k = Math.max(1, nW / 2);
        int[] ord = order(17, b, nW);
        int tw = 2 * biasWindow - 1;
        for (DType dt : new DType[]{DType.F16, DType.BF16}) {
            HostTensor qkv = rounded(random(18, b, k, n, 3 * c), dt);
            HostTensor table = rounded(random(19, tw * tw, heads), dt);
            float[] fused;
            try (Tensor q = gpu.upload(qkv, dt); Tensor t = gpu.upload(table, dt); Tensor o = gpu.uploadInts(ord, b, nW);
                 Tensor out = gpu.empty(dt, b, k, n, c)) {
                gpu.windowAttention(q, t, heads, g, o, k, out);
                fused = gpu.download(out).data();
            }
            float[] x = qkv.data();
            float[] tb = table.data();
            float scale = (float) (1.0 / Math.sqrt(d));
            double errFused = 0;
            double errUnfused = 0;
            for (int bb = 0; bb < b; bb++) {
                for (int j = 0; j < k; j++) {
                    int win0 = ord[bb * nW + j];
                    int base = (bb * k + j) * n * 3 * c;
                    for (int hh = 0; hh < heads; hh++) {
                        for (int qi = 0; qi < n; qi++) {
                            double[] s64 = new double[n];
                            float[] s16 = new float[n];
                            double mx64 = Double.NEGATIVE_INFINITY;
                            float mx16 = Float.NEGATIVE_INFINITY;
                            for (int ki = 0; ki < n; ki++) {
                                double a = 0;
                                float a16 = 0;
                                for (int e = 0; e < d; e++) {
                                    float qv = x[base + qi * 3 * c + hh * d + e];
                                    float kv = x[base + ki * 3 * c + c + hh * d + e];
                                    a += (double) qv * scale * kv;
                                    a16 += store(qv * scale, dt) * kv;
                                }
                                float bias = tb[g.biasRow(qi, ki) * heads + hh];
                                float mask = g.region(win0, qi) != g.region(win0, ki) ? -100f : 0f;
                                s64[ki] = a + bias + mask;
                                s16[ki] = store(store(store(a16, dt) + bias, dt) + mask, dt);
                                mx64 = Math.max(mx64, s64[ki]);
                                mx16 = Math.max(mx16, s16[ki]);
                            }
                            double sum64 = 0;
                            float sum16 = 0;
                            for (int ki = 0; ki < n; ki++) {
                                s64[ki] = Math.exp(s64[ki] - mx64);
                                sum64 += s64[ki];
                                s16[ki] = (float) Math.exp(s16[ki] - mx16);
                                sum16 += s16[ki];
                            }
                            for (int e = 0; e < d; e++) {
                                double o64 = 0;
                                float o16 = 0;
                                for (int ki = 0; ki < n; ki++) {
                                    float vv = x[base + ki * 3 * c + 2 * c + hh * d + e];
                                    o64 += s64[ki] / sum64 * vv;
                                    o16 += store(s16[ki] / sum16, dt) * vv;
                                }
                                int at = ((bb * k + j) * n + qi) * c + hh * d + e;
                                errFused = Math.max(errFused, Math.abs(fused[at] - o64));
                                errUnfused = Math.max(errUnfused, Math.abs(store(o16, dt) - o64));
                            }
                        }
                    }
                }
            }
            assertTrue(errFused <= 2 * errUnfused, String.format(Locale.ROOT,
                    "%s: fused error %.3g exceeds twice the unfused path's %.3g", dt, errFused, errUnfused));
        }
    }

    private static float store(float v, DType dt) {
        return dt == DType.F16 ? Half.toFloat(Half.fromFloat(v)) : Half.bf16ToFloat(Half.floatToBf16(v));
    }

    @Test
    void attentionLimitsFailWithTheOpName() {
        WindowGrid g = WindowGrid.of(26, 26, 13, 0);
        try (Tensor qkv = gpu.zeros(DType.F32, 1, 4, 169, 288); Tensor table = gpu.zeros(DType.F32, 25 * 25, 3);
             Tensor out = gpu.zeros(DType.F32, 1, 4, 169, 96)) {
            SparseVitException e = assertThrows(SparseVitException.class,
                    () -> gpu.windowAttention(qkv, table, 3, g, null, 4, out));
            assertTrue(e.getMessage().contains("windowAttention") && e.getMessage().contains("169 tokens"), e.getMessage());
        }
    }

    // ------------------------------------------------------------------------------------- importance

    @ParameterizedTest(name = "{0}x{1} window {2} shift {3}")
    @CsvSource({"14,14,7,0", "14,14,7,3", "13,19,7,3", "50,75,7,3", "24,24,12,6", "7,10,7,3", "256,512,7,3",
            "5,6,7,3", "17,23,8,4", "3,4,1,0"})
    void importanceChainIsBitwise(int h, int w, int win, int shift) {
        int b = 2;
        WindowGrid g = WindowGrid.of(h, w, win, shift);
        HostTensor x = random(6, b, h * w, 96);
        for (DType dt : FLOATS) {
            bitwise("tokenImportance " + dt, both(dt, DType.F32, new int[]{b, h * w}, new HostTensor[]{x}, null, null,
                    (be, in, o, out) -> be.tokenImportance(in.get(0), out)));
        }
        HostTensor a = random(7, b, h * w);
        bitwise("windowScores", both(new int[]{b, g.numWindows()}, new HostTensor[]{a}, null, null,
                (be, in, o, out) -> be.windowScores(in.get(0), g, out)));
    }

    @ParameterizedTest(name = "{0} images of {1} windows")
    @CsvSource({"1,1", "1,6", "4,9", "3,33", "4,36", "2,88", "4,144", "4,576", "2,1025", "1,2738", "2,4096", "2,4097",
            "1,9000", "2,42778", "3,20000", "1,43071"})
    void sortMatchesCpuIncludingTiesAndSpecialValues(int b, int nW) {
        HostTensor s = random(11, b, nW);
        float[] v = s.data();
        for (int i = 0; i < v.length; i += 7) {
            v[i] = 0.5f; // many ties
        }
        float[] special = {Float.NaN, -0.0f, 0.0f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, -0.0f, 0.0f,
                Float.NaN, Float.intBitsToFloat(0x7fc00001), Float.MIN_VALUE, -Float.MIN_VALUE};
        for (int i = 0; i < special.length && 3 * i + 1 < v.length; i++) {
            v[3 * i + 1] = special[i];
        }
        assertSortsAlike(s, b, nW);
    }

    /** Mostly ties (seven distinct values, NaN and both zeros among them): the window number decides. */
    @ParameterizedTest(name = "{0} images of {1} windows")
    @CsvSource({"2,9", "2,144", "4,576", "1,4096", "1,5000"})
    void sortOfFewDistinctScoresMatchesCpu(int b, int nW) {
        float[] few = {0.5f, -1.0f, 0.0f, -0.0f, Float.NaN, Float.POSITIVE_INFINITY, 2.0f};
        float[] v = new float[b * nW];
        for (int i = 0; i < v.length; i++) {
            v[i] = few[(int) (((i * 2654435761L) >>> 7) % 7)];
        }
        assertSortsAlike(new HostTensor(v, new int[]{b, nW}), b, nW);
    }

    private void assertSortsAlike(HostTensor s, int b, int nW) {
        int[][] res = new int[2][];
        Backend[] bes = {cpu, gpu};
        for (int i = 0; i < 2; i++) {
            try (Tensor st = bes[i].upload(s); Tensor o = bes[i].empty(DType.I32, b, nW)) {
                bes[i].sortWindows(st, o);
                res[i] = bes[i].downloadInts(o);
            }
        }
        assertEquals(b * nW, res[0].length);
        assertArrayEquals(res[0], res[1]);
    }

    // ------------------------------------------------------------------------------------- dense math

    /**
     * The cuBLASLt bias epilogue is on by default, runs these shapes, and agrees with cublasGemmEx + our bias
     * kernel. A fresh session each time.
     */
    @ParameterizedTest
    @EnumSource(names = {"F32", "F16", "BF16"})
    void cublasLtBiasEpilogueMatchesGemmExPlusBiasKernel(DType dt) {
        try (CudaBackend lt = new CudaBackend()) {
            cublasLtAgreesWithGemmEx(lt, dt);
        }
    }

    private void cublasLtAgreesWithGemmEx(CudaBackend lt, DType dt) {
        assertTrue(lt.gemmPath().startsWith("cuBLASLt"), "cuBLASLt is not in use: " + lt.gemmPath());
        String before = System.getProperty("sparsevit.cublaslt");
        System.setProperty("sparsevit.cublaslt", "false");
        CudaBackend plain;
        try {
            plain = new CudaBackend();
        } finally {
            if (before == null) {
                System.clearProperty("sparsevit.cublaslt");
            } else {
                System.setProperty("sparsevit.cublaslt", before);
            }
        }
        try (plain) {
            assertTrue(plain.gemmPath().startsWith("cublasGemmEx"), plain.gemmPath());
            HostTensor x = random(31, 2, 49, 96);
            HostTensor w = random(32, 288, 96);
            HostTensor b = random(33, 288);
            HostTensor r = random(34, 2, 49, 288);
            HostTensor[] got = new HostTensor[2];
            CudaBackend[] sessions = {lt, plain};
            for (int i = 0; i < 2; i++) {
                CudaBackend be = sessions[i];
                try (Tensor xt = be.upload(x, dt); Tensor wt = be.upload(w, dt); Tensor bt = be.upload(b, dt);
                     Tensor out = be.empty(dt, 2, 49, 288); Tensor res = be.upload(r, dt)) {
                    be.linear(xt, wt, bt, out);
                    be.linearResidual(xt, wt, bt, res);
                    be.add(out, res);
                    got[i] = be.download(out);
                }
            }
            assertEquals("cuBLASLt bias epilogue", lt.gemmPath(), "cuBLASLt failed on " + dt);
            // the two paths round differently: the epilogue stores x w^T + b (+ res) once, GemmEx + the bias
            // kernel after the GEMM and again after the bias. Between them nine roundings of at most half an
            // ulp each; in BF16 (8 bits) at |values| < 128 that is up to 9 x 0.25 = 2.25, 0.026 of max|ref| = 87
            // (the emulated device shows 1.0 apart)
            close("cuBLASLt vs cublasGemmEx " + dt, got, dt == DType.BF16 ? 3e-2 : tol(dt));
        }
    }

    /**
     * linearGelu under each setting of sparsevit.fusedGelu: auto runs the fused kernel (GEMM + bias + GELU in one)
     * for K up to 256, all for every K, off never; FP32 and shapes the kernel cannot take (K not a multiple of 8)
     * always take cuBLAS + the bias/GELU pass. Every path agrees with the CPU within the F16/BF16 tolerance.
     */
    @ParameterizedTest
    @EnumSource(names = {"F32", "F16", "BF16"})
    void fusedGeluFollowsItsSettingAndMatchesTheCpu(DType dt) {
        // Swin-T stage 0's fc1 (96 -> 384) on rows that fill no whole 128-row tile; K = 384 (above auto's bound),
        // N = 1536 (12 column tiles); K = 20 (no kernel); a bias-free layer
        int[][] shapes = {{300, 96, 384, 1}, {70, 384, 1536, 1}, {37, 20, 24, 1}, {129, 136, 8, 0}};
        for (String setting : new String[]{"auto", "all", "off"}) {
            try (CudaBackend s = sessionWith(CudaBackend.FUSED_GELU_PROPERTY, setting)) {
                assertTrue(s.mlpPath().endsWith("=" + setting + ")"), s.mlpPath());
                for (int[] sh : shapes) {
                    int rows = sh[0], k = sh[1], n = sh[2];
                    HostTensor x = random(41, rows, k);
                    HostTensor w = random(42, n, k);
                    HostTensor b = sh[3] == 1 ? random(43, n) : null;
                    HostTensor want = cpuLinearGelu(x, w, b, dt);
                    long before = s.fusedGeluLaunches();
                    HostTensor got;
                    try (Tensor xt = s.upload(x, dt); Tensor wt = s.upload(w, dt);
                         Tensor bt = b == null ? null : s.upload(b, dt); Tensor out = s.zeros(dt, rows, n)) {
                        s.linearGelu(xt, wt, bt, out);
                        got = s.download(out);
                    }
                    boolean fused = dt != DType.F32 && k % 8 == 0 && switch (setting) {
                        case "auto" -> k <= 256;
                        case "all" -> true;
                        default -> false;
                    };
                    String what = "linearGelu " + rows + "x" + k + "->" + n + " " + dt + " fusedGelu=" + setting;
                    assertEquals(fused ? 1 : 0, s.fusedGeluLaunches() - before, what + ": fused kernel launches");
                    close(what, new HostTensor[]{want, got}, tol(dt));
                }
                // on either path, a square layer cannot write over its own input
                try (Tensor sq = s.upload(random(44, 96, 96), dt); Tensor xt = s.upload(random(45, 20, 96), dt)) {
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                            () -> s.linearGelu(xt, sq, null, xt));
                    assertTrue(e.getMessage().startsWith("linearGelu: the output cannot be the input"), e.getMessage());
                }
            }
        }
    }

    /** After the fused kernel failed to launch, a session runs linearGelu on cuBLAS + the pass, and says why. */
    @ParameterizedTest
    @EnumSource(names = {"F16", "BF16"})
    void aFusedKernelThatCannotLaunchFallsBackToCublas(DType dt) {
        try (CudaBackend s = new CudaBackend()) {
            s.fusedGeluUnavailable("no kernel image is available for execution on the device");
            s.fusedGeluUnavailable("a second reason is not kept");
            assertEquals("cuBLAS + bias/GELU pass (the fused kernel failed to launch: no kernel image is available for"
                    + " execution on the device)", s.mlpPath());
            HostTensor x = random(51, 64, 96);
            HostTensor w = random(52, 384, 96);
            HostTensor b = random(53, 384);
            HostTensor want = cpuLinearGelu(x, w, b, dt);
            try (Tensor xt = s.upload(x, dt); Tensor wt = s.upload(w, dt); Tensor bt = s.upload(b, dt);
                 Tensor out = s.zeros(dt, 64, 384)) {
                s.linearGelu(xt, wt, bt, out);
                assertEquals(0, s.fusedGeluLaunches(), "the fused kernel ran after it was turned off");
                close("linearGelu after the fallback " + dt, new HostTensor[]{want, s.download(out)}, tol(dt));
            }
        }
    }

    /**
     * mlpResidual (norm2 + MLP + residual) under each setting of sparsevit.fusedMlp: auto runs one kernel for F16/BF16
     * and C a multiple of 32 up to 96, all up to 256 (what fits the device's shared memory), off never; FP32 and
     * other C take LayerNorm, linearGelu and linearResidual. Every path agrees with the CPU twin (the default's three
     * ops) within the F16/BF16 tolerance, and leaves only x changed where it fused (the scratch is the unfused
     * path's). These sessions fuse from one CTA of rows on (sparsevit.fusedMlpMinCtas=1), so that test-sized shapes
     * run the kernel; the default's bound is the next test's.
     */
    @ParameterizedTest
    @EnumSource(names = {"F32", "F16", "BF16"})
    void fusedMlpFollowsItsSettingAndMatchesTheCpu(DType dt) {
        // C = 96 (Swin-T stage 0, 128-row CTAs) on rows filling no whole CTA; 192 (stage 1, 64-row CTAs); 40 (no
        // kernel); 64 without biases; 256 (the largest C, 119 KB of shared memory)
        int[][] shapes = {{300, 96, 1}, {70, 192, 1}, {37, 40, 1}, {129, 64, 0}, {20, 256, 1}};
        for (String setting : new String[]{"auto", "all", "off"}) {
            try (CudaBackend s = sessionWith(CudaBackend.FUSED_MLP_PROPERTY, setting,
                    CudaBackend.FUSED_MLP_MIN_CTAS_PROPERTY, "1")) {
                assertTrue(s.mlpBlockPath().endsWith("=" + setting + ")"), s.mlpBlockPath());
                for (int[] sh : shapes) {
                    int rows = sh[0], c = sh[1], hd = 4 * c;
                    HostTensor[] in = mlpInputs(70 + c, rows, c, sh[2] == 1);
                    HostTensor want = cpuMlpResidual(in, dt);
                    long before = s.fusedMlpLaunches();
                    // the emulated device and the H100/H200 allow 227 KB a block: every C the kernel takes fits
                    boolean fused = dt != DType.F32 && c % 32 == 0 && switch (setting) {
                        case "auto" -> c <= 96;
                        case "all" -> true;
                        default -> false;
                    };
                    assertEquals(fused, s.mlpResidualFused(dt, rows, c, hd), "mlpResidualFused " + c + " " + dt);
                    HostTensor got;
                    HostTensor scratchAfter;
                    try (Tensor x = s.upload(in[0], dt); Tensor g = s.upload(in[1], dt); Tensor bt = s.upload(in[2], dt);
                         Tensor w1 = s.upload(in[3], dt); Tensor b1 = in[4] == null ? null : s.upload(in[4], dt);
                         Tensor w2 = s.upload(in[5], dt); Tensor b2 = in[6] == null ? null : s.upload(in[6], dt);
                         Tensor scratch = s.zeros(dt, rows, c)) {
                        s.mlpResidual(x, g, bt, 1e-5f, w1, b1, w2, b2, scratch);
                        got = s.download(x);
                        scratchAfter = s.download(scratch);
                    }
                    String what = "mlpResidual " + rows + "x" + c + " " + dt + " fusedMlp=" + setting;
                    assertEquals(fused ? 1 : 0, s.fusedMlpLaunches() - before, what + ": fused kernel launches");
                    close(what, new HostTensor[]{want, got}, tol(dt));
                    assertEquals(fused, scratchAfter.maxAbs() == 0, what + ": the scratch holds norm2 unless fused");
                }
            }
        }
        try (CudaBackend s = sessionWith(CudaBackend.FUSED_MLP_PROPERTY, "all")) {
            assertEquals("fused LayerNorm + MLP kernel for C <= 256 (multiples of 32) on at least 132 CTAs of rows,"
                    + " LayerNorm, linearGelu, linearResidual otherwise (sparsevit.fusedMlp=all)", s.mlpBlockPath());
            assertFalse(s.mlpResidualFused(dt, 1 << 20, 96, 96 * 4 + 32), "a hidden width that is no multiple of 64");
        }
    }

    /**
     * By default a fused mlpResidual needs a CTA of rows for every multiprocessor (the emulated device has 132, as an
     * H100/H200): Swin-T at batch 1 (3136 rows at C = 96: 25 CTAs of 128) keeps the three ops, batch 64 fuses.
     */
    @Test
    void fewRowsKeepTheThreeOps() {
        try (CudaBackend s = new CudaBackend()) {
            assertEquals("fused LayerNorm + MLP kernel for C <= 96 (multiples of 32) on at least 132 CTAs of rows,"
                    + " LayerNorm, linearGelu, linearResidual otherwise (sparsevit.fusedMlp=auto)", s.mlpBlockPath());
            assertFalse(s.mlpResidualFused(DType.F16, 3136, 96, 384), "Swin-T stage 0, batch 1");
            assertTrue(s.mlpResidualFused(DType.F16, 64 * 3136, 96, 384), "Swin-T stage 0, batch 64");
            assertTrue(s.mlpResidualFused(DType.BF16, 132 * 128, 96, 384), "132 CTAs");
            assertFalse(s.mlpResidualFused(DType.BF16, 132 * 128 - 128, 96, 384), "131 CTAs");
            assertFalse(s.mlpResidualFused(DType.F16, 1 << 20, 192, 768), "C = 192 is above auto's bound");
            HostTensor[] in = mlpInputs(95, 300, 96, true);
            HostTensor want = cpuMlpResidual(in, DType.F16);
            try (Tensor x = s.upload(in[0], DType.F16); Tensor g = s.upload(in[1], DType.F16);
                 Tensor bt = s.upload(in[2], DType.F16); Tensor w1 = s.upload(in[3], DType.F16);
                 Tensor b1 = s.upload(in[4], DType.F16); Tensor w2 = s.upload(in[5], DType.F16);
                 Tensor b2 = s.upload(in[6], DType.F16); Tensor scratch = s.zeros(DType.F16, 300, 96)) {
                s.mlpResidual(x, g, bt, 1e-5f, w1, b1, w2, b2, scratch);
                assertEquals(0, s.fusedMlpLaunches(), "300 rows are 3 CTAs");
                close("mlpResidual on 300 rows", new HostTensor[]{want, s.download(x)}, tol(DType.F16));
            }
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> sessionWith(CudaBackend.FUSED_MLP_MIN_CTAS_PROPERTY, "0").close());
        assertEquals("system property sparsevit.fusedMlpMinCtas='0' is not a positive integer", e.getMessage());
    }

    /**
     * The profiler times a fused mlpResidual as one op (fc1 and fc2 counted as GEMM rows), and the unfused one's
     * steps apart, on the same session.
     */
    @Test
    void theProfilerTimesAFusedMlpAsOneOpAndTheUnfusedStepsApart() {
        try (org.sparsevit.backend.ProfilingBackend p = new org.sparsevit.backend.ProfilingBackend(
                sessionWith(CudaBackend.FUSED_MLP_MIN_CTAS_PROPERTY, "1"))) {
            for (DType dt : new DType[]{DType.F16, DType.F32}) {
                HostTensor[] in = mlpInputs(91, 50, 96, true);
                Tensor[] t = new Tensor[in.length];
                try {
                    for (int i = 0; i < in.length; i++) {
                        t[i] = p.upload(in[i], dt);
                    }
                    try (Tensor scratch = p.zeros(dt, 50, 96)) {
                        p.reset();
                        p.mlpResidual(t[0], t[1], t[2], 1e-5f, t[3], t[4], t[5], t[6], scratch);
                    }
                } finally {
                    for (Tensor e : t) {
                        e.close();
                    }
                }
                java.util.Set<String> ops = p.stats().keySet();
                if (dt == DType.F16) {
                    assertEquals(java.util.Set.of("mlpResidual"), ops, dt.toString());
                } else {
                    assertTrue(ops.containsAll(List.of("layerNorm", "linearGelu", "linearResidual"))
                            && !ops.contains("mlpResidual"), ops + " " + dt);
                }
                assertEquals(100, p.gemmRows(), dt + ": fc1 and fc2 over 50 rows");
            }
        }
    }

    /** After the fused MLP kernel failed to launch, a session runs the three ops, and says why. */
    @Test
    void aFusedMlpThatCannotLaunchFallsBackToTheThreeOps() {
        DType dt = DType.F16;
        try (CudaBackend s = sessionWith(CudaBackend.FUSED_MLP_MIN_CTAS_PROPERTY, "1")) {
            assertTrue(s.mlpResidualFused(dt, 64, 96, 384), "fused before the failure");
            s.fusedMlpUnavailable("too many resources requested for launch");
            s.fusedMlpUnavailable("a second reason is not kept");
            assertEquals("LayerNorm, linearGelu, linearResidual (the fused kernel failed to launch: too many resources"
                    + " requested for launch)", s.mlpBlockPath());
            HostTensor[] in = mlpInputs(81, 64, 96, true);
            HostTensor want = cpuMlpResidual(in, dt);
            try (Tensor x = s.upload(in[0], dt); Tensor g = s.upload(in[1], dt); Tensor bt = s.upload(in[2], dt);
                 Tensor w1 = s.upload(in[3], dt); Tensor b1 = s.upload(in[4], dt); Tensor w2 = s.upload(in[5], dt);
                 Tensor b2 = s.upload(in[6], dt); Tensor scratch = s.zeros(dt, 64, 96)) {
                s.mlpResidual(x, g, bt, 1e-5f, w1, b1, w2, b2, scratch);
                assertEquals(0, s.fusedMlpLaunches(), "the fused kernel ran after it was turned off");
                close("mlpResidual after the fallback", new HostTensor[]{want, s.download(x)}, tol(dt));
            }
        }
    }

    /**
     * x [rows, C] (offset and scaled, for the LayerNorm to remove), gamma, beta [C], w1 [4C, C], b1 [4C] (or null),
     * w2 [C, 4C], b2 [C] (or null), weights scaled so that pre-activations are of order 1.
     */
    static HostTensor[] mlpInputs(long seed, int rows, int c, boolean biases) {
        HostTensor x = random(seed, rows, c);
        for (int i = 0; i < x.data().length; i++) {
            x.data()[i] = 2 * x.data()[i] + 0.5f;
        }
        HostTensor w1 = random(seed + 3, 4 * c, c);
        HostTensor w2 = random(seed + 5, c, 4 * c);
        for (int i = 0; i < w1.data().length; i++) {
            w1.data()[i] /= (float) Math.sqrt(c);
            w2.data()[i] /= (float) Math.sqrt(4 * c);
        }
        return new HostTensor[]{x, random(seed + 1, c), random(seed + 2, c), w1, biases ? random(seed + 4, 4 * c) : null,
                w2, biases ? random(seed + 6, c) : null};
    }

    /** The CPU twin of mlpResidual on mlpInputs rounded to dt: the updated x. */
    static HostTensor cpuMlpResidual(HostTensor[] in, DType dt) {
        Tensor[] t = new Tensor[in.length];
        try {
            for (int i = 0; i < in.length; i++) {
                t[i] = in[i] == null ? null : cpu.upload(rounded(in[i], dt));
            }
            try (Tensor scratch = cpu.zeros(DType.F32, in[0].shape())) {
                cpu.mlpResidual(t[0], t[1], t[2], 1e-5f, t[3], t[4], t[5], t[6], scratch);
            }
            return cpu.download(t[0]);
        } finally {
            for (Tensor e : t) {
                if (e != null) {
                    e.close();
                }
            }
        }
    }

    /** The CPU twin of linearGelu on x [rows, K], w [N, K] and bias (or null) rounded to dt: [rows, N]. */
    static HostTensor cpuLinearGelu(HostTensor x, HostTensor w, HostTensor b, DType dt) {
        try (Tensor xt = cpu.upload(rounded(x, dt)); Tensor wt = cpu.upload(rounded(w, dt));
             Tensor bt = b == null ? null : cpu.upload(rounded(b, dt));
             Tensor out = cpu.zeros(DType.F32, x.dim(0), w.dim(0))) {
            cpu.linearGelu(xt, wt, bt, out);
            return cpu.download(out);
        }
    }

    /** A fresh session made while a system property holds a value (restored afterwards). */
    static CudaBackend sessionWith(String property, String value) {
        return sessionWith(new String[]{property, value});
    }

    /** A fresh session made while system properties (name, value, name, value, ...) hold (restored afterwards). */
    static CudaBackend sessionWith(String... settings) {
        String[] before = new String[settings.length / 2];
        for (int i = 0; i < before.length; i++) {
            before[i] = System.getProperty(settings[2 * i]);
            System.setProperty(settings[2 * i], settings[2 * i + 1]);
        }
        try {
            return new CudaBackend();
        } finally {
            for (int i = 0; i < before.length; i++) {
                if (before[i] == null) {
                    System.clearProperty(settings[2 * i]);
                } else {
                    System.setProperty(settings[2 * i], before[i]);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"F32", "F16", "BF16"})
    void denseMath(DType dt) {
        double t = tol(dt);
        HostTensor x = random(1, 300, 96);
        HostTensor wt = random(2, 384, 96);
        HostTensor bias = random(3, 384);
        close("linear " + dt, both(dt, null, new int[]{300, 384}, new HostTensor[]{x, wt, bias}, null, null,
                (be, in, o, out) -> be.linear(in.get(0), in.get(1), in.get(2), out)), t);
        close("linear no bias " + dt, both(dt, null, new int[]{300, 384}, new HostTensor[]{x, wt}, null, null,
                (be, in, o, out) -> be.linear(in.get(0), in.get(1), null, out)), t);
        close("linear [N, K1, K2] weight " + dt, both(dt, null, new int[]{2, 5, 8}, new HostTensor[]{random(12, 2, 5, 12),
                random(13, 8, 3, 4)}, null, null, (be, in, o, out) -> be.linear(in.get(0), in.get(1), null, out)), t);
        close("linearGelu " + dt, both(dt, null, new int[]{300, 384}, new HostTensor[]{x, wt, bias}, null, null,
                (be, in, o, out) -> be.linearGelu(in.get(0), in.get(1), in.get(2), out)), t);
        close("linearGelu no bias " + dt, both(dt, null, new int[]{300, 384}, new HostTensor[]{x, wt}, null, null,
                (be, in, o, out) -> be.linearGelu(in.get(0), in.get(1), null, out)), t);
        HostTensor g = random(4, 96);
        HostTensor beta = random(5, 96);
        close("layerNorm " + dt, both(dt, null, new int[]{300, 96}, new HostTensor[]{x, g, beta}, null, null,
                (be, in, o, out) -> be.layerNorm(in.get(0), in.get(1), in.get(2), 1e-5f, out)), t);
        close("layerNorm in place " + dt, both(dt, null, null, new HostTensor[]{x, g, beta}, null, null,
                (be, in, o, out) -> be.layerNorm(in.get(0), in.get(1), in.get(2), 1e-5f, in.get(0))), t);
        HostTensor wide = random(14, 7, 1536);
        close("layerNorm C=1536 " + dt, both(dt, null, new int[]{7, 1536}, new HostTensor[]{wide, random(15, 1536),
                random(16, 1536)}, null, null, (be, in, o, out) -> be.layerNorm(in.get(0), in.get(1), in.get(2), 1e-5f, out)), t);
        HostTensor res = random(12, 300, 96);
        close("addLayerNorm " + dt, both(dt, null, new int[]{300, 96}, new HostTensor[]{x, res, g, beta}, null, null,
                (be, in, o, out) -> be.addLayerNorm(in.get(0), in.get(1), in.get(2), in.get(3), 1e-5f, out)), t);
        close("addLayerNorm residual " + dt, both(dt, null, null, new HostTensor[]{x, res, g, beta}, null, null,
                (be, in, o, out) -> {
                    try (Tensor tmp = be.empty(in.get(0).dtype(), 300, 96)) {
                        be.addLayerNorm(in.get(0), in.get(1), in.get(2), in.get(3), 1e-5f, tmp);
                    }
                }), t);
        close("addLayerNorm out = a " + dt, both(dt, null, null, new HostTensor[]{x, res, g, beta}, null, null,
                (be, in, o, out) -> be.addLayerNorm(in.get(0), in.get(1), in.get(2), in.get(3), 1e-5f, in.get(0))), t);
        close("linearResidual " + dt, both(dt, null, new int[]{300, 96}, new HostTensor[]{random(17, 300, 384),
                random(18, 96, 384), random(19, 96), res}, null, null, (be, in, o, out) -> {
                    be.copy(in.get(3), out);
                    be.linearResidual(in.get(0), in.get(1), in.get(2), out);
                }), t);
        close("linearResidual no bias " + dt, both(dt, null, new int[]{300, 96}, new HostTensor[]{random(17, 300, 384),
                random(18, 96, 384), res}, null, null, (be, in, o, out) -> {
                    be.copy(in.get(2), out);
                    be.linearResidual(in.get(0), in.get(1), null, out);
                }), t);
        close("gelu " + dt, both(dt, null, null, new HostTensor[]{x}, null, null, (be, in, o, out) -> be.gelu(in.get(0))), t);
        close("add " + dt, both(dt, null, null, new HostTensor[]{x, random(9, 300, 96)}, null, null,
                (be, in, o, out) -> be.add(in.get(0), in.get(1))), t);
        HostTensor seq = random(6, 2, 150, 96);
        HostTensor[] pooled = both(dt, null, new int[]{2, 96}, new HostTensor[]{seq}, null, null,
                (be, in, o, out) -> be.meanPool(in.get(0), out));
        if (dt == DType.F32) {
            bitwise("meanPool", pooled);
        } else {
            close("meanPool " + dt, pooled, t);
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"TF32", "FP16", "BF16"})
    void tensorCoreGemmModes(Precision p) {
        HostTensor x = random(1, 300, 96);
        HostTensor wt = random(2, 384, 96);
        HostTensor bias = random(3, 384);
        HostTensor[] r = new HostTensor[2];
        try (Tensor xc = cpu.upload(x); Tensor wc = cpu.upload(wt); Tensor bc = cpu.upload(bias);
             Tensor oc = cpu.empty(DType.F32, 300, 384)) {
            cpu.linear(xc, wc, bc, oc);
            r[0] = cpu.download(oc);
        }
        try (CudaBackend s = new CudaBackend(p); Tensor xg = s.upload(x); Tensor wg = s.upload(wt);
             Tensor bg = s.upload(bias); Tensor og = s.empty(DType.F32, 300, 384)) {
            assertEquals(p, s.precision());
            s.linear(xg, wg, bg, og);
            r[1] = s.download(og);
        }
        close("linear " + p, r, 1e-2);
    }

    // ------------------------------------------------------------------------------------- structure

    @ParameterizedTest
    @CsvSource({"CONCAT,25,38", "UNFOLD,25,38", "CONCAT,14,14", "UNFOLD,7,10", "CONCAT,1,1", "UNFOLD,3,1"})
    void patchMergeAndChannelsFirstAreBitwise(MergeOrder order, int h, int w) {
        HostTensor x = random(7, 2, h * w, 32);
        for (DType dt : FLOATS) {
            bitwise("patchMerge " + order + " " + dt, both(dt, null, new int[]{2, ((h + 1) / 2) * ((w + 1) / 2), 128},
                    new HostTensor[]{x}, null, null, (be, in, o, out) -> be.patchMerge(in.get(0), h, w, order, out)));
            bitwise("toChannelsFirst " + dt, both(dt, null, new int[]{2, 32, h, w}, new HostTensor[]{x}, null, null,
                    (be, in, o, out) -> be.toChannelsFirst(in.get(0), h, w, out)));
        }
        HostTensor wide = random(8, 1, h * w, 77);
        bitwise("toChannelsFirst C=77", both(new int[]{1, 77, h, w}, new HostTensor[]{wide}, null, null,
                (be, in, o, out) -> be.toChannelsFirst(in.get(0), h, w, out)));
    }

    @ParameterizedTest
    @CsvSource({"50,75", "224,224", "13,6"})
    void patchEmbedding(int h, int w) {
        HostTensor img = random(8, 2, 3, h, w);
        HostTensor wt = random(9, 32, 3, 4, 4);
        HostTensor bias = random(10, 32);
        for (DType dt : FLOATS) {
            close("patchEmbed " + dt, both(dt, null, new int[]{2, ((h + 3) / 4) * ((w + 3) / 4), 32},
                    new HostTensor[]{img, wt, bias}, null, null,
                    (be, in, o, out) -> be.patchEmbed(in.get(0), in.get(1), in.get(2), 4, out)), tol(dt));
        }
    }

    // ------------------------------------------------------------------------------------- memory, casts, graphs

    @Test
    void uploadsCastsAndDownloadsRoundToNearestEven() {
        HostTensor x = random(21, 1000);
        float[] special = {65520f /* rounds to F16 infinity */, 1e-6f /* an F16 subnormal */, Float.NaN, -0.0f,
                Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 1 + 0x1p-11f /* F16 tie, to even */,
                1 + 3 * 0x1p-11f /* F16 tie, up */, 1 + 0x1p-8f /* BF16 tie */, 1 + 3 * 0x1p-8f, 0x1p-25f /* F16 tie to 0 */,
                0x1.8p-25f, 65504f, 65519.99f, Float.MIN_VALUE /* F32 subnormal: BF16 keeps it */, -0x1p-130f,
                Float.MAX_VALUE /* BF16 rounds to infinity */};
        System.arraycopy(special, 0, x.data(), 0, special.length);
        for (DType dt : new DType[]{DType.F16, DType.BF16}) {
            HostTensor want = rounded(x, dt);
            try (Tensor up = gpu.upload(x, dt); Tensor full = gpu.upload(x); Tensor cast = gpu.empty(dt, 1000);
                 Tensor back = gpu.empty(DType.F32, 1000)) {
                // uploads and downloads convert on the device, rounding as the host does (Half); only NaN
                // payloads may differ (CUDA's canonical NaN is 0x7fff)
                sameValues("upload " + dt, want, gpu.download(up));
                gpu.cast(full, cast);
                sameValues("cast F32 -> " + dt, want, gpu.download(cast));
                gpu.cast(cast, back);
                sameValues("cast " + dt + " -> F32", want, gpu.download(back));
            }
        }
        int[] ints = {1, -2, 3, Integer.MAX_VALUE, Integer.MIN_VALUE, 0};
        try (Tensor t = gpu.uploadInts(ints, 2, 3); Tensor c = gpu.empty(DType.I32, 2, 3)) {
            gpu.copy(t, c);
            assertArrayEquals(ints, gpu.downloadInts(c));
        }
        try (Tensor z = gpu.zeros(DType.BF16, 3, 5)) {
            assertArrayEquals(new float[15], gpu.download(z).data());
        }
    }

    /**
     * Transfers larger than one piece (CudaBackend.COPY_CHUNK bytes, F16/BF16 converting through a scratch of that
     * size): every element lands in its place, across the pieces' boundaries.
     */
    @Test
    void transfersLargerThanOnePieceArriveWhole() {
        int n = (int) (CudaBackend.COPY_CHUNK / 4) * 2 + 12345; // three pieces of float32
        HostTensor x = random(22, n);
        for (DType dt : FLOATS) {
            try (Tensor up = gpu.upload(x, dt)) {
                sameValues("upload and download of " + n + " values at " + dt, rounded(x, dt), gpu.download(up));
            }
        }
        int[] ints = new int[n];
        for (int i = 0; i < n; i++) {
            ints[i] = i * 0x9E3779B1; // spread over the whole int range, negatives included
        }
        try (Tensor t = gpu.uploadInts(ints, n)) {
            assertArrayEquals(ints, gpu.downloadInts(t));
        }
    }

    /**
     * An upload is complete when it returns, at every storage type: another session (its own stream) may read the
     * tensor at once, as sessions sharing a model's weights do. F16/BF16 uploads end with a cast kernel on the
     * uploading session's stream; the emulated device defers stream work until something waits for it, so a
     * missing wait shows here as the other stream reading the tensor before the cast wrote it.
     */
    @Test
    void anUploadIsCompleteForOtherSessionsWhenItReturns() {
        HostTensor x = random(23, 4, 257);
        try (CudaBackend other = new CudaBackend()) {
            for (DType dt : new DType[]{DType.F32, DType.F16, DType.BF16}) {
                try (Tensor up = gpu.upload(x, dt); Tensor copy = other.empty(dt, 4, 257)) {
                    other.copy(up, copy);
                    sameValues("read by another session after an upload to " + dt, rounded(x, dt), other.download(copy));
                }
            }
        }
    }

    @Test
    void mixedDtypesAreRejectedWithTheOpName() {
        try (Tensor a = gpu.zeros(DType.F32, 4, 8); Tensor b = gpu.zeros(DType.F16, 4, 8)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> gpu.add(a, b));
            assertTrue(e.getMessage().startsWith("add:"), e.getMessage());
        }
    }

    @Test
    void steadyStateReusesPooledMemory() {
        WindowGrid g = WindowGrid.of(14, 14, 7, 3);
        Runnable pass = () -> {
            try (Tensor x = gpu.zeros(DType.F32, 2, 196, 96); Tensor t = gpu.empty(DType.F32, 2, 4, 49, 96);
                 Tensor qkv = gpu.empty(DType.F32, 2, 4, 49, 288); Tensor w = gpu.zeros(DType.F32, 288, 96)) {
                gpu.gatherWindows(x, g, null, 4, t);
                gpu.linear(t, w, null, qkv);
            }
        };
        pass.run();
        gpu.synchronize();
        long pooled = gpu.pooledBytes();
        // our own count of cudaMalloc calls: the device's free memory also moves with other processes and lazy
        // module loading, so it cannot be compared exactly
        long allocations = gpu.memoryStats().deviceAllocations();
        for (int i = 0; i < 3; i++) {
            pass.run();
        }
        gpu.synchronize();
        assertEquals(pooled, gpu.pooledBytes(), "every block came back to the pool");
        assertEquals(allocations, gpu.memoryStats().deviceAllocations(), "no device allocation in the steady state");
    }

    @Test
    void graphReplayFollowsTheInputAndMatchesEagerRuns() {
        WindowGrid g = WindowGrid.of(13, 19, 7, 3);
        int b = 2;
        int nW = g.numWindows();
        int n = g.windowTokens();
        int c = 64;
        int k = nW - 2;
        int[] ord = order(31, b, nW);
        HostTensor x1 = random(32, b, 13 * 19, 3 * c);
        HostTensor x2 = random(33, b, 13 * 19, 3 * c);
        HostTensor table = random(34, 13 * 13, 2);
        try (Tensor x = gpu.upload(x1); Tensor other = gpu.upload(x2); Tensor tb = gpu.upload(table);
             Tensor o = gpu.uploadInts(ord, b, nW)) {
            Supplier<List<Tensor>> work = () -> {
                Tensor attn = gpu.empty(DType.F32, b, k, n, c);
                try (Tensor tile = gpu.empty(DType.F32, b, k, n, 3 * c);
                     Tensor scores = gpu.empty(DType.F32, b, nW); Tensor imp = gpu.empty(DType.F32, b, 13 * 19)) {
                    gpu.tokenImportance(x, imp);
                    gpu.windowScores(imp, g, scores);
                    gpu.gatherWindows(x, g, o, k, tile);
                    gpu.windowAttention(tile, tb, 2, g, o, k, attn);
                }
                return List.of(attn);
            };
            HostTensor eager1 = downloadAndClose(work.get());
            gpu.copy(other, x);
            HostTensor eager2 = downloadAndClose(work.get());
            try (Tensor tmp = gpu.upload(x1)) {
                gpu.copy(tmp, x);
            }
            try (CudaBackend.Graph graph = gpu.capture(work)) {
                graph.replay();
                bitwise("replay 1", new HostTensor[]{eager1, gpu.download(graph.outputs().get(0))});
                gpu.copy(other, x);
                graph.replay();
                graph.replay();
                bitwise("replay 2", new HostTensor[]{eager2, gpu.download(graph.outputs().get(0))});
            }
        }
    }

    /**
     * A linear layer whose shape is first met inside a capture: cuBLASLt plans are not made there (its heuristic
     * query can fail while the thread captures), so the captured graph runs it on cublasGemmEx + the bias kernel,
     * and gemmPath says so, without marking the shape as one cuBLASLt cannot run or fails on; the eager call after
     * it plans it and runs on cuBLASLt. Both compute the same layer.
     */
    @Test
    void aShapeFirstMetInsideACaptureKeepsCublasLt() {
        try (CudaBackend s = new CudaBackend();
             Tensor x = s.upload(random(51, 37, 96));
             Tensor w = s.upload(random(52, 160, 96));
             Tensor b = s.upload(random(53, 160));
             Tensor out = s.empty(DType.F32, 37, 160)) {
            HostTensor replayed;
            try (CudaBackend.Graph graph = s.capture(() -> s.linear(x, w, b, out))) {
                graph.replay();
                replayed = s.download(out);
            }
            String path = "cuBLASLt bias epilogue; cublasGemmEx + bias kernel in the graphs that captured 1 shape(s)"
                    + " before any eager call had planned them (first: linear 160x37x96 F32)";
            assertEquals(path, s.gemmPath(), "cuBLASLt was asked for a plan during the capture?");
            s.linear(x, w, b, out);
            assertEquals(path, s.gemmPath(), "the eager call should run on cuBLASLt");
            HostTensor want;
            try (CpuBackend c = new CpuBackend()) {
                try (Tensor cx = c.upload(random(51, 37, 96)); Tensor cw = c.upload(random(52, 160, 96));
                     Tensor cb = c.upload(random(53, 160)); Tensor co = c.empty(DType.F32, 37, 160)) {
                    c.linear(cx, cw, cb, co);
                    want = c.download(co);
                }
            }
            close("linear captured first (cublasGemmEx + bias)", new HostTensor[]{want, replayed}, tol(DType.F32));
            close("linear eager after (cuBLASLt)", new HostTensor[]{want, s.download(out)}, tol(DType.F32));
        }
    }

    /** A graph outliving its session refuses to replay (its stream and workspace are gone) and still closes. */
    @Test
    void aGraphOfAClosedSessionDoesNotReplay() {
        CudaBackend s = new CudaBackend();
        CudaBackend.Graph graph;
        try (Tensor x = s.upload(random(41, 4, 96))) {
            Supplier<List<Tensor>> work = () -> {
                Tensor y = s.empty(DType.F32, 4, 96);
                s.copy(x, y);
                s.gelu(y);
                return List.of(y);
            };
            downloadAndClose(work.get());
            graph = s.capture(work);
            graph.replay();
            s.synchronize();
        }
        s.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, graph::replay);
        assertEquals("the CUDA session of this graph is closed", e.getMessage());
        graph.close();
    }

    private static HostTensor downloadAndClose(List<Tensor> ts) {
        HostTensor h = gpu.download(ts.get(0));
        ts.forEach(Tensor::close);
        return h;
    }
}
