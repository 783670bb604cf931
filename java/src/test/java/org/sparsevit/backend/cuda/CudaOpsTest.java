package org.sparsevit.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.function.BiConsumer;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.sparsevit.Golden;
import org.sparsevit.backend.Backend;
import org.sparsevit.backend.WindowGrid;
import org.sparsevit.backend.cpu.CpuBackend;
import org.sparsevit.model.MergeOrder;
import org.sparsevit.tensor.DType;
import org.sparsevit.tensor.HostTensor;
import org.sparsevit.tensor.Tensor;

/**
 * Every CUDA op against its CPU twin: data movement bitwise, FP32 math within 1e-5 of max|ref|. Skipped,
 * with the reason, where no GPU is usable.
 */
@Tag("gpu")
class CudaOpsTest {
    static CpuBackend cpu;
    static CudaBackend gpu;

    @BeforeAll
    static void up() {
        if (CudaBackend.unavailableReason() == null) {
            cpu = new CpuBackend();
            gpu = new CudaBackend();
        }
    }

    @org.junit.jupiter.api.BeforeEach
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

    static HostTensor random(long seed, int... shape) {
        HostTensor t = HostTensor.zeros(shape);
        Random r = new Random(seed);
        for (int i = 0; i < t.data().length; i++) {
            t.data()[i] = (float) r.nextGaussian();
        }
        return t;
    }

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

    /** Runs op on both backends with the same inputs; returns {cpu result, gpu result}. */
    static HostTensor[] both(int[] outShape, HostTensor[] inputs, int[] ints, int[] intShape, OpBody op) {
        HostTensor[] res = new HostTensor[2];
        Backend[] bes = {cpu, gpu};
        for (int i = 0; i < 2; i++) {
            Backend be = bes[i];
            List<Tensor> ts = new ArrayList<>();
            try {
                for (HostTensor h : inputs) {
                    ts.add(be.upload(h));
                }
                Tensor ord = ints == null ? null : be.uploadInts(ints, intShape);
                Tensor out = outShape == null ? null : be.zeros(DType.F32, outShape);
                op.run(be, ts, ord, out);
                res[i] = be.download(out == null ? ts.get(0) : out);
                if (ord != null) {
                    ord.close();
                }
                if (out != null) {
                    out.close();
                }
            } finally {
                ts.forEach(Tensor::close);
            }
        }
        return res;
    }

    @FunctionalInterface
    interface OpBody {
        void run(Backend be, List<Tensor> in, Tensor order, Tensor out);
    }

    static void bitwise(HostTensor[] r) {
        assertArrayEquals(r[0].data(), r[1].data());
    }

    static void close(String what, HostTensor[] r) {
        Golden.assertClose(what, r[0], r[1], 1e-5);
    }

    @ParameterizedTest
    @CsvSource({"14,14,7,0,1.0", "14,14,7,3,0.5", "13,19,7,3,0.3", "50,75,7,3,0.0", "24,24,12,6,0.8", "7,10,7,3,1.0"})
    void windowsAndAttention(int h, int w, int win, int shift, double keep) {
        int b = 2;
        int heads = 2;
        int c = 64;
        WindowGrid g = WindowGrid.of(h, w, win, shift);
        int nW = g.numWindows();
        int n = g.windowTokens();
        int k = (int) (nW * keep);
        int[] ord = order(3, b, nW);
        HostTensor x = random(1, b, h * w, c);
        bitwise(both(new int[]{b, k, n, c}, new HostTensor[]{x}, ord, new int[]{b, nW},
                (be, in, o, out) -> be.gatherWindows(in.get(0), g, o, k, out)));
        HostTensor tile = random(2, b, k, n, c);
        bitwise(both(null, new HostTensor[]{x, tile}, ord, new int[]{b, nW},
                (be, in, o, out) -> be.scatterWindows(in.get(1), g, o, k, in.get(0))));
        bitwise(both(null, new HostTensor[]{tile}, ord, new int[]{b, nW},
                (be, in, o, out) -> be.zeroPadding(in.get(0), g, o, k)));
        int tw = 2 * win - 1;
        HostTensor qkv = random(4, b, k, n, 3 * c);
        HostTensor table = random(5, tw * tw, heads);
        close("attention", both(new int[]{b, k, n, c}, new HostTensor[]{qkv, table}, ord, new int[]{b, nW},
                (be, in, o, out) -> be.windowAttention(in.get(0), in.get(1), heads, g, o, k, out)));
        if (k == nW) {
            bitwise(both(new int[]{b, nW, n, c}, new HostTensor[]{x}, null, null,
                    (be, in, o, out) -> be.gatherWindows(in.get(0), g, null, nW, out)));
        }
        HostTensor a = random(6, b, h * w);
        close("scores", both(new int[]{b, nW}, new HostTensor[]{a}, null, null,
                (be, in, o, out) -> be.windowScores(in.get(0), g, out)));
    }

    @Test
    void denseMath() {
        HostTensor x = random(1, 300, 96);
        HostTensor wt = random(2, 384, 96);
        HostTensor bias = random(3, 384);
        close("linear", both(new int[]{300, 384}, new HostTensor[]{x, wt, bias}, null, null,
                (be, in, o, out) -> be.linear(in.get(0), in.get(1), in.get(2), out)));
        HostTensor g = random(4, 96);
        HostTensor beta = random(5, 96);
        close("layerNorm", both(new int[]{300, 96}, new HostTensor[]{x, g, beta}, null, null,
                (be, in, o, out) -> be.layerNorm(in.get(0), in.get(1), in.get(2), 1e-5f, out)));
        close("gelu", both(null, new HostTensor[]{x}, null, null, (be, in, o, out) -> be.gelu(in.get(0))));
        close("linearGelu", both(new int[]{300, 384}, new HostTensor[]{x, wt, bias}, null, null,
                (be, in, o, out) -> be.linearGelu(in.get(0), in.get(1), in.get(2), out)));
        HostTensor res = random(12, 300, 96);
        close("addLayerNorm", both(new int[]{300, 96}, new HostTensor[]{x, res, g, beta}, null, null,
                (be, in, o, out) -> be.addLayerNorm(in.get(0), in.get(1), in.get(2), in.get(3), 1e-5f, out)));
        close("add", both(null, new HostTensor[]{x, random(9, 300, 96)}, null, null,
                (be, in, o, out) -> be.add(in.get(0), in.get(1))));
        HostTensor seq = random(6, 2, 150, 96);
        close("meanPool", both(new int[]{2, 96}, new HostTensor[]{seq}, null, null,
                (be, in, o, out) -> be.meanPool(in.get(0), out)));
        bitwise(both(new int[]{2, 96, 10, 15}, new HostTensor[]{seq}, null, null,
                (be, in, o, out) -> be.toChannelsFirst(in.get(0), 10, 15, out)));
        close("tokenImportance", both(new int[]{2, 150}, new HostTensor[]{seq}, null, null,
                (be, in, o, out) -> be.tokenImportance(in.get(0), out)));
    }

    @ParameterizedTest
    @CsvSource({"CONCAT,25,38", "UNFOLD,25,38", "CONCAT,14,14", "UNFOLD,7,10"})
    void patchMerge(MergeOrder order, int h, int w) {
        HostTensor x = random(7, 2, h * w, 32);
        bitwise(both(new int[]{2, ((h + 1) / 2) * ((w + 1) / 2), 128}, new HostTensor[]{x}, null, null,
                (be, in, o, out) -> be.patchMerge(in.get(0), h, w, order, out)));
    }

    @Test
    void patchEmbedding() {
        HostTensor img = random(8, 2, 3, 50, 75);
        HostTensor w = random(9, 32, 3, 4, 4);
        HostTensor bias = random(10, 32);
        close("patchEmbed", both(new int[]{2, 13 * 19, 32}, new HostTensor[]{img, w, bias}, null, null,
                (be, in, o, out) -> be.patchEmbed(in.get(0), in.get(1), in.get(2), 4, out)));
    }

    @ParameterizedTest
    @CsvSource({"1,6", "2,88", "4,576", "1,2738", "1,9000"})
    void sortMatchesCpuIncludingTies(int b, int nW) {
        HostTensor s = random(11, b, nW);
        for (int i = 0; i < s.data().length; i += 7) {
            s.data()[i] = 0.5f; // many ties
        }
        BiConsumer<Backend, int[]> run = (be, out) -> {
            try (Tensor st = be.upload(s); Tensor o = be.empty(DType.I32, b, nW)) {
                be.sortWindows(st, o);
                System.arraycopy(be.downloadInts(o), 0, out, 0, out.length);
            }
        };
        int[] a = new int[b * nW];
        int[] c = new int[b * nW];
        run.accept(cpu, a);
        run.accept(gpu, c);
        assertArrayEquals(a, c);
        assertEquals(b * nW, a.length);
    }
}
