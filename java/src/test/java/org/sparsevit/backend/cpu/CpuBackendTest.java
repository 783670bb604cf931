package org.sparsevit.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;
import org.sparsevit.backend.WindowGrid;
import org.sparsevit.model.MergeOrder;
import org.sparsevit.tensor.DType;
import org.sparsevit.tensor.HostTensor;
import org.sparsevit.tensor.Tensor;

/**
 * The CPU backend's ops against naive re-implementations written the way the official PyTorch code
 * computes them (pad, roll, partition as separate steps; the mask from region slices). Data movement is
 * compared bitwise. Runs on the default backend (native kernels where available);
 * {@link CpuBackendJavaKernelsTest} runs the same tests on the Java + OpenBLAS path.
 */
class CpuBackendTest {
    static CpuBackend be;

    @BeforeAll
    static void up() {
        be = new CpuBackend();
    }

    @AfterAll
    static void down() {
        be.close();
    }

    static HostTensor random(long seed, int... shape) {
        HostTensor t = HostTensor.zeros(shape);
        Random r = new Random(seed);
        for (int i = 0; i < t.data().length; i++) {
            t.data()[i] = (float) r.nextGaussian();
        }
        return t;
    }

    /** Naive: pad to [B, Hp, Wp, C], roll by -shift, partition into [B, nW, N, C] (all windows, natural order). */
    static float[] naivePartition(HostTensor x, int h, int w, int win, int shift) {
        int b = x.dim(0);
        int c = x.dim(2);
        int hp = (h + win - 1) / win * win;
        int wp = (w + win - 1) / win * win;
        float[] padded = new float[b * hp * wp * c];
        for (int bb = 0; bb < b; bb++) {
            for (int i = 0; i < h; i++) {
                for (int j = 0; j < w; j++) {
                    System.arraycopy(x.data(), ((bb * h + i) * w + j) * c, padded, ((bb * hp + i) * wp + j) * c, c);
                }
            }
        }
        float[] rolled = new float[padded.length];
        for (int bb = 0; bb < b; bb++) {
            for (int i = 0; i < hp; i++) {
                for (int j = 0; j < wp; j++) {
                    int si = (i + shift) % hp;
                    int sj = (j + shift) % wp;
                    System.arraycopy(padded, ((bb * hp + si) * wp + sj) * c, rolled, ((bb * hp + i) * wp + j) * c, c);
                }
            }
        }
        int nwh = hp / win;
        int nww = wp / win;
        float[] out = new float[rolled.length];
        int q = 0;
        for (int bb = 0; bb < b; bb++) {
            for (int r = 0; r < nwh; r++) {
                for (int cc = 0; cc < nww; cc++) {
                    for (int i = 0; i < win; i++) {
                        for (int j = 0; j < win; j++) {
                            System.arraycopy(rolled, ((bb * hp + r * win + i) * wp + cc * win + j) * c, out, q, c);
                            q += c;
                        }
                    }
                }
            }
        }
        return out;
    }

    static int[] shuffledOrder(long seed, int b, int nW) {
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

    @ParameterizedTest
    @CsvSource({"14,14,7,0", "14,14,7,3", "13,19,7,0", "13,19,7,3", "7,10,7,3", "25,38,7,3", "5,5,5,0", "24,24,12,6"})
    void gatherMatchesPadRollPartitionBitwise(int h, int w, int win, int shift) {
        int b = 2;
        int c = 5;
        HostTensor x = random(h * 100 + w, b, h * w, c);
        WindowGrid g = WindowGrid.of(h, w, win, shift);
        int nW = g.numWindows();
        int n = g.windowTokens();
        float[] ref = naivePartition(x, h, w, win, shift);
        try (Tensor xt = be.upload(x); Tensor tile = be.empty(DType.F32, b, nW, n, c)) {
            be.gatherWindows(xt, g, null, nW, tile);
            assertArrayEquals(ref, be.download(tile).data());
            // a prefix of a shuffled order picks exactly those windows
            int k = nW / 2 + 1;
            int[] order = shuffledOrder(7, b, nW);
            try (Tensor ot = be.uploadInts(order, b, nW); Tensor part = be.empty(DType.F32, b, k, n, c)) {
                be.gatherWindows(xt, g, ot, k, part);
                float[] got = be.download(part).data();
                for (int bb = 0; bb < b; bb++) {
                    for (int j = 0; j < k; j++) {
                        int wnd = order[bb * nW + j];
                        for (int e = 0; e < n * c; e++) {
                            assertEquals(Float.floatToRawIntBits(ref[((bb * nW + wnd) * n) * c + e]),
                                    Float.floatToRawIntBits(got[((bb * k + j) * n) * c + e]));
                        }
                    }
                }
            }
        }
    }

    /** WindowGrid.tileRow inverts sourceToken: every map token has exactly the row of the window place it came from. */
    @ParameterizedTest
    @CsvSource({"14,14,7,3", "13,19,7,3", "7,10,7,0", "9,9,9,4", "1,1,7,3"})
    void tileRowInvertsSourceToken(int h, int w, int win, int shift) {
        WindowGrid g = WindowGrid.of(h, w, win, shift);
        int[] seen = new int[h * w];
        for (int wi = 0; wi < g.numWindows(); wi++) {
            for (int t = 0; t < g.windowTokens(); t++) {
                int s = g.sourceToken(wi, t);
                if (s >= 0) {
                    assertEquals(wi * g.windowTokens() + t, g.tileRow(s), "token " + s);
                    seen[s]++;
                }
            }
        }
        for (int s = 0; s < h * w; s++) {
            assertEquals(1, seen[s], "token " + s + " is in exactly one window");
        }
        assertThrows(IllegalArgumentException.class, () -> g.tileRow(h * w));
        assertThrows(IllegalArgumentException.class, () -> g.tileRow(-1));
    }

    /**
     * rewindowWindows is bitwise scatter (every window of the first grid) then gather (every window of the second);
     * the padding rows of the source (garbage in a block's tile) are never read.
     */
    @ParameterizedTest
    @CsvSource({"14,14,7,0,3", "14,14,7,3,0", "13,19,7,3,0", "13,19,7,0,3", "7,10,7,0,3", "9,9,9,4,0"})
    void rewindowIsScatterThenGather(int h, int w, int win, int fromShift, int shift) {
        int b = 2;
        int c = 5;
        WindowGrid from = WindowGrid.of(h, w, win, fromShift);
        WindowGrid to = WindowGrid.of(h, w, win, shift);
        int n = from.windowTokens();
        HostTensor src = random(21, b, from.numWindows(), n, c);   // padding rows hold values too: never read
        try (Tensor st = be.upload(src); Tensor map = be.upload(random(24, b, h * w, c));
             Tensor want = be.empty(DType.F32, b, to.numWindows(), n, c);
             Tensor got = be.empty(DType.F32, b, to.numWindows(), n, c)) {
            be.scatterWindows(st, from, null, from.numWindows(), map);
            be.gatherWindows(map, to, null, to.numWindows(), want);
            be.rewindowWindows(st, from, to, got);
            assertArrayEquals(bits(be.download(want).data()), bits(be.download(got).data()));
            // Backend's default (for other backends: through a temporary map) does the same
            org.sparsevit.backend.Backend defaults = (org.sparsevit.backend.Backend) java.lang.reflect.Proxy.newProxyInstance(
                    getClass().getClassLoader(), new Class<?>[]{org.sparsevit.backend.Backend.class}, (proxy, m, args) ->
                            m.getName().equals("rewindowWindows")
                                    ? java.lang.reflect.InvocationHandler.invokeDefault(proxy, m, args) : m.invoke(be, args));
            try (Tensor viaDefault = be.empty(DType.F32, b, to.numWindows(), n, c)) {
                defaults.rewindowWindows(st, from, to, viaDefault);
                assertArrayEquals(bits(be.download(want).data()), bits(be.download(viaDefault).data()));
            }
            // the grids must cut one map into windows of one size, and the source hold every window
            WindowGrid other = WindowGrid.of(h + 1, w, win, shift);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> be.rewindowWindows(st, from, other, got));
            assertTrue(e.getMessage().contains("do not cut the same map"), e.getMessage());
            try (Tensor part = be.empty(DType.F32, b, from.numWindows() + 1, n, c)) {
                e = assertThrows(IllegalArgumentException.class, () -> be.rewindowWindows(part, from, to, got));
                assertTrue(e.getMessage().contains("(every window of its grid)"), e.getMessage());
            }
        }
    }

    static int[] bits(float[] v) {
        int[] r = new int[v.length];
        for (int i = 0; i < v.length; i++) {
            r[i] = Float.floatToRawIntBits(v[i]);
        }
        return r;
    }

    @ParameterizedTest
    @CsvSource({"14,14,7,3", "13,19,7,3", "7,10,7,0", "50,75,7,3"})
    void scatterInvertsGatherAndTouchesOnlyKeptWindows(int h, int w, int win, int shift) {
        int b = 2;
        int c = 3;
        HostTensor x = random(5, b, h * w, c);
        WindowGrid g = WindowGrid.of(h, w, win, shift);
        int nW = g.numWindows();
        int n = g.windowTokens();
        int[] order = shuffledOrder(11, b, nW);
        int k = Math.max(1, nW / 3);
        try (Tensor xt = be.upload(x); Tensor ot = be.uploadInts(order, b, nW);
             Tensor tile = be.empty(DType.F32, b, k, n, c)) {
            be.gatherWindows(xt, g, ot, k, tile);
            // add 1 to every gathered value, scatter back: kept tokens change by exactly +1, others not at all
            HostTensor t = be.download(tile);
            for (int i = 0; i < t.data().length; i++) {
                t.data()[i] += 1f;
            }
            try (Tensor t2 = be.upload(t)) {
                be.scatterWindows(t2, g, ot, k, xt);
            }
            float[] after = be.download(xt).data();
            boolean[] kept = new boolean[b * h * w];
            for (int bb = 0; bb < b; bb++) {
                for (int j = 0; j < k; j++) {
                    for (int tok = 0; tok < n; tok++) {
                        int s = g.sourceToken(order[bb * nW + j], tok);
                        if (s >= 0) {
                            kept[bb * h * w + s] = true;
                        }
                    }
                }
            }
            for (int p = 0; p < b * h * w; p++) {
                for (int ch = 0; ch < c; ch++) {
                    float expect = kept[p] ? x.data()[p * c + ch] + 1f : x.data()[p * c + ch];
                    assertEquals(Float.floatToRawIntBits(expect), Float.floatToRawIntBits(after[p * c + ch]));
                }
            }
        }
    }

    @Test
    void zeroPaddingClearsExactlyThePaddingTokens() {
        WindowGrid g = WindowGrid.of(13, 19, 7, 3);
        int b = 1;
        int c = 2;
        int nW = g.numWindows();
        int n = g.windowTokens();
        HostTensor t = random(3, b, nW, n, c);
        try (Tensor tt = be.upload(t)) {
            be.zeroPadding(tt, g, null, nW);
            float[] got = be.download(tt).data();
            for (int w = 0; w < nW; w++) {
                for (int tok = 0; tok < n; tok++) {
                    for (int ch = 0; ch < c; ch++) {
                        int i = (w * n + tok) * c + ch;
                        assertEquals(g.sourceToken(w, tok) < 0 ? 0f : t.data()[i], got[i]);
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"CONCAT,6,6", "CONCAT,5,7", "UNFOLD,6,6", "UNFOLD,7,5"})
    void patchMergeOrders(MergeOrder order, int h, int w) {
        int b = 2;
        int c = 3;
        HostTensor x = random(9, b, h * w, c);
        int h2 = (h + 1) / 2;
        int w2 = (w + 1) / 2;
        try (Tensor xt = be.upload(x); Tensor out = be.empty(DType.F32, b, h2 * w2, 4 * c)) {
            be.patchMerge(xt, h, w, order, out);
            float[] got = be.download(out).data();
            int[][] offs = {{0, 0}, {1, 0}, {0, 1}, {1, 1}}; // (dy, dx), official Swin concatenation order
            for (int bb = 0; bb < b; bb++) {
                for (int i = 0; i < h2; i++) {
                    for (int j = 0; j < w2; j++) {
                        for (int t = 0; t < 4; t++) {
                            int y = 2 * i + offs[t][0];
                            int xx = 2 * j + offs[t][1];
                            for (int ch = 0; ch < c; ch++) {
                                float v = y < h && xx < w ? x.data()[((bb * h + y) * w + xx) * c + ch] : 0f;
                                int e = order == MergeOrder.CONCAT ? t * c + ch : ch * 4 + offs[t][0] * 2 + offs[t][1];
                                assertEquals(v, got[((bb * h2 + i) * w2 + j) * 4 * c + e]);
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void linearMatchesNaive() {
        HostTensor x = random(1, 37, 20);
        HostTensor w = random(2, 11, 20);
        HostTensor bias = random(3, 11);
        try (Tensor xt = be.upload(x); Tensor wt = be.upload(w); Tensor bt = be.upload(bias);
             Tensor out = be.empty(DType.F32, 37, 11)) {
            be.linear(xt, wt, bt, out);
            float[] got = be.download(out).data();
            for (int i = 0; i < 37; i++) {
                for (int j = 0; j < 11; j++) {
                    double s = bias.data()[j];
                    for (int q = 0; q < 20; q++) {
                        s += (double) x.data()[i * 20 + q] * w.data()[j * 20 + q];
                    }
                    assertEquals(s, got[i * 11 + j], 1e-4);
                }
            }
        }
        try (Tensor xt = be.upload(x); Tensor wt = be.upload(w); Tensor bad = be.empty(DType.F32, 36, 11)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> be.linear(xt, wt, null, bad));
            assertTrue(e.getMessage().startsWith("linear: output"), e.getMessage());
        }
        // a weight without rows is refused by name (it divided by zero before)
        try (Tensor xt = be.upload(x); Tensor none = be.empty(DType.F32, 0, 20); Tensor o = be.empty(DType.F32, 37, 0)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> be.linear(xt, none, null, o));
            assertEquals("linear: weight must be [N, K] with N > 0, got [0, 20]", e.getMessage());
        }
        // a square layer written over its own input (or weight) would read rows it has already overwritten
        try (Tensor sq = be.upload(random(4, 20, 20)); Tensor xt = be.upload(random(5, 37, 20))) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> be.linear(xt, sq, null, xt));
            assertEquals("linear: the output cannot be the input (a GEMM does not run in place)", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> be.linearGelu(sq, sq, null, sq));
            assertTrue(e.getMessage().startsWith("linearGelu: the output cannot be the input"), e.getMessage());
        }
    }

    /**
     * The GEMM's pieces: small GEMMs on one thread, row pieces where every thread gets 192 rows, column pieces
     * on 16-column boundaries otherwise (the widths here do not divide evenly); bias, GELU and the residual
     * in each piece's epilogue.
     */
    @ParameterizedTest
    @CsvSource({"5,7,9", "400,64,48", "300,96,48", "49,768,64", "3,1000,384", "130,40,300", "70,33,513"})
    void linearPiecesAndEpiloguesMatchNaive(int m, int n, int k) {
        HostTensor x = random(7, m, k);
        HostTensor w = random(8, n, k);
        HostTensor bias = random(9, n);
        HostTensor r = random(10, m, n);
        try (Tensor xt = be.upload(x); Tensor wt = be.upload(w); Tensor bt = be.upload(bias); Tensor res = be.upload(r);
             Tensor lin = be.empty(DType.F32, m, n); Tensor gel = be.empty(DType.F32, m, n)) {
            be.linear(xt, wt, bt, lin);
            be.linearGelu(xt, wt, bt, gel);
            be.linearResidual(xt, wt, bt, res);
            float[] gotLin = be.download(lin).data();
            float[] gotGelu = be.download(gel).data();
            float[] gotRes = be.download(res).data();
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double s = bias.data()[j];
                    for (int q = 0; q < k; q++) {
                        s += (double) x.data()[i * k + q] * w.data()[j * k + q];
                    }
                    double tol = 1e-5 * Math.sqrt(k) * Math.max(1, Math.abs(s));
                    String at = m + "x" + n + "x" + k + " row " + i + " col " + j;
                    assertEquals(s, gotLin[i * n + j], tol, "linear " + at);
                    double g = 0.5 * s * (1 + erfSeries(s / Math.sqrt(2)));
                    assertEquals(g, gotGelu[i * n + j], tol + 1e-6 * Math.abs(s), "linearGelu " + at);
                    assertEquals(s + r.data()[i * n + j], gotRes[i * n + j], tol, "linearResidual " + at);
                }
            }
        }
    }

    @Test
    void linearResidualAccumulatesIntoTheResidual() {
        HostTensor x = random(1, 200, 20);
        HostTensor w = random(2, 11, 20);
        HostTensor bias = random(3, 11);
        HostTensor r = random(4, 200, 11);
        try (Tensor xt = be.upload(x); Tensor wt = be.upload(w); Tensor bt = be.upload(bias); Tensor res = be.upload(r)) {
            be.linearResidual(xt, wt, bt, res);
            float[] got = be.download(res).data();
            for (int i = 0; i < 200; i++) {
                for (int j = 0; j < 11; j++) {
                    double s = r.data()[i * 11 + j] + bias.data()[j];
                    for (int q = 0; q < 20; q++) {
                        s += (double) x.data()[i * 20 + q] * w.data()[j * 20 + q];
                    }
                    assertEquals(s, got[i * 11 + j], 1e-4, "row " + i + " col " + j);
                }
            }
            be.linearResidual(xt, wt, null, res); // without bias: adds x w^T once more
            float[] again = be.download(res).data();
            double s = got[0];
            for (int q = 0; q < 20; q++) {
                s += (double) x.data()[q] * w.data()[q];
            }
            assertEquals(s, again[0], 1e-4);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> be.linearResidual(res, wt, null, res));
            assertTrue(e.getMessage().startsWith("linearResidual: "), e.getMessage());
        }
    }

    @Test
    void layerNormAndGeluMatchDoublePrecision() {
        HostTensor x = random(4, 9, 32);
        HostTensor g = random(5, 32);
        HostTensor bb = random(6, 32);
        try (Tensor xt = be.upload(x); Tensor gt = be.upload(g); Tensor bt = be.upload(bb);
             Tensor out = be.empty(DType.F32, 9, 32)) {
            be.layerNorm(xt, gt, bt, 1e-5f, out);
            float[] got = be.download(out).data();
            for (int r = 0; r < 9; r++) {
                double m = 0;
                for (int j = 0; j < 32; j++) {
                    m += x.data()[r * 32 + j];
                }
                m /= 32;
                double v = 0;
                for (int j = 0; j < 32; j++) {
                    v += Math.pow(x.data()[r * 32 + j] - m, 2);
                }
                v /= 32;
                for (int j = 0; j < 32; j++) {
                    double e = (x.data()[r * 32 + j] - m) / Math.sqrt(v + 1e-5) * g.data()[j] + bb.data()[j];
                    assertEquals(e, got[r * 32 + j], 2e-6 * Math.max(1, Math.abs(e)));
                }
            }
            for (int n : new int[]{31, 33}) {  // too few values read past their end; too many are no better
                try (Tensor wrong = be.upload(random(7, n))) {
                    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                            () -> be.layerNorm(xt, wrong, bt, 1e-5f, out));
                    assertTrue(e.getMessage().startsWith("layerNorm: gamma and beta must have 32 values"), e.getMessage());
                }
            }
            be.gelu(xt);
            float[] ge = be.download(xt).data();
            for (int i = 0; i < ge.length; i++) {
                double v = x.data()[i];
                double e = 0.5 * v * (1 + erfSeries(v / Math.sqrt(2)));
                assertEquals(e, ge[i], 5e-7 * Math.max(1, Math.abs(e)));
            }
        }
    }

    /** erf by its Taylor series (slow, exact to double rounding for |x| &lt; 3). */
    static double erfSeries(double x) {
        if (Math.abs(x) > 5) {
            return Math.signum(x);
        }
        double sum = 0;
        double term = x;
        for (int n = 0; n < 200; n++) {
            sum += term / (2 * n + 1);
            term *= -x * x / (n + 1);
        }
        return 2 / Math.sqrt(Math.PI) * sum;
    }

    /** Naive attention in double with the mask built the official way (img_mask slices, partition, compare). */
    @ParameterizedTest
    @CsvSource({"14,14,7,3,2", "13,19,7,3,1", "14,14,7,0,4", "7,10,7,3,2", "24,30,12,6,2"})
    void windowAttentionMatchesNaive(int h, int w, int win, int shift, int heads) {
        int b = 2;
        int d = 8;
        int c = heads * d;
        WindowGrid g = WindowGrid.of(h, w, win, shift);
        int nW = g.numWindows();
        int n = g.windowTokens();
        int tw = 2 * win - 1;
        HostTensor qkv = random(21, b, nW, n, 3 * c);
        HostTensor table = random(22, tw * tw, heads);
        int[] order = shuffledOrder(5, b, nW);
        int k = Math.max(1, nW - 1);
        // region ids the official way: label the padded (unrolled) grid with slice bands, roll, partition
        int hp = g.paddedHeight();
        int wp = g.paddedWidth();
        int[] label = new int[hp * wp];
        int cnt = 0;
        int[][] hs = {{0, hp - win}, {hp - win, hp - shift}, {hp - shift, hp}};
        int[][] ws = {{0, wp - win}, {wp - win, wp - shift}, {wp - shift, wp}};
        for (int[] hsl : hs) {
            for (int[] wsl : ws) {
                for (int i = hsl[0]; i < hsl[1]; i++) {
                    for (int j = wsl[0]; j < wsl[1]; j++) {
                        label[i * wp + j] = cnt;
                    }
                }
                cnt++;
            }
        }
        try (Tensor qt = be.upload(qkv); Tensor tt = be.upload(table); Tensor ot = be.uploadInts(order, b, nW);
             Tensor out = be.empty(DType.F32, b, k, n, c)) {
            HostTensor sub = HostTensor.zeros(b, k, n, 3 * c);
            for (int bb = 0; bb < b; bb++) {
                for (int j = 0; j < k; j++) {
                    System.arraycopy(qkv.data(), ((bb * nW) + order[bb * nW + j]) * n * 3 * c, sub.data(),
                            (bb * k + j) * n * 3 * c, n * 3 * c);
                }
            }
            try (Tensor st = be.upload(sub)) {
                be.windowAttention(st, tt, heads, g, ot, k, out);
            }
            float[] got = be.download(out).data();
            double scale = 1 / Math.sqrt(d);
            for (int bb = 0; bb < b; bb++) {
                for (int j = 0; j < k; j++) {
                    int wnd = order[bb * nW + j];
                    int r0 = (wnd / g.windowCols()) * win;
                    int c0 = (wnd % g.windowCols()) * win;
                    float[] s = sub.data();
                    int base = (bb * k + j) * n * 3 * c;
                    for (int hh = 0; hh < heads; hh++) {
                        for (int q = 0; q < n; q++) {
                            double[] logit = new double[n];
                            double mx = Double.NEGATIVE_INFINITY;
                            for (int kk = 0; kk < n; kk++) {
                                double dot = 0;
                                for (int e = 0; e < d; e++) {
                                    dot += s[base + q * 3 * c + hh * d + e] * scale * s[base + kk * 3 * c + c + hh * d + e];
                                }
                                int dy = q / win - kk / win + win - 1;
                                int dx = q % win - kk % win + win - 1;
                                dot += table.data()[(dy * tw + dx) * heads + hh];
                                if (shift > 0) {
                                    int lq = label[(r0 + q / win) * wp + c0 + q % win];
                                    int lk = label[(r0 + kk / win) * wp + c0 + kk % win];
                                    if (lq != lk) {
                                        dot += -100;
                                    }
                                }
                                logit[kk] = dot;
                                mx = Math.max(mx, dot);
                            }
                            double z = 0;
                            for (int kk = 0; kk < n; kk++) {
                                logit[kk] = Math.exp(logit[kk] - mx);
                                z += logit[kk];
                            }
                            for (int e = 0; e < d; e++) {
                                double o = 0;
                                for (int kk = 0; kk < n; kk++) {
                                    o += logit[kk] / z * s[base + kk * 3 * c + 2 * c + hh * d + e];
                                }
                                assertEquals(o, got[((bb * k + j) * n + q) * c + hh * d + e], 1e-5 * Math.max(1, Math.abs(o)));
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void importanceScoresAndSortFollowSparseViT() {
        int b = 2;
        int h = 13;
        int w = 19;
        int c = 6;
        HostTensor x = random(31, b, h * w, c);
        WindowGrid g = WindowGrid.of(h, w, 7, 3);
        int nW = g.numWindows();
        try (Tensor xt = be.upload(x); Tensor a = be.empty(DType.F32, b, h * w); Tensor s = be.empty(DType.F32, b, nW);
             Tensor o = be.empty(DType.I32, b, nW)) {
            be.tokenImportance(xt, a);
            float[] av = be.download(a).data();
            for (int t = 0; t < b * h * w; t++) {
                double m = 0;
                for (int ch = 0; ch < c; ch++) {
                    m += Math.abs(x.data()[t * c + ch]);
                }
                assertEquals(m / c, av[t], 1e-6);
            }
            be.windowScores(a, g, s);
            // scores: L2 over the same windows the pad/roll/partition reference cuts
            float[] part = naivePartition(new HostTensor(av, new int[]{b, h * w, 1}), h, w, 7, 3);
            float[] sv = be.download(s).data();
            for (int i = 0; i < b * nW; i++) {
                double q = 0;
                for (int t = 0; t < 49; t++) {
                    q += (double) part[i * 49 + t] * part[i * 49 + t];
                }
                assertEquals(Math.sqrt(q), sv[i], 1e-6);
            }
        }
        // ties go to the lower window number; order is descending
        try (Tensor s = be.upload(new HostTensor(new float[]{1, 3, 3, 2, 3, 0}, new int[]{1, 6}));
             Tensor o = be.empty(DType.I32, 1, 6)) {
            be.sortWindows(s, o);
            assertArrayEquals(new int[]{1, 2, 4, 3, 0, 5}, be.downloadInts(o));
        }
        // scores are F32, as on CUDA: F16 scores would rank windows by rounded values
        try (CpuBackend half = new CpuBackend(org.sparsevit.backend.Precision.FP16);
             Tensor s = half.upload(new HostTensor(new float[]{1, 3, 3, 2, 3, 0}, new int[]{1, 6}), DType.F16);
             Tensor o = half.empty(DType.I32, 1, 6)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> half.sortWindows(s, o));
            assertTrue(e.getMessage().startsWith("sortWindows: scores must be F32"), e.getMessage());
        }
    }

    @Test
    void closedTensorsThrow() {
        Tensor t = be.zeros(DType.F32, 2, 2);
        t.close();
        assertTrue(t.isClosed());
        assertThrows(IllegalStateException.class, () -> be.download(t));
    }
}
