package org.sparsevit.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.sparsevit.SparseVitException;
import org.sparsevit.backend.cpu.CpuBackend;
import org.sparsevit.sparse.KeptDump;
import org.sparsevit.sparse.SparsityConfig;
import org.sparsevit.tensor.Frames;
import org.sparsevit.tensor.Frames.ChannelOrder;
import org.sparsevit.tensor.HostTensor;

/**
 * The model's frame entry points on the CPU: forward(Frames) (dense and the pruned overload) and
 * CompiledForward.run(Frames) give bitwise what the same calls give on the frames' host tensor, and refuse what
 * the HostTensor entry points refuse with the same messages.
 */
class FramesForwardTest {
    static final SwinConfig MINI = SessionTest.MINI;
    static final SwinConfig MINI_CLS = new SwinConfig(16, new int[]{1, 1, 2, 1}, new int[]{1, 1, 2, 2}, 7, 4, 4, 3, 10,
            Task.CLASSIFICATION, 64, CheckpointLayout.MICROSOFT, MergeOrder.CONCAT, 1e-5f);

    static Frames frames(long seed, int b, int h, int w, ChannelOrder order) {
        byte[] px = new byte[b * h * w * 3];
        new Random(seed).nextBytes(px);
        return Frames.of(px, b, h, w, order);
    }

    static void assertSame(String what, SwinOutput want, SwinOutput got) {
        if (want.logits() != null) {
            assertEquals(want.logits(), got.logits(), what + ": logits");
            return;
        }
        assertEquals(want.features().size(), got.features().size());
        for (int s = 0; s < want.features().size(); s++) {
            assertEquals(want.features().get(s), got.features().get(s), what + ": stage " + s);
        }
    }

    @Test
    void denseForwardOnFramesIsForwardOnTheirHostTensor() {
        try (CpuBackend be = new CpuBackend(); SwinModel backbone = new SwinModel(SwinWeights.random(MINI, 7), be);
             SwinModel classifier = new SwinModel(SwinWeights.random(MINI_CLS, 8), be)) {
            Frames f = frames(1, 2, 96, 80, ChannelOrder.BGR);
            assertSame("backbone", backbone.forward(f.toHostTensor()), backbone.forward(f));
            Frames g = frames(2, 3, 64, 72, ChannelOrder.RGB);
            SwinOutput logits = classifier.forward(g);
            assertArrayEquals(new int[]{3, 10}, logits.logits().shape());
            assertSame("classifier", classifier.forward(g.toHostTensor()), logits);
            // the normalisation matters: other mean/std, other outputs (so the comparison above is not vacuous)
            Frames other = g.withNormalization(new float[]{0.5f, 0.5f, 0.5f}, new float[]{0.5f, 0.5f, 0.5f});
            assertTrue(!classifier.forward(other).logits().equals(logits.logits()));
            assertSame("other normalisation", classifier.forward(other.toHostTensor()), classifier.forward(other));
        }
    }

    @Test
    void prunedForwardOnFramesKeepsTheSameWindowsAndObservesTheSameStages() {
        double[][] r = SparsityConfig.parseCompact("0.5,0.5/0.25,0.25/0.5,0.5/0,0").ratios();
        Frames f = frames(3, 2, 112, 96, ChannelOrder.BGR);
        try (CpuBackend be = new CpuBackend(); SwinModel m = new SwinModel(SwinWeights.random(MINI, 9), be)) {
            for (PaddingMode padding : PaddingMode.values()) {
                KeptDump ka = new KeptDump(7, 2);
                KeptDump kb = new KeptDump(7, 2);
                List<HostTensor> sa = new ArrayList<>();
                List<HostTensor> sb = new ArrayList<>();
                SwinOutput want = m.forward(f.toHostTensor(), r, padding, ka,
                        (s, x) -> sa.add(be.download(x.tokens())));
                SwinOutput got = m.forward(f, r, padding, kb, (s, x) -> sb.add(be.download(x.tokens())));
                assertSame(padding + "", want, got);
                assertEquals(sa, sb, "observed stages");
                assertEquals(4, sb.size());
                int pruned = 0;
                for (int i = 0; i < ka.records().size(); i++) {
                    int[][] a = ka.records().get(i).kept();
                    int[][] b = kb.records().get(i).kept();
                    if (a != null) {
                        pruned++;
                        assertTrue(Arrays.deepEquals(a, b), padding + " block record " + i);
                    }
                }
                assertTrue(pruned > 0);
                // no listener: the plain pruned call
                assertSame(padding + " without listener", m.forward(f.toHostTensor(), r, padding, null, null),
                        m.forward(f, r, padding, null, null));
            }
        }
    }

    @Test
    void compiledPassRunsFramesAsItRunsTheirHostTensor() {
        double[][] r = SparsityConfig.parseCompact("0.3,0.3/0.5,0.5/0,0/0,0").ratios();
        Frames f = frames(4, 1, 96, 80, ChannelOrder.RGB);
        Frames g = frames(5, 1, 96, 80, ChannelOrder.BGR);
        try (CpuBackend be = new CpuBackend(); SwinModel m = new SwinModel(SwinWeights.random(MINI, 10), be);
             CompiledForward c = m.compile(f.tensorShape(), r, PaddingMode.SWIN)) {
            for (Frames x : new Frames[]{f, g, f}) {
                assertSame("compiled", c.run(x.toHostTensor()), c.run(x));
                assertSame("compiled vs forward", m.forward(x, r, PaddingMode.SWIN, null, null), c.run(x));
            }
            Frames wrong = frames(6, 2, 96, 80, ChannelOrder.RGB);
            IllegalArgumentException a = assertThrows(IllegalArgumentException.class, () -> c.run(wrong.toHostTensor()));
            IllegalArgumentException b = assertThrows(IllegalArgumentException.class, () -> c.run(wrong));
            assertEquals("this pass was compiled for input [1, 3, 96, 80], got [2, 3, 96, 80]", b.getMessage());
            assertEquals(a.getMessage(), b.getMessage());
            IllegalArgumentException n = assertThrows(IllegalArgumentException.class, () -> c.run((Frames) null));
            assertEquals("frames must not be null", n.getMessage());
            c.close();
            assertThrows(IllegalStateException.class, () -> c.run(f));
        }
    }

    @Test
    void badInputIsRefusedAsForHostTensors() {
        SwinConfig fourChannels = new SwinConfig(16, new int[]{2, 2, 2, 2}, new int[]{1, 1, 2, 2}, 7, 4, 4, 4, 0,
                Task.BACKBONE, 224, CheckpointLayout.SWIN_DETECTION, MergeOrder.CONCAT, 1e-5f);
        Frames f = frames(7, 1, 64, 64, ChannelOrder.RGB);
        try (CpuBackend be = new CpuBackend(); SwinModel m = new SwinModel(SwinWeights.random(fourChannels, 1), be);
             SwinModel ok = new SwinModel(SwinWeights.random(MINI, 1), be)) {
            SparseVitException a = assertThrows(SparseVitException.class, () -> m.forward(f.toHostTensor()));
            SparseVitException b = assertThrows(SparseVitException.class, () -> m.forward(f));
            assertEquals("input must be [B, 4, H, W] with B, H, W > 0, got [1, 3, 64, 64]", b.getMessage());
            assertEquals(a.getMessage(), b.getMessage());
            IllegalArgumentException n = assertThrows(IllegalArgumentException.class, () -> ok.forward((Frames) null));
            assertEquals("frames must not be null", n.getMessage());
            double[][] bad = SparsityConfig.parseCompact("0.5,0.5/0.25,0.25/0.2/0,0").ratios();
            RuntimeException ra = assertThrows(RuntimeException.class,
                    () -> ok.forward(f.toHostTensor(), bad, PaddingMode.SWIN, null, null));
            RuntimeException rb = assertThrows(RuntimeException.class,
                    () -> ok.forward(f, bad, PaddingMode.SWIN, null, null));
            assertEquals(ra.getMessage(), rb.getMessage());
            assertTrue(rb.getMessage().contains("stage 2 has 1 ratios"), rb.getMessage());
            ok.close();
            assertThrows(IllegalStateException.class, () -> ok.forward(f));
        }
    }

    /**
     * The frame entry points take the backend's frame upload (1 byte per value to a GPU), not the float tensor:
     * equal results alone would not show it, the host route gives the same bits.
     */
    @Test
    void frameEntryPointsUploadFramesNotFloats() {
        try (org.sparsevit.backend.ProfilingBackend be = new org.sparsevit.backend.ProfilingBackend(new CpuBackend());
             SwinModel m = new SwinModel(SwinWeights.random(MINI, 9), be)) {
            Frames f = frames(3, 1, 64, 64, ChannelOrder.RGB);
            double[][] pruned = SparsityConfig.uniform(MINI.depths(), 0.5).ratios();
            for (int route = 0; route < 3; route++) {
                be.reset();
                if (route == 0) {
                    m.forward(f);
                } else if (route == 1) {
                    m.forward(f, pruned, PaddingMode.SWIN, null, null);
                } else {
                    try (CompiledForward pass = m.compile(f.tensorShape(), null, PaddingMode.SWIN)) {
                        be.reset();
                        pass.run(f);
                    }
                }
                java.util.Map<String, long[]> ops = be.stats();
                assertTrue(ops.containsKey("uploadFrames") && ops.get("uploadFrames")[0] == 1,
                        "route " + route + ": " + ops.keySet());
                assertTrue(!ops.containsKey("upload"), "route " + route + " uploaded floats: " + ops.keySet());
            }
        }
    }
}
